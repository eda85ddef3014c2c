class Linear(Module):
    """``output = input @ W + b``, где ``W`` формы ``(n_in, n_out)``, а ``b`` формы ``(n_out,)``."""

    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)
        self.W = np.random.uniform(-bound, bound, size=(n_in, n_out))
        self.b = np.random.uniform(-bound, bound, size=n_out)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def update_output(self, input):
        """Прямой проход: ``(N, n_in) -> (N, n_out)``."""
        ### BEGIN SOLUTION
        check_2d(input, "Linear")
        if input.shape[1] != self.W.shape[0]:
            raise ValueError(f"Linear ждёт {self.W.shape[0]} входных признаков, получен вход формы {input.shape}")
        self.output = input @ self.W + self.b
        return self.output
        ### END SOLUTION

    def update_grad_input(self, input, grad_output):
        """dL/d input, форма ``(N, n_in)``."""
        ### BEGIN SOLUTION
        # d(x W)/dx, применённое к g:  g W^T,  форма (N, n_in)
        self.grad_input = grad_output @ self.W.T
        return self.grad_input
        ### END SOLUTION

    def update_grad_params(self, input, grad_output):
        """ПРИБАВЬТЕ dL/dW к ``self.gradW`` и dL/db к ``self.gradb`` (через +=)."""
        ### BEGIN SOLUTION
        self.gradW += input.T @ grad_output
        self.gradb += grad_output.sum(axis=0)
        ### END SOLUTION

    def get_parameters(self):
        """``[W, b]``: сами массивы, а не копии."""
        ### BEGIN SOLUTION
        return [self.W, self.b]
        ### END SOLUTION

    def get_grad_params(self):
        """``[gradW, gradb]``, в том же порядке, что ``get_parameters()``."""
        ### BEGIN SOLUTION
        return [self.gradW, self.gradb]
        ### END SOLUTION

    def __repr__(self):
        n_in, n_out = self.W.shape
        return f"Linear {n_in} -> {n_out}"

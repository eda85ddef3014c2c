class Scaling(Module):
    """``output = input * gamma + beta``; ``gamma`` и ``beta`` формы ``(1, n_out)``, по одному на признак."""

    def __init__(self, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_out)
        self.gamma = np.random.uniform(-bound, bound, size=(1, n_out))
        self.beta = np.random.uniform(-bound, bound, size=(1, n_out))
        self.grad_gamma = np.zeros_like(self.gamma)
        self.grad_beta = np.zeros_like(self.beta)

    def update_output(self, input):
        self.output = input * self.gamma + self.beta
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = grad_output * self.gamma
        return self.grad_input

    def update_grad_params(self, input, grad_output):
        self.grad_gamma += (grad_output * input).sum(axis=0, keepdims=True)
        self.grad_beta += grad_output.sum(axis=0, keepdims=True)

    def get_parameters(self):
        return [self.gamma, self.beta]

    def get_grad_params(self):
        return [self.grad_gamma, self.grad_beta]

    def __repr__(self):
        return f"Scaling({self.gamma.shape[1]})"

"""The reference rewritten in the other two dialects (docs/module-contract.md, "Dialects"), as whole submissions.

Generated from the reference on each run, so they always describe the same solution: snake
(``update_output``..., ``Linear.W`` of shape ``(n_in, n_out)``, ``Scaling`` with ``(1, n)``
parameters, ``NLLCriterion``, ``SGD``) and private-hooks (hooks that return their results,
``_output`` / ``_input_grad``).
"""
from ..dialects import PRIVATE_HOOKS, SNAKE, rename
from .reference_submission import reference_source


def _edit(text, old, new):
    if text.count(old) != 1:
        raise ValueError(f"dialect rewrite: expected one occurrence of {old!r}")
    return text.replace(old, new)


def snake_source():
    text = rename(reference_source(), SNAKE)
    for old, new in [
        ("size=(n_out, n_in))", "size=(n_in, n_out))"),
        ("        if input.shape[1] != self.W.shape[1]:\n            raise ValueError(f\"Linear expects "
         "{self.W.shape[1]} input features, got shape {input.shape}\")\n"
         "        self.output = input @ self.W.T + self.b",
         "        self.output = input @ self.W + self.b"),
        ("        self.grad_input = grad_output @ self.W\n", "        self.grad_input = grad_output @ self.W.T\n"),
        ("        self.gradW += grad_output.T @ input\n", "        self.gradW += input.T @ grad_output\n"),
        ("        n_out, n_in = self.W.shape\n", "        n_in, n_out = self.W.shape\n"),
        ("        self.gamma = np.random.uniform(-bound, bound, size=n_out)\n"
         "        self.beta = np.random.uniform(-bound, bound, size=n_out)",
         "        self.gamma = np.random.uniform(-bound, bound, size=(1, n_out))\n        self.beta = "
         "np.random.uniform(-bound, bound, size=(1, n_out))"),
        ("        self.gradGamma += (grad_output * input).sum(axis=0)\n"
         "        self.gradBeta += grad_output.sum(axis=0)",
         "        self.gradGamma += (grad_output * input).sum(axis=0, keepdims=True)\n        self.gradBeta += "
         "grad_output.sum(axis=0, keepdims=True)"),
        ('return f"Scaling({self.gamma.shape[0]})"', 'return f"Scaling({self.gamma.shape[1]})"'),
    ]:
        text = _edit(text, old, new)
    return text


def private_hooks_source():
    text = rename(reference_source(), PRIVATE_HOOKS)
    text = _edit(text, "    def forward(self, input):\n        return self._compute_output(input)\n",
                 "    def forward(self, input):\n        self._output = self._compute_output(input)\n"
                 "        return self._output\n")
    text = _edit(text, "        self._compute_input_grad(input, output_grad)\n"
                       "        self._update_parameters_grad(input, output_grad)\n        return self._input_grad\n",
                 "        self._input_grad = self._compute_input_grad(input, output_grad)\n        "
                 "self._update_parameters_grad(input, output_grad)\n        return self._input_grad\n")
    return text


GENERATED = {"dialect_snake": snake_source, "dialect_private_hooks": private_hooks_source}

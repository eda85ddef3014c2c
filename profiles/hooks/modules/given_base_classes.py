class Module:
    """A layer: ``forward`` keeps and returns ``_output``, ``backward`` keeps and returns ``_input_grad``.

    Subclasses implement the three hooks:

    * ``_compute_output(input)`` returns the output;
    * ``_compute_input_grad(input, output_grad)`` returns the gradient of the loss with
      respect to ``input`` (same shape as ``input``);
    * ``_update_parameters_grad(input, output_grad)`` *adds* the parameter gradients to the
      ``grad*`` arrays, so that they accumulate until ``zero_grad()``.
    """

    def __init__(self):
        self._output = None
        self._input_grad = None
        self.training = True

    def forward(self, input):
        self._output = self._compute_output(input)
        return self._output

    def backward(self, input, output_grad):
        self._input_grad = self._compute_input_grad(input, output_grad)
        self._update_parameters_grad(input, output_grad)
        return self._input_grad

    def _compute_output(self, input):
        raise NotImplementedError

    def _compute_input_grad(self, input, output_grad):
        raise NotImplementedError

    def _update_parameters_grad(self, input, output_grad):
        """Layers without parameters have nothing to accumulate."""

    def zero_grad(self):
        for grad in self.get_parameters_grad():
            grad.fill(0)

    def get_parameters(self):
        """The parameter arrays themselves (not copies), so optimizers update them in place."""
        return []

    def get_parameters_grad(self):
        """The gradient arrays, in the same order as ``get_parameters()``."""
        return []

    def train(self):
        self.training = True

    def evaluate(self):
        self.training = False

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_2d(input, name):
    """Raise a clear error unless ``input`` is a 2-D batch ``(N, features)``."""
    if np.ndim(input) != 2:
        raise ValueError(f"{name} expects a 2-D input (batch, features), got shape {np.shape(input)}")


def check_4d(input, name):
    """Raise a clear error unless ``input`` is a batch of images ``(N, C, H, W)``."""
    if np.ndim(input) != 4:
        raise ValueError(f"{name} expects a 4-D input (batch, channels, height, width), got shape {np.shape(input)}")

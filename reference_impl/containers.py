"""Sequential: a chain of modules."""
from .base import Module


class Sequential(Module):
    """Applies its modules in order; backward walks them in reverse.

    Module ``i`` is differentiated at the input it saw in forward, which is the
    output of module ``i - 1`` (the container's own input only for module 0).
    """

    def __init__(self):
        super().__init__()
        self.modules = []

    def add(self, module):
        self.modules.append(module)

    def updateOutput(self, input):
        output = input
        for module in self.modules:
            output = module.forward(output)
        self.output = output
        return self.output

    def backward(self, input, gradOutput):
        grad = gradOutput
        for i in range(len(self.modules) - 1, -1, -1):
            module_input = self.modules[i - 1].output if i > 0 else input
            grad = self.modules[i].backward(module_input, grad)
        self.gradInput = grad
        return self.gradInput

    def zeroGradParameters(self):
        for module in self.modules:
            module.zeroGradParameters()

    def getParameters(self):
        return [module.getParameters() for module in self.modules]

    def getGradParameters(self):
        return [module.getGradParameters() for module in self.modules]

    def train(self):
        super().train()
        for module in self.modules:
            module.train()

    def evaluate(self):
        super().evaluate()
        for module in self.modules:
            module.evaluate()

    def __getitem__(self, index):
        return self.modules[index]

    def __len__(self):
        return len(self.modules)

    def __repr__(self):
        return "\n".join(repr(module) for module in self.modules)

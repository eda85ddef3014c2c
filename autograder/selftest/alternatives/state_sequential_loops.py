# extends: reference
# Sequential that records each module's input in a list during forward and walks the modules
# with explicit index loops; parameters gathered with append.


class Sequential(Module):
    def __init__(self):
        super().__init__()
        self.modules = []
        self.inputs = []

    def add(self, module):
        self.modules.append(module)

    def updateOutput(self, input):
        self.inputs = []
        current = input
        i = 0
        while i < len(self.modules):
            self.inputs.append(current)
            current = self.modules[i].forward(current)
            i += 1
        self.output = current
        return self.output

    def backward(self, input, gradOutput):
        grad = gradOutput
        for i in reversed(range(len(self.modules))):
            grad = self.modules[i].backward(self.inputs[i], grad)
        self.gradInput = grad
        return self.gradInput

    def zeroGradParameters(self):
        for i in range(len(self.modules)):
            self.modules[i].zeroGradParameters()

    def getParameters(self):
        params = []
        for i in range(len(self.modules)):
            params.append(self.modules[i].getParameters())
        return params

    def getGradParameters(self):
        grads = []
        for i in range(len(self.modules)):
            grads.append(self.modules[i].getGradParameters())
        return grads

    def train(self):
        self.training = True
        for i in range(len(self.modules)):
            self.modules[i].train()

    def evaluate(self):
        self.training = False
        for i in range(len(self.modules)):
            self.modules[i].evaluate()

    def __getitem__(self, x):
        return self.modules.__getitem__(x)

    def __repr__(self):
        return "".join(str(m) + "\n" for m in self.modules)

# extends: reference
# Sequential whose backward pairs each module, in reverse, with the previous module's output
# (zip over reversed lists), and whose modes are switched through the training attribute directly.


class Sequential(Module):
    def __init__(self):
        super().__init__()
        self.modules = []

    def add(self, module):
        self.modules.append(module)
        return self

    def updateOutput(self, input):
        for module in self.modules:
            input = module.forward(input)
        self.output = input
        return self.output

    def backward(self, input, gradOutput):
        seen = [input] + [module.output for module in self.modules[:-1]]
        for module, module_input in zip(self.modules[::-1], seen[::-1]):
            gradOutput = module.backward(module_input, gradOutput)
        self.gradInput = gradOutput
        return self.gradInput

    def zeroGradParameters(self):
        [module.zeroGradParameters() for module in self.modules]

    def getParameters(self):
        return list(map(lambda module: module.getParameters(), self.modules))

    def getGradParameters(self):
        return list(map(lambda module: module.getGradParameters(), self.modules))

    def train(self):
        Module.train(self)
        list(map(lambda module: module.train(), self.modules))

    def evaluate(self):
        Module.evaluate(self)
        list(map(lambda module: module.evaluate(), self.modules))

    def __getitem__(self, index):
        return self.modules[index]

import time

import numpy as np
import matplotlib.pyplot as plt
from tqdm.auto import tqdm

from datasets import iterate_minibatches, load_digits, load_mnist, one_hot
from selfcheck import show_progress, unfinished

# Какие из нужных здесь модулей написаны, какие ещё заглушки, а какие вовсе не определены?
needed = ["Sequential", "Linear", "ReLU", "ELU", "LeakyReLU", "SoftPlus", "BatchNormalization",
          "Scaling", "LogSoftMax", "NLLCriterion", "SGD", "adam_optimizer"]
show_progress("Модули для экспериментов раздела 2", needed)

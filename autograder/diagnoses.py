"""The mistakes the graders recognise, each with the words the student reads.

A grader names a diagnosis by its key; `autograder selftest` checks that each mutant of the
reference is given the diagnosis of the mistake it carries. ``CONTRACT`` holds the mistakes the
module contract requires the graders to name, with the items that must name them; the tests
take that list from here.
"""

DIAGNOSES = {
    # the code did not run to an answer
    "missing": "The class or function is not defined in the submission.",
    "not_implemented": "The method still raises NotImplementedError: it has not been written yet.",
    "not_an_array": "The method returned something that is not a NumPy array.",
    "not_scalar": "A criterion's forward must return one number, the loss.",
    "raised": "The code raised an exception.",
    "timeout": "The code did not finish within the time limit.",
    "crashed": "The worker running the code died (exit, crash or memory limit).",
    "sandbox": "The code could not be run.",
    "unreadable": "The submission could not be read or started.",
    "grader_error": "The grader could not complete this test.",
    # shapes and values
    "wrong_shape": "The result has the wrong shape.",
    "nonfinite": "The result contains NaN or infinity.",
    "wrong_values": "The result differs from the expected values.",
    "gradient_of_wrong_forward": "The gradient is the derivative of your own forward pass, but that forward pass "
                                 "gives wrong values on this input (see its test): the gradient earns its points "
                                 "once the forward pass is right.",
    "degenerate": "This property is judged on what your code computes, and it computes nothing from its input yet "
                  "(only zeros, one constant result, or the input handed back).",
    "gradient_sign": "The gradient has the wrong sign.",
    # what the analyser finds when no named mistake fits (autograder/analyser.py)
    "constant": "The result is one value everywhere: it does not depend on the input.",
    "transposed": "The result is the expected one transposed.",
    "axes_permuted": "The result's axes are in another order than expected.",
    "keepdims": "A reduced vector was broadcast along the wrong axis (keepdims=True is missing).",
    "reduced": "An axis was reduced away that must be kept.",
    "factor": "The result is the expected one times a constant factor.",
    "sign": "The result has the opposite sign.",
    "offset": "The result is the expected one plus a constant.",
    "row_factor": "Each row is the expected one times a factor of its own.",
    "column_offset": "Each column is off by a constant of its own.",
    "missing_term": "A term of the formula is missing.",
    "extra_term": "A term of the formula is added once too often.",
    "only_term": "Only one term of the formula is computed.",
    "branch_negative": "The result is wrong only where the input is negative.",
    "branch_positive": "The result is wrong only where the input is positive.",
    "pool_positions": "The pooling gradient reaches positions of a window other than its maximum.",
    "border": "The result is wrong only at the border of the image (the padding).",
    "channels": "The result is wrong only in some channels.",
    "rows": "The result is wrong only in some rows.",
    "columns": "The result is wrong only in some columns.",
    # Linear, Conv2d: initialisation
    "wrong_initialisation": "The parameters must start uniform in [-1/sqrt(n_in), 1/sqrt(n_in)] (n_in: the number of "
                            "inputs of one output, in_channels for Conv2d), with the shapes of the specification.",
    # Sequential
    "sequential_parameters": "Sequential's parameter lists are not the per-module lists of its modules' own arrays.",
    "sequential_mode_not_propagated": "Sequential.train() / evaluate() do not switch the mode of its modules: call "
                                      "train() / evaluate() on every module it holds.",
    "sequential_getitem": "seq[i] must return the i-th module added to the container (e.g. return self.modules[i]).",
    # BatchNormalization
    "batchnorm_eval_uses_batch": "Evaluation mode normalizes with the batch statistics; it must use the moving "
                                 "mean and variance.",
    "batchnorm_epsilon_outside_root": "EPS goes inside the root: divide by sqrt(var + EPS), not by sqrt(var) + EPS.",
    "batchnorm_backward_constant_stats": "The training-mode gradient treats the batch mean and variance as constants "
                                         "({gradOutput} / sqrt(var + EPS)); they depend on the input too, which adds "
                                         "the two batch-mean terms of the full formula.",
    # Dropout
    "dropout_backward_mask": "backward does not use the mask of the last forward pass (times 1 / (1 - p)).",
    "dropout_no_drop": "Dropout zeroes no element in training mode: draw a Bernoulli mask that zeroes each element "
                       "with probability p whenever the layer is training.",
    # SoftMax, LogSoftMax
    "softmax_sum_wrong_axis": "The exponentials are normalised over the wrong axis: every row must sum to 1, so sum "
                              "over axis=1 with keepdims=True (a sum without keepdims broadcasts along the "
                              "wrong axis).",
    "softmax_grad_sum_wrong_axis": "In backward, sum({gradOutput} * s) is taken over the wrong axis: take it over each "
                                   "row (axis=1, keepdims=True), as the softmax of each row involves that row only.",
    "softmax_grad_uses_input": "Backward uses the input where the formula needs the softmax s = softmax(input).",
    "softmax_grad_diagonal": "The gradient uses only the diagonal of the Jacobian: every output of a row depends on "
                             "every input of that row, so the gradient needs the row sum, as in "
                             "s * (g - sum(g * s, axis=1, keepdims=True)) for SoftMax and "
                             "g - s * sum(g, axis=1, keepdims=True) for LogSoftMax.",
    "logsoftmax_grad_log_probabilities": "Backward multiplies by the output (log-probabilities) where the formula "
                                         "needs the probabilities softmax(input) = exp(output).",
    "logsoftmax_log_of_softmax": "log(softmax(x)) gives log(0) = -inf where a probability underflows to 0: compute "
                                 "the shifted row minus the log of the sum of its exponentials, "
                                 "(x - m) - log(sum(exp(x - m), axis=1, keepdims=True)) with m the row maximum.",
    # LeakyReLU, ELU, SoftPlus
    "leakyrelu_default_slope": "LeakyReLU() uses the wrong slope: by default the negative inputs are multiplied by "
                               "0.03 (the constructor's default, slope=0.03).",
    "leakyrelu_slope_ignored": "The slope given to the constructor is not used: keep it (self.slope = slope) and use "
                               "self.slope in forward and backward.",
    "leakyrelu_positive_side": "The slope is applied to the positive inputs: LeakyReLU is x where x > 0 and "
                               "slope * x elsewhere (and the gradient 1 where x > 0, slope elsewhere).",
    "elu_alpha_ignored": "The alpha given to the constructor is not used: for x <= 0 the output is "
                         "alpha * (exp(x) - 1) and the gradient alpha * exp(x).",
    "elu_alpha_misplaced": "alpha multiplies the whole of exp(x) - 1: the output for x <= 0 is alpha * (exp(x) - 1), "
                           "not alpha * exp(x) - 1.",
    "softplus_grad_is_softplus": "The derivative of log(1 + exp(x)) is sigmoid(x) = 1 / (1 + exp(-x)), not "
                                 "log(1 + exp(x)) again.",
    "softplus_grad_sign": "The derivative of log(1 + exp(x)) is sigmoid(x), not sigmoid(-x).",
    "softplus_grad_exp": "The derivative of log(1 + exp(x)) is sigmoid(x) = 1 / (1 + exp(-x)), not exp(x).",
    # MSECriterion, the NLL criterions
    "mse_grad_squared": "{gradInput} is the derivative of the loss, 2 (input - target) / N, not its terms "
                        "(input - target)^2 / N.",
    "mse_grad_factor": "The factor 2 is missing: the derivative of (x - y)^2 is 2 (x - y), so the gradient is "
                       "2 (input - target) / N.",
    "loss_sign": "The loss has the wrong sign: the negative log-likelihood -sum(target * log p) / N is "
                 "never negative.",
    "divided_by_all_elements": "The loss (or its gradient) is divided by the number of elements N * D (as np.mean "
                               "over the whole array does); divide the sum by the batch size N only.",
    "nll_grad_not_divided_by_probability": "The derivative of -log(p) is -1 / p: {gradInput} is -target / p / N "
                                           "(with p clipped as in forward).",
    "nll_grad_of_probabilities": "The input of {ClassNLLCriterion} is already log-probabilities: its gradient is "
                                 "-target / N, with no exp.",
    "nll_no_clipping": "The probabilities are not clipped: log(0) is -inf and 0 * log(0) is nan. Clip the input to "
                       "[EPS, 1 - EPS] with np.clip (into a new array) before the log and in the gradient.",
    "nll_unstable_needs_log": "{ClassNLLCriterionUnstable}'s input holds probabilities (SoftMax's output): the loss is "
                              "-sum(target * log(clip(input, EPS, 1 - EPS))) / N.",
    "nll_takes_log_probabilities": "{ClassNLLCriterion}'s input already holds log-probabilities (LogSoftMax's output): "
                                   "the loss is -sum(target * input) / N, without taking the log again.",
    # Conv2d, MaxPool2d
    "conv_grad_input_kernel": "{gradInput} uses the wrong kernel: it is the cross-correlation of the zero-padded "
                              "{gradOutput} with W flipped in space (W[:, :, ::-1, ::-1]) and with its in/out channels "
                              "swapped (a full convolution).",
    "conv_grad_weight_flipped": "{gradW} is flipped in space: {gradW}[o, c, a, b] is the sum over n, h, w of "
                                "padded_input[n, c, h + a, w + b] * {gradOutput}[n, o, h, w].",
    "maxpool_average": "MaxPool2d takes the maximum of each window, not its mean, and its gradient goes to that "
                       "maximum alone, not to the whole window.",
    # ClassContrastiveCriterion
    "contrastive_positive_not_squared": "Positive pairs add their squared distance d^2, not d.",
    "contrastive_no_hinge": "Negative pairs add max(0, M - d)^2: a pair already farther apart than M adds 0.",
    "contrastive_pairs": "The pairs are not counted as specified: average d^2 over positive pairs and "
                         "max(0, M - d)^2 over negative pairs, each over the pairs i != j.",
    "contrastive_empty_term": "A term with no pairs (no positive pairs, or no negative pairs, in the batch) must "
                              "count as 0; the mean of an empty array is NaN.",
    "contrastive_zero_distance": "For two identical embeddings with different labels (distance 0) the gradient "
                                 "divides by zero: the pair contributes 0 to the gradient there (guard the "
                                 "division, e.g. with np.where(d > 0, ..., 0)).",
    # optimizers
    "adam_betas_swapped": "m is the moving average of the gradients with beta1, v of their squares with beta2: "
                          "the betas are swapped.",
    "adam_step_count": "t counts the steps and is incremented before the bias correction uses it (t = 1 at the "
                       "first step).",
    "adam_epsilon_inside_root": "Epsilon is added inside the square root (sqrt(v + eps)): add it to the root "
                                "itself, sqrt(v) + eps (or sqrt(v_hat) + eps), as Adam does.",
    "optimizer_not_in_place": "The optimizer does not update the parameter arrays in place (use -= on the arrays "
                              "themselves, not a new array).",
    "sgd_no_momentum": "The momentum term is missing: the update is momentum * previous update + learning_rate * grad.",
    # speed
    "too_slow": "The computation uses far more CPU time than it needs: vectorise the inner loops with NumPy "
                "(or scipy.signal) instead of looping over single elements in Python.",
    "not_vectorised": "The computation is too slow for the time limit: vectorise it instead of looping over "
                      "pairs or samples in Python.",
    # the final model
    "model_missing": "The notebook does not leave a trained model in a variable named `model`.",
    "low_accuracy": "The final model's accuracy on held-out digits is below this mark.",
}

# The mistakes the module contract requires the graders to name (docs/module-contract.md, "Mistakes
# the graders name"), each with the items whose graders name it (ANY: whichever item shows it).
# The self-test checks that its bank has a mutant of each item with each of these mistakes.
ANY = "any item"
CONTRACT = {
    "returns_none": ((ANY,),
        "The method returned None instead of its result."),
    "input_mutated": ((ANY,),
        "The method changes its input array in place; compute into a new array instead."),
    "softmax_overflow": (("SoftMax", "LogSoftMax"),
        "Large inputs overflow exp(): subtract each row's maximum before exponentiating (x - x.max(axis=1, "
        "keepdims=True))."),
    "softmax_wrong_axis": (("SoftMax", "LogSoftMax"),
        "The maximum is taken over the wrong axis: take each row's own maximum (axis=1, keepdims=True), not "
        "the column maximum or the maximum of the whole array."),
    "not_divided_by_batch": (("ClassNLLCriterion", "ClassNLLCriterionUnstable"),
        "The loss (or its gradient) is not divided by the batch size N."),
    "grad_overwritten": (("Linear", "Conv2d"),
        "The parameter gradients are overwritten instead of accumulated: use += so gradients add up over "
        "backward calls until {zeroGradParameters}()."),
    "grad_not_zeroed": (("Linear",),
        "{zeroGradParameters}() does not set the parameter gradients to zero (in place, e.g. grad.fill(0))."),
    "linear_weight_transposed": (("Linear",),
        "W is used transposed: with W of shape {linear_W_shape} the output is {linear_forward}."),
    "sequential_container_input": (("Sequential",),
        "Sequential.backward gives every module the container's input: module i must get the input it saw in "
        "forward, the output of module i - 1."),
    "sequential_first_module_only": (("Sequential",),
        "Sequential stops after the first module: every module must be applied in order (and differentiated in"
        " reverse order)."),
    "dropout_keep_probability": (("Dropout",),
        "p is used as the probability of keeping an element; it is the probability of zeroing it."),
    "dropout_no_rescale": (("Dropout",),
        "The kept values are not scaled by 1 / (1 - p), so the expected output changes in training mode."),
    "dropout_row_mask": (("Dropout",),
        "The mask is drawn per row (or per column) instead of per element."),
    "dropout_stale_mask": (("Dropout",),
        "The same mask is reused across forward passes: draw a fresh mask at every training forward."),
    "dropout_masks_in_eval": (("Dropout",),
        "Dropout still drops elements in evaluation mode, where it must be the identity."),
    "batchnorm_unbiased_variance": (("BatchNormalization",),
        "The forward pass uses the unbiased batch variance (ddof=1); batch normalization divides by N "
        "(np.var's default)."),
    "batchnorm_moving_in_train": (("BatchNormalization",),
        "Training mode normalizes with the moving statistics; it must use the current batch's mean and "
        "variance."),
    "batchnorm_moving_not_updated": (("BatchNormalization",),
        "The moving mean and variance are not updated as moving = alpha * moving + (1 - alpha) * batch "
        "statistic."),
    "batchnorm_eval_batch_size": (("BatchNormalization",),
        "Evaluation fails when its batch size differs from the training batch size."),
    "elu_overflow": (("ELU",),
        "ELU overflows for large inputs: exp(x) is computed where x is large and positive; compute exp only of"
        " the negative part (np.minimum(x, 0))."),
    "softplus_overflow": (("SoftPlus",),
        "SoftPlus overflows for large inputs: use np.logaddexp(0, x), or log1p(exp(-|x|)) + max(x, 0)."),
    "conv_flipped_kernel": (("Conv2d",),
        "The layer computes a convolution (kernel flipped); this layer is a cross-correlation: the kernel is "
        "not flipped in forward."),
    "conv_wrong_padding": (("Conv2d",),
        "The padding is wrong: with kernel size k the input is zero-padded by k // 2 on each side, so the "
        "output keeps H and W."),
    "parameters_not_returned": (("Conv2d",),
        "The parameter getter does not return the layer's parameter arrays themselves, so an optimizer never "
        "updates them."),
    "maxpool_wrong_position": (("MaxPool2d",),
        "The gradient goes to the wrong position: each window's gradient goes to the position of its maximum "
        "(the first one, in row-major order)."),
    "maxpool_all_ties": (("MaxPool2d",),
        "With tied maxima the gradient goes to every tied position; it must go to one only (the first in "
        "row-major order)."),
    "adam_no_bias_correction": (("adam_optimizer",),
        "Adam's bias correction is missing: the step size is lr * sqrt(1 - beta2^t) / (1 - beta1^t)."),
    "optimizer_state_not_kept": (("adam_optimizer",),
        "The optimizer does not keep its state in the `state` dictionary it is given, so momentum (or Adam's "
        "m, v and t) restarts at every call."),
}
DIAGNOSES.update({key: text for key, (_, text) in CONTRACT.items()})


def contract_mistakes():
    """The (item, diagnosis) pairs the contract requires, ``ANY`` standing for whichever item."""
    return {(item, key) for key, (items, _) in CONTRACT.items() for item in items}

"""The mistakes the graders recognise, each with the words the student reads.

A grader names a diagnosis by its key; `autograder selftest` checks that each mutant of the
reference is given the diagnosis of the mistake it carries.
"""

DIAGNOSES = {
    # the code did not run to an answer
    "missing": "The class or function is not defined in the submission.",
    "not_implemented": "The method still raises NotImplementedError: it has not been written yet.",
    "returns_none": "The method returned None instead of its result.",
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
    "inconsistent_gradient": "The gradient does not match the numerical derivative of your own forward pass.",
    "input_mutated": "The method changes its input array in place; compute into a new array instead.",
    # SPEC.md, "Mistakes the graders must recognise and name"
    "softmax_overflow": "Large inputs overflow exp(): subtract each row's maximum before exponentiating "
                        "(x - x.max(axis=1, keepdims=True)).",
    "softmax_wrong_axis": "The maximum is taken over the wrong axis: take each row's own maximum "
                          "(axis=1, keepdims=True), not the column maximum or the maximum of the whole array.",
    "not_divided_by_batch": "The loss (or its gradient) is not divided by the batch size N.",
    "grad_overwritten": "The parameter gradients are overwritten instead of accumulated: use += so gradients "
                        "add up over backward calls until zeroGradParameters().",
    "grad_not_zeroed": "zeroGradParameters() does not set the parameter gradients to zero (in place, e.g. grad.fill(0)).",
    "linear_weight_transposed": "W is used transposed: with W of shape (n_out, n_in) the output is input @ W.T + b.",
    "sequential_container_input": "Sequential.backward gives every module the container's input: module i must get "
                                  "the input it saw in forward, the output of module i - 1.",
    "sequential_first_module_only": "Sequential stops after the first module: every module must be applied in order "
                                    "(and differentiated in reverse order).",
    "sequential_parameters": "Sequential's parameter lists are not the per-module lists of its modules' own arrays.",
    "dropout_keep_probability": "p is used as the probability of keeping an element; it is the probability of "
                                "zeroing it.",
    "dropout_no_rescale": "The kept values are not scaled by 1 / (1 - p), so the expected output changes in "
                          "training mode.",
    "dropout_row_mask": "The mask is drawn per row (or per column) instead of per element.",
    "dropout_stale_mask": "The same mask is reused across forward passes: draw a fresh mask at every training forward.",
    "dropout_backward_mask": "backward does not use the mask of the last forward pass (times 1 / (1 - p)).",
    "dropout_masks_in_eval": "Dropout still drops elements in evaluation mode, where it must be the identity.",
    "batchnorm_unbiased_variance": "The forward pass uses the unbiased batch variance (ddof=1); batch normalization "
                                   "divides by N (np.var's default).",
    "batchnorm_moving_in_train": "Training mode normalizes with the moving statistics; it must use the current "
                                 "batch's mean and variance.",
    "batchnorm_moving_not_updated": "The moving mean and variance are not updated as "
                                    "moving = alpha * moving + (1 - alpha) * batch statistic.",
    "batchnorm_eval_uses_batch": "Evaluation mode normalizes with the batch statistics; it must use the moving "
                                 "mean and variance.",
    "batchnorm_eval_batch_size": "Evaluation fails when its batch size differs from the training batch size.",
    "elu_overflow": "ELU overflows for large inputs: exp(x) is computed where x is large and positive; compute "
                    "exp only of the negative part (np.minimum(x, 0)).",
    "softplus_overflow": "SoftPlus overflows for large inputs: use np.logaddexp(0, x), or log1p(exp(-|x|)) + max(x, 0).",
    "conv_flipped_kernel": "The layer computes a convolution (kernel flipped); this layer is a cross-correlation: "
                           "the kernel is not flipped in forward.",
    "conv_wrong_padding": "The padding is wrong: with kernel size k the input is zero-padded by k // 2 on each side, "
                          "so the output keeps H and W.",
    "parameters_not_returned": "The parameter getter does not return the layer's parameter arrays themselves, so an "
                               "optimizer never updates them.",
    "maxpool_wrong_position": "The gradient goes to the wrong position: each window's gradient goes to the position "
                              "of its maximum (the first one, in row-major order).",
    "maxpool_all_ties": "With tied maxima the gradient goes to every tied position; it must go to one only (the "
                        "first in row-major order).",
    "adam_no_bias_correction": "Adam's bias correction is missing: the step size is "
                               "lr * sqrt(1 - beta2^t) / (1 - beta1^t).",
    "optimizer_state_not_kept": "The optimizer does not keep its state in the `state` dictionary it is given, so "
                                "momentum (or Adam's m, v and t) restarts at every call.",
    "optimizer_not_in_place": "The optimizer does not update the parameter arrays in place (use -= on the arrays "
                              "themselves, not a new array).",
    "sgd_no_momentum": "The momentum term is missing: the update is momentum * previous update + learning_rate * grad.",
    "contrastive_pairs": "The pairs are not counted as specified: average d^2 over positive pairs and "
                         "max(0, M - d)^2 over negative pairs, each over the pairs i != j.",
    "not_vectorised": "The computation is too slow for the time limit: vectorise it instead of looping over "
                      "pairs or samples in Python.",
}

# extends: reference
# The optimizers written differently: SGD through np.multiply/np.add with out= and
# var[...] = var - v; Adam with explicit bias-corrected m_hat and v_hat, epsilon added to
# sqrt(v_hat) (the other common form), string keys in state["m"] / state["v"].


def sgd_momentum(variables, gradients, config, state):
    state.setdefault("accumulated_grads", {})
    i = 0
    for current_layer_vars, current_layer_grads in zip(variables, gradients):
        for current_var, current_grad in zip(current_layer_vars, current_layer_grads):
            old = state["accumulated_grads"].setdefault(i, np.zeros_like(current_grad))
            np.multiply(old, config["momentum"], out=old)
            np.add(old, config["learning_rate"] * current_grad, out=old)
            current_var[...] = current_var - old
            i += 1


def adam_optimizer(variables, gradients, config, state):
    if "t" not in state:
        state["t"], state["m"], state["v"] = 0, {}, {}
    state["t"] += 1
    t = state["t"]
    b1, b2 = config["beta1"], config["beta2"]
    flat_vars = [v for layer in variables for v in layer]
    flat_grads = [g for layer in gradients for g in layer]
    for i, (var, grad) in enumerate(zip(flat_vars, flat_grads)):
        key = str(i)
        if key not in state["m"]:
            state["m"][key] = np.zeros(grad.shape)
            state["v"][key] = np.zeros(grad.shape)
        state["m"][key] *= b1
        state["m"][key] += (1 - b1) * grad
        state["v"][key] *= b2
        state["v"][key] += (1 - b2) * np.square(grad)
        m_hat = state["m"][key] / (1 - b1 ** t)
        v_hat = state["v"][key] / (1 - b2 ** t)
        var -= config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])

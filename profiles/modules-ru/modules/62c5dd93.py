check_layer(Linear(4, 3), input_shape=(5, 4))


def linear_properties():
    layer = Linear(4, 3)
    x, g = np.random.randn(5, 4), np.random.randn(5, 3)
    layer.zero_grad_params()
    layer.forward(x)
    layer.backward(x, g)
    once = [grad.copy() for grad in layer.get_grad_params()]
    layer.backward(x, g)
    twice = layer.get_grad_params()
    accumulates = all(np.allclose(second, 2 * first) for first, second in zip(once, twice))
    layer.zero_grad_params()
    zeroed = all(not grad.any() for grad in layer.get_grad_params())
    W, b = layer.get_parameters()
    return [
        ("W имеет форму (n_in, n_out) = (4, 3)", layer.W.shape == (4, 3)),
        ("второй backward прибавляет к градиентам (+=)", accumulates),
        ("zero_grad_params() обнуляет их", zeroed),
        ("get_parameters() возвращает сами W и b", W is layer.W and b is layer.b),
    ]


property_check("Свойства Linear", linear_properties)

def all_self_checks():
    """Все проверки этого ноутбука: имя -> функция, которая возвращает True, если проверка пройдена."""
    one_hot = np.eye(4)[[0, 2, 1, 3, 2]]
    bn = BatchNormalization(alpha=0.9)
    return {
        "Sequential": lambda: layer_table(small_chain(), input_shape=(4, 3)).passed
                              and property_table("", sequential_properties).passed,
        "Linear": lambda: layer_table(Linear(4, 3), input_shape=(5, 4)).passed
                          and property_table("", linear_properties).passed,
        "SoftMax": lambda: layer_table(SoftMax(), input_shape=(4, 5)).passed
                           and property_table("", softmax_properties).passed,
        "BatchNormalization": lambda: layer_table(bn, input_shape=(6, 4)).passed
                                      and layer_table(bn, input_shape=(3, 4), training=False).passed
                                      and property_table("", batchnorm_properties).passed,
        "Dropout": lambda: layer_table(Dropout(p=0.3), input_shape=(5, 4)).passed
                           and property_table("", dropout_properties).passed,
        "LeakyReLU": lambda: layer_table(LeakyReLU(slope=0.1), input_shape=(5, 4)).passed
                             and property_table("", leakyrelu_properties).passed,
        "ELU": lambda: layer_table(ELU(alpha=0.7), input_shape=(5, 4)).passed
                       and property_table("", elu_properties).passed,
        "SoftPlus": lambda: layer_table(SoftPlus(), input_shape=(5, 4)).passed
                            and property_table("", softplus_properties).passed,
        "MSECriterion": lambda: criterion_table(MSECriterion(), input_shape=(5, 3), target=np.ones((5, 3))).passed,
        "NLLCriterionUnstable": lambda: criterion_table(NLLCriterionUnstable(), input_shape=(5, 4), target=one_hot,
                                                        positive=True).passed
                                        and property_table("", nll_unstable_properties).passed,
        "NLLCriterion": lambda: criterion_table(NLLCriterion(), input_shape=(5, 4), target=one_hot).passed
                                and property_table("", nll_properties).passed,
        "SGD": lambda: property_table("", sgd_properties).passed,
    }


def passes(check):
    try:
        return check()
    except Exception:  # например, конструктор выбрасывает исключение: этот модуль тоже не готов
        return False


summary = {name: passes(check) for name, check in all_self_checks().items()}
for name, passed in summary.items():
    print(f"  {name:<24} {'ok' if passed else 'пока нет'}")
if all(summary.values()):
    print("  -> все проверки пройдены")
else:
    print("  -> посмотрите подробности в разделах, помеченных «пока нет»")

import numpy as np

from selfcheck import criterion_table, layer_table, property_table


def module_checks():
    """Самопроверки каждого модуля: имя -> функция, которая возвращает список таблиц (CheckTable)."""
    one_hot = np.eye(4)[[0, 2, 1, 3, 2]]

    def batchnorm():
        bn = BatchNormalization(alpha=0.9)
        return [layer_table(bn, input_shape=(6, 4)), layer_table(bn, input_shape=(3, 4), training=False),
                property_table("Свойства BatchNormalization", batchnorm_properties)]

    return {
        "Sequential": lambda: [layer_table(small_chain(), input_shape=(4, 3)),
                               property_table("Свойства Sequential", sequential_properties)],
        "Linear": lambda: [layer_table(Linear(4, 3), input_shape=(5, 4)),
                           property_table("Свойства Linear", linear_properties)],
        "SoftMax": lambda: [layer_table(SoftMax(), input_shape=(4, 5)),
                            property_table("Свойства SoftMax", softmax_properties)],
        "BatchNormalization": batchnorm,
        "Scaling": lambda: [layer_table(Scaling(4), input_shape=(5, 4))],
        "Dropout": lambda: [layer_table(Dropout(p=0.3), input_shape=(5, 4)),
                            property_table("Свойства Dropout", dropout_properties)],
        "LeakyReLU": lambda: [layer_table(LeakyReLU(slope=0.1), input_shape=(5, 4)),
                              property_table("Свойства LeakyReLU", leakyrelu_properties)],
        "ELU": lambda: [layer_table(ELU(alpha=0.7), input_shape=(5, 4)),
                        property_table("Свойства ELU", elu_properties)],
        "SoftPlus": lambda: [layer_table(SoftPlus(), input_shape=(5, 4)),
                             property_table("Свойства SoftPlus", softplus_properties)],
        "MSECriterion": lambda: [criterion_table(MSECriterion(), input_shape=(5, 3), target=np.ones((5, 3)))],
        "NLLCriterionUnstable": lambda: [
            criterion_table(NLLCriterionUnstable(), input_shape=(5, 4), target=one_hot, positive=True),
            property_table("Свойства NLLCriterionUnstable", nll_unstable_properties)],
        "NLLCriterion": lambda: [criterion_table(NLLCriterion(), input_shape=(5, 4), target=one_hot),
                                 property_table("Свойства NLLCriterion", nll_properties)],
        "SGD": lambda: [property_table("Свойства SGD", sgd_properties)],
    }


def run_checks(name, check):
    """Печатает таблицы модуля и возвращает строку сводки: «ok» или что не так."""
    print(f"=== {name}")
    try:
        tables = check()
    except NameError as error:
        print(f"  {error.name} не определён: modules.ipynb остановился раньше (см. modules_output.show())\n")
        return f"не определено ({error.name})"
    except Exception as error:  # noqa: BLE001 - например, конструктор модуля выбрасывает исключение
        print(f"  проверку не удалось запустить: {type(error).__name__}: {error}\n")
        return f"ошибка при создании: {type(error).__name__}"
    for table in tables:
        table.show()
        print()
    if all(table.passed for table in tables):
        return "ok"
    if any(ok is None for table in tables for _, ok, _ in table.rows):
        return "ещё не написано"
    return "ОШИБКА"


results = {name: run_checks(name, check) for name, check in module_checks().items()}

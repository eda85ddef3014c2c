# Проверяется скрытым автогрейдером: MSECriterion (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("MSECriterion")  # по кнопке Validate в nbgrader: что ещё не написано

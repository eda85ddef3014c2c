# Проверяется скрытым автогрейдером: sgd_momentum (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("sgd_momentum")  # по кнопке Validate в nbgrader: что ещё не написано

# Проверяется скрытым автогрейдером: BatchNormalization (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("BatchNormalization")  # по кнопке Validate в nbgrader: что ещё не написано

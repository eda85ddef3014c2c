# Проверяется скрытым автогрейдером: Dropout (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("Dropout")  # по кнопке Validate в nbgrader: что ещё не написано

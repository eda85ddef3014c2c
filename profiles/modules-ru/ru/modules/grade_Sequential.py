# Проверяется скрытым автогрейдером: Sequential (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("Sequential")  # по кнопке Validate в nbgrader: что ещё не написано

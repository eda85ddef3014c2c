# Проверяется скрытым автогрейдером: SoftPlus (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("SoftPlus")  # по кнопке Validate в nbgrader: что ещё не написано

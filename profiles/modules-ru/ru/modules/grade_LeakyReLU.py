# Проверяется скрытым автогрейдером: LeakyReLU (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("LeakyReLU")  # по кнопке Validate в nbgrader: что ещё не написано

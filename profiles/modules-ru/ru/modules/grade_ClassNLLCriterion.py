# Проверяется скрытым автогрейдером: ClassNLLCriterion (0 points). Балл и отзыв появятся здесь после проверки.
unfinished("ClassNLLCriterion")  # по кнопке Validate в nbgrader: что ещё не написано

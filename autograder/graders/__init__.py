"""Hidden graders: one pytest module per graded item; points come from the assignment manifest."""

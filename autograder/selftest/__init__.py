"""Checks of the graders themselves: the reference scores full marks, mutants lose points."""

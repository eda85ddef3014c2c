"""The autograder: runs student submissions in a sandbox and grades them against the reference."""

"""Running student code: the isolated worker process and the trusted side that drives it."""

# One entry point for everything. The virtual environment is created and the project
# installed into it on first use; it is refreshed when pyproject.toml changes.
#   make demo     a whole course run: release the assignment, hand in four students' notebooks,
#                 grade them with nbgrader autograde (in the sandbox), write their feedback
#   make test     ruff, then the project's tests
#   make bench    benchmarks (installs the optional PyTorch baseline)
# EXTRAS picks the optional dependency groups: make test EXTRAS=dev,crosscheck

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev

.PHONY: demo test bench env clean

env:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@stamp="$(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))"; \
	if [ ! -f "$$stamp" ] || [ pyproject.toml -nt "$$stamp" ]; then \
		echo "Installing the project into $(VENV) with extras [$(EXTRAS)]"; \
		$(PY) -m pip install --quiet --upgrade pip && \
		$(PY) -m pip install --quiet -e ".[$(EXTRAS)]" && touch "$$stamp"; \
	fi

comma := ,

demo: env
	$(VENV)/bin/autograder demo

test: env
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

bench: EXTRAS = dev,crosscheck
bench: env
	$(PY) benchmarks/bench_reference.py
	$(PY) benchmarks/bench_grading.py
	$(PY) benchmarks/bench_batch.py
	$(PY) benchmarks/bench_cold.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

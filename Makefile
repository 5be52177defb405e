# The two commands (make demo, make test) build .venv from requirements.lock when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: demo test lint bench lock clean

$(READY): requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: $(READY)
	$(BIN)/trustspace demo

lint: $(READY)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/pytest --cov --cov-branch --cov-report=term:skip-covered $(PYTEST_ARGS)

# make bench B=identity
bench: $(READY)
	@test -n "$(B)" || (echo "usage: make bench B=<name>  (one of: $$(ls bench/*.py | xargs -n1 basename | sed 's/\.py$$//' | tr '\n' ' '))"; exit 2)
	$(BIN)/python bench/$(B).py $(BENCH_ARGS)

# Regenerate the lock file from pyproject.toml (needs the registry).
lock:
	rm -rf /tmp/trustspace-lock && $(PYTHON) -m venv /tmp/trustspace-lock
	/tmp/trustspace-lock/bin/python -m pip install -q -U pip
	/tmp/trustspace-lock/bin/python -m pip install -q ".[dev]" "setuptools>=68"
	/tmp/trustspace-lock/bin/python -m pip freeze --all --exclude trustspace --exclude pip > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage

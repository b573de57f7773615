# One entry point for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MLFLOW_VENV ?= .venv-mlflow

.DEFAULT_GOAL := help
.PHONY: help system-deps install demo test test-fast lint format bench bench-deps clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps:  ## Install the Debian packages the tests need (PostgreSQL server); needs root
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## Create .venv and install runbase with every extra and dev tool

demo: install  ## The main job: train a digits classifier and log it to ./runbase.db
	$(BIN)/python examples/train_digits.py
	$(BIN)/runbase runs list -e digits -o 'metrics.val_accuracy DESC' -c metrics.val_accuracy -n 10

test: system-deps install lint  ## Lint, type-check and run every test (SQLite and PostgreSQL)
	$(BIN)/pytest -q

test-fast: install  ## Tests on SQLite only
	$(BIN)/pytest -q -m 'not postgres'

lint: install  ## ruff and mypy
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

format: install  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests examples bench
	$(BIN)/ruff format src tests examples bench

$(MLFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install -q 'mlflow==3.17.2'
	touch $@

bench-deps: install $(MLFLOW_VENV)/.installed  ## runbase's venv plus MLflow 3.17.2 in its own venv

bench: bench-deps  ## Side-by-side benchmarks against MLflow; writes bench/RESULTS.md
	$(BIN)/python bench/run.py --mlflow-python $(MLFLOW_VENV)/bin/python $(ARGS)

clean:  ## Remove the virtual environments and build leftovers
	rm -rf $(VENV) $(MLFLOW_VENV) build dist .pytest_cache .mypy_cache .ruff_cache

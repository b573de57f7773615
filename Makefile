# One entry point for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MLFLOW_VENV ?= .venv-mlflow

.DEFAULT_GOAL := help
.PHONY: help system-deps install ui screenshots demo test test-fast lint format bench bench-ui bench-deps clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps:  ## Install the Debian packages the tests need (PostgreSQL, Chromium; Node.js if missing); needs root
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## Create .venv and install runbase with every extra and dev tool

UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json \
	ui/package-lock.json ui/tsconfig.json ui/vite.config.ts
UI_DIST := src/runbase/server/_ui_dist/index.html

$(UI_DIST): $(UI_SOURCES) | $(BIN)/python
	$(BIN)/python hatch_build.py --force

ui: $(UI_DIST)  ## Type-check and compile the web UI (ui/, needs Node.js) into the package

screenshots: install ui  ## Run the browser tests and save their screenshots in docs/screenshots
	RUNBASE_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/ui

demo: install  ## The main job: a TPE sweep (2 agents, pruning) of a digits classifier into ./runbase.db, then the UI
	$(BIN)/runbase demo $(DEMO_ARGS)

test: system-deps install ui lint  ## Lint, type-check and run every test (SQLite, PostgreSQL, browser)
	$(BIN)/pytest -q

test-fast: install ui  ## Tests on SQLite only
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

bench: bench-deps ui  ## Side-by-side benchmarks against MLflow, then the UI in Chromium; writes bench/RESULTS.md
	$(BIN)/python bench/run.py --mlflow-python $(MLFLOW_VENV)/bin/python $(ARGS)
	$(BIN)/python bench/ui_bench.py $(UI_ARGS)

bench-ui: install ui  ## Only the UI benchmark in Chromium (runs table over 100,000 runs, compare chart)
	$(BIN)/python bench/ui_bench.py $(UI_ARGS)

clean:  ## Remove the virtual environments and build leftovers
	rm -rf $(VENV) $(MLFLOW_VENV) build dist .pytest_cache .mypy_cache .ruff_cache ui/node_modules

# Storydesk task runner. Everything installs itself into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint typecheck layers unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/storydesk demo

lint: install
	$(BIN)/ruff check bot handlers storage config tests bench

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

unit: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS)

test: lint typecheck layers unit

# Each benchmark measures its floor in the same run and rewrites its own section of
# bench/README.md with medians and ratios.
bench: install
	@echo "Benchmarks: figures go to bench/README.md"
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/mattermost_command.py
	$(BIN)/python bench/slack_ack.py
	$(BIN)/python bench/quarter.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Storydesk task runner. Everything installs itself into .venv on first use, from the
# lock files: requirements-dev.lock (runtime and dev tools, for this tree and CI) and
# requirements.lock (runtime only, for the Docker image). `make lock` refreshes both.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2
# The resolver that writes the lock files, pinned so that a refresh is reproducible too.
UV_VERSION := 0.13.9
# The oldest Python the lock files must install on (pyproject's requires-python); the
# resolution is universal, so they also install on newer Pythons and other platforms.
LOCK_PYTHON := 3.11
# The build backend goes into the locks too, so that installing the project itself needs
# no unpinned download (pip install --no-build-isolation).
BUILD_REQUIREMENTS := 'setuptools>=77' wheel
LOCK_FLAGS := --universal --python-version $(LOCK_PYTHON) --generate-hashes \
	--no-emit-package storydesk --custom-compile-command "make lock (universal: Python >= $(LOCK_PYTHON), any platform)" --native-tls --quiet

.PHONY: install lock demo test lint typecheck layers unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Resolve pyproject.toml's dependencies afresh (newest versions its ranges allow) and
# write both lock files with every file's hash. Commit them; `make install` and the
# Docker build install exactly what they list.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	printf '%s\n' $(BUILD_REQUIREMENTS) | $(BIN)/uv pip compile pyproject.toml - \
		$(LOCK_FLAGS) -o requirements.lock
	printf '%s\n' $(BUILD_REQUIREMENTS) | $(BIN)/uv pip compile pyproject.toml - \
		--extra dev $(LOCK_FLAGS) -o requirements-dev.lock

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
	$(BIN)/python bench/crowd.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/mattermost_command.py
	$(BIN)/python bench/slack_answer.py
	$(BIN)/python bench/pitch_work.py
	$(BIN)/python bench/import_memory.py
	$(BIN)/python bench/quarter.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

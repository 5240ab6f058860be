# zhvec — `make help` lists the targets. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A change to any of these reinstalls zhvec, which recompiles its C modules (page scanner, cleaner, cut).
BUILD_INPUTS := pyproject.toml requirements.lock setup.py tasks/dump/_pages.c tasks/dump/_wikitext.c \
	tasks/dump/_text.h tasks/text/_cut.c
STAMP := $(VENV)/.installed-$(shell cat $(BUILD_INPUTS) | sha1sum | cut -c1-12)
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.DEFAULT_GOAL := help
.PHONY: help install run test lint format clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): $(BUILD_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install the pinned dependencies and zhvec
run: $(STAMP) ## run the default pipeline (the bundled sample): DuckDB in work/, HTML in reports/
	$(BIN)/zhvec run

test: $(STAMP) ## run the test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff check, ruff format --check, mypy on tasks/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy tasks

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the workspace and the run reports (keeps .venv and the benchmark history)
	rm -rf work reports/index.html $(filter-out reports/benchmarks/,$(wildcard reports/*/))

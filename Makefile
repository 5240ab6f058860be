# zhvec — `make help` lists the targets. `make run` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A change to any of these, or to ZHVEC_CFLAGS (flags added to the C's -Wall -Wextra: CI sets -Werror),
# reinstalls zhvec, which recompiles its C modules (page scanner, cleaner, cut).
BUILD_INPUTS := pyproject.toml requirements.lock setup.py tasks/dump/_pages.c tasks/dump/_wikitext.c \
	tasks/dump/_text.h tasks/text/_cut.c
export ZHVEC_CFLAGS ?=
STAMP := $(VENV)/.installed-$(shell (cat $(BUILD_INPUTS); echo '$(ZHVEC_CFLAGS)') | sha1sum | cut -c1-12)
SECONDS ?= 600
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.DEFAULT_GOAL := help
.PHONY: help install run test lint format fuzz clean

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

fuzz: $(STAMP) ## fuzz the C modules built with ASan+UBSan, SECONDS (default 600) each
	$(BIN)/python -m tests.fuzz --seconds $(SECONDS)

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove the workspace and the run reports (keeps .venv and the benchmark history)
	rm -rf work reports/index.html $(filter-out reports/benchmarks/,$(wildcard reports/*/))

# Two commands for a fresh machine: `make run` starts the bot, `make test` runs every test.
# Each creates .venv and installs the project (with its test tools) the first time.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench check pictures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) .env
	$(BIN)/python -m bot

# A first `make run` creates .env from the example; the bot then names the secrets to fill in.
.env:
	cp .env.example .env
	@echo "Created .env from .env.example: fill in DISCORD_TOKEN and AIMLAPI_KEY."

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/python -m bot check

bench: $(STAMP)
	$(BIN)/python bench/poll_lag.py
	$(BIN)/python bench/quota_throughput.py
	$(BIN)/python bench/compose_load.py
	$(BIN)/python bench/jam_load.py

# The README's pictures (.github/readme/), drawn from what a run against the fakes posts.
pictures: $(STAMP)
	$(BIN)/python -m tests.pictures

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

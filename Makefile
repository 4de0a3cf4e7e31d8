# Two commands for a fresh machine: `make run` starts the bot, `make test` runs every test.
# Each creates .venv the first time and installs the exact versions the tests passed with:
# `make run` only what runs the bot (requirements.txt), `make test` the test and lint tools
# too (requirements-dev.txt). Both files pin every package with its hashes; `make lock`
# regenerates them from pyproject.toml (keeping the pins that still fit; LOCK_FLAGS=--upgrade
# moves to the newest allowed versions).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
LOCK_VENV := .venv-lock
LOCK_FLAGS ?=
GUILD ?=
# The project itself goes in after its locked dependencies, without pulling any of its own.
INSTALL_PROJECT := $(BIN)/pip install --quiet --no-deps -e .
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--allow-unsafe --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

.PHONY: run test lint bench check sync lock pictures clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	$(INSTALL_PROJECT)
	touch $@

# The dev lock holds every runtime pin too, so a test venv also runs the bot.
$(DEV_STAMP): requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	$(INSTALL_PROJECT)
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) .env
	$(BIN)/python -m bot

# A first `make run` creates .env from the example; the bot then names the secrets to fill in.
.env:
	cp .env.example .env
	@echo "Created .env from .env.example: fill in DISCORD_TOKEN and AIMLAPI_KEY."

# Coverage of bot/ and cogs/, the `python -m bot` processes the tests start included; files
# fully covered are left out of the table.
test: $(DEV_STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: $(RUN_STAMP)
	$(BIN)/python -m bot check

# `make sync` publishes the commands globally; `make sync GUILD=<server id>` to one server.
sync: $(RUN_STAMP)
	$(BIN)/python -m bot sync $(if $(GUILD),--guild $(GUILD))

bench: $(DEV_STAMP)
	$(BIN)/python bench/poll_lag.py
	$(BIN)/python bench/quota_throughput.py
	$(BIN)/python bench/lease_takeover.py
	$(BIN)/python bench/compose_load.py
	$(BIN)/python bench/jam_load.py

# Resolved against PyPI alone (no local index or wheel folder), so the hashes are PyPI's.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || \
		{ $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(PIP_COMPILE) \
		-o requirements.txt pyproject.toml
	env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(PIP_COMPILE) \
		--extra test --extra lint -o requirements-dev.txt pyproject.toml

# The README's pictures (.github/readme/), drawn from what a run against the fakes posts.
pictures: $(DEV_STAMP)
	$(BIN)/python -m tests.pictures

clean:
	rm -rf $(VENV) $(LOCK_VENV) .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*

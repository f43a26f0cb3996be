# The README's commands. Every target does its own set-up, so a fresh clone needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export CRM_SYNC_DATA ?= $(CURDIR)/data
UI_PORT ?= 3000
# The sandbox's HTTPS port for demo/ui/sandbox: any free one unless set (make ui SANDBOX_PORT=8443)
SANDBOX_PORT ?= 0

.PHONY: help install test lint demo ui sandbox env bench postgres chromium clean

help:
	@echo "make demo   - set up, start the local Salesforce org and run the main job"
	@echo "make test   - set up, then ruff and the tests (Postgres is started when it is down)"
	@echo "make ui     - the Dagster UI and daemon against the embedded instance and the sandbox (UI_PORT=3000)"
	@echo "make env    - while make ui runs: export lines for the sandbox org (eval \"\$$(make -s env)\")"
	@echo "make bench  - the benchmarks in bench/ (figures in bench/results/)"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[sandbox,test]'
	@touch $(STAMP)

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.embedded.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.embedded.yaml $(DAGSTER_HOME)/dagster.yaml

postgres:
	@bash .ci/ensure-postgres

# The UI test drives Debian's Chromium (never a browser downloaded by a test tool).
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "Chromium is needed for the UI test: apt-get install chromium (as root)"; exit 1; }

lint: install
	$(BIN)/ruff check crm_sync crm_sync_tests bench

test: install postgres chromium lint
	$(BIN)/pytest

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/crm-sync demo --sandbox-port $(SANDBOX_PORT)

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/crm-sync ui --port $(UI_PORT) --sandbox-port $(SANDBOX_PORT)

sandbox: install
	$(BIN)/crm-sync sandbox --data $(CRM_SYNC_DATA)/sandbox $(if $(filter-out 0,$(SANDBOX_PORT)),--port $(SANDBOX_PORT))

# Prints the running sandbox's settings (its own test credentials included) for: eval "$(make -s env)"
env: install
	@$(BIN)/crm-sync sandbox-env

bench: install postgres
	$(BIN)/python bench/sandbox.py
	$(BIN)/python bench/receive.py

clean:
	rm -rf $(VENV) .dagster_home data .pytest_cache .ruff_cache

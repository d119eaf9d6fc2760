# Two commands do all the set-up: `make run` (demo on the sample list) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
URL_LIST ?= data/url_lists/sample.txt

.PHONY: install run test dev api clean-data

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e ".[gcp,prod,dev,api]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/wandr-pipeline run $(URL_LIST)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -ra

dev: install
	$(BIN)/dagster dev -w workspace.yaml

# The HTTP API of the original service (docs/API.md), on PORT (default 8080). Runs are launched by the
# daemon of `make dev` (same DAGSTER_HOME), so start that too.
api: install
	$(BIN)/wandr-pipeline api

clean-data:
	rm -rf data/media data/warehouse data/submissions data/ingestion

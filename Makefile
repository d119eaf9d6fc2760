# Two commands do all the set-up: `make run` (demo on the sample list) and `make test` (whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
URL_LIST ?= data/url_lists/sample.txt
DEV_PORT ?= 3000
# Test processes: the slow tests mostly wait on servers and subprocesses, so two share 2 cores well.
PYTEST_WORKERS ?= 2

.PHONY: install run test dev api clean-data benchmark-tools

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e ".[gcp,prod,dev,api]" -c constraints.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/wandr-pipeline run $(URL_LIST)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(DG) check defs
	$(BIN)/pytest -q -ra -n $(PYTEST_WORKERS) --dist loadfile

# Dagster's `dg` CLI on this project ([tool.dg] in pyproject.toml). VIRTUAL_ENV: dg checks that the active
# environment is the project's, and make does not activate it. `dagster dev -w workspace.yaml` still works.
DG := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg

dev: install
	$(DG) dev -p $(DEV_PORT)

# The HTTP API of the original service (docs/API.md), on PORT (default 8080). Runs are launched by the
# daemon of `make dev` (same DAGSTER_HOME), so start that too.
api: install
	$(BIN)/wandr-pipeline api

# What benchmarks/make_caption_set.py needs to generate the synthetic caption set (Debian/Ubuntu, as
# root): espeak-ng speaks the scripts, ffmpeg's drawtext burns in the captions in these fonts.
benchmark-tools:
	apt-get update
	apt-get install -y --no-install-recommends espeak-ng ffmpeg fonts-dejavu-core fonts-liberation fonts-lato \
		fonts-open-sans fonts-freefont-ttf fonts-roboto-unhinted

clean-data:
	rm -rf data/media data/warehouse data/submissions data/ingestion

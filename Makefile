# Tickwork. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench serve migrate clean

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e sdk/python
	@touch $(STAMP)

demo: $(STAMP)  ## the main job end to end on the embedded default (no servers needed)
	$(BIN)/tickwork demo

test: $(STAMP)  ## the whole suite (PostgreSQL/Redis tests skip when absent, unless CI)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## unit tests only
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)  ## every bench/*.py, each beside its baseline; see bench/RESULTS.md
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/gaps.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/documents.py
	$(BIN)/python bench/cursors.py

serve: $(STAMP)  ## API + worker + beat against TICKWORK_DATABASE_URL / TICKWORK_BROKER_URL
	$(BIN)/tickwork serve

migrate: $(STAMP)
	$(BIN)/tickwork db upgrade

clean:
	rm -rf $(VENV) .tickwork .pytest_cache .ruff_cache .mypy_cache

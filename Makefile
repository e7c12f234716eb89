# Tickwork. `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench serve migrate clean mutation

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e sdk/python
	@touch $(STAMP)

demo: $(STAMP)  ## the main job end to end on the embedded default (no servers needed)
	$(BIN)/tickwork demo

# Parallel workers (pytest-xdist) for `make test`: each has its own PostgreSQL database, Redis db
# index and RabbitMQ vhost; docs/testing.md says how they are chosen. One more worker than this
# machine's two cores: the fault-injection tests spend most of their time waiting (timeouts,
# outages, recoveries) on one worker while the others use the CPU.
WORKERS ?= 3

# One pytest run over everything. The fault-injection tests (group `fault`, tests/conftest.py)
# run one after another on a single worker, beside the rest; their kills land at pause points,
# not in timing windows, so a busy CPU slows them down without failing them. Bytecode caches are
# written even where the environment sets PYTHONDONTWRITEBYTECODE: without them every worker
# re-rewrites the asserts of every test module and every process a test starts compiles the
# project again. Exit 5 ("no test collected", e.g. under a -m that selects none) is not a failure.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test: $(STAMP)  ## the whole suite (PostgreSQL/Redis tests skip when absent, unless CI)
	@$(PYTEST) -n $(WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS) || \
	  { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; }

test-fast: $(STAMP)  ## the pure unit tests, no services needed (quick Hypothesis profile)
	$(PYTEST) -n 2 tests/unit $(PYTEST_ARGS)

# Mutation testing of the LCFS money code, webhook signing/SSRF rules and the audit chain
# against their unit tests ([tool.mutmut] in pyproject.toml; docs/testing.md, "Mutation
# testing"). Not part of `make test`: it runs the tests once per mutant, for minutes. mutmut
# keeps its results in ./mutants and re-tests only what changed; `rm -rf mutants` starts afresh.
MUTATION_CHILDREN ?= 2

mutation: $(STAMP)  ## mutmut over the modules in [tool.mutmut]; survivors listed at the end
	$(BIN)/mutmut run --max-children $(MUTATION_CHILDREN)
	$(BIN)/mutmut results

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
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/startup.py

serve: $(STAMP)  ## API + worker + beat against TICKWORK_DATABASE_URL / TICKWORK_BROKER_URL
	$(BIN)/tickwork serve

migrate: $(STAMP)
	$(BIN)/tickwork db upgrade

clean:
	rm -rf $(VENV) .tickwork .pytest_cache .ruff_cache .mypy_cache

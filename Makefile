# The two commands the README promises: `make sandbox` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit sandbox clean bench soak

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check watcher tests
	$(BIN)/ruff format --check watcher tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict watcher

test: lint typecheck
	$(BIN)/python -m pytest -q

# SANDBOX_ARGS=--speed 30000 tells the story faster.
sandbox: $(STAMP)
	$(BIN)/plan-watcher sandbox $(SANDBOX_ARGS)

# Benchmarks at scale (a few minutes; never part of `make test`): see docs/performance.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev,bench]'
	$(BIN)/python -m bench.scale --write docs/performance.md $(BENCH_ARGS)

# 90 simulated days with faults and restarts (~15 min; its short form is in `make test`):
# prints the table and writes it into docs/reliability.md. SOAK_ARGS="--days 30" for less.
soak: $(STAMP)
	$(BIN)/python -m bench.soak --write docs/reliability.md $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

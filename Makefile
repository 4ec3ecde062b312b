# The two commands the README promises: `make sandbox` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit sandbox clean bench soak image-test lock

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

# requirements.lock: the runtime dependencies the image installs, pinned with hashes, for
# every platform and Python >= 3.11. Keeps existing pins; LOCK_ARGS=--upgrade takes the newest.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --output-file requirements.lock --quiet $(LOCK_ARGS)

# Builds the container image from the Dockerfile on a Debian stand-in base and runs it
# (root, mmdebstrap, podman and buildah; ~10 min): see docs/deployment.md.
image-test: $(STAMP)
	$(BIN)/python -m pytest -q -m image tests/image $(IMAGE_TEST_ARGS)

# SANDBOX_ARGS=--speed 30000 tells the story faster.
sandbox: $(STAMP)
	$(BIN)/plan-watcher sandbox $(SANDBOX_ARGS)

# Benchmarks at scale (about 20 minutes, most of it 1,000 cycles of the daemon;
# BENCH_ARGS="--long-cycles 0" leaves those out; never part of `make test`): docs/performance.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev,bench]'
	$(BIN)/python -m bench.scale --write docs/performance.md $(BENCH_ARGS)

# 90 simulated days with faults and restarts (~15 min; its short form is in `make test`):
# prints the table and writes it into docs/reliability.md. SOAK_ARGS="--days 30" for less.
soak: $(STAMP)
	$(BIN)/python -m bench.soak --write docs/reliability.md $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# alembic-drill developer tasks. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_FLAGS ?=
PIP := $(VENV)/bin/pip

.DEFAULT_GOAL := help
.PHONY: help dev test test-rust test-python lint fmt bench bench-long bench-peers clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Rebuilt when anything that goes into the extension changes: the manifests, the lock file
# (a dependency bumped), and every Rust and Python source.
$(VENV)/.installed: pyproject.toml Cargo.toml Cargo.lock $(shell find src python -name '*.rs' -o -name '*.py' -o -name '*.pyi')
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	touch $@

dev: $(VENV)/.installed ## create .venv with alembic-drill installed in editable mode (builds the Rust core)

test: test-rust test-python ## the whole test suite: Rust unit tests, then the Python suite

test-rust: ## Rust unit tests of the pure core (no interpreter)
	cargo test --lib

test-python: dev ## the Python suite against the installed package (PYTEST_FLAGS: extra options)
	$(PY) -m pytest $(PYTEST_FLAGS)

lint: dev ## cargo fmt, clippy (-D warnings), ruff and mypy
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests bench
	$(VENV)/bin/ruff format --check python tests bench
	$(VENV)/bin/mypy

fmt: ## format Rust and Python code
	cargo fmt
	$(VENV)/bin/ruff format python tests bench
	$(VENV)/bin/ruff check --fix python tests bench

bench: dev ## benchmarks: lint vs Alembic, servers (ready/create/clone), the core's timings, check vs the floor
	$(PY) bench/lint_vs_alembic.py
	$(PY) bench/servers.py
	bash bench/core.sh
	$(PY) bench/check_vs_floor.py
	$(PY) bench/fixture_cost.py

bench-long: dev ## check on 250-2,000-revision histories on local PostgreSQL: peak memory and time per revision (about 15 min): bench/results/long-history.md
	$(PY) bench/long_history.py --out bench/results/long-history.md

bench-peers: dev ## alembic-drill check against its peers (pytest-alembic, pytest-mrt, a hand-written suite, the floor): bench/results/peers.{md,png}
	$(PY) bench/peers.py --engines postgresql

realworld: dev ## real histories from PyPI (optuna, Airflow) judged finding by finding: bench/realworld/results/findings.md (downloads large packages; not in CI)
	$(PY) bench/realworld/run.py

clean: ## remove build outputs and the virtual environment
	rm -rf target $(VENV) python/alembic_drill/*.so

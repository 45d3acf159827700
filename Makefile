# Set-up is idempotent and works on a fresh Debian machine (root or sudo for apt-get):
#   make demo    set-up, then a local cluster stores and reads back the sample texts
#   make test    set-up, lint, then the whole pytest suite
# Environment: PYTHON (interpreter for .venv, default python3); MR_ZOOKEEPER_HOME or
# MR_ZOOKEEPER_CLASSPATH (use that ZooKeeper instead of Debian's package); JAVA_HOME.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv install stubs zookeeper setup lint format test demo clean bench

help:
	@echo "make demo       set up, start a local cluster, put/get the sample texts, stop it"
	@echo "make test       set up, lint, run the whole test suite"
	@echo "make install    create .venv and install the project (also: make venv)"
	@echo "make zookeeper  install Debian's zookeeper package if no ZooKeeper is usable"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make format     ruff format"
	@echo "make clean      stop the .cluster demo cluster, remove it and caches"

# Reinstall only when pyproject.toml changed (or .venv is new).
$(STAMP): pyproject.toml
	@PYTHON="$(PYTHON)" scripts/ensure-venv.sh
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

venv install: $(STAMP) stubs

stubs: $(STAMP)
	@$(PY) scripts/check_stubs.py

zookeeper: $(STAMP)
	@scripts/ensure-zookeeper.sh

setup: install zookeeper

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

test: setup lint
	$(VENV)/bin/pytest -q

# The demo may use an external ensemble ([zookeeper] hosts in cluster.toml).
demo: install
	@scripts/ensure-zookeeper.sh --config cluster.toml
	@scripts/demo.sh

clean:
	@if [ -f .cluster/cluster.json ] && [ -x $(VENV)/bin/mr ]; then \
		$(VENV)/bin/mr --cluster .cluster cluster stop || true; fi
	rm -rf .cluster .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

# Benchmarks (issue 6): the same set-up, then bench/run.py (corpus, cluster, tables, targets;
# results into bench/RESULTS.md). numpy (the data generators) and py-spy (--profile) are
# installed into .venv for the benchmark only: they are not project dependencies.
#   make bench                           256 MiB, 3 runs per method (~10 min on 2 cores)
#   make bench BENCH_ARGS="--quick"      16 MiB smoke run, 1 run each
#   make bench BENCH_ARGS="--mb 64 --profile"
BENCH_ARGS ?=
bench: setup
	$(PY) -m pip install -q --disable-pip-version-check numpy py-spy
	$(PY) bench/run.py $(BENCH_ARGS)

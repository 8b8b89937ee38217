# The two commands a fresh Debian machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use: PostgreSQL for the store tests, wrk for the benchmarks,
# oathtool as an independent OTP generator; pcscd + vpcd for the virtual cards, OpenSC
# as an independent PIV check, and swig + libpcsclite-dev to build pyscard.
DEBIAN_PACKAGES := postgresql wrk oathtool pcscd libpcsclite-dev swig vsmartcard-vpcd opensc gcc

.PHONY: demo test check lint typecheck contracts pytest bench system-packages clean

demo: $(STAMP)
	$(BIN)/tokenstile demo

test: $(STAMP)
	$(MAKE) --no-print-directory check

check: lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff format --check app tests bench
	$(BIN)/ruff check app tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_verify.py
	$(BIN)/python bench/bench_refresh.py

system-packages:
	@scripts/ensure-debian-packages $(DEBIAN_PACKAGES)

$(STAMP): pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# The two commands a fresh Debian machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use: PostgreSQL for the store tests, wrk for the benchmarks,
# oathtool as an independent OTP generator; pcscd + vpcd for the virtual cards, OpenSC
# as an independent PIV check, and swig + libpcsclite-dev to build pyscard.
# gnome-keyring + dbus + libsecret-tools give the broker tests the real Secret Service; xvfb and
# the xcb libraries let the kiosk render in a real X server for the screenshots; hyperfine
# times whole commands in the benchmarks.
DEBIAN_PACKAGES := postgresql wrk oathtool pcscd libpcsclite-dev swig vsmartcard-vpcd opensc gcc \
	gnome-keyring dbus-daemon dbus-x11 libsecret-tools hyperfine \
	xvfb xauth imagemagick libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 \
	libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
	libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core desktop-file-utils

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

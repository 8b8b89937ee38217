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
# the xcb libraries let the kiosk render in a real X server for the screenshots, and xdotool
# drives the demo there with real key and mouse events (tests/e2e/test_demo_desktop_x11.py);
# hyperfine times whole commands in the benchmarks; chromium + chromium-driver are the real
# browser of the web sign-in tests (Selenium); rsyslog is the real syslog receiver of the
# audit streaming tests (tests/integration/server/test_audit_stream.py).
DEBIAN_PACKAGES := postgresql wrk oathtool pcscd libpcsclite-dev swig vsmartcard-vpcd opensc gcc \
	gnome-keyring dbus-daemon dbus-x11 libsecret-tools hyperfine \
	xvfb xauth imagemagick libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 \
	libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 \
	libxcb-xinerama0 libxcb-xkb1 fonts-dejavu-core desktop-file-utils xdotool chromium chromium-driver \
	rsyslog slapd ldap-utils

.PHONY: demo test check lint typecheck contracts pytest bench bench-fleet soak fuzz screenshots bundle \
	system-packages clean translations-web translations-kiosk

demo: $(STAMP)
	$(BIN)/tokenstile kiosk --demo

test: $(STAMP)
	$(MAKE) --no-print-directory check

check: lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff format --check app tests bench examples scripts
	$(BIN)/ruff check app tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy examples/desktop-app/desktop_app.py
	$(BIN)/mypy examples/web-app/web_app.py examples/native-app/native_app.py

contracts: $(STAMP)
	$(BIN)/lint-imports

# The suite starts hundreds of `tokenstile` processes; this machine sets
# PYTHONDONTWRITEBYTECODE, so without compiled files each one compiles the package anew.
# Two xdist workers, one per core: most of a test's time is waiting on the processes it
# started. tests/xdist_units.py decides what runs together (all pcscd tests on one worker,
# a module's tests on one worker, so shared fixtures start once).
# Tests marked `alone` compare timings: they run afterwards, with nothing beside them. Both
# runs always happen and both exit statuses count (pytest's 5, no test run, fails too).
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 app tests
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope -m "not alone"; workers=$$?; \
	$(BIN)/pytest -m alone; alone=$$?; \
	test $$workers -eq 0 && test $$alone -eq 0

bench: $(STAMP)
	$(BIN)/python bench/bench_verify.py
	$(BIN)/python bench/bench_refresh.py

# The browser pages' messages: extract them from the templates into web.pot, merge that
# into every language's web.po (translate what is new there), compile each to web.mo.
translations-web: $(STAMP)
	$(BIN)/pybabel extract -F babel-web.cfg --no-location --sort-output --project Tokenstile \
		--copyright-holder "Tokenstile contributors" -o app/tokenstile/server/locale/web.pot .
	$(BIN)/pybabel update -i app/tokenstile/server/locale/web.pot -d app/tokenstile/server/locale \
		-D web --no-fuzzy-matching
	$(BIN)/pybabel compile -d app/tokenstile/server/locale -D web --statistics

# The kiosk's and the admin console's words (self.tr) into the Qt source catalog.
translations-kiosk: $(STAMP)
	$(BIN)/pyside6-lupdate $$(find app/tokenstile/kiosk app/tokenstile/demo -name '*.py' | sort) \
		-ts resources/translations/tokenstile_en.ts -no-obsolete

system-packages:
	@scripts/ensure-debian-packages $(DEBIAN_PACKAGES)

$(STAMP): pyproject.toml | system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Every kiosk and admin-console screen rendered in a real X server (Xvfb), saved as
# docs/screenshots/<screen>.png for the README; the screen is 1920x1080, the largest size
# the kiosk is drawn at (kiosk-sign-in-<w>x<h>.png and kiosk-pin-pad-<w>x<h>.png).
screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/python scripts/screenshots.py docs/screenshots

# The kiosk, the admin console, the token service and the CLI as one program (PyInstaller,
# onedir): dist/tokenstile/tokenstile. packaging/linux/install.sh installs it.
bundle: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller packaging/pyinstaller/tokenstile.spec

# Fleet mode (issue 8). `make fuzz`: every atheris target for FUZZ_SECONDS each (corpus kept
# in .fuzz/, crashes written there as crash-*), then schemathesis with many examples per
# operation. `make soak`: 10 minutes of chained refreshes on PostgreSQL with two workers,
# memory sampled. `make bench-fleet`: refresh and OTP login throughput, SQLite and PostgreSQL.
FUZZ_SECONDS ?= 300
FUZZ_EXAMPLES ?= 1000

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.targets seeds .fuzz
	for target in token pskc webauthn; do \
		$(BIN)/python -m tests.fuzz.targets $$target .fuzz/$$target \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=.fuzz/ || exit 1; \
	done
	TOKENSTILE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider -q tests/fuzz/test_openapi.py

soak: $(STAMP)
	cd bench && ../$(BIN)/python bench_fleet.py --soak 600

bench-fleet: $(STAMP)
	cd bench && ../$(BIN)/python bench_fleet.py

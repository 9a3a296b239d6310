# The two commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit lint typecheck clean chromium bench-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/energy-ingest up --simulate

# Headless Chromium for the web view's browser test (Debian's package; no npm downloads).
CHROMIUM := /usr/bin/chromium

chromium:
	test -x $(CHROMIUM) || (export DEBIAN_FRONTEND=noninteractive; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium) || \
	  echo "warning: could not install chromium; the web view's browser test will be skipped"

test: $(STAMP) chromium
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# A guard against a slowdown of the stream core: three in-run ratios against wide floors, under
# a minute (benchmarks/check.py). CI runs it after the tests.
bench-check: $(STAMP)
	$(BIN)/python -m benchmarks --check

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy processor producers db
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .energy .pytest_cache .mypy_cache .ruff_cache *.egg-info

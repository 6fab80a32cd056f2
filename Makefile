# Two entry points do all set-up on a fresh Debian machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEBS   := docker-registry prometheus apache2-utils skopeo umoci buildah
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: demo test setup debs lint typecheck check bench soak snapshots-update screenshots clean

demo: setup debs
	$(BIN)/regtui demo

test: setup debs lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Installs the real registry and Prometheus the lab runs, only when a binary is missing.
debs:
	@if ! command -v docker-registry >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v promtool >/dev/null || ! command -v htpasswd >/dev/null \
	    || ! command -v skopeo >/dev/null || ! command -v umoci >/dev/null \
	    || ! command -v buildah >/dev/null; then \
	  echo "installing Debian packages: $(DEBS)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEBS); \
	fi

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

check: lint typecheck

# 10 minutes of live refresh through the fault proxy (10 % of requests failing); not in `test`.
soak: setup debs
	$(BIN)/python -m tests.soak

BENCH_DEBS := wrk hey skopeo

bench: setup debs
	@if ! command -v wrk >/dev/null || ! command -v hey >/dev/null \
	    || ! command -v skopeo >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BENCH_DEBS); \
	fi
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

snapshots-update: setup debs
	$(BIN)/pytest tests/ui --snapshot-update

# The README's pictures, from the same scenes as the snapshot tests.
screenshots: setup
	$(BIN)/python -m tests.ui.screenshots screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache snapshot_report.html .ci/artifacts

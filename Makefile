# torchplay: two commands set up a fresh machine (Python 3.11, pip, make).
#   make run    install into .venv and start the app on http://127.0.0.1:8000
#               (settings come from TORCHPLAY_* environment variables, see docs/configuration.md)
#   make test   install into .venv (plus Chromium and nginx for the browser and replica tests)
#               and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The versions CI tested (constraints.txt); `make constraints` records the current ones.
PIP    := $(PY) -m pip install -c constraints.txt

.PHONY: run test install install-test browser nginx bench lint clean constraints

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml constraints.txt
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m app

# Debian packages the tests need: a real Chromium for the browser tests (a test tool's own
# browser download cannot work offline) and nginx for the replica test. Installed when missing
# and we are root.
define debian
	@command -v $(1) >/dev/null 2>&1 || [ -x /usr/sbin/$(1) ] || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
	  else \
	    echo "$(1) is missing: install Debian's '$(2)' package (sudo apt-get install $(2))" >&2; exit 1; \
	  fi; }
endef

browser:
	$(call debian,chromium,chromium)

nginx:
	$(call debian,nginx,nginx-light)

test: install-test browser nginx
	$(PY) -m ruff check app ml_core tests bench
	$(PY) -m pytest -n auto

bench: install
	$(PY) bench/mlp.py
	$(PY) bench/cnn.py
	$(PY) bench/classroom.py

lint: install-test
	$(PY) -m ruff check app ml_core tests bench

constraints: install-test
	{ echo "# The versions CI tested: pip install -c constraints.txt ... (the Makefile and deploy/torchplay.sh do)."; \
	  echo "# Regenerate after changing dependencies: make constraints"; \
	  $(PY) -m pip freeze --exclude-editable | grep -vi '^torchplay' | sed 's/^torch==\([0-9.]*\)+.*/torch==\1/'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

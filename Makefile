# tapdesk: `make demo` and `make test` work on a fresh machine with Python 3.11 and make.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint i18n i18n-check clean help

help:
	@echo "make demo   - open the station on the demo event (simulated reader)"
	@echo "make test   - run the layering contracts and the whole test suite"
	@echo "make lint   - ruff, mypy and import-linter"
	@echo "make i18n   - extract messages and compile the catalogues"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@rm -rf tapdesk.egg-info  # a build by-product; the install does not need it
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@rm -rf tapdesk.egg-info  # a build by-product; the install does not need it
	@touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/tapdesk demo

test: $(VENV)/.dev-installed
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check tui screens hardware store tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Extract every _() string into the template, merge it into each catalogue, compile them.
i18n: $(VENV)/.dev-installed
	$(BIN)/pybabel extract -F store/locale/babel.cfg -k _ -k N_ -k ngettext:1,2 \
		--no-location --sort-output -o store/locale/tapdesk.pot tui screens hardware store
	$(BIN)/pybabel update -N --no-wrap -i store/locale/tapdesk.pot -d store/locale -D tapdesk --ignore-obsolete
	$(BIN)/pybabel compile -d store/locale -D tapdesk --statistics

clean:
	rm -rf $(VENV) build *.egg-info

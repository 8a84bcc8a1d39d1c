# Innsyn: `make run` serves the portal with demo data; `make test` runs every test.
# Both make their own virtual environment in .venv from the pinned requirements.lock.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
DEMO_PEOPLE ?= 300
PIP_VERSION := 25.3

.PHONY: run install catalogs system-deps test test-sqlite test-postgres test-shifted lint messages lock clean

run: install
	$(BIN)/portal db upgrade
	$(BIN)/portal demo seed --people $(DEMO_PEOPLE) --if-empty
	$(BIN)/portal serve --port $(PORT)

install: $(STAMP) catalogs

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# pip older than 23.3 cannot install a hashed lock whose packages ask for extras
	# (weasyprint wants fonttools[woff]); Python 3.11.7 ships pip 23.2.1.
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Compiled catalogs are build output (.mo files are not committed).
catalogs: $(STAMP)
	$(BIN)/pybabel compile --statistics -d portal/translations -D messages

# Debian packages the tests need: Chromium for the browser tests, Pango and fonts for PDFs.
system-deps:
	scripts/system-deps.sh

test: install system-deps test-sqlite test-postgres

test-sqlite:
	$(BIN)/pytest --db=sqlite

test-postgres:
	$(BIN)/pytest --db=postgres

# The suite again with the system clock moved ahead (libfaketime), to prove no test depends on
# the day it runs. Tests marked real_clock (child processes, Chromium) cannot run under it.
SHIFT ?= +400d
test-shifted: install system-deps
	faketime -f $(SHIFT) $(BIN)/pytest --db=sqlite -m "not real_clock"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Re-extract the message catalog after changing texts, then translate the .po files.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k _l -k lazy_gettext -k raw_gettext \
		-o portal/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -N -d portal/translations -D messages \
		-i portal/translations/messages.pot

# Re-pin dependencies after editing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) var

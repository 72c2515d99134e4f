# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench clean messages

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@./scripts/run.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) lint
	$(PY) scripts/ensure_services.py
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) scripts/ensure_services.py
	$(PY) scripts/bench.py

clean:
	rm -rf var/db.sqlite3 var/broker var/mail var/celerybeat-schedule

# Refresh the Indonesian catalogue from the code and compile it (needs GNU gettext).
messages: $(STAMP)
	$(PY) manage.py makemessages -l id --ignore=.venv --ignore=var --ignore=tests --no-obsolete
	$(PY) manage.py compilemessages -l id --ignore=.venv

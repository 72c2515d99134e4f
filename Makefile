# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# What running needs, and that plus the dev tools (tests, linters, browsers): each installed
# once, and again when pyproject.toml changes.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install run test lint format bench soak clean messages

$(RUN_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(RUN_STAMP)

install: $(DEV_STAMP)

# No shell between make and run.sh, so Ctrl-C and TERM reach the script as they are.
run: $(RUN_STAMP)
	@./scripts/run.sh

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(DEV_STAMP) lint
	$(PY) scripts/ensure_services.py
	$(PY) -m pytest

# In-process figures first, the backorder queue's against their floors, then the same app
# over HTTP (gunicorn, Celery, wrk, pgbench).
bench: $(DEV_STAMP)
	$(PY) scripts/ensure_services.py
	@command -v wrk >/dev/null || { echo "wrk is missing; installing it: apt-get install -y wrk"; \
		apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
	$(PY) scripts/bench.py
	$(PY) scripts/bench_queue.py
	$(PY) scripts/bench_http.py
	$(PY) scripts/bench_replenishment.py

# Ten minutes (SOAK_SECONDS) of mixed load over HTTP against gunicorn and two workers, one
# restarted every minute and the broker paused once; then every check (no 5xx, no email
# lost or sent twice, stock verified). Not part of the suite.
soak: $(DEV_STAMP)
	$(PY) scripts/ensure_services.py
	$(PY) scripts/soak.py

clean:
	rm -rf var/db.sqlite3 var/broker var/mail var/celerybeat-schedule

# Refresh the Indonesian catalogue from the code and compile it (needs GNU gettext).
messages: $(RUN_STAMP)
	$(PY) manage.py makemessages -l id --ignore=.venv --ignore=var --ignore=tests --no-obsolete
	$(PY) manage.py compilemessages -l id --ignore=.venv

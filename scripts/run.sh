#!/usr/bin/env bash
# Start web server, Celery worker and Celery beat in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT="${PORT:-8000}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
export SITE_URL="${SITE_URL:-http://localhost:${PORT}}"

mkdir -p var/broker/queue var/broker/control var/mail
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

pids=()
stop() {
    trap - INT TERM EXIT
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$PY" -m celery -A config worker --loglevel=INFO --concurrency=2 &
pids+=($!)
"$PY" -m celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule &
pids+=($!)
"$PY" manage.py runserver --noreload "127.0.0.1:${PORT}" &
pids+=($!)

mask() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

cat <<BANNER

  Backorder is running: http://localhost:${PORT}/  (shop)
                        http://localhost:${PORT}/admin/  (backoffice)
  Demo staff login:     staff / backorder-demo
  Database:             $(mask "${DATABASE_URL:-SQLite (var/db.sqlite3)}")
  Broker:               $(mask "${REDIS_URL:-filesystem (var/broker/)}")
  Emails:               $(mask "${EMAIL_URL:-written to var/mail/}")
  Ctrl-C stops the web server, the worker and beat.

BANNER

# Whichever of the three stops first, stop the others too.
wait -n

#!/usr/bin/env bash
# Start web server, Celery worker and Celery beat in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${VENV:-.venv}/bin/python"
PORT="${PORT:-8000}"
# Seconds the three get to finish what they are doing once asked to stop; then they are killed.
STOP_SECONDS="${STOP_SECONDS:-10}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-config.settings.local}"
export SITE_URL="${SITE_URL:-http://localhost:${PORT}}"

pids=()

# The process ids below $1 (a worker's pool children, theirs...), from /proc or ps.
descendants() {
    local parent=$1 pid ppid stat line
    local -a table=()
    if [[ -d /proc/self ]]; then
        for stat in /proc/[0-9]*/stat; do
            read -r line 2>/dev/null <"$stat" || continue
            pid=${stat#/proc/}
            line=${line##*) }
            read -r _ ppid _ <<<"$line"
            table+=("${pid%/stat} $ppid")
        done
    else
        mapfile -t table < <(ps -A -o pid= -o ppid= 2>/dev/null || true)
    fi
    local -a found=("$parent") next
    local -A seen=()
    while ((${#found[@]})); do
        next=()
        for line in "${table[@]}"; do
            read -r pid ppid <<<"$line"
            for parent in "${found[@]}"; do
                if [[ $ppid == "$parent" && -z ${seen[$pid]:-} ]]; then
                    seen[$pid]=1
                    next+=("$pid")
                    echo "$pid"
                fi
            done
        done
        found=("${next[@]}")
    done
}

# A process is gone once it has exited, even if its parent has not reaped it yet.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [[ ! -r /proc/$1/stat ]] && return 0
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    [[ ${line%% *} != Z ]]
}

# TERM the three, wait up to STOP_SECONDS, then KILL whatever is left, their children
# included: nothing outlives `make run`, whatever state a process is stuck in.
stop() {
    set +e
    trap '' INT TERM HUP
    trap - EXIT
    ((${#pids[@]})) || return 0
    local -a everyone=("${pids[@]}")
    local pid
    for pid in "${pids[@]}"; do
        mapfile -t -O "${#everyone[@]}" everyone < <(descendants "$pid")
    done
    kill -TERM "${pids[@]}" 2>/dev/null
    local deadline=$((SECONDS + STOP_SECONDS)) left
    while :; do
        left=()
        for pid in "${everyone[@]}"; do
            alive "$pid" && left+=("$pid")
        done
        ((${#left[@]})) || break
        if ((SECONDS >= deadline)); then
            echo "run.sh: still running after ${STOP_SECONDS} s, killing: ${left[*]}" >&2
            kill -KILL "${left[@]}" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    wait 2>/dev/null
    pids=()
}
# Asked to stop (Ctrl-C, TERM, the terminal closing): a clean stop is a success, and make
# prints no error for it.
trap 'stop; exit 0' INT TERM HUP
trap stop EXIT

mkdir -p var/broker/queue var/broker/control var/mail
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

# The threads pool: one worker process. A prefork pool's children share queue locks with
# the worker's main process, and Ctrl-C reaches them too: one interrupted while holding a
# lock can leave the main process waiting for it through TERM and QUIT. Threads are plenty
# for one developer (they do not enforce the task time limits; production's prefork does).
"$PY" -m celery -A config worker --loglevel=INFO --pool=threads --concurrency=2 &
pids+=($!)
"$PY" -m celery -A config beat --loglevel=INFO --schedule=var/celerybeat-schedule &
pids+=($!)
"$PY" manage.py runserver --noreload "127.0.0.1:${PORT}" &
pids+=($!)

mask() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

cat <<BANNER

  Backorder is running: http://localhost:${PORT}/  (shop)
                        http://localhost:${PORT}/admin/  (backoffice)
  Demo staff login:     staff / backorder-demo  (everything)
                        warehouse, purchasing, customer_service, read_only
                        (one per role, same password)
  Database:             $(mask "${DATABASE_URL:-SQLite (var/db.sqlite3)}")
  Broker:               $(mask "${REDIS_URL:-filesystem (var/broker/)}")
  Emails:               $(mask "${EMAIL_URL:-one .eml file per email in var/mail/}")
  Ctrl-C stops the web server, the worker and beat.

BANNER

# Whichever of the three stops first, stop the others too, and say so.
status=0
wait -n || status=$?
echo "run.sh: a process stopped on its own (status ${status}); stopping the others." >&2
stop
exit $((status ? status : 1))

"""Gunicorn's settings for serving `config.wsgi` in production, each from the environment.

    .venv/bin/gunicorn -c config/gunicorn.py config.wsgi

Workers are processes (one request at a time each, unless `GUNICORN_THREADS` > 1); every
worker keeps its own database connections (`CONN_MAX_AGE`), so PostgreSQL's
`max_connections` must cover workers times threads on every web machine, plus the Celery workers.
"""

import os

import environ

env = environ.Env()

# Where to listen: `GUNICORN_BIND` as gunicorn writes it (`unix:/run/backorder.sock`, or
# several, comma-separated), else every interface on `PORT`.
bind = env.list("GUNICORN_BIND", default=[f"0.0.0.0:{env.int('PORT', default=8000)}"])
# Two workers per core is the usual start for a database-bound Django app: one waits on
# PostgreSQL while the other computes.
workers = env.int("WEB_CONCURRENCY", default=2 * (os.cpu_count() or 1))
threads = env.int("GUNICORN_THREADS", default=1)
# Seconds a request may take before its worker is killed and replaced, and seconds a worker
# gets to finish its requests on a restart (TERM or HUP).
timeout = env.int("GUNICORN_TIMEOUT", default=30)
graceful_timeout = env.int("GUNICORN_GRACEFUL_TIMEOUT", default=30)
# Seconds an idle keep-alive connection is held open: keep it above the proxy's own.
keepalive = env.int("GUNICORN_KEEPALIVE", default=5)
# Recycle a worker after this many requests (0: never), give or take the jitter, so one
# that slowly grows is replaced before it matters.
max_requests = env.int("GUNICORN_MAX_REQUESTS", default=0)
max_requests_jitter = env.int("GUNICORN_MAX_REQUESTS_JITTER", default=0)
# The access log: `-` is standard output; empty turns it off (the error log stays on stderr).
accesslog = env("GUNICORN_ACCESS_LOG", default="-") or None
errorlog = "-"
loglevel = env("GUNICORN_LOG_LEVEL", default="info")
# The proxies whose X-Forwarded-* headers gunicorn believes (comma-separated addresses).
forwarded_allow_ips = env("FORWARDED_ALLOW_IPS", default="127.0.0.1,::1")

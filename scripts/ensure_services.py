"""Make sure the PostgreSQL and Redis the test suite needs are up, starting them if installed,
and that the Debian tools it runs are installed, installing them if missing.

Exits non-zero at once, saying what is missing and how to get it, if a server is absent.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse

import psycopg
import redis

DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backorder")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def maintenance_connection(database_url: str, **options: Any) -> psycopg.Connection:
    """A connection to the server's `postgres` database, for creating and dropping others."""
    url = urlparse(database_url)
    return psycopg.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname="postgres",
        **options,
    )


def postgres_up() -> bool:
    try:
        with maintenance_connection(DATABASE_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping())
    except redis.RedisError:
        return False


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def start_postgres() -> None:
    host = urlparse(DATABASE_URL).hostname or ""
    if host not in LOCAL_HOSTS:
        sys.exit(f"PostgreSQL is not reachable at {DATABASE_URL}; it is not on this machine.")
    clusters = sorted(glob.glob("/etc/postgresql/*/main"))
    if not shutil.which("pg_ctlcluster") or not clusters:
        sys.exit(
            f"PostgreSQL is not reachable at {DATABASE_URL} and is not installed here.\n"
            "Install it with: apt-get install postgresql   (or set TEST_DATABASE_URL)"
        )
    version = clusters[-1].split("/")[3]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
    )


def start_redis() -> None:
    host = urlparse(REDIS_URL).hostname or ""
    if host not in LOCAL_HOSTS:
        sys.exit(f"Redis is not reachable at {REDIS_URL}; it is not on this machine.")
    if not shutil.which("redis-server"):
        sys.exit(
            f"Redis is not reachable at {REDIS_URL} and is not installed here.\n"
            "Install it with: apt-get install redis-server   (or set REDIS_URL)"
        )
    os.makedirs("/var/lib/redis", exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=False,
    )


def wait_for(check, name: str) -> None:
    for _ in range(60):
        if check():
            return
        time.sleep(0.5)
    sys.exit(f"{name} did not come up in 30 seconds; check its log and the URL above.")


# Commands the suite runs, and the Debian package that brings each.
TOOLS = {
    "xgettext": "gettext",  # the translation catalogue is checked against the code
    "redis-server": "redis-server",  # a test stops and restarts a broker of its own
    "chromium": "chromium",  # browser tests (Playwright drives Debian's Chromium)
    "docker-compose": "docker-compose",  # compose.yaml is validated with `docker-compose config`
}


def ensure_tools() -> None:
    missing = sorted({package for command, package in TOOLS.items() if not shutil.which(command)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"The suite needs {', '.join(missing)}: apt-get install {' '.join(missing)}")
    print(f"Installing {', '.join(missing)}.")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, env=env)


def main() -> None:
    ensure_tools()
    if not postgres_up():
        print("PostgreSQL is down; starting it.")
        start_postgres()
        wait_for(postgres_up, "PostgreSQL")
    if not redis_up():
        print("Redis is down; starting it.")
        start_redis()
        wait_for(redis_up, "Redis")
    print(f"PostgreSQL and Redis are up ({DATABASE_URL}, {REDIS_URL}).")


if __name__ == "__main__":
    main()

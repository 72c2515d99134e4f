"""A real Celery worker process for tests, against the test database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60


def _test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def purge_queue() -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)


@contextmanager
def celery_worker(concurrency: int = 2, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `celery worker` as a separate process; yield its node name once it answers pings.

    `env` adds to the worker's environment (an `EMAIL_URL`, say).
    """
    purge_queue()
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TEST_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        **(env or {}),
    }
    log = (ROOT / "var").joinpath(f"worker-{name.split('@')[0]}.log")
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                name,
            ],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: bool(app.control.ping(destination=[name], timeout=0.5)), "worker ping")
        yield name
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition()` holds; fail the test if it never does."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"Gave up waiting for {what} after {WAIT_SECONDS}s")

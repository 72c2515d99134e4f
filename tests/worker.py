"""A real Celery worker process for tests, against the test database and Redis; the broker
this process sends to, its queue, and a Redis of a test's own to stop and start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu.pools
import redis
from django.conf import settings
from django.db import connection

from config.celery import app
from config.queues import queue_name

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 60
REDIS_SERVER = "/usr/bin/redis-server"


def _test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def purge_queue() -> None:
    with app.connection_for_write() as conn:
        for queue in settings.CELERY_TASK_QUEUES:
            conn.default_channel.queue_purge(queue.name)


def queued() -> list[tuple[str, list[Any]]]:
    """Take every task waiting in this run's queues off them: (task name, args), oldest
    first within each queue, the queues in the settings' order."""
    tasks = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in settings.CELERY_TASK_QUEUES:
            while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
                args, _kwargs, _embed = message.decode()
                tasks.append((message.headers["task"], args))
    return tasks


def use_broker(url: str) -> None:
    """Point this process's Celery app (broker and results) at `url`, dropping pooled
    connections to the previous one."""
    kombu.pools.reset()
    app.conf.update(broker_url=url, result_backend=url)
    celery: Any = app  # the caches Celery keeps of its broker and result backend
    celery._pool = None
    celery.amqp._producer_pool = None
    celery._backend_cache = None
    celery._local.backend = None


@dataclass
class PrivateRedis:
    """A redis-server of a test's own, which the test may stop and start on one port."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(lambda: self._answers(client), f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


@contextmanager
def celery_worker(
    concurrency: int = 2, env: dict[str, str] | None = None, kinds: tuple[str, ...] = ()
) -> Iterator[str]:
    """Start `celery worker` as a separate process; yield its node name once it answers pings.

    `env` adds to the worker's environment (an `EMAIL_URL`, say); `kinds` limits it to those
    queues (`config.queues`), as production may; by default it serves them all.
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
                *(
                    ["-Q", ",".join(queue_name(k, settings.BACKORDER_QUEUE_PREFIX) for k in kinds)]
                    if kinds
                    else []
                ),
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
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """TERM, and KILL what is still running 30 s later."""
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


@contextmanager
def gunicorn_server(
    environment: dict[str, str], log: Path, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    """The production web server (`config/gunicorn.py`) as a process of its own, with
    `environment` (its `GUNICORN_BIND` included) and its output in `log`; yielded once
    `ready()` holds, stopped (killed if it will not stop) afterwards."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(ready, "gunicorn")
        yield server
    finally:
        stop(server)

"""`GET /healthz` (contract §9): 200 when the database, the broker, a worker for every kind
of queue and beat are fine, 503 with the same shape naming what is not.

The worker and beat are real processes: their heartbeats come from `config.heartbeat` in
them, not from rows the test writes, except where a test ages a row to show staleness.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.models import Heartbeat
from config.queues import KINDS
from tests.worker import ROOT, celery_worker, stop, wait_until
from tests.worker import _test_database_url as database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_queue")]

ALL_KINDS = list(KINDS)


@contextmanager
def celery_beat(tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery beat` as a process of its own, its schedule file in `tmp_path`."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TEST_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            f"--schedule={tmp_path / 'beat-schedule'}",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        stop(process)


def healthz(client, query: str = ""):
    response = client.get(f"/healthz{query}")
    return response.status_code, response.json()


def test_all_is_well_with_a_worker_serving_every_queue_and_beat_running(client, tmp_path):
    with celery_worker(concurrency=1), celery_beat(tmp_path):
        wait_until(lambda: Heartbeat.objects.filter(role="beat").exists(), "beat's heartbeat")
        wait_until(lambda: Heartbeat.objects.filter(role="worker").exists(), "a heartbeat")

        status, body = healthz(client)

    assert status == 200
    assert body["status"] == "ok"
    checks = body["checks"]
    assert list(checks) == ["database", "broker", "worker", "beat"]
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["worker"]["alive"] == 1
    assert checks["worker"]["queues_without_worker"] == []
    assert 0 <= checks["beat"]["last_run_seconds"] <= settings.BACKORDER_HEALTH_BEAT_SECONDS


def test_a_worker_stopped_cleanly_takes_its_heartbeat_with_it(client):
    with celery_worker(concurrency=1) as name:
        wait_until(lambda: Heartbeat.objects.filter(name=name).exists(), "its heartbeat")
        row = Heartbeat.objects.get(name=name)
        assert sorted(row.queues) == sorted(q.name for q in settings.CELERY_TASK_QUEUES)

    assert not Heartbeat.objects.filter(name=name).exists()
    status, body = healthz(client, "?check=worker")
    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"]["worker"] == {
        "ok": False,
        "alive": 0,
        "last_seen_seconds": None,
        "queues_without_worker": ALL_KINDS,
        "ms": body["checks"]["worker"]["ms"],
    }


def test_a_kind_of_queue_nobody_serves_is_named(client):
    with celery_worker(concurrency=1, kinds=("refresh",)) as name:
        wait_until(lambda: Heartbeat.objects.filter(name=name).exists(), "its heartbeat")

        status, body = healthz(client, "?check=worker")

    assert status == 503
    assert body["checks"]["worker"]["alive"] == 1
    assert body["checks"]["worker"]["queues_without_worker"] == ["email", "replenishment"]


def test_a_heartbeat_older_than_a_minute_is_a_dead_worker_and_an_old_beat_a_stopped_one(client):
    queues = [q.name for q in settings.CELERY_TASK_QUEUES]
    now = timezone.now()
    old = now - timedelta(seconds=settings.BACKORDER_HEALTH_WORKER_SECONDS + 1)
    Heartbeat.objects.create(role="worker", name="celery@gone", queues=queues, seen_at=old)
    Heartbeat.objects.create(
        role="beat", name="host", seen_at=now - timedelta(hours=1), last_task="sweep"
    )

    status, body = healthz(client, "?check=worker,beat")

    assert status == 503
    worker, beat = body["checks"]["worker"], body["checks"]["beat"]
    assert (worker["ok"], worker["alive"], worker["queues_without_worker"]) == (False, 0, ALL_KINDS)
    assert worker["last_seen_seconds"] >= settings.BACKORDER_HEALTH_WORKER_SECONDS + 1
    assert (beat["ok"], beat["last_run_seconds"] >= 3600) == (False, True)

    # when: the worker beats again
    Heartbeat.objects.filter(role="worker").update(seen_at=timezone.now())

    status, body = healthz(client, "?check=worker")
    assert (status, body["checks"]["worker"]["ok"]) == (200, True)


def test_the_broker_away_is_a_503_naming_it(client, private_broker, settings):
    settings.CELERY_BROKER_URL = private_broker.url
    assert healthz(client, "?check=broker")[0] == 200

    # when: the broker goes away
    private_broker.kill()
    status, body = healthz(client, "?check=database,broker")

    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"].startswith("ConnectionError")


def test_only_the_checks_asked_for_run_and_an_unknown_one_is_a_400(client):
    status, body = healthz(client, "?check=database")
    assert (status, list(body["checks"])) == (200, ["database"])

    status, body = healthz(client, "?check=database,disk")
    assert status == 400
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"] == "Unknown check: disk."

    assert client.post("/healthz").status_code == 405

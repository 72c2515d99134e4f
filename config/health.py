"""`GET /healthz` (contract §9): whether this deployment can do its work right now.

Four checks, each cheap and bounded by a timeout: the database answers; the broker answers;
every kind of queue (`config.queues`) has a worker whose heartbeat (`config.heartbeat`) is
younger than `BACKORDER_HEALTH_WORKER_SECONDS`; beat's last run is younger than
`BACKORDER_HEALTH_BEAT_SECONDS`. 200 with `{"status": "ok", "checks": {...}}` when all hold,
503 with the same shape, `"status": "unavailable"`, and `"ok": false` on what does not.

`?check=database` (or several, comma-separated) runs only those: a load balancer asks whether
this web process can serve (`database`), a monitor asks about everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.api import error_body
from config.models import Heartbeat
from config.queues import KINDS, queue_name

Check = dict[str, Any]


def database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def broker() -> Check:
    url: str = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        timeout = settings.BACKORDER_REDIS_TIMEOUT_SECONDS
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return {"ok": True}
    # The filesystem broker of `make run`: its folders are the broker.
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folder = Path(options.get("data_folder_in", ""))
    return {"ok": folder.is_dir()}


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


def worker() -> Check:
    now = timezone.now()
    fresh = now.timestamp() - settings.BACKORDER_HEALTH_WORKER_SECONDS
    rows = list(Heartbeat.objects.filter(role=Heartbeat.Role.WORKER).values("queues", "seen_at"))
    alive = [row for row in rows if row["seen_at"].timestamp() >= fresh]
    served = {queue for row in alive for queue in row["queues"]}
    prefix = settings.BACKORDER_QUEUE_PREFIX
    unserved = [kind for kind in KINDS if queue_name(kind, prefix) not in served]
    latest = max((row["seen_at"] for row in rows), default=None)
    return {
        "ok": bool(alive) and not unserved,
        "alive": len(alive),
        "last_seen_seconds": _age(now, latest),
        "queues_without_worker": unserved,
    }


def beat() -> Check:
    now = timezone.now()
    latest = Heartbeat.objects.filter(role=Heartbeat.Role.BEAT).aggregate(at=Max("seen_at"))["at"]
    age = _age(now, latest)
    return {
        "ok": age is not None and age <= settings.BACKORDER_HEALTH_BEAT_SECONDS,
        "last_run_seconds": age,
    }


CHECKS: dict[str, Callable[[], Check]] = {
    "database": database,
    "broker": broker,
    "worker": worker,
    "beat": beat,
}


def _run(check: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        result = check()
    except (DatabaseError, redis.RedisError, OSError) as error:
        result = {"ok": False, "error": f"{type(error).__name__}: {error}".strip()[:300]}
        if isinstance(error, DatabaseError):
            # Do not keep a broken connection for the next request.
            connection.close_if_unusable_or_obsolete()
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    asked = request.GET.get("check", "")
    names = [name for name in asked.split(",") if name] or list(CHECKS)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        return JsonResponse(
            error_body(
                "invalid",
                f"Unknown check: {', '.join(unknown)}.",
                {"check": [f"One or more of: {', '.join(CHECKS)}."]},
            ),
            status=400,
        )
    checks = {name: _run(CHECKS[name]) for name in names}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )

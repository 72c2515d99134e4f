"""`GET /metrics`: the shop's figures in Prometheus' text format, for staff or a scraper.

Counted at scrape time from the database, so they are exact whichever process did the work:
orders placed, backordered lines and units waiting, emails pending and failed, live
workers per queue and beat's last run. Timed by the workers as they run: each task's
latency (queued to started) per queue, its duration per task, and the refreshes' duration,
kept as histograms in Redis (`BACKORDER_METRICS_*`); without Redis (`make run`) there are
no timings. A Redis that fails costs the workers nothing: recording stops for 30 s
(`config.cache.GuardedCache`).

Allowed for a staff session, or for `Authorization: Bearer <BACKORDER_METRICS_TOKEN>` when
that setting is set (a Prometheus scraper's `bearer_token`); anyone else gets a 401.
"""

from __future__ import annotations

import bisect
import hmac
import logging
import math
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from celery import signals
from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from config.cache import GuardedCache, RedisCache
from config.models import Heartbeat
from inventory.models import Product
from notifications.models import Notification
from orders.models import Order, OrderLine

logger = logging.getLogger(__name__)

# Upper bounds of the timing buckets, in seconds (the last is +Inf).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
SENT_AT = "backorder_sent_at"
REFRESH_TASKS = ("orders.tasks.refresh_product", "orders.tasks.refresh_products")
SERIES = "metrics:series"

_timings = GuardedCache(
    "default",
    stand_in=LocMemCache("metrics-stand-in", {}),
    logger=logger,
    falls_back="task timings are not recorded",
)


# Recording, in the workers --------------------------------------------------------------------


def observe(metric: str, label: str, seconds: float) -> None:
    """Count one observation of `seconds` in histogram `metric` for `label`."""
    _timings.apply(lambda cache: _observe(cache, metric, label, seconds))


def _observe(cache: BaseCache, metric: str, label: str, seconds: float) -> None:
    if not isinstance(cache, RedisCache):
        return
    series = f"{metric}|{label}"
    key = cache.make_and_validate_key(f"metrics:{series}")
    client = cache._cache.get_client(key, write=True)  # type: ignore[attr-defined]
    pipeline = client.pipeline(transaction=False)
    pipeline.hincrby(key, str(bisect.bisect_left(BUCKETS, seconds)), 1)
    pipeline.hincrbyfloat(key, "sum", seconds)
    pipeline.sadd(cache.make_and_validate_key(SERIES), series)
    pipeline.execute()


def _histograms(cache: BaseCache) -> dict[str, dict[str, tuple[list[int], float]]]:
    """metric -> label -> (count per bucket, sum), as recorded."""
    if not isinstance(cache, RedisCache):
        return {}
    series_key = cache.make_and_validate_key(SERIES)
    client = cache._cache.get_client(series_key)  # type: ignore[attr-defined]
    found: dict[str, dict[str, tuple[list[int], float]]] = {}
    names = sorted(name.decode() for name in client.smembers(series_key))
    pipeline = client.pipeline(transaction=False)
    for name in names:
        pipeline.hgetall(cache.make_and_validate_key(f"metrics:{name}"))
    for name, values in zip(names, pipeline.execute(), strict=True):
        metric, label = name.split("|", 1)
        counts = [0] * (len(BUCKETS) + 1)
        for field, value in values.items():
            if field != b"sum":
                counts[int(field)] = int(value)
        found.setdefault(metric, {})[label] = (counts, float(values.get(b"sum", 0)))
    return found


_started: dict[str, float] = {}


def _task_published(headers: dict[str, Any] | None = None, **_kwargs: Any) -> None:
    if headers is not None:
        headers[SENT_AT] = time.time()


def _task_started(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    now = time.time()
    _started[task_id] = time.perf_counter()
    sent_at = getattr(task.request, SENT_AT, None)
    if not isinstance(sent_at, int | float):
        return
    # A task sent for later (a retry's countdown) waits from when it was due.
    eta = task.request.eta
    due = sent_at
    if eta:
        due = max(sent_at, datetime.fromisoformat(eta).timestamp())
    queue = (task.request.delivery_info or {}).get("routing_key") or "unknown"
    observe("task_latency_seconds", queue, max(0.0, now - due))


def _task_finished(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    started = _started.pop(task_id, None)
    if started is None or task is None:
        return
    observe("task_duration_seconds", task.name, time.perf_counter() - started)


def connect() -> None:
    """Hook Celery's publish and run signals (`OperationsConfig.ready`)."""
    signals.before_task_publish.connect(_task_published, weak=False, dispatch_uid="metric-sent")
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="metric-start")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="metric-end")


# Exposition, in the web ------------------------------------------------------------------------


def _histogram(
    name: str, documentation: str, label: str, series: dict[str, tuple[list[int], float]]
) -> HistogramMetricFamily:
    """Recorded counts per bucket as Prometheus' cumulative buckets; `label` empty: one
    series, the sum of all recorded."""
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else [])
    if not label:
        counts = [sum(c[i] for c, _ in series.values()) for i in range(len(BUCKETS) + 1)]
        series = {"": (counts, sum(total for _, total in series.values()))}
    bounds = [*(str(b) for b in BUCKETS), "+Inf"]
    for value, (counts, total) in sorted(series.items()):
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric([value] if label else [], buckets, total)
    return family


class ShopCollector(Collector):
    """Every figure, read when Prometheus asks."""

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "backorder_orders_placed", "Orders placed, all time.", value=Order.objects.count()
        )
        waiting = Product.objects.aggregate(units=Sum("waiting_units"))["units"] or 0
        yield GaugeMetricFamily(
            "backorder_backordered_units", "Units ordered and waiting for stock.", value=waiting
        )
        yield GaugeMetricFamily(
            "backorder_backordered_lines",
            "Order lines with units waiting for stock.",
            value=OrderLine.objects.filter(backordered__gt=0).count(),
        )
        emails = GaugeMetricFamily(
            "backorder_emails", "Emails in the outbox, by status.", labels=["status"]
        )
        for status in (Notification.Status.PENDING, Notification.Status.FAILED):
            emails.add_metric([status], Notification.objects.filter(status=status).count())
        yield emails
        yield from self._processes()
        histograms = _timings.apply(_histograms)
        tasks = histograms.get("task_duration_seconds", {})
        yield _histogram(
            "backorder_task_latency_seconds",
            "Seconds from a task being queued (or due) to a worker starting it, per queue.",
            "queue",
            histograms.get("task_latency_seconds", {}),
        )
        yield _histogram(
            "backorder_task_duration_seconds", "Seconds a task ran, per task.", "task", tasks
        )
        yield _histogram(
            "backorder_refresh_duration_seconds",
            "Seconds a backorder-queue refresh (fill and ETAs) ran.",
            "",
            {name: tasks[name] for name in REFRESH_TASKS if name in tasks},
        )

    def _processes(self) -> Iterator[Any]:
        now = timezone.now()
        fresh = now.timestamp() - settings.BACKORDER_HEALTH_WORKER_SECONDS
        workers = GaugeMetricFamily(
            "backorder_workers_alive",
            "Workers with a fresh heartbeat, per queue.",
            labels=["queue"],
        )
        alive: dict[str, int] = {q.name: 0 for q in settings.CELERY_TASK_QUEUES}
        beat_seen: float | None = None
        for row in Heartbeat.objects.values("role", "queues", "seen_at"):
            if row["role"] == Heartbeat.Role.BEAT:
                beat_seen = max(beat_seen or 0.0, row["seen_at"].timestamp())
            elif row["seen_at"].timestamp() >= fresh:
                for queue in row["queues"]:
                    alive[queue] = alive.get(queue, 0) + 1
        for queue, count in sorted(alive.items()):
            workers.add_metric([queue], count)
        yield workers
        yield GaugeMetricFamily(
            "backorder_beat_last_run_age_seconds",
            "Seconds since beat last sent a task (+Inf: never).",
            value=math.inf if beat_seen is None else now.timestamp() - beat_seen,
        )


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token: str = settings.BACKORDER_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given, token)


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        response = HttpResponse("Staff login or the metrics token required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ShopCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

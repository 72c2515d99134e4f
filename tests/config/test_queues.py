"""`config.queues`: each kind of work has a queue of its own, so a flood of emails waits in
its queue while a worker serving reallocations runs them at once."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from config.celery import app
from config.queues import queue_name
from inventory.stock import stock_adjust
from notifications.models import Notification
from notifications.outbox import deliver_after_commit
from tests.helpers import place
from tests.worker import celery_worker, wait_until

pytestmark = pytest.mark.usefixtures("empty_queue")


def waiting(kind: str) -> int:
    """Tasks in this run's queue of `kind` (on Redis, a queue is a list of its name)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    return int(client.llen(queue_name(kind, settings.BACKORDER_QUEUE_PREFIX)))


@pytest.mark.django_db
def test_each_task_is_routed_to_the_queue_of_its_kind():
    route = app.amqp.router.route

    def queue_of(task: str) -> str:
        return route({}, task)["queue"].name

    prefix = settings.BACKORDER_QUEUE_PREFIX
    assert queue_of("orders.tasks.refresh_products") == f"{prefix}refresh"
    assert queue_of("orders.tasks.start_of_day") == f"{prefix}refresh"
    assert queue_of("notifications.tasks.deliver_notifications") == f"{prefix}email"
    assert queue_of("orders.tasks.send_status_link") == f"{prefix}email"
    assert queue_of("inventory.tasks.replenishment_nightly") == f"{prefix}replenishment"
    assert queue_of("tests.unrouted") == settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.mark.django_db(transaction=True)
def test_a_reallocation_runs_while_a_flood_of_emails_waits_in_its_own_queue(hoodie):
    # given: a worker serving the refresh queue only, a customer waiting for a hoodie, and
    # five hundred email deliveries queued before anything else
    with celery_worker(concurrency=1, kinds=("refresh",)):
        line = place((hoodie, 1)).lines.get()
        assert line.backordered == 1
        confirmation = Notification.objects.get().pk
        for _ in range(500):
            deliver_after_commit([confirmation])
        # (and the order confirmation's own)
        assert waiting("email") == 501

        # when: stock arrives
        stock_adjust(product=hoodie, quantity=1, reason="Found in the back")

        wait_until(lambda: _allocated(line), "the hoodie allocated")

    # then: the backorder was filled, and not one email was taken from their queue: the
    # refresh's own notice joined it behind them
    assert waiting("email") == 502
    assert waiting("refresh") == 0


def _allocated(line) -> bool:
    line.refresh_from_db()
    return line.allocated == 1

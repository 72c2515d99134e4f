"""Outbox delivery under faults: a real Celery worker, real Redis, a real SMTP server.

Every test runs the worker as a separate process against the committed test database, so
the outcomes asserted are those of production code paths: row locks, late acks, task
redelivery, retries with backoff and the sweep.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from config.celery import app
from inventory.models import Product
from notifications.models import Notification
from notifications.tasks import deliver_notifications, sweep_notifications
from orders.models import Order
from tests.helpers import place
from tests.smtp import Mailbox
from tests.worker import PrivateRedis, celery_worker, use_broker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# How long to keep watching for an email that should never come (a duplicate).
DUPLICATE_GRACE_SECONDS = 2


def _worker_env(mailbox: Mailbox, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "BACKORDER_EMAIL_SWEEP_AFTER_SECONDS": "0",
        **extra,
    }


def _confirmation(order: Order) -> Notification:
    return Notification.objects.get(order=order, kind=Notification.Kind.CONFIRMATION)


def _status(row: Notification) -> str:
    row.refresh_from_db()
    return row.status


def _wait_sent(row: Notification) -> None:
    """The SMTP server accepts the message a moment before the worker commits the row."""
    wait_until(lambda: _status(row) == Notification.Status.SENT, f"notification {row.pk} sent")


def _active_task_ids(node: str) -> set[str]:
    active = app.control.inspect(destination=[node], timeout=1).active() or {}
    return {task["id"] for task in active.get(node, [])}


@pytest.fixture
def worker(smtp: Mailbox, hoodie: Product) -> Iterator[str]:
    """A worker (two pool processes) sending to the test's SMTP server."""
    with celery_worker(concurrency=2, env=_worker_env(smtp)) as name:
        yield name


def test_the_same_send_task_delivered_twice_and_concurrently_sends_one_email(
    smtp: Mailbox, hoodie: Product
) -> None:
    # Given a placed order whose confirmation is pending (the worker starts after it and
    # purges the queue, so only the two deliveries below will run)
    order = place(("HOODIE-SE", 1), who="ayu")
    row = _confirmation(order)
    assert (row.status, row.attempts) == (Notification.Status.PENDING, 0)
    with celery_worker(concurrency=2, env=_worker_env(smtp)) as node:
        # and an SMTP server that stalls the first send at RCPT TO
        smtp.hold_rcpt = threading.Event()
        smtp.hold_rcpt.set()

        # When the same delivery task is queued twice and both run at once
        first = deliver_notifications.delay([row.pk])
        second = deliver_notifications.delay([row.pk])
        tasks = (first, second)
        assert smtp.holding.wait(60), "no delivery reached RCPT TO"
        wait_until(
            lambda: all(t.ready() or t.id in _active_task_ids(node) for t in tasks),
            "both deliveries running while the first holds the row",
        )
        time.sleep(1)  # let the second delivery get as far as it can while the first is held
        assert _status(row) == Notification.Status.PENDING
        smtp.release.set()
        results = sorted(t.get(timeout=60) for t in tasks)

        # Then exactly one email went out, and the row was sent once
        _wait_sent(row)
        time.sleep(DUPLICATE_GRACE_SECONDS)
    assert results == [[0, 0, 0], [1, 1, 0]]  # [notifications sent, emails sent, failed]
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.envelope_to == ["ayu@example.com"]
    assert order.number in message.subject
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Notification.Status.SENT, 1, "")
    assert row.message_id == message.message["Message-ID"]


# The broker stopped while an order is placed ------------------------------------------------


def _answers_ping(node: str) -> bool:
    try:
        return bool(app.control.ping(destination=[node], timeout=0.5))
    except Exception:  # a pooled connection to the killed server: start afresh
        use_broker(app.conf.broker_url)
        return False


def test_an_order_placed_while_the_broker_is_down_is_emailed_by_the_sweep_once_it_returns(
    smtp: Mailbox, hoodie: Product, private_broker: PrivateRedis
) -> None:
    # Given a worker whose broker is a Redis of this test's own
    env = _worker_env(smtp, REDIS_URL=private_broker.url)
    with celery_worker(concurrency=2, env=env) as node:
        # When the broker stops and an order is placed
        private_broker.kill()
        order = place(("HOODIE-SE", 1), who="budi")

        # Then the order commits with its confirmation owed, and nothing is sent yet
        assert Order.objects.filter(pk=order.pk).exists()
        row = _confirmation(order)
        assert (row.status, row.attempts) == (Notification.Status.PENDING, 0)
        assert smtp.messages == []

        # When the broker returns (empty: the delivery task was never queued) and the sweep runs
        private_broker.start()
        use_broker(private_broker.url)
        wait_until(lambda: _answers_ping(node), "the worker to reconnect to the broker")
        swept = sweep_notifications.delay().get(timeout=60)

        # Then the email arrives, once
        assert swept == 1
        smtp.wait_for(1)
        _wait_sent(row)
        time.sleep(DUPLICATE_GRACE_SECONDS)
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.envelope_to == ["budi@example.com"]
    assert order.number in message.subject
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Notification.Status.SENT, 1, "")


# A worker killed mid-send -------------------------------------------------------------------


def _pool_processes(node: str) -> list[int]:
    stats = app.control.inspect(destination=[node], timeout=5).stats() or {}
    return list(stats[node]["pool"]["processes"])


def test_a_worker_killed_mid_send_redelivers_the_email_once(smtp: Mailbox, worker: str) -> None:
    # Given an SMTP server that stalls every send at RCPT TO
    smtp.hold_rcpt = threading.Event()
    smtp.hold_rcpt.set()
    children = _pool_processes(worker)
    assert len(children) == 2

    # When an order is placed and the worker's pool processes are killed mid-send
    order = place(("HOODIE-SE", 1), who="claire")
    row = _confirmation(order)
    assert smtp.holding.wait(60), "the delivery never reached RCPT TO"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    smtp.hold_rcpt.clear()
    smtp.release.set()

    # Then the task is redelivered and the email arrives exactly once
    smtp.wait_for(1)
    _wait_sent(row)
    time.sleep(DUPLICATE_GRACE_SECONDS)
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.envelope_to == ["claire@example.com"]
    assert order.number in message.subject
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Notification.Status.SENT, 1, "")
    assert set(_pool_processes(worker)).isdisjoint(children)


# SMTP refuses, then recovers ----------------------------------------------------------------


def test_smtp_refusing_then_recovering_delivers_the_email_once(smtp: Mailbox, worker: str) -> None:
    # Given an SMTP server that answers the next two messages with 451
    smtp.refuse = 2

    # When an order is placed
    order = place(("HOODIE-SE", 1), who="dewi")
    row = _confirmation(order)

    # Then the worker retries with backoff and the email arrives once
    smtp.wait_for(1)
    _wait_sent(row)
    time.sleep(DUPLICATE_GRACE_SECONDS)
    assert len(smtp.messages) == 1
    assert smtp.refused == 2
    assert smtp.messages[0].envelope_to == ["dewi@example.com"]
    assert order.number in smtp.messages[0].subject
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Notification.Status.SENT, 3, "")


def test_queueing_many_deliveries_with_the_broker_down_gives_up_at_the_first_failure(
    private_broker: PrivateRedis, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a stopped broker and five batches' worth of notifications to queue
    from config.batching import send
    from notifications.outbox import delivery_request

    settings.BACKORDER_EMAIL_BATCH_SIZE = 100
    private_broker.kill()

    # When
    with caplog.at_level("ERROR", logger="config.batching"):
        send({delivery_request(): set(range(1, 501))})

    # Then one failure is logged for all 500, and the rest is left to the sweep
    assert [r.getMessage() for r in caplog.records if r.name == "config.batching"] == [
        "Could not queue delivery of 500 notification(s); the sweep will send them"
    ]

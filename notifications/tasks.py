"""Celery tasks that deliver the outbox: thin shells over `notifications.delivery`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from config.celery import RETRY_ON_DATABASE_ERRORS
from notifications import delivery

logger = logging.getLogger(__name__)


# The rows count their own attempts (BACKORDER_EMAIL_MAX_ATTEMPTS), so the task retries
# without a limit of its own; it is acknowledged only once it has run, so a worker killed
# mid-send hands it to another.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    **{**RETRY_ON_DATABASE_ERRORS, "max_retries": None},
)
def deliver_notifications(self: Task[Any, Any], notification_ids: list[int]) -> list[int]:
    """Send the given outbox rows (and any other due rows of the same orders).

    Safe to run twice or concurrently: rows are locked while sent and marked sent with the
    send. SMTP and connection errors are retried with backoff and jitter until the rows
    run out of attempts. Returns [notifications sent, emails sent, failed].
    """
    report = delivery.notifications_deliver(ids=notification_ids)
    if report.emails:
        logger.info("Sent %s email(s) for %s notification(s)", report.emails, report.sent)
    if report.retry_in is not None:
        raise self.retry(countdown=report.retry_in)
    return [report.sent, report.emails, report.failed]


@shared_task
def sweep_notifications() -> int:
    """Deliver rows still pending a while after they were written: their after-commit task
    was lost (broker down, worker gone) or their retry is due."""
    older_than = timedelta(seconds=settings.BACKORDER_EMAIL_SWEEP_AFTER_SECONDS)
    ids = delivery.notifications_due(older_than=older_than)
    batch = settings.BACKORDER_EMAIL_BATCH_SIZE
    for start in range(0, len(ids), batch):
        deliver_notifications.delay(ids[start : start + batch])
    return len(ids)

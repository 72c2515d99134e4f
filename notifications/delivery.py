"""Delivery of the outbox: rows become emails over one SMTP connection per batch.

Delivery locks the pending rows of one order (`inventory.locks.lock_pending_notifications`),
renders them as one email (`notifications.emails`), sends it and marks the rows sent in the
same transaction, so two deliveries of the same rows never both send. A transient SMTP or
network error schedules another attempt with exponential backoff; a permanent refusal, or
the last attempt, marks the rows failed with the error kept for staff.
"""

from __future__ import annotations

import logging
import random
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.locks import lock_failed_notifications, lock_pending_notifications
from notifications.emails import build_email
from notifications.models import Notification
from notifications.outbox import deliver_after_commit

logger = logging.getLogger(__name__)

# Errors worth another attempt: the server or the network, not the message.
TRANSIENT_ERRORS = (smtplib.SMTPException, OSError)


@dataclass
class Delivery:
    sent: int = 0
    emails: int = 0
    failed: int = 0
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempts-1)."""
    ceiling = min(
        settings.BACKORDER_EMAIL_RETRY_MAX_SECONDS,
        settings.BACKORDER_EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0),
    )
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


def _permanent(error: Exception) -> bool:
    """A refusal retrying cannot cure: the recipient or the message rejected with 5xx."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def _recipients(ids: Sequence[int]) -> list[dict[str, int]]:
    """Who the pending rows among `ids` go to, in a stable order: one email per order and per
    alert; each row to a supplier or to staff is an email of its own."""
    rows = (
        Notification.objects.filter(pk__in=ids, status=Notification.Status.PENDING)
        .values_list("order_id", "alert_id", "pk")
        .order_by("order_id", "alert_id", "pk")
    )
    recipients: list[dict[str, int]] = []
    for order_id, alert_id, pk in rows:
        if order_id is not None:
            recipient = {"order_id": order_id}
        elif alert_id is not None:
            recipient = {"alert_id": alert_id}
        else:
            recipient = {"pk": pk}
        if not recipients or recipients[-1] != recipient:
            recipients.append(recipient)
    return recipients


def notifications_deliver(*, ids: Sequence[int], now: datetime | None = None) -> Delivery:
    """Send the due pending notifications among `ids`, with every other due pending row of
    the same orders: one email per order. One SMTP connection serves the whole batch.

    Each email is sent under the lock of its rows and they are marked sent in the same
    transaction, so concurrent or repeated deliveries never send a row twice. A transient
    SMTP or network error schedules another attempt with backoff (`retry_in`); a permanent
    refusal, or running out of attempts, marks the rows failed with the error kept.
    """
    now = now or timezone.now()
    report = Delivery()
    backend = get_connection(fail_silently=False)
    is_open = False
    try:
        for recipient in _recipients(ids):
            with transaction.atomic():
                rows = list(
                    lock_pending_notifications(**recipient).filter(next_attempt_at__lte=now)
                )
                if not rows:
                    continue
                try:
                    message = build_email(rows)
                except Exception as error:
                    # A message that cannot be rendered never will be: staff must look.
                    logger.exception("Cannot render notification(s) %s", [r.pk for r in rows])
                    _give_up(rows, f"{type(error).__name__}: {error}", attempts=rows[0].attempts)
                    report.failed += len(rows)
                    continue
                try:
                    if not is_open:
                        backend.open()
                        is_open = True
                    backend.send_messages([message])
                except TRANSIENT_ERRORS as error:
                    backend.close()
                    is_open = False
                    retry = _attempt_failed(rows, error, now=now)
                    report.failed += sum(row.status == Notification.Status.FAILED for row in rows)
                    if retry is not None:
                        # The server or network is down: the rest of the batch waits too.
                        report.retry_in = retry
                        break
                    continue
                Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
                    status=Notification.Status.SENT,
                    sent_at=timezone.now(),
                    attempts=F("attempts") + 1,
                    message_id=message.extra_headers["Message-ID"],
                    last_error="",
                )
                report.sent += len(rows)
                report.emails += 1
                order = rows[0].order
                logger.info(
                    "Email %s sent for notification(s) %s",
                    message.extra_headers["Message-ID"],
                    [row.pk for row in rows],
                    extra={"order": order.number} if order is not None else {},
                )
    finally:
        if is_open:
            backend.close()
    return report


def _attempt_failed(rows: list[Notification], error: Exception, *, now: datetime) -> float | None:
    """Record a failed attempt on `rows`; return seconds until the next one, or None if the
    rows failed for good."""
    attempts = max(row.attempts for row in rows) + 1
    text = f"{type(error).__name__}: {error}"[:2000]
    if _permanent(error) or attempts >= settings.BACKORDER_EMAIL_MAX_ATTEMPTS:
        _give_up(rows, text, attempts=attempts)
        return None
    wait = backoff_seconds(attempts)
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
        attempts=attempts, last_error=text, next_attempt_at=now + timedelta(seconds=wait)
    )
    logger.info("Notification(s) %s: attempt %s failed (%s)", [r.pk for r in rows], attempts, text)
    return wait


def _give_up(rows: list[Notification], error: str, *, attempts: int) -> None:
    for row in rows:
        row.status = Notification.Status.FAILED
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=Notification.Status.FAILED, attempts=attempts, last_error=error[:2000]
    )
    logger.warning(
        "Gave up on notification(s) %s after %s attempt(s): %s",
        [row.pk for row in rows],
        attempts,
        error,
    )


def notifications_due(*, older_than: timedelta, now: datetime | None = None) -> list[int]:
    """Pending rows due for an attempt and written more than `older_than` ago: those the
    after-commit task should have sent by now."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            status=Notification.Status.PENDING,
            next_attempt_at__lte=now,
            created_at__lte=now - older_than,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def notifications_resend(*, ids: Sequence[int]) -> int:
    """Put failed notifications back in the outbox for a fresh round of attempts."""
    resent = lock_failed_notifications(ids)
    Notification.objects.filter(pk__in=resent).update(
        status=Notification.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    deliver_after_commit(resent)
    return len(resent)

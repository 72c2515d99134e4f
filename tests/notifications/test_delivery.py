"""Delivering the outbox: retries, failures, resends and concurrent senders, over real SMTP."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from notifications.delivery import (
    backoff_seconds,
    notifications_deliver,
    notifications_due,
    notifications_resend,
)
from notifications.models import Notification
from tests.helpers import free_port, place

pytestmark = pytest.mark.django_db
Status = Notification.Status


def ids() -> list[int]:
    return list(Notification.objects.values_list("pk", flat=True))


def test_one_smtp_connection_serves_a_batch(smtp, hoodie):
    # given: three customers' confirmations
    for who in ("a", "b", "c"):
        place(("HOODIE-SE", 1), who=who)
    place(("HOODIE-SE", 1), who="d")
    first_three = ids()[:3]

    # when: one delivery for three, another for the last
    notifications_deliver(ids=first_three)
    after_batch = len(smtp.sessions)
    notifications_deliver(ids=ids())

    # then
    assert len(smtp.messages) == 4
    assert (after_batch, len(smtp.sessions)) == (1, 2)


def test_a_temporary_refusal_is_retried_later_and_sent_once(smtp, hoodie):
    # given: the server answers the first attempt with 451
    order = place(("HOODIE-SE", 1), who="ana")
    smtp.refuse = 1

    # when
    first = notifications_deliver(ids=ids())
    row = Notification.objects.get()
    too_soon = notifications_deliver(ids=ids())
    second = notifications_deliver(ids=ids(), now=row.next_attempt_at)

    # then
    assert (first.sent, first.failed) == (0, 0)
    assert first.retry_in is not None and first.retry_in > 0
    assert row.status == Status.PENDING
    assert row.attempts == 1
    assert row.last_error.startswith("SMTPDataError: (451")
    assert row.next_attempt_at > row.created_at
    assert (too_soon.sent, too_soon.retry_in) == (0, None)
    assert (second.sent, second.emails) == (1, 1)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert [m.envelope_to for m in smtp.messages] == [[order.email]]


def test_a_permanent_refusal_fails_at_once_and_keeps_the_error(smtp, hoodie):
    # given
    place(("HOODIE-SE", 1), who="ana")
    smtp.reject = 1

    # when
    report = notifications_deliver(ids=ids())

    # then
    row = Notification.objects.get()
    assert (report.sent, report.failed, report.retry_in) == (0, 1, None)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "550" in row.last_error
    assert smtp.messages == []


def test_attempts_are_bounded(smtp, hoodie, settings):
    # given
    settings.BACKORDER_EMAIL_MAX_ATTEMPTS = 3
    place(("HOODIE-SE", 1), who="ana")
    smtp.refuse = 10

    # when: each attempt once it is due
    reports = []
    for _ in range(4):
        due = Notification.objects.get().next_attempt_at
        reports.append(notifications_deliver(ids=ids(), now=due))

    # then
    row = Notification.objects.get()
    assert [r.retry_in is not None for r in reports] == [True, True, False, False]
    assert (row.status, row.attempts, smtp.refused) == (Status.FAILED, 3, 3)
    assert row.last_error.startswith("SMTPDataError: (451")


def test_an_unreachable_server_is_a_retry_for_the_whole_batch(settings, hoodie):
    # given: nothing listens on the port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    place(("HOODIE-SE", 1), who="a")
    place(("HOODIE-SE", 1), who="b")

    # when
    report = notifications_deliver(ids=ids())

    # then: the first order's attempt is recorded; the second waits for the retry untouched
    attempts = sorted(Notification.objects.values_list("attempts", flat=True))
    assert report.retry_in is not None
    assert attempts == [0, 1]
    assert "ConnectionRefusedError" in Notification.objects.get(attempts=1).last_error


def test_staff_can_resend_a_failed_email(smtp, hoodie, django_capture_on_commit_callbacks):
    # given
    place(("HOODIE-SE", 1), who="ana")
    smtp.reject = 1
    notifications_deliver(ids=ids())

    # when
    resent = notifications_resend(ids=ids())
    report = notifications_deliver(ids=ids())

    # then
    row = Notification.objects.get()
    assert resent == 1
    assert (report.sent, row.status, row.attempts, row.last_error) == (1, Status.SENT, 1, "")
    assert len(smtp.messages) == 1
    assert notifications_resend(ids=ids()) == 0  # a sent email is never resent


def test_the_backoff_grows_with_jitter(settings):
    settings.BACKORDER_EMAIL_RETRY_BASE_SECONDS = 30
    settings.BACKORDER_EMAIL_RETRY_MAX_SECONDS = 3600
    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (20, 3600)]:
        waits = {backoff_seconds(attempts) for _ in range(50)}
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert len(waits) > 1


def test_the_sweep_finds_pending_rows_only_once_their_task_had_its_chance(hoodie):
    # given
    place(("HOODIE-SE", 1), who="ana")
    row = Notification.objects.get()
    later = row.created_at + timedelta(seconds=61)

    # then
    assert notifications_due(older_than=timedelta(seconds=60), now=row.created_at) == []
    assert notifications_due(older_than=timedelta(seconds=60), now=later) == [row.pk]
    Notification.objects.update(status=Status.SENT)
    assert notifications_due(older_than=timedelta(seconds=60), now=later) == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_send_one_email(smtp, hoodie):
    # given: the server stalls the first sender mid-conversation
    place(("HOODIE-SE", 1), who="ana")
    smtp.hold_rcpt = threading.Event()
    smtp.hold_rcpt.set()
    reports = []

    def deliver() -> None:
        try:
            reports.append(notifications_deliver(ids=ids()))
        finally:
            connection.close()

    # when: a second delivery of the same rows runs while the first holds them
    first = threading.Thread(target=deliver)
    first.start()
    assert smtp.holding.wait(30)
    second = threading.Thread(target=deliver)
    second.start()
    second.join(30)
    smtp.hold_rcpt.clear()
    smtp.release.set()
    first.join(30)

    # then
    assert sorted(r.sent for r in reports) == [0, 1]
    assert len(smtp.messages) == 1
    row = Notification.objects.get()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert row.sent_at is not None and row.sent_at <= timezone.now()


def test_a_message_that_cannot_be_rendered_fails_with_the_error(smtp, hoodie):
    # given: a row naming a kind no template knows
    place(("HOODIE-SE", 1), who="ana")
    Notification.objects.update(data={"lines": "not a list"}, kind="shipped")

    # when
    report = notifications_deliver(ids=ids())

    # then
    row = Notification.objects.get()
    assert (report.failed, row.status) == (1, Status.FAILED)
    assert row.last_error.startswith("TypeError")
    assert smtp.messages == []

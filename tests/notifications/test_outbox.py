"""The outbox: the Notification rows a fact owes, written once."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Notification
from notifications.outbox import confirmation_notice
from tests.helpers import place

pytestmark = pytest.mark.django_db
Status = Notification.Status


def test_outbox_rows_are_written_with_the_model_defaults(hoodie):
    # given / when
    before = timezone.now()
    order = place(("HOODIE-SE", 1), who="ana")
    after = timezone.now()

    # then
    row = Notification.objects.get()
    assert (row.kind, row.order_id, row.alert_id, row.to, row.locale) == (
        "confirmation",
        order.pk,
        None,
        "ana@example.com",
        "en",
    )
    assert row.key == f"confirmation:{order.pk}"
    assert row.data == {"lines": [{"id": order.lines.get().pk, "eta": row.data["lines"][0]["eta"]}]}
    assert (row.status, row.attempts, row.last_error, row.message_id, row.sent_at) == (
        Status.PENDING,
        0,
        "",
        "",
        None,
    )
    assert before <= row.created_at <= after
    assert before <= row.next_attempt_at <= after  # due at once


def test_the_same_fact_cannot_be_owed_twice(hoodie):
    order = place(("HOODIE-SE", 1), who="ana")
    with pytest.raises(IntegrityError), transaction.atomic():
        confirmation_notice(order=order, lines=list(order.lines.all()))
    assert Notification.objects.count() == 1

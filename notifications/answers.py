"""Answers to delay notices: the customer keeps waiting, or cancels what is backordered.

A delay email links each late line to a page where the customer answers with a POST, so a
mail scanner following the link changes nothing. "Cancel" goes through
`orders.services.order_line_cancel`, like a cancellation on the status page.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from inventory.exceptions import ValidationFailed
from inventory.locks import lock_delay_answer
from notifications import outbox
from notifications.models import DelayAnswer, Notification
from orders.lifecycle import recorded_actor
from orders.models import OrderEvent, OrderLine
from orders.services import order_line_cancel


def delay_answer(
    *, notification: Notification, line: OrderLine, answer: str, actor: Any = None
) -> DelayAnswer:
    """Record the customer's answer to a delay notice for one line.

    "cancel" cancels every backordered unit of the line through `order_line_cancel` (which
    takes the product lock and tells the customer by email); "keep" records consent to wait.
    An answer may move from keep to cancel, never back.
    """
    if answer not in DelayAnswer.Answer.values:
        raise ValidationFailed("Answer keep or cancel.", fields={"answer": "invalid"})
    with transaction.atomic():
        previous = lock_delay_answer(notification, line)
        if previous is not None and (
            previous.answer == DelayAnswer.Answer.CANCEL or answer == previous.answer
        ):
            return previous
        quantity = 0
        if answer == DelayAnswer.Answer.KEEP:
            event = OrderEvent.objects.create(
                order_id=line.order_id,
                line=line,
                kind=OrderEvent.Kind.KEPT_WAITING,
                actor=recorded_actor(actor),
            )
            outbox.kept_notice(order=line.order, line=line, event_id=event.pk)
        if answer == DelayAnswer.Answer.CANCEL:
            outbox.kept_notices_drop(line)
            cancelled = order_line_cancel(
                line_id=line.pk,
                by_customer=True,
                reason="Cancelled by the customer after a delay notice",
                actor=actor,
            )
            quantity = cancelled.cancelled - line.cancelled
        recorded, _ = DelayAnswer.objects.update_or_create(
            notification=notification,
            line=line,
            defaults={"answer": answer, "quantity": quantity, "created_at": timezone.now()},
        )
        return recorded


def delay_lines(notification: Notification) -> list[int]:
    """The order lines a delay notice was about."""
    if notification.kind != Notification.Kind.DELAY:
        return []
    return [entry["id"] for entry in notification.data.get("lines", [])]

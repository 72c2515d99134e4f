"""Order tasks: periodic upkeep, and emailing a status link a customer asked for."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from notifications.services import status_link_notice
from orders.models import IdempotencyKey, Order

# How long a client may retry an order placement with the same Idempotency-Key.
IDEMPOTENCY_KEY_DAYS = 7


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than a week: a retry after that places a new order."""
    cutoff = timezone.now() - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def send_status_link(number: str, email: str) -> None:
    """Email order `number` its status link if it was placed with `email` (compared trimmed
    and case-insensitively); otherwise do nothing.

    The link goes to the order's own address, never to the one asked with. The result is not
    stored, since it would tell whether the pair matched. Each run that matches sends one more
    link: the lookup page's rate limits bound how many.
    """
    with transaction.atomic():
        order = Order.objects.filter(number=number, email__iexact=email.strip()).first()
        if order is not None:
            status_link_notice(order=order)

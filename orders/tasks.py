"""Periodic upkeep of orders."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from orders.models import IdempotencyKey

# How long a client may retry an order placement with the same Idempotency-Key.
IDEMPOTENCY_KEY_DAYS = 7


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than a week: a retry after that places a new order."""
    cutoff = timezone.now() - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

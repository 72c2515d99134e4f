"""Celery tasks: thin, idempotent shells over the services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from inventory import services
from orders.models import EtaChange

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def refresh_product(
    product_id: int, cause: str = EtaChange.Cause.STOCK_CHANGED, detail: str = ""
) -> list[int]:
    """Release due pre-orders, fill backorders from free stock, recompute ETAs.

    Safe to run any number of times: a product already up to date is left unchanged.
    Returns [units allocated, ETAs moved].
    """
    allocated, moved = services.product_refresh(product_id=product_id, cause=cause, detail=detail)
    if allocated or moved:
        logger.info(
            "Product %s: allocated %s backordered unit(s), moved %s ETA(s) (%s)",
            product_id,
            allocated,
            moved,
            cause,
        )
    return [allocated, moved]


@shared_task
def reallocate_all_products() -> int:
    """Refresh every product whose free stock could fill a backorder or whose pre-orders are
    due: a safety net for a refresh lost after a stock change."""
    today = timezone.localdate()
    product_ids = set(services.products_with_fillable_backorders())
    due = {
        product_id
        for product_id, cause in services.products_to_refresh(today).items()
        if cause == EtaChange.Cause.RELEASED
    }
    for product_id in sorted(product_ids - due):
        refresh_product.delay(product_id, EtaChange.Cause.STOCK_CHANGED)
    for product_id in sorted(due):
        refresh_product.delay(product_id, EtaChange.Cause.RELEASED)
    return len(product_ids | due)


@shared_task
def start_of_day() -> int:
    """Today moved: release pre-orders due and recompute every waiting line's ETA."""
    causes = services.products_to_refresh(timezone.localdate())
    for product_id, cause in sorted(causes.items()):
        refresh_product.delay(product_id, cause)
    return len(causes)

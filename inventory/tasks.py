"""Celery tasks: thin, idempotent shells over the services."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from inventory import services
from notifications.services import delivery_batch
from orders.models import EtaChange

# Products one refresh task takes: their customers' notices go out together.
REFRESH_CHUNK = 50

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


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def refresh_products(
    product_ids: list[int], cause: str = EtaChange.Cause.STOCK_CHANGED, detail: str = ""
) -> list[int]:
    """`refresh_product` for several products, each in its own transaction, with their
    customer notices delivered together at the end: one email per order for the run."""
    allocated = moved = 0
    with delivery_batch():
        for product_id in product_ids:
            units, etas = refresh_product(product_id, cause, detail)
            allocated += units
            moved += etas
    return [allocated, moved]


def _refresh_in_chunks(causes: Mapping[int, str]) -> None:
    by_cause: dict[str, list[int]] = {}
    for product_id, cause in sorted(causes.items()):
        by_cause.setdefault(cause, []).append(product_id)
    for cause, product_ids in sorted(by_cause.items()):
        for start in range(0, len(product_ids), REFRESH_CHUNK):
            refresh_products.delay(product_ids[start : start + REFRESH_CHUNK], cause)


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
    causes = {product_id: EtaChange.Cause.STOCK_CHANGED for product_id in product_ids - due}
    causes.update((product_id, EtaChange.Cause.RELEASED) for product_id in due)
    _refresh_in_chunks(causes)
    return len(causes)


@shared_task
def start_of_day() -> int:
    """Today moved: release pre-orders due and recompute every waiting line's ETA."""
    causes = services.products_to_refresh(timezone.localdate())
    _refresh_in_chunks(causes)
    return len(causes)

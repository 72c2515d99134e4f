"""Celery tasks: thin, idempotent shells that take ids and call one service each.

The backorder queue (`orders.queue`) runs here after every supply change and each morning;
upkeep and the status-link email too. Which products need a run is the selectors' answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from config.batching import gathered
from config.celery import RETRY_ON_DATABASE_ERRORS
from inventory.refresh import unsent_refreshes_send
from inventory.selectors import skus_of
from notifications.outbox import status_link_notice
from orders import queue, selectors
from orders.models import EtaChange, IdempotencyKey, Order

# Products one refresh task takes: their customers' notices go out together.
REFRESH_CHUNK = 50
# How long a client may retry an order placement with the same Idempotency-Key.
IDEMPOTENCY_KEY_DAYS = 7

logger = logging.getLogger(__name__)


@shared_task(**RETRY_ON_DATABASE_ERRORS)
def refresh_product(
    product_id: int, cause: str = EtaChange.Cause.STOCK_CHANGED, detail: str = ""
) -> list[int]:
    """Release due pre-orders, fill backorders from free stock, recompute ETAs.

    Safe to run any number of times: a product already up to date is left unchanged.
    Returns [units allocated, ETAs moved].
    """
    allocated, moved = queue.product_refresh(product_id=product_id, cause=cause, detail=detail)
    if allocated or moved:
        skus = skus_of([product_id])
        logger.info(
            "%s: allocated %s backordered unit(s), moved %s ETA(s) (%s)",
            ", ".join(skus),
            allocated,
            moved,
            cause,
            extra={"skus": skus, "allocated": allocated, "etas_moved": moved},
        )
    return [allocated, moved]


@shared_task(**RETRY_ON_DATABASE_ERRORS)
def refresh_products(
    product_ids: list[int], cause: str = EtaChange.Cause.STOCK_CHANGED, detail: str = ""
) -> list[int]:
    """`refresh_product` for several products at once (`queue.products_refresh`: one
    transaction, a fixed number of statements), with their customer notices delivered
    together: one email per order for the run."""
    with gathered():
        allocated, moved = queue.products_refresh(
            product_ids=product_ids, cause=cause, detail=detail
        )
    if allocated or moved:
        skus = skus_of(product_ids)
        logger.info(
            "%s product(s): allocated %s backordered unit(s), moved %s ETA(s) (%s)",
            len(product_ids),
            allocated,
            moved,
            cause,
            extra={"skus": skus, "allocated": allocated, "etas_moved": moved},
        )
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
    causes = selectors.products_to_reallocate(timezone.localdate())
    _refresh_in_chunks(causes)
    return len(causes)


@shared_task(**RETRY_ON_DATABASE_ERRORS)
def refresh_unsent_products() -> int:
    """Ask again for the product refreshes the broker could not take after their commit (it
    was down): run by the beat every minute, so they run within a minute of its return rather
    than at the safety net's next pass."""
    return unsent_refreshes_send()


@shared_task
def start_of_day() -> int:
    """Today moved: release pre-orders due and recompute every waiting line's ETA."""
    causes = selectors.products_to_refresh(timezone.localdate())
    _refresh_in_chunks(causes)
    return len(causes)


@shared_task
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than a week: a retry after that places a new order."""
    cutoff = timezone.now() - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
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

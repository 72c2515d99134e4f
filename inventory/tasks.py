"""Celery tasks: thin, idempotent shells over the services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from inventory import services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def reallocate_product(product_id: int) -> int:
    """Fill the product's backorders from free stock; safe to run any number of times."""
    allocated = services.product_reallocate(product_id=product_id)
    if allocated:
        logger.info("Allocated %s backordered unit(s) of product %s", allocated, product_id)
    return allocated


@shared_task
def reallocate_all_products() -> int:
    """Enqueue a reallocation for every product whose free stock could fill a backorder."""
    product_ids = services.products_with_fillable_backorders()
    for product_id in product_ids:
        reallocate_product.delay(product_id)
    return len(product_ids)

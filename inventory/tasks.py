"""Celery tasks of replenishment and the stock verification: thin shells that call
`inventory.replenishment` and `inventory.verification`."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from config.celery import RETRY_ON_DATABASE_ERRORS
from inventory import replenishment, verification

logger = logging.getLogger(__name__)

# A night's forecasts for a large catalogue take longer than the default task limit.
NIGHTLY_TIME_LIMIT = 3 * 3600


@shared_task(
    **RETRY_ON_DATABASE_ERRORS,
    time_limit=NIGHTLY_TIME_LIMIT,
    soft_time_limit=NIGHTLY_TIME_LIMIT - 300,
)
def replenishment_nightly() -> dict[str, Any]:
    """Forecast every product, then (opt-in) draft and auto-place purchase orders. Running
    it twice drafts nothing new: a drafted need is covered."""
    summary = replenishment.nightly_run().summary()
    logger.info("Nightly replenishment: %s", summary)
    return summary


@shared_task(**RETRY_ON_DATABASE_ERRORS)
def spikes_check() -> list[int]:
    """Alert purchasing staff of demand running well above the forecast, once per window."""
    alerts = replenishment.spikes_check()
    if alerts:
        logger.info("Demand spikes: %s", [(a.product_id, a.observed) for a in alerts])
    return [alert.pk for alert in alerts]


# Walking a large ledger takes longer than the default task limit.
VERIFY_TIME_LIMIT = 3600


@shared_task(
    **RETRY_ON_DATABASE_ERRORS,
    time_limit=VERIFY_TIME_LIMIT,
    soft_time_limit=VERIFY_TIME_LIMIT - 300,
)
def stock_verify() -> int:
    """Check the ledger's chains and every counter; repair what the ledger proves, report
    the rest to staff. Returns the run's id."""
    return verification.stock_verify().pk

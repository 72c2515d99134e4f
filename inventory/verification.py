"""The stock verification, each night (`inventory.tasks.stock_verify`) or on demand
(`manage.py verify_stock --repair`): the ledger's chains, then every counter against what it
counts from.

What the ledger proves is repaired: a stock row's `on_hand` or `allocated` that differs
from the replay of its movements, when that row's chain holds (the movements are then the
record, and the counter is the copy); and a product's `waiting_units` that differs from what
its lines have backordered. What it cannot explain is reported and left alone: a broken
chain (and every counter of that row), allocation rows that disagree with their stock row or
order line, a repair the database refuses. Each product is re-checked and repaired under
its lock, so a sale in the meantime is never undone. Every run is kept
(`StockVerification`: admin → Stock verifications, with the root digest over every chain's
head); a run that found anything is emailed to the staff who adjust stock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from config.roles import STOCK_PERMISSION, staff_emails
from inventory import ledger
from inventory.chain import ledger_root
from inventory.locks import lock_products, lock_stocks
from inventory.models import StockVerification
from inventory.selectors import (
    ALLOCATED_VS_LEDGER,
    ON_HAND_VS_LEDGER,
    WAITING_VS_LINES,
    Drift,
    chain_breaks,
    stock_drift,
)
from notifications import outbox

logger = logging.getLogger(__name__)

PROVABLE = (ON_HAND_VS_LEDGER, ALLOCATED_VS_LEDGER, WAITING_VS_LINES)


def _entry(drift: Drift, *, repaired: bool, why: str) -> dict[str, object]:
    return {
        "what": drift.what,
        "expected": drift.expected,
        "found": drift.actual,
        "repaired": repaired,
        "why": why,
    }


def _product_repair(product_id: int, broken: set[int]) -> list[dict[str, object]]:
    """Re-check one product under its lock and repair what its ledger proves."""
    entries = []
    with transaction.atomic():
        lock_products([product_id])
        stocks = {stock.pk: stock for stock in lock_stocks([product_id])}
        drift = stock_drift([product_id])
        fixes: dict[int, dict[str, int]] = defaultdict(dict)
        for found in drift:
            if found.check == WAITING_VS_LINES:
                continue
            if found.check in (ON_HAND_VS_LEDGER, ALLOCATED_VS_LEDGER):
                if found.stock_id in broken:
                    continue
                field = "on_hand" if found.check == ON_HAND_VS_LEDGER else "allocated"
                fixes[found.stock_id or 0][field] = found.expected
        refused: set[int] = set()
        for stock_id, values in fixes.items():
            stock = stocks[stock_id]
            try:
                with transaction.atomic():
                    ledger.counters_restore(
                        stock,
                        on_hand=values.get("on_hand", stock.on_hand),
                        allocated=values.get("allocated", stock.allocated),
                    )
            except DatabaseError:
                # The ledger's own figures break a rule (more allocated than on hand).
                refused.add(stock_id)
        waiting = {
            d.product_id: d.expected - d.actual for d in drift if d.check == WAITING_VS_LINES
        }
        ledger.waiting_change({pk: units for pk, units in waiting.items() if pk is not None})
    for found in drift:
        if found.check not in PROVABLE:
            entries.append(_entry(found, repaired=False, why="not explained by the ledger"))
        elif found.stock_id in broken:
            entries.append(_entry(found, repaired=False, why="its ledger chain is broken"))
        elif found.stock_id in refused:
            entries.append(
                _entry(found, repaired=False, why="the ledger's figures break a stock rule")
            )
        else:
            why = (
                "recounted from the order lines"
                if found.check == WAITING_VS_LINES
                else "set to the ledger's replay"
            )
            entries.append(_entry(found, repaired=True, why=why))
    return entries


def stock_verify(*, repair: bool = True, now: datetime | None = None) -> StockVerification:
    """Check the chains and the counters, repair what the ledger proves (unless `repair`
    is false), and keep (and, if anything was found, email) the report."""
    run = StockVerification(started_at=now or timezone.now())
    breaks, run.movements, heads = chain_breaks()
    broken = {b.stock_id for b in breaks}
    run.broken_links = [{"stock": b.label, "movement": b.movement_id, "why": b.why} for b in breaks]
    run.root = ledger_root(heads.items())
    found = stock_drift()
    if repair:
        for product_id in sorted({d.product_id for d in found if d.product_id is not None}):
            run.drift.extend(_product_repair(product_id, broken))
    else:
        run.drift = [_entry(d, repaired=False, why="not repaired (a check only)") for d in found]
    run.repaired = sum(1 for entry in run.drift if entry["repaired"])
    run.unexplained = len(run.drift) - run.repaired + len(run.broken_links)
    run.finished_at = timezone.now()
    with transaction.atomic():
        run.save()
        if not run.is_clean:
            outbox.verification_notice(verification=run, staff=staff_emails(STOCK_PERMISSION))
    if run.is_clean:
        logger.info("Stock verified: %s movements, chains and counters agree", run.movements)
    else:
        logger.warning(
            "Stock verification: %s repaired, %s unexplained",
            run.repaired,
            run.unexplained,
            extra={"verification": run.pk},
        )
    return run

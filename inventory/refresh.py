"""The one call a supply change makes: refresh these products once this transaction commits.

Whatever changes a product's stock, incoming supply, lead time or queue (a receipt, an
adjustment, a purchase order, a cancellation, a priority) calls `refresh_after_commit`. A
worker then runs the backorder queue (`orders.queue.product_refresh`): it releases due
pre-orders, fills backorders from free stock in queue order and recomputes every waiting
line's ETA, recording `cause` against each ETA that moves and emailing the customers told.
Products a transaction changes for the same cause go to one task, so their customers get one
email. A refresh for a change of supply (`SUPPLY_CAUSES`: purchase orders, receipts, lead times
and supplier terms) also makes every cached supply outlook stale once the transaction commits
(`inventory.outlook`).

A refresh the broker could not take after the commit is kept as an `UnsentRefresh` row, and
`unsent_refreshes_send` (the beat, every minute) asks for it again: a refresh lost while Redis
was down runs within a minute of its return. Refreshes are idempotent, so one asked twice
costs a second run and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from config.batching import Request, after_commit
from inventory.models import Product, UnsentRefresh
from inventory.outlook import supply_outlook_changed
from orders.models import EtaChange

REFRESH_TASK = "orders.tasks.refresh_products"
# Products one task takes when kept refreshes are sent again (a long outage may keep many).
UNSENT_CHUNK = 50
# Kept refreshes one beat run sends; the next run takes the rest.
UNSENT_BATCH = 5000
# The causes that change a product's supply outlook (`selectors.SupplyOutlook`).
SUPPLY_CAUSES = frozenset(
    {
        EtaChange.Cause.PO_CREATED,
        EtaChange.Cause.PO_DATE_CHANGED,
        EtaChange.Cause.PO_RECEIVED,
        EtaChange.Cause.PO_CANCELLED,
        EtaChange.Cause.LEAD_TIME_CHANGED,
    }
)


def _keep_unsent(product_ids: list[int], args: tuple[str, ...]) -> None:
    """Keep refreshes the broker could not take, for `unsent_refreshes_send`."""
    cause, detail = args
    existing = Product.objects.filter(pk__in=product_ids).values_list("pk", flat=True)
    UnsentRefresh.objects.bulk_create(
        UnsentRefresh(product_id=pk, cause=cause, detail=detail[:255]) for pk in sorted(existing)
    )


def _request(cause: str, detail: str, chunk: int = 0) -> Request:
    return Request(
        REFRESH_TASK,
        args=(cause, detail),
        chunk=chunk,
        failure="Could not queue a refresh of products {ids}; it is kept for the beat to send",
        keep=_keep_unsent,
    )


def refresh_after_commit(product_ids: Iterable[int], *, cause: str, detail: str = "") -> None:
    """After the current transaction commits, ask a worker to refresh the products."""
    if cause in SUPPLY_CAUSES:
        supply_outlook_changed()
    after_commit(_request(cause, detail), product_ids)


@transaction.atomic
def unsent_refreshes_send(*, batch: int = UNSENT_BATCH) -> int:
    """Ask again, once this transaction commits, for the oldest `batch` kept refreshes, and
    delete their rows; returns how many rows were taken.

    One task per cause and detail, in chunks; a product kept several times is refreshed once.
    If the broker fails again, what was not queued is kept again.
    """
    rows = list(
        UnsentRefresh.objects.order_by("pk").values_list("pk", "product_id", "cause", "detail")[
            :batch
        ]
    )
    if not rows:
        return 0
    UnsentRefresh.objects.filter(pk__in=[pk for pk, *_ in rows]).delete()
    asked: dict[tuple[str, str], set[int]] = {}
    for _, product_id, cause, detail in rows:
        asked.setdefault((cause, detail), set()).add(product_id)
    for (cause, detail), product_ids in sorted(asked.items()):
        after_commit(_request(cause, detail, chunk=UNSENT_CHUNK), product_ids)
    return len(rows)

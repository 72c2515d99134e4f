"""The one call a supply change makes: refresh these products once this transaction commits.

Whatever changes a product's stock, incoming supply, lead time or queue (a receipt, an
adjustment, a purchase order, a cancellation, a priority) calls `refresh_after_commit`. A
worker then runs the backorder queue (`orders.queue.product_refresh`): it releases due
pre-orders, fills backorders from free stock in queue order and recomputes every waiting
line's ETA, recording `cause` against each ETA that moves and emailing the customers told.
Products a transaction changes for the same cause go to one task, so their customers get one
email.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.batching import Request, after_commit

REFRESH_TASK = "orders.tasks.refresh_products"


def refresh_after_commit(product_ids: Iterable[int], *, cause: str, detail: str = "") -> None:
    """After the current transaction commits, ask a worker to refresh the products."""
    after_commit(
        Request(
            REFRESH_TASK,
            args=(cause, detail),
            failure="Could not queue a refresh of products {ids}",
        ),
        product_ids,
    )

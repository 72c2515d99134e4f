"""The backorder queue: bring a product's waiting lines up to date with its supply.

`product_refresh` is what a worker runs after any supply change (`inventory.refresh`) and
every morning: under the product lock it releases pre-orders now due, fills backorders from
free stock in queue order (priority, then order time; `orders.selectors.queue_ordering`) and
recomputes the ETA of every open line from the ETA rule (`inventory.eta`), recording each move
as an `EtaChange` and telling the customers whose promise moved (`orders.promises`).
Idempotent: a product already up to date is left unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from django.db import transaction
from django.db.models import DateField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.sql import chunked
from inventory import selectors as stock_selectors
from inventory.allocation import Policy, QueuedLine, Supply, fill_backorders
from inventory.eta import Timeline
from inventory.locks import lock_products, lock_stocks
from inventory.models import Product
from notifications.outbox import EtaMove
from orders import selectors
from orders.allocating import backorders_fill
from orders.lifecycle import line_change, statuses_save
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.promises import promises_tell


@transaction.atomic
def product_refresh(
    *, product_id: int, cause: str, detail: str = "", today: date | None = None
) -> tuple[int, int]:
    """Bring a product up to date: release due pre-orders, fill backorders, recompute ETAs.

    Takes the product lock; idempotent. Returns (units allocated, ETAs moved).
    """
    today = today or timezone.localdate()
    product = lock_products([product_id]).get(product_id)
    if product is None:
        return 0, 0
    if _preorders_release(product, today):
        cause = EtaChange.Cause.RELEASED
    allocated = _reallocate_locked(product, today)
    moved = _etas_refresh_locked(product, cause=cause, detail=detail, today=today)
    return allocated, moved


@transaction.atomic
def product_reallocate(*, product_id: int, today: date | None = None) -> int:
    """Fill the product's backorders from its free stock, oldest first; return units allocated.

    Takes the product lock, so one product is never reallocated by two workers at once.
    Idempotent: with no free stock or an empty queue it changes nothing. A pre-order product
    before its release date keeps its stock for release day.
    """
    today = today or timezone.localdate()
    product = lock_products([product_id]).get(product_id)
    if product is None:
        return 0
    return _reallocate_locked(product, today)


@transaction.atomic
def product_etas_refresh(
    *, product_id: int, cause: str, detail: str = "", today: date | None = None
) -> int:
    """Recompute the ETA of every open line of the product; return how many moved.

    Takes the product lock. Each moved ETA gets an `EtaChange` row with `cause`, and a line
    with no promise yet gets this ETA as its first promise. Set-based: a fixed number of
    queries plus one update per distinct new date, however long the queue.
    """
    today = today or timezone.localdate()
    product = lock_products([product_id]).get(product_id)
    if product is None:
        return 0
    return _etas_refresh_locked(product, cause=cause, detail=detail, today=today)


def _preorders_release(product: Product, today: date) -> int:
    """Turn a released product's pre-ordered lines into backorders; return how many.

    Caller must hold the product lock. Their place in the queue is kept.
    """
    if product.release_date is None or today < product.release_date:
        return 0
    lines = selectors.preordered_lines(product.pk)
    events = [
        line_change(
            line,
            kind=OrderEvent.Kind.RELEASED,
            preorder=False,
            message=f"Released on {product.release_date:%Y-%m-%d}",
        )
        for line in lines
    ]
    statuses_save(lines)
    OrderEvent.objects.bulk_create(events, batch_size=1000)
    return len(lines)


def _reallocate_locked(product: Product, today: date) -> int:
    """`product_reallocate` for a caller that already holds the product lock."""
    product_id = product.pk
    if (
        product.backorder_policy == Policy.PREORDER
        and product.release_date is not None
        and today < product.release_date
    ):
        return 0
    stocks = {stock.pk: stock for stock in lock_stocks([product_id])}
    supply = [
        Supply(stock.pk, product_id, stock.warehouse.priority, stock.free)
        for stock in stocks.values()
        if stock.free > 0
    ]
    free = sum(s.free for s in supply)
    if not free:
        return 0
    # Only the head of the queue that the free stock can reach is read.
    lines = selectors.queue_head(product_id, free)
    fills = fill_backorders(
        (QueuedLine(pk, line.backordered) for pk, line in lines.items()), supply
    )
    return backorders_fill(lines=lines, fills=fills, stocks=stocks)


def _etas_refresh_locked(product: Product, *, cause: str, detail: str, today: date) -> int:
    """`product_etas_refresh` for a caller that already holds the product lock."""
    product_id = product.pk
    free = stock_selectors.free_units(product_id)
    rule = stock_selectors.eta_rule(
        product, stock_selectors.lead_times([product])[product_id], today
    )
    timeline = Timeline(
        free=free, incoming=stock_selectors.incoming_supply([product_id])[product_id], rule=rule
    )
    queue = selectors.queue_waiting(product_id)
    moved: list[tuple[int, int, date | None, date | None]] = []
    told: dict[int, date | None] = {}
    etas = timeline.etas([units for _, _, units, _, _ in queue])
    for (pk, order_id, _, old, notified), eta in zip(queue, etas, strict=True):
        if eta != old:
            moved.append((pk, order_id, old, eta))
            told[pk] = notified
    # Allocated lines ship after handling; one whose planned date has passed ships today.
    for pk, order_id, old in selectors.allocated_lines_to_date(
        product_id, today=today, ready=rule.ready
    ):
        moved.append((pk, order_id, old, rule.ready if old is None or old > rule.ready else today))
    if not moved:
        return 0

    by_date: dict[date | None, list[int]] = defaultdict(list)
    for pk, _, _, eta in moved:
        by_date[eta].append(pk)
    for eta, line_ids in by_date.items():
        for chunk in chunked(line_ids):
            if eta is None:
                OrderLine.objects.filter(pk__in=chunk).update(eta=None)
            else:
                OrderLine.objects.filter(pk__in=chunk).update(
                    eta=eta,
                    first_promised_eta=Coalesce(
                        F("first_promised_eta"), Value(eta, output_field=DateField())
                    ),
                )
    now = timezone.now()
    changes = EtaChange.objects.bulk_create(
        [
            EtaChange(
                order_id=order_id,
                line_id=pk,
                previous=old,
                eta=new,
                cause=cause,
                detail=detail[:255],
                created_at=now,
            )
            for pk, order_id, old, new in moved
        ],
        batch_size=1000,
    )
    # Waiting lines whose ETA moved away from what their customer was told may owe a notice.
    promises_tell(
        moves=[
            EtaMove(order_id, pk, told[pk], new, change.pk)
            for (pk, order_id, _, new), change in zip(moved, changes, strict=True)
            if pk in told
        ],
        cause=cause,
    )
    return len(moved)

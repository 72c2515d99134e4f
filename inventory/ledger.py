"""The stock ledger: counters, allocation rows and the movements that record every change.

The only writer of `Stock.on_hand`, `Stock.allocated`, `Allocation` rows, `StockMovement`
rows and `Product.waiting_units`, the length of each product's backorder queue. Counters
change with `F()` expressions and each change of stock writes its movement, so `verify_stock`
can replay the ledger. Each movement is chained to the one before it on its stock row
(`inventory.chain`: its digest, and the row's `ledger_head`), under the product lock that
already serialises them. Every function here needs the product locks of the
products it touches (`inventory.locks`); none has a side effect beyond these rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import Case, CharField, F, IntegerField, Value, When
from django.utils import timezone

from config.sql import execute, fetch, table
from inventory.allocation import release_allocations
from inventory.chain import movement_digest
from inventory.exceptions import InsufficientStock
from inventory.locks import lock_allocations, lock_stock
from inventory.models import Allocation, Product, Stock, StockMovement, Warehouse
from orders.lifecycle import recorded_actor
from orders.models import OrderLine

# Django's bulk_update writes one CASE branch per row: cost grows with the square of the
# batch, so large updates go in slices.
UPDATE_BATCH_SIZE = 200
# Movements per INSERT of a fill: nine parameters each, within every database's limit.
INSERT_BATCH_SIZE = 1000

# stock_id, kind, quantity, order_line_id, reason, reference, actor_id
Movement = tuple[int, str, int, int | None, str, str, int | None]


def _chain(movements: list[Movement], heads: dict[int, str], now: datetime) -> list[str]:
    """The digests of `movements`, written at `now` in this order, each chained to the one
    before it on its stock row; `heads` (each row's last digest) moves along with them."""
    digests = []
    for row in movements:
        stock_id = row[0]
        digest = movement_digest(heads[stock_id], (*row, now))
        heads[stock_id] = digest
        digests.append(digest)
    return digests


def _heads(stock_ids: Iterable[int]) -> dict[int, str]:
    """The rows' chain heads as they stand (this transaction's earlier writes included)."""
    return dict(Stock.objects.filter(pk__in=list(stock_ids)).values_list("pk", "ledger_head"))


def _head_case(heads: Mapping[int, str]) -> Case:
    return Case(
        *(When(pk=pk, then=Value(head)) for pk, head in heads.items()),
        output_field=CharField(),
    )


def on_hand_change(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: int,
    kind: str,
    reason: str,
    reference: str,
    actor: Any,
    order_line: OrderLine | None = None,
) -> StockMovement:
    """Add `quantity` (signed) to the product's on-hand in `warehouse` and record it.

    Caller must hold the product lock. Refused with `InsufficientStock` if on-hand would drop
    below what is allocated.
    """
    stock = lock_stock(product, warehouse)
    if stock.on_hand + quantity < stock.allocated:
        raise InsufficientStock(
            f"On hand would be {stock.on_hand + quantity} but {stock.allocated} is allocated.",
            fields={"quantity": f"at least {stock.allocated - stock.on_hand}"},
        )
    movement = StockMovement(
        stock=stock,
        kind=kind,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=recorded_actor(actor),
        order_line=order_line,
        created_at=timezone.now(),
    )
    heads = {stock.pk: stock.ledger_head}
    [movement.digest] = _chain([_fields(movement)], heads, movement.created_at)
    Stock.objects.filter(pk=stock.pk).update(
        on_hand=F("on_hand") + quantity, ledger_head=movement.digest
    )
    movement.save()
    return movement


def _fields(movement: StockMovement) -> Movement:
    return (
        movement.stock_id,
        movement.kind,
        movement.quantity,
        movement.order_line_id,
        movement.reason,
        movement.reference,
        movement.actor_id,
    )


def allocations_apply(
    *,
    changes: Iterable[tuple[OrderLine, Stock, int]],
    kind: str,
    actor: Any = None,
    new_lines: bool = False,
    fresh_stocks: bool = False,
) -> None:
    """Add (or, with negative units, remove) allocations and write their ledger rows.

    Caller must hold the product locks and keeps the order lines' own counters in step.
    `new_lines` says the lines were created in this transaction, so they have no allocation
    rows yet. `fresh_stocks` says the stock rows were locked for this change and nothing has
    written them since, so their `ledger_head` is current (placement: one read fewer).
    Set-based: a fixed number of queries however many lines change.
    """
    changes = [(line, stock, units) for line, stock, units in changes if units]
    if not changes:
        return
    existing: dict[tuple[int, int], Allocation] = {}
    if not new_lines:
        existing = {
            (a.order_line_id, a.stock_id): a
            for a in lock_allocations(line.pk for line, _, _ in changes)
        }
    to_create: dict[tuple[int, int], Allocation] = {}
    to_update: dict[tuple[int, int], Allocation] = {}
    per_stock: dict[int, int] = defaultdict(int)
    movements: list[StockMovement] = []
    for line, stock, units in changes:
        key = (line.pk, stock.pk)
        allocation = existing.get(key) or to_create.get(key)
        if allocation is None:
            allocation = Allocation(order_line=line, stock=stock, quantity=0)
            to_create[key] = allocation
        elif key in existing:
            to_update[key] = allocation
        allocation.quantity += units
        if allocation.quantity < 0:
            raise InsufficientStock("Cannot release more than is allocated.")
        per_stock[stock.pk] += units
        movements.append(
            StockMovement(
                stock=stock,
                kind=kind,
                quantity=units,
                order_line=line,
                actor=recorded_actor(actor),
            )
        )
    Allocation.objects.bulk_create([a for a in to_create.values() if a.quantity])
    emptied = [a.pk for a in to_update.values() if a.quantity == 0]
    if emptied:
        Allocation.objects.filter(pk__in=emptied).delete()
    kept = [a for a in to_update.values() if a.quantity]
    if kept:
        Allocation.objects.bulk_update(kept, ["quantity"], batch_size=UPDATE_BATCH_SIZE)
    now = timezone.now()
    if fresh_stocks:
        heads = {stock.pk: stock.ledger_head for _, stock, _ in changes}
    else:
        heads = _heads(per_stock)
    for movement, digest in zip(
        movements, _chain([_fields(m) for m in movements], heads, now), strict=True
    ):
        movement.created_at, movement.digest = now, digest
    # One statement for every stock row touched (a handful per product): counters and heads.
    Stock.objects.filter(pk__in=heads).update(
        allocated=F("allocated")
        + Case(
            *(When(pk=stock_id, then=Value(units)) for stock_id, units in per_stock.items()),
            default=Value(0),
            output_field=IntegerField(),
        ),
        ledger_head=_head_case(heads),
    )
    StockMovement.objects.bulk_create(movements)


def fills_apply(*, fill: str, kind: str, now: datetime) -> None:
    """Allocate what the fill in scratch table `fill` (columns `line_id`, `stock_id`,
    `units`) gives each line from each stock row: allocation rows added to or created, the
    stock rows' `allocated` raised, one movement per line and stock row. Caller must hold
    the product and stock locks and keeps the lines' own counters in step. A fixed number
    of statements however many lines."""
    allocation, stock, movement = table(Allocation), table(Stock), table(StockMovement)
    execute(
        f"INSERT INTO {allocation} (order_line_id, stock_id, quantity)"
        f" SELECT line_id, stock_id, units FROM {fill} WHERE units > 0"
        f" ON CONFLICT (order_line_id, stock_id)"
        f" DO UPDATE SET quantity = {allocation}.quantity + excluded.quantity"
    )
    execute(
        f"UPDATE {stock} SET allocated = allocated + f.units"
        f" FROM (SELECT stock_id, SUM(units) AS units FROM {fill} GROUP BY stock_id) f"
        f" WHERE {stock}.id = f.stock_id"
    )
    # The movements are chained here, in the order they are inserted (so in id order).
    rows: list[Movement] = [
        (stock_id, kind, units, line_id, "", "", None)
        for line_id, stock_id, units in fetch(
            f"SELECT line_id, stock_id, units FROM {fill} ORDER BY line_id, stock_id"
        )
    ]
    if not rows:
        return
    heads = _heads({row[0] for row in rows})
    digests = _chain(rows, heads, now)
    columns = "(%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    for start in range(0, len(rows), INSERT_BATCH_SIZE):
        batch = rows[start : start + INSERT_BATCH_SIZE]
        params: list[Any] = []
        for row, digest in zip(batch, digests[start : start + INSERT_BATCH_SIZE], strict=True):
            params.extend([*row, now, digest])
        execute(
            f"INSERT INTO {movement} (stock_id, kind, quantity, order_line_id, reason, reference,"
            f" actor_id, created_at, digest) VALUES {', '.join([columns] * len(batch))}",
            params,
        )
    Stock.objects.filter(pk__in=heads).update(ledger_head=_head_case(heads))


def allocations_release(
    line: OrderLine, quantity: int, *, kind: str, actor: Any
) -> list[tuple[Stock, int]]:
    """Take `quantity` allocated units off `line`, lowest-priority warehouse first; return
    the (stock row, units) released. Caller must hold the line's product lock."""
    allocations = list(
        Allocation.objects.filter(order_line=line).select_related("stock__warehouse")
    )
    stocks = {a.stock_id: a.stock for a in allocations}
    chosen = release_allocations(
        [(a.stock_id, a.stock.warehouse.priority, a.quantity) for a in allocations], quantity
    )
    allocations_apply(
        changes=[(line, stocks[stock_id], -units) for stock_id, units in chosen],
        kind=kind,
        actor=actor,
    )
    return [(stocks[stock_id], units) for stock_id, units in chosen]


def waiting_change(changes: Mapping[int, int]) -> None:
    """Move each product's `waiting_units` by the units its lines' `backordered` moved:
    `changes` maps product ids to a (positive or negative) change. Every service that
    changes a line's `backordered` calls this in the same transaction, under the product
    lock; `verify_stock` checks the counter against the lines. One statement."""
    changes = {pk: units for pk, units in changes.items() if units}
    if not changes:
        return
    Product.objects.filter(pk__in=changes).update(
        waiting_units=F("waiting_units")
        + Case(
            *(When(pk=pk, then=Value(units)) for pk, units in changes.items()),
            output_field=IntegerField(),
        )
    )


def shipped_remove(stock: Stock, units: int) -> None:
    """Units leave the warehouse: on-hand falls with the allocation `allocations_release`
    took off (whose `shipment` movement records both). Caller holds the product lock."""
    Stock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") - units)


def counters_restore(stock: Stock, *, on_hand: int, allocated: int) -> None:
    """Set a stock row's counters to what its (verified) ledger replays to: the repair of
    `inventory.verification`, the one write of counters that no movement records, since
    the movements already do. Caller holds the product lock."""
    Stock.objects.filter(pk=stock.pk).update(on_hand=on_hand, allocated=allocated)

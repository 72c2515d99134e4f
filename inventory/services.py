"""Services that change stock. Each takes the locks it needs (see `inventory.locks`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory.allocation import Policy, QueuedLine, Supply, fill_backorders
from inventory.exceptions import InsufficientStock, ValidationFailed
from inventory.locks import lock_products, lock_stocks
from inventory.models import Allocation, Product, Stock, StockMovement, Warehouse
from orders.lifecycle import line_change, recorded_actor
from orders.models import OrderEvent, OrderLine

MAX_QUANTITY = 1_000_000
# Django's bulk_update writes one CASE branch per row: cost grows with the square of the
# batch, so large updates go in slices.
UPDATE_BATCH_SIZE = 200


def warehouse_default() -> Warehouse:
    warehouse = Warehouse.objects.filter(is_default=True).first()
    if warehouse is None:
        raise ValidationFailed(
            "No default warehouse is configured.", fields={"warehouse": "required"}
        )
    return warehouse


def check_quantity(
    quantity: object, *, field: str = "quantity", allow_negative: bool = False
) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed("Quantity must be a whole number.", fields={field: "not an integer"})
    if abs(quantity) > MAX_QUANTITY:
        raise ValidationFailed("Quantity is too large.", fields={field: f"at most {MAX_QUANTITY}"})
    if quantity == 0 or (quantity < 0 and not allow_negative):
        raise ValidationFailed("Quantity must be positive.", fields={field: "must be positive"})
    return quantity


def enqueue_reallocation(product_id: int) -> None:
    """After the current transaction commits, ask a worker to fill the product's backorders.

    If the broker is unreachable the commit still stands; the periodic sweep catches up.
    """
    from inventory.tasks import reallocate_product

    def send_reallocation() -> None:
        reallocate_product.delay(product_id)

    transaction.on_commit(send_reallocation, robust=True)


def _stock_for_update(product: Product, warehouse: Warehouse) -> Stock:
    """Caller must hold the product lock, which also serialises creating its stock rows."""
    stock, _ = Stock.objects.select_for_update(of=("self",)).get_or_create(
        product=product, warehouse=warehouse
    )
    return stock


def _change_on_hand(
    *,
    product: Product,
    warehouse: Warehouse | None,
    quantity: int,
    kind: str,
    reason: str,
    reference: str,
    actor: Any,
    order_line: OrderLine | None = None,
) -> StockMovement:
    if warehouse is None:
        warehouse = warehouse_default()
    locked = lock_products([product.pk])
    if product.pk not in locked:
        raise ValidationFailed("Unknown product.", fields={"sku": "unknown"})
    stock = _stock_for_update(locked[product.pk], warehouse)
    if stock.on_hand + quantity < stock.allocated:
        raise InsufficientStock(
            f"On hand would be {stock.on_hand + quantity} but {stock.allocated} is allocated.",
            fields={"quantity": f"at least {stock.allocated - stock.on_hand}"},
        )
    Stock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") + quantity)
    movement = StockMovement.objects.create(
        stock=stock,
        kind=kind,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=recorded_actor(actor),
        order_line=order_line,
    )
    if quantity > 0:
        enqueue_reallocation(product.pk)
    return movement


@transaction.atomic
def stock_receive(
    *,
    product: Product,
    quantity: int,
    warehouse: Warehouse | None = None,
    reference: str = "",
    actor: Any = None,
) -> StockMovement:
    """Book goods arriving into stock; backorders fill after commit. Takes the product lock."""
    check_quantity(quantity)
    return _change_on_hand(
        product=product,
        warehouse=warehouse,
        quantity=quantity,
        kind=StockMovement.Kind.RECEIPT,
        reason="Goods received",
        reference=reference,
        actor=actor,
    )


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    quantity: int,
    reason: str,
    warehouse: Warehouse | None = None,
    actor: Any = None,
) -> StockMovement:
    """Correct on-hand by a signed quantity (stock count, damage...). Takes the product lock.

    Refused with `InsufficientStock` if on-hand would drop below what is allocated.
    """
    check_quantity(quantity, allow_negative=True)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the stock changes.", fields={"reason": "required"})
    return _change_on_hand(
        product=product,
        warehouse=warehouse,
        quantity=quantity,
        kind=StockMovement.Kind.ADJUSTMENT,
        reason=reason[:255],
        reference="",
        actor=actor,
    )


@transaction.atomic
def stock_return(
    *,
    product: Product,
    quantity: int,
    reason: str,
    warehouse: Warehouse | None = None,
    order_line: OrderLine | None = None,
    actor: Any = None,
) -> StockMovement:
    """Put returned, resellable goods back on hand. Takes the product lock."""
    check_quantity(quantity)
    if order_line is not None and order_line.product_id != product.pk:
        raise ValidationFailed(
            "The order line is for another product.", fields={"order_line": "mismatch"}
        )
    return _change_on_hand(
        product=product,
        warehouse=warehouse,
        quantity=quantity,
        kind=StockMovement.Kind.RETURN,
        reason=(reason or "Customer return")[:255],
        reference="",
        actor=actor,
        order_line=order_line,
    )


def allocations_apply(
    *,
    changes: Iterable[tuple[OrderLine, Stock, int]],
    kind: str,
    actor: Any = None,
) -> None:
    """Add (or, with negative units, remove) allocations and write their ledger rows.

    Caller must hold the product locks and keeps the order lines' own counters in step.
    Set-based: a fixed number of queries however many lines change.
    """
    changes = [(line, stock, units) for line, stock, units in changes if units]
    if not changes:
        return
    line_ids = {line.pk for line, _, _ in changes}
    existing = {
        (a.order_line_id, a.stock_id): a
        for a in Allocation.objects.filter(order_line_id__in=line_ids).select_for_update()
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
    for stock_id, units in per_stock.items():
        if units:
            Stock.objects.filter(pk=stock_id).update(allocated=F("allocated") + units)
    StockMovement.objects.bulk_create(movements)


def queue_ordering() -> list[Any]:
    """A product's backorder queue order: priority, then order time, then line id."""
    return [F("order__priority").desc(), "order__created_at", "pk"]


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

    # Only the head of the queue that the free stock can reach is read, batch by batch.
    waiting = (
        OrderLine.objects.filter(product_id=product_id, backordered__gt=0)
        .only("order_id", "quantity", "allocated", "backordered", "shipped", "cancelled", "status")
        .order_by(*queue_ordering())
    )
    lines: dict[int, OrderLine] = {}
    batch_size = settings.BACKORDER_BATCH_SIZE
    wanted = 0
    while wanted < free:
        batch = list(waiting[len(lines) : len(lines) + batch_size])
        lines.update((line.pk, line) for line in batch)
        wanted += sum(line.backordered for line in batch)
        if len(batch) < batch_size:
            break

    fills = fill_backorders(
        (QueuedLine(pk, line.backordered) for pk, line in lines.items()), supply
    )
    if not fills:
        return 0
    changes: list[tuple[OrderLine, Stock, int]] = []
    events: list[OrderEvent] = []
    for fill in fills:
        line = lines[fill.line_id]
        line.allocated += fill.allocated
        line.backordered -= fill.allocated
        events.append(
            line_change(
                line, kind=OrderEvent.Kind.ALLOCATED, quantity=fill.allocated, preorder=False
            )
        )
        changes.extend((line, stocks[stock_id], units) for stock_id, units in fill.allocations)
    # Relative updates, one per (units, status) group: correct because the product lock is
    # held, and a whole queue usually needs one or two statements.
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for fill in fills:
        groups[(fill.allocated, lines[fill.line_id].status)].append(fill.line_id)
    for (units, status), line_ids in groups.items():
        OrderLine.objects.filter(pk__in=line_ids).update(
            allocated=F("allocated") + units, backordered=F("backordered") - units, status=status
        )
    allocations_apply(changes=changes, kind=StockMovement.Kind.ALLOCATION)
    OrderEvent.objects.bulk_create(events)
    return sum(fill.allocated for fill in fills)


def products_with_fillable_backorders() -> list[int]:
    """Products that have both free stock and waiting backorders."""
    waiting = set(
        OrderLine.objects.filter(backordered__gt=0).values_list("product_id", flat=True).distinct()
    )
    free = set(
        Stock.objects.filter(on_hand__gt=F("allocated"), product_id__in=waiting)
        .values_list("product_id", flat=True)
        .distinct()
    )
    return sorted(free)

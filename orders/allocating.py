"""The one module that allocates order lines: at placement and when backorders fill.

Both paths move units from a line's `backordered` to its `allocated`, derive its status
through `orders.lifecycle`, write the allocation rows and movements through
`inventory.ledger` and record an event per line. What to allocate is the pure rule's answer
(`inventory.allocation.plan_order` for a new order, `fill_backorders` for a queue); this
module only applies it. Caller must hold the product and stock locks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.db.models import F

from inventory import ledger
from inventory.allocation import LineFill, LinePlan
from inventory.models import Product, Stock, StockMovement
from notifications import outbox
from orders.lifecycle import line_change
from orders.models import Order, OrderEvent, OrderLine
from orders.promises import promise_placed


def order_lines_create(
    *,
    order: Order,
    planned: Sequence[LinePlan],
    products: Mapping[int, Product],
    etas: Sequence[date | None],
    stocks: Mapping[int, Stock],
    events: list[OrderEvent],
    actor: Any,
) -> list[OrderLine]:
    """Create a placed order's lines with what the plan allocates, backorders or pre-orders.

    `etas` is each line's promised ETA; `events` (the order's own, such as "placed") are
    saved together with one event per line. The lines come back saved, each with its product
    from `products` (whose price it takes).
    """
    lines: list[OrderLine] = []
    for plan, eta in zip(planned, etas, strict=True):
        product = products[plan.product_id]
        line = OrderLine(
            order=order,
            product=product,
            quantity=plan.quantity,
            allocated=plan.allocated,
            backordered=plan.backordered,
            unit_price=product.price,
            status="",
            eta=eta,
        )
        kind = (
            OrderEvent.Kind.PREORDERED
            if plan.preordered
            else OrderEvent.Kind.BACKORDERED
            if plan.backordered
            else OrderEvent.Kind.ALLOCATED
        )
        events.append(
            line_change(
                line, kind=kind, quantity=plan.quantity, preorder=plan.preordered, actor=actor
            )
        )
        lines.append(line)
    promise_placed(lines)
    OrderLine.objects.bulk_create(lines)
    ledger.allocations_apply(
        changes=[
            (line, stocks[stock_id], units)
            for line, plan in zip(lines, planned, strict=True)
            for stock_id, units in plan.allocations
        ],
        kind=StockMovement.Kind.ALLOCATION,
        actor=actor,
        new_lines=True,
    )
    OrderEvent.objects.bulk_create(events)
    return lines


def backorders_fill(
    *, lines: Mapping[int, OrderLine], fills: Sequence[LineFill], stocks: Mapping[int, Stock]
) -> int:
    """Allocate free stock to waiting lines as `fills` says; tell their customers.

    `lines` holds the waiting lines the fills name, read with their counters and status.
    Returns the units allocated.
    """
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
    ledger.allocations_apply(changes=changes, kind=StockMovement.Kind.ALLOCATION)
    OrderEvent.objects.bulk_create(events)
    outbox.allocated_notice(
        fills=[
            outbox.Filled(
                order_id=lines[fill.line_id].order_id,
                line_id=fill.line_id,
                quantity=fill.allocated,
                event_id=event.pk,
            )
            for fill, event in zip(fills, events, strict=True)
        ]
    )
    return sum(fill.allocated for fill in fills)

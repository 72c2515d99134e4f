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
from datetime import date, datetime
from typing import Any

from config import sql
from inventory import ledger
from inventory.allocation import LinePlan, Supply
from inventory.models import Product, Stock, StockMovement
from notifications import outbox
from orders import selectors
from orders.lifecycle import fill_events_insert, filled_status_sql, line_change
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
            queue_priority=order.priority,
            queued_at=order.created_at,
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
    waiting: dict[int, int] = defaultdict(int)
    for plan in planned:
        waiting[plan.product_id] += plan.backordered
    ledger.waiting_change(waiting)
    ledger.allocations_apply(
        changes=[
            (line, stocks[stock_id], units)
            for line, plan in zip(lines, planned, strict=True)
            for stock_id, units in plan.allocations
        ],
        kind=StockMovement.Kind.ALLOCATION,
        actor=actor,
        new_lines=True,
        # Locked by the placement a moment ago, and written by nothing since.
        fresh_stocks=True,
    )
    OrderEvent.objects.bulk_create(events)
    return lines


def backorders_fill(*, supply: Sequence[Supply], now: datetime) -> dict[int, int]:
    """Allocate each product's free stock to its waiting lines in queue order; tell their
    customers. Returns the units allocated per product.

    `supply` is the free stock per warehouse of the products to fill (at most
    `config.sql.ID_CHUNK` of them), read under their stock locks. The fill is
    `inventory.allocation.fill_backorders`' rule worked out in SQL, set-based: each queue's
    running sums of waiting units (`orders.selectors.queue_positions_sql`) laid against its
    product's warehouses' running sums of free units (higher priority first) give each line's
    units from each warehouse, so a fixed number of statements fill any number of queues of
    any length. Each product's `waiting_units` falls by the units allocated.
    `tests/orders/test_allocating.py` checks the SQL and the rule agree.
    """
    pools: dict[int, list[Supply]] = defaultdict(list)
    for pool in sorted(supply, key=lambda s: (-s.priority, s.stock_id)):
        if pool.free > 0:
            pools[pool.product_id].append(pool)
    if not pools:
        return {}
    bounds = []
    for product_id, product_pools in pools.items():
        reached = 0
        for pool in product_pools:
            bounds.append((product_id, pool.stock_id, reached, reached + pool.free))
            reached += pool.free
    stocks_sql, stocks_params = sql.rows_union(("product_id", "stock_id", "lo", "hi"), bounds)
    queue_sql, queue_params = selectors.queue_positions_sql(sorted(pools))
    line_start = "(q.position - q.backordered)"
    fill_select = (
        f"SELECT q.id AS line_id, q.product_id, q.order_id, q.status AS status_before,"
        f" s.stock_id, {sql.smaller('q.position', 's.hi')} - {sql.larger(line_start, 's.lo')}"
        f" AS units FROM ({queue_sql}) q JOIN ({stocks_sql}) s"
        f" ON s.product_id = q.product_id AND {line_start} < s.hi AND s.lo < q.position"
    )
    with sql.scratch_table("backorder_fill", fill_select, [*queue_params, *stocks_params]) as fill:
        per_line = f"(SELECT line_id, SUM(units) AS units FROM {fill} GROUP BY line_id)"
        filled = sql.execute(
            f"UPDATE {sql.table(OrderLine)} SET allocated = allocated + f.units,"
            f" backordered = backordered - f.units,"
            f" status = {filled_status_sql('backordered - f.units')}"
            f" FROM {per_line} f WHERE {sql.table(OrderLine)}.id = f.line_id"
        )
        if not filled:
            return {}
        fill_events_insert(fill=fill, now=now)
        ledger.fills_apply(fill=fill, kind=StockMovement.Kind.ALLOCATION, now=now)
        outbox.allocated_notices(fill=fill, now=now)
        units = {
            int(product_id): int(total)
            for product_id, total in sql.fetch(
                f"SELECT product_id, SUM(units) FROM {fill} GROUP BY product_id"
            )
        }
        ledger.waiting_change({product_id: -total for product_id, total in units.items()})
        return units

"""The backorder queue: bring a product's waiting lines up to date with its supply.

`product_refresh` is what a worker runs after any supply change (`inventory.refresh`) and
every morning: under the product lock it releases pre-orders now due, fills backorders from
free stock in queue order (priority, then order time; `orders.selectors.queue_ordering`) and
recomputes the ETA of every open line from the ETA rule (`inventory.eta`), recording each move
as an `EtaChange` and telling the customers whose promise moved (`orders.promises`).
Idempotent: a product already up to date is left unchanged.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from config import sql
from inventory import selectors as stock_selectors
from inventory.allocation import Policy, Supply
from inventory.eta import Timeline
from inventory.locks import lock_products, lock_stocks
from inventory.models import Product
from orders import selectors
from orders.allocating import backorders_fill
from orders.lifecycle import line_change, statuses_save
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.promises import eta_kind_sql, etas_move


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
    statements however long the queue.
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
    supply = [
        Supply(stock.pk, product_id, stock.warehouse.priority, stock.free)
        for stock in lock_stocks([product_id])
        if stock.free > 0
    ]
    return backorders_fill(product_id=product_id, supply=supply, now=timezone.now())


def _etas_refresh_locked(product: Product, *, cause: str, detail: str, today: date) -> int:
    """`product_etas_refresh` for a caller that already holds the product lock.

    Set-based: the ETA rule's steps (`Timeline.steps`) laid over the queue's running sums
    give every waiting line its ETA in one statement; allocated lines ship after handling,
    one whose planned date has passed ships today. The moves go to a scratch table, which
    `orders.promises.etas_move` saves, records and tells: a fixed number of statements
    however long the queue.
    """
    product_id = product.pk
    free = stock_selectors.free_units(product_id)
    rule = stock_selectors.eta_rule(
        product, stock_selectors.lead_times([product])[product_id], today
    )
    timeline = Timeline(
        free=free, incoming=stock_selectors.incoming_supply([product_id])[product_id], rule=rule
    )
    moves_select, params = _eta_moves_sql(product_id, timeline.steps(), today, rule.ready)
    with sql.scratch_table("eta_moves", moves_select, params) as moves:
        return etas_move(moves=moves, cause=cause, detail=detail, now=timezone.now())


def _eta_moves_sql(
    product_id: int, steps: list[tuple[int | None, date | None]], today: date, ready: date
) -> tuple[str, list[object]]:
    """The product's lines whose ETA moves, as SQL: columns `line_id`, `order_id`,
    `previous`, `eta`, `told` (`notified_eta`), `waiting` (1 for a waiting line, 0 for an
    allocated one), `seq` (the queue position of a waiting line) and `kind`, the notice the
    move owes (`orders.promises.eta_kind_sql`)."""
    day = sql.date_placeholder()
    whens, params = [], []
    for end, eta in steps[:-1]:
        whens.append(f"WHEN q.position <= %s THEN {day}")
        params += [end, sql.date_param(eta)]
    params.append(sql.date_param(steps[-1][1]))
    new_eta = f"CASE {' '.join(whens)} ELSE {day} END" if whens else day
    queue_sql, queue_params = selectors.queue_positions_sql(product_id)
    line = sql.table(OrderLine)
    return (
        f"SELECT line_id, order_id, previous, eta, told, waiting, seq,"
        f" {eta_kind_sql('told', 'eta')} AS kind FROM ("
        f"SELECT q.id AS line_id, q.order_id, q.eta AS previous, {new_eta} AS eta,"
        f" q.notified_eta AS told, 1 AS waiting, q.position AS seq FROM ({queue_sql}) q) w"
        f" WHERE {sql.differ('previous', 'eta')}"
        f" UNION ALL"
        f" SELECT id, order_id, eta, CASE WHEN eta IS NULL OR eta > {day} THEN {day}"
        f" ELSE {day} END, notified_eta, 0, 0, NULL FROM {line}"
        f" WHERE product_id = %s AND backordered = 0 AND allocated > 0"
        f" AND (eta IS NULL OR eta < {day} OR eta > {day})",
        [
            *params,
            *queue_params,
            *[sql.date_param(d) for d in (ready, ready, today)],
            product_id,
            *[sql.date_param(d) for d in (today, ready)],
        ],
    )

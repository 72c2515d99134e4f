"""The backorder queue: bring a product's waiting lines up to date with its supply.

`product_refresh` is what a worker runs after any supply change (`inventory.refresh`) and
every morning: under the product lock it releases pre-orders now due, fills backorders from
free stock in queue order (priority, then order time; `orders.selectors.queue_ordering`) and
recomputes the ETA of every open line from the ETA rule (`inventory.eta`), recording each move
as an `EtaChange` and telling the customers whose promise moved (`orders.promises`).
Idempotent: a product already up to date is left unchanged. `products_refresh` does the
same for many products at once, in the same fixed number of statements.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    return products_refresh(product_ids=[product_id], cause=cause, detail=detail, today=today)


@transaction.atomic
def products_refresh(
    *, product_ids: Sequence[int], cause: str, detail: str = "", today: date | None = None
) -> tuple[int, int]:
    """`product_refresh` for several products (at most `config.sql.ID_CHUNK`) in one
    transaction and a fixed number of statements, however many products and lines: what a
    receipt or a morning's refresh of many products costs is the work, not a round of
    statements per product.

    Takes the products' locks, in primary-key order. Returns (units allocated, ETAs moved)
    over all of them.
    """
    today = today or timezone.localdate()
    products = list(lock_products(product_ids).values())
    if not products:
        return 0, 0
    released = [product for product in products if _preorders_release(product, today)]
    allocated = _reallocate_locked(products, today)
    moved = _etas_refresh_locked(
        [product for product in products if product not in released],
        cause=cause,
        detail=detail,
        today=today,
    )
    if released:
        moved += _etas_refresh_locked(
            released, cause=EtaChange.Cause.RELEASED, detail=detail, today=today
        )
    return allocated, moved


@transaction.atomic
def product_reallocate(*, product_id: int, today: date | None = None) -> int:
    """Fill the product's backorders from its free stock, oldest first; return units allocated.

    Takes the product lock, so one product is never reallocated by two workers at once.
    Idempotent: with no free stock or an empty queue it changes nothing. A pre-order product
    before its release date keeps its stock for release day.
    """
    today = today or timezone.localdate()
    products = list(lock_products([product_id]).values())
    return _reallocate_locked(products, today) if products else 0


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
    products = list(lock_products([product_id]).values())
    if not products:
        return 0
    return _etas_refresh_locked(products, cause=cause, detail=detail, today=today)


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


def _reallocate_locked(products: Sequence[Product], today: date) -> int:
    """`product_reallocate` of several products for a caller that holds their locks."""
    eligible = [
        product.pk
        for product in products
        if not (
            product.backorder_policy == Policy.PREORDER
            and product.release_date is not None
            and today < product.release_date
        )
    ]
    if not eligible:
        return 0
    supply = [
        Supply(stock.pk, stock.product_id, stock.warehouse.priority, stock.free)
        for stock in lock_stocks(eligible)
        if stock.free > 0
    ]
    return sum(backorders_fill(supply=supply, now=timezone.now()).values())


# Past every queue's end: the last step of an ETA walk covers every position up to this.
_QUEUE_END = 2**62


def _etas_refresh_locked(
    products: Sequence[Product], *, cause: str, detail: str, today: date
) -> int:
    """`product_etas_refresh` of several products for a caller that holds their locks.

    Set-based: each product's ETA rule steps (`Timeline.steps`) laid over its queue's running
    sums give every waiting line its ETA in one statement; allocated lines ship after
    handling, one whose planned date has passed ships today. The moves go to a scratch table,
    which `orders.promises.etas_move` saves, records and tells: a fixed number of statements
    however many products and lines.
    """
    if not products:
        return 0
    ids = [product.pk for product in products]
    free = stock_selectors.free_units_of(ids)
    lead_times = stock_selectors.lead_times(products)
    incoming = stock_selectors.incoming_supply(ids)
    steps: list[tuple[int, int, int, date | None]] = []
    # The day each product's allocated lines ship: today plus handling, and never before a
    # pre-order's release, so each product's own.
    readies: list[tuple[int, date]] = []
    for product in products:
        rule = stock_selectors.eta_rule(product, lead_times[product.pk], today)
        readies.append((product.pk, rule.ready))
        timeline = Timeline(free=free.get(product.pk, 0), incoming=incoming[product.pk], rule=rule)
        start = 0
        for end, eta in timeline.steps():
            steps.append((product.pk, start, _QUEUE_END if end is None else end, eta))
            start = _QUEUE_END if end is None else end
    moves_select, params = _eta_moves_sql(ids, steps, today, readies)
    with sql.scratch_table("eta_moves", moves_select, params) as moves:
        return etas_move(moves=moves, cause=cause, detail=detail, now=timezone.now())


def _eta_moves_sql(
    product_ids: Sequence[int],
    steps: Sequence[tuple[int, int, int, date | None]],
    today: date,
    readies: Sequence[tuple[int, date]],
) -> tuple[str, list[object]]:
    """The products' lines whose ETA moves, as SQL: columns `line_id`, `order_id`,
    `previous`, `eta`, `told` (`notified_eta`), `waiting` (1 for a waiting line, 0 for an
    allocated one), `seq` (the queue position of a waiting line) and `kind`, the notice the
    move owes (`orders.promises.eta_kind_sql`).

    `steps` are (product id, after position, up to position, ETA): a waiting line of the
    product whose queue position is in (after, up to] ships on that ETA; `readies` are
    (product id, day): an allocated line of the product ships that day, unless its ETA
    already lies between today and then."""
    day = sql.date_placeholder()
    steps_sql = " UNION ALL ".join(
        [f"SELECT %s AS product_id, %s AS after_position, %s AS up_to, {day} AS eta"] * len(steps)
    )
    steps_params = [
        value
        for product_id, after, up_to, eta in steps
        for value in (product_id, after, up_to, sql.date_param(eta))
    ]
    ready_sql = " UNION ALL ".join([f"SELECT %s AS product_id, {day} AS ready"] * len(readies))
    queue_sql, queue_params = selectors.queue_positions_sql(product_ids)
    line = sql.table(OrderLine)
    return (
        f"SELECT line_id, order_id, previous, eta, told, waiting, seq,"
        f" {eta_kind_sql('told', 'eta')} AS kind FROM ("
        f"SELECT q.id AS line_id, q.order_id, q.eta AS previous, s.eta AS eta,"
        f" q.notified_eta AS told, 1 AS waiting, q.position AS seq FROM ({queue_sql}) q"
        f" JOIN ({steps_sql}) s ON s.product_id = q.product_id"
        f" AND q.position > s.after_position AND q.position <= s.up_to) w"
        f" WHERE {sql.differ('previous', 'eta')}"
        f" UNION ALL"
        f" SELECT l.id, l.order_id, l.eta, r.ready, l.notified_eta, 0, 0, NULL FROM {line} l"
        f" JOIN ({ready_sql}) r ON r.product_id = l.product_id"
        f" WHERE l.backordered = 0 AND l.allocated > 0"
        f" AND (l.eta IS NULL OR l.eta < {day} OR l.eta > r.ready)",
        [
            *queue_params,
            *steps_params,
            *[v for product_id, ready in readies for v in (product_id, sql.date_param(ready))],
            sql.date_param(today),
        ],
    )

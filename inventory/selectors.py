"""Read-only queries over stock, supply and the catalogue: figures, quotes, lead times,
supplier reliability, and the lookups services make of what a request names."""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, F, Max, Min, OuterRef, Q, QuerySet, StdDev, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import outlook
from inventory.allocation import (
    Policy,
    ProductRules,
    RequestedLine,
    Supply,
    plan_order,
    unpromised_units,
)
from inventory.chain import FIELDS as CHAIN_FIELDS
from inventory.chain import GENESIS, movement_digest
from inventory.checks import is_code, max_line_quantity, storable_text
from inventory.eta import EtaRule, Incoming, Timeline
from inventory.exceptions import ValidationFailed
from inventory.models import (
    Allocation,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Stock,
    StockMovement,
    SupplierProduct,
    Warehouse,
)
from orders.models import OrderLine

# A supplier's average delay counts towards its lead time once it rests on this many receipts.
RELIABILITY_MIN_RECEIPTS = 3


@dataclass(frozen=True)
class Drift:
    """One counter that disagrees with what it is counted from. `check` says which
    (`DRIFT_CHECKS`), `stock_id` / `product_id` / `line_id` whose."""

    what: str
    expected: int
    actual: int
    # Which check and whose: for the verification's repairs, not part of what was found.
    check: str = field(default="", compare=False)
    stock_id: int | None = field(default=None, compare=False)
    product_id: int | None = field(default=None, compare=False)
    line_id: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.what}: expected {self.expected}, found {self.actual}"


ON_HAND_VS_LEDGER = "on_hand vs ledger"
ALLOCATED_VS_LEDGER = "allocated vs ledger"
ALLOCATED_VS_ROWS = "allocated vs allocation rows"
LINE_VS_ROWS = "line allocated vs allocation rows"
WAITING_VS_LINES = "waiting_units vs lines"


def stock_drift(product_ids: Iterable[int] | None = None) -> list[Drift]:
    """Everything where the counters disagree with the ledger or the allocation rows, for
    every product or only `product_ids`.

    Checks, for every stock row, that replaying its ledger gives `on_hand` and `allocated`, and
    that its allocation rows add up to `allocated`; for every order line, that its
    allocation rows add up to its `allocated`; and for every product, that `waiting_units`
    is what its lines have backordered. Six queries, whatever the size of the shop.
    """
    only = None if product_ids is None else list(product_ids)

    def of(queryset: QuerySet[Any], path: str) -> QuerySet[Any]:
        return queryset if only is None else queryset.filter(**{f"{path}__in": only})

    replay_on_hand: dict[int, int] = defaultdict(int)
    replay_allocated: dict[int, int] = defaultdict(int)
    for stock_id, kind, total in (
        of(StockMovement.objects.all(), "stock__product_id")
        .values("stock_id", "kind")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "kind", "total")
        .order_by()
    ):
        if kind in StockMovement.ON_HAND_KINDS:
            replay_on_hand[stock_id] += total
        if kind in StockMovement.ALLOCATED_KINDS:
            replay_allocated[stock_id] += total
    allocated_rows = dict(
        of(Allocation.objects.all(), "stock__product_id")
        .values("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
        .order_by()
    )
    drift: list[Drift] = []
    stocks = of(Stock.objects.all(), "product_id").select_related("product", "warehouse")
    for stock in stocks.order_by("pk"):
        label = f"stock {stock.product.sku}@{stock.warehouse.code}"
        checks = (
            (ON_HAND_VS_LEDGER, replay_on_hand[stock.pk], stock.on_hand),
            (ALLOCATED_VS_LEDGER, replay_allocated[stock.pk], stock.allocated),
            (ALLOCATED_VS_ROWS, allocated_rows.get(stock.pk, 0), stock.allocated),
        )
        drift.extend(
            Drift(f"{label} {what}", e, a, what, stock.pk, stock.product_id)
            for what, e, a in checks
            if e != a
        )
    line_rows = dict(
        of(Allocation.objects.all(), "order_line__product_id")
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_line_id", "total")
        .order_by()
    )
    allocated_lines = {
        line_id: (allocated, product_id)
        for line_id, allocated, product_id in of(OrderLine.objects.all(), "product_id")
        .filter(allocated__gt=0)
        .values_list("pk", "allocated", "product_id")
    }
    for line_id, (allocated, product_id) in allocated_lines.items():
        if line_rows.get(line_id, 0) != allocated:
            drift.append(
                Drift(
                    f"order line {line_id} allocated vs allocation rows",
                    line_rows.get(line_id, 0),
                    allocated,
                    LINE_VS_ROWS,
                    product_id=product_id,
                    line_id=line_id,
                )
            )
    orphaned = sorted(set(line_rows) - set(allocated_lines))
    orphan_products = dict(
        OrderLine.objects.filter(pk__in=orphaned).values_list("pk", "product_id")
    )
    drift.extend(
        Drift(
            f"order line {line_id} allocated vs allocation rows",
            line_rows[line_id],
            0,
            LINE_VS_ROWS,
            product_id=orphan_products.get(line_id),
            line_id=line_id,
        )
        for line_id in orphaned
    )
    queued = dict(
        of(OrderLine.objects.all(), "product_id")
        .filter(backordered__gt=0)
        .values("product_id")
        .annotate(units=Sum("backordered"))
        .values_list("product_id", "units")
        .order_by()
    )
    drift.extend(
        Drift(
            f"product {sku} waiting_units vs lines",
            queued.get(pk, 0),
            waiting,
            WAITING_VS_LINES,
            product_id=pk,
        )
        for pk, sku, waiting in of(Product.objects.all(), "pk")
        .values_list("pk", "sku", "waiting_units")
        .order_by("pk")
        .iterator()
        if queued.get(pk, 0) != waiting
    )
    return drift


@dataclass(frozen=True)
class ChainBreak:
    """The first link of a stock row's ledger chain that does not hold."""

    stock_id: int
    product_id: int
    label: str
    movement_id: int | None
    why: str

    def __str__(self) -> str:
        where = f"movement {self.movement_id}" if self.movement_id else "its head"
        return f"stock {self.label} ledger chain broken at {where}: {self.why}"


def chain_breaks() -> tuple[list[ChainBreak], int, dict[int, str]]:
    """Walk every stock row's movements in order, recomputing each digest from the one
    before (`inventory.chain`): the first broken link of each row whose chain does not hold,
    how many movements were checked, and each row's head. One pass over the ledger."""
    stocks = {
        pk: (product_id, f"{sku}@{code}", head)
        for pk, product_id, sku, code, head in Stock.objects.values_list(
            "pk", "product_id", "product__sku", "warehouse__code", "ledger_head"
        )
    }
    breaks: list[ChainBreak] = []
    broken: set[int] = set()
    heads: dict[int, str] = {pk: GENESIS for pk in stocks}
    checked = 0
    movements = StockMovement.objects.order_by("stock_id", "pk").values_list(
        "pk", *CHAIN_FIELDS, "digest"
    )
    for pk, *fields, digest in movements.iterator(chunk_size=5000):
        checked += 1
        stock_id = fields[0]
        if stock_id in broken:
            continue
        expected = movement_digest(heads[stock_id], fields)
        if expected != digest:
            product_id, label, _head = stocks[stock_id]
            why = (
                "its content or the movement before it was changed, added or removed"
                if digest
                else "it has no digest"
            )
            breaks.append(ChainBreak(stock_id, product_id, label, pk, why))
            broken.add(stock_id)
            continue
        heads[stock_id] = digest
    for stock_id, (product_id, label, head) in stocks.items():
        if stock_id not in broken and heads[stock_id] != head:
            why = "the last movement it points to is missing"
            breaks.append(ChainBreak(stock_id, product_id, label, None, why))
    breaks.sort(key=lambda b: b.stock_id)
    return breaks, checked, {pk: head for pk, (_, _, head) in stocks.items()}


@dataclass(frozen=True)
class Reliability:
    """How a supplier's deliveries compare with the dates it promised."""

    receipts: int
    average_delay_days: float
    delay_spread_days: float
    on_time: int

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.receipts if self.receipts else 0.0

    @property
    def expected_slip_days(self) -> int:
        """Days to add to the supplier's quoted lead time: its average lateness, if proven."""
        if self.receipts < RELIABILITY_MIN_RECEIPTS or self.average_delay_days <= 0:
            return 0
        return math.ceil(self.average_delay_days)


def supplier_reliability(supplier_ids: Iterable[int] | None = None) -> dict[int, Reliability]:
    """Receipts, mean and standard deviation of delay, and on-time count per supplier."""
    receipts = PurchaseReceipt.objects.all()
    if supplier_ids is not None:
        receipts = receipts.filter(line__purchase_order__supplier_id__in=list(supplier_ids))
    rows = (
        receipts.values("line__purchase_order__supplier_id")
        .annotate(
            receipts=Count("pk"),
            average=Avg("delay_days"),
            spread=StdDev("delay_days"),
            on_time=Count("pk", filter=Q(delay_days__lte=0)),
        )
        .order_by()
    )
    return {
        row["line__purchase_order__supplier_id"]: Reliability(
            receipts=row["receipts"],
            average_delay_days=float(row["average"] or 0),
            delay_spread_days=float(row["spread"] or 0),
            on_time=row["on_time"],
        )
        for row in rows
    }


def lead_times(products: Iterable[Product]) -> dict[int, int | None]:
    """Each product's lead time for supply not yet ordered.

    The fastest active supplier with terms for the product, counting its proven average delay;
    the product's own `lead_time_days` when it has no such supplier; None when neither is known.
    """
    products = list(products)
    fastest = supplier_lead_times([p.pk for p in products])
    return {p.pk: fastest.get(p.pk, p.lead_time_days) for p in products}


def supplier_lead_times(product_ids: Iterable[int]) -> dict[int, int]:
    """The lead time of the fastest active supplier with terms for each product, counting its
    proven average delay; products no active supplier offers are left out."""
    terms = list(
        SupplierProduct.objects.filter(
            product_id__in=list(product_ids), supplier__is_active=True
        ).select_related("supplier")
    )
    reliability = supplier_reliability({t.supplier_id for t in terms}) if terms else {}
    fastest: dict[int, int] = {}
    for term in terms:
        slip = (
            reliability[term.supplier_id].expected_slip_days
            if term.supplier_id in reliability
            else 0
        )
        days = term.quoted_lead_time_days + slip
        if term.product_id not in fastest or days < fastest[term.product_id]:
            fastest[term.product_id] = days
    return fastest


def incoming_supply(product_ids: Iterable[int]) -> dict[int, list[Incoming]]:
    """Open purchase-order quantities per product, soonest first."""
    incoming: dict[int, list[Incoming]] = defaultdict(list)
    rows = (
        PurchaseOrderLine.objects.filter(
            product_id__in=list(product_ids),
            purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
            quantity__gt=F("received") + F("cancelled"),
        )
        .annotate(remaining=F("quantity") - F("received") - F("cancelled"))
        .order_by("expected_date", "pk")
        .values_list("product_id", "remaining", "expected_date", "pk")
    )
    for product_id, remaining, expected_date, pk in rows:
        incoming[product_id].append(Incoming(remaining, expected_date, pk))
    return incoming


@dataclass(frozen=True)
class SupplyOutlook:
    """What a product's ETAs stand on besides its stock and queue; it changes only with
    purchase orders, receipts, suppliers and their terms (`inventory.outlook` caches it)."""

    incoming: list[Incoming]
    """`incoming_supply`: open purchase-order quantities, soonest first."""
    supplier_lead_time_days: int | None
    """`supplier_lead_times`: None when no active supplier offers the product."""

    def lead_time_days(self, product: Product) -> int | None:
        """`lead_times`: the suppliers', else the product's own."""
        if self.supplier_lead_time_days is None:
            return product.lead_time_days
        return self.supplier_lead_time_days


def _supply_outlooks_read(product_ids: list[int]) -> dict[int, SupplyOutlook]:
    incoming = incoming_supply(product_ids)
    fastest = supplier_lead_times(product_ids)
    return {pk: SupplyOutlook(incoming[pk], fastest.get(pk)) for pk in product_ids}


def supply_outlooks(product_ids: Sequence[int], today: date) -> dict[int, SupplyOutlook]:
    """Each product's supply outlook, from the cache when it holds a current one: no query
    then (`inventory.outlook` says when it is current)."""
    return outlook.supply_outlooks(product_ids, today, _supply_outlooks_read)


def eta_rule(product: Product, lead_time_days: int | None, today: date) -> EtaRule:
    return EtaRule(
        today=today,
        lead_time_days=lead_time_days,
        handling_days=settings.BACKORDER_HANDLING_DAYS,
        release_date=product.release_date,
    )


def product_rules(product: Product, backordered: int) -> ProductRules:
    """The allocation rule's view of `product`. Its `max_per_order` is `max_line_quantity`: the
    product's own cap within the shop-wide limit, so placement and every quote agree."""
    return ProductRules(
        product_id=product.pk,
        policy=Policy(product.backorder_policy),
        backorder_limit=product.backorder_limit,
        max_per_order=max_line_quantity(product.max_per_order),
        release_date=product.release_date,
        backordered=backordered,
    )


@dataclass(frozen=True)
class Quote:
    """What an order of `quantity` units would get right now."""

    status: str
    available: int | None
    """Most units one order could have now (within `max_line_quantity`)."""
    free: int
    """Units in stock now and promised to no one (`allocation.unpromised_units`)."""
    quantity: int
    from_stock: int
    backordered: int
    eta: date | None
    code: str = ""
    message: str = ""


def quote_line(
    *,
    rules: ProductRules,
    supply: list[Supply],
    timeline: Timeline,
    quantity: int,
    ahead: int,
    today: date,
) -> Quote:
    """The quote for `quantity` units given what is queued `ahead`; pure.

    Order placement stores exactly the ETA this gives, from the same figures.
    """
    free = unpromised_units(rules, supply)
    preorder = rules.takes_preorders(today)
    from_stock_room = 0 if preorder else free
    if not rules.is_released(today) and not preorder:
        available: int | None = 0
    elif rules.policy is Policy.DENY:
        available = from_stock_room
    elif rules.backorder_limit is None:
        available = None
    else:
        available = from_stock_room + max(rules.backorder_limit - rules.backordered, 0)
    if rules.max_per_order is not None:
        available = (
            rules.max_per_order if available is None else min(available, rules.max_per_order)
        )

    plan = plan_order(
        [RequestedLine(rules.product_id, quantity)], {rules.product_id: rules}, supply, today
    )
    if not plan.accepted:
        refusal = plan.refusals[0]
        return Quote(
            "unavailable", available, free, quantity, 0, 0, None, refusal.code, refusal.message
        )
    line = plan.lines[0]
    eta = timeline.quote(ahead=ahead, quantity=quantity).eta
    if line.preordered:
        status = "preorder"
    elif not line.backordered:
        status = "in_stock"
    elif line.allocated:
        status = "partial"
    else:
        status = "backorder"
    return Quote(status, available, free, quantity, line.allocated, line.backordered, eta)


def availability_quote(*, product: Product, quantity: int, today: date | None = None) -> Quote:
    """How an order of `quantity` units placed now would be served, and when it would ship."""
    return availability_quotes(wanted=[(product, quantity)], today=today)[0]


def availability_quotes(
    *,
    wanted: Sequence[tuple[Product, int]],
    today: date | None = None,
    stocks: Mapping[int, list[StockRow]] | None = None,
) -> list[Quote]:
    """`availability_quote` for each (product, quantity) of `wanted`, in its order; a product
    may come more than once. A fixed number of queries however many products.

    `stocks`: the products' stock rows if already read with the products
    (`product_with_stocks`), whose `waiting_units` are then as fresh as the rows."""
    today = today or timezone.localdate()
    ids = list(dict.fromkeys(product.pk for product, _ in wanted))
    if stocks is None:
        stocks = product_stocks(ids)
        waiting = waiting_units(ids)
    else:
        waiting = {product.pk: product.waiting_units for product, _ in wanted}
    supply = {
        pk: [
            Supply(row.stock_id, pk, row.priority, row.free)
            for row in sorted(stocks.get(pk, ()), key=lambda row: (-row.priority, row.warehouse_id))
        ]
        for pk in ids
    }
    outlooks = supply_outlooks(ids, today)
    quotes = []
    for product, quantity in wanted:
        ahead = waiting.get(product.pk, 0)
        outlook_of = outlooks[product.pk]
        timeline = Timeline(
            free=sum(max(s.free, 0) for s in supply[product.pk]),
            incoming=outlook_of.incoming,
            rule=eta_rule(product, outlook_of.lead_time_days(product), today),
        )
        quotes.append(
            quote_line(
                rules=product_rules(product, ahead),
                supply=supply[product.pk],
                timeline=timeline,
                quantity=quantity,
                ahead=ahead,
                today=today,
            )
        )
    return quotes


def waiting_units(product_ids: Iterable[int]) -> dict[int, int]:
    """Units waiting in each product's backorder queue: its counter, read by primary key."""
    return dict(Product.objects.filter(pk__in=list(product_ids)).values_list("pk", "waiting_units"))


def free_units_of(product_ids: Iterable[int]) -> dict[int, int]:
    """Units of each product on hand and not allocated, over all warehouses (products with
    no stock row are left out). One query."""
    return dict(
        Stock.objects.filter(product_id__in=list(product_ids))
        .values("product_id")
        .annotate(units=Sum(F("on_hand") - F("allocated")))
        .values_list("product_id", "units")
        .order_by()
    )


def free_units(product_id: int) -> int:
    """Units of the product on hand and not allocated, over all warehouses."""
    return free_units_of([product_id]).get(product_id, 0)


@dataclass(frozen=True)
class WarehouseStock:
    warehouse: str
    on_hand: int
    allocated: int
    free: int


@dataclass(frozen=True)
class StockFigures:
    """One product's stock across warehouses, with its queue and incoming supply."""

    on_hand: int
    allocated: int
    free: int
    backordered: int
    incoming: int
    next_delivery: date | None
    lead_time_days: int | None
    """The lead time ETAs use: the fastest active supplier's, else the product's own."""
    warehouses: list[WarehouseStock]


@dataclass(frozen=True)
class StockRow:
    """One stock row of a product, with what the reads need of its warehouse."""

    stock_id: int
    warehouse_id: int
    warehouse: str
    """The warehouse's code."""
    priority: int
    on_hand: int
    allocated: int

    @property
    def free(self) -> int:
        return self.on_hand - self.allocated


_STOCK_COLUMNS = (
    "stocks__pk",
    "stocks__warehouse_id",
    "stocks__warehouse__code",
    "stocks__warehouse__priority",
    "stocks__on_hand",
    "stocks__allocated",
)


def product_stocks(product_ids: Iterable[int]) -> dict[int, list[StockRow]]:
    """Each product's stock rows (none for a product without any). One query."""
    rows: dict[int, list[StockRow]] = defaultdict(list)
    for product_id, stock_id, warehouse_id, code, priority, on_hand, allocated in (
        Stock.objects.filter(product_id__in=list(product_ids))
        .values_list(
            "product_id",
            "pk",
            "warehouse_id",
            "warehouse__code",
            "warehouse__priority",
            "on_hand",
            "allocated",
        )
        .order_by()
    ):
        rows[product_id].append(
            StockRow(stock_id, warehouse_id, code, priority, on_hand, allocated)
        )
    return rows


@functools.cache
def _products_with_stocks() -> tuple[list[str], QuerySet[Product, tuple[Any, ...]]]:
    """The columns once per process: resolving them is most of the query's cost in Python."""
    fields = [field.attname for field in Product._meta.concrete_fields]
    return fields, Product.objects.values_list(*fields, *_STOCK_COLUMNS).order_by()


_SKU_MARK = "\x00sku"


@functools.cache
def _products_with_stocks_sql() -> tuple[str, list[Any], int]:
    """The query's SQL on PostgreSQL, compiled once per process: compiling it again for every
    read was a third of a product read's CPU. Its parameters, and where the SKU goes in them."""
    _, products = _products_with_stocks()
    sql, params = products.filter(sku=_SKU_MARK).query.get_compiler(connection.alias).as_sql()
    return sql, list(params), list(params).index(_SKU_MARK)


def product_with_stocks(sku: str) -> tuple[Product, list[StockRow]] | None:
    """The product with this SKU and its stock rows, in one query; None if there is none."""
    if not storable_text(sku):
        return None
    fields, products = _products_with_stocks()
    if connection.vendor == "postgresql":
        # psycopg hands back every column as the model's field holds it: no converters.
        sql, params, at = _products_with_stocks_sql()
        params = [*params[:at], sku, *params[at + 1 :]]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    else:
        rows = list(products.filter(sku=sku))
    if not rows:
        return None
    product = Product.from_db(connection.alias, fields, rows[0][: len(fields)])
    stocks = [StockRow(*row[len(fields) :]) for row in rows if row[len(fields)] is not None]
    return product, stocks


def stock_figures(
    product: Product, *, stocks: list[StockRow] | None = None, today: date | None = None
) -> StockFigures:
    """A fixed number of queries, however many warehouses and purchase orders there are.

    `stocks`: the product's stock rows if already read with the product
    (`product_with_stocks`), whose `waiting_units` is then as fresh as the rows."""
    if stocks is None:
        stocks = product_stocks([product.pk])[product.pk]
        backordered = waiting_units([product.pk]).get(product.pk, 0)
    else:
        backordered = product.waiting_units
    warehouses = [
        WarehouseStock(row.warehouse, row.on_hand, row.allocated, row.free)
        for row in sorted(stocks, key=lambda row: (-row.priority, row.warehouse))
    ]
    supply = supply_outlooks([product.pk], today or timezone.localdate())[product.pk]
    return StockFigures(
        on_hand=sum(s.on_hand for s in warehouses),
        allocated=sum(s.allocated for s in warehouses),
        free=sum(s.free for s in warehouses),
        backordered=backordered,
        incoming=sum(i.quantity for i in supply.incoming),
        next_delivery=min((i.expected_date for i in supply.incoming), default=None),
        lead_time_days=supply.lead_time_days(product),
        warehouses=warehouses,
    )


# Lookups the services make of what a request names ------------------------------------------


def warehouse_default() -> Warehouse:
    warehouse = Warehouse.objects.filter(is_default=True).first()
    if warehouse is None:
        raise ValidationFailed(
            "No default warehouse is configured.", fields={"warehouse": "required"}
        )
    return warehouse


def warehouse_by_code(code: object) -> Warehouse:
    """The warehouse with this code; the default warehouse when `code` is None or empty."""
    if code is None or code == "":
        return warehouse_default()
    warehouse = Warehouse.objects.filter(code=code).first() if is_code(code) else None
    if warehouse is None:
        raise ValidationFailed("Unknown warehouse.", fields={"warehouse": "unknown warehouse"})
    return warehouse


def skus_of(product_ids: Iterable[int]) -> list[str]:
    """The SKUs of `product_ids`, sorted (for log lines)."""
    return sorted(Product.objects.filter(pk__in=list(product_ids)).values_list("sku", flat=True))


def products_by_sku(skus: Sequence[str], *, field: str = "") -> dict[str, Product]:
    """The products the request lines name; refused naming each unknown SKU by its index.

    With `field`, a single SKU is named by that field instead.
    """
    products = {
        p.sku: p
        for p in Product.objects.filter(sku__in={sku for sku in skus if storable_text(sku)})
    }
    unknown = {
        field or f"lines[{index}].sku": "unknown SKU"
        for index, sku in enumerate(skus)
        if sku not in products
    }
    if unknown:
        raise ValidationFailed("Unknown product.", fields=unknown)
    return products


def terms_costs(supplier_id: int, product_ids: Iterable[int]) -> dict[int, Decimal | None]:
    """The unit cost in the supplier's terms for each product: a line's default cost."""
    return dict(
        SupplierProduct.objects.filter(
            supplier_id=supplier_id, product_id__in=list(product_ids)
        ).values_list("product_id", "unit_cost")
    )


def supplier_products(supplier_id: int) -> list[int]:
    """The products the supplier has terms for."""
    return list(
        SupplierProduct.objects.filter(supplier_id=supplier_id)
        .order_by("product_id")
        .values_list("product_id", flat=True)
    )


def expected_slip(supplier_id: int) -> int:
    """Days the supplier's proven lateness adds to its lead time."""
    reliability = supplier_reliability([supplier_id]).get(supplier_id)
    return reliability.expected_slip_days if reliability else 0


# Backoffice lists ---------------------------------------------------------------------------
# Each annotates the queryset it is given (all rows by default) with subqueries, so a page of
# rows costs one query however many lines and orders stand behind them.


def products_with_stock_figures(products: QuerySet[Product] | None = None) -> QuerySet[Product]:
    """Products with `total_on_hand` and `total_allocated` over their warehouses,
    `total_backordered` (units waiting), `total_incoming` (units open purchase orders still
    have to deliver), `next_delivery_on` (the soonest of those) and `last_eta_on` (when the
    last waiting line ships)."""
    waiting = OrderLine.objects.filter(product=OuterRef("pk"), backordered__gt=0).order_by()
    waiting_etas = waiting.values("product").annotate(last=Max("eta")).values("last")
    open_supply = PurchaseOrderLine.objects.filter(
        product=OuterRef("pk"),
        purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
        quantity__gt=F("received") + F("cancelled"),
    ).order_by()
    incoming = (
        open_supply.values("product")
        .annotate(units=Sum(F("quantity") - F("received") - F("cancelled")))
        .values("units")
    )
    next_delivery = open_supply.values("product").annotate(d=Min("expected_date")).values("d")
    return (Product.objects.all() if products is None else products).annotate(
        total_on_hand=Coalesce(Sum("stocks__on_hand"), 0),
        total_allocated=Coalesce(Sum("stocks__allocated"), 0),
        total_backordered=F("waiting_units"),
        total_incoming=Coalesce(Subquery(incoming), 0),
        next_delivery_on=Subquery(next_delivery),
        last_eta_on=Subquery(waiting_etas),
    )


def product_has_active_supplier(product: Product) -> bool:
    """Whether an active supplier has terms for the product (its lead time is then theirs)."""
    return product.supplier_terms.filter(supplier__is_active=True).exists()


def purchase_orders_with_totals(
    purchase_orders: QuerySet[PurchaseOrder] | None = None,
) -> QuerySet[PurchaseOrder]:
    """Purchase orders with `total_ordered`, `total_received` and `total_outstanding` units
    over their lines, and `next_expected_date`: the soonest line still to arrive."""
    lines = (
        PurchaseOrderLine.objects.filter(purchase_order=OuterRef("pk"))
        .order_by()
        .values("purchase_order")
    )
    open_lines = lines.filter(quantity__gt=F("received") + F("cancelled"))
    outstanding = Sum(F("quantity") - F("received") - F("cancelled"))
    queryset = PurchaseOrder.objects.all() if purchase_orders is None else purchase_orders
    return queryset.annotate(
        total_ordered=Coalesce(Subquery(lines.annotate(units=Sum("quantity")).values("units")), 0),
        total_received=Coalesce(Subquery(lines.annotate(units=Sum("received")).values("units")), 0),
        total_outstanding=Coalesce(Subquery(lines.annotate(units=outstanding).values("units")), 0),
        next_expected_date=Subquery(open_lines.annotate(day=Min("expected_date")).values("day")),
    )


def purchase_order_lines_with_remaining(
    lines: QuerySet[PurchaseOrderLine] | None = None,
) -> QuerySet[PurchaseOrderLine]:
    """Purchase-order lines with `remaining`: units neither received nor cancelled, to filter
    and sort by (`outstanding` is the same figure, read from one line)."""
    queryset = PurchaseOrderLine.objects.all() if lines is None else lines
    return queryset.annotate(remaining=F("quantity") - F("received") - F("cancelled"))

"""The backoffice's figures: the dashboard, the backlog by product, the ageing of what waits,
the money it holds up, ETA performance and fill rate. The one place each is defined.

Read-only, and a fixed number of queries each however many products and lines: every figure
is a grouped SQL aggregate, never a loop over rows. "Waiting" means backordered or
pre-ordered units (`OrderLine.backordered`), priced at what the customer ordered them for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Aggregate, Count, F, Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from inventory.models import (
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    SpikeAlert,
    Supplier,
    SupplierProduct,
)
from inventory.selectors import incoming_supply, supplier_reliability
from notifications.models import Notification
from orders.demand import day_start
from orders.models import OrderEvent, OrderLine, RefusedDemand
from orders.selectors import OPEN_STATUSES, EtaAccuracy, eta_accuracy

ZERO = Decimal("0.00")
SPIKES_SHOWN = 5


def past_first_promise(today: date) -> Q:
    """Lines not yet shipped whose first promised ETA is before `today`: a promise broken."""
    return Q(status__in=OPEN_STATUSES, first_promised_eta__lt=today)


def _names(product_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """SKU and name of each product (every product's when they are many: cheaper than a long
    list of ids)."""
    ids = list(product_ids)
    products = Product.objects.all() if len(ids) > 500 else Product.objects.filter(pk__in=ids)
    return {pk: (sku, name) for pk, sku, name in products.values_list("pk", "sku", "name")}


def _waiting(products: QuerySet[Product] | None) -> QuerySet[OrderLine]:
    lines = OrderLine.objects.filter(backordered__gt=0)
    return lines.filter(product__in=products) if products is not None else lines


# Backlog by product (contract §7: GET /api/v1/reports/backlog) -------------------------------


@dataclass
class BacklogRow:
    """One product's backorder queue, and the supply scheduled against it."""

    product_id: int
    sku: str
    name: str
    backordered_units: int
    backordered_lines: int
    value_waiting: Decimal
    """Backordered units times the unit price each line was ordered at."""
    oldest_waiting_days: int
    """Days since the oldest waiting line was ordered."""
    last_eta: date | None
    """The ETA of the queue's last line: when the whole queue is expected to have shipped."""
    next_supply_date: date | None = None
    next_supply_units: int = 0
    scheduled_units: int = 0
    """Everything still to arrive on open purchase orders."""
    backordered_orders: int | None = None
    """Orders waiting: filled in by `backlog_orders` for the rows shown (a distinct count
    over the whole queue costs more than every other figure together)."""

    @property
    def shortfall_units(self) -> int:
        """What stays backordered after all scheduled supply arrives."""
        return max(0, self.backordered_units - self.scheduled_units)


def backlog(
    products: QuerySet[Product] | None = None, *, today: date | None = None
) -> list[BacklogRow]:
    """Every product with waiting units (of `products`, if given), largest value waiting
    first. Three queries: the queue's sums grouped by product alone (joining the products
    into the grouping costs more than the sums), the products' names, their supply."""
    today = today or timezone.localdate()
    grouped = (
        _waiting(products)
        .values("product_id")
        .annotate(
            units=Sum("backordered"),
            lines=Count("id"),
            value=Sum(F("backordered") * F("unit_price")),
            oldest=Min("queued_at"),
            last_eta=Max("eta"),
        )
    )
    grouped_rows = list(grouped.order_by())
    names = _names(row["product_id"] for row in grouped_rows)
    rows = [
        BacklogRow(
            product_id=row["product_id"],
            sku=names[row["product_id"]][0],
            name=names[row["product_id"]][1],
            backordered_units=row["units"],
            backordered_lines=row["lines"],
            value_waiting=row["value"] or ZERO,
            oldest_waiting_days=(today - timezone.localtime(row["oldest"]).date()).days,
            last_eta=row["last_eta"],
        )
        for row in grouped_rows
    ]
    incoming = incoming_supply(row.product_id for row in rows)
    for row in rows:
        supply = incoming.get(row.product_id, [])
        if supply:
            row.next_supply_date = supply[0].expected_date
            row.next_supply_units = sum(
                s.quantity for s in supply if s.expected_date == supply[0].expected_date
            )
            row.scheduled_units = sum(s.quantity for s in supply)
    rows.sort(key=lambda row: (-row.value_waiting, row.sku))
    return rows


def backlog_orders(rows: list[BacklogRow]) -> None:
    """Fill in how many orders wait in each row's queue. One query."""
    counts = dict(
        OrderLine.objects.filter(backordered__gt=0, product_id__in=[r.product_id for r in rows])
        .values("product_id")
        .annotate(orders=Count("order_id", distinct=True))
        .values_list("product_id", "orders")
        .order_by()
    )
    for row in rows:
        row.backordered_orders = counts.get(row.product_id, 0)


# Ageing ----------------------------------------------------------------------------------------

AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7", 0, 7),
    ("8-14", 8, 14),
    ("15-30", 15, 30),
    ("31-60", 31, 60),
    ("60+", 61, None),
)
"""(label, first day, last day) of each bucket; the last has no end."""


@dataclass
class AgeingRow:
    key: str
    """The product's SKU or the supplier's name ("no supplier" when none is known)."""
    name: str
    lines: dict[str, int] = field(default_factory=dict)
    """Waiting lines per bucket label."""
    units: dict[str, int] = field(default_factory=dict)

    @property
    def total_lines(self) -> int:
        return sum(self.lines.values())

    @property
    def total_units(self) -> int:
        return sum(self.units.values())


def age_bucket_filters(column: str, today: date) -> dict[str, Q]:
    """Per bucket, the condition on `column` (a date, or a moment when it ends in `_at`)."""
    moments = column.endswith("_at")

    def bound(day: date) -> date | datetime:
        return day_start(day) if moments else day

    filters = {}
    for label, first, last in AGE_BUCKETS:
        # Lines at least `first` days old: on or before that day (before the next one starts).
        after_newest = today - timedelta(days=first) + timedelta(days=1)
        condition = Q(**{f"{column}__lt": bound(after_newest)})
        if last is not None:
            condition &= Q(**{f"{column}__gte": bound(today - timedelta(days=last))})
        filters[label] = condition
    return filters


def ageing(
    *,
    by: str = "product",
    measure: str = "age",
    products: QuerySet[Product] | None = None,
    today: date | None = None,
) -> list[AgeingRow]:
    """Waiting lines in buckets of days: `measure` "age" counts from when the order was
    placed, "late" from the ETA first promised (only lines already past it). `by` "product"
    or "supplier" (the product's preferred supplier). Two queries for products, three for
    suppliers; rows with the most lines in the oldest buckets first."""
    today = today or timezone.localdate()
    column = "queued_at" if measure == "age" else "first_promised_eta"
    lines = _waiting(products)
    if measure == "late":
        lines = lines.filter(first_promised_eta__lt=today)
    buckets = age_bucket_filters(column, today)
    aggregates: dict[str, Aggregate] = {}
    for label, condition in buckets.items():
        aggregates[f"lines_{label}"] = Count("id", filter=condition)
        aggregates[f"units_{label}"] = Sum("backordered", filter=condition)
    grouped = list(lines.values("product_id").annotate(**aggregates).order_by())
    names = _names(row["product_id"] for row in grouped)
    per_product = [
        AgeingRow(
            key=names[row["product_id"]][0],
            name=names[row["product_id"]][1],
            lines={label: row[f"lines_{label}"] for label in buckets},
            units={label: row[f"units_{label}"] or 0 for label in buckets},
        )
        for row in grouped
    ]
    if by == "supplier":
        preferred = _preferred_suppliers(row["product_id"] for row in grouped)
        ids = [row["product_id"] for row in grouped]
        merged: dict[str, AgeingRow] = {}
        for product_id, row in zip(ids, per_product, strict=True):
            supplier = preferred.get(product_id, "no supplier")
            target = merged.setdefault(
                supplier,
                AgeingRow(
                    key=supplier,
                    name=supplier,
                    lines=dict.fromkeys(buckets, 0),
                    units=dict.fromkeys(buckets, 0),
                ),
            )
            for label in buckets:
                target.lines[label] += row.lines[label]
                target.units[label] += row.units[label]
        per_product = list(merged.values())
    labels = [label for label, _, _ in reversed(AGE_BUCKETS)]
    per_product.sort(key=lambda row: ([-row.lines[label] for label in labels], row.key))
    return per_product


def _preferred_suppliers(product_ids: Iterable[int]) -> dict[int, str]:
    """Each product's preferred active supplier's name (lowest rank)."""
    preferred: dict[int, str] = {}
    terms = (
        SupplierProduct.objects.filter(product_id__in=list(product_ids), supplier__is_active=True)
        .order_by("product_id", "rank", "pk")
        .values_list("product_id", "supplier__name")
    )
    for product_id, name in terms:
        preferred.setdefault(product_id, name)
    return preferred


# Money held up ------------------------------------------------------------------------------


@dataclass
class SupplierCommitment:
    """What is still to arrive from one supplier on open purchase orders, at cost."""

    supplier_id: int
    name: str
    purchase_orders: int = 0
    units: int = 0
    value: Decimal = ZERO
    units_without_cost: int = 0
    """Units whose cost neither the purchase-order line nor the supplier's terms give."""


@dataclass
class MoneyHeldUp:
    customer_value_waiting: Decimal
    """What customers ordered and wait for: backordered units at their order's price."""
    customer_orders_waiting: int
    suppliers: list[SupplierCommitment]

    @property
    def open_purchase_value(self) -> Decimal:
        return sum((supplier.value for supplier in self.suppliers), ZERO)


def money_held_up(suppliers: QuerySet[Supplier] | None = None) -> MoneyHeldUp:
    """The seed's "cash flow held up": customers' money waiting on backorders, and the
    shop's money committed to open purchase orders, per supplier (of `suppliers`, if given;
    unit cost times outstanding, the line's cost or else the supplier's terms). Three
    queries."""
    waiting = OrderLine.objects.filter(backordered__gt=0).aggregate(
        value=Sum(F("backordered") * F("unit_price")), orders=Count("order_id", distinct=True)
    )
    outstanding = F("quantity") - F("received") - F("cancelled")
    lines = (
        PurchaseOrderLine.objects.filter(
            purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
            quantity__gt=F("received") + F("cancelled"),
        )
        .filter(**({"purchase_order__supplier__in": suppliers} if suppliers is not None else {}))
        .annotate(left=outstanding)
        .values_list(
            "purchase_order__supplier_id",
            "purchase_order__supplier__name",
            "purchase_order_id",
            "product_id",
            "left",
            "unit_cost",
        )
    )
    rows = list(lines)
    costs = dict(
        ((supplier_id, product_id), cost)
        for supplier_id, product_id, cost in SupplierProduct.objects.filter(
            unit_cost__isnull=False,
            supplier_id__in={row[0] for row in rows},
        ).values_list("supplier_id", "product_id", "unit_cost")
    )
    commitments: dict[int, SupplierCommitment] = {}
    orders: dict[int, set[int]] = defaultdict(set)
    for supplier_id, name, order_id, product_id, left, line_cost in rows:
        commitment = commitments.setdefault(supplier_id, SupplierCommitment(supplier_id, name))
        orders[supplier_id].add(order_id)
        commitment.units += left
        cost = line_cost if line_cost is not None else costs.get((supplier_id, product_id))
        if cost is None:
            commitment.units_without_cost += left
        else:
            commitment.value += cost * left
    for supplier_id, commitment in commitments.items():
        commitment.purchase_orders = len(orders[supplier_id])
    return MoneyHeldUp(
        customer_value_waiting=waiting["value"] or ZERO,
        customer_orders_waiting=waiting["orders"],
        suppliers=sorted(commitments.values(), key=lambda s: (-s.value, s.name)),
    )


# The dashboard ---------------------------------------------------------------------------------


@dataclass
class Dashboard:
    backordered_lines: int
    backordered_units: int
    value_waiting: Decimal
    oldest_line_id: int | None
    oldest_order_number: str
    oldest_waiting_days: int | None
    past_first_promise: int
    """Open lines (allocated or waiting) whose first promised date has passed unshipped."""
    purchase_lines_overdue: int
    purchase_lines_due_this_week: int
    out_of_stock_with_demand: int
    """Products with waiting units and no free stock."""
    emails_failed: int
    refused_this_week_units: int
    refused_this_week_requests: int
    spikes: list[SpikeAlert] = field(default_factory=list)
    """Demand spikes alerted in the last alert window, newest first (at most `SPIKES_SHOWN`)."""


def dashboard(*, today: date | None = None) -> Dashboard:
    """The admin index's figures. Eight queries, whatever the size of the shop."""
    today = today or timezone.localdate()
    waiting = OrderLine.objects.filter(backordered__gt=0)
    totals = waiting.aggregate(
        lines=Count("id"),
        units=Sum("backordered"),
        value=Sum(F("backordered") * F("unit_price")),
        oldest=Min("queued_at"),
    )
    late = OrderLine.objects.filter(past_first_promise(today)).count()
    # A line's queue time is its order's creation time: the orders' index finds it.
    oldest = (
        waiting.filter(order__created_at=totals["oldest"])
        .order_by("id")
        .values("id", "order__number", "queued_at")
        .first()
        if totals["oldest"] is not None
        else None
    )
    open_lines = PurchaseOrderLine.objects.filter(
        purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
        quantity__gt=F("received") + F("cancelled"),
    ).aggregate(
        overdue=Count("id", filter=Q(expected_date__lt=today)),
        this_week=Count(
            "id", filter=Q(expected_date__gte=today, expected_date__lte=today + timedelta(days=7))
        ),
    )
    out_of_stock = (
        Product.objects.filter(waiting_units__gt=0)
        .annotate(free=Sum(F("stocks__on_hand") - F("stocks__allocated")))
        .filter(Q(free__lte=0) | Q(free__isnull=True))
        .count()
    )
    week_ago = day_start(today - timedelta(days=6))
    refused = RefusedDemand.objects.filter(created_at__gte=week_ago).aggregate(
        units=Sum("quantity"), requests=Count("id")
    )
    return Dashboard(
        backordered_lines=totals["lines"],
        backordered_units=totals["units"] or 0,
        value_waiting=totals["value"] or ZERO,
        oldest_line_id=oldest["id"] if oldest else None,
        oldest_order_number=oldest["order__number"] if oldest else "",
        oldest_waiting_days=(today - timezone.localtime(oldest["queued_at"]).date()).days
        if oldest
        else None,
        past_first_promise=late,
        purchase_lines_overdue=open_lines["overdue"],
        purchase_lines_due_this_week=open_lines["this_week"],
        out_of_stock_with_demand=out_of_stock,
        emails_failed=Notification.objects.filter(status=Notification.Status.FAILED).count(),
        refused_this_week_units=refused["units"] or 0,
        refused_this_week_requests=refused["requests"],
        spikes=list(
            SpikeAlert.objects.filter(
                created_at__gte=day_start(
                    today - timedelta(days=settings.BACKORDER_SPIKE_WINDOW_DAYS - 1)
                )
            ).select_related("product")[:SPIKES_SHOWN]
        ),
    )


# ETA performance -----------------------------------------------------------------------------

SLIP_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("on time", 0, 0),
    ("1-2 days late", 1, 2),
    ("3-7 days late", 3, 7),
    ("8-14 days late", 8, 14),
    ("15+ days late", 15, None),
)


@dataclass
class EtaPerformance:
    total: EtaAccuracy
    rows: list[EtaAccuracy]
    """Per product, or per preferred supplier (`sku` then holds the supplier's name)."""
    slips: dict[str, int]
    """Shipped lines per SLIP_BUCKETS label: how late against the first promise."""
    suppliers: list[SupplierDelay]


@dataclass
class SupplierDelay:
    """A supplier's deliveries against the dates it promised (its receipts)."""

    name: str
    receipts: int
    on_time_rate: float
    average_delay_days: float
    delay_spread_days: float


def eta_performance(*, since: date, by: str = "product") -> EtaPerformance:
    """Were first promises kept? Lines shipped since `since` against the ETA first promised
    (`orders.selectors.eta_accuracy`), per product or per preferred supplier, the spread of
    their slips, and each supplier's deliveries against the dates it promised."""
    total, per_product = eta_accuracy(since=since)
    rows = per_product
    if by == "supplier":
        skus = Product.objects.filter(sku__in=[row.sku for row in per_product]).values_list(
            "sku", "pk"
        )
        preferred = _preferred_suppliers(pk for _, pk in skus)
        names = {sku: preferred.get(pk, "no supplier") for sku, pk in skus}
        merged: dict[str, EtaAccuracy] = {}
        for row in per_product:
            name = names.get(row.sku, "no supplier")
            target = merged.setdefault(name, EtaAccuracy(sku=name, name=name))
            target.shipped += row.shipped
            target.on_time += row.on_time
            target.days_late.extend(row.days_late)
            target.moves += row.moves
            target.open_slipped += row.open_slipped
        rows = sorted(
            merged.values(),
            key=lambda r: (r.on_time_rate if r.on_time_rate is not None else 2.0, r.sku),
        )
    slips = dict.fromkeys((label for label, _, _ in SLIP_BUCKETS), 0)
    slips["on time"] = total.on_time
    for late in total.days_late:
        for label, first, last in SLIP_BUCKETS[1:]:
            if late >= first and (last is None or late <= last):
                slips[label] += 1
    reliability = supplier_reliability()
    supplier_names = dict(Supplier.objects.filter(pk__in=reliability).values_list("pk", "name"))
    suppliers = sorted(
        (
            SupplierDelay(
                name=supplier_names[pk],
                receipts=r.receipts,
                on_time_rate=r.on_time_rate,
                average_delay_days=r.average_delay_days,
                delay_spread_days=r.delay_spread_days,
            )
            for pk, r in reliability.items()
        ),
        key=lambda s: (-s.average_delay_days, s.name),
    )
    return EtaPerformance(total=total, rows=rows, slips=slips, suppliers=suppliers)


# Fill rate and refused demand ----------------------------------------------------------------

REFUSAL_WORDS = {
    "out_of_stock": "out of stock, not sold on backorder",
    "backorder_limit": "backorder cap reached",
    "max_per_order": "more than one order may take",
    "not_released": "not released yet",
}


def refusal_words(code: str) -> str:
    return REFUSAL_WORDS.get(code, code.replace("_", " "))


@dataclass
class FillRow:
    sku: str
    name: str
    lines: int = 0
    """Order lines placed in the period."""
    filled: int = 0
    """Of them, filled from stock at once, when ordered."""
    units: int = 0
    units_filled: int = 0
    refused_requests: int = 0
    refused_units: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    """Refused units per reason, in words."""

    @property
    def fill_rate(self) -> float | None:
        """Share of lines filled from stock when ordered."""
        return self.filled / self.lines if self.lines else None

    @property
    def reasons(self) -> str:
        return ", ".join(f"{words}: {units}" for words, units in sorted(self.refusals.items()))


def fill_rate(*, since: date) -> list[FillRow]:
    """Per product, since `since`: order lines placed and how many stock filled at once (the
    placement's own event says so), and the demand policy refused, with its reasons. Three
    queries; products with the lowest fill rate, then the most refused, first."""
    start = day_start(since)
    placed = (
        OrderEvent.objects.filter(status_before="", line__isnull=False, created_at__gte=start)
        .values("line__product_id", "line__product__sku", "line__product__name")
        .annotate(
            lines=Count("id"),
            filled=Count("id", filter=Q(kind=OrderEvent.Kind.ALLOCATED)),
            units=Sum("quantity"),
            units_filled=Sum("quantity", filter=Q(kind=OrderEvent.Kind.ALLOCATED)),
        )
        .order_by()
    )
    rows: dict[int, FillRow] = {}
    for row in placed:
        rows[row["line__product_id"]] = FillRow(
            sku=row["line__product__sku"],
            name=row["line__product__name"],
            lines=row["lines"],
            filled=row["filled"],
            units=row["units"] or 0,
            units_filled=row["units_filled"] or 0,
        )
    refused = (
        RefusedDemand.objects.filter(created_at__gte=start)
        .values("product_id", "reason")
        .annotate(requests=Count("id"), units=Sum("quantity"))
        .order_by()
    )
    refused_rows = list(refused)
    missing = {row["product_id"] for row in refused_rows} - set(rows)
    for pk, sku, name in Product.objects.filter(pk__in=missing).values_list("pk", "sku", "name"):
        rows[pk] = FillRow(sku=sku, name=name)
    for row in refused_rows:
        target = rows[row["product_id"]]
        target.refused_requests += row["requests"]
        target.refused_units += row["units"]
        words = refusal_words(row["reason"])
        target.refusals[words] = target.refusals.get(words, 0) + row["units"]
    return sorted(
        rows.values(),
        key=lambda r: (r.fill_rate if r.fill_rate is not None else 2.0, -r.refused_units, r.sku),
    )

"""Read-only queries over orders: pages, the API, reports and the backorder queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.http import Http404
from django.utils import timezone

from config.sql import table
from inventory.allocation import Policy
from inventory.checks import storable_text
from inventory.models import Product, Stock
from notifications.models import DelayAnswer, Notification
from orders.models import EtaChange, Order, OrderEvent, OrderLine, Shipment, ShipmentLine

OPEN_STATUSES = (
    OrderLine.Status.ALLOCATED,
    OrderLine.Status.BACKORDERED,
    OrderLine.Status.PREORDERED,
)


class OrderStatus:
    """An order's status, derived from its lines (it is never stored)."""

    ALLOCATED = "allocated"
    """Everything still to ship is in stock and set aside."""
    BACKORDERED = "backordered"
    PREORDERED = "preordered"
    PARTIALLY_SHIPPED = "partially_shipped"
    """Part has shipped; the rest is in stock and set aside."""
    SHIPPED = "shipped"
    CANCELLED = "cancelled"

    ALL = (ALLOCATED, BACKORDERED, PREORDERED, PARTIALLY_SHIPPED, SHIPPED, CANCELLED)


def order_status(lines: list[OrderLine]) -> str:
    """What is holding the order up, if anything: a waiting line outranks shipped ones."""
    statuses = {line.status for line in lines}
    if OrderLine.Status.BACKORDERED in statuses:
        return OrderStatus.BACKORDERED
    if OrderLine.Status.PREORDERED in statuses:
        return OrderStatus.PREORDERED
    if OrderLine.Status.ALLOCATED in statuses:
        shipped = any(line.shipped for line in lines)
        return OrderStatus.PARTIALLY_SHIPPED if shipped else OrderStatus.ALLOCATED
    if OrderLine.Status.SHIPPED in statuses:
        return OrderStatus.SHIPPED
    return OrderStatus.CANCELLED


def order_eta(lines: list[OrderLine]) -> date | None:
    """When the last open line ships: the whole order's date (null if one line's is unknown)."""
    open_lines = [line for line in lines if line.status in OPEN_STATUSES]
    if not open_lines or any(line.eta is None for line in open_lines):
        return None
    return max(line.eta for line in open_lines if line.eta is not None)


@dataclass(frozen=True)
class OrderTotals:
    """What an order's lines are worth, in the shop's currency: the one place it is summed.

    `total` is what the customer pays for: every unit not cancelled (contract §7), which is
    `shipped` plus `to_ship`. `waiting` is the part of `to_ship` still backordered or
    pre-ordered: the customer's money held up by missing stock.
    """

    total: Decimal
    shipped: Decimal
    to_ship: Decimal
    waiting: Decimal
    cancelled: Decimal


def order_totals(lines: Sequence[OrderLine]) -> OrderTotals:
    """The totals of an order's lines (all of them: pass the whole order)."""
    shipped = to_ship = waiting = cancelled = Decimal("0.00")
    for line in lines:
        price = line.unit_price
        shipped += line.shipped * price
        to_ship += (line.allocated + line.backordered) * price
        waiting += line.backordered * price
        cancelled += line.cancelled * price
    return OrderTotals(
        total=shipped + to_ship,
        shipped=shipped,
        to_ship=to_ship,
        waiting=waiting,
        cancelled=cancelled,
    )


def order_status_url(order: Order) -> str:
    return f"{settings.SITE_URL}/orders/{order.number}/{order.token}/"


def orders_with_lines() -> QuerySet[Order]:
    """Orders with their lines and products prefetched: two queries for any number of lines."""
    return Order.objects.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("pk"))
    )


@dataclass
class EtaAccuracy:
    """How well the ETAs promised for one product (or all, with an empty SKU) held."""

    sku: str
    name: str
    shipped: int = 0
    on_time: int = 0
    days_late: list[int] = field(default_factory=list)
    moves: int = 0
    open_slipped: int = 0
    """Lines still open whose current ETA is later than the first promise."""

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.shipped if self.shipped else None

    @property
    def average_days_late(self) -> float | None:
        return sum(self.days_late) / len(self.days_late) if self.days_late else None

    @property
    def worst_days_late(self) -> int:
        return max(self.days_late, default=0)

    @property
    def moves_per_line(self) -> float | None:
        return self.moves / self.shipped if self.shipped else None

    def add(self, *, shipped_on: date, promised: date, moves: int) -> None:
        self.shipped += 1
        self.moves += moves
        late = (shipped_on - promised).days
        if late <= 0:
            self.on_time += 1
        else:
            self.days_late.append(late)


def eta_accuracy(*, since: date) -> tuple[EtaAccuracy, list[EtaAccuracy]]:
    """Lines shipped since `since` against the ETA first promised, overall and per product.

    A line is on time when it shipped on or before that first promise. Moves count how often
    its ETA changed between the order and the shipment. Products are listed worst first.
    Three queries, whatever the number of lines.
    """
    settled = (EtaChange.Cause.PLACED, EtaChange.Cause.SHIPPED)
    shipped = (
        OrderLine.objects.filter(
            status=OrderLine.Status.SHIPPED, eta__gte=since, first_promised_eta__isnull=False
        )
        .annotate(moves=Count("eta_changes", filter=~Q(eta_changes__cause__in=settled)))
        .values_list("product_id", "eta", "first_promised_eta", "moves")
        .order_by()
    )
    slipped = dict(
        OrderLine.objects.filter(status__in=OPEN_STATUSES, eta__gt=F("first_promised_eta"))
        .values("product_id")
        .annotate(lines=Count("pk"))
        .values_list("product_id", "lines")
        .order_by()
    )
    total = EtaAccuracy(sku="", name="All products")
    per_product: dict[int, EtaAccuracy] = {}
    rows: dict[int, list[tuple[date, date, int]]] = defaultdict(list)
    for product_id, shipped_on, promised, moves in shipped:
        if shipped_on is not None and promised is not None:  # both filtered on: for the types
            rows[product_id].append((shipped_on, promised, moves))
    products = Product.objects.filter(pk__in=set(rows) | set(slipped)).only("sku", "name")
    for product in products:
        report = per_product[product.pk] = EtaAccuracy(sku=product.sku, name=product.name)
        report.open_slipped = slipped.get(product.pk, 0)
        total.open_slipped += report.open_slipped
        for shipped_on, promised, moves in rows[product.pk]:
            report.add(shipped_on=shipped_on, promised=promised, moves=moves)
            total.add(shipped_on=shipped_on, promised=promised, moves=moves)
    ranked = sorted(
        per_product.values(),
        key=lambda r: (r.on_time_rate if r.on_time_rate is not None else 2.0, -r.open_slipped),
    )
    return total, ranked


def order_for_customer(number: str, token: str) -> Order:
    """The customer's one key to an order: its number with its token. Anything else is a 404.

    Both are matched in one query, so a wrong token for an existing order runs exactly what an
    unknown order runs, and how long the answer takes tells nothing of which numbers exist.
    """
    if not (storable_text(number) and storable_text(token)):
        raise Http404("No such order.")
    order = orders_with_lines().filter(number=number, token=token).first()
    if order is None:
        raise Http404("No such order.")
    return order


# The customer's order page -------------------------------------------------------------------

# Events staff need and customers do not.
INTERNAL_EVENTS = ("priority", "deallocated")
# The timeline tells both delivery choices as one kind of entry, "shipping".
DELIVERY_CHOICE_EVENTS = (OrderEvent.Kind.SHIP_TOGETHER, OrderEvent.Kind.SHIP_AS_READY)
# ETA moves the timeline tells as events of their own (placed, shipped, cancelled).
ETA_CAUSES_SHOWN_AS_EVENTS = ("placed", "shipped", "cancelled")


@dataclass
class DelayQuestion:
    """An unanswered delay notice about a line: keep waiting, or cancel."""

    notification_id: int
    previous_eta: date | None


@dataclass
class LineView:
    line: OrderLine
    delay: DelayQuestion | None = None
    kept_waiting: bool = False

    @property
    def moved(self) -> bool:
        """The current ETA is not the date first promised."""
        return (
            self.line.first_promised_eta is not None
            and self.line.eta != self.line.first_promised_eta
            and self.line.status not in ("shipped", "cancelled")
        )


@dataclass
class TimelineEntry:
    at: Any
    kind: str
    """An `OrderEvent.Kind`, or "eta" for a move of a line's ETA."""
    product: str = ""
    quantity: int | None = None
    previous: date | None = None
    eta: date | None = None
    cause: str = ""
    detail: str = ""
    together: bool = False


@dataclass
class ShipmentView:
    shipment: Any
    lines: list[tuple[OrderLine, int]]


@dataclass
class OrderPage:
    status: str
    eta: date | None
    lines: list[LineView]
    totals: OrderTotals
    timeline: list[TimelineEntry]
    shipments: list[ShipmentView]
    can_change_shipping: bool


def order_page(order: Order) -> OrderPage:
    """Everything the customer's order page shows, for an order from `order_for_customer`
    (lines and products prefetched): six more queries, however long the order."""
    lines = list(order.lines.all())
    by_id = {line.pk: line for line in lines}
    timeline: list[TimelineEntry] = []
    events = OrderEvent.objects.filter(order=order).exclude(kind__in=INTERNAL_EVENTS)
    for event in events.order_by("created_at", "pk"):
        line = by_id.get(event.line_id) if event.line_id else None
        timeline.append(
            TimelineEntry(
                at=event.created_at,
                kind="shipping" if event.kind in DELIVERY_CHOICE_EVENTS else event.kind,
                product=line.product.name if line else "",
                quantity=event.quantity,
                # Staff write the reason for a cancellation; show it, not system wording.
                detail=event.message if event.actor_id or event.kind == "shipped" else "",
                together=event.kind == OrderEvent.Kind.SHIP_TOGETHER,
            )
        )
    last_move: dict[int, TimelineEntry] = {}
    changes = EtaChange.objects.filter(order=order).exclude(cause__in=ETA_CAUSES_SHOWN_AS_EVENTS)
    for change in changes.order_by("created_at", "pk"):
        line = by_id[change.line_id]
        previous = last_move.get(line.pk)
        if previous is not None and previous.cause == change.cause == EtaChange.Cause.DAY_ROLLOVER:
            # A date that slides a day at a time is one story, not one entry a day.
            previous.eta, previous.at = change.eta, change.created_at
            continue
        entry = TimelineEntry(
            at=change.created_at,
            kind="eta",
            product=line.product.name,
            previous=change.previous,
            eta=change.eta,
            cause=change.cause,
        )
        last_move[line.pk] = entry
        timeline.append(entry)
    timeline.sort(key=lambda entry: entry.at)

    shipments = []
    shipment_lines: dict[int, list[tuple[OrderLine, int]]] = defaultdict(list)
    for shipment_line in ShipmentLine.objects.filter(shipment__order=order).order_by("pk"):
        shipment_lines[shipment_line.shipment_id].append(
            (by_id[shipment_line.order_line_id], shipment_line.quantity)
        )
    for shipment in Shipment.objects.filter(order=order).order_by("created_at", "pk"):
        merged: dict[int, int] = defaultdict(int)
        for line, quantity in shipment_lines[shipment.pk]:
            merged[line.pk] += quantity
        shipments.append(
            ShipmentView(shipment, [(by_id[pk], quantity) for pk, quantity in merged.items()])
        )

    views = {line.pk: LineView(line) for line in lines}
    answered = {
        (notification_id, line_id): answer
        for notification_id, line_id, answer in DelayAnswer.objects.filter(
            notification__order=order
        ).values_list("notification_id", "line_id", "answer")
    }
    notices = Notification.objects.filter(order=order, kind=Notification.Kind.DELAY)
    for notice in notices.order_by("created_at", "pk").only("pk", "data", "created_at"):
        for fact in notice.data.get("lines", []):
            view = views.get(fact.get("id"))
            if view is None:
                continue
            answer = answered.get((notice.pk, view.line.pk))
            view.kept_waiting = answer == "keep" or (view.kept_waiting and answer is None)
            view.delay = None
            if answer is None and view.line.backordered:
                previous = fact.get("previous_eta")
                view.delay = DelayQuestion(
                    notice.pk, date.fromisoformat(previous) if previous else None
                )
    return OrderPage(
        status=order_status(lines),
        eta=order_eta(lines),
        lines=list(views.values()),
        totals=order_totals(lines),
        timeline=timeline,
        shipments=shipments,
        # With one unit left to ship, one parcel or several is the same thing.
        can_change_shipping=not any(line.shipped for line in lines)
        and sum(line.outstanding for line in lines) > 1,
    )


# The backorder queue ------------------------------------------------------------------------


def queue_ordering() -> list[Any]:
    """A product's backorder queue order: priority, then order time, then line id."""
    return [F("queue_priority").desc(), "queued_at", "pk"]


def queue_positions_sql(product_ids: Sequence[int]) -> tuple[str, list[object]]:
    """The products' waiting lines with their place in their product's queue, as SQL:
    columns `id`, `product_id`, `order_id`, `backordered`, `status`, `eta`, `notified_eta`
    and `position`, the units of the product waiting up to and including the line's own, in
    `queue_ordering`'s order. At most `config.sql.ID_CHUNK` products."""
    marks = ", ".join(["%s"] * len(product_ids))
    return (
        f"SELECT l.id, l.product_id, l.order_id, l.backordered, l.status, l.eta,"
        f" l.notified_eta, SUM(l.backordered) OVER (PARTITION BY l.product_id"
        f" ORDER BY l.queue_priority DESC, l.queued_at, l.id) AS position"
        f" FROM {table(OrderLine)} l WHERE l.product_id IN ({marks}) AND l.backordered > 0",
        list(product_ids),
    )


def preordered_lines(product_id: int) -> list[OrderLine]:
    """The product's lines still waiting for its release, with the fields a release moves."""
    return list(
        OrderLine.objects.filter(product_id=product_id, status=OrderLine.Status.PREORDERED).only(
            "order_id", "quantity", "allocated", "backordered", "shipped", "cancelled", "status"
        )
    )


def products_with_fillable_backorders(today: date | None = None) -> list[int]:
    """Products that have both free stock and waiting backorders.

    Pre-order products before their release hold their stock, so they are left out.
    """
    today = today or timezone.localdate()
    waiting = set(
        OrderLine.objects.filter(backordered__gt=0).values_list("product_id", flat=True).distinct()
    )
    free = set(
        Stock.objects.filter(on_hand__gt=F("allocated"), product_id__in=waiting)
        .exclude(product__backorder_policy=Policy.PREORDER, product__release_date__gt=today)
        .values_list("product_id", flat=True)
        .distinct()
    )
    return sorted(free)


def products_to_refresh(today: date) -> dict[int, str]:
    """Products whose ETAs a new day moves, with the cause: pre-orders due, waiting lines,
    allocated lines whose planned ship date has passed."""
    waiting = OrderLine.objects.filter(
        Q(backordered__gt=0) | Q(backordered=0, allocated__gt=0, eta__lt=today)
    )
    causes: dict[int, str] = {
        product_id: EtaChange.Cause.DAY_ROLLOVER
        for product_id in waiting.values_list("product_id", flat=True).distinct().order_by()
    }
    due = OrderLine.objects.filter(
        status=OrderLine.Status.PREORDERED, product__release_date__lte=today
    )
    for product_id in due.values_list("product_id", flat=True).distinct().order_by():
        causes[product_id] = EtaChange.Cause.RELEASED
    return causes


def products_to_reallocate(today: date) -> dict[int, str]:
    """The safety net's work: products whose free stock could fill a backorder, and those
    whose pre-orders are due, with the cause to record."""
    due = {
        product_id
        for product_id, cause in products_to_refresh(today).items()
        if cause == EtaChange.Cause.RELEASED
    }
    causes: dict[int, str] = {
        product_id: EtaChange.Cause.STOCK_CHANGED
        for product_id in set(products_with_fillable_backorders(today)) - due
    }
    causes.update((product_id, EtaChange.Cause.RELEASED) for product_id in due)
    return causes


# Backoffice lists ---------------------------------------------------------------------------


def lines_ready_to_ship(lines: QuerySet[OrderLine] | None = None) -> QuerySet[OrderLine]:
    """Lines with allocated units that may ship now, in queue order: an order that ships
    complete is ready only once nothing of it waits for stock."""
    waiting = OrderLine.objects.filter(order=OuterRef("order"), backordered__gt=0)
    return (
        (lines if lines is not None else OrderLine.objects.all())
        .filter(allocated__gt=0)
        .filter(Q(order__ship_complete=False) | ~Exists(waiting))
        .order_by("-queue_priority", "queued_at", "id")
    )


def orders_with_totals(orders: QuerySet[Order] | None = None) -> QuerySet[Order]:
    """Orders with `total_units`, `total_backordered`, `total_value` (`OrderTotals.total`, in
    SQL for sorting) and the `last_eta` of their open lines.

    Subqueries, not joins: a list filtering on lines joins them again, and a joined Sum would
    be multiplied by the matching lines.
    """
    totals = OrderLine.objects.filter(order=OuterRef("pk")).order_by().values("order")
    not_cancelled = (F("quantity") - F("cancelled")) * F("unit_price")
    return (orders if orders is not None else Order.objects.all()).annotate(
        total_units=Subquery(totals.annotate(units=Sum("quantity")).values("units")),
        total_value=Subquery(totals.annotate(value=Sum(not_cancelled)).values("value")),
        total_backordered=Subquery(totals.annotate(units=Sum("backordered")).values("units")),
        last_eta=Subquery(
            totals.filter(status__in=OPEN_STATUSES).annotate(last=Max("eta")).values("last")
        ),
    )


def products_waiting_below(product_ids: Sequence[int], priority: int) -> list[int]:
    """Which of `product_ids` have a waiting line of lower queue priority than `priority`:
    an order of that priority queues ahead of it (one indexed query)."""
    return sorted(
        OrderLine.objects.filter(
            product_id__in=product_ids, backordered__gt=0, queue_priority__lt=priority
        )
        .values_list("product_id", flat=True)
        .distinct()
    )

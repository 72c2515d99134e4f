"""Order services: place, cancel, ship, reprioritise and change how an order ships.

Each takes the product locks of the lines it touches (`inventory.locks`) before anything
else, changes stock only through `inventory.ledger`, allocates new lines through
`orders.allocating`, moves statuses through `orders.lifecycle`, owes its emails through
`notifications.outbox` and asks for the products' refresh through `inventory.refresh` when
the queue behind it moves.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from config.logs import log_bind
from inventory import ledger
from inventory import selectors as stock_selectors
from inventory.allocation import RequestedLine, Supply, plan_order
from inventory.checks import (
    MAX_ORDER_LINES,
    check_email,
    check_locale,
    check_priority,
    check_quantity,
    check_text,
)
from inventory.eta import Incoming, Timeline
from inventory.exceptions import (
    IdempotencyConflict,
    NotCancellable,
    NotShippable,
    OrderRefused,
    ValidationFailed,
)
from inventory.locks import lock_order, lock_order_lines, lock_products, lock_stocks
from inventory.models import Product, StockMovement
from inventory.refresh import refresh_after_commit
from notifications import outbox
from orders import selectors as order_selectors
from orders.allocating import order_lines_create
from orders.lifecycle import line_change, recorded_actor
from orders.models import (
    EtaChange,
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderLine,
    RefusedDemand,
    Shipment,
    ShipmentLine,
)

logger = logging.getLogger(__name__)

_KEY = re.compile(r"[\x21-\x7e]+")
_KEY_CLAIM = """
    INSERT INTO orders_idempotencykey (key, user_id, fingerprint, created_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id
"""


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShippingAddress:
    """Where the parcel goes. Orders from the API may come without one."""

    address: str
    city: str
    postal_code: str
    country: str
    phone: str = ""


def _check_shipping(shipping: ShippingAddress) -> ShippingAddress:
    return ShippingAddress(
        address=check_text(shipping.address, field="address", max_length=500, multiline=True),
        city=check_text(shipping.city, field="city", max_length=100),
        postal_code=check_text(shipping.postal_code, field="postal_code", max_length=20),
        country=check_text(shipping.country, field="country", max_length=100),
        phone=check_text(shipping.phone, field="phone", max_length=32, required=False),
    )


def _validate_order(
    *, email: object, name: object, locale: object, lines: Sequence[LineRequest]
) -> tuple[str, str, str, dict[str, Product]]:
    email = check_email(email)
    name = check_text(name, field="name", max_length=200)
    locale = check_locale(locale)
    if not lines:
        raise ValidationFailed("An order needs at least one line.", fields={"lines": "required"})
    if len(lines) > MAX_ORDER_LINES:
        raise ValidationFailed("Too many lines.", fields={"lines": f"at most {MAX_ORDER_LINES}"})
    for index, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{index}].quantity")
    products = stock_selectors.products_by_sku([line.sku for line in lines])
    return email, name, locale, products


def order_place(
    *,
    email: str,
    name: str,
    lines: Sequence[LineRequest],
    locale: str = Order.Locale.EN,
    ship_complete: bool = False,
    priority: int = 0,
    shipping: ShippingAddress | None = None,
    actor: Any = None,
    today: date | None = None,
) -> Order:
    """Accept an order: allocate what is free, backorder the rest, or refuse it whole.

    Takes the product locks of every product in the basket (in primary-key order). On a policy
    refusal nothing is written but a `RefusedDemand` row per refused line, and `OrderRefused`
    is raised. The order comes back with its lines in hand.
    """
    email, name, locale, products = _validate_order(
        email=email, name=name, locale=locale, lines=lines
    )
    if shipping is not None:
        shipping = _check_shipping(shipping)
    today = today or timezone.localdate()
    requested = [RequestedLine(products[line.sku].pk, line.quantity) for line in lines]
    # Supply outlook, read before the locks to keep them short (and from the cache, where
    # it is current): purchase orders and supplier terms never take the product lock, so
    # reading them under it would be no fresher, and each of their changes refreshes every
    # waiting line's ETA once it commits.
    outlooks = stock_selectors.supply_outlooks([p.pk for p in products.values()], today)
    lead_times = {p.pk: outlooks[p.pk].lead_time_days(p) for p in products.values()}
    incoming = {pk: outlook.incoming for pk, outlook in outlooks.items()}
    placed = _order_place_locked(
        email=email,
        name=name,
        locale=locale,
        ship_complete=bool(ship_complete),
        priority=priority,
        shipping=shipping,
        requested=requested,
        lead_times=lead_times,
        incoming=incoming,
        actor=actor,
        today=today,
    )
    if isinstance(placed, OrderRefused):
        raise placed  # Outside the transaction, which kept the refused demand.
    return placed


# No savepoint: inside `order_place_once` the key's transaction is the only one, and a refusal
# is returned rather than raised so that its demand is kept in the same transaction.
@transaction.atomic(savepoint=False)
def _order_place_locked(
    *,
    email: str,
    name: str,
    locale: str,
    ship_complete: bool,
    priority: int,
    shipping: ShippingAddress | None,
    requested: list[RequestedLine],
    lead_times: dict[int, int | None],
    incoming: dict[int, list[Incoming]],
    actor: Any,
    today: date,
) -> Order | OrderRefused:
    product_ids = [line.product_id for line in requested]
    products = lock_products(product_ids)
    if len(products) != len(set(product_ids)):
        raise ValidationFailed("A product was removed while ordering.", fields={"lines": "stale"})
    stocks = {stock.pk: stock for stock in lock_stocks(product_ids)}
    # The locked product rows carry the length of their queues (`waiting_units`).
    backordered = {pk: product.waiting_units for pk, product in products.items()}
    rules = {
        pk: stock_selectors.product_rules(product, backordered[pk])
        for pk, product in products.items()
    }
    supply = [
        Supply(stock.pk, stock.product_id, stock.warehouse.priority, stock.free)
        for stock in stocks.values()
    ]
    plan = plan_order(requested, rules, supply, today)
    if not plan.accepted:
        RefusedDemand.objects.bulk_create(
            RefusedDemand(
                product_id=refusal.product_id,
                quantity=requested[refusal.line_index].quantity,
                reason=refusal.code,
            )
            for refusal in plan.refusals
        )
        return OrderRefused(plan.refusals)
    # The ETA each line is promised: the availability quote's, from the same figures.
    timelines = {
        pk: Timeline(
            free=sum(s.free for s in supply if s.product_id == pk),
            incoming=incoming[pk],
            rule=stock_selectors.eta_rule(product, lead_times[pk], today),
        )
        for pk, product in products.items()
    }
    ahead = dict(backordered)

    order = Order.objects.create(
        email=email,
        name=name,
        locale=locale,
        ship_complete=ship_complete,
        priority=priority,
        **(asdict(shipping) if shipping else {}),
    )
    etas: list[date | None] = []
    for planned in plan.lines:
        product_id = planned.product_id
        quote = timelines[product_id].quote(ahead=ahead[product_id], quantity=planned.quantity)
        etas.append(quote.eta)
        ahead[product_id] += planned.quantity
    lines = order_lines_create(
        order=order,
        planned=plan.lines,
        products=products,
        etas=etas,
        stocks=stocks,
        events=[OrderEvent(order=order, kind=OrderEvent.Kind.PLACED, actor=recorded_actor(actor))],
        actor=actor,
    )
    EtaChange.objects.bulk_create(
        EtaChange(
            order=order,
            line=line,
            eta=line.eta,
            cause=EtaChange.Cause.PLACED,
            created_at=order.created_at,
        )
        for line in lines
    )
    # This request's later lines, and the tasks its commit sends, are about this order.
    log_bind(order=order.number)
    outbox.confirmation_notice(order=order, lines=lines)
    _lines_prefetched(order, lines)
    logger.info(
        "Order %s placed: %s",
        order.number,
        ", ".join(f"{products[line.product_id].sku} x{line.quantity}" for line in lines),
        extra={
            "skus": [products[line.product_id].sku for line in lines],
            "backordered": sum(line.backordered for line in lines),
        },
    )
    # An order queues ahead of every waiting line of lower priority (a priority order ahead
    # of the rest; any order ahead of lines staff moved down): their ETAs move later, and
    # its own, quoted behind the whole queue, earlier.
    waiting = sorted(pid for pid, units in backordered.items() if units)
    overtaken = (
        waiting
        if priority > 0 or not waiting
        else (order_selectors.products_waiting_below(waiting, priority))
    )
    if overtaken:
        refresh_after_commit(overtaken, cause=EtaChange.Cause.QUEUE_CHANGED, detail=order.number)
    return order


def _lines_prefetched(order: Order, lines: list[OrderLine]) -> None:
    """Hand `order` back with its new lines in hand, as `orders.selectors.orders_with_lines()`
    would read them (in primary-key order, with their products): no read after commit."""
    prefetched = OrderLine.objects.filter(order=order).order_by("pk")
    # What `prefetch_related_objects` stores, without its query.
    prefetched._result_cache = lines
    prefetched._prefetch_done = True  # type: ignore[attr-defined]
    order._prefetched_objects_cache = {"lines": prefetched}  # type: ignore[attr-defined]


def order_place_once(*, idempotency_key: str, fingerprint: str, **order: Any) -> tuple[Order, bool]:
    """Place an order at most once per `idempotency_key`: returns (order, created).

    A key belongs to the caller who sent it (`order["actor"]`): each user has a key space of
    their own and anonymous callers share one, so the same key from another caller places
    another order and never shows them someone else's. A retry by the same caller with the
    same key and request `fingerprint` gets the first order back; the same key with another
    fingerprint is refused with `IdempotencyConflict`. The key is claimed in one insert, with
    no read before it, in the transaction that places the order: concurrent retries queue on
    the key's unique index, so exactly one of them places the order. A refused order keeps no
    key: the client may retry once stock allows.
    """
    if (
        not isinstance(idempotency_key, str)
        or not 1 <= len(idempotency_key) <= 255
        or not _KEY.fullmatch(idempotency_key)
    ):
        raise ValidationFailed(
            "An Idempotency-Key is 1 to 255 printable ASCII characters.",
            fields={"Idempotency-Key": "invalid"},
        )
    caller = recorded_actor(order.get("actor"))
    for _ in range(3):
        refused: OrderRefused | None = None
        with transaction.atomic():
            claimed = _key_claim(idempotency_key, fingerprint, caller)
            if claimed is None:
                existing = _idempotent_order(idempotency_key, fingerprint, caller)
                if existing is not None:
                    return existing, False
                continue  # The key's holder was refused or removed meanwhile: claim it again.
            try:
                placed = order_place(**order)
            except OrderRefused as error:
                # Keep the refused demand that order_place recorded; free the key.
                IdempotencyKey.objects.filter(pk=claimed).delete()
                refused = error
            else:
                IdempotencyKey.objects.filter(pk=claimed).update(order=placed)
                return placed, True
        raise refused
    raise IdempotencyConflict(
        "This Idempotency-Key is in use by a request still being processed.",
        fields={"Idempotency-Key": "in use"},
    )


def _key_claim(key: str, fingerprint: str, caller: Any) -> int | None:
    """Insert the key for `caller` and return its row id, or None if the caller already has
    the key. The order it placed is set in the same transaction.

    One statement, no savepoint, in SQL that PostgreSQL and SQLite (`make run`) share: while
    another transaction holds an uncommitted row for the same key, PostgreSQL makes this insert
    wait on the unique index for that transaction's outcome (a committed row: None; a
    rolled-back one: this insert goes ahead); SQLite runs one writer at a time.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _KEY_CLAIM,
            [key, getattr(caller, "pk", None), fingerprint, timezone.now()],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _idempotent_order(key: str, fingerprint: str, caller: Any) -> Order | None:
    """The order the caller's key placed, with its lines as they are now (two queries)."""
    record = (
        IdempotencyKey.objects.filter(key=key, user=caller)
        .select_related("order")
        .prefetch_related(
            Prefetch(
                "order__lines", queryset=OrderLine.objects.select_related("product").order_by("pk")
            )
        )
        .first()
    )
    if record is None or record.order is None:
        return None
    if not secrets.compare_digest(record.fingerprint, fingerprint):
        raise IdempotencyConflict(
            "This Idempotency-Key was used for a different order.",
            fields={"Idempotency-Key": "reused with another body"},
        )
    return record.order


def order_line_cancel(
    *,
    line_id: int,
    quantity: int | None = None,
    reason: str = "",
    by_customer: bool = False,
    in_error: bool = False,
    actor: Any = None,
) -> OrderLine:
    """Cancel units of a line: backordered units first, then (staff only) allocated ones.

    Takes the product lock. Freed stock is offered to the backorder queue after commit.
    Customers may cancel only units that are neither allocated nor shipped. `in_error`
    (staff only): the units were entered in error and were never demand (`orders.demand`).
    """
    if quantity is not None:
        check_quantity(quantity)
    if in_error and by_customer:
        raise ValidationFailed(
            "Only staff mark a cancellation as entered in error.",
            fields={"entered_in_error": "staff only"},
        )
    with transaction.atomic():
        product_id = (
            OrderLine.objects.filter(pk=line_id).values_list("product_id", flat=True).first()
        )
        if product_id is None:
            raise ValidationFailed("Unknown order line.", fields={"line_id": "unknown"})
        product = lock_products([product_id])[product_id]
        line = OrderLine.objects.select_related("order").get(pk=line_id)
        cancellable = line.backordered + (0 if by_customer else line.allocated)
        if quantity is None:
            quantity = cancellable
        if quantity == 0 or quantity > cancellable:
            raise NotCancellable(
                f"Only {cancellable} unit(s) of this line can be cancelled.",
                fields={"quantity": f"at most {cancellable}"},
            )
        from_backorder = min(quantity, line.backordered)
        from_allocation = quantity - from_backorder
        if from_allocation:
            ledger.allocations_release(
                line, from_allocation, kind=StockMovement.Kind.DEALLOCATION, actor=actor
            )
        line.backordered -= from_backorder
        ledger.waiting_change({product_id: -from_backorder})
        line.allocated -= from_allocation
        line.cancelled += quantity
        if in_error:
            line.cancelled_in_error += quantity
        who = "customer" if by_customer else "staff"
        event = line_change(
            line,
            kind=OrderEvent.Kind.CANCELLED,
            quantity=quantity,
            actor=actor,
            message=(reason or f"Cancelled by {who}").strip(),
        )
        fields = ["allocated", "backordered", "cancelled", "cancelled_in_error", "status"]
        if line.status == OrderLine.Status.CANCELLED and line.eta is not None:
            EtaChange.objects.create(
                order=line.order,
                line=line,
                previous=line.eta,
                eta=None,
                cause=EtaChange.Cause.CANCELLED,
            )
            line.eta = None
            fields.append("eta")
        line.save(update_fields=fields)
        event.save()
        outbox.cancelled_notice(
            line=line,
            quantity=quantity,
            reason="" if by_customer else reason.strip(),
            by_customer=by_customer,
            event_id=event.pk,
        )
        if from_allocation:
            outbox.stock_alerts_release(product=product)
        # Lines behind it in the queue move up, and freed stock goes to them.
        refresh_after_commit(
            [product_id], cause=EtaChange.Cause.QUEUE_AHEAD_CANCELLED, detail=line.order.number
        )
    return line


@transaction.atomic
def shipment_create(
    *,
    order: Order,
    lines: Sequence[tuple[int, int]],
    tracking: str = "",
    carrier: str = "",
    actor: Any = None,
) -> Shipment:
    """Ship allocated units: `lines` are (order line id, quantity). Takes the product locks.

    An order that asked to ship complete ships only when nothing of it is backordered.
    """
    if not lines:
        raise ValidationFailed("A shipment needs at least one line.", fields={"lines": "required"})
    wanted: dict[int, int] = defaultdict(int)
    for index, (line_id, quantity) in enumerate(lines):
        wanted[line_id] += check_quantity(quantity, field=f"lines[{index}].quantity")
    order_lines = {line.pk: line for line in order.lines.all()}
    unknown = [line_id for line_id in wanted if line_id not in order_lines]
    if unknown:
        raise ValidationFailed("Unknown order line.", fields={"lines": f"unknown {unknown}"})
    lock_products(order_lines[line_id].product_id for line_id in wanted)
    order_lines = {line.pk: line for line in lock_order_lines(order.pk)}
    if order.ship_complete and any(line.backordered for line in order_lines.values()):
        raise NotShippable("This order ships complete and part of it is still backordered.")
    shipment = Shipment.objects.create(
        order=order,
        carrier=" ".join(carrier.split())[:50],
        tracking=tracking.strip()[:100],
        actor=recorded_actor(actor),
    )
    shipment_lines: list[ShipmentLine] = []
    events: list[OrderEvent] = []
    eta_changes: list[EtaChange] = []
    today = timezone.localdate()
    for line_id, quantity in wanted.items():
        line = order_lines[line_id]
        if quantity > line.allocated:
            raise NotShippable(
                f"Only {line.allocated} unit(s) of line {line_id} are allocated.",
                fields={"lines": {str(line_id): f"at most {line.allocated}"}},
            )
        released = ledger.allocations_release(
            line, quantity, kind=StockMovement.Kind.SHIPMENT, actor=actor
        )
        for stock, units in released:
            ledger.shipped_remove(stock, units)
            shipment_lines.append(
                ShipmentLine(shipment=shipment, order_line=line, stock=stock, quantity=units)
            )
        line.allocated -= quantity
        line.shipped += quantity
        events.append(
            line_change(
                line, kind=OrderEvent.Kind.SHIPPED, quantity=quantity, actor=actor, message=tracking
            )
        )
        fields = ["allocated", "shipped", "status"]
        if line.status == OrderLine.Status.SHIPPED and line.eta != today:
            eta_changes.append(
                EtaChange(
                    order=order,
                    line=line,
                    previous=line.eta,
                    eta=today,
                    cause=EtaChange.Cause.SHIPPED,
                    detail=tracking.strip()[:255],
                )
            )
            line.eta = today
            fields.append("eta")
        line.save(update_fields=fields)
    ShipmentLine.objects.bulk_create(shipment_lines)
    EtaChange.objects.bulk_create(eta_changes)
    OrderEvent.objects.bulk_create(events)
    outbox.shipped_notice(
        order=order,
        shipment_id=shipment.pk,
        carrier=shipment.carrier,
        tracking=shipment.tracking,
        lines=dict(wanted),
    )
    return shipment


@transaction.atomic
def order_priority_set(
    *, order_id: int, priority: int, actor: Any = None, reason: str = ""
) -> Order:
    """Move an order up or down the backorder queues of its products; `reason` (a VIP, a
    replacement for a lost parcel...) goes on the order's history with who did it.

    Takes the locks of the products it waits for; those queues are refilled and their ETAs
    recomputed after commit.
    """
    check_priority(priority)
    reason = check_text(reason, field="reason", max_length=200, required=False)
    waiting = sorted(
        set(
            OrderLine.objects.filter(order_id=order_id, backordered__gt=0).values_list(
                "product_id", flat=True
            )
        )
    )
    lock_products(waiting)
    order = lock_order(order_id)
    if order is None:
        raise ValidationFailed("Unknown order.", fields={"order": "unknown"})
    if order.priority == priority:
        return order
    previous, order.priority = order.priority, priority
    order.save(update_fields=["priority"])
    OrderLine.objects.filter(order=order).update(queue_priority=priority)
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.PRIORITY_CHANGED,
        message=f"Queue priority {previous} to {priority}" + (f": {reason}" if reason else ""),
        actor=recorded_actor(actor),
    )
    refresh_after_commit(waiting, cause=EtaChange.Cause.QUEUE_CHANGED, detail=order.number)
    return order


def order_ship_complete_set(
    *, order_id: int, ship_complete: bool, by_customer: bool = False, actor: Any = None
) -> Order:
    """Switch between shipping what is ready now and shipping everything together.

    Allowed only while nothing of the order has shipped. Takes the product locks of the
    order's lines, then its lines, as `shipment_create` does, so a shipment and a switch never
    cross. The customer is told by email.
    """
    if not isinstance(ship_complete, bool):
        raise ValidationFailed(
            "Choose to ship together or as ready.", fields={"ship_complete": "invalid"}
        )
    with transaction.atomic():
        product_ids = OrderLine.objects.filter(order_id=order_id).values_list(
            "product_id", flat=True
        )
        lock_products(set(product_ids))
        order = lock_order(order_id)
        if order is None:
            raise ValidationFailed("Unknown order.", fields={"order": "unknown"})
        lines = lock_order_lines(order.pk)
        if order.ship_complete == ship_complete:
            return order
        if any(line.shipped for line in lines):
            raise NotShippable(
                "Part of this order has shipped already, so how it ships can no longer change.",
                fields={"ship_complete": "already shipping"},
            )
        if not any(line.outstanding for line in lines):
            raise NotShippable(
                "Nothing of this order is left to ship.",
                fields={"ship_complete": "nothing to ship"},
            )
        order.ship_complete = ship_complete
        order.save(update_fields=["ship_complete"])
        who = "customer" if by_customer else "staff"
        choice = "ship everything together" if ship_complete else "ship what is ready now"
        event = OrderEvent.objects.create(
            order=order,
            kind=OrderEvent.Kind.SHIP_TOGETHER if ship_complete else OrderEvent.Kind.SHIP_AS_READY,
            message=f"Changed by {who} to {choice}",
            actor=recorded_actor(actor),
        )
        outbox.shipping_notice(order=order, event_id=event.pk, by_customer=by_customer)
    return order


@transaction.atomic
def order_locale_set(*, order_id: int, locale: object) -> Order:
    """The language of the order's pages and of every email after this one."""
    locale = check_locale(locale)
    order = lock_order(order_id)
    if order is None:
        raise ValidationFailed("Unknown order.", fields={"order": "unknown"})
    if order.locale != locale:
        order.locale = locale
        order.save(update_fields=["locale"])
    return order


def demand_refused(*, product: Product, quantity: int, reason: str) -> RefusedDemand:
    """Record demand the product's rules turned away outside checkout (the storefront's
    "add to cart"); placement records its own refusals with the order it refuses."""
    return RefusedDemand.objects.create(
        product=product, quantity=check_quantity(quantity, field="quantity"), reason=reason[:32]
    )

"""Services that change stock. Each takes the locks it needs (see `inventory.locks`)."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Case, DateField, F, IntegerField, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.batching import collect_on_commit
from inventory import selectors
from inventory.allocation import Policy, QueuedLine, Supply, fill_backorders
from inventory.eta import QueuedUnits, Timeline
from inventory.exceptions import (
    AlreadyExists,
    InsufficientStock,
    InvalidTransition,
    OverReceipt,
    ValidationFailed,
)
from inventory.locks import lock_products, lock_stocks
from inventory.models import (
    Allocation,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Stock,
    StockMovement,
    Supplier,
    SupplierProduct,
    Warehouse,
)
from notifications import services as notices
from orders.lifecycle import line_change, recorded_actor
from orders.models import EtaChange, Order, OrderEvent, OrderLine

logger = logging.getLogger(__name__)

MAX_QUANTITY = 1_000_000
# Django's bulk_update writes one CASE branch per row: cost grows with the square of the
# batch, so large updates go in slices.
UPDATE_BATCH_SIZE = 200
MAX_LEAD_TIME_DAYS = 3650
_CODE = re.compile(r"[-a-zA-Z0-9_]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINES = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


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


def check_text(
    value: object, *, field: str, max_length: int, required: bool = True, multiline: bool = False
) -> str:
    """Trimmed text the database can store, with no control characters (but line breaks, when
    `multiline`: they come back as "\\n")."""
    label = field.replace("_", " ").capitalize()
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"{label} is required.", fields={field: "required"})
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{label} must be text.", fields={field: "not text"})
    control = _CONTROL_BUT_NEWLINES if multiline else _CONTROL
    if not storable_text(value) or control.search(value):
        raise ValidationFailed(
            f"{label} contains control characters.", fields={field: "invalid characters"}
        )
    value = value.strip()
    if multiline:
        value = "\n".join(line.strip() for line in value.splitlines() if line.strip())
    if len(value) > max_length:
        raise ValidationFailed(
            f"{label} is too long.", fields={field: f"at most {max_length} characters"}
        )
    return value


def check_email(value: object, *, field: str = "email", required: bool = True) -> str:
    """A trimmed, valid email address (or "" when not `required` and absent)."""
    email = check_text(value, field=field, max_length=254, required=required)
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed(
                "Enter a valid email address.", fields={field: "invalid"}
            ) from None
    return email


def check_locale(value: object) -> str:
    """One of the languages orders and emails come in."""
    if value not in Order.Locale.values:
        raise ValidationFailed(
            "Unknown locale.", fields={"locale": f"one of {Order.Locale.values}"}
        )
    return str(value)


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


def warehouse_by_code(code: object) -> Warehouse:
    """The warehouse with this code; the default warehouse when `code` is None or empty."""
    if code is None or code == "":
        return warehouse_default()
    warehouse = (
        Warehouse.objects.filter(code=code).first()
        if isinstance(code, str) and _CODE.fullmatch(code)
        else None
    )
    if warehouse is None:
        raise ValidationFailed("Unknown warehouse.", fields={"warehouse": "unknown warehouse"})
    return warehouse


def storable_text(value: object) -> bool:
    """A string the database can store and compare: no NUL bytes or lone surrogates."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def enqueue_refresh(product_id: int, *, cause: str, detail: str = "") -> None:
    """After the current transaction commits, ask a worker to refresh the product.

    The worker fills the product's backorders from free stock, then recomputes the ETA of
    every waiting line, recording `cause` against each ETA that moves. Products a transaction
    changes for the same cause go to one task, so their customers get one email. If the
    broker is unreachable the commit still stands; the periodic sweeps catch up.
    """

    def add(bag: dict[tuple[str, str], set[int]]) -> None:
        bag.setdefault((cause, detail), set()).add(product_id)

    collect_on_commit("refresh-products", add, _send_refreshes)


def _send_refreshes(batches: dict[tuple[str, str], set[int]]) -> None:
    from inventory.tasks import refresh_products

    for (cause, detail), product_ids in sorted(batches.items()):
        try:
            refresh_products.delay(sorted(product_ids), cause, detail)
        except Exception:
            logger.exception("Could not queue a refresh of products %s", sorted(product_ids))


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
    cause: str = EtaChange.Cause.STOCK_CHANGED,
    detail: str = "",
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
    if quantity > 0:
        notices.stock_alerts_release(product=locked[product.pk])
    movement = StockMovement.objects.create(
        stock=stock,
        kind=kind,
        quantity=quantity,
        reason=reason,
        reference=reference,
        actor=recorded_actor(actor),
        order_line=order_line,
    )
    enqueue_refresh(product.pk, cause=cause, detail=detail or reference or reason)
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
    new_lines: bool = False,
) -> None:
    """Add (or, with negative units, remove) allocations and write their ledger rows.

    Caller must hold the product locks and keeps the order lines' own counters in step.
    `new_lines` says the lines were created in this transaction, so they have no allocation
    rows yet. Set-based: a fixed number of queries however many lines change.
    """
    changes = [(line, stock, units) for line, stock, units in changes if units]
    if not changes:
        return
    existing: dict[tuple[int, int], Allocation] = {}
    if not new_lines:
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
    per_stock = {stock_id: units for stock_id, units in per_stock.items() if units}
    if per_stock:
        # One statement for every stock row touched (a handful per product).
        Stock.objects.filter(pk__in=per_stock).update(
            allocated=F("allocated")
            + Case(
                *(When(pk=stock_id, then=Value(units)) for stock_id, units in per_stock.items()),
                output_field=IntegerField(),
            )
        )
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
    return _reallocate_locked(product, today)


def _reallocate_locked(product: Product, today: date) -> int:
    """`product_reallocate` for a caller that already holds the product lock."""
    product_id = product.pk
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
    notices.allocated_notice(
        fills=[
            notices.Filled(
                order_id=lines[fill.line_id].order_id,
                line_id=fill.line_id,
                quantity=fill.allocated,
                event_id=event.pk,
            )
            for fill, event in zip(fills, events, strict=True)
        ]
    )
    return sum(fill.allocated for fill in fills)


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


# ETAs ---------------------------------------------------------------------------------------

# A list of ids in one IN clause stays under every backend's parameter limit.
ID_CHUNK = 2000


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


@transaction.atomic
def product_etas_refresh(
    *, product_id: int, cause: str, detail: str = "", today: date | None = None
) -> int:
    """Recompute the ETA of every open line of the product; return how many moved.

    Takes the product lock. Each moved ETA gets an `EtaChange` row with `cause`, and a line
    with no promise yet gets this ETA as its first promise. Set-based: a fixed number of
    queries plus one update per distinct new date, however long the queue.
    """
    today = today or timezone.localdate()
    product = lock_products([product_id]).get(product_id)
    if product is None:
        return 0
    return _etas_refresh_locked(product, cause=cause, detail=detail, today=today)


def _etas_refresh_locked(product: Product, *, cause: str, detail: str, today: date) -> int:
    """`product_etas_refresh` for a caller that already holds the product lock."""
    product_id = product.pk
    free = selectors.free_units(product_id)
    rule = selectors.eta_rule(product, selectors.lead_times([product])[product_id], today)
    timeline = Timeline(
        free=free, incoming=selectors.incoming_supply([product_id])[product_id], rule=rule
    )
    queue = list(
        OrderLine.objects.filter(product_id=product_id, backordered__gt=0)
        .order_by(*queue_ordering())
        .values_list("pk", "order_id", "backordered", "eta", "notified_eta")
    )
    moved: list[tuple[int, int, date | None, date | None]] = []
    told: dict[int, date | None] = {}
    etas = timeline.walk([QueuedUnits(pk, units) for pk, _, units, _, _ in queue])
    for (pk, order_id, _, old, notified), line_eta in zip(queue, etas, strict=True):
        if line_eta.eta != old:
            moved.append((pk, order_id, old, line_eta.eta))
            told[pk] = notified
    # Allocated lines ship after handling; one whose planned date has passed ships today.
    ready = (
        OrderLine.objects.filter(product_id=product_id, backordered=0, allocated__gt=0)
        .filter(Q(eta__isnull=True) | Q(eta__lt=today) | Q(eta__gt=rule.ready))
        .values_list("pk", "order_id", "eta")
    )
    for pk, order_id, old in ready:
        moved.append((pk, order_id, old, rule.ready if old is None or old > rule.ready else today))

    by_date: dict[date | None, list[int]] = defaultdict(list)
    for pk, _, _, eta in moved:
        by_date[eta].append(pk)
    for eta, line_ids in by_date.items():
        for chunk in _chunks(line_ids):
            if eta is None:
                OrderLine.objects.filter(pk__in=chunk).update(eta=None)
            else:
                OrderLine.objects.filter(pk__in=chunk).update(
                    eta=eta,
                    first_promised_eta=Coalesce(
                        F("first_promised_eta"), Value(eta, output_field=DateField())
                    ),
                )
    now = timezone.now()
    changes = EtaChange.objects.bulk_create(
        [
            EtaChange(
                order_id=order_id,
                line_id=pk,
                previous=old,
                eta=new,
                cause=cause,
                detail=detail[:255],
                created_at=now,
            )
            for pk, order_id, old, new in moved
        ],
        batch_size=1000,
    )
    # Waiting lines whose ETA moved away from what their customer was told owe a notice.
    told_now = notices.eta_notices(
        moves=[
            notices.EtaMove(order_id, pk, told[pk], new, change.pk)
            for (pk, order_id, _, new), change in zip(moved, changes, strict=True)
            if pk in told
        ],
        cause=cause,
    )
    by_told: dict[date | None, list[int]] = defaultdict(list)
    for move in told_now:
        by_told[move.eta].append(move.line_id)
    for eta, line_ids in by_told.items():
        for chunk in _chunks(line_ids):
            OrderLine.objects.filter(pk__in=chunk).update(notified_eta=eta)
    return len(moved)


def _preorders_release(product: Product, today: date) -> int:
    """Turn a released product's pre-ordered lines into backorders; return how many.

    Caller must hold the product lock. Their place in the queue is kept.
    """
    if product.release_date is None or today < product.release_date:
        return 0
    lines = list(
        OrderLine.objects.filter(product=product, status=OrderLine.Status.PREORDERED).only(
            "order_id", "quantity", "allocated", "backordered", "shipped", "cancelled", "status"
        )
    )
    events = [
        line_change(
            line,
            kind=OrderEvent.Kind.RELEASED,
            preorder=False,
            message=f"Released on {product.release_date:%Y-%m-%d}",
        )
        for line in lines
    ]
    for chunk in _chunks([line.pk for line in lines]):
        OrderLine.objects.filter(pk__in=chunk).update(status=OrderLine.Status.BACKORDERED)
    OrderEvent.objects.bulk_create(events, batch_size=1000)
    return len(lines)


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


def product_supply_changed(*, product_ids: Iterable[int], detail: str = "") -> None:
    """Lead time, release date or supplier terms changed: recompute the products' ETAs."""
    for product_id in sorted(set(product_ids)):
        enqueue_refresh(product_id, cause=EtaChange.Cause.LEAD_TIME_CHANGED, detail=detail)


# Catalogue ----------------------------------------------------------------------------------

PRODUCT_FIELDS = (
    "name",
    "price",
    "backorder_policy",
    "lead_time_days",
    "backorder_limit",
    "max_per_order",
    "release_date",
)
# A change to one of these moves ETAs or releases pre-orders: the product is refreshed.
PRODUCT_SUPPLY_FIELDS = {
    "backorder_policy": "backorder policy",
    "lead_time_days": "lead time",
    "release_date": "release date",
}


def _check_count(
    value: object, *, field: str, minimum: int = 0, maximum: int = MAX_QUANTITY
) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed(
            f"{field.replace('_', ' ').capitalize()} must be a whole number from {minimum}"
            f" to {maximum}.",
            fields={field: f"{minimum} to {maximum}"},
        )
    return value


def _product_check(product: Product) -> None:
    """Domain checks on a product about to be saved; model-level rules come from full_clean."""
    product.name = check_text(product.name, field="name", max_length=200)
    if not isinstance(product.price, Decimal) or not product.price.is_finite():
        raise ValidationFailed("Enter a price.", fields={"price": "not a number"})
    if product.price < 0 or product.price >= Decimal("1e10"):
        raise ValidationFailed(
            "The price must be from 0 to 9999999999.99.", fields={"price": "out of range"}
        )
    if product.price != product.price.quantize(Decimal("0.01")):
        raise ValidationFailed(
            "The price has at most two decimal places.", fields={"price": "too precise"}
        )
    if product.backorder_policy not in Product.BackorderPolicy.values:
        raise ValidationFailed(
            "Unknown backorder policy.",
            fields={"backorder_policy": f"one of {Product.BackorderPolicy.values}"},
        )
    _check_count(product.lead_time_days, field="lead_time_days", maximum=MAX_LEAD_TIME_DAYS)
    _check_count(product.backorder_limit, field="backorder_limit")
    _check_count(product.max_per_order, field="max_per_order", minimum=1)
    if product.release_date is not None and (
        not isinstance(product.release_date, date) or isinstance(product.release_date, datetime)
    ):
        raise ValidationFailed("Enter a date as YYYY-MM-DD.", fields={"release_date": "not a date"})


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    backorder_policy: str = Product.BackorderPolicy.BACKORDER,
    lead_time_days: int | None = None,
    backorder_limit: int | None = None,
    max_per_order: int | None = None,
    release_date: date | None = None,
    actor: Any = None,
) -> Product:
    """Add a product to the catalogue; a duplicate SKU is refused with `AlreadyExists`."""
    sku = check_text(sku, field="sku", max_length=64)
    if any(character.isspace() for character in sku):
        raise ValidationFailed("A SKU has no spaces.", fields={"sku": "no spaces"})
    product = Product(
        sku=sku,
        name=name,
        price=price,
        backorder_policy=backorder_policy,
        lead_time_days=lead_time_days,
        backorder_limit=backorder_limit,
        max_per_order=max_per_order,
        release_date=release_date,
    )
    _product_check(product)
    # The unique index decides under concurrency; the savepoint keeps the transaction usable.
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise AlreadyExists(
            f"A product with SKU {sku} already exists.", fields={"sku": "already exists"}
        ) from None
    return product


@transaction.atomic
def product_update(*, product_id: int, changes: dict[str, Any], actor: Any = None) -> Product:
    """Change a product's catalogue fields. Takes the product lock.

    A change to the policy, lead time or release date refreshes the product's backorders and
    ETAs after commit.
    """
    unknown = sorted(set(changes) - set(PRODUCT_FIELDS))
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed.", fields={name: "read-only" for name in unknown}
        )
    product = lock_products([product_id]).get(product_id)
    if product is None:
        raise ValidationFailed("Unknown product.", fields={"sku": "unknown"})
    changed = [name for name, value in changes.items() if getattr(product, name) != value]
    if not changed:
        return product
    for name in changed:
        setattr(product, name, changes[name])
    _product_check(product)
    product.save(update_fields=[*changed, "updated_at"])
    supply = [label for name, label in PRODUCT_SUPPLY_FIELDS.items() if name in changed]
    if supply:
        product_supply_changed(
            product_ids=[product.pk], detail=f"{', '.join(supply).capitalize()} changed"
        )
    return product


def supplier_create(
    *, name: str, email: str = "", lead_time_days: int, actor: Any = None
) -> Supplier:
    """Add a supplier; a duplicate name is refused with `AlreadyExists`."""
    name = check_text(name, field="name", max_length=200)
    email = check_email(email, required=False)
    if lead_time_days is None:
        raise ValidationFailed(
            "Say the supplier's lead time.", fields={"lead_time_days": "required"}
        )
    _check_count(lead_time_days, field="lead_time_days", maximum=MAX_LEAD_TIME_DAYS)
    try:
        with transaction.atomic():
            return Supplier.objects.create(name=name, email=email, lead_time_days=lead_time_days)
    except IntegrityError:
        raise AlreadyExists(
            f"A supplier named {name} already exists.", fields={"name": "already exists"}
        ) from None


# Purchasing ---------------------------------------------------------------------------------

MAX_PURCHASE_LINES = 500


@dataclass(frozen=True)
class PurchaseLineRequest:
    sku: str
    quantity: int
    expected_date: date
    unit_cost: Decimal | None = None


@dataclass(frozen=True)
class ReceiptRequest:
    """Units received against a purchase order: by SKU, or by line id."""

    quantity: int
    sku: str | None = None
    line_id: int | None = None


def _check_date(value: object, *, field: str, today: date) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed("Enter a date as YYYY-MM-DD.", fields={field: "not a date"})
    if value < today:
        raise ValidationFailed(
            "The expected date cannot be in the past.", fields={field: f"on or after {today}"}
        )
    return value


def _purchase_order_lock(purchase_order_id: int) -> PurchaseOrder:
    """Lock one purchase order's row: every change to it and its lines goes through this."""
    purchase_order = (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("supplier", "warehouse")
        .filter(pk=purchase_order_id)
        .first()
    )
    if purchase_order is None:
        raise ValidationFailed("Unknown purchase order.", fields={"purchase_order": "unknown"})
    return purchase_order


def _purchase_order_settle(purchase_order: PurchaseOrder) -> None:
    """Set the status the lines now imply (draft and cancelled orders keep theirs)."""
    if purchase_order.status in (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.CANCELLED):
        return
    lines = list(purchase_order.lines.all())
    if all(line.outstanding == 0 for line in lines):
        status = (
            PurchaseOrder.Status.RECEIVED
            if any(line.received for line in lines)
            else PurchaseOrder.Status.CANCELLED
        )
    elif any(line.received for line in lines):
        status = PurchaseOrder.Status.PARTIALLY_RECEIVED
    else:
        status = PurchaseOrder.Status.ORDERED
    if status != purchase_order.status:
        purchase_order.status = status
        purchase_order.save(update_fields=["status"])


def _purchase_order_announce(purchase_order: PurchaseOrder, *, cause: str, detail: str) -> None:
    product_ids = purchase_order.lines.values_list("product_id", flat=True).distinct().order_by()
    for product_id in sorted(product_ids):
        enqueue_refresh(product_id, cause=cause, detail=detail)


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    lines: Sequence[PurchaseLineRequest],
    warehouse: Warehouse | None = None,
    reference: str = "",
    notes: str = "",
    place: bool = True,
    actor: Any = None,
    today: date | None = None,
) -> PurchaseOrder:
    """Create a purchase order; placed (status ordered) unless `place` is False.

    A placed order counts as incoming supply at once: the products' ETAs are recomputed after
    commit. Unit costs default to the supplier's terms.
    """
    today = today or timezone.localdate()
    if not supplier.is_active:
        raise ValidationFailed("This supplier is inactive.", fields={"supplier": "inactive"})
    if not lines:
        raise ValidationFailed("A purchase order needs lines.", fields={"lines": "required"})
    if len(lines) > MAX_PURCHASE_LINES:
        raise ValidationFailed("Too many lines.", fields={"lines": f"at most {MAX_PURCHASE_LINES}"})
    for index, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{index}].quantity")
        _check_date(line.expected_date, field=f"lines[{index}].expected_date", today=today)
        if line.unit_cost is not None and line.unit_cost < 0:
            raise ValidationFailed(
                "Unit cost cannot be negative.", fields={f"lines[{index}].unit_cost": "negative"}
            )
    products = products_by_sku([line.sku for line in lines])
    costs = _terms_costs(supplier.pk, [product.pk for product in products.values()])
    purchase_order = PurchaseOrder.objects.create(
        supplier=supplier,
        warehouse=warehouse or warehouse_default(),
        status=PurchaseOrder.Status.ORDERED if place else PurchaseOrder.Status.DRAFT,
        ordered_at=timezone.now() if place else None,
        reference=(reference or "").strip()[:100],
        notes=notes or "",
        actor=recorded_actor(actor),
    )
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=purchase_order,
            product=products[line.sku],
            quantity=line.quantity,
            expected_date=line.expected_date,
            first_expected_date=line.expected_date,
            unit_cost=(
                line.unit_cost if line.unit_cost is not None else costs.get(products[line.sku].pk)
            ),
        )
        for line in lines
    )
    if place:
        _purchase_order_announce(
            purchase_order, cause=EtaChange.Cause.PO_CREATED, detail=purchase_order.number
        )
    return purchase_order


def _terms_costs(supplier_id: int, product_ids: Iterable[int]) -> dict[int, Decimal | None]:
    """The unit cost in the supplier's terms for each product: a line's default cost."""
    return dict(
        SupplierProduct.objects.filter(
            supplier_id=supplier_id, product_id__in=list(product_ids)
        ).values_list("product_id", "unit_cost")
    )


@transaction.atomic
def purchase_order_draft_lines_save(
    *,
    purchase_order_id: int,
    lines: Sequence[PurchaseOrderLine],
    deleted: Sequence[PurchaseOrderLine] = (),
    actor: Any = None,
) -> None:
    """Save edited lines of a draft (new ones too) and delete `deleted`. Locks the order.

    A draft promises nothing yet, so each line's first expected date follows its expected
    date; a new line without a unit cost takes the one in the supplier's terms.
    """
    purchase_order = _purchase_order_lock(purchase_order_id)
    if purchase_order.status != PurchaseOrder.Status.DRAFT:
        raise InvalidTransition(
            f"{purchase_order.number} was placed or cancelled meanwhile: nothing was saved."
        )
    for line in deleted:
        PurchaseOrderLine.objects.filter(pk=line.pk, purchase_order=purchase_order).delete()
    costs = _terms_costs(purchase_order.supplier_id, [line.product_id for line in lines])
    for line in lines:
        line.purchase_order = purchase_order
        line.first_expected_date = line.expected_date
        if line.pk is None and line.unit_cost is None:
            line.unit_cost = costs.get(line.product_id)
        line.save()


@transaction.atomic
def purchase_order_place(
    *, purchase_order_id: int, actor: Any = None, today: date | None = None
) -> PurchaseOrder:
    """Send a draft to the supplier: from now on its lines count as incoming supply."""
    today = today or timezone.localdate()
    purchase_order = _purchase_order_lock(purchase_order_id)
    if purchase_order.status != PurchaseOrder.Status.DRAFT:
        raise InvalidTransition(
            f"{purchase_order.number} is {purchase_order.get_status_display().lower()}, "
            "not a draft."
        )
    lines = list(purchase_order.lines.all())
    if not any(line.outstanding for line in lines):
        raise ValidationFailed(
            "Nothing on this purchase order is still to be ordered.", fields={"lines": "required"}
        )
    for line in lines:
        _check_date(line.expected_date, field=f"line {line.pk} expected_date", today=today)
    purchase_order.status = PurchaseOrder.Status.ORDERED
    purchase_order.ordered_at = timezone.now()
    purchase_order.save(update_fields=["status", "ordered_at"])
    PurchaseOrderLine.objects.filter(purchase_order=purchase_order).update(
        first_expected_date=F("expected_date")
    )
    _purchase_order_announce(
        purchase_order, cause=EtaChange.Cause.PO_CREATED, detail=purchase_order.number
    )
    return purchase_order


def _purchase_line_lock(line_id: int) -> tuple[PurchaseOrder, PurchaseOrderLine]:
    purchase_order_id = (
        PurchaseOrderLine.objects.filter(pk=line_id).values_list("purchase_order_id", flat=True)
    ).first()
    if purchase_order_id is None:
        raise ValidationFailed("Unknown purchase order line.", fields={"line_id": "unknown"})
    purchase_order = _purchase_order_lock(purchase_order_id)
    return purchase_order, purchase_order.lines.select_related("product").get(pk=line_id)


@transaction.atomic
def purchase_order_line_reschedule(
    *, line_id: int, expected_date: date, actor: Any = None, today: date | None = None
) -> PurchaseOrderLine:
    """The supplier moved a delivery: change the line's expected date. Locks the order."""
    today = today or timezone.localdate()
    purchase_order, line = _purchase_line_lock(line_id)
    expected_date = _check_date(expected_date, field="expected_date", today=today)
    if purchase_order.status == PurchaseOrder.Status.CANCELLED or line.outstanding == 0:
        raise InvalidTransition("Nothing of this line is still to arrive.")
    if expected_date == line.expected_date:
        return line
    previous = line.expected_date
    line.expected_date = expected_date
    fields = ["expected_date"]
    if purchase_order.status == PurchaseOrder.Status.DRAFT:
        line.first_expected_date = expected_date
        fields.append("first_expected_date")
    line.save(update_fields=fields)
    if purchase_order.status in PurchaseOrder.OPEN_STATUSES:
        enqueue_refresh(
            line.product_id,
            cause=EtaChange.Cause.PO_DATE_CHANGED,
            detail=f"{purchase_order.number}: {previous:%Y-%m-%d} to {expected_date:%Y-%m-%d}",
        )
    return line


@transaction.atomic
def purchase_order_line_cancel(*, line_id: int, actor: Any = None) -> PurchaseOrderLine:
    """Cancel what is still to arrive on one line. Locks the order."""
    purchase_order, line = _purchase_line_lock(line_id)
    if purchase_order.status == PurchaseOrder.Status.CANCELLED or line.outstanding == 0:
        raise InvalidTransition("Nothing of this line is still to arrive.")
    line.cancelled += line.outstanding
    line.save(update_fields=["cancelled"])
    _purchase_order_settle(purchase_order)
    if purchase_order.status != PurchaseOrder.Status.DRAFT:
        enqueue_refresh(
            line.product_id, cause=EtaChange.Cause.PO_CANCELLED, detail=purchase_order.number
        )
    return line


@transaction.atomic
def purchase_order_cancel(*, purchase_order_id: int, actor: Any = None) -> PurchaseOrder:
    """Cancel everything still to arrive on the order. Locks the order."""
    purchase_order = _purchase_order_lock(purchase_order_id)
    if purchase_order.status in (PurchaseOrder.Status.RECEIVED, PurchaseOrder.Status.CANCELLED):
        raise InvalidTransition(
            f"{purchase_order.number} is already {purchase_order.get_status_display().lower()}."
        )
    was_open = purchase_order.status in PurchaseOrder.OPEN_STATUSES
    PurchaseOrderLine.objects.filter(purchase_order=purchase_order).update(
        cancelled=F("quantity") - F("received")
    )
    if purchase_order.status == PurchaseOrder.Status.DRAFT:
        purchase_order.status = PurchaseOrder.Status.CANCELLED
        purchase_order.save(update_fields=["status"])
    else:
        _purchase_order_settle(purchase_order)
    if was_open:
        _purchase_order_announce(
            purchase_order, cause=EtaChange.Cause.PO_CANCELLED, detail=purchase_order.number
        )
    return purchase_order


@transaction.atomic
def purchase_order_receive(
    *,
    purchase_order_id: int,
    lines: Sequence[ReceiptRequest],
    received_on: date | None = None,
    reference: str = "",
    actor: Any = None,
) -> list[PurchaseReceipt]:
    """Book goods arriving against a purchase order: partial receipts allowed.

    Locks the order, then each product. Units received by SKU go to that product's open lines
    soonest expected first. Receiving more than is outstanding is refused (`OverReceipt`) and
    changes nothing. Each receipt writes a ledger row, records its delay against the date the
    supplier first promised, and refreshes the product after commit.
    """
    today = timezone.localdate()
    received_on = received_on or today
    if not isinstance(received_on, date) or received_on > today:
        raise ValidationFailed(
            "Goods cannot be received in the future.", fields={"received_on": f"at most {today}"}
        )
    if not lines:
        raise ValidationFailed("Say what was received.", fields={"lines": "required"})
    purchase_order = _purchase_order_lock(purchase_order_id)
    if purchase_order.status not in PurchaseOrder.OPEN_STATUSES:
        raise InvalidTransition(
            f"{purchase_order.number} is {purchase_order.get_status_display().lower()}: "
            "only an ordered purchase order can be received."
        )
    ordered_on = timezone.localdate(purchase_order.ordered_at or purchase_order.created_at)
    if received_on < ordered_on:
        raise ValidationFailed(
            f"{purchase_order.number} was placed on {ordered_on:%Y-%m-%d}: goods cannot have"
            " arrived before that.",
            fields={"received_on": f"on or after {ordered_on:%Y-%m-%d}"},
        )
    order_lines = list(
        purchase_order.lines.select_related("product").order_by("expected_date", "pk")
    )
    by_id = {line.pk: line for line in order_lines}
    wanted: dict[int, int] = defaultdict(int)
    for index, request in enumerate(lines):
        quantity = check_quantity(request.quantity, field=f"lines[{index}].quantity")
        if (request.sku is None) == (request.line_id is None):
            raise ValidationFailed(
                "Name each received line by SKU or by line id.",
                fields={f"lines[{index}]": "sku or line_id required"},
            )
        if request.line_id is not None:
            if request.line_id not in by_id:
                raise ValidationFailed(
                    "That line is not on this purchase order.",
                    fields={f"lines[{index}].line_id": "unknown"},
                )
            targets = [by_id[request.line_id]]
        else:
            targets = [line for line in order_lines if line.product.sku == request.sku]
            if not targets:
                raise ValidationFailed(
                    "That SKU is not on this purchase order.",
                    fields={f"lines[{index}].sku": "not on this purchase order"},
                )
        room = sum(line.outstanding - wanted[line.pk] for line in targets)
        if quantity > room:
            raise OverReceipt(
                f"Only {room} unit(s) of {targets[0].product.sku} are still to arrive"
                f" on {purchase_order.number}.",
                fields={f"lines[{index}].quantity": f"at most {room}"},
            )
        for line in targets:
            take = min(quantity, line.outstanding - wanted[line.pk])
            wanted[line.pk] += take
            quantity -= take

    # All the products first, in primary-key order, so two receipts never deadlock.
    lock_products(line.product_id for line in order_lines if wanted.get(line.pk))
    slip_before = _expected_slip(purchase_order.supplier_id)
    receipts: list[PurchaseReceipt] = []
    for line in order_lines:
        quantity = wanted.get(line.pk, 0)
        if not quantity:
            continue
        movement = _change_on_hand(
            product=line.product,
            warehouse=purchase_order.warehouse,
            quantity=quantity,
            kind=StockMovement.Kind.RECEIPT,
            reason="Purchase order received",
            reference=(reference or purchase_order.number)[:100],
            actor=actor,
            cause=EtaChange.Cause.PO_RECEIVED,
            detail=purchase_order.number,
        )
        line.received += quantity
        line.save(update_fields=["received"])
        receipts.append(
            PurchaseReceipt.objects.create(
                line=line,
                quantity=quantity,
                received_on=received_on,
                expected_date=line.expected_date,
                delay_days=(received_on - line.first_expected_date).days,
                movement=movement,
                actor=recorded_actor(actor),
            )
        )
    _purchase_order_settle(purchase_order)
    slip_after = _expected_slip(purchase_order.supplier_id)
    if slip_after != slip_before:
        # The supplier's proven delay is part of its lead time for every product it supplies.
        product_supply_changed(
            product_ids=SupplierProduct.objects.filter(
                supplier_id=purchase_order.supplier_id
            ).values_list("product_id", flat=True),
            detail=f"{purchase_order.supplier.name}: {slip_after} day(s) late on average",
        )
    return receipts


def _expected_slip(supplier_id: int) -> int:
    reliability = selectors.supplier_reliability([supplier_id]).get(supplier_id)
    return reliability.expected_slip_days if reliability else 0

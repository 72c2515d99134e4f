"""Purchasing services: purchase orders from draft to received, and what each step promises.

A placed purchase order is incoming supply: placing, rescheduling or cancelling one asks for
its products' refresh after commit (`inventory.refresh`), so waiting customers' ETAs follow
the supplier's dates. A receipt books the goods through `inventory.stock.stock_change`, like
any other arrival, and records the supplier's delay. Placing an order (at once or from a
draft) owes the supplier one email of it (`notifications.outbox.purchase_order_notice`).
Every change to an order and its lines locks the order first
(`inventory.locks.lock_purchase_order`), then its products.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory import selectors
from inventory.catalogue import product_supply_changed
from inventory.checks import (
    MAX_PURCHASE_LINES,
    check_future_date,
    check_quantity,
    check_text,
    storable_text,
)
from inventory.exceptions import InvalidTransition, OverReceipt, ValidationFailed
from inventory.locks import lock_products, lock_purchase_order
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    StockMovement,
    Supplier,
    Warehouse,
)
from inventory.refresh import refresh_after_commit
from inventory.stock import stock_change
from notifications.outbox import purchase_order_notice
from orders.lifecycle import recorded_actor
from orders.models import EtaChange


@dataclass(frozen=True)
class PurchaseLineRequest:
    sku: str
    quantity: int
    expected_date: date
    unit_cost: Decimal | None = None


@dataclass(frozen=True)
class LineChange:
    """What `purchase_order_lines_change` did to one line."""

    line: PurchaseOrderLine
    """The line as saved."""
    previous_expected_date: date
    cancelled: int
    """Units this change cancelled: 0 for a new date."""


# What staff may note on a purchase order whatever its status.
PURCHASE_ORDER_FIELDS = ("reference", "notes")
# What a draft may change too: receipts and the supplier's record are booked against these.
PURCHASE_ORDER_DRAFT_FIELDS = ("supplier", "warehouse", *PURCHASE_ORDER_FIELDS)


@dataclass(frozen=True)
class ReceiptRequest:
    """Units received against a purchase order: by SKU, or by line id."""

    quantity: int
    sku: str | None = None
    line_id: int | None = None


def _purchase_order_lock(purchase_order_id: int) -> PurchaseOrder:
    purchase_order = lock_purchase_order(purchase_order_id)
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
    refresh_after_commit(sorted(product_ids), cause=cause, detail=detail)


@transaction.atomic
def purchase_order_create(
    *,
    supplier: Supplier,
    lines: Sequence[PurchaseLineRequest],
    warehouse: Warehouse | None = None,
    reference: str = "",
    notes: str = "",
    place: bool = True,
    origin: str = PurchaseOrder.Origin.STAFF,
    actor: Any = None,
    today: date | None = None,
) -> PurchaseOrder:
    """Create a purchase order; placed (status ordered) unless `place` is False. `origin`:
    who drafted it (staff, or the replenishment suggestions).

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
        check_future_date(line.expected_date, field=f"lines[{index}].expected_date", today=today)
        if line.unit_cost is not None and line.unit_cost < 0:
            raise ValidationFailed(
                "Unit cost cannot be negative.", fields={f"lines[{index}].unit_cost": "negative"}
            )
    products = selectors.products_by_sku([line.sku for line in lines])
    costs = selectors.terms_costs(supplier.pk, [product.pk for product in products.values()])
    purchase_order = PurchaseOrder.objects.create(
        supplier=supplier,
        warehouse=warehouse or selectors.warehouse_default(),
        status=PurchaseOrder.Status.ORDERED if place else PurchaseOrder.Status.DRAFT,
        ordered_at=timezone.now() if place else None,
        reference=(reference or "").strip()[:100],
        notes=notes or "",
        origin=origin,
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
        purchase_order_notice(purchase_order=purchase_order)
        _purchase_order_announce(
            purchase_order, cause=EtaChange.Cause.PO_CREATED, detail=purchase_order.number
        )
    return purchase_order


def _purchase_order_apply(
    purchase_order: PurchaseOrder, changes: Mapping[str, Any], fields: Sequence[str]
) -> None:
    """Check `changes` against what may change now (`fields`), then save them."""
    unknown = sorted(set(changes) - set(fields))
    if unknown:
        raise InvalidTransition(
            f"{purchase_order.number} is {purchase_order.get_status_display().lower()}:"
            f" its {', '.join(unknown)} cannot be changed.",
            fields={name: "read-only" for name in unknown},
        )
    values = dict(changes)
    if "supplier" in values:
        supplier = values["supplier"]
        if not isinstance(supplier, Supplier):
            raise ValidationFailed("Unknown supplier.", fields={"supplier": "unknown"})
        if supplier.pk != purchase_order.supplier_id and not supplier.is_active:
            raise ValidationFailed("This supplier is inactive.", fields={"supplier": "inactive"})
    if "warehouse" in values and not isinstance(values["warehouse"], Warehouse):
        raise ValidationFailed("Unknown warehouse.", fields={"warehouse": "unknown warehouse"})
    if "reference" in values:
        values["reference"] = check_text(
            values["reference"], field="reference", max_length=100, required=False
        )
    if "notes" in values:
        values["notes"] = values["notes"] or ""
        if not storable_text(values["notes"]):
            raise ValidationFailed(
                "Notes contain characters that cannot be stored.",
                fields={"notes": "invalid characters"},
            )
    changed = [name for name, value in values.items() if getattr(purchase_order, name) != value]
    for name in changed:
        setattr(purchase_order, name, values[name])
    if changed:
        purchase_order.save(update_fields=changed)


@transaction.atomic
def purchase_order_update(
    *,
    purchase_order_id: int,
    changes: Mapping[str, Any],
    draft_only: bool = False,
    actor: Any = None,
) -> PurchaseOrder:
    """Change a purchase order's reference or notes, and a draft's supplier or warehouse too.
    Locks the order.

    Once the order is placed its supplier and warehouse are fixed, since receipts and the
    supplier's delivery record are booked against them: a change to them is refused
    (`InvalidTransition`) and changes nothing. A draft's header changes nothing promised, so
    no ETA moves. `draft_only` is for an edit of a draft: it is refused once the order is
    placed or cancelled, even with nothing to change. Called before
    `purchase_order_draft_lines_save` in the same transaction, the lock then holds until the
    lines are saved, so "place" sees either the old draft or the new one.
    """
    purchase_order = _purchase_order_lock(purchase_order_id)
    is_draft = purchase_order.status == PurchaseOrder.Status.DRAFT
    if draft_only and not is_draft:
        raise InvalidTransition(
            f"{purchase_order.number} was placed or cancelled meanwhile: nothing was saved."
        )
    fields = PURCHASE_ORDER_DRAFT_FIELDS if is_draft else PURCHASE_ORDER_FIELDS
    _purchase_order_apply(purchase_order, changes, fields)
    return purchase_order


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
    costs = selectors.terms_costs(purchase_order.supplier_id, [line.product_id for line in lines])
    for line in lines:
        line.purchase_order = purchase_order
        line.first_expected_date = line.expected_date
        if line.pk is None and line.unit_cost is None:
            line.unit_cost = costs.get(line.product_id)
        line.save()


@transaction.atomic
def purchase_order_place(
    *,
    purchase_order_id: int,
    actor: Any = None,
    today: date | None = None,
    automatic: bool = False,
) -> PurchaseOrder:
    """Send a draft to the supplier: from now on its lines count as incoming supply, and
    the supplier is emailed the order. `automatic`: placed by the nightly run."""
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
        check_future_date(line.expected_date, field=f"line {line.pk} expected_date", today=today)
    purchase_order.status = PurchaseOrder.Status.ORDERED
    purchase_order.ordered_at = timezone.now()
    purchase_order.auto_placed = automatic
    purchase_order.save(update_fields=["status", "ordered_at", "auto_placed"])
    PurchaseOrderLine.objects.filter(purchase_order=purchase_order).update(
        first_expected_date=F("expected_date")
    )
    purchase_order_notice(purchase_order=purchase_order)
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


def _check_outstanding(
    purchase_order: PurchaseOrder, line: PurchaseOrderLine, field: str | None
) -> None:
    if purchase_order.status == PurchaseOrder.Status.CANCELLED or line.outstanding == 0:
        raise InvalidTransition(
            "Nothing of this line is still to arrive.",
            fields={field: "nothing to arrive"} if field else None,
        )


def _line_reschedule(
    purchase_order: PurchaseOrder,
    line: PurchaseOrderLine,
    expected_date: date,
    *,
    today: date,
    field: str | None = None,
) -> None:
    """Move the line's expected date. Caller must hold the order's lock.

    `field` names the request item a refusal is about (its date is `{field}.expected_date`);
    None when the request is about this one line.
    """
    expected_date = check_future_date(
        expected_date, field=f"{field}.expected_date" if field else "expected_date", today=today
    )
    _check_outstanding(purchase_order, line, field)
    if expected_date == line.expected_date:
        return
    previous = line.expected_date
    line.expected_date = expected_date
    fields = ["expected_date"]
    if purchase_order.status == PurchaseOrder.Status.DRAFT:
        line.first_expected_date = expected_date
        fields.append("first_expected_date")
    line.save(update_fields=fields)
    if purchase_order.status in PurchaseOrder.OPEN_STATUSES:
        refresh_after_commit(
            [line.product_id],
            cause=EtaChange.Cause.PO_DATE_CHANGED,
            detail=f"{purchase_order.number}: {previous:%Y-%m-%d} to {expected_date:%Y-%m-%d}",
        )


def _line_cancel(
    purchase_order: PurchaseOrder, line: PurchaseOrderLine, *, field: str | None = None
) -> int:
    """Cancel what is still to arrive on the line; return how many units. Caller must hold
    the order's lock. `field` as for `_line_reschedule`."""
    _check_outstanding(purchase_order, line, field)
    units = line.outstanding
    line.cancelled += units
    line.save(update_fields=["cancelled"])
    _purchase_order_settle(purchase_order)
    if purchase_order.status != PurchaseOrder.Status.DRAFT:
        refresh_after_commit(
            [line.product_id], cause=EtaChange.Cause.PO_CANCELLED, detail=purchase_order.number
        )
    return units


@transaction.atomic
def purchase_order_line_reschedule(
    *, line_id: int, expected_date: date, actor: Any = None, today: date | None = None
) -> PurchaseOrderLine:
    """The supplier moved a delivery: change the line's expected date. Locks the order."""
    today = today or timezone.localdate()
    purchase_order, line = _purchase_line_lock(line_id)
    _line_reschedule(purchase_order, line, expected_date, today=today)
    return line


@transaction.atomic
def purchase_order_line_cancel(*, line_id: int, actor: Any = None) -> PurchaseOrderLine:
    """Cancel what is still to arrive on one line. Locks the order."""
    purchase_order, line = _purchase_line_lock(line_id)
    _line_cancel(purchase_order, line)
    return line


@transaction.atomic
def purchase_order_lines_change(
    *,
    purchase_order_id: int,
    reschedule: Sequence[tuple[int, date]] = (),
    cancel: Sequence[int] = (),
    actor: Any = None,
    today: date | None = None,
) -> list[LineChange]:
    """Move the expected dates of some of the order's lines and cancel what is still to arrive
    on others: all or none. Locks the order.

    `reschedule` holds (line id, new expected date) pairs, `cancel` line ids. A refusal (a line
    not on the order or named twice, a date in the past, a line with nothing still to arrive)
    names the item it is about (`reschedule[i]`, `reschedule[i].expected_date`, `cancel[i]`)
    and changes nothing. Each change refreshes its product after commit, as
    `purchase_order_line_reschedule` and `purchase_order_line_cancel` do. Returns what was
    done, the reschedules first, each list in the order given.
    """
    today = today or timezone.localdate()
    if not reschedule and not cancel:
        raise ValidationFailed("Say which lines to change.", fields={"lines": "required"})
    purchase_order = _purchase_order_lock(purchase_order_id)
    lines = {line.pk: line for line in purchase_order.lines.select_related("product")}
    named = [(f"reschedule[{i}]", line_id) for i, (line_id, _) in enumerate(reschedule)]
    named += [(f"cancel[{i}]", line_id) for i, line_id in enumerate(cancel)]
    seen: set[int] = set()
    for field, line_id in named:
        if line_id not in lines:
            raise ValidationFailed(
                "That line is not on this purchase order.", fields={field: "unknown"}
            )
        if line_id in seen:
            raise ValidationFailed(
                "Either move the date or cancel the rest, not both.",
                fields={field: "named twice"},
            )
        seen.add(line_id)
    done: list[LineChange] = []
    for index, (line_id, expected_date) in enumerate(reschedule):
        line = lines[line_id]
        previous = line.expected_date
        _line_reschedule(
            purchase_order, line, expected_date, today=today, field=f"reschedule[{index}]"
        )
        done.append(LineChange(line=line, previous_expected_date=previous, cancelled=0))
    for index, line_id in enumerate(cancel):
        line = lines[line_id]
        units = _line_cancel(purchase_order, line, field=f"cancel[{index}]")
        done.append(
            LineChange(line=line, previous_expected_date=line.expected_date, cancelled=units)
        )
    return done


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
    slip_before = selectors.expected_slip(purchase_order.supplier_id)
    receipts: list[PurchaseReceipt] = []
    for line in order_lines:
        quantity = wanted.get(line.pk, 0)
        if not quantity:
            continue
        movement = stock_change(
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
    slip_after = selectors.expected_slip(purchase_order.supplier_id)
    if slip_after != slip_before:
        # The supplier's proven delay is part of its lead time for every product it supplies.
        product_supply_changed(
            product_ids=selectors.supplier_products(purchase_order.supplier_id),
            detail=f"{purchase_order.supplier.name}: {slip_after} day(s) late on average",
        )
    return receipts

"""The outbox writer: the rows that record which email a fact owes its customer.

Services call the `*_notice` functions inside the transaction that causes the fact. Each
writes `Notification` rows with a unique key naming the fact (the order, event, ETA change,
shipment or alert told about), so running the same change twice can never owe the customer
two emails. After commit one delivery task is asked to send every row the transaction wrote
(`config.batching`); a beat sweep sends whatever that task missed. Delivery itself is
`notifications.delivery`.

Suppliers are owed an email of each purchase order placed, and purchasing staff one of each
demand spike and of each order the nightly run placed (or held back) by itself.

Writes outbox rows and nothing else but the alerts it answers; reads only what a notice
needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.batching import Request, after_commit
from config.sql import fetch, json_lines, quote, table
from inventory import selectors
from inventory.locks import lock_pending_notifications
from inventory.models import (
    Product,
    PurchaseOrder,
    SpikeAlert,
    StockVerification,
    SupplierProduct,
)
from notifications.models import Notification, StockAlert
from orders.models import Order, OrderEvent, OrderLine

Kind = Notification.Kind

DELIVER_TASK = "notifications.tasks.deliver_notifications"


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _outbox_add(rows: Sequence[Notification]) -> list[int]:
    """Write outbox rows in the caller's transaction; deliver them once it commits."""
    if not rows:
        return []
    ids = [row.pk for row in Notification.objects.bulk_create(rows, batch_size=2000)]
    deliver_after_commit(ids)
    return ids


def delivery_request() -> Request:
    """Delivery of outbox rows: one task per batch, a moment after commit to gather more."""
    return Request(
        DELIVER_TASK,
        chunk=settings.BACKORDER_EMAIL_BATCH_SIZE,
        countdown=settings.BACKORDER_EMAIL_GATHER_SECONDS,
        failure="Could not queue delivery of {count} notification(s); the sweep will send them",
    )


def deliver_after_commit(ids: Iterable[int]) -> None:
    """Queue `ids` for delivery once the transaction commits."""
    after_commit(delivery_request(), ids)


def _order_row(order: Order, kind: str, key: str, data: dict[str, Any]) -> Notification:
    return _row(order.pk, (order.email, order.locale), kind, key, data)


def _row(
    order_id: int, to: tuple[str, str], kind: str, key: str, data: dict[str, Any]
) -> Notification:
    return Notification(
        key=f"{kind}:{key}",
        kind=kind,
        order_id=order_id,
        to=to[0],
        locale=to[1],
        data=data,
    )


# What orders are owed -----------------------------------------------------------------------


def confirmation_notice(*, order: Order, lines: Sequence[OrderLine]) -> None:
    """The order was placed: every line with its status and ETA (`orders.promises` records
    that each line's customer was told it)."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.CONFIRMATION,
                str(order.pk),
                {"lines": [{"id": line.pk, "eta": _iso(line.eta)} for line in lines]},
            )
        ]
    )


def _notices_insert(groups: str, params: Sequence[object], now: datetime) -> None:
    """Outbox rows for the rows of `groups` (SQL with columns `order_id`, `kind`, `key` and
    `data`), each to its order's customer, written in one statement and delivered once the
    transaction commits."""
    order, notification = table(Order), table(Notification)
    ids = [
        pk
        for (pk,) in fetch(
            f"INSERT INTO {notification} (key, kind, order_id, alert_id, {quote('to')}, locale,"
            f" data, status, attempts, next_attempt_at, last_error, message_id, created_at,"
            f" sent_at)"
            f" SELECT g.key, g.kind, g.order_id, NULL, o.email, o.locale, g.data, %s, 0, %s,"
            f" '', '', %s, NULL FROM ({groups}) g JOIN {order} o ON o.id = g.order_id"
            f" ORDER BY g.order_id, g.kind RETURNING id",
            [Notification.Status.PENDING.value, now, now, *params],
        )
    ]
    deliver_after_commit(ids)


def allocated_notices(*, fill: str, now: datetime) -> None:
    """Backordered units were allocated: one notice per order, listing what each of its
    lines got. Scratch table `fill` (columns `line_id`, `order_id`, `units`) names the units
    of the run; each line's "allocated" event was recorded at `now`. One statement however
    many orders."""
    event = table(OrderEvent)
    kind = Kind.ALLOCATED.value
    lines = json_lines({"id": "f.line_id", "quantity": "f.units"}, order_by="f.line_id")
    _notices_insert(
        f"SELECT f.order_id, '{kind}' AS kind,"
        f" '{kind}:' || f.order_id || ':' || MIN(e.id) AS key, {lines} AS data"
        f" FROM (SELECT line_id, order_id, SUM(units) AS units FROM {fill}"
        f" GROUP BY line_id, order_id ORDER BY line_id) f"
        f" JOIN {event} e ON e.order_id = f.order_id AND e.created_at = %s"
        f" AND e.line_id = f.line_id AND e.kind = %s"
        f" GROUP BY f.order_id",
        [now, OrderEvent.Kind.ALLOCATED.value],
        now,
    )


def eta_notices(*, told: str, params: Sequence[object], cause: str, now: datetime) -> None:
    """Delay and good-news notices: one per order and kind, each listing its lines' told
    and new ETA. `told` is SQL (with `params`) of the moves owed a notice (columns
    `line_id`, `order_id`, `told`, `eta`, `kind`, `change_id`); which moves, and of which
    kind, `orders.promises` decides. One statement however many orders."""
    lines = json_lines(
        {"id": "t.line_id", "previous_eta": "t.told", "eta": "t.eta"},
        order_by="t.change_id",
        extra={"cause": "CAST(%s AS text)" if connection.vendor == "postgresql" else "%s"},
    )
    _notices_insert(
        f"SELECT t.order_id, t.kind, t.kind || ':' || t.order_id || ':' || MIN(t.change_id)"
        f" AS key, {lines} AS data"
        f" FROM ({told} ORDER BY change_id) t GROUP BY t.order_id, t.kind",
        [cause, *params],
        now,
    )


def cancelled_notice(
    *, line: OrderLine, quantity: int, reason: str, by_customer: bool, event_id: int
) -> None:
    _outbox_add(
        [
            _order_row(
                line.order,
                Kind.CANCELLED,
                f"{line.order_id}:{event_id}",
                {
                    "by_customer": by_customer,
                    "reason": reason,
                    "lines": [{"id": line.pk, "quantity": quantity}],
                },
            )
        ]
    )


def shipped_notice(
    *, order: Order, shipment_id: int, tracking: str, lines: dict[int, int], carrier: str = ""
) -> None:
    """`lines` maps order line id to units shipped."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.SHIPPED,
                f"{order.pk}:{shipment_id}",
                {
                    "carrier": carrier,
                    "tracking": tracking,
                    "lines": [{"id": pk, "quantity": units} for pk, units in sorted(lines.items())],
                },
            )
        ]
    )


def shipping_notice(*, order: Order, event_id: int, by_customer: bool) -> None:
    """The order's delivery choice changed (`order.ship_complete` is the new one)."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.SHIPPING,
                f"{order.pk}:{event_id}",
                {"ship_complete": order.ship_complete, "by_customer": by_customer, "lines": []},
            )
        ]
    )


def kept_notice(*, order: Order, line: OrderLine, event_id: int) -> None:
    """The customer answered a delay notice: they keep waiting for `line`."""
    _outbox_add(
        [_order_row(order, Kind.KEPT, f"{order.pk}:{event_id}", {"lines": [{"id": line.pk}]})]
    )


def kept_notices_drop(line: OrderLine) -> None:
    """A "thank you for waiting" not yet sent is void once the customer cancels instead.
    Rows a delivery holds are being sent already and are left alone."""
    pending = lock_pending_notifications(order_id=line.order_id, kind=Kind.KEPT)
    void = [row.pk for row in pending if {"id": line.pk} in row.data.get("lines", [])]
    Notification.objects.filter(pk__in=void).delete()


def status_link_notice(*, order: Order) -> None:
    """Someone asked for the order's status link with its number and email address."""
    _outbox_add(
        [
            _order_row(
                order,
                Kind.STATUS_LINK,
                f"{order.pk}:{secrets.token_hex(8)}",
                {"lines": []},
            )
        ]
    )


# Back-in-stock alerts -----------------------------------------------------------------------


def stock_alerts_release(*, product: Product) -> int:
    """Tell everyone waiting for a `deny` product that it can be ordered again.

    Caller must hold the product lock and call this after stock became free. Returns how
    many customers are told.
    """
    if (
        product.backorder_policy != Product.BackorderPolicy.DENY
        or selectors.free_units(product.pk) <= 0
    ):
        return 0
    alerts = list(
        StockAlert.objects.filter(product=product, notified_at__isnull=True).order_by(
            "created_at", "pk"
        )
    )
    if not alerts:
        return 0
    now = timezone.now()
    StockAlert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=now)
    _outbox_add(
        [
            Notification(
                key=f"{Kind.BACK_IN_STOCK}:{alert.pk}",
                kind=Kind.BACK_IN_STOCK,
                alert=alert,
                to=alert.email,
                locale=alert.locale,
                data={"sku": product.sku},
            )
            for alert in alerts
        ]
    )
    return len(alerts)


# Suppliers and staff ------------------------------------------------------------------------


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def purchase_order_notice(*, purchase_order: PurchaseOrder) -> None:
    """The purchase order was placed: its supplier is owed one email of it, in the
    supplier's language, with the lines as they were placed. Nothing when the supplier has
    no address (staff send it themselves)."""
    supplier = purchase_order.supplier
    if not supplier.email:
        return
    lines = (
        purchase_order.lines.select_related("product")
        .order_by("product__sku", "pk")
        .values_list("product__sku", "product__name", "quantity", "expected_date", "unit_cost")
    )
    skus = dict(
        SupplierProduct.objects.filter(
            supplier_id=supplier.pk, product__purchase_order_lines__purchase_order=purchase_order
        ).values_list("product__sku", "supplier_sku")
    )
    _outbox_add(
        [
            Notification(
                key=f"{Kind.PURCHASE_ORDER}:{purchase_order.pk}",
                kind=Kind.PURCHASE_ORDER,
                purchase_order=purchase_order,
                to=supplier.email,
                locale=supplier.language,
                data={
                    "number": purchase_order.number,
                    "lines": [
                        {
                            "sku": sku,
                            "supplier_sku": skus.get(sku, ""),
                            "name": name,
                            "quantity": quantity,
                            "expected_date": _iso(expected),
                            "unit_cost": _money(cost),
                        }
                        for sku, name, quantity, expected, cost in lines
                    ],
                },
            )
        ]
    )


def _staff_rows(
    kind: str,
    fact: int,
    staff: Sequence[tuple[int, str]],
    data: dict[str, Any],
    **about: Any,
) -> None:
    """One row per staff member (user id, address) about one fact, keyed by both."""
    _outbox_add(
        [
            Notification(key=f"{kind}:{fact}:{user_id}", kind=kind, to=email, data=data, **about)
            for user_id, email in staff
        ]
    )


def auto_ordered_notice(
    *,
    purchase_order: PurchaseOrder,
    placed: bool,
    value: Decimal,
    spent: Decimal,
    cap: Decimal,
    staff: Sequence[tuple[int, str]],
) -> None:
    """The nightly run placed a purchase order by itself, or held it back as a draft because
    the supplier's daily cap would be passed: each purchasing staff member is told."""
    lines = [
        {"sku": sku, "quantity": quantity, "expected_date": _iso(expected)}
        for sku, quantity, expected in purchase_order.lines.order_by("product__sku").values_list(
            "product__sku", "quantity", "expected_date"
        )
    ]
    data = {
        "number": purchase_order.number,
        "supplier": purchase_order.supplier.name,
        "placed": placed,
        "value": str(value),
        "spent": str(spent),
        "cap": str(cap),
        "lines": lines,
    }
    _staff_rows(Kind.AUTO_ORDERED, purchase_order.pk, staff, data, purchase_order=purchase_order)


def spike_notice(*, spike: SpikeAlert, staff: Sequence[tuple[int, str]]) -> None:
    """Demand for a product runs well above its forecast: each purchasing staff member is
    told once (the alert is once per product and window)."""
    product = spike.product
    data = {
        "sku": product.sku,
        "name": product.name,
        "observed": spike.observed,
        "expected": spike.expected,
        "first_day": _iso(spike.first_day),
        "backlog_units": spike.backlog_units,
    }
    _staff_rows(Kind.SPIKE, spike.pk, staff, data, spike=spike)


def verification_notice(
    *, verification: StockVerification, staff: Sequence[tuple[int, str]]
) -> None:
    """The stock verification found something: each staff member who adjusts stock is told
    what was repaired and what was left alone, once per run."""
    data = {
        "started_at": verification.started_at.isoformat(),
        "repaired": verification.repaired,
        "unexplained": verification.unexplained,
        "drift": verification.drift,
        "broken_links": verification.broken_links,
        "movements": verification.movements,
        "root": verification.root,
    }
    _staff_rows(Kind.VERIFICATION, verification.pk, staff, data, verification=verification)

"""Every row lock is taken here, always in primary-key order, so writers never deadlock.

The rule for stock: whoever changes a product's stock counters, allocations or order-line
counters first locks that product's row (`lock_products`), then its stock rows
(`lock_stocks`). The product lock is the mutex for the product's whole backorder queue:
placement, reallocation, cancellation and shipment of one product never interleave, while
different products proceed in parallel.

The other locks keep one order too, so no two writers wait on each other in a circle: a
purchase order before its products; products, then stock rows, then allocation rows; products
before the order and its lines; a delay answer before the products its cancellation locks.
Outbox rows are locked with SKIP LOCKED, so taking them never waits. Every function here must
run inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from inventory.models import Allocation, Product, PurchaseOrder, Stock, Supplier, Warehouse
from notifications.models import DelayAnswer, Notification
from orders.models import Order, OrderLine


def lock_products(product_ids: Iterable[int]) -> dict[int, Product]:
    """Lock the products' rows until the end of the transaction."""
    ids = sorted(set(product_ids))
    locked = Product.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",))
    return {product.pk: product for product in locked}


def lock_stocks(product_ids: Iterable[int]) -> list[Stock]:
    """Lock the products' stock rows. Caller must already hold `lock_products` for them."""
    ids = sorted(set(product_ids))
    return list(
        Stock.objects.filter(product_id__in=ids)
        .select_related("warehouse")
        .order_by("pk")
        .select_for_update(of=("self",))
    )


def lock_stock(product: Product, warehouse: Warehouse) -> Stock:
    """Lock (creating it if need be) the product's stock row in `warehouse`.

    Caller must hold the product lock, which also serialises creating its stock rows.
    """
    stock, _ = Stock.objects.select_for_update(of=("self",)).get_or_create(
        product=product, warehouse=warehouse
    )
    return stock


def lock_allocations(line_ids: Iterable[int]) -> list[Allocation]:
    """Lock the allocation rows of these order lines. Caller must hold their product locks."""
    return list(
        Allocation.objects.filter(order_line_id__in=sorted(set(line_ids)))
        .order_by("pk")
        .select_for_update()
    )


def lock_purchase_order(purchase_order_id: int) -> PurchaseOrder | None:
    """Lock one purchase order's row: every change to it and its lines goes through this."""
    return (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("supplier", "warehouse")
        .filter(pk=purchase_order_id)
        .first()
    )


def lock_supplier(supplier_id: int) -> Supplier | None:
    """Lock a supplier's row, so two edits of it never interleave."""
    return Supplier.objects.select_for_update().filter(pk=supplier_id).first()


def lock_order(order_id: int) -> Order | None:
    """Lock an order's row. Caller takes the product locks of its lines first, if it needs
    them."""
    return Order.objects.select_for_update().filter(pk=order_id).first()


def lock_order_lines(order_id: int) -> list[OrderLine]:
    """Lock an order's lines. Caller must hold the product locks of those lines."""
    return list(OrderLine.objects.select_for_update().filter(order_id=order_id).order_by("pk"))


def lock_pending_notifications(**recipient: Any) -> QuerySet[Notification]:
    """The pending outbox rows of one order, one alert or one row (`pk`) that no other
    delivery holds, locked."""
    return (
        Notification.objects.select_for_update(skip_locked=True)
        .filter(status=Notification.Status.PENDING, **recipient)
        .order_by("pk")
    )


def lock_failed_notifications(ids: Sequence[int]) -> list[int]:
    """Lock the failed rows among `ids`; return their ids."""
    return list(
        Notification.objects.select_for_update()
        .filter(pk__in=ids, status=Notification.Status.FAILED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lock_delay_answer(notification: Notification, line: OrderLine) -> DelayAnswer | None:
    """Lock the answer already given to a delay notice for a line, if any."""
    return (
        DelayAnswer.objects.select_for_update().filter(notification=notification, line=line).first()
    )

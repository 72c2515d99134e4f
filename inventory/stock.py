"""Stock services: goods received, counted, damaged or returned.

Every change of on-hand goes through `stock_change`, which takes the product lock, writes the
ledger (`inventory.ledger`), tells back-in-stock subscribers when units became free
(`notifications.outbox`) and asks for the product's refresh after commit
(`inventory.refresh`): the waiting backorders fill and ETAs move. Nothing else happens.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from inventory import ledger, selectors
from inventory.checks import check_quantity
from inventory.exceptions import ValidationFailed
from inventory.locks import lock_products
from inventory.models import Product, StockMovement, Warehouse
from inventory.refresh import refresh_after_commit
from notifications import outbox
from orders.models import EtaChange, OrderLine


def stock_change(
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
    """Change on-hand by `quantity` (signed), with every consequence. Takes the product lock.

    Caller must be in a transaction and has checked `quantity`.
    """
    if warehouse is None:
        warehouse = selectors.warehouse_default()
    locked = lock_products([product.pk]).get(product.pk)
    if locked is None:
        raise ValidationFailed("Unknown product.", fields={"sku": "unknown"})
    movement = ledger.on_hand_change(
        product=locked,
        warehouse=warehouse,
        quantity=quantity,
        kind=kind,
        reason=reason,
        reference=reference,
        actor=actor,
        order_line=order_line,
    )
    if quantity > 0:
        outbox.stock_alerts_release(product=locked)
    refresh_after_commit([product.pk], cause=cause, detail=detail or reference or reason)
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
    return stock_change(
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
    return stock_change(
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
    return stock_change(
        product=product,
        warehouse=warehouse,
        quantity=quantity,
        kind=StockMovement.Kind.RETURN,
        reason=(reason or "Customer return")[:255],
        reference="",
        actor=actor,
        order_line=order_line,
    )

"""Receipts under real concurrency: threads, each with its own PostgreSQL connection."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory.exceptions import OverReceipt
from inventory.models import PurchaseOrderLine, PurchaseReceipt, Stock
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_receive,
)
from tests.factories import ProductFactory, SupplierFactory
from tests.orders.test_concurrency import _in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_receipts_never_receive_more_than_was_ordered(default_warehouse):
    product = ProductFactory(sku="HOODIE-SE")
    order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest("HOODIE-SE", 10, timezone.localdate() + timedelta(days=3))],
    )
    refused: list[str] = []

    def work(_: int) -> None:
        try:
            purchase_order_receive(
                purchase_order_id=order.pk, lines=[ReceiptRequest(3, sku="HOODIE-SE")]
            )
        except OverReceipt as error:
            refused.append(error.code)

    errors = _in_threads(8, work)

    # 3 + 3 + 3 fit in 10; the other five find at most 1 unit left
    assert errors == []
    assert refused == ["over_receipt"] * 5
    assert PurchaseOrderLine.objects.get().received == 9
    assert PurchaseReceipt.objects.count() == 3
    assert Stock.objects.get(product=product).on_hand == 9
    call_command("verify_stock")


def test_receipts_of_the_same_products_in_opposite_orders_do_not_deadlock(default_warehouse):
    ProductFactory(sku="A")
    ProductFactory(sku="B")
    due = timezone.localdate() + timedelta(days=3)
    orders = [
        purchase_order_create(
            supplier=SupplierFactory(),
            lines=[
                PurchaseLineRequest(first, 50, due),
                PurchaseLineRequest(second, 50, due + timedelta(days=1)),
            ],
        )
        for first, second in (("A", "B"), ("B", "A"))
        for _ in range(3)
    ]

    def work(index: int) -> None:
        order = orders[index % len(orders)]
        for _ in range(5):
            purchase_order_receive(
                purchase_order_id=order.pk,
                lines=[ReceiptRequest(1, sku="A"), ReceiptRequest(1, sku="B")],
            )

    errors = _in_threads(12, work)

    assert errors == []
    assert sorted(Stock.objects.values_list("product__sku", "on_hand")) == [("A", 60), ("B", 60)]
    call_command("verify_stock")

"""Random sequences of everything that moves ETAs; after each refresh the stored ETAs obey the
rule: monotone in queue order, unknown only at the tail, allocated lines ship today, and the
quote for one more unit is what a new order is promised."""

import contextlib
import random
from datetime import timedelta

import pytest
from django.db.models import Sum

from inventory.exceptions import InsufficientStock
from inventory.models import PurchaseOrder, PurchaseOrderLine
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_receive,
)
from inventory.selectors import availability_quote, stock_drift
from inventory.stock import stock_adjust
from orders.models import EtaChange, OrderLine
from orders.queue import product_refresh
from orders.selectors import queue_ordering
from orders.services import LineRequest, order_line_cancel, order_place, shipment_create
from tests.factories import ProductFactory, SupplierFactory
from tests.helpers import today

pytestmark = pytest.mark.django_db
STEPS = 40


def check_invariants(product) -> None:
    queue = list(
        OrderLine.objects.filter(product=product, backordered__gt=0)
        .order_by(*queue_ordering())
        .values_list("eta", flat=True)
    )
    known = [eta for eta in queue if eta is not None]
    assert known == sorted(known), queue
    assert all(eta is None for eta in queue[len(known) :]), queue
    assert all(eta >= today() for eta in known)
    ready = OrderLine.objects.filter(product=product, backordered=0, allocated__gt=0)
    assert set(ready.values_list("eta", flat=True)) <= {today()}
    waiting = OrderLine.objects.filter(product=product, backordered__gt=0).aggregate(
        units=Sum("backordered")
    )["units"]
    if waiting:
        free = sum(stock.free for stock in product.stocks.all())
        assert free == 0, "free stock left while backorders wait"
    assert not OrderLine.objects.filter(status="cancelled", eta__isnull=False).exists()
    assert stock_drift() == []


@pytest.mark.parametrize("seed", range(6))
def test_random_supply_changes_keep_every_stored_eta_true(default_warehouse, seed):
    rng = random.Random(seed)
    product = ProductFactory(sku="RANDOM", lead_time_days=rng.choice([None, 7, 21]))
    supplier = SupplierFactory()

    def place() -> None:
        quote = availability_quote(product=product, quantity=1)
        order = order_place(
            email="r@example.com", name="R", lines=[LineRequest("RANDOM", 1)], priority=0
        )
        assert order.lines.get().eta == quote.eta

    def purchase() -> None:
        purchase_order_create(
            supplier=supplier,
            lines=[
                PurchaseLineRequest(
                    "RANDOM", rng.randint(1, 6), today() + timedelta(days=rng.randint(0, 40))
                )
            ],
        )

    def open_po_line() -> PurchaseOrderLine | None:
        lines = [
            line
            for line in PurchaseOrderLine.objects.filter(
                purchase_order__status__in=PurchaseOrder.OPEN_STATUSES
            ).order_by("pk")
            if line.outstanding
        ]
        return rng.choice(lines) if lines else None

    def reschedule() -> None:
        if line := open_po_line():
            purchase_order_line_reschedule(
                line_id=line.pk, expected_date=today() + timedelta(days=rng.randint(0, 60))
            )

    def cancel_po_line() -> None:
        if line := open_po_line():
            purchase_order_line_cancel(line_id=line.pk)

    def receive() -> None:
        if line := open_po_line():
            purchase_order_receive(
                purchase_order_id=line.purchase_order_id,
                lines=[ReceiptRequest(rng.randint(1, line.outstanding), line_id=line.pk)],
            )

    def cancel_order_line() -> None:
        lines = list(OrderLine.objects.filter(backordered__gt=0).order_by("pk"))
        if lines:
            order_line_cancel(line_id=rng.choice(lines).pk, by_customer=True)

    def ship() -> None:
        lines = list(OrderLine.objects.filter(allocated__gt=0).order_by("pk"))
        if lines:
            line = rng.choice(lines)
            shipment_create(order=line.order, lines=[(line.pk, line.allocated)])

    def adjust() -> None:
        # Below allocated is refused; the invariants then confirm it changed nothing.
        with contextlib.suppress(InsufficientStock):
            stock_adjust(product=product, quantity=rng.randint(-3, 3) or 1, reason="count")

    actions = [place] * 4 + [purchase, reschedule, cancel_po_line, receive, cancel_order_line]
    actions += [ship, adjust]
    for _ in range(STEPS):
        rng.choice(actions)()
        product_refresh(product_id=product.pk, cause=EtaChange.Cause.STOCK_CHANGED)
        product.refresh_from_db()
        check_invariants(product)

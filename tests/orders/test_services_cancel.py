"""`order_line_cancel`: customers cancel what still waits, staff cancel anything open."""

import pytest

from inventory.exceptions import NotCancellable, ValidationFailed
from inventory.models import Allocation, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from orders.models import OrderEvent
from orders.services import order_line_cancel
from tests.factories import StaffFactory, WarehouseFactory
from tests.helpers import place, stock_of
from tests.state import snapshot


def test_customer_cancels_backordered_units(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    order = place((hoodie, 5))
    line = order.lines.get()

    # when
    cancelled = order_line_cancel(line_id=line.pk, quantity=2, by_customer=True)

    # then
    line.refresh_from_db()
    assert cancelled.pk == line.pk
    assert (line.status, line.allocated, line.backordered, line.cancelled) == (
        "backordered",
        2,
        1,
        2,
    )
    assert stock_of(hoodie, default_warehouse).allocated == 2
    assert Allocation.objects.get(order_line=line).quantity == 2
    assert not StockMovement.objects.filter(kind=StockMovement.Kind.DEALLOCATION).exists()
    event = order.events.get(kind=OrderEvent.Kind.CANCELLED)
    assert (event.line_id, event.quantity, event.status_before, event.status_after) == (
        line.pk,
        2,
        "backordered",
        "backordered",
    )
    assert event.message == "Cancelled by customer"
    assert stock_drift() == []


def test_customer_cancels_all_backordered_units_by_default(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    line = place((hoodie, 5)).lines.get()

    # when
    order_line_cancel(line_id=line.pk, by_customer=True)

    # then
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered, line.cancelled) == (
        "allocated",
        2,
        0,
        3,
    )
    assert stock_drift() == []


def test_customer_cannot_cancel_allocated_units(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    line = place((hoodie, 5)).lines.get()
    before = snapshot()

    # when
    with pytest.raises(NotCancellable) as refused:
        order_line_cancel(line_id=line.pk, quantity=4, by_customer=True)

    # then
    assert refused.value.fields == {"quantity": "at most 3"}
    assert snapshot() == before


def test_customer_cannot_cancel_a_fully_allocated_line(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    line = place((hoodie, 5)).lines.get()
    before = snapshot()

    # when
    with pytest.raises(NotCancellable) as refused:
        order_line_cancel(line_id=line.pk, by_customer=True)

    # then
    assert refused.value.fields == {"quantity": "at most 0"}
    assert snapshot() == before


def test_staff_cancel_frees_allocated_units(hoodie, default_warehouse):
    # given
    staff = StaffFactory()
    stock_receive(product=hoodie, quantity=2)
    order = place((hoodie, 5))
    line = order.lines.get()
    stock = stock_of(hoodie, default_warehouse)

    # when
    order_line_cancel(line_id=line.pk, quantity=4, actor=staff, reason="Customer called")

    # then backordered units go first, then one allocated unit
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered, line.cancelled) == (
        "allocated",
        1,
        0,
        4,
    )
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 1)
    movement = StockMovement.objects.get(kind=StockMovement.Kind.DEALLOCATION)
    assert (movement.stock, movement.quantity, movement.order_line, movement.actor) == (
        stock,
        -1,
        line,
        staff,
    )
    assert list(Allocation.objects.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 1)
    ]
    event = order.events.get(kind=OrderEvent.Kind.CANCELLED)
    assert (event.quantity, event.message, event.actor) == (4, "Customer called", staff)
    assert stock_drift() == []

    # when the last unit is cancelled too
    order_line_cancel(line_id=line.pk, actor=staff)

    # then the allocation row vanishes and the line is cancelled
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered, line.cancelled) == (
        "cancelled",
        0,
        0,
        5,
    )
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 0)
    assert not Allocation.objects.exists()
    assert list(
        StockMovement.objects.filter(kind=StockMovement.Kind.DEALLOCATION)
        .order_by("pk")
        .values_list("quantity", flat=True)
    ) == [-1, -1]
    assert stock_drift() == []


def test_staff_cancel_releases_lowest_priority_warehouse_first(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=2)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    line = place((hoodie, 4)).lines.get()

    # when
    order_line_cancel(line_id=line.pk, quantity=3)

    # then
    assert stock_of(hoodie, default_warehouse).allocated == 0
    assert stock_of(hoodie, north).allocated == 1
    assert list(Allocation.objects.values_list("stock__warehouse__code", "quantity")) == [
        ("north", 1)
    ]
    assert stock_drift() == []


def test_cancelling_a_cancelled_line_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=1)
    line = place((hoodie, 3)).lines.get()
    order_line_cancel(line_id=line.pk)
    line.refresh_from_db()
    assert line.status == "cancelled"
    before = snapshot()

    # when
    with pytest.raises(NotCancellable):
        order_line_cancel(line_id=line.pk)

    # then
    assert snapshot() == before
    with pytest.raises(NotCancellable):
        order_line_cancel(line_id=line.pk, quantity=1, by_customer=True)
    assert snapshot() == before


def test_cancelling_more_than_outstanding_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=1)
    line = place((hoodie, 3)).lines.get()
    before = snapshot()

    # when
    with pytest.raises(NotCancellable) as refused:
        order_line_cancel(line_id=line.pk, quantity=4)

    # then
    assert refused.value.fields == {"quantity": "at most 3"}
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5])
def test_cancel_bad_quantity_is_refused(hoodie, default_warehouse, quantity):
    # given
    line = place((hoodie, 3)).lines.get()
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed):
        order_line_cancel(line_id=line.pk, quantity=quantity)

    # then
    assert snapshot() == before


def test_cancel_unknown_line_is_refused(db):
    with pytest.raises(ValidationFailed) as refused:
        order_line_cancel(line_id=987654321)
    assert refused.value.fields == {"line_id": "unknown"}

"""`shipment_create`: shipping allocated units, ship-complete orders, refusals."""

import pytest

from inventory.exceptions import NotShippable, ValidationFailed
from inventory.models import Allocation, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from orders.models import EtaChange, OrderLine, Shipment
from orders.queue import product_reallocate
from orders.services import shipment_create
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory
from tests.helpers import etas, events, in_days, place, place_line, stock_of, today
from tests.state import snapshot

Cause = EtaChange.Cause


def test_shipment_ships_allocated_units(hoodie, default_warehouse):
    # given
    staff = StaffFactory()
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 3))
    line = order.lines.get()
    stock = stock_of(hoodie, default_warehouse)

    # when
    shipment = shipment_create(order=order, lines=[(line.pk, 3)], tracking=" JNE-123 ", actor=staff)

    # then
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 0)
    line.refresh_from_db()
    assert (line.status, line.allocated, line.shipped, line.backordered) == (
        "shipped",
        0,
        3,
        0,
    )
    assert (shipment.order, shipment.tracking, shipment.actor) == (order, "JNE-123", staff)
    assert list(shipment.lines.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 3)
    ]
    movement = StockMovement.objects.get(kind=StockMovement.Kind.SHIPMENT)
    assert (movement.stock, movement.quantity, movement.order_line) == (stock, -3, line)
    assert not Allocation.objects.exists()
    assert events(order)[-1] == ("shipped", line.pk, 3, "allocated", "shipped")
    assert stock_drift() == []


def test_partial_shipment_leaves_line_allocated(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 3))
    line = order.lines.get()
    stock = stock_of(hoodie, default_warehouse)

    # when
    shipment_create(order=order, lines=[(line.pk, 1)])

    # then
    line.refresh_from_db()
    assert (line.status, line.allocated, line.shipped) == ("allocated", 2, 1)
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (4, 2)
    assert Allocation.objects.get(order_line=line).quantity == 2
    assert stock_drift() == []

    # when the rest ships
    shipment_create(order=order, lines=[(line.pk, 2)])

    # then
    line.refresh_from_db()
    assert (line.status, line.allocated, line.shipped) == ("shipped", 0, 3)
    assert Shipment.objects.filter(order=order).count() == 2
    assert stock_drift() == []


def test_shipment_of_allocated_part_of_backordered_line(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    order = place((hoodie, 5))
    line = order.lines.get()

    # when
    shipment_create(order=order, lines=[(line.pk, 2)])

    # then
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered, line.shipped) == (
        "backordered",
        0,
        3,
        2,
    )
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (0, 0)
    assert stock_drift() == []


def test_shipment_across_warehouses(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=2)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    order = place((hoodie, 4))
    line = order.lines.get()

    # when
    shipment = shipment_create(order=order, lines=[(line.pk, 4)])

    # then
    assert sorted(shipment.lines.values_list("stock__warehouse__code", "quantity")) == [
        ("main", 2),
        ("north", 2),
    ]
    assert stock_of(hoodie, north).on_hand == 0
    assert stock_of(hoodie, default_warehouse).on_hand == 0
    assert stock_drift() == []


def test_shipping_more_than_allocated_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    order = place((hoodie, 5))
    line = order.lines.get()
    before = snapshot()

    # when
    with pytest.raises(NotShippable) as refused:
        shipment_create(order=order, lines=[(line.pk, 3)])

    # then
    assert refused.value.fields == {"lines": {str(line.pk): "at most 2"}}
    assert snapshot() == before
    assert stock_drift() == []


def test_shipping_more_than_allocated_on_second_line_rolls_back_first(hoodie, default_warehouse):
    # given
    cap = ProductFactory()
    stock_receive(product=hoodie, quantity=5)
    stock_receive(product=cap, quantity=1)
    order = place((hoodie, 2), (cap, 2))
    hoodie_line, cap_line = order.lines.order_by("pk")
    before = snapshot()

    # when
    with pytest.raises(NotShippable):
        shipment_create(order=order, lines=[(hoodie_line.pk, 2), (cap_line.pk, 2)])

    # then
    assert snapshot() == before
    assert stock_drift() == []


def test_ship_complete_order_with_backorders_is_not_shipped(hoodie, default_warehouse):
    # given
    cap = ProductFactory()
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 2), (cap, 1), ship_complete=True)
    hoodie_line = order.lines.get(product=hoodie)
    before = snapshot()

    # when
    with pytest.raises(NotShippable):
        shipment_create(order=order, lines=[(hoodie_line.pk, 2)])

    # then
    assert snapshot() == before
    assert stock_drift() == []


def test_ship_complete_order_ships_once_backorders_are_filled(hoodie, default_warehouse):
    # given
    cap = ProductFactory()
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 2), (cap, 1), ship_complete=True)
    stock_receive(product=cap, quantity=1)
    assert product_reallocate(product_id=cap.pk) == 1
    hoodie_line = order.lines.get(product=hoodie)
    cap_line = order.lines.get(product=cap)

    # when
    shipment_create(order=order, lines=[(hoodie_line.pk, 2), (cap_line.pk, 1)])

    # then
    assert list(order.lines.order_by("pk").values_list("status", "shipped")) == [
        ("shipped", 2),
        ("shipped", 1),
    ]
    assert stock_drift() == []


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        ([], {"lines": "required"}),
        ([(None, 0)], {"lines[0].quantity": "must be positive"}),
        ([(None, True)], {"lines[0].quantity": "not an integer"}),
    ],
)
def test_shipment_invalid_input_is_refused(hoodie, default_warehouse, lines, fields):
    # given
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 2))
    line = order.lines.get()
    lines = [(line.pk if line_id is None else line_id, q) for line_id, q in lines]
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        shipment_create(order=order, lines=lines)

    # then
    assert refused.value.fields == fields
    assert snapshot() == before


def test_shipment_of_another_orders_line_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    order = place((hoodie, 2))
    other_line = place((hoodie, 2)).lines.get()
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        shipment_create(order=order, lines=[(other_line.pk, 1)])

    # then
    assert refused.value.fields == {"lines": f"unknown [{other_line.pk}]"}
    assert snapshot() == before


def test_shipping_a_line_records_its_ship_date(hoodie):
    stock_receive(product=hoodie, quantity=2)
    line = place_line(hoodie, 2)
    EtaChange.objects.all().delete()
    OrderLine.objects.filter(pk=line.pk).update(eta=in_days(-1))

    shipment_create(order=line.order, lines=[(line.pk, 2)], tracking="JNE-1")

    assert etas([line]) == [today()]
    assert list(EtaChange.objects.values_list("previous", "eta", "cause", "detail")) == [
        (in_days(-1), today(), Cause.SHIPPED, "JNE-1")
    ]

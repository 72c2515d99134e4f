import re
from datetime import date

import pytest

from inventory.checks import MAX_QUANTITY
from inventory.exceptions import NotCancellable, NotShippable, OrderRefused, ValidationFailed
from inventory.models import Allocation, Product, Stock, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from orders.models import (
    Order,
    OrderEvent,
    RefusedDemand,
    Shipment,
)
from orders.queue import product_reallocate
from orders.services import LineRequest, order_line_cancel, order_place, shipment_create
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory
from tests.state import snapshot


def place(*lines: tuple[Product, int], **kwargs) -> Order:
    kwargs.setdefault("email", "ayu@example.com")
    kwargs.setdefault("name", "Ayu Lestari")
    return order_place(
        lines=[LineRequest(product.sku, quantity) for product, quantity in lines], **kwargs
    )


def stock_of(product: Product, warehouse) -> Stock:
    return Stock.objects.get(product=product, warehouse=warehouse)


def events(order: Order) -> list[tuple]:
    return list(
        order.events.order_by("pk").values_list(
            "kind", "line_id", "quantity", "status_before", "status_after"
        )
    )


# --- order_place ----------------------------------------------------------------------------


def test_order_place_fully_in_stock(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    stock = stock_of(hoodie, default_warehouse)

    # when
    order = place((hoodie, 3))

    # then
    line = order.lines.get()
    assert (line.status, line.quantity, line.allocated, line.backordered) == (
        "allocated",
        3,
        3,
        0,
    )
    assert (line.shipped, line.cancelled) == (0, 0)
    assert line.unit_price == hoodie.price
    assert list(Allocation.objects.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 3)
    ]
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (5, 3)
    movement = StockMovement.objects.get(kind=StockMovement.Kind.ALLOCATION)
    assert (movement.stock, movement.quantity, movement.order_line) == (stock, 3, line)
    assert events(order) == [
        ("placed", None, None, "", ""),
        ("allocated", line.pk, 3, "", "allocated"),
    ]
    assert (order.email, order.name, order.locale, order.ship_complete, order.priority) == (
        "ayu@example.com",
        "Ayu Lestari",
        "en",
        False,
        0,
    )
    assert stock_drift() == []


def test_order_place_partly_in_stock(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    stock = stock_of(hoodie, default_warehouse)

    # when
    order = place((hoodie, 5))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("backordered", 2, 3)
    assert list(Allocation.objects.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 2)
    ]
    stock.refresh_from_db()
    assert (stock.on_hand, stock.allocated) == (2, 2)
    assert events(order) == [
        ("placed", None, None, "", ""),
        ("backordered", line.pk, 5, "", "backordered"),
    ]
    assert stock_drift() == []


def test_order_place_fully_backordered(hoodie, default_warehouse):
    # when
    order = place((hoodie, 4))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("backordered", 0, 4)
    assert not Allocation.objects.exists()
    assert not StockMovement.objects.exists()
    assert not Stock.objects.filter(product=hoodie).exists()
    assert events(order) == [
        ("placed", None, None, "", ""),
        ("backordered", line.pk, 4, "", "backordered"),
    ]
    assert stock_drift() == []


def test_order_place_takes_stock_from_warehouses_by_priority(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=hoodie, quantity=2, warehouse=north)

    # when
    order = place((hoodie, 4))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("allocated", 4, 0)
    assert stock_of(hoodie, north).allocated == 2
    assert stock_of(hoodie, default_warehouse).allocated == 2
    assert stock_drift() == []


def test_order_place_does_not_overtake_waiting_backorders(hoodie, default_warehouse):
    # given
    place((hoodie, 3))
    stock_receive(product=hoodie, quantity=2)  # not yet reallocated

    # when
    order = place((hoodie, 1))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("backordered", 0, 1)
    assert stock_of(hoodie, default_warehouse).allocated == 0
    assert stock_drift() == []


def test_order_place_preorder_before_release(default_warehouse):
    # given
    game = ProductFactory(
        backorder_policy=Product.BackorderPolicy.PREORDER, release_date=date(2031, 3, 1)
    )
    stock_receive(product=game, quantity=5)

    # when
    order = place((game, 2), today=date(2031, 2, 1))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("preordered", 0, 2)
    assert stock_of(game, default_warehouse).allocated == 0
    assert events(order) == [
        ("placed", None, None, "", ""),
        ("preordered", line.pk, 2, "", "preordered"),
    ]
    assert stock_drift() == []


def test_order_place_records_priority_ship_complete_and_actor(hoodie, default_warehouse):
    # given
    staff = StaffFactory()

    # when
    order = place((hoodie, 1), priority=7, ship_complete=True, locale="id", actor=staff)

    # then
    order.refresh_from_db()
    assert (order.priority, order.ship_complete, order.locale) == (7, True, "id")
    assert list(order.events.values_list("actor", flat=True)) == [staff.pk, staff.pk]


# --- policy refusals ------------------------------------------------------------------------


def test_order_place_deny_product_out_of_stock_is_refused(default_warehouse):
    # given
    tee = ProductFactory(backorder_policy=Product.BackorderPolicy.DENY)
    stock_receive(product=tee, quantity=1)
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((tee, 2))

    # then
    assert refused.value.code == "out_of_stock"
    assert refused.value.status == 422
    assert refused.value.fields == {
        "lines[0]": {"code": "out_of_stock", "message": "Out of stock."}
    }
    assert list(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (tee.pk, 2, "out_of_stock")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before
    assert stock_drift() == []


def test_order_place_deny_product_in_stock_is_accepted(default_warehouse):
    # given
    tee = ProductFactory(backorder_policy=Product.BackorderPolicy.DENY)
    stock_receive(product=tee, quantity=2)

    # when
    order = place((tee, 2))

    # then
    line = order.lines.get()
    assert (line.status, line.allocated, line.backordered) == ("allocated", 2, 0)
    assert not RefusedDemand.objects.exists()


def test_order_place_over_backorder_limit_is_refused(default_warehouse):
    # given
    limited = ProductFactory(backorder_limit=3)
    place((limited, 2))
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((limited, 2))

    # then
    assert refused.value.code == "backorder_limit"
    assert refused.value.message == "Only 1 more can be backordered."
    assert list(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (limited.pk, 2, "backorder_limit")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before


def test_order_place_up_to_backorder_limit_is_accepted(default_warehouse):
    # given
    limited = ProductFactory(backorder_limit=3)
    place((limited, 2))

    # when
    order = place((limited, 1))

    # then
    assert order.lines.get().backordered == 1
    assert not RefusedDemand.objects.exists()


def test_order_place_over_max_per_order_is_refused(default_warehouse):
    # given
    capped = ProductFactory(max_per_order=2)
    stock_receive(product=capped, quantity=10)
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((capped, 3))

    # then
    assert refused.value.code == "max_per_order"
    assert list(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (capped.pk, 3, "max_per_order")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before


def test_order_place_max_per_order_counts_every_line_of_the_product(default_warehouse):
    # given
    capped = ProductFactory(max_per_order=2)
    stock_receive(product=capped, quantity=10)
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((capped, 2), (capped, 1))

    # then
    assert refused.value.code == "max_per_order"
    assert list(refused.value.fields) == ["lines[0]", "lines[1]"]
    assert sorted(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (capped.pk, 1, "max_per_order"),
        (capped.pk, 2, "max_per_order"),
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 2
    assert after == before


def test_order_place_before_release_is_refused(default_warehouse):
    # given
    upcoming = ProductFactory(release_date=date(2031, 3, 1))
    stock_receive(product=upcoming, quantity=10)
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((upcoming, 1), today=date(2031, 2, 28))

    # then
    assert refused.value.code == "not_released"
    assert list(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (upcoming.pk, 1, "not_released")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before


def test_order_place_on_release_day_is_accepted(default_warehouse):
    # given
    upcoming = ProductFactory(release_date=date(2031, 3, 1))
    stock_receive(product=upcoming, quantity=10)

    # when
    order = place((upcoming, 1), today=date(2031, 3, 1))

    # then
    assert order.lines.get().status == "allocated"


def test_one_refused_line_refuses_the_whole_order(hoodie, default_warehouse):
    # given
    tee = ProductFactory(backorder_policy=Product.BackorderPolicy.DENY)
    stock_receive(product=hoodie, quantity=5)
    before = snapshot()

    # when
    with pytest.raises(OrderRefused) as refused:
        place((hoodie, 1), (tee, 1))

    # then
    assert refused.value.code == "out_of_stock"
    assert [(r.line_index, r.product_id) for r in refused.value.refusals] == [(1, tee.pk)]
    assert list(RefusedDemand.objects.values_list("product", "quantity", "reason")) == [
        (tee.pk, 1, "out_of_stock")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before
    assert stock_of(hoodie, default_warehouse).allocated == 0
    assert stock_drift() == []


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"lines": [LineRequest("NO-SUCH-SKU", 1)]}, {"lines[0].sku": "unknown SKU"}),
        ({"lines": []}, {"lines": "required"}),
        ({"email": "not-an-email"}, {"email": "invalid"}),
        ({"email": ""}, {"email": "required"}),
        ({"email": "ayu@example.com\r\nBcc: x@example.com"}, {"email": "invalid characters"}),
        ({"name": "Ayu\r\nBcc: x@example.com"}, {"name": "invalid characters"}),
        ({"name": "Ayu\x00"}, {"name": "invalid characters"}),
        ({"name": "   "}, {"name": "required"}),
        ({"name": None}, {"name": "required"}),
        ({"name": "x" * 201}, {"name": "at most 200 characters"}),
        ({"locale": "fr"}, {"locale": "one of ['en', 'id']"}),
        ({"quantity": 0}, {"lines[0].quantity": "must be positive"}),
        ({"quantity": -1}, {"lines[0].quantity": "must be positive"}),
        ({"quantity": MAX_QUANTITY + 1}, {"lines[0].quantity": f"at most {MAX_QUANTITY}"}),
        ({"quantity": 10**30}, {"lines[0].quantity": f"at most {MAX_QUANTITY}"}),
        ({"quantity": True}, {"lines[0].quantity": "not an integer"}),
        ({"quantity": 1.0}, {"lines[0].quantity": "not an integer"}),
        ({"quantity": "1"}, {"lines[0].quantity": "not an integer"}),
    ],
)
def test_order_place_invalid_input_is_refused(hoodie, default_warehouse, kwargs, fields):
    # given
    stock_receive(product=hoodie, quantity=5)
    arguments = {
        "email": "ayu@example.com",
        "name": "Ayu",
        "lines": [LineRequest(hoodie.sku, kwargs.pop("quantity", 1))],
        **kwargs,
    }
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        order_place(**arguments)

    # then
    assert refused.value.fields == fields
    assert snapshot() == before


def test_order_place_too_many_lines_is_refused(hoodie, default_warehouse):
    # given
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        place(*[(hoodie, 1)] * 101)

    # then
    assert refused.value.fields == {"lines": "at most 100"}
    assert snapshot() == before


def test_order_place_strips_email_and_name(hoodie, default_warehouse):
    # when
    order = place((hoodie, 1), email="  ayu@example.com ", name=" Ayu ")

    # then
    assert (order.email, order.name) == ("ayu@example.com", "Ayu")


def test_order_number_and_token_format(hoodie, default_warehouse):
    # when
    orders = [place((hoodie, 1)) for _ in range(5)]

    # then
    for order in orders:
        assert re.fullmatch(r"BO-[A-Z2-9]{4}-[A-Z2-9]{4}", order.number)
        assert not set(order.number[3:]) & set("01IO")
        assert len(order.token) >= 40
    assert len({order.number for order in orders}) == 5
    assert len({order.token for order in orders}) == 5


# --- order_line_cancel ----------------------------------------------------------------------


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


# --- shipment_create ------------------------------------------------------------------------


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

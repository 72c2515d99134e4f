"""`product_reallocate`: backorders filled from free stock in queue order, by warehouse
priority, set-based as the queue grows."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Allocation, Product, StockMovement, Warehouse
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from orders.models import OrderEvent, OrderLine
from orders.queue import product_reallocate
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, WarehouseFactory
from tests.helpers import place_line, stock_of
from tests.state import snapshot


def _queries_to_fill(queue_length: int) -> tuple[int, int]:
    product = ProductFactory()
    for n in range(queue_length):
        order_place(email=f"q{n}@example.com", name="Q", lines=[LineRequest(product.sku, 1)])
    stock_receive(product=product, quantity=queue_length)
    stock_receive(
        product=product,
        quantity=1,
        warehouse=Warehouse.objects.create(code=f"x{queue_length}", name="X", priority=5),
    )
    with CaptureQueriesContext(connection) as queries:
        allocated = product_reallocate(product_id=product.pk)
    assert allocated == queue_length
    assert not OrderLine.objects.filter(product=product, backordered__gt=0).exists()
    return allocated, len(queries)


@pytest.mark.django_db
def test_filling_fifty_backorders_takes_as_many_queries_as_filling_five(default_warehouse):
    _, five = _queries_to_fill(5)
    _, fifty = _queries_to_fill(50)

    assert fifty == five


@pytest.mark.django_db
def test_a_queue_of_equal_lines_is_filled_oldest_first_up_to_the_free_units(default_warehouse):
    product = ProductFactory()
    orders = [
        order_place(email=f"b{n}@example.com", name="B", lines=[LineRequest(product.sku, 2)])
        for n in range(6)
    ]
    stock_receive(product=product, quantity=9)

    allocated = product_reallocate(product_id=product.pk)

    assert allocated == 9
    assert [(o.lines.get().allocated, o.lines.get().backordered) for o in orders] == [
        (2, 0),
        (2, 0),
        (2, 0),
        (2, 0),
        (1, 1),
        (0, 2),
    ]


def test_reallocate_fills_oldest_backorders_first(hoodie, default_warehouse):
    # given
    first = place_line(hoodie, 2)
    second = place_line(hoodie, 3)
    third = place_line(hoodie, 1)
    stock_receive(product=hoodie, quantity=4)

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 4
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert (first.status, first.allocated, first.backordered) == ("allocated", 2, 0)
    assert (second.status, second.allocated, second.backordered) == ("backordered", 2, 1)
    assert (third.status, third.allocated, third.backordered) == ("backordered", 0, 1)
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (4, 4)
    assert stock_drift() == []


def test_reallocate_second_call_changes_nothing(hoodie, default_warehouse):
    # given
    place_line(hoodie, 2)
    place_line(hoodie, 3)
    stock_receive(product=hoodie, quantity=4)
    assert product_reallocate(product_id=hoodie.pk) == 4
    before = snapshot()

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 0
    assert snapshot() == before


def test_reallocate_without_backorders_changes_nothing(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=4)
    before = snapshot()

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 0
    assert snapshot() == before


def test_reallocate_without_free_stock_changes_nothing(hoodie, default_warehouse):
    # given
    place_line(hoodie, 2)
    before = snapshot()

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 0
    assert snapshot() == before


def test_reallocate_unknown_product_returns_zero(db):
    assert product_reallocate(product_id=987654321) == 0


def test_reallocate_respects_order_priority(hoodie, default_warehouse):
    # given
    early = place_line(hoodie, 2)
    vip = place_line(hoodie, 2, priority=10)
    late = place_line(hoodie, 2, priority=5)
    stock_receive(product=hoodie, quantity=3)

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 3
    vip.refresh_from_db()
    late.refresh_from_db()
    early.refresh_from_db()
    assert (vip.allocated, vip.backordered, vip.status) == (2, 0, "allocated")
    assert (late.allocated, late.backordered, late.status) == (1, 1, "backordered")
    assert (early.allocated, early.backordered, early.status) == (0, 2, "backordered")
    assert stock_drift() == []


def test_reallocate_splits_across_warehouses_by_priority(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    south = WarehouseFactory(code="south", priority=10)
    line = place_line(hoodie, 6)
    stock_receive(product=hoodie, quantity=3, warehouse=default_warehouse)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    stock_receive(product=hoodie, quantity=5, warehouse=south)

    # when
    allocated = product_reallocate(product_id=hoodie.pk)

    # then
    assert allocated == 6
    line.refresh_from_db()
    assert (line.allocated, line.backordered, line.status) == (6, 0, "allocated")
    assert {
        (a.stock.warehouse.code, a.quantity)
        for a in Allocation.objects.filter(order_line=line).select_related("stock__warehouse")
    } == {("north", 2), ("main", 3), ("south", 1)}
    assert stock_of(hoodie, north).allocated == 2
    assert stock_of(hoodie, default_warehouse).allocated == 3
    assert stock_of(hoodie, south).allocated == 1
    assert stock_drift() == []


def test_reallocate_keeps_preorder_stock_until_release(default_warehouse):
    # given
    release = date(2031, 3, 1)
    game = ProductFactory(backorder_policy=Product.BackorderPolicy.PREORDER, release_date=release)
    line = place_line(game, 2, today=date(2031, 2, 1))
    assert (line.status, line.backordered) == ("preordered", 2)
    stock_receive(product=game, quantity=5)
    before = snapshot()

    # when
    allocated = product_reallocate(product_id=game.pk, today=date(2031, 2, 28))

    # then
    assert allocated == 0
    assert snapshot() == before


def test_reallocate_fills_preorders_on_release_day(default_warehouse):
    # given
    release = date(2031, 3, 1)
    game = ProductFactory(backorder_policy=Product.BackorderPolicy.PREORDER, release_date=release)
    line = place_line(game, 2, today=date(2031, 2, 1))
    stock_receive(product=game, quantity=5)

    # when
    allocated = product_reallocate(product_id=game.pk, today=release)

    # then
    assert allocated == 2
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered) == ("allocated", 2, 0)
    event = OrderEvent.objects.get(line=line, kind=OrderEvent.Kind.ALLOCATED)
    assert (event.status_before, event.status_after, event.quantity) == (
        "preordered",
        "allocated",
        2,
    )
    assert stock_drift() == []


def test_reallocate_writes_events_and_ledger_rows(hoodie, default_warehouse):
    # given
    line = place_line(hoodie, 3)
    order = line.order
    stock_receive(product=hoodie, quantity=2)
    stock = stock_of(hoodie, default_warehouse)

    # when
    product_reallocate(product_id=hoodie.pk)

    # then
    event = OrderEvent.objects.get(kind=OrderEvent.Kind.ALLOCATED)
    assert event.order == order
    assert event.line == line
    assert event.quantity == 2
    assert (event.status_before, event.status_after) == ("backordered", "backordered")
    movement = StockMovement.objects.get(kind=StockMovement.Kind.ALLOCATION)
    assert (movement.stock, movement.quantity, movement.order_line) == (stock, 2, line)
    assert list(Allocation.objects.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 2)
    ]

    # when the rest arrives
    stock_receive(product=hoodie, quantity=1)
    assert product_reallocate(product_id=hoodie.pk) == 1

    # then one allocation row grows and a second ledger row is written
    assert list(
        OrderEvent.objects.filter(kind=OrderEvent.Kind.ALLOCATED)
        .order_by("pk")
        .values_list("quantity", "status_before", "status_after")
    ) == [(2, "backordered", "backordered"), (1, "backordered", "allocated")]
    assert list(
        StockMovement.objects.filter(kind=StockMovement.Kind.ALLOCATION)
        .order_by("pk")
        .values_list("quantity", "order_line_id")
    ) == [(2, line.pk), (1, line.pk)]
    assert list(Allocation.objects.values_list("order_line_id", "stock_id", "quantity")) == [
        (line.pk, stock.pk, 3)
    ]
    line.refresh_from_db()
    assert (line.status, line.allocated, line.backordered) == ("allocated", 3, 0)
    assert stock_drift() == []

from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.db.models import F

from inventory.checks import MAX_QUANTITY
from inventory.exceptions import InsufficientStock, ValidationFailed
from inventory.models import Allocation, Product, Stock, StockMovement
from inventory.selectors import Drift, stock_drift
from inventory.stock import stock_adjust, stock_receive, stock_return
from orders.models import OrderEvent, OrderLine
from orders.queue import product_reallocate
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory
from tests.state import snapshot


def place(product: Product, quantity: int, *, priority: int = 0, today: date | None = None):
    order = order_place(
        email="ayu@example.com",
        name="Ayu",
        lines=[LineRequest(product.sku, quantity)],
        priority=priority,
        today=today,
    )
    return order, order.lines.get()


def stock_of(product: Product, warehouse) -> Stock:
    return Stock.objects.get(product=product, warehouse=warehouse)


# --- stock_receive / stock_adjust / stock_return -------------------------------------------


def test_stock_receive_writes_receipt_and_raises_on_hand(hoodie, default_warehouse):
    # given
    staff = StaffFactory()

    # when
    movement = stock_receive(product=hoodie, quantity=10, reference="DN-1", actor=staff)

    # then
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (10, 0)
    assert movement.stock == stock
    assert movement.kind == StockMovement.Kind.RECEIPT
    assert movement.quantity == 10
    assert movement.reference == "DN-1"
    assert movement.reason == "Goods received"
    assert movement.actor == staff
    assert movement.order_line is None
    assert StockMovement.objects.count() == 1
    assert stock_drift() == []


def test_stock_receive_into_named_warehouse(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north")

    # when
    stock_receive(product=hoodie, quantity=4, warehouse=north)

    # then
    assert stock_of(hoodie, north).on_hand == 4
    assert not Stock.objects.filter(product=hoodie, warehouse=default_warehouse).exists()
    assert stock_drift() == []


def test_stock_receive_twice_adds_up(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=3)

    # when
    stock_receive(product=hoodie, quantity=4)

    # then
    assert stock_of(hoodie, default_warehouse).on_hand == 7
    assert list(StockMovement.objects.order_by("pk").values_list("kind", "quantity")) == [
        ("receipt", 3),
        ("receipt", 4),
    ]
    assert stock_drift() == []


def test_stock_adjust_positive(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)

    # when
    movement = stock_adjust(product=hoodie, quantity=2, reason="  Stock count  ")

    # then
    assert stock_of(hoodie, default_warehouse).on_hand == 7
    assert movement.kind == StockMovement.Kind.ADJUSTMENT
    assert movement.quantity == 2
    assert movement.reason == "Stock count"
    assert stock_drift() == []


def test_stock_adjust_negative(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)

    # when
    movement = stock_adjust(product=hoodie, quantity=-3, reason="Water damage")

    # then
    assert stock_of(hoodie, default_warehouse).on_hand == 2
    assert movement.kind == StockMovement.Kind.ADJUSTMENT
    assert movement.quantity == -3
    assert movement.reason == "Water damage"
    assert stock_drift() == []


def test_stock_adjust_down_to_exactly_allocated(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place(hoodie, 3)

    # when
    stock_adjust(product=hoodie, quantity=-2, reason="Lost")

    # then
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (3, 3)
    assert stock_drift() == []


def test_stock_adjust_below_allocated_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place(hoodie, 3)
    before = snapshot()

    # when
    with pytest.raises(InsufficientStock) as refused:
        stock_adjust(product=hoodie, quantity=-3, reason="Lost")

    # then
    assert refused.value.code == "insufficient_stock"
    assert refused.value.fields == {"quantity": "at least -2"}
    assert snapshot() == before
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (5, 3)
    assert stock_drift() == []


def test_stock_adjust_below_zero_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    before = snapshot()

    # when
    with pytest.raises(InsufficientStock):
        stock_adjust(product=hoodie, quantity=-3, reason="Lost")

    # then
    assert snapshot() == before
    assert stock_of(hoodie, default_warehouse).on_hand == 2


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_stock_adjust_without_reason_is_refused(hoodie, default_warehouse, reason):
    # given
    stock_receive(product=hoodie, quantity=5)
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        stock_adjust(product=hoodie, quantity=-1, reason=reason)

    # then
    assert refused.value.fields == {"reason": "required"}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        (0, "must be positive"),
        (-1, "must be positive"),
        (True, "not an integer"),
        (False, "not an integer"),
        (1.0, "not an integer"),
        (2.5, "not an integer"),
        ("3", "not an integer"),
        (None, "not an integer"),
        (MAX_QUANTITY + 1, f"at most {MAX_QUANTITY}"),
    ],
)
def test_stock_receive_bad_quantity_is_refused(hoodie, default_warehouse, quantity, error):
    # given
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        stock_receive(product=hoodie, quantity=quantity)

    # then
    assert refused.value.fields == {"quantity": error}
    assert snapshot() == before
    assert not Stock.objects.exists()


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        (0, "must be positive"),
        (True, "not an integer"),
        (1.5, "not an integer"),
        ("-1", "not an integer"),
        (MAX_QUANTITY + 1, f"at most {MAX_QUANTITY}"),
        (-MAX_QUANTITY - 1, f"at most {MAX_QUANTITY}"),
    ],
)
def test_stock_adjust_bad_quantity_is_refused(hoodie, default_warehouse, quantity, error):
    # given
    stock_receive(product=hoodie, quantity=5)
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        stock_adjust(product=hoodie, quantity=quantity, reason="Count")

    # then
    assert refused.value.fields == {"quantity": error}
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1, True, 1.0, "2", MAX_QUANTITY + 1])
def test_stock_return_bad_quantity_is_refused(hoodie, default_warehouse, quantity):
    # given
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed):
        stock_return(product=hoodie, quantity=quantity, reason="Return")

    # then
    assert snapshot() == before


def test_stock_receive_max_quantity_is_accepted(hoodie, default_warehouse):
    # when
    stock_receive(product=hoodie, quantity=MAX_QUANTITY)

    # then
    assert stock_of(hoodie, default_warehouse).on_hand == MAX_QUANTITY


def test_stock_return_puts_goods_back_on_hand(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=2)
    _, line = place(hoodie, 2)

    # when
    movement = stock_return(product=hoodie, quantity=1, reason="", order_line=line)

    # then
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (3, 2)
    assert movement.kind == StockMovement.Kind.RETURN
    assert movement.quantity == 1
    assert movement.reason == "Customer return"
    assert movement.order_line == line
    assert stock_drift() == []


def test_stock_return_for_another_products_line_is_refused(hoodie, default_warehouse):
    # given
    other = ProductFactory()
    _, line = place(other, 1)
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        stock_return(product=hoodie, quantity=1, reason="Return", order_line=line)

    # then
    assert refused.value.fields == {"order_line": "mismatch"}
    assert snapshot() == before


# --- product_reallocate ---------------------------------------------------------------------


def test_reallocate_fills_oldest_backorders_first(hoodie, default_warehouse):
    # given
    _, first = place(hoodie, 2)
    _, second = place(hoodie, 3)
    _, third = place(hoodie, 1)
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
    place(hoodie, 2)
    place(hoodie, 3)
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
    place(hoodie, 2)
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
    _, early = place(hoodie, 2)
    _, vip = place(hoodie, 2, priority=10)
    _, late = place(hoodie, 2, priority=5)
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
    _, line = place(hoodie, 6)
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
    _, line = place(game, 2, today=date(2031, 2, 1))
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
    _, line = place(game, 2, today=date(2031, 2, 1))
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
    order, line = place(hoodie, 3)
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


# --- stock_drift and verify_stock -----------------------------------------------------------


def test_stock_drift_is_empty_after_normal_operations(hoodie, default_warehouse):
    # given
    north = WarehouseFactory(code="north", priority=200)
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=hoodie, quantity=2, warehouse=north)
    place(hoodie, 4)
    place(hoodie, 3)
    stock_adjust(product=hoodie, quantity=2, reason="Found")
    stock_return(product=hoodie, quantity=1, reason="Return", warehouse=north)
    product_reallocate(product_id=hoodie.pk)

    # when
    drift = stock_drift()

    # then
    assert drift == []


def test_stock_drift_reports_corrupted_on_hand(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    Stock.objects.filter(product=hoodie).update(on_hand=F("on_hand") + 3)

    # when
    drift = stock_drift()

    # then
    assert drift == [Drift("stock HOODIE-SE@main on_hand vs ledger", 5, 8)]
    assert str(drift[0]) == "stock HOODIE-SE@main on_hand vs ledger: expected 5, found 8"


def test_stock_drift_reports_corrupted_allocated(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place(hoodie, 2)
    Stock.objects.filter(product=hoodie).update(allocated=1)

    # when
    drift = stock_drift()

    # then
    assert drift == [
        Drift("stock HOODIE-SE@main allocated vs ledger", 2, 1),
        Drift("stock HOODIE-SE@main allocated vs allocation rows", 2, 1),
    ]


def test_stock_drift_reports_corrupted_order_line(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    _, line = place(hoodie, 2)
    OrderLine.objects.filter(pk=line.pk).update(allocated=1, backordered=1)

    # when
    drift = stock_drift()

    # then
    assert drift == [Drift(f"order line {line.pk} allocated vs allocation rows", 2, 1)]


def test_verify_stock_succeeds_when_nothing_drifted(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place(hoodie, 2)
    out, err = StringIO(), StringIO()

    # when
    call_command("verify_stock", stdout=out, stderr=err)

    # then
    assert out.getvalue() == "Stock ledger, counters and allocations agree.\n"
    assert err.getvalue() == ""


def test_verify_stock_fails_with_code_1_on_drift(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    Stock.objects.filter(product=hoodie).update(on_hand=7)
    out, err = StringIO(), StringIO()

    # when
    with pytest.raises(CommandError) as failed:
        call_command("verify_stock", stdout=out, stderr=err)

    # then
    assert failed.value.returncode == 1
    assert str(failed.value) == "1 stock figure(s) drifted."
    assert err.getvalue() == "stock HOODIE-SE@main on_hand vs ledger: expected 5, found 7\n"
    assert out.getvalue() == ""


# --- the ledger is append-only --------------------------------------------------------------


def test_ledger_rows_cannot_be_updated_in_the_database(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)

    # when
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StockMovement.objects.filter(pk=movement.pk).update(quantity=50)

    # then
    assert StockMovement.objects.get(pk=movement.pk).quantity == 5
    assert stock_drift() == []


def test_ledger_rows_cannot_be_deleted_in_the_database(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)

    # when
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        StockMovement.objects.filter(pk=movement.pk).delete()

    # then
    assert list(StockMovement.objects.values_list("pk", "quantity")) == [(movement.pk, 5)]
    assert stock_drift() == []


def test_ledger_row_save_on_existing_row_raises(hoodie, default_warehouse):
    # given
    movement = stock_receive(product=hoodie, quantity=5)
    movement.quantity = 50

    # when
    with pytest.raises(ValueError, match="append-only"):
        movement.save()

    # then
    assert StockMovement.objects.get(pk=movement.pk).quantity == 5

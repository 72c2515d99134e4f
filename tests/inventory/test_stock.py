import pytest

from inventory.checks import MAX_QUANTITY
from inventory.exceptions import InsufficientStock, ValidationFailed
from inventory.models import Stock, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_adjust, stock_receive, stock_return
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory
from tests.helpers import place_line, stock_of
from tests.state import snapshot


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
    place_line(hoodie, 3)

    # when
    stock_adjust(product=hoodie, quantity=-2, reason="Lost")

    # then
    stock = stock_of(hoodie, default_warehouse)
    assert (stock.on_hand, stock.allocated) == (3, 3)
    assert stock_drift() == []


def test_stock_adjust_below_allocated_is_refused(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    place_line(hoodie, 3)
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
    line = place_line(hoodie, 2)

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
    line = place_line(other, 1)
    before = snapshot()

    # when
    with pytest.raises(ValidationFailed) as refused:
        stock_return(product=hoodie, quantity=1, reason="Return", order_line=line)

    # then
    assert refused.value.fields == {"order_line": "mismatch"}
    assert snapshot() == before

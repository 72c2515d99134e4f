"""`order_place`: allocation from stock, backorders, pre-orders, the promised ETA, policy
refusals and input checks."""

import re
from datetime import date

import pytest

from inventory.checks import MAX_QUANTITY
from inventory.exceptions import OrderRefused, ValidationFailed
from inventory.models import Allocation, Product, Stock, StockMovement
from inventory.selectors import availability_quote, stock_drift
from inventory.stock import stock_receive
from orders.models import EtaChange, RefusedDemand
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, StaffFactory, WarehouseFactory
from tests.helpers import events, in_days, place, place_line, purchase, stock_of, today
from tests.state import snapshot

Cause = EtaChange.Cause


def test_order_place_fully_in_stock(hoodie, default_warehouse):
    # given
    stock_receive(product=hoodie, quantity=5)
    stock = stock_of(hoodie, default_warehouse)

    # when
    order = place((hoodie, 3), name="Ayu Lestari")

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


def test_the_case_study_hoodie_sold_out_ships_in_fourteen_days(hoodie):
    stock_receive(product=hoodie, quantity=2)
    first = place_line(hoodie, 2, "first")

    late = place_line(hoodie, 1, "late")

    assert (first.status, first.eta, first.first_promised_eta) == ("allocated", today(), today())
    assert (late.status, late.eta, late.first_promised_eta) == (
        "backordered",
        in_days(14),
        in_days(14),
    )
    assert list(EtaChange.objects.filter(line=late).values_list("previous", "eta", "cause")) == [
        (None, in_days(14), Cause.PLACED)
    ]


@pytest.mark.parametrize(
    ("stock", "incoming", "quantity", "status", "from_stock", "backordered", "eta_days"),
    [
        (5, [], 3, "in_stock", 3, 0, 0),
        (5, [], 8, "partial", 5, 3, 14),
        (0, [(4, 6)], 3, "backorder", 0, 3, 6),
        (0, [(4, 6)], 5, "backorder", 0, 5, 14),
        (1, [(4, 6), (10, 20)], 9, "partial", 1, 8, 20),
        (0, [(4, 30)], 5, "backorder", 0, 5, 30),
    ],
)
def test_placement_stores_exactly_the_eta_the_quote_gave(
    hoodie, stock, incoming, quantity, status, from_stock, backordered, eta_days
):
    # given a queue ahead of the new order and some supply
    if stock:
        stock_receive(product=hoodie, quantity=stock)
    for units, days in incoming:
        purchase(hoodie, units, days)

    # when
    quote = availability_quote(product=hoodie, quantity=quantity)
    line = place_line(hoodie, quantity)

    # then
    assert (quote.status, quote.from_stock, quote.backordered) == (
        status,
        from_stock,
        backordered,
    )
    assert quote.eta == in_days(eta_days)
    assert (line.allocated, line.backordered, line.eta) == (from_stock, backordered, quote.eta)


def test_two_lines_of_one_product_in_one_order_queue_one_behind_the_other(hoodie):
    purchase(hoodie, 3, 6)

    order = order_place(
        email="a@example.com",
        name="A",
        lines=[LineRequest("HOODIE-SE", 3), LineRequest("HOODIE-SE", 1)],
    )

    assert list(order.lines.order_by("pk").values_list("eta", flat=True)) == [
        in_days(6),
        in_days(14),
    ]


def test_handling_time_is_added_at_placement(hoodie, settings):
    settings.BACKORDER_HANDLING_DAYS = 2
    stock_receive(product=hoodie, quantity=1)

    assert place_line(hoodie, 1).eta == in_days(2)
    assert place_line(hoodie, 1).eta == in_days(16)


def test_order_place_returns_the_order_with_its_lines_as_they_were_saved(
    hoodie, default_warehouse, django_assert_num_queries
):
    # given
    stock_receive(product=hoodie, quantity=1)
    other = ProductFactory()

    # when
    order = order_place(
        email="a@example.com",
        name="A",
        lines=[LineRequest("HOODIE-SE", 2), LineRequest(other.sku, 1)],
    )

    # then: the lines are in hand, with their products, exactly as they read back
    with django_assert_num_queries(0):
        held = [
            (line.pk, line.product.sku, line.allocated, line.backordered, line.status, line.eta)
            for line in order.lines.all()
        ]
    assert held == [
        (line.pk, line.product.sku, line.allocated, line.backordered, line.status, line.eta)
        for line in order.lines.order_by("pk").select_related("product")
    ]
    assert [sku for _, sku, *_ in held] == ["HOODIE-SE", other.sku]


def test_a_refusal_is_recorded_in_the_placements_own_transaction(
    default_warehouse, django_assert_num_queries
):
    # given
    product = ProductFactory(sku="DENY", backorder_policy=Product.BackorderPolicy.DENY)
    before = snapshot()

    # when: three reads before the locks, the locks (the product row has its queue's length),
    # the refused demand
    with django_assert_num_queries(6), pytest.raises(OrderRefused):
        order_place(email="a@example.com", name="A", lines=[LineRequest("DENY", 1)])

    # then: the caller's transaction is still usable, and only the demand was written
    assert list(RefusedDemand.objects.values_list("product_id", "quantity", "reason")) == [
        (product.pk, 1, "out_of_stock")
    ]
    after = snapshot()
    assert after.pop("refused_demand") == before.pop("refused_demand") + 1
    assert after == before

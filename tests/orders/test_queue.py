"""Stored ETAs: promised at placement, refreshed when supply moves, history with causes."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.exceptions import ValidationFailed
from inventory.models import Product, PurchaseOrderLine, Stock
from inventory.purchasing import (
    PurchaseLineRequest,
    ReceiptRequest,
    purchase_order_create,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_receive,
)
from inventory.selectors import availability_quote
from inventory.stock import stock_receive
from orders.models import EtaChange, OrderEvent, OrderLine
from orders.queue import product_etas_refresh, product_refresh
from orders.selectors import products_to_refresh, products_with_fillable_backorders
from orders.services import (
    LineRequest,
    order_line_cancel,
    order_place,
    order_priority_set,
    shipment_create,
)
from tests.factories import ProductFactory, SupplierFactory, SupplierProductFactory

pytestmark = pytest.mark.django_db
Cause = EtaChange.Cause


def today() -> date:
    return timezone.localdate()


def in_days(days: int) -> date:
    return today() + timedelta(days=days)


def place(product: Product, quantity: int, who: str = "ayu", **kwargs) -> OrderLine:
    order = order_place(
        email=f"{who}@example.com", name=who, lines=[LineRequest(product.sku, quantity)], **kwargs
    )
    return order.lines.get()


def purchase(product: Product, quantity: int, days: int):
    return purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(product.sku, quantity, in_days(days))],
    )


def etas(lines: list[OrderLine]) -> list[date | None]:
    return [OrderLine.objects.get(pk=line.pk).eta for line in lines]


def refresh(product: Product, cause: str = Cause.STOCK_CHANGED, **kwargs) -> tuple[int, int]:
    return product_refresh(product_id=product.pk, cause=cause, **kwargs)


# --- placement ------------------------------------------------------------------------------


def test_the_case_study_hoodie_sold_out_ships_in_fourteen_days(hoodie):
    stock_receive(product=hoodie, quantity=2)
    first = place(hoodie, 2, "first")

    late = place(hoodie, 1, "late")

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
    line = place(hoodie, quantity)

    # then
    assert (quote.status, quote.from_stock, quote.backordered) == (
        status,
        from_stock,
        backordered,
    )
    assert quote.eta == in_days(eta_days)
    assert (line.allocated, line.backordered, line.eta) == (from_stock, backordered, quote.eta)


def test_the_quote_counts_the_queue_ahead(hoodie):
    purchase(hoodie, 5, 6)
    place(hoodie, 4)

    assert availability_quote(product=hoodie, quantity=1).eta == in_days(6)
    assert availability_quote(product=hoodie, quantity=2).eta == in_days(14)
    assert place(hoodie, 2).eta == in_days(14)


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


def test_quote_statuses_for_preorders_and_refusals(default_warehouse):
    preorder = ProductFactory(
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=in_days(20),
        backorder_limit=10,
        lead_time_days=5,
    )
    deny = ProductFactory(backorder_policy=Product.BackorderPolicy.DENY)
    stock_receive(product=deny, quantity=2)

    pre = availability_quote(product=preorder, quantity=4)
    assert (pre.status, pre.available, pre.from_stock, pre.backordered, pre.eta) == (
        "preorder",
        10,
        0,
        4,
        in_days(20),
    )
    over = availability_quote(product=preorder, quantity=11)
    assert (over.status, over.code, over.eta) == ("unavailable", "backorder_limit", None)
    denied = availability_quote(product=deny, quantity=3)
    assert (denied.status, denied.available, denied.code) == ("unavailable", 2, "out_of_stock")
    assert availability_quote(product=deny, quantity=2).status == "in_stock"


def test_quote_available_counts_stock_and_room_under_the_caps(hoodie):
    Product.objects.filter(pk=hoodie.pk).update(backorder_limit=5, max_per_order=None)
    hoodie.refresh_from_db()
    stock_receive(product=hoodie, quantity=3)
    place(hoodie, 5)  # 3 allocated, 2 backordered

    assert availability_quote(product=hoodie, quantity=1).available == 3

    Product.objects.filter(pk=hoodie.pk).update(max_per_order=2)
    hoodie.refresh_from_db()
    assert availability_quote(product=hoodie, quantity=1).available == 2

    Product.objects.filter(pk=hoodie.pk).update(backorder_limit=None, max_per_order=None)
    hoodie.refresh_from_db()
    assert availability_quote(product=hoodie, quantity=1).available is None


def test_handling_time_is_added_at_placement(hoodie, settings):
    settings.BACKORDER_HANDLING_DAYS = 2
    stock_receive(product=hoodie, quantity=1)

    assert place(hoodie, 1).eta == in_days(2)
    assert place(hoodie, 1).eta == in_days(16)


# --- refresh ----------------------------------------------------------------------------------


def test_a_new_purchase_order_moves_the_oldest_backorders_to_its_date(hoodie):
    lines = [place(hoodie, 2, f"b{n}") for n in range(3)]
    purchase(hoodie, 4, 5)

    assert refresh(hoodie, Cause.PO_CREATED, detail="PO-1") == (0, 2)

    assert etas(lines) == [in_days(5), in_days(5), in_days(14)]
    assert [OrderLine.objects.get(pk=line.pk).first_promised_eta for line in lines] == [
        in_days(14)
    ] * 3
    moved = EtaChange.objects.exclude(cause=Cause.PLACED).order_by("line_id")
    assert list(moved.values_list("line_id", "previous", "eta", "cause", "detail")) == [
        (lines[0].pk, in_days(14), in_days(5), Cause.PO_CREATED, "PO-1"),
        (lines[1].pk, in_days(14), in_days(5), Cause.PO_CREATED, "PO-1"),
    ]


def test_a_refresh_with_nothing_new_changes_nothing(hoodie):
    place(hoodie, 2)
    purchase(hoodie, 4, 5)
    refresh(hoodie)
    changes = EtaChange.objects.count()

    assert refresh(hoodie) == (0, 0)
    assert EtaChange.objects.count() == changes


def test_a_slipped_delivery_moves_its_lines_later(hoodie):
    lines = [place(hoodie, 2, f"b{n}") for n in range(2)]
    line = purchase(hoodie, 4, 5).lines.get()
    refresh(hoodie)

    purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(20))
    refresh(hoodie, Cause.PO_DATE_CHANGED)

    assert etas(lines) == [in_days(20), in_days(20)]
    assert EtaChange.objects.filter(cause=Cause.PO_DATE_CHANGED).count() == 2


def test_a_cancelled_delivery_falls_back_to_the_lead_time(hoodie):
    line = place(hoodie, 2)
    po_line = purchase(hoodie, 4, 5).lines.get()
    refresh(hoodie)

    purchase_order_line_cancel(line_id=po_line.pk)
    refresh(hoodie, Cause.PO_CANCELLED)

    assert etas([line]) == [in_days(14)]


def test_a_receipt_allocates_the_oldest_and_their_eta_becomes_today(hoodie):
    lines = [place(hoodie, 2, f"b{n}") for n in range(3)]
    order = purchase(hoodie, 4, 5)
    refresh(hoodie)

    purchase_order_receive(purchase_order_id=order.pk, lines=[ReceiptRequest(4, sku="HOODIE-SE")])
    assert refresh(hoodie, Cause.PO_RECEIVED) == (4, 2)

    assert [OrderLine.objects.get(pk=line.pk).status for line in lines] == [
        "allocated",
        "allocated",
        "backordered",
    ]
    assert etas(lines) == [today(), today(), in_days(14)]
    assert EtaChange.objects.filter(cause=Cause.PO_RECEIVED).count() == 2


def test_a_cancellation_ahead_moves_later_lines_earlier(hoodie):
    first, second, third = (place(hoodie, 2, f"b{n}") for n in range(3))
    purchase(hoodie, 4, 5)
    refresh(hoodie)
    assert etas([third]) == [in_days(14)]

    order_line_cancel(line_id=first.pk)
    refresh(hoodie, Cause.QUEUE_AHEAD_CANCELLED)

    assert etas([first, second, third]) == [None, in_days(5), in_days(5)]
    last_change = EtaChange.objects.filter(line=first).latest("pk")
    assert (last_change.eta, last_change.cause) == (None, Cause.CANCELLED)
    last_change = EtaChange.objects.filter(line=third).latest("pk")
    assert (last_change.previous, last_change.eta, last_change.cause) == (
        in_days(14),
        in_days(5),
        Cause.QUEUE_AHEAD_CANCELLED,
    )


def test_shipping_a_line_records_its_ship_date(hoodie):
    stock_receive(product=hoodie, quantity=2)
    line = place(hoodie, 2)
    EtaChange.objects.all().delete()
    OrderLine.objects.filter(pk=line.pk).update(eta=in_days(-1))

    shipment_create(order=line.order, lines=[(line.pk, 2)], tracking="JNE-1")

    assert etas([line]) == [today()]
    assert list(EtaChange.objects.values_list("previous", "eta", "cause", "detail")) == [
        (in_days(-1), today(), Cause.SHIPPED, "JNE-1")
    ]


def test_a_new_day_moves_lead_time_etas_and_overdue_allocated_lines(hoodie):
    stock_receive(product=hoodie, quantity=1)
    allocated = place(hoodie, 1, "a")
    waiting = place(hoodie, 1, "w")
    tomorrow = in_days(1)

    assert products_to_refresh(tomorrow) == {hoodie.pk: Cause.DAY_ROLLOVER}
    assert refresh(hoodie, Cause.DAY_ROLLOVER, today=tomorrow) == (0, 2)

    assert etas([allocated, waiting]) == [tomorrow, tomorrow + timedelta(days=14)]
    assert set(
        EtaChange.objects.filter(cause=Cause.DAY_ROLLOVER).values_list("line_id", "eta")
    ) == {
        (allocated.pk, tomorrow),
        (waiting.pk, tomorrow + timedelta(days=14)),
    }


def test_a_lead_time_change_moves_etas_past_all_supply(hoodie):
    line = place(hoodie, 1)
    SupplierProductFactory(product=hoodie, supplier=SupplierFactory(lead_time_days=4))

    refresh(hoodie, Cause.LEAD_TIME_CHANGED)

    assert etas([line]) == [in_days(4)]
    assert EtaChange.objects.filter(cause=Cause.LEAD_TIME_CHANGED).count() == 1


def test_a_priority_order_overtakes_the_queue_and_later_lines_move(hoodie):
    purchase(hoodie, 2, 5)
    regular = place(hoodie, 2, "regular")
    urgent = place(hoodie, 2, "urgent", priority=10)
    assert etas([regular, urgent]) == [in_days(5), in_days(14)]

    refresh(hoodie, Cause.QUEUE_CHANGED)

    assert etas([regular, urgent]) == [in_days(14), in_days(5)]


def test_refreshing_a_long_queue_takes_a_fixed_number_of_queries(default_warehouse):
    def queries_for(queue_length: int) -> int:
        product = ProductFactory()
        for n in range(queue_length):
            place(product, 1, f"q{n}")
        purchase(product, queue_length // 2, 3)
        with CaptureQueriesContext(connection) as queries:
            _, moved = refresh(product, Cause.PO_CREATED)
        assert moved == queue_length // 2
        return len(queries)

    assert queries_for(120) == queries_for(12)


# --- pre-orders -------------------------------------------------------------------------------


@pytest.fixture
def album(default_warehouse) -> Product:
    return ProductFactory(
        sku="ALBUM-LTD",
        backorder_policy=Product.BackorderPolicy.PREORDER,
        release_date=in_days(10),
        backorder_limit=5,
        lead_time_days=30,
    )


def test_preorders_hold_arriving_stock_until_release(album):
    lines = [place(album, 2, f"p{n}") for n in range(2)]
    stock_receive(product=album, quantity=3)

    # the first pre-order is covered by the stock held for it, so it ships on release day
    assert refresh(album) == (0, 1)

    assert [OrderLine.objects.get(pk=line.pk).status for line in lines] == ["preordered"] * 2
    assert etas(lines) == [in_days(10), in_days(30)]
    assert Stock.objects.get(product=album).allocated == 0


def test_release_allocates_oldest_first_only_the_stock_that_is_there(album):
    # given three pre-orders, stock for one and a half of them, and the release day
    lines = [place(album, 2, f"p{n}") for n in range(2)] + [place(album, 1, "p2")]
    stock_receive(product=album, quantity=3)
    release_day = in_days(10)
    assert products_to_refresh(release_day) == {album.pk: Cause.RELEASED}

    # when
    allocated, _ = refresh(album, Cause.DAY_ROLLOVER, today=release_day)

    # then
    assert allocated == 3
    rows = [OrderLine.objects.get(pk=line.pk) for line in lines]
    assert [(r.status, r.allocated, r.backordered) for r in rows] == [
        ("allocated", 2, 0),
        ("backordered", 1, 1),
        ("backordered", 0, 1),
    ]
    stock = Stock.objects.get(product=album)
    assert (stock.on_hand, stock.allocated) == (3, 3)
    assert OrderEvent.objects.filter(kind=OrderEvent.Kind.RELEASED).count() == 3
    assert set(EtaChange.objects.exclude(cause=Cause.PLACED).values_list("cause", flat=True)) == {
        Cause.RELEASED
    }
    after_lead_time = release_day + timedelta(days=30)
    assert etas(lines) == [release_day, after_lead_time, after_lead_time]
    assert refresh(album, Cause.DAY_ROLLOVER, today=release_day) == (0, 0)


def test_after_release_a_preorder_product_takes_backorders(album):
    place(album, 1, "early")
    release_day = in_days(10)
    refresh(album, today=release_day)

    order = order_place(
        email="late@example.com",
        name="Late",
        lines=[LineRequest("ALBUM-LTD", 2)],
        today=release_day,
    )

    line = order.lines.get()
    assert (line.status, line.backordered) == ("backordered", 2)


def test_products_to_refresh_skips_products_with_nothing_waiting(hoodie):
    stock_receive(product=hoodie, quantity=1)
    line = place(hoodie, 1)
    shipment_create(order=line.order, lines=[(line.pk, 1)])

    assert products_to_refresh(in_days(1)) == {}
    assert PurchaseOrderLine.objects.count() == 0
    assert product_etas_refresh(product_id=hoodie.pk, cause=Cause.DAY_ROLLOVER) == 0


def test_the_sweep_leaves_out_preorders_holding_stock_for_release(album, hoodie):
    place(album, 1)
    stock_receive(product=album, quantity=1)
    place(hoodie, 1)
    stock_receive(product=hoodie, quantity=1)

    assert products_with_fillable_backorders() == [hoodie.pk]
    assert products_with_fillable_backorders(today=in_days(10)) == sorted([hoodie.pk, album.pk])


def test_raising_an_order_priority_moves_it_up_the_queue(
    hoodie, django_capture_on_commit_callbacks
):
    purchase(hoodie, 2, 5)
    first = place(hoodie, 2, "first")
    second = place(hoodie, 2, "second")

    with django_capture_on_commit_callbacks() as callbacks:
        order_priority_set(order_id=second.order_id, priority=5)
    refresh(hoodie, Cause.QUEUE_CHANGED)

    assert len(callbacks) == 1
    assert etas([first, second]) == [in_days(14), in_days(5)]
    event = OrderEvent.objects.get(kind=OrderEvent.Kind.PRIORITY_CHANGED)
    assert (event.order_id, event.message) == (second.order_id, "Queue priority 0 to 5")


@pytest.mark.parametrize("priority", [1001, -1001, "5", True, 2.5])
def test_an_out_of_range_priority_is_refused(hoodie, priority):
    line = place(hoodie, 1)

    with pytest.raises(ValidationFailed):
        order_priority_set(order_id=line.order_id, priority=priority)

    assert OrderLine.objects.get(pk=line.pk).order.priority == 0
    assert not OrderEvent.objects.filter(kind=OrderEvent.Kind.PRIORITY_CHANGED).exists()

"""`product_refresh`: pre-orders released, backorders filled and every ETA recomputed when
supply moves, each move recorded with its cause."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import Product, Stock
from inventory.purchasing import (
    ReceiptRequest,
    purchase_order_line_cancel,
    purchase_order_line_reschedule,
    purchase_order_receive,
)
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import EtaChange, Order, OrderEvent, OrderLine
from orders.queue import products_refresh
from orders.selectors import products_to_refresh
from orders.services import (
    LineRequest,
    order_line_cancel,
    order_place,
)
from tests.factories import ProductFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import etas, in_days, place_line, purchase, refresh, today

pytestmark = pytest.mark.django_db
Cause = EtaChange.Cause


# --- refresh ----------------------------------------------------------------------------------


def test_a_new_purchase_order_moves_the_oldest_backorders_to_its_date(hoodie):
    lines = [place_line(hoodie, 2, f"b{n}") for n in range(3)]
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
    place_line(hoodie, 2)
    purchase(hoodie, 4, 5)
    refresh(hoodie)
    changes = EtaChange.objects.count()

    assert refresh(hoodie) == (0, 0)
    assert EtaChange.objects.count() == changes


def test_a_slipped_delivery_moves_its_lines_later(hoodie):
    lines = [place_line(hoodie, 2, f"b{n}") for n in range(2)]
    line = purchase(hoodie, 4, 5).lines.get()
    refresh(hoodie)

    purchase_order_line_reschedule(line_id=line.pk, expected_date=in_days(20))
    refresh(hoodie, Cause.PO_DATE_CHANGED)

    assert etas(lines) == [in_days(20), in_days(20)]
    assert EtaChange.objects.filter(cause=Cause.PO_DATE_CHANGED).count() == 2


def test_a_cancelled_delivery_falls_back_to_the_lead_time(hoodie):
    line = place_line(hoodie, 2)
    po_line = purchase(hoodie, 4, 5).lines.get()
    refresh(hoodie)

    purchase_order_line_cancel(line_id=po_line.pk)
    refresh(hoodie, Cause.PO_CANCELLED)

    assert etas([line]) == [in_days(14)]


def test_a_receipt_allocates_the_oldest_and_their_eta_becomes_today(hoodie):
    lines = [place_line(hoodie, 2, f"b{n}") for n in range(3)]
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
    first, second, third = (place_line(hoodie, 2, f"b{n}") for n in range(3))
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


def test_a_new_day_moves_lead_time_etas_and_overdue_allocated_lines(hoodie):
    stock_receive(product=hoodie, quantity=1)
    allocated = place_line(hoodie, 1, "a")
    waiting = place_line(hoodie, 1, "w")
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
    line = place_line(hoodie, 1)
    SupplierProductFactory(product=hoodie, supplier=SupplierFactory(lead_time_days=4))

    refresh(hoodie, Cause.LEAD_TIME_CHANGED)

    assert etas([line]) == [in_days(4)]
    assert EtaChange.objects.filter(cause=Cause.LEAD_TIME_CHANGED).count() == 1


def test_a_priority_order_overtakes_the_queue_and_later_lines_move(hoodie):
    purchase(hoodie, 2, 5)
    regular = place_line(hoodie, 2, "regular")
    urgent = place_line(hoodie, 2, "urgent", priority=10)
    assert etas([regular, urgent]) == [in_days(5), in_days(14)]

    refresh(hoodie, Cause.QUEUE_CHANGED)

    assert etas([regular, urgent]) == [in_days(14), in_days(5)]


def test_refreshing_a_long_queue_takes_a_fixed_number_of_queries(default_warehouse):
    def queries_for(queue_length: int) -> int:
        product = ProductFactory()
        for n in range(queue_length):
            place_line(product, 1, f"q{n}")
        purchase(product, queue_length // 2, 3)
        with CaptureQueriesContext(connection) as queries:
            _, moved = refresh(product, Cause.PO_CREATED)
        assert moved == queue_length // 2
        return len(queries)

    assert queries_for(120) == queries_for(12)


def test_a_queue_longer_than_one_statement_s_id_list_moves_every_line(default_warehouse):
    """2,500 moved lines (more than one IN list of ids holds): every line, change and notice
    is there."""

    def queue_of(length: int) -> list[int]:
        product = ProductFactory(lead_time_days=14)
        orders = Order.objects.bulk_create(
            Order(email=f"q{n}@example.com", name="Queue") for n in range(length)
        )
        lines = OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=product,
                quantity=1,
                backordered=1,
                status=OrderLine.Status.BACKORDERED,
                unit_price=1,
            )
            for order in orders
        )
        Product.objects.filter(pk=product.pk).update(waiting_units=length)
        purchase(product, length - 1, 3)
        assert refresh(product, Cause.PO_CREATED, detail="PO") == (0, length)
        return [line.pk for line in lines]

    line_ids = queue_of(2500)

    stored = OrderLine.objects.filter(pk__in=line_ids).order_by("pk")
    assert list(stored.values_list("eta", "first_promised_eta", "notified_eta")) == [
        (in_days(3), in_days(3), in_days(3))
    ] * 2499 + [(in_days(14), in_days(14), in_days(14))]
    changes = EtaChange.objects.filter(line_id__in=line_ids).order_by("line_id")
    assert list(changes.values_list("line_id", "previous", "eta", "cause", "detail")) == [
        (pk, None, in_days(3), Cause.PO_CREATED, "PO") for pk in line_ids[:-1]
    ] + [(line_ids[-1], None, in_days(14), Cause.PO_CREATED, "PO")]
    notices = Notification.objects.filter(order__lines__in=line_ids)
    assert notices.count() == 2500
    assert set(notices.values_list("kind", flat=True)) == {Notification.Kind.EARLIER}


# --- pre-orders -------------------------------------------------------------------------------


def test_preorders_hold_arriving_stock_until_release(album):
    lines = [place_line(album, 2, f"p{n}") for n in range(2)]
    stock_receive(product=album, quantity=3)

    # the first pre-order is covered by the stock held for it, so it ships on release day
    assert refresh(album) == (0, 1)

    assert [OrderLine.objects.get(pk=line.pk).status for line in lines] == ["preordered"] * 2
    assert etas(lines) == [in_days(10), in_days(30)]
    assert Stock.objects.get(product=album).allocated == 0


def test_release_allocates_oldest_first_only_the_stock_that_is_there(album):
    # given three pre-orders, stock for one and a half of them, and the release day
    lines = [place_line(album, 2, f"p{n}") for n in range(2)] + [place_line(album, 1, "p2")]
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
    place_line(album, 1, "early")
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


def test_each_product_s_allocated_lines_ship_on_its_own_day_in_a_refresh_of_several(hoodie, album):
    # given: a hoodie waiting, and a pre-order album (released in 10 days) in the same
    # refresh, as one purchase order bringing both makes it
    line = place_line(hoodie, 1)
    preordered = place_line(album, 1, "budi")
    stock_receive(product=hoodie, quantity=1)
    stock_receive(product=album, quantity=1)

    # when: one refresh of both, the album last
    products_refresh(product_ids=[hoodie.pk, album.pk], cause=Cause.STOCK_CHANGED)

    # then: the hoodie ships today, not on the album's release day
    line.refresh_from_db()
    assert (line.allocated, line.eta) == (1, today())
    preordered.refresh_from_db()
    assert preordered.eta == in_days(10)

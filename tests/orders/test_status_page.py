"""The order status page and its self-service: reached only by the status link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.purchasing import (
    PurchaseLineRequest,
    purchase_order_create,
    purchase_order_line_reschedule,
)
from inventory.stock import stock_receive
from notifications.models import DelayAnswer, Notification
from orders.models import EtaChange, Order, OrderEvent, OrderLine
from orders.queue import product_refresh
from orders.services import LineRequest, order_line_cancel, order_place, shipment_create
from tests.factories import ProductFactory, SupplierFactory
from tests.helpers import sql_shapes
from tests.pages import page_text
from tests.state import snapshot

pytestmark = pytest.mark.django_db
Kind = Notification.Kind


def status_path(order: Order) -> str:
    return f"/orders/{order.number}/{order.token}/"


@pytest.fixture
def mixed_order(hoodie) -> Order:
    """One tee in stock and two hoodies backordered (ETA from the 14-day lead time)."""
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    stock_receive(product=tee, quantity=5)
    return order_place(
        email="ana@example.com",
        name="Ana",
        lines=[LineRequest("TEE", 1), LineRequest(hoodie.sku, 2)],
    )


@pytest.fixture
def delayed_order(hoodie) -> Order:
    """Two hoodies promised for the delivery due in 5 days, which then slips to 9."""
    today = timezone.localdate()
    purchase_order = purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest(hoodie.sku, 10, today + timedelta(days=5))],
    )
    order = order_place(email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 2)])
    purchase_order_line_reschedule(
        line_id=purchase_order.lines.get().pk, expected_date=today + timedelta(days=9)
    )
    product_refresh(product_id=hoodie.pk, cause=EtaChange.Cause.PO_DATE_CHANGED)
    return order


def test_the_page_shows_each_line_with_its_status_and_eta(client, mixed_order):
    # given
    today = timezone.localdate()
    eta = today + timedelta(days=14)

    # when
    response = client.get(status_path(mixed_order))

    # then
    assert response.status_code == 200
    text = page_text(response)
    assert f"Order {mixed_order.number}" in text
    assert "Logo Tee × 1" in text
    assert "1 in stock, ready to ship" in text
    assert "Special Edition Hoodie × 2" in text
    assert "2 backordered" in text
    assert f'<time datetime="{eta.isoformat()}">{eta.day} {eta:%B %Y}</time>' in (
        response.content.decode()
    )
    assert "First promised" not in text
    assert "Order total Rp300,000 Items" in text  # nothing shipped or cancelled: no split
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_every_date_on_the_page_is_inside_a_time_element(client, mixed_order):
    # given: a moved ETA, a shipment and a cancellation, so every kind of date shows
    line = mixed_order.lines.get(product__sku="TEE")
    shipment_create(order=mixed_order, lines=[(line.pk, 1)], tracking="JNE-123")

    # when
    html = client.get(status_path(mixed_order)).content.decode()

    # then: outside <time> elements no date is written, in any form
    outside = re.sub(r"<time datetime=\"\d{4}-\d{2}-\d{2}\">[^<]*</time>", "", html)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", outside)
    assert not re.search(
        r"\d{1,2} (January|February|March|April|May|June|July|August|September|October|"
        r"November|December) \d{4}",
        outside,
    )
    assert html.count("<time datetime=") >= 5


def test_a_moved_eta_shows_beside_the_first_promise_and_in_the_history(client, delayed_order):
    # given: promised in 5 days; the supplier slips to 9
    order, today = delayed_order, timezone.localdate()

    # when
    response = client.get(status_path(order))

    # then
    html = response.content.decode()
    first = (today + timedelta(days=5)).isoformat()
    now = (today + timedelta(days=9)).isoformat()
    text = page_text(response)
    assert re.search(rf'First promised: <time datetime="{first}">', html)
    assert re.search(
        rf'moved from <time datetime="{first}">[^<]+</time> to <time datetime="{now}">', html
    )
    assert "Our supplier changed the delivery date." in text
    # and the delay notice can be answered right here
    assert "Special Edition Hoodie is delayed." in text
    assert "Keep waiting" in text


def test_shipments_show_with_their_tracking_number(client, mixed_order):
    # given
    line = mixed_order.lines.get(product__sku="TEE")
    shipment_create(order=mixed_order, lines=[(line.pk, 1)], tracking="JNE-0042", carrier="JNE")

    # when
    text = page_text(client.get(status_path(mixed_order)))

    # then
    assert "Shipments" in text
    assert "Carrier: JNE · Tracking number: JNE-0042" in text
    assert "1 × Logo Tee shipped" in text
    assert "Partly shipped" not in text  # the hoodies still wait: the order waits for stock
    assert "Waiting for stock" in text


def test_the_total_says_what_shipped_what_is_left_and_what_was_cancelled(client, mixed_order):
    # given: the tee shipped, one of the two hoodies cancelled
    tee, hoodie = mixed_order.lines.order_by("pk")
    shipment_create(order=mixed_order, lines=[(tee.pk, 1)])
    order_line_cancel(line_id=hoodie.pk, quantity=1)

    # when
    text = page_text(client.get(status_path(mixed_order)))

    # then
    assert (
        "Order total Rp200,000 Rp100,000 shipped Rp100,000 still to ship Rp100,000 cancelled"
    ) in text


@pytest.mark.parametrize(
    "path",
    [
        "/orders/{number}/{wrong}/",
        "/orders/{number}/{short}/",
        "/orders/BO-ZZZZ-ZZZZ/{token}/",
        "/orders/{number}/{token}x/",
        "/orders/{number}/{wrong}/lines/{line}/cancel/",
        "/orders/{number}/{wrong}/shipping/",
    ],
)
def test_a_wrong_token_is_the_same_404_as_an_unknown_order(client, mixed_order, path):
    # given
    line = mixed_order.lines.first()
    unknown = client.get("/orders/BO-ZZZZ-ZZZZ/nothing-here/")
    wrong = "A" * len(mixed_order.token)

    # when
    url = path.format(
        number=mixed_order.number,
        token=mixed_order.token,
        wrong=wrong,
        short="abc",
        line=line.pk,
    )
    response = (
        client.get(url)
        if "cancel" not in url and "shipping" not in url
        else (client.post(url, {"quantity": 1, "ship_complete": "1"}))
    )

    # then
    assert response.status_code == 404
    assert response.content == unknown.content
    assert mixed_order.lines.get(pk=line.pk).cancelled == 0


@pytest.mark.parametrize(
    ("method", "page"),
    [
        ("get", ""),
        ("post", "shipping/"),
        ("post", "lines/{line}/cancel/"),
        ("get", "delays/1/lines/{line}/"),
    ],
)
def test_a_wrong_token_runs_exactly_the_queries_of_an_unknown_order(
    client, mixed_order, method, page
):
    # given
    line = mixed_order.lines.first()
    wrong_token = "A" * len(mixed_order.token)
    before = snapshot()

    # when
    with CaptureQueriesContext(connection) as unknown:
        unknown_answer = getattr(client, method)(
            f"/orders/BO-ZZZZ-ZZZZ/{mixed_order.token}/{page.format(line=line.pk)}"
        )
    with CaptureQueriesContext(connection) as wrong:
        wrong_answer = getattr(client, method)(
            f"/orders/{mixed_order.number}/{wrong_token}/{page.format(line=line.pk)}"
        )

    # then
    assert unknown_answer.status_code == wrong_answer.status_code == 404
    assert unknown_answer.content == wrong_answer.content
    assert len(unknown.captured_queries) == len(wrong.captured_queries)
    assert sql_shapes(unknown) == sql_shapes(wrong)
    assert snapshot() == before


def test_the_customer_cancels_backordered_units(client, mixed_order):
    # given
    line = mixed_order.lines.get(product__sku="HOODIE-SE")

    # when
    response = client.post(
        f"{status_path(mixed_order)}lines/{line.pk}/cancel/", {"quantity": 1}, follow=True
    )

    # then: confirmed on the page and owed by email
    assert response.redirect_chain == [(status_path(mixed_order), 302)]
    assert "Cancelled 1 of Special Edition Hoodie. We have emailed you a confirmation." in (
        page_text(response)
    )
    line.refresh_from_db()
    assert (line.backordered, line.cancelled, line.status) == (1, 1, OrderLine.Status.BACKORDERED)
    notice = Notification.objects.get(order=mixed_order, kind=Kind.CANCELLED)
    assert notice.data == {
        "by_customer": True,
        "reason": "",
        "lines": [{"id": line.pk, "quantity": 1}],
    }
    assert "1 × Special Edition Hoodie cancelled" in page_text(response)


@pytest.mark.parametrize(
    ("sku", "quantity", "status"),
    [("HOODIE-SE", 3, 409), ("TEE", 1, 409), ("HOODIE-SE", 0, 400), ("HOODIE-SE", "two", 400)],
)
def test_cancelling_more_than_is_backordered_changes_nothing(
    client, mixed_order, sku, quantity, status
):
    # given: the tee is allocated (customers may not cancel it); two hoodies are backordered
    line = mixed_order.lines.get(product__sku=sku)
    before = list(OrderLine.objects.values_list("allocated", "backordered", "cancelled"))

    # when
    response = client.post(
        f"{status_path(mixed_order)}lines/{line.pk}/cancel/", {"quantity": quantity}
    )

    # then
    assert response.status_code == status
    assert 'role="alert"' in response.content.decode()
    assert list(OrderLine.objects.values_list("allocated", "backordered", "cancelled")) == before
    assert not Notification.objects.filter(kind=Kind.CANCELLED).exists()


def test_a_line_of_another_order_cannot_be_cancelled_through_this_link(client, mixed_order, hoodie):
    # given
    other = order_place(email="bo@example.com", name="Bo", lines=[LineRequest(hoodie.sku, 1)])
    line = other.lines.get()

    # when
    response = client.post(f"{status_path(mixed_order)}lines/{line.pk}/cancel/", {"quantity": 1})

    # then
    assert response.status_code == 404
    line.refresh_from_db()
    assert line.cancelled == 0


def test_self_service_needs_the_csrf_token(mixed_order):
    # given
    client = Client(enforce_csrf_checks=True)
    line = mixed_order.lines.get(product__sku="HOODIE-SE")

    # when
    cancel = client.post(f"{status_path(mixed_order)}lines/{line.pk}/cancel/", {"quantity": 1})
    shipping = client.post(f"{status_path(mixed_order)}shipping/", {"ship_complete": "1"})

    # then
    assert (cancel.status_code, shipping.status_code) == (403, 403)
    line.refresh_from_db()
    mixed_order.refresh_from_db()
    assert (line.cancelled, mixed_order.ship_complete) == (0, False)


def test_the_customer_switches_to_shipping_everything_together_and_back(client, mixed_order):
    # when
    response = client.post(
        f"{status_path(mixed_order)}shipping/", {"ship_complete": "1"}, follow=True
    )

    # then
    assert "Done: we will ship everything together." in page_text(response)
    mixed_order.refresh_from_db()
    assert mixed_order.ship_complete is True
    event = OrderEvent.objects.get(order=mixed_order, kind=OrderEvent.Kind.SHIP_TOGETHER)
    # An order's own event carries no line status.
    assert (event.line_id, event.status_before, event.status_after) == (None, "", "")
    notice = Notification.objects.get(order=mixed_order, kind=Kind.SHIPPING)
    assert notice.data == {"ship_complete": True, "by_customer": True, "lines": []}
    assert "Delivery changed to: everything together" in page_text(response)

    # when: back again
    client.post(f"{status_path(mixed_order)}shipping/", {"ship_complete": "0"})

    # then
    mixed_order.refresh_from_db()
    assert mixed_order.ship_complete is False
    assert Notification.objects.filter(order=mixed_order, kind=Kind.SHIPPING).count() == 2


def test_the_delivery_choice_is_fixed_once_something_shipped(client, mixed_order):
    # given
    line = mixed_order.lines.get(product__sku="TEE")
    shipment_create(order=mixed_order, lines=[(line.pk, 1)], tracking="")

    # when
    response = client.post(f"{status_path(mixed_order)}shipping/", {"ship_complete": "1"})

    # then
    assert response.status_code == 409
    assert "Part of this order has shipped, so how it ships can no longer change." in (
        page_text(response)
    )
    mixed_order.refresh_from_db()
    assert mixed_order.ship_complete is False
    assert not Notification.objects.filter(kind=Kind.SHIPPING).exists()
    assert "Save delivery choice" not in page_text(response)


def test_a_nonsense_delivery_choice_is_a_400(client, mixed_order):
    response = client.post(f"{status_path(mixed_order)}shipping/", {"ship_complete": "maybe"})

    assert response.status_code == 400
    mixed_order.refresh_from_db()
    assert mixed_order.ship_complete is False


def test_the_customer_answers_a_delay_notice_on_the_page(client, delayed_order):
    # given: a delayed order
    order = delayed_order
    notice = Notification.objects.get(order=order, kind=Kind.DELAY)
    line = order.lines.get()

    # when: keep waiting, from the status page
    response = client.post(
        f"{status_path(order)}delays/{notice.pk}/lines/{line.pk}/",
        {"answer": "keep", "return": "status"},
        follow=True,
    )

    # then
    assert response.redirect_chain == [(status_path(order), 302)]
    text = page_text(response)
    assert "Thank you for waiting." in text
    assert "You chose to keep waiting for Special Edition Hoodie" in text
    assert "You told us you are happy to wait for this." in text
    assert "Keep waiting" not in text
    assert DelayAnswer.objects.get().answer == "keep"
    kept = Notification.objects.get(order=order, kind=Kind.KEPT)
    assert kept.data == {"lines": [{"id": line.pk}]}


def test_the_page_can_switch_the_order_to_indonesian(client, mixed_order):
    # when
    response = client.post(f"{status_path(mixed_order)}language/", {"locale": "id"}, follow=True)

    # then: the order, its page and its later emails are in Indonesian
    mixed_order.refresh_from_db()
    assert mixed_order.locale == "id"
    assert response.content.decode().count('<html lang="id">') == 1
    assert f"Pesanan {mixed_order.number}" in page_text(response)
    assert "Rp100.000" in page_text(response)


def test_an_unknown_language_is_refused(client, mixed_order):
    response = client.post(f"{status_path(mixed_order)}language/", {"locale": "fr"})

    assert response.status_code == 400
    mixed_order.refresh_from_db()
    assert mixed_order.locale == "en"


def build_order(lines: int) -> Order:
    """An order of `lines` lines, each partly in stock, with a shipment and a cancellation."""
    products = [ProductFactory() for _ in range(lines)]
    for product in products:
        stock_receive(product=product, quantity=3)
    order = order_place(
        email="ana@example.com",
        name="Ana",
        lines=[LineRequest(product.sku, 4) for product in products],
    )
    for line in order.lines.all():
        shipment_create(order=order, lines=[(line.pk, 1)], tracking="T")
        order_line_cancel(line_id=line.pk, quantity=1, by_customer=True)
    return order


def test_the_page_takes_the_same_queries_however_long_the_order(
    client, default_warehouse, django_assert_num_queries
):
    # given
    short, long = build_order(1), build_order(8)

    # when / then
    for order in (short, long):
        with django_assert_num_queries(8):
            response = client.get(status_path(order))
        assert response.status_code == 200
    assert page_text(response).count("× 4") == 8

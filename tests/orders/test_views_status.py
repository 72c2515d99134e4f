"""The status page says only what is true: what can be cancelled, when the note on what
cannot applies, and a language switched there holds for the rest of the visit."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.utils import translation

from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import Order, OrderLine
from orders.services import order_line_cancel, shipment_create
from tests.factories import ProductFactory
from tests.helpers import place
from tests.pages import page_text

pytestmark = pytest.mark.django_db

NOTE = (
    "Items in stock for you and items on their way cannot be cancelled here. Backordered items"
    " can, at any time before they ship."
)


def status_path(order: Order) -> str:
    return f"/orders/{order.number}/{order.token}/"


def cancel_path(order: Order, line: OrderLine) -> str:
    return f"{status_path(order)}lines/{line.pk}/cancel/"


@pytest.fixture
def tee(default_warehouse):
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    stock_receive(product=tee, quantity=5)
    return tee


@pytest.fixture
def mixed_order(tee, hoodie) -> Order:
    """One tee in stock for the customer, two hoodies backordered."""
    return place((tee, 1), (hoodie, 2), who="ana")


def counters() -> list[tuple[int, int, int, int]]:
    return list(
        OrderLine.objects.order_by("pk").values_list(
            "allocated", "backordered", "shipped", "cancelled"
        )
    )


# Cancelling more than can be cancelled ------------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "quantity", "status", "error"),
    [
        (
            "HOODIE-SE",
            "3",
            409,
            "You can cancel at most 2 of Special Edition Hoodie: only units still waiting for"
            " stock can be cancelled here.",
        ),
        (
            "HOODIE-SE",
            "1000001",
            409,
            "You can cancel at most 2 of Special Edition Hoodie: only units still waiting for"
            " stock can be cancelled here.",
        ),
        (
            "TEE",
            "1",
            409,
            "Nothing of Logo Tee can be cancelled here: only units still waiting for stock can"
            " be, and none of it is waiting.",
        ),
        ("HOODIE-SE", "0", 400, "Enter at least 1 unit to cancel."),
        ("HOODIE-SE", "two", 400, "Enter a whole number, like 2."),
    ],
)
def test_a_refused_cancellation_says_exactly_what_can_be_cancelled(
    client, mixed_order, sku, quantity, status, error
):
    # given
    line = mixed_order.lines.get(product__sku=sku)
    before = counters()

    # when
    response = client.post(cancel_path(mixed_order, line), {"quantity": quantity})

    # then
    assert response.status_code == status
    assert f'<p class="error" role="alert" id="page-error">{error}</p>' in (
        response.content.decode()
    )
    assert "in stock for you or on its way" not in page_text(response)
    assert counters() == before
    assert not Notification.objects.filter(kind=Notification.Kind.CANCELLED).exists()


def test_the_cancel_field_points_at_its_error(client, mixed_order):
    line = mixed_order.lines.get(product__sku="HOODIE-SE")

    html = client.post(cancel_path(mixed_order, line), {"quantity": "3"}).content.decode()

    assert (
        f'id="cancel-{line.pk}" type="number" name="quantity" value="2" min="1" max="2"'
        ' inputmode="numeric" aria-invalid="true" aria-describedby="page-error">'
    ) in html


def test_one_unit_left_is_said_in_the_singular_and_in_the_orders_language(client, hoodie):
    # given: an Indonesian order with one hoodie still backordered of three
    order = place((hoodie, 3), who="ayu", locale="id")
    line = order.lines.get()
    order_line_cancel(line_id=line.pk, quantity=2, by_customer=True)
    before = counters()

    # when
    response = client.post(cancel_path(order, line), {"quantity": "2"})

    # then
    assert response.status_code == 409
    assert (
        "Anda bisa membatalkan paling banyak 1 Special Edition Hoodie: di sini hanya unit yang"
        " masih menunggu stok yang bisa dibatalkan."
    ) in page_text(response)
    assert counters() == before


def test_nothing_left_to_cancel_is_said_in_indonesian(client, hoodie):
    order = place((hoodie, 1), who="ayu", locale="id")
    line = order.lines.get()
    order_line_cancel(line_id=line.pk, quantity=1, by_customer=True)
    before = counters()

    response = client.post(cancel_path(order, line), {"quantity": "1"})

    assert response.status_code == 409
    assert (
        "Tidak ada Special Edition Hoodie yang bisa dibatalkan di sini: hanya unit yang masih"
        " menunggu stok yang bisa, dan tidak ada yang sedang menunggu."
    ) in page_text(response)
    assert counters() == before


# The note on what cannot be cancelled --------------------------------------------------------


def test_the_note_shows_beside_units_in_stock_and_units_backordered(client, mixed_order):
    assert NOTE in page_text(client.get(status_path(mixed_order)))


def test_the_note_shows_beside_units_shipped_and_units_backordered(client, tee, hoodie):
    order = place((tee, 1), (hoodie, 1))
    shipment_create(order=order, lines=[(order.lines.get(product=tee).pk, 1)], tracking="T")

    assert NOTE in page_text(client.get(status_path(order)))


def test_no_note_on_an_order_that_is_ready(client, tee):
    order = place((tee, 2))

    text = page_text(client.get(status_path(order)))

    assert "Ready to ship" in text
    assert "cannot be cancelled" not in text


def test_no_note_on_an_order_that_is_all_cancelled(client, hoodie):
    order = place((hoodie, 2))
    order_line_cancel(line_id=order.lines.get().pk, by_customer=True)

    text = page_text(client.get(status_path(order)))

    assert "2 cancelled" in text
    assert "cannot be cancelled" not in text


def test_no_note_when_every_unit_waits_and_each_has_its_cancel_form(client, hoodie):
    order = place((hoodie, 2))

    text = page_text(client.get(status_path(order)))

    assert "Cancel these units" in text
    assert "cannot be cancelled" not in text


def test_no_note_on_an_order_that_has_shipped(client, tee):
    order = place((tee, 1))
    shipment_create(order=order, lines=[(order.lines.get().pk, 1)], tracking="T")

    assert "cannot be cancelled" not in page_text(client.get(status_path(order)))


def test_the_note_is_translated(client, tee, hoodie):
    order = place((tee, 1), (hoodie, 1), locale="id")

    with translation.override("id"):
        note = translation.gettext(NOTE)

    assert note != NOTE
    assert note in page_text(client.get(status_path(order)))


# Switching the language on the status page ---------------------------------------------------


def test_switching_to_indonesian_on_the_status_page_holds_for_the_whole_visit(client, mixed_order):
    # given: an English visit
    assert '<html lang="en">' in client.get("/").content.decode()

    # when: the customer switches to Indonesian on their order's page
    response = client.post(f"{status_path(mixed_order)}language/", {"locale": "id"}, follow=True)

    # then: the order keeps Indonesian for its pages and emails
    mixed_order.refresh_from_db()
    assert mixed_order.locale == "id"
    assert f"Pesanan {mixed_order.number}" in page_text(response)
    # and the shop link leads to the Indonesian catalogue, as do the cart and the lookup page
    assert '<a href="/">Toko</a>' in response.content.decode()
    catalogue = client.get("/")
    assert '<html lang="id">' in catalogue.content.decode()
    assert "<h1>Toko</h1>" in catalogue.content.decode()
    assert '<html lang="id">' in client.get("/cart/").content.decode()
    assert '<html lang="id">' in client.get("/orders/lookup/").content.decode()
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "id"


def test_switching_back_to_english_on_the_status_page_holds_too(client, mixed_order):
    # given: an Indonesian visit and order
    client.post(f"{status_path(mixed_order)}language/", {"locale": "id"})

    # when
    client.post(f"{status_path(mixed_order)}language/", {"locale": "en"})

    # then
    mixed_order.refresh_from_db()
    assert mixed_order.locale == "en"
    assert "<h1>Shop</h1>" in client.get("/").content.decode()


def test_switching_on_one_orders_page_leaves_other_orders_as_they_were(client, hoodie):
    # given: two orders, both in English
    first = place((hoodie, 1), who="ana")
    second = place((hoodie, 1), who="bo")

    # when
    client.post(f"{status_path(first)}language/", {"locale": "id"})

    # then: the visit is Indonesian, but the other order keeps English for its emails and page
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.locale, second.locale) == ("id", "en")
    assert f"Order {second.number}" in page_text(client.get(status_path(second)))


def test_an_unknown_language_changes_neither_the_order_nor_the_visit(client, mixed_order):
    response = client.post(f"{status_path(mixed_order)}language/", {"locale": "fr"})

    assert response.status_code == 400
    mixed_order.refresh_from_db()
    assert mixed_order.locale == "en"
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies
    assert "<h1>Shop</h1>" in client.get("/").content.decode()

"""The cart and checkout: the truth about dates before ordering, refusals explained."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inventory.models import Product
from inventory.stock import stock_adjust, stock_receive
from notifications.models import Notification
from orders.models import Order, OrderLine, RefusedDemand
from tests.factories import ProductFactory
from tests.pages import page_text

pytestmark = pytest.mark.django_db


def day(days: int) -> str:
    when = timezone.localdate() + timedelta(days=days)
    return f"{when.day} {when:%B %Y}"


@pytest.fixture
def tee(default_warehouse) -> Product:
    tee = ProductFactory(sku="TEE", name="Logo Tee", price="150000")
    stock_receive(product=tee, quantity=5)
    return tee


@pytest.fixture
def stickers(default_warehouse) -> Product:
    """Sold out, and the shop does not take backorders for it."""
    return ProductFactory(
        sku="STICKERS", name="Sticker pack", backorder_policy=Product.BackorderPolicy.DENY
    )


def add(client: Client, sku: str, quantity: int):
    return client.post("/cart/add/", {"sku": sku, "quantity": quantity})


DETAILS = {
    "email": "ana@example.com",
    "name": "Ana Putri",
    "address": "Jl. Merdeka 1\nRT 01",
    "city": "Jakarta",
    "postal_code": "10110",
    "country": "Indonesia",
    "phone": "",
    "ship_complete": "0",
}


def checkout_form(client: Client) -> dict[str, str]:
    """The hidden fields of the checkout page as the browser would send them back."""
    page = client.get("/checkout/").content.decode()
    hidden = dict(
        re.findall(r'<input type="hidden" name="(checkout_key|shown)" value="([^"]*)"', page)
    )
    return {**DETAILS, **hidden}


def test_the_cart_says_what_ships_now_and_what_is_backordered_with_its_date(client, hoodie, tee):
    # given
    add(client, "TEE", 2)
    add(client, hoodie.sku, 2)

    # when
    response = client.get("/cart/")

    # then
    text = page_text(response)
    assert "All 2 are in stock: they ship " + day(0) in text
    assert "All 2 are backordered: they ship by " + day(14) in text
    assert "Rp500,000" in text  # 2 × Rp150,000 + 2 × Rp100,000
    assert Order.objects.count() == 0


def test_a_partly_available_line_is_split_into_now_and_later(client, hoodie):
    # given: three hoodies on the shelf, five wanted
    stock_receive(product=hoodie, quantity=3)
    add(client, hoodie.sku, 5)

    # when
    text = page_text(client.get("/checkout/"))

    # then
    assert f"3 in stock: ship {day(0)}." in text
    assert f"2 backordered: ship by {day(14)}." in text
    assert "Ship what is ready now" in text
    assert f"One parcel, by {day(14)}." in text


def test_placing_the_order_keeps_every_detail_and_clears_the_cart(client, hoodie, tee):
    # given
    add(client, "TEE", 1)
    add(client, hoodie.sku, 2)
    form = checkout_form(client)

    # when
    response = client.post("/checkout/", {**form, "ship_complete": "1"}, follow=True)

    # then
    order = Order.objects.get()
    assert response.redirect_chain == [(f"/orders/{order.number}/{order.token}/", 302)]
    assert (order.email, order.name, order.locale, order.ship_complete) == (
        "ana@example.com",
        "Ana Putri",
        "en",
        True,
    )
    assert (order.address, order.city, order.postal_code, order.country, order.phone) == (
        "Jl. Merdeka 1\nRT 01",
        "Jakarta",
        "10110",
        "Indonesia",
        "",
    )
    lines = {line.product.sku: line for line in order.lines.all()}
    assert (lines["TEE"].allocated, lines["HOODIE-SE"].backordered) == (1, 2)
    assert lines["HOODIE-SE"].eta == timezone.localdate() + timedelta(days=14)
    assert f"Thank you! Order {order.number} is placed." in page_text(response)
    assert Notification.objects.filter(order=order, kind="confirmation").count() == 1
    assert client.session["cart"] == {}


def test_an_order_in_indonesian_is_stored_with_its_locale(client, hoodie):
    # given: the shopper chose Bahasa Indonesia
    client.post("/i18n/setlang/", {"language": "id", "next": "/"})
    add(client, hoodie.sku, 1)
    form = checkout_form(client)

    # when
    response = client.post("/checkout/", form, follow=True)

    # then
    order = Order.objects.get()
    assert order.locale == "id"
    assert f"Pesanan {order.number}" in page_text(response)


def test_a_double_submit_places_one_order(client, hoodie):
    # given
    add(client, hoodie.sku, 1)
    form = checkout_form(client)
    client.post("/checkout/", form)
    add(client, hoodie.sku, 1)  # the cart emptied; the shopper's second click sends the same

    # when
    response = client.post("/checkout/", form)

    # then
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.number}/{order.token}/"


def test_when_stock_moves_during_checkout_nothing_is_ordered_on_old_facts(client, hoodie):
    # given: shown "in stock", then someone else takes the stock
    stock_receive(product=hoodie, quantity=1)
    add(client, hoodie.sku, 1)
    form = checkout_form(client)
    stock_adjust(product=hoodie, quantity=-1, reason="damaged")

    # when
    response = client.post("/checkout/", form)

    # then: the new truth is shown, the form keeps what was typed, nothing is ordered
    assert response.status_code == 409
    text = page_text(response)
    assert "Stock or dates changed while you were checking out." in text
    assert f"Backordered: it ships by {day(14)}." in text
    assert 'value="ana@example.com"' in response.content.decode()
    assert Order.objects.count() == 0

    # when: the shopper looks and confirms
    fresh = re.search(r'name="shown" value="([^"]+)"', response.content.decode()).group(1)
    placed = client.post("/checkout/", {**form, "shown": fresh})

    # then
    assert placed.status_code == 302
    assert Order.objects.get().lines.get().backordered == 1


def test_a_refused_line_is_explained_and_the_cart_is_kept(client, stickers, hoodie):
    # given: two sticker packs in stock, the cart has both; one is sold meanwhile
    stock_receive(product=stickers, quantity=2)
    add(client, "STICKERS", 2)
    add(client, hoodie.sku, 1)
    form = checkout_form(client)
    stock_adjust(product=stickers, quantity=-1, reason="damaged")

    # when
    response = client.post("/checkout/", form)

    # then
    assert response.status_code == 422
    text = page_text(response)
    assert "Only 1 left, and we are not taking backorders for it." in text
    assert "Some items cannot be ordered as they are: see below." in text
    assert Order.objects.count() == 0
    assert client.session["cart"] == {"STICKERS": 2, hoodie.sku: 1}


def test_adding_more_than_the_shop_can_take_is_refused_on_the_product_page(client, stickers):
    # given
    stock_receive(product=stickers, quantity=2)
    add(client, "STICKERS", 1)

    # when
    response = add(client, "STICKERS", 2)

    # then
    assert response.status_code == 422
    text = page_text(response)
    assert "You already have 1 in your cart. Only 2 left, and we are not taking backorders" in text
    assert client.session["cart"] == {"STICKERS": 1}


def test_the_backorder_cap_is_explained(client, hoodie):
    # given: room for two more backorders
    Product.objects.filter(pk=hoodie.pk).update(backorder_limit=2)

    # when
    response = add(client, hoodie.sku, 3)

    # then
    assert response.status_code == 422
    assert "We can take only 2 more for now: our backorder list for it is nearly full." in (
        page_text(response)
    )
    assert "cart" not in client.session


def test_max_per_order_is_explained(client, hoodie):
    Product.objects.filter(pk=hoodie.pk).update(max_per_order=2)

    response = add(client, hoodie.sku, 3)

    assert response.status_code == 400
    assert "Check when it ships At most 2 per item in one order." in page_text(response)
    assert "cart" not in client.session


def test_max_per_order_counts_what_is_in_the_cart(client, hoodie):
    # given
    Product.objects.filter(pk=hoodie.pk).update(max_per_order=2)
    add(client, hoodie.sku, 1)

    # when
    response = add(client, hoodie.sku, 2)

    # then
    assert response.status_code == 422
    assert "You already have 1 in your cart. At most 2 per item in one order." in (
        page_text(response)
    )
    assert client.session["cart"] == {hoodie.sku: 1}


# The shop-wide limit per line (BACKORDER_MAX_LINE_QUANTITY, 100 by default) -----------------


@pytest.mark.parametrize("quantity", [101, 999_999, 1_000_001])
def test_adding_more_than_the_shop_takes_in_one_order_is_a_form_error(client, tee, quantity):
    response = add(client, "TEE", quantity)

    assert response.status_code == 400
    assert "Check when it ships At most 100 per item in one order." in page_text(response)
    assert "cart" not in client.session


def test_adding_up_to_past_the_limit_is_refused_and_the_cart_kept(client, hoodie):
    # given
    add(client, hoodie.sku, 60)

    # when
    response = add(client, hoodie.sku, 41)

    # then
    assert response.status_code == 422
    assert "You already have 60 in your cart. At most 100 per item in one order." in (
        page_text(response)
    )
    assert client.session["cart"] == {hoodie.sku: 60}


def test_the_limit_itself_goes_in_the_cart(client, hoodie):
    add(client, hoodie.sku, 60)

    response = add(client, hoodie.sku, 40)

    assert response.status_code == 302
    assert client.session["cart"] == {hoodie.sku: 100}


def quantity_error(response) -> str:
    """The error shown under the cart line's quantity field."""
    match = re.search(
        r'aria-invalid="true" aria-describedby="(quantity-\d+-error)">.*?'
        r'<ul class="errorlist" id="\1" role="alert"><li>([^<]*)</li></ul>',
        response.content.decode(),
        re.S,
    )
    assert match, "no error under a quantity field"
    return match.group(2)


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        ("1000001", "At most 100 per item in one order."),
        ("101", "At most 100 per item in one order."),
        ("999999", "At most 100 per item in one order."),
        ("-1", "Enter 0 or more: 0 takes the item out of your cart."),
        ("1.5", "Enter a whole number, like 2."),
        ("", "Enter a number."),
    ],
)
def test_a_cart_quantity_the_shop_does_not_take_says_why_and_changes_nothing(
    client, hoodie, quantity, error
):
    # given
    add(client, hoodie.sku, 2)

    # when
    response = client.post("/cart/", {"sku": hoodie.sku, "quantity": quantity})

    # then: the error sits under the line's field; the cart is as it was
    assert response.status_code == 400
    assert quantity_error(response) == error
    assert client.session["cart"] == {hoodie.sku: 2}
    assert "All 2 are backordered" in page_text(response)


def test_a_cart_quantity_over_the_products_own_cap_says_that_cap(client, hoodie):
    # given
    Product.objects.filter(pk=hoodie.pk).update(max_per_order=3)
    add(client, hoodie.sku, 2)

    # when
    response = client.post("/cart/", {"sku": hoodie.sku, "quantity": 4})

    # then
    assert response.status_code == 400
    assert quantity_error(response) == "At most 3 per item in one order."
    assert client.session["cart"] == {hoodie.sku: 2}


def test_the_cart_takes_the_limit_itself(client, hoodie):
    add(client, hoodie.sku, 2)

    response = client.post("/cart/", {"sku": hoodie.sku, "quantity": 100})

    assert response.status_code == 302
    assert client.session["cart"] == {hoodie.sku: 100}


def test_checkout_refuses_a_line_over_the_limit_and_places_nothing(client, hoodie, settings):
    # given: 5 in the cart, then the shop lowers its limit to 3
    add(client, hoodie.sku, 5)
    form = checkout_form(client)
    settings.BACKORDER_MAX_LINE_QUANTITY = 3

    # when
    page = client.get("/checkout/")
    response = client.post("/checkout/", form)

    # then
    assert "At most 3 per item in one order." in page_text(page)
    assert "Place order" not in page_text(page)
    assert response.status_code == 422
    assert "At most 3 per item in one order." in page_text(response)
    assert "Some items cannot be ordered as they are: see below." in page_text(response)
    assert Order.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert client.session["cart"] == {hoodie.sku: 5}


@pytest.mark.parametrize("quantity", ["", "0", "-1", "1.5", "many", "1000001"])
def test_a_bad_quantity_is_a_form_error(client, hoodie, quantity):
    response = client.post("/cart/add/", {"sku": hoodie.sku, "quantity": quantity})

    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert "cart" not in client.session


def test_an_unknown_product_cannot_be_added(client, hoodie):
    response = client.post("/cart/add/", {"sku": "NOPE\x00", "quantity": 1}, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert "That product is no longer sold." in page_text(response)
    assert "cart" not in client.session


def test_the_cart_changes_and_removes_lines(client, hoodie, tee):
    # given
    add(client, hoodie.sku, 1)
    add(client, "TEE", 1)

    # when
    client.post("/cart/", {"sku": hoodie.sku, "quantity": 4})
    client.post("/cart/", {"sku": "TEE", "quantity": 0})
    bad = client.post("/cart/", {"sku": "TEE", "quantity": 2})

    # then
    assert client.session["cart"] == {hoodie.sku: 4}
    assert bad.status_code == 400


def test_a_quantity_the_shop_cannot_take_stays_in_the_cart_with_its_reason(client, stickers):
    # given
    stock_receive(product=stickers, quantity=2)
    add(client, "STICKERS", 1)

    # when
    client.post("/cart/", {"sku": "STICKERS", "quantity": 5})
    response = client.get("/cart/")

    # then
    assert client.session["cart"] == {"STICKERS": 5}
    text = page_text(response)
    assert "Only 2 left, and we are not taking backorders for it." in text
    assert "Continue to checkout" not in text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("name", ""),
        ("address", ""),
        ("postal_code", ""),
        ("name", "Ana\x00"),
        ("checkout_key", ""),
    ],
)
def test_bad_details_are_form_errors_and_order_nothing(client, hoodie, field, value):
    # given
    add(client, hoodie.sku, 1)
    form = checkout_form(client)

    # when
    response = client.post("/checkout/", {**form, field: value})

    # then
    assert response.status_code == 400
    assert Order.objects.count() == 0
    assert RefusedDemand.objects.count() == 0
    assert client.session["cart"] == {hoodie.sku: 1}


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client):
    response = client.get("/checkout/", follow=True)

    assert response.redirect_chain == [("/cart/", 302)]
    assert "Your cart is empty." in page_text(response)


def test_the_pages_need_the_same_queries_for_one_line_or_ten(
    client, default_warehouse, django_assert_num_queries
):
    # given
    products = [ProductFactory() for _ in range(10)]
    one, ten = Client(), Client()
    add(one, products[0].sku, 1)
    for product in products:
        add(ten, product.sku, 1)

    # when / then
    # (adding to the cart read the products' supply outlooks: now cached)
    for shopper in (one, ten):
        with django_assert_num_queries(4):
            assert shopper.get("/cart/").status_code == 200
        with django_assert_num_queries(4):
            assert shopper.get("/checkout/").status_code == 200
    assert OrderLine.objects.count() == 0


def test_a_form_sent_without_its_csrf_token_is_refused_kindly(hoodie):
    # given
    shopper = Client(enforce_csrf_checks=True)

    # when
    response = shopper.post("/cart/add/", {"sku": hoodie.sku, "quantity": 1})

    # then
    assert response.status_code == 403
    assert "Please try again" in page_text(response)
    assert "cart" not in shopper.session


def test_an_unknown_page_is_a_404_in_the_shops_words(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in page_text(response)
    assert "csrfmiddlewaretoken" not in response.content.decode()


def test_a_cart_with_nothing_to_choose_orders_without_a_delivery_choice(client, hoodie):
    # given: everything is backordered, so the page offers no delivery choice
    add(client, hoodie.sku, 2)
    form = checkout_form(client)
    del form["ship_complete"]
    assert 'name="ship_complete"' not in client.get("/checkout/").content.decode()

    # when
    response = client.post("/checkout/", form)

    # then
    order = Order.objects.get()
    assert response.status_code == 302
    assert order.ship_complete is False
    assert order.lines.get().backordered == 2

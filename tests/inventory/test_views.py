"""The storefront: catalogue and product pages speak the ETA engine's quote."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inventory.models import Product
from inventory.purchasing import PurchaseLineRequest, purchase_order_create
from inventory.stock import stock_receive
from notifications.models import StockAlert
from orders.models import RefusedDemand
from tests.factories import ProductFactory, SupplierFactory
from tests.pages import page_text

pytestmark = pytest.mark.django_db


def day(days: int) -> str:
    when = timezone.localdate() + timedelta(days=days)
    return f'<time datetime="{when.isoformat()}">{when.day} {when:%B %Y}</time>'


@pytest.fixture
def shelf(default_warehouse) -> dict[str, Product]:
    """One product of every kind of availability."""
    today = timezone.localdate()
    products = {
        "in_stock": ProductFactory(sku="TEE", name="Logo Tee", price="150000"),
        "backorder": ProductFactory(sku="HOODIE", name="Hoodie", price="450000"),
        "unknown": ProductFactory(sku="MUG", name="Mug", lead_time_days=None),
        "preorder": ProductFactory(
            sku="CAP",
            name="Tour cap",
            backorder_policy=Product.BackorderPolicy.PREORDER,
            release_date=today + timedelta(days=30),
        ),
        "sold_out": ProductFactory(
            sku="STICKERS", name="Stickers", backorder_policy=Product.BackorderPolicy.DENY
        ),
        "full": ProductFactory(sku="SCARF", name="Scarf", backorder_limit=0),
        "coming": ProductFactory(
            sku="BOOK",
            name="Book",
            backorder_policy=Product.BackorderPolicy.DENY,
            release_date=today + timedelta(days=10),
        ),
    }
    stock_receive(product=products["in_stock"], quantity=3)
    return products


def test_the_catalogue_shows_each_products_badge(client, shelf):
    # when
    response = client.get("/")

    # then
    assert response.status_code == 200
    html = response.content.decode()
    text = page_text(response)
    assert '<span class="badge in_stock">In stock</span>' in html
    assert f'<span class="badge backorder">Backorder: ships by {day(14)}</span>' in html
    assert '<span class="badge backorder">Backorder: ship date to be confirmed</span>' in html
    assert f'<span class="badge preorder">Pre-order: releases {day(30)}</span>' in html
    assert "Out of stock: tell me when it's back" in text
    assert 'href="/products/STICKERS/#alert"' in html
    assert '<span class="badge unavailable">Sold out</span>' in html
    assert f'<span class="badge unavailable">Coming {day(10)}</span>' in html
    assert "Rp150,000" in text and "Rp450,000" in text


def test_the_badge_counts_incoming_supply(client, shelf):
    # given: a purchase order lands in five days
    purchase_order_create(
        supplier=SupplierFactory(),
        lines=[PurchaseLineRequest("HOODIE", 10, timezone.localdate() + timedelta(days=5))],
    )

    # when
    html = client.get("/products/HOODIE/").content.decode()

    # then
    assert f"Backorder: ships by {day(5)}" in html


def test_the_catalogue_in_indonesian_formats_prices_and_dates(client, shelf):
    # given
    client.post("/i18n/setlang/", {"language": "id", "next": "/"})
    when = timezone.localdate() + timedelta(days=14)
    months = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ]

    # when
    response = client.get("/")

    # then
    text = page_text(response)
    assert '<html lang="id">' in response.content.decode()
    assert "Rp150.000" in text and "Rp450.000" in text
    assert (
        f"Backorder: dikirim paling lambat {when.day} {months[when.month - 1]} {when.year}" in text
    )
    assert "Stok habis: kabari saya saat tersedia lagi" in text


def test_the_product_page_quotes_the_quantity_asked(client, shelf):
    # given: three tees in stock
    # when
    response = client.get("/products/TEE/?quantity=5")
    text, html = page_text(response), response.content.decode()

    # then: the one form adds what it quotes, and says no number it does not know
    assert "3 in stock: ship" in text
    assert "2 backordered: ship by" in text
    assert "Quantity Add to cart Check when it ships" in text
    assert 'name="quantity" value="5"' in html


def test_the_product_page_has_one_quantity_and_its_button_adds_what_is_typed(client, shelf):
    # given: the page's one form
    html = client.get("/products/TEE/").content.decode()
    form = re.search(r'<form method="post" action="/cart/add/".*?</form>', html, re.S).group(0)
    assert html.count('name="quantity"') == form.count('name="quantity"') == 1
    assert '<button class="button primary" type="submit">Add to cart</button>' in form
    assert re.search(r"Add \d+ to cart", html) is None

    # when: the shopper types 2 and presses "Add to cart"
    response = client.post("/cart/add/", {"sku": "TEE", "quantity": "2"}, follow=True)

    # then
    assert response.redirect_chain == [("/cart/", 302)]
    assert client.session["cart"] == {"TEE": 2}
    assert "Added 2 of Logo Tee to your cart." in page_text(response)


def test_check_when_it_ships_quotes_the_quantity_typed_and_adds_nothing(client, shelf):
    # when: the same form's other button
    response = client.post("/cart/add/", {"sku": "TEE", "quantity": "2", "check": "1"}, follow=True)

    # then: the quote for 2, the 2 kept in the field, nothing in the cart
    assert response.redirect_chain == [("/products/TEE/?quantity=2", 302)]
    assert f"All 2 are in stock: they ship {day(0)}." in response.content.decode()
    assert 'name="quantity" value="2"' in response.content.decode()
    assert "cart" not in client.session


def test_check_when_it_ships_with_a_bad_quantity_says_why(client, shelf):
    response = client.post("/cart/add/", {"sku": "TEE", "quantity": "0", "check": "1"})

    assert response.status_code == 400
    assert "Enter a quantity of 1 or more." in page_text(response)
    assert "cart" not in client.session


@pytest.mark.parametrize(
    ("quantity", "error"),
    [
        ("0", "Enter a quantity of 1 or more."),
        ("-2", "Enter a quantity of 1 or more."),
        ("x", "Enter a whole number, like 2."),
        ("101", "At most 100 per item in one order."),
        ("1000001", "At most 100 per item in one order."),
        ("9" * 5000, "Enter a whole number, like 2."),
    ],
)
def test_a_bad_quantity_on_the_product_page_is_a_400(client, shelf, quantity, error):
    response = client.get(f"/products/TEE/?quantity={quantity}")

    assert response.status_code == 400
    html = response.content.decode()
    assert f'<ul class="errorlist" id="id_quantity_error" role="alert"><li>{error}</li></ul>' in (
        html
    )
    assert 'aria-describedby="id_quantity_error"' in html
    assert 'id="quote"' not in html


def test_an_unknown_product_is_a_404(client, shelf):
    assert client.get("/products/NOPE/").status_code == 404
    assert client.get("/products/%00/").status_code == 404


def test_a_shopper_asks_to_hear_when_a_sold_out_product_is_back(client, shelf):
    # when
    response = client.post("/products/STICKERS/alert/", {"email": "ayu@example.com"}, follow=True)

    # then
    assert response.redirect_chain == [("/products/STICKERS/", 302)]
    assert "We will email ayu@example.com once Stickers is back in stock." in page_text(response)
    alert = StockAlert.objects.get()
    assert (alert.product.sku, alert.email, alert.locale) == ("STICKERS", "ayu@example.com", "en")


def test_an_alert_for_an_orderable_product_is_not_needed(client, shelf):
    response = client.post("/products/TEE/alert/", {"email": "ayu@example.com"}, follow=True)

    assert "Good news: this product can be ordered now." in page_text(response)
    assert not StockAlert.objects.exists()


def test_a_bad_alert_email_is_a_form_error(client, shelf):
    response = client.post("/products/STICKERS/alert/", {"email": "nope"})

    assert response.status_code == 400
    assert "Enter a valid email address." in page_text(response)
    assert not StockAlert.objects.exists()


def test_the_alert_form_needs_csrf(shelf):
    response = Client(enforce_csrf_checks=True).post(
        "/products/STICKERS/alert/", {"email": "ayu@example.com"}
    )

    assert response.status_code == 403
    assert not StockAlert.objects.exists()


def test_the_catalogue_takes_the_same_queries_for_one_product_or_a_full_page(
    client, default_warehouse, settings, django_assert_num_queries
):
    # given
    settings.BACKORDER_CATALOGUE_PAGE_SIZE = 12
    ProductFactory(name="Zebra print bag")  # sorts last: the page shows only stocked products

    # when / then
    with django_assert_num_queries(6):
        assert client.get("/").status_code == 200
    for _ in range(20):
        product = ProductFactory()
        stock_receive(product=product, quantity=1)
    with django_assert_num_queries(6):
        response = client.get("/")
    assert page_text(response).count("In stock") == 12
    assert "Page 1 of 2" in page_text(response)


def test_the_product_page_takes_a_fixed_number_of_queries(client, shelf, django_assert_num_queries):
    with django_assert_num_queries(5):
        assert client.get("/products/HOODIE/").status_code == 200
    with django_assert_num_queries(3):  # the supply outlook from the cache
        assert client.get("/products/HOODIE/?quantity=3").status_code == 200


def test_a_refused_add_to_cart_is_recorded_as_lost_demand_once_a_day(client, shelf):
    # when: the same shopper tries a sold-out product three times, and a capped one once
    statuses = [
        client.post("/cart/add/", {"sku": "STICKERS", "quantity": "2"}).status_code
        for _ in range(3)
    ]
    client.post("/cart/add/", {"sku": "SCARF", "quantity": "1"})
    # and another shopper tries the sold-out one too
    Client().post("/cart/add/", {"sku": "STICKERS", "quantity": "5"})

    # then: refused each time, recorded once per shopper, with the rule's reason
    assert statuses == [422, 422, 422]
    assert sorted(RefusedDemand.objects.values_list("product__sku", "quantity", "reason")) == [
        ("SCARF", 1, "backorder_limit"),
        ("STICKERS", 2, "out_of_stock"),
        ("STICKERS", 5, "out_of_stock"),
    ]
    # an add the shop accepts records nothing
    client.post("/cart/add/", {"sku": "TEE", "quantity": "1"})
    assert RefusedDemand.objects.count() == 3

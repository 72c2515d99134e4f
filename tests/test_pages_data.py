"""No customer page can be broken by one product's data.

Products with the nastiest SKUs the rule allows (1 to 64 of letters, digits, "-", "_", ".")
and the nastiest names (markup, quotes, template syntax, bidi overrides, emoji, the longest
name the catalogue stores, line breaks, format specifiers) go through every customer page:
each answers 200, shows the name escaped, and every link to a product leads, as a browser
resolves it, back to that same product.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.utils.html import escape

from inventory.models import Product
from inventory.stock import stock_receive
from inventory.views import product_path
from notifications.models import StockAlert
from orders.models import Order
from orders.services import shipment_create
from tests.factories import ProductFactory
from tests.pages import page_text

pytestmark = pytest.mark.django_db

SKUS = ["...", ".-", "_.", "-", "_", "a.b", "A" * 64, "-.-_", "0", "Z-9_x.y"]
NAMES = [
    '<script>alert("name")</script>',
    "\"Quoted\" & 'single' <b>bold</b> </td></tr></table>",
    "{{ product.name }} {% now 'Y' %} {# comment #}",
    "\u202eevil\u202c right-to-left \u2067isolate\u2069",
    "Tote 👜 🏳️‍🌈 bag",
    "W" * 200,  # the longest name the catalogue stores (its column holds 200 characters)
    "First line\nsecond line\r\nthird",
    "%s %d %(product)s {0} {}",
    "<img src=x onerror=alert(1)>",
    "</bdi><script>alert(2)</script>",
]


@pytest.fixture
def nasty(default_warehouse) -> list[Product]:
    """One product per SKU, each with one of the names; each has some stock and backorders."""
    products = [ProductFactory(sku=sku, name=name) for sku, name in zip(SKUS, NAMES, strict=True)]
    for product in products:
        stock_receive(product=product, quantity=1)
    return products


class Links(HTMLParser):
    """Every link's target and text, and every form's action, in the page's order."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.actions: list[str] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self._open.append([attributes.get("href") or "", ""])
        if tag == "form":
            self.actions.append(attributes.get("action") or "")

    def handle_data(self, data: str) -> None:
        for link in self._open:
            link[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open:
            href, text = self._open.pop()
            self.links.append((href, text))


def parse(response) -> Links:  # type: ignore[no-untyped-def]
    parser = Links()
    parser.feed(response.content.decode())
    return parser


def assert_safe(response, products: list[Product]) -> None:  # type: ignore[no-untyped-def]
    """200, no script, and each product's name written escaped."""
    assert response.status_code == 200, response.request["PATH_INFO"]
    html = response.content.decode()
    assert "<script" not in html.lower()
    assert "onerror=alert" not in html.replace(escape("<img src=x onerror=alert(1)>"), "")
    for product in products:
        assert escape(product.name) in html, product.sku


def browse(client: Client, page: str, href: str):  # type: ignore[no-untyped-def]
    """Open `href` found on `page` as a browser does: resolved against the page's address,
    dot segments ("/./", "/../") and all."""
    target = urlsplit(urljoin(f"http://testserver{page}", href))
    path = target.path + (f"?{target.query}" if target.query else "")
    return client.get(path)


def product_links(response) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(href, text) for href, text in parse(response).links if "/products/" in href]


def assert_leads_to(client: Client, page: str, href: str, product: Product) -> None:
    response = browse(client, page, href)
    assert response.status_code == 200, (product.sku, href)
    assert response.context["product"].pk == product.pk, (product.sku, href)


def test_the_catalogue_lists_every_product_on_its_pages_and_links_each_to_itself(
    client, nasty, settings
):
    # given: three products a page, so the pages and their links are tried too
    settings.BACKORDER_CATALOGUE_PAGE_SIZE = 3
    by_name = {product.name: product for product in nasty}
    seen: list[Product] = []
    page = "/"

    # when: the shopper reads every page, following "Next"
    while True:
        response = client.get(page)
        shown = [item["product"] for item in response.context["items"]]
        assert_safe(response, shown)
        links = product_links(response)
        assert sorted(text for _href, text in links) == sorted(p.name for p in shown)
        for href, text in links:
            assert_leads_to(client, page, href, by_name[text])
        seen += shown
        following = [href for href, text in parse(response).links if text == "Next"]
        if not following:
            break
        target = urlsplit(urljoin(f"http://testserver{page}", following[0]))
        page = f"{target.path}?{target.query}"

    # then: each product once, on one of the pages
    assert sorted(p.pk for p in seen) == sorted(p.pk for p in nasty)


def test_every_product_page_shows_its_product_and_its_forms_come_back_to_it(client, nasty):
    for product in nasty:
        # when
        page = product_path(product.sku)
        response = client.get(page)

        # then
        assert_safe(response, [product])
        assert f"<h1><bdi>{escape(product.name)}</bdi></h1>" in response.content.decode()
        assert f'name="sku" value="{escape(product.sku)}"' in response.content.decode()
        # "Check when it ships" comes back to this product's page, with the quantity
        checked = client.post("/cart/add/", {"sku": product.sku, "quantity": "2", "check": "1"})
        assert checked.status_code == 302
        assert_leads_to(client, page, checked["Location"], product)
        assert browse(client, page, checked["Location"]).context["quote"].quantity == 2
    assert "cart" not in client.session


def test_the_back_in_stock_form_of_every_sold_out_product_comes_back_to_it(client, nasty):
    # given: every product sold out and refused
    Product.objects.update(backorder_policy=Product.BackorderPolicy.DENY)
    for product in nasty:
        stock = product.stocks.get()
        stock.on_hand = 0
        stock.save(update_fields=["on_hand"])

    # when: the catalogue
    catalogue = client.get("/")

    # then: each product's name links to it, and so does its badge, to its alert form
    assert_safe(catalogue, nasty)
    links = product_links(catalogue)
    assert len(links) == 2 * len(nasty)
    for (href, name), (badge, text) in zip(links[::2], links[1::2], strict=True):
        product = next(p for p in nasty if p.name == name)
        assert text.strip() == "Out of stock: tell me when it's back"
        assert badge.endswith("#alert")
        assert_leads_to(client, "/", href, product)
        assert_leads_to(client, "/", badge, product)

    for product in nasty:
        page = product_path(product.sku)
        response = client.get(page)
        assert_safe(response, [product])
        [action] = [a for a in parse(response).actions if a.endswith("/alert/")]

        # when: the shopper signs up, through the form's own address
        signed = client.post(
            urlsplit(urljoin(f"http://testserver{page}", action)).path,
            {"email": "ana@example.com"},
        )

        # then: back on the same product's page, which says so
        assert signed.status_code == 302
        after = browse(client, page, signed["Location"])
        assert after.context["product"].pk == product.pk
        assert_safe(after, [product])
        assert f"once {escape(product.name)} is back in stock" in after.content.decode()
    assert sorted(StockAlert.objects.values_list("product__sku", flat=True)) == sorted(SKUS)


def test_the_cart_checkout_and_order_pages_hold_every_product(client, nasty):
    # given: every product in the cart, one each, then a second of each (a backorder)
    for product in nasty:
        assert client.post("/cart/add/", {"sku": product.sku, "quantity": "1"}).status_code == 302
    for product in nasty:
        assert client.post("/cart/", {"sku": product.sku, "quantity": "2"}).status_code == 302
    assert client.session["cart"] == dict.fromkeys(SKUS, 2)

    # when: the cart
    cart = client.get("/cart/")

    # then: every line, escaped, each linking back to its product
    assert_safe(cart, nasty)
    links = product_links(cart)
    assert len(links) == len(nasty)
    for href, text in links:
        assert_leads_to(client, "/cart/", href, next(p for p in nasty if p.name == text))

    # when: checkout, then the order
    checkout = client.get("/checkout/")
    assert_safe(checkout, nasty)
    form = dict(
        re.findall(
            r'<input type="hidden" name="(checkout_key|shown)" value="([^"]*)"',
            checkout.content.decode(),
        )
    )
    placed = client.post(
        "/checkout/",
        {
            **form,
            "email": "ana@example.com",
            "name": "Ana",
            "address": "Jl. Merdeka 1",
            "city": "Jakarta",
            "postal_code": "10110",
            "country": "Indonesia",
            "ship_complete": "0",
        },
    )
    assert placed.status_code == 302, page_text(placed)
    order = Order.objects.get()
    assert sorted(order.lines.values_list("product__sku", flat=True)) == sorted(SKUS)

    # then: the order's page, with a shipment and a cancellation of every line
    for line in order.lines.all():
        shipment_create(order=order, lines=[(line.pk, 1)], tracking="JNE-1")
    for line in order.lines.all():
        cancelled = client.post(f"{placed['Location']}lines/{line.pk}/cancel/", {"quantity": 1})
        assert cancelled.status_code == 302
    status = client.get(placed["Location"])
    assert_safe(status, nasty)
    assert page_text(status).count("1 shipped") == len(nasty)
    assert page_text(status).count("1 cancelled") == len(nasty)
    assert client.get("/orders/lookup/").status_code == 200

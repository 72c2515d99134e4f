"""The customer journey in a real phone-sized browser: catalogue, product, cart, checkout and
the order's status page with its self-service, in English and Indonesian, with and without
JavaScript. The acceptance test of the storefront.

Every step is kept as a screenshot in test-artifacts/ (`storefront-...png`), and every page on
the way is checked to carry no `<script>`: the shop must work with JavaScript off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from inventory.models import Product
from inventory.stock import stock_receive
from notifications.delivery import notifications_deliver
from notifications.models import Notification, StockAlert
from orders.models import Order, OrderLine
from orders.services import LineRequest, order_place
from tests.browser.conftest import shot
from tests.factories import ProductFactory
from tests.worker import celery_worker

pytestmark = pytest.mark.django_db(transaction=True)

MONTHS = {
    "en": "January February March April May June July August September October November December",
    "id": "Januari Februari Maret April Mei Juni Juli Agustus September Oktober November Desember",
}
# Checkout's labels.
DETAILS_EN = {
    "Email": "ana@example.com",
    "Full name": "Ana Putri",
    "Street address": "Jl. Merdeka 1",
    "City": "Jakarta",
    "Postal code": "10110",
}
DETAILS_ID = {
    "Email": "ayu@example.com",
    "Nama lengkap": "Ayu Lestari",
    "Alamat": "Jl. Melati 7",
    "Kota": "Bandung",
    "Kode pos": "40115",
}


def long_date(day: date, language: str) -> str:
    """A date as the customer reads it: "9 December 2026", "9 Desember 2026"."""
    return f"{day.day} {MONTHS[language].split()[day.month - 1]} {day.year}"


def in_days(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)


@pytest.fixture
def nojs_page(browser: Browser) -> Iterator[Page]:
    """The same phone, with JavaScript switched off."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(params=["js", "nojs"])
def shopper(request: pytest.FixtureRequest) -> tuple[Page, str]:
    """A phone browser with JavaScript on, then off; and the screenshots' name part."""
    if request.param == "js":
        return request.getfixturevalue("page"), ""
    return request.getfixturevalue("nojs_page"), "nojs-"


def step(page: Page, name: str) -> None:
    """Keep a screenshot of this step and check the page needs no script."""
    shot(page, f"storefront-{name}")
    assert "<script" not in page.content().lower(), f"{name}: {page.url} has a <script>"


def follow(page: Page, control: Locator) -> None:
    """Click a link or button and wait until the page it leads to has loaded."""
    with page.expect_navigation():
        control.click()


def cells(row: Locator) -> list[str]:
    return [text.strip() for text in row.get_by_role("cell").all_inner_texts()]


def fill_details(page: Page, details: dict[str, str]) -> None:
    for label, value in details.items():
        page.get_by_label(label, exact=True).fill(value)


def place_order(page: Page, button: str) -> None:
    """Press the checkout's button; the shop must answer with the way to the order's page."""
    with page.expect_response(
        lambda response: response.request.method == "POST" and "/checkout/" in response.url
    ) as answer:
        page.get_by_role("button", name=button).click()
    assert answer.value.status == 302, (
        f"checkout answered {answer.value.status} instead of placing the order:\n"
        + page.get_by_role("main").inner_text()
    )
    page.wait_for_url(re.compile(r"/orders/BO-"))


def item_row(page: Page, product: str) -> Locator:
    """An item's row of an order's table (not the row of its cancel form)."""
    return page.get_by_role("row", name=re.compile(rf"^{re.escape(product)} ×"))


def deliver_pending() -> None:
    pending = Notification.objects.filter(status=Notification.Status.PENDING)
    notifications_deliver(ids=list(pending.values_list("pk", flat=True)))


def test_a_customer_backorders_the_sold_out_hoodie_and_cancels_it(
    live_server, shopper, smtp, hoodie, settings
):
    page, variant = shopper
    name = f"en-{variant}"
    settings.SITE_URL = live_server.url
    eta = in_days(14)
    ships_by = long_date(eta, "en")

    # given: the special-edition hoodie is sold out; its 14-day lead time gives the date
    # when: the customer opens the catalogue
    page.goto(f"{live_server.url}/")
    step(page, f"{name}1-catalogue")

    # then: the hoodie is for sale, with the date it ships by
    card = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="Special Edition Hoodie")
    )
    expect(card.get_by_text(f"Backorder: ships by {ships_by}", exact=True)).to_be_visible()
    expect(card.get_by_role("time")).to_have_attribute("datetime", eta.isoformat())
    expect(card.get_by_text("Rp100,000", exact=True)).to_be_visible()

    # when: they open it and ask when two would ship
    follow(page, card.get_by_role("link", name="Special Edition Hoodie"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Special Edition Hoodie")
    step(page, f"{name}2-product")
    page.get_by_label("Quantity").fill("2")
    follow(page, page.get_by_role("button", name="Check when it ships"))
    expect(page.get_by_label("Quantity")).to_have_value("2")
    step(page, f"{name}3-quote")

    # then: the quote is the backorder date, before anything is in the cart
    expect(
        page.get_by_text(f"All 2 are backordered: they ship by {ships_by}.", exact=True)
    ).to_be_visible()
    expect(page.get_by_role("link", name="Cart (0 items)")).to_be_visible()

    # when: they add them to the cart, the 2 still in the field
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    step(page, f"{name}4-cart")

    # then
    expect(page.get_by_role("status")).to_have_text(
        "Added 2 of Special Edition Hoodie to your cart."
    )
    expect(page.get_by_role("link", name="Cart (2 items)")).to_be_visible()
    expect(page.get_by_label("Quantity of Special Edition Hoodie")).to_have_value("2")

    # when: they go to checkout
    follow(page, page.get_by_role("link", name="Continue to checkout"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    step(page, f"{name}5-checkout")

    # then: the backorder date is on the checkout page, before the order is placed
    when = page.get_by_role("region", name="What ships when")
    assert cells(when.get_by_role("row").filter(has_text="Special Edition Hoodie")) == [
        "Special Edition Hoodie × 2",
        f"All 2 are backordered: they ship by {ships_by}.",
        "Rp200,000",
    ]
    expect(
        when.get_by_role("row").filter(has_text="Special Edition Hoodie").get_by_role("time")
    ).to_have_attribute("datetime", eta.isoformat())
    expect(page.get_by_role("radio")).to_have_count(0)  # nothing ships now: no choice to make
    assert Order.objects.count() == 0

    # when: they fill in their details and place the order
    fill_details(page, DETAILS_EN)
    step(page, f"{name}6-details")
    place_order(page, "Place order")
    step(page, f"{name}7-status")

    # then: the status page of the new order, its line backordered with its date
    order = Order.objects.get()
    assert page.url == f"{live_server.url}{order.get_absolute_url()}"
    assert (order.email, order.name, order.locale) == ("ana@example.com", "Ana Putri", "en")
    expect(page.get_by_role("status")).to_have_text(
        f"Thank you! Order {order.number} is placed. We have emailed the confirmation to"
        " ana@example.com."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")
    line = order.lines.get()
    row = item_row(page, "Special Edition Hoodie")
    assert cells(row) == ["Special Edition Hoodie × 2\nRp100,000 each", "2 backordered", ships_by]
    expect(row.get_by_role("time")).to_have_attribute("datetime", eta.isoformat())
    assert (line.backordered, line.eta) == (2, eta)
    deliver_pending()
    assert [m.subject for m in smtp.messages] == [f"Order {order.number} confirmed: when it ships"]

    # when: they change their mind and cancel the backordered units
    cancel = page.get_by_role("form", name="Cancel backordered units of Special Edition Hoodie")
    expect(cancel.get_by_label("Backordered Special Edition Hoodie to cancel")).to_have_value("2")
    follow(page, cancel.get_by_role("button", name="Cancel these units"))
    step(page, f"{name}8-cancelled")

    # then: confirmed on screen, cancelled in the shop, and emailed
    expect(page.get_by_role("status")).to_have_text(
        "Cancelled 2 of Special Edition Hoodie. We have emailed you a confirmation."
    )
    assert cells(item_row(page, "Special Edition Hoodie")) == [
        "Special Edition Hoodie × 2\nRp100,000 each",
        "2 cancelled",
        "—",
    ]
    expect(page.get_by_role("form", name=re.compile("Cancel backordered"))).to_have_count(0)
    line.refresh_from_db()
    assert (line.status, line.backordered, line.cancelled) == (OrderLine.Status.CANCELLED, 0, 2)
    assert Notification.objects.filter(order=order, kind=Notification.Kind.CANCELLED).count() == 1
    deliver_pending()
    assert smtp.messages[-1].subject == f"Order {order.number}: items cancelled"
    assert len(smtp.messages) == 2


def test_the_same_journey_in_indonesian(live_server, shopper, smtp, hoodie, settings):
    page, variant = shopper
    name = f"id-{variant}"
    settings.SITE_URL = live_server.url
    eta = in_days(14)
    ships_by = long_date(eta, "id")

    # given: the sold-out hoodie, and a customer on the English catalogue
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Shop")

    # when: they switch the language with the header's form
    page.get_by_label("Language").select_option(label="Bahasa Indonesia")
    follow(page, page.get_by_role("button", name="Change"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Toko")
    step(page, f"{name}1-catalogue")

    # then: the catalogue speaks Indonesian, with Indonesian dates and prices
    assert page.url == f"{live_server.url}/"
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_label("Bahasa")).to_have_value("id")
    expect(page.get_by_role("button", name="Ubah")).to_be_visible()
    card = page.get_by_role("listitem").filter(
        has=page.get_by_role("link", name="Special Edition Hoodie")
    )
    expect(
        card.get_by_text(f"Backorder: dikirim paling lambat {ships_by}", exact=True)
    ).to_be_visible()
    expect(card.get_by_role("time")).to_have_attribute("datetime", eta.isoformat())
    expect(card.get_by_text("Rp100.000", exact=True)).to_be_visible()

    # when: they ask when two would ship
    follow(page, card.get_by_role("link", name="Special Edition Hoodie"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Special Edition Hoodie")
    step(page, f"{name}2-product")
    page.get_by_label("Jumlah").fill("2")
    follow(page, page.get_by_role("button", name="Cek kapan dikirim"))
    expect(page.get_by_label("Jumlah")).to_have_value("2")
    step(page, f"{name}3-quote")

    # then
    expect(
        page.get_by_text(f"2 backorder: dikirim paling lambat {ships_by}.", exact=True)
    ).to_be_visible()

    # when: they add them to the cart
    follow(page, page.get_by_role("button", name="Tambahkan ke keranjang", exact=True))
    step(page, f"{name}4-cart")

    # then
    expect(page.get_by_role("status")).to_have_text(
        "2 Special Edition Hoodie ditambahkan ke keranjang Anda."
    )
    expect(page.get_by_role("link", name="Keranjang (2 barang)")).to_be_visible()
    expect(page.get_by_label("Jumlah Special Edition Hoodie")).to_have_value("2")

    # when: they go to checkout
    follow(page, page.get_by_role("link", name="Lanjut ke checkout"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    step(page, f"{name}5-checkout")

    # then: the backorder date is shown before ordering
    when = page.get_by_role("region", name="Apa dikirim kapan")
    assert cells(when.get_by_role("row").filter(has_text="Special Edition Hoodie")) == [
        "Special Edition Hoodie × 2",
        f"2 backorder: dikirim paling lambat {ships_by}.",
        "Rp200.000",
    ]
    expect(
        when.get_by_role("row").filter(has_text="Special Edition Hoodie").get_by_role("time")
    ).to_have_attribute("datetime", eta.isoformat())

    # when: they fill in their details and order
    fill_details(page, DETAILS_ID)
    step(page, f"{name}6-details")
    place_order(page, "Buat pesanan")
    step(page, f"{name}7-status")

    # then: the order is stored in Indonesian and its page says so
    order = Order.objects.get()
    assert page.url == f"{live_server.url}{order.get_absolute_url()}"
    assert (order.email, order.locale) == ("ayu@example.com", "id")
    expect(page.get_by_role("status")).to_have_text(
        f"Terima kasih! Pesanan {order.number} sudah dibuat. Konfirmasinya sudah kami kirim ke"
        " ayu@example.com."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Pesanan {order.number}")
    line = order.lines.get()
    row = item_row(page, "Special Edition Hoodie")
    assert cells(row) == ["Special Edition Hoodie × 2\nRp100.000 per unit", "2 backorder", ships_by]
    expect(row.get_by_role("time")).to_have_attribute("datetime", eta.isoformat())
    deliver_pending()
    assert [m.subject for m in smtp.messages] == [
        f"Pesanan {order.number} dikonfirmasi: kapan dikirim"
    ]

    # when: they cancel the backordered units
    cancel = page.get_by_role("form", name="Batalkan unit backorder Special Edition Hoodie")
    expect(cancel.get_by_label("Backorder Special Edition Hoodie yang dibatalkan")).to_have_value(
        "2"
    )
    follow(page, cancel.get_by_role("button", name="Batalkan unit ini"))
    step(page, f"{name}8-cancelled")

    # then: confirmed in Indonesian, cancelled in the shop, and emailed in Indonesian
    expect(page.get_by_role("status")).to_have_text(
        "2 Special Edition Hoodie dibatalkan. Kami sudah mengirim konfirmasi lewat email."
    )
    assert cells(item_row(page, "Special Edition Hoodie"))[1:] == ["2 dibatalkan", "—"]
    line.refresh_from_db()
    assert (line.status, line.cancelled) == (OrderLine.Status.CANCELLED, 2)
    assert Notification.objects.filter(order=order, kind=Notification.Kind.CANCELLED).count() == 1
    deliver_pending()
    assert smtp.messages[-1].subject == f"Pesanan {order.number}: barang dibatalkan"


def test_a_mixed_cart_ships_together_then_switches_to_ship_now(page, live_server, hoodie, settings):
    settings.SITE_URL = live_server.url
    today, eta = in_days(0), in_days(14)
    ready, ships_by = long_date(today, "en"), long_date(eta, "en")

    # given: a tee on the shelf beside the sold-out hoodie
    tee = ProductFactory(sku="TEE", name="Logo Tee", price="150000")
    stock_receive(product=tee, quantity=5)

    # when: the customer puts one tee and two hoodies in the cart
    page.goto(f"{live_server.url}/products/TEE/")
    expect(page.get_by_text("In stock", exact=True)).to_be_visible()
    expect(page.get_by_text(f"In stock: it ships {ready}.", exact=True)).to_be_visible()
    step(page, "mixed-1-tee")
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    expect(page.get_by_role("status")).to_have_text("Added 1 of Logo Tee to your cart.")
    follow(page, page.get_by_role("link", name="Shop", exact=True))
    follow(page, page.get_by_role("link", name="Special Edition Hoodie"))
    page.get_by_label("Quantity").fill("2")
    follow(page, page.get_by_role("button", name="Check when it ships"))
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    expect(page.get_by_role("link", name="Cart (3 items)")).to_be_visible()
    step(page, "mixed-2-cart")
    follow(page, page.get_by_role("link", name="Continue to checkout"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    step(page, "mixed-3-checkout")

    # then: checkout says what ships now and what later, and offers the choice
    when = page.get_by_role("region", name="What ships when")
    assert cells(when.get_by_role("row").filter(has_text="Logo Tee")) == [
        "Logo Tee × 1",
        f"In stock: it ships {ready}.",
        "Rp150,000",
    ]
    assert cells(when.get_by_role("row").filter(has_text="Special Edition Hoodie")) == [
        "Special Edition Hoodie × 2",
        f"All 2 are backordered: they ship by {ships_by}.",
        "Rp200,000",
    ]
    expect(when.get_by_role("row").filter(has_text="Total")).to_contain_text("Rp350,000")
    choice = page.get_by_role("group", name="When items are ready at different times")
    now = page.get_by_role("radio", name="Ship what is ready now")
    together = page.get_by_role("radio", name="Ship everything together")
    expect(choice.get_by_role("radio")).to_have_count(2)
    expect(now).to_be_checked()
    assert choice.locator("label").filter(has=now).inner_text().strip() == (
        f"Ship what is ready now\nIn-stock items ship {ready}; the rest follows as it arrives,"
        f" the last by {ships_by}. You may get more than one parcel."
    )
    assert choice.locator("label").filter(has=together).inner_text().strip() == (
        f"Ship everything together\nOne parcel, by {ships_by}."
    )
    expect(choice).to_contain_text(
        "You can change this on your order page until something has shipped."
    )

    # when: they choose one parcel and order
    together.check()
    fill_details(page, DETAILS_EN)
    step(page, "mixed-4-together")
    place_order(page, "Place order")
    step(page, "mixed-5-status")

    # then: the order ships complete, and its page says so
    order = Order.objects.get()
    assert page.url == f"{live_server.url}{order.get_absolute_url()}"
    assert order.ship_complete is True
    lines = {line.product.sku: line for line in order.lines.all()}
    assert (lines["TEE"].allocated, lines["HOODIE-SE"].backordered) == (1, 2)
    assert cells(item_row(page, "Logo Tee")) == [
        "Logo Tee × 1\nRp150,000 each",
        "1 in stock, ready to ship",
        ready,
    ]
    assert cells(item_row(page, "Special Edition Hoodie")) == [
        "Special Edition Hoodie × 2\nRp100,000 each",
        "2 backordered",
        ships_by,
    ]
    expect(page.get_by_text("Everything together, in one parcel", exact=True)).to_be_visible()
    shipping = page.get_by_role("region", name="How we ship")
    expect(shipping.get_by_role("radio", name="Ship everything together")).to_be_checked()

    # when: they would rather have the tee now
    shipping.get_by_role("radio", name="Ship what is ready now").check()
    follow(page, shipping.get_by_role("button", name="Save delivery choice"))
    step(page, "mixed-6-ship-now")

    # then
    expect(page.get_by_role("status")).to_have_text(
        "Done: we will ship each item as soon as it is ready. We have emailed you a confirmation."
    )
    expect(page.get_by_text("Each item as soon as it is ready", exact=True)).to_be_visible()
    expect(
        page.get_by_role("region", name="How we ship").get_by_role(
            "radio", name="Ship what is ready now"
        )
    ).to_be_checked()
    order.refresh_from_db()
    assert order.ship_complete is False
    assert list(
        Notification.objects.filter(order=order).order_by("pk").values_list("kind", flat=True)
    ) == [Notification.Kind.CONFIRMATION, Notification.Kind.SHIPPING]


def test_a_refusal_keeps_the_cart_and_a_sold_out_product_offers_an_alert(
    page, live_server, default_warehouse, settings
):
    settings.SITE_URL = live_server.url
    ready = long_date(in_days(0), "en")

    # given: two products the shop never backorders: one last sticker pack, and a sold-out pin
    stickers = ProductFactory(
        sku="STICKERS", name="Sticker pack", backorder_policy=Product.BackorderPolicy.DENY
    )
    stock_receive(product=stickers, quantity=1)
    pin = ProductFactory(
        sku="PIN", name="Enamel Pin", backorder_policy=Product.BackorderPolicy.DENY
    )

    # when: the customer asks for two sticker packs
    page.goto(f"{live_server.url}/")
    step(page, "refusal-1-catalogue")
    follow(page, page.get_by_role("link", name="Sticker pack"))
    page.get_by_label("Quantity").fill("2")
    follow(page, page.get_by_role("button", name="Check when it ships"))
    expect(page.get_by_label("Quantity")).to_have_value("2")
    step(page, "refusal-2-two-refused")

    # then: refused with the reason
    expect(page.get_by_role("alert")).to_have_text(
        "Only 1 left, and we are not taking backorders for it."
    )

    # when: they add the two anyway
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))

    # then: the same reason, and nothing in the cart
    expect(page.get_by_role("alert")).to_have_text(
        "Only 1 left, and we are not taking backorders for it."
    )
    expect(page.get_by_role("link", name="Cart (0 items)")).to_be_visible()

    # when: they take the last one, then try to add one more
    page.get_by_label("Quantity").fill("1")
    follow(page, page.get_by_role("button", name="Check when it ships"))
    expect(page.get_by_text(f"In stock: it ships {ready}.", exact=True)).to_be_visible()
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    expect(page.get_by_role("status")).to_have_text("Added 1 of Sticker pack to your cart.")
    follow(page, page.get_by_role("link", name="Sticker pack"))
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    step(page, "refusal-3-add-refused")

    # then: refused on the product page, with why; the cart is as it was
    expect(page.get_by_role("alert")).to_have_text(
        "You already have 1 in your cart. Only 1 left, and we are not taking backorders for it."
    )
    expect(page.get_by_role("link", name="Cart (1 item)")).to_be_visible()
    follow(page, page.get_by_role("link", name="See your cart"))
    step(page, "refusal-4-cart-kept")
    expect(page.get_by_label("Quantity of Sticker pack")).to_have_value("1")
    expect(page.get_by_role("row").filter(has_text="Sticker pack")).to_have_count(1)

    # when: they look at the sold-out pin from the catalogue
    follow(page, page.get_by_role("link", name="Shop", exact=True))
    card = page.get_by_role("listitem").filter(has=page.get_by_role("link", name="Enamel Pin"))
    follow(page, card.get_by_role("link", name="Out of stock: tell me when it's back"))
    step(page, "refusal-5-alert-offer")

    # then: no way to order it, a way to hear when it is back
    assert page.url == f"{live_server.url}/products/PIN/#alert"
    expect(page.get_by_role("button", name="Check when it ships")).to_have_count(0)
    alert = page.get_by_role("region", name="Tell me when it's back")
    expect(alert).to_be_visible()

    # when: they leave their email
    alert.get_by_label("Your email").fill("ana@example.com")
    follow(page, alert.get_by_role("button", name="Email me"))
    step(page, "refusal-6-alert-signed-up")

    # then
    expect(page.get_by_role("status")).to_have_text(
        "Thank you. We will email ana@example.com once Enamel Pin is back in stock."
    )
    alert_row = StockAlert.objects.get()
    assert (alert_row.product, alert_row.email, alert_row.locale, alert_row.notified_at) == (
        pin,
        "ana@example.com",
        "en",
        None,
    )


def test_a_customer_who_lost_the_link_finds_the_order_by_email(
    page, live_server, hoodie, smtp, settings
):
    # given: Ana's order, its confirmation long in her inbox, and a worker sending emails
    settings.SITE_URL = live_server.url
    environment = {"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", "TEST_SITE_URL": live_server.url}
    with celery_worker(concurrency=1, env=environment):
        order = order_place(email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)])
        smtp.wait_for(1)

        # when: she asks for the link from the shop's header, typing loosely
        page.goto(f"{live_server.url}/")
        follow(page, page.get_by_role("link", name="Find my order"))
        step(page, "lookup-1-form")
        page.get_by_label("Order number").fill(order.number.replace("-", "").lower())
        page.get_by_label("Email used for the order").fill("Ana@Example.com")
        follow(page, page.get_by_role("button", name="Email me the link"))
        step(page, "lookup-2-sent")

        # then: the page says the same as for any pair, and the link arrives
        expect(page.get_by_role("status")).to_have_text(
            "If that order number and email address match an order, we have emailed its status"
            " link to that address. It may take a minute."
        )
        [_, email] = smtp.wait_for(2)

    assert email.subject == f"Your link to order {order.number}"
    link = f"{live_server.url}{order.get_absolute_url()}"
    assert link in email.text

    # when: she follows it
    page.goto(link)
    step(page, "lookup-3-order")

    # then
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.number}")

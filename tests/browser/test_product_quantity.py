"""The product page's one quantity, in a real browser with JavaScript on and off: the button
adds what is typed. And refusals stay beside their field, buttons in line, at a phone's and a
desktop's width, whatever the product is called.

Screenshots go to test-artifacts/ (`quantity-*.png`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from inventory.stock import stock_receive
from orders.models import Order
from tests.browser.conftest import shot
from tests.factories import ProductFactory
from tests.helpers import place

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(params=["js", "nojs"])
def shopper(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, str]]:
    """A phone browser with JavaScript on, then off; and the screenshots' name part."""
    context = browser.new_context(viewport=PHONE, java_script_enabled=request.param == "js")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, request.param
    context.close()


@pytest.fixture(params=["phone", "desktop"])
def screen(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, str]]:
    """A browser at a phone's width, then at a desktop's."""
    viewport = PHONE if request.param == "phone" else DESKTOP
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page, request.param
    context.close()


def follow(page: Page, control: Locator) -> None:
    with page.expect_navigation():
        control.click()


def assert_in_line(field: Locator, *buttons: Locator) -> None:
    """The field and its buttons share one line (centred alike), whatever is said below."""
    box = field.bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    for button in buttons:
        other = button.bounding_box()
        assert other is not None
        assert abs(other["y"] + other["height"] / 2 - middle) <= 1, (box, other)


def assert_below(error: Locator, *above: Locator) -> None:
    box = error.bounding_box()
    assert box is not None
    for element in above:
        other = element.bounding_box()
        assert other is not None
        assert box["y"] >= other["y"] + other["height"], (box, other)


def assert_no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width  # type: ignore[index]


def test_typing_2_and_pressing_add_to_cart_puts_2_in_the_cart(live_server, shopper, hoodie):
    page, variant = shopper

    # given: the hoodie's page
    page.goto(f"{live_server.url}/products/{hoodie.sku}/")
    expect(page.get_by_role("button", name=re.compile(r"Add \d+ to cart"))).to_have_count(0)

    # when: the shopper types 2 and presses the button, never asking for the date first
    page.get_by_label("Quantity").fill("2")
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    shot(page, f"quantity-{variant}-1-added")

    # then
    expect(page.get_by_role("status")).to_have_text(
        "Added 2 of Special Edition Hoodie to your cart."
    )
    expect(page.get_by_role("link", name="Cart (2 items)")).to_be_visible()
    expect(page.get_by_label("Quantity of Special Edition Hoodie")).to_have_value("2")

    # when: they come back, type 3 and press Enter in the field
    page.goto(f"{live_server.url}/products/{hoodie.sku}/")
    page.get_by_label("Quantity").fill("3")
    with page.expect_navigation():
        page.get_by_label("Quantity").press("Enter")

    # then: Enter is the same button: 3 more
    expect(page.get_by_label("Quantity of Special Edition Hoodie")).to_have_value("5")
    assert Order.objects.count() == 0


def test_check_when_it_ships_quotes_the_typed_quantity_then_adds_it(live_server, shopper, hoodie):
    page, variant = shopper
    page.goto(f"{live_server.url}/products/{hoodie.sku}/")

    # when
    page.get_by_label("Quantity").fill("2")
    follow(page, page.get_by_role("button", name="Check when it ships"))
    shot(page, f"quantity-{variant}-2-checked")

    # then: the date for 2, the 2 still typed, nothing in the cart
    expect(page.get_by_text(re.compile(r"^All 2 are backordered: they ship by "))).to_be_visible()
    expect(page.get_by_label("Quantity")).to_have_value("2")
    expect(page.get_by_role("link", name="Cart (0 items)")).to_be_visible()

    # when: they add
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))

    # then
    expect(page.get_by_label("Quantity of Special Edition Hoodie")).to_have_value("2")


def test_a_refused_quantity_keeps_the_buttons_in_line(live_server, screen, hoodie):
    page, width = screen

    # given / when: a quantity of 0 on the product page
    page.goto(f"{live_server.url}/products/{hoodie.sku}/")
    page.get_by_label("Quantity").fill("0")
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    shot(page, f"quantity-{width}-3-product-error")

    # then: the shop's own words, below the field; the buttons stay beside it
    field = page.get_by_label("Quantity")
    add = page.get_by_role("button", name="Add to cart", exact=True)
    check = page.get_by_role("button", name="Check when it ships")
    error = page.get_by_role("alert")
    expect(error).to_have_text("Enter a quantity of 1 or more.")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert_in_line(field, add)
    assert_below(error, field, add, check)
    assert_no_sideways_scroll(page)

    # when: the cart is asked for 1,000,001
    page.get_by_label("Quantity").fill("1")
    follow(page, add)
    quantity = page.get_by_label("Quantity of Special Edition Hoodie")
    quantity.fill("1000001")
    follow(page, page.get_by_role("button", name="Update"))
    shot(page, f"quantity-{width}-4-cart-error")

    # then: the real limit, below the field; the cart kept its 1
    error = page.get_by_role("alert")
    expect(error).to_have_text("At most 100 per item in one order.")
    assert_in_line(quantity, page.get_by_role("button", name="Update"))
    assert_below(error, quantity, page.get_by_role("button", name="Update"))
    expect(page.get_by_role("link", name="Cart (1 item)")).to_be_visible()
    assert_no_sideways_scroll(page)


def test_a_refused_cancellation_says_what_can_be_cancelled(live_server, screen, hoodie):
    page, width = screen
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    stock_receive(product=tee, quantity=1)
    order = place((tee, 1), (hoodie, 2))

    # when: three hoodies to cancel, of the two backordered
    page.goto(f"{live_server.url}{order.get_absolute_url()}")
    cancel = page.get_by_role("form", name="Cancel backordered units of Special Edition Hoodie")
    field = cancel.get_by_label("Backordered Special Edition Hoodie to cancel")
    field.fill("3")
    follow(page, cancel.get_by_role("button", name="Cancel these units"))
    shot(page, f"quantity-{width}-5-cancel-error")

    # then
    expect(page.get_by_role("alert")).to_have_text(
        "You can cancel at most 2 of Special Edition Hoodie: only units still waiting for stock"
        " can be cancelled here."
    )
    cancel = page.get_by_role("form", name="Cancel backordered units of Special Edition Hoodie")
    field = cancel.get_by_label("Backordered Special Edition Hoodie to cancel")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert_in_line(field, cancel.get_by_role("button", name="Cancel these units"))
    assert order.lines.get(product=hoodie).backordered == 2
    assert_no_sideways_scroll(page)


def test_odd_product_names_stay_in_their_place(live_server, screen, default_warehouse):
    page, width = screen
    long = ProductFactory(sku="...", name="W" * 200)
    rtl = ProductFactory(sku="-.-_", name="\u202eevil\u202c reversed? <b>no</b> 👜")
    for product in (long, rtl):
        stock_receive(product=product, quantity=3)

    # when: the catalogue, the long name's page, and a cart holding both
    page.goto(f"{live_server.url}/")
    shot(page, f"quantity-{width}-6-odd-catalogue")
    assert_no_sideways_scroll(page)
    follow(page, page.get_by_role("link", name="W" * 200))
    expect(page.get_by_role("heading", level=1)).to_have_text("W" * 200)
    shot(page, f"quantity-{width}-7-odd-product")
    assert_no_sideways_scroll(page)
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    page.goto(f"{live_server.url}/")
    follow(page, page.get_by_role("link", name=re.compile("reversed")))
    follow(page, page.get_by_role("button", name="Add to cart", exact=True))
    shot(page, f"quantity-{width}-8-odd-cart")

    # then: the words after a right-to-left name keep their order, nothing runs off the side
    expect(page.get_by_role("link", name="Cart (2 items)")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Quantity of W+$"))).to_have_value("1")
    assert_no_sideways_scroll(page)

"""Customer pages are plain and accessible: labelled fields, no scripts, readable colours."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from inventory.models import Product
from inventory.stock import stock_receive
from orders.services import LineRequest, order_place
from orders.templatetags.shop import money, when
from tests.factories import ProductFactory

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "backorder.css"


class Fields(HTMLParser):
    """Form fields and the labels that name them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.in_label = 0
        self.scripts = 0
        self.stylesheets = 0
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        if tag == "script":
            self.scripts += 1
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets += 1
        if tag == "label":
            self.in_label += 1
            if attributes.get("for"):
                self.labelled.add(attributes["for"] or "")
        if tag in ("input", "select", "textarea"):
            if attributes.get("type") in ("hidden", "submit"):
                return
            self.fields.append({**attributes, "wrapped": "yes" if self.in_label else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def unlabelled(html: str) -> list[str]:
    parser = Fields()
    parser.feed(html)
    return [
        str(field.get("name"))
        for field in parser.fields
        if not field["wrapped"] and field.get("id") not in parser.labelled
    ]


@pytest.fixture
def journey(client, hoodie) -> list[str]:
    """Every customer page, with something in the cart and an order placed."""
    tee = ProductFactory(sku="TEE", name="Logo Tee")
    stock_receive(product=tee, quantity=1)
    ProductFactory(sku="STICKERS", backorder_policy=Product.BackorderPolicy.DENY)
    client.post("/cart/add/", {"sku": "TEE", "quantity": 1})
    client.post("/cart/add/", {"sku": hoodie.sku, "quantity": 2})
    order = order_place(
        email="ana@example.com",
        name="Ana",
        lines=[LineRequest(hoodie.sku, 2)],
    )
    return [
        "/",
        f"/products/{hoodie.sku}/",
        "/products/STICKERS/",
        "/cart/",
        "/checkout/",
        order.get_absolute_url(),
        "/orders/lookup/",
    ]


@pytest.mark.django_db
def test_every_field_has_a_label_and_no_page_needs_javascript(client, journey):
    for path in journey:
        response = client.get(path)
        html = response.content.decode()
        parser = Fields()
        parser.feed(html)
        assert response.status_code == 200, path
        assert unlabelled(html) == [], path
        assert parser.scripts == 0, path
        assert parser.stylesheets == 1, path
        assert parser.html_lang == "en", path
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def rules() -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    variables = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    found = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body):
            value = value.strip()
            value = re.sub(r"var\((--[\w-]+)\)", lambda m: variables.get(m.group(1), ""), value)
            if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
                declarations[name] = value.lower()
        found.append((selector.strip(), declarations))
    return found


def test_text_colours_have_a_contrast_of_at_least_4_5_to_1():
    # given: the page and header backgrounds every plain text colour sits on
    page, header = "#ffffff", "#f6f8fa"
    checked = []

    # when / then
    for selector, declarations in rules():
        colour = declarations.get("color")
        if colour is None:
            continue
        background = declarations.get("background") or declarations.get("background-color")
        backgrounds = [background] if background else [page, header]
        for behind in backgrounds:
            assert contrast(colour, behind) >= 4.5, (selector, colour, behind)
            checked.append(selector)
    assert len(checked) >= 15  # the check saw the stylesheet's colours, not nothing


def test_a_known_low_contrast_pair_would_fail_the_check():
    assert contrast("#999999", "#ffffff") < 4.5
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


@pytest.mark.parametrize(
    ("language", "amount", "shown"),
    [
        ("en", "450000", "Rp450,000"),
        ("id", "450000", "Rp450.000"),
        ("id", "1250000.50", "Rp1.250.000,50"),
        ("en", "1250000.50", "Rp1,250,000.50"),
        ("id", "0", "Rp0"),
        ("id", "999", "Rp999"),
    ],
)
def test_prices_are_written_for_the_language(language, amount, shown):
    from decimal import Decimal

    from django.utils import translation

    with translation.override(language):
        assert money(Decimal(amount)) == shown


def test_dates_are_for_people_inside_a_time_element_for_machines():
    from datetime import UTC, date, datetime

    from django.utils import translation

    with translation.override("id"):
        assert when(date(2026, 12, 9)) == '<time datetime="2026-12-09">9 Desember 2026</time>'
    with translation.override("en"):
        assert when(date(2026, 12, 9)) == '<time datetime="2026-12-09">9 December 2026</time>'
        # a moment is the shop's day (Asia/Jakarta), not UTC's
        late = datetime(2026, 12, 9, 20, 0, tzinfo=UTC)
        assert when(late) == '<time datetime="2026-12-10">10 December 2026</time>'
    assert when(None) == ""


def test_the_backoffice_header_text_is_readable_on_its_blue():
    # Django's admin header is #417690; what the backoffice writes on it is white.
    css = (STYLESHEET.parent / "backoffice.css").read_text()
    header = re.findall(r"(#site-name[^{]*|#branding[^{]*)\{[^}]*color:\s*(#[0-9a-fA-F]{6})", css)
    assert [colour for _, colour in header] == ["#ffffff", "#ffffff"]
    assert contrast("#ffffff", "#417690") >= 4.5

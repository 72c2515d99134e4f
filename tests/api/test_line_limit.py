"""The shop-wide limit per line (`BACKORDER_MAX_LINE_QUANTITY`) over the API: refused as a
product's own `max_per_order` is, 422 with that code, and nothing placed."""

from pathlib import Path

import pytest

from inventory.checks import max_line_quantity
from inventory.stock import stock_receive
from orders.models import Order, RefusedDemand
from tests.api.conftest import error_of
from tests.factories import ProductFactory
from tests.helpers import fresh_setting
from tests.state import snapshot

ROOT = Path(__file__).resolve().parent.parent.parent


def place(api, *lines):
    body = {
        "email": "rina@example.com",
        "name": "Rina",
        "locale": "en",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }
    return api.post("/api/v1/orders", body, format="json")


@pytest.fixture
def tote(default_warehouse):
    """Plenty on the shelf: only the limit can refuse it."""
    tote = ProductFactory(sku="TOTE", name="Tote bag")
    stock_receive(product=tote, quantity=1_000)
    return tote


@pytest.mark.parametrize(
    ("cap", "shop", "expected"),
    [(None, 100, 100), (5, 100, 5), (150, 100, 100), (None, 7, 7), (3, 7, 3), (7, 7, 7)],
)
def test_the_limit_is_the_products_cap_within_the_shops(settings, cap, shop, expected):
    settings.BACKORDER_MAX_LINE_QUANTITY = shop

    assert max_line_quantity(cap) == expected


def test_the_limit_is_100_by_default_and_read_from_the_environment():
    limit = "settings.BACKORDER_MAX_LINE_QUANTITY"

    assert fresh_setting(limit) == "100"
    assert fresh_setting(limit, BACKORDER_MAX_LINE_QUANTITY="12") == "12"


@pytest.mark.django_db
def test_an_absurd_quantity_is_refused_as_max_per_order_and_nothing_is_placed(api, tote):
    # given
    before = snapshot()

    # when: 999,999 tote bags, all of them in stock or not
    response = place(api, ("TOTE", 999_999))

    # then
    assert error_of(response) == (422, "max_per_order")
    assert response.json()["error"]["message"] == "At most 100 per order."
    assert response.json()["error"]["fields"] == {
        "lines[0]": {"code": "max_per_order", "message": "At most 100 per order."}
    }
    before["refused_demand"] += 1
    assert snapshot() == before
    assert list(RefusedDemand.objects.values_list("product__sku", "quantity", "reason")) == [
        ("TOTE", 999_999, "max_per_order")
    ]


@pytest.mark.django_db
def test_the_limit_itself_is_accepted(api, tote):
    response = place(api, ("TOTE", 100))

    assert response.status_code == 201
    assert response.json()["lines"][0]["allocated"] == 100


@pytest.mark.django_db
def test_lines_of_one_product_count_together(api, tote):
    before = snapshot()

    response = place(api, ("TOTE", 60), ("TOTE", 41))

    assert error_of(response) == (422, "max_per_order")
    assert set(response.json()["error"]["fields"]) == {"lines[0]", "lines[1]"}
    before["refused_demand"] += 2
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cap", "quantity", "message"),
    [(5, 6, "At most 5 per order."), (150, 101, "At most 100 per order.")],
)
def test_the_lower_of_the_products_cap_and_the_shops_limit_refuses(
    api, tote, cap, quantity, message
):
    # given
    tote.max_per_order = cap
    tote.save(update_fields=["max_per_order"])
    before = snapshot()

    # when
    response = place(api, ("TOTE", quantity))

    # then
    assert error_of(response) == (422, "max_per_order")
    assert response.json()["error"]["message"] == message
    before["refused_demand"] += 1
    assert snapshot() == before


@pytest.mark.django_db
def test_the_limit_follows_the_setting(api, tote, settings):
    settings.BACKORDER_MAX_LINE_QUANTITY = 3

    refused = place(api, ("TOTE", 4))
    placed = place(api, ("TOTE", 3))

    assert error_of(refused) == (422, "max_per_order")
    assert placed.status_code == 201
    assert Order.objects.get().lines.get().quantity == 3

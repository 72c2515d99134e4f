"""POST /api/v1/products/{sku}/alerts: email me when a sold-out product is back."""

import pytest

from inventory.models import Product
from inventory.stock import stock_receive
from notifications.models import StockAlert
from tests.api.conftest import error_of
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mug(default_warehouse) -> Product:
    return ProductFactory(sku="MUG", backorder_policy=Product.BackorderPolicy.DENY)


def test_a_customer_asks_once_and_asking_again_changes_nothing(api, mug):
    # when
    first = api.post(
        "/api/v1/products/MUG/alerts",
        {"email": " citra@example.com", "locale": "id"},
        format="json",
    )
    again = api.post("/api/v1/products/MUG/alerts", {"email": "citra@example.com"}, format="json")

    # then
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == {"sku": "MUG", "email": "citra@example.com", "locale": "id"}
    alert = StockAlert.objects.get()
    assert (alert.email, alert.locale, alert.notified_at) == ("citra@example.com", "id", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "a@example.com", "locale": "fr"}, "locale"),
    ],
)
def test_bad_input_is_refused(api, mug, body, field):
    response = api.post("/api/v1/products/MUG/alerts", body, format="json")
    assert error_of(response) == (400, "validation_error")
    assert field in response.json()["error"]["fields"]
    assert StockAlert.objects.count() == 0


def test_a_product_that_can_be_ordered_needs_no_alert(api, mug, hoodie):
    # given
    stock_receive(product=mug, quantity=1)

    # when
    responses = [
        api.post(f"/api/v1/products/{sku}/alerts", {"email": "a@example.com"}, format="json")
        for sku in ("MUG", "HOODIE-SE")
    ]

    # then
    assert [error_of(r) for r in responses] == [(409, "alert_not_needed")] * 2
    assert StockAlert.objects.count() == 0


def test_an_unknown_product_is_a_404(api, mug):
    response = api.post("/api/v1/products/NOPE/alerts", {"email": "a@example.com"}, format="json")
    assert error_of(response) == (404, "not_found")

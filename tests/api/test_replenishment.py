"""The replenishment API (contract §8): a product's forecast, the reorder suggestions and
turning them into draft purchase orders, staff only."""

from datetime import timedelta
from decimal import Decimal

import pytest

from inventory.models import DemandHistory, PurchaseOrder, PurchaseOrderLine
from tests.api.conftest import clerk_with, token_client
from tests.factories import ProductFactory, SupplierFactory, SupplierProductFactory
from tests.helpers import in_days, today

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt(default_warehouse):
    product = ProductFactory(sku="SHIRT", price=Decimal("50000"))
    DemandHistory.objects.bulk_create(
        DemandHistory(product=product, day=today() - timedelta(days=n), quantity=10)
        for n in range(1, 121)
    )
    supplier = SupplierFactory(name="Tenun", lead_time_days=10)
    SupplierProductFactory(supplier=supplier, product=product, unit_cost=Decimal("20000"))
    return product


def test_the_forecast_starts_tomorrow_with_an_80_percent_band(staff_api, shirt):
    response = staff_api.get("/api/v1/products/SHIRT/forecast?days=14")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"sku", "method", "shape", "daily", "total"}
    assert (body["sku"], body["shape"]) == ("SHIRT", "smooth")
    assert [day["date"] for day in body["daily"]] == [in_days(n).isoformat() for n in range(1, 15)]
    for day in body["daily"]:
        assert 0 <= day["low"] <= day["expected"] <= day["high"]
        assert round(day["expected"]) == 10
    total = body["total"]
    assert total["low"] <= total["expected"] <= total["high"]
    assert round(total["expected"]) == 140


def test_the_forecast_of_a_product_without_history(staff_api, hoodie):
    body = staff_api.get("/api/v1/products/HOODIE-SE/forecast").json()
    assert body["method"] == "mean"
    assert len(body["daily"]) == 28
    assert body["total"] == {"expected": 0.0, "low": 0.0, "high": 0.0}


@pytest.mark.parametrize("days", ["0", "366", "abc", "1.5", "-3"])
def test_a_bad_horizon_is_refused(staff_api, shirt, days):
    response = staff_api.get(f"/api/v1/products/SHIRT/forecast?days={days}")
    assert response.status_code == 400
    assert "days" in response.json()["error"]["fields"]


def test_the_forecast_of_an_unknown_product_is_404(staff_api, default_warehouse):
    assert staff_api.get("/api/v1/products/NOPE/forecast").status_code == 404


def test_suggestions_name_the_supplier_and_the_arrival(staff_api, shirt):
    response = staff_api.get("/api/v1/replenishment/suggestions")

    assert response.status_code == 200
    (row,) = response.json()["results"]
    supplier = shirt.supplier_terms.get().supplier
    assert row["sku"] == "SHIRT"
    assert row["supplier"] == supplier.pk
    assert row["arrives"] == in_days(10).isoformat()
    assert row["position"] == 0
    assert row["quantity"] == row["order_up_to"] > row["reorder_point"] >= row["safety_stock"]
    assert row["reason"].startswith("Position 0 is at or below the reorder point")


def test_drafts_answer_each_purchase_order_and_are_not_repeated(staff_api, shirt):
    suggested = staff_api.get("/api/v1/replenishment/suggestions").json()["results"][0]

    first = staff_api.post("/api/v1/replenishment/drafts", {}, format="json")

    assert first.status_code == 200
    (drafted,) = first.json()["purchase_orders"]
    assert drafted["supplier"] == suggested["supplier"]
    assert drafted["lines"] == [{"sku": "SHIRT", "quantity": suggested["quantity"]}]
    assert PurchaseOrder.objects.get(pk=drafted["id"]).status == "draft"
    again = staff_api.post("/api/v1/replenishment/drafts", {"skus": ["SHIRT"]}, format="json")
    assert again.json() == {"purchase_orders": []}
    assert staff_api.get("/api/v1/replenishment/suggestions").json() == {"results": []}


def test_drafts_refuse_unknown_skus_and_change_nothing(staff_api, shirt):
    response = staff_api.post(
        "/api/v1/replenishment/drafts", {"skus": ["SHIRT", "NOPE"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"skus[1]": "unknown SKU"}
    assert not PurchaseOrderLine.objects.exists()


@pytest.mark.parametrize("body", [{"skus": "SHIRT"}, {"skus": [1]}, {"skus": None}, []])
def test_drafts_refuse_a_malformed_body(staff_api, shirt, body):
    response = staff_api.post("/api/v1/replenishment/drafts", body, format="json")
    assert response.status_code == 400
    assert not PurchaseOrderLine.objects.exists()


def test_replenishment_is_for_staff_with_the_right_permissions(api, shirt):
    assert api.get("/api/v1/replenishment/suggestions").status_code == 401
    assert api.get("/api/v1/products/SHIRT/forecast").status_code == 401
    assert api.post("/api/v1/replenishment/drafts", {}, format="json").status_code == 401
    reader = token_client(clerk_with("inventory.view_purchaseorder", "inventory.view_product"))
    assert reader.get("/api/v1/replenishment/suggestions").status_code == 200
    assert reader.get("/api/v1/products/SHIRT/forecast").status_code == 200
    assert reader.post("/api/v1/replenishment/drafts", {}, format="json").status_code == 403
    assert not PurchaseOrder.objects.exists()
    stranger = token_client(clerk_with("orders.view_order"))
    assert stranger.get("/api/v1/replenishment/suggestions").status_code == 403
    assert stranger.get("/api/v1/products/SHIRT/forecast").status_code == 403

"""Purchase orders over the API: placing, rescheduling and receiving."""

import pytest
from django.utils import timezone

from inventory.models import PurchaseOrder, PurchaseOrderLine, PurchaseReceipt
from orders.services import LineRequest, order_place
from tests.api.conftest import error_of
from tests.factories import ProductFactory, SupplierFactory, WarehouseFactory
from tests.helpers import in_days, iso_in_days
from tests.state import snapshot
from tests.worker import celery_worker, wait_until


def create(staff_api, supplier, *lines, **fields):
    return staff_api.post(
        "/api/v1/purchase-orders",
        {
            "supplier": supplier.pk,
            "lines": [
                {"sku": sku, "quantity": quantity, "expected_date": iso_in_days(days)}
                for sku, quantity, days in lines
            ],
            **fields,
        },
        format="json",
    )


def test_staff_place_a_purchase_order(staff_api, hoodie, supplier):
    response = create(staff_api, supplier, ("HOODIE-SE", 50, 10), reference="KB-77")

    assert response.status_code == 201
    purchase_order = PurchaseOrder.objects.get()
    line = purchase_order.lines.get()
    assert response.json() == {
        "id": purchase_order.pk,
        "number": purchase_order.number,
        "status": "ordered",
        "supplier": supplier.pk,
        "warehouse": "main",
        "reference": "KB-77",
        "created_at": timezone.localtime(purchase_order.created_at).isoformat(),
        "ordered_at": timezone.localtime(purchase_order.ordered_at).isoformat(),
        "lines": [
            {
                "id": line.pk,
                "sku": "HOODIE-SE",
                "quantity": 50,
                "received": 0,
                "cancelled": 0,
                "outstanding": 50,
                "expected_date": iso_in_days(10),
                "first_expected_date": iso_in_days(10),
                "unit_cost": None,
            }
        ],
    }


def test_a_purchase_order_goes_to_the_warehouse_it_names(staff_api, hoodie, supplier):
    WarehouseFactory(code="bdg")

    response = create(staff_api, supplier, ("HOODIE-SE", 5, 3), warehouse="bdg")

    assert response.json()["warehouse"] == "bdg"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"supplier": 999_999}, "supplier"),
        ({"warehouse": "nowhere"}, "warehouse"),
        ({"lines": []}, "lines"),
        (
            {"lines": [{"sku": "NOPE", "quantity": 1, "expected_date": "2099-01-01"}]},
            "lines[0].sku",
        ),
        (
            {"lines": [{"sku": "HOODIE-SE", "quantity": 1, "expected_date": "2000-01-01"}]},
            "lines[0].expected_date",
        ),
        (
            {"lines": [{"sku": "HOODIE-SE", "quantity": 0, "expected_date": "2099-01-01"}]},
            "lines[0].quantity",
        ),
    ],
)
def test_a_bad_purchase_order_is_refused(staff_api, hoodie, supplier, change, field):
    body = {
        "supplier": supplier.pk,
        "lines": [{"sku": "HOODIE-SE", "quantity": 1, "expected_date": iso_in_days(5)}],
        **change,
    }

    response = staff_api.post("/api/v1/purchase-orders", body, format="json")

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]
    assert not PurchaseOrder.objects.exists()


def test_staff_read_a_purchase_order(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 5, 3)).json()

    response = staff_api.get(f"/api/v1/purchase-orders/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert error_of(staff_api.get("/api/v1/purchase-orders/999999")) == (404, "not_found")


def test_staff_move_a_delivery_date(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 5, 3)).json()
    line_id = created["lines"][0]["id"]

    response = staff_api.patch(
        f"/api/v1/purchase-orders/{created['id']}/lines/{line_id}",
        {"expected_date": iso_in_days(9)},
        format="json",
    )

    assert response.status_code == 200
    line = response.json()["lines"][0]
    assert (line["expected_date"], line["first_expected_date"]) == (iso_in_days(9), iso_in_days(3))


def test_a_line_of_another_purchase_order_is_not_found(staff_api, hoodie, supplier):
    first = create(staff_api, supplier, ("HOODIE-SE", 5, 3)).json()
    second = create(staff_api, supplier, ("HOODIE-SE", 5, 3)).json()

    response = staff_api.patch(
        f"/api/v1/purchase-orders/{first['id']}/lines/{second['lines'][0]['id']}",
        {"expected_date": iso_in_days(9)},
        format="json",
    )

    assert error_of(response) == (404, "not_found")
    assert PurchaseOrderLine.objects.filter(expected_date=in_days(9)).count() == 0


def test_a_delivery_cannot_move_into_the_past(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 5, 3)).json()

    response = staff_api.patch(
        f"/api/v1/purchase-orders/{created['id']}/lines/{created['lines'][0]['id']}",
        {"expected_date": iso_in_days(-1)},
        format="json",
    )

    assert error_of(response) == (400, "validation_error")
    assert PurchaseOrderLine.objects.get().expected_date == in_days(3)


def test_partial_receipts_then_the_rest(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 10, 0)).json()
    url = f"/api/v1/purchase-orders/{created['id']}/receive"

    first = staff_api.post(url, {"lines": [{"sku": "HOODIE-SE", "quantity": 4}]}, format="json")
    second = staff_api.post(
        url, {"lines": [{"line_id": created["lines"][0]["id"], "quantity": 6}]}, format="json"
    )

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "partially_received"
    assert first.json()["lines"][0]["outstanding"] == 6
    assert second.json()["status"] == "received"
    assert second.json()["lines"][0]["received"] == 10
    assert hoodie.stocks.get().on_hand == 10
    assert PurchaseReceipt.objects.count() == 2


def test_an_over_receipt_is_a_409_and_changes_nothing(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 10, 0)).json()
    before = snapshot()

    response = staff_api.post(
        f"/api/v1/purchase-orders/{created['id']}/receive",
        {"lines": [{"sku": "HOODIE-SE", "quantity": 11}]},
        format="json",
    )

    assert error_of(response) == (409, "over_receipt")
    assert snapshot() == before
    assert not PurchaseReceipt.objects.exists()


def test_receiving_a_cancelled_purchase_order_is_a_409(staff_api, hoodie, supplier):
    created = create(staff_api, supplier, ("HOODIE-SE", 10, 0)).json()
    PurchaseOrder.objects.filter(pk=created["id"]).update(status="cancelled")

    response = staff_api.post(
        f"/api/v1/purchase-orders/{created['id']}/receive",
        {"lines": [{"sku": "HOODIE-SE", "quantity": 1}]},
        format="json",
    )

    assert error_of(response) == (409, "invalid_transition")


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"quantity": 1}], "lines[0]"),
        ([{"sku": "TOTE", "quantity": 1}], "lines[0].sku"),
        ([{"line_id": 999_999, "quantity": 1}], "lines[0].line_id"),
    ],
)
def test_a_receipt_must_name_a_line_of_the_order(staff_api, hoodie, supplier, lines, field):
    ProductFactory(sku="TOTE")
    created = create(staff_api, supplier, ("HOODIE-SE", 10, 0)).json()

    response = staff_api.post(
        f"/api/v1/purchase-orders/{created['id']}/receive", {"lines": lines}, format="json"
    )

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]


@pytest.mark.django_db(transaction=True)
def test_the_hoodie_case_goods_received_fill_the_oldest_backorders(staff_api, default_warehouse):
    """Sold out, still selling: the shipment from the supplier goes to the first buyers."""
    ProductFactory(sku="HOODIE-SE", lead_time_days=14)
    supplier = SupplierFactory(name="Konveksi Bandung", lead_time_days=14)
    first = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 2)])
    second = order_place(email="b@example.com", name="B", lines=[LineRequest("HOODIE-SE", 2)])

    with celery_worker():
        created = create(staff_api, supplier, ("HOODIE-SE", 3, 7)).json()
        wait_until(
            lambda: second.lines.get().eta == in_days(14) and first.lines.get().eta == in_days(7),
            "ETAs from the purchase order",
        )
        response = staff_api.post(
            f"/api/v1/purchase-orders/{created['id']}/receive",
            {"lines": [{"sku": "HOODIE-SE", "quantity": 3}]},
            format="json",
        )
        assert response.status_code == 200
        wait_until(lambda: second.lines.get().allocated == 1, "backorders to fill")

    assert [
        (line.allocated, line.backordered) for line in (first.lines.get(), second.lines.get())
    ] == [(2, 0), (1, 1)]

"""A supplier's terms per product over the API (contract §8): set, replaced, ranked."""

from decimal import Decimal

import pytest

from inventory.models import SupplierProduct
from inventory.selectors import lead_times
from tests.api.conftest import error_of
from tests.factories import ProductFactory, SupplierFactory

pytestmark = pytest.mark.django_db


def terms_url(supplier) -> str:
    return f"/api/v1/suppliers/{supplier.pk}/products"


def ranking(product) -> list[tuple[str, int]]:
    return list(
        SupplierProduct.objects.filter(product=product)
        .order_by("rank")
        .values_list("supplier__name", "rank")
    )


def test_terms_are_set_then_replaced(staff_api, hoodie):
    konveksi = SupplierFactory(name="Konveksi", lead_time_days=20)

    created = staff_api.post(
        terms_url(konveksi),
        {
            "sku": "HOODIE-SE",
            "unit_cost": "95000.00",
            "lead_time_days": 9,
            "minimum_order_quantity": 24,
            "pack_size": 12,
            "preferred": True,
        },
        format="json",
    )
    replaced = staff_api.post(terms_url(konveksi), {"sku": "HOODIE-SE"}, format="json")

    assert created.status_code == 201
    assert created.json() == {
        "supplier": konveksi.pk,
        "sku": "HOODIE-SE",
        "unit_cost": "95000.00",
        "lead_time_days": 9,
        "minimum_order_quantity": 24,
        "pack_size": 12,
        "preferred": True,
        "rank": 1,
    }
    assert replaced.status_code == 200
    body = replaced.json()
    # Replaced, not merged: absent fields take their defaults (the supplier's lead time).
    assert (body["unit_cost"], body["lead_time_days"], body["pack_size"]) == (None, None, 1)
    terms = SupplierProduct.objects.get()
    assert (terms.minimum_order_quantity, terms.pack_size, terms.rank) == (1, 1, 1)
    assert lead_times([hoodie]) == {hoodie.pk: 20}


def test_the_preferred_supplier_goes_first_and_the_others_keep_their_order(staff_api, hoodie):
    a, b, c = (SupplierFactory(name=name) for name in ("A", "B", "C"))
    for supplier in (a, b):
        staff_api.post(terms_url(supplier), {"sku": "HOODIE-SE"}, format="json")
    assert ranking(hoodie) == [("A", 1), ("B", 2)]

    staff_api.post(terms_url(c), {"sku": "HOODIE-SE", "preferred": True}, format="json")
    assert ranking(hoodie) == [("C", 1), ("A", 2), ("B", 3)]

    # B's new cost keeps B's place; C no longer preferred goes after the others.
    staff_api.post(terms_url(b), {"sku": "HOODIE-SE", "unit_cost": "1"}, format="json")
    assert ranking(hoodie) == [("C", 1), ("A", 2), ("B", 3)]
    staff_api.post(terms_url(c), {"sku": "HOODIE-SE", "preferred": False}, format="json")
    assert ranking(hoodie) == [("A", 1), ("B", 2), ("C", 3)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "NOPE"}, "sku"),
        ({"sku": "HOODIE-SE", "unit_cost": "-1"}, "unit_cost"),
        ({"sku": "HOODIE-SE", "pack_size": 0}, "pack_size"),
        ({"sku": "HOODIE-SE", "minimum_order_quantity": "3"}, "minimum_order_quantity"),
        ({"sku": "HOODIE-SE", "preferred": "yes"}, "preferred"),
        ({"sku": "HOODIE-SE", "lead_time_days": -2}, "lead_time_days"),
        ({}, "sku"),
    ],
)
def test_bad_terms_are_a_400_naming_the_field_and_change_nothing(staff_api, hoodie, body, field):
    supplier = SupplierFactory()

    response = staff_api.post(terms_url(supplier), body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not SupplierProduct.objects.exists()


def test_an_unknown_supplier_is_a_404(staff_api, hoodie):
    response = staff_api.post(
        "/api/v1/suppliers/999999/products", {"sku": "HOODIE-SE"}, format="json"
    )

    assert error_of(response) == (404, "not_found")


def test_terms_of_another_product_leave_the_first_alone(staff_api, hoodie):
    supplier = SupplierFactory()
    cap = ProductFactory(sku="CAP")
    staff_api.post(terms_url(supplier), {"sku": "HOODIE-SE", "unit_cost": "5"}, format="json")

    staff_api.post(terms_url(supplier), {"sku": "CAP", "unit_cost": "7"}, format="json")

    assert sorted(SupplierProduct.objects.values_list("product__sku", "unit_cost", "rank")) == [
        ("CAP", Decimal("7.00"), 1),
        ("HOODIE-SE", Decimal("5.00"), 1),
    ]
    assert cap.supplier_terms.count() == 1

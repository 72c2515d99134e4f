"""Products, availability, stock adjustments and suppliers over the API."""

from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.checks import SKU_PATTERN, SKU_RULE
from inventory.models import Product, StockMovement, Supplier
from inventory.stock import stock_receive
from orders.models import EtaChange
from orders.services import LineRequest, order_place
from tests.api.conftest import error_of
from tests.factories import ProductFactory, SupplierFactory, WarehouseFactory
from tests.helpers import in_days, iso_in_days, today
from tests.state import snapshot
from tests.worker import celery_worker, wait_until

HOODIE = {
    "sku": "HOODIE-SE",
    "name": "Special Edition Hoodie",
    "price": "350000.00",
    "backorder_policy": "backorder",
    "lead_time_days": 14,
    "backorder_limit": 200,
    "max_per_order": 3,
    "release_date": None,
}


def test_staff_create_a_product(staff_api, default_warehouse):
    response = staff_api.post("/api/v1/products", HOODIE, format="json")

    assert response.status_code == 201
    assert response.json() == {
        **HOODIE,
        "stock": {
            "on_hand": 0,
            "allocated": 0,
            "free": 0,
            "backordered": 0,
            "incoming": 0,
            "next_delivery": None,
            "lead_time_days": 14,
            "warehouses": [],
        },
    }
    product = Product.objects.get()
    assert (product.price, product.backorder_limit, product.max_per_order) == (
        Decimal("350000.00"),
        200,
        3,
    )


def test_a_product_needs_only_sku_name_and_price(staff_api, db):
    response = staff_api.post(
        "/api/v1/products", {"sku": "TOTE", "name": "Tote", "price": 50000}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["backorder_policy"], body["lead_time_days"], body["backorder_limit"]) == (
        "backorder",
        None,
        None,
    )


@pytest.mark.parametrize(
    "sku",
    ["a/b", "../../etc/passwd", "/", ".", "..", "", "HAS SPACE", "x" * 65, "é", "a?b", "a%2Fb"],
)
def test_a_sku_outside_the_rule_is_refused_naming_it(staff_api, client, hoodie, sku):
    # given
    before = snapshot(), list(Product.objects.values_list("sku", flat=True))

    # when
    response = staff_api.post(
        "/api/v1/products", {"sku": sku, "name": "Bad", "price": "1.00"}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "validation_error", "message": SKU_RULE, "fields": {"sku": SKU_RULE}}
    }
    assert (snapshot(), list(Product.objects.values_list("sku", flat=True))) == before
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("sku", ["a.b", "...", "v1.2_B-3", "x" * 64])
def test_a_sku_within_the_rule_is_created_and_found_at_its_urls(staff_api, client, db, sku):
    response = staff_api.post(
        "/api/v1/products", {"sku": sku, "name": "Good", "price": "1.00"}, format="json"
    )

    assert response.status_code == 201
    assert staff_api.get(f"/api/v1/products/{sku}").json()["sku"] == sku
    assert staff_api.get(f"/api/v1/products/{sku}/availability").json()["sku"] == sku
    assert f'href="/products/{sku}/"' in client.get("/").content.decode()
    assert client.get(f"/products/{sku}/").status_code == 200


def test_a_duplicate_sku_is_a_409(staff_api, hoodie):
    response = staff_api.post("/api/v1/products", HOODIE, format="json")

    assert error_of(response) == (409, "already_exists")
    assert response.json()["error"]["fields"] == {"sku": "already exists"}
    assert Product.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1"}, "price"),
        ({"price": "1.001"}, "price"),
        ({"price": "1e3"}, "price"),
        ({"price": " 12"}, "price"),
        ({"price": True}, "price"),
        ({"name": 12}, "name"),
        ({"sku": 12}, "sku"),
        ({"backorder_policy": "sometimes"}, "backorder_policy"),
        ({"lead_time_days": -1}, "lead_time_days"),
        ({"lead_time_days": 10**12}, "lead_time_days"),
        ({"max_per_order": 0}, "max_per_order"),
        ({"release_date": "25/12/2026"}, "release_date"),
        ({"sku": "HAS SPACE"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"name": "Hoodie\x07"}, "name"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_product_is_refused_naming_the_field(staff_api, db, change, field):
    response = staff_api.post("/api/v1/products", {**HOODIE, **change}, format="json")

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]
    assert not Product.objects.exists()


def test_anyone_reads_a_product_with_its_stock_figures(api, hoodie, default_warehouse):
    second = WarehouseFactory(code="bdg", priority=10)
    stock_receive(product=hoodie, quantity=3)
    stock_receive(product=hoodie, quantity=2, warehouse=second)
    order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 6)])

    response = api.get("/api/v1/products/HOODIE-SE")

    assert response.status_code == 200
    assert response.json()["stock"] == {
        "on_hand": 5,
        "allocated": 5,
        "free": 0,
        "backordered": 1,
        "incoming": 0,
        "next_delivery": None,
        "lead_time_days": 14,
        "warehouses": [
            {"warehouse": "main", "on_hand": 3, "allocated": 3, "free": 0},
            {"warehouse": "bdg", "on_hand": 2, "allocated": 2, "free": 0},
        ],
    }


def test_an_unknown_product_is_a_404(api, db):
    assert error_of(api.get("/api/v1/products/NOPE")) == (404, "not_found")


def test_a_product_change_names_only_what_changes(staff_api, hoodie):
    response = staff_api.patch("/api/v1/products/HOODIE-SE", {"lead_time_days": 21}, format="json")

    assert response.status_code == 200
    hoodie.refresh_from_db()
    assert (hoodie.lead_time_days, hoodie.backorder_policy, hoodie.name) == (
        21,
        "backorder",
        "Special Edition Hoodie",
    )


def test_staff_change_a_product(staff_api, hoodie):
    response = staff_api.patch(
        "/api/v1/products/HOODIE-SE", {"price": "299000", "max_per_order": None}, format="json"
    )

    assert response.status_code == 200
    assert (response.json()["price"], response.json()["max_per_order"]) == ("299000.00", None)
    hoodie.refresh_from_db()
    assert hoodie.price == Decimal("299000")


def test_the_sku_cannot_be_changed(staff_api, hoodie):
    response = staff_api.patch(
        "/api/v1/products/HOODIE-SE", {"sku": "OTHER", "name": "Renamed"}, format="json"
    )

    assert error_of(response) == (400, "validation_error")
    assert response.json()["error"]["fields"] == {"sku": "read-only"}
    assert Product.objects.get().name == "Special Edition Hoodie"


@pytest.mark.django_db(transaction=True)
def test_a_new_lead_time_moves_waiting_customers_etas(staff_api, default_warehouse):
    ProductFactory(sku="HOODIE-SE", lead_time_days=14)
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])
    line = order.lines.get()
    assert line.eta == in_days(14)

    with celery_worker():
        response = staff_api.patch(
            "/api/v1/products/HOODIE-SE", {"lead_time_days": 21}, format="json"
        )
        assert response.status_code == 200
        wait_until(
            lambda: EtaChange.objects.filter(cause="lead_time_changed").exists(),
            "the ETA to move",
        )

    line.refresh_from_db()
    assert line.eta == in_days(21)
    change = EtaChange.objects.get(cause="lead_time_changed")
    assert (change.previous, change.eta, change.detail) == (
        in_days(14),
        in_days(21),
        "Lead time changed",
    )


# Availability --------------------------------------------------------------------------------


def test_availability_quotes_stock_then_backorder_with_an_eta(api, hoodie):
    stock_receive(product=hoodie, quantity=2)

    in_stock = api.get("/api/v1/products/HOODIE-SE/availability?quantity=2").json()
    partial = api.get("/api/v1/products/HOODIE-SE/availability?quantity=5").json()

    assert in_stock == {
        "sku": "HOODIE-SE",
        "quantity": 2,
        "status": "in_stock",
        "available": 100,  # No cap of its own: the shop's BACKORDER_MAX_LINE_QUANTITY.
        "free": 2,
        "from_stock": 2,
        "backordered": 0,
        "eta": today().isoformat(),
        "code": "",
        "message": "",
    }
    assert (partial["status"], partial["from_stock"], partial["backordered"]) == (
        "partial",
        2,
        3,
    )
    assert partial["eta"] == iso_in_days(14)


def test_availability_defaults_to_one_unit(api, hoodie):
    body = api.get("/api/v1/products/HOODIE-SE/availability").json()

    assert (body["quantity"], body["status"], body["eta"]) == (1, "backorder", iso_in_days(14))


def test_availability_of_a_capped_product_says_why_not(api, default_warehouse):
    ProductFactory(sku="CAP", backorder_policy="deny")

    body = api.get("/api/v1/products/CAP/availability?quantity=1").json()

    assert (body["status"], body["available"], body["code"], body["eta"]) == (
        "unavailable",
        0,
        "out_of_stock",
        None,
    )


def test_availability_of_a_preorder_ships_on_release(api, default_warehouse):
    ProductFactory(sku="ALBUM", backorder_policy="preorder", release_date=in_days(30))

    body = api.get("/api/v1/products/ALBUM/availability?quantity=2").json()

    assert (body["status"], body["eta"]) == ("preorder", iso_in_days(30))


def split(api, sku: str, quantity: int) -> tuple:
    """(status, available, free, from_stock, backordered) of the availability answer."""
    body = api.get(f"/api/v1/products/{sku}/availability?quantity={quantity}").json()
    return tuple(body[f] for f in ("status", "available", "free", "from_stock", "backordered"))


def test_free_is_the_stock_not_the_per_order_cap_when_the_cap_is_higher(api, default_warehouse):
    # given 1 unit in stock, and room for 1 more as a backorder
    tee = ProductFactory(sku="TEE", backorder_limit=1)
    stock_receive(product=tee, quantity=1)

    # when
    body = api.get("/api/v1/products/TEE/availability?quantity=2").json()

    # then an order may take 2, but only 1 is free
    assert body == {
        "sku": "TEE",
        "quantity": 2,
        "status": "partial",
        "available": 2,
        "free": 1,
        "from_stock": 1,
        "backordered": 1,
        "eta": iso_in_days(14),
        "code": "",
        "message": "",
    }


def test_free_is_all_the_stock_when_the_per_order_cap_is_lower(api, default_warehouse):
    mug = ProductFactory(sku="MUG", max_per_order=3)
    stock_receive(product=mug, quantity=10)

    assert split(api, "MUG", 1) == ("in_stock", 3, 10, 1, 0)
    assert split(api, "MUG", 4) == ("unavailable", 3, 10, 0, 0)


def test_free_leaves_out_allocated_units_and_adds_up_every_warehouse(api, default_warehouse):
    # given 4 units in the main warehouse and 3 in another, 2 of them allocated to an order
    cap = ProductFactory(sku="CAP", backorder_policy="deny")
    stock_receive(product=cap, quantity=4)
    stock_receive(product=cap, quantity=3, warehouse=WarehouseFactory(code="bdg"))
    order_place(email="a@example.com", name="A", lines=[LineRequest("CAP", 2)])

    # then
    assert split(api, "CAP", 5) == ("in_stock", 5, 5, 5, 0)
    assert split(api, "CAP", 6) == ("unavailable", 5, 5, 0, 0)


def test_free_leaves_out_the_units_held_for_preorders(api, default_warehouse):
    # given 2 units pre-ordered, then 5 received ahead of the release
    album = ProductFactory(
        sku="ALBUM", backorder_policy="preorder", release_date=in_days(10), backorder_limit=4
    )
    order_place(email="a@example.com", name="A", lines=[LineRequest("ALBUM", 2)])
    stock_receive(product=album, quantity=5)

    # then 3 are free, and one more order may pre-order only 2 (the cap of 4, less 2)
    assert split(api, "ALBUM", 1) == ("preorder", 2, 3, 0, 1)


def test_free_is_never_negative_while_backorders_wait_for_more_than_is_in(api, default_warehouse):
    # given 4 units backordered, then 1 received (the worker has not filled them yet)
    scarf = ProductFactory(sku="SCARF", max_per_order=5)
    order_place(email="a@example.com", name="A", lines=[LineRequest("SCARF", 4)])
    stock_receive(product=scarf, quantity=1)

    # then the unit is the backorders', not the next order's
    assert split(api, "SCARF", 1) == ("backorder", 5, 0, 0, 1)


def test_the_schema_describes_free_and_available(api, db):
    schema = api.get("/api/v1/schema?format=json").json()["components"]["schemas"]

    availability = schema["Availability"]
    assert {"available", "free"} <= set(availability["required"])
    assert availability["properties"]["free"]["type"] == "integer"
    assert availability["properties"]["free"]["minimum"] == 0
    assert availability["properties"]["available"]["nullable"] is True
    assert schema["ProductWriteRequest"]["properties"]["sku"]["pattern"] == SKU_PATTERN


@pytest.mark.parametrize(
    "quantity", ["0", "-1", "abc", "1.5", "10000001", "9" * 40, "", "1&quantity=2"]
)
def test_availability_refuses_a_bad_quantity(api, hoodie, quantity):
    response = api.get(f"/api/v1/products/HOODIE-SE/availability?quantity={quantity}")

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == ["quantity"]


# Stock adjustments ---------------------------------------------------------------------------


def test_staff_adjust_stock_in_the_default_warehouse(staff_api, hoodie):
    response = staff_api.post(
        "/api/v1/stock/adjustments",
        {"sku": "HOODIE-SE", "quantity": 10, "reason": "Stock count"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    movement = StockMovement.objects.get()
    assert body == {
        "id": movement.pk,
        "sku": "HOODIE-SE",
        "warehouse": "main",
        "quantity": 10,
        "reason": "Stock count",
        "created_at": timezone.localtime(movement.created_at).isoformat(),
        "on_hand": 10,
        "allocated": 0,
    }


def test_an_adjustment_names_its_warehouse(staff_api, hoodie):
    WarehouseFactory(code="bdg")

    response = staff_api.post(
        "/api/v1/stock/adjustments",
        {"sku": "HOODIE-SE", "warehouse": "bdg", "quantity": 4, "reason": "Found a box"},
        format="json",
    )

    assert response.json()["warehouse"] == "bdg"
    assert hoodie.stocks.get(warehouse__code="bdg").on_hand == 4


def test_an_adjustment_below_what_is_allocated_is_a_409(staff_api, hoodie):
    stock_receive(product=hoodie, quantity=3)
    order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 2)])
    before = snapshot()

    response = staff_api.post(
        "/api/v1/stock/adjustments",
        {"sku": "HOODIE-SE", "quantity": -2, "reason": "Damaged"},
        format="json",
    )

    assert error_of(response) == (409, "insufficient_stock")
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "NOPE", "quantity": 1, "reason": "x"}, "sku"),
        ({"sku": "HOODIE-SE", "warehouse": "nowhere", "quantity": 1, "reason": "x"}, "warehouse"),
        ({"sku": "HOODIE-SE", "quantity": 0, "reason": "x"}, "quantity"),
        ({"sku": "HOODIE-SE", "quantity": "5", "reason": "x"}, "quantity"),
        ({"sku": "HOODIE-SE", "quantity": 5}, "reason"),
        ({"sku": "HOODIE-SE", "quantity": 5, "reason": 7}, "reason"),
    ],
)
def test_a_bad_adjustment_changes_nothing(staff_api, hoodie, body, field):
    before = snapshot()

    response = staff_api.post("/api/v1/stock/adjustments", body, format="json")

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]
    assert snapshot() == before


# Suppliers -----------------------------------------------------------------------------------


def test_staff_add_a_supplier(staff_api, db):
    response = staff_api.post(
        "/api/v1/suppliers",
        {"name": "Konveksi Bandung", "email": "po@konveksi.example", "lead_time_days": 14},
        format="json",
    )

    assert response.status_code == 201
    supplier = Supplier.objects.get()
    assert response.json() == {
        "id": supplier.pk,
        "name": "Konveksi Bandung",
        "email": "po@konveksi.example",
        "lead_time_days": 14,
        "is_active": True,
    }


def test_a_duplicate_supplier_is_a_409(staff_api, db):
    SupplierFactory(name="Konveksi Bandung")

    response = staff_api.post(
        "/api/v1/suppliers", {"name": "Konveksi Bandung", "lead_time_days": 14}, format="json"
    )

    assert error_of(response) == (409, "already_exists")
    assert Supplier.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "S", "lead_time_days": -1}, "lead_time_days"),
        ({"name": "S"}, "lead_time_days"),
        ({"name": "S", "email": "not-an-email", "lead_time_days": 1}, "email"),
        ({"name": "\x1b[31m", "lead_time_days": 1}, "name"),
        ({"name": 0, "lead_time_days": 1}, "name"),
        ({"name": "S", "email": 5, "lead_time_days": 1}, "email"),
    ],
)
def test_a_bad_supplier_is_refused(staff_api, db, body, field):
    response = staff_api.post("/api/v1/suppliers", body, format="json")

    assert error_of(response) == (400, "validation_error")
    assert list(response.json()["error"]["fields"]) == [field]
    assert not Supplier.objects.exists()

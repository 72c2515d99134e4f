"""Schemathesis against the live schema of a running server: no 500s, no schema violations.

Each operation is called with generated input, both anonymously and with a superuser's token,
against a shop with real products, stock, a supplier, a purchase order and an order, so that
generated requests reach the services as well as the refusals in front of them.
"""

import os

import pytest
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from inventory.models import Warehouse
from inventory.purchasing import PurchaseLineRequest, purchase_order_create
from inventory.stock import stock_receive
from orders.services import LineRequest, order_place
from tests.factories import ProductFactory, StaffFactory, SupplierFactory

CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]

# Input that breaks the schema must be refused with a 4xx.
NEGATIVE_CHECKS = [checks.negative_data_rejection]


@pytest.fixture
def shop(transactional_db):
    """Real objects for generated requests to find; the ids are fixed by a fresh sequence."""
    warehouse, _ = Warehouse.objects.get_or_create(
        is_default=True, defaults={"code": "main", "name": "Main", "priority": 100}
    )
    hoodie = ProductFactory(sku="HOODIE-SE", lead_time_days=14, max_per_order=5)
    ProductFactory(sku="ALBUM", backorder_policy="preorder")
    ProductFactory(sku="CAP", backorder_policy="deny")
    stock_receive(product=hoodie, quantity=20, warehouse=warehouse)
    supplier = SupplierFactory()
    purchase_order = purchase_order_create(
        supplier=supplier,
        lines=[PurchaseLineRequest("HOODIE-SE", 50, timezone.localdate())],
    )
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 2)])
    token = Token.objects.create(user=StaffFactory(username="fuzz")).key
    return {"token": token, "order": order, "purchase_order": purchase_order}


# Every method and path of contract §3, the token endpoint, reading a purchase order,
# back-in-stock alerts, the backlog report (§7) and replenishment (§8).
OPERATIONS = [
    "GET /api/v1/orders/{number}",
    "GET /api/v1/products/{sku}",
    "GET /api/v1/products/{sku}/availability",
    "GET /api/v1/products/{sku}/forecast",
    "GET /api/v1/purchase-orders/{purchase_order_id}",
    "GET /api/v1/replenishment/suggestions",
    "GET /api/v1/reports/backlog",
    "PATCH /api/v1/products/{sku}",
    "PATCH /api/v1/purchase-orders/{purchase_order_id}/lines/{line_id}",
    "POST /api/v1/auth/token",
    "POST /api/v1/orders",
    "POST /api/v1/orders/{number}/lines/{line_id}/cancel",
    "POST /api/v1/orders/{number}/shipments",
    "POST /api/v1/products",
    "POST /api/v1/products/{sku}/alerts",
    "POST /api/v1/purchase-orders",
    "POST /api/v1/purchase-orders/{purchase_order_id}/receive",
    "POST /api/v1/replenishment/drafts",
    "POST /api/v1/stock/adjustments",
    "POST /api/v1/suppliers",
    "POST /api/v1/suppliers/{supplier_id}/products",
]
FUZZ = settings(
    # BACKORDER_FUZZ_EXAMPLES=300 for a longer search than the suite's.
    max_examples=int(os.environ.get("BACKORDER_FUZZ_EXAMPLES", "20")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def real_objects(case, shop: dict, customer: bool) -> None:
    """Point the case's path at objects that exist, so the services behind it are reached."""
    order, purchase_order = shop["order"], shop["purchase_order"]
    known = {
        "sku": "HOODIE-SE",
        "number": order.number,
        "purchase_order_id": purchase_order.pk,
    }
    if "line_id" in case.path_parameters:
        orders_path = case.operation.path.startswith("/api/v1/orders")
        known["line_id"] = (order if orders_path else purchase_order).lines.first().pk
    case.path_parameters = {**case.path_parameters, **known}
    if customer and "token" in (case.query or {}):
        case.query = {**case.query, "token": order.token}


def fuzz(live_server, shop: dict, headers: dict, mode: GenerationMode) -> list[str]:
    """Run every operation of the live schema; return the operations run.

    In positive mode each generated case is sent twice: as generated (unknown objects, mostly)
    and aimed at real ones.
    """
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema")
    run = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case):
            if mode is GenerationMode.NEGATIVE:
                case.call_and_validate(headers=headers, checks=CHECKS + NEGATIVE_CHECKS)
                return
            case.call_and_validate(headers=headers, checks=CHECKS)
            real_objects(case, shop, customer=not headers)
            case.call_and_validate(headers=headers, checks=CHECKS)

        name = f"{operation.method.upper()} {operation.path}"
        try:
            call()
        except Unsatisfiable:
            # Negative mode: no input violates this operation's schema (free-text path only).
            run.append(f"{name} (no invalid input)")
        else:
            run.append(name)
    return run


def expected(mode: GenerationMode) -> list[str]:
    if mode is GenerationMode.POSITIVE:
        return OPERATIONS
    # Any text is a well-formed SKU in a path: there is nothing invalid to send.
    free_text = {"GET /api/v1/products/{sku}"}
    return sorted(f"{op} (no invalid input)" if op in free_text else op for op in OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_anonymous_callers_get_what_the_schema_says(live_server, shop, mode):
    assert sorted(fuzz(live_server, shop, {}, mode)) == expected(mode)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_staff_get_what_the_schema_says(live_server, shop, mode):
    headers = {"Authorization": f"Token {shop['token']}"}
    assert sorted(fuzz(live_server, shop, headers, mode)) == expected(mode)

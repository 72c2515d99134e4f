"""Who may call what: staff tokens, Django permissions, customer order tokens, throttles."""

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from inventory.models import Product, Supplier
from inventory.stock import stock_receive
from orders.models import Order
from orders.services import LineRequest, order_place
from tests.api.conftest import clerk_with, error_of, token_client
from tests.factories import StaffFactory, SupplierFactory
from tests.state import snapshot


def test_a_staff_user_gets_a_token_for_username_and_password(api, superuser):
    response = api.post(
        "/api/v1/auth/token",
        {"username": "boss", "password": "correct-horse-battery"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=superuser).key}
    # The token works.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/purchase-orders/1").status_code == 404


@pytest.mark.parametrize(
    ("username", "password", "staff", "active"),
    [
        ("boss", "wrong", True, True),
        ("nobody", "correct-horse-battery", True, True),
        ("boss", "correct-horse-battery", False, True),
        ("boss", "correct-horse-battery", True, False),
    ],
)
def test_no_token_without_an_active_staff_login(api, db, username, password, staff, active):
    StaffFactory(username="boss", is_staff=staff, is_active=active)

    response = api.post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json"
    )

    assert error_of(response) == (400, "invalid_credentials")
    assert not Token.objects.exists()


def test_a_wrong_token_is_a_401(api, hoodie):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api.post("/api/v1/products", {}, format="json")

    assert error_of(response) == (401, "authentication_failed")
    assert response.headers["WWW-Authenticate"] == "Token"


def test_a_token_of_a_user_no_longer_staff_is_a_403(db, hoodie):
    user = StaffFactory(username="former")
    client = token_client(user)
    user.is_staff = False
    user.save()

    response = client.post(
        "/api/v1/stock/adjustments",
        {"sku": "HOODIE-SE", "quantity": 5, "reason": "count"},
        format="json",
    )

    assert error_of(response) == (403, "permission_denied")
    assert not hoodie.stocks.exists()


# Each staff endpoint, called with no token, with a staff token lacking the permission, and
# with one holding it (which must get past access control: anything but 401 and 403).
STAFF_CALLS = [
    ("post", "/api/v1/products", {"sku": "NEW", "name": "New", "price": "1"}, "add_product"),
    ("patch", "/api/v1/products/HOODIE-SE", {"name": "Renamed"}, "change_product"),
    (
        "post",
        "/api/v1/stock/adjustments",
        {"sku": "HOODIE-SE", "quantity": 1, "reason": "count"},
        "change_stock",
    ),
    ("post", "/api/v1/suppliers", {"name": "New", "lead_time_days": 3}, "add_supplier"),
    (
        "post",
        "/api/v1/suppliers/{supplier}/products",
        {"sku": "HOODIE-SE"},
        "add_supplierproduct+change_supplierproduct",
    ),
    (
        "post",
        "/api/v1/purchase-orders",
        {
            "supplier": 0,
            "lines": [{"sku": "HOODIE-SE", "quantity": 1, "expected_date": "2099-01-01"}],
        },
        "add_purchaseorder",
    ),
    ("get", "/api/v1/purchase-orders/1", None, "view_purchaseorder"),
    (
        "patch",
        "/api/v1/purchase-orders/1/lines/1",
        {"expected_date": "2099-01-01"},
        "change_purchaseorder",
    ),
    (
        "post",
        "/api/v1/purchase-orders/1/receive",
        {"lines": [{"sku": "HOODIE-SE", "quantity": 1}]},
        "add_purchasereceipt",
    ),
    ("get", "/api/v1/products/HOODIE-SE/forecast", None, "view_product"),
    ("get", "/api/v1/replenishment/suggestions", None, "view_purchaseorder"),
    (
        "post",
        "/api/v1/replenishment/drafts",
        {},
        "add_purchaseorder+add_purchaseorderline",
    ),
    ("get", "/api/v1/orders/{number}", None, "orders.view_order"),
    ("post", "/api/v1/orders/{number}/lines/{line}/cancel", {}, "orders.change_order"),
    (
        "post",
        "/api/v1/orders/{number}/shipments",
        {"lines": [{"line_id": 1, "quantity": 1}]},
        "orders.add_shipment",
    ),
]


@pytest.fixture
def an_order(hoodie):
    stock_receive(product=hoodie, quantity=5)
    return order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])


def _call(client, method, path, body, order):
    supplier = Supplier.objects.order_by("pk").first()
    path = path.format(
        number=order.number, line=order.lines.get().pk, supplier=supplier.pk if supplier else 0
    )
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "path", "body", "permission"), STAFF_CALLS)
def test_staff_endpoints_need_a_token_and_the_permission(
    api, an_order, method, path, body, permission
):
    SupplierFactory()
    # Permissions joined by "+" are needed together; without an app label, of inventory.
    needed = [name if "." in name else f"inventory.{name}" for name in permission.split("+")]
    before = snapshot()
    products = list(Product.objects.values_list("sku", "name"))

    anonymous = _call(api, method, path, body, an_order)
    unpermitted = _call(token_client(clerk_with()), method, path, body, an_order)
    customer = _call(
        token_client(StaffFactory(is_staff=False, is_superuser=False)), method, path, body, an_order
    )

    assert error_of(anonymous) == (401, "not_authenticated")
    assert error_of(unpermitted) == (403, "permission_denied")
    assert error_of(customer) == (403, "permission_denied")
    assert snapshot() == before
    assert list(Product.objects.values_list("sku", "name")) == products

    if len(needed) > 1:
        partly = _call(token_client(clerk_with(needed[0])), method, path, body, an_order)
        assert error_of(partly) == (403, "permission_denied")
    permitted = _call(token_client(clerk_with(*needed)), method, path, body, an_order)
    assert permitted.status_code not in (401, 403), permitted.json()


def test_a_customer_token_never_reads_another_order(api, hoodie):
    mine = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])
    theirs = order_place(email="b@example.com", name="B", lines=[LineRequest("HOODIE-SE", 1)])

    response = api.get(f"/api/v1/orders/{theirs.number}?token={mine.token}")

    assert error_of(response) == (404, "not_found")
    assert error_of(api.get(f"/api/v1/orders/BO-AAAA-AAAA?token={mine.token}")) == (
        404,
        "not_found",
    )


@pytest.mark.parametrize("token", ["", "wrong", "x" * 500, "%00"])
def test_a_wrong_customer_token_answers_like_an_unknown_order(api, hoodie, token):
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])

    response = api.get(f"/api/v1/orders/{order.number}?token={token}")

    assert error_of(response) == (404, "not_found")


def test_a_customer_token_cannot_cancel_another_orders_line(api, hoodie):
    mine = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])
    theirs = order_place(email="b@example.com", name="B", lines=[LineRequest("HOODIE-SE", 1)])
    before = snapshot()

    response = api.post(
        f"/api/v1/orders/{theirs.number}/lines/{theirs.lines.get().pk}/cancel?token={mine.token}"
    )

    assert error_of(response) == (404, "not_found")
    assert snapshot() == before


def test_an_order_read_needs_a_token_of_some_kind(api, hoodie):
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])

    assert error_of(api.get(f"/api/v1/orders/{order.number}")) == (401, "not_authenticated")


def test_a_customer_token_does_not_ship(api, hoodie):
    stock_receive(product=hoodie, quantity=1)
    order = order_place(email="a@example.com", name="A", lines=[LineRequest("HOODIE-SE", 1)])

    response = api.post(
        f"/api/v1/orders/{order.number}/shipments?token={order.token}",
        {"lines": [{"line_id": order.lines.get().pk, "quantity": 1}]},
        format="json",
    )

    assert error_of(response) == (401, "not_authenticated")
    assert not order.shipments.exists()


# Throttles -----------------------------------------------------------------------------------


# Fixed windows of a day: a burst of test calls never straddles two of them.
@override_settings(BACKORDER_API_RATES={"public": "3/day", "login": "2/day"})
def test_public_endpoints_are_throttled_per_client(hoodie, staff_api):
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    other = APIClient(REMOTE_ADDR="203.0.113.8")
    url = "/api/v1/products/HOODIE-SE/availability"

    statuses = [client.get(url).status_code for _ in range(3)]
    throttled = client.get(url)
    # Forging X-Forwarded-For does not make a new client.
    forged = client.get(url, HTTP_X_FORWARDED_FOR="198.51.100.1")
    placing = client.post(
        "/api/v1/orders",
        {"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE", "quantity": 1}]},
        format="json",
    )

    assert statuses == [200, 200, 200]
    assert error_of(throttled) == (429, "throttled")
    assert int(throttled.headers["Retry-After"]) > 0
    assert error_of(forged) == (429, "throttled")
    assert error_of(placing) == (429, "throttled")
    assert not Order.objects.exists()
    assert other.get(url).status_code == 200
    # Staff integrations are not throttled.
    assert staff_api.get(url, REMOTE_ADDR="203.0.113.7").status_code == 200


# Fixed windows of a day: a burst of test calls never straddles two of them.
@override_settings(BACKORDER_API_RATES={"public": "3/day", "login": "2/day"})
def test_password_guessing_is_throttled(api, superuser):
    wrong = {"username": "boss", "password": "guess"}

    statuses = [api.post("/api/v1/auth/token", wrong, format="json").status_code for _ in range(2)]
    right = api.post(
        "/api/v1/auth/token",
        {"username": "boss", "password": "correct-horse-battery"},
        format="json",
    )

    assert statuses == [400, 400]
    assert error_of(right) == (429, "throttled")


def test_the_schema_and_its_browsable_documentation_are_public(api, db):
    from django.contrib.staticfiles import finders

    schema = api.get("/api/v1/schema?format=json")
    docs = api.get("/api/v1/docs")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert "/api/v1/orders/{number}/lines/{line_id}/cancel" in schema.json()["paths"]
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "/api/v1/schema" in page
    # Served from the app itself, not a CDN: the page works offline.
    bundle = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert f"/static/{bundle}" in page
    assert finders.find(bundle) is not None


def test_a_wrong_token_is_refused_on_public_endpoints_too(api, hoodie):
    api.credentials(HTTP_AUTHORIZATION="Token expired-or-revoked")

    assert error_of(api.get("/api/v1/products/HOODIE-SE")) == (401, "authentication_failed")
    response = api.post(
        "/api/v1/orders",
        {"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE", "quantity": 1}]},
        format="json",
    )
    assert error_of(response) == (401, "authentication_failed")
    assert not Order.objects.exists()

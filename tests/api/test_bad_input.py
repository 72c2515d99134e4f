"""Bad input gets a clear 4xx in the contract's error body and changes nothing; never a 500."""

import json

import pytest

from orders.models import Order
from tests.api.conftest import error_of
from tests.state import snapshot

GOOD = {"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE", "quantity": 1}]}


def post_raw(client, path, raw, content_type="application/json"):
    return client.post(path, data=raw, content_type=content_type)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "parse_error"),
        ('{"email": "a@example.com",}', "parse_error"),
        ("", "validation_error"),
        ("null", "validation_error"),
        ("[]", "validation_error"),
        ('"just a string"', "validation_error"),
        ('{"lines": NaN}', "parse_error"),
        ('{"lines": Infinity}', "parse_error"),
        ("[" * 100_000 + "]" * 100_000, "parse_error"),
        (b"\xff\xfe not utf-8", "parse_error"),
        ('{"name": "\\u0000"}', "parse_error"),
        ('{"name": "\\ud800"}', "parse_error"),
        ('{"\\u0000": 1}', "parse_error"),
    ],
)
def test_malformed_bodies_are_400(api, hoodie, raw, code):
    before = snapshot()

    response = post_raw(api, "/api/v1/orders", raw)

    assert error_of(response) == (400, code)
    assert snapshot() == before


def test_a_body_over_the_limit_is_413(api, hoodie):
    raw = json.dumps({**GOOD, "name": "x" * 1_100_000})

    response = post_raw(api, "/api/v1/orders", raw)

    assert error_of(response) == (413, "payload_too_large")
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
def test_only_json_is_accepted(api, hoodie, content_type):
    response = post_raw(api, "/api/v1/orders", "email=a@example.com", content_type)

    assert error_of(response) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": 5}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com\r\nBcc: x@example.com"}, "email"),
        ({"name": ["A"]}, "name"),
        ({"name": "Rina\x1b[2J"}, "name"),
        ({"name": "Rina\nBcc: x@example.com"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"locale": "fr"}, "locale"),
        ({"ship_complete": "yes"}, "ship_complete"),
        ({"ship_complete": 1}, "ship_complete"),
        ({"lines": "HOODIE-SE"}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "HOODIE-SE"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": "1"}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": 1.5}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": True}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": -1}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": 10**30}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": 1e308}]}, "lines[0].quantity"),
        ({"lines": [{"sku": 12, "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "lines[0].sku"),
        ({"lines": [{"sku": "HOODIE-SE", "quantity": 1}] * 101}, "lines"),
    ],
)
def test_wrong_fields_are_named(api, hoodie, change, field):
    before = snapshot()

    response = api.post("/api/v1/orders", {**GOOD, **change}, format="json")

    assert error_of(response)[0] == 400
    assert list(response.json()["error"]["fields"]) == [field], response.json()
    assert snapshot() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/%00",
        "/api/v1/products/%ED%A0%80",
        "/api/v1/products/" + "x" * 5000,
        "/api/v1/products/%00/availability",
        "/api/v1/orders/%00",
        "/api/v1/orders/BO-AAAA-AAAA%00?token=x",
        "/api/v1/orders/BO-AAAA-AAAA?token=%00",
        "/api/v1/purchase-orders/99999999999999999999999",
    ],
)
def test_strange_paths_are_404_or_401_never_500(api, staff_api, hoodie, path):
    for client in (api, staff_api):
        response = client.get(path)
        assert response.status_code in (401, 404), (path, response.status_code)
        error_of(response)


def test_an_unknown_method_is_405(api, hoodie):
    assert error_of(api.delete("/api/v1/products/HOODIE-SE")) == (405, "method_not_allowed")


def test_an_unknown_api_path_is_a_json_404(api, db):
    assert error_of(api.get("/api/v1/nothing-here")) == (404, "not_found")

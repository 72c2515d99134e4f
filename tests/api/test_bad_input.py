"""Bad input gets a clear 4xx in the contract's error body and changes nothing; never a 500."""

import json

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import Client

from config.api import bad_request, exception_handler
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


# Every answer under /api/v1/ is JSON, with DEBUG on or off -----------------------------------


@pytest.fixture(params=[False, True], ids=["DEBUG=False", "DEBUG=True"])
def debug(request, settings):
    """Django answers some errors itself, and differently when DEBUG is on: test both."""
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    ("method", "path", "answer"),
    [
        ("get", "/api/v1/orders/BO-AAAA-AAAA/", (404, "not_found")),
        ("get", "/api/v1/products/HOODIE-SE/", (404, "not_found")),
        ("get", "/api/v1/products/HOODIE-SE/availability/", (404, "not_found")),
        ("post", "/api/v1/orders/", (404, "not_found")),
        ("get", "/api/v1/nothing-here", (404, "not_found")),
        ("post", "/api/v1/nothing/here/", (404, "not_found")),
        ("get", "/api/v1/", (404, "not_found")),
        ("get", "/api/v1", (404, "not_found")),
        ("get", "/api/v2/products", (404, "not_found")),
        ("get", "/api/v1/products/a%2Fb", (404, "not_found")),
        ("delete", "/api/v1/products/HOODIE-SE", (405, "method_not_allowed")),
        ("put", "/api/v1/orders", (405, "method_not_allowed")),
        ("get", "/api/v1/orders", (405, "method_not_allowed")),
        ("delete", "/api/v1/schema", (405, "method_not_allowed")),
        ("post", "/api/v1/docs", (405, "method_not_allowed")),
        ("options", "/api/v1/docs", (405, "method_not_allowed")),
    ],
)
def test_every_error_under_the_api_is_the_json_error_body(debug, hoodie, method, path, answer):
    # given a client as browsers and scripts are: CSRF checked, no session
    client = Client(enforce_csrf_checks=True)
    before = snapshot()

    # when
    body = {} if method == "get" else {"data": json.dumps(GOOD), "content_type": "application/json"}
    response = getattr(client, method)(path, **body)

    # then
    assert response["Content-Type"] == "application/json"
    assert error_of(response) == answer
    assert snapshot() == before


def test_a_request_django_refuses_before_any_endpoint_is_a_json_400(hoodie):
    # DEBUG off, as in production: with it on, Django shows its debugging page instead.
    response = Client().get("/api/v1/products/HOODIE-SE", HTTP_HOST="evil.example")

    assert response["Content-Type"] == "application/json"
    assert error_of(response) == (400, "bad_request")


def test_a_body_too_large_for_django_to_read_is_a_413_wherever_it_is_met(rf):
    # Should anything read the whole body before the parser does (a middleware, say).
    request = rf.post("/api/v1/orders")

    handled = exception_handler(RequestDataTooBig("too big"), {})
    answered = bad_request(request, RequestDataTooBig("too big"))

    assert (handled.status_code, handled.data["error"]["code"]) == (413, "payload_too_large")
    assert (answered.status_code, json.loads(answered.content)["error"]["code"]) == (
        413,
        "payload_too_large",
    )


# Oversized bodies: a JSON 413 at any size ------------------------------------------------------


@pytest.mark.parametrize("size", [1_100_000, 3_000_000, 10_000_000], ids=["1MB", "3MB", "10MB"])
@pytest.mark.parametrize(
    ("path", "as_staff"),
    [
        ("/api/v1/orders", False),
        ("/api/v1/products/HOODIE-SE/alerts", False),
        ("/api/v1/auth/token", False),
        ("/api/v1/products", True),
        ("/api/v1/stock/adjustments", True),
    ],
)
def test_a_body_over_the_limit_is_a_json_413_at_any_size(
    debug, api, staff_api, hoodie, size, path, as_staff
):
    # given
    raw = json.dumps({**GOOD, "name": "x" * size})
    before = snapshot()

    # when
    response = post_raw(staff_api if as_staff else api, path, raw)

    # then
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "payload_too_large",
            "message": "The request body is larger than 1000000 bytes.",
            "fields": {},
        }
    }
    assert response.status_code == 413
    assert snapshot() == before


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(api, hoodie):
    response = api.generic(
        "POST",
        "/api/v1/orders",
        json.dumps(GOOD),
        content_type="application/json",
        CONTENT_LENGTH="50000000",
    )

    assert error_of(response) == (413, "payload_too_large")
    assert not Order.objects.exists()


def test_a_body_without_a_length_is_not_read(api, hoodie):
    # As a chunked body comes to a WSGI app: no Content-Length, so no body to read.
    raw = json.dumps({**GOOD, "name": "x" * 10_000_000})

    response = api.generic(
        "POST", "/api/v1/orders", raw, content_type="application/json", CONTENT_LENGTH=""
    )

    assert error_of(response) == (400, "validation_error")
    assert set(response.json()["error"]["fields"]) == {"email", "name", "lines"}
    assert not Order.objects.exists()


# A key given twice in one JSON object ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (
            '{"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE",'
            ' "quantity": 1, "quantity": 999}]}',
            "quantity",
        ),
        (
            '{"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE",'
            ' "quantity": 1}, {"sku": "HOODIE-SE", "sku": "OTHER", "quantity": 1}]}',
            "sku",
        ),
        (
            '{"email": "a@example.com", "email": "b@example.com", "name": "A",'
            ' "lines": [{"sku": "HOODIE-SE", "quantity": 1}]}',
            "email",
        ),
        (
            '{"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE",'
            ' "quantity": 1}], "shipping_address": {"address": "Jl. Braga 1", "city": "Bandung",'
            ' "city": "Jakarta", "postal_code": "40111", "country": "ID"}}',
            "city",
        ),
        ('{"lines": [[{"x": {"deep": 1, "deep": 2}}]]}', "deep"),
        ('{"a\\u0000": 1, "a\\u0000": 2}', "a\\u0000"),
    ],
)
def test_a_key_given_twice_in_one_object_is_refused(api, hoodie, raw, key):
    before = snapshot()

    response = post_raw(api, "/api/v1/orders", raw)

    assert error_of(response) == (400, "parse_error")
    assert response.json()["error"]["message"] == (
        f'Malformed JSON: the key "{key}" appears twice in one object.'
    )
    assert snapshot() == before


def test_the_same_key_in_different_objects_is_fine(api, hoodie):
    raw = (
        '{"email": "a@example.com", "name": "A", "lines": [{"sku": "HOODIE-SE", "quantity": 1},'
        ' {"sku": "HOODIE-SE", "quantity": 2}]}'
    )

    response = post_raw(api, "/api/v1/orders", raw)

    assert response.status_code == 201
    assert [line["quantity"] for line in response.json()["lines"]] == [1, 2]

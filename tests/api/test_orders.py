"""Orders over the API: placement, refusals, idempotency, reading, cancelling, shipping."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import Product, StockMovement
from inventory.stock import stock_receive
from orders.models import IdempotencyKey, Order, OrderLine, RefusedDemand
from tests.api.conftest import error_of, token_client
from tests.factories import ProductFactory, StaffFactory
from tests.helpers import in_days, iso_in_days, sql_shapes, today
from tests.state import snapshot


def order_body(*lines, **fields):
    return {
        "email": "rina@example.com",
        "name": "Rina",
        "locale": "id",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        **fields,
    }


def place(api, *lines, key=None, **fields):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post("/api/v1/orders", order_body(*lines, **fields), format="json", **headers)


@pytest.fixture
def hoodie_in_stock(hoodie):
    stock_receive(product=hoodie, quantity=3)
    return hoodie


def test_an_order_past_stock_is_backordered_and_told_when_it_ships(api, hoodie_in_stock):
    response = place(api, ("HOODIE-SE", 5))

    assert response.status_code == 201
    body = response.json()
    order = Order.objects.get()
    line = order.lines.get()
    assert body == {
        "number": order.number,
        "status": "backordered",
        "status_url": f"http://testserver/orders/{order.number}/{order.token}/",
        "created_at": timezone.localtime(order.created_at).isoformat(),
        "ship_complete": False,
        "locale": "id",
        "email": "rina@example.com",
        "name": "Rina",
        "eta": iso_in_days(14),
        "shipping_address": None,
        "total": "500000.00",
        "totals": {
            "shipped": "0.00",
            "to_ship": "500000.00",
            "waiting": "200000.00",
            "cancelled": "0.00",
        },
        "lines": [
            {
                "id": line.pk,
                "sku": "HOODIE-SE",
                "name": "Special Edition Hoodie",
                "quantity": 5,
                "allocated": 3,
                "backordered": 2,
                "shipped": 0,
                "cancelled": 0,
                "status": "backordered",
                "eta": iso_in_days(14),
                "unit_price": "100000.00",
            }
        ],
    }


def test_an_order_in_stock_is_allocated_and_ships_today(api, hoodie_in_stock):
    body = place(api, ("HOODIE-SE", 2), ship_complete=True).json()

    assert body["status"] == "allocated"
    assert body["ship_complete"] is True
    assert body["eta"] == today().isoformat()
    assert body["lines"][0]["allocated"] == 2
    assert body["lines"][0]["eta"] == today().isoformat()


@pytest.mark.parametrize(
    ("product", "quantity", "code"),
    [
        ({"backorder_policy": "deny"}, 1, "out_of_stock"),
        ({"backorder_limit": 1}, 2, "backorder_limit"),
        ({"max_per_order": 2}, 3, "max_per_order"),
        ({"backorder_policy": "deny", "release_date_in_days": 5}, 1, "not_released"),
    ],
)
def test_policy_refusals_are_422_with_their_code_and_change_nothing(
    api, default_warehouse, product, quantity, code
):
    release_in = product.pop("release_date_in_days", None)
    if release_in is not None:
        product["release_date"] = in_days(release_in)
    ProductFactory(sku="CAP", **product)
    before = snapshot()

    response = place(api, ("CAP", quantity))

    assert error_of(response) == (422, code)
    assert response.json()["error"]["fields"]["lines[0]"]["code"] == code
    before["refused_demand"] += 1
    assert snapshot() == before
    assert list(RefusedDemand.objects.values_list("quantity", "reason")) == [(quantity, code)]


def test_one_refused_line_refuses_the_whole_order(api, hoodie_in_stock):
    ProductFactory(sku="CAP", backorder_policy="deny")

    response = place(api, ("HOODIE-SE", 1), ("CAP", 1))

    assert error_of(response) == (422, "out_of_stock")
    assert set(response.json()["error"]["fields"]) == {"lines[1]"}
    assert not Order.objects.exists()


def test_a_preorder_says_preordered_and_ships_on_release(api, default_warehouse):
    release = in_days(30)
    ProductFactory(sku="ALBUM", backorder_policy="preorder", release_date=release)

    body = place(api, ("ALBUM", 1)).json()

    assert body["status"] == "preordered"
    assert body["lines"][0]["status"] == "preordered"
    assert body["lines"][0]["eta"] == release.isoformat()


def test_unknown_skus_are_named_by_line(api, hoodie):
    response = place(api, ("HOODIE-SE", 1), ("NOPE", 1))

    assert error_of(response) == (400, "validation_error")
    assert response.json()["error"]["fields"] == {"lines[1].sku": "unknown SKU"}
    assert not Order.objects.exists()


# Idempotency -------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_and_body_returns_the_same_order(api, hoodie_in_stock):
    first = place(api, ("HOODIE-SE", 2), key="checkout-7f3a")
    # The same JSON with its keys in another order is the same body.
    retry = api.post(
        "/api/v1/orders",
        data=(
            '{"lines": [{"quantity": 2, "sku": "HOODIE-SE"}], "name": "Rina",'
            ' "locale": "id", "email": "rina@example.com"}'
        ),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="checkout-7f3a",
    )

    assert first.status_code == retry.status_code == 201
    assert first.headers["Idempotent-Replayed"] == "false"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Order.objects.count() == 1
    assert OrderLine.objects.get().allocated == 2


def test_the_same_key_with_another_body_is_a_409(api, hoodie_in_stock):
    place(api, ("HOODIE-SE", 2), key="checkout-7f3a")

    response = place(api, ("HOODIE-SE", 3), key="checkout-7f3a")

    assert error_of(response) == (409, "idempotency_conflict")
    assert Order.objects.count() == 1


def test_a_refused_order_does_not_use_up_its_key(api, default_warehouse):
    product = ProductFactory(sku="CAP", backorder_policy="deny")
    assert error_of(place(api, ("CAP", 1), key="k-1")) == (422, "out_of_stock")
    stock_receive(product=product, quantity=1)

    response = place(api, ("CAP", 1), key="k-1")

    assert response.status_code == 201
    assert IdempotencyKey.objects.get().order.number == response.json()["number"]
    assert RefusedDemand.objects.count() == 1


def test_a_key_is_the_callers_own_anonymous_and_staff_never_share_one(
    api, staff_api, hoodie_in_stock
):
    # given a staff user placed an order with a key
    staff = place(staff_api, ("HOODIE-SE", 1), key="checkout-1")

    # when an anonymous caller sends the same key and body
    anonymous = place(api, ("HOODIE-SE", 1), key="checkout-1")

    # then it is a new order, and the staff user's stays theirs
    assert staff.status_code == anonymous.status_code == 201
    assert anonymous.headers["Idempotent-Replayed"] == "false"
    assert anonymous.json()["number"] != staff.json()["number"]
    assert anonymous.json()["status_url"] != staff.json()["status_url"]
    assert Order.objects.count() == 2
    assert place(staff_api, ("HOODIE-SE", 1), key="checkout-1").json() == staff.json()
    assert place(api, ("HOODIE-SE", 1), key="checkout-1").json() == anonymous.json()
    assert Order.objects.count() == 2
    assert sorted(
        IdempotencyKey.objects.values_list("user__username", "order__number"), key=str
    ) == sorted([("boss", staff.json()["number"]), (None, anonymous.json()["number"])], key=str)


def test_each_staff_user_has_a_key_space_of_their_own(api, hoodie_in_stock):
    # given
    users = [StaffFactory(username="ana"), StaffFactory(username="budi")]
    first, second = (token_client(user) for user in users)

    # when
    placed = [place(client, ("HOODIE-SE", 1), key="restock-7") for client in (first, second)]
    # another body under the same key is a conflict only for the caller who used the key
    conflict = place(first, ("HOODIE-SE", 2), key="restock-7")
    replayed = place(second, ("HOODIE-SE", 1), key="restock-7")

    # then
    assert [response.status_code for response in placed] == [201, 201]
    assert placed[0].json()["number"] != placed[1].json()["number"]
    assert error_of(conflict) == (409, "idempotency_conflict")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == placed[1].json()
    assert sorted(IdempotencyKey.objects.values_list("user__username", "order__number")) == [
        ("ana", placed[0].json()["number"]),
        ("budi", placed[1].json()["number"]),
    ]


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ключ"])
def test_a_malformed_key_is_refused(api, hoodie, key):
    response = place(api, ("HOODIE-SE", 1), key=key)

    assert error_of(response) == (400, "validation_error")
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_place_one_order(default_warehouse):
    from rest_framework.test import APIClient

    product = ProductFactory(sku="HOODIE-SE", lead_time_days=14)
    stock_receive(product=product, quantity=1)
    barrier = threading.Barrier(6)
    results = []

    def checkout():
        try:
            barrier.wait()
            response = APIClient().post(
                "/api/v1/orders",
                order_body(("HOODIE-SE", 1)),
                format="json",
                HTTP_IDEMPOTENCY_KEY="double-click",
            )
            results.append((response.status_code, response.json()["number"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    order = Order.objects.get()
    assert results == [(201, order.number)] * 6
    assert order.lines.get().allocated == 1
    assert StockMovement.objects.filter(kind="allocation").count() == 1
    assert Product.objects.get().stocks.get().allocated == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_staff_users_key_place_one_order(default_warehouse):
    product = ProductFactory(sku="HOODIE-SE", lead_time_days=14)
    stock_receive(product=product, quantity=1)
    staff = StaffFactory(username="ana")
    barrier = threading.Barrier(4)
    results = []

    def checkout(client):
        try:
            barrier.wait()
            response = place(client, ("HOODIE-SE", 1), key="double-click")
            results.append((response.status_code, response.json()["number"]))
        finally:
            connection.close()

    clients = [token_client(staff) for _ in range(4)]
    threads = [threading.Thread(target=checkout, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    order = Order.objects.get()
    assert results == [(201, order.number)] * 4
    assert list(IdempotencyKey.objects.values_list("user__username", "order_id")) == [
        ("ana", order.pk)
    ]


# Reading -------------------------------------------------------------------------------------


def test_the_customer_reads_the_order_with_its_token(api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 1)).json()
    order = Order.objects.get()

    response = api.get(f"/api/v1/orders/{order.number}?token={order.token}")

    assert response.status_code == 200
    assert response.json() == placed


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/orders/{number}"), ("post", "/api/v1/orders/{number}/lines/{line}/cancel")],
)
def test_a_wrong_token_runs_exactly_the_queries_of_an_unknown_order(
    api, hoodie_in_stock, method, path
):
    # given
    place(api, ("HOODIE-SE", 5))
    order = Order.objects.get()
    line = order.lines.get()
    before = snapshot()

    # when
    with CaptureQueriesContext(connection) as unknown:
        unknown_answer = getattr(api, method)(
            path.format(number="BO-ZZZZ-ZZZZ", line=line.pk) + f"?token={order.token}"
        )
    with CaptureQueriesContext(connection) as wrong:
        wrong_answer = getattr(api, method)(
            path.format(number=order.number, line=line.pk) + "?token=" + "A" * len(order.token)
        )

    # then
    assert error_of(unknown_answer) == error_of(wrong_answer) == (404, "not_found")
    assert unknown_answer.json() == wrong_answer.json()
    assert len(unknown.captured_queries) == len(wrong.captured_queries) == 1
    assert sql_shapes(unknown) == sql_shapes(wrong)
    assert snapshot() == before


def test_staff_read_any_order(api, staff_api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 1)).json()

    response = staff_api.get(f"/api/v1/orders/{placed['number']}")

    assert response.status_code == 200
    assert response.json() == placed


def test_status_follows_the_lines(api, staff_api, hoodie_in_stock):
    ProductFactory(sku="TOTE", lead_time_days=7)
    placed = place(api, ("HOODIE-SE", 1), ("TOTE", 1)).json()
    number = placed["number"]
    hoodie_line, tote_line = (line["id"] for line in placed["lines"])
    assert placed["status"] == "backordered"

    body = staff_api.post(
        f"/api/v1/orders/{number}/shipments",
        {"lines": [{"line_id": hoodie_line, "quantity": 1}], "tracking": "JNE-1"},
        format="json",
    ).json()["order"]
    assert body["status"] == "backordered"

    body = staff_api.post(f"/api/v1/orders/{number}/lines/{tote_line}/cancel").json()
    assert body["status"] == "shipped"
    assert [line["status"] for line in body["lines"]] == ["shipped", "cancelled"]
    assert body["eta"] is None


# Cancelling ----------------------------------------------------------------------------------


def test_a_customer_cancels_backordered_units_with_the_token(api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 5)).json()
    order = Order.objects.get()
    line_id = placed["lines"][0]["id"]

    response = api.post(
        f"/api/v1/orders/{order.number}/lines/{line_id}/cancel?token={order.token}",
        {"quantity": 2},
        format="json",
    )

    assert response.status_code == 200
    line = response.json()["lines"][0]
    assert (line["allocated"], line["backordered"], line["cancelled"]) == (3, 0, 2)
    assert line["status"] == "allocated"
    assert response.json()["status"] == "allocated"


def test_a_customer_cannot_cancel_allocated_units(api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 2)).json()
    order = Order.objects.get()
    before = snapshot()

    response = api.post(
        f"/api/v1/orders/{order.number}/lines/{placed['lines'][0]['id']}/cancel"
        f"?token={order.token}",
        {},
        format="json",
    )

    assert error_of(response) == (409, "not_cancellable")
    assert snapshot() == before


def test_staff_cancel_allocated_units_and_they_go_back_to_stock(api, staff_api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 2)).json()

    response = staff_api.post(
        f"/api/v1/orders/{placed['number']}/lines/{placed['lines'][0]['id']}/cancel",
        {"quantity": 1, "reason": "Customer called"},
        format="json",
    )

    assert response.status_code == 200
    line = response.json()["lines"][0]
    assert (line["allocated"], line["cancelled"]) == (1, 1)
    assert hoodie_in_stock.stocks.get().allocated == 1


def test_staff_mark_a_cancellation_entered_in_error_and_customers_cannot(
    api, staff_api, hoodie_in_stock
):
    placed = place(api, ("HOODIE-SE", 5)).json()
    order = Order.objects.get()
    url = f"/api/v1/orders/{order.number}/lines/{placed['lines'][0]['id']}/cancel"
    before = snapshot()

    refused = api.post(
        f"{url}?token={order.token}", {"quantity": 1, "entered_in_error": True}, format="json"
    )
    done = staff_api.post(
        url, {"quantity": 2, "reason": "Duplicate", "entered_in_error": True}, format="json"
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"entered_in_error": "staff only"}
    assert done.status_code == 200
    line = order.lines.get()
    assert (line.cancelled, line.cancelled_in_error) == (2, 2)
    assert before != snapshot()


def test_cancelling_more_than_is_left_is_a_409(api, staff_api, hoodie):
    placed = place(api, ("HOODIE-SE", 2)).json()
    url = f"/api/v1/orders/{placed['number']}/lines/{placed['lines'][0]['id']}/cancel"

    response = staff_api.post(url, {"quantity": 3}, format="json")

    assert error_of(response) == (409, "not_cancellable")
    assert response.json()["error"]["fields"] == {"quantity": "at most 2"}


def test_a_line_of_another_order_is_not_found(api, staff_api, hoodie):
    first = place(api, ("HOODIE-SE", 1)).json()
    second = place(api, ("HOODIE-SE", 1)).json()

    response = staff_api.post(
        f"/api/v1/orders/{first['number']}/lines/{second['lines'][0]['id']}/cancel"
    )

    assert error_of(response) == (404, "not_found")
    assert OrderLine.objects.filter(cancelled__gt=0).count() == 0


# Shipping ------------------------------------------------------------------------------------


def test_staff_ship_allocated_units(api, staff_api, hoodie_in_stock):
    placed = place(api, ("HOODIE-SE", 2)).json()
    line_id = placed["lines"][0]["id"]

    response = staff_api.post(
        f"/api/v1/orders/{placed['number']}/shipments",
        {"lines": [{"line_id": line_id, "quantity": 2}], "tracking": "JNE-123", "carrier": "JNE"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["carrier"], body["tracking"]) == ("JNE", "JNE-123")
    assert body["lines"] == [{"line_id": line_id, "quantity": 2}]
    assert body["order"]["status"] == "shipped"
    assert body["order"]["lines"][0]["shipped"] == 2
    stock = hoodie_in_stock.stocks.get()
    assert (stock.on_hand, stock.allocated) == (1, 0)


def test_shipping_backordered_units_is_a_409(api, staff_api, hoodie):
    placed = place(api, ("HOODIE-SE", 2)).json()
    before = snapshot()

    response = staff_api.post(
        f"/api/v1/orders/{placed['number']}/shipments",
        {"lines": [{"line_id": placed["lines"][0]["id"], "quantity": 1}]},
        format="json",
    )

    assert error_of(response) == (409, "not_shippable")
    assert snapshot() == before


def test_a_ship_complete_order_waits_for_every_line(api, staff_api, hoodie_in_stock):
    ProductFactory(sku="TOTE")
    placed = place(api, ("HOODIE-SE", 1), ("TOTE", 1), ship_complete=True).json()

    response = staff_api.post(
        f"/api/v1/orders/{placed['number']}/shipments",
        {"lines": [{"line_id": placed["lines"][0]["id"], "quantity": 1}]},
        format="json",
    )

    assert error_of(response) == (409, "not_shippable")


def test_keys_older_than_a_week_are_forgotten(api, hoodie):
    from orders.tasks import purge_idempotency_keys

    place(api, ("HOODIE-SE", 1), key="old")
    place(api, ("HOODIE-SE", 1), key="new")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(days=7, minutes=1)
    )

    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert Order.objects.count() == 2


def test_an_order_may_carry_its_shipping_address(api, hoodie_in_stock):
    # given
    address = {
        "address": "Jl. Merdeka 1\nRT 01",
        "city": "Jakarta",
        "postal_code": "10110",
        "country": "Indonesia",
    }

    # when
    response = place(api, ("HOODIE-SE", 1), shipping_address=address)
    without = place(api, ("HOODIE-SE", 1))

    # then
    assert response.status_code == 201
    assert response.json()["shipping_address"] == {**address, "phone": ""}
    order = Order.objects.get(number=response.json()["number"])
    assert (order.address, order.city, order.postal_code, order.country) == (
        "Jl. Merdeka 1\nRT 01",
        "Jakarta",
        "10110",
        "Indonesia",
    )
    assert without.json()["shipping_address"] is None


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ({"address": "Jl. Merdeka 1", "city": "Jakarta", "country": "ID"}, "postal_code"),
        ({"address": "", "city": "J", "postal_code": "1", "country": "ID"}, "address"),
        ({"address": "x\x07", "city": "J", "postal_code": "1", "country": "ID"}, "address"),
        ({"address": "x", "city": 5, "postal_code": "1", "country": "ID"}, "city"),
        ("Jl. Merdeka 1", "Expected a dictionary"),
    ],
)
def test_a_bad_shipping_address_is_a_400_and_orders_nothing(api, hoodie_in_stock, address, field):
    # given
    before = snapshot()

    # when
    response = place(api, ("HOODIE-SE", 1), shipping_address=address)

    # then
    assert response.status_code == 400
    assert field in str(response.json()["error"]["fields"])
    assert snapshot() == before


# Totals --------------------------------------------------------------------------------------


def test_the_total_counts_every_unit_not_cancelled_and_splits_what_is_left(
    api, staff_api, hoodie_in_stock
):
    ProductFactory(sku="TOTE", price="25000.50")
    placed = place(api, ("HOODIE-SE", 5), ("TOTE", 2)).json()
    hoodie_line, tote_line = (line["id"] for line in placed["lines"])
    assert placed["total"] == "550001.00"

    staff_api.post(
        f"/api/v1/orders/{placed['number']}/shipments",
        {"lines": [{"line_id": hoodie_line, "quantity": 3}]},
        format="json",
    )
    cancelled = staff_api.post(
        f"/api/v1/orders/{placed['number']}/lines/{hoodie_line}/cancel",
        {"quantity": 1},
        format="json",
    ).json()

    # Hoodie: 3 shipped, 1 cancelled, 1 backordered; totes: 2 backordered at 25,000.50.
    assert [line["unit_price"] for line in cancelled["lines"]] == ["100000.00", "25000.50"]
    assert cancelled["total"] == "450001.00"
    assert cancelled["totals"] == {
        "shipped": "300000.00",
        "to_ship": "150001.00",
        "waiting": "150001.00",
        "cancelled": "100000.00",
    }
    staff_api.post(f"/api/v1/orders/{placed['number']}/lines/{tote_line}/cancel", format="json")
    body = staff_api.get(f"/api/v1/orders/{placed['number']}").json()
    assert (body["total"], body["totals"]["cancelled"]) == ("400000.00", "150001.00")

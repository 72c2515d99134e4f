"""`/orders/lookup/`: the status link emailed again, the same answer for every pair, limits."""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import Client

from notifications.models import Notification
from orders.models import Order
from orders.selectors import order_status_url
from orders.services import LineRequest, order_place
from orders.tasks import send_status_link
from tests.helpers import free_port
from tests.smtp import Mailbox
from tests.worker import celery_worker, queued, use_broker

URL = "/orders/lookup/"
TASK = "orders.tasks.send_status_link"
SENT = (
    "If that order number and email address match an order, we have emailed its status link "
    "to that address. It may take a minute."
)
CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
# With no worker, what a test sends stays in the queue for `queued()` to read.
pytestmark = pytest.mark.usefixtures("empty_queue")


@pytest.fixture(autouse=True)
def own_counters(settings) -> Iterator[str]:
    """The limit counters of this test alone, in the suite's Redis (other runs share it):
    the default cache gets a key prefix of its own, whose keys are deleted afterwards."""
    prefix = f"backorder-test-lookup-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "KEY_PREFIX": prefix},
    }
    yield prefix
    server = redis.Redis.from_url(settings.REDIS_URL)
    for key in server.scan_iter(match=f"{prefix}:*"):
        server.delete(key)


def without_csrf_token(body: bytes) -> bytes:
    return CSRF_TOKEN.sub(b'name="csrfmiddlewaretoken" value=""', body)


def lookup(client: Client, number: str, email: str, **extra: Any):
    return client.post(URL, {"number": number, "email": email}, **extra)


@pytest.fixture
def order(hoodie) -> Order:
    return order_place(email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)])


# The page --------------------------------------------------------------------------------------


def test_the_form_is_shown_without_a_csrf_cookie_yet():
    # when
    response = Client(enforce_csrf_checks=True).get(URL)

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert "<title>Find my order &middot; " in page
    assert "<h1>Find my order</h1>" in page
    assert "Lost the link to your order?" in page
    assert '<label for="id_number">Order number</label>' in page
    assert '<label for="id_email">Email used for the order</label>' in page
    assert 'aria-describedby="id_number_helptext" id="id_number"' in page
    assert '<p class="help" id="id_number_helptext">' in page
    assert page.count('name="csrfmiddlewaretoken"') == 2  # the form and the language switch
    assert SENT not in page


def test_the_page_follows_the_active_language(client):
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE="id")
    assert response.status_code == 200
    assert '<html lang="id">' in response.content.decode()


def test_a_post_without_the_csrf_token_is_refused_and_sends_nothing(order):
    # when
    response = lookup(Client(enforce_csrf_checks=True), order.number, order.email)

    # then
    assert response.status_code == 403
    assert queued() == []


def test_other_methods_are_not_allowed(client):
    assert client.put(URL).status_code == 405


# The same answer for every pair ----------------------------------------------------------------


def test_the_answer_is_the_same_whether_or_not_the_pair_matches_an_order(client, order):
    # when: the right pair, the right number with another email, and an unknown number
    responses = [
        lookup(client, order.number, order.email),
        lookup(client, order.number, "budi@example.com"),
        lookup(client, "BO-AAAA-AAAA", order.email),
    ]

    # then: byte for byte the same page, which repeats nothing that was typed
    assert [r.status_code for r in responses] == [200, 200, 200]
    bodies = {without_csrf_token(r.content) for r in responses}
    assert len(bodies) == 1
    page = responses[0].content.decode()
    assert f'<p class="card done" role="status">{SENT}</p>' in page
    assert order.number not in page and order.email not in page
    assert '<form class="card"' not in page
    # and each request is handed to the worker as it was typed, order or not
    assert queued() == [
        (TASK, [order.number, "ana@example.com"]),
        (TASK, [order.number, "budi@example.com"]),
        (TASK, ["BO-AAAA-AAAA", "ana@example.com"]),
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "BO-ABCD-2345",
        "BOABCD2345",
        "bo-abcd-2345",
        "  BO ABCD 2345 ",
        "bo abcd2345",
        "BO\u2011ABCD\u20112345",
    ],
)
def test_the_number_is_read_in_any_case_with_or_without_dashes_and_spaces(client, typed):
    # when
    response = lookup(client, typed, "  Ana@Example.COM ")

    # then
    assert response.status_code == 200
    assert queued() == [(TASK, ["BO-ABCD-2345", "ana@example.com"])]


def test_the_task_writes_a_status_link_notice_for_a_matching_pair_only(hoodie):
    # given: an order placed with a capitalised address
    order = order_place(email="Ana@Example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)])

    # when: the worker's task runs for the pair, a wrong email and an unknown number
    send_status_link(order.number, " ana@example.COM ")
    send_status_link(order.number, "budi@example.com")
    send_status_link("BO-AAAA-AAAA", "ana@example.com")

    # then: one notice, to the order's own address
    rows = list(Notification.objects.filter(kind=Notification.Kind.STATUS_LINK))
    assert [(row.order_id, row.to, row.status) for row in rows] == [
        (order.pk, "Ana@Example.com", Notification.Status.PENDING)
    ]


def test_asking_twice_sends_the_link_twice(order):
    # when
    send_status_link(order.number, order.email)
    send_status_link(order.number, order.email)

    # then: each request is its own fact (the rate limits bound how many)
    rows = Notification.objects.filter(order=order, kind=Notification.Kind.STATUS_LINK)
    assert rows.count() == 2
    assert len({row.key for row in rows}) == 2


# Bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"number": "", "email": "ana@example.com"}, "number", "This field is required."),
        ({"number": "   ", "email": "ana@example.com"}, "number", "This field is required."),
        ({"number": "BO-ABCD-234", "email": "ana@example.com"}, "number", "Order numbers look"),
        ({"number": "XX-ABCD-2345", "email": "ana@example.com"}, "number", "Order numbers look"),
        ({"number": "BO-ÄBCD-2345", "email": "ana@example.com"}, "number", "Order numbers look"),
        ({"number": "BO-ABCD-2345", "email": "ana.example.com"}, "email", "Enter a valid email"),
        ({"number": "BO-ABCD-2345"}, "email", "This field is required."),
    ],
)
def test_bad_input_is_a_400_with_the_error_by_its_field_and_nothing_is_sent_or_counted(
    db, client, own_counters, settings, data, field, error
):
    # given
    settings.BACKORDER_LOOKUP_IP_RATE = 1

    # when
    responses = [client.post(URL, data), client.post(URL, data)]

    # then: the same 400 twice (not counted toward the limit of 1), the error by its field
    assert [r.status_code for r in responses] == [400, 400]
    page = responses[1].content.decode()
    assert f'<ul class="errorlist" id="id_{field}_error" role="alert"><li>{error}' in page
    assert 'aria-invalid="true"' in page
    assert f"id_{field}_error" in re.search(rf'<input [^>]*id="id_{field}"[^>]*>', page)[0]
    assert SENT not in page
    assert queued() == []
    assert Notification.objects.count() == 0
    assert list(redis.Redis.from_url(settings.REDIS_URL).scan_iter(f"{own_counters}:*")) == []


# Rate limits -----------------------------------------------------------------------------------


def minutes_message(response) -> str:
    minutes = math.ceil(int(response["Retry-After"]) / 60)
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many requests: please try again in {minutes} {unit}."


def test_an_email_address_is_limited_whatever_the_number_and_the_client(client, settings, order):
    # given: 3 lookups an hour per email address
    settings.BACKORDER_LOOKUP_EMAIL_RATE = 3
    settings.BACKORDER_LOOKUP_IP_RATE = 100

    # when: three for ana's address, from three clients, one of them for her real order
    allowed = [
        lookup(client, number, "ana@example.com", REMOTE_ADDR=f"10.0.0.{n}")
        for n, number in enumerate([order.number, "BO-AAAA-AAAA", "BO-BBBB-BBBB"], start=1)
    ]
    # and a fourth and fifth, written differently, for her order and an unknown one
    over_known = lookup(client, order.number, " ANA@example.com", REMOTE_ADDR="10.0.0.4")
    over_unknown = lookup(client, "BO-CCCC-CCCC", "ana@example.com", REMOTE_ADDR="10.0.0.5")
    # and one for another address
    other = lookup(client, order.number, "budi@example.com", REMOTE_ADDR="10.0.0.4")

    # then: the fourth and fifth are refused alike, telling nothing about the order
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert (over_known.status_code, over_unknown.status_code) == (429, 429)
    assert 1 <= int(over_known["Retry-After"]) <= 3600
    page = over_known.content.decode()
    assert f'<p class="error" role="alert">{minutes_message(over_known)}</p>' in page
    assert SENT not in page
    assert '<form class="card"' in page
    assert other.status_code == 200
    # and only the allowed lookups reach the worker
    assert queued() == [
        (TASK, [order.number, "ana@example.com"]),
        (TASK, ["BO-AAAA-AAAA", "ana@example.com"]),
        (TASK, ["BO-BBBB-BBBB", "ana@example.com"]),
        (TASK, [order.number, "budi@example.com"]),
    ]


def test_a_client_address_is_limited_whatever_the_email(client, settings):
    # given: 2 lookups an hour per client address
    settings.BACKORDER_LOOKUP_IP_RATE = 2
    settings.BACKORDER_LOOKUP_EMAIL_RATE = 100

    # when
    first = [
        lookup(client, "BO-AAAA-AAAA", f"{name}@example.com", REMOTE_ADDR="10.0.0.1")
        for name in ("ana", "budi", "citra")
    ]
    elsewhere = lookup(client, "BO-AAAA-AAAA", "citra@example.com", REMOTE_ADDR="10.0.0.2")

    # then
    assert [r.status_code for r in first] == [200, 200, 429]
    assert first[2].has_header("Retry-After")
    assert minutes_message(first[2]) in first[2].content.decode()
    assert elsewhere.status_code == 200
    assert queued() == [
        (TASK, ["BO-AAAA-AAAA", "ana@example.com"]),
        (TASK, ["BO-AAAA-AAAA", "budi@example.com"]),
        (TASK, ["BO-AAAA-AAAA", "citra@example.com"]),
    ]


def test_behind_a_proxy_the_client_is_read_from_x_forwarded_for(client, settings):
    # given: one trusted proxy, one lookup an hour per client
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.BACKORDER_LOOKUP_IP_RATE = 1

    # when: two clients come through the same proxy, the first twice
    def through_proxy(client_address: str):
        return lookup(
            client,
            "BO-AAAA-AAAA",
            f"{uuid.uuid4().hex}@example.com",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=client_address,
        )

    statuses = [through_proxy(a).status_code for a in ("203.0.113.5", "203.0.113.6", "203.0.113.5")]

    # then
    assert statuses == [200, 200, 429]


def test_the_counters_live_in_redis_under_hashed_keys_for_the_hour(client, settings, own_counters):
    # given
    assert isinstance(caches["default"], RedisCache)

    # when
    lookup(client, "BO-AAAA-AAAA", "ana@example.com", REMOTE_ADDR="10.0.0.7")
    lookup(client, "BO-BBBB-BBBB", "Ana@Example.com", REMOTE_ADDR="10.0.0.7")

    # then: one counter per client and per email address, read from Redis itself
    server = redis.Redis.from_url(settings.REDIS_URL)
    keys = sorted(server.scan_iter(match=f"{own_counters}:*"))
    assert [key.decode().split(":")[3] for key in keys] == ["email", "ip"]
    assert [server.get(key) for key in keys] == [b"2", b"2"]
    assert all(0 < server.ttl(key) <= 3600 for key in keys)
    assert not any(b"ana" in key.lower() or b"10.0.0.7" in key for key in keys)


# Faults ------------------------------------------------------------------------------------------


@pytest.fixture
def broker_down(settings) -> Iterator[None]:
    """The broker is unreachable: nothing listens where this process sends tasks."""
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield
    finally:
        use_broker(settings.REDIS_URL)


def test_with_the_broker_down_the_answer_is_the_same_and_the_failure_logged(
    client, order, broker_down, caplog
):
    # when
    with caplog.at_level(logging.ERROR, logger="orders.lookup"):
        response = lookup(client, order.number, order.email)

    # then
    assert response.status_code == 200
    assert f'<p class="card done" role="status">{SENT}</p>' in response.content.decode()
    assert [r.getMessage() for r in caplog.records if r.name == "orders.lookup"] == [
        "Could not queue a status link request"
    ]
    assert Notification.objects.filter(kind=Notification.Kind.STATUS_LINK).count() == 0


def test_with_the_cache_down_lookups_go_through_unlimited_and_the_failure_is_logged(
    client, settings, caplog
):
    # given: the limit is 1, and nothing listens where the counters are kept
    settings.BACKORDER_LOOKUP_IP_RATE = 1
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}"},
    }

    # when
    with caplog.at_level(logging.ERROR, logger="orders.lookup"):
        statuses = [lookup(client, "BO-AAAA-AAAA", "ana@example.com").status_code for _ in "ab"]

    # then
    assert statuses == [200, 200]
    assert len(queued()) == 2
    assert [r.getMessage() for r in caplog.records if r.name == "orders.lookup"] == [
        "Could not count an order lookup; it goes through unlimited"
    ] * 2


# End to end: a real worker, a real SMTP server ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_customer_gets_one_email_with_the_status_link(client, smtp: Mailbox, hoodie):
    # One worker process takes tasks one at a time, oldest first: once the link's email is
    # in, every lookup sent before it has run.
    with celery_worker(concurrency=1, env={"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}"}):
        # given: ana's order, and its confirmation in her inbox
        order = order_place(email="ana@example.com", name="Ana", lines=[LineRequest(hoodie.sku, 1)])
        smtp.wait_for(1)

        # when: two lookups that match nothing, then hers, typed loosely
        lookup(client, order.number, "budi@example.com")
        lookup(client, "BO-AAAA-AAAA", "ana@example.com")
        response = lookup(client, order.number.replace("-", " ").lower(), " ANA@Example.com ")
        smtp.wait_for(2)

    # then: one more email, to her, with the order number and its status link
    assert response.status_code == 200
    assert len(smtp.messages) == 2
    email = smtp.messages[1]
    assert email.envelope_to == ["ana@example.com"]
    assert email.subject == f"Your link to order {order.number}"
    assert order.number in email.text
    assert order_status_url(order) in email.text
    assert order_status_url(order) in email.html
    [notice] = Notification.objects.filter(kind=Notification.Kind.STATUS_LINK)
    assert (notice.order_id, notice.status) == (order.pk, Notification.Status.SENT)

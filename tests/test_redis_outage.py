"""Selling goes on while Redis hangs or is gone: the API answers, orders commit, nothing is
lost or doubled once Redis returns.

One private Redis is this process's cache, throttle counts, broker and result backend, and
a real Celery worker's too. The test freezes it (SIGSTOP: connections are accepted and never
answered, as with a hung server), kills it (connections refused) and starts it again. Calls
made while it is frozen run under a hang check (`tests.outage`), never a timing assertion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.api import RateThrottle, ThrottleCounts
from config.celery import app
from inventory.models import Product, Stock, UnsentRefresh
from inventory.stock import stock_receive
from orders.models import Order, OrderLine
from orders.tasks import refresh_unsent_products
from tests.factories import ProductFactory
from tests.outage import finished_within_hang_limit, frozen
from tests.worker import PrivateRedis, celery_worker, use_broker, wait_until

THROTTLE_LOGGER = "config.api.throttles"


@pytest.fixture
def private_redis(
    private_broker: PrivateRedis, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PrivateRedis]:
    """`private_broker`, and this process's caches on it too; throttle counts start afresh."""
    settings.CACHES = {
        alias: {**config, "LOCATION": private_broker.url}
        for alias, config in settings.CACHES.items()
    }
    monkeypatch.setattr(RateThrottle, "counts", ThrottleCounts("throttle"))
    yield private_broker


def availability(sku: str = "HOODIE-SE") -> Any:
    return APIClient().get(f"/api/v1/products/{sku}/availability?quantity=1")


def place_order(sku: str, quantity: int, who: str) -> Any:
    body = {
        "email": f"{who}@example.com",
        "name": who,
        "locale": "en",
        "lines": [{"sku": sku, "quantity": quantity}],
    }
    return APIClient().post("/api/v1/orders", body, format="json")


def adjust_stock(token: str, sku: str, quantity: int) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    body = {"sku": sku, "quantity": quantity, "reason": "Stock count"}
    return client.post("/api/v1/stock/adjustments", body, format="json")


def throttle_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == THROTTLE_LOGGER and "cannot" in r.msg
    ]


# Throttles ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_redis_frozen_the_throttle_counts_per_process_and_warns_once(
    private_redis: PrivateRedis, hoodie: Product, settings: Any, caplog: pytest.LogCaptureFixture
):
    # given: three public calls a day (a day's fixed window: the four slow calls below never
    # straddle two windows, as they could a minute's)
    settings.BACKORDER_API_RATES = {**settings.BACKORDER_API_RATES, "public": "3/day"}

    # when: four calls while Redis is frozen
    with caplog.at_level(logging.WARNING, logger=THROTTLE_LOGGER), frozen(private_redis):
        statuses = [finished_within_hang_limit(availability).status_code for _ in range(4)]

    # then: answered, not a 500, and still limited, counted in this process; one warning
    assert statuses == [200, 200, 200, 429]
    assert len(throttle_warnings(caplog)) == 1
    assert "'throttle' cache cannot be reached (TimeoutError" in throttle_warnings(caplog)[0]


@pytest.mark.django_db
def test_with_redis_gone_the_throttle_warns_once_per_interval_until_it_answers_again(
    private_redis: PrivateRedis, hoodie: Product, settings: Any, caplog: pytest.LogCaptureFixture
):
    # given: an interval of two seconds between tries of the shared cache
    settings.BACKORDER_API_RATES = {**settings.BACKORDER_API_RATES, "public": "3/min"}
    RateThrottle.counts.retry_seconds = INTERVAL = 2
    private_redis.kill()

    # when: two calls in one interval, one in the next, then one once Redis is back
    with caplog.at_level(logging.INFO, logger=THROTTLE_LOGGER):
        gone = [availability().status_code for _ in range(2)]
        first_interval = throttle_warnings(caplog)
        time.sleep(INTERVAL)
        gone.append(availability().status_code)
        private_redis.start()
        time.sleep(INTERVAL)
        back = availability().status_code

    # then: answered while it was gone, one warning per interval, and counted in Redis again
    assert (gone, back) == ([200, 200, 200], 200)
    assert len(first_interval) == 1
    assert "'throttle' cache cannot be reached (ConnectionError" in first_interval[0]
    assert len(throttle_warnings(caplog)) == 2
    assert [r.getMessage() for r in caplog.records if r.name == THROTTLE_LOGGER][-1] == (
        "The 'throttle' cache answers again"
    )
    counted = redis.Redis.from_url(private_redis.url).keys("*throttle_public*")
    assert len(counted) == 1


# Selling through an outage ------------------------------------------------------------------


def _answers_ping(node: str) -> bool:
    try:
        return bool(app.control.ping(destination=[node], timeout=0.5))
    except Exception:  # the control channel's pooled connection to the killed server
        use_broker(app.conf.broker_url)
        return False


def _lines(product: Product) -> list[tuple[int, int, str]]:
    return list(
        OrderLine.objects.filter(product=product)
        .order_by("pk")
        .values_list("allocated", "backordered", "status")
    )


@pytest.mark.django_db(transaction=True)
def test_selling_goes_on_while_redis_hangs_or_is_gone_and_a_lost_refresh_runs_on_its_return(
    private_redis: PrivateRedis, hoodie: Product, superuser: Any
):
    # given: a worker on the private Redis, a T-shirt in stock, and a hoodie order waiting
    tee = ProductFactory(sku="TEE")
    stock_receive(product=tee, quantity=10)
    token = Token.objects.create(user=superuser).key
    with celery_worker(env={"REDIS_URL": private_redis.url}) as node:
        assert place_order("HOODIE-SE", 2, "ayu").status_code == 201
        assert _lines(hoodie) == [(0, 2, "backordered")]

        # when Redis hangs: a public order, a quote and a staff adjustment of the hoodie
        with frozen(private_redis):
            placed_frozen = finished_within_hang_limit(lambda: place_order("TEE", 1, "budi"))
            quoted_frozen = finished_within_hang_limit(availability)
            adjusted_frozen = finished_within_hang_limit(
                lambda: adjust_stock(token, "HOODIE-SE", 1)
            )
            # Killed before it runs again: commands sent to it while it hung are never run
            # (`test_commands_a_hung_redis_runs_late_are_not_done_twice` thaws it instead).
            private_redis.kill()

        # and when Redis is gone: the same
        placed_gone = finished_within_hang_limit(lambda: place_order("TEE", 1, "claire"))
        quoted_gone = finished_within_hang_limit(availability)
        adjusted_gone = finished_within_hang_limit(lambda: adjust_stock(token, "HOODIE-SE", 1))

        # then: every call answered as usual and committed; the hoodie's refreshes were kept
        assert [
            response.status_code
            for response in (
                placed_frozen,
                quoted_frozen,
                adjusted_frozen,
                placed_gone,
                quoted_gone,
                adjusted_gone,
            )
        ] == [201, 200, 201, 201, 200, 201]
        assert Order.objects.count() == 3
        assert list(UnsentRefresh.objects.values_list("product_id", flat=True)) == [hoodie.pk] * 2
        assert _lines(hoodie) == [(0, 2, "backordered")]

        # when Redis returns, empty: this process sends again on its own
        private_redis.start()
        assert adjust_stock(token, "TEE", 1).status_code == 201
        assert not UnsentRefresh.objects.filter(product=tee).exists()

        # and when the worker is back and the beat's one-minute task runs
        wait_until(lambda: _answers_ping(node), "the worker to reconnect to the restarted Redis")
        assert refresh_unsent_products.delay().get(timeout=60) == 2

        # then: the worker gives the two units the lost refreshes were for to the waiting order
        wait_until(lambda: _lines(hoodie) == [(2, 0, "allocated")], "the kept refresh to run")
    assert not UnsentRefresh.objects.exists()
    assert list(Stock.objects.filter(product=hoodie).values_list("on_hand", "allocated")) == [
        (2, 2)
    ]
    # Nothing doubled: the orders placed, once each; the ledger agrees with every counter.
    assert sorted(Order.objects.values_list("email", flat=True)) == [
        "ayu@example.com",
        "budi@example.com",
        "claire@example.com",
    ]
    call_command("verify_stock")


@pytest.mark.django_db(transaction=True)
def test_commands_a_hung_redis_runs_late_are_not_done_twice(
    private_redis: PrivateRedis, hoodie: Product, superuser: Any
):
    # given: a worker on the private Redis and a hoodie order waiting
    token = Token.objects.create(user=superuser).key
    with celery_worker(env={"REDIS_URL": private_redis.url}):
        assert place_order("HOODIE-SE", 2, "ayu").status_code == 201

        # when Redis hangs while an order and two adjustments commit, then goes on: what they
        # sent before giving up may still be run, and their refreshes were kept as well
        with frozen(private_redis):
            placed = finished_within_hang_limit(lambda: place_order("HOODIE-SE", 1, "budi"))
            adjusted = [
                finished_within_hang_limit(lambda: adjust_stock(token, "HOODIE-SE", 1))
                for _ in range(2)
            ]
        assert (placed.status_code, [a.status_code for a in adjusted]) == (201, [201, 201])
        assert UnsentRefresh.objects.filter(product=hoodie).count() == 2

        # and the beat's one-minute task runs
        assert refresh_unsent_products.delay().get(timeout=60) == 2
        wait_until(lambda: _lines(hoodie)[0] == (2, 0, "allocated"), "the refresh to run")

    # then: each unit went to one order, the oldest first, and the ledger agrees
    assert _lines(hoodie) == [(2, 0, "allocated"), (0, 1, "backordered")]
    assert list(Stock.objects.filter(product=hoodie).values_list("on_hand", "allocated")) == [
        (2, 2)
    ]
    assert Order.objects.count() == 2
    assert not UnsentRefresh.objects.exists()
    call_command("verify_stock")

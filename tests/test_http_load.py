"""Orders over HTTP against the real server (gunicorn, `config/gunicorn.py`), from several
processes at once, while receipts and cancellations land: nothing is oversold, nothing is
lost, every answer is a 201 or a clean 4xx, and the ledger agrees.

No timings are asserted here; `make bench` measures them.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum

from inventory.models import Stock
from inventory.stock import stock_receive
from orders.models import Order, OrderLine
from tests.factories import ProductFactory
from tests.helpers import free_port
from tests.worker import _test_database_url, celery_worker, gunicorn_server, wait_until

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 4
ORDERS_PER_CLIENT = 25
STOCK = 30
RECEIPT = 3

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def gunicorn(port: int) -> Iterator[None]:
    """The production server, 3 workers, serving the test settings and database."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "TEST_DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TEST_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
        "WEB_CONCURRENCY": "3",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_ACCESS_LOG": "",
    }
    log = ROOT / "var" / f"gunicorn-test-{port}.log"
    with gunicorn_server(environment, log, lambda: _answers(port)):
        yield


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/api/v1/products/NOTHING")
        return connection.getresponse().status == 404
    except OSError:
        return False
    finally:
        connection.close()


def cancel_over_http(port: int, line: OrderLine) -> tuple[int, dict]:
    """The customer cancels what can be cancelled of `line`, with the order's token."""
    order = line.order
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            f"/api/v1/orders/{order.number}/lines/{line.pk}/cancel?token={order.token}",
            body="{}",
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_orders_over_http_while_stock_arrives_and_customers_cancel(default_warehouse):
    # Given a hot SKU with little stock, taking backorders, and the real server and worker
    hot = ProductFactory(sku="HTTP-HOT", lead_time_days=14)
    stock_receive(product=hot, quantity=STOCK, warehouse=default_warehouse)
    received = STOCK
    port = free_port()
    cancel_answers: list[int] = []
    cancelled_by_line: dict[int, int] = {}
    with celery_worker(), gunicorn(port):
        # When several processes order it over HTTP...
        client = [sys.executable, "-m", "tests.http_client", str(port), hot.sku]
        clients = [
            subprocess.Popen(
                [*client, str(ORDERS_PER_CLIENT), f"client{number}"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for number in range(CLIENTS)
        ]
        # ...while goods arrive and customers cancel what waits
        while any(process.poll() is None for process in clients):
            stock_receive(product=hot, quantity=RECEIPT, warehouse=default_warehouse)
            received += RECEIPT
            waiting = (
                OrderLine.objects.filter(product=hot, backordered__gt=0)
                .exclude(pk__in=cancelled_by_line)
                .select_related("order")
                .order_by("-pk")
                .first()
            )
            if waiting is not None:
                status, body = cancel_over_http(port, waiting)
                cancel_answers.append(status)
                if status == 200:
                    (answered,) = (line for line in body["lines"] if line["id"] == waiting.pk)
                    cancelled_by_line[waiting.pk] = answered["cancelled"]
                else:
                    assert 400 <= status < 500 and "error" in body, (status, body)
            time.sleep(0.05)
        results = [json.loads(process.communicate()[0]) for process in clients]
        # The worker fills what the last receipts freed.
        wait_until(lambda: _queue_settled(hot), "backorders filled from free stock")

    # Then every answer was a 201 or a clean 4xx, and retries gave back the same order
    statuses = [status for result in results for status in result["statuses"]]
    assert -1 not in statuses
    assert all(status == 201 or 400 <= status < 500 for status in statuses), statuses
    assert statuses.count(201) >= CLIENTS * ORDERS_PER_CLIENT
    assert all(replayed for result in results for replayed in result["replays"])
    assert set(cancel_answers) <= {200, 400, 403, 409}, cancel_answers
    assert 200 in cancel_answers

    # and every unit ordered is accounted for, exactly
    placed = {number: units for result in results for number, units in result["placed"].items()}
    assert len(placed) == CLIENTS * ORDERS_PER_CLIENT
    assert Order.objects.filter(lines__product=hot).count() == len(placed)
    lines = OrderLine.objects.filter(product=hot)
    totals = lines.aggregate(
        quantity=Sum("quantity"),
        allocated=Sum("allocated"),
        backordered=Sum("backordered"),
        shipped=Sum("shipped"),
        cancelled=Sum("cancelled"),
    )
    assert totals["quantity"] == sum(placed.values())
    assert totals["shipped"] == 0
    assert totals["cancelled"] == sum(cancelled_by_line.values())
    assert totals["quantity"] == totals["allocated"] + totals["backordered"] + totals["cancelled"]
    for line in lines:
        assert line.quantity == line.allocated + line.backordered + line.cancelled, line.pk

    # and nothing is oversold: what is allocated is on hand, and never more than was received
    stock = Stock.objects.get(product=hot)
    assert stock.on_hand == received
    assert stock.allocated == totals["allocated"] <= stock.on_hand
    call_command("verify_stock")


def _queue_settled(product) -> bool:
    """No unit waits while a free one is on the shelf."""
    stock = Stock.objects.get(product=product)
    waiting = OrderLine.objects.filter(product=product, backordered__gt=0).exists()
    return not (waiting and stock.on_hand > stock.allocated)

"""`config.logs`: one order followed from its request through the tasks it caused, by the
fields every log line carries (request id, order number, SKUs, task id), in JSON.

In-process lines are read from a handler set up as production's (the context filter and the
JSON formatter); the worker's are read from its own output, a real worker started with
`BACKORDER_LOG_FORMAT=json`.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from rest_framework.test import APIClient

from config.logs import ContextFilter, JsonFormatter, log_context
from orders.models import Order
from tests.worker import ROOT, celery_worker, wait_until

HEX_ID = re.compile(r"[0-9a-f]{32}")


@contextmanager
def json_lines() -> Iterator[list[dict]]:
    """Every log line written in the block, as production writes it, parsed at its end."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    request_logger = logging.getLogger("backorder.request")
    level = request_logger.level
    request_logger.setLevel(logging.INFO)
    root.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        request_logger.setLevel(level)
    lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def _order_body(quantity: int = 2) -> dict:
    return {
        "email": "ana@example.com",
        "name": "Ana",
        "locale": "en",
        "lines": [{"sku": "HOODIE-SE", "quantity": quantity}],
    }


@pytest.mark.django_db
def test_a_placed_order_logs_its_number_skus_and_request_id_as_json(hoodie):
    with json_lines() as lines:
        response = APIClient().post(
            "/api/v1/orders", _order_body(), format="json", HTTP_X_REQUEST_ID="req-7f3a"
        )

    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-7f3a"
    number = response.json()["number"]
    placed = [line for line in lines if line["logger"] == "orders.services"]
    assert len(placed) == 1
    assert placed[0]["message"] == f"Order {number} placed: HOODIE-SE x2"
    assert (placed[0]["level"], placed[0]["order"], placed[0]["skus"]) == (
        "INFO",
        number,
        ["HOODIE-SE"],
    )
    assert placed[0]["backordered"] == 2
    assert placed[0]["request_id"] == "req-7f3a"
    assert "time" in placed[0]
    # and the request's own line, with its outcome
    (request,) = [line for line in lines if line["logger"] == "backorder.request"]
    assert request["message"] == "POST /api/v1/orders 201"
    assert (request["method"], request["path"], request["status"]) == (
        "POST",
        "/api/v1/orders",
        201,
    )
    assert (request["request_id"], request["order"]) == ("req-7f3a", number)
    assert request["duration_ms"] >= 0


@pytest.mark.django_db
@pytest.mark.parametrize("asked", ["", "has spaces in it", "x" * 65, "semi;colon"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(client, asked):
    headers = {"HTTP_X_REQUEST_ID": asked} if asked else {}

    first = client.get("/healthz?check=database", **headers)
    second = client.get("/healthz?check=database", **headers)

    assert HEX_ID.fullmatch(first["X-Request-ID"])
    assert HEX_ID.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_fields_bound_in_a_block_are_gone_after_it():
    log = logging.getLogger("tests.logs")
    with json_lines() as lines:
        with log_context(order="BO-1", request_id="r1"):
            log.info("inside")
        log.info("outside", extra={"skus": ["A"]})

    inside, outside = lines
    assert (inside["message"], inside["order"], inside["request_id"]) == ("inside", "BO-1", "r1")
    assert "context" not in inside
    assert (outside["message"], outside["skus"]) == ("outside", ["A"])
    assert "order" not in outside
    assert "request_id" not in outside


def test_text_lines_carry_the_fields_as_key_value_pairs():
    record = logging.LogRecord("tests", logging.INFO, __file__, 1, "hello", (), None)
    with log_context(order="BO-1", request_id="r1"):
        ContextFilter().filter(record)

    assert record.context == "order=BO-1 request_id=r1"
    assert (record.order, record.request_id) == ("BO-1", "r1")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("empty_queue")
def test_the_worker_s_lines_for_an_order_carry_its_request_id_order_and_task_id(hoodie):
    with celery_worker(concurrency=1, env={"BACKORDER_LOG_FORMAT": "json"}) as name:
        # when: an order is placed over the API with a request id of the client's
        response = APIClient().post(
            "/api/v1/orders", _order_body(1), format="json", HTTP_X_REQUEST_ID="req-9c2e"
        )
        number = response.json()["number"]
        log = ROOT / "var" / f"worker-{name.split('@')[0]}.log"
        wait_until(lambda: _worker_line(log, "Email "), "the confirmation's delivery logged")

    # then: the worker's line for its confirmation says which request and order caused it
    sent = _worker_line(log, "Email ")
    assert sent is not None
    assert sent["logger"] == "notifications.delivery"
    assert (sent["request_id"], sent["order"]) == ("req-9c2e", number)
    assert sent["task"] == "notifications.tasks.deliver_notifications"
    assert re.fullmatch(r"[0-9a-f-]{36}", sent["task_id"])
    assert Order.objects.get().number == number


def _worker_line(log, prefix: str) -> dict | None:
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            parsed = json.loads(line)
            if parsed.get("message", "").startswith(prefix):
                return parsed
    return None

"""A customer placing orders over HTTP, as its own process (no Django): the load of
`tests/test_http_load.py`.

    python -m tests.http_client PORT SKU ORDERS NAME

Places ORDERS orders of 1 to 3 units of SKU, each with its own email and Idempotency-Key;
every fifth one is sent twice with the same key, as a client retrying would. Prints one JSON
object: every answer's status, and the number and quantity of each order placed.
"""

from __future__ import annotations

import http.client
import json
import sys
from typing import Any


def post(connection: http.client.HTTPConnection, body: dict[str, Any], key: str) -> Any:
    connection.request(
        "POST",
        "/api/v1/orders",
        body=json.dumps(body),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")


def main(port: int, sku: str, orders: int, name: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses: list[int] = []
    placed: dict[str, int] = {}
    replays: list[bool] = []
    for index in range(orders):
        key = f"{name}-{index}"
        body = {
            "email": f"{key}@example.com",
            "name": name,
            "lines": [{"sku": sku, "quantity": 1 + index % 3}],
        }
        for attempt in range(2 if index % 5 == 0 else 1):
            status, headers, answer = post(connection, body, key)
            statuses.append(status)
            if status == 201:
                placed[answer["number"]] = answer["lines"][0]["quantity"]
                if attempt:
                    replays.append(headers.get("Idempotent-Replayed") == "true")
            elif not (400 <= status < 500 and "error" in answer):
                statuses.append(-1)  # not a clean refusal
    connection.close()
    return {"statuses": statuses, "placed": placed, "replays": replays}


if __name__ == "__main__":
    port, sku, orders, name = sys.argv[1:5]
    print(json.dumps(main(int(port), sku, int(orders), name)))

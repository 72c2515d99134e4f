"""Benchmarks on a scratch PostgreSQL database; prints one JSON object per figure.

- order placement throughput: many threads ordering one hot SKU (the flash-sale case), and
  baskets over several SKUs;
- reallocation of a long backorder queue by one receipt: wall time and query count;
- ETA recomputation of a long queue after purchase orders arrive, and the availability quote
  against that queue;
- customer emails: delivering the outbox to an SMTP server in another process;
- customer pages: the catalogue, a 20-line cart at checkout and a 20-line order's status page,
  rendered through Django's request handling (no network), with their query counts.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import (  # noqa: E402
    broker_purge,
    django_on_scratch_database,
    emit,
    purchase_orders_ahead,
)

BENCH_DB = "backorder_bench"


def main() -> None:
    django_on_scratch_database(BENCH_DB)
    from django.db import connection, reset_queries
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from inventory.models import Product, Warehouse
    from inventory.selectors import availability_quote
    from inventory.stock import stock_receive
    from orders.models import Order, OrderLine
    from orders.queue import product_etas_refresh, product_reallocate
    from orders.services import LineRequest, order_place

    warehouse = Warehouse.objects.get(is_default=True)
    Warehouse.objects.create(code="second", name="Second", priority=10)

    def product(sku: str) -> Product:
        return Product.objects.create(sku=sku, name=sku, price=1, lead_time_days=14)

    def place(sku_list: list[str], index: int) -> None:
        try:
            order_place(
                email=f"b{index}@example.com",
                name="Bench",
                lines=[LineRequest(sku, 1) for sku in sku_list],
            )
        finally:
            connection.close()

    # 1. One hot SKU, 8 threads, half the orders backordered.
    hot = product("HOT")
    stock_receive(product=hot, quantity=1000, warehouse=warehouse)
    orders, threads = 2000, 8
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: place(["HOT"], i), range(orders)))
    elapsed = time.perf_counter() - started
    emit("order_place_hot_sku", orders / elapsed, "orders/s", orders=orders, threads=threads)

    # 2. Baskets of 3 SKUs out of 10, 8 threads.
    skus = [f"BASKET-{n}" for n in range(10)]
    for sku in skus:
        stock_receive(product=product(sku), quantity=500, warehouse=warehouse)
    baskets = 1000
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(
            pool.map(
                lambda i: place([skus[i % 10], skus[(i + 3) % 10], skus[(i + 7) % 10]], i),
                range(baskets),
            )
        )
    elapsed = time.perf_counter() - started
    emit(
        "order_place_basket_3_skus", baskets / elapsed, "orders/s", orders=baskets, threads=threads
    )

    # 3. The same hot-SKU checkout through the JSON API, each with an Idempotency-Key, and
    # reading back an order of 25 lines.
    from rest_framework.test import APIClient

    api_hot = product("API-HOT")
    stock_receive(product=api_hot, quantity=500, warehouse=warehouse)

    def api_place(index: int) -> None:
        try:
            response = APIClient().post(
                "/api/v1/orders",
                {
                    "email": f"a{index}@example.com",
                    "name": "Bench",
                    "lines": [{"sku": "API-HOT", "quantity": 1}],
                },
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"bench-{index}",
            )
            assert response.status_code == 201, response.content
        finally:
            connection.close()

    orders = 1000
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(api_place, range(orders)))
    elapsed = time.perf_counter() - started
    emit("api_order_place_hot_sku", orders / elapsed, "orders/s", orders=orders, threads=threads)

    wide = order_place(
        email="w@example.com",
        name="Wide",
        lines=[LineRequest(product(f"WIDE-{n}").sku, 2) for n in range(25)],
    )
    client = APIClient()
    with CaptureQueriesContext(connection) as queries:
        rounds = 200
        started = time.perf_counter()
        for _ in range(rounds):
            response = client.get(f"/api/v1/orders/{wide.number}?token={wide.token}")
        elapsed = time.perf_counter() - started
    assert len(response.json()["lines"]) == 25
    emit(
        "api_order_read_25_lines",
        elapsed / rounds * 1000,
        "ms",
        queries=len(queries) // rounds,
    )

    def backorder_queue(target: Product, lines: int) -> None:
        # Set up in bulk: what is measured is the queue work, not 20,000 checkouts.
        queued_orders = Order.objects.bulk_create(
            Order(email=f"q{index}@example.com", name="Queue") for index in range(lines)
        )
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                product=target,
                quantity=1,
                backordered=1,
                status=OrderLine.Status.BACKORDERED,
                unit_price=1,
            )
            for order in queued_orders
        )
        # The queue's length, as placement would have counted it.
        Product.objects.filter(pk=target.pk).update(waiting_units=F("waiting_units") + lines)

    # 3. A queue of 20,000 backordered lines filled by one receipt.
    queue = product("QUEUE")
    lines = 20_000
    backorder_queue(queue, lines)
    stock_receive(product=queue, quantity=lines, warehouse=warehouse)
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        allocated = product_reallocate(product_id=queue.pk)
        elapsed = time.perf_counter() - started
    assert allocated == lines, allocated
    assert not OrderLine.objects.filter(product=queue, backordered__gt=0).exists()
    emit("reallocate_20000_lines", elapsed, "s", lines=lines, queries=len(queries))

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        product_reallocate(product_id=queue.pk)
        elapsed = time.perf_counter() - started
    emit("reallocate_noop", elapsed * 1000, "ms", queries=len(queries))

    # 4. ETAs of a 20,000-line queue after three purchase orders cover parts of it.
    awaited = product("AWAITED")
    backorder_queue(awaited, lines)
    purchase_orders_ahead("AWAITED")
    today = timezone.localdate()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        moved = product_etas_refresh(product_id=awaited.pk, cause="po_created")
        elapsed = time.perf_counter() - started
    assert moved == lines, moved
    emit("eta_refresh_20000_lines", elapsed, "s", lines=lines, queries=len(queries), moved=moved)

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        moved = product_etas_refresh(product_id=awaited.pk, cause="day_rollover")
        elapsed = time.perf_counter() - started
    assert moved == 0, moved
    emit("eta_refresh_20000_lines_noop", elapsed, "s", queries=len(queries))

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        rounds = 200
        for _ in range(rounds):
            quote = availability_quote(product=awaited, quantity=2)
        elapsed = time.perf_counter() - started
    assert quote.eta == today + timedelta(days=20), quote  # past supply, after the last PO
    emit(
        "availability_quote_behind_20000_lines",
        elapsed / rounds * 1000,
        "ms",
        queries=len(queries) // rounds,
    )

    # 5. The outbox: 2,000 confirmations delivered to an SMTP server in another process.
    from django.conf import settings

    from notifications.delivery import notifications_deliver
    from notifications.models import Notification

    Notification.objects.all().delete()
    shop = product("SHOP")
    stock_receive(product=shop, quantity=10_000, warehouse=warehouse)
    emails = 2000
    for index in range(emails):
        order_place(email=f"m{index}@example.com", name="Mail", lines=[LineRequest("SHOP", 1)])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
         "aiosmtpd.handlers.Sink"]
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        ids = list(Notification.objects.values_list("pk", flat=True))
        batch = settings.BACKORDER_EMAIL_BATCH_SIZE
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            for start in range(0, len(ids), batch):
                notifications_deliver(ids=ids[start : start + batch])
            elapsed = time.perf_counter() - started
    finally:
        sink.terminate()
        sink.wait()
    assert Notification.objects.filter(status="sent").count() == emails
    emit(
        "email_deliver_2000",
        emails / elapsed,
        "emails/s",
        emails=emails,
        batch=batch,
        queries_per_email=round(len(queries) / emails, 1),
    )

    # 6. Customer pages, rendered end to end by the test client (templates, i18n, sessions).
    from django.test import Client

    for index in range(24):
        item = product(f"PAGE-{index:02d}")
        if index % 2:
            stock_receive(product=item, quantity=5, warehouse=warehouse)
    shopper = Client()
    for index in range(20):
        shopper.post("/cart/add/", {"sku": f"PAGE-{index:02d}", "quantity": 3})
    long_order = order_place(
        email="pages@example.com",
        name="Pages",
        lines=[LineRequest(f"PAGE-{index:02d}", 2) for index in range(20)],
    )
    pages = {
        "page_catalogue_24_products": (Client(), "/"),
        "page_checkout_20_lines": (shopper, "/checkout/"),
        "page_status_20_lines": (Client(), Order.objects.get(pk=long_order.pk).get_absolute_url()),
    }
    for name, (browser, path) in pages.items():
        assert browser.get(path).status_code == 200, path
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            rounds = 100
            for _ in range(rounds):
                browser.get(path)
            elapsed = time.perf_counter() - started
        emit(name, rounds / elapsed, "pages/s", queries=len(queries) // rounds)

    broker_purge()


if __name__ == "__main__":
    main()

"""Backorder-queue benchmarks on a scratch PostgreSQL database; prints one JSON object per
figure, each with the floor it is measured against in the same run.

- `receipt_5000_onto_20000_with_etas`: 5,000 units arrive (unplanned: a return, a found
  pallet) for a product with 20,000 one-unit backorders and three purchase orders covering
  parts of the queue. The receipt's transaction, then the refresh a worker runs after it:
  5,000 lines allocated, and every waiting line whose date moves (14,000 of them) gets its
  new ETA, its `EtaChange` and its customer's notice. `value` is the two together;
  `lock_held_s` the longer of the two transactions, each of which holds the product lock
  from its first statement to its commit. Floor: one hand-written statement doing the same
  FIFO fill of the queue, measured on the same rows and rolled back.
- `reallocate_1000000_lines_10000_skus`: 100 one-unit backorders for each of 10,000 SKUs
  (1,000,000 lines), then 10 units received for every SKU. `value` is the time the refresh
  tasks take to fill all of them (`orders.tasks.refresh_products`, in chunks of
  `REFRESH_CHUNK` products, as one Celery worker process runs them); the floor is one
  hand-written set-based statement filling every SKU's queue, measured on the same rows in
  the same run and rolled back.

The scale of the second figure is `BENCH_QUEUE_SKUS` (default 10,000) SKUs of
`BENCH_QUEUE_DEPTH` (default 100) lines each.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import (  # noqa: E402
    broker_purge,
    django_on_scratch_database,
    emit,
    purchase_orders_ahead,
)

BENCH_DB = "backorder_bench_queue"
SKUS = int(os.environ.get("BENCH_QUEUE_SKUS", "10000"))
DEPTH = int(os.environ.get("BENCH_QUEUE_DEPTH", "100"))
RECEIVED = 10

# The floor: the FIFO fill of every product's queue from its free stock (all warehouses as
# one pool), in one statement. Queue order as the app's: priority, then order time, then line,
# read from the lines' copy of their order's queue key, as the app reads it.
FILL_STATEMENT = """
    WITH queue AS (
        SELECT l.id, l.product_id, l.backordered,
               SUM(l.backordered) OVER (
                   PARTITION BY l.product_id ORDER BY l.queue_priority DESC, l.queued_at, l.id
               ) AS position
        FROM orders_orderline l
        WHERE l.backordered > 0 {only}
    ), free AS (
        SELECT product_id, SUM(on_hand - allocated) AS units FROM inventory_stock
        GROUP BY product_id HAVING SUM(on_hand - allocated) > 0
    )
    UPDATE orders_orderline l
    SET allocated = l.allocated + LEAST(q.backordered, f.units - (q.position - q.backordered)),
        backordered = l.backordered - LEAST(q.backordered, f.units - (q.position - q.backordered))
    FROM queue q JOIN free f ON f.product_id = q.product_id
    WHERE l.id = q.id AND q.position - q.backordered < f.units
"""


def main() -> None:
    django_on_scratch_database(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from inventory.models import Product, Warehouse
    from inventory.stock import stock_receive
    from orders.models import EtaChange
    from orders.queue import product_etas_refresh, product_refresh
    from orders.tasks import REFRESH_CHUNK, refresh_products

    warehouse = Warehouse.objects.get(is_default=True)
    logging.getLogger("orders.tasks").setLevel(logging.WARNING)  # a line per product

    def slowest(queries: CaptureQueriesContext) -> None:
        """With BENCH_PROFILE set: the statements that took longest, in total by shape."""
        if not os.environ.get("BENCH_PROFILE"):
            return
        totals: dict[str, list[float]] = {}
        for query in queries.captured_queries:
            totals.setdefault(query["sql"][:120], []).append(float(query["time"]))
        for shape, times in sorted(totals.items(), key=lambda item: -sum(item[1]))[:15]:
            print(f"{sum(times) * 1000:9.1f} ms {len(times):6d}x  {shape}", file=sys.stderr)

    def floor(only: str = "", params: tuple = ()) -> float:
        """The fill statement's time, rolled back."""
        with transaction.atomic():
            with connection.cursor() as cursor:
                started = time.perf_counter()
                cursor.execute(FILL_STATEMENT.format(only=only), params)
                elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed

    def queue_insert(first_product: int, products: int, depth: int, eta: date) -> None:
        """`depth` one-unit backorders for each of `products` products (ids from
        `first_product`), one order per line, oldest first, each promised `eta`; and the
        products' counters, as placement would have kept them. Set up in SQL: what is
        measured is the queue's work, not a million checkouts."""
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders_order (number, token, email, name, locale, ship_complete,"
                " address, city, postal_code, country, phone, priority, created_at)"
                " SELECT 'Q' || %s || '-' || n, md5(%s || '-' || n) || md5(n || '-' || %s),"
                " 'q' || n || '@example.com', 'Queue', 'en', false, '', '', '', '', '', 0,"
                " %s - (%s - n) * interval '1 millisecond'"
                " FROM generate_series(1, %s) n",
                [first_product, first_product, first_product, now, products * depth,
                 products * depth],
            )  # fmt: skip
            cursor.execute(
                "INSERT INTO orders_orderline (order_id, product_id, quantity, allocated,"
                " backordered, shipped, cancelled, unit_price, status, eta, first_promised_eta,"
                " notified_eta, queue_priority, queued_at)"
                " SELECT o.id, %s + (row_number() OVER (ORDER BY o.id) - 1) %% %s, 1, 0, 1, 0, 0,"
                " 1, 'backordered', %s, %s, %s, o.priority, o.created_at"
                " FROM orders_order o WHERE o.number LIKE %s",
                [first_product, products, eta, eta, eta, f"Q{first_product}-%"],
            )
            cursor.execute(
                "UPDATE inventory_product SET waiting_units = waiting_units + %s"
                " WHERE id >= %s AND id < %s",
                [depth, first_product, first_product + products],
            )
            cursor.execute("ANALYZE")

    # 1. 5,000 units onto a queue of 20,000 with three purchase orders ahead.
    awaited = Product.objects.create(sku="AWAITED", name="Awaited", price=1, lead_time_days=30)
    lines = 20_000
    queue_insert(awaited.pk, 1, lines, timezone.localdate() + timedelta(days=30))
    purchase_orders_ahead("AWAITED")
    today = timezone.localdate()
    product_etas_refresh(product_id=awaited.pk, cause=EtaChange.Cause.PO_CREATED)
    with CaptureQueriesContext(connection) as receipt_queries:
        started = time.perf_counter()
        stock_receive(product=awaited, quantity=5000, warehouse=warehouse)
        received = time.perf_counter() - started
    fill_floor = floor("AND l.product_id = %s", (awaited.pk,))
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        allocated, moved = product_refresh(
            product_id=awaited.pk, cause=EtaChange.Cause.STOCK_CHANGED
        )
        refreshed = time.perf_counter() - started
    assert allocated == 5000, allocated
    slowest(queries)
    emit(
        "receipt_5000_onto_20000_with_etas",
        received + refreshed,
        "s",
        receipt_s=round(received, 3),
        refresh_s=round(refreshed, 3),
        lock_held_s=round(max(received, refreshed), 3),
        allocated=allocated,
        etas_moved=moved,
        queries=len(queries) + len(receipt_queries),
        floor=round(fill_floor, 3),
        ratio=round((received + refreshed) / fill_floor, 1),
    )

    # 2. 1,000,000 lines over 10,000 SKUs, and a receipt for every SKU.
    first = None
    for start in range(0, SKUS, 1000):
        batch = Product.objects.bulk_create(
            Product(sku=f"MASS-{n:05d}", name="Mass", price=1, lead_time_days=14)
            for n in range(start, min(SKUS, start + 1000))
        )
        first = first or batch[0].pk
    assert first is not None
    queue_insert(first, SKUS, DEPTH, today + timedelta(days=14))
    product_ids = list(range(first, first + SKUS))
    with transaction.atomic():
        for product_id in product_ids:
            stock_receive(product=Product(pk=product_id), quantity=RECEIVED, warehouse=warehouse)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    mass_floor = floor("AND l.product_id >= %s", (first,))
    started = time.perf_counter()
    filled = moved = 0
    with CaptureQueriesContext(connection) as queries:
        for start in range(0, len(product_ids), REFRESH_CHUNK):
            units, etas = refresh_products(product_ids[start : start + REFRESH_CHUNK])
            filled, moved = filled + units, moved + etas
    elapsed = time.perf_counter() - started
    slowest(queries)
    assert filled == SKUS * RECEIVED, filled
    emit(
        f"reallocate_{SKUS * DEPTH}_lines_{SKUS}_skus",
        elapsed,
        "s",
        lines=SKUS * DEPTH,
        skus=SKUS,
        allocated=filled,
        etas_moved=moved,
        floor=round(mass_floor, 3),
        ratio=round(elapsed / mass_floor, 2),
    )
    call_command("verify_stock")

    # 3. The backoffice on that shop: each page rendered as a superuser sees it, best of 3.
    backoffice_pages(first)

    broker_purge()


BACKOFFICE_PAGES = [
    ("dashboard", "/admin/"),
    ("orders", "/admin/orders/order/"),
    ("order_lines", "/admin/orders/orderline/"),
    ("order_lines_past_promise", "/admin/orders/orderline/?promise=past"),
    ("order_lines_0_7_days", "/admin/orders/orderline/?age=0-7"),
    ("order_lines_search_sku", "/admin/orders/orderline/?q=MASS-05000"),
    ("pick_list", "/admin/orders/readytoship/"),
    ("products", "/admin/inventory/product/"),
    ("product_page", "/admin/inventory/product/{product}/change/"),
    ("report_backlog", "/admin/reports/backlog/"),
    ("report_backlog_csv", "/admin/reports/backlog/?_export=csv"),
    ("report_ageing", "/admin/reports/ageing/"),
    ("report_ageing_supplier_late", "/admin/reports/ageing/?by=supplier&measure=late"),
    ("report_money", "/admin/reports/money/"),
    ("api_backlog", "/api/v1/reports/backlog"),
]


def backoffice_pages(product_id: int) -> None:
    """Every backoffice page over the million-line shop (the pages above, then every other
    list of the admin): wall time and queries of the best of three renders (the first warms
    the caches), against the backoffice issue's "well under a second"."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from inventory.models import (
        PurchaseOrder,
        PurchaseOrderLine,
        Supplier,
        SupplierProduct,
        Warehouse,
    )
    from orders.models import OrderLine

    # Suppliers for the reports: 20, each the preferred one of every 20th product, and 100
    # placed purchase orders of 10 lines each, due over the next 30 days.
    suppliers = Supplier.objects.bulk_create(
        Supplier(name=f"Bench supplier {n:02d}", lead_time_days=14) for n in range(20)
    )
    products = list(range(product_id, product_id + SKUS))
    SupplierProduct.objects.bulk_create(
        SupplierProduct(supplier=suppliers[n % 20], product_id=pk, unit_cost=1)
        for n, pk in enumerate(products)
    )
    warehouse_id = Warehouse.objects.get(is_default=True).pk
    orders = PurchaseOrder.objects.bulk_create(
        PurchaseOrder(
            supplier=suppliers[n % 20],
            warehouse_id=warehouse_id,
            status=PurchaseOrder.Status.ORDERED,
        )
        for n in range(100)
    )
    today = timezone.localdate()
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=orders[n // 10],
            product_id=products[(n * 7) % SKUS],
            quantity=5,
            expected_date=today + timedelta(days=n % 30),
            first_expected_date=today + timedelta(days=n % 30),
        )
        for n in range(1000)
    )
    lines = OrderLine.objects.count()
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-pass")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    token = Token.objects.create(user=user)
    # Then every other list of the admin, as registered.
    from django.contrib import admin
    from django.urls import reverse

    listed = {path for _, path in BACKOFFICE_PAGES}
    changelists = [
        (f"list_{m._meta.app_label}_{m._meta.model_name}", url)
        for m in admin.site._registry
        if (url := reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist"))
        not in listed
    ]
    for name, path in [*BACKOFFICE_PAGES, *changelists]:
        url = path.format(product=product_id)
        auth = f"Token {token.key}" if url.startswith("/api/") else ""
        times, queries = [], 0
        for _ in range(3):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, HTTP_AUTHORIZATION=auth) if auth else client.get(url)
                times.append(time.perf_counter() - started)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(captured)
        emit(
            f"backoffice_{name}",
            min(times) * 1000,
            "ms",
            target_ms=1000,
            queries=queries,
            lines=lines,
        )


if __name__ == "__main__":
    main()

"""The nightly replenishment run on a scratch PostgreSQL database; prints one JSON object per
figure.

`BENCH_REPLENISHMENT_PRODUCTS` products (default 10,000), each with a year of imported daily
demand of one of four shapes (smooth with a weekly rhythm and a trend, intermittent, lumpy,
and products too new for much history), two suppliers with terms for each, and nothing in
stock. `replenishment_nightly_<N>_products` is `inventory.replenishment.nightly_run` with
drafting on: every product forecast and kept, the suggestions computed and drafted, one
draft purchase order per supplier. Its details say how the products' methods fell, the lines
drafted, and the process's peak memory (RSS) during the run, above what it held before.
`replenishment_suggestions_read` is what the suggestions page and API cost once the night's
forecasts are kept (every product's position and figures, nothing to draft left), and
`replenishment_nightly_repeat` the nightly run again, which must draft nothing.

Floors measured in the same run on the same rows: `forecast_only` is the forecast rule
alone (`inventory.forecast`) over the same histories already in memory, with no database;
`sql_mean_floor` one set-based statement computing every product's mean and spread of
the year, the least any forecast must read.
"""

from __future__ import annotations

import io
import os
import random
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import broker_purge, django_on_scratch_database, emit  # noqa: E402

BENCH_DB = "backorder_bench_replenishment"
PRODUCTS = int(os.environ.get("BENCH_REPLENISHMENT_PRODUCTS", "10000"))
DAYS = 365


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _demand(shape: int, day: int, draw: random.Random) -> int:
    """One day's units for a product of `shape` (0 smooth, 1 intermittent, 2 lumpy, 3 new)."""
    if shape == 0:
        weekly = (1.0, 0.9, 0.9, 1.0, 1.2, 1.6, 1.4)[day % 7]
        level = (6 + day * 0.01) * weekly
        return max(0, round(draw.gauss(level, level**0.5)))
    if shape == 1:
        return draw.randint(1, 3) if draw.random() < 0.2 else 0
    if shape == 2:
        return draw.choice((5, 20, 60)) if draw.random() < 0.05 else 0
    return draw.randint(0, 4) if day >= DAYS - 20 else 0


def main() -> None:
    django_on_scratch_database(BENCH_DB)
    from django.db import connection
    from django.utils import timezone

    from inventory import forecast, replenishment
    from inventory.models import Product, Supplier, SupplierProduct

    today = timezone.localdate()
    first = today - timedelta(days=DAYS)
    Product.objects.bulk_create(
        Product(sku=f"R{index:05d}", name=f"Product {index}", price=100, lead_time_days=14)
        for index in range(PRODUCTS)
    )
    ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    suppliers = [
        Supplier.objects.create(name="Preferred", email="", lead_time_days=14),
        Supplier.objects.create(name="Faster", email="", lead_time_days=5),
    ]
    SupplierProduct.objects.bulk_create(
        SupplierProduct(supplier=supplier, product_id=pk, unit_cost=cost, rank=rank)
        for pk in ids
        for supplier, cost, rank in ((suppliers[0], 40, 1), (suppliers[1], 55, 2))
    )
    draw = random.Random(17)  # noqa: S311 - bench figures, the same every run
    histories: list[list[float | None]] = []
    buffer = io.StringIO()
    rows = 0
    for index, pk in enumerate(ids):
        shape = index % 10
        shape = 0 if shape < 4 else 1 if shape < 7 else 2 if shape < 9 else 3
        series = [_demand(shape, day, draw) for day in range(DAYS)]
        histories.append(replenishment.since_first_demand([float(v) for v in series]))
        for day, units in enumerate(series):
            if units:
                buffer.write(f"{pk}\t{first + timedelta(days=day)}\t{units}\t0\tnow()\n")
                rows += 1
    buffer.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY inventory_demandhistory (product_id, day, quantity, refused, imported_at)"
            " FROM STDIN"
        ) as copy,
    ):
        copy.write(buffer.read())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, AVG(quantity), STDDEV(quantity) FROM inventory_demandhistory"
            " WHERE day >= %s GROUP BY product_id",
            [first],
        )
        cursor.fetchall()
    floor = time.perf_counter() - started
    emit("sql_mean_floor", floor, "s", products=PRODUCTS, demand_rows=rows)

    started = time.perf_counter()
    for history in histories:
        forecast.forecast(history, replenishment.KEPT_DAYS)
    pure = time.perf_counter() - started
    emit(
        "forecast_only",
        pure,
        "s",
        products=PRODUCTS,
        per_product_ms=round(pure / PRODUCTS * 1000, 2),
    )

    before = _rss_mb()
    started = time.perf_counter()
    run = replenishment.nightly_run(drafts=True, today=today)
    elapsed = time.perf_counter() - started
    summary = run.summary()
    emit(
        f"replenishment_nightly_{PRODUCTS}_products",
        elapsed,
        "s",
        products=PRODUCTS,
        days=DAYS,
        demand_rows=rows,
        methods=summary["methods"],
        drafted_lines=sum(len(item.lines) for item in run.drafted),
        purchase_orders=len(run.drafted),
        products_per_s=round(PRODUCTS / elapsed, 1),
        vs_forecast_only=round(elapsed / pure, 2),
        vs_sql_floor=round(elapsed / floor, 1),
        peak_rss_mb=round(_rss_mb(), 1),
        rss_growth_mb=round(_rss_mb() - before, 1),
    )
    started = time.perf_counter()
    plans = replenishment.suggestions(today=today)
    emit(
        "replenishment_suggestions_read",
        time.perf_counter() - started,
        "s",
        products=PRODUCTS,
        suggestions=len(plans),
    )
    started = time.perf_counter()
    again = replenishment.nightly_run(drafts=True, today=today)
    emit(
        "replenishment_nightly_repeat",
        time.perf_counter() - started,
        "s",
        drafted_lines=sum(len(item.lines) for item in again.drafted),
    )
    broker_purge()


if __name__ == "__main__":
    main()

"""Benchmarks over HTTP against the real server; prints one JSON object per figure.

The app runs as in production: gunicorn (`config/gunicorn.py`, 4 workers) in front of
`config.settings.production`, PostgreSQL, Redis as broker, cache and throttle counts, and a
Celery worker consuming the refreshes and emails. `wrk` drives it (`scripts/wrk/bench.lua`:
32 connections, `BENCH_SECONDS` per figure, unique emails and Idempotency-Keys per order).

Each figure comes with its floor, measured in the same run, and `ratio` = figure / floor:

- reads (a product, an availability quote, a 20-line order's status page): a bare Django
  view doing one SELECT, behind the same gunicorn and middleware (`scripts/bench_floor.py`);
- order placement (one hot SKU in stock, one hot SKU backordered, 100 SKUs round robin,
  baskets of 3 SKUs): a bare Django view doing one conditional hot-row UPDATE in a
  transaction, and raw `pgbench` of that statement (`pgbench_tps`).

Afterwards nothing may be oversold and `verify_stock` must agree, else it exits 1; so it
does if any order was answered with anything but a 201, or not at all.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench import emit  # noqa: E402 - after the path is set
from ensure_services import maintenance_connection  # noqa: E402

BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/backorder")
BENCH_DB = "backorder_bench_http"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
PORTS = range(8900, 9000)
MAIL_DIR = Path(tempfile.gettempdir()) / "backorder-bench-http-mail"
LOG_DIR = ROOT / "var"
LUA = ROOT / "scripts" / "wrk" / "bench.lua"
SKUS = [f"SKU-{n:03d}" for n in range(100)]
PLENTY = 1_000_000
# Sent with every request, as the TLS-terminating proxy does: production settings trust it
# (SECURE_PROXY_SSL_HEADER), so plain HTTP on the loopback is not redirected.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def database_url() -> str:
    return urlparse(BASE_URL)._replace(path=f"/{BENCH_DB}").geturl()


def recreate_database() -> None:
    with maintenance_connection(BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit(f"No free port in {PORTS.start}-{PORTS.stop - 1}")


def server_environment(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        "EMAIL_URL": f"filemail://{MAIL_DIR}",
        "SITE_URL": f"http://127.0.0.1:{port}",
        # One client address sends everything: a rate the bench never meets, counted in
        # windows of a second.
        "BACKORDER_API_PUBLIC_RATE": "1000000/s",
        "WEB_CONCURRENCY": str(WORKERS),
        "GUNICORN_THREADS": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_LOG_LEVEL": "warning",
        # People's text, without a line per request: what is measured is the app.
        "BACKORDER_LOG_FORMAT": "text",
    }


def answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers=PROXY_HEADERS)
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def process(name: str, command: list[str], env: dict[str, str]) -> Iterator[None]:
    LOG_DIR.mkdir(exist_ok=True)
    with (LOG_DIR / f"bench-http-{name}.log").open("w") as log:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def gunicorn(port: int, probe: str, **settings: str) -> Iterator[None]:
    env = {**server_environment(port), **settings}
    command = [str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py"]
    if settings.get("DJANGO_SETTINGS_MODULE") == "bench_floor_settings":
        command += ["--pythonpath", "scripts"]
    with process(f"gunicorn-{port}", [*command, "config.wsgi"], env):
        deadline = time.monotonic() + 60
        while not answers(port, probe):
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn on {port} did not answer; see var/bench-http-*.log")
            time.sleep(0.2)
        yield


def wrk(port: int, path: str, **lua: str) -> dict[str, Any]:
    """One wrk run of `SECONDS`; its counts and latencies, with `rps` and `*_ms`."""
    env = {**os.environ, "BENCH_PATH": path, **lua}
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "10s"]
    command += ["-s", str(LUA), f"http://127.0.0.1:{port}"]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    for percentile in ("p50", "p95", "p99"):
        result[f"{percentile}_ms"] = round(result.pop(f"{percentile}_us") / 1000, 2)
    return result


def pgbench(statement: str) -> float:
    url = urlparse(database_url())
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(statement + ";\n")
        script.flush()
        command = [pgbench_path(), "-n", "-f", script.name, f"-c{CONNECTIONS}", "-j2"]
        command += [f"-T{SECONDS}", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
        command += ["-U", url.username or "postgres", BENCH_DB]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    assert found, output
    return float(found.group(1))


def pgbench_path() -> str:
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    for candidate in (shutil.which("pgbench"), *installed):
        if candidate:
            return str(candidate)
    raise SystemExit("pgbench is missing: apt-get install postgresql-client")


def figure(name: str, result: dict[str, Any], unit: str, floor: float, **detail: object) -> None:
    emit(
        name,
        result["rps"],
        unit,
        floor=round(floor, 1),
        ratio=round(result["rps"] / floor, 3),
        p50_ms=result["p50_ms"],
        p95_ms=result["p95_ms"],
        p99_ms=result["p99_ms"],
        requests=result["requests"],
        unexpected_status=result["unexpected_status"],
        socket_errors=result["socket_errors"] + result["timeouts"],
        connections=CONNECTIONS,
        workers=WORKERS,
        seconds=SECONDS,
        **detail,
    )


def queue_drained(timeout: float = 120) -> float:
    """Wait for the Celery worker to take every queued task; the seconds it took."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    started = time.monotonic()
    while client.llen("celery") and time.monotonic() - started < timeout:
        time.sleep(0.25)
    return time.monotonic() - started


def main() -> None:
    port = free_port()
    os.environ.update(
        {
            key: value
            for key, value in server_environment(port).items()
            if not key.startswith("GUNICORN_")
        }
    )
    shutil.rmtree(MAIL_DIR, ignore_errors=True)
    recreate_database()

    import django
    import redis

    django.setup()
    from django.core.management import CommandError, call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    # The static files' manifest, as the image's build makes it.
    call_command("collectstatic", interactive=False, verbosity=0)
    redis.Redis.from_url(REDIS_URL).delete("celery")

    from bench_floor import FLOOR_TABLE, UPDATE

    from inventory.models import Product
    from inventory.stock import stock_receive
    from orders.services import LineRequest, order_place

    def product(sku: str, stock: int) -> Product:
        item = Product.objects.create(sku=sku, name=sku, price=10, lead_time_days=14)
        if stock:
            stock_receive(product=item, quantity=stock)
        return item

    product("HOT-IN", PLENTY)
    product("HOT-OUT", 0)
    for sku in SKUS:
        product(sku, PLENTY)
    status_order = order_place(
        email="status@example.com",
        name="Status page",
        lines=[LineRequest(sku, 2) for sku in SKUS[:20]],
    )
    status_path = status_order.get_absolute_url()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (id integer PRIMARY KEY, units integer)")
        cursor.execute(f"INSERT INTO {FLOOR_TABLE} VALUES (1, 1000000000)")  # noqa: S608
    connection.close()

    # The floors first, with nothing else running.
    order_body = {"BENCH_METHOD": "POST", "BENCH_SKUS": "HOT-IN", "BENCH_RUN": "floor"}
    with gunicorn(port, "/select/HOT-IN", DJANGO_SETTINGS_MODULE="bench_floor_settings"):
        floor_select = wrk(port, "/select/HOT-IN")
        floor_update = wrk(port, "/update", **order_body)
    pgbench_tps = pgbench(UPDATE)
    figure("http_floor_select", floor_select, "requests/s", floor_select["rps"])
    figure("http_floor_update", floor_update, "requests/s", floor_update["rps"])
    emit("pgbench_update_hot_row", pgbench_tps, "tps", clients=CONNECTIONS, threads=2)

    worker = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"]
    worker += ["--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]
    worker += ["-n", f"bench-http-{port}@localhost"]
    placed: dict[str, int] = {}
    refused = 0  # order requests answered with anything but a 201, or not at all
    with process("worker", worker, server_environment(port)), gunicorn(port, "/healthz"):
        reads = {
            "http_product_read": "/api/v1/products/HOT-IN",
            "http_availability_quote": "/api/v1/products/HOT-IN/availability?quantity=2",
        }
        # The worker first takes the seed's refreshes (and starts up, which takes a core for
        # a few seconds): the reads are measured with it idle, as the orders are.
        drain = queue_drained()
        for name, path in reads.items():
            figure(
                name,
                wrk(port, path),
                "requests/s",
                floor_select["rps"],
                queue_drain_before_s=round(drain, 1),
            )
            drain = 0.0

        runs = {
            "http_order_place_hot_sku_in_stock": ("HOT-IN", 1),
            "http_order_place_hot_sku_backordered": ("HOT-OUT", 1),
            "http_order_place_100_skus": (",".join(SKUS), 1),
            "http_order_place_basket_3_skus": (",".join(SKUS), 3),
        }
        for name, (skus, basket) in runs.items():
            drain = queue_drained()
            result = wrk(
                port,
                "/api/v1/orders",
                BENCH_METHOD="POST",
                BENCH_SKUS=skus,
                BENCH_BASKET=str(basket),
                BENCH_RUN=name,
            )
            placed[name] = result["ok"]
            refused += result["unexpected_status"] + result["socket_errors"] + result["timeouts"]
            figure(
                name,
                result,
                "orders/s",
                floor_update["rps"],
                pgbench_tps=round(pgbench_tps, 1),
                lines_per_order=basket,
                queue_drain_before_s=round(drain, 1),
                first_bad=result["first_bad"],
            )
        drain = queue_drained()
        status = wrk(port, status_path)
        figure(
            "http_status_page_20_lines",
            status,
            "pages/s",
            floor_select["rps"],
            queue_drain_before_s=round(drain, 1),
        )

    problems = check_stock(placed)
    try:
        call_command("verify_stock", stdout=open(os.devnull, "w"))  # noqa: SIM115
        verify_clean = True
    except CommandError:
        verify_clean = False
    emit("http_verify_stock", 0 if verify_clean else 1, "drifted", clean=verify_clean)
    emit("http_order_errors", refused, "requests", answered_201=sum(placed.values()))
    if problems["oversold"] or problems["unaccounted"] or not verify_clean or refused:
        sys.exit(1)


def check_stock(placed: dict[str, int]) -> dict[str, int]:
    """Oversold stock and lines whose units do not add up, as one JSON object; exits 1 later
    if either is not zero."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM inventory_stock WHERE allocated > on_hand OR on_hand < 0"
        )
        (negative_free,) = cursor.fetchone() or (0,)
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT line.product_id FROM orders_orderline line
                GROUP BY line.product_id
                HAVING sum(line.allocated + line.shipped) > (
                    SELECT coalesce(sum(stock.on_hand), 0) FROM inventory_stock stock
                    WHERE stock.product_id = line.product_id
                )
            ) oversold
            """
        )
        (oversold_products,) = cursor.fetchone() or (0,)
        cursor.execute(
            "SELECT count(*) FROM orders_orderline"
            " WHERE allocated + backordered + shipped + cancelled <> quantity"
        )
        (unaccounted,) = cursor.fetchone() or (0,)
        cursor.execute("SELECT count(*) FROM orders_order WHERE email LIKE 'http_order_place%%'")
        (orders,) = cursor.fetchone() or (0,)
    problems = {
        "oversold": negative_free + oversold_products,
        "unaccounted": unaccounted,
    }
    emit(
        "http_oversold",
        problems["oversold"],
        "stock rows or products",
        negative_free_rows=negative_free,
        oversold_products=oversold_products,
        lines_not_adding_up=unaccounted,
        orders_in_database=orders,
        orders_answered_201=sum(placed.values()),
    )
    return problems


if __name__ == "__main__":
    main()

"""PostgreSQL restarted under load: while it is down the web answers 503 at once, and it
serves again when PostgreSQL returns, without a restart of its own.

The fault is the real one, on a PostgreSQL cluster of the test's own (`initdb` into a
temporary directory, `pg_ctl` to stop and start it on one port and data directory): the
database server goes away under a running gunicorn (`config/gunicorn.py`, two workers) while
a few customers ask for a product's availability and place orders, then comes back.

- `pg_ctl stop -m fast` ends every backend (the persistent connections the workers keep,
  `CONN_MAX_AGE`, see their server go) and the server; `-m immediate` kills it as a crash
  does, and the next start recovers from its WAL.
- While it is down, every connection is refused: each request answers 503 with Retry-After
  (`config.urls.handler500`: JSON under /api/, the HTML page elsewhere), never a 500, and
  every request returns (the client waits far longer than `DATABASE_CONNECT_TIMEOUT`);
  `/healthz` and `/healthz?check=database` say the database is not ok. An order posted then
  is refused with 503 and nothing of it is kept.
- When it is back, the same workers (booted once, never replaced) serve again: a connection
  found broken is replaced at the next request (`CONN_HEALTH_CHECKS`), so every request made
  once the server is up succeeds. Every order answered 201 is in the database exactly once,
  and the stock ledger agrees with its counters (`manage.py verify_stock`). None answered
  503 is kept, but after `-m immediate` one in flight at the kill may be: its COMMIT made
  durable in the instant before the server could answer it, as after any crash.

gunicorn runs the production settings (`config.settings.production`), not the test ones
that `tests/test_http_load.py` serves: those pin `CONN_MAX_AGE` to 0, and then no
connection would outlive a request to be found broken. The database is the private
cluster's, and the cache, throttle counts and broker a private Redis's, so nothing of this
test reaches the suite's database or queues.

No timings are asserted here.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from config.api import UNAVAILABLE_MESSAGE
from tests.helpers import free_port
from tests.test_settings import PRODUCTION_ENV
from tests.worker import PrivateRedis, gunicorn_server, wait_until

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "backorder"
STOCK = 5
CLIENTS = 4
# Each kind of request, made and answered in each phase (up, down, back), at least this often.
AT_LEAST = 3
# Far above the gunicorn timeout (30 s), itself far above DATABASE_CONNECT_TIMEOUT (5 s): a
# request that has not answered by then hangs.
CLIENT_TIMEOUT = 60
PAUSE_SECONDS = 0.02
# Answers recorded when no HTTP answer came back (refused, reset, timed out).
NO_ANSWER = -1
UNAVAILABLE = {
    "error": {
        "code": "unavailable",
        "message": UNAVAILABLE_MESSAGE,
        "fields": {},
    }
}
SHOP_VARIABLES = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "DEBUG", "EMAIL_URL")


# A PostgreSQL cluster of the test's own ----------------------------------------------------


def _postgres_program(name: str) -> str:
    """`name` from the newest PostgreSQL under /usr/lib/postgresql (Debian's packages keep
    them off the PATH), else from the PATH."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    program = found[-1] if found else shutil.which(name)
    assert program, f"{name} not found: install PostgreSQL (apt-get install postgresql)"
    return program


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then it runs as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster in `directory`, on 127.0.0.1:`port`, trusting every local user."""

    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def init(self) -> None:
        self.directory.chmod(0o755)  # the postgres user must reach its data directory
        self.data.mkdir(mode=0o700)
        self.log.touch()
        if os.geteuid() == 0:
            for path in (self.data, self.log):
                shutil.chown(path, "postgres", "postgres")
        self._run(
            _postgres_program("initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                # Speed, not durability: a stop, even an immediate one, is not a power cut.
                "fsync = off\n"
                "full_page_writes = off\n"
            )

    def start(self) -> None:
        self._pg_ctl("start", "--wait", "--log", str(self.log))

    def stop(self, mode: str) -> None:
        self._pg_ctl("stop", "--wait", "--mode", mode)

    def running(self) -> bool:
        command = [_postgres_program("pg_ctl"), "status", "--pgdata", str(self.data)]
        return subprocess.run(_as_postgres(command), capture_output=True).returncode == 0

    def connect(self, database: str = DATABASE) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as connection:
            return connection.execute(sql, params).fetchall()

    def _pg_ctl(self, *args: str) -> None:
        self._run(_postgres_program("pg_ctl"), *args, "--pgdata", str(self.data))

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            _as_postgres(list(command)), cwd=self.directory, capture_output=True, text=True
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr, self._log_tail())

    def _log_tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-20:]) if self.log.exists() else ""


# The shop on it -----------------------------------------------------------------------------


def _shop_environment(cluster: PrivatePostgres, broker: PrivateRedis, mail: Path) -> dict[str, str]:
    """The production settings on the private cluster and Redis, over plain HTTP."""
    base = {key: value for key, value in os.environ.items() if key not in SHOP_VARIABLES}
    return {
        **base,
        **PRODUCTION_ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": cluster.url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        # Persistent connections: each worker keeps its own across requests, and across the
        # restart, until it finds it broken.
        "CONN_MAX_AGE": "600",
        "REDIS_URL": broker.url,
        "EMAIL_URL": f"filemail://{mail}",
        "BACKORDER_API_PUBLIC_RATE": "100000/min",
    }


def _manage(environment: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


SEED = """
from decimal import Decimal
from inventory.catalogue import product_create
from inventory.stock import stock_receive
product = product_create(
    sku={sku!r}, name="Restart tee", price=Decimal("100000"), lead_time_days=14
)
stock_receive(product=product, quantity={stock})
"""


@dataclass
class Shop:
    """gunicorn on the private cluster: its port, its environment and its log."""

    cluster: PrivatePostgres
    environment: dict[str, str]
    port: int
    log: Path
    server: subprocess.Popen[bytes]

    def manage(self, *args: str) -> str:
        return _manage(self.environment, *args)

    def booted_workers(self) -> list[str]:
        return re.findall(r"Booting worker with pid: (\d+)", self.log.read_text())


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateRedis]:
    """The shop's cache, throttle counts and broker: nothing reaches the suite's queues."""
    server = PrivateRedis(port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def cluster(broker: PrivateRedis) -> Iterator[PrivatePostgres]:
    """A private cluster with the shop's database, migrated; removed at the end, running
    or not."""
    cluster = PrivatePostgres(Path(tempfile.mkdtemp(prefix="backorder-pg-")), free_port())
    try:
        cluster.init()
        cluster.start()
        with cluster.connect("postgres") as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        _manage(_shop_environment(cluster, broker, cluster.directory), "migrate", "--no-input")
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(cluster.directory, ignore_errors=True)


@pytest.fixture
def shop(cluster: PrivatePostgres, broker: PrivateRedis, tmp_path: Path) -> Iterator[Shop]:
    """gunicorn (`config/gunicorn.py`), two workers, on the private cluster; its log is
    kept in `tmp_path`."""
    if not cluster.running():  # an earlier test stopped it, and failed before starting it
        cluster.start()
    port = free_port()
    environment = {
        **_shop_environment(cluster, broker, tmp_path / "mail"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    log = tmp_path / "gunicorn.log"
    with gunicorn_server(environment, log, lambda: _answers(port)) as server:
        yield Shop(cluster, environment, port, log, server)


# Customers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: str  # "availability" or "order"
    email: str
    status: int
    started: float
    ended: float
    headers: dict[str, str]
    body: Any


def _request(port: int, method: str, path: str, body: Any = None) -> tuple[int, dict, Any]:
    """One request on a connection of its own: (status, headers, body), a JSON body parsed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        connection.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        response = connection.getresponse()
        raw = response.read()
        headers = dict(response.getheaders())
        if headers.get("Content-Type", "").startswith("application/json"):
            return response.status, headers, json.loads(raw)
        return response.status, headers, raw.decode()
    finally:
        connection.close()


def _answers(port: int) -> bool:
    try:
        return _request(port, "GET", "/api/v1/products/NOTHING")[0] == 404
    except OSError:
        return False


@dataclass
class Load:
    """`CLIENTS` threads, each asking for the product's availability then ordering one, in
    a loop, until stopped; every answer recorded, with when it was asked and answered."""

    port: int
    sku: str
    answers: list[Answer] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT + 10)
        assert not any(thread.is_alive() for thread in self._threads), "a request never returned"

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def _client(self, number: int) -> None:
        index = 0
        while not self._stop.is_set():
            email = f"{self.sku.lower()}-{number}-{index}@example.com"
            self._ask(
                "availability", email, "GET", f"/api/v1/products/{self.sku}/availability?quantity=1"
            )
            body = {
                "email": email,
                "name": f"client {number}",
                "locale": "en",
                "lines": [{"sku": self.sku, "quantity": 1}],
            }
            self._ask("order", email, "POST", "/api/v1/orders", body)
            index += 1
            time.sleep(PAUSE_SECONDS)

    def _ask(self, kind: str, email: str, method: str, path: str, body: Any = None) -> None:
        started = time.monotonic()
        try:
            status, headers, answer = _request(self.port, method, path, body)
        except (OSError, http.client.HTTPException) as error:
            status, headers, answer = NO_ANSWER, {}, repr(error)
        self.answers.append(Answer(kind, email, status, started, time.monotonic(), headers, answer))

    # Which answers -------------------------------------------------------------------------

    def asked_and_answered_between(self, first: str, last: str | None) -> list[Answer]:
        """Answers to requests made after mark `first` and answered before mark `last`
        (or by now)."""
        since = self.marks[first]
        until = self.marks[last] if last is not None else float("inf")
        return [a for a in list(self.answers) if since <= a.started and a.ended <= until]

    def count(self, kind: str, status: int, first: str, last: str | None = None) -> int:
        return sum(
            1
            for answer in self.asked_and_answered_between(first, last)
            if (answer.kind, answer.status) == (kind, status)
        )


def _health(port: int, query: str = "") -> tuple[int, Any]:
    status, _headers, body = _request(port, "GET", f"/healthz{query}")
    return status, body


def _backends(cluster: PrivatePostgres) -> set[int]:
    """The server processes of the shop's connections to its database."""
    rows = cluster.rows(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        DATABASE,
    )
    return {pid for (pid,) in rows}


def _recovered(port: int, sku: str) -> bool:
    availability = _request(port, "GET", f"/api/v1/products/{sku}/availability?quantity=1")
    return availability[0] == 200 and _health(port, "?check=database")[0] == 200


# The test -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_under_load_is_503_while_down_and_served_again_without_a_restart(
    shop: Shop, mode: str
):
    # given: a product with five on the shelf, taking backorders, and customers busy on it
    sku = f"RESTART-{mode.upper()}"
    shop.manage("shell", "-c", SEED.format(sku=sku, stock=STOCK))
    load = Load(shop.port, sku)
    load.mark("up at first")
    load.start()
    try:
        wait_until(
            lambda: (
                load.count("availability", 200, "up at first") >= AT_LEAST
                and load.count("order", 201, "up at first") >= AT_LEAST
            ),
            "orders placed before the stop",
        )
        # and each worker keeps its one connection from request to request
        wait_until(lambda: len(_backends(shop.cluster)) == 2, "a connection for each worker")
        persistent = _backends(shop.cluster)
        answered = len(load.answers)
        wait_until(lambda: len(load.answers) >= answered + 2 * CLIENTS, "more requests")
        assert _backends(shop.cluster) == persistent

        # when: PostgreSQL stops under them
        load.mark("stopping")
        shop.cluster.stop(mode)
        load.mark("down")
        wait_until(
            lambda: (
                load.count("availability", 503, "down") >= AT_LEAST
                and load.count("order", 503, "down") >= AT_LEAST
            ),
            "requests answered while PostgreSQL is down",
        )
        # then: the health checks and a customer page say so too
        down_health = _health(shop.port)
        down_database = _health(shop.port, "?check=database")
        down_page = _request(shop.port, "GET", f"/products/{sku}/")

        # when: it starts again, on the same port and data
        load.mark("starting")
        shop.cluster.start()
        load.mark("back")
        wait_until(lambda: _recovered(shop.port, sku), "the web to serve again")
        wait_until(
            lambda: (
                load.count("availability", 200, "back") >= AT_LEAST
                and load.count("order", 201, "back") >= AT_LEAST
            ),
            "orders placed after the restart",
        )
        # and each worker has connected again, to the new server
        wait_until(lambda: len(_backends(shop.cluster)) == 2, "each worker to connect again")
    finally:
        load.stop()
    answers = load.answers

    # then: every request was answered, with a success or a 503, never a 500
    assert [a for a in answers if a.status not in (200, 201, 503)] == [], shop.log
    # and before the stop, and every request made once the server was back, succeeded
    before = load.asked_and_answered_between("up at first", "stopping")
    after = load.asked_and_answered_between("back", None)
    assert {a.status for a in before if a.kind == "availability"} == {200}
    assert {a.status for a in before if a.kind == "order"} == {201}
    assert {a.status for a in after if a.kind == "availability"} == {200}
    assert {a.status for a in after if a.kind == "order"} == {201}
    # and every request made and answered while it was down was a 503, to be tried again
    down = load.asked_and_answered_between("down", "starting")
    assert {(a.status, a.headers.get("Retry-After")) for a in down} == {(503, "10")}
    assert [a.body for a in down if a.body != UNAVAILABLE] == []
    assert sum(1 for a in down if a.kind == "order") >= AT_LEAST

    # and the health checks said the database is not ok, the broker still is
    status, body = down_health
    assert (status, body["status"], list(body["checks"])) == (
        503,
        "unavailable",
        ["database", "broker", "worker", "beat"],
    )
    assert (body["checks"]["database"]["ok"], body["checks"]["broker"]["ok"]) == (False, True)
    assert body["checks"]["database"]["error"].startswith("OperationalError: "), body
    status, body = down_database
    assert (status, body["status"], list(body["checks"]), body["checks"]["database"]["ok"]) == (
        503,
        "unavailable",
        ["database"],
        False,
    )
    assert body["checks"]["database"]["error"].startswith("OperationalError: "), body
    # and the customer page was the HTML one
    status, headers, page = down_page
    assert (status, headers["Content-Type"], headers["Retry-After"]) == (
        503,
        "text/html; charset=utf-8",
        "10",
    )
    assert "<h1>Back in a moment</h1>" in page

    # and the same two workers served throughout: none was killed, hung or replaced
    assert shop.server.poll() is None
    assert len(shop.booted_workers()) == 2, shop.log
    assert "WORKER TIMEOUT" not in shop.log.read_text(), shop.log

    # and every order answered 201 is kept once, as answered, and none answered 503
    kept = shop.cluster.rows(
        "SELECT o.email, o.number FROM orders_order o"
        " JOIN orders_orderline l ON l.order_id = o.id"
        " JOIN inventory_product p ON p.id = l.product_id"
        " WHERE p.sku = %s",
        sku,
    )
    kept_numbers = dict(kept)
    assert len(kept_numbers) == len(kept)
    placed = {a.email: a.body["number"] for a in answers if a.status == 201}
    assert {email: kept_numbers.get(email) for email in placed} == placed
    assert {a.email for a in down if a.kind == "order"} & set(kept_numbers) == set()
    assert set(kept_numbers) - set(placed) <= _cut_at_commit(load, mode)
    # and the stock: five allocated of five, every other unit backordered, the ledger agreeing
    assert shop.cluster.rows(
        "SELECT s.on_hand, s.allocated FROM inventory_stock s"
        " JOIN inventory_product p ON p.id = s.product_id WHERE p.sku = %s",
        sku,
    ) == [(STOCK, STOCK)]
    assert shop.cluster.rows(
        "SELECT sum(l.quantity), sum(l.allocated), sum(l.backordered) FROM orders_orderline l"
        " JOIN inventory_product p ON p.id = l.product_id WHERE p.sku = %s",
        sku,
    ) == [(len(kept), STOCK, len(kept) - STOCK)]
    assert "counters and allocations agree." in shop.manage("verify_stock")


def _cut_at_commit(load: Load, mode: str) -> set[str]:
    """The orders that may be kept though answered 503: none after `pg_ctl stop -m fast`
    (a backend told to end finishes its COMMIT and answers it first); after a kill
    (`immediate`), one in flight at that instant may have made its COMMIT durable and
    never answered it, as after any crash: the client cannot tell, which is what
    `Idempotency-Key` is for."""
    if mode == "fast":
        return set()
    return {
        a.email
        for a in load.answers
        if (a.kind, a.status) == ("order", 503)
        and a.started < load.marks["down"]
        and a.ended > load.marks["stopping"]
    }

"""Soak test: minutes of mixed load over HTTP against the production set-up while workers
restart and the broker hangs; then nothing may be lost, doubled or drifted.

    make soak
    SOAK_SECONDS=120 SOAK_RESTART_SECONDS=30 .venv/bin/python scripts/soak.py   # a short run

It builds a shop of its own and takes it down at the end, on Ctrl-C or failure too:

- a scratch PostgreSQL database, `SOAK_DATABASE` (backorder_soak) on `TEST_DATABASE_URL`'s
  server, migrated and seeded with products of every policy (hot SKUs taking backorders
  with their lead times, one with caps, two that refuse, one pre-order, steady sellers),
  suppliers, purchase orders on their way, a staff user and its API token;
- a redis-server of its own on `SOAK_REDIS_PORT` (6391): broker, cache and throttle counts;
- an SMTP server in this process (aiosmtpd, as `tests/smtp.py` runs one) on
  `SOAK_SMTP_PORT` (2526), keeping the headers of every email it accepts;
- gunicorn (`config/gunicorn.py`, `config.settings.production`, `SOAK_WEB_WORKERS` workers)
  on `SOAK_PORT` (8765), two Celery workers (prefork, one process each, every queue) and
  Celery beat, whose sweeps catch up what the broker could not take.

`SOAK_CLIENTS` threads then drive the JSON API and the pages for `SOAK_SECONDS` (600), at
`SOAK_RATE` actions a second in all (0: as fast as answered): orders (each with an
Idempotency-Key, some sent twice), receipts against purchase orders (new ones placed as
supply runs low), customers cancelling what waits, shipments, purchase-order dates moved,
status pages, catalogue and product pages, availability quotes, order reads, lookups of the
status link and back-in-stock sign-ups. Every `SOAK_RESTART_SECONDS` (60) one worker in turn
is stopped (TERM: a warm shutdown, killed after 60 s) and a new one started; at
`SOAK_PAUSE_AT` (0.4) of the run the broker is frozen (SIGSTOP) for `SOAK_PAUSE_SECONDS` (15).

Then it waits up to `SOAK_DRAIN_SECONDS` (180) for the queues and the outbox to empty and
checks: no 5xx, every answer one its request may get, every request answered; every email
the outbox marked sent arrived exactly once (by Message-ID), to its row's address, and
nothing else arrived; no
email pending or failed; no task failed; `verify_stock` clean; no backorder waiting beside
free stock; every process still up. It prints one JSON object per figure, like `make bench`,
and exits 1 if a check fails. Each process logs to `var/soak-<name>.log`, kept afterwards;
`SOAK_KEEP_DATABASE=1` keeps the database too.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_http import PROXY_HEADERS, answers  # noqa: E402 - after the path is set
from bench_setup import BASE_URL, emit  # noqa: E402
from ensure_services import maintenance_connection  # noqa: E402

SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RESTART_SECONDS = int(os.environ.get("SOAK_RESTART_SECONDS", "60"))
PAUSE_AT = float(os.environ.get("SOAK_PAUSE_AT", "0.4"))
PAUSE_SECONDS = float(os.environ.get("SOAK_PAUSE_SECONDS", "15"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "6"))
RATE = float(os.environ.get("SOAK_RATE", "30"))
DRAIN_SECONDS = int(os.environ.get("SOAK_DRAIN_SECONDS", "180"))
WEB_WORKERS = int(os.environ.get("SOAK_WEB_WORKERS", "3"))
DATABASE = os.environ.get("SOAK_DATABASE", "backorder_soak")
PORT = int(os.environ.get("SOAK_PORT", "8765"))
REDIS_PORT = int(os.environ.get("SOAK_REDIS_PORT", "6391"))
SMTP_PORT = int(os.environ.get("SOAK_SMTP_PORT", "2526"))
KEEP_DATABASE = os.environ.get("SOAK_KEEP_DATABASE", "") not in ("", "0")
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
LOG_DIR = ROOT / "var"
# A worker's warm shutdown finishes its task; one still running after this is killed.
STOP_SECONDS = 60
# Longest wait for one answer: far beyond what a hung broker costs a request.
REQUEST_TIMEOUT = 60
STAFF_USERNAME = "soak-staff"

# What one action does, and how often, relative to the others.
MIX = {
    "order": 26,
    "status_page": 12,
    "availability": 11,
    "receive": 10,
    "cancel": 6,
    "product_page": 6,
    "order_read": 5,
    "ship": 4,
    "lookup": 4,
    "product_read": 4,
    "catalogue": 3,
    "date_change": 3,
    "alert": 2,
}
# The answers each kind of request may get; anything else is a failure. A 409 is a race the
# client lost (the units were allocated, received or shipped meanwhile), a 422 a refusal
# the product's policy asks for.
EXPECTED = {
    "order": {201, 422},
    "order_replay": {201, 422},
    "receive": {200, 409},
    "po_create": {201},
    "cancel": {200, 409},
    "ship": {201, 409},
    "date_change": {200, 409},
    "alert": {202, 409},
}


@dataclass(frozen=True)
class Item:
    """A product of the soak's shop. `weight`: its share of order lines and of receipts."""

    sku: str
    policy: str
    stock: int
    lead_time_days: int
    weight: int
    backorder_limit: int | None = None
    max_per_order: int | None = None
    release_in_days: int | None = None


CATALOGUE = (
    Item("HOT-1", "backorder", 40, 7, 30),
    Item("HOT-2", "backorder", 10, 14, 20),
    Item("HOT-3", "backorder", 0, 21, 15),
    Item("CAPPED-1", "backorder", 5, 10, 6, backorder_limit=120, max_per_order=3),
    Item("DENY-1", "deny", 20, 5, 6),
    Item("DENY-2", "deny", 0, 5, 4),
    Item("PRE-1", "preorder", 0, 30, 5, release_in_days=21),
    *(Item(f"STD-{n:02d}", "backorder", 300, 10, 2) for n in range(1, 9)),
)
DENY_SKUS = [item.sku for item in CATALOGUE if item.policy == "deny"]


def database_url() -> str:
    return urlparse(BASE_URL)._replace(path=f"/{DATABASE}").geturl()


def server_environment(run_dir: str) -> dict[str, str]:
    """What gunicorn, the workers and beat run with; this process sets up Django with it.
    `run_dir`: the run's scratch directory (collected static files, beat's schedule)."""
    unlimited = "1000000000"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "soak-only-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "SITE_URL": f"http://127.0.0.1:{PORT}",
        "STATIC_ROOT": f"{run_dir}/static",
        # Every client shares one address: limits the soak must never meet.
        "BACKORDER_API_PUBLIC_RATE": "1000000/s",
        "BACKORDER_API_LOGIN_RATE": "1000000/s",
        "BACKORDER_LOOKUP_IP_RATE": unlimited,
        "BACKORDER_LOOKUP_EMAIL_RATE": unlimited,
        "WEB_CONCURRENCY": str(WEB_WORKERS),
        "GUNICORN_THREADS": "1",
        "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_LOG_LEVEL": "warning",
    }


def port_free(port: int) -> bool:
    """Nothing listens on `port` (connections of a previous run closing do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# What the clients know and record ------------------------------------------------------------


@dataclass
class OrderRef:
    """An order a client placed, with its lines as last answered (id -> line)."""

    number: str
    token: str
    email: str
    status_path: str
    lines: dict[int, dict[str, Any]]

    def update(self, body: dict[str, Any]) -> None:
        self.lines = {line["id"]: line for line in body["lines"]}


@dataclass
class PurchaseLine:
    purchase_order: int
    line: int
    sku: str
    outstanding: int
    busy: bool = False


class Shop:
    """What the clients know of the shop between them: recent orders and open supply."""

    def __init__(self, suppliers: list[int]) -> None:
        self.lock = threading.Lock()
        self.suppliers = suppliers
        self.orders: deque[OrderRef] = deque(maxlen=3000)
        self.purchase_lines: dict[int, PurchaseLine] = {}

    def order_add(self, order: OrderRef) -> None:
        with self.lock:
            self.orders.append(order)

    def order_pick(
        self, rng: random.Random, wanted: Callable[[OrderRef], bool] = lambda order: True
    ) -> OrderRef | None:
        with self.lock:
            if not self.orders:
                return None
            for _ in range(20):
                order = self.orders[rng.randrange(len(self.orders))]
                if wanted(order):
                    return order
        return None

    def purchase_order_add(self, body: dict[str, Any]) -> None:
        with self.lock:
            for line in body["lines"]:
                if line["outstanding"] > 0:
                    self.purchase_lines[line["id"]] = PurchaseLine(
                        body["id"], line["id"], line["sku"], line["outstanding"]
                    )

    def on_order(self, sku: str) -> int:
        """Units of `sku` on open purchase orders."""
        with self.lock:
            return sum(line.outstanding for line in self.purchase_lines.values() if line.sku == sku)

    def purchase_line_take(self, sku: str, rng: random.Random) -> PurchaseLine | None:
        """An open line of `sku` no other client is receiving, marked busy; None if there
        is none."""
        with self.lock:
            free = [
                line for line in self.purchase_lines.values() if line.sku == sku and not line.busy
            ]
            if not free:
                return None
            line = rng.choice(free)
            line.busy = True
            return line

    def purchase_line_any(self, rng: random.Random) -> PurchaseLine | None:
        with self.lock:
            if not self.purchase_lines:
                return None
            return rng.choice(list(self.purchase_lines.values()))

    def purchase_line_release(self, line: PurchaseLine, body: dict[str, Any] | None) -> None:
        with self.lock:
            line.busy = False
            if body is None:
                return
            for answered in body["lines"]:
                known = self.purchase_lines.get(answered["id"])
                if known is None:
                    continue
                known.outstanding = answered["outstanding"]
                if known.outstanding <= 0:
                    del self.purchase_lines[known.line]


@dataclass
class Stats:
    """Every answer's status and time per kind of request, and what went wrong."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    problems: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    sorts: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def record(self, kind: str, request: str, status: int, seconds: float, body: bytes) -> None:
        problem = ""
        if status == 0:
            problem = "no_answer"
        elif status >= 500:
            problem = "5xx"
        elif status not in EXPECTED.get(kind, {200}):
            problem = "unexpected_status"
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1
            if problem:
                self.problem(problem, kind=kind, request=request, status=status, body=body)

    def problem(self, what: str, **detail: Any) -> None:
        """Count a failure and keep the first of each sort (problem, kind of request and
        status), with when it came and what was asked. The caller holds the lock."""
        self.problems[what] += 1
        sort = (what, detail.get("kind"), detail.get("status"))
        self.sorts[sort] += 1
        if self.sorts[sort] == 1 and len(self.samples) < 30:
            body = detail.pop("body", b"")
            sample = {"problem": what, "at_s": round(time.monotonic() - self.started, 1)}
            sample.update(detail)
            if body:
                sample["body"] = body[:300].decode("utf-8", "replace")
            self.samples.append(sample)

    def problem_add(self, what: str, **detail: Any) -> None:
        with self.lock:
            self.problem(what, **detail)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())


# The load -------------------------------------------------------------------------------------


class Client(threading.Thread):
    """One customer-and-staff client: weighted random actions over one HTTP connection."""

    def __init__(
        self,
        number: int,
        *,
        shop: Shop,
        stats: Stats,
        staff_token: str,
        stop: threading.Event,
        today: Callable[[], date],
    ) -> None:
        super().__init__(name=f"soak-client-{number}", daemon=True)
        self.number = number
        self.shop = shop
        self.stats = stats
        self.staff_token = staff_token
        self.stop = stop
        self.today = today
        self.rng = random.Random(number)  # noqa: S311 - load, not secrets
        self.count = 0
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=REQUEST_TIMEOUT)
        self.actions: dict[str, Callable[[], None]] = {
            "order": self.order,
            "status_page": self.status_page,
            "availability": self.availability,
            "receive": self.receive,
            "cancel": self.cancel,
            "product_page": self.product_page,
            "order_read": self.order_read,
            "ship": self.ship,
            "lookup": self.lookup,
            "product_read": self.product_read,
            "catalogue": self.catalogue,
            "date_change": self.date_change,
            "alert": self.alert,
        }
        self.kinds = list(MIX)
        self.weights = [MIX[kind] for kind in self.kinds]

    def run(self) -> None:
        interval = CLIENTS / RATE if RATE > 0 else 0.0
        due = time.monotonic() + self.rng.uniform(0, interval)
        while not self.stop.is_set():
            if interval:
                wait = due - time.monotonic()
                if wait > 0 and self.stop.wait(wait):
                    break
                # Behind (a slow answer): go on from now rather than rush to catch up.
                due = max(due + interval, time.monotonic() - interval)
            kind = self.rng.choices(self.kinds, self.weights)[0]
            try:
                self.actions[kind]()
            except Exception as error:  # a bug of the client: counted, never silent
                self.stats.problem_add("client_error", kind=kind, error=repr(error))
        self.connection.close()

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        staff: bool = False,
    ) -> tuple[int, Message, bytes]:
        sent = {**PROXY_HEADERS, **(headers or {})}
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        elif form is not None:
            data = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if staff:
            sent["Authorization"] = f"Token {self.staff_token}"
        started = time.monotonic()
        answer_headers: Message = Message()
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
            payload = response.read()
            status = response.status
            answer_headers = response.headers
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            status, payload = 0, repr(error).encode()
        request = f"{method} {path}" + (f" {data[:300].decode()}" if data else "")
        self.stats.record(kind, request, status, time.monotonic() - started, payload)
        return status, answer_headers, payload

    def sku(self) -> str:
        """A product, the hot ones most often."""
        return self.rng.choices(CATALOGUE, [item.weight for item in CATALOGUE])[0].sku

    # Customers ---------------------------------------------------------------------------

    def order(self) -> None:
        self.count += 1
        skus: set[str] = set()
        for _ in range(self.rng.choices((1, 2, 3), (6, 3, 1))[0]):
            skus.add(self.sku())
        email = f"soak{self.number}.{self.count}@example.com"
        body = {
            "email": email,
            "name": f"Soak customer {self.number}-{self.count}",
            "locale": self.rng.choice(("en", "id")),
            "ship_complete": self.rng.random() < 0.2,
            "lines": [{"sku": sku, "quantity": self.rng.randint(1, 4)} for sku in sorted(skus)],
        }
        key = {"Idempotency-Key": str(uuid.uuid4())}
        status, _, payload = self.call("order", "POST", "/api/v1/orders", body=body, headers=key)
        if status != 201:
            return
        placed = json.loads(payload)
        path = urlparse(placed["status_url"]).path
        order = OrderRef(placed["number"], path.rstrip("/").rsplit("/", 1)[1], email, path, {})
        order.update(placed)
        self.shop.order_add(order)
        if self.rng.random() < 0.1:
            # A client retrying as after a lost answer: the same order back, not another.
            status, headers, payload = self.call(
                "order_replay", "POST", "/api/v1/orders", body=body, headers=key
            )
            again = json.loads(payload) if status == 201 else {}
            if status != 201 or again.get("number") != placed["number"]:
                self.stats.problem_add(
                    "replay_mismatch", number=placed["number"], status=status, answer=again
                )
            elif headers.get("Idempotent-Replayed") != "true":
                self.stats.problem_add("replay_not_marked", number=placed["number"])

    def status_page(self) -> None:
        order = self.shop.order_pick(self.rng)
        if order is not None:
            self.call("status_page", "GET", order.status_path)

    def order_read(self) -> None:
        self.order_refresh()

    def order_refresh(self) -> OrderRef | None:
        """Read a recent order as its customer does; the order, with its lines as they are now."""
        order = self.shop.order_pick(self.rng)
        if order is None:
            return None
        status, _, payload = self.call(
            "order_read", "GET", f"/api/v1/orders/{order.number}?token={order.token}"
        )
        if status == 200:
            order.update(json.loads(payload))
        return order

    def cancel(self) -> None:
        order = self.shop.order_pick(
            self.rng, lambda order: any(line["backordered"] for line in order.lines.values())
        )
        if order is None:
            return
        line = next(line for line in order.lines.values() if line["backordered"])
        body = {"quantity": 1} if self.rng.random() < 0.5 else {}
        status, _, payload = self.call(
            "cancel",
            "POST",
            f"/api/v1/orders/{order.number}/lines/{line['id']}/cancel?token={order.token}",
            body=body,
        )
        if status == 200:
            order.update(json.loads(payload))

    def lookup(self) -> None:
        status, headers, _ = self.call("lookup_form", "GET", "/orders/lookup/")
        order = self.shop.order_pick(self.rng)
        cookie = re.search(r"csrftoken=([^;]+)", ", ".join(headers.get_all("Set-Cookie") or []))
        if status != 200 or order is None or cookie is None:
            return
        # Now and then the wrong address: the same answer, and no email.
        email = order.email if self.rng.random() < 0.8 else f"nobody{self.count}@example.com"
        self.call(
            "lookup_send",
            "POST",
            "/orders/lookup/",
            form={"csrfmiddlewaretoken": cookie[1], "number": order.number, "email": email},
            headers={
                "Cookie": f"csrftoken={cookie[1]}",
                "Referer": f"https://127.0.0.1:{PORT}/orders/lookup/",
            },
        )

    def availability(self) -> None:
        quantity = self.rng.randint(1, 5)
        self.call(
            "availability", "GET", f"/api/v1/products/{self.sku()}/availability?quantity={quantity}"
        )

    def product_read(self) -> None:
        self.call("product_read", "GET", f"/api/v1/products/{self.sku()}")

    def product_page(self) -> None:
        self.call("product_page", "GET", f"/products/{self.sku()}/")

    def catalogue(self) -> None:
        self.call("catalogue", "GET", "/")

    def alert(self) -> None:
        self.count += 1
        self.call(
            "alert",
            "POST",
            f"/api/v1/products/{self.rng.choice(DENY_SKUS)}/alerts",
            body={"email": f"alert{self.number}.{self.count}@example.com"},
        )

    # Staff -------------------------------------------------------------------------------

    def receive(self) -> None:
        sku = self.sku()
        if self.shop.on_order(sku) < 40:
            self.purchase_order_place(sku)
            return
        line = self.shop.purchase_line_take(sku, self.rng)
        if line is None:
            return
        # Less than the orders take, on the whole: the backlog grows, as in a sell-out.
        quantity = min(line.outstanding, self.rng.randint(1, 10))
        status, _, payload = self.call(
            "receive",
            "POST",
            f"/api/v1/purchase-orders/{line.purchase_order}/receive",
            body={"lines": [{"line_id": line.line, "quantity": quantity}]},
            staff=True,
        )
        self.shop.purchase_line_release(line, json.loads(payload) if status == 200 else None)

    def purchase_order_place(self, sku: str) -> None:
        expected = self.today() + timedelta(days=self.rng.randint(2, 20))
        status, _, payload = self.call(
            "po_create",
            "POST",
            "/api/v1/purchase-orders",
            body={
                "supplier": self.rng.choice(self.shop.suppliers),
                "lines": [
                    {
                        "sku": sku,
                        "quantity": self.rng.randint(60, 200),
                        "expected_date": expected.isoformat(),
                    }
                ],
            },
            staff=True,
        )
        if status == 201:
            self.shop.purchase_order_add(json.loads(payload))

    def date_change(self) -> None:
        line = self.shop.purchase_line_any(self.rng)
        if line is None:
            return
        expected = self.today() + timedelta(days=self.rng.randint(1, 28))
        self.call(
            "date_change",
            "PATCH",
            f"/api/v1/purchase-orders/{line.purchase_order}/lines/{line.line}",
            body={"expected_date": expected.isoformat()},
            staff=True,
        )

    def ship(self) -> None:
        order = self.order_refresh()
        if order is None:
            return
        lines = [
            {"line_id": line["id"], "quantity": line["allocated"]}
            for line in order.lines.values()
            if line["allocated"]
        ]
        if not lines:
            return
        status, _, payload = self.call(
            "ship",
            "POST",
            f"/api/v1/orders/{order.number}/shipments",
            body={"lines": lines, "carrier": "JNE", "tracking": f"SOAK{uuid.uuid4().hex[:10]}"},
            staff=True,
        )
        if status == 201:
            order.update(json.loads(payload)["order"])


# The processes --------------------------------------------------------------------------------


class Processes:
    """The servers this run started. Each logs to `var/soak-<name>.log` and runs in a
    session of its own, so a Ctrl-C at the terminal reaches only this script, which stops
    them: TERM to the process, then KILL to its whole group if it is still there."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        LOG_DIR.mkdir(exist_ok=True)
        with (LOG_DIR / f"soak-{name}.log").open("w") as log:
            child = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children[name] = child
        return child

    def stop(self, name: str, timeout: float = STOP_SECONDS) -> tuple[float, bool]:
        """Stop `name`; the seconds it took and whether it had to be killed."""
        child = self.children.pop(name)
        started = time.monotonic()
        killed = False
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                killed = True
        # What it left behind (a pool's children), or all of it if it hung.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return time.monotonic() - started, killed

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name, timeout=30)


def worker_command(name: str) -> list[str]:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork"]
    command += ["--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO"]
    return [*command, "-n", name]


def worker_ready(name: str, timeout: float = 60) -> bool:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if app.control.ping(destination=[name], timeout=1):
                return True
        except Exception:  # the broker not answering yet: ask again
            time.sleep(0.5)
    return False


@dataclass
class Workers:
    """The two workers, the longer-running one replaced at every restart."""

    processes: Processes
    running: list[tuple[str, str]] = field(default_factory=list)  # (node name, process name)
    started: int = 0
    restarts: int = 0
    killed: int = 0
    not_ready: int = 0
    stop_seconds: list[float] = field(default_factory=list)
    ready_seconds: list[float] = field(default_factory=list)

    def start(self) -> str:
        self.started += 1
        name = f"soak{self.started}@localhost"
        process = f"worker-{self.started}"
        self.processes.start(process, worker_command(name))
        self.running.append((name, process))
        return name

    def wait_ready(self, name: str) -> None:
        started = time.monotonic()
        if worker_ready(name):
            self.ready_seconds.append(time.monotonic() - started)
        else:
            self.not_ready += 1

    def restart(self) -> None:
        """TERM the longer-running worker, wait for its warm shutdown, start its successor."""
        _, process = self.running.pop(0)
        seconds, killed = self.processes.stop(process)
        self.stop_seconds.append(seconds)
        self.killed += killed
        self.restarts += 1
        self.wait_ready(self.start())


# Set-up, draining and checks ------------------------------------------------------------------


def database_recreate() -> None:
    with maintenance_connection(BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def database_drop() -> None:
    from django.db import connections

    connections.close_all()
    with maintenance_connection(BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def shop_seed() -> tuple[str, list[int]]:
    """The catalogue, two suppliers, a purchase order on its way for every product and a
    staff user: its API token and the suppliers' ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from inventory.catalogue import product_create, supplier_create
    from inventory.purchasing import PurchaseLineRequest, purchase_order_create
    from inventory.stock import stock_receive

    today = timezone.localdate()
    suppliers = [
        supplier_create(name="Soak supplier A", email="supplier-a@example.com", lead_time_days=10),
        supplier_create(name="Soak supplier B", email="supplier-b@example.com", lead_time_days=20),
    ]
    for item in CATALOGUE:
        product = product_create(
            sku=item.sku,
            name=f"Soak {item.sku}",
            price=Decimal(item.weight * 10_000),
            backorder_policy=item.policy,
            lead_time_days=item.lead_time_days,
            backorder_limit=item.backorder_limit,
            max_per_order=item.max_per_order,
            release_date=(
                today + timedelta(days=item.release_in_days) if item.release_in_days else None
            ),
        )
        if item.stock:
            stock_receive(product=product, quantity=item.stock)
    # Supply on its way for everything: from A in 5 and 12 days, from B in 9.
    for supplier, days in ((suppliers[0], 5), (suppliers[0], 12), (suppliers[1], 9)):
        purchase_order_create(
            supplier=supplier,
            lines=[
                PurchaseLineRequest(item.sku, 50 + 10 * item.weight, today + timedelta(days=days))
                for item in CATALOGUE
            ],
        )
    staff = get_user_model().objects.create_superuser(
        STAFF_USERNAME, "soak-staff@example.com", uuid.uuid4().hex
    )
    return Token.objects.create(user=staff).key, [supplier.pk for supplier in suppliers]


def open_purchase_lines() -> list[dict[str, Any]]:
    from inventory.models import PurchaseOrderLine

    return [
        {
            "id": line.purchase_order_id,
            "lines": [{"id": line.pk, "sku": line.product.sku, "outstanding": line.outstanding}],
        }
        for line in PurchaseOrderLine.objects.select_related("product")
        if line.outstanding > 0
    ]


def queue_keys() -> list[str]:
    """The broker's lists of waiting tasks: every configured queue, each priority."""
    from django.conf import settings

    names = [queue.name for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or []]
    names = names or [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]
    separator = "\x06\x16"
    return [key for name in names for key in (name, *(f"{name}{separator}{p}" for p in "369"))]


def backlog() -> dict[str, int]:
    """Work not done yet: tasks queued or taken, emails pending, refreshes kept unsent."""
    import redis

    from inventory.models import UnsentRefresh
    from notifications.models import Notification

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    return {
        "tasks_queued": sum(client.llen(key) for key in queue_keys()),
        "tasks_taken": client.hlen("unacked"),
        "emails_pending": Notification.objects.filter(status=Notification.Status.PENDING).count(),
        "refreshes_unsent": UnsentRefresh.objects.count(),
    }


def drain(timeout: float) -> tuple[float, dict[str, int]]:
    """Wait until nothing is left to do, three looks in a row; the seconds it took and
    what was left."""
    started = time.monotonic()
    quiet = 0
    left = backlog()
    while time.monotonic() - started < timeout:
        left = backlog()
        quiet = quiet + 1 if not any(left.values()) else 0
        if quiet >= 3:
            break
        time.sleep(1)
    return time.monotonic() - started, left


def email_figures(sink: Sink) -> dict[str, Any]:
    """The outbox against the SMTP server: every Message-ID marked sent must have arrived
    once, and nothing else may have."""
    from django.db.models import Count

    from notifications.models import Notification

    rows = dict(
        Notification.objects.filter(status=Notification.Status.SENT)
        .values("message_id")
        .annotate(rows=Count("pk"))
        .values_list("message_id", "rows")
        .order_by()
    )
    addresses = dict(
        Notification.objects.filter(status=Notification.Status.SENT)
        .values_list("message_id", "to")
        .distinct()
        .order_by()
    )
    with sink.lock:
        received = Counter(message_id for message_id, _, _ in sink.received)
        misaddressed = sorted(
            message_id
            for message_id, recipients, _ in sink.received
            if message_id in addresses
            and [address.lower() for address in recipients] != [addresses[message_id].lower()]
        )
    lost = sorted(message_id for message_id in rows if not received[message_id])
    doubled = {message_id: n for message_id, n in received.items() if n > 1}
    unknown = sorted(message_id for message_id in received if message_id not in rows)
    statuses = Counter(Notification.objects.values_list("status", flat=True).order_by())
    kinds = Counter(
        Notification.objects.filter(status=Notification.Status.SENT)
        .values_list("kind", flat=True)
        .order_by()
    )
    return {
        "emails_sent": len(rows),
        "notifications_sent": sum(rows.values()),
        "received": sum(received.values()),
        "lost": len(lost),
        "duplicates": sum(n - 1 for n in doubled.values()),
        "unknown": len(unknown),
        "misaddressed": len(misaddressed),
        "pending": statuses[Notification.Status.PENDING],
        "failed": statuses[Notification.Status.FAILED],
        "by_kind": dict(sorted(kinds.items())),
        "lost_ids": lost[:10],
        "duplicate_ids": sorted(doubled)[:10],
        "unknown_ids": unknown[:10],
        "misaddressed_ids": misaddressed[:10],
    }


def stock_verified() -> list[str]:
    """What `manage.py verify_stock` says drifted: nothing when clean."""
    from django.core.management import CommandError, call_command

    errors = io.StringIO()
    try:
        call_command("verify_stock", stdout=io.StringIO(), stderr=errors)
    except CommandError as error:
        return errors.getvalue().splitlines() or [str(error)]
    return []


def unfilled_backorders() -> list[str]:
    """Products with backordered lines waiting while free stock sits beside them: a fill
    that never ran."""
    from django.db.models import F, Sum

    from inventory.models import Stock
    from orders.models import OrderLine

    free = dict(
        Stock.objects.values("product__sku")
        .annotate(free_units=Sum(F("on_hand") - F("allocated")))
        .values_list("product__sku", "free_units")
        .order_by()
    )
    waiting = dict(
        OrderLine.objects.filter(status=OrderLine.Status.BACKORDERED)
        .values("product__sku")
        .annotate(units=Sum("backordered"))
        .values_list("product__sku", "units")
        .order_by()
    )
    return sorted(
        f"{sku}: {units} backordered, {free[sku]} free"
        for sku, units in waiting.items()
        if free.get(sku, 0) > 0
    )


def task_failures() -> list[str]:
    """Tasks that raised in any worker (Celery logs "raised unexpected")."""
    found = []
    for log in sorted(LOG_DIR.glob("soak-worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "raised unexpected" in line:
                found.append(f"{log.name}: {line[:300]}")
    return found


# The run --------------------------------------------------------------------------------------


@dataclass
class Sink:
    """What the SMTP server accepted: each message's Message-ID, recipients and subject
    (the headers only: a soak's tens of thousands of bodies are not kept)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.content, headersonly=True)
        with self.lock:
            self.received.append(
                (str(message["Message-ID"]), tuple(envelope.rcpt_tos), str(message["Subject"]))
            )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    """An SMTP server (aiosmtpd, as `tests/smtp.py` runs one) on `SMTP_PORT`, in a thread of
    this process."""
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=SMTP_PORT)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@contextmanager
def private_redis() -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of the run's own on `REDIS_PORT`, which it may freeze."""
    import redis

    LOG_DIR.mkdir(exist_ok=True)
    command = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(REDIS_PORT)]
    command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with (LOG_DIR / "soak-redis.log").open("w") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        client = redis.Redis(port=REDIS_PORT, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("redis-server did not start; see var/soak-redis.log") from None
                time.sleep(0.1)
        yield server
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)  # a stopped process would not end on TERM
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def broker_pause(server: subprocess.Popen[bytes]) -> float:
    """Freeze the broker for `PAUSE_SECONDS`: connections open, nothing answered."""
    started = time.monotonic()
    os.kill(server.pid, signal.SIGSTOP)
    try:
        time.sleep(PAUSE_SECONDS)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    return time.monotonic() - started


def schedule() -> list[tuple[float, str]]:
    """When, in seconds from the start of the load, each worker restart and the pause
    come."""
    events = [(float(at), "restart") for at in range(RESTART_SECONDS, SECONDS, RESTART_SECONDS)]
    events.append((SECONDS * PAUSE_AT, "pause"))
    return sorted(events)


def terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@dataclass
class Run:
    """The shop's processes and what the load met."""

    processes: Processes
    workers: Workers
    sink: Sink
    broker: subprocess.Popen[bytes]
    stats: Stats = field(default_factory=Stats)
    load_seconds: float = 0.0
    paused: float = 0.0
    paused_at: float = 0.0
    seeded_drain: float = 0.0
    drained_in: float = 0.0
    left: dict[str, int] = field(default_factory=dict)


def shop_start(cleanup: ExitStack, run_dir: str, env: dict[str, str]) -> tuple[Run, Shop, str]:
    """Database, broker, SMTP server, workers, beat and gunicorn, each undone by `cleanup`;
    the run, what the clients start from and the staff token."""
    from django.core.management import call_command

    sink = cleanup.enter_context(smtp_sink())
    broker = cleanup.enter_context(private_redis())
    database_recreate()
    if not KEEP_DATABASE:
        cleanup.callback(database_drop)
    call_command("migrate", verbosity=0)
    # As a deployment does before serving: hashed names for the static files.
    call_command("collectstatic", interactive=False, verbosity=0)
    staff_token, suppliers = shop_seed()
    shop = Shop(suppliers)
    for body in open_purchase_lines():
        shop.purchase_order_add(body)

    processes = Processes(env)
    cleanup.callback(processes.stop_all)
    run = Run(processes, Workers(processes), sink, broker)
    for name in (run.workers.start(), run.workers.start()):
        run.workers.wait_ready(name)
    beat = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
    processes.start("beat", [*beat, f"--schedule={run_dir}/celerybeat-schedule"])
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]
    processes.start("gunicorn", command)
    deadline = time.monotonic() + 60
    while not answers(PORT, "/healthz"):
        if time.monotonic() > deadline:
            sys.exit("gunicorn did not answer /healthz in 60 s; see var/soak-gunicorn.log")
        time.sleep(0.5)
    run.seeded_drain, _ = drain(60)
    return run, shop, staff_token


def load_run(run: Run, shop: Shop, staff_token: str, stop: threading.Event) -> None:
    """The clients for `SECONDS`, the restarts and the pause on schedule, then the drain."""
    from django.utils import timezone

    clients = [
        Client(
            number,
            shop=shop,
            stats=run.stats,
            staff_token=staff_token,
            stop=stop,
            today=timezone.localdate,
        )
        for number in range(CLIENTS)
    ]
    started = run.stats.started = time.monotonic()
    for client in clients:
        client.start()
    for at, event in schedule():
        time.sleep(max(0.0, started + at - time.monotonic()))
        if event == "restart":
            run.workers.restart()
        else:
            run.paused_at = time.monotonic() - started
            run.paused = broker_pause(run.broker)
    time.sleep(max(0.0, started + SECONDS - time.monotonic()))
    stop.set()
    for client in clients:
        client.join(REQUEST_TIMEOUT + 5)
    run.load_seconds = time.monotonic() - started
    run.drained_in, run.left = drain(DRAIN_SECONDS)


def report(run: Run) -> list[str]:
    """Print every figure; the checks that failed."""
    stats = run.stats
    requests = stats.requests
    emit(
        "soak_requests",
        requests,
        "requests",
        seconds=round(run.load_seconds, 1),
        clients=CLIENTS,
        target_actions_per_s=RATE,
        by_kind={kind: len(values) for kind, values in sorted(stats.latencies.items())},
    )
    emit("soak_requests_per_second", requests / run.load_seconds, "requests/s")
    for kind, values in sorted(stats.latencies.items()):
        emit(
            f"soak_latency_{kind}",
            percentile(values, 0.5) * 1000,
            "ms p50",
            p95_ms=round(percentile(values, 0.95) * 1000, 1),
            p99_ms=round(percentile(values, 0.99) * 1000, 1),
            max_ms=round(max(values) * 1000, 1),
            requests=len(values),
            statuses={str(code): n for code, n in sorted(stats.statuses[kind].items())},
        )
    errors_5xx = stats.problems["5xx"]
    emit("soak_5xx", errors_5xx, "responses")
    others = {what: n for what, n in stats.problems.items() if what != "5xx"}
    emit("soak_client_problems", sum(others.values()), "problems", **others)
    if stats.samples:
        emit("soak_problem_samples", len(stats.samples), "samples", samples=stats.samples)
    mail = email_figures(run.sink)
    emit(
        "soak_emails",
        mail["emails_sent"],
        "emails",
        **{key: value for key, value in mail.items() if key != "emails_sent"},
    )
    drift = stock_verified()
    emit("soak_verify_stock", len(drift), "drifted", clean=not drift, drift=drift[:20])
    unfilled = unfilled_backorders()
    emit("soak_unfilled_backorders", len(unfilled), "products", products=unfilled)
    failures = task_failures()
    emit("soak_task_failures", len(failures), "tasks", samples=failures[:10])
    workers = run.workers
    emit(
        "soak_worker_restarts",
        workers.restarts,
        "restarts",
        killed=workers.killed,
        not_ready=workers.not_ready,
        stop_s_max=round(max(workers.stop_seconds, default=0.0), 1),
        ready_s_max=round(max(workers.ready_seconds, default=0.0), 1),
        interval_s=RESTART_SECONDS,
    )
    emit("soak_broker_pause", run.paused, "seconds", at_s=round(run.paused_at, 1))
    drained = not any(run.left.values())
    emit(
        "soak_drain",
        run.drained_in,
        "seconds",
        drained=drained,
        left=run.left,
        seeded_drain_s=round(run.seeded_drain, 1),
    )
    gone = [name for name, child in run.processes.children.items() if child.poll() is not None]
    emit("soak_processes_down", len(gone), "processes", names=gone)
    restarts = sum(event == "restart" for _, event in schedule())
    checks = {
        "no 5xx": errors_5xx == 0,
        "every answer expected": not others,
        "no email lost": mail["lost"] == 0,
        "no email twice": mail["duplicates"] == 0,
        "no email unrecorded": mail["unknown"] == 0,
        "every email to its address": mail["misaddressed"] == 0,
        "no email pending or failed": not mail["pending"] and not mail["failed"],
        "verify_stock clean": not drift,
        "no backorder beside free stock": not unfilled,
        "no task failed": not failures,
        "drained": drained,
        "processes up": not gone,
        "workers restarted": workers.restarts == restarts and not workers.not_ready,
    }
    failed = [name for name, ok in checks.items() if not ok]
    emit("soak_checks", len(failed), "failed", failed=failed, passed=len(checks) - len(failed))
    return failed


def main() -> int:
    busy = [port for port in (PORT, REDIS_PORT, SMTP_PORT) if not port_free(port)]
    if busy:
        sys.exit(f"Port(s) {busy} in use: a soak still running, or set SOAK_*_PORT.")
    signal.signal(signal.SIGTERM, terminate_as_interrupt)
    stop = threading.Event()
    with ExitStack() as cleanup:
        run_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="soak-"))
        env = server_environment(run_dir)
        os.environ.update({k: v for k, v in env.items() if not k.startswith("GUNICORN_")})
        import django

        django.setup()
        # Django's logging sends INFO to the console: aiosmtpd's would be a line per command.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        run, shop, staff_token = shop_start(cleanup, run_dir, env)
        cleanup.callback(stop.set)
        load_run(run, shop, staff_token, stop)
        failed = report(run)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("soak: interrupted; every process it started is stopped.", file=sys.stderr)
        sys.exit(130)

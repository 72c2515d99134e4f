"""PostgreSQL drops a connection in the middle of a write: nothing half-done survives, and
the work is done once when it is tried again.

The fault is the real one: `pg_terminate_backend` ends the server process of a connection
in the middle of its transaction, as a database restart, a failover or an administrator
does. To be sure the transaction is cut after its writes and before its commit, the test's
own connection takes a SHARE lock on the outbox's table, which lets every read through and
makes every insert into it wait. Placement and the refresh each write their outbox rows as
the last thing before commit, so each stops there with its orders, lines, allocations,
ledger movements and counters written and uncommitted; the test finds that backend in
`pg_locks`, checks what it has written (the tables it holds a write lock on) and ends it.

- Placement (the service, and `POST /api/v1/orders` with an Idempotency-Key): the caller
  gets the database error (the API a 503 with Retry-After), none of the order is kept, and
  placing it again places it once.
- The refresh, in a real Celery worker after a receipt: the task's autoretry (on
  `OperationalError`, `config.celery`) runs it again on a new connection, which fills the
  queue in order, once, with one notice per fact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pytest
from django.db import OperationalError, connection, transaction
from rest_framework.test import APIClient

from config.api import UNAVAILABLE_MESSAGE
from inventory.models import Allocation, Product, Stock, StockMovement
from inventory.selectors import stock_drift
from inventory.stock import stock_receive
from notifications.models import Notification
from orders.models import EtaChange, IdempotencyKey, Order, OrderEvent, OrderLine, RefusedDemand
from tests.helpers import place, place_line
from tests.worker import ROOT, celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

T = TypeVar("T")

OUTBOX = Notification._meta.db_table
TERMINATED = "terminating connection due to administrator command"
# What a waiting writer's statement starts with: the outbox insert, its last write.
OUTBOX_INSERT = f'INSERT INTO "{OUTBOX}"'


# Holding a writer mid-transaction and ending its connection ---------------------------------


@contextmanager
def _outbox_inserts_held() -> Iterator[None]:
    """Until the block ends, every insert into the outbox waits (a SHARE lock, taken in this
    test's connection: readers pass, writers queue). Writes nothing of its own."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(OUTBOX)} IN SHARE MODE")
        yield


@dataclass(frozen=True)
class Waiting:
    """A backend waiting on this test's lock: its statement and the tables it has written
    to in its open transaction (a write takes ROW EXCLUSIVE on its table until the end)."""

    pid: int
    query: str
    written: frozenset[str]


_WAITING_SQL = """
    SELECT pid, query FROM pg_stat_activity
    WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))
    ORDER BY pid
"""
_WRITTEN_SQL = """
    SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    WHERE l.pid = %s AND l.granted AND l.mode = 'RowExclusiveLock'
    AND c.relkind = 'r' AND c.relpersistence = 'p'
"""


def _waiting() -> list[Waiting]:
    """The backends that wait on this test's connection, lowest pid first."""
    with connection.cursor() as cursor:
        # pg_stat_activity is read once per transaction unless told to read afresh, and
        # the test polls it from inside the transaction that holds the lock.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_WAITING_SQL)
        rows = cursor.fetchall()
        waiting = []
        for pid, query in rows:
            cursor.execute(_WRITTEN_SQL, [pid])
            waiting.append(Waiting(pid, query, frozenset(name for (name,) in cursor.fetchall())))
    return waiting


def _one_waiting(*, other_than: int | None = None) -> Waiting:
    """Wait for a backend (not `other_than`) to wait on this test's lock; return it."""

    def found() -> bool:
        return any(w.pid != other_than for w in _waiting())

    wait_until(found, "a writer to wait on the held outbox")
    waiting = [w for w in _waiting() if w.pid != other_than]
    assert len(waiting) == 1, waiting
    return waiting[0]


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone() == (True,)


class Attempt(Generic[T]):
    """`work()` in a thread of its own, so on a database connection of its own."""

    def __init__(self, work: Callable[[], T]) -> None:
        self.result: T | None = None
        self.error: BaseException | None = None
        self._work = work
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._work()
        except BaseException as error:  # kept, for the test to assert on
            self.error = error
        finally:
            connection.close()

    def join(self) -> None:
        self._thread.join(60)
        assert not self._thread.is_alive(), "the attempt never finished"


# What a write leaves behind -----------------------------------------------------------------


def _footprint() -> dict[str, Any]:
    """Every row and counter an order placement writes."""
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "events": OrderEvent.objects.count(),
        "eta changes": EtaChange.objects.count(),
        "idempotency keys": IdempotencyKey.objects.count(),
        "refused demand": RefusedDemand.objects.count(),
        "allocations": Allocation.objects.count(),
        "movements": StockMovement.objects.count(),
        "notifications": Notification.objects.count(),
        "stock": list(Stock.objects.order_by("pk").values_list("on_hand", "allocated")),
        "waiting units": list(
            Product.objects.order_by("pk").values_list("waiting_units", flat=True)
        ),
    }


def _lines(product: Product) -> list[tuple[str, int, int, int, str]]:
    """The product's lines, oldest first: (customer, quantity, allocated, backordered,
    status)."""
    return list(
        OrderLine.objects.filter(product=product)
        .order_by("pk")
        .values_list("order__name", "quantity", "allocated", "backordered", "status")
    )


def _stock(product: Product) -> list[tuple[int, int]]:
    return list(Stock.objects.filter(product=product).values_list("on_hand", "allocated"))


def _notices() -> list[tuple[str, str]]:
    """Every outbox row: (customer, kind), by customer and kind."""
    return list(Notification.objects.order_by("order__name", "kind").values_list("to", "kind"))


# What placement writes before its outbox row: its key, the order, lines, events, promises,
# allocations and ledger movements, the stock counters and the product's queue length.
PLACEMENT_WRITES = {
    "orders_idempotencykey",
    "orders_order",
    "orders_orderline",
    "orders_orderevent",
    "orders_etachange",
    "inventory_allocation",
    "inventory_stockmovement",
    "inventory_stock",
    "inventory_product",
}


# Placement ----------------------------------------------------------------------------------


def test_an_order_whose_connection_is_terminated_mid_placement_leaves_nothing_and_places_again(
    hoodie: Product,
):
    # given: three hoodies on the shelf
    stock_receive(product=hoodie, quantity=3)
    before = _footprint()

    # when: an order of five is placed, and its connection ends while it waits to write its
    # confirmation: the allocation of three and the backorder of two already written
    with _outbox_inserts_held():
        attempt = Attempt(lambda: place((hoodie, 5), who="ayu"))
        placing = _one_waiting()
        assert placing.query.startswith(OUTBOX_INSERT)
        assert placing.written >= PLACEMENT_WRITES - {"orders_idempotencykey"}
        _terminate(placing.pid)
        # Joined before the outbox is released: whatever it kept, it kept without the lock.
        attempt.join()

    # then: the caller got the database's error, and nothing of the order is left
    assert isinstance(attempt.error, OperationalError)
    assert TERMINATED in str(attempt.error)
    assert attempt.result is None
    assert _footprint() == before
    assert stock_drift() == []

    # when: the customer places it again
    order = place((hoodie, 5), who="ayu")

    # then: placed once, as it would have been the first time
    assert Order.objects.get().pk == order.pk
    assert _lines(hoodie) == [("ayu", 5, 3, 2, "backordered")]
    assert _stock(hoodie) == [(3, 3)]
    assert list(Allocation.objects.values_list("order_line__order_id", "quantity")) == [
        (order.pk, 3)
    ]
    assert _notices() == [("ayu@example.com", Notification.Kind.CONFIRMATION)]
    assert stock_drift() == []


def _post_order(key: str) -> Any:
    client = APIClient()
    # The answer a real client would get, rather than the test client raising the error.
    client.raise_request_exception = False
    body = {
        "email": "budi@example.com",
        "name": "budi",
        "locale": "en",
        "lines": [{"sku": "HOODIE-SE", "quantity": 5}],
    }
    return client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_an_api_order_cut_off_mid_placement_is_a_503_and_its_retry_with_the_key_places_it_once(
    hoodie: Product,
):
    # given: three hoodies on the shelf
    stock_receive(product=hoodie, quantity=3)
    before = _footprint()

    # when: an order of five is posted with an Idempotency-Key, and its connection ends once
    # the key is claimed and the order written, before its confirmation is
    with _outbox_inserts_held():
        attempt = Attempt(lambda: _post_order("checkout-7f3a"))
        placing = _one_waiting()
        assert placing.query.startswith(OUTBOX_INSERT)
        assert placing.written >= PLACEMENT_WRITES
        _terminate(placing.pid)
        attempt.join()

    # then: the API answered 503 (try again), and neither the order nor its key is kept
    assert attempt.error is None
    response = attempt.result
    assert response is not None
    assert (response.status_code, response["Retry-After"], response.json()) == (
        503,
        "10",
        {
            "error": {
                "code": "unavailable",
                "message": UNAVAILABLE_MESSAGE,
                "fields": {},
            }
        },
    )
    assert _footprint() == before
    assert stock_drift() == []

    # when: the client retries with the same key and body, then once more
    retried = _post_order("checkout-7f3a")
    replayed = _post_order("checkout-7f3a")

    # then: the retry placed the order (the key was free again) and the replay returned it
    assert (retried.status_code, retried.headers["Idempotent-Replayed"]) == (201, "false")
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    order = Order.objects.get()
    assert retried.json()["number"] == replayed.json()["number"] == order.number
    assert list(IdempotencyKey.objects.values_list("key", "order_id")) == [
        ("checkout-7f3a", order.pk)
    ]
    assert _lines(hoodie) == [("budi", 5, 3, 2, "backordered")]
    assert _stock(hoodie) == [(3, 3)]
    assert _notices() == [("budi@example.com", Notification.Kind.CONFIRMATION)]
    assert stock_drift() == []


# The refresh --------------------------------------------------------------------------------

# What the fill writes before its "ready to ship" rows: the lines' counters and events, the
# allocation rows, the ledger movements and the stock counters.
FILL_WRITES = {
    "orders_orderline",
    "orders_orderevent",
    "inventory_allocation",
    "inventory_stockmovement",
    "inventory_stock",
}


def _worker_log(node: str) -> list[str]:
    return (ROOT / "var" / f"worker-{node.split('@')[0]}.log").read_text().splitlines()


def test_a_refresh_whose_connection_is_terminated_runs_again_and_fills_the_queue_once(
    hoodie: Product,
):
    # given: three customers waiting for two hoodies each, ayu first
    for who in ("ayu", "budi", "claire"):
        place_line(hoodie, 2, who=who)
    confirmed = _notices()
    # A worker for refreshes only: nothing else in it writes the outbox or the queue.
    with celery_worker(kinds=("refresh",)) as node:
        with _outbox_inserts_held():
            # when: three hoodies arrive (committed on a connection of its own), and the
            # refresh they ask for is cut off once its fill is written
            receipt = Attempt(lambda: stock_receive(product=hoodie, quantity=3))
            receipt.join()
            assert receipt.error is None
            filling = _one_waiting()
            assert filling.query.startswith(OUTBOX_INSERT)
            assert filling.written >= FILL_WRITES
            _terminate(filling.pid)

            # then: the task runs again on a new connection and gets as far, while nothing
            # of the first attempt was kept
            again = _one_waiting(other_than=filling.pid)
            assert again.query.startswith(OUTBOX_INSERT)
            assert again.written >= FILL_WRITES
            assert _lines(hoodie) == [
                ("ayu", 2, 0, 2, "backordered"),
                ("budi", 2, 0, 2, "backordered"),
                ("claire", 2, 0, 2, "backordered"),
            ]
            assert _stock(hoodie) == [(3, 0)]
            assert not Allocation.objects.exists()
            assert stock_drift() == []

        # when: the outbox is let go, the second attempt commits
        wait_until(lambda: _stock(hoodie) == [(3, 3)], "the second attempt to commit")
    log = _worker_log(node)

    # then: the three units went to the head of the queue, each once
    assert _lines(hoodie) == [
        ("ayu", 2, 2, 0, "allocated"),
        ("budi", 2, 1, 1, "backordered"),
        ("claire", 2, 0, 2, "backordered"),
    ]
    assert list(
        Allocation.objects.order_by("pk").values_list("order_line__order__name", "quantity")
    ) == [("ayu", 2), ("budi", 1)]
    assert list(
        StockMovement.objects.filter(kind=StockMovement.Kind.ALLOCATION)
        .order_by("pk")
        .values_list("order_line__order__name", "quantity")
    ) == [("ayu", 2), ("budi", 1)]
    assert list(
        OrderEvent.objects.filter(kind=OrderEvent.Kind.ALLOCATED)
        .order_by("pk")
        .values_list("order__name", "quantity")
    ) == [("ayu", 2), ("budi", 1)]
    assert stock_drift() == []
    # and each customer whose line moved was told once
    assert confirmed == [
        ("ayu@example.com", Notification.Kind.CONFIRMATION),
        ("budi@example.com", Notification.Kind.CONFIRMATION),
        ("claire@example.com", Notification.Kind.CONFIRMATION),
    ]
    assert _notices() == [
        ("ayu@example.com", Notification.Kind.ALLOCATED),
        ("ayu@example.com", Notification.Kind.CONFIRMATION),
        ("budi@example.com", Notification.Kind.ALLOCATED),
        ("budi@example.com", Notification.Kind.CONFIRMATION),
        ("claire@example.com", Notification.Kind.CONFIRMATION),
    ]
    # and it was the task's own retry on the database error that ran it again, once
    retries = [
        line for line in log if "orders.tasks.refresh_products[" in line and "retry:" in line
    ]
    assert len(retries) == 1, retries
    assert "OperationalError" in retries[0]
    assert TERMINATED in retries[0]
    succeeded = [
        line for line in log if "orders.tasks.refresh_products[" in line and "succeeded" in line
    ]
    assert len(succeeded) == 1, succeeded

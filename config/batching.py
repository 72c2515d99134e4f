"""Work a transaction asks for after it commits: Celery tasks fed the ids it gathered.

The one mechanism for side effects that leave the process: product refreshes and email
deliveries. A service calls `after_commit(task, ids, args=...)` inside its transaction. Every
call for the same task and arguments in one transaction shares one bag of ids; once the
transaction commits, the bag goes out as one task message per `chunk` ids. A rollback drops
the bag; a savepoint rolled back drops only its own callback, never the bag the rest share
(a row it wrote is then simply not found by the task).

`gathered()` widens the scope from one transaction to a block of them: a worker refreshing
several products, each in its own transaction, sends their emails as one task at the end,
so a customer gets one email for the run.

Tasks are named, not imported: the services that ask for them sit below the task modules.
If the broker is unreachable the commit still stands; the first failure ends the sending,
since every further attempt would wait out the same outage (each waits at most
`BACKORDER_REDIS_TIMEOUT_SECONDS`: one try, no retry). What was not sent is handed to its
request's `keep` (product refreshes are kept in the database and sent again by the beat within
a minute); work with no `keep` is found by a sweep of its own (the outbox's pending rows).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from config.celery import app

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Request:
    """One kind of work: the task, the arguments after its ids, and how to send it."""

    task: str
    args: tuple[str, ...] = ()
    chunk: int = 0
    countdown: float = 0
    # What a failure to queue it says: "{count}" and "{ids}" are filled in.
    failure: str = "Could not queue {task} for {count} id(s)"
    # Given the ids not queued and `args` when the broker fails, to keep them for a sweep.
    keep: Callable[[list[int], tuple[str, ...]], None] | None = field(default=None, compare=False)


Bag = dict[Request, set[int]]


class _Flush:
    """An on-commit callback sharing its transaction's bag; the first to run sends it all."""

    def __init__(self, bag: Bag, request: Request, ids: frozenset[int]) -> None:
        self.bag = bag
        # What the call that registered this callback asked for.
        self.request = request
        self.ids = ids
        # Django names a robust callback that failed by its __qualname__ when it logs it.
        self.__qualname__ = "after_commit"

    def __call__(self) -> None:
        items = {request: set(ids) for request, ids in self.bag.items() if ids}
        self.bag.clear()
        if not items:
            return
        gathering = getattr(_gathering, "bag", None)
        if gathering is not None:
            _merge(gathering, items)
        else:
            send(items)


_gathering = threading.local()


def _merge(into: Bag, items: Bag) -> None:
    for request, ids in items.items():
        into.setdefault(request, set()).update(ids)


def after_commit(request: Request, ids: Iterable[int]) -> None:
    """Ask for `request` with `ids` once the current transaction commits (at once if none)."""
    connection = transaction.get_connection()
    bag: Bag | None = None
    if connection.in_atomic_block:
        for _, func, _ in connection.run_on_commit:
            if isinstance(func, _Flush):
                bag = func.bag
                break
    if bag is None:
        bag = {}
    asked = frozenset(ids)
    bag.setdefault(request, set()).update(asked)
    transaction.on_commit(_Flush(bag, request, asked), robust=True)


@contextmanager
def gathered() -> Iterator[None]:
    """Send the work of every transaction committed inside the block at its end, together.

    Rows are in the database from their own commit on; if the block never ends (the worker
    dies), the sweeps find them.
    """
    if getattr(_gathering, "bag", None) is not None:
        yield
        return
    _gathering.bag = {}
    try:
        yield
    finally:
        bag, _gathering.bag = _gathering.bag, None
        if bag:
            send(bag)


def send(bag: Bag) -> None:
    """Queue each request's ids, in sorted order, in chunks; stop at the first failure and
    hand what was not queued to each request's `keep`.

    No result is subscribed to or stored: nobody waits for these tasks.
    """
    unsent: list[tuple[Request, list[int]]] = []
    for request, id_set in sorted(bag.items()):
        ids = sorted(id_set)
        if unsent:
            unsent.append((request, ids))
            continue
        size = request.chunk or len(ids)
        for start in range(0, len(ids), size):
            try:
                app.send_task(
                    request.task,
                    args=(ids[start : start + size], *request.args),
                    countdown=request.countdown or None,
                    ignore_result=True,
                )
            except Exception:
                logger.exception(
                    request.failure.format(task=request.task, count=len(ids) - start, ids=ids)
                )
                unsent.append((request, ids[start:]))
                break
    for request, ids in unsent:
        if request.keep is not None and ids:
            try:
                request.keep(ids, request.args)
            except Exception:
                logger.exception("Could not keep %s for %s id(s): %s", request.task, len(ids), ids)

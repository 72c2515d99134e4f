"""Work a transaction asks for after commit, gathered into one call per transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


class _Flush:
    """An on-commit callback sharing its transaction's bag; the first to run sends it all."""

    def __init__(self, name: str, bag: dict[Any, Any], send: Callable[[dict[Any, Any]], None]):
        self.name = name
        self.bag = bag
        self.send = send
        # Django names a robust callback that failed by its __qualname__ when it logs it.
        self.__qualname__ = f"collect_on_commit[{name}]"

    def __call__(self) -> None:
        items = dict(self.bag)
        self.bag.clear()
        if items:
            self.send(items)


def collect_on_commit(
    name: str,
    add: Callable[[dict[Any, Any]], None],
    send: Callable[[dict[Any, Any]], None],
) -> None:
    """`add` to this transaction's bag called `name`; after commit, `send` gets the bag once.

    The bag lives only in callbacks Django holds for the transaction: a rollback drops it,
    and a savepoint rolled back drops only its own callback, never the bag the rest share.
    """
    connection = transaction.get_connection()
    bag: dict[Any, Any] | None = None
    if connection.in_atomic_block:
        for _, func, _ in connection.run_on_commit:
            if isinstance(func, _Flush) and func.name == name:
                bag = func.bag
                break
    if bag is None:
        bag = {}
    add(bag)
    transaction.on_commit(_Flush(name, bag, send), robust=True)

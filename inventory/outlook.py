"""The cache of each product's supply outlook (`selectors.SupplyOutlook`: its open
purchase-order supply and its suppliers' lead time), kept in the shared cache between
requests, and the one counter that invalidates it.

The outlook changes only when purchase orders, receipts, suppliers or their terms change,
never when an order is placed. Every such change asks for a refresh
(`inventory.refresh.refresh_after_commit`), which calls `supply_outlook_changed`: once the
transaction commits the generation counter moves on and every cached outlook is stale. An
outlook is stored with the generation and the day it was read under; a read takes the
generation and the outlooks in one cache call and uses only those of the current generation
and day. A read racing a change stores under the generation it saw, so what it stores is
never mistaken for current once the change has committed.

Inside a transaction that has changed supply, reads go to the database (its own changes are
not committed, so not in the cache). While the cache cannot be reached
(`config.cache.GuardedCache`) reads go to the database and changes cannot move the counter:
once it answers again the process moves it on, and no outlook outlives `OUTLOOK_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import TypeVar

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.db import connection, transaction

from config.cache import GuardedCache

T = TypeVar("T")

# The longest any outlook is kept: what a change lost to a cache outage can cost.
OUTLOOK_SECONDS = 300


def _generation_move(cache: BaseCache) -> None:
    """Make every outlook `cache` holds stale; a counter it lost starts afresh from the
    clock, never from a value it had before."""
    key = _prefix() + "generation"
    try:
        cache.incr(key)
    except ValueError:
        cache.add(key, time.time_ns(), None)


def _forget() -> None:
    _cache.apply(_generation_move)


_cache = GuardedCache(
    "default",
    stand_in=DummyCache("outlook-stand-in", {}),
    logger=logging.getLogger(__name__),
    falls_back="supply outlooks are read from the database",
    # Changes made meanwhile could not move the counter.
    on_return=_generation_move,
)


def _prefix() -> str:
    # Per database: test runs and sites sharing one Redis never read each other's outlooks.
    return f"outlook:{connection.settings_dict['NAME']}:"


def _changed_in_this_transaction() -> bool:
    return connection.in_atomic_block and any(
        entry[1] is _forget for entry in connection.run_on_commit
    )


def supply_outlook_changed() -> None:
    """Supply changes in this transaction: every cached outlook is stale once it commits."""
    if not _changed_in_this_transaction():
        transaction.on_commit(_forget, robust=True)


def supply_outlooks_forget() -> None:
    """Make every cached outlook stale now (for a database changed behind the services)."""
    _forget()


def supply_outlooks(
    product_ids: Sequence[int], today: date, read: Callable[[list[int]], dict[int, T]]
) -> dict[int, T]:
    """Each product's outlook on `today`: cached, or read with `read` (which must answer
    for every id it is given) and stored. One cache call when all are cached."""
    ids = list(dict.fromkeys(product_ids))
    if _changed_in_this_transaction():
        return read(ids)
    prefix = _prefix()
    generation_key = prefix + "generation"
    keys = {product_id: f"{prefix}{product_id}" for product_id in ids}
    found = _cache.call("get_many", [generation_key, *keys.values()])
    generation = found.get(generation_key)
    outlooks: dict[int, T] = {}
    for product_id, key in keys.items():
        entry = found.get(key)
        if entry is not None and generation is not None and entry[:2] == (generation, today):
            outlooks[product_id] = entry[2]
    missing = [product_id for product_id in ids if product_id not in outlooks]
    if not missing:
        return outlooks
    if generation is None:
        _cache.call("add", generation_key, time.time_ns(), None)
        generation = _cache.call("get", generation_key)
    fresh = read(missing)
    outlooks.update(fresh)
    if generation is not None:
        _cache.call(
            "set_many",
            {keys[product_id]: (generation, today, fresh[product_id]) for product_id in missing},
            OUTLOOK_SECONDS,
        )
    return outlooks

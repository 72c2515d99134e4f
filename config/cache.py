"""How a process uses a shared cache (Redis) it can live without: `GuardedCache`.

A cache call that fails or times out (`BACKORDER_REDIS_TIMEOUT_SECONDS`) sends every call of
the next `retry_seconds` to a stand-in without trying the shared cache, so a hung Redis costs
one request per process that long rather than every request, and the warning is logged once
per interval. What the stand-in is belongs to the user: the API throttles count in this
process's memory (`config.api.ThrottleCounts`); the supply outlook (`inventory.outlook`) has
none, so its reads go to the database.

Also the Redis cache backend the settings name (`RedisCache`): Django's, with one client per
connection pool instead of one built for every call, and `window_hit`, a counter of a time
window in one round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import BaseCache

T = TypeVar("T")


class GuardedCache:
    """The `alias` cache, or `stand_in` while it cannot be reached.

    `falls_back` ends the warning: what happens meanwhile ("API throttles count in this
    process"). `on_return`, if given, is applied to the shared cache when it answers again
    after a failure, before anything else is asked of it.
    """

    retry_seconds = 30.0

    def __init__(
        self,
        alias: str,
        *,
        stand_in: BaseCache,
        logger: logging.Logger,
        falls_back: str,
        on_return: Callable[[BaseCache], None] | None = None,
    ) -> None:
        self.alias = alias
        self.stand_in = stand_in
        self.logger = logger
        self.falls_back = falls_back
        self.on_return = on_return
        self._lock = threading.Lock()
        self._retry_at = 0.0  # time.monotonic() from which the shared cache is tried again
        self._failing = False

    def get(self, key: str, default: Any = None) -> Any:
        return self.call("get", key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self.call("set", key, value, timeout)

    def call(self, method: str, *args: Any) -> Any:
        """`method` of the shared cache, or of the stand-in while the shared one fails."""
        return self.apply(lambda cache: getattr(cache, method)(*args))

    def apply(self, use: Callable[[BaseCache], T]) -> T:
        """`use` of the shared cache, or of the stand-in while the shared one fails."""
        if time.monotonic() >= self._retry_at:
            cache = caches[self.alias]
            try:
                if self._failing:
                    if self.on_return is not None:
                        self.on_return(cache)
                    self._failing = False
                    self.logger.info("The %r cache answers again", self.alias)
                return use(cache)
            except Exception as error:
                self._unreachable(error)
        return use(self.stand_in)

    def _unreachable(self, error: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._retry_at:
                return  # another request of this process met the same outage and said so
            self._retry_at = now + self.retry_seconds
            self._failing = True
        self.logger.warning(
            "The %r cache cannot be reached (%s: %s); %s for the next %s s",
            self.alias,
            type(error).__name__,
            error,
            self.falls_back,
            self.retry_seconds,
        )


class _RedisCacheClient(django_redis.RedisCacheClient):
    """Django's Redis cache client, keeping its `redis.Redis` client per connection pool:
    Django builds one (with its table of some 200 reply callbacks) for every call, which
    cost a read of the API a fifth of a millisecond per cache call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django 5.2's own helpers (untyped): the pool for reads or writes, and redis.Redis.
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            # Thread-safe: a redis.Redis takes a connection from its pool for each command.
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            self._clients[index] = client
        return client


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with a client per connection pool."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _RedisCacheClient


def window_hit(cache: BaseCache, key: str, seconds: int) -> int:
    """Count one hit on counter `key`: the hits so far, this one included. The counter
    starts with its first hit and expires `seconds` later.

    On Redis, one round trip (a pipeline of `SET NX EX` and `INCR`); on any other cache,
    `add` then `incr`.
    """
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(full_key, write=True)  # type: ignore[attr-defined]
        pipeline = client.pipeline(transaction=False)
        pipeline.set(full_key, 0, ex=seconds, nx=True)
        pipeline.incr(full_key)
        return int(pipeline.execute()[1])
    cache.add(key, 0, seconds)
    try:
        return int(cache.incr(key))
    except ValueError:  # Expired between the two calls: a new window.
        cache.add(key, 0, seconds)
        return int(cache.incr(key))

"""How a process uses a shared cache (Redis) it can live without: `GuardedCache`.

A cache call that fails or times out (`BACKORDER_REDIS_TIMEOUT_SECONDS`) sends every call of
the next `retry_seconds` to a stand-in without trying the shared cache, so a hung Redis costs
one request per process that long rather than every request, and the warning is logged once
per interval. What the stand-in is belongs to the user: the API throttles count in this
process's memory (`config.api.ThrottleCounts`); the supply outlook (`inventory.outlook`) has
none, so its reads go to the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import caches
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

"""Redis hung or gone, for tests: freeze a private Redis, and call what must not wait for it.

A frozen Redis (SIGSTOP) still accepts connections, since the kernel queues them, but never
answers: the way a hung server looks to its clients. Whatever waits for it waits until it
is thawed, so a call that returns while it is frozen did not wait for it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection

from tests.worker import PrivateRedis

# Not a speed limit: far longer than any timeout of the code under test, and the test keeps
# Redis frozen until the call returns or this runs out, so only a call that waits for Redis
# to come back runs out.
HANG_SECONDS = 15

T = TypeVar("T")


@contextmanager
def frozen(server: PrivateRedis) -> Iterator[None]:
    """Stop `server` (SIGSTOP) for the block, then let it go on (SIGCONT)."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)


def finished_within_hang_limit(call: Callable[[], T]) -> T:
    """Run `call` in a thread of its own and return what it returns; fail the test if it is
    still running after `HANG_SECONDS`. The thread has its own database connection, closed
    at its end."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the test's thread
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    if thread.is_alive():
        raise AssertionError(f"Still waiting after {HANG_SECONDS}s: it waits for Redis")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]

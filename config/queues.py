"""The Celery queues, one per kind of work, and which tasks go to each.

A flood of one kind never delays another: ten thousand delay notices wait in "email" while a
receipt's reallocation runs from "refresh". Settings call `task_queues` (a test run prefixes
the names with its own, so runs side by side never take each other's tasks).
"""

from __future__ import annotations

from kombu import Exchange, Queue

# Kind -> the task modules and names routed to it; the first match wins, exact names first.
KINDS: dict[str, tuple[str, ...]] = {
    # A customer's status-link email is an email, though the orders app sends it.
    "email": ("orders.tasks.send_status_link", "notifications.tasks.*"),
    "refresh": ("orders.tasks.*",),
    "replenishment": ("inventory.tasks.*",),
}


def queue_name(kind: str, prefix: str = "") -> str:
    return f"{prefix}{kind}"


def task_queues(prefix: str, default: str) -> tuple[list[Queue], dict[str, dict[str, str]]]:
    """The queues a worker serves (every kind and the default) and the routes to them."""
    # Each queue bound by its own name to an exchange of its own name: queues that shared
    # Celery's default binding would each get a copy of every task.
    names = [default, *(queue_name(kind, prefix) for kind in KINDS)]
    queues = [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in names]
    routes = {
        pattern: {"queue": queue_name(kind, prefix)}
        for kind, patterns in KINDS.items()
        for pattern in patterns
    }
    return queues, routes

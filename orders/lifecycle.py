"""The one door through which an order line's status moves.

Services change a line's counters, then call `line_change`, which derives the new status,
checks the transition is allowed and returns the event row that records it. The customer
timeline and the admin history both read those rows. No status is written but the one
`line_change` derived: services save it with the line's counters, or with `statuses_save`.
Events of lines carry line statuses only; an order's own events (placed, priority, delivery
choice) carry none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from config.sql import chunked, execute, table
from inventory.exceptions import InvalidTransition
from orders.models import OrderEvent, OrderLine

Status = OrderLine.Status

_TERMINAL = {Status.SHIPPED, Status.CANCELLED}
_OPEN = {Status.ALLOCATED, Status.BACKORDERED, Status.PREORDERED}
ALLOWED: dict[str, set[Status]] = {
    "": _OPEN,
    Status.ALLOCATED: _OPEN | _TERMINAL,
    Status.BACKORDERED: _OPEN | _TERMINAL,
    Status.PREORDERED: _OPEN | _TERMINAL,
    Status.SHIPPED: set(),
    Status.CANCELLED: set(),
}


def recorded_actor(actor: Any) -> Any:
    """The user to record as having made a change; None for the system or an anonymous user."""
    return actor if getattr(actor, "pk", None) else None


def derive_status(line: OrderLine, *, preorder: bool) -> str:
    if line.quantity - line.shipped - line.cancelled == 0:
        return Status.SHIPPED if line.shipped else Status.CANCELLED
    if line.backordered:
        return Status.PREORDERED if preorder else Status.BACKORDERED
    return Status.ALLOCATED


def line_change(
    line: OrderLine,
    *,
    kind: str,
    quantity: int | None = None,
    preorder: bool | None = None,
    actor: Any = None,
    message: str = "",
) -> OrderEvent:
    """Move `line` to the status its counters now imply; return the unsaved event.

    `preorder` says whether backordered units are pre-orders; by default a pre-ordered line
    stays pre-ordered. The caller saves the line and the event in its transaction.
    """
    if preorder is None:
        preorder = line.status == Status.PREORDERED
    before = line.status
    after = derive_status(line, preorder=preorder)
    if after != before and after not in ALLOWED[before]:
        raise InvalidTransition(f"An order line cannot go from {before} to {after}.")
    line.status = after
    return OrderEvent(
        order_id=line.order_id,
        line=line,
        kind=kind,
        quantity=quantity,
        status_before=before,
        status_after=after,
        actor=recorded_actor(actor),
        message=message[:255],
    )


def filled_status_sql(remaining: str) -> str:
    """The status of a waiting line once a fill leaves `remaining` (SQL) units waiting:
    `derive_status` for a line with units still open and none pre-ordered."""
    return (
        f"(CASE WHEN {remaining} > 0 THEN '{Status.BACKORDERED.value}'"
        f" ELSE '{Status.ALLOCATED.value}' END)"
    )


def fill_events_insert(*, fill: str, now: datetime) -> None:
    """Record an "allocated" event for every line the fill in scratch table `fill` (columns
    `line_id`, `order_id`, `status_before`, `units`) reached, after the lines were saved
    with their new status. One statement however many lines."""
    line, event = table(OrderLine), table(OrderEvent)
    execute(
        f"INSERT INTO {event} (order_id, line_id, kind, quantity, status_before, status_after,"
        f" message, actor_id, created_at)"
        f" SELECT f.order_id, f.line_id, %s, f.units, f.status_before, l.status, '', NULL, %s"
        f" FROM (SELECT line_id, order_id, status_before, SUM(units) AS units FROM {fill}"
        f" GROUP BY line_id, order_id, status_before) f JOIN {line} l ON l.id = f.line_id"
        f" ORDER BY f.line_id",
        [OrderEvent.Kind.ALLOCATED.value, now],
    )


def statuses_save(lines: Sequence[OrderLine]) -> None:
    """Write the status `line_change` gave each line, one statement per status."""
    by_status: dict[str, list[int]] = defaultdict(list)
    for line in lines:
        by_status[line.status].append(line.pk)
    for status, line_ids in by_status.items():
        for chunk in chunked(line_ids):
            OrderLine.objects.filter(pk__in=chunk).update(status=status)

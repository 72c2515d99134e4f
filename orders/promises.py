"""What each customer was promised and told: the only writer of `OrderLine.notified_eta`,
and of a waiting line's ETA moves (`etas_move`: the new ETA, the first promise, the
`EtaChange` row and the notice owed, together).

A line's `notified_eta` is the ship date its customer last read in an email. The
confirmation tells every line's ETA; afterwards an ETA that moves away from the told date
owes a delay notice (any later date, or a date no longer known) or good news (a date now
known, or at least `BACKORDER_EARLIER_NOTICE_DAYS` earlier). A smaller improvement is kept
quiet, and the told date stays, so many small moves add up to one notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from django.conf import settings

from config.sql import days_before, execute, table
from notifications import outbox
from notifications.models import Notification
from orders.models import EtaChange, OrderLine


def eta_kind(told: date | None, eta: date | None) -> str | None:
    """Which notice a move from the told ETA to `eta` owes, if any."""
    if told == eta:
        return None
    if eta is None:
        return Notification.Kind.DELAY
    if told is None:
        return Notification.Kind.EARLIER
    if eta > told:
        return Notification.Kind.DELAY
    if (told - eta).days >= settings.BACKORDER_EARLIER_NOTICE_DAYS:
        return Notification.Kind.EARLIER
    return None


def promise_placed(lines: Sequence[OrderLine]) -> None:
    """New lines, not yet saved: their ETA is their first promise, and the confirmation
    (`outbox.confirmation_notice`, written once they are saved) tells it."""
    for line in lines:
        line.first_promised_eta = line.notified_eta = line.eta


def eta_kind_sql(told: str, eta: str) -> str:
    """`eta_kind` in SQL, for the columns (or expressions) `told` and `eta`."""
    delay, earlier = Notification.Kind.DELAY.value, Notification.Kind.EARLIER.value
    threshold = days_before(told, settings.BACKORDER_EARLIER_NOTICE_DAYS)
    return (
        f"(CASE WHEN {told} IS NULL AND {eta} IS NULL THEN NULL"
        f" WHEN {eta} IS NULL THEN '{delay}'"
        f" WHEN {told} IS NULL THEN '{earlier}'"
        f" WHEN {told} = {eta} THEN NULL"
        f" WHEN {eta} > {told} THEN '{delay}'"
        f" WHEN {eta} <= {threshold} THEN '{earlier}'"
        f" ELSE NULL END)"
    )


def etas_move(*, moves: str, cause: str, detail: str, now: datetime) -> int:
    """Save the ETA moves in scratch table `moves` and tell the customers owed a notice;
    return how many lines moved.

    `moves` has the columns `line_id`, `order_id`, `previous`, `eta`, `waiting` (1 for a
    line still waiting), `seq` (queue order) and `kind`, the notice each move owes
    (`eta_kind_sql` of the told and new date; NULL for none, and always for allocated lines,
    whose customer hears when they ship). One statement saves each line's ETA, its first
    promise if it had none, and the new told date where a notice is owed; one records the
    moves as `EtaChange` rows at `now`; one writes the notices, one per order and kind.
    """
    line, change = table(OrderLine), table(EtaChange)
    moved = execute(
        f"UPDATE {line} SET eta = m.eta, first_promised_eta = COALESCE(first_promised_eta, m.eta),"
        f" notified_eta = CASE WHEN m.kind IS NULL THEN notified_eta ELSE m.eta END"
        f" FROM {moves} m WHERE {line}.id = m.line_id"
    )
    if not moved:
        return 0
    execute(
        f"INSERT INTO {change} (order_id, line_id, previous, eta, cause, detail, created_at)"
        f" SELECT order_id, line_id, previous, eta, %s, %s, %s FROM {moves}"
        f" ORDER BY waiting DESC, seq, line_id",
        [cause, detail[:255], now],
    )
    outbox.eta_notices(
        told=(
            f"SELECT m.line_id, m.order_id, m.told, m.eta, m.kind, c.id AS change_id"
            f" FROM {moves} m JOIN {change} c ON c.order_id = m.order_id"
            f" AND c.created_at = %s AND c.line_id = m.line_id WHERE m.kind IS NOT NULL"
        ),
        params=[now],
        cause=cause,
        now=now,
    )
    return moved

"""What each customer was told: the only writer of `OrderLine.notified_eta`.

A line's `notified_eta` is the ship date its customer last read in an email. The
confirmation tells every line's ETA; afterwards an ETA that moves away from the told date
owes a delay notice (any later date, or a date no longer known) or good news (a date now
known, or at least `BACKORDER_EARLIER_NOTICE_DAYS` earlier). A smaller improvement is kept
quiet, and the told date stays, so many small moves add up to one notice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from django.conf import settings

from config.sql import chunked
from notifications import outbox
from notifications.models import Notification
from notifications.outbox import EtaMove
from orders.models import OrderLine


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


def promises_tell(*, moves: Iterable[EtaMove], cause: str = "") -> list[EtaMove]:
    """Waiting lines' ETAs moved: owe the notices due, one per order and kind, and record
    each told line's new date. Returns the moves told."""
    owed: dict[tuple[int, str], list[EtaMove]] = defaultdict(list)
    for move in moves:
        kind = eta_kind(move.told, move.eta)
        if kind is not None:
            owed[(move.order_id, kind)].append(move)
    if not owed:
        return []
    outbox.eta_notices(owed=owed, cause=cause)
    told = [move for order_moves in owed.values() for move in order_moves]
    by_date: dict[date | None, list[int]] = defaultdict(list)
    for move in told:
        by_date[move.eta].append(move.line_id)
    for eta, line_ids in by_date.items():
        for chunk in chunked(line_ids):
            OrderLine.objects.filter(pk__in=chunk).update(notified_eta=eta)
    return told

"""The ETA rule, pure: plain frozen dataclasses in, dates out. No ORM and no clock.

For one product, the backorder queue is walked in allocation order against its supply sorted
by date: free stock first (today), then open purchase-order quantities by expected date (an
overdue delivery counts as today). A line's ETA is the date its last backordered unit is
covered. Past all scheduled supply it is today plus the product's lead time, never earlier
than the last scheduled supply date, and unknown (None) when there is no lead time.
The handling time (days between arrival and shipping) is added, and nothing ships before the
product's release date. A later line never gets an earlier ETA than a line before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Basis(StrEnum):
    """What a line's ETA rests on."""

    STOCK = "stock"
    PURCHASE_ORDER = "purchase_order"
    LEAD_TIME = "lead_time"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Incoming:
    """Units of one purchase-order line still to arrive."""

    quantity: int
    expected_date: date
    source_id: int | None = None


@dataclass(frozen=True)
class EtaRule:
    today: date
    lead_time_days: int | None = None
    handling_days: int = 0
    release_date: date | None = None

    def ship_date(self, arrival: date | None) -> date | None:
        """When goods arriving on `arrival` ship: handling added, not before release."""
        if arrival is None:
            return None
        shipped = arrival + timedelta(days=self.handling_days)
        if self.release_date is not None and shipped < self.release_date:
            return self.release_date
        return shipped

    @property
    def ready(self) -> date:
        """The ETA of units already allocated: they ship after handling."""
        shipped = self.ship_date(self.today)
        assert shipped is not None
        return shipped


@dataclass(frozen=True)
class Coverage:
    """Where a queue position is covered: the arrival date and what brings it."""

    arrival: date | None
    basis: Basis
    source_id: int | None = None


@dataclass(frozen=True)
class QueuedUnits:
    """A line in the backorder queue with the units it still waits for."""

    line_id: int
    backordered: int


@dataclass(frozen=True)
class LineEta:
    line_id: int
    eta: date | None
    basis: Basis
    source_id: int | None = None


class Timeline:
    """A product's supply in date order, answering "when is the n-th waiting unit covered?"."""

    def __init__(self, *, free: int, incoming: Iterable[Incoming], rule: EtaRule) -> None:
        self.rule = rule
        today = rule.today
        self._slots: list[tuple[int, Coverage]] = []
        if free > 0:
            self._slots.append((free, Coverage(today, Basis.STOCK)))
        scheduled = sorted(
            (i for i in incoming if i.quantity > 0),
            key=lambda i: (i.expected_date, i.source_id or 0),
        )
        for item in scheduled:
            arrival = max(item.expected_date, today)
            self._slots.append(
                (item.quantity, Coverage(arrival, Basis.PURCHASE_ORDER, item.source_id))
            )
        last = max((i.expected_date for i in scheduled), default=None)
        if rule.lead_time_days is None:
            self._beyond = Coverage(None, Basis.UNKNOWN)
        else:
            arrival = today + timedelta(days=rule.lead_time_days)
            if last is not None and last > arrival:
                arrival = last
            self._beyond = Coverage(arrival, Basis.LEAD_TIME)

    def coverage(self, position: int) -> Coverage:
        """Where the unit at 1-based `position` in the queue is covered."""
        if position <= 0:
            return Coverage(self.rule.today, Basis.STOCK)
        covered = 0
        for quantity, where in self._slots:
            covered += quantity
            if position <= covered:
                return where
        return self._beyond

    def steps(self) -> list[tuple[int | None, date | None]]:
        """The ETA as a step function of queue position: (last position, ETA) pairs in queue
        order, the last with position None for every unit past all scheduled supply.

        A line's ETA is that of the first step reaching its last waiting unit: what `etas`
        gives it, in a form set-based code can apply to a queue of any length (the queue's
        running sums joined to the steps). Neighbouring steps with the same ETA are merged.
        """
        steps: list[tuple[int | None, date | None]] = []
        end = 0
        previous: date | None = None
        for quantity, where in self._slots:
            end += quantity
            eta = self.rule.ship_date(where.arrival)
            if previous is not None and eta is not None and eta < previous:
                eta = previous
            previous = eta or previous
            if steps and steps[-1][1] == eta:
                steps[-1] = (end, eta)
            else:
                steps.append((end, eta))
        beyond = self.rule.ship_date(self._beyond.arrival)
        if previous is not None and beyond is not None and beyond < previous:
            beyond = previous
        if steps and steps[-1][1] == beyond:
            steps.pop()
        steps.append((None, beyond))
        return steps

    def walk(self, queue: Sequence[QueuedUnits]) -> Iterator[LineEta]:
        """ETAs of the queue in allocation order, in one pass over queue and supply."""
        covered = self._covered(line.backordered for line in queue)
        for line, (eta, where) in zip(queue, covered, strict=True):
            yield LineEta(line.line_id, eta, where.basis, where.source_id)

    def etas(self, units: Iterable[int]) -> list[date | None]:
        """`walk`'s ETAs alone, for queue lines given only by their waiting units."""
        return [eta for eta, _ in self._covered(units)]

    def _covered(self, units: Iterable[int]) -> Iterator[tuple[date | None, Coverage]]:
        """(ETA, coverage) of each line waiting for `units`, in allocation order.

        The ETA is worked out once per supply slot: every line a slot covers shares it.
        """
        slots = iter(self._slots)
        slot_end, where = 0, Coverage(self.rule.today, Basis.STOCK)
        position = 0
        previous: date | None = None
        eta: date | None = None
        exhausted, advanced = False, True
        for backordered in units:
            position += backordered
            while not exhausted and position > slot_end:
                advanced = True
                try:
                    quantity, where = next(slots)
                    slot_end += quantity
                except StopIteration:
                    exhausted, where = True, self._beyond
            if advanced:
                advanced = False
                eta = self.rule.ship_date(where.arrival)
                # Never earlier than a line ahead: the rule is monotone already, this keeps it.
                if previous is not None and eta is not None and eta < previous:
                    eta = previous
                if eta is not None:
                    previous = eta
            yield eta, where

    def quote(self, *, ahead: int, quantity: int) -> LineEta:
        """The ETA of a new line of `quantity` units queued behind `ahead` waiting units.

        `quantity` counts every unit of the new line, including those free stock covers now.
        """
        where = self.coverage(ahead + quantity)
        return LineEta(0, self.rule.ship_date(where.arrival), where.basis, where.source_id)


def queue_etas(
    queue: Sequence[QueuedUnits],
    *,
    free: int,
    incoming: Iterable[Incoming],
    rule: EtaRule,
) -> list[LineEta]:
    """The ETA of every queued line; `queue` must be in allocation order."""
    return list(Timeline(free=free, incoming=incoming, rule=rule).walk(queue))

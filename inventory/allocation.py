"""The allocation rule, pure: plain frozen dataclasses in, a plan out.

No ORM and no clock: callers pass `today` and the figures they read under the stock locks.

The rule:
- Free stock is used first, from warehouses with a higher priority first.
- Units already backordered for a product have the first claim on its free stock, so a new
  order never overtakes an older backorder that the reallocation worker has not filled yet.
- The rest is backordered if the product's policy allows it and its backorder cap holds
  (backordered plus pre-ordered units), else the line is refused with a code.
- A `preorder` product before its release date takes pre-orders only: no stock is allocated
  until release.
- Backorders are filled strictly in queue order (priority, then order time, then line id):
  a line gets nothing while a line ahead of it still waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Policy(StrEnum):
    DENY = "deny"
    BACKORDER = "backorder"
    PREORDER = "preorder"


class RefusalCode(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    BACKORDER_LIMIT = "backorder_limit"
    MAX_PER_ORDER = "max_per_order"
    NOT_RELEASED = "not_released"


@dataclass(frozen=True)
class ProductRules:
    product_id: int
    policy: Policy
    backorder_limit: int | None = None
    max_per_order: int | None = None
    release_date: date | None = None
    backordered: int = 0
    """Units of this product backordered or pre-ordered by open lines right now."""

    def takes_preorders(self, today: date) -> bool:
        return (
            self.policy is Policy.PREORDER
            and self.release_date is not None
            and today < self.release_date
        )

    def is_released(self, today: date) -> bool:
        return self.release_date is None or today >= self.release_date


@dataclass(frozen=True)
class Supply:
    """Free stock of one product in one warehouse."""

    stock_id: int
    product_id: int
    priority: int
    free: int


@dataclass(frozen=True)
class RequestedLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class LinePlan:
    product_id: int
    quantity: int
    allocations: tuple[tuple[int, int], ...]
    """(stock id, units) pairs."""
    backordered: int
    preordered: bool

    @property
    def allocated(self) -> int:
        return sum(units for _, units in self.allocations)


@dataclass(frozen=True)
class Refusal:
    line_index: int
    product_id: int
    code: RefusalCode
    message: str


@dataclass(frozen=True)
class OrderPlan:
    lines: tuple[LinePlan, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.refusals


@dataclass(frozen=True)
class QueuedLine:
    """A line waiting in a product's backorder queue."""

    line_id: int
    backordered: int
    priority: int = 0
    created_at: datetime | None = None

    @property
    def queue_key(self) -> tuple[int, datetime | None, int]:
        return (-self.priority, self.created_at, self.line_id)


@dataclass(frozen=True)
class LineFill:
    line_id: int
    allocations: tuple[tuple[int, int], ...]

    @property
    def allocated(self) -> int:
        return sum(units for _, units in self.allocations)


@dataclass
class _Pool:
    """Free stock of one product, consumed in warehouse priority order."""

    remaining: list[list[int]] = field(default_factory=list)  # [stock_id, free] pairs

    @classmethod
    def of(cls, supply: Iterable[Supply]) -> _Pool:
        ordered = sorted(supply, key=lambda s: (-s.priority, s.stock_id))
        return cls([[s.stock_id, s.free] for s in ordered if s.free > 0])

    @property
    def free(self) -> int:
        return sum(free for _, free in self.remaining)

    def take(self, wanted: int) -> tuple[tuple[int, int], ...]:
        taken: list[tuple[int, int]] = []
        for slot in self.remaining:
            if wanted == 0:
                break
            units = min(wanted, slot[1])
            if units:
                taken.append((slot[0], units))
                slot[1] -= units
                wanted -= units
        return tuple(taken)


def _unpromised(rules: ProductRules, supply: Iterable[Supply]) -> _Pool:
    """The product's free stock less the units its waiting backorders and pre-orders claim
    first."""
    pool = _Pool.of(s for s in supply if s.product_id == rules.product_id)
    pool.take(rules.backordered)
    return pool


def unpromised_units(rules: ProductRules, supply: Iterable[Supply]) -> int:
    """Units of the product in stock now and promised to no one: on hand, less what is
    allocated, less what its backorders and pre-orders hold; never negative."""
    return _unpromised(rules, supply).free


def plan_order(
    lines: Sequence[RequestedLine],
    rules: Mapping[int, ProductRules],
    supply: Iterable[Supply],
    today: date,
) -> OrderPlan:
    """Decide, for each requested line, what is allocated where and what is backordered.

    The plan is accepted only if every line is; otherwise it lists every refusal.
    """
    supply = list(supply)
    # Existing backorders claim free stock before any new order.
    pools = {product_id: _unpromised(rules[product_id], supply) for product_id in rules}

    ordered_per_product: dict[int, int] = {}
    for line in lines:
        ordered_per_product[line.product_id] = (
            ordered_per_product.get(line.product_id, 0) + line.quantity
        )
    backordered_per_product = {pid: r.backordered for pid, r in rules.items()}

    planned: list[LinePlan] = []
    refusals: list[Refusal] = []
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise ValueError("Line quantities must be positive.")
        product = rules[line.product_id]
        if product.max_per_order is not None and (
            ordered_per_product[line.product_id] > product.max_per_order
        ):
            refusals.append(
                Refusal(
                    index,
                    line.product_id,
                    RefusalCode.MAX_PER_ORDER,
                    f"At most {product.max_per_order} per order.",
                )
            )
            continue
        if not product.is_released(today) and product.policy is not Policy.PREORDER:
            refusals.append(
                Refusal(
                    index,
                    line.product_id,
                    RefusalCode.NOT_RELEASED,
                    f"Not on sale before {product.release_date}.",
                )
            )
            continue

        preordered = product.takes_preorders(today)
        allocations = () if preordered else pools[line.product_id].take(line.quantity)
        shortfall = line.quantity - sum(units for _, units in allocations)
        if shortfall:
            if product.policy is Policy.DENY:
                refusals.append(
                    Refusal(index, line.product_id, RefusalCode.OUT_OF_STOCK, "Out of stock.")
                )
                continue
            already = backordered_per_product[line.product_id]
            if product.backorder_limit is not None and (
                already + shortfall > product.backorder_limit
            ):
                room = max(product.backorder_limit - already, 0)
                verb = "pre-ordered" if preordered else "backordered"
                refusals.append(
                    Refusal(
                        index,
                        line.product_id,
                        RefusalCode.BACKORDER_LIMIT,
                        f"Only {room} more can be {verb}.",
                    )
                )
                continue
            backordered_per_product[line.product_id] = already + shortfall
        planned.append(
            LinePlan(
                product_id=line.product_id,
                quantity=line.quantity,
                allocations=allocations,
                backordered=shortfall,
                preordered=preordered,
            )
        )
    if refusals:
        return OrderPlan(refusals=tuple(refusals))
    return OrderPlan(lines=tuple(planned))


def fill_backorders(queue: Iterable[QueuedLine], supply: Iterable[Supply]) -> list[LineFill]:
    """Fill a product's backorder queue from its free stock, strictly in queue order.

    `queue` must already be in queue order (see `QueuedLine.queue_key`); the head of the
    queue takes all it can before the next line gets anything.
    """
    pool = _Pool.of(supply)
    fills: list[LineFill] = []
    for line in queue:
        if pool.free == 0:
            break
        allocations = pool.take(line.backordered)
        if allocations:
            fills.append(LineFill(line.line_id, allocations))
        if sum(units for _, units in allocations) < line.backordered:
            break
    return fills


def release_allocations(
    allocations: Iterable[tuple[int, int, int]], quantity: int
) -> list[tuple[int, int]]:
    """Choose which allocated units to give back: lowest-priority warehouse first.

    `allocations` are (stock id, warehouse priority, units); returns (stock id, units).
    """
    if quantity < 0:
        raise ValueError("Cannot release a negative quantity.")
    released: list[tuple[int, int]] = []
    for stock_id, _, units in sorted(allocations, key=lambda a: (a[1], -a[0])):
        if quantity == 0:
            break
        if units <= 0:
            continue
        taken = min(units, quantity)
        released.append((stock_id, taken))
        quantity -= taken
    if quantity:
        raise ValueError("Cannot release more units than are allocated.")
    return released

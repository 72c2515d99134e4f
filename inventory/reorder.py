"""The reorder rule, pure: figures in, a reorder decision out. No ORM and no clock.

For one product:
- **Inventory position** = free stock + on order (placed purchase orders still to arrive)
  + drafts (purchase orders not yet placed) - backordered units.
- **Safety stock** = z * sqrt(L * sd_d^2 + d^2 * sd_L^2): d and sd_d are the forecast's daily
  mean and standard deviation, L and sd_L the supplier's lead time in days (quoted plus
  measured delay) and its spread, z the standard normal quantile of the product's service level.
- **Reorder point** = d * L + safety stock, rounded up to whole units.
- **Order-up-to level** = d * (L + review period) + safety stock, rounded up, and at least
  one above the reorder point, so that an order lifts the position clear of it.
- When the position is at or below the reorder point, order the difference up to the
  order-up-to level, at least the supplier's minimum order quantity, in whole packs.
  Figures the shop fixed by hand on the product replace the computed ones.
- The **service level** defaults by the product's ABC class of sales value: the products
  making the first 80% of the value are A (98%), the next 15% B (95%), the rest C (90%).

Supplier choice: the preferred supplier (rank 1) is chosen unless another supplier that
carries the product likely delivers sooner (its 90th-percentile lead time) by enough that the
waiting it saves the backlog, units x days x the waiting cost per unit-day, outweighs what its
higher price costs on the order. Between equal offers the preferred one stays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from statistics import NormalDist

# Shares of the sales value that close each class, and each class's service level.
CLASS_SHARES = (("A", 0.80), ("B", 0.95), ("C", 1.0))
SERVICE_LEVELS = {"A": 0.98, "B": 0.95, "C": 0.90}


def abc_classes(sales_value: Mapping[int, float]) -> dict[int, str]:
    """Each product's class by its share of the total sales value, largest first; products
    that sold nothing are C. A product straddling a boundary takes the class it starts in."""
    total = sum(value for value in sales_value.values() if value > 0)
    classes: dict[int, str] = {}
    running = 0.0
    for pk, value in sorted(sales_value.items(), key=lambda item: (-item[1], item[0])):
        if value <= 0 or total <= 0:
            classes[pk] = "C"
            continue
        share_before = running / total
        running += value
        classes[pk] = next(name for name, upto in CLASS_SHARES if share_before < upto)
    return classes


def z_score(service_level: float) -> float:
    """The standard normal quantile of `service_level` (0.95 gives 1.645)."""
    return NormalDist().inv_cdf(service_level)


@dataclass(frozen=True)
class Position:
    free: int
    on_order: int
    drafts: int
    backordered: int

    @property
    def units(self) -> int:
        return self.free + self.on_order + self.drafts - self.backordered


@dataclass(frozen=True)
class Fixed:
    """Figures the shop set by hand on the product; None: computed."""

    service_level: float | None = None
    safety_stock: int | None = None
    reorder_point: int | None = None
    order_up_to: int | None = None


@dataclass(frozen=True)
class Plan:
    """The reorder figures of one product and how they were reached."""

    daily_mean: float
    daily_sd: float
    lead_days: float
    lead_sd: float
    review_days: int
    service_level: float
    z: float
    safety_stock: int
    reorder_point: int
    order_up_to: int
    position: int
    quantity: int
    """Units to order now: 0 when the position is above the reorder point."""
    fixed: tuple[str, ...] = ()
    """Which figures were fixed by hand."""

    @property
    def explanation(self) -> str:
        parts = [
            f"Demand {self.daily_mean:.2f}/day (sd {self.daily_sd:.2f}), lead time "
            f"{self.lead_days:.1f} days (sd {self.lead_sd:.1f}), review {self.review_days} days.",
            f"Service level {self.service_level:.1%} (z {self.z:.2f}): safety stock "
            f"{self.safety_stock} = z * sqrt(L * sd_d^2 + d^2 * sd_L^2); reorder point"
            f" {self.reorder_point}"
            f" = d * L + safety stock; order up to {self.order_up_to} = d * (L + review)"
            " + safety stock.",
        ]
        if self.fixed:
            parts.append("Fixed by hand: " + ", ".join(self.fixed) + ".")
        return " ".join(parts)


def round_to_terms(units: int, *, minimum: int = 1, pack: int = 1) -> int:
    """`units` raised to the minimum order quantity, then up to whole packs."""
    if units <= 0:
        return 0
    units = max(units, minimum)
    pack = max(pack, 1)
    return math.ceil(units / pack) * pack


def plan(
    *,
    daily_mean: float,
    daily_sd: float,
    lead_days: float,
    lead_sd: float,
    review_days: int,
    service_level: float,
    position: int,
    minimum: int = 1,
    pack: int = 1,
    fixed: Fixed = Fixed(),
) -> Plan:
    """The reorder figures for one product from its forecast and its supplier's lead time."""
    chosen: list[str] = []
    if fixed.service_level is not None:
        service_level = fixed.service_level
        chosen.append("service level")
    z = z_score(service_level)
    computed_safety = z * math.sqrt(lead_days * daily_sd**2 + daily_mean**2 * lead_sd**2)
    safety = max(0, math.ceil(computed_safety - 1e-9))
    if fixed.safety_stock is not None:
        safety = fixed.safety_stock
        chosen.append("safety stock")
    reorder_point = math.ceil(daily_mean * lead_days - 1e-9) + safety
    if fixed.reorder_point is not None:
        reorder_point = fixed.reorder_point
        chosen.append("reorder point")
    order_up_to = math.ceil(daily_mean * (lead_days + review_days) - 1e-9) + safety
    if fixed.order_up_to is not None:
        order_up_to = fixed.order_up_to
        chosen.append("order-up-to level")
    # Above the reorder point, so that an order brings the position out of reach of the next
    # review: an order-up-to level at the reorder point would order again every night.
    order_up_to = max(order_up_to, reorder_point + 1)
    quantity = 0
    if position <= reorder_point:
        quantity = round_to_terms(order_up_to - position, minimum=minimum, pack=pack)
    return Plan(
        daily_mean=daily_mean,
        daily_sd=daily_sd,
        lead_days=lead_days,
        lead_sd=lead_sd,
        review_days=review_days,
        service_level=service_level,
        z=z,
        safety_stock=safety,
        reorder_point=reorder_point,
        order_up_to=order_up_to,
        position=position,
        quantity=quantity,
        fixed=tuple(chosen),
    )


# Supplier choice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """What one supplier would deliver of the product."""

    supplier_id: int
    name: str
    rank: int
    unit_cost: Decimal | None
    lead_days: float
    """Mean lead time: quoted plus the mean measured delay."""
    lead_sd: float
    likely_days: int
    """The 90th percentile of the lead time: the arrival promised to the backlog."""
    minimum: int = 1
    pack: int = 1


class Why(StrEnum):
    PREFERRED = "preferred"
    ONLY = "only"
    FASTER = "faster"


@dataclass(frozen=True)
class Choice:
    offer: Offer
    why: Why
    reason: str
    quantity: int
    """The units to order from this supplier: its minimum and packs applied."""


def choose_supplier(
    offers: Sequence[Offer],
    *,
    quantity: int,
    backlog_units: int,
    waiting_cost: Decimal,
) -> Choice:
    """The supplier to order `quantity` from (see the module's rule). `waiting_cost` is what
    one unit waiting one day costs the shop; `backlog_units` the backlog the order would
    serve. An alternative whose cost or the preferred one's is unknown wins on speed only
    when both costs are unknown."""
    if not offers:
        raise ValueError("No supplier offers the product.")
    ordered = sorted(offers, key=lambda offer: (offer.rank, offer.supplier_id))
    preferred = ordered[0]
    units = round_to_terms(quantity, minimum=preferred.minimum, pack=preferred.pack)
    if len(ordered) == 1:
        return Choice(
            preferred,
            Why.ONLY,
            f"Only {preferred.name} carries it, likely in {preferred.likely_days} days.",
            units,
        )
    best: tuple[Decimal, Offer, int, int, Decimal] | None = None
    for offer in ordered[1:]:
        saved_days = preferred.likely_days - offer.likely_days
        if saved_days <= 0:
            continue
        offer_units = round_to_terms(quantity, minimum=offer.minimum, pack=offer.pack)
        if (offer.unit_cost is None) != (preferred.unit_cost is None):
            continue
        extra = Decimal(0)
        if offer.unit_cost is not None and preferred.unit_cost is not None:
            extra = offer.unit_cost * offer_units - preferred.unit_cost * units
        served = min(backlog_units, offer_units)
        net = Decimal(served * saved_days) * waiting_cost - extra
        if net > 0 and (best is None or net > best[0]):
            best = (net, offer, saved_days, offer_units, extra)
    if best is None:
        return Choice(
            preferred,
            Why.PREFERRED,
            f"Preferred supplier {preferred.name}, likely in {preferred.likely_days} days.",
            units,
        )
    _, offer, saved_days, offer_units, extra = best
    served = min(backlog_units, offer_units)
    weighed = f"outweigh {extra} extra cost" if extra > 0 else "at no extra cost"
    return Choice(
        offer,
        Why.FASTER,
        f"{offer.name} likely arrives {saved_days} days before {preferred.name}: "
        f"{served} waiting units x {saved_days} days x {waiting_cost} {weighed}.",
        offer_units,
    )


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile of `values` by linear interpolation (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

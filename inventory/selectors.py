"""Read-only queries over stock."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Sum

from inventory.models import Allocation, Stock, StockMovement
from orders.models import OrderLine


@dataclass(frozen=True)
class Drift:
    what: str
    expected: int
    actual: int

    def __str__(self) -> str:
        return f"{self.what}: expected {self.expected}, found {self.actual}"


def stock_drift() -> list[Drift]:
    """Everything where the counters disagree with the ledger or the allocation rows.

    Checks, for every stock row, that replaying its ledger gives `on_hand` and `allocated`, and
    that its allocation rows add up to `allocated`; and for every order line, that its
    allocation rows add up to its `allocated`. Four queries, whatever the size of the shop.
    """
    replay_on_hand: dict[int, int] = defaultdict(int)
    replay_allocated: dict[int, int] = defaultdict(int)
    for stock_id, kind, total in (
        StockMovement.objects.values("stock_id", "kind")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "kind", "total")
        .order_by()
    ):
        if kind in StockMovement.ON_HAND_KINDS:
            replay_on_hand[stock_id] += total
        if kind in StockMovement.ALLOCATED_KINDS:
            replay_allocated[stock_id] += total
    allocated_rows = dict(
        Allocation.objects.values("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
        .order_by()
    )
    drift: list[Drift] = []
    for stock in Stock.objects.select_related("product", "warehouse").order_by("pk"):
        label = f"stock {stock.product.sku}@{stock.warehouse.code}"
        checks = (
            ("on_hand vs ledger", replay_on_hand[stock.pk], stock.on_hand),
            ("allocated vs ledger", replay_allocated[stock.pk], stock.allocated),
            ("allocated vs allocation rows", allocated_rows.get(stock.pk, 0), stock.allocated),
        )
        drift.extend(Drift(f"{label} {what}", e, a) for what, e, a in checks if e != a)
    line_rows = dict(
        Allocation.objects.values("order_line_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_line_id", "total")
        .order_by()
    )
    for line_id, allocated in OrderLine.objects.filter(allocated__gt=0).values_list(
        "pk", "allocated"
    ):
        if line_rows.get(line_id, 0) != allocated:
            drift.append(
                Drift(
                    f"order line {line_id} allocated vs allocation rows",
                    line_rows.get(line_id, 0),
                    allocated,
                )
            )
    orphaned = set(line_rows) - set(
        OrderLine.objects.filter(allocated__gt=0).values_list("pk", flat=True)
    )
    drift.extend(
        Drift(f"order line {line_id} allocated vs allocation rows", line_rows[line_id], 0)
        for line_id in sorted(orphaned)
    )
    return drift

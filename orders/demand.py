"""Daily demand per product: what customers asked for, day by day, the forecast's input.
The one place "demand" is defined.

A day's demand is the units customers ordered that day (every placed line's quantity,
allocated, backordered or pre-ordered alike: a backorder is demand kept) plus the units the
product's rules refused (`RefusedDemand`: checkout, the API and the storefront's "add to
cart"; out-of-stock demand is demand lost, but demand). Days are the shop's (`TIME_ZONE`).
For days the shop has no record of its own, history imported with `manage.py demand_import`
(`DemandHistory`) stands in: a day with orders or refusals here uses those, else the
imported row, else nothing was asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from inventory.models import DemandHistory
from orders.models import OrderLine, RefusedDemand


def day_start(day: date) -> datetime:
    """The first moment of `day` in the shop's time zone: where the shop's days begin."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class DemandDay:
    day: date
    ordered: int = 0
    """Units ordered: allocated, backordered or pre-ordered."""
    refused: int = 0
    """Units asked for and refused by the product's rules."""
    imported: bool = False
    """The figures come from imported history, not from this shop's records."""

    @property
    def units(self) -> int:
        """All that customers asked for."""
        return self.ordered + self.refused


def daily_demand(
    product_ids: Iterable[int], *, first: date, last: date
) -> dict[int, list[DemandDay]]:
    """Every day from `first` to `last` for each product, days without demand included.
    Three queries, whatever the number of products and days (callers with many products
    ask for them in chunks: a year of days each)."""
    ids = sorted(set(product_ids))
    zone = timezone.get_current_timezone()
    start, end = day_start(first), day_start(last + timedelta(days=1))
    own: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    lines = OrderLine.objects.filter(product_id__in=ids, queued_at__gte=start, queued_at__lt=end)
    refusals = RefusedDemand.objects.filter(
        product_id__in=ids, created_at__gte=start, created_at__lt=end
    )
    for index, (rows, moment) in enumerate(((lines, "queued_at"), (refusals, "created_at"))):
        per_day = (
            rows.annotate(day=TruncDate(moment, tzinfo=zone))
            .values("product_id", "day")
            .annotate(units=Sum("quantity"))
            .order_by()
        )
        for row in per_day:
            own[(row["product_id"], row["day"])][index] += row["units"]
    imported = {
        (pk, day): (quantity, refused_units)
        for pk, day, quantity, refused_units in DemandHistory.objects.filter(
            product_id__in=ids, day__gte=first, day__lte=last
        ).values_list("product_id", "day", "quantity", "refused")
    }
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    series: dict[int, list[DemandDay]] = {}
    for pk in ids:
        series[pk] = []
        for day in days:
            key = (pk, day)
            if key in own:
                units, refused_units = own[key]
                series[pk].append(DemandDay(day, units, refused_units))
            elif key in imported:
                units, refused_units = imported[key]
                series[pk].append(DemandDay(day, units, refused_units, imported=True))
            else:
                series[pk].append(DemandDay(day))
    return series

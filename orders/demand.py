"""Daily demand per product: what customers asked for, day by day, the forecast's input.
The one place "demand" is defined.

A day's demand is the units customers ordered that day (every placed line's quantity,
allocated, backordered or pre-ordered alike: a backorder is demand kept; less the units staff
cancelled as entered in error, which never were demand) plus the units the
product's rules refused (`RefusedDemand`: checkout, the API and the storefront's "add to
cart"; out-of-stock demand is demand lost, but demand). Days are the shop's (`TIME_ZONE`).
For days the shop has no record of its own, history imported with `manage.py demand_import`
(`DemandHistory`) stands in: a day with orders or refusals here uses those, else the
imported row, else nothing was asked for.

Days out of stock (`stockout_days`) come from the stock ledger: a day the product had no
free unit from its start to its end. On such a day a product that cannot be backordered
could not sell, so its demand is unknown rather than nil (refusals aside).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Case, F, IntegerField, Min, QuerySet, Sum, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from inventory.models import DemandHistory, Stock, StockMovement
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
    counted: tuple[tuple[QuerySet[Any], str, Any], ...] = (
        (lines, "queued_at", F("quantity") - F("cancelled_in_error")),
        (refusals, "created_at", F("quantity")),
    )
    for index, (rows, moment, measure) in enumerate(counted):
        per_day = (
            rows.annotate(day=TruncDate(moment, tzinfo=zone))
            .values("product_id", "day")
            .annotate(units=Sum(measure))
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


def stockout_days(product_ids: Iterable[int], *, first: date, last: date) -> dict[int, set[date]]:
    """The days from `first` to `last` each product had no free stock all day long.

    Free stock is on hand minus allocated: today's, from the counters, walked back through
    the ledger's daily changes (receipts, adjustments and returns add; allocations take;
    deallocations give back; a shipment leaves free stock as it was). Before a product's
    first movement the ledger knows nothing of its stock, so no day before it counts (a
    product imported from elsewhere sold there). Three queries."""
    ids = sorted(set(product_ids))
    zone = timezone.get_current_timezone()
    free_now: dict[int, int] = dict.fromkeys(ids, 0)
    for pk, units in (
        Stock.objects.filter(product_id__in=ids)
        .values("product_id")
        .annotate(units=Sum(F("on_hand") - F("allocated")))
        .values_list("product_id", "units")
        .order_by()
    ):
        free_now[pk] = units or 0
    on_hand = [StockMovement.Kind.RECEIPT, StockMovement.Kind.ADJUSTMENT, StockMovement.Kind.RETURN]
    allocated = [StockMovement.Kind.ALLOCATION, StockMovement.Kind.DEALLOCATION]
    change = Case(
        When(kind__in=on_hand, then=F("quantity")),
        When(kind__in=allocated, then=-F("quantity")),
        default=Value(0),
        output_field=IntegerField(),
    )
    began = {
        pk: timezone.localtime(moment).date()
        for pk, moment in StockMovement.objects.filter(stock__product_id__in=ids)
        .values("stock__product_id")
        .annotate(first=Min("created_at"))
        .values_list("stock__product_id", "first")
        .order_by()
    }
    changes: dict[int, dict[date, int]] = defaultdict(dict)
    for pk, day, units in (
        StockMovement.objects.filter(stock__product_id__in=ids, created_at__gte=day_start(first))
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("stock__product_id", "day")
        .annotate(units=Sum(change))
        .values_list("stock__product_id", "day", "units")
        .order_by()
    ):
        changes[pk][day] = units or 0
    out: dict[int, set[date]] = {}
    for pk in ids:
        days: set[date] = set()
        if pk not in began:
            out[pk] = days
            continue
        per_day = changes.get(pk, {})
        # Walk back from now: `closing` is the free stock at the end of `day`.
        closing = free_now[pk] - sum(units for day, units in per_day.items() if day > last)
        day = last
        while day >= max(first, began[pk]):
            opening = closing - per_day.get(day, 0)
            if closing <= 0 and opening <= 0:
                days.add(day)
            closing = opening
            day -= timedelta(days=1)
        out[pk] = days
    return out

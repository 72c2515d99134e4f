"""Replenishment: the half of the job that prevents backorders. The one owner of what to
reorder, how much, from whom and when, of the nightly forecasts, and of demand-spike alerts.

- **Forecasts** (`forecasts_refresh`, each night): every product's daily demand
  (`orders.demand`) over `BACKORDER_FORECAST_HISTORY_DAYS` goes through the forecast rule
  (`inventory.forecast`); the result is kept in `ProductForecast`, with the product's ABC
  class of sales value. A day out of stock on which a product that cannot be backordered
  sold nothing counts as unknown demand, not as none.
- **Suggestions** (`suggestions`): per product, the reorder rule (`inventory.reorder`) on its
  inventory position, its forecast and the lead time of the supplier chosen for it: quoted
  lead time plus the delays measured on that supplier's receipts (mean and spread for the
  safety stock, the 90th percentile for the date promised).
- **Drafts** (`drafts_create`): suggestions become draft purchase orders, one per supplier
  (split into orders of at most `MAX_PURCHASE_LINES` lines).
  The products are locked while their positions are read again and the drafts written, so
  a staff action and the nightly run at the same moment never draft one need twice: once
  drafted, the draft is in the position and the need is gone.
- **The nightly run** (`nightly_run`): forecasts, then, with `BACKORDER_NIGHTLY_DRAFTS`,
  drafts; a supplier marked auto-order has its nightly drafts placed by themselves while
  the day's automatic spend with it stays within its cap, and the purchasing staff are
  told what was placed (or held back by the cap).
- **Spikes** (`spikes_check`, hourly): units asked for (refusals included) in the last day
  and the last three days against the night's forecast (products of lumpy demand, rare big
  orders, are left out: a big order is their normal); a significant excess of at least
  `BACKORDER_SPIKE_MIN_UNITS` gives one alert per product per `BACKORDER_SPIKE_WINDOW_DAYS`,
  on the dashboard and by email to the purchasing staff, with the backlog it leaves at
  current supply.
"""

from __future__ import annotations

import logging
import math
import resource
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from config.roles import PURCHASING_PERMISSION, staff_emails
from inventory import forecast as forecasting
from inventory import reorder, selectors
from inventory.checks import MAX_PURCHASE_LINES
from inventory.locks import lock_products, lock_supplier
from inventory.models import (
    DemandHistory,
    Product,
    ProductForecast,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    SpikeAlert,
    Supplier,
    SupplierProduct,
)
from inventory.purchasing import PurchaseLineRequest, purchase_order_create, purchase_order_place
from notifications import outbox
from orders.demand import daily_demand, day_start, stockout_days
from orders.models import OrderLine, RefusedDemand

logger = logging.getLogger(__name__)

# Products read and forecast together: one query of each kind per chunk.
CHUNK = 500
# Days of expected demand kept with each nightly forecast: enough for any lead time plus
# the review period; past it the last day's level holds.
KEPT_DAYS = 120
# The share of the lead-time distribution promised as the arrival date.
ARRIVAL_PERCENTILE = 0.9
# A nightly forecast older than this is made again when a suggestion needs it.
FORECAST_FRESH_DAYS = 1


# Suppliers' lead times ----------------------------------------------------------------------


@dataclass(frozen=True)
class LeadProfile:
    """How late a supplier delivers, from its receipts (days; negative when early)."""

    receipts: int = 0
    mean_delay: float = 0.0
    sd_delay: float = 0.0
    likely_delay: float = 0.0
    """The 90th percentile of the delay."""


def lead_profiles(supplier_ids: Iterable[int]) -> dict[int, LeadProfile]:
    """Each supplier's delay record; a supplier with fewer receipts than the ETA engine
    trusts (`RELIABILITY_MIN_RECEIPTS`) is taken at its word."""
    delays: dict[int, list[float]] = defaultdict(list)
    for supplier_id, delay in PurchaseReceipt.objects.filter(
        line__purchase_order__supplier_id__in=sorted(set(supplier_ids))
    ).values_list("line__purchase_order__supplier_id", "delay_days"):
        delays[supplier_id].append(float(delay))
    profiles = {}
    for supplier_id, values in delays.items():
        count = len(values)
        if count < selectors.RELIABILITY_MIN_RECEIPTS:
            profiles[supplier_id] = LeadProfile(receipts=count)
            continue
        mean = sum(values) / count
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (count - 1))
        profiles[supplier_id] = LeadProfile(
            receipts=count,
            mean_delay=mean,
            sd_delay=spread,
            likely_delay=reorder.percentile(values, ARRIVAL_PERCENTILE),
        )
    return profiles


def offers(product_ids: Iterable[int]) -> dict[int, list[reorder.Offer]]:
    """What each active supplier carrying the product would deliver, preferred first."""
    terms = list(
        SupplierProduct.objects.filter(
            product_id__in=sorted(set(product_ids)), supplier__is_active=True
        )
        .select_related("supplier")
        .order_by("product_id", "rank", "pk")
    )
    profiles = lead_profiles({term.supplier_id for term in terms})
    result: dict[int, list[reorder.Offer]] = defaultdict(list)
    for term in terms:
        profile = profiles.get(term.supplier_id, LeadProfile())
        quoted = term.quoted_lead_time_days
        result[term.product_id].append(
            reorder.Offer(
                supplier_id=term.supplier_id,
                name=term.supplier.name,
                rank=term.rank,
                unit_cost=term.unit_cost,
                lead_days=max(quoted + profile.mean_delay, 0.0),
                lead_sd=profile.sd_delay,
                likely_days=max(math.ceil(quoted + profile.likely_delay - 1e-9), 0),
                minimum=term.minimum_order_quantity,
                pack=term.pack_size,
            )
        )
    return result


# Demand and forecasts -----------------------------------------------------------------------


def demand_series(
    products: Sequence[Product], *, first: date, last: date
) -> dict[int, list[float | None]]:
    """Each product's units asked for per day, oldest first: None for a day its demand is
    unknown (out of stock all day, not backorderable, nothing ordered or refused here)."""
    ids = [product.pk for product in products]
    days = daily_demand(ids, first=first, last=last)
    unsellable = [p.pk for p in products if p.backorder_policy == Product.BackorderPolicy.DENY]
    out = stockout_days(unsellable, first=first, last=last) if unsellable else {}
    series: dict[int, list[float | None]] = {}
    for pk in ids:
        blind = out.get(pk, set())
        series[pk] = [
            None if (d.day in blind and not d.units and not d.imported) else float(d.units)
            for d in days[pk]
        ]
    return series


def _money() -> DecimalField[Decimal, Decimal]:
    return DecimalField(max_digits=20, decimal_places=2)


def since_first_demand(history: Sequence[float | None]) -> list[float | None]:
    """`history` from its first day with demand: the days before, the product was not
    selling yet (or not here), and would read as a long run of nothing asked for."""
    for index, value in enumerate(history):
        if value:
            return list(history[index:])
    return []


def sales_values(*, first: date, last: date) -> dict[int, float]:
    """Each product's sales value over the days: lines ordered here at their price, and
    imported history at the product's price. Two queries."""
    values: dict[int, float] = defaultdict(float)
    money = _money()
    for pk, value in (
        OrderLine.objects.filter(
            queued_at__gte=day_start(first), queued_at__lt=day_start(last + timedelta(days=1))
        )
        .values("product_id")
        .annotate(value=Sum(ExpressionWrapper(F("quantity") * F("unit_price"), output_field=money)))
        .values_list("product_id", "value")
        .order_by()
    ):
        values[pk] += float(value or 0)
    for pk, value in (
        DemandHistory.objects.filter(day__gte=first, day__lte=last)
        .values("product_id")
        .annotate(
            value=Sum(ExpressionWrapper(F("quantity") * F("product__price"), output_field=money))
        )
        .values_list("product_id", "value")
        .order_by()
    ):
        values[pk] += float(value or 0)
    return dict(values)


def history_window(today: date) -> tuple[date, date]:
    """The days a forecast made on `today` learns from: up to yesterday."""
    return today - timedelta(days=settings.BACKORDER_FORECAST_HISTORY_DAYS), today - timedelta(1)


def product_forecast(
    product: Product, *, days: int, today: date | None = None
) -> tuple[forecasting.Forecast, list[float | None]]:
    """The forecast of one product for `days` days from tomorrow (the API and the chart),
    made now from history up to yesterday; today, unfinished, counts as unknown. With the
    history it was made from."""
    today = today or timezone.localdate()
    first, last = history_window(today)
    history = since_first_demand(demand_series([product], first=first, last=last)[product.pk])
    return forecasting.forecast([*history, None], days), history


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


@dataclass
class ForecastRun:
    products: int = 0
    methods: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0


def forecasts_refresh(
    product_ids: Sequence[int] | None = None, *, today: date | None = None
) -> ForecastRun:
    """Forecast every product (or `product_ids`) from its history and keep the result."""
    started = time.monotonic()
    today = today or timezone.localdate()
    first, last = history_window(today)
    classes = reorder.abc_classes(sales_values(first=first, last=last))
    ids = (
        sorted(product_ids)
        if product_ids is not None
        else list(Product.objects.order_by("pk").values_list("pk", flat=True))
    )
    run = ForecastRun()
    for chunk in _chunks(ids):
        products = list(Product.objects.filter(pk__in=chunk).order_by("pk"))
        series = demand_series(products, first=first, last=last)
        rows = []
        for product in products:
            history = since_first_demand(series[product.pk])
            made = forecasting.forecast(history, KEPT_DAYS)
            shape = forecasting.demand_shape(history)
            rows.append(
                ProductForecast(
                    product=product,
                    computed_on=today,
                    method=str(made.method),
                    shape=str(shape.shape),
                    daily_mean=float(made.daily_mean),
                    daily_sd=float(made.daily_sd),
                    daily=[round(float(value), 4) for value in made.expected],
                    abc_class=classes.get(product.pk, "C"),
                    history_days=sum(value is not None for value in history),
                )
            )
            run.methods[str(made.method)] += 1
        ProductForecast.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["product"],
            update_fields=[
                "computed_on",
                "method",
                "shape",
                "daily_mean",
                "daily_sd",
                "daily",
                "abc_class",
                "history_days",
                "computed_at",
            ],
        )
        run.products += len(rows)
    run.seconds = time.monotonic() - started
    return run


def _kept_forecasts(products: Sequence[Product], today: date) -> dict[int, ProductForecast]:
    """The night's forecasts of `products`, made again for any missing or stale."""
    kept = {
        row.product_id: row
        for row in ProductForecast.objects.filter(
            product_id__in=[p.pk for p in products],
            computed_on__gte=today - timedelta(days=FORECAST_FRESH_DAYS),
        )
    }
    missing = [p.pk for p in products if p.pk not in kept]
    if missing:
        forecasts_refresh(missing, today=today)
        kept.update(
            {row.product_id: row for row in ProductForecast.objects.filter(product_id__in=missing)}
        )
    return kept


def _mean_over(row: ProductForecast, today: date, days: float) -> float:
    """Mean expected daily demand over the next `days` days from `today`."""
    start = max((today - row.computed_on).days, 0)
    daily = list(row.daily) or [row.daily_mean]
    span = max(math.ceil(days), 1)
    values = [float(daily[min(start + n, len(daily) - 1)]) for n in range(span)]
    return sum(values) / len(values)


# Suggestions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductPlan:
    """One product's reorder figures, whether or not it needs an order now."""

    product: Product
    position: reorder.Position
    plan: reorder.Plan
    choice: reorder.Choice | None
    forecast: ProductForecast
    arrives: date | None

    @property
    def quantity(self) -> int:
        return self.choice.quantity if self.choice and self.plan.quantity else 0

    @property
    def covers(self) -> int:
        """Backordered units this order would cover that no stock or supply covers yet."""
        return min(self.quantity, max(-self.position.units, 0))

    @property
    def reason(self) -> str:
        if self.choice is None:
            return "No active supplier carries this product."
        below = (
            f"Position {self.position.units} is at or below the reorder point "
            f"{self.plan.reorder_point}; ordering up to {self.plan.order_up_to}."
        )
        return f"{below} {self.choice.reason}"


def drafts_of(product_ids: Iterable[int]) -> dict[int, int]:
    """Units on draft purchase orders per product."""
    return dict(
        PurchaseOrderLine.objects.filter(
            product_id__in=list(product_ids), purchase_order__status=PurchaseOrder.Status.DRAFT
        )
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values_list("product_id", "units")
        .order_by()
    )


def positions(products: Sequence[Product]) -> dict[int, reorder.Position]:
    """Each product's inventory position parts, read now. Three queries."""
    ids = [product.pk for product in products]
    free = selectors.free_units_of(ids)
    incoming = selectors.incoming_supply(ids)
    on_order = {pk: sum(item.quantity for item in rows) for pk, rows in incoming.items()}
    drafts = drafts_of(ids)
    return {
        p.pk: reorder.Position(
            free=max(free.get(p.pk, 0), 0),
            on_order=on_order.get(p.pk, 0),
            drafts=drafts.get(p.pk, 0),
            backordered=p.waiting_units,
        )
        for p in products
    }


def _fixed(product: Product) -> reorder.Fixed:
    return reorder.Fixed(
        service_level=float(product.service_level) if product.service_level is not None else None,
        safety_stock=product.safety_stock,
        reorder_point=product.reorder_point,
        order_up_to=product.order_up_to,
    )


def product_plans(products: Sequence[Product], *, today: date) -> dict[int, ProductPlan]:
    """The reorder figures of `products` (see the module's rule)."""
    kept = _kept_forecasts(products, today)
    parts = positions(products)
    carried = offers([p.pk for p in products])
    review = settings.BACKORDER_REVIEW_PERIOD_DAYS
    rate = Decimal(str(settings.BACKORDER_WAITING_COST_RATE))
    plans = {}
    for product in products:
        row = kept[product.pk]
        position = parts[product.pk]
        choices = carried.get(product.pk, [])
        preferred = min(choices, key=lambda o: (o.rank, o.supplier_id)) if choices else None
        lead_days = preferred.lead_days if preferred else float(product.lead_time_days or 0)
        lead_sd = preferred.lead_sd if preferred else 0.0
        service = reorder.SERVICE_LEVELS[row.abc_class]
        figures = reorder.plan(
            daily_mean=_mean_over(row, today, lead_days + review),
            daily_sd=row.daily_sd,
            lead_days=lead_days,
            lead_sd=lead_sd,
            review_days=review,
            service_level=service,
            position=position.units,
            fixed=_fixed(product),
        )
        choice = None
        if choices:
            choice = reorder.choose_supplier(
                choices,
                quantity=max(figures.quantity, 1),
                backlog_units=max(-position.units, 0),
                waiting_cost=product.price * rate,
            )
            if choice.offer is not preferred:
                # The chosen supplier's own lead time sets the figures.
                figures = reorder.plan(
                    daily_mean=_mean_over(row, today, choice.offer.lead_days + review),
                    daily_sd=row.daily_sd,
                    lead_days=choice.offer.lead_days,
                    lead_sd=choice.offer.lead_sd,
                    review_days=review,
                    service_level=service,
                    position=position.units,
                    fixed=_fixed(product),
                )
            choice = reorder.Choice(
                choice.offer,
                choice.why,
                choice.reason,
                reorder.round_to_terms(
                    figures.quantity, minimum=choice.offer.minimum, pack=choice.offer.pack
                ),
            )
        plans[product.pk] = ProductPlan(
            product=product,
            position=position,
            plan=figures,
            choice=choice,
            forecast=row,
            arrives=today + timedelta(days=choice.offer.likely_days) if choice else None,
        )
    return plans


def suggestions(
    *, today: date | None = None, skus: Sequence[str] | None = None
) -> list[ProductPlan]:
    """Every product that needs ordering now from a supplier that carries it: the products
    with the most backorders to cover first, then by SKU."""
    today = today or timezone.localdate()
    products = Product.objects.order_by("pk")
    if skus is not None:
        products = products.filter(sku__in=list(skus))
    ids = list(products.values_list("pk", flat=True))
    found: list[ProductPlan] = []
    for chunk in _chunks(ids):
        batch = list(Product.objects.filter(pk__in=chunk).order_by("pk"))
        found.extend(
            plan for plan in product_plans(batch, today=today).values() if plan.quantity > 0
        )
    found.sort(key=lambda plan: (-plan.covers, plan.product.sku))
    return found


# Drafts and automatic orders ----------------------------------------------------------------


@dataclass(frozen=True)
class Drafted:
    purchase_order: PurchaseOrder
    lines: tuple[tuple[str, int], ...]
    """(SKU, units) per line."""


@transaction.atomic
def drafts_create(
    *,
    skus: Sequence[str] | None = None,
    origin: str = PurchaseOrder.Origin.SUGGESTIONS,
    actor: Any = None,
    today: date | None = None,
) -> list[Drafted]:
    """Draft purchase orders for the suggestions (of `skus`, or all), one per supplier.

    The products concerned are locked, then their positions read again: a need a draft or
    open purchase order covers meanwhile (another staff action, the nightly run) is not
    drafted twice."""
    today = today or timezone.localdate()
    candidates = suggestions(today=today, skus=skus)
    if not candidates:
        return []
    locked = lock_products(plan.product.pk for plan in candidates)
    fresh = product_plans([locked[pk] for pk in sorted(locked)], today=today)
    per_supplier: dict[int, list[ProductPlan]] = defaultdict(list)
    for plan in fresh.values():
        if plan.quantity > 0 and plan.choice is not None:
            per_supplier[plan.choice.offer.supplier_id].append(plan)
    suppliers = Supplier.objects.in_bulk(list(per_supplier))
    drafted = []
    for supplier_id in sorted(per_supplier):
        plans = sorted(per_supplier[supplier_id], key=lambda p: p.product.sku)
        # One draft per supplier, split when it would pass the lines a purchase order holds.
        for start in range(0, len(plans), MAX_PURCHASE_LINES):
            part = plans[start : start + MAX_PURCHASE_LINES]
            purchase_order = purchase_order_create(
                supplier=suppliers[supplier_id],
                lines=[
                    PurchaseLineRequest(
                        sku=plan.product.sku,
                        quantity=plan.quantity,
                        expected_date=plan.arrives or today,
                    )
                    for plan in part
                ],
                notes="\n".join(f"{plan.product.sku}: {plan.reason}" for plan in part),
                place=False,
                origin=origin,
                actor=actor,
                today=today,
            )
            drafted.append(
                Drafted(purchase_order, tuple((plan.product.sku, plan.quantity) for plan in part))
            )
    return drafted


def _at_cost(lines: QuerySet[PurchaseOrderLine]) -> Decimal:
    """What `lines` cost: ordered units at their unit cost."""
    total = lines.aggregate(
        value=Sum(ExpressionWrapper(F("quantity") * F("unit_cost"), output_field=_money()))
    )["value"]
    return total or Decimal(0)


def auto_spent(supplier_id: int, today: date) -> Decimal:
    """What orders placed by themselves spent with the supplier on `today`."""
    return _at_cost(
        PurchaseOrderLine.objects.filter(
            purchase_order__supplier_id=supplier_id,
            purchase_order__auto_placed=True,
            purchase_order__ordered_at__gte=day_start(today),
            purchase_order__ordered_at__lt=day_start(today + timedelta(days=1)),
        )
    )


@dataclass(frozen=True)
class AutoOrder:
    purchase_order: PurchaseOrder
    value: Decimal
    placed: bool
    """False: held back as a draft, the day's cap would be passed."""


def auto_orders_place(drafted: Sequence[Drafted], *, today: date) -> list[AutoOrder]:
    """Place the drafts of auto-order suppliers within each one's daily cap; tell staff."""
    done = []
    staff = staff_emails(PURCHASING_PERMISSION)
    for item in drafted:
        purchase_order = item.purchase_order
        with transaction.atomic():
            # The supplier's lock serialises its day's spend: two runs never both fit the cap.
            supplier = lock_supplier(purchase_order.supplier_id)
            if supplier is None or not supplier.auto_order or supplier.auto_order_daily_cap is None:
                continue
            value = _at_cost(PurchaseOrderLine.objects.filter(purchase_order=purchase_order))
            spent = auto_spent(supplier.pk, today)
            placed = spent + value <= supplier.auto_order_daily_cap
            if placed:
                purchase_order = purchase_order_place(
                    purchase_order_id=purchase_order.pk, today=today, automatic=True
                )
            outbox.auto_ordered_notice(
                purchase_order=purchase_order,
                placed=placed,
                value=value,
                spent=spent + (value if placed else Decimal(0)),
                cap=supplier.auto_order_daily_cap,
                staff=staff,
            )
        done.append(AutoOrder(purchase_order, value, placed))
    return done


@dataclass
class NightlyRun:
    forecasts: ForecastRun
    suggestions: int = 0
    drafted: list[Drafted] = field(default_factory=list)
    auto: list[AutoOrder] = field(default_factory=list)
    seconds: float = 0.0
    peak_memory_mb: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "products": self.forecasts.products,
            "methods": dict(self.forecasts.methods),
            "suggestions": self.suggestions,
            "drafted": [item.purchase_order.pk for item in self.drafted],
            "placed": [item.purchase_order.pk for item in self.auto if item.placed],
            "held_by_cap": [item.purchase_order.pk for item in self.auto if not item.placed],
            "seconds": round(self.seconds, 3),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
        }


def nightly_run(*, today: date | None = None, drafts: bool | None = None) -> NightlyRun:
    """Forecast every product; with drafts on (`BACKORDER_NIGHTLY_DRAFTS` by default),
    draft the suggestions and place the auto-order suppliers' drafts within their caps."""
    started = time.monotonic()
    today = today or timezone.localdate()
    drafts = settings.BACKORDER_NIGHTLY_DRAFTS if drafts is None else drafts
    run = NightlyRun(forecasts=forecasts_refresh(today=today))
    if drafts:
        run.drafted = drafts_create(origin=PurchaseOrder.Origin.NIGHTLY, today=today)
        run.suggestions = sum(len(item.lines) for item in run.drafted)
        run.auto = auto_orders_place(run.drafted, today=today)
    else:
        run.suggestions = len(suggestions(today=today))
    run.seconds = time.monotonic() - started
    run.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return run


# Spikes -------------------------------------------------------------------------------------


def _recent_demand(now: datetime) -> dict[int, list[int]]:
    """Units asked for per product in each of the last three 24-hour spans, oldest first."""
    spans = [now - timedelta(hours=24 * n) for n in (3, 2, 1)]
    per_product: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for model, moment in ((OrderLine, "queued_at"), (RefusedDemand, "created_at")):
        annotations = {
            f"span{index}": Sum(
                "quantity",
                filter=Q(**{f"{moment}__gte": start})
                & Q(**{f"{moment}__lt": spans[index + 1] if index < 2 else now}),
            )
            for index, start in enumerate(spans)
        }
        rows = (
            model.objects.filter(**{f"{moment}__gte": spans[0], f"{moment}__lt": now})
            .values("product_id")
            .annotate(**annotations)
            .order_by()
        )
        for row in rows:
            for index in range(3):
                per_product[row["product_id"]][index] += row[f"span{index}"] or 0
    return per_product


def window_start(day: date) -> date:
    """The first day of the alert window `day` falls in."""
    days = settings.BACKORDER_SPIKE_WINDOW_DAYS
    return date.fromordinal(day.toordinal() - day.toordinal() % days)


def spikes_check(*, now: datetime | None = None) -> list[SpikeAlert]:
    """Alert once per product and window when recent demand runs well above the forecast."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    recent = _recent_demand(now)
    if not recent:
        return []
    # Lumpy demand comes in rare big orders: one of them is its normal, not a spike.
    kept = {
        row.product_id: row
        for row in ProductForecast.objects.filter(product_id__in=list(recent))
        .exclude(shape=forecasting.Shape.LUMPY)
        .select_related("product")
    }
    minimum = settings.BACKORDER_SPIKE_MIN_UNITS
    found = []
    for pk in sorted(kept):
        row, spans = kept[pk], recent[pk]
        expected = [_mean_over(row, today, 1)] * 3
        spike = forecasting.spike_test(
            spans[-1:], expected[-1:], row.daily_sd, min_units=minimum
        ) or forecasting.spike_test(spans, expected, row.daily_sd, min_units=minimum)
        if spike is not None:
            days = 1 if spike.observed == spans[-1] else 3
            found.append((row.product, spike, days))
    if not found:
        return []
    products = [product for product, _, _ in found]
    parts = positions(products)
    carried = offers([p.pk for p in products])
    alerts = []
    staff = staff_emails(PURCHASING_PERMISSION)
    for product, spike, days in found:
        choices = carried.get(product.pk, [])
        lead = min((o.likely_days for o in choices), default=product.lead_time_days or 0)
        rate = spike.observed / days
        position = parts[product.pk]
        # The backlog the spike leaves if it goes on through the lead time at today's supply.
        backlog = max(0, math.ceil(rate * lead - position.units))
        with transaction.atomic():
            alert, created = SpikeAlert.objects.get_or_create(
                product=product,
                window_start=window_start(today),
                defaults={
                    "first_day": today - timedelta(days=days - 1),
                    "observed": spike.observed,
                    "expected": round(float(spike.expected), 2),
                    "backlog_units": backlog,
                },
            )
            if created:
                outbox.spike_notice(spike=alert, staff=staff)
                alerts.append(alert)
    return alerts

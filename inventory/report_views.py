"""The backoffice's replenishment pages: the reorder suggestions (a report whose selected
rows become draft purchase orders in one action) and each product's demand and forecast
chart. Figures from `inventory.replenishment`; the page frame from `orders.report_views`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import django_tables2 as tables
import pygal
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from pygal.style import Style

from inventory import replenishment, selectors
from inventory.exceptions import BackorderError
from inventory.models import Product, PurchaseOrder
from orders.demand import daily_demand, stockout_days
from orders.report_views import (
    CHART_STYLE,
    REPORT_PERMISSION,
    chart_svg,
    report_page,
    styled_chart,
)

# One colour per series of the forecast chart, in the order they are added: demand blue,
# refusals red, stock-outs orange, the forecast and its band green, the reorder point grey,
# projected stock black.
FORECAST_STYLE = Style(
    **{
        **CHART_STYLE.__dict__,
        "colors": (
            "#1d4ed8",
            "#b91c1c",
            "#c2410c",
            "#0a5c36",
            "#4d9a6e",
            "#4d9a6e",
            "#57606a",
            "#1b1f24",
        ),
    }
)
DRAFT_PERMISSIONS = ("inventory.add_purchaseorder", "inventory.add_purchaseorderline")
HISTORY_SHOWN = 90


def _check(request: HttpRequest) -> None:
    if not request.user.has_perm(REPORT_PERMISSION):
        raise PermissionDenied


# Suggestions --------------------------------------------------------------------------------


class SuggestionTable(tables.Table):
    pick = tables.CheckBoxColumn(
        accessor="product__sku",
        verbose_name="Draft",
        attrs={"th__input": {"aria-label": "All"}},
        exclude_from_export=True,
    )
    sku = tables.Column(accessor="product__sku", verbose_name="SKU", order_by="product__sku")
    name = tables.Column(accessor="product__name", verbose_name="Product", orderable=False)
    position = tables.Column(accessor="position__units", verbose_name="Position")
    reorder_point = tables.Column(accessor="plan__reorder_point", verbose_name="Reorder point")
    safety_stock = tables.Column(accessor="plan__safety_stock", verbose_name="Safety stock")
    quantity = tables.Column(verbose_name="Suggested quantity")
    supplier = tables.Column(accessor="choice__offer__name", verbose_name="Supplier")
    arrives = tables.DateColumn(verbose_name="Would arrive", format="Y-m-d")
    covers = tables.Column(verbose_name="Backorders covered")
    reason = tables.Column(verbose_name="Why", orderable=False)

    class Meta:
        attrs = {"id": "report-suggestions", "class": "report"}

    def render_pick(self, value: str, record: replenishment.ProductPlan) -> str:
        return format_html(
            '<input type="checkbox" name="sku" value="{}" aria-label="Draft {}">', value, value
        )

    def render_sku(self, value: str) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:report_forecast", args=[value]), value
        )

    def value_sku(self, value: str) -> str:
        return value


def suggestions_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    may_draft = request.user.has_perms(DRAFT_PERMISSIONS)
    if request.method == "POST":
        if not may_draft:
            raise PermissionDenied
        return _drafts_post(request)
    plans = replenishment.suggestions()
    per_supplier: dict[str, int] = defaultdict(int)
    for plan in plans:
        if plan.choice is not None:
            per_supplier[plan.choice.offer.name] += plan.quantity
    chart = None
    if per_supplier:
        bar = styled_chart(pygal.HorizontalBar, "Units suggested, by supplier", show_legend=False)
        bar.x_labels = list(per_supplier)
        bar.add("Units", list(per_supplier.values()))
        chart = chart_svg(bar)
    table = SuggestionTable(plans)
    if not may_draft:
        table.exclude = ("pick",)
    return report_page(
        request,
        site,
        slug="suggestions",
        table=table,
        filterset=None,
        chart=chart,
        chart_text=", ".join(f"{name}: {units}" for name, units in per_supplier.items()),
        intro=(
            "Every product whose inventory position (free + on order + drafts - backordered)"
            " is at or below its reorder point, with the quantity that brings it up to the"
            " order-up-to level, the supplier chosen and why, and the date the goods would"
            " likely arrive if ordered today. Most backorders covered first. Select rows and"
            " draft them: one draft purchase order per supplier."
        ),
        empty=(
            "Nothing needs ordering now: every product's position is above its reorder point,"
            " or no active supplier carries it."
        ),
        extra={
            "action": "Draft purchase orders for the selected" if may_draft else "",
            "action_help": "A need a draft or open order already covers is not drafted again.",
        },
    )


def _drafts_post(request: HttpRequest) -> HttpResponse:
    skus = [sku for sku in request.POST.getlist("sku") if sku][:1000]
    here = reverse("admin:report_suggestions")
    if not skus:
        messages.warning(request, "Select the suggestions to draft.")
        return HttpResponseRedirect(here)
    try:
        drafted = replenishment.drafts_create(skus=skus, actor=request.user)
    except BackorderError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(here)
    if not drafted:
        messages.info(
            request, "Nothing drafted: drafts or open orders already cover the selected needs."
        )
        return HttpResponseRedirect(here)
    for item in drafted:
        lines = ", ".join(f"{sku} x{units}" for sku, units in item.lines)
        messages.success(
            request,
            format_html(
                'Drafted <a href="{}">{}</a> for {}: {}.',
                reverse("admin:inventory_purchaseorder_change", args=[item.purchase_order.pk]),
                item.purchase_order.number,
                item.purchase_order.supplier.name,
                lines,
            ),
        )
    changelist = reverse("admin:inventory_purchaseorder_changelist")
    return HttpResponseRedirect(f"{changelist}?status__exact={PurchaseOrder.Status.DRAFT}")


# One product's demand and forecast ----------------------------------------------------------


class ForecastTable(tables.Table):
    day = tables.DateColumn(verbose_name="Day", format="Y-m-d", orderable=False)
    expected = tables.Column(verbose_name="Expected", orderable=False)
    low = tables.Column(verbose_name="Low (10%)", orderable=False)
    high = tables.Column(verbose_name="High (90%)", orderable=False)
    supply = tables.Column(verbose_name="Scheduled supply", orderable=False)
    projected = tables.Column(verbose_name="Projected stock", orderable=False)

    class Meta:
        attrs = {"id": "report-forecast", "class": "report"}


def projected_stock(
    *, start: int, today: date, expected: list[float], supply: dict[date, int]
) -> list[int]:
    """Free stock less backorders from tomorrow on: scheduled supply in, expected demand out."""
    level = float(start)
    projected = []
    for offset, units in enumerate(expected, start=1):
        day = today + timedelta(days=offset)
        level += supply.get(day, 0) - units
        projected.append(round(level))
    return projected


def forecast_view(request: HttpRequest, site: AdminSite, sku: str) -> HttpResponse:
    _check(request)
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        raise Http404("No such product.")
    today = timezone.localdate()
    figures = replenishment.product_plans([product], today=today)[product.pk]
    horizon = max(28, min(180, round(figures.plan.lead_days) + figures.plan.review_days))
    made, _ = replenishment.product_forecast(product, days=horizon, today=today)
    first = today - timedelta(days=HISTORY_SHOWN)
    last = today - timedelta(days=1)
    history = daily_demand([product.pk], first=first, last=last)[product.pk]
    blind = stockout_days([product.pk], first=first, last=last)[product.pk]
    supply: dict[date, int] = defaultdict(int)
    for incoming in selectors.incoming_supply([product.pk]).get(product.pk, []):
        supply[max(incoming.expected_date, today + timedelta(days=1))] += incoming.quantity
    expected = [float(value) for value in made.expected[:horizon]]
    position = figures.position
    projected = projected_stock(
        start=position.free - position.backordered, today=today, expected=expected, supply=supply
    )
    future = [today + timedelta(days=n) for n in range(1, horizon + 1)]
    days = [d.day for d in history] + future
    gap: list[float | None] = [None] * len(history)
    line = styled_chart(
        pygal.Line,
        f"{product.sku}: demand, forecast and projected stock",
        style=FORECAST_STYLE,
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_every=14,
        show_dots=False,
        height=420,
    )
    line.x_labels = [day.isoformat() for day in days]
    line.add("Ordered", [d.ordered for d in history] + [None] * horizon)
    line.add("Refused", [d.refused or None for d in history] + [None] * horizon, show_dots=True)
    line.add(
        "Out of stock",
        [0 if d.day in blind else None for d in history] + [None] * horizon,
        stroke=False,
        show_dots=True,
        dots_size=4,
    )
    line.add("Forecast", gap + [round(v, 2) for v in expected])
    dashed = {"dasharray": "4, 4"}
    line.add(
        "Low (10%)", gap + [round(float(v), 2) for v in made.low[:horizon]], stroke_style=dashed
    )
    line.add(
        "High (90%)", gap + [round(float(v), 2) for v in made.high[:horizon]], stroke_style=dashed
    )
    line.add(
        "Reorder point",
        [figures.plan.reorder_point] * len(days),
        stroke_style={"width": 2, "dasharray": "10, 4"},
    )
    line.add("Projected stock", gap + projected, stroke_style={"width": 2})
    rows = [
        {
            "day": day,
            "expected": f"{value:.2f}",
            "low": f"{float(made.low[n]):.2f}",
            "high": f"{float(made.high[n]):.2f}",
            "supply": supply.get(day, 0),
            "projected": projected[n],
        }
        for n, (day, value) in enumerate(zip(future, expected, strict=True))
    ]
    asked = sum(d.units for d in history)
    refused = sum(d.refused for d in history)
    total_expected, total_low, total_high = made.over(horizon)
    return report_page(
        request,
        site,
        slug="forecast",
        title=f"Demand and forecast: {product.sku} {product.name}",
        table=ForecastTable(rows),
        filterset=None,
        chart=chart_svg(line),
        chart_text=(
            f"The last {HISTORY_SHOWN} days: {asked} units asked for, {refused} of them refused,"
            f" {len(blind)} days out of stock. Next {horizon} days: {total_expected:.0f}"
            f" expected ({total_low:.0f} to {total_high:.0f}); reorder point"
            f" {figures.plan.reorder_point}."
        ),
        intro=(
            f"Method {made.method}; {figures.plan.explanation} Position {position.units}:"
            f" free {position.free} + on order {position.on_order} + drafts {position.drafts}"
            f" - backordered {position.backordered}. Projected stock is free stock less"
            " backorders, plus scheduled purchase-order supply, less expected demand; the band"
            " is the 80% prediction interval."
        ),
        empty="No forecast: the product has no history yet.",
    )

"""The backoffice's report pages and the admin index's dashboard: staff-only pages inside the
admin, each a django-tables2 table (sortable, paginated, exported as CSV with `?_export=csv`)
over a django-filter form, with a chart drawn on the server as SVG (pygal), so every page
works without JavaScript. The figures come from `orders.reports`; this module only shapes
them for people.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_filters
import django_tables2 as tables
import pygal
from django import forms
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django_tables2.export import TableExport
from pygal.style import Style

from inventory.models import Product, Supplier
from orders import reports
from orders.templatetags.shop import money

REPORT_PERMISSION = "orders.view_orderline"
PER_PAGE = 50
CHART_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#57606a",
    colors=("#1d4ed8", "#0a5c36", "#b45309", "#b91c1c", "#6b21a8"),
    font_family="system-ui, sans-serif",
)

REPORTS = (
    ("backlog", "Backlog by product", "what waits, how long, its value, when supply comes."),
    ("ageing", "Ageing", "waiting lines by days since ordered, or days past first promise."),
    ("money", "Money held up", "customers' money waiting; open purchase orders at cost."),
    ("eta", "ETA performance", "were first promises kept, per product or supplier."),
    ("fill", "Fill rate and refused demand", "lines filled from stock at once; demand refused."),
    ("suggestions", "Reorder suggestions", "what to order now, from whom, what it covers."),
)
"""(slug, title, what it answers): the dashboard lists them, each page links the others."""
NOTHING_WAITING = "Nothing is waiting: every order line is in stock, shipped or cancelled."
PERIODS = (7, 30, 90, 365)
DEFAULT_DAYS = 90


def _check(request: HttpRequest) -> None:
    if not request.user.has_perm(REPORT_PERMISSION):
        raise PermissionDenied


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


def chart_svg(chart: Any) -> SafeString:
    """The chart as inline SVG, without XML declaration or scripts (pygal's only drive its
    optional tooltips). pygal builds the SVG as an XML tree, so every label is escaped."""
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    return mark_safe(_SCRIPT.sub("", svg))  # noqa: S308


def styled_chart(kind: Callable[..., Any], title: str, **options: Any) -> Any:
    """A chart in the backoffice's style, drawn without scripts; `options` replace any of
    its settings."""
    settings = {
        "style": CHART_STYLE,
        "js": [],
        "width": 900,
        "height": 360,
        "explicit_size": False,
        "print_values": False,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "truncate_label": -1,
    }
    return kind(title=title, **{**settings, **options})


class MoneyColumn(tables.Column):
    def render(self, value: Any) -> str:
        return money(value)

    def value(self, value: Any) -> str:
        return str(value)


# Filters -----------------------------------------------------------------------------------


class ProductFilter(django_filters.FilterSet):
    """Which products a report covers."""

    q = django_filters.CharFilter(label="SKU or name", method="search")
    supplier = django_filters.ModelChoiceFilter(
        label="Supplier",
        queryset=Supplier.objects.order_by("name"),
        field_name="supplier_terms__supplier",
        distinct=True,
    )
    backorder_policy = django_filters.ChoiceFilter(
        label="When out of stock", choices=Product.BackorderPolicy.choices
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def search(self, queryset: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(sku__icontains=value) | queryset.filter(name__icontains=value)


class SupplierFilter(django_filters.FilterSet):
    """Which suppliers a report covers."""

    q = django_filters.CharFilter(label="Supplier name", field_name="name", lookup_expr="icontains")
    is_active = django_filters.BooleanFilter(label="Active")

    class Meta:
        model = Supplier
        fields: list[str] = []


def _selected(
    filterset: django_filters.FilterSet,
) -> QuerySet[Any] | None:
    """The rows a bound, valid filter form selects; None when it selects nothing in
    particular (every row, without a subquery)."""
    if not filterset.is_bound or not filterset.is_valid():
        return None
    if not any(
        filterset.form.cleaned_data.get(name) not in (None, "") for name in filterset.filters
    ):
        return None
    return filterset.qs


def _products(request: HttpRequest) -> tuple[ProductFilter, QuerySet[Product] | None]:
    """The filter form, and the products it selects (None: every product)."""
    filterset = ProductFilter(request.GET or None, queryset=Product.objects.all())
    return filterset, _selected(filterset)


def report_page(
    request: HttpRequest,
    site: AdminSite,
    *,
    slug: str,
    table: tables.Table,
    filterset: forms.Form | django_filters.FilterSet | None,
    chart: SafeString | None,
    chart_text: str = "",
    intro: str,
    empty: str,
    extra: dict[str, Any] | None = None,
    shown: Callable[[list[Any]], None] | None = None,
    title: str | None = None,
) -> HttpResponse:
    """The report page, or its CSV with `?_export=csv`. `shown` completes the records about
    to be shown (this page's, or all for the CSV) with what is too dear for every row."""
    if request.GET.get("_export") == "csv":
        tables.RequestConfig(request, paginate=False).configure(table)
        if shown is not None:
            shown([row.record for row in table.rows])
        day = timezone.localdate().isoformat()
        return TableExport("csv", table).response(filename=f"{slug}-{day}.csv")
    tables.RequestConfig(request, paginate={"per_page": PER_PAGE}).configure(table)
    if shown is not None:
        shown([row.record for row in table.page.object_list] if table.page else [])
    title = title or next(name for key, name, _ in REPORTS if key == slug)
    query = request.GET.copy()
    query["_export"] = "csv"
    query.pop("page", None)
    return TemplateResponse(
        request,
        "admin/reports/report.html",
        {
            **site.each_context(request),
            "title": title,
            "intro": intro,
            "empty": empty,
            "table": table,
            "filter": filterset,
            "chart": chart,
            "chart_text": chart_text,
            "csv_url": f"?{query.urlencode()}",
            "reports": REPORTS,
            "slug": slug,
            **(extra or {}),
        },
    )


# Backlog by product ---------------------------------------------------------------------------


class BacklogTable(tables.Table):
    sku = tables.Column(
        verbose_name="SKU",
        linkify=lambda record: reverse("admin:inventory_product_change", args=[record.product_id]),
    )
    name = tables.Column(verbose_name="Product")
    backordered_units = tables.Column(verbose_name="Units waiting")
    backordered_lines = tables.Column(verbose_name="Lines")
    backordered_orders = tables.Column(verbose_name="Orders", orderable=False)
    value_waiting = MoneyColumn(verbose_name="Value waiting")
    oldest_waiting_days = tables.Column(verbose_name="Oldest (days)")
    next_supply_date = tables.DateColumn(verbose_name="Next supply", format="Y-m-d", default="none")
    next_supply_units = tables.Column(verbose_name="Next supply units")
    shortfall_units = tables.Column(verbose_name="Short after all supply")
    last_eta = tables.DateColumn(verbose_name="Last line ships", format="Y-m-d", default="unknown")

    class Meta:
        attrs = {"id": "report-backlog", "class": "report"}
        # The rows come largest value first; a sort of them all happens only when asked.


def backlog_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    filterset, products = _products(request)
    rows = reports.backlog(products)
    top = sorted(rows, key=lambda row: -row.backordered_units)[:10]
    chart = None
    if top:
        bar = styled_chart(
            pygal.HorizontalBar, "Units waiting: the ten longest queues", show_legend=True
        )
        bar.x_labels = [row.sku for row in reversed(top)]
        bar.add(
            "Covered by scheduled supply",
            [row.backordered_units - row.shortfall_units for row in reversed(top)],
        )
        bar.add("Short after all supply", [row.shortfall_units for row in reversed(top)])
        chart = chart_svg(bar)
    return report_page(
        request,
        site,
        slug="backlog",
        table=BacklogTable(rows),
        filterset=filterset,
        chart=chart,
        chart_text=", ".join(f"{row.sku}: {row.backordered_units}" for row in top),
        intro=(
            "One row per product with units waiting (backordered or pre-ordered), largest value"
            " waiting first. The value is what customers ordered the waiting units for. Next"
            " supply is the soonest open purchase order; short is what stays waiting after every"
            " scheduled delivery, to be ordered."
        ),
        empty=NOTHING_WAITING,
        shown=reports.backlog_orders,
    )


# Ageing --------------------------------------------------------------------------------------


def per_field() -> forms.ChoiceField:
    """Per product, or per each product's preferred supplier."""
    return forms.ChoiceField(
        label="Per", choices=[("product", "product"), ("supplier", "supplier")], required=False
    )


class AgeingForm(forms.Form):
    by = per_field()
    measure = forms.ChoiceField(
        label="Days",
        choices=[("age", "since ordered"), ("late", "past first promise")],
        required=False,
    )


def _ageing_table(by: str) -> type[tables.Table]:
    columns: dict[str, Any] = {
        "key": tables.Column(verbose_name="SKU" if by == "product" else "Supplier"),
    }
    if by == "product":
        columns["name"] = tables.Column(verbose_name="Product")
    for label, _, _ in reports.AGE_BUCKETS:
        columns[f"b{label}"] = tables.Column(
            verbose_name=f"{label} days", accessor=f"lines__{label}"
        )
    columns["total_lines"] = tables.Column(verbose_name="Lines")
    columns["total_units"] = tables.Column(verbose_name="Units")
    meta = type("Meta", (), {"attrs": {"id": "report-ageing", "class": "report"}})
    return type("AgeingTable", (tables.Table,), {**columns, "Meta": meta})


def ageing_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    filterset, products = _products(request)
    choice = AgeingForm(request.GET or None)
    data = choice.cleaned_data if choice.is_valid() else {}
    by = data.get("by") or "product"
    measure = data.get("measure") or "age"
    rows = reports.ageing(by=by, measure=measure, products=products)
    labels = [label for label, _, _ in reports.AGE_BUCKETS]
    totals = {label: sum(row.lines[label] for row in rows) for label in labels}
    chart = None
    if rows:
        bar = styled_chart(
            pygal.Bar,
            "Waiting lines by days "
            + ("since ordered" if measure == "age" else "past first promise"),
            show_legend=False,
        )
        bar.x_labels = [f"{label} days" for label in labels]
        bar.add("Lines", [totals[label] for label in labels])
        chart = chart_svg(bar)
    return report_page(
        request,
        site,
        slug="ageing",
        table=_ageing_table(by)(rows),
        filterset=filterset,
        chart=chart,
        chart_text=", ".join(f"{label} days: {totals[label]}" for label in labels),
        intro=(
            "Waiting lines counted by how many days ago they were ordered, or, with days past"
            " first promise, by how many days ago the date first promised to the customer"
            " passed (only lines already past it). Per supplier counts each product under its"
            " preferred supplier. Oldest first."
        ),
        empty=(
            "No waiting line is past its first promise." if measure == "late" else NOTHING_WAITING
        ),
        extra={"choice": choice, "by": by, "measure": measure},
    )


# Money held up -------------------------------------------------------------------------------


class CommitmentTable(tables.Table):
    name = tables.Column(verbose_name="Supplier")
    purchase_orders = tables.Column(verbose_name="Open purchase orders")
    units = tables.Column(verbose_name="Units to arrive")
    value = MoneyColumn(verbose_name="Value at cost")
    units_without_cost = tables.Column(verbose_name="Units with no known cost")

    class Meta:
        attrs = {"id": "report-money", "class": "report"}


def money_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    filterset = SupplierFilter(request.GET or None, queryset=Supplier.objects.all())
    held = reports.money_held_up(_selected(filterset))
    chart = None
    if held.suppliers:
        pie = styled_chart(
            pygal.HorizontalBar, "Open purchase orders at cost, per supplier", show_legend=False
        )
        shown = held.suppliers[:10]
        pie.x_labels = [s.name for s in reversed(shown)]
        pie.add("Value", [float(s.value) for s in reversed(shown)])
        chart = chart_svg(pie)
    return report_page(
        request,
        site,
        slug="money",
        table=CommitmentTable(held.suppliers),
        filterset=filterset,
        chart=chart,
        chart_text=", ".join(f"{s.name}: {money(s.value)}" for s in held.suppliers[:10]),
        intro=(
            "Customers have paid for goods that wait on backorders; the shop has committed money"
            " to purchase orders still to arrive. Cost is the purchase-order line's, or else the"
            " supplier's terms for the product."
        ),
        empty="No purchase order is open.",
        extra={"held": held},
    )


# ETA performance and fill rate --------------------------------------------------------------


class PeriodForm(forms.Form):
    days = forms.TypedChoiceField(
        label="Last",
        choices=[(days, f"{days} days") for days in PERIODS],
        coerce=int,
        required=False,
    )
    by = per_field()


def _period(request: HttpRequest, *, with_by: bool) -> tuple[PeriodForm, int, str]:
    form = PeriodForm(request.GET or None, initial={"days": DEFAULT_DAYS, "by": "product"})
    if not with_by:
        del form.fields["by"]
    data = form.cleaned_data if form.is_valid() else {}
    return form, data.get("days") or DEFAULT_DAYS, data.get("by") or "product"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class EtaPerformanceTable(tables.Table):
    sku = tables.Column(verbose_name="Product or supplier")
    name = tables.Column(verbose_name="Name")
    shipped = tables.Column(verbose_name="Lines shipped")
    on_time_rate = tables.Column(verbose_name="On time", empty_values=())
    average_days_late = tables.Column(verbose_name="Mean slip (days, late lines)", empty_values=())
    worst_days_late = tables.Column(verbose_name="Worst slip (days)")
    moves_per_line = tables.Column(verbose_name="ETA moves per line", empty_values=())
    open_slipped = tables.Column(verbose_name="Open lines slipped")

    class Meta:
        attrs = {"id": "report-eta", "class": "report"}

    def render_on_time_rate(self, value: float | None) -> str:
        return _percent(value)

    def render_average_days_late(self, value: float | None) -> str:
        return _days(value)

    def render_moves_per_line(self, value: float | None) -> str:
        return _days(value)


def eta_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    choice, days, by = _period(request, with_by=True)
    since = timezone.localdate() - timedelta(days=days)
    performance = reports.eta_performance(since=since, by=by)
    chart = None
    if performance.total.shipped:
        bar = styled_chart(
            pygal.Bar, "Shipped lines against their first promise", show_legend=False
        )
        bar.x_labels = list(performance.slips)
        bar.add("Lines", list(performance.slips.values()))
        chart = chart_svg(bar)
    table = EtaPerformanceTable(performance.rows, exclude=("name",) if by == "supplier" else ())
    return report_page(
        request,
        site,
        slug="eta",
        table=table,
        filterset=None,
        chart=chart,
        chart_text=", ".join(f"{label}: {n}" for label, n in performance.slips.items()),
        intro=(
            f"Lines shipped in the last {days} days against the ETA first promised when the"
            " customer ordered: on time when shipped on or before it. The slip is how many days"
            " late the others shipped. Open lines slipped are still waiting and already later"
            " than their first promise. Per supplier counts each product under its preferred"
            " supplier."
        ),
        empty=(
            "Nothing has shipped in this period yet. Once lines ship, each is compared here with"
            " the date first promised to its customer, and the suppliers' deliveries with the"
            " dates they promised."
        ),
        extra={"choice": choice, "performance": performance, "since": since},
    )


class FillTable(tables.Table):
    sku = tables.Column(verbose_name="SKU")
    name = tables.Column(verbose_name="Product")
    lines = tables.Column(verbose_name="Lines ordered")
    filled = tables.Column(verbose_name="Filled from stock at once")
    fill_rate = tables.Column(verbose_name="Fill rate", empty_values=())
    refused_requests = tables.Column(verbose_name="Requests refused")
    refused_units = tables.Column(verbose_name="Units refused")
    reasons = tables.Column(verbose_name="Why refused (units)", orderable=False, empty_values=())

    class Meta:
        attrs = {"id": "report-fill", "class": "report"}

    def render_fill_rate(self, value: float | None) -> str:
        return _percent(value)

    def value_fill_rate(self, value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"


def fill_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    _check(request)
    choice, days, _ = _period(request, with_by=False)
    since = timezone.localdate() - timedelta(days=days)
    rows = reports.fill_rate(since=since)
    reasons: dict[str, int] = {}
    for row in rows:
        for words, units in row.refusals.items():
            reasons[words] = reasons.get(words, 0) + units
    chart = None
    if reasons:
        bar = styled_chart(pygal.HorizontalBar, "Units refused, by reason", show_legend=False)
        bar.x_labels = list(reasons)
        bar.add("Units", list(reasons.values()))
        chart = chart_svg(bar)
    return report_page(
        request,
        site,
        slug="fill",
        table=FillTable(rows),
        filterset=None,
        chart=chart,
        chart_text=", ".join(f"{words}: {units}" for words, units in reasons.items()),
        intro=(
            f"Order lines placed in the last {days} days per product, and how many stock filled"
            " at once, when the customer ordered (the rest waited as backorders or pre-orders);"
            " and the demand the product's rules turned away, with the reason. Lowest fill"
            " rate first."
        ),
        empty=(
            "No order and no refused request in this period yet. Each product ordered or refused"
            " will show here with its fill rate and the reasons it turned customers away."
        ),
        extra={"choice": choice},
    )

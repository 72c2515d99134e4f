"""The inventory backoffice: the catalogue (warehouses, products, suppliers and their terms)
and stock with its ledger.

A shell over the services: product and supplier saves go through `inventory.catalogue`,
stock changes through `inventory.stock`, the "fill backorders" action through the worker's
own `orders.queue.product_refresh`; lists read through `inventory.selectors`, and the forms
live in `inventory.forms`.

Purchase orders, incoming supply and receipts are `inventory.admin_purchasing`: the
inventory admin is too long for one module, and purchasing is the half that stands on its
own. This module imports it, which is how Django's autodiscovery (it imports only
`inventory.admin`) registers it too; it imports nothing from here, so there is no circle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin_mixins import ReadOnlyAdminMixin, ReadOnlyInline, ServiceFormAdmin, adopt
from inventory import catalogue, replenishment, selectors, stock
from inventory.admin_purchasing import days_text
from inventory.exceptions import BackorderError
from inventory.forms import ProductForm, StockChangeForm, SupplierForm
from inventory.models import (
    Allocation,
    DemandHistory,
    Product,
    ProductForecast,
    SpikeAlert,
    Stock,
    StockMovement,
    StockVerification,
    Supplier,
    SupplierProduct,
    Warehouse,
)
from inventory.selectors import Reliability
from orders import queue
from orders.models import EtaChange, OrderLine


class StockInline(ReadOnlyInline):
    model = Stock
    fields = ("warehouse", "on_hand", "allocated", "free")
    readonly_fields = fields

    @admin.display(description="Free")
    def free(self, stock: Stock) -> int:
        return stock.free


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "priority", "is_default")
    list_editable = ("priority",)
    search_fields = ("code", "name")

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SupplierTermsInline(admin.TabularInline):
    """On a product's page: which suppliers offer it, on what terms."""

    model = SupplierProduct
    extra = 0
    fields = (
        "supplier",
        "rank",
        "supplier_sku",
        "lead_time_days",
        "unit_cost",
        "minimum_order_quantity",
        "pack_size",
    )
    autocomplete_fields = ("supplier",)


class ProductTermsInline(admin.TabularInline):
    """On a supplier's page: the products it offers, on what terms."""

    model = SupplierProduct
    extra = 0
    fields = (
        "product",
        "rank",
        "supplier_sku",
        "lead_time_days",
        "unit_cost",
        "minimum_order_quantity",
        "pack_size",
    )
    autocomplete_fields = ("product",)


def terms_products(formsets: Iterable[Any]) -> set[int]:
    """Products whose supplier terms the saved formsets added, changed or deleted."""
    product_ids: set[int] = set()
    for formset in formsets:
        if formset.model is not SupplierProduct:
            continue
        for form in formset.forms:
            if form.has_changed():
                # A row moved to another product changes the lead times of both.
                product_ids.update(
                    pk for pk in (form.initial.get("product"), form.instance.product_id) if pk
                )
    return product_ids


@admin.register(Product)
class ProductAdmin(ServiceFormAdmin):
    list_display = (
        "sku",
        "name",
        "price",
        "backorder_policy",
        "lead_time_days",
        "backorder_limit",
        "on_hand",
        "allocated",
        "backordered",
        "incoming",
        "next_delivery",
        "last_eta",
    )
    list_filter = ("backorder_policy",)
    search_fields = ("sku", "name")
    # Explicit: the stock figures' GROUP BY drops the model's default ordering, and the
    # product search (autocomplete) pages through this queryset.
    ordering = ("sku",)
    inlines = [StockInline, SupplierTermsInline]
    actions = ["reallocate"]
    form = ProductForm
    readonly_fields = ("effective_lead_time", "quote_for_one", "waiting_queue", "reorder_figures")
    fieldsets = (
        (None, {"fields": ("sku", "name", "price")}),
        (
            "Selling when out of stock",
            {
                "fields": (
                    "backorder_policy",
                    "lead_time_days",
                    "effective_lead_time",
                    "backorder_limit",
                    "max_per_order",
                    "release_date",
                    "quote_for_one",
                )
            },
        ),
        ("Who is waiting, in queue order", {"fields": ("waiting_queue",)}),
        (
            "Replenishment",
            {
                "fields": (
                    "reorder_figures",
                    "service_level",
                    "safety_stock",
                    "reorder_point",
                    "order_up_to",
                ),
                "description": (
                    "Computed each night from the forecast and the suppliers' delivery record;"
                    " a figure entered here replaces the computed one."
                ),
            },
        ),
    )

    QUEUE_SHOWN = 50

    @admin.display(description="Reorder figures")
    def reorder_figures(self, product: Product) -> str:
        """The product's forecast, inventory position and reorder figures, with how each
        was reached and what would be ordered now."""
        if product.pk is None:
            return "-"
        figures = replenishment.product_plans([product], today=timezone.localdate())[product.pk]
        plan, position, made = figures.plan, figures.position, figures.forecast
        rows = [
            ("Forecast", f"{made.method} ({made.shape} demand, {made.history_days} days known)"),
            (
                "Inventory position",
                (
                    f"{position.units} = free {position.free} + on order {position.on_order}"
                    f" + drafts {position.drafts} - backordered {position.backordered}"
                ),
            ),
            ("Sales class", f"{made.abc_class}"),
            ("Safety stock", str(plan.safety_stock)),
            ("Reorder point", str(plan.reorder_point)),
            ("Order up to", str(plan.order_up_to)),
            ("How", plan.explanation),
        ]
        if figures.quantity and figures.choice is not None:
            arrives = figures.arrives.isoformat() if figures.arrives else "unknown"
            rows.append(
                (
                    "Suggested now",
                    f"{figures.quantity} from {figures.choice.offer.name}, likely by {arrives}:"
                    f" {figures.reason}",
                )
            )
        else:
            rows.append(
                (
                    "Suggested now",
                    "Nothing: "
                    + (
                        figures.reason
                        if figures.choice is None
                        else f"the position is above the reorder point {plan.reorder_point}."
                    ),
                )
            )
        table = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows)
        chart = reverse("admin:report_forecast", args=[product.sku])
        return format_html(
            '<table class="reorder-figures">{}</table><p><a href="{}">Demand and forecast'
            " chart</a></p>",
            table,
            chart,
        )

    @admin.display(description="Queue")
    def waiting_queue(self, product: Product) -> str:
        """The first lines of the product's backorder queue, with each line's ETA."""
        if product.pk is None:
            return "-"
        lines = list(
            OrderLine.objects.filter(product=product, backordered__gt=0)
            .select_related("order")
            .order_by("-queue_priority", "queued_at", "id")[: self.QUEUE_SHOWN + 1]
        )
        if not lines:
            return "Nobody is waiting."
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    position,
                    reverse("admin:orders_order_change", args=[line.order_id]),
                    line.order.number,
                    line.order.name,
                    f"{timezone.localtime(line.queued_at):%Y-%m-%d %H:%M}",
                    line.backordered,
                    line.eta.isoformat() if line.eta else "unknown",
                    line.first_promised_eta.isoformat() if line.first_promised_eta else "-",
                )
                for position, line in enumerate(lines[: self.QUEUE_SHOWN], start=1)
            ),
        )
        more = ""
        if len(lines) > self.QUEUE_SHOWN:
            url = reverse("admin:orders_orderline_changelist")
            more = format_html(
                '<p><a href="{}?sku={}&amp;backordered__gt=0">All waiting lines of {}</a></p>',
                url,
                product.sku,
                product.sku,
            )
        return format_html(
            '<table class="waiting-queue"><thead><tr><th>#</th><th>Order</th><th>Customer</th>'
            "<th>Placed</th><th>Waiting</th><th>ETA</th><th>First promised</th></tr></thead>"
            "<tbody>{}</tbody></table>{}",
            rows,
            more,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return selectors.products_with_stock_figures(super().get_queryset(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        # Orders, stock and the API name a product by its SKU: the catalogue keeps it for good.
        return readonly if obj is None else ["sku", *readonly]

    @admin.display(description="Incoming", ordering="total_incoming")
    def incoming(self, product: Product) -> int:
        return product.total_incoming  # type: ignore[attr-defined]

    @admin.display(description="Next delivery", ordering="next_delivery_on")
    def next_delivery(self, product: Product) -> date | None:
        return product.next_delivery_on  # type: ignore[attr-defined]

    @admin.display(description="Last backorder ships", ordering="last_eta_on")
    def last_eta(self, product: Product) -> date | None:
        return product.last_eta_on  # type: ignore[attr-defined]

    @admin.display(description="On hand", ordering="total_on_hand")
    def on_hand(self, product: Product) -> int:
        return product.total_on_hand  # type: ignore[attr-defined]

    @admin.display(description="Allocated", ordering="total_allocated")
    def allocated(self, product: Product) -> int:
        return product.total_allocated  # type: ignore[attr-defined]

    @admin.display(description="Backordered", ordering="total_backordered")
    def backordered(self, product: Product) -> int:
        return product.total_backordered  # type: ignore[attr-defined]

    @admin.display(description="Effective lead time")
    def effective_lead_time(self, product: Product) -> str:
        if product.pk is None:
            return "-"
        days = selectors.lead_times([product])[product.pk]
        if days is None:
            return "Unknown: no active supplier offers it and it has no lead time of its own."
        if selectors.product_has_active_supplier(product):
            return f"{days_text(days)}: the fastest active supplier, with its proven delays"
        return f"{days_text(days)}: the product's own lead time (no active supplier)"

    @admin.display(description="An order of one unit now")
    def quote_for_one(self, product: Product) -> str:
        if product.pk is None:
            return "-"
        quote = selectors.availability_quote(product=product, quantity=1)
        if quote.status == "unavailable":
            return f"Refused: {quote.message}"
        shipping = f"ships by {quote.eta:%Y-%m-%d}" if quote.eta else "ETA unknown"
        return f"{quote.status.replace('_', ' ').capitalize()}, {shipping}"

    def save_model(
        self, request: HttpRequest, obj: Product, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            # A new policy, lead time or release date: the service refreshes the product.
            saved = catalogue.product_update(
                product_id=obj.pk,
                changes={name: data[name] for name in form.changed_data},
                actor=request.user,
                detail=" in the admin",
            )
        else:
            saved = catalogue.product_create(
                sku=data["sku"],
                **{
                    name: data[name]
                    for name in (*catalogue.PRODUCT_FIELDS, *catalogue.REORDER_FIELDS)
                },
                actor=request.user,
            )
        adopt(obj, saved)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        if change and terms_products(formsets):
            catalogue.product_supply_changed(
                product_ids=[form.instance.pk], detail="Supplier terms changed in the admin"
            )

    @admin.action(description="Fill backorders from free stock now")
    def reallocate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        # The worker's own refresh: filled lines get their ship date now, not at the next one.
        total = 0
        for product in queryset.order_by("pk"):
            allocated, _ = queue.product_refresh(
                product_id=product.pk,
                cause=EtaChange.Cause.STOCK_CHANGED,
                detail="Filled from the admin",
            )
            total += allocated
        self.message_user(request, f"Allocated {total} backordered unit(s).", messages.SUCCESS)


@admin.register(Supplier)
class SupplierAdmin(ServiceFormAdmin):
    list_display = (
        "name",
        "email",
        "lead_time_days",
        "is_active",
        "auto_order",
        "receipts",
        "average_delay",
        "delay_spread",
        "on_time",
    )
    list_filter = ("is_active", "auto_order")
    search_fields = ("name", "email")
    fields = (
        "name",
        "email",
        "language",
        "lead_time_days",
        "is_active",
        "auto_order",
        "auto_order_daily_cap",
        "reliability",
        "created_at",
    )
    readonly_fields = ("reliability", "created_at")
    inlines = [ProductTermsInline]
    form = SupplierForm

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Deactivate instead: purchase orders and the reliability record keep pointing at it.
        return False

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # One query for the whole page rather than one per row.
        suppliers = list(changelist.result_list)
        records = selectors.supplier_reliability([supplier.pk for supplier in suppliers])
        for supplier in suppliers:
            supplier.reliability_record = records.get(supplier.pk)
        return changelist

    def _reliability(self, supplier: Supplier) -> Reliability | None:
        """The supplier's delivery record: read for the whole changelist, else on its own."""
        if not hasattr(supplier, "reliability_record"):
            record = selectors.supplier_reliability([supplier.pk]).get(supplier.pk)
            supplier.reliability_record = record  # type: ignore[attr-defined]
        return supplier.reliability_record  # type: ignore[attr-defined]

    @admin.display(description="Receipts")
    def receipts(self, supplier: Supplier) -> int:
        reliability = self._reliability(supplier)
        return reliability.receipts if reliability else 0

    @admin.display(description="Average delay (days)")
    def average_delay(self, supplier: Supplier) -> str | None:
        reliability = self._reliability(supplier)
        return f"{reliability.average_delay_days:+.1f}" if reliability else None

    @admin.display(description="Spread (days)")
    def delay_spread(self, supplier: Supplier) -> str | None:
        reliability = self._reliability(supplier)
        return f"{reliability.delay_spread_days:.1f}" if reliability else None

    @admin.display(description="On time")
    def on_time(self, supplier: Supplier) -> str | None:
        reliability = self._reliability(supplier)
        return f"{reliability.on_time_rate:.0%}" if reliability else None

    @admin.display(description="Reliability")
    def reliability(self, supplier: Supplier) -> str:
        if supplier.pk is None:
            return "-"
        reliability = self._reliability(supplier)
        if reliability is None:
            return "No deliveries received yet."
        return (
            f"{reliability.receipts} receipt(s), {reliability.average_delay_days:+.1f} days"
            f" late on average (spread {reliability.delay_spread_days:.1f} days),"
            f" {reliability.on_time} on time ({reliability.on_time_rate:.0%})."
        )

    def save_model(
        self, request: HttpRequest, obj: Supplier, form: forms.ModelForm, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            # A new lead time or activity: the service refreshes every product it offers.
            saved = catalogue.supplier_update(
                supplier_id=obj.pk,
                changes={name: data[name] for name in form.changed_data},
                actor=request.user,
                detail=" in the admin",
            )
        else:
            saved = catalogue.supplier_create(
                **{name: data[name] for name in catalogue.SUPPLIER_FIELDS}, actor=request.user
            )
        adopt(obj, saved)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        terms_changed = terms_products(formsets)
        super().save_related(request, form, formsets, change)
        if terms_changed:
            catalogue.product_supply_changed(
                product_ids=terms_changed,
                detail=f"{form.instance.name}: terms changed in the admin",
            )


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = ("product", "warehouse", "on_hand", "allocated", "free")
    list_filter = ("warehouse",)
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product", "warehouse")
    readonly_fields = ("product", "warehouse", "on_hand", "allocated")
    change_list_template = "admin/inventory/stock/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Counters change only through the services (see "Receive or adjust stock").
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Free")
    def free(self, stock: Stock) -> int:
        return stock.free

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "change-stock/",
                self.admin_site.admin_view(self.change_stock_view),
                name="inventory_stock_change_stock",
            ),
            *super().get_urls(),
        ]

    def change_stock_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("inventory.change_stock"):
            raise PermissionDenied
        initial: dict[str, object] = {
            "warehouse": Warehouse.objects.filter(is_default=True).first()
        }
        if "product" in request.GET:
            initial["product"] = request.GET["product"]
        form = StockChangeForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            common = {
                "product": data["product"],
                "warehouse": data["warehouse"],
                "quantity": data["quantity"],
                "actor": request.user,
            }
            try:
                if data["kind"] == "receipt":
                    stock.stock_receive(**common, reference=data["reference"])
                elif data["kind"] == "return":
                    stock.stock_return(**common, reason=data["reason"])
                else:
                    stock.stock_adjust(**common, reason=data["reason"])
            except BackorderError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(
                    request,
                    f"{data['product'].sku} at {data['warehouse'].code}: "
                    f"{data['quantity']:+d} ({dict(form.KIND_CHOICES)[data['kind']]}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:inventory_stock_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Change stock",
            "form": form,
            "opts": self.model._meta,
        }
        return render(request, "admin/inventory/stock/change_stock.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "quantity",
        "stock",
        "order_line",
        "reason",
        "reference",
        "actor",
    )
    list_filter = ("kind", "stock__warehouse")
    search_fields = ("stock__product__sku", "reference", "reason", "order_line__order__number")
    list_select_related = (
        "stock__product",
        "stock__warehouse",
        "order_line__order",
        "order_line__product",
        "actor",
    )
    date_hierarchy = "created_at"


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("order_line", "stock", "quantity")
    search_fields = ("order_line__order__number", "stock__product__sku")
    list_select_related = (
        "order_line__order",
        "order_line__product",
        "stock__product",
        "stock__warehouse",
    )
    list_filter = (("stock__warehouse", admin.RelatedOnlyFieldListFilter),)


@admin.register(DemandHistory)
class DemandHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Daily demand imported with `manage.py demand_import`: history for forecasting."""

    list_display = ("day", "product", "quantity", "refused", "imported_at")
    list_filter = (("day", admin.DateFieldListFilter),)
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)
    ordering = ("-day", "product")
    show_full_result_count = False


@admin.register(SpikeAlert)
class SpikeAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Demand that ran well above the forecast: one alert per product per window."""

    list_display = (
        "created_at",
        "product",
        "first_day",
        "observed",
        "expected",
        "backlog_units",
        "forecast_chart",
    )
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)
    show_full_result_count = False

    @admin.display(description="Chart")
    def forecast_chart(self, alert: SpikeAlert) -> str:
        url = reverse("admin:report_forecast", args=[alert.product.sku])
        return format_html('<a href="{}">Demand and forecast</a>', url)


@admin.register(StockVerification)
class StockVerificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each night's check of the ledger's chains and the counters: what was repaired from
    the ledger, what was left for staff to look at."""

    list_display = ("started_at", "verdict", "repaired", "unexplained", "movements")
    fields = (
        "started_at",
        "finished_at",
        "verdict",
        "movements",
        "findings",
        "chain",
        "root",
    )
    readonly_fields = fields

    @admin.display(description="Result")
    def verdict(self, run: StockVerification) -> str:
        if run.is_clean:
            return "Clean"
        return f"{run.repaired} repaired, {run.unexplained} left alone"

    @admin.display(description="Counters")
    def findings(self, run: StockVerification) -> str:
        if not run.drift:
            return "All agree."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}, expected {}. {}: {}.</li>",
                (
                    (
                        e["what"],
                        e["found"],
                        e["expected"],
                        "Repaired" if e["repaired"] else "Left alone",
                        e["why"],
                    )
                    for e in run.drift
                ),
            ),
        )

    @admin.display(description="Ledger chain")
    def chain(self, run: StockVerification) -> str:
        if not run.broken_links:
            return "Intact."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{}: broken at {} ({})</li>",
                (
                    (
                        link["stock"],
                        f"movement {link['movement']}" if link["movement"] else "its end",
                        link["why"],
                    )
                    for link in run.broken_links
                ),
            ),
        )


@admin.register(ProductForecast)
class ProductForecastAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The nightly forecasts: each product's method, level and spread."""

    list_display = (
        "product",
        "computed_on",
        "method",
        "shape",
        "abc_class",
        "daily_mean",
        "daily_sd",
        "history_days",
    )
    list_filter = ("method", "shape", "abc_class")
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)
    ordering = ("product__sku",)
    show_full_result_count = False
    exclude = ("daily",)

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Max, Min, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.forms.boundfield import BoundField
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from inventory import catalogue, checks, purchasing, selectors, stock
from inventory.exceptions import BackorderError, InvalidTransition
from inventory.models import (
    Allocation,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Stock,
    StockMovement,
    Supplier,
    SupplierProduct,
    Warehouse,
)
from inventory.selectors import Reliability
from orders import queue


class ReadOnlyAdminMixin:
    """Rows that only services write: staff may look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Related rows shown for reference: services write them, the admin only lists them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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


def days_text(days: int | None) -> str:
    return "-" if days is None else f"{days} day{'' if days == 1 else 's'}"


def delay_text(delay_days: int) -> str:
    if delay_days > 0:
        return f"{days_text(delay_days)} late"
    if delay_days < 0:
        return f"{days_text(-delay_days)} early"
    return "on time"


def purchase_order_link(purchase_order: PurchaseOrder) -> str:
    url = reverse("admin:inventory_purchaseorder_change", args=[purchase_order.pk])
    return format_html('<a href="{}">{}</a>', url, purchase_order.number)


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
class ProductAdmin(admin.ModelAdmin):
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
    inlines = [StockInline, SupplierTermsInline]
    actions = ["reallocate"]
    readonly_fields = ("effective_lead_time", "quote_for_one")
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
    )
    # What a change to these means for waiting customers: their ETAs are recomputed.
    SUPPLY_FIELDS = catalogue.PRODUCT_SUPPLY_FIELDS

    def get_queryset(self, request: HttpRequest):
        from orders.models import OrderLine

        backordered = (
            OrderLine.objects.filter(product=OuterRef("pk"), backordered__gt=0)
            .order_by()
            .values("product")
            .annotate(units=Sum("backordered"))
            .values("units")
        )
        waiting_etas = (
            OrderLine.objects.filter(product=OuterRef("pk"), backordered__gt=0)
            .order_by()
            .values("product")
            .annotate(last=Max("eta"))
            .values("last")
        )
        open_supply = PurchaseOrderLine.objects.filter(
            product=OuterRef("pk"),
            purchase_order__status__in=PurchaseOrder.OPEN_STATUSES,
            quantity__gt=F("received") + F("cancelled"),
        ).order_by()
        incoming = (
            open_supply.values("product")
            .annotate(units=Sum(F("quantity") - F("received") - F("cancelled")))
            .values("units")
        )
        next_delivery = open_supply.values("product").annotate(d=Min("expected_date")).values("d")
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_on_hand=Coalesce(Sum("stocks__on_hand"), 0),
                total_allocated=Coalesce(Sum("stocks__allocated"), 0),
                total_backordered=Coalesce(Subquery(backordered), 0),
                total_incoming=Coalesce(Subquery(incoming), 0),
                next_delivery_on=Subquery(next_delivery),
                last_eta_on=Subquery(waiting_etas),
            )
        )

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
        if product.supplier_terms.filter(supplier__is_active=True).exists():
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

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        changed = [label for name, label in self.SUPPLY_FIELDS.items() if name in form.changed_data]
        if terms_products(formsets):
            changed.append("supplier terms")
        if change and changed:
            catalogue.product_supply_changed(
                product_ids=[form.instance.pk],
                detail=f"{', '.join(changed).capitalize()} changed in the admin",
            )

    @admin.action(description="Fill backorders from free stock now")
    def reallocate(self, request: HttpRequest, queryset) -> None:
        total = 0
        for product in queryset.order_by("pk"):
            total += queue.product_reallocate(product_id=product.pk)
        self.message_user(request, f"Allocated {total} backordered unit(s).", messages.SUCCESS)


class StockChangeForm(forms.Form):
    KIND_CHOICES = (
        ("receipt", "Goods received"),
        ("adjustment", "Adjustment (stock count, damage, loss...)"),
        ("return", "Customer return (resellable)"),
    )
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(),
        widget=AutocompleteSelect(Stock._meta.get_field("product"), admin.site),
    )
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.all())
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    quantity = forms.IntegerField(
        min_value=-checks.MAX_QUANTITY,
        max_value=checks.MAX_QUANTITY,
        help_text="Signed for adjustments; positive for receipts and returns.",
    )
    reason = forms.CharField(max_length=255, required=False)
    reference = forms.CharField(max_length=100, required=False, help_text="Delivery note, RMA...")

    def clean(self) -> dict:
        data = super().clean() or {}
        kind, quantity = data.get("kind"), data.get("quantity")
        if quantity == 0:
            self.add_error("quantity", "Enter a quantity other than zero.")
        elif kind in ("receipt", "return") and quantity is not None and quantity < 0:
            self.add_error("quantity", "Receipts and returns are positive; use an adjustment.")
        if kind == "adjustment" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the stock changes.")
        return data


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

    def get_urls(self):
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
    list_select_related = ("stock__product", "stock__warehouse", "order_line__order", "actor")
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


# Purchasing ---------------------------------------------------------------------------------


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "email",
        "lead_time_days",
        "is_active",
        "receipts",
        "average_delay",
        "delay_spread",
        "on_time",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "email")
    fields = ("name", "email", "lead_time_days", "is_active", "reliability", "created_at")
    readonly_fields = ("reliability", "created_at")
    inlines = [ProductTermsInline]
    # What a change to these means for waiting customers: their ETAs are recomputed.
    SUPPLY_FIELDS = {"lead_time_days": "lead time", "is_active": "active"}

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

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        terms_changed = terms_products(formsets)
        super().save_related(request, form, formsets, change)
        supplier = form.instance
        changed = [
            label
            for name, label in self.SUPPLY_FIELDS.items()
            if change and name in form.changed_data
        ]
        product_ids = set(terms_changed)
        if changed:
            product_ids.update(supplier.terms.values_list("product_id", flat=True))
        if terms_changed:
            changed.append("terms")
        if product_ids:
            catalogue.product_supply_changed(
                product_ids=product_ids,
                detail=f"{supplier.name}: {', '.join(changed)} changed in the admin",
            )


PURCHASE_ORDER_NUMBER = re.compile(r"(?:PO-?)?0*(\d{1,18})", re.IGNORECASE)


def purchase_order_id(search_term: str) -> int | None:
    """The purchase order a search term names: "PO-00012", "po12" or "12"."""
    match = PURCHASE_ORDER_NUMBER.fullmatch(search_term.strip())
    return int(match.group(1)) if match else None


class PurchaseOrderSearchAdmin(admin.ModelAdmin):
    """Searching also finds rows by purchase-order number, as staff read it: "PO-00012"."""

    purchase_order_lookup = "pk"

    def get_search_results(
        self, request: HttpRequest, queryset: Any, search_term: str
    ) -> tuple[Any, bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = purchase_order_id(search_term)
        if number is not None:
            results |= queryset.filter(**{self.purchase_order_lookup: number})
        return results, may_have_duplicates


def show_refusal(form: forms.Form, error: BackorderError, fields: Mapping[str, str]) -> None:
    """Show a service's refusal next to the form field it names, else above the form.

    `fields` maps the service's field names (`error.fields`) to the form's.
    """
    for key in error.fields:
        name = fields.get(key)
        if name in form.fields:
            form.add_error(name, error.message)
            return
    form.add_error(None, error.message)


class PurchaseOrderForm(forms.ModelForm):
    class Meta:
        model = PurchaseOrder
        fields = ("supplier", "warehouse", "reference", "notes")

    def clean_supplier(self) -> Supplier:
        supplier = self.cleaned_data["supplier"]
        if "supplier" in self.changed_data and not supplier.is_active:
            raise ValidationError("This supplier is inactive.")
        return supplier


class PurchaseOrderLineForm(forms.ModelForm):
    class Meta:
        model = PurchaseOrderLine
        fields = ("product", "quantity", "expected_date", "unit_cost")

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data["quantity"]
        if not 1 <= quantity <= checks.MAX_QUANTITY:
            raise ValidationError(f"Enter a quantity from 1 to {checks.MAX_QUANTITY}.")
        settled = self.instance.received + self.instance.cancelled
        if quantity < settled:
            raise ValidationError(f"{settled} unit(s) are already received or cancelled.")
        return quantity

    def clean_expected_date(self) -> date:
        expected_date = self.cleaned_data["expected_date"]
        if "expected_date" in self.changed_data and expected_date < timezone.localdate():
            raise ValidationError("The expected date cannot be in the past.")
        return expected_date

    def clean_unit_cost(self) -> Any:
        unit_cost = self.cleaned_data["unit_cost"]
        if unit_cost is not None and unit_cost < 0:
            raise ValidationError("Unit cost cannot be negative.")
        return unit_cost


class PurchaseOrderLineFormSet(forms.BaseInlineFormSet):
    default_error_messages = {
        "too_few_forms": "A purchase order needs at least one line.",
        "too_many_forms": f"A purchase order has at most {checks.MAX_PURCHASE_LINES} lines.",
    }


class DraftLineInline(admin.TabularInline):
    """A draft's lines: editable until the order is placed with the supplier."""

    model = PurchaseOrderLine
    form = PurchaseOrderLineForm
    formset = PurchaseOrderLineFormSet
    fields = ("product", "quantity", "expected_date", "unit_cost")
    autocomplete_fields = ("product",)
    extra = 0
    min_num = 1
    max_num = checks.MAX_PURCHASE_LINES

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        return super().get_formset(request, obj, validate_min=True, validate_max=True, **kwargs)


class PlacedLineInline(ReadOnlyInline):
    """A placed order's lines: they change only through receiving, rescheduling, cancelling."""

    model = PurchaseOrderLine
    fields = (
        "product",
        "quantity",
        "expected_date",
        "first_expected_date",
        "received",
        "cancelled",
        "outstanding",
        "unit_cost",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("product")

    @admin.display(description="Outstanding")
    def outstanding(self, line: PurchaseOrderLine) -> int:
        return line.outstanding


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(PurchaseOrderSearchAdmin):
    form = PurchaseOrderForm
    list_display = (
        "number",
        "supplier",
        "warehouse_code",
        "status",
        "ordered_on",
        "expected",
        "units_ordered",
        "units_received",
        "units_outstanding",
    )
    list_filter = ("status", "supplier", "warehouse")
    search_fields = ("reference", "supplier__name")
    list_select_related = ("supplier", "warehouse")
    autocomplete_fields = ("supplier",)
    actions = ["place", "cancel"]
    change_form_template = "admin/inventory/purchaseorder/change_form.html"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Cancel instead: the order stays as a record of what was asked of the supplier.
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        lines = (
            PurchaseOrderLine.objects.filter(purchase_order=OuterRef("pk"))
            .order_by()
            .values("purchase_order")
        )
        open_lines = lines.filter(quantity__gt=F("received") + F("cancelled"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_ordered=Coalesce(
                    Subquery(lines.annotate(units=Sum("quantity")).values("units")), 0
                ),
                total_received=Coalesce(
                    Subquery(lines.annotate(units=Sum("received")).values("units")), 0
                ),
                total_outstanding=Coalesce(
                    Subquery(
                        lines.annotate(
                            units=Sum(F("quantity") - F("received") - F("cancelled"))
                        ).values("units")
                    ),
                    0,
                ),
                next_expected_date=Subquery(
                    open_lines.annotate(day=Min("expected_date")).values("day")
                ),
            )
        )

    @admin.display(description="Number", ordering="pk")
    def number(self, purchase_order: PurchaseOrder) -> str:
        return purchase_order.number

    @admin.display(description="Warehouse", ordering="warehouse__code")
    def warehouse_code(self, purchase_order: PurchaseOrder) -> str:
        return purchase_order.warehouse.code

    @admin.display(description="Ordered on", ordering="ordered_at")
    def ordered_on(self, purchase_order: PurchaseOrder) -> date | None:
        if purchase_order.ordered_at is None:
            return None
        return timezone.localdate(purchase_order.ordered_at)

    @admin.display(description="Next expected", ordering="next_expected_date")
    def expected(self, purchase_order: PurchaseOrder) -> date | None:
        return purchase_order.next_expected_date  # type: ignore[attr-defined]

    @admin.display(description="Ordered", ordering="total_ordered")
    def units_ordered(self, purchase_order: PurchaseOrder) -> int:
        return purchase_order.total_ordered  # type: ignore[attr-defined]

    @admin.display(description="Received", ordering="total_received")
    def units_received(self, purchase_order: PurchaseOrder) -> int:
        return purchase_order.total_received  # type: ignore[attr-defined]

    @admin.display(description="Outstanding", ordering="total_outstanding")
    def units_outstanding(self, purchase_order: PurchaseOrder) -> int:
        return purchase_order.total_outstanding  # type: ignore[attr-defined]

    # The form -----------------------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        if obj is None:
            return ["supplier", "warehouse", "reference", "notes"]
        return [
            "number",
            "status",
            "supplier",
            "warehouse",
            "reference",
            "notes",
            "ordered_at",
            "created_at",
            "actor",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        readonly = ["number", "status", "ordered_at", "created_at", "actor"]
        if obj.status != PurchaseOrder.Status.DRAFT:
            # Receipts and the supplier's reliability record are booked against these.
            readonly += ["supplier", "warehouse"]
        return readonly

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        if obj is None or obj.status == PurchaseOrder.Status.DRAFT:
            return [DraftLineInline]
        return [PlacedLineInline]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        default = Warehouse.objects.filter(is_default=True).values_list("pk", flat=True).first()
        if default is not None and "warehouse" not in initial:
            initial["warehouse"] = str(default)
        return initial

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except BackorderError as error:
            # Refused while saving, after the form was valid: the order changed meanwhile.
            # The admin's transaction has rolled back, so nothing was saved.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        context["is_draft"] = obj is not None and obj.status == PurchaseOrder.Status.DRAFT
        context["lines_open"] = (
            obj is not None
            and obj.status in PurchaseOrder.OPEN_STATUSES
            and request.user.has_perm("inventory.change_purchaseorder")
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(
        self, request: HttpRequest, obj: PurchaseOrder, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            # `purchase_order_create` makes the order together with its lines: see save_related.
            return
        if obj.status == PurchaseOrder.Status.DRAFT:
            # Hold the order's row from here until the lines are saved (the admin's transaction
            # ends after save_related), so "Place with supplier" sees either the old order or
            # the new one, and a placed order never changes here.
            status = (
                PurchaseOrder.objects.select_for_update()
                .filter(pk=obj.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status != PurchaseOrder.Status.DRAFT:
                raise InvalidTransition(
                    f"{obj.number} was placed or cancelled meanwhile: nothing was saved."
                )
        # Only what the form shows: the status and counters belong to the services.
        if form.changed_data:
            obj.save(update_fields=form.changed_data)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        if change:
            super().save_related(request, form, formsets, change)
            return
        formset = next(f for f in formsets if f.model is PurchaseOrderLine)
        rows = [
            f.cleaned_data
            for f in formset.forms
            if f.cleaned_data.get("product") and not f.cleaned_data.get("DELETE")
        ]
        data = form.cleaned_data
        created = purchasing.purchase_order_create(
            supplier=data["supplier"],
            warehouse=data["warehouse"],
            reference=data["reference"],
            notes=data["notes"],
            lines=[
                purchasing.PurchaseLineRequest(
                    sku=row["product"].sku,
                    quantity=row["quantity"],
                    expected_date=row["expected_date"],
                    unit_cost=row["unit_cost"],
                )
                for row in rows
            ],
            place=False,
            actor=request.user,
        )
        # The admin logs and redirects to the object it built from the form: make it the
        # order the service created.
        purchase_order = form.instance
        purchase_order.pk = created.pk
        purchase_order.status = created.status
        purchase_order.created_at = created.created_at
        purchase_order.actor_id = created.actor_id
        purchase_order._state.adding = False
        formset.new_objects = list(created.lines.select_related("purchase_order", "product"))
        formset.changed_objects = []
        formset.deleted_objects = []

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool
    ) -> None:
        if form.instance.status != PurchaseOrder.Status.DRAFT:
            # The lines are read-only: Django's own save writes nothing for them.
            super().save_formset(request, form, formset, change)
            return
        purchasing.purchase_order_draft_lines_save(
            purchase_order_id=form.instance.pk,
            lines=formset.save(commit=False),
            deleted=formset.deleted_objects,
            actor=request.user,
        )

    # Actions ------------------------------------------------------------------------------

    def _refused(self, request: HttpRequest, purchase_order: PurchaseOrder, error: Any) -> None:
        message = error.message
        if purchase_order.number not in message:
            message = f"{purchase_order.number}: {message}"
        self.message_user(request, message, messages.ERROR)

    @admin.action(description="Place with supplier", permissions=["change"])
    def place(self, request: HttpRequest, queryset: Any) -> None:
        for purchase_order in queryset.order_by("pk"):
            try:
                purchasing.purchase_order_place(
                    purchase_order_id=purchase_order.pk, actor=request.user
                )
            except BackorderError as error:
                self._refused(request, purchase_order, error)
            else:
                self.log_change(request, purchase_order, "Placed with the supplier.")
                self.message_user(
                    request,
                    f"{purchase_order.number} placed with {purchase_order.supplier}.",
                    messages.SUCCESS,
                )

    @admin.action(description="Cancel what is still to arrive", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: Any) -> None:
        for purchase_order in queryset.order_by("pk"):
            try:
                cancelled = purchasing.purchase_order_cancel(
                    purchase_order_id=purchase_order.pk, actor=request.user
                )
            except BackorderError as error:
                self._refused(request, purchase_order, error)
            else:
                self.log_change(request, purchase_order, "Cancelled what was still to arrive.")
                if cancelled.status == PurchaseOrder.Status.CANCELLED:
                    text = f"{purchase_order.number} cancelled."
                else:
                    text = (
                        f"{purchase_order.number}: what was still to arrive is cancelled;"
                        f" the order is now {cancelled.get_status_display().lower()}."
                    )
                self.message_user(request, text, messages.SUCCESS)

    # Receiving, rescheduling and cancelling lines -----------------------------------------

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_purchaseorder_receive",
            ),
            path(
                "<path:object_id>/reschedule/",
                self.admin_site.admin_view(self.reschedule_view),
                name="inventory_purchaseorder_reschedule",
            ),
            *super().get_urls(),
        ]

    def _open_purchase_order(
        self, request: HttpRequest, object_id: str
    ) -> tuple[PurchaseOrder, list[PurchaseOrderLine]] | HttpResponse:
        """The order and its lines, or a redirect to its page when it is not open."""
        if not request.user.has_perm("inventory.change_purchaseorder"):
            raise PermissionDenied
        purchase_order = self.get_object(request, unquote(object_id))
        if purchase_order is None:
            raise Http404("No such purchase order.")
        if purchase_order.status not in PurchaseOrder.OPEN_STATUSES:
            self.message_user(
                request,
                f"{purchase_order.number} is {purchase_order.get_status_display().lower()}:"
                " only an ordered purchase order has lines still to arrive.",
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(purchase_order))
        lines = list(purchase_order.lines.select_related("product").order_by("expected_date", "pk"))
        return purchase_order, lines

    def _change_url(self, purchase_order: PurchaseOrder) -> str:
        return reverse("admin:inventory_purchaseorder_change", args=[purchase_order.pk])

    def _render_lines_form(
        self,
        request: HttpRequest,
        template: str,
        title: str,
        purchase_order: PurchaseOrder,
        form: forms.Form,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": f"{purchase_order.number} from {purchase_order.supplier}",
            "purchase_order": purchase_order,
            "form": form,
            "media": self.media + form.media,
            "opts": self.opts,
            "change_url": self._change_url(purchase_order),
        }
        return render(request, template, context)

    def receive_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._open_purchase_order(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        purchase_order, lines = found
        form = PurchaseOrderReceiveForm(
            request.POST or None, lines=lines, initial={"received_on": timezone.localdate()}
        )
        if request.method == "POST" and form.is_valid():
            received = form.received()
            fields = {"received_on": "received_on", "reference": "reference"}
            for index, (line, _) in enumerate(received):
                for key in (f"lines[{index}]", f"lines[{index}].quantity"):
                    fields[key] = form.quantity_field(line)
            try:
                receipts = purchasing.purchase_order_receive(
                    purchase_order_id=purchase_order.pk,
                    lines=[
                        purchasing.ReceiptRequest(quantity=quantity, line_id=line.pk)
                        for line, quantity in received
                    ],
                    received_on=form.cleaned_data["received_on"],
                    reference=form.cleaned_data["reference"],
                    actor=request.user,
                )
            except BackorderError as error:
                show_refusal(form, error, fields)
            else:
                summary = ", ".join(
                    f"{receipt.quantity} x {receipt.line.product.sku}"
                    f" ({delay_text(receipt.delay_days)})"
                    for receipt in receipts
                )
                reference = form.cleaned_data["reference"]
                self.log_change(
                    request,
                    purchase_order,
                    f"Received {summary} on {form.cleaned_data['received_on']:%Y-%m-%d}"
                    + (f", delivery note {reference}." if reference else "."),
                )
                self.message_user(
                    request, f"{purchase_order.number}: received {summary}.", messages.SUCCESS
                )
                return HttpResponseRedirect(self._change_url(purchase_order))
        return self._render_lines_form(
            request,
            "admin/inventory/purchaseorder/receive.html",
            "Receive goods",
            purchase_order,
            form,
        )

    def reschedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._open_purchase_order(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        purchase_order, lines = found
        form = PurchaseOrderRescheduleForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            done: list[str] = []
            field = ""
            try:
                # All or nothing: one refused line leaves every line as it was.
                with transaction.atomic():
                    for line, expected_date in form.changes():
                        if expected_date is None:
                            field = form.cancel_field(line)
                            cancelled = purchasing.purchase_order_line_cancel(
                                line_id=line.pk, actor=request.user
                            )
                            units = cancelled.cancelled - line.cancelled
                            done.append(f"{line.product.sku}: {units} unit(s) cancelled")
                        else:
                            field = form.date_field(line)
                            purchasing.purchase_order_line_reschedule(
                                line_id=line.pk, expected_date=expected_date, actor=request.user
                            )
                            done.append(
                                f"{line.product.sku}: expected {line.expected_date:%Y-%m-%d}"
                                f" moved to {expected_date:%Y-%m-%d}"
                            )
            except BackorderError as error:
                form.add_error(field or None, error.message)
            else:
                self.log_change(request, purchase_order, "; ".join(done) + ".")
                self.message_user(
                    request, f"{purchase_order.number}: {'; '.join(done)}.", messages.SUCCESS
                )
                return HttpResponseRedirect(self._change_url(purchase_order))
        return self._render_lines_form(
            request,
            "admin/inventory/purchaseorder/reschedule.html",
            "Reschedule or cancel lines",
            purchase_order,
            form,
        )


class PurchaseOrderReceiveForm(forms.Form):
    received_on = forms.DateField(widget=AdminDateWidget, help_text="The day the goods arrived.")
    reference = forms.CharField(
        max_length=100,
        required=False,
        help_text="The supplier's delivery note; empty: the purchase order number.",
    )

    def __init__(self, *args: Any, lines: Sequence[PurchaseOrderLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every line gets a field, so a page left open while a line closed still reports it.
        self.lines = list(lines)
        for line in self.lines:
            self.fields[self.quantity_field(line)] = forms.IntegerField(
                label=f"{line.product.sku} received",
                required=False,
                min_value=1,
                max_value=checks.MAX_QUANTITY,
                widget=forms.NumberInput(attrs={"class": "vIntegerField"}),
            )

    @staticmethod
    def quantity_field(line: PurchaseOrderLine) -> str:
        return f"quantity_{line.pk}"

    def rows(self) -> list[tuple[PurchaseOrderLine, BoundField]]:
        """The lines to show: those still to arrive, and any the refusal is about."""
        rows = [(line, self[self.quantity_field(line)]) for line in self.lines]
        return [(line, field) for line, field in rows if line.outstanding or field.errors]

    def received(self) -> list[tuple[PurchaseOrderLine, int]]:
        quantities = [
            (line, self.cleaned_data.get(self.quantity_field(line))) for line in self.lines
        ]
        return [(line, quantity) for line, quantity in quantities if quantity]


class PurchaseOrderRescheduleForm(forms.Form):
    def __init__(self, *args: Any, lines: Sequence[PurchaseOrderLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for line in self.lines:
            self.fields[self.date_field(line)] = forms.DateField(
                label=f"{line.product.sku} new expected date",
                required=False,
                widget=AdminDateWidget,
            )
            self.fields[self.cancel_field(line)] = forms.BooleanField(
                label=f"Cancel the rest of {line.product.sku}", required=False
            )

    @staticmethod
    def date_field(line: PurchaseOrderLine) -> str:
        return f"expected_date_{line.pk}"

    @staticmethod
    def cancel_field(line: PurchaseOrderLine) -> str:
        return f"cancel_{line.pk}"

    def rows(self) -> list[tuple[PurchaseOrderLine, BoundField, BoundField]]:
        rows = [
            (line, self[self.date_field(line)], self[self.cancel_field(line)])
            for line in self.lines
        ]
        return [row for row in rows if row[0].outstanding or row[1].errors or row[2].errors]

    def changes(self) -> list[tuple[PurchaseOrderLine, date | None]]:
        """Each line to change, with its new expected date; None to cancel the rest."""
        changes: list[tuple[PurchaseOrderLine, date | None]] = []
        for line in self.lines:
            expected_date = self.cleaned_data.get(self.date_field(line))
            if self.cleaned_data.get(self.cancel_field(line)):
                changes.append((line, None))
            elif expected_date is not None and expected_date != line.expected_date:
                changes.append((line, expected_date))
        return changes

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for line in self.lines:
            if data.get(self.date_field(line)) and data.get(self.cancel_field(line)):
                self.add_error(
                    self.date_field(line), "Either move the date or cancel the rest, not both."
                )
        if not self.errors and not self.changes():
            raise ValidationError(
                "Nothing to change: enter a new expected date or tick “cancel the rest” on a line."
            )
        return data


class ArrivalFilter(admin.SimpleListFilter):
    """Incoming supply: by default only what placed orders still have to deliver."""

    title = "arrival"
    parameter_name = "arrival"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("overdue", "Overdue"),
            ("all", "All lines (drafts, received, cancelled too)"),
        ]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Still to arrive",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "all":
            return queryset
        queryset = queryset.filter(
            purchase_order__status__in=PurchaseOrder.OPEN_STATUSES, remaining__gt=0
        )
        if self.value() == "overdue":
            queryset = queryset.filter(expected_date__lt=timezone.localdate())
        return queryset


@admin.register(PurchaseOrderLine)
class PurchaseOrderLineAdmin(ReadOnlyAdminMixin, PurchaseOrderSearchAdmin):
    """ "Incoming supply": what suppliers still have to deliver, and when."""

    list_display = (
        "expected_date",
        "product",
        "purchase_order_number",
        "supplier",
        "quantity",
        "outstanding",
        "first_expected_date",
    )
    list_filter = (ArrivalFilter, "purchase_order__supplier", "purchase_order__warehouse")
    search_fields = ("product__sku", "product__name", "purchase_order__reference")
    list_select_related = ("product", "purchase_order__supplier")
    date_hierarchy = "expected_date"
    ordering = ("expected_date", "pk")
    purchase_order_lookup = "purchase_order_id"

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(remaining=F("quantity") - F("received") - F("cancelled"))
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"title": "Incoming supply", **(extra_context or {})}
        )

    @admin.display(description="Purchase order", ordering="purchase_order")
    def purchase_order_number(self, line: PurchaseOrderLine) -> str:
        return purchase_order_link(line.purchase_order)

    @admin.display(description="Supplier", ordering="purchase_order__supplier__name")
    def supplier(self, line: PurchaseOrderLine) -> Supplier:
        return line.purchase_order.supplier

    @admin.display(description="Outstanding", ordering="remaining")
    def outstanding(self, line: PurchaseOrderLine) -> int:
        return line.outstanding


@admin.register(PurchaseReceipt)
class PurchaseReceiptAdmin(ReadOnlyAdminMixin, PurchaseOrderSearchAdmin):
    list_display = (
        "received_on",
        "purchase_order_number",
        "supplier",
        "product",
        "quantity",
        "expected_date",
        "delay_days",
        "actor",
    )
    list_filter = ("line__purchase_order__supplier",)
    search_fields = ("line__product__sku", "line__product__name", "movement__reference")
    list_select_related = ("line__product", "line__purchase_order__supplier", "actor")
    date_hierarchy = "received_on"
    purchase_order_lookup = "line__purchase_order_id"

    @admin.display(description="Purchase order", ordering="line__purchase_order")
    def purchase_order_number(self, receipt: PurchaseReceipt) -> str:
        return purchase_order_link(receipt.line.purchase_order)

    @admin.display(description="Supplier", ordering="line__purchase_order__supplier__name")
    def supplier(self, receipt: PurchaseReceipt) -> Supplier:
        return receipt.line.purchase_order.supplier

    @admin.display(description="Product", ordering="line__product__sku")
    def product(self, receipt: PurchaseReceipt) -> Product:
        return receipt.line.product

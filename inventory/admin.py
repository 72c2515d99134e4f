from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse

from inventory import services
from inventory.exceptions import BackorderError
from inventory.models import Allocation, Product, Stock, StockMovement, Warehouse


class ReadOnlyAdminMixin:
    """Rows that only services write: staff may look, never edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class StockInline(admin.TabularInline):
    model = Stock
    extra = 0
    fields = ("warehouse", "on_hand", "allocated", "free")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

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
    )
    list_filter = ("backorder_policy",)
    search_fields = ("sku", "name")
    inlines = [StockInline]
    actions = ["reallocate"]
    fieldsets = (
        (None, {"fields": ("sku", "name", "price")}),
        (
            "Selling when out of stock",
            {
                "fields": (
                    "backorder_policy",
                    "lead_time_days",
                    "backorder_limit",
                    "max_per_order",
                    "release_date",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest):
        from orders.models import OrderLine

        backordered = (
            OrderLine.objects.filter(product=OuterRef("pk"), backordered__gt=0)
            .order_by()
            .values("product")
            .annotate(units=Sum("backordered"))
            .values("units")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_on_hand=Coalesce(Sum("stocks__on_hand"), 0),
                total_allocated=Coalesce(Sum("stocks__allocated"), 0),
                total_backordered=Coalesce(Subquery(backordered), 0),
            )
        )

    @admin.display(description="On hand", ordering="total_on_hand")
    def on_hand(self, product: Product) -> int:
        return product.total_on_hand  # type: ignore[attr-defined]

    @admin.display(description="Allocated", ordering="total_allocated")
    def allocated(self, product: Product) -> int:
        return product.total_allocated  # type: ignore[attr-defined]

    @admin.display(description="Backordered", ordering="total_backordered")
    def backordered(self, product: Product) -> int:
        return product.total_backordered  # type: ignore[attr-defined]

    @admin.action(description="Fill backorders from free stock now")
    def reallocate(self, request: HttpRequest, queryset) -> None:
        total = 0
        for product in queryset.order_by("pk"):
            total += services.product_reallocate(product_id=product.pk)
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
        min_value=-services.MAX_QUANTITY,
        max_value=services.MAX_QUANTITY,
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
                    services.stock_receive(**common, reference=data["reference"])
                elif data["kind"] == "return":
                    services.stock_return(**common, reason=data["reason"])
                else:
                    services.stock_adjust(**common, reason=data["reason"])
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

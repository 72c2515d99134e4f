from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from config.admin_mixins import ReadOnlyAdminMixin, ReadOnlyInline
from inventory.exceptions import BackorderError
from notifications.models import Notification
from orders import services
from orders.models import (
    EtaChange,
    Order,
    OrderEvent,
    OrderLine,
    RefusedDemand,
    Shipment,
    ShipmentLine,
)
from orders.selectors import eta_accuracy, order_totals, orders_with_totals
from orders.templatetags.shop import money

LINE_COUNTERS = ("quantity", "allocated", "backordered", "shipped", "cancelled")
LINE_ETAS = ("eta", "first_promised_eta")


def days_moved_text(change: EtaChange) -> str:
    days = change.days_moved
    return "-" if days is None else f"{days:+d}"


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("product", "status", *LINE_COUNTERS, *LINE_ETAS, "unit_price")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("order", "product")


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = (
        "created_at",
        "kind",
        "line",
        "quantity",
        "status_before",
        "status_after",
        "message",
        "actor",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("line__order", "line__product", "actor")


class NotificationInline(ReadOnlyInline):
    """Every email the customer was owed about this order, and whether it went out."""

    model = Notification
    verbose_name = "email"
    verbose_name_plural = "emails to the customer"
    fields = ("created_at", "kind", "status", "attempts", "sent_at", "last_error")
    readonly_fields = fields
    show_change_link = True


class EtaChangeInline(ReadOnlyInline):
    """The order's ETA history: every move of a line's ETA, and why."""

    model = EtaChange
    verbose_name = "ETA change"
    verbose_name_plural = "ETA history"
    fields = ("created_at", "sku", "previous", "eta", "days_moved", "cause", "detail")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("line__product")

    @admin.display(description="SKU")
    def sku(self, change: EtaChange) -> str:
        return change.line.product.sku

    @admin.display(description="Days moved")
    def days_moved(self, change: EtaChange) -> str:
        return days_moved_text(change)


class ShipmentInline(ReadOnlyInline):
    model = Shipment
    fields = ("created_at", "tracking", "actor")
    readonly_fields = fields
    show_change_link = True


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "created_at",
        "name",
        "email",
        "locale",
        "ship_complete",
        "priority",
        "units",
        "units_backordered",
        "total",
        "ships_by",
    )
    list_filter = ("locale", "ship_complete", "lines__status")
    search_fields = ("number", "email", "name")
    date_hierarchy = "created_at"
    readonly_fields = (
        "number",
        "created_at",
        "email",
        "name",
        "phone",
        "ship_to",
        "locale",
        "ship_complete",
        "totals",
    )
    fields = (*readonly_fields, "priority")
    actions = ["ship_together", "ship_as_ready"]
    inlines = [
        OrderLineInline,
        ShipmentInline,
        OrderEventInline,
        EtaChangeInline,
        NotificationInline,
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return orders_with_totals(super().get_queryset(request))

    @admin.display(description="Ship to")
    def ship_to(self, order: Order) -> str:
        return "\n".join(order.shipping_lines[1:]) or "-"

    def _ship_complete_set(self, request: HttpRequest, queryset: Any, ship_complete: bool) -> None:
        if not request.user.has_perm("orders.change_order"):
            raise PermissionDenied
        changed, problems = 0, []
        for order in queryset.order_by("pk"):
            try:
                services.order_ship_complete_set(
                    order_id=order.pk, ship_complete=ship_complete, actor=request.user
                )
            except BackorderError as refused:
                problems.append(f"{order.number}: {refused.message}")
            else:
                changed += 1
        self.message_user(request, f"Updated {changed} order(s).", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.ERROR)

    @admin.action(description="Ship everything together (tells the customer)")
    def ship_together(self, request: HttpRequest, queryset: Any) -> None:
        self._ship_complete_set(request, queryset, True)

    @admin.action(description="Ship what is ready now (tells the customer)")
    def ship_as_ready(self, request: HttpRequest, queryset: Any) -> None:
        self._ship_complete_set(request, queryset, False)

    @admin.display(description="Ships by", ordering="last_eta")
    def ships_by(self, order: Order) -> date | None:
        """When the last open line is expected to ship: the whole order, if it ships complete."""
        return order.last_eta  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        # Priority is the one editable field, and it reorders queues: through the service.
        if "priority" in form.changed_data:
            services.order_priority_set(order_id=obj.pk, priority=obj.priority, actor=request.user)

    @admin.display(description="Total", ordering="total_value")
    def total(self, order: Order) -> str:
        return money(order.total_value)  # type: ignore[attr-defined]

    @admin.display(description="Totals")
    def totals(self, order: Order) -> str:
        """What the order is worth, shipped, still to ship (of it waiting), cancelled."""
        totals = order_totals(list(order.lines.all()))
        parts = [
            f"{money(totals.total)} in all",
            f"{money(totals.shipped)} shipped",
            f"{money(totals.to_ship)} to ship ({money(totals.waiting)} of it waiting for stock)",
            f"{money(totals.cancelled)} cancelled",
        ]
        return "; ".join(parts)

    @admin.display(description="Units", ordering="total_units")
    def units(self, order: Order) -> int:
        return order.total_units  # type: ignore[attr-defined]

    @admin.display(description="Backordered", ordering="total_backordered")
    def units_backordered(self, order: Order) -> int:
        return order.total_backordered  # type: ignore[attr-defined]


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("order", "product", "status", *LINE_COUNTERS, *LINE_ETAS)
    list_filter = ("status",)
    search_fields = ("order__number", "order__email", "product__sku")
    list_select_related = ("order", "product")
    actions = ["cancel_backordered", "cancel_all"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # The changelist actions need it; a line's own form stays view-only, since saving it
        # would write back counters read before the services last changed them.
        return obj is None and request.user.has_perm("orders.change_orderline")

    def get_readonly_fields(self, request: HttpRequest, obj: object = None):
        return [field.name for field in self.model._meta.fields]

    def _cancel(
        self, request: HttpRequest, queryset, *, action: str, backordered_only: bool
    ) -> TemplateResponse | None:
        """Ask for the reason the customer will read, then cancel through the service."""
        form = CancelReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/orders/orderline/cancel.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Cancel order lines",
                    "opts": self.model._meta,
                    "lines": queryset.select_related("order", "product").order_by("pk"),
                    "form": form,
                    "action": action,
                    "backordered_only": backordered_only,
                },
            )
        reason = form.cleaned_data["reason"]
        cancelled, refused = 0, []
        for line in queryset.order_by("pk"):
            quantity = line.backordered if backordered_only else line.backordered + line.allocated
            if not quantity:
                continue
            try:
                services.order_line_cancel(
                    line_id=line.pk, quantity=quantity, actor=request.user, reason=reason
                )
            except BackorderError as error:
                refused.append(f"{line}: {error.message}")
            else:
                cancelled += quantity
        self.message_user(request, f"Cancelled {cancelled} unit(s).", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, problem, messages.ERROR)
        return None

    @admin.action(description="Cancel backordered units", permissions=["change"])
    def cancel_backordered(self, request: HttpRequest, queryset) -> TemplateResponse | None:
        return self._cancel(request, queryset, action="cancel_backordered", backordered_only=True)

    @admin.action(
        description="Cancel all unshipped units (frees allocated stock)", permissions=["change"]
    )
    def cancel_all(self, request: HttpRequest, queryset) -> TemplateResponse | None:
        return self._cancel(request, queryset, action="cancel_all", backordered_only=False)


class CancelReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        help_text="The customer reads this in the cancellation email.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    def clean_reason(self) -> str:
        return " ".join(self.cleaned_data["reason"].split())


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ("order_line", "stock", "quantity")
    readonly_fields = fields


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "order", "tracking", "created_at", "actor")
    search_fields = ("order__number", "tracking")
    list_select_related = ("order", "actor")
    inlines = [ShipmentLineInline]


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "order", "kind", "line", "quantity", "status_after", "actor")
    list_filter = ("kind",)
    search_fields = ("order__number",)
    list_select_related = ("order", "line", "actor")


@admin.register(RefusedDemand)
class RefusedDemandAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "product", "quantity", "reason")
    list_filter = ("reason",)
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)
    date_hierarchy = "created_at"


@admin.register(EtaChange)
class EtaChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "order",
        "sku",
        "previous",
        "eta",
        "days_moved",
        "cause",
        "detail",
    )
    list_filter = ("cause",)
    search_fields = ("order__number",)
    list_select_related = ("order", "line__product")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-pk")

    ACCURACY_PERIODS = (30, 90, 365)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(request, {"title": "ETA history", **(extra_context or {})})

    def get_urls(self):
        return [
            path(
                "accuracy/",
                self.admin_site.admin_view(self.accuracy_view),
                name="orders_etachange_accuracy",
            ),
            *super().get_urls(),
        ]

    def accuracy_view(self, request: HttpRequest) -> HttpResponse:
        """Were the first promises kept? Shipped lines against their first promised ETA."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = int(request.GET.get("days", 90))
        except ValueError:
            days = 90
        if days not in self.ACCURACY_PERIODS:
            days = 90
        since = timezone.localdate() - timedelta(days=days)
        total, products = eta_accuracy(since=since)
        context = {
            **self.admin_site.each_context(request),
            "title": "ETA accuracy",
            "opts": self.model._meta,
            "days": days,
            "periods": self.ACCURACY_PERIODS,
            "since": since,
            "total": total,
            "products": products,
        }
        return render(request, "admin/orders/etachange/accuracy.html", context)

    @admin.display(description="SKU", ordering="line__product__sku")
    def sku(self, change: EtaChange) -> str:
        return change.line.product.sku

    @admin.display(description="Days moved")
    def days_moved(self, change: EtaChange) -> str:
        return days_moved_text(change)

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from config.admin_mixins import ReadOnlyAdminMixin, ReadOnlyInline
from inventory.exceptions import BackorderError
from inventory.models import Product, Supplier, SupplierProduct
from notifications.models import Notification
from orders import services
from orders.models import (
    NUMBER_SHAPE,
    EtaChange,
    Order,
    OrderEvent,
    OrderLine,
    ReadyToShip,
    RefusedDemand,
    Shipment,
    ShipmentLine,
)
from orders.reports import AGE_BUCKETS, age_bucket_filters, past_first_promise
from orders.selectors import (
    eta_accuracy,
    lines_ready_to_ship,
    order_totals,
    orders_with_totals,
)
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
    fields = ("created_at", "carrier", "tracking", "actor")
    readonly_fields = fields
    show_change_link = True


# Shipping --------------------------------------------------------------------------------------

SHIP_PERMISSION = "orders.add_shipment"


class ShipmentForm(forms.Form):
    """One shipment of one order: how many units of each ready line, the carrier, tracking."""

    carrier = forms.CharField(
        max_length=50,
        required=False,
        help_text="JNE, J&T, SiCepat...",
        widget=forms.TextInput(attrs={"size": 12}),
    )
    tracking = forms.CharField(
        label="Tracking number",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"size": 24}),
    )

    def __init__(self, *args: Any, order: Order, lines: list[OrderLine], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order, self.lines = order, lines
        for line in lines:
            self.fields[self.line_field(line)] = forms.IntegerField(
                label=f"{line.product.sku} to ship",
                min_value=0,
                max_value=line.allocated,
                initial=line.allocated,
                widget=forms.NumberInput(attrs={"style": "width: 6em"}),
            )

    @staticmethod
    def line_field(line: OrderLine) -> str:
        return f"line_{line.pk}"

    def rows(self) -> list[tuple[OrderLine, forms.BoundField]]:
        return [(line, self[self.line_field(line)]) for line in self.lines]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not self.shipment_lines():
            raise forms.ValidationError("Choose at least one unit to ship.")
        return data

    def shipment_lines(self) -> list[tuple[int, int]]:
        """(order line id, units) for every line with units to ship."""
        chosen = (
            (line.pk, self.cleaned_data.get(self.line_field(line)) or 0) for line in self.lines
        )
        return [(line_id, units) for line_id, units in chosen if units > 0]


def ship_page(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    groups: list[tuple[Order, list[OrderLine]]],
    *,
    hidden: list[tuple[str, Any]],
    back_url: str,
) -> HttpResponse | None:
    """The shipping form of one or more orders, each with its ready lines; on a valid post,
    one shipment per order through `services.shipment_create`, and None (the caller
    redirects). `hidden` are the (name, value) fields the page must post back (an action and
    its selection)."""
    if not request.user.has_perm(SHIP_PERMISSION):
        raise PermissionDenied
    posted = request.method == "POST" and "ship" in request.POST
    forms_ = [
        ShipmentForm(
            request.POST if posted else None, order=order, lines=lines, prefix=f"order-{order.pk}"
        )
        for order, lines in groups
    ]
    if posted and all(form.is_valid() for form in forms_):
        for form in forms_:
            order = form.order
            try:
                shipment = services.shipment_create(
                    order=order,
                    lines=form.shipment_lines(),
                    carrier=form.cleaned_data["carrier"],
                    tracking=form.cleaned_data["tracking"],
                    actor=request.user,
                )
            except BackorderError as refused:
                model_admin.message_user(
                    request, f"{order.number}: not shipped. {refused.message}", messages.ERROR
                )
                continue
            units = sum(units for _, units in form.shipment_lines())
            via = " ".join(part for part in (shipment.carrier, shipment.tracking) if part)
            model_admin.message_user(
                request,
                f"{order.number}: shipped {units} unit(s)"
                + (f", {via}" if via else "")
                + ". The customer is emailed.",
                messages.SUCCESS,
            )
        return None
    return TemplateResponse(
        request,
        "admin/orders/ship.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": "Ship orders" if len(groups) > 1 else f"Ship {groups[0][0].number}",
            "opts": model_admin.model._meta,
            "forms": forms_,
            "hidden": hidden,
            "back_url": back_url,
        },
    )


class OrderAdminForm(forms.ModelForm):
    """The order page's one editable field, the queue priority, and why it changes."""

    priority_reason = forms.CharField(
        label="Reason for the priority change",
        max_length=200,
        required=False,
        help_text="Why this order moves in the queue (a VIP, a replacement for a lost"
        " parcel...): recorded on the order's history with your name.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = Order
        fields = ["priority"]

    def clean_priority_reason(self) -> str:
        return " ".join(self.cleaned_data["priority_reason"].split())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "priority" in self.changed_data and not data.get("priority_reason"):
            self.add_error("priority_reason", "Say why the priority changes.")
        return data


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderAdminForm
    list_display = (
        "number",
        "placed",
        "name",
        "locale",
        "ship_complete",
        "priority",
        "units",
        "units_backordered",
        "total",
        "ships_by",
    )
    list_filter = ("locale", "ship_complete", "lines__status", ("created_at", DateFieldListFilter))
    search_fields = ("number", "email", "name")
    # No date hierarchy: its links list every day any order was placed (a scan of them all).
    show_full_result_count = False
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
    fields = (*readonly_fields, "priority", "priority_reason")
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

    def get_fields(self, request: HttpRequest, obj: Order | None = None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            return [name for name in fields if name != "priority_reason"]
        return fields

    def get_urls(self):
        return [
            path(
                "<path:object_id>/ship/",
                self.admin_site.admin_view(self.ship_view),
                name="orders_order_ship",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Order | None = None,
    ) -> HttpResponse:
        context["can_ship"] = (
            obj is not None
            and request.user.has_perm(SHIP_PERMISSION)
            and obj.lines.filter(allocated__gt=0).exists()
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def ship_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Ship some or all of what is ready of one order, with carrier and tracking."""
        if not request.user.has_perm(SHIP_PERMISSION):
            raise PermissionDenied
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404("No such order.")
        order_url = reverse("admin:orders_order_change", args=[order.pk])
        lines = list(lines_ready_to_ship(order.lines.select_related("product")).order_by("pk"))
        if not lines:
            waiting = sum(line.backordered for line in order.lines.all())
            why = (
                f"it ships complete and {waiting} unit(s) still wait for stock"
                if order.ship_complete and waiting
                else "none of it is allocated"
            )
            self.message_user(
                request, f"{order.number} has nothing to ship: {why}.", messages.WARNING
            )
            return HttpResponseRedirect(order_url)
        page = ship_page(self, request, [(order, lines)], hidden=[], back_url=order_url)
        return page if page is not None else HttpResponseRedirect(order_url)

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
            services.order_priority_set(
                order_id=obj.pk,
                priority=obj.priority,
                actor=request.user,
                reason=form.cleaned_data["priority_reason"],
            )

    @admin.display(description="Placed", ordering="created_at")
    def placed(self, order: Order) -> date:
        return timezone.localtime(order.created_at).date()

    @admin.display(description="Total", ordering="total_value")
    def total(self, order: Order) -> str:
        return money(order.total_value)  # type: ignore[attr-defined]

    @admin.display(description="Totals")
    def totals(self, order: Order) -> str:
        """What the order is worth, shipped, still to ship (of it waiting), cancelled."""
        totals = order_totals(list(order.lines.all()))
        parts = [f"{money(totals.total)} in all"]
        if totals.shipped:
            parts.append(f"{money(totals.shipped)} shipped")
        if totals.to_ship:
            waiting = (
                f" ({money(totals.waiting)} of it waiting for stock)" if totals.waiting else ""
            )
            parts.append(f"{money(totals.to_ship)} to ship{waiting}")
        if totals.cancelled:
            parts.append(f"{money(totals.cancelled)} cancelled")
        return "; ".join(parts)

    @admin.display(description="Units", ordering="total_units")
    def units(self, order: Order) -> int:
        return order.total_units  # type: ignore[attr-defined]

    @admin.display(description="Backordered", ordering="total_backordered")
    def units_backordered(self, order: Order) -> int:
        return order.total_backordered  # type: ignore[attr-defined]


class LineAgeFilter(admin.SimpleListFilter):
    """Days since the line's order was placed, in the ageing report's buckets."""

    title = "days since ordered"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(label, f"{label} days") for label, _, _ in AGE_BUCKETS]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        buckets = age_bucket_filters("queued_at", timezone.localdate())
        value = self.value() or ""
        return queryset.filter(buckets[value]) if value in buckets else queryset


class ProductFilter(admin.SimpleListFilter):
    """One product's lines (`?sku=`, as its page links here). Only the chosen product is
    listed: a sidebar of every product would not fit a shop of thousands; search by SKU to
    find one."""

    title = "product"
    parameter_name = "sku"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sku = self.value()
        return [(sku, sku)] if sku else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(product__sku=self.value()) if self.value() else queryset


class PromiseFilter(admin.SimpleListFilter):
    title = "first promise"
    parameter_name = "promise"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("past", "Past it, not shipped")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "past":
            return queryset.filter(past_first_promise(timezone.localdate()))
        return queryset


class SupplierFilter(admin.SimpleListFilter):
    """Lines of the products a supplier offers (its terms), preferred or not."""

    title = "supplier"
    parameter_name = "supplier"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Supplier.objects.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value() or ""
        if value.isdigit():
            terms = SupplierProduct.objects.filter(supplier_id=int(value))
            return queryset.filter(product__in=terms.values("product"))
        return queryset


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every order line, in queue order: priority, then when the order was placed."""

    list_display = ("order", "placed", "sku", "status", "units", *LINE_ETAS)
    list_filter = ("status", ProductFilter, PromiseFilter, LineAgeFilter, SupplierFilter)
    search_fields = ("order__number", "order__email", "product__sku")
    list_select_related = ("order", "product")
    ordering = ("-queue_priority", "queued_at", "id")
    actions = ["cancel_backordered", "cancel_all"]
    show_full_result_count = False

    @admin.display(description="Placed", ordering="queued_at")
    def placed(self, line: OrderLine) -> Any:
        return timezone.localtime(line.queued_at).date()

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        """An order number, a SKU or an email is looked up exactly, through an index; any
        other text is searched for in all three (a scan of every line)."""
        term = search_term.strip()
        if NUMBER_SHAPE.fullmatch(term.upper()):
            return queryset.filter(order__number=term.upper()), False
        products = Product.objects.filter(sku__iexact=term)
        if term and products.exists():
            return queryset.filter(product__in=products.values("pk")), False
        if "@" in term:
            orders = Order.objects.filter(email__iexact=term)
            return queryset.filter(order__in=orders.values("pk")), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, line: OrderLine) -> str:
        return line.product.sku

    @admin.display(description="Units", ordering="quantity")
    def units(self, line: OrderLine) -> str:
        """ "5: 3 allocated, 2 waiting": the line's quantity and how it splits (no zeros)."""
        parts = [
            f"{count} {label}"
            for count, label in (
                (line.allocated, "allocated"),
                (line.backordered, "waiting"),
                (line.shipped, "shipped"),
                (line.cancelled, "cancelled"),
            )
            if count
        ]
        return f"{line.quantity}: {', '.join(parts)}"

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
        in_error = form.cleaned_data["in_error"]
        cancelled, refused = 0, []
        for line in queryset.order_by("pk"):
            quantity = line.backordered if backordered_only else line.backordered + line.allocated
            if not quantity:
                continue
            try:
                services.order_line_cancel(
                    line_id=line.pk,
                    quantity=quantity,
                    actor=request.user,
                    reason=reason,
                    in_error=in_error,
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
    in_error = forms.BooleanField(
        label="Entered in error",
        required=False,
        help_text="A duplicate or test order: its units are left out of the demand forecasts.",
    )

    def clean_reason(self) -> str:
        return " ".join(self.cleaned_data["reason"].split())


@admin.register(ReadyToShip)
class ReadyToShipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the warehouse picks next: lines with stock set aside that may ship now (an order
    that ships complete once nothing of it waits), in queue order, with where to pick."""

    list_display = (
        "order_link",
        "placed",
        "customer",
        "product",
        "to_ship",
        "pick_from",
        "ships_together",
    )
    list_filter = ("order__ship_complete", "allocations__stock__warehouse")
    search_fields = ("order__number", "order__email", "order__name", "product__sku")
    list_select_related = ("order", "product")
    actions = ["ship_selected"]
    list_per_page = 100
    show_full_result_count = False
    list_display_links = None  # each row links to its order, where the shipping form is

    def get_queryset(self, request: HttpRequest):
        return lines_ready_to_ship(super().get_queryset(request)).prefetch_related(
            "allocations__stock__warehouse"
        )

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SHIP_PERMISSION)

    @admin.display(description="Order", ordering="order__number")
    def order_link(self, line: OrderLine) -> str:
        url = reverse("admin:orders_order_change", args=[line.order_id])
        return format_html('<a href="{}">{}</a>', url, line.order.number)

    @admin.display(description="Placed", ordering="queued_at")
    def placed(self, line: OrderLine) -> Any:
        return line.order.created_at

    @admin.display(description="Customer", ordering="order__name")
    def customer(self, line: OrderLine) -> str:
        return line.order.name

    @admin.display(description="To ship", ordering="allocated")
    def to_ship(self, line: OrderLine) -> int:
        return line.allocated

    @admin.display(description="Pick from")
    def pick_from(self, line: OrderLine) -> str:
        return format_html_join(
            ", ",
            "{} &times; {}",
            ((a.quantity, a.stock.warehouse.code) for a in line.allocations.all()),
        )

    @admin.display(description="Ships together", boolean=True)
    def ships_together(self, line: OrderLine) -> bool:
        return line.order.ship_complete

    @admin.action(
        description="Ship selected lines (asks for carrier and tracking)", permissions=["ship"]
    )
    def ship_selected(self, request: HttpRequest, queryset) -> HttpResponse | None:
        groups: dict[int, tuple[Order, list[OrderLine]]] = {}
        for line in queryset.select_related("order", "product").order_by("order_id", "pk"):
            groups.setdefault(line.order_id, (line.order, []))[1].append(line)
        if not groups:
            self.message_user(request, "Nothing selected is ready to ship.", messages.WARNING)
            return None
        return ship_page(
            self,
            request,
            list(groups.values()),
            hidden=[
                ("action", "ship_selected"),
                *(("_selected_action", line.pk) for _, lines in groups.values() for line in lines),
            ],
            back_url=reverse("admin:orders_readytoship_changelist"),
        )


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ("order_line", "stock", "quantity")
    readonly_fields = fields


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "order", "carrier", "tracking", "created_at", "actor")
    search_fields = ("order__number", "tracking")
    list_select_related = ("order", "actor")
    inlines = [ShipmentLineInline]


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "order", "kind", "line", "quantity", "status_after", "actor")
    list_filter = ("kind",)
    search_fields = ("order__number",)
    # Each line shows as its order number, SKU and quantity: those come with it.
    list_select_related = ("order", "line__order", "line__product", "actor")


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

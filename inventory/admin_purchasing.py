"""The purchasing backoffice: purchase orders from draft to received, incoming supply and
receipts.

Part of the inventory admin, in a module of its own because the inventory admin is too long
for one: `inventory.admin` imports it, so Django's autodiscovery registers these too, and it
imports nothing from there. Like the rest of the admin it is a shell: every write goes
through `inventory.purchasing`, which takes the locks, and every list reads through
`inventory.selectors`.

About 650 lines, over the 600 the other modules keep to: the purchase order page carries
two views of its own (receive, reschedule) with their forms' wiring, and splitting them from
the admin class they extend would scatter one page over two files.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from config.admin_mixins import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    adopt,
    show_refusal,
)
from config.roles import RECEIVE_PERMISSION
from inventory import checks, purchasing, selectors
from inventory.exceptions import BackorderError
from inventory.forms import (
    PurchaseOrderForm,
    PurchaseOrderLineForm,
    PurchaseOrderLineFormSet,
    PurchaseOrderReceiveForm,
    PurchaseOrderRescheduleForm,
)
from inventory.models import (
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    Supplier,
    Warehouse,
)


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
        "origin",
        "auto_placed",
    )
    list_filter = ("status", "origin", "auto_placed", "supplier", "warehouse")
    search_fields = ("reference", "supplier__name")
    list_select_related = ("supplier", "warehouse")
    autocomplete_fields = ("supplier",)
    actions = ["place", "cancel"]
    change_form_template = "admin/inventory/purchaseorder/change_form.html"

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Cancel instead: the order stays as a record of what was asked of the supplier.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PurchaseOrder]:
        return selectors.purchase_orders_with_totals(super().get_queryset(request))

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
        is_open = obj is not None and obj.status in PurchaseOrder.OPEN_STATUSES
        context["can_receive"] = is_open and request.user.has_perm(RECEIVE_PERMISSION)
        context["can_reschedule"] = is_open and request.user.has_perm(
            "inventory.change_purchaseorder"
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(
        self, request: HttpRequest, obj: PurchaseOrder, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            # `purchase_order_create` makes the order together with its lines: see save_related.
            return
        # Only what the form shows: the status and counters belong to the services.
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        draft = obj.status == PurchaseOrder.Status.DRAFT
        if not (draft or changes):
            return
        # A draft's edit locks the order until the admin's save ends, after the lines are
        # saved, and is refused if it was placed meanwhile: a placed order never changes here.
        saved = purchasing.purchase_order_update(
            purchase_order_id=obj.pk, changes=changes, draft_only=draft, actor=request.user
        )
        adopt(obj, saved)

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
        adopt(form.instance, created)
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
        self, request: HttpRequest, object_id: str, permission: str
    ) -> tuple[PurchaseOrder, list[PurchaseOrderLine]] | HttpResponse:
        """The order and its lines, or a redirect to its page when it is not open."""
        if not request.user.has_perm(permission):
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
        found = self._open_purchase_order(request, object_id, RECEIVE_PERMISSION)
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
        found = self._open_purchase_order(request, object_id, "inventory.change_purchaseorder")
        if isinstance(found, HttpResponse):
            return found
        purchase_order, lines = found
        form = PurchaseOrderRescheduleForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            changes = form.changes()
            moved = [(line, day) for line, day in changes if day is not None]
            cancelled = [line for line, day in changes if day is None]
            fields: dict[str, str] = {}
            for index, (line, _) in enumerate(moved):
                fields[f"reschedule[{index}]"] = form.date_field(line)
                fields[f"reschedule[{index}].expected_date"] = form.date_field(line)
            for index, line in enumerate(cancelled):
                fields[f"cancel[{index}]"] = form.cancel_field(line)
            try:
                # All or nothing: one refused line leaves every line as it was.
                done = purchasing.purchase_order_lines_change(
                    purchase_order_id=purchase_order.pk,
                    reschedule=[(line.pk, day) for line, day in moved],
                    cancel=[line.pk for line in cancelled],
                    actor=request.user,
                )
            except BackorderError as error:
                show_refusal(form, error, fields)
            else:
                by_line = {change.line.pk: change for change in done}
                summary = "; ".join(line_change_text(by_line[line.pk]) for line, _ in changes)
                self.log_change(request, purchase_order, f"{summary}.")
                self.message_user(request, f"{purchase_order.number}: {summary}.", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(purchase_order))
        return self._render_lines_form(
            request,
            "admin/inventory/purchaseorder/reschedule.html",
            "Reschedule or cancel lines",
            purchase_order,
            form,
        )


def line_change_text(change: purchasing.LineChange) -> str:
    sku = change.line.product.sku
    if change.cancelled:
        return f"{sku}: {change.cancelled} unit(s) cancelled"
    return (
        f"{sku}: expected {change.previous_expected_date:%Y-%m-%d}"
        f" moved to {change.line.expected_date:%Y-%m-%d}"
    )


class ArrivalFilter(admin.SimpleListFilter):
    """Incoming supply: by default only what placed orders still have to deliver."""

    title = "arrival"
    parameter_name = "arrival"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("overdue", "Overdue"),
            ("week", "Due in the next 7 days"),
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
        today = timezone.localdate()
        if self.value() == "overdue":
            queryset = queryset.filter(expected_date__lt=today)
        elif self.value() == "week":
            queryset = queryset.filter(
                expected_date__gte=today, expected_date__lte=today + timedelta(days=7)
            )
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[PurchaseOrderLine]:
        return selectors.purchase_order_lines_with_remaining(super().get_queryset(request))

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

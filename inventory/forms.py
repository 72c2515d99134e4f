"""The backoffice's forms for stock, the catalogue and purchasing.

A form reads and tidies what staff typed, and refuses what is plainly malformed; what is
allowed is the services' to decide (`inventory.catalogue`, `inventory.stock`,
`inventory.purchasing`), and the admin shows their refusals on these forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils import timezone

from config.admin_mixins import ServiceModelForm
from inventory import catalogue, checks
from inventory.models import (
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    Supplier,
    Warehouse,
)


class ProductForm(ServiceModelForm):
    """A product's catalogue fields; `catalogue.product_create` / `product_update` judge them."""

    # Any number: the catalogue service words the price rules (two decimal places, the range).
    price = forms.DecimalField(widget=forms.NumberInput(attrs={"step": "0.01"}))

    class Meta:
        model = Product
        fields = ("sku", *catalogue.PRODUCT_FIELDS, *catalogue.REORDER_FIELDS)


class SupplierForm(ServiceModelForm):
    """A supplier's fields; `catalogue.supplier_create` / `supplier_update` judge them."""

    class Meta:
        model = Supplier
        fields = catalogue.SUPPLIER_FIELDS


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

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, quantity = data.get("kind"), data.get("quantity")
        if quantity == 0:
            self.add_error("quantity", "Enter a quantity other than zero.")
        elif kind in ("receipt", "return") and quantity is not None and quantity < 0:
            self.add_error("quantity", "Receipts and returns are positive; use an adjustment.")
        if kind == "adjustment" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the stock changes.")
        return data


class PurchaseOrderForm(forms.ModelForm):
    class Meta:
        model = PurchaseOrder
        fields = ("supplier", "warehouse", "reference", "notes")

    def clean_supplier(self) -> Supplier:
        supplier: Supplier = self.cleaned_data["supplier"]
        if "supplier" in self.changed_data and not supplier.is_active:
            raise ValidationError("This supplier is inactive.")
        return supplier


class PurchaseOrderLineForm(forms.ModelForm):
    class Meta:
        model = PurchaseOrderLine
        fields = ("product", "quantity", "expected_date", "unit_cost")

    def clean_quantity(self) -> int:
        quantity: int = self.cleaned_data["quantity"]
        if not 1 <= quantity <= checks.MAX_QUANTITY:
            raise ValidationError(f"Enter a quantity from 1 to {checks.MAX_QUANTITY}.")
        settled = self.instance.received + self.instance.cancelled
        if quantity < settled:
            raise ValidationError(f"{settled} unit(s) are already received or cancelled.")
        return quantity

    def clean_expected_date(self) -> date:
        expected_date: date = self.cleaned_data["expected_date"]
        if "expected_date" in self.changed_data and expected_date < timezone.localdate():
            raise ValidationError("The expected date cannot be in the past.")
        return expected_date

    def clean_unit_cost(self) -> Decimal | None:
        unit_cost: Decimal | None = self.cleaned_data["unit_cost"]
        if unit_cost is not None and unit_cost < 0:
            raise ValidationError("Unit cost cannot be negative.")
        return unit_cost


class PurchaseOrderLineFormSet(forms.BaseInlineFormSet):
    default_error_messages = {
        "too_few_forms": "A purchase order needs at least one line.",
        "too_many_forms": f"A purchase order has at most {checks.MAX_PURCHASE_LINES} lines.",
    }


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

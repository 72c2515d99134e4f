"""Forms of the customer pages: every field labelled, every error in the shopper's language."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inventory.checks import MAX_QUANTITY, max_line_quantity

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

DELIVERY_CHOICES = [
    ("0", _("Ship what is ready now, the rest when it arrives")),
    ("1", _("Ship everything together, in one parcel")),
]


def _together(value: str) -> bool:
    return value == "1"


def units(
    label: StrOrPromise,
    *,
    min_value: int = 1,
    max_value: int | None = MAX_QUANTITY,
    too_few: StrOrPromise,
    **options: Any,
) -> forms.IntegerField:
    """A whole number of units, as the services accept them, typed on a phone's keypad;
    `too_few` says what a number under `min_value` should have been."""
    return forms.IntegerField(
        label=label,
        min_value=min_value,
        max_value=max_value,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "size": 4}),
        error_messages={
            "required": _("Enter a number."),
            "invalid": _("Enter a whole number, like 2."),
            "min_value": too_few,
        },
        **options,
    )


def line_limit_message(limit: int) -> str:
    """What the shop says of a quantity over `max_line_quantity`."""
    return ngettext(
        "At most %(count)d per item in one order.",
        "At most %(count)d per item in one order.",
        limit,
    ) % {"count": limit}


class Form(forms.Form):
    """Labels without Django's trailing colon, as everywhere else on the pages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class LineQuantityForm(Form):
    """A quantity of one product for an order: at most `max_line_quantity` of it (the
    product's `max_per_order` within the shop's limit), said as the services would refuse it."""

    quantity: forms.IntegerField

    def __init__(self, *args: Any, max_per_order: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit = max_line_quantity(max_per_order)
        self.fields["quantity"].widget.attrs["max"] = self.limit

    def clean_quantity(self) -> int:
        quantity: int = self.cleaned_data["quantity"]
        if quantity > self.limit:
            raise forms.ValidationError(line_limit_message(self.limit), code="max_value")
        return quantity


class QuantityForm(LineQuantityForm):
    quantity = units(
        _("Quantity"), initial=1, max_value=None, too_few=_("Enter a quantity of 1 or more.")
    )


class CartLineForm(LineQuantityForm):
    """A new quantity for a cart line; 0 removes it."""

    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = units(
        _("Quantity"),
        min_value=0,
        max_value=None,
        too_few=_("Enter 0 or more: 0 takes the item out of your cart."),
    )


class CheckoutForm(Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        help_text=_("We send your confirmation and every change of date here."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    address = forms.CharField(
        label=_("Street address"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
    )
    city = forms.CharField(
        label=_("City"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code", "size": 10}),
    )
    country = forms.CharField(
        label=_("Country"),
        max_length=100,
        initial="Indonesia",
        widget=forms.TextInput(attrs={"autocomplete": "country-name"}),
    )
    phone = forms.CharField(
        label=_("Phone (optional, for the courier)"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    ship_complete = forms.TypedChoiceField(
        label=_("When items are ready at different times"),
        choices=DELIVERY_CHOICES,
        coerce=_together,
        initial="0",
        # Offered only when some units are ready and some wait; otherwise it changes nothing.
        required=False,
        empty_value=False,  # type: ignore[arg-type]  # the value when the choice is not offered
        widget=forms.RadioSelect,
    )
    checkout_key = forms.CharField(max_length=64, widget=forms.HiddenInput)
    shown = forms.CharField(max_length=64, widget=forms.HiddenInput, required=False)


class CancelForm(Form):
    quantity = units(_("Units to cancel"), too_few=_("Enter at least 1 unit to cancel."))


class ShippingChoiceForm(Form):
    ship_complete = forms.TypedChoiceField(
        label=_("How should we ship?"),
        choices=DELIVERY_CHOICES,
        coerce=_together,
        widget=forms.RadioSelect,
    )


class LanguageForm(Form):
    locale = forms.ChoiceField(
        label=_("Language"), choices=[("en", "English"), ("id", "Bahasa Indonesia")]
    )


class LookupForm(Form):
    """An order number and the email address it was placed with, both normalised.

    The number is taken in any case, with or without its dashes, with spaces, and comes out
    as the order's own `BO-ABCD-2345`; the email comes out trimmed and lower-case. Neither
    check looks at the orders: an error says nothing about whether one exists.
    """

    number = forms.CharField(
        label=_("Order number"),
        max_length=32,
        help_text=_("As in your confirmation email, like BO-ABCD-2345."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    email = forms.EmailField(
        label=_("Email used for the order"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean_number(self) -> str:
        # Whatever a phone or mail client puts between the groups (spaces, dashes, a
        # non-breaking hyphen) is dropped; only the letters and digits decide.
        compact = "".join(char for char in self.cleaned_data["number"].upper() if char.isalnum())
        if not (len(compact) == 10 and compact.isascii() and compact.startswith("BO")):
            raise forms.ValidationError(_("Order numbers look like BO-ABCD-2345."), code="invalid")
        return f"{compact[:2]}-{compact[2:6]}-{compact[6:]}"

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).lower()


class AlertForm(Form):
    email = forms.EmailField(
        label=_("Your email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

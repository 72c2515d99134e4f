"""Input checks and limits: what every service refuses before it touches a row.

A leaf: it reads no rows and imports no service. Each check returns the cleaned value or
raises `ValidationFailed` naming the field, so the API, forms and admin word the same refusal.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email

from inventory.exceptions import ValidationFailed
from orders.models import Order

# Units in one line, stock change or receipt.
MAX_QUANTITY = 1_000_000
MAX_LEAD_TIME_DAYS = 3650
# Lines in one customer order, and in one purchase order.
MAX_ORDER_LINES = 100
MAX_PURCHASE_LINES = 500
MAX_PRIORITY = 1000

_CODE = re.compile(r"[-a-zA-Z0-9_]{1,32}")
# A SKU is a path segment of the shop's and the API's URLs: no "/", and never "." or "..",
# which browsers and HTTP clients resolve away ("/products/../" is "/").
SKU_RULE = "A SKU is 1 to 64 characters: letters, digits, '-', '_' and '.', but not '.' or '..'."
_SKU = re.compile(r"(?!\.\.?\Z)[-A-Za-z0-9_.]{1,64}")
# The same rule as a JSON Schema (ECMA-262) pattern, for the API's schema.
SKU_PATTERN = r"^(?!\.\.?$)[-A-Za-z0-9_.]{1,64}$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_NEWLINES = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def storable_text(value: object) -> bool:
    """A string the database can store and compare: no NUL bytes or lone surrogates."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_code(value: object) -> bool:
    """A short identifier such as a warehouse code: letters, digits, `-` and `_`."""
    return isinstance(value, str) and _CODE.fullmatch(value) is not None


def check_sku(value: object, *, field: str = "sku") -> str:
    """A SKU as the catalogue stores it and every URL carries it; see `SKU_RULE`."""
    if not isinstance(value, str) or _SKU.fullmatch(value) is None:
        raise ValidationFailed(SKU_RULE, fields={field: SKU_RULE})
    return value


def check_quantity(
    quantity: object, *, field: str = "quantity", allow_negative: bool = False
) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed("Quantity must be a whole number.", fields={field: "not an integer"})
    if abs(quantity) > MAX_QUANTITY:
        raise ValidationFailed("Quantity is too large.", fields={field: f"at most {MAX_QUANTITY}"})
    if quantity == 0 or (quantity < 0 and not allow_negative):
        raise ValidationFailed("Quantity must be positive.", fields={field: "must be positive"})
    return quantity


def max_line_quantity(max_per_order: int | None = None) -> int:
    """The most units of one product one order may take: the product's own `max_per_order`
    within the shop-wide sanity limit `BACKORDER_MAX_LINE_QUANTITY`.

    The one rule for it: `order_place` refuses more as `max_per_order`, and the storefront's
    cart, product page and checkout ask here too.
    """
    limit = int(settings.BACKORDER_MAX_LINE_QUANTITY)
    return limit if max_per_order is None else min(max_per_order, limit)


def check_count(
    value: object, *, field: str, minimum: int = 0, maximum: int = MAX_QUANTITY
) -> int | None:
    """A whole number from `minimum` to `maximum`, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed(
            f"{field.replace('_', ' ').capitalize()} must be a whole number from {minimum}"
            f" to {maximum}.",
            fields={field: f"{minimum} to {maximum}"},
        )
    return value


def check_text(
    value: object, *, field: str, max_length: int, required: bool = True, multiline: bool = False
) -> str:
    """Trimmed text the database can store, with no control characters (but line breaks, when
    `multiline`: they come back as "\\n")."""
    label = field.replace("_", " ").capitalize()
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"{label} is required.", fields={field: "required"})
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{label} must be text.", fields={field: "not text"})
    control = _CONTROL_BUT_NEWLINES if multiline else _CONTROL
    if not storable_text(value) or control.search(value):
        raise ValidationFailed(
            f"{label} contains control characters.", fields={field: "invalid characters"}
        )
    value = value.strip()
    if multiline:
        value = "\n".join(line.strip() for line in value.splitlines() if line.strip())
    if len(value) > max_length:
        raise ValidationFailed(
            f"{label} is too long.", fields={field: f"at most {max_length} characters"}
        )
    return value


def check_email(value: object, *, field: str = "email", required: bool = True) -> str:
    """A trimmed, valid email address (or "" when not `required` and absent)."""
    email = check_text(value, field=field, max_length=254, required=required)
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed(
                "Enter a valid email address.", fields={field: "invalid"}
            ) from None
    return email


def check_locale(value: object) -> str:
    """One of the languages orders and emails come in."""
    if value not in Order.Locale.values:
        raise ValidationFailed(
            "Unknown locale.", fields={"locale": f"one of {Order.Locale.values}"}
        )
    return str(value)


def check_day(value: object, *, field: str) -> date:
    """A calendar date (not a datetime)."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed("Enter a date as YYYY-MM-DD.", fields={field: "not a date"})
    return value


def check_future_date(value: object, *, field: str, today: date) -> date:
    """A date today or later: when goods are expected."""
    day = check_day(value, field=field)
    if day < today:
        raise ValidationFailed(
            "The expected date cannot be in the past.", fields={field: f"on or after {today}"}
        )
    return day


def check_priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRIORITY:
        raise ValidationFailed(
            f"Priority must be a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}.",
            fields={"priority": "invalid"},
        )
    return value

"""Formatting for customer pages: prices and dates in the page's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.numberformat import format as number_format
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

# Day, month name, year: unambiguous in both languages ("9 December 2026", "9 Desember 2026").
DATE_FORMAT = "j F Y"
SEPARATORS = {"id": (",", "."), "en": (".", ",")}


@register.filter
def money(value: Decimal | int | None) -> str:
    """A price in the shop's currency, grouped for the language: `Rp450.000`, `Rp450,000`.

    Whole amounts show no decimals; others show the currency's usual number of them.
    """
    if value is None:
        return ""
    amount = Decimal(value)
    places = 0 if amount == amount.to_integral_value() else settings.BACKORDER_CURRENCY_DECIMALS
    decimal_separator, thousands = SEPARATORS.get((get_language() or "en")[:2], SEPARATORS["en"])
    number = number_format(
        amount,
        decimal_separator,
        decimal_pos=places,
        grouping=3,
        thousand_sep=thousands,
        force_grouping=True,
    )
    return f"{settings.BACKORDER_CURRENCY_SYMBOL}{number}"


@register.simple_tag
def when(value: date | datetime | None, fmt: str = DATE_FORMAT) -> SafeString | str:
    """A date for people inside `<time datetime="YYYY-MM-DD">` for machines (a moment is
    shown in the shop's time zone, and its day is what the attribute holds)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value)
        day = value.date()
    else:
        day = value
    return format_html('<time datetime="{}">{}</time>', day.isoformat(), date_format(value, fmt))

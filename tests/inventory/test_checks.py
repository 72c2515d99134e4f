"""`inventory.checks`: what every service refuses before it touches a row, field by field."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from inventory.checks import (
    MAX_PRIORITY,
    MAX_QUANTITY,
    SKU_PATTERN,
    SKU_RULE,
    check_count,
    check_day,
    check_email,
    check_future_date,
    check_locale,
    check_priority,
    check_quantity,
    check_sku,
    check_text,
    is_code,
    storable_text,
)
from inventory.exceptions import ValidationFailed

DAY = date(2030, 5, 17)


def refusal(check, *args, **kwargs) -> tuple[str, dict[str, str]]:
    """The message and fields of the refusal `check(*args, **kwargs)` raises."""
    with pytest.raises(ValidationFailed) as refused:
        check(*args, **kwargs)
    return refused.value.message, refused.value.fields


def test_the_limits():
    assert (MAX_QUANTITY, MAX_PRIORITY) == (1_000_000, 1000)


# check_quantity -------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1, 7, MAX_QUANTITY])
def test_a_positive_whole_quantity_up_to_the_limit_is_accepted(quantity):
    assert check_quantity(quantity) == quantity


@pytest.mark.parametrize(
    ("quantity", "message", "error"),
    [
        (True, "Quantity must be a whole number.", "not an integer"),
        (False, "Quantity must be a whole number.", "not an integer"),
        (1.0, "Quantity must be a whole number.", "not an integer"),
        ("3", "Quantity must be a whole number.", "not an integer"),
        (None, "Quantity must be a whole number.", "not an integer"),
        (MAX_QUANTITY + 1, "Quantity is too large.", f"at most {MAX_QUANTITY}"),
        (-MAX_QUANTITY - 1, "Quantity is too large.", f"at most {MAX_QUANTITY}"),
        (0, "Quantity must be positive.", "must be positive"),
        (-1, "Quantity must be positive.", "must be positive"),
    ],
)
def test_a_bad_quantity_is_refused_naming_its_field(quantity, message, error):
    assert refusal(check_quantity, quantity, field="lines[2].quantity") == (
        message,
        {"lines[2].quantity": error},
    )


def test_a_negative_quantity_is_accepted_only_when_allowed():
    assert check_quantity(-MAX_QUANTITY, allow_negative=True) == -MAX_QUANTITY
    assert refusal(check_quantity, 0, allow_negative=True) == (
        "Quantity must be positive.",
        {"quantity": "must be positive"},
    )


# check_count ----------------------------------------------------------------------------------


def test_a_count_in_range_or_none_is_accepted():
    assert check_count(None, field="backorder_limit") is None
    assert check_count(0, field="backorder_limit") == 0
    assert check_count(5, field="max_per_order", minimum=1, maximum=5) == 5


@pytest.mark.parametrize("value", [True, 2.0, "3", -1, MAX_QUANTITY + 1])
def test_a_bad_count_is_refused_with_its_range(value):
    assert refusal(check_count, value, field="backorder_limit") == (
        f"Backorder limit must be a whole number from 0 to {MAX_QUANTITY}.",
        {"backorder_limit": f"0 to {MAX_QUANTITY}"},
    )


def test_a_count_under_its_minimum_is_refused():
    assert refusal(check_count, 0, field="max_per_order", minimum=1, maximum=10) == (
        "Max per order must be a whole number from 1 to 10.",
        {"max_per_order": "1 to 10"},
    )


# check_text -----------------------------------------------------------------------------------


def test_text_is_trimmed():
    assert check_text("  Konveksi Bandung   ", field="name", max_length=20) == "Konveksi Bandung"


def test_multiline_text_keeps_its_non_blank_lines_trimmed():
    assert check_text(" a \r\n\n  b\n", field="note", max_length=10, multiline=True) == "a\nb"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_text_is_refused_when_required_and_empty_otherwise(value):
    assert refusal(check_text, value, field="shipping_name", max_length=5) == (
        "Shipping name is required.",
        {"shipping_name": "required"},
    )
    assert check_text(value, field="shipping_name", max_length=5, required=False) == ""


@pytest.mark.parametrize(
    ("value", "multiline", "message", "error"),
    [
        (5, False, "Name must be text.", "not text"),
        ("a\x00b", False, "Name contains control characters.", "invalid characters"),
        ("a\nb", False, "Name contains control characters.", "invalid characters"),
        ("a\tb", False, "Name contains control characters.", "invalid characters"),
        ("a\x07b", True, "Name contains control characters.", "invalid characters"),
        ("\ud800", False, "Name contains control characters.", "invalid characters"),
        ("abcdef", False, "Name is too long.", "at most 5 characters"),
    ],
)
def test_bad_text_is_refused(value, multiline, message, error):
    assert refusal(check_text, value, field="name", max_length=5, multiline=multiline) == (
        message,
        {"name": error},
    )


def test_the_length_limit_is_measured_after_trimming():
    assert check_text("  abcde  ", field="name", max_length=5) == "abcde"


# check_email, check_locale, check_day, check_future_date, check_priority -------------------


def test_an_email_is_trimmed_and_checked():
    assert check_email("  ana@example.com ") == "ana@example.com"
    assert check_email("", required=False) == ""
    assert refusal(check_email, "ana@", field="contact") == (
        "Enter a valid email address.",
        {"contact": "invalid"},
    )
    assert refusal(check_email, None) == ("Email is required.", {"email": "required"})


def test_a_locale_must_be_one_the_shop_speaks():
    assert [check_locale("en"), check_locale("id")] == ["en", "id"]
    assert refusal(check_locale, "fr") == (
        "Unknown locale.",
        {"locale": "one of ['en', 'id']"},
    )


def test_a_day_is_a_date_and_not_a_datetime_or_text():
    assert check_day(DAY, field="release_date") == DAY
    for value in (datetime(2030, 5, 17, 9, 0), "2030-05-17", None):
        assert refusal(check_day, value, field="release_date") == (
            "Enter a date as YYYY-MM-DD.",
            {"release_date": "not a date"},
        )


def test_an_expected_date_is_today_or_later():
    assert check_future_date(DAY, field="expected_date", today=DAY) == DAY
    assert refusal(check_future_date, date(2030, 5, 16), field="expected_date", today=DAY) == (
        "The expected date cannot be in the past.",
        {"expected_date": "on or after 2030-05-17"},
    )


@pytest.mark.parametrize("priority", [0, MAX_PRIORITY, -MAX_PRIORITY])
def test_a_priority_within_the_limit_is_accepted(priority):
    assert check_priority(priority) == priority


@pytest.mark.parametrize("priority", [True, 1.0, "5", None, MAX_PRIORITY + 1, -MAX_PRIORITY - 1])
def test_a_bad_priority_is_refused(priority):
    assert refusal(check_priority, priority) == (
        f"Priority must be a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}.",
        {"priority": "invalid"},
    )


# storable_text, is_code -----------------------------------------------------------------------


def test_storable_text_has_no_nul_byte_or_lone_surrogate():
    assert [storable_text(v) for v in ("Kaos ✓", "a\x00", "\udc80", b"bytes", 3)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_a_code_is_up_to_32_letters_digits_dashes_and_underscores():
    assert [is_code(v) for v in ("main", "wh-2_B", "x" * 32, "x" * 33, "", "a b", "é", 7)] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]


# check_sku ------------------------------------------------------------------------------------

GOOD_SKUS = ["HOODIE-SE", "a", "a.b", "v1.2_final-3", "...", ".hidden", "-", "x" * 64]
BAD_SKUS = [
    "a/b",
    "../../etc/passwd",
    "/",
    ".",
    "..",
    "",
    "x" * 65,
    "a b",
    " a",
    "a\n",
    "a\tb",
    "a\x00",
    "é",
    "ＡＢＣ",
    "a\\b",
    "a?b",
    "a#b",
    "a%2Fb",
    "a+b",
    "a:b",
    None,
    7,
    ["a"],
]


@pytest.mark.parametrize("sku", GOOD_SKUS)
def test_a_sku_is_1_to_64_letters_digits_dashes_underscores_and_dots(sku):
    assert check_sku(sku) == sku


@pytest.mark.parametrize("sku", BAD_SKUS)
def test_anything_else_is_refused_naming_the_rule(sku):
    assert refusal(check_sku, sku) == (SKU_RULE, {"sku": SKU_RULE})


def test_the_rule_is_worded_for_people():
    assert SKU_RULE == (
        "A SKU is 1 to 64 characters: letters, digits, '-', '_' and '.', but not '.' or '..'."
    )


def test_the_refusal_names_the_field_checked():
    assert refusal(check_sku, "a/b", field="lines[0].sku") == (SKU_RULE, {"lines[0].sku": SKU_RULE})


@pytest.mark.parametrize(
    ("sku", "accepted"),
    [(s, True) for s in GOOD_SKUS] + [(s, False) for s in BAD_SKUS if isinstance(s, str)],
)
def test_the_schemas_pattern_is_the_same_rule(sku, accepted):
    # JSON Schema patterns are ECMA-262: "$" is the very end, as "\Z" is in Python.
    assert (re.search(SKU_PATTERN.replace("$", "\\Z"), sku) is not None) is accepted

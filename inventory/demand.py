"""Demand history imported from elsewhere (contract §8, `manage.py demand_import`): the one
writer of `DemandHistory`.

A row is one product's demand on one day before today: units ordered and, optionally, units
refused. Importing the same day and SKU again replaces it. A file is checked whole before
anything is written: one bad row imports nothing, and every bad row is named.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO

from django.db import transaction
from django.utils import timezone

from inventory.checks import MAX_QUANTITY
from inventory.exceptions import ValidationFailed
from inventory.models import DemandHistory, Product

COLUMNS = ("date", "sku", "quantity")
OPTIONAL = ("refused",)
MAX_ERRORS_SHOWN = 20
BATCH = 5000
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DemandImport:
    rows: int
    created: int
    replaced: int
    products: int
    first_day: date | None
    last_day: date | None


def _count(value: str, *, name: str) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) > MAX_QUANTITY:
        raise ValueError(f"{name} must be a whole number from 0 to {MAX_QUANTITY}, not {value!r}")
    return int(text)


def _rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(stream)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name for name in header if name not in COLUMNS + OPTIONAL]
    if missing or unknown:
        raise ValidationFailed(
            "The header must be date,sku,quantity (and optionally refused);"
            + (f" missing {', '.join(missing)}" if missing else "")
            + (f" unknown {', '.join(unknown)}" if unknown else ""),
            fields={"header": ",".join(header)},
        )
    reader.fieldnames = header
    for row in reader:
        yield reader.line_num, {key: (value or "") for key, value in row.items() if key}


def demand_import(stream: IO[str], *, today: date | None = None) -> DemandImport:
    """Check the CSV in `stream` whole, then write it in one transaction."""
    today = today or timezone.localdate()
    skus = dict(Product.objects.values_list("sku", "pk"))
    parsed: dict[tuple[int, date], tuple[int, int]] = {}
    seen: dict[tuple[int, date], int] = {}
    errors: list[str] = []
    for line, row in _rows(stream):
        try:
            text = row.get("date", "").strip()
            if not _DAY.fullmatch(text):
                raise ValueError(f"date must be YYYY-MM-DD, not {text!r}")
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError(f"date {text} is not a day of the calendar") from None
            if day >= today:
                raise ValueError(f"date {day} is not before today ({today})")
            sku = row.get("sku", "").strip()
            if sku not in skus:
                raise ValueError(f"unknown SKU {sku!r}")
            quantity = _count(row.get("quantity", ""), name="quantity")
            refused = _count(row.get("refused") or "0", name="refused")
        except ValueError as error:
            errors.append(f"line {line}: {error}")
            continue
        key = (skus[sku], day)
        if key in seen:
            errors.append(f"line {line}: {sku} on {day} is already on line {seen[key]}")
            continue
        seen[key] = line
        parsed[key] = (quantity, refused)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        raise ValidationFailed(
            f"{len(errors)} bad row(s), nothing imported: "
            + "; ".join(shown)
            + (f"; and {more} more" if more else ""),
            fields={"rows": str(len(errors))},
        )
    return _write(parsed)


@transaction.atomic
def _write(parsed: dict[tuple[int, date], tuple[int, int]]) -> DemandImport:
    keys = list(parsed)
    existing = 0
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        products = {pk for pk, _ in batch}
        days = {day for _, day in batch}
        found = DemandHistory.objects.filter(product_id__in=products, day__in=days).values_list(
            "product_id", "day"
        )
        existing += len(set(found) & set(batch))
        DemandHistory.objects.bulk_create(
            [
                DemandHistory(product_id=pk, day=day, quantity=quantity, refused=refused)
                for (pk, day), (quantity, refused) in ((key, parsed[key]) for key in batch)
            ],
            update_conflicts=True,
            unique_fields=["product", "day"],
            update_fields=["quantity", "refused", "imported_at"],
        )
    every_day = [day for _, day in keys]
    return DemandImport(
        rows=len(keys),
        created=len(keys) - existing,
        replaced=existing,
        products=len({pk for pk, _ in keys}),
        first_day=min(every_day, default=None),
        last_day=max(every_day, default=None),
    )

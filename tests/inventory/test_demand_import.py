"""`manage.py demand_import PATH` (contract §8): daily demand history from a CSV."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inventory.models import DemandHistory
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def days_ago(days: int) -> str:
    return (timezone.localdate() - timedelta(days=days)).isoformat()


def run(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> str:
    path = tmp_path / "demand.csv"
    path.write_text(text, encoding=encoding)
    out = StringIO()
    call_command("demand_import", str(path), stdout=out)
    return out.getvalue()


def history() -> list[tuple[str, str, int, int]]:
    return [
        (row.product.sku, row.day.isoformat(), row.quantity, row.refused)
        for row in DemandHistory.objects.select_related("product").order_by("product__sku", "day")
    ]


def test_a_file_is_imported_and_the_same_day_again_replaces_it(tmp_path, hoodie):
    ProductFactory(sku="CAP")

    first = run(
        tmp_path,
        f"date,sku,quantity\n{days_ago(2)},HOODIE-SE,5\n{days_ago(1)},HOODIE-SE,7\n"
        f"{days_ago(1)},CAP,0\n",
    )
    again = run(tmp_path, f"date,sku,quantity,refused\n{days_ago(1)},HOODIE-SE,9,4\n")

    assert first.strip() == (
        f"Imported 3 day(s) of demand for 2 product(s), {days_ago(2)} to {days_ago(1)}:"
        " 3 new, 0 replaced."
    )
    assert again.strip() == (
        f"Imported 1 day(s) of demand for 1 product(s), {days_ago(1)} to {days_ago(1)}:"
        " 0 new, 1 replaced."
    )
    assert history() == [
        ("CAP", days_ago(1), 0, 0),
        ("HOODIE-SE", days_ago(2), 5, 0),
        ("HOODIE-SE", days_ago(1), 9, 4),
    ]


def test_every_bad_row_is_named_and_nothing_is_imported(tmp_path, hoodie):
    today = timezone.localdate().isoformat()
    text = (
        "date,sku,quantity,refused\n"
        f"{days_ago(3)},HOODIE-SE,2,0\n"  # good, but not imported with the others bad
        "2026-13-01,HOODIE-SE,1,0\n"
        f"{today},HOODIE-SE,1,0\n"
        f"{days_ago(3)},NOPE,1,0\n"
        f"{days_ago(4)},HOODIE-SE,-1,0\n"
        f"{days_ago(4)},HOODIE-SE,1,x\n"
        f"{days_ago(3)},HOODIE-SE,3,0\n"
    )

    with pytest.raises(CommandError) as refused:
        run(tmp_path, text)

    message = str(refused.value)
    assert message.startswith("6 bad row(s), nothing imported: line 3: date 2026-13-01")
    assert f"line 4: date {today} is not before today" in message
    assert "line 5: unknown SKU 'NOPE'" in message
    assert "line 6: quantity must be a whole number from 0 to" in message
    assert "line 7: refused must be a whole number" in message
    assert f"line 8: HOODIE-SE on {days_ago(3)} is already on line 2" in message
    assert not DemandHistory.objects.exists()


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("date,sku", "missing quantity"),
        ("day,sku,quantity", "missing date"),
        ("date,sku,quantity,colour", "unknown colour"),
        ("", "missing date, sku, quantity"),
    ],
)
def test_a_wrong_header_is_refused(tmp_path, hoodie, header, words):
    with pytest.raises(CommandError, match=words):
        run(tmp_path, f"{header}\n{days_ago(1)},HOODIE-SE,1\n")
    assert not DemandHistory.objects.exists()


def test_a_spreadsheets_byte_order_mark_and_spaces_are_fine(tmp_path, hoodie):
    run(tmp_path, f"Date, SKU ,Quantity\n{days_ago(1)}, HOODIE-SE , 4 \n", encoding="utf-8-sig")

    assert history() == [("HOODIE-SE", days_ago(1), 4, 0)]


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path, db):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("demand_import", str(tmp_path / "absent.csv"))
    binary = tmp_path / "demand.csv"
    binary.write_bytes(b"\xff\xfe\x00date")
    with pytest.raises(CommandError, match="is not UTF-8 text"):
        call_command("demand_import", str(binary))

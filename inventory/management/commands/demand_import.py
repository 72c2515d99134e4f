"""`manage.py demand_import PATH`: daily demand from the shop's previous platform."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.demand import demand_import
from inventory.exceptions import ValidationFailed


class Command(BaseCommand):
    help = (
        "Import daily demand before today from a CSV with the header date,sku,quantity (and"
        " optionally refused). The same day and SKU again replaces it. One bad row imports"
        " nothing; every bad row is named."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The CSV file (UTF-8).")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                result = demand_import(stream)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except ValidationFailed as refused:
            raise CommandError(refused.message) from None
        if not result.rows:
            self.stdout.write("No rows: nothing imported.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows} day(s) of demand for {result.products} product(s),"
                f" {result.first_day} to {result.last_day}: {result.created} new,"
                f" {result.replaced} replaced."
            )
        )

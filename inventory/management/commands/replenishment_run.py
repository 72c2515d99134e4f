import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inventory import replenishment


class Command(BaseCommand):
    help = (
        "Run the nightly replenishment now: forecast every product and compute the reorder"
        " suggestions; with --drafts (or BACKORDER_NIGHTLY_DRAFTS), draft them and place the"
        " auto-order suppliers' drafts within their caps. Prints what it did as JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--drafts",
            action="store_true",
            default=None,
            help="Draft purchase orders whatever BACKORDER_NIGHTLY_DRAFTS says.",
        )
        parser.add_argument(
            "--no-drafts",
            action="store_false",
            dest="drafts",
            help="Forecast and suggest only, whatever BACKORDER_NIGHTLY_DRAFTS says.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = replenishment.nightly_run(drafts=options["drafts"])
        self.stdout.write(json.dumps(run.summary()))

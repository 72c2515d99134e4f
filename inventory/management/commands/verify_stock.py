from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.selectors import chain_breaks, stock_drift
from inventory.verification import stock_verify


class Command(BaseCommand):
    help = (
        "Check the stock ledger's chains, replay it and compare it and the allocation rows"
        " with the counters. With --repair, also repair what the ledger proves, keep the"
        " report (admin > Stock verifications) and email it to staff, as the nightly run does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="Repair what the ledger proves, and report."
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["repair"]:
            run = stock_verify()
            for link in run.broken_links:
                self.stderr.write(f"stock {link['stock']} chain broken: {link}")
            for entry in run.drift:
                state = "repaired" if entry["repaired"] else "left alone"
                self.stderr.write(
                    f"{entry['what']}: expected {entry['expected']}, found {entry['found']}"
                    f" ({state}: {entry['why']})"
                )
            if run.unexplained:
                raise CommandError(
                    f"{run.repaired} repaired, {run.unexplained} left alone.", returncode=1
                )
            self.stdout.write(
                self.style.SUCCESS(f"Stock verified ({run.repaired} repaired). Root {run.root}")
            )
            return
        breaks, movements, _heads = chain_breaks()
        drift = stock_drift()
        for problem in [*breaks, *drift]:
            self.stderr.write(str(problem))
        if breaks or drift:
            raise CommandError(
                f"{len(breaks)} broken chain(s), {len(drift)} stock figure(s) drifted.",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Stock ledger ({movements} movements, chains intact), counters and"
                " allocations agree."
            )
        )

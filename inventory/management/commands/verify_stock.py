from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import stock_drift


class Command(BaseCommand):
    help = "Replay the stock ledger and compare it and the allocation rows with the counters."

    def handle(self, *args: object, **options: object) -> None:
        drift = stock_drift()
        if drift:
            for problem in drift:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(drift)} stock figure(s) drifted.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Stock ledger, counters and allocations agree."))

"""`manage.py forecast_backtest`: how the forecasts would have done on each product's history."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from inventory.forecast import Backtest, DemandShape, backtest, demand_shape
from inventory.models import Product
from orders.demand import daily_demand

CHUNK = 500
"""Products per daily demand read."""


def _rounded(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


class Command(BaseCommand):
    help = (
        "Rolling-origin backtest of the demand forecast per product against seasonal-naive:"
        " MASE of the method chosen by the demand's shape and of seasonal-naive, over the"
        " last --days days before today (each product's history starting with its first day"
        " of demand)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=365, help="Days of history (365).")
        parser.add_argument("--horizon", type=int, default=7, help="Days forecast (7).")
        parser.add_argument("--origins", type=int, default=8, help="Forecast origins (8).")
        parser.add_argument(
            "--sku", action="append", default=[], help="Only this product (repeatable)."
        )
        parser.add_argument(
            "--json", action="store_true", help="One JSON object per product, then a summary."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days, horizon, origins = options["days"], options["horizon"], options["origins"]
        for name, value in (("--days", days), ("--horizon", horizon), ("--origins", origins)):
            if value < 1:
                raise CommandError(f"{name} must be at least 1.")
        skus: list[str] = options["sku"]
        products = Product.objects.order_by("sku")
        if skus:
            products = products.filter(sku__in=skus)
        listed = list(products.values_list("pk", "sku"))
        unknown = sorted(set(skus) - {sku for _, sku in listed})
        if unknown:
            raise CommandError(f"Unknown SKU(s): {', '.join(unknown)}.")
        today = timezone.localdate()
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        as_json = options["json"]
        width = max([len("SKU"), *(len(sku) for _, sku in listed)])
        if not as_json:
            self.stdout.write(
                f"{'SKU':<{width}}  {'shape':<12}  {'method':<14}  {'MASE':>6}  {'naive MASE':>10}"
            )
        results: list[Backtest] = []
        skipped: list[str] = []
        for start in range(0, len(listed), CHUNK):
            chunk = listed[start : start + CHUNK]
            series = daily_demand([pk for pk, _ in chunk], first=first, last=last)
            for pk, sku in chunk:
                units = [day.units for day in series[pk]]
                # Days before the first demand are taken as the product not yet being sold.
                begun = next((index for index, value in enumerate(units) if value), len(units))
                history = units[begun:]
                # The shape the method was chosen by: the days before the last origin.
                shape = demand_shape(history[: len(history) - horizon])
                result = backtest(history, horizon=horizon, origins=origins)
                if result is None:
                    skipped.append(sku)
                    if as_json:
                        self._json({"sku": sku, "shape": str(shape.shape), "skipped": True})
                    continue
                results.append(result)
                if as_json:
                    self._json(self._row(sku, shape, result))
                else:
                    self.stdout.write(
                        f"{sku:<{width}}  {shape.shape:<12}  {result.method:<14}"
                        f"  {result.mase:>6.3f}  {result.naive_mase:>10.3f}"
                    )
        self._summary(results, skipped, as_json=as_json)

    def _row(self, sku: str, shape: DemandShape, result: Backtest) -> dict[str, Any]:
        return {
            "sku": sku,
            "shape": str(shape.shape),
            "method": str(result.method),
            "mase": _rounded(result.mase),
            "naive_mase": _rounded(result.naive_mase),
            "mae": _rounded(result.mae),
            "naive_mae": _rounded(result.naive_mae),
            "coverage": _rounded(result.coverage),
            "origins": result.origins,
            "adi": _rounded(shape.adi),
            "cv2": _rounded(shape.cv2),
            "demand_days": shape.demand_days,
        }

    def _summary(self, results: list[Backtest], skipped: list[str], *, as_json: bool) -> None:
        beaten = sum(result.beats_naive for result in results)
        mase = sum(r.mase for r in results) / len(results) if results else math.nan
        naive = sum(r.naive_mase for r in results) / len(results) if results else math.nan
        if as_json:
            self._json(
                {
                    "summary": {
                        "products": len(results) + len(skipped),
                        "evaluated": len(results),
                        "skipped": len(skipped),
                        "mean_mase": _rounded(mase),
                        "mean_naive_mase": _rounded(naive),
                        "beat_naive": beaten,
                    }
                }
            )
            return
        if skipped:
            self.stdout.write(f"Skipped, too little history: {', '.join(skipped)}")
        if not results:
            self.stdout.write("No product with enough history to backtest.")
            return
        self.stdout.write(
            f"Mean MASE {mase:.3f}, seasonal-naive {naive:.3f}: the chosen method beat"
            f" seasonal-naive on {beaten} of {len(results)} product(s)."
        )

    def _json(self, row: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(row))

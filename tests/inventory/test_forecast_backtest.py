"""`manage.py forecast_backtest`: the forecast backtest per product, read from the database."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inventory.forecast import Method, backtest, demand_shape
from inventory.management.commands import forecast_backtest
from inventory.models import DemandHistory, Product
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

WEEK = np.array([4.0, 2.0, 0.0, -1.0, -2.0, 3.0, 6.0])


def seasonal_with_trend(days: int = 365) -> list[int]:
    rng = np.random.default_rng(7)
    t = np.arange(days)
    return rng.poisson(20 + 0.03 * t + WEEK[t % 7]).tolist()


def intermittent(days: int = 365) -> list[int]:
    """Demand on about two days in five, 1 to 6 units."""
    rng = np.random.default_rng(8)
    return np.where(rng.random(days) < 0.4, rng.integers(1, 7, days), 0).tolist()


def new_product(days: int = 365) -> list[int]:
    """Nothing asked for until six weeks ago."""
    return [0] * (days - 42) + np.random.default_rng(9).poisson(5.0, 42).tolist()


def store(product: Product, units: list[int], *, refused_share: float = 0.0) -> None:
    """`units` as imported history ending yesterday, part of each day as refused demand."""
    yesterday = timezone.localdate() - timedelta(days=1)
    rows = []
    for index, total in enumerate(units):
        refused = int(total * refused_share)
        rows.append(
            DemandHistory(
                product=product,
                day=yesterday - timedelta(days=len(units) - 1 - index),
                quantity=total - refused,
                refused=refused,
            )
        )
    DemandHistory.objects.bulk_create(rows)


@pytest.fixture
def catalogue() -> dict[str, list[int]]:
    series = {
        "SEASONAL": seasonal_with_trend(),
        "SPARSE": intermittent(),
        "NEW": new_product(),
    }
    for sku, units in series.items():
        store(ProductFactory(sku=sku), units, refused_share=0.25 if sku == "SEASONAL" else 0)
    return series


def run(*args: str) -> str:
    out = StringIO()
    call_command("forecast_backtest", *args, stdout=out)
    return out.getvalue()


def expected_line(sku: str, units: list[int], width: int) -> str:
    result = backtest(units)
    assert result is not None
    shape = demand_shape(units[:-7]).shape
    return (
        f"{sku:<{width}}  {shape:<12}  {result.method:<14}"
        f"  {result.mase:>6.3f}  {result.naive_mase:>10.3f}"
    )


def test_the_table_lists_each_product_then_the_skipped_and_the_summary(
    catalogue, django_assert_num_queries
):
    with django_assert_num_queries(4):  # the products, then orders, refusals and history
        output = run()

    seasonal = backtest(catalogue["SEASONAL"])
    sparse = backtest(catalogue["SPARSE"])
    assert seasonal is not None and sparse is not None
    assert seasonal.method is Method.ETS
    assert seasonal.mase < seasonal.naive_mase
    assert sparse.method is Method.SBA
    mean_mase = (seasonal.mase + sparse.mase) / 2
    mean_naive = (seasonal.naive_mase + sparse.naive_mase) / 2
    beaten = int(seasonal.beats_naive) + int(sparse.beats_naive)
    assert output.splitlines() == [
        "SKU       shape         method            MASE  naive MASE",
        expected_line("SEASONAL", catalogue["SEASONAL"], 8),
        expected_line("SPARSE", catalogue["SPARSE"], 8),
        "Skipped, too little history: NEW",
        f"Mean MASE {mean_mase:.3f}, seasonal-naive {mean_naive:.3f}: the chosen method beat"
        f" seasonal-naive on {beaten} of 2 product(s).",
    ]
    assert output.splitlines()[1].startswith("SEASONAL  smooth        ets")
    assert output.splitlines()[2].startswith("SPARSE    intermittent  sba")


def test_json_gives_one_object_per_product_and_a_summary(catalogue):
    rows = [json.loads(line) for line in run("--json").splitlines()]

    seasonal = backtest(catalogue["SEASONAL"])
    assert seasonal is not None
    assert [row.get("sku") for row in rows] == ["NEW", "SEASONAL", "SPARSE", None]
    assert rows[0] == {"sku": "NEW", "shape": "smooth", "skipped": True}
    assert rows[1] == {
        "sku": "SEASONAL",
        "shape": "smooth",
        "method": "ets",
        "mase": round(seasonal.mase, 4),
        "naive_mase": round(seasonal.naive_mase, 4),
        "mae": round(seasonal.mae, 4),
        "naive_mae": round(seasonal.naive_mae, 4),
        "coverage": round(seasonal.coverage, 4),
        "origins": 8,
        "adi": 1.0,
        "cv2": round(demand_shape(catalogue["SEASONAL"][:-7]).cv2, 4),
        "demand_days": 358,
    }
    assert rows[1]["mase"] < rows[1]["naive_mase"]
    assert rows[2]["method"] == "sba"
    summary = rows[3]["summary"]
    assert {key: summary[key] for key in ("products", "evaluated", "skipped")} == {
        "products": 3,
        "evaluated": 2,
        "skipped": 1,
    }
    assert summary["mean_mase"] == pytest.approx((rows[1]["mase"] + rows[2]["mase"]) / 2, abs=1e-4)
    assert summary["beat_naive"] == sum(row["mase"] < row["naive_mase"] for row in rows[1:3])


def test_refused_demand_counts_as_demand(catalogue):
    row = json.loads(run("--json", "--sku", "SEASONAL").splitlines()[0])

    without_refusals = backtest(catalogue["SEASONAL"])
    assert without_refusals is not None
    assert row["mase"] == round(without_refusals.mase, 4)
    assert DemandHistory.objects.filter(product__sku="SEASONAL", refused__gt=0).exists()


def test_sku_options_choose_the_products_and_the_options_shape_the_backtest(catalogue):
    output = run("--sku", "SPARSE", "--sku", "NEW", "--horizon", "14", "--origins", "4")

    result = backtest(catalogue["SPARSE"], horizon=14, origins=4)
    assert result is not None
    shape = demand_shape(catalogue["SPARSE"][:-14]).shape
    assert output.splitlines()[:3] == [
        "SKU     shape         method            MASE  naive MASE",
        f"SPARSE  {shape:<12}  {result.method:<14}"
        f"  {result.mase:>6.3f}  {result.naive_mase:>10.3f}",
        "Skipped, too little history: NEW",
    ]


def test_a_shorter_history_is_read_with_days(catalogue):
    output = run("--days", "60", "--json")

    rows = [json.loads(line) for line in output.splitlines()]
    assert [row.get("skipped") for row in rows[:3]] == [True, True, True]
    assert rows[3]["summary"] == {
        "products": 3,
        "evaluated": 0,
        "skipped": 3,
        "mean_mase": None,
        "mean_naive_mase": None,
        "beat_naive": 0,
    }
    assert run("--days", "60").splitlines()[-2:] == [
        "Skipped, too little history: NEW, SEASONAL, SPARSE",
        "No product with enough history to backtest.",
    ]


def test_products_are_read_in_chunks(catalogue, monkeypatch, django_assert_num_queries):
    whole = run()
    monkeypatch.setattr(forecast_backtest, "CHUNK", 2)

    with django_assert_num_queries(7):  # the products, then three reads for each chunk
        chunked = run()

    assert chunked == whole


def test_an_unknown_sku_or_a_bad_option_is_refused(catalogue):
    with pytest.raises(CommandError, match=r"Unknown SKU\(s\): NOPE\."):
        run("--sku", "NOPE", "--sku", "SEASONAL")
    with pytest.raises(CommandError, match="--origins must be at least 1"):
        run("--origins", "0")

"""The demand forecast, without a database: synthetic daily demand with fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from inventory.forecast import (
    Forecast,
    Method,
    Shape,
    backtest,
    demand_shape,
    forecast,
    seasonal_naive,
    spike_test,
)

WEEK = np.array([4.0, 2.0, 0.0, -1.0, -2.0, 3.0, 6.0])
"""Units above or below the level on each weekday."""


def trend_seasonal(seed: int, days: int = 365) -> list[int]:
    """Poisson demand around 20 a day, growing by 0.03 a day, with a weekly pattern."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    return rng.poisson(20 + 0.03 * t + WEEK[t % 7]).tolist()


def steady(seed: int, level: float, days: int = 365) -> list[int]:
    return np.random.default_rng(seed).poisson(level, days).tolist()


def intermittent(seed: int, days: int = 365, share: float = 0.2, largest: int = 3) -> list[int]:
    """Demand on about `share` of the days, 1 to `largest` units."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(days) < share, rng.integers(1, largest + 1, days), 0).tolist()


def lumpy(seed: int, days: int = 365) -> list[int]:
    """Demand on about one day in ten, of very different sizes."""
    rng = np.random.default_rng(seed)
    sizes = np.ceil(rng.lognormal(1.5, 1.4, days))
    return np.where(rng.random(days) < 0.1, sizes, 0).astype(int).tolist()


def erratic(seed: int, days: int = 365) -> list[int]:
    """Demand every day, of very different sizes."""
    return (1 + np.random.default_rng(seed).negative_binomial(1, 0.1, days)).tolist()


SERIES = {
    "trend_seasonal": trend_seasonal,
    "steady": lambda seed, days=365: steady(seed, 15.0, days),
    "erratic": erratic,
    "intermittent": intermittent,
    "lumpy": lumpy,
}

ODD_HISTORIES = {
    "empty": [],
    "one_day": [4],
    "three_days": [3, None, 2],
    "all_zero": [0] * 365,
    "constant": [5] * 365,
    "all_unknown": [None] * 365,
    "one_huge_day": [0] * 200 + [1000] + [0] * 164,
    "one_huge_day_in_steady_demand": [*steady(1, 10.0, 200), 1000, *steady(2, 10.0, 164)],
    "negative_and_nan": [-3, math.nan, 2] * 20,
    "zeros_then_unknown": [0] * 100 + [None] * 265,
}


def assert_ordered(result: Forecast) -> None:
    for low, expected, high in zip(result.low, result.expected, result.high, strict=True):
        assert 0 <= low <= expected <= high
        assert math.isfinite(high)
    assert 0 <= result.total_low <= result.total_expected <= result.total_high
    for days in range(result.horizon + 1):
        expected_sum, low_sum, high_sum = result.over(days)
        assert 0 <= low_sum <= expected_sum <= high_sum


def coverage(result: Forecast, truth: list[int]) -> float:
    actual = np.array(truth)
    return float(np.mean((np.array(result.low) <= actual) & (actual <= np.array(result.high))))


# The demand's shape and the method chosen for it.


@pytest.mark.parametrize(
    ("series", "shape", "method"),
    [
        ("trend_seasonal", Shape.SMOOTH, Method.ETS),
        ("steady", Shape.SMOOTH, Method.ETS),
        ("erratic", Shape.ERRATIC, Method.ETS),
        ("intermittent", Shape.INTERMITTENT, Method.SBA),
        ("lumpy", Shape.LUMPY, Method.TSB),
    ],
)
def test_each_shape_of_demand_gets_its_method(series, shape, method):
    for seed in range(5):
        history = SERIES[series](seed)

        result = forecast(history, 14)

        assert demand_shape(history).shape is shape
        assert (result.shape, result.method) == (shape, method)


def test_a_short_history_gets_the_mean_with_a_band_wider_than_a_known_mean():
    history = steady(0, 5.0, 20)

    result = forecast(history, 7)

    assert (result.shape, result.method) == (Shape.SHORT, Method.MEAN)
    assert result.daily_mean == pytest.approx(np.mean(history))
    known_mean_width = poisson.ppf(0.9, 7 * 5.0) - poisson.ppf(0.1, 7 * 5.0)
    assert result.total_high - result.total_low > 1.5 * known_mean_width


def test_a_year_with_only_four_days_of_demand_is_short():
    history = [0] * 365
    for day in (30, 100, 200, 300):
        history[day] = 2

    assert demand_shape(history).shape is Shape.SHORT
    assert forecast(history, 7).method is Method.MEAN
    assert forecast(history, 7).daily_mean == pytest.approx(8 / 365)


def test_adi_and_cv2_count_known_days_and_non_zero_sizes():
    history = [0, 0, 2, None, 0, 4] * 7

    shape = demand_shape(history)

    assert shape.known_days == 35
    assert shape.demand_days == 14
    assert shape.adi == pytest.approx(35 / 14)
    assert shape.cv2 == pytest.approx(1 / 9)
    assert shape.shape is Shape.INTERMITTENT


def test_the_adi_cut_off_of_1_32_separates_smooth_from_intermittent():
    assert demand_shape([1] * 26 + [0] * 7).shape is Shape.SMOOTH  # ADI 33/26 = 1.27
    assert demand_shape([1] * 25 + [0] * 8).shape is Shape.INTERMITTENT  # ADI 33/25 = 1.32


def test_the_cv2_cut_off_of_0_49_separates_smooth_from_erratic():
    assert demand_shape([2, 4] * 20).cv2 == pytest.approx(1 / 9)
    assert demand_shape([2, 4] * 20).shape is Shape.SMOOTH
    assert demand_shape([1, 9] * 20).cv2 == pytest.approx(16 / 25)
    assert demand_shape([1, 9] * 20).shape is Shape.ERRATIC


def test_only_the_last_year_of_history_counts():
    history = steady(0, 30.0) + [0] * 365

    assert demand_shape(history).shape is Shape.SHORT
    assert forecast(history, 7).total_expected == 0


# What the forecasts say.


def test_ets_follows_the_trend_and_the_weekly_pattern():
    history = trend_seasonal(0)

    result = forecast(history, 14)

    t = np.arange(365, 379)
    truth = 20 + 0.03 * t + WEEK[t % 7]
    assert result.method is Method.ETS
    assert np.corrcoef(result.expected, truth)[0, 1] > 0.9
    assert result.daily_mean == pytest.approx(truth.mean(), rel=0.1)


def test_ets_fits_the_weekly_pattern_only_from_eight_weeks_of_history():
    seven_weeks = forecast(trend_seasonal(0, 49), 7)
    sixteen_weeks = forecast(trend_seasonal(0, 112), 7)

    assert seven_weeks.method is sixteen_weeks.method is Method.ETS
    assert max(seven_weeks.expected) - min(seven_weeks.expected) < 1.5
    assert max(sixteen_weeks.expected) - min(sixteen_weeks.expected) > 5


def test_ets_daily_bands_are_the_statsmodels_prediction_intervals():
    history = trend_seasonal(3, 200)
    fits = [
        ETSModel(
            pd.Series(np.array(history, dtype=float)),
            error="add",
            trend="add" if trend else None,
            damped_trend=trend,
            seasonal="add",
            seasonal_periods=7,
            initialization_method="heuristic",
        ).fit(disp=False, maxiter=200)
        for trend in (True, False)
    ]
    best = min(fits, key=lambda fit: fit.aic)
    frame = best.get_prediction(start=200, end=213).summary_frame(alpha=0.2)

    result = forecast(history, 14)

    assert result.expected == pytest.approx(frame["mean"].tolist())
    assert result.low == pytest.approx(frame["pi_lower"].tolist())
    assert result.high == pytest.approx(frame["pi_upper"].tolist())
    assert result.daily_sd == pytest.approx(math.sqrt(best.mse))


def test_croston_sba_and_tsb_on_demand_of_four_every_fourth_day():
    history = [0, 0, 0, 4] * 25

    croston = forecast(history, 7, method=Method.CROSTON)
    sba = forecast(history, 7, method=Method.SBA)
    tsb = forecast(history, 7, method=Method.TSB)

    assert croston.expected == pytest.approx((1.0,) * 7)
    # The bias correction 1 - a/2 with the smallest constant of the grid fits best here.
    assert sba.expected == pytest.approx((0.975,) * 7)
    assert tsb.daily_mean == pytest.approx(1.0, rel=0.1)
    assert croston.total_expected == pytest.approx(7.0)


def test_tsb_forecasts_demand_that_stopped_to_fade_and_sba_does_not():
    history = lumpy(0, 245) + [0] * 120

    faded = forecast(history, 7, method=Method.TSB)
    kept = forecast(history, 7, method=Method.SBA)

    assert faded.daily_mean < 0.5 * kept.daily_mean


def test_seasonal_naive_repeats_the_last_week():
    history = [1, 2, 3, 4, 5, 6, 7] * 5 + [10, 20, 30, 40, 50, 60, 70]

    result = seasonal_naive(history, 9)

    assert result.method is Method.SEASONAL_NAIVE
    assert result.expected == (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 10.0, 20.0)
    assert seasonal_naive([1, 2, 3], 3).method is Method.MEAN
    assert seasonal_naive([1, 2, 3], 3).expected == (2.0, 2.0, 2.0)


# Bands.


@pytest.mark.parametrize("series", sorted(SERIES))
def test_daily_bands_hold_about_80_percent_of_a_held_out_month(series):
    held_out = []
    for seed in range(5):
        history = SERIES[series](seed, 395)
        held_out.append(coverage(forecast(history[:365], 30), history[365:]))

    assert 0.6 <= np.mean(held_out) <= 0.95


def test_the_weekly_total_band_holds_about_80_percent_and_is_narrower_than_the_daily_sum():
    inside = []
    for seed in range(20):
        history = trend_seasonal(seed, 372)
        result = forecast(history[:365], 7)
        inside.append(result.total_low <= sum(history[365:]) <= result.total_high)

        assert result.total_high - result.total_low < sum(result.high) - sum(result.low)

    assert 0.6 <= np.mean(inside) <= 0.95


@pytest.mark.parametrize("series", sorted(SERIES))
@pytest.mark.parametrize("method", [None, *Method])
def test_bands_are_never_negative_and_hold_the_expected_value(series, method):
    assert_ordered(forecast(SERIES[series](0), 28, method=method))


def test_over_gives_the_running_sums_and_their_band():
    result = forecast(trend_seasonal(0), 14)

    assert result.over(14) == (result.total_expected, result.total_low, result.total_high)
    assert result.over(0) == (0.0, 0.0, 0.0)
    assert result.over(3)[0] == pytest.approx(sum(result.expected[:3]))
    assert result.over(3)[2] - result.over(3)[1] < result.over(14)[2] - result.over(14)[1]
    assert result.total_expected == pytest.approx(14 * result.daily_mean)
    with pytest.raises(ValueError, match="0 to 14 days, not 15"):
        result.over(15)


def test_a_forecast_built_by_hand_spreads_daily_sd_over_its_days():
    result = Forecast(
        method=Method.MEAN,
        expected=(2.0, 2.0, 2.0, 2.0),
        low=(1.0, 1.0, 1.0, 1.0),
        high=(3.0, 3.0, 3.0, 3.0),
        total_expected=8.0,
        total_low=5.0,
        total_high=11.0,
        daily_mean=2.0,
        daily_sd=1.5,
    )

    expected, low, high = result.over(4)

    assert expected == 8.0
    assert low == pytest.approx(8.0 - 1.2815515655 * 3.0)
    assert high == pytest.approx(8.0 + 1.2815515655 * 3.0)


def test_a_horizon_of_zero_days_still_gives_the_daily_mean():
    result = forecast(steady(0, 15.0), 0)

    assert (result.expected, result.low, result.high) == ((), (), ())
    assert result.total_expected == 0
    assert result.daily_mean == pytest.approx(forecast(steady(0, 15.0), 1).expected[0])
    with pytest.raises(ValueError, match="negative"):
        forecast([1, 2, 3], -1)


# Days the product could not sell.


@pytest.mark.parametrize(
    ("series", "method", "tolerance"),
    [
        ("trend_seasonal", Method.ETS, 0.05),
        ("steady", Method.ETS, 0.05),
        # Its level moves with each demand day: leaving one out moves it more.
        ("intermittent", Method.SBA, 0.1),
    ],
)
@pytest.mark.parametrize("start", [200, 358])
def test_a_stock_out_week_does_not_pull_the_forecast_down(series, method, tolerance, start):
    for seed in range(3):
        history = SERIES[series](seed)
        out_of_stock = history[:start] + [None] * 7 + history[start + 7 :]

        full = forecast(history, 14)
        stocked_out = forecast(out_of_stock, 14)

        assert stocked_out.method is method
        assert stocked_out.daily_mean == pytest.approx(full.daily_mean, rel=tolerance)


def test_a_stock_out_at_the_end_read_as_zeros_would_pull_the_forecast_down():
    history = steady(0, 15.0)
    as_unknown = history[:351] + [None] * 14
    as_zero = history[:351] + [0] * 14

    assert forecast(as_unknown, 7).daily_mean == pytest.approx(15.0, rel=0.1)
    assert forecast(as_zero, 7).daily_mean < 10.0


def test_unknown_days_do_not_count_in_the_shape():
    history = intermittent(0)
    with_gaps = [
        None if day % 3 == 0 and units == 0 else units for day, units in enumerate(history)
    ]

    shape = demand_shape(with_gaps)

    assert shape.demand_days == demand_shape(history).demand_days
    assert shape.known_days < 365
    assert shape.adi == pytest.approx(shape.known_days / shape.demand_days)


# Odd histories.


@pytest.mark.parametrize("name", sorted(ODD_HISTORIES))
@pytest.mark.parametrize("method", [None, *Method])
def test_odd_histories_never_raise(name, method):
    result = forecast(ODD_HISTORIES[name], 14, method=method)

    assert len(result.expected) == 14
    assert_ordered(result)
    assert math.isfinite(result.daily_sd)


@pytest.mark.parametrize("name", ["empty", "all_zero", "all_unknown", "zeros_then_unknown"])
def test_a_history_without_demand_forecasts_nothing(name):
    result = forecast(ODD_HISTORIES[name], 7)

    assert result.method is Method.MEAN
    assert result.expected == result.low == result.high == (0.0,) * 7
    assert (result.total_low, result.total_high) == (0.0, 0.0)


def test_a_constant_history_that_ets_cannot_fit_falls_back_to_the_mean():
    result = forecast([5] * 365, 7)

    assert result.shape is Shape.SMOOTH
    assert result.method is Method.MEAN
    assert result.expected == (5.0,) * 7
    assert result.low[0] < 5.0 < result.high[0]


def test_one_huge_day_in_steady_demand_does_not_break_ets():
    result = forecast(ODD_HISTORIES["one_huge_day_in_steady_demand"], 7)

    assert (result.shape, result.method) == (Shape.ERRATIC, Method.ETS)
    assert 5.0 < result.daily_mean < 30.0


# Backtests.


def test_the_chosen_method_beats_seasonal_naive_on_trend_and_season():
    for seed in range(5):
        result = backtest(trend_seasonal(seed))

        assert result is not None
        assert (result.method, result.origins) == (Method.ETS, 8)
        assert result.methods == (Method.ETS,) * 8
        assert result.mase < result.naive_mase


def test_the_chosen_method_beats_seasonal_naive_on_intermittent_demand():
    for seed in range(5):
        result = backtest(intermittent(seed, 730, share=0.4, largest=6), horizon=14, origins=26)

        assert result is not None
        assert result.method is Method.SBA
        assert result.mase < result.naive_mase


def test_on_sparse_intermittent_demand_sba_beats_seasonal_naive_across_products():
    # On one product the MAE gap is small (both are mostly wrong by the same non-zero days).
    results = [backtest(intermittent(seed, 730), horizon=14, origins=26) for seed in range(10)]

    assert all(result is not None and result.method is Method.SBA for result in results)
    assert np.mean([r.mase for r in results if r]) < np.mean([r.naive_mase for r in results if r])


def test_mase_is_scaled_by_the_in_sample_seasonal_naive_error():
    history = [1, 2, 3, 4, 5, 6, 7] * 20

    result = backtest(history, method=Method.SEASONAL_NAIVE)

    assert result is not None
    # The weekly pattern repeats exactly: seasonal-naive is never wrong, so the naive
    # one-step error scales: over the 84 days before the first origin, 83 steps of 1 unit
    # but every seventh of 6 units.
    assert result.scale == pytest.approx((72 + 6 * 11) / 83)
    assert result.mase == result.naive_mase == 0.0
    assert result.coverage == 1.0


def test_mase_is_the_mae_over_the_scale():
    result = backtest(lumpy(0), horizon=7, origins=4)

    assert result is not None
    assert result.mase == pytest.approx(result.mae / result.scale)
    assert result.naive_mase == pytest.approx(result.naive_mae / result.scale)
    assert result.origins == len(result.methods) == 4


def test_a_backtest_needs_four_weeks_before_the_first_origin():
    assert backtest(steady(0, 5.0, 83)) is None
    assert backtest(steady(0, 5.0, 84)) is not None
    assert backtest([None] * 365) is None


def test_unknown_test_days_are_left_out_of_the_errors():
    history = steady(0, 15.0)
    gaps = history[:-10] + [None] * 10

    result = backtest(gaps)

    assert result is not None
    assert math.isfinite(result.mase)
    assert result.method is Method.ETS


# Spikes.


def rolling_alerts(history: list[int], *, start: int = 91, window: int = 3) -> list[int]:
    """First days of the `window`-day windows from `start` on that raise a spike, each
    compared with a forecast made at most a week before it, once a week."""
    alerts = []
    for made in range(start, len(history) - window + 1, 7):
        result = forecast(history[:made], 7 + window - 1)
        for offset in range(7):
            first = made + offset
            if first + window > len(history):
                break
            days = slice(offset, offset + window)
            if spike_test(history[first : first + window], result.expected[days], result.daily_sd):
                alerts.append(first)
    return alerts


@pytest.mark.parametrize("level", [4.0, 15.0])
def test_a_year_of_steady_demand_raises_no_spike(level):
    for seed in range(3):
        assert rolling_alerts(steady(seed, level, 456)) == []


@pytest.mark.parametrize("series", ["trend_seasonal", "erratic", "intermittent"])
def test_a_year_of_demand_of_other_shapes_raises_no_spike(series):
    for seed in range(3):
        assert rolling_alerts(SERIES[series](seed, 456)) == []


def test_five_times_the_demand_for_two_days_is_a_spike_in_the_windows_holding_it():
    history = steady(0, 4.0, 456)
    history[300:302] = np.random.default_rng(99).poisson(20.0, 2).tolist()

    alerts = rolling_alerts(history)

    assert alerts
    assert set(alerts) <= {298, 299, 300, 301}
    assert 300 in alerts


def test_a_spike_needs_the_minimum_units_above_the_forecast():
    assert spike_test([2, 2, 1], [0.1, 0.1, 0.1], 0.3) is None
    assert spike_test([2, 2, 2], [0.1, 0.1, 0.1], 0.3) is not None


def test_few_units_are_tested_with_the_poisson_tail():
    spike = spike_test([11, 11, 10], [4.0, 4.0, 4.0], 2.0)

    assert spike is not None
    assert (spike.test, spike.observed, spike.expected, spike.excess) == ("poisson", 32, 12.0, 20.0)
    assert spike.p_value == pytest.approx(poisson.sf(31, 12.0))
    assert spike_test([9, 9, 9], [4.0, 4.0, 4.0], 2.0) is None  # p 0.00006


def test_many_units_are_tested_with_the_z_score():
    spike = spike_test([60, 60, 60], [40.0, 40.0, 40.0], 7.0)

    assert spike is not None
    assert spike.test == "z"
    assert spike.z == pytest.approx(60 / math.sqrt(147))
    assert spike_test([57, 57, 57], [40.0, 40.0, 40.0], 7.0) is None  # z 4.21


def test_over_dispersed_demand_is_tested_with_the_negative_binomial_tail():
    spike = spike_test([60, 60, 60], [10.0, 10.0, 10.0], 10.0)

    assert spike is not None
    assert spike.test == "negative_binomial"
    # Poisson would call this a spike (p below 1e-40); daily_sd says such days happen.
    assert spike_test([50, 50, 50], [10.0, 10.0, 10.0], 10.0) is None  # p 0.00003


def test_a_spike_test_needs_one_expected_figure_per_day():
    assert spike_test([], [], 1.0) is None
    with pytest.raises(ValueError, match="one expected figure"):
        spike_test([1, 2], [1.0], 1.0)

"""The demand forecast, pure: a product's daily demand in, expected demand and an 80% band out.

No ORM and no clock. A history is daily units, oldest first, ending the day before the first
day forecast; only its last 365 days are used.

Unknown days: `None` marks a day the product could not sell and whose demand is unknown (out
of stock, no refused demand on record), unlike 0, a day it could sell and nobody asked for it.
Unknown days never count as zero. They are left out of the demand's shape and of the mean,
Croston, SBA and TSB (those see only the days the product could sell). ETS and seasonal-naive
need every day, so an unknown day takes the mean of the known days on the same weekday up to
four weeks either side, else of the known days up to two weeks either side, else of all known
days; days before the first known day are dropped.

The method, by the demand's shape (Syntetos-Boylan): ADI, the average inter-demand interval, is
known days per day with demand; CV2 is the squared coefficient of variation of the non-zero
day sizes.
- Short: fewer than 28 known days or fewer than 5 days with demand -> the mean of the known
  days with a wide band.
- Smooth (ADI < 1.32, CV2 < 0.49) and erratic (ADI < 1.32, CV2 >= 0.49) -> ETS: additive
  errors, an additive damped trend or none, and additive weekly seasonality once there are 56
  days (eight weeks) to fit; of the two candidates the one with the lower AIC. A fit that
  fails, does not converge or leaves no residual spread falls back to the mean of the last
  eight weeks.
- Intermittent (ADI >= 1.32, CV2 < 0.49) -> SBA: Croston with the Syntetos-Boylan bias
  correction.
- Lumpy (ADI >= 1.32, CV2 >= 0.49) -> TSB: the demand probability is updated every day, so
  demand that fades out is forecast to fade.
Croston, SBA and TSB take their smoothing constants from a small grid (0.05, 0.1, 0.2, 0.3),
the pair with the lowest in-sample one-step squared error.

Bands are 80% prediction intervals, the 10th and 90th percentiles, never below zero, and
always hold the expected value. Each day has its own band, and the sum of the first k days has
its own too (narrower than adding up the daily bands).
- ETS: the analytical forecast-error variance of the fitted model (additive class: the
  innovations' weights alpha + beta * (phi + ... + phi^j) + gamma on whole seasons), normal.
- Croston, SBA and TSB: a count distribution, negative binomial (Poisson when not
  over-dispersed) with the forecast's mean and a variance of sigma2 * (k + k^2 * a / (2 - a))
  for k days, sigma2 the in-sample one-step squared error, a the (larger) smoothing constant:
  day-to-day noise plus the uncertainty of the smoothed level.
- Mean: the same count distribution with the sample variance (at least the mean) times
  (k + k^2 / n) for n known days, doubled: a short history says little about the spread.
- Seasonal-naive: the residual variance of y - y[7 days before], times the number of weeks
  ahead, normal.
`daily_sd` is the standard deviation of a one-day forecast error: the model's in-sample
one-step error (the sample standard deviation for the mean).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter
from scipy.stats import nbinom, norm, poisson
from statsmodels.tools.sm_exceptions import ConvergenceWarning
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

FloatArray = npt.NDArray[np.float64]

PERIOD = 7
"""Days in a season: demand has a weekly pattern."""
WINDOW = 365
"""Days of history used at most."""
MIN_KNOWN_DAYS = 28
MIN_DEMAND_DAYS = 5
SEASONAL_DAYS = 56
"""Days of history from which ETS fits weekly seasonality."""
FALLBACK_DAYS = 56
"""Known days the mean uses when ETS cannot fit a smooth series."""
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
LOW_QUANTILE, HIGH_QUANTILE = 0.1, 0.9
Z_BAND = float(norm.ppf(HIGH_QUANTILE))
SHORT_INFLATION = 2.0
SMOOTHING_GRID = (0.05, 0.1, 0.2, 0.3)
ETS_MAXITER = 200
SMALL_COUNT = 20.0
"""Below this many expected units the spike test uses the Poisson tail, above it a z-score."""
OVERDISPERSED = 1.5
"""Variance to mean ratio from which the spike test uses the negative binomial tail."""


class Method(StrEnum):
    ETS = "ets"
    CROSTON = "croston"
    SBA = "sba"
    TSB = "tsb"
    MEAN = "mean"
    SEASONAL_NAIVE = "seasonal_naive"


class Shape(StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    SHORT = "short"


METHOD_BY_SHAPE = {
    Shape.SMOOTH: Method.ETS,
    Shape.ERRATIC: Method.ETS,
    Shape.INTERMITTENT: Method.SBA,
    Shape.LUMPY: Method.TSB,
    Shape.SHORT: Method.MEAN,
}


@dataclass(frozen=True)
class DemandShape:
    adi: float
    """Known days per day with demand; infinite when nothing was asked for."""
    cv2: float
    """Squared coefficient of variation of the non-zero day sizes; 0 below two such days."""
    shape: Shape
    demand_days: int
    known_days: int = 0


@dataclass(frozen=True)
class Forecast:
    method: Method
    """The method that made the forecast (a fallback's, when the chosen one failed)."""
    expected: tuple[float, ...]
    """Expected units per day; day 1 is the day after the history ends."""
    low: tuple[float, ...]
    high: tuple[float, ...]
    total_expected: float
    total_low: float
    """The 80% interval of the sum over the horizon, not the sum of the daily lows."""
    total_high: float
    daily_mean: float
    """Mean expected units a day over the horizon (day 1's with a horizon of 0)."""
    daily_sd: float
    """Standard deviation of a one-day forecast error."""
    sums: tuple[tuple[float, float, float], ...] = ()
    """(expected, low, high) of the sum of the first k days, for k = 1 to the horizon."""
    shape: Shape | None = None

    @property
    def horizon(self) -> int:
        return len(self.expected)

    def over(self, days: int) -> tuple[float, float, float]:
        """Expected units and the 80% interval of the sum of the first `days` days.

        A forecast built without `sums` (by hand) spreads daily_sd * sqrt(days), normal.
        """
        if not 0 <= days <= self.horizon:
            raise ValueError(f"The forecast covers 0 to {self.horizon} days, not {days}.")
        if days == 0:
            return 0.0, 0.0, 0.0
        if self.sums:
            return self.sums[days - 1]
        expected = math.fsum(self.expected[:days])
        spread = Z_BAND * self.daily_sd * math.sqrt(days)
        return expected, max(expected - spread, 0.0), expected + spread


@dataclass(frozen=True)
class Backtest:
    method: Method
    """The method used at the last origin."""
    mase: float
    naive_mase: float
    """The MASE of seasonal-naive on the same windows and scale."""
    origins: int
    mae: float = math.nan
    naive_mae: float = math.nan
    scale: float = math.nan
    """In-sample MAE of the one-step seasonal-naive forecast before the first origin."""
    coverage: float = math.nan
    """Share of the known test days inside the method's daily 80% band."""
    shape: Shape | None = None
    """The shape of the history before the last origin."""
    methods: tuple[Method, ...] = ()
    """The method used at each origin, first to last."""

    @property
    def beats_naive(self) -> bool:
        return self.mase < self.naive_mase


@dataclass(frozen=True)
class Spike:
    observed: int
    expected: float
    z: float
    """The z-score, or for a count tail the normal quantile of its p-value (infinite when the
    forecast expected nothing at all)."""
    excess: float
    """Units above the forecast."""
    p_value: float = 0.0
    test: str = "z"
    """Which test: "poisson", "negative_binomial" or "z"."""


@contextmanager
def _quiet() -> Iterator[None]:
    """Numerical warnings from numpy, scipy and statsmodels stay inside this module."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _series(history: Sequence[float | None]) -> FloatArray:
    """The last `WINDOW` days as floats, NaN for an unknown day, negative units as 0."""
    values = np.array(
        [math.nan if value is None else float(value) for value in history[-WINDOW:]],
        dtype=np.float64,
    )
    values[~np.isfinite(values)] = math.nan
    return np.where(values < 0, 0.0, values)


def _known(series: FloatArray) -> FloatArray:
    return series[~np.isnan(series)]


def _shape_of(series: FloatArray) -> DemandShape:
    known = _known(series)
    sizes = known[known > 0]
    demand_days = len(sizes)
    adi = len(known) / demand_days if demand_days else math.inf
    cv2 = float(np.var(sizes) / np.mean(sizes) ** 2) if demand_days >= 2 else 0.0
    if len(known) < MIN_KNOWN_DAYS or demand_days < MIN_DEMAND_DAYS:
        shape = Shape.SHORT
    elif adi < ADI_CUTOFF:
        shape = Shape.SMOOTH if cv2 < CV2_CUTOFF else Shape.ERRATIC
    else:
        shape = Shape.INTERMITTENT if cv2 < CV2_CUTOFF else Shape.LUMPY
    return DemandShape(adi, cv2, shape, demand_days, len(known))


def demand_shape(history: Sequence[float | None]) -> DemandShape:
    """The shape of the last year of `history` (unknown days left out)."""
    with _quiet():
        return _shape_of(_series(history))


def _filled(series: FloatArray) -> FloatArray:
    """Every day from the first known one, unknown days imputed (see the module docstring)."""
    known = ~np.isnan(series)
    if not known.any():
        return np.zeros(0, dtype=np.float64)
    start = int(np.argmax(known))
    values, known = series[start:], known[start:]
    filled = values.copy()
    size = len(values)
    overall = float(values[known].mean())
    for day in np.flatnonzero(~known):
        same_weekday = [
            day + PERIOD * weeks
            for weeks in (-4, -3, -2, -1, 1, 2, 3, 4)
            if 0 <= day + PERIOD * weeks < size and known[day + PERIOD * weeks]
        ]
        if same_weekday:
            filled[day] = values[same_weekday].mean()
            continue
        near = slice(max(day - 14, 0), day + 15)
        nearby = values[near][known[near]]
        filled[day] = nearby.mean() if len(nearby) else overall
    return filled


def _count_band(mean: FloatArray, variance: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The 10th and 90th percentiles of a count with this mean and variance: negative
    binomial when over-dispersed, else Poisson."""
    low, high = np.zeros_like(mean), np.zeros_like(mean)
    positive = mean > 0
    variance = np.maximum(variance, mean)
    over = positive & (variance > mean * (1 + 1e-9))
    plain = positive & ~over
    if over.any():
        m, v = mean[over], variance[over]
        size, probability = m * m / (v - m), m / v
        low[over] = nbinom.ppf(LOW_QUANTILE, size, probability)
        high[over] = nbinom.ppf(HIGH_QUANTILE, size, probability)
    if plain.any():
        low[plain] = poisson.ppf(LOW_QUANTILE, mean[plain])
        high[plain] = poisson.ppf(HIGH_QUANTILE, mean[plain])
    return low, high


def _normal_band(mean: FloatArray, variance: FloatArray) -> tuple[FloatArray, FloatArray]:
    spread = Z_BAND * np.sqrt(np.maximum(variance, 0.0))
    return mean - spread, mean + spread


def _assemble(
    method: Method,
    shape: Shape,
    horizon: int,
    mean: FloatArray,
    daily_variance: FloatArray,
    sum_variance: FloatArray,
    daily_sd: float,
    *,
    counts: bool,
) -> Forecast:
    """A forecast from the daily means and the variances of each day and of each running
    sum (all over at least one day, cut to `horizon`)."""
    band = _count_band if counts else _normal_band
    expected = np.maximum(np.nan_to_num(mean), 0.0)
    low, high = band(expected, daily_variance)
    running = np.cumsum(expected)
    sum_low, sum_high = band(running, sum_variance)
    days = [
        (value, min(max(lo, 0.0), value), max(hi, value))
        for value, lo, hi in zip(expected.tolist(), low.tolist(), high.tolist(), strict=True)
    ]
    sums = tuple(
        (value, min(max(lo, 0.0), value), max(hi, value))
        for value, lo, hi in zip(running.tolist(), sum_low.tolist(), sum_high.tolist(), strict=True)
    )[:horizon]
    total = sums[-1] if sums else (0.0, 0.0, 0.0)
    return Forecast(
        method=method,
        expected=tuple(day[0] for day in days[:horizon]),
        low=tuple(day[1] for day in days[:horizon]),
        high=tuple(day[2] for day in days[:horizon]),
        total_expected=total[0],
        total_low=total[1],
        total_high=total[2],
        daily_mean=total[0] / horizon if horizon else days[0][0],
        daily_sd=float(daily_sd) if math.isfinite(daily_sd) else 0.0,
        sums=sums,
        shape=shape,
    )


def _mean(known: FloatArray, steps: int, horizon: int, shape: Shape) -> Forecast:
    count = len(known)
    level = float(known.mean()) if count else 0.0
    sample = float(known.var(ddof=1)) if count >= 2 else level
    spread = SHORT_INFLATION * max(sample, level)
    days = np.arange(1, steps + 1, dtype=np.float64)
    return _assemble(
        Method.MEAN,
        shape,
        horizon,
        np.full(steps, level),
        np.full(steps, spread * (1 + 1 / max(count, 1))),
        spread * (days + days**2 / max(count, 1)),
        math.sqrt(sample),
        counts=True,
    )


def _smoothed(values: FloatArray, alpha: float, initial: float) -> FloatArray:
    """Simple exponential smoothing: the state after each value, starting from `initial`."""
    states, _ = lfilter([alpha], [1.0, alpha - 1.0], values, zi=[(1 - alpha) * initial])
    return np.asarray(states, dtype=np.float64)


def _intermittent(
    known: FloatArray, method: Method, steps: int, horizon: int, shape: Shape
) -> Forecast:
    """Croston, SBA or TSB on the known days, constants from the grid by in-sample MSE."""
    demand = np.flatnonzero(known > 0)
    if len(demand) == 0:
        return _mean(known, steps, horizon, shape)
    sizes = known[demand]
    intervals = np.diff(demand, prepend=-1).astype(np.float64)
    size0, interval0 = float(sizes.mean()), len(known) / len(demand)
    # How many demands each day has seen before it: the state its forecast rests on.
    before = np.searchsorted(demand, np.arange(len(known)), side="left")
    sized = {a: np.concatenate(([size0], _smoothed(sizes, a, size0))) for a in SMOOTHING_GRID}
    best: tuple[float, float, float, float] | None = None  # (mse, level, a, b)
    if method is Method.TSB:
        occurred = (known > 0).astype(np.float64)
        share0 = len(demand) / len(known)
        for b in SMOOTHING_GRID:
            share = np.concatenate(([share0], _smoothed(occurred, b, share0)))
            for a in SMOOTHING_GRID:
                fitted = share[:-1] * sized[a][before]
                mse = float(np.mean((known - fitted) ** 2))
                if best is None or mse < best[0]:
                    best = (mse, float(share[-1] * sized[a][-1]), a, b)
    else:
        for a in SMOOTHING_GRID:
            factor = 1 - a / 2 if method is Method.SBA else 1.0
            spaced = np.concatenate(([interval0], _smoothed(intervals, a, interval0)))
            ratio = factor * sized[a] / spaced
            mse = float(np.mean((known - ratio[before]) ** 2))
            if best is None or mse < best[0]:
                best = (mse, float(ratio[-1]), a, a)
    assert best is not None
    mse, level, a, b = best
    weight = max(a, b) / (2 - max(a, b))
    days = np.arange(1, steps + 1, dtype=np.float64)
    return _assemble(
        method,
        shape,
        horizon,
        np.full(steps, level),
        np.full(steps, mse * (1 + weight)),
        mse * (days + days**2 * weight),
        math.sqrt(mse),
        counts=True,
    )


@dataclass(frozen=True)
class _EtsFit:
    aic: float
    mean: FloatArray
    daily_variance: FloatArray
    sum_variance: FloatArray
    sigma2: float


def _ets_variances(
    sigma2: float,
    steps: int,
    *,
    alpha: float,
    beta: float = 0.0,
    phi: float = 1.0,
    gamma: float = 0.0,
    seasonal: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """Forecast-error variances of each of the next `steps` days and of their running sums,
    for an additive-error ETS model: the error h days ahead weighs the innovation j days
    before it by c_j = alpha + beta * (phi + ... + phi^j) + gamma (j a whole number of
    seasons)."""
    lags = np.arange(1, steps, dtype=np.float64)
    damped = np.cumsum(phi**lags) if steps > 1 else np.zeros(0)
    weights = alpha + beta * damped
    if seasonal:
        weights = weights + gamma * (lags % PERIOD == 0)
    daily = sigma2 * (1 + np.concatenate(([0.0], np.cumsum(weights**2))))
    carried = 1 + np.concatenate(([0.0], np.cumsum(weights)))
    return daily, sigma2 * np.cumsum(carried**2)


def _ets_candidate(
    values: FloatArray, steps: int, *, trend: bool, seasonal: bool
) -> _EtsFit | None:
    """One ETS model fitted to `values`, or None when the fit is not usable."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = ETSModel(
                values,
                error="add",
                trend="add" if trend else None,
                damped_trend=trend,
                seasonal="add" if seasonal else None,
                seasonal_periods=PERIOD if seasonal else None,
                initialization_method="heuristic",
            )
            result: Any = model.fit(disp=False, maxiter=ETS_MAXITER)
            mean = np.asarray(result.forecast(steps), dtype=np.float64)
        # statsmodels raises a variety of errors on degenerate series; any of them means
        # this candidate is not usable, and the caller falls back.
        except Exception:
            return None
    if any(issubclass(warning.category, ConvergenceWarning) for warning in caught):
        return None
    sigma2, aic = float(result.mse), float(result.aic)
    if not (math.isfinite(sigma2) and sigma2 > 1e-8 and math.isfinite(aic)):
        return None
    if not np.isfinite(mean).all():
        return None
    daily, sums = _ets_variances(
        sigma2,
        steps,
        alpha=float(result.smoothing_level),
        beta=float(result.smoothing_trend) if trend else 0.0,
        phi=float(result.damping_trend) if trend else 1.0,
        gamma=float(result.smoothing_seasonal) if seasonal else 0.0,
        seasonal=seasonal,
    )
    if not (np.isfinite(daily).all() and np.isfinite(sums).all()):
        return None
    return _EtsFit(aic, mean, daily, sums, sigma2)


def _ets(series: FloatArray, steps: int, horizon: int, shape: Shape) -> Forecast:
    values = _filled(series)
    seasonal = len(values) >= SEASONAL_DAYS
    fits = [
        fit
        for trend in (True, False)
        if (fit := _ets_candidate(values, steps, trend=trend, seasonal=seasonal)) is not None
    ]
    if not fits:
        return _mean(_known(series)[-FALLBACK_DAYS:], steps, horizon, shape)
    best = min(fits, key=lambda fit: fit.aic)
    return _assemble(
        Method.ETS,
        shape,
        horizon,
        best.mean,
        best.daily_variance,
        best.sum_variance,
        math.sqrt(best.sigma2),
        counts=False,
    )


def _seasonal_naive(series: FloatArray, steps: int, horizon: int, shape: Shape) -> Forecast:
    values = _filled(series)
    if len(values) < PERIOD:
        return _mean(_known(series), steps, horizon, shape)
    trimmed = series[len(series) - len(values) :]
    errors = trimmed[PERIOD:] - trimmed[:-PERIOD]
    errors = errors[~np.isnan(errors)]
    known = _known(series)
    sigma2 = (
        float(np.mean(errors**2)) if len(errors) else max(float(known.var()), float(known.mean()))
    )
    days = np.arange(steps)
    weeks_ahead = (days // PERIOD + 1).astype(np.float64)
    # The sum of the first k days: each weekday's innovation weighs on every later same weekday.
    seen = np.zeros(PERIOD)
    sum_weight = np.zeros(steps)
    total = 0.0
    for day in days:
        seen[day % PERIOD] += 1
        total += seen[day % PERIOD] ** 2
        sum_weight[day] = total
    return _assemble(
        Method.SEASONAL_NAIVE,
        shape,
        horizon,
        values[-PERIOD:][days % PERIOD],
        sigma2 * weeks_ahead,
        sigma2 * sum_weight,
        math.sqrt(sigma2),
        counts=False,
    )


def _forecast(series: FloatArray, horizon: int, method: Method | None) -> Forecast:
    if horizon < 0:
        raise ValueError("The horizon cannot be negative.")
    steps = max(horizon, 1)
    shape = _shape_of(series)
    chosen = method or METHOD_BY_SHAPE[shape.shape]
    if chosen is Method.ETS:
        return _ets(series, steps, horizon, shape.shape)
    if chosen in (Method.CROSTON, Method.SBA, Method.TSB):
        return _intermittent(_known(series), chosen, steps, horizon, shape.shape)
    if chosen is Method.SEASONAL_NAIVE:
        return _seasonal_naive(series, steps, horizon, shape.shape)
    return _mean(_known(series), steps, horizon, shape.shape)


def forecast(
    history: Sequence[float | None],
    horizon: int,
    *,
    method: Method | None = None,
    first_weekday: int | None = None,
) -> Forecast:
    """Expected demand and its 80% band for each of the `horizon` days after `history`.

    `method` None chooses by the demand's shape. The weekly season is taken from the days'
    positions, so `first_weekday` (0 Monday, of history[0]) does not change the forecast.
    Never raises on odd history (empty, all zeros, all unknown, constant).
    """
    with _quiet():
        return _forecast(_series(history), horizon, method)


def seasonal_naive(history: Sequence[float | None], horizon: int) -> Forecast:
    """Each day as the same weekday of the last week; the mean below seven days."""
    return forecast(history, horizon, method=Method.SEASONAL_NAIVE)


def _scale(series: FloatArray) -> float:
    """In-sample MAE of the one-step seasonal-naive forecast; of the naive one when that is
    zero; 1 (unit) when both are."""
    for lag in (PERIOD, 1):
        errors = np.abs(series[lag:] - series[:-lag])
        errors = errors[~np.isnan(errors)]
        if len(errors) and errors.mean() > 0:
            return float(errors.mean())
    return 1.0


def backtest(
    history: Sequence[float | None],
    *,
    horizon: int = 7,
    origins: int = 8,
    method: Method | None = None,
) -> Backtest | None:
    """Rolling-origin evaluation: `origins` consecutive windows of `horizon` days ending with
    the history, each forecast from the days before it, by `method` (None: chosen by shape at
    each origin) and by seasonal-naive.

    MASE is the MAE over the known test days divided by the in-sample MAE of the one-step
    seasonal-naive forecast before the first origin. None when fewer than 28 days come before
    the first origin, or no test day is known.
    """
    if horizon < 1 or origins < 1:
        raise ValueError("The horizon and the number of origins must be positive.")
    with _quiet():
        values = np.array(
            [math.nan if value is None else float(value) for value in history], dtype=np.float64
        )
        first = len(values) - horizon * origins
        if first < MIN_KNOWN_DAYS:
            return None
        truth = values[first:]
        if np.isnan(truth).all():
            return None
        errors, naive_errors, inside = [], [], []
        methods: list[Method] = []
        shape: Shape | None = None
        for origin in range(first, len(values), horizon):
            training = _series(history[:origin])
            actual = values[origin : origin + horizon]
            chosen = _forecast(training, horizon, method)
            naive = _forecast(training, horizon, Method.SEASONAL_NAIVE)
            methods.append(chosen.method)
            shape = chosen.shape
            known = ~np.isnan(actual)
            errors.append(np.abs(actual - np.array(chosen.expected))[known])
            naive_errors.append(np.abs(actual - np.array(naive.expected))[known])
            inside.append(
                ((np.array(chosen.low) <= actual) & (actual <= np.array(chosen.high)))[known]
            )
        scale = _scale(values[:first])
        mae = float(np.concatenate(errors).mean())
        naive_mae = float(np.concatenate(naive_errors).mean())
        return Backtest(
            method=methods[-1],
            mase=mae / scale,
            naive_mase=naive_mae / scale,
            origins=origins,
            mae=mae,
            naive_mae=naive_mae,
            scale=scale,
            coverage=float(np.concatenate(inside).mean()),
            shape=shape,
            methods=tuple(methods),
        )


def spike_test(
    recent: Sequence[int],
    expected: Sequence[float],
    daily_sd: float,
    *,
    min_units: int = 5,
    z: float = 4.26,
    p: float = 0.00001,
) -> Spike | None:
    """A Spike when the units of the last days (`recent`, refused demand included) run well
    above what a forecast made before them `expected` for those days; else None.

    The window's units must be at least `min_units` above the forecast, and significantly so.
    The spread of the window's total is daily_sd * sqrt(days), at least Poisson's
    (sqrt(expected)). Over-dispersed demand (that variance at least 1.5 times the expected
    units) is tested with the negative binomial upper tail, else below `SMALL_COUNT` expected
    units with the Poisson upper tail, both significant at most `p`; else with the z-score,
    significant from `z`. The defaults, p 0.00001 and z 4.26 (its normal equivalent), are
    stricter than the nominal rate needs: the expected figures are themselves estimates. Over
    rolling three-day windows compared with a forecast made at most a week before, steady
    Poisson demand (1 to 40 a day) raised one false alert in 150 product-years, and five
    times the demand for two days was caught 29 times in 30 at 4 units a day.
    """
    if len(recent) != len(expected):
        raise ValueError("Give one expected figure for each recent day.")
    if not recent:
        return None
    observed = int(sum(recent))
    mean = max(math.fsum(expected), 0.0)
    excess = observed - mean
    if excess < min_units:
        return None
    sd = daily_sd if math.isfinite(daily_sd) and daily_sd > 0 else 0.0
    variance = max(sd * sd * len(recent), mean)
    with _quiet():
        if mean > 0 and variance >= OVERDISPERSED * mean:
            test = "negative_binomial"
            size, probability = mean * mean / (variance - mean), mean / variance
            tail = float(nbinom.sf(observed - 1, size, probability))
        elif mean < SMALL_COUNT:
            test = "poisson"
            tail = float(poisson.sf(observed - 1, mean))
        else:
            test = "z"
            score = excess / math.sqrt(variance)
            tail = float(norm.sf(score))
        if test != "z":
            score = float(norm.isf(tail))
    if not (score >= z if test == "z" else tail <= p):
        return None
    return Spike(observed=observed, expected=mean, z=score, excess=excess, p_value=tail, test=test)

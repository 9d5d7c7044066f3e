"""Forcing of a flood event: hydrographs of sea level, inflow and rain, and storm-surge shapes.

A :class:`Hydrograph` is a piecewise-linear time series (seconds from the event start). The
still-water level of a surge is ``mean sea level + sea-level rise + tide + surge``;
:func:`synthetic_surge` builds it from a peak level (read from a return-period table with
:func:`peak_for_return_period`) with a tide of given amplitude and a surge bell of given
duration whose peak meets high tide - the design-event convention of coastal flood mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tim.errors import InputError

#: Period of the principal lunar semi-diurnal tide M2, hours.
M2_PERIOD_H = 12.42


@dataclass(frozen=True)
class Hydrograph:
    """A piecewise-linear series ``values(times)``; constant beyond its ends.

    Parameters
    ----------
    times : seconds, strictly increasing, at least two.
    values : finite, same length (m for levels, m3/s for inflows, m/s for rain).
    name : what it is, for error messages (``surge.hydrograph``).
    """

    times: np.ndarray
    values: np.ndarray
    name: str = "hydrograph"
    units: str = "m"
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)
        if times.ndim != 1 or times.shape != values.shape or times.size < 2:
            raise InputError("a hydrograph needs two or more (time, value) pairs of equal "
                             "length", source=self.source, field=self.name,
                             value=(times.size, values.size))
        for label, array in (("time", times), ("value", values)):
            bad = np.flatnonzero(~np.isfinite(array))
            if bad.size:
                raise InputError(f"{label} {bad[0]} is missing (a gap in the record)",
                                 source=self.source, field=self.name,
                                 value=float(array[bad[0]]),
                                 hint="fill or remove the missing records")
        back = np.flatnonzero(np.diff(times) <= 0)
        if back.size:
            i = int(back[0])
            raise InputError(f"times must increase: time {i + 1} is not after time {i}",
                             source=self.source, field=self.name,
                             value=f"{times[i] / 3600:g} h, then {times[i + 1] / 3600:g} h",
                             hint="sort the records by time and remove duplicates")

    @classmethod
    def constant(cls, value: float, start: float, end: float, **kw) -> Hydrograph:
        return cls(np.array([start, end]), np.array([value, value]), **kw)

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])

    @property
    def peak(self) -> float:
        return float(self.values.max())

    def at(self, t: float | np.ndarray) -> float | np.ndarray:
        """The value at time(s) ``t`` (linear between records, constant outside)."""
        return np.interp(t, self.times, self.values)

    def integral(self, t0: float | None = None, t1: float | None = None) -> float:
        """Exact integral of the series over ``[t0, t1]`` (default: its whole span)."""
        t0 = self.start if t0 is None else t0
        t1 = self.end if t1 is None else t1
        inner = self.times[(self.times > t0) & (self.times < t1)]
        t = np.concatenate(([t0], inner, [t1]))
        return float(np.trapezoid(self.at(t), t))

    def check_gaps(self, factor: float = 3.0, max_gap: float | None = None) -> None:
        """Refuse an interval longer than ``max_gap`` s, or by default than ``factor`` times
        the median interval: a missing stretch of a regularly sampled record."""
        steps = np.diff(self.times)
        limit = max_gap if max_gap is not None else (
            factor * float(np.median(steps)) if steps.size >= 3 else np.inf)
        long = np.flatnonzero(steps > limit)
        if long.size:
            i = int(long[0])
            raise InputError(
                f"gap in the record between {self.times[i] / 3600:g} h and "
                f"{self.times[i + 1] / 3600:g} h (longer than {limit / 3600:g} h)",
                source=self.source, field=self.name,
                value=float(steps[i] / 3600),
                hint="fill the missing records, or set max_gap_h if the interval is intended")

    def to_dict(self) -> dict[str, list[float]]:
        return {"time_s": self.times.tolist(), "value": self.values.tolist()}


def peak_for_return_period(table: dict[float, float], return_period: float, *,
                           source: str | None = None) -> float:
    """Still-water level of a return period, interpolated linearly in ln(T) between entries.

    Extreme sea levels follow a Gumbel or GEV law, close to linear in the log of the return
    period over the usual range; extrapolation beyond the table is refused.

    Examples
    --------
    >>> peak_for_return_period({10: 2.7, 100: 3.5}, 100)
    3.5
    >>> round(peak_for_return_period({10: 2.7, 100: 3.5}, math.sqrt(1000)), 6)
    3.1
    """
    if not table:
        raise InputError("no peak-level table to read the return period from", source=source,
                         field="surge.peak_levels", hint="give return period: level pairs")
    periods = np.array(sorted(table), dtype=np.float64)
    levels = np.array([table[p] for p in sorted(table)], dtype=np.float64)
    if np.any(periods <= 1.0):
        raise InputError("return periods must be longer than one year", source=source,
                         field="surge.peak_levels", value=float(periods[0]))
    if np.any(np.diff(levels) < 0):
        raise InputError("peak levels must not fall as the return period grows", source=source,
                         field="surge.peak_levels", value=dict(zip(periods, levels)))
    if not periods[0] <= return_period <= periods[-1]:
        raise InputError(f"return period outside the table ({periods[0]:g} to "
                         f"{periods[-1]:g} years); no extrapolation", source=source,
                         field="surge.return_period", value=return_period)
    return float(np.interp(math.log(return_period), np.log(periods), levels))


def synthetic_surge(peak: float, *, mean_sea_level: float = 0.0, tide_amplitude: float = 1.0,
                    tide_period_h: float = M2_PERIOD_H, surge_duration_h: float = 24.0,
                    sea_level_rise: float = 0.0, step_s: float = 600.0,
                    source: str | None = None) -> Hydrograph:
    """Still-water level of a design surge peaking at ``peak + sea_level_rise``.

    ``level(t) = msl + slr + A cos(2 pi (t - tp) / T) + S cos^2(pi (t - tp) / D)`` on
    ``0 <= t <= D`` with ``tp = D / 2``: a tide of amplitude ``A`` and period ``T`` plus a surge
    bell of base ``D`` whose crest ``S = peak - msl - A`` meets high water at ``tp``.

    Examples
    --------
    >>> h = synthetic_surge(3.5, tide_amplitude=1.0, surge_duration_h=24, sea_level_rise=0.5)
    >>> round(h.peak, 6), h.end / 3600
    (4.0, 24.0)
    """
    surge = peak - mean_sea_level - tide_amplitude
    if surge < 0:
        raise InputError(f"peak level {peak:g} m is below mean high water "
                         f"{mean_sea_level + tide_amplitude:g} m; no surge is left",
                         source=source, field="surge.shape.tide_amplitude",
                         value=tide_amplitude)
    duration = surge_duration_h * 3600.0
    n = max(int(math.ceil(duration / step_s)), 2)
    n += n % 2  # an even count puts a record on the peak
    t = np.linspace(0.0, duration, n + 1)
    tp = duration / 2
    level = (mean_sea_level + sea_level_rise
             + tide_amplitude * np.cos(2 * np.pi * (t - tp) / (tide_period_h * 3600.0))
             + surge * np.cos(np.pi * (t - tp) / duration) ** 2)
    return Hydrograph(t, level, name="surge.hydrograph", source=source)

"""From a scenario's ``surge`` section to the engine's event, defences and options.

The still-water level is ``water_level``, the ``return_period`` peak read from ``peak_levels``
(log-linear between entries), or a ``hydrograph`` record; ``sea_level_rise`` is added to it.
A peak becomes a design hydrograph of the section's ``shape`` (tide + surge bell), except for
the bathtub with a plain ``water_level``, which stays a constant level (no time, so no arrival
or duration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.flood.breach import BreachSite
from engine.flood.domain import Defence
from engine.flood.event import SurgeEvent
from engine.flood.forcing import Hydrograph, peak_for_return_period, synthetic_surge
from engine.flood.godunov import GodunovOptions
from engine.flood.inertial import InertialOptions
from scenarios.schema import Surge
from tim.errors import InputError

#: Rain starts and stops over this many seconds (a hydrograph cannot jump).
RAIN_RAMP_S = 60.0


def peak_level(spec: Surge, *, source: str | Path | None = None) -> float:
    """The event's highest still-water level, sea-level rise included (m, datum)."""
    if spec.hydrograph is not None:
        return max(spec.hydrograph.level_m) + spec.sea_level_rise
    if spec.water_level is not None:
        return spec.water_level + spec.sea_level_rise
    return peak_for_return_period(spec.peak_levels or {}, spec.return_period,
                                  source=_str(source)) + spec.sea_level_rise


def surge_hydrograph(spec: Surge, *, source: str | Path | None = None) -> Hydrograph | None:
    """The still-water hydrograph of the event; ``None`` for a constant bathtub level."""
    src = _str(source)
    if spec.hydrograph is not None:
        table = spec.hydrograph
        if len(table.time_h) != len(table.level_m):
            raise InputError("time_h and level_m must have the same length", source=src,
                             field="surge.hydrograph",
                             value=(len(table.time_h), len(table.level_m)))
        hydrograph = Hydrograph(np.array(table.time_h) * 3600.0,
                                np.array(table.level_m) + spec.sea_level_rise,
                                name="surge.hydrograph", source=src)
        hydrograph.check_gaps(max_gap=None if table.max_gap_h is None
                              else table.max_gap_h * 3600.0)
        return hydrograph
    if spec.engine == "bathtub" and spec.water_level is not None:
        return None
    peak = peak_level(spec, source=source) - spec.sea_level_rise
    shape = spec.shape
    return synthetic_surge(peak, mean_sea_level=shape.mean_sea_level,
                           tide_amplitude=shape.tide_amplitude,
                           tide_period_h=shape.tide_period_h,
                           surge_duration_h=shape.surge_duration_h,
                           sea_level_rise=spec.sea_level_rise, step_s=shape.step_min * 60.0,
                           source=src)


def rain_hydrograph(spec: Surge, start: float) -> Hydrograph | None:
    """Rain intensity (m/s) of the section's ``rainfall``, from ``start_h`` after ``start``."""
    if spec.rainfall is None:
        return None
    r = spec.rainfall
    t0 = start + r.start_h * 3600.0
    t1 = t0 + r.duration_h * 3600.0
    ramp = min(RAIN_RAMP_S, (t1 - t0) / 4)
    rate = r.intensity_mm_h / 1000.0 / 3600.0
    return Hydrograph(np.array([t0, t0 + ramp, t1 - ramp, t1]), np.array([0, rate, rate, 0]),
                      name="surge.rainfall", units="m/s")


def surge_event(spec: Surge, *, source: str | Path | None = None) -> SurgeEvent:
    """The engine's :class:`~engine.flood.event.SurgeEvent` for a scenario's surge."""
    hydrograph = surge_hydrograph(spec, source=source)
    level: float | Hydrograph = hydrograph if hydrograph is not None \
        else spec.water_level + spec.sea_level_rise
    solver = spec.solver
    cfl = {} if solver.cfl is None else {"cfl": solver.cfl}  # None: the engine's default
    try:
        options: InertialOptions | GodunovOptions = GodunovOptions(
            **cfl, max_dt=solver.max_dt_s, hazard_depth=spec.hazard_depth,
            order=solver.order) \
            if spec.engine == "godunov" else InertialOptions(
                **cfl, theta=solver.theta, max_dt=solver.max_dt_s,
                hazard_depth=spec.hazard_depth, advection=solver.advection)
    except InputError as exc:
        raise InputError(exc.problem, source=_str(source), field=exc.field, value=exc.value,
                         hint=exc.hint) from exc
    start = hydrograph.start if hydrograph is not None else 0.0
    return SurgeEvent(level=level, engine=spec.engine, rain=rain_hydrograph(spec, start),
                      options=options, outputs=spec.solver.outputs)


def surge_defences(spec: Surge) -> tuple[Defence, ...]:
    return tuple(Defence(d.name, d.crest_level, np.array(d.line)) for d in spec.defences)


def surge_breaches(spec: Surge) -> tuple[BreachSite, ...]:
    """The section's breaches; times from hours to seconds of the event."""
    return tuple(BreachSite(b.name, b.defence, b.at, b.length_m, b.crest_level,
                            time=None if b.time_h is None else b.time_h * 3600.0,
                            trigger=b.trigger_level) for b in spec.breaches)


def _str(source: str | Path | None) -> str | None:
    return None if source is None else str(source)

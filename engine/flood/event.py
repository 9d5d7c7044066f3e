"""One surge event through either engine, with the same outputs.

:func:`run_event` floods a :class:`~engine.flood.domain.FloodDomain` with a
:class:`SurgeEvent` and returns a :class:`FloodOutcome`: maximum depth, maximum speed, arrival
time and duration above the hazard depth per cell, the depth at a few output times and the
flooding-level map. Each outcome names the engine that produced it:

* ``bathtub`` - the connectivity bathtub of :mod:`engine.kernels.bathtub`: every cell below the
  still-water level and connected to the sea (over defences only where the level tops their
  crest) is flooded at once. With a hydrograph, the depth at each time is the bathtub of that
  time's level; arrival and duration follow from the flooding levels. No flow, so no speed and
  no attenuation: it is the upper bound of a long, slow surge.
* ``inertial`` - the local inertial shallow-water engine of :mod:`engine.flood.inertial`; with
  ``InertialOptions(advection=True)`` it adds the convective term, and the outcome's engine
  name says so.
* ``godunov`` - the finite-volume shock-capturing engine of :mod:`engine.flood.godunov`, for
  breaches, overtopping and fast flows.

Both flow engines take breaches (:mod:`engine.flood.breach`); the outcome's stats say what
happened to each (``stats["breaches"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from engine.flood import godunov
from engine.flood.breach import Breach
from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.inertial import ENGINE as INERTIAL
from engine.flood.inertial import InertialOptions, simulate
from engine.kernels.bathtub import depth_at_level, flood_levels, time_above

BATHTUB = "bathtub (4-connected from the sea, priority-flood flooding levels; static)"
ENGINES = {"bathtub": BATHTUB, "inertial": INERTIAL, "godunov": godunov.ENGINE}


@dataclass(frozen=True)
class SurgeEvent:
    """What to simulate.

    level : a still-water level (m, datum) held constant - bathtub only - or a hydrograph of
        it (tide + surge + sea-level rise, seconds from the event start).
    rain : optional rain intensity (m/s), flow engines only.
    options : numerical settings of the flow engine (:class:`InertialOptions` or
        :class:`~engine.flood.godunov.GodunovOptions`; its hazard depth is also the one the
        bathtub's arrival and duration use).
    outputs : number of evenly spaced times the depth is kept at (the animation frames).
    """

    level: float | Hydrograph
    engine: Literal["bathtub", "inertial", "godunov"] = "bathtub"
    rain: Hydrograph | None = None
    options: InertialOptions | godunov.GodunovOptions = field(default_factory=InertialOptions)
    outputs: int = 7

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {sorted(ENGINES)}, got {self.engine!r}")
        if self.engine != "bathtub" and not isinstance(self.level, Hydrograph):
            raise ValueError(f"the {self.engine} engine needs a hydrograph, not a constant "
                             "level")
        if self.rain is not None and self.engine == "bathtub":
            raise ValueError("rain needs a flow engine (the bathtub has no flow)")
        wanted = godunov.GodunovOptions if self.engine == "godunov" else InertialOptions
        if self.engine != "bathtub" and not isinstance(self.options, wanted):
            raise ValueError(f"the {self.engine} engine takes {wanted.__name__}")

    @property
    def peak(self) -> float:
        return self.level.peak if isinstance(self.level, Hydrograph) else float(self.level)

    @property
    def hydrograph(self) -> Hydrograph | None:
        return self.level if isinstance(self.level, Hydrograph) else None


@dataclass
class FloodOutcome:
    """Per-cell results of an event (float32 rasters; times in s from the event start)."""

    engine: str
    peak_level: float
    max_depth: np.ndarray
    max_speed: np.ndarray
    arrival: np.ndarray
    duration: np.ndarray
    flood_level: np.ndarray
    times: np.ndarray
    depths: np.ndarray  # (n_times, rows, cols)
    hydrograph: Hydrograph | None
    stats: dict = field(default_factory=dict)


def run_event(domain: FloodDomain, event: SurgeEvent,
              breaches: Sequence[Breach] = ()) -> FloodOutcome:
    """Flood ``domain`` with ``event`` using the event's engine; ``breaches`` fail during it
    (flow engines only)."""
    if breaches and event.engine == "bathtub":
        raise ValueError("breaches need a flow engine (inertial or godunov)")
    levels = flood_levels(domain.elevation, domain.sea, crest_x=domain.crest_x,
                          crest_y=domain.crest_y, blocked=domain.blocked)
    flood_level = np.where(np.isfinite(levels), levels, np.nan).astype(np.float32)
    hydrograph = event.hydrograph
    times = np.array([0.0]) if hydrograph is None else \
        np.linspace(hydrograph.start, hydrograph.end, max(event.outputs, 2))
    if event.engine == "bathtub":
        outcome = _bathtub(domain, event, levels, times)
    else:
        outcome = _flow(domain, event, times, breaches)
    outcome.flood_level = flood_level
    against_buildings(outcome, domain)
    return outcome


def _bathtub(domain: FloodDomain, event: SurgeEvent, levels: np.ndarray,
             times: np.ndarray) -> FloodOutcome:
    z = domain.elevation
    peak = event.peak
    max_depth = depth_at_level(z, levels, peak)
    hydrograph = event.hydrograph
    if hydrograph is None:
        depths = max_depth[None]
        arrival = np.full(z.shape, np.nan, dtype=np.float32)
        duration = np.full(z.shape, np.nan, dtype=np.float32)
    else:
        depths = np.stack([depth_at_level(z, levels, float(hydrograph.at(t))) for t in times])
        hazard = event.options.hazard_depth
        threshold = np.where(domain.sea, np.inf, np.maximum(levels, z + hazard))
        first, total = time_above(threshold, hydrograph.times, hydrograph.values)
        arrival, duration = first.astype(np.float32), total.astype(np.float32)
    nodata = ~np.isfinite(z)
    return FloodOutcome(
        engine=BATHTUB, peak_level=peak, max_depth=max_depth,
        max_speed=np.full(z.shape, np.nan, dtype=np.float32),
        arrival=np.where(nodata, np.nan, arrival).astype(np.float32),
        duration=np.where(nodata, np.nan, duration).astype(np.float32),
        flood_level=levels, times=times, depths=depths.astype(np.float32),
        hydrograph=hydrograph,
        stats={"engine": BATHTUB, "peak_level_m": peak})


def _flow(domain: FloodDomain, event: SurgeEvent, times: np.ndarray,
          breaches: Sequence[Breach]) -> FloodOutcome:
    hydrograph = event.hydrograph
    assert hydrograph is not None
    run = godunov.simulate if event.engine == "godunov" else simulate
    result = run(domain, start=hydrograph.start, end=hydrograph.end, level=hydrograph,
                 rain=event.rain, output_times=times, options=event.options,  # type: ignore
                 breaches=breaches)
    options = event.options
    settings = {"cfl": options.cfl, "order": options.order} \
        if event.engine == "godunov" else {"cfl": options.cfl, "theta": options.theta,
                                           "advection": options.advection}
    z = domain.elevation
    peak = hydrograph.peak
    # The sea stands at the imposed level: show it as such, as the bathtub does.
    max_depth = np.where(domain.sea, np.maximum(peak - z, 0.0), result.max_depth)
    return FloodOutcome(
        engine=result.engine, peak_level=peak, max_depth=max_depth.astype(np.float32),
        max_speed=result.max_speed, arrival=result.arrival, duration=result.duration,
        flood_level=np.zeros(0), times=result.times, depths=result.depths,
        hydrograph=hydrograph,
        stats={"engine": result.engine, "peak_level_m": peak, "steps": result.steps,
               "cell_updates": result.cell_updates, "wall_s": round(result.wall_s, 3),
               "cell_updates_per_s": round(result.cell_updates_per_s),
               "dt_min_s": result.dt_range[0], "dt_max_s": result.dt_range[1],
               "mass_balance": result.mass.to_dict(), **settings, **result.extra})


def _neighbours(values: np.ndarray) -> list[np.ndarray]:
    """``values`` of the north, south, west and east neighbour of each cell (NaN off-grid)."""
    p = np.pad(values.astype(np.float64), 1, constant_values=np.nan)
    return [p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]


def _crests(domain: FloodDomain) -> list[np.ndarray]:
    """Crest of the face towards the north, south, west and east neighbour."""
    cx, cy = domain.crest_x, domain.crest_y
    return [cy[:-1, :], cy[1:, :], cx[:, :-1], cx[:, 1:]]


def against_buildings(outcome: FloodOutcome, domain: FloodDomain) -> None:
    """Give cells blocked by buildings the flood around them, in place.

    A blocked cell takes the highest water surface among its open neighbours whose water
    tops the crest of the face between them (a wall keeps its water on its side): its depth is
    that level above the cell's ground; its arrival the earliest and its duration the longest
    of those neighbours; with no such neighbour it is dry. A blocked cell with no open
    neighbour at all (inside a block of buildings) is NaN, unknown, so a building's depth is
    the mean over the cells of it that face the open ground.
    """
    blocked = domain.blocked & np.isfinite(domain.elevation)
    if not blocked.any():
        return
    z = domain.elevation
    surface = np.where(domain.open & (outcome.max_depth > 0), z + outcome.max_depth, np.nan)
    level = np.full(z.shape, np.nan)
    first = np.full(z.shape, np.nan)
    longest = np.full(z.shape, np.nan)
    for nb_surface, nb_arrival, nb_duration, crest in zip(
            _neighbours(surface), _neighbours(outcome.arrival), _neighbours(outcome.duration),
            _crests(domain)):
        tops = nb_surface > crest  # NaN (dry, closed, off-grid) compares False
        level = np.where(tops, np.fmax(level, nb_surface), level)
        first = np.where(tops, np.fmin(first, nb_arrival), first)
        longest = np.where(tops, np.fmax(longest, nb_duration), longest)
    outside = np.zeros(z.shape, bool)  # has an open neighbour: its depth is known
    for nb_open in _neighbours(domain.open.astype(float)):
        outside |= nb_open == 1.0
    known = blocked & outside
    outcome.max_depth = np.where(blocked, np.where(known, np.nan_to_num(
        np.maximum(level - z, 0.0)), np.nan), outcome.max_depth).astype(np.float32)
    outcome.arrival = np.where(blocked, first, outcome.arrival).astype(np.float32)
    outcome.duration = np.where(blocked, np.where(known, np.nan_to_num(longest), np.nan),
                                outcome.duration).astype(np.float32)

"""The local inertial engine: a flood event on a :class:`~engine.flood.domain.FloodDomain`.

:func:`simulate` steps the kernels of :mod:`engine.kernels.inertial` with an adaptive time step
(``dt = cfl * dx / (sqrt(g h_max) + |u|_max)``: Bates et al. 2010, eq. 14, plus the flow speed,
without which a chequerboard can grow in deep smooth water), stopping on every breakpoint of
the inflow and rain series (so the volume they bring is exact) and on every output time. It
returns the depth at the output times, the per-cell maxima, arrival and duration, and a mass
balance that closes to rounding: inflow - outflow - change in storage.

The local inertial equations drop the convective acceleration of the shallow-water equations.
They suit gradually varied floodplain and coastal inundation (Froude number well below 1); near
critical flow they lose accuracy (2.3 cm RMSE in the MacDonald channel at Froude 0.99, 3.8 cm
with rain, and no finer grid removes it). ``InertialOptions(advection=True)`` puts the
convective term back (upwind momentum advection on the staggered grid, Stelling & Duinmeijer
2003; see :mod:`engine.kernels.inertial`): the scheme then solves the full shallow-water
momentum equation for smooth flows (0.4 cm in the same channel). It remains a first-order
staggered scheme without a Riemann solver: not a dam-break or hydraulic-jump (shock-capturing)
solver, with or without advection.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from engine.flood.breach import Breach, BreachSchedule
from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.kernels import inertial as k
from tim.errors import InputError

log = logging.getLogger(__name__)

G = 9.81
ENGINE = ("local inertial 2-D shallow water (Bates et al. 2010, q-centred form of de Almeida "
          "et al. 2012)")
ENGINE_ADVECTION = ("local inertial + advection 2-D shallow water (Bates et al. 2010, q-centred "
                    "form of de Almeida et al. 2012, with the upwind momentum advection of "
                    "Stelling & Duinmeijer 2003)")


@dataclass(frozen=True)
class InertialOptions:
    """Numerical settings.

    cfl : Courant number of the adaptive step; the scheme is stable for ``cfl <= 1`` only
        (0.7 as recommended by Bates et al. 2010).
    theta : weight of the face's own discharge in the q-centred momentum (1 = Bates et al.
        2010; 0.7 damps the chequerboard oscillations at low friction, de Almeida et al. 2012).
    max_dt : longest step, s.
    flow_depth : faces whose flow depth is at or below this carry no discharge, m.
    hazard_depth : depth whose arrival time and duration are recorded, m.
    speed_depth : speed is recorded only where deeper than this (a film has no velocity), m.
    tile : rows and columns of a tile; ``skip_dry`` steps only the tiles near water. Wide tiles
        keep the inner loops long (vectorised); narrow ones skip more dry land.
    parallel_cells : steps with at least this many active cells run their tiles in parallel
        (on 2 cores a step of a million cells gains; smaller ones lose to the launch cost).
    advection : add the convective acceleration ``d(qu)/dx + d(qv)/dy`` to the momentum
        equation (off: the local inertial equations of Bates et al. 2010). It matters near
        critical flow and for fast shallow waves; the step then also obeys the advective
        Courant condition, and each step costs about 1.5 times as much (measured, 1-2 threads).
    advection_depth : faces at or below this flow depth keep the local inertial momentum
        (no convective term; their velocity does not limit the step), m.
    """

    cfl: float = 0.7
    theta: float = 0.7
    max_dt: float = 30.0
    flow_depth: float = 1e-3
    hazard_depth: float = 0.3
    speed_depth: float = 0.01
    tile: tuple[int, int] = (16, 256)
    skip_dry: bool = True
    parallel_cells: int = 1_000_000
    advection: bool = False
    advection_depth: float = 0.01

    @property
    def engine(self) -> str:
        """The name of the equations these options solve."""
        return ENGINE_ADVECTION if self.advection else ENGINE

    def __post_init__(self) -> None:
        if not 0.0 < self.cfl <= 1.0:
            raise InputError("the Courant number must be in (0, 1]: a larger step breaks the "
                             "stability condition dt <= dx / sqrt(g h) of the local inertial "
                             "scheme (Bates et al. 2010, eq. 14)", field="surge.solver.cfl",
                             value=self.cfl, hint="0.7 is the usual choice")
        if not 0.5 <= self.theta <= 1.0:
            raise InputError("theta must be in [0.5, 1] (de Almeida et al. 2012)",
                             field="surge.solver.theta", value=self.theta)
        if not self.max_dt > 0 or not self.flow_depth >= 1e-6 or min(self.tile) < 1:
            raise InputError("max_dt must be > 0, flow_depth >= 1e-6 m and tiles >= 1 cell",
                             field="surge.solver",
                             value=(self.max_dt, self.flow_depth, self.tile))
        if not self.advection_depth >= self.flow_depth:
            raise InputError("the advection depth must be at least the flow depth",
                             field="surge.solver.advection_depth",
                             value=(self.advection_depth, self.flow_depth))


@dataclass(frozen=True)
class Inflow:
    """A discharge (m3/s) entering through ``cells`` (flat indices), split equally."""

    cells: np.ndarray
    discharge: Hydrograph


@dataclass(frozen=True)
class MassBalance:
    """Volumes (m3) over the event. ``error`` is what the books do not explain."""

    initial: float
    final: float
    boundary: float  # net volume in from the sea cells (negative: out to the sea)
    sources: float
    rain: float
    clamped: float   # added where rounding left a depth below zero

    @property
    def error(self) -> float:
        return self.final - self.initial - (self.boundary + self.sources + self.rain
                                            + self.clamped)

    @property
    def relative_error(self) -> float:
        scale = max(abs(self.boundary) + self.sources + self.rain, self.final, self.initial)
        return abs(self.error) / scale if scale > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        return {"initial_m3": self.initial, "final_m3": self.final,
                "boundary_in_m3": self.boundary, "sources_in_m3": self.sources,
                "rain_in_m3": self.rain, "clamped_m3": self.clamped, "error_m3": self.error,
                "relative_error": self.relative_error}


@dataclass
class InertialResult:
    """What an event produced. Depths are float32 (m); times in s from the event start."""

    times: np.ndarray
    depths: np.ndarray          # (n_times, rows, cols) water depth at the output times
    max_depth: np.ndarray
    max_speed: np.ndarray       # m/s, where deeper than speed_depth
    arrival: np.ndarray         # s, first time depth >= hazard_depth; NaN never
    duration: np.ndarray        # s spent at depth >= hazard_depth
    eta: np.ndarray             # final water surface (float64)
    qx: np.ndarray              # final unit discharges on x and y faces (m2/s)
    qy: np.ndarray
    mass: MassBalance
    steps: int
    cell_updates: int
    dt_range: tuple[float, float]
    wall_s: float
    options: InertialOptions
    engine: str = ENGINE
    extra: dict = field(default_factory=dict)

    @property
    def cell_updates_per_s(self) -> float:
        return self.cell_updates / self.wall_s if self.wall_s > 0 else float("nan")


def cell_kinds(domain: FloodDomain, zfx: np.ndarray, zfy: np.ndarray) -> np.ndarray:
    """0 closed, 1 land, 2 sea, 3 sea next to open land through an open face (coast)."""
    kind = np.where(domain.open, np.where(domain.sea, k.SEA, k.LAND), k.CLOSED).astype(np.uint8)
    land = kind == k.LAND
    coast = np.zeros(kind.shape, dtype=bool)
    openx, openy = np.isfinite(zfx[:, 1:-1]), np.isfinite(zfy[1:-1, :])
    coast[:, :-1] |= openx & land[:, 1:]
    coast[:, 1:] |= openx & land[:, :-1]
    coast[:-1, :] |= openy & land[1:, :]
    coast[1:, :] |= openy & land[:-1, :]
    kind[(kind == k.SEA) & coast] = k.COAST
    return kind


def simulate(domain: FloodDomain, *, start: float, end: float, level: Hydrograph | None = None,
             inflow: Inflow | None = None, rain: Hydrograph | None = None,
             output_times: np.ndarray | None = None, options: InertialOptions | None = None,
             initial_eta: np.ndarray | None = None,
             breaches: Sequence[Breach] = ()) -> InertialResult:
    """Run the local inertial engine from ``start`` to ``end`` (s).

    Parameters
    ----------
    domain : the ground, friction, sea cells, obstacles and defences.
    level : still-water level imposed on the sea cells (needed when the domain has sea).
    inflow : a discharge entering through some cells (benchmarks, breaches).
    rain : rain intensity (m/s) on every open non-sea cell.
    output_times : when to record the depth (default: ``end``).
    initial_eta : starting water surface (default: dry land, sea at ``level(start)``).
    breaches : defences that fail during the event (:mod:`engine.flood.breach`); what
        happened to each is in ``result.extra["breaches"]``.

    Examples
    --------
    A basin at rest stays at rest:

    >>> z = np.array([[0.0, -1.0, -2.0, -1.0, 0.5]])
    >>> d = FloodDomain.from_arrays(z, 10.0)
    >>> r = simulate(d, start=0, end=600, initial_eta=np.maximum(z, 0.2))
    >>> float(np.abs(r.qx).max()), r.mass.error
    (0.0, 0.0)
    """
    options = options or InertialOptions()
    if not end > start:
        raise InputError("the event must end after it starts", field="surge.duration",
                         value=(start, end))
    if domain.sea.any() and level is None:
        raise ValueError("the domain has sea cells: give the level imposed on them")
    rows, cols = domain.shape
    dx, dy = domain.cell_size
    zfx, zfy = domain.face_beds()
    gnx, gny = domain.face_friction(G)
    kind = cell_kinds(domain, zfx, zfy)
    z = np.where(domain.open, domain.elevation, 0.0)
    level_t = level.times if level is not None else np.zeros(0)
    level_v = level.values if level is not None else np.zeros(0)
    eta = z.copy() if initial_eta is None else np.where(domain.open, initial_eta, 0.0)
    eta = np.maximum(eta, z)
    if level is not None:
        k._set_sea(eta, z, kind, float(level.at(start)))

    trows, tcols = (int(v) for v in options.tile)
    ntr, ntc = -(-rows // trows), -(-cols // tcols)
    tiles = np.arange(ntr * ntc)
    tile_of = (np.arange(rows)[:, None] // trows) * ntc + (np.arange(cols)[None, :] // tcols)
    tile_cells = np.bincount(tile_of.ravel(), minlength=tiles.size).astype(np.float64)
    coast_zmin = np.full(tiles.size, np.inf)
    np.minimum.at(coast_zmin, tile_of[kind == k.COAST], z[kind == k.COAST])
    always = np.zeros(tiles.size, dtype=np.uint8)
    edge = (kind >= k.SEA).astype(np.uint8)  # open boundaries: momentum flows through them
    src_cells, src_weight = np.zeros(0, np.int64), np.zeros(0)
    src_t, src_v = np.zeros(0), np.zeros(0)
    if inflow is not None:
        src_cells = np.unique(np.asarray(inflow.cells, dtype=np.int64))
        if src_cells.size == 0 or src_cells.min() < 0 or src_cells.max() >= rows * cols \
                or not (kind.ravel()[src_cells] == k.LAND).all():
            raise InputError("inflow cells must be open land cells of the grid",
                             field="inflow.cells")
        src_weight = np.full(src_cells.size, 1.0 / src_cells.size)
        src_t, src_v = inflow.discharge.times, inflow.discharge.values
        always[tile_of.ravel()[src_cells]] = 1
        edge.ravel()[src_cells] = 1
    rain_t = rain.times if rain is not None else np.zeros(0)
    rain_v = rain.values if rain is not None else np.zeros(0)
    breaks = np.unique(np.concatenate([src_t, rain_t]))

    qx, qxn = np.zeros((rows, cols + 1)), np.zeros((rows, cols + 1))
    qy, qyn = np.zeros((rows + 1, cols)), np.zeros((rows + 1, cols))
    fac = np.ones((rows, cols))
    ax = np.zeros(qx.shape if options.advection else (0, 0))
    ay = np.zeros(qy.shape if options.advection else (0, 0))
    hmax = np.zeros((rows, cols))
    smax = np.zeros((rows, cols))
    arrival = np.full((rows, cols), np.nan)
    duration = np.zeros((rows, cols))
    flags = np.zeros(tiles.size)
    tile_stats = np.zeros((tiles.size, k.STATS))
    was = np.zeros(tiles.size, dtype=np.uint8)
    active = np.zeros(tiles.size, dtype=np.int64)
    depth0 = eta - z
    relevant = ((kind == k.LAND) | (kind == k.COAST)) & (depth0 > 0)
    np.maximum.at(flags, tile_of[relevant], 1.0)
    hmax[kind == k.LAND] = depth0[kind == k.LAND]
    tiling = (ntr, ntc, trows, tcols)
    ground = (z, kind, zfx, zfy, gnx, gny, edge)
    state = (eta, qx, qy, qxn, qyn, fac, ax, ay)
    impacts = (hmax, smax, arrival, duration)
    forcing = (level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v, breaks)
    tile_arrays = (was, always, coast_zmin, tile_cells, flags, tile_stats)
    if options.skip_dry:
        reach = float(level.at(start)) if level is not None else -np.inf
        raining = rain is not None and max(
            float(rain.at(start)), float(rain.values[rain.times > start][:1].sum())) > 0
        nact = k._activate(flags, always, coast_zmin, reach, raining, tiling, active, was, state)
    else:
        active[:], was[:], nact = tiles, 1, tiles.size
    deepest = float(depth0[relevant].max(initial=0.0))
    _check_step_budget(end - start, min(dx, dy), z, kind, eta, level, options)
    dt_next = options.cfl * min(dx, dy) / math.sqrt(G * deepest) if deepest > 0 \
        else options.max_dt

    outputs = np.array([end] if output_times is None else output_times, dtype=np.float64)
    if outputs.size and (outputs.min() < start or outputs.max() > end
                         or np.any(np.diff(outputs) <= 0)):
        raise InputError("output times must increase within the event", field="outputs",
                         value=outputs.tolist())
    storage0 = _storage(eta, z, kind, dx * dy)
    totals = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.inf, 0.0, deepest])
    settings = (float(dx), float(dy), G, float(options.theta), float(options.flow_depth),
                float(options.cfl), float(options.max_dt), float(options.hazard_depth),
                float(options.speed_depth), bool(options.skip_dry),
                float(options.parallel_cells), bool(options.advection),
                float(options.advection_depth))
    depths = np.empty((outputs.size, rows, cols), dtype=np.float32)
    schedule = BreachSchedule(breaches, zfx, zfy, domain.elevation, domain.open, start)
    started = time.perf_counter()
    t = float(start)
    for n, target in enumerate([*outputs, end]):
        while t < target:
            t, dt_next, nact = k._advance(
                t, schedule.stop_after(t, float(target)), dt_next, tiling, ground, state,
                impacts, forcing, tile_arrays, active, nact, settings, totals)
            if schedule.pending:
                schedule.apply(t, eta, eta - z)
        if level is not None:
            k._set_sea(eta, z, kind, float(level.at(t)))  # sleeping sea tiles catch up
        if n < outputs.size:
            depths[n] = _depth(eta, z, domain)
            log.debug("t = %.0f s: %d steps, %d tiles active", t, totals[4], nact)
    wall = time.perf_counter() - started
    mass = MassBalance(initial=storage0, final=_storage(eta, z, kind, dx * dy),
                       boundary=float(totals[0]), sources=float(totals[1]),
                       rain=float(totals[2]), clamped=float(totals[3]))
    nodata = ~np.isfinite(domain.elevation)
    land = kind == k.LAND

    def out(values: np.ndarray, fill: float) -> np.ndarray:
        return np.where(nodata, np.nan, np.where(land, values, fill)).astype(np.float32)

    return InertialResult(
        times=outputs, depths=depths, max_depth=out(hmax, 0.0), max_speed=out(smax, 0.0),
        arrival=out(arrival, np.nan), duration=out(duration, 0.0), eta=eta, qx=qx, qy=qy,
        mass=mass, steps=int(totals[4]), cell_updates=int(totals[5]),
        dt_range=(float(totals[6]), float(totals[7])), wall_s=wall, options=options,
        engine=options.engine, extra={"breaches": schedule.report()} if breaches else {})


#: Most steps one event may take; the 100-year surge of the Wuhan-size sample takes ~50,000.
MAX_STEPS = 5_000_000
#: Longest event (s): a month.
MAX_DURATION_S = 30 * 86400.0


def _check_step_budget(duration: float, dx: float, z: np.ndarray, kind: np.ndarray,
                       eta: np.ndarray, level: Hydrograph | None, options: InertialOptions
                       ) -> None:
    """Refuse, before stepping, an event whose step count would exceed :data:`MAX_STEPS`.

    The count is ``duration / dt`` with ``dt = min(max_dt, cfl dx / sqrt(g h))`` and ``h`` the
    deepest water the event can make on land: the highest level (sea or initial surface) above
    the lowest open land. A tiny ``cfl`` or ``max_dt`` or an endless hydrograph would otherwise
    run for days; the message names the setting to change.
    """
    if not math.isfinite(duration) or duration > MAX_DURATION_S:
        raise InputError(f"the event lasts {duration / 3600:,.0f} h; at most "
                         f"{MAX_DURATION_S / 3600:,.0f} h are simulated",
                         field="surge.hydrograph.time_h", hint="shorten the hydrograph")
    land = (kind == k.LAND) | (kind == k.COAST)
    if not land.any():
        return
    top = max(float(eta[land].max()), float(level.values.max()) if level is not None
              else -np.inf)
    depth = max(top - float(z[land].min()), options.flow_depth)
    dt = min(options.max_dt, options.cfl * dx / math.sqrt(G * depth))
    steps = duration / dt
    if steps > MAX_STEPS:
        setting = "surge.solver.max_dt_s" if dt == options.max_dt else "surge.solver.cfl"
        raise InputError(f"the event would take about {steps:,.0f} steps of {dt:.3g} s (at "
                         f"most {MAX_STEPS:,})", field=setting,
                         value=options.max_dt if dt == options.max_dt else options.cfl,
                         hint="raise it, coarsen the grid or shorten the event")


def _storage(eta: np.ndarray, z: np.ndarray, kind: np.ndarray, area: float) -> float:
    land = kind == k.LAND
    return float(np.sum((eta - z)[land]) * area)


def _depth(eta: np.ndarray, z: np.ndarray, domain: FloodDomain) -> np.ndarray:
    depth = np.where(domain.open, eta - z, 0.0)
    return np.where(np.isfinite(domain.elevation), depth, np.nan).astype(np.float32)

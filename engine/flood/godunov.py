"""The Godunov engine: a conservative, shock-capturing flood event on a
:class:`~engine.flood.domain.FloodDomain`.

:func:`simulate` steps the finite-volume kernels of :mod:`engine.kernels.godunov` (HLL fluxes on
the hydrostatic reconstruction of Audusse et al. 2004, semi-implicit Manning friction, first
order, or second order with ``GodunovOptions(order=2)``: MUSCL + Heun) with the adaptive
step ``dt = cfl min(dx, dy) / max(|u| + sqrt(g h))``, stopping on every breakpoint of the
inflow and rain series, every output time and every breach. Same domain, forcing, outputs
and volume books as :func:`engine.flood.inertial.simulate`: the result is an
:class:`~engine.flood.inertial.InertialResult` whose ``qx``/``qy`` are the cell-centred unit
discharges ``hu`` (east) and ``hv`` (south).

Unlike the local inertial equations (which drop the convective term and are not conservative in
momentum), this scheme solves the full shallow-water equations in conservation form: bores,
dam breaks, hydraulic jumps and the flow through a breach move at the right speed with the
right heights (Stoker's wet-bed dam break: first-order convergence to the analytic solution,
see ``tests/test_godunov.py``). Each step costs more, and the step also shrinks with the flow
speed: for slow inundation the inertial engine is the cheaper choice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.flood.breach import Breach, BreachSchedule
from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.inertial import (G, Inflow, InertialResult, MassBalance, _check_step_budget,
                                   cell_kinds)
from engine.kernels import godunov as k
from tim.errors import InputError

log = logging.getLogger(__name__)

ENGINE = ("Godunov finite-volume 2-D shallow water (HLL fluxes, hydrostatic reconstruction of "
          "Audusse et al. 2004, first order)")
ENGINE_2 = ("Godunov finite-volume 2-D shallow water (HLL fluxes, hydrostatic reconstruction of "
            "Audusse et al. 2004, second order: MUSCL with the MC limiter, Heun's SSP-RK2)")
#: Largest Courant number that keeps depths positive with four faces per cell.
CFL_LIMIT = 0.5


@dataclass(frozen=True)
class GodunovOptions:
    """Numerical settings.

    cfl : Courant number ``dt max(|u| + c) / dx``; at most 0.5 (positivity of the depth in 2-D).
    max_dt : longest step, s.
    flow_depth : depths at or below this carry no momentum (their velocity is zero), m.
    hazard_depth, speed_depth, tile, skip_dry, parallel_cells : as
        :class:`~engine.flood.inertial.InertialOptions`.
    order : 1 (piecewise-constant states, one Euler step) or 2 (MUSCL states with the MC
        limiter on depth, surface and velocities, first order next to dry, sea or closed
        cells and crests; Heun's two-stage SSP Runge-Kutta step): about 3-3.5x the cost per
        step, a sharper front and a smaller error at the same cell size.
    """

    cfl: float = 0.45
    max_dt: float = 30.0
    flow_depth: float = 1e-6
    hazard_depth: float = 0.3
    speed_depth: float = 0.01
    tile: tuple[int, int] = (16, 256)
    skip_dry: bool = True
    parallel_cells: int = 500_000
    order: int = 1

    @property
    def engine(self) -> str:
        return ENGINE_2 if self.order == 2 else ENGINE

    def __post_init__(self) -> None:
        if not 0.0 < self.cfl <= CFL_LIMIT:
            raise InputError(f"the Courant number must be in (0, {CFL_LIMIT}] for the Godunov "
                             "engine: a larger step lets the four faces of a cell drain more "
                             "than it holds (negative depths)", field="surge.solver.cfl",
                             value=self.cfl, hint="0.45 is the usual choice")
        if not self.max_dt > 0 or not 1e-12 <= self.flow_depth <= 0.01 or min(self.tile) < 1:
            raise InputError("max_dt must be > 0, flow_depth in [1e-12, 0.01] m and tiles >= 1 "
                             "cell", field="surge.solver",
                             value=(self.max_dt, self.flow_depth, self.tile))
        if self.order not in (1, 2) or isinstance(self.order, bool):
            raise InputError("the order of the Godunov engine must be 1 or 2",
                             field="surge.solver.order", value=self.order)
        if self.order == 2 and min(self.tile) < 2:
            # Heun's two stages move water up to two cells a step: one-cell tiles could let
            # it pass a sleeping tile.
            raise InputError("second order needs tiles of at least 2 x 2 cells",
                             field="surge.solver", value=self.tile)


def simulate(domain: FloodDomain, *, start: float, end: float, level: Hydrograph | None = None,
             inflow: Inflow | None = None, rain: Hydrograph | None = None,
             output_times: np.ndarray | None = None, options: GodunovOptions | None = None,
             initial_eta: np.ndarray | None = None, breaches: Sequence[Breach] = ()) -> InertialResult:
    """Run the Godunov engine from ``start`` to ``end`` (s).

    Parameters as :func:`engine.flood.inertial.simulate` (the water starts at rest), plus
    ``breaches``: defences that fail during the event; what happened to each is in
    ``result.extra["breaches"]``.

    Examples
    --------
    A basin at rest stays at rest, to the bit:

    >>> z = np.array([[0.0, -1.0, -2.0, -1.0, 0.5]])
    >>> d = FloodDomain.from_arrays(z, 10.0)
    >>> r = simulate(d, start=0, end=600, initial_eta=np.maximum(z, 0.2))
    >>> float(np.abs(r.qx).max()), r.mass.error
    (0.0, 0.0)
    """
    options = options or GodunovOptions()
    if not end > start:
        raise InputError("the event must end after it starts", field="surge.duration",
                         value=(start, end))
    if domain.sea.any() and level is None:
        raise ValueError("the domain has sea cells: give the level imposed on them")
    rows, cols = domain.shape
    dx, dy = domain.cell_size
    zfx, zfy = domain.face_beds()
    kind = cell_kinds(domain, zfx, zfy)
    z = np.where(domain.open, domain.elevation, 0.0)
    gn = np.where(domain.open, G * domain.manning ** 2, 0.0)
    eta = z.copy() if initial_eta is None else np.where(domain.open, initial_eta, 0.0)
    eta = np.maximum(eta, z)
    hu, hv = np.zeros_like(eta), np.zeros_like(eta)
    if level is not None:
        k.set_sea(eta, hu, hv, z, kind, float(level.at(start)))
    h = eta - z

    tiling, tile_of, tile_cells = _tiles(rows, cols, options.tile)
    nt = tile_cells.size
    coast_zmin = np.full(nt, np.inf)
    np.minimum.at(coast_zmin, tile_of[kind == k.COAST], z[kind == k.COAST])
    always = np.zeros(nt, dtype=np.uint8)
    src_cells, src_weight, src_t, src_v = _sources(inflow, kind, rows * cols)
    always[tile_of.ravel()[src_cells]] = 1
    rain_t = rain.times if rain is not None else np.zeros(0)
    rain_v = rain.values if rain is not None else np.zeros(0)
    level_t = level.times if level is not None else np.zeros(0)
    level_v = level.values if level is not None else np.zeros(0)
    breaks = np.unique(np.concatenate([src_t, rain_t]))

    faces = [np.zeros((rows, cols + 1)) for _ in range(4)] + \
        [np.zeros((rows + 1, cols)) for _ in range(4)]
    # Order 2: the cells' bed-slope terms per axis and U^n kept for Heun's average.
    muscl = [np.zeros((rows, cols) if options.order == 2 else (0, 0)) for _ in range(5)]
    hmax = np.where(kind == k.LAND, h, 0.0)
    smax = np.zeros((rows, cols))
    arrival = np.full((rows, cols), np.nan)
    duration = np.zeros((rows, cols))
    flags = np.zeros(nt)
    tile_stats = np.zeros((nt, k.STATS))
    was = np.zeros(nt, dtype=np.uint8)
    active = np.zeros(nt, dtype=np.int64)
    relevant = ((kind == k.LAND) | (kind == k.COAST)) & (h > 0)
    np.maximum.at(flags, tile_of[relevant], 1.0)
    ground = (z, kind, zfx, zfy, gn)
    state = (eta, hu, hv, *faces, *muscl)
    impacts = (hmax, smax, arrival, duration)
    forcing = (level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v, breaks)
    tile_arrays = (was, always, coast_zmin, tile_cells, flags, tile_stats)
    if options.skip_dry:
        reach = float(level.at(start)) if level is not None else -np.inf
        raining = rain is not None and max(
            float(rain.at(start)), float(rain.values[rain.times > start][:1].sum())) > 0
        nact = k._activate(flags, always, coast_zmin, reach, raining, tiling, active, was, state)
    else:
        active[:], was[:], nact = np.arange(nt), 1, nt
    _check_step_budget(end - start, min(dx, dy), z, kind, eta, level, options)
    fastest = _fastest(h, hu, hv, kind, options.flow_depth)
    dt_next = options.cfl * min(dx, dy) / fastest if fastest > 0 else options.max_dt

    outputs = np.array([end] if output_times is None else output_times, dtype=np.float64)
    if outputs.size and (outputs.min() < start or outputs.max() > end
                         or np.any(np.diff(outputs) <= 0)):
        raise InputError("output times must increase within the event", field="outputs",
                         value=outputs.tolist())
    area = dx * dy
    storage0 = float(h[kind == k.LAND].sum() * area)
    totals = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.inf, 0.0, 0.0])
    settings = (float(dx), float(dy), G, float(options.flow_depth), float(options.cfl),
                float(options.max_dt), float(options.hazard_depth), float(options.speed_depth),
                bool(options.skip_dry), float(options.parallel_cells), int(options.order))
    schedule = BreachSchedule(breaches, zfx, zfy, domain.elevation, domain.open, start)
    depths = np.empty((outputs.size, rows, cols), dtype=np.float32)
    started = time.perf_counter()
    t = float(start)
    for n, target in enumerate([*outputs, end]):
        while t < target:
            stop = schedule.stop_after(t, float(target))
            t, dt_next, nact = k._advance(
                t, stop, dt_next, tiling, ground, state, impacts, forcing, tile_arrays, active,
                nact, settings, totals)
            if schedule.pending:
                schedule.apply(t, eta, eta - z)
        if level is not None:
            k.set_sea(eta, hu, hv, z, kind, float(level.at(t)))  # sleeping sea tiles catch up
        if n < outputs.size:
            depths[n] = np.where(np.isfinite(domain.elevation), eta - z, np.nan)
            log.debug("t = %.0f s: %d steps, %d tiles active", t, totals[4], nact)
    wall = time.perf_counter() - started
    mass = MassBalance(initial=storage0, final=float((eta - z)[kind == k.LAND].sum() * area),
                       boundary=float(totals[0]), sources=float(totals[1]),
                       rain=float(totals[2]), clamped=float(totals[3]))
    nodata = ~np.isfinite(domain.elevation)
    land = kind == k.LAND

    def out(values: np.ndarray, fill: float) -> np.ndarray:
        return np.where(nodata, np.nan, np.where(land, values, fill)).astype(np.float32)

    return InertialResult(
        times=outputs, depths=depths, max_depth=out(hmax, 0.0), max_speed=out(smax, 0.0),
        arrival=out(arrival, np.nan), duration=out(duration, 0.0), eta=eta, qx=hu, qy=hv,
        mass=mass, steps=int(totals[4]), cell_updates=int(totals[5]),
        dt_range=(float(totals[6]), float(totals[7])), wall_s=wall, options=options,
        engine=options.engine, extra={"breaches": schedule.report()} if breaches else {})


def _tiles(rows: int, cols: int, tile: tuple[int, int]
           ) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    trows, tcols = (int(v) for v in tile)
    ntr, ntc = -(-rows // trows), -(-cols // tcols)
    tile_of = (np.arange(rows)[:, None] // trows) * ntc + (np.arange(cols)[None, :] // tcols)
    tile_cells = np.bincount(tile_of.ravel(), minlength=ntr * ntc).astype(np.float64)
    return (ntr, ntc, trows, tcols), tile_of, tile_cells


def _sources(inflow: Inflow | None, kind: np.ndarray, size: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if inflow is None:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0)
    cells = np.unique(np.asarray(inflow.cells, dtype=np.int64))
    if cells.size == 0 or cells.min() < 0 or cells.max() >= size \
            or not (kind.ravel()[cells] == k.LAND).all():
        raise InputError("inflow cells must be open land cells of the grid",
                         field="inflow.cells")
    return (cells, np.full(cells.size, 1.0 / cells.size), inflow.discharge.times,
            inflow.discharge.values)


def _fastest(h: np.ndarray, hu: np.ndarray, hv: np.ndarray, kind: np.ndarray,
             hdry: float) -> float:
    """The fastest wave ``max(|u|, |v|) + sqrt(g h)`` over wet land and coast cells."""
    wet = ((kind == k.LAND) | (kind == k.COAST)) & (h > hdry)
    if not wet.any():
        return 0.0
    hw = h[wet]
    speed = np.maximum(np.abs(hu[wet]), np.abs(hv[wet])) / hw + np.sqrt(G * hw)
    return float(speed.max())


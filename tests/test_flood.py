"""Flood engines against slow references and exact properties: flooding levels, defences,
the local inertial kernels (NumPy transcription, lake at rest, mass balance, determinism)."""

from __future__ import annotations

from collections import deque

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import flood_reference
from engine.flood.domain import (MANNING_BY_GROUP, Defence, FloodDomain, defence_crests,
                                 manning_from_land_use)
from engine.flood.event import SurgeEvent, run_event
from engine.flood.forcing import Hydrograph, peak_for_return_period, synthetic_surge
from engine.flood.inertial import Inflow, InertialOptions, simulate
from engine.kernels.bathtub import bathtub_depth, depth_at_level, flood_levels, time_above
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.model import Grid, Territory

SEA, CROP, BUILT = 18, 1, 7


# -- references -----------------------------------------------------------------------------
def bathtub_faces_ref(z, sea, level, crest_x, crest_y, blocked):
    """Breadth-first flood that crosses a face only when the level tops its crest."""
    rows, cols = z.shape
    ok = np.isfinite(z) & ~blocked & (np.nan_to_num(z, nan=np.inf) < level)
    wet = np.zeros(z.shape, bool)
    todo = deque()
    for r, c in zip(*np.nonzero(sea & ok)):
        wet[r, c] = True
        todo.append((r, c))
    while todo:
        r, c = todo.popleft()
        for rr, cc, crest in ((r - 1, c, crest_y[r, c]), (r + 1, c, crest_y[r + 1, c]),
                              (r, c - 1, crest_x[r, c]), (r, c + 1, crest_x[r, c + 1])):
            if 0 <= rr < rows and 0 <= cc < cols and ok[rr, cc] and not wet[rr, cc] \
                    and crest < level:
                wet[rr, cc] = True
                todo.append((rr, cc))
    return np.where(wet, level - z, 0.0).astype(np.float32)


def random_terrain(rng, shape, holes=0.05):
    z = 3 * ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) \
        + np.linspace(-2, 3, shape[0])[:, None]
    z[rng.random(shape) < holes] = np.nan
    sea = np.zeros(shape, bool)
    sea[-1, :] = True
    return z, sea & np.isfinite(z)


# -- bathtub: flooding levels ------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 25), st.integers(1, 25))
def test_flood_levels_answer_every_level_like_the_flood_fill(seed, rows, cols):
    rng = np.random.default_rng(seed)
    z, _ = random_terrain(rng, (rows, cols), holes=0.1)
    sea = (rng.random((rows, cols)) < 0.08) & np.isfinite(z)
    levels = flood_levels(z, sea)
    for level in np.concatenate([rng.normal(0, 3, 6), np.nan_to_num(z[:2, :2].ravel())]):
        np.testing.assert_array_equal(depth_at_level(z, levels, level),
                                      bathtub_depth(z, sea, level))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_flood_levels_respect_defence_crests_and_obstacles(seed):
    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(2, 20, 2)
    z, sea = random_terrain(rng, (rows, cols))
    crest_x = np.where(rng.random((rows, cols + 1)) < 0.3, rng.normal(2, 2, (rows, cols + 1)),
                       -np.inf)
    crest_y = np.where(rng.random((rows + 1, cols)) < 0.3, rng.normal(2, 2, (rows + 1, cols)),
                       -np.inf)
    blocked = (rng.random((rows, cols)) < 0.1) & ~sea
    levels = flood_levels(z, sea, crest_x=crest_x, crest_y=crest_y, blocked=blocked)
    for level in rng.normal(1, 3, 8):
        np.testing.assert_array_equal(
            depth_at_level(z, levels, level),
            bathtub_faces_ref(z, sea, level, crest_x, crest_y, blocked))


def test_time_above_matches_dense_sampling():
    rng = np.random.default_rng(4)
    times = np.cumsum(rng.uniform(100, 900, 12)) - 100
    values = rng.normal(1, 1.5, 12)
    thresholds = np.array([[-5.0, 0.0, 0.8], [1.5, 2.5, np.inf]])
    first, total = time_above(thresholds, times, values)
    t = np.linspace(times[0], times[-1], 2_000_001)
    above = np.interp(t, times, values)[None, None, :] > thresholds[..., None]
    step = t[1] - t[0]
    np.testing.assert_allclose(total, above.sum(-1) * step, atol=3 * step)
    hit = above.any(-1)
    expected = np.where(hit, t[np.argmax(above, -1)], np.nan)
    np.testing.assert_allclose(first, expected, atol=2 * step)
    assert np.isnan(first[1, 2]) and total[1, 2] == 0  # an infinite threshold is never reached


# -- defences on faces ---------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_a_defence_across_the_grid_is_watertight(seed):
    """Cells north of a random west-east wall stay dry at any level; most of the south floods."""
    rng = np.random.default_rng(seed)
    rows, cols, cell = 30, 40, 10.0
    grid = Grid("EPSG:3857", (cell, 0, 0, 0, -cell, rows * cell), (rows, cols))
    xs = np.sort(np.concatenate([[0.0, cols * cell], rng.uniform(0, cols * cell, 6)]))
    ys = rng.uniform(60, 240, xs.size)
    crest_x, crest_y = defence_crests(grid, [Defence("wall", 50.0, np.column_stack([xs, ys]))])
    z = np.zeros((rows, cols))
    sea = np.zeros((rows, cols), bool)
    sea[-1, :] = True
    wet = depth_at_level(z, flood_levels(z, sea, crest_x=crest_x, crest_y=crest_y), 10.0) > 0
    xc, yc = grid.cell_centres()
    north = yc[:, None] > np.interp(xc, xs, ys)[None, :]
    assert not (wet & north).any()
    assert wet[~north].mean() > 0.9
    # Over the crest, the wall no longer holds.
    assert (depth_at_level(z, flood_levels(z, sea, crest_x=crest_x, crest_y=crest_y),
                           60.0) > 0).all()


def test_a_defence_outside_the_grid_is_an_error():
    grid = Grid("EPSG:3857", (10.0, 0, 0, 0, -10.0, 100.0), (10, 10))
    with pytest.raises(InputError, match=r"surge\.defences\.0\.line: defence 'dike' point 1 lies "
                                         r"outside the grid .*got \[150\.0, 50\.0\]"):
        defence_crests(grid, [Defence("dike", 5.0, [[0, 50], [150, 50]])])


# -- the domain from a territory --------------------------------------------------------------
def territory(lu, z, **fields):
    rows, cols = lu.shape
    t = Territory(Grid("EPSG:32650", (10.0, 0, 500_000, 0, -10.0, 3_000_000), (rows, cols)),
                  DEFAULT_CLASSES, name="test")
    t.set_field("land_use__class", lu.astype(np.uint8))
    t.set_field("terrain__elevation", z.astype(np.float32))
    for name, values in fields.items():
        t.set_field(name, values)
    return t


def test_manning_comes_from_the_land_use_group_with_overrides():
    lu = np.array([[SEA, CROP, BUILT, 3]])
    n = manning_from_land_use(lu, DEFAULT_CLASSES, {"built": 0.1, 3: 0.12})
    assert n.tolist() == [[MANNING_BY_GROUP["sea"], MANNING_BY_GROUP["farmland"], 0.1, 0.12]]
    with pytest.raises(InputError, match=r"surge\.manning: not a land-use group or class code"):
        manning_from_land_use(lu, DEFAULT_CLASSES, {"urban": 0.1})


def test_sea_cells_without_elevation_are_refused_with_where_they_are():
    z = np.array([[1.0, 0.5], [np.nan, -1.0]])
    t = territory(np.array([[CROP, CROP], [SEA, SEA]]), z)
    with pytest.raises(InputError, match=r"test: terrain__elevation: 1 sea cells have no "
                                         r"elevation .*row 1, col 0 \(x 500005\.0, y "
                                         r"2999985\.0\)"):
        FloodDomain.from_territory(t)


# -- local inertial engine ---------------------------------------------------------------------
def rich_domain(seed=3, shape=(37, 53)):
    """Sea, nodata, obstacles, a defence and mixed friction on a rough coast."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    z = 3 * ndimage.gaussian_filter(rng.standard_normal(shape), 3) \
        + np.linspace(4, -3, rows)[:, None]
    z[rng.random(shape) < 0.02] = np.nan
    sea = np.zeros(shape, bool)
    sea[-4:, :] = True
    sea &= np.isfinite(z)
    blocked = (rng.random(shape) < 0.05) & ~sea
    grid = Grid("EPSG:3857", (10.0, 0, 0, 0, -10.0, rows * 10.0), shape)
    cx, cy = defence_crests(grid, [Defence("w", 1.5, [[0, 120], [300, 150], [530, 100]])])
    return FloodDomain.from_arrays(z, 10.0, manning=np.where(rng.random(shape) < 0.5, 0.03,
                                                             0.08),
                                   sea=sea, blocked=blocked, crest_x=cx, crest_y=cy)


def rich_forcing(domain):
    rows, cols = domain.shape
    level = Hydrograph(np.array([0, 600, 1200, 2400.]), np.array([0.0, 2.5, 2.0, -0.5]))
    rain = Hydrograph(np.array([0, 300, 900, 1000.]), np.array([0, 2e-5, 2e-5, 0.0]))
    cells = np.ravel_multi_index((np.array([3, 3, 4]), np.array([20, 21, 20])), (rows, cols))
    cells = cells[domain.open.ravel()[cells] & ~domain.sea.ravel()[cells]]
    inflow = Inflow(cells, Hydrograph(np.array([0, 100, 500, 800.]), np.array([0, 5, 5, 0.0])))
    return dict(level=level, rain=rain, inflow=inflow)


@pytest.mark.parametrize("advection", [False, True])
def test_inertial_engine_matches_the_numpy_transcription(advection):
    """With and without the convective term: the tiled Numba kernels and the whole-grid NumPy
    transcription take the same steps to round-off."""
    domain = rich_domain()
    forcing = rich_forcing(domain)
    options = InertialOptions(tile=(4, 16), advection=advection)
    fast = simulate(domain, start=0, end=2400, options=options, **forcing)
    slow = flood_reference.simulate(domain, start=0, end=2400, options=options, **forcing)
    assert fast.steps == slow["steps"] > 500
    assert fast.engine == options.engine
    assert ("advection" in fast.engine) is advection
    # Same arithmetic up to the order of a few sums and the cube root (libm vs the kernels'
    # Halley iteration, 1e-14 apart): over ~1000 steps differences stay at round-off.
    np.testing.assert_allclose(fast.eta, slow["eta"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.qx, slow["qx"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.qy, slow["qy"], rtol=0, atol=1e-9)
    open_land = domain.open & ~domain.sea
    np.testing.assert_allclose(fast.max_depth[open_land], slow["max_depth"][open_land],
                               atol=1e-6)  # float32 output
    books = slow["books"]
    np.testing.assert_allclose([fast.mass.boundary, fast.mass.sources, fast.mass.rain],
                               books[:3], rtol=1e-9, atol=1e-6)
    assert fast.mass.final == pytest.approx(slow["storage"](slow["eta"]), rel=1e-12)


@pytest.mark.parametrize("advection", [False, True])
def test_lake_at_rest_over_uneven_ground_stays_exactly_at_rest(advection):
    """Islands, obstacles, a wall and a sea at the lake's level: no face has a slope, so no
    discharge (and no momentum to advect), for an hour of steps."""
    domain = rich_domain(seed=8)
    lake = 0.7
    eta0 = np.maximum(np.nan_to_num(domain.elevation, nan=0.0), lake)
    result = simulate(domain, start=0, end=3600, level=Hydrograph.constant(lake, 0, 3600),
                      initial_eta=eta0, options=InertialOptions(max_dt=5.0,
                                                                advection=advection))
    assert result.steps >= 720
    assert np.abs(result.qx).max() == 0.0 and np.abs(result.qy).max() == 0.0
    wet = domain.open & (eta0 > np.nan_to_num(domain.elevation, nan=0.0))
    assert wet.sum() > 100 and (~wet & domain.open).sum() > 100  # islands and a lake
    np.testing.assert_array_equal(result.eta[domain.open], eta0[domain.open])
    assert result.mass.error == 0.0


@pytest.mark.parametrize("advection", [False, True])
def test_mass_is_conserved_over_a_whole_event(advection):
    """Surge rising and falling, rain, an inflow, wetting and drying: in - out - change in
    storage closes to rounding (the issue asks for better than 0.1 %). Advection changes the
    momentum only, so the books close the same way."""
    domain = rich_domain(seed=5)
    result = simulate(domain, start=0, end=2400, **rich_forcing(domain),
                      options=InertialOptions(advection=advection))
    m = result.mass
    assert m.sources == pytest.approx(rich_forcing(domain)["inflow"].discharge.integral())
    assert m.rain > 0 and m.boundary != 0 and m.final > 0
    assert m.relative_error < 1e-3
    assert m.relative_error < 1e-10  # in fact it closes to rounding
    assert m.clamped < 1e-9 * m.final  # the limiter never lets a depth go negative


@pytest.mark.parametrize("advection", [False, True])
def test_skipping_dry_tiles_and_threads_change_no_number(advection):
    domain = rich_domain(seed=11, shape=(60, 70))
    forcing = rich_forcing(domain)  # rain wets every tile: let it fall late
    forcing["rain"] = Hydrograph(np.array([1200, 1300, 1500, 1600.]),
                                 np.array([0, 2e-5, 2e-5, 0.0]))
    runs = {}
    default = numba.get_num_threads()
    try:
        for name, threads, options in (
                ("all tiles", 1, InertialOptions(skip_dry=False, advection=advection)),
                ("skip, 1 thread", 1, InertialOptions(tile=(8, 8), advection=advection)),
                ("skip, 2 threads", min(2, numba.config.NUMBA_NUM_THREADS),
                 InertialOptions(tile=(8, 8), advection=advection))):
            numba.set_num_threads(threads)
            runs[name] = simulate(domain, start=0, end=2400, **forcing, options=options)
    finally:
        numba.set_num_threads(default)
    first = runs["all tiles"]
    for other in runs.values():
        for a, b in ((first.eta, other.eta), (first.qx, other.qx), (first.max_depth,
                     other.max_depth), (first.arrival, other.arrival)):
            np.testing.assert_array_equal(a, b)
    assert runs["skip, 1 thread"].cell_updates < first.cell_updates  # it did skip


@pytest.mark.parametrize("advection", [False, True])
def test_parallel_sweep_matches_the_reference_with_any_thread_count(advection):
    """Steps with enough active cells run their tiles in prange (the advection phase too):
    same numbers."""
    domain = rich_domain(seed=2, shape=(120, 160))
    forcing = rich_forcing(domain)
    options = InertialOptions(tile=(8, 32), parallel_cells=0, advection=advection)
    default = numba.get_num_threads()
    try:
        runs = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(simulate(domain, start=0, end=600, options=options, **forcing))
    finally:
        numba.set_num_threads(default)
    np.testing.assert_array_equal(runs[0].eta, runs[1].eta)
    serial = simulate(domain, start=0, end=600,
                      options=InertialOptions(tile=(8, 32), advection=advection), **forcing)
    np.testing.assert_array_equal(runs[1].eta, serial.eta)
    slow = flood_reference.simulate(domain, start=0, end=600, options=options, **forcing)
    np.testing.assert_allclose(runs[1].eta, slow["eta"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs[1].qx, slow["qx"], rtol=0, atol=1e-9)


def test_an_unstable_time_step_is_refused():
    with pytest.raises(InputError, match=r"surge\.solver\.cfl: the Courant number must be in "
                                         r"\(0, 1\].*stability.*\(got 1\.5"):
        InertialOptions(cfl=1.5)
    with pytest.raises(InputError, match=r"surge\.solver\.advection_depth: the advection depth "
                                         r"must be at least the flow depth"):
        InertialOptions(advection=True, advection_depth=1e-4)


@pytest.mark.slow
def test_for_a_slow_long_surge_both_engines_flood_the_same_land():
    """A surge rising over 12 h and holding 12 h: the water has time to fill every connected
    low cell, so the dynamic extent converges to the static (bathtub) one."""
    rng = np.random.default_rng(21)
    shape = (120, 160)
    z = 2.5 * ndimage.gaussian_filter(rng.standard_normal(shape), 4) \
        + np.linspace(-4, 6, shape[0])[::-1, None]
    sea = np.zeros(shape, bool)
    sea[-1, :] = True
    sea |= z < -1.5
    labels, _ = ndimage.label(sea)
    sea = np.isin(labels, np.unique(labels[-1]))
    domain = FloodDomain.from_arrays(z, 25.0, manning=0.04, sea=sea)
    level = Hydrograph(np.array([0, 12, 24]) * 3600.0, np.array([0.0, 2.0, 2.0]))
    wet = {}
    for engine in ("bathtub", "inertial"):
        outcome = run_event(domain, SurgeEvent(level, engine=engine))
        wet[engine] = (outcome.max_depth >= 0.01) & ~sea
    b, i = wet["bathtub"], wet["inertial"]
    assert b.sum() > 2000
    assert abs(int(i.sum()) - int(b.sum())) / b.sum() < 0.01
    assert (i & b).sum() / (i | b).sum() > 0.98
    # Nothing the still water cannot reach: cells wet only in the dynamic run are a few at
    # the shoreline, within a centimetre of the bathtub's own threshold (the run-up of the
    # advancing water tops the still level by millimetres).
    reach = flood_levels(z, sea) < 2.0 + 0.01
    assert (i & ~b).sum() <= 0.005 * b.sum() and not (i & ~reach).any()


def test_bathtub_arrival_and_duration_follow_the_hydrograph():
    """A plane rising 1 m per 100 m and a level rising 1 m/h to 3 m then falling 1 m/h: the
    cell at 1 m is 0.3 m deep from t = 1.3 h to t = 4.7 h."""
    z = np.tile(np.linspace(4.5, -0.5, 11)[:, None], (1, 3))  # rows: 4.5 ... 0 ... -0.5
    sea = np.zeros(z.shape, bool)
    sea[-1, :] = True
    domain = FloodDomain.from_arrays(z, 100.0, sea=sea)
    level = Hydrograph(np.array([0, 3, 6]) * 3600.0, np.array([0.0, 3.0, 0.0]))
    outcome = run_event(domain, SurgeEvent(level, engine="bathtub"))
    row = int(np.argmin(np.abs(z[:, 0] - 1.0)))
    assert outcome.arrival[row, 0] == pytest.approx(1.3 * 3600)
    assert outcome.duration[row, 0] == pytest.approx(3.4 * 3600)
    assert outcome.max_depth[row, 0] == pytest.approx(2.0)
    assert np.isnan(outcome.max_speed).all() and outcome.engine.startswith("bathtub")
    assert np.isnan(outcome.arrival[0, 0])  # 4.5 m: never reached


def test_buildings_take_the_water_around_them_but_not_across_a_wall():
    z = np.zeros((3, 5))
    sea = np.zeros(z.shape, bool)
    sea[:, 0] = True
    blocked = np.zeros(z.shape, bool)
    blocked[1, 2] = blocked[1, 4] = True
    crest_x = np.full((3, 6), -np.inf)
    crest_x[:, 4] = 9.0  # a wall between columns 3 and 4
    domain = FloodDomain.from_arrays(z, 10.0, sea=sea, blocked=blocked, crest_x=crest_x)
    outcome = run_event(domain, SurgeEvent(1.5))
    assert outcome.max_depth[1, 2] == pytest.approx(1.5)  # against the walls of the building
    assert outcome.max_depth[1, 4] == 0.0 and outcome.max_depth[0, 4] == 0.0  # behind the wall


# -- forcing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("times, values, pattern", [
    ([0, 2, 1, 3], [0, 1, 2, 3], r"times must increase: time 2 is not after time 1 "
                                 r"\(got '2 h, then 1 h'"),
    ([0, 1, 2], [0, float("nan"), 1], r"value 1 is missing \(a gap in the record\)"),
    ([0], [1], r"two or more"),
])
def test_bad_hydrographs_are_refused(times, values, pattern):
    with pytest.raises(InputError, match=pattern):
        Hydrograph(np.array(times, float) * 3600, np.array(values, float))


def test_a_gap_in_a_regular_record_is_refused():
    hours = np.array([0, 1, 2, 3, 4, 9, 10, 11])
    record = Hydrograph(hours * 3600.0, np.sin(hours), name="surge.hydrograph")
    with pytest.raises(InputError, match=r"surge\.hydrograph: gap in the record between 4 h "
                                         r"and 9 h \(longer than 3 h\)"):
        record.check_gaps()
    record.check_gaps(max_gap=5 * 3600.0)  # an intended long interval


def test_design_surge_and_return_periods():
    h = synthetic_surge(3.5, tide_amplitude=1.2, surge_duration_h=24, sea_level_rise=0.5)
    assert h.peak == pytest.approx(4.0) and h.at(12 * 3600) == pytest.approx(4.0)
    assert h.start == 0 and h.end == 24 * 3600
    # At the ends the surge bell is zero: only the tide and the sea-level rise remain.
    assert h.at(0) == pytest.approx(0.5 + 1.2 * np.cos(2 * np.pi * 12 / 12.42))
    table = {10: 2.7, 100: 3.5, 1000: 4.1}
    assert peak_for_return_period(table, 100) == 3.5
    assert peak_for_return_period(table, 10 ** 1.5) == pytest.approx(3.1)
    with pytest.raises(InputError, match=r"surge\.return_period: return period outside the "
                                         r"table \(10 to 1000 years\)"):
        peak_for_return_period(table, 5000)
    with pytest.raises(InputError, match="below mean high water"):
        synthetic_surge(0.5, tide_amplitude=1.0)

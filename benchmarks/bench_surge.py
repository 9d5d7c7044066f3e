"""The flood engines: the local inertial and the Godunov engines, each Numba vs the plain NumPy
transcription of the same scheme, and against ANUGA (a finite-volume shallow-water code) on the
same coastal case.

Throughput is reported as cell updates per second of stepping (``extra_info``), set-up
excluded; the timed call includes the set-up for both implementations alike. Each
implementation runs with the convective term off (the local inertial equations) and on
(``InertialOptions(advection=True)``) in the same group, with the same fixed step (the advective
Courant limit stays above it here), so the ratio is the cost of advection per step. Run:

    .venv/bin/python -m pytest benchmarks/bench_surge.py --benchmark-columns=min,mean

ANUGA is optional (``pip install anuga``); its benchmark skips with the reason when absent.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import flood_reference
import godunov_reference
from engine.flood import godunov
from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.godunov import GodunovOptions
from engine.flood.inertial import InertialOptions, simulate

SIZES = (500, 1000, 2000)
CELL = 10.0
STEPS = 20
DT = 0.5  # fixed step, under the CFL limit (0.7 * 10 m / sqrt(9.81 * 5 m) = 1 s)


def wet_coast(n: int):
    """A fully wet coast: rough bed, sea along the south edge, water everywhere and moving."""
    from scipy import ndimage

    rng = np.random.default_rng(n)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), 8)
    z = 0.5 * noise / noise.std() + np.linspace(-1, 1, n)[::-1, None]
    sea = np.zeros((n, n), bool)
    sea[-1, :] = True
    eta = np.maximum(z + 0.2, 2.0 + 0.5 * np.sin(np.arange(n) / 40.0)[None, :])
    domain = FloodDomain.from_arrays(z, CELL, manning=0.03, sea=sea)
    return domain, eta, Hydrograph.constant(2.0, 0, 1e9)


def run_numba(domain, eta, level, advection=False):
    result = simulate(domain, start=0, end=STEPS * DT, level=level, initial_eta=eta,
                      options=InertialOptions(max_dt=DT, skip_dry=False, advection=advection))
    assert result.steps == STEPS
    return result.eta, result.cell_updates / result.wall_s


def run_numpy(domain, eta, level, advection=False):
    started = time.perf_counter()
    out = flood_reference.simulate(domain, start=0, end=STEPS * DT, level=level,
                                   initial_eta=eta,
                                   options=InertialOptions(max_dt=DT, advection=advection))
    assert out["steps"] == STEPS
    return out["eta"], domain.elevation.size * out["steps"] / (time.perf_counter() - started)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("advection", [False, True], ids=["plain", "advection"])
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_inertial_steps(benchmark, n, impl, advection):
    domain, eta, level = wet_coast(n)
    run = run_numba if impl == "numba" else run_numpy
    small = wet_coast(300)
    run_numba(*small, advection)  # compile both the serial and the parallel sweeps
    eta_fast, _ = run_numba(domain, eta, level, advection)
    eta_slow, _ = run_numpy(domain, eta, level, advection)
    np.testing.assert_allclose(eta_fast, eta_slow, atol=1e-9)
    benchmark.group = f"local inertial, {STEPS} steps, {n}x{n}"
    rounds = 1 if (impl == "numpy" and n >= 2000) else 3
    _, rate = benchmark.pedantic(run, args=(domain, eta, level, advection), rounds=rounds,
                                 iterations=1)
    benchmark.extra_info["cell_updates_per_s"] = round(rate)


# -- the Godunov engine on the same grids ------------------------------------------------------
def run_godunov(domain, eta, level):
    result = godunov.simulate(domain, start=0, end=STEPS * DT, level=level, initial_eta=eta,
                              options=GodunovOptions(max_dt=DT, skip_dry=False,
                                                     parallel_cells=0))
    assert result.steps == STEPS
    return result.eta, result.cell_updates / result.wall_s


def run_godunov_numpy(domain, eta, level):
    started = time.perf_counter()
    out = godunov_reference.simulate(domain, start=0, end=STEPS * DT, level=level,
                                     initial_eta=eta, options=GodunovOptions(max_dt=DT))
    assert out["steps"] == STEPS
    return out["h"] + np.where(domain.open, domain.elevation, 0.0), \
        domain.elevation.size * out["steps"] / (time.perf_counter() - started)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_godunov_steps(benchmark, n, impl):
    """The same fully wet coast and fixed step as the inertial benchmark (its Courant limit,
    0.45 dx / (|u| + sqrt(g h)), stays above the step), so the groups compare per step."""
    domain, eta, level = wet_coast(n)
    run = run_godunov if impl == "numba" else run_godunov_numpy
    run_godunov(*wet_coast(300))  # compile
    if n <= 1000:
        eta_fast, _ = run_godunov(domain, eta, level)
        eta_slow, _ = run_godunov_numpy(domain, eta, level)
        np.testing.assert_allclose(eta_fast, eta_slow, atol=1e-9)
    benchmark.group = f"Godunov, {STEPS} steps, {n}x{n}"
    rounds = 1 if (impl == "numpy" and n >= 2000) else 3
    _, rate = benchmark.pedantic(run, args=(domain, eta, level), rounds=rounds, iterations=1)
    benchmark.extra_info["cell_updates_per_s"] = round(rate)


# -- ANUGA on the same case --------------------------------------------------------------------
LX, LY, T = 2000.0, 1500.0, 3600.0
LEVEL_T, LEVEL_V = np.array([0, 1200, 2400, 3600.0]), np.array([0.0, 2.5, 2.5, 1.0])


def ground(x, y):
    """A coast: sea to the south, a dune ridge at y = 600 m with a gap at x = 1400 m, a
    hollow behind it."""
    z = -2.0 + 0.004 * y
    ridge = 3.2 * np.exp(-((y - 600) / 60) ** 2) * (1 - 0.9 * np.exp(-((x - 1400) / 80) ** 2))
    hollow = -1.5 * np.exp(-(((x - 700) / 250) ** 2 + ((y - 900) / 150) ** 2))
    return z + ridge + hollow


def coast_inertial(cell: float):
    nx, ny = int(LX / cell), int(LY / cell)
    x = (np.arange(nx) + 0.5) * cell
    y = LY - (np.arange(ny) + 0.5) * cell
    z = ground(x[None, :], y[:, None])
    sea = np.zeros(z.shape, bool)
    sea[-1, :] = True  # the level is imposed along the south edge
    domain = FloodDomain.from_arrays(z, cell, manning=0.03, sea=sea)
    result = simulate(domain, start=0, end=T, level=Hydrograph(LEVEL_T, LEVEL_V))
    return z, result.max_depth, result.wall_s


def coast_anuga(cell: float):
    import anuga

    nx, ny = int(LX / cell), int(LY / cell)
    domain = anuga.rectangular_cross_domain(nx, ny, len1=LX, len2=LY)
    domain.set_store(False)
    domain.set_flow_algorithm("DE0")
    domain.set_quantity("elevation", ground, location="centroids")
    domain.set_quantity("friction", 0.03, location="centroids")
    domain.set_quantity("stage", lambda x, y: np.maximum(ground(x, y), 0.0),
                        location="centroids")
    wall = anuga.Reflective_boundary(domain)
    sea = anuga.Time_boundary(domain, function=lambda t: [float(np.interp(t, LEVEL_T,
                                                                          LEVEL_V)), 0.0, 0.0])
    domain.set_boundary({"left": wall, "right": wall, "top": wall, "bottom": sea})
    x, y = domain.centroid_coordinates[:, 0], domain.centroid_coordinates[:, 1]
    deepest = np.zeros(x.size)
    started = time.perf_counter()
    for _ in domain.evolve(yieldstep=30.0, finaltime=T):
        depth = domain.quantities["stage"].centroid_values \
            - domain.quantities["elevation"].centroid_values
        deepest = np.maximum(deepest, depth)
    wall_s = time.perf_counter() - started
    # The four triangles of each square average to the cell's value.
    col = np.clip((x // cell).astype(int), 0, nx - 1)
    row = np.clip(((LY - y) // cell).astype(int), 0, ny - 1)
    total, count = np.zeros((ny, nx)), np.zeros((ny, nx))
    np.add.at(total, (row, col), deepest)
    np.add.at(count, (row, col), 1)
    return total / count, wall_s, x.size


@pytest.mark.parametrize("impl", ["numba", "anuga"])
def test_coastal_surge_against_anuga(benchmark, impl):
    pytest.importorskip("anuga", reason="ANUGA is not installed (pip install anuga): the "
                                        "comparison needs it, nothing else does")
    cell = 20.0
    z, ours, ours_s = coast_inertial(cell)  # also compiles
    benchmark.group = "coastal surge, 2 x 1.5 km at 20 m, 1 h: time to solution"
    if impl == "numba":
        benchmark.pedantic(coast_inertial, args=(cell,), rounds=3, iterations=1)
        return
    theirs, anuga_s, triangles = benchmark.pedantic(coast_anuga, args=(cell,), rounds=1,
                                                    iterations=1)
    land = z > 0
    wet = land & ((ours > 0.01) | (theirs > 0.01))
    rmse = float(np.sqrt(np.mean((ours[wet] - theirs[wet]) ** 2)))
    info = {"triangles": int(triangles), "anuga_wall_s": round(anuga_s, 2),
            "inertial_wall_s": round(ours_s, 3), "speed_ratio": round(anuga_s / ours_s, 1),
            "max_depth_rmse_m": round(rmse, 3),
            "max_depth_bias_m": round(float(np.mean(ours[wet] - theirs[wet])), 3),
            "flooded_cells_inertial": int((land & (ours > 0.05)).sum()),
            "flooded_cells_anuga": int((land & (theirs > 0.05)).sum())}
    benchmark.extra_info.update(info)
    print(info)
    assert rmse < 0.3  # the two models did model the same flood

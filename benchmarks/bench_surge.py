"""The flood engines: the local inertial and the Godunov engines, each Numba vs the plain NumPy
transcription of the same scheme, and against ANUGA (a finite-volume shallow-water code) on the
same coastal case.

Throughput is reported as cell updates per second of stepping (``extra_info``), set-up
excluded; the timed call includes the set-up for both implementations alike. Each
implementation runs with the convective term off (the local inertial equations) and on
(``InertialOptions(advection=True)``) in the same group, with the same fixed step (the advective
Courant limit stays above it here), so the ratio is the cost of advection per step. Run:

    .venv/bin/python -m pytest benchmarks/bench_surge.py --benchmark-columns=min,mean

ANUGA is optional (``pip install anuga``, or in a separate environment named by
``$ANUGA_PYTHON``; see ``anuga_coast.py``); its benchmark skips with the reason when absent.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import anuga_coast
import flood_reference
import godunov_reference
from anuga_coast import LEVEL_T, LEVEL_V, LX, LY, MANNING, T, ground
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
def run_godunov(domain, eta, level, order=1):
    result = godunov.simulate(domain, start=0, end=STEPS * DT, level=level, initial_eta=eta,
                              options=GodunovOptions(max_dt=DT, skip_dry=False,
                                                     parallel_cells=0, order=order))
    assert result.steps == STEPS
    return result.eta, result.cell_updates / result.wall_s


def run_godunov_numpy(domain, eta, level, order=1):
    started = time.perf_counter()
    out = godunov_reference.simulate(domain, start=0, end=STEPS * DT, level=level,
                                     initial_eta=eta,
                                     options=GodunovOptions(max_dt=DT, order=order))
    assert out["steps"] == STEPS
    return out["h"] + np.where(domain.open, domain.elevation, 0.0), \
        domain.elevation.size * out["steps"] / (time.perf_counter() - started)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("order", [1, 2], ids=["order1", "order2"])
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_godunov_steps(benchmark, n, impl, order):
    """The same fully wet coast and fixed step as the inertial benchmark (its Courant limit,
    0.45 dx / (|u| + sqrt(g h)), stays above the step), so the groups compare per step; a
    second-order step (two stages on MUSCL states) counts as one cell update per cell."""
    domain, eta, level = wet_coast(n)
    run = run_godunov if impl == "numba" else run_godunov_numpy
    run_godunov(*wet_coast(300), order)  # compile
    if n <= 1000:
        eta_fast, _ = run_godunov(domain, eta, level, order)
        eta_slow, _ = run_godunov_numpy(domain, eta, level, order)
        np.testing.assert_allclose(eta_fast, eta_slow, atol=1e-9)
    benchmark.group = f"Godunov, {STEPS} steps, {n}x{n}"
    rounds = 1 if (impl == "numpy" and n >= 2000) else 3
    _, rate = benchmark.pedantic(run, args=(domain, eta, level, order), rounds=rounds,
                                 iterations=1)
    benchmark.extra_info["cell_updates_per_s"] = round(rate)


# -- ANUGA on the same case --------------------------------------------------------------------
CELL_COAST = 20.0
_ANUGA: dict[float, tuple[np.ndarray, float, int]] = {}
OURS = {"inertial": lambda: InertialOptions(), "godunov-1": lambda: GodunovOptions(),
        "godunov-2": lambda: GodunovOptions(order=2)}


def coast_ours(cell: float, engine: str):
    """The coastal case (``anuga_coast``) on our grid: the level imposed on a row of sea cells
    along the south edge, still water at 0 m where the ground is below it, as in ANUGA."""
    nx, ny = int(LX / cell), int(LY / cell)
    x = (np.arange(nx) + 0.5) * cell
    y = LY - (np.arange(ny) + 0.5) * cell
    z = ground(x[None, :], y[:, None])
    sea = np.zeros(z.shape, bool)
    sea[-1, :] = True
    domain = FloodDomain.from_arrays(z, cell, manning=MANNING, sea=sea)
    run = simulate if engine == "inertial" else godunov.simulate
    result = run(domain, start=0, end=T, level=Hydrograph(LEVEL_T, LEVEL_V),
                 initial_eta=np.maximum(z, 0.0), options=OURS[engine]())
    return z, result.max_depth, result.wall_s


def coast_anuga(cell: float) -> tuple[np.ndarray, float, int]:
    """ANUGA's maximum depths, evolve wall time and triangles: in this process when ANUGA
    imports here, else in ``$ANUGA_PYTHON`` (a separate environment with ANUGA)."""
    try:
        import anuga  # noqa: F401
    except ImportError:
        exe = os.environ.get("ANUGA_PYTHON")
        if not exe:
            pytest.skip("ANUGA is not installed (pip install anuga, here or in a separate "
                        "environment named by $ANUGA_PYTHON): the comparison needs it, nothing "
                        "else does")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "anuga.npz"
            subprocess.run([exe, anuga_coast.__file__, str(cell), str(out)], check=True,
                           capture_output=True)
            with np.load(out) as f:
                return f["max_depth"], float(f["wall_s"]), int(f["triangles"])
    return anuga_coast.run(cell)


@pytest.mark.parametrize("impl", ["anuga", *OURS])
def test_coastal_surge_against_anuga(benchmark, impl):
    """Time to solution of the 1-hour case (set-up excluded on both sides) and, for our
    engines, the maximum-depth RMSE to ANUGA's over land cells wet (> 1 cm) in either."""
    benchmark.group = "coastal surge, 2 x 1.5 km at 20 m, 1 h: time to solution"
    if impl == "anuga":
        _ANUGA[CELL_COAST] = benchmark.pedantic(coast_anuga, args=(CELL_COAST,), rounds=1,
                                                iterations=1)
        benchmark.extra_info["triangles"] = _ANUGA[CELL_COAST][2]
        return
    if CELL_COAST not in _ANUGA:
        _ANUGA[CELL_COAST] = coast_anuga(CELL_COAST)
    theirs, anuga_s, triangles = _ANUGA[CELL_COAST]
    coast_ours(CELL_COAST, impl)  # compile
    z, ours, ours_s = benchmark.pedantic(coast_ours, args=(CELL_COAST, impl), rounds=3,
                                         iterations=1)
    land = z > 0
    wet = land & ((ours > 0.01) | (theirs > 0.01))
    rmse = float(np.sqrt(np.mean((ours[wet] - theirs[wet]) ** 2)))
    info = {"engine": impl, "triangles": int(triangles), "anuga_wall_s": round(anuga_s, 2),
            "ours_wall_s": round(ours_s, 3), "speed_ratio": round(anuga_s / ours_s, 1),
            "max_depth_rmse_m": round(rmse, 4),
            "max_depth_bias_m": round(float(np.mean(ours[wet] - theirs[wet])), 4),
            "p95_abs_diff_m": round(float(np.percentile(np.abs(ours[wet] - theirs[wet]), 95)),
                                    4),
            "wet_land_cells": int(wet.sum()),
            "flooded_cells_ours": int((land & (ours > 0.05)).sum()),
            "flooded_cells_anuga": int((land & (theirs > 0.05)).sum())}
    benchmark.extra_info.update(info)
    print(info)
    assert rmse < 0.3  # the two models did model the same flood

"""The local inertial engine against analytic solutions and benchmark data.

* MacDonald long channel (SWASHES, data from ``flood/macdonald_long_channel``), without and with
  rain, with and without the convective term: the engine reaches the exact steady state of its
  own equations (computed here independently: marched cell by cell, or solved as one nonlinear
  system with advection) and that state is compared with the analytic one. The local inertial
  equations drop the convective term, which matters where the Froude number nears 1 (it
  reaches 0.99 in this channel): on the 5 m grid their steady state is 2.30 cm RMSE from the
  analytic water surface (3.78 cm with rain), whatever the solver - above the issue's 2 cm.
  With ``InertialOptions(advection=True)`` the steady state is 0.40 cm from it (0.40 cm with
  rain): the issue's target is met by the advection option only.
* Flat-plane flood wave of Hunter et al. (2005), the test of Bates et al. (2010): a wave driven
  by a rising depth at x = 0 over a horizontal frictional plane,
  ``h = (7/3 n^2 u^2 (ut - x))^(3/7)``.
* UK Environment Agency benchmark Test 3 (Neelz & Pender 2013) from ``flood/ea_tests_2_3_4``.
  Tests 2 and 4 cannot be built from that folder: the Test 2 DEM and the Test 4 hydrograph are
  not in it (see its PROVENANCE.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq, root

from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.inertial import G, Inflow, InertialOptions, simulate


def ascii_grid(path: Path) -> tuple[np.ndarray, dict[str, float]]:
    """An ESRI ASCII grid: values (rows north to south) and its header."""
    header = {}
    with open(path) as fh:
        for _ in range(6):
            position = fh.tell()
            words = fh.readline().split()
            if not words or not words[0][0].isalpha():
                fh.seek(position)
                break
            header[words[0].lower()] = float(words[1])
        return np.loadtxt(fh), header


def local_inertial_steady_state(z: np.ndarray, outlet: float, q: np.ndarray, n: float,
                                dx: float) -> np.ndarray:
    """The steady water surface of the local inertial equations on a 1-D channel, marched up
    from the outlet: on each face ``(eta_i - eta_{i+1}) / dx = n^2 q^2 / hf^(10/3)`` with the
    flow depth ``hf = max(eta) - max(z)`` of the face (``q[i]`` crosses face i -> i+1)."""
    eta = np.empty_like(z)
    eta[-1] = outlet
    for i in range(z.size - 2, -1, -1):
        def residual(h, i=i):
            hf = max(z[i] + h, eta[i + 1]) - max(z[i], z[i + 1])
            return z[i] + h - eta[i + 1] - dx * n * n * q[i] ** 2 / hf ** (10 / 3)
        eta[i] = z[i] + brentq(residual, 1e-4, 10.0, xtol=1e-14)
    return eta


def advective_steady_state(z: np.ndarray, outlet: float, q: np.ndarray, n: float,
                           dx: float) -> np.ndarray:
    """The steady water surface of the engine's equations with advection on a 1-D channel of
    positive discharges ``q`` (``q[i]`` crosses face i -> i+1), solved for all cells at once.

    On each face ``g hf (eta_{i+1} - eta_i) / dx + (F_{i+1} - F_i) / dx + g n^2 q^2 /
    hf^(7/3) = 0``, where ``F_i`` is the momentum flux at cell centre i: the mean discharge of
    its two faces times the velocity ``q / hf`` of the upwind (west) one; the inflow and outlet
    cells are open boundaries, whose missing outer face takes the value of the inner one.
    Started from the local inertial steady state."""
    zf = np.maximum(z[:-1], z[1:])

    def residual(upstream: np.ndarray) -> np.ndarray:
        eta = np.append(upstream, outlet)
        hf = np.maximum(eta[:-1], eta[1:]) - zf
        u = q / hf
        flux = np.concatenate([[q[0] * u[0]], 0.5 * (q[:-1] + q[1:]) * u[:-1],
                               [q[-1] * u[-1]]])
        return (G * hf * np.diff(eta) / dx + np.diff(flux) / dx
                + G * n * n * q * q / hf ** (7 / 3))

    start = local_inertial_steady_state(z, outlet, q, n, dx)
    solution = root(residual, start[:-1], method="hybr", tol=1e-14)
    assert solution.success and np.abs(residual(solution.x)).max() < 1e-10, solution.message
    return np.append(solution.x, outlet)


@pytest.mark.parametrize("advection", [False, True], ids=["local-inertial", "advection"])
@pytest.mark.parametrize("case, inflow_q, rain", [("wo_rain", 2.0, 0.0), ("rain", 1.0, 0.001)])
def test_macdonald_long_channel(twin_data, case, inflow_q, rain, advection):
    folder = twin_data / "flood" / "macdonald_long_channel" / f"McDonald_long_channel_{case}"
    reference = pd.read_csv(next(folder.glob("mcdo_*.csv")))
    z, header = ascii_grid(folder / "dem.asc")
    dx = header["cellsize"]
    n = 0.033  # SWASHES MacDonald cases (not stored in the data files)
    rows, cols = z.shape
    sea = np.zeros(z.shape, bool)
    sea[:, -1] = True  # the outlet: the analytic level held in the last cell
    domain = FloodDomain.from_arrays(z, dx, manning=n, sea=sea)
    width = rows * dx
    inlet = np.ravel_multi_index((np.arange(rows), np.zeros(rows, int)), z.shape)
    outlet = float(reference["wse"].iloc[-1])
    end = 7200.0  # long enough to be steady to 1e-6
    result = simulate(
        domain, start=0, end=end, level=Hydrograph.constant(outlet, 0, end),
        inflow=Inflow(inlet, Hydrograph.constant(inflow_q * width, 0, end)),
        rain=Hydrograph.constant(rain, 0, end) if rain else None,
        options=InertialOptions(advection=advection))
    # Steady: the discharge across each face is the inflow plus the rain upstream of it.
    # (With rain, the faces next to the inflow and outlet cells keep a ripple of a few 1e-4:
    # a limit cycle of the adaptive step with theta < 1 - it vanishes with a fixed step.)
    faces = inflow_q + rain * dx * np.arange(1, cols)
    np.testing.assert_allclose(result.qx[:, 1:-1], np.tile(faces, (rows, 1)),
                               rtol=1e-6 if rain == 0 else 1e-3)
    np.testing.assert_allclose(result.qx[:, 2:-2], np.tile(faces[1:-1], (rows, 1)), rtol=1e-6)
    wse = result.eta[1]
    np.testing.assert_array_equal(result.eta[0], result.eta[1])  # the rows stay alike
    steady = (advective_steady_state if advection else local_inertial_steady_state)(
        z[1], outlet, faces, n, dx)
    # The equations' own steady state (to the ripple's millimetre with rain: it is largest in
    # the cells next to the inflow and the outlet and decays away from them).
    np.testing.assert_allclose(wse, steady, atol=1e-6 if rain == 0 else 1.5e-3)
    analytic = reference["wse"].to_numpy()
    rmse = float(np.sqrt(np.mean((wse - analytic) ** 2)))
    # What the equations themselves allow on this grid: 2.30 / 3.78 cm without advection,
    # 0.40 / 0.40 cm with it.
    floor = float(np.sqrt(np.mean((steady - analytic) ** 2)))
    assert rmse == pytest.approx(floor, abs=2e-4)
    if advection:
        assert rmse < 0.02  # the target
        assert float(np.abs(wse - analytic).max()) < 0.01
    else:
        assert rmse > 0.02  # the local inertial equations cannot meet it
    assert result.mass.relative_error < 1e-9  # the issue asks for < 0.1 %


def flat_plane(dx: float, n: float, u: float, duration: float):
    """Depth along the plane at ``duration`` (simulated, analytic) and the grid x."""
    length = 1.4 * u * duration
    cells = int(length / dx)
    z = np.zeros((1, cells))
    sea = np.zeros(z.shape, bool)
    sea[0, 0] = True  # the boundary depth is imposed in the first cell (x = 0)
    t = np.linspace(0.0, duration, 2001)
    level = Hydrograph(t, (7 / 3 * n * n * u ** 3 * t) ** (3 / 7))
    result = simulate(FloodDomain.from_arrays(z, dx, manning=n, sea=sea), start=0,
                      end=duration, level=level)
    x = np.arange(cells) * dx
    analytic = (7 / 3 * n * n * u * u * np.clip(u * duration - x, 0, None)) ** (3 / 7)
    return x, result.depths[-1][0], analytic, result


def test_flood_wave_over_a_flat_plane_converges_to_hunter_2005():
    """Floodplain values (u = 0.25 m/s, n = 0.03, 4 h; Froude^2 < 0.01, where the local
    inertial equations apply): the front reaches u t within a cell and the depth error halves
    with the cell size (first order)."""
    errors = {}
    for dx in (50.0, 25.0):
        x, depth, analytic, result = flat_plane(dx, n=0.03, u=0.25, duration=4 * 3600)
        wet = analytic > 0
        errors[dx] = float(np.sqrt(np.mean((depth[wet] - analytic[wet]) ** 2)))
        front = x[np.flatnonzero(depth > 0.01).max()]
        assert abs(front - 0.25 * 4 * 3600) <= 2 * dx
        assert result.mass.relative_error < 1e-9
    assert errors[25.0] < 0.005
    assert errors[50.0] / errors[25.0] > 1.7


def test_ea_test_3_water_stays_behind_the_obstruction(twin_data):
    """EA Test 3: 1310 m3 pour down a 1:200 slope into a depression that holds 1309.6 m3 below
    the crest of an obstruction (computed here from the DEM, as the specification says: "just
    sufficient"); only momentum can carry water over. The local inertial engine has no
    convective momentum: at 900 s every cubic metre is in, none has crossed, and the left
    depression stands just at the crest. (Codes solving the full equations pass some water;
    the published ranges are not in the data folder, so the numbers are reported, not graded.)
    """
    folder = twin_data / "flood" / "ea_tests_2_3_4"
    dem, header = ascii_grid(folder / "test3DEM.asc")
    cell = header["cellsize"]
    x = header["xllcorner"] + cell * (np.arange(dem.shape[1]) + 0.5)
    y = header["yllcorner"] + cell * (dem.shape[0] - np.arange(dem.shape[0]) - 0.5)
    inside_x, inside_y = (x > 0) & (x < 300), (y > 0) & (y < 100)  # the 300 x 100 m domain
    z = dem[np.ix_(inside_y, inside_x)]
    x = x[inside_x]
    crest_at = np.argmax(np.where((x > 150) & (x < 250), z[0], -np.inf))
    crest = z[0, crest_at]
    left = (x < x[crest_at]) & (z[0] < crest)
    capacity = float(np.sum(crest - z[0, left]) * cell * 100.0)
    assert capacity == pytest.approx(1310, rel=0.001)
    bc = pd.read_csv(folder / "Test3BC.csv")
    inflow = Hydrograph(bc.iloc[:, 0].to_numpy(float), bc.iloc[:, 1].to_numpy(float))
    assert inflow.integral() == pytest.approx(1310.0)
    rows = z.shape[0]
    inlet = np.ravel_multi_index((np.arange(rows), np.zeros(rows, int)), z.shape)
    result = simulate(FloodDomain.from_arrays(z, cell, manning=0.03), start=0, end=900,
                      inflow=Inflow(inlet, inflow), output_times=np.array([300.0, 900.0]))
    volume = result.depths[-1].sum(axis=0) * cell * cell
    assert float(volume.sum()) == pytest.approx(1310.0, rel=1e-9)
    assert float(volume[x > x[crest_at]].sum()) == 0.0
    level = (z + result.depths[-1])[:, np.argmin(z[0] + (x > x[crest_at]) * 99)]
    assert np.all(np.abs(level - crest) < 0.01)  # filled to the brim, at rest
    assert np.abs(result.qx).max() < 1e-3 and result.mass.relative_error < 1e-9

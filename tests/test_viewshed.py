"""Viewshed kernel and analysis: a slow reference, analytic cases, determinism, bad input."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.viewshed import (Observer, ViewshedOptions, grid_cumulative_viewshed,
                                      grid_viewshed)
from engine.kernels.viewshed import cumulative_viewshed, viewshed
from tim.errors import InputError
from tim.model import Grid


def reference_viewshed(z, r0, c0, zo, *, tz=0.0, w=1.0, h=1.0, cc=0.0, diameter=1.0,
                       max_distance=np.inf, near_field="visible"):
    """Wang et al. (2000) as the paper states it, visited ring by ring (Chebyshev distance) on a
    full horizon grid, with the crossing point interpolated and extrapolated explicitly.

    The sightline to the cell (a, b) columns and rows away crosses the previous column (a >= b)
    or the previous row (a < b) between two cells whose horizons are interpolated linearly at
    the crossing; the line from the eye through that point, extended to the cell, is the
    sightline height there. Heights are absolute here (the kernel works relative to the eye).
    """
    rows, cols = z.shape
    horizon = np.full(z.shape, np.nan)
    out = np.full(z.shape, 255, dtype=np.uint8)
    cells = sorted(((r, c) for r in range(rows) for c in range(cols)),
                   key=lambda rc: max(abs(rc[0] - r0), abs(rc[1] - c0)))
    for r, c in cells:
        dr, dc = r - r0, c - c0
        a, b = abs(dc), abs(dr)
        sr, sc = int(np.sign(dr)), int(np.sign(dc))
        d2 = (a * w) ** 2 + (b * h) ** 2
        if d2 > max_distance ** 2:
            continue
        value = z[r, c] - cc * d2 / diameter
        if a == b == 0:
            out[r, c], horizon[r, c] = 1, z[r, c]
            continue
        if max(a, b) == 1:
            line = z[r0, c0] if (near_field == "gdal36" and b == 1) else -np.inf
        elif b == 0 or a == 0:
            k = max(a, b)
            line = zo + (horizon[r - sr, c - sc] - zo) * k / (k - 1)
        elif a == b:  # through the diagonal neighbour's corner
            line = zo + (horizon[r - sr, c - sc] - zo) * a / (a - 1)
        elif a > b:  # crosses column a - 1 at row offset b (a - 1) / a
            f = b * (a - 1) / a - (b - 1)
            cross = horizon[r - sr, c - sc] * (1 - f) + horizon[r, c - sc] * f
            line = zo + (cross - zo) * a / (a - 1)
        else:  # crosses row b - 1 at column offset a (b - 1) / b
            f = a * (b - 1) / b - (a - 1)
            cross = horizon[r - sr, c - sc] * (1 - f) + horizon[r - sr, c] * f
            line = zo + (cross - zo) * b / (b - 1)
        if np.isnan(value):
            horizon[r, c] = line
            continue
        out[r, c] = 1 if value + tz >= line else 0
        horizon[r, c] = max(value, line)
    return out


terrain = st.tuples(st.integers(1, 13), st.integers(1, 13), st.integers(0, 2 ** 32 - 1))


@settings(max_examples=60, deadline=None)
@given(terrain, st.sampled_from(["visible", "gdal36"]), st.booleans(), st.booleans())
def test_kernel_matches_the_slow_reference(shape_seed, near_field, curved, limited):
    rows, cols, seed = shape_seed
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (rows, cols)).cumsum(axis=1)  # rough but correlated terrain
    z[rng.random(z.shape) < 0.08] = np.nan
    r0, c0 = int(rng.integers(rows)), int(rng.integers(cols))
    z[r0, c0] = rng.normal()
    zo = z[r0, c0] + rng.uniform(0, 4)
    kw = dict(tz=rng.uniform(0, 2), w=rng.uniform(0.5, 3), h=rng.uniform(0.5, 3),
              cc=0.85714 if curved else 0.0, diameter=200.0,
              max_distance=rng.uniform(2, 20) if limited else np.inf, near_field=near_field)
    expected = reference_viewshed(z, r0, c0, zo, **kw)
    got = viewshed(z, r0, c0, zo, target_height=kw["tz"], cell_size=(kw["w"], kw["h"]),
                   curvature_coefficient=kw["cc"], earth_diameter=kw["diameter"],
                   max_distance=kw["max_distance"], near_field=near_field)
    np.testing.assert_array_equal(got, expected)


def test_a_wall_taller_than_the_eye_hides_everything_behind_it():
    # Flat ground with walls 6 cells east and 4 cells north of the eye: the shadow behind a
    # wall is a plane through the eye, which the sweep carries exactly, so every cell beyond
    # is hidden and every cell before it (and the walls' faces) seen.
    z = np.zeros((30, 40))
    r0, c0 = 20, 10
    z[:, c0 + 6] = 5.0
    z[r0 - 4, :] = 5.0
    seen = viewshed(z, r0, c0, 2.0)
    rr, cc = np.mgrid[0:30, 0:40]
    expected = (cc <= c0 + 6) & (rr >= r0 - 4)
    np.testing.assert_array_equal(seen == 1, expected)


def test_the_horizon_of_a_curved_earth():
    # On a flat ground, an eye h above it sees a cell i steps away along an axis when no cell
    # s < i rises above the sightline: with the drop k (s w)^2 (k = cc / D) that is when
    # s > h / (k w^2 i) for some s <= i - 1, so the last visible cell has i (i - 1) <= h / (k w^2).
    # Here h / (k w^2) = 2 / (1 / 2000) = 4000: 63 * 62 = 3906 is seen, 64 * 63 = 4032 is not.
    n = 100
    z = np.zeros((2 * n + 1, 2 * n + 1))
    seen = viewshed(z, n, n, 2.0, curvature_coefficient=1.0, earth_diameter=2000.0)
    for axis in (seen[n, n:], seen[n, n::-1], seen[n:, n], seen[n::-1, n]):
        assert axis[:64].all() and not axis[64:].any()


def test_flat_ground_is_all_visible_and_range_is_a_disc():
    z = np.full((41, 41), 3.0)
    seen = viewshed(z, 20, 20, 4.6, max_distance=12.5)
    rr, cc = np.mgrid[0:41, 0:41]
    inside = (rr - 20) ** 2 + (cc - 20) ** 2 <= 12.5 ** 2
    assert (seen[inside] == 1).all() and (seen[~inside] == 255).all()


def test_nodata_is_transparent_and_never_seen():
    z = np.zeros((1, 12))
    z[0, 4:7] = np.nan
    z[0, 9] = -9999.0
    seen = viewshed(z, 0, 0, 1.0, nodata=-9999.0)
    assert seen.tolist() == [[1, 1, 1, 1, 255, 255, 255, 1, 1, 255, 1, 1]]


@pytest.mark.parametrize("near_field", ["visible", "gdal36"])
def test_nodata_around_the_observer_leaves_the_horizon_open(near_field):
    # -inf horizons behind adjacent nodata cells must not turn into NaN (a zero weight times
    # -inf) on the diagonals and axes further out.
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2, (15, 17))
    z[6:9, 7:10] = np.nan
    z[7, 8] = 0.0
    expected = reference_viewshed(z, 7, 8, 1.5, near_field=near_field)
    np.testing.assert_array_equal(viewshed(z, 7, 8, 1.5, near_field=near_field), expected)
    assert (expected[np.isnan(z)] == 255).all() and (expected != 255).sum() > 200


def test_cumulative_is_the_sum_of_single_viewsheds_with_any_thread_count():
    rng = np.random.default_rng(7)
    z = rng.normal(0, 2, (60, 70)).cumsum(axis=0)
    z[rng.random(z.shape) < 0.02] = np.nan
    valid = np.argwhere(~np.isnan(z))
    picks = valid[rng.choice(len(valid), 9, replace=False)]
    eyes = z[picks[:, 0], picks[:, 1]] + 1.5
    kw = dict(curvature_coefficient=0.85714, earth_diameter=5000.0, cell_size=(2.0, 2.0))
    expected = sum((viewshed(z, r, c, e, **kw) == 1).astype(np.uint32)
                   for (r, c), e in zip(picks, eyes))
    results = []
    threads = numba.get_num_threads()
    try:
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            results.append((cumulative_viewshed(z, picks[:, 0], picks[:, 1], eyes, **kw),
                            viewshed(z, *picks[0], eyes[0], **kw)))
    finally:
        numba.set_num_threads(threads)
    for counts, single in results:
        np.testing.assert_array_equal(counts, expected)
        np.testing.assert_array_equal(single, results[0][1])


GRID = Grid("EPSG:28992", (2.0, 0.0, 1000.0, 0.0, -2.0, 2000.0), (50, 60))


def test_grid_viewshed_places_the_observer_and_uses_the_crs_ellipsoid():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, GRID.shape).cumsum(axis=1)
    x, y = 1000.0 + 2.0 * 17.5, 2000.0 - 2.0 * 30.5  # centre of cell (30, 17)
    got = grid_viewshed(z, GRID, Observer(x, y, 1.7), ViewshedOptions(target_height=0.5))
    bessel = 6_377_397.155  # EPSG:28992 is on the Bessel 1841 ellipsoid
    expected = viewshed(z, 30, 17, z[30, 17] + 1.7, cell_size=(2.0, 2.0), target_height=0.5,
                        curvature_coefficient=1 - 1 / 7, earth_diameter=2 * bessel)
    np.testing.assert_array_equal(got, expected)
    absolute = grid_viewshed(z, GRID, Observer(x, y, z=z[30, 17] + 1.7),
                             ViewshedOptions(target_height=0.5))
    np.testing.assert_array_equal(absolute, expected)


@pytest.mark.parametrize("observer, message", [
    (Observer(990.0, 1950.0), "observer lies outside the territory"),
    (Observer(1010.0, 1950.0, z=-50.0), "below the surface"),
    (Observer(1010.0, 1950.0, -1.0), "eye height must be zero or positive"),
])
def test_bad_observers_are_named(observer, message):
    z = np.zeros(GRID.shape)
    with pytest.raises(InputError, match=message) as err:
        grid_viewshed(z, GRID, observer)
    assert err.value.field == "observer"


def test_bad_options_and_the_second_of_many_observers_are_named():
    z = np.zeros(GRID.shape)
    with pytest.raises(InputError, match="refraction"):
        ViewshedOptions(refraction=1.5)
    with pytest.raises(InputError, match="observer 2 lies outside") as err:
        grid_cumulative_viewshed(z, GRID, [Observer(1010.0, 1950.0), Observer(0.0, 0.0)])
    assert err.value.value == (0.0, 0.0)
    z[25, 5] = np.nan
    with pytest.raises(InputError, match="no data"):
        grid_viewshed(z, GRID, Observer(1011.0, 1949.0))


@pytest.mark.parametrize("text, message", [
    ("a,b\n1,2\n", "x: target files need columns x and y (have: a, b)"),
    ("x,y\n", "no targets in the file"),
    ("x,y\n511200,2708900\n1,nope\n", "y: row 3: not a number (got 'nope')"),
])
def test_bad_point_files_are_named(tmp_path, sample_territory, text, message):
    from scenarios.planning.sightlines import read_targets

    path = tmp_path / "targets.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_targets(sample_territory, path, 0.0)
    assert str(err.value) == f"{path}: {message}"


def test_point_files_give_observers_and_targets(tmp_path, sample_territory):
    """One file, read as observers (heights above the surface) and as targets (above the
    ground): a row's z is absolute, its height overrides the default, an empty cell is absent."""
    from engine.analysis.sightlines import Point
    from scenarios.planning.sightlines import point_at, read_targets
    from scenarios.planning.views import read_observers

    path = tmp_path / "points.csv"
    path.write_text("x,y,z,height\n511200,2708900,,2\n511300,2708800,40,\n")
    assert read_observers(path, height=1.6) == [Observer(511200.0, 2708900.0, 2.0, None),
                                                Observer(511300.0, 2708800.0, 1.6, 40.0)]
    assert read_targets(sample_territory, path, 0.5) == [
        point_at(sample_territory, 511200.0, 2708900.0, None, 2.0, "t"),
        Point(511300.0, 2708800.0, 40.0)]

"""Driver layers derived from land-use maps (engine/suitability.py) on analytic cases and
against brute-force definitions on small grids with nodata."""

from __future__ import annotations

import numpy as np
import pytest

from engine.suitability import (box_sum, change_history, distance_to_change,
                                distance_to_classes, land_use_drivers, neighbourhood_shares)
from tim.errors import InputError


def brute_distance(mask, cell):
    rows, cols = mask.shape
    pts = np.argwhere(mask)
    out = np.full(mask.shape, np.nan)
    for r in range(rows):
        for c in range(cols):
            if len(pts):
                out[r, c] = np.min(np.hypot((pts[:, 0] - r) * cell[1], (pts[:, 1] - c) * cell[0]))
    return out


def random_map(shape, n, seed):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, n, shape).astype(np.uint8)
    m[rng.random(shape) < 0.1] = 255
    return m


def test_distance_to_each_class_is_the_nearest_cell_of_it():
    m = random_map((13, 17), 3, 1)
    d = distance_to_classes(m, 4, (30.0, 20.0))  # class 3 has no cell: NaN
    for k in range(3):
        np.testing.assert_allclose(d[k], brute_distance(m == k, (30.0, 20.0)), rtol=1e-6)
    assert np.isnan(d[3]).all()
    # analytic: one cell of class 1 in the corner, 3-4-5 triangle at (3, 4) cells of 10 m
    m = np.zeros((5, 6), np.uint8)
    m[0, 0] = 1
    assert distance_to_classes(m, 2, (10.0, 10.0))[1][4, 3] == pytest.approx(50.0)


def test_distance_to_recent_change_and_to_gains_of_a_class():
    a = random_map((11, 9), 3, 2)
    b = a.copy()
    b[2, 3] = (a[2, 3] + 1) % 3 if a[2, 3] < 3 else 0
    b[8, 1] = 2 if a[8, 1] != 2 else 0
    b[5, 5] = 255  # nodata in one map is no change
    changed = (a < 3) & (b < 3) & (a != b)
    np.testing.assert_allclose(distance_to_change(a, b, 3, (1.0, 1.0)),
                               brute_distance(changed, (1.0, 1.0)), rtol=1e-6)
    np.testing.assert_allclose(distance_to_change(a, b, 3, (1.0, 1.0), to_class=2),
                               brute_distance(changed & (b == 2), (1.0, 1.0)), rtol=1e-6)
    assert np.isnan(distance_to_change(a, a, 3, (1.0, 1.0))).all()


def test_change_history_counts_changes_along_the_series():
    a = np.array([[0, 1, 2, 0]], np.uint8)
    b = np.array([[1, 1, 2, 0]], np.uint8)
    c = np.array([[0, 2, 2, 255]], np.uint8)
    assert np.array_equal(change_history([a, b, c], 3), [[2, 1, 0, np.nan]], equal_nan=True)
    with pytest.raises(InputError, match="two maps"):
        change_history([a], 3)


@pytest.mark.parametrize("radius", [0, 1, 2, 5])
def test_neighbourhood_shares_match_the_window_count(radius):
    m = random_map((9, 12), 3, 3)
    shares = neighbourhood_shares(m, 3, radius)
    rows, cols = m.shape
    for r in range(rows):
        for c in range(cols):
            w = m[max(r - radius, 0):r + radius + 1, max(c - radius, 0):c + radius + 1]
            valid = (w < 3).sum()
            for k in range(3):
                expected = (w == k).sum() / valid if valid else np.nan
                np.testing.assert_allclose(shares[k, r, c], expected, rtol=1e-6)
    assert box_sum(np.arange(12.0).reshape(3, 4), 9).max() == 66.0  # window covers all
    with pytest.raises(InputError, match="radius"):
        neighbourhood_shares(m, 3, -1)


def test_land_use_drivers_name_every_layer():
    prev = random_map((10, 10), 2, 4)
    now = random_map((10, 10), 2, 5)
    now[prev == 255] = 255
    prev[now == 255] = 255
    layers = land_use_drivers(now, 2, (30.0, 30.0), previous=prev, history=[prev, now],
                              radii=(1, 3))
    assert sorted(layers) == sorted(
        ["distance_to_class_0", "distance_to_class_1", "share_0_r1", "share_1_r1",
         "share_0_r3", "share_1_r3", "distance_to_change", "distance_to_gain_0",
         "distance_to_gain_1", "changes"])
    assert all(v.shape == (10, 10) and v.dtype == np.float32 for v in layers.values())

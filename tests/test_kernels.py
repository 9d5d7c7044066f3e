"""Each Numba kernel against a slow, obviously correct reference, on random and edge cases."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from engine.kernels.bathtub import bathtub_depth
from engine.kernels.neighbourhood import neighbourhood_density
from engine.kernels.random import uniform_grid

MASK64 = (1 << 64) - 1


# -- references -----------------------------------------------------------------------------
def splitmix64_ref(x: int) -> int:
    """SplitMix64 as published (Steele et al. 2014), in Python integers."""
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def uniform_ref(seed: int, step: int, stream: int, cell: int) -> float:
    h = splitmix64_ref(seed)
    for key in (step, stream, cell):
        h = splitmix64_ref(h ^ key)
    return ((h >> 11) + 0.5) / 2.0 ** 53


def density_ref(land_use: np.ndarray, code: int, size: int, valid: np.ndarray) -> np.ndarray:
    rows, cols = land_use.shape
    half = size // 2
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            same = total = 0
            for rr in range(max(r - half, 0), min(r + half + 1, rows)):
                for cc in range(max(c - half, 0), min(c + half + 1, cols)):
                    if (rr, cc) != (r, c) and valid[rr, cc]:
                        total += 1
                        same += land_use[rr, cc] == code
            out[r, c] = same / total if total else 0.0
    return out


def bathtub_ref(z: np.ndarray, sea: np.ndarray, level: float) -> np.ndarray:
    below = z < level  # NaN compares False: nodata never floods
    labels, _ = ndimage.label(below, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    wet_labels = np.unique(labels[sea & below])
    wet = np.isin(labels, wet_labels[wet_labels > 0])
    return np.where(wet, level - z, 0.0)


# -- random numbers ---------------------------------------------------------------------------
def test_counter_random_matches_reference_splitmix64():
    grid = uniform_grid(123456789, 3, 2, (4, 5))
    expected = [[uniform_ref(123456789, 3, 2, r * 5 + c) for c in range(5)] for r in range(4)]
    np.testing.assert_array_equal(grid, np.array(expected))


def test_counter_random_is_uniform():
    u = uniform_grid(1, 0, 0, (400, 400)).ravel()
    # Kolmogorov-Smirnov against U(0,1): at n = 160k the 0.1 % critical value is 1.95/sqrt(n).
    u.sort()
    n = u.size
    d = max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))
    assert d < 1.95 / math.sqrt(n)
    assert not np.array_equal(uniform_grid(1, 0, 0, (3, 3)), uniform_grid(1, 1, 0, (3, 3)))


# -- neighbourhood ----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(land_use=arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9)),
                       elements=st.integers(0, 3)),
       size=st.sampled_from([3, 5, 7]), nodata_seed=st.integers(0, 2**16))
def test_neighbourhood_matches_window_loop(land_use, size, nodata_seed):
    valid = np.random.default_rng(nodata_seed).random(land_use.shape) > 0.2
    got = neighbourhood_density(land_use, 1, size, valid=valid)
    np.testing.assert_allclose(got, density_ref(land_use, 1, size, valid), rtol=1e-6)


def test_neighbourhood_counts_on_an_analytic_pattern():
    # A checkerboard: every interior cell has 4 of its 8 Moore neighbours of each colour.
    board = (np.indices((6, 6)).sum(axis=0) % 2).astype(np.uint8)
    density = neighbourhood_density(board, 1, 3)
    np.testing.assert_allclose(density[1:-1, 1:-1], 0.5)
    # A corner cell has 3 neighbours; the diagonal one shares its colour.
    assert density[0, 0] == pytest.approx(2 / 3)  # board[0,0] = 0: two of three are 1


def test_neighbourhood_rejects_even_windows():
    with pytest.raises(ValueError, match="odd"):
        neighbourhood_density(np.zeros((3, 3), np.uint8), 1, 4)


# -- bathtub ----------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(z=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                elements=st.floats(-3, 6)),
       level=st.floats(-2, 5), holes=st.integers(0, 2**16))
def test_bathtub_matches_connected_components(z, level, holes):
    z = z.copy()
    z[np.random.default_rng(holes).random(z.shape) < 0.1] = np.nan
    sea = np.zeros(z.shape, dtype=bool)
    sea[-1, :] = True
    np.testing.assert_allclose(bathtub_depth(z, sea, level), bathtub_ref(z, sea, level),
                               rtol=1e-6, atol=1e-6)


def test_bathtub_polder_behind_a_dike_stays_dry():
    # Sea | beach 0 m | dike 6 m | polder -1 m: the polder is below the level but not connected.
    z = np.array([[-5.0, 0.0, 6.0, -1.0, -1.0]])
    sea = np.array([[True, False, False, False, False]])
    np.testing.assert_allclose(bathtub_depth(z, sea, 3.0), [[8.0, 3.0, 0.0, 0.0, 0.0]])
    # Diagonal contact does not connect: water cannot pass between two dike corners.
    z2 = np.array([[0.0, 9.0], [9.0, 0.0]])
    sea2 = np.array([[True, False], [False, False]])
    assert bathtub_depth(z2, sea2, 1.0)[1, 1] == 0.0


# -- threads ----------------------------------------------------------------------------------
def test_neighbourhood_counts_do_not_depend_on_thread_count():
    from engine.kernels.neighbourhood import window_counts

    land_use = np.random.default_rng(0).integers(0, 5, (300, 200)).astype(np.uint8)
    results = []
    default = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append(window_counts(land_use, 4, 7))
    finally:
        numba.set_num_threads(default)
    np.testing.assert_array_equal(results[0], results[1])


# -- discrete choice --------------------------------------------------------------------------
def test_choice_draws_match_inverse_cdf_reference():
    from engine.kernels.choice import draw_choices
    from engine.kernels.random import uniform_ids

    rng = np.random.default_rng(4)
    weights = rng.random((3, 7))
    weights[2] = 0.0  # a group with nothing left to choose
    groups = rng.integers(0, 3, 200)
    ids = rng.choice(10_000, 200, replace=False)
    got = draw_choices(groups, ids, weights, seed=8, step=2030, stream=101)
    u = uniform_ids(ids, 8, 2030, 101)
    for g, uid, draw, choice in zip(groups, ids, u, got):
        assert draw == uniform_ref(8, 2030, 101, int(uid))
        if g == 2:
            assert choice == -1
            continue
        cdf = np.cumsum(weights[g])
        assert choice == int(np.searchsorted(cdf, draw * cdf[-1], side="right"))


# -- exact Euclidean distance transform --------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 25), st.integers(1, 25))),
       st.sampled_from([(1.0, 1.0), (30.0, 30.0), (2.0, 5.0), (100.0, 30.0)]))
def test_squared_distance_equals_scipy_edt(feature, spacing):
    """Bitwise the distances of scipy.ndimage.distance_transform_edt (integer spacings: no
    rounding in ties), inf with no feature."""
    from engine.kernels.distance import squared_distance

    got = np.sqrt(squared_distance(feature, spacing))
    if not feature.any():
        assert np.isinf(got).all()
        return
    ref = ndimage.distance_transform_edt(~feature, sampling=spacing)
    np.testing.assert_array_equal(got, ref)


def test_squared_distance_fractional_spacing_and_hand_case():
    from engine.kernels.distance import squared_distance

    rng = np.random.default_rng(5)
    feature = rng.random((60, 45)) < 0.02
    spacing = (0.37, 7.1e-4)  # geographic-like cells: ties round differently, by an ulp
    np.testing.assert_allclose(np.sqrt(squared_distance(feature, spacing)),
                               ndimage.distance_transform_edt(~feature, sampling=spacing),
                               rtol=1e-12)
    one = np.zeros((3, 4), bool)
    one[1, 3] = True  # by hand: (dy * 2)^2 + (dx * 3)^2
    assert squared_distance(one, (2.0, 3.0)).tolist() == [
        [85.0, 40.0, 13.0, 4.0], [81.0, 36.0, 9.0, 0.0], [85.0, 40.0, 13.0, 4.0]]

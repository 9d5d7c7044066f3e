"""Connected bathtub flooding: a new water level by the precomputed flooding levels (one pass)
vs the Numba breadth-first fill vs scipy.ndimage.label; and the one-time precompute."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.kernels.bathtub import bathtub_depth, depth_at_level, flood_levels

SIZES = (500, 1000, 2000)
FOUR = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]


def scipy_bathtub(z, sea, level):
    below = z < level
    labels, _ = ndimage.label(below, structure=FOUR)
    wet = np.isin(labels, np.unique(labels[sea & below]))
    wet &= labels > 0
    return np.where(wet, level - z, 0.0).astype(np.float32)


def coast(n: int):
    rng = np.random.default_rng(n)
    ramp = np.linspace(-5, 20, n)[::-1, None] * np.ones((1, n))
    z = ramp + 4 * ndimage.gaussian_filter(rng.standard_normal((n, n)), 6)
    sea = np.zeros((n, n), dtype=bool)
    sea[-1, :] = True
    return z, sea, 3.0


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["levels", "numba", "scipy"])
def test_bathtub(benchmark, n, impl):
    """A new level: ``levels`` is one pass over the precomputed flooding levels."""
    z, sea, level = coast(n)
    levels = flood_levels(z, sea)
    fn = {"levels": lambda z, sea, level: depth_at_level(z, levels, level),
          "numba": bathtub_depth, "scipy": scipy_bathtub}[impl]
    np.testing.assert_allclose(fn(z, sea, level), scipy_bathtub(z, sea, level), atol=1e-5)
    benchmark.group = f"bathtub {n}x{n}"
    benchmark.pedantic(fn, args=(z, sea, level), rounds=5, iterations=1)


@pytest.mark.parametrize("n", SIZES)
def test_flooding_levels_precompute(benchmark, n):
    """The one-time priority-flood behind ``levels``."""
    z, sea, _ = coast(n)
    flood_levels(z, sea)
    benchmark.group = f"bathtub {n}x{n}"
    benchmark.pedantic(flood_levels, args=(z, sea), rounds=3, iterations=1)

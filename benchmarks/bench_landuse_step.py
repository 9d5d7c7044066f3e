"""One land-use CA step (neighbourhood + potential + allocation): Numba vs plain NumPy.

The NumPy baseline computes exactly the same step - window counts by convolution, the same
SplitMix64 draws vectorised over uint64 arrays, the same allocation - and the benchmark checks
that both convert the same cells before timing them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.kernels.allocation import top_cells
from engine.kernels.neighbourhood import neighbourhood_density
from engine.kernels.transition import transition_potential

SIZES = (500, 1000, 2000)
SIZE_WINDOW = 5
SEED, STEP, STREAM = 7, 1, 4
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def numpy_step(land_use, suitability, weight, candidate, demand, code=7, alpha=0.5,
               spontaneous=0.02):
    kernel = np.ones((SIZE_WINDOW, SIZE_WINDOW))
    same = ndimage.correlate((land_use == code).astype(float), kernel, mode="constant")
    total = ndimage.correlate(np.ones(land_use.shape), kernel, mode="constant")
    density = ((same - (land_use == code)) / (total - 1)).astype(np.float32)
    key = _splitmix(np.full(land_use.shape, np.uint64(SEED)))
    key = _splitmix(key ^ np.uint64(STEP))
    key = _splitmix(key ^ np.uint64(STREAM))
    key = _splitmix(key ^ np.arange(land_use.size, dtype=np.uint64).reshape(land_use.shape))
    u = ((key >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    potential = (suitability.astype(np.float32).astype(np.float64)
                 * (spontaneous + density.astype(np.float64)) * weight
                 * (1.0 + (-np.log(u)) ** alpha))
    potential[~candidate] = 0.0
    return top_cells(potential, demand)


def numba_step(land_use, suitability, weight, candidate, demand, code=7):
    density = neighbourhood_density(land_use, code, SIZE_WINDOW)
    potential = transition_potential(suitability, density, candidate, weight, spontaneous=0.02,
                                     alpha=0.5, seed=SEED, step=STEP, stream=STREAM)
    return top_cells(potential, demand)


def landscape(n: int):
    rng = np.random.default_rng(n)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n)), 8)
    land_use = np.where(noise > 0.05, 7, 1).astype(np.uint8)
    suitability = rng.random((n, n)).astype(np.float32)
    weight = np.ones((n, n), dtype=np.float32)
    return land_use, suitability, weight, land_use != 7, n * n // 100


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_landuse_step(benchmark, n, impl):
    args = landscape(n)
    reference = numpy_step(*args) if n <= 1000 else None
    step = numba_step if impl == "numba" else numpy_step
    cells = step(*args)  # also compiles the Numba kernels before timing
    if reference is not None:
        np.testing.assert_array_equal(cells, reference)
    benchmark.group = f"land-use step {n}x{n}"
    benchmark.extra_info["cells"] = n * n
    benchmark.pedantic(step, args=args, rounds=5, iterations=1)

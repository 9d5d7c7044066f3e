"""One simulated year of the multi-class land-use model (7 classes, 2 roulette passes, patch
growth): Numba vs the same step in plain NumPy vs the cell-by-cell Python reference.

- ``numba``: :func:`engine.landuse.allocate_step`.
- ``numpy``: the same passes with the competition vectorised in NumPy (class counts from
  summed-area tables, potentials, SplitMix64 draws over uint64 arrays, the roulette as a
  cumulative sum, ranking by ``np.lexsort``) and the allocation and patch growth in Python
  (tests/landuse_reference.py) - there is no vectorised form of a growing patch.
- ``python``: tests/landuse_reference.py, cell by cell, on a 40 x 40 crop (compare per cell:
  ``extra_info["cells"]``).

Every implementation produces the same map; the benchmark checks it before timing. Run
``.venv/bin/python -m pytest benchmarks/bench_landuse_step.py --benchmark-columns=min,median``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from engine.kernels.transition import stochastic_table
from engine.landuse import (CAParams, LandUseModel, allocate_step, build_constraints,
                            class_counts)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import landuse_reference as ref  # noqa: E402

SIZES = (250, 500, 1000)
N_CLASSES = 7
PARAMS = CAParams(neighbourhood_size=7, weights=(0.3, 0.6, 0.2, 0.8, 0.4, 0.5, 0.3),
                  inertia=(2.0,) * N_CLASSES, alpha=0.5, spontaneous=0.02, roulette_rounds=2,
                  patch_scale=1.0, patch_compactness=1.0)


def landscape(n: int):
    """Seven patchy classes, smooth suitabilities, 10 % of cells that never change, and a
    year's demand moving 1 % of the cells: three classes grow, three shrink, one is steady."""
    rng = np.random.default_rng(n)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)), 6)
    index = np.digitize(field, np.quantile(field, np.linspace(0, 1, N_CLASSES + 1)[1:-1]))
    index = index.astype(np.uint8)
    suit = np.stack([ndimage.gaussian_filter(rng.random((n, n)), 3) for _ in range(N_CLASSES)],
                    axis=-1).astype(np.float32)
    water = ndimage.gaussian_filter(rng.random((n, n)), 4) > 0.52
    sizes = tuple(np.array([1, 1, 1, 2, 2, 3, 4, 6, 9, 15]) for _ in range(N_CLASSES))
    model = LandUseModel(tuple(range(1, N_CLASSES + 1)), suit, PARAMS,
                         build_constraints((n, n), N_CLASSES, hard=[(water, None)]), sizes)
    moved = n * n // 100
    change = np.array([[moved // 2, moved // 3, -moved // 2, 0, moved // 6, -moved // 3,
                        -moved // 6]], dtype=np.int64)
    change[0, 3] = -change.sum()
    return index, model, change


def numba_step(index, model, change):
    return allocate_step(index, model, change, seed=7, step=1)[0]


def numpy_compete(index, suit, *, forbid, policy, policy_weight, region, conversion, weight,
                  inertia, drive, open_gain, open_loss, changed, spontaneous, alpha, size,
                  key_pick, key_noise, roulette, wanted):
    """One competition pass in plain NumPy, returning ranked requests per class."""
    rows, cols, n = suit.shape
    half = size // 2
    valid = index < n
    own = np.where(valid, index, 0).astype(np.int64)

    def window(ind):  # exact integer window sums from a summed-area table
        sat = np.zeros((rows + 1, cols + 1), np.int64)
        sat[1:, 1:] = ind.astype(np.int64).cumsum(0).cumsum(1)
        r = np.arange(rows)
        c = np.arange(cols)
        r0, r1 = np.maximum(r - half, 0), np.minimum(r + half + 1, rows)
        c0, c1 = np.maximum(c - half, 0), np.minimum(c + half + 1, cols)
        return (sat[r1][:, c1] - sat[r0][:, c1] - sat[r1][:, c0] + sat[r0][:, c0])

    count = [window(index == k) for k in range(n)]
    nvalid = window(valid) - valid
    inv = np.divide(1.0, nvalid, out=np.zeros((rows, cols)), where=nvalid > 0)
    factor = np.where(open_gain.astype(bool)[0][None, :], drive[0][None, :] * conversion, 0.0)
    factor *= open_loss.astype(bool)[0][:, None]
    live = valid & (changed == 0) & open_loss.astype(bool)[0][own]
    tp = np.zeros((n, rows, cols))
    for k in range(n):
        allowed = live & (own != k) & (((forbid.astype(np.int64) >> k) & 1) == 0) \
            & (factor[own, k] > 0)
        v = (factor[own, k] * suit[..., k].astype(np.float64)
             * (spontaneous + weight[k] * (count[k] * inv)) * policy_weight[policy, k])
        tp[k] = np.where(allowed & (v > 0), v, 0.0)
    total = np.zeros((rows, cols))
    for k in range(n):
        total = total + tp[k]
    any_tp = tp.max(axis=0) > 0
    cells = np.arange(rows * cols, dtype=np.uint64).reshape(rows, cols)
    if roulette:
        stay_factor = (drive[0] * inertia)[own]
        own_count = np.take_along_axis(np.stack(count), own[None], 0)[0] - 1
        stay = (stay_factor * np.take_along_axis(suit, own[..., None], 2)[..., 0]
                * (spontaneous + weight[own] * (own_count * inv)))
        u = ((_splitmix(np.uint64(key_pick) ^ cells) >> np.uint64(11)).astype(np.float64)
             + 0.5) * 2.0 ** -53
        spin = u * (total + stay)
        acc = stay.copy()
        pick = np.full((rows, cols), 255)
        last = np.full((rows, cols), 255)
        for k in range(n):
            positive = tp[k] > 0
            acc = acc + tp[k]
            first = positive & (pick == 255) & (spin < acc) & (spin >= stay)
            pick = np.where(first, k, pick)
            last = np.where(positive, k, last)
        pick = np.where((pick == 255) & (spin >= acc) & any_tp, last, pick)
        pick = np.where(any_tp, pick, 255)
    else:
        pick = np.where(any_tp, tp.argmax(axis=0), 255)
    chosen = pick != 255
    z = np.zeros(index.shape, np.int64)
    asked = np.zeros(drive.shape, np.int64)
    left = np.zeros(drive.shape, np.int64)
    np.add.at(asked, (z[chosen], pick[chosen]), 1)
    np.add.at(left, (z[chosen], own[chosen]), 1)
    level = (_splitmix(np.uint64(key_noise) ^ cells) >> np.uint64(48)).astype(np.int64)
    score = np.take_along_axis(tp, np.where(chosen, pick, 0)[None], 0)[0] \
        * stochastic_table(alpha)[level]
    flat = np.flatnonzero(chosen)
    classes, scores = pick.ravel()[flat], score.ravel()[flat]
    ranked = []
    for k in range(n):
        mine = classes == k
        order = np.lexsort((flat[mine], -scores[mine]))
        ranked.append(flat[mine][order][: ref.MARGIN * wanted[k] + 64].tolist())
    return ranked, asked, left


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def numpy_step(index, model, change):
    return ref.step(index, model, change, seed=7, step_no=1, compete_fn=numpy_compete)[0]


def python_step(index, model, change):
    return ref.step(index, model, change, seed=7, step_no=1)[0]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_landuse_year(benchmark, n, impl):
    args = landscape(n)
    step = numba_step if impl == "numba" else numpy_step
    result = step(*args)  # also compiles the Numba kernels before timing
    if n <= 500:
        np.testing.assert_array_equal(result, numba_step(*args) if impl == "numpy"
                                      else numpy_step(*args))
    assert (class_counts(result, N_CLASSES) - class_counts(args[0], N_CLASSES)
            == args[2]).all()
    benchmark.group = f"land-use year {n}x{n}"
    benchmark.extra_info["cells"] = n * n
    benchmark.pedantic(step, args=args, rounds=3 if impl == "numpy" else 5, iterations=1)


@pytest.mark.parametrize("impl", ["numba", "python"])
def test_landuse_year_per_cell(benchmark, impl):
    index, model, change = landscape(40)
    step = numba_step if impl == "numba" else python_step
    result = step(index, model, change)
    np.testing.assert_array_equal(result, numba_step(index, model, change))
    benchmark.group = "land-use year 40x40 (per-cell Python reference)"
    benchmark.extra_info["cells"] = 1600
    benchmark.pedantic(step, args=(index, model, change), rounds=3, iterations=1)

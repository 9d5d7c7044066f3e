"""Discrete choice: each decision maker draws one alternative from its group's probabilities.

Sampling is by inverse CDF with one counter-based uniform per decision maker, keyed on its
stable id, so a household's draw does not depend on how many others choose or on threads.
Cost: O(log alternatives) per decision maker after one O(groups x alternatives) CDF.
"""

from __future__ import annotations

import numpy as np

from engine._numba import parallel_jit, prange
from engine.kernels.random import stream_key, uniform_at


@parallel_jit
def _draw(groups: np.ndarray, ids: np.ndarray, cdf: np.ndarray, seed: np.uint64,
          step: np.uint64, stream: np.uint64) -> np.ndarray:
    key = stream_key(seed, step, stream)
    n, alternatives = groups.size, cdf.shape[1]
    out = np.empty(n, dtype=np.int32)
    for i in prange(n):
        row = cdf[groups[i]]
        total = row[alternatives - 1]
        if total <= 0.0:
            out[i] = -1
            continue
        target = uniform_at(key, np.uint64(ids[i])) * total
        out[i] = min(np.searchsorted(row, target, side="right"), alternatives - 1)
    return out


def draw_choices(groups: np.ndarray, ids: np.ndarray, weights: np.ndarray, *, seed: int,
                 step: int, stream: int) -> np.ndarray:
    """Alternative chosen by each decision maker, with probability proportional to
    ``weights[group]`` (rows need not sum to 1); -1 where the group has no alternative left.

    Parameters
    ----------
    groups : (n,) int, row of ``weights`` each decision maker uses.
    ids : (n,) int, stable ids keying the random draws.
    weights : (groups, alternatives) float >= 0, e.g. exp(utility) x capacity.

    Examples
    --------
    >>> w = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    >>> draw_choices(np.array([0, 1, 0]), np.arange(3), w, seed=1, step=0, stream=0).tolist()
    [1, 0, 1]
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("weights must be a finite, non-negative (groups, alternatives) array")
    if groups.shape != ids.shape:
        raise ValueError(f"groups {groups.shape} and ids {ids.shape} differ in shape")
    if groups.size and (groups.min() < 0 or groups.max() >= weights.shape[0]):
        raise ValueError("group index out of range")
    cdf = np.cumsum(weights, axis=1)
    return _draw(np.ascontiguousarray(groups, dtype=np.int64),
                 np.ascontiguousarray(ids, dtype=np.int64), cdf, np.uint64(seed),
                 np.uint64(step), np.uint64(stream))

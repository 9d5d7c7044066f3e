"""Transition potential of a cell for one target class, in the form of constrained cellular
automata (White & Engelen 1993; White, Engelen & Uljee 1997):

    potential = suitability x (spontaneous + neighbourhood density) x policy weight x v,
    v = 1 + (-ln u)^alpha,  u ~ U(0, 1)

``v`` is White & Engelen's stochastic perturbation: alpha = 0 gives a constant factor, larger
alpha scatters growth. Cells that may not convert (hard constraints, the target class already,
classes that cannot convert) have potential 0 and are never allocated.
"""

from __future__ import annotations

import numpy as np

from engine._numba import parallel_jit, prange
from engine.kernels.random import stream_key, uniform_at


@parallel_jit
def _potential(suitability: np.ndarray, density: np.ndarray, candidate: np.ndarray,
               weight: np.ndarray, spontaneous: float, alpha: float, seed: np.uint64,
               step: np.uint64, stream: np.uint64) -> np.ndarray:
    rows, cols = suitability.shape
    key = stream_key(seed, step, stream)
    out = np.zeros((rows, cols), dtype=np.float64)
    for r in prange(rows):
        for c in range(cols):
            if candidate[r, c] == 0:
                continue
            u = uniform_at(key, np.uint64(r * cols + c))
            noise = 1.0 + (-np.log(u)) ** alpha
            out[r, c] = (suitability[r, c] * (spontaneous + density[r, c]) * weight[r, c]
                         * noise)
    return out


def transition_potential(suitability: np.ndarray, density: np.ndarray, candidate: np.ndarray,
                         weight: np.ndarray, *, spontaneous: float, alpha: float, seed: int,
                         step: int, stream: int) -> np.ndarray:
    """Potential (float64, >= 0) of every cell to convert to one target class.

    Parameters
    ----------
    suitability : (rows, cols) float, 0..1, from drivers.
    density : (rows, cols) float, 0..1, neighbourhood share of the target class.
    candidate : (rows, cols) bool, cells allowed to convert this step.
    weight : (rows, cols) float >= 0, soft policy weight (e.g. lower outside the urban
        development boundary).
    spontaneous : weight of growth away from existing patches (added to the density).
    alpha : dispersion of the stochastic perturbation (0 = none).
    seed, step, stream : keys of the counter-based random draws (stream = target class index).
    """
    shape = suitability.shape
    for name, a in (("density", density), ("candidate", candidate), ("weight", weight)):
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, suitability {shape}")
    if alpha < 0 or spontaneous < 0:
        raise ValueError("alpha and spontaneous must be >= 0")
    return _potential(np.ascontiguousarray(suitability, dtype=np.float32),
                      np.ascontiguousarray(density, dtype=np.float32),
                      np.ascontiguousarray(candidate, dtype=np.uint8),
                      np.ascontiguousarray(weight, dtype=np.float32),
                      float(spontaneous), float(alpha), np.uint64(seed), np.uint64(step),
                      np.uint64(stream))

"""Exact Euclidean distance transform: squared distance from every cell to the nearest feature
cell, on a grid whose rows and columns may be spaced differently.

Separable (Felzenszwalb & Huttenlocher 2012, "Distance transforms of sampled functions"): a pass
down and up each column gives the row offset to the column's nearest feature, then the lower
envelope of parabolas along each row adds the column offset. Linear in the cells, one pass each
way; ``scipy.ndimage.distance_transform_edt`` gives the same distances (the tests compare them)
but spends most of its time building index arrays in NumPy. Each distance is summed as SciPy sums
it, ``(dy * row_spacing)**2 + (dx * col_spacing)**2``, so the values are bitwise equal whenever
the nearest feature is unique.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit


@jit
def _column_offsets(feature: np.ndarray) -> np.ndarray:
    """Rows to the nearest feature cell of the same column (-1: the column has none); swept
    row by row, down then up, so the row-major arrays are read in order."""
    rows, cols = feature.shape
    none = 2 * rows + 2
    out = np.empty((rows, cols), dtype=np.int32)
    last = np.full(cols, -none, dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            if feature[r, c]:
                last[c] = r
            out[r, c] = min(r - last[c], none)
    last[:] = rows + none
    for r in range(rows - 1, -1, -1):
        for c in range(cols):
            if feature[r, c]:
                last[c] = r
            d = min(last[c] - r, out[r, c])
            out[r, c] = -1 if d > rows else d
    return out


@jit
def _squared(feature: np.ndarray, row_spacing: float, col_spacing: float) -> np.ndarray:
    rows, cols = feature.shape
    dy = _column_offsets(feature)
    out = np.empty((rows, cols), dtype=np.float64)
    where = np.empty(cols, dtype=np.int64)       # feature columns of the envelope's parabolas
    value = np.empty(cols, dtype=np.float64)     # their squared row distance
    start = np.empty(cols + 1, dtype=np.float64)  # where each parabola starts to be lowest
    for r in range(rows):
        k = -1
        for q in range(cols):
            if dy[r, q] < 0:
                continue
            f = (dy[r, q] * row_spacing) ** 2
            p = q * col_spacing
            while k >= 0:
                pv = where[k] * col_spacing
                s = ((f + p * p) - (value[k] + pv * pv)) / (2.0 * (p - pv))
                if s <= start[k]:
                    k -= 1
                else:
                    break
            k += 1
            where[k] = q
            value[k] = f
            start[k] = -np.inf if k == 0 else s
        if k < 0:
            for c in range(cols):
                out[r, c] = np.inf
            continue
        start[k + 1] = np.inf
        j = 0
        for c in range(cols):
            x = c * col_spacing
            while start[j + 1] < x:
                j += 1
            out[r, c] = value[j] + ((c - where[j]) * col_spacing) ** 2
    return out


def squared_distance(feature: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)
                     ) -> np.ndarray:
    """Squared Euclidean distance (float64) from every cell to the nearest ``feature`` cell;
    ``spacing`` is (row spacing, column spacing); inf everywhere when there is no feature.

    Examples
    --------
    >>> squared_distance(np.array([[True, False, False], [False, False, False]])).tolist()
    [[0.0, 1.0, 4.0], [1.0, 2.0, 5.0]]
    """
    feature = np.ascontiguousarray(feature, dtype=bool)
    if feature.ndim != 2:
        raise ValueError(f"feature must be 2-D, got shape {feature.shape}")
    return _squared(feature.view(np.uint8), float(spacing[0]), float(spacing[1]))

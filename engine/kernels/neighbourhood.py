"""Neighbourhood effect: the share of each class among a cell's neighbours in an n x n window.

Counts come from summed-area tables (Crow 1984), so the cost per cell per class is O(1) whatever
the window size. Windows are clipped at the grid edge and only valid cells (not nodata) count,
so a cell on the border is judged by the neighbours it has. The centre cell is excluded: a cell's
own class is inertia, not neighbourhood.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit, parallel_jit, prange


@parallel_jit
def _summed_area(indicator: np.ndarray) -> np.ndarray:
    rows, cols = indicator.shape
    sat = np.zeros((rows + 1, cols + 1), dtype=np.int32)
    for r in prange(rows):  # row prefix sums: rows are independent
        acc = 0
        for c in range(cols):
            acc += indicator[r, c]
            sat[r + 1, c + 1] = acc
    for r in range(1, rows + 1):  # then accumulate down the rows, contiguous inner loop
        for c in range(1, cols + 1):
            sat[r, c] += sat[r - 1, c]
    return sat


@jit
def _window_sum(sat: np.ndarray, r: int, c: int, half: int, rows: int, cols: int) -> int:
    r0, r1 = max(r - half, 0), min(r + half + 1, rows)
    c0, c1 = max(c - half, 0), min(c + half + 1, cols)
    return sat[r1, c1] - sat[r0, c1] - sat[r1, c0] + sat[r0, c0]


@parallel_jit
def _density(indicator: np.ndarray, valid: np.ndarray, half: int) -> np.ndarray:
    rows, cols = indicator.shape
    sat_class = _summed_area(indicator)
    sat_valid = _summed_area(valid)
    out = np.zeros((rows, cols), dtype=np.float32)
    for r in prange(rows):
        for c in range(cols):
            n = _window_sum(sat_valid, r, c, half, rows, cols) - valid[r, c]
            if n > 0:
                k = _window_sum(sat_class, r, c, half, rows, cols) - indicator[r, c]
                out[r, c] = k / n
    return out


def neighbourhood_density(land_use: np.ndarray, code: int, size: int,
                          valid: np.ndarray | None = None) -> np.ndarray:
    """Share of valid neighbours of class ``code`` in a ``size`` x ``size`` window (centre
    excluded), as float32 in [0, 1].

    Parameters
    ----------
    land_use : (rows, cols) integer array of class codes.
    code : the class whose density is wanted.
    size : odd window width in cells (3 = Moore neighbourhood).
    valid : optional boolean mask of cells that count as neighbours (default: all).

    Examples
    --------
    >>> lu = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=np.uint8)
    >>> float(neighbourhood_density(lu, 1, 3)[1, 1])  # 2 of 8 neighbours
    0.25
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"neighbourhood size must be an odd integer >= 3, got {size}")
    if land_use.ndim != 2:
        raise ValueError(f"land_use must be 2-D, got shape {land_use.shape}")
    valid_u8 = (np.ones(land_use.shape, dtype=np.uint8) if valid is None
                else np.ascontiguousarray(valid, dtype=np.uint8))
    indicator = ((land_use == code) & (valid_u8 > 0)).astype(np.uint8)
    return _density(indicator, valid_u8, size // 2)

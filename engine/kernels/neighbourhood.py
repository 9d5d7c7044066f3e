"""Neighbourhood effect: how many cells of each class surround a cell in an n x n window.

All classes are counted in one pass with sliding windows: per block of rows a table of column
counts (class x column, over the 2h + 1 rows of the window) is updated by one increment and one
decrement per column when the window moves down a row, and a running window sum moves along the
row with one add and one subtract per class. The cost per cell per class is O(1) whatever the
window size, and memory is one (classes + 1) x cols table per block instead of a summed-area
table per class. Windows are clipped at the grid edge and only valid cells count, so a border
cell is judged by the neighbours it has; the centre cell is excluded (its own class is inertia,
not neighbourhood). Counts are integers, so any split of rows between threads gives the same
result.

The helpers ``init_columns``/``advance_columns``/``init_window``/``slide_window`` are shared
with the fused transition kernel (:mod:`engine.kernels.transition`), which computes the counts
on the fly instead of storing them.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit, parallel_jit, prange

NODATA_INDEX = 255  # class index of cells outside the study area
BLOCK_ROWS = 64  # rows per parallel block; any value gives the same counts


@jit
def init_columns(index: np.ndarray, row: int, half: int, columns: np.ndarray) -> None:
    """``columns[c, k]`` = cells of class ``k`` in column ``c`` within ``half`` rows of ``row``;
    ``columns[c, K]`` counts valid cells. ``index`` holds class indices (255 = outside). A
    column's counts are contiguous, so sliding the window touches one cache line."""
    rows, cols = index.shape
    n = columns.shape[1] - 1
    columns[:, :] = 0
    for rr in range(max(row - half, 0), min(row + half + 1, rows)):
        for c in range(cols):
            k = index[rr, c]
            if k < n:
                columns[c, k] += 1
                columns[c, n] += 1


@jit
def advance_columns(index: np.ndarray, row: int, half: int, columns: np.ndarray) -> None:
    """Move the column table from rows around ``row`` to rows around ``row + 1``."""
    rows, cols = index.shape
    n = columns.shape[1] - 1
    leaving, entering = row - half, row + half + 1
    if leaving >= 0:
        for c in range(cols):
            k = index[leaving, c]
            if k < n:
                columns[c, k] -= 1
                columns[c, n] -= 1
    if entering < rows:
        for c in range(cols):
            k = index[entering, c]
            if k < n:
                columns[c, k] += 1
                columns[c, n] += 1


@jit
def init_window(columns: np.ndarray, half: int, window: np.ndarray) -> None:
    """``window`` = counts in the window centred on column 0 (columns 0..half)."""
    cols = columns.shape[0]
    window[:] = 0
    for c in range(min(half + 1, cols)):
        for k in range(columns.shape[1]):
            window[k] += columns[c, k]


@jit
def slide_window(columns: np.ndarray, col: int, half: int, window: np.ndarray) -> None:
    """Move ``window`` from the one centred on ``col`` to the one centred on ``col + 1``."""
    cols = columns.shape[0]
    leaving, entering = col - half, col + half + 1
    if entering < cols:
        for k in range(columns.shape[1]):
            window[k] += columns[entering, k]
    if leaving >= 0:
        for k in range(columns.shape[1]):
            window[k] -= columns[leaving, k]


@parallel_jit
def _window_counts(index: np.ndarray, n_classes: int, half: int) -> np.ndarray:
    rows, cols = index.shape
    out = np.zeros((rows, cols, n_classes + 1), dtype=np.int32)
    n_blocks = (rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    for b in prange(n_blocks):
        columns = np.zeros((cols, n_classes + 1), dtype=np.int32)
        window = np.zeros(n_classes + 1, dtype=np.int32)
        r0 = b * BLOCK_ROWS
        init_columns(index, r0, half, columns)
        for r in range(r0, min(r0 + BLOCK_ROWS, rows)):
            init_window(columns, half, window)
            for c in range(cols):
                k = index[r, c]
                for j in range(n_classes + 1):
                    out[r, c, j] = window[j]
                if k < n_classes:  # the centre is not its own neighbour
                    out[r, c, k] -= 1
                    out[r, c, n_classes] -= 1
                slide_window(columns, c, half, window)
            advance_columns(index, r, half, columns)
    return out


def _check_size(size: int) -> None:
    if size < 3 or size % 2 == 0:
        raise ValueError(f"neighbourhood size must be an odd integer >= 3, got {size}")


def window_counts(index: np.ndarray, n_classes: int, size: int) -> np.ndarray:
    """Neighbours of each class around every cell, centre excluded, in a ``size`` window.

    Parameters
    ----------
    index : (rows, cols) uint8 class indices 0..n_classes-1; 255 marks cells outside the
        study area (they are neither counted nor given counts other than their neighbours').
    n_classes : number of classes (at most 254).
    size : odd window width in cells (3 = Moore neighbourhood).

    Returns
    -------
    (rows, cols, n_classes + 1) int32: the last plane is the number of valid neighbours.

    Examples
    --------
    >>> idx = np.array([[1, 1, 0], [0, 0, 0], [0, 0, 255]], dtype=np.uint8)
    >>> window_counts(idx, 2, 3)[1, 1].tolist()  # 5 of class 0, 2 of class 1, 7 valid
    [5, 2, 7]
    """
    _check_size(size)
    if index.ndim != 2:
        raise ValueError(f"index must be 2-D, got shape {index.shape}")
    if not 1 <= n_classes <= 254:
        raise ValueError(f"n_classes must be 1..254, got {n_classes}")
    idx = np.ascontiguousarray(index, dtype=np.uint8)
    return _window_counts(idx, int(n_classes), size // 2)


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
    _check_size(size)
    index = np.where(land_use == code, 1, 0).astype(np.uint8)
    if valid is not None:
        index[~np.asarray(valid, dtype=bool)] = NODATA_INDEX
    counts = window_counts(index, 2, size)
    total = counts[..., 2]
    return np.divide(counts[..., 1], total, out=np.zeros(land_use.shape, np.float32),
                     where=total > 0).astype(np.float32)

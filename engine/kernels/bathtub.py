"""Connected ("bathtub") coastal flooding: a cell floods when its ground is below the water level
and it is linked to the sea through 4-connected cells that also flood.

This is the static, hydraulically connected approximation used for first-pass surge mapping
(e.g. Poulter & Halpin 2008): it ignores flow dynamics and duration, so it over-estimates
inland extent for short surges. Cells with NaN ground (nodata) never flood and block the water.

Two ways to get the same answer:

* :func:`bathtub_depth` floods from the sea for one level (breadth-first fill). It is the slow,
  obviously correct reference.
* :func:`flood_levels` computes once, for every cell, the lowest still-water level at which it is
  flooded from the sea: the minimax path elevation from the sea (the largest ground or defence
  crest on the best path), by the priority-flood of Barnes, Lehman & Mulla (2014, Computers &
  Geosciences 62:117-127) with its plain queue for cells that do not rise. Any level is then one
  comparison per cell (:func:`depth_at_level`), and so is the time a hydrograph keeps each cell
  above a depth (:func:`time_above`).

A cell floods when the level is strictly above every ground elevation and defence crest on its
path (``z < level``, as in the breadth-first fill), so ``flooded = flood_levels < level``.
Defences are crest elevations on cell faces: ``crest_x[r, j]`` sits between cells ``(r, j-1)``
and ``(r, j)`` (shape ``(rows, cols + 1)``), ``crest_y[i, c]`` between ``(i-1, c)`` and ``(i, c)``
(shape ``(rows + 1, cols)``); ``-inf`` means no defence.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit, parallel_jit, prange


@jit
def _flood_fill(elevation: np.ndarray, seeds: np.ndarray, level: float) -> np.ndarray:
    rows, cols = elevation.shape
    flooded = np.zeros((rows, cols), dtype=np.uint8)
    queue = np.empty(rows * cols, dtype=np.int64)
    head = tail = 0
    for i in range(rows * cols):
        r, c = i // cols, i % cols
        if seeds[r, c] and elevation[r, c] < level:  # NaN < level is False
            flooded[r, c] = 1
            queue[tail] = i
            tail += 1
    while head < tail:
        i = queue[head]
        head += 1
        r, c = i // cols, i % cols
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < rows and 0 <= cc < cols and flooded[rr, cc] == 0 \
                    and elevation[rr, cc] < level:
                flooded[rr, cc] = 1
                queue[tail] = rr * cols + cc
                tail += 1
    return flooded


def bathtub_depth(elevation: np.ndarray, sea: np.ndarray, level: float) -> np.ndarray:
    """Water depth (float32, m) for a still water ``level`` entering from the ``sea`` cells.

    Parameters
    ----------
    elevation : (rows, cols) ground elevation in the same datum as ``level``; NaN = nodata.
    sea : (rows, cols) bool, the cells the water comes from.
    level : still-water level (tide + surge + sea-level rise).

    Examples
    --------
    >>> z = np.array([[0., 1., 5., 1.]])          # a dune (5 m) shelters the last cell
    >>> bathtub_depth(z, np.array([[True, False, False, False]]), 2.0).tolist()
    [[2.0, 1.0, 0.0, 0.0]]
    """
    if elevation.shape != sea.shape:
        raise ValueError(f"sea mask shape {sea.shape} differs from elevation {elevation.shape}")
    if not np.isfinite(level):
        raise ValueError(f"water level must be finite, got {level}")
    z = np.ascontiguousarray(elevation, dtype=np.float64)
    flooded = _flood_fill(z, np.ascontiguousarray(sea, dtype=np.uint8), float(level))
    return np.where(flooded == 1, level - z, 0.0).astype(np.float32)


# -- priority-flood: the flooding level of every cell ------------------------------------------
@jit
def _heap_push(keys: np.ndarray, items: np.ndarray, size: int, key: float, item: int):
    """Push onto a binary min-heap, doubling the arrays when full; returns (keys, items,
    size)."""
    if size == keys.size:
        keys = np.concatenate((keys, np.empty(keys.size, keys.dtype)))
        items = np.concatenate((items, np.empty(items.size, items.dtype)))
    i = size
    while i > 0:  # sift up
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i], items[i] = keys[parent], items[parent]
        i = parent
    keys[i], items[i] = key, item
    return keys, items, size + 1


@jit
def _heap_pop(keys: np.ndarray, items: np.ndarray, size: int) -> int:
    """Remove the root (read it before calling); returns the new size."""
    size -= 1
    key, item = keys[size], items[size]
    i = 0
    while True:  # sift the last element down from the root
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if key <= keys[child]:
            break
        keys[i], items[i] = keys[child], items[child]
        i = child
    keys[i], items[i] = key, item
    return size


@jit
def _priority_flood(z: np.ndarray, sea: np.ndarray, open_: np.ndarray, crest_x: np.ndarray,
                    crest_y: np.ndarray) -> np.ndarray:
    """Minimax levels from the sea. Cells leave the queue in order of level; a cell's level
    is final when it leaves (with crests on faces the first level offered is not always the
    lowest, so an offer may be improved before then, as in Dijkstra's algorithm). Offers at the
    current level go to a plain FIFO instead of the heap (Barnes et al. 2014, Alg. 3): they
    cannot be improved."""
    rows, cols = z.shape
    n = rows * cols
    level = np.full((rows, cols), np.inf)
    done = np.zeros((rows, cols), dtype=np.uint8)
    keys = np.empty(max(n, 16), dtype=np.float64)
    items = np.empty(max(n, 16), dtype=np.int64)
    pit = np.empty(n, dtype=np.int64)
    size = head = tail = 0
    for i in range(n):
        r, c = i // cols, i % cols
        if sea[r, c] and open_[r, c]:
            level[r, c] = z[r, c]
            keys, items, size = _heap_push(keys, items, size, z[r, c], i)
    while size > 0 or head < tail:
        if head < tail:
            i = pit[head]
            head += 1
        else:
            i = items[0]
            key = keys[0]
            size = _heap_pop(keys, items, size)
            if done[i // cols, i % cols] or key > level[i // cols, i % cols]:
                continue  # an offer that was improved since
        r, c = i // cols, i % cols
        done[r, c] = 1
        here = level[r, c]
        for k in range(4):
            if k == 0:
                rr, cc, crest = r - 1, c, crest_y[r, c]
            elif k == 1:
                rr, cc, crest = r + 1, c, crest_y[r + 1, c]
            elif k == 2:
                rr, cc, crest = r, c - 1, crest_x[r, c]
            else:
                rr, cc, crest = r, c + 1, crest_x[r, c + 1]
            if rr < 0 or rr >= rows or cc < 0 or cc >= cols or done[rr, cc] \
                    or not open_[rr, cc]:
                continue
            there = max(here, crest, z[rr, cc])
            if there >= level[rr, cc]:
                continue
            level[rr, cc] = there
            if there <= here:  # as low as anything left can be: final now
                done[rr, cc] = 1
                pit[tail] = rr * cols + cc
                tail += 1
            else:
                keys, items, size = _heap_push(keys, items, size, there, rr * cols + cc)
        if head == tail:
            head = tail = 0
    return level


def flood_levels(elevation: np.ndarray, sea: np.ndarray, *, crest_x: np.ndarray | None = None,
                 crest_y: np.ndarray | None = None,
                 blocked: np.ndarray | None = None) -> np.ndarray:
    """The lowest still-water level (m, float64) at which each cell is flooded from the sea.

    A cell is flooded by a level ``w`` exactly when ``flood_levels(...) < w``: the result is
    :func:`bathtub_depth` for every level at once. ``inf`` where no level floods the cell
    (nodata, ``blocked`` cells, cells cut off from the sea by them).

    Parameters
    ----------
    elevation : (rows, cols) ground elevation; NaN = nodata (never floods, blocks the water).
    sea : (rows, cols) bool, the cells the water comes from.
    crest_x, crest_y : optional defence crest elevations on the faces (see the module notes);
        ``-inf`` (or below the ground) where there is none.
    blocked : optional (rows, cols) bool, obstacles that never flood (e.g. buildings).

    Examples
    --------
    >>> z = np.array([[-1., 1., 5., 1.]])
    >>> flood_levels(z, np.array([[True, False, False, False]])).tolist()
    [[-1.0, 1.0, 5.0, 5.0]]
    """
    z = np.ascontiguousarray(elevation, dtype=np.float64)
    rows, cols = z.shape
    if sea.shape != z.shape:
        raise ValueError(f"sea mask shape {sea.shape} differs from elevation {z.shape}")
    cx = _faces(crest_x, (rows, cols + 1), "crest_x")
    cy = _faces(crest_y, (rows + 1, cols), "crest_y")
    open_ = np.isfinite(z)
    if blocked is not None:
        if blocked.shape != z.shape:
            raise ValueError(f"blocked mask shape {blocked.shape} differs from {z.shape}")
        open_ &= ~blocked
    return _priority_flood(z, np.ascontiguousarray(sea, dtype=np.uint8),
                           open_.astype(np.uint8), cx, cy)


def _faces(values: np.ndarray | None, shape: tuple[int, int], name: str) -> np.ndarray:
    if values is None:
        return np.full(shape, -np.inf)
    if values.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {values.shape}")
    return np.ascontiguousarray(np.nan_to_num(values, nan=-np.inf), dtype=np.float64)


@parallel_jit
def _depth_at(z: np.ndarray, levels: np.ndarray, level: float) -> np.ndarray:
    rows, cols = z.shape
    out = np.zeros((rows, cols), dtype=np.float32)
    for r in prange(rows):
        for c in range(cols):
            if levels[r, c] < level:
                out[r, c] = np.float32(level - np.float64(z[r, c]))
    return out


def depth_at_level(elevation: np.ndarray, levels: np.ndarray, level: float) -> np.ndarray:
    """Depth (float32, m) of a still water ``level`` from precomputed :func:`flood_levels`.

    Equal to :func:`bathtub_depth` for the same sea (and no defences), in one pass over the
    cells: a new level costs no new flood fill.

    Examples
    --------
    >>> z = np.array([[-1., 1., 5., 1.]])
    >>> L = flood_levels(z, np.array([[True, False, False, False]]))
    >>> depth_at_level(z, L, 2.0).tolist(), depth_at_level(z, L, 6.0).tolist()
    ([[3.0, 1.0, 0.0, 0.0]], [[7.0, 5.0, 1.0, 5.0]])
    """
    if levels.shape != elevation.shape:
        raise ValueError(f"levels shape {levels.shape} differs from elevation {elevation.shape}")
    if not np.isfinite(level):
        raise ValueError(f"water level must be finite, got {level}")
    return _depth_at(np.ascontiguousarray(elevation), np.ascontiguousarray(levels), float(level))


# -- a hydrograph over the flooding levels ------------------------------------------------------
@parallel_jit
def _time_above(threshold: np.ndarray, times: np.ndarray, values: np.ndarray):
    rows, cols = threshold.shape
    first = np.full((rows, cols), np.nan)
    total = np.zeros((rows, cols))
    for r in prange(rows):
        for c in range(cols):
            th = threshold[r, c]
            if not np.isfinite(th):
                continue
            for k in range(times.size - 1):
                t0, t1, a, b = times[k], times[k + 1], values[k], values[k + 1]
                if a <= th and b <= th:
                    continue
                if a > th and b > th:
                    start, end = t0, t1
                else:  # one crossing inside the segment (linear level)
                    tc = t0 + (th - a) / (b - a) * (t1 - t0)
                    start, end = (tc, t1) if b > a else (t0, tc)
                if end > start:
                    total[r, c] += end - start
                    if np.isnan(first[r, c]):
                        first[r, c] = start
    return first, total


def time_above(threshold: np.ndarray, times: np.ndarray, values: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """When a piecewise-linear series first rises above each cell's ``threshold``, and for how
    long in all (same time unit as ``times``).

    With ``threshold = max(flood_levels, elevation + d)`` this is the arrival time and duration
    of water deeper than ``d`` under a still-water hydrograph ``(times, values)``.

    Returns
    -------
    first : (rows, cols) time of the first exceedance; NaN where the series never exceeds.
    total : (rows, cols) total time above.

    Examples
    --------
    >>> first, total = time_above(np.array([[1.0, 3.0]]), np.array([0., 10., 20.]),
    ...                           np.array([0., 2., 0.]))
    >>> first.tolist(), total.tolist()
    ([[5.0, nan]], [[10.0, 0.0]])
    """
    times = np.ascontiguousarray(times, dtype=np.float64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    if times.shape != values.shape or times.ndim != 1 or times.size < 2:
        raise ValueError("times and values must be 1-D and of the same length >= 2")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must increase strictly")
    return _time_above(np.ascontiguousarray(threshold, dtype=np.float64), times, values)

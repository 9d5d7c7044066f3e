"""Connected ("bathtub") coastal flooding: a cell floods when its ground is below the water level
and it is linked to the sea through 4-connected cells that also flood.

This is the static, hydraulically connected approximation used for first-pass surge mapping
(e.g. Poulter & Halpin 2008): it ignores flow dynamics and duration, so it over-estimates
inland extent for short surges. Cells with NaN ground (nodata) never flood and block the water.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit


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

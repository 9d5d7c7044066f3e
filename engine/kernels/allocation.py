"""Allocation of a demand to the cells of highest potential.

Selection is O(n) (``np.partition``) and deterministic: among cells tied at the threshold the
lowest flat indices win, so the result never depends on sort stability or thread count.
"""

from __future__ import annotations

import numpy as np


def top_cells(potential: np.ndarray, count: int) -> np.ndarray:
    """Flat indices of the ``count`` cells with the highest positive potential.

    Fewer are returned when fewer cells have a positive potential (the caller reports the
    shortfall). Indices come back sorted.

    Examples
    --------
    >>> top_cells(np.array([[0.2, 0.9], [0.9, 0.0]]), 2).tolist()
    [1, 2]
    >>> top_cells(np.array([0.5, 0.5, 0.5]), 2).tolist()  # ties: lowest index first
    [0, 1]
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    flat = potential.ravel()
    positive = np.flatnonzero(flat > 0)
    if count >= positive.size:
        return positive
    if count == 0:
        return positive[:0]
    values = flat[positive]
    threshold = np.partition(values, values.size - count)[values.size - count]
    above = positive[values > threshold]
    ties = positive[values == threshold][: count - above.size]
    return np.sort(np.concatenate([above, ties]))

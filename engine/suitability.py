"""Suitability of cells for development from driver layers.

Here: derived drivers (slope, distance to a class) and a logistic model with given
coefficients (as in the logistic-regression suitability of CLUE-S and FLUS):
``s = 1 / (1 + exp(-(b0 + sum_i b_i x_i)))``, which the sample scenarios use. Suitability
learned from observed change (random forest or logistic regression, per class) is in
:mod:`engine.learning`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from tim.errors import InputError


def slope_degrees(elevation: np.ndarray, cell_size: tuple[float, float]) -> np.ndarray:
    """Terrain slope in degrees by central differences (one-sided at the edges); NaN stays NaN.

    Examples
    --------
    >>> z = np.array([[0., 1., 2.], [0., 1., 2.]])   # rises 1 m per 1 m cell eastwards
    >>> np.round(slope_degrees(z, (1.0, 1.0)), 6).tolist()
    [[45.0, 45.0, 45.0], [45.0, 45.0, 45.0]]
    """
    dz_dy, dz_dx = np.gradient(elevation.astype(np.float64), cell_size[1], cell_size[0])
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy))).astype(np.float32)


def logistic_suitability(drivers: Mapping[str, np.ndarray], coefficients: Mapping[str, float],
                         intercept: float) -> np.ndarray:
    """Logistic suitability (float32, 0..1) from named driver rasters and their coefficients.

    Cells where any used driver is NaN get suitability 0.

    Examples
    --------
    >>> s = logistic_suitability({"slope": np.array([[0.0, 10.0]])}, {"slope": -0.5}, 0.0)
    >>> np.round(s, 4).tolist()
    [[0.5, 0.0067]]
    """
    unknown = set(coefficients) - set(drivers)
    if unknown:
        raise KeyError(f"no driver layer for coefficient(s) {sorted(unknown)}; "
                       f"drivers: {sorted(drivers)}")
    z = np.full(next(iter(drivers.values())).shape, float(intercept))
    for name, b in coefficients.items():
        z = z + b * drivers[name].astype(np.float64)
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-z))
    return np.where(np.isfinite(s), s, 0.0).astype(np.float32)


def distance_to(mask: np.ndarray, cell_size: tuple[float, float]) -> np.ndarray:
    """Euclidean distance (CRS units, float32) from every cell to the nearest ``mask`` cell;
    all NaN when the mask is empty.

    Examples
    --------
    >>> distance_to(np.array([[True, False, False]]), (30.0, 30.0)).tolist()
    [[0.0, 30.0, 60.0]]
    """
    from engine.kernels.distance import squared_distance

    if not mask.any():
        return np.full(mask.shape, np.nan, dtype=np.float32)
    # the distances of scipy.ndimage.distance_transform_edt, 6x faster (the kernel's tests)
    return np.sqrt(squared_distance(mask, (cell_size[1], cell_size[0]))).astype(np.float32)


# -- driver layers derived from land-use maps ---------------------------------------------------
def distance_to_classes(index: np.ndarray, n_classes: int, cell_size: tuple[float, float]
                        ) -> np.ndarray:
    """(K, rows, cols) float32 distance (CRS units) from every cell to the nearest cell of each
    class (:func:`distance_to`; NaN for a class with no cells). Cells outside (index >= K)
    count as no class.

    Examples
    --------
    >>> distance_to_classes(np.array([[0, 1, 1, 255]], np.uint8), 2, (10.0, 10.0)).tolist()
    [[[0.0, 10.0, 20.0, 30.0]], [[10.0, 0.0, 0.0, 10.0]]]
    """
    return np.stack([distance_to(index == k, cell_size) for k in range(n_classes)])


def change_mask(start: np.ndarray, end: np.ndarray, n_classes: int) -> np.ndarray:
    """Cells valid in both maps whose class differs (bool)."""
    return (start < n_classes) & (end < n_classes) & (start != end)


def distance_to_change(start: np.ndarray, end: np.ndarray, n_classes: int,
                       cell_size: tuple[float, float], to_class: int | None = None
                       ) -> np.ndarray:
    """Distance (CRS units, float32) to the nearest cell that changed from ``start`` to
    ``end`` (into ``to_class`` only, if given): the pull of recent change (the "distance to
    recent development" of FUTURES and Dinamica EGO's dynamic distance maps); NaN when nothing
    changed.

    Examples
    --------
    >>> distance_to_change(np.array([[0, 0, 0]]), np.array([[1, 0, 0]]), 2, (5.0, 5.0)).tolist()
    [[0.0, 5.0, 10.0]]
    """
    mask = change_mask(start, end, n_classes)
    if to_class is not None:
        mask &= end == to_class
    return distance_to(mask, cell_size)


def change_history(maps: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """Times each cell changed class along a series of maps (oldest first), float32; NaN where
    any map has no data. A cell that changed before is likelier to change again (or, for
    built-up land, settled): the learner decides which.

    Examples
    --------
    >>> a = np.array([[0, 0, 1]], np.uint8)
    >>> change_history([a, np.array([[1, 0, 1]], np.uint8), np.array([[0, 0, 255]], np.uint8)],
    ...                2).tolist()
    [[2.0, 0.0, nan]]
    """
    if len(maps) < 2:
        raise InputError("a change history needs at least two maps", field="maps",
                         value=len(maps))
    count = np.zeros(np.shape(maps[0]), np.float32)
    valid = np.ones(count.shape, bool)
    for a, b in zip(maps[:-1], maps[1:]):
        valid &= (a < n_classes) & (b < n_classes)
        count += a != b
    return np.where(valid, count, np.nan).astype(np.float32)


def box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2 radius + 1)^2 window around each cell, clipped at the edges (summed-area
    table, O(cells) for any radius).

    Examples
    --------
    >>> box_sum(np.ones((3, 4)), 1).tolist()
    [[4.0, 6.0, 6.0, 4.0], [6.0, 9.0, 9.0, 6.0], [4.0, 6.0, 6.0, 4.0]]
    """
    v = np.asarray(values, dtype=np.float64)
    rows, cols = v.shape
    table = np.zeros((rows + 1, cols + 1))
    table[1:, 1:] = v.cumsum(axis=0).cumsum(axis=1)
    r0 = np.clip(np.arange(rows) - radius, 0, rows)
    r1 = np.clip(np.arange(rows) + radius + 1, 0, rows)
    c0 = np.clip(np.arange(cols) - radius, 0, cols)
    c1 = np.clip(np.arange(cols) + radius + 1, 0, cols)
    return (table[np.ix_(r1, c1)] - table[np.ix_(r0, c1)] - table[np.ix_(r1, c0)]
            + table[np.ix_(r0, c0)])


def neighbourhood_shares(index: np.ndarray, n_classes: int, radius: int) -> np.ndarray:
    """(K, rows, cols) float32 share of each class among the valid cells of the
    (2 radius + 1)^2 window around each cell, the cell itself included (the enrichment factor
    of the neighbourhood, Verburg et al. 2004, at several radii for several scales of
    attraction); NaN where the window has no valid cell.

    Examples
    --------
    >>> neighbourhood_shares(np.array([[0, 1, 255]], np.uint8), 2, 1)[1].tolist()
    [[0.5, 0.5, 1.0]]
    """
    if radius < 0:
        raise InputError("must be >= 0", field="radius", value=radius)
    valid = box_sum(index < n_classes, radius)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.where(valid > 0, box_sum(index == k, radius) / valid, np.nan)
                         for k in range(n_classes)]).astype(np.float32)


def land_use_drivers(index: np.ndarray, n_classes: int, cell_size: tuple[float, float], *,
                     previous: np.ndarray | None = None, history: Sequence[np.ndarray] = (),
                     radii: Sequence[int] = (1, 4, 12)) -> dict[str, np.ndarray]:
    """Driver layers derived from the map at the start of a period (float32, by name):
    ``distance_to_class_<k>``, ``share_<k>_r<radius>`` for each class index ``k``; with the map
    of the period before (``previous``): ``distance_to_change`` and ``distance_to_gain_<k>``
    (cells that became ``k``); with a longer series (``history``, oldest first, ending with
    ``index``): ``changes`` (:func:`change_history`).
    """
    out: dict[str, np.ndarray] = {}
    for k, d in enumerate(distance_to_classes(index, n_classes, cell_size)):
        out[f"distance_to_class_{k}"] = d
    for r in radii:
        for k, s in enumerate(neighbourhood_shares(index, n_classes, r)):
            out[f"share_{k}_r{r}"] = s
    if previous is not None:
        out["distance_to_change"] = distance_to_change(previous, index, n_classes, cell_size)
        for k in range(n_classes):
            out[f"distance_to_gain_{k}"] = distance_to_change(previous, index, n_classes,
                                                               cell_size, to_class=k)
    if len(history) >= 2:
        out["changes"] = change_history(list(history), n_classes)
    return out

"""Suitability of cells for development from driver layers.

Here: derived drivers (slope, distance to a class) and a logistic model with given
coefficients (as in the logistic-regression suitability of CLUE-S and FLUS):
``s = 1 / (1 + exp(-(b0 + sum_i b_i x_i)))``, which the sample scenarios use. Suitability
learned from observed change (random forest or logistic regression, per class) is in
:mod:`engine.learning`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


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
    from scipy import ndimage

    if not mask.any():
        return np.full(mask.shape, np.nan, dtype=np.float32)
    return ndimage.distance_transform_edt(~mask, sampling=(cell_size[1], cell_size[0])
                                          ).astype(np.float32)

"""Vector features onto the territory grid: burning polygons, and counting by centroid."""

from __future__ import annotations

from typing import Any

import numpy as np

from tim.model import Grid


def rasterize(shapes: Any, values: np.ndarray, grid: Grid, dtype: str,
              fill: int | float = 0) -> np.ndarray:
    """Burn ``values`` of ``shapes`` into ``grid`` by cell centre; later shapes overwrite."""
    from affine import Affine
    from rasterio.features import rasterize as burn

    if len(shapes) == 0:
        return np.full(grid.shape, fill, dtype=dtype)
    return burn(zip(shapes, values.tolist()), out_shape=grid.shape,
                transform=Affine(*grid.transform), fill=fill, dtype=dtype)


def centroid_cells(frame: Any, grid: Grid) -> np.ndarray:
    """Flat (row-major) index of the cell holding each feature's centroid; -1 off the grid."""
    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    centroid = frame.geometry.centroid
    col = np.floor((centroid.x.to_numpy() - c) / a).astype(np.int64)
    row = np.floor((centroid.y.to_numpy() - f) / e).astype(np.int64)
    inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
    return np.where(inside, row * cols + col, -1)


def floor_area_by_centroid(buildings: Any, grid: Grid) -> np.ndarray:
    """Sum of footprint area x storeys per cell, each building counted in its centroid's cell."""
    cells = centroid_cells(buildings, grid)
    area = buildings.geometry.area.to_numpy() * buildings["storeys"].to_numpy()
    out = np.bincount(cells[cells >= 0], area[cells >= 0], minlength=grid.shape[0] * grid.shape[1])
    return out.reshape(grid.shape).astype(np.float32)

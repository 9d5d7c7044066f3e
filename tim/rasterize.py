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


def footprint_cell_areas(frame: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area of each feature's polygon in each grid cell it overlaps, as a sparse table.

    Returns ``(ptr, cells, areas)``: feature ``i`` covers flat cells ``cells[ptr[i]:ptr[i+1]]``
    with ``areas[ptr[i]:ptr[i+1]]`` (CRS units squared); parts off the grid are left out.
    Exact polygon-box intersections (shapely), so a footprint smaller than a cell, or astride
    several, is weighed by what it really covers.
    """
    import shapely

    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    geoms = frame.geometry.to_numpy()
    n = len(geoms)
    if n == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0)
    x0, y0, x1, y1 = shapely.bounds(geoms).T
    c0 = np.clip(np.floor((x0 - c) / a), 0, cols - 1).astype(np.int64)
    c1 = np.clip(np.floor((x1 - c) / a), 0, cols - 1).astype(np.int64)
    r0 = np.clip(np.floor((y1 - f) / e), 0, rows - 1).astype(np.int64)
    r1 = np.clip(np.floor((y0 - f) / e), 0, rows - 1).astype(np.int64)
    width, height = c1 - c0 + 1, r1 - r0 + 1
    count = np.where(np.isfinite(x0), width * height, 0)
    owner = np.repeat(np.arange(n), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    row = r0[owner] + k // width[owner]
    col = c0[owner] + k % width[owner]
    boxes = shapely.box(c + col * a, f + (row + 1) * e, c + (col + 1) * a, f + row * e)
    area = shapely.area(shapely.intersection(geoms[owner], boxes))
    keep = area > 0
    owner, cell, area = owner[keep], (row * cols + col)[keep], area[keep]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, owner + 1, 1)
    return np.cumsum(ptr), cell, area

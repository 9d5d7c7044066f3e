"""Vector and 3D features onto the territory grid. The rules, one function each:

* :func:`rasterize` - **cell centre**: a cell takes the value of the (last drawn) shape that
  covers its centre. Used for building heights (tallest drawn last), control lines, planning
  units, zoning and, by default, land-use polygons.
* :func:`rasterize_majority` - **majority**: a cell takes the value covering most of its area,
  estimated on a ``factor`` x ``factor`` lattice of sub-cell centres; uncovered area counts as a
  candidate too (a cell mostly outside every shape stays ``fill``); ties go to the lower value.
* :func:`coverage_fraction` - **fraction**: the exact area of the shapes inside each cell over
  the cell's area (polygon-cell intersections from :func:`cell_areas`, summed, capped at 1).
  Used for the building footprint fraction, where a half-covered cell must not read as 0 or 1.
* :func:`cell_areas` - **areas**: the exact area of each shape in each cell it overlaps, as a
  sparse table (flood exposure of each building weighs its cells by it).
* :func:`floor_area_by_centroid` - **by centroid**: a feature counts in the cell holding its
  centroid (floor area, so totals are kept).
* :func:`rasterize_tin` - a triangulated surface sampled at cell centres by linear
  (barycentric) interpolation inside the triangle covering the centre; NaN where none does.
"""

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
    return burn(zip(shapes, np.asarray(values).tolist()), out_shape=grid.shape,
                transform=Affine(*grid.transform), fill=fill, dtype=dtype)


def rasterize_majority(shapes: Any, values: np.ndarray, grid: Grid, dtype: str, fill: int,
                       factor: int = 4, block_rows: int = 256) -> np.ndarray:
    """Majority value per cell from ``factor``**2 sub-cell centres (module doc).

    Examples
    --------
    >>> import shapely
    >>> g = Grid("EPSG:28992", (1.0, 0.0, 0.0, 0.0, -1.0, 1.0), (1, 2))
    >>> # a shape covering 3/4 of the first cell and 1/4 of the second
    >>> rasterize_majority([shapely.box(0, 0, 1.25, 1)], np.array([5]), g, "uint8", 255)
    array([[  5, 255]], dtype=uint8)
    """
    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    out = np.full(grid.shape, fill, dtype=dtype)
    for r0 in range(0, rows, block_rows):
        r1 = min(rows, r0 + block_rows)
        fine = Grid(grid.crs, (a / factor, 0.0, c, 0.0, e / factor, f + e * r0),
                    ((r1 - r0) * factor, cols * factor))
        burnt = rasterize(shapes, values, fine, dtype, fill)
        samples = burnt.reshape(r1 - r0, factor, cols, factor).transpose(0, 2, 1, 3)
        samples = samples.reshape(r1 - r0, cols, factor * factor)
        candidates = np.unique(samples)
        counts = np.stack([(samples == v).sum(axis=2) for v in candidates])
        out[r0:r1] = candidates[np.argmax(counts, axis=0)]  # argmax: first (lowest) on ties
    return out


def coverage_fraction(shapes: Any, grid: Grid) -> np.ndarray:
    """Exact fraction of each cell's area covered by ``shapes`` (module doc), float32.

    Examples
    --------
    >>> import shapely
    >>> g = Grid("EPSG:28992", (10.0, 0.0, 0.0, 0.0, -10.0, 10.0), (1, 2))
    >>> coverage_fraction([shapely.box(5, 0, 12.5, 10)], g)
    array([[0.5 , 0.25]], dtype=float32)
    """
    _, cells, areas = cell_areas(shapes, grid)
    covered = np.bincount(cells, areas, minlength=grid.shape[0] * grid.shape[1])
    return np.minimum(covered / grid.cell_area, 1.0).reshape(grid.shape).astype(np.float32)


def centroid_cells(frame: Any, grid: Grid) -> np.ndarray:
    """Flat (row-major) index of the cell holding each feature's centroid; -1 off the grid."""
    centroid = frame.geometry.centroid
    return grid.cell_index(centroid.x.to_numpy(), centroid.y.to_numpy())


def floor_area_by_centroid(buildings: Any, grid: Grid) -> np.ndarray:
    """Sum of footprint area x storeys per cell, each building counted in its centroid's cell."""
    cells = centroid_cells(buildings, grid)
    area = buildings.geometry.area.to_numpy() * buildings["storeys"].to_numpy()
    out = np.bincount(cells[cells >= 0], area[cells >= 0], minlength=grid.shape[0] * grid.shape[1])
    return out.reshape(grid.shape).astype(np.float32)


def rasterize_tin(vertices: np.ndarray, triangles: np.ndarray, grid: Grid) -> np.ndarray:
    """Heights of a triangulated surface at the cell centres (module doc), float32.

    Examples
    --------
    >>> g = Grid("EPSG:28992", (1.0, 0.0, 0.0, 0.0, -1.0, 2.0), (2, 2))
    >>> v = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 2.0], [0.0, 2.0, 0.0]])  # z = x
    >>> rasterize_tin(v, np.array([[0, 1, 2]]), g)
    array([[0.5, nan],
           [0.5, 1.5]], dtype=float32)
    """
    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    out = np.full(rows * cols, np.nan)
    p = vertices[triangles]  # (m, 3, 3)
    col_lo = np.ceil((p[:, :, 0].min(axis=1) - c) / a - 0.5).astype(np.int64)
    col_hi = np.floor((p[:, :, 0].max(axis=1) - c) / a - 0.5).astype(np.int64)
    row_lo = np.ceil((p[:, :, 1].max(axis=1) - f) / e - 0.5).astype(np.int64)
    row_hi = np.floor((p[:, :, 1].min(axis=1) - f) / e - 0.5).astype(np.int64)
    tri, row, col = _cells_in_ranges(np.maximum(row_lo, 0), np.minimum(row_hi, rows - 1),
                                     np.maximum(col_lo, 0), np.minimum(col_hi, cols - 1))
    x, y = c + a * (col + 0.5), f + e * (row + 0.5)
    p0, p1, p2 = p[tri, 0], p[tri, 1], p[tri, 2]
    det = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (
        p1[:, 1] - p0[:, 1])
    ok = np.abs(det) > 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        u = ((x - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (y - p0[:, 1])) / det
        v = ((p1[:, 0] - p0[:, 0]) * (y - p0[:, 1]) - (x - p0[:, 0]) * (p1[:, 1] - p0[:, 1])) / det
    eps = 1e-9
    inside = ok & (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps)
    z = p0[:, 2] + u * (p1[:, 2] - p0[:, 2]) + v * (p2[:, 2] - p0[:, 2])
    out[(row * cols + col)[inside]] = z[inside]
    return out.reshape(grid.shape).astype(np.float32)


def cell_areas(shapes: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area of each shape in each grid cell it overlaps, as a sparse table.

    Returns ``(ptr, cells, areas)``: shape ``i`` covers flat cells ``cells[ptr[i]:ptr[i+1]]``
    with ``areas[ptr[i]:ptr[i+1]]`` (CRS units squared); parts off the grid are left out.
    Exact polygon-box intersections (shapely), so a footprint smaller than a cell, or astride
    several, is weighed by what it really covers.

    Examples
    --------
    >>> import shapely
    >>> g = Grid("EPSG:28992", (10.0, 0.0, 0.0, 0.0, -10.0, 10.0), (1, 2))
    >>> cell_areas([shapely.box(5, 0, 12.5, 10), shapely.Polygon()], g)
    (array([0, 2, 2]), array([0, 1]), array([50., 25.]))
    """
    import shapely

    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    geoms = np.asarray(shapes, dtype=object)
    n = len(geoms)
    if n == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0)
    bounds = shapely.bounds(geoms)
    empty = np.isnan(bounds).any(axis=1)  # an empty geometry has NaN bounds: no cells
    x0, y0, x1, y1 = np.where(empty[:, None], 0.0, bounds).T
    c0 = np.clip(np.floor((x0 - c) / a), 0, cols - 1).astype(np.int64)
    c1 = np.clip(np.floor((x1 - c) / a), 0, cols - 1).astype(np.int64)
    r0 = np.clip(np.floor((y1 - f) / e), 0, rows - 1).astype(np.int64)
    r1 = np.clip(np.floor((y0 - f) / e), 0, rows - 1).astype(np.int64)
    owner, row, col = _cells_in_ranges(r0, np.where(empty, r0 - 1, r1), c0, c1)
    boxes = shapely.box(c + col * a, f + (row + 1) * e, c + (col + 1) * a, f + row * e)
    area = shapely.area(shapely.intersection(geoms[owner], boxes))
    keep = area > 0
    owner, cell, area = owner[keep], (row * cols + col)[keep], area[keep]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(ptr, owner + 1, 1)
    return np.cumsum(ptr), cell, area


def _cells_in_ranges(r0: np.ndarray, r1: np.ndarray, c0: np.ndarray,
                     c1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (item, row, col) with ``r0[i] <= row <= r1[i]`` and ``c0[i] <= col <= c1[i]``,
    item by item and row-major within each (none for an item whose range is empty)."""
    width = np.maximum(c1 - c0 + 1, 0)
    count = width * np.maximum(r1 - r0 + 1, 0)
    owner = np.repeat(np.arange(len(count)), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return owner, r0[owner] + k // width[owner], c0[owner] + k % width[owner]

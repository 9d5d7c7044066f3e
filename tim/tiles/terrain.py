"""Terrain tiles: the elevation grid as a quadtree of grid meshes, coarser towards the root.

Policy
------
* **Levels.** Leaves cover ``tile_cells`` x ``tile_cells`` cells at full resolution (one vertex
  per cell centre). Each level up covers 2 x 2 of the tiles below and samples every second
  vertex of theirs, so every tile has at most (``tile_cells`` + 1)^2 vertices whatever its
  level; the root covers the whole grid.
* **Seams.** A tile's samples include the first row and column of its east and south
  neighbours, so tiles of one level share their border vertices and meet without gaps.
* **Nodata.** Triangles touching a cell without elevation are left out (holes stay holes).
* **Geometric error** of a tile = the largest vertical distance between its mesh (interpolated
  linearly, as drawn) and the full-resolution grid over the cells it covers, and never less
  than its children's: the error a viewer accepts by drawing it instead of the leaves. Leaves:
  0. The tileset's error is the root box diagonal, the error of drawing nothing.
* **Refinement** ``REPLACE``: every tile has content and its children replace it, the
  hierarchical level of detail terrain needs (ADD would draw both surfaces on top of each
  other).
* **Normals** are smooth (area-weighted vertex normals), so slopes shade without facets.

Vertices are placed like the buildings' (:mod:`tim.tiles.georef`): projected x, y and the
territory's heights (plus the geoid height if one is given) into the shared local ENU frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tim.errors import InputError
from tim.model import Territory
from tim.tiles.content import TERRAIN_COLOUR, b3dm_content, smooth_normals
from tim.tiles.georef import LocalFrame

log = logging.getLogger(__name__)

#: Cells along a leaf tile's side: 64 -> at most 65^2 = 4225 vertices and 8192 triangles a tile.
TILE_CELLS = 64


@dataclass
class TerrainTile:
    """One node of the terrain pyramid (cells ``rows`` x ``cols`` sampled every ``stride``)."""

    address: str
    level: int
    stride: int
    rows: tuple[int, int]  # first, last cell row sampled (inclusive)
    cols: tuple[int, int]
    children: list[TerrainTile]
    content: object | None = None
    lower: np.ndarray | None = None  # ENU box of the stored vertices
    upper: np.ndarray | None = None
    error: float = 0.0
    triangles: int = 0
    vertices: int = 0


def terrain_pyramid(shape: tuple[int, int], tile_cells: int = TILE_CELLS) -> TerrainTile:
    """The quadtree of tiles over a grid of ``shape`` (no content yet).

    Examples
    --------
    >>> root = terrain_pyramid((100, 70), tile_cells=32)
    >>> root.stride, len(root.children), [c.stride for c in root.children]
    (4, 4, [2, 2, 2, 2])
    >>> sum(1 for _ in _walk(root) if not _.children)  # leaves: ceil(100/32) x ceil(70/32)
    12
    """
    if tile_cells < 2:
        raise InputError("terrain tiles need at least 2 cells a side", field="tile_cells",
                         value=tile_cells)
    rows, cols = shape
    levels = max(0, int(np.ceil(np.log2(max(rows, cols) / tile_cells))))

    def node(address: str, level: int, r0: int, c0: int) -> TerrainTile | None:
        stride = 2 ** (levels - level)
        span = tile_cells * stride
        if r0 >= rows or c0 >= cols:
            return None
        r1, c1 = min(r0 + span, rows - 1), min(c0 + span, cols - 1)
        children = []
        if level < levels:
            half = span // 2
            for q, (dr, dc) in enumerate(((0, 0), (0, half), (half, 0), (half, half))):
                child = node(address + str(q), level + 1, r0 + dr, c0 + dc)
                if child is not None:
                    children.append(child)
        return TerrainTile(address, level, stride, (r0, r1), (c0, c1), children)

    return node("", 0, 0, 0)


def _walk(tile: TerrainTile):
    yield tile
    for child in tile.children:
        yield from _walk(child)


def _samples(tile: TerrainTile, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices a tile samples: every ``stride``, plus its last row/column."""
    r = np.arange(tile.rows[0], tile.rows[1] + 1, tile.stride)
    c = np.arange(tile.cols[0], tile.cols[1] + 1, tile.stride)
    if r[-1] != tile.rows[1]:
        r = np.append(r, tile.rows[1])
    if c[-1] != tile.cols[1]:
        c = np.append(c, tile.cols[1])
    return r, c


def _grid_mesh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles (two per quad, none touching NaN) of a sample grid and the vertices used."""
    nr, nc = z.shape
    index = np.arange(nr * nc).reshape(nr, nc)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    # rows run north to south: (a, c, b) and (b, c, d) are counter-clockwise seen from above
    tri = np.concatenate([np.column_stack([a, c, b]), np.column_stack([b, c, d])])
    ok = np.isfinite(z.ravel())
    tri = tri[ok[tri].all(axis=1)]
    return tri, ok


def _deviation(elevation: np.ndarray, tile: TerrainTile, r: np.ndarray, c: np.ndarray) -> float:
    """Largest |full grid - tile surface| over the tile's cells, the surface being the two
    triangles drawn in each sample quad (split along the north-east to south-west diagonal,
    as :func:`_grid_mesh` does)."""
    if tile.stride == 1 or len(r) < 2 or len(c) < 2:
        return 0.0
    full = elevation[tile.rows[0]:tile.rows[1] + 1, tile.cols[0]:tile.cols[1] + 1].astype(float)
    coarse = elevation[np.ix_(r, c)].astype(float)
    rr = np.arange(tile.rows[0], tile.rows[1] + 1)
    cc = np.arange(tile.cols[0], tile.cols[1] + 1)
    i = np.clip(np.searchsorted(r, rr, side="right") - 1, 0, len(r) - 2)  # quad row
    j = np.clip(np.searchsorted(c, cc, side="right") - 1, 0, len(c) - 2)  # quad column
    v = ((rr - r[i]) / (r[i + 1] - r[i]))[:, None]  # 0..1 southwards
    u = ((cc - c[j]) / (c[j + 1] - c[j]))[None, :]  # 0..1 eastwards
    a = coarse[i][:, j]           # north-west
    b = coarse[i][:, j + 1]       # north-east
    cw = coarse[i + 1][:, j]      # south-west
    d = coarse[i + 1][:, j + 1]   # south-east
    upper = u + v <= 1  # triangle (a, c, b), else (b, c, d)
    drawn = np.where(upper, a + u * (b - a) + v * (cw - a),
                     d + (1 - u) * (cw - d) + (1 - v) * (b - d))
    diff = np.abs(full - drawn)
    return float(np.nanmax(diff)) if np.isfinite(diff).any() else 0.0


#: Tint blended over the land-use colour where a control line (the ecological red line, or
#: its stand-in) covers the cell, and how much of it: the class stays readable underneath.
PROTECTED_TINT, PROTECTED_WEIGHT = (1.0, 0.85, 0.2), 0.45


def drape_colours(territory: Territory) -> np.ndarray:
    """Linear RGB (rows, cols, 3) of the land-use class colours, tinted where the ecological
    red line lies (:data:`PROTECTED_TINT`); grey where there is no land use.

    Examples
    --------
    >>> from tim.model import Grid
    >>> from tim.classes import DEFAULT_CLASSES
    >>> t = Territory(Grid("EPSG:2326", (10.0, 0, 0, 0, -10.0, 10.0), (1, 2)), DEFAULT_CLASSES)
    >>> t.set_field("land_use__class", np.array([[7, 255]], np.uint8))
    >>> drape_colours(t).round(3).tolist()
    [[[0.672, 0.06, 0.053], [0.5, 0.5, 0.5]]]
    """
    if "land_use__class" not in territory.fields:
        raise InputError("draping needs land_use__class", field="land_use__class")
    table = np.full((256, 3), 0.5)
    for c in territory.classes:
        srgb = np.array([int(c.colour[i:i + 2], 16) / 255.0 for i in (1, 3, 5)])
        table[c.code] = np.where(srgb <= 0.04045, srgb / 12.92,
                                 ((srgb + 0.055) / 1.055) ** 2.4)  # glTF colours are linear
    rgb = table[territory.fields["land_use__class"]]
    red = territory.fields.get("control__ecological_red_line")
    if red is not None:
        tint = np.asarray(PROTECTED_TINT)
        rgb = np.where((red > 0)[..., None],
                       (1 - PROTECTED_WEIGHT) * rgb + PROTECTED_WEIGHT * tint, rgb)
    return rgb


def build_terrain_tiles(territory: Territory, frame: LocalFrame,
                        tile_cells: int = TILE_CELLS, *, drape: bool = False) -> TerrainTile:
    """The terrain pyramid with b3dm content, boxes and errors (module doc).

    Raises
    ------
    InputError
        The territory has no ``terrain__elevation`` or it holds no data.
    """
    if "terrain__elevation" not in territory.fields:
        raise InputError(f"territory {territory.name!r} has no terrain__elevation field",
                         field="terrain__elevation", hint="add an elevation source")
    elevation = territory.fields["terrain__elevation"].astype(float)
    if not np.isfinite(elevation).any():
        raise InputError("terrain__elevation holds no data", field="terrain__elevation")
    rows, cols = elevation.shape
    xc, yc = territory.grid.cell_centres()
    colours = drape_colours(territory) if drape else None
    root = terrain_pyramid((rows, cols), tile_cells)
    for tile in sorted(_walk(root), key=lambda t: -t.level):  # leaves first: errors go up
        r, c = _samples(tile, rows, cols)
        z = elevation[np.ix_(r, c)]
        triangles, ok = _grid_mesh(z)
        child_error = max((child.error for child in tile.children), default=0.0)
        tile.error = max(_deviation(elevation, tile, r, c), child_error)
        if len(triangles) == 0:
            continue
        xx, yy = np.meshgrid(xc[c], yc[r])
        used, inverse = np.unique(triangles, return_inverse=True)
        xyz = np.column_stack([xx.ravel()[used], yy.ravel()[used], z.ravel()[used]])
        local = frame.to_local(xyz)
        tri = inverse.reshape(-1, 3)
        draped = None if colours is None else colours[np.ix_(r, c)].reshape(-1, 3)[used]
        tile.content = b3dm_content(local, smooth_normals(local, tri), tri,
                                    colour=TERRAIN_COLOUR, name="terrain",
                                    vertex_colours=draped)
        stored = local.astype(np.float32).astype(float)
        tile.lower, tile.upper = stored.min(axis=0), stored.max(axis=0)
        tile.triangles, tile.vertices = len(tri), len(local)
    return root


def prune(tile: TerrainTile) -> TerrainTile | None:
    """The pyramid without tiles that hold no triangles anywhere below them."""
    tile.children = [c for c in (prune(child) for child in tile.children) if c is not None]
    if tile.content is None and not tile.children:
        return None
    return tile

"""Sun rays from points past building prisms and a terrain raster: which obstruction, if any,
stands between each point and the sun at each time.

Buildings are vertical prisms: a footprint's edges (walls) from a base height to a top height
(LoD1; an LoD2 building enters with its highest point, which is conservative). A ray leaving a
point ``p`` towards the sun rises by ``slope = tan(elevation)`` per metre of horizontal
distance; it enters a prism through a wall, so it is blocked by the prism exactly when it
crosses one of its walls at a height in ``[base, top)``. Crossings are found in 2D (ray against
segment), accelerated by a uniform grid of the walls walked along the ray (Amanatides & Woo) and
stopped where the ray rises above the tallest wall (of the cell, and of the whole scene).

Terrain is a raster of flat-topped cells walked by :func:`engine.kernels.raycast._walk` (the
sightline kernel) from the point to where the ray rises above the highest ground; the cell
holding the point does not count (the point stands on it).

Results are codes per (point, time): :data:`SUNLIT`, :data:`AWAY` (the sun is below the
horizon, or behind the façade the point sits on), :data:`TERRAIN`, or the index (>= 0) of the
building whose wall blocks the ray first along the walk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine._numba import jit, parallel_jit, prange
from engine.kernels.raycast import _walk

SUNLIT = -1
AWAY = -2
TERRAIN = -3
#: Crossings nearer than this (m) to the ray's start are the point's own wall.
_NEAR = 1e-6


@dataclass(frozen=True)
class Scene:
    """Walls of building prisms in a uniform grid, and a terrain raster, in local metres.

    ``walls`` (m, 4): x1, y1, x2, y2; ``owner`` (m,): building index; ``base``/``top`` (b,);
    the wall grid has its lower-left corner at ``origin``, square cells of ``cell`` m,
    ``shape`` (rows, cols) with row 0 at the south; ``start``/``items`` are its CSR lists of
    wall indices and ``cell_top`` the highest top per cell. ``terrain`` (rows, cols) is north-up
    with ``terrain_transform`` (x0, dx, y0, dy) in the same local frame (dy < 0), NaN: no data.
    """

    walls: np.ndarray
    owner: np.ndarray
    base: np.ndarray
    top: np.ndarray
    origin: tuple[float, float]
    cell: float
    shape: tuple[int, int]
    start: np.ndarray
    items: np.ndarray
    cell_top: np.ndarray
    terrain: np.ndarray
    terrain_transform: tuple[float, float, float, float]


def build_scene(rings: list[np.ndarray], ring_owner: np.ndarray, base: np.ndarray,
                top: np.ndarray, bounds: tuple[float, float, float, float], *,
                terrain: np.ndarray | None = None,
                terrain_transform: tuple[float, float, float, float] = (0.0, 1.0, 0.0, -1.0),
                cell: float = 10.0) -> Scene:
    """A :class:`Scene` from closed rings (each (k, 2), first point repeated or not) owned by
    buildings ``ring_owner``, each building from ``base`` to ``top``; ``bounds`` (xmin, ymin,
    xmax, ymax) is the area the rays are followed over."""
    segments = []
    owners = []
    for ring, who in zip(rings, ring_owner):
        ring = np.asarray(ring, dtype=np.float64)[:, :2]
        if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
            ring = ring[:-1]
        if len(ring) < 2:
            continue
        segments.append(np.hstack([ring, np.roll(ring, -1, axis=0)]))
        owners.append(np.full(len(ring), who, dtype=np.int64))
    walls = np.vstack(segments) if segments else np.zeros((0, 4))
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    xmin, ymin, xmax, ymax = bounds
    cols = max(1, int(np.ceil((xmax - xmin) / cell)))
    rows = max(1, int(np.ceil((ymax - ymin) / cell)))
    start, items, cell_top = _grid_walls(walls, owner, np.asarray(top, dtype=np.float64),
                                         xmin, ymin, cell, rows, cols)
    if terrain is None:
        terrain = np.full((1, 1), np.nan)
    return Scene(walls, owner, np.asarray(base, dtype=np.float64),
                 np.asarray(top, dtype=np.float64), (float(xmin), float(ymin)), float(cell),
                 (rows, cols), start, items, cell_top, np.ascontiguousarray(terrain, np.float64),
                 tuple(float(v) for v in terrain_transform))


def _grid_walls(walls: np.ndarray, owner: np.ndarray, top: np.ndarray, x0: float, y0: float,
                cell: float, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists of the walls whose bounding box meets each cell (conservative), and the
    highest top per cell (-inf: none)."""
    c0 = np.clip(np.floor((np.minimum(walls[:, 0], walls[:, 2]) - x0) / cell), 0, cols - 1)
    c1 = np.clip(np.floor((np.maximum(walls[:, 0], walls[:, 2]) - x0) / cell), 0, cols - 1)
    r0 = np.clip(np.floor((np.minimum(walls[:, 1], walls[:, 3]) - y0) / cell), 0, rows - 1)
    r1 = np.clip(np.floor((np.maximum(walls[:, 1], walls[:, 3]) - y0) / cell), 0, rows - 1)
    cells, wall_of = [], []
    for k in range(len(walls)):
        rr, cc = np.meshgrid(np.arange(r0[k], r1[k] + 1), np.arange(c0[k], c1[k] + 1),
                             indexing="ij")
        cells.append((rr * cols + cc).ravel().astype(np.int64))
        wall_of.append(np.full(rr.size, k, dtype=np.int64))
    flat = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
    which = np.concatenate(wall_of) if wall_of else np.zeros(0, dtype=np.int64)
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=rows * cols)
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cell_top = np.full(rows * cols, -np.inf)
    if len(flat):
        np.maximum.at(cell_top, flat, top[owner[which]])
    return start, which[order], cell_top


@jit
def _hit_walls(px, py, pz, dx, dy, slope, walls, owner, base, top, x0, y0, cell, rows, cols,
               start, items, cell_top, zmax):
    """The building whose wall the ray crosses first in walk order within its height span,
    or -1."""
    u = (px - x0) / cell
    v = (py - y0) / cell
    c = int(np.floor(u))
    r = int(np.floor(v))
    su = 1 if dx > 0 else (-1 if dx < 0 else 0)
    sv = 1 if dy > 0 else (-1 if dy < 0 else 0)
    t_u = ((c + (su > 0)) * cell + x0 - px) / dx if su != 0 else np.inf
    t_v = ((r + (sv > 0)) * cell + y0 - py) / dy if sv != 0 else np.inf
    step_u = cell / abs(dx) if su != 0 else np.inf
    step_v = cell / abs(dy) if sv != 0 else np.inf
    t_max = (zmax - pz) / slope if slope > 0 else np.inf
    t = 0.0
    while 0 <= r < rows and 0 <= c < cols and t <= t_max:
        k = r * cols + c
        if cell_top[k] > pz + t * slope:
            for i in range(start[k], start[k + 1]):
                w = items[i]
                ax, ay = walls[w, 0], walls[w, 1]
                ex, ey = walls[w, 2] - ax, walls[w, 3] - ay
                den = dx * ey - dy * ex
                if den == 0.0:
                    continue  # parallel to the wall: grazing is not blocking
                qx, qy = ax - px, ay - py
                s = (qx * ey - qy * ex) / den  # distance along the ray
                f = (qx * dy - qy * dx) / den  # fraction along the wall
                if s > _NEAR and 0.0 <= f <= 1.0:
                    z = pz + s * slope
                    b = owner[w]
                    if base[b] <= z < top[b]:
                        return b
        if t_u < t_v:
            t = t_u
            c += su
            t_u += step_u
        else:
            t = t_v
            r += sv
            t_v += step_v
    return -1


@jit
def _hit_terrain(px, py, pz, dx, dy, slope, terrain, labels, tx0, tdx, ty0, tdy, tmax_z, cells,
                 t_in, t_out, excess):
    """True when the terrain rises above the ray before the ray rises above ``tmax_z``."""
    rows, cols = terrain.shape
    if not tmax_z > pz:
        return False  # no ground above the point (or no terrain at all)
    u0 = (px - tx0) / tdx
    v0 = (py - ty0) / tdy
    if not (0 <= u0 <= cols and 0 <= v0 <= rows):
        return False
    # Where the ray rises above the highest ground, plus two cells: the walk skips its last
    # cell. The end may lie off the raster; the walk skips cells off it.
    size = abs(tdx) * (rows + cols + 2)
    reach = (tmax_z - pz) / slope + 2.0 * abs(tdx) if slope > 0 else size
    if reach > size:
        reach = size
    du, dv = dx / tdx, dy / tdy
    n = _walk(terrain, np.nan, labels, -2, u0, v0, pz, u0 + du * reach, v0 + dv * reach,
              pz + slope * reach, cells, t_in, t_out, excess)
    for i in range(n):
        if excess[i] > 0.0:
            return True
    return False


@parallel_jit
def _batch(points, normals, sun, walls, owner, base, top, x0, y0, cell, rows, cols, start,
           items, cell_top, zmax, terrain, labels, tx0, tdx, ty0, tdy, tmax_z, min_cos, out):
    size = terrain.shape[0] + terrain.shape[1] + 2
    for p in prange(points.shape[0]):  # each point writes its own row
        cells = np.empty(size, dtype=np.int64)
        t_in = np.empty(size)
        t_out = np.empty(size)
        excess = np.empty(size)
        px, py, pz = points[p, 0], points[p, 1], points[p, 2]
        nx, ny = normals[p, 0], normals[p, 1]
        for j in range(sun.shape[0]):
            ux, uy, uz = sun[j, 0], sun[j, 1], sun[j, 2]
            h = np.sqrt(ux * ux + uy * uy)
            facade = nx != 0.0 or ny != 0.0
            if uz <= 0.0 or h == 0.0 or (facade and nx * ux + ny * uy <= min_cos * h):
                out[p, j] = AWAY
                continue
            dx, dy, slope = ux / h, uy / h, uz / h
            b = _hit_walls(px, py, pz, dx, dy, slope, walls, owner, base, top, x0, y0, cell,
                           rows, cols, start, items, cell_top, zmax)
            if b >= 0:
                out[p, j] = b
            elif _hit_terrain(px, py, pz, dx, dy, slope, terrain, labels, tx0, tdx, ty0, tdy,
                              tmax_z, cells, t_in, t_out, excess):
                out[p, j] = TERRAIN
            else:
                out[p, j] = SUNLIT


def sun_codes(scene: Scene, points: np.ndarray, normals: np.ndarray, sun: np.ndarray, *,
              min_incidence: float = 0.0) -> np.ndarray:
    """Code per (point, sun direction), shape (points, times), int32 (module doc).

    ``points`` (n, 3) in the scene's frame; ``normals`` (n, 2): the outward horizontal normal
    of the façade each point sits on, or (0, 0) for a point on open ground (any direction);
    ``sun`` (t, 3): unit vectors towards the sun (east, north, up). A façade point gets no sun
    when the sun is less than ``min_incidence`` degrees in front of its façade.

    Examples
    --------
    A 10 m wide, 10 m high box 5 m south of a point at 1 m, the sun due south at 45 deg (the ray
    meets its north wall 5 m away at 1 + 5 tan 45 = 6 m: shaded) and at 70 deg (at 14.7 m: clear):

    >>> box = np.array([[-5.0, -15.0], [5.0, -15.0], [5.0, -5.0], [-5.0, -5.0]])
    >>> scene = build_scene([box], np.array([0]), np.array([0.0]), np.array([10.0]),
    ...                     (-20.0, -20.0, 20.0, 20.0))
    >>> s45, s70 = np.radians(45.0), np.radians(70.0)
    >>> sun = np.array([[0.0, -np.cos(s45), np.sin(s45)], [0.0, -np.cos(s70), np.sin(s70)]])
    >>> sun_codes(scene, np.array([[0.0, 0.0, 1.0]]), np.array([[0.0, -1.0]]), sun).tolist()
    [[0, -1]]
    """
    points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    normals = np.ascontiguousarray(normals, dtype=np.float64).reshape(-1, 2)
    sun = np.ascontiguousarray(sun, dtype=np.float64).reshape(-1, 3)
    if len(points) != len(normals):
        raise ValueError("give one normal per point")
    out = np.empty((len(points), len(sun)), dtype=np.int32)
    if not len(points) or not len(sun):
        return out
    zmax = float(scene.top.max()) if len(scene.top) else -np.inf
    terrain = scene.terrain
    finite = terrain[np.isfinite(terrain)]
    tmax_z = float(finite.max()) if finite.size else -np.inf
    labels = np.broadcast_to(np.int64(-1), terrain.shape)
    tx0, tdx, ty0, tdy = scene.terrain_transform
    min_cos = float(np.sin(np.radians(min_incidence)))
    rows, cols = scene.shape
    _batch(points, normals, sun, scene.walls, scene.owner, scene.base, scene.top,
           scene.origin[0], scene.origin[1], scene.cell, rows, cols, scene.start, scene.items,
           scene.cell_top, zmax, terrain, labels, tx0, tdx, ty0, tdy, tmax_z, min_cos, out)
    return out

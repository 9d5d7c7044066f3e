"""A slow, independent reference for :mod:`engine.kernels.shadow`: every ray tested against
every wall of every prism (no grid, no early stop), and the terrain sampled along the ray at a
tenth of a cell; and a peer ray caster, Embree (trimesh + embreex) on the same prisms and
terrain as a triangle mesh. Used by tests/test_sunlight.py and benchmarks/bench_sunlight.py."""

from __future__ import annotations

from typing import Any

import numpy as np


def walls_of(rings: list[np.ndarray], ring_owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments (x1, y1, x2, y2) of closed rings and their owners."""
    segs, owners = [], []
    for ring, who in zip(rings, ring_owner):
        ring = np.asarray(ring, dtype=float)[:, :2]
        if np.array_equal(ring[0], ring[-1]):
            ring = ring[:-1]
        for k in range(len(ring)):
            a, b = ring[k], ring[(k + 1) % len(ring)]
            segs.append([a[0], a[1], b[0], b[1]])
            owners.append(who)
    return np.array(segs, dtype=float).reshape(-1, 4), np.array(owners, dtype=int)


def sunlit(walls: np.ndarray, owner: np.ndarray, base: np.ndarray, top: np.ndarray,
           points: np.ndarray, normals: np.ndarray, sun: np.ndarray, *,
           terrain: np.ndarray | None = None,
           terrain_transform: tuple[float, float, float, float] = (0.0, 1.0, 0.0, -1.0),
           min_incidence: float = 0.0) -> np.ndarray:
    """True where the sun reaches the point (shape points x times)."""
    out = np.zeros((len(points), len(sun)), dtype=bool)
    wall_base, wall_top = base[owner], top[owner]
    ax, ay = walls[:, 0], walls[:, 1]
    ex, ey = walls[:, 2] - ax, walls[:, 3] - ay
    for p, (point, normal) in enumerate(zip(points, normals)):
        px, py, pz = point
        for j, (ux, uy, uz) in enumerate(sun):
            h = np.hypot(ux, uy)
            if uz <= 0:
                continue
            if np.any(normal != 0) and normal @ (ux, uy) <= np.sin(np.radians(min_incidence)) * h:
                continue
            dx, dy, slope = ux / h, uy / h, uz / h
            with np.errstate(divide="ignore", invalid="ignore"):
                den = dx * ey - dy * ex
                s = ((ax - px) * ey - (ay - py) * ex) / den
                f = ((ax - px) * dy - (ay - py) * dx) / den
            z = pz + s * slope
            hit = (den != 0) & (s > 1e-6) & (f >= 0) & (f <= 1) & (z >= wall_base) & (z < wall_top)
            if hit.any():
                continue
            if terrain is not None and _terrain_blocks(terrain, terrain_transform, px, py, pz,
                                                       dx, dy, slope):
                continue
            out[p, j] = True
    return out


def _terrain_blocks(terrain, transform, px, py, pz, dx, dy, slope) -> bool:
    x0, cdx, y0, cdy = transform
    rows, cols = terrain.shape
    top = np.nanmax(terrain) if np.isfinite(terrain).any() else -np.inf
    if top <= pz:
        return False
    reach = (top - pz) / slope
    s = np.arange(0.0, reach, abs(cdx) / 10)
    c = np.floor((px + s * dx - x0) / cdx).astype(int)
    r = np.floor((py + s * dy - y0) / cdy).astype(int)
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    own = (r == r[0]) & (c == c[0])
    keep = inside & ~own
    ground = terrain[r[keep], c[keep]]
    return bool(np.any(ground > pz + s[keep] * slope))


# -- Embree: the same prisms and terrain as a triangle mesh, rays cast by trimesh + embreex ------
def prism_and_terrain_mesh(walls: np.ndarray, owner: np.ndarray, base: np.ndarray,
                           top: np.ndarray, *, terrain: np.ndarray | None = None,
                           terrain_transform: tuple[float, float, float, float] = (
                               0.0, 1.0, 0.0, -1.0), floor: float = -np.inf) -> Any:
    """A trimesh of the scene :mod:`engine.kernels.shadow` walks: every wall a vertical quad
    from its building's base to its top, and the terrain as flat-topped cells (each cell's top,
    and a vertical face wherever a cell stands above its neighbour; no data and off the raster
    count as ``floor``). Only what rises above ``floor`` (the lowest ray start) can stop a
    ray, so nothing lower is meshed. Two triangles per quad, vertices not shared."""
    import trimesh

    quads = []
    if len(walls):
        b, t = base[owner], top[owner]
        quads.append(np.stack([np.column_stack([walls[:, 0], walls[:, 1], b]),
                               np.column_stack([walls[:, 2], walls[:, 3], b]),
                               np.column_stack([walls[:, 2], walls[:, 3], t]),
                               np.column_stack([walls[:, 0], walls[:, 1], t])], axis=1))
    if terrain is not None and np.isfinite(floor):
        x0, dx, y0, dy = terrain_transform
        z = np.where(np.isfinite(terrain), terrain, floor)
        z = np.pad(z, 1, constant_values=floor)  # row/col 0 is off the raster
        rows, cols = z.shape
        xs = x0 + (np.arange(cols + 1) - 1) * dx  # the west edge of padded column c
        ys = y0 + (np.arange(rows + 1) - 1) * dy  # the north edge of padded row r
        r, c = np.nonzero(z > floor)
        h = z[r, c]
        quads.append(np.stack([np.column_stack([xs[c], ys[r], h]),
                               np.column_stack([xs[c + 1], ys[r], h]),
                               np.column_stack([xs[c + 1], ys[r + 1], h]),
                               np.column_stack([xs[c], ys[r + 1], h])], axis=1))
        # vertical faces between horizontal neighbours (shared x edge), then vertical ones
        lo, hi = np.minimum(z[:, :-1], z[:, 1:]), np.maximum(z[:, :-1], z[:, 1:])
        r, c = np.nonzero(hi > lo)
        x = xs[c + 1]
        quads.append(np.stack([np.column_stack([x, ys[r], lo[r, c]]),
                               np.column_stack([x, ys[r + 1], lo[r, c]]),
                               np.column_stack([x, ys[r + 1], hi[r, c]]),
                               np.column_stack([x, ys[r], hi[r, c]])], axis=1))
        lo, hi = np.minimum(z[:-1, :], z[1:, :]), np.maximum(z[:-1, :], z[1:, :])
        r, c = np.nonzero(hi > lo)
        y = ys[r + 1]
        quads.append(np.stack([np.column_stack([xs[c], y, lo[r, c]]),
                               np.column_stack([xs[c + 1], y, lo[r, c]]),
                               np.column_stack([xs[c + 1], y, hi[r, c]]),
                               np.column_stack([xs[c], y, hi[r, c]])], axis=1))
    q = np.concatenate(quads) if quads else np.zeros((0, 4, 3))
    vertices = q.reshape(-1, 3)
    k = np.arange(len(q))[:, None] * 4
    faces = np.vstack([k + [0, 1, 2], k + [0, 2, 3]])
    return trimesh.Trimesh(vertices, faces, process=False)


def embree_intersector(mesh: Any) -> Any:
    """trimesh's Embree intersector of ``mesh`` (its BVH is built on the first query)."""
    from trimesh.ray.ray_pyembree import RayMeshIntersector

    return RayMeshIntersector(mesh)


def embree_sunlit(mesh: Any, points: np.ndarray, normals: np.ndarray, sun: np.ndarray, *,
                  min_incidence: float = 0.0, start: float = 1e-6) -> np.ndarray:
    """True where the sun reaches the point (points x times): the sun above the horizon and in
    front of the façade, and Embree's any-hit query finds no triangle of ``mesh`` on the ray
    (which starts ``start`` m out along it, as the kernel ignores nearer crossings).

    ``mesh``: a trimesh, or its :func:`embree_intersector` (to keep the BVH between calls).
    Geometry in the mesh's frame; Embree computes in float32, so give a local frame."""
    points = np.asarray(points, dtype=float)
    sun = np.asarray(sun, dtype=float)
    h = np.hypot(sun[:, 0], sun[:, 1])
    facade = np.any(np.asarray(normals) != 0, axis=1)
    front = np.asarray(normals, dtype=float) @ sun[:, :2].T > \
        np.sin(np.radians(min_incidence)) * h[None, :]
    cast = (sun[:, 2] > 0)[None, :] & (h > 0)[None, :] & (front | ~facade[:, None])
    p, t = np.nonzero(cast)
    out = np.zeros(cast.shape, dtype=bool)
    intersector = mesh if hasattr(mesh, "intersects_any") else embree_intersector(mesh)
    if not len(p) or not len(intersector.mesh.faces):
        out[p, t] = True
        return out
    directions = sun[t]
    origins = points[p] + start * directions
    hit = intersector.intersects_any(origins, directions)
    out[p, t] = ~hit
    return out

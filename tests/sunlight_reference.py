"""A slow, independent reference for :mod:`engine.kernels.shadow`: every ray tested against
every wall of every prism (no grid, no early stop), and the terrain sampled along the ray at a
tenth of a cell. Used by tests/test_sunlight.py and benchmarks/bench_sunlight.py."""

from __future__ import annotations

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

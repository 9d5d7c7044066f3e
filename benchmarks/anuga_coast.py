"""The 1-hour coastal case of ``bench_surge.py`` in ANUGA (Geoscience Australia's finite-volume
shallow-water code), importable without the project so it can run in a separate environment:

    /path/to/anuga-venv/bin/python benchmarks/anuga_coast.py 20 out.npz

writes the maximum depth per grid cell (the mean over the four triangles of each square),
the wall time of ``evolve`` and the number of triangles. ``bench_surge.py`` runs it in process
when ANUGA imports there, else through ``$ANUGA_PYTHON`` (ANUGA and the project's pinned NumPy
and Numba need not share a virtual environment).
"""

from __future__ import annotations

import sys
import time

import numpy as np

LX, LY, T = 2000.0, 1500.0, 3600.0
LEVEL_T, LEVEL_V = np.array([0, 1200, 2400, 3600.0]), np.array([0.0, 2.5, 2.5, 1.0])
MANNING = 0.03


def ground(x, y):
    """A coast: sea to the south, a dune ridge at y = 600 m with a gap at x = 1400 m, a
    hollow behind it."""
    z = -2.0 + 0.004 * y
    ridge = 3.2 * np.exp(-((y - 600) / 60) ** 2) * (1 - 0.9 * np.exp(-((x - 1400) / 80) ** 2))
    hollow = -1.5 * np.exp(-(((x - 700) / 250) ** 2 + ((y - 900) / 150) ** 2))
    return z + ridge + hollow


def run(cell: float) -> tuple[np.ndarray, float, int]:
    """ANUGA (DE0) on ``cell``-sized squares of four triangles: still water at 0 m where the
    ground is below it, the level imposed on the south edge, walls elsewhere."""
    import anuga

    nx, ny = int(LX / cell), int(LY / cell)
    domain = anuga.rectangular_cross_domain(nx, ny, len1=LX, len2=LY)
    domain.set_store(False)
    domain.set_flow_algorithm("DE0")
    domain.set_quantity("elevation", ground, location="centroids")
    domain.set_quantity("friction", MANNING, location="centroids")
    domain.set_quantity("stage", lambda x, y: np.maximum(ground(x, y), 0.0),
                        location="centroids")
    wall = anuga.Reflective_boundary(domain)
    sea = anuga.Time_boundary(domain, function=lambda t: [float(np.interp(t, LEVEL_T,
                                                                          LEVEL_V)), 0.0, 0.0])
    domain.set_boundary({"left": wall, "right": wall, "top": wall, "bottom": sea})
    x, y = domain.centroid_coordinates[:, 0], domain.centroid_coordinates[:, 1]
    deepest = np.zeros(x.size)
    started = time.perf_counter()
    for _ in domain.evolve(yieldstep=30.0, finaltime=T):
        depth = domain.quantities["stage"].centroid_values \
            - domain.quantities["elevation"].centroid_values
        deepest = np.maximum(deepest, depth)
    wall_s = time.perf_counter() - started
    # The four triangles of each square average to the cell's value.
    col = np.clip((x // cell).astype(int), 0, nx - 1)
    row = np.clip(((LY - y) // cell).astype(int), 0, ny - 1)
    total, count = np.zeros((ny, nx)), np.zeros((ny, nx))
    np.add.at(total, (row, col), deepest)
    np.add.at(count, (row, col), 1)
    return total / count, wall_s, x.size


if __name__ == "__main__":
    depth, seconds, triangles = run(float(sys.argv[1]))
    np.savez(sys.argv[2], max_depth=depth, wall_s=seconds, triangles=triangles)

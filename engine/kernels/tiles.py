"""Helpers shared by the tiled flow kernels (local inertial and Godunov): a tile's cell range,
which tiles wake for the next step, and the forcing series read at a time."""

from __future__ import annotations

import numpy as np

from engine._numba import jit


@jit
def tile_bounds(tid, tiling, rows, cols):
    """Rows ``r0:r1`` and columns ``c0:c1`` of tile ``tid`` (the last tiles may be short)."""
    _, ntc, trows, tcols = tiling
    r0 = (tid // ntc) * trows
    c0 = (tid % ntc) * tcols
    return r0, min(r0 + trows, rows), c0, min(c0 + tcols, cols)


@jit
def hot_tiles(flags, always, coast_zmin, level, raining, tiling):
    """1 for every tile in the 3 x 3 neighbourhood of a flagged one (water moved in it, it is
    always wet, it rains, or the sea stands above its lowest coast)."""
    ntr, ntc, _, _ = tiling
    nt = ntr * ntc
    hot = np.zeros(nt, dtype=np.uint8)
    for tid in range(nt):
        if flags[tid] > 0.0 or always[tid] or raining or coast_zmin[tid] < level:
            tr, tc = tid // ntc, tid % ntc
            for a in range(max(tr - 1, 0), min(tr + 2, ntr)):
                for b in range(max(tc - 1, 0), min(tc + 2, ntc)):
                    hot[a * ntc + b] = 1
    return hot


@jit
def interp_series(times, values, t):
    """``values`` at ``t``, linear between ``times`` and held beyond them (0 when empty)."""
    n = times.size
    if n == 0:
        return 0.0
    if t <= times[0]:
        return values[0]
    if t >= times[n - 1]:
        return values[n - 1]
    k = np.searchsorted(times, t, side="right") - 1
    w = (t - times[k]) / (times[k + 1] - times[k])
    return values[k] + w * (values[k + 1] - values[k])

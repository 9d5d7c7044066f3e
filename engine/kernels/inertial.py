"""Local inertial shallow-water kernels (Bates, Horritt & Fewtrell 2010, J. Hydrol. 387:33-45,
with the q-centred momentum of de Almeida, Bates, Freer & Souvignet 2012, Water Resour. Res.
48:W05528).

Unit discharge ``q`` (m2/s) lives on cell faces, the water surface ``eta`` (m, float64) at cell
centres. One step of ``dt``:

1. momentum on every open face (``hf`` the flow depth, ``S`` the surface slope)::

       q' = (theta q + (1 - theta)/2 (q_prev + q_next) - g hf dt S)
            / (1 + g n^2 dt |q| / hf^(7/3))

   friction is semi-implicit and uses the vector magnitude of the discharge (the crossing
   component averaged from the four neighbouring faces); a face is dry when ``hf`` is below a
   threshold, and a face between two sea (level-forced) cells carries nothing. A neighbour
   face enters the q-centred average only if it carries flow itself; at a wet/dry front or a
   wall the face keeps its own discharge (theta = 1 there), otherwise the average with a dry
   face's zero would brake every advancing front;
2. an outflow limiter: when a cell's outflows over ``dt`` exceed its water, they are all scaled
   down to exactly empty it, so depths never go negative and no volume is created;
3. continuity ``eta' = eta + dt (div q) + rain dt``; sea cells take the imposed level and book
   the volume they exchanged as boundary inflow.

The water surface is the state (not the depth), so a lake at rest over any bed has exactly
zero slope and stays exactly at rest.

The grid is cut into tiles (wide, so inner loops stay long and vectorise); only tiles with water
in or next to them are stepped (a tile is active when any tile of its 3 x 3 neighbourhood holds
a wet non-sea cell, a wet coast cell, an inflow or rain). Water crosses at most one cell per
step (CFL < 1), so a skipped tile would have computed zero flux: skipping changes no number.
Each tile is one ``prange`` iteration writing only its own faces and cells, and every sum is
made per tile then added in tile order, so results do not depend on the number of threads.
Small workloads run the same tile functions serially: a parallel launch costs more than it
saves on small grids, and on a busy machine it may wait a scheduler slice for its thread.

Cell kinds: 0 closed (nodata or obstacle), 1 open land, 2 sea (level-forced), 3 sea cell with
an open non-sea neighbour (coast).

Argument bundles (tuples keep the signatures short):
``ground = (z, kind, zfx, zfy, gnx, gny)``, ``state = (eta, qx, qy, qxn, qyn, fac)``,
``impacts = (hmax, smax, arrival, duration)``, ``tiling = (ntr, ntc, trows, tcols)`` and
``p = (dt, t_new, level, rain, dx, dy, theta, hmin, g, hazard, speed_depth)``.
"""

from __future__ import annotations

import math

import numpy as np

from engine._numba import cbrt, jit, parallel_jit, prange

CLOSED, LAND, SEA, COAST = 0, 1, 2, 3
MOMENTUM, LIMIT, CONTINUITY = 0, 1, 2


@jit
def _bounds(tid, tiling, rows, cols):
    _, ntc, trows, tcols = tiling
    r0 = (tid // ntc) * trows
    c0 = (tid % ntc) * tcols
    return r0, min(r0 + trows, rows), c0, min(c0 + tcols, cols)


@jit
def _flow_depth(eta_a, eta_b, zf, kind_a, kind_b, hmin):
    """Flow depth of a face, or 0 when it carries no flow (closed, too shallow, or between two
    sea cells)."""
    hf = max(eta_a, eta_b) - zf
    return hf if hf > hmin and not (kind_a >= SEA and kind_b >= SEA) else 0.0


@jit
def _discharge(hf, q0, qm, qp, qc, gn, slope, dt, theta, g):
    """New discharge of a flowing face (``hf`` > 0) from its own and its neighbours'.

    ``num / (1 + dt g n^2 |q| / hf^(7/3))`` written with one division."""
    num = theta * q0 + 0.5 * (1.0 - theta) * (qm + qp) - g * hf * dt * slope
    h73 = hf * hf * cbrt(hf)
    return num * h73 / (h73 + dt * gn * math.sqrt(q0 * q0 + qc * qc))


@jit
def _momentum_tile(tid, tiling, ground, state, p):
    """Discharges of the tile's own faces. Each face's flow depth is computed once into a
    buffer that also holds the faces just outside the tile, so that a neighbour face enters the
    q-centred average only if it carries flow itself."""
    z, kind, zfx, zfy, gnx, gny = ground
    eta, qx, qy, qxn, qyn, _ = state
    dt, dx, dy, theta, hmin, g = p[0], p[4], p[5], p[6], p[7], p[8]
    inv_dx, inv_dy = 1.0 / dx, 1.0 / dy
    rows, cols = eta.shape
    r0, r1, c0, c1 = _bounds(tid, tiling, rows, cols)
    width = c1 - c0
    hx = np.zeros(width + 2)  # x faces c0-1 .. c1
    for r in range(r0, r1):  # x face j: cells (r, j-1) | (r, j)
        e, kd, zf, gn, q, out = eta[r], kind[r], zfx[r], gnx[r], qx[r], qxn[r]
        up, down = qy[r], qy[r + 1]
        for j in range(max(c0 - 1, 1), min(c1 + 1, cols)):
            hx[j - c0 + 1] = _flow_depth(e[j - 1], e[j], zf[j], kd[j - 1], kd[j], hmin)
        for j in range(max(c0, 1), c1):
            b = j - c0 + 1
            hf = hx[b]
            if hf == 0.0:
                out[j] = 0.0
                continue
            q0 = q[j]
            qm = q[j - 1] if hx[b - 1] > 0.0 else q0
            qp = q[j + 1] if hx[b + 1] > 0.0 else q0
            qc = 0.25 * (up[j - 1] + down[j - 1] + up[j] + down[j])
            out[j] = _discharge(hf, q0, qm, qp, qc, gn[j], (e[j] - e[j - 1]) * inv_dx, dt,
                                theta, g)
    hy = np.zeros((r1 - r0 + 2, width))  # y faces r0-1 .. r1
    for i in range(max(r0 - 1, 1), min(r1 + 1, rows)):
        ea, eb, ka, kb, zf, h = eta[i - 1], eta[i], kind[i - 1], kind[i], zfy[i], hy[i - r0 + 1]
        for c in range(c0, c1):
            h[c - c0] = _flow_depth(ea[c], eb[c], zf[c], ka[c], kb[c], hmin)
    for i in range(max(r0, 1), r1):  # y face i: cells (i-1, c) above | (i, c) below
        ea, eb, gn = eta[i - 1], eta[i], gny[i]
        q, qa, qb, out = qy[i], qy[i - 1], qy[i + 1], qyn[i]
        left, right = qx[i - 1], qx[i]
        h, ha, hb = hy[i - r0 + 1], hy[i - r0], hy[i - r0 + 2]
        for c in range(c0, c1):
            hf = h[c - c0]
            if hf == 0.0:
                out[c] = 0.0
                continue
            q0 = q[c]
            qm = qa[c] if ha[c - c0] > 0.0 else q0
            qp = qb[c] if hb[c - c0] > 0.0 else q0
            qc = 0.25 * (left[c] + left[c + 1] + right[c] + right[c + 1])
            out[c] = _discharge(hf, q0, qm, qp, qc, gn[c], (eb[c] - ea[c]) * inv_dy, dt, theta,
                                g)


@jit
def _limit_tile(tid, tiling, ground, state, p):
    z, kind = ground[0], ground[1]
    eta, qxn, qyn, fac = state[0], state[3], state[4], state[5]
    dt, dx, dy = p[0], p[4], p[5]
    rows, cols = eta.shape
    r0, r1, c0, c1 = _bounds(tid, tiling, rows, cols)
    for r in range(r0, r1):
        e, zr, kd, f, qxr, up, down = eta[r], z[r], kind[r], fac[r], qxn[r], qyn[r], qyn[r + 1]
        for c in range(c0, c1):
            out = dt * (dy * (max(qxr[c + 1], 0.0) + max(-qxr[c], 0.0))
                        + dx * (max(down[c], 0.0) + max(-up[c], 0.0)))
            have = (e[c] - zr[c]) * dx * dy
            scale = 1.0
            if kd[c] == LAND and out > have:
                scale = have / out if have > 0.0 else 0.0
            f[c] = scale


@jit
def _continuity_tile(tid, tiling, ground, state, impacts, p, stats):
    """Update levels, write the limited fluxes back to ``qx``/``qy`` (own faces only) and the
    per-cell impacts; ``stats[tid] = (boundary volume, clamped volume, rain volume, largest
    depth, wet)``."""
    z, kind = ground[0], ground[1]
    eta, qx, qy, qxn, qyn, fac = state
    hmax, smax, arrival, duration = impacts
    dt, t_new, level, rain, dx, dy = p[0], p[1], p[2], p[3], p[4], p[5]
    hazard, speed_depth = p[9], p[10]
    rows, cols = eta.shape
    area = dx * dy
    dt_dx, dt_dy = dt / dx, dt / dy
    r0, r1, c0, c1 = _bounds(tid, tiling, rows, cols)
    boundary = clamped = rained = deepest = wet = 0.0
    for r in range(r0, r1):
        e, zr, kd, f, xn, up, down = eta[r], z[r], kind[r], fac[r], qxn[r], qyn[r], qyn[r + 1]
        f_up = fac[r - 1] if r > 0 else f  # (row 0's north face carries nothing)
        f_down = fac[r + 1] if r + 1 < rows else f
        x_out, y_out = qx[r], qy[r]
        h_max, s_max, first, long = hmax[r], smax[r], arrival[r], duration[r]
        for c in range(c0, c1):
            k = kd[c]
            if k == CLOSED:
                continue
            # Limited fluxes: each face scaled by the limiter of the cell it drains.
            qw = xn[c]
            qw *= f[c - 1] if qw > 0.0 else f[c]
            qe = xn[c + 1]
            qe *= f[c] if qe > 0.0 else (f[c + 1] if c + 1 < cols else 1.0)
            qn = up[c]
            qn *= f_up[c] if qn > 0.0 else f[c]
            qs = down[c]
            qs *= f[c] if qs > 0.0 else f_down[c]
            x_out[c] = qw
            y_out[c] = qn
            change = (qw - qe) * dt_dx + (qn - qs) * dt_dy
            zc = zr[c]
            if k >= SEA:
                boundary -= change * area  # what left the sea cell entered the land
                new = max(level, zc)
            else:
                new = e[c] + change + rain * dt
                rained += rain * dt * area
                if new < zc:  # rounding only: the limiter never overdraws a cell
                    clamped += (zc - new) * area
                    new = zc
            e[c] = new
            h = new - zc
            if k == SEA:
                continue
            deepest = max(deepest, h)
            if h > 0.0:
                wet = 1.0
            if k == COAST:
                continue
            h_max[c] = max(h_max[c], h)
            if h > speed_depth:
                u = 0.5 * (qw + qe)
                v = 0.5 * (qn + qs)
                s_max[c] = max(s_max[c], math.sqrt(u * u + v * v) / h)
            if h >= hazard:
                long[c] += dt
                if np.isnan(first[c]):
                    first[c] = t_new
    stats[tid, 0] = boundary
    stats[tid, 1] = clamped
    stats[tid, 2] = rained
    stats[tid, 3] = deepest
    stats[tid, 4] = wet


@jit
def _phase(phase, tid, tiling, ground, state, impacts, p, stats):
    if phase == MOMENTUM:
        _momentum_tile(tid, tiling, ground, state, p)
    elif phase == LIMIT:
        _limit_tile(tid, tiling, ground, state, p)
    else:
        _continuity_tile(tid, tiling, ground, state, impacts, p, stats)


@parallel_jit
def _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in prange(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


@jit
def _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in range(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


@jit
def _interp(times, values, t):
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


@jit
def _set_sea(eta, z, kind, level):
    rows, cols = eta.shape
    for r in range(rows):
        for c in range(cols):
            if kind[r, c] >= SEA:
                eta[r, c] = max(level, z[r, c])


@jit
def _activate(flags, always, coast_zmin, level, raining, tiling, active, was, state):
    """Active tiles for the next step: the 3 x 3 dilation of the flagged ones. Faces of tiles
    that fall asleep are zeroed (they are dry, so their flux is zero anyway)."""
    ntr, ntc, trows, tcols = tiling
    _, qx, qy, qxn, qyn, _ = state
    rows, cols = qx.shape[0], qy.shape[1]
    nt = ntr * ntc
    hot = np.zeros(nt, dtype=np.uint8)
    for tid in range(nt):
        if flags[tid] > 0.0 or always[tid] or raining or coast_zmin[tid] < level:
            tr, tc = tid // ntc, tid % ntc
            for a in range(max(tr - 1, 0), min(tr + 2, ntr)):
                for b in range(max(tc - 1, 0), min(tc + 2, ntc)):
                    hot[a * ntc + b] = 1
    n = 0
    for tid in range(nt):
        if hot[tid]:
            active[n] = tid
            n += 1
        elif was[tid]:
            r0, r1, c0, c1 = _bounds(tid, tiling, rows, cols)
            for r in range(r0, r1):
                for c in range(c0, c1):
                    qx[r, c] = qxn[r, c] = 0.0
                    qy[r, c] = qyn[r, c] = 0.0
        was[tid] = hot[tid]
    return n


@jit
def _advance(t, t_end, dt_next, tiling, ground, state, impacts, forcing, tiles, active, nact,
             settings, totals):
    """Step from ``t`` to ``t_end``; returns ``(t, dt_next, nact)``.

    ``forcing = (level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v,
    breaks)``; ``tiles = (was, always, coast_zmin, tile_cells, flags, stats)``;
    ``settings = (dx, dy, g, theta, hmin, cfl, max_dt, hazard, speed_depth, skip,
    parallel_cells)``: steps with fewer active cells than ``parallel_cells`` run serially.
    ``totals`` accumulates (boundary, source, rain, clamped volumes, steps, cell updates,
    smallest stable dt, largest dt taken).
    """
    level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v, breaks = forcing
    was, always, coast_zmin, tile_cells, flags, stats = tiles
    dx, dy, g, theta, hmin, cfl, max_dt, hazard, speed_depth, skip, parallel_cells = settings
    eta = state[0]
    cols = eta.shape[1]
    area = dx * dy
    span = min(dx, dy)
    while t < t_end:
        dt = min(dt_next, max_dt, t_end - t)
        k = np.searchsorted(breaks, t, side="right")
        if k < breaks.size:
            dt = min(dt, breaks[k] - t)
        if t_end - (t + dt) < 1e-9 * max(1.0, abs(t_end)):
            dt = t_end - t  # land exactly on the target, no sliver step
        t_new = t + dt
        level = _interp(level_t, level_v, t_new)
        rain = 0.5 * (_interp(rain_t, rain_v, t) + _interp(rain_t, rain_v, t_new))
        p = (dt, t_new, level, rain, dx, dy, theta, hmin, g, hazard, speed_depth)
        work = 0.0
        for m in range(nact):
            work += tile_cells[active[m]]
        for phase in (MOMENTUM, LIMIT, CONTINUITY):
            if phase == CONTINUITY and src_cells.size:  # inflow enters before the update
                q = 0.5 * (_interp(src_t, src_v, t) + _interp(src_t, src_v, t_new)) * dt
                for s in range(src_cells.size):
                    eta[src_cells[s] // cols, src_cells[s] % cols] += q * src_weight[s] / area
                totals[1] += q
            if work >= parallel_cells:
                _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p, stats)
            else:
                _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p, stats)
        deepest = 0.0
        flags[:] = 0.0
        for m in range(nact):
            tid = active[m]
            totals[0] += stats[tid, 0]
            totals[3] += stats[tid, 1]
            totals[2] += stats[tid, 2]
            deepest = max(deepest, stats[tid, 3])
            flags[tid] = stats[tid, 4]
        totals[4] += 1.0
        totals[5] += work
        totals[7] = max(totals[7], dt)
        t = t_new
        if skip:
            k = np.searchsorted(rain_t, t, side="right")
            ahead = _interp(rain_t, rain_v, t)
            if k < rain_t.size:
                ahead = max(ahead, rain_v[k])
            reach = max(level, _interp(level_t, level_v, t + max_dt))
            nact = _activate(flags, always, coast_zmin, reach, ahead > 0.0, tiling, active,
                             was, state)
        dt_next = cfl * span / math.sqrt(g * deepest) if deepest > 0.0 else max_dt
        totals[6] = min(totals[6], dt_next)
    return t, dt_next, nact

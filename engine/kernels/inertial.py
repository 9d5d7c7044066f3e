"""Local inertial shallow-water kernels (Bates, Horritt & Fewtrell 2010, J. Hydrol. 387:33-45,
with the q-centred momentum of de Almeida, Bates, Freer & Souvignet 2012, Water Resour. Res.
48:W05528).

Unit discharge ``q`` (m2/s) lives on cell faces, the water surface ``eta`` (m, float64) at cell
centres. One step of ``dt``:

1. momentum on every open face (``hf`` the flow depth, ``S`` the surface slope, ``A`` the
   convective acceleration, zero unless advection is on - see below)::

       q' = (theta q + (1 - theta)/2 (q_prev + q_next) - g hf dt S - dt A)
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

Advection (optional, off by default). The local inertial equations drop the convective
acceleration ``d(qu)/dx + d(qv)/dy`` of the shallow-water momentum equation; near critical
flow that costs centimetres (Froude number 0.99 in the MacDonald channel). With advection on it
is put back, discretised as on the staggered grids of Stelling & Duinmeijer (2003, Int. J.
Numer. Meth. Fluids 43:1329-1354), the first-order upwind momentum flux used by staggered
codes (3Di, D-Flow FM, SWASH) that share this grid with the local inertial scheme: face
velocities ``u = q / hf``; the x momentum leaving a cell centre along x is ``qbar u*`` (``qbar``
the mean of its two x faces, ``u*`` the velocity of the upwind one) and along y, at the cell
corners, ``vbar u*`` (``vbar`` the mean of the two y faces meeting there, ``u*`` the x face
upwind of it); ``A`` on a face is the difference of those fluxes around it, and the same for y.
At open-boundary cells (sea cells, inflow cells) a face that carries nothing takes the value
of the cell's other face, so water enters and leaves with its momentum (zero gradient); at a
wall or a dry cell the flux is that of the one flowing face, halved. Faces shallower than the
advection depth keep the local inertial momentum (a film has no meaningful velocity), and the
step also respects the advective Courant condition: ``dt = cfl dx / (sqrt(g h_max) + |u|_max)``.
Advection is computed from the state at the start of the step, before the step is chosen, in a
phase of its own (``ax``, ``ay``); with it off that phase never runs.

The plain step (advection off) also counts the flow speed: ``dt = cfl dx / (sqrt(g h_max) +
|u|_max)`` with ``|u|`` the fastest face velocity ``|q| / hf`` at the start of the previous step (faces
deeper than the advection depth, as the advection phase measures it; measured in the momentum
phase, so the plain scheme needs no phase of its own). Bates et al. (2010) take ``sqrt(g h)`` alone, which lets a chequerboard grow
in deep, smooth water (speeds of 400 m/s in a few cells of the sample's deep basin, 100-year
surge); with the speed in the condition it cannot.

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
``ground = (z, kind, zfx, zfy, gnx, gny, edge)`` (``edge``: 1 on open-boundary cells),
``state = (eta, qx, qy, qxn, qyn, fac, ax, ay)`` (``ax``, ``ay`` empty when advection is off),
``impacts = (hmax, smax, arrival, duration)``, ``tiling = (ntr, ntc, trows, tcols)`` and
``p = (dt, t_new, level, rain, dx, dy, theta, hmin, g, hazard, speed_depth, hadv, advect)``.
"""

from __future__ import annotations

import math

import numpy as np

from engine._numba import cbrt, jit, parallel_jit, prange
from engine.kernels.tiles import hot_tiles, interp_series, tile_bounds

CLOSED, LAND, SEA, COAST = 0, 1, 2, 3
MOMENTUM, LIMIT, CONTINUITY, ADVECTION = 0, 1, 2, 3
STATS = 6  # per tile: boundary, clamped, rain volumes, largest depth, wet, fastest face


@jit
def _flow_depth(eta_a, eta_b, zf, kind_a, kind_b, hmin):
    """Flow depth of a face, or 0 when it carries no flow (closed, too shallow, or between two
    sea cells)."""
    hf = max(eta_a, eta_b) - zf
    return hf if hf > hmin and not (kind_a >= SEA and kind_b >= SEA) else 0.0


@jit
def _discharge(hf, q0, qm, qp, qc, gn, slope, adv, dt, theta, g):
    """New discharge of a flowing face (``hf`` > 0) from its own and its neighbours'.

    ``num / (1 + dt g n^2 |q| / hf^(7/3))`` written with one division; ``adv`` is the
    convective acceleration (0.0 without advection: subtracting it changes no bit)."""
    num = theta * q0 + 0.5 * (1.0 - theta) * (qm + qp) - g * hf * dt * slope - dt * adv
    h73 = hf * hf * cbrt(hf)
    return num * h73 / (h73 + dt * gn * math.sqrt(q0 * q0 + qc * qc))


@jit
def _momentum_tile(tid, tiling, ground, state, p, stats):
    """Discharges of the tile's own faces. Each face's flow depth is computed once into a
    buffer that also holds the faces just outside the tile, so that a neighbour face enters the
    q-centred average only if it carries flow itself. Without advection, ``stats[tid, 5]`` the
    fastest face velocity ``|q| / hf`` at the start of the step (faces deeper than the advection
    depth, as the advection phase measures it)."""
    z, kind, zfx, zfy, gnx, gny, _ = ground
    eta, qx, qy, qxn, qyn, _, ax, ay = state
    dt, dx, dy, theta, hmin, g, hadv = p[0], p[4], p[5], p[6], p[7], p[8], p[11]
    advect = p[12] > 0.0
    fastest = 0.0
    inv_dx, inv_dy = 1.0 / dx, 1.0 / dy
    rows, cols = eta.shape
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
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
            if hf > hadv:
                fastest = max(fastest, abs(q0) / hf)
            qm = q[j - 1] if hx[b - 1] > 0.0 else q0
            qp = q[j + 1] if hx[b + 1] > 0.0 else q0
            qc = 0.25 * (up[j - 1] + down[j - 1] + up[j] + down[j])
            out[j] = _discharge(hf, q0, qm, qp, qc, gn[j], (e[j] - e[j - 1]) * inv_dx,
                                ax[r, j] if advect else 0.0, dt, theta, g)
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
            if hf > hadv:
                fastest = max(fastest, abs(q0) / hf)
            qm = qa[c] if ha[c - c0] > 0.0 else q0
            qp = qb[c] if hb[c - c0] > 0.0 else q0
            qc = 0.25 * (left[c] + left[c + 1] + right[c] + right[c + 1])
            out[c] = _discharge(hf, q0, qm, qp, qc, gn[c], (eb[c] - ea[c]) * inv_dy,
                                ay[i, c] if advect else 0.0, dt, theta, g)
    if not advect:  # (with advection the advection phase measures the speed)
        stats[tid, 5] = fastest


@jit
def _cell_flux(qa, qb, ha, hb, ua, ub, edge):
    """Momentum flux ``qbar u*`` at a cell centre from its two faces along one axis (``a``
    west or north, ``b`` east or south; ``h`` their flow depths, ``u`` their velocities). At an
    open-boundary cell a face that carries nothing takes the other's values."""
    if edge:
        if ha == 0.0 and hb > 0.0:
            qa, ua = qb, ub
        elif hb == 0.0 and ha > 0.0:
            qb, ub = qa, ua
    qbar = 0.5 * (qa + qb)
    return qbar * (ua if qbar > 0.0 else ub)


@jit
def _advection_tile(tid, tiling, ground, state, p, stats):
    """Convective accelerations ``ax``, ``ay`` of the tile's own faces from the current state;
    ``stats[tid, 5]`` the fastest face. Flow depths and velocities of the faces the fluxes
    need (one cell around the tile) are computed once into buffers: ``bx``/``vx`` hold the x
    faces of rows r0-1..r1 and columns c0-1..c1, ``by``/``vy`` the y faces of rows r0-1..r1 and
    columns c0-1..c1; faces off the grid stay 0 (they carry nothing)."""
    kind, zfx, zfy, edge = ground[1], ground[2], ground[3], ground[6]
    eta, qx, qy, ax, ay = state[0], state[1], state[2], state[6], state[7]
    dx, dy, hmin, hadv = p[4], p[5], p[7], p[11]
    inv_dx, inv_dy = 1.0 / dx, 1.0 / dy
    rows, cols = eta.shape
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
    nr, nc = r1 - r0 + 2, c1 - c0 + 2
    bx, vx = np.zeros((nr, nc)), np.zeros((nr, nc))
    by, vy = np.zeros((nr, nc)), np.zeros((nr, nc))
    for r in range(max(r0 - 1, 0), min(r1 + 1, rows)):
        b, v = bx[r - r0 + 1], vx[r - r0 + 1]
        for j in range(max(c0 - 1, 1), min(c1 + 1, cols)):
            hf = _flow_depth(eta[r, j - 1], eta[r, j], zfx[r, j], kind[r, j - 1], kind[r, j],
                             hmin)
            b[j - c0 + 1] = hf
            v[j - c0 + 1] = qx[r, j] / hf if hf > hadv else 0.0
    for i in range(max(r0 - 1, 1), min(r1 + 1, rows)):
        b, v = by[i - r0 + 1], vy[i - r0 + 1]
        for c in range(max(c0 - 1, 0), min(c1 + 1, cols)):
            hf = _flow_depth(eta[i - 1, c], eta[i, c], zfy[i, c], kind[i - 1, c], kind[i, c],
                             hmin)
            b[c - c0 + 1] = hf
            v[c - c0 + 1] = qy[i, c] / hf if hf > hadv else 0.0
    fastest = 0.0
    for r in range(r0, r1):  # x face j: cells (r, j-1) | (r, j)
        k = r - r0 + 1
        b, v, above, below, q = bx[k], vx[k], vx[k - 1], vx[k + 1], qx[r]
        up, down, e, out = qy[r], qy[r + 1], edge[r], ax[r]
        for j in range(max(c0, 1), c1):
            m = j - c0 + 1
            if b[m] <= hadv:
                out[j] = 0.0
                continue
            west = _cell_flux(q[j - 1], q[j], b[m - 1], b[m], v[m - 1], v[m], e[j - 1])
            east = _cell_flux(q[j], q[j + 1], b[m], b[m + 1], v[m], v[m + 1], e[j])
            vbar = 0.5 * (up[j - 1] + up[j])
            north = vbar * (above[m] if vbar > 0.0 else v[m])
            vbar = 0.5 * (down[j - 1] + down[j])
            south = vbar * (v[m] if vbar > 0.0 else below[m])
            out[j] = (east - west) * inv_dx + (south - north) * inv_dy
            fastest = max(fastest, abs(v[m]))
    for i in range(max(r0, 1), r1):  # y face i: cells (i-1, c) above | (i, c) below
        k = i - r0 + 1
        b, v, before, after = by[k], vy[k], vy[k - 1], vy[k + 1]
        bb, ba = by[k - 1], by[k + 1]
        upper, lower, out = qx[i - 1], qx[i], ay[i]
        for c in range(c0, c1):
            m = c - c0 + 1
            if b[m] <= hadv:
                out[c] = 0.0
                continue
            north = _cell_flux(qy[i - 1, c], qy[i, c], bb[m], b[m], before[m], v[m],
                               edge[i - 1, c])
            south = _cell_flux(qy[i, c], qy[i + 1, c], b[m], ba[m], v[m], after[m], edge[i, c])
            ubar = 0.5 * (upper[c] + lower[c])
            west = ubar * (v[m - 1] if ubar > 0.0 else v[m])
            ubar = 0.5 * (upper[c + 1] + lower[c + 1])
            east = ubar * (v[m] if ubar > 0.0 else v[m + 1])
            out[c] = (south - north) * inv_dy + (east - west) * inv_dx
            fastest = max(fastest, abs(v[m]))
    stats[tid, 5] = fastest


@jit
def _limit_tile(tid, tiling, ground, state, p):
    z, kind = ground[0], ground[1]
    eta, qxn, qyn, fac = state[0], state[3], state[4], state[5]
    dt, dx, dy = p[0], p[4], p[5]
    rows, cols = eta.shape
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
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
    eta, qx, qy, qxn, qyn, fac = state[0], state[1], state[2], state[3], state[4], state[5]
    hmax, smax, arrival, duration = impacts
    dt, t_new, level, rain, dx, dy = p[0], p[1], p[2], p[3], p[4], p[5]
    hazard, speed_depth = p[9], p[10]
    rows, cols = eta.shape
    area = dx * dy
    dt_dx, dt_dy = dt / dx, dt / dy
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
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
        _momentum_tile(tid, tiling, ground, state, p, stats)
    elif phase == LIMIT:
        _limit_tile(tid, tiling, ground, state, p)
    elif phase == CONTINUITY:
        _continuity_tile(tid, tiling, ground, state, impacts, p, stats)
    else:
        _advection_tile(tid, tiling, ground, state, p, stats)


@parallel_jit
def _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in prange(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


@jit
def _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in range(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


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
    qx, qy, qxn, qyn = state[1], state[2], state[3], state[4]
    rows, cols = qx.shape[0], qy.shape[1]
    nt = ntr * ntc
    hot = hot_tiles(flags, always, coast_zmin, level, raining, tiling)
    n = 0
    for tid in range(nt):
        if hot[tid]:
            active[n] = tid
            n += 1
        elif was[tid]:
            r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
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
    parallel_cells, advect, hadv)``: steps with fewer active cells than ``parallel_cells`` run
    serially. ``totals`` accumulates (boundary, source, rain, clamped volumes, steps, cell
    updates, smallest stable dt, largest dt taken) and carries the largest depth (``[8]``).
    """
    level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v, breaks = forcing
    was, always, coast_zmin, tile_cells, flags, stats = tiles
    dx, dy, g, theta, hmin, cfl, max_dt, hazard, speed_depth, skip, parallel_cells, advect, \
        hadv = settings
    eta = state[0]
    cols = eta.shape[1]
    area = dx * dy
    span = min(dx, dy)
    on = 1.0 if advect else 0.0
    while t < t_end:
        work = 0.0
        for m in range(nact):
            work += tile_cells[active[m]]
        if advect:  # the convective terms of the current state, then the step they allow
            p = (0.0, t, 0.0, 0.0, dx, dy, theta, hmin, g, hazard, speed_depth, hadv, on)
            if work >= parallel_cells:
                _sweep_parallel(ADVECTION, active, nact, tiling, ground, state, impacts, p,
                                stats)
            else:
                _sweep_serial(ADVECTION, active, nact, tiling, ground, state, impacts, p,
                              stats)
            fastest = 0.0
            for m in range(nact):
                fastest = max(fastest, stats[active[m], 5])
            speed = math.sqrt(g * totals[8]) + fastest
            dt_next = cfl * span / speed if speed > 0.0 else max_dt
            totals[6] = min(totals[6], dt_next)
        dt = min(dt_next, max_dt, t_end - t)
        k = np.searchsorted(breaks, t, side="right")
        if k < breaks.size:
            dt = min(dt, breaks[k] - t)
        if t_end - (t + dt) < 1e-9 * max(1.0, abs(t_end)):
            dt = t_end - t  # land exactly on the target, no sliver step
        t_new = t + dt
        level = interp_series(level_t, level_v, t_new)
        rain = 0.5 * (interp_series(rain_t, rain_v, t) + interp_series(rain_t, rain_v, t_new))
        p = (dt, t_new, level, rain, dx, dy, theta, hmin, g, hazard, speed_depth, hadv, on)
        for phase in (MOMENTUM, LIMIT, CONTINUITY):
            if phase == CONTINUITY and src_cells.size:  # inflow enters before the update
                q = 0.5 * (interp_series(src_t, src_v, t) + interp_series(src_t, src_v, t_new)) * dt
                for s in range(src_cells.size):
                    eta[src_cells[s] // cols, src_cells[s] % cols] += q * src_weight[s] / area
                totals[1] += q
            if work >= parallel_cells:
                _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p, stats)
            else:
                _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p, stats)
        deepest = 0.0
        fastest = 0.0
        flags[:] = 0.0
        for m in range(nact):
            tid = active[m]
            totals[0] += stats[tid, 0]
            totals[3] += stats[tid, 1]
            totals[2] += stats[tid, 2]
            deepest = max(deepest, stats[tid, 3])
            flags[tid] = stats[tid, 4]
            if not advect:
                fastest = max(fastest, stats[tid, 5])
        totals[4] += 1.0
        totals[5] += work
        totals[8] = deepest
        totals[7] = max(totals[7], dt)
        t = t_new
        if skip:
            k = np.searchsorted(rain_t, t, side="right")
            ahead = interp_series(rain_t, rain_v, t)
            if k < rain_t.size:
                ahead = max(ahead, rain_v[k])
            reach = max(level, interp_series(level_t, level_v, t + max_dt))
            nact = _activate(flags, always, coast_zmin, reach, ahead > 0.0, tiling, active,
                             was, state)
        speed = math.sqrt(g * deepest) + fastest  # (fastest: 0 with advection, see above)
        dt_next = cfl * span / speed if speed > 0.0 else max_dt
        totals[6] = min(totals[6], dt_next)
    return t, dt_next, nact

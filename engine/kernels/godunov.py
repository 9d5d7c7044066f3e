"""Finite-volume Godunov kernels for the 2-D shallow-water equations: HLL fluxes on the
hydrostatic reconstruction of Audusse, Bouchut, Bristeau, Klein & Perthame (2004, SIAM J. Sci.
Comput. 25:2050-2065), semi-implicit Manning friction, first order in space and time, or
second order (MUSCL + Heun, below).

The state lives at cell centres: the water surface ``eta`` (m, datum; the depth is
``h = eta - z``, and a surface at rest is exactly flat over any bed), unit discharges ``hu`` (east) and ``hv``
(south, rows run north to south as everywhere in :mod:`engine.flood`), float64. Faces follow
:mod:`engine.flood.domain`: x face ``[r, j]`` between cells ``(r, j - 1)`` (left, ``L``) and
``(r, j)`` (right, ``R``), y face ``[i, c]`` between ``(i - 1, c)`` (``L``, north) and
``(i, c)`` (``R``, south); a face's bed ``zf`` is the higher of its two cells and of any
defence crest on it, ``+inf`` when closed.

One step of ``dt`` has two phases, each a sweep over tiles:

1. **flux** (each tile writes only the faces it owns, the west and north faces of its cells):
   the hydrostatic reconstruction ``hL* = max(0, etaL - zf)``, ``hR* = max(0, etaR - zf)``
   with the cells' velocities; the HLL flux of mass and normal momentum with the wave speeds
   of Einfeldt (1988) and the dry-bed speeds ``u -+ 2c`` (Toro 2001, ch. 10); the transverse
   momentum carried by the mass flux from its upwind side (the shear wave of HLLC). The normal
   momentum flux is stored twice, as the left and the right cell see it after the
   reconstruction's pressure correction, *without* the cell's own ``g h^2 / 2``: every face of
   a cell adds that same term, so it cancels in the cell's balance and is never formed. At
   rest (flat surface, no velocity) every stored number is exactly zero, so a lake at rest
   over any bed, defences or islands stays at rest to the bit; a closed face (wall, obstacle,
   grid edge) stores zeros, which is a reflecting wall;
2. **update** (each tile writes only its own cells): ``U' = U - dt/dx (F_e - F_w) - dt/dy (F_s
   - F_n)``, then rain, then Manning friction ``q' = q / (1 + dt g n^2 |q| / h^(7/3))``
   (semi-implicit, so friction can only slow the flow). Depths below ``hdry`` carry no
   momentum; a depth the update would leave negative (rounding, or a step above the positivity
   limit) is set to zero and the volume booked as ``clamped``. Sea cells take the imposed level
   at rest - a reservoir, as ANUGA's stage boundary - and book what they gave the land as
   boundary inflow; faces between two sea cells carry nothing.

Second order (``stage > 0`` in ``p``): the flux phase (:func:`_flux_tile2`) takes each cell's
MUSCL states at its faces - the depth, the surface and both velocities limited independently
by the MC limiter (van Leer 1977), first order next to a dry, sea or closed cell or a crest -
and the face bed ``max(eta- - h-, eta+ - h+)`` (Audusse et al. 2004, section 3); it also stores
per cell and axis the pressure corrections and centred source of that paper summed into one
term, ``g (h_lo + h_hi) (eta_hi - eta_lo) / 2``, which the update subtracts (zero when the
reconstructed surface is flat, so a lake at rest stays exactly at rest). Heun's SSP-RK2 runs the
two phases twice: stage 1 keeps ``U^n`` and writes ``U1 = U^n + dt L(U^n)``, stage 2 writes
``(U^n + U1 + dt L(U1)) / 2`` and the impacts.

The step is ``dt = cfl min(dx, dy) / max(|u| + c, |v| + c)`` over land and coast cells, taken
from the state at the end of the previous step; ``cfl <= 0.5`` keeps depths positive in 2-D.

Tiles, skipping and determinism as in :mod:`engine.kernels.inertial`: only tiles with water in
or next to them are stepped (water crosses at most one cell per step); the faces of a tile
that falls asleep are zeroed (its cells are dry); each tile writes only its own faces and cells
and every sum is made per tile then added in tile order, so any number of threads gives the
same bits.

Argument bundles: ``ground = (z, kind, zfx, zfy, gn)`` (``gn`` = ``g n^2`` per cell),
``state = (eta, hu, hv, fxm, fxl, fxr, fxt, fym, fyl, fyr, fyt)`` (per face: mass, normal
momentum seen from the left and from the right cell, transverse momentum),
``impacts = (hmax, smax, arrival, duration)``, ``tiling = (ntr, ntc, trows, tcols)``,
``p = (dt, t_new, level, rain, dx, dy, hdry, g, hazard, speed_depth, stage)`` (stage 0: the
first-order step; 1, 2: Heun's stages). At second order ``state`` also holds ``(srcx, srcy,
eta0, hu0, hv0)`` (empty arrays at first order).
"""

from __future__ import annotations

import math

import numpy as np

from engine._numba import cbrt, jit, parallel_jit, prange
from engine.kernels.tiles import hot_tiles, interp_series, tile_bounds

CLOSED, LAND, SEA, COAST = 0, 1, 2, 3
FLUX, UPDATE = 0, 1
STATS = 6  # per tile: boundary, clamped, rain volumes, largest depth, wet, fastest wave


@jit
def _speed(q, h, hdry):
    return q / h if h > hdry else 0.0


@jit
def _face(el, zl, ql, pl, kl, er, zr, qr, pr, kr, zf, hdry, g):
    """Fluxes across one face from its left and right cells (``e`` water surface, ``q``
    normal, ``p`` transverse discharge): ``(mass, normal momentum for the left cell, for the
    right cell, transverse)``, the momentum without the cells' own ``g h^2 / 2``."""
    if kl >= SEA and kr >= SEA:
        return 0.0, 0.0, 0.0, 0.0
    hls = max(0.0, el - zf)  # zf = inf (closed): 0; equal surfaces give equal depths
    hrs = max(0.0, er - zf)
    if hls <= hdry and hrs <= hdry:
        return 0.0, 0.0, 0.0, 0.0
    hl, hr = el - zl, er - zr
    return _hll(hls, hrs, _speed(ql, hl, hdry), _speed(qr, hr, hdry), _speed(pl, hl, hdry),
                _speed(pr, hr, hdry), hdry, g)


@jit
def _hll(hls, hrs, ul, ur, tl, tr, hdry, g):
    """The fluxes of :func:`_face` from the reconstructed depths ``hls``, ``hrs`` (not both
    dry), the normal velocities ``ul``, ``ur`` and the transverse ones ``tl``, ``tr``."""
    cl, cr = math.sqrt(g * hls), math.sqrt(g * hrs)
    if hls <= hdry:
        sl, sr = ur - 2.0 * cr, ur + cr
    elif hrs <= hdry:
        sl, sr = ul - cl, ul + 2.0 * cl
    else:
        us = 0.5 * (ul + ur) + cl - cr
        cs = 0.5 * (cl + cr) + 0.25 * (ul - ur)
        sl, sr = min(ul - cl, us - cs), max(ur + cr, us + cs)
    ml, mr = hls * ul, hrs * ur
    jump = 0.5 * g * (hrs * hrs - hls * hls)  # pressure of the right state minus the left's
    if sl >= 0.0:
        mass, left = ml, ml * ul
    elif sr <= 0.0:
        mass, left = mr, mr * ur + jump
    else:
        inv = 1.0 / (sr - sl)
        mass = (sr * ml - sl * mr + sl * sr * (hrs - hls)) * inv
        left = (sr * ml * ul - sl * (mr * ur + jump) + sl * sr * (mr - ml)) * inv
    # The right cell's reconstruction differs from the left's by the same pressure jump.
    right = left - jump
    trans = mass * (tl if mass > 0.0 else tr)
    return mass, left, right, trans


@jit
def _flux_tile(tid, tiling, ground, state, p):
    z, kind, zfx, zfy = ground[0], ground[1], ground[2], ground[3]
    eta, hu, hv = state[0], state[1], state[2]
    fxm, fxl, fxr, fxt = state[3], state[4], state[5], state[6]
    fym, fyl, fyr, fyt = state[7], state[8], state[9], state[10]
    hdry, g = p[6], p[7]
    rows, cols = eta.shape
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
    for r in range(r0, r1):
        er_, zr_, kr_, ur_, vr_, zf = eta[r], z[r], kind[r], hu[r], hv[r], zfx[r]
        for j in range(max(c0, 1), c1):
            m, a, b, t = _face(er_[j - 1], zr_[j - 1], ur_[j - 1], vr_[j - 1], kr_[j - 1],
                               er_[j], zr_[j], ur_[j], vr_[j], kr_[j], zf[j], hdry, g)
            fxm[r, j], fxl[r, j], fxr[r, j], fxt[r, j] = m, a, b, t
    for i in range(max(r0, 1), r1):
        ea, za, ka, va, ua = eta[i - 1], z[i - 1], kind[i - 1], hv[i - 1], hu[i - 1]
        eb, zb, kb, vb, ub, zf = eta[i], z[i], kind[i], hv[i], hu[i], zfy[i]
        for c in range(c0, c1):
            m, a, b, t = _face(ea[c], za[c], va[c], ua[c], ka[c], eb[c], zb[c], vb[c], ub[c],
                               kb[c], zf[c], hdry, g)
            fym[i, c], fyl[i, c], fyr[i, c], fyt[i, c] = m, a, b, t


@jit
def _limited(a, b):
    """The MC slope (van Leer 1977) from the one-sided differences ``a`` and ``b``: 0 at an
    extremum, else the centred slope bounded by twice either difference."""
    if a * b <= 0.0:
        return 0.0
    if a > 0.0:
        return min(0.5 * (a + b), 2.0 * a, 2.0 * b)
    return max(0.5 * (a + b), 2.0 * a, 2.0 * b)


@jit
def _line(ea, za, qa, pa, eb, zb, qb, pb, ec, zc, qc, pc, smooth, hdry):
    """Cell ``b``'s MUSCL states at its two faces along a line of cells ``a``, ``b``, ``c``
    (``q`` discharge along the line, ``p`` across it): ``(h, eta, u, v)`` at the ``a`` face,
    then at the ``c`` face. The depth, the surface and both velocities are limited
    independently (so a flat surface stays flat); ``smooth`` false (a neighbour dry, closed,
    sea or off the grid, a crest on a face) keeps the cell's own values: first order there."""
    hb = eb - zb
    ub, vb = _speed(qb, hb, hdry), _speed(pb, hb, hdry)
    if not smooth:
        return hb, eb, ub, vb, hb, eb, ub, vb
    ha, hc = ea - za, ec - zc
    if ha <= hdry or hb <= hdry or hc <= hdry:
        return hb, eb, ub, vb, hb, eb, ub, vb
    sh = 0.5 * _limited(hb - ha, hc - hb)
    se = 0.5 * _limited(eb - ea, ec - eb)
    su = 0.5 * _limited(ub - qa / ha, qc / hc - ub)
    sv = 0.5 * _limited(vb - pa / ha, pc / hc - vb)
    return hb - sh, eb - se, ub - su, vb - sv, hb + sh, eb + se, ub + su, vb + sv


@jit
def _smooth(kind, za, zb, zc, zab, zbc, ka, kc):
    """Whether a land cell ``b`` between ``a`` and ``c`` may take a MUSCL slope: both
    neighbours land, both faces open and without a crest above the cells."""
    return kind == LAND and ka == LAND and kc == LAND and zab <= max(za, zb) \
        and zbc <= max(zb, zc)


@jit
def _face2(hl, el, ul, vl, kl, zl, hr, er, ur, vr, kr, zr, zf, hdry, g):
    """:func:`_face` on MUSCL states: the face's bed is the higher of the two reconstructed
    beds ``e - h`` (Audusse et al. 2004, section 3) and of a crest on it (``zf`` above both
    cells' beds ``zl``, ``zr``)."""
    if (kl >= SEA and kr >= SEA) or zf == np.inf:
        return 0.0, 0.0, 0.0, 0.0
    bed = max(el - hl, er - hr)
    if zf > max(zl, zr):
        bed = max(bed, zf)
    hls = max(0.0, el - bed)
    hrs = max(0.0, er - bed)
    if hls <= hdry and hrs <= hdry:
        return 0.0, 0.0, 0.0, 0.0
    return _hll(hls, hrs, ul, ur, vl, vr, hdry, g)


@jit
def _flux_tile2(tid, tiling, ground, state, p):
    """The flux phase on MUSCL states; also each cell's centred bed-slope term ``g (h- + h+)
    (eta+ - eta-) / 2`` per axis (``srcx``, ``srcy``), which the momentum update subtracts:
    the reconstruction's pressure corrections and the centred source of Audusse et al.
    (2004, eq. 3.6) summed, zero when the reconstructed surface is flat."""
    z, kind, zfx, zfy = ground[0], ground[1], ground[2], ground[3]
    eta, hu, hv = state[0], state[1], state[2]
    fxm, fxl, fxr, fxt = state[3], state[4], state[5], state[6]
    fym, fyl, fyr, fyt = state[7], state[8], state[9], state[10]
    srcx, srcy = state[11], state[12]
    hdry, g = p[6], p[7]
    rows, cols = eta.shape
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
    for r in range(r0, r1):
        e, zr_, k, q, t, zf = eta[r], z[r], kind[r], hu[r], hv[r], zfx[r]
        hp = ep = up = vp = 0.0  # the previous cell's state at its east face
        for c in range(max(c0 - 1, 0), c1):
            a, b = max(c - 1, 0), min(c + 1, cols - 1)
            ok = 0 < c < cols - 1 and _smooth(k[c], zr_[a], zr_[c], zr_[b], zf[c], zf[c + 1],
                                             k[a], k[b])
            hw, ew, uw, vw, he, ee, ue, ve = _line(e[a], zr_[a], q[a], t[a], e[c], zr_[c], q[c],
                                                   t[c], e[b], zr_[b], q[b], t[b], ok, hdry)
            if c >= c0:
                srcx[r, c] = 0.5 * g * (hw + he) * (ee - ew)
                if c >= 1:
                    m, fl, fr, ft = _face2(hp, ep, up, vp, k[c - 1], zr_[c - 1], hw, ew, uw, vw,
                                           k[c], zr_[c], zf[c], hdry, g)
                    fxm[r, c], fxl[r, c], fxr[r, c], fxt[r, c] = m, fl, fr, ft
            hp, ep, up, vp = he, ee, ue, ve
    # y faces: the previous row's states at their south faces, one per column of the tile
    prev = np.empty((4, c1 - c0))
    for i in range(max(r0 - 1, 0), r1):
        a, b = max(i - 1, 0), min(i + 1, rows - 1)
        for c in range(c0, c1):
            ok = 0 < i < rows - 1 and _smooth(kind[i, c], z[a, c], z[i, c], z[b, c], zfy[i, c],
                                             zfy[i + 1, c], kind[a, c], kind[b, c])
            hn, en, vn, un, hs, es, vs, us = _line(
                eta[a, c], z[a, c], hv[a, c], hu[a, c], eta[i, c], z[i, c], hv[i, c], hu[i, c],
                eta[b, c], z[b, c], hv[b, c], hu[b, c], ok, hdry)
            if i >= r0:
                srcy[i, c] = 0.5 * g * (hn + hs) * (es - en)
                if i >= 1:
                    m, fl, fr, ft = _face2(prev[0, c - c0], prev[1, c - c0], prev[2, c - c0],
                                           prev[3, c - c0], kind[i - 1, c], z[i - 1, c], hn, en,
                                           vn, un, kind[i, c], z[i, c], zfy[i, c], hdry, g)
                    fym[i, c], fyl[i, c], fyr[i, c], fyt[i, c] = m, fl, fr, ft
            prev[0, c - c0], prev[1, c - c0], prev[2, c - c0], prev[3, c - c0] = hs, es, vs, us


@jit
def _update_tile(tid, tiling, ground, state, impacts, p, stats):
    """New state of the tile's cells, the per-cell impacts and ``stats[tid] = (boundary,
    clamped, rain volumes, largest depth, wet, fastest wave)``."""
    z, kind, gn = ground[0], ground[1], ground[4]
    eta, hu, hv = state[0], state[1], state[2]
    fxm, fxl, fxr, fxt = state[3], state[4], state[5], state[6]
    fym, fyl, fyr, fyt = state[7], state[8], state[9], state[10]
    hmax, smax, arrival, duration = impacts
    dt, t_new, level, rain, dx, dy, hdry, g, hazard, speed_depth, stage = p
    srcx, srcy, eta0, hu0, hv0 = state[11], state[12], state[13], state[14], state[15]
    rows, cols = eta.shape
    area = dx * dy
    dt_dx, dt_dy = dt / dx, dt / dy
    r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
    boundary = clamped = rained = deepest = wet = fastest = 0.0
    for r in range(r0, r1):
        er_, ur_, vr_, zr_, kr_ = eta[r], hu[r], hv[r], z[r], kind[r]
        for c in range(c0, c1):
            k = kr_[c]
            if k == CLOSED:
                continue
            dm = dt_dx * (fxm[r, c] - fxm[r, c + 1]) + dt_dy * (fym[r, c] - fym[r + 1, c])
            zc = zr_[c]
            if k >= SEA:
                boundary -= dm * area  # what left the sea cell entered the land
                er_[c], ur_[c], vr_[c] = max(level, zc), 0.0, 0.0
                depth = er_[c] - zc
                if k == COAST:
                    fastest = max(fastest, math.sqrt(g * depth))
                    deepest = max(deepest, depth)
                    if depth > 0.0:
                        wet = 1.0
                continue
            surface = er_[c] + dm + rain * dt
            rained += rain * dt * area
            qu = ur_[c] + dt_dx * (fxr[r, c] - fxl[r, c + 1]) \
                + dt_dy * (fyt[r, c] - fyt[r + 1, c])
            qv = vr_[c] + dt_dy * (fyr[r, c] - fyl[r + 1, c]) \
                + dt_dx * (fxt[r, c] - fxt[r, c + 1])
            if stage > 0:  # MUSCL: the centred bed-slope terms; keep U^n for Heun's average
                qu -= dt_dx * srcx[r, c]
                qv -= dt_dy * srcy[r, c]
                if stage == 1:
                    eta0[r, c], hu0[r, c], hv0[r, c] = er_[c], ur_[c], vr_[c]
            if surface < zc:  # rounding, or a step above the positivity limit
                clamped += (zc - surface) * area
                surface = zc
            depth = surface - zc
            if depth <= hdry:
                qu = qv = 0.0
            elif gn[r, c] > 0.0:
                h73 = depth * depth * cbrt(depth)
                scale = h73 / (h73 + dt * gn[r, c] * math.sqrt(qu * qu + qv * qv))
                qu *= scale
                qv *= scale
            if stage == 1:  # U1 = U^n + dt L(U^n): no impacts from the intermediate state
                er_[c], ur_[c], vr_[c] = surface, qu, qv
                continue
            if stage == 2:  # U^n+1 = (U^n + U1 + dt L(U1)) / 2, never below the ground
                surface = 0.5 * (eta0[r, c] + surface)
                depth = surface - zc
                if depth <= hdry:
                    qu = qv = 0.0
                else:
                    qu = 0.5 * (hu0[r, c] + qu)
                    qv = 0.5 * (hv0[r, c] + qv)
            er_[c], ur_[c], vr_[c] = surface, qu, qv
            if depth > 0.0:
                wet = 1.0
                deepest = max(deepest, depth)
                if depth > hdry:
                    c_wave = math.sqrt(g * depth)
                    fastest = max(fastest, max(abs(qu), abs(qv)) / depth + c_wave)
            hmax[r, c] = max(hmax[r, c], depth)
            if depth > speed_depth:
                smax[r, c] = max(smax[r, c], math.sqrt(qu * qu + qv * qv) / depth)
            if depth >= hazard:
                duration[r, c] += dt
                if np.isnan(arrival[r, c]):
                    arrival[r, c] = t_new
    stats[tid, 0] = boundary
    stats[tid, 1] = clamped
    stats[tid, 2] = rained
    stats[tid, 3] = deepest
    stats[tid, 4] = wet
    stats[tid, 5] = fastest


@jit
def _phase(phase, tid, tiling, ground, state, impacts, p, stats):
    if phase == FLUX:
        if p[10] > 0:
            _flux_tile2(tid, tiling, ground, state, p)
        else:
            _flux_tile(tid, tiling, ground, state, p)
    else:
        _update_tile(tid, tiling, ground, state, impacts, p, stats)


@parallel_jit
def _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in prange(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


@jit
def _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p, stats):
    for k in range(nact):
        _phase(phase, active[k], tiling, ground, state, impacts, p, stats)


@jit
def set_sea(eta, hu, hv, z, kind, level):
    """Sea cells at the imposed level, at rest."""
    rows, cols = eta.shape
    for r in range(rows):
        for c in range(cols):
            if kind[r, c] >= SEA:
                eta[r, c] = max(level, z[r, c])
                hu[r, c] = 0.0
                hv[r, c] = 0.0


@jit
def _activate(flags, always, coast_zmin, level, raining, tiling, active, was, state):
    """Active tiles for the next step: the 3 x 3 dilation of the flagged ones. Faces of tiles
    that fall asleep are zeroed (their cells are dry, so their fluxes are zero anyway)."""
    ntr, ntc, _, _ = tiling
    eta = state[0]
    rows, cols = eta.shape
    nt = ntr * ntc
    hot = hot_tiles(flags, always, coast_zmin, level, raining, tiling)
    n = 0
    for tid in range(nt):
        if hot[tid]:
            active[n] = tid
            n += 1
        elif was[tid]:
            r0, r1, c0, c1 = tile_bounds(tid, tiling, rows, cols)
            for f in range(3, 11):
                face = state[f]
                for r in range(r0, r1):
                    for c in range(c0, c1):
                        face[r, c] = 0.0
        was[tid] = hot[tid]
    return n


@jit
def _advance(t, t_end, dt_next, tiling, ground, state, impacts, forcing, tiles, active, nact,
             settings, totals):
    """Step from ``t`` to ``t_end``; returns ``(t, dt_next, nact)``.

    ``forcing = (level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v,
    breaks)``; ``tiles = (was, always, coast_zmin, tile_cells, flags, stats)``;
    ``settings = (dx, dy, g, hdry, cfl, max_dt, hazard, speed_depth, skip, parallel_cells,
    order)``: order 1 is one flux and one update sweep per step; order 2 two stages of Heun's
    method (SSP-RK2: ``U1 = U + dt L(U)``, ``U' = (U + U1 + dt L(U1)) / 2``) on MUSCL states,
    the volumes of each stage booked at half weight, the impacts taken from ``U'`` only.
    ``totals`` accumulates (boundary, source, rain, clamped volumes, steps, cell updates,
    smallest stable dt, largest dt taken, largest depth).
    """
    level_t, level_v, src_cells, src_weight, src_t, src_v, rain_t, rain_v, breaks = forcing
    was, always, coast_zmin, tile_cells, flags, stats = tiles
    dx, dy, g, hdry, cfl, max_dt, hazard, speed_depth, skip, parallel_cells, order = settings
    eta, eta0 = state[0], state[13]
    first, last = (0, 0) if order == 1 else (1, 2)  # the stages: 0 alone, or 1 then 2
    weight = 1.0 if order == 1 else 0.5
    before = np.empty(src_cells.size)  # the inflow cells' surfaces at the start of the step
    cols = eta.shape[1]
    area = dx * dy
    span = min(dx, dy)
    while t < t_end:
        work = 0.0
        for m in range(nact):
            work += tile_cells[active[m]]
        dt = min(dt_next, max_dt, t_end - t)
        k = np.searchsorted(breaks, t, side="right")
        if k < breaks.size:
            dt = min(dt, breaks[k] - t)
        if t_end - (t + dt) < 1e-9 * max(1.0, abs(t_end)):
            dt = t_end - t  # land exactly on the target, no sliver step
        t_new = t + dt
        level = interp_series(level_t, level_v, t_new)
        rain = 0.5 * (interp_series(rain_t, rain_v, t) + interp_series(rain_t, rain_v, t_new))
        q = 0.0
        if src_cells.size:
            q = 0.5 * (interp_series(src_t, src_v, t) + interp_series(src_t, src_v, t_new)) * dt
            totals[1] += q
        for stage in range(first, last + 1):
            p = (dt, t_new, level, rain, dx, dy, hdry, g, hazard, speed_depth, float(stage))
            for phase in (FLUX, UPDATE):
                if phase == UPDATE:  # inflow enters before the update (in each stage)
                    for s in range(src_cells.size):
                        r, c = src_cells[s] // cols, src_cells[s] % cols
                        before[s] = eta[r, c]
                        eta[r, c] += q * src_weight[s] / area
                if work >= parallel_cells:
                    _sweep_parallel(phase, active, nact, tiling, ground, state, impacts, p,
                                    stats)
                else:
                    _sweep_serial(phase, active, nact, tiling, ground, state, impacts, p,
                                  stats)
            if stage == 1:  # U^n of the inflow cells without this stage's inflow
                for s in range(src_cells.size):
                    eta0[src_cells[s] // cols, src_cells[s] % cols] = before[s]
            for m in range(nact):
                tid = active[m]
                totals[0] += weight * stats[tid, 0]
                totals[3] += weight * stats[tid, 1]
                totals[2] += weight * stats[tid, 2]
        deepest = 0.0
        fastest = 0.0
        flags[:] = 0.0
        for m in range(nact):
            tid = active[m]
            deepest = max(deepest, stats[tid, 3])
            flags[tid] = stats[tid, 4]
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
        dt_next = cfl * span / fastest if fastest > 0.0 else max_dt
        totals[6] = min(totals[6], dt_next)
    return t, dt_next, nact

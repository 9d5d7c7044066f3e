"""A plain NumPy transcription of the Godunov scheme: the slow, obviously correct reference the
Numba engine (``engine.flood.godunov``) is tested against, and the baseline of its benchmark.

Whole-grid array expressions, no tiles, no skipping: the HLL flux on the hydrostatic
reconstruction (Audusse et al. 2004) written as in the textbook - the full momentum flux with
the pressure ``g h*^2 / 2`` and the reconstruction's correction ``g (h^2 - h*^2) / 2`` on each
side - then the conservative update, rain, inflow and semi-implicit Manning friction, as in the
module docstring of ``engine.kernels.godunov``. Order 2: MUSCL states (MC limiter on depth,
surface and both velocities, first order where a neighbour is dry, not land or behind a crest),
the face bed the higher of the two reconstructed beds, the centred bed-slope source of Audusse
et al. (2004, eq. 3.6) written out, and Heun's two stages.
"""

from __future__ import annotations

import numpy as np

from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.godunov import G, GodunovOptions
from engine.flood.inertial import Inflow, cell_kinds

LAND, SEA = 1, 2


def velocity(q, h, hdry):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h > hdry, q / h, 0.0)


def hll(hl, zl, ql, pl, hr, zr, qr, pr, zf, both_sea, hdry):
    """Flux across faces: mass, momentum into the left cell's balance, into the right cell's,
    transverse momentum (each momentum with its cell's full pressure ``g h^2 / 2``)."""
    with np.errstate(invalid="ignore"):
        hls = np.maximum(0.0, hl + zl - zf)
        hrs = np.maximum(0.0, hr + zr - zf)
    return hll_states(hls, hrs, velocity(ql, hl, hdry), velocity(qr, hr, hdry),
                      velocity(pl, hl, hdry), velocity(pr, hr, hdry), hl, hr, both_sea, hdry)


def hll_states(hls, hrs, ul, ur, tl, tr, hl, hr, both_sea, hdry):
    """:func:`hll` from the reconstructed depths ``hls``, ``hrs``, the velocities (normal
    ``u``, transverse ``t``) and the depths ``hl``, ``hr`` the two cells have at the face."""
    cl, cr = np.sqrt(G * hls), np.sqrt(G * hrs)
    us = 0.5 * (ul + ur) + cl - cr
    cs = 0.5 * (cl + cr) + 0.25 * (ul - ur)
    sl = np.where(hls <= hdry, ur - 2 * cr, np.where(hrs <= hdry, ul - cl,
                                                     np.minimum(ul - cl, us - cs)))
    sr = np.where(hls <= hdry, ur + cr, np.where(hrs <= hdry, ul + 2 * cl,
                                                 np.maximum(ur + cr, us + cs)))
    fl = (hls * ul, hls * ul * ul + 0.5 * G * hls ** 2)
    fr = (hrs * ur, hrs * ur * ur + 0.5 * G * hrs ** 2)
    ul_state, ur_state = (hls, hls * ul), (hrs, hrs * ur)
    flux = []
    for a, b, ua, ub in zip(fl, fr, ul_state, ur_state):
        with np.errstate(divide="ignore", invalid="ignore"):
            mid = (sr * a - sl * b + sl * sr * (ub - ua)) / (sr - sl)
        flux.append(np.where(sl >= 0, a, np.where(sr <= 0, b, mid)))
    dry = ((hls <= hdry) & (hrs <= hdry)) | both_sea
    mass = np.where(dry, 0.0, flux[0])
    momentum = np.where(dry, 0.0, flux[1])
    left = momentum + 0.5 * G * (hl ** 2 - hls ** 2)   # what the left cell loses
    right = momentum + 0.5 * G * (hr ** 2 - hrs ** 2)  # what the right cell gains
    trans = mass * np.where(mass > 0, tl, tr)
    return mass, left, right, trans


def mc(a, b):
    """The MC limiter (van Leer 1977)."""
    return np.where(a * b <= 0, 0.0, np.sign(a) * np.minimum.reduce(
        [np.abs(0.5 * (a + b)), 2 * np.abs(a), 2 * np.abs(b)]))


def muscl(h, z, qn, qt, kind, zf, hdry):
    """MUSCL states of every cell along axis 1 (``zf`` the beds of the faces between cells,
    ``(rows, cols + 1)``): ``(h, eta, u, v)`` at the west (lower) face, then at the east."""
    u, v = velocity(qn, h, hdry), velocity(qt, h, hdry)
    eta = h + z
    smooth = np.zeros(h.shape, bool)
    inner = (slice(None), slice(1, -1))
    land = kind == LAND
    wet = h > hdry
    smooth[inner] = (land[:, 1:-1] & land[:, :-2] & land[:, 2:] & wet[:, 1:-1] & wet[:, :-2]
                     & wet[:, 2:] & (zf[:, 1:-2] <= np.maximum(z[:, :-2], z[:, 1:-1]))
                     & (zf[:, 2:-1] <= np.maximum(z[:, 1:-1], z[:, 2:])))
    lo, hi = [], []
    for f in (h, eta, u, v):
        s = np.zeros(f.shape)
        s[inner] = 0.5 * mc(f[:, 1:-1] - f[:, :-2], f[:, 2:] - f[:, 1:-1])
        s = np.where(smooth, s, 0.0)
        lo.append(f - s)
        hi.append(f + s)
    return lo, hi


def faces2(h, z, qn, qt, kind, zf, hdry):
    """Order 2 along axis 1: face fluxes (interior faces) and each cell's full momentum flux
    difference ``F_e - F_w - S_c`` without the face fluxes, i.e. the cell terms."""
    (hw, ew, uw, vw), (he, ee, ue, ve) = muscl(h, z, qn, qt, kind, zf, hdry)
    bed = np.maximum(ee[:, :-1] - he[:, :-1], ew[:, 1:] - hw[:, 1:])
    inner = zf[:, 1:-1]
    with np.errstate(invalid="ignore"):
        bed = np.where(inner > np.maximum(z[:, :-1], z[:, 1:]), np.maximum(bed, inner), bed)
        hls = np.where(np.isfinite(inner), np.maximum(0.0, ee[:, :-1] - bed), 0.0)
        hrs = np.where(np.isfinite(inner), np.maximum(0.0, ew[:, 1:] - bed), 0.0)
    sea = kind >= SEA
    out = hll_states(hls, hrs, ue[:, :-1], uw[:, 1:], ve[:, :-1], vw[:, 1:], he[:, :-1],
                     hw[:, 1:], sea[:, :-1] & sea[:, 1:], hdry)
    # The centred source of Audusse et al. (2004): g (h- + h+) / 2 (z- - z+) per cell.
    source = 0.5 * G * (hw + he) * ((ew - hw) - (ee - he))
    return out, hw, he, source


def step2(h, hu, hv, z, kind, zfx, zfy, gn, dt, dx, dy, hdry, level, rain, source):
    """One stage of order 2 (``U + dt L(U)`` on MUSCL states, then friction)."""
    rows, cols = h.shape
    sea = kind >= SEA
    fx = [np.zeros((rows, cols + 1)) for _ in range(4)]
    out, hw, he, sx = faces2(h, z, hu, hv, kind, zfx, hdry)
    for f, o in zip(fx, out):
        f[:, 1:-1] = o
    fy = [np.zeros((rows + 1, cols)) for _ in range(4)]
    out, hn, hs, sy = faces2(h.T, z.T, hv.T, hu.T, kind.T, zfy.T, hdry)
    for f, o in zip(fy, out):
        f[1:-1] = o.T
    hn, hs, sy = hn.T, hs.T, sy.T
    fxl = np.where(np.isfinite(zfx[:, 1:]), fx[1][:, 1:], 0.5 * G * he ** 2)
    fxr = np.where(np.isfinite(zfx[:, :-1]), fx[2][:, :-1], 0.5 * G * hw ** 2)
    fyl = np.where(np.isfinite(zfy[1:]), fy[1][1:], 0.5 * G * hs ** 2)
    fyr = np.where(np.isfinite(zfy[:-1]), fy[2][:-1], 0.5 * G * hn ** 2)
    return _finish(h, hu, hv, z, kind, gn, dt, dx, dy, hdry, level, rain, source, sea, fx, fy,
                   fxl - sx, fxr, fyl - sy, fyr)


def step(h, hu, hv, z, kind, zfx, zfy, gn, dt, dx, dy, hdry, level, rain, source):
    """One step; returns the new (h, hu, hv) and the (boundary, rain, clamped) volumes."""
    rows, cols = h.shape
    sea = kind >= SEA
    fx = [np.zeros((rows, cols + 1)) for _ in range(4)]
    out = hll(h[:, :-1], z[:, :-1], hu[:, :-1], hv[:, :-1], h[:, 1:], z[:, 1:], hu[:, 1:],
              hv[:, 1:], zfx[:, 1:-1], sea[:, :-1] & sea[:, 1:], hdry)
    for f, o in zip(fx, out):
        f[:, 1:-1] = o
    fy = [np.zeros((rows + 1, cols)) for _ in range(4)]
    out = hll(h[:-1], z[:-1], hv[:-1], hu[:-1], h[1:], z[1:], hv[1:], hu[1:], zfy[1:-1],
              sea[:-1] & sea[1:], hdry)
    for f, o in zip(fy, out):
        f[1:-1] = o
    # Closed faces and grid edges: a wall, which pushes back with the cell's own pressure.
    wall = 0.5 * G * h ** 2
    fxl = np.where(np.isfinite(zfx[:, 1:]), fx[1][:, 1:], wall)   # east face, cell is left
    fxr = np.where(np.isfinite(zfx[:, :-1]), fx[2][:, :-1], wall)  # west face, cell is right
    fyl = np.where(np.isfinite(zfy[1:]), fy[1][1:], wall)
    fyr = np.where(np.isfinite(zfy[:-1]), fy[2][:-1], wall)
    return _finish(h, hu, hv, z, kind, gn, dt, dx, dy, hdry, level, rain, source, sea, fx, fy,
                   fxl, fxr, fyl, fyr)


def _finish(h, hu, hv, z, kind, gn, dt, dx, dy, hdry, level, rain, source, sea, fx, fy, fxl,
            fxr, fyl, fyr):
    """The update from the face fluxes (``fxl``: what each cell loses through its east face,
    ``fxr``: what it gains through its west face, likewise in y)."""
    if source is not None:
        cells, volume = source
        h = h.copy()
        np.add.at(h.ravel(), cells, volume / cells.size / (dx * dy))
    dm = dt / dx * (fx[0][:, :-1] - fx[0][:, 1:]) + dt / dy * (fy[0][:-1] - fy[0][1:])
    land = kind == LAND
    boundary = -float(dm[sea].sum()) * dx * dy
    hn = h + dm + np.where(land, rain * dt, 0.0)
    qu = hu + dt / dx * (fxr - fxl) + dt / dy * (fy[3][:-1] - fy[3][1:])
    qv = hv + dt / dy * (fyr - fyl) + dt / dx * (fx[3][:, :-1] - fx[3][:, 1:])
    clamped = float(np.maximum(-hn, 0.0)[land].sum()) * dx * dy
    hn = np.maximum(hn, 0.0)
    moving = hn > hdry
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(moving, 1.0 / (1.0 + dt * gn * np.hypot(qu, qv) / hn ** (7 / 3)), 0.0)
    qu, qv = qu * scale, qv * scale
    hn = np.where(sea, np.maximum(level - z, 0.0), np.where(land, hn, 0.0))
    qu = np.where(land, qu, 0.0)
    qv = np.where(land, qv, 0.0)
    return hn, qu, qv, (boundary, rain * dt * dx * dy * land.sum(), clamped)


def simulate(domain: FloodDomain, *, start: float, end: float, level: Hydrograph | None = None,
             inflow: Inflow | None = None, rain: Hydrograph | None = None,
             options: GodunovOptions | None = None, initial_eta: np.ndarray | None = None):
    """The reference run: final (h, hu, hv), maximum depth, steps and volume books; order 2
    when ``options.order`` is 2."""
    o = options or GodunovOptions()
    dx, dy = domain.cell_size
    zfx, zfy = domain.face_beds()
    kind = cell_kinds(domain, zfx, zfy)
    z = np.where(domain.open, domain.elevation, 0.0)
    gn = np.where(domain.open, G * domain.manning ** 2, 0.0)
    eta = z.copy() if initial_eta is None else np.where(domain.open, initial_eta, 0.0)
    h = np.where(kind > 0, np.maximum(eta - z, 0.0), 0.0)
    if level is not None:
        h = np.where(kind >= SEA, np.maximum(level.at(start) - z, 0.0), h)
    hu, hv = np.zeros_like(h), np.zeros_like(h)
    breaks = np.unique(np.concatenate([inflow.discharge.times if inflow else [],
                                       rain.times if rain else []]))
    relevant = (kind == LAND) | (kind == 3)
    hmax = np.where(kind == LAND, h, 0.0)
    books = np.zeros(4)
    t, steps = float(start), 0
    while t < end:
        wet = relevant & (h > o.flow_depth)
        speed = float((np.maximum(np.abs(velocity(hu, h, o.flow_depth)),
                                  np.abs(velocity(hv, h, o.flow_depth)))
                       + np.sqrt(G * h))[wet].max(initial=0.0))
        dt = o.cfl * min(dx, dy) / speed if speed > 0 else o.max_dt
        dt = min(dt, o.max_dt, end - t)
        later = breaks[breaks > t]
        if later.size:
            dt = min(dt, later[0] - t)
        if end - (t + dt) < 1e-9 * max(1.0, abs(end)):
            dt = end - t
        r = 0.0 if rain is None else 0.5 * (rain.at(t) + rain.at(t + dt))
        source = None
        if inflow is not None:
            volume = 0.5 * (inflow.discharge.at(t) + inflow.discharge.at(t + dt)) * dt
            source = (np.asarray(inflow.cells), volume)
            books[1] += volume
        lv = float(level.at(t + dt)) if level is not None else 0.0
        args = (z, kind, zfx, zfy, gn, dt, dx, dy, o.flow_depth, lv, r, source)
        if o.order == 1:
            h, hu, hv, (b, rv, c) = step(h, hu, hv, *args)
            books += (b, 0.0, rv, c)
        else:  # Heun: the average of U and two stages
            h1, hu1, hv1, (b1, rv1, c1) = step2(h, hu, hv, *args)
            h2, hu2, hv2, (b2, rv2, c2) = step2(h1, hu1, hv1, *args)
            h = np.where(kind >= SEA, h2, 0.5 * (h + h2))  # the sea at the new level
            moving = h > o.flow_depth
            hu = np.where(moving, 0.5 * (hu + hu2), 0.0)
            hv = np.where(moving, 0.5 * (hv + hv2), 0.0)
            books += (0.5 * (b1 + b2), 0.0, 0.5 * (rv1 + rv2), 0.5 * (c1 + c2))
        hmax = np.maximum(hmax, np.where(kind == LAND, h, 0.0))
        t += dt
        steps += 1
    storage = lambda depth: float(np.sum(depth[kind == LAND])) * dx * dy  # noqa: E731
    return {"h": h, "hu": hu, "hv": hv, "max_depth": hmax, "steps": steps, "books": books,
            "storage": storage}

"""A plain NumPy transcription of the local inertial scheme: the slow, obviously correct
reference the Numba engine (``engine.flood.inertial``) is tested against, and the baseline of
its benchmark.

Whole-grid array expressions, no tiles, no skipping, ``h ** (7/3)`` from libm: the equations of
Bates et al. (2010) with the q-centred momentum of de Almeida et al. (2012), the outflow
limiter, sea cells at the imposed level, rain and one inflow - as in the module docstring of
``engine.kernels.inertial``.
"""

from __future__ import annotations

import math

import numpy as np

from engine.flood.domain import FloodDomain
from engine.flood.forcing import Hydrograph
from engine.flood.inertial import G, Inflow, InertialOptions, cell_kinds

LAND, SEA = 1, 2


def face_depths(eta, kind, zfx, zfy, hmin):
    """Flow depth of every x and y face, 0 where the face carries no flow (closed, too
    shallow, grid edge or between two sea cells)."""
    sea = kind >= SEA
    rows, cols = eta.shape
    hx = np.zeros((rows, cols + 1))
    h = np.maximum(eta[:, :-1], eta[:, 1:]) - zfx[:, 1:-1]
    hx[:, 1:-1] = np.where((h > hmin) & ~(sea[:, :-1] & sea[:, 1:]), h, 0.0)
    hy = np.zeros((rows + 1, cols))
    h = np.maximum(eta[:-1, :], eta[1:, :]) - zfy[1:-1, :]
    hy[1:-1, :] = np.where((h > hmin) & ~(sea[:-1, :] & sea[1:, :]), h, 0.0)
    return hx, hy


def cell_flux(qa, qb, ua, ub, flows_a, flows_b, boundary):
    """Momentum flux ``qbar u*`` at cell centres along one axis, from the cell's faces ``a``
    (west or north) and ``b``: ``qbar`` their mean, ``u*`` the velocity of the upwind one. At
    an open-boundary cell a face that carries nothing takes the other face's values."""
    copy_b = boundary & ~flows_a & flows_b
    copy_a = boundary & flows_a & ~flows_b
    qa, ua, qb, ub = (np.where(copy_b, qb, qa), np.where(copy_b, ub, ua),
                      np.where(copy_a, qa, qb), np.where(copy_a, ua, ub))
    qbar = 0.5 * (qa + qb)
    return qbar * np.where(qbar > 0, ua, ub)


def advection(eta, qx, qy, kind, zfx, zfy, hmin, hadv, boundary, dx, dy):
    """Convective acceleration ``d(q u)/dx + d(q v)/dy`` on x faces and ``d(q u)/dx +
    d(p v)/dy`` on y faces (m2/s2), and the largest face speed (m/s)."""
    hx, hy = face_depths(eta, kind, zfx, zfy, hmin)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = np.where(hx > hadv, qx / hx, 0.0)
        uy = np.where(hy > hadv, qy / hy, 0.0)
    fastest = max(float(np.abs(ux).max(initial=0.0)), float(np.abs(uy).max(initial=0.0)))
    # x momentum: carried along x through the cell centres, along y through the corners
    f = cell_flux(qx[:, :-1], qx[:, 1:], ux[:, :-1], ux[:, 1:], hx[:, :-1] > 0, hx[:, 1:] > 0,
                  boundary)
    qyp = np.pad(qy, ((0, 0), (1, 1)))
    v = 0.5 * (qyp[:, :-1] + qyp[:, 1:])  # (rows + 1, cols + 1) corners
    uxp = np.pad(ux, ((1, 1), (0, 0)))
    g = v * np.where(v > 0, uxp[:-1, :], uxp[1:, :])
    ax = np.zeros_like(qx)
    ax[:, 1:-1] = (f[:, 1:] - f[:, :-1]) / dx + (g[1:, 1:-1] - g[:-1, 1:-1]) / dy
    # y momentum: along y through the cell centres, along x through the corners
    f = cell_flux(qy[:-1, :], qy[1:, :], uy[:-1, :], uy[1:, :], hy[:-1, :] > 0, hy[1:, :] > 0,
                  boundary)
    qxp = np.pad(qx, ((1, 1), (0, 0)))
    u = 0.5 * (qxp[:-1, :] + qxp[1:, :])
    uyp = np.pad(uy, ((0, 0), (1, 1)))
    g = u * np.where(u > 0, uyp[:, :-1], uyp[:, 1:])
    ay = np.zeros_like(qy)
    ay[1:-1, :] = (f[1:, :] - f[:-1, :]) / dy + (g[1:-1, 1:] - g[1:-1, :-1]) / dx
    return np.where(hx > hadv, ax, 0.0), np.where(hy > hadv, ay, 0.0), fastest


def step(eta, qx, qy, z, kind, zfx, zfy, gnx, gny, dt, dx, dy, theta, hmin, level, rain,
         source, adv=None, hadv=0.01):
    """One step; returns new (eta, qx, qy), the (boundary, rain, clamped) volumes and the
    fastest face velocity ``|q| / hf`` at the start of the step (faces deeper than ``hadv``).
    ``adv``: the convective accelerations ``(ax, ay)`` of :func:`advection`, or None."""
    ax, ay = adv if adv is not None else (np.zeros_like(qx), np.zeros_like(qy))
    sea = kind >= SEA
    # momentum, x faces 1..cols-1
    hf = np.maximum(eta[:, :-1], eta[:, 1:]) - zfx[:, 1:-1]
    flow = (hf > hmin) & ~(sea[:, :-1] & sea[:, 1:])  # faces 1..cols-1 that carry flow
    flows = np.pad(flow, ((0, 0), (1, 1)))  # all faces; the grid edges carry none
    q0 = qx[:, 1:-1]
    fastest = float((np.abs(q0) / np.where(flow, hf, 1.0))[flow & (hf > hadv)].max(initial=0))
    qm = np.where(flows[:, :-2], qx[:, :-2], q0)  # neighbours only if they flow themselves
    qp = np.where(flows[:, 2:], qx[:, 2:], q0)
    qc = 0.25 * (qy[:-1, :-1] + qy[1:, :-1] + qy[:-1, 1:] + qy[1:, 1:])
    slope = (eta[:, 1:] - eta[:, :-1]) / dx
    h = np.where(flow, hf, 1.0)
    new = (theta * q0 + 0.5 * (1 - theta) * (qm + qp) - G * h * dt * slope
           - dt * ax[:, 1:-1]) / (1 + dt * gnx[:, 1:-1] * np.sqrt(q0 ** 2 + qc ** 2) / h ** (7 / 3))
    qxn = np.zeros_like(qx)
    qxn[:, 1:-1] = np.where(flow, new, 0.0)
    # momentum, y faces 1..rows-1
    hf = np.maximum(eta[:-1, :], eta[1:, :]) - zfy[1:-1, :]
    flow = (hf > hmin) & ~(sea[:-1, :] & sea[1:, :])
    flows = np.pad(flow, ((1, 1), (0, 0)))
    q0 = qy[1:-1, :]
    fastest = max(fastest, float((np.abs(q0) / np.where(flow, hf, 1.0))[flow & (hf > hadv)]
                                 .max(initial=0)))
    qm = np.where(flows[:-2, :], qy[:-2, :], q0)
    qp = np.where(flows[2:, :], qy[2:, :], q0)
    qc = 0.25 * (qx[:-1, :-1] + qx[:-1, 1:] + qx[1:, :-1] + qx[1:, 1:])
    slope = (eta[1:, :] - eta[:-1, :]) / dy
    h = np.where(flow, hf, 1.0)
    new = (theta * q0 + 0.5 * (1 - theta) * (qm + qp) - G * h * dt * slope
           - dt * ay[1:-1, :]) / (1 + dt * gny[1:-1, :] * np.sqrt(q0 ** 2 + qc ** 2) / h ** (7 / 3))
    qyn = np.zeros_like(qy)
    qyn[1:-1, :] = np.where(flow, new, 0.0)
    # limiter: scale a land cell's outflows to its water
    out = dt * (dy * (np.maximum(qxn[:, 1:], 0) + np.maximum(-qxn[:, :-1], 0))
                + dx * (np.maximum(qyn[1:, :], 0) + np.maximum(-qyn[:-1, :], 0)))
    have = (eta - z) * dx * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = np.where((kind == LAND) & (out > have), np.where(have > 0, have / out, 0.0), 1.0)
    fx = np.pad(fac, ((0, 0), (1, 1)), constant_values=1.0)
    fy = np.pad(fac, ((1, 1), (0, 0)), constant_values=1.0)
    qxn = qxn * np.where(qxn > 0, fx[:, :-1], fx[:, 1:])
    qyn = qyn * np.where(qyn > 0, fy[:-1, :], fy[1:, :])
    # inflow, then continuity
    eta = eta.copy()
    if source is not None:
        cells, volume = source
        np.add.at(eta.ravel(), cells, volume / cells.size / (dx * dy))
    change = dt * ((qxn[:, :-1] - qxn[:, 1:]) / dx + (qyn[:-1, :] - qyn[1:, :]) / dy)
    land = kind == LAND
    boundary = -float(np.sum(change[sea])) * dx * dy
    new_eta = eta + change + np.where(land, rain * dt, 0.0)
    clamped = float(np.sum(np.maximum(z - new_eta, 0.0)[land])) * dx * dy
    new_eta = np.where(land, np.maximum(new_eta, z), new_eta)
    new_eta = np.where(sea, np.maximum(level, z), new_eta)
    new_eta = np.where(kind == 0, eta, new_eta)
    return new_eta, qxn, qyn, (boundary, rain * dt * dx * dy * land.sum(), clamped), fastest


def simulate(domain: FloodDomain, *, start: float, end: float, level: Hydrograph | None = None,
             inflow: Inflow | None = None, rain: Hydrograph | None = None,
             options: InertialOptions | None = None, initial_eta: np.ndarray | None = None):
    """The reference run: final (eta, qx, qy), maximum depth, steps and volume books."""
    o = options or InertialOptions()
    dx, dy = domain.cell_size
    zfx, zfy = domain.face_beds()
    gnx, gny = domain.face_friction(G)
    kind = cell_kinds(domain, zfx, zfy)
    z = np.where(domain.open, domain.elevation, 0.0)
    eta = z.copy() if initial_eta is None else np.maximum(np.where(domain.open, initial_eta, 0),
                                                           z)
    if level is not None:
        eta = np.where(kind >= SEA, np.maximum(level.at(start), z), eta)
    qx = np.zeros((z.shape[0], z.shape[1] + 1))
    qy = np.zeros((z.shape[0] + 1, z.shape[1]))
    breaks = np.unique(np.concatenate([inflow.discharge.times if inflow else [],
                                       rain.times if rain else []]))
    relevant = (kind == LAND) | ((kind == 3))
    depth = eta - z
    hmax = np.where(kind == LAND, depth, 0.0)
    deepest = float(depth[relevant].max(initial=0.0))
    books = np.zeros(4)
    t, steps = float(start), 0
    boundary = kind >= SEA
    if inflow is not None:
        boundary.ravel()[np.asarray(inflow.cells)] = True
    fastest = 0.0  # of the previous step: the plain scheme's Courant condition counts it
    while t < end:
        speed = math.sqrt(G * deepest)
        adv = None
        if not o.advection:
            speed += fastest
        else:
            *adv, fastest = advection(eta, qx, qy, kind, zfx, zfy, o.flow_depth,
                                      o.advection_depth, boundary, dx, dy)
            speed += fastest
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
        eta, qx, qy, (b, rv, c), fastest = step(eta, qx, qy, z, kind, zfx, zfy, gnx, gny, dt,
                                                dx, dy, o.theta, o.flow_depth, lv, r, source,
                                                adv, o.advection_depth)
        books += (b, 0.0, rv, c)
        depth = eta - z
        hmax = np.maximum(hmax, np.where(kind == LAND, depth, 0.0))
        deepest = float(depth[relevant].max(initial=0.0))
        t += dt
        steps += 1
    storage = lambda e: float(np.sum((e - z)[kind == LAND])) * dx * dy  # noqa: E731
    return {"eta": eta, "qx": qx, "qy": qy, "max_depth": hmax, "steps": steps,
            "books": books, "storage": storage}

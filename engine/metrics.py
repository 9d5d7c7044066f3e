"""Accuracy of a simulated land-use map against the observed one, always beside null models.

Everything derives from one three-way table ``T[o, a, s]``: the cells whose class was ``o`` at
the start, is ``a`` in the actual (reference) map at the end and ``s`` in the simulated map.

- overall agreement and Cohen's Kappa between actual and simulated maps;
- Kappa simulation (van Vliet, Bregt & Hagen-Zanker 2011), which measures agreement on the
  *transitions* against what a random allocation of the simulated transitions would reach,
  with its two factors Kappa transition and Kappa transloc;
- the Figure of Merit (Pontius et al. 2008): of the cells that changed in reality or in the
  simulation, the share simulated correctly, with its hits (changed, simulated as the right
  change), misses (changed, simulated as persistence), wrong hits (changed, simulated as the
  wrong change) and false alarms (persisted, simulated as change);
- quantity and allocation disagreement (Pontius & Millones 2011), which add up to 1 - overall
  agreement.

Per class, agreement and the Kappas are computed on the map reduced to "the class / the rest",
the Figure of Merit on the gains of the class and the disagreements are Pontius & Millones's
per-category components. Raw agreement and Kappa reward persistence - a map that changes
nothing scores high where little changes - so :func:`compare_with_nulls` reports every metric
of the model next to the "no change" null model and a random allocation of the right quantities
(:func:`random_allocation`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from engine.kernels.random import uniform_grid

NODATA = 255
CATEGORIES = {0: "persistence simulated as persistence", 1: "hit", 2: "miss",
              3: "wrong hit", 4: "false alarm"}


def transition_table(start: np.ndarray, actual: np.ndarray, simulated: np.ndarray,
                     n_classes: int, valid: np.ndarray | None = None) -> np.ndarray:
    """``T[o, a, s]``: cells by start, actual and simulated class (indices, 255 = outside).

    Cells outside the study area in any map (or outside ``valid``) are left out.

    Examples
    --------
    >>> transition_table(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1, 1, 1]),
    ...                  2)[0].tolist()  # from class 0: (a=0, s=1) once, (a=1, s=1) once
    [[0, 1], [0, 1]]
    """
    ok = (start < n_classes) & (actual < n_classes) & (simulated < n_classes)
    if valid is not None:
        ok &= valid
    key = (start[ok].astype(np.int64) * n_classes + actual[ok]) * n_classes + simulated[ok]
    return np.bincount(key, minlength=n_classes ** 3).reshape((n_classes,) * 3)


def overall_agreement(table: np.ndarray) -> float:
    """Share of cells whose simulated class is the actual one."""
    c = table.sum(axis=0)
    return _ratio(np.trace(c), c.sum())


def kappa(table: np.ndarray) -> float:
    """Cohen's Kappa between the actual and the simulated map."""
    c = table.sum(axis=0).astype(np.float64)
    n = c.sum()
    if n == 0:
        return float("nan")
    p_o = np.trace(c) / n
    p_e = float((c.sum(axis=1) / n) @ (c.sum(axis=0) / n))
    return _ratio(p_o - p_e, 1.0 - p_e)


def kappa_simulation(table: np.ndarray) -> dict[str, float]:
    """Kappa simulation and its factors (van Vliet et al. 2011).

    With ``p(o=j)`` the share of class ``j`` at the start, ``p(s=i|o=j)`` and ``p(a=i|o=j)``
    the simulated and actual transition probabilities::

        p_e(T)   = sum_j p(o=j) sum_i p(s=i|o=j) p(a=i|o=j)
        p_max(T) = sum_j p(o=j) sum_i min(p(s=i|o=j), p(a=i|o=j))
        K_sim = (p_o - p_e) / (1 - p_e),  K_transition = (p_max - p_e) / (1 - p_e),
        K_transloc = (p_o - p_e) / (p_max - p_e)   (K_sim = K_transition x K_transloc)
    """
    t = table.astype(np.float64)
    n = t.sum()
    if n == 0:
        return {"kappa_simulation": float("nan"), "kappa_transition": float("nan"),
                "kappa_transloc": float("nan")}
    from_j = t.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p_sim = np.where(from_j[:, None] > 0, t.sum(axis=1) / from_j[:, None], 0.0)
        p_act = np.where(from_j[:, None] > 0, t.sum(axis=2) / from_j[:, None], 0.0)
    p_o = np.trace(t.sum(axis=0)) / n
    share = from_j / n
    p_e = float(share @ (p_sim * p_act).sum(axis=1))
    p_max = float(share @ np.minimum(p_sim, p_act).sum(axis=1))
    return {"kappa_simulation": _ratio(p_o - p_e, 1.0 - p_e),
            "kappa_transition": _ratio(p_max - p_e, 1.0 - p_e),
            "kappa_transloc": _ratio(p_o - p_e, p_max - p_e)}


def figure_of_merit(table: np.ndarray, k: int | None = None) -> dict[str, float]:
    """Figure of Merit with its hits, misses, wrong hits and false alarms (Pontius et al.
    2008); with ``k``, for the gains of class ``k`` only.

    ``FoM = B / (A + B + C + D)``, producer's accuracy ``B / (A + B + C)`` and user's accuracy
    ``B / (B + C + D)`` for hits B, misses A, wrong hits C and false alarms D.
    """
    n = table.shape[0]
    o, a, s = np.indices(table.shape)
    if k is None:
        observed = a != o
        hits = observed & (s == a)
        misses = observed & (s == o)
        wrong = observed & (s != o) & (s != a)
        false = ~observed & (s != o)
    else:
        if not 0 <= k < n:
            raise ValueError(f"class index {k} outside 0..{n - 1}")
        observed = (o != k) & (a == k)
        hits = observed & (s == k)
        misses = observed & (s == o)
        wrong = observed & (s != o) & (s != k)
        false = (o != k) & (a != k) & (s == k)
    b, m, w, f = (int(table[mask].sum()) for mask in (hits, misses, wrong, false))
    return {"hits": b, "misses": m, "wrong_hits": w, "false_alarms": f,
            "figure_of_merit": _ratio(b, m + b + w + f),
            "producers_accuracy": _ratio(b, m + b + w), "users_accuracy": _ratio(b, b + w + f)}


def disagreement(table: np.ndarray) -> dict[str, Any]:
    """Quantity and allocation disagreement (Pontius & Millones 2011), overall and per class.

    With ``p`` the simulated x actual table in shares: ``q_g = |p_g+ - p_+g|``,
    ``a_g = 2 min(p_g+ - p_gg, p_+g - p_gg)``, ``Q = sum q_g / 2``, ``A = sum a_g / 2``;
    ``Q + A = 1 - overall agreement``.
    """
    c = table.sum(axis=0).T.astype(np.float64)  # rows: simulated, columns: actual
    n = c.sum()
    if n == 0:
        nan = float("nan")
        return {"quantity": nan, "allocation": nan, "per_class": []}
    p = c / n
    sim, act, diag = p.sum(axis=1), p.sum(axis=0), np.diag(p)
    q = np.abs(sim - act)
    a = 2.0 * np.minimum(sim - diag, act - diag)
    return {"quantity": float(q.sum() / 2), "allocation": float(a.sum() / 2),
            "per_class": [{"quantity": float(qi), "allocation": float(ai)}
                          for qi, ai in zip(q, a)]}


def binary_table(table: np.ndarray, k: int) -> np.ndarray:
    """The table of the maps reduced to class ``k`` (index 1) against the rest (index 0)."""
    n = table.shape[0]
    member = (np.arange(n) == k).astype(np.int64)
    out = np.zeros((2, 2, 2), dtype=table.dtype)
    for o in range(n):
        for a in range(n):
            for s in range(n):
                out[member[o], member[a], member[s]] += table[o, a, s]
    return out


def assess(table: np.ndarray, codes: Sequence[int]) -> dict[str, Any]:
    """Every metric, overall and per class (keyed by class code), from ``T[o, a, s]``."""
    n = table.shape[0]
    dis = disagreement(table)
    overall = {"cells": int(table.sum()),
               "observed_change": int(table.sum() - np.trace(table.sum(axis=2))),
               "simulated_change": int(table.sum() - np.trace(table.sum(axis=1))),
               "overall_agreement": overall_agreement(table), "kappa": kappa(table),
               **kappa_simulation(table), **figure_of_merit(table),
               "quantity_disagreement": dis["quantity"],
               "allocation_disagreement": dis["allocation"]}
    per_class = {}
    for k in range(n):
        b = binary_table(table, k)
        per_class[str(int(codes[k]))] = {
            "overall_agreement": overall_agreement(b), "kappa": kappa(b),
            "kappa_simulation": kappa_simulation(b)["kappa_simulation"],
            **figure_of_merit(table, k),
            "quantity_disagreement": dis["per_class"][k]["quantity"] if dis["per_class"]
            else float("nan"),
            "allocation_disagreement": dis["per_class"][k]["allocation"] if dis["per_class"]
            else float("nan")}
    return {"overall": overall, "per_class": per_class}


def random_allocation(start: np.ndarray, actual: np.ndarray, n_classes: int, *, seed: int,
                      eligible: np.ndarray | None = None) -> np.ndarray:
    """The null model "random allocation of the right quantities": a map with the net class
    areas of ``actual``, made from ``start`` by changing cells picked at random.

    Each class that shrinks gives up exactly its net loss, in cells drawn uniformly among its
    ``eligible`` cells (default: all in the study area); the cells given up go, in random
    order, to the classes that grow, each receiving exactly its net gain. Draws are
    counter-based on (seed, cell), so the map depends only on the seed.
    """
    valid = (start < n_classes) & (actual < n_classes)
    if eligible is not None:
        valid &= eligible
    inside = (start < n_classes) & (actual < n_classes)
    have = np.bincount(start[inside], minlength=n_classes)
    want = np.bincount(actual[inside], minlength=n_classes)
    net = want.astype(np.int64) - have
    key = uniform_grid(seed, 0, 0, (1, start.size)).ravel()  # cell i draws with key i
    flat = start.ravel()
    released = []
    for k in np.flatnonzero(net < 0):
        cells = np.flatnonzero(valid.ravel() & (flat == k))
        take = min(int(-net[k]), cells.size)
        released.append(cells[np.argsort(key[cells], kind="stable")[:take]])
    pool = np.concatenate(released) if released else np.zeros(0, np.int64)
    order = uniform_grid(seed, 0, 1, (1, start.size)).ravel()[pool]
    pool = pool[np.argsort(order, kind="stable")]
    out = start.copy()
    at = 0
    for k in np.flatnonzero(net > 0):
        take = min(int(net[k]), pool.size - at)
        out.ravel()[pool[at:at + take]] = k
        at += take
    return out


def compare_with_nulls(start: np.ndarray, actual: np.ndarray, simulated: np.ndarray,
                       codes: Sequence[int], *, seed: int = 0,
                       eligible: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`assess` for the model, the no-change null model and the random null model."""
    n = len(codes)
    random_map = random_allocation(start, actual, n, seed=seed, eligible=eligible)
    return {name: assess(transition_table(start, actual, m, n), codes)
            for name, m in (("model", simulated), ("null_no_change", start),
                            ("null_random", random_map))}


def agreement_map(start: np.ndarray, actual: np.ndarray, simulated: np.ndarray,
                  n_classes: int) -> np.ndarray:
    """Per cell: 0 persistence simulated as persistence, 1 hit, 2 miss, 3 wrong hit,
    4 false alarm, 255 outside the study area (see :data:`CATEGORIES`)."""
    observed = actual != start
    out = np.zeros(start.shape, dtype=np.uint8)
    out[observed & (simulated == actual)] = 1
    out[observed & (simulated == start)] = 2
    out[observed & (simulated != start) & (simulated != actual)] = 3
    out[~observed & (simulated != start)] = 4
    out[(start >= n_classes) | (actual >= n_classes) | (simulated >= n_classes)] = NODATA
    return out


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")

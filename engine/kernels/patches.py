"""Patch growth: a seed cell grows into a patch of a sampled size, as in the patch-growing
algorithm of FUTURES (Meentemeyer et al. 2013) and the multi-type random patch seeds of PLUS
(Liang et al. 2021).

A patch of class ``k`` grows from its seed by repeatedly taking the frontier cell (8-connected
to the patch) of highest priority::

    priority = P_k * conv[c, k] * policy[k] * (m / 8)^compactness * v

where ``m`` is the number of the cell's 8 neighbours already of class ``k`` (so patches stay
compact and cling to existing land of their class as ``compactness`` grows) and ``v`` is the
stochastic factor of :mod:`engine.kernels.transition` (drawn on the cell's own key). The
target size is drawn from the sizes of the patches observed in the calibration period
(FUTURES's empirical patch-size library), times a calibrated scale. Growth is serial and
deterministic: the frontier is a binary heap ordered by (priority, then lowest cell index).

Which cells a class may take and what each conversion costs in demand is decided by
:func:`can_become` and :func:`convert`, shared with :mod:`engine.kernels.allocation`.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit
from engine.kernels.transition import noise_level

NEIGHBOURS_R = (-1, -1, -1, 0, 0, 1, 1, 1)
NEIGHBOURS_C = (-1, 0, 1, -1, 1, -1, 0, 1)


@jit
def has_room(z: int, k: int, left: np.ndarray, free: np.ndarray, pool: np.ndarray) -> bool:
    """Whether class ``k`` in region ``z`` may still gain (or lose) a cell: from its own
    demand, or from the region's shared pool when the class has no demand of its own."""
    if free[z, k]:
        return pool[z] > 0
    return left[z, k] > 0


@jit
def _use_room(z: int, k: int, left: np.ndarray, free: np.ndarray, pool: np.ndarray) -> None:
    if free[z, k]:
        pool[z] -= 1
    else:
        left[z, k] -= 1


@jit
def can_become(cell, k, index, changed, suitability, forbid, policy, policy_weight, region,
               has_region, conversion, gain_left, gain_free, gain_pool, loss_left, loss_free,
               loss_pool) -> bool:
    """Whether ``cell`` may convert to class ``k`` now: in the study area, not yet changed
    this step, allowed by masks, conversion matrix and policy, suitable, and with demand left
    for ``k`` to gain and for its current class to lose."""
    cols = index.shape[1]
    r, c = cell // cols, cell % cols
    own = index[r, c]
    n = suitability.shape[2]
    if own >= n or own == k or changed[r, c] != 0 or (forbid[r, c] >> k) & 1:
        return False
    if conversion[own, k] <= 0.0 or policy_weight[policy[r, c], k] <= 0.0 \
            or suitability[r, c, k] <= 0.0:
        return False
    z = region[r, c] if has_region else 0
    return has_room(z, k, gain_left, gain_free, gain_pool) and \
        has_room(z, own, loss_left, loss_free, loss_pool)


@jit
def convert(cell, k, index, changed, region, has_region, gain_left, gain_free, gain_pool,
            loss_left, loss_free, loss_pool, transitions, converted, lost) -> None:
    """Turn ``cell`` into class ``k`` and charge the demand of both classes."""
    cols = index.shape[1]
    r, c = cell // cols, cell % cols
    own = index[r, c]
    z = region[r, c] if has_region else 0
    _use_room(z, k, gain_left, gain_free, gain_pool)
    _use_room(z, own, loss_left, loss_free, loss_pool)
    index[r, c] = k
    changed[r, c] = 1
    transitions[own, k] += 1
    converted[z, k] += 1
    lost[z, own] += 1


@jit
def sample_size(k: int, u: float, offsets: np.ndarray, sizes: np.ndarray, scale: float) -> int:
    """A patch size for class ``k``: an observed size picked uniformly by ``u`` in (0, 1),
    times ``scale``, rounded, at least 1. Classes without observed patches get 1."""
    count = offsets[k + 1] - offsets[k]
    if count == 0:
        return 1
    pick = min(int(u * count), count - 1)
    return max(1, int(sizes[offsets[k] + pick] * scale + 0.5))


@jit
def _before(p1: float, c1: int, p2: float, c2: int) -> bool:
    return p1 > p2 or (p1 == p2 and c1 < c2)


@jit
def heap_push(prio: np.ndarray, cells: np.ndarray, size: int, p: float, cell: int) -> int:
    """Push onto a max-heap of (priority, -cell); returns the new size."""
    i = size
    prio[i], cells[i] = p, cell
    while i > 0:
        parent = (i - 1) // 2
        if _before(prio[i], cells[i], prio[parent], cells[parent]):
            prio[i], prio[parent] = prio[parent], prio[i]
            cells[i], cells[parent] = cells[parent], cells[i]
            i = parent
        else:
            break
    return size + 1


@jit
def heap_pop(prio: np.ndarray, cells: np.ndarray, size: int) -> int:
    """Remove the top of the heap (read it first at index 0); returns the new size."""
    size -= 1
    prio[0], cells[0] = prio[size], cells[size]
    i = 0
    while True:
        left, right, top = 2 * i + 1, 2 * i + 2, i
        if left < size and _before(prio[left], cells[left], prio[top], cells[top]):
            top = left
        if right < size and _before(prio[right], cells[right], prio[top], cells[top]):
            top = right
        if top == i:
            return size
        prio[i], prio[top] = prio[top], prio[i]
        cells[i], cells[top] = cells[top], cells[i]
        i = top


def compactness_table(compactness: float) -> np.ndarray:
    """``(m / 8) ** compactness`` for the 0..8 neighbours ``m`` a cell can share with a patch.

    Examples
    --------
    >>> compactness_table(1.0)[[0, 4, 8]].tolist()
    [0.0, 0.5, 1.0]
    """
    return (np.arange(9) / 8.0) ** float(compactness)


@jit
def growth_priority(cell, k, index, suitability, policy, policy_weight, conversion,
                    compact, noise, key_grow) -> float:
    """Priority of ``cell`` joining a growing patch of class ``k`` (see the module docs);
    ``compact`` is :func:`compactness_table`."""
    rows, cols = index.shape
    r, c = cell // cols, cell % cols
    same = 0
    for j in range(8):
        rr, cc = r + NEIGHBOURS_R[j], c + NEIGHBOURS_C[j]
        if 0 <= rr < rows and 0 <= cc < cols and index[rr, cc] == k:
            same += 1
    v = noise[noise_level(key_grow, np.uint64(cell))]
    return (suitability[r, c, k] * conversion[index[r, c], k]
            * policy_weight[policy[r, c], k] * compact[same] * v)


@jit
def grow_patch(seed, k, target, index, changed, suitability, forbid, policy, policy_weight,
               region, has_region, conversion, gain_left, gain_free, gain_pool, loss_left,
               loss_free, loss_pool, transitions, converted, lost, compact, noise,
               key_grow, heap_prio, heap_cell) -> int:
    """Grow the patch of class ``k`` around the already converted ``seed`` until it has
    ``target`` cells, the frontier is empty or the demand is used up; returns its size."""
    rows, cols = index.shape
    size = 1
    heap = 0
    added = seed
    while size < target:
        r, c = added // cols, added % cols
        for j in range(8):
            rr, cc = r + NEIGHBOURS_R[j], c + NEIGHBOURS_C[j]
            if 0 <= rr < rows and 0 <= cc < cols:
                nb = rr * cols + cc
                if can_become(nb, k, index, changed, suitability, forbid, policy,
                              policy_weight, region, has_region, conversion, gain_left,
                              gain_free, gain_pool, loss_left, loss_free, loss_pool):
                    if heap == heap_prio.shape[0]:
                        break  # full: the patch keeps the frontier it has
                    p = growth_priority(nb, k, index, suitability, policy, policy_weight,
                                        conversion, compact, noise, key_grow)
                    heap = heap_push(heap_prio, heap_cell, heap, p, nb)
        added = -1
        while heap > 0:
            top = heap_cell[0]
            heap = heap_pop(heap_prio, heap_cell, heap)
            if can_become(top, k, index, changed, suitability, forbid, policy, policy_weight,
                          region, has_region, conversion, gain_left, gain_free, gain_pool,
                          loss_left, loss_free, loss_pool):
                added = top
                break
        if added < 0:
            break
        convert(added, k, index, changed, region, has_region, gain_left, gain_free,
                gain_pool, loss_left, loss_free, loss_pool, transitions, converted, lost)
        size += 1
    return size

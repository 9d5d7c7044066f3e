"""Allocation of demand to ranked requests: each accepted request seeds a patch.

The requests of a competition pass (:mod:`engine.kernels.transition`) are ranked per class by
score (ties: lowest cell index). Classes take turns - the class with the largest share of its
demand still unmet goes next, as CLUE-S balances classes toward their demand (Verburg et al.
2002) - and each turn takes the class's best remaining request: if the cell may still convert
(:func:`~engine.kernels.patches.can_become`) it becomes a seed and grows a patch
(:func:`~engine.kernels.patches.grow_patch`). A class stops when its demand is met (PLUS
stops a class's gains at its demand), and no class ever loses more cells than its demand
allows, so demand is met exactly or the gap is left for the next pass and reported.

Selection of the best requests is O(n) (score histograms in the competition pass, then a
threshold from ``np.partition``, ties broken by cell index), and only the selected few are
sorted.
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit
from engine.kernels.patches import (can_become, compactness_table, convert, grow_patch,
                                    sample_size)
from engine.kernels.random import uniform_at

ALLOCATION_MARGIN = 4  # requests ranked per pass: this many times the cells still wanted


@jit
def _rank(cells, classes, scores, n_classes, take):
    counts = np.zeros(n_classes + 1, dtype=np.int64)
    for i in range(classes.shape[0]):
        counts[classes[i] + 1] += 1
    starts = np.cumsum(counts)
    grouped = np.empty(cells.shape[0], dtype=np.int64)  # positions, by class, in cell order
    fill = starts[:-1].copy()
    for i in range(classes.shape[0]):
        k = classes[i]
        grouped[fill[k]] = i
        fill[k] += 1
    out_starts = np.zeros(n_classes + 1, dtype=np.int64)
    ranked = np.empty(cells.shape[0], dtype=np.int64)
    w = 0
    for k in range(n_classes):
        pos = grouped[starts[k]:starts[k + 1]]
        m = min(take[k], pos.shape[0])
        if m < pos.shape[0] and m > 0:  # keep the m best: above the m-th score, then ties
            values = scores[pos]
            threshold = -np.partition(-values, m - 1)[m - 1]
            above = 0
            for i in range(pos.shape[0]):
                if values[i] > threshold:
                    above += 1
            keep = np.empty(m, dtype=np.int64)
            j, ties = 0, m - above
            for i in range(pos.shape[0]):  # in cell order: the stable sort breaks ties by cell
                if values[i] > threshold or (values[i] == threshold and ties > 0):
                    if values[i] == threshold:
                        ties -= 1
                    keep[j] = pos[i]
                    j += 1
            pos = keep
        elif m == 0:
            pos = pos[:0]
        order = np.argsort(-scores[pos], kind="mergesort")
        for i in range(pos.shape[0]):
            ranked[w] = cells[pos[order[i]]]
            w += 1
        out_starts[k + 1] = w
    return ranked[:w], out_starts


def ranked_requests(cells: np.ndarray, classes: np.ndarray, scores: np.ndarray, n_classes: int,
                    wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class, its best ``ALLOCATION_MARGIN * wanted[k] + 64`` requests in rank order
    (score descending, then cell); a pass never needs more, and what it cannot place goes to
    the next pass. ``cells`` must be increasing (as
    :func:`~engine.kernels.transition.compete` returns them). Returns the ranked cells and the
    start of each class in them (K + 1 offsets). O(n) selection, then a sort of the kept.

    Examples
    --------
    >>> ranked, starts = ranked_requests(np.array([2, 5, 7, 9]), np.array([1, 0, 1, 1]),
    ...                                  np.array([0.5, 0.1, 0.9, 0.5]), 2, np.array([0, 0]))
    >>> ranked.tolist(), starts.tolist()
    ([5, 7, 2, 9], [0, 1, 4])
    """
    take = ALLOCATION_MARGIN * np.asarray(wanted, dtype=np.int64) + 64
    return _rank(np.ascontiguousarray(cells, dtype=np.int64),
                 np.ascontiguousarray(classes, dtype=np.uint8),
                 np.ascontiguousarray(scores, dtype=np.float64), int(n_classes), take)


@jit
def _allocate(ranked, starts, wanted, index, changed, suitability, forbid, policy,
              policy_weight, region, has_region, conversion, gain_left, gain_free, gain_pool,
              loss_left, loss_free, loss_pool, transitions, converted, lost, size_offsets,
              size_values,
              patch_scale, compact, noise, key_size, key_grow, heap_prio, heap_cell):
    n = starts.shape[0] - 1
    ptr = starts[:-1].copy()
    initial = np.maximum(wanted.astype(np.float64), 1.0)
    left = wanted.copy()
    seeds = 0
    while True:
        best, best_share = -1, 0.0
        for k in range(n):
            if ptr[k] < starts[k + 1] and left[k] > 0:
                share = left[k] / initial[k]
                if share > best_share:
                    best, best_share = k, share
        if best < 0:
            break
        k = best
        cell = ranked[ptr[k]]
        ptr[k] += 1
        if not can_become(cell, k, index, changed, suitability, forbid, policy, policy_weight,
                          region, has_region, conversion, gain_left, gain_free, gain_pool,
                          loss_left, loss_free, loss_pool):
            continue
        convert(cell, k, index, changed, region, has_region, gain_left, gain_free, gain_pool,
                loss_left, loss_free, loss_pool, transitions, converted, lost)
        seeds += 1
        target = sample_size(k, uniform_at(key_size, np.uint64(cell)), size_offsets,
                             size_values, patch_scale)
        size = 1
        if target > 1:
            size = grow_patch(cell, k, min(target, heap_prio.shape[0] // 8), index, changed,
                              suitability, forbid, policy, policy_weight, region, has_region,
                              conversion, gain_left, gain_free, gain_pool, loss_left, loss_free,
                              loss_pool, transitions, converted, lost, compact, noise,
                              key_grow, heap_prio, heap_cell)
        left[k] -= size
    return seeds


def allocate_requests(ranked: np.ndarray, starts: np.ndarray, wanted: np.ndarray, *, state,
                      patch_scale: float, compactness: float, noise: np.ndarray,
                      key_size: np.uint64, key_grow: np.uint64) -> int:
    """Convert ranked requests (from :func:`ranked_requests`) into seeds and patches.

    ``state`` is an :class:`engine.landuse.AllocationState` whose arrays (map, changed mask,
    demand left, counters) are updated in place; ``noise`` is the stochastic factor table
    (:func:`~engine.kernels.transition.stochastic_table`). Returns the number of seeds.
    """
    s = state
    heap_capacity = 8 * max(int(s.max_patch * patch_scale + 1), 1) + 8
    return int(_allocate(ranked, starts, wanted.astype(np.int64), s.index, s.changed,
                         s.suitability, s.forbid, s.policy, s.policy_weight, s.region_array,
                         s.has_region, s.conversion, s.gain_left, s.gain_free, s.gain_pool,
                         s.loss_left, s.loss_free, s.loss_pool, s.transitions, s.converted,
                         s.lost, s.size_offsets, s.size_values, float(patch_scale),
                         compactness_table(compactness), noise, np.uint64(key_size),
                         np.uint64(key_grow),
                         np.empty(heap_capacity, np.float64), np.empty(heap_capacity, np.int64)))

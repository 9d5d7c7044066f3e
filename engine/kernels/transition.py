"""Transition potential of every class at every cell and the competition between classes, in
one fused pass over the grid.

For a cell of class ``c`` with ``n_j`` neighbours of class ``j`` among ``n`` valid ones (an
n x n window, :mod:`engine.kernels.neighbourhood`), the potential to become class ``k != c``
and the potential to stay are::

    TP_k    = D_k * conv[c, k] * P_k * (s + w_k * n_k / n) * policy[k]     (k open for gains)
    TP_stay = D_c * I_c * P_c * (s + w_c * (n_c - 1) / n)

``P_k`` is the suitability (development probability) of ``k`` learned from drivers, ``w_k``
the neighbourhood weight and ``s`` a spontaneous term that lets classes appear away from
existing patches - the constrained CA of White & Engelen (1993) with the neighbourhood term of
FLUS (Liu et al. 2017) and PLUS (Liang et al. 2021). ``I_c`` is FLUS's inertia of the current
class and ``D_k`` the adaptive coefficient that FLUS and PLUS adjust toward the demand
(:func:`engine.landuse.adapt`). ``conv[c, k]`` is 0 for forbidden transitions and
``1 - cost`` otherwise; hard masks (a bit per class in ``forbid``) zero a class at a cell and
``policy`` applies soft zoning weights.

In a *roulette* pass each cell spins a wheel with sectors ``TP_stay, TP_0 .. TP_K-1`` (FLUS's
roulette competition): it requests the class it lands on, or nothing when it lands on stay. In
a *fill* pass it requests the class of highest potential. A request carries the score
``TP_k * v``, with White & Engelen's stochastic perturbation ``v = 1 + (-ln u)^alpha``, by which
the allocation (:mod:`engine.kernels.allocation`) ranks requests. ``u`` takes 2^16 levels
(:func:`stochastic_table`), so ``v`` is a table look-up instead of a ``pow`` per request.
Draws are counter-based (:mod:`engine.kernels.random`) on the cell index, so results do not
depend on threads.

The allocation only needs each class's best few requests: while writing them the pass counts
their scores per class in logarithmic bins (:func:`score_bin`), and only the requests in the
bins that hold the best are gathered - an O(n) selection without sorting. Requests are written
to per-block segments of flat arrays (block ``b`` owns the cells of its rows), so threads never
share a write position and the order is the cell order.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from engine._numba import jit, parallel_jit, prange
from engine.kernels.neighbourhood import (BLOCK_ROWS, advance_columns, init_columns,
                                          init_window, slide_window)
from engine.kernels.random import splitmix64, uniform_at

NO_CLASS = 255
NOISE_BITS = 16
SCORE_BINS = 4096  # 128 octaves x 32 bins: scores from 2^-64 to 2^64, 2.2 % wide


@functools.lru_cache(maxsize=16)
def stochastic_table(alpha: float) -> np.ndarray:
    """``v(i) = 1 + (-ln u_i)^alpha`` at the 2^16 levels ``u_i = (i + 0.5) / 2^16`` (cached,
    read-only).

    Examples
    --------
    >>> t = stochastic_table(0.0)
    >>> float(t.min()), float(t.max())  # alpha = 0: a constant factor 2
    (2.0, 2.0)
    """
    u = (np.arange(1 << NOISE_BITS, dtype=np.float64) + 0.5) / (1 << NOISE_BITS)
    table = 1.0 + (-np.log(u)) ** float(alpha)
    table.flags.writeable = False
    return table


@jit
def noise_level(key: np.uint64, cell: np.uint64) -> int:
    """The level 0..2^16-1 of the stochastic factor of ``cell`` (top bits of its hash)."""
    return int(splitmix64(np.uint64(key) ^ np.uint64(cell)) >> np.uint64(64 - NOISE_BITS))


@jit
def score_bin(score: float) -> int:
    """Bin of a positive score: its binary exponent (from 2^-64 to 2^64) and the first 5 bits
    of its mantissa, so bins are at most 3 % wide and a higher score never gets a lower bin."""
    if score <= 0.0:
        return 0
    mantissa, exponent = math.frexp(score)  # score = mantissa * 2^exponent, 0.5 <= m < 1
    e = (exponent + 64) * 32 + int((mantissa - 0.5) * 64.0)
    return min(max(e, 0), SCORE_BINS - 1)


@parallel_jit
def _compete(index, suitability, forbid, policy, policy_weight, region, has_region, factor,
             candidates, stay_factor, weight, changed, spontaneous, noise, key_pick, key_noise,
             roulette, half, out_cell, out_class, out_score, out_bin, block_count, requests,
             departures, histogram):
    rows, cols = index.shape
    n = suitability.shape[2]
    n_blocks = (rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    for b in prange(n_blocks):
        columns = np.zeros((cols, n + 1), dtype=np.int32)
        window = np.zeros(n + 1, dtype=np.int32)
        tp = np.zeros(n, dtype=np.float64)
        r0 = b * BLOCK_ROWS
        write = r0 * cols
        init_columns(index, r0, half, columns)
        for r in range(r0, min(r0 + BLOCK_ROWS, rows)):
            init_window(columns, half, window)
            for c in range(cols):
                own = index[r, c]
                if own < n and changed[r, c] == 0:
                    z = region[r, c] if has_region else 0
                    mask = candidates[z, own] & ~forbid[r, c]
                    if mask != 0:
                        valid = window[n] - 1
                        inv = 1.0 / valid if valid > 0 else 0.0
                        pol = policy[r, c]
                        total = 0.0
                        best = NO_CLASS
                        best_tp = 0.0
                        for k in range(n):
                            tp[k] = 0.0
                            if (mask >> k) & 1:
                                v = (factor[z, own, k] * suitability[r, c, k]
                                     * (spontaneous + weight[k] * (window[k] * inv))
                                     * policy_weight[pol, k])
                                if v > 0.0:
                                    tp[k] = v
                                    total += v
                                    if v > best_tp:
                                        best, best_tp = k, v
                        pick = NO_CLASS
                        cell = r * cols + c
                        if best != NO_CLASS:
                            if roulette:
                                stay = (stay_factor[z, own] * suitability[r, c, own]
                                        * (spontaneous + weight[own] * ((window[own] - 1) * inv)))
                                spin = uniform_at(key_pick, np.uint64(cell)) * (total + stay)
                                acc = stay
                                if spin >= acc:
                                    for k in range(n):
                                        if tp[k] > 0.0:
                                            pick = k
                                            acc += tp[k]
                                            if spin < acc:
                                                break
                            else:
                                pick = best
                        if pick != NO_CLASS:
                            score = tp[pick] * noise[noise_level(key_noise, np.uint64(cell))]
                            level = score_bin(score)
                            histogram[b, pick, level] += 1
                            requests[b, z, pick] += 1
                            departures[b, z, own] += 1
                            out_cell[write] = cell
                            out_class[write] = pick
                            out_score[write] = score
                            out_bin[write] = level
                            write += 1
                slide_window(columns, c, half, window)
            advance_columns(index, r, half, columns)
        block_count[b] = write - r0 * cols


@jit
def _gather(out_cell, out_class, out_score, out_bin, block_count, block_size, floor_bin):
    total = 0
    for b in range(block_count.shape[0]):
        start = b * block_size
        for i in range(start, start + block_count[b]):
            if out_bin[i] >= floor_bin[out_class[i]]:
                total += 1
    cells = np.empty(total, dtype=np.int64)
    classes = np.empty(total, dtype=np.uint8)
    scores = np.empty(total, dtype=np.float64)
    j = 0
    for b in range(block_count.shape[0]):
        start = b * block_size
        for i in range(start, start + block_count[b]):
            if out_bin[i] >= floor_bin[out_class[i]]:
                cells[j], classes[j], scores[j] = out_cell[i], out_class[i], out_score[i]
                j += 1
    return cells, classes, scores


def _floor_bins(histogram: np.ndarray, take: np.ndarray) -> np.ndarray:
    """Per class, the lowest bin such that the bins from it upward hold >= ``take`` requests."""
    counts = histogram.sum(axis=0)  # (K, bins)
    above = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]  # requests in bins >= b
    floor = np.zeros(counts.shape[0], dtype=np.int64)
    for k in range(counts.shape[0]):
        enough = np.flatnonzero(above[k] >= max(int(take[k]), 1))
        floor[k] = enough[-1] if enough.size else 0
        if take[k] <= 0:
            floor[k] = SCORE_BINS  # the class takes nothing: emit none
    return floor


def compete(index: np.ndarray, suitability: np.ndarray, *, forbid: np.ndarray,
            policy: np.ndarray, policy_weight: np.ndarray, region: np.ndarray | None,
            conversion: np.ndarray, weight: np.ndarray, inertia: np.ndarray,
            drive: np.ndarray, open_gain: np.ndarray, open_loss: np.ndarray,
            changed: np.ndarray, spontaneous: float, alpha: float, size: int,
            key_pick: np.uint64, key_noise: np.uint64, roulette: bool,
            take: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Requests of one competition pass, in cell order.

    Parameters
    ----------
    index : (rows, cols) uint8 class index of each cell (255 outside the study area).
    suitability : (rows, cols, K) float32 development probability of each class.
    forbid : (rows, cols) uint16, bit ``k`` set where the cell may not become class ``k``.
    policy, policy_weight : (rows, cols) uint8 policy zone and (zones, K) soft weights.
    region : (rows, cols) uint16 demand region of each cell, or None for one region.
    conversion : (K, K) ``conv[from, to]``, 0 = forbidden, else 1 - conversion cost.
    weight, inertia : (K,) neighbourhood weights and FLUS inertia.
    drive : (regions, K) adaptive coefficients.
    open_gain, open_loss : (regions, K) whether a class may still gain / lose cells.
    changed : (rows, cols) uint8, cells already converted this step (they sit out).
    spontaneous, alpha : spontaneous term and stochastic dispersion (>= 0).
    size : odd window width.
    key_pick, key_noise : :func:`~engine.kernels.random.stream_key` of the roulette and of
        the stochastic factor.
    roulette : spin the wheel (True) or take the class of highest potential (False).
    take : how many requests per class are wanted: only those in the score bins that hold
        the best ``take[k]`` are returned (None: all). Requests are still counted in full.

    Returns
    -------
    cells (int64 flat indices), classes (uint8), scores (float64) of the requests kept, and
    two (regions, K) int64 tables of all requests: per class requested, and per class left.
    """
    rows, cols = index.shape
    n = suitability.shape[2]
    regions = drive.shape[0]
    n_blocks = (rows + BLOCK_ROWS - 1) // BLOCK_ROWS
    has_region = region is not None
    region_arr = region if has_region else np.zeros((1, 1), dtype=np.uint16)
    gain = np.asarray(open_gain, bool)
    factor = np.where(gain[:, None, :], drive[:, None, :] * conversion[None, :, :], 0.0)
    factor *= np.asarray(open_loss, bool)[:, :, None]
    candidates = ((factor > 0) << np.arange(n, dtype=np.uint16)).sum(axis=2).astype(np.uint16)
    stay_factor = drive * inertia[None, :]
    noise = stochastic_table(alpha)
    out_cell = np.empty(rows * cols, dtype=np.int64)
    out_class = np.empty(rows * cols, dtype=np.uint8)
    out_score = np.empty(rows * cols, dtype=np.float64)
    out_bin = np.empty(rows * cols, dtype=np.int16)
    block_count = np.zeros(n_blocks, dtype=np.int64)
    requests = np.zeros((n_blocks, regions, n), dtype=np.int64)
    departures = np.zeros((n_blocks, regions, n), dtype=np.int64)
    histogram = np.zeros((n_blocks, n, SCORE_BINS), dtype=np.int32)
    _compete(index, suitability, forbid, policy, policy_weight, region_arr, has_region, factor,
             candidates, stay_factor, np.asarray(weight, np.float64), changed,
             float(spontaneous), noise, np.uint64(key_pick), np.uint64(key_noise),
             bool(roulette), size // 2, out_cell, out_class, out_score, out_bin, block_count,
             requests, departures, histogram)
    floor_bin = np.zeros(n, dtype=np.int64) if take is None else \
        _floor_bins(histogram, np.asarray(take))
    cells, classes, scores = _gather(out_cell, out_class, out_score, out_bin, block_count,
                                     BLOCK_ROWS * cols, floor_bin)
    return cells, classes, scores, requests.sum(axis=0), departures.sum(axis=0)

"""The land-use step written cell by cell in plain Python, straight from the definitions in
the docstrings of engine/landuse.py and engine/kernels/{neighbourhood,transition,patches,
allocation}.py. Slow and obviously correct: the Numba kernels must give exactly the same maps.

Only the stochastic-factor table (a NumPy formula, not a kernel) is shared with the engine.
"""

from __future__ import annotations

import heapq

import numpy as np

from engine.kernels.transition import stochastic_table

MASK64 = (1 << 64) - 1
MARGIN = 4
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


# -- random numbers (SplitMix64, Steele et al. 2014) -------------------------------------------
def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, step: int, stream: int) -> int:
    return splitmix64(splitmix64(splitmix64(seed) ^ step) ^ stream)


def uniform_at(key: int, cell: int) -> float:
    return ((splitmix64(key ^ cell) >> 11) + 0.5) / 2.0 ** 53


def noise_level(key: int, cell: int) -> int:
    return splitmix64(key ^ cell) >> 48


# -- neighbourhood ----------------------------------------------------------------------------
def counts(index: np.ndarray, n: int, size: int) -> np.ndarray:
    """Neighbours of each class (and valid ones, last) in the window, centre excluded."""
    rows, cols = index.shape
    half = size // 2
    out = np.zeros((rows, cols, n + 1), dtype=np.int64)
    for r in range(rows):
        for c in range(cols):
            for rr in range(max(r - half, 0), min(r + half + 1, rows)):
                for cc in range(max(c - half, 0), min(c + half + 1, cols)):
                    k = int(index[rr, cc])
                    if (rr, cc) != (r, c) and k < n:
                        out[r, c, k] += 1
                        out[r, c, n] += 1
    return out


# -- competition ------------------------------------------------------------------------------
def compete(index, suit, *, forbid, policy, policy_weight, region, conversion, weight, inertia,
            drive, open_gain, open_loss, changed, spontaneous, alpha, size, key_pick,
            key_noise, roulette):
    """Requests [(cell, class, score)] in cell order, and (requests, departures) tables."""
    rows, cols, n = suit.shape
    noise = stochastic_table(alpha)
    count = counts(index, n, size)
    requests = np.zeros(drive.shape, dtype=np.int64)
    departures = np.zeros(drive.shape, dtype=np.int64)
    out = []
    for r in range(rows):
        for c in range(cols):
            own = int(index[r, c])
            if own >= n or changed[r, c]:
                continue
            z = int(region[r, c]) if region is not None else 0
            if not open_loss[z, own]:
                continue
            valid = int(count[r, c, n])
            inv = 1.0 / valid if valid > 0 else 0.0
            pol = int(policy[r, c])
            tp = {}
            for k in range(n):
                if k == own or not open_gain[z, k] or (int(forbid[r, c]) >> k) & 1:
                    continue
                if conversion[own, k] <= 0:
                    continue
                factor = float(drive[z, k]) * float(conversion[own, k])
                v = (factor * float(suit[r, c, k])
                     * (spontaneous + float(weight[k]) * (int(count[r, c, k]) * inv))
                     * float(policy_weight[pol, k]))
                if v > 0:
                    tp[k] = v
            if not tp:
                continue
            cell = r * cols + c
            if roulette:
                stay = (float(drive[z, own]) * float(inertia[own]) * float(suit[r, c, own])
                        * (spontaneous + float(weight[own]) * (int(count[r, c, own]) * inv)))
                total = 0.0
                for k in sorted(tp):
                    total += tp[k]
                spin = uniform_at(key_pick, cell) * (total + stay)
                pick, acc = None, stay
                if spin >= acc:
                    for k in sorted(tp):
                        pick = k
                        acc += tp[k]
                        if spin < acc:
                            break
                if pick is None:
                    continue
            else:
                pick = max(sorted(tp), key=lambda k: tp[k])  # first of the highest
            requests[z, pick] += 1
            departures[z, own] += 1
            out.append((cell, pick, tp[pick] * float(noise[noise_level(key_noise, cell)])))
    return out, requests, departures


# -- allocation -------------------------------------------------------------------------------
class Step:
    """The mutable state of one step and the rules of conversion, one cell at a time."""

    def __init__(self, index, suit, constraints, change, targeted, sizes, params):
        self.index = index.copy()
        self.rows, self.cols, self.n = suit.shape
        self.changed = np.zeros(index.shape, dtype=bool)
        self.suit, self.c, self.sizes, self.p = suit, constraints, sizes, params
        z_count = change.shape[0]
        self.gain_left = np.where(targeted & (change > 0), change, 0)
        self.loss_left = np.where(targeted & (change < 0), -change, 0)
        self.free = ~targeted
        balance = self.gain_left.sum(axis=1) - self.loss_left.sum(axis=1)
        any_free = self.free.any(axis=1)
        self.gain_pool = [int(max(-balance[z], 0)) if any_free[z] else 0 for z in range(z_count)]
        self.loss_pool = [int(max(balance[z], 0)) if any_free[z] else 0 for z in range(z_count)]
        self.gained = np.zeros(change.shape, dtype=np.int64)
        self.lost = np.zeros(change.shape, dtype=np.int64)

    def region(self, r, c):
        return int(self.c.region[r, c]) if self.c.region is not None else 0

    def room(self, z, k, which):
        if self.free[z, k]:
            return (self.gain_pool if which == "gain" else self.loss_pool)[z] > 0
        return (self.gain_left if which == "gain" else self.loss_left)[z, k] > 0

    def use(self, z, k, which):
        if self.free[z, k]:
            (self.gain_pool if which == "gain" else self.loss_pool)[z] -= 1
        else:
            (self.gain_left if which == "gain" else self.loss_left)[z, k] -= 1

    def can_become(self, cell, k):
        r, c = divmod(cell, self.cols)
        own = int(self.index[r, c])
        if own >= self.n or own == k or self.changed[r, c] or (int(self.c.forbid[r, c]) >> k) & 1:
            return False
        if self.c.conversion[own, k] <= 0 or self.c.policy_weight[self.c.policy[r, c], k] <= 0:
            return False
        if self.suit[r, c, k] <= 0:
            return False
        z = self.region(r, c)
        return self.room(z, k, "gain") and self.room(z, own, "loss")

    def convert(self, cell, k):
        r, c = divmod(cell, self.cols)
        own, z = int(self.index[r, c]), self.region(r, c)
        self.use(z, k, "gain")
        self.use(z, own, "loss")
        self.index[r, c] = k
        self.changed[r, c] = True
        self.gained[z, k] += 1
        self.lost[z, own] += 1

    def wanted(self):
        return [sum(self.gain_pool[z] if self.free[z, k] else int(self.gain_left[z, k])
                    for z in range(self.gain_left.shape[0])) for k in range(self.n)]

    def open(self, which):
        return np.array([[self.room(z, k, which) for k in range(self.n)]
                         for z in range(self.gain_left.shape[0])])

    def priority(self, cell, k, noise, key_grow):
        r, c = divmod(cell, self.cols)
        same = sum(1 for dr, dc in NEIGHBOURS if 0 <= r + dr < self.rows
                   and 0 <= c + dc < self.cols and self.index[r + dr, c + dc] == k)
        v = float(noise[noise_level(key_grow, cell)])
        return (float(self.suit[r, c, k]) * float(self.c.conversion[int(self.index[r, c]), k])
                * float(self.c.policy_weight[self.c.policy[r, c], k])
                * (same / 8.0) ** self.p.patch_compactness * v)

    def grow(self, seed, k, target, noise, key_grow):
        size, heap, added = 1, [], seed
        while size < target:
            r, c = divmod(added, self.cols)
            for dr, dc in NEIGHBOURS:
                if 0 <= r + dr < self.rows and 0 <= c + dc < self.cols:
                    nb = (r + dr) * self.cols + c + dc
                    if self.can_become(nb, k):
                        heapq.heappush(heap, (-self.priority(nb, k, noise, key_grow), nb))
            added = None
            while heap:
                _, top = heapq.heappop(heap)
                if self.can_become(top, k):
                    added = top
                    break
            if added is None:
                break
            self.convert(added, k)
            size += 1
        return size

    def patch_size(self, k, u):
        sizes = self.sizes[k]
        if len(sizes) == 0:
            return 1
        pick = min(int(u * len(sizes)), len(sizes) - 1)
        return max(1, int(sizes[pick] * self.p.patch_scale + 0.5))

    def allocate(self, requests, noise, key_size, key_grow):
        wanted = self.wanted()
        ranked = []
        for k in range(self.n):
            mine = sorted((-s, cell) for cell, kk, s in requests if kk == k)
            ranked.append([cell for _, cell in mine[: MARGIN * wanted[k] + 64]])
        return self.allocate_ranked(ranked, noise, key_size, key_grow)

    def allocate_ranked(self, ranked, noise, key_size, key_grow):
        """Seeds and patches from the ranked requests of each class, classes taking turns."""
        wanted = self.wanted()
        ptr = [0] * self.n
        initial = [max(float(w), 1.0) for w in wanted]
        left = list(wanted)
        seeds = 0
        while True:
            best, share = None, 0.0
            for k in range(self.n):
                if ptr[k] < len(ranked[k]) and left[k] > 0 and left[k] / initial[k] > share:
                    best, share = k, left[k] / initial[k]
            if best is None:
                return seeds
            k = best
            cell = ranked[k][ptr[k]]
            ptr[k] += 1
            if not self.can_become(cell, k):
                continue
            self.convert(cell, k)
            seeds += 1
            target = self.patch_size(k, uniform_at(key_size, cell))
            left[k] -= self.grow(cell, k, target, noise, key_grow) if target > 1 else 1


def adapt(drive, last_gap, gap):
    """FLUS's rule (Liu et al. 2017), one value at a time."""
    drive = drive.copy()
    for idx in np.ndindex(drive.shape):
        prev, now = last_gap[idx], gap[idx]
        if now < prev < 0:
            drive[idx] = drive[idx] * prev / now
        elif 0 < prev < now:
            drive[idx] = drive[idx] * now / prev
        drive[idx] = min(max(drive[idx], 1e-3), 1e3)
    return drive


def step(index, model, change, *, targeted=None, seed=0, step_no=0, drive=None, last_gap=None,
         compete_fn=None):
    """One step, pass by pass, as :func:`engine.landuse.allocate_step` defines it.

    ``compete_fn`` replaces the cell-by-cell competition (the NumPy benchmark passes a
    vectorised one that returns ranked requests instead: ``(ranked, asked, left)``)."""
    p, con, n = model.params, model.constraints, model.n_classes
    change = np.asarray(change, dtype=np.int64).reshape(con.n_regions, n)
    targeted = change != 0 if targeted is None else np.asarray(targeted, bool)
    drive = np.ones(change.shape) if drive is None else drive
    last_gap = np.full(change.shape, np.nan) if last_gap is None else last_gap
    sizes = [list(s) for s in model.patch_sizes] or [[]] * n
    s = Step(index, model.suitability, con, change, targeted, sizes, p)
    weight, inertia = p.per_class("weights", n), p.per_class("inertia", n)
    noise = stochastic_table(p.alpha)
    passes = 0
    while passes < p.roulette_rounds + n + 1:
        roulette = passes < p.roulette_rounds
        open_gain, open_loss = s.open("gain"), s.open("loss")
        if not (open_gain.any() and open_loss.any()):
            break
        keys = [stream_key(seed, step_no, 4 * passes + j) for j in range(4)]
        requests, asked, left = (compete_fn or compete)(
            s.index, model.suitability, forbid=con.forbid, policy=con.policy,
            policy_weight=con.policy_weight, region=con.region, conversion=con.conversion,
            weight=weight, inertia=inertia, drive=drive, open_gain=open_gain,
            open_loss=open_loss, changed=s.changed, spontaneous=p.spontaneous, alpha=p.alpha,
            size=p.neighbourhood_size, key_pick=keys[0], key_noise=keys[1], roulette=roulette,
            **({"wanted": s.wanted()} if compete_fn else {}))
        if roulette:
            gain = np.where(s.free, 0, s.gain_left)
            loss = np.where(s.free, 0, s.loss_left)
            gap = np.where(loss > 0, left - loss, np.where(gain > 0, gain - asked, np.nan))
            drive, last_gap = adapt(drive, last_gap, gap), gap
        before = int(s.gained.sum())
        if compete_fn is None:
            s.allocate(requests, noise, keys[2], keys[3])
        else:  # already ranked, per class
            s.allocate_ranked(requests, noise, keys[2], keys[3])
        passes += 1
        if not roulette and int(s.gained.sum()) == before:
            break
    return s.index, s, drive


# -- gross (from -> to) demand ------------------------------------------------------------------
def compete_pairs(index, suit, *, forbid, policy, policy_weight, region, conversion, weight,
                  inertia, drive, open_pair, changed, spontaneous, alpha, size, key_pick,
                  key_noise, roulette):
    """The competition under a transition demand: a cell of class ``i`` in region ``z`` may
    request ``j`` only while ``open_pair[z, i, j]``; ``drive[z, i, j]`` scales ``i -> j`` and
    ``drive[z, i, i]`` the will of ``i`` to stay. Requests [(cell, class, score)] in cell order
    and the (regions, K, K) requests per transition and (regions, K) departures per source."""
    rows, cols, n = suit.shape
    noise = stochastic_table(alpha)
    count = counts(index, n, size)
    requests = np.zeros(open_pair.shape, dtype=np.int64)
    departures = np.zeros(open_pair.shape[:2], dtype=np.int64)
    out = []
    for r in range(rows):
        for c in range(cols):
            own = int(index[r, c])
            if own >= n or changed[r, c]:
                continue
            z = int(region[r, c]) if region is not None else 0
            valid = int(count[r, c, n])
            inv = 1.0 / valid if valid > 0 else 0.0
            pol = int(policy[r, c])
            tp = {}
            for k in range(n):
                if k == own or not open_pair[z, own, k] or (int(forbid[r, c]) >> k) & 1:
                    continue
                if conversion[own, k] <= 0:
                    continue
                v = (float(drive[z, own, k]) * float(conversion[own, k]) * float(suit[r, c, k])
                     * (spontaneous + float(weight[k]) * (int(count[r, c, k]) * inv))
                     * float(policy_weight[pol, k]))
                if v > 0:
                    tp[k] = v
            if not tp:
                continue
            cell = r * cols + c
            if roulette:
                stay = (float(drive[z, own, own]) * float(inertia[own]) * float(suit[r, c, own])
                        * (spontaneous + float(weight[own]) * (int(count[r, c, own]) * inv)))
                total = sum(tp[k] for k in sorted(tp))
                spin = uniform_at(key_pick, cell) * (total + stay)
                pick, acc = None, stay
                if spin >= acc:
                    for k in sorted(tp):
                        pick = k
                        acc += tp[k]
                        if spin < acc:
                            break
                if pick is None:
                    continue
            else:
                pick = max(sorted(tp), key=lambda k: tp[k])
            requests[z, own, pick] += 1
            departures[z, own] += 1
            out.append((cell, pick, tp[pick] * float(noise[noise_level(key_noise, cell)])))
    return out, requests, departures


class TransitionStep(Step):
    """One step under a gross demand: ``left[z, i, j]`` cells of ``i`` still to become ``j``;
    a cell may convert only into a transition with quantity left (patches included)."""

    def __init__(self, index, suit, constraints, transitions, sizes, params):
        self.index = index.copy()
        self.rows, self.cols, self.n = suit.shape
        self.changed = np.zeros(index.shape, dtype=bool)
        self.suit, self.c, self.sizes, self.p = suit, constraints, sizes, params
        self.left = np.array(transitions, dtype=np.int64)
        self.met = np.zeros_like(self.left)

    def can_become(self, cell, k):
        r, c = divmod(cell, self.cols)
        own = int(self.index[r, c])
        if own >= self.n or own == k or self.changed[r, c] or (int(self.c.forbid[r, c]) >> k) & 1:
            return False
        if self.c.conversion[own, k] <= 0 or self.c.policy_weight[self.c.policy[r, c], k] <= 0:
            return False
        if self.suit[r, c, k] <= 0:
            return False
        return self.left[self.region(r, c), own, k] > 0

    def convert(self, cell, k):
        r, c = divmod(cell, self.cols)
        own, z = int(self.index[r, c]), self.region(r, c)
        self.left[z, own, k] -= 1
        self.met[z, own, k] += 1
        self.index[r, c] = k
        self.changed[r, c] = True

    def wanted(self):
        return [int(self.left[:, :, k].sum()) for k in range(self.n)]


def transition_step(index, model, transitions, *, seed=0, step_no=0):
    """One step with a (regions, K, K) gross demand (diagonal ignored), pass by pass, with
    FLUS's adaptation per transition: the gap of ``i -> j`` is the quantity left minus the
    cells that asked for it; the gap of ``i``'s persistence is the cells of ``i`` that asked
    to leave minus what ``i`` must still lose. Returns the map, the state and the
    (regions, K, K) coefficients."""
    p, con, n = model.params, model.constraints, model.n_classes
    t = np.array(transitions, dtype=np.int64)
    for i in range(n):
        t[:, i, i] = 0
    drive = np.ones(t.shape)
    last_gap = np.full(t.shape, np.nan)
    sizes = [list(s) for s in model.patch_sizes] or [[]] * n
    s = TransitionStep(index, model.suitability, con, t, sizes, p)
    weight, inertia = p.per_class("weights", n), p.per_class("inertia", n)
    noise = stochastic_table(p.alpha)
    passes = 0
    while passes < p.roulette_rounds + n * n + 1:
        roulette = passes < p.roulette_rounds
        if not s.left.any():
            break
        keys = [stream_key(seed, step_no, 4 * passes + j) for j in range(4)]
        requests, asked, departed = compete_pairs(
            s.index, model.suitability, forbid=con.forbid, policy=con.policy,
            policy_weight=con.policy_weight, region=con.region, conversion=con.conversion,
            weight=weight, inertia=inertia, drive=drive, open_pair=s.left > 0,
            changed=s.changed, spontaneous=p.spontaneous, alpha=p.alpha,
            size=p.neighbourhood_size, key_pick=keys[0], key_noise=keys[1], roulette=roulette)
        if roulette:
            gap = np.where(s.left > 0, s.left - asked, np.nan)
            row_left = s.left.sum(axis=2)
            for i in range(n):
                gap[:, i, i] = np.where(row_left[:, i] > 0, departed[:, i] - row_left[:, i],
                                        np.nan)
            drive, last_gap = adapt(drive, last_gap, gap), gap
        before = int(s.met.sum())
        s.allocate(requests, noise, keys[2], keys[3])
        passes += 1
        if not roulette and int(s.met.sum()) == before:
            break
    return s.index, s, drive

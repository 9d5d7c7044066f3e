"""The multi-class land-use model: demand -> suitability -> competition -> patch allocation.

One simulated step (:func:`allocate_step`) takes the land use at the start of the step and the
demand - the net change of each class's area, per demand region - and meets it exactly, or
reports what it could not meet:

1. a *roulette* pass (:func:`engine.kernels.transition.compete`): every cell whose class may
   still lose spins a wheel weighted by its potential to stay (FLUS inertia; Liu et al. 2017)
   and its potential to become each class that may still gain (suitability x neighbourhood x
   conversion cost x policy; White & Engelen 1993, Liang et al. 2021);
2. the requests are ranked per class and classes take turns; each accepted request seeds a
   patch whose size is drawn from the patch sizes observed in calibration (FUTURES PGA,
   Meentemeyer et al. 2013; PLUS CARS, Liang et al. 2021). No class gains more than its demand
   and none loses more than its demand allows (Verburg et al. 2002, CLUE-S);
3. the adaptive coefficient of each class moves toward its demand by FLUS's rule
   (:func:`adapt`) and the roulette is spun again on the cells still unchanged;
4. *fill* passes give the demand still unmet to the requests of highest potential; what they
   cannot place (the constraints leave no room, or the greedy turns used the only sources of a
   class) is the reported shortfall.

Neighbourhoods are recounted on the updated map before every pass, so patches grow on the
patches of earlier passes; a cell changes at most once per step. A class with no demand of its
own (``targeted`` False) is *free*: it gives up (or absorbs) whatever the demanded classes
need beyond each other's losses and gains. Everything random is keyed on (seed, step, pass,
cell), so the result is the same with any number of threads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from engine.kernels.allocation import ALLOCATION_MARGIN, allocate_requests, ranked_requests
from engine.kernels.neighbourhood import NODATA_INDEX
from engine.kernels.random import stream_keys
from engine.kernels.transition import compete, stochastic_table
from tim.errors import InputError

if TYPE_CHECKING:  # engine.demand builds on this module
    from engine.demand import MarkovChain

MAX_CLASSES = 16  # forbid masks are uint16 bit sets
DRIVE_LIMITS = (1e-3, 1e3)


@dataclass(frozen=True)
class CAParams:
    """Parameters of the cellular automaton (the ones ``twin calibrate`` fits).

    The one place their defaults live: the scenario schema (:mod:`scenarios.schema`) and a
    calibration's ``parameters.yaml`` read them from here. ``weights`` and ``inertia`` hold
    one value per class, or one value for every class (empty: 1 for every class).
    ``roulette_rounds`` defaults to 0 (only the passes that take the cells of highest
    potential, as the sample scenarios always ran); ``twin calibrate`` fits with 2 (its
    ``--roulette-rounds``) and records what it used in ``parameters.yaml``.
    """

    neighbourhood_size: int = 5
    weights: tuple[float, ...] = ()
    inertia: tuple[float, ...] = ()
    alpha: float = 0.5
    spontaneous: float = 0.02
    roulette_rounds: int = 0
    patch_scale: float = 1.0
    patch_compactness: float = 1.0

    def __post_init__(self) -> None:
        n = self.neighbourhood_size
        if n < 3 or n % 2 == 0:
            raise InputError("must be an odd integer >= 3", field="neighbourhood_size",
                             value=n)
        for name in ("alpha", "spontaneous", "patch_scale", "patch_compactness"):
            if not getattr(self, name) >= 0:
                raise InputError("must be >= 0", field=name, value=getattr(self, name))
        if self.roulette_rounds < 0:
            raise InputError("must be >= 0", field="roulette_rounds",
                             value=self.roulette_rounds)
        for name in ("weights", "inertia"):
            values = getattr(self, name)
            if any(not v >= 0 for v in values):
                raise InputError("must all be >= 0", field=name, value=values)

    def per_class(self, name: str, n_classes: int) -> np.ndarray:
        values = getattr(self, name)
        if not values:
            return np.ones(n_classes)
        if len(values) == 1:
            return np.full(n_classes, float(values[0]))
        if len(values) != n_classes:
            raise InputError(f"needs one value per class ({n_classes})", field=name,
                             value=values)
        return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Constraints:
    """Where and into what cells may change.

    forbid : (rows, cols) uint16, bit ``k`` set where a cell may not become class ``k``
        (hard masks: control lines, water; all bits = the cell never changes).
    policy, policy_weight : (rows, cols) uint8 policy zone and (zones, K) soft weights.
    conversion : (K, K) ``conv[from, to]``: 0 forbids the transition, else 1 - its cost.
    region, n_regions : (rows, cols) uint16 demand region of each cell (None: one region).
    """

    forbid: np.ndarray
    policy: np.ndarray
    policy_weight: np.ndarray
    conversion: np.ndarray
    region: np.ndarray | None = None
    n_regions: int = 1


def build_constraints(shape: tuple[int, int], n_classes: int, *,
                      hard: Sequence[tuple[np.ndarray, Sequence[int] | None]] = (),
                      soft: Sequence[tuple[np.ndarray, Sequence[float]]] = (),
                      allowed: np.ndarray | None = None, cost: np.ndarray | None = None,
                      region: np.ndarray | None = None) -> Constraints:
    """Constraints from masks and tables.

    Parameters
    ----------
    hard : (mask, classes) pairs: where ``mask`` is true, cells may not become any of the
        class indices ``classes`` (None: may not change at all).
    soft : (mask, weights) pairs: where ``mask`` is true, the potential of becoming class
        ``k`` is multiplied by ``weights[k]`` (e.g. 0.3 for built-up outside the urban
        development boundary). Weights of overlapping masks multiply.
    allowed, cost : (K, K) allowed transitions (default all) and conversion costs in [0, 1]
        (default 0).
    region : (rows, cols) integer demand region 0..R-1 of each cell (default: one region).

    Examples
    --------
    >>> water = np.array([[True, False]])
    >>> c = build_constraints((1, 2), 3, hard=[(water, None)])
    >>> c.forbid.tolist()  # the water cell may become none of the 3 classes
    [[7, 0]]
    """
    if not 1 <= n_classes <= MAX_CLASSES:
        raise InputError(f"the model handles 1..{MAX_CLASSES} classes", field="classes",
                         value=n_classes)
    forbid = np.zeros(shape, dtype=np.uint16)
    for mask, classes in hard:
        _check_shape(mask, shape, "hard mask")
        bits = (1 << n_classes) - 1 if classes is None else sum(1 << int(k) for k in classes)
        forbid[np.asarray(mask, dtype=bool)] |= np.uint16(bits)
    if len(soft) > 8:
        raise InputError("at most 8 soft policy layers", field="soft", value=len(soft))
    policy = np.zeros(shape, dtype=np.uint8)
    for bit, (mask, weights) in enumerate(soft):
        _check_shape(mask, shape, "soft mask")
        if len(weights) != n_classes or any(not 0 <= w for w in weights):
            raise InputError(f"needs {n_classes} weights >= 0", field="soft weights",
                             value=list(weights))
        policy[np.asarray(mask, dtype=bool)] |= np.uint8(1 << bit)
    policy_weight = np.ones((1 << len(soft), n_classes))
    for combo in range(policy_weight.shape[0]):
        for bit, (_, weights) in enumerate(soft):
            if combo >> bit & 1:
                policy_weight[combo] *= np.asarray(weights, dtype=np.float64)
    square = (n_classes, n_classes)
    allowed = np.ones(square, bool) if allowed is None else np.asarray(allowed, bool)
    cost = np.zeros(square) if cost is None else np.asarray(cost, np.float64)
    if allowed.shape != square or cost.shape != square:
        raise InputError(f"transition tables must be {square}", field="conversion",
                         value=(allowed.shape, cost.shape))
    if ((cost < 0) | (cost > 1)).any():
        raise InputError("conversion costs must lie in [0, 1]", field="conversion.cost")
    conversion = np.where(allowed, 1.0 - cost, 0.0)
    np.fill_diagonal(conversion, 0.0)
    n_regions = 1
    if region is not None:
        _check_shape(region, shape, "region")
        if region.min() < 0 or region.max() > np.iinfo(np.uint16).max:
            raise InputError("region ids must be 0..65535", field="region",
                             value=(int(region.min()), int(region.max())))
        n_regions = int(region.max()) + 1
        region = region.astype(np.uint16)
    return Constraints(forbid, policy, policy_weight, conversion, region, n_regions)


def _check_shape(array: np.ndarray, shape: tuple[int, int], what: str) -> None:
    if np.shape(array) != tuple(shape):
        raise InputError(f"{what} has shape {np.shape(array)}, the map {tuple(shape)}",
                         field=what)


@dataclass(frozen=True, eq=False)
class LandUseModel:
    """Everything fixed during a simulation on one grid.

    codes : class codes, in the order of the class axis of every table (at most 16).
    suitability : (rows, cols, K) float32 development probability of each class.
    patch_sizes : per class, the sizes (cells) of the patches observed in calibration; empty
        or missing = patches of one cell.
    """

    codes: tuple[int, ...]
    suitability: np.ndarray
    params: CAParams
    constraints: Constraints
    patch_sizes: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.codes)
        if not 1 <= n <= MAX_CLASSES or len(set(self.codes)) != n:
            raise InputError(f"needs 1..{MAX_CLASSES} distinct class codes", field="classes",
                             value=self.codes)
        s = self.suitability
        if s.ndim != 3 or s.shape[2] != n or s.dtype != np.float32:
            raise InputError(f"suitability must be float32 (rows, cols, {n})",
                             field="suitability", value=(s.shape, str(s.dtype)))
        if not np.isfinite(s).all() or (s < 0).any():
            raise InputError("suitability must be finite and >= 0", field="suitability")
        c = self.constraints
        for name in ("forbid", "policy"):
            _check_shape(getattr(c, name), s.shape[:2], name)
        if c.conversion.shape != (n, n) or c.policy_weight.shape[1] != n:
            raise InputError("constraint tables do not match the classes", field="conversion")
        if self.patch_sizes and len(self.patch_sizes) != n:
            raise InputError("patch_sizes needs one array per class", field="patch_sizes",
                             value=len(self.patch_sizes))
        self.params.per_class("weights", n)
        self.params.per_class("inertia", n)

    @property
    def shape(self) -> tuple[int, int]:
        return self.suitability.shape[:2]

    @property
    def n_classes(self) -> int:
        return len(self.codes)

    def index_of(self, codes: np.ndarray, nodata: int = 255, source: str | None = None
                 ) -> np.ndarray:
        """Class indices (uint8, 255 outside) of a map of class codes; unknown codes fail."""
        return codes_to_index(codes, self.codes, nodata=nodata, source=source)

    def codes_of(self, index: np.ndarray, nodata: int = 255) -> np.ndarray:
        lut = np.full(256, nodata, dtype=np.uint8)
        lut[: self.n_classes] = self.codes
        return lut[index]


def codes_to_index(codes: np.ndarray, class_codes: Sequence[int], *, nodata: int = 255,
                   source: str | None = None) -> np.ndarray:
    """Map class codes to indices 0..K-1 (``nodata`` -> 255); codes not in the table fail.

    Examples
    --------
    >>> codes_to_index(np.array([[3, 7], [255, 3]]), (7, 3)).tolist()
    [[1, 0], [255, 1]]
    """
    codes = np.asarray(codes)
    values, counts = np.unique(codes, return_counts=True)
    unknown = [(int(v), int(n)) for v, n in zip(values, counts)
               if v != nodata and int(v) not in class_codes]
    if unknown:
        raise InputError("the map has class codes the model does not know "
                         f"(code, cells): {unknown[:10]}", source=source,
                         field="land_use__class", value=sorted(int(c) for c in class_codes),
                         hint="add them to the classes or mark them nodata")
    lut = np.full(int(max(values.max(initial=0), nodata)) + 1, NODATA_INDEX, dtype=np.uint8)
    for i, code in enumerate(class_codes):
        lut[int(code)] = i
    return lut[codes.astype(np.int64, copy=False)] if codes.dtype.kind == "i" else lut[codes]


@dataclass
class Adaptation:
    """FLUS/PLUS adaptive coefficients, carried from pass to pass and step to step."""

    drive: np.ndarray  # (regions, K)
    gap: np.ndarray  # (regions, K) gap after the last roulette pass, NaN = none yet

    @classmethod
    def start(cls, n_regions: int, n_classes: int) -> Adaptation:
        return cls(np.ones((n_regions, n_classes)), np.full((n_regions, n_classes), np.nan))


def adapt(adaptation: Adaptation, gap: np.ndarray) -> Adaptation:
    """FLUS's adaptive inertia (Liu et al. 2017, eq. 5; PLUS's driving coefficient D_k):

    ``D_t = D_{t-1}`` if ``|G_{t-1}| <= |G_{t-2}|``; ``D_{t-1} * G_{t-2} / G_{t-1}`` if
    ``G_{t-1} < G_{t-2} < 0``; ``D_{t-1} * G_{t-1} / G_{t-2}`` if ``0 < G_{t-2} < G_{t-1}``.

    ``G`` is the gap between a class's demand and what the roulette asked for it: for a class
    that must gain, cells still wanted minus cells that requested it (positive: too few ask,
    so ``D`` grows); for a class that must lose, cells that asked to leave minus cells it must
    still lose (positive: too many leave, so ``D`` - its cells' will to stay - grows). NaN
    gaps (the class has no demand left) restart the history. Returns a new object.

    Examples
    --------
    >>> a = adapt(Adaptation.start(1, 2), np.array([[10.0, -5.0]]))
    >>> adapt(a, np.array([[20.0, -4.0]])).drive.tolist()  # gap grew: x2; shrank: kept
    [[2.0, 1.0]]
    """
    prev, now, drive = adaptation.gap, gap, adaptation.drive.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        grew_neg = (now < prev) & (prev < 0)
        grew_pos = (now > prev) & (prev > 0)
        drive = np.where(grew_neg, drive * prev / now, drive)
        drive = np.where(grew_pos, drive * now / prev, drive)
    return Adaptation(np.clip(drive, *DRIVE_LIMITS), gap.copy())


@dataclass(eq=False)
class AllocationState:
    """The arrays one step updates in place (the kernels' view of a step)."""

    index: np.ndarray
    changed: np.ndarray
    suitability: np.ndarray
    forbid: np.ndarray
    policy: np.ndarray
    policy_weight: np.ndarray
    region_array: np.ndarray
    has_region: bool
    conversion: np.ndarray
    gain_left: np.ndarray
    gain_free: np.ndarray
    gain_pool: np.ndarray
    loss_left: np.ndarray
    loss_free: np.ndarray
    loss_pool: np.ndarray
    size_offsets: np.ndarray
    size_values: np.ndarray
    max_patch: int
    transitions: np.ndarray = field(default=None)
    converted: np.ndarray = field(default=None)
    lost: np.ndarray = field(default=None)

    def open(self, which: str) -> np.ndarray:
        left, free, pool = (getattr(self, f"{which}_{p}") for p in ("left", "free", "pool"))
        return np.where(free, pool[:, None] > 0, left > 0).astype(np.uint8)

    def wanted(self) -> np.ndarray:
        """Cells each class may still gain, over all regions."""
        return np.where(self.gain_free, self.gain_pool[:, None], self.gain_left).sum(axis=0)


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: per region and class (``gained``, ``lost``, shortfalls) and the
    (from, to) transition counts."""

    gained: np.ndarray
    lost: np.ndarray
    transitions: np.ndarray
    gain_shortfall: np.ndarray
    loss_shortfall: np.ndarray
    passes: int
    seeds: int
    drive: np.ndarray
    transition_demand: np.ndarray | None = None  # (regions, K, K) asked, with transitions=
    transition_met: np.ndarray | None = None  # (regions, K, K) cells converted i -> j
    transition_shortfall: np.ndarray | None = None  # demand - met (>= 0)

    @property
    def met(self) -> bool:
        return not (self.gain_shortfall.any() or self.loss_shortfall.any())


def demand_caps(change: np.ndarray, targeted: np.ndarray) -> dict[str, np.ndarray]:
    """Gain and loss allowances of a step from the net change per (region, class).

    A targeted class gains exactly its positive change or loses exactly its negative change;
    free classes share a pool per region: what the demanded gains exceed the demanded losses
    by (they give it up) or the other way round (they absorb it).
    """
    change = np.asarray(change, dtype=np.int64)
    targeted = np.asarray(targeted, dtype=bool)
    gain = np.where(targeted & (change > 0), change, 0)
    loss = np.where(targeted & (change < 0), -change, 0)
    balance = gain.sum(axis=1) - loss.sum(axis=1)
    any_free = (~targeted).any(axis=1)
    return {"gain_left": gain, "gain_free": (~targeted).astype(np.uint8),
            "gain_pool": np.where(any_free, np.maximum(-balance, 0), 0),
            "loss_left": loss, "loss_free": (~targeted).astype(np.uint8),
            "loss_pool": np.where(any_free, np.maximum(balance, 0), 0)}


def allocate_step(index: np.ndarray, model: LandUseModel, change: np.ndarray | None, *,
                  targeted: np.ndarray | None = None, adaptation: Adaptation | None = None,
                  seed: int = 0, step: int = 0, transitions: np.ndarray | None = None
                  ) -> tuple[np.ndarray, StepOutcome, Adaptation]:
    """One step of land-use change (see the module docs).

    Parameters
    ----------
    index : (rows, cols) uint8 class indices at the start of the step (255 = outside).
    model : the land-use model.
    change : (regions, K) net change of each class's area this step, in cells (ignored, may
        be None, when ``transitions`` is given).
    targeted : (regions, K) which classes have a demand; default: those with a non-zero change.
    adaptation : coefficients carried from the previous step (default: all 1).
    seed, step : keys of the random draws.
    transitions : (regions, K, K) gross demand, ``T[z, i, j]`` cells of class ``i`` in region
        ``z`` to become class ``j`` this step (Dinamica EGO's transition quantities; the
        diagonal is ignored). Each transition is met exactly where the constraints leave
        room, else its shortfall is reported (``transition_shortfall``); no transition ever
        exceeds its quantity and no cell changes outside the matrix. The adaptive
        coefficients are then per transition: ``drive`` is (regions * K, K), row ``z * K + i``
        (see :func:`_pair_regions`).

    Returns
    -------
    The new index map, what the step did, and the adapted coefficients.
    """
    p, con, n = model.params, model.constraints, model.n_classes
    if index.shape != model.shape or index.dtype != np.uint8:
        raise InputError(f"the map must be uint8 {model.shape}", field="land_use__class",
                         value=(index.shape, str(index.dtype)))
    if transitions is not None:
        return _allocate_transitions(index, model, transitions, adaptation, seed, step)
    change = np.asarray(change, dtype=np.int64).reshape(con.n_regions, n)
    targeted = change != 0 if targeted is None else np.asarray(targeted, bool).reshape(
        change.shape)
    adaptation = adaptation or Adaptation.start(con.n_regions, n)
    return _run_step(index, model, con, change, targeted, adaptation, seed, step,
                     p.roulette_rounds + n + 1)


def _run_step(index: np.ndarray, model: LandUseModel, con: Constraints, change: np.ndarray,
              targeted: np.ndarray, adaptation: Adaptation, seed: int, step: int,
              max_passes: int) -> tuple[np.ndarray, StepOutcome, Adaptation]:
    """The passes of :func:`allocate_step` under the demand regions of ``con``."""
    p, n = model.params, model.n_classes
    sizes = [np.asarray(s, dtype=np.int64) for s in model.patch_sizes] or \
        [np.zeros(0, np.int64)] * n
    state = AllocationState(
        index=index.copy(), changed=np.zeros(index.shape, np.uint8),
        suitability=model.suitability, forbid=con.forbid, policy=con.policy,
        policy_weight=con.policy_weight,
        region_array=con.region if con.region is not None else np.zeros((1, 1), np.uint16),
        has_region=con.region is not None, conversion=con.conversion,
        size_offsets=np.concatenate([[0], np.cumsum([s.size for s in sizes])]).astype(np.int64),
        size_values=np.concatenate(sizes) if sizes else np.zeros(0, np.int64),
        max_patch=max((int(s.max()) for s in sizes if s.size), default=1),
        transitions=np.zeros((n, n), np.int64), converted=np.zeros_like(change),
        lost=np.zeros_like(change), **demand_caps(change, targeted))
    weight, inertia = p.per_class("weights", n), p.per_class("inertia", n)
    noise = stochastic_table(p.alpha)
    passes = seeds = 0
    while passes < max_passes:
        roulette = passes < p.roulette_rounds
        open_gain, open_loss = state.open("gain"), state.open("loss")
        if not (open_gain.any() and open_loss.any()):
            break
        streams = stream_keys(np.uint64(seed), np.uint64(step), np.uint64(4 * passes), 4)
        wanted = state.wanted()
        cells, classes, scores, requests, departures = compete(
            state.index, model.suitability, forbid=con.forbid, policy=con.policy,
            policy_weight=con.policy_weight, region=con.region, conversion=con.conversion,
            weight=weight, inertia=inertia, drive=adaptation.drive, open_gain=open_gain,
            open_loss=open_loss, changed=state.changed, spontaneous=p.spontaneous,
            alpha=p.alpha, size=p.neighbourhood_size, key_pick=streams[0],
            key_noise=streams[1], roulette=roulette, take=ALLOCATION_MARGIN * wanted + 64)
        if roulette:
            adaptation = adapt(adaptation, _gap(state, requests, departures))
        before = int(state.converted.sum())
        ranked, starts = ranked_requests(cells, classes, scores, n, wanted)
        seeds += allocate_requests(ranked, starts, wanted, state=state,
                                   patch_scale=p.patch_scale, compactness=p.patch_compactness,
                                   noise=noise, key_size=streams[2], key_grow=streams[3])
        passes += 1
        if not roulette and int(state.converted.sum()) == before:
            break
    outcome = StepOutcome(
        gained=state.converted, lost=state.lost, transitions=state.transitions,
        gain_shortfall=np.where(state.gain_free, 0, state.gain_left),
        loss_shortfall=np.where(state.loss_free, 0, state.loss_left), passes=passes,
        seeds=seeds, drive=adaptation.drive.copy())
    return state.index, outcome, adaptation


def _pair_regions(index: np.ndarray, con: Constraints, n: int) -> np.ndarray:
    """Demand region ``z * K + i`` of each cell of class ``i`` in region ``z`` (0 outside).

    With one region per (region, source class), the net allocation meets a gross demand
    exactly: the region of source ``i`` may gain ``T[z, i, j]`` of each ``j`` and must lose
    their sum of ``i``, and since a cell changes at most once per step its region stays that
    of its class at the start of the step. Competition, patches and FLUS adaptation then work
    per transition unchanged (the coefficient of row ``z * K + i``, column ``j`` drives
    ``i -> j``; column ``i`` the will of ``i`` to stay)."""
    z = con.region.astype(np.int64) if con.region is not None else np.zeros(index.shape,
                                                                             np.int64)
    own = np.where(index < n, index, 0).astype(np.int64)
    return (z * n + own).astype(np.uint16)


def _allocate_transitions(index: np.ndarray, model: LandUseModel, transitions: np.ndarray,
                          adaptation: Adaptation | None, seed: int, step: int
                          ) -> tuple[np.ndarray, StepOutcome, Adaptation]:
    """:func:`allocate_step` with a gross (from -> to) demand (see :func:`_pair_regions`)."""
    con, n = model.constraints, model.n_classes
    regions = con.n_regions
    if regions * n > np.iinfo(np.uint16).max:
        raise InputError("too many regions x classes for a transition demand",
                         field="transitions", value=(regions, n))
    demand = check_transitions(transitions, class_counts(index, n, con.region, regions))
    pairs = demand.reshape(regions * n, n)
    change = pairs.copy()
    rows = np.arange(regions * n)
    change[rows, rows % n] = -pairs.sum(axis=1)
    virtual = dataclasses.replace(con, region=_pair_regions(index, con, n),
                                  n_regions=regions * n)
    if adaptation is None or adaptation.drive.shape != change.shape:
        adaptation = Adaptation.start(regions * n, n)
    # K^2 transitions instead of K classes: fill passes stop anyway once none places a cell
    new, raw, adaptation = _run_step(index, model, virtual, change,
                                     np.ones(change.shape, bool), adaptation, seed, step,
                                     model.params.roulette_rounds + n * n + 1)
    met = raw.gained.reshape(regions, n, n).copy()
    short = np.maximum(demand - met, 0)
    outcome = StepOutcome(
        gained=met.sum(axis=1), lost=met.sum(axis=2), transitions=raw.transitions,
        gain_shortfall=short.sum(axis=1), loss_shortfall=short.sum(axis=2),
        passes=raw.passes, seeds=raw.seeds, drive=raw.drive, transition_demand=demand,
        transition_met=met, transition_shortfall=short)
    return new, outcome, adaptation


def check_transitions(transitions: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A gross demand ``T`` (regions, K, K) as int64 with a zero diagonal, checked against the
    cells ``counts`` (regions, K) of each class: entries must be whole and >= 0; a full matrix
    (non-zero diagonal: persistence included) must have rows summing to the class's cells;
    off-diagonal quantities alone must not exceed them. Raises InputError naming the entry.

    Examples
    --------
    >>> check_transitions(np.array([[7, 3], [0, 5]]), np.array([[10, 5]]))[0].tolist()
    [[0, 3], [0, 0]]
    """
    counts = np.asarray(counts, np.int64)
    regions, n = counts.shape
    t = np.asarray(transitions)
    if t.size != regions * n * n:
        raise InputError(f"a transition demand needs ({regions}, {n}, {n}) entries "
                         "(regions, from, to)", field="transitions", value=t.shape)
    t = t.reshape(regions, n, n)
    if not np.isfinite(t).all() or (t < 0).any() or (t != np.round(t)).any():
        raise InputError("transition quantities must be whole numbers of cells >= 0",
                         field="transitions")
    t = t.astype(np.int64)
    diagonal = np.einsum("zii->zi", t).copy()
    off = t.copy()
    off[:, np.arange(n), np.arange(n)] = 0
    rows = off.sum(axis=2)
    for z, i in zip(*np.nonzero((rows > 0) & (counts == 0))):
        raise InputError(f"a transition from class index {i} in region {z}, which has no "
                         "cells", field=f"transitions[{z}][{i}]", value=off[z, i].tolist())
    if diagonal.any():
        bad = rows + diagonal != counts
        for z, i in zip(*np.nonzero(bad)):
            raise InputError(f"row {i} of region {z} sums to {rows[z, i] + diagonal[z, i]} "
                             f"cells but the class has {counts[z, i]}",
                             field=f"transitions[{z}][{i}]", value=t[z, i].tolist(),
                             hint="a full matrix's rows must sum to each class's area")
    for z, i in zip(*np.nonzero(rows > counts)):
        raise InputError(f"class index {i} of region {z} would lose {rows[z, i]} cells but "
                         f"has {counts[z, i]}", field=f"transitions[{z}][{i}]",
                         value=off[z, i].tolist())
    return off


def _gap(state: AllocationState, requests: np.ndarray, departures: np.ndarray) -> np.ndarray:
    """The FLUS gap of each (region, class) for :func:`adapt` (NaN: no demand left)."""
    gain = np.where(state.gain_free, 0, state.gain_left)
    loss = np.where(state.loss_free, 0, state.loss_left)
    gap = np.full(gain.shape, np.nan)
    gap = np.where(gain > 0, gain - requests, gap)
    return np.where(loss > 0, departures - loss, gap).astype(np.float64)


def class_counts(index: np.ndarray, n_classes: int, region: np.ndarray | None = None,
                 n_regions: int = 1) -> np.ndarray:
    """(regions, K) cells of each class per region."""
    valid = index < n_classes
    z = region[valid].astype(np.int64) if region is not None else 0
    flat = np.bincount((z * n_classes + index[valid]).ravel(),
                       minlength=n_regions * n_classes)
    return flat.reshape(n_regions, n_classes)


@dataclass(frozen=True)
class SimulationResult:
    """The final map, what each step did and the coefficients to continue from."""

    index: np.ndarray
    outcomes: list[StepOutcome]
    adaptation: Adaptation


def simulate(index: np.ndarray, model: LandUseModel, targets: np.ndarray | None = None, *,
             targeted: np.ndarray | None = None, seed: int = 0, first_step: int = 0,
             adaptation: Adaptation | None = None, chain: MarkovChain | None = None,
             transitions: np.ndarray | None = None, steps: int | None = None,
             years_per_step: float = 1.0) -> SimulationResult:
    """The one simulation loop (twin run, twin simulate, calibration, ensembles).

    Demand is one of:

    - ``targets`` (steps, regions, K): the class areas wanted after each step (net demand);
      ``targeted`` (regions, K) says which classes they bind (default: all), the others are
      free (see :func:`demand_caps`);
    - ``transitions`` (steps, regions, K, K): gross from -> to cells per step
      (:func:`allocate_step`'s ``transitions=``), e.g. a planner's matrices or
      :attr:`engine.demand.ProjectedDemand.gross`;
    - ``chain``: a Markov chain (:class:`engine.demand.MarkovChain`) run for ``steps`` steps
      of ``years_per_step`` years, each step's gross demand taken from the map's *current*
      class counts (:func:`engine.demand.step_transitions`; Dinamica EGO applies its rates
      to the map as it is, so a shortfall does not make the next step inconsistent).

    Step ``i`` uses random keys (seed, first_step + i); adaptive coefficients carry over.

    Examples
    --------
    >>> idx = np.zeros((4, 4), np.uint8); idx[1:3, 1:3] = 1
    >>> m = LandUseModel((10, 20), np.ones((4, 4, 2), np.float32),
    ...                  CAParams(neighbourhood_size=3), build_constraints((4, 4), 2))
    >>> out = simulate(idx, m, np.array([[[10, 6]], [[8, 8]]]), seed=1)
    >>> class_counts(out.index, 2).tolist(), all(o.met for o in out.outcomes)
    ([[8, 8]], True)
    >>> gross = np.zeros((1, 1, 2, 2), np.int64); gross[0, 0, 0, 1] = 3
    >>> class_counts(simulate(idx, m, transitions=gross).index, 2).tolist()
    [[9, 7]]
    """
    con, n = model.constraints, model.n_classes
    if sum(x is not None for x in (targets, chain, transitions)) != 1:
        raise InputError("give one demand: class targets, a Markov chain or transition "
                         "matrices", field="demand")
    if targets is None:
        return _simulate_gross(index, model, chain, transitions, steps, years_per_step,
                               seed, first_step, adaptation)
    targets = np.asarray(targets, dtype=np.int64).reshape(-1, con.n_regions, n)
    targeted = np.ones((con.n_regions, n), bool) if targeted is None else \
        np.asarray(targeted, bool).reshape(con.n_regions, n)
    adaptation = adaptation or Adaptation.start(con.n_regions, n)
    counts = class_counts(index, n, con.region, con.n_regions)
    outcomes = []
    for i, target in enumerate(targets):
        change = np.where(targeted, target - counts, 0)
        index, outcome, adaptation = allocate_step(
            index, model, change, targeted=targeted, adaptation=adaptation, seed=seed,
            step=first_step + i)
        counts = counts + outcome.gained - outcome.lost
        outcomes.append(outcome)
    return SimulationResult(index, outcomes, adaptation)


def _simulate_gross(index: np.ndarray, model: LandUseModel, chain: MarkovChain | None,
                    transitions: np.ndarray | None, steps: int | None, years_per_step: float,
                    seed: int, first_step: int, adaptation: Adaptation | None
                    ) -> SimulationResult:
    """:func:`simulate` with gross demand (a Markov chain or (steps, R, K, K) matrices)."""
    con, n = model.constraints, model.n_classes
    if transitions is not None:
        transitions = np.asarray(transitions)
        steps = transitions.shape[0] if steps is None else steps
        if transitions.ndim != 4 or transitions.shape[0] != steps:
            raise InputError(f"needs (steps={steps}, regions, K, K) transition matrices",
                             field="transitions", value=transitions.shape)
    elif steps is None or steps < 1:
        raise InputError("a Markov chain needs a number of steps >= 1", field="steps",
                         value=steps)
    outcomes = []
    for i in range(steps):
        if chain is not None:
            demand = chain.step_transitions(
                class_counts(index, n, con.region, con.n_regions), years_per_step)
        else:
            demand = transitions[i]
        index, outcome, adaptation = allocate_step(index, model, None, transitions=demand,
                                                   adaptation=adaptation, seed=seed,
                                                   step=first_step + i)
        outcomes.append(outcome)
    return SimulationResult(index, outcomes, adaptation)


def interpolate_targets(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """(steps, ...) class areas moving linearly from ``start`` to ``end`` (as FLUS and PLUS
    interpolate demand between the years they are given), rounded so that every row keeps
    the total of ``end`` along the last axis (largest remainders get the extra cells).

    Examples
    --------
    >>> interpolate_targets(np.array([10, 0, 5]), np.array([4, 5, 6]), 3).tolist()
    [[8, 2, 5], [6, 3, 6], [4, 5, 6]]
    """
    if steps < 1:
        raise InputError("needs at least one step", field="steps", value=steps)
    start, end = np.asarray(start, np.int64), np.asarray(end, np.int64)
    rows = []
    for t in range(1, steps + 1):
        exact = start + (end - start) * (t / steps)
        base = np.floor(exact).astype(np.int64)
        total = np.round(start.sum(axis=-1) + (end.sum(axis=-1) - start.sum(axis=-1))
                         * t / steps).astype(np.int64)
        short = total - base.sum(axis=-1)
        rank = np.argsort(np.argsort(-(exact - base), axis=-1, kind="stable"), axis=-1)
        rows.append(base + (rank < np.expand_dims(short, -1)))
    return np.stack(rows)


def learn_patch_sizes(start: np.ndarray, end: np.ndarray, n_classes: int,
                      valid: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Sizes (cells) of the patches each class gained between two maps: the 8-connected
    components of cells that became the class (FUTURES's patch library, Meentemeyer et al.
    2013). A class that gained nothing gets an empty array (its patches will be one cell).

    Examples
    --------
    >>> a = np.zeros((3, 5), np.uint8); b = a.copy(); b[0, :2] = 1; b[2, 4] = 1
    >>> [s.tolist() for s in learn_patch_sizes(a, b, 2)]
    [[], [1, 2]]
    """
    from scipy import ndimage

    ok = (start < n_classes) & (end < n_classes)
    if valid is not None:
        ok &= valid
    sizes = []
    for k in range(n_classes):
        gained = ok & (end == k) & (start != k)
        labels, count = ndimage.label(gained, structure=np.ones((3, 3), bool))
        sizes.append(np.sort(np.bincount(labels.ravel())[1:]).astype(np.int64) if count
                     else np.zeros(0, np.int64))
    return tuple(sizes)


def geometric_patch_sizes(mean: float, levels: int = 256) -> np.ndarray:
    """Patch sizes with a geometric distribution of the given mean (>= 1), as a library of
    ``levels`` quantiles, for territories without observed change to learn sizes from.

    Examples
    --------
    >>> geometric_patch_sizes(1.0, 4).tolist()
    [1, 1, 1, 1]
    >>> float(geometric_patch_sizes(5.0, 10000).mean()).__round__(1)
    5.0
    """
    if not mean >= 1:
        raise InputError("the mean patch size must be >= 1 cell", field="patch_size",
                         value=mean)
    if mean == 1:
        return np.ones(levels, dtype=np.int64)
    u = (np.arange(levels) + 0.5) / levels
    return (1 + np.floor(np.log1p(-u) / np.log1p(-1.0 / mean))).astype(np.int64)

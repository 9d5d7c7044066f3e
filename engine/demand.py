"""Land-use demand: Markov-chain projections of gross transitions, scenario adjustments on the
transition probabilities, and planners' tables of net targets turned into steps.

Markov-chain demand is the demand model of FLUS/PLUS studies (Liu et al. 2017; Liang et al.
2021) and, as transition quantities per step, the demand of Dinamica EGO (Soares-Filho et al.
2002): the share of class ``i`` that became ``j`` between two observed maps is the transition
probability ``P[i, j]`` of the interval; its one-year matrix is the interval matrix's
``1/years`` root, and the matrix of any horizon ``h`` years is ``P_year^h``.

*Integer powers* are exact products (:func:`numpy.linalg.matrix_power`). *Fractional powers*
(the root of a 2-year interval, a 2.5-year step) use the principal matrix power
``exp(t log P)`` by the Schur-Padé algorithm of Higham & Lin (2011,
:func:`scipy.linalg.fractional_matrix_power`); the result need not be a stochastic matrix (a
root of an empirical matrix often has small negative entries, Israel, Rosenthal & Wei 2001),
so it is *regularised* as Kreinin & Sidelnikova (2001) do in their simplest scheme: imaginary
parts dropped, negative entries set to 0 and each row rescaled to sum to 1. A class without
cells at the start of an interval keeps an identity row (nothing is known of where it goes).

*Scenario adjustments* multiply off-diagonal probabilities of the one-year matrix (farmland ->
built-up x 0.5; forest -> anything x 0) before it is compounded. Rows are renormalised on the
*diagonal*: what a multiplier below 1 removes from ``i -> j`` stays ``i`` (protected farmland
that is not built stays farmland), what a multiplier above 1 adds comes out of ``i``'s
persistence; when a row would need more than its persistence, its off-diagonal entries are
scaled to sum to 1 (nothing of ``i`` stays).

Quantities are whole cells: a row of counts times probabilities is rounded by largest
remainders so that every row keeps its cells exactly (the from-class totals are conserved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from engine.landuse import interpolate_targets
from tim.errors import InputError

NODATA = 255


def transition_counts(start: np.ndarray, end: np.ndarray, n_classes: int, *,
                      region: np.ndarray | None = None, n_regions: int = 1) -> np.ndarray:
    """(regions, K, K) cells of class ``i`` in ``start`` that are ``j`` in ``end`` (diagonal:
    cells that stayed), over cells valid in both maps.

    Examples
    --------
    >>> transition_counts(np.array([[0, 0, 1]]), np.array([[0, 1, 1]]), 2)[0].tolist()
    [[1, 1], [0, 1]]
    """
    start, end = np.asarray(start), np.asarray(end)
    ok = (start < n_classes) & (end < n_classes)
    z = region[ok].astype(np.int64) if region is not None else 0
    flat = (z * n_classes + start[ok].astype(np.int64)) * n_classes + end[ok]
    return np.bincount(flat.ravel(), minlength=n_regions * n_classes * n_classes
                       ).reshape(n_regions, n_classes, n_classes).astype(np.int64)


def regularise(matrix: np.ndarray) -> np.ndarray:
    """The nearest stochastic rows in Kreinin & Sidelnikova's (2001) simple sense: real part,
    negatives to 0, each row divided by its sum (an all-zero row becomes the identity row).

    Examples
    --------
    >>> regularise(np.array([[1.02, -0.02], [0.3, 0.6]])).round(3).tolist()
    [[1.0, 0.0], [0.333, 0.667]]
    """
    m = np.maximum(np.real(np.asarray(matrix)), 0.0)
    sums = m.sum(axis=-1, keepdims=True)
    eye = np.broadcast_to(np.eye(m.shape[-1]), m.shape)
    return np.where(sums > 0, m / np.where(sums > 0, sums, 1.0), eye)


def matrix_power(matrix: np.ndarray, t: float) -> np.ndarray:
    """``P^t`` of a stochastic matrix (or a stack of them, (..., K, K)) for ``t >= 0``: the
    exact product for whole ``t``, else the regularised principal power (module docs).

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.0, 1.0]])
    >>> matrix_power(p, 2).round(4).tolist()
    [[0.81, 0.19], [0.0, 1.0]]
    >>> matrix_power(matrix_power(p, 0.5), 2).round(6).tolist()  # the root, squared
    [[0.9, 0.1], [0.0, 1.0]]
    """
    from scipy.linalg import fractional_matrix_power

    if not (np.isfinite(t) and t >= 0):
        raise InputError("a horizon must be a finite number of years >= 0", field="years",
                         value=t)
    p = np.asarray(matrix, dtype=np.float64)
    if float(t).is_integer():
        return np.linalg.matrix_power(p, int(t))
    stack = p.reshape(-1, *p.shape[-2:])
    out = np.empty_like(stack)
    for i, m in enumerate(stack):
        out[i] = regularise(fractional_matrix_power(m, float(t)))
    return out.reshape(p.shape)


def row_stochastic(counts: np.ndarray) -> np.ndarray:
    """Counts (..., K, K) to probabilities per row; rows without cells become identity rows."""
    return regularise(np.asarray(counts, dtype=np.float64))


@dataclass(frozen=True)
class MarkovChain:
    """One-year transition probabilities per demand region, estimated from observed maps.

    annual : (regions, K, K) ``P[z, i, j]``, rows summing to 1.
    years : the years of the maps it was estimated from.
    """

    annual: np.ndarray
    years: tuple[float, ...] = ()

    @property
    def n_classes(self) -> int:
        return self.annual.shape[-1]

    def over(self, years: float) -> np.ndarray:
        """(regions, K, K) transition probabilities over ``years`` (see the module docs)."""
        return matrix_power(self.annual, years)

    def adjusted(self, multipliers: np.ndarray) -> MarkovChain:
        """The chain with its one-year probabilities multiplied per transition (a (K, K) or
        (regions, K, K) table, see :func:`adjust`)."""
        return MarkovChain(adjust(self.annual, multipliers), self.years)

    def step_transitions(self, counts: np.ndarray, years: float = 1.0) -> np.ndarray:
        """The gross demand of one step from the class ``counts`` (:func:`step_transitions`)."""
        return step_transitions(self, counts, years)


def estimate_markov(maps: Mapping[float, np.ndarray], n_classes: int, *,
                    region: np.ndarray | None = None, n_regions: int = 1) -> MarkovChain:
    """The one-year Markov chain of a series of class-index maps (255 outside), by year.

    Each interval ``y_a -> y_b`` gives the matrix of its observed transitions; its one-year
    matrix is its ``1 / (y_b - y_a)`` power (exact for one-year intervals). With several
    intervals the one-year rows are averaged, each weighted by the cell-years it rests on (the
    source class's cells times the interval's length).

    Raises InputError for fewer than two maps, maps of different shape or study area, class
    indices beyond ``n_classes``, or years not increasing.

    Examples
    --------
    >>> a = np.zeros((10, 10), np.uint8); b = a.copy(); b[0, :] = 1   # 10 % of 0 became 1
    >>> chain = estimate_markov({2000: a, 2002: b}, 2)
    >>> chain.annual[0].round(4).tolist()   # sqrt(0.9) = 0.9487
    [[0.9487, 0.0513], [0.0, 1.0]]
    >>> chain.over(2)[0].round(4).tolist()
    [[0.9, 0.1], [0.0, 1.0]]
    """
    if len(maps) < 2:
        raise InputError("a Markov estimate needs land-use maps of at least two years",
                         field="maps", value=sorted(maps))
    years = sorted(maps)
    first = np.asarray(maps[years[0]])
    for y in years:
        m = np.asarray(maps[y])
        if m.shape != first.shape:
            raise InputError(f"the map of {y} has shape {m.shape}, the map of {years[0]} "
                             f"{first.shape}: maps must share one grid", field=f"maps[{y}]")
        bad = (m >= n_classes) & (m != NODATA)
        if bad.any():
            raise InputError(f"the map of {y} has class index {int(m[bad].max())}, the model "
                             f"{n_classes} classes", field=f"maps[{y}]",
                             hint="use the same classes in every map")
        if ((m == NODATA) != (first == NODATA)).any():
            raise InputError(f"the map of {y} covers another study area than {years[0]}'s",
                             field=f"maps[{y}]", hint="mask every map with one study area")
    weighted = np.zeros((n_regions, n_classes, n_classes))
    weights = np.zeros((n_regions, n_classes, 1))
    for a, b in zip(years[:-1], years[1:]):
        span = float(b) - float(a)
        if not span > 0:
            raise InputError("years must increase", field="maps", value=(a, b))
        counts = transition_counts(maps[a], maps[b], n_classes, region=region,
                                   n_regions=n_regions)
        annual = matrix_power(row_stochastic(counts), 1.0 / span)
        w = counts.sum(axis=2, keepdims=True) * span
        weighted += annual * w
        weights += w
    annual = np.where(weights > 0, weighted / np.where(weights > 0, weights, 1.0),
                      np.eye(n_classes))
    return MarkovChain(regularise(annual), tuple(float(y) for y in years))


def allocate_rows(counts: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Whole cells (..., K, K) from class counts (..., K) and row probabilities: each row's
    share rounded by largest remainders (ties: lowest target class) so that it keeps exactly
    its class's cells.

    Examples
    --------
    >>> allocate_rows(np.array([10, 3]), np.array([[0.55, 0.45], [1/3, 2/3]])).tolist()
    [[6, 4], [1, 2]]
    """
    counts = np.asarray(counts, np.int64)
    exact = counts[..., None] * np.asarray(probabilities, np.float64)
    base = np.floor(exact + 1e-9).astype(np.int64)
    short = counts - base.sum(axis=-1)
    rank = np.argsort(np.argsort(-(exact - base), axis=-1, kind="stable"), axis=-1)
    return base + (rank < short[..., None])


@dataclass(frozen=True)
class ProjectedDemand:
    """Demand per step: gross ``transitions`` (steps, regions, K, K) whole cells with the
    persistence on the diagonal (rows sum to each class's cells at the start of the step), and
    the class ``totals`` (steps + 1, regions, K) before the first and after every step."""

    transitions: np.ndarray
    totals: np.ndarray

    @property
    def gross(self) -> np.ndarray:
        """The transitions with a zero diagonal (what :func:`engine.landuse.allocate_step`
        takes as ``transitions=``)."""
        t = self.transitions.copy()
        k = t.shape[-1]
        t[..., np.arange(k), np.arange(k)] = 0
        return t

    @property
    def targets(self) -> np.ndarray:
        """(steps, regions, K) class totals after each step: the net demand equivalent."""
        return self.totals[1:]


def project_demand(chain: MarkovChain, counts: np.ndarray, steps: int, *,
                   years_per_step: float = 1.0) -> ProjectedDemand:
    """Gross transitions and class totals for ``steps`` steps of ``years_per_step`` years from
    the (regions, K) class ``counts``: each step moves the current totals by the chain's
    matrix over one step, rounded to whole cells per row (:func:`allocate_rows`).

    Examples
    --------
    >>> chain = MarkovChain(np.array([[[0.9, 0.1], [0.0, 1.0]]]))
    >>> d = project_demand(chain, np.array([[100, 0]]), 2)
    >>> d.totals[:, 0].tolist(), d.gross[1, 0].tolist()
    ([[100, 0], [90, 10], [81, 19]], [[0, 9], [0, 0]])
    """
    if steps < 1:
        raise InputError("needs at least one step", field="steps", value=steps)
    counts = np.asarray(counts, np.int64)
    if counts.shape != chain.annual.shape[:2]:
        raise InputError(f"class counts must be (regions, K) = {chain.annual.shape[:2]}",
                         field="counts", value=counts.shape)
    step_matrix = chain.over(years_per_step)
    totals = [counts]
    transitions = []
    for _ in range(steps):
        t = allocate_rows(totals[-1], step_matrix)
        transitions.append(t)
        totals.append(t.sum(axis=1))
    return ProjectedDemand(np.stack(transitions), np.stack(totals))


def transition_multipliers(n_classes: int,
                           rules: Sequence[tuple[int | None, int | None, float]]) -> np.ndarray:
    """A (K, K) table of multipliers from ``(from, to, factor)`` rules, class indices or None
    for every class (diagonal untouched); later rules multiply earlier ones.

    Examples
    --------
    >>> transition_multipliers(3, [(0, 2, 0.5), (1, None, 0.0)]).tolist()
    [[1.0, 1.0, 0.5], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    """
    m = np.ones((n_classes, n_classes))
    for a, b, factor in rules:
        for i in (range(n_classes) if a is None else [a]):
            for j in (range(n_classes) if b is None else [b]):
                if not (0 <= i < n_classes and 0 <= j < n_classes):
                    raise InputError(f"class index out of 0..{n_classes - 1}",
                                     field="transition rule", value=(a, b, factor))
                if not (np.isfinite(factor) and factor >= 0):
                    raise InputError("a multiplier must be a finite number >= 0",
                                     field="transition rule", value=(a, b, factor))
                if i != j:
                    m[i, j] *= factor
    return m


def adjust(probabilities: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """Transition probabilities (..., K, K) with off-diagonal entries multiplied and each row
    renormalised on its diagonal (module docs); the multipliers' diagonal is ignored.

    Examples
    --------
    >>> p = np.array([[0.8, 0.2, 0.0], [0.1, 0.8, 0.1], [0.0, 0.0, 1.0]])
    >>> adjust(p, transition_multipliers(3, [(0, 1, 0.5), (1, None, 3.0)])).round(3).tolist()
    [[0.9, 0.1, 0.0], [0.3, 0.4, 0.3], [0.0, 0.0, 1.0]]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    k = p.shape[-1]
    m = np.broadcast_to(np.asarray(multipliers, dtype=np.float64), p.shape)
    if not np.isfinite(m).all() or (m < 0).any():
        raise InputError("multipliers must be finite and >= 0", field="multipliers")
    off = np.where(np.eye(k, dtype=bool), 0.0, p * m)
    leaving = off.sum(axis=-1, keepdims=True)
    over = leaving > 1.0
    off = np.where(over, off / np.where(over, leaving, 1.0), off)
    diag = np.clip(1.0 - off.sum(axis=-1), 0.0, 1.0)
    return off + diag[..., None] * np.eye(k)


def steps_from_table(start: np.ndarray, table: Mapping[float, np.ndarray], start_year: float,
                     *, years_per_step: float = 1.0) -> np.ndarray:
    """(steps, regions, K) class totals after each step from a planner's table of net targets
    (year -> (regions, K) cells), linear between the years given (as FLUS and PLUS
    interpolate; :func:`engine.landuse.interpolate_targets`), starting from ``start`` at
    ``start_year``. Every table year must fall on a step and keep the study area's cells.

    Examples
    --------
    >>> steps_from_table(np.array([[10, 0]]), {2002: np.array([[6, 4]]),
    ...                  2003: np.array([[5, 5]])}, 2000)[:, 0].tolist()
    [[8, 2], [6, 4], [5, 5]]
    """
    start = np.asarray(start, np.int64)
    if not table:
        raise InputError("the demand table has no years", field="demand")
    rows, year, have = [], float(start_year), start
    for y in sorted(table):
        target = np.asarray(table[y], np.int64).reshape(start.shape)
        span = (float(y) - year) / years_per_step
        if not (span >= 1 and abs(span - round(span)) < 1e-9):
            raise InputError(f"year {y} is not a whole number (>= 1) of {years_per_step}-year "
                             f"steps after {year:g}", field=f"demand[{y}]")
        if (target < 0).any() or (target.sum(axis=-1) != start.sum(axis=-1)).any():
            raise InputError(f"the targets of {y} sum to {target.sum(axis=-1).tolist()} cells, "
                             f"the study area has {start.sum(axis=-1).tolist()}",
                             field=f"demand[{y}]", hint="targets must cover the study area")
        rows.append(interpolate_targets(have, target, int(round(span))))
        year, have = float(y), target
    return np.concatenate(rows)


def step_transitions(chain: MarkovChain, counts: np.ndarray, years: float = 1.0) -> np.ndarray:
    """The gross demand (regions, K, K), zero diagonal, of one step of ``years`` from the class
    ``counts`` (regions, K) of the map as it is: Dinamica EGO applies its rates to the current
    map, so a shortfall in one step does not leave the next step's matrix inconsistent.

    Examples
    --------
    >>> step_transitions(MarkovChain(np.array([[[0.9, 0.1], [0.0, 1.0]]])),
    ...                  np.array([[50, 5]]))[0].tolist()
    [[0, 5], [0, 0]]
    """
    t = allocate_rows(np.asarray(counts, np.int64), chain.over(years))
    k = t.shape[-1]
    t[..., np.arange(k), np.arange(k)] = 0
    return t

"""The land-use model's configuration: the one place its parameters and their defaults live.

A :class:`LandUseConfig` is everything about the model that is not an array: the cellular
automaton's parameters (:class:`engine.landuse.CAParams`, which ``twin calibrate`` fits), the
planner's policy (:class:`LandUsePolicy`: control lines, protected groups, the urban
development boundary, conversion rules) and the mean size of new patches when no patch library
was learned. A scenario's ``land_use`` section maps onto it by one function
(:func:`scenarios.schema.land_use_config`); a calibration's ``parameters.yaml`` supplies its
``ca`` part. :func:`conversion_factors` turns the policy's rules into the model's conversion
table and :func:`markov_multipliers` its Markov-demand adjustments into multipliers, both with
one reading of class selectors. :func:`build_model` is the one constructor of the model from
arrays: ``twin run`` (through :func:`engine.processes.land_use.territory_model`, which adds the
territory's control lines and policy), ``twin simulate`` and ``twin calibrate`` all build
their model with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.demand import transition_multipliers
from engine.landuse import (CAParams, LandUseModel, build_constraints,
                            geometric_patch_sizes)
from tim.errors import InputError
from tim.model import GROUPS, ClassTable

#: A class selector in a conversion rule: a land-use group, a class code, or every class.
ANY = "any"


@dataclass(frozen=True)
class ConversionRule:
    """Multiply the conversion factor of ``source -> target`` by ``factor`` (0 forbids it).

    ``source`` and ``target`` are a land-use group (``farmland``), a class code (``"12"``) or
    ``any``.
    """

    source: str
    target: str
    factor: float

    def __post_init__(self) -> None:
        if not 0 <= self.factor <= 1:
            raise InputError("a conversion factor must lie in [0, 1] (0 forbids)",
                             field=f"conversion.{self.source}.{self.target}", value=self.factor)


@dataclass(frozen=True)
class TransitionAdjustment:
    """Multiply the one-year Markov probability of ``source -> target`` by ``factor`` (a
    scenario assumption: 0 stops the transition, 1.3 makes it 30 % likelier); selectors as in
    :class:`ConversionRule`."""

    source: str
    target: str
    factor: float

    def __post_init__(self) -> None:
        if not 0 <= self.factor < float("inf"):
            raise InputError("a Markov adjustment factor must be >= 0 (0 stops it)",
                             field=f"markov.adjust.{self.source}.{self.target}",
                             value=self.factor)


@dataclass(frozen=True)
class LandUsePolicy:
    """What a planner sets (the parts of the model a scenario may change on a calibration).

    hard_constraints : territory fields (1 = inside) where no cell may become built-up.
    buffers : ``(field, metres)`` pairs: no cell within that distance of the field's line (a
        control line of ``hard_constraints``; distance between cell centres) may become
        built-up either (a hard buffer zone around the line; 0: none).
    protected_groups : land-use groups whose cells may not change class anywhere.
    outside_boundary_weight : factor on the potential of becoming built-up outside the urban
        development boundary (1: the boundary does not matter).
    conversion : rules scaling or forbidding transitions between groups or classes.
    markov_adjust : adjustments of a Markov-chain demand (the scenario's
        ``demand.markov.adjust``), applied in order.
    """

    hard_constraints: tuple[str, ...] = ("control__ecological_red_line",
                                         "control__permanent_basic_farmland")
    protected_groups: tuple[str, ...] = ()
    outside_boundary_weight: float = 0.3
    conversion: tuple[ConversionRule, ...] = ()
    markov_adjust: tuple[TransitionAdjustment, ...] = ()
    buffers: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        for name, width in self.buffers:
            if name not in self.hard_constraints:
                raise InputError("a buffer is drawn around a protected control line: protect "
                                 "the line too", field=f"protect_buffers.{name}", value=width)
            if not 0 <= width < float("inf"):
                raise InputError("a buffer width must be a finite number of metres >= 0",
                                 field=f"protect_buffers.{name}", value=width)
        unknown = sorted(set(self.protected_groups) - set(GROUPS))
        if unknown:
            raise InputError(f"unknown land-use groups (groups: {', '.join(GROUPS)})",
                             field="protect_groups", value=unknown)
        if not 0 <= self.outside_boundary_weight <= 1:
            raise InputError("must lie in [0, 1]", field="outside_boundary_weight",
                             value=self.outside_boundary_weight)


@dataclass(frozen=True)
class LandUseConfig:
    """The land-use model's parameters: the CA's, the planner's, and the mean patch size
    (cells, geometric distribution) used when no patch library was learned."""

    ca: CAParams = CAParams()
    policy: LandUsePolicy = LandUsePolicy()
    patch_size: float = 1.0

    def __post_init__(self) -> None:
        if not self.patch_size >= 1:
            raise InputError("the mean patch size must be >= 1 cell", field="patch_size",
                             value=self.patch_size)


def _select(selector: str, classes: ClassTable, where: str) -> np.ndarray:
    """Boolean (K,) mask of the classes a rule's selector names."""
    n = len(classes)
    if selector == ANY:
        return np.ones(n, bool)
    if selector in GROUPS:
        return np.array([c.group == selector for c in classes.classes])
    try:
        code = int(selector)
    except ValueError:
        code = -1
    codes = [c.code for c in classes.classes]
    if code not in codes:
        raise InputError(f"not a land-use group ({', '.join(GROUPS)}), a class code of the "
                         f"territory ({codes}) or '{ANY}'", field=where, value=selector)
    return np.array(codes) == code


def conversion_factors(classes: ClassTable, policy: LandUsePolicy,
                       base: np.ndarray | None = None) -> np.ndarray:
    """(K, K) conversion table ``conv[from, to]`` (0 forbidden, else 1 - cost).

    Starts from ``base`` (a calibration's table; default every transition at no cost), then
    only developable classes may become built-up, protected groups may not change at all, and
    the policy's conversion rules multiply their transitions, in that order.

    Examples
    --------
    >>> from tim.model import LandUseClass
    >>> t = ClassTable((LandUseClass(1, "crop", "#0", "farmland", True),
    ...                 LandUseClass(2, "town", "#1", "built", False),
    ...                 LandUseClass(3, "lake", "#2", "water", False)))
    >>> rule = ConversionRule("farmland", "built", 0.5)
    >>> conversion_factors(t, LandUsePolicy(conversion=(rule,))).tolist()
    [[0.0, 0.5, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    n = len(classes)
    table = np.ones((n, n)) if base is None else np.array(base, dtype=np.float64)
    if table.shape != (n, n):
        raise InputError(f"the conversion table must be {n} x {n}", field="conversion",
                         value=table.shape)
    built = classes.index_of(classes.built.code)
    table[:, built] *= [c.developable for c in classes.classes]
    for i, c in enumerate(classes.classes):
        if c.group in policy.protected_groups:
            table[i, :] = 0.0
    for rule in policy.conversion:
        where = f"land_use.conversion.{rule.source}.{rule.target}"
        rows = _select(rule.source, classes, where)
        cols = _select(rule.target, classes, where)
        table[np.ix_(rows, cols)] *= rule.factor
    np.fill_diagonal(table, 0.0)
    return table


def rules_from_mapping(mapping: dict[str, dict[str, float]]) -> tuple[ConversionRule, ...]:
    """``{from: {to: factor}}`` (as scenarios write them) as rules, in the given order."""
    return tuple(ConversionRule(str(a), str(b), float(f)) for a, targets in mapping.items()
                 for b, f in targets.items())


def markov_multipliers(classes: ClassTable, adjustments: Sequence[TransitionAdjustment], *,
                       where: str = "land_use.demand.markov.adjust") -> np.ndarray:
    """(K, K) multipliers on a Markov chain's one-year probabilities from the policy's
    adjustments (selectors read as :func:`conversion_factors` reads them); later adjustments
    multiply earlier ones, the diagonal is kept.

    Examples
    --------
    >>> from tim.model import LandUseClass
    >>> t = ClassTable((LandUseClass(1, "crop", "#0", "farmland", True),
    ...                 LandUseClass(2, "town", "#1", "built", False)))
    >>> markov_multipliers(t, [TransitionAdjustment("farmland", "built", 0.5)]).tolist()
    [[1.0, 0.5], [1.0, 1.0]]
    """
    n = len(classes)
    table = np.ones((n, n))
    for i, rule in enumerate(adjustments):
        rows = _select(rule.source, classes, f"{where}[{i}].from")
        cols = _select(rule.target, classes, f"{where}[{i}].to")
        pairs = [(int(r), int(c), float(rule.factor)) for r in np.flatnonzero(rows)
                 for c in np.flatnonzero(cols)]
        table *= transition_multipliers(n, pairs)
    return table


def build_model(codes: Sequence[int], suitability: np.ndarray, config: LandUseConfig, *,
                hard: Sequence[tuple[np.ndarray, Sequence[int] | None]] = (),
                soft: Sequence[tuple[np.ndarray, Sequence[float]]] = (),
                conversion: np.ndarray | None = None, region: np.ndarray | None = None,
                patch_sizes: tuple[np.ndarray, ...] = ()) -> LandUseModel:
    """The land-use model from arrays: the one constructor every command uses.

    Parameters
    ----------
    codes : class codes in index order.
    suitability : (rows, cols, K) per class.
    config : the CA's parameters (``config.ca``) and the mean patch size used when no
        ``patch_sizes`` library is given (the policy is the caller's: it is already in
        ``hard``, ``soft`` and ``conversion``).
    hard, soft, region : as :func:`engine.landuse.build_constraints` takes them.
    conversion : (K, K) ``conv[from, to]``, 0 forbidden, else 1 - cost (default: all allowed
        at no cost).
    patch_sizes : a learned patch library per class.
    """
    n = len(codes)
    table = np.ones((n, n)) if conversion is None else np.asarray(conversion, np.float64)
    shape = suitability.shape[:2]
    sizes = patch_sizes or (geometric_patch_sizes(config.patch_size),) * n
    constraints = build_constraints(shape, n, hard=hard, soft=soft, allowed=table > 0,
                                    cost=1.0 - table, region=region)
    return LandUseModel(tuple(int(c) for c in codes),
                        np.ascontiguousarray(suitability, np.float32), config.ca, constraints,
                        patch_sizes=sizes)

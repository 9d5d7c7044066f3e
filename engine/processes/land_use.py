"""Demand-driven, multi-class land-use change on the territory (the model of
:mod:`engine.landuse`: White & Engelen 1993 constrained CA, FLUS roulette competition and
adaptive inertia, Liu et al. 2017; PLUS patch seeds, Liang et al. 2021; FUTURES patch growth,
Meentemeyer et al. 2013; CLUE-S demand balancing, Verburg et al. 2002).

Each step reads ``land_use__demand`` - the net change of every class's area this step (positive
= gain, negative = loss, 0 = no demand: the class gives up or absorbs what the demanded classes
need) - and converts cells to meet it exactly, within the hard control lines; what cannot be
met is reported per class. Suitability comes per class (e.g. from ``twin calibrate``) or, for
built-up land only, from the ``land_use__suitability`` field. Instead of the field, a planner's
table of class areas per year may set the demand (``targets``): each step then asks for the
areas of its year, exactly as ``twin simulate`` does - both call
:func:`engine.landuse.simulate`, so the same model, demand and seed give the same map. A
Markov chain (``chain``, :mod:`engine.demand`) sets a gross demand instead: each step, the
from -> to cells its matrix gives the map as it is; met quantity and shortfall are reported
per transition.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from engine.demand import MarkovChain
from engine.landuse import Adaptation, LandUseModel, class_counts, simulate
from engine.landuse_config import LandUseConfig, build_model, conversion_factors
from engine.process import Clock, FieldUse, Process, StepReport
from engine.suitability import distance_to
from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Territory


def buffer_zone(line: np.ndarray, width: float, cell_size: tuple[float, float]
                ) -> np.ndarray:
    """Cells whose centre lies within ``width`` (CRS units) of a ``line`` cell's centre, the
    line included (Euclidean distance transform, :func:`engine.suitability.distance_to`);
    nothing when the line is empty.

    Examples
    --------
    >>> buffer_zone(np.array([[True, False, False, False]]), 60.0, (30.0, 30.0)).tolist()
    [[True, True, True, False]]
    """
    distance = distance_to(line, cell_size)
    return np.isfinite(distance) & (distance <= width)


def territory_model(territory: Territory, config: LandUseConfig = LandUseConfig(), *,
                    suitability: np.ndarray | None = None,
                    patch_sizes: tuple[np.ndarray, ...] = (),
                    conversion: np.ndarray | None = None,
                    frozen: np.ndarray | None = None,
                    region: np.ndarray | None = None) -> LandUseModel:
    """The land-use model on ``territory``'s grid and classes: the policy's control lines,
    boundary and conversion rules on top of :func:`engine.landuse_config.build_model`.

    Parameters
    ----------
    config : the CA's parameters and the planner's policy.
    suitability : (rows, cols, K) per class (e.g. predicted by a calibrated model); default
        the ``land_use__suitability`` field for built-up land, 0 for the other classes.
    patch_sizes : a learned patch library per class; default geometric sizes of mean
        ``config.patch_size``.
    conversion : a calibration's (K, K) conversion table, before the policy's rules.
    frozen : cells that never change (e.g. outside a calibration's study area).
    region : (rows, cols) demand zone of each cell (default one zone).
    """
    policy = config.policy
    for name in policy.hard_constraints:
        if name not in territory.fields:
            raise InputError(f"hard constraint {name!r} is not in the territory",
                             source=territory.name, field=name,
                             hint="add the control lines to the TIM or drop the constraint")
    classes = territory.classes
    n = len(classes)
    built = classes.index_of(classes.built.code)
    shape = territory.grid.shape
    if suitability is None:
        if "land_use__suitability" not in territory.fields:
            raise InputError("no suitability: give one per class or the built-up field",
                             source=territory.name, field="land_use__suitability")
        suitability = np.zeros(shape + (n,), dtype=np.float32)
        suitability[..., built] = territory.get("land_use__suitability")
    hard = [(territory.fields[name] > 0, [built]) for name in policy.hard_constraints]
    hard += [(buffer_zone(territory.fields[name] > 0, width, territory.grid.cell_size), [built])
             for name, width in policy.buffers if width > 0]
    if frozen is not None:
        hard.append((frozen, None))
    soft = []
    boundary = territory.fields.get("control__urban_development_boundary")
    if boundary is not None:
        weights = np.ones(n)
        weights[built] = policy.outside_boundary_weight
        soft.append((boundary == 0, weights))
    return build_model(classes.codes, suitability, config, hard=hard, soft=soft,
                       conversion=conversion_factors(classes, policy, conversion),
                       region=region, patch_sizes=patch_sizes)


class LandUseChange(Process):
    """Convert cells to meet the demand each step, within the control lines.

    The demand is the ``land_use__demand`` field (net change per class this step, e.g. from
    the households), or, when ``targets`` is given, a planner's class areas: ``targets``
    maps each simulated year to the (K,) cells wanted at its end, ``targeted`` (K,) says
    which classes they bind (the others are free). With ``chain`` (a Markov chain of the
    model's classes) each step's demand is the chain's gross transitions over the step.
    """

    FIELDS = (
        FieldUse("land_use__class", "inout"),
        FieldUse("land_use__suitability", "in", optional=True),
        FieldUse("land_use__demand", "in", optional=True),
        FieldUse("control__urban_development_boundary", "in", optional=True),
    )

    def __init__(self, territory: Territory, config: LandUseConfig = LandUseConfig(), *,
                 model: LandUseModel | None = None,
                 targets: Mapping[int, np.ndarray] | None = None,
                 targeted: np.ndarray | None = None, chain: MarkovChain | None = None):
        super().__init__(territory)
        self.config = config
        self.model = model if model is not None else territory_model(territory, config)
        if tuple(self.model.codes) != tuple(int(c) for c in territory.classes.codes):
            raise InputError("the model's classes are not the territory's",
                             source=territory.name, field="classes",
                             value=(list(self.model.codes), list(territory.classes.codes)))
        n = self.model.n_classes
        self.targets = None if targets is None else {int(y): np.asarray(v, np.int64)
                                                     for y, v in targets.items()}
        self.targeted = np.ones(n, bool) if targeted is None else np.asarray(targeted, bool)
        self._can_gain = self.model.suitability.reshape(-1, n).max(axis=0) > 0
        self.adaptation = Adaptation.start(1, n)
        if chain is not None and (chain.n_classes != n or chain.annual.shape[0] != 1):
            raise InputError(f"the Markov chain must be of the model's {n} classes, one "
                             "region", source=territory.name, field="land_use.demand.markov",
                             value=chain.annual.shape)
        if chain is not None and targets is not None:
            raise InputError("give a demand table or a Markov chain, not both",
                             source=territory.name, field="land_use.demand")
        self.chain = chain

    def _demand(self, year: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(target areas, targeted) of this step, both (K,)."""
        t = self.territory
        have = class_counts(index, self.model.n_classes)[0]
        if self.targets is not None:
            if year not in self.targets:
                raise InputError("the demand table has no class areas for this year",
                                 source=t.name, field="land_use.demand", value=year)
            return np.where(self.targeted, self.targets[year], have), self.targeted
        if "land_use__demand" not in t.fields:
            raise InputError("no land-use demand: the households write it, or give a "
                             "demand table", source=t.name, field="land_use__demand")
        change = t.get("land_use__demand").astype(np.int64)
        return have + change, change != 0

    def run_one_step(self, clock: Clock) -> StepReport:
        t = self.territory
        nodata = field_spec("land_use__class").nodata
        index = self.model.index_of(t.get("land_use__class"), nodata=nodata, source=t.name)
        if self.chain is not None:
            return self._markov_step(clock, index, nodata)
        target, targeted = self._demand(clock.year, index)
        demand = np.where(targeted, target - class_counts(index, self.model.n_classes)[0], 0)
        for k in np.flatnonzero((demand > 0) & ~self._can_gain):
            cls = t.classes.classes[k]
            raise InputError(f"demand for {cls.name!r} but it has no suitability anywhere",
                             source=t.name, field="land_use__demand", value=int(demand[k]),
                             hint="give a per-class suitability (e.g. from twin calibrate)")
        run = simulate(index, self.model, target[None, None, :], targeted=targeted[None, :],
                       seed=clock.seed, first_step=clock.step, adaptation=self.adaptation)
        self.adaptation, outcome = run.adaptation, run.outcomes[0]
        t.set_field("land_use__class", self.model.codes_of(run.index, nodata=nodata))
        report = StepReport(self.name, clock.year, {"passes": outcome.passes})
        for k, code in enumerate(self.model.codes):
            if demand[k] > 0 or outcome.gained[0, k]:
                came = outcome.transitions[:, k]
                report.values[f"converted_to_{code}"] = int(outcome.gained[0, k])
                report.values[f"shortfall_{code}"] = int(outcome.gain_shortfall[0, k])
                report.values[f"from_codes_to_{code}"] = {
                    int(self.model.codes[j]): int(came[j]) for j in np.flatnonzero(came)}
            if demand[k] < 0:
                report.values[f"lost_{code}"] = int(outcome.lost[0, k])
                report.values[f"loss_shortfall_{code}"] = int(outcome.loss_shortfall[0, k])
        return report

    def _markov_step(self, clock: Clock, index: np.ndarray, nodata: int) -> StepReport:
        """One step of the chain's gross demand; reports per class as the net demand does
        (``shortfall_<code>`` feeds the run's warnings) and per transition ``from->to``."""
        t, codes = self.territory, self.model.codes
        run = simulate(index, self.model, chain=self.chain, steps=1,
                       years_per_step=clock.dt, seed=clock.seed, first_step=clock.step,
                       adaptation=self.adaptation)
        self.adaptation, outcome = run.adaptation, run.outcomes[0]
        t.set_field("land_use__class", self.model.codes_of(run.index, nodata=nodata))
        asked, met = outcome.transition_demand[0], outcome.transition_met[0]
        short = outcome.transition_shortfall[0]
        report = StepReport(self.name, clock.year, {
            "passes": outcome.passes, "demand_cells": int(asked.sum()),
            "met_cells": int(met.sum()), "shortfall_cells": int(short.sum()),
            "transitions": {f"{codes[i]}->{codes[j]}": {
                "demand": int(asked[i, j]), "met": int(met[i, j]),
                "shortfall": int(short[i, j])} for i, j in zip(*np.nonzero(asked | met))}})
        for k, code in enumerate(codes):
            if outcome.gained[0, k] or outcome.gain_shortfall[0, k]:
                report.values[f"converted_to_{code}"] = int(outcome.gained[0, k])
                report.values[f"shortfall_{code}"] = int(outcome.gain_shortfall[0, k])
            if outcome.lost[0, k] or outcome.loss_shortfall[0, k]:
                report.values[f"lost_{code}"] = int(outcome.lost[0, k])
                report.values[f"loss_shortfall_{code}"] = int(outcome.loss_shortfall[0, k])
        return report

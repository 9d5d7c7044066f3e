"""Demand-driven, multi-class land-use change on the territory (the model of
:mod:`engine.landuse`: White & Engelen 1993 constrained CA, FLUS roulette competition and
adaptive inertia, Liu et al. 2017; PLUS patch seeds, Liang et al. 2021; FUTURES patch growth,
Meentemeyer et al. 2013; CLUE-S demand balancing, Verburg et al. 2002).

Each step reads ``land_use__demand`` - the net change of every class's area this step (positive
= gain, negative = loss, 0 = no demand: the class gives up or absorbs what the demanded classes
need) - and converts cells to meet it exactly, within the hard control lines; what cannot be
met is reported per class. Suitability comes per class (e.g. from ``twin calibrate``) or, for
built-up land only, from the ``land_use__suitability`` field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.landuse import (Adaptation, CAParams, LandUseModel, allocate_step,
                            build_constraints, geometric_patch_sizes)
from engine.process import Clock, FieldUse, Process, StepReport
from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Territory


@dataclass(frozen=True)
class LandUseParams:
    """Parameters of the land-use process: the CA's (see :class:`engine.landuse.CAParams`)
    and which territory fields bind it.

    ``hard_constraints`` are fields (1 = inside) where no cell may become built-up;
    ``protected_groups`` are land-use groups (e.g. farmland under a strict policy) whose cells
    may not change class anywhere;
    ``outside_boundary_weight`` multiplies the potential of becoming built-up outside the urban
    development boundary; ``patch_size`` is the mean size of new patches (geometric
    distribution) when no observed patch sizes are given.
    """

    neighbourhood_size: int = 5
    alpha: float = 0.5
    spontaneous: float = 0.02
    hard_constraints: tuple[str, ...] = ("control__ecological_red_line",
                                         "control__permanent_basic_farmland")
    outside_boundary_weight: float = 0.3
    inertia: float = 1.0
    roulette_rounds: int = 0
    patch_size: float = 1.0
    patch_compactness: float = 1.0
    protected_groups: tuple[str, ...] = ()  # land-use groups that may not convert at all

    def ca(self, n_classes: int) -> CAParams:
        return CAParams(neighbourhood_size=self.neighbourhood_size, alpha=self.alpha,
                        spontaneous=self.spontaneous, inertia=(self.inertia,) * n_classes,
                        roulette_rounds=self.roulette_rounds, patch_scale=1.0,
                        patch_compactness=self.patch_compactness)


class LandUseChange(Process):
    """Convert cells to meet ``land_use__demand`` each step, within the control lines."""

    FIELDS = (
        FieldUse("land_use__class", "inout"),
        FieldUse("land_use__suitability", "in", optional=True),
        FieldUse("land_use__demand", "in"),
        FieldUse("control__urban_development_boundary", "in", optional=True),
    )

    def __init__(self, territory: Territory, params: LandUseParams = LandUseParams(), *,
                 suitability: np.ndarray | None = None,
                 patch_sizes: tuple[np.ndarray, ...] = ()):
        super().__init__(territory)
        for name in params.hard_constraints:
            if name not in territory.fields:
                raise InputError(f"hard constraint {name!r} is not in the territory",
                                 source=territory.name, field=name,
                                 hint="add the control lines to the TIM or drop the constraint")
        self.params = params
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
        hard = [(territory.fields[name] > 0, [built]) for name in params.hard_constraints]
        allowed = np.ones((n, n), dtype=bool)
        allowed[:, built] = [c.developable for c in classes]
        for i, c in enumerate(classes):
            if c.group in params.protected_groups:
                allowed[i, :] = False
                allowed[i, i] = True
        soft = []
        boundary = territory.fields.get("control__urban_development_boundary")
        if boundary is not None:
            weights = np.ones(n)
            weights[built] = params.outside_boundary_weight
            soft.append((boundary == 0, weights))
        sizes = patch_sizes or (geometric_patch_sizes(params.patch_size),) * n
        self.model = LandUseModel(
            tuple(int(c) for c in classes.codes), np.ascontiguousarray(suitability, np.float32),
            params.ca(n), build_constraints(shape, n, hard=hard, soft=soft, allowed=allowed),
            patch_sizes=sizes)
        self._can_gain = self.model.suitability.reshape(-1, n).max(axis=0) > 0
        self.adaptation = Adaptation.start(1, n)

    def run_one_step(self, clock: Clock) -> StepReport:
        t = self.territory
        codes = t.get("land_use__class")
        demand = t.get("land_use__demand").astype(np.int64)
        for k in np.flatnonzero((demand > 0) & ~self._can_gain):
            cls = t.classes.classes[k]
            raise InputError(f"demand for {cls.name!r} but it has no suitability anywhere",
                             source=t.name, field="land_use__demand", value=int(demand[k]),
                             hint="give a per-class suitability (e.g. from twin calibrate)")
        nodata = field_spec("land_use__class").nodata
        index = self.model.index_of(codes, nodata=nodata, source=t.name)
        new, outcome, self.adaptation = allocate_step(
            index, self.model, demand[None, :], adaptation=self.adaptation, seed=clock.seed,
            step=clock.step)
        t.set_field("land_use__class", self.model.codes_of(new, nodata=nodata))
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

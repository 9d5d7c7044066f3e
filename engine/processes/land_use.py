"""Demand-driven land-use change: allocate each class's demand to the cells of highest
transition potential (constrained CA, White & Engelen 1993; demand-driven allocation as in
CLUE-S and FLUS).

The update is synchronous and double-buffered: potentials are computed from the land use at the
start of the step and the changes are written to a new map, so the order of cells or classes
within a step does not change which cells are candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kernels.allocation import top_cells
from engine.kernels.neighbourhood import neighbourhood_density
from engine.kernels.transition import transition_potential
from engine.process import Clock, FieldUse, Process, StepReport
from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Territory


@dataclass(frozen=True)
class LandUseParams:
    """Parameters of the land-use CA (see :mod:`engine.kernels.transition`)."""

    neighbourhood_size: int = 5
    alpha: float = 0.5
    spontaneous: float = 0.02
    hard_constraints: tuple[str, ...] = ("control__ecological_red_line",
                                         "control__permanent_basic_farmland")
    outside_boundary_weight: float = 0.3
    protected_groups: tuple[str, ...] = ()  # land-use groups that may not convert at all


class LandUseChange(Process):
    """Convert cells to meet ``land_use__demand`` each step, within the control lines."""

    FIELDS = (
        FieldUse("land_use__class", "inout"),
        FieldUse("land_use__suitability", "in"),
        FieldUse("land_use__demand", "in"),
        FieldUse("control__urban_development_boundary", "in", optional=True),
    )

    def __init__(self, territory: Territory, params: LandUseParams = LandUseParams()):
        super().__init__(territory)
        for name in params.hard_constraints:
            if name not in territory.fields:
                raise InputError(f"hard constraint {name!r} is not in the territory",
                                 source=territory.name, field=name,
                                 hint="add the control lines to the TIM or drop the constraint")
        self.params = params
        classes = territory.classes
        self._developable = np.zeros(256, dtype=bool)
        self._developable[[c.code for c in classes if c.developable
                           and c.group not in params.protected_groups]] = True
        self._protected = np.zeros(territory.grid.shape, dtype=bool)
        for name in params.hard_constraints:
            self._protected |= territory.fields[name] > 0
        boundary = territory.fields.get("control__urban_development_boundary")
        self._weight = (np.ones(territory.grid.shape, dtype=np.float32) if boundary is None
                        else np.where(boundary > 0, 1.0, params.outside_boundary_weight)
                        .astype(np.float32))

    def run_one_step(self, clock: Clock) -> StepReport:
        t = self.territory
        land_use = t.get("land_use__class")
        demand = t.get("land_use__demand")
        nodata = field_spec("land_use__class").nodata
        updated = land_use.copy()
        report = StepReport(self.name, clock.year)
        for k, cls in enumerate(t.classes):
            wanted = int(demand[k])
            if wanted == 0:
                continue
            if cls.group != "built":
                raise InputError(f"demand for {cls.name!r}: only built-up land has a "
                                 "suitability model so far", field="land_use__demand",
                                 value=wanted)
            candidate = (self._developable[land_use] & ~self._protected
                         & (updated == land_use))  # not already converted this step
            density = neighbourhood_density(land_use, cls.code, self.params.neighbourhood_size,
                                            valid=land_use != nodata)
            potential = transition_potential(
                t.get("land_use__suitability"), density, candidate, self._weight,
                spontaneous=self.params.spontaneous, alpha=self.params.alpha,
                seed=clock.seed, step=clock.step, stream=k)
            cells = top_cells(potential, wanted)
            from_codes, counts = np.unique(land_use.ravel()[cells], return_counts=True)
            updated.ravel()[cells] = cls.code
            report.values[f"converted_to_{cls.code}"] = int(cells.size)
            report.values[f"shortfall_{cls.code}"] = wanted - int(cells.size)
            report.values[f"from_codes_to_{cls.code}"] = dict(zip(from_codes.tolist(),
                                                                 counts.tolist()))
        t.set_field("land_use__class", updated)
        return report

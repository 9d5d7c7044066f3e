"""A storm-surge event on the territory, flooded with the connected bathtub."""

from __future__ import annotations

import numpy as np

from engine.kernels.bathtub import bathtub_depth
from engine.process import Clock, FieldUse, Process, StepReport
from tim.errors import InputError
from tim.model import Territory

ENGINE = "bathtub (4-connected, static)"


class StormSurge(Process):
    """Flood from the sea to ``water_level`` (m, territory datum) in ``year``; dry otherwise."""

    FIELDS = (
        FieldUse("terrain__elevation", "in"),
        FieldUse("land_use__class", "in"),
        FieldUse("surge__water_depth", "out"),
    )

    def __init__(self, territory: Territory, *, water_level: float, year: int):
        super().__init__(territory)
        self.sea = territory.classes.group_mask(territory.get("land_use__class"), "sea")
        if not self.sea.any():
            raise InputError("the territory has no sea cells (no class in group 'sea'); a "
                             "storm surge needs a coastline", source=territory.name,
                             field="land_use__class")
        self.water_level, self.year = float(water_level), int(year)

    def run_one_step(self, clock: Clock) -> StepReport | None:
        t = self.territory
        if clock.year != self.year:
            t.set_field("surge__water_depth", np.zeros(t.grid.shape, dtype=np.float32))
            return None
        depth = bathtub_depth(t.get("terrain__elevation"), self.sea, self.water_level)
        t.set_field("surge__water_depth", depth)
        land = ~self.sea
        return StepReport(self.name, clock.year, {
            "engine": ENGINE, "water_level_m": self.water_level,
            "flooded_land_cells": int(((depth > 0) & land).sum()),
            "max_depth_m": float(depth[land].max(initial=0.0)),
        })

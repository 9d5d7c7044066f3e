"""A storm-surge event on the territory, in one simulated year, by either flood engine.

The process maps territory fields to :func:`engine.flood.event.run_event`: the ground
(``terrain__elevation``), the sea and the friction (``land_use__class``, read in the surge
year, after any land-use change), buildings as obstacles (``building__height``) when asked,
and defences from the event description. It writes the per-cell results as ``surge__*``
fields and keeps the whole :class:`~engine.flood.event.FloodOutcome` (depth at the output
times, mass balance) in :attr:`StormSurge.outcome` for the recorder.

Engines: the connectivity bathtub (e.g. Poulter & Halpin 2008, Int. J. Geogr. Inf. Sci.
22:167-182), the local inertial shallow-water model (Bates et al. 2010, J. Hydrol.
387:33-45; de Almeida et al. 2012, Water Resour. Res. 48:W05528) and the Godunov
finite-volume model (Audusse et al. 2004, SIAM J. Sci. Comput. 25:2050-2065). Defences may
breach during the event (flow engines).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from engine.flood.breach import BreachSite
from engine.flood.domain import Defence, FloodDomain
from engine.flood.event import ENGINES, FloodOutcome, SurgeEvent, run_event
from engine.process import Clock, FieldUse, Process, StepReport
from tim.model import Territory

#: The engine of the default (constant level) event, kept for callers that ask by name.
ENGINE = ENGINES["bathtub"]

OUTPUTS = {"surge__water_depth": "max_depth", "surge__max_speed": "max_speed",
           "surge__arrival_time": "arrival", "surge__hazard_duration": "duration",
           "surge__flood_level": "flood_level"}


class StormSurge(Process):
    """Flood the territory from the sea with ``event`` in ``year``; dry in other years.

    ``StormSurge(t, water_level=3.5, year=2035)`` is the static bathtub at 3.5 m.
    """

    FIELDS = (
        FieldUse("terrain__elevation", "in"),
        FieldUse("land_use__class", "in"),
        FieldUse("building__height", "in", optional=True),
        *(FieldUse(name, "out") for name in OUTPUTS),
    )

    def __init__(self, territory: Territory, event: SurgeEvent | None = None, *,
                 year: int, water_level: float | None = None,
                 defences: Sequence[Defence] = (), obstacles: bool = False,
                 manning: Mapping[str | int, float] | None = None, source: str | None = None,
                 breaches: Sequence[BreachSite] = ()):
        super().__init__(territory)
        if (event is None) == (water_level is None):
            raise ValueError("give either an event or a water_level")
        self.event = event if event is not None else SurgeEvent(level=float(water_level))
        self.year = int(year)
        self.defences, self.obstacles = tuple(defences), bool(obstacles)
        self.manning, self.source = dict(manning or {}), source
        # Check now (sea, nodata in the sea, defences inside the grid, Manning keys), not
        # years into the run.
        self._domain()
        self.breaches = tuple(site.on(territory.grid, self.defences, source=source,
                                      field=f"surge.breaches.{i}")
                              for i, site in enumerate(breaches))
        self.outcome: FloodOutcome | None = None

    @property
    def water_level(self) -> float:
        return self.event.peak

    def _domain(self) -> FloodDomain:
        return FloodDomain.from_territory(self.territory, defences=self.defences,
                                          obstacles=self.obstacles, manning=self.manning,
                                          source=self.source)

    def run_one_step(self, clock: Clock) -> StepReport | None:
        t = self.territory
        if clock.year != self.year:
            for name in OUTPUTS:
                t.set_field(name, np.zeros(t.grid.shape, dtype=np.float32))
            return None
        domain = self._domain()
        outcome = run_event(domain, self.event, self.breaches)
        for name, attribute in OUTPUTS.items():
            t.set_field(name, getattr(outcome, attribute))
        self.outcome = outcome
        land = ~domain.sea
        depth = outcome.max_depth
        return StepReport(self.name, clock.year, {
            **outcome.stats, "water_level_m": outcome.peak_level,
            "flooded_land_cells": int(((depth > 0) & land).sum()),
            "max_depth_m": float(np.nanmax(np.where(land, depth, 0.0), initial=0.0)),
            "defences": [d.name for d in self.defences],
            "buildings_as_obstacles": self.obstacles})

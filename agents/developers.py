"""Developers: firms that build where a pro forma says it pays, within zoning and control lines.

Each developer is a Mesa agent with a hurdle rate (the margin on cost it needs) and a yearly
capacity (m2 of floor area it can deliver). Every year the sites on offer - cells the land-use
model has just converted to built-up land (greenfield) and under-used built-up cells
(redevelopment) - are appraised once (:func:`agents.behaviour.pro_forma`); developers, in an
order drawn from the model's generator, take the most profitable remaining site that meets
their hurdle until their capacity or the market's demand for floor area is used up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np

from agents.behaviour import ProForma


class Developer(mesa.Agent):
    """A development firm: its hurdle rate and how much floor area it can build in a year."""

    def __init__(self, model: mesa.Model, hurdle: float, capacity_m2: float):
        super().__init__(model)
        self.hurdle = float(hurdle)
        self.capacity_m2 = float(capacity_m2)
        self.built_m2 = 0.0  # this year


@dataclass
class Sites:
    """Sites on offer this year (one entry per site) and their appraisal."""

    cell: np.ndarray            # flat grid index
    unit: np.ndarray            # planning-unit index
    redevelopment: np.ndarray   # bool: replaces existing floor area
    existing_m2: np.ndarray     # floor area already there
    appraisal: ProForma
    residential_share: np.ndarray  # share of new floor area that is dwellings (zone use)

    def __len__(self) -> int:
        return self.cell.size


@dataclass
class Projects:
    """What was built in one year (one entry per project)."""

    cell: list[int] = field(default_factory=list)
    unit: list[int] = field(default_factory=list)
    developer: list[int] = field(default_factory=list)
    floor_area: list[float] = field(default_factory=list)
    added_floor_area: list[float] = field(default_factory=list)
    residential_m2: list[float] = field(default_factory=list)
    storeys: list[int] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    redevelopment: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cell)


def allocate_sites(developers: list[Developer], sites: Sites, floor_demand_m2: float,
                   order: np.ndarray) -> Projects:
    """Developers take turns (in ``order``) taking the best remaining site, until the added
    residential floor area covers ``floor_demand_m2`` or nobody builds more.

    A developer drops out for the year when the best remaining site misses its hurdle (sites
    only get worse) or would exceed its capacity. Returns the projects.
    """
    projects = Projects()
    margin = sites.appraisal.margin
    added = sites.appraisal.floor_area - sites.existing_m2
    dwelling_m2 = added * sites.residential_share
    ranked = [int(i) for i in np.argsort(-margin, kind="stable") if added[i] > 0]
    for developer in developers:
        developer.built_m2 = 0.0
    supplied, cursor = 0.0, 0
    active = [developers[i] for i in order]
    while active and supplied < floor_demand_m2 and cursor < len(ranked):
        still = []
        for developer in active:
            if cursor == len(ranked) or supplied >= floor_demand_m2:
                break
            best = ranked[cursor]
            if margin[best] < developer.hurdle or \
                    developer.built_m2 + added[best] > developer.capacity_m2:
                continue
            cursor += 1
            developer.built_m2 += added[best]
            supplied += dwelling_m2[best]
            _record(projects, sites, best, developer.unique_id, margin[best], added[best],
                    dwelling_m2[best])
            still.append(developer)
        active = still
    return projects


def _record(projects: Projects, sites: Sites, i: int, developer: int, margin: float,
            added: float, dwellings_m2: float) -> None:
    projects.cell.append(int(sites.cell[i]))
    projects.unit.append(int(sites.unit[i]))
    projects.developer.append(developer)
    projects.floor_area.append(float(sites.appraisal.floor_area[i]))
    projects.added_floor_area.append(float(added))
    projects.residential_m2.append(float(dwellings_m2))
    projects.storeys.append(int(sites.appraisal.storeys[i]))
    projects.margin.append(float(margin))
    projects.redevelopment.append(bool(sites.redevelopment[i]))

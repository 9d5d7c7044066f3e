"""The city model (Mesa): households choose where to live, developers build where it pays.

One year, as the engine runs it (see :mod:`agents.coupling`):

1. :meth:`CityModel.households_step` - households arrive or leave along the population path
   (growth rate per year plus one-off migration), some move, and everyone without a dwelling
   chooses a planning unit (capacity-constrained logit, :mod:`agents.behaviour`); unit prices
   respond to the applications they received. Those still without a dwelling are the demand
   for new floor area.
2. the land-use CA converts land to built-up to host that floor area;
3. :meth:`CityModel.development_step` - developers appraise the converted and the under-used
   built-up cells and build, adding dwellings to the units for the next year.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np

from agents.behaviour import ChoiceCoefficients, assign_with_capacity, unit_utilities
from agents.developers import Developer, Projects, Sites, allocate_sites
from agents.households import EMIGRATE, Demography, Households


@dataclass(frozen=True)
class HouseholdParams:
    """Population path, demography, mobility and housing market of the households."""

    annual_growth: float = 0.01
    growth_by_year: dict[int, float] = field(default_factory=dict)
    migration_by_year: dict[int, int] = field(default_factory=dict)
    demography: Demography = Demography()
    mobility: float = 0.08
    vacancy: float = 0.05
    m2_per_dwelling: float = 90.0
    choice: ChoiceCoefficients = ChoiceCoefficients()
    initial_price_m2: float = 12_000.0
    price_elasticity: float = 0.1
    max_price_change: float = 0.1

    def growth(self, year: int) -> float:
        return self.growth_by_year.get(year, self.annual_growth)


@dataclass(frozen=True)
class DevelopmentParams:
    """Developers and the cost side of their pro forma (currency per m2)."""

    developers: int = 4
    hurdles: tuple[float, ...] = (0.10, 0.15, 0.20, 0.25)
    capacity_m2: float = 200_000.0
    coverage: float = 0.35
    storey_height: float = 3.0
    construction_cost_m2: float = 4_500.0
    high_rise_premium: float = 0.15
    land_cost_m2: float = 1_500.0
    default_far: float = 1.0
    default_max_height: float = 24.0
    redevelop_below: float = 0.4  # existing / allowed floor area under which a site is offered


@dataclass(frozen=True)
class UnitAttributes:
    """What households weigh, per planning unit (index order of the model)."""

    accessibility: np.ndarray
    amenities: np.ndarray
    flood_risk: np.ndarray


class CityModel(mesa.Model):
    """Households and developers of a territory divided into planning units."""

    def __init__(self, households_per_unit: np.ndarray, attributes: UnitAttributes,
                 households: HouseholdParams, development: DevelopmentParams, *, seed: int):
        super().__init__(rng=seed)
        self.seed_value = int(seed)
        self.params, self.development = households, development
        self.attributes = attributes
        self.n_units = households_per_unit.size
        homes = np.repeat(np.arange(self.n_units), households_per_unit)
        self.households = Households(self, homes, households.demography)
        self.capacity = np.ceil(households_per_unit * (1.0 + households.vacancy))
        hedonic = 0.4 * attributes.accessibility + 0.2 * attributes.amenities \
            - 0.3 * attributes.flood_risk
        self.price = households.initial_price_m2 * np.exp(hedonic - hedonic.mean())
        hurdles = [development.hurdles[i % len(development.hurdles)]
                   for i in range(development.developers)]
        self.developers = Developer.create_agents(self, development.developers, hurdles,
                                                  development.capacity_m2)

    # -- households ---------------------------------------------------------------------------
    def households_step(self, year: int) -> dict[str, float]:
        """Arrivals and departures, moves, location choice and prices for ``year``."""
        h, p = self.households, self.params
        before = len(h)
        rate = p.growth(year)
        arrivals = int(self.rng.poisson(rate * before)) if rate > 0 else 0
        departures = h.leave(-rate, year) if rate < 0 else 0
        migration = p.migration_by_year.get(year, 0)
        if migration > 0:
            arrivals += migration
        elif migration < 0 and len(h):
            departures += h.leave(min(1.0, -migration / len(h)), year, stream=EMIGRATE)
        housed = h.unit[h.unit >= 0]
        h.arrive(arrivals, housed if housed.size else np.arange(self.n_units))
        movers = int(h.start_moving(p.mobility, year).sum())

        vacancies = np.maximum(0, np.floor(self.capacity) - h.occupied(self.n_units))
        choosers = np.flatnonzero(h.unit < 0)
        utilities = unit_utilities(self.attributes.accessibility, self.attributes.amenities,
                                   self.attributes.flood_risk, self.price, p.choice)
        assigned, applications = assign_with_capacity(
            h.income[choosers].astype(np.int64), h.id[choosers], utilities,
            vacancies.astype(np.int64), seed=self.seed_value, step=year)
        h.unit[choosers] = assigned
        housed = assigned >= 0
        h.waiting[choosers[housed]] = assigned[housed]
        self._update_prices(applications, vacancies)
        return {"households": len(h), "persons": float(h.size.sum()),
                "arrivals": arrivals, "departures": departures, "movers": movers,
                "choosers": int(choosers.size), "housed_choosers": int(housed.sum()),
                "unhoused_households": h.unhoused,
                "floor_demand_m2": self.floor_demand_m2,
                "mean_price_m2": float(np.average(self.price,
                                                  weights=np.maximum(self.capacity, 1)))}

    def _update_prices(self, applications: np.ndarray, vacancies: np.ndarray) -> None:
        """Prices move with excess demand: applications per vacant dwelling above or below 1,
        at most +-``max_price_change`` a year (a partial-adjustment rule)."""
        pressure = applications / np.maximum(vacancies, 1.0) - 1.0
        change = np.clip(self.params.price_elasticity * pressure, -self.params.max_price_change,
                         self.params.max_price_change)
        self.price = self.price * (1.0 + change)

    @property
    def floor_demand_m2(self) -> float:
        """Residential floor area needed to house everyone still looking, plus vacancy."""
        return self.households.unhoused * self.params.m2_per_dwelling * (
            1.0 + self.params.vacancy)

    # -- developers ---------------------------------------------------------------------------
    def development_step(self, sites: Sites) -> Projects:
        """Developers build on ``sites``; new dwellings are ready for next year's choices."""
        order = self.rng.permutation(len(self.developers))
        projects = allocate_sites(list(self.developers), sites, self.floor_demand_m2, order)
        dwellings = np.bincount(np.asarray(projects.unit, dtype=np.int64),
                                weights=np.asarray(projects.residential_m2, dtype=np.float64),
                                minlength=self.n_units) / self.params.m2_per_dwelling
        self.capacity = self.capacity + dwellings
        return projects

"""One simulated year of the household model: attribute arrays vs one Mesa agent per household.

Goal (issue 5): 1,000,000 households for one year in <= 10 s on 2 cores. The baseline is the
textbook Mesa design - one ``mesa.Agent`` per household, each deciding in a Python loop whether
to move and drawing a unit from the logit probabilities, units filled first come first served -
run on 20,000 households; compare time per household.
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.behaviour import ChoiceCoefficients, choice_probabilities, unit_utilities
from agents.model import CityModel, DevelopmentParams, HouseholdParams, UnitAttributes

UNITS = 400


def attributes(rng: np.random.Generator) -> UnitAttributes:
    return UnitAttributes(rng.random(UNITS), rng.random(UNITS), rng.random(UNITS) * 0.3)


def array_model(households: int) -> CityModel:
    rng = np.random.default_rng(1)
    per_unit = rng.multinomial(households, np.full(UNITS, 1.0 / UNITS))
    return CityModel(per_unit, attributes(rng), HouseholdParams(annual_growth=0.02),
                     DevelopmentParams(), seed=7)


class ObjectHousehold(mesa.Agent):
    def __init__(self, model, unit, income):
        super().__init__(model)
        self.unit, self.income = unit, income

    def step(self):
        model = self.model
        if self.unit >= 0 and model.random.random() >= 0.08:
            return
        if self.unit >= 0:
            model.occupied[self.unit] -= 1
        p = model.probabilities[self.income]
        for _ in range(6):  # a few tries, as the array model's lottery rounds
            unit = int(model.rng.choice(UNITS, p=p))
            if model.occupied[unit] < model.capacity[unit]:
                model.occupied[unit] += 1
                self.unit = unit
                return
        self.unit = -1


class ObjectModel(mesa.Model):
    def __init__(self, households: int):
        super().__init__(rng=7)
        rng = np.random.default_rng(1)
        a = attributes(rng)
        units = rng.integers(0, UNITS, households)
        self.occupied = np.bincount(units, minlength=UNITS)
        self.capacity = np.ceil(self.occupied * 1.05)
        utilities = unit_utilities(a.accessibility, a.amenities, a.flood_risk,
                                   np.full(UNITS, 12_000.0), ChoiceCoefficients())
        self.probabilities = choice_probabilities(utilities, self.capacity - self.occupied + 1)
        ObjectHousehold.create_agents(self, households, list(units),
                                      list(rng.integers(0, 3, households)))

    def step(self):
        self.agents.shuffle_do("step")


@pytest.mark.parametrize("households", [100_000, 1_000_000])
def test_households_year_arrays(benchmark, households):
    model = array_model(households)
    model.households_step(2025)  # compile the kernels before timing
    benchmark.group = "household year (per household)"
    benchmark.extra_info["households"] = households
    years = iter(range(2026, 2100))
    benchmark.pedantic(lambda: model.households_step(next(years)), rounds=3, iterations=1)


def test_households_year_mesa_objects(benchmark):
    households = 20_000
    model = ObjectModel(households)
    benchmark.group = "household year (per household)"
    benchmark.extra_info["households"] = households
    benchmark.pedantic(model.step, rounds=3, iterations=1)

"""Households: growth, moves between planning units, demand for land, coupling to the grid."""

from __future__ import annotations

import numpy as np
import pytest

from agents.coupling import HouseholdDemand
from agents.model import HouseholdModel, HouseholdParams
from engine.process import Clock
from tim.classes import DEFAULT_CLASSES
from tim.model import Grid, Territory


def test_growth_matches_the_rate_in_expectation():
    units = np.arange(1, 201)
    model = HouseholdModel(units, np.full(200, 1000), HouseholdParams(annual_growth=0.02,
                                                                      vacancy=1.0), seed=3)
    model.step()
    total = sum(model.households.values())
    # 200 Poisson draws of mean 20: the sum has mean 4000 and sd sqrt(4000) ~ 63.
    assert abs(total - 200_000 - 4000) < 4 * np.sqrt(4000)


def test_decline_never_empties_below_zero():
    model = HouseholdModel(np.array([1]), np.array([10]), HouseholdParams(annual_growth=-0.2),
                           seed=1)
    for _ in range(50):
        model.step()
    assert model.households[1] >= 0


def test_overflow_moves_to_spare_dwellings_then_becomes_demand():
    params = HouseholdParams(annual_growth=0.0, vacancy=0.0, households_per_new_cell=4.0)
    model = HouseholdModel(np.array([1, 2, 3]), np.array([100, 100, 100]), params, seed=0)
    units = list(model.units)
    units[0].households = 130           # 30 over capacity (100)
    units[1].capacity = 110             # 10 spare
    units[2].capacity = 105             # 5 spare
    model.step()                         # no growth: only moves
    # 15 can move (10 + 5 spare), 15 stay unhoused -> ceil(15 / 4) = 4 cells of demand.
    assert model.households == {1: 115, 2: 110, 3: 105}
    assert model.unhoused == 15 and model.demand_cells() == 4
    model.add_capacity({1: 4})           # the CA built the 4 cells in unit 1: 16 dwellings
    model.step()
    assert model.unhoused == 0 and model.demand_cells() == 0


def test_same_seed_same_households():
    def run(seed):
        m = HouseholdModel(np.arange(1, 11), np.full(10, 500), HouseholdParams(0.05), seed=seed)
        for _ in range(5):
            m.step()
        return m.households
    assert run(4) == run(4) and run(4) != run(5)


@pytest.fixture
def small_territory():
    lu = np.full((4, 6), 1, dtype=np.uint8)
    lu[:, :2] = 7                         # two built columns, one per unit
    units = np.ones((4, 6), dtype=np.int32)
    units[:, 3:] = 2
    units[0, 0] = 2                       # a unit-2 cell inside the built area
    pop = np.where(lu == 7, 28.0, 0.0).astype(np.float32)  # 10 households of 2.8 per cell
    t = Territory(Grid("EPSG:32650", (50.0, 0, 0, 0, -50.0, 200.0), (4, 6)), DEFAULT_CLASSES)
    t.set_field("land_use__class", lu)
    t.set_field("planning__unit_id", units)
    t.set_field("population__count", pop)
    return t


def test_coupling_writes_demand_and_conserves_people(small_territory):
    params = HouseholdParams(annual_growth=0.3, persons_per_household=2.8, vacancy=0.0,
                             households_per_new_cell=10.0)
    process = HouseholdDemand(small_territory, params, seed=2)
    report = process.run_one_step(Clock(0, 2026, 2))
    households = report.values["households"]
    assert households > 80  # 80 at the start, 30 % growth
    demand = small_territory.get("land_use__demand")
    built = DEFAULT_CLASSES.index_of(7)
    assert demand[built] == int(np.ceil((households - 80) / 10.0))
    assert demand.sum() == demand[built]
    assert small_territory.get("population__count").sum() == pytest.approx(households * 2.8,
                                                                           rel=1e-5)
    # Residents live on built-up cells only.
    assert not small_territory.get("population__count")[small_territory.get(
        "land_use__class") != 7].any()

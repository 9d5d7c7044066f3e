"""Agents: location choice, capacity, pro forma, developers, households, and the coupling."""

from __future__ import annotations

import numpy as np
import pytest

from agents.behaviour import (ChoiceCoefficients, assign_with_capacity, choice_probabilities,
                              pro_forma, unit_utilities)
from agents.developers import Sites, allocate_sites
from agents.households import Demography
from agents.model import CityModel, DevelopmentParams, HouseholdParams, UnitAttributes


# -- location choice --------------------------------------------------------------------------
def test_logit_probabilities_with_the_vacancy_size_term():
    # Utilities 0 and ln 3, vacancies 2 and 1: weights 1 x 2 and 3 x 1 -> 2/5 and 3/5.
    p = choice_probabilities(np.array([[0.0, np.log(3.0)]]), np.array([2, 1]))
    np.testing.assert_allclose(p, [[0.4, 0.6]])
    assert choice_probabilities(np.array([[1.0, 2.0]]), np.array([0, 0])).sum() == 0


def test_utilities_follow_the_coefficients():
    c = ChoiceCoefficients(accessibility=2.0, amenities=0.5, flood_risk=-3.0, price=(-1.0, 0.0))
    u = unit_utilities(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 0.5]),
                       np.array([np.e, 1.0]), c)
    # Group 0: 2 - 1 (ln e) = 1 and 0.5 - 1.5 = -1; group 1 ignores price.
    np.testing.assert_allclose(u, [[1.0, -1.0], [2.0, -1.0]])


def test_capacity_is_never_exceeded_and_the_rest_spills_over():
    n = 5000
    utilities = np.array([[5.0, 0.0, 0.0]])  # unit 0 is far better
    assigned, applications = assign_with_capacity(np.zeros(n, np.int64), np.arange(n),
                                                  utilities, np.array([1000, 2000, 1500]),
                                                  seed=1, step=2026)
    counts = np.bincount(assigned[assigned >= 0], minlength=3)
    assert counts.tolist() == [1000, 2000, 1500]  # 4500 dwellings for 5000: all filled
    assert (assigned == -1).sum() == 500
    # First-round applications: exp(5) x 1000 against 1 x 3500 -> about 97.7 % choose unit 0.
    share = np.exp(5) * 1000 / (np.exp(5) * 1000 + 3500)
    assert abs(applications[0] / n - share) < 4 * np.sqrt(share * (1 - share) / n)


def test_choices_do_not_depend_on_the_order_of_choosers():
    rng = np.random.default_rng(0)
    ids = np.arange(3000)
    groups = rng.integers(0, 2, ids.size)
    utilities = rng.normal(size=(2, 6))
    vacancies = np.array([300, 500, 100, 900, 400, 200])
    a, _ = assign_with_capacity(groups, ids, utilities, vacancies, seed=9, step=1)
    order = rng.permutation(ids.size)
    b, _ = assign_with_capacity(groups[order], ids[order], utilities, vacancies, seed=9, step=1)
    np.testing.assert_array_equal(a[order], b)


def test_equal_units_share_choosers_in_proportion_to_vacancies():
    n = 20_000
    assigned, _ = assign_with_capacity(np.zeros(n, np.int64), np.arange(n), np.zeros((1, 2)),
                                       np.array([30_000, 10_000]), seed=3, step=1)
    share = (assigned == 0).mean()
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / n)


# -- pro forma and developers -------------------------------------------------------------------
def test_pro_forma_takes_the_binding_cap():
    common = dict(coverage=0.5, storey_height=3.0, construction_cost_m2=1000.0,
                  high_rise_premium=0.2)
    f = pro_forma(1000.0, np.array([4.0, 4.0]), np.array([90.0, 15.0]), np.array([3000.0] * 2),
                  np.array([0.0, 0.0]), **common)
    # Site 1: FAR gives 4000 m2 (8 storeys of 500 m2, under 30 allowed); site 2: 15 m -> 5
    # storeys x 500 m2 = 2500 m2 binds.
    assert f.floor_area.tolist() == [4000.0, 2500.0] and f.storeys.tolist() == [8, 5]
    # Site 1 is 2 storeys above 6: cost x (1 + 0.2 x 2 / 10) = 1.04; margin 3000/1040 - 1.
    np.testing.assert_allclose(f.margin, [3000 / 1040 - 1, 2.0])


def test_developers_take_the_best_sites_their_hurdle_allows():
    model = CityModel(np.array([10]), UnitAttributes(np.zeros(1), np.zeros(1), np.zeros(1)),
                      HouseholdParams(), DevelopmentParams(developers=2), seed=0)
    cautious, bold = list(model.developers)
    cautious.hurdle, bold.hurdle = 0.25, 0.05
    appraisal = pro_forma(100.0, np.ones(4), np.full(4, 30.0), np.array([1.3, 1.2, 1.1, 2.0]),
                          np.zeros(4), coverage=0.5, storey_height=3.0,
                          construction_cost_m2=1.0, high_rise_premium=0.0)
    sites = Sites(cell=np.arange(4), unit=np.zeros(4, np.int64), redevelopment=np.zeros(4, bool),
                  existing_m2=np.array([0.0, 0.0, 0.0, 100.0]), appraisal=appraisal,
                  residential_share=np.ones(4))
    # Margins 0.3, 0.2, 0.1 (site 3 adds nothing: already built to its cap). The cautious firm
    # goes first and takes 0.3; at 0.2 it drops out (below 0.25); the bold one takes 0.2, 0.1.
    projects = allocate_sites([cautious, bold], sites, floor_demand_m2=1e9, order=np.array([0, 1]))
    assert projects.cell == [0, 1, 2]
    assert projects.developer == [cautious.unique_id, bold.unique_id, bold.unique_id]
    # Demand for 150 m2 is covered by the first two projects (100 m2 each).
    assert allocate_sites([cautious, bold], sites, 150.0, np.array([0, 1])).cell == [0, 1]


# -- households -----------------------------------------------------------------------------
def _model(per_unit, **params) -> CityModel:
    n = len(per_unit)
    return CityModel(np.array(per_unit), UnitAttributes(np.zeros(n), np.zeros(n), np.zeros(n)),
                     HouseholdParams(**params), DevelopmentParams(), seed=5)


def test_migration_and_growth_follow_the_path():
    model = _model([1000, 1000], annual_growth=0.0, migration_by_year={2027: 300}, mobility=0.0)
    assert model.households_step(2026)["arrivals"] == 0
    step = model.households_step(2027)
    assert step["arrivals"] == 300 and step["households"] == 2300
    # 2000 households with 5 % vacancy hold 2100 dwellings: 200 of the 300 find none.
    assert step["unhoused_households"] == 200
    assert step["floor_demand_m2"] == pytest.approx(200 * 90 * 1.05)


def test_decline_removes_households_at_the_rate():
    model = _model([5000, 5000], annual_growth=-0.1)
    left = model.households_step(2026)["departures"]
    assert abs(left - 1000) < 4 * np.sqrt(10_000 * 0.1 * 0.9)


def test_moves_keep_everyone_housed_when_dwellings_suffice():
    model = _model([800, 200], annual_growth=0.0, mobility=0.3)
    step = model.households_step(2026)
    assert step["movers"] > 0 and step["unhoused_households"] == 0
    occupied = model.households.occupied(2)
    assert (occupied <= np.floor(model.capacity)).all() and occupied.sum() == 1000


def test_persons_follow_household_sizes():
    model = _model([20_000], demography=Demography(size_shares=(0.5, 0.0, 0.5)))
    sizes = model.households.size
    assert set(np.unique(sizes)) == {1, 3} and abs(sizes.mean() - 2.0) < 0.05
    assert model.households.persons_by_unit(1)[0] == sizes.sum()

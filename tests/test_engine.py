"""Processes and the simulation loop on small, hand-made territories."""

from __future__ import annotations

import numpy as np
import pytest

from engine.process import Clock, FieldUse, Process
from engine.landuse import CAParams
from engine.landuse_config import LandUseConfig, LandUsePolicy
from engine.processes import LandUseChange, StormSurge
from engine.simulation import Simulation
from engine.suitability import logistic_suitability, slope_degrees
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.fields import UnknownFieldError
from tim.model import Grid, Territory

CROP, FOREST, BUILT, SEA = 1, 3, 7, 18


def territory(land_use: np.ndarray, **fields: np.ndarray) -> Territory:
    rows, cols = land_use.shape
    t = Territory(Grid("EPSG:32650", (10.0, 0, 0, 0, -10.0, rows * 10.0), (rows, cols)),
                  DEFAULT_CLASSES)
    t.set_field("land_use__class", land_use.astype(np.uint8))
    for name, values in fields.items():
        t.set_field(name, values)
    return t


def built_demand(t: Territory, cells: int) -> np.ndarray:
    demand = np.zeros(len(t.classes), dtype=np.int64)
    demand[t.classes.index_of(BUILT)] = cells
    return demand


def test_process_declares_and_checks_fields():
    class NeedsElevation(Process):
        FIELDS = (FieldUse("terrain__elevation", "in"),)

    class Misspelt(Process):
        FIELDS = (FieldUse("terrain__elevaton", "in"),)

    t = territory(np.full((3, 3), CROP))
    with pytest.raises(InputError, match="terrain__elevation"):
        NeedsElevation(t)
    with pytest.raises(UnknownFieldError, match="did you mean terrain__elevation"):
        Misspelt(t)


def _town(red_line_cols: int = 10) -> Territory:
    rng = np.random.default_rng(1)
    lu = np.where(rng.random((40, 40)) < 0.5, CROP, FOREST)
    lu[18:22, 18:22] = BUILT
    red_line = np.zeros(lu.shape, np.uint8)
    red_line[:, :red_line_cols] = 1
    return territory(lu, land_use__suitability=np.ones(lu.shape, np.float32),
                     control__ecological_red_line=red_line,
                     control__permanent_basic_farmland=np.zeros(lu.shape, np.uint8))


def test_land_use_change_meets_demand_within_control_lines():
    t = _town(red_line_cols=30)
    before = t.get("land_use__class").copy()
    t.set_field("land_use__demand", built_demand(t, 300))
    report = LandUseChange(t, LandUseConfig(CAParams(neighbourhood_size=3))).run_one_step(
        Clock(step=0, year=2026, seed=7))
    new = (t.get("land_use__class") == BUILT) & (before != BUILT)
    assert new.sum() == 300 and report.values["shortfall_7"] == 0
    assert not new[:, :30].any()  # nothing inside the red line
    assert sum(report.values["from_codes_to_7"].values()) == 300


def test_without_noise_growth_takes_the_ring_around_the_town():
    # With alpha = 0 the stochastic factor is constant; equal suitability everywhere, so the 20
    # cells of the Moore ring around the 4 x 4 town (density > 0) beat every other cell.
    t = _town()
    t.set_field("land_use__demand", built_demand(t, 20))
    LandUseChange(t, LandUseConfig(CAParams(neighbourhood_size=3, alpha=0.0))).run_one_step(
        Clock(0, 2026, 3))
    ring = np.zeros((40, 40), bool)
    ring[17:23, 17:23] = True
    ring[18:22, 18:22] = False
    assert ((t.get("land_use__class") == BUILT) == (ring | (_town().get(
        "land_use__class") == BUILT))).all()


def test_land_use_change_reports_shortfall_instead_of_breaking_constraints():
    lu = np.full((5, 5), CROP)
    lu[2, 2] = BUILT
    farmland = np.ones(lu.shape, np.uint8)
    farmland[0, :] = 0  # only 5 cells may be developed
    t = territory(lu, land_use__suitability=np.ones(lu.shape, np.float32),
                  control__ecological_red_line=np.zeros(lu.shape, np.uint8),
                  control__permanent_basic_farmland=farmland)
    t.set_field("land_use__demand", built_demand(t, 8))
    report = LandUseChange(t).run_one_step(Clock(0, 2026, 1))
    assert report.values["converted_to_7"] == 5 and report.values["shortfall_7"] == 3
    assert (t.get("land_use__class")[1:] == lu[1:]).all()


def test_land_use_change_needs_its_constraint_layers():
    t = territory(np.full((3, 3), CROP), land_use__suitability=np.ones((3, 3), np.float32))
    t.set_field("land_use__demand", built_demand(t, 1))
    with pytest.raises(InputError, match="control__ecological_red_line"):
        LandUseChange(t)


def test_storm_surge_floods_only_in_its_year_and_needs_a_sea():
    lu = np.array([[SEA, CROP, CROP, CROP]])
    z = np.array([[-2.0, 1.0, 4.0, 0.5]], dtype=np.float32)
    t = territory(lu, terrain__elevation=z)
    surge = StormSurge(t, water_level=2.0, year=2030)
    assert surge.run_one_step(Clock(0, 2029, 0)) is None
    assert not t.get("surge__water_depth").any()
    report = surge.run_one_step(Clock(1, 2030, 0))
    np.testing.assert_allclose(t.get("surge__water_depth"), [[4.0, 1.0, 0.0, 0.0]])
    assert report.values["flooded_land_cells"] == 1
    with pytest.raises(InputError, match="no sea"):
        StormSurge(territory(np.full((2, 2), CROP), terrain__elevation=np.zeros((2, 2))),
                   water_level=1.0, year=2030)


def test_simulation_records_every_year_in_order():
    t = territory(np.full((4, 4), CROP))
    seen = []
    Simulation(t, [], start_year=2020, years=3, seed=0,
               recorder=lambda year, state: seen.append(year)).run()
    assert seen == [2020, 2021, 2022, 2023]


def test_suitability_drivers():
    # A plane rising 1 m per 10 m cell has slope atan(0.1) everywhere.
    z = np.tile(np.arange(5.0), (4, 1))
    np.testing.assert_allclose(slope_degrees(z, (10.0, 10.0)), np.degrees(np.arctan(0.1)),
                               rtol=1e-6)
    s = logistic_suitability({"slope": np.array([[0.0, np.nan]])}, {"slope": 1.0}, 0.0)
    assert s.tolist() == [[0.5, 0.0]]


def test_land_use_step_is_the_model_step_on_the_territory_fields():
    """The process maps fields to the model (control lines forbid built-up, only developable
    classes may become built-up, the boundary weights it) and takes the model's step, which
    tests/landuse_reference.py computes cell by cell."""
    import landuse_reference as ref

    rng = np.random.default_rng(8)
    lu = rng.choice([CROP, FOREST, BUILT, 17], size=(30, 25), p=[0.5, 0.3, 0.15, 0.05])
    lu[0, :5] = 255  # nodata along an edge
    red = (rng.random(lu.shape) < 0.1).astype(np.uint8)
    farm = (rng.random(lu.shape) < 0.1).astype(np.uint8)
    boundary = np.zeros(lu.shape, np.uint8)
    boundary[5:20, 5:20] = 1
    t = territory(lu, land_use__suitability=rng.random(lu.shape).astype(np.float32),
                  control__ecological_red_line=red, control__permanent_basic_farmland=farm,
                  control__urban_development_boundary=boundary)
    t.set_field("land_use__demand", built_demand(t, 60))
    params = LandUseConfig(CAParams(neighbourhood_size=5, alpha=0.8, spontaneous=0.05),
                           LandUsePolicy(outside_boundary_weight=0.25), patch_size=3.0)
    clock = Clock(step=3, year=2029, seed=21)
    process = LandUseChange(t, params)
    m, k = process.model, t.classes.index_of(BUILT)
    assert (((m.constraints.forbid >> k) & 1) == ((red | farm) > 0)).all()
    assert m.constraints.conversion[t.classes.index_of(17), k] == 0  # water is not developable
    assert m.constraints.policy_weight[m.constraints.policy[0, 0], k] == 0.25  # outside
    index = m.index_of(lu)
    expected, _, _ = ref.step(index, m, t.get("land_use__demand")[None, :], seed=21, step_no=3)
    report = process.run_one_step(clock)
    np.testing.assert_array_equal(t.get("land_use__class"), m.codes_of(expected))
    assert report.values["converted_to_7"] == 60 and report.values["shortfall_7"] == 0


def test_a_missing_field_is_a_clear_input_error():
    from tim.errors import MissingFieldError

    t = territory(np.full((2, 2), CROP))
    with pytest.raises(MissingFieldError, match=r"no field 'terrain__elevation' \(it has: "
                                                r"land_use__class\)") as info:
        t.get("terrain__elevation")
    assert isinstance(info.value, KeyError) and isinstance(info.value, InputError)

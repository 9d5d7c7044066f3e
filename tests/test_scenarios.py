"""Scenarios: strict files, runs on the sample territory, indicators, run directories, compare."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from scenarios.compare import compare_runs
from scenarios.indicators import IndicatorDef, load_registry
from scenarios.rundir import RunDirectory, write_run
from scenarios.runner import run_scenario
from scenarios.schema import Scenario, builtin_scenarios, load_scenario
from tim.errors import InputError, StoreError


# -- files ----------------------------------------------------------------------------------
def test_builtin_scenarios_and_inheritance():
    assert builtin_scenarios() == ["baseline", "high-growth", "storm-surge"]
    base, high = load_scenario("baseline"), load_scenario("high-growth")
    assert high.population.annual_growth == 0.04
    # Everything not overridden is inherited, sub-mapping by sub-mapping.
    assert high.land_use == base.land_use
    assert high.population.model_copy(update={"annual_growth": 0.01}) == base.population
    assert load_scenario("storm-surge").surge_year == base.end_year


def test_scenario_round_trips_through_dict():
    s = load_scenario("storm-surge")
    assert Scenario.model_validate(s.to_dict()) == s


@pytest.mark.parametrize("text, pattern", [
    ("name: x\ntitle: t\npopulation: {anual_growth: 0.02}",
     r"bad\.yaml: population\.anual_growth: unknown key \(allowed here: annual_growth, "),
    ("name: x\ntitle: t\npopulation: {annual_growth: 0.5}",
     r"bad\.yaml: population\.annual_growth: .*less than or equal to 0\.3 \(got 0\.5\)"),
    ("name: x\ntitle: t\nland_use: {neighbourhood_size: 4}",
     r"bad\.yaml: land_use\.neighbourhood_size: .*must be odd \(got 4\)"),
    ("name: x\ntitle: t\nland_use: {protect: [green_belt]}",
     r"bad\.yaml: land_use\.protect\.0: .*'ecological_red_line'.* \(got 'green_belt'\)"),
    ("name: x\ntitle: t\nyears: 5\nsurge: {water_level: 2, year: 2040}",
     r"bad\.yaml: surge\.year: must be within the simulated years 2026\.\.2030 \(got 2040\)"),
    ("title: t", r"bad\.yaml: name: required key is missing"),
    ("extends: nowhere\nname: x\ntitle: t", r"bad\.yaml: extends: no scenario file .*nowhere"),
    ("name: x\ntitle: [unclosed", r"bad\.yaml: not valid YAML"),
])
def test_bad_scenarios_name_file_key_and_value(tmp_path, text, pattern):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=pattern):
        load_scenario(path)


def test_scenario_extending_itself_is_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\ntitle: A\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\ntitle: B\n")
    with pytest.raises(InputError, match=r"extends itself \(cycle: a\.yaml -> b\.yaml -> "
                                         r"a\.yaml\)"):
        load_scenario(tmp_path / "a.yaml")


# -- indicators -----------------------------------------------------------------------------
def test_indicator_status_ranges():
    d = IndicatorDef(id="x", name="x", unit="ha", definition="", green=(None, 10),
                     yellow=(None, 40))
    assert [d.status(v) for v in (0, 10, 10.5, 40, 41)] == ["green", "green", "yellow",
                                                             "yellow", "red"]
    assert IndicatorDef(id="y", name="y", unit="", definition="").status(5) == "info"


def test_indicator_thresholds_in_the_wrong_order_are_refused(tmp_path):
    registry = tmp_path / "indicators.yaml"
    registry.write_text("farmland_lost: {name: F, unit: ha, definition: d, green: [null, 50], "
                        "yellow: [null, 10]}\n")
    with pytest.raises(InputError, match=r"indicators\.yaml: farmland_lost: .*green range "
                                         r"\[None, 50\.0\] must lie inside yellow"):
        load_registry(registry)


# -- runs -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(sample_territory):
    return {name: run_scenario(sample_territory, load_scenario(name), seed=11)
            for name in ("baseline", "high-growth", "storm-surge")}


def final(result, indicator):
    df = result.indicators
    return float(df[(df["year"] == result.years[-1]) & (df["indicator"] == indicator)]
                 ["value"].iloc[0])


def test_run_meets_demand_and_respects_hard_control_lines(runs, sample_territory):
    result = runs["high-growth"]
    built = sample_territory.classes.built.code
    start, end = result.land_use[result.years[0]], result.land_use[result.years[-1]]
    gained = int(((end == built) & (start != built)).sum())
    converted = sum(r.values.get(f"converted_to_{built}", 0) for r in result.reports)
    demanded = sum(r.values.get("demand_built_cells", 0) for r in result.reports)
    assert gained == converted == demanded > 0
    hard = (sample_territory.get("control__ecological_red_line") > 0) | \
        (sample_territory.get("control__permanent_basic_farmland") > 0)
    assert not ((end == built) & (start != built) & hard).any()
    assert final(result, "control_line_encroachment") == 0
    # Only developable classes were converted; built-up land never reverts.
    assert ((start == built) <= (end == built)).all()
    developable = [c.code for c in sample_territory.classes if c.developable]
    assert np.isin(start[(end == built) & (start != built)], developable).all()


def test_growth_scenarios_rank_as_expected(runs):
    assert final(runs["high-growth"], "built_up_area") > final(runs["baseline"], "built_up_area")
    assert final(runs["high-growth"], "population") > final(runs["baseline"], "population")
    # The surge does not change growth: same seed, same processes before the surge.
    np.testing.assert_array_equal(runs["storm-surge"].land_use[2035],
                                  runs["baseline"].land_use[2035])


def test_population_field_matches_households(runs):
    result = runs["high-growth"]
    households = [r.values for r in result.reports if r.process == "HouseholdDemand"][-1]
    assert result.population[result.years[-1]].sum() == pytest.approx(
        households["population"], rel=1e-5)


def test_surge_depth_is_the_bathtub_of_the_final_state(runs, sample_territory):
    from engine.kernels.bathtub import bathtub_depth

    result = runs["storm-surge"]
    sea = sample_territory.classes.group_mask(sample_territory.get("land_use__class"), "sea")
    expected = bathtub_depth(sample_territory.get("terrain__elevation"), sea, 3.5)
    np.testing.assert_array_equal(result.water_depth, expected)
    flooded = result.buildings["flooded"].sum()
    assert flooded == final(result, "flooded_buildings") > 0
    assert final(runs["baseline"], "flooded_buildings") == 0


def test_same_seed_same_run_with_one_or_two_threads(sample_territory):
    scenario = load_scenario("high-growth").model_copy(update={"years": 4})
    default = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_scenario(sample_territory, scenario, seed=5)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run_scenario(sample_territory, scenario, seed=5)
    finally:
        numba.set_num_threads(default)
    for year in one.years:
        np.testing.assert_array_equal(one.land_use[year], two.land_use[year])
    pd.testing.assert_frame_equal(one.indicators, two.indicators)
    other = run_scenario(sample_territory, scenario, seed=6)
    assert not np.array_equal(other.land_use[one.years[-1]], one.land_use[one.years[-1]])


def test_run_directory_round_trip(runs, tmp_path):
    result = runs["storm-surge"]
    write_run(result, tmp_path / "run", tim="tim-dir", command=["twin", "run"])
    run = RunDirectory.open(tmp_path / "run")
    assert run.name == "storm-surge" and run.years == result.years
    assert run.manifest["seed"] == 11 and run.manifest["versions"]["numba"] == numba.__version__
    assert run.manifest["engines"]["surge"].startswith("bathtub")
    for year in result.years:
        np.testing.assert_array_equal(run.land_use(year), result.land_use[year])
    np.testing.assert_array_equal(run.water_depth(), result.water_depth)
    pd.testing.assert_frame_equal(run.indicators, result.indicators, check_dtype=False)
    assert run.surge_year == 2035 and run.buildings()["flooded"].sum() > 0
    with pytest.raises(StoreError, match="not a run directory"):
        RunDirectory.open(tmp_path)


def test_compare_writes_differences_maps_and_report(runs, tmp_path):
    dirs = [write_run(r, tmp_path / name) for name, r in runs.items()]
    comparison = compare_runs(dirs, tmp_path / "report")
    table = comparison.table.set_index(["scenario", "indicator"])
    diff = table.loc[("high-growth", "built_up_area")]
    assert diff["difference"] == pytest.approx(final(runs["high-growth"], "built_up_area")
                                               - final(runs["baseline"], "built_up_area"))
    gained = (runs["high-growth"].land_use[2035] == 7) & (runs["baseline"].land_use[2035] != 7)
    assert (comparison.difference_maps["high-growth"] == 1).sum() == gained.sum()
    red = comparison.warnings[comparison.warnings["status"] == "red"]
    assert set(red[red["scenario"] == "storm-surge"]["indicator"]) >= {"flooded_buildings"}
    html = (tmp_path / "report/report.html").read_text()
    for name in runs:
        assert name in html
    assert "plotly.min.js" in html and (tmp_path / "report/plotly.min.js").stat().st_size > 1e6
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing loads online
    assert sorted(p.name for p in (tmp_path / "report/maps").iterdir()) == [
        "high-growth_vs_baseline.tif", "storm-surge_vs_baseline.tif"]


def test_scenario_patch_and_roulette_keys_reach_the_engine(sample_territory):
    """The land_use keys the multi-class engine added: with roulette passes and patches of
    about 6 cells, growth comes in patches; demand is still met exactly."""
    from scipy import ndimage

    base = load_scenario("baseline")
    lu = base.land_use.model_copy(update={"roulette_rounds": 2, "patch_size": 6.0,
                                          "inertia": 2.0})
    patchy = base.model_copy(update={"land_use": lu, "years": 3,
                                     "population": base.population.model_copy(
                                         update={"annual_growth": 0.05})})
    plain = base.model_copy(update={"years": 3, "population": patchy.population})
    built = sample_territory.classes.built.code
    sizes = {}
    for name, scenario in (("plain", plain), ("patchy", patchy)):
        result = run_scenario(sample_territory, scenario, seed=4)
        start, end = result.land_use[2025], result.land_use[2028]
        new = (end == built) & (start != built)
        demanded = sum(r.values.get("demand_built_cells", 0) for r in result.reports)
        assert new.sum() == demanded > 50
        labels, count = ndimage.label(new, structure=np.ones((3, 3)))
        sizes[name] = new.sum() / count  # mean size of the new patches
    assert sizes["patchy"] > sizes["plain"]
    with pytest.raises(Exception, match="greater than or equal to 1"):
        base.land_use.model_validate({**base.land_use.model_dump(), "patch_size": 0.5})

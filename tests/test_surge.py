"""Surge scenarios end to end: the strict ``surge`` section, impacts (footprints, JRC damage,
planning units), runs on the sample territory, the run directory, compare and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

import scenarios
from engine.flood.domain import FloodDomain
from engine.flood.event import run_event
from engine.flood.godunov import GodunovOptions
from engine.flood.inertial import ENGINE as LOCAL_INERTIAL
from scenarios.compare import compare_runs
from scenarios.flood import peak_level, surge_breaches, surge_defences, surge_event
from scenarios.impacts import FLOODED_DEPTH, BuildingExposure, DamageModel
from scenarios.rundir import RunDirectory, write_run
from scenarios.runner import run_scenario
from scenarios.schema import Scenario, load_scenario
from tim.errors import InputError

def scenario(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_scenario(path)


def short(name: str, tmp_path, extra: str = ""):
    return scenario(tmp_path, f"extends: {name}\nname: {name}-short\ntitle: short\n"
                              f"surge:\n  shape: {{surge_duration_h: 4}}\n{extra}",
                    name=f"{name}-short.yaml")


# -- the scenario section ---------------------------------------------------------------------
WALL = "defences: [{name: w, crest_level: 0.5, line: [[0, 0], [1, 1]]}]"
BREACH = "name: b, defence: w, at: [0, 0], length_m: 10, crest_level: 1"
BREACH_AT_2H = ("  breaches:\n    - {name: Haiwan west breach, defence: Haiwan sea wall, "
                "at: [511362, 2705281], length_m: 200, crest_level: 1.0, time_h: 2}\n")


@pytest.mark.parametrize("surge, pattern", [
    ("{water_level: 3, return_period: 100, peak_levels: {100: 3}}",
     r"bad\.yaml: surge: give exactly one of water_level, return_period or hydrograph \(got "
     r"water_level, return_period\)"),
    ("{return_period: 100}", r"bad\.yaml: surge: return_period needs a peak_levels table"),
    ("{engine: inertial, water_level: 3, solver: {cfl: 1.5}}",
     r"bad\.yaml: surge\.solver\.cfl: a Courant number above 1 breaks the stability "
     r"condition .*\(got 1\.5\)"),
    ("{engine: inertial, water_level: 3, solver: {advection: maybe}}",
     r"bad\.yaml: surge\.solver\.advection: advection must be true \(the convective term, "
     r"Stelling & Duinmeijer 2003\) or false .*\(got 'maybe'\)"),
    ("{engine: inertial, water_level: 3, solver: {advection: 1}}",
     r"bad\.yaml: surge\.solver\.advection: advection must be true .*\(got 1\)"),
    ("{hydrograph: {time_h: [0, 2, 1], level_m: [0, 1, 2]}}",
     r"bad\.yaml: surge\.hydrograph: times must increase: time 2 is not after time 1"),
    ("{hydrograph: {time_h: [0, 1, 2, 3, 9, 10], level_m: [0, 1, 2, 2, 1, 0]}}",
     r"bad\.yaml: surge\.hydrograph: gap in the record between 3 h and 9 h"),
    ("{hydrograph: {time_h: [0, 1, 2], level_m: [0, 1]}}",
     r"bad\.yaml: surge\.hydrograph: time_h and level_m must have the same length"),
    ("{water_level: 3, rainfall: {intensity_mm_h: 20, duration_h: 2}}",
     r"bad\.yaml: surge: rainfall needs engine: inertial"),
    ("{return_period: 5000, peak_levels: {10: 2.5, 100: 3.5}}",
     r"bad\.yaml: surge\.return_period: return period outside the table"),
    ("{water_level: 3, tide: 1}", r"bad\.yaml: surge\.tide: unknown key \(allowed here: "
                                  r"breaches, buildings_as_obstacles, damage, defences, "),
    ("{engine: godunov, water_level: 3, solver: {cfl: 0.7}}",
     r"bad\.yaml: surge: solver\.cfl 0\.7 is above 0\.5, the positivity limit of the godunov"),
    ("{engine: godunov, water_level: 3, solver: {order: 3}}",
     r"bad\.yaml: surge\.solver\.order: order must be 1 \(first order\) or 2 .*\(got 3\)"),
    ("{engine: godunov, water_level: 3, solver: {order: '2'}}",
     r"bad\.yaml: surge\.solver\.order: order must be 1 .*\(got '2'\)"),
    ("{engine: inertial, water_level: 3, solver: {order: 2}}",
     r"bad\.yaml: surge: solver\.order 2 needs engine: godunov \(the inertial engine"),
    (f"{{engine: godunov, water_level: 3, {WALL}, breaches: [{{{BREACH}, time_h: 1}}]}}",
     r"bad\.yaml: surge: breach 'b': crest_level 1 m is not below the crest of 'w' \(0\.5 m\)"),
    (f"{{engine: godunov, water_level: 3, {WALL.replace('0.5', '5')}, "
     f"breaches: [{{{BREACH.replace('w,', 'dyke,')}, time_h: 1}}]}}",
     r"bad\.yaml: surge: breach 'b': no defence named 'dyke' \(defences: w\)"),
    (f"{{engine: godunov, water_level: 3, {WALL}, breaches: [{{{BREACH}}}]}}",
     r"bad\.yaml: surge\.breaches\.0: a breach fails at time_h or at trigger_level: give "
     r"exactly one"),
    (f"{{water_level: 3, {WALL.replace('0.5', '5')}, breaches: [{{{BREACH}, time_h: 1}}]}}",
     r"bad\.yaml: surge: breaches need engine: inertial or godunov"),
    (f"{{engine: godunov, water_level: 3, {WALL}, breaches: [{{{BREACH}, time_h: 1, "
     f"length_m: 0}}]}}", r"bad\.yaml: surge\.breaches\.0\.length_m: "),
])
def test_bad_surge_sections_name_file_key_and_value(tmp_path, surge, pattern):
    with pytest.raises(InputError, match=pattern):
        scenario(tmp_path, f"name: x\ntitle: t\nsurge: {surge}\n", name="bad.yaml")


def test_the_breach_sample_runs_godunov_and_fails_at_the_peak():
    s = load_scenario("surge-100y-breach")
    event = surge_event(s.surge)
    assert event.engine == "godunov" and isinstance(event.options, GodunovOptions)
    assert event.options.cfl == 0.45
    breach, = surge_breaches(s.surge)
    peak_at = float(event.hydrograph.times[np.argmax(event.hydrograph.values)])
    assert breach.time == peak_at == 12 * 3600 and breach.defence == "Haiwan sea wall"
    assert Scenario.model_validate(s.to_dict()) == s


def test_the_godunov_order_reaches_the_engine(tmp_path):
    s = scenario(tmp_path, "extends: surge-100y-breach\nname: x\ntitle: t\nsurge:\n"
                           "  solver: {order: 2}\n")
    event = surge_event(s.surge)
    assert event.options.order == 2 and "second order" in event.options.engine
    assert surge_event(load_scenario("surge-100y-breach").surge).options.order == 1
    assert Scenario.model_validate(s.to_dict()) == s


def test_builtin_surges_and_their_levels():
    s100, wall, slr = (load_scenario(n) for n in ("surge-100y", "surge-100y-seawall",
                                                  "surge-100y-slr"))
    assert peak_level(s100.surge) == 3.5 and peak_level(slr.surge) == 3.5 + 0.5
    event = surge_event(s100.surge)
    assert event.engine == "inertial" and event.peak == pytest.approx(3.5)
    assert event.options.advection  # the convective term unless switched off
    assert event.hydrograph.end == 24 * 3600
    assert wall.surge.defences[0].crest_level == 5.0 and wall.surge.peak_levels == \
        s100.surge.peak_levels  # inherited
    for s in (s100, wall, slr):
        assert Scenario.model_validate(s.to_dict()) == s  # peak_levels keys survive JSON
    static = surge_event(load_scenario("storm-surge").surge)
    assert static.engine == "bathtub" and static.level == 3.5 and static.hydrograph is None


def test_a_defence_outside_the_territory_fails_when_the_run_is_built(tmp_path,
                                                                    sample_territory):
    s = scenario(tmp_path, "extends: surge-100y\nname: x\ntitle: t\nsurge:\n  defences:\n"
                           "    - {name: far, crest_level: 5, line: [[0, 0], [10, 10]]}\n")
    with pytest.raises(InputError, match=r"surge\.defences\.0\.line: defence 'far' point 0 "
                                         r"lies outside the grid"):
        run_scenario(sample_territory, s)


# -- impacts -----------------------------------------------------------------------------------
@pytest.fixture
def jrc(twin_data):
    """The JRC depth-damage folder of the shared data (the damage model reads it)."""
    return twin_data / "flood" / "jrc_depth_damage"


def test_damage_model_reads_the_jrc_data(jrc):
    model = DamageModel.load("China", folder=jrc)
    curves = pd.read_csv(jrc / "jrc_asia_building_curves.csv")
    np.testing.assert_array_equal(model.depths, curves["depth_m"])
    assert model.depths[0] == 0 and model.depths[-1] == 6.0  # the JRC breakpoints
    for use in ("residential", "commercial", "industrial"):
        np.testing.assert_array_equal(model.curves[use], curves[f"asia_{use}"])
    costs = pd.read_csv(jrc / "JRC_base_damage_values.csv", encoding="utf-8-sig")
    for country in ("China", "Netherlands", "Hong Kong SAR, China"):
        row = costs[costs["Country"] == country].iloc[0]
        model = DamageModel.load(country, folder=jrc)
        for use in ("Residential", "Commercial", "Industrial"):
            assert model.cost_per_m2[use.lower()] == row[f"Construction Cost {use} (2010 €)"]
    assert model.currency == "EUR (2010)" and model.source == str(jrc)
    assert not list(Path(scenarios.__file__).parent.glob("*damage*"))  # no packaged copy


def test_bad_or_missing_jrc_data_is_an_error_naming_the_file(jrc, tmp_path):
    with pytest.raises(InputError, match=r"nowhere/jrc_asia_building_curves\.csv: JRC "
                                         r"depth-damage data not found .*set TWIN_DATA"):
        DamageModel.load("China", folder=tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"JRC_base_damage_values\.csv: surge\.damage\.country: "
                                         r"no construction cost .*\(got 'American Samoa'"):
        DamageModel.load("American Samoa", folder=jrc)  # its costs are 0 in the table
    with pytest.raises(InputError, match=r"surge\.damage\.country: .*\(got 'Atlantis'"):
        DamageModel.load("Atlantis", folder=jrc)
    curves = pd.read_csv(jrc / "jrc_asia_building_curves.csv")
    costs = (jrc / "JRC_base_damage_values.csv").read_bytes()
    for broken, pattern in (
            (curves.drop(columns="asia_industrial"),
             r"jrc_asia_building_curves\.csv: not the JRC depth-damage table: columns missing "
             r"\(got \['asia_industrial'\]"),
            (curves.assign(asia_commercial=curves["asia_commercial"][::-1].to_numpy()),
             r"jrc_asia_building_curves\.csv: asia_commercial: damage fractions must rise"),
            (curves.assign(depth_m=curves["depth_m"] + 0.5),
             r"jrc_asia_building_curves\.csv: depth_m: depths must increase from 0 m")):
        folder = tmp_path / "broken"
        folder.mkdir(exist_ok=True)
        broken.to_csv(folder / "jrc_asia_building_curves.csv", index=False)
        (folder / "JRC_base_damage_values.csv").write_bytes(costs)
        with pytest.raises(InputError, match=pattern):
            DamageModel.load("China", folder=folder)


def test_damage_is_fraction_times_cost_times_floor_area(jrc):
    model = DamageModel.load("China", folder=jrc)
    curves = pd.read_csv(jrc / "jrc_asia_building_curves.csv").set_index("depth_m")
    cost = model.cost_per_m2
    use = np.array(["commercial", "residential", "industrial", "residential"])
    depth = np.array([1.25, 0.0, 7.0, 0.25])
    damage = model.damage(use, depth, footprint=np.full(4, 100.0), storeys=np.full(4, 2.0))
    # 1.25 m is halfway between the 1 m and 1.5 m breakpoints; 0.25 m halfway to 0.5 m.
    commercial = (curves.loc[1.0, "asia_commercial"] + curves.loc[1.5, "asia_commercial"]) / 2
    assert damage[0] == pytest.approx(commercial * cost["commercial"] * 200)
    assert damage[1] == 0.0
    assert damage[2] == pytest.approx(1.0 * cost["industrial"] * 200)  # beyond 6 m: total loss
    assert damage[3] == pytest.approx(curves.loc[0.5, "asia_residential"] / 2
                                      * cost["residential"] * 200)
    capped = DamageModel.load("China", exposed_storeys=1, folder=jrc)
    assert capped.damage(use[:1], depth[:1], np.array([100.0]), np.array([2.0]))[0] \
        == pytest.approx(damage[0] / 2)


def test_depth_at_a_footprint_is_weighted_by_the_area_it_covers(sample_territory):
    import geopandas as gpd

    t = sample_territory.copy()
    a, _, x0, _, e, y0 = t.grid.transform
    # A 10 x 10 m building astride the line between cells (0, 0) and (0, 1): 3 m in the first.
    box = shapely.box(x0 + a - 3, y0 - 20, x0 + a + 7, y0 - 10)
    t.layers["buildings"] = gpd.GeoDataFrame({"building_id": ["B"], "storeys": [1],
                                              "use": ["residential"]}, geometry=[box],
                                             crs=t.grid.crs)
    exposure = BuildingExposure.of(t)
    depth = np.zeros(t.grid.shape)
    depth[0, 0] = 1.0
    assert exposure.mean(depth)[0] == pytest.approx(0.3)
    assert exposure.extreme(depth)[0] == 1.0


# -- runs on the sample territory --------------------------------------------------------------
@pytest.fixture(scope="module")
def surge_runs(sample_territory, tmp_path_factory, twin_data):
    """Short runs of the built-in surge scenarios, with the JRC damage data of ``twin_data``."""
    tmp = tmp_path_factory.mktemp("surges")
    runs = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TWIN_DATA", str(twin_data))
        for name in ("surge-100y", "surge-100y-seawall", "surge-100y-slr", "surge-100y-breach"):
            # (the short event peaks at 2 h: the breach fails then)
            s = short(name, tmp, BREACH_AT_2H if name.endswith("breach") else "")
            runs[name] = run_scenario(sample_territory, s.model_copy(update={"years": 2}),
                                      seed=1)
    return runs


def final(result, indicator):
    df = result.indicators
    return float(df[(df["year"] == result.years[-1]) & (df["indicator"] == indicator)]
                 ["value"].iloc[0])


def test_surge_runs_rank_the_options_and_close_their_books(surge_runs):
    base, wall, slr = (surge_runs[n] for n in ("surge-100y", "surge-100y-seawall",
                                                "surge-100y-slr"))
    for name, result in surge_runs.items():
        assert result.engines["surge"].startswith(
            "Godunov" if name.endswith("breach") else "local inertial")
        mass = result.surge.outcome.stats["mass_balance"]
        assert mass["relative_error"] < 1e-9
    for key in ("flooded_land_area", "flooded_buildings", "population_exposed",
                "flood_damage", "farmland_flooded"):
        assert final(wall, key) < final(base, key) <= final(slr, key), key
    assert final(base, "flooded_buildings") > 0 and final(base, "flood_damage") > 0


def test_the_breach_lets_the_sea_behind_the_wall_and_the_run_says_where(surge_runs,
                                                                       tmp_path):
    wall, breach = surge_runs["surge-100y-seawall"], surge_runs["surge-100y-breach"]
    for key in ("flooded_land_area", "flooded_buildings", "flood_damage"):
        assert final(breach, key) > final(wall, key), key
    assert final(breach, "flooded_land_area") > final(wall, "flooded_land_area") + 5  # ha
    write_run(breach, tmp_path / "run")
    surge = RunDirectory.open(tmp_path / "run").surge
    assert surge["engine"].startswith("Godunov") and surge["order"] == 1  # the default order
    record, = surge["breaches"]
    assert record["failed"] and record["failed_at_h"] == 2.0 and record["crest_m"] == 1.0
    assert record["defence"] == "Haiwan sea wall" and record["faces"] >= 8  # 200 m of 25 m
    segments = np.array(record["segments"])
    assert segments.shape == (record["faces"], 2, 2)
    centre = segments.reshape(-1, 2).mean(axis=0)
    assert np.hypot(*(centre - record["at"])) < 100.0


def test_godunov_and_inertial_engines_agree_on_slow_inundation(sample_territory):
    """The sample's 100-year surge over a 4-hour bell (no breach: slow inundation, Froude
    numbers well below 1, where the local inertial equations apply). Measured: the same cells
    flooded deeper than 5 cm to 0.2 % (Jaccard 0.998), maximum depths 3.8 cm RMSE apart
    (95 % of the cells within 2.2 cm; over the 24-hour event 5.7 cm and 0.5 cm)."""
    spec = load_scenario("surge-100y").surge
    spec = spec.model_copy(update={"shape": spec.shape.model_copy(
        update={"surge_duration_h": 4})})
    domain = FloodDomain.from_territory(sample_territory, defences=surge_defences(spec),
                                        manning=spec.manning)
    depth = {}
    for engine, cfl in (("inertial", 0.7), ("godunov", 0.45)):
        event = surge_event(spec.model_copy(update={
            "engine": engine, "solver": spec.solver.model_copy(update={"cfl": cfl})}))
        depth[engine] = run_event(domain, event).max_depth
    land = ~domain.sea & np.isfinite(depth["inertial"])
    a, b = (land & (depth[e] > 0.05) for e in ("inertial", "godunov"))
    wet = a | b
    assert (a & b).sum() / wet.sum() > 0.99
    difference = depth["godunov"][wet] - depth["inertial"][wet]
    assert np.sqrt(np.mean(difference ** 2)) < 0.06  # m
    assert abs(difference.mean()) < 0.02
    assert np.percentile(np.abs(difference), 95) < 0.04


def test_the_plain_local_inertial_step_grows_no_chequerboard_in_the_deep_basin(
        sample_territory):
    """``advection: false`` on the sample's 100-year surge (4-hour bell). With the step of
    Bates et al. (2010), ``cfl dx / sqrt(g h)``, six cells of the deep basin behind the coast
    reached 420 m/s and depths of 11.3 m (the basin's floor is 1.6 m below datum); with the
    flow speed in the Courant
    condition the fastest water moves at 3.5 m/s. (The basin still sloshes 1.2 m above the
    peak - 0.8 m with advection; the Godunov engine fills it to 3.47 m, below the 3.5 m peak.)
    """
    spec = load_scenario("surge-100y").surge
    spec = spec.model_copy(update={
        "shape": spec.shape.model_copy(update={"surge_duration_h": 4}),
        "solver": spec.solver.model_copy(update={"advection": False})})
    domain = FloodDomain.from_territory(sample_territory, manning=spec.manning)
    outcome = run_event(domain, surge_event(spec))
    wet = ~domain.sea & (outcome.max_depth > 0.01)
    assert float(np.nanmax(outcome.max_speed[wet])) < 10.0  # 3.5 m/s measured
    surface = domain.elevation[wet] + outcome.max_depth[wet]
    assert float(surface.max()) < 3.5 + 1.5  # 4.68 m measured


def test_impacts_add_up_per_building_and_per_unit(surge_runs, sample_territory):
    result = surge_runs["surge-100y"]
    buildings, units = result.buildings, result.surge.impacts.units
    assert len(buildings) == len(sample_territory.layers["buildings"])
    flooded = buildings["flooded"]
    assert flooded.sum() == final(result, "flooded_buildings")
    assert ((buildings["surge_depth_m"] > 0) == flooded).all()  # one definition of flooded
    assert (buildings.loc[flooded, "surge_depth_m"] >= FLOODED_DEPTH).all()
    assert (buildings["depth_max_m"] >= buildings["surge_depth_m"]).all()
    assert buildings["damage_eur"].sum() / 1e6 == pytest.approx(final(result, "flood_damage"))
    assert (buildings.loc[~flooded, "damage_eur"] == 0).all()
    for column, indicator in (("flooded_area_ha", "flooded_land_area"),
                              ("population_exposed", "population_exposed"),
                              ("farmland_flooded_ha", "farmland_flooded"),
                              ("ecological_land_flooded_ha", "ecological_land_flooded")):
        assert units[column].sum() == pytest.approx(final(result, indicator), rel=1e-4)
    assert units["buildings_flooded"].sum() == flooded.sum()
    assert units["damage_eur"].sum() == pytest.approx(buildings["damage_eur"].sum())
    named = units[units["unit_id"] > 0]
    assert named["name"].notna().all() and named["district"].notna().all()
    # Arrival and duration are recorded where the water got deep enough.
    deep = buildings["depth_max_m"] >= 0.5
    assert deep.any() and buildings.loc[deep, "arrival_h"].notna().all()


def test_surge_run_directory_holds_what_the_dashboard_needs(surge_runs, tmp_path):
    result = surge_runs["surge-100y-seawall"]
    write_run(result, tmp_path / "run")
    run = RunDirectory.open(tmp_path / "run")
    surge = run.surge
    assert surge["engine"].startswith("local inertial") and surge["year"] == run.surge_year
    np.testing.assert_array_equal(run.water_depth(), result.surge.outcome.max_depth)
    for name in ("max_speed", "arrival", "duration", "flood_level"):
        np.testing.assert_array_equal(run.surge_raster(name),
                                      getattr(result.surge.outcome, name))
    times, depths = run.depth_series()
    assert depths.shape == (13, *result.territory.grid.shape)  # solver.outputs of surge-100y
    np.testing.assert_allclose(times, np.linspace(0, 4 * 3600, 13))
    np.testing.assert_array_equal(depths[-1], result.surge.outcome.depths[-1])
    hydro = pd.read_csv(tmp_path / "run" / surge["hydrograph"])
    assert hydro["level_m"].max() == pytest.approx(3.5)
    pd.testing.assert_frame_equal(run.surge_units(), result.surge.impacts.units,
                                  check_dtype=False)
    assert run.buildings()["damage_eur"].sum() == pytest.approx(
        result.buildings["damage_eur"].sum())
    report = [r for r in run.manifest["reports"] if r["process"] == "StormSurge"][0]
    assert report["defences"] == ["Haiwan sea wall"] and report["steps"] > 0
    damage = surge["damage"]
    assert damage["assessed"] and damage["country"] == "China"
    assert damage["source"].endswith("flood/jrc_depth_damage")


def test_without_the_jrc_data_the_flood_runs_and_damage_is_not_assessed(
        sample_territory, tmp_path, monkeypatch):
    """No packaged copy of the curves: on a machine without the shared data the surge still
    floods, and damage is NaN with the reason in the manifest - not zero, not guessed."""
    monkeypatch.setenv("TWIN_DATA", str(tmp_path / "no-data"))
    s = scenario(tmp_path, "extends: surge-100y\nname: nodata\ntitle: t\nyears: 1\n"
                           "surge:\n  shape: {surge_duration_h: 2}\n  solver: {outputs: 3}\n")
    result = run_scenario(sample_territory, s, seed=0)
    assert result.surge.damage is None
    assert "JRC depth-damage data not found at" in result.surge.damage_note
    assert final(result, "flooded_buildings") > 0
    assert np.isnan(final(result, "flood_damage"))
    assert "damage_eur" not in result.buildings
    run = RunDirectory.open(write_run(result, tmp_path / "run"))
    assert run.surge["damage"] == {"assessed": False, "note": result.surge.damage_note}


def test_compare_maps_where_the_wall_keeps_the_water_out(surge_runs, tmp_path):
    dirs = [write_run(surge_runs[n], tmp_path / n) for n in ("surge-100y",
                                                             "surge-100y-seawall")]
    comparison = compare_runs(dirs, tmp_path / "report")
    diff = comparison.flood_maps["surge-100y-seawall-short"]
    assert (diff < -0.1).sum() > 100  # land the wall keeps dry
    written = tmp_path / "report/maps/surge-100y-seawall-short_vs_surge-100y-short_flood_depth.tif"
    assert written.is_file()
    table = comparison.table.set_index(["scenario", "indicator"])
    assert table.loc[("surge-100y-seawall-short", "flooded_buildings"), "difference"] < 0
    assert "Flood depth" in (tmp_path / "report/report.html").read_text()


def test_cli_runs_a_surge_scenario_and_refuses_a_bad_one(sample_catalog, tmp_path):
    twin = [sys.executable, "-m", "viz.cli"]
    subprocess.run([*twin, "tim", "build", "--catalog", str(sample_catalog), "--out", "tim"],
                   cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "quick.yaml").write_text(
        "extends: surge-100y-seawall\nname: quick\ntitle: Quick wall\nyears: 1\n"
        "surge:\n  shape: {surge_duration_h: 2}\n  solver: {outputs: 3, advection: false}\n")
    done = subprocess.run([*twin, "run", "quick.yaml", "--tim", "tim", "--out", "run"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["engines"]["surge"] == LOCAL_INERTIAL  # the option chosen, named
    assert manifest["outputs"]["surge"]["engine"] == LOCAL_INERTIAL
    assert len(manifest["outputs"]["surge"]["depth_series"]["times_s"]) == 3
    (tmp_path / "bad.yaml").write_text("extends: surge-100y\nname: bad\ntitle: t\n"
                                       "surge:\n  solver: {cfl: 2}\n")
    bad = subprocess.run([*twin, "run", "bad.yaml", "--tim", "tim", "--out", "bad"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "surge.solver.cfl" in bad.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_builtin_100_year_surge_full_event(sample_territory):
    """The shipped 24-hour event, as `twin run surge-100y` runs it."""
    s = load_scenario("surge-100y").model_copy(update={"years": 1})
    result = run_scenario(sample_territory, s, seed=0)
    static = run_scenario(sample_territory,
                          load_scenario("storm-surge").model_copy(update={"years": 1}), seed=0)
    # A day-long surge has time to spread: the dynamic extent nears the static one.
    assert final(result, "flooded_land_area") == pytest.approx(
        final(static, "flooded_land_area"), rel=0.05)
    assert result.surge.outcome.stats["mass_balance"]["relative_error"] < 1e-9

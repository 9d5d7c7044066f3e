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
    assert {"baseline", "far-up", "high-growth", "storm-surge", "strict-farmland",
            "surge-100y", "surge-100y-seawall", "surge-100y-slr",
            "wuhan-baseline", "wuhan-high-growth", "wuhan-far-up",
            "wuhan-strict-farmland"} <= set(builtin_scenarios())
    base, high = load_scenario("baseline"), load_scenario("high-growth")
    assert high.population.annual_growth == 0.04
    # Everything not overridden is inherited, sub-mapping by sub-mapping.
    assert high.land_use == base.land_use and high.development == base.development
    assert high.population.model_copy(update={"annual_growth": 0.01,
                                              "migration_by_year": {}}) == base.population
    assert load_scenario("storm-surge").surge_year == base.end_year
    # Two levels: far-up extends high-growth, which extends the baseline.
    far_up = load_scenario("far-up")
    assert far_up.population == high.population and far_up.development.far_multiplier == 1.3
    assert far_up.development.coverage == base.development.coverage


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
            for name in ("baseline", "high-growth", "storm-surge", "far-up", "strict-farmland")}


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


def test_developers_build_within_zoning_and_outside_hard_lines(runs, sample_territory):
    result = runs["high-growth"]
    projects = result.projects
    assert len(projects) > 0 and set(projects["kind"]) == {"new", "redevelopment"}
    cell_area = sample_territory.grid.cell_area
    far = sample_territory.get("zoning__max_far").ravel()[projects["cell"]]
    height = sample_territory.get("zoning__max_height").ravel()[projects["cell"]]
    assert (projects["floor_area_m2"] <= far * cell_area + 0.1).all()
    assert (projects["storeys"] * 3.0 <= height).all()
    hard = (sample_territory.get("control__ecological_red_line")
            | sample_territory.get("control__permanent_basic_farmland")).ravel()
    assert not hard[projects["cell"]].any()
    assert (projects["margin"] >= 0.10).all()  # the lowest hurdle of the four developers
    buildings = result.new_buildings
    assert len(buildings) == len(projects) and buildings.crs == sample_territory.layers[
        "buildings"].crs
    footprint = 0.35 * cell_area  # the scenario's site coverage
    np.testing.assert_allclose(buildings.area, footprint)
    redeveloped = buildings[buildings["kind"] == "redevelopment"]
    assert (redeveloped["replaces"] != "").all()


def test_scenario_families_do_what_they_say(runs):
    # Denser zoning houses the same households on less new land.
    assert final(runs["far-up"], "built_up_area") < final(runs["high-growth"], "built_up_area")
    # Same households (same seed and path); float32 population maps sum alike to within 1e-8.
    assert final(runs["far-up"], "population") == pytest.approx(
        final(runs["high-growth"], "population"), rel=1e-8)
    # Strict protection: no farmland or ecological land lost; the unmet land is reported.
    strict = runs["strict-farmland"]
    assert final(strict, "farmland_lost") == 0 and final(strict, "ecological_land_lost") == 0
    shortfall = sum(r.values.get("shortfall_7", 0) for r in strict.reports)
    assert shortfall > 0
    assert (strict.projects["kind"] == "redevelopment").all()


def test_population_field_matches_households(runs):
    result = runs["high-growth"]
    households = [r.values for r in result.reports if r.process == "HouseholdChoices"][-1]
    assert result.population[result.years[-1]].sum() == pytest.approx(
        households["persons"], rel=1e-5)


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
    # One self-contained file: pictures embedded, nothing loads online.
    assert "data:image/png;base64," in html and "<script" not in html
    assert "http://" not in html and "https://" not in html
    maps = tmp_path / "report/maps"
    assert sorted(p.name for p in maps.glob("*.tif")) == [
        f"{name}_vs_baseline.tif" for name in sorted(runs) if name != "baseline"]
    # each categorical map with its class names (GDAL's sidecar) and its QGIS style
    assert {p.name for p in maps.iterdir()} == {
        f"{p.name}{extra}" for p in maps.glob("*.tif") for extra in ("", ".aux.xml")} | {
        p.with_suffix(".qml").name for p in maps.glob("*.tif")}


# -- monitoring: units, districts, plan, warnings ----------------------------------------------
def test_units_roll_up_to_districts_and_the_city(runs, sample_territory):
    areas = runs["high-growth"].area_indicators
    last = areas[areas["year"] == 2035].set_index(["level", "area_id", "indicator"])["value"]
    units = sample_territory.layers["planning_units"].set_index("unit_id")["district"]
    for district in units.unique():
        members = [str(u) for u in units[units == district].index]
        for key in ("built_up_area", "population", "farmland_lost"):
            total = sum(last[("unit", u, key)] for u in members)
            assert last[("district", district, key)] == pytest.approx(total, rel=1e-9)
        # A ratio is recomputed from the sums, never averaged over units.
        built = sum(last[("unit", u, "built_up_area")] for u in members)
        people = sum(last[("unit", u, "population")] for u in members)
        assert last[("district", district, "construction_land_per_capita")] == pytest.approx(
            built * 1e4 / people, rel=1e-6)
    city = [a for a in areas["area_id"].unique() if ("city", a, "population") in last.index]
    assert last[("city", city[0], "population")] == pytest.approx(
        sum(last[("district", d, "population")] for d in units.unique()), rel=1e-9)


def test_plan_targets_give_the_status(runs, sample_territory):
    areas = runs["high-growth"].area_indicators
    plan = sample_territory.plan.indicators["built_up_area"]
    rows = areas[(areas["indicator"] == "built_up_area") & (areas["level"] == "unit")]
    for r in rows.itertuples():
        target = plan.units[int(r.area_id)]
        assert r.target == target
        expected = ("green" if r.value <= target else
                    "yellow" if r.value <= target * 1.05 else "red")
        assert r.status == expected


def test_indicator_files_agree_on_the_territory(runs, tmp_path):
    """One source of truth: indicators.csv is the territory rows of indicators_areas.csv, and
    warnings.csv lists exactly the territory rows beyond their green range, with the limit."""
    run = RunDirectory.open(write_run(runs["high-growth"], tmp_path / "run"))
    city = pd.read_csv(run.path / "indicators.csv")
    areas = pd.read_csv(run.path / "indicators_areas.csv")
    rows = areas[areas["level"] == "city"].reset_index(drop=True)
    for column in ("year", "indicator", "value", "unit", "status", "target", "basis", "limit",
                   "green_min", "green_max"):
        pd.testing.assert_series_equal(city[column], rows[column], check_names=False)
    warnings = pd.read_csv(run.path / "warnings.csv")
    listed = warnings[(warnings["level"] == "city") & (warnings["indicator"] != "land_demand")]
    flagged = city[city["status"].isin(["yellow", "red"])]
    assert sorted(zip(listed["year"], listed["indicator"], listed["status"])) == sorted(
        zip(flagged["year"], flagged["indicator"], flagged["status"]))
    # The territory is judged like a district: the population is over its plan target, so red
    # (it was "for information" while districts over target were red).
    last = city[city["year"] == city["year"].max()].set_index("indicator")
    population = last.loc["population"]
    assert population["basis"] == "plan" and population["limit"] == "max"
    assert population["value"] > population["target"] * 1.05 and population["status"] == "red"
    # Each warning names its limit: the bound it is beyond, and on which side.
    for w in listed.itertuples():
        r = last.loc[w.indicator] if w.year == last["year"].iloc[0] else None
        if r is not None:
            bound = r["target"] if r["basis"] == "plan" else (
                r["green_max"] if r["limit"] == "max" else r["green_min"])
            assert w.threshold == pytest.approx(bound) and w.limit == r["limit"]
            assert (w.value > w.threshold) == (w.limit == "max")


def test_one_rule_judges_every_level():
    from scenarios.indicators import judge

    registry = load_registry()
    cap = registry["construction_land_per_capita"]   # green [65, 115], yellow [55, 150]
    assert [judge(cap, v, "district").status for v in (60, 90, 120, 151)] == [
        "yellow", "green", "yellow", "red"]
    assert judge(cap, 60, "district").limit == "min" and judge(cap, 120, "city").limit == "max"
    assert judge(cap, 151, "unit").status == "info"  # the registry judges it for city, district
    population = registry["population"]               # no thresholds: the plan's target judges
    for level in ("city", "district", "unit"):
        assert judge(population, 100.0, level, target=100.0).status == "green"
        assert judge(population, 105.0, level, target=100.0).status == "yellow"
        assert judge(population, 105.1, level, target=100.0).status == "red"
        assert judge(population, 94.0, level, target=100.0, kind="floor").limit == "min"
    assert judge(cap, float("nan"), "city").status == "info"


def test_a_unit_without_cells_has_no_values(runs, sample_territory):
    """n/a, not 0: a unit the grid does not cover gets NaN for every indicator (and a ratio
    with nothing to divide by is NaN too)."""
    from scenarios.areas import Areas, area_indicators
    from scenarios.indicators import LIFECIRCLE_TYPES, Baseline, from_sums

    areas = Areas.of(sample_territory)
    ghost = Areas(np.append(areas.unit_ids, 999), np.append(areas.names, "Ghost"),
                  np.append(areas.districts, "Nowhere"), areas.city, areas.of_cell)
    table = area_indicators(sample_territory, Baseline.of(sample_territory), ghost, 2025,
                            load_registry())
    for level, area in (("unit", "999"), ("district", "Nowhere")):
        rows = table[(table["level"] == level) & (table["area_id"] == area)]
        assert len(rows) == len(load_registry()) and rows["value"].isna().all()
        assert (rows["status"] == "info").all()
    others = table[(table["level"] == "unit") & (table["area_id"] != "999")]
    assert others[others["indicator"] == "built_up_area"]["value"].notna().all()
    sums = {k: np.zeros(1) for k in ("population", "land_ha", "built_ha", "floor_area_m2",
                                     "boundary_ha", "boundary_built_ha", "school_population",
                                     "park_population")}
    values = from_sums({**sums, **{k: np.zeros(1) for k in (
        "farmland_lost_ha", "ecological_lost_ha", "encroachment_cells", "outside_boundary_ha",
        "flooded_ha", "flooded_buildings", "exposed_population", "flood_damage_meur",
        "farmland_flooded_ha", "ecological_flooded_ha",
        *(f"lifecircle_{t}_population" for t in LIFECIRCLE_TYPES))}})
    assert np.isnan(values["construction_land_per_capita"][0]) and values["population"][0] == 0


def test_a_plan_that_does_not_balance_is_flagged(tmp_path, sample_catalog):
    import yaml

    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog

    plan = yaml.safe_load((sample_catalog.parent / "plan.yaml").read_text())
    plan["built_up_area"]["units"][10] += 5.0  # a unit change its district does not absorb
    (sample_catalog.parent / "plan-edited.yaml").write_text(yaml.safe_dump(plan,
                                                                             allow_unicode=True))
    catalog = yaml.safe_load(sample_catalog.read_text())
    for source in catalog["sources"]:
        if source["role"] == "plan":
            source["path"] = "plan-edited.yaml"
    edited = sample_catalog.parent / "catalog-edited.yaml"
    edited.write_text(yaml.safe_dump(catalog, allow_unicode=True))
    territory = build_from_catalog(load_catalog(edited))
    problems = [h.detail["problem"] for h in territory.history if h.action == "warning"]
    district = territory.layers["planning_units"].set_index("unit_id").loc[10, "district"]
    assert len(problems) == 1 and problems[0].startswith(f"built_up_area: units of {district}")
    result = run_scenario(territory, load_scenario("baseline").model_copy(update={"years": 1}))
    assert (result.warnings["indicator"] == "plan_balance").sum() == 1


def test_encroachment_is_a_red_warning_naming_the_cells(sample_territory):
    relaxed = load_scenario("high-growth").model_copy(update={"years": 4})
    relaxed = relaxed.model_copy(update={"land_use": relaxed.land_use.model_copy(
        update={"protect": ()})})
    result = run_scenario(sample_territory, relaxed, seed=2)
    encroached = final(result, "control_line_encroachment")
    assert encroached > 0
    cells = result.warnings[(result.warnings["level"] == "cell")]
    assert len(cells) >= 1 and (cells["status"] == "red").all()
    message = cells[cells["year"] == 2029]["message"].iloc[0]
    assert message.startswith(f"{int(encroached)} cell(s) built inside a hard control line: (")
    # The first listed cell is one that really was converted inside a hard line.
    x, y = (float(v) for v in message.split(": (", 1)[1].split(")")[0].split(", "))
    col = int((x - 510000.0) // 25.0)
    row = int((2710000.0 - y) // 25.0)
    built = result.land_use[2029] == 7
    hard = (sample_territory.get("control__ecological_red_line")
            | sample_territory.get("control__permanent_basic_farmland")) > 0
    assert built[row, col] and hard[row, col] and not result.land_use[2025][row, col] == 7


def test_a_unit_emptied_by_emigration_is_reported(sample_territory):
    exodus = load_scenario("baseline").model_copy(update={"years": 2})
    exodus = exodus.model_copy(update={"population": exodus.population.model_copy(
        update={"annual_growth": 0.0, "migration_by_year": {2026: -10_000_000}})})
    result = run_scenario(sample_territory, exodus, seed=1)
    emptied = result.warnings[(result.warnings["level"] == "unit")
                              & (result.warnings["indicator"] == "population")
                              & result.warnings["message"].str.contains("no residents left")]
    inhabited = sample_territory.layers["planning_units"]["unit_id"].size
    assert 0 < len(emptied[emptied["year"] == 2026]) <= inhabited
    assert final(result, "population") == 0


def test_report_prints_to_pdf(runs, tmp_path):
    import shutil

    if shutil.which("chromium") is None:
        pytest.skip("PDF printing needs Chromium (apt-get install chromium)")
    dirs = [write_run(runs[name], tmp_path / name) for name in ("baseline", "far-up")]
    compare_runs(dirs, tmp_path / "report", pdf=True, stills=False)
    pdf = (tmp_path / "report/report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page") + pdf.count(b"/Type/Page") >= 2



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


def test_height_rules_bind_the_developers(sample_territory):
    """With ``development.height_rules`` the developers build under the rules' approach
    surface and view-corridor envelope too: every project's height is within the lowest of the
    zoning cap and those limits at its cell. Without it, FAR-up projects break them."""
    from scenarios.planning.height_rules import load_rules
    from scenarios.planning.heights import surface_and_corridor_limit

    lowest = surface_and_corridor_limit(sample_territory,
                                        load_rules("haiwan-bay", sample_territory))
    far_up = load_scenario("far-up")
    bound = far_up.model_copy(update={"development": far_up.development.model_copy(
        update={"height_rules": "haiwan-bay"})})
    over = {}
    for name, scenario in (("free", far_up), ("bound", bound)):
        projects = run_scenario(sample_territory, scenario, seed=0).projects
        limit = lowest.ravel()[projects["cell"].to_numpy()]
        height = projects["storeys"].to_numpy() * scenario.development.storey_height
        over[name] = int((height > np.nan_to_num(limit, nan=np.inf) + 1e-6).sum())
        if name == "bound":
            assert len(projects) > 0 and over[name] == 0
    assert over["free"] > 0  # the rules did bind


def test_height_rules_without_surfaces_or_corridors_are_refused(sample_territory, tmp_path):
    rules = tmp_path / "zones-only.yaml"
    rules.write_text("name: zones only\ncrs: EPSG:4548\nzones: {layer: zoning}\n")
    base = load_scenario("baseline")
    scenario = base.model_copy(update={"years": 1, "development": base.development.model_copy(
        update={"height_rules": str(rules)})})
    with pytest.raises(InputError, match=r"zones-only\.yaml: development\.height_rules: the "
                                         r"height rules have no inclined surface"):
        run_scenario(sample_territory, scenario, seed=0)

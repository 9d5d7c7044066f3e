"""`twin assess`: indicators of observed years on hand-made maps, phased plan targets, trends,
progress, warnings, and the output folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scenarios.monitoring.assess import assess, trends
from scenarios.monitoring.observed import ControlLines
from test_monitoring import (BUILT, CROP, FOREST, small_tim, territory, twin,  # noqa: F401
                             write_map)
from tim.errors import InputError
from tim.plan import Plan, check_balance

# 6 x 8 cells of 1 ha; unit 1 (West, district A) = columns 0-3, unit 2 (East, B) = 4-7


def maps() -> dict[int, np.ndarray]:
    m0 = np.full((6, 8), CROP, np.uint8)
    m0[0, :] = BUILT                      # 8 ha built in 2000 (4 per unit)
    m0[5, 0:2] = FOREST
    m1 = m0.copy()
    m1[1, 0:4] = BUILT                    # +4 ha in the west by 2005
    m2 = m1.copy()
    m2[1, 4:8] = BUILT                    # +4 ha in the east by 2010
    m2[5, 0] = BUILT                      # forest -> built inside the red line
    return {2000: m0, 2005: m1, 2010: m2}


def phased_plan() -> Plan:
    return Plan(indicators={
        "built_up_area": {"unit": "ha", "kind": "cap", "year": 2020, "city": 20,
                          "districts": {"A": 10, "B": 10}, "units": {1: 10, 2: 10},
                          "phases": {2005: {"city": 12, "districts": {"A": 7, "B": 5},
                                            "units": {1: 7, 2: 5}}}}})


def red_line() -> ControlLines:
    red = np.zeros((6, 8), bool)
    red[5, 0:2] = True
    return ControlLines({"ecological_red_line": red})


def test_plan_phases_apply_by_year():
    plan = phased_plan()
    # caps: the next milestone; after the last, the last
    assert plan.for_year(2000).indicators["built_up_area"].city == 12
    assert plan.for_year(2005).indicators["built_up_area"].year == 2005
    assert plan.for_year(2010).indicators["built_up_area"].city == 20
    assert plan.for_year(2030).indicators["built_up_area"].city == 20
    floor = Plan(indicators={"population": {"unit": "persons", "kind": "floor", "city": 100,
                                            "year": 2020}})
    assert floor.for_year(2010).indicators == {}          # not due yet
    assert floor.for_year(2020).indicators["population"].city == 100
    assert check_balance(plan, {1: "A", 2: "B"}) == []
    bad = Plan(indicators={"built_up_area": {
        "unit": "ha", "city": 20, "year": 2020, "districts": {"A": 10, "B": 10},
        "phases": {2005: {"city": 12, "districts": {"A": 7, "B": 4}}}}})
    assert check_balance(bad, {1: "A", 2: "B"}) == [
        "built_up_area (2005): districts sum to 11 ha, the city target is 12"]
    with pytest.raises(ValueError, match="before the main target"):
        Plan(indicators={"x": {"unit": "ha", "city": 1, "year": 2020,
                               "phases": {2025: {"city": 2}}}})
    with pytest.raises(ValueError, match="need the main target's year"):
        Plan(indicators={"x": {"unit": "ha", "city": 1, "phases": {2025: {"city": 2}}}})
    # an undated plan reads and applies as before
    old = Plan(indicators={"built_up_area": {"unit": "ha", "city": 5}})
    assert old.for_year(1990).indicators["built_up_area"].city == 5


def test_assessment_values_status_and_warnings():
    t = territory()
    t.plan = phased_plan()
    people = np.full((6, 8), 10.0, np.float32)   # 480 residents observed in 2010 only
    a = assess(t, maps(), red_line(), population={2010: people})
    city = a.city.set_index(["year", "indicator"])
    assert city.loc[(2000, "built_up_area"), "value"] == 8
    assert city.loc[(2005, "built_up_area"), "value"] == 12
    assert city.loc[(2010, "built_up_area"), "value"] == 17
    # 2005 is judged against the 2005 milestone (12: green), 2010 against 2020 (20: green)
    assert city.loc[(2005, "built_up_area"), ["target", "milestone", "status"]].tolist() == \
        [12, 2005, "green"]
    assert city.loc[(2010, "built_up_area"), ["target", "milestone"]].tolist() == [20, 2020]
    # farmland lost since 2000: 4 + 4 ha of cropland; one forest cell lost (red line)
    assert city.loc[(2010, "farmland_lost"), "value"] == 8
    assert city.loc[(2010, "control_line_encroachment"), "value"] == 1
    # population only where observed
    assert np.isnan(city.loc[(2005, "population"), "value"])
    assert city.loc[(2005, "population"), "status"] == "info"
    assert city.loc[(2010, "population"), "value"] == 480
    # 17 ha for 480 people = 354 m2 per person: red (GB 50137 range 65-115, yellow to 150)
    assert city.loc[(2010, "construction_land_per_capita"), "status"] == "red"
    # units: the west has 8 ha in 2005 against its 2005 quota of 7 -> 1 ha over = 14 %: red
    areas = a.areas.set_index(["year", "level", "area", "indicator"])
    west = areas.loc[(2005, "unit", "West", "built_up_area")]
    assert west[["value", "target", "status"]].tolist() == [8, 7, "red"]
    east = areas.loc[(2005, "unit", "East", "built_up_area")]
    assert east[["value", "target", "status"]].tolist() == [4, 5, "green"]
    w = a.warnings
    assert ((w["year"] == 2005) & (w["area"] == "West") & (w["indicator"] == "built_up_area")
            & (w["status"] == "red")).sum() == 1
    enc = w[w["indicator"] == "control_line_encroachment"]
    assert "(500050.0, 2999450.0)" in enc[enc["level"] == "cell"]["message"].iloc[0]
    # warnings name the limit they are beyond, as a run's do
    west_warning = w[(w["year"] == 2005) & (w["area"] == "West")
                     & (w["indicator"] == "built_up_area")].iloc[0]
    assert west_warning[["value", "threshold", "basis", "limit"]].tolist() == \
        [8, 7, "plan", "max"]
    assert "above the plan target 7.00" in west_warning["message"]
    # a year without observed population: no value and no judgement at any level
    assert a.areas[(a.areas["year"] == 2005) & (a.areas["indicator"] == "population")][
        "status"].eq("info").all()
    assert w["year"].iloc[0] == 2010      # latest year first


def test_assessment_report_content_in_both_languages():
    from scenarios.monitoring.reports import assessment_report
    from scenarios.reporting import KeyFigures, render_html

    t = territory()
    t.plan = phased_plan()
    a = assess(t, maps(), red_line(), population={2010: np.full((6, 8), 10.0, np.float32)})
    pictures: dict = {}
    en = assessment_report(a, t, {}, "en", pictures=pictures)
    zh = assessment_report(a, t, {}, "zh_CN", pictures=pictures)
    head = en.section("indicators").blocks[0]
    assert head.columns == ("Indicator", "2000", "2005", "2010", "Target 2010", "Status 2010")
    built = next(row for row in head.rows if row[0].text == "Built-up area")
    # 8, 12, 17 ha against the 2020 cap of 20: within limit
    assert [c.text for c in built[1:]] == ["8.0 ha", "12.0 ha", "17.0 ha", "20.0 ha",
                                          "within limit"]
    assert built[-1].status == "green"
    summary = en.section("summary").blocks
    assert any(isinstance(b, KeyFigures) for b in summary)
    warnings = en.section("warnings").blocks[0]
    # each warning says which limit its value is beyond: 354 m2 a person against 65-115
    per_capita = next(row for row in warnings.rows if row[0].text == "territory" and
                      row[2].text == "Construction land per capita")
    assert per_capita[3].status == "red"
    assert per_capita[5].text.startswith("above the upper threshold 115")
    # two maps: the latest year and the change, the red line drawn, drawn once for two languages
    drawn = en.figures("map")
    assert len(drawn) == 2 and len(pictures) == 2
    assert any(i.label == "Ecological protection red line" for i in drawn[0].legend)
    assert [f.png for f in zh.figures("map")] == [f.png for f in drawn]
    html = render_html(zh)
    for term in ("体检评估", "建设用地面积", "生态保护红线", "规划单元", "达标", "超限"):
        assert term in html, term
    assert "Headline indicators" not in html


def test_shared_warning_and_territory_rows_by_hand():
    """The helpers a run and an assessment share (scenarios.monitor): one row per area table
    row beyond its green range, saying the bound; the territory rows in CITY_COLUMNS."""
    from scenarios.areas import area_indicators
    from scenarios.indicators import Baseline, load_registry
    from scenarios.monitor import CITY_COLUMNS, indicator_warnings, territory_rows

    t = territory()
    t.set_field("land_use__class", maps()[2000])
    t.set_field("population__count", np.full((6, 8), 10.0, np.float32))  # 480 on 8 ha built
    registry = load_registry()
    table = area_indicators(t, Baseline.of(t), None, 2000, registry,
                            unmeasured=("population_density",))
    city = territory_rows(table)
    assert list(city.columns) == CITY_COLUMNS and len(city) == len(table)
    density = city.set_index("indicator").loc["population_density"]
    assert np.isnan(density["value"]) and density["status"] == "info"
    # 8 ha of construction land for 480 persons: 166.7 m2 a person, beyond the yellow 150
    rows = {r[3]: r for r in indicator_warnings(table, registry)}
    year, level, area, key, status, message, value, unit, bound, basis, limit = \
        rows["construction_land_per_capita"]
    assert (year, level, area, status, basis, limit, bound) == (
        2000, "city", "", "red", "threshold", "max", 115.0)
    assert value == pytest.approx(80000 / 480, abs=1e-3)
    assert message.endswith(": 167 m2/person, above the upper threshold 115")
    assert "population_density" not in rows


def test_trends_and_progress():
    t = territory()
    t.plan = phased_plan()
    a = assess(t, maps(), ControlLines({}))
    tr = a.trends[a.trends["indicator"] == "built_up_area"].iloc[0]
    # least squares through (2000, 8), (2005, 12), (2010, 17): slope 0.9 ha per year
    assert tr["trend_per_year"] == pytest.approx(0.9)
    assert tr["milestone"] == 2020 and tr["projected"] == pytest.approx(26.0)
    assert tr["projected_status"] == "red"  # 26 > 20 + 5 %
    p = a.progress.set_index(["level", "area", "milestone"])
    # city: 8 -> 17 of a cap of 20: (17 - 8) / (20 - 8) = 75 % of the headroom used
    assert p.loc[("city", "C", 2020), "progress_pct"] == pytest.approx(75.0)
    assert p.loc[("unit", "West", 2005), "status"] == "red"


def test_trends_without_plan_and_single_year():
    city = pd.DataFrame({"year": [2000], "indicator": ["built_up_area"], "value": [3.0],
                         "unit": ["ha"]})
    row = trends(city).iloc[0]
    assert row["change"] == 0 and np.isnan(row["trend_per_year"])


def test_population_of_an_unobserved_year_is_refused():
    with pytest.raises(InputError, match="without an observed land-use map"):
        assess(territory(), maps(), ControlLines({}),
               population={2003: np.ones((6, 8), np.float32)})


def test_cli_assess(small_tim, tmp_path):
    d = small_tim
    for year, m in maps().items():
        write_map(tmp_path / f"{year}.tif", m, territory().grid)
    done = twin("assess", "--tim", d / "tim", *[a for y in (2000, 2005, 2010) for a in
                                                ("--observed", f"{y}={tmp_path / f'{y}.tif'}")],
                "--out", tmp_path / "out", "--derive-lines", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    m = json.loads((out / "manifest.json").read_text())
    assert m["format"] == "territory-twin/assessment" and m["years"] == [2000, 2005, 2010]
    assert m["control_lines"]["ecological_red_line"]["source"] == "TIM"
    assert m["control_lines"]["urban_development_boundary"]["source"] == "derived"
    assert m["headline"]["built_up_area"]["value"] == 17
    for name in ("indicators.csv", "indicators_areas.csv", "trends.csv", "progress.csv",
                 "warnings.csv", "maps/land_use_2010.tif", "maps/change_2005_2010.tif",
                 "report.html"):
        assert (out / name).is_file(), name
        assert name in m["files"]
    # one source of truth, as for a run: indicators.csv is the city rows of indicators_areas.csv
    from scenarios.monitor import CITY_COLUMNS

    city = pd.read_csv(out / "indicators.csv")
    areas = pd.read_csv(out / "indicators_areas.csv")
    assert list(city.columns) == CITY_COLUMNS + ["milestone"]
    territory_rows = areas[areas["level"] == "city"][list(city.columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(city, territory_rows)
    assert len(city) == 3 * city["indicator"].nunique()
    warned = pd.read_csv(out / "warnings.csv")
    flagged = city[city["status"].isin(["yellow", "red"])]
    assert len(warned[warned["level"] == "city"]) == len(flagged) > 0
    html = (out / "report.html").read_text()
    assert "Headline indicators 2000–2010" in html and "a derived stand-in" in html
    import rasterio

    with rasterio.open(out / "maps/change_2005_2010.tif") as src:
        change = src.read(1)
    assert (change > 0).sum() == 5 and set(np.unique(change)) == {0, BUILT}
    # repeated years: one line, exit 2
    done = twin("assess", "--tim", d / "tim", "--observed", f"2000={tmp_path / '2000.tif'}",
                "--observed", f"2000={tmp_path / '2005.tif'}", "--out", tmp_path / "o2",
                cwd=tmp_path)
    assert done.returncode == 2 and "year 2000 is given twice" in done.stderr


def test_phased_plan_round_trips_through_the_store(tmp_path):
    from tim.store import load_territory, save_territory

    t = territory()
    t.plan = phased_plan()
    t.set_field("land_use__class", maps()[2000])
    save_territory(t, tmp_path / "tim")
    back = load_territory(tmp_path / "tim")
    assert back.plan == t.plan
    assert back.plan.for_year(2003).indicators["built_up_area"].units == {1: 7, 2: 5}
    undated = Plan(indicators={"population": {"unit": "persons", "city": 3}})
    assert set(undated.to_dict()["indicators"]["population"]) == {
        "unit", "kind", "city", "districts", "units", "tolerance"}  # as before phases


def test_cli_assess_from_a_series_file(small_tim, tmp_path):
    for year, m in maps().items():
        write_map(tmp_path / f"{year}.tif", m, territory().grid)
    (tmp_path / "series.yaml").write_text(
        "observed: {2000: 2000.tif, 2005: 2005.tif, 2010: 2010.tif}\n"
        "population: {2010: pop.tif}\npopulation_scale: 2\n")
    from tim.store import write_raster

    write_raster(tmp_path / "pop.tif", np.full((6, 8), 5.0, np.float32), territory().grid,
                 None)
    done = twin("assess", "--tim", small_tim / "tim", "--series", tmp_path / "series.yaml",
                "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    m = json.loads((tmp_path / "out/manifest.json").read_text())
    assert m["years"] == [2000, 2005, 2010] and m["population_years"] == [2010]
    assert m["headline"]["population"]["value"] == 48 * 5 * 2  # scaled
    (tmp_path / "bad.yaml").write_text("observed: {2000: 2000.tif}\nmaps: {}\n")
    done = twin("assess", "--tim", small_tim / "tim", "--series", tmp_path / "bad.yaml",
                "--out", tmp_path / "o2", cwd=tmp_path)
    assert done.returncode == 2 and "bad.yaml" in done.stderr and "maps" in done.stderr

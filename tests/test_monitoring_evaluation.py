"""双评价 (`twin evaluate`): factor scoring, grading, limits, exclusions, factors left out,
carrying capacity, rule-file errors and the output folder, on hand-derived small cases."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import yaml

from scenarios.monitoring.evaluation import (EvaluationRules, Factor, evaluate, load_rules,
                                             score, summarise)
from test_monitoring import BUILT, CROP, FOREST, WATER, small_tim, territory, twin  # noqa: F401
from tim.errors import InputError


def test_score_breaks_groups_table():
    t = territory()
    f = Factor(name="s", source="slope", weight=1, breaks=(3, 8, 15, 25), scores=(5, 4, 3, 2, 1))
    # right-closed: 3 degrees is still <= 3 (score 5), as the guideline's "<= 3"
    assert score(f, np.array([0, 3, 3.01, 8, 20, 25, 26, np.nan]), t).tolist() == \
        [5, 5, 4, 4, 2, 2, 1, 0]
    g = Factor(name="lc", source="land_cover", weight=1, groups={"built": 5, "water": 1})
    assert score(g, np.array([BUILT, WATER, CROP], np.uint8), t).tolist() == [5, 1, 0]
    s = Factor(name="soil", source="soil", weight=1, table={11: 4, 12: 2})
    assert score(s, np.array([11.0, 12.0]), t).tolist() == [4, 2]


def rules(**evaluations) -> EvaluationRules:
    return EvaluationRules.model_validate({"evaluations": evaluations})


def flat_territory():
    t = territory()
    lu = np.full((6, 8), CROP, np.uint8)
    lu[0, :] = BUILT
    lu[5, 7] = WATER
    t.set_field("land_use__class", lu)
    z = np.zeros((6, 8), np.float32)
    z[:, 6:] = np.array([0.0, 100.0])  # a 100 m step between columns 6 and 7: steep there
    t.set_field("terrain__elevation", z)
    return t


def test_weighted_grade_limit_and_exclusion():
    t = flat_territory()
    r = rules(urban_suitability={
        "name": "urban", "factors": [
            {"name": "slope", "source": "slope", "weight": 0.5, "limit": True,
             "breaks": [3, 25], "scores": [5, 3, 1]},
            {"name": "land_cover", "source": "land_cover", "weight": 0.5,
             "groups": {"built": 5, "farmland": 3, "water": 1}}],
        "exclude": [{"group": "water", "grade": 1}]})
    res = evaluate(t, r)
    g = res.grades["urban_suitability"]
    # built, flat: (5 + 5) / 2 = 5 -> grade 5; cropland, flat: (5 + 3) / 2 = 4 -> grade 4
    # (a mean at the break 4.2 would go up; 4.0 < 4.2 stays 4)
    assert g[0, 0] == 5 and g[3, 0] == 4
    # columns 6-7: central differences give 100 m / 60 m -> 59 degrees: slope score 1, and
    # the limit caps the grade at 1 whatever the land cover
    assert (g[:, 6:] == 1).all()
    assert g[5, 7] == 1  # water
    assert set(res.factors["urban_suitability"]) == {"slope", "land_cover"}
    assert res.factors["urban_suitability"]["slope"][0, 0] == 5


def test_defaults_grade_every_evaluation_and_exclude_very_important_land():
    t = flat_territory()
    lu = t.fields["land_use__class"].copy()
    lu[2:5, 1:5] = FOREST
    t.fields["land_use__class"] = lu
    with pytest.warns(UserWarning) as caught:
        res = evaluate(t, load_rules())
    messages = [str(w.message) for w in caught]
    assert any("factor 'soil' left out" in m for m in messages)
    assert any("factor 'flood' left out" in m and "no longer caps" in m for m in messages)
    assert set(res.grades) == {"ecological_importance", "agricultural_suitability",
                               "urban_suitability"}
    eco, urb = res.grades["ecological_importance"], res.grades["urban_suitability"]
    assert eco[3, 2] > eco[0, 2]            # forest matters more than built-up land
    very = eco == 5
    assert (urb[very] == 1).all()           # 生态极重要 -> not suitable for building
    assert ((eco >= 1) & (eco <= 5)).all()
    soil = next(i for i in res.left_out if i["factor"] == "soil")
    # 0.15 of the agricultural weights (1.0 in all): up to ceil(0.15 * 4 / 0.8) = 1 grade
    assert soil["weight_share"] == 0.15 and soil["max_grade_change"] == 1
    assert "grades can differ by up to 1" in soil["message"]


def test_required_factor_missing_is_an_error():
    t = territory()
    t.set_field("land_use__class", np.full((6, 8), CROP, np.uint8))
    with pytest.raises(InputError, match="terrain__elevation"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optional factors left out before the required one
        evaluate(t, load_rules())


def test_unknown_codes_in_a_score_table(tmp_path):
    t = flat_territory()
    r = rules(agricultural_suitability={"name": "a", "factors": [
        {"name": "soil", "source": "soil", "weight": 1, "table": {1: 5}}]})
    soil = np.ones((6, 8), np.float32)
    soil[2, 2] = 7
    with pytest.raises(InputError, match="without a score") as info:
        evaluate(t, r, soil=soil)
    assert "agricultural_suitability.soil.table" in str(info.value) and "[7.0]" in str(info.value)


def test_rule_file_errors(tmp_path):
    raw = yaml.safe_load(open(load_rules.__globals__["resources"].files(
        "scenarios.monitoring") / "evaluation.yaml", encoding="utf-8"))
    raw["evaluations"]["urban_suitability"]["factors"][0]["source"] = "slop"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(InputError, match="unknown source 'slop'") as info:
        load_rules(path)
    assert "bad.yaml" in str(info.value)
    raw["evaluations"]["urban_suitability"]["factors"][0]["source"] = "slope"
    raw["evaluations"]["ecological_importance"]["exclude"] = [
        {"evaluation": "urban_suitability", "min_grade": 5, "grade": 1}]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(InputError, match="graded before it"):
        load_rules(path)


def test_capacity_by_hand():
    t = flat_territory()
    r = EvaluationRules.model_validate({
        "standards": {"construction_land_per_capita_m2": 100, "suitable_grade": 4},
        "evaluations": {"urban_suitability": {"name": "u", "factors": [
            {"name": "land_cover", "source": "land_cover", "weight": 1,
             "groups": {"built": 5, "farmland": 4, "water": 1}}]}}})
    red = np.zeros((6, 8), np.uint8)
    red[1, :4] = 1                          # 4 suitable cropland cells inside a hard line
    t.set_field("control__ecological_red_line", red)
    res = evaluate(t, r)
    areas, cap = summarise(res, t)
    city = cap[cap["level"] == "city"].iloc[0]
    # 48 cells: 1 water (grade 1), 47 suitable, 4 of them in the red line -> 43 ha
    assert city["construction_capacity_ha"] == 43
    assert city["existing_built_ha"] == 8 and city["headroom_ha"] == 35
    assert city["population_capacity"] == 43 * 10_000 / 100
    west = cap[cap["area"] == "West"].iloc[0]
    assert west["construction_capacity_ha"] == 24 - 4
    grades = areas[(areas["level"] == "city")].iloc[0]
    assert grades[["grade_1_ha", "grade_4_ha", "grade_5_ha"]].tolist() == [1, 39, 8]


def test_cli_evaluate(tmp_path):
    from tim.store import load_territory, save_territory

    save_territory(flat_territory(), tmp_path / "tim")
    done = twin("evaluate", "--tim", tmp_path / "tim", "--out", tmp_path / "out",
                "--into-tim", "--red-line-grade", "5", "--lang", "en,zh_CN", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "report.zh_CN.html" in done.stdout
    assert done.stdout.count("factor 'soil' left out") == 1
    m = json.loads((tmp_path / "out/manifest.json").read_text())
    assert m["format"] == "territory-twin/evaluation"
    assert sum(m["evaluations"]["urban_suitability"]["grade_areas_ha"].values()) == 48
    assert "factors/urban_suitability__slope.tif" in m["files"]
    assert (tmp_path / "out/grades/evaluation__urban_suitability.tif").is_file()
    html = (tmp_path / "out/report.html").read_text()
    assert "Carrying capacity" in html and "Urban construction suitability" in html
    assert html.count("data:image/png;base64,") == 3  # one grade map per evaluation
    zh = (tmp_path / "out/report.zh_CN.html").read_text()
    for term in ("双评价", "承载能力", "生态保护重要性", "农业生产适宜性", "城镇建设适宜性", "5级"):
        assert term in zh, term
    assert "Carrying capacity" not in zh and "report.zh_CN.html" in m["files"]
    from html import unescape

    assert "因子“soil”未参与评价" in zh and 'factor "soil" left out' in unescape(html)
    t = load_territory(tmp_path / "tim")
    assert t.fields["evaluation__ecological_importance"].max() <= 5
    assert "control__ecological_red_line" in t.fields
    # a TIM without elevation: the required slope factor fails with one line
    done = twin("evaluate", "--tim", small_tim_path(tmp_path), "--out", tmp_path / "o2",
                cwd=tmp_path)
    assert done.returncode == 2 and "terrain__elevation" in done.stderr


def small_tim_path(tmp_path):
    from tim.store import save_territory

    t = territory()
    t.set_field("land_use__class", np.full((6, 8), CROP, np.uint8))
    return save_territory(t, tmp_path / "flat-tim")


def test_flood_from_a_run_folder_caps_urban_grades(tmp_path):
    from scenarios.monitoring.evaluation import run_evaluation
    from tim.store import save_territory, write_raster

    t = flat_territory()
    save_territory(t, tmp_path / "tim")
    depth = np.zeros((6, 8), np.float32)
    depth[0, 0:3] = 1.5          # 1 m < 1.5 <= 2 m: flood score 2, a limiting factor
    (tmp_path / "run/surge").mkdir(parents=True)
    write_raster(tmp_path / "run/surge/water_depth.tif", depth, t.grid, None)
    with pytest.warns(UserWarning):
        r = run_evaluation(tmp_path / "tim", tmp_path / "out", flood=tmp_path / "run")
    urban = r.grades["urban_suitability"]
    assert (urban[0, 0:3] == 2).all() and urban[0, 3] == 5  # built, flat, dry: 5
    assert not any(i["factor"] == "flood" for i in r.left_out)
    with pytest.raises(InputError, match="no surge"):
        run_evaluation(tmp_path / "tim", tmp_path / "o2", flood=tmp_path / "tim")

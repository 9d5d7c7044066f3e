"""`twin review`: each rule on hand-made proposals over the sample territory (zoning, control
lines, units, plan targets, the Haiwan Bay height rules), bad proposals and rule files."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from scenarios.monitoring.observed import control_lines
from scenarios.monitoring.review import load_review_rules, read_proposals, review
from test_monitoring import twin
from tim.errors import InputError

CRS = "EPSG:4548"
#: Representative points of the sample's zones and lines (tim.sample, seed 20261121).
CBD = (512520.0, 2705822.0)
RED_LINE = (511537.5, 2708837.5)
OUTER_RESIDENTIAL = (514340.0, 2707369.0)


def square(xy, half=50.0):
    return shapely.box(xy[0] - half, xy[1] - half, xy[0] + half, xy[1] + half)


@pytest.fixture(scope="module")
def sample(sample_territory, tmp_path_factory):
    from tim.store import save_territory

    d = tmp_path_factory.mktemp("review")
    save_territory(sample_territory, d / "tim")
    return sample_territory, d


def parcels():
    return gpd.GeoDataFrame({
        "proposal_id": ["ok", "over", "red"], "use": ["09", "10", "07"],
        "far": [3.5, 5.0, 1.0], "height": [100.0, 130.0, 10.0],
        "coverage": [0.45, 0.6, 0.2], "green_ratio": [0.25, 0.1, 0.4]},
        geometry=[square(CBD), square((CBD[0], CBD[1] - 200)), square(RED_LINE)], crs=CRS)


def results(territory, frame, tmp_path, height_rules=None):
    path = tmp_path / "p.gpkg"
    frame.to_file(path)
    rules = load_review_rules()
    props = read_proposals(path, territory, rules)
    hr = None
    if height_rules:
        from scenarios.planning.height_rules import load_rules

        hr = load_rules(height_rules, territory)
    r = review(territory, props, rules, control_lines(territory), height_rules=hr)
    return r, r.results.set_index(["proposal_id", "rule"])


def test_parcel_rules(sample, tmp_path):
    t, _ = sample
    r, res = results(t, parcels(), tmp_path)
    # the CBD (commercial, FAR 4, 120 m; coverage <= 0.5, green >= 0.2 for commercial)
    assert res.loc[("ok", "far"), ["measured", "limit", "result"]].tolist() == [3.5, 4.0, "pass"]
    assert res.loc[("over", "far"), "result"] == "fail"
    assert res.loc[("over", "height"), ["measured", "limit", "result"]].tolist() == \
        [130.0, 120.0, "fail"]
    assert res.loc[("over", "coverage"), ["limit", "result"]].tolist() == [0.5, "fail"]
    assert res.loc[("over", "green_ratio"), ["limit", "result"]].tolist() == [0.2, "fail"]
    assert res.loc[("ok", "use_allowed"), "result"] == "pass"
    assert res.loc[("over", "use_allowed"), "result"] == "fail"  # industry (10) in the CBD
    # inside the ecological red line, and outside the urban development boundary
    assert res.loc[("red", "ecological_red_line"), ["measured", "result"]].tolist() == \
        [100.0, "fail"]
    assert res.loc[("red", "urban_development_boundary"), "result"] == "fail"
    assert res.loc[("ok", "ecological_red_line"), "result"] == "pass"
    # no height rules given: that rule is not checked, not passed
    assert res.loc[("ok", "height_rules"), "result"] == "not checked"
    failed = r.proposals.set_index("proposal_id")
    assert failed.loc["ok", "result"] == "pass"
    assert set(failed.loc["over", "failed_rules"].split(";")) == {
        "use_allowed", "far", "height", "coverage", "green_ratio"}
    assert failed.loc["red", "result"] == "fail"


def test_unit_balance(sample, tmp_path):
    t, _ = sample
    r, res = results(t, parcels(), tmp_path)
    # the red-line parcel's unit has a population cap of 0 (nobody lives in the hills): 1 ha of
    # residential at FAR 1 = 10,000 m2 / 45 m2 per resident = 222.2 new residents -> fail
    rows = r.results[(r.results["proposal_id"] == "red") & (r.results["rule"] == "unit_balance")]
    people = rows[rows["unit_of_measure"] == "persons"].iloc[0]
    unit_id = int(t.fields["planning__unit_id"][t.grid.cell_of(*RED_LINE)])
    target = t.plan.indicators["population"].units[unit_id]
    before = float(t.fields["population__count"][t.fields["planning__unit_id"] == unit_id].sum())
    assert people["measured"] == pytest.approx(before + 10_000 / 45, abs=0.01)
    assert people["limit"] == target
    assert people["result"] == ("pass" if before + 10_000 / 45 <= target else "fail")


def test_height_rules_and_buildings(sample, tmp_path):
    t, _ = sample
    b = gpd.GeoDataFrame({"proposal_id": ["low", "tower"], "use": ["07", "09"],
                          "storeys": [8, 45]},
                         geometry=[square(OUTER_RESIDENTIAL, 10), square(CBD, 12)], crs=CRS)
    r, res = results(t, b, tmp_path, height_rules="haiwan-bay")
    assert res.loc[("low", "height"), ["measured", "limit", "result"]].tolist() == \
        [24.0, 24.0, "pass"]                       # 8 storeys x 3 m, at the zone's 24 m cap
    tower = res.loc[("tower", "height_rules")]
    assert tower["result"] == "fail" and tower["measured"] == 135.0
    assert tower["limit"] < 120 and "approach" in tower["note"].lower()
    assert res.loc[("tower", "far"), "result"] == "not checked"


def test_bad_proposals(sample, tmp_path):
    t, _ = sample
    rules = load_review_rules()
    p = parcels().drop(columns=["green_ratio"])
    p.to_file(tmp_path / "a.gpkg")
    with pytest.raises(InputError, match="needs the attribute 'green_ratio'") as info:
        read_proposals(tmp_path / "a.gpkg", t, rules)
    assert "a.gpkg" in str(info.value)
    b = gpd.GeoDataFrame({"proposal_id": ["x", "y"], "use": ["07", "07"],
                          "height": [10.0, None]}, geometry=[square(CBD)] * 2, crs=CRS)
    b.to_file(tmp_path / "b.gpkg")
    with pytest.raises(InputError, match="has no 'height'") as info:
        read_proposals(tmp_path / "b.gpkg", t, rules)
    assert "proposal y" in str(info.value)


def test_rule_file_naming_an_unknown_field(tmp_path):
    from importlib import resources

    raw = yaml.safe_load((resources.files("scenarios.monitoring") / "review.yaml").read_text())
    far = next(r for r in raw["rules"] if r["id"] == "far")
    far["limit"] = "zone.max_farr"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(InputError, match="unknown limit field 'zone.max_farr'") as info:
        load_review_rules(tmp_path / "r.yaml")
    assert "r.yaml" in str(info.value)
    far["limit"], far["attribute"] = "zone.max_far", "floor_area"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(InputError, match="unknown attribute 'floor_area'"):
        load_review_rules(tmp_path / "r.yaml")
    for rule in raw["rules"]:
        assert rule["source"], rule["id"]  # every packaged rule names its legal source


def test_cli_review_exits_0_with_failures(sample, tmp_path):
    _, d = sample
    parcels().to_file(tmp_path / "p.gpkg")
    done = twin("review", "--tim", d / "tim", "--proposals", tmp_path / "p.gpkg",
                "--height-rules", "haiwan-bay", "--out", tmp_path / "out", "--lang", "zh_CN,en",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 proposals reviewed, 3 fail" in done.stdout  # "ok" breaks the approach surface
    m = json.loads((tmp_path / "out/manifest.json").read_text())
    assert m["format"] == "territory-twin/review" and m["failed"] == 3
    table = pd.read_csv(tmp_path / "out/results.csv")
    assert set(table["result"]) <= {"pass", "fail", "not checked"}
    assert table["source"].str.len().min() > 3
    layer = gpd.read_file(tmp_path / "out/proposals.gpkg", layer="review")
    assert layer.set_index("proposal_id").loc["over", "result"] == "fail"
    zh, en = ((tmp_path / f"out/{n}").read_text() for n in ("report.html", "report.en.html"))
    assert "Compliance review" in en and "Compliance review" not in zh
    for term in ("规划合规审查", "不通过", "法规依据", "生态保护红线"):
        assert term in zh, term
    assert "over" in zh and "red" in zh  # the proposals are named in both


def test_unit_balance_built_up_area_by_hand(tmp_path):
    """6 x 8 cells of 1 ha: the west unit has 6 ha built and a cap of 9 ha; two parcels of
    2 x 1 ha on unbuilt land (one overlapping a built cell) bring it to 6 + 2 + 1 = 9: pass;
    a third brings it to 10: all three fail with the unit's value after all of them."""
    from scenarios.monitoring.observed import ControlLines
    from test_monitoring import BUILT, CROP, territory
    from tim.plan import Plan

    t = territory()
    lu = np.full((6, 8), CROP, np.uint8)
    lu[0, 0:4] = BUILT
    lu[1, 0:2] = BUILT
    t.set_field("land_use__class", lu)
    t.plan = Plan(indicators={"built_up_area": {"unit": "ha", "city": 18,
                                                "units": {1: 9, 2: 9}}})
    x0, y0 = 500000.0, 3000000.0  # the grid's top-left corner; rows go south

    def cells(r, c0, c1):  # a parcel over row r, columns c0..c1-1
        return shapely.box(x0 + 100 * c0, y0 - 100 * (r + 1), x0 + 100 * c1, y0 - 100 * r)

    frame = gpd.GeoDataFrame({"proposal_id": ["a", "b"], "use": ["07", "07"],
                              "far": [1.0, 1.0], "height": [10.0, 10.0],
                              "coverage": [0.2, 0.2], "green_ratio": [0.4, 0.4]},
                             geometry=[cells(2, 0, 2), cells(1, 1, 3)], crs="EPSG:32649")
    rules = load_review_rules()
    frame.to_file(tmp_path / "p.gpkg")
    props = read_proposals(tmp_path / "p.gpkg", t, rules)
    res = review(t, props, rules, ControlLines({})).results
    built = res[(res["rule"] == "unit_balance") & (res["unit_of_measure"] == "ha")]
    assert built["measured"].tolist() == [9.0, 9.0] and set(built["result"]) == {"pass"}
    frame = pd.concat([frame, frame.iloc[[0]].assign(proposal_id="c",
                                                     geometry=[cells(3, 0, 1)])])
    frame.to_file(tmp_path / "p2.gpkg")
    props = read_proposals(tmp_path / "p2.gpkg", t, rules)
    res = review(t, props, rules, ControlLines({})).results
    built = res[(res["rule"] == "unit_balance") & (res["unit_of_measure"] == "ha")]
    assert built["measured"].tolist() == [10.0] * 3 and set(built["result"]) == {"fail"}
    # no zoning in this territory: zone rules are "not checked", never passed silently
    assert set(res.loc[res["rule"] == "far", "result"]) == {"not checked"}

"""``twin review --sunlight DIR``: the compliance review of proposals reports their sunlight check
(``twin sunlight --proposals`` of the same file) - the buildings a tower makes fail and which
reviewed proposal does - and refuses a sunlight folder made for other proposals."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from viz.cli import main

CRS = "EPSG:4548"
#: A residential building of the sample (tim.sample, seed 20261121) with > 3 h of sun before,
#: whose south façade is at y = 2,707,304 m; the tower stands 10 m south of it.
NEIGHBOUR = (514339.0, 2707304.0)


@pytest.fixture(scope="module")
def tim(sample_territory, tmp_path_factory):
    from tim.store import save_territory

    return save_territory(sample_territory, tmp_path_factory.mktemp("tim") / "tim")


def test_review_reports_the_sunlight_of_the_same_proposals(tim, tmp_path, capsys):
    x, y = NEIGHBOUR
    proposals = gpd.GeoDataFrame(
        {"proposal_id": ["T1", "low"], "use": ["07", "07"], "height": [100.0, 6.0]},
        geometry=[shapely.box(x - 15, y - 40, x + 15, y - 10),
                  shapely.box(x + 600, y - 600, x + 610, y - 590)], crs=CRS)
    proposals.to_file(tmp_path / "p.gpkg")
    assert main(["sunlight", str(tim), "--proposals", str(tmp_path / "p.gpkg"), "--no-map",
                 "--out", str(tmp_path / "sun")]) == 0
    sun = json.loads((tmp_path / "sun" / "manifest.json").read_text())
    assert sun["proposals"]["file"].endswith("p.gpkg") and len(sun["proposals"]["sha256"]) == 64
    buildings = pd.read_csv(tmp_path / "sun" / "buildings.csv", dtype={"building_id": str})
    broken = buildings[buildings["broken"]]
    assert len(broken) >= 1
    assert main(["review", "--tim", str(tim), "--proposals", str(tmp_path / "p.gpkg"),
                 "--sunlight", str(tmp_path / "sun"), "--out", str(tmp_path / "out"),
                 "--lang", "en,zh_CN"]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Sunlight hours (日照)" in html and "Buildings the proposals make fail" in html
    for bid in broken["building_id"]:
        assert bid in html
    # the sunlight check names the tower by its own id; the report by the review's
    from scenarios.planning.review import broken_table, open_for_review, proposal_names

    folder = open_for_review(tmp_path / "sun", tmp_path / "p.gpkg")
    table = broken_table(folder, proposal_names(folder, ["T1", "low"]))
    assert set(table["broken_by"]) == {"T1"} and "T1" not in set(broken["broken_by"])
    assert (table["hours_after"] < sun["threshold_hours"]).all()
    zh = (tmp_path / "out" / "report.zh_CN.html").read_text()
    assert "因申报项目而不达标的建筑" in zh
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["inputs"][
        "sunlight"] == str(tmp_path / "sun")
    # the same folder for an edited proposals file is refused before anything is written
    proposals.assign(height=[120.0, 6.0]).to_file(tmp_path / "p.gpkg")
    capsys.readouterr()
    assert main(["review", "--tim", str(tim), "--proposals", str(tmp_path / "p.gpkg"),
                 "--sunlight", str(tmp_path / "sun"), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "--sunlight" in err and "not made for the reviewed proposals" in err
    assert not (tmp_path / "out2").exists()

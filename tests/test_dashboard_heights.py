"""A run's new buildings checked against its height rules (``RUN_DIR/heights``), and the Heights
& views tab's data for any run: the choices, the full violator table, its download and the 3D
count, all read from the same files.

The sample territory's far-up run (the developers build taller) is written once; the check is
verified independently from the zoning layer and the new buildings' GeoPackage.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from scenarios.rundir import RunDirectory, write_run
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario


@pytest.fixture(scope="module")
def run_dir(sample_territory, tmp_path_factory):
    scenario = load_scenario("far-up")
    result = run_scenario(sample_territory, scenario, seed=3)
    return write_run(result, tmp_path_factory.mktemp("run") / "far-up")


def test_a_run_writes_the_height_check_of_its_new_buildings(run_dir, sample_territory):
    run = RunDirectory.open(run_dir)
    assert run.manifest["outputs"]["heights"] == "heights"
    manifest = json.loads((run_dir / "heights" / "manifest.json").read_text())
    assert manifest["kind"] == "height check"
    new = gpd.read_file(run_dir / "buildings_new.gpkg", layer="buildings_new")
    checked = pd.read_csv(run_dir / "heights" / "buildings.csv")
    # Only the new buildings, every one of them.
    assert sorted(checked["building_id"]) == sorted(new["building_id"])
    assert set(checked["source"]) == {"proposed"}
    # Independently: the lowest zoning max_height among the zones a footprint overlaps (as the
    # scenario overrides them: far-up lifts the CBD to 150 m), the default height outside.
    scenario = load_scenario("far-up")
    zoning = sample_territory.layers["zoning"]
    overrides = {z: o.max_height for z, o in scenario.development.zones.items()}
    assert overrides == {"CBD": 150}
    heights = np.array([overrides.get(z, h) for z, h in zip(zoning["zone"], zoning["max_height"])],
                       dtype=float)
    limits = []
    for geom in new.geometry.values:
        shared = shapely.area(shapely.intersection(zoning.geometry.values, geom))
        hit = heights[shared > 1e-4]
        hit = hit[np.isfinite(hit)]
        inside = shapely.area(shapely.difference(
            geom, shapely.union_all(zoning.geometry.values))) > 1e-4
        candidates = list(hit) + ([scenario.development.default_max_height] if inside else [])
        limits.append(min(candidates) if candidates else np.nan)
    expected = pd.Series(limits, index=new["building_id"].to_numpy())
    got = checked.set_index("building_id")["max_height_m"]
    np.testing.assert_allclose(got.reindex(expected.index), expected, atol=1e-3)
    over = (new.set_index("building_id")["height"] - expected) > 1e-3
    violations = pd.read_csv(run_dir / "heights" / "violations.csv")
    assert sorted(violations["building_id"]) == sorted(over[over].index)
    assert manifest["counts"]["violations"] == len(violations)


# -- the tab's data ----------------------------------------------------------------------------
CORRIDOR = "Western hills to the lighthouse"


@pytest.fixture(scope="module")
def corridor_run(sample_territory, tmp_path_factory):
    """far-up bound by the sample's surfaces and view corridor as well."""
    scenario = load_scenario("far-up")
    data = scenario.to_dict()
    data["name"] = "far-up-views"
    data["development"]["height_rules"] = "haiwan-bay"
    from scenarios.schema import Scenario

    result = run_scenario(sample_territory, Scenario.model_validate(data), seed=3)
    return write_run(result, tmp_path_factory.mktemp("run") / "far-up-views")


@pytest.fixture()
def board(run_dir, corridor_run):
    from viz.app import load_dashboard

    return load_dashboard([run_dir, corridor_run])


def test_every_run_with_new_buildings_is_a_choice(board, run_dir, corridor_run):
    from viz.tabs import available_tabs
    from viz.tabs.heights import choice_options, choices

    found = choices(board)
    assert [(c.value, c.run, c.k) for c in found] == [("run:0", 0, 0), ("run:1", 1, 1)]
    assert [c.check.path for c in found] == [run_dir / "heights", corridor_run / "heights"]
    assert [o["label"] for o in choice_options(board)] == [
        f"New buildings of {label}" for label in board.labels]
    # No `twin heights` folder served: the tab is there for the runs' checks alone.
    assert "heights" in [t.key for t in available_tabs(board)]
    corridors = json.loads((corridor_run / "heights" / "rules.geojson").read_text())
    assert CORRIDOR in {f["properties"].get("name") for f in corridors["features"]}
    assert [c.name for c in found[1].check.corridors] == [CORRIDOR]
    assert found[0].check.corridors == ()


def _datatable(children):
    from dash import dash_table

    found = []

    def walk(node):
        if isinstance(node, dash_table.DataTable):
            found.append(node)
        for child in getattr(node, "children", None) or []:
            if not isinstance(child, str):
                walk(child)
        if isinstance(node, list):
            for child in node:
                walk(child)

    walk(children)
    return found


def test_the_violator_table_lists_every_violator_sortable_and_paged(board, corridor_run,
                                                                   tmp_path):
    import shutil

    from viz.app import load_dashboard
    from viz.tabs.heights import PAGE_SIZE, violators_table

    violations = pd.read_csv(corridor_run / "heights" / "violations.csv")
    assert len(violations) > 0
    (table,) = _datatable(violators_table(board, "run:1"))
    assert table.sort_action == "native" and table.page_action == "native"
    assert table.page_size == PAGE_SIZE
    assert [r["building_id"] for r in table.data] == violations["building_id"].tolist()
    assert [r["excess_m"] for r in table.data] == pytest.approx(violations["excess_m"].tolist())
    assert [r["max_height_m"] for r in table.data] == pytest.approx(
        violations["max_height_m"].tolist())
    # More violators than a page (and than the old 15-row cap): every one is in the table.
    copy = tmp_path / "run"
    shutil.copytree(corridor_run, copy)
    many = pd.concat([violations.assign(building_id=violations["building_id"] + f"-{k}")
                      for k in range(PAGE_SIZE // len(violations) + 3)], ignore_index=True)
    assert len(many) > max(PAGE_SIZE, 15)
    many.to_csv(copy / "heights" / "violations.csv", index=False)
    (table,) = _datatable(violators_table(load_dashboard([copy]), "run:0"))
    assert len(table.data) == len(many)
    assert [r["excess_m"] for r in table.data] == sorted(many["excess_m"], reverse=True)


def test_panel_table_and_3d_count_come_from_violations_csv(board, corridor_run, tmp_path):
    """The panel, the table and the 3D legend show the rows of violations.csv: dropping rows
    there changes all three alike (the manifest's count is not what they read)."""
    import shutil

    from viz.app import load_dashboard
    from viz.tabs.heights import scene_spec, summary, violators_table

    full = pd.read_csv(corridor_run / "heights" / "violations.csv")
    assert len(full) > 1
    for k, rows in enumerate((full, full.iloc[: len(full) // 2])):
        copy = tmp_path / f"run{k}"
        shutil.copytree(corridor_run, copy)
        rows.to_csv(copy / "heights" / "violations.csv", index=False)
        board = load_dashboard([copy])
        panel = summary(board, "run:0")
        spec, legend = scene_spec(board, "none", "planning__max_building_height", "run:0")
        count = next(e for e in legend if getattr(e, "id", None) == "heights-3d-count")
        (table,) = _datatable(violators_table(board, "run:0"))
        assert panel.to_plotly_json()["props"]["data-violations"] == len(rows)
        assert spec["sides"][0]["buildings"]["count"] == len(rows)
        assert count.to_plotly_json()["props"]["data-violations"] == len(rows)
        assert len(table.data) == len(rows)
        assert set(spec["sides"][0]["buildings"]["violators"]) == set(
            rows["building_id"].astype(str))


def test_zoom_to_the_corridor_frames_its_wedge(board, corridor_run):
    from viz.tabs.heights import choices, corridor_frame_bounds, limits_figure, scene_spec

    check = choices(board)[1].check
    corridor = check.corridors[0]
    x0, y0, x1, y1 = corridor_frame_bounds(check, corridor)
    wedge = [xy for kind, name, xy in check.outlines(("corridor_foreground",))
             if name == CORRIDOR][0]
    assert (x0 <= wedge[:, 0].min() and wedge[:, 0].max() <= x1
            and y0 <= wedge[:, 1].min() and wedge[:, 1].max() <= y1)
    grid = check.grid
    gx0, gy0, gx1, gy1 = grid.bounds
    assert (x1 - x0) < (gx1 - gx0) or (y1 - y0) < (gy1 - gy0)  # narrower than the territory
    framed = limits_figure(board, CORRIDOR, "planning__view_envelope", "run:1", zoom=True)
    assert list(framed.layout.xaxis.range) == pytest.approx([x0 / 1000, x1 / 1000])
    assert list(framed.layout.yaxis.range) == pytest.approx([y0 / 1000, y1 / 1000])
    whole = limits_figure(board, CORRIDOR, "planning__view_envelope", "run:1", zoom=False)
    assert whole.layout.xaxis.range is None or list(whole.layout.xaxis.range) != list(
        framed.layout.xaxis.range)
    # In 3D each click flies to the corridor again (a new camera key), no server path in it.
    first, _ = scene_spec(board, CORRIDOR, "planning__view_envelope", "run:1", zoom=1)
    again, _ = scene_spec(board, CORRIDOR, "planning__view_envelope", "run:1", zoom=2)
    assert first["camera"]["key"] != again["camera"]["key"]
    assert first["camera"]["key"].endswith(CORRIDOR)
    assert str(corridor_run) not in json.dumps(first, default=str)


def test_downloads_serve_the_tables_of_a_check_and_nothing_else(board, corridor_run):
    from viz.app import create_app

    app = create_app([corridor_run])
    client = app.server.test_client()
    got = client.get("/twin/download/heights/0/violations.csv")
    assert got.status_code == 200
    assert got.data == (corridor_run / "heights" / "violations.csv").read_bytes()
    assert "far-up-views-violations.csv" in got.headers["Content-Disposition"]
    for url in ("/twin/download/heights/0/manifest.json", "/twin/download/heights/1/units.csv",
                "/twin/download/heights/0/rules.geojson"):
        assert client.get(url).status_code == 404, url
    # A path in the key is not this route's (Dash's page answers): never the run's files.
    sneaky = client.get("/twin/download/heights/0/..%2F..%2Fmanifest.json")
    assert sneaky.mimetype == "text/html" or sneaky.status_code == 404
    assert (corridor_run / "manifest.json").read_bytes()[:40] not in sneaky.data
    assert client.get("/twin/limits/0/planning__view_envelope.png").status_code == 200


def test_the_tab_shows_no_server_path_in_either_language(board, run_dir, corridor_run):
    from viz.app import create_app
    from viz.tabs.heights import choice_controls, corridor_box, layout, scene_spec

    server = create_app([run_dir, corridor_run]).server
    for lang in ("en", "zh_CN"):
        with server.test_request_context(f"/?lang={lang}"):
            page = [layout(board), *choice_controls(board, "run:1", CORRIDOR),
                    corridor_box(board, CORRIDOR, "run:1"),
                    scene_spec(board, CORRIDOR, "planning__view_envelope", "run:1")]
        text = json.dumps(page, ensure_ascii=False, default=lambda o: o.to_plotly_json()
                          if hasattr(o, "to_plotly_json") else str(o))
        for folder in (run_dir, corridor_run):
            assert str(folder) not in text and str(folder.parent) not in text
        if lang == "zh_CN":
            assert "超" in text or "限高" in text

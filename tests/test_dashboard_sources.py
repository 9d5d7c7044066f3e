"""What the dashboard reads and what the demo makes for it, without a server: the folder readers
(viz.sources), the new-buildings overlay (scenarios.publish), the demo's synthetic survey and
corridor targets (viz.demo), and the 3D scene's geometry and development state (viz.scene)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from engine.analysis.corridors import ViewCorridor
from tim.errors import InputError, StoreError

CORRIDOR = "Western hills to the lighthouse"


# -- the demo's synthetic survey -------------------------------------------------------------
def test_synthetic_lidar_samples_ground_roofs_and_water(sample_territory, tmp_path):
    from tim.geometry3d import read_laz
    from tim.tiles.buildings import building_base_z
    from viz.demo import synthetic_lidar

    t = sample_territory.copy()
    spacing = 20.0
    cloud = synthetic_lidar(t, tmp_path / "s.laz", spacing=spacing, margin=0.0)
    again = read_laz(tmp_path / "s.laz", t.grid.crs)
    assert np.array_equal(again.ints, cloud.ints)
    assert np.array_equal(again.classification, cloud.classification)
    buildings = t.layers["buildings"]
    x0, y0, x1, y1 = buildings.total_bounds
    # One point per node of the jittered grid over the buildings' bounds.
    assert len(cloud) == len(np.arange(x0, x1, spacing)) * len(np.arange(y0, y1, spacing))
    assert set(np.unique(cloud.classification)) == {2, 6, 9}
    xyz = cloud.xyz
    # Roofs: inside a footprint, at that building's top (base as the tiles place it + height),
    # give or take the survey's 3 cm noise (6 sigma).
    roofs = cloud.classification == 6
    footprints = buildings.geometry.values
    top = building_base_z(t, footprints) + buildings["height"].to_numpy(float)
    # (Stored to the millimetre: a point drawn inside a footprint may now sit 1 mm outside.)
    hit_point, hit_building = shapely.STRtree(footprints).query(
        shapely.points(xyz[roofs, 0], xyz[roofs, 1]), predicate="dwithin", distance=0.002)
    assert len(np.unique(hit_point)) == roofs.sum()
    assert np.abs(xyz[roofs, 2][hit_point] - top[hit_building]).max() < 0.2
    # Ground: bilinear between the four cell centres around it, so within their range.
    ground = cloud.classification == 2
    a, _, c, _, e, f = t.grid.transform
    col = np.floor((xyz[ground, 0] - c) / a - 0.5).astype(int)
    row = np.floor((xyz[ground, 1] - f) / e - 0.5).astype(int)
    z = t.get("terrain__elevation")
    ok = (row >= 0) & (col >= 0) & (row + 1 < z.shape[0]) & (col + 1 < z.shape[1])
    corners = np.stack([z[row[ok] + i, col[ok] + j] for i in (0, 1) for j in (0, 1)])
    measured = xyz[ground, 2][ok]
    assert ok.mean() > 0.99
    assert np.all(measured >= corners.min(axis=0) - 0.2)
    assert np.all(measured <= corners.max(axis=0) + 0.2)
    # Water never lies below the sea surface.
    assert xyz[cloud.classification == 9, 2].min() > -0.2


def test_the_survey_is_added_to_the_tim_as_a_synthetic_ingest(sample_territory, tmp_path):
    from viz.demo import add_survey, synthetic_lidar

    t = sample_territory.copy()
    t.point_clouds = {}
    path = tmp_path / "survey.laz"
    heights = t.layers["buildings"]["height"].to_numpy().copy()
    synthetic_lidar(t, path, spacing=40.0)
    add_survey(t, path)
    assert len(t.point_clouds["points"]) > 0
    entry = [h for h in t.history if h.action == "ingest"][-1]
    assert entry.detail["role"] == "points" and entry.detail["synthetic"] is True
    assert entry.detail["source"] == str(path)
    # Added after the build: the buildings keep the heights of their footprints.
    assert np.array_equal(t.layers["buildings"]["height"].to_numpy(), heights)


def test_corridor_targets_span_the_landmark_at_the_threshold():
    from viz.demo import corridor_targets, slug

    c = ViewCorridor("c", (0.0, 0.0), 50.0, (300.0, 400.0), 20.0, 40.0,
                     background=100.0, landmark_top_z=35.0)
    targets = corridor_targets(c, across=5)
    across, top = np.array(targets[:5]), targets[5]
    assert top == (300.0, 400.0, 35.0)
    assert np.all(across[:, 2] == 20.0)
    # On the line through the landmark square to the axis (3, 4) / 5, symmetric, inside the
    # wedge's width at the landmark (98 % of it, so the outermost lines stay inside).
    offsets = (across[:, :2] - [300.0, 400.0]) @ np.array([-0.8, 0.6])
    along = (across[:, :2] - [300.0, 400.0]) @ np.array([0.6, 0.8])
    assert np.allclose(along, 0.0) and np.allclose(offsets, [-39.2, -19.6, 0, 19.6, 39.2])
    assert slug("Hills: to the 2nd lighthouse!") == "hills-to-the-2nd-lighthouse"


# -- folder readers ----------------------------------------------------------------------------
def test_the_height_check_reads_its_corridors_from_the_rules(demo_output):
    import yaml
    from pyproj import Transformer

    from viz.sources import HeightCheck

    check = HeightCheck.open(demo_output / "heights")
    rules = yaml.safe_load((Path(check.manifest["rules"]["source"])).read_text())
    (spec,) = rules["view_corridors"]
    (corridor,) = check.corridors
    to_crs = Transformer.from_crs("EPSG:4326", check.crs, always_xy=True)
    assert corridor.name == spec["name"] == CORRIDOR
    assert to_crs.transform(*corridor.viewpoint[:2]) == pytest.approx(spec["viewpoint"])
    assert to_crs.transform(*corridor.landmark[:2]) == pytest.approx(spec["landmark"])
    assert corridor.threshold_z == spec["threshold_z"]
    assert corridor.landmark_top_z == spec["landmark_top_z"]
    assert corridor.background is not None and len(corridor.foreground) == 4
    violations = pd.read_csv(demo_output / "heights" / "violations.csv")
    assert len(check.violations) == len(violations) == check.counts["violations"]
    assert list(check.violations["excess_m"]) == sorted(violations["excess_m"], reverse=True)
    assert set(check.violator_points["building_id"]) == set(violations["building_id"])
    with pytest.raises(StoreError, match="no raster"):
        check.raster("planning__nothing")


def test_the_demo_view_is_open_over_the_terrain_and_blocked_by_buildings_over_the_envelope(
        demo_output):
    """The built-in protected view (from the brow of the hills): the ground blocks no line;
    each blocked line is blocked by buildings that rise above the corridor's envelope, i.e.
    violators of that corridor's rule, by no more than their excess over the envelope (the
    lines run on the envelope plane to points on the landmark)."""
    (folder,) = (demo_output / "sightlines").iterdir()
    lines = pd.read_csv(folder / "sightlines.csv")
    blockers = pd.read_csv(folder / "blockers.csv")
    violations = pd.read_csv(demo_output / "heights" / "violations.csv")
    assert not (blockers["building_id"] == "terrain").any()
    assert 0 < (~lines["visible"]).sum() < len(lines)  # a view worth protecting, not lost
    assert set(blockers["sightline"]) == set(lines.index[~lines["visible"]])
    corridor = violations[violations["rule"] == CORRIDOR].set_index("building_id")
    assert set(blockers["building_id"]) <= set(corridor.index)
    for row in blockers.itertuples():
        assert row.lower_by_m <= corridor.loc[row.building_id, "excess_m"] + 1e-3


def test_sightlines_match_the_corridor_they_run_along(demo_output, tmp_path):
    from viz.sources import HeightCheck, SightlineSet

    check = HeightCheck.open(demo_output / "heights")
    (folder,) = (demo_output / "sightlines").iterdir()
    lines = SightlineSet.open(folder)
    (corridor,) = check.corridors
    assert lines.matches(corridor, check.crs)
    assert lines.terrain_blocked() == int(
        (pd.read_csv(folder / "blockers.csv")["building_id"] == "terrain").groupby(
            pd.read_csv(folder / "blockers.csv")["sightline"]).any().sum())
    # Moved 5 m, the viewpoint is another one.
    moved = shutil.copytree(folder, tmp_path / "moved")
    table = pd.read_csv(moved / "sightlines.csv")
    table["viewpoint_x"] += 5.0
    table.to_csv(moved / "sightlines.csv", index=False)
    assert not SightlineSet.open(moved).matches(corridor, check.crs)


def test_ensembles_give_a_probability_per_simulated_year(demo_output):
    from viz.sources import Ensemble

    ensemble = Ensemble.open(demo_output / "ensembles" / "high-growth")
    assert ensemble.probability_years == ensemble.years[1:]
    assert ensemble.probability(ensemble.years[0]) is None
    p = ensemble.probability(ensemble.years[-1])
    assert p.shape == ensemble.grid.shape and 0 <= p.min() and p.max() <= 1
    assert len(ensemble.seeds) == 4 and "ensemble of 4" in ensemble.label


def test_readers_refuse_other_folders(demo_output, tmp_path):
    from viz.sources import Ensemble, HeightCheck, folder_kind

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(StoreError, match="neither a run"):
        folder_kind(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt manifest"):
        folder_kind(tmp_path)
    with pytest.raises(StoreError, match="is a heights folder, not a ensemble"):
        Ensemble.open(demo_output / "heights")
    with pytest.raises(StoreError, match="is a run folder"):
        HeightCheck.open(demo_output / "runs" / "baseline")


# -- new buildings as an overlay tileset -----------------------------------------------------
def test_new_buildings_are_published_as_a_valid_overlay_tileset(demo_output, tmp_path):
    from scenarios.publish import publish_new_buildings
    from scenarios.rundir import RunDirectory
    from tests.validators import split_b3dm, validate_tiles_folder
    from viz.overlays import TilesFolder

    tiles = shutil.copytree(demo_output / "tiles", tmp_path / "tiles",
                            ignore=shutil.ignore_patterns("new-buildings-*", "points"))
    run = demo_output / "runs" / "far-up"
    path = publish_new_buildings(run, tiles)  # the TIM read from the run's manifest
    digest = hashlib.sha256((run / "manifest.json").read_bytes()).hexdigest()[:10]
    name = f"new-buildings-far-up-{digest}"
    assert path == tiles / "overlays" / name / "tileset.json"
    problems, payloads = validate_tiles_folder(path.parent)
    assert problems == [] and payloads > 0
    new = gpd.read_file(run / "buildings_new.gpkg", layer="buildings_new")
    ids, uses = [], []
    for b3dm in path.parent.rglob("*.b3dm"):
        table = split_b3dm(b3dm.read_bytes()).batch_table
        ids += table["id"]
        uses += table["use"]
    assert sorted(ids) == sorted(new["building_id"])
    assert set(uses) <= {"new building", "redevelopment"}
    folder = TilesFolder.open(tiles)
    assert folder.overlay_tileset(name) == f"overlays/{name}/tileset.json"
    baseline = RunDirectory.open(demo_output / "runs" / "baseline")
    from scenarios.publish import new_buildings_overlay

    assert folder.overlay_tileset(new_buildings_overlay(baseline)) is None  # not published
    assert set(folder.parts) == {"buildings", "terrain", "points"}


def test_two_runs_of_one_scenario_publish_two_overlays(demo_output, tmp_path):
    """The same scenario with another seed (or written again) gets its own overlay: each run's
    scene shows its own new buildings, and a run written after publishing shows none."""
    from scenarios.publish import new_buildings_overlay, publish_new_buildings
    from viz.app import load_dashboard

    tiles = shutil.copytree(demo_output / "tiles", tmp_path / "tiles",
                            ignore=shutil.ignore_patterns("new-buildings-*", "points"))
    first = demo_output / "runs" / "far-up"
    second = shutil.copytree(first, tmp_path / "far-up-seed-7")
    manifest = json.loads((second / "manifest.json").read_text())
    manifest["seed"] = 7
    (second / "manifest.json").write_text(json.dumps(manifest))
    a, b = publish_new_buildings(first, tiles), publish_new_buildings(second, tiles)
    assert a.parent.name != b.parent.name and a.is_file() and b.is_file()
    board = load_dashboard([first, second], tiles)
    assert board.new_buildings_tileset(board.runs[0]) == f"overlays/{a.parent.name}/tileset.json"
    assert board.new_buildings_tileset(board.runs[1]) == f"overlays/{b.parent.name}/tileset.json"
    manifest["created"] = "2030-01-01T00:00:00+00:00"  # the run written again
    (second / "manifest.json").write_text(json.dumps(manifest))
    again = load_dashboard([second], tiles)
    assert new_buildings_overlay(again.runs[0]) != b.parent.name
    assert again.new_buildings_tileset(again.runs[0]) is None


def test_a_run_without_new_buildings_has_nothing_to_publish(demo_output, tmp_path):
    from scenarios.publish import publish_new_buildings

    run = shutil.copytree(demo_output / "runs" / "baseline", tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    del manifest["outputs"]["new_buildings"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="no new buildings"):
        publish_new_buildings(run, demo_output / "tiles")


# -- the 3D scene ------------------------------------------------------------------------------
@dataclass
class _Run:
    """Just what :func:`viz.scene.development` reads of a run directory."""

    frame: gpd.GeoDataFrame

    def new_buildings(self):
        return self.frame


def test_development_shows_the_latest_project_on_each_site():
    from viz.scene import development

    site_a, site_b = shapely.box(0, 0, 10, 10), shapely.box(50, 0, 60, 10)
    run = _Run(gpd.GeoDataFrame({
        "building_id": ["P2027-1", "P2030-1", "P2029-2"], "year": [2027, 2030, 2029],
        "kind": ["new", "redevelopment", "new"], "replaces": ["", "B1 B2", None]},
        geometry=[site_a, site_a, site_b], crs="EPSG:4548"))
    assert development(run, 2026).standing == {} and development(run, 2026).built == 0
    early = development(run, 2028)
    assert early.standing == {"P2027-1": "new building"} and early.replaced == ()
    late = development(run, 2030)
    # The 2030 redevelopment replaces the 2027 building on site a and two old ones.
    assert late.standing == {"P2030-1": "redevelopment", "P2029-2": "new building"}
    assert late.replaced == ("B1", "B2") and late.redevelopments == 1
    assert (late.built, late.total) == (3, 3)


def test_the_corridor_in_3d_lies_on_its_envelope(demo_output):
    from pyproj import Transformer

    from scenarios.planning.height_rules import load_rules
    from tim.store import load_territory
    from viz.scene import corridor_entities
    from viz.sources import HeightCheck, SightlineSet

    check = HeightCheck.open(demo_output / "heights")
    (corridor,) = check.corridors
    (folder,) = (demo_output / "sightlines").iterdir()
    geoid = 2.5
    entities = corridor_entities(check, corridor, SightlineSet.open(folder), geoid)
    # The engine's own corridor, bound to the TIM from the rules file.
    territory = load_territory(demo_output / "tim")
    (engine,) = load_rules(check.manifest["rules"]["source"], territory).corridors
    to_crs = Transformer.from_crs("EPSG:4326", check.crs, always_xy=True)
    # The cone: eye height at the viewpoint, the threshold at both corners by the landmark.
    cone = np.array(entities["polygons"][0]["positions"]).reshape(-1, 3)
    assert cone[:, 2] - geoid == pytest.approx(
        [engine.eye_z, engine.threshold_z, engine.threshold_z], abs=1e-6)
    # The background's far corners lie under the line from the eye over the landmark's top.
    back = np.array(entities["polygons"][1]["positions"]).reshape(-1, 3)
    far = engine.eye_z + (engine.landmark_top_z - engine.eye_z) * (
        engine.length + engine.background) / engine.length
    assert back[1:3, 2] - geoid == pytest.approx([far, far], abs=1e-3)
    # Every envelope cell floats at the envelope's height over its centre (ViewCorridor.z_at),
    # and only cells inside the corridor are drawn.
    rects = np.array(entities["cells"]["rects"])
    x, y = to_crs.transform(0.5 * (rects[:, 0] + rects[:, 2]), 0.5 * (rects[:, 1] + rects[:, 3]))
    z = engine.z_at(np.asarray(x), np.asarray(y))
    inside = np.isfinite(z)
    assert inside.mean() > 0.95  # centres on a wedge edge may fall just outside
    assert rects[inside, 4] - geoid == pytest.approx(z[inside], abs=0.01)
    envelope, grid = check.raster("planning__view_envelope")
    assert len(rects) == int(np.isfinite(envelope).sum())  # one corridor: all its cells
    # One line per sightline, green when free; blockers at the building the file names.
    lines = [line for line in entities["lines"] if line["name"].startswith("sightline")]
    table = pd.read_csv(folder / "sightlines.csv")
    assert len(lines) == len(table)
    assert [line["colour"] == "#2e7d32" for line in lines] == list(table["visible"])


def test_the_point_cloud_tiles_stand_where_the_territory_is(demo_output):
    # EPSG:4548 names its axes north, east; the TIM stores easting first. Tiled without
    # telling py3dtiles so, the cloud landed thousands of km away (swapped coordinates).
    from tim.tiles.georef import local_frame
    from tim.store import load_territory

    root = json.loads((demo_output / "tiles" / "tileset.json").read_text())
    parts = {c["content"]["uri"]: np.array(c["boundingVolume"]["box"][:3])
             for c in root["root"]["children"]}
    points = json.loads((demo_output / "tiles" / "points" / "tileset.json").read_text())
    centre = np.array(points["root"]["transform"][12:15]) + np.array(
        points["root"]["boundingVolume"]["box"][:3])
    frame = local_frame(load_territory(demo_output / "tim", layers=False), 0.0)
    assert np.linalg.norm(centre - frame.origin_ecef) < 6000.0  # within the 6 km territory
    assert np.linalg.norm(parts["points/tileset.json"] - parts["buildings/tileset.json"]) < 3000

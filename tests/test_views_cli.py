"""``twin heights``, ``twin sightline`` and ``twin viewshed`` end to end on the sample territory,
Delft (AHN3 DTM + BGT footprints) and Den Haag (a TIM built from the CityJSON LoD2 model by
``twin tim build``), and the exact mesh method on its real LoD2 roofs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TWIN = [sys.executable, "-m", "viz.cli"]


def twin(*args, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*TWIN, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def _zoning(path: Path, zones: list[tuple[str, str, tuple]]) -> None:
    import geopandas as gpd
    import shapely

    gpd.GeoDataFrame({"zone": [z[0] for z in zones], "parcel": [z[1] for z in zones]},
                     geometry=[shapely.box(*z[2]) for z in zones],
                     crs="EPSG:28992").to_file(path)


@pytest.fixture(scope="module")
def sample_tim(sample_catalog, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    twin("tim", "build", "--catalog", sample_catalog, "--out", "tim", cwd=folder)
    return folder


def test_the_three_commands_on_the_sample_territory(sample_tim):
    cwd = sample_tim
    out = twin("heights", "tim", "--rules", "haiwan-bay", "--out", "heights", cwd=cwd).stdout
    manifest = json.loads((cwd / "heights/manifest.json").read_text())
    counts = manifest["counts"]
    assert f"{counts['violations']} of {counts['buildings']} buildings" in out
    violations = pd.read_csv(cwd / "heights/violations.csv")
    assert len(violations) == counts["violations"] > 0
    assert (violations["excess_m"] > 0).all()
    # The CSV holds millimetres: the difference agrees with the excess to rounding (comparing
    # both rounded to cm would split a value such as 0.745 either way).
    np.testing.assert_allclose(violations["height_m"] - violations["max_height_m"],
                               violations["excess_m"], atol=1.5e-3)
    kinds = {r["kind"] for r in manifest["rule_table"]}
    assert kinds == {"zone", "far", "surface", "corridor"}
    styling = json.loads((cwd / "heights/buildings.json").read_text())
    assert sum(v["violation"] for v in styling.values()) == counts["violations"]

    out = twin("sightline", "tim", "--from", "511200,2708900", "--to", "513600,2705600,20",
               "--to", "512488,2705763,75", "--out", "sightlines", cwd=cwd).stdout
    assert "2 sightline(s)" in out
    lines = pd.read_csv(cwd / "sightlines/sightlines.csv")
    blockers = pd.read_csv(cwd / "sightlines/blockers.csv")
    assert len(lines) == 2 and set(blockers["sightline"]) <= {0, 1}
    assert (lines["visible"] == (lines["blockers"].fillna("") == "")).all()

    out = twin("viewshed", "tim", "--observer", "511200,2708900", "--height", "1.6", "--out",
               "view.tif", cwd=cwd).stdout
    sidecar = json.loads((cwd / "view.json").read_text())
    assert sidecar["field"] == "view__visible" and sidecar["seen_cells"] > 0
    assert f"{sidecar['seen_cells']} of {sidecar['cells']} cells" in out


@pytest.mark.parametrize("args, message", [
    (("sightline", "tim", "--from", "500000,2706000", "--to", "512000,2706000"),
     "viewpoint: viewpoint lies outside the territory"),
    (("sightline", "tim", "--from", "511200,2708900,50", "--to", "512000,2706000"),
     "viewpoint: viewpoint is underground"),
    (("sightline", "tim", "--from", "511200,2708900", "--to", "510500,2709500", "--facing",
      "135", "--fov", "90"), "target is behind the viewpoint"),
    (("viewshed", "tim", "--observer", "0,0", "--out", "v.tif"), "observer lies outside"),
    (("heights", "tim", "--rules", "nowhere.yaml"),
     "nowhere.yaml: no such rules file or built-in rules"),
])
def test_bad_input_exits_2_naming_it(sample_tim, args, message):
    done = twin(*args, cwd=sample_tim, ok=False)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_degenerate_and_contradictory_rules_exit_2(sample_tim):
    cwd = sample_tim
    cone = ("view_corridors:\n  - {name: v, viewpoint: [511200, 2708900], eye_height: 1.6, "
            "landmark: [511200, 2708900], threshold_z: 10, half_width: 5}\n")
    (cwd / "cone.yaml").write_text(cone)
    done = twin("heights", "tim", "--rules", "cone.yaml", cwd=cwd, ok=False)
    assert done.returncode == 2 and "cone.yaml: view_corridors.0 (view corridor 'v'): degenerate cone" in \
        done.stderr
    clash = ("zones:\n  layer: planning_units\n  zone_column: district\n  rules:\n"
             "    - {zone: Xicheng 西城, max_height: 60, min_height: 61}\n"
             "    - {zone: Dongcheng 东城}\n")
    (cwd / "clash.yaml").write_text(clash)
    done = twin("heights", "tim", "--rules", "clash.yaml", "--out", "h2", cwd=cwd, ok=False)
    assert done.returncode == 2 and "rules contradict each other" in done.stderr
    assert not (cwd / "h2").exists()


@pytest.fixture(scope="module")
def delft(twin_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("delft")
    src = twin_data / "city" / "delft_ahn3"
    (folder / "catalog.yaml").write_text(
        f"name: Delft centre\ncrs: EPSG:28992\nvertical_datum: NAP\nsources:\n"
        f"  - {{path: {src / 'delft_ahn3_dtm_1m.tif'}, role: elevation}}\n"
        f"  - path: {src / 'delft_bgt_pand_heights.geojson'}\n    role: buildings\n"
        f"    columns: {{height: h_roof_p95, building_id: identificatiebagpnd}}\n")
    twin("tim", "build", "--catalog", "catalog.yaml", "--out", "tim", cwd=folder)
    return folder


def test_the_three_commands_on_delft(delft, twin_data):
    cwd = delft
    _zoning(cwd / "zoning.geojson", [("historic core", "P1", (84808, 447412, 84940, 447642)),
                                     ("east", "P2", (84940, 447412, 85073, 447642))])
    (cwd / "rules.yaml").write_text(
        "name: Delft test rules\nzones:\n  source: zoning.geojson\n  zone_column: zone\n"
        "  parcel_column: parcel\n  rules:\n"
        "    - {zone: historic core, max_height: 11, max_far: 3.0}\n"
        "    - {zone: east, max_height: 13}\n")
    twin("heights", "tim", "--rules", "rules.yaml", "--out", "heights", cwd=cwd)
    b = pd.read_csv(cwd / "heights/buildings.csv")
    # Every building lies in a zone; the limit is 11 or 13 m or the lower where it straddles.
    assert set(b["max_height_m"]) <= {11.0, 13.0}
    assert (b["violation"] == (b["height_m"] > b["max_height_m"] + 1e-3)).all()

    out = twin("sightline", "tim", "--from", "84850,447470", "--to", "84989,447552,15.5",
               "--to", "85050,447600", "--out", "sl", cwd=cwd).stdout
    raster = twin("sightline", "tim", "--from", "84850,447470", "--to", "84989,447552,15.5",
                  "--to", "85050,447600", "--method", "raster", cwd=cwd).stdout
    assert "BLOCKED" in out and "BLOCKED" in raster
    mesh = pd.read_csv(cwd / "sl/blockers.csv")
    assert len(mesh) > 0 and (mesh["lower_by_m"] > 0).all()

    twin("viewshed", "tim", "--observer", "84850,447470", "--out", "tim.tif", cwd=cwd)
    dsm = twin_data / "city/delft_ahn3/delft_ahn3_dsm_1m.tif"
    twin("viewshed", dsm, "--observer", "84850,447470", "--observer", "85000,447600",
         "--out", "dsm.tif", cwd=cwd)
    assert json.loads((cwd / "dsm.json").read_text())["field"] == "view__observer_count"


DEN_HAAG = "city/denhaag_scheveningen/DenHaag_01_v2.city.json"
#: On the dune at the tile's seaward (north-west) end, looking inland over the town: the
#: CityJSON TIN, the TIM's terrain, covers it.
VIEWPOINT = (78400.0, 458150.0)


@pytest.fixture(scope="module")
def denhaag(twin_data, tmp_path_factory):
    from tim.store import load_territory

    folder = tmp_path_factory.mktemp("denhaag")
    twin("tim", "build", twin_data / DEN_HAAG, "--cell-size", "1", "--out", "tim", cwd=folder)
    return folder, load_territory(folder / "tim")


def test_the_three_commands_on_den_haag(denhaag):
    cwd, territory = denhaag
    layer = territory.layers["buildings"]
    x, y = VIEWPOINT
    _zoning(cwd / "zoning.geojson", [("Scheveningen", "S", territory.grid.bounds)])
    (cwd / "rules.yaml").write_text(
        "name: Scheveningen\nzones:\n  source: zoning.geojson\n  zone_column: zone\n"
        "  rules:\n    - {zone: Scheveningen, max_height: 20}\n"
        f"view_corridors:\n  - {{name: Dune to the tower, viewpoint: [{x}, {y}], "
        "eye_height: 1.6, landmark: [78490, 458029], threshold_height: 15, half_width: 10}\n")
    twin("heights", "tim", "--rules", "rules.yaml", "--out", "heights", cwd=cwd)
    b = pd.read_csv(cwd / "heights/buildings.csv")
    tall = layer.loc[layer["height"] > 20.0 + 1e-3, "building_id"]
    assert set(b.loc[b["rule"] == "zone Scheveningen: max height"]
               .query("violation")["building_id"]) == set(tall) != set()
    corridor = b[b["rule"] == "Dune to the tower"]
    assert len(corridor) > 0
    assert json.loads((cwd / "heights/manifest.json").read_text())["rasters"][
        "planning__view_envelope"]
    twin("sightline", "tim", "--from", f"{x},{y}", "--to", "78490,458029,30", "--to",
         "78900,457700", "--out", "sl", cwd=cwd)
    twin("viewshed", "tim", "--observer", f"{x},{y}", "--out", "v.tif", cwd=cwd)


def test_lowering_lod2_blockers_by_the_reported_amount_frees_the_line(denhaag):
    """Real LoD2 roofs (gables, hips): the amount a blocker must come down is computed from
    plane sections; the ray cast - an independent judge - must agree that the line is free of
    that building once it is lowered by that amount plus 1 cm, and blocked by it at 5 cm less.
    """
    from engine.analysis.sightlines import Point
    from scenarios.planning.sightlines import BuildingScene, point_at
    from tim.tiles.lod2 import territory_surface_mesh

    _, territory = denhaag
    layer = territory.layers["buildings"]
    mesh, drawn, semantic = territory_surface_mesh(territory, layer)
    assert drawn.all() and semantic.all()  # every building has its semantic LoD2 surfaces
    corners = mesh.positions  # one vertex per triangle corner: buildings move alone
    ids = layer["building_id"].tolist()

    def scene(shift: dict[int, float]) -> BuildingScene:
        moved = corners.copy()
        for label, dz in shift.items():
            moved[mesh.vertex_building == label, 2] -= dz
        return BuildingScene.from_triangles(moved, mesh.triangles, mesh.triangle_building, ids)

    top = np.full(len(layer), -np.inf)
    np.maximum.at(top, mesh.vertex_building, corners[:, 2])
    eye = point_at(territory, *VIEWPOINT, None, 1.6, "viewpoint")
    rng = np.random.default_rng(1)
    picks = rng.choice(len(layer), 40, replace=False)
    targets, labels = [], []
    for i in picks:  # the middle of each picked building, at its highest point
        c = layer.geometry.iloc[i].representative_point()
        targets.append(Point(c.x, c.y, float(top[i])))
        labels.append(int(i))
    base = scene({})
    found = base.sightlines(eye, targets, target_labels=labels)
    # Embree's first pass only skips sightlines no building touches: the same blockers.
    assert base.sightlines(eye, targets, target_labels=labels, use_embree=False) == found
    # The scene `twin sightline` builds from the TIM is this one.
    assert BuildingScene.from_territory(territory).sightlines(
        eye, targets, target_labels=labels) == found
    assert sum(map(len, found)) > 20
    checked = 0
    for k, blockers in enumerate(found):
        for b in blockers[:2]:
            if b.lower_by < 0.1:
                continue
            down = scene({b.label: b.lower_by + 0.01}).sightlines(eye, [targets[k]],
                                                                  target_labels=[labels[k]])
            assert b.label not in {x.label for x in down[0]}
            still = scene({b.label: b.lower_by - 0.05}).sightlines(eye, [targets[k]],
                                                                   target_labels=[labels[k]])
            assert b.label in {x.label for x in still[0]}
            checked += 1
            if checked >= 12:
                return
    assert checked >= 5, f"only {checked} blockers to check"

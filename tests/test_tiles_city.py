"""3D Tiles of real cities: Den Haag (LoD2 CityJSON + TIN terrain), Delft (LAZ points, BGT
footprints with LiDAR heights, the 3dfier OBJ), checked independently of the writer.

Positions are decoded with pygltflib (b3dm) or from the pnts feature table, taken through the
tile transforms and CesiumJS's Y-up -> Z-up rotation (helpers of ``test_tiles``), and compared
with the TIM's own data transformed by pyproj straight from RD New to ECEF.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from test_tiles import TileRecord, inside_box, to_ecef, walk
from validators import validate_tiles_folder, validators_missing

RD = "EPSG:28992"
MM, CM = 0.001, 0.01


def _transformer(source: str, target: str) -> Any:
    """pyproj between RD New (2D: z passes as the WGS 84 ellipsoidal height, the tiles'
    convention, tim.tiles.georef) and ECEF / WGS 84 3D."""
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def rd_to_ecef(xyz: np.ndarray, geoid: float = 0.0) -> np.ndarray:
    t = _transformer(RD, "EPSG:4978")
    return np.column_stack(t.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2] + geoid))


def ecef_to_rd(xyz: np.ndarray) -> np.ndarray:
    return np.column_stack(_transformer("EPSG:4978", RD).transform(*xyz.T))


def b3dm_world(record: TileRecord) -> tuple[np.ndarray, Any]:
    content = record.content
    return to_ecef(record.frame, content.in_tile_frame()), content


def pnts_world(record: TileRecord) -> np.ndarray:
    data = record.path.read_bytes()
    _, _, _, ft_json, ft_bin, _, _ = struct.unpack("<4s6I", data[:28])
    table = json.loads(data[28:28 + ft_json])
    body = data[28 + ft_json:28 + ft_json + ft_bin]
    n = table["POINTS_LENGTH"]
    xyz = np.frombuffer(body, np.float32, n * 3, table["POSITION"]["byteOffset"]).reshape(n, 3)
    xyz = xyz.astype(float) + np.asarray(table.get("RTC_CENTER", [0, 0, 0]))
    return to_ecef(record.frame, xyz)


def extent_gap(box: list[float], points: np.ndarray) -> np.ndarray:
    """Per box face, the distance from the face to the nearest data point along its axis."""
    centre, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    half = np.linalg.norm(axes, axis=1)
    along = (points - centre) @ (axes / half[:, None]).T
    return np.concatenate([half - along.max(axis=0), half + along.min(axis=0)])


needs_validators = pytest.mark.skipif(validators_missing() is not None,
                                      reason=validators_missing() or "")


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def denhaag(city, tmp_path_factory):
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec
    from tim.tiles import write_tiles

    t = build_territory([SourceSpec(path=city / "denhaag_scheveningen/DenHaag_01_v2.city.json",
                                    role="city_model")], cell_size=4.0)
    out = tmp_path_factory.mktemp("denhaag") / "tiles"
    summary = write_tiles(t, out)
    return t, out, summary, walk(out / "tileset.json")


@pytest.fixture(scope="module")
def delft(city, tmp_path_factory):
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec
    from tim.tiles import write_tiles

    d = city / "delft_ahn3"
    t = build_territory([SourceSpec(path=d / "ahn3_cropped_1.laz", role="points"),
                         SourceSpec(path=d / "ahn3_cropped_2.laz", role="points"),
                         SourceSpec(path=d / "bgt_pand.sqlite", role="buildings"),
                         SourceSpec(path=d / "testarea.obj", role="mesh")],
                        crs="EPSG:7415", cell_size=2.0)
    out = tmp_path_factory.mktemp("delft") / "tiles"
    summary = write_tiles(t, out, point_jobs=2)
    return t, out, summary, walk(out / "tileset.json")


# -- Den Haag -----------------------------------------------------------------------------------
@needs_validators
def test_denhaag_tiles_are_valid(denhaag):
    _, out, summary, _ = denhaag
    problems, payloads = validate_tiles_folder(out)
    assert problems == [] and payloads == summary.parts["buildings"].content_tiles + \
        summary.parts["terrain"].content_tiles


def test_denhaag_root_box_is_within_a_metre_of_the_data(denhaag):
    """Root bounding volume vs the data's extent on the globe: every building vertex and every
    terrain cell centre that can be drawn inside, and each face of the box within 1 m of the
    data. (A cell with data but no complete 2 x 2 block of data around it makes no triangle.)"""
    import shapely

    t, _, _, records = denhaag
    surfaces = t.layers["building_surfaces"].geometry.values
    building_xyz = shapely.get_coordinates(surfaces, include_z=True)
    z = t.fields["terrain__elevation"]
    xc, yc = t.grid.cell_centres()
    xx, yy = np.meshgrid(xc, yc)
    finite = np.isfinite(z)
    quad = finite[:-1, :-1] & finite[1:, :-1] & finite[:-1, 1:] & finite[1:, 1:]
    ok = np.zeros_like(finite)
    for dr in (0, 1):
        for dc in (0, 1):
            ok[dr:dr + quad.shape[0], dc:dc + quad.shape[1]] |= quad
    terrain_xyz = np.column_stack([xx[ok], yy[ok], z[ok]])
    world = rd_to_ecef(np.concatenate([building_xyz, terrain_xyz]))
    box = records[0].tile["boundingVolume"]["box"]
    assert inside_box(box, world, MM).all()
    # Coarser terrain levels also draw cells whose full-resolution neighbours have no data
    # (their quads span two or more cells), so the box's faces are compared with everything
    # drawn: the decoded vertices of every tile (each checked against the TIM's data in the
    # tests below).
    drawn = np.concatenate([b3dm_world(r)[0] for r in records if r.path is not None])
    assert inside_box(box, drawn, MM).all()
    assert extent_gap(box, np.concatenate([world, drawn])).max() < 1.0
    # and each child tileset's box in the root around its own data
    children = {r.tile["content"]["uri"]: r for r in records if r.depth == 1}
    b = children["buildings/tileset.json"].tile["boundingVolume"]["box"]
    assert inside_box(b, rd_to_ecef(building_xyz), MM).all()
    assert extent_gap(b, rd_to_ecef(building_xyz)).max() < 1.0


def test_denhaag_lod2_vertices_are_the_cityjson_vertices(denhaag):
    import shapely
    from scipy.spatial import cKDTree

    t, _, summary, records = denhaag
    surfaces = t.layers["building_surfaces"]
    per_building = {bid: shapely.get_coordinates(g.values, include_z=True)
                    for bid, g in surfaces.groupby("building_id").geometry}
    seen = []
    triangles = 0
    for record in records:
        if record.path is None or "buildings" not in str(record.path):
            continue
        world, content = b3dm_world(record)
        rd = ecef_to_rd(world)
        ids = np.array(content.batch_table["id"])[content.batch_ids.astype(np.int64)]
        for bid in np.unique(ids):
            distance, _ = cKDTree(per_building[bid]).query(rd[ids == bid])
            assert distance.max() < CM, bid
        assert set(content.batch_table["lod"]) == {2}
        seen += content.batch_table["id"]
        triangles += len(content.indices) // 3
    assert sorted(seen) == sorted(t.layers["buildings"]["building_id"])  # each exactly once
    assert triangles == summary.triangles == 35_588  # PROVENANCE: 35,588 building triangles


def test_denhaag_batch_tables_carry_the_building_properties(denhaag):
    t, _, _, records = denhaag
    layer = t.layers["buildings"].set_index("building_id")
    for record in records:
        if record.path is None or "buildings" not in str(record.path):
            continue
        table = record.content.batch_table
        assert set(table) == {"id", "height", "use", "height_source", "storeys",
                              "planning_unit", "zone", "lod"}
        rows = layer.loc[table["id"]]
        np.testing.assert_allclose(table["height"], rows["height"])
        assert set(table["height_source"]) == {"cityjson"}
        assert table["storeys"] == rows["storeys"].tolist()
        assert set(table["planning_unit"]) == {0} and set(table["zone"]) == {""}


def test_terrain_levels_replace_and_errors_bound_the_drawn_surface(denhaag):
    from tim.rasterize import rasterize_tin

    t, _, _, records = denhaag
    z = t.fields["terrain__elevation"]
    terrain = [r for r in records if r.depth >= 1 and "terrain" in str(
        r.path or "") or r.tile.get("refine") == "REPLACE"]
    assert terrain and all(r.tile["refine"] == "REPLACE" for r in terrain)
    for record in terrain:
        kids = [r for r in terrain if r.parent is record]
        for kid in kids:
            assert record.tile["geometricError"] >= kid.tile["geometricError"]
        if record.path is None:
            continue
        world, content = b3dm_world(record)
        rd = ecef_to_rd(world)
        drawn = rasterize_tin(rd, content.indices.reshape(-1, 3), t.grid)
        diff = np.abs(drawn - z)
        assert np.nanmax(diff) <= record.tile["geometricError"] + MM
        if not kids:  # leaves: full resolution, vertices on the cell centres' elevations
            assert record.tile["geometricError"] == 0 and np.nanmax(diff) < MM
    assert max(r.tile["geometricError"] for r in terrain) > 0.1  # the coarse levels do differ


def test_geoid_height_lifts_every_vertex_exactly(denhaag, tmp_path):
    from tim.tiles import write_tiles

    t, out, _, records = denhaag
    lifted = write_tiles(t, tmp_path / "lifted", parts=("buildings",), geoid_height=43.0)
    extras = json.loads((tmp_path / "lifted/tileset.json").read_text())["asset"]["extras"]
    assert extras["geoidHeight"] == 43.0 and "43 m" in extras["heights"]
    assert extras["verticalDatum"] == "NAP height"
    import shapely

    z = shapely.get_coordinates(t.layers["building_surfaces"].geometry.values,
                                include_z=True)[:, 2]
    assert lifted.height_range == pytest.approx((z.min() + 43.0, z.max() + 43.0), abs=1e-9)
    new = walk(tmp_path / "lifted/tileset.json")
    first_old = next(r for r in records if r.path and "buildings" in str(r.path))
    first_new = next(r for r in new if r.path and r.path.name == first_old.path.name)
    geodetic = _transformer("EPSG:4978", "EPSG:4979")
    h_old = geodetic.transform(*b3dm_world(first_old)[0].T)[2]
    h_new = geodetic.transform(*b3dm_world(first_new)[0].T)[2]
    np.testing.assert_allclose(np.asarray(h_new) - np.asarray(h_old), 43.0, atol=MM)


# -- Delft: points, LiDAR heights, mesh --------------------------------------------------------
@needs_validators
def test_delft_tiles_are_valid(delft):
    _, out, summary, _ = delft
    problems, payloads = validate_tiles_folder(out)
    assert problems == []
    assert set(summary.parts) == {"buildings", "terrain", "points", "meshes/testarea"}


def test_delft_points_are_the_laz_points(delft):
    from scipy.spatial import cKDTree

    t, out, summary, records = delft
    cloud = t.point_clouds["points"]
    pnts = [r for r in records if r.path is not None and r.path.suffix == ".pnts"]
    world = np.concatenate([pnts_world(r) for r in pnts])
    assert len(cloud) == summary.parts["points"].points == 848_942
    # py3dtiles spreads the points over its octree; its root tile holds a coarse preview (a
    # few thousand points snapped to a voxel grid, well within that tile's geometric error).
    # Every other drawn point is a LAZ point, and every LAZ point is drawn, to float32
    # precision.
    laz = cKDTree(cloud.xyz)
    for record in pnts:
        distance, _ = laz.query(ecef_to_rd(pnts_world(record)))
        tileset_root = record.parent.tile.get("content", {}).get("uri", "").endswith(".json")
        limit = record.tile["geometricError"] if tileset_root else CM
        assert distance.max() < limit, record.path.name
    drawn = cKDTree(ecef_to_rd(world))
    rng = np.random.default_rng(0)
    distance, _ = drawn.query(cloud.xyz[rng.choice(len(cloud), 20_000, replace=False)])
    assert distance.max() < CM
    child = next(r for r in records if r.depth == 1 and
                 r.tile["content"]["uri"] == "points/tileset.json")
    assert inside_box(child.tile["boundingVolume"]["box"], world, MM).all()
    assert extent_gap(child.tile["boundingVolume"]["box"], world).max() < 1.0
    classes = json.loads((out / "points/tileset.json").read_text())
    assert classes["asset"]["extras"]["verticalDatum"] == "NAP height"


def test_delft_buildings_get_lidar_heights_and_the_mesh_its_parts(delft):
    t, _, summary, records = delft
    layer = t.layers["buildings"]
    assert (layer["height_source"] == "lidar").all() and len(layer) == 160
    # PROVENANCE: LiDAR roof heights of these footprints run 2.25 to 13.82 m
    assert layer["height"].between(2.0, 14.5).all()
    parts = set()
    for record in records:
        if record.path is not None and "meshes" in str(record.path):
            parts |= set(record.content.batch_table["part"])
    assert parts == set(t.meshes["testarea"].part_names)
    assert summary.parts["meshes/testarea"].triangles > 28_000


# -- overlays and atomicity --------------------------------------------------------------------
def test_overlays_publish_without_retiling(denhaag, tmp_path):
    import shutil

    import geopandas as gpd
    import pandas as pd
    import shapely

    from tim.tiles.overlay import read_feature_properties, write_feature_properties, \
        write_overlay_buildings

    t, out, _, _ = denhaag
    tiles = tmp_path / "tiles"
    shutil.copytree(out, tiles)
    before = {p: p.stat().st_mtime_ns for p in tiles.rglob("*") if p.is_file()}
    ids = t.layers["buildings"]["building_id"].to_numpy()[:10]
    path = write_feature_properties(tiles, "surge", pd.DataFrame(
        {"building_id": ids, "depth_m": np.linspace(0, 0.9, 10)}), {"depth_m": "m"})
    data = read_feature_properties(path)
    assert data["features"][ids[9]]["depth_m"] == pytest.approx(0.9)
    assert data["properties"]["depth_m"] == {"units": "m", "min": 0.0, "max": 0.9, "count": 10}
    x, y = t.layers["buildings"].geometry.iloc[0].centroid.coords[0]
    plan = gpd.GeoDataFrame({"building_id": ["new-1"], "height": [30.0],
                             "height_source": ["plan"], "storeys": [10], "use": ["office"]},
                            geometry=[shapely.box(x, y, x + 20, y + 15)], crs=RD)
    overlay = write_overlay_buildings(t, plan, tiles, "plan")
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after == before  # the base tiles were not rewritten
    index = json.loads((tiles / "overlays/index.json").read_text())["overlays"]
    assert index["surge"]["kind"] == "feature-properties" and index["plan"]["kind"] == "tileset"
    base = json.loads((tiles / "buildings/tileset.json").read_text())["root"]["transform"]
    assert json.loads(overlay.read_text())["root"]["transform"] == base
    if validators_missing() is None:
        problems, _ = validate_tiles_folder(tiles / "overlays" / "plan")
        assert problems == []


def test_zoning_overlay_reports_the_height_excess(tmp_path):
    import geopandas as gpd
    import shapely

    from tim.classes import DEFAULT_CLASSES
    from tim.model import Grid, Territory
    from tim.tiles import write_tiles

    t = Territory(Grid(RD, (10.0, 0.0, 85000.0, 0.0, -10.0, 447100.0), (10, 10)),
                  DEFAULT_CLASSES)
    t.add_layer("buildings", gpd.GeoDataFrame(
        {"building_id": ["a", "b"], "height": [9.0, 21.0], "height_source": ["attribute"] * 2,
         "storeys": [3, 7], "use": ["residential"] * 2, "zone": ["R", "R"]},
        geometry=[shapely.box(85010, 447010, 85020, 447020),
                  shapely.box(85050, 447050, 85060, 447060)], crs=RD))
    t.add_layer("zoning", gpd.GeoDataFrame({"zone": ["R"], "max_height": [15.0], "max_far": [2.0]},
                                           geometry=[shapely.box(85000, 447000, 85100, 447100)],
                                           crs=RD))
    summary = write_tiles(t, tmp_path / "tiles")
    assert summary.overlays == ("overlays/zoning.json",)
    data = json.loads((tmp_path / "tiles/overlays/zoning.json").read_text())
    assert data["features"]["a"]["height_excess_m"] == -6.0
    assert data["features"]["b"]["height_excess_m"] == 6.0  # 21 m against a 15 m limit


def test_a_failing_point_conversion_leaves_the_tiles_untouched(delft, tmp_path, monkeypatch):
    from tim.errors import TwinError
    from tim.tiles import points, write_tiles

    t, _, _, _ = delft
    out = tmp_path / "tiles"
    out.mkdir()
    (out / "keep.txt").write_text("previous export")

    def broken(*args, **kwargs):
        raise TwinError("py3dtiles convert failed (exit 1): simulated")

    monkeypatch.setattr(points, "convert_points", broken)
    with pytest.raises(TwinError, match="simulated"):
        write_tiles(t, out)
    assert (out / "keep.txt").read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiles"]


# -- 3D Tiles 1.1 form of the real cities -----------------------------------------------------
@needs_validators
@pytest.mark.parametrize("place", ["denhaag", "delft"])
def test_the_cities_in_11_form_are_valid(place, request, tmp_path):
    """LoD2 roofs and a TIN terrain (Den Haag), LiDAR-height buildings, a grid terrain and a
    mesh with parts (Delft) as glb with EXT_mesh_features + EXT_structural_metadata, the
    buildings implicit: the 1.1 schemas, glTF-Validator and the structural checks. (The point
    cloud stays pnts in either form; its 1.0 tiles are checked above.)"""
    from tim.tiles import write_tiles

    territory = request.getfixturevalue(place)[0]
    parts = tuple(p for p in ("buildings", "terrain", "meshes")
                  if p != "meshes" or territory.meshes.keys() - {"terrain"})
    summary = write_tiles(territory, tmp_path / "tiles", parts=parts, version="1.1")
    problems, payloads = validate_tiles_folder(tmp_path / "tiles")
    assert problems == []
    assert payloads == sum(p.content_tiles for p in summary.parts.values()) > 0
    assert not list((tmp_path / "tiles").rglob("*.b3dm"))

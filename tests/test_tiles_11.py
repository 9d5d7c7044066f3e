"""3D Tiles 1.1 output (``write_tiles(..., version="1.1")``, ``twin tiles --spec-version 1.1``):
glb content with EXT_mesh_features + EXT_structural_metadata, the buildings as an implicit
quadtree with several subtrees; the official 1.1 schemas, glTF-Validator and the project's
structural checks (every child inside its parent, every content inside its tile), read back
with a subtree reader of the tests' own. And the point cloud's boxes nest (issue 17, item 6).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tim.tiles import write_tiles
from validators import (Y_UP_TO_Z_UP, parse_subtree, schemas_11_missing, split_glb, structure_problems,
                        tile_nodes, validate_glbs, validate_json_11, validate_pnts,
                        validate_tiles_folder, validators_missing)

needs_validators = pytest.mark.skipif(bool(validators_missing() or schemas_11_missing()),
                                      reason=str(validators_missing() or schemas_11_missing()))
#: Small tiles and two levels per subtree, so that the sample city needs several subtrees.
MAX_PER_TILE, SUBTREE_LEVELS = 60, 2


@pytest.fixture(scope="module")
def tiles11(sample_territory, tmp_path_factory) -> tuple[Any, Path, Any]:
    out = tmp_path_factory.mktemp("tiles11") / "tiles"
    summary = write_tiles(sample_territory, out, parts=("buildings", "terrain"), version="1.1",
                          max_buildings_per_tile=MAX_PER_TILE, subtree_levels=SUBTREE_LEVELS)
    return sample_territory, out, summary


def property_column(glb: bytes, name: str) -> list[Any]:
    """One column of a glb's first property table, decoded (strings, numbers)."""
    gltf, binary = split_glb(glb)
    metadata = gltf["extensions"]["EXT_structural_metadata"]
    table = metadata["propertyTables"][0]
    kind = metadata["schema"]["classes"][table["class"]]["properties"][name]
    if name not in table["properties"]:  # an optional string column without any text
        assert kind["type"] == "STRING"
        return [""] * table["count"]
    column, views = table["properties"][name], gltf["bufferViews"]
    values = views[column["values"]]
    if kind["type"] == "STRING":
        offsets = np.frombuffer(binary, np.uint32, table["count"] + 1,
                                views[column["stringOffsets"]]["byteOffset"])
        raw = binary[values["byteOffset"]:values["byteOffset"] + values["byteLength"]]
        return [raw[a:b].decode() for a, b in zip(offsets[:-1], offsets[1:])]
    dtype = {"FLOAT64": np.float64, "INT32": np.int32}[kind["componentType"]]
    return np.frombuffer(binary, dtype, table["count"], values["byteOffset"]).tolist()


@needs_validators
def test_the_11_tiles_pass_the_schemas_gltf_validator_and_the_structure(tiles11):
    _, out, summary = tiles11
    problems, payloads = validate_tiles_folder(out)
    assert problems == []
    glbs = sorted(out.rglob("*.glb"))
    assert payloads == len(glbs) == summary.parts["buildings"].content_tiles + \
        summary.parts["terrain"].content_tiles
    assert not list(out.rglob("*.b3dm"))
    for path in out.rglob("tileset.json"):
        tileset = json.loads(path.read_text())
        assert tileset["asset"]["version"] == "1.1"
        assert validate_json_11(tileset, "tileset.schema.json") == []
    reports = validate_glbs([p.read_bytes() for p in glbs])
    assert [(r["numErrors"], r["numWarnings"]) for r in reports] == [(0, 0)] * len(glbs)


def test_the_buildings_are_an_implicit_quadtree_of_several_subtrees(tiles11):
    _, out, summary = tiles11
    tileset = json.loads((out / "buildings" / "tileset.json").read_text())
    tiling = tileset["root"]["implicitTiling"]
    assert tiling["subdivisionScheme"] == "QUADTREE"
    assert tiling["subtreeLevels"] == SUBTREE_LEVELS
    assert tiling["availableLevels"] > 2 * SUBTREE_LEVELS  # three subtree levels at least
    assert "children" not in tileset["root"]
    subtrees = sorted((out / "buildings" / "subtrees").rglob("*.subtree"))
    assert len(subtrees) > 4
    for path in subtrees:
        parse_subtree(path.read_bytes())  # lengths, padding and alignment
    nodes = tile_nodes(out / "buildings" / "tileset.json")
    listed = {n.content for n in nodes if n.content is not None}
    assert listed == set((out / "buildings" / "content").rglob("*.glb"))
    assert len(nodes) == summary.parts["buildings"].tiles
    assert structure_problems(out / "buildings" / "tileset.json") == []


def test_every_building_is_in_one_property_table_with_its_attributes(tiles11):
    territory, out, _ = tiles11
    ids, heights, zones = [], [], []
    for path in (out / "buildings" / "content").rglob("*.glb"):
        glb = path.read_bytes()
        ids += property_column(glb, "id")
        heights += property_column(glb, "height")
        zones += property_column(glb, "zone")
        gltf, binary = split_glb(glb)
        primitive = gltf["meshes"][0]["primitives"][0]
        features = primitive["extensions"]["EXT_mesh_features"]["featureIds"][0]
        assert features == {"featureCount": len(property_column(glb, "id")), "attribute": 0,
                            "propertyTable": 0}
    layer = territory.layers["buildings"].set_index("building_id")
    assert sorted(ids) == sorted(layer.index) and len(set(ids)) == len(ids)
    np.testing.assert_array_equal(heights, layer.loc[ids, "height"].to_numpy(float))
    assert zones == [str(z) for z in layer.loc[ids, "zone"]]


def test_a_tile_straddled_by_buildings_keeps_them_and_lends_them_to_no_child(tiles11):
    """The loose quadtree: a building is in the deepest tile that holds it whole, so some
    parents have content; none of those buildings would fit in one of their quarters."""
    _, out, _ = tiles11
    nodes = tile_nodes(out / "buildings" / "tileset.json")
    with_children = {id(n.parent) for n in nodes if n.parent is not None}
    parents = [n for n in nodes if n.content is not None and id(n) in with_children]
    assert parents  # buildings straddle the quarters' dividing lines somewhere
    for node in parents:  # and each of their buildings straddles one of the tile's midlines
        xyz, feature = vertices_and_features(node.content.read_bytes())
        cx, cy = node.box[0], node.box[1]
        for k in np.unique(feature):
            x, y = xyz[feature == k, 0], xyz[feature == k, 1]
            assert x.min() < cx < x.max() or y.min() < cy < y.max(), (node.where, k)


def vertices_and_features(glb: bytes) -> tuple[np.ndarray, np.ndarray]:
    """A glb's positions in the tile's frame (its node matrix and the client's Y-up to Z-up
    turn applied) and each vertex's feature id."""
    gltf, binary = split_glb(glb)
    primitive = gltf["meshes"][0]["primitives"][0]

    def read(name: str, width: int) -> np.ndarray:
        accessor = gltf["accessors"][primitive["attributes"][name]]
        view = gltf["bufferViews"][accessor["bufferView"]]
        return np.frombuffer(binary, np.float32, accessor["count"] * width,
                             view["byteOffset"]).reshape(accessor["count"], width)

    node = np.array(gltf["nodes"][0]["matrix"], float).reshape(4, 4).T  # ENU -> glTF's Y-up
    full = Y_UP_TO_Z_UP @ node  # and back, as a client reads it
    xyz = read("POSITION", 3).astype(float) @ full[:3, :3].T + full[:3, 3]
    return xyz, read("_FEATURE_ID_0", 1)[:, 0]


@needs_validators
def test_a_string_column_without_text_is_declared_but_not_stored():
    """glTF forbids empty buffer views (the Delft buildings have no zone at all)."""
    from tim.tiles.content import b3dm_content
    from tim.tiles.glb import mesh_glb
    from validators import validate_glb_metadata

    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [6, 0, 0], [5, 1, 0]],
                         dtype=float)
    triangles = np.array([[0, 1, 2], [3, 4, 5]])
    content = b3dm_content(positions, np.tile([0.0, 0, 1], (6, 1)), triangles,
                           batch_ids=np.repeat([0, 1], 3), batch_length=2, name="building",
                           properties={"id": ["a", "b"], "zone": ["", ""],
                                       "height": [3.0, 4.5], "storeys": [1, 2]})
    glb = mesh_glb(content)
    assert validate_glbs([glb])[0]["numErrors"] == 0
    assert validate_glb_metadata(glb) == []
    assert property_column(glb, "id") == ["a", "b"] and property_column(glb, "zone") == ["", ""]
    assert property_column(glb, "height") == [3.0, 4.5]
    assert property_column(glb, "storeys") == [1, 2]


@needs_validators
def test_the_structural_checks_can_fail(tiles11, tmp_path):
    import shutil

    _, out, _ = tiles11
    copy = tmp_path / "tiles"
    shutil.copytree(out, copy)
    contents = sorted((copy / "buildings" / "content").rglob("*.glb"),
                      key=lambda p: p.stat().st_size)
    first, last = contents[0], contents[-1]
    a, b = first.read_bytes(), last.read_bytes()
    first.write_bytes(b)
    last.write_bytes(a)  # two tiles' contents swapped: each now lies outside its tile
    assert any("reaches out of the tile's box" in p
               for p in structure_problems(copy / "tileset.json"))
    root = json.loads((copy / "tileset.json").read_text())
    root["root"]["children"][0]["boundingVolume"]["box"][3] *= 0.5  # a part's box halved
    (copy / "tileset.json").write_text(json.dumps(root))
    assert any("outside the parent" in p for p in structure_problems(copy / "tileset.json"))


def test_10_stays_the_default_and_the_command_line_offers_11(sample_territory, tmp_path,
                                                             capsys):
    from viz.cli import main

    small = write_tiles(sample_territory, tmp_path / "t10", parts=("buildings",))
    assert json.loads(small.tileset.read_text())["asset"]["version"] == "1.0"
    assert list((tmp_path / "t10" / "buildings").glob("*.b3dm"))
    with pytest.raises(SystemExit) as info:
        main(["tiles", str(tmp_path), "--out", str(tmp_path / "x"), "--spec-version", "2.0"])
    assert info.value.code == 2 and "--spec-version" in capsys.readouterr().err


# -- point cloud boxes ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def point_tiles(tmp_path_factory) -> Path:
    """A hilly synthetic cloud with a few tall spikes, tiled by py3dtiles and refitted."""
    from test_tiles import small_territory
    from tim.geometry3d import PointCloud

    rng = np.random.default_rng(17)
    n = 40_000
    x, y = 510000 + rng.uniform(0, 900, n), 2709100 + rng.uniform(0, 900, n)
    z = 5 + 30 * np.sin(x / 120) * np.cos(y / 170) + rng.normal(0, 0.5, n)
    z[:40] += 150  # masts: py3dtiles' cells are cubes, far taller than the ground they hold
    territory = small_territory(None)
    territory.add_3d("points", PointCloud.from_xyz(np.column_stack([x, y, z]),
                                                   np.full(n, 2, np.uint8), "EPSG:4548"))
    out = tmp_path_factory.mktemp("points") / "tiles"
    write_tiles(territory, out, point_jobs=1)
    return out


def test_every_point_tile_lies_inside_its_parent_and_holds_its_points(point_tiles):
    from validators import inside_box_ecef

    assert structure_problems(point_tiles / "tileset.json") == []

    for node in tile_nodes(point_tiles / "tileset.json"):
        if node.content is None or node.content.suffix != ".pnts":
            continue
        data = node.content.read_bytes()
        assert validate_pnts(data) == []
        ft_json = struct.unpack("<I", data[12:16])[0]
        table = json.loads(data[28:28 + ft_json])
        xyz = np.frombuffer(data, np.float32, table["POINTS_LENGTH"] * 3,
                            28 + ft_json + table["POSITION"]["byteOffset"]).reshape(-1, 3)
        xyz = xyz.astype(float) + np.asarray(table.get("RTC_CENTER", [0.0, 0.0, 0.0]))
        ecef = xyz @ node.matrix[:3, :3].T + node.matrix[:3, 3]
        assert inside_box_ecef(node.box, node.matrix, ecef, 0.001).all(), node.where


@needs_validators
def test_new_buildings_published_on_11_tiles_are_11_too(tiles11, tmp_path):
    import shutil

    from tim.tiles.overlay import write_overlay_buildings

    territory, out, _ = tiles11
    copy = tmp_path / "tiles"
    shutil.copytree(out, copy)
    new = territory.layers["buildings"].iloc[:7].copy()
    new["building_id"] = [f"P2030-{i}" for i in range(7)]
    path = write_overlay_buildings(territory, new, copy, "plan", security="restricted")
    overlay = json.loads(path.read_text())
    assert overlay["asset"]["version"] == "1.1" and "implicitTiling" in overlay["root"]
    assert overlay["asset"]["extras"]["security"]["level"] == "restricted"
    problems, _ = validate_tiles_folder(path.parent)
    assert problems == []
    ids = [i for p in path.parent.rglob("*.glb") for i in property_column(p.read_bytes(), "id")]
    assert sorted(ids) == sorted(new["building_id"])

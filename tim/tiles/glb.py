"""glb tile content for 3D Tiles 1.1: glTF 2.0 binaries written directly, no b3dm wrapper.

A tile's features (buildings, mesh parts) are identified per vertex by ``_FEATURE_ID_0``
(``EXT_mesh_features``, FLOAT like the 1.0 ``_BATCHID``: exact up to 2^24 features) and
described by one property table (``EXT_structural_metadata``) whose class lists the columns
with their types: strings (UTF-8 with UINT32 offsets), FLOAT64 and INT32 scalars. CesiumJS
reads them as it reads a b3dm batch table (``feature.getProperty("id")``), so the same styles
work on both forms. Geometry is as in :mod:`tim.tiles.content`: float32 ENU positions under
the Y-up node matrix, normals, optional vertex colours, one unlit-looking rough material.

The writer is a few dozen lines of ``struct`` and JSON rather than pygltflib, to control the
alignment the extensions require (every buffer view at a multiple of 8 bytes).
"""

from __future__ import annotations

import json
import math
import struct
from typing import TYPE_CHECKING, Any

import numpy as np

from tim.tiles.georef import Z_UP_TO_Y_UP

if TYPE_CHECKING:
    from tim.tiles.content import MeshContent

#: Metadata schema id and the class of each content's features, by the content's name.
SCHEMA_ID = "territory_twin"
CLASS_OF = {"building": "building", "mesh": "mesh_part"}
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_SHORT, _UNSIGNED_INT = 5126, 5123, 5125


class _Buffer:
    """The binary chunk under construction: views appended at 8-byte boundaries."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.length = 0
        self.views: list[dict[str, Any]] = []

    def add(self, data: bytes, target: int | None = None) -> int:
        pad = (-self.length) % 8
        if pad:
            self.chunks.append(b"\0" * pad)
            self.length += pad
        view: dict[str, Any] = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.chunks.append(data)
        self.length += len(data)
        return len(self.views) - 1

    def bytes(self) -> bytes:
        data = b"".join(self.chunks)
        return data + b"\0" * ((-len(data)) % 8)


def mesh_glb(content: MeshContent, *, batch_table: bool = False) -> bytes:
    """The glb of one tile's content (module doc); with ``batch_table`` the glb a b3dm wraps
    (3D Tiles 1.0): features identified by a FLOAT ``_BATCHID`` attribute, their properties
    left to the b3dm's batch table, no extension."""
    buffer = _Buffer()
    accessors: list[dict[str, Any]] = []

    def vertex_attribute(values: np.ndarray, kind: str, *, bounds: bool = False) -> int:
        array = np.ascontiguousarray(values, dtype=np.float32)
        accessor: dict[str, Any] = {
            "bufferView": buffer.add(array.tobytes(), _ARRAY_BUFFER),
            "componentType": _FLOAT, "count": len(array), "type": kind}
        if bounds:
            accessor["min"] = [float(v) for v in array.min(axis=0)]
            accessor["max"] = [float(v) for v in array.max(axis=0)]
        accessors.append(accessor)
        return len(accessors) - 1

    attributes = {"POSITION": vertex_attribute(content.positions, "VEC3", bounds=True),
                  "NORMAL": vertex_attribute(content.normals, "VEC3")}
    colour = list(content.colour)
    if content.vertex_colours is not None:
        attributes["COLOR_0"] = vertex_attribute(content.vertex_colours, "VEC3")
        colour = [1.0, 1.0, 1.0, 1.0]
    # uint16 indices where they fit; 65535 is the primitive-restart value, keep clear of it.
    index_type = (np.uint16, _UNSIGNED_SHORT) if len(content.positions) < 65535 else \
        (np.uint32, _UNSIGNED_INT)
    indices = np.ascontiguousarray(content.triangles, dtype=index_type[0]).reshape(-1)
    accessors.append({"bufferView": buffer.add(indices.tobytes(), _ELEMENT_ARRAY_BUFFER),
                      "componentType": index_type[1], "count": len(indices), "type": "SCALAR"})
    primitive: dict[str, Any] = {"attributes": attributes, "indices": len(accessors) - 1,
                                 "material": 0, "mode": 4}
    gltf: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "territory-twin tim.tiles.glb"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "matrix": [float(v) for v in Z_UP_TO_Y_UP.T.ravel()]}],
        "meshes": [{"primitives": [primitive], "name": content.name}],
        "materials": [{"name": content.name, "pbrMetallicRoughness": {
            "baseColorFactor": colour, "metallicFactor": 0.0, "roughnessFactor": 1.0}}]}
    if batch_table:
        if content.batch_ids is not None:
            attributes["_BATCHID"] = vertex_attribute(content.batch_ids, "SCALAR")
    elif content.batch_ids is not None and content.batch_length:
        attributes["_FEATURE_ID_0"] = vertex_attribute(content.batch_ids, "SCALAR")
        feature_ids: dict[str, Any] = {"featureCount": int(content.batch_length),
                                       "attribute": 0}
        if content.properties:
            class_name = CLASS_OF.get(content.name, content.name)
            schema, table = property_table(class_name, content.properties,
                                           content.batch_length, buffer)
            gltf["extensions"] = {"EXT_structural_metadata": {"schema": schema,
                                                              "propertyTables": [table]}}
            feature_ids["propertyTable"] = 0
            gltf["extensionsUsed"] = ["EXT_mesh_features", "EXT_structural_metadata"]
        else:
            gltf["extensionsUsed"] = ["EXT_mesh_features"]
        primitive["extensions"] = {"EXT_mesh_features": {"featureIds": [feature_ids]}}
    binary = buffer.bytes()
    gltf["accessors"] = accessors
    gltf["bufferViews"] = buffer.views
    gltf["buffers"] = [{"byteLength": len(binary)}]
    return pack_glb(gltf, binary)


def property_table(class_name: str, columns: dict[str, list], count: int,
                   buffer: _Buffer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata schema (one class) and property table of ``columns`` (one value per
    feature; the column's Python type gives its metadata type: str -> STRING, float ->
    FLOAT64, int/bool -> INT32; None -> "", NaN or 0). A string column without any text is
    declared in the class but left out of the table (glTF has no empty buffer views)."""
    properties: dict[str, Any] = {}
    table: dict[str, Any] = {}
    for name, values in columns.items():
        if len(values) != count:
            raise ValueError(f"property {name} has {len(values)} values for {count} features")
        kind = _kind(values)
        if kind == "STRING":
            encoded = [("" if v is None else str(v)).encode("utf-8") for v in values]
            properties[name] = {"type": "STRING"}
            if not any(encoded):  # glTF forbids an empty buffer view: the (optional)
                continue          # property is left out of the table, all features lack it
            offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(
                np.uint32)
            table[name] = {"values": buffer.add(b"".join(encoded)),
                           "stringOffsets": buffer.add(offsets.tobytes()),
                           "stringOffsetType": "UINT32"}
        elif kind == "FLOAT64":
            array = np.array([math.nan if v is None else float(v) for v in values], np.float64)
            properties[name] = {"type": "SCALAR", "componentType": "FLOAT64"}
            table[name] = {"values": buffer.add(array.tobytes())}
        else:
            array = np.array([0 if v is None else int(v) for v in values], np.int32)
            properties[name] = {"type": "SCALAR", "componentType": "INT32"}
            table[name] = {"values": buffer.add(array.tobytes())}
    schema = {"id": SCHEMA_ID, "classes": {class_name: {"properties": properties}}}
    return schema, {"class": class_name, "count": int(count), "properties": table}


def _kind(values: list) -> str:
    present = [v for v in values if v is not None]
    if all(isinstance(v, (bool, int, np.integer)) for v in present) and present:
        return "INT32"
    if all(isinstance(v, (float, int, np.floating, np.integer)) for v in present) and present:
        return "FLOAT64"
    return "STRING"


def pack_glb(gltf: dict[str, Any], binary: bytes) -> bytes:
    """A GLB 2.0 container: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded).

    Examples
    --------
    >>> glb = pack_glb({"asset": {"version": "2.0"}}, b"")
    >>> glb[:4], struct.unpack("<I", glb[8:12])[0] == len(glb), len(glb) % 4
    (b'glTF', True, 0)
    """
    text = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * ((-len(text)) % 4)
    chunks = struct.pack("<I4s", len(text), b"JSON") + text
    if binary:
        binary += b"\0" * ((-len(binary)) % 4)
        chunks += struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks

"""Tile content: one glTF mesh (float32 ENU positions, normals) with an optional batch, as b3dm
(3D Tiles 1.0) or as glb with EXT_mesh_features + EXT_structural_metadata (1.1, :mod:`tim.tiles.glb`).

Shared by every mesh tileset (buildings, terrain, meshes). A feature-bearing tile carries a
``_BATCHID`` vertex attribute (FLOAT: glTF forbids unsigned-int application attributes, which is
what py3dtiles' ``batchids=`` shortcut would write), a batch table of per-feature properties and a
feature table with ``BATCH_LENGTH``; a tile without features (terrain) has ``BATCH_LENGTH`` 0 and
neither of the others. Positions are stored in the ENU frame with the Y-up node matrix
(:data:`tim.tiles.georef.Z_UP_TO_Y_UP`), see :mod:`tim.tiles.georef`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


#: Light warm grey, fully rough: neutral under any lighting and easy to restyle by property.
BUILDING_COLOUR = (0.86, 0.85, 0.82, 1.0)
#: Muted green-brown for bare terrain, distinct from the buildings' grey.
TERRAIN_COLOUR = (0.62, 0.64, 0.52, 1.0)


def b3dm_content(positions: np.ndarray, normals: np.ndarray, triangles: np.ndarray, *,
                 batch_ids: np.ndarray | None = None,
                 properties: dict[str, list] | None = None, batch_length: int = 0,
                 colour: Sequence[float] = BUILDING_COLOUR, name: str = "mesh",
                 vertex_colours: np.ndarray | None = None) -> MeshContent:
    """The content of one tile, written as b3dm (3D Tiles 1.0) or glb (1.1) by its file name
    (:meth:`MeshContent.save_as`).

    Parameters
    ----------
    positions, normals : ndarray (n, 3)
        Local ENU metres (stored as float32) and unit normals.
    triangles : ndarray (m, 3) of int
    batch_ids : ndarray (n,), optional
        Feature index of each vertex (0 .. batch_length - 1).
    properties : dict, optional
        Batch table columns (one value per feature).
    batch_length : int
        Number of features (0 for a tile without features).
    vertex_colours : ndarray (n, 3), optional
        Linear RGB in [0, 1] per vertex (glTF ``COLOR_0``, multiplied by a white material):
        land use draped on terrain.
    """
    return MeshContent(positions, normals, triangles, batch_ids, properties, batch_length,
                       tuple(colour), name, vertex_colours)


@dataclass(frozen=True)
class MeshContent:
    """One tile's mesh and features (see :func:`b3dm_content`), ready to write in either form."""

    positions: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    batch_ids: np.ndarray | None
    properties: dict[str, list] | None
    batch_length: int
    colour: tuple[float, ...]
    name: str
    vertex_colours: np.ndarray | None

    def save_as(self, path: Path) -> None:
        """Write ``path``: glb (3D Tiles 1.1) for a ``.glb`` name, else b3dm."""
        from tim.tiles.glb import mesh_glb

        Path(path).write_bytes(mesh_glb(self) if Path(path).suffix == ".glb" else self.b3dm())

    def b3dm(self) -> bytes:
        """The b3dm (3D Tiles 1.0): header, feature table (``BATCH_LENGTH``), batch table
        (the properties, JSON), then the glb, each part starting on an 8-byte boundary.

        Written directly rather than through py3dtiles/pygltflib, whose per-tile object
        graphs cost more than building the meshes (issue 17: a million buildings).
        """
        from tim.tiles.glb import mesh_glb

        glb = mesh_glb(self, batch_table=True)
        feature = _padded(json.dumps({"BATCH_LENGTH": int(self.batch_length)},
                                     separators=(",", ":")), _B3DM_HEADER)
        batch = b""
        if self.properties:
            batch = _padded(json.dumps(self.properties, separators=(",", ":"),
                                       allow_nan=False), _B3DM_HEADER + len(feature))
        length = _B3DM_HEADER + len(feature) + len(batch) + len(glb)
        header = struct.pack("<4s6I", b"b3dm", 1, length, len(feature), 0, len(batch), 0)
        return header + feature + batch + glb


#: Bytes of a b3dm header (magic, version, byteLength and the four table lengths).
_B3DM_HEADER = 28


def _padded(text: str, offset: int) -> bytes:
    """UTF-8 ``text`` padded with spaces so that it ends on an 8-byte boundary of the file
    when it starts at ``offset`` (the b3dm layout rule for its JSON tables)."""
    data = text.encode("utf-8")
    return data + b" " * ((-(offset + len(data))) % 8)


def smooth_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of a shared-vertex mesh (unit length; +z where isolated)."""
    p = positions[triangles]
    face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # length = 2 x area: area-weighted
    normals = np.zeros_like(positions, dtype=float)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    length = np.linalg.norm(normals, axis=1)
    normals[length == 0] = (0.0, 0.0, 1.0)
    length[length == 0] = 1.0
    return (normals / length[:, None]).astype(np.float32)

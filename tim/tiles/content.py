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

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.tiles.georef import Z_UP_TO_Y_UP

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
        if Path(path).suffix == ".glb":
            from tim.tiles.glb import mesh_glb

            Path(path).write_bytes(mesh_glb(self))
        else:
            self.b3dm().save_as(path)

    def b3dm(self) -> Any:
        """A py3dtiles ``B3dm`` (3D Tiles 1.0)."""
        import pygltflib
        from py3dtiles.tileset.content import B3dm, GltfAttribute, GltfMesh, GltfPrimitive
        from py3dtiles.tileset.content.b3dm_feature_table import B3dmFeatureTable
        from py3dtiles.tileset.content.batch_table import BatchTable
        from py3dtiles.tileset.content.gltf_utils import gltf_from_meshes

        positions, colour = self.positions, self.colour
        # uint16 indices halve the index buffer; 65535 is the primitive-restart value.
        index_type = np.uint16 if len(positions) < 65535 else np.uint32
        extra = []
        if self.batch_ids is not None:
            extra.append(GltfAttribute("_BATCHID", pygltflib.SCALAR, pygltflib.FLOAT,
                                       np.asarray(self.batch_ids, dtype=np.float32)))
        if self.vertex_colours is not None:
            extra.append(GltfAttribute("COLOR_0", pygltflib.VEC3, pygltflib.FLOAT,
                                       np.asarray(self.vertex_colours, dtype=np.float32)))
            colour = (1.0, 1.0, 1.0, 1.0)
        gltf_mesh = GltfMesh(
            points=np.asarray(positions, dtype=np.float32),
            normals=np.asarray(self.normals, dtype=np.float32),
            primitives=[GltfPrimitive(triangles=np.asarray(self.triangles).astype(index_type)
                                      .reshape(-1))],
            additional_attributes=extra)
        gltf = gltf_from_meshes([gltf_mesh], transform=Z_UP_TO_Y_UP)
        gltf.materials[0] = pygltflib.Material(
            name=self.name, pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                baseColorFactor=list(colour), metallicFactor=0.0, roughnessFactor=1.0))
        feature_table = B3dmFeatureTable()
        feature_table.set_batch_length(self.batch_length)
        batch_table = None
        if self.properties:
            batch_table = BatchTable()
            for key, values in self.properties.items():
                batch_table.add_property_as_json(key, values)
        return B3dm.from_gltf(gltf, batch_table, feature_table)


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

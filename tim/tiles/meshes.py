"""Tiles for the territory's other meshes (e.g. a 3dfier OBJ): features are the mesh's parts.

A mesh is split into leaves by a quadtree over triangle centroids (at most ``max_triangles``
per leaf); each leaf is one b3dm whose features are the parts present in it (batch table
``part``: Building, Terrain, Water, ...), so a viewer can show, hide or colour a part. Triangles
get their own vertices (flat shading, as the buildings). Degenerate triangles are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tim.geometry3d import TriangleMesh
from tim.tiles.buildings import flat_normals
from tim.tiles.content import b3dm_content
from tim.tiles.georef import LocalFrame
from tim.tiles.quadtree import QuadNode, quadtree

#: Largest number of triangles in one mesh tile (about 1.5 MB of b3dm).
MAX_TRIANGLES = 20_000
_MESH_COLOUR = (0.80, 0.78, 0.74, 1.0)


@dataclass
class MeshLeaf:
    content: object
    lower: np.ndarray
    upper: np.ndarray
    triangles: int
    vertices: int


def mesh_leaves(mesh: TriangleMesh, frame: LocalFrame,
                max_triangles: int = MAX_TRIANGLES) -> tuple[QuadNode, dict[str, MeshLeaf]]:
    """Quadtree and b3dm leaves of one mesh in the local frame (module doc)."""
    corners = frame.to_local(mesh.vertices)[mesh.triangles]  # (m, 3, 3) ENU
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    keep = np.linalg.norm(face, axis=1) > 1e-9
    corners, part = corners[keep], mesh.part[keep]
    centroid = mesh.vertices[mesh.triangles[keep]].mean(axis=1)
    root = quadtree(centroid[:, 0], centroid[:, 1], max_triangles)
    leaves = {}
    for leaf in root.leaves():
        p = corners[leaf.members]
        positions = p.reshape(-1, 3)
        triangles = np.arange(len(positions)).reshape(-1, 3)
        present, batch = np.unique(part[leaf.members], return_inverse=True)
        content = b3dm_content(positions, flat_normals(positions, triangles), triangles,
                               batch_ids=np.repeat(batch, 3), batch_length=len(present),
                               properties={"part": [mesh.part_names[k] for k in present]},
                               colour=_MESH_COLOUR, name="mesh")
        stored = positions.astype(np.float32).astype(float)
        leaves[leaf.address] = MeshLeaf(content, stored.min(axis=0), stored.max(axis=0),
                                        len(triangles), len(positions))
    return root, leaves

"""Triangle meshes (OBJ, glTF/GLB, PLY) read with trimesh, placed by a given CRS and offset.

Mesh files carry no CRS: the source must name one (``crs`` in the catalog, or ``--crs``), and the
offset that takes file coordinates to CRS coordinates (``offset: [x, y, z]``, default zero):
``crs_xyz = file_xyz + offset``. glTF is Y-up by specification: its (x, y, z) become (east,
north, up) = (x, -z, y), the inverse of the rotation geodata exporters apply; OBJ and PLY are
taken as z-up, as 3dfier and most GIS exporters write them.

Parts: the mesh's named geometries (OBJ material groups, glTF meshes/nodes, one part for a PLY),
e.g. the Delft 3dfier OBJ's ``Building``, ``Terrain``, ``Water``, ``Road`` groups. Vertices stay
float64 (see :mod:`tim.geometry3d` on precision). Degenerate triangles (repeated vertices) are
dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.errors import CRSError, InputError
from tim.geometry3d import TriangleMesh
from tim.ingest.crs import check_extent, crs_label, horizontal, parse_crs
from tim.ingest.report import IngestReport

MESH_SUFFIXES = {".obj", ".gltf", ".glb", ".ply"}
#: glTF (x, y, z) with y up -> (x, -z, y) with z up.
_GLTF_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass
class MeshSource:
    path: Path
    mesh: TriangleMesh  # in ``crs`` (offset applied)
    crs: Any


def read_mesh(path: str | Path, *, crs: str | None, offset: Sequence[float] | None = None,
              report: IngestReport | None = None) -> MeshSource:
    """Read a mesh file into a :class:`TriangleMesh` in ``crs`` (module doc)."""
    import trimesh

    path = Path(path)
    report = report if report is not None else IngestReport()
    if not path.is_file():
        raise InputError("file not found", source=path)
    if crs is None:
        raise CRSError("a mesh file declares no CRS", source=path, field="crs",
                       hint="give 'crs' (and 'offset' for local coordinates) in the catalog, "
                            "or pass --crs")
    chosen = parse_crs(crs, source=path)
    offset = np.zeros(3) if offset is None else np.asarray(offset, dtype=float)
    if offset.shape != (3,) or not np.isfinite(offset).all():
        raise InputError("offset must be three finite numbers [x, y, z]", source=path,
                         field="offset", value=list(np.ravel(offset)))
    try:
        loaded = trimesh.load(str(path), process=False, force="scene")
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise InputError(f"cannot read as a mesh: {exc}", source=path) from exc
    gltf = path.suffix.lower() in (".gltf", ".glb")
    vertices, triangles, part, names = [], [], [], []
    start = 0
    for node in loaded.graph.nodes_geometry:
        transform, geometry_name = loaded.graph[node]
        geometry = loaded.geometry[geometry_name]
        if not hasattr(geometry, "faces") or len(geometry.faces) == 0:
            continue
        v = trimesh.transform_points(np.asarray(geometry.vertices, dtype=float), transform)
        if gltf:
            v = v @ _GLTF_TO_Z_UP.T
        f = np.asarray(geometry.faces, dtype=np.int64)
        vertices.append(v)
        triangles.append(f + start)
        part.append(np.full(len(f), len(names), dtype=np.int32))
        names.append(str(geometry_name))
        start += len(v)
    if not triangles:
        raise InputError("the file holds no triangles", source=path)
    v = np.concatenate(vertices) + offset
    t, p = np.concatenate(triangles), np.concatenate(part)
    degenerate = (t[:, 0] == t[:, 1]) | (t[:, 1] == t[:, 2]) | (t[:, 0] == t[:, 2])
    for k in np.flatnonzero(degenerate)[:1000]:
        report.add(path, "skipped", "degenerate triangle (a repeated vertex)",
                   f"triangle {k} in {names[p[k]]}")
    t, p = t[~degenerate], p[~degenerate]
    check_extent(chosen, v[:, 0], v[:, 1], source=path,
                 labels=lambda i: f"vertex {i}")
    return MeshSource(path, TriangleMesh(v, t, p, tuple(names), crs_label(horizontal(chosen))),
                      chosen)


def mesh_to_crs(mesh: TriangleMesh, crs: str) -> TriangleMesh:
    """The mesh in another horizontal CRS (x, y transformed; z kept)."""
    from pyproj import Transformer

    if horizontal(mesh.crs).equals(horizontal(crs), ignore_axis_order=True):
        return TriangleMesh(mesh.vertices, mesh.triangles, mesh.part, mesh.part_names, crs)
    x, y = Transformer.from_crs(horizontal(mesh.crs), horizontal(crs), always_xy=True).transform(
        mesh.vertices[:, 0], mesh.vertices[:, 1])
    return TriangleMesh(np.column_stack([x, y, mesh.vertices[:, 2]]), mesh.triangles, mesh.part,
                        mesh.part_names, crs)

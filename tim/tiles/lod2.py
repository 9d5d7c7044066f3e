"""Building meshes from a city model's own surfaces (LoD2 roofs and walls, or LoD1 solids).

Each surface of the ``building_surfaces`` layer (a 3D polygon, holes allowed) is triangulated
as it is, all at once:

1. its Newell normal gives its plane's orientation; the polygon is seen along the normal's
   dominant axis (dropping x, y or z), where it is a valid 2D polygon for any planar surface,
   vertical walls included;
2. GEOS constrained Delaunay triangulation (``shapely.constrained_delaunay_triangles``) of all
   those 2D polygons at once; it adds no vertex, so every triangle corner is one of the
   surface's own vertices. A surface whose 2D view is not valid (a non-planar ring folding
   over itself, repeated points) is ear-clipped instead (mapbox earcut, on vertex indices);
3. each corner gets its 3D vertex back by exact lookup of (surface, 2D coordinates); the rare
   corner that does not match (a non-planar surface whose projection folds) gets the height of
   the surface's best-fit plane, and is counted;
4. triangles are turned to face the same way as the surface's normal (outward in a solid), and
   every triangle has its own three vertices (flat shading, as for LoD1).

Heights are the model's own (e.g. NAP from the CityJSON), not re-based on the terrain raster.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from tim.model import Territory
from tim.tiles.buildings import BuildingMesh, flat_normals

log = logging.getLogger(__name__)

_DEGENERATE = 1e-9


def newell_normals(xyz: np.ndarray, ring_of_point: np.ndarray, n_rings: int) -> np.ndarray:
    """Newell normal (not normalised) of each closed ring, from its points in order."""
    nxt = np.roll(np.arange(len(xyz)), -1)
    # the next point within the same ring (rings are closed: the last point repeats the first)
    same = ring_of_point[nxt] == ring_of_point
    a, b = xyz[same], xyz[nxt[same]]
    terms = np.column_stack([(a[:, 1] - b[:, 1]) * (a[:, 2] + b[:, 2]),
                             (a[:, 2] - b[:, 2]) * (a[:, 0] + b[:, 0]),
                             (a[:, 0] - b[:, 0]) * (a[:, 1] + b[:, 1])])
    out = np.zeros((n_rings, 3))
    np.add.at(out, ring_of_point[same], terms)
    return out


def surface_mesh(surfaces: Any, building_rows: np.ndarray) -> BuildingMesh:
    """Triangles of 3D surface polygons (module doc).

    Parameters
    ----------
    surfaces : array of shapely Polygon with z
    building_rows : ndarray of int
        Row of each surface's building in the buildings layer.

    Returns
    -------
    BuildingMesh
        In the surfaces' CRS (z up), flat-shaded.

    Examples
    --------
    >>> import shapely
    >>> roof = shapely.Polygon([(0, 0, 5), (4, 0, 5), (4, 2, 7), (0, 2, 7)])  # a sloped plane
    >>> mesh = surface_mesh(np.array([roof]), np.array([0]))
    >>> len(mesh.triangles), sorted(set(mesh.positions[:, 2].tolist()))
    (2, [5.0, 7.0])
    """
    import shapely

    surfaces = np.asarray(surfaces, dtype=object)
    building_rows = np.asarray(building_rows, dtype=np.int64)
    exteriors = shapely.get_exterior_ring(surfaces)
    ext_xyz, ext_owner = shapely.get_coordinates(exteriors, include_z=True, return_index=True)
    normal = newell_normals(ext_xyz, ext_owner, len(surfaces))
    length = np.linalg.norm(normal, axis=1)
    usable = length > _DEGENERATE
    normal[usable] /= length[usable, None]
    drop = np.argmax(np.abs(normal), axis=1)  # the axis the surface is seen along
    keep_axes = np.array([[1, 2], [2, 0], [0, 1]])[drop]  # right-handed: (y,z), (z,x), (x,y)

    # 2D view of every surface (holes included) along its dominant axis.
    xyz, owner = shapely.get_coordinates(surfaces, include_z=True, return_index=True)
    a = xyz[np.arange(len(xyz)), keep_axes[owner, 0]]
    b = xyz[np.arange(len(xyz)), keep_axes[owner, 1]]
    flat = shapely.transform(surfaces, lambda _: np.column_stack([a, b]))
    valid = usable & shapely.is_valid(flat)
    pieces, piece_owner = shapely.get_parts(
        shapely.constrained_delaunay_triangles(np.where(valid, flat, None)), return_index=True)
    corners = shapely.get_coordinates(pieces).reshape(-1, 4, 2)[:, :3]  # (t, 3, 2)
    tri_owner = np.repeat(piece_owner, 3)

    # Exact lookup of each corner's 3D vertex by (surface, a, b).
    key_vertex = _keys(owner, a, b)
    key_corner = _keys(tri_owner, corners[:, :, 0].ravel(), corners[:, :, 1].ravel())
    order = np.argsort(key_vertex, kind="stable")
    pos = np.searchsorted(key_vertex[order], key_corner)
    pos = np.minimum(pos, len(order) - 1)
    found = key_vertex[order][pos] == key_corner
    corner_xyz = xyz[order[pos]]
    if not found.all():
        log.info("%d triangle corner(s) not matched exactly; placed on the plane",
                 int((~found).sum()))
        corner_xyz[~found] = _on_plane(xyz, owner, normal, tri_owner[~found],
                                       corners.reshape(-1, 2)[~found], keep_axes, drop)
    # Surfaces whose 2D view is not a valid polygon (nearly degenerate or folded by a
    # non-planar ring): ear clipping, which works on vertex indices and never fails.
    folded = np.flatnonzero(usable & ~valid)
    if len(folded):
        extra_xyz, extra_owner = _ear_clip(surfaces[folded], folded, keep_axes)
        corner_xyz = np.concatenate([corner_xyz, extra_xyz])
        piece_owner = np.concatenate([piece_owner, extra_owner])
    p = corner_xyz.reshape(-1, 3, 3)
    face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area2 = np.linalg.norm(face, axis=1)
    ok = area2 > 2 * _DEGENERATE
    p, piece_owner, face = p[ok], piece_owner[ok], face[ok]
    flip = np.einsum("ij,ij->i", face, normal[piece_owner]) < 0
    p[flip] = p[flip][:, ::-1]
    positions = p.reshape(-1, 3)
    triangles = np.arange(len(positions)).reshape(-1, 3)
    building = building_rows[piece_owner]
    return BuildingMesh(positions, flat_normals(positions, triangles), triangles,
                        np.repeat(building, 3), building)


def territory_surface_mesh(territory: Territory, layer: Any
                           ) -> tuple[BuildingMesh | None, np.ndarray, np.ndarray]:
    """The mesh of the buildings the territory has city-model surfaces for (its
    ``building_surfaces`` layer), as :func:`surface_mesh` triangulates them.

    Parameters
    ----------
    territory : Territory
    layer : GeoDataFrame
        The buildings layer; mesh labels are its rows (positions), matched by ``building_id``.

    Returns
    -------
    mesh : BuildingMesh or None
        In the territory's CRS with the model's own heights; None when no building of
        ``layer`` has surfaces.
    drawn : ndarray of bool
        Per row of ``layer``: the mesh holds it (the others need another shape, e.g. LoD1).
    semantic : ndarray of bool
        Per row: drawn from semantic surfaces (true LoD2; inferred types count as LoD1).
    """
    import pandas as pd

    n = len(layer)
    drawn, semantic = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    surfaces = territory.layers.get("building_surfaces")
    if surfaces is None or len(surfaces) == 0:
        return None, drawn, semantic
    row_of = pd.Series(np.arange(n), index=layer["building_id"].to_numpy())
    rows = row_of.reindex(surfaces["building_id"].to_numpy()).to_numpy()
    ok = np.isfinite(rows)
    if not ok.any():
        return None, drawn, semantic
    rows = rows[ok].astype(np.int64)
    drawn[rows] = True
    labelled = ~surfaces["inferred"].to_numpy(dtype=bool)[ok] if "inferred" in surfaces \
        else np.ones(len(rows), dtype=bool)
    semantic[rows[labelled]] = True
    return surface_mesh(surfaces.geometry.values[ok], rows), drawn, semantic


def _ear_clip(surfaces: np.ndarray, index: np.ndarray,
              keep_axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle corners (3D, flattened) and owners of surfaces triangulated by mapbox earcut."""
    import mapbox_earcut

    corners, owners = [], []
    for surface, k in zip(surfaces, index):
        rings = [surface.exterior, *surface.interiors]
        xyz = [np.asarray(r.coords)[:-1] for r in rings]  # drop the closing point
        points = np.concatenate(xyz)
        ends = np.cumsum([len(r) for r in xyz]).astype(np.uint32)
        tri = mapbox_earcut.triangulate_float64(points[:, keep_axes[k]], ends)
        corners.append(points[tri])
        owners.append(np.full(len(tri) // 3, k))
    return (np.concatenate(corners) if corners else np.zeros((0, 3)),
            np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64))


def _keys(owner: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One sortable key per (owner, a, b) with exact float equality: a structured array."""
    keys = np.empty(len(owner), dtype=[("o", "<i8"), ("a", "<f8"), ("b", "<f8")])
    keys["o"], keys["a"], keys["b"] = owner, a, b
    return keys


def _on_plane(xyz: np.ndarray, owner: np.ndarray, normal: np.ndarray, which: np.ndarray,
              ab: np.ndarray, keep_axes: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """3D points of 2D corners on their surface's plane through its vertex centroid."""
    sums = np.zeros((len(normal), 3))
    np.add.at(sums, owner, xyz)
    centroid = sums / np.bincount(owner, minlength=len(normal))[:, None]
    out = np.zeros((len(which), 3))
    rows = np.arange(len(which))
    out[rows, keep_axes[which, 0]] = ab[:, 0]
    out[rows, keep_axes[which, 1]] = ab[:, 1]
    n = normal[which]
    d = np.einsum("ij,ij->i", n, centroid[which])
    known = np.einsum("ij,ij->i", n, out)  # dropped coordinate still 0
    out[rows, drop[which]] = (d - known) / n[rows, drop[which]]
    return out

"""LoD1 building meshes (extruded footprints) and their b3dm tile content.

A footprint is extruded from its base height to base + building height: one floor, one roof and
one wall quad per ring edge (holes included). Every face has its own vertices (flat shading), so
a vertex normal is its face's normal. All walls are built at once with array operations; roofs
and floors are triangulated by ear clipping (mapbox earcut), which respects holes and
multipolygon parts and returns the footprint's own point indices, so each footprint point is
georeferenced once however many vertices stand on it.

Base height rule: ``terrain__elevation`` is sampled bilinearly at every footprint vertex and the
building stands on the **lowest** of them, so no building floats above sloping ground (on the
uphill side its walls go slightly into the terrain instead). Without an elevation field the
base is 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from tim.errors import GeometryError, InputError
from tim.model import Territory
from tim.tiles.georef import ground_elevation

log = logging.getLogger(__name__)

#: Columns a buildings layer must have (``tim.ingest.layers.normalise_buildings`` makes them).
BUILDING_COLUMNS = ("building_id", "height", "height_source", "storeys", "use")
#: Feature properties written to every b3dm batch table: (batch table name, layer column, type,
#: value when the layer has no such column). ``lod`` is 2 for buildings tiled from a city
#: model's own surfaces, 1 for extruded footprints.
BATCH_PROPERTIES = (("id", "building_id", str, None), ("height", "height", float, None),
                    ("use", "use", str, None), ("height_source", "height_source", str, None),
                    ("storeys", "storeys", int, None), ("planning_unit", "unit_id", int, 0),
                    ("zone", "zone", str, ""), ("lod", "lod", int, 1))
#: Triangles and edges smaller than this (m^2, m) are dropped: they have no defined normal.
_DEGENERATE = 1e-9


@dataclass(frozen=True)
class BuildingMesh:
    """Triangles of many buildings, flat-shaded, with the building each part belongs to.

    Attributes
    ----------
    positions : ndarray, (n, 3) float64
        Vertex positions (projected CRS or local ENU metres, z up).
    normals : ndarray, (n, 3) float32
        Unit outward normal of each vertex's face.
    triangles : ndarray, (m, 3) int64
        Vertex indices, counter-clockwise seen from outside.
    vertex_building, triangle_building : ndarray of int64
        Index (row in the buildings layer) of the building each vertex / triangle belongs to.
    """

    positions: np.ndarray
    normals: np.ndarray
    triangles: np.ndarray
    vertex_building: np.ndarray
    triangle_building: np.ndarray

    def with_positions(self, positions: np.ndarray) -> BuildingMesh:
        """The same mesh moved to new vertex positions, normals recomputed from them."""
        positions = np.asarray(positions, dtype=float)
        return BuildingMesh(positions, flat_normals(positions, self.triangles), self.triangles,
                            self.vertex_building, self.triangle_building)

    def split(self, label_of_building: np.ndarray, n_labels: int) -> list[BuildingMesh]:
        """One mesh per label (e.g. per tile), given a label for every building.

        One stable sort groups the vertices; triangle indices are renumbered to each part.
        """
        vertex_label = label_of_building[self.vertex_building]
        order = np.argsort(vertex_label, kind="stable")
        new_index = np.empty_like(order)
        new_index[order] = np.arange(len(order))
        vertex_starts = np.searchsorted(vertex_label[order], np.arange(n_labels + 1))
        triangle_label = label_of_building[self.triangle_building]
        t_order = np.argsort(triangle_label, kind="stable")
        triangle_starts = np.searchsorted(triangle_label[t_order], np.arange(n_labels + 1))
        parts = []
        for k in range(n_labels):
            v = order[vertex_starts[k]:vertex_starts[k + 1]]
            t = t_order[triangle_starts[k]:triangle_starts[k + 1]]
            parts.append(BuildingMesh(self.positions[v], self.normals[v],
                                      new_index[self.triangles[t]] - vertex_starts[k],
                                      self.vertex_building[v], self.triangle_building[t]))
        return parts


def flat_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normal of each vertex's face (every vertex belongs to faces of one plane)."""
    p = positions[triangles]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    out = np.zeros(positions.shape, dtype=np.float32)
    out[triangles.reshape(-1)] = np.repeat(n, 3, axis=0)
    return out


def require_buildings(territory: Territory) -> Any:
    """The territory's buildings layer, checked: present, non-empty, usable columns and shapes."""
    import shapely

    layer = territory.layers.get("buildings")
    if layer is None:
        have = ", ".join(sorted(territory.layers)) or "none"
        raise InputError(f"territory {territory.name!r} has no buildings layer (layers: {have})",
                         field="buildings", hint="add a source with role 'buildings'")
    if len(layer) == 0:
        raise InputError("the buildings layer is empty", field="buildings")
    missing = [c for c in BUILDING_COLUMNS if c not in layer.columns]
    if missing:
        raise InputError(f"the buildings layer lacks column(s) {', '.join(missing)}",
                         field="buildings",
                         hint="ingest it with tim.ingest.layers.normalise_buildings")
    height = layer["height"].to_numpy(dtype=float)
    bad = ~(np.isfinite(height) & (height > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{int(bad.sum())} building(s) without a positive height, first "
                         f"{layer['building_id'].iloc[i]!r}", field="buildings.height",
                         value=height[i])
    geometry = layer.geometry.values
    kinds = shapely.get_type_id(geometry)
    bad = ~np.isin(kinds, (3, 6)) | shapely.is_empty(geometry)  # 3 Polygon, 6 MultiPolygon
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GeometryError(f"{int(bad.sum())} footprint(s) are not non-empty (multi)polygons, "
                            f"first {layer['building_id'].iloc[i]!r}",
                            field="buildings.geometry", value=layer.geom_type.iloc[i])
    return layer


def building_base_z(territory: Territory, footprints: np.ndarray) -> np.ndarray:
    """Base height of each footprint: the lowest ground under its vertices (see module doc)."""
    import shapely

    coords, owner = shapely.get_coordinates(footprints, return_index=True)
    base = base_from_points(territory, coords, owner, len(footprints))
    empty = np.isnan(base)
    if empty.any():
        log.warning("%d footprint(s) have no point; base set to 0", int(empty.sum()))
        base[empty] = 0.0
    return base


def base_from_points(territory: Territory, xy: np.ndarray, owner: np.ndarray,
                     n: int) -> np.ndarray:
    """:func:`building_base_z` of ``n`` buildings from their footprint points ``xy`` and the
    building each belongs to (``owner``); NaN for a building without points."""
    ground = ground_elevation(territory, xy[:, 0], xy[:, 1])
    base = np.full(n, np.inf)
    np.minimum.at(base, owner, np.where(np.isfinite(ground), ground, np.inf))
    has_points = np.bincount(owner, minlength=n) > 0
    no_ground = has_points & ~np.isfinite(base)
    if no_ground.any():
        log.warning("%d building(s) stand where the elevation has no data; base set to 0",
                    int(no_ground.sum()))
        base[no_ground] = 0.0
    base[~has_points] = np.nan
    return base


@dataclass(frozen=True)
class Extrusion:
    """LoD1 triangles whose vertices are footprint points at a height: ``xy[vertex_xy]`` and
    ``z``. Kept in this form so that each footprint point is georeferenced once, not once per
    wall, roof and floor vertex (:meth:`tim.tiles.georef.LocalFrame.to_local_indexed`)."""

    xy: np.ndarray           # (p, 2) footprint points, projected CRS, get_coordinates order
    vertex_xy: np.ndarray    # (n,) index into xy of each vertex
    z: np.ndarray            # (n,) height of each vertex
    triangles: np.ndarray    # (m, 3)
    vertex_building: np.ndarray
    triangle_building: np.ndarray

    @property
    def positions(self) -> np.ndarray:
        return np.column_stack([self.xy[self.vertex_xy], self.z])

    def mesh(self, positions: np.ndarray | None = None) -> BuildingMesh:
        """As a :class:`BuildingMesh`, at ``positions`` (default: projected, z up)."""
        positions = self.positions if positions is None else positions
        return BuildingMesh(positions, flat_normals(positions, self.triangles), self.triangles,
                            self.vertex_building, self.triangle_building)


def extrude_footprints(footprints: np.ndarray, base_z: np.ndarray,
                       top_z: np.ndarray) -> BuildingMesh:
    """LoD1 mesh of footprints extruded from ``base_z`` to ``top_z``: walls, roof and floor.

    Parameters
    ----------
    footprints : array of shapely Polygon / MultiPolygon
        Valid footprints, holes allowed, in a projected CRS.
    base_z, top_z : ndarray of float
        Height of each footprint's floor and roof (``top_z > base_z``).

    Returns
    -------
    BuildingMesh
        In the footprints' CRS, z up; closed and outward-facing for valid footprints.

    Examples
    --------
    >>> import shapely
    >>> mesh = extrude_footprints(np.array([shapely.box(0, 0, 1, 1)]), np.array([0.0]),
    ...                           np.array([2.0]))
    >>> len(mesh.triangles)  # 4 walls x 2 + roof 2 + floor 2
    12
    """
    return extrude(footprints, base_z, top_z).mesh()


def extrude(footprints: np.ndarray, base_z: np.ndarray, top_z: np.ndarray) -> Extrusion:
    """The triangles of :func:`extrude_footprints`, vertices as footprint point + height.

    Roofs and floors are triangulated by ear clipping (mapbox earcut, on the footprint's own
    point indices, holes and multipolygon parts included), which adds no vertex.
    """
    import mapbox_earcut
    import shapely

    footprints = np.asarray(footprints)
    base_z, top_z = np.asarray(base_z, dtype=float), np.asarray(top_z, dtype=float)

    # Orientation: exteriors counter-clockwise, holes clockwise (what shapely.orient_polygons
    # does), applied as a permutation of the points so that the triangles index the footprints'
    # own points in shapely.get_coordinates order (Extrusion.xy): a caller holding those
    # points georeferenced already need not do it again.
    # (get_rings only looks inside Polygons: take multipolygons apart first.)
    polygons, polygon_owner = shapely.get_parts(footprints, return_index=True)
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    points_xy, ring_of_point = shapely.get_coordinates(rings, return_index=True)
    count = np.bincount(ring_of_point, minlength=len(rings))
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    ring_lo = np.searchsorted(ring_polygon, np.arange(len(polygons)))
    ring_hi = np.searchsorted(ring_polygon, np.arange(len(polygons)), side="right")
    starts = np.flatnonzero(ring_of_point[:-1] == ring_of_point[1:])
    rel = points_xy - points_xy[first[ring_of_point]]  # small numbers: an exact-enough area
    twice_area = np.bincount(ring_of_point[starts], minlength=len(rings), weights=(
        rel[starts, 0] * rel[starts + 1, 1] - rel[starts + 1, 0] * rel[starts, 1]))
    exterior = np.arange(len(rings)) == ring_lo[ring_polygon]
    reverse = np.where(exterior, twice_area < 0, twice_area > 0)[ring_of_point]
    position = np.arange(len(points_xy)) - first[ring_of_point]
    perm = np.where(reverse, first[ring_of_point] + count[ring_of_point] - 1 - position,
                    np.arange(len(points_xy)))
    ring_xy = points_xy[perm]

    # Walls: one quad per ring edge. Exteriors run counter-clockwise and holes clockwise, so the
    # building is always on the left of an edge and the outward normal on its right.
    i0, i1 = starts, starts + 1
    keep = np.hypot(*(ring_xy[i1] - ring_xy[i0]).T) > _DEGENERATE
    i0, i1 = i0[keep], i1[keep]
    wall_owner = polygon_owner[ring_polygon[ring_of_point[i0]]]
    zb, zt = base_z[wall_owner], top_z[wall_owner]
    wall_xy = np.column_stack([i0, i1, i1, i0]).ravel()
    wall_z = np.column_stack([zb, zb, zt, zt]).ravel()
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    wall_tris = (quad[None] + 4 * np.arange(len(i0))[:, None, None]).reshape(-1, 3)

    # Roof and floor: one ear-clipped triangulation per polygon (indices into ring_xy, closing
    # points left out), counter-clockwise (up) on top, reversed below.
    caps = []
    earcut = mapbox_earcut.triangulate_float64
    for k, (lo, hi) in enumerate(zip(ring_lo.tolist(), ring_hi.tolist())):
        if hi - lo == 1:  # no hole (most footprints): the ring's points are one slice
            a, b = int(first[lo]), int(first[lo] + count[lo] - 1)
            caps.append(earcut(ring_xy[a:b], np.array([b - a], dtype=np.uint32))
                        .astype(np.int64) + a)
            continue
        parts = [np.arange(first[r], first[r] + count[r] - 1) for r in range(lo, hi)]
        index = np.concatenate(parts)
        ends = np.cumsum([len(q) for q in parts]).astype(np.uint32)
        caps.append(index[earcut(ring_xy[index], ends)])
    tri = np.concatenate(caps).reshape(-1, 3) if caps else np.zeros((0, 3), dtype=np.int64)
    piece_owner = (np.repeat(polygon_owner, [len(c) // 3 for c in caps]) if caps
                   else np.zeros(0, int))
    p = ring_xy[tri]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    twice_area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep = np.abs(twice_area) > 2 * _DEGENERATE
    tri, piece_owner, clockwise = tri[keep], piece_owner[keep], twice_area[keep] < 0
    tri[clockwise] = tri[clockwise][:, ::-1]
    n_tri = len(tri)

    n_wall = 4 * len(i0)
    vertex_xy = np.concatenate([wall_xy, tri.ravel(), tri[:, ::-1].ravel()])
    z = np.concatenate([wall_z, np.repeat(top_z[piece_owner], 3),
                        np.repeat(base_z[piece_owner], 3)])
    cap_tris = np.arange(3 * n_tri).reshape(-1, 3)
    triangles = np.concatenate([wall_tris, n_wall + cap_tris, n_wall + 3 * n_tri + cap_tris])
    vertex_building = np.concatenate([np.repeat(wall_owner, 4), np.repeat(piece_owner, 3),
                                      np.repeat(piece_owner, 3)])
    triangle_building = np.concatenate([np.repeat(wall_owner, 2), piece_owner, piece_owner])
    return Extrusion(points_xy, perm[vertex_xy], z, triangles, vertex_building,
                     triangle_building)


def batch_columns(layer: Any) -> dict[str, np.ndarray]:
    """The layer's columns that :data:`BATCH_PROPERTIES` takes, as NumPy arrays: read once,
    then indexed per tile (reading an Arrow-backed column costs as much as a tile's mesh)."""
    return {column: layer[column].to_numpy() for _, column, _, _ in BATCH_PROPERTIES
            if column in layer}


def batch_table_json(layer: Any, rows: np.ndarray,
                     columns: dict[str, np.ndarray] | None = None) -> dict[str, list]:
    """Per-building properties of ``rows`` of the layer, as plain JSON lists (batch order);
    ``columns`` are the layer's :func:`batch_columns`, if already read."""
    columns = batch_columns(layer) if columns is None else columns
    out: dict[str, list] = {}
    for name, column, kind, missing in BATCH_PROPERTIES:
        if column in columns:
            out[name] = [kind(v) for v in columns[column][rows].tolist()]
        else:
            out[name] = [missing] * len(rows)
    return out


def concat(meshes: list[BuildingMesh]) -> BuildingMesh:
    """One mesh of several (vertex indices renumbered; building indices kept)."""
    offsets = np.cumsum([0] + [len(m.positions) for m in meshes[:-1]])
    return BuildingMesh(np.concatenate([m.positions for m in meshes]),
                        np.concatenate([m.normals for m in meshes]),
                        np.concatenate([m.triangles + o for m, o in zip(meshes, offsets)]),
                        np.concatenate([m.vertex_building for m in meshes]),
                        np.concatenate([m.triangle_building for m in meshes]))

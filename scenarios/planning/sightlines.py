"""Sightlines on a territory: exact ray-mesh tests against buildings, or the raster DSM method.

``twin sightline`` calls :func:`territory_sightlines`. Two methods give the same
:class:`~engine.analysis.sightlines.Sightline` results:

* ``mesh`` (default): buildings are triangle meshes, as the 3D Tiles draw them
  (:meth:`BuildingScene.from_territory`): a city model's own surfaces where the TIM has them
  (CityJSON LoD2 roofs and walls, :func:`tim.tiles.lod2.territory_surface_mesh`), the other
  footprints extruded (LoD1, :func:`tim.tiles.buildings.extrude_footprints`); or any mesh with
  a building label per triangle (:meth:`BuildingScene.from_triangles`).
  Rays are cast with trimesh's Embree backend (``embreex``), in a local frame centred on the
  scene so that float32 ray arithmetic keeps sub-millimetre precision, to find the sightlines
  that some building stops. For those, every building whose bounding box the line crosses in
  plan is cut by the vertical plane through the sightline, all pairs at once in float64
  (:meth:`BuildingScene.rise_above_lines`): the line passes through the building when the
  section's boundary crosses it, and the section's greatest height above the line is exactly
  how much the building must be lowered. The terrain is checked with the raster kernel on
  ``terrain__elevation`` (flat-topped cells: on a coarse grid over a slope it errs towards
  blocking, by up to the rise across one cell). Without ``embreex`` every sightline is measured that way (slower,
  same answers); trimesh's own pure-Python intersector is not used - it was 70x slower here
  and lost hits on thin triangles.
* ``raster``: the whole DSM (terrain + ``building__height``) with flat-topped cells, the
  buildings told apart by a label grid (:func:`engine.analysis.sightlines.raster_sightlines`).

A target inside a building footprint is on that building (a landmark): that building is not
counted as blocking its own target.

This module imports trimesh, so it stays outside ``engine``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.analysis.sightlines import (SURFACE, TOLERANCE, Blocker, Point, Sightline,
                                        check_points, raster_sightlines)
from engine.analysis.viewshed import territory_surface
from tim.errors import InputError
from tim.model import Territory

log = logging.getLogger(__name__)

METHODS = ("mesh", "raster")
#: Sideways offset (m) of the two section planes that tell touching from crossing.
_SIDESTEP = 1e-6


@dataclass
class BuildingScene:
    """Building triangles in a local frame (``origin`` subtracted) with a label per triangle
    (the building's row in ``ids``), ready for many ray queries."""

    vertices: np.ndarray  # (n, 3) float64, local
    faces: np.ndarray  # (m, 3) int64
    face_label: np.ndarray  # (m,) int64
    ids: list[str]
    origin: np.ndarray  # (3,)
    _mesh: Any = field(default=None, repr=False)
    _intersector: Any = field(default=None, repr=False)
    _index: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_triangles(cls, vertices: np.ndarray, faces: np.ndarray, face_label: np.ndarray,
                       ids: Sequence[str]) -> BuildingScene:
        """A scene from any triangle mesh (CRS coordinates) with a building label per face."""
        vertices = np.asarray(vertices, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        face_label = np.asarray(face_label, dtype=np.int64)
        if len(faces) == 0 or faces.shape[1:] != (3,) or len(face_label) != len(faces):
            raise InputError("a building scene needs triangles with one label each",
                             field="buildings", value=faces.shape)
        origin = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
        return cls(vertices - origin, faces, face_label, [str(i) for i in ids], origin)

    @classmethod
    def from_territory(cls, territory: Territory, lod: str = "auto") -> BuildingScene:
        """The TIM's buildings as the 3D Tiles draw them: with ``lod="auto"`` the buildings
        with city-model surfaces (CityJSON LoD2 roofs and walls) as
        :func:`tim.tiles.lod2.territory_surface_mesh` triangulates them, the others - all of
        them with ``lod="1"`` - as LoD1 blocks on their base height."""
        from tim.tiles.buildings import (building_base_z, concat, extrude_footprints,
                                         require_buildings)
        from tim.tiles.lod2 import territory_surface_mesh

        if lod not in ("auto", "1"):
            raise InputError("lod must be 'auto' or '1'", field="lod", value=lod)
        layer = require_buildings(territory).reset_index(drop=True)
        meshes, drawn = [], np.zeros(len(layer), dtype=bool)
        if lod == "auto":
            lod2, drawn, _ = territory_surface_mesh(territory, layer)
            meshes += [] if lod2 is None else [lod2]
        rest = np.flatnonzero(~drawn)
        if len(rest):
            footprints = layer.geometry.values[rest]
            base = building_base_z(territory, footprints)
            lod1 = extrude_footprints(footprints, base,
                                      base + layer["height"].to_numpy(float)[rest])
            meshes.append(replace(lod1, vertex_building=rest[lod1.vertex_building],
                                  triangle_building=rest[lod1.triangle_building]))
        mesh = concat(meshes)
        return cls.from_triangles(mesh.positions, mesh.triangles, mesh.triangle_building,
                                  layer["building_id"].astype(str).tolist())

    @property
    def mesh(self) -> Any:
        if self._mesh is None:
            import trimesh

            self._mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        return self._mesh

    @property
    def intersector(self) -> Any:
        """trimesh's Embree ray-mesh intersector (None without ``embreex``)."""
        if self._intersector is None:
            import trimesh.ray

            if not trimesh.ray.has_embree:  # pragma: no cover - depends on the platform
                return None
            from trimesh.ray.ray_pyembree import RayMeshIntersector

            self._intersector = RayMeshIntersector(self.mesh)
        return self._intersector

    def blocked_by_any(self, eye: np.ndarray, ends: np.ndarray,
                       tolerance: float = TOLERANCE) -> np.ndarray:
        """Per sightline, whether a ray from the eye hits any building before the target
        (one Embree first-hit query per ray); all True without ``embreex``."""
        if self.intersector is None:
            return np.ones(len(ends), dtype=bool)
        rays = ends - eye
        origins = np.repeat((eye - self.origin)[None], len(ends), axis=0)
        _, ray, where = self.intersector.intersects_id(origins, rays, multiple_hits=False,
                                                       return_locations=True)
        blocked = np.zeros(len(ends), dtype=bool)
        along = np.linalg.norm(where - origins[ray], axis=1)
        blocked[ray[along < np.linalg.norm(rays, axis=1)[ray] - tolerance]] = True
        return blocked

    def candidates(self, eye: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(sightline, building) pairs where the sightline crosses the building's bounding box
        in plan: every building that could block it."""
        import shapely

        if "boxes" not in self._index:
            corners = self.vertices[self.faces].reshape(-1, 3)
            owner = np.repeat(self.face_label, 3)
            lo = np.full((len(self.ids), 2), np.inf)
            hi = np.full((len(self.ids), 2), -np.inf)
            np.minimum.at(lo, owner, corners[:, :2])
            np.maximum.at(hi, owner, corners[:, :2])
            self._index["boxes"] = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
        start = np.repeat((eye - self.origin)[None, :2], len(ends), axis=0)
        lines = shapely.linestrings(np.stack([start, (ends - self.origin)[:, :2]], axis=1))
        ray, label = shapely.STRtree(self._index["boxes"]).query(lines, predicate="intersects")
        return np.column_stack([ray, label]).astype(np.int64).reshape(-1, 2)

    def _face_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Faces grouped by label: ``order[starts[l]:starts[l + 1]]`` are label l's faces."""
        if "order" not in self._index:
            order = np.argsort(self.face_label, kind="stable")
            starts = np.searchsorted(self.face_label[order], np.arange(len(self.ids) + 1))
            self._index.update(order=order, starts=starts)
        return self._index["order"], self._index["starts"]

    def rise_above_lines(self, starts: np.ndarray, ends: np.ndarray, labels: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For pairs (segment, building): whether the segment passes through the building, how
        far the building rises above it and where along it (fraction 0..1) - the greatest
        height above the line of the building's section by the vertical plane through the
        segment; -inf where the plane misses it. A building standing wholly above the line
        (on a dune the line passes under) rises above it but is not crossed.

        All pairs at once: every triangle of the pair's building is cut by the plane (an edge
        whose ends lie on either side gives one end of the triangle's section segment), the
        section segments are clipped to the sightline's span, and the line's height is
        subtracted at their ends (both vary linearly in between). The planes are moved a
        micrometre to either side and the lower answer kept, so a building that only touches
        the line - along a face or an edge - does not block it, as with the raster method.
        """
        order, first = self._face_index()
        a = np.asarray(starts, float) - self.origin
        d = np.asarray(ends, float) - np.asarray(starts, float)
        labels = np.asarray(labels, dtype=np.int64)
        counts = first[labels + 1] - first[labels]
        pair = np.repeat(np.arange(len(labels)), counts)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        tri = self.vertices[self.faces[order[first[labels][pair] + offset]]]  # (n, 3, 3)
        horizontal2 = d[:, 0] ** 2 + d[:, 1] ** 2
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / np.sqrt(horizontal2)[:, None]
        best = np.full((2, len(labels)), -np.inf)
        where = np.zeros((2, len(labels)))
        crossed = np.zeros((2, len(labels)), dtype=bool)
        for s, side in enumerate((-_SIDESTEP, _SIDESTEP)):
            rel = tri[:, :, :2] - a[pair][:, None, :2]
            dist = np.einsum("nkj,nj->nk", rel, normal[pair]) - side
            above = dist >= 0
            ends_t = np.full((len(pair), 2), np.nan)
            ends_z = np.full((len(pair), 2), np.nan)
            filled = np.zeros(len(pair), dtype=np.int64)
            for i, j in ((0, 1), (1, 2), (2, 0)):
                crosses = above[:, i] != above[:, j]
                n = np.flatnonzero(crosses)
                f = dist[n, i] / (dist[n, i] - dist[n, j])
                point = tri[n, i] + (tri[n, j] - tri[n, i]) * f[:, None]
                k = pair[n]
                t = ((point[:, 0] - a[k, 0]) * d[k, 0] + (point[:, 1] - a[k, 1]) * d[k, 1]) \
                    / horizontal2[k]
                slot = np.minimum(filled[n], 1)
                ends_t[n, slot], ends_z[n, slot] = t, point[:, 2]
                filled[n] += 1
            ok = filled == 2
            t, z, k = ends_t[ok], ends_z[ok], pair[ok]
            # Clip each section segment (parameter u from its first end to its second) to the
            # sightline's span 0 <= t <= 1; a vertical one (a wall) keeps its whole height.
            dt = t[:, 1] - t[:, 0]
            vertical = dt == 0
            with np.errstate(divide="ignore", invalid="ignore"):
                ua, ub = (0.0 - t[:, 0]) / dt, (1.0 - t[:, 0]) / dt
            u_lo = np.where(vertical, 0.0, np.maximum(0.0, np.minimum(ua, ub)))
            u_hi = np.where(vertical, 1.0, np.minimum(1.0, np.maximum(ua, ub)))
            keep = np.where(vertical, (t[:, 0] > 0) & (t[:, 0] < 1), u_lo < u_hi)
            t, z, k, u_lo, u_hi = t[keep], z[keep], k[keep], u_lo[keep], u_hi[keep]
            dz = z[:, 1] - z[:, 0]
            ts = np.concatenate([t[:, 0] + u_lo * (t[:, 1] - t[:, 0]),
                                 t[:, 0] + u_hi * (t[:, 1] - t[:, 0])])
            zs = np.concatenate([z[:, 0] + u_lo * dz, z[:, 0] + u_hi * dz])
            kk = np.concatenate([k, k])
            rise = zs - (a[kk, 2] + ts * d[kk, 2])
            np.maximum.at(best[s], kk, rise)
            top = rise >= best[s][kk]  # where each pair's greatest rise is
            where[s][kk[top]] = ts[top]
            # The line enters the section where a boundary segment passes from above it to
            # below it within the sightline's span.
            half = len(k)
            np.logical_or.at(crossed[s], k, (rise[:half] > 0) != (rise[half:] > 0))
        lower = np.argmin(best, axis=0)
        pick = (lower, np.arange(len(labels)))
        return crossed[0] & crossed[1], best[pick], where[pick]

    def sightlines(self, viewpoint: Point, targets: Sequence[Point], *,
                   target_labels: Sequence[int | None] | None = None,
                   tolerance: float = TOLERANCE, use_embree: bool = True
                   ) -> list[tuple[Blocker, ...]]:
        """The buildings blocking each sightline, with how much each must be lowered.

        Embree first tells which sightlines no building touches (:meth:`blocked_by_any`);
        for the others every building the line crosses in plan (:meth:`candidates`) is
        measured exactly (:meth:`rise_above_lines`). A multi-hit ray query is not used for
        the list: where neighbours share a wall, its two coincident faces give one hit and a
        building sandwiched between two others can vanish from it.
        """
        eye = np.array([viewpoint.x, viewpoint.y, viewpoint.z])
        ends = np.array([[t.x, t.y, t.z] for t in targets])
        check = (self.blocked_by_any(eye, ends, tolerance) if use_embree
                 else np.ones(len(ends), dtype=bool))
        subset = np.flatnonzero(check)
        pairs = self.candidates(eye, ends[subset])
        pairs[:, 0] = subset[pairs[:, 0]]
        if target_labels is not None:
            own = np.array([-1 if v is None else v for v in target_labels])
            pairs = pairs[pairs[:, 1] != own[pairs[:, 0]]]
        out: list[list[Blocker]] = [[] for _ in range(len(ends))]
        if len(pairs):
            crosses, rise, t = self.rise_above_lines(np.repeat(eye[None], len(pairs), axis=0),
                                                     ends[pairs[:, 0]], pairs[:, 1])
            for (k, label), c, r, f in zip(pairs, crosses, rise, t):
                if c and r > tolerance:
                    ray = ends[k] - eye
                    out[k].append(Blocker(int(label), float(r), float(eye[0] + f * ray[0]),
                                          float(eye[1] + f * ray[1]),
                                          float(f * np.hypot(ray[0], ray[1]))))
        return [tuple(sorted(b, key=lambda b: b.distance)) for b in out]


def point_at(territory: Territory, x: float, y: float, z: float | None, height: float,
             what: str) -> Point:
    """A point at absolute height ``z``, or ``height`` m above the ground when ``z`` is None."""
    if z is not None:
        return Point(float(x), float(y), float(z))
    row, col = territory.grid.cell_of(x, y, what)
    ground = float(territory.get("terrain__elevation")[row, col])
    if not np.isfinite(ground):
        raise InputError(f"{what} stands where the terrain has no data", field=what,
                         value=(x, y))
    return Point(float(x), float(y), ground + float(height))


def read_targets(territory: Territory, path: str | Path, height: float) -> list[Point]:
    """Targets from a CSV file (:func:`scenarios.planning.views.read_points`): ``z`` absolute, or
    ``height`` above the ground (default ``height``)."""
    from scenarios.planning.views import read_points

    return [point_at(territory, x, y, z, height if h is None else h, f"{path}: row {i + 2}")
            for i, (x, y, z, h) in enumerate(read_points(path, "target"))]


def target_buildings(territory: Territory, targets: Sequence[Point]) -> list[int | None]:
    """Per target, the row of the building whose footprint holds it (None: in the open)."""
    import shapely

    layer = territory.layers.get("buildings")
    if layer is None or len(layer) == 0:
        return [None] * len(targets)
    tree = shapely.STRtree(layer.geometry.values)
    points = shapely.points([(t.x, t.y) for t in targets])
    hit_point, hit_building = tree.query(points, predicate="intersects")
    found: list[int | None] = [None] * len(targets)
    for p, b in zip(hit_point, hit_building):
        found[int(p)] = int(b) if found[int(p)] is None else found[int(p)]
    return found


def building_labels(territory: Territory) -> np.ndarray:
    """Row of the building covering each cell centre (-1: none), burnt in the order that makes
    ``building__height`` (tallest last), so a cell's label is the building of its height."""
    from tim.rasterize import rasterize

    layer = territory.layers.get("buildings")
    if layer is None or len(layer) == 0:
        return np.full(territory.grid.shape, SURFACE, dtype=np.int64)
    order = np.argsort(layer["height"].to_numpy(), kind="stable")
    return rasterize(layer.geometry.values[order], order.astype(np.int64), territory.grid,
                     "int64", fill=SURFACE)


def territory_sightlines(territory: Territory, viewpoint: Point, targets: Sequence[Point], *,
                         method: str = "mesh", facing: float | None = None,
                         field_of_view: float = 360.0, tolerance: float = TOLERANCE,
                         scene: BuildingScene | None = None) -> list[Sightline]:
    """Sightlines from ``viewpoint`` to ``targets`` across the territory's terrain and
    buildings; blockers carry the building's row in the buildings layer (or
    :data:`~engine.analysis.sightlines.SURFACE` for the terrain)."""
    if method not in METHODS:
        raise InputError(f"unknown sightline method; use one of {', '.join(METHODS)}",
                         field="--method", value=method)
    ground = territory.get("terrain__elevation")
    check_points(territory.grid, viewpoint, targets, ground=ground, facing=facing,
                 field_of_view=field_of_view)
    on_building = target_buildings(territory, targets)
    if method == "raster":
        return raster_sightlines(territory_surface(territory), territory.grid, viewpoint,
                                 targets, labels=building_labels(territory),
                                 target_labels=on_building, ground=ground,
                                 tolerance=tolerance)
    terrain = raster_sightlines(ground, territory.grid, viewpoint, targets, ground=ground,
                                tolerance=tolerance)
    if scene is None and "buildings" in territory.layers:
        scene = BuildingScene.from_territory(territory)
    built = (scene.sightlines(viewpoint, targets, target_labels=on_building,
                              tolerance=tolerance)
             if scene is not None else [()] * len(targets))
    results = []
    for line, buildings in zip(terrain, built):
        blockers = tuple(sorted(line.blockers + buildings, key=lambda b: b.distance))
        worst = max((b.lower_by for b in buildings), default=-np.inf)
        results.append(Sightline(viewpoint, line.target, not blockers,
                                 min(line.clearance, -worst), blockers, "mesh"))
    return results




def blocker_name(territory: Territory, label: int) -> str:
    """The building id of a blocker's label, or ``terrain`` for the bare surface."""
    if label == SURFACE:
        return "terrain"
    return str(territory.layers["buildings"]["building_id"].iloc[label])


def write_sightlines(territory: Territory, lines: Sequence[Sightline], out: str | Path,
                     command: list[str] | None = None) -> Path:
    """Write sightlines for a dashboard and GIS, atomically, to the directory ``out``:

    ``sightlines.geojson`` (WGS 84 lon/lat with heights in the TIM's vertical datum: one
    LineString per sightline, one Point per blocker), ``sightlines.csv`` and ``blockers.csv``
    (CRS coordinates), ``buildings.json`` (per building id: ``blocks_view`` and the greatest
    ``lower_by_m``, to style the 3D Tiles by ``id``) and ``manifest.json``.
    """
    import pandas as pd
    from pyproj import Transformer

    from tim.atomic import atomic_directory

    to_wgs84 = Transformer.from_crs(territory.grid.crs, "EPSG:4326", always_xy=True)

    def lonlat(x: float, y: float, z: float) -> list[float]:
        lon, lat = to_wgs84.transform(x, y)
        return [round(lon, 8), round(lat, 8), round(z, 3)]

    rows, blocks, features = [], [], []
    per_building: dict[str, float] = {}
    for k, line in enumerate(lines):
        v, t = line.viewpoint, line.target
        names = [blocker_name(territory, b.label) for b in line.blockers]
        rows.append({"sightline": k, "viewpoint_x": v.x, "viewpoint_y": v.y, "viewpoint_z": v.z,
                     "target_x": t.x, "target_y": t.y, "target_z": t.z, "visible": line.visible,
                     "clearance_m": round(line.clearance, 3), "blockers": " ".join(names),
                     "method": line.method})
        features.append({"type": "Feature", "geometry": {
            "type": "LineString", "coordinates": [lonlat(v.x, v.y, v.z), lonlat(t.x, t.y, t.z)]},
            "properties": {"kind": "sightline", "sightline": k, "visible": line.visible,
                           "clearance_m": round(line.clearance, 3), "blockers": names}})
        for b, name in zip(line.blockers, names):
            z = v.z + (t.z - v.z) * b.distance / max(v.distance(t), 1e-12)
            blocks.append({"sightline": k, "building_id": name, "lower_by_m": round(b.lower_by, 3),
                           "x": round(b.x, 3), "y": round(b.y, 3),
                           "distance_m": round(b.distance, 2)})
            features.append({"type": "Feature", "geometry": {
                "type": "Point", "coordinates": lonlat(b.x, b.y, z)},
                "properties": {"kind": "blocker", "sightline": k, "building_id": name,
                               "lower_by_m": round(b.lower_by, 3)}})
            if name != "terrain":
                per_building[name] = max(per_building.get(name, 0.0), round(b.lower_by, 3))
    out = Path(out)
    with atomic_directory(out) as tmp:
        (tmp / "sightlines.geojson").write_text(json.dumps(
            {"type": "FeatureCollection", "features": features}, indent=1))
        pd.DataFrame(rows).to_csv(tmp / "sightlines.csv", index=False)
        pd.DataFrame(blocks, columns=["sightline", "building_id", "lower_by_m", "x", "y",
                                      "distance_m"]).to_csv(tmp / "blockers.csv", index=False)
        (tmp / "buildings.json").write_text(json.dumps(
            {bid: {"blocks_view": True, "lower_by_m": m} for bid, m in
             sorted(per_building.items())}, indent=1))
        (tmp / "manifest.json").write_text(json.dumps({
            "kind": "sightlines", "tim": territory.name, "crs": territory.grid.crs,
            "vertical_datum": territory.vertical_datum,
            "method": lines[0].method if lines else None, "tolerance_m": TOLERANCE,
            "sightlines": len(lines), "visible": sum(line.visible for line in lines),
            "command": command,
            "files": ["sightlines.geojson", "sightlines.csv", "blockers.csv",
                      "buildings.json"]}, indent=1))
    return out

"""Sightlines on a territory: exact ray-mesh tests against buildings, or the raster DSM method.

``twin sightline`` calls :func:`territory_sightlines`. Two methods give the same
:class:`~engine.analysis.sightlines.Sightline` results:

* ``mesh`` (default): buildings are triangle meshes - the TIM's footprints extruded as in the
  3D Tiles (LoD1, :func:`tim.tiles.buildings.extrude_footprints`), or any mesh with a building
  label per triangle, such as CityJSON LoD2 solids (:meth:`BuildingScene.from_triangles`).
  Rays are cast with trimesh (Embree when ``embreex`` is installed) in a local frame centred on
  the scene, so float32 ray arithmetic keeps sub-millimetre precision; each building hit
  before the target is then cut by the vertical plane through the sightline
  (``trimesh.intersections.mesh_plane``) in float64, which gives exactly how far the building
  rises above the line - the amount to lower it. The terrain is checked with the raster
  kernel on ``terrain__elevation``.
* ``raster``: the whole DSM (terrain + ``building__height``) with flat-topped cells, the
  buildings told apart by a label grid (:func:`engine.analysis.sightlines.raster_sightlines`).

A target inside a building footprint is on that building (a landmark): that building is not
counted as blocking its own target.

This module imports trimesh, so it stays outside ``engine``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
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
    _faces_of: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

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
    def from_territory(cls, territory: Territory) -> BuildingScene:
        """The TIM's buildings as LoD1 blocks standing where the 3D Tiles put them."""
        from tim.tiles.buildings import building_base_z, extrude_footprints, require_buildings

        layer = require_buildings(territory)
        footprints = layer.geometry.values
        base = building_base_z(territory, footprints)
        mesh = extrude_footprints(footprints, base, base + layer["height"].to_numpy(float))
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
        if self._intersector is None:
            import trimesh.ray

            if trimesh.ray.has_embree:
                from trimesh.ray.ray_pyembree import RayMeshIntersector
            else:  # pragma: no cover - depends on the platform
                log.warning("embreex is not installed: ray casting falls back to trimesh's "
                            "slower pure-Python intersector")
                from trimesh.ray.ray_triangle import RayMeshIntersector
            self._intersector = RayMeshIntersector(self.mesh)
        return self._intersector

    def faces_of(self, label: int) -> np.ndarray:
        if not self._faces_of:
            order = np.argsort(self.face_label, kind="stable")
            labels, starts = np.unique(self.face_label[order], return_index=True)
            for lab, part in zip(labels, np.split(order, starts[1:])):
                self._faces_of[int(lab)] = part
        return self._faces_of.get(int(label), np.zeros(0, dtype=np.int64))

    def height_above_line(self, label: int, a: np.ndarray, b: np.ndarray
                          ) -> tuple[float, np.ndarray]:
        """How far building ``label`` rises above the segment a -> b (CRS coordinates), and
        where: the greatest height above the line of the building's section by the vertical
        plane through the segment (negative when it stays below, -inf when the plane misses).

        The section is taken on two planes a micrometre to either side and the lower answer
        kept, so a building that only touches the line - along a face or an edge - does not
        block it, as with the raster method.
        """
        a_local, b_local = a - self.origin, b - self.origin
        d = b_local - a_local
        normal = np.array([-d[1], d[0], 0.0]) / np.hypot(d[0], d[1])
        results = [self._section_rise(label, a_local + side * _SIDESTEP * normal, d, normal)
                   for side in (-1.0, 1.0)]
        rise, t = min(results, key=lambda r: r[0])
        return rise, a + t * (b - a)

    def _section_rise(self, label: int, a: np.ndarray, d: np.ndarray, normal: np.ndarray
                      ) -> tuple[float, float]:
        from trimesh.intersections import mesh_plane

        sections = mesh_plane(self.mesh, normal, a, local_faces=self.faces_of(label))
        if len(sections) == 0:
            return -np.inf, 0.0
        ends = sections.reshape(-1, 3)
        t = (((ends[:, 0] - a[0]) * d[0] + (ends[:, 1] - a[1]) * d[1])
             / (d[0] ** 2 + d[1] ** 2)).reshape(-1, 2)
        z = ends[:, 2].reshape(-1, 2)
        # Clip each section segment to the sightline's span; heights vary linearly along it.
        lo, hi = t.min(axis=1), t.max(axis=1)
        keep = (hi > 0.0) & (lo < 1.0)
        if not keep.any():
            return -np.inf, 0.0
        t, z, lo, hi = t[keep], z[keep], np.clip(lo[keep], 0, 1), np.clip(hi[keep], 0, 1)
        span = t[:, 1] - t[:, 0]
        slope = np.divide(z[:, 1] - z[:, 0], span, out=np.zeros_like(span), where=span != 0)
        ts = np.concatenate([lo, hi])
        zs = np.concatenate([z[:, 0] + slope * (lo - t[:, 0]), z[:, 0] + slope * (hi - t[:, 0])])
        above = zs - (a[2] + ts * d[2])
        i = int(np.argmax(above))
        return float(above[i]), float(ts[i])

    def sightlines(self, viewpoint: Point, targets: Sequence[Point], *,
                   target_labels: Sequence[int | None] | None = None,
                   tolerance: float = TOLERANCE) -> list[tuple[Blocker, ...]]:
        """The buildings blocking each sightline, with how much each must be lowered."""
        eye = np.array([viewpoint.x, viewpoint.y, viewpoint.z])
        ends = np.array([[t.x, t.y, t.z] for t in targets])
        rays = ends - eye
        length = np.linalg.norm(rays, axis=1)
        origins = np.repeat((eye - self.origin)[None], len(ends), axis=0)
        tri, ray, where = self.intersector.intersects_id(origins, rays, multiple_hits=True,
                                                         max_hits=1000,
                                                         return_locations=True)
        along = np.linalg.norm(where - origins[ray], axis=1) if len(ray) else np.zeros(0)
        before = along < length[ray] - tolerance
        out: list[tuple[Blocker, ...]] = []
        for k in range(len(ends)):
            labels = set(self.face_label[tri[(ray == k) & before]].tolist())
            ignore = target_labels[k] if target_labels is not None else None
            labels.discard(ignore)
            blockers = []
            for label in sorted(labels):
                rise, point = self.height_above_line(label, eye, ends[k])
                if rise > tolerance:
                    blockers.append(Blocker(int(label), rise, float(point[0]), float(point[1]),
                                            float(np.hypot(*(point - eye)[:2]))))
            out.append(tuple(sorted(blockers, key=lambda b: b.distance)))
        return out


def point_at(territory: Territory, x: float, y: float, z: float | None, height: float,
             what: str) -> Point:
    """A point at absolute height ``z``, or ``height`` m above the ground when ``z`` is None."""
    if z is not None:
        return Point(float(x), float(y), float(z))
    from engine.analysis.viewshed import cell_of

    row, col = cell_of(territory.grid, x, y, what=what)
    ground = float(territory.get("terrain__elevation")[row, col])
    if not np.isfinite(ground):
        raise InputError(f"{what} stands where the terrain has no data", field=what,
                         value=(x, y))
    return Point(float(x), float(y), ground + float(height))


def read_targets(territory: Territory, path: str | Path, height: float) -> list[Point]:
    """Targets from a CSV with columns x, y and optionally z (absolute) or height (above the
    ground; default ``height``)."""
    import pandas as pd

    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read as CSV: {exc}", source=path) from exc
    for column in ("x", "y"):
        if column not in table.columns:
            raise InputError("target files need columns x and y", source=path, field=column)
    points = []
    for i, row in table.iterrows():
        z = row["z"] if "z" in table.columns and np.isfinite(row["z"]) else None
        h = row["height"] if "height" in table.columns and np.isfinite(row["height"]) \
            else height
        points.append(point_at(territory, row["x"], row["y"], z, h, f"{path}: row {i + 2}"))
    return points


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

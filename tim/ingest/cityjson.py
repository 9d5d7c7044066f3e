"""CityJSON 0.x, 1.0, 1.1 and 2.0 city models: buildings (LoD1/LoD2 solids with semantic
surfaces) and TIN terrain.

What is read
------------
* **Vertices.** With a ``transform``, ``vertex * scale + translate``; without one, the vertices
  are coordinates (allowed up to 1.0). From 1.1 on ``transform`` is mandatory: a file without it
  is refused.
* **CRS.** ``metadata.referenceSystem`` (an OGC URN in 1.0, an OGC URL from 1.1) or
  ``metadata.crs.epsg`` (0.x); a file that declares none needs one from the user.
* **Buildings.** ``Building`` objects with their ``BuildingPart`` children (``parents`` /
  ``parent``) become one building each. Of each object's geometries the highest LoD is taken.
  Every surface is kept with its semantic type (``RoofSurface``, ``WallSurface``,
  ``GroundSurface``, ...); in a solid without semantics the type is inferred from the outward
  normal (up: roof, down: ground, within 10 degrees of horizontal: wall) and marked so.
  Footprint: the union of the ground surfaces seen from above (of all surfaces when there are
  none). Height: highest vertex minus lowest ground vertex; base: lowest ground vertex.
  ``storeysAboveGround`` and ``function``/``usage`` fill ``storeys`` and ``use``.
* **Terrain.** ``TINRelief`` triangles become one :class:`~tim.geometry3d.TriangleMesh`.

Broken input: a file that is not CityJSON, or has no ``transform`` where one is required, is an
error naming the file. An object with a vertex index out of range, a geometry template, or no
usable footprint is skipped and reported with its id; other object types are counted as not used.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import CRSError, InputError
from tim.geometry3d import TriangleMesh
from tim.ingest.crs import check_extent, crs_label, horizontal, parse_crs
from tim.ingest.report import IngestReport

log = logging.getLogger(__name__)

BUILDING_TYPES = ("Building", "BuildingPart")
#: |normal z| below sin(10 deg) is a wall when types are inferred from normals.
_WALL_NZ = float(np.sin(np.radians(10.0)))


@dataclass
class CityModel:
    """What a CityJSON file holds that a territory uses (coordinates in ``crs``)."""

    path: Path
    version: str
    crs: Any  # pyproj CRS as declared (compound with the vertical datum) or given
    crs_assigned: bool
    buildings: Any  # GeoDataFrame: building_id, height, height_source, storeys, use, base_z, lod
    surfaces: Any   # GeoDataFrame: building_id, surface, geometry (PolygonZ)
    terrain: TriangleMesh | None
    not_used: dict[str, int] = field(default_factory=dict)


def is_cityjson(path: str | Path) -> bool:
    """True when the file starts like a CityJSON object (its ``"type": "CityJSON"`` near the top
    or the ``.city.json`` suffix), without parsing the whole file."""
    path = Path(path)
    if path.name.lower().endswith(".city.json"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="ignore").replace(" ", "")
    except OSError:
        return False
    return '"type":"CityJSON"' in head


def read_cityjson(path: str | Path, *, crs: str | None = None, assume_crs: str | None = None,
                  report: IngestReport | None = None) -> CityModel:
    """Read buildings, their surfaces and TIN terrain from a CityJSON file (module doc)."""
    import geopandas as gpd

    path = Path(path)
    report = report if report is not None else IngestReport()
    doc = _load(path)
    version = str(doc.get("version", "?"))
    vertices = _vertices(doc, path, version)
    file_crs = _declared_crs(doc, path)
    if file_crs is None:
        if crs is None and assume_crs is None:
            raise CRSError("the CityJSON file declares no CRS (metadata.referenceSystem)",
                           source=path, field="metadata.referenceSystem",
                           hint="pass --crs EPSG:xxxx or give 'crs' in the catalog")
        chosen, assigned = parse_crs(crs or assume_crs, source=path), True
    else:
        if crs is not None and not parse_crs(crs).equals(file_crs, ignore_axis_order=True):
            raise CRSError(f"the file declares {crs_label(file_crs)} but {crs} was given",
                           source=path, field="crs", hint="drop the CRS override")
        chosen, assigned = file_crs, False

    flat_crs = horizontal(chosen)  # frames carry the horizontal CRS; the datum is recorded
    objects = doc.get("CityObjects", {})
    rings, surfaces_meta, owners = _collect_buildings(objects, vertices, path, report)
    not_used = Counter(o.get("type", "?") for o in objects.values()
                       if o.get("type") not in BUILDING_TYPES + ("TINRelief",))
    terrain = _terrain(objects, vertices, path, report, flat_crs)

    surfaces = _surface_frame(rings, surfaces_meta, vertices, flat_crs)
    buildings = _building_frame(surfaces, owners, objects, path, report, flat_crs)
    if len(buildings):
        xy = buildings.geometry.bounds.to_numpy()
        check_extent(flat_crs, np.r_[xy[:, 0], xy[:, 2]], np.r_[xy[:, 1], xy[:, 3]],
                     source=path,
                     labels=lambda i: f"building {buildings['building_id'].iloc[i % len(xy)]}")
    elif terrain is None:
        raise InputError("the file has no usable building or TIN terrain", source=path,
                         field="CityObjects", hint="; ".join(report.lines()[-3:]) or None)
    keep = surfaces["building_id"].isin(set(buildings["building_id"])).to_numpy()
    return CityModel(path, version, chosen, assigned, buildings,
                     surfaces[keep].reset_index(drop=True), terrain, dict(not_used))


def _load(path: Path) -> dict:
    if not path.is_file():
        raise InputError("file not found", source=path)
    try:
        doc = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", source=path) from exc
    if not isinstance(doc, dict) or doc.get("type") != "CityJSON":
        raise InputError("not a CityJSON file (no \"type\": \"CityJSON\")", source=path,
                         field="type", value=doc.get("type") if isinstance(doc, dict) else None)
    return doc


def _vertices(doc: dict, path: Path, version: str) -> np.ndarray:
    try:
        raw = np.asarray(doc.get("vertices", []), dtype=float).reshape(-1, 3)
    except ValueError as exc:
        raise InputError(f"vertices must be [x, y, z] triples: {exc}", source=path,
                         field="vertices") from exc
    if not np.isfinite(raw).all():
        raise InputError("vertices must be finite numbers", source=path, field="vertices")
    transform = doc.get("transform")
    if transform is None:
        major_minor = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if major_minor >= (1, 1):
            raise InputError(f"CityJSON {version} requires a 'transform' (scale, translate) and "
                             "this file has none", source=path, field="transform",
                             hint="the vertices are integers that cannot be placed without it")
        return raw
    try:
        scale = np.asarray(transform["scale"], dtype=float)
        translate = np.asarray(transform["translate"], dtype=float)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"transform needs 'scale' and 'translate' triples: {exc}", source=path,
                         field="transform") from exc
    if scale.shape != (3,) or translate.shape != (3,) or not (
            np.isfinite(scale).all() and (scale > 0).all() and np.isfinite(translate).all()):
        raise InputError("transform scale must be three finite numbers > 0 and translate three "
                         "finite numbers", source=path, field="transform",
                         value=[scale.tolist(), translate.tolist()])
    return raw * scale + translate


def _declared_crs(doc: dict, path: Path) -> Any:
    metadata = doc.get("metadata") or {}
    reference = metadata.get("referenceSystem")
    if reference is None and isinstance(metadata.get("crs"), dict):
        epsg = metadata["crs"].get("epsg")
        reference = f"EPSG:{epsg}" if epsg else None
    return None if reference is None else parse_crs(reference, source=path,
                                                     field="metadata.referenceSystem")


def _root(object_id: str, objects: dict) -> str:
    """The top Building an object belongs to (follows ``parents`` / ``parent`` upwards)."""
    seen = {object_id}
    while True:
        obj = objects[object_id]
        parents = obj.get("parents") or ([obj["parent"]] if obj.get("parent") else [])
        parents = [p for p in parents if p in objects and p not in seen]
        if not parents:
            return object_id
        object_id = parents[0]
        seen.add(object_id)


def _surfaces_of(geometry: dict) -> tuple[list, list]:
    """(surfaces as lists of rings, semantic value per surface) of one geometry."""
    kind, boundaries = geometry.get("type"), geometry.get("boundaries", [])
    values = (geometry.get("semantics") or {}).get("values")
    if kind in ("MultiSurface", "CompositeSurface"):
        return boundaries, values if values is not None else [None] * len(boundaries)
    if kind == "Solid":
        shells = boundaries
        vals = values if values is not None else [[None] * len(s) for s in shells]
        return ([s for shell in shells for s in shell],
                [v for shell_vals in vals for v in (shell_vals or [])])
    if kind in ("MultiSolid", "CompositeSolid"):
        vals = values if values is not None else [[[None] * len(s) for s in solid]
                                                  for solid in boundaries]
        return ([s for solid in boundaries for shell in solid for s in shell],
                [v for solid in vals for shell in (solid or []) for v in (shell or [])])
    raise ValueError(f"geometry type {kind!r}")


def _indices(ring: Any) -> np.ndarray:
    """A ring's vertex indices, which must be JSON integers: a string or a float index is
    refused (numpy would parse "12" and truncate 1.5 without a word)."""
    if not isinstance(ring, list) or not all(type(v) is int for v in ring):
        shown = next((v for v in ring if type(v) is not int), ring) \
            if isinstance(ring, list) else ring
        raise TypeError(f"vertex indices must be integers, got {str(shown)[:40]!r}")
    return np.asarray(ring, dtype=np.int64)


def _collect_buildings(objects: dict, vertices: np.ndarray, path: Path,
                       report: IngestReport) -> tuple[list, list, list]:
    """Flat lists: rings (vertex index arrays, surface number, is-exterior), per-surface
    (building, semantic type, inferred?) and the building ids in file order."""
    rings: list[tuple[np.ndarray, int, bool]] = []
    meta: list[tuple[str, str, bool]] = []
    owners: list[str] = []
    broken: set[str] = set()  # buildings with a part skipped (already reported)
    n_vertices = len(vertices)
    for object_id, obj in objects.items():
        if obj.get("type") not in BUILDING_TYPES:
            continue
        root = _root(object_id, objects)
        if root not in owners:
            owners.append(root)
        geometries = [g for g in obj.get("geometry", []) if g.get("type") != "GeometryInstance"]
        if len(geometries) < len(obj.get("geometry", [])):
            report.add(path, "skipped", "geometry templates (GeometryInstance) are not read",
                       f"object {object_id}")
        if not geometries:
            continue
        geometry = max(geometries, key=lambda g: float(str(g.get("lod", 0)).split(".")[0] or 0))
        try:
            surfaces, values = _surfaces_of(geometry)
            flat = [_indices(r) for s in surfaces for r in s]
        except (ValueError, TypeError) as exc:
            report.add(path, "skipped", f"unreadable geometry ({exc})", f"object {object_id}")
            continue
        bad = [int(r.max()) for r in flat if len(r) and (r.max() >= n_vertices or r.min() < 0)]
        if bad:
            report.add(path, "skipped", f"vertex index out of range (e.g. {bad[0]}; the file "
                       f"has {n_vertices} vertices)", f"object {object_id}")
            broken.add(root)
            continue
        types = [s.get("type") for s in (geometry.get("semantics") or {}).get("surfaces", [])]
        solid = geometry.get("type") in ("Solid", "MultiSolid", "CompositeSolid")
        for surface, value in zip(surfaces, values):
            if not surface or len(surface[0]) < 3:
                continue
            semantic = types[value] if value is not None and value < len(types) else None
            inferred = semantic is None
            if inferred:
                semantic = _type_from_normal(vertices[np.asarray(surface[0])]) if solid \
                    else "Unknown"
            number = len(meta)
            meta.append((root, semantic, inferred))
            for k, ring in enumerate(surface):
                if len(ring) >= 3:
                    rings.append((np.asarray(ring, dtype=np.int64), number, k == 0))
    return rings, meta, [o for o in owners if o not in broken or o in {m[0] for m in meta}]


def _type_from_normal(ring: np.ndarray) -> str:
    """Roof, ground or wall from a ring's Newell normal (outward in a solid's shell)."""
    nxt = np.roll(ring, -1, axis=0)
    normal = np.array([np.sum((ring[:, 1] - nxt[:, 1]) * (ring[:, 2] + nxt[:, 2])),
                       np.sum((ring[:, 2] - nxt[:, 2]) * (ring[:, 0] + nxt[:, 0])),
                       np.sum((ring[:, 0] - nxt[:, 0]) * (ring[:, 1] + nxt[:, 1]))])
    length = np.linalg.norm(normal)
    nz = normal[2] / length if length > 0 else 0.0
    return "WallSurface" if abs(nz) < _WALL_NZ else ("RoofSurface" if nz > 0 else
                                                     "GroundSurface")


def _surface_frame(rings: list, meta: list, vertices: np.ndarray, crs: Any) -> Any:
    """One PolygonZ per surface (exterior + holes), vectorised through shapely."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    if not meta:
        return gpd.GeoDataFrame({"building_id": [], "surface": [], "inferred": []},
                                geometry=[], crs=crs)
    order = sorted(range(len(rings)), key=lambda k: (rings[k][1], not rings[k][2]))
    closed = [np.r_[rings[k][0], rings[k][0][:1]] for k in order]
    counts = np.array([len(c) for c in closed])
    coords = vertices[np.concatenate(closed)]
    linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(closed)), counts))
    surface_of_ring = np.array([rings[k][1] for k in order])
    polygons = shapely.polygons(linear, indices=surface_of_ring)
    present = np.unique(surface_of_ring)
    frame = pd.DataFrame(meta, columns=["building_id", "surface", "inferred"]).iloc[present]
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=polygons, crs=crs)


def _building_frame(surfaces: Any, owners: list[str], objects: dict, path: Path,
                    report: IngestReport, crs: Any) -> Any:
    import geopandas as gpd
    import shapely

    from tim.ingest.vector import _polygonal_part

    rows, geometries = [], []
    groups = surfaces.groupby("building_id").indices if len(surfaces) else {}
    for building_id in owners:
        index = groups.get(building_id)
        if index is None:
            report.add(path, "skipped", "no geometry (itself or in its parts)",
                       f"building {building_id}")
            continue
        part = surfaces.iloc[index]
        geoms = part.geometry.values
        ground = part["surface"].to_numpy() == "GroundSurface"
        base = geoms[ground] if ground.any() else geoms
        flat = shapely.force_2d(base)
        flat = flat[shapely.area(flat) > 0]
        footprint = _polygonal_part(shapely.make_valid(shapely.union_all(flat))) \
            if len(flat) else None
        if footprint is None or footprint.area <= 0:
            report.add(path, "skipped", "no footprint (its surfaces have no area seen from "
                       "above)", f"building {building_id}")
            continue
        z_all = shapely.get_coordinates(geoms, include_z=True)[:, 2]
        z_ground = shapely.get_coordinates(base, include_z=True)[:, 2]
        attributes = objects[building_id].get("attributes") or {}
        storeys = attributes.get("storeysAboveGround")
        rows.append({"building_id": building_id,
                     "height": float(z_all.max() - z_ground.min()),
                     "height_source": "cityjson",
                     "storeys": storeys if isinstance(storeys, (int, float)) else None,
                     "use": str(attributes.get("function") or attributes.get("usage")
                                or "unknown"),
                     "base_z": float(z_ground.min()),
                     "lod": 2 if (part["surface"] == "RoofSurface").any()
                     and not part["inferred"].all() else 1})
        geometries.append(footprint)
    return gpd.GeoDataFrame(rows, geometry=geometries, crs=crs)


def _terrain(objects: dict, vertices: np.ndarray, path: Path, report: IngestReport,
             crs: Any) -> TriangleMesh | None:
    triangles = []
    for object_id, obj in objects.items():
        if obj.get("type") != "TINRelief":
            continue
        for geometry in obj.get("geometry", []):
            try:
                surfaces, _ = _surfaces_of(geometry)
                tri = np.array([_indices(s[0]) for s in surfaces if len(s[0]) == 3],
                               dtype=np.int64)
            except (ValueError, TypeError) as exc:
                report.add(path, "skipped", f"unreadable TIN ({exc})", f"object {object_id}")
                continue
            if len(tri) and (tri.max() >= len(vertices) or tri.min() < 0):
                report.add(path, "skipped", "vertex index out of range in the TIN",
                           f"object {object_id}")
                continue
            triangles.append(tri.reshape(-1, 3))
    if not triangles:
        return None
    tri = np.concatenate(triangles)
    used, inverse = np.unique(tri, return_inverse=True)
    return TriangleMesh(vertices[used], inverse.reshape(-1, 3), np.zeros(len(tri), np.int32),
                        ("TINRelief",), crs_label(crs))

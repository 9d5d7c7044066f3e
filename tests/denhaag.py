"""Den Haag (Scheveningen) CityJSON 2.0 as test inputs, until the TIM has a CityJSON reader.

A few lines of JSON parsing give what the sightline and height tests need from the LoD2 model:
the building solids as triangles labelled by building, the footprints (union of the ground
surfaces) with a height (highest roof point above the lowest ground point), and a 1 m DTM
interpolated linearly on the TIN relief. Coordinates are RD New (EPSG:28992), heights NAP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CRS = "EPSG:28992"


@dataclass
class CityModel:
    vertices: np.ndarray  # (n, 3) RD + NAP
    faces: np.ndarray  # (m, 3) building triangles
    face_label: np.ndarray  # (m,) index into ids
    ids: list[str]
    footprints: list  # shapely geometry per building
    ground_z: np.ndarray  # lowest ground-surface point per building
    top_z: np.ndarray  # highest point per building
    tin: np.ndarray  # (k, 3) vertex indices of the terrain triangles
    ground_points: np.ndarray  # vertex indices of the buildings' ground surfaces


def _triangulate(rings: list[list[int]], vertices: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles (vertex indices) of a planar polygon with holes, by constrained Delaunay in
    the plane of its largest projection."""
    import shapely

    outer = rings[0]
    if len(rings) == 1 and len(outer) == 3:
        return [tuple(outer)]
    pts = vertices[outer]
    normal = np.cross(pts[1:] - pts[0], np.roll(pts[1:] - pts[0], -1, axis=0)).sum(axis=0)
    keep = [i for i in range(3) if i != int(np.argmax(np.abs(normal)))]
    index = {tuple(vertices[v, keep]): v for ring in rings for v in ring}
    polygon = shapely.Polygon(vertices[outer][:, keep], [vertices[h][:, keep] for h in rings[1:]])
    if not polygon.is_valid or polygon.area == 0:
        return []
    triangles = shapely.get_parts(shapely.constrained_delaunay_triangles(polygon))
    out = []
    for tri in triangles:
        corners = shapely.get_coordinates(tri)[:3]
        try:
            out.append(tuple(index[tuple(c)] for c in corners))
        except KeyError:  # a point the triangulation added: skip (never happens for CDT)
            continue
    return out


def read_city_model(path: str | Path) -> CityModel:
    import shapely

    data = json.loads(Path(path).read_text())
    scale = np.array(data["transform"]["scale"])
    translate = np.array(data["transform"]["translate"])
    vertices = np.array(data["vertices"], dtype=np.float64) * scale + translate
    objects = data["CityObjects"]
    ids = sorted(k for k, o in objects.items() if o["type"] == "Building")
    faces, labels, footprints, ground, top = [], [], [], [], []
    tin, ground_points = [], []
    for label, bid in enumerate(ids):
        parts = [bid, *objects[bid].get("children", [])]
        grounds, zmin, zmax, mine = [], np.inf, -np.inf, []
        for part in parts:
            for geometry in objects[part].get("geometry", []):
                if geometry["type"] != "Solid":
                    continue
                values = geometry.get("semantics", {}).get("values", [[]])[0]
                surfaces = geometry.get("semantics", {}).get("surfaces", [])
                for s, rings in enumerate(geometry["boundaries"][0]):
                    for tri in _triangulate(rings, vertices):
                        faces.append(tri)
                        labels.append(label)
                    zmax = max(zmax, vertices[rings[0], 2].max())
                    kind = surfaces[values[s]]["type"] if s < len(values) and \
                        values[s] is not None else None
                    if kind == "GroundSurface":
                        zmin = min(zmin, vertices[rings[0], 2].min())
                        mine += rings[0]
                        poly = shapely.Polygon(vertices[rings[0], :2],
                                               [vertices[h, :2] for h in rings[1:]])
                        grounds.append(shapely.make_valid(poly))
        # Parts stacked on others have their "ground" surface up in the air: keep the lowest.
        ground_points += [v for v in mine if vertices[v, 2] <= zmin + 0.5]
        footprints.append(shapely.union_all(grounds) if grounds else None)
        ground.append(zmin)
        top.append(zmax)
    for o in objects.values():
        if o["type"] == "TINRelief":
            for g in o["geometry"]:
                tin += [rings[0] for rings in g["boundaries"]]
    return CityModel(vertices, np.array(faces, dtype=np.int64), np.array(labels, dtype=np.int64),
                     ids, footprints, np.array(ground), np.array(top), np.array(tin),
                     np.unique(ground_points))


def write_sources(model: CityModel, folder: Path, cell: float = 1.0) -> tuple[Path, Path]:
    """A DTM GeoTIFF and a footprints GeoJSON with heights. The TIN covers the dunes only, so
    the DTM interpolates linearly between the TIN's and the buildings' ground-surface
    vertices, and takes the nearest one outside their hull."""
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    folder.mkdir(parents=True, exist_ok=True)
    used = np.union1d(np.unique(model.tin), model.ground_points)
    xyz = model.vertices[used]
    x0, y0 = np.floor(xyz[:, :2].min(axis=0))
    x1, y1 = np.ceil(xyz[:, :2].max(axis=0))
    cols, rows = int((x1 - x0) / cell), int((y1 - y0) / cell)
    xs = x0 + (np.arange(cols) + 0.5) * cell
    ys = y1 - (np.arange(rows) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    dtm = LinearNDInterpolator(xyz[:, :2], xyz[:, 2])(gx, gy)
    hole = np.isnan(dtm)
    dtm[hole] = NearestNDInterpolator(xyz[:, :2], xyz[:, 2])(gx[hole], gy[hole])
    dtm = dtm.astype(np.float32)
    dtm_path = folder / "denhaag_dtm.tif"
    with rasterio.open(dtm_path, "w", driver="GTiff", height=rows, width=cols, count=1,
                       dtype="float32", crs=CRS, transform=Affine(cell, 0, x0, 0, -cell, y1),
                       nodata=float("nan")) as dst:
        dst.write(dtm, 1)
    keep = [i for i, f in enumerate(model.footprints)
            if f is not None and not f.is_empty and f.area > 1.0]
    frame = gpd.GeoDataFrame({
        "building_id": [model.ids[i] for i in keep],
        "height": np.round(model.top_z[keep] - model.ground_z[keep], 3),
    }, geometry=[shapely.make_valid(model.footprints[i]) for i in keep], crs=CRS)
    frame = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"]) & (frame["height"] > 0)]
    buildings_path = folder / "denhaag_buildings.geojson"
    frame.to_file(buildings_path, driver="GeoJSON")
    return dtm_path, buildings_path

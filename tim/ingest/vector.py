"""Vector sources (GeoPackage, GeoJSON, Shapefile, SpatiaLite) read into checked GeoDataFrames.

Reading is strict: a file that cannot be opened, a layer without features, a missing CRS, a null or
invalid geometry, or a wrong attribute each raise an error naming the file, the feature and the
field. Nothing is repaired silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import CRSError, GeometryError, InputError
from tim.fields import CONTROL_LINE_FIELDS

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".sqlite", ".fgb"}

#: Default storey height (m) when a building has a storey count but no height.
STOREY_HEIGHT = 3.0
#: Height (m) given to buildings with neither height nor storeys; they are flagged and counted.
DEFAULT_HEIGHT = 9.0


def read_vector(path: str | Path, *, crs: str | None = None, assume_crs: str | None = None,
                layer: str | None = None) -> Any:
    """Read a vector file into a GeoDataFrame with a CRS and valid, non-empty geometries.

    ``crs`` is what the user says the file's CRS is: assigned when the file declares none, an
    error when it declares another (reproject, do not relabel). ``assume_crs`` is only a
    fallback for files without a CRS (the project CRS given on the command line).
    """
    import geopandas as gpd
    import shapely

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path)
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise several types for unreadable files
        raise InputError(f"cannot read as a vector file: {exc}", source=path) from exc
    if len(frame) == 0:
        raise GeometryError("layer is empty (no features)", source=path,
                            field=layer or "layer")
    frame = _with_crs(frame, path, crs, assume_crs)

    geometry = frame.geometry.values
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    if missing.any():
        raise GeometryError(f"{int(missing.sum())} feature(s) have no geometry, first "
                            f"{_feature_label(frame, int(np.flatnonzero(missing)[0]))}",
                            source=path, field="geometry")
    invalid = ~shapely.is_valid(geometry)
    if invalid.any():
        first = int(np.flatnonzero(invalid)[0])
        raise GeometryError(f"{int(invalid.sum())} invalid geometr(y/ies), first "
                            f"{_feature_label(frame, first)}: "
                            f"{shapely.is_valid_reason(geometry[first])}",
                            source=path, field="geometry",
                            hint="repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid)")
    return frame


def _with_crs(frame: Any, path: Path, crs: str | None, assume_crs: str | None) -> Any:
    from pyproj import CRS

    if frame.crs is None:
        crs = crs or assume_crs
        if crs is None:
            raise CRSError("the file declares no CRS", source=path, field="crs",
                           hint="pass --crs EPSG:xxxx or give 'crs' in the catalog")
        try:
            frame = frame.set_crs(CRS.from_user_input(crs))
            frame.attrs["crs_assigned"] = True
            return frame
        except Exception as exc:
            raise CRSError(f"unknown CRS {crs!r}: {exc}", source=path, field="crs") from exc
    if crs is not None and not CRS.from_user_input(crs).equals(frame.crs, ignore_axis_order=True):
        raise CRSError(f"the file declares {frame.crs.to_string()} but {crs} was given",
                       source=path, field="crs",
                       hint="drop the CRS override; layers in another CRS are reprojected")
    return frame


def _feature_label(frame: Any, index: int) -> str:
    for column in ("id", "fid", "building_id", "identificatie", "unit_id", "name"):
        if column in frame.columns:
            return f"feature {index} ({column}={frame[column].iloc[index]!r})"
    return f"feature {index}"


#: Kinds of amenity points the indicators and the household model know.
AMENITY_KINDS = ("school", "park", "transit", "hospital", "centre")


def normalise_zoning(frame: Any, path: str | Path) -> Any:
    """Zoning polygons: unique positive ``zone_id``, ``name``, ``use``, ``max_far`` and
    ``max_height_m`` (either may be empty: no cap). Zones must not overlap: a cell under two
    zones would have two sets of rules."""
    import pandas as pd
    import shapely

    require_columns(frame, path, "zoning", ("zone_id",))
    ids = frame["zone_id"]
    if not np.issubdtype(ids.dtype, np.integer) or (ids <= 0).any() or ids.duplicated().any():
        raise InputError("zone_id must be unique positive integers", source=path,
                         field="zone_id", value=ids.tolist()[:5])
    out = frame[[frame.geometry.name]].copy()
    out["zone_id"] = ids.astype("int64")
    out["name"] = frame["name"].astype(str) if "name" in frame else ids.map(lambda i: f"zone {i}")
    out["use"] = frame["use"].astype(str) if "use" in frame else "mixed"
    for column in ("max_far", "max_height_m"):
        values = pd.to_numeric(frame[column], errors="coerce") if column in frame else \
            pd.Series(np.nan, index=frame.index)
        if (values <= 0).any():
            raise InputError("caps must be positive (leave empty for no cap)", source=path,
                             field=column, value=float(values[values <= 0].iloc[0]))
        out[column] = values.astype(float)
    geoms = out.geometry.values
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="overlaps")
    pairs = [(a, b) for a, b in zip(left, right) if a < b and
             shapely.area(shapely.intersection(geoms[a], geoms[b])) > 1e-6]
    if pairs:
        a, b = pairs[0]
        raise GeometryError(f"zones {int(out['zone_id'].iloc[a])} and "
                            f"{int(out['zone_id'].iloc[b])} overlap "
                            f"({shapely.area(shapely.intersection(geoms[a], geoms[b])):.1f} m2); "
                            "a cell must have one set of zoning rules", source=path,
                            field="geometry")
    return uniform_geometry_type(
        out[["zone_id", "name", "use", "max_far", "max_height_m", "geometry"]])


def normalise_amenities(frame: Any, path: str | Path) -> Any:
    """Amenity points (polygons are reduced to a representative point) with a known ``kind``."""
    require_columns(frame, path, "amenities", ("kind",))
    unknown = sorted(set(frame["kind"]) - set(AMENITY_KINDS))
    if unknown:
        raise InputError(f"unknown amenity kind; known: {', '.join(AMENITY_KINDS)}",
                         source=path, field="kind", value=unknown[0])
    out = frame[["kind"]].copy()
    out["name"] = frame["name"].astype(str) if "name" in frame else frame["kind"]
    out = out.set_geometry(frame.geometry.representative_point(), crs=frame.crs)
    return out[["kind", "name", "geometry"]]


def uniform_geometry_type(frame: Any) -> Any:
    """Promote a layer mixing Polygon and MultiPolygon to MultiPolygon throughout, as a
    GeoPackage table holds one geometry type (so the layer reads back exactly as written)."""
    import shapely

    types = set(frame.geom_type)
    if types == {"Polygon", "MultiPolygon"}:
        frame = frame.copy()
        single = frame.geom_type == "Polygon"
        frame.loc[single, frame.geometry.name] = [
            shapely.MultiPolygon([g]) for g in frame.geometry[single]]
    return frame


def require_columns(frame: Any, path: str | Path, role: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"a {role} layer needs column(s) {', '.join(missing)}; it has "
                         f"{', '.join(c for c in frame.columns if c != 'geometry')}",
                         source=path, field=missing[0])


def normalise_buildings(frame: Any, path: str | Path) -> Any:
    """Standard building columns: building_id, height (m), height_source, storeys, use.

    Height comes from a ``height`` column, else ``storeys`` x :data:`STOREY_HEIGHT`, else
    :data:`DEFAULT_HEIGHT` with ``height_source = "default"`` so the guess stays visible.
    """
    import pandas as pd

    out = frame[[frame.geometry.name]].copy()
    ids = frame["building_id"] if "building_id" in frame else frame.get("id")
    out["building_id"] = (ids.astype(str) if ids is not None
                          else [f"b{i}" for i in range(len(frame))])
    if out["building_id"].duplicated().any():
        dup = out["building_id"][out["building_id"].duplicated()].iloc[0]
        raise InputError("building ids must be unique", source=path, field="building_id",
                         value=dup)
    height = pd.to_numeric(frame.get("height"), errors="coerce") if "height" in frame else None
    storeys = pd.to_numeric(frame.get("storeys"), errors="coerce") if "storeys" in frame else None
    source = np.full(len(frame), "default", dtype=object)
    value = np.full(len(frame), DEFAULT_HEIGHT)
    if storeys is not None:
        ok = storeys.to_numpy() > 0
        value[ok], source[ok] = storeys.to_numpy()[ok] * STOREY_HEIGHT, "storeys"
    if height is not None:
        bad = height.to_numpy() <= 0
        if bad.any():
            raise InputError("building heights must be positive", source=path, field="height",
                             value=float(height.to_numpy()[bad][0]))
        ok = np.isfinite(height.to_numpy())
        value[ok], source[ok] = height.to_numpy()[ok], "attribute"
    out["height"] = value.astype(float)
    out["height_source"] = source.astype(str)
    out["storeys"] = (storeys.fillna(0).astype("int64") if storeys is not None
                      else np.maximum(1, np.round(out["height"] / STOREY_HEIGHT)).astype("int64"))
    out["use"] = frame["use"].astype(str) if "use" in frame else "unknown"
    return uniform_geometry_type(
        out[["building_id", "height", "height_source", "storeys", "use", "geometry"]])


def normalise_control_lines(frame: Any, path: str | Path) -> Any:
    """Control-line polygons with a ``kind`` among the known kinds and an optional ``name``."""
    require_columns(frame, path, "control_lines", ("kind",))
    unknown = sorted(set(frame["kind"]) - set(CONTROL_LINE_FIELDS))
    if unknown:
        raise InputError(f"unknown control-line kind; known: {', '.join(CONTROL_LINE_FIELDS)}",
                         source=path, field="kind", value=unknown[0])
    out = frame[["kind", frame.geometry.name]].copy()
    out["name"] = frame["name"].astype(str) if "name" in frame else out["kind"]
    return uniform_geometry_type(out[["kind", "name", "geometry"]])


def normalise_planning_units(frame: Any, path: str | Path) -> Any:
    """Planning units with a unique positive ``unit_id`` and their district and city."""
    require_columns(frame, path, "planning_units", ("unit_id",))
    ids = frame["unit_id"]
    if not np.issubdtype(ids.dtype, np.integer) or (ids <= 0).any():
        raise InputError("unit_id must be a positive integer", source=path, field="unit_id",
                         value=ids[~(ids > 0)].iloc[0] if (~(ids > 0)).any() else ids.dtype)
    if ids.duplicated().any():
        raise InputError("unit_id must be unique", source=path, field="unit_id",
                         value=int(ids[ids.duplicated()].iloc[0]))
    out = frame[[frame.geometry.name]].copy()
    out["unit_id"] = ids.astype("int64")
    for column, default in (("name", None), ("district", "district"), ("city", "city")):
        values = frame[column] if column in frame else (
            ids.map(lambda i: f"unit {i}") if default is None else default)
        out[column] = values if isinstance(values, str) else values.astype(str)
    return uniform_geometry_type(out[["unit_id", "name", "district", "city", "geometry"]])

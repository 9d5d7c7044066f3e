"""Build a territory from sources: choose the project CRS and grid, bring every source onto them.

Rules (each step is written to the territory's history):

* Project CRS: the one given, else the CRS of the elevation raster (or the first source); a
  geographic CRS is replaced by the UTM zone of the data's centre.
* Grid: the elevation raster's grid (resampled to ``cell_size`` if given), else the land-use
  raster's, else the vectors' extent at ``cell_size``.
* Rasters: bilinear for elevation, nearest/mode for land use, sum for population.
* Vectors are reprojected explicitly to the project CRS and rasterised by cell centre:
  buildings -> ``building__height`` (tallest wins) and ``building__floor_area`` (by centroid),
  control lines -> ``control__*`` masks, planning units -> ``planning__unit_id``, zoning ->
  ``zoning__zone_id``/``zoning__max_far``/``zoning__max_height`` (NaN: no cap), land-use
  polygons (``code`` column) -> ``land_use__class``; amenity points are kept as a layer.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.classes import DEFAULT_CLASSES
from tim.derive import grid_planning_units
from tim.errors import CRSError, InputError
from tim.fields import CONTROL_LINE_FIELDS, field_spec
from tim.ingest.catalog import Catalog, SourceSpec
from tim.ingest.raster import RasterSource, grid_for, read_raster, resample
from tim.ingest.vector import (normalise_amenities, normalise_buildings,
                               normalise_control_lines, normalise_planning_units,
                               normalise_zoning, read_vector, require_columns)
from tim.model import ClassTable, Grid, Territory, crs_equal
from tim.plan import Plan, check_balance, load_plan
from tim.rasterize import floor_area_by_centroid, rasterize

log = logging.getLogger(__name__)

RASTER_FIELDS = {"elevation": ("terrain__elevation", "continuous"),
                 "land_use": ("land_use__class", "categorical"),
                 "population": ("population__count", "count")}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_from_catalog(catalog: Catalog, *, crs: str | None = None,
                       cell_size: float | None = None) -> Territory:
    """Build the territory a catalog describes; ``crs``/``cell_size`` override the catalog's."""
    classes = (ClassTable.from_list(c.model_dump() for c in catalog.classes)
               if catalog.classes else DEFAULT_CLASSES)
    territory = build_territory(catalog.sources, crs=crs or catalog.crs,
                                cell_size=cell_size or catalog.cell_size, classes=classes,
                                name=catalog.name, vertical_datum=catalog.vertical_datum)
    if catalog.grid_units is not None:
        grid_planning_units(territory, catalog.grid_units.size,
                            districts_of=catalog.grid_units.districts_of)
    return territory


def build_territory(sources: Sequence[SourceSpec], *, crs: str | None = None,
                    cell_size: float | None = None, classes: ClassTable = DEFAULT_CLASSES,
                    name: str = "territory", vertical_datum: str | None = None) -> Territory:
    """Read ``sources`` and put them on one grid in one CRS.

    ``crs`` is the project CRS; it is also assigned to sources that declare no CRS of their own
    (recorded as an assumption in the history). Without it, such a source is an error.
    """
    _check_roles(sources)
    plans = [(spec, load_plan(spec.path)) for spec in sources if spec.kind == "plan"]
    loaded = [_read(spec, crs) for spec in sources if spec.kind != "plan"]
    if not loaded:
        raise InputError("no spatial source: a territory needs a raster or vector layer",
                         field="sources")
    project_crs = _project_crs(crs, loaded)
    grid = _grid(loaded, project_crs, cell_size)
    territory = Territory(grid=grid, classes=classes, name=name,
                          vertical_datum=vertical_datum or _vertical_datum(loaded))
    territory.record("create", crs=project_crs, shape=list(grid.shape),
                     cell_size=list(grid.cell_size), bounds=list(grid.bounds))
    for spec, data in loaded:
        _record_ingest(territory, spec, source_crs=_crs_of(data),
                       crs_assigned=_crs_assigned(data))
        if spec.kind == "raster":
            _add_raster(territory, spec, data)
        else:
            _add_vector(territory, spec, data)
    for spec, plan in plans:  # plans refer to the planning units: attach them last
        _record_ingest(territory, spec)
        _add_plan(territory, spec, plan)
    _check_classes(territory, [s for s, _ in loaded if s.role == "land_use"])
    return territory


def _record_ingest(territory: Territory, spec: SourceSpec, **detail: Any) -> None:
    territory.record("ingest", source=str(spec.path), role=spec.role, kind=spec.kind,
                     sha256=file_sha256(spec.path), licence=spec.licence,
                     synthetic=spec.synthetic, **detail)


def _check_roles(sources: Sequence[SourceSpec]) -> None:
    if not sources:
        raise InputError("no sources given", field="sources")
    roles = [s.role for s in sources]
    for role in set(roles):
        if roles.count(role) > 1:
            paths = [str(s.path) for s in sources if s.role == role]
            raise InputError(f"more than one {role} source: {', '.join(paths)}", field="role",
                             value=role, hint="merge them first or give one per role")


def _read(spec: SourceSpec, project_crs: str | None) -> tuple[SourceSpec, Any]:
    if spec.kind == "raster":
        return spec, read_raster(spec.path, crs=spec.crs, assume_crs=project_crs)
    frame = read_vector(spec.path, crs=spec.crs, assume_crs=project_crs, layer=spec.layer)
    return spec, _rename_columns(frame, spec)


def _rename_columns(frame: Any, spec: SourceSpec) -> Any:
    """Apply the catalog's ``columns`` mapping (standard name -> column in the file)."""
    missing = [c for c in spec.columns.values() if c not in frame.columns]
    if missing:
        raise InputError(f"column {missing[0]!r} named in the catalog is not in the file "
                         f"(columns: {', '.join(c for c in frame.columns if c != 'geometry')})",
                         source=spec.path, field=f"columns.{missing[0]}")
    renamed = frame.drop(columns=[c for c in spec.columns if c in frame.columns
                                  and c not in spec.columns.values()])
    renamed = renamed.rename(columns={v: k for k, v in spec.columns.items()})
    renamed.attrs.update(frame.attrs)
    return renamed


def _crs_assigned(data: Any) -> bool:
    """True when the file declared no CRS and the given one was assigned to it."""
    if isinstance(data, RasterSource):
        return data.crs_assigned
    return bool(data.attrs.get("crs_assigned", False))


def _crs_of(data: Any) -> str:
    return data.crs if isinstance(data, RasterSource) else data.crs.to_string()


def _add_plan(territory: Territory, spec: SourceSpec, plan: Plan) -> None:
    """Attach the plan; allocations that do not balance are recorded as warnings, not refused:
    monitoring must be able to show an unbalanced plan."""
    units = territory.layers.get("planning_units")
    if units is None:
        raise InputError("a plan needs the planning_units layer", source=spec.path,
                         field="role")
    district_of = dict(zip(units["unit_id"].astype(int), units["district"].astype(str)))
    for problem in check_balance(plan, district_of):
        log.warning("%s: %s", spec.path, problem)
        territory.record("warning", source=str(spec.path), problem=problem)
    territory.plan = plan


def _project_crs(crs: str | None, loaded: list[tuple[SourceSpec, Any]]) -> str:
    from pyproj import CRS

    if crs is not None:
        try:
            chosen = CRS.from_user_input(crs)
        except Exception as exc:
            raise CRSError(f"unknown CRS {crs!r}: {exc}", field="--crs") from exc
    else:
        first = sorted(loaded, key=lambda sd: sd[0].role != "elevation")[0][1]
        chosen = CRS.from_user_input(_crs_of(first))
    if chosen.is_compound:
        chosen = chosen.sub_crs_list[0]
    if chosen.is_geographic:
        chosen = _utm_for(loaded, chosen)
    if not chosen.is_projected:
        raise CRSError(f"the project CRS must be projected (metres), not {chosen.name}",
                       field="crs")
    authority = chosen.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else chosen.to_wkt()


def _utm_for(loaded: list[tuple[SourceSpec, Any]], geographic: Any) -> Any:
    from pyproj import CRS, Transformer
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    boxes = []
    for _, data in loaded:
        bounds = data.grid.bounds if isinstance(data, RasterSource) else data.total_bounds
        t = Transformer.from_crs(_crs_of(data), "EPSG:4326", always_xy=True)
        boxes.append(t.transform_bounds(*bounds))
    w, s = min(b[0] for b in boxes), min(b[1] for b in boxes)
    e, n = max(b[2] for b in boxes), max(b[3] for b in boxes)
    lon, lat = (w + e) / 2, (s + n) / 2
    info = query_utm_crs_info(datum_name="WGS 84",
                              area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    log.info("geographic input (%s): using %s", geographic.name, info[0].name)
    return CRS.from_epsg(int(info[0].code))


def _grid(loaded: list[tuple[SourceSpec, Any]], crs: str, cell_size: float | None) -> Grid:
    rasters = {s.role: d for s, d in loaded if isinstance(d, RasterSource)}
    for role in ("elevation", "land_use", "population"):
        if role in rasters:
            return grid_for(rasters[role], crs, cell_size)
    if cell_size is None:
        raise InputError("without a raster source the cell size must be given",
                         field="--cell-size")
    frames = [d.to_crs(crs) for _, d in loaded]
    xmin = min(f.total_bounds[0] for f in frames)
    ymin = min(f.total_bounds[1] for f in frames)
    xmax = max(f.total_bounds[2] for f in frames)
    ymax = max(f.total_bounds[3] for f in frames)
    cols, rows = int(np.ceil((xmax - xmin) / cell_size)), int(np.ceil((ymax - ymin) / cell_size))
    return Grid(crs, (cell_size, 0.0, xmin, 0.0, -cell_size, ymax), (rows, cols))


def _vertical_datum(loaded: list[tuple[SourceSpec, Any]]) -> str:
    from pyproj import CRS

    for _, data in loaded:
        c = CRS.from_user_input(_crs_of(data))
        if c.is_compound and len(c.sub_crs_list) > 1:
            return c.sub_crs_list[1].name
    return "unknown"


def _add_raster(territory: Territory, spec: SourceSpec, source: RasterSource) -> None:
    name, kind = RASTER_FIELDS[spec.role]
    field = field_spec(name)
    if spec.scale is not None:
        valid = source.values != source.nodata if source.nodata is not None else True
        scaled = np.where(valid, source.values.astype(np.float64) * spec.scale, source.values)
        source = RasterSource(source.path, scaled, source.transform, source.crs, source.nodata,
                              source.crs_assigned)
        territory.record("scale", field=name, source=str(spec.path), factor=spec.scale)
    values = resample(source, territory.grid, kind=kind, dtype=field.dtype, nodata=field.nodata)
    if not crs_equal(source.crs, territory.grid.crs) or source.transform != \
            territory.grid.transform:
        territory.record("resample", field=name, source=str(spec.path), method=kind,
                         from_crs=source.crs, to_crs=territory.grid.crs)
    territory.set_field(name, values)


def _add_vector(territory: Territory, spec: SourceSpec, frame: Any) -> None:
    if not crs_equal(frame.crs, territory.grid.crs):
        territory.record("reproject", layer=spec.role, source=str(spec.path),
                         from_crs=frame.crs.to_string(), to_crs=territory.grid.crs)
        frame = frame.to_crs(territory.grid.crs)
    grid = territory.grid
    if spec.role == "buildings":
        frame = normalise_buildings(frame, spec.path)
        order = np.argsort(frame["height"].to_numpy(), kind="stable")  # tallest drawn last
        territory.set_field("building__height", rasterize(
            frame.geometry.values[order], frame["height"].to_numpy()[order], grid, "float32"))
        territory.set_field("building__floor_area", floor_area_by_centroid(frame, grid))
        counts = frame["height_source"].value_counts().to_dict()
        territory.record("derive", layer="buildings", count=len(frame),
                         height_sources={k: int(v) for k, v in counts.items()})
    elif spec.role == "control_lines":
        frame = normalise_control_lines(frame, spec.path)
        for kind, field in CONTROL_LINE_FIELDS.items():
            shapes = frame.geometry.values[frame["kind"].to_numpy() == kind]
            territory.set_field(field, rasterize(shapes, np.ones(len(shapes)), grid, "uint8"))
    elif spec.role == "planning_units":
        frame = normalise_planning_units(frame, spec.path)
        territory.set_field("planning__unit_id", rasterize(
            frame.geometry.values, frame["unit_id"].to_numpy(), grid, "int32"))
    elif spec.role == "zoning":
        frame = normalise_zoning(frame, spec.path)
        shapes = frame.geometry.values
        territory.set_field("zoning__zone_id", rasterize(
            shapes, frame["zone_id"].to_numpy(), grid, "int32"))
        for column, field in (("max_far", "zoning__max_far"),
                              ("max_height_m", "zoning__max_height")):
            territory.set_field(field, rasterize(shapes, frame[column].to_numpy(), grid,
                                                 "float32", fill=np.nan))
    elif spec.role == "amenities":
        frame = normalise_amenities(frame, spec.path)
    elif spec.role == "land_use":
        require_columns(frame, spec.path, "land_use", ("code",))
        territory.set_field("land_use__class", rasterize(
            frame.geometry.values, frame["code"].to_numpy(), grid, "uint8", fill=255))
        return  # land-use polygons are rasterised, not kept as a layer
    territory.add_layer(spec.role, frame.reset_index(drop=True))


def _check_classes(territory: Territory, land_use_sources: list[SourceSpec]) -> None:
    if "land_use__class" not in territory.fields:
        return
    present = np.unique(territory.fields["land_use__class"])
    nodata = field_spec("land_use__class").nodata
    unknown = sorted(set(present.tolist()) - set(territory.classes.codes.tolist()) - {nodata})
    if unknown:
        source = land_use_sources[0].path if land_use_sources else None
        raise InputError(f"class codes {unknown} are not in the class table "
                         f"({territory.classes.codes.tolist()})", source=source,
                         field="land_use__class", value=unknown,
                         hint="add them to 'classes' in the catalog")

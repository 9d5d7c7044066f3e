"""Build a territory from sources: choose the project CRS and grid, bring every source onto them.

This is the one place that assembles a territory; readers (``tim.ingest.*``) only read. Rules
(each step is written to the territory's history, with what was repaired, skipped or filled in):

* **Project CRS** (:mod:`tim.ingest.crs`): the one given, else the horizontal CRS of the
  elevation raster (or the first source); geographic input gets a local projected CRS (CGCS2000
  Gauss-Krueger zone in China, UTM elsewhere). Sources are reprojected explicitly.
* **Vertical datum**: from the sources' compound CRSs (e.g. NAP from EPSG:7415) or the catalog;
  mixed or unknown datums are recorded as warnings, heights are never converted silently.
* **Grid**: the elevation raster's grid (resampled to ``cell_size`` if given), else the first
  other raster's, else the extent of all sources at ``cell_size``, snapped to its multiples.
* **Rasters**: bilinear for elevation and surface, nearest (mode when coarsening) for land use,
  sum for population.
* **Terrain** without an elevation raster: a CityJSON TIN, else a point cloud's ground points
  (:mod:`tim.ingest.pointcloud`); a point cloud also gives the DSM when no surface raster does.
* **Vectors** (:mod:`tim.rasterize` for the rules): buildings -> ``building__height`` (cell
  centre, tallest wins), ``building__floor_area`` (by centroid) and
  ``building__footprint_fraction`` (exact fractions); land-use polygons -> ``land_use__class``
  (largest polygons drawn first so nested ones stay visible; cell centre or majority);
  control lines -> ``control__*``; planning units -> ``planning__unit_id`` and
  ``planning__district_id``; zoning -> ``zoning__zone_id``, ``zoning__max_far`` and
  ``zoning__max_height`` (NaN: no cap); amenity points are kept as a layer.
* **Plan** targets (:mod:`tim.plan`) are attached after the planning units; allocations that do
  not balance are recorded as warnings. ``grid_units`` in a catalog adds synthetic units.
* **Buildings** get their height by the rules of :mod:`tim.ingest.layers` (attribute, LiDAR,
  storeys, flagged default) and the planning unit and zone under their representative point.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.classes import DEFAULT_CLASSES, class_mapper, load_class_map
from tim.errors import InputError
from tim.fields import CONTROL_LINE_FIELDS, field_spec
from tim.geometry3d import PointCloud, TriangleMesh
from tim.ingest import layers as lyr
from tim.ingest.catalog import REPEATABLE_ROLES, Catalog, SourceSpec
from tim.ingest.crs import (choose_project_crs, crs_label, horizontal, parse_crs,
                            reconcile_datums, vertical_datum)
from tim.ingest.raster import (RasterSource, check_overlap, check_values, grid_for,
                               read_raster, resample, resolves)
from tim.ingest.report import IngestReport
from tim.limits import check_memory
from tim.derive import grid_planning_units
from tim.model import ClassTable, Grid, Territory, crs_equal
from tim.plan import Plan, check_balance, load_plan
from tim.rasterize import (coverage_fraction, floor_area_by_centroid, rasterize,
                           rasterize_majority, rasterize_tin)

log = logging.getLogger(__name__)

#: Memory a built territory takes per grid cell (bytes), with the build's working copies.
BYTES_PER_CELL = 160
RASTER_FIELDS = {"elevation": ("terrain__elevation", "continuous"),
                 "surface": ("surface__elevation", "continuous"),
                 "land_use": ("land_use__class", "categorical"),
                 "population": ("population__count", "count")}
#: What each role puts into the territory, to refuse two sources of the same thing.
PROVIDES = {"city_model": ("buildings",), "osm": ("buildings", "land_use")}
#: Roles whose sources carry absolute heights (their vertical datum matters).
HEIGHT_ROLES = {"elevation", "surface", "city_model", "points", "mesh"}


@dataclass
class Loaded:
    """One source (or a group of point-cloud tiles) as read, before it meets the grid."""

    specs: list[SourceSpec]
    kind: str
    data: Any

    @property
    def spec(self) -> SourceSpec:
        return self.specs[0]

    @property
    def label(self) -> str:
        return ", ".join(str(s.path) for s in self.specs)

    @property
    def crs(self) -> Any:
        from pyproj import CRS

        if self.kind == "raster":
            return CRS.from_user_input(self.data.crs)
        if self.kind == "vector":
            return self.data.crs
        if self.kind == "osm":
            return CRS.from_epsg(4326)
        return self.data.crs  # CityModel, PointSource, MeshSource: as declared or given

    @property
    def crs_assigned(self) -> bool:
        if self.kind == "raster":
            return self.data.crs_assigned
        if self.kind == "vector":
            return bool(self.data.attrs.get("crs_assigned", False))
        return bool(getattr(self.data, "crs_assigned", self.kind == "mesh"))

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in :attr:`crs`."""
        if self.kind == "raster":
            return self.data.grid.bounds
        if self.kind == "vector":
            return tuple(self.data.total_bounds)
        if self.kind == "osm":
            frames = [f for f in (self.data.buildings, self.data.land_use) if len(f)]
            b = np.array([f.total_bounds for f in frames])
            return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        if self.kind == "cityjson":
            boxes = [tuple(self.data.buildings.total_bounds)] if len(self.data.buildings) else []
            if self.data.terrain is not None:
                t = self.data.terrain.bounds
                boxes.append((t[0], t[1], t[3], t[4]))
            b = np.array(boxes)
            return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        t = self.data.cloud.bounds if self.kind == "points" else self.data.mesh.bounds
        return t[0], t[1], t[3], t[4]


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
                                name=catalog.name, vertical_datum=catalog.vertical_datum,
                                heights=lyr.HeightRules(**catalog.heights.model_dump()))
    if catalog.sea is not None:
        apply_sea(territory, catalog.sea)
    if catalog.population_spread is not None:
        spread_population(territory, catalog.population_spread)
    for spec in catalog.layers:
        _add_kept_layer(territory, spec)
    if catalog.grid_units is not None:
        grid_planning_units(territory, catalog.grid_units.size,
                            districts_of=catalog.grid_units.districts_of)
    if catalog.observed:
        territory.record("series", epochs={k: str(v) for k, v in catalog.observed.items()},
                         note="land-use maps of earlier epochs: scenarios.calibration.series puts them "
                              "on this grid with the land-use source's class_map")
    return territory


def apply_sea(territory: Territory, sea: Any) -> None:
    """The ``sea`` section of a catalog (:class:`tim.ingest.catalog.SeaSpec`): sea cells get
    the sea class and the sea bed; low land-use cells the nearest higher land's elevation;
    cells beyond a land border are outside. Every change is counted in the history."""
    from scipy import ndimage

    if "terrain__elevation" not in territory.fields or "land_use__class" not in \
            territory.fields:
        raise InputError("the sea section needs an elevation and a land-use source",
                         field="sea")
    if sea.code not in territory.classes.codes.tolist():
        raise InputError(f"sea class {sea.code} is not in the class table", field="sea.code",
                         value=sea.code)
    z = territory.fields["terrain__elevation"].astype(np.float32, copy=True)
    lu = territory.fields["land_use__class"].copy()
    nodata = field_spec("land_use__class").nodata
    no_use = lu == nodata
    low = ~(z > sea.elevation_at_most)  # NaN counts as low: no terrain there
    land = ~no_use | ~low
    outside = np.zeros(lu.shape, dtype=bool)
    if sea.land_border is not None:
        outside = beyond_land_border(territory.grid, land, sea.land_border.side,
                                     sea.land_border.line) & no_use & low
    is_sea = no_use & low & ~outside
    filled = 0
    fill = ~no_use & low
    if sea.fill_land == "nearest" and fill.any() and (~low).any():
        _, (r, c) = ndimage.distance_transform_edt(low, return_indices=True)
        z[fill] = z[r[fill], c[fill]]
        filled = int(fill.sum())
    unmapped = no_use & ~low
    if sea.unmapped_land is not None:
        lu[unmapped] = sea.unmapped_land
    lu[is_sea] = sea.code
    z[is_sea] = sea.bed
    z[outside] = np.nan
    territory.set_field("terrain__elevation", z)
    territory.set_field("land_use__class", lu)
    territory.record("sea", sea_cells=int(is_sea.sum()), sea_class=sea.code, bed=sea.bed,
                     rule=f"no land use and elevation <= {sea.elevation_at_most}",
                     land_filled_from_nearest=filled, unmapped_land=int(unmapped.sum()),
                     unmapped_land_class=sea.unmapped_land,
                     land_border=sea.land_border.model_dump() if sea.land_border else None,
                     outside_cells=int(outside.sum()))


def spread_population(territory: Territory, spec: Any) -> None:
    """``population__count``: ``spec.total`` residents spread evenly over the cells of the
    land-use group ``spec.group`` (a stand-in for data that have no population)."""
    if "population__count" in territory.fields:
        raise InputError("population_spread and a population source both give the "
                         "population", field="population_spread")
    if "land_use__class" not in territory.fields:
        raise InputError("population_spread needs a land-use source", field="population_spread")
    cells = territory.classes.group_mask(territory.fields["land_use__class"], spec.group)
    if not cells.any():
        raise InputError(f"no cells of group {spec.group!r} to spread the population over",
                         field="population_spread.group", value=spec.group)
    if spec.by_district:
        population = _district_shares(territory, spec, cells)
        rule = (f"{spec.total:,.0f} residents shared among {len(spec.by_district)} districts "
                f"in proportion to by_district, spread evenly over each district's cells of "
                f"group {spec.group}")
    else:
        population = np.where(cells, spec.total / cells.sum(), 0.0).astype(np.float32)
        rule = (f"{spec.total:,.0f} residents spread evenly over the {int(cells.sum()):,} "
                f"cells of group {spec.group}")
    territory.set_field("population__count", population)
    territory.record("derive", field="population__count", synthetic=True, rule=rule,
                     total=spec.total, source=spec.source)


def _district_shares(territory: Territory, spec: Any, cells: np.ndarray) -> np.ndarray:
    """``spec.total`` shared in proportion to ``spec.by_district`` and spread evenly over
    each district's ``cells``; a district unknown to the planning units, or without such
    cells, is refused (naming it)."""
    units = territory.layers.get("planning_units")
    if units is None or "planning__district_id" not in territory.fields:
        raise InputError("population_spread.by_district needs planning units with districts",
                         field="population_spread.by_district")
    ids = dict(zip(units["district"], units["district_id"]))
    district = territory.fields["planning__district_id"]
    weights = np.asarray(list(spec.by_district.values()), float)
    population = np.zeros(district.shape, np.float32)
    for (name, _), share in zip(spec.by_district.items(), weights / weights.sum()):
        if name not in ids:
            raise InputError("not a district of the planning units",
                             field=f"population_spread.by_district.{name}", value=name,
                             hint=f"districts: {', '.join(sorted(ids))}")
        here = cells & (district == ids[name])
        if not here.any():
            raise InputError(f"no cells of group {spec.group!r} in this district",
                             field=f"population_spread.by_district.{name}", value=name)
        population[here] = spec.total * share / here.sum()
    return population


def beyond_land_border(grid: Grid, land: np.ndarray, side: str,
                       line: Sequence[tuple[float, float]]) -> np.ndarray:
    """Cells beyond ``line`` on ``side`` (``north``/``south``) that also lie beyond the
    outermost ``land`` cell of their column; columns outside the line's x range have none.

    Examples
    --------
    >>> grid = Grid("EPSG:2326", (1.0, 0.0, 0.0, 0.0, -1.0, 3.0), (3, 3))
    >>> land = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=bool)
    >>> beyond_land_border(grid, land, "north", [(0, 1.0), (3, 1.0)]).astype(int).tolist()
    [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    """
    xy = np.asarray(line, dtype=float)
    if np.any(np.diff(xy[:, 0]) <= 0):
        raise InputError("the land border's x must rise along the line", field="sea."
                         "land_border.line", value=xy[:, 0].tolist())
    xc, yc = grid.cell_centres()
    inside = (xc >= xy[0, 0]) & (xc <= xy[-1, 0])
    y_line = np.interp(xc, xy[:, 0], xy[:, 1])
    if side == "north":
        rows = np.where(land.any(axis=0), land.argmax(axis=0), land.shape[0])
        beyond_land = np.arange(land.shape[0])[:, None] < rows[None, :]
        beyond_line = yc[:, None] > y_line[None, :]
    else:
        last = land.shape[0] - 1 - land[::-1].argmax(axis=0)
        rows = np.where(land.any(axis=0), last, -1)
        beyond_land = np.arange(land.shape[0])[:, None] > rows[None, :]
        beyond_line = yc[:, None] < y_line[None, :]
    return beyond_land & beyond_line & inside[None, :]


def _add_kept_layer(territory: Territory, spec: Any) -> None:
    from tim.ingest.vector import read_vector

    if spec.name in territory.layers:
        raise InputError(f"layer {spec.name!r} exists already", field="layers.name",
                         value=spec.name)
    report = IngestReport()
    frame = read_vector(spec.path, assume_crs=territory.grid.crs, layer=spec.layer,
                        report=report, polygons=False)
    if not crs_equal(frame.crs, territory.grid.crs):
        frame = frame.to_crs(territory.grid.crs)
    territory.add_layer(spec.name, frame.reset_index(drop=True))
    territory.record("ingest", source=str(spec.path), layer=spec.layer, role="layer",
                     name=spec.name, kind="vector", features=len(frame),
                     sha256=file_sha256(spec.path), licence=spec.licence,
                     description=spec.description, synthetic=spec.synthetic)


def build_territory(sources: Sequence[SourceSpec], *, crs: str | None = None,
                    cell_size: float | None = None, classes: ClassTable = DEFAULT_CLASSES,
                    name: str = "territory", vertical_datum: str | None = None,
                    heights: lyr.HeightRules = lyr.HeightRules()) -> Territory:
    """Read ``sources`` and put them on one grid in one CRS (module doc for the rules).

    ``crs`` is the project CRS; it is also assigned to sources that declare no CRS of their own
    (recorded as an assumption in the history). Without it, such a source is an error.
    """
    report = IngestReport()
    if crs is not None:
        parse_crs(crs, field="--crs")  # an unknown CRS is refused before anything is read
    plans = [(spec, load_plan(spec.path)) for spec in sources if spec.role == "plan"]
    groups = _check_roles([spec for spec in sources if spec.role != "plan"])
    loaded = [_read(specs, crs, classes, report) for specs in groups]
    by_role = {item.spec.role: item for item in loaded}
    ordered = sorted(loaded, key=lambda item: item.spec.role != "elevation")
    project_crs, rule = choose_project_crs(crs, [(i.crs, i.bounds()) for i in ordered])
    grid = _grid(loaded, project_crs, cell_size)
    rows, cols = grid.shape
    # ~20 float32 fields plus a few float64 working copies per cell
    check_memory(rows * cols * BYTES_PER_CELL, f"a grid of {rows:,} x {cols:,} cells",
                 field="--cell-size", hint="use a larger cell size")
    datum, warnings = reconcile_datums(vertical_datum, [
        (item.label, vertical_datum_of(item)) for item in loaded
        if item.spec.role in HEIGHT_ROLES])
    territory = Territory(grid=grid, classes=classes, name=name, vertical_datum=datum)
    territory.record("create", crs=project_crs, crs_rule=rule, shape=list(grid.shape),
                     cell_size=list(grid.cell_size), bounds=list(grid.bounds),
                     vertical_datum=datum)
    for item in loaded:
        territory.record("ingest", source=item.label, role=item.spec.role, kind=item.kind,
                         sha256=[file_sha256(s.path) for s in item.specs] if len(item.specs) > 1
                         else file_sha256(item.spec.path), licence=item.spec.licence,
                         synthetic=item.spec.synthetic, source_crs=crs_label(item.crs),
                         crs_assigned=item.crs_assigned, vertical_datum=vertical_datum_of(item))
    for item in loaded:
        if item.kind == "raster" and getattr(item.data, "declared_crs", None):
            territory.record("assign_crs", source=item.label, assigned=item.data.crs,
                             declared=parse_crs(item.data.declared_crs).name,
                             reason="the file's CRS resolves to no EPSG code; the catalog's "
                                    "crs was assigned over it")
        elif item.kind == "raster" and not item.data.crs_assigned and \
                not resolves(item.data.crs):
            warnings.append(f"{item.label}: its CRS ({parse_crs(item.data.crs).name}) resolves "
                            f"to no EPSG code; it was used as written and brought onto "
                            f"{project_crs}; give 'crs' for this source to assign one")
    for item in loaded:
        if item.kind == "vector" and item.data.attrs.get("skipped_values"):
            territory.record("skip", source=item.label, role=item.spec.role,
                             reason="value not in the catalog's value_map",
                             values=item.data.attrs["skipped_values"])
    for message in warnings:
        log.warning(message)
        territory.record("warning", message=message)

    security: dict[str, dict[str, Any]] = {}

    def classified(spec: SourceSpec, add: Any, *args: Any) -> None:
        """Run ``add`` and give what it created the source's security level."""
        before = _contents(territory)
        add(territory, *args)
        for name in sorted(_contents(territory) - before):
            security[name] = {"level": spec.security, "generalise_m": spec.generalise_m}

    for role in ("elevation", "surface", "land_use", "population"):
        if role in by_role and by_role[role].kind == "raster":
            classified(by_role[role].spec, _add_raster, by_role[role])
    if "city_model" in by_role:
        classified(by_role["city_model"].spec, _add_city_terrain, by_role["city_model"])
    if "points" in by_role:
        classified(by_role["points"].spec, _add_points, by_role["points"])
    for item in loaded:
        if item.kind in ("vector", "osm") and item.spec.role in ("land_use", "osm"):
            classified(item.spec, _add_land_use, item, report)
    for item in loaded:
        if item.spec.role in ("buildings", "city_model", "osm"):
            classified(item.spec, _add_buildings, item, heights, report)
    for role, add in (("control_lines", _add_control_lines),
                      ("planning_units", _add_planning_units), ("zoning", _add_zoning),
                      ("amenities", _add_amenities)):
        if role in by_role:
            classified(by_role[role].spec, add, by_role[role])
    for spec, plan in plans:  # plans refer to the planning units
        territory.record("ingest", source=str(spec.path), role="plan", kind="plan",
                         sha256=file_sha256(spec.path), licence=spec.licence,
                         synthetic=spec.synthetic)
        _add_plan(territory, spec, plan)
    if "mesh" in by_role:
        item = by_role["mesh"]
        from tim.ingest.mesh import mesh_to_crs

        classified(item.spec, lambda t: t.add_3d(item.spec.path.stem,
                                                 mesh_to_crs(item.data.mesh, project_crs)))
    territory.record("classify", levels=security)
    if "buildings" in territory.layers:
        territory.layers["buildings"] = _planning_attributes(territory)
    for group in report.grouped():
        territory.record(group.pop("action"), **group)
    _check_classes(territory, [s for s in sources if s.role == "land_use"])
    return territory


def vertical_datum_of(item: Loaded) -> str | None:
    return vertical_datum(item.crs)


def _check_roles(sources: Sequence[SourceSpec]) -> list[list[SourceSpec]]:
    """Sources grouped by role (repeatable roles together); two sources of one thing refused."""
    if not sources:
        raise InputError("no sources given", field="sources")
    for spec in sources:
        _ = spec.kind  # a file that cannot fill its role is refused before anything is read
    groups: dict[str, list[SourceSpec]] = {}
    for spec in sources:
        groups.setdefault(spec.role, []).append(spec)
    providers: dict[str, list[SourceSpec]] = {}
    for role, specs in groups.items():
        if len(specs) > 1 and role not in REPEATABLE_ROLES:
            raise InputError(f"more than one {role} source: "
                             f"{', '.join(str(s.path) for s in specs)}", field="role",
                             value=role, hint="merge them first or give one per role")
        for provided in PROVIDES.get(role, (role,)):
            providers.setdefault(provided, []).extend(specs[:1])
    for provided, specs in providers.items():
        if len(specs) > 1:
            raise InputError(f"{provided} would come from more than one source: " + ", ".join(
                f"{s.path} (role {s.role})" for s in specs), field="role", value=provided,
                hint=f"give the other ones a narrower role (e.g. role {provided!r} only for "
                     "one of them, 'buildings' or 'land_use' for an OSM file)")
    return list(groups.values())


def _read(specs: list[SourceSpec], project_crs: str | None, classes: ClassTable,
          report: IngestReport) -> Loaded:
    spec = specs[0]
    kind = spec.kind
    if kind == "raster":
        data: Any = read_raster(spec.path, crs=spec.crs, assume_crs=project_crs)
    elif kind == "vector":
        from tim.ingest.vector import read_vector

        frame = read_vector(spec.path, crs=spec.crs, assume_crs=project_crs, layer=spec.layer,
                            report=report, polygons=spec.role != "amenities")
        data = _rename_columns(frame, spec)
    elif kind == "cityjson":
        from tim.ingest.cityjson import read_cityjson

        data = read_cityjson(spec.path, crs=spec.crs, assume_crs=project_crs, report=report)
    elif kind == "osm":
        from tim.ingest.osm import read_osm

        data = read_osm(spec.path, buildings=spec.role in ("osm", "buildings"),
                        land_use=spec.role in ("osm", "land_use"),
                        to_class=_mapper(spec, classes, "osm"), report=report,
                        extra_tags=load_class_map(spec.class_map) if spec.class_map else ())
    elif kind == "points":
        from tim.ingest.pointcloud import read_points

        crss = {s.crs for s in specs}
        data = read_points([s.path for s in specs], crs=next(iter(crss)) if len(crss) == 1
                           else None, assume_crs=project_crs)
    else:
        from tim.ingest.mesh import read_mesh

        data = read_mesh(spec.path, crs=spec.crs or project_crs, offset=spec.offset,
                         report=report)
    return Loaded(specs, kind, data)


def _mapper(spec: SourceSpec, classes: ClassTable, default: str) -> Any:
    user = load_class_map(spec.class_map) if spec.class_map is not None else None
    return class_mapper(classes, spec.classification or default, user)


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
    return _select_values(renamed, spec)


#: Standard id columns that must be integers; digit strings ("3515") become integers.
INTEGER_IDS = ("unit_id", "zone_id")


def _select_values(frame: Any, spec: SourceSpec) -> Any:
    """The catalog's ``where``, ``values`` and ``value_map`` (:mod:`tim.ingest.catalog`), and
    digit-string :data:`INTEGER_IDS` made integers."""
    attrs = dict(frame.attrs)
    for column, keep in spec.where.items():
        if column not in frame.columns:
            raise InputError(f"column {column!r} of 'where' is not in the file", source=spec.path,
                             field=f"where.{column}")
        frame = frame[frame[column].astype(str).isin([str(v) for v in keep])]
    for column, value in spec.values.items():
        frame = frame.assign(**{column: value})
    for column, mapping in spec.value_map.items():
        if column not in frame.columns:
            raise InputError(f"column {column!r} of 'value_map' is not in the file",
                             source=spec.path, field=f"value_map.{column}")
        text = frame[column].astype(str)
        known = text.isin(list(mapping))
        if not known.all():
            skipped = sorted(set(text[~known]))
            log.info("%s: %d features skipped, %s not in value_map.%s", spec.path,
                     int((~known).sum()), skipped[:5], column)
            attrs.setdefault("skipped_values", {})[column] = {
                v: int((text == v).sum()) for v in skipped}
        frame = frame[known].assign(**{column: text[known].map(mapping)})
    for column in [c for c in INTEGER_IDS if c in frame.columns]:
        values = frame[column]
        if values.dtype == object or str(values.dtype).startswith("str"):
            text = values.astype(str)
            if len(text) and text.str.fullmatch(r"\d+").all():
                frame = frame.assign(**{column: text.astype("int64")})
    frame = frame.reset_index(drop=True)
    frame.attrs.update(attrs)
    return frame


def _contents(territory: Territory) -> set[str]:
    """Names of the territory's fields, layers, point clouds and meshes."""
    return {*territory.fields, *territory.layers, *territory.point_clouds, *territory.meshes}


def _grid(loaded: list[Loaded], crs: str, cell_size: float | None) -> Grid:
    from pyproj import Transformer

    rasters = {i.spec.role: i.data for i in loaded if i.kind == "raster"}
    for role in ("elevation", "land_use", "population", "surface"):
        if role in rasters:
            return grid_for(rasters[role], crs, cell_size)
    if cell_size is None:
        raise InputError("without a raster source the cell size must be given",
                         field="--cell-size", hint="e.g. --cell-size 2 for a city block, 25 "
                                                   "for a district")
    boxes = []
    for item in loaded:
        transformer = Transformer.from_crs(horizontal(item.crs), horizontal(crs),
                                           always_xy=True)
        boxes.append(transformer.transform_bounds(*item.bounds()))
    b = np.array(boxes)
    xmin = np.floor(b[:, 0].min() / cell_size) * cell_size
    ymin = np.floor(b[:, 1].min() / cell_size) * cell_size
    xmax = np.ceil(b[:, 2].max() / cell_size) * cell_size
    ymax = np.ceil(b[:, 3].max() / cell_size) * cell_size
    cols = max(1, int(round((xmax - xmin) / cell_size)))
    rows = max(1, int(round((ymax - ymin) / cell_size)))
    return Grid(crs, (cell_size, 0.0, float(xmin), 0.0, -cell_size, float(ymax)), (rows, cols))


def _add_raster(territory: Territory, item: Loaded) -> None:
    source: RasterSource = item.data
    name, kind = RASTER_FIELDS[item.spec.role]
    field = field_spec(name)
    if item.spec.scale is not None:
        valid = source.values != source.nodata if source.nodata is not None else True
        scaled = np.where(valid, source.values.astype(np.float64) * item.spec.scale,
                          source.values)
        source = RasterSource(source.path, scaled, source.transform, source.crs, source.nodata,
                              source.crs_assigned)
        territory.record("scale", field=name, source=item.label, factor=item.spec.scale)
    check_values(source, name)  # after the scale: ranges are in the field's units
    check_overlap(source, territory.grid, name)
    if item.spec.role == "land_use" and isinstance(item.spec.class_map, dict):
        source = map_raster_classes(source, item.spec.class_map, territory.classes)
        territory.record("classify", field=name, source=item.label,
                         class_map=dict(item.spec.class_map))
    values = resample(source, territory.grid, kind=kind, dtype=field.dtype, nodata=field.nodata)
    if not crs_equal(source.crs, territory.grid.crs) or source.transform != \
            territory.grid.transform:
        territory.record("resample", field=name, source=item.label, method=kind,
                         from_crs=source.crs, to_crs=territory.grid.crs)
    territory.set_field(name, values)


def map_raster_classes(source: RasterSource, class_map: dict, classes: ClassTable
                       ) -> RasterSource:
    """A land-use raster with its values mapped to class codes (before resampling, so that
    classes merged by the map are merged before the mode); unmapped values become no data."""
    nodata = field_spec("land_use__class").nodata
    user = load_class_map(class_map)
    codes = set(classes.codes.tolist())
    lookup = np.full(256, nodata, dtype=np.uint8)
    for key, code in user.items():
        if code is not None and code not in codes:
            raise InputError(f"class code {code} is not in the class table {sorted(codes)}",
                             source=source.path, field=f"class_map.{key}", value=code)
        if not key.isdigit() or int(key) > 255:
            raise InputError("raster class_map keys must be raster values 0..255",
                             source=source.path, field=f"class_map.{key}")
        lookup[int(key)] = nodata if code is None else code
    values = source.values
    if values.dtype.kind not in "ui" or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise InputError("a class_map needs an integer raster with values 0..255",
                         source=source.path, field="class_map", value=str(values.dtype))
    mapped = lookup[values.astype(np.int64)]
    return RasterSource(source.path, mapped, source.transform, source.crs, nodata,
                        source.crs_assigned, getattr(source, "declared_crs", None))


def _add_city_terrain(territory: Territory, item: Loaded) -> None:
    from tim.ingest.mesh import mesh_to_crs

    tin: TriangleMesh | None = item.data.terrain
    if tin is None:
        return
    tin = mesh_to_crs(tin, territory.grid.crs)
    territory.add_3d("terrain", tin)
    if "terrain__elevation" in territory.fields:
        territory.record("derive", mesh="terrain", source=item.label, triangles=len(tin),
                         note="TIN kept as a mesh; terrain__elevation comes from the raster")
        return
    z = rasterize_tin(tin.vertices, tin.triangles, territory.grid)
    territory.set_field("terrain__elevation", z)
    territory.record("derive", field="terrain__elevation", source=item.label,
                     method="TIN sampled at cell centres (linear)", triangles=len(tin),
                     cells_with_data=int(np.isfinite(z).sum()))


def _add_points(territory: Territory, item: Loaded) -> None:
    from tim.ingest import pointcloud as pc

    cloud: PointCloud = pc.to_crs(item.data.cloud, territory.grid.crs)
    territory.add_3d("points", cloud)
    counts = np.bincount(cloud.classification, minlength=1)
    territory.record("derive", point_cloud="points", source=item.label, points=len(cloud),
                     classes={int(k): int(v) for k, v in enumerate(counts) if v})
    if "terrain__elevation" not in territory.fields:
        territory.set_field("terrain__elevation", pc.ground_elevation(cloud, territory.grid))
        territory.record("derive", field="terrain__elevation", source=item.label,
                         method="lowest ground/water point per cell, gaps interpolated")
    if "surface__elevation" not in territory.fields:
        territory.set_field("surface__elevation", pc.surface_elevation(
            cloud, territory.grid, territory.fields["terrain__elevation"]))
        territory.record("derive", field="surface__elevation", source=item.label,
                         method="highest point per cell, DTM where empty")


def _add_land_use(territory: Territory, item: Loaded, report: IngestReport) -> None:
    import shapely

    from tim.ingest.layers import classify_land_use

    if item.kind == "osm":
        frame, column = item.data.land_use, "tag"
        to_class = _mapper(item.spec, territory.classes, "osm")
    else:
        frame, column = item.data, "code"
        to_class = _mapper(item.spec, territory.classes, "codes")
    if len(frame) == 0:
        return
    frame = classify_land_use(frame.to_crs(territory.grid.crs), item.spec.path, column,
                              to_class, report)
    order = np.argsort(-shapely.area(frame.geometry.values), kind="stable")  # largest first
    shapes, codes = frame.geometry.values[order], frame["code"].to_numpy()[order]
    nodata = field_spec("land_use__class").nodata
    if item.spec.rasterize == "majority":
        values = rasterize_majority(shapes, codes, territory.grid, "uint8", nodata)
    else:
        values = rasterize(shapes, codes, territory.grid, "uint8", fill=nodata)
    territory.set_field("land_use__class", values)
    territory.record("derive", field="land_use__class", source=item.label,
                     rule=item.spec.rasterize, polygons=len(frame),
                     classification=item.spec.classification or
                     ("osm" if item.kind == "osm" else "codes"))


def _add_buildings(territory: Territory, item: Loaded, rules: lyr.HeightRules,
                   report: IngestReport) -> None:
    grid = territory.grid
    if item.kind == "osm":
        frame = item.data.buildings
        if len(frame) == 0:
            return
    elif item.kind == "cityjson":
        frame = item.data.buildings
    else:
        frame = item.data
    if not crs_equal(frame.crs, grid.crs):
        territory.record("reproject", layer="buildings", source=item.label,
                         from_crs=frame.crs.to_string(), to_crs=grid.crs)
        frame = frame.to_crs(grid.crs)
    lidar = None
    if "points" in territory.point_clouds and "terrain__elevation" in territory.fields:
        from tim.ingest.pointcloud import roof_heights

        lidar, counts = roof_heights(territory.point_clouds["points"], frame.geometry.values,
                                     grid, territory.fields["terrain__elevation"],
                                     percentile=rules.lidar_percentile,
                                     min_points=rules.lidar_min_points)
    frame = lyr.normalise_buildings(frame.reset_index(drop=True), item.spec.path, rules=rules,
                                    report=report, lidar_height=lidar)
    order = np.argsort(frame["height"].to_numpy(), kind="stable")  # tallest drawn last
    territory.set_field("building__height", rasterize(
        frame.geometry.values[order], frame["height"].to_numpy()[order], grid, "float32"))
    territory.set_field("building__floor_area", floor_area_by_centroid(frame, grid))
    territory.set_field("building__footprint_fraction",
                        coverage_fraction(frame.geometry.values, grid))
    counts = frame["height_source"].value_counts().to_dict()
    territory.record("derive", layer="buildings", source=item.label, count=len(frame),
                     height_sources={k: int(v) for k, v in counts.items()},
                     storey_height=rules.storey_height)
    territory.add_layer("buildings", frame)
    if item.kind == "cityjson" and len(item.data.surfaces):
        surfaces = item.data.surfaces
        if not crs_equal(surfaces.crs, grid.crs):
            surfaces = surfaces.to_crs(grid.crs)
        territory.add_layer("building_surfaces", surfaces.reset_index(drop=True))


def _add_control_lines(territory: Territory, item: Loaded) -> None:
    frame = _projected(territory, item)
    frame = lyr.normalise_control_lines(frame, item.spec.path)
    for kind, field in CONTROL_LINE_FIELDS.items():
        shapes = frame.geometry.values[frame["kind"].to_numpy() == kind]
        territory.set_field(field, rasterize(shapes, np.ones(len(shapes)), territory.grid,
                                             "uint8"))
    territory.add_layer("control_lines", frame.reset_index(drop=True))


def _add_planning_units(territory: Territory, item: Loaded) -> None:
    frame = lyr.normalise_planning_units(_projected(territory, item), item.spec.path)
    shapes = frame.geometry.values
    territory.set_field("planning__unit_id", rasterize(
        shapes, frame["unit_id"].to_numpy(), territory.grid, "int32"))
    territory.set_field("planning__district_id", rasterize(
        shapes, frame["district_id"].to_numpy(), territory.grid, "int32"))
    territory.add_layer("planning_units", frame.reset_index(drop=True))


def _add_zoning(territory: Territory, item: Loaded) -> None:
    frame = lyr.normalise_zoning(_projected(territory, item), item.spec.path)
    territory.set_field("zoning__zone_id", rasterize(
        frame.geometry.values, frame["zone_id"].to_numpy(), territory.grid, "int32"))
    for column, field in (("max_height", "zoning__max_height"), ("max_far", "zoning__max_far")):
        values = frame[column].to_numpy()
        has = np.isfinite(values)
        territory.set_field(field, rasterize(frame.geometry.values[has], values[has],
                                             territory.grid, "float32", fill=np.nan))
    territory.add_layer("zoning", frame.reset_index(drop=True))


def _add_amenities(territory: Territory, item: Loaded) -> None:
    frame = lyr.normalise_amenities(_projected(territory, item), item.spec.path)
    territory.add_layer("amenities", frame.reset_index(drop=True))


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


def _projected(territory: Territory, item: Loaded) -> Any:
    frame = item.data
    if not crs_equal(frame.crs, territory.grid.crs):
        territory.record("reproject", layer=item.spec.role, source=item.label,
                         from_crs=frame.crs.to_string(), to_crs=territory.grid.crs)
        frame = frame.to_crs(territory.grid.crs)
    return frame


def _planning_attributes(territory: Territory) -> Any:
    """The buildings layer with ``unit_id`` (0: none) and ``zone`` ("": none) of the unit and
    zone containing each footprint's representative point (a point surely inside it)."""
    import shapely

    buildings = territory.layers["buildings"].copy()
    points = shapely.point_on_surface(buildings.geometry.values)
    for layer, column, value_column, empty in (("planning_units", "unit_id", "unit_id", 0),
                                               ("zoning", "zone", "zone", "")):
        values = np.full(len(buildings), empty, dtype=object)
        if layer in territory.layers:
            areas = territory.layers[layer]
            point_index, area_index = shapely.STRtree(areas.geometry.values).query(
                points, predicate="within")
            first = np.unique(point_index, return_index=True)[1]
            values[point_index[first]] = areas[value_column].to_numpy()[area_index[first]]
        buildings[column] = values.astype("int64" if column == "unit_id" else str)
    columns = [c for c in buildings.columns if c != buildings.geometry.name]
    return buildings[columns + [buildings.geometry.name]]


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

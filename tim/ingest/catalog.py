"""The data catalog: which sources make a territory, in which role, CRS and licence.

A catalog is a YAML file, so that a TIM can be rebuilt exactly (``twin tim build --catalog``)::

    name: My territory
    crs: EPSG:4548            # project CRS; default: from the data (see tim.ingest.crs)
    cell_size: 25             # metres; default: the elevation raster's resolution
    vertical_datum: Yellow Sea 1985 height
    classes:                  # land-use class table; default: tim.classes.DEFAULT_CLASSES
      - {code: 1, name: Cropland, colour: "#f2d16b", group: farmland, developable: true}
    heights: {storey_height: 3.0, default_height: 9.0, lidar_percentile: 95}
    sources:
      - path: dem.tif         # relative to this file
        role: elevation
        licence: CC-BY-4.0
      - path: buildings.gpkg
        role: buildings
        crs: EPSG:4548        # only for files that declare no CRS
        columns: {height: h_roof_p95}   # standard name: column in the file
      - path: landuse.gpkg
        role: land_use
        classification: national        # codes of 国土空间调查、规划、用途管制用地用海分类
        columns: {code: DLBM}
        rasterize: majority
      - path: city.osm.pbf    # buildings and land use
        role: osm
        class_map: osm_classes.yaml     # user entries over the built-in OSM mapping
      - {path: tile_1.laz, role: points, crs: EPSG:28992}   # a role that may repeat
      - {path: site.obj, role: mesh, crs: EPSG:28992, offset: [85000, 447000, 0]}

Roles and the file kinds that can fill them (the kind comes from the extension; a ``.json`` is
CityJSON when its content says so, else GeoJSON):

=================  ==========================  =============================================
role               kinds                       gives
=================  ==========================  =============================================
elevation          raster                      ``terrain__elevation``
surface            raster                      ``surface__elevation`` (DSM)
land_use           raster, vector, osm         ``land_use__class``
population         raster                      ``population__count``
buildings          vector, cityjson, osm       ``buildings`` layer, ``building__*`` fields
control_lines      vector                      ``control__*`` masks, ``control_lines`` layer
planning_units     vector                      ``planning__*`` ids, ``planning_units`` layer
zoning             vector                      ``zoning__*`` limits, ``zoning`` layer
amenities          vector                      ``amenities`` layer (schools, parks, transit)
plan               yaml                        targets city > district > unit (tim.plan)
city_model         cityjson                    buildings (+ LoD2 surfaces) and TIN terrain
osm                osm                         buildings and land use
points             las/laz (repeatable)        point cloud; DTM/DSM and roof heights
mesh               obj, gltf, glb, ply         triangle mesh (needs ``crs``, ``offset``)
=================  ==========================  =============================================

``grid_units: {size: 5000, districts_of: 3}`` lays synthetic planning units over data that have
none; ``scale`` multiplies a raster's values (a density per km2 to counts per cell); source paths
may use ``${TWIN_DATA}`` (default ``../shared/data``) and other environment variables.

Vector sources may also give ``where: {column: [values]}`` (keep the features whose column
holds one of the values), ``values: {column: value}`` (a column with one value for every
feature, e.g. ``{kind: ecological_red_line}``) and ``value_map: {column: {from: to}}`` (after
``columns``; features whose value the map lacks are skipped and counted in the build report).
``unit_id`` and ``zone_id`` columns that hold digit strings (``"3515"``) become integers.

A raster's ``crs`` is also assigned over a declared CRS that resolves to no EPSG code (an
ESRI-style WKT); the assignment is recorded in the history. A raster land-use source may give
``class_map`` (raster value -> class code; values it lacks become no data).

Three optional sections serve real territories (see ``tim/catalogs/hongkong.yaml``):

* ``sea: {code, elevation_at_most, bed, fill_land, unmapped_land, land_border}`` - terrain that
  reads 0 (or less) at sea: cells without land use and that low are ``code`` (the sea) with the
  elevation ``bed`` (below the lowest tide, so a surge has water to raise); land-use cells that
  low take the nearest higher land's elevation (``fill_land: nearest``); land in the terrain
  without land use gets ``unmapped_land``; with ``land_border: north`` the cells beyond the
  ``land_border: {side: north, line: [[x, y], ...]}`` the cells beyond the line and beyond
  the territory's outermost land of their grid column are outside it (a land border, not sea).
* ``population_spread: {total, group, source}`` - without a population source, ``total``
  residents spread evenly over the cells of a land-use group (a stand-in, recorded as such).
* ``layers: [{name, path, layer}]`` - vector layers kept as they are (reprojected), e.g. dated
  roads or tall buildings as points, for analyses that read them by name.
* ``observed: {label: path}`` - land-use maps of earlier epochs (``1973-1977`` or ``1975``),
  in time order, read with the land-use source's ``crs`` and ``class_map`` by
  :mod:`scenarios.calibration.series`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.ingest.mesh import MESH_SUFFIXES
from tim.ingest.pointcloud import POINT_SUFFIXES
from tim.ingest.raster import RASTER_SUFFIXES
from tim.ingest.vector import VECTOR_SUFFIXES

Role = Literal["elevation", "surface", "land_use", "population", "buildings", "control_lines",
               "planning_units", "zoning", "amenities", "plan", "city_model", "osm", "points",
               "mesh"]
Kind = Literal["raster", "vector", "cityjson", "osm", "points", "mesh", "plan"]

#: Roles each kind of file can fill; the first is its role when none is given (None: the name
#: decides, see ROLE_HINTS).
KIND_ROLES: dict[str, tuple[str, ...]] = {
    "raster": ("elevation", "surface", "land_use", "population"),
    "vector": ("buildings", "control_lines", "planning_units", "zoning", "amenities",
               "land_use"),
    "cityjson": ("city_model", "buildings"),
    "osm": ("osm", "buildings", "land_use"),
    "points": ("points",),
    "mesh": ("mesh",),
    "plan": ("plan",),
}
ALL_ROLES = tuple(dict.fromkeys(r for roles in KIND_ROLES.values() for r in roles))
RASTER_ROLES = set(KIND_ROLES["raster"])
VECTOR_ROLES = set(KIND_ROLES["vector"])
#: Roles that may be given by several sources (tiles of one survey).
REPEATABLE_ROLES = {"points"}

#: File-name fragments that identify a source's role when none is given (first match wins).
ROLE_HINTS: tuple[tuple[str, Role], ...] = (
    ("dsm", "surface"), ("dem", "elevation"), ("dtm", "elevation"),
    ("elevation", "elevation"), ("terrain", "elevation"), ("landuse", "land_use"),
    ("land_use", "land_use"), ("lulc", "land_use"), ("pop", "population"),
    ("building", "buildings"), ("bldg", "buildings"), ("pand", "buildings"),
    ("control", "control_lines"), ("redline", "control_lines"),
    ("planning_unit", "planning_units"), ("units", "planning_units"), ("zoning", "zoning"),
    ("zones", "zoning"), ("amenit", "amenities"), ("poi", "amenities"), ("plan", "plan"),
)
PLAN_SUFFIXES = {".yaml", ".yml"}
#: Where ``${TWIN_DATA}`` points when the variable is not set, relative to the repository of a
#: source checkout (or, for an installed package, to the working directory).
DEFAULT_DATA = "../shared/data"


def data_folder() -> Path:
    """The shared data folder: ``$TWIN_DATA``, else ``../shared/data`` beside the repository
    (so a command gives the same answer from any working directory), else beside the working
    directory."""
    import os

    if "TWIN_DATA" in os.environ:
        return Path(os.environ["TWIN_DATA"]).resolve()
    beside_repository = (Path(__file__).resolve().parents[2] / DEFAULT_DATA).resolve()
    return beside_repository if beside_repository.is_dir() else Path(DEFAULT_DATA).resolve()


def file_kind(path: Path) -> Kind | None:
    """The reader family of a file from its name (and, for ``.json``, its first bytes)."""
    from tim.ingest.cityjson import is_cityjson

    name = path.name.lower()
    suffix = path.suffix.lower()
    if name.endswith(".pbf"):
        return "osm"
    if suffix in PLAN_SUFFIXES:
        return "plan"
    if suffix in POINT_SUFFIXES:
        return "points"
    if suffix in MESH_SUFFIXES:
        return "mesh"
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix == ".json" and is_cityjson(path):
        return "cityjson"
    if suffix in VECTOR_SUFFIXES:
        return "vector"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceSpec(_Strict):
    """One input file and what it is for."""

    path: Path
    role: Role
    crs: str | None = None
    layer: str | None = None
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="standard column name -> column in the file, "
                                                "e.g. {height: h_roof_p95}")
    offset: tuple[float, float, float] | None = Field(
        default=None, description="mesh only: added to file coordinates to get CRS ones")
    classification: Literal["codes", "national", "osm"] | None = Field(
        default=None, description="land use: what the code column holds (default: class "
                                  "codes; osm for OSM files)")
    class_map: Path | dict[str, int | None] | None = Field(
        default=None, description="land use: YAML file or mapping, source value -> class code")
    rasterize: Literal["centre", "majority"] = "centre"
    scale: float | None = Field(None, gt=0, description="multiply raster values, e.g. a "
                                "density per km2 to counts per 30 m cell: 0.0009")
    licence: str | None = None
    description: str | None = None
    synthetic: bool = False
    security: Literal["public", "internal", "restricted"] = Field(
        "internal", description="classification of what this source puts into the TIM: "
                                "public, internal (the default) or restricted; 'twin export "
                                "--level L' keeps only what is at most L")
    generalise_m: float | None = Field(
        None, gt=0, le=10_000, description="on export, this source's vector geometry is "
                                           "simplified and its coordinates rounded to this "
                                           "tolerance (m)")
    where: dict[str, list[str | int | float]] = Field(
        default_factory=dict, description="vector: keep features whose column holds one of "
                                          "the values")
    values: dict[str, str | int | float] = Field(
        default_factory=dict, description="vector: a column with one value for every feature")
    value_map: dict[str, dict[str, str | int | float]] = Field(
        default_factory=dict, description="vector: standard column -> {source value: value}; "
                                          "features with other values are skipped")

    @property
    def kind(self) -> Kind:
        kind = file_kind(self.path)
        if kind is None or self.role not in KIND_ROLES[kind]:
            accepted = "; ".join(f"{k}: {', '.join(r)}" for k, r in KIND_ROLES.items())
            what = f"a {kind} file" if kind else f"a {self.path.suffix or 'suffix-less'} file"
            raise InputError(f"{what} cannot be a {self.role} source (roles by kind: "
                             f"{accepted})", source=self.path, field="role", value=self.role)
        return kind


class HeightSpec(_Strict):
    storey_height: float = Field(default=3.0, gt=0)
    default_height: float = Field(default=9.0, gt=0)
    lidar_percentile: float = Field(default=95.0, gt=0, le=100)
    lidar_min_points: int = Field(default=10, ge=1)


class ClassSpec(_Strict):
    code: int = Field(ge=0, le=254)
    name: str
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    group: Literal["built", "farmland", "ecological", "water", "sea", "other"]
    developable: bool


class GridUnits(_Strict):
    """Planning units for data that have none: a regular grid (recorded as synthetic)."""

    size: float = Field(gt=0, description="unit side, CRS units")
    districts_of: int = Field(3, ge=1, description="units per district side")


class LandBorder(_Strict):
    """A land border (not a coast): cells beyond ``line`` on ``side`` and beyond the
    territory's outermost land of their grid column are outside the territory, not sea."""

    side: Literal["north", "south"]
    line: list[tuple[float, float]] = Field(min_length=2, description="polyline, x rising "
                                            "(CRS units); columns outside its x range have "
                                            "no border")


class SeaSpec(_Strict):
    """The sea of a terrain that reads 0 at sea (module doc)."""

    code: int = Field(ge=0, le=254, description="land-use class of the sea")
    elevation_at_most: float = Field(0.0, description="terrain at or below this is not land")
    bed: float = Field(description="sea-bed elevation given to sea cells (m, datum): below "
                                   "the lowest tide")
    fill_land: Literal["nearest"] | None = "nearest"
    unmapped_land: int | None = Field(None, ge=0, le=254,
                                      description="class of land without land-use data")
    land_border: LandBorder | None = None


class PopulationSpread(_Strict):
    """A stand-in population where the data have none: ``total`` residents spread evenly over
    the cells of the land-use ``group`` (recorded as synthetic)."""

    total: float = Field(gt=0)
    group: Literal["built", "farmland", "ecological", "water", "sea", "other"] = "built"
    source: str = Field(description="where the total comes from")
    by_district: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="district (as the planning units name it) -> "
        "residents: the total is shared out in these proportions, then spread evenly over "
        "each district's cells of the group")


class LayerSpec(_Strict):
    """A vector layer kept as it is (reprojected to the project CRS)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    path: Path
    layer: str | None = None
    licence: str | None = None
    description: str | None = None
    synthetic: bool = False


class Catalog(_Strict):
    """A whole territory's sources and build settings."""

    name: str = "territory"
    crs: str | None = None
    cell_size: float | None = Field(default=None, gt=0, le=100_000)
    vertical_datum: str | None = None
    classes: list[ClassSpec] | None = None
    heights: HeightSpec = Field(default_factory=HeightSpec)
    grid_units: GridUnits | None = None
    sources: list[SourceSpec] = Field(min_length=1)
    sea: SeaSpec | None = None
    population_spread: PopulationSpread | None = None
    layers: list[LayerSpec] = Field(default_factory=list)
    observed: dict[str, Path] = Field(default_factory=dict,
                                      description="epoch label -> land-use map of that epoch")


def builtin_catalogs() -> list[str]:
    """Names of the catalogs shipped with the package (``twin tim build --catalog NAME``)."""
    from importlib import resources

    folder = resources.files("tim") / "catalogs"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def _expand(text: str, catalog: Path) -> str:
    """``${VAR}`` from the environment; ``${TWIN_DATA}`` defaults to :func:`data_folder`."""
    import os
    import re

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in os.environ:
            return os.environ[name]
        if name == "TWIN_DATA":
            return str(data_folder())
        raise InputError(f"environment variable {name} is not set", source=catalog,
                         field="sources", value=match.group(0))

    return re.sub(r"\$\{(\w+)\}", value, text)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog (a file, or the name of a built-in one); source paths
    become absolute (relative to the catalog) and ``${VAR}`` takes the environment's value."""
    path = Path(path)
    if not path.exists() and str(path) in builtin_catalogs():
        from importlib import resources

        path = Path(str(resources.files("tim") / "catalogs" / f"{path}.yaml"))
    raw = read_yaml(path, "catalog file",
                    not_a_mapping="a catalog must be a mapping with a 'sources' list")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from exc
    sources = []
    for s in catalog.sources:
        update: dict[str, Any] = {"path": (path.parent / _expand(str(s.path), path)).resolve()}
        if isinstance(s.class_map, Path):
            update["class_map"] = (path.parent / s.class_map).resolve()
        sources.append(s.model_copy(update=update))
    layers = [spec.model_copy(update={"path": (path.parent / _expand(str(spec.path), path))
                                      .resolve()}) for spec in catalog.layers]
    observed = {label: (path.parent / _expand(str(p), path)).resolve()
                for label, p in catalog.observed.items()}
    return catalog.model_copy(update={"sources": sources, "layers": layers,
                                      "observed": observed})


def catalog_inputs(catalog: Catalog) -> list[Path]:
    """Every file a catalog reads (sources, kept layers, observed epochs)."""
    return ([s.path for s in catalog.sources] + [s.path for s in catalog.layers]
            + list(catalog.observed.values()))


def source_from_argument(argument: str) -> SourceSpec:
    """``ROLE=PATH`` or a bare ``PATH``: its role from its kind (CityJSON, OSM, point cloud,
    mesh) or, for rasters and vectors, from its file name."""
    role, sep, text = argument.partition("=")
    if sep and role in ALL_ROLES:
        return SourceSpec(path=Path(text), role=role)
    path = Path(argument)
    kind = file_kind(path)
    if kind in ("cityjson", "osm", "points", "mesh"):
        return SourceSpec(path=path, role=KIND_ROLES[kind][0])
    stem = path.name.lower()
    for fragment, hinted in ROLE_HINTS:
        if fragment in stem and (kind is None or hinted in KIND_ROLES[kind]):
            return SourceSpec(path=path, role=hinted)
    raise InputError(f"cannot tell the role of this source from its name; write ROLE=PATH "
                     f"with ROLE one of {', '.join(ALL_ROLES)}", source=path, field="role")

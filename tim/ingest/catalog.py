"""The data catalog: which sources make a territory, in which role, CRS and licence.

A catalog is a YAML file, so that a TIM can be rebuilt exactly (``twin tim build --catalog``)::

    name: My territory
    crs: EPSG:4548            # project CRS; default: from the data
    cell_size: 25             # metres; default: the elevation raster's resolution
    grid_units: {size: 5000}  # only for data without planning units: a synthetic unit grid
    vertical_datum: Yellow Sea 1985 height
    classes:                  # land-use class table; default: tim.classes.DEFAULT_CLASSES
      - {code: 1, name: Cropland, colour: "#f2d16b", group: farmland, developable: true}
    sources:
      - path: dem.tif         # relative to this file
        role: elevation
        licence: CC-BY-4.0
      - path: buildings.gpkg
        role: buildings
        crs: EPSG:4548        # only for files that declare no CRS
        columns: {height: h_roof_p95}   # standard name: column in the file

Unknown keys are rejected with the file and key in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tim.errors import InputError
from tim.ingest.raster import RASTER_SUFFIXES
from tim.ingest.vector import VECTOR_SUFFIXES

Role = Literal["elevation", "land_use", "population", "buildings", "control_lines",
               "planning_units", "zoning", "amenities", "plan"]
RASTER_ROLES = {"elevation", "land_use", "population"}
VECTOR_ROLES = {"buildings", "control_lines", "planning_units", "land_use", "zoning",
                "amenities"}

#: File-name fragments that identify a source's role when none is given (first match wins).
ROLE_HINTS: tuple[tuple[str, Role], ...] = (
    ("dem", "elevation"), ("dtm", "elevation"), ("elevation", "elevation"),
    ("terrain", "elevation"), ("landuse", "land_use"), ("land_use", "land_use"),
    ("lulc", "land_use"), ("pop", "population"), ("building", "buildings"),
    ("bldg", "buildings"), ("pand", "buildings"), ("control", "control_lines"),
    ("redline", "control_lines"), ("planning_unit", "planning_units"),
    ("units", "planning_units"), ("zoning", "zoning"), ("zones", "zoning"),
    ("amenit", "amenities"), ("poi", "amenities"), ("plan", "plan"),
)
PLAN_SUFFIXES = {".yaml", ".yml"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """One input file and what it is for."""

    path: Path
    role: Role
    crs: str | None = None
    layer: str | None = None
    columns: dict[str, str] = Field(default_factory=dict,
                                    description="standard column name -> column in the file, "
                                                "e.g. {height: h_roof_p95}")
    scale: float | None = Field(None, gt=0, description="multiply raster values, e.g. a "
                                "density per km2 to counts per 30 m cell: 0.0009")
    licence: str | None = None
    description: str | None = None
    synthetic: bool = False

    @property
    def kind(self) -> Literal["raster", "vector", "plan"]:
        suffix = self.path.suffix.lower()
        if self.role == "plan" and suffix in PLAN_SUFFIXES:
            return "plan"
        if suffix in RASTER_SUFFIXES and self.role in RASTER_ROLES:
            return "raster"
        if suffix in VECTOR_SUFFIXES and self.role in VECTOR_ROLES:
            return "vector"
        raise InputError(f"a {suffix or 'suffix-less'} file cannot be a {self.role} source "
                         f"(rasters: {', '.join(sorted(RASTER_SUFFIXES))}; vectors: "
                         f"{', '.join(sorted(VECTOR_SUFFIXES))})", source=self.path,
                         field="role", value=self.role)


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


class Catalog(_Strict):
    """A whole territory's sources and build settings."""

    name: str = "territory"
    crs: str | None = None
    cell_size: float | None = Field(default=None, gt=0)
    vertical_datum: str | None = None
    classes: list[ClassSpec] | None = None
    grid_units: GridUnits | None = None
    sources: list[SourceSpec] = Field(min_length=1)


#: Where ``${TWIN_DATA}`` in a catalog points when the variable is not set.
DEFAULT_DATA = "../shared/data"


def builtin_catalogs() -> list[str]:
    """Names of the catalogs shipped with the package (``twin tim build --catalog NAME``)."""
    from importlib import resources

    folder = resources.files("tim") / "catalogs"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def _expand(text: str, catalog: Path) -> str:
    """``${VAR}`` from the environment; ``${TWIN_DATA}`` defaults to :data:`DEFAULT_DATA`."""
    import os
    import re

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in os.environ:
            return os.environ[name]
        if name == "TWIN_DATA":
            return str(Path(DEFAULT_DATA).resolve())
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
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("catalog file not found", source=path) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=path) from exc
    if not isinstance(raw, dict):
        raise InputError("a catalog must be a mapping with a 'sources' list", source=path)
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        value = error.get("input")
        raise InputError(error["msg"], source=path, field=key,
                         value=None if error["type"] == "missing" else value) from exc
    sources = [s.model_copy(update={"path": (path.parent / _expand(str(s.path), path)).resolve()})
               for s in catalog.sources]
    return catalog.model_copy(update={"sources": sources})


def source_from_argument(argument: str) -> SourceSpec:
    """``ROLE=PATH`` or a bare ``PATH`` whose role is recognised from its file name."""
    role, sep, text = argument.partition("=")
    if sep and role in RASTER_ROLES | VECTOR_ROLES | {"plan"}:
        return SourceSpec(path=Path(text), role=role)
    path = Path(argument)
    stem = path.stem.lower()
    for fragment, hinted in ROLE_HINTS:
        if fragment in stem:
            return SourceSpec(path=path, role=hinted)
    roles = ", ".join(sorted(RASTER_ROLES | VECTOR_ROLES))
    raise InputError(f"cannot tell the role of this source from its name; write ROLE=PATH "
                     f"with ROLE one of {roles}", source=path, field="role")

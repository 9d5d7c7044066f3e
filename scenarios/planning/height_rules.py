"""Height rules files: zoning limits, inclined obstacle surfaces and protected view corridors.

YAML validated strictly (unknown keys, wrong types and out-of-range values are errors naming
the file, the dotted key and the value), then bound to a territory: zone polygons are read from
a vector file or a TIM layer, heights given above the ground are resolved on the terrain, and
everything is checked against the territory (points on it, eyes above ground). Coordinates are
in the rules' ``crs`` (default: the territory's) and reprojected when it differs.

.. code-block:: yaml

    name: Haiwan Bay height rules
    crs: EPSG:4548                  # optional, default: the TIM's CRS
    storey_height: 3.0              # m per storey, for FAR limits
    zones:                          # optional
      layer: planning_units         # a TIM layer, or source: zoning.gpkg (+ layer: name)
      zone_column: district         # the zone of each polygon
      parcel_column: unit_id        # optional: parcel ids (default: one parcel per polygon)
      rules:                        # optional when the layer has max_height/max_far columns
        - {zone: R1, max_height: 24, max_far: 2.0}
        - {zone: C1, max_height: 100, max_far: 6.0, max_coverage: 0.6, min_height: 12}
    inclined_surfaces:
      - name: Runway 27 approach
        line: [[x1, y1], [x2, y2]]  # inner edge
        base_height: 4.0            # m, absolute, at the line
        slope: 0.02
        side: left                  # of the line seen from its first to its second point
        length: 3000
        divergence: 0.15
    view_corridors:
      - name: Hill to the lighthouse
        viewpoint: [x, y]
        eye_height: 1.6             # above the ground (or eye_z: absolute)
        landmark: [x, y]
        threshold_z: 32.0           # absolute (or threshold_height: above the ground there)
        half_width: 25              # m either side of the axis, at the landmark
        background: 500             # optional, with landmark_top_z
        landmark_top_z: 48.0

A TIM with a ``zoning`` layer (its ``zone``, ``max_height`` and ``max_far`` columns, see
``tim.ingest.layers.normalise_zoning``) needs no rules file (:func:`rules_from_zoning_layer`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.analysis.corridors import ViewCorridor
from engine.analysis.heights import InclinedSurface, ZoneRule
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import Territory, crs_equal

ZONE_COLUMNS = ("max_height", "max_far", "max_coverage", "min_height")
BUILTIN_DIR = "builtin/heights"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


XY = tuple[float, float]


class ZoneSpec(_Strict):
    zone: str
    max_height: float | None = Field(None, ge=0, le=1000)
    max_far: float | None = Field(None, ge=0, le=100)
    max_coverage: float | None = Field(None, gt=0, le=1)
    min_height: float | None = Field(None, ge=0, le=1000)


class DefaultZone(_Strict):
    max_height: float | None = Field(None, ge=0, le=1000)


class ZonesSpec(_Strict):
    source: str | None = None
    layer: str | None = None
    zone_column: str = "zone"
    parcel_column: str | None = None
    rules: tuple[ZoneSpec, ...] = ()
    default: DefaultZone | None = None

    @model_validator(mode="after")
    def _one_definition_per_zone(self) -> ZonesSpec:
        seen: dict[str, ZoneSpec] = {}
        for rule in self.rules:
            if rule.zone in seen and seen[rule.zone] != rule:
                raise ValueError(f"zone {rule.zone!r} is given twice with different limits "
                                 "(rules contradict each other)")
            seen[rule.zone] = rule
        if self.source is None and self.layer is None:
            raise ValueError("name the zone polygons: layer (a TIM layer) or source (a file)")
        return self


class SurfaceSpec(_Strict):
    name: str
    line: tuple[XY, XY]
    base_height: float
    slope: float = Field(ge=0, le=10)
    side: Literal["left", "right", "both"] = "left"
    length: float | None = Field(None, gt=0)
    divergence: float = Field(0.0, ge=0, le=10)


class CorridorSpec(_Strict):
    name: str
    viewpoint: XY
    eye_height: float | None = Field(None, ge=0, le=1000)
    eye_z: float | None = None
    landmark: XY
    threshold_z: float | None = None
    threshold_height: float | None = Field(None, ge=0, le=1000)
    half_width: float = Field(gt=0)
    background: float = Field(0.0, ge=0)
    landmark_top_z: float | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> CorridorSpec:
        if (self.eye_height is None) == (self.eye_z is None):
            raise ValueError("give exactly one of eye_height (above the ground) and eye_z")
        if (self.threshold_z is None) == (self.threshold_height is None):
            raise ValueError("give exactly one of threshold_z and threshold_height")
        return self


class RulesFile(_Strict):
    name: str = "height rules"
    crs: str | None = None
    storey_height: float = Field(3.0, gt=0, le=20)
    zones: ZonesSpec | None = None
    inclined_surfaces: tuple[SurfaceSpec, ...] = ()
    view_corridors: tuple[CorridorSpec, ...] = ()

    @model_validator(mode="after")
    def _something_and_unique_names(self) -> RulesFile:
        if self.zones is None and not self.inclined_surfaces and not self.view_corridors:
            raise ValueError("no rules: give zones, inclined_surfaces or view_corridors")
        names = [s.name for s in self.inclined_surfaces] + [c.name for c in self.view_corridors]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"rule names must be unique: {sorted(dup)}")
        return self


@dataclass
class HeightRules:
    """Rules bound to a territory: zone polygons (a GeoDataFrame in the territory's CRS with
    ``zone`` and ``parcel_id`` columns), zone limits, surfaces and corridors."""

    name: str
    source: str
    sha256: str | None
    storey_height: float
    zone_polygons: Any = None
    zone_rules: dict[str, ZoneRule] = field(default_factory=dict)
    default_max_height: float | None = None
    surfaces: tuple[InclinedSurface, ...] = ()
    corridors: tuple[ViewCorridor, ...] = ()


def builtin_rules() -> list[str]:
    folder = resources.files("scenarios") / BUILTIN_DIR
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def _resolve(source: str | Path) -> Path:
    path = Path(source)
    if path.is_file():
        return path
    if path.suffix == "" and str(source) in builtin_rules():
        return Path(str(resources.files("scenarios") / BUILTIN_DIR / f"{source}.yaml"))
    raise InputError("no such rules file or built-in rules", source=source,
                     hint=f"built-in: {', '.join(builtin_rules()) or 'none'}")


def load_rules_file(source: str | Path) -> tuple[RulesFile, Path]:
    """Parse and validate a rules file (or a built-in rules name)."""
    path = _resolve(source)
    raw = read_yaml(path, "rules file", not_a_mapping="a rules file is a mapping of keys to values")
    try:
        return RulesFile.model_validate(raw), path
    except ValidationError as exc:
        raise validation_error(exc, path) from None


def load_rules(source: str | Path, territory: Territory) -> HeightRules:
    """A rules file bound to ``territory`` (see the module docstring)."""
    spec, path = load_rules_file(source)
    transform = _transformer(spec.crs, territory, path)
    rules = HeightRules(name=spec.name, source=str(path),
                        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        storey_height=spec.storey_height)
    if spec.zones is not None:
        _bind_zones(rules, spec.zones, territory, path)
    ground = territory.get("terrain__elevation")
    xmin, ymin, xmax, ymax = territory.grid.bounds
    extent = 2 * float(np.hypot(xmax - xmin, ymax - ymin))
    surfaces = []
    for k, s in enumerate(spec.inclined_surfaces):
        (x1, y1), (x2, y2) = transform(s.line[0]), transform(s.line[1])
        surfaces.append(_located(path, f"inclined_surfaces.{k}", InclinedSurface, s.name,
                                 (x1, y1), (x2, y2), s.base_height, s.slope, s.side,
                                 s.length if s.length is not None else extent, s.divergence))
    corridors = []
    for k, c in enumerate(spec.view_corridors):
        key = f"view_corridors.{k}"
        vp, lm = transform(c.viewpoint), transform(c.landmark)
        eye = c.eye_z if c.eye_z is not None else \
            _ground_at(territory, ground, vp, path, f"{key}.viewpoint") + c.eye_height
        threshold = c.threshold_z if c.threshold_z is not None else \
            _ground_at(territory, ground, lm, path, f"{key}.landmark") + c.threshold_height
        corridors.append(_located(path, key, ViewCorridor, c.name, vp, eye,
                                  lm, threshold, c.half_width, c.background, c.landmark_top_z))
    rules.surfaces, rules.corridors = tuple(surfaces), tuple(corridors)
    return rules


def _located(path: Path, key: str, make: Any, *args: Any) -> Any:
    """``make(*args)``; an error it raises gets the rules file and key."""
    try:
        return make(*args)
    except InputError as exc:
        raise InputError(exc.problem, source=path,
                         field=f"{key} ({exc.field})" if exc.field else key, value=exc.value,
                         hint=exc.hint) from None


def rules_from_zoning_layer(territory: Territory) -> HeightRules:
    """Zone limits read from the columns of the TIM's ``zoning`` layer."""
    layer = territory.layers.get("zoning")
    if layer is None:
        have = ", ".join(sorted(territory.layers)) or "none"
        raise InputError(f"no height rules: the TIM has no 'zoning' layer (layers: {have})",
                         field="--rules", hint="pass --rules rules.yaml (or a built-in name)")
    spec = ZonesSpec(layer="zoning")  # the TIM's schema: zone, max_height, max_far
    rules = HeightRules(name="zoning layer", source=f"{territory.name}: zoning", sha256=None,
                        storey_height=3.0)
    _bind_zones(rules, spec, territory, Path(territory.name), frame=layer)
    return rules


def _transformer(crs: str | None, territory: Territory, path: Path):
    if crs is None or crs_equal(crs, territory.grid.crs):
        return lambda xy: (float(xy[0]), float(xy[1]))
    from pyproj import Transformer

    try:
        t = Transformer.from_crs(crs, territory.grid.crs, always_xy=True)
    except Exception as exc:
        raise InputError(f"unknown CRS: {exc}", source=path, field="crs", value=crs) from exc
    return lambda xy: tuple(float(v) for v in t.transform(xy[0], xy[1]))


def _ground_at(territory: Territory, ground: np.ndarray, xy: tuple[float, float], path: Path,
               key: str) -> float:
    row, col, inside = territory.grid.cells_of(*xy)
    if not inside or not np.isfinite(ground[row, col]):
        raise InputError("lies outside the territory (or where it has no ground height)",
                         source=path, field=key, value=xy)
    return float(ground[row, col])


def _bind_zones(rules: HeightRules, spec: ZonesSpec, territory: Territory, path: Path,
                frame: Any = None) -> None:
    if frame is not None:
        where = f"TIM layer {spec.layer}"
    elif spec.source is not None:
        from tim.ingest.vector import read_vector

        file = (path.parent / spec.source) if not Path(spec.source).is_absolute() \
            else Path(spec.source)
        frame = read_vector(file, layer=spec.layer).to_crs(territory.grid.crs)
        where = str(file)
    else:
        frame = territory.layers.get(spec.layer)
        if frame is None:
            have = ", ".join(sorted(territory.layers)) or "none"
            raise InputError(f"the TIM has no layer {spec.layer!r} (layers: {have})",
                             source=path, field="zones.layer", value=spec.layer)
        where = f"TIM layer {spec.layer}"
    if spec.zone_column not in frame.columns:
        raise InputError(f"the zone polygons ({where}) have no column {spec.zone_column!r} "
                         f"(columns: {', '.join(c for c in frame.columns if c != 'geometry')})",
                         source=path, field="zones.zone_column", value=spec.zone_column)
    polygons = frame[[frame.geometry.name]].copy()
    polygons["zone"] = frame[spec.zone_column].astype(str).to_numpy()
    if spec.parcel_column is not None:
        if spec.parcel_column not in frame.columns:
            raise InputError(f"the zone polygons have no column {spec.parcel_column!r}",
                             source=path, field="zones.parcel_column")
        polygons["parcel_id"] = frame[spec.parcel_column].astype(str).to_numpy()
    else:
        polygons["parcel_id"] = [f"{z}#{i + 1}" for i, z in enumerate(polygons["zone"])]
    if polygons["parcel_id"].duplicated().any():
        raise InputError("parcel ids must be unique", source=path, field="zones.parcel_column",
                         value=polygons["parcel_id"][polygons["parcel_id"].duplicated()].iloc[0])
    zone_rules: dict[str, ZoneRule] = {}
    if spec.rules:
        for k, r in enumerate(spec.rules):
            zone_rules[r.zone] = _located(path, f"zones.rules.{k}", ZoneRule, r.zone,
                                          r.max_height, r.max_far, r.max_coverage,
                                          r.min_height)
    else:  # limits from the layer's own columns, one set per zone
        present = [c for c in ZONE_COLUMNS if c in frame.columns]
        if not present:
            raise InputError(f"the zone polygons ({where}) carry no limits (columns "
                             f"{', '.join(ZONE_COLUMNS)}) and the rules list none",
                             source=path, field="zones.rules")
        for zone, group in frame.groupby(spec.zone_column):
            values = {}
            for column in present:
                distinct = group[column].dropna().unique()
                if len(distinct) > 1:
                    raise InputError(f"zone {zone!r} has different {column} values on its "
                                     "polygons (rules contradict each other)", source=path,
                                     field=column, value=sorted(distinct.tolist()))
                values[column] = float(distinct[0]) if len(distinct) else None
            zone_rules[str(zone)] = _located(path, spec.zone_column, ZoneRule, str(zone),
                                            *(values[c] if c in values else None
                                              for c in ZONE_COLUMNS))
    unknown = sorted(set(zone_rules) - set(polygons["zone"]))
    if unknown:
        raise InputError(f"rules for zones that no polygon has: {unknown} (zones: "
                         f"{sorted(set(polygons['zone']))})", source=path, field="zones.rules")
    bare = sorted(set(polygons["zone"]) - set(zone_rules))
    if bare:
        raise InputError(f"zones without rules: {bare}", source=path, field="zones.rules",
                         hint="add a rule for each zone (an empty one for no limit)")
    rules.zone_polygons = polygons.reset_index(drop=True)
    rules.zone_rules = zone_rules
    rules.default_max_height = spec.default.max_height if spec.default else None

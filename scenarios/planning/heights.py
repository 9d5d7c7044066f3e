"""Check buildings against height rules; the maximum allowable height as a raster and per parcel.

``twin heights`` calls :func:`check_heights` and :func:`write_heights`.

* Cells: every rule becomes an allowed height above the ground per cell centre (zoning height,
  FAR height per parcel, inclined surfaces, view corridors); the lowest is the maximum
  allowable height (``planning__max_building_height``) with the rule that sets it
  (``planning__height_limit_rule``); the corridors' lowest envelope is
  ``planning__view_envelope``.
* Buildings (existing, and proposed ones from a file): exact, on the footprint polygons. A
  building stands on its base (the lowest ground under its footprint, as in the 3D Tiles) and
  reaches base + height. Zoning limits apply where the footprint overlaps the zone; a surface
  or corridor limits it by the lowest point of its plane over the part of the footprint inside
  its region (a plane over a polygon is lowest at a vertex). A building violates a limit when
  it exceeds it by more than 1 mm; it is reported with the limit, its height, the excess and
  the governing rule, and grouped by planning unit. A corridor's landmark (the building under
  the landmark point) is not held to its own corridor.
* Parcels (the zone polygons): floor area ratio against the zone's maximum - FAR is a parcel
  rule, so it is checked per parcel, not per building - and the range of the maximum
  allowable height over the parcel.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.analysis.corridors import check_corridor_on_ground
from engine.analysis.heights import (LimitLayer, check_minimums, combine_limits, far_height,
                                     surface_limit)
from scenarios.planning.height_rules import HeightRules
from tim.errors import InputError
from tim.model import Territory

log = logging.getLogger(__name__)

#: Columns of the per-building table (buildings.csv), in order.
BUILDING_COLUMNS = ("building_id", "source", "unit_id", "unit", "height_m", "base_z", "top_z",
                    "max_height_m", "excess_m", "violation", "rule")
#: Buildings exceeding a limit by at most this much (m) are at the limit, not over it.
TOLERANCE = 1e-3
#: Overlaps smaller than this (m2) are touching edges, not overlaps.
_AREA_EPS = 1e-4


@dataclass
class HeightReport:
    """What :func:`check_heights` found (tables are pandas DataFrames)."""

    rules: HeightRules
    rule_table: list[dict[str, Any]]  # number, name, kind
    max_height: np.ndarray  # planning__max_building_height
    limit_rule: np.ndarray  # planning__height_limit_rule
    envelope: np.ndarray | None  # planning__view_envelope
    buildings: pd.DataFrame
    parcels: pd.DataFrame
    units: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def violations(self) -> pd.DataFrame:
        return self.buildings.loc[self.buildings["violation"].to_numpy(bool)].sort_values(
            "excess_m", ascending=False)


def _cells_xy(territory: Territory) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = territory.grid.cell_centres()
    return np.meshgrid(xs, ys)


def _burn(territory: Territory, geometries: np.ndarray, values: np.ndarray,
          fill: float = np.nan) -> np.ndarray:
    from tim.rasterize import rasterize

    return rasterize(geometries, np.asarray(values, dtype=float), territory.grid, "float64",
                     fill=fill)


def _coverage(territory: Territory, polygons: Any, footprints: np.ndarray,
              storeys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per polygon: footprint area and floor area of the buildings on it (split by overlap),
    and the number of buildings overlapping it."""
    import shapely

    area = np.zeros(len(polygons))
    floor = np.zeros(len(polygons))
    count = np.zeros(len(polygons), dtype=np.int64)
    if len(footprints) == 0:
        return area, floor, count
    tree = shapely.STRtree(footprints)
    poly_idx, fp_idx = tree.query(polygons.geometry.values, predicate="intersects")
    shared = shapely.area(shapely.intersection(polygons.geometry.values[poly_idx],
                                               footprints[fp_idx]))
    keep = shared > _AREA_EPS
    np.add.at(area, poly_idx[keep], shared[keep])
    np.add.at(floor, poly_idx[keep], shared[keep] * storeys[fp_idx[keep]])
    np.add.at(count, poly_idx[keep], 1)
    return area, floor, count


def limit_layers(territory: Territory, rules: HeightRules, footprints: np.ndarray,
                 storeys: np.ndarray) -> tuple[list[LimitLayer], pd.DataFrame, np.ndarray]:
    """Every rule as an allowed height above the ground per cell, the parcel table's FAR
    columns, and the zones' minimum heights per cell (NaN: none)."""
    grid, ground = territory.grid, territory.get("terrain__elevation")
    layers: list[LimitLayer] = []
    minimum = np.full(grid.shape, np.nan)
    parcels = pd.DataFrame()
    polygons = rules.zone_polygons
    if polygons is not None:
        zone_of = polygons["zone"].to_numpy()
        geoms = polygons.geometry.values
        parcel_area = polygons.geometry.area.to_numpy()
        fp_area, floor_area, n_buildings = _coverage(territory, polygons, footprints, storeys)
        far_limit = np.full(len(polygons), np.nan)
        for zone, rule in rules.zone_rules.items():
            mine = zone_of == zone
            if rule.max_height is not None:
                layers.append(LimitLayer(f"zone {zone}: max height", "zone",
                                         _burn(territory, geoms[mine],
                                               np.full(mine.sum(), rule.max_height))))
            if rule.max_far is not None:
                coverage = (np.full(mine.sum(), rule.max_coverage) if rule.max_coverage
                            else fp_area[mine] / parcel_area[mine])
                far_limit[mine] = [far_height(rule.max_far, c, rules.storey_height)
                                   for c in coverage]
                finite = np.isfinite(far_limit[mine])
                if finite.any():
                    layers.append(LimitLayer(f"zone {zone}: FAR {rule.max_far:g}", "far",
                                             _burn(territory, geoms[mine][finite],
                                                   far_limit[mine][finite])))
            if rule.min_height is not None:
                burnt = _burn(territory, geoms[mine], np.full(mine.sum(), rule.min_height))
                minimum = np.fmax(minimum, burnt)
        if rules.default_max_height is not None:
            inside = _burn(territory, geoms, np.ones(len(geoms)), fill=0.0) > 0
            layers.append(LimitLayer("default max height", "zone",
                                     np.where(inside, np.nan, rules.default_max_height)))
        max_far = np.array([rules.zone_rules[z].max_far for z in zone_of], dtype=float)
        far = floor_area / parcel_area
        parcels = pd.DataFrame({
            "parcel_id": polygons["parcel_id"].to_numpy(), "zone": zone_of,
            "area_m2": parcel_area.round(1), "buildings": n_buildings,
            "footprint_m2": fp_area.round(1), "floor_area_m2": floor_area.round(1),
            "coverage": (fp_area / parcel_area).round(4), "far": far.round(4),
            "max_far": max_far, "far_excess": np.where(np.isfinite(max_far), far - max_far,
                                                      np.nan).round(4),
            "far_violation": np.isfinite(max_far) & (far > max_far + 1e-9),
            "far_height_m": far_limit.round(2)})
    for surface in rules.surfaces:
        layers.append(LimitLayer(surface.name, "surface", surface_limit(surface, grid, ground)))
    for corridor in rules.corridors:
        check_corridor_on_ground(corridor, grid, ground)
        layers.append(LimitLayer(corridor.name, "corridor", corridor.envelope(grid, ground)))
    return layers, parcels, minimum


def surface_and_corridor_limit(territory: Territory, rules: HeightRules) -> np.ndarray:
    """The lowest height above the ground per cell that the rules' inclined surfaces and view
    corridors allow (NaN where none applies) - their zoning left out, for a scenario that sets
    zoning of its own. An empty error names the rules file."""
    import dataclasses

    from engine.analysis.heights import combine_limits

    rules = dataclasses.replace(rules, zone_polygons=None, zone_rules={},
                                default_max_height=None)
    layers, _, _ = limit_layers(territory, rules, np.array([]), np.zeros(0))
    if not layers:
        raise InputError("the height rules have no inclined surface or view corridor to bind "
                         "developers (zoning caps come from the TIM)", source=rules.source,
                         field="development.height_rules")
    return combine_limits(layers, territory.grid.shape)[0]


def _rule_limits(rules: HeightRules, footprints: np.ndarray, base: np.ndarray,
                 landmark_of: dict[str, int | None]) -> tuple[np.ndarray, np.ndarray]:
    """Allowed height (m above each building's base) per building and rule, and rule names."""
    import shapely

    names: list[str] = []
    columns: list[np.ndarray] = []
    n = len(footprints)
    if rules.zone_polygons is not None:
        polygons = rules.zone_polygons
        zone_of = polygons["zone"].to_numpy()
        tree = shapely.STRtree(polygons.geometry.values)
        fp_idx, poly_idx = tree.query(footprints, predicate="intersects")
        shared = shapely.area(shapely.intersection(footprints[fp_idx],
                                                   polygons.geometry.values[poly_idx]))
        keep = shared > _AREA_EPS
        for zone, rule in rules.zone_rules.items():
            if rule.max_height is None:
                continue
            limit = np.full(n, np.nan)
            hit = fp_idx[keep][zone_of[poly_idx[keep]] == zone]
            limit[hit] = rule.max_height
            names.append(f"zone {zone}: max height")
            columns.append(limit)
        if rules.default_max_height is not None:
            outside = shapely.area(shapely.difference(
                footprints, shapely.union_all(polygons.geometry.values))) > _AREA_EPS
            names.append("default max height")
            columns.append(np.where(outside, rules.default_max_height, np.nan))
    planes = [(s.name, sign, poly, lambda x, y, s=s, g=sign: s.plane_z(x, y, g))
              for s in rules.surfaces for sign, poly in s.regions()]
    planes += [(c.name, kind, poly, lambda x, y, c=c, k=kind: c.plane_z(x, y, k))
               for c in rules.corridors for kind, poly in c.regions()]
    by_name: dict[str, np.ndarray] = {}
    for name, _, poly, plane in planes:
        region = shapely.Polygon(poly)
        limit = by_name.setdefault(name, np.full(n, np.nan))
        parts = shapely.intersection(footprints, region)
        hit = np.flatnonzero(shapely.area(parts) > _AREA_EPS)
        if name in landmark_of and landmark_of[name] is not None:
            hit = hit[hit != landmark_of[name]]
        for i in hit:
            xy = shapely.get_coordinates(parts[i])
            allowed = float(np.min(plane(xy[:, 0], xy[:, 1]))) - base[i]
            limit[i] = np.fmin(limit[i], allowed)
    for name, limit in by_name.items():
        names.append(name)
        columns.append(limit)
    return (np.column_stack(columns) if columns else np.full((n, 0), np.nan)), np.array(names)


def _units(territory: Territory, footprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Planning unit id and name of each footprint's centroid (0 and '' outside every unit)."""
    import shapely

    layer = territory.layers.get("planning_units")
    ids, names = np.zeros(len(footprints), dtype=np.int64), np.full(len(footprints), "",
                                                                    dtype=object)
    if layer is None or len(footprints) == 0:
        return ids, names
    tree = shapely.STRtree(layer.geometry.values)
    fp, unit = tree.query(shapely.centroid(footprints), predicate="within")
    ids[fp] = layer["unit_id"].to_numpy()[unit]
    names[fp] = layer["name"].astype(str).to_numpy()[unit]
    return ids, names


def check_heights(territory: Territory, rules: HeightRules, proposals: Any = None, *,
                  parcel_heights: bool = True) -> HeightReport:
    """Limits, maximum allowable height and violations of ``territory`` (and ``proposals``, a
    buildings GeoDataFrame with ``building_id`` and ``height``) under ``rules``.

    ``parcel_heights=False`` leaves out the range of the maximum allowable height per parcel
    (one rasterisation per parcel: slow on a city's thousands of parcels, and not needed to
    judge buildings)."""
    import geopandas as gpd

    from tim.tiles.buildings import building_base_z

    frames = []
    if "buildings" in territory.layers and len(territory.layers["buildings"]):
        frames.append(territory.layers["buildings"].assign(source="existing"))
    if proposals is not None:
        frames.append(proposals.assign(source="proposed"))
    buildings = (pd.concat(frames, ignore_index=True) if frames else None)
    footprints = buildings.geometry.values if buildings is not None else np.array([])
    storeys = (buildings["storeys"].to_numpy(float) if buildings is not None
               else np.zeros(0))
    existing = (buildings["source"] == "existing").to_numpy() if buildings is not None \
        else np.zeros(0, bool)

    layers, parcels, minimum = limit_layers(territory, rules, footprints[existing],
                                            storeys[existing])
    if not layers:
        raise InputError("the rules set no height limit (no max_height, max_far, surface or "
                         "corridor)", source=rules.source, field="rules")
    shape = territory.grid.shape
    max_height, limit_rule = combine_limits(layers, shape)
    names = [layer.name for layer in layers]
    rule_table = [{"number": k, "name": layer.name, "kind": layer.kind}
                  for k, layer in enumerate(layers, start=1)]
    if np.isfinite(minimum).any():
        zone_index = np.zeros(shape, dtype=np.int64)
        zones = sorted(rules.zone_rules)
        for k, zone in enumerate(zones):
            rule = rules.zone_rules[zone]
            if rule.min_height is not None:
                mine = rules.zone_polygons["zone"].to_numpy() == zone
                burnt = _burn(territory, rules.zone_polygons.geometry.values[mine],
                              np.ones(mine.sum()), fill=0.0)
                zone_index[burnt > 0] = k
        check_minimums(minimum, max_height, limit_rule, names, zone_index, zones,
                       territory.grid)
    envelopes = [layer.height for layer in layers if layer.kind == "corridor"]
    envelope = (np.fmin.reduce(envelopes).astype(np.float32) if envelopes else None)

    if parcel_heights and parcels is not None and len(parcels):
        raster_min, raster_max = [], []
        for geom in rules.zone_polygons.geometry.values:
            inside = _burn(territory, np.array([geom]), np.ones(1), fill=0.0) > 0
            values = max_height[inside & np.isfinite(max_height)]
            raster_min.append(float(values.min()) if values.size else np.nan)
            raster_max.append(float(values.max()) if values.size else np.nan)
        parcels["max_height_min_m"] = np.round(raster_min, 2)
        parcels["max_height_max_m"] = np.round(raster_max, 2)

    table = gpd.GeoDataFrame({c: [] for c in BUILDING_COLUMNS}, geometry=[],
                             crs=territory.grid.crs)
    if buildings is not None:
        landmark_of = {}
        for c in rules.corridors:  # the landmark's own building
            landmark_of[c.name] = _landmark_building(footprints, c.landmark)
        base = building_base_z(territory, footprints)
        limits, rule_names = _rule_limits(rules, footprints, base, landmark_of)
        limit = np.full(len(footprints), np.nan)
        governing = np.full(len(footprints), "", dtype=object)
        if limits.shape[1]:
            masked = np.where(np.isfinite(limits), limits, np.inf)
            k = np.argmin(masked, axis=1)
            lowest = masked[np.arange(len(footprints)), k]
            has = np.isfinite(lowest)
            limit[has], governing[has] = lowest[has], rule_names[k[has]]
        height = buildings["height"].to_numpy(float)
        excess = height - limit
        unit_id, unit_name = _units(territory, footprints)
        table = gpd.GeoDataFrame({
            "building_id": buildings["building_id"].astype(str).to_numpy(),
            "source": buildings["source"].to_numpy(), "unit_id": unit_id, "unit": unit_name,
            "height_m": height.round(3), "base_z": base.round(3),
            "top_z": (base + height).round(3), "max_height_m": np.round(limit, 3),
            "excess_m": np.round(excess, 3),
            "violation": np.nan_to_num(excess, nan=-np.inf) > TOLERANCE,
            "rule": governing}, geometry=footprints, crs=territory.grid.crs)
    units = _unit_summary(territory, table, footprints)
    counts = {"buildings": len(table), "violations": int(table["violation"].sum()),
              "parcels": len(parcels), "far_violations": int(parcels["far_violation"].sum())
              if len(parcels) else 0,
              "cells_limited": int(np.isfinite(max_height).sum())}
    log.info("height check: %(violations)d of %(buildings)d buildings over their limit", counts)
    return HeightReport(rules, rule_table, max_height, limit_rule, envelope, table, parcels,
                        units, counts)


def run_rules(territory: Territory, scenario: Any) -> HeightRules | None:
    """The height rules a run's new buildings are held to, as the developers were: the TIM's
    zoning heights (``zoning`` layer) with the scenario's per-zone ``max_height`` overrides and
    its default height where no zone applies, and the inclined surfaces and view corridors of
    ``development.height_rules``. None when none of these exists. FAR stays out: it is a parcel
    rule and the developers' floor area is bounded by it already."""
    import dataclasses

    from scenarios.planning.height_rules import load_rules, rules_from_zoning_layer

    d = scenario.development
    rules = None
    zoning = territory.layers.get("zoning")
    if zoning is not None and len(zoning):
        rules = rules_from_zoning_layer(territory)
        ids = dict(zip(zoning["zone_id"].astype(str), zoning["zone"].astype(str))) \
            if "zone_id" in zoning else {}
        overrides = {ids.get(str(k), str(k)): o.max_height for k, o in d.zones.items()
                     if o.max_height is not None}
        rules.zone_rules = {z: dataclasses.replace(r, max_far=None, max_height=overrides.get(
            z, r.max_height)) for z, r in rules.zone_rules.items()}
        rules.default_max_height = d.default_max_height
        rules.name = "zoning"
    if d.height_rules is not None:
        extra = load_rules(d.height_rules, territory)
        if rules is None:
            rules = dataclasses.replace(extra, zone_polygons=None, zone_rules={},
                                        default_max_height=None)
        else:
            rules.surfaces, rules.corridors = extra.surfaces, extra.corridors
            rules.name = f"zoning + {extra.name}"
            rules.source, rules.sha256 = extra.source, extra.sha256
    return rules


def check_new_buildings(territory: Territory, scenario: Any, new_buildings: Any
                        ) -> HeightReport | None:
    """The run's new buildings (``project_buildings``) checked against :func:`run_rules`:
    only they are in the report (the existing ones are ``twin heights``' business). None
    without rules or without new buildings."""
    import dataclasses

    if new_buildings is None or not len(new_buildings):
        return None
    rules = run_rules(territory, scenario)
    if rules is None:
        return None
    bare = dataclasses.replace(territory, layers={k: v for k, v in territory.layers.items()
                                                  if k != "buildings"})
    return check_heights(bare, rules, new_buildings, parcel_heights=False)


def _landmark_building(footprints: np.ndarray, xy: tuple[float, float]) -> int | None:
    import shapely

    if len(footprints) == 0:
        return None
    hit = np.flatnonzero(shapely.intersects(footprints, shapely.Point(xy)))
    return int(hit[0]) if len(hit) else None


def _unit_summary(territory: Territory, table: pd.DataFrame,
                  footprints: np.ndarray) -> pd.DataFrame:
    """Per planning unit: buildings checked, violations, greatest excess and the volume above
    the limits (excess x footprint area)."""
    columns = ["unit_id", "unit", "buildings", "violations", "max_excess_m",
               "excess_volume_m3"]
    if not len(table):
        return pd.DataFrame(columns=columns)
    area = np.asarray([g.area for g in footprints])
    over = table["violation"].to_numpy()
    frame = table.assign(over_volume=np.where(over, table["excess_m"].to_numpy() * area, 0.0))
    grouped = frame.groupby(["unit_id", "unit"], sort=True)
    out = grouped.agg(buildings=("building_id", "size"), violations=("violation", "sum"),
                      max_excess_m=("excess_m", lambda e: float(np.nanmax(e))
                                    if np.isfinite(e).any() else math.nan),
                      excess_volume_m3=("over_volume", "sum")).reset_index()
    out["max_excess_m"] = out["max_excess_m"].where(out["violations"] > 0).round(3)
    out["excess_volume_m3"] = out["excess_volume_m3"].round(1)
    return out[columns]


def read_proposals(path: str | Path, territory: Territory) -> Any:
    """Proposed buildings: footprints with a height (or storeys), read and checked like the
    TIM's buildings layer and reprojected to the territory's CRS."""
    from tim.ingest.layers import normalise_buildings
    from tim.ingest.vector import read_vector

    frame = read_vector(path, assume_crs=territory.grid.crs)
    frame = normalise_buildings(frame.to_crs(territory.grid.crs), path)
    guessed = frame["height_source"] == "default"
    if guessed.any():
        raise InputError("every proposed building needs a height or storeys", source=path,
                         field="height", value=frame["building_id"][guessed].iloc[0])
    return frame


def _rules_geojson(territory: Territory, rules: HeightRules) -> dict[str, Any]:
    """Zones, inclined surfaces and corridors (wedge, axis, viewpoint, landmark) in WGS 84,
    heights in the TIM's vertical datum, for a map or a globe."""
    import shapely
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(territory.grid.crs, "EPSG:4326", always_xy=True)
    features = []

    def lonlat(coords: np.ndarray) -> np.ndarray:
        if len(coords) == 1:  # pyproj takes one-element arrays for a scalar (NumPy warns)
            lon, lat = map(np.atleast_1d, to_wgs84.transform(coords[0, 0], coords[0, 1]))
        else:
            lon, lat = to_wgs84.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat, *coords[:, 2:].T])

    def add(geom: Any, **properties: Any) -> None:
        geom = shapely.transform(geom, lonlat, include_z=bool(shapely.has_z(geom)))
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                         "properties": properties})

    if rules.zone_polygons is not None:
        for zone, parcel, geom in zip(rules.zone_polygons["zone"],
                                      rules.zone_polygons["parcel_id"],
                                      rules.zone_polygons.geometry.values):
            r = rules.zone_rules[zone]
            add(geom, kind="zone", zone=zone, parcel_id=parcel, max_height=r.max_height,
                max_far=r.max_far, max_coverage=r.max_coverage, min_height=r.min_height)
    for s in rules.surfaces:
        for sign, ring in s.regions():
            add(shapely.Polygon(ring), kind="inclined_surface", name=s.name,
                base_height=s.base_height, slope=s.slope, side="left" if sign > 0 else "right")
    for c in rules.corridors:
        for kind, ring in c.regions():
            add(shapely.Polygon(ring), kind=f"corridor_{kind}", name=c.name,
                eye_z=c.eye_z, threshold_z=c.threshold_z, landmark_top_z=c.landmark_top_z)
        add(shapely.LineString([(*c.viewpoint, c.eye_z), (*c.landmark, c.threshold_z)]),
            kind="corridor_axis", name=c.name)
        add(shapely.Point(*c.viewpoint, c.eye_z), kind="viewpoint", name=c.name)
        add(shapely.Point(*c.landmark, c.threshold_z), kind="landmark", name=c.name)
    return {"type": "FeatureCollection", "features": features}


def write_heights(report: HeightReport, territory: Territory, out: str | Path,
                  command: list[str] | None = None) -> Path:
    """Write the report to the directory ``out`` atomically::

        manifest.json          rules (file, sha256), numbered rule table, counts, files
        rasters/planning__max_building_height.tif   m above ground, NaN = no limit
        rasters/planning__height_limit_rule.tif     rule number (manifest), 0 = none
        rasters/planning__view_envelope.tif         m above ground, NaN outside corridors
        buildings.csv, buildings.json   every building checked (json keyed by building id,
                                        for styling the 3D Tiles by their ``id`` property)
        heights.gpkg           layers buildings (footprints + the columns of buildings.csv)
                               and parcels (zone polygons + parcels.csv), for QGIS
        violations.csv         violators, largest excess first
        units.csv              per planning unit: buildings, violations, excess
        parcels.csv            per parcel: FAR, its limit, allowed heights
        rules.geojson          zones, surfaces, corridors (WGS 84) for maps and the globe
    """
    import json

    import geopandas as gpd

    from tim.atomic import atomic_directory
    from tim.ingest.vector import uniform_geometry_type
    from tim.fields import field_spec
    from tim.store import write_layer, write_raster

    out = Path(out)
    rasters = {"planning__max_building_height": report.max_height,
               "planning__height_limit_rule": report.limit_rule}
    if report.envelope is not None:
        rasters["planning__view_envelope"] = report.envelope
    with atomic_directory(out) as tmp:
        (tmp / "rasters").mkdir()
        for name, values in rasters.items():
            spec = field_spec(name)
            write_raster(tmp / "rasters" / f"{name}.tif", values.astype(spec.numpy_dtype),
                         territory.grid, spec.nodata)
        columns = [c for c in report.buildings.columns if c != "geometry"]
        report.buildings[columns].to_csv(tmp / "buildings.csv", index=False)
        report.violations[columns].to_csv(tmp / "violations.csv", index=False)
        if len(report.buildings):
            write_layer(uniform_geometry_type(report.buildings), tmp / "heights.gpkg",
                        "buildings")
        if report.rules.zone_polygons is not None and len(report.parcels):
            parcels = gpd.GeoDataFrame(report.parcels.copy(),
                                       geometry=report.rules.zone_polygons.geometry.values,
                                       crs=territory.grid.crs)
            write_layer(uniform_geometry_type(parcels), tmp / "heights.gpkg", "parcels")
        report.units.to_csv(tmp / "units.csv", index=False)
        report.parcels.to_csv(tmp / "parcels.csv", index=False)
        styling = {row.building_id: {"violation": bool(row.violation),
                                     "excess_m": None if math.isnan(row.excess_m)
                                     else row.excess_m,
                                     "max_height_m": None if math.isnan(row.max_height_m)
                                     else row.max_height_m,
                                     "rule": row.rule, "source": row.source}
                   for row in report.buildings.itertuples()}
        (tmp / "buildings.json").write_text(json.dumps(styling, indent=1, ensure_ascii=False))
        (tmp / "rules.geojson").write_text(json.dumps(_rules_geojson(territory, report.rules),
                                                      ensure_ascii=False))
        manifest = {
            "kind": "height check", "tim": territory.name, "crs": territory.grid.crs,
            "vertical_datum": territory.vertical_datum,
            "rules": {"name": report.rules.name, "source": report.rules.source,
                      "sha256": report.rules.sha256,
                      "storey_height": report.rules.storey_height},
            "rule_table": report.rule_table, "counts": report.counts,
            "tolerance_m": TOLERANCE,
            "rasters": {name: f"rasters/{name}.tif" for name in rasters},
            "tables": ["buildings.csv", "violations.csv", "units.csv", "parcels.csv"],
            "geopackage": "heights.gpkg",
            "styling": "buildings.json", "map": "rules.geojson", "command": command}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False,
                                                      default=float))
    return out

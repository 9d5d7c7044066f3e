"""Sunlight hours (日照) of residential façades before and after proposed buildings, checked
against GB 50180-2018 表 4.0.9 (rules in ``sunlight_rules.yaml`` beside this module).

``twin sunlight`` calls :func:`check_sunlight` and :func:`write_sunlight`.

* Sun: pvlib's NREL solar position (geometric elevation, no refraction) at the territory's
  centre, at the middle of each time step of the standard day's window in local **true solar
  time** (UTC = true solar time - longitude / 15 h - equation of time). Azimuths are turned from
  true north to the grid's north (the CRS's meridian convergence at the centre).
* Sample points: on every façade edge of a residential building at least ``min_facade_m``
  long, ``ceil(length / facade_spacing_m)`` points evenly spaced, at the ground-floor window
  sill (``sill_height_m`` above the building's base, 底层窗台面), 1 cm out from the wall. Points
  on a party wall (inside another footprint) and on façades the sun never stands in front of
  during the window are left out (counted).
* Obstructions: the TIM's buildings as prisms from base to top (LoD2 by their highest point),
  the proposals likewise, and the terrain raster (:mod:`engine.kernels.shadow`).
* Hours: sunlit steps x step. A point passes with at least the threshold's hours; a building
  fails when any (or, by the rule file, all) of its points fail. A point that passed before and
  fails after is broken by the proposals that shade it in the minutes it lost (first wall met
  along the ray, so a minute shaded by two proposals counts for one).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.kernels.shadow import AWAY, SUNLIT, Scene, build_scene, sun_codes
from scenarios.planning.outputs import CheckFolder, check_folder, file_record
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import Territory

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("sunlight_rules.yaml")
#: How far out of its wall a sample point sits (m).
OFFSET = 0.01
CLIMATE_ZONES = ("I", "II", "III", "IV", "V", "VI", "VII")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StandardDay(_Strict):
    name: str
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    window: tuple[float, float]


class Threshold(_Strict):
    climate_zones: list[Literal["I", "II", "III", "IV", "V", "VI", "VII"]]
    large: bool
    day: str
    hours: float = Field(gt=0, le=24)


class Site(_Strict):
    climate_zone: Literal["I", "II", "III", "IV", "V", "VI", "VII"]
    urban_population: float = Field(ge=0)


class SunlightRules(_Strict):
    name: str
    site: Site
    large_city_population: float = Field(gt=0)
    days: dict[str, StandardDay]
    thresholds: list[Threshold] = Field(min_length=1)
    sill_height_m: float = Field(ge=0, le=100)
    facade_spacing_m: float = Field(gt=0, le=1000)
    min_facade_m: float = Field(ge=0, le=1000)
    step_minutes: float = Field(gt=0, le=60)
    shadow_map_step_minutes: float = Field(gt=0, le=120)
    min_incidence_deg: float = Field(ge=0, lt=90)
    residential_uses: list[str]
    building_fails_when: Literal["any_point", "all_points"]
    all_floors: bool = False
    storey_height_m: float = Field(default=3.0, gt=0, le=20)

    def threshold(self) -> Threshold:
        """The row of 表 4.0.9 for the site."""
        large = self.site.urban_population >= self.large_city_population
        for row in self.thresholds:
            if self.site.climate_zone in row.climate_zones and row.large == large:
                return row
        raise InputError(f"no threshold for climate zone {self.site.climate_zone} and a "
                         f"{'large' if large else 'small or medium'} city", field="thresholds")


def load_sunlight_rules(path: str | Path | None = None, *, climate_zone: str | None = None,
                        urban_population: float | None = None) -> tuple[SunlightRules, Path]:
    """The rule file (default: the one beside this module), with the site overridden."""
    path = Path(path) if path else RULES_FILE
    raw = read_yaml(path, "sunlight rules", not_a_mapping="a rules file is a mapping")
    site = dict(raw.get("site") or {}) if isinstance(raw.get("site"), dict) else raw.get("site")
    if isinstance(site, dict):
        if climate_zone is not None:
            site["climate_zone"] = climate_zone
        if urban_population is not None:
            site["urban_population"] = urban_population
        raw = {**raw, "site": site}
    try:
        rules = SunlightRules.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from None
    for k, row in enumerate(rules.thresholds):
        if row.day not in rules.days:
            raise InputError(f"day {row.day!r} is not one of days ({', '.join(rules.days)})",
                             source=path, field=f"thresholds.{k}.day", value=row.day)
    for name, day in rules.days.items():
        lo, hi = day.window
        if not 0 <= lo < hi <= 24:
            raise InputError("the window must be 0 <= start < end <= 24 (true solar hours)",
                             source=path, field=f"days.{name}.window", value=day.window)
    return rules, path


# -- the sun ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SunPath:
    """Sun at the middle of each time step: true solar hour, azimuth (deg from true north),
    elevation (deg) and unit vectors towards the sun in the grid frame (east, north, up)."""

    day: Date
    solar_hours: np.ndarray
    azimuth: np.ndarray
    elevation: np.ndarray
    vectors: np.ndarray
    step_minutes: float


def sun_path(latitude: float, longitude: float, day: Date, window: tuple[float, float],
             step_minutes: float, *, grid_north: float = 0.0) -> SunPath:
    """The sun over ``window`` (true solar hours) of ``day`` at one place; ``grid_north`` is the
    angle (deg, clockwise) from true north to the grid's north."""
    import pvlib

    n = int(round((window[1] - window[0]) * 60 / step_minutes))
    hours = window[0] + (np.arange(n) + 0.5) * step_minutes / 60
    midnight = pd.Timestamp(day.isoformat(), tz="UTC")
    eot = float(np.asarray(pvlib.solarposition.equation_of_time_spencer71(
        midnight.day_of_year)).ravel()[0])
    for _ in range(2):  # the equation of time of the day itself, then once more
        utc = midnight + pd.to_timedelta(hours - longitude / 15 - eot / 60, unit="h")
        pos = pvlib.solarposition.get_solarposition(pd.DatetimeIndex(utc), latitude, longitude,
                                                    method="nrel_numpy")
        eot = float(pos["equation_of_time"].mean())
    azimuth = pos["azimuth"].to_numpy(float)
    elevation = pos["elevation"].to_numpy(float)
    grid_az = np.radians(azimuth - grid_north)
    el = np.radians(elevation)
    vectors = np.column_stack([np.cos(el) * np.sin(grid_az), np.cos(el) * np.cos(grid_az),
                               np.sin(el)])
    return SunPath(day, hours, azimuth, elevation, vectors, step_minutes)


def _site_of(territory: Territory) -> tuple[float, float, float]:
    """Latitude, longitude of the grid's centre and the angle from true to grid north there."""
    from pyproj import Transformer

    xmin, ymin, xmax, ymax = territory.grid.bounds
    x, y = (xmin + xmax) / 2, (ymin + ymax) / 2
    to_wgs = Transformer.from_crs(territory.grid.crs, "EPSG:4326", always_xy=True)
    to_grid = Transformer.from_crs("EPSG:4326", territory.grid.crs, always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    nx, ny = to_grid.transform(lon, lat + 0.01)
    # true north points at this bearing on the grid; the sun's grid azimuth is az - grid_north
    grid_north = -math.degrees(math.atan2(nx - x, ny - y))
    return float(lat), float(lon), grid_north


def standard_day(rules: SunlightRules, date: str | None) -> tuple[Date, tuple[float, float], str]:
    """The day, window and label for ``--date``: a name in the rule file's days (default: the
    threshold's day) in ``year`` of today, or an ISO date (window of the threshold's day)."""
    row = rules.threshold()
    key = date or row.day
    if key in rules.days:
        spec = rules.days[key]
        year = Date.today().year
        return Date(year, spec.month, spec.day), spec.window, spec.name
    try:
        day = Date.fromisoformat(key)
    except ValueError:
        raise InputError(f"not a standard day ({', '.join(rules.days)}) nor a date "
                         "YYYY-MM-DD", field="--date", value=key) from None
    return day, rules.days[row.day].window, day.isoformat()


# -- façades ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FacadePoints:
    """Sample points (x, y, z), outward unit normals, owner row in the buildings frame, and the
    façade's azimuth (deg clockwise from grid north)."""

    xyz: np.ndarray
    normals: np.ndarray
    owner: np.ndarray
    facing: np.ndarray


def facade_points(footprints: np.ndarray, base: np.ndarray, *, sill: float, spacing: float,
                  min_length: float, blockers: np.ndarray | None = None) -> FacadePoints:
    """Points on every façade edge of ``footprints`` (module doc); a point whose outside lies
    inside one of ``blockers`` (footprints, default the same) is on a party wall and dropped."""
    import shapely

    xyz, normals, owner = [], [], []
    for i, poly in enumerate(footprints):
        for part in shapely.get_parts(shapely.orient_polygons(poly)):
            for ring in [part.exterior, *part.interiors]:
                c = np.asarray(ring.coords)[:, :2]
                a, b = c[:-1], c[1:]
                e = b - a
                length = np.hypot(e[:, 0], e[:, 1])
                for k in np.flatnonzero(length >= max(min_length, 1e-9)):
                    n = int(math.ceil(length[k] / spacing))
                    f = (np.arange(n) + 0.5) / n
                    out = np.array([e[k, 1], -e[k, 0]]) / length[k]
                    pts = a[k] + f[:, None] * e[k] + OFFSET * out
                    xyz.append(np.column_stack([pts, np.full(n, base[i] + sill)]))
                    normals.append(np.tile(out, (n, 1)))
                    owner.append(np.full(n, i, dtype=np.int64))
    if not xyz:
        return FacadePoints(np.zeros((0, 3)), np.zeros((0, 2)), np.zeros(0, np.int64),
                            np.zeros(0))
    xyz, normals, owner = np.vstack(xyz), np.vstack(normals), np.concatenate(owner)
    blockers = footprints if blockers is None else blockers
    tree = shapely.STRtree(blockers)
    inside = tree.query(shapely.points(xyz[:, :2]), predicate="within")
    keep = np.ones(len(xyz), dtype=bool)
    keep[inside[0]] = False
    facing = np.degrees(np.arctan2(normals[:, 0], normals[:, 1])) % 360
    return FacadePoints(xyz[keep], normals[keep], owner[keep], facing[keep])


def _storeys(frame: Any, storey_height: float) -> np.ndarray:
    """Storeys per building: its ``storeys``, else its height / the storey height."""
    from_height = np.maximum(1, np.floor(frame["height"].to_numpy(float) / storey_height))
    if "storeys" not in frame:
        return from_height.astype(np.int64)
    given = frame["storeys"].to_numpy(float)
    return np.where(np.isfinite(given) & (given >= 1), given, from_height).astype(np.int64)


def _every_floor(pts: FacadePoints, storeys: np.ndarray, storey_height: float
                 ) -> tuple[FacadePoints, np.ndarray]:
    """Each point repeated at the sill of every floor of its building (floor 0 = ground)."""
    count = storeys[pts.owner]
    index = np.repeat(np.arange(len(pts.xyz)), count)
    floor = np.arange(len(index)) - np.repeat(np.cumsum(count) - count, count)
    xyz = pts.xyz[index].copy()
    xyz[:, 2] += floor * storey_height
    return FacadePoints(xyz, pts.normals[index], pts.owner[index], pts.facing[index]), floor


# -- the check ----------------------------------------------------------------------------------
@dataclass
class SunlightReport:
    """What :func:`check_sunlight` found."""

    rules: SunlightRules
    rules_path: Path
    sun: SunPath
    threshold_hours: float
    day_label: str
    points: pd.DataFrame
    buildings: pd.DataFrame
    proposals: pd.DataFrame
    shadow_before: np.ndarray
    shadow_after: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failing(self) -> pd.DataFrame:
        b = self.buildings
        return b.loc[~b["pass_after"].astype(bool)].sort_values("min_hours_after")


def _scene(territory: Territory, frame: Any, base: np.ndarray, origin: np.ndarray,
           terrain: np.ndarray, drop: np.ndarray | None = None) -> Scene:
    """The walls of ``frame``'s buildings (those ``drop`` marks left out, keeping every other
    building's index as its owner code)."""
    import shapely

    rings, owner = [], []
    for i, poly in enumerate(frame.geometry.values):
        if drop is not None and drop[i]:
            continue
        for part in shapely.get_parts(poly):
            for ring in [part.exterior, *part.interiors]:
                rings.append(np.asarray(ring.coords)[:, :2] - origin)
                owner.append(i)
    a, _, c, _, e, f = territory.grid.transform
    xmin, ymin, xmax, ymax = territory.grid.bounds
    if len(frame):
        bx = frame.total_bounds
        xmin, ymin = min(xmin, bx[0]), min(ymin, bx[1])
        xmax, ymax = max(xmax, bx[2]), max(ymax, bx[3])
    top = base + frame["height"].to_numpy(float) if len(frame) else np.zeros(0)
    return build_scene(rings, np.asarray(owner, dtype=np.int64), base, top,
                       (xmin - origin[0], ymin - origin[1], xmax - origin[0], ymax - origin[1]),
                       terrain=terrain, terrain_transform=(c - origin[0], a, f - origin[1], e))


def _hours(codes: np.ndarray, step: float) -> np.ndarray:
    return (codes == SUNLIT).sum(axis=1) * step / 60


def _blame(before: np.ndarray, after: np.ndarray, n_existing: int, ids: np.ndarray
           ) -> list[str]:
    """Per point: the proposals shading the minutes it lost, most minutes first."""
    out = []
    for b, a in zip(before, after):
        lost = a[(b == SUNLIT) & (a >= n_existing)]
        if not len(lost):
            out.append("")
            continue
        who, minutes = np.unique(lost, return_counts=True)
        out.append(";".join(str(ids[w]) for w in who[np.argsort(-minutes, kind="stable")]))
    return out


def check_sunlight(territory: Territory, proposals: Any | None, rules: SunlightRules,
                   rules_path: Path, *, date: str | None = None, shadow_map: bool = True,
                   all_floors: bool = False) -> SunlightReport:
    """Sunlight hours of the residential buildings of ``territory`` and of ``proposals``
    (buildings GeoDataFrame with ``building_id`` and ``height``), before and after them; at
    the window sill of every floor with ``all_floors`` (or the rule file's), else the ground
    floor's."""
    import geopandas as gpd

    from pyproj import CRS

    from tim.tiles.buildings import building_base_z

    if CRS.from_user_input(territory.grid.crs).is_geographic:
        raise InputError("shadows need the TIM in a projected CRS in metres", field="crs",
                         value=str(territory.grid.crs))
    existing = territory.layers.get("buildings")
    if existing is None or not len(existing):
        existing = gpd.GeoDataFrame({"building_id": [], "height": [], "use": []},
                                    geometry=[], crs=territory.grid.crs)
    proposals = proposals if proposals is not None and len(proposals) else None
    frames = [existing.assign(source="existing")]
    if proposals is not None:
        frames.append(proposals.assign(source="proposed"))
    allb = pd.concat(frames, ignore_index=True)
    n_existing = len(existing)
    replaced = replaced_buildings(existing, proposals, len(allb))
    base = building_base_z(territory, allb.geometry.values) if len(allb) else np.zeros(0)
    day, window, label = standard_day(rules, date)
    lat, lon, grid_north = _site_of(territory)
    sun = sun_path(lat, lon, day, window, rules.step_minutes, grid_north=grid_north)
    if not (sun.elevation > 0).any():
        raise InputError(f"the sun does not rise on {day.isoformat()} between {window[0]:g} "
                         f"and {window[1]:g} h true solar time at latitude {lat:.2f}",
                         field="--date", value=date or label)
    terrain = territory.get("terrain__elevation")
    origin = np.array(territory.grid.bounds[:2])
    before_scene = _scene(territory, allb.iloc[:n_existing], base[:n_existing], origin, terrain)
    after_scene = _scene(territory, allb, base, origin, terrain, drop=replaced)
    uses = (allb["use"] if "use" in allb else pd.Series("unknown", index=allb.index))
    uses = uses.fillna("unknown").astype(str).str.lower()
    residential = uses.isin({u.lower() for u in rules.residential_uses}).to_numpy()
    rows = np.flatnonzero(residential & ~replaced)  # a demolished building has no sun after
    pts = facade_points(allb.geometry.values[rows], base[rows], sill=rules.sill_height_m,
                        spacing=rules.facade_spacing_m, min_length=rules.min_facade_m,
                        blockers=allb.geometry.values[~replaced])
    floor = np.zeros(len(pts.xyz), dtype=np.int64)
    if all_floors or rules.all_floors:
        storeys = _storeys(allb, rules.storey_height_m)[rows]
        pts, floor = _every_floor(pts, storeys, rules.storey_height_m)
    owner = rows[pts.owner]
    local = pts.xyz - np.array([*origin, 0.0])
    h = np.hypot(sun.vectors[:, 0], sun.vectors[:, 1])
    front = (pts.normals @ sun.vectors[:, :2].T) > np.sin(np.radians(rules.min_incidence_deg)) \
        * h[None, :]
    faces_sun = (front & (sun.vectors[:, 2] > 0)[None, :]).any(axis=1)
    n_away = int((~faces_sun).sum())
    local, normals, owner = local[faces_sun], pts.normals[faces_sun], owner[faces_sun]
    facing, floor = pts.facing[faces_sun], floor[faces_sun]
    after = sun_codes(after_scene, local, normals, sun.vectors,
                      min_incidence=rules.min_incidence_deg)
    before = sun_codes(before_scene, local, normals, sun.vectors,
                       min_incidence=rules.min_incidence_deg)
    threshold = rules.threshold().hours
    is_existing = owner < n_existing
    hours_before = np.where(is_existing, _hours(before, sun.step_minutes), np.nan)
    hours_after = _hours(after, sun.step_minutes)
    ids = allb["building_id"].astype(str).to_numpy()
    points = pd.DataFrame({
        "point": np.arange(len(owner)), "building_id": ids[owner],
        "source": allb["source"].to_numpy()[owner],
        "x": (local[:, 0] + origin[0]).round(3), "y": (local[:, 1] + origin[1]).round(3),
        "z": local[:, 2].round(3), "floor": floor + 1, "facing_deg": facing.round(1),
        "hours_before": hours_before, "hours_after": hours_after,
        "pass_before": np.where(is_existing, hours_before >= threshold - 1e-9, None),
        "pass_after": hours_after >= threshold - 1e-9,
        "broken_by": np.where(is_existing, _blame(before, after, n_existing, ids), ""),
    })
    buildings = _per_building(points, rules)
    proposal_table = _per_proposal(buildings, proposals, allb, n_existing, after, owner)
    if shadow_map:
        shadow_before, shadow_after = _shadow_maps(territory, rules, allb, n_existing, lat, lon,
                                                   grid_north, day, window, origin,
                                                   before_scene, after_scene, replaced)
    else:
        shadow_before = shadow_after = np.full(territory.grid.shape, np.nan)
    counts = {"points": len(points), "points_not_facing_sun": n_away,
              "buildings": len(buildings), "residential_buildings": int(residential.sum()),
              "proposals": 0 if proposals is None else len(proposals),
              "replaced": int(replaced.sum()),
              "failing_before": int((~buildings["pass_before"].fillna(True).astype(bool)).sum()),
              "failing_after": int((~buildings["pass_after"].astype(bool)).sum()),
              "broken": int(buildings["broken"].sum()),
              "times": len(sun.solar_hours)}
    return SunlightReport(rules, rules_path, sun, threshold, label, points, buildings,
                          proposal_table, shadow_before, shadow_after, counts)


def replaced_buildings(existing: Any, proposals: Any | None, total: int) -> np.ndarray:
    """Mask over existing + proposed buildings: the existing ones a proposal replaces (its
    ``replaces`` column: building ids separated by commas, as a run's redevelopments list
    them). They shade their neighbours before, and neither stand nor shade after."""
    out = np.zeros(total, dtype=bool)
    if proposals is None or "replaces" not in proposals or not len(existing):
        return out
    ids = {i for v in proposals["replaces"].dropna() for i in re.split(r"[,\s]+", str(v)) if i}
    out[:len(existing)] = existing["building_id"].astype(str).isin(ids).to_numpy()
    return out


def _per_building(points: pd.DataFrame, rules: SunlightRules) -> pd.DataFrame:
    """One row per building with sample points (in their order): hours (least, most), failing
    points, pass (None before for a proposal), and for an existing building that passed before
    and fails after (broken), the proposals named by its points, in their order."""
    columns = ["building_id", "source", "points", "min_hours_before", "max_hours_before",
               "min_hours_after", "max_hours_after", "failing_points_before",
               "failing_points_after", "pass_before", "pass_after", "broken", "broken_by"]
    if not len(points):
        return pd.DataFrame(columns=columns)
    key = points["building_id"]
    g = points.groupby(key, sort=False)
    existing = (g["source"].first() == "existing").to_numpy()
    count = g.size().to_numpy()
    failing_before = (~points["pass_before"].fillna(True).astype(bool)).groupby(
        key, sort=False).sum().to_numpy()
    failing_after = (~points["pass_after"].astype(bool)).groupby(key, sort=False).sum() \
        .to_numpy()

    def passes(failing: np.ndarray) -> np.ndarray:
        return failing == 0 if rules.building_fails_when == "any_point" else failing < count

    pass_before, pass_after = passes(failing_before), passes(failing_after)
    broken = existing & pass_before & ~pass_after
    ids = g["source"].first().index.to_numpy()
    blamed = pd.Series("", index=ids, dtype=object)
    for bid in ids[broken]:
        names = [b for v in points.loc[key == bid, "broken_by"] if v for b in v.split(";")]
        blamed[bid] = ";".join(dict.fromkeys(names))
    out = pd.DataFrame({
        "building_id": ids, "source": g["source"].first().to_numpy(), "points": count,
        "min_hours_before": g["hours_before"].min().to_numpy(),
        "max_hours_before": g["hours_before"].max().to_numpy(),
        "min_hours_after": g["hours_after"].min().to_numpy(),
        "max_hours_after": g["hours_after"].max().to_numpy(),
        "failing_points_before": pd.array(np.where(existing, failing_before, 0), dtype="Int64"),
        "failing_points_after": failing_after.astype(int),
        "pass_before": np.where(existing, pass_before, None).astype(object),
        "pass_after": pass_after, "broken": broken, "broken_by": blamed.to_numpy()})
    out.loc[~existing, "failing_points_before"] = pd.NA
    return out[columns]


def _per_proposal(buildings: pd.DataFrame, proposals: Any | None, allb: Any,
                  n_existing: int, after: np.ndarray, owner: np.ndarray) -> pd.DataFrame:
    """Per proposal: the buildings whose pass it breaks, and its own pass."""
    columns = ["building_id", "height_m", "breaks_buildings", "breaks", "shaded_point_minutes",
               "own_pass"]
    if proposals is None:
        return pd.DataFrame(columns=columns)
    ids = allb["building_id"].astype(str).to_numpy()[n_existing:]
    # who breaks what: one (breaker, broken) pair per name in broken_by
    pairs = buildings[["building_id", "broken_by"]].assign(
        by=buildings["broken_by"].fillna("").astype(str).str.split(";")).explode("by")
    broken = pairs[pairs["by"] != ""].groupby("by", sort=False)["building_id"].agg(list)
    # point-minutes of existing buildings each proposal shades (codes are building indices)
    codes = after[owner < n_existing].ravel()
    codes = codes[(codes >= n_existing) & (codes < n_existing + len(ids))] - n_existing
    shaded = np.bincount(codes, minlength=len(ids))
    own = buildings.drop_duplicates("building_id").set_index("building_id")["pass_after"]
    rows = []
    for k, bid in enumerate(ids):
        names = broken.get(bid, [])
        rows.append({"building_id": bid, "height_m": float(allb["height"].iloc[n_existing + k]),
                     "breaks_buildings": len(names), "breaks": ";".join(names),
                     "shaded_point_minutes": int(shaded[k]),
                     "own_pass": bool(own[bid]) if bid in own.index else None})
    return pd.DataFrame(rows, columns=columns)


def _shadow_maps(territory: Territory, rules: SunlightRules, allb: Any, n_existing: int,
                 lat: float, lon: float, grid_north: float, day: Date,
                 window: tuple[float, float], origin: np.ndarray, before_scene: Scene,
                 after_scene: Scene, replaced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hours in shadow per open ground cell (NaN under footprints or without ground), before
    and after, over the window with the sun up, at the map's time step."""
    from tim.rasterize import rasterize

    sun = sun_path(lat, lon, day, window, rules.shadow_map_step_minutes, grid_north=grid_north)
    ground = territory.get("terrain__elevation")
    xs, ys = territory.grid.cell_centres()
    gx, gy = np.meshgrid(xs, ys)
    maps = []
    for n, scene in ((n_existing, before_scene), (len(allb), after_scene)):
        standing = np.flatnonzero(~replaced[:n]) if n == len(allb) else np.arange(n)
        covered = rasterize(allb.geometry.values[standing], np.ones(len(standing)),
                            territory.grid, "float64", fill=0.0) > 0 if len(standing) \
            else np.zeros(territory.grid.shape, bool)
        open_ground = np.isfinite(ground) & ~covered
        pts = np.column_stack([gx[open_ground] - origin[0], gy[open_ground] - origin[1],
                               ground[open_ground] + 0.01])
        codes = sun_codes(scene, pts, np.zeros((len(pts), 2)), sun.vectors)
        up = sun.vectors[:, 2] > 0
        shade = ((codes != SUNLIT) & (codes != AWAY)).sum(axis=1) * sun.step_minutes / 60
        values = np.full(territory.grid.shape, np.nan)
        values[open_ground] = np.where(up.any(), shade, np.nan)
        maps.append(values)
    return maps[0], maps[1]


def read_run_buildings(run_dir: str | Path) -> Any:
    """A run's new buildings (``buildings_new.gpkg``) as proposals."""
    from scenarios.rundir import RunDirectory

    frame = RunDirectory.open(run_dir).new_buildings()
    if frame is None or not len(frame):
        raise InputError("the run has no new buildings to check", source=run_dir,
                         field="outputs.new_buildings")
    if "height" not in frame or not np.isfinite(frame["height"].to_numpy(float)).all():
        raise InputError("every new building needs a height", source=run_dir, field="height")
    return frame


def write_sunlight(report: SunlightReport, territory: Territory, out: str | Path,
                   command: list[str] | None = None,
                   proposals_file: str | Path | None = None) -> Path:
    """Write the report to the directory ``out`` atomically::

        manifest.json       rules (file, sha256), site, day, window, threshold, counts, files
        points.csv          every sun-facing sample point: hours before/after, pass, broken_by
        buildings.csv       per building: least/most hours, failing points, pass, broken_by
        failing.csv         buildings failing after the proposals, fewest hours first
        proposals.csv       per proposal: the buildings whose pass it breaks
        sunlight.gpkg       layer points (the columns of points.csv), for QGIS
        rasters/sunlight__shadow_hours_before.tif, ..._after.tif   hours in shadow per cell
    """
    import geopandas as gpd

    out = Path(out)
    r = report
    manifest = {
        "kind": "sunlight", "command": command, "crs": str(territory.grid.crs),
        "rules": file_record(r.rules_path, name=r.rules.name),
        "site": r.rules.site.model_dump(), "day": r.sun.day.isoformat(), "day_label": r.day_label,
        "window_true_solar_hours": [float(r.sun.solar_hours[0] - r.sun.step_minutes / 120),
                                    float(r.sun.solar_hours[-1] + r.sun.step_minutes / 120)],
        "step_minutes": r.sun.step_minutes, "threshold_hours": r.threshold_hours,
        "sun_elevation_range_deg": [float(r.sun.elevation.min()), float(r.sun.elevation.max())],
        "building_fails_when": r.rules.building_fails_when, "counts": r.counts,
        # which proposals: what 'twin review --sunlight' checks it reviews the same ones
        "proposals": None if proposals_file is None else file_record(proposals_file),
        "files": ["points.csv", "buildings.csv", "failing.csv", "proposals.csv",
                  "sunlight.gpkg", "rasters/sunlight__shadow_hours_before.tif",
                  "rasters/sunlight__shadow_hours_after.tif"]}
    rasters = {"sunlight__shadow_hours_before": r.shadow_before,
               "sunlight__shadow_hours_after": r.shadow_after}
    with check_folder(out, manifest, territory.grid, rasters) as tmp:
        r.points.to_csv(tmp / "points.csv", index=False, float_format="%.4f")
        r.buildings.to_csv(tmp / "buildings.csv", index=False)
        r.failing.to_csv(tmp / "failing.csv", index=False)
        r.proposals.to_csv(tmp / "proposals.csv", index=False)
        if len(r.points):
            frame = gpd.GeoDataFrame(r.points.astype({"pass_before": str}),
                                     geometry=gpd.points_from_xy(r.points["x"], r.points["y"],
                                                                 r.points["z"]),
                                     crs=territory.grid.crs)
            frame.to_file(tmp / "sunlight.gpkg", layer="points", driver="GPKG",
                          engine="pyogrio")
    return out


#: Where the dashboard looks for a sunlight check of a TIM or a run: ``<TIM_DIR>-sunlight``,
#: ``<RUN_DIR>-sunlight`` (give that as ``--out``).
SUFFIX = "-sunlight"


@dataclass(frozen=True)
class SunlightFolder(CheckFolder):
    """A folder :func:`write_sunlight` wrote, read back (tables as pandas DataFrames)."""

    KIND, WHAT, SUFFIX = "sunlight", "sunlight", SUFFIX
    TABLES = {"points": ("points.csv", "points", {"building_id": str}),
              "buildings": ("buildings.csv", "buildings", {"building_id": str}),
              "failing": ("failing.csv", "failing buildings",
                          {"building_id": str, "broken_by": str})}

    points: pd.DataFrame
    buildings: pd.DataFrame
    failing: pd.DataFrame


def find_sunlight(base: str | Path) -> SunlightFolder | None:
    """The sunlight check written beside a TIM or run folder ``base`` (:data:`SUFFIX`)."""
    return SunlightFolder.beside(base)

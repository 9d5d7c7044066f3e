"""What the 3D view shows, as plain JSON for ``viz/assets/twin3d.js`` (the scene format).

A scene is built on the server from the dashboard's state and sent whole; the browser makes
the viewer match it. No geometry travels except small entities (sightlines, cones, envelope
cells): buildings are restyled by id. Format::

    {"key": str,                                  # "<tab key>:...": the view shows only
                                                  # the shown tab's scenes
     "sides": [side] or [left, right],            # two sides: a swipe comparison
     "entities": {"lines", "points", "polygons", "cells"} or None,
     "camera": {"key", "lon", "lat", "height", "heading", "pitch"} or None}
    side = {"label": str,
            "drape": {"url", "rectangle": [w, s, e, n]} or None,
            "buildings": style,                    # the base buildings
            "overlays": [{"url": tileset, "style": style}]}   # e.g. a run's new buildings
    style = {"mode": "height"|"use"|"flood"|"plain"|"heights"|"new", "hide": [id, ...], ...}

Heights here are what the tiles place (the TIM's heights + the tiles' geoid height).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios.publish import PROJECT_USES
from viz.figures import (BUILDING_FLOOD_RAMP, DRY_COLOUR, FLOOD_RAMP, HEIGHT_RAMP, Memo,
                         ramp_colours, ramp_gradient, use_colours)
from viz.maps import HEIGHT_LIMIT_RAMP

if TYPE_CHECKING:
    from scenarios.rundir import RunDirectory
    from viz.app import Dashboard
    from viz.sources import Corridor, HeightCheck, SightlineSet

#: Building uses given a colour when the TIM's buildings cannot be read.
DEFAULT_USES = ("residential", "commercial", "industrial")
OTHER_USE = "#bdbdbd"
#: Buildings in views where their own colour does not matter (comparison, ensemble).
PLAIN_COLOUR = "#eceff1"
#: New buildings by project kind: warm, so they stand out of the cool height ramp.
NEW_COLOURS = {PROJECT_USES["new"]: "#ff6f00", PROJECT_USES["redevelopment"]: "#c2185b"}
#: Height check: compliant buildings, violators by excess (yellow to purple), blockers.
COMPLIANT_COLOUR = "#e3e7ea"
VIOLATION_RAMP = ((0.0, "#fff176"), (0.4, "#ffa726"), (1.0, "#7b1fa2"))
BLOCKER_COLOUR = "#e01e1e"
SIGHTLINE_FREE = "#2e7d32"
SIGHTLINE_BLOCKED = "#e01e1e"
CONE_COLOUR = "#1e88e5"
#: Envelope cells shown in 3D at most (a real corridor on a 1 m grid has many more).
MAX_ENVELOPE_CELLS = 6000


# -- base building styles --------------------------------------------------------------------
def height_style(board: Dashboard) -> dict[str, Any]:
    """Buildings on a ramp over the TIM's height range."""
    lo, hi = board.building_heights or (0.0, 60.0)
    return {"mode": "height", "ramp": HEIGHT_RAMP, "gradient": ramp_gradient(HEIGHT_RAMP),
            "min": lo, "max": hi}


def use_style(board: Dashboard) -> dict[str, Any]:
    """A colour per building use."""
    uses = board.building_uses or DEFAULT_USES
    return {"mode": "use", "colours": {**use_colours(uses), "other": OTHER_USE},
            "other": OTHER_USE}


def flood_style(run: RunDirectory) -> dict[str, Any] | None:
    """Flooded buildings (the run's ``buildings.csv``) on a warm ramp of their depth; None when
    the run has no per-building flood depths."""
    buildings = run.buildings()
    if buildings is None or run.surge_year is None or "surge_depth_m" not in buildings:
        return None
    depth = buildings["surge_depth_m"].to_numpy(dtype=float)
    wet = np.isfinite(depth) & (depth > 0)
    top = float(depth[wet].max()) if wet.any() else 1.0
    return {"mode": "flood", "ramp": BUILDING_FLOOD_RAMP,
            "gradient": ramp_gradient(BUILDING_FLOOD_RAMP), "dry": DRY_COLOUR,
            "water": ramp_gradient(FLOOD_RAMP), "max": top, "year": run.surge_year,
            "depth": dict(zip(buildings["building_id"].astype(str)[wet],
                              np.round(depth[wet], 2).tolist())),
            "flooded": int(wet.sum()), "total": int(len(buildings))}


def plain_style() -> dict[str, Any]:
    return {"mode": "plain", "plain": PLAIN_COLOUR}


def building_style(board: Dashboard, run: RunDirectory, mode: Any) -> dict[str, Any]:
    """The base buildings' style for a colour mode (``flood`` falls back to ``height`` for a
    run without flood depths)."""
    if mode == "flood":
        style = flood_style(run)
        if style is not None:
            return style
    return use_style(board) if mode == "use" else height_style(board)


# -- new buildings ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Development:
    """What a run's developers have built by a year.

    ``standing``: id -> use of every new building standing (a later project on the same site
    replaces an earlier one); ``replaced``: ids of the base buildings redevelopments replaced.
    """

    year: int
    standing: dict[str, str]
    replaced: tuple[str, ...]
    built: int  # projects up to the year, superseded ones included
    total: int  # projects over the whole run

    @property
    def redevelopments(self) -> int:
        return sum(use == PROJECT_USES["redevelopment"] for use in self.standing.values())


#: The runs' new buildings by (file, modification time): read once, not once per year shown.
_NEW_BUILDINGS = Memo(16)


def new_buildings(run: RunDirectory) -> Any:
    """``run.new_buildings()``, read again only when the file changed (a run rewritten while
    the server runs)."""
    try:
        path = run.path / run.manifest["outputs"]["new_buildings"]
        stamp = path.stat().st_mtime_ns
    except (AttributeError, KeyError, OSError):  # no such file (or no folder): ask the run
        return run.new_buildings()
    return _NEW_BUILDINGS.get((str(path), stamp), run.new_buildings)


def development(run: RunDirectory, year: int) -> Development | None:
    """The run's new buildings standing in ``year`` and the base buildings gone by then."""
    frame = new_buildings(run)
    if frame is None or len(frame) == 0:
        return None
    built = frame[frame["year"].to_numpy() <= int(year)]
    # A site is a footprint centre (to the centimetre): the latest project on it stands.
    centre = built.geometry.centroid
    site = list(zip(np.round(centre.x.to_numpy(), 2), np.round(centre.y.to_numpy(), 2)))
    latest: dict[tuple[float, float], int] = {}
    for i, (key, y) in enumerate(zip(site, built["year"].to_numpy())):
        if key not in latest or y >= built["year"].iloc[latest[key]]:
            latest[key] = i
    rows = built.iloc[sorted(latest.values())]
    uses = rows["kind"].map(PROJECT_USES).fillna(PROJECT_USES["new"])
    standing = dict(zip(rows["building_id"].astype(str), uses))
    replaced = sorted({bid for text in built["replaces"].fillna("").astype(str)
                       for bid in text.split() if bid})
    return Development(int(year), standing, tuple(replaced), len(built), len(frame))


def new_buildings_overlay(board: Dashboard, run: RunDirectory, state: Development | None
                          ) -> list[dict[str, Any]]:
    """The overlay entry showing the run's standing new buildings (none if not published)."""
    url = board.new_buildings_tileset(run)
    if url is None or state is None:
        return []
    from viz.cesium import TILES_ROUTE

    return [{"url": TILES_ROUTE + url,
             "style": {"mode": "new", "visible": state.standing, "colours": NEW_COLOURS,
                       "other": NEW_COLOURS[PROJECT_USES["new"]]}}]


# -- height checks and corridors -------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def heights_style(check: HeightCheck, lines: SightlineSet | None) -> dict[str, Any]:
    """Violators on a ramp of their excess (with their rule), blockers of the corridor's
    sightlines in red, every other building pale."""
    rules: list[str] = []
    violators: dict[str, list[float]] = {}
    # From violations.csv, as the panel's count and the table: one source, one number.
    for row in check.violations.itertuples():
        rule = str(row.rule) if isinstance(row.rule, str) else ""
        if rule not in rules:
            rules.append(rule)
        violators[str(row.building_id)] = [round(float(row.excess_m), 3), rules.index(rule)]
    blockers = ({} if lines is None else
                {str(k): float(v.get("lower_by_m", 0.0)) for k, v in lines.buildings.items()})
    top = max((v[0] for v in violators.values()), default=1.0)
    return {"mode": "heights", "violators": violators, "rules": rules, "max": top,
            "blockers": blockers, "ramp": VIOLATION_RAMP,
            "gradient": ramp_gradient(VIOLATION_RAMP), "ok": COMPLIANT_COLOUR,
            "blocker": BLOCKER_COLOUR, "count": len(violators),
            "total": len(check.buildings)}


def _to_crs(crs: str):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def corridor_frame(corridor: Corridor, crs: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Viewpoint (x, y), unit axis to the landmark and its length, in the CRS."""
    to_crs = _to_crs(crs)
    v = np.array(to_crs.transform(*corridor.viewpoint[:2]))
    landmark = np.array(to_crs.transform(*corridor.landmark[:2]))
    length = float(np.hypot(*(landmark - v)))
    return v, (landmark - v) / length, length


def plane_z(corridor: Corridor, crs: str, lonlat: np.ndarray, top: float) -> np.ndarray:
    """Height of the corridor's envelope plane (eye to ``top`` at the landmark) at points."""
    to_crs = _to_crs(crs)
    v, axis, length = corridor_frame(corridor, crs)
    x, y = to_crs.transform(lonlat[:, 0], lonlat[:, 1])
    s = (np.asarray(x) - v[0]) * axis[0] + (np.asarray(y) - v[1]) * axis[1]
    return corridor.eye_z + (top - corridor.eye_z) * s / length


def _flat(positions: np.ndarray) -> list[float]:
    return [round(float(v), 8) for v in positions.reshape(-1)]


def envelope_cells(check: HeightCheck, corridor: Corridor, geoid: float
                   ) -> dict[str, Any] | None:
    """The corridor's envelope as coloured cells floating at its absolute height: each cell of
    ``planning__view_envelope`` inside this corridor, at the plane's height over its centre,
    coloured by how much may be built there (m above the ground)."""
    import shapely
    from pyproj import Transformer

    try:
        envelope, grid = check.raster("planning__view_envelope")
    except Exception:  # noqa: BLE001 - a check without corridors has no envelope raster
        return None
    to_crs = _to_crs(check.crs)
    rings = [corridor.foreground] + ([corridor.background] if corridor.background else [])
    polygons = [shapely.Polygon(np.column_stack(to_crs.transform(*np.array(r).T)))
                for r in rings]
    xs, ys = grid.cell_centres()
    gx, gy = np.meshgrid(xs, ys)
    inside = np.isfinite(envelope) & shapely.contains_xy(shapely.union_all(polygons), gx, gy)
    rows, cols = np.nonzero(inside)
    if rows.size == 0:
        return None
    step = max(1, math.ceil(math.sqrt(rows.size / MAX_ENVELOPE_CELLS)))
    keep = (rows % step == 0) & (cols % step == 0)
    rows, cols = rows[keep], cols[keep]
    a, _, c, _, e, f = grid.transform
    x0, x1 = c + cols * a, c + (cols + step) * a
    y0, y1 = f + rows * e, f + (rows + step) * e
    to_wgs = Transformer.from_crs(check.crs, "EPSG:4326", always_xy=True)
    west, north = to_wgs.transform(np.minimum(x0, x1), np.maximum(y0, y1))
    east, south = to_wgs.transform(np.maximum(x0, x1), np.minimum(y0, y1))
    above = envelope[rows, cols].astype(float)
    v, axis, length = corridor_frame(corridor, check.crs)
    s = (gx[rows, cols] - v[0]) * axis[0] + (gy[rows, cols] - v[1]) * axis[1]
    top = np.where(s <= length, corridor.threshold_z,
                   corridor.landmark_top_z if corridor.landmark_top_z is not None
                   else corridor.threshold_z)
    z = corridor.eye_z + (top - corridor.eye_z) * s / length + geoid
    vmax = float(np.nanmax(above)) if np.isfinite(above).any() else 1.0
    colours = ramp_colours(np.clip(above, 0, None) / max(vmax, 1e-9), HEIGHT_LIMIT_RAMP)
    hexes = ["#%02x%02x%02x" % tuple(rgb) for rgb in colours]
    rects = np.column_stack([west, south, east, north, z]).round(8).tolist()
    return {"rects": rects, "colours": hexes, "alpha": 0.55, "max": vmax,
            "below_ground": int((above < 0).sum())}


@functools.lru_cache(maxsize=16)
def corridor_entities(check: HeightCheck, corridor: Corridor, lines: SightlineSet | None,
                      geoid: float) -> dict[str, Any]:
    """The corridor in 3D: cone (wedge and background at the envelope's height), axis,
    viewpoint and landmark, the sightlines (green free, red blocked), blockers, envelope."""
    polygons, out_lines, points = [], [], []
    fore = np.array(corridor.foreground[:-1] if corridor.foreground[0] == corridor.foreground[-1]
                    else corridor.foreground)
    z = plane_z(corridor, check.crs, fore, corridor.threshold_z) + geoid
    polygons.append({"name": f"{corridor.name}: view cone", "colour": CONE_COLOUR,
                     "alpha": 0.12, "positions": _flat(np.column_stack([fore, z]))})
    if corridor.background and corridor.landmark_top_z is not None:
        back = np.array(corridor.background[:-1])
        zb = plane_z(corridor, check.crs, back, corridor.landmark_top_z) + geoid
        polygons.append({"name": f"{corridor.name}: background", "colour": CONE_COLOUR,
                         "alpha": 0.08, "positions": _flat(np.column_stack([back, zb]))})
    vp, lm = corridor.viewpoint, corridor.landmark
    out_lines.append({"name": "corridor axis", "colour": CONE_COLOUR, "width": 1.5,
                      "dashed": True, "positions": [vp[0], vp[1], corridor.eye_z + geoid,
                                                    lm[0], lm[1], corridor.threshold_z + geoid]})
    points.append({"name": "viewpoint", "label": "Viewpoint", "colour": CONE_COLOUR,
                   "position": [vp[0], vp[1], corridor.eye_z + geoid]})
    top = corridor.landmark_top_z if corridor.landmark_top_z is not None \
        else corridor.threshold_z
    points.append({"name": "landmark", "label": "Landmark", "colour": "#6a1b9a",
                   "position": [lm[0], lm[1], top + geoid]})
    if lines is not None:
        for feature in lines.geojson.get("features", []):
            props, coords = feature["properties"], feature["geometry"]["coordinates"]
            if props.get("kind") == "sightline":
                free = bool(props.get("visible"))
                out_lines.append({"name": f"sightline {props.get('sightline')}", "width": 1.5,
                                  "colour": SIGHTLINE_FREE if free else SIGHTLINE_BLOCKED,
                                  "positions": [c + (geoid if k % 3 == 2 else 0.0)
                                                for xyz in coords
                                                for k, c in enumerate(xyz)]})
            elif props.get("kind") == "blocker":
                name = str(props.get("building_id"))
                terrain = name == "terrain"
                # Unlabelled: the blocking buildings are red and listed beside the view.
                points.append({"name": f"blocker {name}", "size": 6 if terrain else 8,
                               "colour": "#8d6e63" if terrain else BLOCKER_COLOUR,
                               "label": None,
                               "position": [coords[0], coords[1], coords[2] + geoid]})
    return {"polygons": polygons, "lines": out_lines, "points": points,
            "cells": envelope_cells(check, corridor, geoid)}


def corridor_camera(check: HeightCheck, corridor: Corridor, geoid: float) -> dict[str, Any]:
    """An oblique view across the corridor, the viewpoint on the left and the landmark on the
    right, centred towards the landmark where the town (and what blocks the view) is; the
    cone, the sightlines and the envelope then slope across the picture."""
    _, axis, length = corridor_frame(corridor, check.crs)
    bearing = math.degrees(math.atan2(axis[0], axis[1])) % 360
    f = 0.85  # the centre's place along the axis
    lon = corridor.viewpoint[0] + f * (corridor.landmark[0] - corridor.viewpoint[0])
    lat = corridor.viewpoint[1] + f * (corridor.landmark[1] - corridor.viewpoint[1])
    height = corridor.eye_z + f * (corridor.threshold_z - corridor.eye_z) + geoid
    return {"key": f"corridor:{check.path.name}:{corridor.name}",
            "center": [lon, lat, height], "radius": 0.15 * length, "heading": (bearing - 75.0) % 360, "pitch": -22.0,
            "range": 0.4 * length}

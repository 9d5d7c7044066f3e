"""One map (一张图): planning units, control lines, zoning and amenities of the TIM on the 2D
maps and in 3D, and "what is here" for a clicked point.

The layers are read once from the TIM's vector file (``vectors.gpkg``, as its manifest names
them) - the dashboard reads files, it computes nothing with the engine. Styles follow what
Chinese planners expect: the ecological protection red line (生态保护红线) red, permanent basic
farmland (永久基本农田) yellow with a brown hatch, the urban development boundary (城镇开发边界)
dashed purple, planning units (规划单元) thin grey, zones teal and dotted.

Each layer keeps the security level its manifest gives it; a :class:`OneMap` shows a layer only
to a request whose user is cleared for it (:func:`viz.server.visible`), so the 2D overlays, the
3D lines, "what is here" and the layer toggles all leave out what the user may not see, and the
map says that some layers are hidden.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from tim.classes import CONTROL_LINES, localized
from tim.errors import StoreError
from tim.styles import AMENITY_COLOURS, LINE_STYLES, UNIT_COLOUR, ZONE_COLOUR
from viz.i18n import ui

log = logging.getLogger(__name__)

#: Toggleable layers, in drawing order (the first is drawn lowest).
LAYERS = ("units", "zoning", "control_lines", "amenities")
#: Layers shown when a page opens.
DEFAULT_LAYERS = ("units", "control_lines")
SELECTED_COLOUR = "#00b8d4"
AMENITY_SYMBOLS = {kind: (symbol, AMENITY_COLOURS[kind]) for kind, symbol in
                   (("school", "triangle-up"), ("park", "circle"), ("hospital", "cross"),
                    ("clinic", "cross"), ("garden", "circle"), ("bus_stop", "square"))}


@dataclass(frozen=True)
class Feature:
    """One polygon feature: its attributes, its rings (CRS metres) and its shapely shape."""

    attrs: Mapping[str, Any]
    rings: tuple[np.ndarray, ...]
    shape: Any


#: The manifest's name of each one-map layer (its key in the manifest's ``security`` map).
MANIFEST_LAYERS = {"units": "planning_units", "zoning": "zoning",
                   "control_lines": "control_lines", "amenities": "amenities"}


@dataclass(frozen=True)
class OneMap:
    """The TIM's planning layers, ready to draw and query. Missing layers are empty.

    ``everything`` holds every layer read; ``levels`` their security levels. The layer
    attributes (``units``, ``zoning``, ``control_lines``, ``amenities``) give a layer only when
    the current request's user is cleared for it (:func:`viz.server.current_clearance`).
    """

    crs: str
    everything: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    levels: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = field(default=())

    def layer(self, name: str, clearance: str | None = None) -> tuple[Any, ...]:
        """Layer ``name``'s features if ``clearance`` (default: the request's) may see it."""
        from viz.server import current_clearance, visible

        features = self.everything.get(name, ())
        if not features:
            return ()
        allowed = visible(self.levels.get(name, "restricted"),
                          current_clearance() if clearance is None else clearance)
        return features if allowed else ()

    @property
    def units(self) -> tuple[Feature, ...]:
        return self.layer("units")

    @property
    def zoning(self) -> tuple[Feature, ...]:
        return self.layer("zoning")

    @property
    def control_lines(self) -> tuple[Feature, ...]:
        return self.layer("control_lines")

    @property
    def amenities(self) -> tuple[Mapping[str, Any], ...]:  # kind, name, x, y
        return self.layer("amenities")

    @property
    def available(self) -> tuple[str, ...]:
        """The layers that have features the request may see, in :data:`LAYERS` order."""
        return tuple(name for name in LAYERS if getattr(self, name))

    @property
    def hidden(self) -> tuple[str, ...]:
        """The layers that have features the request's clearance hides."""
        return tuple(name for name in LAYERS
                     if self.everything.get(name) and not getattr(self, name))

    def unit(self, unit_id: Any) -> Feature | None:
        return next((u for u in self.units if str(u.attrs.get("unit_id")) == str(unit_id)),
                    None)

    def area(self, area: Any) -> tuple[Feature, ...]:
        """The units of an area as the dashboard names it: ``unit:<id>`` (that unit),
        ``district:<id>`` (the district's units), anything else none."""
        level, _, key = str(area or "").partition(":")
        if level == "unit":
            return tuple(u for u in self.units if str(u.attrs.get("unit_id")) == key)
        if level == "district":
            # The roll-up names districts by id or by (bilingual) name.
            names = {key, localized(key, "en"), localized(key, "zh_CN")}
            return tuple(u for u in self.units
                         if str(u.attrs.get("district_id")) in names
                         or str(u.attrs.get("district")) in names)
        return ()

    def at(self, x: float, y: float) -> dict[str, Any]:
        """The unit, zone and control lines at a point (CRS metres)."""
        from shapely.geometry import Point

        point = Point(x, y)
        hit = {"unit": next((u.attrs for u in self.units if u.shape.covers(point)), None),
               "zone": next((z.attrs for z in self.zoning if z.shape.covers(point)), None),
               "lines": [c.attrs for c in self.control_lines if c.shape.covers(point)]}
        return hit


def _rings(geometry: Any) -> tuple[np.ndarray, ...]:
    polygons = getattr(geometry, "geoms", [geometry])
    out = []
    for polygon in polygons:
        out.append(np.asarray(polygon.exterior.coords))
        out.extend(np.asarray(r.coords) for r in polygon.interiors)
    return tuple(out)


def load_onemap(tim_dir: str | Path | None) -> OneMap:
    """The planning layers of the TIM at ``tim_dir`` (an empty :class:`OneMap` when it
    cannot be read: the page then says the layers are missing, it does not fail)."""
    if tim_dir is None:
        return OneMap(crs="", problems=("the runs do not record their TIM",))
    from tim.store import read_manifest

    try:
        manifest = read_manifest(tim_dir)
    except (StoreError, OSError) as exc:
        return OneMap(crs="", problems=(str(exc),))
    from tim.store import read_layers

    layers = manifest.get("layers", {})
    read: dict[str, Any] = {}
    problems = []
    for name in ("planning_units", "zoning", "control_lines", "amenities"):
        meta = layers.get(name)
        if meta is None:
            continue
        try:  # from the TIM's GeoPackage or its PostGIS store, hash-checked
            read[name] = read_layers(tim_dir, manifest, [name])[name]
        except (StoreError, OSError, RuntimeError, KeyError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    crs = str(manifest.get("crs", ""))
    from tim.store import DEFAULT_LEVEL

    security = manifest.get("security") or {}
    levels = {}
    for name, stored in MANIFEST_LAYERS.items():
        entry = security.get(stored) if isinstance(security, dict) else None
        levels[name] = str(entry.get("level", DEFAULT_LEVEL)) if isinstance(entry, dict) \
            else DEFAULT_LEVEL

    def features(frame: Any) -> tuple[Feature, ...]:
        if frame is None:
            return ()
        columns = [c for c in frame.columns if c != "geometry"]
        return tuple(Feature({c: _plain(row[c]) for c in columns}, _rings(row.geometry),
                             row.geometry)
                     for _, row in frame.iterrows() if row.geometry is not None)

    amenities = read.get("amenities")
    points = () if amenities is None else tuple(
        {"kind": str(r.get("kind", "")), "name": str(r.get("name", "")),
         "x": float(r.geometry.x), "y": float(r.geometry.y)}
        for _, r in amenities.iterrows() if r.geometry is not None)
    everything = {"units": features(read.get("planning_units")),
                  "zoning": features(read.get("zoning")),
                  "control_lines": features(read.get("control_lines")), "amenities": points}
    return OneMap(crs=crs, everything=everything, levels=levels, problems=tuple(problems))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _xy_km(rings: Iterable[np.ndarray]) -> tuple[list[float | None], list[float | None]]:
    """Rings as one plotly line (km), rings separated by None."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in rings:
        xs.extend((ring[:, 0] / 1000.0).round(4).tolist())
        ys.extend((ring[:, 1] / 1000.0).round(4).tolist())
        xs.append(None)
        ys.append(None)
    return xs, ys


def line_name(kind: str, lang: str) -> str:
    """A control line's national name in ``lang`` (the kind itself when unknown)."""
    names = CONTROL_LINES.get(kind)
    if names is None:
        return kind
    return names[0] if lang.startswith("zh") else names[1]


def zone_words(zone: Mapping[str, Any]) -> str:
    """A zone with its caps: "R2 (residential) · FAR ≤ 2.5 · height ≤ 60 m"."""
    t = ui()
    parts = [str(zone.get("zone", zone.get("zone_id", "")))]
    if zone.get("use"):
        from viz.cesium import use_name

        parts[0] += f" ({use_name(str(zone['use']), t)})"
    if zone.get("max_far") is not None and np.isfinite(float(zone["max_far"])):
        parts.append(t.gettext("FAR \u2264 {value}", value=t.number(float(zone["max_far"]), 1)))
    if zone.get("max_height") is not None and np.isfinite(float(zone["max_height"])):
        parts.append(t.gettext("height \u2264 {value} m",
                               value=t.number(float(zone["max_height"]))))
    return " \u00b7 ".join(parts)


def overlay_traces(onemap: OneMap, shown: Sequence[str] | None,
                   selected_unit: Any = None) -> list[go.Scatter]:
    """Plotly traces of the shown layers (km axes, as :func:`viz.figures.map_layout`), and the
    outline of the selected unit on top."""
    t = ui()
    shown = set(shown or ())
    traces: list[go.Scatter] = []
    if "units" in shown:
        for u in onemap.units:
            xs, ys = _xy_km(u.rings)
            name = localized(str(u.attrs.get("name", u.attrs.get("unit_id"))), t.lang)
            traces.append(go.Scatter(
                x=xs, y=ys, mode="lines", line=dict(color=UNIT_COLOUR, width=0.8),
                name=t.gettext("Planning units"), legendgroup="units",
                showlegend=u is onemap.units[0], hoverinfo="text",
                text=t.gettext("Planning unit") + f": {name}", meta="layer:units"))
    if "zoning" in shown:
        for z in onemap.zoning:
            xs, ys = _xy_km(z.rings)
            traces.append(go.Scatter(
                x=xs, y=ys, mode="lines", line=dict(color=ZONE_COLOUR, width=1.2, dash="dot"),
                name=t.gettext("Zoning"), legendgroup="zoning",
                showlegend=z is onemap.zoning[0], hoverinfo="text",
                text=t.gettext("Zone") + ": " + zone_words(z.attrs), meta="layer:zoning"))
    if "control_lines" in shown:
        seen: set[str] = set()
        for c in onemap.control_lines:
            kind = str(c.attrs.get("kind", ""))
            style = LINE_STYLES.get(kind, {"colour": "#000000", "fill": None,
                                           "dash": "solid", "width": 1.5})
            xs, ys = _xy_km(c.rings)
            extra: dict[str, Any] = {}
            if style.get("fill"):
                extra["fill"] = "toself"
                extra["fillcolor"] = style["fill"]
            if style.get("hatch"):
                extra["fillpattern"] = dict(shape=style["hatch"], fgcolor=style["colour"],
                                            bgcolor=style["fill"], size=8, solidity=0.25)
            traces.append(go.Scatter(
                x=xs, y=ys, mode="lines",
                line=dict(color=style["colour"], width=style["width"], dash=style["dash"]),
                name=line_name(kind, t.lang), legendgroup=kind, showlegend=kind not in seen,
                hoverinfo="text", text=line_name(kind, t.lang), meta=f"layer:{kind}",
                **extra))
            seen.add(kind)
    if "amenities" in shown and onemap.amenities:
        kinds: dict[str, list[Mapping[str, Any]]] = {}
        for a in onemap.amenities:
            kinds.setdefault(a["kind"], []).append(a)
        for kind, points in kinds.items():
            symbol, colour = AMENITY_SYMBOLS.get(kind, ("diamond", "#6d4c41"))
            traces.append(go.Scatter(
                x=[p["x"] / 1000.0 for p in points], y=[p["y"] / 1000.0 for p in points],
                mode="markers", marker=dict(symbol=symbol, size=9, color=colour,
                                            line=dict(color="#ffffff", width=1)),
                name=amenity_name(kind), hoverinfo="text",
                text=[f"{amenity_name(kind)}: {p['name']}" for p in points],
                meta="layer:amenities"))
    chosen = onemap.area(selected_unit)
    if chosen:
        xs, ys = _xy_km([r for unit in chosen for r in unit.rings])
        traces.append(go.Scatter(x=xs, y=ys, mode="lines",
                                 line=dict(color=SELECTED_COLOUR, width=4),
                                 name=t.gettext("Chosen area"), hoverinfo="skip",
                                 meta="selected-unit"))
    return traces


def hidden_note() -> str:
    """The map's words when the user's clearance hides some layers (page language)."""
    return ui().gettext("Some layers are hidden for your clearance.")


def amenity_name(kind: str) -> str:
    t = ui()
    names = {"school": t.gettext("School"), "park": t.gettext("Park"),
             "hospital": t.gettext("Hospital"), "clinic": t.gettext("Clinic"),
             "garden": t.gettext("Garden"), "bus_stop": t.gettext("Bus stop"),
             "transit": t.gettext("Transit stop"), "centre": t.gettext("Community centre")}
    return names.get(kind, kind)


def unit_range(onemap: OneMap, unit_id: Any, margin: float = 0.25
               ) -> tuple[list[float], list[float]] | None:
    """x and y axis ranges (km) that frame the area's units with a margin, or None."""
    chosen = onemap.area(unit_id)
    if not chosen:
        return None
    bounds = np.array([u.shape.bounds for u in chosen])
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    pad = margin * max(x1 - x0, y1 - y0)
    return ([(x0 - pad) / 1000.0, (x1 + pad) / 1000.0],
            [(y0 - pad) / 1000.0, (y1 + pad) / 1000.0])


@functools.lru_cache(maxsize=16)
def transformer(source: str, target: str) -> Any:
    """A pyproj transformer from ``source`` to ``target`` (x / longitude first), made once per
    pair: a run's 3D scenes (one per year) and every 3D click need the same one."""
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def area_camera(onemap: OneMap, area: Any, heights: Any = None) -> dict[str, Any]:
    """The 3D camera for ``area``: an oblique view from the south over its units (WGS 84,
    the ground's height at the centre from ``heights(x, y)`` when known), or the home view of
    the whole territory when ``area`` names no units."""
    chosen = onemap.area(area)
    if not chosen or not onemap.crs:
        return {"key": "home", "home": True}
    bounds = np.array([u.shape.bounds for u in chosen])
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    radius = max(0.5 * math.hypot(x1 - x0, y1 - y0), 50.0)
    z = float(heights(np.array([cx]), np.array([cy]))[0]) if heights is not None else 0.0
    lon, lat = transformer(onemap.crs, "EPSG:4326").transform(cx, cy)
    return {"key": f"area:{area}", "center": [float(lon), float(lat), z], "radius": radius,
            "heading": 0.0, "pitch": -45.0, "range": 2.4 * radius}


def add_overlays(fig: go.Figure, onemap: OneMap, shown: Sequence[str] | None,
                 selected_unit: Any = None) -> go.Figure:
    """``fig`` with the layers drawn over it and, for a selected unit, zoomed to it."""
    for trace in overlay_traces(onemap, shown, selected_unit):
        fig.add_trace(trace)
    if onemap.hidden:
        fig.add_annotation(text=hidden_note(), xref="paper", yref="paper", x=0.0, y=1.0,
                           xanchor="left", yanchor="bottom", showarrow=False,
                           font=dict(size=11, color="#6d4c41"), name="clearance-note")
    frame = unit_range(onemap, selected_unit) if selected_unit is not None else None
    if frame is not None:
        fig.update_xaxes(range=frame[0], autorange=False)
        fig.update_yaxes(range=frame[1], autorange=False)
        # A new selection is a new view: the user's earlier zoom gives way to the unit.
        fig.update_layout(uirevision=f"unit:{selected_unit}")
    return fig


def _densify(ring: np.ndarray, step: float) -> np.ndarray:
    """``ring`` with points every ``step`` metres along its edges (so lines follow the ground)."""
    out = [ring[:1]]
    for p, q in zip(ring[:-1], ring[1:]):
        n = max(1, int(np.ceil(np.hypot(*(q - p)[:2]) / step)))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        out.append(p[None, :2] + t * (q - p)[None, :2])
    return np.vstack([o[:, :2] for o in out])


def ground_heights(elevation: np.ndarray, grid: Any, lift: float) -> Any:
    """A function giving the ground's height (nearest cell, + ``lift``) at CRS points."""
    a, _b, c, _d, e, f = grid.transform[:6]
    rows_n, cols_n = elevation.shape

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        col = np.clip(((x - c) / a).astype(int), 0, cols_n - 1)
        row = np.clip(((y - f) / e).astype(int), 0, rows_n - 1)
        z = elevation[row, col].astype(float)
        return np.where(np.isfinite(z), z, 0.0) + lift

    return at


def entities(onemap: OneMap, shown: Sequence[str] | None, selected_unit: Any = None,
             heights: Any = None) -> dict[str, Any] | None:
    """The shown lines as 3D entities (WGS 84): at ``heights(x, y)`` (the ground's height plus
    a lift, from the TIM's terrain), or clamped to the ground when the terrain is unknown.

    Lines at known heights cost the renderer nothing; clamped lines are drawn by classifying
    the terrain and the tiles each frame, slow in software WebGL.
    """
    shown = set(shown or ())
    if not onemap.crs or not (shown or onemap.area(selected_unit)):
        return None
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(onemap.crs, "EPSG:4326", always_xy=True)
    t = ui()
    lines: list[dict[str, Any]] = []

    def add(rings: Sequence[np.ndarray], name: str, colour: str, width: float,
            dashed: bool = False) -> None:
        for ring in rings:
            if heights is not None:
                ring = _densify(np.asarray(ring, dtype=float), 80.0)
                z = heights(ring[:, 0], ring[:, 1])
            else:
                z = np.zeros(len(ring))
            lon, lat = to_wgs.transform(ring[:, 0], ring[:, 1])
            lines.append({"name": name, "colour": colour, "width": width, "dashed": dashed,
                          "clamp": heights is None,
                          "positions": [round(float(v), 6) if k % 3 < 2 else round(float(v), 1)
                                        for k, v in enumerate(
                                            v for p in zip(lon, lat, z) for v in p)]})

    if "units" in shown:
        for u in onemap.units:
            add(u.rings, localized(str(u.attrs.get("name", "")), t.lang), UNIT_COLOUR, 1.5)
    if "zoning" in shown:
        for z in onemap.zoning:
            add(z.rings, zone_words(z.attrs), ZONE_COLOUR, 2, dashed=True)
    if "control_lines" in shown:
        for c in onemap.control_lines:
            kind = str(c.attrs.get("kind", ""))
            style = LINE_STYLES.get(kind, {"colour": "#000000", "width": 2, "dash": "solid"})
            add(c.rings, line_name(kind, t.lang), style["colour"], style["width"] + 1,
                dashed=style["dash"] == "dash")
    for unit in onemap.area(selected_unit):
        add(unit.rings, localized(str(unit.attrs.get("name", "")), t.lang), SELECTED_COLOUR, 5)
    points = []
    if "amenities" in shown and onemap.amenities:
        xs = np.array([a["x"] for a in onemap.amenities])
        ys = np.array([a["y"] for a in onemap.amenities])
        lon, lat = to_wgs.transform(xs, ys)
        zs = heights(xs, ys) if heights is not None else np.zeros(len(xs))
        for a, lo, la, z in zip(onemap.amenities, lon, lat, zs):
            points.append({"name": a["name"], "position": [float(lo), float(la), float(z)],
                           "colour": AMENITY_SYMBOLS.get(a["kind"], ("", "#6d4c41"))[1],
                           "size": 8, "clamp": heights is None})
    if not lines and not points:
        return None
    return {"lines": lines, "points": points, "polygons": []}

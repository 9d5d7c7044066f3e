"""Facility access and towers against the ridgeline, as panels of the Heights & views tab.

Read from the folders beside the TIM the runs were made from (``<TIM_DIR>-access`` of
:func:`scenarios.planning.facility_access.write_access`, ``<TIM_DIR>-ridgeline`` of
:func:`scenarios.planning.ridgeline.write_ridgeline`; ``twin demo --city hongkong`` writes
both), never computed here. Access is shown two ways side by side: a straight line (an upper
bound) and along the roads layer (main and secondary roads only: a lower bound).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import dash_table, html

from viz.figures import km_axes
from viz.i18n import ui
from viz.layout import graph, panel
from viz.maps import marker_traces, raster_figure

if TYPE_CHECKING:
    from viz.app import Dashboard


def _(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


KIND_LABELS = {"kindergarten": _("Kindergarten"), "primary_school": _("Primary school"),
               "secondary_school": _("Secondary school"), "clinic": _("Clinic"),
               "park": _("Park"), "elderly_centre": _("Elderly centre"),
               "mtr_station": _("MTR station")}
#: Cells by how many kinds are out of reach: none (green) to all (dark red).
GAPS_RAMP = ((0.0, "#1b9e77"), (0.3, "#fee08b"), (0.7, "#f46d43"), (1.0, "#7f0000"))
BREAKS, BELOW, HIDDEN = "#d32f2f", "#43a047", "#9e9e9e"
#: Rows per page of the constituency-area table.
PAGE_SIZE = 15


def tim_folder(board: Dashboard) -> Path | None:
    """The TIM the runs were made from (its ``-access``/``-ridgeline`` siblings)."""
    tims = board.provenance.tims if board.provenance is not None else ()
    return Path(tims[0]) if tims else None


def found(board: Dashboard) -> tuple[Any, Any]:
    """The access and ridgeline folders beside the TIM (None where there is none)."""
    from scenarios.planning.facility_access import find_access
    from scenarios.planning.ridgeline import find_ridgeline

    base = tim_folder(board)
    if base is None:
        return None, None
    return find_access(base), find_ridgeline(base)


def available(board: Dashboard) -> bool:
    return any(f is not None for f in found(board))


def panels(board: Dashboard) -> list[Any]:
    """A panel for each folder found."""
    access, ridgeline = found(board)
    out = []
    if access is not None:
        out.append(access_panel(access))
    if ridgeline is not None:
        out.append(ridgeline_panel(ridgeline))
    return out


def _pct(value: Any) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0f}"


def access_panel(folder: Any) -> html.Div:
    """Share of residents within reach per district (straight line / along the roads), per
    constituency area (a sortable table), and the gaps maps."""
    t = ui()
    _ = t.gettext
    kinds = list(folder.manifest["kinds"])
    measures = folder.manifest["measures"]
    straight, roads = folder.district.get("straight"), folder.district.get("network")
    head = [html.Th(_("District")), html.Th(_("Residents"), className="num")] + [
        html.Th(_(KIND_LABELS.get(k, k)) + f" ({folder.manifest['kinds'][k]['radius_m']:g} m)",
                className="num") for k in kinds]
    rows = []
    for i, row in straight.iterrows():
        other = roads.iloc[i] if roads is not None else None
        rows.append(html.Tr([html.Td(row["district"]),
                             html.Td(t.number(round(row["residents"])), className="num")] + [
            html.Td(_pct(row[f"{k}_pct"]) + " / " + (
                _pct(other[f"{k}_pct"]) if other is not None else "-"), className="num")
            for k in kinds]))
    counts = measures.get("network", {}).get("counts", {})
    words = [html.P(_("Share of residents (%) within reach of each kind of facility: a straight "
                      "line / along the roads. The straight line is an upper bound (no walk is "
                      "shorter); the roads layer holds main and secondary roads only, no "
                      "footpaths, stairs or footbridges, so the walk along it is a lower "
                      "bound. The truth lies between."), className="muted")]
    if counts:
        words.append(html.P(_(
            "Roads: {km} km in {parts} unconnected pieces (the largest {largest} km); "
            "residents off the network or in a piece without the facility count as out of "
            "reach.", km=t.number(counts.get("road_km", 0)),
            parts=t.number(counts.get("components", 0)),
            largest=t.number(counts.get("largest_component_km", 0))), className="muted"))
    table = html.Table(id="access-district-table", className="table",
                       **{"data-rows": len(rows), "data-kinds": len(kinds)},
                       children=[html.Thead(html.Tr(head)), html.Tbody(rows)])
    # Ten columns do not fit the panel's width: the table scrolls sideways in its box.
    children = [*words, html.Div(table, className="table-scroll"), _unit_table(folder, kinds)]
    for key, title, gid in (
            ("network", _("Kinds of facility out of reach along the roads"), "access-gaps-map"),
            ("straight", _("Kinds of facility out of reach in a straight line"),
             "access-gaps-straight-map")):
        if key in measures:
            children.append(_gaps_map(folder, key, title, gid, len(kinds)))
    return panel(_("Facility access per district and constituency area"),
                 html.Div(id="access-box", children=children))


def _unit_table(folder: Any, kinds: list[str]) -> dash_table.DataTable:
    _ = ui().gettext
    units = folder.unit["straight"][["name", "district", "residents",
                                    *[f"{k}_pct" for k in kinds]]].copy()
    columns = [{"id": "name", "name": _("Constituency area")},
               {"id": "district", "name": _("District")},
               {"id": "residents", "name": _("Residents")}]
    for k in kinds:
        columns.append({"id": f"{k}_pct", "name": _(KIND_LABELS.get(k, k)) + " %"})
    roads = folder.unit.get("network")
    if roads is not None:
        for k in kinds:
            units[f"{k}_roads"] = roads[f"{k}_pct"].to_numpy()
            columns.append({"id": f"{k}_roads",
                            "name": _(KIND_LABELS.get(k, k)) + " % " + _("(roads)")})
    units["residents"] = units["residents"].round(0)
    return dash_table.DataTable(
        id="access-unit-table", data=units.fillna("").to_dict("records"), columns=columns,
        sort_action="native", page_action="native", page_size=PAGE_SIZE,
        style_table={"overflowX": "auto"}, style_as_list_view=True,
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px",
                    "textAlign": "left"})


def _gaps_map(folder: Any, key: str, title: str, gid: str, n: int) -> Any:
    from viz.sources import read_raster

    _ = ui().gettext
    values, grid = read_raster(folder.path / folder.manifest["measures"][key]["missing"])
    out = graph(gid, 460)
    out.figure = raster_figure(values, grid, title=title, ramp=GAPS_RAMP, vmin=0.0,
                               vmax=float(n), colorbar=_("kinds out of reach"),
                               hover="%{z:.0f} " + _("kinds out of reach"), height=460,
                               uirevision=f"access:{key}")
    return out


def ridgeline_panel(folder: Any) -> html.Div:
    """The towers seen from the vantage point: above the ridgeline behind them, below it, or
    hidden by terrain in front; the ten highest above it."""
    t = ui()
    _ = t.gettext
    s, towers = folder.summary, folder.towers
    v = s["vantage"]
    breaks = towers["breaks_ridgeline"].astype(bool) & ~towers["hidden"].astype(bool)
    hidden = towers["hidden"].astype(bool)
    fig = go.Figure()
    for mask, colour, label in ((breaks, BREAKS, _("above the ridgeline")),
                                (~breaks & ~hidden, BELOW, _("below the ridgeline")),
                                (hidden, HIDDEN, _("hidden by terrain in front"))):
        part = towers[mask.to_numpy()]
        fig.add_trace(go.Scattergl(
            x=part.geometry.x / 1000.0, y=part.geometry.y / 1000.0, mode="markers",
            name=f"{label} ({t.number(len(part))})", marker=dict(size=7, color=colour),
            customdata=np.column_stack([part.get("name_en", part.index).astype(str),
                                        part["lower_by_m"].to_numpy(float)]),
            hovertemplate="%{customdata[0]}: %{customdata[1]:.0f} m<extra></extra>"))
    for trace in marker_traces([(v.get("name", _("Vantage point")), v["x"], v["y"],
                                 "#1565c0", "star")]):
        fig.add_trace(trace)
    fig.update_layout(height=460, margin=dict(l=60, r=20, t=30, b=40),
                      **km_axes(towers.crs.to_string() if towers.crs else ""),
                      legend=dict(orientation="h"), uirevision="ridgeline")
    map_graph = graph("ridgeline-map", 460)
    map_graph.figure = fig
    top = towers[breaks.to_numpy()].head(10)
    body = [html.Tr([html.Td(str(r.get("name_en", ""))),
                     html.Td(f"{r['top_mpd']:.0f}", className="num"),
                     html.Td(f"{r['lower_by_m']:.0f}", className="num"),
                     html.Td(t.number(round(r["distance_m"])), className="num")])
            for _i, r in top.iterrows()]
    return panel(_("Towers against the ridgeline"), html.Div(id="ridgeline-box", children=[
        html.P(id="ridgeline-summary", **{"data-breaking": int(s["breaking_ridgeline"]),
                                          "data-towers": int(s["towers"])}, children=[
            html.Span(t.number(int(s["breaking_ridgeline"])), className="big"), " ",
            _("of {towers} towers rise above the ridgeline behind them, seen from {vantage} "
              "(eye {eye} m above the ground); {hidden} are hidden by terrain in front.",
              towers=t.number(int(s["towers"])), vantage=v.get("name", ""),
              eye="%g" % v.get("height", 0), hidden=t.number(int(s["hidden"])))]),
        map_graph,
        html.Table(id="ridgeline-table", className="table", children=[
            html.Thead(html.Tr([html.Th(_("Tower")), html.Th(_("Roof (mPD)"), className="num"),
                                html.Th(_("Above the ridge (m)"), className="num"),
                                html.Th(_("Distance (m)"), className="num")])),
            html.Tbody(body)])]))


def ridgeline_entities(folder: Any, geoid: float, ground: Any = None) -> dict[str, Any] | None:
    """The towers in 3D as pins from their base to their roof (WGS 84; mPD + the tiles' geoid
    height), coloured as on the map, and the vantage point at eye level above
    ``ground(x, y)`` (the ground's height in the tiles, geoid included; 0 + geoid without)."""
    towers = folder.towers
    if towers.crs is None or not len(towers):
        return None
    from pyproj import Transformer

    t = ui()
    to_wgs = Transformer.from_crs(towers.crs, "EPSG:4326", always_xy=True)
    hidden = towers["hidden"].astype(bool).to_numpy()
    breaks = towers["breaks_ridgeline"].astype(bool).to_numpy() & ~hidden
    colours = np.where(hidden, HIDDEN, np.where(breaks, BREAKS, BELOW))
    lon, lat = to_wgs.transform(towers.geometry.x.to_numpy(), towers.geometry.y.to_numpy())
    top = towers["top_mpd"].to_numpy(float) + geoid
    base = (towers["base_mpd"].to_numpy(float) if "base_mpd" in towers else top - 100.0) + geoid
    names = towers["name_en"].astype(str) if "name_en" in towers else towers.index.astype(str)
    lines, points = [], []
    for name, lo, la, z0, z1, colour in zip(names, lon, lat, base, top, colours):
        lines.append({"name": name, "colour": colour, "width": 3, "dashed": False,
                      "clamp": False, "positions": [round(float(lo), 6), round(float(la), 6),
                                                    round(float(z0), 1), round(float(lo), 6),
                                                    round(float(la), 6), round(float(z1), 1)]})
        # behind the terrain (depth test): hidden towers disappear as seen from the vantage
        points.append({"name": name, "position": [float(lo), float(la), float(z1)],
                       "colour": colour, "size": 8, "outline": 0, "depth_test": True,
                       "clamp": False})
    v = folder.summary["vantage"]
    vx, vy = to_wgs.transform(float(v["x"]), float(v["y"]))
    x, y = np.array([float(v["x"])]), np.array([float(v["y"])])
    eye = (float(ground(x, y)[0]) if ground is not None else geoid) + float(v.get("height", 1.6))
    points.append({"name": str(v.get("name") or t.gettext("Vantage point")),
                   "position": [float(vx), float(vy), eye], "colour": "#1565c0", "size": 12,
                   "clamp": False})
    return {"lines": lines, "points": points, "polygons": []}


def ridgeline_camera(folder: Any, geoid: float) -> dict[str, Any] | None:
    """A view from above the vantage point towards the towers (their centre), so the towers
    stand against the ridge behind them as the analysis saw them."""
    towers = folder.towers
    if towers.crs is None or not len(towers):
        return None
    from pyproj import Transformer

    v = folder.summary["vantage"]
    cx, cy = float(towers.geometry.x.mean()), float(towers.geometry.y.mean())
    dx, dy = cx - float(v["x"]), cy - float(v["y"])
    lon, lat = Transformer.from_crs(towers.crs, "EPSG:4326", always_xy=True).transform(cx, cy)
    return {"key": f"ridgeline:{v.get('name', '')}", "center": [float(lon), float(lat), geoid],
            "radius": 500.0, "heading": math.degrees(math.atan2(dx, dy)) % 360, "pitch": -12.0,
            "range": max(math.hypot(dx, dy), 1000.0)}


def ridgeline_legend() -> list[Any]:
    """The 3D pins' colours, as the map's legend names them."""
    _ = ui().gettext
    return [html.Span([html.Span(className="swatch", style={"background": colour}), label])
            for colour, label in ((BREAKS, _("above the ridgeline")),
                                  (BELOW, _("below the ridgeline")),
                                  (HIDDEN, _("hidden by terrain in front")))]

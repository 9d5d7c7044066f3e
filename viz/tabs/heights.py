"""Heights & views tab: a height check (``twin heights``) and the protected view corridors.

Choose a corridor (a viewpoint and its landmark, from the rules): the 2D map shows the
maximum allowable height or the corridor's envelope with the rules drawn over it; the 3D view
flies to the viewpoint and shows the view cone at the envelope's height, the envelope as
coloured cells (how much may be built there), the sightlines across the landmark (green free,
red blocked) with their blocking buildings in red, and every building over its limit coloured
by its excess. Tables list the violators and the blockers with how much each must be lowered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from viz.cesium import LIMITS_ROUTE, image_spec
from viz.figures import land_use_rgba
from viz.layout import building_legend, format_value, graph, panel
from viz.maps import (HEIGHT_LIMIT_RAMP, height_scale, marker_traces, outline_traces,
                      raster_figure)
from viz.scene import (BLOCKER_COLOUR, CONE_COLOUR, corridor_camera, corridor_entities,
                       heights_style)
from viz.tabs import active, scene_outputs

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.sources import Corridor, HeightCheck, SightlineSet

KEY = "heights"
NONE = "none"
MAPS = {"planning__max_building_height": "Maximum allowable height",
        "planning__view_envelope": "View envelope"}
#: Violators listed in the table (the rest are in violations.csv).
LISTED = 15
SURFACE_COLOUR = "#8e24aa"


def _check(board: Dashboard) -> tuple[int, HeightCheck]:
    return 0, board.heights[0]


def corridor_options(check: HeightCheck) -> list[dict[str, str]]:
    """No corridor first (the whole territory and every rule), then each corridor."""
    return [{"label": "None: the whole territory, every rule", "value": NONE}] + [
        {"label": c.name, "value": c.name} for c in check.corridors]


def _corridor(check: HeightCheck, name: Any) -> Corridor | None:
    return next((c for c in check.corridors if c.name == name), None)


def selection(board: Dashboard, name: Any) -> tuple[HeightCheck, Corridor | None,
                                                     SightlineSet | None]:
    """The height check, the chosen corridor and the sightlines along it (if any)."""
    _, check = _check(board)
    corridor = _corridor(check, name)
    lines = board.corridor_sightlines(check, corridor) if corridor is not None else None
    return check, corridor, lines


def limits_figure(board: Dashboard, name: Any, field: Any) -> go.Figure:
    """The chosen limit raster with the rules' outlines, the corridor and the violators."""
    check, corridor, _ = selection(board, name)
    field = field if field in check.manifest.get("rasters", {}) and field in MAPS \
        else "planning__max_building_height"
    values, grid = check.raster(field)
    top = height_scale(values)
    base = board.baseline
    backdrop = land_use_rgba(base.land_use(base.years[0]), board.classes, lighten=0.75)
    title = MAPS[field] + (" (m above the ground)")
    fig = raster_figure(np.clip(values, 0, None), grid, title=title, ramp=HEIGHT_LIMIT_RAMP,
                        vmin=0.0, vmax=top, colorbar="m above ground",
                        hover="%{z:.1f} m above the ground", backdrop=backdrop, height=540,
                        uirevision="heights")
    lines = []
    for kind, rule, xy in check.outlines(("inclined_surface", "corridor_foreground",
                                          "corridor_background")):
        chosen = corridor is not None and rule == corridor.name
        if kind.startswith("corridor") and not chosen and corridor is not None:
            colour, dash = "#90caf9", "dot"
        else:
            colour, dash = (SURFACE_COLOUR, "dash") if kind == "inclined_surface" \
                else (CONE_COLOUR, "solid")
        lines.append((rule, xy, colour, dash))
    for trace in outline_traces(lines):
        fig.add_trace(trace)
    points = check.violator_points
    if len(points):
        excess = check.violations.set_index("building_id")["excess_m"]
        fig.add_trace(go.Scatter(
            x=points["x"] / 1000.0, y=points["y"] / 1000.0, mode="markers",
            name=f"over its limit ({len(points)})",
            marker=dict(symbol="diamond", size=8, color="#ff8f00",
                        line=dict(color="#4e342e", width=1)),
            customdata=np.column_stack([points["building_id"],
                                        excess.reindex(points["building_id"]).to_numpy()]),
            hovertemplate="%{customdata[0]}: over by %{customdata[1]:.2f} m<extra></extra>"))
    if corridor is not None:
        from pyproj import Transformer

        to_crs = Transformer.from_crs("EPSG:4326", check.crs, always_xy=True)
        vx, vy = to_crs.transform(*corridor.viewpoint[:2])
        lx, ly = to_crs.transform(*corridor.landmark[:2])
        for trace in marker_traces([("Viewpoint", vx, vy, CONE_COLOUR, "circle"),
                                    ("Landmark", lx, ly, "#6a1b9a", "star")]):
            fig.add_trace(trace)
    fig.update_layout(legend=dict(orientation="h", x=0.0, y=-0.14, yanchor="top",
                                  xanchor="left", itemclick=False),
                      margin=dict(l=60, r=20, t=48, b=90))
    return fig


def summary(check: HeightCheck) -> html.Div:
    c = check.counts
    return html.Div(id="heights-summary", className="heights-summary", **{
        "data-violations": c.get("violations", 0), "data-buildings": c.get("buildings", 0)},
        children=[
            html.Div([html.Span(f"{c.get('violations', 0):,}", className="big"),
                      f" of {c.get('buildings', 0):,} buildings over their height limit"]),
            html.Div([html.Span(f"{c.get('far_violations', 0):,}", className="big"),
                      f" of {c.get('parcels', 0):,} parcels over their FAR"]),
            html.Div([html.Span(f"{len(check.corridors)}", className="big"),
                      f" protected view{'s' if len(check.corridors) != 1 else ''}"]),
            html.P(f"Rules: {check.rules_name} \u00b7 {check.path.name}", className="muted")])


def corridor_box(board: Dashboard, name: Any) -> list[Any]:
    """What the chosen corridor's sightlines say: free or blocked, by which buildings."""
    check, corridor, lines = selection(board, name)
    if corridor is None:
        names = ", ".join(f"\u201c{c.name}\u201d" for c in check.corridors) or "none"
        return [html.P(f"Choose a protected view above to see its cone, its envelope, the "
                       f"sightlines to its landmark and what blocks them (views: {names}).",
                       className="muted")]
    out: list[Any] = []
    from viz.scene import corridor_frame

    _, _, length = corridor_frame(corridor, check.crs)
    corridor_rule = check.violations[check.violations["rule"] == corridor.name]
    out.append(html.P([
        f"From the viewpoint (eye at {corridor.eye_z:.1f} m) to the landmark "
        f"{length:,.0f} m away, the view must stay open down to {corridor.threshold_z:.1f} m "
        "on the landmark; ",
        html.Strong(f"{len(corridor_rule)} building{'s' if len(corridor_rule) != 1 else ''}"),
        " rise above the corridor's envelope."]))
    if lines is None:
        out.append(html.P("No sightlines were computed along this corridor: run 'twin "
                          "sightline TIM_DIR --from VIEWPOINT --to LANDMARK... --out DIR' "
                          "and serve DIR too.", className="muted"))
        return out
    blockers = lines.blockers
    buildings = blockers[blockers["building_id"] != "terrain"]
    per_building = (buildings.groupby("building_id")["lower_by_m"].max()
                    .sort_values(ascending=False))
    n, free = len(lines.lines), lines.visible
    out.append(html.P(id="sightline-summary", **{
        "data-lines": n, "data-free": free, "data-blockers": len(lines.buildings),
        "data-terrain": lines.terrain_blocked()}, children=[
        html.Strong(f"{free} of {n} sightlines free"),
        f" (eye to {n} points across the landmark); "
        f"{len(lines.buildings)} building{'s' if len(lines.buildings) != 1 else ''} block the "
        "view."]))
    if len(per_building):
        out.append(html.Table(id="blockers-table", className="table", children=[
            html.Thead(html.Tr([html.Th("Blocking building"),
                                html.Th("Lower by", className="num"),
                                html.Th("Lines blocked", className="num")])),
            html.Tbody([html.Tr([
                html.Td([html.Span(className="swatch", style={"background": BLOCKER_COLOUR}),
                         str(bid)]),
                html.Td(f"{lower:.2f} m", className="num"),
                html.Td(str(int((buildings["building_id"] == bid).sum())), className="num")])
                for bid, lower in per_building.items()])]))
    terrain = lines.terrain_blocked()
    if terrain:
        worst = blockers[blockers["building_id"] == "terrain"]
        out.append(html.P(
            f"The ground itself rises into {terrain} of the lines, by up to "
            f"{worst['lower_by_m'].max():.2f} m, {worst['distance_m'].min():.0f}\u2013"
            f"{worst['distance_m'].max():.0f} m from the eye (the terrain is walked as flat "
            "cells of the TIM grid, which errs towards blocking on slopes by up to the rise "
            "across one cell).", className="muted"))
    return out


def violators_table(board: Dashboard) -> list[Any]:
    _, check = _check(board)
    rows = check.violations.head(LISTED)
    more = len(check.violations) - len(rows)
    table = html.Table(id="violators-table", className="table", **{
        "data-count": len(check.violations)}, children=[
        html.Thead(html.Tr([html.Th(h, className=c) for h, c in (
            ("Building", ""), ("Unit", ""), ("Height", "num"), ("Limit", "num"),
            ("Over by", "num"), ("Rule", ""))])),
        html.Tbody([html.Tr([
            html.Td(r.building_id), html.Td(r.unit if isinstance(r.unit, str) else "-"),
            html.Td(f"{r.height_m:.1f} m", className="num"),
            html.Td(f"{r.max_height_m:.1f} m", className="num"),
            html.Td(html.Strong(f"{r.excess_m:.2f} m"), className="num"),
            html.Td(r.rule, className="muted")]) for r in rows.itertuples()])])
    units = check.units[check.units["violations"] > 0]
    unit_table = html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th("Planning unit"), html.Th("Violators", className="num"),
                            html.Th("Largest excess", className="num"),
                            html.Th("Volume above limits", className="num")])),
        html.Tbody([html.Tr([
            html.Td(r.unit if isinstance(r.unit, str) and r.unit else "(none)"),
            html.Td(f"{r.violations} of {r.buildings}", className="num"),
            html.Td(f"{r.max_excess_m:.2f} m", className="num"),
            html.Td(f"{format_value(r.excess_volume_m3, 'm3')} m\u00b3", className="num")])
            for r in units.itertuples()])])
    return [table, *([html.P(f"\u2026 and {more} more in {check.path.name}/violations.csv",
                             className="muted")] if more > 0 else []),
            html.H3("By planning unit"), unit_table]


def scene_spec(board: Dashboard, name: Any, field: Any) -> tuple[dict[str, Any], list[Any]]:
    """Violators and blockers coloured, the chosen limit map draped, the corridor drawn."""
    k, check = _check(board)
    _, corridor, lines = selection(board, name)
    field = field if field in check.manifest.get("rasters", {}) and field in MAPS \
        else "planning__max_building_height"
    geoid = board.tiles.geoid_height if board.tiles is not None else 0.0
    style = heights_style(check, lines)
    side = {"label": check.rules_name, "buildings": style, "overlays": [],
            "drape": dict(image_spec(board, f"{LIMITS_ROUTE}{k}/{field}.png"))}
    entities, camera = None, {"key": "home", "home": True}  # the whole territory
    if corridor is not None:
        entities = corridor_entities(check, corridor, lines, geoid)
        camera = corridor_camera(check, corridor, geoid)
    legend = building_legend(style)
    gradient = ", ".join(f"{c} {100 * s:g}%" for s, c in HEIGHT_LIMIT_RAMP)
    legend.append(html.Span([f"{MAPS[field].lower()}: 0 m ", html.Span(
        className="ramp", style={"background": f"linear-gradient(to right, {gradient})"}),
        " high"]))
    if entities is not None:
        legend.append(html.Span([html.Span(className="swatch", style={
            "background": CONE_COLOUR, "opacity": 0.4}), "view cone and envelope cells"]))
    return ({"key": f"{KEY}:{k}:{name}:{field}", "sides": [side], "entities": entities,
             "camera": camera}, legend)


def layout(board: Dashboard) -> list[Any]:
    _, check = _check(board)
    options = corridor_options(check)
    fields = [f for f in MAPS if f in check.manifest.get("rasters", {})]
    return [
        panel("Height limits and protected views", summary(check),
              html.Div(className="heights-controls", children=[
                  html.Div(className="control", children=[
                      html.Label("Protected view", htmlFor="corridor"),
                      dcc.Dropdown(id="corridor", options=options,
                                   value=options[0]["value"], clearable=False,
                                   searchable=False)]),
                  html.Div(className="control", children=[
                      html.Label("Map"),
                      dcc.RadioItems(id="limit-map", className="toggle", inline=True,
                                     options=[{"label": f" {MAPS[f]}", "value": f}
                                              for f in fields], value=fields[0])]),
              ]),
              graph("limits-map", 540)),
        panel("Along the protected view", html.Div(id="corridor-box")),
        panel("Buildings over their limit", *violators_table(board)),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("limits-map", "figure"), Output("corridor-box", "children"),
                  Input("tab", "value"), Input("corridor", "value"),
                  Input("limit-map", "value"))
    def _on_heights(tab, name, field):
        active(tab, KEY)
        return limits_figure(board, name, field), corridor_box(board, name)

    @app.callback(*scene_outputs(), Input("tab", "value"), Input("corridor", "value"),
                  Input("limit-map", "value"), prevent_initial_call="initial_duplicate")
    def _on_scene(tab, name, field):
        active(tab, KEY)
        return scene_spec(board, name, field)

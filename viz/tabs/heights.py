"""Heights & views tab: a height check (``twin heights``) and the protected view corridors.

Choose what to check: the existing buildings (each ``twin heights`` folder served) or the new
buildings of any run (``RUN_DIR/heights``, which ``twin run`` writes against the TIM's zoning
heights and the scenario's height rules). Every count of the tab - the panel, the full
violator table (sortable, paged, downloadable as CSV) and the 3D view - is read from the same
``violations.csv``. Choose a corridor (a viewpoint and its landmark, from the rules): the 2D
map shows the maximum allowable height or the corridor's envelope with the rules drawn over
it ("Zoom to the corridor" frames it, and flies the 3D view to it again); the 3D view
flies to the viewpoint and shows the view cone at the envelope's height, the envelope as
coloured cells (how much may be built there), the sightlines across the landmark (green free,
red blocked) with their blocking buildings in red, and every building over its limit coloured
by its excess. Tables list the violators and the blockers with how much each must be lowered.

Sunlight and the life circle: when the chosen TIM (existing buildings) or run has a
``twin sunlight`` or ``twin lifecircle`` folder beside it (``<TIM_DIR>-sunlight``,
``<RUN_DIR>-lifecircle``, ...), the tab shows its façade points coloured by hours, the
buildings failing GB 50180-2018 (downloadable) and the residents covered per facility type
(TD/T 1062-2021) with the gaps (downloadable). The sunlight check's hours in shadow on the
ground are one more choice of the map: drawn in 2D and draped on the ground in 3D (the drape
route of the limit maps, :data:`viz.cesium.SHADOW_ROUTE`), for users cleared for the products
of the TIM or run. Read from the folders, never computed here; those panels are in
:mod:`viz.tabs.planning_panels`.

Facility access and the ridgeline: when the TIM has a ``-access`` or ``-ridgeline`` folder
beside it (``twin demo --city hongkong``), their panels (:mod:`viz.planning_checks`) follow;
a territory without buildings to check (Hong Kong) shows those panels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, callback_context, dash_table, dcc, html

from viz.cesium import LIMITS_ROUTE, SHADOW_ROUTE, image_spec
from viz.downloads import HEIGHTS_ROUTE
from viz.i18n import ui, with_unit
from viz.figures import land_use_rgba
from viz.layout import building_legend, format_value, graph, panel
from viz.maps import (HEIGHT_LIMIT_RAMP, SHADOW_RAMP, height_scale, marker_traces,
                      outline_traces, raster_figure)
from viz.scene import (BLOCKER_COLOUR, CONE_COLOUR, corridor_camera, corridor_entities,
                       heights_style)
from viz.sources import run_height_check
from viz.tabs import active, scene_outputs, shown
from viz.tabs.planning_panels import (SHADOW, SUN_FAIL, SUN_PASS, _download_button,
                                      lifecircle_box, planning_file, shadow_figure, shadow_map,
                                      sunlight_box, sunlight_entities)

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.sources import Corridor, HeightCheck, SightlineSet

KEY = "heights"
NONE = "none"


def _(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


MAPS = {"planning__max_building_height": _("Maximum allowable height"),
        "planning__view_envelope": _("View envelope"), SHADOW: _("Hours in shadow")}
#: Rows per page of the violator table (all rows are there, paged and sortable).
PAGE_SIZE = 15
SURFACE_COLOUR = "#8e24aa"


@dataclass(frozen=True)
class Choice:
    """One thing to check: a ``twin heights`` folder (existing buildings, ``run`` None) or a
    run's new buildings (``run`` its index). ``k`` is its place in :func:`choices`, as the
    limit drapes and the downloads name it."""

    k: int
    value: str
    check: HeightCheck
    run: int | None


def choices(board: Dashboard) -> list[Choice]:
    """The existing buildings of each height check, then the new buildings of each run that
    checked them (in run order)."""
    out = [Choice(k, f"check:{k}", check, None) for k, check in enumerate(board.heights)]
    for i, run in enumerate(board.runs):
        check = run_height_check(run)
        if check is not None:
            out.append(Choice(len(out), f"run:{i}", check, i))
    return out


def available(board: Dashboard) -> bool:
    """The tab shows when there is anything to check, or facility access or a ridgeline."""
    from viz import planning_checks

    return bool(choices(board)) or planning_checks.available(board)


def check_at(board: Dashboard, k: int) -> HeightCheck:
    """The height check at place ``k`` of :func:`choices` (IndexError: none)."""
    found = choices(board)
    if not 0 <= k < len(found):
        raise IndexError(k)
    return found[k].check


def choice_label(board: Dashboard, choice: Choice) -> str:
    t = ui()
    if choice.run is None:
        return t.gettext("Existing buildings \u00b7 {rules}", rules=choice.check.rules_name)
    return t.gettext("New buildings of {run}", run=board.labels[choice.run])


def choice_options(board: Dashboard) -> list[dict[str, str]]:
    return [{"label": choice_label(board, c), "value": c.value} for c in choices(board)]


def _choice(board: Dashboard, value: Any) -> Choice:
    found = choices(board)
    return next((c for c in found if c.value == value), found[0])


def _check(board: Dashboard, value: Any = None) -> tuple[int, HeightCheck]:
    choice = _choice(board, value)
    return choice.k, choice.check


def corridor_options(check: HeightCheck) -> list[dict[str, str]]:
    """No corridor first (the whole territory and every rule), then each corridor."""
    t = ui()
    return [{"label": t.gettext("None: the whole territory, every rule"), "value": NONE}] + [
        {"label": c.name, "value": c.name} for c in check.corridors]


def _corridor(check: HeightCheck, name: Any) -> Corridor | None:
    return next((c for c in check.corridors if c.name == name), None)


def selection(board: Dashboard, name: Any, value: Any = None
              ) -> tuple[HeightCheck, Corridor | None, SightlineSet | None]:
    """The chosen height check, the chosen corridor and the sightlines along it (if any)."""
    _, check = _check(board, value)
    corridor = _corridor(check, name)
    lines = board.corridor_sightlines(check, corridor) if corridor is not None else None
    return check, corridor, lines


def _field(check: HeightCheck, field: Any, shadow: bool = False) -> str:
    """The map to show: ``field`` if the check has it (the shadow map if ``shadow``: there is
    one the user may see), else the maximum allowable height."""
    if field == SHADOW:
        return SHADOW if shadow else "planning__max_building_height"
    return field if field in check.manifest.get("rasters", {}) and field in MAPS \
        else "planning__max_building_height"


def limits_figure(board: Dashboard, name: Any, field: Any, value: Any = None,
                  zoom: bool = False) -> go.Figure:
    """The chosen limit raster with the rules' outlines, the corridor and the violators;
    ``zoom`` frames the chosen corridor."""
    t = ui()
    _ = t.gettext
    check, corridor, _lines = selection(board, name, value)
    shadow = shadow_map(board, value) if field == SHADOW else None
    field = _field(check, field, shadow is not None)
    base = board.baseline
    backdrop = land_use_rgba(base.land_use(base.years[0]), board.classes, lighten=0.75)
    framed = zoom and corridor is not None
    revision = f"heights:{value}:{name if framed else ''}"
    if shadow is not None:
        from viz.sources import same_grid

        fig = shadow_figure(shadow, revision, backdrop if same_grid(shadow.grid, board.grid)
                            else None, height=540)
    else:
        values, grid = check.raster(field)
        fig = raster_figure(np.clip(values, 0, None), grid,
                            title=_(MAPS[field]) + " (" + _("m above the ground") + ")",
                            ramp=HEIGHT_LIMIT_RAMP, vmin=0.0, vmax=height_scale(values),
                            colorbar=_("m above the ground"),
                            hover="%{z:.1f} " + _("m above the ground"), backdrop=backdrop,
                            height=540, uirevision=revision)
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
        over = _("over by")
        fig.add_trace(go.Scatter(
            x=points["x"] / 1000.0, y=points["y"] / 1000.0, mode="markers",
            name=_("over its limit ({count})", count=t.number(check.violation_count)),
            marker=dict(symbol="diamond", size=8, color="#ff8f00",
                        line=dict(color="#4e342e", width=1)),
            customdata=np.column_stack([points["building_id"],
                                        excess.reindex(points["building_id"]).to_numpy()]),
            hovertemplate="%{customdata[0]}: " + over + " %{customdata[1]:.2f} m"
                          "<extra></extra>"))
    if corridor is not None:
        from pyproj import Transformer

        to_crs = Transformer.from_crs("EPSG:4326", check.crs, always_xy=True)
        vx, vy = to_crs.transform(*corridor.viewpoint[:2])
        lx, ly = to_crs.transform(*corridor.landmark[:2])
        for trace in marker_traces([(_("Viewpoint"), vx, vy, CONE_COLOUR, "circle"),
                                    (_("Landmark"), lx, ly, "#6a1b9a", "star")]):
            fig.add_trace(trace)
    if framed:
        bounds = corridor_frame_bounds(check, corridor)
        if bounds is not None:
            x0, y0, x1, y1 = bounds
            fig.update_xaxes(range=[x0 / 1000.0, x1 / 1000.0], autorange=False)
            fig.update_yaxes(range=[y0 / 1000.0, y1 / 1000.0], autorange=False)
    fig.update_layout(legend=dict(orientation="h", x=0.0, y=-0.14, yanchor="top",
                                  xanchor="left", itemclick=False),
                      margin=dict(l=60, r=20, t=48, b=90))
    return fig


def corridor_frame_bounds(check: HeightCheck, corridor: Corridor
                          ) -> tuple[float, float, float, float] | None:
    """The corridor's wedge and background with its viewpoint and landmark (CRS, m), padded."""
    from pyproj import Transformer

    bounds = check.corridor_bounds(corridor.name)
    to_crs = Transformer.from_crs("EPSG:4326", check.crs, always_xy=True)
    xs, ys = zip(*(to_crs.transform(*p[:2]) for p in (corridor.viewpoint, corridor.landmark)))
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    return min(x0, *xs), min(y0, *ys), max(x1, *xs), max(y1, *ys)


def summary(board: Dashboard, value: Any = None) -> html.Div:
    """Counts of the chosen check: violators from ``violations.csv`` (as the table and the 3D
    view), the buildings and parcels checked from its manifest."""
    t = ui()
    _ = t.gettext
    choice = _choice(board, value)
    check = choice.check
    c = check.counts
    n = check.violation_count
    what = (_("of {count} buildings over their height limit", count=t.number(
        c.get("buildings", 0))) if choice.run is None else
        _("of {count} new buildings over their height limit", count=t.number(
            c.get("buildings", 0))))
    rows = [html.Div([html.Span(t.number(n), className="big"), " " + what])]
    if choice.run is None:  # FAR is a parcel rule: judged on the existing buildings only
        rows.append(html.Div([html.Span(t.number(c.get("far_violations", 0)), className="big"),
                              " " + _("of {count} parcels over their FAR",
                                      count=t.number(c.get("parcels", 0)))]))
    views = len(check.corridors)
    rows.append(html.Div([html.Span(t.number(views), className="big"), " " + (
        _("protected view") if views == 1 else _("protected views"))]))
    rows.append(html.P(_("Rules: {rules}", rules=check.rules_name) + " \u00b7 "
                       + (check.path.name if choice.run is None
                          else board.runs[choice.run].path.name), className="muted"))
    return html.Div(id="heights-summary", className="heights-summary", **{
        "data-violations": n, "data-buildings": c.get("buildings", 0)}, children=rows)


def corridor_box(board: Dashboard, name: Any, value: Any = None) -> list[Any]:
    """What the chosen corridor's sightlines say: free or blocked, by which buildings."""
    t = ui()
    _ = t.gettext
    check, corridor, lines = selection(board, name, value)
    if corridor is None:
        if not check.corridors:
            return [html.P(_("These rules protect no view."), className="muted")]
        names = ", ".join(f"\u201c{c.name}\u201d" for c in check.corridors)
        return [html.P(_("Choose a protected view above to see its cone, its envelope, the "
                         "sightlines to its landmark and what blocks them (views: {names}).",
                         names=names), className="muted")]
    out: list[Any] = []
    from viz.scene import corridor_frame

    _v, _a, length = corridor_frame(corridor, check.crs)
    corridor_rule = check.violations[check.violations["rule"] == corridor.name]
    out.append(html.P([
        _("From the viewpoint (eye at {eye} m) to the landmark {length} m away, the view must "
          "stay open down to {threshold} m on the landmark;", eye="%.1f" % corridor.eye_z,
          length=t.number(round(length)), threshold="%.1f" % corridor.threshold_z) + " ",
        html.Strong(_("{count} buildings rise above the corridor's envelope.",
                      count=t.number(len(corridor_rule))))]))
    if lines is None:
        out.append(html.P(_("No sightlines were computed along this corridor: run 'twin "
                            "sightline TIM_DIR --from VIEWPOINT --to LANDMARK... --out DIR' "
                            "and serve DIR too."), className="muted"))
        return out
    blockers = lines.blockers
    buildings = blockers[blockers["building_id"] != "terrain"]
    per_building = (buildings.groupby("building_id")["lower_by_m"].max()
                    .sort_values(ascending=False))
    n, free = len(lines.lines), lines.visible
    out.append(html.P(id="sightline-summary", **{
        "data-lines": n, "data-free": free, "data-blockers": len(lines.buildings),
        "data-terrain": lines.terrain_blocked()}, children=[
        html.Strong(_("{free} of {n} sightlines free", free=free, n=n)), " ",
        _("(eye to {n} points across the landmark); {count} buildings block the view.",
          n=n, count=len(lines.buildings))]))
    if len(per_building):
        out.append(html.Table(id="blockers-table", className="table", children=[
            html.Thead(html.Tr([html.Th(_("Blocking building")),
                                html.Th(_("Lower by"), className="num"),
                                html.Th(_("Lines blocked"), className="num")])),
            html.Tbody([html.Tr([
                html.Td([html.Span(className="swatch", style={"background": BLOCKER_COLOUR}),
                         str(bid)]),
                html.Td(with_unit(f"{lower:.2f}", "m", t), className="num"),
                html.Td(str(int((buildings["building_id"] == bid).sum())), className="num")])
                for bid, lower in per_building.items()])]))
    terrain = lines.terrain_blocked()
    if terrain:
        worst = blockers[blockers["building_id"] == "terrain"]
        out.append(html.P(_(
            "The ground itself rises into {count} of the lines, by up to {rise} m, {near}-{far} "
            "m from the eye (the terrain is walked as flat cells of the TIM grid, which errs "
            "towards blocking on slopes by up to the rise across one cell).", count=terrain,
            rise="%.2f" % worst["lower_by_m"].max(), near="%.0f" % worst["distance_m"].min(),
            far="%.0f" % worst["distance_m"].max()), className="muted"))
    return out


#: The violator table's columns: id, header, number format (None: text).
TABLE_COLUMNS = (("building_id", _("Building"), None), ("unit", _("Unit"), None),
                 ("height_m", _("Height (m)"), 1), ("max_height_m", _("Limit (m)"), 1),
                 ("excess_m", _("Over by (m)"), 2), ("rule", _("Rule"), None))


def violation_rows(check: HeightCheck) -> list[dict[str, Any]]:
    """Every violator (largest excess first) as in ``violations.csv``: no row left out (the
    table rounds for display only, so that it sorts on the values)."""
    frame = check.violations
    rows = []
    for r in frame.itertuples():
        rows.append({"building_id": str(r.building_id),
                     "unit": r.unit if isinstance(r.unit, str) and r.unit else "-",
                     "height_m": float(r.height_m), "max_height_m": float(r.max_height_m),
                     "excess_m": float(r.excess_m), "rule": str(r.rule)})
    return rows


def violators_table(board: Dashboard, value: Any = None) -> list[Any]:
    """The full violator table (sortable, paged), its CSV download and the planning units."""
    from dash.dash_table.Format import Format, Scheme

    t = ui()
    _ = t.gettext
    choice = _choice(board, value)
    k, check = choice.k, choice.check
    folder = check.path.name if choice.run is None else board.runs[choice.run].name
    rows = violation_rows(check)
    columns = [{"id": cid, "name": _(name), **({"type": "numeric", "format": Format(
        precision=digits, scheme=Scheme.fixed)} if digits is not None else {})}
        for cid, name, digits in TABLE_COLUMNS]
    out: list[Any] = [
        html.P(className="downloads", children=[
            html.A(_("Download all {count} violators (CSV)", count=t.number(len(rows))),
                   href=f"{HEIGHTS_ROUTE}{k}/violations.csv", id="violators-download",
                   download=f"{folder}-violations.csv",
                   className="download-link", **{"data-key": "violations.csv"}),
            " ",
            html.A(_("every building checked (CSV)"), href=f"{HEIGHTS_ROUTE}{k}/buildings.csv",
                   download=f"{folder}-buildings.csv", className="download-link",
                   **{"data-key": "buildings.csv"})])]
    if rows:
        out.append(html.Div(id="violators-table", **{"data-count": len(rows)}, children=[
            dash_table.DataTable(
                id="violators-datatable", data=rows, columns=columns,
                sort_action="native", sort_mode="single", page_action="native",
                page_size=PAGE_SIZE, style_as_list_view=True,
                style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px",
                            "textAlign": "left"},
                style_cell_conditional=[{"if": {"column_type": "numeric"},
                                         "textAlign": "right"}],
                style_header={"fontWeight": "600"})]))
    else:
        out.append(html.P(_("No building is over its height limit."), id="violators-table",
                          className="muted", **{"data-count": 0}))
    units = check.units[check.units["violations"] > 0]
    unit_table = html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th(_("Planning unit")),
                            html.Th(_("Violators"), className="num"),
                            html.Th(_("Largest excess"), className="num"),
                            html.Th(_("Volume above limits"), className="num")])),
        html.Tbody([html.Tr([
            html.Td(r.unit if isinstance(r.unit, str) and r.unit else _("(none)")),
            html.Td(_("{n} of {total}", n=t.number(r.violations), total=t.number(r.buildings)),
                    className="num"),
            html.Td(with_unit(f"{r.max_excess_m:.2f}", "m", t), className="num"),
            html.Td(with_unit(format_value(r.excess_volume_m3, "m3"), "m3", t), className="num")])
            for r in units.itertuples()])])
    return [*out, html.H3(_("By planning unit")), unit_table]


def scene_spec(board: Dashboard, name: Any, field: Any, value: Any = None,
               zoom: int = 0) -> tuple[dict[str, Any], list[Any]]:
    """Violators and blockers coloured, the chosen limit map draped, the corridor drawn;
    ``zoom`` (the button's clicks) flies to the corridor again."""
    _ = ui().gettext
    choice = _choice(board, value)
    k, check = choice.k, choice.check
    _c, corridor, lines = selection(board, name, value)
    shadow = shadow_map(board, value) if field == SHADOW else None
    field = _field(check, field, shadow is not None)
    geoid = board.tiles.geoid_height if board.tiles is not None else 0.0
    style = heights_style(check, lines)
    overlays = []
    if choice.run is not None:  # the run's new buildings, if published, coloured alike
        url = board.new_buildings_tileset(board.runs[choice.run])
        if url is not None:
            from viz.cesium import TILES_ROUTE

            overlays.append({"url": TILES_ROUTE + url, "style": style})
    drape = image_spec(board, f"{SHADOW_ROUTE}{k}.png", shadow.grid) if shadow is not None \
        else image_spec(board, f"{LIMITS_ROUTE}{k}/{field}.png")
    side = {"label": check.rules_name, "buildings": style, "overlays": overlays,
            "drape": dict(drape)}
    entities, camera = None, {"key": "home", "home": True}  # the whole territory
    sun_points = sunlight_entities(board, value, geoid) if corridor is None else None
    if sun_points is not None:
        entities = sun_points
    if corridor is not None:
        entities = corridor_entities(check, corridor, lines, geoid)
        camera = corridor_camera(check, corridor, geoid)
        # Keyed by choice, clicks and name (a new key flies again), never by a server path.
        camera["key"] = f"corridor:{k}:{zoom or 0}:{corridor.name}"
    legend = building_legend(style)
    legend.insert(0, html.Strong(_("{count} over their limit", count=ui().number(
        style["count"])), id="heights-3d-count", **{"data-violations": style["count"]}))
    if shadow is not None:  # the drape's scale, as the 2D map's
        legend.append(html.Span(id="heights-3d-shadow", **{"data-top": round(shadow.top, 2)},
                                children=[_("{map}: 0 h", map=_(
                                    "Hours in shadow on the ground, after the proposals"))
                                    + " ", _ramp(SHADOW_RAMP), " " + _(
                                        "{hours} h", hours=ui().number(shadow.top, 1))]))
    else:
        legend.append(html.Span([_("{map}: 0 m", map=_(MAPS[field]).lower()) + " ",
                                 _ramp(HEIGHT_LIMIT_RAMP), " " + _("high")]))
    if sun_points is not None:
        legend.append(html.Span([html.Span(className="swatch", style={
            "background": SUN_FAIL}), _("window sills below the sunlight standard"),
            html.Span(className="swatch", style={"background": SUN_PASS}),
            _("window sills meeting it")]))
    elif entities is not None:
        legend.append(html.Span([html.Span(className="swatch", style={
            "background": CONE_COLOUR, "opacity": 0.4}), _("view cone and envelope cells")]))
    return ({"key": f"{KEY}:{k}:{name}:{field}", "sides": [side], "entities": entities,
             "camera": camera}, legend)


def _ramp(ramp: Any) -> html.Span:
    gradient = ", ".join(f"{c} {100 * s:g}%" for s, c in ramp)
    return html.Span(className="ramp",
                     style={"background": f"linear-gradient(to right, {gradient})"})


def layout(board: Dashboard) -> list[Any]:
    from viz import planning_checks

    if not choices(board):  # no buildings to check: access and the ridgeline alone
        return planning_checks.panels(board)
    _ = ui().gettext
    options = choice_options(board)
    return [
        panel(_("Height limits and protected views"), html.Div(id="heights-summary-box"),
              html.Div(className="heights-controls", children=[
                  html.Div(className="control", children=[
                      html.Label(_("Buildings checked"), htmlFor="heights-choice"),
                      dcc.Dropdown(id="heights-choice", options=options,
                                   value=options[0]["value"], clearable=False,
                                   searchable=False)]),
                  html.Div(className="control", children=[
                      html.Label(_("Protected view"), htmlFor="corridor"),
                      dcc.Dropdown(id="corridor", options=[], value=NONE, clearable=False,
                                   searchable=False)]),
                  html.Div(className="control", children=[
                      html.Label(_("Map")),
                      dcc.RadioItems(id="limit-map", className="toggle", inline=True,
                                     options=[], value="planning__max_building_height")]),
                  html.Div(className="control", children=[
                      html.Button(_("Zoom to the corridor"), id="zoom-corridor",
                                  n_clicks=0, disabled=True, className="button")]),
              ]),
              graph("limits-map", 540)),
        panel(_("Along the protected view"), html.Div(id="corridor-box")),
        panel(_("Buildings over their limit"), html.Div(id="violators-box")),
        panel(_("Sunlight hours (日照)"), html.Div(id="sunlight-box"), html.P(
            className="downloads", children=[_download_button(
                _("Download the buildings failing the sunlight standard (CSV)"),
                "sunlight-download")])),
        panel(_("15-minute community life circle"), html.Div(id="lifecircle-box"), html.P(
            className="downloads", children=[_download_button(
                _("Download the life-circle gaps (CSV)"), "lifecircle-download")])),
        *planning_checks.panels(board),
    ]


def choice_controls(board: Dashboard, value: Any, corridor: Any) -> tuple[Any, ...]:
    """What follows the choice: corridors (the chosen one kept if the new check has it), the
    maps it has, its summary and its violator table."""
    _ = ui().gettext
    _k, check = _check(board, value)
    options = corridor_options(check)
    keep = corridor if _corridor(check, corridor) is not None else NONE
    fields = [f for f in MAPS if f in check.manifest.get("rasters", {})]
    if shadow_map(board, value) is not None:
        fields.append(SHADOW)
    maps = [{"label": " " + _(MAPS[f]), "value": f} for f in fields]
    return (options, keep, maps, fields[0], summary(board, value),
            violators_table(board, value))


def base_scene(board: Dashboard) -> tuple[dict[str, Any], list[Any]]:
    """The tab's 3D view without a height check (a territory without buildings, e.g. Hong
    Kong): the baseline's land use of its last year on the terrain, and the towers against
    the ridgeline as pins, seen from above the vantage point, when that analysis is there."""
    from viz import planning_checks
    from viz.tabs.scenario import scene_side

    side: dict[str, Any] = {"label": "", "drape": None, "buildings": None, "overlays": []}
    if board.runs:
        side = scene_side(board, 0, board.runs[0].years[-1], "height", False)[0]
    legend: list[Any] = []
    entities, camera = None, {"key": "home", "home": True}
    ridgeline = planning_checks.found(board)[1]
    if ridgeline is not None:
        from viz.onemap import ground_heights

        geoid = board.tiles.geoid_height if board.tiles is not None else 0.0
        ground = (ground_heights(board.ground.elevation, board.grid, geoid)
                  if getattr(board, "ground", None) is not None else None)
        entities = planning_checks.ridgeline_entities(ridgeline, geoid, ground)
        camera = planning_checks.ridgeline_camera(ridgeline, geoid) or camera
        legend = planning_checks.ridgeline_legend()
    return ({"key": f"{KEY}:base", "sides": [side], "entities": entities, "camera": camera},
            legend)


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    if not choices(board):  # the access and ridgeline panels are drawn once, in the layout
        @app.callback(*scene_outputs(), shown(KEY), prevent_initial_call="initial_duplicate")
        def _on_base_scene(tab):
            active(tab, KEY)
            return base_scene(board)

        return

    @app.callback(Output("corridor", "options"), Output("corridor", "value"),
                  Output("limit-map", "options"), Output("limit-map", "value"),
                  Output("heights-summary-box", "children"), Output("violators-box", "children"),
                  shown(KEY), Input("heights-choice", "value"),
                  State("corridor", "value"))
    def _on_choice(tab, value, corridor):
        active(tab, KEY)
        return choice_controls(board, value, corridor)

    @app.callback(Output("limits-map", "figure"), Output("corridor-box", "children"),
                  Output("zoom-corridor", "disabled"),
                  shown(KEY), Input("heights-choice", "value"),
                  Input("corridor", "value"), Input("limit-map", "value"),
                  Input("zoom-corridor", "n_clicks"))
    def _on_heights(tab, value, name, field, clicks):
        active(tab, KEY)
        zoom = callback_context.triggered_id == "zoom-corridor"
        check = _check(board, value)[1]
        return (limits_figure(board, name, field, value, zoom=zoom),
                corridor_box(board, name, value), _corridor(check, name) is None)

    @app.callback(Output("sunlight-box", "children"), Output("lifecircle-box", "children"),
                  Output("sunlight-download", "disabled"),
                  Output("lifecircle-download", "disabled"),
                  shown(KEY), Input("heights-choice", "value"))
    def _on_planning(tab, value):
        active(tab, KEY)
        return (sunlight_box(board, value), lifecircle_box(board, value),
                planning_file(board, value, "sunlight", "failing.csv") is None,
                planning_file(board, value, "lifecircle", "gaps.csv") is None)

    @app.callback(Output("sunlight-download-file", "data"),
                  Input("sunlight-download", "n_clicks"), State("heights-choice", "value"),
                  prevent_initial_call=True)
    def _on_sunlight_download(clicks, value):
        path = planning_file(board, value, "sunlight", "failing.csv")
        return None if path is None else dcc.send_file(str(path),
                                                      filename=f"{path.parent.name}-failing.csv")

    @app.callback(Output("lifecircle-download-file", "data"),
                  Input("lifecircle-download", "n_clicks"), State("heights-choice", "value"),
                  prevent_initial_call=True)
    def _on_lifecircle_download(clicks, value):
        path = planning_file(board, value, "lifecircle", "gaps.csv")
        return None if path is None else dcc.send_file(str(path),
                                                      filename=f"{path.parent.name}-gaps.csv")

    @app.callback(*scene_outputs(), shown(KEY), Input("heights-choice", "value"),
                  Input("corridor", "value"), Input("limit-map", "value"),
                  Input("zoom-corridor", "n_clicks"), prevent_initial_call="initial_duplicate")
    def _on_scene(tab, value, name, field, clicks):
        active(tab, KEY)
        return scene_spec(board, name, field, value, zoom=clicks or 0)

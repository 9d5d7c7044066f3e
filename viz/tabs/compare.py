"""Compare tab: two scenarios side by side in the same year - their land use on two maps that
zoom and pan together, the built-up difference (built in one but not the other), their
indicators next to each other, and in 3D a swipe between them (A left, B right: each side
with its own land use, new buildings and demolitions).

Scenario A is the shared scenario control; B is chosen here. The map synchronisation runs in
the browser (``viz/assets/twinmaps.js``): no round trip for a zoom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, dcc, html

from viz import fragments
from viz.figures import Memo, land_use_figure, land_use_rgba, run_colour, withheld_figure
from viz.i18n import class_name, indicator_words, status_text, ui, unit_text
from viz.layout import format_delta, format_value, graph, panel
from viz.maps import built_difference, difference_figure, raster_figure
from viz.onemap import add_overlays, hidden_note
from viz.sources import products_cleared
from viz.tabs import context, run_and_year, scene_outputs, year_in
from viz.tabs.scenario import scene_side

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard

KEY = "compare"
#: The maps that zoom and pan together (ids of their dcc.Graph).
SYNCED_MAPS = ("compare-map-a", "compare-map-b", "diff-map")
#: Zoom state shared by the synced maps (see map_layout's uirevision).
UIREVISION = "compare"


def default_b(board: Dashboard, a: Any) -> int:
    """The run compared with A when the tab opens: the next one."""
    return (board.run_index(a) + 1) % len(board.runs)


def _common_year(board: Dashboard, a: int, b: int, year: Any) -> int:
    years = [y for y in board.runs[a].years if y in board.runs[b].years]
    return year_in(years or board.runs[a].years, year)


def compare_maps(board: Dashboard, a: Any, b: Any, year: Any) -> tuple[go.Figure, go.Figure]:
    """The land use of A and of B in the year, as two maps with one zoom."""
    ia, ib = board.run_index(a), board.run_index(b)
    year = _common_year(board, ia, ib, year)
    figures = []
    for tag, i in (("A", ia), ("B", ib)):
        if not products_cleared(board.runs[i]):  # the one-map layers only, no run map
            figures.append(add_overlays(
                withheld_figure(board.grid, hidden_note(), height=400), board.onemap,
                [k for k in ("units", "control_lines") if k in board.onemap.available]))
            continue
        fig = land_use_figure(board.runs[i].land_use(year), board.grid, board.classes,
                              title=f"{tag}: {board.labels[i]}", legend=False, height=400,
                              uirevision=UIREVISION)
        # The control lines and units on both maps (one map); the legend is the page's.
        add_overlays(fig, board.onemap, [k for k in ("units", "control_lines")
                                         if k in board.onemap.available])
        fig.update_layout(title=dict(font=dict(size=13, color=run_colour(i))),
                          margin=dict(l=50, r=10, t=40, b=40), showlegend=False)
        figures.append(fig)
    return figures[0], figures[1]


def difference(board: Dashboard, a: Any, b: Any, year: Any) -> tuple[go.Figure, Any]:
    """The built-up difference map of A and B and a sentence with its figures."""
    ia, ib = board.run_index(a), board.run_index(b)
    year = _common_year(board, ia, ib, year)
    land_a = board.runs[ia].land_use(year)
    diff = built_difference(land_a, board.runs[ib].land_use(year), board.classes, board.grid)
    backdrop = land_use_rgba(land_a, board.classes, lighten=0.8)
    fig = difference_figure(diff, board.grid, (board.labels[ia], board.labels[ib]), year,
                            colours=(run_colour(ia), run_colour(ib)), backdrop=backdrop,
                            height=460, uirevision=UIREVISION)
    t = ui()
    summary = html.P(id="diff-summary", className="diff-summary", **{
        "data-only-a-cells": diff.only_a_cells, "data-only-b-cells": diff.only_b_cells,
        "data-year": year}, children=[
        t.gettext("In {year}:", year=year) + " ",
        html.Strong(t.area(diff.only_b_ha, digits=1), style={"color": run_colour(ib)}),
        " " + t.gettext("built up only in B ({label});", label=board.labels[ib]) + " ",
        html.Strong(t.area(diff.only_a_ha, digits=1), style={"color": run_colour(ia)}),
        " " + t.gettext("only in A ({label}); {both} in both.", label=board.labels[ia],
                        both=t.area(diff.both_ha, digits=0))])
    return fig, summary


#: Layers the compare tab shows side by side (A, B and their difference).
COMPARE_LAYERS = ("land_use", "population", "flood", "new_buildings")
POPULATION_RAMP = ((0.0, "#fff7ec"), (0.3, "#fdbb84"), (0.65, "#e34a33"), (1.0, "#7f0000"))
#: B - A: blue where A has more, red where B has more, white where they agree.
DIVERGING_RAMP = ((0.0, "#2166ac"), (0.5, "#f7f7f7"), (1.0, "#b2182b"))


def layer_options() -> list[dict[str, str]]:
    _ = ui()
    names = {"land_use": _("Land use"), "population": _("Population"),
             "flood": _("Flood depth"), "new_buildings": _("New buildings")}
    return [{"label": " " + names[k], "value": k} for k in COMPARE_LAYERS]


def _new_points(run: Any, year: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Centroids (km) and ids of the run's new buildings standing in ``year``."""
    file = run.path / "buildings_new.gpkg"
    if not file.is_file():
        return np.zeros(0), np.zeros(0), []
    import pyogrio

    frame = pyogrio.read_dataframe(file, layer="buildings_new")
    frame = frame[frame["year"] <= year]
    centres = frame.geometry.centroid
    return (centres.x.to_numpy() / 1000.0, centres.y.to_numpy() / 1000.0,
            frame["building_id"].astype(str).tolist())


def layer_figures(board: Dashboard, a: Any, b: Any, year: Any, layer: Any
                  ) -> tuple[go.Figure, go.Figure, go.Figure, Any]:
    """A's and B's maps of ``layer`` in the year, their difference map and its summary."""
    if layer not in COMPARE_LAYERS or layer == "land_use":
        fig_a, fig_b = compare_maps(board, a, b, year)
        diff, summary = difference(board, a, b, year)
        return fig_a, fig_b, diff, summary
    t = ui()
    _ = t.gettext
    ia, ib = board.run_index(a), board.run_index(b)
    year = _common_year(board, ia, ib, year)
    runs = (board.runs[ia], board.runs[ib])
    backdrop = land_use_rgba(runs[0].land_use(year), board.classes, lighten=0.8)
    titles = [f"{tag}: {board.labels[i]}" for tag, i in (("A", ia), ("B", ib))]
    if layer == "new_buildings":
        figures = []
        found = [_new_points(r, year) for r in runs]
        for (xs, ys, ids), title, i in zip(found, titles, (ia, ib)):
            fig = land_use_figure(runs[0].land_use(year), board.grid, board.classes,
                                  title=title, legend=False, height=400, uirevision=UIREVISION)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=_("New buildings"),
                                     marker=dict(size=5, color=run_colour(i)), text=ids,
                                     hovertemplate="%{text}<extra></extra>", meta="new"))
            figures.append(fig)
        # Each run numbers its own projects: the runs' buildings are overlaid, not matched.
        diff = land_use_figure(runs[0].land_use(year), board.grid, board.classes,
                               title=_("New buildings of A and B, {year}", year=year),
                               legend=False, height=460, uirevision=UIREVISION)
        for (xs, ys, ids), i, tag in ((found[0], ia, "A"), (found[1], ib, "B")):
            diff.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=tag, text=ids,
                                      hovertemplate=f"{tag}: %{{text}}<extra></extra>",
                                      marker=dict(size=6, color=run_colour(i),
                                                  symbol="circle" if tag == "A" else "x")))
        diff.update_layout(showlegend=True)
        summary = html.P(id="diff-summary", className="diff-summary", **{"data-year": year},
                         children=_("In {year}: {a} new buildings in A, {b} in B.", year=year,
                                    a=t.number(len(found[0][2])),
                                    b=t.number(len(found[1][2]))))
        return figures[0], figures[1], diff, summary
    if layer == "population":
        values = [r.population(year).astype(np.float32) for r in runs]
        unit = _("persons per cell")
        ramp = POPULATION_RAMP
    else:
        values = []
        for r in runs:
            depth = r.water_depth() if r.surge_year is not None else None
            land = r.land_use(year)
            values.append(np.full(board.grid.shape, np.nan, np.float32) if depth is None
                          else np.where(board.classes.group_mask(land, "sea"), np.nan,
                                        np.asarray(depth, np.float32)))
        unit = _("Flood depth (m)")
        from viz.figures import FLOOD_RAMP as ramp
    top = max(float(np.nanmax(v)) if np.isfinite(v).any() else 0.0 for v in values) or 1.0
    figures = []
    for v, title, r in zip(values, titles, runs):
        none = not np.isfinite(v).any()
        fig = raster_figure(v, board.grid, title=title + (" \u00b7 " + _(
            "no storm surge in this run") if none and layer == "flood" else ""), ramp=ramp,
                            vmin=0.0, vmax=top, colorbar=unit, hover="%{z:.2f}",
                            backdrop=backdrop, skip=(v <= 0) if not none else None,
                            height=400, uirevision=UIREVISION)
        figures.append(fig)
    a_vals = np.nan_to_num(values[0], nan=0.0)
    b_vals = np.nan_to_num(values[1], nan=0.0)
    delta = b_vals - a_vals
    span = float(np.abs(delta).max()) or 1.0
    diff = raster_figure(np.where(delta != 0, delta, np.nan), board.grid,
                         title=_("B \u2212 A, {year}", year=year), ramp=DIVERGING_RAMP,
                         vmin=-span, vmax=span, colorbar=unit, hover="%{z:+.2f}",
                         backdrop=backdrop, height=460, uirevision=UIREVISION)
    total = (_("{a} residents in A, {b} in B", a=t.number(a_vals.sum()),
               b=t.number(b_vals.sum())) if layer == "population" else
             _("{a} flooded cells in A, {b} in B", a=t.number((a_vals > 0).sum()),
               b=t.number((b_vals > 0).sum())))
    summary = html.P(id="diff-summary", className="diff-summary", **{"data-year": year},
                     children=_("In {year}:", year=year) + " " + total)
    return figures[0], figures[1], diff, summary


def comparison_rows(board: Dashboard, a: Any, b: Any, year: Any) -> list[dict[str, Any]]:
    """Every indicator of A and B in the year: values, statuses, B - A (registry order)."""
    ia, ib = board.run_index(a), board.run_index(b)
    year = _common_year(board, ia, ib, year)

    def rows(i: int):
        table = board.runs[i].indicators
        return table[table["year"] == year].set_index("indicator")

    ra, rb = rows(ia), rows(ib)
    keys = [k for k in board.registry if k in ra.index or k in rb.index]
    keys += [k for k in (*ra.index, *rb.index) if k not in keys]
    out = []
    for key in keys:
        if key not in ra.index or key not in rb.index:
            continue
        definition = board.registry.get(key)
        va, vb = float(ra.loc[key, "value"]), float(rb.loc[key, "value"])
        out.append({"key": key, "name": indicator_words(definition, key)["name"],
                    "unit": str(ra.loc[key, "unit"]), "a": va, "b": vb, "delta": vb - va,
                    "status_a": str(ra.loc[key, "status"]),
                    "status_b": str(rb.loc[key, "status"])})
    return out


def badge(tag: str, colour: str, **kwargs: Any) -> html.Span:
    return html.Span(tag, className="ab", style={"background": colour}, **kwargs)


def comparison_table(rows: list[dict[str, Any]], labels: tuple[str, str],
                     colours: tuple[str, str]) -> html.Table:
    _ = ui()

    def value(v: float, status: str, unit: str) -> html.Td:
        return html.Td(className="num", title=status_text(status), children=[
            html.Span(className=f"dot dot-{status}"), f"{format_value(v, unit)}"])

    body = [html.Tr(**{"data-indicator": r["key"], "data-a": repr(r["a"]),
                       "data-b": repr(r["b"])}, children=[
        html.Td(r["name"]), html.Td(unit_text(r["unit"]), className="muted"),
        value(r["a"], r["status_a"], r["unit"]), value(r["b"], r["status_b"], r["unit"]),
        html.Td(format_delta(r["delta"], r["unit"]), className="num delta")])
        for r in rows]
    return html.Table(id="compare-table", className="table compare-table", children=[
        html.Thead(html.Tr([html.Th(_("Indicator")), html.Th(_("Unit")),
                            html.Th(badge("A", colours[0]), className="num",
                                    title=labels[0]),
                            html.Th(badge("B", colours[1]), className="num",
                                    title=labels[1]),
                            html.Th("B \u2212 A", className="num")])),
        html.Tbody(body)])


def scene_spec(board: Dashboard, a: Any, b: Any, year: Any) -> tuple[dict[str, Any],
                                                                    list[Any]]:
    """A swipe: A's land use, new and demolished buildings left, B's right."""
    ia, ib = board.run_index(a), board.run_index(b)
    year = _common_year(board, ia, ib, year)
    t = ui()
    left, _ = scene_side(board, ia, year, "height", False, label=f"A: {board.labels[ia]}")
    right, _ = scene_side(board, ib, year, "height", False, label=f"B: {board.labels[ib]}")
    legend = [html.Span([html.Span(className="swatch", style={"background": run_colour(i)}),
                         f"{tag}: {board.labels[i]} ({side})"])
              for tag, i, side in (("A", ia, t.gettext("left")), ("B", ib, t.gettext("right")))]
    legend.append(html.Span(t.gettext("Drag the bar in the view to swipe between them; new "
                                      "buildings in orange, redevelopments in crimson."),
                            className="legend-note"))
    return ({"key": f"{KEY}:{ia}:{ib}:{year}", "sides": [left, right], "entities": None,
             "camera": None}, legend)


def class_legend(board: Dashboard) -> html.Div:
    return html.Div(className="class-legend", children=[
        html.Span([html.Span(className="swatch", style={"background": c.colour}),
                   class_name(c.name)])
        for c in board.classes])


def layout(board: Dashboard) -> list[Any]:
    _ = ui()
    options = [{"label": label, "value": i} for i, label in enumerate(board.labels)]
    chooser = html.Div(className="compare-choose", children=[
        html.Span(id="compare-a-label", className="compare-a"),
        html.Span(_("compared with"), className="muted"),
        badge("B", run_colour(default_b(board, 0)), id="compare-b-badge"),
        dcc.Dropdown(id="compare-with", options=options, value=default_b(board, 0),
                     clearable=False, searchable=False, className="compare-dropdown"),
        dcc.RadioItems(id="compare-layer", className="toggle", inline=True,
                       options=layer_options(), value="land_use")])
    return [
        panel(_("Compare scenarios"), chooser,
              html.Div(className="map-pair", children=[graph("compare-map-a", 400),
                                                       graph("compare-map-b", 400)]),
              class_legend(board),
              html.P(_("Both maps, and the difference below, zoom and pan together; the "
                       "year is the shared year above."), className="caption"),
              className="compare-panel"),
        panel(_("Difference of A and B"), graph("diff-map", 460),
              *fragments.fragment_box("diff-summary-box")),
        panel(_("Indicators side by side"), *fragments.fragment_box("compare-table-box")),
        dcc.Store(id="compare-sync"),
    ]


#: The tab's views by (board, A, B, year, layer, language, clearance): a pair seen once is
#: shown again at once.
_VIEWS = Memo(32)


def compare_view(board: Dashboard, a: Any, b: Any, year: Any, layer: Any) -> tuple[Any, ...]:
    """Everything the tab draws for A and B in the year: A's label, B's colour, the two maps,
    the difference and its summary, the indicator table."""
    from viz.server import current_clearance

    ia, ib = board.run_index(a), board.run_index(b)
    key = (id(board), ia, ib, _common_year(board, ia, ib, year), str(layer), ui().lang,
           current_clearance())

    def build() -> tuple[Any, ...]:
        fig_a, fig_b, diff, summary = layer_figures(board, ia, ib, year, layer)
        table = comparison_table(comparison_rows(board, ia, ib, year),
                                 (board.labels[ia], board.labels[ib]),
                                 (run_colour(ia), run_colour(ib)))
        label = [badge("A", run_colour(ia)), html.Strong(board.labels[ia])]
        return (label, {"background": run_colour(ib)}, fig_a, fig_b, diff, summary, table)

    return _VIEWS.get(key, build, board)


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("compare-a-label", "children"), Output("compare-b-badge", "style"),
                  Output("compare-map-a", "figure"),
                  Output("compare-map-b", "figure"), Output("diff-map", "figure"),
                  fragments.output("diff-summary-box"),
                  fragments.output("compare-table-box"),
                  context(KEY), Input("compare-with", "value"),
                  Input("compare-layer", "value"))
    def _on_compare(ctx, b, layer):
        a, year = run_and_year(ctx)
        *view, summary, table = compare_view(board, a, b, year, layer)
        return (*view, fragments.fragment(summary), fragments.fragment(table))

    fragments.register(app, "diff-summary-box", "compare-table-box")

    @app.callback(*scene_outputs(), context(KEY), Input("compare-with", "value"),
                  prevent_initial_call="initial_duplicate")
    def _on_scene(ctx, b):
        a, year = run_and_year(ctx)
        return scene_spec(board, a, b, year)

    app.clientside_callback(
        ClientsideFunction("twinmaps", "sync"), Output("compare-sync", "data"),
        *[Input(map_id, "relayoutData") for map_id in SYNCED_MAPS],
        prevent_initial_call=True)

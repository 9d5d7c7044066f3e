"""Ensemble tab: one scenario run with many seeds (``twin ensemble``) - where development is
likely (the share of members in which a cell became built-up by the year, on a map and draped
in 3D), the indicators' spread over time (the median in its P10-P90 band; P5-P95 for ensembles
written before P10/P90 were) and their intervals in the chosen year.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from scenarios.ensemble import band_columns
from scenarios.i18n import scenario_text
from viz.app import choice_index
from viz.cesium import PROBABILITY_ROUTE, image_spec
from viz.figures import SeriesSpec, ensemble_timeline, land_use_rgba, run_colour, withheld_figure
from viz.i18n import indicator_words, ui, unit_text
from viz.layout import format_value, graph, panel
from viz.maps import PROBABILITY_RAMP, raster_figure
from viz.onemap import hidden_note
from viz.scene import plain_style
from viz.sources import products_cleared
from viz.tabs import context, run_and_year, scene_outputs, year_in
from viz.tabs.scenario import TIMELINE_INDICATORS

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.sources import Ensemble

KEY = "ensemble"
#: Shares of members the summary counts cells at.
LIKELY = 0.5


def _ensemble(board: Dashboard, k: Any) -> tuple[int, Ensemble]:
    i = choice_index(k, len(board.ensembles))
    return i, board.ensembles[i]


def _colour(board: Dashboard, ensemble: Ensemble) -> str:
    """The colour of the run of the same scenario (so the tabs agree), else the next free."""
    for i, run in enumerate(board.runs):
        if board.ensemble_of(run) is ensemble:
            return run_colour(i)
    return run_colour(len(board.runs) + board.ensembles.index(ensemble))


def _year(ensemble: Ensemble, year: Any) -> int:
    return year_in(ensemble.probability_years or ensemble.years, year)


def probability_map(board: Dashboard, k: Any, year: Any) -> tuple[go.Figure, Any]:
    """The development probability in the year as a map, and a sentence with its areas."""
    _, ensemble = _ensemble(board, k)
    if not products_cleared(board.baseline):
        return withheld_figure(board.grid, hidden_note()), hidden_note()
    year = _year(ensemble, year)
    values = ensemble.probability(year)
    hectares = board.grid.cell_area / 10_000.0
    base = board.baseline
    backdrop = land_use_rgba(base.land_use(base.years[0]), board.classes, lighten=0.75)
    if values is None:
        values = np.zeros(board.grid.shape, np.float32)
    n = len(ensemble.seeds)
    t = ui()
    _ = t.gettext
    fig = raster_figure(values, board.grid, ramp=PROBABILITY_RAMP, vmin=0.0, vmax=1.0,
                        title=_("Probability of development by {year} ({n} members)",
                                year=year, n=n),
                        colorbar=_("share of members"),
                        hover=_("developed in %{z:.0%} of members"),
                        backdrop=backdrop, skip=values <= 0, height=520)
    some = int((values > 0).sum())
    likely = int((values >= LIKELY).sum())
    every = int((values >= 1).sum())
    summary = html.P(id="probability-summary", className="diff-summary", **{
        "data-some-cells": some, "data-likely-cells": likely, "data-all-cells": every,
        "data-year": year}, children=[
        _("By {year}, {some} became built up in at least one of the {n} members, {likely} in "
          "at least half and", year=year, some=t.area(some * hectares, digits=1), n=n,
          likely=t.area(likely * hectares, digits=1)) + " ",
        html.Strong(_("{area} in all of them", area=t.area(every * hectares, digits=1))),
        _("; start: land use of {year} (washed out).", year=base.years[0])])
    return fig, summary


def timeline(board: Dashboard, k: Any, year: Any) -> go.Figure:
    _, ensemble = _ensemble(board, k)
    t = ui()
    panels = [SeriesSpec(key, indicator_words(d, key, t)["name"], unit_text(d.unit, t))
              for key in TIMELINE_INDICATORS if (d := board.registry.get(key)) is not None]
    return ensemble_timeline(ensemble.intervals, panels, label=label(ensemble),
                             colour=_colour(board, ensemble), year=_year(ensemble, year),
                             band_name=t.gettext("P{lo}\u2013P{hi} of the members"),
                             median_name=t.gettext("median"))


def label(ensemble: Ensemble) -> str:
    """The ensemble's scenario title and size, in the page's language."""
    t = ui()
    return t.gettext("{title} \u00b7 ensemble of {n}", title=scenario_text(ensemble.title, t),
                     n=len(ensemble.seeds))


def interval_table(board: Dashboard, k: Any, year: Any) -> html.Table:
    """Median, P10-P90 interval (P5-P95 for older ensembles) and standard deviation of every
    indicator in the year."""
    _, ensemble = _ensemble(board, k)
    lo, hi, lo_q, hi_q = band_columns(ensemble.intervals)
    year = year_in(ensemble.years, year)
    rows = ensemble.intervals[ensemble.intervals["year"] == year].set_index("indicator")
    keys = [key for key in board.registry if key in rows.index]
    body = []
    for key in keys:
        r = rows.loc[key]
        unit = str(r["unit"])
        body.append(html.Tr(**{"data-indicator": key, "data-p50": repr(float(r["p50"]))},
                            children=[
            html.Td(indicator_words(board.registry[key], key)["name"]),
            html.Td(unit_text(unit), className="muted"),
            html.Td(format_value(float(r["p50"]), unit), className="num"),
            html.Td(f"{format_value(float(r[lo]), unit)} \u2013 "
                    f"{format_value(float(r[hi]), unit)}", className="num",
                    **{"data-lo": repr(float(r[lo])), "data-hi": repr(float(r[hi]))}),
            html.Td(format_value(float(r["sd"]), unit) if np.isfinite(r["sd"]) else "-",
                    className="num")]))
    _ = ui()
    return html.Table(id="interval-table", className="table", children=[
        html.Thead(html.Tr([html.Th(_("Indicator")), html.Th(_("Unit")),
                            html.Th(_("Median {year}", year=year), className="num"),
                            html.Th(f"P{lo_q}\u2013P{hi_q}", className="num"),
                            html.Th(_("Std. dev."), className="num")])),
        html.Tbody(body)])


def describe(ensemble: Ensemble) -> str:
    seeds = ensemble.seeds
    t = ui()
    return t.gettext("{title}: {n} members (seeds {first}\u2013{last}), run on {executor}; "
                     "{folder}", title=scenario_text(ensemble.title, t), n=len(seeds),
                     first=seeds[0], last=seeds[-1],
                     executor=executor_words(ensemble.manifest.get("executor", "?"), t),
                     folder=ensemble.path.name)


def executor_words(executor: str, t: Any) -> str:
    """How the members ran, in words ("serial", "dask LocalCluster(2 workers)")."""
    if executor == "serial":
        return t.gettext("one process, one member after another")
    workers = re.search(r"LocalCluster\((\d+) workers\)", executor)
    if workers:
        return t.gettext("a local Dask cluster of {n} workers", n=workers.group(1))
    return t.gettext("the Dask scheduler {address}", address=executor.removeprefix("dask "))


def scene_spec(board: Dashboard, k: Any, year: Any) -> tuple[dict[str, Any], list[Any]]:
    """The probability map draped over the terrain, the existing buildings plain."""
    i, ensemble = _ensemble(board, k)
    year = _year(ensemble, year)
    side = {"label": label(ensemble), "buildings": plain_style(), "overlays": [],
            "drape": dict(image_spec(board, f"{PROBABILITY_ROUTE}{i}/{year}.png"))}
    gradient = ", ".join(f"{c} {100 * s:g}%" for s, c in PROBABILITY_RAMP)
    _ = ui()
    legend = [html.Span([_("developed in 0") + " ", html.Span(className="ramp", style={
        "background": f"linear-gradient(to right, {gradient})"}),
        " " + _("all members by {year}", year=year)])]
    return ({"key": f"{KEY}:{i}:{year}", "sides": [side], "entities": None, "camera": None},
            legend)


def layout(board: Dashboard) -> list[Any]:
    options = [{"label": label(e), "value": i} for i, e in enumerate(board.ensembles)]
    chooser = dcc.Dropdown(id="ensemble", options=options, value=0, clearable=False,
                           searchable=False, className="ensemble-dropdown",
                           style=None if len(options) > 1 else {"display": "none"})
    _ = ui()
    return [
        panel(_("Development probability"),
              html.P(id="ensemble-description", className="muted"),
              graph("probability-map", 520), html.Div(id="probability-summary-box"),
              head=chooser),
        panel(_("Indicators across the members"), graph("ensemble-timeline", 480)),
        panel(_("Intervals in the chosen year"), html.Div(id="interval-table-box")),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("ensemble-description", "children"),
                  Output("probability-map", "figure"), Output("probability-summary-box",
                                                              "children"),
                  Output("ensemble-timeline", "figure"), Output("interval-table-box",
                                                                "children"),
                  context(KEY), Input("ensemble", "value"))
    def _on_ensemble(ctx, k):
        _, year = run_and_year(ctx)
        fig, summary = probability_map(board, k, year)
        return (describe(_ensemble(board, k)[1]), fig, summary, timeline(board, k, year),
                interval_table(board, k, year))

    @app.callback(*scene_outputs(), context(KEY), Input("ensemble", "value"),
                  prevent_initial_call="initial_duplicate")
    def _on_scene(ctx, k):
        _, year = run_and_year(ctx)
        return scene_spec(board, k, year)

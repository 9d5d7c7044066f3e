"""Land-use calibration tab: a ``twin calibrate`` report (:class:`viz.sources.Calibration`).

For the calibration period (the map pair the parameters were fitted on) or the validation
period (the next pair, simulated with the observed end-year class areas as demand): the
calibrated model beside the two null models - no change, and random allocation of the right
quantities - on Figure of Merit, Kappa simulation and quantity / allocation disagreement; every
metric in a table; the map of hits, misses, wrong hits and false alarms (or the simulated map);
the metrics per class; then the search's convergence with the fitted parameters, and the
drivers' contributions to each class's suitability. The calibration's grid is its own (the
input maps'), so the tab has no 3D view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dash import Input, Output, dcc, html

from engine.metrics import CATEGORIES
from viz.accuracy import (AGREEMENT_COLOURS, MODEL_COLOURS, agreement_counts,
                          agreement_figure, class_map_figure, comparison_figure,
                          contributions_figure, convergence_figure)
from viz.app import choice_index
from viz.figures import crs_label
from viz.layout import graph, panel
from viz.sources import MODELS
from viz.tabs import active

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.sources import Calibration

KEY = "calibration"
#: The agreement categories (engine.metrics.CATEGORIES) counted, and as data attributes.
PLURALS = {0: "cells of persistence simulated as persistence", 1: "hits", 2: "misses",
           3: "wrong hits", 4: "false alarms"}
KEYS = {0: "persistence", 1: "hits", 2: "misses", 3: "wrong-hits", 4: "false-alarms"}
#: Rows of the metrics table: (key, label, kind) - kind ``count``, ``share`` or ``ratio``.
ROWS = (("figure_of_merit", "Figure of Merit", "ratio"), ("hits", "hits", "count"),
        ("misses", "misses", "count"), ("wrong_hits", "wrong hits", "count"),
        ("false_alarms", "false alarms", "count"),
        ("producers_accuracy", "producer's accuracy", "ratio"),
        ("users_accuracy", "user's accuracy", "ratio"),
        ("kappa_simulation", "Kappa simulation", "ratio"),
        ("kappa_transition", "Kappa transition", "ratio"),
        ("kappa_transloc", "Kappa transloc", "ratio"), ("kappa", "Kappa", "ratio"),
        ("overall_agreement", "overall agreement", "ratio"),
        ("quantity_disagreement", "quantity disagreement", "ratio"),
        ("allocation_disagreement", "allocation disagreement", "ratio"),
        ("observed_change", "cells changed (observed)", "count"),
        ("simulated_change", "cells changed (simulated)", "count"))
#: Columns of the per-class table: (key, label, kind).
CLASS_COLUMNS = (("figure_of_merit", "FoM", "ratio"), ("hits", "hits", "count"),
                 ("misses", "misses", "count"), ("wrong_hits", "wrong hits", "count"),
                 ("false_alarms", "false alarms", "count"),
                 ("kappa_simulation", "Kappa sim.", "ratio"),
                 ("quantity_disagreement", "quantity dis.", "ratio"),
                 ("allocation_disagreement", "allocation dis.", "ratio"))


def _report(board: Dashboard, k: Any) -> tuple[int, Calibration]:
    i = choice_index(k, len(board.calibrations))
    return i, board.calibrations[i]


def _period(report: Calibration, period: Any) -> str:
    """``period`` if the report has it, else its last (the validation when there is one)."""
    return period if period in report.periods else report.periods[-1]


def fmt(value: Any, kind: str) -> str:
    """A metric as the tables show it.

    Examples
    --------
    >>> fmt(1234, "count"), fmt(0.03420737, "ratio"), fmt(None, "ratio"), fmt(2e-17, "ratio")
    ('1,234', '0.0342', '\u2013', '0.0000')
    """
    if value is None:
        return "\u2013"
    if kind == "count":
        return f"{int(value):,}"
    return f"{float(value):.4f}"


def summary(board: Dashboard, k: Any, period: Any) -> html.Div:
    """What was calibrated, on what, how well: a few lines above the charts."""
    _, report = _report(board, k)
    period = _period(report, period)
    m = report.metrics
    search = m.get("calibration", {})
    a, b = report.years(period)
    fom = {name: report.overall(period, name)["figure_of_merit"] for name in MODELS}
    what = ("the pair the parameters were fitted on" if period == "calibration" else
            "the next pair, simulated with the observed end-year class areas as demand")
    return html.Div(id="calibration-summary", className="calibration-summary", **{
        "data-period": period, "data-fom": repr(fom["model"])}, children=[
        html.P([html.Strong(f"{period.capitalize()} {a}\u2013{b}"), f": {what}. ",
                f"Figure of Merit ", html.Strong(fmt(fom["model"], "ratio"),
                                                 style={"color": MODEL_COLOURS["model"]}),
                f" against {fmt(fom['null_no_change'], 'ratio')} with no change and "
                f"{fmt(fom['null_random'], 'ratio')} with the right quantities placed at "
                "random."]),
        html.P(f"Classes {', '.join(map(str, report.codes))} on a "
               f"{report.grid.shape[0]:,} \u00d7 {report.grid.shape[1]:,} grid "
               f"({crs_label(report.grid.crs)}, cells of {abs(report.grid.transform[0]):g} m); "
               f"{m.get('study_area_cells', 0):,} cells in the study "
               f"area, {m.get('eligible_cells', 0):,} of them free to change. Suitability by "
               f"{m['suitability']['method'].replace('_', ' ')}; the search ran "
               f"{search.get('simulations', '?')} simulations in "
               f"{search.get('seconds', '?')} s (best calibration FoM "
               f"{fmt(search.get('figure_of_merit'), 'ratio')}).", className="muted"),
        html.P(drivers_line(report), className="muted"),
        *[html.P(f"Note: {note}", className="muted") for note in m.get("notes", [])]])


def drivers_line(report: Calibration) -> str:
    """The suitability's drivers and the folder(s) their rasters came from."""
    drivers = report.parameters.get("suitability", {}).get("drivers", [])
    names, folders = [], []
    for d in drivers:
        path = d.get("path")
        names.append(d["name"] + (f" ({Path(path).name})" if path else " (derived)"))
        if path and Path(path).parent.name not in folders:
            folders.append(Path(path).parent.name)
    return (f"Drivers: {', '.join(names) or 'none'}"
            + (f"; from {', '.join(folders)}." if folders else "."))


def metrics_table(board: Dashboard, k: Any, period: Any) -> html.Table:
    """Every overall metric of the model and the two null models (cells carry their value)."""
    _, report = _report(board, k)
    period = _period(report, period)
    overall = {name: report.overall(period, name) for name in MODELS}
    head = html.Tr([html.Th("Metric")] + [html.Th(
        [html.Span(className="swatch", style={"background": MODEL_COLOURS[name]}), label],
        className="num") for name, label in MODELS.items()])
    body = [html.Tr(**{"data-metric": key}, children=[html.Td(label)] + [
        html.Td(fmt(overall[name].get(key), kind), className="num",
                **{"data-model": name, "data-value": repr(overall[name].get(key))})
        for name in MODELS]) for key, label, kind in ROWS]
    return html.Table(id="calibration-metrics", className="table calibration-table",
                      children=[html.Thead(head), html.Tbody(body)])


def class_table(board: Dashboard, k: Any, period: Any) -> html.Table:
    """The model per class (binary: the class against the rest), with the random null's FoM
    and the suitability's held-out AUC."""
    _, report = _report(board, k)
    period = _period(report, period)
    model, random = report.per_class(period), report.per_class(period, "null_random")
    auc = report.metrics["suitability"].get("auc", {})
    head = html.Tr([html.Th("Class")] + [html.Th(label, className="num")
                                         for _, label, _ in CLASS_COLUMNS]
                   + [html.Th("FoM random", className="num"),
                      html.Th("suitability AUC", className="num")])
    body = []
    for code, row in model.items():
        body.append(html.Tr(**{"data-class": code, "data-fom": repr(row["figure_of_merit"])},
                            children=[html.Td(f"class {code}")] + [
            html.Td(fmt(row.get(key), kind), className="num")
            for key, _, kind in CLASS_COLUMNS] + [
            html.Td(fmt(random.get(code, {}).get("figure_of_merit"), "ratio"),
                    className="num"),
            html.Td(fmt(auc.get(code), "ratio"), className="num")]))
    return html.Table(id="calibration-classes", className="table calibration-table",
                      children=[html.Thead(head), html.Tbody(body)])


def map_view(board: Dashboard, k: Any, period: Any, kind: Any) -> tuple[Any, html.P]:
    """The agreement map (or the simulated map) and a sentence with the category counts,
    counted from the GeoTIFF (they are the metrics' hits, misses...)."""
    _, report = _report(board, k)
    period = _period(report, period)
    a, b = report.years(period)
    agreement = report.map(period, "agreement")
    counts = agreement_counts(agreement)
    if kind == "simulated":
        fig = class_map_figure(report.map(period, "simulated"), report.grid, report.codes,
                               title=f"Simulated land use {b} ({period})")
    else:
        fig = agreement_figure(agreement, report.grid,
                               title=f"Simulated against observed change, {a}\u2013{b}")
    text = html.P(id="agreement-summary", className="diff-summary", **{
        f"data-{KEYS[code]}": n for code, n in counts.items()}, children=[
        html.Span([html.Span(className="swatch", style={"background": AGREEMENT_COLOURS[c]}),
                   f" {counts[c]:,} {PLURALS[c] if counts[c] != 1 else CATEGORIES[c]}"],
                  className="agreement-count", title=CATEGORIES[c]) for c in (1, 2, 3, 4, 0)])
    return fig, text


def parameters_table(board: Dashboard, k: Any) -> html.Table:
    """The fitted CA parameters (``parameters.yaml``)."""
    _, report = _report(board, k)
    ca = report.parameters.get("ca", {})

    def show(value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return html.Table(id="calibration-parameters", className="table", children=[
        html.Tbody([html.Tr([html.Td(key.replace("_", " ")), html.Td(show(value),
                                                                     className="num")])
                    for key, value in ca.items()])])


def layout(board: Dashboard) -> list[Any]:
    _, report = _report(board, 0)
    periods = report.periods
    options = [{"label": c.title, "value": i} for i, c in enumerate(board.calibrations)]
    return [
        panel("Land-use calibration", html.Div(id="calibration-summary-box"),
              graph("calibration-comparison", 330),
              html.Details([html.Summary("Every metric, model and null models"),
                            html.Div(id="calibration-metrics-box")]),
              head=html.Div(className="calibration-controls", children=[
                  dcc.Dropdown(id="calibration-report", options=options, value=0,
                               clearable=False, searchable=False,
                               style=None if len(options) > 1 else {"display": "none"}),
                  dcc.RadioItems(id="calibration-period", className="toggle", inline=True,
                                 options=[{"label": f" {p.capitalize()}", "value": p}
                                          for p in periods], value=periods[-1])])),
        panel("Per class", html.Div(id="calibration-classes-box", className="table-scroll"),
              html.P("Each class against the rest: hits are cells that became the class as "
                     "observed, false alarms cells simulated to become it that did not; the "
                     "AUC is the suitability model's on held-out cells.", className="caption")),
        html.Div(className="calibration-pair", children=[
            panel("Hits, misses and false alarms", graph("calibration-map", 520),
                  html.Div(id="agreement-summary-box"),
                  head=dcc.RadioItems(id="calibration-map-kind", className="toggle",
                                      inline=True, value="agreement", options=[
                                          {"label": " Agreement", "value": "agreement"},
                                          {"label": " Simulated map", "value": "simulated"}])),
            panel("Drivers of suitability", graph("calibration-drivers", 300)),
        ]),
        html.Div(className="calibration-pair", children=[
            panel("Calibration search", graph("calibration-convergence", 280),
                  html.P("Differential evolution maximising the calibration period's Figure "
                         "of Merit; each dot is one simulation.", className="caption")),
            panel("Fitted parameters", html.Div(id="calibration-parameters-box")),
        ]),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("calibration-period", "options"), Output("calibration-period", "value"),
                  Input("calibration-report", "value"), prevent_initial_call=True)
    def _on_report(k):
        _, report = _report(board, k)
        return ([{"label": f" {p.capitalize()}", "value": p} for p in report.periods],
                report.periods[-1])

    @app.callback(Output("calibration-summary-box", "children"),
                  Output("calibration-comparison", "figure"),
                  Output("calibration-metrics-box", "children"),
                  Output("calibration-classes-box", "children"),
                  Input("tab", "value"), Input("calibration-report", "value"),
                  Input("calibration-period", "value"))
    def _on_period(tab, k, period):
        active(tab, KEY)
        _, report = _report(board, k)
        p = _period(report, period)
        overall = {name: report.overall(p, name) for name in MODELS}
        return (summary(board, k, p), comparison_figure(overall, MODELS),
                metrics_table(board, k, p), class_table(board, k, p))

    @app.callback(Output("calibration-map", "figure"), Output("agreement-summary-box",
                                                              "children"),
                  Input("tab", "value"), Input("calibration-report", "value"),
                  Input("calibration-period", "value"), Input("calibration-map-kind", "value"))
    def _on_map(tab, k, period, kind):
        active(tab, KEY)
        return map_view(board, k, period, kind)

    @app.callback(Output("calibration-convergence", "figure"),
                  Output("calibration-drivers", "figure"),
                  Output("calibration-parameters-box", "children"),
                  Input("tab", "value"), Input("calibration-report", "value"))
    def _on_search(tab, k):
        active(tab, KEY)
        _, report = _report(board, k)
        return (convergence_figure(report.convergence),
                contributions_figure(report.contributions,
                                     report.metrics["suitability"].get("auc")),
                parameters_table(board, k))

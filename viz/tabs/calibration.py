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

from scenarios.calibration.report import CATEGORY_WORDS, CLASS_COLUMNS
from scenarios.calibration.report import METHOD_WORDS as METHODS
from scenarios.calibration.report import METRIC_ROWS as ROWS
from scenarios.calibration.report import MODEL_WORDS
from scenarios.calibration.report import PARAMETER_WORDS as PARAMETERS
from scenarios.calibration.report import PERIOD_WORDS as PERIODS
from viz.accuracy import (AGREEMENT_COLOURS, FIGURE_WORDS, MODEL_COLOURS, agreement_counts,
                          agreement_figure, class_map_figure, comparison_figure,
                          contributions_figure, convergence_figure)
from viz.app import choice_index
from viz.figures import crs_label
from viz.i18n import ui
from viz.layout import graph, panel
from viz.sources import MODELS, run_calibration
from viz.tabs import active, shown

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.sources import Calibration

KEY = "calibration"


def _(message: str) -> str:
    """Marks a message id for the catalogue; the page translates it when it shows it."""
    return message


#: The agreement categories (engine.metrics.CATEGORIES) counted, and as data attributes.
PLURALS = {0: _("cells of persistence simulated as persistence"), 1: _("hits"),
           2: _("misses"), 3: _("wrong hits"), 4: _("false alarms")}
KEYS = {0: "persistence", 1: "hits", 2: "misses", 3: "wrong-hits", 4: "false-alarms"}


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


def report_title(report: Calibration) -> str:
    """e.g. ``Calibration 1985-1991-1999 (classes 1, 2, 3) · plum-island``, in the page's
    language."""
    years: list[int] = []
    for period in report.periods:
        years += [y for y in report.years(period) if y not in years]
    return ui().gettext("Calibration {years} (classes {classes}) \u00b7 {folder}",
                        years="\u2013".join(map(str, years)),
                        classes=", ".join(map(str, report.codes)), folder=report.path.name)


def period_word(period: str) -> str:
    return ui().gettext(PERIODS.get(period, period))


def summary(board: Dashboard, k: Any, period: Any) -> html.Div:
    """What was calibrated, on what, how well: a few lines above the charts."""
    t = ui()
    _ = t.gettext
    report = _report(board, k)[1]
    period = _period(report, period)
    m = report.metrics
    search = m.get("calibration", {})
    a, b = report.years(period)
    fom = {name: report.overall(period, name)["figure_of_merit"] for name in MODELS}
    what = (_("the pair the parameters were fitted on") if period == "calibration" else
            _("the next pair, simulated with the observed end-year class areas as demand"))
    method = m["suitability"]["method"]
    return html.Div(id="calibration-summary", className="calibration-summary", **{
        "data-period": period, "data-fom": repr(fom["model"])}, children=[
        html.P([html.Strong(f"{period_word(period)} {a}\u2013{b}"),
                _(": {what}. ", what=what), _("Figure of Merit") + " ",
                html.Strong(fmt(fom["model"], "ratio"),
                            style={"color": MODEL_COLOURS["model"]}),
                _(" against {none} with no change and {random} with the right quantities "
                  "placed at random.", none=fmt(fom["null_no_change"], "ratio"),
                  random=fmt(fom["null_random"], "ratio"))]),
        html.P(_("Classes {classes} on a {rows} \u00d7 {cols} grid ({crs}, cells of {size} m); "
                 "{cells} cells in the study area, {free} of them free to change. Suitability "
                 "by {method}; the search ran {n} simulations in {seconds} s (best "
                 "calibration FoM {best}).", classes=", ".join(map(str, report.codes)),
                 rows=f"{report.grid.shape[0]:,}", cols=f"{report.grid.shape[1]:,}",
                 crs=crs_label(report.grid.crs), size=f"{abs(report.grid.transform[0]):g}",
                 cells=f"{m.get('study_area_cells', 0):,}",
                 free=f"{m.get('eligible_cells', 0):,}",
                 method=_(METHODS.get(method, method.replace("_", " "))),
                 n=search.get("simulations", "?"), seconds=search.get("seconds", "?"),
                 best=fmt(search.get("figure_of_merit"), "ratio")), className="muted"),
        html.P(drivers_line(report), className="muted"),
        *runs_line(board, report),
        *[html.P([_("Note:") + " ", html.Span(note, lang="en")], className="muted")
          for note in m.get("notes", [])]])




def runs_line(board: Dashboard, report: Calibration) -> list[html.P]:
    """The scenario runs on the dashboard made from this calibrated model (as their
    manifests record it), so a reader sees which scenarios stand on it."""
    here = str(report.path.resolve())
    labels = [board.label(run) for run in board.runs
              if (run_calibration(run.manifest) or {}).get("path") == here]
    if not labels:
        return []
    return [html.P(id="calibration-runs", children=[
        html.Strong(ui().gettext("Scenario runs on this calibrated model:") + " "),
        ", ".join(labels), "."])]


def drivers_line(report: Calibration) -> str:
    """The suitability's drivers and the folder(s) their rasters came from (names only: the
    page shows no server path)."""
    _ = ui().gettext
    drivers = report.parameters.get("suitability", {}).get("drivers", [])
    names, folders = [], []
    for d in drivers:
        path = d.get("path")
        names.append(d["name"] + (f" ({Path(path).name})" if path else
                                  " (" + _("derived") + ")"))
        if path and Path(path).parent.name not in folders:
            folders.append(Path(path).parent.name)
    text = _("Drivers: {names}", names=", ".join(names) or _("none"))
    return text + (_("; from {folders}.", folders=", ".join(folders)) if folders else ".")


def metrics_table(board: Dashboard, k: Any, period: Any) -> html.Table:
    """Every overall metric of the model and the two null models (cells carry their value)."""
    t = ui()
    report = _report(board, k)[1]
    period = _period(report, period)
    overall = {name: report.overall(period, name) for name in MODELS}
    head = html.Tr([html.Th(t.gettext("Metric"))] + [html.Th(
        [html.Span(className="swatch", style={"background": MODEL_COLOURS[name]}),
         t.gettext(MODEL_WORDS[name])], className="num") for name in MODELS])
    body = [html.Tr(**{"data-metric": key}, children=[html.Td(t.gettext(label))] + [
        html.Td(fmt(overall[name].get(key), kind), className="num",
                **{"data-model": name, "data-value": repr(overall[name].get(key))})
        for name in MODELS]) for key, label, kind in ROWS]
    return html.Table(id="calibration-metrics", className="table calibration-table",
                      children=[html.Thead(head), html.Tbody(body)])


def class_word(code: Any) -> str:
    return ui().gettext("class {code}", code=code)


def class_table(board: Dashboard, k: Any, period: Any) -> html.Table:
    """The model per class (binary: the class against the rest), with the random null's FoM
    and the suitability's held-out AUC."""
    _ = ui().gettext
    report = _report(board, k)[1]
    period = _period(report, period)
    model, random = report.per_class(period), report.per_class(period, "null_random")
    auc = report.metrics["suitability"].get("auc", {})
    head = html.Tr([html.Th(_("Class"))] + [html.Th(_(label), className="num")
                                            for _k, label, _kind in CLASS_COLUMNS]
                   + [html.Th(_("FoM random"), className="num"),
                      html.Th(_("suitability AUC"), className="num")])
    body = []
    for code, row in model.items():
        body.append(html.Tr(**{"data-class": code, "data-fom": repr(row["figure_of_merit"])},
                            children=[html.Td(class_word(code))] + [
            html.Td(fmt(row.get(key), kind), className="num")
            for key, _label, kind in CLASS_COLUMNS] + [
            html.Td(fmt(random.get(code, {}).get("figure_of_merit"), "ratio"),
                    className="num"),
            html.Td(fmt(auc.get(code), "ratio"), className="num")]))
    return html.Table(id="calibration-classes", className="table calibration-table",
                      children=[html.Thead(head), html.Tbody(body)])


def map_view(board: Dashboard, k: Any, period: Any, kind: Any) -> tuple[Any, html.P]:
    """The agreement map (or the simulated map) and a sentence with the category counts,
    counted from the GeoTIFF (they are the metrics' hits, misses...)."""
    _ = ui().gettext
    report = _report(board, k)[1]
    period = _period(report, period)
    a, b = report.years(period)
    agreement = report.map(period, "agreement")
    counts = agreement_counts(agreement)
    if kind == "simulated":
        fig = class_map_figure(report.map(period, "simulated"), report.grid, report.codes,
                               title=_("Simulated land use {year} ({period})", year=b,
                                       period=period_word(period)),
                               class_label=class_word, legend_title=_("Class"))
    else:
        fig = agreement_figure(agreement, report.grid,
                               title=_("Simulated against observed change, {first}\u2013{last}",
                                       first=a, last=b))
    text = html.P(id="agreement-summary", className="diff-summary", **{
        f"data-{KEYS[code]}": n for code, n in counts.items()}, children=[
        html.Span([html.Span(className="swatch", style={"background": AGREEMENT_COLOURS[c]}),
                   f" {counts[c]:,} " + _(PLURALS[c] if counts[c] != 1 else CATEGORY_WORDS[c])],
                  className="agreement-count", title=_(CATEGORY_WORDS[c]))
        for c in (1, 2, 3, 4, 0)])
    return fig, text




def parameters_table(board: Dashboard, k: Any) -> html.Table:
    """The fitted CA parameters (``parameters.yaml``)."""
    t = ui()
    ca = _report(board, k)[1].parameters.get("ca", {})

    def show(value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    def name(key: str) -> Any:
        words = PARAMETERS.get(key)
        return t.gettext(words) if words else html.Span(key.replace("_", " "), lang="en")

    return html.Table(id="calibration-parameters", className="table", children=[
        html.Tbody([html.Tr([html.Td(name(key)), html.Td(show(value), className="num")])
                    for key, value in ca.items()])])


def figure_words() -> dict[str, str]:
    """The words of the calibration charts (viz.accuracy) in the page's language."""
    _ = ui().gettext
    return {key: _(text) for key, text in FIGURE_WORDS.items()}


def period_options(report: Calibration) -> list[dict[str, str]]:
    return [{"label": f" {period_word(p)}", "value": p} for p in report.periods]


def layout(board: Dashboard) -> list[Any]:
    _ = ui().gettext
    report = _report(board, 0)[1]
    options = [{"label": report_title(c), "value": i} for i, c in enumerate(board.calibrations)]
    return [
        panel(_("Land-use calibration"), html.Div(id="calibration-summary-box"),
              graph("calibration-comparison", 330),
              html.Details([html.Summary(_("Every metric, model and null models")),
                            html.Div(id="calibration-metrics-box")]),
              head=html.Div(className="calibration-controls", children=[
                  dcc.Dropdown(id="calibration-report", options=options, value=0,
                               clearable=False, searchable=False,
                               style=None if len(options) > 1 else {"display": "none"}),
                  dcc.RadioItems(id="calibration-period", className="toggle", inline=True,
                                 options=period_options(report),
                                 value=report.periods[-1])])),
        panel(_("Per class"), html.Div(id="calibration-classes-box", className="table-scroll"),
              html.P(_("Each class against the rest: hits are cells that became the class as "
                       "observed, false alarms cells simulated to become it that did not; the "
                       "AUC is the suitability model's on held-out cells."),
                     className="caption")),
        html.Div(className="calibration-pair", children=[
            panel(_("Hits, misses and false alarms"), graph("calibration-map", 520),
                  html.Div(id="agreement-summary-box"),
                  head=dcc.RadioItems(id="calibration-map-kind", className="toggle",
                                      inline=True, value="agreement", options=[
                                          {"label": " " + _("Agreement"), "value": "agreement"},
                                          {"label": " " + _("Simulated map"),
                                           "value": "simulated"}])),
            panel(_("Drivers of suitability"), graph("calibration-drivers", 300)),
        ]),
        html.Div(className="calibration-pair", children=[
            panel(_("Calibration search"), graph("calibration-convergence", 280),
                  html.P(_("Differential evolution maximising the calibration period's Figure "
                           "of Merit; each dot is one simulation."), className="caption")),
            panel(_("Fitted parameters"), html.Div(id="calibration-parameters-box")),
        ]),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("calibration-period", "options"), Output("calibration-period", "value"),
                  Input("calibration-report", "value"), prevent_initial_call=True)
    def _on_report(k):
        report = _report(board, k)[1]
        return period_options(report), report.periods[-1]

    @app.callback(Output("calibration-summary-box", "children"),
                  Output("calibration-comparison", "figure"),
                  Output("calibration-metrics-box", "children"),
                  Output("calibration-classes-box", "children"),
                  shown(KEY), Input("calibration-report", "value"),
                  Input("calibration-period", "value"))
    def _on_period(tab, k, period):
        active(tab, KEY)
        report = _report(board, k)[1]
        p = _period(report, period)
        overall = {name: report.overall(p, name) for name in MODELS}
        labels = {name: ui().gettext(words) for name, words in MODEL_WORDS.items()}
        return (summary(board, k, p), comparison_figure(overall, labels, words=figure_words()),
                metrics_table(board, k, p), class_table(board, k, p))

    @app.callback(Output("calibration-map", "figure"), Output("agreement-summary-box",
                                                              "children"),
                  shown(KEY), Input("calibration-report", "value"),
                  Input("calibration-period", "value"), Input("calibration-map-kind", "value"))
    def _on_map(tab, k, period, kind):
        active(tab, KEY)
        return map_view(board, k, period, kind)

    @app.callback(Output("calibration-convergence", "figure"),
                  Output("calibration-drivers", "figure"),
                  Output("calibration-parameters-box", "children"),
                  shown(KEY), Input("calibration-report", "value"))
    def _on_search(tab, k):
        active(tab, KEY)
        report = _report(board, k)[1]
        words = figure_words()
        return (convergence_figure(report.convergence, words=words),
                contributions_figure(report.contributions,
                                     report.metrics["suitability"].get("auc"), words=words),
                parameters_table(board, k))

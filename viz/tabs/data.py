"""Data sources tab: which source layers are real and which synthetic (from the TIM's
manifest), what produced each run, and every other folder the dashboard reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dash import html

from scenarios.i18n import scenario_text
from viz import fragments
from viz.i18n import ui
from viz.tabs.calibration import METHODS, report_title
from viz.tabs.ensemble import executor_words

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard

KEY = "data"


def _(message: str) -> str:
    """Marks a message id for the catalogue; the page translates it when it shows it."""
    return message


#: Source roles and kinds (tim.ingest.catalog) in words.
ROLE_WORDS = {"elevation": _("elevation"), "surface": _("surface model"),
              "land_use": _("land use"), "population": _("population"),
              "buildings": _("building footprints"), "control_lines": _("control lines"),
              "planning_units": _("planning units"), "zoning": _("zoning"),
              "amenities": _("amenities"), "plan": _("plan"), "city_model": _("3D city model"),
              "osm": _("OpenStreetMap"), "points": _("point cloud"), "mesh": _("3D mesh")}
KIND_WORDS = {"raster": _("raster"), "vector": _("vector"), "cityjson": _("CityJSON"),
              "osm": _("OpenStreetMap"), "points": _("point cloud"), "mesh": _("3D mesh"),
              "plan": _("plan")}


def _words(table: dict[str, str], key: str) -> Any:
    """A code in words, or as written (marked as such) when the page has no words for it."""
    words = table.get(key)
    return ui().gettext(words) if words else html.Span(key, lang="en")


def _verbatim(text: str) -> html.Td:
    """A cell showing a source's own text (licence, engine description) as the source wrote
    it: the page does not translate data, it says which language it is in."""
    return html.Td(text, lang="en")


def _kind_label(synthetic: bool | None) -> str:
    return "unknown" if synthetic is None else "synthetic" if synthetic else "real"


def _kind_words(synthetic: bool | None) -> str:
    _ = ui()
    return (_("unknown") if synthetic is None else _("synthetic") if synthetic
            else _("real"))


def public(text: str) -> str:
    """``text`` with every absolute path cut to its last part: the page shows no server path.

    Examples
    --------
    >>> public("run 'a': /srv/twin/runs/base/manifest.json is missing")
    "run 'a': manifest.json is missing"
    """
    return re.sub(r"(?:/[^/\s'\"]+)+/([^/\s'\"]+)", r"\1", str(text))


def _table(head: tuple[str, ...], rows: list[list[Any]]) -> html.Table:
    return html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th(h) for h in head])),
        html.Tbody([html.Tr([c if isinstance(c, html.Td) else html.Td(c) for c in row])
                    for row in rows])])


def inputs(board: Dashboard) -> list[list[Any]]:
    """One row per folder read besides the runs: kind, what, folder name."""
    t = _ = ui()
    rows: list[list[Any]] = []
    for e in board.ensembles:
        rows.append([_("ensemble"), _("{title}: {n} members on {executor}",
                                      title=scenario_text(e.title, t), n=len(e.seeds),
                                      executor=executor_words(e.manifest.get("executor", "?"),
                                                              t)),
                     html.Td(e.path.name, className="path")])
    for h in board.heights:
        rows.append([_("height check"), _("{rules}: {n} violations, {k} corridor(s)",
                                          rules=h.rules_name,
                                          n=h.counts.get("violations", 0), k=len(h.corridors)),
                     html.Td(h.path.name, className="path")])
    for s in board.sightlines:
        rows.append([_("sightlines"), _("{n} lines by the {method} method, {free} free",
                                        n=len(s.lines), method=s.manifest.get("method", "?"),
                                        free=s.visible),
                     html.Td(s.path.name, className="path")])
    for c in board.calibrations:
        search = c.metrics.get("calibration", {})
        rows.append([_("land-use calibration"),
                     _("{title}: {n} simulations, suitability by {method}",
                       title=report_title(c), n=search.get("simulations", "?"),
                       method=_(METHODS.get(c.metrics["suitability"]["method"],
                                            c.metrics["suitability"]["method"]))),
                     html.Td(c.path.name, className="path")])
    if board.tiles is not None:
        t = board.tiles
        rows.append([_("3D tiles"), _("parts: {parts}; overlays: {overlays}",
                                      parts=", ".join(t.parts),
                                      overlays=", ".join(t.overlays) or "-"),
                     html.Td(t.path.name, className="path")])
    return rows


def layout(board: Dashboard) -> list[Any]:
    _ = ui()
    p = board.provenance
    layers = [[_words(ROLE_WORDS, layer.role), html.Td(Path(layer.source).name),
               _words(KIND_WORDS, layer.kind), _verbatim(layer.licence),
               html.Td(html.Span(_kind_words(layer.synthetic),
                                 className=f"badge badge-{_kind_label(layer.synthetic)}"))]
              for layer in p.layers]
    unknown = len(p.layers) - p.real - p.synthetic
    summary = (_("{n} source layers: {real} real, {synthetic} synthetic", n=len(p.layers),
                 real=p.real, synthetic=p.synthetic)
               + (_(", {n} unknown", n=unknown) if unknown else "") + ".")
    runs = [[label, run.name, str(run.manifest.get("seed")),
             f"{run.years[0]}\u2013{run.years[-1]}",
             _verbatim(", ".join(f"{k}: {v}" for k, v in
                                 (run.manifest.get("engines") or {}).items())),
             (run.manifest.get("git_commit") or _("unknown"))[:10],
             html.Td(run.path.name, className="path")]
            for run, label in zip(board.runs, board.labels)]
    extra = inputs(board)
    stores = ", ".join(Path(t).name for t in p.tims) or _("unknown")
    body = [
        html.P(summary, id="data-summary"),
        *[html.P(public(problem), className="problem") for problem in p.problems],
        _table((_("Layer"), _("Source"), _("Kind"), _("Licence"), _("Data")), layers),
        html.P(_("Territory store: {name}", name=stores), className="path"),
        *([html.H2(_("Runs")),
           _table((_("Scenario"), _("Name"), _("Seed"), _("Years"), _("Engines"),
                   _("Commit"), _("Folder")), runs)]
          if runs else []),
        *([html.H2(_("Other inputs")), _table((_("Kind"), _("What"), _("Folder")), extra)]
          if extra else []),
    ]
    return [html.Section(id="data-panel", className="panel data-panel", children=[
        html.H2(_("Data sources")), *fragments.fragment_box("data-sources", body)])]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    """Nothing changes on this tab: its tables are drawn once, by the browser."""
    fragments.register(app, "data-sources")

"""Data sources tab: which source layers are real and which synthetic (from the TIM's
manifest), what produced each run, and every other folder the dashboard reads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dash import html

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard

KEY = "data"


def _kind_label(synthetic: bool | None) -> str:
    return "unknown" if synthetic is None else "synthetic" if synthetic else "real"


def _table(head: tuple[str, ...], rows: list[list[Any]]) -> html.Table:
    return html.Table(className="table", children=[
        html.Thead(html.Tr([html.Th(h) for h in head])),
        html.Tbody([html.Tr([c if isinstance(c, html.Td) else html.Td(c) for c in row])
                    for row in rows])])


def inputs(board: Dashboard) -> list[list[Any]]:
    """One row per folder read besides the runs: kind, what, where."""
    rows: list[list[Any]] = []
    for e in board.ensembles:
        rows.append(["ensemble", f"{e.title}: {len(e.seeds)} members on "
                                 f"{e.manifest.get('executor', '?')}",
                     html.Td(str(e.path), className="path")])
    for h in board.heights:
        rows.append(["height check", f"{h.rules_name}: {h.counts.get('violations', 0)} "
                                     f"violations, {len(h.corridors)} corridor(s)",
                     html.Td(str(h.path), className="path")])
    for s in board.sightlines:
        rows.append(["sightlines", f"{len(s.lines)} lines by the "
                                   f"{s.manifest.get('method', '?')} method, {s.visible} free",
                     html.Td(str(s.path), className="path")])
    for c in board.calibrations:
        search = c.metrics.get("calibration", {})
        rows.append(["land-use calibration", f"{c.title}: {search.get('simulations', '?')} "
                     f"simulations, suitability by {c.metrics['suitability']['method']}",
                     html.Td(str(c.path), className="path")])
    if board.tiles is not None:
        t = board.tiles
        rows.append(["3D tiles", "parts: " + ", ".join(t.parts) + "; overlays: "
                     + (", ".join(t.overlays) or "none"),
                     html.Td(str(t.path), className="path")])
    return rows


def layout(board: Dashboard) -> list[Any]:
    p = board.provenance
    layers = [[layer.role, html.Td(Path(layer.source).name, title=layer.source), layer.kind,
               layer.licence,
               html.Td(html.Span(_kind_label(layer.synthetic),
                                 className=f"badge badge-{_kind_label(layer.synthetic)}"))]
              for layer in p.layers]
    unknown = len(p.layers) - p.real - p.synthetic
    summary = (f"{len(p.layers)} source layers: {p.real} real, {p.synthetic} synthetic"
               + (f", {unknown} unknown" if unknown else "") + ".")
    runs = [[label, run.name, str(run.manifest.get("seed")),
             f"{run.years[0]}\u2013{run.years[-1]}",
             ", ".join(f"{k}: {v}" for k, v in (run.manifest.get("engines") or {}).items()),
             (run.manifest.get("git_commit") or "unknown")[:10],
             html.Td(str(run.path), className="path")]
            for run, label in zip(board.runs, board.labels)]
    extra = inputs(board)
    return [html.Section(id="data-panel", className="panel data-panel", children=[
        html.H2("Data sources"),
        html.P(summary, id="data-summary"),
        *[html.P(problem, className="problem") for problem in p.problems],
        _table(("Layer", "Source", "Kind", "Licence", "Data"), layers),
        html.P(f"Territory store: {', '.join(p.tims) or 'unknown'}", className="path"),
        *([html.H2("Runs"),
           _table(("Scenario", "Name", "Seed", "Years", "Engines", "Commit", "Folder"), runs)]
          if runs else []),
        *([html.H2("Other inputs"), _table(("Kind", "What", "Folder"), extra)]
          if extra else []),
    ])]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    """Nothing changes on this tab."""

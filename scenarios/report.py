"""The comparison report: one HTML document a planning bureau can attach to a decision.

It holds the runs compared (scenario, seed, software versions), the final-year indicator table
with differences from the baseline and warning colours, the warnings, indicator charts over time,
built-up and flood-depth difference maps and each scenario's parameters. Charts are plotly; the
library is written beside the report so it opens offline.
"""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np
import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from scenarios.compare import Comparison

TIMELINE_INDICATORS = ("built_up_area", "population", "farmland_lost", "ecological_land_lost")
STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "info": "#607d8b"}
DIFF_COLOURS = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]


def timeline_figure(comparison: Comparison) -> go.Figure:
    """Small multiples: selected indicators over the simulated years, one line per scenario."""
    fig = make_subplots(rows=1, cols=len(TIMELINE_INDICATORS), subplot_titles=[
        _label(comparison, key) for key in TIMELINE_INDICATORS])
    for i, run in enumerate(comparison.runs):
        df = run.indicators
        for j, key in enumerate(TIMELINE_INDICATORS):
            series = df[df["indicator"] == key]
            fig.add_trace(go.Scatter(x=series["year"], y=series["value"], name=run.name,
                                     legendgroup=run.name, showlegend=j == 0,
                                     line=dict(color=_palette(i))), row=1, col=j + 1)
    fig.update_layout(height=320, margin=dict(l=40, r=20, t=40, b=30))
    return fig


def difference_figure(name: str, baseline: str, diff: np.ndarray) -> go.Figure:
    """A built-up difference map: red = built only in ``name``, blue = only in the baseline."""
    fig = go.Figure(go.Heatmap(z=diff, zmin=-1, zmax=1, colorscale=DIFF_COLOURS,
                               colorbar=dict(tickvals=[-1, 0, 1],
                                             ticktext=[f"only {baseline}", "same",
                                                       f"only {name}"])))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10),
                      title=f"Built-up land, {name} vs {baseline} "
                            f"({int((diff > 0).sum())} cells more, {int((diff < 0).sum())} fewer)")
    return fig


def flood_difference_figure(name: str, baseline: str, diff: np.ndarray) -> go.Figure:
    """Largest surge depth of ``name`` minus the baseline's: red deeper, blue shallower."""
    top = float(np.nanmax(np.abs(diff), initial=0.0)) or 1.0
    fig = go.Figure(go.Heatmap(z=diff, zmin=-top, zmax=top, colorscale=DIFF_COLOURS,
                               colorbar=dict(title="m")))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10),
                      title=f"Flood depth, {name} minus {baseline} "
                            f"({int((diff > 0.01).sum())} cells deeper, "
                            f"{int((diff < -0.01).sum())} shallower)")
    return fig


def _label(comparison: Comparison, key: str) -> str:
    units = comparison.table.set_index("indicator")["unit"]
    unit = units.get(key)
    unit = unit.iloc[0] if hasattr(unit, "iloc") else unit
    return f"{key.replace('_', ' ')} ({unit})"


def _palette(i: int) -> str:
    return ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")[i % 6]


def write_report(comparison: Comparison, directory: Path) -> Path:
    """Write ``report.html`` (and ``plotly.min.js``) into ``directory``."""
    (directory / "plotly.min.js").write_text(get_plotlyjs())
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        str(resources.files("scenarios") / "templates")), autoescape=True)
    base = comparison.baseline
    html = env.get_template("report.html.j2").render(
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        territory=base.manifest["tim"]["name"],
        runs=comparison.runs,
        baseline=base.name,
        table=comparison.table.to_dict("records"),
        warnings=comparison.warnings.to_dict("records"),
        colours=STATUS_COLOURS,
        timeline=timeline_figure(comparison).to_html(full_html=False, include_plotlyjs=False),
        maps=[difference_figure(name, base.name, diff).to_html(full_html=False,
                                                             include_plotlyjs=False)
              for name, diff in comparison.difference_maps.items()]
        + [flood_difference_figure(name, base.name, diff).to_html(full_html=False,
                                                                  include_plotlyjs=False)
           for name, diff in comparison.flood_maps.items()],
        parameters={r.name: yaml.safe_dump(r.manifest["scenario"], sort_keys=False,
                                           allow_unicode=True) for r in comparison.runs},
    )
    path = directory / "report.html"
    path.write_text(html)
    return path

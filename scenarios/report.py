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


DISTRICT_INDICATORS = ("built_up_area", "population", "development_intensity",
                       "construction_land_per_capita", "school_access")


def _listed_warnings(comparison: Comparison) -> list[dict]:
    """One line per scenario, place and indicator: its latest warning and the year it began
    (the full year-by-year list is in warnings.csv)."""
    w = comparison.warnings.copy()
    w["year"] = w["year"].fillna(-1)
    key = ["scenario", "level", "area", "indicator"]
    w["area"] = w["area"].fillna("")
    first = w.groupby(key)["year"].transform("min")
    latest = w.assign(since=first).sort_values("year").groupby(key, sort=False).tail(1)
    severity = latest["status"].map({"red": 0, "yellow": 1})
    order = {r.name: i for i, r in enumerate(comparison.runs)}
    latest = latest.assign(severity=severity, run=latest["scenario"].map(order))
    latest = latest.sort_values(["run", "severity", "level"]).drop(columns=["run"])
    return [{**r, "year": None if r["year"] < 0 else int(r["year"]),
             "since": None if r["since"] < 0 else int(r["since"])}
            for r in latest.to_dict("records")]


def _counts(warnings, name: str) -> dict[str, int]:
    mine = warnings[warnings["scenario"] == name]["status"]
    return {"red": int((mine == "red").sum()), "yellow": int((mine == "yellow").sum())}


def _district_rows(comparison: Comparison) -> list[dict]:
    """One row per district and indicator with each scenario's final-year value and status."""
    tables = {r.name: r.area_indicators for r in comparison.runs}
    if any(t is None for t in tables.values()):
        return []
    rows: dict[tuple, dict] = {}
    for name, table in tables.items():
        last = table[(table["year"] == table["year"].max()) & (table["level"] == "district")
                     & table["indicator"].isin(DISTRICT_INDICATORS)]
        for r in last.itertuples():
            row = rows.setdefault((r.area, r.indicator), {
                "area": r.area, "indicator": r.indicator, "unit": r.unit, "target": r.target,
                "cells": {}})
            row["cells"][name] = {"value": r.value, "status": r.status}
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], DISTRICT_INDICATORS.index(k[1])))]


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
        warnings=_listed_warnings(comparison),
        warning_counts={r.name: _counts(comparison.warnings, r.name) for r in comparison.runs},
        districts=_district_rows(comparison),
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


def print_pdf(html: Path, pdf: Path, *, timeout: float = 180.0) -> Path:
    """Print the report to PDF with headless Chromium (the charts are drawn before printing).

    Raises :class:`tim.errors.TwinError` when no Chromium is installed or printing fails; the
    HTML report stays the reference either way.
    """
    import shutil
    import subprocess

    from tim.errors import TwinError

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)
    if browser is None:
        raise TwinError("PDF needs Chromium (apt-get install chromium); the HTML report is "
                        "written")
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--no-pdf-header-footer",
               "--virtual-time-budget=15000", f"--print-to-pdf={pdf}", html.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        raise TwinError(f"Chromium could not print {html} to PDF: {done.stderr[-500:]}")
    return pdf

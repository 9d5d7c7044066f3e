"""Pure figure builders of the land-use calibration tab: the model's accuracy beside the two
null models, the agreement map (hits, misses, wrong hits, false alarms), the simulated map, the
calibration search and the drivers' contributions. Numbers and arrays in, plotly figures out.

Maps of up to a few thousand cells a side are drawn as one PNG image on the map's km axes
(:func:`image_trace`): a category map must not be thinned by skipping cells, and a PNG of a
million cells is a few hundred kB where a heatmap's JSON would be tens of MB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from scenarios.calibration.report import AGREEMENT_COLOURS
from tim.model import Grid
from viz.figures import FONT, image_trace, legend_square, map_layout

#: The calibrated model and its two null models, in the charts' colours.
MODEL_COLOURS = {"model": "#1565c0", "null_no_change": "#90a4ae", "null_random": "#ffb300"}
#: Class colours of the simulated map (calibration classes have codes, not names).
CLASS_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ff9896", "#98df8a", "#ffbb78",
                 "#c5b0d5", "#c49c94")
#: Longest side (pixels) of a map image; larger maps keep every n-th cell.
MAP_PIXELS = 1200  # (the default of viz.figures.image_trace)
#: Metrics of the comparison chart: (key, higher is better); their labels are in the words.
COMPARED = (("figure_of_merit", True), ("kappa_simulation", True),
            ("quantity_disagreement", False), ("allocation_disagreement", False))
#: The charts' words, English message ids: the page passes them translated (``words=``).
FIGURE_WORDS = {
    "figure_of_merit": "Figure of Merit", "kappa_simulation": "Kappa simulation",
    "quantity_disagreement": "Quantity disagreement",
    "allocation_disagreement": "Allocation disagreement",
    "higher": "Higher is better", "lower": "Lower is better",
    "simulation": "simulation", "best": "best so far",
    "simulation_hover": "simulation {x}: FoM {y}", "best_hover": "after {x}: best {y}",
    "class": "class {code}", "share": "share of the class's suitability (permutation importance)",
    "share_hover": "{x} of the permutation importance, {impurity} of the impurity",
}


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def categorical_rgba(codes: np.ndarray, colours: Mapping[int, str]) -> np.ndarray:
    """RGBA of integer ``codes``; codes without a colour are transparent.

    Examples
    --------
    >>> categorical_rgba(np.array([[0, 1, 255]]), {0: "#000000", 1: "#ff0000"})[0, :, 0]
    array([  0, 255,   0], dtype=uint8)
    """
    out = np.zeros(codes.shape + (4,), np.uint8)
    for code, colour in colours.items():
        mask = codes == code
        out[mask, :3] = _rgb(colour)
        out[mask, 3] = 255
    return out


def agreement_counts(agreement: np.ndarray) -> dict[int, int]:
    """Cells of each agreement category 0-4 (255, outside the study area, not counted).

    Examples
    --------
    >>> agreement_counts(np.array([[0, 1, 1, 4, 255]], np.uint8))
    {0: 1, 1: 2, 2: 0, 3: 0, 4: 1}
    """
    counts = np.bincount(agreement[agreement < 5].ravel(), minlength=5)
    return {k: int(counts[k]) for k in range(5)}


def agreement_figure(agreement: np.ndarray, grid: Grid, *, title: str,
                     height: int = 520) -> go.Figure:
    """The agreement map (:func:`engine.metrics.agreement_map` codes), each category in the
    calibration report's colour (the page keys them with their counts)."""
    fig = go.Figure(image_trace(categorical_rgba(agreement, dict(enumerate(
        AGREEMENT_COLOURS))), grid, "agreement"))
    map_layout(fig, grid, title=title, height=height, uirevision="calibration")
    fig.update_layout(showlegend=False, margin=dict(l=60, r=10, t=48, b=40))
    return fig


def class_map_figure(codes_map: np.ndarray, grid: Grid, codes: Sequence[int], *, title: str,
                     height: int = 520, class_label=lambda code: f"class {code}",
                     legend_title: str = "class") -> go.Figure:
    """A class map (codes, 255 outside) in :data:`CLASS_PALETTE` order of the class codes;
    ``class_label(code)`` names a class in the legend."""
    colours = {int(c): CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, c in enumerate(codes)}
    fig = go.Figure(image_trace(categorical_rgba(codes_map, colours), grid, "classes"))
    for code, colour in colours.items():
        fig.add_trace(legend_square(class_label(code), colour))
    map_layout(fig, grid, title=title, height=height, legend_title=legend_title,
               uirevision="calibration")
    return fig


def comparison_figure(overall: Mapping[str, Mapping[str, float]],
                      labels: Mapping[str, str], *, height: int = 330,
                      words: Mapping[str, str] = FIGURE_WORDS) -> go.Figure:
    """The model beside the no-change and random-allocation null models: FoM and Kappa
    simulation (higher is better) and quantity and allocation disagreement (lower is better).

    ``overall`` maps ``model``, ``null_no_change``, ``null_random`` to their overall metrics.

    Examples
    --------
    >>> m = {"figure_of_merit": 0.1, "kappa_simulation": 0.2, "quantity_disagreement": 0.0,
    ...      "allocation_disagreement": 0.05}
    >>> fig = comparison_figure({"model": m}, {"model": "calibrated model"})
    >>> [list(t.y) for t in fig.data]
    [[0.1, 0.2], [0.0, 0.05]]
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=(words["higher"], words["lower"]))
    for model, metrics in overall.items():
        for col, better in ((1, True), (2, False)):
            keys = [(k, words[k]) for k, up in COMPARED if up is better]
            values = [_number(metrics.get(k)) for k, _ in keys]
            fig.add_trace(go.Bar(
                x=[label for _, label in keys], y=values, name=labels.get(model, model),
                marker_color=MODEL_COLOURS.get(model, "#546e7a"), legendgroup=model,
                showlegend=col == 1, meta=model, texttemplate="%{y:.3f}",
                textposition="outside", cliponaxis=False,
                hovertemplate=f"{labels.get(model, model)}<br>%{{x}}: %{{y:.4f}}<extra></extra>"),
                row=1, col=col)
    fig.update_yaxes(gridcolor="#eceff1", zeroline=True, zerolinecolor="#b0bec5",
                     rangemode="tozero")
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(barmode="group", height=height, margin=dict(l=45, r=10, t=40, b=30),
                      plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
                      font=dict(family=FONT, size=11),
                      legend=dict(orientation="h", x=0.0, y=-0.12, yanchor="top"))
    return fig


def _number(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def convergence_figure(history: pd.DataFrame, *, height: int = 280,
                       words: Mapping[str, str] = FIGURE_WORDS) -> go.Figure:
    """Every simulation of the calibration search (its FoM) and the best so far.

    Examples
    --------
    >>> h = pd.DataFrame({"evaluation": [1, 2, 3], "figure_of_merit": [0.1, 0.3, 0.2],
    ...                   "best": [0.1, 0.3, 0.3]})
    >>> [t.name for t in convergence_figure(h).data]
    ['simulation', 'best so far']
    """
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history["evaluation"], y=history["figure_of_merit"],
                             mode="markers", name=words["simulation"],
                             marker=dict(size=5, color="#90a4ae", opacity=0.7),
                             hovertemplate=words["simulation_hover"].format(
                                 x="%{x}", y="%{y:.4f}") + "<extra></extra>"))
    fig.add_trace(go.Scatter(x=history["evaluation"], y=history["best"], mode="lines",
                             name=words["best"], line=dict(color=MODEL_COLOURS["model"],
                                                           width=2.5, shape="hv"),
                             hovertemplate=words["best_hover"].format(
                                 x="%{x}", y="%{y:.4f}") + "<extra></extra>"))
    fig.update_xaxes(title_text=words["simulation"], showgrid=False)
    fig.update_yaxes(title_text=words["figure_of_merit"], gridcolor="#eceff1", zeroline=False)
    fig.update_layout(height=height, margin=dict(l=55, r=10, t=10, b=40),
                      plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
                      font=dict(family=FONT, size=11),
                      legend=dict(orientation="h", x=0.0, y=1.02, yanchor="bottom"))
    return fig


def contributions_figure(table: pd.DataFrame, auc: Mapping[str, float] | None = None, *,
                         height: int | None = None,
                         words: Mapping[str, str] = FIGURE_WORDS) -> go.Figure:
    """The drivers' share of each class's suitability (permutation importance; the forest's
    impurity share in the hover), one bar group per driver, one colour per class.

    ``table`` has the columns of ``driver_contributions.csv``; ``auc`` (class -> held-out
    AUC) goes into the legend.

    Examples
    --------
    >>> t = pd.DataFrame({"class": [1, 1], "driver": ["slope", "dem"],
    ...                   "permutation_share": [0.25, 0.75], "impurity_share": [0.5, 0.5]})
    >>> fig = contributions_figure(t, {"1": 0.8})
    >>> fig.data[0].name, [float(v) for v in fig.data[0].x]
    ('class 1 (AUC 0.80)', [0.25, 0.75])
    """
    drivers = list(dict.fromkeys(table["driver"]))
    fig = go.Figure()
    for i, (code, rows) in enumerate(table.groupby("class", sort=True)):
        rows = rows.set_index("driver").reindex(drivers)
        name = words["class"].format(code=code)
        if auc and str(code) in auc and auc[str(code)] is not None:
            name += f" (AUC {auc[str(code)]:.2f})"
        impurity = rows["impurity_share"] if "impurity_share" in rows else \
            pd.Series(np.nan, index=rows.index)
        fig.add_trace(go.Bar(
            y=drivers, x=rows["permutation_share"], orientation="h", name=name,
            marker_color=CLASS_PALETTE[i % len(CLASS_PALETTE)],
            customdata=impurity.to_numpy(), meta=str(code),
            hovertemplate=f"{name}<br>%{{y}}: " + words["share_hover"].format(
                x="%{x:.0%}", impurity="%{customdata:.0%}") + "<extra></extra>"))
    fig.update_xaxes(title_text=words["share"],
                     tickformat=".0%", gridcolor="#eceff1", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(barmode="group", height=height or 120 + 28 * len(drivers) * max(
        1, table["class"].nunique()) // 2, margin=dict(l=10, r=10, t=10, b=40),
        plot_bgcolor="#ffffff", paper_bgcolor="#ffffff", font=dict(family=FONT, size=11),
        legend=dict(orientation="h", x=0.0, y=1.02, yanchor="bottom"))
    fig.update_yaxes(automargin=True)
    return fig

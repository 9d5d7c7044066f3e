"""Pure builders of the dashboard's analysis maps: scenario differences, development
probability, height limits. Arrays in, plotly figures or RGBA images out.

Each map has a 2D figure (plotly) and an RGBA image the 3D view drapes over the terrain
(:mod:`viz.cesium`), built from the same colours, so both views and their legends agree. The
common frame (north up, km axes, equal scale) is :func:`viz.figures.map_layout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from tim.model import ClassTable, Grid
from viz.figures import (decimate, grid_axes_km, image_trace, legend_square, map_layout,
                          ramp_colours)
from viz.i18n import ui

#: Built-up difference categories: (code, colour). Code 0 (built in neither) is left blank.
DIFF_BOTH = 1
DIFF_ONLY_A = 2
DIFF_ONLY_B = 3
DIFF_COLOURS = {DIFF_BOTH: "#b0bec5", DIFF_ONLY_A: "#37474f", DIFF_ONLY_B: "#ef6c00"}
#: Development probability: share of ensemble members, white to deep purple.
PROBABILITY_RAMP = ((0.0, "#fcfbfd"), (0.25, "#dadaeb"), (0.5, "#9e9ac8"), (0.75, "#6a51a3"),
                    (1.0, "#3f007d"))
#: Allowed height above the ground (m): low limits warm (tight), high limits cool (loose).
HEIGHT_LIMIT_RAMP = ((0.0, "#b2182b"), (0.15, "#ef8a62"), (0.35, "#fddbc7"),
                     (0.6, "#d1e5f0"), (0.8, "#67a9cf"), (1.0, "#2166ac"))
#: Hours in shadow on the ground (twin sunlight): light in the sun, dark in shadow.
SHADOW_RAMP = ((0.0, "#fff8e1"), (0.5, "#90a4ae"), (1.0, "#263238"))
#: Land the difference and probability maps are drawn over: the land use, washed out.
BACKDROP_LIGHTEN = 0.8


@dataclass(frozen=True)
class BuiltDifference:
    """Built-up land of two scenarios in one year, cell by cell.

    ``codes`` holds :data:`DIFF_BOTH`, :data:`DIFF_ONLY_A`, :data:`DIFF_ONLY_B` or 0; the
    areas are in hectares.
    """

    codes: np.ndarray
    only_a_ha: float
    only_b_ha: float
    both_ha: float
    only_a_cells: int
    only_b_cells: int


def built_difference(land_use_a: np.ndarray, land_use_b: np.ndarray, classes: ClassTable,
                     grid: Grid) -> BuiltDifference:
    """Where scenario A is built up and B is not, and the reverse.

    Examples
    --------
    >>> from tim.classes import DEFAULT_CLASSES as C
    >>> g = Grid("EPSG:4548", (100.0, 0, 510000.0, 0, -100.0, 2710000.0), (1, 3))
    >>> b, f = C.built.code, next(c.code for c in C if c.group == "farmland")
    >>> d = built_difference(np.array([[b, b, f]], np.uint8), np.array([[b, f, b]], np.uint8),
    ...                      C, g)
    >>> d.codes.tolist(), d.only_a_ha, d.only_b_ha
    ([[1, 2, 3]], 1.0, 1.0)
    """
    if land_use_a.shape != grid.shape or land_use_b.shape != grid.shape:
        raise ValueError(f"land use of shapes {land_use_a.shape}, {land_use_b.shape} is not "
                         f"on the grid {grid.shape}")
    built = classes.built.code
    a, b = land_use_a == built, land_use_b == built
    codes = np.zeros(grid.shape, dtype=np.uint8)
    codes[a & b], codes[a & ~b], codes[~a & b] = DIFF_BOTH, DIFF_ONLY_A, DIFF_ONLY_B
    hectares = grid.cell_area / 10_000.0
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return BuiltDifference(codes, only_a * hectares, only_b * hectares,
                           float((a & b).sum()) * hectares, only_a, only_b)


def diff_colours(colours: tuple[str, str] | None = None) -> dict[int, str]:
    """Category colours; ``colours`` gives scenario A's and B's (their timeline colours)."""
    if colours is None:
        return dict(DIFF_COLOURS)
    return {DIFF_BOTH: DIFF_COLOURS[DIFF_BOTH], DIFF_ONLY_A: colours[0],
            DIFF_ONLY_B: colours[1]}


def difference_figure(diff: BuiltDifference, grid: Grid, labels: tuple[str, str], year: int,
                      *, colours: tuple[str, str] | None = None,
                      backdrop: np.ndarray | None = None, max_cells: int = 480,
                      height: int = 420, uirevision: str | None = None) -> go.Figure:
    """The built-up difference of scenarios A and B (labels) in ``year`` as a map.

    ``colours`` are A's and B's colours (default :data:`DIFF_COLOURS`). ``backdrop`` is an
    RGBA image of the land (e.g. :func:`viz.figures.land_use_rgba` of A, lightened) drawn
    under the difference, so that the changes can be placed.
    """
    palette = diff_colours(colours)
    t = ui()
    _ = t.gettext
    # One PNG (the categories painted over the backdrop): a few kB where a heatmap with a
    # hover text per cell was more than a MB; the legend names the colours.
    fig = go.Figure(image_trace(
        difference_rgba(diff, backdrop, colours), grid, "built-up difference",
        max_pixels=max_cells, hover=_("E %{x:.2f} km, N %{y:.2f} km") + "<extra></extra>"))
    fig.add_trace(legend_square(_("built up in both: {area}", area=t.area(diff.both_ha, digits=0)),
                                palette[DIFF_BOTH]))
    fig.add_trace(legend_square(_("only in A: {area}", area=t.area(diff.only_a_ha, digits=1)),
                                palette[DIFF_ONLY_A]))
    fig.add_trace(legend_square(_("only in B: {area}", area=t.area(diff.only_b_ha, digits=1)),
                                palette[DIFF_ONLY_B]))
    map_layout(fig, grid, title=_("Built up in one scenario but not the other, {year}",
                                  year=year),
               height=height, legend_title=_("A vs B"), uirevision=uirevision)
    fig.update_layout(legend=dict(orientation="h", x=0.0, xanchor="left", y=-0.16,
                                  yanchor="top"), margin=dict(l=60, r=20, t=48, b=80))
    return fig


def difference_rgba(diff: BuiltDifference, backdrop: np.ndarray | None = None,
                    colours: tuple[str, str] | None = None) -> np.ndarray:
    """The difference as an RGBA image (for the 3D drape): categories over ``backdrop``."""
    out = np.zeros(diff.codes.shape + (4,), np.uint8) if backdrop is None else backdrop.copy()
    for code, colour in diff_colours(colours).items():
        mask = diff.codes == code
        out[mask, :3] = _rgb(colour)
        out[mask, 3] = 255
    return out


def _rgb(colour: str) -> list[int]:
    colour = colour.lstrip("#")
    return [int(colour[i:i + 2], 16) for i in (0, 2, 4)]


def height_scale(values: np.ndarray) -> float:
    """Top of the colour scale of a height-limit map: the 99th percentile of its finite values
    (a few very loose cells, e.g. far up a corridor, would wash out the rest), at least 1 m.

    Examples
    --------
    >>> height_scale(np.array([np.nan, 10.0, 20.0])), height_scale(np.array([np.nan]))
    (19.9, 1.0)
    """
    finite = values[np.isfinite(values)]
    return max(float(np.percentile(finite, 99)), 1.0) if finite.size else 1.0


def continuous_rgba(values: np.ndarray, ramp: Sequence[tuple[float, str]], vmin: float,
                    vmax: float, *, alpha: int = 255, backdrop: np.ndarray | None = None,
                    skip: np.ndarray | None = None, opacity: float = 1.0) -> np.ndarray:
    """RGBA of ``values`` on ``ramp`` between ``vmin`` and ``vmax``; NaN (and ``skip``) cells
    show ``backdrop`` (or stay transparent). ``opacity`` < 1 mixes the ramp colour with the
    backdrop under it (one image for the 3D drape: the land stays readable under the values).

    Examples
    --------
    >>> img = continuous_rgba(np.array([[0.0, np.nan, 1.0]]),
    ...                       ((0.0, "#000000"), (1.0, "#ffffff")), 0.0, 1.0)
    >>> img[0, :, 0].tolist(), img[0, :, 3].tolist()
    ([0, 0, 255], [255, 0, 255])
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(values.shape + (4,), np.uint8) if backdrop is None else backdrop.copy()
    shown = np.isfinite(values)
    if skip is not None:
        shown &= ~skip
    span = vmax - vmin if vmax > vmin else 1.0
    colours = ramp_colours((values[shown] - vmin) / span, ramp).astype(np.float64)
    if backdrop is not None and opacity < 1.0:
        colours = opacity * colours + (1.0 - opacity) * backdrop[shown, :3]
    out[shown, :3] = np.rint(colours).astype(np.uint8)
    out[shown, 3] = alpha
    return out


def raster_figure(values: np.ndarray, grid: Grid, *, title: str, ramp: Sequence[tuple[float,
                  str]], vmin: float, vmax: float, colorbar: str, hover: str,
                  backdrop: np.ndarray | None = None, skip: np.ndarray | None = None,
                  max_cells: int = 480, height: int = 460, uirevision: str | None = None
                  ) -> go.Figure:
    """A continuous raster (NaN = no value) as a map with a colour bar, over ``backdrop``.

    ``hover`` is a plotly hover template for one cell's value (``%{z}``); ``skip`` masks
    cells not to colour (e.g. probability 0, drawn as the backdrop).
    """
    values = np.asarray(values, dtype=np.float32)
    if values.shape != grid.shape:
        raise ValueError(f"raster of shape {values.shape} is not on the grid {grid.shape}")
    shown = np.where(np.isfinite(values) & (True if skip is None else ~skip), values, np.nan)
    sub, step = decimate(shown, max_cells)
    xs, ys = grid_axes_km(grid, step)
    fig = go.Figure()
    if backdrop is not None:
        fig.add_trace(image_trace(backdrop, grid, "land use", max_pixels=max_cells))
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, z=sub[::-1], zmin=vmin, zmax=vmax, colorscale=[[s, c] for s, c in ramp],
        zsmooth=False, name=colorbar,
        hovertemplate=ui().gettext("E %{x:.2f} km, N %{y:.2f} km") + f"<br>{hover}<extra></extra>",
        colorbar=dict(title=dict(text=colorbar, side="right"), thickness=12, len=0.75)))
    map_layout(fig, grid, title=title, height=height, uirevision=uirevision)
    return fig


def outline_traces(lines: Sequence[tuple[str, np.ndarray, str, str]]) -> list[go.Scatter]:
    """Map outlines: ``(name, (n, 2) eastings/northings in metres, colour, dash)`` each, drawn
    as lines in km (rules, corridors); one legend entry per name."""
    traces, seen = [], set()
    for name, xy, colour, dash in lines:
        xy = np.asarray(xy, dtype=float)
        traces.append(go.Scatter(
            x=xy[:, 0] / 1000.0, y=xy[:, 1] / 1000.0, mode="lines", name=name,
            legendgroup=name, showlegend=name not in seen,
            line=dict(color=colour, width=2, dash=dash), hoverinfo="name"))
        seen.add(name)
    return traces


def marker_traces(points: Sequence[tuple[str, float, float, str, str]]) -> list[go.Scatter]:
    """Labelled points ``(label, x, y (m), colour, symbol)`` on a map."""
    return [go.Scatter(x=[x / 1000.0], y=[y / 1000.0], mode="markers+text", name=label,
                       text=[label], textposition="top center", showlegend=False,
                       marker=dict(color=colour, size=11, symbol=symbol,
                                   line=dict(color="#ffffff", width=1.5)),
                       textfont=dict(size=11, color="#263238"), hoverinfo="text")
            for label, x, y, colour, symbol in points]

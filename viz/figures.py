"""Pure figure builders of the dashboard: arrays and tables in, plotly figures (or RGBA images) out.

Nothing here reads files or knows about Dash, so every figure can be built and checked in a unit
test without a server or a browser. Colours shared by the 2D map, the 3D view and their legends
(status colours, run colours, the flood-depth ramp) are defined once here.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tim.classes import localized
from tim.model import ClassTable, Grid
from viz.i18n import ui

#: Card and chart colours of the indicator statuses (see ``scenarios/indicators.yaml``).
STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "info": "#546e7a"}
#: What a status means, in words, so that colour is never the only cue.
STATUS_LABELS = {"green": "within target", "yellow": "warning", "red": "beyond limit",
                 "info": "for information"}
#: One colour per run, in the order the runs were given (the baseline first, in dark grey).
RUN_COLOURS = ("#37474f", "#ef6c00", "#1565c0", "#6a1b9a", "#00897b", "#c2185b", "#7cb342")
#: Flood water depth ramp as (fraction of the maximum depth, colour): light to dark blue.
FLOOD_RAMP = ((0.0, "#c6dbef"), (0.25, "#6baed6"), (0.5, "#2171b5"), (1.0, "#08306b"))
#: Flooded buildings by depth: pink to deep magenta, a hue no other layer uses (new buildings
#: are orange and crimson, heights blue, height violations yellow to purple, water blue).
BUILDING_FLOOD_RAMP = ((0.0, "#fcc5c0"), (0.3, "#f768a1"), (0.65, "#ae017e"),
                       (1.0, "#49006a"))
#: The sea where flood water is drawn: neutral, so that the depth ramp reads on land only.
NEUTRAL_SEA = "#d5dbe0"
#: Building height ramp (fraction of the height range, colour): cool colours, so that the
#: buildings stand out of the (warm) built-up land under them.
HEIGHT_RAMP = ((0.0, "#e0f3f8"), (0.3, "#91bfdb"), (0.65, "#4575b4"), (1.0, "#313695"))
#: Buildings untouched by the flood, in the flood view.
DRY_COLOUR = "#f5f5f5"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans CJK SC', sans-serif"


def run_colour(index: int) -> str:
    """The colour of the ``index``-th run (cycles after seven runs)."""
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def decimate(values: np.ndarray, max_cells: int) -> tuple[np.ndarray, int]:
    """Every ``step``-th row and column of ``values``, so that neither side exceeds ``max_cells``.

    Nearest-cell subsampling, not averaging: class codes must stay class codes. A browser map
    of more than a few hundred cells a side only adds bytes, not detail.

    Parameters
    ----------
    values : ndarray, shape (rows, cols)
    max_cells : int
        Largest number of rows or columns kept (>= 1).

    Returns
    -------
    subsampled : ndarray
    step : int
        The stride used (1 when nothing was dropped).

    Examples
    --------
    >>> sub, step = decimate(np.arange(100).reshape(10, 10), 4)
    >>> sub.shape, step
    ((4, 4), 3)
    """
    if max_cells < 1:
        raise ValueError("max_cells must be at least 1")
    step = max(1, int(np.ceil(max(values.shape) / max_cells)))
    return values[::step, ::step], step


def class_colorscale(classes: ClassTable) -> tuple[list[list], float, float]:
    """A stepped plotly colorscale that paints each class code in its class colour.

    Codes between the table's classes (unused codes) get white. Returns the colorscale and the
    ``zmin``/``zmax`` it is made for (half a code beyond the lowest and highest code, so that
    each integer code sits in the middle of its own band).

    Examples
    --------
    >>> from tim.model import LandUseClass
    >>> table = ClassTable((LandUseClass(1, "a", "#ff0000", "farmland", True),
    ...                     LandUseClass(3, "b", "#00ff00", "built", False)))
    >>> scale, zmin, zmax = class_colorscale(table)
    >>> zmin, zmax, scale[0], scale[-1]
    (0.5, 3.5, [0.0, '#ff0000'], [1.0, '#00ff00'])
    """
    colours = {c.code: c.colour for c in classes}
    lo, hi = min(colours), max(colours)
    zmin, zmax = lo - 0.5, hi + 0.5
    n = hi - lo + 1
    scale: list[list] = []
    for i, code in enumerate(range(lo, hi + 1)):
        colour = colours.get(code, "#ffffff")
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    return scale, zmin, zmax


def _hex_to_rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)


def ramp_colours(fractions: np.ndarray, ramp: Sequence[tuple[float, str]]) -> np.ndarray:
    """RGB (uint8, shape (..., 3)) of ``fractions`` in [0, 1] on a piecewise-linear ``ramp``.

    The same interpolation runs in the browser (``viz/assets/twin3d.js``), so the 3D view, the
    2D overlay and the legends agree.

    Examples
    --------
    >>> ramp_colours(np.array([0.0, 0.5, 1.0]), ((0.0, "#000000"), (1.0, "#ffffff")))[:, 0]
    array([  0, 128, 255], dtype=uint8)
    """
    stops = np.array([s for s, _ in ramp])
    rgb = np.stack([_hex_to_rgb(c) for _, c in ramp])
    f = np.clip(np.asarray(fractions, dtype=np.float64), 0.0, 1.0)
    channels = [np.interp(f, stops, rgb[:, k]) for k in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def neutral_sea(classes: ClassTable) -> ClassTable:
    """``classes`` with the sea group drawn in :data:`NEUTRAL_SEA` (for maps with flood water:
    a blue depth ramp on a blue sea cannot be read)."""
    import dataclasses

    return ClassTable(tuple(dataclasses.replace(c, colour=NEUTRAL_SEA) if c.group == "sea"
                            else c for c in classes))


def land_use_rgba(land_use: np.ndarray, classes: ClassTable, *, nodata: int = 255,
                  water_depth: np.ndarray | None = None, max_depth: float | None = None,
                  alpha: int = 255, lighten: float = 0.0) -> np.ndarray:
    """An RGBA image (uint8, rows x cols x 4) of a land-use grid, flooded cells painted over.

    Used for the land-use drape of the 3D view. Nodata and unknown codes are transparent.
    Cells with a finite ``water_depth`` > 0 take the flood ramp colour of their depth relative
    to ``max_depth`` (default: the largest depth shown). ``lighten`` mixes the class colours
    (not the water) with white, by that fraction, so that buildings drawn on top stand out.

    Examples
    --------
    >>> from tim.classes import DEFAULT_CLASSES
    >>> img = land_use_rgba(np.array([[DEFAULT_CLASSES.built.code, 255]], np.uint8),
    ...                     DEFAULT_CLASSES)
    >>> img.shape, int(img[0, 1, 3])
    ((1, 2, 4), 0)
    """
    out = np.zeros(land_use.shape + (4,), dtype=np.uint8)
    if water_depth is not None:
        classes = neutral_sea(classes)
    for c in classes:
        mask = land_use == c.code
        rgb = _hex_to_rgb(c.colour)
        out[mask, :3] = np.rint(rgb + (255.0 - rgb) * lighten).astype(np.uint8)
        out[mask, 3] = alpha
    out[land_use == nodata, 3] = 0
    if water_depth is not None:
        wet = np.isfinite(water_depth) & (water_depth > 0)
        if wet.any():
            top = float(max_depth) if max_depth else float(water_depth[wet].max())
            out[wet, :3] = ramp_colours(water_depth[wet] / top, FLOOD_RAMP)
            out[wet, 3] = alpha
    return out


def image_trace(rgba: np.ndarray, grid: Grid, name: str, *, max_pixels: int = 1200,
                hover: str | None = None) -> go.Image:
    """An RGBA array on ``grid`` as one PNG image on the map's km axes (north up).

    A PNG of the map is a few kB where a heatmap's JSON (or an image's ``z``) is hundreds:
    the browser gets the map sooner and draws it faster. Grids longer than ``max_pixels`` on
    a side keep every n-th cell (as :func:`decimate`). ``hover`` is a hover template (E/N of
    the pointer; clicks then give the point, e.g. for a query); without it the image ignores
    the pointer.
    """
    from PIL import Image

    sub, step = decimate(rgba, max_pixels)
    buffer = io.BytesIO()
    # Rows run north to south; the image's first row is drawn at y0 upwards, so flip them.
    Image.fromarray(np.ascontiguousarray(sub[::-1])).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    a, _, c, _, e, f = grid.transform[:6]
    rows = rgba.shape[0]
    return go.Image(source=uri, x0=(c + 0.5 * a * step) / 1000.0,
                    y0=(f + e * (rows - 0.5 * step)) / 1000.0, dx=a * step / 1000.0,
                    dy=-e * step / 1000.0, name=name, meta=name,
                    hoverinfo="skip" if hover is None else None, hovertemplate=hover)


def land_use_image(land_use: np.ndarray, grid: Grid, classes: ClassTable, *,
                   nodata: int = 255, max_cells: int = 480) -> go.Image:
    """The land use as the image of a map (:func:`image_trace`, class colours, nodata clear);
    the pointer reads eastings and northings, a click gives the point (e.g. for a query)."""
    t = ui()
    values, step = decimate(land_use, max_cells)
    # Decimated before colouring (a large grid costs its thinned cells only); the trace is
    # placed with the same stride.
    rgba = land_use_rgba(values, classes, nodata=nodata)
    return image_trace(rgba, _thinned(grid, step), "land use", max_pixels=max(rgba.shape),
                       hover=t.gettext("E %{x:.2f} km, N %{y:.2f} km") + "<extra></extra>")


def _thinned(grid: Grid, step: int) -> Grid:
    """``grid`` with every ``step``-th cell (cells ``step`` times larger, same corner)."""
    if step == 1:
        return grid
    a, b, c, d, e, f = grid.transform[:6]
    rows, cols = grid.shape
    return Grid(grid.crs, (a * step, b, c, d, e * step, f), (-(-rows // step), -(-cols // step)))


def land_use_figure(land_use: np.ndarray, grid: Grid, classes: ClassTable, *, title: str,
                    water_depth: np.ndarray | None = None, nodata: int = 255,
                    max_cells: int = 480, height: int = 520, legend: bool = True,
                    uirevision: str | None = None, depth_max: float | None = None
                    ) -> go.Figure:
    """The land use of one year as a north-up map, class colours and a legend of class names.

    Axes are eastings and northings in kilometres of the grid's CRS with equal scale, so the
    ticks double as a scale bar. No background tiles are drawn: the map works offline.

    Parameters
    ----------
    land_use : ndarray of uint8, shape ``grid.shape``
        Class codes; ``nodata`` cells are left blank.
    grid : Grid
        Where the cells are (north-up, see :class:`tim.model.Grid`).
    classes : ClassTable
        Codes, names and colours.
    title : str
        Figure title (the dashboard puts the year and the scenario in it).
    water_depth : ndarray, optional
        Flood depth (m) to draw over the land use; cells that are not finite or <= 0 stay
        clear. Mask out what should not be shown (the sea) before passing it.
    max_cells : int
        Largest number of cells drawn along a side (see :func:`decimate`).
    height : int
        Figure height in pixels.
    legend : bool
        Name the classes in a legend (side-by-side maps share one legend instead).
    uirevision : str, optional
        See :func:`map_layout`.
    depth_max : float, optional
        Top of the depth colour scale (default: the deepest cell shown); fix it to compare
        the frames of an animation.

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> from tim.classes import DEFAULT_CLASSES
    >>> g = Grid("EPSG:4548", (25.0, 0, 510000.0, 0, -25.0, 2710000.0), (2, 2))
    >>> fig = land_use_figure(np.full((2, 2), DEFAULT_CLASSES.built.code, np.uint8), g,
    ...                       DEFAULT_CLASSES, title="Land use 2030")
    >>> fig.layout.title.text
    'Land use 2030'
    """
    if land_use.shape != grid.shape:
        raise ValueError(f"land use of shape {land_use.shape} is not on the grid "
                         f"{grid.shape}")
    t = ui()
    if water_depth is not None:
        classes = neutral_sea(classes)
    fig = go.Figure(land_use_image(land_use, grid, classes, nodata=nodata,
                                   max_cells=max_cells))
    # A heatmap has no legend entries: one invisible square marker per class names the colours.
    for c in classes if legend else ():
        fig.add_trace(legend_square(localized(c.name, t.lang), c.colour))
    if water_depth is not None:
        flood = flood_depth_trace(water_depth, grid, max_cells=max_cells, depth_max=depth_max)
        if flood is not None:
            fig.add_trace(flood)
    map_layout(fig, grid, title=title, height=height, legend_title=t.gettext("Land use"),
               uirevision=uirevision)
    return fig


def flood_depth_trace(water_depth: np.ndarray, grid: Grid, *, max_cells: int = 480,
                      depth_max: float | None = None) -> go.Heatmap | None:
    """The flooded cells (finite depth > 0) as a heatmap on the flood ramp with its colour
    bar; None when nothing is flooded.

    Only the rows and columns from the first to the last flooded cell are sent: a flood
    covers part of a territory, and each frame of an animation is that much smaller.
    """
    t = ui()
    depth, step = decimate(np.asarray(water_depth, dtype=np.float32), max_cells)
    shown = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan)
    wet = np.isfinite(shown)
    if not wet.any():
        return None
    rows, cols = np.flatnonzero(wet.any(axis=1)), np.flatnonzero(wet.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    xs, ys = grid_axes_km(grid, step)  # ys south first: row r is ys[-1 - r]
    n = len(ys)
    top = float(depth_max) if depth_max else float(np.nanmax(shown))
    return go.Heatmap(
        x=xs[c0:c1], y=ys[n - r1:n - r0], z=shown[r0:r1, c0:c1][::-1], zmin=0.0, zmax=top,
        colorscale=[[s, c] for s, c in FLOOD_RAMP], zsmooth=False, name="flood depth",
        meta="flood-depth",
        colorbar=dict(title=dict(text=t.gettext("Flood depth (m)"), side="top"),
                      thickness=12, len=0.4, x=1.02, xanchor="left", y=0.0,
                      yanchor="bottom"),
        hovertemplate=t.gettext("E %{x:.2f} km, N %{y:.2f} km<br>flood depth "
                                "%{z:.2f} m") + "<extra></extra>")


class Memo:
    """A bounded, thread-safe memo of built figures (least recently used dropped first).

    The server's threads share it; keys must name everything the value depends on (run,
    year, the page's language, the user's clearance...). A key may name an object by its
    ``id``: give the object as ``keep``, it is then held as long as its entries, so that its
    id cannot name another object meanwhile.
    """

    def __init__(self, size: int = 64) -> None:
        import collections
        import threading

        self.size = size
        self._items: collections.OrderedDict[Any, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, build: Callable[[], Any], keep: Any = None) -> Any:
        """The value kept for ``key``, else ``build()`` (kept, with ``keep``)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = build()  # outside the lock: two threads may build the same value once each
        with self._lock:
            self._items[key] = (value, keep)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


def km_axes(crs: str) -> dict[str, Any]:
    """The axes of a map of points in km of a projected CRS, named as every 2D map names
    them (for ``fig.update_layout``)."""
    t = ui()
    return dict(xaxis=dict(title=t.gettext("Easting (km, {crs})", crs=crs_label(crs))),
                yaxis=dict(title=t.gettext("Northing (km)"), scaleanchor="x"))


def map_layout(fig: go.Figure, grid: Grid, *, title: str, height: int,
               legend_title: str | None = None, uirevision: str | None = None) -> go.Figure:
    """The common frame of every 2D map: north up, equal scale, km ticks, offline background.

    ``uirevision`` keeps the user's zoom while the data change (the year, the run); maps that
    share it zoom together on first draw. Returns ``fig`` (changed in place: plotly's way).
    """
    t = ui()
    fig.update_xaxes(title_text=t.gettext("Easting (km, {crs})", crs=crs_label(grid.crs)),
                     showgrid=False, zeroline=False, constrain="domain", ticks="outside")
    # autorange=True, not plotly's "reversed" default for image traces: north stays up.
    fig.update_yaxes(title_text=t.gettext("Northing (km)"), showgrid=False, zeroline=False,
                     scaleanchor="x", scaleratio=1, constrain="domain", ticks="outside",
                     autorange=True)
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)),
        height=height, margin=dict(l=60, r=20, t=48, b=40), plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff", font=dict(family=FONT, size=12),
        legend=dict(yanchor="top", y=1.0, x=1.02, xanchor="left", font=dict(size=11),
                    itemclick=False, itemdoubleclick=False,
                    title=dict(text=legend_title or "")),
        uirevision=uirevision or f"{grid.shape}")
    return fig


def withheld_figure(grid: Grid, note: str, *, height: int = 520) -> go.Figure:
    """An empty map frame that says why nothing is drawn (the products are classified above
    the user's clearance): the data never reach the page."""
    fig = map_layout(go.Figure(), grid, title=note, height=height)
    fig.add_annotation(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14, color="#6d4c41"))
    xmin, ymin, xmax, ymax = (v / 1000.0 for v in grid.bounds)
    fig.update_xaxes(range=[xmin, xmax])
    fig.update_yaxes(range=[ymin, ymax])
    return fig


@functools.lru_cache(maxsize=16)
def crs_label(crs: str) -> str:
    """A CRS as an axis title names it: its code (``EPSG:4548``) or, for a CRS given as WKT
    without one, its name (or its projection and ellipsoid when it is called "unknown").

    Examples
    --------
    >>> crs_label("EPSG:4548"), crs_label('PROJCS["NAD83 / Massachusetts Mainland", ...')
    ('EPSG:4548', 'NAD83 / Massachusetts Mainland')
    """
    if len(crs) <= 24:
        return crs
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        match = re.match(r'\s*\w+\["([^"]+)"', crs)  # the WKT's own name
        return match.group(1) if match else crs[:24] + "\u2026"
    code = parsed.to_epsg()
    if code:
        return f"EPSG:{code}"
    base = parsed.source_crs if parsed.is_bound else parsed
    if base.name.lower() != "unknown":
        return base.name
    # An unnamed CRS (a GeoTIFF written without its code): its projection and ellipsoid.
    method = base.coordinate_operation.method_name if base.coordinate_operation else ""
    return ", ".join(filter(None, (method, base.ellipsoid.name if base.ellipsoid else "")))


def legend_square(name: str, colour: str) -> go.Scatter:
    """An invisible trace whose legend entry is a square of ``colour`` (heatmaps have none)."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name,
                      marker=dict(symbol="square", size=12, color=colour,
                                  line=dict(color="#90a4ae", width=0.5)), hoverinfo="skip")


def grid_axes_km(grid: Grid, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre eastings and northings (km) of every ``step``-th column and row, the
    northings ascending (south first), as the maps draw them."""
    xs, ys = grid.cell_centres()
    return xs[::step] / 1000.0, ys[::step][::-1] / 1000.0



@dataclass(frozen=True)
class SeriesSpec:
    """One panel of the indicator timeline: which indicator, how to label it, its target.

    ``green`` is the registry's green range (``None`` bounds are open); the timeline shades it
    when both bounds are finite and draws the finite bound as a line otherwise.
    """

    key: str
    label: str
    unit: str
    green: tuple[float | None, float | None] | None = None


def indicator_timeline(values: pd.DataFrame, panels: Sequence[SeriesSpec],
                       runs: Sequence[str], *, year: int | None = None,
                       highlight: str | None = None, height: int = 300,
                       bands: pd.DataFrame | None = None, columns: int | None = None
                       ) -> go.Figure:
    """Small multiples of key indicators over the years, one line per run, with bands.

    Parameters
    ----------
    values : DataFrame
        Long table with columns ``run``, ``year``, ``indicator``, ``value``.
    panels : sequence of SeriesSpec
        One subplot each, left to right.
    runs : sequence of str
        Run labels in legend order; colours follow this order (:func:`run_colour`).
    year : int, optional
        Drawn as a dotted vertical line on every panel (the year on the map).
    highlight : str, optional
        The run drawn thicker (the run on the map).
    bands : DataFrame, optional
        Ensemble intervals drawn as a shaded band behind a run's line, in its colour: columns
        ``run`` (a label in ``runs``), ``year``, ``indicator``, ``lo``, ``hi`` and ``name``
        (the band's legend text, e.g. "5-95 % of 4 seeds").
    columns : int, optional
        Panels per row (default: all in one row).

    Examples
    --------
    >>> df = pd.DataFrame({"run": ["a", "a"], "year": [2025, 2026], "indicator": ["p", "p"],
    ...                    "value": [1.0, 2.0]})
    >>> fig = indicator_timeline(df, [SeriesSpec("p", "Population", "persons")], ["a"])
    >>> len(fig.data), [float(v) for v in fig.data[0].y]
    (1, [1.0, 2.0])
    """
    titles = [f"{p.label} ({p.unit})" for p in panels]
    ncols = max(1, min(columns or len(panels), len(panels)))
    nrows = max(1, -(-len(panels) // ncols))
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles,
                        horizontal_spacing=0.06 if ncols > 2 else 0.1,
                        vertical_spacing=0.16 if nrows > 1 else 0.1)
    banded: set[str] = set()
    for j, panel in enumerate(panels):
        row, col = j // ncols + 1, j % ncols + 1
        for i, run in enumerate(runs):
            band = None if bands is None else bands[(bands["run"] == run)
                                                    & (bands["indicator"] == panel.key)]
            if band is not None and len(band):
                band = band.sort_values("year")
                fill = _rgba(run_colour(i), 0.2)
                fig.add_trace(go.Scatter(
                    x=band["year"], y=band["lo"], mode="lines", line=dict(width=0),
                    hoverinfo="skip", showlegend=False, legendgroup=f"{run} band"),
                    row=row, col=col)
                fig.add_trace(go.Scatter(
                    x=band["year"], y=band["hi"], mode="lines", line=dict(width=0),
                    fill="tonexty", fillcolor=fill, name=str(band["name"].iloc[0]),
                    legendgroup=f"{run} band", showlegend=run not in banded,
                    customdata=band["lo"],
                    hovertemplate=f"{run}<br>%{{x}}: %{{customdata:,.1f}} \u2013 %{{y:,.1f}} "
                                  f"{panel.unit}<extra>{band['name'].iloc[0]}</extra>"),
                    row=row, col=col)
                banded.add(run)
            series = values[(values["run"] == run) & (values["indicator"] == panel.key)]
            series = series.sort_values("year")
            strong = highlight is None or run == highlight
            fig.add_trace(go.Scatter(
                x=series["year"], y=series["value"], name=run, legendgroup=run,
                showlegend=j == 0, mode="lines+markers",
                line=dict(color=run_colour(i), width=3 if strong else 1.5),
                marker=dict(size=5 if strong else 3), opacity=1.0 if strong else 0.55,
                hovertemplate=f"{run}<br>%{{x}}: %{{y:,.1f}} {panel.unit}<extra></extra>"),
                row=row, col=col)
        if panel.green is not None:
            lo, hi = panel.green
            band_style = dict(fillcolor=STATUS_COLOURS["green"], opacity=0.08, line_width=0)
            if lo is not None and hi is not None:
                fig.add_hrect(y0=lo, y1=hi, row=row, col=col, **band_style)
            for bound in (b for b in (lo, hi) if b is not None):
                fig.add_hline(y=bound, row=row, col=col, line=dict(
                    color=STATUS_COLOURS["green"], width=1, dash="dash"))
    if year is not None:
        # Named: the dashboard moves it to the year shown without rebuilding the figure.
        fig.add_vline(x=year, line=dict(color="#90a4ae", width=1, dash="dot"), name="year")
    fig.update_xaxes(dtick=2 if values["year"].nunique() > 8 else 1, tickformat="d",
                     showgrid=False)
    fig.update_yaxes(gridcolor="#eceff1", zeroline=False, rangemode="tozero")
    fig.update_annotations(font=dict(size=12))
    # The legend (runs and bands) goes under the panels, where it has room for many runs.
    fig.update_layout(height=height, margin=dict(l=50, r=10, t=40, b=110),
                      plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
                      font=dict(family=FONT, size=11), hovermode="closest",
                      legend=dict(orientation="h", yanchor="top", x=0.0,
                                  y=-0.1 if nrows > 1 else -0.2))
    return fig


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(v) for v in _hex_to_rgb(colour))
    return f"rgba({r}, {g}, {b}, {alpha})"


def ramp_gradient(ramp: Sequence[tuple[float, str]]) -> str:
    """A CSS ``linear-gradient`` of a ramp, for an HTML legend bar.

    Examples
    --------
    >>> ramp_gradient(((0.0, "#000000"), (1.0, "#ffffff")))
    'linear-gradient(to right, #000000 0%, #ffffff 100%)'
    """
    stops = ", ".join(f"{colour} {100 * s:g}%" for s, colour in ramp)
    return f"linear-gradient(to right, {stops})"


def use_colours(uses: Sequence[str]) -> Mapping[str, str]:
    """A fixed colour per building use (known uses first, others from a qualitative palette).

    Examples
    --------
    >>> use_colours(["residential", "port"])["residential"]
    '#ffb74d'
    """
    known = {"residential": "#ffb74d", "commercial": "#4fc3f7", "industrial": "#9575cd",
             "public": "#81c784", "mixed": "#f06292"}
    spare = ("#a1887f", "#4db6ac", "#dce775", "#ba68c8", "#90a4ae")
    out, k = {}, 0
    for use in uses:
        if use in known:
            out[use] = known[use]
        else:
            out[use] = spare[k % len(spare)]
            k += 1
    return out


def ensemble_timeline(intervals: pd.DataFrame, panels: Sequence[SeriesSpec], *, label: str,
                      colour: str, year: int | None = None, height: int = 480,
                      columns: int = 2, band_name: str = "P{lo}\u2013P{hi}",
                      median_name: str = "median") -> go.Figure:
    """An ensemble's indicators over time: the median line in a shaded P10-P90 band (P5-P95
    for ensembles written before P10/P90 were, :func:`scenarios.ensemble.band_columns`), one
    panel per indicator.

    ``intervals`` has the columns of ``indicator_intervals.csv`` (year, indicator, p10, p50,
    p90, ...); ``band_name`` (with ``{lo}``/``{hi}`` for the quantiles) and ``median_name``
    are the legend's words in the page's language.

    Examples
    --------
    >>> iv = pd.DataFrame({"year": [2025, 2026], "indicator": ["p", "p"], "p10": [1, 2],
    ...                    "p50": [1, 3], "p90": [1, 4], "min": [1, 1], "max": [1, 5]})
    >>> fig = ensemble_timeline(iv, [SeriesSpec("p", "Pop", "persons")], label="e",
    ...                         colour="#ef6c00")
    >>> [t.name for t in fig.data], [float(v) for v in fig.data[1].y]
    (['P10\u2013P90', 'P10\u2013P90', 'median'], [1.0, 4.0])
    """
    from scenarios.ensemble import band_columns

    lo, hi, lo_q, hi_q = band_columns(intervals)
    name = band_name.format(lo=lo_q, hi=hi_q)
    ncols = max(1, min(columns, len(panels)))
    nrows = max(1, -(-len(panels) // ncols))
    fig = make_subplots(rows=nrows, cols=ncols, horizontal_spacing=0.1,
                        vertical_spacing=0.16 if nrows > 1 else 0.1,
                        subplot_titles=[f"{p.label} ({p.unit})" for p in panels])
    for j, panel in enumerate(panels):
        row, col = j // ncols + 1, j % ncols + 1
        rows = intervals[intervals["indicator"] == panel.key].sort_values("year")
        first = j == 0
        fig.add_trace(go.Scatter(x=rows["year"], y=rows[lo], mode="lines", name=name,
                                 line=dict(width=0), showlegend=False, hoverinfo="skip",
                                 legendgroup="band"), row=row, col=col)
        fig.add_trace(go.Scatter(
            x=rows["year"], y=rows[hi], mode="lines", name=name, line=dict(width=0),
            fill="tonexty", fillcolor=_rgba(colour, 0.3), legendgroup="band",
            showlegend=first, customdata=rows[lo], meta="band",
            hovertemplate=f"%{{x}}: %{{customdata:,.1f}} \u2013 %{{y:,.1f}} {panel.unit}"
                          f"<extra>{name}</extra>"), row=row, col=col)
        fig.add_trace(go.Scatter(
            x=rows["year"], y=rows["p50"], mode="lines+markers", name=median_name,
            line=dict(color=colour, width=2.5), marker=dict(size=4), legendgroup="median",
            showlegend=first, meta="median", hovertemplate=f"%{{x}}: %{{y:,.1f}} {panel.unit}"
                                                         f"<extra>{label}</extra>"),
            row=row, col=col)
    if year is not None:
        fig.add_vline(x=year, line=dict(color="#90a4ae", width=1, dash="dot"))
    fig.update_xaxes(tickformat="d", showgrid=False,
                     dtick=2 if intervals["year"].nunique() > 8 else 1)
    fig.update_yaxes(gridcolor="#eceff1", zeroline=False, rangemode="tozero")
    fig.update_annotations(font=dict(size=12))
    fig.update_layout(height=height, margin=dict(l=50, r=10, t=40, b=30),
                      plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
                      font=dict(family=FONT, size=11), hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0.0))
    return fig


#: Colours of the hydrograph chart: the sea's still-water level and the flooded land.
SEA_COLOUR = "#1565c0"
FLOODED_COLOUR = "#ef6c00"


def hydrograph_figure(times_s: np.ndarray | None, levels: np.ndarray | None,
                      frames_s: np.ndarray, flooded_ha: np.ndarray, *, peak: float,
                      now_s: float | None = None, level: float | None = None,
                      height: int = 250) -> go.Figure:
    """The sea's still-water level over the event and the land flooded at the output times,
    with the time shown marked (``now_s``) and a still-water ``level`` drawn across.

    ``times_s``/``levels`` is the hydrograph (None for a constant level: one line at
    ``peak``); ``frames_s``/``flooded_ha`` the flooded area at each output time (right axis).

    Examples
    --------
    >>> fig = hydrograph_figure(np.array([0.0, 3600.0]), np.array([1.0, 2.0]),
    ...                         np.array([0.0, 3600.0]), np.array([0.0, 5.0]), peak=2.0,
    ...                         now_s=3600.0)
    >>> [t.name for t in fig.data], fig.layout.shapes[0].x0
    (['sea level', 'flooded land', 'shown'], 1.0)
    """
    _ = ui()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    hours = None if times_s is None else np.asarray(times_s, dtype=float) / 3600.0
    frames_h = np.asarray(frames_s, dtype=float) / 3600.0
    if hours is not None and levels is not None:
        fig.add_trace(go.Scatter(x=hours, y=levels, mode="lines", name=_("sea level"),
                                 line=dict(color=SEA_COLOUR, width=2.5),
                                 hovertemplate="%{x:.1f} h: %{y:.2f} m<extra>" + _("sea")
                                 + "</extra>"),
                      secondary_y=False)
    else:
        span = [0.0, max(float(frames_h.max()) if frames_h.size else 0.0, 1.0)]
        fig.add_trace(go.Scatter(x=span, y=[peak, peak], mode="lines",
                                 name=_("sea level (constant)"),
                                 line=dict(color=SEA_COLOUR, width=2.5)), secondary_y=False)
    fig.add_trace(go.Scatter(x=frames_h, y=flooded_ha, mode="lines+markers",
                             name=_("flooded land"), line=dict(color=FLOODED_COLOUR, width=1.5),
                             marker=dict(size=6),
                             hovertemplate="%{x:.1f} h: %{y:,.1f} ha<extra>" + _("flooded")
                             + "</extra>"),
                  secondary_y=True)
    if now_s is not None:
        now_h = now_s / 3600.0
        fig.add_vline(x=now_h, line=dict(color="#263238", width=1.5, dash="dot"))
        sea = float(np.interp(now_s, times_s, levels)) if hours is not None \
            and levels is not None else peak
        fig.add_trace(go.Scatter(x=[now_h], y=[sea], mode="markers", name="shown",
                                 marker=dict(size=11, color=SEA_COLOUR,
                                             line=dict(color="#ffffff", width=2)),
                                 showlegend=False,
                                 hovertemplate=_("shown: %{x:.1f} h, sea %{y:.2f} m")
                                 + "<extra></extra>"),
                      secondary_y=False)
    if level is not None:
        fig.add_hline(y=level, line=dict(color=SEA_COLOUR, width=1.5, dash="dash"),
                      annotation_text=_("still water {level} m", level=_.number(level, 1)),
                      annotation_position="top left", annotation_font_size=11)
    fig.update_xaxes(title_text=_("hours from the event start"), showgrid=False, zeroline=False)
    fig.update_yaxes(title_text=_("still-water level (m)"), secondary_y=False,
                     gridcolor="#eceff1", zeroline=False)
    fig.update_yaxes(title_text=_("flooded land (ha)"), secondary_y=True, showgrid=False,
                     rangemode="tozero", zeroline=False, tickmode="auto", nticks=6,
                     tickformat=",.0f",
                     title_font=dict(color=FLOODED_COLOUR), tickfont=dict(color=FLOODED_COLOUR))
    fig.update_layout(height=height, margin=dict(l=55, r=60, t=10, b=40),
                      plot_bgcolor="#ffffff", paper_bgcolor="#ffffff",
                      font=dict(family=FONT, size=11), hovermode="closest",
                      legend=dict(orientation="h", x=0.0, y=1.02, yanchor="bottom"),
                      uirevision="hydrograph")
    return fig

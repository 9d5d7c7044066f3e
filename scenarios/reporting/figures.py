"""Maps and charts for reports, drawn with matplotlib into PNG bytes (no browser, no network).

One toolkit for every report: land use with the control lines and planning units, built-up
differences, flood depth with the flooded buildings, depth differences, and indicators over
time. Each function returns a :class:`~scenarios.reporting.model.Figure` whose ``colours``
list the legend colours the picture shows (render checks look for them on the printed page).

Colours follow planners' conventions: the ecological red line red, permanent basic farmland
brown, the urban development boundary dashed purple, planning units thin dark grey. Flood depth
uses a yellow-orange-brown ramp on a neutral grey sea, so water depth never blends into a blue
sea; flooded buildings are magenta, a colour no other layer uses.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported anywhere
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from scenarios.reporting.model import Figure, LegendItem  # noqa: E402

#: Fonts tried in order; Noto Sans CJK SC (fonts-noto-cjk) draws the Chinese labels.
FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "DejaVu Sans"]
CONTROL_STYLES = {  # field -> (colour, line style)
    "control__ecological_red_line": ("#e53935", "solid"),
    "control__permanent_basic_farmland": ("#8d6e63", "solid"),
    "control__urban_development_boundary": ("#7b1fa2", "dashed"),
    "control__water_line": ("#0277bd", "solid"),  # 蓝线 (monitoring's water / flood-risk line)
}
UNIT_COLOUR = "#37474f"
GAINED, LOST, SAME_BUILT = "#d7301f", "#2b8cbe", "#bdbdbd"
SEA_NEUTRAL = "#cfd8dc"
CONTEXT = "#e8e8e8"
FLOODED_BUILDING = "#d500f9"
NEW_BUILDING = "#ff8f00"
DEPTH_COLOURS = ("#fff7bc", "#fec44f", "#ec7014", "#993404", "#4d1a02")
DEPTH_BOUNDS = (0.01, 0.25, 0.5, 1.0, 2.0, 1e9)
DPI = 110
#: Cells per map side at most: a larger grid is thinned (every k-th cell) before drawing, so a
#: city of 8.6 M cells draws as fast as the sample (the printed map has fewer pixels anyway).
MAX_SIDE = 720


def thin(array: np.ndarray | None) -> np.ndarray | None:
    """Every k-th cell of ``array`` so that no side exceeds :data:`MAX_SIDE`.

    >>> thin(np.zeros((1500, 300))).shape
    (500, 100)
    """
    if array is None:
        return None
    step = stride(array.shape)
    return array[::step, ::step]


def stride(shape: tuple[int, ...]) -> int:
    return max(1, int(np.ceil(max(shape[:2]) / MAX_SIDE)))


def _cached(cache: dict | None, key: object, draw) -> bytes:
    """``draw()`` once per ``key``: the pictures carry no words, so every language of a
    report shares them."""
    if cache is None or key is None:
        return draw()
    if key not in cache:
        cache[key] = draw()
    return cache[key]


def _setup() -> None:
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    plt.rcParams["font.family"] = [f for f in FONTS if f in installed] or ["DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return buffer.getvalue()


def _map_axes(shape: tuple[int, int], title: str, width: float = 4.2):
    _setup()
    rows, cols = shape
    fig, ax = plt.subplots(figsize=(width, width * rows / cols + 0.3))
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return fig, ax


def _outline(ax, mask: np.ndarray, colour: str, style: str, width: float = 1.0) -> None:
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linestyles=[style],
                   linewidths=width)


def unit_edges(units: np.ndarray) -> np.ndarray:
    """Cells on the border between two planning units (or a unit and the outside).

    >>> unit_edges(np.array([[1, 1, 2], [1, 1, 2]])).astype(int).tolist()
    [[0, 1, 1], [0, 1, 1]]
    """
    edge = np.zeros(units.shape, dtype=bool)
    edge[:, 1:] |= units[:, 1:] != units[:, :-1]
    edge[:, :-1] |= units[:, 1:] != units[:, :-1]
    edge[1:, :] |= units[1:, :] != units[:-1, :]
    edge[:-1, :] |= units[1:, :] != units[:-1, :]
    return edge & (units > 0)


def land_use_map(land_use: np.ndarray, classes: Sequence[tuple[int, str, str]], title: str,
                 controls: Mapping[str, tuple[np.ndarray, str]] | None = None,
                 units: np.ndarray | None = None, units_label: str = "",
                 caption: str = "", width: float = 0.5, *, cache: dict | None = None,
                 key: object = None, line_width: float = 1.1) -> Figure:
    """Land use (``classes``: code, label, colour) with control lines and unit borders.

    ``controls`` maps a field of :data:`CONTROL_STYLES` to (mask, legend label); ``cache`` and
    ``key`` reuse the picture already drawn for another language; ``line_width`` (points) of
    the control lines: thinner where they are many and fragmented (observed or derived lines
    of a whole city) so they do not hide what the map is about.
    """
    present = set(np.unique(thin(land_use)).tolist())
    legend = [LegendItem(colour, label) for code, label, colour in classes if code in present]
    if units is not None:
        legend.append(LegendItem(UNIT_COLOUR, units_label, "line"))
    for field, (_, label) in (controls or {}).items():
        colour, style = CONTROL_STYLES[field]
        legend.append(LegendItem(colour, label, "dashed" if style == "dashed" else "line"))

    def draw() -> bytes:
        lu, unit_field = thin(land_use), thin(units)
        fig, ax = _map_axes(lu.shape, title)
        codes = [c for c, _, _ in classes]
        lookup = np.full(256, len(codes), dtype=np.int16)
        lookup[codes] = np.arange(len(codes))
        colours = [colour for _, _, colour in classes] + ["#ffffff"]
        ax.imshow(lookup[lu], cmap=ListedColormap(colours), vmin=-0.5,
                  vmax=len(codes) + 0.5, interpolation="nearest")
        if unit_field is not None:
            edges = np.ma.masked_where(~unit_edges(unit_field), np.ones(unit_field.shape))
            ax.imshow(edges, cmap=ListedColormap([UNIT_COLOUR]), alpha=0.55,
                      interpolation="nearest")
        for field, (mask, _) in (controls or {}).items():
            colour, style = CONTROL_STYLES[field]
            _outline(ax, thin(mask), colour, style, line_width)
        return _png(fig)

    shown = tuple(colour for code, _, colour in classes if code in present)
    return Figure(_cached(cache, key, draw), caption or title, "map", shown, width,
                  tuple(legend))


def difference_map(diff: np.ndarray, context: np.ndarray, title: str,
                   labels: tuple[str, str, str], caption: str = "",
                   width: float = 0.5, *, cache: dict | None = None,
                   key: object = None) -> Figure:
    """Built-up difference: ``labels`` for (gained, lost, built in both); ``context`` is
    True where land is built in both (drawn grey)."""
    def draw() -> bytes:
        d, c = thin(diff), thin(context)
        fig, ax = _map_axes(d.shape, title)
        image = np.full(d.shape, 0, dtype=np.int8)
        image[c] = 1
        image[d > 0] = 2
        image[d < 0] = 3
        ax.imshow(image, cmap=ListedColormap(["#ffffff", SAME_BUILT, GAINED, LOST]),
                  vmin=-0.5, vmax=3.5, interpolation="nearest")
        ax.add_patch(plt.Rectangle((-0.5, -0.5), d.shape[1], d.shape[0], fill=False,
                                   edgecolor="#90a4ae", lw=0.6))
        return _png(fig)

    legend = tuple(LegendItem(c, label) for c, label in zip((GAINED, LOST, SAME_BUILT),
                                                            labels))
    colours = tuple(c for c, present in ((GAINED, (diff > 0).any()), (LOST, (diff < 0).any()),
                                         (SAME_BUILT, context.any())) if present)
    return Figure(_cached(cache, key, draw), caption or title, "map", colours, width, legend)


def flood_map(depth: np.ndarray, sea: np.ndarray, title: str, depth_label: str,
              buildings_xy: np.ndarray | None = None, buildings_label: str = "",
              caption: str = "", width: float = 0.5, *, cache: dict | None = None,
              key: object = None, context: np.ndarray | None = None,
              context_label: str = "") -> Figure:
    """Largest flood depth (m) on land in classes, the sea neutral grey, flooded buildings
    as magenta dots (``buildings_xy``: column, row of each flooded building); ``context``
    (built-up land, say) is drawn light grey beneath, so the water has a town to reach."""
    def draw() -> bytes:
        xy = None if buildings_xy is None else \
            np.asarray(buildings_xy, dtype=float) / stride(depth.shape)
        d, s = thin(depth), thin(sea)
        fig, ax = _map_axes(d.shape, title)
        ax.imshow(np.ma.masked_where(~s, np.ones(d.shape)),
                  cmap=ListedColormap([SEA_NEUTRAL]), interpolation="nearest")
        if context is not None:
            ax.imshow(np.ma.masked_where(~thin(context), np.ones(d.shape)),
                      cmap=ListedColormap([CONTEXT]), interpolation="nearest")
        wet = np.nan_to_num(d)
        shown = np.ma.masked_where(s | (wet < DEPTH_BOUNDS[0]), wet)
        norm = BoundaryNorm(DEPTH_BOUNDS, len(DEPTH_COLOURS))
        ax.imshow(shown, cmap=ListedColormap(DEPTH_COLOURS), norm=norm,
                  interpolation="nearest")
        ax.add_patch(plt.Rectangle((-0.5, -0.5), d.shape[1], d.shape[0], fill=False,
                                   edgecolor="#90a4ae", lw=0.6))
        if xy is not None and len(xy):
            ax.scatter(xy[:, 0], xy[:, 1], s=1.5, c=FLOODED_BUILDING, marker="s",
                       linewidths=0)
        return _png(fig)

    labels = [f"{a:g}–{b:g} m" if b < 1e8 else f"> {a:g} m"
              for a, b in zip(DEPTH_BOUNDS[:-1], DEPTH_BOUNDS[1:])]
    legend = [LegendItem(c, f"{depth_label} {label}") if i == 0 else LegendItem(c, label)
              for i, (c, label) in enumerate(zip(DEPTH_COLOURS, labels))]
    wet = np.nan_to_num(depth)
    colours = [c for c, lo, hi in zip(DEPTH_COLOURS, DEPTH_BOUNDS[:-1], DEPTH_BOUNDS[1:])
               if ((wet >= lo) & (wet < hi) & ~sea).any()]
    if context is not None:
        legend.append(LegendItem(CONTEXT, context_label))
    if buildings_xy is not None and len(buildings_xy):
        legend.append(LegendItem(FLOODED_BUILDING, buildings_label))
        colours.append(FLOODED_BUILDING)
    return Figure(_cached(cache, key, draw), caption or title, "map", tuple(colours), width,
                  tuple(legend))


def depth_difference_map(diff: np.ndarray, sea: np.ndarray, title: str,
                         labels: tuple[str, str],
                         caption: str = "", width: float = 0.5, *,
                         cache: dict | None = None, key: object = None) -> Figure:
    """Flood depth of a scenario minus a reference's (m): red deeper, blue shallower; the
    scale bar is in metres; ``labels``: (deeper, shallower) for the legend."""
    def draw() -> bytes:
        d, s = thin(diff), thin(sea)
        fig, ax = _map_axes(d.shape, title)
        ax.imshow(np.ma.masked_where(~s, np.ones(d.shape)),
                  cmap=ListedColormap([SEA_NEUTRAL]), interpolation="nearest")
        top = float(np.nanmax(np.abs(np.where(s, 0, d)), initial=0.0)) or 1.0
        shown = np.ma.masked_where(s | (np.abs(d) < 0.01), d)
        image = ax.imshow(shown, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
        ax.add_patch(plt.Rectangle((-0.5, -0.5), d.shape[1], d.shape[0], fill=False,
                                   edgecolor="#90a4ae", lw=0.6))
        bar = fig.colorbar(image, ax=ax, orientation="horizontal", fraction=0.05, pad=0.02)
        bar.set_label("m", fontsize=7)
        bar.ax.tick_params(labelsize=6)
        return _png(fig)

    legend = (LegendItem("#b2182b", labels[0]), LegendItem("#2166ac", labels[1]))
    return Figure(_cached(cache, key, draw), caption or title, "map", (), width, legend)


def timeline_chart(panels: Sequence[tuple[str, Mapping[str, tuple[Sequence[int],
                                                                    Sequence[float]]]]],
                   caption: str, colours: Sequence[str] | None = None,
                   bands: Sequence[Mapping[str, tuple[Sequence[int], Sequence[float],
                                                      Sequence[float], Sequence[float]]]]
                   | None = None, band_label: str = "{name}: P10\u2013P90") -> Figure:
    """Small multiples: each panel (title, {series: (years, values)}), one line per series.

    ``bands`` (one mapping per panel): a series' ensemble as (years, low, median, high),
    drawn as a shaded band in the series' colour with its median as a dashed line;
    ``band_label`` (with ``{name}``) names it in the legend.
    """
    _setup()
    palette = list(colours or ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#17becf"))
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, 2.3 * rows), squeeze=False)
    names: list[str] = []
    banded: list[str] = []
    for j, (ax, (title, series)) in enumerate(zip(axes.ravel(), panels)):
        for name in series:
            if name not in names:
                names.append(name)
        for name, (years, lo, mid, hi) in ((bands[j] if bands else {}) or {}).items():
            if name not in names:
                names.append(name)
            colour = palette[names.index(name) % len(palette)]
            ax.fill_between(years, lo, hi, color=colour, alpha=0.22, lw=0)
            ax.plot(years, mid, color=colour, lw=1.0, ls="--")
            if name not in banded:
                banded.append(name)
        for name, (years, values) in series.items():
            ax.plot(years, values, color=palette[names.index(name) % len(palette)], lw=1.4,
                    label=name)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes.ravel()[len(panels):]:
        ax.set_axis_off()
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=palette[i % len(palette)], lw=1.6, label=n)
               for i, n in enumerate(names)]
    handles += [Patch(facecolor=palette[names.index(n) % len(palette)], alpha=0.4,
                      edgecolor=palette[names.index(n) % len(palette)], ls="--",
                      label=band_label.format(name=n)) for n in banded]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=7,
               frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.06 + 0.03 * (len(handles) > 4), 1, 1))
    return Figure(_png(fig), caption, "chart", tuple(palette[:len(names)]), 1.0)


def category_map(codes: np.ndarray, categories: Sequence[tuple[int, str, str]], title: str,
                 caption: str = "", width: float = 0.5) -> Figure:
    """A map of integer categories (``categories``: code, label, colour; other codes white),
    e.g. a calibration's agreement map or simulated classes; the legend lists the categories
    the map shows."""
    return land_use_map(codes, categories, title, caption=caption, width=width)


def bar_chart(categories: Sequence[str], series: Mapping[str, tuple[Sequence[float | None],
                                                                     str]],
              caption: str, *, horizontal: bool = False, percent: bool = False,
              value_label: str = "", panels: Sequence[tuple[str, Sequence[int]]] = (),
              width: float = 1.0) -> Figure:
    """Grouped bars: one group per category, one bar per series (name: values, colour).

    ``panels`` splits the categories into titled side-by-side charts (title, category
    indexes), e.g. "higher is better" beside "lower is better"; ``horizontal`` bars suit long
    category names (drivers); ``percent`` formats the value axis as shares.
    """
    from matplotlib.patches import Patch
    from matplotlib.ticker import PercentFormatter

    _setup()
    groups = list(panels) or [("", list(range(len(categories))))]
    if horizontal:
        fig, axes = plt.subplots(1, len(groups), figsize=(7.2, 0.9 + 0.32 * len(categories)
                                                           * max(1, len(series)) ** 0.5),
                                 squeeze=False)
    else:
        fig, axes = plt.subplots(1, len(groups), figsize=(7.2, 2.8), squeeze=False)
    n = max(1, len(series))
    step = 0.8 / n
    for ax, (title, indexes) in zip(axes[0], groups):
        positions = np.arange(len(indexes))
        for k, (name, (values, colour)) in enumerate(series.items()):
            shown = [np.nan if values[i] is None else float(values[i]) for i in indexes]
            offsets = positions - 0.4 + step * (k + 0.5)
            if horizontal:
                ax.barh(offsets, shown, height=step, color=colour, label=name)
            else:
                bars = ax.bar(offsets, shown, width=step, color=colour, label=name)
                ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=1)
        labels = [categories[i] for i in indexes]
        if horizontal:
            ax.set_yticks(positions, labels, fontsize=7)
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
            if percent:
                ax.xaxis.set_major_formatter(PercentFormatter(1.0, 0))
            ax.set_xlabel(value_label, fontsize=7)
        else:
            ax.set_xticks(positions, labels, fontsize=7)
            ax.grid(axis="y", alpha=0.3)
            ax.set_ylabel(value_label, fontsize=7)
            ax.margins(y=0.15)
        ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=8)
    fig.legend(handles=[Patch(color=c, label=name)
                        for name, (_, c) in series.items()], loc="lower center",
               ncol=min(n, 4), fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.08 + 0.04 * (n > 4), 1, 1))
    return Figure(_png(fig), caption, "chart", tuple(c for _, c in series.values()), width)


def convergence_chart(evaluations: Sequence[int], values: Sequence[float],
                      best: Sequence[float], labels: tuple[str, str, str, str],
                      caption: str, colour: str = "#1565c0") -> Figure:
    """A calibration search: every simulation's score (dots) and the best so far (a step
    line); ``labels``: the dots', the line's, the x axis' and the y axis' words."""
    _setup()
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    ax.plot(evaluations, values, ".", ms=3, color="#90a4ae", alpha=0.7, label=labels[0])
    ax.step(evaluations, best, where="post", lw=2, color=colour, label=labels[1])
    ax.set_xlabel(labels[2], fontsize=7)
    ax.set_ylabel(labels[3], fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return Figure(_png(fig), caption, "chart", (colour,), 1.0)

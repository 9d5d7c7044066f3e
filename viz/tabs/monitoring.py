"""Monitoring tab: the plan as it is implemented, read from the monitoring folders served
(``twin assess``, ``twin changes``, ``twin evaluate``; :class:`scenarios.monitoring.folders.
MonitoringSet`).

- indicators over the observed years for the whole territory, a district or a planning unit,
  with the registry's thresholds and the plan's (phased) targets drawn as lines;
- the warnings of the chosen year, green / yellow / red in words and colours;
- the map of each observed year with the one-map layers of the scenario tab (:mod:`viz.onemap`)
  and, when served, the change patches coloured by severity and the 双评价 grade layers
  (ecological protection importance, agricultural production and urban construction
  suitability, grades 1-5) with their legends;
- the change patches as a sortable table with its CSV, and the areas by grade per unit.

Everything is read from the folders' files; nothing is computed beyond choosing and colouring
cells. Derived stand-in lines (Wuhan) are drawn from the assessment's ``maps/control_lines.tif``
and labelled derived. The callbacks wrap plain functions tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dash_table, dcc, html

from scenarios.monitoring.folders import SEVERITY_RANK, area_ids
from scenarios.monitoring.words import SEVERITY_COLOURS, line_names, reason_words
from scenarios.monitoring.words import severity_word as _severity_word
from tim.classes import localized
from viz.downloads import MONITORING_ROUTE
from viz.figures import decimate, land_use_rgba, legend_square, map_layout
from viz.i18n import indicator_words, status_text, threshold_text, ui, unit_text, value_text
from viz.layout import graph, panel, status_chip
from viz.figures import grid_axes_km
from viz.onemap import DEFAULT_LAYERS, LINE_STYLES, add_overlays, line_name, load_onemap
from viz.tabs import active, shown

if TYPE_CHECKING:
    import dash

    from scenarios.monitoring.folders import MonitoringSet
    from viz.app import Dashboard
    from viz.onemap import OneMap

KEY = "monitoring"
WHOLE = "city"
NONE = "none"
PATCHES = "patches"
LINES = "lines"
#: Largest number of cells drawn along a side of the map.
MAX_CELLS = 600
PAGE_SIZE = 12
#: Items of a row of legends, counts or links, kept apart.
SPACED = {"display": "inline-block", "marginRight": "1.2em"}


def _(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return message


#: The 双评价 evaluations and the guideline's colours of grades 1-5: ecological importance in
#: greens (极重要 darkest), suitability from red (不适宜) through yellow to green (适宜).
EVALUATIONS = {"ecological_importance": _("Ecological protection importance"),
               "agricultural_suitability": _("Agricultural production suitability"),
               "urban_suitability": _("Urban construction suitability")}
GRADE_PALETTES = {
    "ecological_importance": {1: "#e5f5e0", 2: "#c7e9c0", 3: "#74c476", 4: "#31a354",
                              5: "#00441b"},
    "agricultural_suitability": {1: "#d7191c", 2: "#fdae61", 3: "#ffffbf", 4: "#a6d96a",
                                 5: "#1a9641"},
    "urban_suitability": {1: "#d7191c", 2: "#fdae61", 3: "#ffffbf", 4: "#a6d96a",
                          5: "#1a9641"},
}
#: The guideline's three classes of the grades (5 / 4-3 / 2-1).
GRADE_CLASSES = {"ecological_importance": (_("very important"), _("important"),
                                           _("generally important")),
                 "suitability": (_("suitable"), _("generally suitable"), _("not suitable"))}
STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
STATUS_WORDS = (_("green"), _("yellow"), _("red"))  # said beside their colours
LINE_COLOURS = {"water_line": "#0277bd"}
#: The patch table's columns: id, header, number format (None: text).
PATCH_COLUMNS = (("patch_id", _("Patch"), None), ("severity", _("Severity"), None),
                 ("reason", _("Reason"), None), ("from_name", _("From"), None),
                 ("to_name", _("To"), None), ("area_ha", _("Area (ha)"), 2),
                 ("unit", _("Planning unit"), None), ("touches", _("Control lines touched"),
                                                      None))


def available(board: Dashboard) -> bool:
    return board.monitoring is not None


def _set(board: Dashboard) -> MonitoringSet:
    assert board.monitoring is not None
    return board.monitoring


_ONEMAPS: dict[str, OneMap] = {}


def onemap(board: Dashboard) -> OneMap:
    """The one-map layers of the TIM the monitoring folders were made from (read once)."""
    tim = _set(board).tim
    key = str(tim)
    if key not in _ONEMAPS:
        _ONEMAPS[key] = load_onemap(tim)
    return _ONEMAPS[key]


def grade_words(key: str, grade: int) -> str:
    """``Grade 5 · very important`` in the page's language."""
    t = ui()
    names = GRADE_CLASSES["ecological_importance" if key == "ecological_importance"
                          else "suitability"]
    word = names[0] if grade == 5 else names[1] if grade >= 3 else names[2]
    return t.gettext("Grade {n}", n=grade) + " \u00b7 " + t.gettext(word)


def severity_word(severity: str) -> str:
    """A severity in the page's language (the reports' words)."""
    return _severity_word(ui(), severity)


# -- controls --------------------------------------------------------------------------------
def years(board: Dashboard) -> list[int]:
    folder = _set(board).assessment
    return folder.years if folder is not None else []


def area_options(board: Dashboard) -> list[dict[str, str]]:
    """The whole territory, then each district and planning unit of the assessment."""
    t = ui()
    options = [{"label": t.gettext("Whole territory"), "value": WHOLE}]
    folder = _set(board).assessment
    if folder is None:
        return options
    table = folder.indicators
    seen = table[table["level"].isin(["district", "unit"])].drop_duplicates(
        ["level", "area_id"])
    names = {"district": t.gettext("District"), "unit": t.gettext("Planning unit")}
    for level in ("district", "unit"):
        for row in seen[seen["level"] == level].itertuples():
            options.append({"label": f"{names[level]} \u00b7 {localized(str(row.area), t.lang)}",
                            "value": f"{level}:{row.area_id}"})
    return options


def indicator_options(board: Dashboard) -> list[dict[str, str]]:
    """The assessed indicators with a value in some year, in registry order."""
    t = ui()
    folder = _set(board).assessment
    if folder is None:
        return []
    measured = folder.indicators.dropna(subset=["value"])["indicator"].unique()
    order = [k for k in board.registry if k in measured] + \
        [k for k in measured if k not in board.registry]
    return [{"label": indicator_words(board.registry.get(k), k, t)["name"], "value": k}
            for k in order]


def _area_rows(board: Dashboard, area: Any) -> pd.DataFrame:
    folder = _set(board).assessment
    table = folder.indicators
    level, _sep, key = str(area or WHOLE).partition(":")
    if level not in ("district", "unit"):
        return table[table["level"] == "city"]
    return table[(table["level"] == level) & (table["area_id"] == key)]


# -- indicator series ------------------------------------------------------------------------
def series_figure(board: Dashboard, area: Any, indicator: Any, year: Any = None) -> go.Figure:
    """One indicator of one area over the observed years, with the registry's green (and
    yellow) bounds and the plan's targets (each observed year's, and every milestone of
    ``progress.csv``: the phased targets) as lines; the chosen year marked."""
    t = ui()
    _ = t.gettext
    rows = _area_rows(board, area)
    rows = rows[rows["indicator"] == indicator].sort_values("year")
    definition = board.registry.get(str(indicator))
    name = indicator_words(definition, str(indicator), t)["name"] if indicator else ""
    unit = str(rows["unit"].iloc[0]) if len(rows) else (definition.unit if definition else "")
    level = str(rows["level"].iloc[0]) if len(rows) else "city"
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=rows["year"], y=rows["value"], mode="lines+markers", name=_("Observed"),
        line=dict(color="#1565c0", width=3), marker=dict(size=9),
        meta="observed", hovertemplate="%{x}: %{y:,.1f}<extra></extra>"))
    span = [int(rows["year"].min()), int(rows["year"].max())] if len(rows) else [0, 1]
    targets = _targets(board, area, str(indicator))
    if len(targets):
        span = [min(span[0], int(targets["milestone"].min())),
                max(span[1], int(targets["milestone"].max()))]
    if definition is not None and level in definition.levels:
        for bounds, colour, label in ((definition.green, STATUS_COLOURS["green"],
                                       _("green threshold")),
                                      (definition.yellow, STATUS_COLOURS["yellow"],
                                       _("yellow threshold"))):
            for k, bound in enumerate(bounds or ()):
                if bound is None:
                    continue
                fig.add_trace(go.Scatter(
                    x=span, y=[bound, bound], mode="lines", name=label,
                    legendgroup=label, showlegend=k == 0 or bounds[0] is None,
                    line=dict(color=colour, width=1.5, dash="dot"), meta=f"threshold:{label}",
                    hovertemplate=label + ": %{y:,.1f}<extra></extra>"))
    if "target" in rows.columns and rows["target"].notna().any():
        fig.add_trace(go.Scatter(
            x=rows["year"], y=rows["target"], mode="lines+markers", name=_("Plan target"),
            line=dict(color="#6a1b9a", width=2, dash="dash"), marker=dict(symbol="diamond"),
            meta="target", hovertemplate="%{x}: %{y:,.1f}<extra></extra>"))
    if len(targets):
        fig.add_trace(go.Scatter(
            x=targets["milestone"], y=targets["target"], mode="markers+text",
            name=_("Phased targets"), text=[str(int(y)) for y in targets["milestone"]],
            textposition="top center", marker=dict(symbol="star", size=13, color="#6a1b9a"),
            meta="milestones", hovertemplate="%{x}: %{y:,.1f}<extra></extra>"))
    chosen = _year(board, year)
    if chosen is not None:
        fig.add_vline(x=chosen, line=dict(color="#90a4ae", width=1))
    fig.update_layout(
        title=dict(text=f"{name} \u00b7 {_area_label(board, area)}", x=0.01, font=dict(size=15)),
        height=360, margin=dict(l=70, r=20, t=48, b=40), plot_bgcolor="#ffffff",
        legend=dict(orientation="h", y=-0.18, x=0.0), uirevision=f"series:{area}:{indicator}")
    fig.update_xaxes(title_text=_("Year"), dtick=1 if span[1] - span[0] <= 12 else None,
                     showgrid=True, gridcolor="#eceff1")
    fig.update_yaxes(title_text=unit_text(unit, t), showgrid=True, gridcolor="#eceff1",
                     rangemode="tozero")
    return fig


def _targets(board: Dashboard, area: Any, indicator: str) -> pd.DataFrame:
    """The plan's targets of ``indicator`` for ``area`` at each milestone (progress.csv)."""
    folder = _set(board).assessment
    table = folder.progress if folder is not None else pd.DataFrame()
    if table.empty:
        return pd.DataFrame(columns=["milestone", "target"])
    level, _sep, key = str(area or WHOLE).partition(":")
    if level not in ("district", "unit"):
        level, key = "city", ""
    mine = (table["indicator"] == indicator) & (table["level"] == level)
    if level != "city":  # the territory's row carries its name as its id
        mine &= area_ids(table["area_id"]) == key
    rows = table[mine]
    return rows.dropna(subset=["milestone", "target"]).sort_values("milestone")


def _area_label(board: Dashboard, area: Any) -> str:
    return next((o["label"] for o in area_options(board) if o["value"] == area),
                ui().gettext("Whole territory"))


def _year(board: Dashboard, year: Any) -> int | None:
    observed = years(board)
    if not observed:
        return None
    try:
        value = int(year)
    except (TypeError, ValueError):
        return observed[-1]
    return value if value in observed else observed[-1]


# -- warnings --------------------------------------------------------------------------------
def warning_rows(board: Dashboard, year: Any, area: Any = WHOLE) -> pd.DataFrame:
    """The assessment's warnings of ``year`` (for one area or all), red first."""
    folder = _set(board).assessment
    if folder is None or folder.warnings.empty:
        return pd.DataFrame(columns=["year", "level", "area", "indicator", "status", "message"])
    table = folder.warnings
    rows = table[table["year"] == _year(board, year)]
    level, _sep, key = str(area or WHOLE).partition(":")
    if level in ("district", "unit"):
        names = _area_rows(board, area)["area"].astype(str).unique()
        rows = rows[(rows["level"] == level) & rows["area"].astype(str).isin(names)]
    order = {"red": 0, "yellow": 1}
    return rows.sort_values("status", key=lambda s: s.map(order).fillna(2), kind="stable")


def warnings_box(board: Dashboard, year: Any, area: Any = WHOLE) -> list[Any]:
    """Counts of green, yellow and red indicators in the year (in words and colours), then
    every warning: status chip, where, what."""
    from viz.tabs.scenario import warning_message

    t = ui()
    _ = t.gettext
    if _set(board).assessment is None:
        return [html.P(_("Serve an assessment (twin assess) to see its warnings."),
                       className="muted")]
    chosen = _year(board, year)
    states = _area_rows(board, area)
    states = states[states["year"] == chosen]["status"].value_counts()
    rows = warning_rows(board, year, area)
    # the chips count the chosen area's indicators; the list below has every warning in it
    counts = html.Div(className="monitoring-counts", id="monitoring-counts", children=[
        html.Span(_area_label(board, area) + ": ", style={"marginRight": "0.4em"}),
        *[status_chip(s, f"{t.number(int(states.get(s, 0)))} {_(s)}")
          for s in ("green", "yellow", "red")]])
    items = [html.Li(className=f"warning warning-{r.status}", children=[
        status_chip(str(r.status), _(str(r.status))),
        html.Span(localized(str(r.area), t.lang) if isinstance(r.area, str) and r.area
                  else _("Whole territory") if r.level == "city" else str(r.level),
                  className="warning-area"),
        html.Span(warning_message(r), className="warning-message")])
        for r in rows.itertuples()]
    head = html.Strong(_("{n} early warnings in {year}", n=len(rows), year=chosen))
    return [counts, head, html.Ul(items, className="warnings-list", id="monitoring-warnings",
                                  **{"data-count": len(rows),
                                     "data-red": int((rows["status"] == "red").sum())})]


# -- the map ---------------------------------------------------------------------------------
def _hex(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], np.uint8)


def _block_max(values: np.ndarray, step: int) -> np.ndarray:
    """The largest value of each ``step`` x ``step`` block (so a small severe patch is not
    dropped by the map's decimation)."""
    if step == 1:
        return values
    rows, cols = values.shape
    pad = np.zeros((-(-rows // step) * step, -(-cols // step) * step), values.dtype)
    pad[:rows, :cols] = values
    return pad.reshape(pad.shape[0] // step, step, pad.shape[1] // step, step).max(axis=(1, 3))


def layer_options(board: Dashboard) -> list[dict[str, Any]]:
    """The one-map layers of the TIM, then the change patches and the assessment's lines."""
    t = ui()
    _ = t.gettext
    names = {"units": _("Planning units"), "zoning": _("Zoning"),
             "control_lines": _("Control lines"), "amenities": _("Amenities")}
    watched = _set(board)
    options = [{"label": " " + names[k], "value": k} for k in onemap(board).available]
    if watched.changes is not None:
        options.append({"label": " " + _("Change patches {before} \u2192 {after}",
                                          before=watched.changes.before,
                                          after=watched.changes.after), "value": PATCHES})
    if watched.assessment is not None and watched.assessment.lines \
            and "control_lines" not in onemap(board).available:
        options.append({"label": " " + _("Control lines (derived)"), "value": LINES})
    return options


def default_layers(board: Dashboard) -> list[str]:
    shown = [o["value"] for o in layer_options(board)]
    return [k for k in (*DEFAULT_LAYERS, PATCHES, LINES) if k in shown]


def evaluation_options(board: Dashboard) -> list[dict[str, Any]]:
    t = ui()
    folder = _set(board).evaluation
    options = [{"label": " " + t.gettext("Land use"), "value": NONE}]
    if folder is not None:
        options += [{"label": " " + t.gettext(EVALUATIONS.get(k, k)), "value": k}
                    for k in folder.evaluations]
    return options


def map_figure(board: Dashboard, year: Any, layers: Sequence[str] | None,
               evaluation: Any = NONE, area: Any = WHOLE) -> go.Figure:
    """The observed land use of ``year`` (or a 双评价 grade layer over it), the change patches
    by severity, the derived lines and the one-map layers, the chosen area framed."""
    t = ui()
    _ = t.gettext
    watched = _set(board)
    layers = list(layers or ())
    grid, classes = watched.grid, watched.classes
    chosen = _year(board, year)
    land_use = watched.assessment.land_use(chosen) if chosen is not None else None
    size = max(grid.shape)
    step = max(1, int(np.ceil(size / MAX_CELLS)))
    fig = go.Figure()
    title = _("Observed land use {year}", year=chosen) if land_use is not None else ""
    evaluation = evaluation if watched.evaluation is not None and \
        evaluation in watched.evaluation.evaluations else NONE
    if land_use is not None:
        sub, _step = decimate(land_use, MAX_CELLS)
        rgba = land_use_rgba(sub, classes, lighten=0.6 if evaluation != NONE or
                             PATCHES in layers else 0.0)
    else:
        rows, cols = -(-grid.shape[0] // step), -(-grid.shape[1] // step)
        rgba = np.zeros((rows, cols, 4), np.uint8)
    legend: list[tuple[str, str]] = []
    if evaluation != NONE:
        grade, _step = decimate(watched.evaluation.grade(evaluation), MAX_CELLS)
        palette = GRADE_PALETTES.get(evaluation, GRADE_PALETTES["urban_suitability"])
        for g in range(5, 0, -1):
            cells = grade == g
            rgba[cells, :3] = _hex(palette[g])
            rgba[cells, 3] = 255
            legend.append((grade_words(evaluation, g), palette[g]))
        title = _(EVALUATIONS.get(evaluation, evaluation)) + " (" + _("双评价") + ")"
    elif land_use is not None:
        legend += [(localized(c.name, t.lang), c.colour) for c in classes]
    if PATCHES in layers and watched.changes is not None:
        rank = _block_max(watched.changes.severity_rank, step)[:rgba.shape[0], :rgba.shape[1]]
        for severity, r in SEVERITY_RANK.items():
            cells = rank == r
            rgba[cells, :3] = _hex(SEVERITY_COLOURS[severity])
            rgba[cells, 3] = 255
            legend.append((_("Change patch: {severity}", severity=severity_word(severity)),
                           SEVERITY_COLOURS[severity]))
        title += " \u00b7 " + _("change patches {before} \u2192 {after}",
                                before=watched.changes.before, after=watched.changes.after)
    if LINES in layers and watched.assessment is not None:
        for line, mask in watched.assessment.lines.items():
            edge = _edges(_block_max(mask.astype(np.uint8), step))[:rgba.shape[0],
                                                                     :rgba.shape[1]]
            colour = LINE_STYLES.get(line, {}).get("colour") or LINE_COLOURS.get(line, "#000")
            rgba[edge, :3] = _hex(colour)
            rgba[edge, 3] = 255
            name = line_name(line, t.lang) if line != "water_line" else _("Water line")
            legend.append((name + (_(" (derived)") if line in watched.derived_lines else ""),
                           colour))
    fig.add_trace(image_trace(rgba, grid, step))
    for name, colour in legend:
        fig.add_trace(legend_square(name, colour))
    map_layout(fig, grid, title=title, height=540,
               legend_title=_("Grade") if evaluation != NONE else _("Land use"),
               uirevision=f"monitoring:{grid.shape}")
    fig.update_layout(meta={"evaluation": evaluation, "year": chosen,
                            "patches": PATCHES in layers})
    return add_overlays(fig, onemap(board), [k for k in layers if k not in (PATCHES, LINES)],
                        area if area != WHOLE else None)


def image_trace(rgba: np.ndarray, grid: Any, step: int) -> go.Image:
    """The map's picture as a PNG on the km axes (rows north to south, as the grid's): a
    600-cell side as numbers would be megabytes of JSON for the browser, as a PNG some kB."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba[::-1]), "RGBA").save(buffer, "PNG",
                                                                   optimize=False)
    dx, dy = grid.cell_size
    xs, ys = grid_axes_km(grid, step)
    return go.Image(source="data:image/png;base64," + base64.b64encode(
        buffer.getvalue()).decode(), x0=xs[0], y0=ys[0], dx=step * abs(dx) / 1000.0,
        dy=step * abs(dy) / 1000.0, hoverinfo="skip", name="map")


def image_pixels(trace: go.Image) -> np.ndarray:
    """The RGBA pixels of :func:`image_trace`'s picture, north row first (for tests)."""
    import base64
    import io

    from PIL import Image

    data = base64.b64decode(str(trace.source).split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[::-1]


def _edges(mask: np.ndarray) -> np.ndarray:
    """Cells of ``mask`` with a 4-neighbour outside it: the line's outline on the map."""
    mask = mask > 0
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


# -- tables ----------------------------------------------------------------------------------
def patch_rows(board: Dashboard) -> list[dict[str, Any]]:
    """Every change patch (most severe first) with its words in the page's language; the
    table rounds for display only."""
    t = ui()
    folder = _set(board).changes
    if folder is None:
        return []
    names = line_names(t)
    rows = []
    for r in folder.patches.itertuples():
        touches = [names.get(x, x) for x in str(r.touches).split(";")
                   if x and str(r.touches) != "nan"]
        rows.append({"patch_id": int(r.patch_id), "severity": severity_word(str(r.severity)),
                     "reason": reason_words(t, str(r.reason)),
                     "from_name": localized(str(r.from_name), t.lang),
                     "to_name": localized(str(r.to_name), t.lang), "area_ha": float(r.area_ha),
                     "unit": localized(str(r.unit), t.lang)
                     if isinstance(r.unit, str) and r.unit else "-",
                     "touches": ", ".join(touches) or "-", "_rank": SEVERITY_RANK.get(
                         str(r.severity), 0)})
    return rows


def patches_box(board: Dashboard) -> list[Any]:
    """The patch counts per severity and the downloads (the table is :func:`patch_table`)."""
    t = ui()
    _ = t.gettext
    folder = _set(board).changes
    if folder is None:
        return [html.P(_("Serve change patches (twin changes) to see them here."),
                       className="muted")]
    by = folder.manifest.get("by_severity", {})
    counts = html.P([html.Span([html.Span(className="swatch", style={
        "background": SEVERITY_COLOURS[s]}), _("{severity}: {n} patches, {area}",
                                               severity=severity_word(s),
                                               n=t.number(by.get(s, {}).get("patches", 0)),
                                               area=t.area(by.get(s, {}).get("area_ha", 0)))],
        className="severity-count", style=SPACED) for s in SEVERITY_RANK],
        className="severity-counts")
    links = html.P(className="downloads", children=[
        html.A(_("Download all {count} patches (CSV)", count=t.number(len(folder.patches))),
               href=f"{MONITORING_ROUTE}changes/patches.csv", id="patches-download",
               download=f"{folder.path.name}-patches.csv", className="download-link",
               style=SPACED, **{"data-key": "patches.csv"}), " ",
        *[html.A(key, href=f"{MONITORING_ROUTE}changes/{key}", className="download-link",
                 download=f"{folder.path.name}-{key}", style=SPACED, **{"data-key": key})
          for key in ("patches.gpkg", "line_summary.csv", "farmland_balance.csv")]])
    return [counts, links]


def patch_table(board: Dashboard) -> html.Div:
    """Every patch in a sortable, paged table; the server sends one page at a time
    (:func:`patch_page`: Wuhan's 16,000 patches would be megabytes at once)."""
    from dash.dash_table.Format import Format, Scheme

    _ = ui().gettext
    folder = _set(board).changes
    n = 0 if folder is None else len(folder.patches)
    columns = [{"id": cid, "name": _(name), **({"type": "numeric", "format": Format(
        precision=digits, scheme=Scheme.fixed)} if digits is not None else {})}
        for cid, name, digits in PATCH_COLUMNS]
    styles = [{"if": {"filter_query": f"{{_rank}} = {rank}", "column_id": "severity"},
               "color": SEVERITY_COLOURS[s], "fontWeight": "600"}
              for s, rank in SEVERITY_RANK.items()]
    table = dash_table.DataTable(
        id="patches-datatable", data=[], columns=columns, sort_action="custom",
        sort_mode="single", sort_by=[], page_action="custom", page_current=0,
        page_size=PAGE_SIZE, page_count=max(1, -(-n // PAGE_SIZE)),
        style_as_list_view=True, style_data_conditional=styles,
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px",
                    "textAlign": "left", "whiteSpace": "normal"},
        style_cell_conditional=[{"if": {"column_type": "numeric"}, "textAlign": "right"}],
        style_header={"fontWeight": "600"})
    return html.Div(table, id="patches-table", hidden=folder is None, **{"data-count": n})


_PATCH_FRAMES: dict[tuple[str, str], pd.DataFrame] = {}


def patch_page(board: Dashboard, page: Any, sort_by: Any) -> list[dict[str, Any]]:
    """One page of the patch table, sorted on the values (severity by its rank; the file's
    order, most severe and largest first, when unsorted)."""
    key = (str(_set(board).changes.path) if _set(board).changes else "", ui().lang)
    if key not in _PATCH_FRAMES:  # the words of 16,000 patches, once per language
        _PATCH_FRAMES[key] = pd.DataFrame(patch_rows(board))
    rows = _PATCH_FRAMES[key]
    if rows.empty:
        return []
    if sort_by:
        column = str(sort_by[0].get("column_id"))
        column = "_rank" if column == "severity" else column
        if column in rows.columns:
            rows = rows.sort_values(column, ascending=sort_by[0].get("direction") != "desc",
                                    kind="stable")
    try:
        first = max(0, int(page or 0)) * PAGE_SIZE
    except (TypeError, ValueError):
        first = 0
    return rows.iloc[first:first + PAGE_SIZE].to_dict("records")


def grades_box(board: Dashboard, evaluation: Any, area: Any = WHOLE) -> list[Any]:
    """Areas by grade of one 双评价 evaluation for the territory, its districts and units."""
    t = ui()
    _ = t.gettext
    folder = _set(board).evaluation
    if folder is None:
        return [html.P(_("Serve a 双评价 evaluation (twin evaluate) to see its grades."),
                       className="muted")]
    key = evaluation if evaluation in folder.evaluations else folder.evaluations[0]
    palette = GRADE_PALETTES.get(key, GRADE_PALETTES["urban_suitability"])
    table = folder.grade_areas
    table = table[table["evaluation"] == key]
    level, _sep, chosen = str(area or WHOLE).partition(":")
    ids = area_ids(table["area_id"])
    head = html.Tr([html.Th(_("Planning area"))] + [html.Th(grade_words(key, g), className="num",
                                                    style={"borderBottom":
                                                           f"4px solid {palette[g]}"})
                                           for g in range(5, 0, -1)])
    body = []
    for r, zid in zip(table.itertuples(), ids):
        name = _("Whole territory") if r.level == "city" else localized(str(r.area), t.lang)
        selected = r.level == level and zid == chosen
        body.append(html.Tr(className="selected" if selected else None, children=[
            html.Td(name if r.level != "district" else _("District") + " \u00b7 " + name)] + [
            html.Td(t.area(getattr(r, f"grade_{g}_ha")), className="num")
            for g in range(5, 0, -1)]))
    legend = html.Div(className="grade-legend", id="grade-legend", children=[
        html.Span([html.Span(className="swatch", style={"background": palette[g]}),
                   grade_words(key, g)], style=SPACED) for g in range(5, 0, -1)])
    links = html.P(className="downloads", children=[
        html.A(name, href=f"{MONITORING_ROUTE}evaluation/{name}", className="download-link",
               download=f"{folder.path.name}-{name}", style=SPACED, **{"data-key": name})
        for name in ("grade_areas.csv", "capacity.csv")])
    return [html.H3(_(EVALUATIONS.get(key, key))), legend,
            html.Div(className="table-scroll", style={"maxHeight": "420px", "overflowY": "auto"},
                     children=html.Table(
                id="grades-table", className="table", **{"data-evaluation": key},
                children=[html.Thead(head), html.Tbody(body)])), links]


def summary(board: Dashboard) -> list[Any]:
    """What is served: the years, the change period, the evaluations, derived lines, notes."""
    t = ui()
    _ = t.gettext
    watched = _set(board)
    parts: list[Any] = []
    if watched.assessment is not None:
        parts.append(html.Li(_("Assessment of the observed years {years}", years=", ".join(
            str(y) for y in watched.assessment.years))))
    if watched.changes is not None:
        parts.append(html.Li(_("Change patches {before} \u2192 {after}: {n}",
                               before=watched.changes.before, after=watched.changes.after,
                               n=t.number(len(watched.changes.patches)))))
    if watched.evaluation is not None:
        parts.append(html.Li(_("双评价: {names}", names=", ".join(
            _(EVALUATIONS.get(k, k)) for k in watched.evaluation.evaluations))))
    notes = [html.Li(_("{line}: a derived stand-in, not an adopted line ({rule}).",
                       line=line_name(line, t.lang) if line != "water_line"
                       else _("Water line"), rule=rule), className="derived-note")
             for line, rule in watched.derived_lines.items()]
    # a note the catalogue knows (the demo's) is said in the page's language
    notes += [html.Li(_(note), className="derived-note")
              for note in dict.fromkeys(f.note for f in watched.folders if f.note)]
    return [html.Ul(parts, id="monitoring-summary"),
            *([html.Ul(notes, className="muted")] if notes else [])]


# -- layout and callbacks --------------------------------------------------------------------
def layout(board: Dashboard) -> list[Any]:
    t = ui()
    _ = t.gettext
    observed = years(board)
    indicators = indicator_options(board)
    return [
        panel(_("Monitoring the plan"), html.Div(summary(board)), html.Div(
            className="monitoring-controls", children=[
                html.Div(className="control", children=[
                    html.Label(_("Observed year")),
                    dcc.RadioItems(id="mon-year", className="toggle", inline=True,
                                   options=[{"label": f" {y}", "value": y} for y in observed],
                                   value=observed[-1] if observed else None)]),
                html.Div(className="control", children=[
                    html.Label(_("for"), htmlFor="mon-area"),
                    dcc.Dropdown(id="mon-area", options=area_options(board), value=WHOLE,
                                 clearable=False, searchable=True)]),
            ])),
        panel(_("Indicators over the observed years"), html.Div(className="control", children=[
            dcc.Dropdown(id="mon-indicator", options=indicators,
                         value=_default_indicator(indicators), clearable=False,
                         searchable=True)]), graph("mon-series", 360)),
        panel(_("Warnings"), html.Div(id="mon-warnings", className="warnings")),
        panel(_("Map"), graph("mon-map", 540), head=html.Div(className="map-toggles", children=[
            dcc.Checklist(id="mon-layers", className="toggle layer-toggle", inline=True,
                          options=layer_options(board), value=default_layers(board)),
            dcc.RadioItems(id="mon-evaluation", className="toggle", inline=True,
                           options=evaluation_options(board), value=NONE)]),
            className="map-panel"),
        panel(_("Change patches"), html.Div(id="mon-patches"), patch_table(board)),
        panel(_("Grade areas (双评价)"), html.Div(id="mon-grades")),
    ]


def _default_indicator(options: list[dict[str, str]]) -> str | None:
    values = [o["value"] for o in options]
    return "built_up_area" if "built_up_area" in values else (values[0] if values else None)


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("mon-series", "figure"), shown(KEY),
                  Input("mon-area", "value"), Input("mon-indicator", "value"),
                  Input("mon-year", "value"))
    def _on_series(tab, area, indicator, year):
        active(tab, KEY)
        return series_figure(board, area, indicator, year)

    @app.callback(Output("mon-warnings", "children"), shown(KEY),
                  Input("mon-year", "value"), Input("mon-area", "value"))
    def _on_warnings(tab, year, area):
        active(tab, KEY)
        return warnings_box(board, year, area)

    @app.callback(Output("mon-map", "figure"), shown(KEY),
                  Input("mon-year", "value"), Input("mon-layers", "value"),
                  Input("mon-evaluation", "value"), Input("mon-area", "value"))
    def _on_map(tab, year, layers, evaluation, area):
        active(tab, KEY)
        return map_figure(board, year, layers, evaluation, area)

    @app.callback(Output("mon-patches", "children"), shown(KEY))
    def _on_patches(tab):
        active(tab, KEY)
        return patches_box(board)

    @app.callback(Output("patches-datatable", "data"), shown(KEY),
                  Input("patches-datatable", "page_current"),
                  Input("patches-datatable", "sort_by"))
    def _on_patch_page(tab, page, sort_by):
        active(tab, KEY)
        return patch_page(board, page, sort_by)

    @app.callback(Output("mon-grades", "children"), shown(KEY),
                  Input("mon-evaluation", "value"), Input("mon-area", "value"))
    def _on_grades(tab, evaluation, area):
        active(tab, KEY)
        return grades_box(board, evaluation, area)

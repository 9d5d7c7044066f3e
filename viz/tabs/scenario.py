"""Scenario tab: one run in one year - indicator cards (whole territory, a district or a planning
unit, with plan targets), early warnings, the land-use map, indicators over time with ensemble
bands, and in 3D the buildings (by height, use or flood depth) with the run's new buildings.

The callbacks are thin wrappers around plain functions of the dashboard and the control values
(:func:`run_controls`, :func:`map_figure`, :func:`card_data`, :func:`warning_rows`,
:func:`timeline_figure`, :func:`scene_spec`), tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from scenarios.ensemble import band_columns
from scenarios.i18n import scenario_text
from scenarios.indicators import FLOOD_INDICATORS
from tim.classes import localized
from viz import downloads, fragments, scene
from viz.cesium import drape_spec
from viz.figures import (Memo, SeriesSpec, flood_depth_trace, indicator_timeline,
                          land_use_figure, land_use_image, neutral_sea, withheld_figure)
from viz.onemap import (DEFAULT_LAYERS, add_overlays, entities, hidden_note, line_name,
                        transformer, zone_words)
from viz.i18n import (area_in, indicator_words, status_text, threshold_text, ui, unit_text,
                       value_text)
from viz.layout import (CardData, building_legend, graph, indicator_card,
                        new_buildings_legend, panel, status_chip, year_marks)
from viz.sources import calibration_label, products_cleared, run_calibration
from viz.tabs import context, run_and_year, scene_outputs, year_in

if TYPE_CHECKING:
    import dash

    from scenarios.rundir import RunDirectory
    from viz.app import Dashboard
    from viz.sources import Ensemble

KEY = "scenario"
#: The indicators of the timeline chart, left to right.
TIMELINE_INDICATORS = ("population", "built_up_area", "construction_land_per_capita",
                       "farmland_lost")
WHOLE = "city"
#: Ratios and the indicator they divide by: with a zero denominator (a unit without residents
#: or without built-up land) the ratio cannot be computed and reads n/a, never 0.
DENOMINATORS = {"construction_land_per_capita": "population", "school_access": "population",
                "park_access": "population", "development_intensity": "built_up_area"}


def _year(run: RunDirectory, year: Any) -> int:
    return year_in(run.years, year)


def _surge_level(run: RunDirectory) -> float | None:
    """The surge's peak still-water level as the run recorded it (a water level, a return
    period's or a hydrograph's peak, with sea-level rise)."""
    surge = run.surge or {}
    level = surge.get("peak_level_m")
    return None if level is None else float(level)


# -- controls --------------------------------------------------------------------------------
def run_controls(board: Dashboard, index: Any, year: Any, colour: Any) -> dict[str, Any]:
    """Slider range, flood toggle, 3D colouring and description for the chosen run.

    The year is kept when the new run has it. A run with a storm surge switches the 3D view
    to flood depth (the point of that scenario); leaving it switches flood depth off again.
    """
    t = ui()
    _ = t.gettext
    run = board.run(index)
    years = run.years
    surge = run.surge_year
    if surge is None:
        flood_options = [{"label": " " + _("No storm surge in this scenario"),
                          "value": "flood", "disabled": True}]
        flood_value: list[str] = []
    else:
        level = _surge_level(run)
        text = (_("Flood depth ({year} surge, peak {level} m)", year=surge,
                  level=t.number(level, 2)) if level is not None
                else _("Flood depth ({year} surge)", year=surge))
        flood_options = [{"label": " " + text, "value": "flood"}]
        flood_value = ["flood"]
    has_depths = scene.flood_style(run) is not None
    colour_options = [{"label": " " + _("Flood depth"), "value": "flood",
                       "disabled": not has_depths},
                      {"label": " " + _("Height"), "value": "height"},
                      {"label": " " + _("Use"), "value": "use"}]
    if has_depths:
        colour = "flood"
    elif colour not in ("height", "use"):
        colour = "height"
    return {"min": years[0], "max": years[-1], "marks": year_marks(years),
            "year": _year(run, year), "flood_options": flood_options,
            "flood_value": flood_value, "colour_options": colour_options, "colour": colour,
            "description": scenario_text(
                run.manifest["scenario"].get("description", "").strip(), t)}


# -- cards and warnings ----------------------------------------------------------------------
def area_options(board: Dashboard) -> list[dict[str, str]]:
    """The whole territory, then each district and planning unit of the baseline's roll-up."""
    _ = ui()
    options = [{"label": _("Whole territory"), "value": WHOLE}]
    areas = board.baseline.area_indicators
    if areas is None:
        return options
    seen = areas[areas["level"].isin(["district", "unit"])].drop_duplicates(
        ["level", "area_id"])
    names = {"district": _("District"), "unit": _("Planning unit")}
    for level in ("district", "unit"):
        for row in seen[seen["level"] == level].itertuples():
            options.append({"label": f"{names[level]} \u00b7 {localized(row.area, _.lang)}",
                            "value": f"{level}:{row.area_id}"})
    return options


def _area_rows(run: RunDirectory, area: str, year: int) -> pd.DataFrame | None:
    """The run's rows for ``area`` (``level:area_id``) in ``year``, indexed by indicator."""
    table = run.area_indicators
    if table is None:
        return None
    level, _, area_id = area.partition(":")
    rows = table[(table["year"] == year) & (table["level"] == level)
                 & (table["area_id"].astype(str) == area_id)]
    return rows.set_index("indicator")


def card_data(board: Dashboard, index: Any, year: Any, area: str = WHOLE,
              area_unit: str | None = None) -> list[CardData]:
    """The indicator cards of a run in a year, in registry order, with baseline differences.

    ``area`` is ``city`` (the whole territory: ``indicators.csv``, with the plan's city targets
    from ``indicators_areas.csv``) or ``district:<id>`` / ``unit:<id>`` (that area's rows of
    ``indicators_areas.csv``, statuses against its own targets). Flood indicators are left
    out of runs without a storm surge: there they are zero by construction.
    """
    run = board.run(index)
    year = _year(run, year)
    is_baseline = run is board.baseline
    t = ui()
    level = WHOLE if area == WHOLE else area.partition(":")[0]
    if area == WHOLE:
        rows = run.indicators[run.indicators["year"] == year].set_index("indicator")
        base = board.baseline.indicators
        base_values = base[base["year"] == year].set_index("indicator")["value"]
        table = run.area_indicators
        city = (None if table is None else
                table[(table["year"] == year) & (table["level"] == "city")]
                .set_index("indicator"))
        targets = pd.Series(dtype=float) if city is None else city["target"]
        if city is not None and len(city):
            # The territory is judged by the rule of the districts and units (its plan target
            # included): the city row of the roll-up, where it has the indicator.
            rows = rows.copy()
            shared = rows.index.intersection(city.index)
            rows.loc[shared, "status"] = city.loc[shared, "status"].astype(str)
    else:
        rows = _area_rows(run, area, year)
        if rows is None or not len(rows):
            return []
        base_rows = _area_rows(board.baseline, area, year)
        base_values = base_rows["value"] if base_rows is not None else pd.Series(dtype=float)
        targets = rows["target"]
    order = [k for k in board.registry if k in rows.index]
    order += [k for k in rows.index if k not in board.registry]
    cards = []
    for key in order:
        if run.surge_year is None and key in FLOOD_INDICATORS:
            continue
        row = rows.loc[key]
        definition = board.registry.get(key)
        words = indicator_words(definition, key, t)
        value = float(row["value"])
        status = str(row["status"])
        below = DENOMINATORS.get(key)
        empty = below in rows.index and float(rows.loc[below, "value"]) == 0
        if empty:
            value, status = float("nan"), "info"
        delta = None
        if not is_baseline and key in base_values.index:
            delta = value - float(base_values[key])
        note = ""
        if empty:
            delta = None
            note = (t.gettext("no residents here") if below == "population"
                    else t.gettext("no built-up land here"))
        if key in FLOOD_INDICATORS and year != run.surge_year:
            note = t.gettext("surge in {year}", year=run.surge_year)
        target = targets.get(key) if key in targets.index else None
        target = None if target is None or pd.isna(target) else float(target)
        unit = str(row["unit"])
        threshold = threshold_text(definition, level, unit, t, area_unit)
        # Areas in the unit the reader chose (ha, 亩, km²); statuses stay those of the run.
        value, shown = area_in(value, unit, area_unit)
        delta = area_in(delta, unit, area_unit)[0]
        target = area_in(target, unit, area_unit)[0]
        cards.append(CardData(
            key=key, name=words["name"], definition=words["definition"], value=value,
            unit=shown, status=status, delta=delta,
            is_baseline=is_baseline, note=note, target=target, threshold=threshold,
            words=words))
    return cards


def _area_name(board: Dashboard, area: str) -> str:
    """The area's name as the run's tables write it (``warnings.csv``'s ``area``)."""
    table = board.baseline.area_indicators
    level, _, key = area.partition(":")
    if table is None:
        return ""
    rows = table[(table["level"] == level) & (table["area_id"].astype(str) == key)]
    return str(rows["area"].iloc[0]) if len(rows) else ""


def warning_rows(board: Dashboard, index: Any, year: Any, area: str = WHOLE) -> pd.DataFrame:
    """The run's early warnings in ``year`` (and those without a year, e.g. a plan that does
    not balance), for one area or all; red first."""
    run = board.run(index)
    table = run.warnings
    if table is None or table.empty:
        return pd.DataFrame(columns=["year", "level", "area", "indicator", "status", "message"])
    year = _year(run, year)
    rows = table[(table["year"] == year) | table["year"].isna()]
    if area != WHOLE:
        rows = rows[rows["area"].astype(str) == _area_name(board, area)]
    areas = run.area_indicators
    if areas is not None and len(rows) and "value" not in rows.columns:
        # The values and targets the warnings speak of, so the page can say them in its
        # language: the roll-up's rows of the same year, level, area and indicator (the city
        # row's area is the territory's name; warnings.csv leaves it empty).
        facts = areas[["year", "level", "area", "indicator", "value", "unit", "target"]].copy()
        facts = facts[facts["level"] != "city"]
        city = run.indicators[["year", "indicator", "value", "unit"]].merge(
            areas.loc[areas["level"] == "city", ["year", "indicator", "target"]], how="left",
            on=["year", "indicator"]).assign(level="city", area="")
        facts = pd.concat([facts, city], ignore_index=True)
        keyed = rows.assign(_area=rows["area"].fillna("").astype(str))
        rows = keyed.merge(facts.rename(columns={"area": "_area"}), how="left",
                           on=["year", "level", "_area", "indicator"]).drop(columns="_area")
    order = {"red": 0, "yellow": 1}
    return rows.sort_values("status", key=lambda s: s.map(order).fillna(2), kind="stable")


def warnings_list(rows: pd.DataFrame, year: int) -> list[Any]:
    """The warnings as a compact list: status chip, where, what."""
    _ = ui()
    count = len(rows)
    red = int((rows["status"] == "red").sum()) if count else 0
    head = html.Div(className="warnings-head", children=[
        html.Strong(_("1 early warning in {year}", year=year) if count == 1
                    else _("{n} early warnings in {year}", n=count, year=year)),
        html.Span(_("{red} red, {yellow} yellow", red=red, yellow=count - red) if count
                  else _("all indicators within their thresholds"), className="muted")])
    items = [html.Li(className=f"warning warning-{r.status}", children=[
        status_chip(r.status, _("red") if r.status == "red" else _("yellow")),
        html.Span(localized(r.area, _.lang) if isinstance(r.area, str) and r.area
                  else _("Whole territory")
                  if r.level == "city" else r.level.capitalize(), className="warning-area"),
        html.Span(warning_message(r), className="warning-message")])
        for r in rows.itertuples()]
    return [head, html.Ul(items, className="warnings-list", id="warnings-list",
                          **{"data-count": count, "data-red": red})]


def warning_message(row: Any) -> str:
    """A warning in the page's language: the indicator, its value and the limit it breaks.

    The run writes its warnings in English (``warnings.csv``); the page says them again from
    the row's fields where the registry knows the indicator, else shows the run's sentence.
    """
    t = ui()
    from scenarios.indicators import load_registry

    definition = load_registry().get(str(getattr(row, "indicator", "")))
    value = getattr(row, "value", None)
    if definition is None or value is None or pd.isna(value):
        return str(row.message)

    unit = str(getattr(row, "unit", definition.unit))
    words = indicator_words(definition, definition.id, t)
    level = str(getattr(row, "level", "city"))
    limit = threshold_text(definition, level, unit, t)
    if limit:
        limit = t.gettext("threshold {range}", range=limit)
    target = getattr(row, "target", None)
    if target is not None and not pd.isna(target):
        limit = t.gettext("plan target {value} {unit}", value=value_text(float(target), unit),
                          unit=unit_text(unit, t))
    return t.gettext("{name}: {value} {unit} ({limit})", name=words["name"],
                     value=value_text(float(value), unit), unit=unit_text(unit, t),
                     limit=limit or status_text(str(row.status), t))


# -- map and timeline ------------------------------------------------------------------------
def _flood_shown(run: RunDirectory, flood: Sequence[str] | None) -> bool:
    return run.surge_year is not None and bool(flood) and "flood" in flood  # type: ignore


def _map_title(board: Dashboard, run: RunDirectory, year: int, flood: bool) -> str:
    _ = ui()
    title = _("Land use {year}", year=year) + f" \u00b7 {board.label(run)}"
    calibrated = run_calibration(run.manifest)
    if calibrated is not None:  # the run says so; the dashboard does not guess
        title += f" \u00b7 {calibration_label(calibrated)}"
    if flood:
        title += " \u00b7 " + (_("flood depth") if year == run.surge_year
                               else _("flood in {year}", year=run.surge_year))
    return title


def _land_depth(board: Dashboard, run: RunDirectory, land_use: np.ndarray) -> np.ndarray:
    """The surge's depth on the land: the sea is under water by definition."""
    return np.where(board.classes.group_mask(land_use, "sea"), np.nan, run.water_depth())


def map_figure(board: Dashboard, index: Any, year: Any, flood: Sequence[str] | None,
               layers: Sequence[str] | None = None, area: Any = WHOLE) -> go.Figure:
    """The land-use map of the run and year, with the flood depth in the surge year, the
    one-map ``layers`` shown (:mod:`viz.onemap`) and the chosen ``area`` outlined and framed."""
    run = board.run(index)
    if not products_cleared(run):  # the one-map layers the user may see, no run map
        return add_overlays(withheld_figure(board.grid, hidden_note()), board.onemap, layers,
                            area)
    year = _year(run, year)
    land_use = run.land_use(year)
    flooded = _flood_shown(run, flood)
    depth = _land_depth(board, run, land_use) if flooded and year == run.surge_year else None
    fig = land_use_figure(land_use, board.grid, board.classes,
                          title=_map_title(board, run, year, flooded), water_depth=depth)
    return add_overlays(fig, board.onemap, layers, area)


#: Map frames by (board, run, flood, layers, area, language, clearance), see map_frames.
_FRAMES = Memo(32)
#: One year's land-use image and flood trace by (board, run, year, flood, language).
_YEAR_IMAGES = Memo(256)


def _year_frame(board: Dashboard, i: int, year: int, flooded: bool) -> dict[str, Any]:
    """The image of one year's land use (the sea neutral under a flood) and its flood trace
    (no one-map layer: the same for every user)."""
    def build() -> dict[str, Any]:
        run = board.runs[i]
        land_use = run.land_use(year)
        wet = flooded and year == run.surge_year
        classes = neutral_sea(board.classes) if wet else board.classes
        traces = []
        if wet:
            trace = flood_depth_trace(_land_depth(board, run, land_use), board.grid)
            traces = [] if trace is None else [trace.to_plotly_json()]
        return {"source": land_use_image(land_use, board.grid, classes).source,
                "traces": traces}

    return _YEAR_IMAGES.get((id(board), i, year, flooded, ui().lang), build, board)


def map_frames(board: Dashboard, index: Any, flood: Sequence[str] | None,
               layers: Sequence[str] | None = None, area: Any = WHOLE) -> dict[str, Any]:
    """The land-use map of a run for every year at once: one figure (its first year, the
    layers and the area) and, per year, its image, title and flood trace.

    The page swaps the year in the browser (``twinmaps.frame``): moving the year slider
    asks the server for nothing. Kept per run, layers, area, language and clearance.
    """
    from viz.server import current_clearance

    i = board.run_index(index)
    run = board.runs[i]
    flooded = _flood_shown(run, flood)
    key = (id(board), i, flooded, tuple(sorted(layers or ())), str(area), ui().lang,
           current_clearance())

    def build() -> dict[str, Any]:
        figure = map_figure(board, i, run.years[0], ["flood"] if flooded else None, layers,
                            area)
        if not products_cleared(run):  # the frame says why; no year's image is sent
            return {"run": i, "figure": figure.to_plotly_json(), "years": {}, "last": ""}
        years = {str(y): {**_year_frame(board, i, y, flooded),
                          "title": _map_title(board, run, y, flooded)} for y in run.years}
        return {"run": i, "figure": figure.to_plotly_json(), "years": years,
                "last": str(run.years[-1])}

    return _FRAMES.get(key, build, board)


def clicked_point(board: Dashboard, ask: Any) -> tuple[float, float] | None:
    """The point asked about in the TIM's CRS: ``{"click": plotly clickData}`` on a map (km
    axes) or ``{"lonlat": [lon, lat]}`` from the 3D view; None when it says no point."""
    try:
        if ask.get("lonlat") is not None:
            lon, lat = (float(v) for v in ask["lonlat"])
            x, y = transformer("EPSG:4326", board.grid.crs).transform(lon, lat)
        else:
            point = ask["click"]["points"][0]
            x, y = float(point["x"]) * 1000.0, float(point["y"]) * 1000.0
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def point_query(board: Dashboard, index: Any, year: Any, ask: Any) -> list[Any]:
    """What is at the point asked about (:func:`clicked_point`): planning unit, zone with its
    caps, the control lines that apply, the land-use class and the residents of the cell in
    the run and year."""
    t = ui()
    _ = t.gettext
    where = clicked_point(board, ask)
    if where is None:
        return [html.P(_("Click the map to see what applies there."), className="muted")]
    x, y = where
    run = board.run(index)
    year = _year(run, year)
    a, _b, c, _d, e, f = board.grid.transform[:6]
    row, col = int((y - f) // e), int((x - c) // a)
    rows: list[tuple[str, Any]] = []
    hit = board.onemap.at(x, y)
    if hit["unit"] is not None:
        u = hit["unit"]
        rows.append((_("Planning unit"), localized(str(u.get("name", u.get("unit_id"))), t.lang)
                     + (f" \u00b7 {localized(str(u['district']), t.lang)}"
                        if u.get("district") else "")))
    else:
        rows.append((_("Planning unit"), _("outside the planning units")))
    rows.append((_("Zone"), zone_words(hit["zone"]) if hit["zone"] is not None
                 else _("no zoning here")))
    lines = [line_name(str(c.get("kind", "")), t.lang) for c in hit["lines"]]
    rows.append((_("Control lines"), ", ".join(lines) if lines else _("none apply here")))
    inside = 0 <= row < board.grid.shape[0] and 0 <= col < board.grid.shape[1]
    if inside:
        code = int(run.land_use(year)[row, col])
        cls = next((k for k in board.classes if k.code == code), None)
        rows.append((_("Land use {year}", year=year),
                     localized(cls.name, t.lang) if cls is not None else str(code)))
        people = float(run.population(year)[row, col])
        rows.append((_("Residents in the cell"), t.number(people) + " " + unit_text("persons", t)))
    else:
        rows.append((_("Land use {year}", year=year), _("outside the territory")))
    return [html.Table(id="map-query-table", className="table query-table",
                       **{"data-x": round(x, 1), "data-y": round(y, 1)}, children=[
        html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])])]


def ensemble_band(ensemble: Ensemble, label: str) -> pd.DataFrame:
    """An ensemble's P10-P90 interval (P5-P95 for an old ensemble: :func:`band_columns`) as
    timeline bands (columns of :func:`viz.figures.indicator_timeline`'s ``bands``) for the run
    labelled ``label``."""
    table = ensemble.intervals
    lo, hi, lo_q, hi_q = band_columns(table)
    name = ui().gettext("{label}: P{lo}\u2013P{hi} of {n} seeds", label=label, lo=lo_q, hi=hi_q,
                        n=len(ensemble.seeds))
    return pd.DataFrame({"run": label, "year": table["year"], "indicator": table["indicator"],
                         "lo": table[lo], "hi": table[hi], "name": name})


def timeline_figure(board: Dashboard, index: Any, year: Any) -> go.Figure:
    """Key indicators of all runs over time, the chosen run highlighted, the year marked;
    a run whose scenario has an ensemble gets the ensemble's band (P10-P90)."""
    t = ui()
    panels = []
    for key in TIMELINE_INDICATORS:
        definition = board.registry.get(key)
        if definition is not None:
            panels.append(SeriesSpec(key, indicator_words(definition, key, t)["name"],
                                     unit_text(definition.unit, t), definition.green))
    run = board.run(index)
    bands = [ensemble_band(e, board.label(r)) for r in board.runs
             if (e := board.ensemble_of(r)) is not None]
    return indicator_timeline(board.timeline_values(), panels, board.labels,
                              year=_year(run, year), highlight=board.label(run),
                              bands=pd.concat(bands, ignore_index=True) if bands else None,
                              columns=2, height=480)


#: Timelines by (board, run, language): the year marker is moved in the browser.
_TIMELINES = Memo(32)


def timeline_of_run(board: Dashboard, index: Any) -> dict[str, Any]:
    """The timeline of a run as the page keeps it (``twinmaps.marker`` moves its year)."""
    i = board.run_index(index)
    return _TIMELINES.get((id(board), i, ui().lang), lambda: timeline_figure(
        board, i, board.runs[i].years[0]).to_plotly_json(), board)


# -- 3D --------------------------------------------------------------------------------------
def scene_side(board: Dashboard, index: int, year: int, mode: Any, flood: bool, *,
               label: str = "") -> tuple[dict[str, Any], scene.Development | None]:
    """One side of a scene: the run's drape, its buildings' style with the buildings its
    redevelopments replaced hidden, and its new buildings standing in ``year``."""
    run = board.runs[index]
    style = dict(scene.building_style(board, run, mode))
    state = scene.development(run, year)
    if state is not None:
        style["hide"] = list(state.replaced)
    return ({"label": label, "drape": dict(drape_spec(board, index, year, flood)),
             "buildings": style, "overlays": scene.new_buildings_overlay(board, run, state)},
            state)


def scene_spec(board: Dashboard, index: Any, year: Any, mode: Any,
               flood: Sequence[str] | None, layers: Sequence[str] | None = None,
               area: Any = WHOLE) -> tuple[dict[str, Any], list[Any]]:
    """The 3D scene of the tab and its legend (the one-map layers draped on the city)."""
    i = board.run_index(index)
    run = board.runs[i]
    year = _year(run, year)
    side, state = scene_side(board, i, year, mode, bool(flood and "flood" in flood))
    legend = building_legend(side["buildings"])
    if state is not None:
        legend += new_buildings_legend(
            scene.NEW_COLOURS, len(state.standing), state.redevelopments, len(state.replaced),
            year, published=bool(side["overlays"]))
    key = f"{KEY}:{i}:{year}:{side['buildings']['mode']}:{int(bool(flood))}"
    return {"key": key, "sides": [side],
            "entities": _entities(board, layers, area),
            "camera": _camera(board, area)}, legend


#: 3D scenes of a run for every year, by (board, run, colouring, flood, layers, area,
#: language, clearance), see scene_frames.
_SCENES = Memo(32)


def scene_frames(board: Dashboard, index: Any, mode: Any, flood: Sequence[str] | None,
                 layers: Sequence[str] | None = None, area: Any = WHOLE) -> dict[str, Any]:
    """The 3D scene and legend of a run for every year at once (:func:`scene_spec` of each
    year), as the page keeps them: the one-map entities and the buildings' colours, the same
    in every year, once; per year the drape, the buildings replaced by then, the new
    buildings standing and the legend.

    The page picks the year in the browser (``twinmaps.scene``): a step of the year slider
    asks the server nothing for the 3D view. Kept per run, colouring, layers, area, language
    and clearance.
    """
    from viz.server import current_clearance

    i = board.run_index(index)
    run = board.runs[i]
    wet = bool(flood and "flood" in flood)
    key = (id(board), i, str(mode), wet, tuple(sorted(layers or ())), str(area), ui().lang,
           current_clearance())

    def build() -> dict[str, Any]:
        years: dict[str, Any] = {}
        shared: dict[str, Any] = {}
        for year in run.years:
            spec, legend = scene_spec(board, i, year, mode, flood, layers, area)
            side = spec["sides"][0]
            style = dict(side["buildings"])
            hide = style.pop("hide", None)
            shared = {"entities": spec["entities"], "buildings": style,
                      "camera": spec["camera"]}
            years[str(year)] = {"key": spec["key"], "drape": side["drape"], "hide": hide,
                                "overlays": side["overlays"], "legend": legend}
        return {"run": i, **shared, "years": years, "last": str(run.years[-1])}

    return _SCENES.get(key, build, board)


#: One-map entities by (board, layers, area, language, clearance): they do not change with run or year.
_ENTITIES: dict[tuple[Any, ...], Any] = {}


def _entities(board: Dashboard, layers: Sequence[str] | None, area: Any) -> Any:
    from viz.server import current_clearance

    # The clearance is in the key: a cleared user's lines must never reach another user.
    key = (id(board), tuple(sorted(layers or ())), str(area), ui().lang, current_clearance())
    if key not in _ENTITIES:
        if len(_ENTITIES) > 64:
            _ENTITIES.clear()
        _ENTITIES[key] = entities(board.onemap, layers, area, heights=_line_heights(board))
    return _ENTITIES[key]


def _camera(board: Dashboard, area: Any) -> dict[str, Any]:
    """The chosen district or unit seen from the south, else the whole territory (home)."""
    from viz.onemap import area_camera

    return area_camera(board.onemap, area, heights=_line_heights(board))


def _line_heights(board: Dashboard) -> Any:
    """Heights of the one-map lines in 3D: the TIM's ground, the tiles' geoid height and 3 m
    (as the sightlines are placed); None (clamped lines) without the ground."""
    ground = board.ground
    if ground is None:
        return None
    from viz.onemap import ground_heights

    geoid = board.tiles.geoid_height if board.tiles is not None else 0.0
    return ground_heights(ground.elevation, board.grid, geoid + 3.0)


# -- layout and callbacks --------------------------------------------------------------------
def layout(board: Dashboard) -> list[Any]:
    _ = ui()
    return [
        html.Section(className="panel area-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(_("Indicators")),
                dcc.RadioItems(id="area-unit", className="toggle area-unit", inline=True,
                               value="ha",
                               options=[{"label": _("ha"), "value": "ha"},
                                        {"label": _("mu"), "value": "mu"},
                                        {"label": _("km²"), "value": "km2"}]),
                html.Div(className="area-select", children=[
                    html.Label(_("for"), htmlFor="area"),
                    dcc.Dropdown(id="area", options=area_options(board), value=WHOLE,
                                 clearable=False, searchable=True),
                ]),
            ]),
            *fragments.fragment_box("indicator-cards", className="cards"),
            *fragments.fragment_box("warnings", className="warnings"),
        ]),
        panel(_("Land use"), graph("land-use-map", 520),
              html.Div(id="map-query", className="map-query",
                       children=[html.P(_("Click the map to see what applies there."),
                                        className="muted")]),
              head=html.Div(className="map-toggles", children=[
                  dcc.Checklist(id="map-layers", className="toggle layer-toggle", inline=True,
                                options=layer_options(board),
                                value=[k for k in DEFAULT_LAYERS
                                       if k in board.onemap.available]),
                  dcc.Checklist(id="flood-toggle", className="toggle", options=[],
                                value=[], inline=True)]), className="map-panel"),
        panel(_("Downloads"), *fragments.fragment_box("downloads-box"),
              className="downloads-panel"),
        dcc.Store(id="ctx-scenario-run"), dcc.Store(id="land-use-frames"),
        dcc.Store(id="map-query-ask"), dcc.Store(id="scene-frames"),
        dcc.Store(id="timeline-frames"),
        panel(_("Key indicators over time, all scenarios"), graph("timeline", 480),
              html.P(_("Shaded: the 5\u201395 % range of an ensemble of the scenario "
                       "(twin ensemble), where one was given."), className="caption",
                     hidden=not board.ensembles)),
    ]


def layer_options(board: Dashboard) -> list[dict[str, Any]]:
    """The one-map layers the TIM has, as toggles (names in the page's language)."""
    _ = ui()
    names = {"units": _("Planning units"), "zoning": _("Zoning"),
             "control_lines": _("Control lines"), "amenities": _("Amenities")}
    return [{"label": " " + names[k], "value": k} for k in board.onemap.available]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(
        Output("year", "min"), Output("year", "max"), Output("year", "marks"),
        Output("year", "value"), Output("flood-toggle", "options"),
        Output("flood-toggle", "value"), Output("colour-by", "options"),
        Output("colour-by", "value"), Output("run-description", "children"),
        Input("run", "value"), State("year", "value"), State("colour-by", "value"),
        State("flood-toggle", "value"))
    def _on_run(index, year, colour, flood):
        c = run_controls(board, index, year, colour)

        # A value set again, even unchanged, runs everything that listens to it a second time
        # (the cards, the map, the 3D scene): send only the values that change.
        def changed(new: Any, old: Any) -> Any:
            return no_update if new == old else new

        return (c["min"], c["max"], c["marks"], changed(c["year"], year), c["flood_options"],
                changed(c["flood_value"], flood), c["colour_options"],
                changed(c["colour"], colour), c["description"])

    # The map and the timeline are kept per run in the page; the year is swapped in the
    # browser, so a step of the year slider asks the server for the cards and the 3D only.
    app.clientside_callback(ClientsideFunction("twinmaps", "runOf"),
                            Output("ctx-scenario-run", "data"), context(KEY),
                            State("ctx-scenario-run", "data"))

    @app.callback(Output("land-use-frames", "data"), Input("ctx-scenario-run", "data"),
                  Input("flood-toggle", "value"), Input("map-layers", "value"),
                  Input("area", "value"))
    def _on_map(run, flood, layers, area):
        if not isinstance(run, dict):
            raise PreventUpdate
        # "asked": the run as the page names it, so the page can tell whose frames these are.
        return {**map_frames(board, run.get("run"), flood, layers, area),
                "asked": run.get("run")}

    app.clientside_callback(ClientsideFunction("twinmaps", "frame"),
                            Output("land-use-map", "figure"), context(KEY),
                            Input("land-use-frames", "data"))

    # A click asks; then the run and year refresh the answer. Before any click a year step
    # asks the server nothing (the gate is in the browser).
    app.clientside_callback(ClientsideFunction("twinmaps", "queryAsk"),
                            Output("map-query-ask", "data"), Input("land-use-map", "clickData"),
                            Input("query-3d", "data"), context(KEY),
                            State("map-query-ask", "data"), prevent_initial_call=True)

    @app.callback(Output("map-query", "children"), Input("map-query-ask", "data"),
                  prevent_initial_call=True)
    def _on_query(ask):
        if not isinstance(ask, dict) or not (ask.get("click") or ask.get("lonlat")):
            raise PreventUpdate  # nothing asked yet: the hint stays
        index, year = run_and_year(ask.get("ctx"))
        return point_query(board, index, year, ask)

    @app.callback(fragments.output("indicator-cards"), fragments.output("warnings"),
                  fragments.output("downloads-box"), context(KEY),
                  Input("area", "value"), Input("area-unit", "value"))
    def _on_cards(ctx, area, area_unit):
        index, year = run_and_year(ctx)
        cards = [indicator_card(card)
                 for card in card_data(board, index, year, area, area_unit)]
        if not cards:
            cards = [html.P(ui().gettext("No indicators for this area in this run."),
                            className="muted")]
        rows = warning_rows(board, index, year, area)
        i = board.run_index(index)
        # The downloads follow the same run and year: one round trip for both.
        return (fragments.fragment(cards),
                fragments.fragment(warnings_list(rows, _year(board.run(index), year))),
                fragments.fragment(downloads.links(board, i, _year(board.runs[i], year))))

    fragments.register(app, "indicator-cards", "warnings", "downloads-box")

    @app.callback(Output("timeline-frames", "data"), Input("ctx-scenario-run", "data"))
    def _on_timeline(run):
        if not isinstance(run, dict):
            raise PreventUpdate
        return timeline_of_run(board, run.get("run"))

    app.clientside_callback(ClientsideFunction("twinmaps", "marker"),
                            Output("timeline", "figure"), context(KEY),
                            Input("timeline-frames", "data"))

    # The 3D scenes of the run's years are kept in the page like the map's frames: a year
    # step picks its scene in the browser (twinmaps.scene), without a round trip.
    @app.callback(Output("scene-frames", "data"), Input("ctx-scenario-run", "data"),
                  Input("colour-by", "value"), Input("flood-toggle", "value"),
                  Input("map-layers", "value"), Input("area", "value"))
    def _on_scene(run, mode, flood, layers, area):
        if not isinstance(run, dict):
            raise PreventUpdate
        return {**scene_frames(board, run.get("run"), mode, flood, layers, area),
                "asked": run.get("run")}

    app.clientside_callback(ClientsideFunction("twinmaps", "scene"), *scene_outputs(),
                            context(KEY), Input("scene-frames", "data"),
                            prevent_initial_call="initial_duplicate")

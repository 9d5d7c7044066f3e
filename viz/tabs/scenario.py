"""Scenario tab: one run in one year - indicator cards (whole territory, a district or a planning
unit, with plan targets), early warnings, the land-use map, indicators over time with ensemble
bands, and in 3D the buildings (by height, use or flood depth) with the run's new buildings.

The callbacks are thin wrappers around plain functions of the dashboard and the control values
(:func:`run_controls`, :func:`map_figure`, :func:`card_data`, :func:`warning_rows`,
:func:`timeline_figure`, :func:`scene_spec`), tested without a browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from scenarios.indicators import FLOOD_INDICATORS
from viz import scene
from viz.cesium import drape_spec
from viz.figures import SeriesSpec, indicator_timeline, land_use_figure
from viz.layout import (CardData, building_legend, graph, indicator_card,
                        new_buildings_legend, panel, status_chip, year_marks)
from viz.sources import calibration_label, run_calibration
from viz.tabs import active, scene_outputs, year_in

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
#: Ensemble band drawn on the timelines: from the 5 % to the 95 % quantile of the members.
BAND = ("p05", "p95")


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
    run = board.run(index)
    years = run.years
    surge = run.surge_year
    if surge is None:
        flood_options = [{"label": " No storm surge in this scenario", "value": "flood",
                          "disabled": True}]
        flood_value: list[str] = []
    else:
        level = _surge_level(run)
        flood_options = [{"label": f" Flood depth ({surge} surge"
                          + (f", peak {level:.2f} m)" if level is not None else ")"),
                          "value": "flood"}]
        flood_value = ["flood"]
    has_depths = scene.flood_style(run) is not None
    colour_options = [{"label": " Flood depth", "value": "flood", "disabled": not has_depths},
                      {"label": " Height", "value": "height"},
                      {"label": " Use", "value": "use"}]
    if has_depths:
        colour = "flood"
    elif colour not in ("height", "use"):
        colour = "height"
    return {"min": years[0], "max": years[-1], "marks": year_marks(years),
            "year": _year(run, year), "flood_options": flood_options,
            "flood_value": flood_value, "colour_options": colour_options, "colour": colour,
            "description": run.manifest["scenario"].get("description", "").strip()}


# -- cards and warnings ----------------------------------------------------------------------
def area_options(board: Dashboard) -> list[dict[str, str]]:
    """The whole territory, then each district and planning unit of the baseline's roll-up."""
    options = [{"label": "Whole territory", "value": WHOLE}]
    areas = board.baseline.area_indicators
    if areas is None:
        return options
    seen = areas[areas["level"].isin(["district", "unit"])].drop_duplicates(
        ["level", "area_id"])
    for level in ("district", "unit"):
        for row in seen[seen["level"] == level].itertuples():
            options.append({"label": f"{level.capitalize()} \u00b7 {row.area}",
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


def card_data(board: Dashboard, index: Any, year: Any, area: str = WHOLE) -> list[CardData]:
    """The indicator cards of a run in a year, in registry order, with baseline differences.

    ``area`` is ``city`` (the whole territory: ``indicators.csv``, with the plan's city targets
    from ``indicators_areas.csv``) or ``district:<id>`` / ``unit:<id>`` (that area's rows of
    ``indicators_areas.csv``, statuses against its own targets). Flood indicators are left
    out of runs without a storm surge: there they are zero by construction.
    """
    run = board.run(index)
    year = _year(run, year)
    is_baseline = run is board.baseline
    if area == WHOLE:
        rows = run.indicators[run.indicators["year"] == year].set_index("indicator")
        base = board.baseline.indicators
        base_values = base[base["year"] == year].set_index("indicator")["value"]
        table = run.area_indicators
        targets = (pd.Series(dtype=float) if table is None else
                   table[(table["year"] == year) & (table["level"] == "city")]
                   .set_index("indicator")["target"])
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
        value = float(row["value"])
        delta = None
        if not is_baseline and key in base_values.index:
            delta = value - float(base_values[key])
        note = ""
        if key in FLOOD_INDICATORS and year != run.surge_year:
            note = f"surge in {run.surge_year}"
        target = targets.get(key) if key in targets.index else None
        cards.append(CardData(
            key=key, name=definition.name if definition else key,
            definition=definition.definition if definition else "", value=value,
            unit=str(row["unit"]), status=str(row["status"]), delta=delta,
            is_baseline=is_baseline, note=note,
            target=None if target is None or pd.isna(target) else float(target)))
    return cards


def _area_name(board: Dashboard, area: str) -> str:
    return next((o["label"].split(" \u00b7 ")[-1] for o in area_options(board)
                 if o["value"] == area), "")


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
    order = {"red": 0, "yellow": 1}
    return rows.sort_values("status", key=lambda s: s.map(order).fillna(2), kind="stable")


def warnings_list(rows: pd.DataFrame, year: int) -> list[Any]:
    """The warnings as a compact list: status chip, where, what."""
    count = len(rows)
    red = int((rows["status"] == "red").sum()) if count else 0
    head = html.Div(className="warnings-head", children=[
        html.Strong(f"{count} early warning{'s' if count != 1 else ''} in {year}"),
        html.Span(f"{red} red, {count - red} yellow" if count else "all indicators within "
                  "their thresholds", className="muted")])
    items = [html.Li(className=f"warning warning-{r.status}", children=[
        status_chip(r.status, "red" if r.status == "red" else "yellow"),
        html.Span(r.area if isinstance(r.area, str) and r.area else r.level.capitalize()
                  if r.level != "city" else "Whole territory", className="warning-area"),
        html.Span(r.message, className="warning-message")]) for r in rows.itertuples()]
    return [head, html.Ul(items, className="warnings-list", id="warnings-list",
                          **{"data-count": count, "data-red": red})]


# -- map and timeline ------------------------------------------------------------------------
def map_figure(board: Dashboard, index: Any, year: Any, flood: Sequence[str] | None
               ) -> go.Figure:
    """The land-use map of the run and year, with the flood depth in the surge year."""
    run = board.run(index)
    label = board.label(run)
    year = _year(run, year)
    land_use = run.land_use(year)
    depth = None
    title = f"Land use {year} \u00b7 {label}"
    calibrated = run_calibration(run.manifest)
    if calibrated is not None:  # the run says so; the dashboard does not guess
        title += f" \u00b7 {calibration_label(calibrated)}"
    if run.surge_year is not None and flood and "flood" in flood:
        if year == run.surge_year:
            # The sea is under water by definition: show the flooding of the land only.
            depth = np.where(board.classes.group_mask(land_use, "sea"), np.nan,
                             run.water_depth())
            title += " \u00b7 flood depth"
        else:
            title += f" \u00b7 flood in {run.surge_year}"
    return land_use_figure(land_use, board.grid, board.classes, title=title,
                           water_depth=depth)


def ensemble_band(ensemble: Ensemble, label: str) -> pd.DataFrame:
    """An ensemble's 5-95 % interval as timeline bands (columns of
    :func:`viz.figures.indicator_timeline`'s ``bands``) for the run labelled ``label``."""
    lo, hi = BAND
    table = ensemble.intervals
    return pd.DataFrame({"run": label, "year": table["year"], "indicator": table["indicator"],
                         "lo": table[lo], "hi": table[hi],
                         "name": f"{label}: 5\u201395 % of {len(ensemble.seeds)} seeds"})


def timeline_figure(board: Dashboard, index: Any, year: Any) -> go.Figure:
    """Key indicators of all runs over time, the chosen run highlighted, the year marked;
    a run whose scenario has an ensemble gets the ensemble's 5-95 % band."""
    panels = []
    for key in TIMELINE_INDICATORS:
        definition = board.registry.get(key)
        if definition is not None:
            panels.append(SeriesSpec(key, definition.name, definition.unit, definition.green))
    run = board.run(index)
    bands = [ensemble_band(e, board.label(r)) for r in board.runs
             if (e := board.ensemble_of(r)) is not None]
    return indicator_timeline(board.timeline_values(), panels, board.labels,
                              year=_year(run, year), highlight=board.label(run),
                              bands=pd.concat(bands, ignore_index=True) if bands else None,
                              columns=2, height=480)


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
               flood: Sequence[str] | None) -> tuple[dict[str, Any], list[Any]]:
    """The 3D scene of the tab and its legend."""
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
    return {"key": key, "sides": [side], "entities": None, "camera": None}, legend


# -- layout and callbacks --------------------------------------------------------------------
def layout(board: Dashboard) -> list[Any]:
    return [
        html.Section(className="panel area-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2("Indicators"),
                html.Div(className="area-select", children=[
                    html.Label("for", htmlFor="area"),
                    dcc.Dropdown(id="area", options=area_options(board), value=WHOLE,
                                 clearable=False, searchable=True),
                ]),
            ]),
            html.Div(id="indicator-cards", className="cards"),
            html.Div(id="warnings", className="warnings"),
        ]),
        panel("Land use", graph("land-use-map", 520),
              head=dcc.Checklist(id="flood-toggle", className="toggle", options=[],
                                 value=[], inline=True), className="map-panel"),
        panel("Key indicators over time, all scenarios", graph("timeline", 480),
              html.P("Shaded: the 5\u201395 % range of an ensemble of the scenario "
                     "(twin ensemble), where one was given.", className="caption",
                     hidden=not board.ensembles)),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(
        Output("year", "min"), Output("year", "max"), Output("year", "marks"),
        Output("year", "value"), Output("flood-toggle", "options"),
        Output("flood-toggle", "value"), Output("colour-by", "options"),
        Output("colour-by", "value"), Output("run-description", "children"),
        Input("run", "value"), State("year", "value"), State("colour-by", "value"))
    def _on_run(index, year, colour):
        c = run_controls(board, index, year, colour)
        return (c["min"], c["max"], c["marks"], c["year"], c["flood_options"],
                c["flood_value"], c["colour_options"], c["colour"], c["description"])

    @app.callback(Output("land-use-map", "figure"), Input("tab", "value"),
                  Input("run", "value"), Input("year", "value"),
                  Input("flood-toggle", "value"))
    def _on_map(tab, index, year, flood):
        active(tab, KEY)
        return map_figure(board, index, year, flood)

    @app.callback(Output("indicator-cards", "children"), Output("warnings", "children"),
                  Input("tab", "value"), Input("run", "value"), Input("year", "value"),
                  Input("area", "value"))
    def _on_cards(tab, index, year, area):
        active(tab, KEY)
        cards = [indicator_card(card) for card in card_data(board, index, year, area)]
        if not cards:
            cards = [html.P("No indicators for this area in this run.", className="muted")]
        rows = warning_rows(board, index, year, area)
        return cards, warnings_list(rows, _year(board.run(index), year))

    @app.callback(Output("timeline", "figure"), Input("tab", "value"),
                  Input("run", "value"), Input("year", "value"))
    def _on_timeline(tab, index, year):
        active(tab, KEY)
        return timeline_figure(board, index, year)

    @app.callback(*scene_outputs(), Input("tab", "value"), Input("run", "value"),
                  Input("year", "value"), Input("colour-by", "value"),
                  Input("flood-toggle", "value"), prevent_initial_call="initial_duplicate")
    def _on_scene(tab, index, year, mode, flood):
        active(tab, KEY)
        return scene_spec(board, index, year, mode, flood)

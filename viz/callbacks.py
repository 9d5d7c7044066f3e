"""What changes on the page when the user picks a run, a year or a view option.

Each callback is a thin wrapper around a plain function of the :class:`viz.app.Dashboard` and
the control values (``run_controls``, ``map_figure``, ``card_data``, ...), so the logic is
tested without a browser. The 3D view is driven by clientside callbacks into
``viz/assets/twin3d.js``: the server only sends small JSON specs (a colour per flooded
building, a drape URL), never geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State

from viz.cesium import drape_spec
from viz.figures import (BUILDING_FLOOD_RAMP, DRY_COLOUR, FLOOD_RAMP, HEIGHT_RAMP, SeriesSpec,
                         indicator_timeline, land_use_figure, ramp_gradient, use_colours)
from viz.layout import CardData, building_legend, indicator_card

if TYPE_CHECKING:
    import dash

    from scenarios.rundir import RunDirectory
    from viz.app import Dashboard

#: Indicators that only mean something in a run with a storm surge.
FLOOD_INDICATORS = ("flooded_land_area", "flooded_buildings", "population_exposed")
#: The indicators of the timeline chart, left to right.
TIMELINE_INDICATORS = ("population", "built_up_area", "construction_land_per_capita",
                       "farmland_lost")
#: Building uses given a colour when the TIM's buildings cannot be read.
DEFAULT_USES = ("residential", "commercial", "industrial")
OTHER_USE = "#bdbdbd"


def _year_in(run: RunDirectory, year: Any) -> int:
    """``year`` if the run recorded it, else the run's last year."""
    try:
        year = int(year)
    except (TypeError, ValueError):
        return run.years[-1]
    return year if year in run.years else run.years[-1]


def _surge_level(run: RunDirectory) -> float | None:
    surge = run.manifest["scenario"].get("surge") or {}
    return surge.get("water_level")


def run_controls(board: Dashboard, index: Any, year: Any, colour: Any) -> dict[str, Any]:
    """Slider range, flood toggle, 3D colouring and description for the chosen run.

    The year is kept when the new run has it. A run with a storm surge switches the 3D view
    to flood depth (the point of that scenario); leaving it switches flood depth off again.
    """
    from viz.layout import year_marks

    run = board.run(index)
    years = run.years
    surge = run.surge_year
    if surge is None:
        flood_options = [{"label": " No storm surge in this scenario", "value": "flood",
                          "disabled": True}]
        flood_value: list[str] = []
    else:
        flood_options = [{"label": f" Flood depth ({surge} surge, {_surge_level(run)} m)",
                          "value": "flood"}]
        flood_value = ["flood"]
    has_depths = surge is not None and run.manifest["outputs"].get("buildings") is not None
    colour_options = [{"label": " Flood depth", "value": "flood", "disabled": not has_depths},
                      {"label": " Height", "value": "height"},
                      {"label": " Use", "value": "use"}]
    if has_depths:
        colour = "flood"
    elif colour not in ("height", "use"):
        colour = "height"
    return {"min": years[0], "max": years[-1], "marks": year_marks(years),
            "year": _year_in(run, year), "flood_options": flood_options,
            "flood_value": flood_value, "colour_options": colour_options, "colour": colour,
            "description": run.manifest["scenario"].get("description", "").strip()}


def map_figure(board: Dashboard, index: Any, year: Any, flood: Sequence[str] | None
               ) -> go.Figure:
    """The land-use map of the run and year, with the flood depth in the surge year."""
    run = board.run(index)
    label = board.labels[board.runs.index(run)]
    year = _year_in(run, year)
    land_use = run.land_use(year)
    depth = None
    title = f"Land use {year} \u00b7 {label}"
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


def card_data(board: Dashboard, index: Any, year: Any) -> list[CardData]:
    """The indicator cards of a run in a year, in registry order, with baseline differences.

    Flood indicators are left out of runs without a storm surge: there they are zero by
    construction and would only crowd the page.
    """
    run = board.run(index)
    year = _year_in(run, year)
    rows = run.indicators[run.indicators["year"] == year].set_index("indicator")
    base = board.baseline.indicators
    base_values = base[base["year"] == year].set_index("indicator")["value"]
    is_baseline = run is board.baseline
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
        cards.append(CardData(
            key=key, name=definition.name if definition else key,
            definition=definition.definition if definition else "", value=value,
            unit=str(row["unit"]), status=str(row["status"]), delta=delta,
            is_baseline=is_baseline, note=note))
    return cards


def timeline_figure(board: Dashboard, index: Any, year: Any) -> go.Figure:
    """Key indicators of all runs over time, the chosen run highlighted, the year marked."""
    panels = []
    for key in TIMELINE_INDICATORS:
        definition = board.registry.get(key)
        if definition is not None:
            panels.append(SeriesSpec(key, definition.name, definition.unit, definition.green))
    run = board.run(index)
    return indicator_timeline(board.timeline_values(), panels, board.labels,
                              year=_year_in(run, year),
                              highlight=board.labels[board.runs.index(run)])


def building_style(board: Dashboard, index: Any, mode: Any) -> dict[str, Any]:
    """The JSON the browser colours the 3D buildings with (``twin3d.style``).

    * ``flood``: depth per flooded building id (from the run's ``buildings.csv``), a warm ramp
      from 0 to the largest depth; dry buildings in :data:`viz.figures.DRY_COLOUR` (the water
      itself is blue, on the drape).
    * ``height``: a ramp over the buildings' height range.
    * ``use``: a colour per use.
    """
    run = board.run(index)
    buildings = run.buildings() if mode == "flood" else None
    if mode == "flood" and buildings is not None and run.surge_year is not None:
        depth = buildings["surge_depth_m"].to_numpy(dtype=float)
        wet = np.isfinite(depth) & (depth > 0)
        top = float(depth[wet].max()) if wet.any() else 1.0
        return {"mode": "flood", "ramp": BUILDING_FLOOD_RAMP,
                "gradient": ramp_gradient(BUILDING_FLOOD_RAMP), "dry": DRY_COLOUR,
                "water": ramp_gradient(FLOOD_RAMP), "max": top, "year": run.surge_year,
                "depth": dict(zip(buildings["building_id"].astype(str)[wet],
                                  np.round(depth[wet], 2).tolist())),
                "flooded": int(wet.sum()), "total": int(len(buildings))}
    if mode == "use":
        uses = board.building_uses or DEFAULT_USES
        return {"mode": "use", "colours": {**use_colours(uses), "other": OTHER_USE},
                "other": OTHER_USE}
    lo, hi = board.building_heights or (0.0, 60.0)
    return {"mode": "height", "ramp": HEIGHT_RAMP, "gradient": ramp_gradient(HEIGHT_RAMP),
            "min": lo, "max": hi}


def register_callbacks(app: dash.Dash, board: Dashboard, *, with_3d: bool) -> None:
    """Wire the controls of ``app`` to ``board``; closures instead of module state.

    ``with_3d`` says whether the layout has the Cesium viewer (see
    :func:`viz.layout.city_panel`); without it the 3D callbacks have nothing to drive.
    """

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

    @app.callback(Output("land-use-map", "figure"), Input("run", "value"),
                  Input("year", "value"), Input("flood-toggle", "value"))
    def _on_map(index, year, flood):
        return map_figure(board, index, year, flood)

    @app.callback(Output("indicator-cards", "children"), Output("timeline", "figure"),
                  Input("run", "value"), Input("year", "value"))
    def _on_year(index, year):
        cards = [indicator_card(card) for card in card_data(board, index, year)]
        return cards, timeline_figure(board, index, year)

    if not with_3d:
        return

    @app.callback(Output("building-style", "data"), Output("building-legend", "children"),
                  Input("run", "value"), Input("colour-by", "value"))
    def _on_colour(index, mode):
        spec = building_style(board, index, mode)
        return spec, building_legend(spec)

    @app.callback(Output("drape", "data"), Input("run", "value"), Input("year", "value"),
                  Input("flood-toggle", "value"))
    def _on_drape(index, year, flood):
        run = board.run(index)
        return drape_spec(board, board.runs.index(run), _year_in(run, year),
                          bool(flood and "flood" in flood))

    app.clientside_callback(ClientsideFunction("twin3d", "init"),
                            Output("cesium-status", "children"),
                            Input("cesium-config", "data"))
    app.clientside_callback(ClientsideFunction("twin3d", "style"),
                            Output("cesium-ack", "children"),
                            Input("building-style", "data"))
    app.clientside_callback(ClientsideFunction("twin3d", "drape"),
                            Output("cesium-ack", "title"),
                            Input("drape", "data"))

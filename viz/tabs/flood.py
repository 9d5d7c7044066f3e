"""Storm surge tab: the flood of one surge scenario over time, at its maximum or at any
still-water level, its hazard maps and its impacts beside the other surge scenarios.

* **Impacts**: cards of the run's flood indicators (``scenarios.indicators.FLOOD_INDICATORS``:
  flooded land, buildings, people, damage, farmland, ecological land) with the difference
  from another surge scenario (by default the one whose surge differs least, e.g. the same
  event without the sea wall), and a table of every surge scenario with its engine.
* **Flood depth**: play the event (the bands of ``depth_series.tif``; a time slider and the
  hydrograph with the time marked and the flooded land at each output time), its maximum, or
  move a still-water level over the flooding-level map (``flood_level.tif``: no
  recomputation). The 3D view drapes the same flood and colours the buildings by their depth
  at that moment; a defence is drawn at its crest.
* **Hazard**: arrival time, time above the hazard depth and the largest speed per cell.

What is computed from the run's files is in :mod:`viz.surge`; the callbacks are thin
wrappers of the functions here. The animation runs in the browser
(``viz/assets/twinflood.js``), one frame after the other is drawn: the server sends every
frame's map image, readout and 3D scene once per run (:func:`play_frames`), and the views are
asked of the server only when playback pauses.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, dcc, html

from scenarios.indicators import FLOOD_INDICATORS
from tim.classes import localized
from viz import fragments
from viz.cesium import FLOOD_ROUTE, image_spec
from viz.figures import (BUILDING_FLOOD_RAMP, DRY_COLOUR, FLOOD_RAMP, Memo, decimate,
                         hydrograph_figure, image_trace, land_use_figure, land_use_rgba,
                         ramp_gradient, run_colour, withheld_figure)
from viz.i18n import convert, indicator_words, threshold_text, ui, unit_text, with_unit
from viz.layout import CardData, building_legend, format_value, graph, indicator_card, panel
from viz.maps import outline_traces, raster_figure
from viz.onemap import hidden_note
from viz.sources import products_cleared
from viz.tabs import active, scene_outputs, shown

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard
    from viz.surge import Shown, SurgeRun

KEY = "flood"
NONE = -1
#: Least milliseconds between two frames of the animation (a frame also waits until the last
#: is drawn): 3 frames a second at most.
FRAME_MS = 330
#: Milliseconds between two looks of the animation's clock (is the last frame drawn?).
CLOCK_MS = 50
#: Hazard maps: surge raster, title, colour bar, scale, hover, colours (words: message ids,
#: translated where shown).
HAZARDS = {
    "arrival": ("Arrival of the hazard depth", "hours", 1 / 3600.0,
                "reached after %{z:.1f} h",
                ((0.0, "#7f0000"), (0.3, "#d7301f"), (0.6, "#fc8d59"), (1.0, "#fee8c8"))),
    "duration": ("Time above the hazard depth", "hours", 1 / 3600.0,
                 "%{z:.1f} h above", ((0.0, "#fff7ec"), (0.4, "#fdbb84"), (1.0, "#7f0000"))),
    "max_speed": ("Largest flow speed", "m/s", 1.0, "%{z:.2f} m/s",
                  ((0.0, "#f7fcf5"), (0.4, "#74c476"), (1.0, "#00441b"))),
}
DEFENCE_COLOUR = "#6d4c41"
#: A breached stretch of a defence, drawn over it on the flood map.
BREACH_COLOUR = "#d50000"
#: Column heads of the scenarios table (the indicators' names are long; message ids).
SHORT = {"flooded_land_area": "Land", "flooded_buildings": "Buildings",
         "population_exposed": "People", "flood_damage": "Damage",
         "farmland_flooded": "Farmland", "ecological_land_flooded": "Ecological land"}


# -- the runs --------------------------------------------------------------------------------
def surge_indices(board: Dashboard) -> list[int]:
    """Indices of the runs that simulated a storm surge."""
    return [i for i, run in enumerate(board.runs) if run.surge is not None]


def _index(board: Dashboard, value: Any) -> int:
    indices = surge_indices(board)
    i = board.run_index(value)
    return i if i in indices else default_run(board)


def default_run(board: Dashboard) -> int:
    """The first surge run with a time series (an animation), else the first surge run."""
    indices = surge_indices(board)
    return next((i for i in indices if board.surge_run(i).animated), indices[0])


def default_versus(board: Dashboard, index: int) -> int:
    """The surge run compared with ``index``: the one whose ``surge`` section differs in the
    fewest keys (the same event with or without a defence, another sea level...); -1 alone."""
    def section(i: int) -> dict[str, Any]:
        return board.runs[i].manifest["scenario"].get("surge") or {}

    mine = section(index)
    others = [i for i in surge_indices(board) if i != index]
    if not others:
        return NONE

    def distance(i: int) -> int:
        other = section(i)
        return sum(json.dumps(mine.get(k), sort_keys=True) != json.dumps(other.get(k),
                                                                          sort_keys=True)
                   for k in set(mine) | set(other))

    return min(others, key=lambda i: (distance(i), others.index(i)))


def engine_line(board: Dashboard, index: int) -> list[Any]:
    t = ui()
    _ = t.gettext
    surge = board.surge_run(index)
    hours = (surge.times[-1] - surge.times[0]) / 3600.0 if surge.animated else 0.0
    event = _("{hours} h event, {n} output times", hours=t.number(hours, 0 if float(
        hours).is_integer() else 1), n=len(surge.times)) if surge.animated else \
        _("a constant still-water level (no time series)")
    walls = ", ".join(_("{name} (crest {level} m)", name=d["name"],
                        level=f"{d['crest_level']:g}") for d in surge.defences)
    words, translated = surge.engine_words(t)
    return [html.Span(_("Engine: "), className="muted"),
            # the engine with its references, in the page's language from the run's fields;
            # else as the run recorded it (a citation, in English)
            html.Strong(words, id="flood-engine", **({} if translated else {"lang": "en"})),
            html.Br(),
            _("Peak still-water level {level} m", level=t.number(surge.peak_level, 2))
            + f" \u00b7 {event} \u00b7 "
            + _("land use of {year}", year=surge.year) + " \u00b7 "
            + _("hazard depth {depth} m", depth=f"{surge.hazard_depth:g}") + " \u00b7 "
            + (_("defences: {walls}", walls=walls) if walls else _("no defences"))]


def run_controls(board: Dashboard, value: Any) -> dict[str, Any]:
    """Time slider, level slider, play button, hazard choices and comparison for a run."""
    index = _index(board, value)
    surge = board.surge_run(index)
    n = len(surge.times)
    every = max(1, int(np.ceil(n / 13)))
    t = ui()
    _ = t.gettext
    marks = {k: _("{hours} h", hours=f"{surge.times[k] / 3600.0:g}") for k in range(0, n, every)}
    marks[n - 1] = _("{hours} h", hours=f"{surge.times[-1] / 3600.0:g}")
    low, high = surge.level_range()
    level_marks = {float(m): with_unit(f"{m:g}", "m", t)
                   for m in range(int(np.ceil(low)), int(high) + 1)}
    peak_band = int(np.argmax(surge.flooded_cells_over_time)) if surge.animated else 0
    hazards = [{"label": " " + _(HAZARDS[k][0]), "value": k,
                "disabled": not np.isfinite(surge.raster(k)).any()} for k in HAZARDS]
    versus = default_versus(board, index)
    options = [{"label": board.labels[i], "value": i} for i in surge_indices(board)
               if i != index] + [{"label": _("no other scenario"), "value": NONE}]
    return {"index": index, "max": n - 1, "marks": marks, "band": peak_band,
            "play_disabled": not surge.animated, "level_min": low, "level_max": high,
            "level_marks": level_marks, "level": round(surge.peak_level, 1),
            "hazards": hazards,
            "hazard": next((h["value"] for h in hazards if not h["disabled"]), "arrival"),
            "versus_options": options, "versus": versus,
            "engine": engine_line(board, index)}


# -- impacts ---------------------------------------------------------------------------------
def _flood_rows(board: Dashboard, index: int):
    run = board.runs[index]
    table = run.indicators
    rows = table[table["year"] == run.surge_year].set_index("indicator")
    return rows.loc[[k for k in FLOOD_INDICATORS if k in rows.index]]


def impact_cards(board: Dashboard, value: Any, versus: Any) -> list[CardData]:
    """The run's flood indicators in its surge year, with the difference from ``versus``."""
    index = _index(board, value)
    rows = _flood_rows(board, index)
    other = board.run_index(versus) if versus not in (None, NONE) else None
    if other is not None and (other == index or board.runs[other].surge is None):
        other = None
    base = _flood_rows(board, other)["value"] if other is not None else None
    cards = []
    t = ui()
    for key, row in rows.iterrows():
        definition = board.registry.get(key)
        words = indicator_words(definition, key, t)
        value_ = float(row["value"])
        delta = None if base is None or key not in base.index else value_ - float(base[key])
        unit = str(row["unit"])
        cards.append(CardData(
            key=key, name=words["name"], definition=words["definition"], value=value_,
            unit=unit, status=str(row["status"]), delta=delta,
            is_baseline=False, note=t.gettext("surge in {year}",
                                              year=board.runs[index].surge_year),
            versus=(board.labels[other] if other is not None
                    else t.gettext("another scenario")),
            threshold=threshold_text(definition, "city", unit, t), words=words))
    return cards


def scenarios_table(board: Dashboard, value: Any) -> html.Table:
    """Every surge scenario's impacts side by side, the chosen one highlighted."""
    t = ui()
    _ = t.gettext
    index = _index(board, value)
    keys = [k for k in FLOOD_INDICATORS if k in board.registry]
    head = [html.Th(_("Scenario")), html.Th(_("Engine")), html.Th(_("Peak"), className="num")] + [
        html.Th([_(SHORT[k]) if k in SHORT else indicator_words(board.registry[k], k, t)["name"],
                 html.Br(), html.Span(unit_text(board.registry[k].unit, t), className="muted")],
                className="num", title=indicator_words(board.registry[k], k, t)["name"])
        for k in keys]
    body = []
    for i in surge_indices(board):
        rows = _flood_rows(board, i)
        surge = board.surge_run(i)
        body.append(html.Tr(className="chosen" if i == index else "", **{
            "data-run": i, "data-values": json.dumps({k: float(rows.loc[k, "value"])
                                                      for k in keys if k in rows.index})},
            children=[
                html.Td([html.Span(className="swatch",
                                   style={"background": run_colour(i)}), board.labels[i]]),
                html.Td(surge.engine_name(t), className="engine"),
                html.Td(with_unit(t.number(surge.peak_level, 2), "m", t), className="num"),
                *[html.Td(format_value(float(rows.loc[k, "value"]), rows.loc[k, "unit"])
                          if k in rows.index else "-", className="num") for k in keys]]))
    return html.Table(id="flood-scenarios", className="table flood-table",
                      children=[html.Thead(html.Tr(head)), html.Tbody(body)])


def units_table(board: Dashboard, value: Any, limit: int = 8) -> html.Table | html.P:
    """The planning units hit hardest (by damage, then flooded area)."""
    t = ui()
    _ = t.gettext
    surge = board.surge_run(_index(board, value))
    units = surge.run.surge_units()
    if units is None or not len(units):
        return html.P(_("No per-unit results."), className="muted")
    order = [c for c in ("damage_eur", "flooded_area_ha") if c in units]
    units = units[units["flooded_area_ha"] > 0].sort_values(order, ascending=False).head(limit)
    if not len(units):
        return html.P(_("No planning unit is flooded."), className="muted")
    money = html.Span(unit_text("M EUR (2010)", t), className="muted")
    return html.Table(id="flood-units", className="table", children=[
        html.Thead(html.Tr([html.Th(_("Planning unit")), html.Th(_("Flooded"), className="num"),
                            html.Th(_("Deepest"), className="num"),
                            html.Th(_("Buildings"), className="num"),
                            html.Th(_("People"), className="num"),
                            html.Th([_("Damage"), html.Br(), money], className="num")])),
        html.Tbody([html.Tr([
            html.Td(localized(r.name, t.lang) if isinstance(getattr(r, "name", None), str)
                    else _("outside every unit")),
            html.Td(t.number(r.flooded_area_ha, 1) + " " + _("ha"), className="num"),
            html.Td(with_unit(t.number(r.max_depth_m, 2), "m", t), className="num"),
            html.Td(t.number(int(getattr(r, "buildings_flooded", 0))), className="num"),
            html.Td(t.number(r.population_exposed), className="num"),
            html.Td(_million_eur(getattr(r, "damage_eur", math.nan), t), className="num")])
            for r in units.itertuples()])])


def _million_eur(euros: float, t: Any = None) -> str:
    """Damage in millions of the page's currency; "n/a" without the damage curves (never a
    false 0)."""
    t = t or ui()
    if not math.isfinite(euros):
        return t.gettext("n/a")
    return t.gettext("{value} M", value=t.number(convert(euros / 1e6, "M EUR (2010)", t), 1))


# -- the flood shown -------------------------------------------------------------------------
def shown_of(board: Dashboard, value: Any, mode: Any, band: Any, level: Any) -> Shown:
    return board.surge_run(_index(board, value)).shown(mode, band, level)


def readout(board: Dashboard, value: Any, shown: Shown) -> html.Div:
    """One line saying what is shown, with the numbers as data attributes (for tests)."""
    index = _index(board, value)
    surge = board.surge_run(index)
    s = surge.summary(shown, board.ground, board.grid.cell_area / 10_000.0)
    t = ui()
    _ = t.gettext
    if shown.mode == "time":
        when = [html.Strong(_("{hours} h", hours=f"{s.time_s / 3600.0:g}")), " " + _(
            "into the event, sea at {level} m:", level=t.number(s.sea_level, 2)) + " "]
    elif shown.mode == "max":
        when = [html.Strong(_("Maximum")), " " + _(
            "over the event (peak still water {level} m):",
            level=t.number(surge.peak_level, 2)) + " "]
    else:
        when = [html.Strong(_("Still water at {level} m", level=t.number(shown.level, 1))),
                " " + _("over the flooding levels:") + " "]
    if board.ground is None and shown.mode == "level":
        numbers: list[Any] = [_("the TIM's ground is not available (moved or unreadable).")]
    else:
        numbers = [html.Strong(t.number(s.flooded_ha, 1) + " " + _("ha")),
                   " " + _("of land flooded, deepest") + " ",
                   html.Strong(with_unit(t.number(s.max_depth, 2), "m", t)), _(", "),
                   html.Strong("?" if s.flooded_buildings is None
                               else t.number(s.flooded_buildings)),
                   " " + _("buildings flooded.")]
    return html.Div(id="flood-readout", className="flood-readout", children=when + numbers,
                    **{"data-run": index, "data-mode": shown.mode, "data-band": shown.band,
                       "data-time-s": "" if s.time_s is None else repr(s.time_s),
                       "data-level": repr(shown.level), "data-flooded-cells": s.flooded_cells,
                       "data-max-depth": repr(round(s.max_depth, 4)),
                       "data-flooded-buildings": "" if s.flooded_buildings is None
                       else s.flooded_buildings})


def defence_lines(surge: SurgeRun) -> list[tuple[str, np.ndarray, str, str]]:
    return [(f"{d['name']} ({d['crest_level']:g} m)", np.asarray(d["line"], dtype=float),
             DEFENCE_COLOUR, "solid") for d in surge.defences]


def breach_label(breach: dict[str, Any]) -> str:
    """``name: breached at 12 h to 1 m``, or why it did not fail (the engine's note, translated)."""
    t = ui()
    what = t.gettext("breached at {hours} h to {crest} m",
                     hours=f"{float(breach['failed_at_h']):g}",
                     crest=f"{float(breach['crest_m']):g}") if breach.get("failed") else \
        t.gettext(str(breach.get("note") or "did not fail"))
    return f"{breach['name']}: {what}"


def breach_lines(surge: SurgeRun) -> list[tuple[str, np.ndarray, str, str]]:
    """Each breach as one line of its face segments (NaN rows part them: plotly leaves gaps)."""
    lines = []
    for breach in surge.breaches:
        segments = np.asarray(breach.get("segments") or [], dtype=float).reshape(-1, 2, 2)
        if not len(segments):
            continue
        gaps = np.full((len(segments), 1, 2), np.nan)
        xy = np.concatenate([segments, gaps], axis=1).reshape(-1, 2)[:-1]
        lines.append((breach_label(breach), xy, BREACH_COLOUR, "solid"))
    return lines


def map_title(board: Dashboard, index: int, shown: Shown) -> str:
    """The flood map's title: what is shown, of which run."""
    surge = board.surge_run(index)
    t = ui()
    what = {"time": t.gettext("{hours} h into the event",
                              hours=f"{surge.times[shown.band] / 3600.0:g}"),
            "max": t.gettext("maximum over the event"),
            "level": t.gettext("still water at {level} m", level=t.number(shown.level, 1))
            }[shown.mode]
    return t.gettext("Flood depth, {what}", what=what) + f" \u00b7 {board.labels[index]}"


def map_figure(board: Dashboard, value: Any, shown: Shown) -> go.Figure:
    """The flood shown over the land use of the surge year, defences drawn."""
    index = _index(board, value)
    if not products_cleared(board.runs[index]):
        return withheld_figure(board.grid, hidden_note())
    surge = board.surge_run(index)
    depth = surge.land_depth(shown, board.ground)
    fig = land_use_figure(surge.run.land_use(surge.year), board.grid, board.classes,
                          title=map_title(board, index, shown), water_depth=depth,
                          uirevision="flood",
                          depth_max=surge.depth_scale(shown, board.ground), height=520)
    for trace in outline_traces(defence_lines(surge)):
        fig.add_trace(trace)
    for trace in outline_traces(breach_lines(surge)):  # over the defence, wider
        trace.line.width = 5
        fig.add_trace(trace)
    return fig


def timeline(board: Dashboard, value: Any, shown: Shown) -> go.Figure:
    surge = board.surge_run(_index(board, value))
    table = surge.hydrograph
    hectares = board.grid.cell_area / 10_000.0
    return hydrograph_figure(
        None if table is None else table["time_s"].to_numpy(),
        None if table is None else table["level_m"].to_numpy(), surge.times,
        surge.flooded_cells_over_time * hectares, peak=surge.peak_level,
        now_s=float(surge.times[shown.band]) if shown.mode == "time" else None,
        level=shown.level if shown.mode == "level" else None)


def hazard_figure(board: Dashboard, value: Any, which: Any) -> go.Figure:
    index = _index(board, value)
    if not products_cleared(board.runs[index]):
        return withheld_figure(board.grid, hidden_note())
    surge = board.surge_run(index)
    which = which if which in HAZARDS else "arrival"
    title, unit, scale, hover, ramp = HAZARDS[which]
    _ = ui()
    title, unit, hover = _(title), _(unit), _(hover)
    values = np.where(surge.sea, np.nan, surge.raster(which).astype(float) * scale)
    finite = values[np.isfinite(values)]
    top = float(np.percentile(finite, 99)) if finite.size else 1.0
    backdrop = land_use_rgba(surge.run.land_use(surge.year), board.classes, lighten=0.75)
    fig = raster_figure(values, board.grid, title=f"{title} \u00b7 {board.labels[index]}",
                        ramp=ramp, vmin=0.0, vmax=max(top, 1e-3), colorbar=unit, hover=hover,
                        backdrop=backdrop, height=440, uirevision="flood")
    for trace in outline_traces(defence_lines(surge)):
        fig.add_trace(trace)
    return fig


# -- 3D --------------------------------------------------------------------------------------
def building_style(board: Dashboard, surge: SurgeRun, shown: Shown) -> dict[str, Any]:
    """The flood colouring of the buildings at the moment shown (scale: the event's deepest
    building, so frames compare)."""
    depths = surge.building_depths(shown, board.ground)
    total = len(board.ground.exposure) if board.ground is not None and \
        board.ground.exposure is not None else (0 if surge.buildings is None
                                                else len(surge.buildings))
    t = ui()
    when = {"time": t.gettext("at {hours} h", hours=f"{surge.times[shown.band] / 3600.0:g}"),
            "max": t.gettext("at the maximum"),
            "level": t.gettext("at {level} m still water", level=t.number(shown.level, 1))}
    return {"mode": "flood", "ramp": BUILDING_FLOOD_RAMP,
            "gradient": ramp_gradient(BUILDING_FLOOD_RAMP), "dry": DRY_COLOUR,
            "water": ramp_gradient(FLOOD_RAMP), "max": surge.building_scale(),
            "year": surge.year, "when": when[shown.mode],
            "depth": {} if depths is None else {str(k): float(v) for k, v in depths.items()},
            "flooded": 0 if depths is None else len(depths), "total": total}


def defence_entities(board: Dashboard, surge: SurgeRun) -> dict[str, Any] | None:
    """Each defence as a line along its crest (WGS 84, crest + the tiles' geoid height)."""
    if not surge.defences:
        return None
    from pyproj import Transformer

    geoid = board.tiles.geoid_height if board.tiles is not None else 0.0
    to_wgs = Transformer.from_crs(board.grid.crs, "EPSG:4326", always_xy=True)
    lines = []
    for d in surge.defences:
        xy = np.asarray(d["line"], dtype=float)
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        z = float(d["crest_level"]) + geoid
        lines.append({"name": d["name"], "colour": DEFENCE_COLOUR, "width": 4,
                      "positions": [round(float(v), 8) for p in zip(lon, lat, [z] * len(lon))
                                    for v in p]})
    return {"lines": lines, "points": [], "polygons": []}


def scene_spec(board: Dashboard, value: Any, shown: Shown) -> tuple[dict[str, Any],
                                                                     list[Any]]:
    index = _index(board, value)
    surge = board.surge_run(index)
    style = building_style(board, surge, shown)
    side = {"label": board.labels[index], "buildings": style, "overlays": [],
            "drape": dict(image_spec(board, f"{FLOOD_ROUTE}{index}/{shown.key}.png"))}
    legend = building_legend(style)
    if surge.defences:
        legend.append(html.Span([html.Span(className="swatch",
                                           style={"background": DEFENCE_COLOUR}),
                                 ui().gettext("defence at its crest")]))
    return ({"key": f"{KEY}:{index}:{shown.key}", "sides": [side],
             "entities": defence_entities(board, surge),
             "camera": {"key": "home", "home": True}}, legend)


#: The views of a flood by (board, run, shown, language): a frame played once is shown
#: again at once.
_VIEWS = Memo(128)


def flood_view(board: Dashboard, value: Any, shown: Shown) -> tuple[Any, Any, Any]:
    """The flood map, the readout and the hydrograph of the moment shown."""
    index = _index(board, value)
    return _VIEWS.get((id(board), index, shown, ui().lang), lambda: (
        map_figure(board, index, shown).to_plotly_json(), readout(board, index, shown),
        timeline(board, index, shown).to_plotly_json()), board)


#: The playback frames of a run by (board, run, language, clearance).
_FRAMES = Memo(8)


def frame_image(board: Dashboard, surge: SurgeRun, shown: Shown) -> str:
    """The flood map's land use with the flood shown painted over it, as the map's image
    source (a PNG data URL, the land-use image's size and place: the page swaps it in)."""
    land, step = decimate(surge.run.land_use(surge.year), 480)
    depth = surge.land_depth(shown, board.ground)
    if depth is not None:
        depth = np.asarray(depth, dtype=np.float32)[::step, ::step]
    rgba = land_use_rgba(land, board.classes, water_depth=depth,
                         max_depth=surge.depth_scale(shown, board.ground))
    return image_trace(rgba, board.grid, "land use", max_pixels=max(rgba.shape)).source


def play_frames(board: Dashboard, value: Any) -> dict[str, Any]:
    """Every output time of a run as the page plays it without asking the server
    (``twinflood.play``): per frame the map's image and title, the readout, the 3D scene's
    drape and buildings' colours and the 3D legend; the defences once. A withheld run's
    frames have no images (as its map and drape)."""
    from viz.server import current_clearance

    index = _index(board, value)
    key = (id(board), index, ui().lang, current_clearance())

    def build() -> dict[str, Any]:
        surge = board.surge_run(index)
        cleared = products_cleared(board.runs[index])
        frames, entities = [], None
        for band in range(len(surge.times) if surge.animated else 0):
            shown = surge.shown("time", band, None)
            spec, legend = scene_spec(board, index, shown)
            entities = spec.pop("entities")
            frames.append({"band": band, "title": map_title(board, index, shown),
                           "image": frame_image(board, surge, shown) if cleared else None,
                           "readout": readout(board, index, shown), "scene": spec,
                           "legend": legend})
        return {"run": index, "entities": entities, "frames": frames}

    return _FRAMES.get(key, build, board)


# -- layout and callbacks --------------------------------------------------------------------
def layout(board: Dashboard) -> list[Any]:
    c = run_controls(board, default_run(board))
    options = [{"label": board.labels[i], "value": i} for i in surge_indices(board)]
    _ = ui()
    modes = [{"label": " " + _("Over time"), "value": "time"},
             {"label": " " + _("Maximum"), "value": "max"},
             {"label": " " + _("Any still-water level"), "value": "level"}]
    return [
        panel(_("Storm surge"), html.P(c["engine"], id="flood-engine-line",
                                       className="flood-engine"),
              html.Div(className="compare-choose", children=[
                  html.Span(_("Impacts in the surge year, compared with"),
                            className="muted"),
                  dcc.Dropdown(id="flood-versus", options=c["versus_options"],
                               value=c["versus"], clearable=False, searchable=False,
                               className="compare-dropdown")]),
              *fragments.fragment_box("flood-cards", className="cards flood-cards"),
              head=html.Div(className="area-select", children=[
                  dcc.Dropdown(id="flood-run", options=options, value=c["index"],
                               clearable=False, searchable=False)])),
        panel(_("Flood depth"),
              html.Div(className="flood-row", children=[
                  html.Button(_("\u25b6 Play"), id="flood-play", className="play-button",
                              n_clicks=0, disabled=c["play_disabled"],
                              # the animation (twinflood.js) says them in the page's language
                              **{"data-frame-ms": FRAME_MS, "data-play": _("\u25b6 Play"),
                                 "data-pause": _("\u275a\u275a Pause")}),
                  html.Div(className="flood-slider", children=[dcc.Slider(
                      id="flood-time", min=0, max=c["max"], step=1, value=c["band"],
                      marks=c["marks"], included=False, updatemode="mouseup",
                      allow_direct_input=False)]),
              ]),
              html.Div(className="flood-row", children=[
                  html.Label(_("Still water"), htmlFor="flood-level",
                             className="flood-level-label"),
                  html.Div(className="flood-slider", children=[dcc.Slider(
                      id="flood-level", min=c["level_min"], max=c["level_max"], step=0.1,
                      value=c["level"], marks=c["level_marks"], included=True,
                      updatemode="mouseup", tooltip={"placement": "top"})]),
              ]),
              html.Div(id="flood-readout-box"),
              graph("flood-map", 520), graph("flood-hydrograph", 250),
              html.P(_("Depth of the water on the land (the sea left out, drawn neutral); "
                       "buildings in 3D by the mean depth over their footprint, flooded from "
                       "1 cm. A still-water level floods every cell whose flooding level - the "
                       "lowest level that reaches it from the sea over the ground and any "
                       "defence - lies below it: the static upper bound, without the event's "
                       "flow."), className="caption"),
              dcc.Interval(id="flood-clock", interval=CLOCK_MS, disabled=True),
              # the frames played in the page (play_frames) and the output time the server
              # views follow: the slider's, except while playing
              dcc.Store(id="flood-frames"), dcc.Store(id="flood-band", data=c["band"]),
              head=dcc.RadioItems(id="flood-show", className="toggle", options=modes,
                                  value="time" if not c["play_disabled"] else "max",
                                  inline=True)),
        panel(_("Hazard"), graph("flood-hazard-map", 440),
              head=dcc.RadioItems(id="flood-hazard", className="toggle", inline=True,
                                  options=c["hazards"], value=c["hazard"])),
        panel(_("Every surge scenario"),
              *fragments.fragment_box("flood-scenarios-box", className="table-scroll"),
              html.H3(_("Planning units hit hardest")),
              *fragments.fragment_box("flood-units-box")),
    ]


def register_callbacks(app: dash.Dash, board: Dashboard) -> None:
    @app.callback(Output("flood-time", "max"), Output("flood-time", "marks"),
                  Output("flood-time", "value"), Output("flood-play", "disabled"),
                  Output("flood-level", "min"), Output("flood-level", "max"),
                  Output("flood-level", "marks"), Output("flood-level", "value"),
                  Output("flood-hazard", "options"), Output("flood-hazard", "value"),
                  Output("flood-versus", "options"), Output("flood-versus", "value"),
                  Output("flood-engine-line", "children"),
                  Input("flood-run", "value"), prevent_initial_call=True)
    def _on_run(value):
        c = run_controls(board, value)
        return (c["max"], c["marks"], c["band"], c["play_disabled"], c["level_min"],
                c["level_max"], c["level_marks"], c["level"], c["hazards"], c["hazard"],
                c["versus_options"], c["versus"], c["engine"])

    # The view follows the control the user moved (both move with a new run), in the page: a
    # frame played asks the server nothing.
    app.clientside_callback(
        ClientsideFunction("twinflood", "follow"), Output("flood-show", "value"),
        Input("flood-time", "value"), Input("flood-level", "value"),
        Input("flood-play", "n_clicks"), State("flood-show", "value"),
        prevent_initial_call=True)

    # The slider's output time, passed on to the server's views only while not playing.
    app.clientside_callback(
        ClientsideFunction("twinflood", "band"), Output("flood-band", "data"),
        Input("flood-time", "value"), Input("flood-clock", "disabled"),
        prevent_initial_call=True)

    @app.callback(Output("flood-frames", "data"), shown(KEY), Input("flood-run", "value"))
    def _on_frames(tab, value):
        active(tab, KEY)
        return play_frames(board, value)

    @app.callback(Output("flood-map", "figure"), Output("flood-readout-box", "children"),
                  Output("flood-hydrograph", "figure"), shown(KEY),
                  Input("flood-run", "value"), Input("flood-show", "value"),
                  Input("flood-band", "data"), Input("flood-level", "value"))
    def _on_view(tab, value, mode, band, level):
        active(tab, KEY)
        return flood_view(board, value, shown_of(board, value, mode, band, level))

    @app.callback(fragments.output("flood-cards"), fragments.output("flood-scenarios-box"),
                  fragments.output("flood-units-box"), shown(KEY),
                  Input("flood-run", "value"), Input("flood-versus", "value"))
    def _on_impacts(tab, value, versus):
        active(tab, KEY)
        cards = [indicator_card(c) for c in impact_cards(board, value, versus)]
        return (fragments.fragment(cards), fragments.fragment(scenarios_table(board, value)),
                fragments.fragment(units_table(board, value)))

    fragments.register(app, "flood-cards", "flood-scenarios-box", "flood-units-box")

    @app.callback(Output("flood-hazard-map", "figure"), shown(KEY),
                  Input("flood-run", "value"), Input("flood-hazard", "value"))
    def _on_hazard(tab, value, which):
        active(tab, KEY)
        return hazard_figure(board, value, which)

    @app.callback(*scene_outputs(), shown(KEY), Input("flood-run", "value"),
                  Input("flood-show", "value"), Input("flood-band", "data"),
                  Input("flood-level", "value"), prevent_initial_call="initial_duplicate")
    def _on_scene(tab, value, mode, band, level):
        active(tab, KEY)
        return scene_spec(board, value, shown_of(board, value, mode, band, level))

    app.clientside_callback(
        ClientsideFunction("twinflood", "play"),
        Output("flood-time", "value", allow_duplicate=True),
        Output("flood-clock", "disabled"), Output("flood-play", "children"),
        Output("flood-readout-box", "children", allow_duplicate=True),
        *scene_outputs(),
        Input("flood-play", "n_clicks"), Input("flood-clock", "n_intervals"),
        Input("flood-run", "value"), Input("tab", "value"), State("flood-time", "value"),
        State("flood-time", "max"), State("flood-clock", "disabled"),
        State("flood-frames", "data"), prevent_initial_call=True)

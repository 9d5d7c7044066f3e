"""The dashboard page's shell and the components the tabs share.

The page, top to bottom: header, data banner, the tab bar, the controls the tabs share
(scenario, year), then a workspace of two columns - the active tab's panel on the left, the 3D
city on the right (one CesiumJS viewer for every tab; each tab tells it what to show).

Functions here only build components from a :class:`viz.app.Dashboard` or from plain values;
what changes is filled in by the callbacks (:mod:`viz.callbacks` for the shell, the tab modules
in :mod:`viz.tabs` for their panels). Styling lives in ``viz/assets/twin.css``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dash import dcc, html

from viz.cesium import LAYERS, use_name, viewer_config
from viz.figures import STATUS_COLOURS
from viz.i18n import (delta_text, language_names, status_text, ui, unit_text,
                       value_text)

if TYPE_CHECKING:
    from viz.app import Dashboard, Provenance
    from viz.tabs import TabSpec


@dataclass(frozen=True)
class CardData:
    """One indicator card: the run's value in a year and its difference from the baseline.

    ``delta`` is None for the baseline itself and when the baseline has no value that year.
    """

    key: str
    name: str
    definition: str
    value: float
    unit: str
    status: str
    delta: float | None
    is_baseline: bool
    note: str = ""
    target: float | None = None  # the plan's target for the area, if it sets one
    versus: str = "baseline"  # what ``delta`` is the difference from
    threshold: str = ""  # the green range in words, where the indicator is judged
    words: Mapping[str, str] = field(default_factory=dict)  # see viz.i18n.indicator_words


#: What a card or table shows for a missing value (NaN), in English (see viz.i18n).
NOT_ASSESSED = "n/a"


def format_value(value: float, unit: str) -> str:
    """A value as a decision maker reads it, in the page's language (:func:`viz.i18n.value_text`).

    Examples
    --------
    A missing value (no schools in the data, flood damage without the damage curves) is not
    a number:

    >>> format_value(48390.0, "persons"), format_value(346.9375, "ha"), format_value(0.0, "%")
    ('48,390', '346.9', '0.0')
    >>> format_value(float("nan"), "M EUR (2010)")
    'n/a'
    """
    return value_text(value, unit)


def format_delta(delta: float, unit: str) -> str:
    """A signed difference ("+12.3", "-4", "±0") with a true minus sign.

    Examples
    --------
    >>> format_delta(908.0, "buildings"), format_delta(-2.25, "ha"), format_delta(0.0, "ha")
    ('+908', '\u22122.2', '\u00b10')
    >>> format_delta(float("nan"), "ha")
    'n/a'
    """
    return delta_text(delta, unit)


def help_mark(words: Mapping[str, str], key: str) -> html.Details:
    """The "?" of a card: definition, formula and data source, opened by a click."""
    _ = ui()
    rows = [html.P(words.get("definition") or _("No definition in the registry."))]
    if words.get("formula"):
        rows.append(html.P([html.Strong(_("Formula") + ": "), words["formula"]]))
    if words.get("source"):
        rows.append(html.P([html.Strong(_("Data source") + ": "), words["source"]]))
    if words.get("missing"):
        rows.append(html.P(_("This indicator has no translation in the catalogue; shown in "
                             "English."), className="muted help-missing"))
    return html.Details(className="card-help", **{"data-help": key}, children=[
        html.Summary("?", title=_("Definition, formula and data source")),
        html.Div(rows, className="card-help-body")])


def indicator_card(card: CardData) -> html.Div:
    """A card coloured by status with its threshold or plan target visible and a "?" for its
    definition; ``data-indicator``/``data-value`` let tests read it exactly."""
    _ = ui()
    unit = unit_text(card.unit)
    versus = _("baseline") if card.versus == "baseline" else card.versus
    if card.is_baseline:
        delta = _("{versus} scenario", versus=versus)
    elif card.delta is None or not math.isfinite(card.delta):
        delta = _("no {versus} value this year", versus=versus)
    else:
        delta = _("{delta} {unit} vs {versus}", delta=format_delta(card.delta, card.unit),
                  unit=unit, versus=versus)
    judged: list[Any] = []
    if card.target is not None:
        judged.append(html.Div(_("plan target {value} {unit}",
                                 value=format_value(card.target, card.unit), unit=unit),
                               className="card-target"))
    if card.threshold:
        judged.append(html.Div(_("threshold {range}", range=card.threshold),
                               className="card-threshold"))
    if not judged:
        judged.append(html.Div(_("no threshold at this level"), className="card-threshold"))
    status = status_text(card.status)
    if card.status == "red" and card.target is not None:
        status = _("above plan target")
    elif card.status == "red" and card.threshold:
        status = _("beyond limit {range}", range=card.threshold)
    return html.Div(
        className=f"indicator-card status-{card.status}",
        title=f"{card.name}: {card.definition}",
        style={"--status": STATUS_COLOURS.get(card.status, STATUS_COLOURS["info"])},
        **{"data-indicator": card.key, "data-value": repr(float(card.value)),
           "data-status": card.status},
        children=[
            html.Div([html.Span(card.name), help_mark(card.words, card.key)],
                     className="card-name"),
            html.Div([html.Span(format_value(card.value, card.unit), className="card-value"),
                      html.Span(unit if math.isfinite(card.value) else "",
                                className="card-unit")], className="card-figure"),
            html.Div(delta, className="card-delta"),
            *judged,
            html.Div([html.Span(className="status-dot"),
                      status + (f" \u00b7 {card.note}" if card.note else "")],
                     className="card-status"),
        ])


def language_switch() -> html.Nav:
    """Links that reopen the page in each language (the cookie then keeps it)."""
    current = ui().lang
    return html.Nav(id="language-switch", className="language-switch", children=[
        html.A(name, href=f"?lang={lang}", lang=lang.replace("_", "-"),
               className="lang-current" if lang == current else "lang-other",
               **{"data-lang": lang})
        for lang, name in language_names().items()])


def header(board: Dashboard) -> html.Header:
    _ = ui()
    n, k = len(board.runs), len(board.calibrations)
    meta = (_("{n} scenario runs \u00b7 baseline: {label}", n=n, label=board.labels[0])
            if n else _("{k} calibration reports", k=k) if k else _("Monitoring the plan"))
    return html.Header(className="app-header", children=[
        html.Div([html.H1(_("Territory Twin")),
                  html.Span(board.territory_name, className="territory-name")]),
        html.Div([html.Span(meta, className="header-meta"), language_switch()],
                 className="header-right"),
    ])


def language_notice(search: str | None) -> list[Any]:
    """What the page says about the address's ``?lang=``: nothing, or that the language asked
    for is not available (in the language the page is shown in)."""
    from urllib.parse import parse_qs

    from scenarios.i18n import check_language
    from tim.errors import InputError

    asked = (parse_qs((search or "").lstrip("?")).get("lang") or [""])[0]
    if not asked:
        return []
    try:
        check_language(asked)
        return []
    except InputError:
        pass
    _ = ui()
    return [_("The language \u201c{asked}\u201d is not available; the page is shown in {name}.",
              asked=asked[:40], name=language_names()[_.lang])]


def data_banner(provenance: Provenance, territory: str,
                calibrations: Sequence[str] = ()) -> html.Div | None:
    """A prominent line saying whether the territory's data are synthetic, real, mixed or
    unknown (calibration reports, named in ``calibrations``, bring data of their own)."""
    _ = ui()
    n = len(provenance.layers)
    if provenance.all_synthetic:
        own = (" " + _("The calibration tab's maps ({names}) are its own data, not these.",
                       names=", ".join(calibrations)) if calibrations else "")
        return html.Div(id="data-banner", className="banner banner-synthetic", children=[
            html.Strong(_("Synthetic data.") + " "),
            _("All {n} source layers of \u201c{territory}\u201d were generated by a program, "
              "not measured. The scenario results illustrate the method and say nothing about "
              "a real place.", n=n, territory=territory) + own])
    if provenance.synthetic:
        roles = ", ".join(sorted({layer.role for layer in provenance.layers
                                  if layer.synthetic}))
        return html.Div(id="data-banner", className="banner banner-synthetic", children=[
            html.Strong(_("Partly synthetic data.") + " "),
            _("{k} of {n} source layers are synthetic ({roles}); see the \u201cData "
              "sources\u201d tab.", k=provenance.synthetic, n=n, roles=roles)])
    unknown = any(layer.synthetic is None for layer in provenance.layers)
    if not provenance.layers or provenance.problems or unknown:
        return html.Div(id="data-banner", className="banner banner-unknown", children=[
            html.Strong(_("Data provenance incomplete.") + " "),
            _("Some sources do not say whether they are real or synthetic; see the "
              "\u201cData sources\u201d tab.")])
    return None


def controls(board: Dashboard) -> html.Section:
    """The scenario and the year, shared by the tabs (each tab shows those it uses; without
    runs they are there, empty, for the shell's callbacks)."""
    _ = ui()
    years = board.baseline.years if board.runs else [0]
    return html.Section(id="controls", className="panel controls", children=[
        html.Div(id="control-run", className="control", children=[
            html.Label(_("Scenario"), htmlFor="run"),
            dcc.Dropdown(id="run", options=[{"label": label, "value": i}
                                            for i, label in enumerate(board.labels)],
                         value=0, clearable=False, searchable=False),
        ]),
        html.Div(id="control-year", className="control control-year", children=[
            html.Label(_("Year"), htmlFor="year"),
            dcc.Slider(id="year", min=years[0], max=years[-1], step=1, value=years[-1],
                       marks=year_marks(years), included=False, updatemode="mouseup",
                       allow_direct_input=False),
        ]),
        html.P(id="run-description", className="run-description"),
    ])


def year_marks(years: Sequence[int]) -> dict[int, str]:
    """Slider labels: every year when there are few, else every other year and the last.

    Examples
    --------
    >>> year_marks([2025, 2026, 2027])
    {2025: '2025', 2026: '2026', 2027: '2027'}
    """
    step = 1 if len(years) <= 12 else 2 if len(years) <= 24 else 5
    marks = {y: str(y) for y in years[::step]}
    marks[years[-1]] = str(years[-1])
    return marks


def heights_words(extras: Mapping[str, Any]) -> str | None:
    """How the tiles place heights (their ``asset.extras``, see ``tim.tiles.tileset``) in the
    page's language; the tileset's own English words for a tileset without ``geoidHeight``."""
    _ = ui()
    geoid = extras.get("geoidHeight")
    if not isinstance(geoid, (int, float)) or isinstance(geoid, bool):
        return extras.get("heights") or None
    if not geoid:
        return _("territory heights placed as ellipsoidal heights (no geoid model applied)")
    return _("territory heights + {height} m (a constant geoid height given by the user) "
             "placed as ellipsoidal heights", height=f"{geoid:g}")


def city_panel(board: Dashboard, *, with_3d: bool) -> html.Aside:
    """The 3D city: one viewer for every tab, its layer toggles, legend and status."""
    _ = ui()
    config = viewer_config(board, with_3d=with_3d)
    extras = board.tileset_extras
    caption = _("3D Tiles on the chosen map. Drag to rotate, right-drag to tilt, scroll to "
                "zoom, click a building for its details.")
    if config.get("parts") and "points" in config["parts"]:
        caption += " " + _("Points: ground brown, roofs purple, water blue (ASPRS classes 2, "
                           "6, 9).")
    heights = heights_words(extras)
    if heights:
        caption += " " + _("Heights: {what}.", what=heights)
    body: list[Any]
    layers = [p for p in LAYERS if config["parts"] and p in config["parts"]]
    # The legend is always there (hidden without a viewer): the tabs' 3D callbacks write it.
    legend = html.Div(id="building-legend", className="building-legend",
                      hidden=config["parts"] is None)
    if config["parts"] is None:
        body = [html.Div(config["message"], id="cesium-message", className="cesium-message"),
                legend]
    else:
        body = [html.Div(id="cesium-container", className="cesium-container"), legend]
    return html.Aside(id="city-panel", className="panel city-panel", children=[
        html.Div(className="panel-head", children=[
            html.H2(_("3D city")),
            dcc.Checklist(id="layers", className="toggle layer-toggle", inline=True,
                          options=[{"label": " " + layer_name(name), "value": name}
                                   for name in layers],
                          value=list(config.get("layers", [])),
                          style=None if layers else {"display": "none"}),
        ]),
        # Hidden, not left out, on tabs and pages without it: callbacks always set it.
        dcc.RadioItems(id="colour-by", className="toggle colour-by", options=[],
                       value="height", inline=True,
                       style=None if config["parts"] else {"display": "none"}),
        *body,
        html.Div(className="city-foot", children=[
            html.Span(id="cesium-status", className="cesium-status"),
            html.Span(id="cesium-pick", className="cesium-pick"),
        ]),
        *([html.P(caption, className="caption")] if config["parts"] else []),
        html.Div(id="building-panel", className="building-panel",
                 hidden=config["parts"] is None),
        dcc.Store(id="picked-building"), dcc.Store(id="query-3d"),
        dcc.Store(id="cesium-config", data=config),
        dcc.Store(id="scene"),
        html.Div(id="cesium-ack", hidden=True),
    ])


def layer_name(name: str) -> str:
    """A 3D layer's name (buildings, terrain, points, ...) in the page's language."""
    _ = ui()
    names = {"buildings": _("Buildings"), "terrain": _("Terrain"), "points": _("Points"),
             "imagery": _("Imagery"), "overlays": _("Overlays")}
    return names.get(name, name.capitalize())


def panel(title: str, *children: Any, head: Any = None, id: str | None = None,
          className: str = "") -> html.Section:
    """A white panel with a title (and controls on the right of it)."""
    heading = html.Div(className="panel-head", children=[html.H2(title),
                                                         *([head] if head is not None else [])])
    return html.Section(className=f"panel {className}".strip(), children=[heading, *children],
                        **({"id": id} if id else {}))


def graph(id: str, height: int, **config: Any) -> dcc.Graph:
    """A plotly graph sized by its container (the figures leave width to the browser)."""
    return dcc.Graph(id=id, config={"displaylogo": False, "scrollZoom": True,
                                    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
                                    **config},
                     style={"height": f"{height}px"}, responsive=True)


def status_chip(status: str, text: str | None = None) -> html.Span:
    """A coloured chip saying a status in words (colour is never the only cue)."""
    return html.Span(text or status_text(status),
                     className=f"chip chip-{status}",
                     style={"--status": STATUS_COLOURS.get(status, STATUS_COLOURS["info"])})


def building_legend(spec: Mapping[str, Any]) -> list[Any]:
    """The 3D view's legend for a base-building style (see :mod:`viz.scene`)."""
    _ = ui()
    mode = spec.get("mode")
    if mode == "use":
        return [html.Span([html.Span(className="swatch", style={"background": colour}),
                           use_name(use, _)]) for use, colour in spec["colours"].items()]
    if mode == "plain":
        return [html.Span([html.Span(className="swatch", style={"background": spec["plain"]}),
                           _("existing buildings")])]
    bar = html.Span(className="ramp", style={"background": spec["gradient"]})
    if mode == "flood":
        water = html.Span(className="ramp ramp-short", style={"background": spec["water"]})
        t = ui()
        return [html.Span([html.Span(className="swatch", style={"background": spec["dry"]}),
                           _("dry building")]),
                html.Span([_("flooded: 0 m") + " ", bar,
                           " " + _("{depth} m at the building", depth=t.number(spec["max"], 1))]),
                html.Span([water, _("flood water")]),
                html.Strong(_("{flooded} of {total} buildings flooded", flooded=t.number(
                    spec["flooded"]), total=t.number(spec["total"])) + " "
                            + spec.get("when", _("in {year}", year=spec["year"])),
                            id="flooded-count",
                            **{"data-flooded": spec["flooded"]})]
    if mode == "heights":
        top = " " + _("{value} m", value=_.number(spec["max"], 1))
        return [html.Span([html.Span(className="swatch", style={"background": spec["ok"]}),
                           _("within its limits")]),
                html.Span([_("over its limit by 0 m") + " ", bar, top]),
                html.Span([html.Span(className="swatch", style={"background": spec["blocker"]}),
                           _("blocks the protected view")])]
    low = _("{value} m", value=_.number(spec["min"])) + " "
    return [html.Span([low, bar,
                       " " + _("{height} m height", height=_.number(spec["max"]))])]


def new_buildings_legend(colours: Mapping[str, str], standing: int, redeveloped: int,
                         replaced: int, year: int, published: bool) -> list[Any]:
    """Legend entries for a run's new buildings in the 3D view (empty when it has none)."""
    if not standing and not replaced:
        return []
    t = ui()
    _ = t.gettext
    if not published:
        return [html.Span(_("{n} new buildings by {year} are not in the tiles: publish them "
                            "with 'twin publish RUN_DIR --tiles TILES_DIR --new-buildings'",
                            n=t.number(standing), year=year), className="legend-note")]
    new_colour, redev_colour = colours.values()
    return [html.Span([html.Span(className="swatch", style={"background": new_colour}),
                       _("new building")]),
            html.Span([html.Span(className="swatch", style={"background": redev_colour}),
                       _("redevelopment")]),
            html.Strong(_("{n} new buildings standing in {year} ({r} redevelopments, {k} old "
                          "buildings replaced)", n=t.number(standing), year=year,
                          r=t.number(redeveloped), k=t.number(replaced)), id="new-count",
                        **{"data-standing": standing, "data-replaced": replaced})]


def build_layout(board: Dashboard, *, with_3d: bool,
                 tabs: Sequence[TabSpec] | None = None) -> html.Div:
    """The whole page for ``board``: the shell around the available tabs' panels."""
    from viz.tabs import available_tabs

    tabs = available_tabs(board) if tabs is None else tabs
    # Calibration reports alone carry no provenance of their own to show.
    banner = (data_banner(board.provenance, board.territory_name,
                          [c.path.name for c in board.calibrations]) if board.runs else None)
    first = tabs[0].key
    _ = ui()
    return html.Div(className="app", lang=_.lang.replace("_", "-"), children=[
        dcc.Location(id="url", refresh=False),
        header(board),
        html.Div(id="language-notice", className="banner banner-unknown", hidden=True),
        *([banner] if banner is not None else []),
        dcc.Tabs(id="tab", value=first, className="tabs", parent_className="tabs-bar",
                 children=[dcc.Tab(label=_(t.label), value=t.key, id=f"tab-{t.key}",
                                   className="tab", selected_className="tab-selected")
                           for t in tabs]),
        controls(board),
        # Per tab, the run and year while it is shown (viz.tabs.register_gate).
        *[dcc.Store(id=f"ctx-{t.key}") for t in tabs if t.controls],
        # Per tab, its key each time it is shown (viz.tabs.register_shown).
        *[dcc.Store(id=f"on-{t.key}") for t in tabs],
        html.Div(id="workspace", className="workspace", children=[
            html.Div(className="tab-panels", children=[
                html.Div(id=f"panel-{t.key}", className="tab-panel", hidden=t.key != first,
                         children=t.module.layout(board)) for t in tabs]),
            city_panel(board, with_3d=with_3d),
        ]),
        html.Footer(_("Territory Twin \u00b7 indicators and thresholds from "
                      "scenarios/indicators.yaml \u00b7 works offline"),
                    className="app-footer"),
    ])

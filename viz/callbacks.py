"""The shell's callbacks: switching tabs, the 3D layer toggles and the 3D scene; then each tab
registers its own (:mod:`viz.tabs`).

The 3D view is driven by clientside callbacks into ``viz/assets/twin3d.js``: the server only
sends small JSON (a scene, :mod:`viz.scene`), never geometry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dash import ClientsideFunction, Input, Output, State

from viz.buildings import building_panel
from viz.layout import language_notice
from viz.tabs import TabSpec, available_tabs, register_gate, register_shown, year_in

if TYPE_CHECKING:
    import dash

    from viz.app import Dashboard

HIDDEN = {"display": "none"}


def shell_state(tabs: Sequence[TabSpec], tab: Any) -> dict[str, Any]:
    """Which panels, controls and 3D parts the page shows for the active ``tab``."""
    spec = next((t for t in tabs if t.key == tab), tabs[0])
    uses = set(spec.controls)
    return {
        "hidden": [t.key != spec.key for t in tabs],
        "controls": None if uses else HIDDEN,
        "run": None if "run" in uses else HIDDEN,
        "year": None if "year" in uses else HIDDEN,
        "description": None if "run" in uses else HIDDEN,
        "workspace": "workspace" if spec.with_3d else "workspace no-3d",
        # Colouring buildings by height, use or flood is the scenario tab's choice.
        "colour_by": None if spec.key == "scenario" else HIDDEN,
    }


def register_callbacks(app: dash.Dash, board: Dashboard, *, with_3d: bool) -> None:
    """Wire the shell and every available tab of ``app`` to ``board``."""
    tabs = available_tabs(board)

    @app.callback(*[Output(f"panel-{t.key}", "hidden") for t in tabs],
                  Output("controls", "style"), Output("control-run", "style"),
                  Output("control-year", "style"), Output("run-description", "style"),
                  Output("workspace", "className"), Output("colour-by", "style"),
                  Input("tab", "value"))
    def _on_tab(tab):
        s = shell_state(tabs, tab)
        colour = s["colour_by"] if with_3d else HIDDEN
        return (*s["hidden"], s["controls"], s["run"], s["year"], s["description"],
                s["workspace"], colour)

    @app.callback(Output("language-notice", "children"), Output("language-notice", "hidden"),
                  Input("url", "search"))
    def _on_address(search):
        words = language_notice(search)
        return words, not words

    compare = any(t.key == "compare" for t in tabs)

    @app.callback(Output("building-panel", "children"), Input("picked-building", "data"),
                  State("tab", "value"), State("run", "value"), State("year", "value"),
                  *([State("compare-with", "value")] if compare else []))
    def _on_building(picked, tab, run, year, b=None):
        if not board.runs:
            return []
        a = board.run_index(run)
        other = board.run_index(b) if tab == "compare" and b is not None else (
            0 if a != 0 else min(1, len(board.runs) - 1))
        building = picked.get("id") if isinstance(picked, dict) else None
        return building_panel(board, building, (a, other),
                              year_in(board.runs[a].years, year))

    for tab in tabs:
        if tab.controls:
            register_gate(app, tab.key)
        register_shown(app, tab.key)
        tab.module.register_callbacks(app, board)

    if not with_3d:
        return
    app.clientside_callback(ClientsideFunction("twin3d", "init"),
                            Output("cesium-status", "children"),
                            Input("cesium-config", "data"))
    app.clientside_callback(ClientsideFunction("twin3d", "layers"),
                            Output("cesium-ack", "title"), Input("layers", "value"))
    app.clientside_callback(ClientsideFunction("twin3d", "scene"),
                            Output("cesium-ack", "children"), Input("scene", "data"),
                            Input("tab", "value"))

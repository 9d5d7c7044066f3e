"""The dashboard's tabs: one module each, registered in :func:`all_tabs`.

A tab module has

* ``layout(board) -> list of components``: its panel (left column of the workspace);
* ``register_callbacks(app, board) -> None``: its callbacks. Those that draw the panel listen
  to the tab's gate (:func:`context` for the run and year, :func:`shown` otherwise), filled in
  the browser only while the tab is shown, so a hidden tab costs no request and is brought up
  to date when it is opened;
* a 3D view, when it has one: a callback writing the shared ``scene`` store and the
  ``building-legend`` (both with ``allow_duplicate``) while the tab is active
  (:func:`scene_outputs`, :func:`active`).

:class:`TabSpec` says which of the shared controls (``run``, ``year``) the tab uses and when
it is available (e.g. the ensemble tab only with an ensemble). A new tab is a new module and
one more entry in :func:`all_tabs`; the shell (:mod:`viz.layout`, :mod:`viz.callbacks`) does
not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from dash import Output
from dash.exceptions import PreventUpdate

if TYPE_CHECKING:
    from viz.app import Dashboard


@dataclass(frozen=True)
class TabSpec:
    """One tab: its key (the ``tab`` value), label, module, shared controls, 3D and when it
    is offered."""

    key: str
    label: str
    module: ModuleType
    controls: tuple[str, ...] = ()
    with_3d: bool = True
    available: Callable[[Dashboard], bool] = lambda board: True


def _(message: str) -> str:
    """Marks a tab label for the catalogue; the shell translates it per page."""
    return message


def all_tabs() -> tuple[TabSpec, ...]:
    """Every tab, in page order (imported lazily: the tab modules import Dash components)."""
    from viz.tabs import (calibration, compare, data, ensemble, flood, heights, monitoring,
                          scenario)

    return (
        TabSpec("scenario", _("Scenario"), scenario, ("run", "year"),
                available=lambda board: bool(board.runs)),
        TabSpec("compare", _("Compare scenarios"), compare, ("run", "year"),
                available=lambda board: len(board.runs) > 1),
        TabSpec("flood", _("Storm surge"), flood, (),
                available=lambda board: any(r.surge is not None for r in board.runs)),
        TabSpec("ensemble", _("Ensemble"), ensemble, ("year",),
                available=lambda board: bool(board.ensembles)),
        TabSpec("heights", _("Heights & views"), heights, (),
                available=lambda board: heights.available(board)),
        TabSpec("calibration", _("Land-use calibration"), calibration, (), with_3d=False,
                available=lambda board: bool(board.calibrations)),
        TabSpec("monitoring", _("Monitoring"), monitoring, (), with_3d=False,
                available=monitoring.available),
        TabSpec("data", _("Data sources"), data, (), with_3d=False),
    )


def available_tabs(board: Dashboard) -> list[TabSpec]:
    """The tabs ``board`` has something for, in :func:`all_tabs` order."""
    return [tab for tab in all_tabs() if tab.available(board)]


def active(tab: Any, key: str) -> None:
    """Stop a callback (nothing changes on the page) unless tab ``key`` is shown."""
    if tab != key:
        raise PreventUpdate


#: The browser-side gate of a tab: passes the shared controls on only while the tab is shown.
_GATE_JS = """function (tab, run, year) {
    if (tab !== %s) { return window.dash_clientside.no_update; }
    return {run: run, year: year};
}"""


def register_gate(app: Any, key: str) -> None:
    """Copy the run and year into the store ``ctx-<key>`` while tab ``key`` is shown.

    A tab's server callbacks listen to that store instead of the shared controls, so moving
    the year slider runs the visible tab's callbacks only: hidden tabs are not even asked
    (the gate runs in the browser), and catch up when they are opened.
    """
    import json

    from dash import Input as In

    app.clientside_callback(_GATE_JS % json.dumps(key), Output(f"ctx-{key}", "data"),
                            In("tab", "value"), In("run", "value"), In("year", "value"))


#: The browser-side "shown" gate of a tab: its key while the tab is shown, nothing otherwise.
_SHOWN_JS = """function (tab) {
    return tab === %s ? tab : window.dash_clientside.no_update;
}"""


def register_shown(app: Any, key: str) -> None:
    """Write ``key`` into the store ``on-<key>`` each time tab ``key`` is shown.

    A tab's callbacks that would listen to the ``tab`` value itself listen to this store
    (:func:`shown`): switching to another tab then asks the server nothing for this one (with
    ``tab`` as an input every tab's callbacks made a round trip on each switch, only to stop
    in :func:`active`), and showing this tab again brings it up to date as before.
    """
    import json

    from dash import Input as In

    app.clientside_callback(_SHOWN_JS % json.dumps(key), Output(f"on-{key}", "data"),
                            In("tab", "value"))


def shown(key: str) -> Any:
    """The input that carries the tab's key while it is shown (see :func:`register_shown`);
    :func:`active` checks it as it checked the ``tab`` value."""
    from dash import Input as In

    return In(f"on-{key}", "data")


def context(key: str) -> Any:
    """The input of a tab's callbacks that carries the run and year (see :func:`register_gate`)."""
    from dash import Input as In

    return In(f"ctx-{key}", "data")


def run_and_year(ctx: Any) -> tuple[Any, Any]:
    """The run and year a gate passed on; nothing changes before the tab was first shown."""
    if not isinstance(ctx, dict):
        raise PreventUpdate
    return ctx.get("run"), ctx.get("year")


def scene_outputs() -> list[Output]:
    """The outputs of a tab's 3D callback: the scene and the 3D legend (shared by the tabs)."""
    return [Output("scene", "data", allow_duplicate=True),
            Output("building-legend", "children", allow_duplicate=True)]


def year_in(years: Sequence[int], year: Any) -> int:
    """``year`` if it is one of ``years``, else the last of them.

    Examples
    --------
    >>> year_in([2025, 2026], "2026"), year_in([2025, 2026], None), year_in([2025], 1990)
    (2026, 2026, 2025)
    """
    try:
        value = int(year)
    except (TypeError, ValueError):
        return years[-1]
    return value if value in years else years[-1]

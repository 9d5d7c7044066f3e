"""The picked building in scenarios A and B: what it is in each run and year.

A click in 3D (``viz/assets/twin3d.js``) highlights the building and writes its id into the
``picked-building`` store; :func:`building_panel` then lists, for run A and run B in the year,
whether the building stands (existing, new or redevelopment, replaced), its height, storeys and
use, its flood depth in a surge run, and its height-limit status from a height check. Every
fact is read from files: the TIM's buildings (attributes only), each run's
``buildings_new.gpkg`` and ``buildings.csv``, the height check's ``buildings.csv``. A new scene
(run, year, tab) clears the pick, so the panel never describes another context.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from viz.cesium import use_name
from viz.i18n import ui, value_text

if TYPE_CHECKING:
    from scenarios.rundir import RunDirectory
    from viz.app import Dashboard

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def tim_buildings(tim_dir: str) -> pd.DataFrame:
    """The TIM's buildings' attributes by ``building_id`` (empty when unreadable)."""
    from tim.store import read_manifest

    try:
        meta = read_manifest(tim_dir)["layers"]["buildings"]
        import pyogrio

        frame = pyogrio.read_dataframe(Path(tim_dir) / meta["file"], layer=meta["layer"],
                                       read_geometry=False)
    except (KeyError, OSError, RuntimeError, ValueError) as exc:
        log.info("TIM buildings not read from %s: %s", tim_dir, exc)
        return pd.DataFrame(columns=["building_id"]).set_index("building_id")
    return frame.drop_duplicates("building_id").set_index("building_id")


@lru_cache(maxsize=32)
def _new_buildings(path: str) -> pd.DataFrame:
    import pyogrio

    file = Path(path) / "buildings_new.gpkg"
    if not file.is_file():
        return pd.DataFrame(columns=["building_id", "year", "kind", "replaces"])
    return pyogrio.read_dataframe(file, layer="buildings_new", read_geometry=False)


@lru_cache(maxsize=32)
def _surge_buildings(path: str) -> pd.DataFrame | None:
    file = Path(path) / "buildings.csv"
    if not file.is_file():
        return None
    return pd.read_csv(file, dtype={"building_id": str}).set_index("building_id")


@lru_cache(maxsize=8)
def _height_check(path: str) -> pd.DataFrame | None:
    file = Path(path) / "buildings.csv"
    if not file.is_file():
        return None
    return pd.read_csv(file, dtype={"building_id": str}).drop_duplicates(
        "building_id").set_index("building_id")


def building_facts(board: Dashboard, run: RunDirectory, year: int, building: str
                   ) -> dict[str, Any]:
    """What ``building`` is in ``run`` in ``year`` (plain values; None where unknown)."""
    new = _new_buildings(str(run.path))
    facts: dict[str, Any] = {"state": "unknown", "height": None, "storeys": None,
                             "use": None, "depth": None, "limit": None, "excess": None,
                             "rule": None}
    own = new[new["building_id"].astype(str) == building]
    replaced = new[(new["replaces"].fillna("").astype(str).str.split(",").apply(
        lambda ids: building in [i.strip() for i in ids])) & (new["year"] <= year)]
    base = tim_buildings(board.provenance.tims[0]) if board.provenance.tims else None
    if len(own):
        row = own.iloc[0]
        built = int(row["year"])
        facts.update(state=("not built yet" if built > year else str(row.get("kind", "new"))),
                     height=_num(row.get("height")), storeys=_num(row.get("storeys")),
                     use=row.get("use") if "use" in own.columns else None, built=built)
    elif base is not None and building in base.index:
        row = base.loc[building]
        facts.update(state="replaced" if len(replaced) else "existing",
                     height=_num(row.get("height")), storeys=_num(row.get("storeys")),
                     use=row.get("use"))
        if len(replaced):
            facts["replaced_in"] = int(replaced["year"].min())
    surge = _surge_buildings(str(run.path))
    if surge is not None and building in surge.index and run.surge_year is not None:
        facts["depth"] = _num(surge.loc[building].get("depth_max_m"))
        facts["surge_year"] = run.surge_year
    for check in board.heights:
        table = _height_check(str(check.path))
        if table is not None and building in table.index:
            row = table.loc[building]
            facts.update(limit=_num(row.get("max_height_m")), excess=_num(row.get("excess_m")),
                         rule=row.get("rule") if isinstance(row.get("rule"), str) else None)
            break
    return facts


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _words(facts: Mapping[str, Any]) -> dict[str, str]:
    t = ui()
    _ = t.gettext
    states = {"existing": _("existing"), "new": _("new building"),
              "redevelopment": _("redevelopment"), "replaced": _("replaced"),
              "not built yet": _("not built yet"), "unknown": _("not in this run")}
    state = states.get(facts["state"], facts["state"])
    if facts.get("built") is not None and facts["state"] != "not built yet":
        state += " " + _("(built {year})", year=facts["built"])
    if facts.get("replaced_in") is not None:
        state += " " + _("(in {year})", year=facts["replaced_in"])
    if facts.get("surge_year") is None:
        depth = _("no storm surge in this run")
    elif facts["depth"] is None:
        depth = t.gettext("n/a")
    else:
        depth = (_("{depth} m in {year}", depth=t.number(facts["depth"], 2),
                   year=facts["surge_year"]) if facts["depth"] > 0
                 else _("not flooded ({year})", year=facts["surge_year"]))
    if facts["limit"] is None:
        limit = _("not checked")
    elif facts["excess"] is not None and facts["excess"] > 0:
        limit = _("over its limit {limit} m by {excess} m ({rule})",
                  limit=t.number(facts["limit"], 1), excess=t.number(facts["excess"], 1),
                  rule=facts["rule"] or "-")
    else:
        limit = _("within its limit {limit} m", limit=t.number(facts["limit"], 1))
    return {"state": state,
            "height": (value_text(facts["height"], "m") + " " + _("m")
                       if facts["height"] is not None else t.gettext("n/a")),
            "storeys": t.number(facts["storeys"]) if facts["storeys"] is not None
            else t.gettext("n/a"),
            "use": use_name(str(facts["use"]), t) if facts["use"] else t.gettext("n/a"),
            "depth": depth, "limit": limit}


def building_panel(board: Dashboard, building: str | None, runs: tuple[int, int],
                   year: int) -> list[Any]:
    """The panel of the picked building: one column per run (A, B), one row per fact."""
    from dash import html

    t = ui()
    _ = t.gettext
    if not building:
        return [html.P(_("Click a building in 3D to compare it in scenarios A and B."),
                       className="muted")]
    columns = [(tag, i, _words(building_facts(board, board.runs[i], year, building)))
               for tag, i in zip(("A", "B"), runs)]
    labels = {"state": _("In {year}", year=year), "height": _("Height"),
              "storeys": _("Storeys"), "use": _("Use"), "depth": _("Flood depth"),
              "limit": _("Height limit")}
    head = html.Tr([html.Th(_("Building {id}", id=building)),
                    *[html.Th(f"{tag}: {board.labels[i]}") for tag, i, _w in columns]])
    body = [html.Tr([html.Th(label), *[html.Td(w[key]) for _tag, _i, w in columns]],
                    **{"data-fact": key}) for key, label in labels.items()]
    return [html.Table(id="building-table", className="table building-table",
                       **{"data-building": building},
                       children=[html.Thead(head), html.Tbody(body)])]

"""The sunlight and life-circle panels of the Heights & views tab (:mod:`viz.tabs.heights`).

When the chosen TIM (existing buildings) or run has a ``twin sunlight`` or ``twin lifecircle``
folder beside it (``<TIM_DIR>-sunlight``, ``<RUN_DIR>-lifecircle``, ...), the tab shows its
façade points coloured by hours (in 2D, and in 3D as entities), the buildings failing
GB 50180-2018 (downloadable) and the residents covered per facility type (TD/T 1062-2021)
with the gaps (downloadable); the sunlight check's ground shadow map is one more choice of
the tab's map, drawn in 2D and draped in 3D (served by :mod:`viz.cesium`). Read from the
folders, never computed here.

Separate from the tab's module, which holds the height check and the protected views: these
panels read other folders (the ``-sunlight``/``-lifecircle`` siblings of the choice) and
share only the choice of the tab with it. The tab imports this module at its top; the two
names of the tab used here (``_choice``, ``PAGE_SIZE``) are imported inside the functions
that use them, so that importing either module first makes no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import dash_table, dcc, html

from viz.figures import km_axes
from viz.i18n import ui
from viz.layout import graph
from viz.maps import SHADOW_RAMP, raster_figure
from viz.sources import products_cleared

if TYPE_CHECKING:
    import pandas as pd

    from tim.model import Grid
    from viz.app import Dashboard

#: The sunlight check's ground shadow map after the proposals (``twin sunlight`` rasters/).
SHADOW = "sunlight__shadow_hours_after"


# -- sunlight and the life circle (read from the folders beside the TIM or the run) ----------
def planning_base(board: Dashboard, value: Any = None) -> Path | None:
    """The folder whose ``-sunlight``/``-lifecircle`` siblings belong to the choice: the run's,
    or for the existing buildings the TIM the runs were made from."""
    from viz.tabs.heights import _choice

    choice = _choice(board, value)
    if choice.run is not None:
        return board.runs[choice.run].path
    tims = board.provenance.tims
    return Path(tims[0]) if tims else None


#: Façade points in 3D: below / meeting the sunlight standard; at most this many drawn
#: (failing ones first), as Cesium entities.
SUN_FAIL, SUN_PASS = "#e53935", "#43a047"
MAX_SUN_POINTS = 4000


@dataclass(frozen=True)
class ShadowMap:
    """Hours in shadow per ground cell after the proposals (NaN: under a building, no ground),
    from ``path`` as it was at ``stamp`` (modification time, ns); ``top``: the colour scale's
    end (the most hours, 1 h when none), for the 2D map, the 3D drape and its legend alike."""

    path: Path
    stamp: int
    values: np.ndarray
    grid: Grid
    top: float


def read_shadow_map(path: Path) -> ShadowMap:
    from viz.sources import read_raster

    stamp = path.stat().st_mtime_ns
    values, grid = read_raster(path)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    return ShadowMap(path, stamp, values, grid, top or 1.0)


def shadow_map(board: Dashboard, value: Any = None) -> ShadowMap | None:
    """The ground shadow map of the sunlight check beside the choice's TIM or run; None when
    there is none, it holds no value, or the user is not cleared for the products it was made
    from (the run's; for the existing buildings, those of every run, as the limit maps)."""
    from scenarios.planning.sunlight import SUFFIX
    from viz.tabs.heights import _choice

    base = planning_base(board, value)
    if base is None:
        return None
    folder = base.with_name(base.name + SUFFIX)
    path = folder / "rasters" / f"{SHADOW}.tif"
    if not (folder / "manifest.json").is_file() or not path.is_file():
        return None
    shadow = read_shadow_map(path)
    if not np.isfinite(shadow.values).any():
        return None
    choice = _choice(board, value)
    runs = board.runs if choice.run is None else [board.runs[choice.run]]
    return shadow if products_cleared(*runs) else None


def shadow_figure(shadow: ShadowMap, uirevision: str, backdrop: np.ndarray | None = None,
                  height: int = 460) -> go.Figure:
    """The shadow map in 2D, on the colours of its 3D drape (over ``backdrop`` if given)."""
    _ = ui().gettext
    return raster_figure(shadow.values, shadow.grid,
                         title=_("Hours in shadow on the ground, after the proposals"),
                         ramp=SHADOW_RAMP, vmin=0.0, vmax=shadow.top,
                         colorbar=_("hours in shadow"), hover="%{z:.1f} h", backdrop=backdrop,
                         height=height, uirevision=uirevision)


def sunlight_entities(board: Dashboard, value: Any, geoid: float) -> dict[str, Any] | None:
    """The sunlight check's façade points for the 3D view (WGS 84, heights + geoid), coloured
    by pass/fail after the proposals; None without a sunlight check."""
    from pyproj import Transformer

    from scenarios.planning.sunlight import find_sunlight

    base = planning_base(board, value)
    found = find_sunlight(base) if base is not None else None
    if found is None or not len(found.points):
        return None
    pts = building_points(found.points).head(MAX_SUN_POINTS)
    crs = found.manifest.get("crs") or (board.runs[0].grid.crs if board.runs else None)
    if crs is None:
        return None
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        pts["x"].to_numpy(float), pts["y"].to_numpy(float))
    # depth-tested and without an outline: façade points hide behind the buildings in front
    # (a white halo drawn over everything turned the town into one white blob)
    points = [{"name": f"{b} {h:.2f} h", "size": 7, "label": None, "outline": 0,
               "depth_test": True, "colour": SUN_PASS if ok else SUN_FAIL,
               "position": [float(x), float(y), float(z + geoid)]}
              for b, h, ok, x, y, z in zip(pts["building_id"], pts["hours_after"],
                                          pts["pass_after"].astype(bool), np.atleast_1d(lon),
                                          np.atleast_1d(lat), pts["z"].to_numpy(float))]
    return {"polygons": [], "lines": [], "points": points, "cells": None}


def building_points(points: pd.DataFrame) -> pd.DataFrame:
    """One façade point per building: its least sunlit after the proposals (the one its pass
    is judged by), failing buildings first. Every building shows (the sample's far-up run has
    about 50,000 points; failing points first filled the 4,000 drawn with red alone)."""
    worst = points.sort_values(["hours_after", "point"], kind="stable").drop_duplicates(
        "building_id")
    return worst.sort_values("pass_after", kind="stable")


def _download_button(label: str, id: str) -> html.Span:
    """A button whose callback sends a file of the folder as it is (dcc.Download)."""
    return html.Span([html.Button(label, id=id, n_clicks=0, className="button"),
                      dcc.Download(id=f"{id}-file")])


def planning_file(board: Dashboard, value: Any, kind: str, name: str) -> Path | None:
    """A file of the sunlight (``kind`` "sunlight") or life-circle folder of the choice."""
    from scenarios.planning.lifecircle import find_lifecircle
    from scenarios.planning.sunlight import find_sunlight

    base = planning_base(board, value)
    if base is None:
        return None
    found = (find_sunlight if kind == "sunlight" else find_lifecircle)(base)
    return None if found is None else found.path / name


def sunlight_figure(found: Any) -> go.Figure:
    """Façade sample points coloured by their hours of sun after the proposals."""
    _ = ui().gettext
    pts = found.points
    threshold = float(found.manifest.get("threshold_hours", 0))
    fig = go.Figure(go.Scattergl(
        x=pts["x"] / 1000.0, y=pts["y"] / 1000.0, mode="markers",
        marker=dict(size=5, color=pts["hours_after"], colorscale="Cividis", cmin=0,
                    cmax=max(2 * threshold, float(pts["hours_after"].max() or 1)),
                    colorbar=dict(title=_("hours of sun (日照)"))),
        customdata=np.column_stack([pts["building_id"], pts["hours_before"]]),
        hovertemplate="%{customdata[0]}: %{marker.color:.2f} h (" + _("before the proposals") +
                      " %{customdata[1]:.2f} h)<extra></extra>"))
    fig.update_layout(height=460, margin=dict(l=60, r=20, t=30, b=40),
                      **km_axes(str(found.manifest.get("crs") or "")),
                      uirevision=str(found.path.name))
    return fig


def sunlight_box(board: Dashboard, value: Any = None) -> list[Any]:
    """The sunlight check beside the chosen TIM or run, if there is one."""
    from scenarios.planning.sunlight import SUFFIX, find_sunlight
    from viz.tabs.heights import PAGE_SIZE

    t = ui()
    _ = t.gettext
    base = planning_base(board, value)
    found = find_sunlight(base) if base is not None else None
    if found is None:
        return [html.P(_("No sunlight check for this choice: run 'twin sunlight TIM_DIR "
                         "--proposals FILE --out {folder}'.",
                         folder=(base.name if base is not None else "TIM_DIR") + SUFFIX),
                       className="muted", id="sunlight-none")]
    m, c = found.manifest, found.manifest.get("counts", {})
    failing = found.failing
    rows = [html.P(id="sunlight-summary", **{"data-failing": len(failing),
                                             "data-broken": c.get("broken", 0)}, children=[
        html.Span(t.number(len(failing)), className="big"), " ",
        _("of {count} residential buildings below {hours} h of sun on {day} ({date}); "
          "{broken} of them broken by the proposals.", count=t.number(c.get("buildings", 0)),
          hours="%g" % m.get("threshold_hours", 0), day=m.get("day_label", ""),
          date=m.get("day", ""), broken=t.number(c.get("broken", 0)))]),
        html.P(_("Rules: {rules}", rules=m.get("rules", {}).get("name", "")), className="muted"),
        graph("sunlight-map", 460)]
    rows[2].figure = sunlight_figure(found)
    shadow = shadow_map(board, value)  # None above the user's clearance
    if shadow is not None:
        map_graph = graph("sunlight-shadow-map", 460)
        map_graph.figure = shadow_figure(shadow, f"shadow:{found.path.name}")
        rows.insert(3, map_graph)
    columns = [("building_id", _("Building")), ("source", _("Existing or proposed")),
               ("min_hours_before", _("Least hours before")),
               ("min_hours_after", _("Least hours after")),
               ("failing_points_after", _("Façade points failing")),
               ("broken_by", _("Broken by proposal"))]
    table = failing.head(200).round(2)
    rows.append(dash_table.DataTable(
        id="sunlight-table", data=table.fillna("").to_dict("records"),
        columns=[{"id": cid, "name": name} for cid, name in columns],
        sort_action="native", page_action="native", page_size=PAGE_SIZE,
        style_as_list_view=True, style_cell={"fontFamily": "inherit", "fontSize": "13px",
                                             "padding": "4px 8px", "textAlign": "left"}))
    return rows


def lifecircle_box(board: Dashboard, value: Any = None) -> list[Any]:
    """The life-circle check beside the chosen TIM or run: residents covered per facility
    type, and the gaps."""
    from scenarios.planning.lifecircle import SUFFIX, find_lifecircle

    t = ui()
    _ = t.gettext
    base = planning_base(board, value)
    found = find_lifecircle(base) if base is not None else None
    if found is None:
        return [html.P(_("No life-circle check for this choice: run 'twin lifecircle TIM_DIR "
                         "--osm FILE.pbf --out {folder}'.",
                         folder=(base.name if base is not None else "TIM_DIR") + SUFFIX),
                       className="muted", id="lifecircle-none")]
    m = found.manifest
    cov = found.coverage.groupby(["type", "name", "minutes_standard", "facilities"],
                                 sort=False)[["residents", "covered",
                                              "unreachable_residents"]].sum().reset_index()
    none = _("none in the data")
    body = [html.Tr([
        html.Td(f"{r.name} ({r.type})"), html.Td(f"{r.minutes_standard:g}", className="num"),
        html.Td(none if not r.facilities else f"{100 * r.covered / r.residents:.1f} %"
                if r.residents else "-", className="num"),
        html.Td(t.number(round(r.residents - r.covered)) if r.facilities else "-",
                className="num"),
        html.Td(t.number(round(r.unreachable_residents)) if r.facilities else "-",
                className="num")])
        for r in cov.itertuples()]
    counts = m.get("counts", {})
    return [
        html.P(_("{buildings} residential buildings, {residents} residents, walking at "
                 "{speed} m/s; standards: {name}.", buildings=t.number(
                     counts.get("buildings", 0)), residents=t.number(
                     counts.get("residents", 0)), speed="%g" % m.get("walking_speed_m_s", 0),
                 name=m.get("standards", {}).get("name", "")), className="muted"),
        html.Table(id="lifecircle-table", className="table", **{"data-types": len(cov)},
                   children=[html.Thead(html.Tr([
                       html.Th(_("Life-circle facility")),
                       html.Th(_("Walking minutes"), className="num"),
                       html.Th(_("Residents covered"), className="num"),
                       html.Th(_("Residents outside"), className="num"),
                       html.Th(_("Unreachable residents"), className="num")])), html.Tbody(body)]),
        _gaps_graph(found),
        html.P(_("{count} gaps: residential buildings outside a facility's circle.",
                 count=t.number(len(found.gaps))), className="muted", id="lifecircle-gaps",
               **{"data-gaps": len(found.gaps)})]


def _gaps_graph(found: Any) -> dcc.Graph:
    """Residential buildings coloured by how many facility types they lack within the
    type's circle (the gaps map), sized by residents."""
    _ = ui().gettext
    b = found.buildings
    missing = b["types_missing"] if "types_missing" in b else np.zeros(len(b))
    fig = go.Figure(go.Scattergl(
        x=b["x"] / 1000.0, y=b["y"] / 1000.0, mode="markers",
        marker=dict(size=np.clip(np.sqrt(b["residents"].to_numpy(float)), 3, 14),
                    color=missing, colorscale="YlOrRd", cmin=0,
                    colorbar=dict(title=_("facility types missing"))),
        customdata=np.column_stack([b["building_id"], b["residents"]]),
        hovertemplate="%{customdata[0]}: %{marker.color} (%{customdata[1]:.0f})"
                      "<extra></extra>"))
    fig.update_layout(height=460, margin=dict(l=60, r=20, t=30, b=40),
                      **km_axes(str(found.manifest.get("crs") or "")),
                      uirevision=str(found.path.name))
    out = graph("lifecircle-map", 460)
    out.figure = fig
    return out

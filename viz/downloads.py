"""Downloads from the dashboard: a run's indicator tables (CSV, and one XLSX workbook), its maps
(GeoTIFF), its new buildings (GeoPackage) and its report, if it has one.

Files are served only from the folders of the runs the dashboard shows, by a fixed list of
names (:func:`catalogue`), never from a path the request spells: the request names a run by
its index and a file by its key; the path is resolved and refused when it leaves the run's
folder or is not a regular file (werkzeug's ``safe_join`` / ``send_from_directory`` idea).
The page never shows a server path.

The one-map layers of the runs' TIM (:mod:`viz.onemap`) are offered too, as GeoJSON (WGS 84,
RFC 7946) built from what the dashboard read, but only those the request's user is cleared
for (:func:`viz.server.visible`): a hidden layer is neither linked nor served.
"""

from __future__ import annotations

import io
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from viz.i18n import ui
from viz.sources import products_cleared

if TYPE_CHECKING:
    import flask

    from scenarios.rundir import RunDirectory
    from viz.app import Dashboard

DOWNLOAD_ROUTE = "/twin/download/"
#: ``/twin/download/heights/<k>/<table>``: a table of height check ``k`` of the Heights & views
#: tab (:func:`viz.tabs.heights.choices`: the ``twin heights`` folders, then runs' checks).
HEIGHTS_ROUTE = DOWNLOAD_ROUTE + "heights/"
HEIGHT_TABLES = ("violations.csv", "buildings.csv", "units.csv", "parcels.csv")
#: ``/twin/download/monitoring/<kind>/<file>``: a file of the monitoring folder of that kind
#: (:class:`scenarios.monitoring.folders.MonitoringSet`), from this list only.
MONITORING_ROUTE = DOWNLOAD_ROUTE + "monitoring/"
MONITORING_FILES = {
    "assessment": ("indicators.csv", "indicators_areas.csv", "warnings.csv", "trends.csv",
                   "progress.csv"),
    "changes": ("patches.csv", "patches.gpkg", "line_summary.csv", "farmland_balance.csv"),
    "evaluation": ("grade_areas.csv", "capacity.csv")}
#: The in-memory workbook's key (built from the CSVs, not a file of the run).
WORKBOOK = "indicators.xlsx"
#: Keys of the one-map layers' GeoJSON downloads, by layer.
LAYER_KEYS = {"units": "planning_units.geojson", "zoning": "zoning.geojson",
              "control_lines": "control_lines.geojson", "amenities": "amenities.geojson"}
#: Kinds of download that carry the run's products at its level (viz.sources.products_level);
#: the indicator tables are the numbers the page's charts show anyway.
CLASSIFIED_KINDS = ("map", "buildings", "report")


@dataclass(frozen=True)
class Download:
    """One file a run offers: its key in the address, its path in the run, its kind."""

    key: str
    relative: str  # inside the run folder ("" for the generated workbook)
    kind: str  # table, map, buildings, report


def safe_file(root: Path, relative: str) -> Path | None:
    """``root / relative`` resolved, if it stays inside ``root`` and is a regular file."""
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if path != base and base not in path.parents:
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return path if stat.S_ISREG(mode) else None


def catalogue(run: RunDirectory, year: int | None = None) -> list[Download]:
    """The files ``run`` offers (those present and, for the kinds in
    :data:`CLASSIFIED_KINDS`, that the request's user is cleared for), the year's maps when
    ``year`` is given."""
    offers = [Download("indicators.csv", "indicators.csv", "table"),
              Download("indicators_areas.csv", "indicators_areas.csv", "table"),
              Download("warnings.csv", "warnings.csv", "table"),
              Download(WORKBOOK, "", "table")]
    outputs = run.manifest.get("outputs", {})
    if year is not None:
        for field in ("land_use", "population"):
            relative = (outputs.get(field) or {}).get(str(year))
            if relative:
                offers.append(Download(f"{field}_{year}.tif", str(relative), "map"))
    offers.append(Download("water_depth.tif", "surge/water_depth.tif", "map"))
    offers.append(Download("buildings_new.gpkg", "buildings_new.gpkg", "buildings"))
    for name in ("report.pdf", "report.html"):
        for relative in (name, f"report/{name}"):
            offers.append(Download(name, relative, "report"))
    found: dict[str, Download] = {}
    # Maps, new buildings and reports show the run's land: not to a user below its level.
    cleared = products_cleared(run)
    for offer in offers:
        if offer.key in found or (offer.kind in CLASSIFIED_KINDS and not cleared):
            continue
        if offer.key == WORKBOOK or safe_file(run.path, offer.relative) is not None:
            found[offer.key] = offer
    return list(found.values())


def workbook(run: RunDirectory) -> bytes:
    """The run's indicator tables as one XLSX workbook (a sheet per table)."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for sheet, name in (("indicators", "indicators.csv"),
                            ("areas", "indicators_areas.csv"), ("warnings", "warnings.csv")):
            path = safe_file(run.path, name)
            if path is not None:
                pd.read_csv(path).to_excel(writer, sheet_name=sheet, index=False)
        if not writer.sheets:
            pd.DataFrame().to_excel(writer, sheet_name="indicators", index=False)
    return buffer.getvalue()


def register_routes(server: flask.Flask, board: Dashboard) -> None:
    """``/twin/download/<run>/<key>``: a file of run ``run`` by its catalogue key."""
    import flask

    @server.route(DOWNLOAD_ROUTE + "<int:index>/<key>", endpoint="twin_download")
    def download(index: int, key: str) -> flask.Response:
        if not 0 <= index < len(board.runs):
            flask.abort(404)
        run = board.runs[index]
        name = f"{run.name}-{key}"
        if key == WORKBOOK:
            return flask.send_file(io.BytesIO(workbook(run)), as_attachment=True,
                                   download_name=name, mimetype="application/vnd."
                                   "openxmlformats-officedocument.spreadsheetml.sheet")
        layer = next((k for k, v in LAYER_KEYS.items() if v == key), None)
        if layer is not None:
            # Same answer as a missing file for a layer the user is not cleared for.
            if layer not in board.onemap.available:
                flask.abort(404)
            return flask.send_file(io.BytesIO(layer_geojson(board.onemap, layer)),
                                   as_attachment=True, download_name=name,
                                   mimetype="application/geo+json")
        year = _year_of(key)
        offer = next((d for d in catalogue(run, year) if d.key == key), None)
        path = None if offer is None else safe_file(run.path, offer.relative)
        if path is None:
            flask.abort(404)
        return flask.send_file(path, as_attachment=True, download_name=name, max_age=0)

    @server.route(HEIGHTS_ROUTE + "<int:k>/<key>", endpoint="twin_download_heights")
    def heights_download(k: int, key: str) -> flask.Response:
        from viz.tabs.heights import choices

        found = choices(board)
        if key not in HEIGHT_TABLES or not 0 <= k < len(found):
            flask.abort(404)
        choice = found[k]
        path = safe_file(choice.check.path, key)
        if path is None:
            flask.abort(404)
        folder = (choice.check.path.name if choice.run is None
                  else board.runs[choice.run].name)
        return flask.send_file(path, as_attachment=True, download_name=f"{folder}-{key}",
                               max_age=0, mimetype="text/csv")


    @server.route(MONITORING_ROUTE + "<kind>/<key>", endpoint="twin_download_monitoring")
    def monitoring_download(kind: str, key: str) -> flask.Response:
        folder = getattr(board.monitoring, kind, None) if board.monitoring else None
        if folder is None or key not in MONITORING_FILES.get(kind, ()):
            flask.abort(404)
        path = safe_file(folder.path, key)
        if path is None:
            flask.abort(404)
        return flask.send_file(path, as_attachment=True, max_age=0,
                               download_name=f"{folder.path.name}-{key}",
                               mimetype="text/csv" if key.endswith(".csv")
                               else "application/geopackage+sqlite3")


def layer_geojson(onemap: Any, layer: str) -> bytes:
    """One-map ``layer`` (as the request may see it) as a GeoJSON FeatureCollection in WGS 84
    with the features' attributes."""
    import json

    import shapely
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(onemap.crs, "EPSG:4326", always_xy=True)
    features = []
    for item in getattr(onemap, layer):
        if layer == "amenities":
            lon, lat = to_wgs.transform(item["x"], item["y"])
            geometry = {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}
            props = {"kind": item["kind"], "name": item["name"]}
        else:
            shape = shapely.transform(item.shape, lambda xy: np.column_stack(
                to_wgs.transform(xy[:, 0], xy[:, 1])))
            geometry = shapely.geometry.mapping(shapely.set_precision(shape, 1e-7))
            props = {k: v for k, v in item.attrs.items() if _jsonable(v)}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False).encode()


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _year_of(key: str) -> int | None:
    stem = key.rsplit(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def links(board: Dashboard, index: int, year: int) -> list[Any]:
    """The page's download links for run ``index`` in ``year`` (words in its language)."""
    from dash import html

    t = ui()
    _ = t.gettext
    run = board.runs[index]
    names = {"table": _("Indicator tables"), "map": _("Maps (GeoTIFF)"),
             "buildings": _("New buildings (GeoPackage)"), "report": _("Report"),
             "layers": _("One-map layers (GeoJSON)")}
    groups: dict[str, list[Any]] = {}
    layers = [Download(LAYER_KEYS[k], "", "layers") for k in board.onemap.available]
    for offer in [*catalogue(run, year), *layers]:
        groups.setdefault(offer.kind, []).append(html.A(
            offer.key, href=f"{DOWNLOAD_ROUTE}{index}/{offer.key}",
            download=f"{run.name}-{offer.key}", className="download-link",
            **{"data-key": offer.key}))
    cleared = products_cleared(run)
    missing = [names[k] for k in ("map", "buildings", "report")
               if k not in groups and cleared]
    items = [html.Li([html.Span(names[kind], className="download-kind"), *groups[kind]])
             for kind in ("table", "map", "buildings", "report", "layers") if kind in groups]
    out: list[Any] = [html.Ul(items, className="downloads")]
    if cleared and "water_depth.tif" not in {o.key for o in catalogue(run)}:
        out.append(html.P(_("This run has no storm surge: no flood-depth map."),
                          className="muted"))
    if missing:
        out.append(html.P(_("Not in this run: {what}.", what=", ".join(missing)),
                          className="muted"))
    if board.onemap.hidden or not cleared:
        from viz.onemap import hidden_note

        out.append(html.P(hidden_note(), className="muted clearance-note"))
    return out

"""Viewsheds from files: read a surface (a TIM or a GeoTIFF), compute, write a GeoTIFF + JSON.

``twin viewshed`` calls :func:`viewshed_to_file`. The surface is the TIM's DSM (ground plus
buildings, :func:`engine.analysis.viewshed.territory_surface`) or any single-band GeoTIFF (a
DSM or DEM in a projected CRS). The result is one GeoTIFF on the surface's grid - the standard
field ``view__visible`` (one observer: 1 seen, 0 hidden, 255 nodata/out of range) or
``view__observer_count`` (several: how many see each cell) - and a JSON sidecar beside it
(observers in the CRS, options, counts) from which a dashboard draws the observers.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.analysis.viewshed import (Observer, ViewshedOptions, earth_radius,
                                      grid_cumulative_viewshed, grid_viewshed,
                                      territory_surface)
from tim.atomic import atomic_file
from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Grid
from tim.store import write_raster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Surface:
    """A raster surface to look across: heights, their grid, the nodata value, its origin."""

    values: np.ndarray
    grid: Grid
    nodata: float | None
    source: str


def read_surface(source: str | Path) -> Surface:
    """The DSM of a TIM directory (terrain + building heights), or band 1 of a GeoTIFF."""
    source = Path(source)
    if source.is_dir():
        from tim.store import load_territory

        territory = load_territory(source, layers=False)
        return Surface(territory_surface(territory), territory.grid, None,
                       f"{source} (terrain + buildings)")
    if not source.is_file():
        raise InputError("no such TIM directory or raster file", source=source)
    from pyproj import CRS

    from tim.ingest.raster import read_band

    values, crs, transform, nodata = read_band(source)
    if crs is None:
        raise InputError("the raster has no CRS", source=source, field="crs",
                         hint="assign one with gdal_edit.py -a_srs EPSG:xxxx")
    grid = Grid(crs.to_string(), transform, values.shape)

    if not CRS.from_user_input(grid.crs).is_projected:
        raise InputError("the surface must be in a projected CRS (metres)", source=source,
                         field="crs", value=grid.crs, hint="reproject it with gdalwarp")
    return Surface(values, grid, nodata, str(source))


def read_points(path: str | Path, what: str) -> list[tuple[float, float, float | None,
                                                          float | None]]:
    """Points from a CSV file with columns ``x``, ``y`` and optionally ``z`` (absolute height)
    and ``height`` (above the ground or surface): ``(x, y, z, height)`` per row, None where a
    column is absent or empty. A file without x and y, with no rows or with an x or y that is
    not a number is an error naming the file (and row); ``what`` names the points in it."""
    import pandas as pd

    from tim.config import numeric_column, read_csv

    path = Path(path)
    table = read_csv(path, f"{what} file")
    missing = [c for c in ("x", "y") if c not in table.columns]
    if missing:
        raise InputError(f"{what} files need columns x and y (have: "
                         f"{', '.join(map(str, table.columns))})", source=path,
                         field=missing[0])
    if len(table) == 0:
        raise InputError(f"no {what}s in the file", source=path)
    # x, y: any finite number; z and height may be empty (None) but never text, which would
    # silently put the point on the ground.
    for column, low, high, blank in (("x", -1e9, 1e9, False), ("y", -1e9, 1e9, False),
                                     ("z", -1000, 10_000, True), ("height", 0, 10_000, True)):
        if column in table.columns:
            numeric_column(table, column, path, low=low, high=high, blank=blank)
    points = []
    for i, row in table.iterrows():
        values = {k: pd.to_numeric(row[k], errors="coerce") for k in ("x", "y", "z", "height")
                  if k in table.columns}
        bad = [k for k in ("x", "y") if not np.isfinite(values[k])]
        if bad:
            raise InputError(f"row {i + 2}: not a number", source=path, field=bad[0],
                             value=row[bad[0]])
        z, h = (values.get(k, np.nan) for k in ("z", "height"))
        points.append((float(values["x"]), float(values["y"]),
                       float(z) if np.isfinite(z) else None, float(h) if np.isfinite(h) else None))
    return points


def read_observers(path: str | Path, *, height: float = 1.6) -> list[Observer]:
    """Observers from a CSV file (:func:`read_points`): ``height`` is the eye above the surface
    (default ``height``), ``z`` an absolute eye height."""
    return [Observer(x, y, height if h is None else h, z)
            for x, y, z, h in read_points(path, "observer")]


@dataclass(frozen=True)
class ViewshedSummary:
    """What :func:`viewshed_to_file` wrote and found."""

    path: Path
    field: str
    observers: int
    cells: int
    seen_cells: int
    seconds: float

    @property
    def seen_share(self) -> float:
        return self.seen_cells / self.cells if self.cells else 0.0


def viewshed_to_file(source: str | Path | Surface, observers: Sequence[Observer],
                     out: str | Path, options: ViewshedOptions = ViewshedOptions()
                     ) -> ViewshedSummary:
    """Compute the viewshed of one observer (or the cumulative viewshed of several) across a
    TIM's or a GeoTIFF's surface, and write it to ``out`` (GeoTIFF) with ``out.json`` beside.

    Examples
    --------
    ``twin viewshed TIM_DIR --observer 512500,2706000 --height 1.6 --out view.tif`` is
    ``viewshed_to_file("TIM_DIR", [Observer(512500, 2706000, 1.6)], "view.tif")``.
    """
    started = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        raise InputError("the viewshed is written as a GeoTIFF: name it .tif", field="--out",
                         value=str(out))
    surface = source if isinstance(source, Surface) else read_surface(source)
    if len(observers) == 1:
        field = "view__visible"
        values = grid_viewshed(surface.values, surface.grid, observers[0], options,
                               nodata=surface.nodata)
        seen = int(np.count_nonzero(values == 1))
        valid = values.size - int(np.count_nonzero(values == 255))
    else:
        field = "view__observer_count"
        values = grid_cumulative_viewshed(surface.values, surface.grid, observers, options,
                                          nodata=surface.nodata)
        seen = int(np.count_nonzero(values))
        valid = int(values.size)
    with atomic_file(out) as staging:
        write_raster(staging, values, surface.grid, field_spec(field).nodata)
    seconds = time.perf_counter() - started
    radius = options.earth_radius or earth_radius(surface.grid.crs)
    sidecar = {
        "field": field, "units": field_spec(field).units, "raster": out.name,
        "surface": surface.source, "crs": surface.grid.crs,
        "observers": [asdict(o) for o in observers],
        "options": {**asdict(options), "max_distance": (None if np.isinf(options.max_distance)
                                                        else options.max_distance),
                    "earth_radius": radius,
                    "curvature_coefficient": options.curvature_coefficient()},
        "model": "Wang, Robinson & White (2000) reference-plane sweep, as gdal_viewshed "
                 "(edge mode); adjacent cells visible",
        "cells": valid, "seen_cells": seen, "seconds": round(seconds, 4),
    }
    with atomic_file(out.with_suffix(".json")) as staging:
        staging.write_text(json.dumps(sidecar, indent=2, ensure_ascii=False))
    log.info("viewshed of %d observer(s) on %s: %d of %d cells seen (%.2f s)", len(observers),
             surface.source, seen, valid, seconds)
    return ViewshedSummary(out, field, len(observers), valid, seen, seconds)

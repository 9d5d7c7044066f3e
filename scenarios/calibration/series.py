"""Dated series: land-use maps of earlier epochs and the drivers as they stood at each epoch.

A catalog's ``observed: {label: path}`` names land-use maps of earlier epochs (labels
``1973-1977`` - a five-year composite - or a single year ``1975``). This module puts them on
a built territory's grid with the land-use source's ``crs`` and ``class_map`` (the same
mapping table as the territory's own map) and derives, for each epoch, what existed then:

* **land use**: the epoch's map, coarsened by the mode like the territory's; cells without
  data are the sea (the catalog's ``sea.code``), except where the territory itself has no
  data (outside it). So land reclaimed later is sea in the earlier epochs, as it was;
* **roads as of the epoch**: distance (m) to the main and to the secondary roads whose
  ``AppearYear`` is at most the epoch's year (the middle year of a five-year epoch, the year
  roads are labelled with);
* **built-up areas as of the epoch** (``AppearYear`` at most the year) as a 0/1 mask;
* **protected areas in force** at the epoch (designated by then and not ended): for change
  monitoring. A designation year of 0 means "not given": such areas count as in force
  throughout, with a warning that counts them.

Nothing dated later than an epoch enters it: the 2022 facilities are never a driver here.

:func:`write_series` writes them as GeoTIFFs on the territory grid with a ``series.json``
index (``twin tim series``); ``twin calibrate --map YEAR=...`` and ``--driver`` read them as
they are.

Rules for bad input (each an :class:`~tim.errors.InputError` naming file and field): an epoch
whose file is missing, epochs out of time order or overlapping, an epoch label that is not
``YYYY`` or ``YYYY-YYYY``, a dated layer without its year column.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.errors import InputError
from tim.model import Territory


SERIES_FORMAT = "territory-twin/land-use-series"
#: Layers (from the catalog's ``layers``) the drivers come from, and their columns.
ROADS_LAYER, BUILTUP_LAYER, PROTECTED_LAYER = "roads", "builtup_by_period", "protected_areas"
#: Planned built-up land (a scenario's new towns), never a driver of the observed epochs.
PLANNED_LAYER = "planned_new_towns"
YEAR_COLUMN, END_COLUMN, ROAD_CLASS_COLUMN = "AppearYear", "EndYear", "Class"
ROAD_CLASSES = ("Main", "Secondary")


@dataclass(frozen=True)
class Epoch:
    """One epoch of the series: ``label`` as in the catalog, first and last year, the file."""

    label: str
    first: int
    last: int
    path: Path

    @property
    def year(self) -> int:
        """The year the epoch stands for: its middle year (1973-1977 -> 1975)."""
        return (self.first + self.last) // 2

    @property
    def slug(self) -> str:
        return self.label.replace(" ", "")


def parse_label(label: str, *, source: str | Path | None = None) -> tuple[int, int]:
    """First and last year of an epoch label.

    Examples
    --------
    >>> parse_label("1973-1977"), parse_label("2010")
    ((1973, 1977), (2010, 2010))
    """
    match = re.fullmatch(r"\s*(\d{4})\s*(?:[-/]\s*(\d{4}))?\s*", str(label))
    if not match:
        raise InputError("an epoch label is a year (1975) or a span of years (1973-1977)",
                         source=source, field=f"observed.{label}", value=label)
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise InputError("an epoch must end after it starts", source=source,
                         field=f"observed.{label}", value=label)
    return first, last


def epochs(observed: dict[str, Path], *, source: str | Path | None = None) -> list[Epoch]:
    """The epochs of a catalog's ``observed`` section, checked: labels readable, files
    present, given in time order without overlap."""
    if not observed:
        raise InputError("the catalog has no observed land-use epochs", source=source,
                         field="observed", hint="add observed: {1973-1977: path, ...}")
    out = []
    for label, path in observed.items():
        first, last = parse_label(label, source=source)
        if not Path(path).is_file():
            raise InputError("file not found (an epoch of the series is missing)",
                             source=path, field=f"observed.{label}")
        out.append(Epoch(str(label), first, last, Path(path)))
    for a, b in zip(out, out[1:]):
        if b.first <= a.last:
            raise InputError(f"epochs must be given in time order without overlap: "
                             f"{a.label} then {b.label}", source=source, field="observed",
                             value=[e.label for e in out])
    return out


def _land_use_spec(catalog: Any) -> Any:
    specs = [s for s in catalog.sources if s.role == "land_use"]
    if not specs:
        raise InputError("the series needs the catalog's land_use source (its crs and "
                         "class_map are applied to every epoch)", field="sources")
    return specs[0]


def epoch_land_use(territory: Territory, catalog: Any, epoch: Epoch) -> np.ndarray:
    """The epoch's land-use map on the territory grid, classes mapped as the territory's own
    (module doc); uint8 with 255 outside."""
    from tim.build import map_raster_classes
    from tim.fields import field_spec
    from tim.ingest.raster import read_raster, resample, resolves

    spec = _land_use_spec(catalog)
    source = read_raster(epoch.path, crs=spec.crs, assume_crs=territory.grid.crs)
    if not source.crs_assigned and not resolves(source.crs):
        message = (f"{epoch.path}: its CRS resolves to no EPSG code; it was used as written "
                   f"and brought onto {territory.grid.crs}; give 'crs' on the land_use source")
        warnings.warn(message, stacklevel=2)
    if isinstance(spec.class_map, dict):
        source = map_raster_classes(source, spec.class_map, territory.classes)
    nodata = field_spec("land_use__class").nodata
    values = resample(source, territory.grid, kind="categorical", dtype="uint8",
                      nodata=nodata)
    outside = territory.fields["land_use__class"] == nodata
    if catalog.sea is not None:
        values[(values == nodata) & ~outside] = catalog.sea.code
    values[outside] = nodata
    return values


def _dated(territory: Territory, name: str, column: str) -> Any:
    frame = territory.layers.get(name)
    if frame is None:
        raise InputError(f"the territory has no {name!r} layer", field=f"layers.{name}",
                         hint=f"add it to the catalog's layers (name: {name})")
    if column not in frame.columns:
        raise InputError(f"layer {name!r} has no {column!r} column (the year each feature "
                         f"appears)", source=layer_source(territory, name), field=column)
    return frame


def layer_source(territory: Territory, name: str) -> str | None:
    """The file a kept layer was read from (from the territory's history)."""
    for entry in territory.history:
        if entry.action == "ingest" and entry.detail.get("name") == name:
            return entry.detail.get("source")
    return None


def road_distances(territory: Territory, year: int) -> dict[str, np.ndarray]:
    """Distance (m, float32) to the roads of each class in :data:`ROAD_CLASSES` whose
    ``AppearYear`` is at most ``year``; NaN everywhere when a class has no road yet."""
    from rasterio.features import rasterize as burn
    from affine import Affine

    from engine.suitability import distance_to

    roads = _dated(territory, ROADS_LAYER, YEAR_COLUMN)
    if ROAD_CLASS_COLUMN not in roads.columns:
        raise InputError(f"layer {ROADS_LAYER!r} has no {ROAD_CLASS_COLUMN!r} column",
                         source=layer_source(territory, ROADS_LAYER), field=ROAD_CLASS_COLUMN)
    grid = territory.grid
    out = {}
    for kind in ROAD_CLASSES:
        chosen = roads[(roads[ROAD_CLASS_COLUMN] == kind) & (roads[YEAR_COLUMN] <= year)]
        mask = np.zeros(grid.shape, dtype=bool)
        if len(chosen):
            mask = burn(((g, 1) for g in chosen.geometry.values), out_shape=grid.shape,
                        transform=Affine(*grid.transform), fill=0, dtype="uint8",
                        all_touched=True).astype(bool)
        out[f"distance_{kind.lower()}_road"] = distance_to(mask, grid.cell_size)
    return out


def builtup_mask(territory: Territory, year: int) -> np.ndarray:
    """1 where a built-up area of ``AppearYear`` at most ``year`` covers the cell centre."""
    from tim.rasterize import rasterize

    frame = _dated(territory, BUILTUP_LAYER, YEAR_COLUMN)
    chosen = frame[frame[YEAR_COLUMN] <= year]
    return rasterize(chosen.geometry.values, np.ones(len(chosen)), territory.grid, "uint8")


def protected_mask(territory: Territory, year: int, *, warn: bool = True) -> np.ndarray:
    """1 where a protected area in force in ``year`` (designated by then, not ended) covers
    the cell centre. Designation year 0 ("not given") counts as in force, with a warning."""
    from tim.rasterize import rasterize

    frame = _dated(territory, PROTECTED_LAYER, YEAR_COLUMN)
    designated = frame[YEAR_COLUMN].to_numpy()
    unknown = designated == 0
    if unknown.any() and warn:
        message = (f"{layer_source(territory, PROTECTED_LAYER)}: {int(unknown.sum())} protected "
                   f"areas have no designation year ({YEAR_COLUMN} 0); they count as in force "
                   f"in every epoch")
        warnings.warn(message, stacklevel=2)
    ended = frame[END_COLUMN].to_numpy() <= year if END_COLUMN in frame.columns else False
    chosen = frame[(unknown | (designated <= year)) & ~ended]
    return rasterize(chosen.geometry.values, np.ones(len(chosen)), territory.grid, "uint8")


def write_series(territory: Territory, catalog: Any, out: str | Path, *,
                 catalog_path: str | Path | None = None) -> dict:
    """Write every epoch's land use and drivers as GeoTIFFs on the territory grid, with a
    ``series.json`` index; returns the index."""
    from tim.atomic import atomic_directory
    from tim.fields import field_spec
    from tim.store import write_raster

    series = epochs(dict(catalog.observed), source=catalog_path)
    nodata = field_spec("land_use__class").nodata
    has_roads = ROADS_LAYER in territory.layers
    has_builtup = BUILTUP_LAYER in territory.layers
    has_protected = PROTECTED_LAYER in territory.layers
    index: dict[str, Any] = {
        "format": SERIES_FORMAT, "version": 1, "territory": territory.name,
        "crs": territory.grid.crs, "shape": list(territory.grid.shape),
        "transform": list(territory.grid.transform),
        "classes": {int(c.code): c.name for c in territory.classes},
        "class_map": dict(_land_use_spec(catalog).class_map or {}),
        "sea_code": catalog.sea.code if catalog.sea is not None else None,
        "notes": ["an epoch stands for its middle year; roads and built-up areas are those "
                  "with AppearYear <= that year",
                  "facilities (a 2022 snapshot) are not drivers of any epoch"],
        "epochs": []}
    with atomic_directory(out) as tmp:
        for epoch in series:
            files: dict[str, str] = {}
            land_use = epoch_land_use(territory, catalog, epoch)
            name = f"land_use_{epoch.slug}.tif"
            write_raster(tmp / name, land_use, territory.grid, nodata)
            files["land_use"] = name
            counts = np.bincount(land_use.ravel(), minlength=256)
            if has_roads:
                for key, values in road_distances(territory, epoch.year).items():
                    name = f"{key}_{epoch.slug}.tif"
                    write_raster(tmp / name, values, territory.grid, float("nan"))
                    files[key] = name
            if has_builtup:
                name = f"builtup_{epoch.slug}.tif"
                write_raster(tmp / name, builtup_mask(territory, epoch.year), territory.grid,
                             None)
                files["builtup"] = name
            if has_protected:
                name = f"protected_{epoch.slug}.tif"
                write_raster(tmp / name, protected_mask(territory, epoch.year,
                                                        warn=epoch is series[0]),
                             territory.grid, None)
                files["protected"] = name
            index["epochs"].append({
                "label": epoch.label, "year": epoch.year, "first": epoch.first,
                "last": epoch.last, "source": str(epoch.path), "files": files,
                "cells": {int(c.code): int(counts[c.code]) for c in territory.classes}})
        if has_builtup and PLANNED_LAYER in territory.layers:
            index["planned"] = write_planned(territory, series[-1], tmp)
        (tmp / "series.json").write_text(json.dumps(index, indent=1, ensure_ascii=False),
                                         encoding="utf-8")
    return index


def write_planned(territory: Territory, last: Epoch, folder: Path) -> dict[str, str]:
    """``new_towns.tif`` (1 inside the planned new towns) and ``builtup_planned.tif`` (the
    last epoch's built-up areas plus the new towns): the built-up driver of a scenario that
    builds the new towns, after the last epoch."""
    from tim.rasterize import rasterize
    from tim.store import write_raster

    frame = territory.layers[PLANNED_LAYER]
    towns = rasterize(frame.geometry.values, np.ones(len(frame)), territory.grid, "uint8")
    planned = np.maximum(builtup_mask(territory, last.year), towns)
    write_raster(folder / "new_towns.tif", towns, territory.grid, None)
    write_raster(folder / "builtup_planned.tif", planned, territory.grid, None)
    return {"new_towns": "new_towns.tif", "builtup": "builtup_planned.tif",
            "after": last.label, "cells": int(towns.sum())}


def read_series(folder: str | Path) -> dict:
    """The ``series.json`` index of a folder written by :func:`write_series`."""
    path = Path(folder) / "series.json"
    if not path.is_file():
        raise InputError("not a land-use series (no series.json)", source=folder)
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("format") != SERIES_FORMAT:
        raise InputError("not a land-use series", source=path, field="format",
                         value=index.get("format"))
    return index


def maps_argument(index: dict, folder: str | Path, labels: Sequence[str]) -> list[str]:
    """``YEAR=path`` arguments for ``twin calibrate --map`` from chosen epoch labels."""
    by_label = {e["label"]: e for e in index["epochs"]}
    missing = [label for label in labels if label not in by_label]
    if missing:
        raise InputError("no such epoch in the series", source=folder, field="epochs",
                         value=missing[0], hint=f"epochs: {', '.join(by_label)}")
    return [f"{by_label[label]['year']}={Path(folder) / by_label[label]['files']['land_use']}"
            for label in labels]


#: Drivers of a series that change with the epoch: name on the command line -> file key.
DATED_DRIVERS = {"main_road": "distance_main_road", "secondary_road": "distance_secondary_road",
                 "builtup": "builtup"}


def calibration_inputs(folder: str | Path, labels: Sequence[str]
                       ) -> tuple[dict[int, str], list, dict[int, dict[str, str]]]:
    """What ``twin calibrate --series FOLDER --epochs A,B[,C]`` runs on: the epochs' maps
    (``{year: path}``), the dated drivers of the first epoch (distance to main and secondary
    roads, built-up areas as a category) and, for each later start epoch, the same drivers as
    they stood then (``drivers_at``), so that the validation period starts from the roads of
    its own start epoch."""
    from scenarios.calibration.data import DriverSpec

    index = read_series(folder)
    if len(labels) < 2:
        raise InputError("calibration needs two or three epochs of the series",
                         source=folder, field="--epochs", value=list(labels))
    maps = dict(tuple(a.split("=", 1)) for a in maps_argument(index, folder, labels))
    by_label = {e["label"]: e for e in index["epochs"]}
    chosen = [by_label[label] for label in labels]
    if [e["year"] for e in chosen] != sorted({e["year"] for e in chosen}):
        raise InputError("epochs must be given in time order", source=folder,
                         field="--epochs", value=list(labels))

    def paths(epoch: dict) -> dict[str, str]:
        return {name: str(Path(folder) / epoch["files"][key])
                for name, key in DATED_DRIVERS.items() if key in epoch["files"]}

    first = paths(chosen[0])
    drivers = [DriverSpec(name, path, categorical=name == "builtup")
               for name, path in first.items()]
    drivers_at = {int(e["year"]): paths(e) for e in chosen[1:-1]}
    return {int(y): p for y, p in maps.items()}, drivers, drivers_at


def monitor_series(tim: str | Path, folder: str | Path, out: str | Path, *,
                   min_area_ha: float = 1.0, langs: Sequence[str] = ("en", "zh_CN"),
                   command: list[str] | None = None) -> dict[str, Any]:
    """Monitoring on the real series (the commands of :mod:`scenarios.monitoring`):

    * ``out/assess``: ``twin assess`` over every epoch (each at its middle year);
    * ``out/changes/<a>_<b>``: ``twin changes`` between successive epochs, where the
      ecological line is the protected areas **in force at the earlier epoch** (the series'
      ``protected_<a>.tif``), not today's: a change counts against an area only if it was
      protected when the change began.

    Returns ``{"assess": path, "changes": [{before, after, path, patches, inside_ha}]}``."""
    from scenarios.calibration.data import read_on_grid
    from scenarios.monitoring.assess import run_assessment
    from scenarios.monitoring.changes import change_patches, write_changes
    from scenarios.monitoring.observed import control_lines, read_observed_map
    from tim.store import load_territory

    index = read_series(folder)
    folder, out = Path(folder), Path(out)
    listed = index["epochs"]
    observed = [f"{e['year']}={folder / e['files']['land_use']}" for e in listed]
    run_assessment(tim, observed, out / "assess", langs=langs, command=command)
    summary: dict[str, Any] = {"assess": str(out / "assess"), "changes": []}
    territory = load_territory(tim)
    maps = {e["label"]: read_observed_map(folder / e["files"]["land_use"], territory,
                                          f"observed land use {e['label']}") for e in listed}
    for a, b in zip(listed, listed[1:]):
        if "protected" in a["files"]:
            in_force, _, _ = read_on_grid(folder / a["files"]["protected"], territory.grid,
                                          f"protected areas {a['label']}")
            territory.set_field("control__ecological_red_line", (in_force == 1).astype("uint8"))
        lines = control_lines(territory)
        result = change_patches(territory, maps[a["label"]], maps[b["label"]], lines,
                                years=(a["year"], b["year"]), min_area_ha=min_area_ha)
        path = out / "changes" / f"{a['label']}_{b['label']}"
        inputs = {"tim": str(tim), "before": str(folder / a["files"]["land_use"]),
                  "after": str(folder / b["files"]["land_use"]),
                  "ecological_line": f"protected areas in force in {a['label']} "
                                     f"({a['files'].get('protected')})"}
        write_changes(result, territory, path, inputs=inputs, langs=langs, command=command)
        column = "red_line_ha" if "red_line_ha" in result.patches else None
        summary["changes"].append({
            "before": a["label"], "after": b["label"], "path": str(path),
            "patches": int(len(result.patches)),
            "inside_ha": float(result.patches[column].sum()) if column else None})
    return summary

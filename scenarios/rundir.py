"""The run directory: what ``twin run`` writes and ``twin compare`` / ``twin serve`` read.

Layout of ``RUN_DIR``::

    manifest.json                 scenario (and its sha256), seed, TIM, years, classes, grid,
                                  engines, calibration (folder, sha256 of its parameters.yaml
                                  and of its model file; null without), step reports, timings, command, git commit, versions
    land_use/<year>.tif           land-use class codes per recorded year (uint8, GeoTIFF)
    population/<year>.tif         residents per cell per recorded year (float32, GeoTIFF)
    surge/water_depth.tif         largest surge depth (m) over the event, if the scenario has one
    surge/max_speed.tif           largest flow speed (m/s; NaN for the bathtub, it has no flow)
    surge/arrival_time.tif        s from the event start until the hazard depth; NaN never
    surge/hazard_duration.tif     s spent at or above the hazard depth (0.3 m by default)
    surge/flood_level.tif         bathtub flooding level (m): the still-water level that floods
                                  the cell from the sea (NaN: never) - any level in one pass
    surge/depth_series.tif        depth (m) at the output times, one band each (float32; band
                                  description and tag ``time_s``); times also in the manifest
    surge/hydrograph.csv          time_s, level_m: the still-water level imposed on the sea
    surge/units.csv               per planning unit: flooded area, depths, people, buildings,
                                  damage, farmland and ecological land flooded
    indicators.csv                the territory: year, indicator, value, unit, status
                                  (green/yellow/red/info), target (the plan's), basis (plan /
                                  threshold / none), green_min/max, yellow_min/max (what it
                                  is judged against) and limit (max / min / none: which bound
                                  it is beyond) - the city rows of indicators_areas.csv
    indicators_areas.csv          the same per planning unit, district and the territory
                                  (level, area_id, area); n/a (empty) where an area has no cells
    warnings.csv                  early warnings: year, level, area, indicator, status,
                                  message, and value, unit, threshold, basis, limit
    buildings.csv                 per building: use, storeys, floor area, unit, depth at the
                                  footprint (``surge_depth_m``, cm; 0 below 1 cm), deepest cell,
                                  flooded, arrival and hazard duration (h), damage, if any
    projects.csv                  what developers built: year, cell, unit, developer, floor
                                  area, storeys, margin, kind (new / redevelopment)
    buildings_new.gpkg            those projects as buildings (footprint, storeys, height,
                                  the ids of the buildings a redevelopment replaces)
    heights/                      those buildings checked against the TIM's zoning heights (as
                                  the scenario overrides them) and the scenario's surfaces and
                                  view corridors: a ``twin heights`` folder
                                  (:func:`scenarios.planning.heights.check_new_buildings`), if any rule

Rasters share the TIM's grid and CRS, so QGIS overlays them on the TIM directly.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tim.atomic import atomic_directory
from tim.errors import StoreError
from tim.fields import field_spec
from tim.model import ClassTable, Grid
from tim.store import load_manifest, write_layer, write_raster
from tim.styles import field_categories

if TYPE_CHECKING:  # the runner imports the agents (Mesa): not needed to read a run
    from scenarios.runner import RunResult

FORMAT = "territory-twin/run"
FORMAT_VERSION = 1
#: Tables of a run result (attribute: file), written when the result has them.
TABLES = {"indicators": "indicators.csv", "area_indicators": "indicators_areas.csv",
          "warnings": "warnings.csv", "buildings": "buildings.csv", "projects": "projects.csv"}
PACKAGES = ("territory-twin", "numpy", "numba", "mesa", "scipy", "pydantic", "rasterio",
            "pyproj", "geopandas", "shapely")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _write_new_heights(result: RunResult, out: Path, command: list[str] | None) -> bool:
    """The height check of the run's new buildings into ``out`` (False: no rule to check)."""
    from scenarios.planning.heights import check_new_buildings, write_heights

    report = check_new_buildings(result.territory, result.scenario, result.new_buildings)
    if report is None:
        return False
    write_heights(report, result.territory, out, command=command)
    return True


def write_run(result: RunResult, directory: str | Path, *, tim: str | Path | None = None,
              command: list[str] | None = None) -> Path:
    """Write ``result`` to ``directory`` atomically (an existing run is replaced only once the
    new one is complete)."""
    directory = Path(directory)
    grid = result.territory.grid
    with atomic_directory(directory) as tmp:
        outputs: dict[str, Any] = {"land_use": {}, "population": {}}
        for kind, series, field in (("land_use", result.land_use, "land_use__class"),
                                    ("population", result.population, "population__count")):
            (tmp / kind).mkdir()
            for year, values in sorted(series.items()):
                path = f"{kind}/{year}.tif"
                write_raster(tmp / path, values, grid, field_spec(field).nodata,
                             categories=field_categories(field, result.territory.classes))
                outputs[kind][str(year)] = path
        if result.surge is not None:
            outputs["surge"] = _write_surge(result, tmp, grid)
            outputs["water_depth"] = {"file": outputs["surge"]["max_depth"],
                                      "year": result.surge.year}
        for key, name in TABLES.items():
            table = getattr(result, key)
            if table is not None:
                table.to_csv(tmp / name, index=False)
                outputs[key] = name
        if result.new_buildings is not None and len(result.new_buildings):
            write_layer(result.new_buildings, tmp / "buildings_new.gpkg", "buildings_new")
            outputs["new_buildings"] = "buildings_new.gpkg"
            if _write_new_heights(result, tmp / "heights", command):
                outputs["heights"] = "heights"
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "scenario": result.scenario.to_dict(),
            "scenario_sha256": result.scenario.sha256(),
            "seed": result.seed,
            "tim": {"path": str(Path(tim).resolve()) if tim else None,
                    "name": result.territory.name,
                    "vertical_datum": result.territory.vertical_datum},
            "years": result.years,
            "grid": grid.to_dict(),
            "classes": result.territory.classes.to_list(),
            "engines": result.engines,
            "calibration": result.calibration,
            "demand": result.demand,
            "outputs": outputs,
            "reports": [{"process": r.process, "year": r.year, **_jsonable(r.values)}
                        for r in result.reports],
            "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
            "command": command,
            "git_commit": git_commit(),
            "versions": software_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        write_run_project(tmp, manifest, Path(tim) if tim else None)
    return directory


def write_run_project(folder: Path, manifest: dict[str, Any], tim: Path | None) -> Path:
    """``run.qgz``: the run's new buildings, flood depth, land use of every recorded year (the
    last shown) and population, under the TIM's control lines and units when the TIM is known."""
    from tim.qgis import RasterLayer, VectorLayer, raster_range, tim_overlays, write_project

    outputs = manifest["outputs"]
    classes = ClassTable.from_list(manifest["classes"])
    layers: list[Any] = tim_overlays(tim)
    if "new_buildings" in outputs:
        layers.append(VectorLayer(folder / outputs["new_buildings"], "buildings_new",
                                  "buildings_new", "polygon"))
    if "surge" in outputs:
        depth = folder / outputs["surge"]["max_depth"]
        layers.append(RasterLayer(depth, "surge__water_depth", None, "depth",
                                  raster_range(depth)))
    years = sorted(outputs["land_use"], key=int, reverse=True)
    for year in years:
        layers.append(RasterLayer(folder / outputs["land_use"][year], f"land_use {year}",
                                  field_categories("land_use__class", classes),
                                  visible=year == years[0]))
    for year in sorted(outputs["population"], key=int, reverse=True)[:1]:
        path = folder / outputs["population"][year]
        layers.append(RasterLayer(path, f"population {year}", None, "population",
                                  raster_range(path), visible=False))
    grid = Grid.from_dict(manifest["grid"])
    return write_project(folder / "run.qgz", manifest["scenario"].get("name", folder.name),
                         grid.crs, grid.bounds, layers)


SURGE_RASTERS = {"max_depth": "water_depth", "max_speed": "max_speed",
                 "arrival": "arrival_time", "duration": "hazard_duration",
                 "flood_level": "flood_level"}


def _write_surge(result: RunResult, tmp: Path, grid: Grid) -> dict[str, Any]:
    surge = result.surge
    outcome = surge.outcome
    (tmp / "surge").mkdir()
    files: dict[str, Any] = {"year": surge.year, "engine": outcome.engine,
                             "peak_level_m": outcome.peak_level,
                             "hazard_depth_m": result.scenario.surge.hazard_depth}
    for attribute, name in SURGE_RASTERS.items():
        path = f"surge/{name}.tif"
        write_raster(tmp / path, np.asarray(getattr(outcome, attribute), dtype=np.float32),
                     grid, None)
        files[attribute] = path
    write_bands(tmp / "surge/depth_series.tif", outcome.depths, grid,
                [f"{t:g}" for t in outcome.times])
    files["depth_series"] = {"file": "surge/depth_series.tif",
                             "times_s": [float(t) for t in outcome.times]}
    if outcome.hydrograph is not None:
        pd.DataFrame({"time_s": outcome.hydrograph.times,
                      "level_m": outcome.hydrograph.values}).to_csv(
            tmp / "surge/hydrograph.csv", index=False)
        files["hydrograph"] = "surge/hydrograph.csv"
    surge.impacts.units.to_csv(tmp / "surge/units.csv", index=False)
    files["units"] = "surge/units.csv"
    if "order" in outcome.stats:  # the Godunov engine's order (1 or 2)
        files["order"] = outcome.stats["order"]
    if "breaches" in outcome.stats:  # what failed, when, and where (face segments, CRS)
        files["breaches"] = _jsonable({"breaches": outcome.stats["breaches"]})["breaches"]
    damage = surge.damage
    files["damage"] = {"assessed": False, "note": surge.damage_note} if damage is None else {
        "assessed": True, "country": damage.country, "currency": damage.currency,
        "curves": "JRC Asia (Huizinga et al. 2017)", "source": damage.source,
        "exposed_storeys": damage.exposed_storeys}
    return files


def write_bands(path: Path, bands: np.ndarray, grid: Grid, times: list[str]) -> None:
    """A multi-band float32 GeoTIFF, each band described by its time (s)."""
    write_raster(path, np.asarray(bands, dtype=np.float32), grid, None,
                 descriptions=[f"depth at t={t} s" for t in times],
                 tags=[{"time_s": t} for t in times])


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=lambda o: o.item() if hasattr(o, "item")
                                 else str(o)))


@dataclass(frozen=True)
class RunDirectory:
    """Read access to a run directory; arrays are read on demand."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        run = cls(Path(path))
        _ = run.manifest  # fail now, with the path, if it is not a run
        return run

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return load_manifest(self.path, fmt=FORMAT, version=FORMAT_VERSION,
                             what="run directory", remedy="create one with 'twin run'")

    @property
    def name(self) -> str:
        return self.manifest["scenario"]["name"]

    @property
    def title(self) -> str:
        return self.manifest["scenario"]["title"]

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.manifest["years"]]

    @property
    def grid(self) -> Grid:
        return Grid.from_dict(self.manifest["grid"])

    @property
    def classes(self) -> ClassTable:
        return ClassTable.from_list(self.manifest["classes"])

    def _raster(self, relative: str) -> np.ndarray:
        import rasterio

        try:
            with rasterio.open(self.path / relative) as src:
                return src.read(1)
        except rasterio.errors.RasterioIOError as exc:
            raise StoreError(f"{self.path / relative}: cannot read: {exc}") from exc

    def land_use(self, year: int) -> np.ndarray:
        return self._raster(self.manifest["outputs"]["land_use"][str(year)])

    def population(self, year: int) -> np.ndarray:
        return self._raster(self.manifest["outputs"]["population"][str(year)])

    @property
    def surge_year(self) -> int | None:
        water = self.manifest["outputs"].get("water_depth")
        return None if water is None else int(water["year"])

    def water_depth(self) -> np.ndarray | None:
        water = self.manifest["outputs"].get("water_depth")
        return None if water is None else self._raster(water["file"])

    @property
    def surge(self) -> dict[str, Any] | None:
        """The manifest's description of the surge outputs (files, engine, year), if any."""
        return self.manifest["outputs"].get("surge")

    def surge_raster(self, name: str) -> np.ndarray:
        """A per-cell surge output: ``max_depth``, ``max_speed``, ``arrival``, ``duration``
        or ``flood_level``."""
        if self.surge is None or name not in SURGE_RASTERS:
            raise StoreError(f"{self.path}: no surge output {name!r} (outputs: "
                             f"{', '.join(SURGE_RASTERS) if self.surge else 'none'})")
        return self._raster(self.surge[name])

    def depth_series(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(times in s, depths with one map per time) of the surge, if any."""
        if self.surge is None:
            return None
        import rasterio

        series = self.surge["depth_series"]
        with rasterio.open(self.path / series["file"]) as src:
            return np.array(series["times_s"]), src.read()

    def surge_units(self) -> pd.DataFrame | None:
        return None if self.surge is None else pd.read_csv(self.path / self.surge["units"])

    @cached_property
    def indicators(self) -> pd.DataFrame:
        return pd.read_csv(self.path / self.manifest["outputs"]["indicators"])

    def _table(self, output: str) -> pd.DataFrame | None:
        name = self.manifest["outputs"].get(output)
        return None if name is None else pd.read_csv(self.path / name)

    @cached_property
    def area_indicators(self) -> pd.DataFrame | None:
        return self._table("area_indicators")

    @cached_property
    def warnings(self) -> pd.DataFrame | None:
        return self._table("warnings")

    def buildings(self) -> pd.DataFrame | None:
        return self._table("buildings")

    def projects(self) -> pd.DataFrame | None:
        return self._table("projects")

    def new_buildings(self):
        """The buildings developers added (GeoDataFrame), or None."""
        import geopandas as gpd

        name = self.manifest["outputs"].get("new_buildings")
        return None if name is None else gpd.read_file(self.path / name, layer="buildings_new")

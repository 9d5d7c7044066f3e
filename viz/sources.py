"""What the dashboard reads besides run directories: ensembles, height checks, sightlines, tiles.

Each folder written by a ``twin`` command says what it is in its ``manifest.json``, so
``twin serve DIR...`` can take them in any order (:func:`folder_kind`):

==================  ==============================================  =========================
kind                manifest                                        written by
==================  ==============================================  =========================
``run``             ``format: territory-twin/run``                  ``twin run``
``ensemble``        ``format: territory-twin/ensemble``             ``twin ensemble``
``heights``         ``kind: height check``                          ``twin heights``
``sightlines``      ``kind: sightlines``                            ``twin sightline --out``
``calibration``     no manifest: ``parameters.yaml`` of format      ``twin calibrate``
                    ``territory-twin/landuse-parameters`` beside
                    ``metrics.json``
``monitoring``      ``format: territory-twin/assessment``,          ``twin assess``,
                    ``.../changes``, ``.../evaluation``             ``twin changes``,
                                                                    ``twin evaluate``
==================  ==============================================  =========================

The readers here are small frozen dataclasses that read on demand and cache what they read
(tables and rasters of a few MB at most); none of them knows about Dash.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from scenarios.calibration.parameters import PARAMETERS_FORMAT as CALIBRATION_FORMAT
from scenarios.monitoring.folders import FORMATS as MONITORING_FORMATS
from tim.errors import InputError, StoreError
from tim.model import Grid, crs_equal

if TYPE_CHECKING:  # the reader is imported when a report is opened
    from scenarios.calibration.report import CalibrationFolder

KINDS = ("run", "ensemble", "heights", "sightlines", "calibration", "monitoring")
_FORMATS = {"territory-twin/run": "run", "territory-twin/ensemble": "ensemble",
            **{name: "monitoring" for name in MONITORING_FORMATS}}
_KIND_NAMES = {"height check": "heights", "sightlines": "sightlines"}


def _manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.is_file():
        raise StoreError(f"{directory}: not a run directory (no manifest.json); give the "
                         "output of 'twin run', 'twin ensemble', 'twin heights', "
                         "'twin sightline --out', 'twin calibrate' or 'twin assess' / "
                         "'changes' / 'evaluate'")
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: corrupt manifest: {str(exc)[:160]}") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"{path}: corrupt manifest (not a JSON object)")
    return manifest


def is_calibration(directory: str | Path) -> bool:
    """A ``twin calibrate`` report: ``metrics.json`` beside a ``parameters.yaml`` that says its
    format (the report has no manifest of its own)."""
    directory = Path(directory)
    parameters = directory / "parameters.yaml"
    if not ((directory / "metrics.json").is_file() and parameters.is_file()):
        return False
    try:
        with parameters.open() as f:  # the format is the first key: no need to read it all
            head = "".join(line for _, line in zip(range(4), f))
    except OSError:
        return False
    return f"format: {CALIBRATION_FORMAT}" in head


def folder_kind(directory: str | Path) -> str:
    """``run``, ``ensemble``, ``heights``, ``sightlines`` (from the folder's manifest) or
    ``calibration`` (:func:`is_calibration`).

    Raises
    ------
    tim.errors.StoreError
        Not a folder written by one of those commands.
    """
    directory = Path(directory)
    if not (directory / "manifest.json").is_file() and is_calibration(directory):
        return "calibration"
    manifest = _manifest(directory)
    kind = _FORMATS.get(str(manifest.get("format"))) or _KIND_NAMES.get(
        str(manifest.get("kind")))
    if kind is None:
        raise StoreError(f"{directory / 'manifest.json'}: neither a run, an ensemble, a height "
                         f"check nor sightlines (format {manifest.get('format')!r}, kind "
                         f"{manifest.get('kind')!r})")
    return kind


def _expect(directory: Path, kind: str) -> dict[str, Any]:
    found = folder_kind(directory)
    if found != kind:
        raise StoreError(f"{directory}: is a {found} folder, not a {kind} folder")
    return _manifest(directory)


@dataclass(frozen=True)
class _OutputFolder:
    """An output folder of one ``KIND`` (its manifest says so), opened eagerly so that a wrong
    folder fails at once, with its path."""

    KIND: ClassVar[str]
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Self:
        folder = cls(Path(path))
        _ = folder.manifest
        return folder

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return _expect(self.path, self.KIND)


def read_raster(path: Path, crs: str | None = None, band: int = 1) -> tuple[np.ndarray, Grid]:
    """One band of a GeoTIFF and its grid (``crs`` names the CRS as the TIM spells it)."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            values = src.read(band)
            grid = Grid(crs or src.crs.to_string(), tuple(src.transform)[:6], values.shape)
    except rasterio.errors.RasterioIOError as exc:
        raise StoreError(f"{path}: cannot read: {exc}") from exc
    return values, grid


def same_grid(a: Grid, b: Grid) -> bool:
    """Same shape, transform (to a millimetre) and CRS."""
    return (a.shape == b.shape and np.allclose(a.transform, b.transform, atol=1e-3)
            and crs_equal(a.crs, b.crs))


# -- security levels of runs' products ---------------------------------------------------------
def products_level(manifest: dict[str, Any]) -> str:
    """The security level of what a run (``twin run``'s manifest) produced - its maps, new
    buildings and report: the most restrictive level of the fields and layers of the TIM it
    was made from (:func:`tim.tiles.security.run_level`; ``restricted`` if that TIM cannot be
    read). Read once per TIM manifest version."""
    path = (manifest.get("tim") or {}).get("path")
    try:
        stamp = (Path(path) / "manifest.json").stat().st_mtime_ns
    except (TypeError, OSError):
        return "restricted"
    return _products_level(str(path), stamp)


@functools.lru_cache(maxsize=32)
def _products_level(tim: str, stamp: int) -> str:
    from tim.tiles.security import run_level

    return run_level({"tim": {"path": tim}})


def products_cleared(*runs: Any) -> bool:
    """Whether the request's user may see the products of every one of ``runs`` (objects
    with a ``manifest``: run directories)."""
    from viz.server import current_clearance, visible

    clearance = current_clearance()
    return all(visible(products_level(run.manifest), clearance) for run in runs)


# -- ensembles -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ensemble(_OutputFolder):
    """An ensemble folder (``twin ensemble``): indicator intervals and development probability.

    See :mod:`scenarios.ensemble` for the layout.
    """

    KIND = "ensemble"

    @property
    def name(self) -> str:
        return str(self.manifest["scenario"]["name"])

    @property
    def title(self) -> str:
        return str(self.manifest["scenario"].get("title") or self.name)

    @property
    def scenario_sha256(self) -> str | None:
        return self.manifest.get("scenario_sha256")

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest["seeds"]]

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.manifest["years"]]

    @property
    def label(self) -> str:
        return f"{self.title} \u00b7 ensemble of {len(self.seeds)}"

    @cached_property
    def intervals(self) -> pd.DataFrame:
        """year, indicator, unit, mean, sd, p05, p50, p95, min, max."""
        path = self.path / "indicator_intervals.csv"
        try:
            return pd.read_csv(path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    @cached_property
    def _bands(self) -> dict[int, int]:
        import rasterio

        path = self.path / "probability_built.tif"
        try:
            with rasterio.open(path) as src:
                return {int(d): i + 1 for i, d in enumerate(src.descriptions) if d}
        except rasterio.errors.RasterioIOError as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    @property
    def probability_years(self) -> list[int]:
        """Years with a probability map (every simulated year after the first)."""
        return sorted(self._bands)

    def probability(self, year: int) -> np.ndarray | None:
        """Share of members (0..1) in which each cell became built-up by ``year``; None for a
        year without a band (the start year)."""
        band = self._bands.get(int(year))
        if band is None:
            return None
        return read_raster(self.path / "probability_built.tif", band=band)[0]

    @cached_property
    def grid(self) -> Grid:
        first = self.manifest["members"][0]["run_dir"]
        return Grid.from_dict(_manifest(self.path / first)["grid"])


# -- height checks and view corridors --------------------------------------------------------
def run_height_check(run: Any) -> HeightCheck | None:
    """The height check of a run's new buildings (``RUN_DIR/heights``, written by ``twin run``
    since runs check their buildings), or None for a run without one."""
    relative = run.manifest.get("outputs", {}).get("heights")
    if not relative:
        return None
    path = Path(run.path) / str(relative)
    stamps = []
    for name in ("manifest.json", "violations.csv"):
        try:
            st = (path / name).stat()
            stamps.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append(None)
    return _open_check(path, tuple(stamps))


@functools.lru_cache(maxsize=64)
def _open_check(path: Path, stamp: tuple[Any, ...]) -> HeightCheck:
    # Cached by folder and its files' stamps: the tab asks on every callback and the check
    # caches what it reads; a folder written again is read again.
    return HeightCheck.open(path)



@dataclass(frozen=True)
class Corridor:
    """A protected view corridor as ``twin heights`` drew it (``rules.geojson``, WGS 84).

    ``foreground`` is the wedge from the viewpoint to the landmark's width, ``background`` the
    area behind the landmark held under its silhouette (None without one); rings of
    (longitude, latitude). Heights are absolute, in the TIM's vertical datum.
    """

    name: str
    viewpoint: tuple[float, float, float]
    landmark: tuple[float, float, float]
    eye_z: float
    threshold_z: float
    landmark_top_z: float | None
    foreground: tuple[tuple[float, float], ...]
    background: tuple[tuple[float, float], ...] | None


@dataclass(frozen=True)
class HeightCheck(_OutputFolder):
    """A ``twin heights`` output folder (README: "Height limits, sightlines ...")."""

    KIND = "heights"

    @property
    def rules_name(self) -> str:
        return str(self.manifest.get("rules", {}).get("name", "height rules"))

    @property
    def crs(self) -> str:
        return str(self.manifest["crs"])

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest.get("counts", {}))

    @property
    def rule_table(self) -> dict[int, dict[str, Any]]:
        """Rule number (as in ``planning__height_limit_rule.tif``) -> name and kind."""
        return {int(r["number"]): r for r in self.manifest.get("rule_table", [])}

    def _table(self, name: str) -> pd.DataFrame:
        path = self.path / name
        try:
            return pd.read_csv(path, keep_default_na=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    @cached_property
    def violations(self) -> pd.DataFrame:
        """One row per building over its limit, largest excess first."""
        table = self._table("violations.csv")
        return table.sort_values("excess_m", ascending=False, ignore_index=True)

    @cached_property
    def units(self) -> pd.DataFrame:
        return self._table("units.csv")

    @cached_property
    def buildings(self) -> dict[str, dict[str, Any]]:
        """Per building id: ``violation``, ``excess_m``, ``max_height_m``, ``rule``."""
        path = self.path / str(self.manifest.get("styling", "buildings.json"))
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    @cached_property
    def rules_geojson(self) -> dict[str, Any]:
        path = self.path / str(self.manifest.get("map", "rules.geojson"))
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    def raster(self, field: str) -> tuple[np.ndarray, Grid]:
        """A limit raster by field name (``planning__max_building_height``, ...)."""
        relative = self.manifest.get("rasters", {}).get(field)
        if relative is None:
            raise StoreError(f"{self.path}: the height check has no raster {field!r}")
        return read_raster(self.path / relative, self.crs)

    @cached_property
    def grid(self) -> Grid:
        return self.raster("planning__max_building_height")[1]

    @cached_property
    def violator_points(self) -> pd.DataFrame:
        """Footprint centres (CRS) of the violators, from ``heights.gpkg`` (empty without it)."""
        import pyogrio

        path = self.path / str(self.manifest.get("geopackage", "heights.gpkg"))
        ids = set(self.violations["building_id"].astype(str))
        if not ids or not path.is_file():
            return pd.DataFrame(columns=["building_id", "x", "y"])
        try:
            frame = pyogrio.read_dataframe(path, layer="buildings",
                                           columns=["building_id", "violation"])
        except (OSError, RuntimeError, ValueError) as exc:  # pyogrio's errors: RuntimeError
            raise StoreError(f"{path}: cannot read: {exc}") from exc
        frame = frame[frame["building_id"].astype(str).isin(ids)]
        centre = frame.geometry.centroid
        return pd.DataFrame({"building_id": frame["building_id"].astype(str).to_numpy(),
                             "x": centre.x.to_numpy(), "y": centre.y.to_numpy()})

    @property
    def violation_count(self) -> int:
        """Buildings over their limit: the rows of ``violations.csv``, the one count the panel,
        the table and the 3D view all show."""
        return len(self.violations)

    def corridor_bounds(self, name: str, margin: float = 0.1
                        ) -> tuple[float, float, float, float] | None:
        """xmin, ymin, xmax, ymax (CRS) of corridor ``name``'s wedge and background, widened
        by ``margin`` of their size on each side (None: no such corridor)."""
        rings = [xy for _, rule, xy in self.outlines(("corridor_foreground",
                                                      "corridor_background")) if rule == name]
        if not rings:
            return None
        xy = np.vstack(rings)
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        pad = margin * max(x1 - x0, y1 - y0, 1.0)
        return x0 - pad, y0 - pad, x1 + pad, y1 + pad

    def outlines(self, kinds: tuple[str, ...]) -> list[tuple[str, str, np.ndarray]]:
        """Rings of the rules' polygons of the given kinds (``zone``, ``inclined_surface``,
        ``corridor_foreground``, ``corridor_background``) in the CRS: (kind, name, xy)."""
        from pyproj import Transformer

        to_crs = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        out = []
        for feature in self.rules_geojson.get("features", []):
            props, geometry = feature.get("properties", {}), feature["geometry"]
            if props.get("kind") not in kinds:
                continue
            polygons = (geometry["coordinates"] if geometry["type"] == "MultiPolygon"
                        else [geometry["coordinates"]])
            for polygon in polygons:
                ring = np.array([c[:2] for c in polygon[0]], dtype=float)
                x, y = to_crs.transform(ring[:, 0], ring[:, 1])
                out.append((str(props["kind"]), str(props.get("name") or props.get("zone")),
                            np.column_stack([x, y])))
        return out

    @cached_property
    def corridors(self) -> tuple[Corridor, ...]:
        """The protected view corridors of the rules, in the order the rules give them."""
        parts: dict[str, dict[str, Any]] = {}
        for feature in self.rules_geojson.get("features", []):
            props = feature.get("properties", {})
            kind = props.get("kind", "")
            if kind not in ("corridor_foreground", "corridor_background", "viewpoint",
                            "landmark"):
                continue
            entry = parts.setdefault(str(props.get("name")), {})
            coords = feature["geometry"]["coordinates"]
            if kind in ("viewpoint", "landmark"):
                entry[kind] = tuple(float(c) for c in coords)
            else:
                entry[kind] = tuple((float(x), float(y)) for x, y, *_ in coords[0])
                entry["props"] = props
        out = []
        for name, entry in parts.items():
            if not {"viewpoint", "landmark", "corridor_foreground"} <= set(entry):
                continue
            props = entry["props"]
            top = props.get("landmark_top_z")
            out.append(Corridor(
                name=name, viewpoint=_xyz(entry["viewpoint"]), landmark=_xyz(entry["landmark"]),
                eye_z=float(props["eye_z"]), threshold_z=float(props["threshold_z"]),
                landmark_top_z=None if top is None else float(top),
                foreground=entry["corridor_foreground"],
                background=entry.get("corridor_background")))
        return tuple(out)


def _xyz(coords: tuple[float, ...]) -> tuple[float, float, float]:
    return (coords[0], coords[1], coords[2] if len(coords) > 2 else math.nan)


# -- sightlines ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SightlineSet(_OutputFolder):
    """A ``twin sightline --out`` folder: lines from one viewpoint, their blocking buildings."""

    KIND = "sightlines"

    @classmethod
    def open(cls, path: str | Path) -> SightlineSet:
        lines = super().open(path)
        if lines.lines.empty:
            raise InputError("the sightlines folder holds no sightline", source=path,
                             field="sightlines.csv")
        return lines

    def _read(self, name: str) -> Any:
        path = self.path / name
        try:
            return pd.read_csv(path) if name.endswith(".csv") else json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc

    @cached_property
    def lines(self) -> pd.DataFrame:
        """One row per sightline: viewpoint and target (CRS), visible, clearance, blockers."""
        return self._read("sightlines.csv")

    @cached_property
    def blockers(self) -> pd.DataFrame:
        """One row per (sightline, blocker): building id (or ``terrain``), lower by, where."""
        return self._read("blockers.csv")

    @cached_property
    def buildings(self) -> dict[str, dict[str, Any]]:
        """Per blocking building id: ``blocks_view`` and the greatest ``lower_by_m``."""
        return self._read("buildings.json")

    @cached_property
    def geojson(self) -> dict[str, Any]:
        """Lines and blocker points in WGS 84 with heights in the TIM's vertical datum."""
        return self._read("sightlines.geojson")

    @property
    def crs(self) -> str:
        return str(self.manifest.get("crs"))

    @property
    def viewpoint(self) -> tuple[float, float, float]:
        row = self.lines.iloc[0]
        return float(row["viewpoint_x"]), float(row["viewpoint_y"]), float(row["viewpoint_z"])

    @property
    def visible(self) -> int:
        return int(self.lines["visible"].astype(bool).sum())

    def terrain_blocked(self) -> int:
        """Sightlines the ground itself blocks (the terrain walk, not a building)."""
        terrain = self.blockers[self.blockers["building_id"] == "terrain"]
        return int(terrain["sightline"].nunique())

    def matches(self, corridor: Corridor, corridor_crs: str, tolerance: float = 1.0) -> bool:
        """True when the lines run from ``corridor``'s viewpoint to targets on its landmark
        (within the wedge's width at the landmark); positions compared in the CRS."""
        from pyproj import Transformer

        if not crs_equal(self.crs, corridor_crs):
            return False
        to_crs = Transformer.from_crs("EPSG:4326", corridor_crs, always_xy=True)
        vx, vy = to_crs.transform(*corridor.viewpoint[:2])
        lx, ly = to_crs.transform(*corridor.landmark[:2])
        (ax, ay), (bx, by) = (to_crs.transform(*corridor.foreground[k]) for k in (1, 2))
        reach = 0.5 * math.hypot(bx - ax, by - ay) + tolerance
        x, y, _ = self.viewpoint
        if math.hypot(x - vx, y - vy) > tolerance:
            return False
        distance = np.hypot(self.lines["target_x"] - lx, self.lines["target_y"] - ly)
        return bool((distance <= reach).all())


# -- land-use calibration reports ------------------------------------------------------------
def run_calibration(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The calibrated land-use model a run was made from, as ``twin run`` recorded it in the
    run manifest (folder, sha256 of its parameters.yaml and model file, years, FoM); None for
    a run on the scenario's own parameters (or one written before runs recorded it)."""
    record = manifest.get("calibration")
    return record if isinstance(record, dict) and record.get("path") else None


def calibration_label(record: dict[str, Any]) -> str:
    """e.g. ``calibrated land-use model wuhan-calibration (2003-2005, FoM 0.119)``."""
    details = []
    years = record.get("years")
    if years:
        details.append("\u2013".join(str(y) for y in years))
    fom = record.get("figure_of_merit")
    if isinstance(fom, (int, float)) and math.isfinite(fom):
        details.append(f"FoM {fom:.3f}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"calibrated land-use model {Path(record['path']).name}{suffix}"


#: The null models a calibration is scored beside, as ``metrics.json`` names them.
MODELS = {"model": "calibrated model", "null_no_change": "no change",
          "null_random": "random allocation"}


@dataclass(frozen=True)
class Calibration:
    """A ``twin calibrate --out`` report (README: "Land-use model"; layout in
    :mod:`scenarios.calibration.report`) as the dashboard shows it: the folder read by the one
    reader, :func:`scenarios.calibration.report.read_calibration` (metrics beside the null
    models, parameters, the search's convergence, the drivers' contributions), with the grid
    and the maps on it."""

    folder: CalibrationFolder

    @classmethod
    def open(cls, path: str | Path) -> Calibration:
        from scenarios.calibration.report import read_calibration

        path = Path(path)
        if not is_calibration(path):
            raise StoreError(f"{path}: not a calibration report (no metrics.json "
                             f"and parameters.yaml of format {CALIBRATION_FORMAT}); create "
                             "one with 'twin calibrate ... --out DIR'")
        try:
            return cls(read_calibration(path))
        except InputError as exc:  # the reader's: a report's file, so a store error
            raise StoreError(str(exc)) from exc

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def metrics(self) -> dict[str, Any]:
        return self.folder.metrics

    @property
    def parameters(self) -> dict[str, Any]:
        return self.folder.parameters

    @property
    def convergence(self) -> pd.DataFrame:
        """evaluation, generation, figure_of_merit, best: every simulation of the search."""
        return self.folder.convergence

    @property
    def contributions(self) -> pd.DataFrame:
        """class, driver, permutation_share, impurity_share."""
        return self.folder.contributions

    @property
    def codes(self) -> list[int]:
        return self.folder.codes

    @property
    def periods(self) -> list[str]:
        """``calibration`` and, with a third map, ``validation``."""
        return self.folder.periods

    def years(self, period: str) -> tuple[int, int]:
        return self.folder.years(period)

    def overall(self, period: str, model: str = "model") -> dict[str, Any]:
        return self.folder.overall(period, model)

    def per_class(self, period: str, model: str = "model") -> dict[str, dict[str, Any]]:
        return self.folder.per_class(period, model)

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_dict(self.metrics["grid"])

    def map(self, period: str, kind: str) -> np.ndarray:
        """``maps/<period>_agreement.tif`` (0-4, 255 outside) or ``_simulated.tif`` (class
        codes, 255 outside), checked against the report's grid."""
        if period not in self.periods or kind not in ("agreement", "simulated"):
            raise StoreError(f"{self.path}: no map {period}_{kind}")
        return read_raster(self.path / "maps" / f"{period}_{kind}.tif", self.grid.crs)[0]

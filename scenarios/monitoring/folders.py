"""Readers of the monitoring folders (beside their writers): what a dashboard shows of
``twin assess``, ``twin changes`` and ``twin evaluate`` without computing anything.

Each folder says what it is in ``manifest.json`` (``format``); :class:`MonitoringSet` holds at
most one folder of each kind, on one grid, and the TIM they were made from (the assessment's,
else the changes', else the evaluation's ``inputs.tim``) for the one-map layers. Readers read
on demand and cache what they read; a file a folder lacks is a :class:`~tim.errors.StoreError`
naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from tim.errors import InputError, StoreError
from tim.model import ClassTable, Grid

#: The monitoring folders' formats (their manifests' ``format``), by kind.
FORMATS = {"territory-twin/assessment": "assessment", "territory-twin/changes": "changes",
           "territory-twin/evaluation": "evaluation"}
#: Bits of ``maps/control_lines.tif`` (written by ``twin assess``), by line.
LINE_BITS = {"ecological_red_line": 1, "permanent_basic_farmland": 2,
             "urban_development_boundary": 4, "water_line": 8}
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class _Folder:
    KIND: ClassVar[str]
    path: Path

    @classmethod
    def open(cls, path: str | Path) -> Any:
        folder = cls(Path(path))
        kind = FORMATS.get(str(folder.manifest.get("format")))
        if kind != cls.KIND:
            raise StoreError(f"{folder.path / 'manifest.json'}: not a {cls.KIND} folder "
                             f"(format {folder.manifest.get('format')!r})")
        return folder

    @cached_property
    def manifest(self) -> dict[str, Any]:
        path = self.path / "manifest.json"
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: cannot read: {str(exc)[:160]}") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"{path}: corrupt manifest (not a JSON object)")
        return manifest

    @cached_property
    def grid(self) -> Grid:
        return Grid.from_dict(self.manifest["grid"])

    @property
    def territory(self) -> str:
        return str(self.manifest.get("territory") or "territory")

    @property
    def tim(self) -> str | None:
        return (self.manifest.get("inputs") or {}).get("tim")

    @property
    def classes(self) -> ClassTable:
        return ClassTable.from_list(self.manifest["classes"])

    def table(self, name: str) -> pd.DataFrame:
        return self._tables(name)

    def _tables(self, name: str) -> pd.DataFrame:
        cache = self.__dict__.setdefault("_table_cache", {})
        if name not in cache:
            path = self.path / name
            try:
                cache[name] = pd.read_csv(path)
            except pd.errors.EmptyDataError:
                cache[name] = pd.DataFrame()
            except (OSError, ValueError) as exc:
                raise StoreError(f"{path}: cannot read: {exc}") from exc
        return cache[name]

    def raster(self, relative: str) -> np.ndarray:
        import rasterio

        path = self.path / relative
        try:
            with rasterio.open(path) as src:
                values = src.read(1)
        except rasterio.errors.RasterioIOError as exc:
            raise StoreError(f"{path}: cannot read: {exc}") from exc
        if values.shape != self.grid.shape:
            raise StoreError(f"{path}: shape {values.shape}, not the folder's grid "
                             f"{self.grid.shape}")
        return values

    def cached_raster(self, relative: str) -> np.ndarray:
        """:meth:`raster`, kept: a dashboard asks for the same few maps on every callback."""
        cache = self.__dict__.setdefault("_raster_cache", {})
        if relative not in cache:
            cache[relative] = self.raster(relative)
        return cache[relative]

    @property
    def derived_lines(self) -> dict[str, str]:
        """Lines that are derived stand-ins, and the rule that made each."""
        return {line: str(entry.get("rule", "")) for line, entry in
                (self.manifest.get("control_lines") or {}).items()
                if isinstance(entry, dict) and entry.get("source") == "derived"}

    @property
    def note(self) -> str | None:
        """What the inputs are, when the command was told (e.g. the demo's simulated years)."""
        note = (self.manifest.get("inputs") or {}).get("note")
        return str(note) if note else None


@dataclass(frozen=True)
class AssessmentFolder(_Folder):
    """``twin assess``: indicators per year and level, warnings, progress, yearly maps."""

    KIND = "assessment"

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.manifest["years"]]

    @property
    def levels(self) -> list[str]:
        return list(self.manifest.get("levels", ["city"]))

    @cached_property
    def indicators(self) -> pd.DataFrame:
        """Every level's rows (``indicators_areas.csv``), or the city rows alone without units;
        city rows carry ``level`` ``city`` and ``area_id`` ``""``."""
        if "indicators_areas.csv" in self.manifest.get("files", {}):
            table = self.table("indicators_areas.csv").copy()
        else:
            table = self.table("indicators.csv").assign(level="city", area_id="",
                                                        area=self.territory)
        table["area_id"] = area_ids(table["area_id"])
        table.loc[table["level"] == "city", "area_id"] = ""
        return table

    @property
    def warnings(self) -> pd.DataFrame:
        return self.table("warnings.csv")

    @property
    def progress(self) -> pd.DataFrame:
        return self.table("progress.csv")

    def land_use(self, year: int) -> np.ndarray:
        if int(year) not in self.years:
            raise StoreError(f"{self.path}: no observed map of {year}")
        return self.cached_raster(f"maps/land_use_{int(year)}.tif")

    @cached_property
    def lines(self) -> dict[str, np.ndarray]:
        """The control lines the assessment checked (TIM or derived), from
        ``maps/control_lines.tif``; empty for a folder written without it."""
        if "maps/control_lines.tif" not in self.manifest.get("files", {}):
            return {}
        bits = self.raster("maps/control_lines.tif")
        return {line: (bits & bit) > 0 for line, bit in LINE_BITS.items()
                if line in (self.manifest.get("control_lines") or {})}


@dataclass(frozen=True)
class ChangesFolder(_Folder):
    """``twin changes``: the change patches and their severities."""

    KIND = "changes"

    @property
    def before(self) -> int:
        return int(self.manifest["before"])

    @property
    def after(self) -> int:
        return int(self.manifest["after"])

    @property
    def patches(self) -> pd.DataFrame:
        return self.table("patches.csv")

    @property
    def line_summary(self) -> pd.DataFrame:
        return self.table("line_summary.csv")

    @cached_property
    def severity_rank(self) -> np.ndarray:
        """Per cell the rank of its patch's severity (4 critical ... 1 low, 0 no patch)."""
        labels = self.raster("patches.tif").astype(np.int64)
        patches = self.patches
        lut = np.zeros(int(max(labels.max(), patches["patch_id"].max() if len(patches) else 0))
                       + 1, np.uint8)
        if len(patches):
            lut[patches["patch_id"].to_numpy(int)] = patches["severity"].map(
                SEVERITY_RANK).fillna(0).to_numpy(np.uint8)
        return lut[labels]


@dataclass(frozen=True)
class EvaluationFolder(_Folder):
    """``twin evaluate``: the 双评价 grades and their areas per unit."""

    KIND = "evaluation"

    @property
    def evaluations(self) -> list[str]:
        return list(self.manifest.get("evaluations", {}))

    def grade(self, key: str) -> np.ndarray:
        if key not in self.evaluations:
            raise StoreError(f"{self.path}: no evaluation {key!r}")
        return self.cached_raster(f"grades/evaluation__{key}.tif")

    @property
    def grade_areas(self) -> pd.DataFrame:
        return self.table("grade_areas.csv")


def area_ids(column: pd.Series) -> pd.Series:
    """Area ids as text, as the one map names units (``12``, not ``12.0`` from a column that
    pandas read as float because the territory's row has none).

    Examples
    --------
    >>> area_ids(pd.Series([None, 12.0, "D1"])).tolist()
    ['', '12', 'D1']
    """
    return column.fillna("").astype(str).str.replace(r"\.0$", "", regex=True)


READERS = {"assessment": AssessmentFolder, "changes": ChangesFolder,
           "evaluation": EvaluationFolder}


def folder_format(path: str | Path) -> str | None:
    """The monitoring kind of a folder (``assessment``, ``changes``, ``evaluation``) from its
    manifest, or None for any other folder."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return None
    return FORMATS.get(str(manifest.get("format"))) if isinstance(manifest, dict) else None


@dataclass(frozen=True)
class MonitoringSet:
    """An assessment, change patches and a 双评价 evaluation of one territory (each optional,
    at least one), on one grid."""

    assessment: AssessmentFolder | None = None
    changes: ChangesFolder | None = None
    evaluation: EvaluationFolder | None = None

    @classmethod
    def open(cls, paths: Sequence[str | Path]) -> MonitoringSet | None:
        """The folders at ``paths`` (None for none).

        Raises
        ------
        tim.errors.StoreError
            A folder that is not a monitoring folder.
        tim.errors.InputError
            Two folders of one kind, or folders on different grids.
        """
        found: dict[str, Any] = {}
        for path in paths:
            kind = folder_format(path)
            if kind is None:
                raise StoreError(f"{path}: not a monitoring folder (no manifest.json of format "
                                 f"{', '.join(FORMATS)})")
            if kind in found:
                raise InputError(f"serve one {kind} folder at a time ({found[kind].path} and "
                                 f"{path})", source=path, field="--monitoring")
            found[kind] = READERS[kind].open(path)
        if not found:
            return None
        folders = list(found.values())
        for folder in folders[1:]:
            if not _same_grid(folder.grid, folders[0].grid):
                raise InputError(f"{folder.path} is on another grid than {folders[0].path}",
                                 source=folder.path, field="grid",
                                 hint="serve monitoring folders made from the same TIM")
        return cls(**found)

    @property
    def folders(self) -> list[Any]:
        return [f for f in (self.assessment, self.changes, self.evaluation) if f is not None]

    @property
    def first(self) -> Any:
        return self.folders[0]

    @property
    def grid(self) -> Grid:
        return self.first.grid

    @property
    def territory(self) -> str:
        return self.first.territory

    @property
    def tim(self) -> str | None:
        return next((f.tim for f in self.folders if f.tim), None)

    @property
    def classes(self) -> ClassTable:
        from tim.classes import DEFAULT_CLASSES

        return next((f.classes for f in self.folders if "classes" in f.manifest),
                    DEFAULT_CLASSES)

    @property
    def derived_lines(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for folder in self.folders:
            out.update(folder.derived_lines)
        return out


def _same_grid(a: Grid, b: Grid) -> bool:
    from tim.model import crs_equal

    return (a.shape == b.shape and np.allclose(a.transform, b.transform, atol=1e-3)
            and crs_equal(a.crs, b.crs))

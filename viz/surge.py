"""A run's storm surge as the dashboard shows it: the flood at a time of the event, at its
maximum or at any still-water level, on the land and at every building.

Everything is read from the run directory (:mod:`scenarios.rundir`: ``surge/`` and
``buildings.csv``) and, for what the run does not hold, from the TIM it was made from: the
ground (``terrain__elevation``: depth at a level = level - ground where the flooding level is
below it) and the building footprints (depth at a building = the area-weighted mean depth over
the cells its footprint covers, flooded from :data:`scenarios.impacts.FLOODED_DEPTH` on - the
rule of the run's own impacts, so at the maximum the counts are those of ``buildings.csv``).

What is shown is a :class:`Shown`: ``time`` (one band of ``depth_series.tif``), ``max`` (the
largest depth over the event) or ``level`` (a still water over the flooding-level map, no
recomputation). None of this knows about Dash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scenarios.impacts import FLOODED_DEPTH
from tim.errors import StoreError

if TYPE_CHECKING:
    from scenarios.impacts import BuildingExposure
    from scenarios.rundir import RunDirectory

MODES = ("time", "max", "level")
#: Still-water levels a slider offers: from the lowest sea level of the event (or 0) to this
#: much above its peak (m), in steps of LEVEL_STEP.
LEVEL_HEADROOM = 2.0
LEVEL_STEP = 0.1
#: Percentile of the flooded land's depths at the top of the depth colours.
DEPTH_PERCENTILE = 98


@dataclass(frozen=True)
class Shown:
    """What the flood views show: ``mode`` ``time`` (output ``band``), ``max`` or ``level``
    (a still-water ``level`` in m)."""

    mode: str = "time"
    band: int = 0
    level: float = 0.0

    @property
    def key(self) -> str:
        """Part of a drape image's URL: ``time/<band>``, ``max/0`` or ``level/<cm>``."""
        if self.mode == "time":
            return f"time/{self.band}"
        if self.mode == "level":
            return f"level/{level_cm(self.level)}"
        return "max/0"


def level_cm(level: float) -> int:
    """A still-water level in whole centimetres (what a URL carries).

    Examples
    --------
    >>> level_cm(3.5), level_cm(-0.3), level_cm(4.199999)
    (350, -30, 420)
    """
    return int(round(float(level) * 100.0))


@dataclass(frozen=True)
class Ground:
    """What the flood views need from the TIM: its ground and its buildings' footprints."""

    elevation: np.ndarray
    exposure: BuildingExposure | None

    @classmethod
    def load(cls, tim_dir: str | Path) -> Ground:
        """Read the TIM (fields and layers; its hashes are checked).

        Raises
        ------
        tim.errors.StoreError
            No TIM there, or a corrupt one.
        """
        from scenarios.impacts import BuildingExposure
        from tim.store import load_territory

        territory = load_territory(tim_dir)
        return cls(territory.get("terrain__elevation").astype(np.float64),
                   BuildingExposure.of(territory))


@dataclass(frozen=True)
class Summary:
    """The flood on the land at one :class:`Shown`: flooded cells (at least
    :data:`FLOODED_DEPTH` deep), their area, the deepest land cell, the flooded buildings (None
    when the TIM's footprints are unknown) and the sea's still-water level."""

    shown: Shown
    flooded_cells: int
    flooded_ha: float
    max_depth: float
    flooded_buildings: int | None
    sea_level: float
    time_s: float | None


def _(message: str) -> str:
    """Marks a message for the catalogue (translated where shown)."""
    return message


#: The flow engines' descriptions, as ``engine.flood`` records them in a run's manifest (message
#: ids, so that the page says them in its language), by the scenario's ``surge.engine`` and its
#: variant (inertial: ``solver.advection``; godunov: ``solver.order``).
ENGINE_SENTENCES = {
    ("bathtub", None): _("bathtub (4-connected from the sea, priority-flood flooding levels; "
                         "static)"),
    ("inertial", False): _("local inertial 2-D shallow water (Bates et al. 2010, q-centred "
                           "form of de Almeida et al. 2012)"),
    ("inertial", True): _("local inertial + advection 2-D shallow water (Bates et al. 2010, "
                          "q-centred form of de Almeida et al. 2012, with the upwind momentum "
                          "advection of Stelling & Duinmeijer 2003)"),
    ("godunov", 1): _("Godunov finite-volume 2-D shallow water (HLL fluxes, hydrostatic "
                      "reconstruction of Audusse et al. 2004, first order)"),
    ("godunov", 2): _("Godunov finite-volume 2-D shallow water (HLL fluxes, hydrostatic "
                      "reconstruction of Audusse et al. 2004, second order: MUSCL with the MC "
                      "limiter, Heun's SSP-RK2)"),
}
#: The engines' short names (the scenarios table; message ids).
ENGINE_NAMES = {"bathtub": _("bathtub"), "inertial": _("local inertial"),
                "godunov": _("Godunov")}


def engine_key(manifest: dict[str, Any]) -> tuple[str, Any] | None:
    """The engine of a run's surge by its scenario's fields (``("inertial", True)``), or None
    when they are not there or describe no engine this dashboard knows.

    Examples
    --------
    >>> engine_key({"scenario": {"surge": {"engine": "godunov", "solver": {"order": 2}}}})
    ('godunov', 2)
    >>> engine_key({"scenario": {"surge": {"engine": "inertial", "solver": {}}}}) is None
    True
    """
    section = ((manifest.get("scenario") or {}).get("surge")) or {}
    kind = section.get("engine")
    solver = section.get("solver") or {}
    variant = {"bathtub": lambda: None, "inertial": lambda: solver.get("advection"),
               "godunov": lambda: solver.get("order")}.get(kind, lambda: "?")()
    key = (kind, variant)
    return key if key in ENGINE_SENTENCES else None


@dataclass(frozen=True)
class SurgeRun:
    """One run's surge (``manifest.outputs.surge``) and the views of it."""

    run: RunDirectory

    @classmethod
    def of(cls, run: RunDirectory) -> SurgeRun | None:
        return None if run.surge is None else cls(run)

    @property
    def meta(self) -> dict[str, Any]:
        return self.run.surge or {}

    @property
    def year(self) -> int:
        return int(self.meta["year"])

    @property
    def engine(self) -> str:
        """The engine as the run names it (e.g. ``local inertial 2-D shallow water (...)``)."""
        return str(self.meta.get("engine") or (self.run.manifest.get("engines") or {}).get(
            "surge", "unknown engine"))

    @property
    def engine_short(self) -> str:
        """``bathtub`` or ``local inertial`` (the engine's name before its references).

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> SurgeRun(SimpleNamespace(surge={"engine": "bathtub (4-connected ...)"})).engine_short
        'bathtub'
        """
        name = self.engine.split("(")[0].strip()
        return "local inertial" if name.startswith("local inertial") else name

    @cached_property
    def _engine_said(self) -> tuple[str, Any] | None:
        """:func:`engine_key` of the run when it names the engine the run recorded, else None."""
        key = engine_key(self.run.manifest)
        return key if key is not None and ENGINE_SENTENCES[key] == self.engine else None

    def engine_words(self, t: Any) -> tuple[str, bool]:
        """The engine's description in ``t``'s language and whether it is (False: the run's
        own English words, when the manifest's fields do not describe the engine it recorded).
        """
        key = self._engine_said
        return (self.engine, False) if key is None else (t.gettext(ENGINE_SENTENCES[key]), True)

    def engine_name(self, t: Any) -> str:
        """The engine's short name (``bathtub``, ``local inertial``, ``Godunov``) in ``t``'s
        language; the run's own short name when its fields do not say the engine."""
        key = self._engine_said
        return self.engine_short if key is None else t.gettext(ENGINE_NAMES[key[0]])

    @property
    def is_bathtub(self) -> bool:
        return self.engine.startswith("bathtub")

    @property
    def peak_level(self) -> float:
        """The event's highest still-water level (m), as the run recorded it."""
        return float(self.meta["peak_level_m"])

    @property
    def hazard_depth(self) -> float:
        return float(self.meta.get("hazard_depth_m", 0.3))

    @property
    def times(self) -> np.ndarray:
        """Output times (s from the event start) of ``depth_series.tif``."""
        return np.asarray(self.meta["depth_series"]["times_s"], dtype=float)

    @property
    def animated(self) -> bool:
        return len(self.times) > 1

    @property
    def defences(self) -> list[dict[str, Any]]:
        return list((self.run.manifest["scenario"].get("surge") or {}).get("defences") or [])

    @property
    def breaches(self) -> list[dict[str, Any]]:
        """What happened to each breach of the event (name, failed, failed_at_h or note,
        crest_m, segments in the grid's CRS); none for a run written before breaches."""
        return list(self.meta.get("breaches") or [])

    @cached_property
    def depths(self) -> np.ndarray:
        """Depth (m) at every output time, shape (times, rows, cols)."""
        series = self.run.depth_series()
        if series is None:
            raise StoreError(f"{self.run.path}: the run has no depth series")
        return series[1]

    @cached_property
    def max_depth(self) -> np.ndarray:
        return self.run.surge_raster("max_depth")

    @cached_property
    def flood_level(self) -> np.ndarray:
        """Flooding level (m) per cell, +inf where no level floods it."""
        levels = self.run.surge_raster("flood_level").astype(np.float64)
        return np.where(np.isnan(levels), np.inf, levels)

    @cached_property
    def sea(self) -> np.ndarray:
        """Sea cells of the surge year's land use (the flood of the land leaves them out)."""
        return self.run.classes.group_mask(self.run.land_use(self.year), "sea")

    @cached_property
    def hydrograph(self) -> pd.DataFrame | None:
        """``time_s``, ``level_m``: the still-water level imposed on the sea; None for a
        constant level."""
        relative = self.meta.get("hydrograph")
        if relative is None:
            return None
        try:
            return pd.read_csv(self.run.path / relative)
        except OSError as exc:
            raise StoreError(f"{self.run.path / relative}: cannot read: {exc}") from exc

    @cached_property
    def buildings(self) -> pd.DataFrame | None:
        return self.run.buildings()

    def raster(self, name: str) -> np.ndarray:
        """``arrival``, ``duration`` (s) or ``max_speed`` (m/s); NaN where there is none."""
        return self.run.surge_raster(name)

    def sea_level(self, time_s: float) -> float:
        """The still-water level at ``time_s`` (the peak level for a constant level)."""
        table = self.hydrograph
        if table is None:
            return self.peak_level
        return float(np.interp(time_s, table["time_s"], table["level_m"]))

    def band(self, value: Any) -> int:
        """A band index from a slider value (clipped to the series)."""
        try:
            band = int(value)
        except (TypeError, ValueError):
            band = 0
        return min(max(band, 0), len(self.times) - 1)

    def level_range(self) -> tuple[float, float]:
        """The still-water levels a slider offers (m): the lowest sea level of the event, or 0,
        to :data:`LEVEL_HEADROOM` above its peak, on :data:`LEVEL_STEP`."""
        low = 0.0 if self.hydrograph is None else min(0.0, float(self.hydrograph["level_m"].min()))
        low = math.floor(low / LEVEL_STEP) * LEVEL_STEP
        high = math.ceil((self.peak_level + LEVEL_HEADROOM) / LEVEL_STEP) * LEVEL_STEP
        return round(low, 2), round(high, 2)

    def shown(self, mode: Any, band: Any, level: Any) -> Shown:
        """A valid :class:`Shown` from the controls' values (``time`` without a series is
        ``max``; a level off the slider's range is clipped)."""
        mode = mode if mode in MODES else "time"
        if mode == "time" and not self.animated:
            mode = "max"
        low, high = self.level_range()
        try:
            value = float(level)
        except (TypeError, ValueError):
            value = self.peak_level
        value = min(max(value, low), high) if math.isfinite(value) else self.peak_level
        return Shown(mode, self.band(band) if mode == "time" else 0,
                     round(value, 2) if mode == "level" else 0.0)

    # -- depths -----------------------------------------------------------------------------
    def depth(self, shown: Shown, ground: Ground | None) -> np.ndarray | None:
        """Depth (m) on every cell; None for a level without the TIM's ground."""
        if shown.mode == "time":
            return self.depths[shown.band]
        if shown.mode == "max":
            return self.max_depth
        if ground is None:
            return None
        from engine.kernels.bathtub import depth_at_level

        return depth_at_level(ground.elevation, self.flood_level, shown.level)

    def land_depth(self, shown: Shown, ground: Ground | None) -> np.ndarray | None:
        """:meth:`depth` with the sea left out (NaN): the flood of the land."""
        depth = self.depth(shown, ground)
        return None if depth is None else np.where(self.sea, np.nan, depth)

    def building_depths(self, shown: Shown, ground: Ground | None) -> pd.Series | None:
        """Depth (m, to the cm) at each flooded building, indexed by building id.

        At the maximum the run's own ``buildings.csv``; otherwise the footprint rule of the
        run's impacts applied to the depth shown (needs the TIM's footprints).
        """
        if shown.mode == "max" and self.buildings is not None \
                and "surge_depth_m" in self.buildings:
            table = self.buildings
            depth = table["surge_depth_m"].to_numpy(dtype=float)
            wet = np.nan_to_num(depth) > 0
            return pd.Series(depth[wet], index=table["building_id"].astype(str)[wet])
        if ground is None or ground.exposure is None:
            return None
        depth = self.depth(shown, ground)
        if depth is None:
            return None
        mean = ground.exposure.mean(depth)
        wet = np.nan_to_num(mean) >= FLOODED_DEPTH
        return pd.Series(np.round(mean[wet], 2), index=ground.exposure.building_id[wet])

    def summary(self, shown: Shown, ground: Ground | None, cell_ha: float) -> Summary:
        depth = self.land_depth(shown, ground)
        wet = np.zeros(self.sea.shape, bool) if depth is None else \
            np.nan_to_num(depth) >= FLOODED_DEPTH
        deepest = float(np.nanmax(np.where(wet, depth, np.nan))) if wet.any() else 0.0
        buildings = self.building_depths(shown, ground)
        time_s = float(self.times[shown.band]) if shown.mode == "time" else None
        level = shown.level if shown.mode == "level" else \
            self.sea_level(time_s) if time_s is not None else self.peak_level
        return Summary(shown, int(wet.sum()), float(wet.sum()) * cell_ha, deepest,
                       None if buildings is None else len(buildings), level, time_s)

    @cached_property
    def flooded_cells_over_time(self) -> np.ndarray:
        """Land cells flooded at least :data:`FLOODED_DEPTH` deep at each output time."""
        land = ~self.sea
        return np.array([int((land & (np.nan_to_num(d) >= FLOODED_DEPTH)).sum())
                         for d in self.depths])

    def depth_scale(self, shown: Shown, ground: Ground | None) -> float:
        """Top of the depth colour scale (m): the 98th percentile of the flooded land's
        largest depth over the event, so the colours of every frame compare and a few deep
        channels do not wash out the rest (deeper cells take the darkest colour); for levels,
        the same at the top of the slider."""
        if shown.mode == "level":
            top = self.land_depth(Shown("level", 0, self.level_range()[1]), ground)
        else:
            top = np.where(self.sea, np.nan, self.max_depth)
        wet = None if top is None else top[np.nan_to_num(top) >= FLOODED_DEPTH]
        if wet is None or not wet.size:
            return 1.0
        return max(float(np.percentile(wet, DEPTH_PERCENTILE)), 0.1)

    def building_scale(self) -> float:
        """Top of the buildings' depth colours (m): the deepest building of the event."""
        table = self.buildings
        if table is None or "surge_depth_m" not in table:
            return 1.0
        depth = table["surge_depth_m"].to_numpy(dtype=float)
        return max(float(np.nanmax(depth)) if np.isfinite(depth).any() else 0.0, 0.1)

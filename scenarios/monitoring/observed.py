"""Observed inputs of monitoring: dated land-use maps (and population) on the TIM's grid, and the
control lines they are checked against - the TIM's own, or documented stand-ins derived from an
observed map where the data have none (labelled ``derived`` wherever they are reported).

Rules (each broken one is an :class:`~tim.errors.InputError` naming the file and the value):

- every observed raster must be on the TIM's grid (same CRS, transform and shape);
- land-use codes must be in the TIM's class table (nodata becomes 255);
- years are given in increasing order, each once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.kernels.labelling import label, patch_stats
from tim.errors import InputError
from tim.model import Territory

NODATA = 255
#: The lines monitoring checks, their TIM fields and whether they are hard (no conversion).
LINES = {"ecological_red_line": ("control__ecological_red_line", True),
         "permanent_basic_farmland": ("control__permanent_basic_farmland", True),
         "urban_development_boundary": ("control__urban_development_boundary", False),
         "water_line": ("control__water_line", False)}
LINE_NAMES = {"ecological_red_line": "Ecological protection red line 生态保护红线",
              "permanent_basic_farmland": "Permanent basic farmland 永久基本农田",
              "urban_development_boundary": "Urban development boundary 城镇开发边界",
              "water_line": "Water line 蓝线 (water / flood-risk)"}


def parse_year_paths(items: Sequence[str], option: str = "--observed") -> dict[int, str]:
    """``YEAR=PATH`` arguments as an ordered mapping; years must increase and not repeat.

    Examples
    --------
    >>> parse_year_paths(["2003=a.tif", "2005=b.tif"])
    {2003: 'a.tif', 2005: 'b.tif'}
    """
    out: dict[int, str] = {}
    previous = None
    for text in items:
        year, sep, path = str(text).partition("=")
        if not sep or not year.strip().isdigit() or not path:
            raise InputError(f"{option} takes YEAR=PATH", field=option, value=text)
        y = int(year)
        if y in out:
            raise InputError(f"year {y} is given twice", field=option, value=text,
                             hint="give each observed year once")
        if previous is not None and y < previous:
            raise InputError(f"years are out of order ({y} after {previous})", field=option,
                             value=text, hint="give the observed years in increasing order")
        out[y] = path
        previous = y
    return out


def read_observed_map(path: str | Path, territory: Territory, what: str) -> np.ndarray:
    """An observed land-use map as uint8 class codes of the TIM's table (255 = nodata)."""
    from scenarios.calibration.data import read_on_grid

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path, field=what)
    values, _, nodata = read_on_grid(path, territory.grid, what)
    inside = np.ones(values.shape, bool) if nodata is None else values != nodata
    if values.dtype.kind == "f":
        inside &= np.isfinite(values)
    known = territory.classes.codes.astype(np.int64)
    lut_ok = np.zeros(256, bool)
    lut_ok[known] = True
    lut_ok[NODATA] = False  # never a class code
    if values.dtype in (np.uint8, np.int8):  # 8-bit codes: no copy to int64 (8.6 M cells)
        ints = values.view(np.uint8)
        bad = inside & ~lut_ok[ints]
        if values.dtype == np.int8:
            bad |= inside & (values < 0)
    else:
        ints = values.astype(np.int64)
        bad = inside & ((ints < 0) | (ints > 254) | ~lut_ok[np.clip(ints, 0, 255)])
    if bad.any():
        codes, counts = np.unique(values[bad], return_counts=True)
        raise InputError("class codes not in the TIM's class table (code: cells) "
                         f"{dict(zip(codes.tolist()[:10], counts.tolist()[:10]))}",
                         source=path, field="land_use__class", value=known.tolist(),
                         hint="recode the map to the TIM's classes or mark them nodata")
    return np.where(inside, ints, NODATA).astype(np.uint8, copy=False)


def read_observed_raster(path: str | Path, territory: Territory, what: str,
                         scale: float = 1.0) -> np.ndarray:
    """A continuous observed raster (e.g. population) on the TIM's grid, float32, NaN = nodata."""
    from scenarios.calibration.data import read_on_grid

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path, field=what)
    values, _, nodata = read_on_grid(path, territory.grid, what)
    out = values.astype(np.float32)
    if nodata is not None:
        out[values == nodata] = np.nan
    if not np.isfinite(out).any():
        raise InputError("the raster has no data", source=path, field=what)
    if np.nanmin(out) < 0:
        raise InputError("values must not be negative", source=path, field=what,
                         value=float(np.nanmin(out)))
    return out * np.float32(scale)


@dataclass
class ControlLines:
    """Masks of the lines monitoring checks (all on the grid), and which were derived."""

    masks: dict[str, np.ndarray]
    derived: dict[str, str] = field(default_factory=dict)  # line -> the rule that made it

    def label(self, line: str) -> str:
        return LINE_NAMES[line] + (" (derived stand-in)" if line in self.derived else "")

    def to_dict(self, cell_ha: float) -> dict:
        return {line: {"field": LINES[line][0], "hard": LINES[line][1],
                       "area_ha": round(float(m.sum()) * cell_ha, 2),
                       "source": "derived" if line in self.derived else "TIM",
                       **({"rule": self.derived[line]} if line in self.derived else {})}
                for line, m in self.masks.items()}


#: Rules of the stand-in lines (documented in the README and each manifest).
STAND_IN_RULES = {
    "water_line": "cells the water constraint restricts (value 0), else water cells of the "
                  "reference map",
    "urban_development_boundary": "cells within {udb_buffer_m:g} m of built-up patches of at "
                                  "least {udb_min_ha:g} ha in the reference map",
    "permanent_basic_farmland": "farmland cells of the reference map in contiguous patches of "
                                "at least {farm_min_ha:g} ha, outside the urban development "
                                "boundary",
    "ecological_red_line": "ecological-land cells of the reference map in contiguous patches "
                           "of at least {eco_min_ha:g} ha",
}
STAND_IN_DEFAULTS = {"udb_buffer_m": 1000.0, "udb_min_ha": 100.0, "farm_min_ha": 100.0,
                     "eco_min_ha": 50.0}


def control_lines(territory: Territory, *, reference: np.ndarray | None = None,
                  water_constraint: np.ndarray | None = None, derive: bool = False,
                  **params: float) -> ControlLines:
    """The TIM's control lines; with ``derive``, the missing ones as stand-ins from the
    ``reference`` land-use map (see :data:`STAND_IN_RULES`; ``water_constraint``: 0 where water
    rules restrict conversion, as in the PLUS water constraint)."""
    from engine.suitability import distance_to

    p = {**STAND_IN_DEFAULTS, **params}
    masks: dict[str, np.ndarray] = {}
    derived: dict[str, str] = {}
    # a line field without a cell set counts as absent: a TIM built from a control-lines
    # layer has a field for every kind, empty for the kinds the layer lacks
    for line, (name, _) in LINES.items():
        if name in territory.fields and territory.fields[name].any():
            masks[line] = territory.fields[name] > 0
        elif line == "water_line" and territory.fields.get(
                "control__flood_risk", np.zeros(1)).any():
            masks[line] = territory.fields["control__flood_risk"] > 0
    if not derive:
        return ControlLines(masks)
    if reference is None:
        raise InputError("deriving stand-in lines needs a reference land-use map",
                         field="--derive-lines")
    classes = territory.classes
    cell_ha = territory.grid.cell_area / 10_000.0
    valid = reference != NODATA

    def big_patches(mask: np.ndarray, min_ha: float) -> np.ndarray:
        labels, n = label(mask)
        cells = patch_stats(labels, n)["cells"]
        keep = np.zeros(n + 1, bool)
        keep[1:] = cells * cell_ha >= min_ha
        return keep[labels]

    if "water_line" not in masks:
        masks["water_line"] = ((water_constraint == 0) & valid if water_constraint is not None
                               else classes.group_mask(reference, "water"))
        derived["water_line"] = STAND_IN_RULES["water_line"]
    if "urban_development_boundary" not in masks:
        towns = big_patches(reference == classes.built.code, p["udb_min_ha"])
        near = distance_to(towns, territory.grid.cell_size) <= p["udb_buffer_m"]
        masks["urban_development_boundary"] = near & valid
        derived["urban_development_boundary"] = STAND_IN_RULES[
            "urban_development_boundary"].format(**p)
    if "permanent_basic_farmland" not in masks:
        farm = big_patches(classes.group_mask(reference, "farmland"), p["farm_min_ha"])
        masks["permanent_basic_farmland"] = farm & ~masks["urban_development_boundary"]
        derived["permanent_basic_farmland"] = STAND_IN_RULES[
            "permanent_basic_farmland"].format(**p)
    if "ecological_red_line" not in masks:
        masks["ecological_red_line"] = big_patches(classes.group_mask(reference, "ecological"),
                                                   p["eco_min_ha"])
        derived["ecological_red_line"] = STAND_IN_RULES["ecological_red_line"].format(**p)
    return ControlLines({k: masks[k] for k in LINES if k in masks}, derived)


def with_lines(territory: Territory, lines: ControlLines) -> Territory:
    """A copy of ``territory`` with the lines as its control fields (derived ones recorded in its
    history), so indicators that read the TIM's lines see the stand-ins too."""
    out = Territory(grid=territory.grid, classes=territory.classes, name=territory.name,
                    vertical_datum=territory.vertical_datum, fields=dict(territory.fields),
                    layers=dict(territory.layers), history=list(territory.history),
                    plan=territory.plan)
    for line, mask in lines.masks.items():
        name = LINES[line][0]
        if name not in out.fields or not out.fields[name].any():
            out.set_field(name, mask.astype(np.uint8))
            out.record("derived", field=name, rule=lines.derived.get(line, ""))
    return out


def read_series(territory: Territory, observed: Mapping[int, str | Path]
                ) -> dict[int, np.ndarray]:
    """Land-use maps by year (see :func:`read_observed_map`)."""
    if not observed:
        raise InputError("give at least one observed land-use map", field="--observed")
    return {int(y): read_observed_map(p, territory, f"observed land use {y}")
            for y, p in observed.items()}


class _Series(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    observed: dict[int, str]
    population: dict[int, str] = Field(default_factory=dict)
    population_scale: float = Field(1.0, gt=0)


def read_series_file(path: str | Path) -> tuple[list[str], list[str], float]:
    """An observed series as a YAML file (``observed: {YEAR: PATH}``, optional ``population:
    {YEAR: PATH or tim}`` and ``population_scale``), as ``YEAR=PATH`` arguments; paths are
    relative to the file and ``${TWIN_DATA}`` is the shared data folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "series.yaml"
    >>> _ = f.write_text("observed: {2003: a.tif, 2005: /d/b.tif}\\npopulation: {2005: tim}\\n")
    >>> obs, pop, scale = read_series_file(f)
    >>> [o.split("=")[0] for o in obs], obs[1], pop, scale
    (['2003', '2005'], '2005=/d/b.tif', ['2005=tim'], 1.0)
    """
    from pydantic import ValidationError

    from tim.config import read_yaml, validation_error
    from tim.ingest.catalog import _expand

    path = Path(path)
    raw = read_yaml(path, "observed series", not_a_mapping="a series maps 'observed' (and "
                    "'population') to {YEAR: PATH}")
    try:
        series = _Series.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from exc

    def where(text: str) -> str:
        return text if text == "tim" else str(path.parent / _expand(text, path))

    return ([f"{y}={where(p)}" for y, p in series.observed.items()],
            [f"{y}={where(p)}" for y, p in series.population.items()],
            series.population_scale)

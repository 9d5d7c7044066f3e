"""``twin simulate``: run a calibrated land-use model from a start map to the years of a demand
table and write the simulated map as a GeoTIFF on the start map's grid.

Inputs: the start land-use map (class codes), the driver rasters the suitability model was
trained on (by the same names), an optional constraint raster (0 = never changes), the
``parameters.yaml`` written by ``twin calibrate`` and a demand table (CSV: ``year``, optional
``zone``, one column per class code with the class area in cells wanted at the end of that
year). Years between the start and the demand rows are interpolated linearly, one step per
year. Cells of the start map outside the study area (no driver data, constraint nodata) keep
their start class. Beside the GeoTIFF, ``<out>.json`` records per year the class areas, what
was converted and any shortfall per class and zone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from engine.landuse import class_counts, simulate
from engine.landuse_config import LandUseConfig, build_model
from scenarios.calibration.data import (OUTSIDE, DriverSpec, Notes, derive_drivers,
                                        read_constraint, read_drivers, read_land_use,
                                        read_on_grid, study_area, to_index, yearly_targets)
from scenarios.calibration.parameters import load_parameters
from tim.atomic import atomic_file
from tim.errors import InputError
from tim.store import write_raster

log = logging.getLogger(__name__)


@dataclass
class ForecastResult:
    years: list[int]
    codes: tuple[int, ...]
    simulated: np.ndarray  # class codes on the start map's grid
    summary: dict[str, Any]


def run_forecast(start: str | Path, start_year: int, params: str | Path,
                 demand: str | Path, *, drivers: Sequence[DriverSpec],
                 constraint: str | Path | None = None, zones: str | Path | None = None,
                 seed: int = 0, tolerance: float = 0.01) -> ForecastResult:
    """Simulate from ``start`` (year ``start_year``) to the last year of ``demand``."""
    clock = time.perf_counter()
    p = load_parameters(params)
    notes = Notes()
    grid, codes, maps = read_land_use({start_year: start}, p.codes)
    start_codes = maps[start_year]
    given = {d.name for d in drivers}
    needed = {d.name for d in p.drivers if d.path is not None}
    if given != needed:
        raise InputError(f"the model was trained on raster drivers {sorted(needed)}; give "
                         f"exactly those (missing {sorted(needed - given)}, unknown "
                         f"{sorted(given - needed)})", source=params, field="--driver")
    by_name = {d.name: d for d in drivers}
    specs = [dataclasses.replace(d, path=str(by_name[d.name].path)) if d.path else d
             for d in p.drivers]
    raw = read_drivers(specs, grid)
    layers = derive_drivers(specs, raw, start_codes, grid)
    barrier = read_constraint(constraint, grid)
    if p.raw.get("constraint", {}).get("used") and barrier is None:
        notes.warn("the model was calibrated with a constraint raster but none was given: "
                   "every cell may change")
    region, n_regions = None, 1
    if zones is not None:
        values, _, nodata = read_on_grid(zones, grid, "zones")
        inside = np.ones(values.shape, bool) if nodata is None else values != nodata
        if (values[inside] < 0).any():
            raise InputError("zone ids must be >= 0", source=zones)
        region = np.where(inside, values, 0).astype(np.int64)
        n_regions = int(region.max()) + 1
    area = study_area([start_codes], [str(start)], layers, barrier, notes)
    eligible = area if barrier is None else area & (barrier == 1)
    index = to_index(np.where(area, start_codes, OUTSIDE), codes)
    suitability = p.suitability.predict(layers, eligible)
    model = build_model(codes, suitability, LandUseConfig(ca=p.ca), hard=[(~eligible, None)],
                        conversion=p.conversion, region=region, patch_sizes=p.patch_sizes)
    constraints = model.constraints
    have = class_counts(index, len(codes), constraints.region, constraints.n_regions)
    years, targets, targeted = yearly_targets(demand, codes, have, start_year,
                                              tolerance=tolerance, notes=notes)
    clock_sim = time.perf_counter()
    run = simulate(index, model, targets, targeted=targeted, seed=seed)
    sim_s = time.perf_counter() - clock_sim
    lut = np.full(256, OUTSIDE, dtype=np.uint8)
    lut[: len(codes)] = codes
    out = np.where(area, lut[run.index], start_codes)
    counts = have
    steps = []
    for year, o in zip(years, run.outcomes):
        counts = counts + o.gained - o.lost
        steps.append({"year": year, "class_cells": _by_class(counts, codes),
                      "gained": _by_class(o.gained, codes), "lost": _by_class(o.lost, codes),
                      "gain_shortfall": _by_class(o.gain_shortfall, codes),
                      "loss_shortfall": _by_class(o.loss_shortfall, codes),
                      "passes": o.passes, "seeds": o.seeds})
    short = sum(int(o.gain_shortfall.sum() + o.loss_shortfall.sum()) for o in run.outcomes)
    if short:
        notes.warn(f"{short} cells of demand could not be met (per class and zone in the "
                   "steps of the summary)")
    summary = {"start": str(start), "start_year": start_year, "years": years,
               "parameters": str(Path(params).resolve()), "demand": str(demand), "seed": seed,
               "classes": list(codes), "study_area_cells": int(area.sum()),
               "steps": steps, "notes": notes.items,
               "timings_s": {"total": round(time.perf_counter() - clock, 2),
                             "simulation": round(sim_s, 2),
                             "per_year": round(sim_s / max(len(years), 1), 3)}}
    return ForecastResult(years, codes, out, summary)


def _by_class(table: np.ndarray, codes: Sequence[int]) -> Any:
    rows = [{str(c): int(v) for c, v in zip(codes, row)} for row in table]
    return rows[0] if len(rows) == 1 else {str(z): r for z, r in enumerate(rows)}


def write_forecast(result: ForecastResult, start: str | Path, out: str | Path) -> Path:
    """The simulated map as a GeoTIFF on the start map's grid (uint8, nodata 255), and
    ``<out>.json`` beside it; both written to temporary names, then renamed."""
    out = Path(out)
    _, grid, _ = read_on_grid(start, None, "start map")
    with atomic_file(out) as tif, atomic_file(out.with_name(out.name + ".json")) as sidecar:
        write_raster(tif, result.simulated, grid, OUTSIDE)
        sidecar.write_text(json.dumps(result.summary, indent=2))
    return out

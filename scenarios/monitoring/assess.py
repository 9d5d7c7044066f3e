"""Annual assessment on observed data (一年一体检、五年一评估): the scenario indicator registry
evaluated on every observed year and level, trends, phased plan-target progress and warnings.

The indicators are the scenarios' own (:mod:`scenarios.indicators` components and
:func:`scenarios.areas.area_indicators` roll-up unit -> district -> city), judged by the same
green / yellow / red rules; the baseline of "lost since" indicators is the first observed year.
Each observed year is judged against the plan targets that apply to it
(:meth:`tim.plan.Plan.for_year`: caps against the next milestone, floors once due).

Population is observed only where a year has a population raster (``--population YEAR=PATH``,
or ``YEAR=tim`` for the TIM's own field); in other years the indicators that need residents are
left without a value (status ``info``), never guessed.

``write_assessment`` writes ``OUT_DIR``::

    manifest.json            format, inputs, years, control lines (TIM or derived + rule),
                             headline values per year, warnings by status, files, timings
    indicators.csv           the territory rows of the area table, as a run's
                             (scenarios.monitor.CITY_COLUMNS + milestone)
    indicators_areas.csv     every unit / district / city row (scenarios.areas.LEVEL_COLUMNS
                             + milestone); the city rows are indicators.csv
    trends.csv               per city indicator: first and last value, change, linear trend per
                             year, and the value the trend reaches by each plan milestone
    progress.csv             per plan target and level: baseline, latest value, target,
                             share of the way from baseline to target
    warnings.csv             year, level, area, indicator, status, message (as a run's)
    maps/land_use_<year>.tif the observed maps on the TIM's grid (uint8, 255 nodata)
    maps/change_<y0>_<y1>.tif class code gained by each changed cell (uint8, 0 unchanged)
    maps/control_lines.tif   the control lines checked (TIM or derived), one bit each
                             (scenarios.monitoring.folders.LINE_BITS), for the dashboard
    report.html (.pdf)       the assessment report
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from scenarios.areas import Areas, area_indicators
from scenarios.indicators import (LIFECIRCLE_INDICATORS, Baseline, IndicatorDef, components,
                                  encroaching_cells, load_registry, plan_status)
from scenarios.monitor import (LISTED_CELLS, WARNING_COLUMNS, indicator_warnings,
                               territory_rows)
from scenarios.monitoring.folders import LINE_BITS
from scenarios.monitoring.observed import NODATA, ControlLines, with_lines
from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.model import Territory

FORMAT = "territory-twin/assessment"
#: Indicators that need residents: no value in a year without observed population.
NEEDS_POPULATION = ("population", "population_density", "construction_land_per_capita",
                    "school_access", "park_access", "population_exposed",
                    *LIFECIRCLE_INDICATORS)
HEADLINE = ("built_up_area", "population", "population_density",
            "construction_land_per_capita", "farmland_lost", "ecological_land_lost",
            "control_line_encroachment", "built_outside_boundary", "boundary_use")


@dataclass(frozen=True)
class Assessment:
    years: list[int]
    city: pd.DataFrame               # territory rows of the area table (CITY_COLUMNS + milestone)
    areas: pd.DataFrame | None       # LEVEL_COLUMNS + milestone
    trends: pd.DataFrame
    progress: pd.DataFrame
    warnings: pd.DataFrame
    maps: dict[int, np.ndarray]
    lines: ControlLines
    population_years: list[int]


def assess(territory: Territory, maps: Mapping[int, np.ndarray], lines: ControlLines, *,
           population: Mapping[int, np.ndarray] | None = None,
           registry: dict[str, IndicatorDef] | None = None) -> Assessment:
    """Assess the observed ``maps`` (year -> class codes on the TIM's grid).

    Examples
    --------
    See ``tests/test_monitoring_assess.py`` for hand-derived cases.
    """
    registry = registry or load_registry()
    years = sorted(maps)
    if not years:
        raise InputError("give at least one observed land-use map", field="--observed")
    population = dict(population or {})
    unknown = sorted(set(population) - set(years))
    if unknown:
        raise InputError("population given for years without an observed land-use map",
                         field="--population", value=unknown)
    base = with_lines(territory, lines)
    first = _state(base, maps[years[0]], population.get(years[0]), base.plan)
    baseline = Baseline.of(first)
    areas = _Areas(**{f.name: getattr(a, f.name) for a in [Areas.of(base)]
                      for f in dataclasses.fields(a)}) if "planning_units" in base.layers and \
        "planning__unit_id" in base.fields else None
    # no buildings' floor area in the TIM: no intensity to measure (not an intensity of 0)
    blank = () if "building__floor_area" in base.fields else ("development_intensity",)
    tables, warnings = [], []
    for year in years:
        plan = base.plan.for_year(year) if base.plan is not None else None
        state = _state(base, maps[year], population.get(year), plan)
        per_cell = components(state, baseline)
        # the run's roll-up and judge (scenarios.areas): the territory row is the same number
        # and status whether read from indicators.csv or indicators_areas.csv
        unmeasured = blank + (NEEDS_POPULATION if year not in population else ())
        table = area_indicators(state, baseline, areas, year, registry, per_cell, unmeasured)
        table["milestone"] = [None if plan is None or k not in plan.indicators
                              else plan.indicators[k].year for k in table["indicator"]]
        tables.append(table)
        cells = encroaching_cells(state, baseline)
        if cells.size:
            warnings.append((year, "cell", "", "control_line_encroachment", "red",
                             f"{len(cells)} cell(s) built inside a hard control line since "
                             f"{years[0]}: {_cells(territory, cells)}", float(len(cells)),
                             "cells", 0.0, "threshold", "max"))
    table = pd.concat(tables, ignore_index=True)
    city = territory_rows(table, ["milestone"])
    area_table = table if areas is not None else None
    warnings = indicator_warnings(table, registry) + warnings
    order = {"red": 0, "yellow": 1}
    warnings.sort(key=lambda r: (-r[0], order.get(r[4], 2), r[1] != "city"))
    return Assessment(years, city, area_table, trends(city, base.plan),
                      progress(city, area_table, base.plan, years),
                      pd.DataFrame(warnings, columns=WARNING_COLUMNS), dict(maps), lines,
                      sorted(population))


class _Areas(Areas):
    """The scenarios' roll-up, summing with the unit index computed once (the observed years
    share one grid and one set of units; a boolean selection per component and year was most
    of an assessment's time on an 8.6 M-cell city)."""

    @functools.cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        cells = np.flatnonzero(self.of_cell >= 0)
        return cells, self.of_cell[cells]

    def sums(self, per_cell: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cells, unit = self._index
        n = self.unit_ids.size
        return {k: np.bincount(unit, weights=v.take(cells), minlength=n) if v.any()
                else np.zeros(n) for k, v in per_cell.items()}


def _state(base: Territory, codes: np.ndarray, people: np.ndarray | None, plan) -> Territory:
    """The territory as observed in one year (fields shared, not copied: nothing writes)."""
    fields = dict(base.fields)
    fields["land_use__class"] = codes
    fields["population__count"] = (np.zeros(base.grid.shape, np.float32) if people is None
                                   else np.nan_to_num(people, nan=0.0))
    return Territory(grid=base.grid, classes=base.classes, name=base.name,
                     vertical_datum=base.vertical_datum, fields=fields, layers=base.layers,
                     plan=plan)


def _cells(territory: Territory, cells: np.ndarray) -> str:
    xs, ys = territory.grid.cell_centres()
    listed = "; ".join(f"({xs[c]:.1f}, {ys[r]:.1f})" for r, c in cells[:LISTED_CELLS])
    more = len(cells) - LISTED_CELLS
    return listed + (f"; and {more} more" if more > 0 else "")


def trends(city: pd.DataFrame, plan=None) -> pd.DataFrame:
    """Per indicator: first and last observed value, the change, the least-squares trend per
    year and, for each plan milestone after the last year, the value that trend reaches."""
    rows = []
    for key, series in city.groupby("indicator", sort=False):
        s = series.dropna(subset=["value"]).sort_values("year")
        if s.empty:
            continue
        y, v = s["year"].to_numpy(float), s["value"].to_numpy(float)
        slope = float(np.polyfit(y, v, 1)[0]) if len(s) > 1 and np.ptp(y) > 0 else np.nan
        row = {"indicator": key, "unit": s["unit"].iloc[0], "first_year": int(y[0]),
               "first": v[0], "last_year": int(y[-1]), "last": v[-1], "change": v[-1] - v[0],
               "trend_per_year": slope, "milestone": None, "projected": None, "target": None,
               "projected_status": None}
        target = plan.indicators.get(key) if plan is not None else None
        stones = [(yr, t) for yr, t in target.milestones().items()
                  if yr is not None and yr > y[-1]] if target is not None else []
        if not stones or not np.isfinite(slope):
            rows.append(row)
        for yr, t in stones if np.isfinite(slope) else []:
            projected = v[-1] + slope * (yr - y[-1])
            rows.append({**row, "milestone": yr, "projected": projected, "target": t.city,
                         "projected_status": plan_status(projected, t.city, target.kind)})
    return pd.DataFrame(rows)


def progress(city: pd.DataFrame, areas: pd.DataFrame | None, plan, years: list[int]
             ) -> pd.DataFrame:
    """Per plan target (every milestone) and level: the first and latest observed values, the
    target and the share of the way from the first value to the target covered so far (a cap's
    share of its headroom used; a floor's share of its gap closed)."""
    columns = ["indicator", "level", "area_id", "area", "kind", "milestone", "target",
               "first_year", "first", "latest_year", "latest", "progress_pct", "status"]
    if plan is None:
        return pd.DataFrame(columns=columns)
    table = areas if areas is not None else city.assign(level="city", area_id="", area="city")
    rows = []
    for key, target in plan.indicators.items():
        mine = table[(table["indicator"] == key)].dropna(subset=["value"])
        if mine.empty:
            continue
        for (level, area_id), s in mine.groupby(["level", "area_id"], sort=False):
            s = s.sort_values("year")
            for year, t in target.milestones().items():
                goal = (t.city if level == "city" else t.districts.get(area_id)
                        if level == "district" else t.units.get(int(area_id)))
                if goal is None:
                    continue
                first, latest = float(s["value"].iloc[0]), float(s["value"].iloc[-1])
                gap = goal - first
                share = 100.0 * (latest - first) / gap if abs(gap) > 1e-12 else 100.0
                rows.append({"indicator": key, "level": level, "area_id": area_id,
                             "area": s["area"].iloc[0], "kind": target.kind, "milestone": year,
                             "target": goal, "first_year": int(s["year"].iloc[0]),
                             "first": first, "latest_year": int(s["year"].iloc[-1]),
                             "latest": latest, "progress_pct": share,
                             "status": plan_status(latest, goal, target.kind)
                             if target.kind == "cap" or (year or 0) <= s["year"].iloc[-1]
                             else "info"})
    return pd.DataFrame(rows, columns=columns)


def write_assessment(result: Assessment, territory: Territory, directory: str | Path, *,
                     inputs: dict, pdf: bool = False, langs: Sequence[str] = ("en",),
                     command: list[str] | None = None) -> Path:
    """Write the assessment folder (see the module docs) atomically."""
    from scenarios.monitoring.reports import assessment_report, write_reports
    from scenarios.rundir import git_commit, software_versions
    from tim.store import write_raster
    from tim.styles import field_categories

    started = time.perf_counter()
    with atomic_directory(directory) as tmp:
        (tmp / "maps").mkdir()
        files = {"indicators.csv": "city indicators per observed year",
                 "trends.csv": "trend of each city indicator, projected to plan milestones",
                 "progress.csv": "plan-target progress per level and milestone",
                 "warnings.csv": "every warning, latest year and most severe first"}
        result.city.to_csv(tmp / "indicators.csv", index=False)
        if result.areas is not None:
            result.areas.to_csv(tmp / "indicators_areas.csv", index=False)
            files["indicators_areas.csv"] = "unit, district and city rows per year"
        result.trends.to_csv(tmp / "trends.csv", index=False)
        result.progress.to_csv(tmp / "progress.csv", index=False)
        result.warnings.to_csv(tmp / "warnings.csv", index=False)
        maps = {}
        for i, year in enumerate(result.years):
            name = f"maps/land_use_{year}.tif"
            write_raster(tmp / name, result.maps[year], territory.grid, NODATA,
                         categories=field_categories("land_use__class", territory.classes))
            maps[name] = f"observed land use {year}"
            if i:
                prev = result.years[i - 1]
                a, b = result.maps[prev], result.maps[year]
                gained = np.where((a != b) & (a != NODATA) & (b != NODATA), b, 0)
                name = f"maps/change_{prev}_{year}.tif"
                write_raster(tmp / name, gained.astype(np.uint8), territory.grid, 0,
                             categories=field_categories("land_use__class", territory.classes))
                maps[name] = f"class gained by each cell changed {prev} -> {year} (0: none)"
        # the lines checked (TIM or derived), one bit each, for a dashboard to draw
        bits = np.zeros(territory.grid.shape, np.uint8)
        for line, mask in result.lines.masks.items():
            bits |= (mask.astype(np.uint8) * np.uint8(LINE_BITS[line]))
        write_raster(tmp / "maps/control_lines.tif", bits, territory.grid, None)
        maps["maps/control_lines.tif"] = ("control lines checked, one bit each: " + ", ".join(
            f"{bit} {line}" for line, bit in LINE_BITS.items()))
        files.update(maps)
        pictures: dict = {}  # each map drawn once for every language
        for name in write_reports(
                lambda lang: assessment_report(result, territory, inputs, lang, pictures=pictures),
                tmp, langs, pdf=pdf):
            files[name] = "the assessment report"
        last = result.city[result.city["year"] == result.years[-1]]
        manifest = {
            "format": FORMAT, "format_version": 1, "command": command,
            "territory": territory.name, "grid": territory.grid.to_dict(),
            "years": result.years, "population_years": result.population_years,
            "inputs": inputs,
            "control_lines": result.lines.to_dict(territory.grid.cell_area / 1e4),
            "levels": ["city"] + (["district", "unit"] if result.areas is not None else []),
            "headline": {r.indicator: {"value": None if pd.isna(r.value) else r.value,
                                       "unit": r.unit, "status": r.status}
                         for r in last.itertuples() if r.indicator in HEADLINE},
            "warnings": result.warnings["status"].value_counts().to_dict(),
            "classes": territory.classes.to_list(),
            "files": files, "git_commit": git_commit(), "software": software_versions(),
            "write_seconds": round(time.perf_counter() - started, 2)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=_json))
    return Path(directory)


def _json(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not np.isfinite(value) else float(value)
    raise TypeError(type(value))


def run_assessment(tim: str | Path, observed: list[str], out: str | Path, *,
                   population: list[str] = (), population_scale: float = 1.0,
                   registry: str | Path | None = None, derive_lines: bool = False,
                   water_constraint: str | Path | None = None, pdf: bool = False,
                   langs: Sequence[str] = ("en",), note: str | None = None,
                   command: list[str] | None = None) -> Assessment:
    """``twin assess``: read the TIM, the observed ``YEAR=PATH`` maps (and populations), assess,
    write ``out``. ``note`` says what the maps are when they are not observations (the demo
    assesses a simulated run's years); reports and the dashboard show it."""
    from scenarios.monitoring.reports import languages

    langs = languages(langs)  # refused before anything is computed or written

    from scenarios.monitoring.observed import (control_lines, parse_year_paths,
                                               read_observed_raster, read_series)
    from tim.store import load_territory

    started = time.perf_counter()
    paths = parse_year_paths(observed)
    territory = load_territory(tim)
    maps = read_series(territory, paths)
    people: dict[int, np.ndarray] = {}
    for year, path in parse_year_paths(population, "--population").items():
        if path == "tim":
            people[year] = territory.get("population__count").astype(np.float32)
        else:
            people[year] = read_observed_raster(path, territory, f"population {year}",
                                                population_scale)
    water = (read_observed_raster(water_constraint, territory, "water constraint")
             if water_constraint else None)
    lines = control_lines(territory, reference=maps[min(maps)], water_constraint=water,
                          derive=derive_lines)
    result = assess(territory, maps, lines, population=people,
                    registry=load_registry(registry) if registry else None)
    inputs = {"tim": str(tim), "observed": {y: str(p) for y, p in paths.items()},
              "population": population and list(population),
              "population_scale": population_scale, "registry": str(registry or "default"),
              "water_constraint": str(water_constraint) if water_constraint else None,
              "compute_seconds": round(time.perf_counter() - started, 2)}
    if note:
        inputs["note"] = note
    write_assessment(result, territory, out, inputs=inputs, pdf=pdf, langs=langs,
                     command=command)
    return result

"""Compare runs of several scenarios on one territory against the first (the baseline).

``compare_runs`` writes ``REPORT_DIR``::

    indicators.csv        scenario, indicator, unit, value, baseline value, difference, status
                          (final simulated year)
    warnings.csv          every early warning of every run (scenario, year, level, area,
                          indicator, status, message)
    maps/<run>_vs_<baseline>.tif   built-up difference in the final year: +1 built only in the
                          run, -1 built only in the baseline, 0 same (int8, the TIM's grid)
    maps/<run>_vs_<baseline>_flood_depth.tif   largest surge depth of the run minus that of
                          the baseline (m, float32), when both simulated a surge
    report.html           the same as a document (tables, charts, maps, parameters, versions)
    report.pdf            the document printed by headless Chromium (``pdf=True``)
    plotly.min.js         the chart library, so the report opens offline
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scenarios.rundir import RunDirectory
from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.store import write_raster


@dataclass(frozen=True)
class Comparison:
    """The comparison's tables and maps, as written to the report directory."""

    runs: list[RunDirectory]
    table: pd.DataFrame
    warnings: pd.DataFrame
    difference_maps: dict[str, np.ndarray]
    flood_maps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def baseline(self) -> RunDirectory:
        return self.runs[0]


def compare(runs: list[RunDirectory]) -> Comparison:
    """Final-year indicators with differences from ``runs[0]``, warnings and difference maps."""
    if len(runs) < 1:
        raise InputError("give at least one run directory", field="RUN_DIR")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise InputError(f"two runs have the same scenario name ({names}); compare different "
                         "scenarios, or rename one", field="scenario.name")
    base = runs[0]
    for run in runs[1:]:
        if run.grid != base.grid:
            raise InputError(f"run {run.path} is on another grid than the baseline {base.path}; "
                             "compare runs of the same TIM", source=run.path, field="grid")
    finals = {r.name: _final(r) for r in runs}
    baseline_values = finals[base.name].set_index("indicator")["value"]
    rows = []
    for run in runs:
        final = finals[run.name]
        for _, row in final.iterrows():
            ref = float(baseline_values.get(row["indicator"], np.nan))
            rows.append({"scenario": run.name, "indicator": row["indicator"],
                         "unit": row["unit"], "year": int(row["year"]),
                         "value": row["value"], "baseline": ref,
                         "difference": row["value"] - ref, "status": row["status"]})
    table = pd.DataFrame(rows)
    warnings = pd.concat([_warnings(r).assign(scenario=r.name) for r in runs],
                         ignore_index=True)
    warnings = warnings[["scenario", *[c for c in warnings.columns if c != "scenario"]]]
    built = base.classes.built.code
    reference = base.land_use(base.years[-1]) == built
    maps = {r.name: ((r.land_use(r.years[-1]) == built).astype(np.int8)
                     - reference.astype(np.int8)) for r in runs[1:]}
    flood = {}
    if base.surge is not None:
        reference = np.nan_to_num(base.water_depth())
        flood = {r.name: np.nan_to_num(r.water_depth()) - reference for r in runs[1:]
                 if r.surge is not None}
    return Comparison(runs, table, warnings.reset_index(drop=True), maps, flood)


def _warnings(run: RunDirectory) -> pd.DataFrame:
    """The run's early warnings; runs written before warnings.csv existed fall back to the
    city indicators outside their green range."""
    if run.warnings is not None:
        return run.warnings
    df = run.indicators[run.indicators["status"].isin(["yellow", "red"])]
    return pd.DataFrame({"year": df["year"], "level": "city", "area": "",
                         "indicator": df["indicator"], "status": df["status"],
                         "message": [f"{i}: {v:g} {u}" for i, v, u in
                                     zip(df["indicator"], df["value"], df["unit"])]})


def _final(run: RunDirectory) -> pd.DataFrame:
    df = run.indicators
    return df[df["year"] == df["year"].max()]


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path, *,
                 pdf: bool = False) -> Comparison:
    """Compare the runs in ``run_dirs`` (the first is the baseline) and write the report;
    ``pdf`` also prints it to ``report.pdf`` (needs Chromium)."""
    from scenarios.report import print_pdf, write_report

    comparison = compare([RunDirectory.open(p) for p in run_dirs])
    grid = comparison.baseline.grid
    with atomic_directory(out_dir) as tmp:
        comparison.table.to_csv(tmp / "indicators.csv", index=False)
        comparison.warnings.to_csv(tmp / "warnings.csv", index=False)
        (tmp / "maps").mkdir()
        for name, diff in comparison.difference_maps.items():
            write_raster(tmp / "maps" / f"{name}_vs_{comparison.baseline.name}.tif", diff, grid,
                         None)
        for name, diff in comparison.flood_maps.items():
            write_raster(tmp / "maps" / f"{name}_vs_{comparison.baseline.name}_flood_depth.tif",
                         diff.astype(np.float32), grid, None)
        html = write_report(comparison, tmp)
        if pdf:
            print_pdf(html, tmp / "report.pdf")
    return comparison

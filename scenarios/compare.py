"""Compare runs of several scenarios on one territory against the first (the baseline).

``compare_runs`` writes ``REPORT_DIR``::

    indicators.csv        scenario, indicator, unit, value, baseline value, difference, status
                          (final simulated year)
    warnings.csv          every early warning of every run (scenario, year, level, area,
                          indicator, status, message)
    maps/<run>_vs_<baseline>.tif   built-up difference in the final year: +1 built only in the
                          run, -1 built only in the baseline, 0 same (int8, the TIM's grid)
    maps/<run>_vs_<reference>_flood_depth.tif   largest surge depth of the run minus that
                          of the reference, the first run with a surge (m, float32)
    report.html           the report (scenarios.reporting.comparison) in the first language
                          asked for: cover, summary, maps, 3D stills, tables, charts,
                          appendix; one self-contained file (pictures embedded, opens offline)
    report.pdf            the same printed to A4 by headless Chromium (``pdf=True``)
    report.<lang>.html/.pdf   the report in each further language (e.g. ``report.zh_CN.pdf``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from scenarios.rundir import RunDirectory
from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.store import write_raster
from tim.styles import BUILT_DIFFERENCE, field_categories


@dataclass(frozen=True)
class Comparison:
    """The comparison's tables and maps, as written to the report directory."""

    runs: list[RunDirectory]
    table: pd.DataFrame
    warnings: pd.DataFrame
    difference_maps: dict[str, np.ndarray]
    flood_maps: dict[str, np.ndarray] = field(default_factory=dict)
    #: The run the flood maps are differences from: the first run with a surge.
    flood_reference: str | None = None

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
    # Flood depths are compared with the first run that simulated a surge (the baseline
    # usually has none, and a difference from "no surge" is just the depth map again).
    surged = [r for r in runs if r.surge is not None]
    flood, reference_name = {}, None
    if surged:
        reference_name = surged[0].name
        reference = np.nan_to_num(surged[0].water_depth())
        flood = {r.name: np.nan_to_num(r.water_depth()) - reference for r in surged[1:]}
    return Comparison(runs, table, warnings.reset_index(drop=True), maps, flood,
                      reference_name)


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


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path, *, pdf: bool = False,
                 langs: Sequence[str] = ("en",), stills: bool = True,
                 ensembles: Sequence[str | Path] = ()) -> Comparison:
    """Compare the runs in ``run_dirs`` (the first is the baseline) and write the report in
    each language of ``langs`` (the first as ``report.html``, the others as
    ``report.<lang>.html``); ``pdf`` also prints each to A4 PDF (needs Chromium); ``stills``
    renders a 3D view of each scenario (pyvista, once for all languages); ``ensembles``
    (``twin ensemble`` folders) add their P10-P90 bands to the charts of their scenarios."""
    from scenarios.i18n import check_language
    from concurrent.futures import ThreadPoolExecutor

    from scenarios.reporting import print_pdf, write_report
    from scenarios.reporting.comparison import city_stills, comparison_report

    from scenarios.ensemble import read_ensemble

    langs = list(dict.fromkeys(check_language(lang, source="--lang") for lang in langs))
    bands = [read_ensemble(path) for path in ensembles]
    comparison = compare([RunDirectory.open(p) for p in run_dirs])
    territory = _territory(comparison.baseline)
    pictures = city_stills(comparison.runs, territory) if stills and territory else {}
    grid = comparison.baseline.grid
    with atomic_directory(out_dir) as tmp:
        comparison.table.to_csv(tmp / "indicators.csv", index=False)
        comparison.warnings.to_csv(tmp / "warnings.csv", index=False)
        (tmp / "maps").mkdir()
        for name, diff in comparison.difference_maps.items():
            write_raster(tmp / "maps" / f"{name}_vs_{comparison.baseline.name}.tif", diff, grid,
                         None, categories=BUILT_DIFFERENCE)
        for name, diff in comparison.flood_maps.items():
            write_raster(tmp / "maps" / f"{name}_vs_{comparison.flood_reference}_flood_depth"
                         ".tif", diff.astype(np.float32), grid, None)
        write_comparison_project(tmp, comparison)
        drawn: dict = {}  # maps carry no words: drawn once, shared by the languages
        pages = []
        for i, lang in enumerate(langs):
            report = comparison_report(comparison, lang, territory=territory, stills=pictures,
                                       pictures=drawn, ensembles=bands)
            html, _ = write_report(report, tmp / ("report" if i == 0 else f"report.{lang}"))
            pages.append(html)
        if pdf:  # one Chromium per language, side by side (each mostly waits on itself)
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda h: print_pdf(h, h.with_suffix(".pdf")), pages))
    return comparison


def write_comparison_project(folder: Path, comparison: Comparison) -> Path:
    """``comparison.qgz``: the difference maps over each run's final land use (the baseline
    shown), under the TIM's control lines and units. ``folder`` is staged beside the final
    folder, so relative paths from it stay right after the rename."""
    from tim.qgis import RasterLayer, raster_range, tim_overlays, write_project

    tim = comparison.baseline.manifest["tim"].get("path")
    layers: list = tim_overlays(Path(tim) if tim else None)
    base = comparison.baseline.name
    for name in comparison.difference_maps:
        layers.append(RasterLayer(folder / "maps" / f"{name}_vs_{base}.tif",
                                  f"{name} − {base}", BUILT_DIFFERENCE))
    for name in comparison.flood_maps:
        path = folder / "maps" / f"{name}_vs_{comparison.flood_reference}_flood_depth.tif"
        low, high = raster_range(path)
        bound = max(abs(low), abs(high))
        layers.append(RasterLayer(path, f"{name} − {comparison.flood_reference} (m)", None,
                                  "difference", (-bound, bound), visible=False))
    for run in comparison.runs:
        final_year = run.years[-1]
        layers.append(RasterLayer(
            run.path / run.manifest["outputs"]["land_use"][str(final_year)],
            f"{run.name} {final_year}",
            field_categories("land_use__class", run.classes), visible=run is comparison.baseline))
    grid = comparison.baseline.grid
    return write_project(folder / "comparison.qgz", f"{base} …", grid.crs, grid.bounds, layers)


def _territory(run: RunDirectory):
    """The TIM the run was made on (for control lines, units and buildings), or None when
    its folder is gone (the report then says so)."""
    import logging

    from tim.store import load_territory

    path = run.manifest["tim"].get("path")
    if not path or not (Path(path) / "manifest.json").is_file():
        return None
    try:
        return load_territory(path)
    except (OSError, ValueError, KeyError) as exc:
        logging.getLogger(__name__).warning("territory %s not read: %s", path, exc)
        return None

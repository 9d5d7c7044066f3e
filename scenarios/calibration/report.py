"""The calibration report directory written by ``twin calibrate``::

    parameters.yaml            classes, fitted CA parameters, patch-size library, conversion
                               table, drivers and the suitability model file with its sha256:
                               the input of ``twin simulate --params``
    suitability.skops          the fitted per-class classifiers (scikit-learn, skops: loading
                               it cannot run code, unlike a pickle)
    metrics.json               per period (calibration, validation): the model, the no-change
                               null and the random null, each overall and per class (FoM with
                               hits/misses/wrong hits/false alarms, Kappa, Kappa simulation,
                               quantity/allocation disagreement, agreement); suitability AUC
                               and driver contributions; calibration search summary; notes
    driver_contributions.csv   class, driver, permutation share, impurity share (forests)
    convergence.csv/.png       FoM of every simulation of the search and the best so far
    maps/<period>_simulated.tif|.png   simulated end map (class codes, 255 = nodata)
    maps/<period>_agreement.tif|.png   0 persistence simulated as persistence, 1 hit, 2 miss,
                                       3 wrong hit, 4 false alarm, 255 outside
    report.html (.pdf)         the above for a reader, A4, in the first language
    report.<lang>.html (.pdf)  the same in each other language (twin calibrate --lang en,zh_CN)

Rasters share the grid of the input maps, so they overlay them in QGIS. The report is made by
the shared report machinery (:mod:`scenarios.reporting.calibration`) from the files above, read
back with :func:`read_calibration`, so any report folder can be rendered again.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from engine.metrics import CATEGORIES
from scenarios.calibration.calibrate import CalibrationReport, agreement
from scenarios.calibration.parameters import PARAMETERS_FORMAT, PARAMETERS_VERSION
from scenarios.calibration.store import MODEL_FILE, save_suitability
from tim.atomic import atomic_directory
from tim.store import write_raster

AGREEMENT_COLOURS = ["#e8e8e8", "#1a9641", "#d7191c", "#fdae61", "#2b83ba"]


def write_calibration(report: CalibrationReport, directory: str | Path, *,
                      langs: Sequence[str] = ("en",), pdf: bool = False) -> Path:
    """Write the report directory atomically (layout: the module docs): the files, then the
    report in each of ``langs`` (HTML, and PDF when ``pdf``)."""
    from scenarios.monitoring.reports import languages
    from scenarios.reporting.calibration import write_calibration_reports

    langs = languages(langs)  # refused before anything is written
    with atomic_directory(directory) as tmp:
        write_report(report, tmp)
        write_calibration_reports(read_calibration(tmp), tmp, langs, pdf=pdf)
    return Path(directory)


@dataclass(frozen=True)
class CalibrationFolder:
    """A calibration report folder as written by :func:`write_calibration`, read back."""

    path: Path
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    convergence: pd.DataFrame
    contributions: pd.DataFrame

    @property
    def codes(self) -> list[int]:
        return [int(c) for c in self.metrics["classes"]]

    @property
    def periods(self) -> list[str]:
        return list(self.metrics["periods"])

    def years(self, period: str) -> tuple[int, int]:
        a, b = self.metrics["periods"][period]["years"]
        return int(a), int(b)

    def overall(self, period: str, model: str = "model") -> dict[str, Any]:
        return self.metrics["periods"][period][model]["overall"]

    def per_class(self, period: str, model: str = "model") -> dict[str, dict[str, Any]]:
        return self.metrics["periods"][period][model]["per_class"]

    def map(self, period: str, kind: str) -> np.ndarray:
        """``maps/<period>_agreement.tif`` (0-4, 255 outside) or ``_simulated.tif``."""
        import rasterio

        with rasterio.open(self.path / "maps" / f"{period}_{kind}.tif") as src:
            return src.read(1)


def read_calibration(directory: str | Path) -> CalibrationFolder:
    """Read a calibration report folder back (its metrics, parameters, search and drivers).

    Raises
    ------
    tim.errors.InputError
        A file is missing or unreadable (names the file).
    """
    from tim.config import read_yaml
    from tim.errors import InputError

    directory = Path(directory)
    try:
        metrics = json.loads((directory / "metrics.json").read_text())
        convergence = pd.read_csv(directory / "convergence.csv")
        contributions = pd.read_csv(directory / "driver_contributions.csv")
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable calibration report ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", source=str(directory),
                         hint="make one with 'twin calibrate ... --out DIR'") from None
    parameters = read_yaml(directory / "parameters.yaml", "calibration parameters")
    return CalibrationFolder(directory, metrics, parameters, convergence, contributions)


def write_report(report: CalibrationReport, out: Path) -> None:
    """Write every file of the report but the HTML/PDF into ``out`` (an empty staging
    directory)."""
    import sklearn

    codes = report.codes
    model_sha256 = save_suitability(report.suitability, out / MODEL_FILE)
    parameters = {
        "format": PARAMETERS_FORMAT, "format_version": PARAMETERS_VERSION,
        "classes": list(codes),
        "grid": {"crs": report.grid.crs, "cell_size": list(report.grid.cell_size)},
        "ca": {k: (list(v) if isinstance(v, tuple) else v)
               for k, v in dataclasses.asdict(report.params).items()},
        "patch_sizes": {str(c): _histogram(s) for c, s in zip(codes, report.patch_sizes)},
        "suitability": {"method": report.suitability.method, "file": MODEL_FILE,
                        "sha256": model_sha256,
                        "scikit_learn": sklearn.__version__,
                        "drivers": [_absolute(d.to_dict()) for d in report.setup.drivers]},
        "constraint": {"used": report.setup.constraint is not None,
                       "path": (str(Path(report.setup.constraint).resolve())
                                if report.setup.constraint is not None else None),
                       "rule": "cells where the constraint raster is 0 never change"},
        "conversion": {"rule": "conversion[from][to]: 0 = forbidden, else 1 - cost",
                       "table": [[round(float(v), 6) for v in row]
                                 for row in report.conversion]},
        "calibration": {"years": list(report.periods[0].years),
                        # every map given (calibration and validation): a scenario's Markov
                        # demand is estimated from them (land_use.demand.source: markov)
                        "maps": {int(y): str(Path(m).resolve())
                                 for y, m in sorted(report.setup.maps.items())},
                        "figure_of_merit": report.result.figure_of_merit,
                        "simulations": report.result.evaluations, "seed": report.setup.seed},
    }
    (out / "parameters.yaml").write_text(yaml.safe_dump(parameters, sort_keys=False))
    metrics = {
        "classes": list(codes), "grid": report.grid.to_dict(),
        "study_area_cells": int(report.study_area.sum()),
        "eligible_cells": int(report.eligible.sum()),
        "periods": {p.name: {"years": list(p.years), "simulation_s": round(p.seconds, 3),
                             **p.metrics} for p in report.periods},
        "suitability": {"method": report.suitability.method, "auc": report.suitability.auc,
                        "contributions": report.suitability.contributions,
                        "impurity": report.suitability.impurity,
                        "training": report.suitability.training},
        "calibration": {"figure_of_merit": report.result.figure_of_merit,
                        "simulations": report.result.evaluations,
                        "seconds": round(report.result.seconds, 1),
                        "message": report.result.message,
                        "convergence": report.result.convergence,
                        "parameters": parameters["ca"]},
        "timings_s": {k: round(v, 2) for k, v in report.timings.items()},
        "notes": report.notes,
    }
    (out / "metrics.json").write_text(json.dumps(_clean(metrics), indent=2))
    rows = [{"class": c, "driver": d, "permutation_share": share,
             "impurity_share": report.suitability.impurity.get(c, {}).get(d)}
            for c, drivers in report.suitability.contributions.items()
            for d, share in drivers.items()]
    pd.DataFrame(rows).to_csv(out / "driver_contributions.csv", index=False)
    history = pd.DataFrame(report.result.history)
    history.to_csv(out / "convergence.csv", index=False)
    (out / "maps").mkdir()
    figures = {"convergence": _convergence_png(history, out / "convergence.png")}
    for p in report.periods:
        sim = _codes(p.simulated, codes)
        write_raster(out / f"maps/{p.name}_simulated.tif", sim, report.grid, 255)
        agree = agreement(p, len(codes))
        write_raster(out / f"maps/{p.name}_agreement.tif", agree, report.grid, 255)
        figures[f"{p.name}_simulated"] = _class_png(sim, codes,
                                                    out / f"maps/{p.name}_simulated.png")
        figures[f"{p.name}_agreement"] = _agreement_png(agree,
                                                        out / f"maps/{p.name}_agreement.png")


def _absolute(driver: dict[str, Any]) -> dict[str, Any]:
    """A driver's record with its file as an absolute path, so that a run started elsewhere
    (twin run --calibration) finds it."""
    if driver.get("path"):
        driver = {**driver, "path": str(Path(driver["path"]).resolve())}
    return driver


def _histogram(sizes: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(sizes, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def _codes(index: np.ndarray, codes: tuple[int, ...]) -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    lut[: len(codes)] = codes
    return lut[index]


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> null, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _convergence_png(history: pd.DataFrame, path: Path) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    if len(history):
        ax.plot(history["evaluation"], history["figure_of_merit"], ".", ms=3, alpha=0.5,
                label="simulation")
        ax.plot(history["evaluation"], history["best"], "-", lw=2, label="best so far")
    ax.set_xlabel("simulation")
    ax.set_ylabel("Figure of Merit")
    ax.set_title("Differential evolution")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _downsample(values: np.ndarray, limit: int = 1500) -> np.ndarray:
    step = max(1, int(math.ceil(max(values.shape) / limit)))
    return values[::step, ::step]


def _class_png(codes_map: np.ndarray, codes: tuple[int, ...], path: Path) -> str:
    plt = _figure()
    from matplotlib.colors import ListedColormap

    palette = plt.get_cmap("tab10" if len(codes) <= 10 else "tab20")
    lut = np.full(256, np.nan)
    lut[list(codes)] = np.arange(len(codes))
    shown = lut[_downsample(codes_map)]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=150)
    cmap = ListedColormap([palette(i) for i in range(len(codes))])
    ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=-0.5, vmax=len(codes) - 0.5,
              interpolation="nearest")
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette(i)) for i in range(len(codes))]
    ax.legend(handles, [f"class {c}" for c in codes], loc="lower left", fontsize=7)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path.parent / path.name)
    plt.close(fig)
    return f"maps/{path.name}"


def _agreement_png(values: np.ndarray, path: Path) -> str:
    plt = _figure()
    from matplotlib.colors import ListedColormap

    shown = np.where(_downsample(values) == 255, np.nan, _downsample(values))
    fig, ax = plt.subplots(figsize=(6, 6), dpi=150)
    ax.imshow(np.ma.masked_invalid(shown), cmap=ListedColormap(AGREEMENT_COLOURS), vmin=-0.5,
              vmax=4.5, interpolation="nearest")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in AGREEMENT_COLOURS]
    ax.legend(handles, list(CATEGORIES.values()), loc="lower left", fontsize=7)
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return f"maps/{path.name}"


def _(message: str) -> str:
    """Marks a message id for the catalogue; reports and the dashboard translate it."""
    return message


#: The overall metrics of a period, as the report and the dashboard list them:
#: (key, label, kind) - kind ``count`` or ``ratio``.
METRIC_ROWS = (
    ("figure_of_merit", _("Figure of Merit"), "ratio"), ("hits", _("hits"), "count"),
    ("misses", _("misses"), "count"), ("wrong_hits", _("wrong hits"), "count"),
    ("false_alarms", _("false alarms"), "count"),
    ("producers_accuracy", _("producer's accuracy"), "ratio"),
    ("users_accuracy", _("user's accuracy"), "ratio"),
    ("kappa_simulation", _("Kappa simulation"), "ratio"),
    ("kappa_transition", _("Kappa transition"), "ratio"),
    ("kappa_transloc", _("Kappa transloc"), "ratio"), ("kappa", _("Kappa"), "ratio"),
    ("overall_agreement", _("overall agreement"), "ratio"),
    ("quantity_disagreement", _("quantity disagreement"), "ratio"),
    ("allocation_disagreement", _("allocation disagreement"), "ratio"),
    ("observed_change", _("cells changed (observed)"), "count"),
    ("simulated_change", _("cells changed (simulated)"), "count"))
#: The columns of the per-class tables: (key, label, kind).
CLASS_COLUMNS = (("figure_of_merit", "FoM", "ratio"), ("hits", _("hits"), "count"),
                 ("misses", _("misses"), "count"), ("wrong_hits", _("wrong hits"), "count"),
                 ("false_alarms", _("false alarms"), "count"),
                 ("kappa_simulation", _("Kappa sim."), "ratio"),
                 ("quantity_disagreement", _("quantity dis."), "ratio"),
                 ("allocation_disagreement", _("allocation dis."), "ratio"))
#: The model and its two null models, as the report and the dashboard name them.
MODEL_WORDS = {"model": _("calibrated model"), "null_no_change": _("no change"),
               "null_random": _("random allocation")}
#: The agreement categories (engine.metrics.CATEGORIES) in words.
CATEGORY_WORDS = {0: _("persistence simulated as persistence"), 1: _("hit"), 2: _("miss"),
                  3: _("wrong hit"), 4: _("false alarm")}
PERIOD_WORDS = {"calibration": _("Calibration"), "validation": _("Validation")}
#: Suitability methods (twin calibrate --method) in words.
METHOD_WORDS = {"random_forest": _("random forest"), "logistic": _("logistic regression")}
#: The fitted CA parameters (parameters.yaml ``ca``) in words.
PARAMETER_WORDS = {
    "neighbourhood_size": _("neighbourhood size"), "weights": _("neighbourhood weights"),
    "inertia": _("inertia"), "alpha": _("randomness (alpha)"),
    "spontaneous": _("spontaneous change"), "roulette_rounds": _("roulette rounds"),
    "patch_scale": _("patch scale"), "patch_compactness": _("patch compactness")}

"""The land-use calibration tab (viz.tabs.calibration, viz.accuracy, viz.sources.Calibration)
in-process, on a real report: ``twin calibrate`` run through the CLI on the Plum Island maps
(lulcc's PIE data: 1985 -> 1991 fitted, 1991 -> 1999 validated, three drivers).

Expected values are read here from the report's own files with json, pandas, rasterio and PIL,
independently of the dashboard's readers: the metrics from ``metrics.json``, the maps from
``maps/<period>_<kind>.tif``, the search from ``convergence.csv``, the drivers from
``driver_contributions.csv``. Numbers that two files of the report both hold (the agreement
map's categories and the metrics' hits, misses, wrong hits and false alarms; the search's best
FoM) are checked against each other.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from viz.demo import CALIBRATION_DATA as DATA
from viz.demo import CALIBRATION_DRIVERS as DRIVERS
from viz.demo import CALIBRATION_YEARS as YEARS

#: The report's agreement categories (engine.metrics.CATEGORIES) and their metric names.
COUNTED = {1: "hits", 2: "misses", 3: "wrong_hits", 4: "false_alarms"}


@pytest.fixture(scope="module")
def report_dir(twin_data, tmp_path_factory) -> Path:
    from viz.cli import main

    folder = twin_data / DATA
    if not (folder / "lu_pie_1985.tif").is_file():
        pytest.skip(f"Plum Island maps not found in {folder}")
    out = tmp_path_factory.mktemp("calibration") / "plum-island"
    argv = ["calibrate", "--no-progress", "--maxiter", "2", "--popsize", "3", "--out", str(out)]
    for year in YEARS:
        argv += ["--map", f"{year}={folder / f'lu_pie_{year}.tif'}"]
    for name, file in DRIVERS.items():
        argv += ["--driver", f"{name}={folder / file}"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def metrics(report_dir) -> dict:
    return json.loads((report_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def board(report_dir):
    from viz.app import load_dashboard

    return load_dashboard([report_dir])


def _tif(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    with rasterio.open(path) as src:
        return src.read(1), tuple(src.transform)[:6]


def _props(component) -> dict:
    return component.to_plotly_json()["props"]


# -- the folder and the dashboard around it ---------------------------------------------------
def test_a_calibration_report_alone_makes_a_dashboard(board, report_dir, tmp_path):
    from tim.errors import InputError, StoreError
    from viz.app import create_app, load_dashboard
    from viz.sources import folder_kind
    from viz.tabs import available_tabs

    assert folder_kind(report_dir) == "calibration"
    assert board.runs == () and [c.path for c in board.calibrations] == [report_dir]
    assert [t.key for t in available_tabs(board)] == ["calibration", "data"]
    app = create_app([report_dir])  # the layout and every callback build without runs
    ids = {getattr(c, "id", None) for c in app.layout()._traverse()}
    assert {"calibration-map", "calibration-comparison", "calibration-convergence"} <= ids
    with pytest.raises(InputError, match="--tiles"):
        load_dashboard([report_dir], tiles_dir=tmp_path)
    # A report whose parameters.yaml is not a land-use parameters file is not a report.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "metrics.json").write_text("{}")
    (fake / "parameters.yaml").write_text("format: something-else\n")
    with pytest.raises(StoreError, match="not a run directory"):
        folder_kind(fake)


def test_the_reader_gives_the_report_files(board, report_dir, metrics):
    report = board.calibrations[0]
    assert report.metrics == metrics
    assert report.periods == ["calibration", "validation"]
    assert report.years("calibration") == (1985, 1991)
    assert report.years("validation") == (1991, 1999)
    for period in report.periods:
        for kind in ("agreement", "simulated"):
            values, transform = _tif(report_dir / "maps" / f"{period}_{kind}.tif")
            np.testing.assert_array_equal(report.map(period, kind), values)
            assert report.grid.transform == pytest.approx(transform)
            assert report.grid.shape == values.shape
    pd.testing.assert_frame_equal(report.convergence,
                                  pd.read_csv(report_dir / "convergence.csv"))


def test_the_dashboard_reads_the_report_with_the_one_reader(board, report_dir, tmp_path):
    import shutil

    from scenarios.calibration.report import CalibrationFolder
    from tim.errors import StoreError
    from viz.sources import Calibration

    report = board.calibrations[0]
    assert isinstance(report.folder, CalibrationFolder)  # read_calibration's folder, wrapped
    assert report.parameters is report.folder.parameters
    assert report.contributions is report.folder.contributions
    # A report file that the reader cannot read is a store error naming the folder.
    broken = tmp_path / "broken"
    shutil.copytree(report_dir, broken)
    (broken / "driver_contributions.csv").unlink()
    with pytest.raises(StoreError, match="broken: not a readable calibration report"):
        Calibration.open(broken)


# -- accuracy beside the null models ---------------------------------------------------------
@pytest.mark.parametrize("period", ["calibration", "validation"])
def test_the_metrics_table_and_chart_are_metrics_json(board, metrics, period):
    from viz.accuracy import COMPARED, FIGURE_WORDS
    from viz.sources import MODELS
    from viz.tabs import calibration

    cells = {}
    for row in _props(calibration.metrics_table(board, 0, period))["children"][1].children:
        for cell in row.children[1:]:
            p = _props(cell)
            cells[_props(row)["data-metric"], p["data-model"]] = p["data-value"]
    for model in MODELS:
        overall = metrics["periods"][period][model]["overall"]
        for key, _, _ in calibration.ROWS:
            assert cells[key, model] == repr(overall.get(key))
    overall = {m: metrics["periods"][period][m]["overall"] for m in MODELS}
    fig = calibration.comparison_figure(overall, MODELS)
    for trace in fig.data:
        keys = [k for k, _up in COMPARED if FIGURE_WORDS[k] in trace.x]
        assert list(trace.y) == pytest.approx([overall[trace.meta][k] for k in keys])
    summary = _props(calibration.summary(board, 0, period))
    assert summary["data-period"] == period
    assert float(summary["data-fom"]) == overall["model"]["figure_of_merit"]
    per_class = {_props(r)["data-class"]: float(_props(r)["data-fom"]) for r in
                 _props(calibration.class_table(board, 0, period))["children"][1].children}
    assert per_class == {c: v["figure_of_merit"] for c, v in
                         metrics["periods"][period]["model"]["per_class"].items()}


def test_the_model_beats_no_change_on_the_figure_of_merit(metrics):
    """No change has no hits, so a FoM of 0; the calibrated model places change: above it."""
    for period in ("calibration", "validation"):
        fom = {m: metrics["periods"][period][m]["overall"]["figure_of_merit"]
               for m in ("model", "null_no_change")}
        assert fom["null_no_change"] == 0.0 < fom["model"]


# -- the maps --------------------------------------------------------------------------------
@pytest.mark.parametrize("period", ["calibration", "validation"])
def test_the_agreement_map_counts_the_metrics_hits_misses_and_false_alarms(
        board, report_dir, metrics, period):
    from scenarios.calibration.report import AGREEMENT_COLOURS
    from viz.tabs import calibration

    values, transform = _tif(report_dir / "maps" / f"{period}_agreement.tif")
    counts = np.bincount(values[values < 5].ravel(), minlength=5)
    overall = metrics["periods"][period]["model"]["overall"]
    for code, key in COUNTED.items():  # two files of the report agree
        assert counts[code] == overall[key]
    fig, text = calibration.map_view(board, 0, period, "agreement")
    p = _props(text)
    assert [p[f"data-{calibration.KEYS[c]}"] for c in range(5)] == counts.tolist()
    # The map is one PNG on the km axes: north up, every cell its category's colour.
    (image,) = fig.data
    png = base64.b64decode(image.source.split(",", 1)[1])
    from PIL import Image

    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    rows, cols = values.shape
    assert rgba.shape[:2] == values.shape  # small enough to show every cell
    south_first = values[::-1]
    for code, colour in enumerate(AGREEMENT_COLOURS):
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        where = south_first == code
        assert (rgba[where][:, :3] == rgb).all() and (rgba[where][:, 3] == 255).all()
    assert (rgba[south_first == 255][:, 3] == 0).all()
    a, _, c, _, e, f = transform
    assert image.x0 == pytest.approx((c + 0.5 * a) / 1000.0)  # centre of the first column
    assert image.y0 == pytest.approx((f + e * (rows - 0.5)) / 1000.0)  # of the southern row
    assert (image.dx, image.dy) == pytest.approx((a / 1000.0, -e / 1000.0))


def test_the_simulated_map_shows_the_report_classes(board, report_dir, metrics):
    from viz.tabs import calibration

    values, _ = _tif(report_dir / "maps" / "validation_simulated.tif")
    fig, _ = calibration.map_view(board, 0, "validation", "simulated")
    assert [t.name for t in fig.data[1:]] == [f"class {c}" for c in metrics["classes"]]
    assert fig.layout.title.text == "Simulated land use 1999 (Validation)"
    assert set(np.unique(values)) <= {*map(int, metrics["classes"]), 255}


# -- the search and the drivers --------------------------------------------------------------
def test_the_convergence_is_every_simulation_and_the_best_so_far(board, report_dir, metrics):
    from viz.accuracy import convergence_figure

    history = pd.read_csv(report_dir / "convergence.csv")
    assert len(history) == metrics["calibration"]["simulations"]
    np.testing.assert_allclose(history["best"], history["figure_of_merit"].cummax())
    assert history["best"].iloc[-1] == pytest.approx(metrics["calibration"]["figure_of_merit"])
    dots, best = convergence_figure(board.calibrations[0].convergence).data
    assert list(dots.y) == pytest.approx(list(history["figure_of_merit"]))
    assert list(best.y) == pytest.approx(list(history["best"]))


def test_the_drivers_chart_and_the_parameters_are_the_report(board, report_dir):
    import yaml

    from viz.tabs import calibration

    table = pd.read_csv(report_dir / "driver_contributions.csv")
    report = board.calibrations[0]
    fig = calibration.contributions_figure(report.contributions,
                                           report.metrics["suitability"].get("auc"))
    assert sorted(t.meta for t in fig.data) == sorted(str(c) for c in table["class"].unique())
    for trace in fig.data:
        rows = table[table["class"].astype(str) == trace.meta].set_index("driver")
        assert list(trace.x) == pytest.approx(list(rows.loc[list(trace.y),
                                                            "permutation_share"]))
    assert set(fig.data[0].y) == set(DRIVERS)
    ca = yaml.safe_load((report_dir / "parameters.yaml").read_text())["ca"]
    rows = _props(calibration.parameters_table(board, 0))["children"][0].children
    assert len(rows) == len(ca)  # every fitted parameter, named in words
    assert "elevation (pie_ef_001.tif)" in calibration.drivers_line(report)


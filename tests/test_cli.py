"""The ``twin`` command end to end, as a user runs it: build -> tiles -> run -> compare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

TWIN = [sys.executable, "-m", "viz.cli"]


def twin(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*TWIN, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_build_tiles_run_compare(sample_catalog, tmp_path):
    twin("tim", "build", "--catalog", sample_catalog, "--out", "tim", cwd=tmp_path)
    info = twin("tim", "info", "tim", cwd=tmp_path).stdout
    assert "EPSG:4548" in info and "buildings" in info and "reproject" in info

    twin("tiles", "tim", "--out", "tiles", cwd=tmp_path)
    root = json.loads((tmp_path / "tiles/tileset.json").read_text())
    assert root["asset"]["version"] == "1.0"

    custom = tmp_path / "shrinking.yaml"
    custom.write_text("extends: baseline\nname: shrinking\ntitle: Shrinking town\n"
                      "years: 3\npopulation: {annual_growth: -0.02}\n")
    twin("run", "baseline", "--tim", "tim", "--out", "runs/baseline", "--seed", "3",
         cwd=tmp_path)
    twin("run", "high-growth", "--tim", "tim", "--out", "runs/high", "--seed", "3", cwd=tmp_path)
    out = twin("run", custom, "--tim", "tim", "--out", "runs/shrinking", cwd=tmp_path).stdout
    assert "shrinking: 2025-2028" in out
    manifest = json.loads((tmp_path / "runs/baseline/manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["command"][1:3] == ["run", "baseline"]
    assert sorted(manifest["outputs"]["land_use"]) == [str(y) for y in range(2025, 2036)]

    report = twin("compare", "runs/baseline", "runs/high", "--out", "report",
                  cwd=tmp_path).stdout
    assert "report.html" in report and (tmp_path / "report/report.html").is_file()


def test_the_same_run_twice_is_identical(sample_catalog, tmp_path):
    twin("tim", "build", "--catalog", sample_catalog, "--out", "tim", cwd=tmp_path)
    for out in ("a", "b"):
        twin("run", "high-growth", "--tim", "tim", "--out", out, "--seed", "9", cwd=tmp_path)
    import rasterio

    for year in (2030, 2035):
        with rasterio.open(tmp_path / f"a/land_use/{year}.tif") as a, \
                rasterio.open(tmp_path / f"b/land_use/{year}.tif") as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


def test_sources_by_role_on_the_command_line(sample_catalog, tmp_path):
    src = sample_catalog.parent
    twin("tim", "build", f"elevation={src / 'dem.tif'}", str(src / "buildings.gpkg"),
         "--out", "tim", "--cell-size", "50", cwd=tmp_path)
    manifest = json.loads((tmp_path / "tim/manifest.json").read_text())
    assert manifest["grid"]["shape"] == [120, 120]
    assert set(manifest["layers"]) == {"buildings"}


def test_bad_scenario_exits_2_and_writes_nothing(sample_catalog, tmp_path):
    twin("tim", "build", "--catalog", sample_catalog, "--out", "tim", cwd=tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: baseline\nname: bad\ntitle: Bad\nland_use: {alpha: -1}\n")
    done = twin("run", bad, "--tim", "tim", "--out", "runs/bad", cwd=tmp_path, ok=False)
    assert done.returncode == 2
    assert f"{bad}: land_use.alpha: Input should be greater than or equal to 0 (got -1)" \
        in done.stderr
    assert not (tmp_path / "runs").exists()


def test_missing_crs_exits_2_and_leaves_no_tim(tmp_path):
    import rasterio
    from affine import Affine

    with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", width=4, height=4, count=1,
                       dtype="float32", transform=Affine(10, 0, 0, 0, -10, 40)) as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    done = twin("tim", "build", "dem.tif", "--out", "tim", cwd=tmp_path, ok=False)
    assert done.returncode == 2
    assert "dem.tif: crs: the raster declares no CRS" in done.stderr
    assert not (tmp_path / "tim").exists()
    unknown = twin("tim", "build", "dem.tif", "--out", "tim", "--crs", "EPSG:999999",
                   cwd=tmp_path, ok=False)
    assert unknown.returncode == 2 and "--crs: unknown CRS 'EPSG:999999'" in unknown.stderr
    assert not (tmp_path / "tim").exists()
    twin("tim", "build", "dem.tif", "--out", "tim", "--crs", "EPSG:32650", cwd=tmp_path)


def test_not_a_run_directory(tmp_path):
    (tmp_path / "notes").mkdir()
    done = twin("compare", "notes", "--out", "report", cwd=tmp_path, ok=False)
    assert done.returncode == 2 and "not a run directory" in done.stderr
    assert not (tmp_path / "report").exists()

"""Outputs every GIS opens ready to use: styled Cloud-Optimized GeoTIFFs, GeoPackages that
GDAL 3.6 opens without warnings with their styles inside, and QGIS projects that real QGIS
loads with every layer valid and styled (Debian's python3-qgis, installed by the test set-up)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from tim.model import Grid
from tim.qgis import read_project_xml
from tim.store import write_raster
from tim.styles import Category, LINE_NAMES

SYSTEM_PYTHON = "/usr/bin/python3"
CHECK = Path(__file__).with_name("qgis_check.py")


def _has_qgis() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"],
                          capture_output=True).returncode == 0


needs_qgis = pytest.mark.skipif(not _has_qgis(), reason="PyQGIS (Debian's python3-qgis) is "
                                "not installed; python3 bootstrap.py test installs it")


def qgis(*args: str | Path) -> dict:
    done = subprocess.run([SYSTEM_PYTHON, str(CHECK), *map(str, args)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


GRID = Grid(crs="EPSG:4548", transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 3400000.0),
            shape=(1100, 1300))
CLASSES = [Category(1, "Cropland 耕地", "#f2d16b"), Category(7, "Built-up 建设用地", "#d64541")]


def test_categorical_raster_is_a_cog_with_palette_names_and_nearest_overviews(tmp_path):
    import rasterio

    values = np.where(np.indices(GRID.shape)[1] % 7 < 3, 1, 7).astype(np.uint8)
    values[:5] = 255
    path = tmp_path / "land_use.tif"
    write_raster(path, values, GRID, 255, categories=CLASSES)
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1), "a raster larger than a block has overviews"
        assert src.colormap(1)[7] == (214, 69, 65, 255) and src.colormap(1)[1][:3] == (242, 209,
                                                                                       107)
        overview = src.read(1, out_shape=(GRID.shape[0] // 2, GRID.shape[1] // 2))
        assert set(np.unique(overview)) <= {1, 7, 255}, "nearest, never a mixed class"
        assert (src.read(1) == values).all() and src.nodata == 255
    assert (tmp_path / "land_use.qml").is_file()
    if shutil.which("gdalinfo"):  # the system GDAL (3.6) reads the names and the table
        info = json.loads(subprocess.run(["gdalinfo", "-json", str(path)], capture_output=True,
                                         text=True, check=True).stdout)
        band = info["bands"][0]
        assert band["categories"][1] == "Cropland 耕地" and band["categories"][7].startswith(
            "Built-up")
        rows = info["rat"]["row"]
        assert [r["f"][:2] for r in rows] == [[1, "Cropland 耕地"], [7, "Built-up 建设用地"]]


def test_continuous_raster_carries_statistics_of_valid_cells(tmp_path):
    import rasterio

    values = np.linspace(-5, 95, GRID.shape[0] * GRID.shape[1], dtype=np.float32).reshape(
        GRID.shape)
    values[0, :10] = np.nan
    path = tmp_path / "dem.tif"
    write_raster(path, values, GRID, float("nan"))
    with rasterio.open(path) as src:
        tags = src.tags(1)
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    finite = values[np.isfinite(values)]
    assert float(tags["STATISTICS_MINIMUM"]) == pytest.approx(float(finite.min()))
    assert float(tags["STATISTICS_MAXIMUM"]) == pytest.approx(float(finite.max()))
    assert float(tags["STATISTICS_MEAN"]) == pytest.approx(float(finite.mean()), rel=1e-6)
    assert not (tmp_path / "dem.qml").exists()


def test_tim_geopackage_is_version_1_2_with_styles_and_no_gdal_warning(demo_output):
    gpkg = demo_output / "tim" / "vectors.gpkg"
    with sqlite3.connect(gpkg) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"
        styles = dict(db.execute("SELECT f_table_name, styleQML FROM layer_styles "
                                 "WHERE useAsDefault"))
    db.close()
    manifest = json.loads((demo_output / "tim" / "manifest.json").read_text())
    assert set(styles) == set(manifest["layers"])
    lines = ET.fromstring(styles["control_lines"].split("\n", 1)[1])
    labels = [c.get("label") for c in lines.iter("category")]
    assert labels == list(LINE_NAMES.values())
    if shutil.which("ogrinfo"):
        done = subprocess.run(["ogrinfo", "-ro", "-so", str(gpkg)], capture_output=True,
                              text=True)
        assert done.returncode == 0 and "Warning" not in done.stderr + done.stdout


def _projects(demo_output: Path) -> list[Path]:
    runs = sorted((demo_output / "runs").glob("*/run.qgz"))
    assert runs, "every run writes run.qgz"
    return [demo_output / "tim" / "territory.qgz", *runs,
            demo_output / "report" / "comparison.qgz"]


def test_projects_point_at_existing_files_by_relative_paths(demo_output):
    for project in _projects(demo_output):
        root = read_project_xml(project)
        assert root.find("properties/Paths/Absolute").text == "false"
        ids = [e.text for e in root.iter("id")]
        assert len(ids) == len(set(ids)) and all(len(i) > 10 for i in ids)
        for source in root.iter("datasource"):
            relative = source.text.split("|")[0]
            assert relative.startswith(("./", "../")), source.text
            assert (project.parent / relative).resolve().is_file(), (project, source.text)


@needs_qgis
def test_qgis_opens_the_tim_project_styled(demo_output, tmp_path):
    out = qgis("render", demo_output / "tim" / "territory.qgz", tmp_path / "tim.png")
    assert out["read"] and out["crs"] == "EPSG:4548" and out["saved"]
    layers = {layer["name"]: layer for layer in out["layers"]}
    assert all(layer["valid"] for layer in out["layers"]), out["layers"]
    assert [n for n in layers][:3] == ["amenities", "control_lines", "planning_units"]
    assert layers["control_lines"]["categories"] == list(LINE_NAMES.values())
    assert layers["planning_units"]["labels"] is True
    assert layers["land_use__class"]["renderer"] == "paletted"
    assert any("建设用地" in c for c in layers["land_use__class"]["classes"])
    assert layers["terrain__elevation"]["renderer"] == "singlebandpseudocolor"
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "tim.png").convert("RGB")).reshape(-1, 3)
    colours = {tuple(c) for c in picture[::7]}
    assert (213, 0, 0) in colours, "the red line is drawn red"
    assert (242, 209, 107) in colours, "cropland in its national colour"


@needs_qgis
def test_qgis_opens_run_and_comparison_projects_with_every_layer_valid(demo_output):
    for project in _projects(demo_output)[1:]:
        out = qgis("project", project)
        assert out["read"] and out["crs"] == "EPSG:4548", project
        assert out["layers"] and all(layer["valid"] for layer in out["layers"]), out
        names = [layer["name"] for layer in out["layers"]]
        assert names[:2] == ["control_lines", "planning_units"], names
        assert sum(layer["visible"] and layer.get("renderer") == "paletted"
                   for layer in out["layers"]) >= 1


@needs_qgis
def test_a_layer_opened_alone_takes_its_stored_style(demo_output):
    gpkg = demo_output / "tim" / "vectors.gpkg"
    lines = qgis("vector", gpkg, "control_lines")
    assert lines["valid"] and lines["renderer"] == "categorizedSymbol"
    assert lines["categories"] == list(LINE_NAMES.values())
    raster = qgis("raster", demo_output / "tim" / "rasters" / "land_use__class.tif")
    assert raster["renderer"] == "paletted"
    assert "Cropland 耕地" in raster["classes"]


def test_export_geoparquet_writes_every_layer_readable_with_its_crs(demo_output, tmp_path):
    import sys

    import geopandas as gpd
    import pyarrow.parquet as pq

    out = tmp_path / "parquet"
    done = subprocess.run([sys.executable, "-m", "viz.cli", "export", str(demo_output / "tim"),
                           "--level", "internal", "--format", "geoparquet", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    tim = json.loads((demo_output / "tim" / "manifest.json").read_text())
    assert set(manifest["layers"]) <= set(tim["layers"]) and manifest["layers"]
    for name, meta in manifest["layers"].items():
        geo = json.loads(pq.read_schema(out / meta["file"]).metadata[b"geo"])
        assert geo["version"].startswith("1.") and geo["primary_column"] == "geometry"
        frame = gpd.read_parquet(out / meta["file"])
        assert len(frame) == meta["count"] and frame.crs.to_epsg() == 4548


def test_a_styled_geopackage_is_read_by_its_data_layer_not_its_style_table(tmp_path):
    """A GeoPackage the project wrote (its layer plus ``layer_styles``) given back as input,
    e.g. a run's new buildings as proposals, reads its features without naming the layer."""
    import warnings

    import geopandas as gpd
    import shapely

    from tim.ingest.vector import read_vector
    from tim.store import write_layer

    frame = gpd.GeoDataFrame({"height": [12.0, 30.0]},
                             geometry=[shapely.box(500_000, 3_400_000, 500_010, 3_400_010),
                                       shapely.box(500_020, 3_400_000, 500_030, 3_400_010)],
                             crs="EPSG:4547")
    path = tmp_path / "buildings_new.gpkg"
    write_layer(frame, path, "buildings_new")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "more than one layer found"
        read = read_vector(path)
    assert list(read["height"]) == [12.0, 30.0] and read.crs == frame.crs

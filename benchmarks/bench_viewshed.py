"""Viewsheds: the Numba sweep beside ``gdal_viewshed`` (the same model) on the Wuhan DEM.

GDAL is timed as a whole process (``gdal_viewshed`` reads the GeoTIFF, computes, writes one),
ours as the library call that does the same work - read the GeoTIFF, compute, write a GeoTIFF
and its JSON sidecar (:func:`scenarios.planning.views.viewshed_to_file`) - after a first call that loads
the compiled kernels; ``twin viewshed`` as a whole process is timed too. Both sides use an eye
2 m above the surface (GDAL's default) and GDAL's default curvature coefficient; every pair of
outputs is checked to agree before it is timed.

The DEM is 2931 x 2931 cells of 30 m (int16, nodata -9999 outside the city boundary); smaller
sizes are centred crops of it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from validators import twin_data

REPO = Path(__file__).resolve().parents[1]
DATA = twin_data()  # the shared data folder, found as the tests find it
DEM = DATA / "landuse" / "wuhan" / "wh_df_dem.tif"
GDAL = shutil.which("gdal_viewshed")
pytestmark = [pytest.mark.skipif(not DEM.is_file(), reason=f"Wuhan DEM not found at {DEM}"),
              pytest.mark.skipif(GDAL is None, reason="gdal_viewshed not installed (gdal-bin)")]

SIZES = (733, 1466, 2931)
EYE = 2.0


def _read(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.nodata


@pytest.fixture(scope="module")
def dems(tmp_path_factory):
    """Centred crops of the DEM as GeoTIFFs, by size."""
    import rasterio
    from rasterio.windows import Window

    out = {SIZES[-1]: DEM}
    folder = tmp_path_factory.mktemp("dems")
    with rasterio.open(DEM) as src:
        for n in SIZES[:-1]:
            off = (src.height - n) // 2
            window = Window(off, off, n, n)
            profile = src.profile | {"height": n, "width": n,
                                     "transform": src.window_transform(window)}
            with rasterio.open(folder / f"dem{n}.tif", "w", **profile) as dst:
                dst.write(src.read(1, window=window), 1)
            out[n] = folder / f"dem{n}.tif"
    return out


def _valid_points(path, n, seed):
    z, t, nodata = _read(path)
    valid = np.argwhere(z != nodata)
    if n == 1:  # the valid cell nearest the centre
        centre = np.array(z.shape) // 2
        picks = valid[[np.argmin(np.abs(valid - centre).sum(axis=1))]]
    else:
        picks = valid[np.random.default_rng(seed).choice(len(valid), n, replace=False)]
    return [(t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e) for r, c in picks]


def _gdal(dem, x, y, out):
    subprocess.run([GDAL, "-q", "-ox", repr(float(x)), "-oy", repr(float(y)), "-oz", str(EYE),
                    str(dem), str(out)], check=True)


def _ours(dem, points, out):
    from engine.analysis.viewshed import Observer
    from scenarios.planning.views import viewshed_to_file

    return viewshed_to_file(dem, [Observer(x, y, EYE) for x, y in points], out)


def _agreement(gdal_tif, ours_tif, dem):
    theirs, _, _ = _read(gdal_tif)
    ours, _, _ = _read(ours_tif)
    z, _, nodata = _read(dem)
    valid = z != nodata
    return float(((theirs == 255) == (ours == 1))[valid].mean())


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("impl", ["gdal_viewshed process", "twin read+compute+write"])
def test_one_observer(benchmark, dems, tmp_path, n, impl):
    dem = dems[n]
    (x, y), = _valid_points(dem, 1, 0)
    _gdal(dem, x, y, tmp_path / "gdal.tif")
    _ours(dem, [(x, y)], tmp_path / "ours.tif")  # also loads the compiled kernels
    assert _agreement(tmp_path / "gdal.tif", tmp_path / "ours.tif", dem) > 0.9999
    benchmark.group = f"viewshed 1 observer {n}x{n}"
    if impl.startswith("gdal"):
        benchmark.pedantic(_gdal, args=(dem, x, y, tmp_path / "gdal.tif"), rounds=5,
                           iterations=1)
    else:
        benchmark.pedantic(_ours, args=(dem, [(x, y)], tmp_path / "ours.tif"), rounds=5,
                           iterations=1)


@pytest.mark.parametrize("impl", ["gdal_viewshed process", "twin viewshed process"])
def test_one_observer_whole_process(benchmark, tmp_path, impl):
    (x, y), = _valid_points(DEM, 1, 0)
    if impl.startswith("gdal"):
        cmd = [GDAL, "-q", "-ox", repr(float(x)), "-oy", repr(float(y)), "-oz", str(EYE),
               str(DEM), str(tmp_path / "v.tif")]
    else:
        cmd = [str(Path(sys.executable).with_name("twin")), "viewshed", str(DEM), "--observer",
               f"{float(x)!r},{float(y)!r}", "--height", str(EYE), "--out",
               str(tmp_path / "v.tif")]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file and kernel caches
    benchmark.group = "viewshed 1 observer 2931x2931, whole process"
    benchmark.pedantic(subprocess.run, args=(cmd,), kwargs={"check": True,
                                                            "capture_output": True},
                       rounds=5, iterations=1)


@pytest.mark.parametrize("impl", ["gdal_viewshed x 100 processes", "twin cumulative"])
def test_hundred_observers(benchmark, tmp_path, impl):
    points = _valid_points(DEM, 100, 20261121)
    benchmark.group = "viewshed 100 observers 2931x2931"
    if impl.startswith("gdal"):
        def run():
            for k, (x, y) in enumerate(points):
                _gdal(DEM, x, y, tmp_path / f"g{k}.tif")
        benchmark.pedantic(run, rounds=1, iterations=1)
        counts = sum((_read(tmp_path / f"g{k}.tif")[0] == 255).astype(np.uint32)
                     for k in range(len(points)))
        ours = tmp_path / "ours.tif"
        _ours(DEM, points, ours)
        z, _, nodata = _read(DEM)
        valid = z != nodata
        # The same counts up to GDAL 3.6's near-field rule, which on a slope hides the
        # downhill neighbours of an observer and shades cells below them (see
        # tests/test_viewshed_gdal.py): 99.8 % of the cells here.
        assert (counts == _read(ours)[0])[valid].mean() > 0.995
    else:
        _ours(DEM, points[:2], tmp_path / "warm.tif")
        benchmark.pedantic(_ours, args=(DEM, points, tmp_path / "ours.tif"), rounds=3,
                           iterations=1)

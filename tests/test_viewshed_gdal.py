"""The viewshed against GDAL's ``gdal_viewshed``: the Delft AHN3 DSM (1 m, 265 x 230 cells) and
the Wuhan DEM (30 m, 2931 x 2931).

Same model on both sides: the DSM is the surface, the eye is ``-oz`` above the DSM at the
observer's cell, a cell is seen when the DSM there plus ``-tz`` reaches the sightline, and the
DSM is lowered by ``cc d^2 / D`` with GDAL's default ``cc`` (0.85714, refraction 1/7) and D
the diameter of the CRS's ellipsoid (Bessel 1841 for RD New).

GDAL 3.6 - 3.8 compare the cells adjacent to the observer (ahead and diagonal) with the
observer's ground height, so on a ground cell slightly higher than its neighbours they are
hidden, and their horizon raised to that height shades a few cells behind them. Our default
sees adjacent cells (as GDAL 3.9+ does); ``near_field="gdal36"`` reproduces the old rule, and
then every cell must agree - which shows that rule is the only difference.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from engine.analysis.viewshed import Observer, ViewshedOptions, earth_radius, grid_viewshed
from engine.kernels.viewshed import viewshed
from tim.model import Grid

GDAL = shutil.which("gdal_viewshed")
pytestmark = pytest.mark.skipif(GDAL is None, reason="gdal_viewshed not installed (Debian "
                                "gdal-bin; 'python3 bootstrap.py test' installs it)")

#: (observer height, target height, max distance, curvature coefficient) per case.
CASES = [(1.7, 0.0, 0.0, None), (2.0, 1.5, 0.0, None), (10.0, 0.0, 90.0, 0.0)]


def _read(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), Grid(src.crs.to_string(), tuple(src.transform)[:6],
                                 (src.height, src.width)), src.nodata


def _observers(twin_data, n=6):
    """Ground cells (DSM within 0.3 m of the DTM: streets, squares, quays), drawn with a seed."""
    folder = twin_data / "city" / "delft_ahn3"
    dsm, grid, _ = _read(folder / "delft_ahn3_dsm_1m.tif")
    dtm, _, _ = _read(folder / "delft_ahn3_dtm_1m.tif")
    ground = np.argwhere(dsm - dtm < 0.3)
    return ground[np.random.default_rng(20261121).choice(len(ground), n, replace=False)]


def _gdal(src, out, x, y, oz, tz, md, cc):
    cmd = [GDAL, "-q", "-ox", repr(x), "-oy", repr(y), "-oz", str(oz), "-tz", str(tz)]
    cmd += ["-md", str(md)] if md else []
    cmd += ["-cc", str(cc)] if cc is not None else []
    subprocess.run([*cmd, str(src), str(out)], check=True, capture_output=True)
    return _read(out)


def test_viewshed_agrees_with_gdal_on_the_delft_dsm(twin_data, tmp_path, artifacts):
    dsm_path = twin_data / "city" / "delft_ahn3" / "delft_ahn3_dsm_1m.tif"
    dsm, grid, nodata = _read(dsm_path)
    a, _, c0, _, e, f0 = grid.transform
    records = []
    for oz, tz, md, cc in CASES:
        for row, col in _observers(twin_data):
            x, y = float(c0 + (col + 0.5) * a), float(f0 + (row + 0.5) * e)
            theirs, window, _ = _gdal(dsm_path, tmp_path / "gdal.tif", x, y, oz, tz, md, cc)
            # With -md GDAL writes only the window around the observer: compare on it.
            r_off = round((window.transform[5] - f0) / e)
            c_off = round((window.transform[2] - c0) / a)
            options = ViewshedOptions(target_height=tz, max_distance=md or np.inf,
                                      curvature=cc != 0.0)
            ours = grid_viewshed(dsm, grid, Observer(x, y, oz), options, nodata=nodata)
            compat = viewshed(dsm, row, col, float(dsm[row, col]) + oz, nodata=nodata,
                              cell_size=grid.cell_size, target_height=tz,
                              max_distance=md or np.inf,
                              curvature_coefficient=0.85714 if cc is None else cc,
                              earth_diameter=2 * earth_radius(grid.crs), near_field="gdal36")
            rows, cols = theirs.shape
            seen_gdal = theirs == 255
            seen_ours = ours[r_off:r_off + rows, c_off:c_off + cols] == 1
            seen_compat = compat[r_off:r_off + rows, c_off:c_off + cols] == 1
            outside = np.ones(ours.shape, bool)
            outside[r_off:r_off + rows, c_off:c_off + cols] = False
            assert (ours[outside] == 255).all()  # out of range
            identical = float((seen_gdal == seen_ours).mean())
            either = seen_gdal | seen_ours
            records.append({"observer": [int(row), int(col)], "oz": oz, "tz": tz, "md": md,
                            "cc": cc,
                            "cells": int(seen_gdal.size), "identical": identical,
                            "differing_cells": int((seen_gdal != seen_ours).sum()),
                            "seen_gdal": int(seen_gdal.sum()), "seen_ours": int(seen_ours.sum()),
                            "jaccard": float((seen_gdal & seen_ours).sum() / either.sum())})
            np.testing.assert_array_equal(seen_compat, seen_gdal)
            # Here the differences are the adjacent cells themselves, which GDAL hides:
            differ = np.argwhere(seen_gdal != seen_ours) + [r_off, c_off]
            assert (np.abs(differ - [row, col]).max(axis=1, initial=0) <= 1).all()
            assert not seen_gdal[seen_gdal != seen_ours].any()
            assert identical >= 0.995, records[-1]
    (artifacts / "viewshed_vs_gdal_delft.json").write_text(json.dumps(records, indent=1))
    worst = min(r["identical"] for r in records)
    assert worst >= 0.995


def test_viewshed_agrees_with_gdal_on_the_hilly_wuhan_dem(twin_data, tmp_path, artifacts):
    """30 m DEM, 2931 x 2931, int16 with nodata -9999 outside the city: hills, so GDAL 3.6's
    near-field rule matters more - an observer on a slope sees its downhill neighbours, which
    GDAL hides, and GDAL's horizon raised to the observer's ground shades cells below them."""
    dem_path = twin_data / "landuse" / "wuhan" / "wh_df_dem.tif"
    dem, grid, nodata = _read(dem_path)
    valid = dem != nodata
    cells = np.argwhere(valid)
    picks = cells[np.random.default_rng(7).choice(len(cells), 8, replace=False)]
    a, _, c0, _, e, f0 = grid.transform
    records = []
    for row, col in picks:
        x, y = float(c0 + (col + 0.5) * a), float(f0 + (row + 0.5) * e)
        theirs, _, _ = _gdal(dem_path, tmp_path / "gdal.tif", x, y, 2.0, 0.0, 0.0, None)
        ours = grid_viewshed(dem, grid, Observer(x, y, 2.0), nodata=nodata)
        compat = viewshed(dem, row, col, float(dem[row, col]) + 2.0, nodata=nodata,
                          cell_size=grid.cell_size, curvature_coefficient=0.85714,
                          earth_diameter=2 * earth_radius(grid.crs), near_field="gdal36")
        # GDAL reads -9999 as a height: those cells are transparent but reported hidden.
        np.testing.assert_array_equal((compat == 1)[valid], (theirs == 255)[valid])
        assert (ours[~valid] == 255).all()
        same = float(((ours == 1) == (theirs == 255))[valid].mean())
        records.append({"observer": [int(row), int(col)], "identical": same,
                        "differing_cells": int(((ours == 1) != (theirs == 255))[valid].sum()),
                        "valid_cells": int(valid.sum())})
        assert same >= 0.995, records[-1]
    (artifacts / "viewshed_vs_gdal_wuhan.json").write_text(json.dumps(records, indent=1))

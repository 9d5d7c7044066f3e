"""Raster sources (GeoTIFF and anything GDAL reads) and their resampling onto the territory grid.

Rules: continuous fields (elevation) are resampled bilinearly, categorical ones (land use) by
nearest neighbour (mode when coarsening), counts (population) by sum so totals are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import CRSError, InputError
from tim.model import Grid, crs_equal

RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".asc", ".img"}


@dataclass(frozen=True)
class RasterSource:
    """One band of a raster file with its georeference."""

    path: Path
    values: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: str
    nodata: float | int | None
    crs_assigned: bool = False  # True when the file declared no CRS and one was assigned

    @property
    def grid(self) -> Grid:
        return Grid(self.crs, self.transform, self.values.shape)


def read_band(path: str | Path) -> tuple[np.ndarray, Any, tuple[float, ...], float | None]:
    """Band 1 of a raster file as it is: ``(values, crs, transform, nodata)`` with the
    file's rasterio CRS (None when it declares none) and its affine transform (6 numbers). A
    missing or unreadable file is an error naming it; what the CRS must be is the caller's
    rule."""
    import rasterio

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", source=path)
    try:
        with rasterio.open(path) as src:
            return src.read(1), src.crs, tuple(src.transform)[:6], src.nodata
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"cannot read as a raster: {exc}", source=path) from exc


def read_raster(path: str | Path, *, crs: str | None = None,
                assume_crs: str | None = None) -> RasterSource:
    """Read band 1 of ``path``.

    ``crs`` is what the user says the file's CRS is (assigned when the file declares none, an
    error when it declares another); ``assume_crs`` is only a fallback for files without one.
    """
    path = Path(path)
    values, file_crs, transform, nodata = read_band(path)
    if file_crs is None:
        crs = crs or assume_crs
        if crs is None:
            raise CRSError("the raster declares no CRS", source=path, field="crs",
                           hint="pass --crs EPSG:xxxx or give 'crs' in the catalog")
        file_crs_text = crs
    else:
        file_crs_text = file_crs.to_string()
        if crs is not None and not crs_equal(file_crs_text, crs):
            raise CRSError(f"the raster declares {file_crs_text} but {crs} was given",
                           source=path, field="crs",
                           hint="drop the CRS override; rasters in another CRS are reprojected")
    if transform[1] != 0 or transform[3] != 0:
        raise InputError("rotated rasters are not supported", source=path, field="transform")
    return RasterSource(path, values, transform, file_crs_text, nodata,
                        crs_assigned=file_crs is None)


#: Physically possible values of the raster fields (low, high, units): a cell outside is a
#: mistake (often an undeclared nodata such as 3.4e38 or -32768) that would poison every
#: slope, flood and indicator computed from it.
VALUE_RANGES = {"terrain__elevation": (-500.0, 9000.0, "m"),
                "surface__elevation": (-500.0, 9500.0, "m"),
                "population__count": (0.0, 1e6, "persons per cell"),
                "land_use__class": (0.0, 255.0, "class code")}


def check_values(source: RasterSource, field: str) -> None:
    """Refuse a raster whose valid cells are none, not finite, or outside the physical range of
    ``field`` (:data:`VALUE_RANGES`); NaN counts as nodata. The message names the file, the
    field, the value and its row and column.

    Examples
    --------
    >>> src = RasterSource(Path("dem.tif"), np.array([[1.0, 3e38]]), (1, 0, 0, 0, -1, 0),
    ...                    "EPSG:3857", None)
    >>> check_values(src, "terrain__elevation")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tim.errors.InputError: dem.tif: terrain__elevation: 3e+38 m at row 0, column 1 is outside [-500, 9000] m ...
    """
    values = source.values
    valid = np.ones(values.shape, dtype=bool)
    if source.nodata is not None:
        valid &= ~((values == source.nodata) | (np.isnan(source.nodata) & np.isnan(values))
                   if values.dtype.kind == "f" else values == source.nodata)
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)
        infinite = valid & np.isinf(values)
        if infinite.any():
            r, c = np.argwhere(infinite)[0]
            raise InputError(f"infinite value at row {r}, column {c}", source=source.path,
                             field=field, value=float(values[r, c]))
    if not valid.any():
        raise InputError("no valid value: every cell is nodata or NaN", source=source.path,
                         field=field, hint=f"nodata = {source.nodata}")
    if field not in VALUE_RANGES:
        return
    low, high, units = VALUE_RANGES[field]
    outside = valid & ((values < low) | (values > high))
    if outside.any():
        r, c = np.argwhere(outside)[0]
        raise InputError(f"{float(values[r, c]):g} {units} at row {r}, column {c} is outside "
                         f"[{low:g}, {high:g}] {units}", source=source.path, field=field,
                         hint="declare the file's nodata value, or correct the cells")


def check_overlap(source: RasterSource, grid: Grid, field: str) -> None:
    """Refuse a raster whose footprint does not meet the territory grid (it would be stored
    as all nodata)."""
    from rasterio.warp import transform_bounds

    try:
        xmin, ymin, xmax, ymax = transform_bounds(source.crs, grid.crs, *source.grid.bounds)
    except Exception as exc:  # noqa: BLE001 - PROJ fails on footprints it cannot project
        raise InputError(f"cannot place the raster in {grid.crs}: {exc}", source=source.path,
                         field=field) from exc
    gxmin, gymin, gxmax, gymax = grid.bounds
    if xmin >= gxmax or xmax <= gxmin or ymin >= gymax or ymax <= gymin:
        raise InputError("the raster does not overlap the territory", source=source.path,
                         field=field, hint=f"raster {xmin:.0f},{ymin:.0f},{xmax:.0f},"
                         f"{ymax:.0f}; territory {gxmin:.0f},{gymin:.0f},{gxmax:.0f},"
                         f"{gymax:.0f} in {grid.crs}")


def grid_for(source: RasterSource, project_crs: str, cell_size: float | None) -> Grid:
    """The territory grid covering ``source``: its own grid when nothing changes, else the grid
    of its footprint in ``project_crs`` at ``cell_size`` (default: the source resolution)."""
    from rasterio.warp import calculate_default_transform

    same_crs = crs_equal(source.crs, project_crs)
    if same_crs and (cell_size is None or cell_size == source.transform[0] == -source.transform[4]):
        return Grid(project_crs, source.transform, source.values.shape)
    rows, cols = source.values.shape
    xmin, ymin, xmax, ymax = source.grid.bounds
    kwargs = {"resolution": cell_size} if cell_size else {}
    transform, width, height = calculate_default_transform(
        source.crs, project_crs, cols, rows, xmin, ymin, xmax, ymax, **kwargs)
    return Grid(project_crs, tuple(transform)[:6], (height, width))


def resample(source: RasterSource, grid: Grid, *, kind: str, dtype: str,
             nodata: float | int | None) -> np.ndarray:
    """``source`` on ``grid``; ``kind`` is ``continuous``, ``categorical`` or ``count``."""
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    if (source.transform == grid.transform and source.values.shape == grid.shape
            and crs_equal(source.crs, grid.crs)):
        out = source.values.astype(dtype, copy=True)
        if source.nodata is not None:  # counts have no nodata: nothing there is 0
            out[source.values == source.nodata] = 0 if nodata is None else nodata
        if kind == "count" and out.dtype.kind == "f":  # NaN (undeclared nodata): no one
            out[np.isnan(out)] = 0
        return out
    coarser = grid.cell_size[0] > abs(source.transform[0]) * 1.5
    method = {"continuous": Resampling.bilinear,
              "categorical": Resampling.mode if coarser else Resampling.nearest,
              "count": Resampling.sum}[kind]
    out = np.full(grid.shape, 0 if nodata is None else nodata, dtype=dtype)
    reproject(source.values, out, src_transform=Affine(*source.transform), src_crs=source.crs,
              src_nodata=source.nodata, dst_transform=Affine(*grid.transform), dst_crs=grid.crs,
              dst_nodata=nodata, resampling=method)
    if kind == "count" and out.dtype.kind == "f":
        out[np.isnan(out)] = 0
    return out

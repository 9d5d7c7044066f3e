"""LAS/LAZ point clouds (laspy, LAZ through lazrs): reading, and what a territory derives from
them.

Reading. Several files of one survey (tiles) are merged into one cloud. The CRS comes from the
header (WKT or GeoTIFF VLR); a header without one needs ``--crs`` (or ``crs`` in the catalog),
and its absence is an error naming the file. Coordinates keep the files' integer grid when all
files share scale and offset, and are re-quantised to the finest scale otherwise.

Derived rasters (on the territory grid; ASPRS classes 2 = ground, 6 = building, 9 = water):

* :func:`ground_elevation` (DTM): per cell, the **lowest** ground or water point; cells without
  such points (under buildings) are filled by linear interpolation between the filled cells'
  centres, and beyond their convex hull by the nearest filled cell (``scipy.interpolate``).
* :func:`surface_elevation` (DSM): per cell, the **highest** point of any class; empty cells
  take the DTM value.
* :func:`roof_heights`: per footprint, the ``lidar_percentile`` (95) of the z of building
  points inside it, minus the median ground elevation (DTM) of the cells whose centres it
  covers; no height when fewer than ``lidar_min_points`` building points fall inside.

These are the rules by which the shared Delft DTM, DSM and footprint heights were made
(``city/delft_ahn3/PROVENANCE.md``), so the tests can check the code against those files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.errors import CRSError, InputError
from tim.geometry3d import PointCloud
from tim.ingest.crs import check_extent, crs_label, horizontal, parse_crs, vertical_datum
from tim.model import Grid

log = logging.getLogger(__name__)

POINT_SUFFIXES = {".las", ".laz"}
GROUND, BUILDING, WATER = 2, 6, 9


@dataclass
class PointSource:
    """A merged cloud in its files' CRS and what is known about that CRS."""

    paths: tuple[Path, ...]
    cloud: PointCloud
    crs: Any  # pyproj CRS as declared (possibly compound) or given
    crs_assigned: bool

    @property
    def vertical_datum(self) -> str | None:
        return vertical_datum(self.crs)


#: Most points read from one file: ~40 bytes each once read, so 2.5e8 points are ~10 GB.
MAX_POINTS = 250_000_000


def check_las_header(path: Path) -> int:
    """Validate a LAS/LAZ public header by hand before laspy reads anything (a file of
    ``LASF`` and garbage made laspy hang, a scale of 0 collapsed every point onto the offset);
    returns the point count.

    Checked: signature, version 1.0-1.4, header size and point-data offset within the file,
    VLR count that fits between them, point format 0-10, finite positive scales (at most 1000)
    and finite offsets and bounds, a point count within :data:`MAX_POINTS` and, for an
    uncompressed file, within the file's size.
    """
    import struct

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(375)

    def bad(problem: str, field: str, value: Any = None) -> InputError:
        return InputError(problem, source=path, field=f"LAS header {field}", value=value)

    if len(head) < 227 or head[:4] != b"LASF":
        raise bad("not a LAS/LAZ file (no LASF header)", "signature", head[:4])
    major, minor = head[24], head[25]
    if major != 1 or minor > 4:
        raise bad("unsupported LAS version", "version", f"{major}.{minor}")
    header_size, point_offset, n_vlrs = struct.unpack_from("<HII", head, 94)
    fmt_byte, record_length, legacy_count = struct.unpack_from("<BHI", head, 104)
    if not 227 <= header_size <= min(size, 375 + 4096):
        raise bad("header size out of range", "header_size", header_size)
    if not header_size <= point_offset <= size:
        raise bad("offset to point data outside the file", "offset_to_point_data",
                  point_offset)
    if n_vlrs * 54 > point_offset - header_size:
        raise bad("more VLRs than fit before the point data", "number_of_vlrs", n_vlrs)
    point_format = fmt_byte & 0x3F
    if point_format > 10:
        raise bad("unknown point format", "point_format", point_format)
    scales = struct.unpack_from("<3d", head, 131)
    offsets = struct.unpack_from("<3d", head, 155)
    bounds = struct.unpack_from("<6d", head, 179)
    if not all(math.isfinite(v) and 0 < v <= 1000 for v in scales):
        raise bad("scales must be finite, > 0 and <= 1000 (0 puts every point on the offset)",
                  "scale", scales)
    if not all(math.isfinite(v) for v in (*offsets, *bounds)):
        raise bad("offsets and bounds must be finite", "offset/bounds", (*offsets, *bounds))
    count = legacy_count
    if minor >= 4 and len(head) >= 255 and header_size >= 375:
        count = max(count, struct.unpack_from("<Q", head, 247)[0])
    if count > MAX_POINTS:
        raise bad(f"more than {MAX_POINTS:,} points", "point_count", count)
    compressed = bool(fmt_byte & 0x80)
    if not compressed and record_length and point_offset + count * record_length > size:
        raise bad("the file is shorter than its points (truncated?)", "point_count", count)
    return count


def read_points(paths: Sequence[str | Path], *, crs: str | None = None,
                assume_crs: str | None = None) -> PointSource:
    """Read and merge LAS/LAZ files (module doc)."""
    import laspy

    paths = tuple(Path(p) for p in paths)
    parts, crss, assigned = [], [], False
    for path in paths:
        if not path.is_file():
            raise InputError("file not found", source=path)
        check_las_header(path)
        try:
            las = laspy.read(str(path))
            file_crs = las.header.parse_crs()
        except Exception as exc:  # laspy raises LaspyException, lazrs its own errors
            raise InputError(f"cannot read as LAS/LAZ: {exc}", source=path) from exc
        if file_crs is None:
            if crs is None and assume_crs is None:
                raise CRSError("the LAS header declares no CRS (no WKT or GeoTIFF VLR)",
                               source=path, field="crs",
                               hint="pass --crs EPSG:xxxx (e.g. EPSG:28992 for AHN) or give "
                                    "'crs' in the catalog")
            file_crs, assigned = parse_crs(crs or assume_crs, source=path), True
        elif crs is not None and not parse_crs(crs).equals(file_crs, ignore_axis_order=True):
            raise CRSError(f"the file declares {crs_label(file_crs)} but {crs} was given",
                           source=path, field="crs", hint="drop the CRS override")
        if len(las.points) == 0:
            raise InputError("the file holds no points", source=path)
        lo, hi = np.asarray(las.header.mins), np.asarray(las.header.maxs)
        check_extent(file_crs, np.array([lo[0], hi[0]]), np.array([lo[1], hi[1]]),
                     source=path, labels=lambda i: "the header's bounding box")
        parts.append(las)
        crss.append(file_crs)
    for path, other in zip(paths[1:], crss[1:]):
        if not horizontal(other).equals(horizontal(crss[0]), ignore_axis_order=True):
            raise CRSError(f"the files of one point cloud must share a CRS: {crs_label(other)} "
                           f"vs {crs_label(crss[0])} in {paths[0]}", source=path, field="crs")
    return PointSource(paths, _merge(parts, crs_label(horizontal(crss[0]))), crss[0], assigned)


def _merge(parts: list[Any], crs: str) -> PointCloud:
    scales = {tuple(p.header.scales) for p in parts}
    offsets = {tuple(p.header.offsets) for p in parts}
    classification = np.concatenate([np.asarray(p.classification, np.uint8) for p in parts])
    intensity = np.concatenate([np.asarray(p.intensity, np.uint16) for p in parts])
    if len(scales) == 1 and len(offsets) == 1:
        ints = np.concatenate([np.column_stack([p.X, p.Y, p.Z]) for p in parts])
        return PointCloud(ints.astype(np.int32), tuple(float(v) for v in next(iter(scales))),
                          tuple(float(v) for v in next(iter(offsets))), classification, crs,
                          intensity)
    xyz = np.concatenate([np.column_stack([p.x, p.y, p.z]) for p in parts])
    return PointCloud.from_xyz(xyz, classification, crs, intensity,
                               scale=min(min(s) for s in scales))


def to_crs(cloud: PointCloud, crs: str) -> PointCloud:
    """The cloud in another horizontal CRS (x, y transformed; z kept in its datum)."""
    from pyproj import Transformer

    if horizontal(cloud.crs).equals(horizontal(crs), ignore_axis_order=True):
        return PointCloud(cloud.ints, cloud.scale, cloud.offset, cloud.classification, crs,
                          cloud.intensity)
    xyz = cloud.xyz
    x, y = Transformer.from_crs(horizontal(cloud.crs), horizontal(crs),
                                always_xy=True).transform(xyz[:, 0], xyz[:, 1])
    return PointCloud.from_xyz(np.column_stack([x, y, xyz[:, 2]]), cloud.classification, crs,
                               cloud.intensity, scale=min(cloud.scale))


def _reduce(grid: Grid, xyz: np.ndarray, op: Any, fill: float) -> np.ndarray:
    cell = grid.cell_index(xyz[:, 0], xyz[:, 1])
    inside = cell >= 0
    out = np.full(grid.shape[0] * grid.shape[1], fill)
    op.at(out, cell[inside], xyz[inside, 2])
    return out.reshape(grid.shape)


def ground_elevation(cloud: PointCloud, grid: Grid) -> np.ndarray:
    """DTM on ``grid`` from ground and water points (module doc); NaN only without any."""
    from scipy.interpolate import griddata

    ground = np.isin(cloud.classification, (GROUND, WATER))
    if not ground.any():
        raise InputError("the point cloud has no ground (2) or water (9) points to make a DTM",
                         field="classification")
    z = _reduce(grid, cloud.xyz[ground], np.minimum, np.inf)
    empty = ~np.isfinite(z)
    if empty.any() and (~empty).sum() >= 3:
        xc, yc = grid.cell_centres()
        xx, yy = np.meshgrid(xc, yc)
        known = (xx[~empty], yy[~empty])
        filled = griddata(known, z[~empty], (xx[empty], yy[empty]), method="linear")
        still = ~np.isfinite(filled)
        if still.any():
            filled[still] = griddata(known, z[~empty], (xx[empty][still], yy[empty][still]),
                                     method="nearest")
        z[empty] = filled
    z[~np.isfinite(z)] = np.nan
    return z.astype(np.float32)


def surface_elevation(cloud: PointCloud, grid: Grid, dtm: np.ndarray) -> np.ndarray:
    """DSM on ``grid``: highest point per cell, the DTM where a cell has no point."""
    z = _reduce(grid, cloud.xyz, np.maximum, -np.inf)
    return np.where(np.isfinite(z), z, dtm).astype(np.float32)


def roof_heights(cloud: PointCloud, footprints: np.ndarray, grid: Grid, dtm: np.ndarray, *,
                 percentile: float = 95.0, min_points: int = 10) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """Roof height above ground and building-point count of each footprint (module doc).

    Returns
    -------
    height : ndarray of float
        NaN where fewer than ``min_points`` building points fall inside or the footprint
        covers no DTM cell centre with data.
    count : ndarray of int
    """
    import shapely
    from affine import Affine
    from rasterio.features import rasterize
    from scipy import ndimage

    footprints = np.asarray(footprints, dtype=object)
    n = len(footprints)
    building = cloud.subset(cloud.classification == BUILDING)
    xyz = building.xyz
    tree = shapely.STRtree(footprints)
    point_index, owner = tree.query(shapely.points(xyz[:, :2]), predicate="within")
    count = np.bincount(owner, minlength=n)
    order = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[order], np.arange(n + 1))
    z_sorted = xyz[point_index[order], 2]
    roof = np.full(n, np.nan)
    for k in np.flatnonzero(count >= min_points):
        roof[k] = np.percentile(z_sorted[starts[k]:starts[k + 1]], percentile)
    labels = rasterize(zip(footprints, range(1, n + 1)), out_shape=grid.shape,
                       transform=Affine(*grid.transform), fill=0, dtype="int32")
    valid = np.isfinite(dtm)
    ground = np.asarray(ndimage.median(np.where(valid, dtm, 0.0), np.where(valid, labels, 0),
                                       np.arange(1, n + 1)), dtype=float)
    has_cells = np.bincount(labels[valid].ravel(), minlength=n + 1)[1:] > 0
    ground[~has_cells] = np.nan
    return roof - ground, count

"""Viewsheds on a raster surface: which cells an observer sees, from one or many observers.

The algorithm is the reference-plane sweep of Wang, Robinson & White (2000), "Generating
viewsheds without using sightlines", *Photogrammetric Engineering & Remote Sensing* 66(1):
87-90 - the method ``gdal_viewshed`` implements, in its default "edge" variant. Cells are visited
outwards from the observer, row by row; each cell's *horizon* (the lowest height at which
something there would still be visible) is extrapolated from the horizons of the two cells the
sightline crosses on the way in (the previous row, or the previous cell of the same row when the
line is flatter than 45 degrees), along the plane through the observer's eye and those two cells.
A cell is visible when its surface plus the target height reaches its horizon; its own horizon is
then the higher of the two. One pass is O(n) with two rows of state, against O(n^1.5) for a
line of sight to every cell (R3), which the sweep approximates.

Earth curvature and refraction lower a cell at distance d by ``cc * d**2 / D``, with D the
earth's diameter and ``cc = 1 - k`` for a refraction coefficient k (``gdal_viewshed -cc``; 6/7
for visible light, 1 without refraction, 0 for a flat earth).

Cells adjacent to the observer are always visible and keep their own height as horizon (as GDAL
does since 3.9). ``near_field="gdal36"`` reproduces GDAL 3.6 - 3.8 instead, which compares the
three adjacent cells ahead of and diagonal to the observer in each direction with the
observer's *ground* height, hiding those lower than it and raising their horizon to it; it
exists to validate this kernel cell for cell against those GDAL versions.

Nodata cells (NaN, or the ``nodata`` value) are transparent: never visible, never in the way.

The four quadrants around the observer's row and column are independent once those two axes
are known, so one observer runs on up to four threads; many observers run one per thread, each
thread adding into its own count grid (integer sums, so any thread count gives the same result).
"""

from __future__ import annotations

import numpy as np

from engine._numba import jit, parallel_jit, prange

#: Output codes of a single viewshed.
HIDDEN, VISIBLE, NO_DATA = 0, 1, 255
#: Near-field rules: the adjacent cells are visible (modern GDAL), or GDAL 3.6 - 3.8's rule.
NEAR_FIELD = ("visible", "gdal36")


@jit
def _visit(value, nodata, drop, r, c, zline, tz, out, add):
    """Record the visibility of cell (r, c) - surface ``value`` minus ``drop`` (eye height plus
    curvature drop: heights are taken relative to the eye) - against the sightline height
    ``zline``, and return the cell's horizon. Nodata cells are transparent."""
    z = np.float64(value)
    if z != z or z == nodata:
        if not add:
            out[r, c] = 255
        return zline
    z -= drop
    visible = z + tz >= zline
    if add:
        if visible:
            out[r, c] += 1
    else:
        out[r, c] = 1 if visible else 0
    return z if z > zline else zline


@jit
def _row_axis(surface, nodata, r0, c0, zo, tz, sqx, dropx, inv, md2, sc, horizon, out, add):
    """The observer's own row on one side (sc = -1 left, +1 right): fills ``horizon[0..]``
    (index = offset from the observer; heights relative to the eye)."""
    cols = surface.shape[1]
    n = c0 if sc < 0 else cols - 1 - c0
    horizon[0] = np.float64(surface[r0, c0]) - zo
    for i in range(1, n + 1):
        if sqx[i] > md2:  # beyond the maximum distance, and so is the rest of the row
            return
        if i == 1:
            zline = -np.inf  # adjacent: visible whatever its height
        else:  # on the line from the eye through the previous horizon
            zline = horizon[i - 1] * i * inv[i - 1]
        c = c0 + sc * i
        horizon[i] = _visit(surface[r0, c], nodata, zo + dropx[i], r0, c, zline, tz, out, add)


@jit
def _quadrant(surface, nodata, r0, c0, zo, tz, sqx, sqy, dropx, dropy, inv, md2, sr, sc,
              gdal36, row_horizon, write_axis, out, add):
    """One quadrant (sr, sc in {-1, +1}) plus the observer's column on its side; the column is
    written to ``out`` only when ``write_axis`` (two quadrants share it)."""
    rows, cols = surface.shape
    ni = c0 if sc < 0 else cols - 1 - c0
    nj = r0 if sr < 0 else rows - 1 - r0
    prev = row_horizon[:ni + 1].copy()
    cur = np.empty(ni + 1)
    ground = np.float64(surface[r0, c0]) - zo  # GDAL 3.6's near-field reference
    scratch = np.zeros((1, 1), dtype=out.dtype)  # the shared column's duplicate goes here
    for j in range(1, nj + 1):
        r = r0 + sr * j
        if sqy[j] > md2:
            return
        if j == 1:
            zline = ground if gdal36 else -np.inf
        else:
            zline = prev[0] * j * inv[j - 1]
        if write_axis:
            cur[0] = _visit(surface[r, c0], nodata, zo + dropy[j], r, c0, zline, tz, out, add)
        else:
            cur[0] = _visit(surface[r, c0], nodata, zo + dropy[j], 0, 0, zline, tz, scratch,
                            add)
        for i in range(1, ni + 1):
            if sqx[i] + sqy[j] > md2:
                break
            if i > j:  # the sightline crosses column i - 1 between rows j - 1 and j
                zline = (prev[i - 1] * j + cur[i - 1] * (i - j)) * inv[i - 1]
            elif i == j:  # it passes through the corner of the diagonal neighbour
                if i == 1:
                    zline = ground if gdal36 else -np.inf
                else:  # (a separate case: a -inf horizon times a zero weight is NaN)
                    zline = prev[i - 1] * i * inv[i - 1]
            else:  # it crosses row j - 1 between columns i - 1 and i
                zline = (prev[i - 1] * i + prev[i] * (j - i)) * inv[j - 1]
            c = c0 + sc * i
            cur[i] = _visit(surface[r, c], nodata, zo + (dropx[i] + dropy[j]), r, c, zline,
                            tz, out, add)
        prev, cur = cur, prev


@jit
def _tables(n, step, cc, diameter):
    """Squared distance (k step)^2 and curvature drop cc (k step)^2 / D for offsets 0..n."""
    k = np.arange(n + 1) * step
    sq = k * k
    return sq, cc * sq / diameter


@jit
def _setup(surface, nodata, r0, c0, zo, tz, w, h, cc, diameter, md2, out, add):
    """Distance and curvature tables, 1/k, and the observer's cell and row (both sides)."""
    rows, cols = surface.shape
    sqx, dropx = _tables(cols, w, cc, diameter)
    sqy, dropy = _tables(rows, h, cc, diameter)
    inv = 1.0 / np.maximum(np.arange(max(rows, cols) + 1), 1.0)
    left = np.empty(c0 + 1)
    right = np.empty(cols - c0)
    _visit(surface[r0, c0], nodata, zo, r0, c0, -np.inf, tz, out, add)
    _row_axis(surface, nodata, r0, c0, zo, tz, sqx, dropx, inv, md2, -1, left, out, add)
    _row_axis(surface, nodata, r0, c0, zo, tz, sqx, dropx, inv, md2, 1, right, out, add)
    return sqx, sqy, dropx, dropy, inv, left, right


@parallel_jit
def _single(surface, nodata, r0, c0, zo, tz, w, h, cc, diameter, md2, gdal36, out):
    sqx, sqy, dropx, dropy, inv, left, right = _setup(surface, nodata, r0, c0, zo, tz, w, h,
                                                      cc, diameter, md2, out, False)
    for q in prange(4):  # quadrants write disjoint cells; each shared column once
        sr = -1 if q < 2 else 1
        sc = -1 if q % 2 == 0 else 1
        _quadrant(surface, nodata, r0, c0, zo, tz, sqx, sqy, dropx, dropy, inv, md2, sr, sc,
                  gdal36, left if sc < 0 else right, sc > 0, out, False)


@parallel_jit
def _many(surface, nodata, rows, cols, zos, tz, w, h, cc, diameter, md2, gdal36, partial):
    n_parts = partial.shape[0]
    for p in prange(n_parts):  # each part owns its count grid; its observers run in turn
        out = partial[p]
        for k in range(p, len(rows), n_parts):
            sqx, sqy, dropx, dropy, inv, left, right = _setup(
                surface, nodata, rows[k], cols[k], zos[k], tz, w, h, cc, diameter, md2, out,
                True)
            for q in range(4):
                sr = -1 if q < 2 else 1
                sc = -1 if q % 2 == 0 else 1
                _quadrant(surface, nodata, rows[k], cols[k], zos[k], tz, sqx, sqy, dropx, dropy,
                          inv, md2, sr, sc, gdal36, left if sc < 0 else right, sc > 0, out,
                          True)


def _check(surface: np.ndarray, rows: np.ndarray, cols: np.ndarray, zs: np.ndarray,
           nodata: float | None, cell_size: tuple[float, float], curvature_coefficient: float,
           earth_diameter: float, near_field: str) -> tuple[np.ndarray, float]:
    """Validated arguments: a C-contiguous numeric surface and the nodata value as a float."""
    surface = np.ascontiguousarray(surface)
    if surface.ndim != 2 or surface.dtype.kind not in "iuf":
        raise ValueError(f"surface must be a 2-D numeric array, got {surface.dtype} "
                         f"{surface.shape}")
    if min(cell_size) <= 0:
        raise ValueError(f"cell size must be positive, got {cell_size}")
    if not 0.0 <= curvature_coefficient <= 1.0:
        raise ValueError(f"curvature coefficient must be in [0, 1], got {curvature_coefficient}")
    if earth_diameter <= 0:
        raise ValueError(f"earth diameter must be positive, got {earth_diameter}")
    if near_field not in NEAR_FIELD:
        raise ValueError(f"near_field must be one of {NEAR_FIELD}, got {near_field!r}")
    inside = (rows >= 0) & (rows < surface.shape[0]) & (cols >= 0) & (cols < surface.shape[1])
    if not inside.all():
        k = int(np.flatnonzero(~inside)[0])
        raise ValueError(f"observer {k} at cell ({rows[k]}, {cols[k]}) is off the grid "
                         f"{surface.shape}")
    if not np.isfinite(zs).all():
        raise ValueError("observer heights must be finite")
    nodata = np.nan if nodata is None else float(nodata)
    under = surface[rows, cols].astype(np.float64)
    missing = np.isnan(under) | (under == nodata)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise ValueError(f"observer {k} stands on a nodata cell ({rows[k]}, {cols[k]})")
    return surface, nodata


def viewshed(surface: np.ndarray, row: int, col: int, observer_z: float, *,
             nodata: float | None = None, cell_size: tuple[float, float] = (1.0, 1.0),
             target_height: float = 0.0, max_distance: float = np.inf,
             curvature_coefficient: float = 0.0, earth_diameter: float = 2 * 6_378_137.0,
             near_field: str = "visible") -> np.ndarray:
    """Visibility of every cell from one observer: 1 visible, 0 hidden, 255 nodata/out of range.

    Parameters
    ----------
    surface : (rows, cols) numeric array
        Surface heights (a DSM: ground plus buildings and trees); NaN is always nodata.
    row, col : the observer's cell.
    observer_z : absolute height of the observer's eye (surface at its cell + eye height).
    nodata : a surface value that means "no data", besides NaN.
    cell_size : (width, height) of a cell in metres.
    target_height : height above the surface at which a cell counts as seen.
    max_distance : cells farther than this (centre to centre, m) are out of range.
    curvature_coefficient : ``1 - k`` for a refraction coefficient k; 0 for a flat earth.
    earth_diameter : metres (default: twice the WGS 84 semi-major axis).
    near_field : ``"visible"`` or ``"gdal36"`` (see the module docstring).

    Examples
    --------
    A 10 m wall two cells east of an eye at 2 m hides the ground behind it:

    >>> z = np.zeros((1, 8)); z[0, 3] = 10.0
    >>> viewshed(z, 0, 1, 2.0).tolist()
    [[1, 1, 1, 1, 0, 0, 0, 0]]
    """
    rows, cols, zs = np.array([row]), np.array([col]), np.array([observer_z], dtype=float)
    surface, nodata = _check(surface, rows, cols, zs, nodata, cell_size, curvature_coefficient,
                             earth_diameter, near_field)
    out = np.full(surface.shape, NO_DATA, dtype=np.uint8)
    _single(surface, nodata, int(row), int(col), float(observer_z), float(target_height),
            float(cell_size[0]), float(cell_size[1]), float(curvature_coefficient),
            float(earth_diameter), float(max_distance) ** 2, near_field == "gdal36", out)
    return out


def cumulative_viewshed(surface: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                        observer_z: np.ndarray, *, nodata: float | None = None,
                        cell_size: tuple[float, float] = (1.0, 1.0), target_height: float = 0.0,
                        max_distance: float = np.inf, curvature_coefficient: float = 0.0,
                        earth_diameter: float = 2 * 6_378_137.0,
                        near_field: str = "visible") -> np.ndarray:
    """How many observers see each cell (uint32); parameters as :func:`viewshed`, with one row,
    column and eye height per observer. Nodata cells count 0.

    Examples
    --------
    >>> z = np.zeros((1, 8)); z[0, 3] = 10.0
    >>> cumulative_viewshed(z, [0, 0], [1, 6], [2.0, 2.0]).tolist()
    [[1, 1, 1, 2, 1, 1, 1, 1]]
    """
    import numba

    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    zs = np.asarray(observer_z, dtype=np.float64).ravel()
    if not len(rows) == len(cols) == len(zs) or len(rows) == 0:
        raise ValueError("give one row, column and height per observer, at least one")
    surface, nodata = _check(surface, rows, cols, zs, nodata, cell_size, curvature_coefficient,
                             earth_diameter, near_field)
    n_parts = max(1, min(numba.get_num_threads(), len(rows)))
    # Half the memory traffic while no part can count past 65535 observers.
    small = -(-len(rows) // n_parts) <= np.iinfo(np.uint16).max
    partial = np.zeros((n_parts, *surface.shape), dtype=np.uint16 if small else np.uint32)
    _many(surface, nodata, rows, cols, zs, float(target_height), float(cell_size[0]),
          float(cell_size[1]), float(curvature_coefficient), float(earth_diameter),
          float(max_distance) ** 2, near_field == "gdal36", partial)
    return partial.sum(axis=0, dtype=np.uint32)

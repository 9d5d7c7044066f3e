"""Georeferencing for 3D Tiles: one local east-north-up (ENU) frame per territory.

Every tileset of a territory (buildings, terrain, meshes) stores vertex positions as float32 in
one local ENU frame whose origin is the territory's centre on the ground, and carries a single
ENU->ECEF (EPSG:4978) ``transform`` on its root tile. float32 keeps about 0.25 mm resolution at
3 km from the origin, where ECEF coordinates (millions of metres) in float32 would be off by
decimetres. (Point clouds are written by py3dtiles in its own frame, see tim.tiles.points.)

Heights: vertex heights are the territory's heights (``terrain__elevation`` + building height)
**treated as WGS 84 ellipsoidal heights**: x, y go through the CRS's datum transformation to
WGS 84 and z is the height along the WGS 84 ellipsoid's normal (:meth:`LocalFrame.to_ecef`);
py3dtiles places point clouds the same way, to millimetres. Deliberately not
``CRS.to_3d()``, which would read z as a height above the projected CRS's own ellipsoid: for RD
New that is the Bessel ellipsoid, about 43.6 m below WGS 84's at Delft, a silent shift that
would also separate the meshes from py3dtiles' points. No geoid model is applied, so the
city floats or sinks by the local geoid undulation (tens of metres in places); the datum the
heights really refer to is recorded in every tileset's ``asset.extras`` so a client, or a later
geoid correction, knows. An explicit, recorded setting can add a constant geoid height N
(ellipsoidal h = H + N; about 43 m for NAP at Scheveningen, see the Den Haag PROVENANCE): it is
the user's number for the place, written to ``asset.extras.geoidHeight``, never a silent fix.
Horizontal placement is exact: pyproj converts the projected CRS to ECEF.

glTF is Y-up and 3D Tiles 1.0 clients rotate every b3dm's glTF from Y-up to Z-up (+90 degrees
about X) before applying the tile transform. Vertices are stored in the ENU frame itself and the
glTF node carries :data:`Z_UP_TO_Y_UP`, which that client-side rotation exactly undoes, so a
vertex read from the glTF and the tile bounding boxes are in the same ENU frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tim.model import Grid, Territory

#: glTF node matrix (row-major here) mapping ENU (x east, y north, z up) to glTF's Y-up axes:
#: (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, 1.0, 0.0],
                         [0.0, -1.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 1.0]])

#: What a 3D Tiles 1.0 client applies to glTF content (CesiumJS ``Axis.Y_UP_TO_Z_UP``):
#: +90 degrees about X, (x, y, z) -> (x, -z, y). The inverse of :data:`Z_UP_TO_Y_UP`.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0, 0.0],
                         [0.0, 0.0, -1.0, 0.0],
                         [0.0, 1.0, 0.0, 0.0],
                         [0.0, 0.0, 0.0, 1.0]])

ECEF = "EPSG:4978"
#: From this many points, the projection runs in one thread per CPU.
_THREADED_FROM = 500_000
GEOGRAPHIC_3D = "EPSG:4979"


def sample_bilinear(grid: Grid, values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a cell field at points, NaN-aware.

    Values sit at cell centres. Points beyond the outermost centres take the edge values
    (clamped). Nodata (NaN) neighbours are left out and the remaining weights renormalised, so
    one missing cell does not blank its four neighbourhoods; a point whose four neighbours are
    all NaN gets NaN.

    Parameters
    ----------
    grid : Grid
        The grid ``values`` lives on.
    values : ndarray, shape ``grid.shape``
        The field.
    x, y : ndarray
        Point coordinates in the grid's CRS.

    Returns
    -------
    ndarray of float64, the shape of ``x``.

    Examples
    --------
    >>> g = Grid("EPSG:4548", (10.0, 0.0, 0.0, 0.0, -10.0, 20.0), (2, 2))
    >>> v = np.array([[0.0, 10.0], [20.0, 30.0]])
    >>> sample_bilinear(g, v, np.array([10.0]), np.array([10.0]))
    array([15.])
    """
    a, _, c, _, e, f = grid.transform
    rows, cols = grid.shape
    col = np.clip((np.asarray(x, dtype=float) - c) / a - 0.5, 0.0, cols - 1.0)
    row = np.clip((np.asarray(y, dtype=float) - f) / e - 0.5, 0.0, rows - 1.0)
    c0 = np.minimum(np.floor(col).astype(np.int64), max(cols - 2, 0))
    r0 = np.minimum(np.floor(row).astype(np.int64), max(rows - 2, 0))
    c1, r1 = np.minimum(c0 + 1, cols - 1), np.minimum(r0 + 1, rows - 1)
    wc, wr = col - c0, row - r0
    total = np.zeros(col.shape)
    weight = np.zeros(col.shape)
    for rr, cc, w in ((r0, c0, (1 - wr) * (1 - wc)), (r0, c1, (1 - wr) * wc),
                      (r1, c0, wr * (1 - wc)), (r1, c1, wr * wc)):
        v = values[rr, cc].astype(float)
        ok = np.isfinite(v)
        total += np.where(ok, v * w, 0.0)
        weight += np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / weight  # 0 / 0 -> NaN where all four neighbours are missing


def ground_elevation(territory: Territory, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``terrain__elevation`` sampled bilinearly at points; zeros when the territory has none."""
    if "terrain__elevation" not in territory.fields:
        return np.zeros(np.shape(x))
    return sample_bilinear(territory.grid, territory.fields["terrain__elevation"], x, y)


def enu_to_ecef_matrix(lon_deg: float, lat_deg: float, origin_ecef: np.ndarray) -> np.ndarray:
    """The 4x4 (row-major) matrix taking local ENU coordinates at a point to ECEF.

    Columns are the east, north and up unit vectors in ECEF (geodetic up, normal to the
    ellipsoid), then the origin.
    """
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    m = np.identity(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = east, north, up, origin_ecef
    return m


@dataclass(frozen=True)
class LocalFrame:
    """A territory's local ENU frame: where its origin is and how to get points into it.

    Attributes
    ----------
    crs : str
        The territory's projected CRS; input coordinates are in it.
    origin_projected : tuple of float
        The origin (x, y, height) in ``crs``; the height is treated as ellipsoidal.
    origin_lonlat : tuple of float
        The origin as longitude, latitude (degrees) and ellipsoidal height (m).
    vertical_datum : str
        What the territory's heights really refer to (recorded, not converted).
    geoid_height : float
        Constant N added to every territory height to place it as ellipsoidal (0: none).
    """

    crs: str
    origin_projected: tuple[float, float, float]
    origin_lonlat: tuple[float, float, float]
    vertical_datum: str
    geoid_height: float = 0.0

    @cached_property
    def _to_ecef(self) -> Any:
        from pyproj import CRS, Transformer

        # A 2D source CRS: pyproj passes the third coordinate through as the WGS 84
        # ellipsoidal height (see the module doc on why not to_3d()).
        return Transformer.from_crs(CRS.from_user_input(self.crs), ECEF, always_xy=True)

    @cached_property
    def origin_ecef(self) -> np.ndarray:
        return self.to_ecef(np.array([self.origin_projected]))[0]

    @cached_property
    def enu_to_ecef(self) -> np.ndarray:
        """4x4 row-major ENU->ECEF matrix (the tileset root ``transform``)."""
        lon, lat, _ = self.origin_lonlat
        return enu_to_ecef_matrix(lon, lat, self.origin_ecef)

    @property
    def transform_column_major(self) -> tuple[float, ...]:
        """:attr:`enu_to_ecef` as the 16 numbers of a 3D Tiles ``transform`` (column-major)."""
        return tuple(float(v) for v in self.enu_to_ecef.flatten(order="F"))

    def _ellipsoid_and_normal(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ECEF of the ellipsoid point under each (x, y) (pyproj) and the unit normal there."""
        from pyproj import CRS, Transformer

        ellipsoid = CRS.from_user_input(ECEF).ellipsoid
        e2 = 1.0 - (ellipsoid.semi_minor_metre / ellipsoid.semi_major_metre) ** 2
        if len(xy) == 1:  # pyproj takes one-element arrays for scalars (and warns)
            on_ellipsoid = np.array([self._to_ecef.transform(float(xy[0, 0]), float(xy[0, 1]),
                                                             0.0)])
        elif len(xy) < _THREADED_FROM:
            on_ellipsoid = np.column_stack(self._to_ecef.transform(xy[:, 0], xy[:, 1],
                                                                   np.zeros(len(xy))))
        else:  # PROJ releases the GIL: one transformer per thread, one slice each
            from concurrent.futures import ThreadPoolExecutor

            on_ellipsoid = np.empty((len(xy), 3))
            bounds = np.linspace(0, len(xy), len(os.sched_getaffinity(0)) + 1).astype(int)

            def transform(lo: int, hi: int) -> None:
                own = Transformer.from_crs(CRS.from_user_input(self.crs), ECEF, always_xy=True)
                on_ellipsoid[lo:hi] = np.column_stack(own.transform(
                    xy[lo:hi, 0], xy[lo:hi, 1], np.zeros(hi - lo)))

            with ThreadPoolExecutor(len(bounds) - 1) as pool:
                list(pool.map(transform, bounds[:-1], bounds[1:]))
        normal = on_ellipsoid * np.array([1.0, 1.0, 1.0 / (1.0 - e2)])
        return on_ellipsoid, normal / np.linalg.norm(normal, axis=1, keepdims=True)

    def to_ecef(self, xyz: np.ndarray) -> np.ndarray:
        """Projected (x, y, territory height) -> ECEF, float64, shape (n, 3).

        Geodetic coordinates split exactly: ECEF(x, y, h) = P0(x, y) + h n(x, y), with P0 the
        point on the WGS 84 ellipsoid under (x, y) (pyproj: the CRS's datum transformation
        and projection) and n the ellipsoid's unit normal there, (X, Y, Z / (1 - e^2))
        normalised; h is the territory height plus the geoid height. (pyproj's own 2D -> ECEF
        pipeline moves a height along the source datum's ellipsoid normal before its datum
        shift: for RD New that differs by up to 5 mm at 300 m, which is why heights are added
        here, explicitly, along WGS 84's.)
        """
        xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
        on_ellipsoid, normal = self._ellipsoid_and_normal(xyz[:, :2])
        return on_ellipsoid + (xyz[:, 2:3] + self.geoid_height) * normal

    def to_local(self, xyz: np.ndarray) -> np.ndarray:
        """Projected (x, y, territory height) -> local ENU metres, float64, shape (n, 3).

        Exact (:meth:`to_ecef`, then the inverse rigid ENU rotation), so the local frame has no
        projection distortion: the tileset transform brings each vertex back to its true ECEF
        position.
        """
        rotation = self.enu_to_ecef[:3, :3]
        return (self.to_ecef(xyz) - self.origin_ecef) @ rotation

    def to_local_indexed(self, xy: np.ndarray, index: np.ndarray,
                         z: np.ndarray) -> np.ndarray:
        """:meth:`to_local` of the points ``(xy[index], z)``, each xy georeferenced once.

        A footprint point carrying a wall's foot and top and roof and floor corners is
        transformed once (P0 and n of :meth:`to_ecef`) and every vertex costs an addition:
        the same result as :meth:`to_local`, several times faster for extruded buildings.
        """
        base, up, _ = self.point_basis(xy)
        height = np.asarray(z, dtype=float) + self.geoid_height
        return base[index] + height[:, None] * up[index]

    def point_basis(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each projected (x, y): its local position at ellipsoidal height 0, its local
        up vector (the point at placed height h is ``ground + h * up``, :meth:`to_ecef`) and
        its ECEF point on the ellipsoid (:func:`ecef_lonlat` gives its longitude, latitude)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        on_ellipsoid, normal = self._ellipsoid_and_normal(xy)
        rotation = np.ascontiguousarray(self.enu_to_ecef[:3, :3])  # (a strided one is slow)
        return (on_ellipsoid - self.origin_ecef) @ rotation, normal @ rotation, on_ellipsoid


def local_frame(territory: Territory, geoid_height: float = 0.0) -> LocalFrame:
    """The territory's ENU frame: origin at the grid centre, on the ground.

    The origin height is ``terrain__elevation`` sampled bilinearly at the grid centre (0 without
    an elevation field or when the centre has no data). It only anchors the frame; any nearby
    height would do, the ground keeps local heights small.

    Examples
    --------
    >>> from tim.classes import DEFAULT_CLASSES
    >>> t = Territory(Grid("EPSG:4548", (25.0, 0, 510000.0, 0, -25.0, 2710000.0), (240, 240)),
    ...               DEFAULT_CLASSES)
    >>> frame = local_frame(t)
    >>> [round(v, 3) for v in frame.origin_lonlat]
    [117.128, 24.467, 0.0]
    >>> np.round(frame.to_local([frame.origin_projected]), 6) + 0.0
    array([[0., 0., 0.]])
    """
    from pyproj import CRS, Transformer

    xmin, ymin, xmax, ymax = territory.grid.bounds
    x, y = (xmin + xmax) / 2, (ymin + ymax) / 2
    z = float(ground_elevation(territory, np.array([x]), np.array([y]))[0])
    z = z if np.isfinite(z) else 0.0
    geographic = Transformer.from_crs(CRS.from_user_input(territory.grid.crs), GEOGRAPHIC_3D,
                                      always_xy=True)
    lon, lat, h = geographic.transform(x, y, z + geoid_height)
    return LocalFrame(crs=territory.grid.crs, origin_projected=(x, y, z),
                      origin_lonlat=(float(lon), float(lat), float(h)),
                      vertical_datum=territory.vertical_datum, geoid_height=geoid_height)


def ecef_lonlat(on_ellipsoid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, WGS 84) of ECEF points on the ellipsoid: closed form
    (tan latitude = Z / ((1 - e^2) p) at height 0), no second pass through pyproj."""
    from pyproj import CRS

    ellipsoid = CRS.from_user_input(ECEF).ellipsoid
    e2 = 1.0 - (ellipsoid.semi_minor_metre / ellipsoid.semi_major_metre) ** 2
    x, y, z = np.asarray(on_ellipsoid, dtype=float).reshape(-1, 3).T
    return (np.degrees(np.arctan2(y, x)),
            np.degrees(np.arctan2(z, (1.0 - e2) * np.hypot(x, y))))


def lonlat_bounds(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of points given in ``crs``."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))

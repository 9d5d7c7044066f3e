"""Viewsheds of a territory: what one observer sees, and how many of many observers see a cell.

The surface is the territory's DSM - ground plus buildings (:func:`territory_surface`) - or any
raster surface on a :class:`~tim.model.Grid`. Observers are given in the grid's CRS, with an eye
height above the surface at their cell or an absolute eye height. The visibility itself is the
Numba sweep of :mod:`engine.kernels.viewshed` (Wang et al. 2000, the ``gdal_viewshed`` model).

Earth curvature and refraction follow ``gdal_viewshed``: a cell at distance d is lowered by
``(1 - k) d**2 / (2 R)``, with k the refraction coefficient (1/7 for visible light, GDAL's
default) and R the semi-major axis of the CRS's ellipsoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.kernels import viewshed as _kernel
from tim.errors import InputError
from tim.model import Grid, Territory

#: Semi-major axis of WGS 84 (m), used when a CRS has no ellipsoid.
WGS84_SEMI_MAJOR = 6_378_137.0
#: Refraction coefficient of visible light in a standard atmosphere.
STANDARD_REFRACTION = 1.0 / 7.0


@dataclass(frozen=True)
class Observer:
    """A viewpoint: position in the grid's CRS and the eye's height.

    ``height`` is above the surface at the observer's cell (a DSM: on a roof, above the roof);
    ``z``, when given, is the eye's absolute height and ``height`` is ignored.
    """

    x: float
    y: float
    height: float = 1.6
    z: float | None = None


@dataclass(frozen=True)
class ViewshedOptions:
    """How visibility is judged (defaults: ``gdal_viewshed``'s, for a 1.6 m eye).

    target_height : height above the surface at which a cell counts as seen (m).
    max_distance : cells farther than this are out of range (m; ``inf``: the whole grid).
    curvature : lower distant cells for the earth's curvature.
    refraction : refraction coefficient k (0 none, 1/7 visible light, 0.25 radio).
    earth_radius : sphere radius (m); None: the semi-major axis of the grid CRS's ellipsoid.
    """

    target_height: float = 0.0
    max_distance: float = np.inf
    curvature: bool = True
    refraction: float = STANDARD_REFRACTION
    earth_radius: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.target_height) or self.target_height < 0:
            raise InputError("target height must be zero or positive", field="target_height",
                             value=self.target_height)
        if not self.max_distance > 0:
            raise InputError("maximum distance must be positive", field="max_distance",
                             value=self.max_distance)
        if not 0.0 <= self.refraction <= 1.0:
            raise InputError("refraction coefficient must be in [0, 1]", field="refraction",
                             value=self.refraction)
        if self.earth_radius is not None and not self.earth_radius > 0:
            raise InputError("earth radius must be positive", field="earth_radius",
                             value=self.earth_radius)

    def curvature_coefficient(self) -> float:
        """GDAL's ``-cc``: 1 - k with curvature, 0 without."""
        return 1.0 - self.refraction if self.curvature else 0.0


def earth_radius(crs: str) -> float:
    """Semi-major axis (m) of the ellipsoid of ``crs``, as ``gdal_viewshed`` uses it."""
    from pyproj import CRS

    ellipsoid = CRS.from_user_input(crs).ellipsoid
    return float(ellipsoid.semi_major_metre) if ellipsoid is not None else WGS84_SEMI_MAJOR


def territory_surface(territory: Territory) -> np.ndarray:
    """The territory's DSM (float64, NaN = nodata): ground elevation plus building height."""
    ground = territory.get("terrain__elevation").astype(np.float64)
    if "building__height" in territory.fields:
        ground = ground + np.nan_to_num(territory.fields["building__height"], nan=0.0)
    return ground


def _eyes(surface: np.ndarray, grid: Grid, observers: Sequence[Observer],
          nodata: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols, zs = [], [], []
    for k, obs in enumerate(observers):
        what = "observer" if len(observers) == 1 else f"observer {k + 1}"
        row, col = grid.cell_of(obs.x, obs.y, what)
        ground = float(surface[row, col])
        if np.isnan(ground) or (nodata is not None and ground == nodata):
            raise InputError(f"{what} stands where the surface has no data", field=what,
                             value=(obs.x, obs.y))
        if obs.z is not None:
            if obs.z < ground:
                raise InputError(f"{what}'s eye is below the surface ({ground:.2f} m there): "
                                 "underground or inside a building", field=what,
                                 value=(obs.x, obs.y, obs.z))
            z = obs.z
        else:
            if not np.isfinite(obs.height) or obs.height < 0:
                raise InputError(f"{what}'s eye height must be zero or positive", field=what,
                                 value=obs.height)
            z = ground + obs.height
        rows.append(row)
        cols.append(col)
        zs.append(z)
    return np.array(rows), np.array(cols), np.array(zs, dtype=float)


def _kernel_options(grid: Grid, options: ViewshedOptions) -> dict:
    radius = options.earth_radius or earth_radius(grid.crs)
    return dict(cell_size=grid.cell_size, target_height=options.target_height,
                max_distance=options.max_distance,
                curvature_coefficient=options.curvature_coefficient(),
                earth_diameter=2.0 * radius)


def grid_viewshed(surface: np.ndarray, grid: Grid, observer: Observer,
                  options: ViewshedOptions = ViewshedOptions(), *,
                  nodata: float | None = None) -> np.ndarray:
    """Visibility of every cell of ``surface`` from ``observer`` (``view__visible`` codes:
    1 seen, 0 hidden, 255 nodata or out of range).

    Examples
    --------
    >>> grid = Grid("EPSG:3857", (10.0, 0.0, 0.0, 0.0, -10.0, 10.0), (1, 6))
    >>> wall = np.array([[0.0, 0.0, 20.0, 0.0, 0.0, 0.0]])
    >>> grid_viewshed(wall, grid, Observer(5.0, 5.0, 1.6)).tolist()
    [[1, 1, 1, 0, 0, 0]]
    """
    if surface.shape != grid.shape:
        raise InputError(f"surface shape {surface.shape} differs from the grid {grid.shape}",
                         field="surface")
    rows, cols, zs = _eyes(surface, grid, [observer], nodata)
    return _kernel.viewshed(surface, int(rows[0]), int(cols[0]), float(zs[0]), nodata=nodata,
                            **_kernel_options(grid, options))


def grid_cumulative_viewshed(surface: np.ndarray, grid: Grid, observers: Sequence[Observer],
                             options: ViewshedOptions = ViewshedOptions(), *,
                             nodata: float | None = None) -> np.ndarray:
    """How many of ``observers`` see each cell (uint32, ``view__observer_count``)."""
    if surface.shape != grid.shape:
        raise InputError(f"surface shape {surface.shape} differs from the grid {grid.shape}",
                         field="surface")
    if len(observers) == 0:
        raise InputError("no observers given", field="observers")
    rows, cols, zs = _eyes(surface, grid, observers, nodata)
    return _kernel.cumulative_viewshed(surface, rows, cols, zs, nodata=nodata,
                                       **_kernel_options(grid, options))

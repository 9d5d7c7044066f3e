"""The grid the water moves on: bed elevation, friction, sea cells, obstacles and defences.

Faces follow one convention everywhere (bathtub and inertial engines): ``x`` faces have shape
``(rows, cols + 1)`` and face ``[r, j]`` lies between cells ``(r, j - 1)`` and ``(r, j)``; ``y``
faces have shape ``(rows + 1, cols)`` and face ``[i, c]`` lies between ``(i - 1, c)`` and
``(i, c)``. Rows run north to south (raster order), so positive ``y`` flux flows south.

Defences (sea walls, levees) are polylines with a crest elevation. A defence closes the face
between two cells when the segment joining their centres crosses the line. Every 4-connected
path of cells from one side of the line to the other crosses it on such a segment, so a line
that reaches the grid edge (or closes on itself) is watertight - however it cuts the cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from tim.errors import InputError
from tim.model import ClassTable, Grid, Territory

#: Manning's n (s m^-1/3) by land-use group. Open-channel values of Chow (1959, Table 5-6) for
#: the surfaces a coastal flood crosses: sea and inland water as clean channels (0.025, 0.030);
#: farmland as mature field crops (0.035); ecological land as the middle of grass (0.030-0.035),
#: wetland vegetation and light brush (0.05-0.07) and trees (0.10): 0.06; built-up land as
#: paved streets and yards between buildings (0.05), the buildings themselves being obstacles
#: when modelled (otherwise raise it to 0.1, the usual "urban roughness" of 2-D flood models).
MANNING_BY_GROUP: dict[str, float] = {"sea": 0.025, "water": 0.030, "farmland": 0.035,
                                      "ecological": 0.060, "built": 0.050, "other": 0.040}


@dataclass(frozen=True)
class Defence:
    """A sea wall or levee: a polyline (CRS coordinates) with a crest elevation (m, datum)."""

    name: str
    crest: float
    line: np.ndarray  # (n, 2) x, y

    def __post_init__(self) -> None:
        line = np.asarray(self.line, dtype=np.float64)
        object.__setattr__(self, "line", line)
        if line.ndim != 2 or line.shape[1] != 2 or line.shape[0] < 2:
            raise InputError("a defence line needs two or more [x, y] points",
                             field=f"defence {self.name!r}", value=line.tolist())
        if not np.all(np.isfinite(line)) or not np.isfinite(self.crest):
            raise InputError("defence coordinates and crest must be finite numbers",
                             field=f"defence {self.name!r}")


def manning_from_land_use(land_use: np.ndarray, classes: ClassTable,
                          overrides: Mapping[str | int, float] | None = None) -> np.ndarray:
    """Manning's n per cell from the land-use class: :data:`MANNING_BY_GROUP` by the class's
    group, then ``overrides`` by group name or class code (codes win)."""
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if str(k) not in MANNING_BY_GROUP
               and int_or_none(k) not in {c.code for c in classes}]
    if unknown:
        raise InputError("not a land-use group or class code of this territory",
                         field="surge.manning", value=unknown[0],
                         hint=f"groups: {', '.join(MANNING_BY_GROUP)}; codes: "
                              f"{', '.join(str(c.code) for c in classes)}")
    table = np.full(256, MANNING_BY_GROUP["other"])
    for c in classes:
        n = MANNING_BY_GROUP[c.group]
        n = overrides.get(c.group, n)
        n = overrides.get(c.code, overrides.get(str(c.code), n))
        if not 0.005 <= n <= 0.5:
            raise InputError("Manning's n must be between 0.005 and 0.5", field="surge.manning",
                             value={c.code: n})
        table[c.code] = n
    return table[land_use]


def int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def defence_crests(grid: Grid, defences: Sequence[Defence], *,
                   source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Crest elevations on the x and y faces closed by ``defences`` (``-inf`` elsewhere).

    A vertex outside the grid is an error (a defence the model cannot see protects nothing).

    Examples
    --------
    >>> g = Grid("EPSG:3857", (1.0, 0, 0, 0, -1.0, 3.0), (3, 3))
    >>> cx, cy = defence_crests(g, [Defence("wall", 5.0, [[1.0, 0.0], [1.0, 3.0]])])
    >>> np.isfinite(cx).astype(int).tolist(), int(np.isfinite(cy).sum())
    ([[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0]], 0)
    """
    rows, cols = grid.shape
    crest_x = np.full((rows, cols + 1), -np.inf)
    crest_y = np.full((rows + 1, cols), -np.inf)
    xmin, ymin, xmax, ymax = grid.bounds
    a, _, c0, _, e, f0 = grid.transform
    for k, d in enumerate(defences):
        x, y = d.line[:, 0], d.line[:, 1]
        outside = np.flatnonzero((x < xmin) | (x > xmax) | (y < ymin) | (y > ymax))
        if outside.size:
            i = int(outside[0])
            raise InputError(f"defence {d.name!r} point {i} lies outside the grid "
                             f"({xmin:g}..{xmax:g}, {ymin:g}..{ymax:g})", source=source,
                             field=f"surge.defences.{k}.line", value=[float(x[i]), float(y[i])],
                             hint="give coordinates in the territory CRS, inside its extent")
        # Fractional (col, row) with cell centres on integers.
        col = (x - c0) / a - 0.5
        row = (y - f0) / e - 0.5
        for p, q in zip(np.column_stack([col, row])[:-1], np.column_stack([col, row])[1:]):
            _close_crossed_links(p, q, d.crest, crest_x, crest_y)
    return crest_x, crest_y


def _close_crossed_links(p: np.ndarray, q: np.ndarray, crest: float, crest_x: np.ndarray,
                         crest_y: np.ndarray) -> None:
    rows, cols = crest_x.shape[0], crest_y.shape[1]
    pieces = max(int(np.ceil(np.abs(q - p).max() / 8.0)), 1)  # short pieces: small boxes
    for s in range(pieces):
        a = p + (q - p) * (s / pieces)
        b = p + (q - p) * ((s + 1) / pieces)
        r0 = max(int(np.floor(min(a[1], b[1]))) - 1, 0)
        r1 = min(int(np.ceil(max(a[1], b[1]))) + 1, rows - 1)
        c0 = max(int(np.floor(min(a[0], b[0]))) - 1, 0)
        c1 = min(int(np.ceil(max(a[0], b[0]))) + 1, cols - 1)
        rr, cc = np.mgrid[r0:r1 + 1, c0:c1 + 1]
        rr, cc = rr.ravel().astype(float), cc.ravel().astype(float)
        # x links: (r, c) -> (r, c + 1), closing x face [r, c + 1]
        hit = _segments_cross(a, b, np.column_stack([cc, rr]), np.column_stack([cc + 1, rr]))
        hit &= cc + 1 <= cols - 1
        ri, ci = rr[hit].astype(int), cc[hit].astype(int) + 1
        crest_x[ri, ci] = np.maximum(crest_x[ri, ci], crest)
        # y links: (r, c) -> (r + 1, c), closing y face [r + 1, c]
        hit = _segments_cross(a, b, np.column_stack([cc, rr]), np.column_stack([cc, rr + 1]))
        hit &= rr + 1 <= rows - 1
        ri, ci = rr[hit].astype(int) + 1, cc[hit].astype(int)
        crest_y[ri, ci] = np.maximum(crest_y[ri, ci], crest)


def _segments_cross(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Whether segment ``a-b`` meets each segment ``c[i]-d[i]`` (touching counts)."""
    def orient(p, q, r):
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
                       - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    def on_segment(p, q, r):  # r collinear with p-q: is it between them?
        return ((np.minimum(p[..., 0], q[..., 0]) <= r[..., 0])
                & (r[..., 0] <= np.maximum(p[..., 0], q[..., 0]))
                & (np.minimum(p[..., 1], q[..., 1]) <= r[..., 1])
                & (r[..., 1] <= np.maximum(p[..., 1], q[..., 1])))

    a, b = np.broadcast_to(a, c.shape), np.broadcast_to(b, c.shape)
    o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    touch = ((o1 == 0) & on_segment(a, b, c)) | ((o2 == 0) & on_segment(a, b, d)) \
        | ((o3 == 0) & on_segment(c, d, a)) | ((o4 == 0) & on_segment(c, d, b))
    return proper | touch


@dataclass(frozen=True)
class FloodDomain:
    """Everything the engines need about the ground, on the territory grid.

    ``elevation`` is float64 with NaN for nodata; ``sea`` cells take the still-water level
    (they are the boundary); ``blocked`` cells (buildings as obstacles) never take water; the
    crests are defences on faces (``-inf`` where there is none).
    """

    elevation: np.ndarray
    cell_size: tuple[float, float]
    manning: np.ndarray
    sea: np.ndarray
    blocked: np.ndarray
    crest_x: np.ndarray
    crest_y: np.ndarray

    def __post_init__(self) -> None:
        shape = self.elevation.shape
        for name in ("manning", "sea", "blocked"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} shape {getattr(self, name).shape} differs from {shape}")
        if self.crest_x.shape != (shape[0], shape[1] + 1) or \
                self.crest_y.shape != (shape[0] + 1, shape[1]):
            raise ValueError("crest arrays must be (rows, cols + 1) and (rows + 1, cols)")
        dx, dy = self.cell_size
        if not (dx > 0 and dy > 0):
            raise ValueError(f"cell size must be positive, got {self.cell_size}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.elevation.shape

    @property
    def open(self) -> np.ndarray:
        """Cells water can occupy: ground known and not an obstacle."""
        return np.isfinite(self.elevation) & ~self.blocked

    @classmethod
    def from_arrays(cls, elevation: np.ndarray, cell_size: float | tuple[float, float], *,
                    manning: float | np.ndarray = 0.03, sea: np.ndarray | None = None,
                    blocked: np.ndarray | None = None, crest_x: np.ndarray | None = None,
                    crest_y: np.ndarray | None = None) -> FloodDomain:
        z = np.array(elevation, dtype=np.float64)
        rows, cols = z.shape
        size = (float(cell_size), float(cell_size)) if np.isscalar(cell_size) \
            else tuple(float(v) for v in cell_size)
        none = np.zeros(z.shape, dtype=bool)
        return cls(elevation=z, cell_size=size,
                   manning=np.broadcast_to(np.asarray(manning, dtype=np.float64), z.shape).copy(),
                   sea=none.copy() if sea is None else np.asarray(sea, dtype=bool),
                   blocked=none.copy() if blocked is None else np.asarray(blocked, dtype=bool),
                   crest_x=np.full((rows, cols + 1), -np.inf) if crest_x is None else crest_x,
                   crest_y=np.full((rows + 1, cols), -np.inf) if crest_y is None else crest_y)

    @classmethod
    def from_territory(cls, territory: Territory, *, defences: Sequence[Defence] = (),
                       obstacles: bool = False,
                       manning: Mapping[str | int, float] | None = None,
                       source: str | None = None) -> FloodDomain:
        """The domain of ``territory``: sea from the land-use group ``sea``, friction from the
        land use, buildings (``building__height`` > 0) as obstacles if ``obstacles``.

        The sea is the boundary the level is imposed on, so a sea cell without ground
        elevation is an error: the water would have no bed to stand on.
        """
        z = territory.get("terrain__elevation").astype(np.float64)
        land_use = territory.get("land_use__class")
        sea = territory.classes.group_mask(land_use, "sea")
        if not sea.any():
            raise InputError("the territory has no sea cells (no class in group 'sea'); a "
                             "storm surge needs a coastline", source=territory.name,
                             field="land_use__class")
        holes = sea & ~np.isfinite(z)
        if holes.any():
            r, c = np.argwhere(holes)[0]
            x, y = territory.grid.cell_centres()
            raise InputError(f"{int(holes.sum())} sea cells have no elevation (nodata), e.g. "
                             f"row {r}, col {c} (x {x[c]:.1f}, y {y[r]:.1f})",
                             source=territory.name, field="terrain__elevation",
                             hint="fill the sea bed (bathymetry, or any level below the lowest "
                                  "tide) before simulating a surge")
        blocked = np.zeros(z.shape, dtype=bool)
        if obstacles:
            blocked = (territory.get("building__height") > 0) & ~sea
        crest_x, crest_y = defence_crests(territory.grid, defences, source=source)
        return cls(elevation=z, cell_size=territory.grid.cell_size,
                   manning=manning_from_land_use(land_use, territory.classes, manning),
                   sea=sea, blocked=blocked, crest_x=crest_x, crest_y=crest_y)

    def face_beds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bed level of each face: the higher cell or defence crest; ``+inf`` for closed faces
        (grid edges, nodata, obstacles)."""
        z = np.where(self.open, self.elevation, np.inf)
        rows, cols = z.shape
        zx = np.full((rows, cols + 1), np.inf)
        zx[:, 1:-1] = np.maximum(np.maximum(z[:, :-1], z[:, 1:]), self.crest_x[:, 1:-1])
        zy = np.full((rows + 1, cols), np.inf)
        zy[1:-1, :] = np.maximum(np.maximum(z[:-1, :], z[1:, :]), self.crest_y[1:-1, :])
        return zx, zy

    def face_friction(self, g: float) -> tuple[np.ndarray, np.ndarray]:
        """``g n^2`` on each face, n the mean of the two cells' Manning coefficients."""
        n = self.manning
        rows, cols = n.shape
        fx = np.zeros((rows, cols + 1))
        fx[:, 1:-1] = g * (0.5 * (n[:, :-1] + n[:, 1:])) ** 2
        fy = np.zeros((rows + 1, cols))
        fy[1:-1, :] = g * (0.5 * (n[:-1, :] + n[1:, :])) ** 2
        return fx, fy

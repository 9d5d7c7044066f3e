"""Height limits: zoning, inclined obstacle surfaces, view corridors -> the maximum allowable
building height, and who exceeds it.

Three families of limit apply to a place, and the lowest one governs:

* **zoning** - a maximum height above the ground per zone (:class:`ZoneRule`), and a maximum
  floor-area ratio (FAR) which, at a given site coverage, caps the number of storeys:
  ``height <= max_far / coverage * storey_height`` (:func:`far_height`);
* **inclined obstacle surfaces** (:class:`InclinedSurface`) - planes rising from a line at a
  slope, such as an airport approach surface (ICAO Annex 14: from the inner edge at the runway
  threshold, 2 % and 15 % divergence either side for a precision approach);
* **protected view corridors** (:class:`engine.analysis.corridors.ViewCorridor`).

Surfaces and corridors give absolute heights; zoning gives heights above the ground. Both become
"allowed height above the ground" per cell (:class:`LimitLayer`), and :func:`combine_limits`
keeps the lowest with the rule it comes from. All of it is NumPy over grids and coordinates;
footprints are clipped to the rules' regions by the caller (:mod:`scenarios.planning.heights`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from tim.errors import InputError
from tim.model import Grid

Side = Literal["left", "right", "both"]


@dataclass(frozen=True)
class ZoneRule:
    """Limits of one zone. ``max_height``/``min_height`` in m above the ground; ``max_far``
    floor area / parcel area; ``max_coverage`` footprint area / parcel area."""

    zone: str
    max_height: float | None = None
    max_far: float | None = None
    max_coverage: float | None = None
    min_height: float | None = None

    def __post_init__(self) -> None:
        where = f"zone {self.zone!r}"
        for name in ("max_height", "max_far", "max_coverage", "min_height"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name} must be a number >= 0", field=f"{where}.{name}",
                                 value=value)
        if self.max_coverage is not None and not 0 < self.max_coverage <= 1:
            raise InputError("max_coverage must be in (0, 1]", field=f"{where}.max_coverage",
                             value=self.max_coverage)
        if None not in (self.min_height, self.max_height) and self.min_height > self.max_height:
            raise InputError(f"rules contradict each other: min_height {self.min_height:g} m "
                             f"is above max_height {self.max_height:g} m", field=where)


@dataclass(frozen=True)
class InclinedSurface:
    """A plane rising at ``slope`` from the segment ``start`` -> ``end`` (its inner edge, at
    absolute height ``base_height``), on the ``side`` of it seen along start -> end, out to
    ``length`` m, widening by ``divergence`` m per m either side (0: a rectangle)."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    base_height: float
    slope: float
    side: Side = "left"
    length: float = math.inf
    divergence: float = 0.0

    def __post_init__(self) -> None:
        where = f"inclined surface {self.name!r}"
        if not all(map(math.isfinite, (*self.start, *self.end, self.base_height, self.slope))):
            raise InputError("coordinates, base height and slope must be numbers", field=where)
        if self.edge_length == 0:
            raise InputError("the line has no length (start = end)", field=f"{where}.line",
                             value=(self.start, self.end))
        if not 0 <= self.slope <= 10:
            raise InputError("slope must be in [0, 10] (rise per metre)",
                             field=f"{where}.slope", value=self.slope)
        if self.side not in ("left", "right", "both"):
            raise InputError("side must be left, right or both", field=f"{where}.side",
                             value=self.side)
        if not self.length > 0:
            raise InputError("length must be positive", field=f"{where}.length",
                             value=self.length)
        if not 0 <= self.divergence <= 10:
            raise InputError("divergence must be in [0, 10]", field=f"{where}.divergence",
                             value=self.divergence)
        if self.divergence > 0 and math.isinf(self.length):
            raise InputError("a diverging surface needs a length", field=f"{where}.length")

    @property
    def edge_length(self) -> float:
        return math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])

    def _frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance along the edge from its middle, and away from it (left positive)."""
        ux, uy = ((self.end[0] - self.start[0]) / self.edge_length,
                  (self.end[1] - self.start[1]) / self.edge_length)
        mx, my = (self.start[0] + self.end[0]) / 2, (self.start[1] + self.end[1]) / 2
        dx, dy = np.asarray(x, float) - mx, np.asarray(y, float) - my
        return dx * ux + dy * uy, -dx * uy + dy * ux

    def _sides(self) -> list[float]:
        return {"left": [1.0], "right": [-1.0], "both": [1.0, -1.0]}[self.side]

    def plane_z(self, x: np.ndarray, y: np.ndarray, sign: float) -> np.ndarray:
        """Height of the plane on side ``sign`` (+1 left, -1 right) at points, wherever they
        are (for vertices of footprints clipped to :meth:`regions`)."""
        return self.base_height + self.slope * sign * self._frame(x, y)[1]

    def z_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Absolute height of the surface at points (NaN where it does not apply)."""
        along, away = self._frame(x, y)
        z = np.full(np.shape(along), np.nan)
        half = self.edge_length / 2
        for sign in self._sides():
            d = sign * away
            inside = (d >= 0) & (d <= self.length) & (np.abs(along) <= half + self.divergence * d)
            z[inside] = self.base_height + self.slope * d[inside]
        return z

    def regions(self, extent: float = math.inf) -> list[tuple[float, np.ndarray]]:
        """``(sign, polygon)`` where the surface applies: counter-clockwise vertex arrays, one
        per side; an unbounded length is cut at ``extent`` m."""
        ux, uy = ((self.end[0] - self.start[0]) / self.edge_length,
                  (self.end[1] - self.start[1]) / self.edge_length)
        mid = np.array([(self.start[0] + self.end[0]) / 2, (self.start[1] + self.end[1]) / 2])
        u, n = np.array([ux, uy]), np.array([-uy, ux])
        half, length = self.edge_length / 2, min(self.length, extent)
        out = []
        for sign in self._sides():
            far = half + self.divergence * length
            ring = np.array([mid - half * u, mid + half * u,
                             mid + far * u + sign * length * n, mid - far * u + sign * length * n])
            out.append((sign, ring if sign > 0 else ring[::-1]))
        return out


def far_height(max_far: float, coverage: float, storey_height: float) -> float:
    """The height a floor-area ratio allows at a site coverage: ``max_far / coverage`` storeys.

    >>> far_height(2.4, 0.4, 3.0)
    18.0
    """
    if coverage <= 0:
        return math.inf
    return max_far / coverage * storey_height


@dataclass(frozen=True)
class LimitLayer:
    """One rule's allowed building height above the ground per cell (NaN: does not apply)."""

    name: str
    kind: str  # "zone", "far", "surface", "corridor"
    height: np.ndarray


def surface_limit(surface: InclinedSurface, grid: Grid, ground: np.ndarray) -> np.ndarray:
    """Allowed height above the ground under an inclined surface, per cell centre."""
    xs, ys = grid.cell_centres()
    gx, gy = np.meshgrid(xs, ys)
    return (surface.z_at(gx, gy) - ground).astype(np.float32)


def combine_limits(layers: Sequence[LimitLayer], shape: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The lowest allowed height per cell (float32, NaN where no rule applies; never below 0)
    and the 1-based number of the layer that sets it (int16, 0 where none applies).

    >>> a = LimitLayer("zone", "zone", np.array([[30.0, np.nan]]))
    >>> b = LimitLayer("surface", "surface", np.array([[12.0, -3.0]]))
    >>> height, rule = combine_limits([a, b], (1, 2))
    >>> height.tolist(), rule.tolist()
    ([[12.0, 0.0]], [[2, 2]])
    """
    if len(layers) > np.iinfo(np.int16).max:
        raise InputError("too many height rules", field="rules", value=len(layers))
    best = np.full(shape, np.inf)
    rule = np.zeros(shape, dtype=np.int16)
    for k, layer in enumerate(layers, start=1):
        if layer.height.shape != shape:
            raise InputError(f"limit grid {layer.height.shape} differs from {shape}",
                             field=layer.name)
        lower = layer.height < best  # NaN compares False: the rule does not apply there
        best[lower] = layer.height[lower]
        rule[lower] = k
    best = np.where(np.isinf(best), np.nan, np.maximum(best, 0.0))
    return best.astype(np.float32), rule


def check_minimums(minimum: np.ndarray, maximum: np.ndarray, rule: np.ndarray,
                   names: Sequence[str], zone_of: np.ndarray, zones: Sequence[str],
                   grid: Grid) -> None:
    """Raise an error naming both rules and a place where a zone's minimum height is above
    the maximum another rule allows there (rules that contradict each other)."""
    clash = np.isfinite(minimum) & np.isfinite(maximum) & (minimum > maximum + 1e-9)
    if not clash.any():
        return
    r, c = (int(v) for v in np.argwhere(clash)[0])
    x, y = (float(v[i]) for v, i in zip(grid.cell_centres(), (c, r)))
    raise InputError(f"rules contradict each other: zone {zones[zone_of[r, c]]!r} requires at "
                     f"least {float(minimum[r, c]):g} m but {names[rule[r, c] - 1]} allows at "
                     f"most {float(maximum[r, c]):.2f} m at ({x:.1f}, {y:.1f}) "
                     f"({int(clash.sum())} cells)", field="rules",
                     hint="lower the zone's min_height or change the other rule")

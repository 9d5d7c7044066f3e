"""Protected view corridors (after London's View Management Framework) and their height envelope.

A corridor runs from a viewpoint (an eye at an absolute height) to a landmark. Its *threshold
plane* rises (or falls) from the eye to the landmark's threshold height - the lowest part of
the landmark that must stay in view, such as the base of a dome - along the view axis, and is
level across it, as the LVMF's Landmark Viewing Corridors are drawn. The protected area is the
wedge between the two lines from the eye to the landmark's edges (``half_width`` either side of
the axis at the landmark), up to the landmark. Anything built in the wedge must stay under the
plane, or it hides part of the protected view: the plane's height above the ground is the
*envelope*, the greatest height that keeps the landmark visible.

Optionally a *background* area continues the wedge beyond the landmark, where nothing may rise
above the line from the eye over the landmark's top (``landmark_top_z``), so as not to break its
silhouette.

Everything here is NumPy on coordinates in the territory's CRS; the wedge and the background
are convex polygons, so the height of the plane over any footprint is lowest at a vertex of the
footprint clipped to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tim.errors import InputError
from tim.model import Grid

#: Widest protected view (degrees either side of the axis); wider is not a corridor.
MAX_HALF_ANGLE = 45.0


@dataclass(frozen=True)
class ViewCorridor:
    """A protected view from ``viewpoint`` (eye at ``eye_z``) to ``landmark``.

    threshold_z : absolute height of the lowest part of the landmark that must stay visible.
    half_width : half the width of the protected view at the landmark (m).
    background : depth (m) of the area behind the landmark held under its silhouette.
    landmark_top_z : absolute height of the landmark's top (needed with a background).
    """

    name: str
    viewpoint: tuple[float, float]
    eye_z: float
    landmark: tuple[float, float]
    threshold_z: float
    half_width: float
    background: float = 0.0
    landmark_top_z: float | None = None

    def __post_init__(self) -> None:
        where = f"view corridor {self.name!r}"
        values = (*self.viewpoint, self.eye_z, *self.landmark, self.threshold_z,
                  self.half_width, self.background)
        if not all(map(math.isfinite, values)):
            raise InputError("coordinates and heights must be numbers", field=where)
        if self.length == 0:
            raise InputError("degenerate cone: the landmark is at the viewpoint", field=where,
                             value=self.landmark)
        if self.half_width <= 0:
            raise InputError("degenerate cone: half_width must be positive", field=where,
                             value=self.half_width)
        if self.half_angle > MAX_HALF_ANGLE:
            raise InputError(f"the cone is {2 * self.half_angle:.0f} degrees wide; a view "
                             f"corridor may open at most {2 * MAX_HALF_ANGLE:.0f}",
                             field=where, value=self.half_width,
                             hint="narrow half_width or move the viewpoint back")
        if self.background < 0:
            raise InputError("background depth must be zero or positive", field=where,
                             value=self.background)
        if self.background > 0:
            if self.landmark_top_z is None:
                raise InputError("a background area needs the landmark's top height "
                                 "(landmark_top_z)", field=where)
            if self.landmark_top_z < self.threshold_z:
                raise InputError("the landmark's top is below its threshold height",
                                 field=where, value=(self.landmark_top_z, self.threshold_z))

    @property
    def length(self) -> float:
        return math.hypot(self.landmark[0] - self.viewpoint[0],
                          self.landmark[1] - self.viewpoint[1])

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from the viewpoint to the landmark."""
        return (np.array(self.landmark) - np.array(self.viewpoint)) / self.length

    @property
    def half_angle(self) -> float:
        return math.degrees(math.atan2(self.half_width, self.length))

    @property
    def bearing(self) -> float:
        """Direction of the view, degrees clockwise from north."""
        dx, dy = self.axis
        return math.degrees(math.atan2(dx, dy)) % 360

    def _frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance along the axis and across it (left positive) of points."""
        ax, ay = self.axis
        dx, dy = np.asarray(x, float) - self.viewpoint[0], np.asarray(y, float) - self.viewpoint[1]
        return dx * ax + dy * ay, -dx * ay + dy * ax

    def regions(self) -> list[tuple[str, np.ndarray]]:
        """The protected wedge (a triangle) and, with a background, the area behind the
        landmark (a trapezoid): ``(kind, (k, 2) vertices)`` in counter-clockwise order."""
        v, ax = np.array(self.viewpoint, float), self.axis
        left = np.array([-ax[1], ax[0]])
        d, w = self.length, self.half_width
        out = [("foreground", np.array([v, v + d * ax - w * left, v + d * ax + w * left]))]
        if self.background > 0:
            far = d + self.background
            wf = w * far / d
            out.append(("background", np.array([v + d * ax - w * left, v + far * ax - wf * left,
                                                v + far * ax + wf * left,
                                                v + d * ax + w * left])))
        return out

    def plane_z(self, x: np.ndarray, y: np.ndarray, kind: str = "foreground") -> np.ndarray:
        """Height of the envelope's plane for region ``kind`` at points, wherever they are
        (for vertices of footprints clipped to :meth:`regions`)."""
        s, _ = self._frame(x, y)
        top = self.threshold_z if kind == "foreground" else self.landmark_top_z
        return self.eye_z + (top - self.eye_z) * s / self.length

    def z_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Absolute height of the envelope at points (NaN outside the corridor)."""
        s, t = self._frame(x, y)
        d = self.length
        inside = (s > 0) & (np.abs(t) * d <= self.half_width * s)
        fore = inside & (s <= d)
        z = np.full(np.shape(s), np.nan)
        z[fore] = self.eye_z + (self.threshold_z - self.eye_z) * s[fore] / d
        if self.background > 0:
            back = inside & (s > d) & (s <= d + self.background)
            z[back] = self.eye_z + (self.landmark_top_z - self.eye_z) * s[back] / d
        return z

    def envelope(self, grid: Grid, ground: np.ndarray) -> np.ndarray:
        """Greatest height above the ground (m) at each cell centre that keeps the view open;
        NaN outside the corridor, negative where the ground itself already rises into it."""
        xs, ys = grid.cell_centres()
        gx, gy = np.meshgrid(xs, ys)
        return (self.z_at(gx, gy) - ground).astype(np.float32)


def check_corridor_on_ground(corridor: ViewCorridor, grid: Grid, ground: np.ndarray) -> None:
    """Raise an error naming the corridor if its viewpoint or landmark is off the territory or
    its eye is underground."""
    for what, (x, y) in (("viewpoint", corridor.viewpoint), ("landmark", corridor.landmark)):
        row, col, inside = grid.cells_of(x, y)
        if not inside:
            raise InputError(f"the {what} lies outside the territory",
                             field=f"view corridor {corridor.name!r}", value=(x, y))
        if what == "viewpoint" and np.isfinite(ground[row, col]) \
                and corridor.eye_z < ground[row, col]:
            raise InputError(f"the viewpoint is underground: eye at {corridor.eye_z:.2f}, "
                             f"ground {float(ground[row, col]):.2f}",
                             field=f"view corridor {corridor.name!r}", value=(x, y))

"""Lines of sight from a viewpoint to targets, and what stands in the way.

Points are given in the grid's CRS with absolute heights (:class:`Point`); :func:`eye_point`
turns "x, y and an eye height above the ground" into one. The raster method here walks the
line over a surface grid whose cells are flat-topped columns (:mod:`engine.kernels.raycast`):
exact for LoD1 buildings burnt into the grid, approximate where a cell mixes roof and street.
An exact method against building meshes (trimesh) lives outside the engine, in
:mod:`scenarios.planning.sightlines`, and returns the same :class:`Sightline` objects.

A blocker is reported with how much it must be lowered for the line to pass: the greatest
height of the blocker above the line. Lowering every blocker by its amount frees the view.
A viewpoint may face a direction (``facing``, degrees clockwise from north) with a field of
view; targets outside it are an error, as are targets at the viewpoint itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.kernels import raycast as _kernel
from tim.errors import InputError
from tim.model import Grid

#: Blockers less than this (m) above the line only touch it and do not block.
TOLERANCE = 1e-3
#: Label of surface cells that belong to no building (terrain, trees, unlabelled).
SURFACE = -1


@dataclass(frozen=True)
class Point:
    """A point in the grid's CRS with an absolute height (m, in the vertical datum)."""

    x: float
    y: float
    z: float

    def distance(self, other: Point) -> float:
        return math.hypot(other.x - self.x, other.y - self.y)


@dataclass(frozen=True)
class Blocker:
    """Something in the way: a building (its label) or the bare surface (:data:`SURFACE`).

    ``lower_by`` is the greatest height of the blocker above the sightline (m); (x, y) and
    ``distance`` (m from the viewpoint) say where.
    """

    label: int
    lower_by: float
    x: float
    y: float
    distance: float


@dataclass(frozen=True)
class Sightline:
    """One viewpoint-target line: whether it is free, its clearance and its blockers.

    ``clearance`` is the least height of the line above what it passes over (m; negative when
    blocked, ``inf`` when it passes over nothing); ``blockers`` are sorted along the line.
    """

    viewpoint: Point
    target: Point
    visible: bool
    clearance: float
    blockers: tuple[Blocker, ...]
    method: str


def eye_point(x: float, y: float, ground: float, height: float) -> Point:
    """The point ``height`` m above ``ground`` at (x, y)."""
    return Point(float(x), float(y), float(ground) + float(height))


def check_points(grid: Grid, viewpoint: Point, targets: Sequence[Point], *,
                 ground: np.ndarray | None = None, facing: float | None = None,
                 field_of_view: float = 360.0) -> None:
    """Raise an :class:`InputError` naming the input for a viewpoint or target off the grid or
    under the ground, a target at the viewpoint, or one outside the field of view."""
    if len(targets) == 0:
        raise InputError("no targets given", field="targets")
    if not 0 < field_of_view <= 360:
        raise InputError("field of view must be in (0, 360] degrees", field="field_of_view",
                         value=field_of_view)
    for k, p in enumerate([viewpoint, *targets]):
        name = "viewpoint" if k == 0 else ("target" if len(targets) == 1 else f"target {k}")
        if not all(map(math.isfinite, (p.x, p.y, p.z))):
            raise InputError(f"{name} has a coordinate that is not a number", field=name,
                             value=(p.x, p.y, p.z))
        row, col = grid.cell_of(p.x, p.y, name)
        if ground is not None and np.isfinite(ground[row, col]) and p.z < ground[row, col]:
            raise InputError(f"{name} is underground: z {p.z:.2f} is below the ground "
                             f"({float(ground[row, col]):.2f} there)", field=name,
                             value=(p.x, p.y, p.z))
        if k == 0:
            continue
        if viewpoint.distance(p) == 0.0:
            raise InputError(f"{name} is straight above or below the viewpoint: no line of "
                             "sight across anything", field=name, value=(p.x, p.y, p.z))
        if facing is not None and field_of_view < 360:
            bearing = math.degrees(math.atan2(p.x - viewpoint.x, p.y - viewpoint.y)) % 360
            off = (bearing - facing + 180) % 360 - 180
            if abs(off) > field_of_view / 2:
                raise InputError(f"{name} is behind the viewpoint: at bearing {bearing:.1f} "
                                 f"deg, {abs(off):.1f} deg off the facing direction "
                                 f"{facing:g} deg (field of view {field_of_view:g} deg)",
                                 field=name, value=(p.x, p.y, p.z))


def _grid_units(grid: Grid, p: Point) -> tuple[float, float, float]:
    a, _, c, _, e, f = grid.transform
    return (p.x - c) / a, (p.y - f) / e, p.z


def raster_sightlines(surface: np.ndarray, grid: Grid, viewpoint: Point,
                      targets: Sequence[Point], *, labels: np.ndarray | None = None,
                      target_labels: Sequence[int] | None = None,
                      ground: np.ndarray | None = None, nodata: float | None = None,
                      facing: float | None = None, field_of_view: float = 360.0,
                      tolerance: float = TOLERANCE) -> list[Sightline]:
    """Sightlines from ``viewpoint`` to each target over ``surface`` (flat-topped cells).

    Parameters
    ----------
    surface : (rows, cols) heights on ``grid`` (a DSM: terrain plus buildings).
    labels : optional building label (>= 0) per cell, :data:`SURFACE` elsewhere; blockers are
        grouped by label.
    target_labels : per target, a label whose cells never block it (the target's building).
    ground : terrain heights on ``grid``, to reject points under the ground.
    facing, field_of_view : the viewpoint's view direction and angle (degrees).

    Examples
    --------
    A 10 m block between two eyes 1.6 m above flat ground must come down 8.4 m:

    >>> grid = Grid("EPSG:3857", (1.0, 0.0, 0.0, 0.0, -1.0, 3.0), (3, 20))
    >>> z = np.zeros(grid.shape); z[:, 8:12] = 10.0
    >>> line, = raster_sightlines(z, grid, Point(0.5, 1.5, 1.6), [Point(19.5, 1.5, 1.6)])
    >>> line.visible, round(line.clearance, 3), [round(b.lower_by, 3) for b in line.blockers]
    (False, -8.4, [8.4])
    """
    if surface.shape != grid.shape:
        raise InputError(f"surface shape {surface.shape} differs from the grid {grid.shape}",
                         field="surface")
    check_points(grid, viewpoint, targets, ground=ground, facing=facing,
                 field_of_view=field_of_view)
    eye = _grid_units(grid, viewpoint)
    ends = np.array([_grid_units(grid, t) for t in targets])
    ignore = (np.full(len(targets), -2) if target_labels is None
              else np.array([-2 if v is None or v < 0 else v for v in target_labels]))
    clearance, _, blocking = _kernel.clearances(surface, eye, ends, labels=labels,
                                                ignore=ignore, nodata=nodata,
                                                tolerance=tolerance)
    results = []
    for k, target in enumerate(targets):
        blockers: tuple[Blocker, ...] = ()
        if blocking[k]:
            blockers = _blockers(surface, grid, viewpoint, target, eye, ends[k], labels,
                                 int(ignore[k]), nodata, tolerance)
        results.append(Sightline(viewpoint, target, bool(blocking[k] == 0),
                                 float(clearance[k]), blockers, "raster"))
    return results


def _blockers(surface, grid, viewpoint, target, eye, end, labels, ignore, nodata,
              tolerance) -> tuple[Blocker, ...]:
    cells, t_in, t_out, excess = _kernel.crossings(surface, eye, tuple(end), labels=labels,
                                                   ignore=ignore, nodata=nodata)
    hit = np.flatnonzero(excess > tolerance)
    label_of = (labels.ravel()[cells[hit]] if labels is not None
                else np.full(len(hit), SURFACE))
    worst: dict[int, int] = {}
    for i, label in zip(hit, label_of):
        if int(label) not in worst or excess[i] > excess[worst[int(label)]]:
            worst[int(label)] = int(i)
    out = []
    for label, i in worst.items():
        t = 0.5 * (t_in[i] + t_out[i])
        x = viewpoint.x + t * (target.x - viewpoint.x)
        y = viewpoint.y + t * (target.y - viewpoint.y)
        out.append(Blocker(label, float(excess[i]), x, y, t * viewpoint.distance(target)))
    return tuple(sorted(out, key=lambda b: b.distance))

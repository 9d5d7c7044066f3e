"""Defence breaches: a stretch of a sea wall or levee that fails during the event.

A :class:`Breach` names a defence, a point on it, a length and the crest the stretch falls to;
it fails at a given time or when the water at it first reaches a trigger level. Its faces are
those the defence closes (see :func:`engine.flood.domain.defence_crests`) whose midpoints lie
within half the length of the point. When it fails, the bed of each of those faces drops to the
higher of its two cells and the breach crest - the engines read face beds every step, so the
next step flows through the gap. The failure is instantaneous (no gradual widening).

A trigger level the water never reaches leaves the defence standing; the engines say so in
their result (``extra["breaches"]``), and the manifest records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.flood.domain import Defence, defence_crests
from tim.errors import InputError
from tim.model import Grid

#: While a trigger is pending the engines stop this often (s) to look at the water.
TRIGGER_CHECK_S = 30.0
#: Water shallower than this (m) does not count as reaching a trigger (a dry cell's "surface"
#: is its ground).
TRIGGER_DEPTH = 0.01


@dataclass(frozen=True)
class BreachSite:
    """A breach as a scenario describes it: which defence, where (a point on it, CRS), how long
    (m), down to what crest (m, datum), and when: ``time`` (s from the event start) or
    ``trigger`` (m, the water surface at the breach)."""

    name: str
    defence: str
    at: tuple[float, float]
    length: float
    crest: float
    time: float | None = None
    trigger: float | None = None

    def on(self, grid: Grid, defences: Sequence[Defence], *, field: str = "surge.breaches",
           source: str | None = None) -> Breach:
        """The faces it opens on ``grid``; a defence that is not there is an error."""
        named = {d.name: d for d in defences}
        if self.defence not in named:
            raise InputError(f"breach {self.name!r} names no defence of the event",
                             source=source, field=f"{field}.defence", value=self.defence,
                             hint=f"defences: {', '.join(named) or 'none'}")
        try:
            return breach_on(grid, named[self.defence], name=self.name, at=self.at,
                             length=self.length, crest=self.crest, time=self.time,
                             trigger=self.trigger, field=field)
        except InputError as exc:
            raise InputError(exc.problem, source=source, field=exc.field, value=exc.value,
                             hint=exc.hint) from exc


@dataclass(frozen=True)
class Breach:
    """Faces of one defence that fail: flat indices into the x and y face arrays, and their
    segments in the CRS (for maps)."""

    name: str
    defence: str
    crest: float
    faces_x: np.ndarray
    faces_y: np.ndarray
    time: float | None = None      # s from the event start
    trigger: float | None = None   # m, water surface at the breach
    length: float = 0.0
    at: tuple[float, float] = (np.nan, np.nan)
    segments: tuple = ()           # ((x0, y0), (x1, y1)) per face

    def __post_init__(self) -> None:
        if (self.time is None) == (self.trigger is None):
            raise InputError("a breach fails either at a time or at a trigger level, not both",
                             field=f"breach {self.name!r}")


def breach_on(grid: Grid, defence: Defence, *, name: str, at: tuple[float, float],
              length: float, crest: float, time: float | None = None,
              trigger: float | None = None, field: str = "surge.breaches") -> Breach:
    """The breach of ``defence`` centred on the point ``at`` (CRS) over ``length`` m.

    Refuses a crest not below the defence's (nothing would fail), a non-positive length and a
    point where the defence closes no face within half the length (no defence there).
    """
    if not crest < defence.crest:
        raise InputError(f"the breach crest {crest:g} m is not below the crest of defence "
                         f"{defence.name!r} ({defence.crest:g} m): nothing would fail",
                         field=f"{field}.crest_level", value=crest)
    if not length > 0:
        raise InputError("a breach needs a positive length", field=f"{field}.length_m",
                         value=length)
    crest_x, crest_y = defence_crests(grid, [defence])
    x, y = face_midpoints(grid)
    half = 0.5 * max(length, min(grid.cell_size))  # at least the face nearest the point
    near_x = np.isfinite(crest_x) & (np.hypot(x[0] - at[0], x[1] - at[1]) <= half)
    near_y = np.isfinite(crest_y) & (np.hypot(y[0] - at[0], y[1] - at[1]) <= half)
    if not (near_x.any() or near_y.any()):
        raise InputError(f"defence {defence.name!r} closes no cell face within "
                         f"{half:g} m of the breach point", field=f"{field}.at",
                         value=list(at), hint="put the point on the defence line")
    return Breach(name=name, defence=defence.name, crest=float(crest),
                  faces_x=np.flatnonzero(near_x), faces_y=np.flatnonzero(near_y),
                  time=time, trigger=trigger, length=float(length),
                  at=(float(at[0]), float(at[1])),
                  segments=face_segments(grid, near_x, near_y))


def face_segments(grid: Grid, faces_x: np.ndarray, faces_y: np.ndarray) -> tuple:
    """The CRS segments of the marked x faces (vertical) and y faces (horizontal)."""
    a, _, c0, _, e, f0 = grid.transform
    out = []
    for r, j in np.argwhere(faces_x):
        x = c0 + a * j
        out.append(((float(x), float(f0 + e * r)), (float(x), float(f0 + e * (r + 1)))))
    for i, c in np.argwhere(faces_y):
        y = f0 + e * i
        out.append(((float(c0 + a * c), float(y)), (float(c0 + a * (c + 1)), float(y))))
    return tuple(out)


def face_midpoints(grid: Grid) -> tuple[tuple[np.ndarray, np.ndarray],
                                        tuple[np.ndarray, np.ndarray]]:
    """CRS coordinates of the midpoints of the x faces and of the y faces."""
    rows, cols = grid.shape
    a, _, c0, _, e, f0 = grid.transform
    col_x = np.arange(cols + 1) - 0.5  # x face j lies between cells j - 1 and j
    row_y = np.arange(rows + 1) - 0.5
    xs = c0 + a * (np.arange(cols) + 0.5)
    ys = f0 + e * (np.arange(rows) + 0.5)
    x_faces = (np.broadcast_to(c0 + a * (col_x + 0.5), (rows, cols + 1)),
               np.broadcast_to(ys[:, None], (rows, cols + 1)))
    y_faces = (np.broadcast_to(xs[None, :], (rows + 1, cols)),
               np.broadcast_to((f0 + e * (row_y + 0.5))[:, None], (rows + 1, cols)))
    return x_faces, y_faces


class BreachSchedule:
    """The breaches of one event, failing as it runs; engines call :meth:`stop_after` to know
    where to pause and :meth:`apply` at each pause."""

    def __init__(self, breaches: Sequence[Breach], zfx: np.ndarray, zfy: np.ndarray,
                 z: np.ndarray, open_cells: np.ndarray, start: float):
        self.pending = list(breaches)
        self.failed: dict[str, float] = {}
        self.zfx, self.zfy, self.z, self.open = zfx, zfy, z, open_cells
        self.start = start
        self.all = list(breaches)

    def stop_after(self, t: float, target: float) -> float:
        """The next time to pause at, no later than ``target``."""
        stop = target
        for b in self.pending:
            if b.time is not None and self.start + b.time > t:
                stop = min(stop, self.start + b.time)
            elif b.trigger is not None:
                stop = min(stop, t + TRIGGER_CHECK_S)
        return stop

    def apply(self, t: float, surface: np.ndarray, depth: np.ndarray) -> None:
        """Fail the breaches due at ``t``: their time has come, or the water at their faces
        (``surface`` where ``depth`` > :data:`TRIGGER_DEPTH`) reaches their trigger."""
        for b in list(self.pending):
            if b.time is not None:
                due = t >= self.start + b.time - 1e-9
            else:
                due = self._water_at(b, surface, depth) >= b.trigger
            if due:
                self._fail(b)
                self.failed[b.name] = t - self.start
                self.pending.remove(b)

    def _cells(self, b: Breach) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.z.shape
        r, j = np.divmod(b.faces_x, cols + 1)
        i, c = np.divmod(b.faces_y, cols)
        return (np.concatenate([r, r, i - 1, i]), np.concatenate([j - 1, j, c, c]))

    def _water_at(self, b: Breach, surface: np.ndarray, depth: np.ndarray) -> float:
        rr, cc = self._cells(b)
        wet = depth[rr, cc] > TRIGGER_DEPTH
        return float(surface[rr, cc][wet].max()) if wet.any() else -np.inf

    def _fail(self, b: Breach) -> None:
        z = np.where(self.open, self.z, np.inf)
        cols = z.shape[1]
        r, j = np.divmod(b.faces_x, cols + 1)
        bed = np.maximum(np.maximum(z[r, j - 1], z[r, j]), b.crest)
        self.zfx[r, j] = np.minimum(self.zfx[r, j], bed)
        i, c = np.divmod(b.faces_y, cols)
        bed = np.maximum(np.maximum(z[i - 1, c], z[i, c]), b.crest)
        self.zfy[i, c] = np.minimum(self.zfy[i, c], bed)

    def report(self) -> list[dict]:
        """What happened to each breach, for the manifest."""
        out = []
        for b in self.all:
            entry = {"name": b.name, "defence": b.defence, "crest_m": b.crest,
                     "length_m": b.length, "at": list(b.at),
                     "faces": int(b.faces_x.size + b.faces_y.size),
                     "segments": [[list(p), list(q)] for p, q in b.segments]}
            if b.time is not None:
                entry["time_h"] = b.time / 3600.0
            else:
                entry["trigger_level_m"] = b.trigger
            if b.name in self.failed:
                entry.update(failed=True, failed_at_h=self.failed[b.name] / 3600.0)
            else:
                entry.update(failed=False, note=(
                    "the water never reached the trigger level at the breach"
                    if b.trigger is not None else "the event ended before the breach time"))
            out.append(entry)
        return out

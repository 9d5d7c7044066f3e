"""The territory: grid geometry, raster fields by standard name, vector layers, classes, history.

Importing this module needs only NumPy; CRS comparison (pyproj) and vector layers (GeoDataFrames)
are touched lazily, so the engine can use a territory without the GIS stack.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from tim.errors import CRSError, InputError, MissingFieldError
from tim.fields import FieldSpec, field_spec

#: Land-use groups the engine and indicators reason about (a class belongs to exactly one).
GROUPS = ("built", "farmland", "ecological", "water", "sea", "other")


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: CRS, affine transform (rasterio order) and shape (rows, cols).

    ``transform`` is ``(a, b, c, d, e, f)`` with ``x = a*col + b*row + c`` and
    ``y = d*col + e*row + f`` at cell corners; b = d = 0 and e < 0 for north-up grids.
    """

    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        a, b, _, d, e, _ = self.transform
        if b != 0 or d != 0 or a <= 0 or e >= 0:
            raise InputError("only north-up grids with square-ish cells are supported",
                             field="grid.transform", value=self.transform)
        if len(self.shape) != 2 or min(self.shape) < 1:
            raise InputError("grid shape must be two positive integers", field="grid.shape",
                             value=self.shape)
        if not self.crs:
            raise CRSError("the grid has no CRS", field="grid.crs")

    @property
    def cell_size(self) -> tuple[float, float]:
        """Cell width and height in CRS units (both positive)."""
        return self.transform[0], -self.transform[4]

    @property
    def cell_area(self) -> float:
        w, h = self.cell_size
        return w * h

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid's outer edges."""
        a, _, c, _, e, f = self.transform
        rows, cols = self.shape
        return c, f + e * rows, c + a * cols, f

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x (cols,) and y (rows,) coordinates of cell centres."""
        a, _, c, _, e, f = self.transform
        rows, cols = self.shape
        return c + a * (np.arange(cols) + 0.5), f + e * (np.arange(rows) + 0.5)

    def cells_of(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and on-grid flag of the cell holding each point (x, y), as arrays of
        the points' shape. A point on the edge between two cells is in the one right of /
        below it.

        Examples
        --------
        >>> g = Grid("EPSG:28992", (10.0, 0.0, 0.0, 0.0, -10.0, 20.0), (2, 3))
        >>> g.cells_of([5.0, 29.9, 31.0], [19.0, 0.1, 5.0])
        (array([0, 1, 1]), array([0, 2, 3]), array([ True,  True, False]))
        """
        a, _, c, _, e, f = self.transform
        col = np.floor((np.asarray(x, dtype=float) - c) / a).astype(np.int64)
        row = np.floor((np.asarray(y, dtype=float) - f) / e).astype(np.int64)
        inside = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        return row, col, inside

    def cell_of(self, x: float, y: float, what: str = "point") -> tuple[int, int]:
        """(row, col) of the cell holding one point; a point off the grid is an error naming
        ``what``."""
        row, col, inside = self.cells_of(x, y)
        if not inside:
            xmin, ymin, xmax, ymax = self.bounds
            raise InputError(f"{what} lies outside the territory", field=what, value=(x, y),
                             hint=f"the grid spans x {xmin:.1f} .. {xmax:.1f}, "
                                  f"y {ymin:.1f} .. {ymax:.1f} in {self.crs}")
        return int(row), int(col)

    def cell_index(self, x: Any, y: Any) -> np.ndarray:
        """Flat (row-major) index of the cell holding each point (x, y); -1 off the grid."""
        row, col, inside = self.cells_of(x, y)
        return np.where(inside, row * self.shape[1] + col, -1)

    def to_dict(self) -> dict[str, Any]:
        return {"crs": self.crs, "transform": list(self.transform), "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        return cls(crs=d["crs"], transform=tuple(float(v) for v in d["transform"]),
                   shape=tuple(int(v) for v in d["shape"]))


@dataclass(frozen=True)
class LandUseClass:
    """One land-use class: its code in rasters, name, display colour and planning meaning."""

    code: int
    name: str
    colour: str
    group: str
    developable: bool

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 254:
            raise InputError("class codes must be 0..254 (255 is nodata)", field="code",
                             value=self.code)
        if self.group not in GROUPS:
            raise InputError(f"group must be one of {', '.join(GROUPS)}", field="group",
                             value=self.group)


@dataclass(frozen=True)
class ClassTable:
    """The ordered land-use classes of a territory. Class-located fields follow this order."""

    classes: tuple[LandUseClass, ...]

    def __post_init__(self) -> None:
        codes = [c.code for c in self.classes]
        if len(set(codes)) != len(codes):
            raise InputError("duplicate class codes", field="classes", value=codes)
        if sum(c.group == "built" for c in self.classes) != 1:
            raise InputError("exactly one class must be in group 'built' (built-up land)",
                             field="classes.group")

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self):
        return iter(self.classes)

    @property
    def codes(self) -> np.ndarray:
        return np.array([c.code for c in self.classes], dtype=np.uint8)

    def index_of(self, code: int) -> int:
        for i, c in enumerate(self.classes):
            if c.code == code:
                return i
        raise InputError("class code not in the class table", field="land_use__class",
                         value=code)

    def in_group(self, group: str) -> list[LandUseClass]:
        return [c for c in self.classes if c.group == group]

    @property
    def built(self) -> LandUseClass:
        return self.in_group("built")[0]

    def group_mask(self, land_use: np.ndarray, group: str) -> np.ndarray:
        """Boolean mask of cells whose class belongs to ``group``."""
        codes = [c.code for c in self.in_group(group)]
        if land_use.dtype == np.uint8:  # a table lookup: 10x faster than np.isin on a grid
            member = np.zeros(256, bool)
            member[codes] = True
            return member[land_use]
        return np.isin(land_use, codes)

    def to_list(self) -> list[dict[str, Any]]:
        return [dict(code=c.code, name=c.name, colour=c.colour, group=c.group,
                     developable=c.developable) for c in self.classes]

    @classmethod
    def from_list(cls, items: Iterable[dict[str, Any]]) -> ClassTable:
        return cls(tuple(LandUseClass(**item) for item in items))


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to the territory: an ingest, a reprojection, a derivation."""

    action: str
    detail: dict[str, Any]
    time: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "time": self.time, **self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HistoryEntry:
        d = dict(d)
        return cls(action=d.pop("action"), time=d.pop("time"), detail=d)


def crs_equal(a: Any, b: Any) -> bool:
    """True when two CRS descriptions (EPSG code, WKT, pyproj CRS) mean the same CRS."""
    from pyproj import CRS

    return CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True)


@dataclass
class Territory:
    """Grid, fields, vector layers, class table and history of one planning territory."""

    grid: Grid
    classes: ClassTable
    name: str = "territory"
    vertical_datum: str = "unknown"
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    #: Point clouds and triangle meshes by name (:mod:`tim.geometry3d`), in the grid's CRS.
    point_clouds: dict[str, Any] = field(default_factory=dict)
    meshes: dict[str, Any] = field(default_factory=dict)
    plan: Any = None  # tim.plan.Plan: targets passed down city -> district -> unit

    # -- fields ---------------------------------------------------------------------------
    def field_shape(self, spec: FieldSpec) -> tuple[int, ...]:
        return self.grid.shape if spec.location == "cell" else (len(self.classes),)

    def get(self, name: str) -> np.ndarray:
        """The array of a field; a missing one raises an error listing the fields there are."""
        try:
            return self.fields[name]
        except KeyError:
            have = ", ".join(sorted(self.fields)) or "none"
            raise MissingFieldError(f"the territory has no field {name!r} (it has: {have}); "
                                    "add the source it comes from to the TIM",
                                    source=self.name, field=name) from None

    def set_field(self, name: str, values: np.ndarray) -> None:
        """Store ``values`` as field ``name`` after checking it against the standard spec."""
        spec = field_spec(name)
        values = np.asarray(values)
        expected = self.field_shape(spec)
        if values.shape != expected:
            raise InputError(f"shape {values.shape} does not match {expected}", field=name)
        if not np.can_cast(values.dtype, spec.numpy_dtype, casting="same_kind"):
            raise InputError(f"dtype {values.dtype} cannot hold a {spec.dtype} field",
                             field=name)
        self.fields[name] = values.astype(spec.numpy_dtype, copy=False)

    def ensure_field(self, name: str) -> np.ndarray:
        """The field's array, created filled with its nodata (or 0) when absent."""
        if name not in self.fields:
            spec = field_spec(name)
            self.fields[name] = spec.empty(self.field_shape(spec))
        return self.fields[name]

    # -- layers ---------------------------------------------------------------------------
    def add_layer(self, name: str, frame: Any) -> None:
        """Attach a GeoDataFrame; its CRS must be the territory's (reproject it first)."""
        if frame.crs is None:
            raise CRSError("layer has no CRS", field=name,
                           hint="set one on the source or pass --crs")
        if not crs_equal(frame.crs, self.grid.crs):
            raise CRSError(f"layer CRS {frame.crs.to_string()} differs from the territory CRS "
                           f"{self.grid.crs}", field=name,
                           hint="reproject it with tim.ingest.to_project_crs before adding")
        self.layers[name] = frame

    def add_3d(self, name: str, item: Any) -> None:
        """Attach a :class:`~tim.geometry3d.PointCloud` or :class:`~tim.geometry3d.TriangleMesh`
        already in the territory's CRS."""
        if not crs_equal(item.crs, self.grid.crs):
            raise CRSError(f"{type(item).__name__} CRS {item.crs} differs from the territory "
                           f"CRS {self.grid.crs}", field=name, hint="reproject it first")
        target = self.point_clouds if hasattr(item, "classification") else self.meshes
        target[name] = item

    # -- history --------------------------------------------------------------------------
    def record(self, action: str, **detail: Any) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.history.append(HistoryEntry(action, detail, now))

    def copy(self) -> Territory:
        """A copy whose fields can be changed without touching this territory."""
        return Territory(grid=self.grid, classes=self.classes, name=self.name,
                         vertical_datum=self.vertical_datum,
                         fields={k: v.copy() for k, v in self.fields.items()},
                         layers={k: v.copy() for k, v in self.layers.items()},
                         history=copy.deepcopy(self.history),
                         point_clouds=dict(self.point_clouds), meshes=dict(self.meshes),
                         plan=self.plan)

"""Land-use data for calibration and simulation: maps, drivers, constraint and demand tables,
read from rasters and CSV, checked onto one grid and one study area.

Rules (each broken rule is an :class:`~tim.errors.InputError` naming the file, or a warning
saying what was done):

- every raster must be on the grid of the first land-use map (same CRS, transform and shape):
  resample them first (``gdalwarp``, or ``twin tim build``);
- land-use codes must be 0..254 and, when classes are given, among them; at most 16 classes;
- the study area is where every map, every driver and the constraint have data; cells with
  data in some inputs only are left out, with a warning that counts them per input;
- a demand table whose class total differs from the study area by more than ``tolerance`` is
  refused; a smaller difference is spread over the classes (largest remainders) with a warning.

A conversion table (CSV: a ``from`` column of class codes, one column per target class code)
gives the cost of each transition in [0, 1], or ``x`` (or nothing) where it is forbidden.

Drivers are rasters (``name=path``, ``:categorical`` for category codes) or derived from the
start map of each period: ``slope`` (degrees, from a driver named by ``slope_from``) and
``distance_to_<code>`` (metres to the nearest cell of a class).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from engine.landuse import MAX_CLASSES, interpolate_targets
from engine.suitability import distance_to, slope_degrees
from tim.errors import InputError
from tim.model import Grid, crs_equal

OUTSIDE = 255


@dataclass(frozen=True)
class DriverSpec:
    """A driver: a raster file, or derived (``slope`` of another driver, ``distance_to_C``)."""

    name: str
    path: str | None = None
    categorical: bool = False
    slope_of: str | None = None
    distance_to: int | None = None

    @classmethod
    def parse(cls, text: str) -> DriverSpec:
        """``name=path[:categorical]`` as given on the command line."""
        if "=" not in text:
            raise InputError("a driver is NAME=PATH[:categorical]", field="--driver",
                             value=text)
        name, path = text.split("=", 1)
        categorical = path.endswith(":categorical")
        return cls(name.strip(), path.removesuffix(":categorical"), categorical)

    def to_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v not in (None, False)}


@dataclass
class Notes:
    """Warnings collected while reading, kept for the report."""

    items: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.items.append(text)
        warnings.warn(text, stacklevel=3)


def read_on_grid(path: str | Path, grid: Grid | None, what: str
                 ) -> tuple[np.ndarray, Grid, float | int | None]:
    """Band 1 of ``path``, its grid (CRS kept as the file's WKT, so outputs written on it carry
    the very same CRS) and nodata; an error if it is not on ``grid``."""
    from tim.ingest.raster import read_band

    path = Path(path)
    values, crs, transform, nodata = read_band(path)
    if crs is None:
        raise InputError("the raster declares no CRS", source=path, field="crs",
                         hint="assign one (gdal_edit.py -a_srs EPSG:xxxx)")
    g = Grid(crs.to_wkt(), transform, values.shape)
    if grid is not None:
        same = (values.shape == tuple(grid.shape) and crs_equal(g.crs, grid.crs)
                and np.allclose(g.transform, grid.transform, rtol=1e-9, atol=1e-6))
        if not same:
            raise InputError(f"{what} is on another grid than the first land-use map "
                             f"({values.shape[0]} x {values.shape[1]} cells of "
                             f"{g.transform[0]:g}, origin {g.transform[2]:g}, "
                             f"{g.transform[5]:g} vs {grid.shape[0]} x {grid.shape[1]} of "
                             f"{grid.transform[0]:g}, origin {grid.transform[2]:g}, "
                             f"{grid.transform[5]:g}"
                             f"{'' if crs_equal(g.crs, grid.crs) else ', another CRS'})",
                             source=path, hint="resample it onto the land-use grid first "
                                               "(gdalwarp -te -tr, or twin tim build)")
    return values, g, nodata


def read_land_use(paths: Mapping[int, str | Path], classes: Sequence[int] | None = None
                  ) -> tuple[Grid, tuple[int, ...], dict[int, np.ndarray]]:
    """Land-use maps by year as class codes (uint8, 255 = nodata), their grid and classes.

    Classes are ``classes`` if given (codes outside them are an error), else every code found.
    """
    grid = None
    maps: dict[int, np.ndarray] = {}
    for year, path in sorted(paths.items()):
        values, g, nodata = read_on_grid(path, grid, f"land-use map {year}")
        grid = grid or g
        inside = np.ones(values.shape, bool) if nodata is None else values != nodata
        if values.dtype.kind == "f":
            inside &= np.isfinite(values)
        bad = inside & ((values < 0) | (values > 254) | (values != np.round(values)))
        if bad.any():
            raise InputError("land-use codes must be integers 0..254 (255 is nodata)",
                             source=path, value=sorted(np.unique(values[bad]).tolist())[:10])
        codes = np.where(inside, values, OUTSIDE).astype(np.uint8)
        maps[int(year)] = codes
    found = sorted(set().union(*(np.unique(m[m != OUTSIDE]).tolist() for m in maps.values())))
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        counts = {c: int(sum((m == c).sum() for m in maps.values())) for c in unknown}
        raise InputError(f"class codes not in the class list (code: cells): {counts}",
                         source=next(iter(paths.values())), field="classes",
                         value=list(classes), hint="add them to --classes or mark them nodata")
    if not 1 <= len(classes) <= MAX_CLASSES:
        raise InputError(f"the model handles 1..{MAX_CLASSES} classes", field="classes",
                         value=list(classes))
    return grid, tuple(int(c) for c in classes), maps


def to_index(codes_map: np.ndarray, classes: Sequence[int]) -> np.ndarray:
    lut = np.full(256, OUTSIDE, dtype=np.uint8)
    lut[list(classes)] = np.arange(len(classes), dtype=np.uint8)
    return lut[codes_map]


def read_drivers(specs: Sequence[DriverSpec], grid: Grid) -> dict[str, np.ndarray]:
    """The raster drivers as float32 with NaN for nodata (derived ones come later)."""
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.path is None:
            continue
        if spec.name in out:
            raise InputError("driver named twice", field="--driver", value=spec.name)
        values, _, nodata = read_on_grid(spec.path, grid, f"driver {spec.name!r}")
        data = values.astype(np.float32)
        if nodata is not None:
            data[values == nodata] = np.nan
        out[spec.name] = data
    return out


def derive_drivers(specs: Sequence[DriverSpec], raw: Mapping[str, np.ndarray],
                   start_codes: np.ndarray, grid: Grid) -> dict[str, np.ndarray]:
    """All drivers of a period: the raster ones plus those derived from its start map."""
    out = {s.name: raw[s.name] for s in specs if s.path is not None}
    for s in specs:
        if s.slope_of is not None:
            if s.slope_of not in raw:
                raise InputError("slope needs the elevation driver it is computed from",
                                 field="--slope-from", value=s.slope_of)
            out[s.name] = _slope(raw[s.slope_of], grid)
        elif s.distance_to is not None:
            out[s.name] = distance_to(start_codes == s.distance_to, grid.cell_size)
    return out


def _slope(elevation: np.ndarray, grid: Grid) -> np.ndarray:
    """Slope (degrees) that stays defined at the edge of the data: NaN cells take the nearest
    elevation for the differences, and stay NaN themselves."""
    from scipy import ndimage

    missing = ~np.isfinite(elevation)
    filled = elevation
    if missing.any() and not missing.all():
        nearest = ndimage.distance_transform_edt(missing, return_distances=False,
                                                 return_indices=True)
        filled = elevation[tuple(nearest)]
    slope = slope_degrees(filled, grid.cell_size)
    slope[missing] = np.nan
    return slope


def derived_specs(slope_from: str | None, distance_to: Sequence[int]) -> list[DriverSpec]:
    specs = [DriverSpec("slope", slope_of=slope_from)] if slope_from else []
    return specs + [DriverSpec(f"distance_to_{int(c)}", distance_to=int(c))
                    for c in distance_to]


def read_constraint(path: str | Path | None, grid: Grid) -> np.ndarray | None:
    """The constraint raster as uint8: 1 = may change, 0 = never changes, 255 = nodata."""
    if path is None:
        return None
    values, _, nodata = read_on_grid(path, grid, "constraint")
    out = np.where(values != 0, 1, 0).astype(np.uint8)
    if nodata is not None:
        out[values == nodata] = OUTSIDE
    return out


def study_area(maps: Sequence[np.ndarray], names: Sequence[str],
               drivers: Mapping[str, np.ndarray], constraint: np.ndarray | None,
               notes: Notes) -> np.ndarray:
    """Cells with data everywhere; cells left out for lack of data in some input are counted
    per input in a warning."""
    area = np.ones(maps[0].shape, bool)
    for m in maps:
        area &= m != OUTSIDE
    union = np.zeros(maps[0].shape, bool)
    for m in maps:
        union |= m != OUTSIDE
    lost = {name: int((union & (m == OUTSIDE)).sum()) for name, m in zip(names, maps)}
    for name, d in drivers.items():
        missing = union & ~np.isfinite(d)
        lost[f"driver {name}"] = int(missing.sum())
        area &= ~missing
    if constraint is not None:
        lost["constraint"] = int((union & (constraint == OUTSIDE)).sum())
        area &= constraint != OUTSIDE
    lost = {k: v for k, v in lost.items() if v}
    if lost:
        notes.warn(f"{int((union & ~area).sum())} cells with data in some inputs only were "
                   f"left out of the study area (cells without data, per input: {lost})")
    return area


@dataclass(frozen=True)
class DemandTable:
    """Target class areas (cells) by year; ``targeted`` marks the classes the table binds."""

    years: tuple[int, ...]
    targets: np.ndarray  # (years, regions, K)
    targeted: np.ndarray  # (regions, K)


def read_demand(path: str | Path, classes: Sequence[int], *, n_regions: int = 1
                ) -> DemandTable:
    """A CSV with a ``year`` column, an optional ``zone`` column (0..regions-1) and one column
    per class code, holding the class areas in cells wanted at the end of that year."""
    from tim.config import numeric_column, read_csv

    table = read_csv(path, "demand table")
    if "year" not in table.columns:
        raise InputError("the demand table needs a 'year' column", source=path,
                         value=list(table.columns))
    table["year"] = numeric_column(table, "year", path, integer=True, low=1000, high=3000)
    zone = numeric_column(table, "zone", path, integer=True, low=0, high=1e6) \
        if "zone" in table.columns else pd.Series(0, table.index)
    if zone.min() < 0 or zone.max() >= n_regions:
        raise InputError(f"zones must be 0..{n_regions - 1} (give --zones for more)",
                         source=path, field="zone", value=sorted(zone.unique().tolist()))
    columns = [c for c in table.columns if c not in ("year", "zone")]
    codes = []
    for c in columns:
        try:
            codes.append(int(c))
        except ValueError:
            raise InputError("class columns must be class codes", source=path, field=str(c)
                             ) from None
    unknown = sorted(set(codes) - set(classes))
    if unknown:
        raise InputError("demand for class codes the model does not know", source=path,
                         value=unknown, hint=f"classes: {list(classes)}")
    if not columns:
        raise InputError("the demand table has no class columns", source=path)
    for c in columns:  # cells: a territory of 1e12 cells would not fit in any memory
        table[c] = numeric_column(table, c, path, low=0, high=1e12)
    years = tuple(sorted(int(y) for y in table["year"].unique()))
    targets = np.zeros((len(years), n_regions, len(classes)), dtype=np.int64)
    targeted = np.zeros((n_regions, len(classes)), dtype=bool)
    for (_, row), z in zip(table.iterrows(), zone):
        y = years.index(int(row["year"]))
        for code in codes:
            targets[y, z, list(classes).index(code)] = int(round(row[str(code)]))
            targeted[z, list(classes).index(code)] = True
    return DemandTable(years, targets, targeted)


def fit_totals(demand: DemandTable, have: np.ndarray, *, source: str | Path,
               tolerance: float, notes: Notes) -> DemandTable:
    """Targets whose total (per region) equals the study area ``have`` (regions, K), when
    every class is targeted; small differences are spread, large ones refused."""
    if not demand.targeted.all():
        return demand
    out = demand.targets.copy()
    total = have.sum(axis=1)
    for y, year in enumerate(demand.years):
        for z in range(out.shape[1]):
            wanted = out[y, z].sum()
            if wanted == total[z]:
                continue
            gap = int(total[z] - wanted)
            if abs(gap) > tolerance * total[z]:
                raise InputError(f"the demand for {year} totals {wanted} cells but the study "
                                 f"area (zone {z}) has {total[z]}: {abs(gap)} cells "
                                 f"{'more' if gap < 0 else 'fewer'} than the land available",
                                 source=source, hint="the class areas of a year must add up "
                                                     "to the study area")
            exact = out[y, z] * (total[z] / wanted)
            base = np.floor(exact).astype(np.int64)
            extra = np.argsort(-(exact - base), kind="stable")[: total[z] - base.sum()]
            base[extra] += 1
            notes.warn(f"{source}: the demand for {year} totals {wanted} cells, the study area "
                       f"{total[z]}; the class areas were scaled by {total[z] / wanted:.6f} "
                       f"to fit (largest remainders)")
            out[y, z] = base
    return DemandTable(demand.years, out, demand.targeted)


def yearly_targets(path: str | Path, classes: Sequence[int], have: np.ndarray,
                   start_year: int, *, tolerance: float, notes: Notes
                   ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The demand table of ``path`` as one target per year after ``start_year``: (years,
    (steps, regions, K) class areas, (regions, K) targeted). Rows are fitted to the land
    available (``have``, :func:`fit_totals`) and interpolated linearly between the years
    given, as FLUS and PLUS do; ``twin simulate`` and scenario tables read demand here."""
    table = read_demand(path, classes, n_regions=have.shape[0])
    if table.years[0] <= start_year:
        raise InputError(f"demand years must come after the start year {start_year}",
                         source=path, field="year", value=list(table.years))
    table = fit_totals(table, have, source=path, tolerance=tolerance, notes=notes)
    targets, years, previous, year0 = [], [], have, start_year
    for year, target in zip(table.years, table.targets):
        target = np.where(table.targeted, target, previous)
        targets.append(interpolate_targets(previous, target, year - year0))
        years += list(range(year0 + 1, year + 1))
        previous, year0 = target, year
    return years, np.concatenate(targets), table.targeted


def read_conversion(path: str | Path, classes: Sequence[int]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, cost) (K, K) tables from a conversion CSV (see the module docs); every class
    must have its row and its column."""
    from tim.config import read_csv

    table = read_csv(path, "conversion table", dtype=str, keep_default_na=False)
    if "from" not in table.columns:
        raise InputError("the conversion table needs a 'from' column", source=path,
                         value=list(table.columns))
    codes = [str(int(c)) for c in classes]
    rows = [r.strip() for r in table["from"]]
    missing = sorted(set(codes) - set(rows)) + sorted(set(codes) - set(table.columns))
    extra = sorted((set(rows) | set(table.columns) - {"from"}) - set(codes))
    if missing or extra:
        raise InputError("the conversion table must list exactly the classes as rows and "
                         f"columns (missing {missing}, unknown {extra})", source=path,
                         value=list(classes))
    n = len(codes)
    allowed, cost = np.zeros((n, n), bool), np.zeros((n, n))
    for i, code in enumerate(codes):
        row = table[table["from"].str.strip() == code].iloc[0]
        for j, target in enumerate(codes):
            text = row[target].strip().lower()
            if text in ("", "x"):
                continue
            try:
                value = float(text)
            except ValueError:
                raise InputError("a cost must be a number in [0, 1] or x (forbidden)",
                                 source=path, field=f"{code}->{target}", value=text) from None
            if not 0 <= value <= 1:
                raise InputError("a cost must be in [0, 1]", source=path,
                                 field=f"{code}->{target}", value=value)
            allowed[i, j], cost[i, j] = True, value
    return allowed, cost

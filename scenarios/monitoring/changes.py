"""Change patches between two observed land-use maps, checked against the control lines: the
leads an inspector follows up (图斑变化监测), and the farmland balance (耕地占补平衡) per unit.

A change patch is a connected group (8- or 4-connected) of cells that changed between the two
maps *with the same from/to classes*; patches smaller than ``min_area_ha`` are dropped (noise of
the classification). Each patch gets its area, centroid, planning unit (the unit holding most of
its cells), the area inside each control line and a severity:

========  ==============================================================================
critical  built-up land inside the ecological red line or permanent basic farmland
high      ecological land lost inside the red line, farmland lost inside permanent basic
          farmland (非农化), or built-up land on a water line
medium    new built-up land outside the urban development boundary, water lost on a water
          line
low       any other change
========  ==============================================================================

``write_changes`` writes ``OUT_DIR``::

    manifest.json          format, inputs, parameters, control lines (source TIM or derived and
                           the rule), counts and areas per severity and per line, files, timings
    patches.gpkg           layer ``change_patches``: one polygon per patch with every column
    patches.csv            the same without geometry, most severe and largest first
    patches.tif            patch id of each cell (int32, 0 = no kept patch), the TIM's grid
    line_summary.csv       per control line: patches touching it (inside it; for the boundary,
                           outside it), their area, the area inside (outside) and severities
    farmland_balance.csv   per unit (and the city): farmland lost, gained, net, status
    report.html (.pdf)     the short report sorted by severity
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from engine.kernels.labelling import label, patch_stats
from scenarios.areas import PLAN_MARGIN
from scenarios.monitoring.observed import NODATA, ControlLines, LINES
from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.model import Territory

FORMAT = "territory-twin/changes"
SEVERITIES = ("critical", "high", "medium", "low")
PATCH_COLUMNS = ["patch_id", "severity", "reason", "from_class", "from_name", "to_class",
                 "to_name", "cells", "area_ha", "x", "y", "unit_id", "unit", "district",
                 "red_line_ha", "basic_farmland_ha", "outside_boundary_ha", "water_line_ha",
                 "touches"]
#: Patch column of the area inside (outside, for the boundary) each line.
LINE_COLUMNS = {"ecological_red_line": "red_line_ha",
                "permanent_basic_farmland": "basic_farmland_ha",
                "urban_development_boundary": "outside_boundary_ha",
                "water_line": "water_line_ha"}


@dataclass(frozen=True)
class ChangeResult:
    before: int
    after: int
    patches: pd.DataFrame          # PATCH_COLUMNS, most severe first
    labels: np.ndarray             # patch id per cell (0: none kept)
    balance: pd.DataFrame          # farmland balance per unit and city
    line_summary: pd.DataFrame
    lines: ControlLines
    changed_cells: int
    dropped: int                   # patches under the minimum size
    min_area_ha: float
    connectivity: int


def change_patches(territory: Territory, before: np.ndarray, after: np.ndarray,
                   lines: ControlLines, *, years: tuple[int, int] = (0, 1),
                   min_area_ha: float = 1.0, connectivity: int = 8) -> ChangeResult:
    """Change patches from ``before`` to ``after`` (class codes, 255 nodata, the TIM's grid).

    Examples
    --------
    A 2 x 2 block of cropland (1) turned built-up (7) inside permanent basic farmland is one
    critical patch:

    >>> from tim.model import Grid
    >>> from tim.classes import DEFAULT_CLASSES
    >>> t = Territory(Grid("EPSG:32649", (100.0, 0, 0, 0, -100.0, 400.0), (4, 4)),
    ...               DEFAULT_CLASSES)
    >>> a = np.ones((4, 4), np.uint8); b = a.copy(); b[:2, :2] = 7
    >>> farm = ControlLines({"permanent_basic_farmland": a == 1})
    >>> r = change_patches(t, a, b, farm, min_area_ha=1)
    >>> r.patches[["severity", "area_ha", "basic_farmland_ha"]].values.tolist()
    [['critical', 4.0, 4.0]]
    """
    if before.shape != territory.grid.shape or after.shape != territory.grid.shape:
        raise InputError("the maps are not on the TIM's grid", field="land_use__class",
                         value=(before.shape, after.shape, territory.grid.shape))
    if min_area_ha < 0:
        raise InputError("the minimum patch area must be >= 0", field="--min-area",
                         value=min_area_ha)
    cell_ha = territory.grid.cell_area / 10_000.0
    valid = (before != NODATA) & (after != NODATA)
    changed = valid & (before != after)
    # one code per transition, so touching patches of different transitions stay apart
    key = before.astype(np.int32)  # before * 256 + after + 1, in place (8.6 M cells)
    key <<= 8
    key |= after
    key += 1
    key[~changed] = 0
    labels, count = label(key, connectivity)
    line_names = list(lines.masks)
    stack = np.stack([lines.masks[n] for n in line_names]) if line_names else None
    stats = patch_stats(labels, count, stack)
    keep = stats["cells"] * cell_ha >= min_area_ha - 1e-9
    new_id = np.zeros(count + 1, np.int32)
    kept_old = np.flatnonzero(keep) + 1
    new_id[kept_old] = np.arange(1, kept_old.size + 1, dtype=np.int32)
    kept_labels = new_id[labels]

    first = stats["first"][keep]
    cls = territory.classes
    names = {c.code: c.name for c in cls}
    groups = {c.code: c.group for c in cls}
    frm = before.ravel()[first].astype(int)
    to = after.ravel()[first].astype(int)
    a, _, c0, _, e, f0 = territory.grid.transform
    cells = stats["cells"][keep]
    df = pd.DataFrame({
        "from_class": frm, "from_name": [names[v] for v in frm],
        "to_class": to, "to_name": [names[v] for v in to],
        "cells": cells, "area_ha": cells * cell_ha,
        "x": c0 + a * (stats["col"][keep] + 0.5), "y": f0 + e * (stats["row"][keep] + 0.5)})
    for j, name in enumerate(line_names):
        inside = stats["inside"][keep, j] * cell_ha
        df[LINE_COLUMNS[name]] = (df["area_ha"] - inside if name == "urban_development_boundary"
                                  else inside)
    for name, column in LINE_COLUMNS.items():
        if name not in lines.masks:
            df[column] = 0.0
    df = _units(df, territory, kept_labels, kept_old.size)
    built = cls.built.code
    df["severity"], df["reason"] = _severity(df, groups, built)
    touches = pd.Series("", index=df.index, dtype=object)
    for n in line_names:  # ";line;line" then the leading ";" dropped
        word = ";outside_" + n if n == "urban_development_boundary" else ";" + n
        touches = touches + np.where(df[LINE_COLUMNS[n]].to_numpy() > 0, word, "")
    df["touches"] = touches.str[1:]
    df["_label"] = np.arange(1, len(df) + 1)  # kept labels are in raster order
    order = df["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    df = df.assign(_o=order).sort_values(["_o", "area_ha", "_label"],
                                         ascending=[True, False, True])
    # patch ids follow the report's order (1 = most severe, then largest), in every output
    df["patch_id"] = np.arange(1, len(df) + 1)
    to_patch = np.zeros(len(df) + 1, np.int32)
    to_patch[df["_label"].to_numpy()] = df["patch_id"].to_numpy(np.int32)
    df = df[PATCH_COLUMNS].reset_index(drop=True)
    return ChangeResult(years[0], years[1], df, to_patch[kept_labels],
                        farmland_balance(territory, before, after, valid),
                        _line_summary(df, lines, cell_ha), lines, int(changed.sum()),
                        int(count - kept_old.size), float(min_area_ha), connectivity)


def _units(df: pd.DataFrame, territory: Territory, labels: np.ndarray, n: int) -> pd.DataFrame:
    """The unit holding most of each patch's cells (ties: the lowest unit id)."""
    field = territory.fields.get("planning__unit_id")
    layer = territory.layers.get("planning_units")
    if field is None or layer is None or n == 0:
        return df.assign(unit_id=0, unit="", district="")
    lab = labels.ravel()
    on = lab > 0
    unit = field.ravel()[on].astype(np.int64)
    pairs, counts = np.unique(lab[on].astype(np.int64) * (int(unit.max()) + 1) + unit,
                              return_counts=True)
    patch, uid = pairs // (int(unit.max()) + 1), pairs % (int(unit.max()) + 1)
    # sort by patch, then most cells first (stable, so the lowest unit id wins a tie)
    o = np.lexsort((uid, -counts, patch))
    patch, uid = patch[o], uid[o]
    best = np.zeros(n + 1, np.int64)
    firsts = np.r_[True, patch[1:] != patch[:-1]]
    best[patch[firsts]] = uid[firsts]
    name = dict(zip(layer["unit_id"].astype(int), layer["name"].astype(str)))
    district = dict(zip(layer["unit_id"].astype(int), layer["district"].astype(str)))
    ids = best[1:]
    return df.assign(unit_id=ids, unit=[name.get(int(i), "") for i in ids],
                     district=[district.get(int(i), "") for i in ids])


#: The severity rules, the first that holds wins (see the module docs).
SEVERITY_RULES = [("critical", "built-up land inside the ecological red line"),
         ("critical", "built-up land inside permanent basic farmland"),
         ("high", "ecological land lost inside the ecological red line"),
         ("high", "farmland lost inside permanent basic farmland"),
         ("high", "built-up land on a water line"),
         ("medium", "new built-up land outside the urban development boundary"),
         ("medium", "water lost on a water line")]
OTHER = ("low", "change outside the control lines' rules")


def _severity(df: pd.DataFrame, groups: dict[int, str], built: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Severity and reason of every patch (:data:`SEVERITY_RULES`), for all patches at once."""
    to_built = df["to_class"].to_numpy() == built
    g_from = df["from_class"].map(groups).to_numpy()
    g_to = df["to_class"].map(groups).to_numpy()
    red, farm, water, outside = (df[c].to_numpy() > 0 for c in (
        "red_line_ha", "basic_farmland_ha", "water_line_ha", "outside_boundary_ha"))
    holds = [to_built & red, to_built & farm,
             red & (g_from == "ecological") & (g_to != "ecological"),
             farm & (g_from == "farmland") & (g_to != "farmland"),
             to_built & water, to_built & outside, water & (g_from == "water")]
    rule = np.select(holds, np.arange(len(SEVERITY_RULES)), len(SEVERITY_RULES))
    table = np.array(SEVERITY_RULES + [OTHER], dtype=object)
    return table[rule, 0], table[rule, 1]


def _line_summary(df: pd.DataFrame, lines: ControlLines, cell_ha: float) -> pd.DataFrame:
    rows = []
    for name in LINES:
        if name not in lines.masks:
            continue
        column = LINE_COLUMNS[name]
        touching = df[df[column] > 0]
        rows.append({"line": name, "label": lines.label(name),
                     "relation": "outside" if name == "urban_development_boundary"
                     else "inside",
                     "source": "derived" if name in lines.derived else "TIM",
                     "patches": len(touching), "patch_area_ha": touching["area_ha"].sum(),
                     "area_in_line_ha": touching[column].sum(),
                     "critical": int((touching["severity"] == "critical").sum()),
                     "high": int((touching["severity"] == "high").sum())})
    return pd.DataFrame(rows, columns=["line", "label", "relation", "source", "patches",
                                       "patch_area_ha", "area_in_line_ha", "critical", "high"])


def farmland_balance(territory: Territory, before: np.ndarray, after: np.ndarray,
                     valid: np.ndarray | None = None) -> pd.DataFrame:
    """Farmland lost and gained (ha) per unit and for the city; a unit whose loss is not
    compensated is yellow when the shortfall is within 5 % of the loss
    (:data:`scenarios.areas.PLAN_MARGIN`, as for plan targets), red beyond."""
    cls = territory.classes
    valid = (before != NODATA) & (after != NODATA) if valid is None else valid
    farm = np.zeros(256, bool)
    farm[[c.code for c in cls.in_group("farmland")]] = True
    was, now = farm[before] & valid, farm[after] & valid
    cell_ha = territory.grid.cell_area / 10_000.0
    lost, gained = np.flatnonzero(was & ~now), np.flatnonzero(now & ~was)
    rows = []
    field = territory.fields.get("planning__unit_id")
    layer = territory.layers.get("planning_units")
    if field is not None and layer is not None:
        ids = field.ravel().astype(np.int64)
        n = int(max(ids.max(), layer["unit_id"].max())) + 1
        lost_u = np.bincount(ids[lost], minlength=n) * cell_ha
        gained_u = np.bincount(ids[gained], minlength=n) * cell_ha
        for r in layer.sort_values("unit_id").itertuples():
            rows.append(("unit", str(r.unit_id), str(r.name), str(r.district),
                         lost_u[r.unit_id], gained_u[r.unit_id]))
    rows.append(("city", "", territory.name, "", lost.size * cell_ha, gained.size * cell_ha))
    df = pd.DataFrame(rows, columns=["level", "area_id", "area", "district", "lost_ha",
                                     "gained_ha"])
    df["net_ha"] = df["gained_ha"] - df["lost_ha"]
    shortfall = -df["net_ha"]
    df["status"] = np.where(shortfall <= 1e-9, "green",
                            np.where(shortfall <= PLAN_MARGIN * df["lost_ha"], "yellow", "red"))
    df["message"] = [f"{r.lost_ha:.2f} ha of farmland lost, {r.gained_ha:.2f} ha gained: "
                     f"{-r.net_ha:.2f} ha not compensated (占补平衡)" if r.status != "green"
                     else "" for r in df.itertuples()]
    return df


def patch_polygons(result: ChangeResult, territory: Territory):
    """The kept patches as a GeoDataFrame of polygons (the patches' cells, dissolved)."""
    import geopandas as gpd
    import shapely
    from affine import Affine
    from rasterio import features

    transform = Affine(*territory.grid.transform)
    ids, ring_sizes, rings_per_polygon, xy = [], [], [], []
    for geom, value in features.shapes(result.labels, mask=result.labels > 0,
                                       connectivity=result.connectivity, transform=transform):
        ids.append(int(value))
        rings = geom["coordinates"]
        rings_per_polygon.append(len(rings))
        for ring in rings:
            ring_sizes.append(len(ring))
            xy.extend(ring)
    # one vectorised construction rather than a shapely object per GeoJSON dict: the same
    # coordinates, shells first then holes, as shapely.geometry.shape builds them
    coords = np.array(xy, dtype=np.float64).reshape(-1, 2)
    rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(ring_sizes)),
                                                          ring_sizes))
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(ids)),
                                                         rings_per_polygon))
    parts = gpd.GeoDataFrame({"label": ids}, geometry=polygons, crs=territory.grid.crs)
    # a patch joined only diagonally comes out in pieces: one (multi)polygon per patch
    if parts["label"].duplicated().any():
        parts = parts.dissolve(by="label", as_index=False)
    return parts


def write_changes(result: ChangeResult, territory: Territory, directory: str | Path, *,
                  inputs: dict, pdf: bool = False, langs: Sequence[str] = ("en",),
                  command: list[str] | None = None) -> Path:
    """Write the change folder (see the module docs) atomically."""
    from scenarios.monitoring.reports import changes_report, write_reports
    from scenarios.rundir import git_commit, software_versions
    from tim.store import write_layer, write_raster

    started = time.perf_counter()
    directory = Path(directory)
    df = result.patches
    with atomic_directory(directory) as tmp:
        df.to_csv(tmp / "patches.csv", index=False)
        result.balance.to_csv(tmp / "farmland_balance.csv", index=False)
        result.line_summary.to_csv(tmp / "line_summary.csv", index=False)
        write_raster(tmp / "patches.tif", result.labels, territory.grid, 0)
        polys = patch_polygons(result, territory)
        gdf = polys.rename(columns={"label": "patch_id"}).merge(df, on="patch_id")
        gdf = gdf.sort_values("patch_id")
        write_layer(gdf, tmp / "patches.gpkg", "change_patches")
        files = {"patches.csv": "one row per change patch (PATCH_COLUMNS), most severe first",
                 "patches.gpkg": "layer change_patches: the same with polygons",
                 "patches.tif": "patch_id per cell (int32, 0 = none)",
                 "line_summary.csv": "patches touching each control line",
                 "farmland_balance.csv": "farmland lost / gained per unit and city"}
        pictures: dict = {}  # each map drawn once for every language
        for name in write_reports(
                lambda lang: changes_report(result, territory, inputs, lang, pictures=pictures),
                tmp, langs, pdf=pdf):
            files[name] = "the report"
        manifest = {
            "format": FORMAT, "format_version": 1, "command": command,
            "territory": territory.name, "grid": territory.grid.to_dict(),
            "before": result.before, "after": result.after, "inputs": inputs,
            "min_area_ha": result.min_area_ha, "connectivity": result.connectivity,
            "control_lines": result.lines.to_dict(territory.grid.cell_area / 1e4),
            "changed_cells": result.changed_cells, "patches": int(len(df)),
            "patches_below_minimum": result.dropped,
            "by_severity": {s: {"patches": int((df["severity"] == s).sum()),
                                "area_ha": round(float(df.loc[df["severity"] == s,
                                                              "area_ha"].sum()), 2)}
                            for s in SEVERITIES},
            "classes": territory.classes.to_list(),
            "farmland_uncompensated_units": int(((result.balance["level"] == "unit")
                                                 & (result.balance["status"] != "green")).sum()),
            "files": files, "git_commit": git_commit(), "software": software_versions(),
            "write_seconds": round(time.perf_counter() - started, 2)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=_json))
    return directory


def _json(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(type(value))


def run_changes(tim: str | Path, before: str, after: str, out: str | Path, *,
                min_area_ha: float = 1.0, connectivity: int = 8, derive_lines: bool = False,
                water_constraint: str | Path | None = None, pdf: bool = False,
                langs: Sequence[str] = ("en",), note: str | None = None,
                command: list[str] | None = None) -> ChangeResult:
    """``twin changes``: read the TIM and the two ``YEAR=PATH`` maps, find the patches, write
    ``out``. Lines the TIM lacks are derived from the earlier map with ``derive_lines``."""
    from scenarios.monitoring.reports import languages

    langs = languages(langs)  # refused before anything is computed or written

    from scenarios.monitoring.observed import (control_lines, parse_year_paths,
                                               read_observed_map, read_observed_raster)
    from tim.store import load_territory

    started = time.perf_counter()
    years = parse_year_paths([before, after], "--before/--after")
    (y0, p0), (y1, p1) = years.items()
    if y0 == y1:
        raise InputError("the two maps have the same year", field="--after", value=after)
    # the units and the control lines: the TIM's other rasters are not needed here
    territory = load_territory(tim, fields=lambda name: name == "planning__unit_id"
                               or name.startswith("control__"))
    m0 = read_observed_map(p0, territory, f"observed land use {y0}")
    m1 = read_observed_map(p1, territory, f"observed land use {y1}")
    water = (read_observed_raster(water_constraint, territory, "water constraint")
             if water_constraint else None)
    lines = control_lines(territory, reference=m0, water_constraint=water, derive=derive_lines)
    result = change_patches(territory, m0, m1, lines, years=(y0, y1), min_area_ha=min_area_ha,
                            connectivity=connectivity)
    computed = time.perf_counter() - started
    inputs = {"tim": str(tim), "before": str(p0), "after": str(p1),
              "water_constraint": str(water_constraint) if water_constraint else None,
              "compute_seconds": round(computed, 2)}
    if note:  # what the maps are when not observations (see run_assessment)
        inputs["note"] = note
    write_changes(result, territory, out, inputs=inputs, pdf=pdf, langs=langs,
                  command=command)
    return result

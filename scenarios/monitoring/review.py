"""Compliance review of proposals (建设项目 / 详细规划修改 审查): building footprints (height or
storeys, use) or parcels of a revised detailed plan (use, FAR, height, coverage, green ratio),
each checked against every rule of an editable YAML (``review.yaml``) that names its legal
source. A failing proposal is a finding, not an error.

Checks (``check`` of a rule):

- ``outside_lines`` / ``inside_lines``: share of the proposal's cells inside the control lines
  (TIM fields, or derived stand-ins) must be 0 % / 100 %;
- ``use_allowed``: the proposal's national first-level use code is in the zone use's list;
- ``cap`` / ``floor``: an attribute (far, height, coverage, green_ratio) against the zone's value
  (``limit: zone.max_far``) or a table by zone use (``by_use``);
- ``height_rules``: building tops under the height rules' surfaces and protected view corridors
  (:func:`scenarios.planning.heights.check_heights`; parcels against the lowest maximum allowable height
  over the parcel);
- ``unit_balance``: the planning unit's built-up area and population after all its proposals
  against the plan's unit targets.

A proposal lies in the zone and unit under its representative point; its cells are those whose
centre it covers (the representative point's cell when it covers none).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scenarios.monitoring.observed import LINES, ControlLines
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import Territory

FORMAT = "territory-twin/review"
ATTRIBUTES = ("far", "height", "coverage", "green_ratio")
ZONE_LIMITS = ("zone.max_far", "zone.max_height")
MEASURES = {"far": "floor-area ratio", "height": "m", "coverage": "share of plot",
            "green_ratio": "share of plot"}
RESULT_COLUMNS = ["proposal_id", "kind", "rule", "check", "measured", "limit", "unit_of_measure",
                  "result", "zone", "unit", "note", "source"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    check: Literal["outside_lines", "inside_lines", "use_allowed", "cap", "floor",
                   "height_rules", "unit_balance"]
    source: str = Field(min_length=3, description="the legal source: law, regulation, standard")
    lines: tuple[str, ...] = ()
    allowed: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    attribute: str | None = None
    limit: str | None = None
    by_use: dict[str, float] = Field(default_factory=dict)
    indicators: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        if self.check in ("outside_lines", "inside_lines"):
            unknown = set(self.lines) - set(LINES)
            if not self.lines or unknown:
                raise ValueError(f"lines must name control lines of {sorted(LINES)}, got "
                                 f"{sorted(unknown) or 'none'}")
        if self.check in ("cap", "floor"):
            if self.attribute not in ATTRIBUTES:
                raise ValueError(f"unknown attribute {self.attribute!r}; attributes: "
                                 f"{', '.join(ATTRIBUTES)}")
            if (self.limit is None) == (not self.by_use):
                raise ValueError("give the limit as 'limit' (a zone field) or 'by_use'")
            if self.limit is not None and self.limit not in ZONE_LIMITS:
                raise ValueError(f"unknown limit field {self.limit!r}; fields: "
                                 f"{', '.join(ZONE_LIMITS)}")
        if self.check == "use_allowed" and not self.allowed:
            raise ValueError("use_allowed needs the 'allowed' table (zone use -> codes)")
        if self.check == "unit_balance":
            unknown = set(self.indicators) - {"built_up_area", "population"}
            if not self.indicators or unknown:
                raise ValueError("unit_balance checks built_up_area and/or population, got "
                                 f"{sorted(unknown) or 'none'}")
        return self


class ReviewRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    people_per_floor_area_m2: float = Field(45.0, gt=0)
    storey_height_m: float = Field(3.0, gt=0, le=10)
    required: dict[Literal["building", "parcel"], tuple[str, ...]]
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _ids(self) -> ReviewRules:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids must be unique, got {ids}")
        return self


def load_review_rules(path: str | Path | None = None) -> ReviewRules:
    source = Path(path) if path else Path(str(resources.files("scenarios.monitoring")
                                              / "review.yaml"))
    raw = read_yaml(source, "review rules")
    try:
        return ReviewRules.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, source) from exc


def read_proposals(path: str | Path, territory: Territory, rules: ReviewRules) -> Any:
    """Proposals as a GeoDataFrame in the TIM's CRS with ``kind`` (parcel when a ``far`` column
    is present, else building); a missing required attribute names file, field and row."""
    from tim.ingest.vector import read_vector

    frame = read_vector(path, assume_crs=territory.grid.crs).to_crs(territory.grid.crs)
    if len(frame) == 0:
        raise InputError("the proposals file has no features", source=path)
    kind = "parcel" if "far" in frame.columns else "building"
    frame = frame.copy()
    if kind == "building" and "height" not in frame.columns and "storeys" in frame.columns:
        frame["height"] = pd.to_numeric(frame["storeys"], errors="coerce") * \
            rules.storey_height_m
    elif kind == "building" and "storeys" in frame.columns:
        frame["height"] = pd.to_numeric(frame["height"], errors="coerce").fillna(
            pd.to_numeric(frame["storeys"], errors="coerce") * rules.storey_height_m)
    for name in rules.required[kind]:
        if name not in frame.columns:
            raise InputError(f"every {kind} proposal needs the attribute {name!r}", source=path,
                             field=name, hint=f"columns: {', '.join(map(str, frame.columns))}")
        empty = frame[name].isna()
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise InputError(f"a {kind} proposal has no {name!r}", source=path, field=name,
                             hint=f"row {row}"
                             + (f", proposal {frame['proposal_id'].iloc[row]}"
                                if "proposal_id" in frame and name != "proposal_id" else ""))
    for name in ATTRIBUTES:
        if name in frame.columns:
            values = pd.to_numeric(frame[name], errors="coerce")
            if values.isna().any() or (values < 0).any():
                row = int(np.flatnonzero((values.isna() | (values < 0)).to_numpy())[0])
                raise InputError(f"{name} must be a number >= 0", source=path, field=name,
                                 value=frame[name].iloc[row], hint=f"row {row}")
            frame[name] = values.astype(float)
    if frame["proposal_id"].astype(str).duplicated().any():
        raise InputError("proposal ids must be unique", source=path, field="proposal_id")
    frame["proposal_id"] = frame["proposal_id"].astype(str)
    frame["kind"] = kind
    return frame


def _national(use: Any) -> int | None:
    from tim.classes import national_first_level

    return national_first_level(use)


@dataclass(frozen=True)
class Review:
    results: pd.DataFrame          # RESULT_COLUMNS, one row per proposal and rule
    proposals: Any                 # GeoDataFrame with result, failed rules
    lines: ControlLines
    cells: np.ndarray              # proposal index + 1 per cell (0 none)


def review(territory: Territory, proposals: Any, rules: ReviewRules, lines: ControlLines, *,
           height_rules: Any = None) -> Review:
    """Check every proposal against every rule (see the module docs)."""
    from tim.rasterize import rasterize

    grid, cell_area = territory.grid, territory.grid.cell_area
    n = len(proposals)
    geoms = proposals.geometry.values
    cells = rasterize(geoms, np.arange(1, n + 1), grid, "int32")
    points = proposals.geometry.representative_point()
    point_cell = grid.cell_index(points.x.to_numpy(), points.y.to_numpy())
    flat = cells.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(n + 2))
    cells_of = []
    for i in range(n):
        mine = order[bounds[i + 1]:bounds[i + 2]]
        if mine.size == 0 and point_cell[i] >= 0:
            mine = np.array([point_cell[i]])
        cells_of.append(mine)
    zones = _zones(territory, point_cell)
    units = _units(territory, point_cell)
    rows: list[dict[str, Any]] = []
    height_check = _height_limits(territory, proposals, height_rules, cells_of)
    for i, p in enumerate(proposals.itertuples()):
        zone = zones[i]
        for rule in rules.rules:
            if rule.check == "unit_balance":
                continue  # judged per unit, after all of the unit's proposals (below)
            base = {"proposal_id": p.proposal_id, "kind": p.kind, "rule": rule.id,
                    "check": rule.check, "zone": zone.get("zone", ""), "unit": units[i][1],
                    "source": rule.source, "note": ""}
            rows.append({**base, **_check(rule, p, i, zone, cells_of[i], lines,
                                          height_check)})
    rows += _unit_balance(territory, proposals, rules, units, cells_of, cell_area)
    results = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    failed = results[results["result"] == "fail"].groupby("proposal_id")["rule"].agg(";".join)
    out = proposals.copy()
    out["failed_rules"] = [failed.get(pid, "") for pid in out["proposal_id"]]
    out["result"] = np.where(out["failed_rules"] == "", "pass", "fail")
    out["zone"] = [z.get("zone", "") for z in zones]
    out["unit"] = [u[1] for u in units]
    return Review(results, out, lines, cells)


def _zones(territory: Territory, point_cell: np.ndarray) -> list[dict]:
    layer = territory.layers.get("zoning")
    field = territory.fields.get("zoning__zone_id")
    if layer is None or field is None:
        return [{} for _ in point_cell]
    info = {int(r.zone_id): {"zone": str(r.zone), "use": str(r.use), "max_far": r.max_far,
                             "max_height": r.max_height} for r in layer.itertuples()}
    ids = field.ravel()
    return [info.get(int(ids[c]), {}) if c >= 0 else {} for c in point_cell]


def _units(territory: Territory, point_cell: np.ndarray) -> list[tuple[int, str]]:
    layer = territory.layers.get("planning_units")
    field = territory.fields.get("planning__unit_id")
    if layer is None or field is None:
        return [(0, "") for _ in point_cell]
    names = dict(zip(layer["unit_id"].astype(int), layer["name"].astype(str)))
    ids = field.ravel()
    return [(int(ids[c]), names.get(int(ids[c]), "")) if c >= 0 else (0, "")
            for c in point_cell]


def _height_limits(territory: Territory, proposals: Any, rules: Any,
                   cells_of: list[np.ndarray]) -> dict[int, tuple[float, str]] | None:
    """Per proposal: the lowest limit of the height rules and the rule that sets it."""
    if rules is None:
        return None
    from scenarios.planning.heights import check_heights

    buildings = proposals[proposals["kind"] == "building"]
    frame = None
    if len(buildings):
        frame = buildings.assign(building_id=buildings["proposal_id"], storeys=np.maximum(
            1, np.round(buildings["height"] / 3.0)).astype(int))[
                ["building_id", "height", "storeys", "geometry"]]
    report = check_heights(territory, rules, frame)
    out: dict[int, tuple[float, str]] = {}
    proposed = report.buildings[report.buildings["source"] == "proposed"].set_index(
        "building_id")
    names = [r["name"] for r in report.rule_table]
    for i, p in enumerate(proposals.itertuples()):
        if p.kind == "building" and p.proposal_id in proposed.index:
            row = proposed.loc[p.proposal_id]
            out[i] = (float(row["max_height_m"]), str(row["rule"]))
        else:  # a parcel: the lowest maximum allowable height over it
            values = report.max_height.ravel()[cells_of[i]]
            finite = np.isfinite(values)
            if not finite.any():
                out[i] = (np.nan, "")
                continue
            k = int(np.argmin(np.where(finite, values, np.inf)))
            number = int(report.limit_rule.ravel()[cells_of[i]][k])
            out[i] = (float(values[k]), names[number - 1] if number > 0 else "")
    return out


def _check(rule: Rule, p: Any, i: int, zone: dict, cells: np.ndarray, lines: ControlLines,
           heights: dict | None) -> dict[str, Any]:
    def verdict(ok: bool | None, measured, limit, unit="", note="") -> dict[str, Any]:
        result = "not checked" if ok is None else ("pass" if ok else "fail")
        return {"measured": measured, "limit": limit, "unit_of_measure": unit,
                "result": result, "note": note}

    if rule.check in ("outside_lines", "inside_lines"):
        present = [n for n in rule.lines if n in lines.masks]
        if not present:
            return verdict(None, None, None, note="the TIM has none of these lines")
        inside = np.zeros(cells.size, bool)
        for n in present:
            inside |= lines.masks[n].ravel()[cells]
        share = 100.0 * inside.mean() if cells.size else 0.0
        derived = [n for n in present if n in lines.derived]
        note = f"derived stand-in: {', '.join(derived)}" if derived else ""
        if rule.check == "outside_lines":
            return verdict(share <= 0.0, round(share, 2), 0.0, "% of cells inside", note)
        return verdict(share >= 100.0, round(share, 2), 100.0, "% of cells inside", note)
    if rule.check == "use_allowed":
        use = zone.get("use")
        code = _national(p.use)
        if use is None:
            return verdict(None, p.use, None, note="no zone at the proposal")
        if use not in rule.allowed:
            return verdict(None, p.use, use, note=f"zone use {use!r} not in the rule's table")
        allowed = rule.allowed[use]
        return verdict(code is not None and code in allowed, str(p.use),
                       ",".join(f"{c:02d}" for c in allowed), "national code",
                       "" if code is not None else "not a national class code")
    if rule.check in ("cap", "floor"):
        value = getattr(p, rule.attribute, None)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return verdict(None, None, None, note=f"{p.kind} proposals carry no "
                                                  f"{rule.attribute}")
        if rule.limit is not None:
            limit = zone.get(rule.limit.split(".", 1)[1])
        else:
            limit = rule.by_use.get(zone.get("use", ""))
        if limit is None or not np.isfinite(limit):
            return verdict(None, value, None, note="no limit applies here")
        ok = value <= limit + 1e-9 if rule.check == "cap" else value >= limit - 1e-9
        return verdict(ok, value, limit, MEASURES[rule.attribute])
    if rule.check == "height_rules":
        if heights is None:
            return verdict(None, None, None, note="no height rules given (--height-rules)")
        limit, governing = heights.get(i, (np.nan, ""))
        if not np.isfinite(limit):
            return verdict(None, p.height, None, "m", "no height rule applies here")
        return verdict(p.height <= limit + 1e-3, p.height, round(limit, 3), "m",
                       f"governing rule: {governing}")
    return verdict(None, None, None)  # unit_balance: per unit, below


def _unit_balance(territory: Territory, proposals: Any, rules: ReviewRules,
                  units: list[tuple[int, str]], cells_of: list[np.ndarray],
                  cell_area: float) -> list[dict[str, Any]]:
    """One row per proposal and balanced indicator: the unit's value after all its proposals
    against the plan's unit target. New built-up land: the proposals' cells not built yet;
    new residents: residential (07) floor area / ``people_per_floor_area_m2``."""
    rule = next((r for r in rules.rules if r.check == "unit_balance"), None)
    if rule is None:
        return []
    plan = territory.plan
    lu = territory.fields.get("land_use__class")
    ids = territory.fields.get("planning__unit_id")
    pop = territory.fields.get("population__count")
    rows = []
    after: dict[tuple[int, str], float] = {}
    for key in rule.indicators:
        for u in {u for u, _ in units if u}:
            if ids is None:
                continue
            in_unit = ids.ravel() == u
            if key == "built_up_area" and lu is not None:
                built = lu.ravel() == territory.classes.built.code
                new = np.unique(np.concatenate([c for c, (uu, _) in zip(cells_of, units)
                                                if uu == u] or [np.zeros(0, int)]))
                new = new[~built[new]]
                after[(u, key)] = (built & in_unit).sum() * cell_area / 1e4 + \
                    new.size * cell_area / 1e4
            elif key == "population" and pop is not None:
                people = 0.0
                for p, (uu, _) in zip(proposals.itertuples(), units):
                    if uu == u and _national(p.use) == 7:
                        floor = _floor_area(p, rules)
                        people += floor / rules.people_per_floor_area_m2
                after[(u, key)] = float(np.nansum(pop.ravel()[in_unit])) + people
    for p, (u, name) in zip(proposals.itertuples(), units):
        for key in rule.indicators:
            target = (plan.indicators[key].units.get(u) if plan is not None
                      and key in plan.indicators else None)
            value = after.get((u, key))
            base = {"proposal_id": p.proposal_id, "kind": p.kind, "rule": rule.id,
                    "check": rule.check, "zone": "", "unit": name, "source": rule.source,
                    "unit_of_measure": {"built_up_area": "ha", "population": "persons"}[key]}
            if target is None or value is None:
                rows.append({**base, "measured": value, "limit": target,
                             "result": "not checked",
                             "note": f"{key}: no unit target or no data"})
                continue
            kind = plan.indicators[key].kind
            ok = value <= target + 1e-9 if kind == "cap" else value >= target - 1e-9
            rows.append({**base, "measured": round(value, 2), "limit": target,
                         "result": "pass" if ok else "fail",
                         "note": f"{key} of unit {name} after all its proposals ({kind})"})
    return rows


def _floor_area(p: Any, rules: ReviewRules) -> float:
    area = float(p.geometry.area)
    if p.kind == "parcel":
        return area * float(p.far)
    storeys = getattr(p, "storeys", None)
    if storeys is None or (isinstance(storeys, float) and np.isnan(storeys)):
        storeys = max(1, round(float(p.height) / rules.storey_height_m))
    return area * float(storeys)


def write_review(result: Review, territory: Territory, directory: str | Path, *, inputs: dict,
                 pdf: bool = False, langs: Sequence[str] = ("en",),
                 command: list[str] | None = None) -> Path:
    """Write the review folder atomically::

        manifest.json     format, inputs, rules (id, check, source), counts, files
        results.csv       one row per proposal and rule: measured, limit, pass / fail /
                          not checked, note, legal source
        proposals.gpkg    layer ``review``: the proposals with result and failed rules
        failures.tif      per cell: 1 proposal passes, 2 fails (uint8, 0 none)
        report.html (.pdf)
    """
    from scenarios.monitoring.reports import review_report, write_reports
    from scenarios.rundir import git_commit, software_versions
    from tim.atomic import atomic_directory
    from tim.store import write_layer, write_raster

    status = np.zeros(len(result.proposals) + 1, np.uint8)
    status[1:] = np.where(result.proposals["result"].to_numpy() == "fail", 2, 1)
    with atomic_directory(directory) as tmp:
        result.results.to_csv(tmp / "results.csv", index=False)
        write_layer(result.proposals, tmp / "proposals.gpkg", "review")
        write_raster(tmp / "failures.tif", status[result.cells], territory.grid, 0)
        files = {"results.csv": "pass/fail per proposal and rule",
                 "proposals.gpkg": "layer review: proposals with result",
                 "failures.tif": "1 pass, 2 fail per cell"}
        pictures: dict = {}  # each map drawn once for every language
        for name in write_reports(
                lambda lang: review_report(result, territory, inputs, lang, pictures=pictures),
                tmp, langs, pdf=pdf):
            files[name] = "the review report"
        r = result.results
        manifest = {
            "format": FORMAT, "format_version": 1, "command": command,
            "territory": territory.name, "grid": territory.grid.to_dict(), "inputs": inputs,
            "proposals": int(len(result.proposals)),
            "failed": int((result.proposals["result"] == "fail").sum()),
            "by_rule": {rid: g["result"].value_counts().to_dict()
                        for rid, g in r.groupby("rule", sort=False)},
            "control_lines": result.lines.to_dict(territory.grid.cell_area / 1e4),
            "files": files, "git_commit": git_commit(), "software": software_versions()}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return Path(directory)


def run_review(tim: str | Path, proposals: str | Path, out: str | Path, *,
               rules: str | Path | None = None, height_rules: str | None = None,
               derive_lines: bool = False, water_constraint: str | Path | None = None,
               pdf: bool = False, langs: Sequence[str] = ("en",),
               command: list[str] | None = None,
               sunlight: str | Path | None = None) -> Review:
    """``twin review``: read the TIM, the proposals and the rules, check, write ``out``
    (``sunlight``: a ``twin sunlight`` folder of the same proposals, reported too)."""
    from scenarios.monitoring.reports import languages

    langs = languages(langs)  # refused before anything is computed or written
    if sunlight is not None:
        from scenarios.planning.review import open_for_review

        open_for_review(sunlight, proposals)

    from scenarios.monitoring.observed import control_lines, read_observed_raster
    from tim.store import load_territory

    started = time.perf_counter()
    territory = load_territory(tim)
    rule_set = load_review_rules(rules)
    frame = read_proposals(proposals, territory, rule_set)
    hr = None
    if height_rules:
        from scenarios.planning.height_rules import load_rules as load_height_rules

        hr = load_height_rules(height_rules, territory)
    water = (read_observed_raster(water_constraint, territory, "water constraint")
             if water_constraint else None)
    lines = control_lines(territory, reference=territory.fields.get("land_use__class"),
                          water_constraint=water, derive=derive_lines)
    result = review(territory, frame, rule_set, lines, height_rules=hr)
    inputs = {"tim": str(tim), "proposals": str(proposals),
              "rules": str(rules or "default (review.yaml)"), "height_rules": height_rules,
              "sunlight": None if sunlight is None else str(sunlight),
              "compute_seconds": round(time.perf_counter() - started, 2)}
    write_review(result, territory, out, inputs=inputs, pdf=pdf, langs=langs,
                 command=command)
    return result

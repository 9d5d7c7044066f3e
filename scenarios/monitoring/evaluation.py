"""双评价: ecological protection importance, agricultural production suitability and urban
construction suitability per cell, graded 1-5, after the MNR 2020 guideline (资源环境承载能力
和国土空间开发适宜性评价指南（试行）) as simplified in ``evaluation.yaml`` (its header documents
which defaults come from the guideline and which are stand-ins).

Each evaluation scores its factors 1-5 from source maps the TIM holds or that are derived from
it (:data:`SOURCES`), takes the weighted mean, cuts it into grades, caps the grade by its
``limit`` factors and applies its exclusions (e.g. 生态保护极重要 -> not suitable for urban
construction). A required factor whose source is missing is an error naming the field; an
optional one is left out with a warning that says how much of the weight it carried and by how
many grades the result can differ because of it.

The grades become the TIM fields ``evaluation__ecological_importance``,
``evaluation__agricultural_suitability`` and ``evaluation__urban_suitability``; per unit the
summary gives areas by grade and the carrying capacity: construction land on suitable cells
(grade >= ``suitable_grade``, outside hard control lines) and the population it holds at the
stated construction land per capita.

How scenarios use the results: ``twin evaluate --into-tim`` writes the three fields into the
TIM; ``--red-line-grade 5`` also makes the grade-5 ecological cells the TIM's
``control__ecological_red_line`` when it has none, so a scenario's ``land_use.protect:
[ecological_red_line]`` binds them as a hard constraint; and a grade map is a driver for
``twin calibrate`` / ``twin simulate`` (``--driver urban_suitability=OUT/grades/
evaluation__urban_suitability.tif:categorical``), i.e. a suitability factor of the land-use model.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import GROUPS, Territory

log = logging.getLogger(__name__)
FORMAT = "territory-twin/evaluation"
EVALUATIONS = ("ecological_importance", "agricultural_suitability", "urban_suitability")
#: Sources a factor may score, and the field or input each needs.
SOURCES = {
    "elevation": "terrain__elevation", "slope": "terrain__elevation",
    "relief": "terrain__elevation", "land_cover": "land_use__class",
    "distance_to_water": "land_use__class", "distance_to_built": "land_use__class",
    "ecological_patch_area": "land_use__class", "flood_depth": "surge__water_depth (or --flood)",
    "soil": "--soil PATH",
}


class Factor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    source: str
    weight: float = Field(ge=0, le=1)
    required: bool = False
    limit: bool = False
    breaks: tuple[float, ...] | None = None
    scores: tuple[int, ...] | None = None
    groups: dict[str, int] | None = None
    table: dict[int, int] | None = None

    @model_validator(mode="after")
    def _scoring(self) -> Factor:
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; sources: {', '.join(SOURCES)}")
        ways = [self.breaks is not None, self.groups is not None, self.table is not None]
        if sum(ways) != 1:
            raise ValueError("score a factor by exactly one of breaks (+ scores), groups, table")
        if self.breaks is not None:
            if self.scores is None or len(self.scores) != len(self.breaks) + 1:
                raise ValueError("scores need one more entry than breaks")
            if list(self.breaks) != sorted(self.breaks):
                raise ValueError(f"breaks must ascend, got {list(self.breaks)}")
        unknown = set(self.groups or {}) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown land-use groups {sorted(unknown)}; groups: {GROUPS}")
        for s in (*(self.scores or ()), *(self.groups or {}).values(),
                  *(self.table or {}).values()):
            if not 1 <= s <= 5:
                raise ValueError(f"scores are 1..5, got {s}")
        return self


class Exclusion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grade: int = Field(ge=1, le=5)
    evaluation: str | None = None
    min_grade: int | None = Field(None, ge=1, le=5)
    group: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Exclusion:
        if (self.evaluation is None) == (self.group is None):
            raise ValueError("an exclusion names either an evaluation (with min_grade) or a "
                             "land-use group")
        if self.evaluation is not None and self.min_grade is None:
            raise ValueError("an exclusion by evaluation needs min_grade")
        if self.group is not None and self.group not in GROUPS:
            raise ValueError(f"unknown land-use group {self.group!r}; groups: {GROUPS}")
        return self


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    grade_breaks: tuple[float, float, float, float] = (1.8, 2.6, 3.4, 4.2)
    factors: tuple[Factor, ...]
    exclude: tuple[Exclusion, ...] = ()


class Standards(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    construction_land_per_capita_m2: float = Field(100.0, gt=0, le=1000)
    suitable_grade: int = Field(4, ge=1, le=5)
    relief_window_m: float = Field(450.0, gt=0, le=50_000)


class EvaluationRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    standards: Standards = Standards()
    evaluations: dict[str, Evaluation]

    @model_validator(mode="after")
    def _known(self) -> EvaluationRules:
        unknown = set(self.evaluations) - set(EVALUATIONS)
        if unknown:
            raise ValueError(f"unknown evaluations {sorted(unknown)}; known: {EVALUATIONS}")
        order = [e for e in EVALUATIONS if e in self.evaluations]
        for i, key in enumerate(order):
            for ex in self.evaluations[key].exclude:
                if ex.evaluation is not None and ex.evaluation not in order[:i]:
                    raise ValueError(f"{key}: an exclusion may only use an evaluation graded "
                                     f"before it ({order[:i]}), not {ex.evaluation!r}")
        return self


def load_rules(path: str | Path | None = None) -> EvaluationRules:
    """The evaluation rules; the packaged defaults unless ``path`` is given."""
    source = Path(path) if path else Path(str(resources.files("scenarios.monitoring")
                                              / "evaluation.yaml"))
    raw = read_yaml(source, "evaluation rules")
    try:
        return EvaluationRules.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, source) from exc


@dataclass
class EvaluationResult:
    grades: dict[str, np.ndarray]                    # evaluation -> uint8 grade (0: no data)
    factors: dict[str, dict[str, np.ndarray]]        # evaluation -> factor -> uint8 score
    sources: dict[str, np.ndarray]                   # source -> float32 value
    left_out: list[dict] = field(default_factory=list)
    summary: pd.DataFrame | None = None
    rules: EvaluationRules | None = None


class _Sources:
    """Source maps computed on first use (each once)."""

    def __init__(self, territory: Territory, rules: EvaluationRules,
                 flood: np.ndarray | None, soil: np.ndarray | None):
        self.t, self.rules = territory, rules
        self.extra = {"flood_depth": flood, "soil": soil}
        self.cache: dict[str, np.ndarray | None] = {}
        lu = territory.fields.get("land_use__class")
        self.lu = lu
        self.valid = (lu != 255) if lu is not None else np.ones(territory.grid.shape, bool)

    def get(self, name: str) -> np.ndarray | None:
        if name not in self.cache:
            self.cache[name] = self._make(name)
        return self.cache[name]

    def _make(self, name: str) -> np.ndarray | None:
        from engine.suitability import distance_to

        t, f = self.t, self.t.fields
        if name in ("flood_depth", "soil"):
            value = self.extra[name]
            if value is None and name == "flood_depth" and "surge__water_depth" in f:
                value = np.nan_to_num(f["surge__water_depth"].astype(np.float32))
            return value
        if name in ("elevation", "slope", "relief"):
            z = f.get("terrain__elevation")
            if z is None:
                return None
            z = z.astype(np.float32)
            if name == "elevation":
                return z
            if name == "slope":
                from engine.suitability import slope_degrees

                # NaN next to nodata stays NaN (that cell's slope factor is left out): filling
                # the edge first cost more than the rest of the evaluation
                return slope_degrees(z, t.grid.cell_size).astype(np.float32, copy=False)
            return _relief(z, t.grid.cell_size[0], self.rules.standards.relief_window_m)
        if self.lu is None:
            return None
        classes = t.classes
        if name == "land_cover":
            return self.lu
        if name == "distance_to_water":
            d = distance_to(classes.group_mask(self.lu, "water"), t.grid.cell_size)
        elif name == "distance_to_built":
            d = distance_to(self.lu == classes.built.code, t.grid.cell_size)
        else:  # ecological_patch_area: ha of the contiguous natural patch (ecological land
            # and water: lakes and wetlands are habitat too) a cell is in
            from engine.kernels.labelling import label, patch_stats

            natural = classes.group_mask(self.lu, "ecological") | \
                classes.group_mask(self.lu, "water")
            labels, n = label(natural)
            ha = np.zeros(n + 1, np.float32)
            ha[1:] = patch_stats(labels, n)["cells"] * (t.grid.cell_area / 1e4)
            return ha[labels]
        return np.nan_to_num(d, nan=np.float32(1e9))  # none of that class: far from all


def _relief(z: np.ndarray, cell: float, window_m: float) -> np.ndarray:
    """Relief (地形起伏度): highest minus lowest elevation in a square window around each cell
    (NaN ignored; NaN where the cell itself has no elevation)."""
    from scipy import ndimage

    size = max(3, 2 * int(round(window_m / cell / 2)) + 1)
    hi = ndimage.maximum_filter(np.where(np.isfinite(z), z, -np.inf), size=size)
    lo = ndimage.minimum_filter(np.where(np.isfinite(z), z, np.inf), size=size)
    out = (hi - lo).astype(np.float32)
    out[~np.isfinite(z)] = np.nan
    return out


def score(factor: Factor, values: np.ndarray, territory: Territory) -> np.ndarray:
    """Scores 1-5 of ``values`` (uint8; 0 where the value is missing).

    Examples
    --------
    >>> f = Factor(name="slope", source="slope", weight=1, breaks=(3, 8), scores=(5, 3, 1))
    >>> score(f, np.array([0.0, 3.0, 3.1, 8.0, 30.0, np.nan]), None).tolist()
    [5, 5, 3, 3, 1, 0]
    """
    if factor.breaks is not None:
        # right-closed intervals: a value equal to a break scores with the interval below;
        # counting the breaks below the value is searchsorted(side="left"), several times
        # faster over millions of cells
        index = np.zeros(values.shape, np.uint8)
        for b in factor.breaks:
            index += values > b
        out = np.asarray(factor.scores, np.uint8)[index]
        if values.dtype.kind == "f":
            out[~np.isfinite(values)] = 0
        return out
    lut = np.zeros(256 if factor.groups is not None else int(values.max()) + 1, np.uint8)
    if factor.groups is not None:
        for c in territory.classes:
            lut[c.code] = factor.groups.get(c.group, 0)
        return lut[values]
    codes = values.astype(np.int64)
    lut = np.zeros(max(int(np.nanmax(codes, initial=0)), max(factor.table, default=0)) + 1,
                   np.uint8)
    for code, s in factor.table.items():
        lut[code] = s
    return lut[np.clip(codes, 0, lut.size - 1)]


def evaluate(territory: Territory, rules: EvaluationRules | None = None, *,
             flood: np.ndarray | None = None, soil: np.ndarray | None = None,
             source_name: str = "evaluation rules") -> EvaluationResult:
    """Grade every evaluation of ``rules`` on ``territory`` (see the module docs)."""
    rules = rules or load_rules()
    src = _Sources(territory, rules, flood, soil)
    grades: dict[str, np.ndarray] = {}
    factors: dict[str, dict[str, np.ndarray]] = {}
    left_out: list[dict] = []
    for key in [e for e in EVALUATIONS if e in rules.evaluations]:
        ev = rules.evaluations[key]
        total = np.zeros(territory.grid.shape, np.float32)
        weight = np.zeros(territory.grid.shape, np.float32)
        cap = np.full(territory.grid.shape, 5, np.uint8)
        used, scores = [], {}
        for f in ev.factors:
            values = src.get(f.source)
            empty_table = f.table is not None and not f.table
            if values is None or empty_table:
                if f.required:
                    raise InputError(f"the required factor {f.name!r} of {key} needs "
                                     f"{SOURCES[f.source]}", source=territory.name,
                                     field=SOURCES[f.source].split()[0],
                                     hint="add it to the TIM, or make the factor optional in "
                                          "the rules")
                left_out.append({"evaluation": key, "factor": f.name, "weight": f.weight,
                                 "limit": f.limit,
                                 "why": "no scores for the soil codes (table is empty)"
                                 if empty_table and values is not None
                                 else f"{SOURCES[f.source]} not given"})
                continue
            s = score(f, values, territory)
            if f.table is not None and (s[src.valid] == 0).any():
                unknown = np.unique(values[src.valid & (s == 0)])[:10].tolist()
                raise InputError(f"codes of factor {f.name!r} without a score in its table",
                                 source=source_name, field=f"{key}.{f.name}.table",
                                 value=unknown)
            scores[f.name] = s
            used.append(f)
            has = s > 0
            total += s * np.float32(f.weight)  # a missing score is 0: adds nothing
            weight += has * np.float32(f.weight)
            if f.limit:
                cap = np.where(has, np.minimum(cap, s), cap)
        mean = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
        # a mean at a break takes the grade above it (grade 5: mean >= the last break)
        grade = np.ones(mean.shape, np.uint8)
        for b in ev.grade_breaks:
            grade += mean >= np.float32(b)
        grade = np.minimum(grade, cap)
        for ex in ev.exclude:
            if ex.evaluation is not None:
                where = grades[ex.evaluation] >= ex.min_grade
            else:
                where = territory.classes.group_mask(src.lu, ex.group)
            grade = np.where(where, np.minimum(grade, ex.grade), grade).astype(np.uint8)
        grade[(weight == 0) | ~src.valid] = 0
        grades[key] = grade
        factors[key] = scores
        step = (5 - 1) / max(1, len(ev.grade_breaks) + 1)  # score width of one grade, about
        for item in left_out:
            if item["evaluation"] == key:
                share = item["weight"] / max(1e-9, sum(f.weight for f in ev.factors))
                item["weight_share"] = round(share, 3)
                item["max_grade_change"] = int(math.ceil(share * 4 / step - 1e-9)) if share else 0
                item["message"] = _left_out_message(key, item)
                warnings.warn(item["message"], stacklevel=2)
    scored = {f.source for k in factors for f in rules.evaluations[k].factors
              if f.name in factors[k]}
    sources = {k: v for k, v in src.cache.items()
               if v is not None and k != "land_cover" and k in scored}
    return EvaluationResult(grades, factors, sources, left_out, rules=rules)


def _left_out_message(key: str, item: dict) -> str:
    effect = (f"its {item['weight_share']:.0%} of the weight went to the other factors, so "
              f"grades can differ by up to {item['max_grade_change']} from an evaluation "
              "with it" if item["weight_share"] > 0 else "it had no weight")
    limit = "; it no longer caps the grade (a limiting factor)" if item["limit"] else ""
    return f"{key}: factor {item['factor']!r} left out ({item['why']}): {effect}{limit}"


def _zones(territory: Territory) -> list[tuple[str, str, str, np.ndarray]]:
    """(level, id, name, flat cell index) of the city, each district and each unit."""
    valid = np.flatnonzero(territory.fields.get(
        "land_use__class", np.zeros(territory.grid.shape, np.uint8)).ravel() != 255)
    zones = [("city", "", territory.name, valid)]
    field_ = territory.fields.get("planning__unit_id")
    layer = territory.layers.get("planning_units")
    if field_ is None or layer is None:
        return zones
    ids = field_.ravel()
    order = np.argsort(ids, kind="stable")
    top = max(int(ids.max()), int(layer["unit_id"].max()))  # a unit may cover no cell centre
    bounds = np.searchsorted(ids[order], np.arange(top + 2))
    cells_of = {u: order[bounds[u]:bounds[u + 1]] for u in layer["unit_id"].astype(int)}
    for district, group in layer.groupby("district", sort=True):
        zones.append(("district", str(district), str(district),
                      np.concatenate([cells_of[int(u)] for u in group["unit_id"]])))
    for r in layer.sort_values("unit_id").itertuples():
        zones.append(("unit", str(r.unit_id), str(r.name), cells_of[int(r.unit_id)]))
    return zones


def summarise(result: EvaluationResult, territory: Territory) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
    """Areas by grade per evaluation and zone, and the carrying capacity per zone."""
    std = result.rules.standards
    cell_ha = territory.grid.cell_area / 10_000.0
    hard = np.zeros(territory.grid.shape, bool)
    for name in ("control__ecological_red_line", "control__permanent_basic_farmland"):
        if name in territory.fields:
            hard |= territory.fields[name] > 0
    hard = hard.ravel()
    lu = territory.fields.get("land_use__class")
    built = (lu == territory.classes.built.code).ravel() if lu is not None else hard * False
    people = territory.fields.get("population__count")
    flat = {k: g.ravel() for k, g in result.grades.items()}
    areas, capacity = [], []
    for level, zid, name, cells in _zones(territory):
        for key, g in flat.items():
            counts = np.bincount(g[cells], minlength=6)
            areas.append({"level": level, "area_id": zid, "area": name, "evaluation": key,
                          **{f"grade_{i}_ha": counts[i] * cell_ha for i in range(1, 6)}})
        row = {"level": level, "area_id": zid, "area": name}
        if "urban_suitability" in flat:
            ok = (flat["urban_suitability"][cells] >= std.suitable_grade) & ~hard[cells]
            row["construction_capacity_ha"] = ok.sum() * cell_ha
            row["existing_built_ha"] = built[cells].sum() * cell_ha
            row["headroom_ha"] = row["construction_capacity_ha"] - row["existing_built_ha"]
            row["population_capacity"] = (row["construction_capacity_ha"] * 10_000.0
                                          / std.construction_land_per_capita_m2)
            if people is not None:
                row["population"] = float(np.nansum(people.ravel()[cells]))
        if "agricultural_suitability" in flat:
            row["agricultural_suitable_ha"] = ((flat["agricultural_suitability"][cells]
                                                >= std.suitable_grade).sum() * cell_ha)
        if "ecological_importance" in flat:
            row["ecological_very_important_ha"] = ((flat["ecological_importance"][cells] == 5)
                                                   .sum() * cell_ha)
        capacity.append(row)
    return pd.DataFrame(areas), pd.DataFrame(capacity)


def write_evaluation(result: EvaluationResult, territory: Territory, directory: str | Path, *,
                     inputs: dict, pdf: bool = False, langs: Sequence[str] = ("en",),
                     command: list[str] | None = None) -> Path:
    """Write the evaluation folder atomically::

        manifest.json                 format, inputs, rules (as used), standards, factors left
                                      out (with the warning), city grade areas, files, timings
        rules.yaml                    the rules as used (edit and pass back with --rules)
        grades/evaluation__<e>.tif    the grade fields (uint8 1-5, 0 = no data)
        factors/<e>__<factor>.tif     every factor's score map (uint8 1-5, 0 = no data)
        sources/<source>.tif          the source maps derived from the TIM (float32)
        grade_areas.csv               ha by grade per evaluation, city / district / unit
        capacity.csv                  carrying capacity per city / district / unit
        report.html (.pdf)
    """
    import yaml

    from scenarios.monitoring.reports import evaluation_report, write_reports
    from scenarios.rundir import git_commit, software_versions
    from tim.store import write_raster
    from tim.styles import field_categories

    started = time.perf_counter()
    areas, capacity = summarise(result, territory)
    with atomic_directory_(directory) as tmp:
        files = {}
        for sub in ("grades", "factors", "sources"):
            (tmp / sub).mkdir()
        for key, grade in result.grades.items():
            name = f"grades/evaluation__{key}.tif"
            write_raster(tmp / name, grade, territory.grid, 0,
                         categories=field_categories(f"evaluation__{key}", None))
            files[name] = f"TIM field evaluation__{key}"
            for factor, s in result.factors[key].items():
                name = f"factors/{key}__{factor}.tif"
                write_raster(tmp / name, s, territory.grid, 0,
                             categories=field_categories(f"evaluation__{key}", None))
                files[name] = f"score 1-5 of factor {factor} of {key}"
        for source, values in result.sources.items():
            name = f"sources/{source}.tif"
            write_raster(tmp / name, values.astype(np.float32), territory.grid, float("nan"))
            files[name] = f"source map {source}"
        areas.to_csv(tmp / "grade_areas.csv", index=False)
        capacity.to_csv(tmp / "capacity.csv", index=False)
        rules = result.rules.model_dump(mode="json")
        (tmp / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False,
                                                       allow_unicode=True))
        files.update({"grade_areas.csv": "ha by grade", "capacity.csv": "carrying capacity",
                      "rules.yaml": "the rules as used"})
        pictures: dict = {}
        for name in write_reports(lambda lang: evaluation_report(
                result, territory, areas, capacity, inputs, lang, pictures=pictures), tmp,
                langs, pdf=pdf):
            files[name] = "the evaluation report"
        city = areas[areas["level"] == "city"].set_index("evaluation")
        manifest = {
            "format": FORMAT, "format_version": 1, "command": command,
            "territory": territory.name, "grid": territory.grid.to_dict(), "inputs": inputs,
            "standards": rules["standards"],
            "evaluations": {k: {"name": result.rules.evaluations[k].name,
                                "field": f"evaluation__{k}",
                                "grade_areas_ha": {str(i): round(float(city.loc[k, f"grade_{i}_ha"]), 2)
                                                   for i in range(1, 6)},
                                "factors": list(result.factors[k])}
                            for k in result.grades},
            "left_out": result.left_out, "classes": territory.classes.to_list(),
            "capacity": {k: (None if pd.isna(v) else float(v)) for k, v in
                         capacity.iloc[0].items() if k not in ("level", "area_id", "area")},
            "files": files, "git_commit": git_commit(), "software": software_versions(),
            "write_seconds": round(time.perf_counter() - started, 2)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return Path(directory)


def atomic_directory_(directory):
    from tim.atomic import atomic_directory

    return atomic_directory(directory)


def run_evaluation(tim: str | Path, out: str | Path, *, rules: str | Path | None = None,
                   flood: str | Path | None = None, soil: str | Path | None = None,
                   land_use: str | Path | None = None, into_tim: bool = False,
                   red_line_grade: int | None = None, pdf: bool = False,
                   langs: Sequence[str] = ("en",),
                   command: list[str] | None = None) -> EvaluationResult:
    """``twin evaluate``: grade the TIM (optionally with an observed ``land_use`` map, a flood
    depth raster or a run folder whose surge's largest depth is used, and a soil map), write
    ``out``; with
    ``into_tim`` also store the grade fields (and, with ``red_line_grade``, the ecological red
    line from the ecological grade when the TIM has none) in the TIM."""
    from scenarios.monitoring.reports import languages

    langs = languages(langs)  # refused before anything is computed or written

    from scenarios.monitoring.observed import read_observed_map, read_observed_raster
    from tim.store import load_territory, save_territory

    started = time.perf_counter()
    territory = load_territory(tim)
    rule_set = load_rules(rules)
    work = territory.copy()
    if land_use:
        work.fields["land_use__class"] = read_observed_map(land_use, territory, "--land-use")
    if flood and Path(flood).is_dir():  # a run folder: its surge's largest depth
        flood = Path(flood) / "surge" / "water_depth.tif"
        if not flood.is_file():
            raise InputError("the run folder has no surge (surge/water_depth.tif)",
                             source=flood.parent.parent, field="--flood")
    flood_map = (np.nan_to_num(read_observed_raster(flood, territory, "flood depth"))
                 if flood else None)
    soil_map = read_observed_raster(soil, territory, "soil") if soil else None
    if soil_map is not None:
        soil_map = np.nan_to_num(soil_map, nan=0.0)
    result = evaluate(work, rule_set, flood=flood_map, soil=soil_map,
                      source_name=str(rules or "evaluation.yaml"))
    inputs = {"tim": str(tim), "rules": str(rules or "default (evaluation.yaml)"),
              "land_use": str(land_use) if land_use else "the TIM's land_use__class",
              "flood": str(flood) if flood else None, "soil": str(soil) if soil else None,
              "compute_seconds": round(time.perf_counter() - started, 2)}
    write_evaluation(result, work, out, inputs=inputs, pdf=pdf, langs=langs,
                     command=command)
    if into_tim:
        for key, grade in result.grades.items():
            territory.set_field(f"evaluation__{key}", grade)
        territory.record("derived", fields=[f"evaluation__{k}" for k in result.grades],
                         by="twin evaluate", rules=inputs["rules"])
        if red_line_grade is not None and "control__ecological_red_line" not in territory.fields:
            territory.set_field("control__ecological_red_line", (
                result.grades["ecological_importance"] >= red_line_grade).astype(np.uint8))
            territory.record("derived", field="control__ecological_red_line",
                             rule=f"ecological importance grade >= {red_line_grade} (双评价)")
        save_territory(territory, tim)
    return result

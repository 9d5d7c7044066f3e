"""The comparison report as data: cover, one-page summary, maps, 3D stills, indicator tables,
charts and an appendix, in one language.

:func:`comparison_report` turns a :class:`scenarios.compare.Comparison` (and the territory the
runs share, for the control lines, units and buildings) into a
:class:`~scenarios.reporting.model.Report`; :mod:`scenarios.reporting` renders it.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from scenarios.i18n import (DAMAGE_UNIT, Translator, damage_unit_words, in_currency,
                            scenario_text, translator)
from scenarios.reporting import figures
from scenarios.reporting.model import (Bullets, Cell, Code, Figure, Paragraph, Report, Section,
                                       Table, build_report)
from scenarios.reporting.still import city_stills

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scenarios.compare import Comparison
    from scenarios.ensemble import EnsembleSummary
    from scenarios.rundir import RunDirectory
    from tim.model import Territory

__all__ = ["comparison_report", "city_stills", "class_label", "changed"]

#: Indicators of the summary's key numbers and of the charts, in this order.
KEY_INDICATORS = ("built_up_area", "population", "construction_land_per_capita",
                  "farmland_lost", "ecological_land_lost", "control_line_encroachment",
                  "flooded_buildings", "flood_damage")
CHART_INDICATORS = ("built_up_area", "population", "construction_land_per_capita",
                    "farmland_lost", "ecological_land_lost", "boundary_use")
DISTRICT_INDICATORS = ("built_up_area", "population", "construction_land_per_capita",
                       "development_intensity", "school_access", "park_access")
#: Warnings listed in the summary at most (the full list follows in its own section).
SUMMARY_WARNINGS = 3


@dataclass
class Context:
    """What every part of the report needs: the comparison, the territory (None when its
    folder is gone), the translator and the registry of indicator names."""

    comparison: Comparison
    territory: Territory | None
    t: Translator
    registry: dict
    stills: dict[str, bytes] = field(default_factory=dict)
    #: Ensembles of the runs' scenarios (scenarios.ensemble.read_ensemble), for the charts' bands.
    ensembles: Sequence[EnsembleSummary] = ()
    #: Pictures drawn so far, shared by the languages of one comparison (they carry no words).
    pictures: dict = field(default_factory=dict)

    @property
    def runs(self) -> list[RunDirectory]:
        return self.comparison.runs

    @property
    def base(self) -> RunDirectory:
        return self.comparison.baseline


# -- words and numbers ----------------------------------------------------------------------
DIGITS = {"persons": 0, "persons/ha": 1, "1": 2, "m2/person": 0, "%": 1, "cells": 0,
          "buildings": 0, DAMAGE_UNIT: 1, "ha": None}


def unit_word(t: Translator, unit: str) -> str:
    """A registry unit in the report's language ("1", a ratio, has no word; damage in the
    report's currency, see :func:`scenarios.i18n.damage_money`)."""
    if unit == DAMAGE_UNIT:
        return damage_unit_words(t)
    return "" if unit == "1" else t.gettext(unit)


def value_text(t: Translator, value: float, unit: str, *, signed: bool = False) -> str:
    """A value with its unit, formatted for the locale (``n/a`` when missing); damage in the
    report's currency, converted as the dashboard converts it."""
    if value is None or not np.isfinite(value):
        return t.gettext("n/a")
    value = in_currency(float(value), unit, t.lang)
    if unit == "ha" and not signed:
        return t.area(value, digits=0 if value == 0 else None)
    digits = 0 if value == 0 else DIGITS.get(unit)  # "0 M EUR", not "0.0 M EUR"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1
    text = t.number(value, digits)
    if signed and value > 0:
        text = "+" + text
    word = unit_word(t, unit)
    if not word:
        return text
    joiner = "" if t.lang.startswith("zh") or unit == "%" else " "
    return f"{text}{joiner}{word}"


def status_word(t: Translator, status: str) -> str:
    return {"green": t.gettext("within limit"), "yellow": t.gettext("near limit"),
            "red": t.gettext("beyond limit"), "info": t.gettext("for information")}.get(
        status, status)


def limit_words(t: Translator, basis: str, limit: str) -> str:
    """Which limit a value is beyond, in words ("" when none)."""
    return {("plan", "max"): t.gettext("above the plan target"),
            ("plan", "min"): t.gettext("below the plan target"),
            ("threshold", "max"): t.gettext("above the upper threshold"),
            ("threshold", "min"): t.gettext("below the lower threshold")}.get((basis, limit), "")


def threshold_text(t: Translator, row: Any) -> str:
    """What a row is judged against: ``≤ 60,500 (plan target)``, ``65–115``, or a dash."""
    unit = row["unit"]
    basis = row.get("basis", "none")
    if basis == "plan":
        bound = row["green_max"] if np.isfinite(row.get("green_max", np.nan)) else \
            row["green_min"]
        sign = "≤" if np.isfinite(row.get("green_max", np.nan)) else "≥"
        return t.gettext("{bound} (plan target)", bound=f"{sign} {value_text(t, bound, unit)}")
    if basis == "threshold":
        lo, hi = row.get("green_min", np.nan), row.get("green_max", np.nan)
        if np.isfinite(lo) and np.isfinite(hi):
            return (value_text(t, lo, unit) if lo == hi else
                    f"{t.number(in_currency(lo, unit, t.lang), _digits(lo, unit))}–"
                    f"{value_text(t, hi, unit)}")
        if np.isfinite(hi):
            return f"≤ {value_text(t, hi, unit)}"
        if np.isfinite(lo):
            return f"≥ {value_text(t, lo, unit)}"
    return "–"


def _digits(value: float, unit: str) -> int:
    digits = DIGITS.get(unit)
    return (0 if abs(value) >= 100 else 1) if digits is None else digits


def indicator_name(ctx: Context, key: str) -> str:
    definition = ctx.registry.get(key)
    return ctx.t.gettext(definition.name) if definition is not None else key


_CJK = re.compile(r"[\u3400-\u9fff]")


def class_label(name: str, lang: str) -> str:
    """A bilingual class name ("Cropland 耕地") in one language (its Chinese or its English
    words; codes in brackets kept).

    >>> class_label("Built-up 建设用地 (07-16)", "zh_CN"), class_label("Cropland 耕地", "en")
    ('建设用地 (07-16)', 'Cropland')
    """
    if not _CJK.search(name):
        return name
    words = name.split()
    if lang.startswith("zh"):
        kept = [w for w in words if _CJK.search(w) or w.startswith("(")]
    else:
        kept = [w for w in words if not _CJK.search(w)]
    return " ".join(kept) or name


# -- sections -------------------------------------------------------------------------------
def comparison_report(comparison: Comparison, lang: str = "en", *,
                      territory: Territory | None = None,
                      stills: dict[str, bytes] | None = None,
                      pictures: dict | None = None,
                      ensembles: Sequence[EnsembleSummary] = ()) -> Report:
    """The comparison report in ``lang`` (see the module doc).

    ``territory``: the TIM the runs were made on (its control lines, planning units and
    buildings are drawn); ``stills``: 3D stills per run name (PNG bytes, see
    :func:`city_stills`), rendered once for every language; ``pictures``: a dict to share the
    maps and charts between the languages of one comparison (they carry no words);
    ``ensembles``: ensembles of the runs' scenarios, drawn as bands on the charts.
    """
    from scenarios.indicators import load_registry

    t = translator(lang)
    ctx = Context(comparison, territory, t, load_registry(), stills or {}, tuple(ensembles),
                  {} if pictures is None else pictures)
    _ = t.gettext
    year = ctx.base.years[-1]
    sections = [summary_section(ctx), maps_section(ctx)]
    flood = flood_section(ctx)
    if flood is not None:
        sections.append(flood)
    if ctx.stills:
        sections.append(Section(_("The city in 3D"), [
            Paragraph(_("Perspective views of each scenario in its last year. New buildings "
                        "are orange; where a surge ran, buildings are coloured by the flood "
                        "depth at their footprint (grey: dry).")),
            *[Figure(ctx.stills[r.name], f"{r.name} – {scenario_text(r.title, t)}", "still",
                     (), 0.5) for r in ctx.runs if r.name in ctx.stills]], kind="stills"))
    sections += [indicator_section(ctx), warnings_section(ctx), charts_section(ctx),
                 appendix_section(ctx)]
    territory_name = ctx.base.manifest["tim"]["name"]
    created = _dt.date.today()
    cover = [
        _("Territory: {name}", name=territory_name),
        _("Scenarios compared: {names}", names=", ".join(
            f"{r.name} ({scenario_text(r.title, t)})" for r in ctx.runs)),
        _("Baseline: {name}", name=ctx.base.name),
        _("Years simulated: {first}–{last}", first=ctx.base.years[0], last=year),
        _("Prepared {date} with Territory Twin", date=t.date(created, "long")),
    ]
    return build_report(_("Scenario comparison report"), sections, lang,
                        subtitle=territory_name, cover_lines=cover,
                        footer=_("Territory Twin – scenario comparison – {date}",
                                 date=t.date(created)))


def _final_rows(run: RunDirectory) -> pd.DataFrame:
    df = run.indicators
    last = df[df["year"] == df["year"].max()]
    return last.set_index("indicator")


def _row(run: RunDirectory, key: str) -> pd.Series | None:
    rows = _final_rows(run)
    return rows.loc[key] if key in rows.index else None


def summary_section(ctx: Context) -> Section:
    """One page: what differs from the baseline, the key numbers, the main warnings."""
    t, _ = ctx.t, ctx.t.gettext
    base = ctx.base
    year = base.years[-1]
    blocks: list[Any] = [Paragraph(_(
        "This report compares {n} scenarios of {territory} with the baseline \"{base}\" in "
        "{year}, the last simulated year. Each value is judged against its plan target "
        "where the plan gives one, else against the indicator's thresholds.",
        n=len(ctx.runs), territory=base.manifest["tim"]["name"], base=base.name, year=year))]
    differences = []
    final_warnings = _final_warnings(ctx)
    for run in ctx.runs:
        counts = final_warnings[final_warnings["scenario"] == run.name]["status"].value_counts()
        red, yellow = int(counts.get("red", 0)), int(counts.get("yellow", 0))
        status = "red" if red else "yellow" if yellow else "green"
        parts = []
        if run is not base:
            for key in ("built_up_area", "population", "farmland_lost",
                        "ecological_land_lost", "flooded_buildings"):
                mine, ref = _row(run, key), _row(base, key)
                if mine is None or ref is None:
                    continue
                delta = float(mine["value"]) - float(ref["value"])
                if np.isfinite(delta) and abs(delta) > 1e-6:
                    parts.append(f"{indicator_name(ctx, key)} "
                                 f"{value_text(t, delta, mine['unit'], signed=True)}")
        change = (_("; ").join(parts) if parts else _("no difference in the key numbers")) \
            if run is not base else _("the reference")
        differences.append((_("{name} ({title}): {change}; {red} red and {yellow} yellow "
                              "warnings", name=run.name, title=scenario_text(run.title, t),
                              change=change,
                              red=red, yellow=yellow), status))
    blocks += [Paragraph(_("What differs, compared with the baseline:")),
               Bullets.of(differences)]
    keys = [k for k in KEY_INDICATORS if _row(base, k) is not None
            and (not k.startswith(("flood", "population_exposed"))
                 or any(r.surge is not None for r in ctx.runs))]
    rows = []
    for key in keys:
        ref = _row(base, key)
        row: list[Any] = [indicator_name(ctx, key), threshold_text(t, ref)]
        for run in ctx.runs:
            mine = _row(run, key)
            if mine is None:
                row.append(Cell(_("n/a"), numeric=True))
                continue
            note = ""
            if run is not base:
                delta = float(mine["value"]) - float(ref["value"])
                note = value_text(t, delta, mine["unit"], signed=True) if np.isfinite(
                    delta) and abs(delta) > 1e-9 else ""
            row.append(Cell(value_text(t, float(mine["value"]), mine["unit"]),
                            mine["status"], True, note))
        rows.append(row)
    blocks.append(Table([_("Indicator"), _("Threshold or target"),
                         *[r.name for r in ctx.runs]], rows,
                        title=_("Key numbers in {year}", year=year),
                        note=_("Dot colour: green within limit, yellow near limit, red beyond "
                               "limit, grey for information. Small figures: difference from "
                               "the baseline.")))
    listed = final_warnings[final_warnings["status"] == "red"].head(SUMMARY_WARNINGS)
    if len(listed) < SUMMARY_WARNINGS:
        listed = pd.concat([listed, final_warnings[final_warnings["status"] == "yellow"]
                            .head(SUMMARY_WARNINGS - len(listed))])
    if len(listed):
        blocks += [Paragraph(_("Main warnings in {year} ({n} in all, listed in full in the "
                               "warnings section):", year=year, n=len(final_warnings))),
                   Bullets.of([(warning_text(ctx, w), w["status"])
                               for w in listed.to_dict("records")])]
    else:
        blocks.append(Paragraph(_("No indicator is beyond its limit in {year}.", year=year)))
    return Section(_("Summary"), blocks, kind="summary")


def _final_warnings(ctx: Context) -> pd.DataFrame:
    """Each scenario's warnings of its last year (the latest state), red first."""
    w = ctx.comparison.warnings
    frames = []
    for run in ctx.runs:
        mine = w[(w["scenario"] == run.name) & (w["year"] == run.years[-1])]
        frames.append(mine)
    out = pd.concat(frames, ignore_index=True) if frames else w.iloc[:0]
    order = out["status"].map({"red": 0, "yellow": 1}).fillna(2)
    level = out["level"].map({"city": 0, "district": 1, "unit": 2, "cell": 3}).fillna(4)
    return out.assign(_o=order, _l=level).sort_values(["_o", "_l"], kind="stable").drop(
        columns=["_o", "_l"]).reset_index(drop=True)


def warning_text(ctx: Context, w: dict) -> str:
    """A warning in the report's language, from its structured columns."""
    t, _ = ctx.t, ctx.t.gettext
    where = {"city": _("territory"), "district": _("district"), "unit": _("unit"),
             "cell": _("cells"), "plan": _("plan")}.get(w.get("level"), w.get("level", ""))
    area = w.get("area")
    area = "" if not isinstance(area, str) or not area else f" {area}"
    key = w.get("indicator", "")
    value = w.get("value", np.nan)
    if key == "control_line_encroachment" and w.get("level") == "cell":
        what = _("{n} cells built inside a hard control line",
                 n=t.number(value if np.isfinite(value) else 0))
    elif key == "land_demand":
        what = _("{n} cells of land demand could not be met within the constraints",
                 n=t.number(value))
    elif key == "plan_balance":
        what = _("the plan's allocation does not balance: {detail}",
                 detail=w.get("message", ""))
    elif key == "population" and w.get("level") == "unit" and value == 0:
        what = _("no residents left")
    elif key in ctx.registry and isinstance(w.get("unit"), str) and np.isfinite(value):
        what = f"{indicator_name(ctx, key)} {value_text(t, value, w['unit'])}"
        words = limit_words(t, w.get("basis", ""), w.get("limit", ""))
        threshold = w.get("threshold", np.nan)
        if words and np.isfinite(threshold):
            what = _("{what}, {limit} {threshold}", what=what, limit=words,
                     threshold=value_text(t, threshold, w["unit"]))
    else:
        what = str(w.get("message", ""))
    return _("{who}: {what} ({status})", who=f"{w['scenario']} · {where}{area}", what=what,
             status=status_word(t, w["status"]))


def _classes(ctx: Context, run: RunDirectory) -> list[tuple[int, str, str]]:
    return [(c.code, class_label(c.name, ctx.t.lang), c.colour) for c in run.classes]


def _controls(ctx: Context) -> dict[str, tuple[np.ndarray, str]]:
    if ctx.territory is None:
        return {}
    _ = ctx.t.gettext
    labels = {"control__ecological_red_line": _("Ecological protection red line"),
              "control__permanent_basic_farmland": _("Permanent basic farmland"),
              "control__urban_development_boundary": _("Urban development boundary")}
    return {name: (ctx.territory.fields[name] > 0, label) for name, label in labels.items()
            if name in ctx.territory.fields}


def maps_section(ctx: Context) -> Section:
    """Land use per scenario (control lines and units drawn), then built-up differences."""
    _ = ctx.t.gettext
    units = None
    if ctx.territory is not None and "planning__unit_id" in ctx.territory.fields:
        units = ctx.territory.get("planning__unit_id")
    controls = _controls(ctx)
    blocks: list[Any] = []
    if ctx.territory is None:
        blocks.append(Paragraph(_("The territory's folder was not found, so control lines "
                                  "and planning units are not drawn.")))
    for run in ctx.runs:
        year = run.years[-1]
        blocks.append(figures.land_use_map(
            run.land_use(year), _classes(ctx, run), f"{run.name} · {year}", controls, units,
            _("Planning units"), caption=_("Land use of {name} in {year}", name=run.name,
                                           year=year),
            cache=ctx.pictures, key=("land use", run.name)))
    base = ctx.base
    built = base.classes.built.code
    both_reference = base.land_use(base.years[-1]) == built
    labels = (_("built only in the scenario"), _("built only in the baseline"),
              _("built in both"))
    for name, diff in ctx.comparison.difference_maps.items():
        run = next(r for r in ctx.runs if r.name == name)
        blocks.append(figures.difference_map(
            diff, both_reference & (diff == 0), f"{name} − {base.name}", labels,
            caption=_("Built-up land, {name} compared with {base}: {more} cells more, "
                      "{fewer} fewer", name=name, base=base.name,
                      more=ctx.t.number(int((diff > 0).sum())),
                      fewer=ctx.t.number(int((diff < 0).sum()))),
            cache=ctx.pictures, key=("built-up difference", name)))
        del run
    return Section(_("Maps"), blocks, kind="maps")


def _flooded_building_cells(ctx: Context, run: RunDirectory) -> np.ndarray | None:
    """(column, row) of each flooded building's centroid cell."""
    if ctx.territory is None or "buildings" not in ctx.territory.layers:
        return None
    table = run.buildings()
    if table is None or "flooded" not in table:
        return None
    flooded = set(table.loc[table["flooded"].astype(bool), "building_id"].astype(str))
    layer = ctx.territory.layers["buildings"]
    chosen = layer[layer["building_id"].astype(str).isin(flooded)]
    if not len(chosen):
        return np.empty((0, 2))
    a, _, c, _, e, f = run.grid.transform[:6]
    cx = chosen.geometry.centroid
    return np.column_stack([(cx.x.to_numpy() - c) / a - 0.5, (cx.y.to_numpy() - f) / e - 0.5])


def flood_section(ctx: Context) -> Section | None:
    """Flood depth and flooded buildings of every run with a surge; depth differences against
    the first run with a surge."""
    surged = [r for r in ctx.runs if r.surge is not None]
    if not surged:
        return None
    t, _ = ctx.t, ctx.t.gettext
    blocks: list[Any] = []
    for run in surged:
        depth = run.water_depth()
        sea = run.classes.group_mask(run.land_use(run.surge_year), "sea")
        flooded = _flooded_building_cells(ctx, run)
        built = run.land_use(run.surge_year) == run.classes.built.code
        blocks.append(figures.flood_map(
            depth, sea, f"{run.name} · {run.surge_year}", _("Flood depth"), flooded,
            _("Flooded buildings"), context=built, context_label=_("Built-up land"),
            caption=_("Largest flood depth of {name} (surge of {year}); {n} flooded "
                      "buildings", name=run.name, year=run.surge_year,
                      n=t.number(0 if flooded is None else len(flooded))),
            cache=ctx.pictures, key=("flood", run.name)))
    reference = ctx.comparison.flood_reference
    for name, diff in ctx.comparison.flood_maps.items():
        run = next(r for r in ctx.runs if r.name == name)
        sea = run.classes.group_mask(run.land_use(run.surge_year), "sea")
        blocks.append(figures.depth_difference_map(
            diff, sea, f"{name} − {reference}", (_("deeper"), _("shallower")),
            caption=_("Flood depth, {name} minus {base}: {deeper} cells deeper, {shallower} "
                      "shallower (by 1 cm or more)", name=name, base=reference,
                      deeper=t.number(int((diff > 0.01).sum())),
                      shallower=t.number(int((diff < -0.01).sum()))),
            cache=ctx.pictures, key=("flood difference", name)))
    return Section(_("Flooding"), blocks, kind="flood")


def indicator_section(ctx: Context) -> Section:
    """Every territory indicator in the last year (value, status, threshold), then the key
    indicators of each district."""
    t, _ = ctx.t, ctx.t.gettext
    base = ctx.base
    year = base.years[-1]
    rows = []
    for key, ref in _final_rows(base).iterrows():
        row: list[Any] = [indicator_name(ctx, key), threshold_text(t, ref)]
        for run in ctx.runs:
            mine = _row(run, key)
            if mine is None:
                row.append(Cell(_("n/a"), numeric=True))
                continue
            words = limit_words(t, mine.get("basis", "none"), mine.get("limit", "none"))
            row.append(Cell(value_text(t, float(mine["value"]), mine["unit"]),
                            mine["status"], True,
                            words or status_word(t, mine["status"])))
        rows.append(row)
    blocks: list[Any] = [Table([_("Indicator"), _("Threshold or target"),
                                *[r.name for r in ctx.runs]], rows,
                               title=_("The territory in {year}", year=year))]
    tables = {r.name: r.area_indicators for r in ctx.runs}
    if all(table is not None for table in tables.values()):
        district_rows = []
        finals = {name: table[(table["year"] == table["year"].max())
                              & (table["level"] == "district")].set_index(["area",
                                                                           "indicator"])
                  for name, table in tables.items()}
        districts = list(dict.fromkeys(finals[base.name].index.get_level_values(0)))
        for district in districts:
            for key in DISTRICT_INDICATORS:
                if (district, key) not in finals[base.name].index:
                    continue
                ref = finals[base.name].loc[(district, key)]
                row = [district, indicator_name(ctx, key), threshold_text(t, ref)]
                for run in ctx.runs:
                    table = finals[run.name]
                    if (district, key) not in table.index:
                        row.append(Cell(_("n/a"), numeric=True))
                        continue
                    mine = table.loc[(district, key)]
                    row.append(Cell(value_text(t, float(mine["value"]), mine["unit"]),
                                    mine["status"], True))
                district_rows.append(row)
        if district_rows:
            blocks.append(Table([_("District"), _("Indicator"), _("Threshold or target"),
                                 *[r.name for r in ctx.runs]], district_rows,
                                title=_("Districts in {year}", year=year)))
    return Section(_("Indicators"), blocks, kind="indicators")


def warnings_section(ctx: Context) -> Section:
    """Every warning of the last year, by scenario, red first."""
    _ = ctx.t.gettext
    final = _final_warnings(ctx)
    blocks: list[Any] = [Paragraph(_(
        "Warnings of the last simulated year; every year's warnings are in warnings.csv."))]
    for run in ctx.runs:
        mine = final[final["scenario"] == run.name]
        if not len(mine):
            blocks.append(Bullets.of([(_("{name}: no warning", name=run.name), "green")]))
            continue
        blocks.append(Bullets.of([(warning_text(ctx, w), w["status"])
                                  for w in mine.to_dict("records")]))
    return Section(_("Warnings"), blocks, kind="warnings")


def charts_section(ctx: Context) -> Section:
    """Key indicators over the simulated years, one line per scenario; a scenario with an
    ensemble gets its P10-P90 band and median (P5-P95 for ensembles written before P10/P90)."""
    from scenarios.ensemble import band_columns

    t, _ = ctx.t, ctx.t.gettext
    panels, bands = [], []
    quantiles: set[tuple[int, int]] = set()
    for key in CHART_INDICATORS:
        series, band = {}, {}
        unit = ""
        for run in ctx.runs:
            df = run.indicators[run.indicators["indicator"] == key]
            if len(df):
                unit = df["unit"].iloc[0]
                series[run.name] = (df["year"].tolist(),
                                    [in_currency(v, unit, t.lang) for v in df["value"]])
            ensemble = next((e for e in ctx.ensembles if e.of(run.manifest)), None)
            if ensemble is not None:
                lo, hi, lo_q, hi_q = band_columns(ensemble.intervals)
                quantiles.add((lo_q, hi_q))
                rows = ensemble.intervals[ensemble.intervals["indicator"] == key].sort_values(
                    "year")
                if len(rows):
                    band[run.name] = tuple([rows["year"].tolist()] + [
                        [in_currency(v, unit, t.lang) for v in rows[c]] for c in (lo, "p50", hi)])
        if series:
            word = unit_word(t, unit)
            panels.append((f"{indicator_name(ctx, key)}" + (f" ({word})" if word else ""),
                           series))
            bands.append(band)
    lo_q, hi_q = max(quantiles) if quantiles else (10, 90)
    blocks: list[Any] = [figures.timeline_chart(
        panels, _("Key indicators of each scenario, year by year"), bands=bands,
        band_label=_("{name}: P{lo}–P{hi} and median", name="{name}", lo=lo_q, hi=hi_q))]
    if any(bands):
        seeds = {r.name: len(e.seeds) for r in ctx.runs for e in ctx.ensembles
                 if e.of(r.manifest)}
        blocks.append(Paragraph(_(
            "Shaded: the P{lo}–P{hi} band of an ensemble of the scenario (the same scenario run "
            "with other seeds: {runs}); dashed: its median.", lo=lo_q, hi=hi_q,
            runs=", ".join(_("{name}, {n} seeds", name=n, n=k) for n, k in seeds.items()))))
    return Section(_("Indicators over time"), blocks, kind="charts")


def appendix_section(ctx: Context) -> Section:
    """Runs (seed, years, engines, versions, hashes) and each scenario's parameters."""
    _ = ctx.t.gettext
    rows = []
    for run in ctx.runs:
        m = run.manifest
        versions = m.get("versions", {})
        software = ", ".join(f"{k} {v}" for k, v in versions.items()
                             if k in ("territory-twin", "python", "numpy", "numba", "mesa"))
        rows.append([run.name, f"{run.years[0]}–{run.years[-1]}", str(m.get("seed")),
                     ", ".join(f"{k}: {v}" for k, v in m.get("engines", {}).items()),
                     software, (m.get("scenario_sha256") or "")[:16]
                     + (f" · git {m['git_commit'][:10]}" if m.get("git_commit") else "")])
    blocks: list[Any] = [Table([_("Scenario"), _("Years"), _("Seed"), _("Engines"),
                                _("Software"), _("Hashes")], rows, title=_("Runs"))]
    reference = ctx.base.manifest["scenario"]
    for run in ctx.runs:
        mine = run.manifest["scenario"]
        if run is ctx.base:
            text, title = mine, _("Parameters of {name}", name=run.name)
        else:
            text = changed(reference, mine)
            title = _("Parameters of {name} that differ from {base}", name=run.name,
                      base=ctx.base.name)
        # Flow style for leaf lists and mappings: a list of 40 output times is one wrapped
        # line, not 40 lines.
        blocks.append(Code(yaml.safe_dump(text, sort_keys=False, allow_unicode=True,
                                          width=60, default_flow_style=None), title=title))
    return Section(_("Appendix: parameters, seeds, versions and hashes"), blocks,
                   kind="appendix")


def changed(reference: dict, other: dict) -> dict:
    """The keys of ``other`` whose values differ from ``reference`` (nested mappings
    compared key by key).

    >>> changed({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2, "d": 4}, "e": 5})
    {'b': {'d': 4}, 'e': 5}
    """
    out = {}
    for key, value in other.items():
        ref = reference.get(key)
        if isinstance(value, dict) and isinstance(ref, dict):
            inner = changed(ref, value)
            if inner:
                out[key] = inner
        elif value != ref:
            out[key] = value
    return out

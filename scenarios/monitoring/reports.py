"""The monitoring reports (changes, assessment, 双评价, review) on the one report machinery.

Each ``*_report(..., lang)`` returns a :class:`scenarios.reporting.Report` - typed blocks with
text already in ``lang`` and numbers formatted per locale (:mod:`scenarios.i18n`; the words are
in the ``monitoring`` catalogue) - and :func:`write_reports` writes it in every language asked
(``report.html`` in the first, ``report.<lang>.html`` in the others, each with its PDF when
asked), as ``twin compare`` does. Maps come from :mod:`scenarios.reporting.figures`: pictures
carry no words, so every language shares one drawing (``pictures`` cache).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from scenarios.i18n import Translator, check_language, translator
from scenarios.monitoring.words import SEVERITY_COLOURS, line_names, reason_words, severity_word
from scenarios.reporting import (Bullets, Cell, KeyFigure, KeyFigures, Paragraph, Report,
                                 Section, Table, build_report, write_report)
from scenarios.reporting import figures
from scenarios.reporting.comparison import (class_label, limit_words, status_word,
                                            value_text)

if TYPE_CHECKING:
    from scenarios.monitoring.changes import ChangeResult
    from scenarios.monitoring.observed import ControlLines
    from tim.model import Territory

#: Patches listed in the report (all are in patches.csv).
LISTED_PATCHES = 40
SEVERITIES = ("critical", "high", "medium", "low")
#: Table dot colour of each severity / review result (the model's status colours).
SEVERITY_STATUS = {"critical": "red", "high": "red", "medium": "yellow", "low": "info",
                   "pass": "green", "fail": "red", "not checked": "info"}
GRADE_COLOURS = {1: "#d7191c", 2: "#fdae61", 3: "#ffffbf", 4: "#a6d96a", 5: "#1a9641"}
#: The monitoring's control lines drawn on maps, by the figures' field names.
MAP_LINES = {"ecological_red_line": "control__ecological_red_line",
             "permanent_basic_farmland": "control__permanent_basic_farmland",
             "urban_development_boundary": "control__urban_development_boundary",
             "water_line": "control__water_line"}
#: Background of a patch or proposal map (land that did not change, or other land).
BACKGROUND = "#eceff1"


def languages(langs: Sequence[str] | str | None) -> list[str]:
    """The report languages, checked before anything is computed or written (first one:
    ``report.html``); ``"en,zh_CN"`` and ``["en", "zh_CN"]`` alike.

    >>> languages("en,zh"), languages(None)
    (['en', 'zh_CN'], ['en'])
    """
    if langs is None:
        return ["en"]
    items = langs.split(",") if isinstance(langs, str) else \
        [x for value in langs for x in value.split(",")]
    checked = [check_language(x.strip(), source="--lang") for x in items if x.strip()]
    return list(dict.fromkeys(checked)) or ["en"]


def write_reports(build: Callable[[str], Report], directory: Path, langs: Sequence[str], *,
                  pdf: bool = False) -> list[str]:
    """Write ``build(lang)`` for every language: ``report.html`` (first language) and
    ``report.<lang>.html`` (others), each with its ``.pdf`` when ``pdf``; the files written."""
    written = []
    for i, lang in enumerate(languages(langs)):
        stem = "report" if i == 0 else f"report.{lang}"
        html, printed = write_report(build(lang), Path(directory) / stem, pdf=pdf)
        written += [html.name] + ([printed.name] if printed is not None else [])
    return written


# -- words --------------------------------------------------------------------------------------
def derived_notes(t: Translator, lines: ControlLines) -> list[str]:
    names = line_names(t)
    return [t.gettext("{line}: a derived stand-in, not an adopted line ({rule}).",
                      line=names.get(n, n), rule=rule) for n, rule in lines.derived.items()]


def _num(t: Translator, value: Any, digits: int | None = None) -> Cell:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return Cell(t.gettext("n/a"), numeric=True)
    value = float(value)
    if digits is None:
        digits = 0 if abs(value) >= 100 or value == int(value) else 1 if abs(value) >= 10 \
            else 2
    return Cell(t.number(value, digits), numeric=True)


def _status(t: Translator, status: Any) -> Cell:
    status = "" if status is None or status != status else str(status)
    if status in SEVERITY_STATUS:
        return Cell(severity_word(t, status), SEVERITY_STATUS[status])
    return Cell(status_word(t, status), status if status in ("green", "yellow", "red", "info")
                else "")


def _classes(territory: Territory, lang: str) -> list[tuple[int, str, str]]:
    return [(c.code, class_label(c.name, lang), c.colour) for c in territory.classes]


def _controls(t: Translator, lines: ControlLines) -> dict[str, tuple[np.ndarray, str]]:
    names = line_names(t)
    return {MAP_LINES[n]: (m, names[n] + (t.gettext(" (derived)") if n in lines.derived
                                          else ""))
            for n, m in lines.masks.items() if n in MAP_LINES and m.any()}


def _territory_controls(t: Translator, territory: Territory
                        ) -> dict[str, tuple[np.ndarray, str]]:
    """The TIM's own control lines (``control__*`` fields), for maps with no monitoring lines."""
    names = line_names(t)
    return {f"control__{n}": (territory.fields[f"control__{n}"] > 0, names[n])
            for n in ("ecological_red_line", "permanent_basic_farmland",
                      "urban_development_boundary")
            if f"control__{n}" in territory.fields and
            (territory.fields[f"control__{n}"] > 0).any()}


def most_severe(ranks: np.ndarray) -> np.ndarray:
    """A severity-rank map (1 most severe; larger codes less) reduced to the printed map's
    size by keeping each block's most severe cell, so a small patch is never sampled away.

    >>> most_severe(np.array([[9, 9, 9], [9, 1, 9]], np.uint8)).tolist()  # small: unchanged
    [[9, 9, 9], [9, 1, 9]]
    """
    step = figures.stride(ranks.shape)
    if step == 1:
        return ranks
    rows, cols = (-(-n // step) * step for n in ranks.shape)
    padded = np.full((rows, cols), ranks.max(), ranks.dtype)
    padded[:ranks.shape[0], :ranks.shape[1]] = ranks
    pooled = padded.reshape(rows // step, step, cols // step, step).min(axis=(1, 3))
    # back to the full size (nearest), so it lines up with the lines and units thinned alike
    return np.repeat(np.repeat(pooled, step, 0), step, 1)[:ranks.shape[0], :ranks.shape[1]]


def _line_width(shape: tuple[int, ...]) -> float:
    """Control lines thinner on a city-sized grid (thinned for print: many short lines)."""
    return 1.1 if figures.stride(shape) == 1 else 0.5


def _units(territory: Territory) -> np.ndarray | None:
    return territory.get("planning__unit_id") if "planning__unit_id" in territory.fields \
        else None


def _cover(t: Translator, territory: Territory, *extra: str) -> list[str]:
    return [t.gettext("Territory: {name}", name=territory.name), *extra,
            t.gettext("Prepared {date} with Territory Twin",
                      date=t.date(_dt.date.today(), "long"))]


def _notes_section(t: Translator, notes: list[str]) -> list[Any]:
    if not notes:
        return []
    return [Paragraph(t.gettext("Notes on the inputs:")), Bullets.of(notes)]


# -- twin changes -------------------------------------------------------------------------------
def changes_report(result: ChangeResult, territory: Territory, inputs: dict[str, Any],
                   lang: str = "en", *, pictures: dict | None = None) -> Report:
    """The change-patch report: patches by severity, lines touched, a map of the patches
    (coloured by severity, control lines drawn), the leads to follow up, 占补平衡."""
    t = translator(lang)
    _ = t.gettext
    df = result.patches
    by = df.groupby("severity")["area_ha"].agg(["count", "sum"])
    counts = {s: (int(by["count"].get(s, 0)), float(by["sum"].get(s, 0.0))) for s in SEVERITIES}
    names = line_names(t)
    severity_table = Table([_("Severity"), _("Patches"), _("Area")],
                           [[_status(t, s), _num(t, counts[s][0], 0),
                             Cell(t.area(counts[s][1]), numeric=True)] for s in SEVERITIES])
    lines_table = Table(
        [_("Control line"), _("Patches"), _("Patch area"), _("Area at issue")],
        [[names["outside_" + r.line if r.relation == "outside" else r.line] +
          (_(" (derived)") if r.line in result.lines.derived else ""),
          _num(t, r.patches, 0), Cell(t.area(r.patch_area_ha), numeric=True),
          Cell(t.area(r.area_in_line_ha), numeric=True)]
         for r in result.line_summary.itertuples()]) if {"patch_area_ha", "area_in_line_ha"} \
        <= set(result.line_summary.columns) else _frame_table(t, result.line_summary.drop(
            columns=["line"], errors="ignore"))
    lines_note = _("Area at issue: inside the line; for the boundary, outside it.")
    balance = result.balance
    city = balance.iloc[-1]
    short = balance[(balance["status"] != "green") & (balance["level"] == "unit")] \
        .sort_values("net_ha")
    summary = [
        KeyFigures([KeyFigure(_("Change patches"), t.number(len(df)),
                              "red" if counts["critical"][0] else "",
                              _("at least {size} each", size=t.area(result.min_area_ha))),
                    KeyFigure(_("critical"), t.number(counts["critical"][0]),
                              "red" if counts["critical"][0] else "green",
                              t.area(counts["critical"][1])),
                    KeyFigure(_("Farmland lost"), t.area(float(city["lost_ha"])), "",
                              _("gained {area}", area=t.area(float(city["gained_ha"])))),
                    KeyFigure(_("Farmland balance"), t.area(float(city["net_ha"])),
                              str(city["status"]))]),
        Paragraph(_("Changes from {before} to {after}: {cells} changed cells, {n} patches of at "
                    "least {size} ({connectivity}-connected) kept, {dropped} smaller ones "
                    "dropped.", before=result.before, after=result.after,
                    cells=t.number(result.changed_cells), n=t.number(len(df)),
                    size=t.area(result.min_area_ha), connectivity=result.connectivity,
                    dropped=t.number(result.dropped))),
        severity_table, *_notes_section(t, derived_notes(t, result.lines))]
    rank = {s: i + 1 for i, s in enumerate(SEVERITIES)}
    of_patch = np.full(int(result.labels.max()) + 1, 9, np.uint8)  # 9: no patch (label 0)
    of_patch[df["patch_id"].to_numpy()] = df["severity"].map(rank).to_numpy()
    canvas = most_severe(of_patch[result.labels])  # one uint8 gather over the grid
    classes = [(rank[s], severity_word(t, s), SEVERITY_COLOURS[s]) for s in SEVERITIES] + \
        [(9, _("no change kept"), BACKGROUND)]
    patch_map = figures.land_use_map(
        canvas, classes, f"{result.before} → {result.after}", _controls(t, result.lines),
        _units(territory), _("Planning units"),
        caption=_("Change patches {before} → {after} by severity, with the control lines",
                  before=result.before, after=result.after), width=1.0,
        cache=pictures, key="patches", line_width=_line_width(result.labels.shape))
    leads = df.head(LISTED_PATCHES)
    leads_table = Table(
        ["#", _("Severity"), _("Reason"), _("From"), _("To"), _("Area"), "x", "y",
         _("Planning unit"), _("Lines")],
        [[str(r.patch_id), _status(t, r.severity), reason_words(t, r.reason),
          class_label(r.from_name, lang), class_label(r.to_name, lang),
          Cell(t.area(r.area_ha), numeric=True), _num(t, r.x, 0), _num(t, r.y, 0),
          "" if r.unit != r.unit else str(r.unit),
          "; ".join(names.get(x, x) for x in str(r.touches).split(";") if x)]
         for r in leads.itertuples()],
        note=_("The {n} most severe of {total} patches; all are in patches.csv and "
               "patches.gpkg.", n=t.number(len(leads)), total=t.number(len(df))))
    balance_table = Table(
        [_("Planning unit"), _("District"), _("Farmland lost"), _("Farmland gained"), _("Net"),
         _("Status")],
        [[str(r.area), "" if r.district != r.district else str(r.district),
          Cell(t.area(r.lost_ha), numeric=True), Cell(t.area(r.gained_ha), numeric=True),
          Cell(t.area(r.net_ha), numeric=True), _status(t, r.status)]
         for r in short.head(25).itertuples()])
    sections = [
        Section(_("Summary"), summary, kind="summary"),
        Section(_("Maps"), [patch_map], kind="maps"),
        Section(_("Control lines touched"), [lines_table, Paragraph(lines_note)],
                new_page=False, kind="lines"),
        Section(_("Leads to follow up"), [leads_table], kind="leads"),
        Section(_("Farmland balance (占补平衡)"), [
            Paragraph(_("Territory: {lost} of farmland lost and {gained} gained ({status}); "
                        "{n} units did not compensate their loss (the largest shortfalls "
                        "below; all in farmland_balance.csv).",
                        lost=t.area(float(city["lost_ha"])),
                        gained=t.area(float(city["gained_ha"])),
                        status=status_word(t, str(city["status"])), n=t.number(len(short)))),
            balance_table], kind="balance")]
    return build_report(_("Change patches {before} → {after}", before=result.before,
                          after=result.after), sections, lang, subtitle=territory.name,
                        cover_lines=_cover(t, territory, _("Maps compared: {before} → {after}",
                                                           before=inputs.get("before"),
                                                           after=inputs.get("after"))),
                        footer=_("Territory Twin – change patches"))


def _frame_table(t: Translator, frame: pd.DataFrame) -> Table:
    return Table(list(frame.columns),
                 [[_num(t, v) if isinstance(v, (int, float, np.number)) else str(v)
                   for v in row] for row in frame.itertuples(index=False)])


# -- twin assess --------------------------------------------------------------------------------
def assessment_report(result, territory: Territory, inputs: dict[str, Any], lang: str = "en",
                      *, pictures: dict | None = None) -> Report:
    """The assessment report: headline indicators per year with their judgement, warnings,
    plan-target progress, trends, maps of the latest year and of the change since the one
    before."""
    from scenarios.indicators import load_registry
    from scenarios.monitoring.assess import HEADLINE

    t = translator(lang)
    _ = t.gettext
    registry = load_registry(None if inputs.get("registry") in (None, "default")
                             else inputs["registry"])
    years, last = result.years, result.years[-1]
    city = result.city
    name = lambda key: t.gettext(registry[key].name) if key in registry else key  # noqa: E731
    rows, figures_ = [], []
    for key in HEADLINE:
        s = city[city["indicator"] == key].set_index("year")
        if s.empty:
            continue
        latest = s.loc[last]
        target = latest["target"]
        rows.append([name(key)] + [Cell(value_text(t, s.loc[y, "value"], latest["unit"]),
                                        numeric=True) for y in years] +
                    [Cell("–" if pd.isna(target) else value_text(t, target, latest["unit"]),
                          numeric=True), _status(t, latest["status"])])
        if np.isfinite(latest["value"]) and latest["status"] in ("green", "yellow", "red"):
            figures_.append(KeyFigure(name(key), value_text(t, latest["value"], latest["unit"]),
                                      latest["status"], status_word(t, latest["status"])))
    head = Table([_("Indicator"), *map(str, years), _("Target {year}", year=last),
                  _("Status {year}", year=last)], rows,
                 note=_("Values for the whole territory; \"lost\" indicators count from "
                        "{first}. The status of {last} is judged against the plan target "
                        "where one applies, else the registry's thresholds.",
                        first=years[0], last=last))
    w = result.warnings
    latest_w = w[w["year"] == last]
    red, yellow = int((latest_w["status"] == "red").sum()), \
        int((latest_w["status"] == "yellow").sum())
    summary = [KeyFigures(figures_[:4]) if figures_ else Paragraph(""),
               Paragraph(_("Observed years: {years}; population observed in: {population}. "
                           "{red} red and {yellow} yellow warnings in {last}.",
                           years=", ".join(map(str, years)),
                           population=", ".join(map(str, result.population_years)) or
                           _("none"), red=red, yellow=yellow, last=last)),
               *_notes_section(t, _assessment_notes(t, result))]
    sections = [Section(_("Summary"), summary, kind="summary"),
                Section(_("Headline indicators {first}–{last}", first=years[0], last=last),
                        [head], new_page=False, kind="indicators")]
    level_words = {"city": _("territory"), "district": _("district"), "unit": _("unit"),
                   "cell": _("cells")}
    warn_rows = [[level_words.get(r.level, r.level), "" if r.area != r.area else str(r.area),
                  name(r.indicator), _status(t, r.status),
                  Cell(value_text(t, _f(r.value), _word_unit(r.unit)), numeric=True),
                  _beyond(t, r)]
                 for r in latest_w.head(40).itertuples()]
    sections.append(Section(_("Warnings {year}", year=last), [Table(
        [_("Level"), _("Planning area"), _("Indicator"), _("Status"), _("Value"),
         _("Threshold or target")], warn_rows,
        note=_("{n} warnings over all years in warnings.csv.", n=t.number(len(w))))],
        kind="warnings"))
    if not result.progress.empty:
        p = result.progress[result.progress["level"].isin(["city", "district"])].head(60)
        sections.append(Section(_("Plan targets: progress"), [Table(
            [_("Indicator"), _("Level"), _("Planning area"), _("Milestone"), _("Target"),
             _("Latest"), _("Progress"), _("Status")],
            [[name(r.indicator), level_words.get(r.level, r.level), str(r.area),
              "" if r.milestone is None or r.milestone != r.milestone else str(int(r.milestone)),
              Cell(value_text(t, r.target, _unit(registry, r.indicator)), numeric=True),
              Cell(value_text(t, r.latest, _unit(registry, r.indicator)), numeric=True),
              Cell(t.percent(r.progress_pct / 100.0), numeric=True), _status(t, r.status)]
             for r in p.itertuples()],
            note=_("Share of the way from the first observed value to the target (caps: "
                   "headroom used; floors: gap closed). Units are in progress.csv."))],
            new_page=False, kind="progress"))
    colours = _classes(territory, lang)
    controls = _controls(t, result.lines)
    units = _units(territory)
    maps = [figures.land_use_map(result.maps[last], colours, str(last), controls, units,
                                 _("Planning units"),
                                 caption=_("Observed land use {year}", year=last),
                                 cache=pictures, key=("land use", last),
                                 line_width=_line_width(result.maps[last].shape))]
    if len(years) > 1:
        prev = years[-2]
        a, b = result.maps[prev], result.maps[last]
        gained = np.where((a != b) & (a != 255) & (b != 255), b, 0).astype(np.uint8)
        maps.append(figures.land_use_map(
            gained, colours, f"{prev} → {last}", controls, units, _("Planning units"),
            caption=_("Change {before} → {after}: each changed cell in the colour of the class "
                      "it became ({n} cells)", before=prev, after=last,
                      n=t.number(int((gained > 0).sum()))),
            cache=pictures, key=("change", prev, last),
            line_width=_line_width(gained.shape)))
    sections.append(Section(_("Maps"), maps, kind="maps"))
    if not result.trends.empty:
        tr = result.trends[result.trends["indicator"].isin(HEADLINE)]
        sections.append(Section(_("Trends"), [Table(
            [_("Indicator"), _("First"), _("Last"), _("Trend per year"), _("Milestone"),
             _("Projected"), _("Target"), _("Status")],
            [[name(r.indicator), value_text(t, r.first, r.unit), value_text(t, r.last, r.unit),
              value_text(t, r.trend_per_year, r.unit, signed=True),
              "" if r.milestone is None or r.milestone != r.milestone else str(int(r.milestone)),
              value_text(t, _f(r.projected), r.unit), value_text(t, _f(r.target), r.unit),
              _status(t, r.projected_status)] for r in tr.itertuples()])],
            kind="trends"))
    return build_report(_("Assessment {first}–{last}", first=years[0], last=last), sections,
                        lang, subtitle=territory.name,
                        cover_lines=_cover(t, territory, _("Observed years: {years}",
                                                           years=", ".join(map(str, years)))),
                        footer=_("Territory Twin – assessment"))


def _word_unit(unit: Any) -> str:
    return "" if unit is None or unit != unit else str(unit)


def _beyond(t: Translator, row: Any) -> str:
    """Which limit a warning's value is beyond, and the bound: "above the plan target 4 ha"."""
    words = limit_words(t, str(row.basis), str(row.limit))
    bound = _f(row.threshold)
    if not words or not np.isfinite(bound):
        return "–"
    return f"{words} {value_text(t, bound, _word_unit(row.unit))}"


def _f(value: Any) -> float:
    return float("nan") if value is None or value != value else float(value)


def _unit(registry, key: str) -> str:
    return registry[key].unit if key in registry else ""


def _assessment_notes(t: Translator, result) -> list[str]:
    notes = derived_notes(t, result.lines)
    missing = [y for y in result.years if y not in result.population_years]
    if missing:
        notes.append(t.gettext("No observed population for {years}: the indicators that need "
                               "residents have no value in those years.",
                               years=", ".join(map(str, missing))))
    return notes


# -- twin evaluate (双评价) -------------------------------------------------------------------
def evaluation_report(result, territory: Territory, areas: pd.DataFrame,
                      capacity: pd.DataFrame, inputs: dict[str, Any], lang: str = "en", *,
                      pictures: dict | None = None) -> Report:
    """The 双评价 report: grade areas, carrying capacity, a grade map per evaluation."""
    t = translator(lang)
    _ = t.gettext
    rules = result.rules
    std = rules.standards
    city = areas[areas["level"] == "city"]
    grade_table = Table(
        [_("Evaluation")] + [_("Grade {n}", n=i) for i in range(1, 6)],
        [[class_label(rules.evaluations[r.evaluation].name, lang)] +
         [Cell(t.area(getattr(r, f"grade_{i}_ha")), numeric=True) for i in range(1, 6)]
         for r in city.itertuples()],
        note=_("Grade 5 is the most important (ecology) or most suitable (farming, building), "
               "1 the least; cells without data are not counted."))
    cap = capacity[capacity["level"].isin(["city", "district"])]
    columns = [("construction_capacity_ha", _("Construction land capacity"), "ha"),
               ("existing_built_ha", _("Built-up land"), "ha"),
               ("headroom_ha", _("Headroom"), "ha"),
               ("population_capacity", _("Population capacity"), "persons"),
               ("population", _("Residents"), "persons")]
    columns = [c for c in columns if c[0] in cap.columns]
    capacity_table = Table([_("Planning area")] + [c[1] for c in columns],
                           [[str(r["area"])] + [Cell(value_text(t, r[c], unit), numeric=True)
                                                 for c, _w, unit in columns]
                            for _i, r in cap.iterrows()])
    grades = [(i, _("Grade {n}", n=i), GRADE_COLOURS[i]) for i in range(1, 6)] + \
        [(0, _("no data"), BACKGROUND)]
    lines = _territory_controls(t, territory)
    maps = []
    for key, grade in result.grades.items():
        ev = rules.evaluations[key]
        label = class_label(ev.name, lang)
        weights = ", ".join(f"{f.name} {f.weight:g}" + (_(" (limit)") if f.limit else "")
                            for f in ev.factors if f.name in result.factors[key])
        maps.append(figures.land_use_map(
            grade, grades, label, lines, _units(territory), _("Planning units"),
            caption=_("{evaluation}: grades 1–5; factors (weights): {weights}",
                      evaluation=label, weights=weights), cache=pictures, key=("grade", key),
            line_width=_line_width(grade.shape)))
    notes = [left_out_words(t, item, class_label(rules.evaluations[item["evaluation"]].name,
                                                 lang) if item["evaluation"] in
                            rules.evaluations else item["evaluation"])
             for item in result.left_out]
    sections = [
        Section(_("Grade areas"), [grade_table, *_notes_section(t, notes)], kind="summary"),
        Section(_("Carrying capacity"), [
            Paragraph(_("Construction land capacity: cells of urban construction suitability "
                        "grade {grade} or more outside the hard control lines. Population "
                        "capacity: that land at {m2} m² of construction land per person (GB "
                        "50137-2011: 65–115 m²). Every unit is in capacity.csv.",
                        grade=std.suitable_grade,
                        m2=t.number(std.construction_land_per_capita_m2))),
            capacity_table], new_page=False, kind="capacity"),
        Section(_("Maps"), maps, kind="maps")]
    return build_report(_("Carrying capacity and development suitability (双评价)"), sections,
                        lang, subtitle=territory.name,
                        cover_lines=_cover(t, territory),
                        footer=_("Territory Twin – 双评价"))


def left_out_words(t: Translator, item: dict, evaluation: str) -> str:
    """A factor left out of a 双评价 evaluation, and what that does to the grade, in ``t``'s
    language (:func:`scenarios.monitoring.evaluation._left_out_message` says it in English for
    the console); ``why`` names a data source and stays as given."""
    _ = t.gettext
    share = float(item.get("weight_share", 0.0) or 0.0)
    effect = (_("its {share} of the weight went to the other factors, so grades can differ by "
                "up to {n} from an evaluation with it", share=t.percent(share),
                n=item.get("max_grade_change", 0)) if share > 0 else _("it had no weight"))
    limit = _("; it no longer caps the grade (a limiting factor)") if item.get("limit") else ""
    return _("{evaluation}: factor \"{factor}\" left out ({why}): {effect}{limit}",
             evaluation=evaluation, factor=item["factor"], why=item.get("why", ""),
             effect=effect, limit=limit)


# -- twin review --------------------------------------------------------------------------------
def review_report(result, territory: Territory, inputs: dict[str, Any], lang: str = "en", *,
                  pictures: dict | None = None) -> Report:
    """The compliance review: pass/fail per proposal and per rule, the failures with measured
    value, limit and legal source, and a map of the proposals (zoomed on them)."""
    t = translator(lang)
    _ = t.gettext
    props, r = result.proposals, result.results
    n_fail = int((props["result"] == "fail").sum())
    per_rule = (r.groupby(["rule", "source"], sort=False)["result"].value_counts()
                .unstack(fill_value=0).reset_index())
    for c in ("pass", "fail", "not checked"):
        if c not in per_rule:
            per_rule[c] = 0
    status = np.zeros(len(props) + 1, np.uint8)
    status[1:] = np.where(props["result"].to_numpy() == "fail", 2, 1)
    canvas = status[result.cells]
    rows, cols = np.nonzero(canvas)
    lines = result.lines
    masks = dict(lines.masks)
    if rows.size:  # zoom on the proposals (with a margin), so small sites stay visible
        pad = 20
        r0, r1 = max(0, rows.min() - pad), rows.max() + pad + 1
        c0, c1 = max(0, cols.min() - pad), cols.max() + pad + 1
        canvas = canvas[r0:r1, c0:c1]
        masks = {k: m[r0:r1, c0:c1] for k, m in masks.items()}
    from scenarios.monitoring.observed import ControlLines

    canvas = np.where(canvas == 0, 9, canvas).astype(np.uint8)
    proposal_map = figures.land_use_map(
        canvas, [(1, _("pass"), "#2e7d32"), (2, _("fail"), "#c62828"),
                 (9, _("other land"), BACKGROUND)], _("Proposals"),
        _controls(t, ControlLines(masks, lines.derived)),
        caption=_("Proposals that pass (green) and fail (red), with the control lines"),
        width=0.5, cache=pictures, key="proposals")
    fails = r[r["result"] == "fail"].head(80)
    sections = [
        Section(_("Summary"), [
            KeyFigures([KeyFigure(_("Proposals"), t.number(len(props))),
                        KeyFigure(_("pass"), t.number(len(props) - n_fail), "green"),
                        KeyFigure(_("fail"), t.number(n_fail), "red" if n_fail else "green")]),
            Paragraph(_("A failing proposal is a finding for the reviewer, not an error; "
                        "every check with its measured value, limit and legal source is in "
                        "results.csv.")),
            *_notes_section(t, derived_notes(t, lines))], kind="summary"),
        Section(_("Rules"), [Table(
            [_("Rule"), _("pass"), _("fail"), _("not checked"), _("Legal source")],
            [[str(rule), _num(t, ok, 0), _num(t, bad, 0), _num(t, unchecked, 0), str(source)]
             for rule, source, ok, bad, unchecked in
             per_rule[["rule", "source", "pass", "fail", "not checked"]].to_numpy()])],
                new_page=False, kind="rules"),
        Section(_("Failures"), [Table(
            [_("Proposal"), _("Rule"), _("Measured"), _("Limit"), _("Unit of measure"),
             _("Zone"), _("Planning unit"), _("Note")],
            [[str(x.proposal_id), str(x.rule), _measure(t, x.measured),
              _measure(t, x.limit), str(x.unit_of_measure or ""), _text(x.zone), _text(x.unit),
              _text(x.note)] for x in fails.itertuples()]), proposal_map], kind="failures"),
        Section(_("Proposals"), [Table(
            [_("Proposal"), _("Kind"), _("Use"), _("Zone"), _("Planning unit"), _("Result"),
             _("Failed rules")],
            [[str(x.proposal_id), _text(x.kind), _text(x.use), _text(x.zone), _text(x.unit),
              _status(t, x.result), _text(x.failed_rules)]
             for x in props.head(80).itertuples()])], new_page=False, kind="proposals")]
    if inputs.get("sunlight"):
        sections.append(_sunlight_section(t, inputs, props))
    return build_report(_("Compliance review"), sections, lang, subtitle=territory.name,
                        cover_lines=_cover(t, territory, _("Proposals: {path}",
                                                           path=inputs.get("proposals"))),
                        footer=_("Territory Twin – compliance review"))


def _sunlight_section(t: Translator, inputs: dict[str, Any], props: Any) -> Section:
    """Sunlight (GB 50180-2018) of the reviewed proposals from their ``twin sunlight`` folder:
    the existing buildings they make fail, and which proposal does."""
    from scenarios.planning.review import (LISTED, broken_table, open_for_review,
                                           proposal_names)

    _ = t.gettext
    folder = open_for_review(inputs["sunlight"], inputs["proposals"])
    broken = broken_table(folder, proposal_names(folder, props["proposal_id"]))
    m = folder.manifest
    counts = m.get("counts", {})
    return Section(_("Sunlight hours (日照)"), [
        KeyFigures([
            KeyFigure(_("Standard (hours on the day)"), f"{m.get('threshold_hours', 0):g} h · "
                      f"{m.get('day', '')}"),
            KeyFigure(_("Buildings failing before"), t.number(counts.get("failing_before", 0))),
            KeyFigure(_("Buildings failing after"), t.number(counts.get("failing_after", 0))),
            KeyFigure(_("Buildings the proposals make fail"), t.number(len(broken)),
                      "red" if len(broken) else "green")]),
        Table([_("Building"), _("Least hours before"), _("Least hours after"),
               _("Broken by")],
              [[str(x.building_id), _num(t, x.hours_before, 2), _num(t, x.hours_after, 2),
                str(x.broken_by)] for x in broken.head(LISTED).itertuples()])],
        new_page=False, kind="sunlight")


def _measure(t: Translator, value: Any) -> Cell | str:
    """A measured value or limit: a number formatted per locale, or a text (allowed uses)."""
    try:
        return _num(t, _f(value))
    except (TypeError, ValueError):
        return _text(value)


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)

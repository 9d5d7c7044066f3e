"""The land-use calibration report as data: cover, summary, accuracy beside the null models,
agreement and simulated maps, the metrics per class, the search's convergence with the fitted
parameters, the drivers of suitability and an appendix - in one language, A4, the look of the
comparison report.

:func:`calibration_report` turns a calibration folder read back with
:func:`scenarios.calibration.report.read_calibration` into a
:class:`~scenarios.reporting.model.Report`; :func:`write_calibration_reports` writes it in
every language (``twin calibrate --lang en,zh_CN --pdf``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from scenarios.calibration.report import (AGREEMENT_COLOURS, CATEGORY_WORDS, CLASS_COLUMNS,
                                          METHOD_WORDS, METRIC_ROWS, MODEL_WORDS,
                                          PARAMETER_WORDS, PERIOD_WORDS)
from scenarios.i18n import Translator, translator
from scenarios.reporting import figures
from scenarios.reporting.model import (Bullets, Code, KeyFigure, KeyFigures, Paragraph, Report,
                                       Section, Table, build_report)

if TYPE_CHECKING:
    from scenarios.calibration.report import CalibrationFolder

#: The model and its null models in the charts (the dashboard's colours, viz.accuracy).
MODEL_COLOURS = {"model": "#1565c0", "null_no_change": "#90a4ae", "null_random": "#ffb300"}
#: Class colours of the simulated maps and the drivers chart (calibration classes are codes).
CLASS_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")
#: The comparison chart: metrics where higher is better, then where lower is.
HIGHER = ("figure_of_merit", "kappa_simulation")
LOWER = ("quantity_disagreement", "allocation_disagreement")


def fmt(t: Translator, value: Any, kind: str) -> str:
    """A metric as the tables show it: counts with separators, ratios with 4 decimals.

    >>> t = translator("en")
    >>> fmt(t, 1234, "count"), fmt(t, 0.03420737, "ratio"), fmt(t, None, "ratio")
    ('1,234', '0.0342', 'n/a')
    """
    if value is None:
        return t.gettext("n/a")
    return t.number(int(value)) if kind == "count" else t.number(float(value), 4)


def class_word(t: Translator, code: Any) -> str:
    return t.gettext("class {code}", code=code)


def calibration_report(folder: CalibrationFolder, lang: str = "en") -> Report:
    """The calibration report of ``folder`` in ``lang`` (see the module doc)."""
    t = translator(lang)
    _ = t.gettext
    sections = [summary_section(folder, t)]
    for period in folder.periods:
        sections.append(period_section(folder, t, period))
    sections += [search_section(folder, t), drivers_section(folder, t),
                 appendix_section(folder, t)]
    years = _all_years(folder)
    created = _dt.date.today()
    m = folder.metrics
    cover = [
        _("Maps of {years}; classes {classes}", years=", ".join(map(str, years)),
          classes=", ".join(map(str, folder.codes))),
        _("Grid of {rows} × {cols} cells of {size} m; {cells} cells in the study area",
          rows=t.number(m["grid"]["shape"][0]), cols=t.number(m["grid"]["shape"][1]),
          size=f"{abs(m['grid']['transform'][0]):g}",
          cells=t.number(m.get("study_area_cells", 0))),
        _("Suitability by {method}; {n} simulations in the search", method=_method(t, folder),
          n=t.number(m.get("calibration", {}).get("simulations", 0))),
        _("Prepared {date} with Territory Twin", date=t.date(created, "long")),
    ]
    return build_report(_("Land-use calibration report"), sections, lang,
                        subtitle=_("{folder}: {years}", folder=folder.path.name,
                                   years="–".join(map(str, years))),
                        cover_lines=cover,
                        footer=_("Territory Twin – land-use calibration – {date}",
                                 date=t.date(created)))


def _all_years(folder: CalibrationFolder) -> list[int]:
    years: list[int] = []
    for period in folder.periods:
        years += [y for y in folder.years(period) if y not in years]
    return years


def _method(t: Translator, folder: CalibrationFolder) -> str:
    method = folder.metrics["suitability"]["method"]
    return t.gettext(METHOD_WORDS[method]) if method in METHOD_WORDS else method


def summary_section(folder: CalibrationFolder, t: Translator) -> Section:
    """What was fitted on what, and how well against the two null models, per period."""
    _ = t.gettext
    m = folder.metrics
    blocks: list[Any] = [Paragraph(_(
        "The land-use model was fitted on the first pair of maps and, where a third map was "
        "given, checked on the next pair, simulated with the observed end-year class areas "
        "as demand. Its accuracy is judged against two null models: no change at all, and "
        "the right quantities placed at random. A model worth using beats both on the Figure "
        "of Merit (the share of change simulated in the right place)."))]
    for period in folder.periods:
        a, b = folder.years(period)
        model = folder.overall(period)["figure_of_merit"]
        nulls = {name: folder.overall(period, name)["figure_of_merit"]
                 for name in ("null_no_change", "null_random")}
        beats = model is not None and all(v is None or model > v for v in nulls.values())
        blocks.append(KeyFigures([
            KeyFigure(_("{period} {first}–{last}: Figure of Merit", period=_(
                PERIOD_WORDS[period]), first=a, last=b), fmt(t, model, "ratio"),
                "green" if beats else "red",
                _("no change {none}; random allocation {random}",
                  none=fmt(t, nulls["null_no_change"], "ratio"),
                  random=fmt(t, nulls["null_random"], "ratio")))]))
    search = m.get("calibration", {})
    blocks.append(Paragraph(_(
        "{cells} cells in the study area, {free} of them free to change. Suitability by "
        "{method}; the search ran {n} simulations in {seconds} s (best calibration Figure of "
        "Merit {best}).", cells=t.number(m.get("study_area_cells", 0)),
        free=t.number(m.get("eligible_cells", 0)), method=_method(t, folder),
        n=t.number(search.get("simulations", 0)), seconds=t.number(search.get("seconds", 0), 1),
        best=fmt(t, search.get("figure_of_merit"), "ratio"))))
    if m.get("notes"):
        blocks += [Paragraph(_("Notes of the calibration:")),
                   Bullets.of([str(note) for note in m["notes"]])]
    return Section(_("Summary"), blocks, kind="summary")


def period_section(folder: CalibrationFolder, t: Translator, period: str) -> Section:
    """One period: the model beside the null models (chart and every metric), the agreement
    and simulated maps, the metrics per class."""
    _ = t.gettext
    a, b = folder.years(period)
    overall = {name: folder.overall(period, name) for name in MODEL_WORDS}
    keys = HIGHER + LOWER
    words = {"figure_of_merit": _("Figure of Merit"), "kappa_simulation": _("Kappa simulation"),
             "quantity_disagreement": _("Quantity disagreement"),
             "allocation_disagreement": _("Allocation disagreement")}
    chart = figures.bar_chart(
        [words[k] for k in keys],
        {_(MODEL_WORDS[name]): ([overall[name].get(k) for k in keys], MODEL_COLOURS[name])
         for name in MODEL_WORDS},
        _("The calibrated model beside the two null models, {first}–{last}", first=a, last=b),
        panels=[(_("Higher is better"), [0, 1]), (_("Lower is better"), [2, 3])])
    metrics = Table([_("Metric"), *[_(w) for w in MODEL_WORDS.values()]],
                    [[_(label), *[_cell(t, overall[name].get(key), kind)
                                  for name in MODEL_WORDS]]
                     for key, label, kind in METRIC_ROWS],
                    title=_("Every metric, model and null models"))
    agreement = folder.map(period, "agreement")
    categories = [(code, _(CATEGORY_WORDS[code]), AGREEMENT_COLOURS[code]) for code in
                  (1, 2, 3, 4, 0)]
    counts = {code: int((agreement == code).sum()) for code in range(5)}
    colours = {c: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, c in enumerate(folder.codes)}
    maps = [
        figures.category_map(agreement, categories, f"{a}–{b}", caption=_(
            "Simulated against observed change: {hits} hits, {misses} misses, {wrong} wrong "
            "hits, {false} false alarms", hits=t.number(counts[1]), misses=t.number(counts[2]),
            wrong=t.number(counts[3]), false=t.number(counts[4]))),
        figures.category_map(folder.map(period, "simulated"),
                             [(c, class_word(t, c), colours[c]) for c in folder.codes],
                             str(b), caption=_("Simulated land use {year}", year=b)),
    ]
    return Section(_("{period} {first}–{last}", period=_(PERIOD_WORDS[period]), first=a,
                     last=b), [chart, metrics, *maps, class_table(folder, t, period)],
                   kind=period)


def _cell(t: Translator, value: Any, kind: str):
    from scenarios.reporting.model import Cell

    return Cell(fmt(t, value, kind), numeric=True)


def class_table(folder: CalibrationFolder, t: Translator, period: str) -> Table:
    """The model per class (the class against the rest), the random null's FoM and the
    suitability's held-out AUC."""
    _ = t.gettext
    model, random = folder.per_class(period), folder.per_class(period, "null_random")
    auc = folder.metrics["suitability"].get("auc", {})
    rows = [[class_word(t, code), *[_cell(t, row.get(key), kind)
                                    for key, _label, kind in CLASS_COLUMNS],
             _cell(t, random.get(code, {}).get("figure_of_merit"), "ratio"),
             _cell(t, auc.get(code), "ratio")] for code, row in model.items()]
    return Table([_("Class"), *[_(label) for _key, label, _kind in CLASS_COLUMNS],
                  _("FoM random"), _("suitability AUC")], rows, title=_("Per class"),
                 note=_("Each class against the rest: hits are cells that became the class as "
                        "observed, false alarms cells simulated to become it that did not; the "
                        "AUC is the suitability model's on held-out cells."))


def search_section(folder: CalibrationFolder, t: Translator) -> Section:
    """The calibration search's convergence and the parameters it fitted."""
    _ = t.gettext
    history = folder.convergence
    blocks: list[Any] = []
    if len(history):
        blocks.append(figures.convergence_chart(
            history["evaluation"].tolist(), history["figure_of_merit"].tolist(),
            history["best"].tolist(), (_("simulation"), _("best so far"), _("simulation"),
                                       _("Figure of Merit")),
            _("Differential evolution maximising the calibration period's Figure of Merit; "
              "each dot is one simulation.")))
    ca = folder.parameters.get("ca", {})
    blocks.append(Table([_("Parameter"), _("Value")],
                        [[_(PARAMETER_WORDS[k]) if k in PARAMETER_WORDS else k,
                          _value(t, v)] for k, v in ca.items()],
                        title=_("Fitted parameters")))
    return Section(_("Calibration search"), blocks, kind="search")


def _value(t: Translator, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(t, v) for v in value)
    if isinstance(value, float):
        return t.number(value, 3 if abs(value) < 10 else 1)
    return str(value)


def drivers_section(folder: CalibrationFolder, t: Translator) -> Section:
    """Each driver's share of each class's suitability (permutation importance), with the
    held-out AUC of each class's model."""
    _ = t.gettext
    table = folder.contributions
    auc = folder.metrics["suitability"].get("auc", {})
    drivers = list(dict.fromkeys(table["driver"]))
    series = {}
    for i, (code, rows) in enumerate(table.groupby("class", sort=True)):
        shares = rows.set_index("driver")["permutation_share"].reindex(drivers)
        name = class_word(t, code)
        if auc.get(str(code)) is not None:
            name += f" (AUC {t.number(auc[str(code)], 2)})"
        series[name] = ([None if v != v else float(v) for v in shares],
                        CLASS_PALETTE[i % len(CLASS_PALETTE)])
    blocks: list[Any] = [
        Paragraph(_("Drivers: {names}", names=", ".join(_driver_names(folder, t)))),
        figures.bar_chart(drivers, series, _("Each driver's share of the class's suitability "
                                             "(permutation importance)"),
                          horizontal=True, percent=True,
                          value_label=_("share of the class's suitability (permutation "
                                        "importance)"))]
    return Section(_("Drivers of suitability"), blocks, kind="drivers")


def _driver_names(folder: CalibrationFolder, t: Translator) -> list[str]:
    """Each driver with its raster's file name (never a server path), or "derived"."""
    drivers = folder.parameters.get("suitability", {}).get("drivers", [])
    return [d["name"] + (f" ({Path(d['path']).name})" if d.get("path") else
                         " (" + t.gettext("derived") + ")") for d in drivers]


def appendix_section(folder: CalibrationFolder, t: Translator) -> Section:
    """The conversion rule, the suitability model's file and hash, the search settings."""
    _ = t.gettext
    p = folder.parameters
    suitability = {k: v for k, v in p.get("suitability", {}).items() if k != "drivers"}
    calibration = {k: v for k, v in p.get("calibration", {}).items() if k != "maps"}
    calibration["maps"] = {year: Path(path).name
                           for year, path in p.get("calibration", {}).get("maps", {}).items()}
    text = yaml.safe_dump({"classes": p.get("classes"), "suitability": suitability,
                           "calibration": calibration, "conversion": p.get("conversion")},
                          sort_keys=False, allow_unicode=True, width=60,
                          default_flow_style=None)
    return Section(_("Appendix: parameters, seeds, versions and hashes"),
                   [Code(text, title=_("From parameters.yaml (the input of twin simulate "
                                       "--params)"))], kind="appendix")


def write_calibration_reports(folder: CalibrationFolder, out: str | Path,
                              langs: Sequence[str], *, pdf: bool = False) -> list[str]:
    """The report in each of ``langs`` into ``out``: ``report.html`` (first language),
    ``report.<lang>.html`` (others), each with its PDF when ``pdf``; the files written."""
    from scenarios.monitoring.reports import write_reports

    return write_reports(lambda lang: calibration_report(folder, lang), Path(out), langs,
                         pdf=pdf)

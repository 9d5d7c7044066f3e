"""Reports: the comparison report as an object, as HTML and as printed A4 pages, in English and
Chinese; the machinery's doc examples; every indicator name has its Chinese words."""

from __future__ import annotations

import doctest
import importlib
import re
import shutil

import numpy as np
import pytest

from scenarios.compare import compare, compare_runs
from scenarios.i18n import catalogue
from scenarios.indicators import load_registry
from scenarios.reporting import (Cell, Figure, Paragraph, Section, Table, build_report,
                                 render_html)
from scenarios.reporting.comparison import city_stills, comparison_report
from scenarios.reporting.figures import (CONTROL_STYLES, FLOODED_BUILDING, GAINED,
                                         land_use_map)
from scenarios.rundir import RunDirectory, write_run
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario

SCENARIOS = ("baseline", "high-growth", "storm-surge")
#: A4 at the resolution the pages are checked at (pdftoppm rounds up): 210 x 297 mm.
DPI = 40
A4_PX = (int(np.ceil(297 / 25.4 * DPI)), int(np.ceil(210 / 25.4 * DPI)))
#: The page margins of the report's CSS (15 mm at the sides, 16 mm top and bottom), in pixels,
#: less one pixel of rounding.
SIDE, TOP = 15 / 25.4 * DPI - 1, 16 / 25.4 * DPI - 1


@pytest.fixture(scope="module")
def run_dirs(sample_territory, tmp_path_factory):
    """Three short runs of the sample, written with the TIM they came from (its control lines,
    units and buildings are drawn in the report)."""
    from tim.store import save_territory

    root = tmp_path_factory.mktemp("report-runs")
    tim = save_territory(sample_territory, root / "tim")
    dirs = []
    for name in SCENARIOS:
        scenario = load_scenario(name).model_copy(update={"years": 4})
        if scenario.surge is not None:
            scenario = scenario.model_copy(update={"surge": scenario.surge.model_copy(
                update={"year": scenario.start_year + 4})})
        dirs.append(write_run(run_scenario(sample_territory, scenario, seed=5), root / name,
                              tim=tim))
    return dirs


@pytest.fixture(scope="module")
def comparison(run_dirs):
    return compare([RunDirectory.open(d) for d in run_dirs])


@pytest.fixture(scope="module")
def territory(run_dirs):
    from scenarios.compare import _territory

    return _territory(RunDirectory.open(run_dirs[0]))


@pytest.fixture(scope="module")
def reports(comparison, territory):
    return {lang: comparison_report(comparison, lang, territory=territory)
            for lang in ("en", "zh_CN")}


@pytest.mark.parametrize("module", ["scenarios.reporting.model", "scenarios.reporting.html",
                                    "scenarios.reporting.figures",
                                    "scenarios.reporting.comparison", "scenarios.indicators"])
def test_doc_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_every_indicator_name_and_unit_has_chinese_words():
    zh = catalogue("zh_CN")
    missing = {d.name for d in load_registry().values() if d.name not in zh}
    missing |= {d.unit for d in load_registry().values() if d.unit != "1" and d.unit not in zh}
    assert not missing


def test_a_table_refuses_ragged_rows():
    with pytest.raises(ValueError, match="do not have 2 cells"):
        Table(["a", "b"], [["1", "2"], ["3"]])


# -- the object -------------------------------------------------------------------------------
def test_the_report_has_every_part_in_order(reports, comparison):
    report = reports["en"]
    assert [s.kind for s in report.sections] == [
        "summary", "maps", "flood", "indicators", "warnings", "charts", "appendix"]
    maps = report.section("maps").blocks
    land_use = [b for b in maps if isinstance(b, Figure) and b.caption.startswith("Land use")]
    built = [b for b in maps if isinstance(b, Figure) and b.caption.startswith("Built-up")]
    assert len(land_use) == len(SCENARIOS) and len(built) == len(SCENARIOS) - 1
    # Each land-use map lists the class colours it shows, built-up land among them.
    built_colour = comparison.baseline.classes.built.colour
    assert all(built_colour in f.colours for f in land_use)
    # A surge ran in one scenario: its depth map (no difference map: it is the only one).
    flood = report.section("flood").blocks
    assert len(flood) == 1 and "storm-surge" in flood[0].caption
    assert comparison.flood_reference == "storm-surge" and comparison.flood_maps == {}


def test_the_summary_says_what_differs_with_units_and_limits(reports, comparison):
    summary = reports["en"].section("summary")
    text = " ".join(getattr(b, "text", "") for b in summary.blocks) + " ".join(
        t for b in summary.blocks for t, _ in getattr(b, "items", ()) if isinstance(t, str))
    assert "high-growth" in text and "Built-up area +" in text and " ha" in text
    table = next(b for b in summary.blocks if isinstance(b, Table))
    rows = {row[0].text: row for row in table.rows}
    population = rows["Population"]
    base = comparison.baseline.indicators
    last = base[base["year"] == base["year"].max()].set_index("indicator").loc["population"]
    # Formatted per locale (thousands separated, no decimals) with its unit, status and target.
    assert population[2].text == f"{last['value']:,.0f} persons"
    assert population[2].status == last["status"]
    assert population[1].text == f"≤ {last['target']:,.0f} persons (plan target)"


def test_warnings_say_which_limit_in_words(reports, comparison):
    listed = [t for b in reports["en"].section("warnings").blocks
              for t, _ in getattr(b, "items", ())]
    assert any(re.search(r"above the plan target [\d,]+ persons \(beyond limit\)", t)
               for t in listed)
    zh = [t for b in reports["zh_CN"].section("warnings").blocks
          for t, _ in getattr(b, "items", ())]
    assert any("超过规划目标" in t and "超限" in t for t in zh)


def test_the_chinese_report_uses_the_national_terms(reports):
    zh = reports["zh_CN"]
    assert zh.title == "情景比较报告" and zh.section("summary").title == "摘要"
    html = render_html(zh)
    for term in ("建设用地面积", "常住人口", "规划目标", "人均建设用地", "附录"):
        assert term in html


# -- the HTML -----------------------------------------------------------------------------------
def test_html_is_one_offline_a4_page_with_formatted_numbers(reports):
    html = render_html(reports["en"])
    assert "@page { size: A4" in html and '<html lang="en">' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    text = re.sub(r"<[^>]+>|data:image/png;base64,[^\"]+", " ", html.split("</style>")[1])
    body = text.split("Appendix")[0]
    # No raw float left in the body ("11721.1 persons"): numbers have at most 2 decimals.
    assert not re.search(r"\d\.\d{3,}", body)
    assert re.search(r"\d{1,3},\d{3} persons", body)


def test_html_escapes_text_and_embeds_figures():
    figure = Figure(b"\x89PNG fake", "map <1>", "map")
    html = render_html(build_report("T", [Section("S", [Paragraph("<b>x</b>"), figure,
                                                       Table(["a"], [[Cell("1")]])])], "en"))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "map &lt;1&gt;" in html
    assert html.count("data:image/png;base64,") == 1


# -- the printed pages --------------------------------------------------------------------------
def close_to(page: np.ndarray, colour: str, tolerance: int = 18) -> int:
    """Pixels of ``page`` within ``tolerance`` (per channel) of ``colour``."""
    rgb = np.array([int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
    return int((np.abs(page.astype(int) - rgb) <= tolerance).all(axis=2).sum())


@pytest.fixture(scope="module")
def printed(run_dirs, tmp_path_factory):
    if shutil.which("chromium") is None or shutil.which("pdftoppm") is None:
        pytest.skip("printing needs Chromium and poppler-utils (bootstrap.py installs them)")
    out = tmp_path_factory.mktemp("printed") / "report"
    compare_runs(run_dirs, out, pdf=True, langs=["en", "zh_CN"])
    return out


@pytest.mark.parametrize("name", ["report", "report.zh_CN"])
def test_no_printed_page_is_blank_or_clipped(printed, name):
    assert_pages_fit(printed / f"{name}.pdf", at_least=6)


def assert_pages_fit(pdf, at_least: int) -> None:
    """Every page of ``pdf`` is A4, has content, and keeps it inside the margins."""
    from scenarios.reporting.pdf import content_box, pdf_pages

    pages = pdf_pages(pdf, dpi=DPI)
    assert len(pages) >= at_least
    for number, page in enumerate(pages, 1):
        assert page.shape[:2] == A4_PX, f"page {number} is not A4"
        box = content_box(page)
        assert box is not None, f"page {number} is blank"
        top, left, bottom, right = box
        assert left >= SIDE and right <= page.shape[1] - SIDE, \
            f"page {number}: content {left}..{right} px reaches into the side margins"
        assert top >= TOP and bottom <= page.shape[0] - TOP, \
            f"page {number}: content {top}..{bottom} px reaches into the top/bottom margins"


def test_map_pages_show_the_map_colours(printed, comparison):
    from scenarios.reporting.pdf import pdf_pages, pdf_text

    pages = pdf_pages(printed / "report.pdf", dpi=60)
    texts = pdf_text(printed / "report.pdf")
    classes = {c.name: c.colour for c in comparison.baseline.classes}
    maps = [i for i, t in enumerate(texts) if "Land use of" in t]
    assert maps, "no land-use map page"
    page = pages[maps[0]]
    for name in ("Cropland 耕地", "Forest 林地", "Built-up 建设用地 (07-16)"):
        assert close_to(page, classes[name]) > 200, f"{name} not drawn"
    red_line = CONTROL_STYLES["control__ecological_red_line"][0]
    assert close_to(page, red_line, 30) > 20, "the ecological red line is not drawn"
    built = [i for i, t in enumerate(texts) if "Built-up land, high-growth" in t]
    assert close_to(pages[built[0]], GAINED) > 10, "no gained built-up land on the map"
    flood = [i for i, t in enumerate(texts) if "Largest flood depth" in t]
    assert close_to(pages[flood[0]], FLOODED_BUILDING, 30) > 5, "no flooded building drawn"
    stills = [i for i, t in enumerate(texts) if "Perspective views" in t]
    assert stills and close_to(pages[stills[0]], classes["Forest 林地"], 30) > 200, \
        "no 3D still drawn"


def test_the_chinese_pdf_text_is_extractable(printed):
    from scenarios.reporting.pdf import pdf_text

    text = "".join(pdf_text(printed / "report.zh_CN.pdf"))
    for term in ("情景比较报告", "摘要", "建设用地面积", "规划目标", "附录"):
        assert term in text
    assert "Scenario comparison report" in "".join(pdf_text(printed / "report.pdf"))


def orange(image: np.ndarray) -> int:
    """Pixels of the new buildings' orange under any lighting (red high, blue nil, green about
    half the red) - neither cropland yellow (green ~0.86 red) nor built-up red (~0.3)."""
    r, g, b = (image[..., i].astype(float) for i in range(3))
    return int(((r > 100) & (b < 40) & (g > 0.4 * r) & (g < 0.7 * r)).sum())


def test_stills_colour_new_and_flooded_buildings(run_dirs, territory):
    from io import BytesIO

    from PIL import Image

    runs = [RunDirectory.open(d) for d in run_dirs]
    assert len(runs[1].new_buildings()) > 0 and runs[0].new_buildings() is None
    stills = city_stills(runs, territory)
    assert set(stills) == set(SCENARIOS)
    image = {name: np.asarray(Image.open(BytesIO(png)).convert("RGB"))
             for name, png in stills.items()}
    # high-growth's developers built: orange buildings the baseline does not have.
    assert orange(image["high-growth"]) > orange(image["baseline"]) + 100
    # The surge run draws the sea neutral grey, so the flood ramp never sits on a blue sea.
    def blue(picture):
        r, b = picture[..., 0].astype(int), picture[..., 2].astype(int)
        return int((b > r + 50).sum())

    assert blue(image["baseline"]) > 20_000 and blue(image["storm-surge"]) < blue(
        image["baseline"]) / 10


def test_land_use_map_lists_only_the_classes_it_shows():
    lu = np.array([[1, 1], [7, 7]], dtype=np.uint8)
    figure = land_use_map(lu, [(1, "a", "#f2d16b"), (3, "b", "#2e7d32"), (7, "c", "#d64541")],
                          "t")
    assert figure.kind == "map" and figure.colours == ("#f2d16b", "#d64541")
    assert figure.png.startswith(b"\x89PNG")


def test_without_the_territory_the_report_says_so(comparison):
    """A run folder whose TIM is gone: maps without control lines and units, said in words,
    no 3D section - never a traceback."""
    report = comparison_report(comparison, "zh_CN", territory=None)
    first = report.section("maps").blocks[0]
    assert isinstance(first, Paragraph) and "未找到国土空间数据目录" in first.text
    assert report.section("stills") is None and len(report.figures("map")) >= 3


def test_a_language_not_available_is_refused_before_anything_is_written(run_dirs, tmp_path):
    from tim.errors import InputError

    with pytest.raises(InputError, match="language not available"):
        compare_runs(run_dirs, tmp_path / "report", langs=["fr"])
    assert not (tmp_path / "report").exists()


def test_damage_is_in_the_report_currency_as_the_dashboard_shows_it(reports, comparison):
    """Flood damage (M EUR at 2010 prices in indicators.csv) reads in yuan in the Chinese
    report and in euros in the English one, converted by the dashboard's one conversion."""
    from scenarios.i18n import damage_money, translator
    from viz.i18n import unit_text, value_text

    surge = next(r for r in comparison.runs if r.surge is not None)
    table = surge.indicators
    damage = float(table[(table["year"] == table["year"].max())
                         & (table["indicator"] == "flood_damage")]["value"].iloc[0])
    assert damage > 0, "the sample's surge damages buildings"
    rate = damage_money("zh_CN").per_eur
    assert rate == pytest.approx(8.9712)
    for lang, factor, currency in (("en", 1.0, "EUR"), ("zh_CN", rate, "CNY")):
        summary = reports[lang].section("summary")
        key_numbers = next(b for b in summary.blocks if isinstance(b, Table))
        column = key_numbers.columns.index(surge.name)
        t = translator(lang)
        row = next(r for r in key_numbers.rows if r[0].text == t.gettext("Flood damage to buildings"))
        shown = row[column].text
        assert currency in shown and "2010" in shown, shown
        digits = re.sub(r"[^\d.]", "", shown.split(currency)[0].replace(",", ""))
        assert float(digits) == pytest.approx(damage * factor, abs=0.051)
        # the dashboard's number and unit for the same value
        assert t.number(damage * factor, 1) in shown and unit_text("M EUR (2010)", t) in shown
        assert value_text(damage, "M EUR (2010)", t) == t.number(damage * factor, 1)


def test_an_ensemble_adds_its_p10_p90_band_and_median_to_the_charts(run_dirs, comparison,
                                                                     sample_territory, tmp_path):
    """The baseline's scenario with a second seed: an ensemble of two, aggregated as
    ``twin ensemble`` does, shaded on the charts in the baseline's colour."""
    import io

    from PIL import Image

    from scenarios.ensemble import EnsembleSummary, indicator_intervals

    base = comparison.baseline
    scenario = load_scenario("baseline").model_copy(update={"years": 4})
    other = RunDirectory.open(write_run(run_scenario(sample_territory, scenario, seed=6),
                                        tmp_path / "seed-6"))
    intervals = indicator_intervals([base, other])
    ensemble = EnsembleSummary(tmp_path, {"seeds": [5, 6], "scenario": base.manifest["scenario"],
                                          "scenario_sha256": base.manifest["scenario_sha256"]},
                               intervals)
    assert ensemble.of(base.manifest) and not ensemble.of(comparison.runs[1].manifest)
    from scenarios.i18n import translator
    from scenarios.reporting.comparison import Context, charts_section

    def charts(ensembles):
        return charts_section(Context(comparison, None, translator("zh_CN"), load_registry(),
                                      ensembles=ensembles))

    with_band, without = charts([ensemble]), charts([])
    assert "P10–P90" in with_band.blocks[1].text and "baseline" in with_band.blocks[1].text
    assert len(without.blocks) == 1 and with_band.blocks[0].png != without.blocks[0].png


def test_the_chart_shades_a_band_around_its_median():
    import io

    from PIL import Image

    from scenarios.reporting.figures import timeline_chart

    years = [2025, 2026, 2027, 2028]
    panels = [("Population", {"a": (years, [10, 12, 14, 16])})]
    band = [{"a": (years, [8, 9, 10, 11], [10, 12, 14, 16], [12, 15, 18, 21])}]

    def shaded(figure) -> int:  # the first series' blue (#1f77b4) at 22 % on white
        return close_to(np.asarray(Image.open(io.BytesIO(figure.png)).convert("RGB")),
                        "#cde1ee", 8)

    assert shaded(timeline_chart(panels, "c", bands=band)) > 10_000
    assert shaded(timeline_chart(panels, "c")) < 1_000  # the line's anti-aliased edges


# -- the land-use calibration report ------------------------------------------------------------
@pytest.fixture(scope="module")
def calibration_folder(demo_output):
    from scenarios.calibration.report import read_calibration

    folder = demo_output / "calibration" / "plum-island"
    if not (folder / "metrics.json").is_file():
        pytest.skip("the demo calibrates only when $TWIN_DATA has the Plum Island maps")
    return read_calibration(folder)


def test_the_calibration_report_holds_the_metrics_maps_search_and_drivers(calibration_folder):
    import json

    from scenarios.calibration.report import AGREEMENT_COLOURS, METRIC_ROWS
    from scenarios.reporting.calibration import calibration_report

    metrics = json.loads((calibration_folder.path / "metrics.json").read_text())
    en, zh = (calibration_report(calibration_folder, lang) for lang in ("en", "zh_CN"))
    periods = list(metrics["periods"])
    assert [s.kind for s in en.sections] == ["summary", *periods, "search", "drivers",
                                             "appendix"]
    for period in periods:
        table = next(b for b in en.section(period).blocks if isinstance(b, Table)
                     and b.title.startswith("Every metric"))
        rows = {row[0].text: row for row in table.rows}
        for key, label, kind in METRIC_ROWS:
            for column, model in enumerate(("model", "null_no_change", "null_random"), 1):
                value = metrics["periods"][period][model]["overall"].get(key)
                expected = "n/a" if value is None else (
                    f"{int(value):,}" if kind == "count" else f"{value:,.4f}")
                assert rows[label][column].text == expected, (period, key, model)
        agreement, simulated = [f for f in en.section(period).blocks
                                if isinstance(f, Figure) and f.kind == "map"]
        assert AGREEMENT_COLOURS[1] in agreement.colours  # hits are drawn
        assert f"{metrics['periods'][period]['model']['overall']['hits']:,} hits" in \
            agreement.caption
    assert zh.title == "土地利用模型校准报告" and zh.section("summary").title == "摘要"
    html = render_html(zh)
    for term in ("品质因数", "零模型", "命中", "漏报", "误报", "适宜性驱动因子", "拟合参数"):
        assert term in html, term
    # file names only: the page shows no server path
    assert str(calibration_folder.path.parent) not in html + render_html(en)


def test_the_printed_calibration_report_fits_a4_in_both_languages(calibration_folder,
                                                                 tmp_path):
    from scenarios.calibration.report import AGREEMENT_COLOURS
    from scenarios.reporting.calibration import write_calibration_reports
    from scenarios.reporting.pdf import pdf_pages, pdf_text

    if shutil.which("chromium") is None or shutil.which("pdftoppm") is None:
        pytest.skip("printing needs Chromium and poppler-utils (bootstrap.py installs them)")
    written = write_calibration_reports(calibration_folder, tmp_path, ["en", "zh_CN"], pdf=True)
    assert written == ["report.html", "report.pdf", "report.zh_CN.html", "report.zh_CN.pdf"]
    for name in ("report", "report.zh_CN"):
        assert_pages_fit(tmp_path / f"{name}.pdf", at_least=6)
    texts = pdf_text(tmp_path / "report.zh_CN.pdf")
    assert "土地利用模型校准报告" in "".join(texts)
    pages = pdf_pages(tmp_path / "report.pdf", dpi=60)
    maps = [i for i, t in enumerate(pdf_text(tmp_path / "report.pdf"))
            if "Simulated against observed change" in t]
    assert maps, "no agreement map page"
    for colour in AGREEMENT_COLOURS[1:3]:  # hits green, misses red
        assert close_to(pages[maps[0]], colour, 20) > 30, colour


def test_calibrate_refuses_a_language_before_the_search(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "viz.cli", "calibrate", "--map",
                             f"1985={tmp_path / 'a.tif'}", "--lang", "fr", "--out",
                             str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "language not available" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()

"""The dashboard in two languages, in-process: the page's language per request (address,
cookie, server default), the words of cards, thresholds and warnings, money and n/a.

The demo's files are the data (``TWIN_DEMO=DIR`` reuses a demo made beforehand); expected
values are read from its CSVs and the catalogue, independently of the dashboard.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scenarios.i18n import catalogue, translator
from scenarios.indicators import load_registry
from tim.classes import CONTROL_LINES, DEFAULT_CLASSES, NATIONAL_FIRST_LEVEL, localized
from viz import i18n
from viz.tabs import all_tabs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app(demo_output):
    from viz.app import create_app

    runs = demo_output / "runs"
    return create_app([runs / "baseline", runs / "storm-surge"], lang="zh_CN")


def _layout_text(client, query: str = "") -> str:
    if query:
        client.get("/" + query)
    return json.dumps(client.get("/_dash-layout").get_json(), ensure_ascii=False)


def test_every_registry_word_tab_and_status_is_in_chinese():
    zh = catalogue("zh_CN")
    for key, definition in load_registry().items():
        for field in ("name", "definition", "formula", "source"):
            text = getattr(definition, field)
            assert text, f"{key} has no {field} in scenarios/indicators.yaml"
            assert text in zh, f"{key}.{field} lacks Chinese: {text!r}"
    for tab in all_tabs():
        assert tab.label in zh
    for status, message in i18n.STATUS_IDS.items():
        assert message in zh, status
    for unit, message in i18n.UNIT_IDS.items():
        assert not message or message in zh, unit


def test_class_and_control_line_names_in_either_language():
    # The bilingual table's Chinese is the national classification's first level.
    assert localized(next(c for c in DEFAULT_CLASSES if c.code == 1).name, "zh_CN") == NATIONAL_FIRST_LEVEL[1][0]
    assert localized(next(c for c in DEFAULT_CLASSES if c.code == 1).name, "en") == NATIONAL_FIRST_LEVEL[1][1]
    built = DEFAULT_CLASSES.built.name
    assert localized(built, "zh_CN") == "建设用地 (07-16)"
    assert CONTROL_LINES["ecological_red_line"][0] == "生态保护红线"


def test_the_server_default_the_address_and_the_cookie_choose_the_language(app):
    fresh = app.server.test_client()
    page = _layout_text(fresh)
    assert "情景对比" in page and "全域" in page and "Compare scenarios" not in page
    # ?lang=en on the page sets the cookie the layout and callbacks then read
    english = app.server.test_client()
    answer = english.get("/?lang=en")
    assert f"{i18n.LANG_COOKIE}=en" in answer.headers.get("Set-Cookie", "")
    page = _layout_text(english)
    assert "Compare scenarios" in page and "情景对比" not in page
    # two users, two languages, one server: the first is still Chinese
    assert "情景对比" in _layout_text(fresh)
    # an unknown language sets nothing and the page says so in its own language
    unknown = app.server.test_client()
    assert "Set-Cookie" not in unknown.get("/?lang=fr").headers
    from viz.layout import language_notice

    with app.server.test_request_context("/"):
        (words,) = language_notice("?lang=fr")
    assert "fr" in words and "不支持" in words and "中文" in words
    with app.server.test_request_context("/"):
        assert language_notice("?lang=zh-CN") == [] and language_notice("") == []


def test_serve_refuses_an_unknown_language_in_one_line(demo_output):
    result = subprocess.run([sys.executable, "-m", "viz.cli", "serve",
                             str(demo_output / "runs" / "baseline"), "--lang", "fr"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 2
    assert "language not available" in result.stderr and "Traceback" not in result.stderr


def test_cards_show_threshold_status_words_and_help_in_chinese(app, demo_output):
    from viz.app import load_dashboard
    from viz.layout import indicator_card
    from viz.tabs.scenario import card_data

    board = load_dashboard([demo_output / "runs" / "baseline",
                            demo_output / "runs" / "storm-surge"])
    year = board.baseline.years[-1]
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        cards = {c.key: c for c in card_data(board, 0, year)}
        card = cards["construction_land_per_capita"]
        assert card.name == "人均建设用地" and card.threshold == "65–115平方米/人"
        html = json.dumps(indicator_card(card).to_plotly_json(), default=str,
                          ensure_ascii=False)
        assert "阈值 65–115平方米/人" in html and "计算公式" in html and "数据来源" in html
        farmland = cards["farmland_lost"]
        assert farmland.threshold == "≤ 10公顷"
    # the territory's population is judged by the rule of the districts: the city row of
    # the roll-up (plan target), not "for information"
    areas = pd.read_csv(demo_output / "runs" / "baseline" / "indicators_areas.csv")
    city = areas[(areas["level"] == "city") & (areas["year"] == year)].set_index("indicator")
    with app.server.test_request_context("/"):
        cards = {c.key: c for c in card_data(board, 0, year)}
    assert cards["population"].status == city.loc["population", "status"]
    assert cards["population"].target == pytest.approx(city.loc["population", "target"])


def test_a_missing_value_reads_n_a_never_zero_and_money_in_yuan():
    zh, en = translator("zh_CN"), translator("en")
    assert i18n.value_text(float("nan"), "m2/person", zh) == "无数据"
    assert i18n.value_text(None, "ha", en) == "n/a"
    assert i18n.delta_text(float("nan"), "ha", en) == "n/a"
    # damage in millions of EUR (2010) shows in yuan at the documented 2010 rate
    money = i18n.damage_money("zh_CN")
    assert money.currency == "CNY" and money.price_year == 2010
    assert i18n.value_text(10.0, "M EUR (2010)", zh) == zh.number(10.0 * money.per_eur, 1)
    assert "CNY" in i18n.unit_text("M EUR (2010)", zh) and "2010" in i18n.unit_text(
        "M EUR (2010)", zh)
    assert i18n.value_text(10.0, "M EUR (2010)", en) == "10.0"


def test_the_exchange_rate_is_a_setting(monkeypatch):
    monkeypatch.setenv("TWIN_CNY_PER_EUR_2010", "10")
    assert i18n.damage_money("zh_CN").per_eur == 10.0
    monkeypatch.setenv("TWIN_CNY_PER_EUR_2010", "ten")
    from tim.errors import InputError

    with pytest.raises(InputError, match="TWIN_CNY_PER_EUR_2010"):
        i18n.damage_money("zh_CN")


def test_an_indicator_without_chinese_words_says_so():
    definition = SimpleNamespace(name="Tree cover", definition="Share of trees.", formula="",
                                 source="")
    words = i18n.indicator_words(definition, "trees", translator("zh_CN"))
    assert words["name"] == "Tree cover" and words["missing"]
    assert not i18n.indicator_words(load_registry()["population"], "population",
                                    translator("zh_CN"))["missing"]


def test_warnings_say_value_and_limit_in_the_page_language(app, demo_output):
    from viz.app import load_dashboard
    from viz.tabs.scenario import warning_message, warning_rows

    board = load_dashboard([demo_output / "runs" / "baseline",
                            demo_output / "runs" / "storm-surge"])
    surge_year = board.runs[1].surge_year
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        rows = warning_rows(board, 1, surge_year)
        texts = [warning_message(r) for r in rows.itertuples()]
    table = pd.read_csv(demo_output / "runs" / "storm-surge" / "indicators.csv")
    flooded = table[(table["year"] == surge_year)
                    & (table["indicator"] == "flooded_buildings")]["value"].iloc[0]
    line = next(t for t in texts if t.startswith("受淹建筑"))
    # the card's number (indicators.csv) and the warning's agree; the limit is named
    assert f"{flooded:,.0f}" in line and "阈值 ≤ 0" in line
    assert not any(math.isnan(v) for v in rows["value"].dropna())


def test_downloads_serve_the_shown_runs_files_only(app, demo_output, tmp_path):
    import io

    from openpyxl import load_workbook

    client = app.server.test_client()
    surge = demo_output / "runs" / "storm-surge"
    answer = client.get("/twin/download/1/indicators.csv")
    assert answer.status_code == 200 and answer.data == (surge / "indicators.csv").read_bytes()
    assert "storm-surge-indicators.csv" in answer.headers["Content-Disposition"]
    answer = client.get("/twin/download/1/water_depth.tif")
    assert answer.data == (surge / "surge" / "water_depth.tif").read_bytes()
    year = pd.read_csv(surge / "indicators.csv")["year"].max()
    answer = client.get(f"/twin/download/0/land_use_{year}.tif")
    assert answer.data == (demo_output / "runs" / "baseline" / "land_use" /
                           f"{year}.tif").read_bytes()
    # the workbook holds the CSVs' rows
    book = load_workbook(io.BytesIO(client.get("/twin/download/1/indicators.xlsx").data))
    table = pd.read_csv(surge / "indicators.csv")
    assert book.sheetnames[:2] == ["indicators", "areas"]
    assert book["indicators"].max_row == len(table) + 1
    # nothing else: unknown keys, other runs, paths that leave the run, folders
    for bad in ("/twin/download/0/manifest.json", "/twin/download/9/indicators.csv",
                "/twin/download/0/land_use", "/twin/download/0/..",
                "/twin/download/0/water_depth.tif"):  # the baseline has no surge
        assert client.get(bad).status_code == 404, bad
    # a key with slashes is no download at all (Dash's page answers it, not a file)
    answer = client.get("/twin/download/0/..%2F..%2Fetc%2Fpasswd")
    assert "Content-Disposition" not in answer.headers and b"root:" not in answer.data


def test_safe_file_refuses_escapes_links_and_folders(tmp_path):
    from viz.downloads import safe_file

    root = tmp_path / "run"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x\n1\n")
    (tmp_path / "secret.txt").write_text("no")
    (root / "link.csv").symlink_to(tmp_path / "secret.txt")
    assert safe_file(root, "a.csv") == (root / "a.csv").resolve()
    assert safe_file(root, "../secret.txt") is None
    assert safe_file(root, "link.csv") is None  # resolves outside the run
    assert safe_file(root, "sub") is None and safe_file(root, "missing.csv") is None


def test_download_links_say_what_a_run_lacks(app, demo_output):
    from viz.app import load_dashboard
    from viz.downloads import links

    board = load_dashboard([demo_output / "runs" / "baseline"])
    year = board.baseline.years[-1]
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        page = json.dumps([c.to_plotly_json() for c in links(board, 0, year)], default=str,
                          ensure_ascii=False)
    assert "本次运行无风暴潮" in page and "water_depth.tif" not in page
    assert f"land_use_{year}.tif" in page and "/tmp" not in page


def test_no_server_path_on_any_tab(demo_output):
    """Every tab's panel, in both languages, names folders by their name only."""
    from test_dashboard import _folders

    from viz.app import create_app

    app = create_app(_folders(demo_output), demo_output / "tiles")
    for lang in ("en", "zh_CN"):
        client = app.server.test_client()
        client.get(f"/?lang={lang}")
        page = json.dumps(client.get("/_dash-layout").get_json(), ensure_ascii=False)
        assert str(demo_output) not in page and "/tmp/" not in page, lang


def test_a_picked_building_in_two_runs(demo_output):
    """A redeveloped building: replaced in the run that redeveloped it, standing in the
    baseline until its own redevelopment; facts read from the runs' files."""
    import pyogrio

    from viz.app import load_dashboard
    from viz.buildings import building_facts, building_panel

    runs = demo_output / "runs"
    board = load_dashboard([runs / "baseline", runs / "high-growth", runs / "storm-surge"])
    new = pyogrio.read_dataframe(runs / "high-growth" / "buildings_new.gpkg",
                                 read_geometry=False)
    redev = new[new["kind"] == "redevelopment"].iloc[0]
    old, year = str(redev["replaces"]), int(redev["year"])
    facts = building_facts(board, board.runs[1], year, old)
    assert facts["state"] == "replaced" and facts["replaced_in"] <= year
    before = building_facts(board, board.runs[1], year - 1, old)
    assert before["state"] in ("existing", "replaced")
    mine = building_facts(board, board.runs[1], year, str(redev["building_id"]))
    assert mine["state"] == "redevelopment" and mine["height"] == float(redev["height"])
    assert building_facts(board, board.runs[0], year, str(redev["building_id"]))[
        "state"] == "unknown"
    # the surge run knows its buildings' depth; the others say they had no surge
    surge = pd.read_csv(runs / "storm-surge" / "buildings.csv", dtype={"building_id": str})
    wet = surge[surge["depth_max_m"] > 0].iloc[0]
    facts = building_facts(board, board.runs[2], board.runs[2].years[-1], wet["building_id"])
    assert facts["depth"] == pytest.approx(wet["depth_max_m"])
    page = json.dumps(building_panel(board, wet["building_id"], (2, 0),
                                     board.runs[2].years[-1])[0].to_plotly_json(),
                      default=str)
    assert "no storm surge in this run" in page and "Height limit" in page


def test_compare_any_layer(demo_output):
    """Population, flood depth and new buildings side by side: the maps carry the runs' own
    rasters and buildings, the difference is B - A."""
    import pyogrio
    import rasterio

    from viz.app import load_dashboard
    from viz.tabs.compare import layer_figures

    runs = demo_output / "runs"
    board = load_dashboard([runs / "baseline", runs / "high-growth", runs / "storm-surge"])
    year = board.runs[2].surge_year
    with rasterio.open(runs / "storm-surge" / "population" / f"{year}.tif") as src:
        people = src.read(1)
    fig_a, fig_b, diff, summary = layer_figures(board, 0, 2, year, "population")
    shown = np.nansum(np.asarray(fig_b.data[-1].z, dtype=float))
    assert shown == pytest.approx(float(people[people > 0].sum()), rel=1e-4)
    # flood: the baseline had no surge, so B - A is B's depth on land
    fig_a, fig_b, diff, summary = layer_figures(board, 0, 2, year, "flood")
    assert "no storm surge" in fig_a.layout.title.text
    assert np.nanmin(np.asarray(diff.data[-1].z, dtype=float)) >= 0
    # new buildings: each run's own, standing in the year
    new = pyogrio.read_dataframe(runs / "high-growth" / "buildings_new.gpkg",
                                 read_geometry=False)
    fig_a, fig_b, diff, summary = layer_figures(board, 0, 1, year, "new_buildings")
    assert len(fig_b.data[-1].x) == int((new["year"] <= year).sum())


def test_areas_in_mu_or_km2_on_the_cards(app, demo_output):
    from viz.app import load_dashboard
    from viz.tabs.scenario import card_data

    board = load_dashboard([demo_output / "runs" / "baseline"])
    year = board.baseline.years[-1]
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        ha = {c.key: c for c in card_data(board, 0, year)}
        mu = {c.key: c for c in card_data(board, 0, year, area_unit="mu")}
    # 1 ha = 15 mu (1 mu = 10000/15 m2); the threshold of 10 ha reads 150 mu
    assert mu["farmland_lost"].value == pytest.approx(15 * ha["farmland_lost"].value)
    assert mu["farmland_lost"].unit == "mu" and mu["farmland_lost"].threshold == "≤ 150亩"
    assert mu["farmland_lost"].status == ha["farmland_lost"].status
    assert mu["population"].value == ha["population"].value  # not an area


def test_a_unit_without_residents_reads_n_a_not_zero(app, demo_output):
    """A planning unit with no residents has no construction land per capita: n/a, with the
    reason, never "0.0 m²/person"."""
    from viz.app import load_dashboard
    from viz.layout import indicator_card
    from viz.tabs.scenario import card_data

    areas = pd.read_csv(demo_output / "runs" / "baseline" / "indicators_areas.csv")
    year = int(areas["year"].max())
    people = areas[(areas["level"] == "unit") & (areas["year"] == year)
                   & (areas["indicator"] == "population")]
    empty = people[people["value"] == 0]
    assert len(empty), "the demo has a unit without residents (the forest in the north-west)"
    unit = f"unit:{empty['area_id'].iloc[0]}"
    board = load_dashboard([demo_output / "runs" / "baseline"])
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        cards = {c.key: c for c in card_data(board, 0, year, unit)}
        card = cards["construction_land_per_capita"]
        text = json.dumps(indicator_card(card).to_plotly_json(), default=str,
                          ensure_ascii=False)
    assert math.isnan(card.value) and card.status == "info"
    assert "无数据" in text and "此处无常住人口" in text and "0.0" not in text


# -- no English left on a Chinese page ----------------------------------------------------------
#: Component properties a reader sees (``value`` and ids are codes, not words).
VISIBLE_PROPS = ("children", "label", "title", "placeholder", "alt", "aria-label")
#: Words that may stay in Latin letters on a Chinese page: units, codes, file formats, model
#: and metric names used as such in Chinese planning literature, and proper names.
ALLOWED_WORDS = {
    "fom", "auc", "kappa", "crs", "epsg", "utm", "wgs", "geotiff", "geopackage", "csv", "xlsx",
    "pdf", "html", "png", "lidar", "openstreetmap", "cesium", "cesiumjs", "dask", "alpha",
    "territory", "twin", "cny", "eur", "mpd", "cityjson",
}
_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def visible_texts(node, where: str = "") -> list[tuple[str, str]]:
    """Every string a reader sees in a Dash layout (JSON) or component tree: children, labels,
    titles, options; in figures the title, axis titles, annotations and legend names."""
    found: list[tuple[str, str]] = []
    if isinstance(node, str):
        found.append((node, where))
    elif isinstance(node, list):
        for item in node:
            found += visible_texts(item, where)
    elif isinstance(node, dict):
        if "props" in node and "type" in node:
            props = node["props"] or {}
            here = f"{node['type']}#{props.get('id', '')}"
            for key in VISIBLE_PROPS:
                if key in props:
                    found += visible_texts(props[key], here)
            if str(props.get("id", "")).endswith("-html"):  # a box's content (viz.fragments)
                found += visible_texts(props.get("data"), here)
            for option in props.get("options") or []:
                if isinstance(option, dict):
                    found += visible_texts(option.get("label"), here)
            if isinstance(props.get("figure"), dict):
                found += figure_texts(props["figure"], here)
        elif "tag" in node and "props" in node:  # drawn by the browser (viz.fragments)
            props = node["props"] or {}
            here = f"{node['tag']}#{props.get('id', '')}"
            for key in VISIBLE_PROPS:
                if key in {**props, "children": None}:
                    found += visible_texts(node["children"] if key == "children"
                                           else props[key], here)
        elif "data" in node and "layout" in node:
            found += figure_texts(node, where)
    return found


def figure_texts(figure: dict, where: str) -> list[tuple[str, str]]:
    """Titles, axis titles, annotations, colour bar titles and legend names of a figure."""
    texts: list[str] = []

    def title(value):
        text = value.get("text") if isinstance(value, dict) else value
        if isinstance(text, str):
            texts.append(text)

    layout = figure.get("layout") or {}
    title(layout.get("title"))
    for key, value in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            title(value.get("title"))
    texts += [a.get("text", "") for a in layout.get("annotations") or []]
    for trace in figure.get("data") or []:
        legend = trace.get("type", "scatter") in ("scatter", "scattergl", "bar", "scattermap")
        if legend and trace.get("showlegend", True) is not False and isinstance(
                trace.get("name"), str):
            texts.append(trace["name"])
        title((trace.get("colorbar") or {}).get("title"))
        title(((trace.get("marker") or {}).get("colorbar") or {}).get("title"))
        if isinstance(trace.get("hovertemplate"), str):
            texts.append(re.sub(r"%\{[^}]*\}|<extra>|</extra>", " ", trace["hovertemplate"]))
    return [(re.sub(r"<[^>]+>", " ", t), f"{where} figure") for t in texts if t]


def latin_words(text: str) -> list[str]:
    """The words of ``text`` in Latin letters, lower-cased; tokens with digits (codes,
    hashes, 3D, P10) and file names are not words."""
    text = re.sub(r"\S+\.[A-Za-z][A-Za-z0-9]{1,6}\b", " ", text)
    tokens = re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", text)
    return [t.lower() for t in tokens if t.isalpha() or "'" in t]


def english_only(text: str, allowed: set[str] = frozenset()) -> bool:
    """``text`` has words in English and none in Chinese (allowed words, numbers, units,
    codes and file names aside)."""
    if _CJK.search(text):
        return False
    return any(len(w) >= 3 and w not in ALLOWED_WORDS and w not in allowed
               for w in latin_words(text))


def _english_left(node, allowed: set[str]) -> list[str]:
    """The English-only strings of a layout or component (subtrees in ``lang="en"``, which
    show a source's own words, aside)."""
    def strip(value):
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, dict):
            props = value.get("props")
            if isinstance(props, dict) and str(props.get("lang", "")).startswith("en"):
                return None
            return {k: strip(v) for k, v in value.items()}
        return value

    return sorted({f"{where}: {text!r}" for text, where in visible_texts(strip(node))
                   if english_only(text, allowed)})


def test_a_chinese_page_shows_no_english_only_words(demo_output):
    """Every tab's layout and what the calibration, ensemble and data tabs' callbacks draw
    (texts, tables, figures), on a Chinese page: no string in English alone (units, codes,
    numbers, file and folder names and proper names aside)."""
    from test_dashboard import _folders

    from viz.app import create_app, load_dashboard
    from viz.tabs import calibration, data, ensemble

    app = create_app(_folders(demo_output), demo_output / "tiles", lang="zh_CN")
    board = load_dashboard(_folders(demo_output), demo_output / "tiles")
    # proper names: folders, runs and scenario names, the territory's own name
    names = [f.name for f in [*_folders(demo_output), demo_output / "tiles"]]
    names += [r.name for r in board.runs] + [board.territory_name]
    allowed = {w for name in names for w in latin_words(name.replace("-", " "))}
    allowed |= {"english"}  # the language switch names each language in its own words
    client = app.server.test_client()
    layout = client.get("/_dash-layout").get_json()
    found = _english_left(layout, allowed)
    year = board.baseline.years[-1]
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        drawn = []
        if board.calibrations:
            for period in board.calibrations[0].periods:
                drawn += [calibration.summary(board, 0, period),
                          calibration.metrics_table(board, 0, period),
                          calibration.class_table(board, 0, period),
                          *calibration.map_view(board, 0, period, "agreement"),
                          *calibration.map_view(board, 0, period, "simulated")]
            report = board.calibrations[0]
            words = calibration.figure_words()
            drawn += [calibration.parameters_table(board, 0),
                      calibration.comparison_figure(
                          {m: report.overall(report.periods[-1], m) for m in calibration.MODELS},
                          {m: calibration.ui().gettext(w)
                           for m, w in calibration.MODEL_WORDS.items()}, words=words),
                      calibration.convergence_figure(report.convergence, words=words),
                      calibration.contributions_figure(report.contributions, words=words)]
        drawn += [*ensemble.probability_map(board, 0, year), ensemble.timeline(board, 0, year),
                  ensemble.interval_table(board, 0, year), ensemble.describe(
                      board.ensembles[0]), *ensemble.scene_spec(board, 0, year)[1],
                  *data.layout(board)]
        for component in drawn:
            found += _english_left(_plain(component), allowed)
            assert str(demo_output) not in json.dumps(_plain(component)), "a server path"
    assert not found, "English on the Chinese page:\n" + "\n".join(found)
    # the check sees English where there is some: the same page in English
    english = app.server.test_client()
    english.get("/?lang=en")
    page = visible_texts(english.get("/_dash-layout").get_json())  # lang="en" on the whole page
    assert sum(english_only(text, allowed) for text, _ in page) > 20


def _plain(component) -> object:
    """A component, figure or string as the JSON the browser gets."""
    from plotly.utils import PlotlyJSONEncoder

    return json.loads(json.dumps(component, cls=PlotlyJSONEncoder))


def test_every_built_in_scenario_has_its_title_and_description_in_chinese():
    """Titles and descriptions are message ids: shown translated in the selectors, the
    scenario tab and the reports (scenarios.i18n.scenario_text)."""
    from pydantic import ValidationError

    from scenarios.i18n import scenario_text
    from scenarios.schema import Scenario, load_scenario

    zh = translator("zh_CN")
    names = sorted(p.stem for p in (REPO / "scenarios" / "builtin").glob("*.yaml"))
    assert len(names) > 10
    for name in names:
        scenario = load_scenario(name)
        for text in (scenario.title, scenario.description.strip()):
            shown = scenario_text(text, zh)
            assert shown != text and _CJK.search(shown), f"{name}: {text[:40]!r}"
    # a title is one line: a message id, and a selector's label
    base = load_scenario("baseline").to_dict()
    for bad in ("", "   ", "Two\nlines"):
        with pytest.raises(ValidationError):
            Scenario.model_validate({**base, "title": bad})
    # a title without a translation is shown as written
    assert scenario_text("Mein Szenario", zh) == "Mein Szenario"


def test_the_3d_view_gets_its_words_from_the_server_and_shows_no_path(app, demo_output,
                                                                      tmp_path):
    """twin3d.js has no words of its own: cesium-config carries the status lines in the page's
    language; without CesiumJS the page says so in words, never with the server's path."""
    import dataclasses

    from viz.app import load_dashboard
    from viz.cesium import STATUS_WORDS, viewer_config

    board = load_dashboard([demo_output / "runs" / "baseline"], demo_output / "tiles")
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        config = viewer_config(board, with_3d=True)
        assert set(config["words"]) == set(STATUS_WORDS) and config["locale"] == "zh-CN"
        assert all(_CJK.search(w) for w in config["words"].values())
        assert "{buildings}" in config["words"]["count"]  # filled by twin3d.js
        missing = dataclasses.replace(board, cesium_dir=tmp_path / "no-cesium")
        message = viewer_config(missing, with_3d=True)["message"]
    assert config["parts"] and _CJK.search(message) and "npm install" in message
    assert str(tmp_path) not in message and "/" not in message
    js = (REPO / "viz" / "assets" / "twin3d.js").read_text()
    assert "buildings in" not in js and "Loading the 3D" not in js  # no English in the JS
    assert '" storeys"' not in js and '"over its limit' not in js and '"not flooded"' not in js


def test_every_3d_word_and_building_use_has_its_chinese_words(app, demo_output):
    """Each of the 3D view's words (status line, clicked building, uses) is in the zh_CN
    catalogue; the uses of the demo's buildings, new ones included, are named in the legend
    and in how the tiles place heights, with no English left."""
    from plotly.utils import PlotlyJSONEncoder

    from scenarios.publish import PROJECT_USES
    from viz.app import load_dashboard
    from viz.cesium import STATUS_WORDS, USE_NAMES, use_name
    from viz.layout import building_legend, heights_words
    from viz.scene import use_style

    zh = catalogue("zh_CN")
    missing = {key: text for key, text in STATUS_WORDS.items() if text not in zh}
    assert not missing, f"add these to scenarios/locale/zh_CN/LC_MESSAGES/dashboard.po: {missing}"
    board = load_dashboard([demo_output / "runs" / "baseline"], demo_output / "tiles")
    assert set(board.building_uses) | set(PROJECT_USES.values()) <= set(USE_NAMES)
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        assert use_name("residential") == zh["residential"] and use_name("port") == "port"
        legend = json.dumps(building_legend(use_style(board)), cls=PlotlyJSONEncoder,
                            ensure_ascii=False)
        heights = heights_words(board.tileset_extras)
    for use in board.building_uses:
        assert zh[USE_NAMES[use]] in legend and f'"{use}"' not in legend
    assert zh["other uses"] in legend
    assert _CJK.search(heights) and "ellipsoidal" not in heights


def test_every_zone_use_is_named_in_chinese(app, demo_output):
    """The zones' uses (the map query, the zoning hover and the 3D lines' names) in the page's
    language; the zone's own name as the data have it."""
    from viz.app import load_dashboard
    from viz.onemap import zone_words

    zh = catalogue("zh_CN")
    board = load_dashboard([demo_output / "runs" / "baseline"])
    zones = [z.attrs for z in board.onemap.zoning]
    assert zones
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        for zone in zones:
            words = zone_words(zone)
            assert words.startswith(f"{zone['zone']} ({zh[zone['use']]}) \u00b7 "), words
            assert "米" in words and not english_only(words.replace(str(zone["zone"]), ""))


def test_terrain_without_buildings_is_shown_in_3d_and_says_so(app, demo_output):
    """A tiles folder with terrain but no buildings (a city without footprints) is a 3D view
    whose status says the data hold no buildings, in the page's language; only a folder with
    nothing to show is a message instead."""
    import dataclasses

    from viz.app import load_dashboard
    from viz.cesium import TILES_ROUTE, viewer_config

    board = load_dashboard([demo_output / "runs" / "baseline"], demo_output / "tiles")
    assert {"buildings", "terrain"} <= set(board.tiles.parts)

    def keeping(*names: str):
        tiles = dataclasses.replace(board.tiles, parts={
            n: p for n, p in board.tiles.parts.items() if n in names})
        return dataclasses.replace(board, tiles=tiles)

    terrain = keeping("terrain")
    english = viewer_config(terrain, with_3d=True)
    assert english["parts"] == {"terrain": TILES_ROUTE + board.tiles.parts["terrain"]}
    assert english["layers"] == ["terrain"] and "message" not in english
    assert english["words"]["count"] == "The 3D data hold no buildings"
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        chinese = viewer_config(terrain, with_3d=True)
        full = viewer_config(board, with_3d=True)
        empty = viewer_config(keeping(), with_3d=True)
    assert chinese["words"]["count"] == "\u4e09\u7ef4\u6570\u636e\u4e0d\u542b\u5efa\u7b51\u7269"
    assert "twin tiles" not in json.dumps([english, chinese], ensure_ascii=False)
    assert "{buildings}" in full["words"]["count"] and "buildings" in full["parts"]
    assert empty["parts"] is None and _CJK.search(empty["message"])
    assert board.tiles.path.name in empty["message"] and "twin tiles" in empty["message"]


def test_the_storm_surge_tab_speaks_chinese(app, demo_output):
    """The flood tab's engine line, readout, tables, map titles, hazard map and 3D legend in
    Chinese: none of the English words they had before the catalogue."""
    from plotly.utils import PlotlyJSONEncoder

    from viz.app import load_dashboard
    from viz.tabs import flood

    runs = demo_output / "runs"
    board = load_dashboard([runs / "baseline", runs / "surge-100y", runs / "surge-100y-seawall",
                            runs / "storm-surge", runs / "surge-100y-breach"])
    zh = catalogue("zh_CN")
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        shown = flood.shown_of(board, 1, "time", 3, None)
        controls = flood.run_controls(board, 1)
        engines = [_plain(flood.engine_line(board, i)) for i in (2, 3, 4)]
        parts = [engines, flood.readout(board, 1, shown),
                 flood.readout(board, 1, flood.shown_of(board, 1, "max", 0, None)),
                 flood.scenarios_table(board, 1), flood.units_table(board, 1),
                 flood.map_figure(board, 1, shown), flood.timeline(board, 1, shown),
                 *(flood.hazard_figure(board, 1, k) for k in flood.HAZARDS),
                 flood.scene_spec(board, 2, shown),
                 controls["versus_options"], controls["level_marks"], controls["marks"],
                 flood.layout(board)]
        text = json.dumps(parts, cls=PlotlyJSONEncoder, ensure_ascii=False)
    for english in ("Engine: ", "Peak still-water level", "into the event", "of land flooded",
                    "buildings flooded", "Planning unit", "Damage", "Flood depth, ",
                    "hours from the event start", "Arrival of the hazard depth",
                    "defence at its crest", "no other scenario", "\u25b6 Play", "Pause",
                    # the engines, as the runs recorded them, and their short names
                    "bathtub", "local inertial", "shallow water", "finite-volume", "order",
                    # the hazard maps' hover: where, and the value with its unit
                    "km, N", " h above", "m/s"):
        assert english not in text, english
    for chinese in ("计算引擎", "峰值静水位", "事件开始后", "土地被淹没", "淹没水深",
                    "达到危险水深的时间", "防护工程（按堤顶高程）", "\u25b6 播放"):
        assert chinese in text, chinese
    # the engine line says each run's engine in Chinese (not marked as English any more);
    # the engine's own words are the catalogue's for the sentence the run recorded
    for i, line in zip((2, 3, 4), engines):
        strong = next(c for c in line if isinstance(c, dict)
                      and c["props"].get("id") == "flood-engine")
        assert strong["props"]["children"] == zh[board.surge_run(i).engine]
        assert "lang" not in strong["props"]
    # lengths in metres as the rest of the page writes them: "3.50 米", slider marks "0 米"
    assert not re.search(r"\d m\b", text), re.findall(r".{20}\d m\b", text)
    assert all(m.endswith(" 米") for m in controls["level_marks"].values())
    assert all(m.endswith(" 小时") for m in controls["marks"].values())
    assert "3.50 米" in text


def test_the_engine_sentence_is_built_from_the_run_fields():
    """Each flow engine's description is the one engine.flood records (a message id); a run
    whose fields do not give the sentence it recorded keeps its own words, marked English."""
    from engine.flood import godunov, inertial
    from engine.flood.event import BATHTUB
    from viz.surge import ENGINE_SENTENCES, SurgeRun

    assert ENGINE_SENTENCES == {
        ("bathtub", None): BATHTUB, ("inertial", False): inertial.ENGINE,
        ("inertial", True): inertial.ENGINE_ADVECTION, ("godunov", 1): godunov.ENGINE,
        ("godunov", 2): godunov.ENGINE_2}
    zh = translator("zh_CN")

    def run(recorded: str, section: dict) -> SurgeRun:
        return SurgeRun(SimpleNamespace(surge={"engine": recorded},
                                        manifest={"scenario": {"surge": section}}))

    godunov2 = run(godunov.ENGINE_2, {"engine": "godunov", "solver": {"order": 2}})
    assert godunov2.engine_words(zh) == (zh.gettext(godunov.ENGINE_2), True)
    assert godunov2.engine_words(translator("en")) == (godunov.ENGINE_2, True)
    assert godunov2.engine_name(zh) == zh.gettext("Godunov") != "Godunov"
    # fields that say another engine than the recorded one, or none: the run's own words
    for section in ({"engine": "godunov", "solver": {"order": 1}}, {"engine": "inertial"}, {}):
        other = run(godunov.ENGINE_2, section)
        assert other.engine_words(zh) == (godunov.ENGINE_2, False)
        assert other.engine_name(zh) == other.engine_short


def test_the_height_tables_write_metres_in_the_page_language(app, demo_output):
    """The planning units' largest excess and volume, and the buildings blocking a view, in
    米 and 立方米 on a Chinese page (as the cards and the flood tab write them)."""
    from viz.app import load_dashboard
    from viz.tabs import heights

    sightlines = sorted((demo_output / "sightlines").iterdir())
    board = load_dashboard([demo_output / "runs" / "baseline", demo_output / "heights",
                            *sightlines])
    corridor = heights.corridor_options(heights.check_at(board, 0))[0]["value"]
    with app.server.test_request_context("/", headers={"Cookie": "twin_lang=zh_CN"}):
        text = json.dumps([_plain(heights.violators_table(board)),
                           _plain(heights.corridor_box(board, corridor))], ensure_ascii=False)
    assert not re.search(r"\d m\b", text) and "m\u00b3" not in text and "m³" not in text
    assert re.search(r"\d 米", text) and re.search(r"\d 立方米", text)

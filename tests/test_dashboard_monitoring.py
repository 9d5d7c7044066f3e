"""The Monitoring tab in-process (no browser): the folders of ``twin assess``, ``twin changes`` and
``twin evaluate`` on the sample territory, served alone; the tab's series, warnings, map layers,
patch table, 双评价 grade areas and downloads in English and Chinese, each checked against the
folders' own files.

The observed series is made from the sample's land-use map: 2020 as it is, 2023 and 2025 with
rectangles of farmland (partly inside the sample's permanent basic farmland) built up, so the
patches, warnings and indicators have known causes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.i18n import translator
from scenarios.monitoring.folders import MonitoringSet

YEARS = (2020, 2023, 2025)


def observed_series(territory) -> dict[int, np.ndarray]:
    """2020: the sample's land use; later years: farmland in two growing blocks built up."""
    lu = territory.get("land_use__class").copy()
    farm = territory.classes.group_mask(lu, "farmland")
    built = territory.classes.built.code
    rows, cols = np.indices(lu.shape)
    maps = {YEARS[0]: lu.copy()}
    block = (rows >= 150) & (rows < 185) & (cols >= 40) & (cols < 100)
    maps[YEARS[1]] = np.where(block & farm, built, lu).astype(np.uint8)
    block2 = block | ((rows >= 60) & (rows < 90) & (cols >= 150) & (cols < 200))
    maps[YEARS[2]] = np.where(block2 & farm, built, lu).astype(np.uint8)
    return maps


#: The sample's built-up-area cap made phased: its own targets for 2035, these for 2023.
PHASE_YEAR, MAIN_YEAR, PHASE_SHARE = 2023, 2035, 0.9


def phased(territory):
    """A copy of the sample whose built-up-area targets are dated 2035, with a 2023 phase at
    90 % of them (the city's, districts' and units')."""
    from tim.plan import Plan

    out = territory.copy()
    plan = territory.plan.to_dict()
    target = plan["indicators"]["built_up_area"]
    target["year"] = MAIN_YEAR
    target["phases"] = {PHASE_YEAR: {
        "city": PHASE_SHARE * target["city"],
        "districts": {k: PHASE_SHARE * v for k, v in target.get("districts", {}).items()},
        "units": {k: PHASE_SHARE * v for k, v in target.get("units", {}).items()}}}
    out.plan = Plan.model_validate(plan)
    return out


def write_monitoring(territory, root: Path) -> dict[str, Path]:
    """The TIM and its three monitoring folders under ``root`` (what ``twin assess / changes /
    evaluate`` write, through the same functions)."""
    from scenarios.monitoring.assess import run_assessment
    from scenarios.monitoring.changes import run_changes
    from scenarios.monitoring.evaluation import run_evaluation
    from tim.store import save_territory, write_raster

    tim = root / "tim"
    save_territory(phased(territory), tim)
    paths = {}
    for year, codes in observed_series(territory).items():
        paths[year] = root / f"lu_{year}.tif"
        write_raster(paths[year], codes, territory.grid, 255)
    out = {"tim": tim, "assess": root / "assess", "changes": root / "changes",
           "evaluation": root / "evaluation"}
    run_assessment(tim, [f"{y}={p}" for y, p in paths.items()], out["assess"],
                   population=[f"{YEARS[0]}=tim"])
    run_changes(tim, f"{YEARS[0]}={paths[YEARS[0]]}", f"{YEARS[-1]}={paths[YEARS[-1]]}",
                out["changes"], min_area_ha=0.5)
    run_evaluation(tim, out["evaluation"])
    return out


def shared_folders(territory, tmp_path_factory) -> dict[str, Path]:
    """:func:`write_monitoring` once per test session (this module and the browser test)."""
    root = tmp_path_factory.getbasetemp() / "monitoring-shared"
    names = {"tim": root / "tim", "assess": root / "assess", "changes": root / "changes",
             "evaluation": root / "evaluation"}
    if not (names["evaluation"] / "manifest.json").is_file():
        root.mkdir(exist_ok=True)
        names = write_monitoring(territory, root)
    return names


@pytest.fixture(scope="module")
def folders(sample_territory, tmp_path_factory):
    return shared_folders(sample_territory, tmp_path_factory)


@pytest.fixture(scope="module")
def board(folders):
    from viz.app import load_dashboard

    # The folders among the positional ones, recognised by their manifests; no run needed.
    return load_dashboard([folders["assess"], folders["changes"], folders["evaluation"]])


@pytest.fixture(params=["en", "zh_CN"])
def lang(request):
    """The page's language, as a request asks for it (``?lang=``)."""
    import flask

    from viz import i18n

    server = flask.Flask(__name__)
    i18n.install(server, None)
    with server.test_request_context(f"/?lang={request.param}"):
        yield request.param


def text(component) -> str:
    """Everything a component (or list of them) shows and carries, as JSON text."""
    import plotly

    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def test_the_folders_make_a_monitoring_dashboard(board, folders):
    from viz.tabs import available_tabs

    assert board.runs == () and isinstance(board.monitoring, MonitoringSet)
    assert [t.key for t in available_tabs(board)] == ["monitoring", "data"]
    assert board.monitoring.tim == str(folders["tim"])
    assert board.territory_name == board.monitoring.territory
    assert board.monitoring.assessment.years == list(YEARS)


def test_bad_monitoring_folders_are_refused(folders, tmp_path):
    from tim.errors import InputError, StoreError
    from viz.app import load_dashboard

    with pytest.raises(InputError, match="one assessment folder"):
        load_dashboard([folders["assess"]], monitoring=[folders["assess"]])
    with pytest.raises(StoreError, match="not a monitoring folder"):
        load_dashboard([], monitoring=[tmp_path])


def test_layout_in_both_languages(board, lang):
    from test_security import layout_values
    from viz.layout import build_layout

    page = build_layout(board, with_3d=False)
    words = text(page)
    t = translator(lang)
    assert t.gettext("Monitoring") in words
    assert t.gettext("Indicators over the observed years") in words
    ids = {key[0] for key in layout_values(json.loads(words))}
    assert {"mon-year", "mon-area", "mon-map", "mon-layers", "mon-evaluation"} <= ids
    values = layout_values(json.loads(words))
    assert [o["value"] for o in values[("mon-year", "options")]] == list(YEARS)
    assert [o["value"] for o in values[("mon-evaluation", "options")]] == [
        "none", "ecological_importance", "agricultural_suitability", "urban_suitability"]
    if lang == "zh_CN":
        assert "监测" in t.gettext("Monitoring")
        assert t.gettext("Ecological protection importance") == "生态保护重要性"


def test_series_has_the_values_thresholds_and_targets(board, lang):
    from viz.tabs.monitoring import series_figure

    table = pd.read_csv(board.monitoring.assessment.path / "indicators.csv")
    fig = series_figure(board, "city", "built_up_area", 2023)
    observed = next(tr for tr in fig.data if tr.meta == "observed")
    expected = table[table["indicator"] == "built_up_area"].sort_values("year")
    assert list(observed.x) == list(YEARS)
    np.testing.assert_allclose(observed.y, expected["value"])
    # built-up area grows: the two later years each add the built-up blocks
    assert observed.y[0] < observed.y[1] < observed.y[2]
    # a unit's series is the unit's rows, and its thresholds are the registry's
    unit = next(o["value"] for o in _area_values(board) if o["value"].startswith("unit:"))
    fig = series_figure(board, unit, "farmland_lost", 2025)
    rows = board.monitoring.assessment.indicators
    level, _, key = unit.partition(":")
    mine = rows[(rows["level"] == level) & (rows["area_id"] == key)
                & (rows["indicator"] == "farmland_lost")].sort_values("year")
    np.testing.assert_allclose(next(tr for tr in fig.data if tr.meta == "observed").y,
                               mine["value"])
    green = board.registry["farmland_lost"].green
    lines = [tr for tr in fig.data if str(tr.meta).startswith("threshold")]
    if green is not None and "unit" in board.registry["farmland_lost"].levels:
        assert {b for b in green if b is not None} <= {tr.y[0] for tr in lines}


def test_series_draws_the_phased_targets(board, sample_territory, lang):
    """Each year's target is the cap of the next milestone (2023's phase for 2020 and 2023,
    2035's main target for 2025); both milestones are drawn as stars at their years."""
    from viz.tabs.monitoring import series_figure

    main = sample_territory.plan.indicators["built_up_area"].city
    fig = series_figure(board, "city", "built_up_area", 2025)
    target = next(tr for tr in fig.data if tr.meta == "target")
    np.testing.assert_allclose(target.y, [PHASE_SHARE * main, PHASE_SHARE * main, main])
    stars = next(tr for tr in fig.data if tr.meta == "milestones")
    assert list(stars.x) == [PHASE_YEAR, MAIN_YEAR]
    np.testing.assert_allclose(stars.y, [PHASE_SHARE * main, main])
    assert translator(lang).gettext("Phased targets") == stars.name
    # a unit with its own target: its milestones are the unit's
    unit_id, unit_target = next(iter(sample_territory.plan.indicators["built_up_area"]
                                     .units.items()))
    fig = series_figure(board, f"unit:{unit_id}", "built_up_area", 2025)
    stars = next(tr for tr in fig.data if tr.meta == "milestones")
    np.testing.assert_allclose(stars.y, [PHASE_SHARE * unit_target, unit_target])


def _area_values(board):
    from viz.tabs.monitoring import area_options

    return area_options(board)


def test_warnings_in_words_and_colours(board, lang):
    from viz.tabs.monitoring import warning_rows, warnings_box

    warnings = pd.read_csv(board.monitoring.assessment.path / "warnings.csv")
    rows = warning_rows(board, 2025)
    assert len(rows) == int((warnings["year"] == 2025).sum()) > 0
    assert list(rows["status"]) == sorted(rows["status"], key=lambda s: s != "red")
    box = warnings_box(board, 2025)
    words = text(box)
    t = translator(lang)
    # the counts say green, yellow and red in words, beside their colours
    for status in ("green", "yellow", "red"):
        assert f" {t.gettext(status)}" in words
        assert f"chip chip-{status}" in words
    listed = next(c for c in box if getattr(c, "id", None) == "monitoring-warnings")
    assert listed.to_plotly_json()["props"]["data-count"] == len(rows)


def test_map_layers_patches_and_grades(board, lang):
    from viz.tabs.monitoring import GRADE_PALETTES, image_pixels, map_figure

    t = translator(lang)
    plain = map_figure(board, 2023, ["units", "control_lines"])
    names = [tr.name for tr in plain.data]
    assert t.gettext("Planning units") in names  # the one-map layers of the scenario tab
    assert plain.layout.meta["year"] == 2023 and plain.layout.meta["evaluation"] == "none"
    image = image_pixels(plain.data[0])
    # patches on: cells of the most severe patch take its colour on the map
    patched = map_figure(board, 2025, ["patches"])
    severities = set(pd.read_csv(board.monitoring.changes.path / "patches.csv")["severity"])
    from viz.tabs.monitoring import SEVERITY_COLOURS, _hex

    img = image_pixels(patched.data[0])
    for severity in severities:
        colour = _hex(SEVERITY_COLOURS[severity])
        assert (img[..., :3] == colour).all(axis=-1).any(), severity
    # a 双评价 layer replaces the land use with grades in the guideline's colours
    graded = map_figure(board, 2025, [], "ecological_importance")
    assert graded.layout.meta["evaluation"] == "ecological_importance"
    img = image_pixels(graded.data[0])
    grades = board.monitoring.evaluation.grade("ecological_importance")
    top = _hex(GRADE_PALETTES["ecological_importance"][5])
    assert ((img[..., :3] == top).all(axis=-1).any()) == bool((grades == 5).any())
    assert t.gettext("Ecological protection importance") in graded.layout.title.text
    assert not np.array_equal(image.shape, ()) and img.shape == image.shape


def test_patch_table_and_download(board, lang):
    from viz.app import create_app
    from viz.tabs.monitoring import PAGE_SIZE, patch_page, patch_rows, patch_table

    patches = pd.read_csv(board.monitoring.changes.path / "patches.csv")
    rows = patch_rows(board)
    assert [r["patch_id"] for r in rows] == list(patches["patch_id"])
    np.testing.assert_allclose([r["area_ha"] for r in rows], patches["area_ha"])
    t = translator(lang)
    assert {r["severity"] for r in rows} == {t.gettext(s) for s in patches["severity"]}
    table = patch_table(board)
    assert table.children.sort_action == "custom" and table.children.page_action == "custom"
    assert table.children.page_count == -(-len(patches) // PAGE_SIZE)
    # the server's pages: the file's order, then sorted on the values
    assert [r["patch_id"] for r in patch_page(board, 0, [])] == \
        list(patches["patch_id"][:PAGE_SIZE])
    smallest = patch_page(board, 0, [{"column_id": "area_ha", "direction": "asc"}])
    assert smallest[0]["area_ha"] == patches["area_ha"].min()
    least = patch_page(board, 0, [{"column_id": "severity", "direction": "asc"}])
    ranks = {"critical": 4, "high": 3, "medium": 2, "low": 1}
    assert least[0]["_rank"] == min(ranks[s] for s in patches["severity"])
    app = create_app([], monitoring=[board.monitoring.changes.path,
                                     board.monitoring.assessment.path])
    client = app.server.test_client()
    got = client.get("/twin/download/monitoring/changes/patches.csv")
    assert got.status_code == 200
    assert got.data == (board.monitoring.changes.path / "patches.csv").read_bytes()
    assert client.get("/twin/download/monitoring/changes/manifest.json").status_code == 404
    assert client.get("/twin/download/monitoring/evaluation/grade_areas.csv").status_code == 404


def test_grade_areas_per_unit(board, lang):
    from viz.tabs.monitoring import grades_box

    areas = pd.read_csv(board.monitoring.evaluation.path / "grade_areas.csv")
    mine = areas[areas["evaluation"] == "urban_suitability"]
    box = grades_box(board, "urban_suitability")
    table = next(c for c in _walk(box) if getattr(c, "id", None) == "grades-table")
    body = table.children[1].children
    assert len(body) == len(mine)  # the territory, each district and each unit
    t = translator(lang)
    city = mine[mine["level"] == "city"].iloc[0]
    first = text(body[0])
    assert t.gettext("Whole territory") in first
    assert t.area(city["grade_5_ha"]) in first and t.area(city["grade_1_ha"]) in first
    legend = text(next(c for c in box if getattr(c, "id", None) == "grade-legend"))
    assert t.gettext("Grade {n}", n=5) + " \u00b7 " + t.gettext("suitable") in legend


def _walk(items):
    for item in items if isinstance(items, list) else [items]:
        yield item
        children = getattr(item, "children", None)
        if children is not None:
            yield from _walk(children if isinstance(children, list) else [children])


def test_assessment_writes_the_lines_it_checked(board, sample_territory):
    masks = board.monitoring.assessment.lines
    manifest = json.loads((board.monitoring.assessment.path / "manifest.json").read_text())
    assert set(masks) == set(manifest["control_lines"])
    for line, mask in masks.items():
        field = manifest["control_lines"][line]["field"]
        if field in sample_territory.fields:
            np.testing.assert_array_equal(mask, sample_territory.fields[field] > 0)


def test_callbacks_do_nothing_while_the_tab_is_hidden(folders):
    from dash.exceptions import PreventUpdate

    from viz.app import create_app

    app = create_app([folders["assess"], folders["changes"], folders["evaluation"]])
    callbacks = {k: v for k, v in app.callback_map.items() if "mon-" in k}
    assert any("mon-map.figure" in k for k in callbacks)
    for key, entry in callbacks.items():
        function = entry["callback"].__wrapped__
        n = len(entry["inputs"])
        with pytest.raises(PreventUpdate):
            function("scenario", *[None] * (n - 1))
        if "patches-datatable" in key:
            assert len(function("monitoring", 0, [])) > 0
        if "mon-map" in key:
            fig = function("monitoring", 2025, ["patches"], "urban_suitability", "city")
            assert fig.layout.meta["evaluation"] == "urban_suitability"


def test_the_demo_monitors_its_baseline_and_says_so(demo_output):
    """The demo's folders: the baseline's first, middle and last years, labelled as simulated
    stand-ins for observations; served beside the runs, the tab is there."""
    from scenarios.rundir import RunDirectory
    from viz.app import load_dashboard
    from viz.demo import MONITORING_NOTE
    from viz.tabs import available_tabs

    folders = [demo_output / "monitoring" / k for k in ("assess", "changes", "evaluation")]
    run = RunDirectory.open(demo_output / "runs" / "baseline")
    board = load_dashboard([demo_output / "runs" / "baseline", *folders])
    assert "monitoring" in [t.key for t in available_tabs(board)]
    watched = board.monitoring
    assert watched.assessment.years == sorted({run.years[0], run.years[len(run.years) // 2],
                                               run.years[-1]})
    assert watched.assessment.note == watched.changes.note == MONITORING_NOTE
    np.testing.assert_array_equal(watched.assessment.land_use(run.years[-1]),
                                  run.land_use(run.years[-1]))
    assert watched.evaluation.manifest["inputs"]["flood"].endswith("water_depth.tif")


def test_docstring_examples_of_the_readers():
    import doctest

    from scenarios.monitoring import folders as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0

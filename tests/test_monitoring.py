"""Monitoring: the labelling kernel against scipy.ndimage.label, change patches and their
severity rules on hand-made maps, the farmland balance, observed-map checks and `twin changes`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from engine.kernels.labelling import label, patch_stats
from scenarios.monitoring.changes import change_patches, farmland_balance
from scenarios.monitoring.observed import (ControlLines, control_lines, parse_year_paths,
                                           read_observed_map)
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.model import Grid, Territory

STRUCTURE = {8: np.ones((3, 3), int), 4: None}


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Labels a and b split the cells the same way (a bijection between their labels)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return (len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1])))


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("density", [0.0, 0.2, 0.45, 0.6, 1.0])
@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (23, 1), (40, 37)])
def test_label_matches_scipy(connectivity, density, shape):
    rng = np.random.default_rng(hash((connectivity, density, shape)) % 2**32)
    mask = rng.random(shape) < density
    ours, n = label(mask, connectivity)
    ref, n_ref = ndimage.label(mask, structure=STRUCTURE[connectivity])
    assert n == n_ref
    np.testing.assert_array_equal(ours, ref)  # same numbering: raster order of first cells


def test_label_spirals_and_u_shapes_merge():
    # a U joins its two arms only at the bottom row: the first pass sees two labels
    u = np.array([[1, 0, 1], [1, 0, 1], [1, 1, 1]], bool)
    assert label(u, 4)[1] == 1
    # a diagonal staircase is one patch 8-connected, n patches 4-connected
    stairs = np.eye(6, dtype=bool)
    assert label(stairs, 8)[1] == 1 and label(stairs, 4)[1] == 6
    spiral = np.array([[1, 1, 1, 1, 1], [0, 0, 0, 0, 1], [1, 1, 1, 0, 1], [1, 0, 0, 0, 1],
                       [1, 1, 1, 1, 1]], bool)
    ours, n = label(spiral, 4)
    assert n == ndimage.label(spiral)[1] == 1


def test_label_keeps_different_values_apart():
    rng = np.random.default_rng(5)
    values = rng.integers(0, 4, (50, 45)).astype(np.int32)
    ours, n = label(values, 8)
    # reference: scipy on each value's mask, then the union of the partitions
    ref = np.zeros_like(ours)
    offset = 0
    for v in (1, 2, 3):
        lab, k = ndimage.label(values == v, structure=np.ones((3, 3)))
        ref[lab > 0] = lab[lab > 0] + offset
        offset += k
    assert n == offset
    assert same_partition(ours, ref)
    assert (ours[values == 0] == 0).all()


def test_label_rejects_bad_input():
    with pytest.raises(ValueError):
        label(np.zeros((3, 3)), 6)
    with pytest.raises(ValueError):
        label(np.zeros((3, 3), float))


def test_patch_stats_against_bincount():
    rng = np.random.default_rng(2)
    labels, n = label(rng.random((30, 33)) < 0.4)
    masks = rng.random((2, 30, 33)) < 0.5
    s = patch_stats(labels, n, masks)
    rows, cols = np.indices(labels.shape)
    cells = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    np.testing.assert_array_equal(s["cells"], cells)
    np.testing.assert_allclose(s["row"], np.bincount(labels.ravel(), rows.ravel())[1:] / cells)
    np.testing.assert_allclose(s["col"], np.bincount(labels.ravel(), cols.ravel())[1:] / cells)
    for k in range(2):
        np.testing.assert_array_equal(
            s["inside"][:, k], np.bincount(labels.ravel(), masks[k].ravel(), n + 1)[1:])
    first = [np.flatnonzero(labels.ravel() == i)[0] for i in range(1, n + 1)]
    np.testing.assert_array_equal(s["first"], first)


# -- change patches: 100 m cells (1 ha each), classes of DEFAULT_CLASSES --------------------
CROP, FOREST, BUILT, WATER = 1, 3, 7, 17


def territory(shape=(6, 8), units: bool = True) -> Territory:
    import geopandas as gpd
    import shapely

    t = Territory(Grid("EPSG:32649", (100.0, 0, 500000.0, 0, -100.0, 3000000.0), shape),
                  DEFAULT_CLASSES, name="test")
    if units:  # west half unit 1 (district A), east half unit 2 (district B)
        ids = np.ones(shape, np.int32)
        ids[:, shape[1] // 2:] = 2
        t.set_field("planning__unit_id", ids)
        t.add_layer("planning_units", gpd.GeoDataFrame(
            {"unit_id": [1, 2], "name": ["West", "East"], "district": ["A", "B"],
             "city": ["C", "C"]}, geometry=[shapely.box(0, 0, 1, 1)] * 2, crs="EPSG:32649"))
    return t


def test_severity_rules_one_patch_each():
    t = territory()
    before = np.full((6, 8), CROP, np.uint8)
    before[0:2, 0:2] = FOREST
    before[4:6, 6:8] = WATER
    after = before.copy()
    after[0:2, 0:2] = BUILT          # forest -> built inside the red line: critical (4 ha)
    after[3, 2:5] = BUILT            # cropland -> built inside farmland (2 cells), 1 outside
    after[5, 0] = FOREST             # cropland -> forest inside farmland: high (1 ha)
    after[4, 6] = BUILT              # water -> built on the water line: high (1 ha)
    after[5, 7] = CROP               # water -> cropland on the water line: medium (1 ha)
    after[0, 7] = BUILT              # cropland -> built outside the boundary: medium
    red = np.zeros((6, 8), bool)
    red[0:2, 0:2] = True
    farm = np.zeros((6, 8), bool)
    farm[2:6, 0:4] = True
    udb = np.zeros((6, 8), bool)
    udb[:, 4:7] = True               # the boundary covers columns 4-6
    water = before == WATER
    lines = ControlLines({"ecological_red_line": red, "permanent_basic_farmland": farm,
                          "urban_development_boundary": udb, "water_line": water})
    r = change_patches(t, before, after, lines, min_area_ha=1.0)
    p = r.patches.set_index(["from_class", "to_class", "cells"])
    assert len(p) == 6 and r.changed_cells == 4 + 3 + 1 + 1 + 1 + 1
    assert p.loc[(FOREST, BUILT, 4), "severity"] == "critical"
    assert p.loc[(FOREST, BUILT, 4), "red_line_ha"] == 4.0
    row = p.loc[(CROP, BUILT, 3)]
    assert row["severity"] == "critical" and row["basic_farmland_ha"] == 2.0
    assert row["outside_boundary_ha"] == 2.0  # columns 2 and 3 lie west of the boundary
    assert p.loc[(CROP, FOREST, 1), "severity"] == "high"
    assert p.loc[(WATER, BUILT, 1), "severity"] == "high"
    assert p.loc[(WATER, CROP, 1), "severity"] == "medium"
    assert p.loc[(CROP, BUILT, 1), "severity"] == "medium"
    assert p.loc[(CROP, BUILT, 1), "touches"] == "outside_urban_development_boundary"
    # most severe first, then the largest
    assert r.patches["severity"].tolist() == ["critical"] * 2 + ["high"] * 2 + ["medium"] * 2
    assert r.patches["area_ha"].tolist()[:2] == [4.0, 3.0]
    # ids follow that order, in the table and the raster alike
    assert r.patches["patch_id"].tolist() == list(range(1, 7))
    assert (r.labels[0:2, 0:2] == 1).all() and (r.labels[3, 2:5] == 2).all()
    # the 3-cell patch spans both units (2 cells in the west): its unit is the west one
    assert p.loc[(CROP, BUILT, 3), "unit"] == "West"
    # centroid of the 2x2 block: x = 500000 + 100, y = 3000000 - 100
    assert p.loc[(FOREST, BUILT, 4), ["x", "y"]].tolist() == [500100.0, 2999900.0]


def test_minimum_size_and_transitions_apart():
    t = territory(units=False)
    before = np.full((6, 8), CROP, np.uint8)
    after = before.copy()
    after[1, 1:4] = BUILT     # 3 ha
    after[2, 1:3] = FOREST    # touches the built patch, another transition: its own patch
    after[5, 7] = BUILT       # 1 ha
    r = change_patches(t, before, after, ControlLines({}), min_area_ha=2.0)
    assert sorted(r.patches["cells"].tolist()) == [2, 3]
    assert r.dropped == 1
    assert (r.patches["unit"] == "").all()
    r4 = change_patches(t, before, after, ControlLines({}), min_area_ha=0, connectivity=4)
    assert len(r4.patches) == 3


def test_farmland_balance_by_unit():
    t = territory()
    before = np.full((6, 8), FOREST, np.uint8)
    before[:, :2] = CROP                  # west: 12 ha of cropland
    after = before.copy()
    after[0:5, 0] = BUILT                 # west loses 5 ha
    after[0:5, 2] = CROP                  # ... and gains 5 ha: compensated
    after[0:4, 7] = CROP                  # east gains 4 ha
    after[5, 1] = BUILT                   # west loses 1 more: 6 lost, 5 gained
    b = farmland_balance(t, before, after).set_index("area")
    assert b.loc["West", ["lost_ha", "gained_ha", "net_ha"]].tolist() == [6.0, 5.0, -1.0]
    assert b.loc["West", "status"] == "red"  # 1 ha short of 6 lost: beyond 5 %
    assert "not compensated" in b.loc["West", "message"]
    assert b.loc["East", "status"] == "green" and b.loc["East", "gained_ha"] == 4.0
    assert b.loc["test", ["lost_ha", "gained_ha"]].tolist() == [6.0, 9.0]


def test_derived_stand_in_lines():
    t = territory(units=False)
    ref = np.full((6, 8), CROP, np.uint8)
    ref[0:3, 0:3] = BUILT       # a 9 ha town
    ref[5, :] = WATER
    ref[0:2, 6:8] = FOREST      # 4 ha of forest
    lines = control_lines(t, reference=ref, derive=True, udb_buffer_m=100, udb_min_ha=5,
                          farm_min_ha=10, eco_min_ha=4)
    assert set(lines.derived) == {"water_line", "urban_development_boundary",
                                  "permanent_basic_farmland", "ecological_red_line"}
    assert (lines.masks["water_line"] == (ref == WATER)).all()
    udb = lines.masks["urban_development_boundary"]
    # 100 m = one cell; the diagonal (3, 3) is 141 m away
    assert udb[0:4, 0:3].all() and udb[0:3, 3].all() and not udb[3, 3]
    assert not udb[4, 0] and not udb[0, 4]
    farm = lines.masks["permanent_basic_farmland"]
    assert not (farm & udb).any() and farm[4, 5] and not farm[5, 5]
    assert lines.masks["ecological_red_line"].sum() == 4
    assert "derived" in lines.label("water_line")
    with pytest.raises(InputError):
        control_lines(t, derive=True)


def test_year_arguments():
    assert list(parse_year_paths(["2003=a", "2010=b"])) == [2003, 2010]
    with pytest.raises(InputError, match="twice"):
        parse_year_paths(["2003=a", "2003=b"])
    with pytest.raises(InputError, match="out of order"):
        parse_year_paths(["2010=a", "2003=b"])
    with pytest.raises(InputError, match="YEAR=PATH"):
        parse_year_paths(["a.tif"])


def write_map(path, values, grid: Grid, nodata=255):
    from tim.store import write_raster

    write_raster(path, values, grid, nodata)
    return path


def test_observed_map_checks(tmp_path):
    t = territory()
    ok = np.full((6, 8), CROP, np.uint8)
    ok[0, 0] = 255
    read = read_observed_map(write_map(tmp_path / "ok.tif", ok, t.grid), t, "map")
    assert read[0, 0] == 255 and (read[1:] == CROP).all()
    bad = ok.copy()
    bad[2, 2] = 9                      # not in DEFAULT_CLASSES
    with pytest.raises(InputError, match=r"not in the TIM's class table.*9: 1"):
        read_observed_map(write_map(tmp_path / "bad.tif", bad, t.grid), t, "map")
    other = Grid("EPSG:32649", (50.0, 0, 500000.0, 0, -50.0, 3000000.0), (12, 16))
    with pytest.raises(InputError, match="another grid") as info:
        read_observed_map(write_map(tmp_path / "other.tif", np.ones((12, 16), np.uint8),
                                    other), t, "map")
    assert "other.tif" in str(info.value)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.float32])
def test_observed_map_codes_of_every_integer_width(tmp_path, dtype):
    """8-bit maps take a shortcut (no int64 copy): the same codes, nodata and refusals as the
    general path; a negative code is refused (Wuhan's maps are int8, nodata -128)."""
    t = territory()
    ok = np.full((6, 8), CROP, dtype)
    ok[0, 0] = -128
    ok[1, 1] = WATER
    read = read_observed_map(write_map(tmp_path / "ok.tif", ok, t.grid, -128), t, "map")
    assert read.dtype == np.uint8 and read[0, 0] == 255 and read[1, 1] == WATER
    assert (np.delete(read.ravel(), [0, 9]) == CROP).all()
    bad = ok.copy()
    bad[2, 2] = -3
    with pytest.raises(InputError, match=r"not in the TIM's class table.*-3(\.0)?: 1"):
        read_observed_map(write_map(tmp_path / "bad.tif", bad, t.grid, -128), t, "map")


def test_load_territory_reads_only_the_fields_asked_for(tmp_path):
    from tim.store import load_territory, save_territory

    t = territory()
    t.set_field("planning__unit_id", np.ones((6, 8), np.int32))
    t.set_field("control__water_line", np.zeros((6, 8), np.uint8))
    t.set_field("terrain__elevation", np.zeros((6, 8), np.float32))
    save_territory(t, tmp_path / "tim")
    some = load_territory(tmp_path / "tim", fields=lambda n: n.startswith("control__"))
    assert set(some.fields) == {"control__water_line"}
    assert set(load_territory(tmp_path / "tim").fields) == set(t.fields)


def twin(*args, cwd):
    import os

    env = {**os.environ}
    return subprocess.run([sys.executable, "-m", "viz.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def small_tim(tmp_path_factory):
    """A saved 6 x 8 TIM with units and control lines, and two observed maps."""
    from tim.store import save_territory

    d = tmp_path_factory.mktemp("monitoring")
    t = territory()
    before = np.full((6, 8), CROP, np.uint8)
    before[0:2, 0:2] = FOREST
    t.set_field("land_use__class", before)
    red = np.zeros((6, 8), np.uint8)
    red[0:2, 0:2] = 1
    t.set_field("control__ecological_red_line", red)
    save_territory(t, d / "tim")
    after = before.copy()
    after[0:2, 0:2] = BUILT
    after[4:6, 4:8] = BUILT
    write_map(d / "before.tif", before, t.grid)
    write_map(d / "after.tif", after, t.grid)
    return d


def test_cli_changes(small_tim, tmp_path):
    d = small_tim
    done = twin("changes", "--tim", d / "tim", "--before", f"2005={d / 'before.tif'}",
                "--after", f"2010={d / 'after.tif'}", "--out", tmp_path / "out",
                "--lang", "en,zh_CN", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 change patches 2005 -> 2010" in done.stdout
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "territory-twin/changes" and manifest["patches"] == 2
    assert manifest["by_severity"]["critical"] == {"patches": 1, "area_ha": 4.0}
    assert manifest["control_lines"]["ecological_red_line"]["source"] == "TIM"
    patches = pd.read_csv(out / "patches.csv")
    assert patches["severity"].tolist() == ["critical", "low"]
    import geopandas as gpd

    gdf = gpd.read_file(out / "patches.gpkg", layer="change_patches")
    assert sorted(gdf.area.round(3).tolist()) == [40000.0, 80000.0]
    assert gdf.set_index("patch_id").loc[1, "severity"] == "critical"
    html = (out / "report.html").read_text()
    assert "built-up land inside the ecological red line" in html
    assert "生态保护红线内新增建设用地" in (out / "report.zh_CN.html").read_text()
    assert {"report.html", "report.zh_CN.html"} <= set(manifest["files"])
    balance = pd.read_csv(out / "farmland_balance.csv").set_index("area")
    assert balance.loc["East", "lost_ha"] == 8.0 and balance.loc["East", "status"] == "red"
    # bad input: a map with an unknown code -> one line, exit 2
    from tim.store import write_raster

    bad = np.full((6, 8), 9, np.uint8)
    write_raster(tmp_path / "bad.tif", bad, territory().grid, 255)
    done = twin("changes", "--tim", d / "tim", "--before", f"2005={d / 'before.tif'}",
                "--after", f"2010={tmp_path / 'bad.tif'}", "--out", tmp_path / "o2",
                cwd=tmp_path)
    assert done.returncode == 2 and "class codes not in the TIM" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["engine.kernels.labelling", "scenarios.monitoring.observed",
                                  "scenarios.monitoring.changes",
                                  "scenarios.monitoring.evaluation", "tim.plan"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize("connectivity", [4, 8])
def test_change_patches_match_scipy_per_transition(connectivity):
    """Patch areas and areas inside a line equal scipy.ndimage.label run on each transition's
    mask in turn (the benchmark's baseline), on random maps with nodata."""
    rng = np.random.default_rng(connectivity)
    t = territory((40, 50), units=False)
    codes = np.array([CROP, FOREST, BUILT, WATER], np.uint8)
    before = codes[rng.integers(0, 4, (40, 50))]
    after = np.where(rng.random((40, 50)) < 0.4, codes[rng.integers(0, 4, (40, 50))], before)
    after[rng.random((40, 50)) < 0.05] = 255
    line = rng.random((40, 50)) < 0.3
    r = change_patches(t, before, after, ControlLines({"water_line": line}), min_area_ha=2.0,
                       connectivity=connectivity)
    structure = STRUCTURE[connectivity]
    changed = (before != after) & (after != 255)
    areas, inside = [], []
    for a in codes:
        for b in codes:
            lab, n = ndimage.label(changed & (before == a) & (after == b), structure=structure)
            for k in range(1, n + 1):
                if (lab == k).sum() >= 2:
                    areas.append(int((lab == k).sum()))
                    inside.append(int((line & (lab == k)).sum()))
    assert sorted(r.patches["cells"].tolist()) == sorted(areas)
    assert r.patches["water_line_ha"].sum() == sum(inside)
    # each kept patch in the raster has exactly its row's cells
    counts = np.bincount(r.labels.ravel(), minlength=len(r.patches) + 1)[1:]
    assert counts.tolist() == r.patches["cells"].tolist()


def _changes_case():
    t = territory()
    before = np.full((6, 8), CROP, np.uint8)
    after = before.copy()
    after[0:2, 0:2] = BUILT
    after[4, 6:8] = FOREST
    farm = np.zeros((6, 8), bool)
    farm[0:3, 0:3] = True
    r = change_patches(t, before, after, ControlLines({"permanent_basic_farmland": farm},
                                                      {"permanent_basic_farmland": "a rule"}))
    return t, r


def test_changes_report_content():
    from scenarios.reporting import Table, render_html
    from scenarios.monitoring.reports import changes_report

    t, r = _changes_case()
    report = changes_report(r, t, {"before": "a.tif", "after": "b.tif"})
    summary = report.section("summary")
    notes = [b for b in summary.blocks if type(b).__name__ == "Bullets"][0]
    assert notes.items == (("Permanent basic farmland: a derived stand-in, not an adopted line "
                            "(a rule).", ""),)
    severity = next(b for b in summary.blocks if isinstance(b, Table))
    assert [(row[0].text, row[1].text) for row in severity.rows] == [
        ("critical", "1"), ("high", "0"), ("medium", "0"), ("low", "1")]
    assert severity.rows[0][0].status == "red"
    leads = report.section("leads").blocks[0]
    assert [row[1].text for row in leads.rows] == ["critical", "low"]
    assert leads.rows[0][9].text == "Permanent basic farmland"
    # one map: patches coloured by severity, the (derived) farmland line drawn and in the legend
    (patch_map,) = report.figures("map")
    assert set(patch_map.colours) >= {"#7b1fa2", "#90a4ae"}
    assert "Permanent basic farmland (derived)" in [i.label for i in patch_map.legend]
    html = render_html(report)
    assert html.count("data:image/png;base64,") == 1
    assert "Farmland balance" in html and "West" in html  # the west unit lost 4 ha


def test_changes_report_in_chinese_uses_the_national_terms():
    from scenarios.monitoring.reports import changes_report
    from scenarios.reporting import render_html

    t, r = _changes_case()
    pictures: dict = {}
    en = changes_report(r, t, {}, "en", pictures=pictures)
    zh = changes_report(r, t, {}, "zh_CN", pictures=pictures)
    assert len(pictures) == 1  # the map is drawn once for both languages
    assert zh.figures()[0].png == en.figures()[0].png
    html = render_html(zh)
    assert '<html lang="zh-CN">' in html
    for term in ("永久基本农田", "耕地占补平衡", "严重", "永久基本农田内新增建设用地", "规划单元"):
        assert term in html, term
    assert "Leads to follow up" not in html and "critical" not in html


def test_printed_changes_report_pages_are_a4_not_blank_not_clipped(tmp_path):
    import shutil

    from scenarios.monitoring.reports import changes_report, write_reports
    from scenarios.reporting.pdf import content_box, pdf_pages, pdf_text

    if shutil.which("chromium") is None or shutil.which("pdftoppm") is None:
        pytest.skip("printing needs Chromium and poppler-utils (bootstrap.py installs them)")
    t, r = _changes_case()
    written = write_reports(lambda lang: changes_report(r, t, {}, lang), tmp_path,
                            ["zh_CN"], pdf=True)
    assert written == ["report.html", "report.pdf"]
    pages = pdf_pages(tmp_path / "report.pdf", dpi=30)
    assert len(pages) >= 2
    for number, page in enumerate(pages, 1):
        assert page.shape[:2] == (351, 248), f"page {number} is not A4 at 30 dpi"
        box = content_box(page)
        assert box is not None, f"page {number} is blank"
        top, left, bottom, right = box
        assert left >= 5 and right <= page.shape[1] - 5 and top >= 5 and \
            bottom <= page.shape[0] - 5, f"page {number}: content {box} reaches the edge"
    assert "永久基本农田" in "".join(pdf_text(tmp_path / "report.pdf"))


def test_patch_map_keeps_the_most_severe_cell_of_each_printed_block():
    from scenarios.monitoring.reports import most_severe
    from scenarios.reporting.figures import MAX_SIDE, thin

    rng = np.random.default_rng(3)
    ranks = np.full((2 * MAX_SIDE + 5, MAX_SIDE + 1), 9, np.uint8)
    cells = rng.integers(0, ranks.size, 300)
    ranks.flat[cells] = rng.integers(1, 5, 300)
    shown = thin(most_severe(ranks))
    step = 3  # ceil(1445 / 720)
    assert shown.shape == (-(-ranks.shape[0] // step), -(-ranks.shape[1] // step))
    for i in range(shown.shape[0]):  # the obvious reference: each block's minimum
        for j in range(shown.shape[1]):
            block = ranks[i * step:(i + 1) * step, j * step:(j + 1) * step]
            assert shown[i, j] == block.min()
    # every patch cell is still on the printed map (plain thinning drops about 8 in 9)
    assert (shown < 9).sum() == len({(r // step, c // step) for r, c in
                                      zip(*np.nonzero(ranks < 9))})


def test_doc_examples_of_the_reports():
    import doctest

    import scenarios.monitoring.reports as module

    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_report_languages_are_checked_first(small_tim, tmp_path):
    from scenarios.monitoring.reports import languages

    assert languages(["en,zh_CN"]) == ["en", "zh_CN"] and languages("zh") == ["zh_CN"]
    d = small_tim
    done = twin("changes", "--tim", d / "tim", "--before", f"2005={d / 'before.tif'}",
                "--after", f"2010={d / 'after.tif'}", "--out", tmp_path / "o", "--lang", "fr",
                cwd=tmp_path)
    assert done.returncode == 2 and "language not available" in done.stderr
    assert not (tmp_path / "o").exists()


def test_empty_line_fields_count_as_absent():
    t = territory(units=False)
    t.set_field("control__water_line", np.zeros((6, 8), np.uint8))  # a layer without the kind
    flood = np.zeros((6, 8), np.uint8)
    flood[5] = 1
    t.set_field("control__flood_risk", flood)
    t.set_field("control__ecological_red_line", np.zeros((6, 8), np.uint8))
    lines = control_lines(t)
    assert set(lines.masks) == {"water_line"} and lines.masks["water_line"][5].all()
    ref = np.full((6, 8), FOREST, np.uint8)
    derived = control_lines(t, reference=ref, derive=True, eco_min_ha=1)
    assert "ecological_red_line" in derived.derived and "water_line" not in derived.derived
    assert derived.masks["ecological_red_line"].all()

"""Monitoring on real data: Wuhan 2003 / 2005 / 2010 (PLUS test data; lines derived, units a
synthetic grid). Expected built-up areas are the class-4 cell counts of PROVENANCE.md x 0.09 ha."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

#: Built-up (class 4) cells per year, from ../shared/data/landuse/wuhan/PROVENANCE.md.
BUILT_CELLS = {2003: 362_518, 2005: 401_413, 2010: 612_505}
CELL_HA = 0.09  # 30 m cells


@pytest.fixture(scope="module")
def wuhan(twin_data):
    from scenarios.monitoring.observed import control_lines, read_observed_raster, read_series
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog

    d = twin_data / "landuse/wuhan"
    if not (d / "wh2010_refy.tif").is_file():
        pytest.skip(f"Wuhan data not found in {d}")
    territory = build_from_catalog(load_catalog("wuhan-2010"))
    maps = read_series(territory, {y: d / f"wh{y}_refy.tif" for y in BUILT_CELLS})
    water = read_observed_raster(d / "WaterWuhan.tif", territory, "water")
    return territory, maps, water


@pytest.mark.slow
def test_wuhan_assessment(wuhan):
    from scenarios.monitoring.assess import assess
    from scenarios.monitoring.observed import control_lines

    territory, maps, water = wuhan
    lines = control_lines(territory, reference=maps[2003], water_constraint=water, derive=True)
    assert set(lines.derived) == {"water_line", "urban_development_boundary",
                                  "permanent_basic_farmland", "ecological_red_line"}
    # the water line is the constraint's restricted cells (986,327 in PROVENANCE.md) where the
    # 2003 map has data (18 lie outside it)
    assert int(lines.masks["water_line"].sum()) == int(((water == 0) & (maps[2003] != 255)).sum())
    assert 986_327 - 100 < int(lines.masks["water_line"].sum()) <= 986_327
    a = assess(territory, maps, lines, population={2010: territory.fields["population__count"]})
    city = a.city.set_index(["year", "indicator"])["value"]
    for year, cells in BUILT_CELLS.items():
        assert city[(year, "built_up_area")] == pytest.approx(cells * CELL_HA)
    # 234 units in 26 districts, every year and indicator
    units = a.areas[(a.areas["level"] == "unit") & (a.areas["indicator"] == "built_up_area")]
    assert units["area_id"].nunique() == 234 and set(units["year"]) == set(BUILT_CELLS)
    assert np.isnan(city[(2005, "population")]) and city[(2010, "population")] > 6e6


@pytest.mark.slow
def test_wuhan_changes_and_evaluation(wuhan):
    from scenarios.monitoring.changes import change_patches
    from scenarios.monitoring.evaluation import evaluate
    from scenarios.monitoring.observed import control_lines

    territory, maps, water = wuhan
    a, b = maps[2005], maps[2010]
    lines = control_lines(territory, reference=a, water_constraint=water, derive=True)
    r = change_patches(territory, a, b, lines, years=(2005, 2010))
    changed = (a != b) & (a != 255) & (b != 255)
    assert r.changed_cells == int(changed.sum())
    assert r.patches["cells"].sum() <= r.changed_cells
    assert (r.patches["area_ha"] >= 1.0).all()
    # every patch's cells carry one transition
    cells = r.labels.ravel() > 0
    pair = a.ravel()[cells].astype(int) * 256 + b.ravel()[cells]
    first = r.patches.set_index("patch_id")
    expected = (first["from_class"] * 256 + first["to_class"]).to_numpy()
    assert (pair == expected[r.labels.ravel()[cells] - 1]).all()
    balance = r.balance.set_index("level").loc["city"]
    lost = ((a == 3) & (b != 3) & (b != 255)).sum() * CELL_HA
    assert balance["lost_ha"] == pytest.approx(lost)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ev = evaluate(territory)
    valid = territory.fields["land_use__class"] != 255
    for grade in ev.grades.values():
        assert ((grade > 0) == valid).all()  # every study-area cell graded, nothing else

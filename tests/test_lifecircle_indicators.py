"""The life-circle indicator family (``lifecircle_<type>`` in scenarios/indicators.yaml): residents
within each facility type's walking circle along the TIM's ``streets`` layer, derived by hand on a
4 x 4 street grid; n/a without streets or without the type in the data; a scenario's new
residents counted; the registry and the i18n catalogues know the family."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from scenarios.indicators import (LIFECIRCLE_INDICATORS, Baseline, compute_indicators,
                                  load_registry)
from tim.classes import DEFAULT_CLASSES
from tim.model import Grid, Territory

CRS = "EPSG:3857"


def _streets(n=4, step=100.0):
    lines = []
    for i in range(n):
        for j in range(n):
            x, y = i * step, j * step
            if i + 1 < n:
                lines.append(shapely.LineString([(x, y), (x + step, y)]))
            if j + 1 < n:
                lines.append(shapely.LineString([(x, y), (x, y + step)]))
    return gpd.GeoDataFrame(geometry=lines, crs=CRS)


def _cell(t, x, y):
    rows, cols, _ = t.grid.cells_of(np.array([x]), np.array([y]))
    return int(rows[0]), int(cols[0])


@pytest.fixture
def territory():
    # 10 m cells from x -100 to 700, y -100 to 500; streets 0..300 m at 100 m
    grid = Grid(CRS, (10.0, 0.0, -100.0, 0.0, -10.0, 500.0), (60, 80))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES, name="lc")
    t.set_field("land_use__class", np.full(grid.shape, DEFAULT_CLASSES.built.code, np.uint8))
    people = np.zeros(grid.shape, np.float32)
    people[_cell(t, 5, 5)] = 30      # centre (5, 5): 7.07 m from node (0, 0)
    people[_cell(t, 295, 295)] = 10  # centre (295, 295): 7.07 m from node (300, 300)
    t.set_field("population__count", people)
    t.add_layer("amenities", gpd.GeoDataFrame(
        {"kind": ["school", "park"]},
        geometry=[shapely.Point(0, 10), shapely.Point(300, 310)], crs=CRS))
    t.add_layer("streets", _streets())
    return t


def test_shares_derived_by_hand(territory):
    # 1 m/s = 60 m/min. To the school (10 m off node (0, 0)): (5, 5) walks 7.07 + 10 m;
    # (295, 295) walks 7.07 + 600 + 10 = 617.07 m = 10.28 min: outside the primary school's
    # 10 minutes, inside the middle school's 15. To the park (10 m off (300, 300)): the
    # other way round.
    values = compute_indicators(territory, Baseline.of(territory))
    assert values["lifecircle_primary_school"] == pytest.approx(75.0)
    assert values["lifecircle_middle_school"] == pytest.approx(100.0)
    assert values["lifecircle_park"] == pytest.approx(25.0)
    # no kindergarten, no transit stop in the data: n/a, never 0
    assert np.isnan(values["lifecircle_kindergarten"])
    assert np.isnan(values["lifecircle_transit_stop"])
    registry = load_registry()
    assert registry["lifecircle_primary_school"].status(75.0) == "yellow"
    assert registry["lifecircle_park"].status(25.0, "district") == "red"
    assert registry["lifecircle_park"].status(25.0, "unit") == "info"  # units: information


def test_new_residents_of_a_scenario_count(territory):
    baseline = Baseline.of(territory)
    state = territory.copy()
    people = state.get("population__count").copy()
    people[_cell(state, 295, 295)] += 20  # new residents far from the school
    state.set_field("population__count", people)
    values = compute_indicators(state, baseline)
    assert values["lifecircle_primary_school"] == pytest.approx(50.0)
    assert values["lifecircle_park"] == pytest.approx(50.0)


def test_without_streets_every_life_circle_indicator_is_na(territory):
    del territory.layers["streets"]
    values = compute_indicators(territory, Baseline.of(territory))
    assert all(np.isnan(values[k]) for k in LIFECIRCLE_INDICATORS)
    assert not np.isnan(values["population"])


def test_the_family_is_in_the_registry_and_in_chinese():
    from scenarios.i18n import catalogue

    registry, zh = load_registry(), catalogue("zh_CN")
    for key in LIFECIRCLE_INDICATORS:
        d = registry[key]
        assert d.unit == "%" and set(d.levels) == {"city", "district"}
        for text in (d.name, d.definition, d.formula, d.source):
            assert text in zh, text

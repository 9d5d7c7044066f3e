"""Height limits and view corridors: analytic geometry, hand-built territories with known
violations, rules files and bad input."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analysis.corridors import ViewCorridor
from engine.analysis.heights import (InclinedSurface, LimitLayer, ZoneRule, combine_limits,
                                     far_height)
from engine.analysis.sightlines import Point, raster_sightlines
from scenarios.planning.height_rules import load_rules, rules_from_zoning_layer
from scenarios.planning.heights import check_heights, read_proposals, write_heights
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.ingest.layers import normalise_buildings
from tim.model import Grid, Territory

CRS = "EPSG:3857"  # any projected CRS whose area of use contains the local metres


# --- view corridors -----------------------------------------------------------------------
def corridor(**kw):
    args = dict(name="c", viewpoint=(0.0, 0.0), eye_z=50.0, landmark=(1000.0, 0.0),
                threshold_z=30.0, half_width=50.0)
    return ViewCorridor(**(args | kw))


def test_the_envelope_falls_from_the_eye_to_the_threshold_and_is_level_across():
    c = corridor(background=200.0, landmark_top_z=45.0)
    x = np.array([1.0, 250.0, 500.0, 1000.0, 500.0, 500.0, 1100.0, 1300.0, -10.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 24.9, 25.1, 0.0, 0.0, 0.0])
    z = c.z_at(x, y)
    # along the axis: 50 - 20 s / 1000; the wedge is 50 s / 1000 wide either side
    np.testing.assert_allclose(z[:5], [49.98, 45.0, 40.0, 30.0, 40.0])
    assert np.isnan(z[5])  # 25.1 m off the axis at 500 m: outside the wedge
    # behind the landmark: under the line from the eye over the top (45 m at 1000 m)
    assert z[6] == pytest.approx(50 - 5 * 1.1) and np.isnan(z[7]) and np.isnan(z[8])
    assert c.bearing == pytest.approx(90.0) and c.half_angle == pytest.approx(
        math.degrees(math.atan(0.05)))


def test_a_block_at_the_envelope_keeps_the_landmark_just_visible():
    # The envelope's promise, checked with the (independent) raster sightline: a block on
    # the axis up to the envelope leaves the line to the landmark's threshold free; 0.5 m
    # more hides it.
    grid = Grid(CRS, (1.0, 0.0, -5.0, 0.0, -1.0, 60.0), (120, 1030))
    ground = np.zeros(grid.shape)
    c = corridor()
    envelope = c.envelope(grid, ground)
    rows, cols = slice(58, 63), slice(605, 610)  # a 5 x 5 m block around x = 600..605
    for extra, visible in ((0.0, True), (0.5, False)):
        surface = ground.copy()
        surface[rows, cols] = np.nanmin(envelope[rows, cols]) + extra
        line, = raster_sightlines(surface, grid, Point(0.5, 0.5, 50.0),
                                  [Point(1000.5, 0.5, 30.0)])
        assert line.visible == visible


@pytest.mark.parametrize("kw, message", [
    ({"landmark": (0.0, 0.0)}, "degenerate cone: the landmark is at the viewpoint"),
    ({"half_width": 0.0}, "degenerate cone: half_width"),
    ({"half_width": 2000.0}, "a view corridor may open at most"),
    ({"background": 100.0}, "needs the landmark's top"),
])
def test_degenerate_corridors_are_named(kw, message):
    with pytest.raises(InputError, match=message) as err:
        corridor(**kw)
    assert "view corridor 'c'" in str(err.value)


# --- inclined surfaces and limits ---------------------------------------------------------
def test_an_approach_surface_rises_from_its_edge_and_widens():
    s = InclinedSurface("approach", (0.0, -150.0), (0.0, 150.0), base_height=5.0, slope=0.02,
                        side="left", length=3000.0, divergence=0.15)  # left of north = west
    x = np.array([-1000.0, -1000.0, -1000.0, 10.0, -3001.0, -1000.0])
    y = np.array([0.0, 299.0, 301.0, 0.0, 0.0, -299.0])
    z = s.z_at(x, y)
    # 1000 m out the half width is 150 + 150 = 300 m; behind the edge and beyond 3 km: none
    np.testing.assert_allclose(z[[0, 1, 5]], [25.0, 25.0, 25.0])
    assert np.isnan(z[[2, 3, 4]]).all()
    both = InclinedSurface("strip", (0.0, -150.0), (0.0, 150.0), 5.0, 0.02, side="both",
                           length=100.0)
    assert both.z_at(np.array([50.0, -50.0]), np.zeros(2)).tolist() == [6.0, 6.0]
    (sign, ring), = s.regions()
    assert sign == 1.0 and shapely.Polygon(ring).area == pytest.approx(
        0.5 * (300 + 1200) * 3000)


def test_far_limits_storeys_by_coverage():
    assert far_height(2.0, 0.5, 3.0) == 12.0 and far_height(1.0, 0.0, 3.0) == math.inf


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 4))
def test_combined_limits_are_the_lowest_applicable(seed, n):
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(n):
        h = rng.uniform(-5, 50, (6, 7))
        h[rng.random(h.shape) < 0.4] = np.nan
        layers.append(LimitLayer(f"r{k}", "zone", h))
    height, rule = combine_limits(layers, (6, 7))
    for r in range(6):
        for c in range(7):
            values = [(layer.height[r, c], k + 1) for k, layer in enumerate(layers)
                      if not np.isnan(layer.height[r, c])]
            if not values:
                assert np.isnan(height[r, c]) and rule[r, c] == 0
            else:
                low, k = min(values)
                assert height[r, c] == pytest.approx(max(low, 0.0)) and rule[r, c] == k


def test_contradictory_zone_limits_are_named():
    with pytest.raises(InputError, match="rules contradict each other: min_height 30"):
        ZoneRule("C1", max_height=20.0, min_height=30.0)


# --- a hand-built territory ---------------------------------------------------------------
def flat_territory(buildings: list[tuple], ground: float = 10.0) -> Territory:
    """200 x 100 m at 1 m, flat ground; buildings (id, x0, y0, x1, y1, height)."""
    grid = Grid(CRS, (1.0, 0.0, 0.0, 0.0, -1.0, 100.0), (100, 200))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES, name="flat")
    t.set_field("terrain__elevation", np.full(grid.shape, ground, dtype=np.float32))
    frame = gpd.GeoDataFrame({"building_id": [b[0] for b in buildings],
                              "height": [b[5] for b in buildings]},
                             geometry=[shapely.box(*b[1:5]) for b in buildings], crs=CRS)
    t.add_layer("buildings", normalise_buildings(frame, "test"))
    units = gpd.GeoDataFrame({"unit_id": [1, 2], "name": ["West", "East"]},
                             geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
                             crs=CRS)
    t.add_layer("planning_units", units)
    zones = gpd.GeoDataFrame({"zone": ["A", "B"], "pid": ["a1", "b1"]},
                             geometry=[shapely.box(0, 0, 100, 100),
                                       shapely.box(100, 0, 200, 100)], crs=CRS)
    t.add_layer("zones", zones)
    return t


RULES = """
name: test rules
storey_height: 3.0
zones:
  layer: zones
  zone_column: zone
  parcel_column: pid
  rules:
    - {zone: A, max_height: 20}
    - {zone: B, max_height: 30, max_far: 0.1}
inclined_surfaces:
  - name: slope
    line: [[200, 0], [200, 100]]     # east edge, rising to the west (left of north)
    base_height: 12.0
    slope: 0.5
    length: 60
"""


def test_buildings_are_checked_against_the_lowest_limit_over_their_footprint(tmp_path):
    buildings = [("in_a", 10, 10, 20, 20, 25.0),      # zone A: 25 > 20
                 ("straddle", 95, 10, 105, 20, 25.0),  # A and B: A's 20 governs
                 ("at_limit", 30, 10, 40, 20, 20.0),   # exactly at A's limit
                 ("sloped", 160, 40, 170, 50, 20.0)]   # under the slope, in B
    t = flat_territory(buildings)
    (tmp_path / "rules.yaml").write_text(RULES)
    rules = load_rules(tmp_path / "rules.yaml", t)
    proposal = gpd.GeoDataFrame({"building_id": ["new"], "height": [40.0]},
                                geometry=[shapely.box(120, 60, 130, 70)], crs=CRS)
    proposal.to_file(tmp_path / "proposal.geojson")
    report = check_heights(t, rules, read_proposals(tmp_path / "proposal.geojson", t))
    b = report.buildings.set_index("building_id")
    # The slope: 12 + 0.5 d m, d = distance west of x = 200; the footprint's nearest vertex
    # to the edge is 30 m away: 27 m absolute, 17 m above the 10 m ground.
    expected = {"in_a": (20.0, 5.0, "zone A: max height"),
                "straddle": (20.0, 5.0, "zone A: max height"),
                "at_limit": (20.0, 0.0, "zone A: max height"),
                "sloped": (17.0, 3.0, "slope"),
                "new": (30.0, 10.0, "zone B: max height")}
    for bid, (limit, excess, rule) in expected.items():
        assert b.loc[bid, "max_height_m"] == pytest.approx(limit)
        assert b.loc[bid, "excess_m"] == pytest.approx(excess)
        assert b.loc[bid, "rule"] == rule
    assert b["violation"].to_dict() == {"in_a": True, "straddle": True, "at_limit": False,
                                        "sloped": True, "new": True}
    assert b.loc["new", "source"] == "proposed"
    units = report.units.set_index("unit")
    # straddle's centroid (100, 15) is on the units' shared edge: in neither, it is unit 0
    assert units.loc["West", "violations"] == 1 and units.loc["East", "violations"] == 2
    assert units.loc["East", "excess_volume_m3"] == pytest.approx(3.0 * 100 + 10.0 * 100)
    # FAR per parcel (existing buildings): B holds half of straddle (50 m2) and sloped
    # (100 m2); storeys = round(height / 3): 8 and 7 -> (50 * 8 + 100 * 7) / 10000 = 0.11
    p = report.parcels.set_index("parcel_id")
    assert p.loc["b1", "far"] == pytest.approx(0.11) and bool(p.loc["b1", "far_violation"])
    assert p.loc["b1", "far_height_m"] == pytest.approx(0.1 / (150 / 10000) * 3.0, rel=1e-3)
    # The raster: cells in A at 20 m; B's FAR height 20 m; under the slope 12 + 0.5 d - 10
    xs, _ = t.grid.cell_centres()
    row = report.max_height[50]
    assert (row[xs < 100] == 20.0).all()
    d = 200 - xs
    slope = 2.0 + 0.5 * d
    expected_b = np.minimum(np.where(d <= 60, slope, np.inf), 20.0)
    np.testing.assert_allclose(row[xs > 100], expected_b[xs > 100], atol=1e-4)
    out = write_heights(report, t, tmp_path / "out")
    assert {p.name for p in out.iterdir()} >= {"manifest.json", "buildings.json", "heights.gpkg",
                                               "violations.csv", "parcels.csv", "units.csv",
                                               "rules.geojson", "rasters"}


def test_a_zone_minimum_above_another_rules_maximum_is_a_contradiction(tmp_path):
    t = flat_territory([("x", 10, 10, 20, 20, 5.0)])
    (tmp_path / "rules.yaml").write_text(RULES.replace("{zone: B, max_height: 30, max_far: 0.1}",
                                                       "{zone: B, min_height: 25}"))
    rules = load_rules(tmp_path / "rules.yaml", t)
    with pytest.raises(InputError, match="zone 'B' requires at least 25 m but slope allows"):
        check_heights(t, rules)


@pytest.mark.parametrize("edit, field, message", [
    (("storey_height: 3.0", "storey_hight: 3.0"), "storey_hight", "Extra inputs"),
    (("- {zone: A, max_height: 20}",
      "- {zone: A, max_height: 20}\n    - {zone: A, max_height: 12}"),
     "zones", "zone 'A' is given twice with different limits"),
    (("- {zone: A, max_height: 20}", "- {zone: Q, max_height: 20}"), "zones.rules",
     "rules for zones that no polygon has"),
    (("- {zone: A, max_height: 20}", "- {zone: A, max_height: 20, min_height: 25}"),
     "zones.rules.0", "rules contradict each other: min_height 25 m is above max_height 20"),
    (("slope: 0.5", "slope: -0.5"), "inclined_surfaces.0.slope", "greater than or equal"),
    (("line: [[200, 0], [200, 100]]", "line: [[200, 0], [200, 0]]"), "inclined surface",
     "the line has no length"),
])
def test_bad_rules_name_the_file_and_key(tmp_path, edit, field, message):
    t = flat_territory([("x", 10, 10, 20, 20, 5.0)])
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace(*edit))
    with pytest.raises(InputError, match=message) as err:
        load_rules(path, t)
    assert field in str(err.value)


def test_corridors_in_rules_files_are_checked_on_the_territory(tmp_path):
    t = flat_territory([("x", 10, 10, 20, 20, 5.0)])
    base = ("view_corridors:\n  - name: v\n    viewpoint: [{vx}, 50]\n    {eye}\n"
            "    landmark: [190, 50]\n    threshold_height: 10\n    half_width: 5\n")
    cases = [(dict(vx=-50, eye="eye_height: 1.6"), "outside the territory"),
             (dict(vx=5, eye="eye_z: 3.0"), "the viewpoint is underground"),
             (dict(vx=5, eye="eye_z: 30\n    eye_height: 2"), "exactly one of eye_height")]
    for values, message in cases:
        (tmp_path / "c.yaml").write_text(base.format(**values))
        with pytest.raises(InputError, match=message):
            check_heights(t, load_rules(tmp_path / "c.yaml", t))


def test_a_zoning_layer_with_limits_needs_no_rules_file():
    t = flat_territory([("low", 10, 10, 20, 20, 8.0), ("high", 150, 10, 160, 20, 31.0)])
    zoning = t.layers["zones"].assign(max_height=[12.0, 30.0], max_far=[None, 2.0])
    t.add_layer("zoning", zoning)
    report = check_heights(t, rules_from_zoning_layer(t))
    b = report.buildings.set_index("building_id")
    assert b["max_height_m"].to_dict() == {"low": 12.0, "high": 30.0}
    assert b["violation"].to_dict() == {"low": False, "high": True}
    assert b.loc["high", "excess_m"] == pytest.approx(1.0)
    t.add_layer("zoning", pd.concat([zoning, zoning.iloc[[0]].assign(max_height=15.0)]))
    with pytest.raises(InputError, match="zone 'A' has different max_height values"):
        rules_from_zoning_layer(t)
    t.layers.pop("zoning")
    with pytest.raises(InputError, match="no height rules: the TIM has no 'zoning' layer"):
        rules_from_zoning_layer(t)


def test_a_territory_without_buildings_still_gets_its_limits(tmp_path):
    t = flat_territory([("x", 10, 10, 20, 20, 5.0)])
    t.layers.pop("buildings")
    (tmp_path / "rules.yaml").write_text(RULES)
    report = check_heights(t, load_rules(tmp_path / "rules.yaml", t))
    assert len(report.buildings) == 0 and len(report.violations) == 0
    assert report.max_height[50, 10] == 20.0  # zone A
    out = write_heights(report, t, tmp_path / "out")
    assert (out / "buildings.csv").read_text().startswith("building_id,source,")

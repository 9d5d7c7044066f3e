"""Hong Kong's facility access two ways (straight line, along the roads through the life-circle
functions) on a small territory where both are worked out by hand, and their dashboard panels
(with the ridgeline's) in the Heights & views tab of a territory without buildings."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from scenarios.planning.facility_access import (HONG_KONG_KINDS, facility_access,
                                                network_access, write_access)
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.model import Grid, Territory

CRS = "EPSG:2326"
KINDERGARTEN = tuple(k for k in HONG_KONG_KINDS if k.name == "kindergarten")


def _territory(join: bool = False) -> Territory:
    """3 rows x 10 columns of 100 m; 100 residents in each cell of the bottom row (centres
    y = 50, x = 50 ... 950); unit 1 = columns 0-4, unit 2 = columns 5-9. One kindergarten at
    the centre of the top-left cell (50, 250). Roads along the bottom row: x 0 -> 450 and,
    150 m apart (not joined), 600 -> 1000."""
    grid = Grid(CRS, (100.0, 0.0, 0.0, 0.0, -100.0, 300.0), (3, 10))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES, name="access")
    people = np.zeros(grid.shape, np.float32)
    people[2, :] = 100.0
    t.set_field("population__count", people)
    units = np.zeros(grid.shape, np.int32)
    units[:, :5], units[:, 5:] = 1, 2
    t.set_field("planning__unit_id", units)
    t.add_layer("planning_units", gpd.GeoDataFrame(
        {"unit_id": [1, 2], "name": ["West", "East"], "district": ["D", "D"]},
        geometry=[shapely.box(0, 0, 500, 300), shapely.box(500, 0, 1000, 300)], crs=CRS))
    far = 470 if join else 600
    t.add_layer("roads", gpd.GeoDataFrame(
        {"Class": ["Main", "Main"]},
        geometry=[shapely.LineString([(0, 50), (450, 50)]),
                  shapely.LineString([(far, 50), (1000, 50)])], crs=CRS))
    t.add_layer("facilities_2022", gpd.GeoDataFrame(
        {"category": ["kindergarten"], "subcategory": ["kindergarten"],
         "coord_conflict_m": [0.0]}, geometry=[shapely.Point(50, 250)], crs=CRS))
    return t


def test_straight_line_and_roads_by_hand():
    t = _territory()
    straight = facility_access(t, KINDERGARTEN)
    roads = network_access(t, KINDERGARTEN)
    # straight, cell centre to cell centre: 100 * sqrt(2^2 + k^2) for column k is 200, 224,
    # 283, 361 m: columns 0-2 within 300 m -> 300 of unit 1's 500 residents
    # roads: 200 m straight to the road vertex below the kindergarten, then 100 m per column:
    # 200, 300, 400 m: columns 0-1 -> 200 of 500
    for result, share in ((straight, 60.0), (roads, 40.0)):
        unit = result.unit.set_index("name")
        assert unit.loc["West", "kindergarten_pct"] == pytest.approx(share)
        assert unit.loc["East", "kindergarten_pct"] == 0.0
        assert result.district.set_index("district").loc["Hong Kong 香港", "residents"] == 1000
    # the eastern piece of road has no kindergarten: its five cells are unreachable (column 5,
    # x = 550, is 50 m from it and 100 m from the western piece)
    assert roads.counts["components"] == 2
    assert roads.counts["residents_unreachable"]["kindergarten"] == 500
    assert np.isnan(roads.missing[0, 0]) and roads.missing[2, 1] == 0 and \
        roads.missing[2, 2] == 1
    # joined within 25 m (a digitising gap): one network, and column 5 is reached (too far)
    joined = network_access(_territory(join=True), KINDERGARTEN)
    assert joined.counts["components"] == 1
    assert joined.counts["residents_unreachable"]["kindergarten"] == 0


def test_a_kind_the_standards_lack_is_refused():
    from scenarios.planning.facility_access import FacilityKind

    odd = FacilityKind("library", "facilities_2022", 500.0, lambda f: f["category"] == "x", "")
    with pytest.raises(InputError, match="library"):
        network_access(_territory(), (odd,))


def test_panels_in_the_heights_tab_without_buildings(tmp_path):
    from scenarios.planning.ridgeline import Vantage, towers_against_ridgeline, write_ridgeline
    from viz.app import Provenance
    from viz.tabs import heights

    t = _territory()
    tim = tmp_path / "tim"
    tim.mkdir()
    straight, roads = facility_access(t, KINDERGARTEN), network_access(t, KINDERGARTEN)
    write_access([straight, roads], t, tmp_path / "tim-access", KINDERGARTEN)
    z = np.zeros(t.grid.shape, np.float32)
    z[:, 8:] = 200.0  # a ridge at the east end
    t.set_field("terrain__elevation", z)
    towers = gpd.GeoDataFrame({"name_en": ["High", "Low"], "top_mpd": [400.0, 20.0]},
                              geometry=[shapely.Point(550, 150), shapely.Point(550, 150)],
                              crs=CRS)
    eye = Vantage(50.0, 150.0, 1.6, "Pier")
    write_ridgeline(towers_against_ridgeline(t, eye, towers, within=5000, reach=1000), eye,
                    tmp_path / "tim-ridgeline")

    board = SimpleNamespace(provenance=Provenance(tims=(str(tim),)), runs=(), heights=())
    assert heights.available(board)
    page = heights.layout(board)
    text = str(page)
    assert "access-district-table" in text and "ridgeline-map" in text
    district = next(c for c in _walk(page) if getattr(c, "id", None) == "access-district-table")
    rows = district.children[1].children
    assert len(rows) == 2  # D and the Hong Kong total
    # district D holds both units, 1,000 residents: 300 and 200 of them (first test) in reach
    assert rows[0].children[2].children == "30 / 20"  # straight / roads
    summary = next(c for c in _walk(page) if getattr(c, "id", None) == "ridgeline-summary")
    assert summary.to_plotly_json()["props"]["data-breaking"] == 1  # the 400 m roof only
    # in 3D, without a height check: the towers as pins from base to roof, coloured as on
    # the map, the vantage point at eye level; the home view
    from viz.planning_checks import BELOW, BREAKS, HIDDEN

    board.tiles, board.ground = SimpleNamespace(geoid_height=10.0), None
    spec, legend = heights.base_scene(board)
    assert spec["key"] == "heights:base"
    # seen from the pier (x 50) towards the towers (x 550): looking east
    assert spec["camera"]["heading"] == pytest.approx(90.0)
    assert spec["camera"]["range"] == pytest.approx(1000.0)
    lines = {line["name"]: line for line in spec["entities"]["lines"]}
    assert set(lines) == {"High", "Low"} and lines["High"]["colour"] == BREAKS
    assert lines["Low"]["colour"] in (BELOW, HIDDEN)
    assert lines["High"]["positions"][5] == pytest.approx(400.0 + 10.0)  # roof + geoid
    vantage = spec["entities"]["points"][-1]
    assert vantage["name"] == "Pier" and vantage["position"][2] == pytest.approx(10.0 + 1.6)
    assert len(legend) == 3
    # nothing beside the TIM: the tab is not offered
    empty = SimpleNamespace(provenance=Provenance(tims=(str(tmp_path / "other"),)), runs=(),
                            heights=())
    assert not heights.available(empty)


def _walk(component):
    """Every component under ``component`` (lists and children)."""
    if isinstance(component, (list, tuple)):
        for c in component:
            yield from _walk(c)
        return
    yield component
    children = getattr(component, "children", None)
    if children is not None and not isinstance(children, str):
        yield from _walk(children)

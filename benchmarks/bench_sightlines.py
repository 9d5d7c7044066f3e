"""Sightlines on Den Haag (a TIM built from the CityJSON: 844 LoD2 buildings, 35,588 roof and
wall triangles, on the TIN terrain sampled at 1 m, 673 x 789 cells) from the dune at the tile's
seaward end: the raster walk (Numba, parallel over targets) beside the exact mesh method
(Embree first-hit pass + float64 plane sections of every building crossed), and the mesh
method without its Embree pass (every line measured).

Targets: building tops (most lines blocked, many blockers each) and random points 1.5 m above
the ground where the TIN has it (many lines free, where the Embree pass saves the sections).
Both mesh variants give identical blockers; the raster agrees on which lines are free except
where a line grazes a footprint edge inside a cell or passes over a pitched roof below the
building's highest point, which the raster's flat-topped cells raise to it (checked before
timing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from validators import twin_data

REPO = Path(__file__).resolve().parents[1]
DATA = twin_data()  # the shared data folder, found as the tests find it
CITY = DATA / "city" / "denhaag_scheveningen" / "DenHaag_01_v2.city.json"
pytestmark = pytest.mark.skipif(not CITY.is_file(), reason=f"Den Haag CityJSON not at {CITY}")


@pytest.fixture(scope="module")
def city():
    from scenarios.planning.sightlines import BuildingScene, point_at
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec

    territory = build_territory([SourceSpec(path=CITY, role="city_model")], cell_size=1.0)
    layer = territory.layers["buildings"]
    tops = [point_at(territory, p.x, p.y, None, h, "top")
            for p, h in zip(layer.geometry.representative_point(), layer["height"])]
    rng = np.random.default_rng(3)
    xmin, ymin, xmax, ymax = territory.grid.bounds
    x, y = rng.uniform(xmin, xmax, 20000), rng.uniform(ymin, ymax, 20000)
    on_tin = np.isfinite(territory.get("terrain__elevation").ravel()[
        territory.grid.cell_index(x, y)])
    ground = [point_at(territory, x, y, None, 1.5, "target")
              for x, y in zip(x[on_tin][:5000], y[on_tin][:5000])]
    scene = BuildingScene.from_territory(territory)
    viewpoint = point_at(territory, 78400.0, 458150.0, None, 1.6, "viewpoint")
    return territory, scene, viewpoint, {"tops": tops, "ground": ground}


CASES = [("tops", 100), ("tops", 844), ("ground", 5000)]


@pytest.mark.parametrize("kind, n", CASES)
@pytest.mark.parametrize("impl", ["raster (Numba)", "mesh (Embree + sections)",
                                  "mesh (sections only)"])
def test_sightlines(benchmark, city, kind, n, impl):
    from scenarios.planning.sightlines import territory_sightlines

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

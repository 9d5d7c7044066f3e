"""Sunlight hours on Den Haag (a TIM built from the CityJSON: 844 LoD2 buildings as prisms, the
TIN terrain at 1 m): every ground-floor façade point (1 per <= 3 m of façade) over the 大寒日
window 08:00-16:00 true solar time at 1-minute steps, by the Numba kernel
(:func:`engine.kernels.shadow.sun_codes`, parallel over points), beside the slow reference
(tests/sunlight_reference.py: every ray against every wall) on a subset of the points.

Rows of group ``sunlight-rays`` time the same subset by both; the ratio of their means is the
speed-up per (point, time) pair. ``sunlight-all`` is the whole façade set by the kernel (goal:
<= 10 s on 2 cores). The agreement of both on the subset is asserted before timing.
"""

from __future__ import annotations

import numpy as np
import pytest
from validators import twin_data

import sunlight_reference as ref

DATA = twin_data()
CITY = DATA / "city" / "denhaag_scheveningen" / "DenHaag_01_v2.city.json"
pytestmark = pytest.mark.skipif(not CITY.is_file(), reason=f"Den Haag CityJSON not at {CITY}")


@pytest.fixture(scope="module")
def den_haag():
    from engine.kernels.shadow import sun_codes
    from scenarios.planning.sunlight import (_scene, _site_of, facade_points,
                                             load_sunlight_rules, standard_day, sun_path)
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec
    from tim.tiles.buildings import building_base_z

    territory = build_territory([SourceSpec(path=CITY, role="city_model")], cell_size=1.0)
    frame = territory.layers["buildings"]
    base = building_base_z(territory, frame.geometry.values)
    origin = np.array(territory.grid.bounds[:2])
    terrain = territory.get("terrain__elevation")
    scene = _scene(territory, frame, base, origin, terrain)
    rules, _ = load_sunlight_rules()
    pts = facade_points(frame.geometry.values, base, sill=0.9, spacing=3.0, min_length=1.0)
    day, window, _ = standard_day(rules, "dahan")
    lat, lon, north = _site_of(territory)
    sun = sun_path(lat, lon, day, window, 1.0, grid_north=north)
    xyz = pts.xyz - np.array([*origin, 0.0])
    sun_codes(scene, xyz[:10], pts.normals[:10], sun.vectors[:10])  # compile outside timing
    rings, owner = [], []
    import shapely

    for i, poly in enumerate(frame.geometry.values):
        for part in shapely.get_parts(poly):
            for ring in [part.exterior, *part.interiors]:
                rings.append(np.asarray(ring.coords)[:, :2] - origin)
                owner.append(i)
    walls, wall_owner = ref.walls_of(rings, np.array(owner))
    top = base + frame["height"].to_numpy(float)
    return scene, xyz, pts.normals, sun.vectors[::8], sun.vectors, walls, wall_owner, base, \
        top, terrain


def _subset(xyz, normals, k=40):
    pick = np.linspace(0, len(xyz) - 1, k).astype(int)
    return xyz[pick], normals[pick]


def test_agreement(den_haag):
    from engine.kernels.shadow import SUNLIT, sun_codes

    scene, xyz, normals, sun, _, walls, owner, base, top, terrain = den_haag
    p, n = _subset(xyz, normals)
    fast = sun_codes(scene, p, n, sun) == SUNLIT
    slow = ref.sunlit(walls, owner, base, top, p, n, sun, terrain=terrain,
                      terrain_transform=scene.terrain_transform)
    agree = (fast == slow).mean()
    print(f"\nagreement on {fast.size} (point, time) pairs: {100 * agree:.2f} %")
    assert agree >= 0.995


@pytest.mark.benchmark(group="sunlight-rays")
def test_kernel_subset(benchmark, den_haag):
    from engine.kernels.shadow import sun_codes

    scene, xyz, normals, sun, *_ = den_haag
    p, n = _subset(xyz, normals)
    benchmark(sun_codes, scene, p, n, sun)


@pytest.mark.benchmark(group="sunlight-rays")
def test_reference_subset(benchmark, den_haag):
    scene, xyz, normals, sun, _, walls, owner, base, top, terrain = den_haag
    p, n = _subset(xyz, normals)
    benchmark.pedantic(ref.sunlit, args=(walls, owner, base, top, p, n, sun),
                       kwargs={"terrain": terrain,
                               "terrain_transform": scene.terrain_transform},
                       rounds=1, iterations=1)


@pytest.mark.benchmark(group="sunlight-all")
def test_kernel_all_facade_points(benchmark, den_haag):
    from engine.kernels.shadow import sun_codes

    scene, xyz, normals, _, sun_all, *_ = den_haag
    codes = benchmark.pedantic(sun_codes, args=(scene, xyz, normals, sun_all), rounds=2,
                               iterations=1)
    print(f"\n{len(xyz)} façade points x {len(sun_all)} minutes = {codes.size} rays")

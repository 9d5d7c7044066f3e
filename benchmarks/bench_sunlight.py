"""Sunlight hours on Den Haag (a TIM built from the CityJSON: 844 LoD2 buildings as prisms, the
TIN terrain at 1 m): every ground-floor façade point (1 per <= 3 m of façade) over the 大寒日
window 08:00-16:00 true solar time at 1-minute steps, by the Numba kernel
(:func:`engine.kernels.shadow.sun_codes`, parallel over points), beside the slow reference
(tests/sunlight_reference.py: every ray against every wall) on a subset of the points, and
beside a peer ray caster on all of them: Embree (trimesh + embreex) over the same prisms and
flat-topped terrain cells as a triangle mesh, the same points and sun directions.

Rows of group ``sunlight-rays`` time the same subset by the kernel and the slow reference; the
ratio of their means is the speed-up per (point, time) pair. ``sunlight-all`` times the whole
façade set by the kernel (goal: <= 10 s on 2 cores) and by Embree (its BVH built before timing,
as the kernel's wall grid is). The agreement of each pair is asserted (>= 99.5 % of the (point,
time) pairs) and printed.
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
    # The peer: the same walls and terrain as triangles; nothing below the lowest sill can
    # stop a ray rising from a sill, so the ground under it is left out of the mesh.
    mesh = ref.prism_and_terrain_mesh(walls, wall_owner, base, top, terrain=terrain,
                                      terrain_transform=scene.terrain_transform,
                                      floor=float(xyz[:, 2].min()))
    embree = ref.embree_intersector(mesh)
    ref.embree_sunlit(embree, xyz[:10], pts.normals[:10], sun.vectors[:10])  # builds the BVH
    return scene, xyz, pts.normals, sun.vectors[::8], sun.vectors, walls, wall_owner, base, \
        top, terrain, embree


def _subset(xyz, normals, k=40):
    pick = np.linspace(0, len(xyz) - 1, k).astype(int)
    return xyz[pick], normals[pick]


def test_agreement(den_haag):
    from engine.kernels.shadow import SUNLIT, sun_codes

    scene, xyz, normals, sun, _, walls, owner, base, top, terrain, _ = den_haag
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
    scene, xyz, normals, sun, _, walls, owner, base, top, terrain, _ = den_haag
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


def test_agreement_with_embree_on_all_facade_points(den_haag):
    from engine.kernels.shadow import SUNLIT, sun_codes

    scene, xyz, normals, _, sun_all, *_, embree = den_haag
    fast = sun_codes(scene, xyz, normals, sun_all) == SUNLIT
    peer = ref.embree_sunlit(embree, xyz, normals, sun_all)
    agree = (fast == peer).mean()
    print(f"\nEmbree: agreement on {fast.size} (point, time) pairs: {100 * agree:.3f} % "
          f"(sunlit: kernel {100 * fast.mean():.2f} %, Embree {100 * peer.mean():.2f} %; "
          f"{int((fast & ~peer).sum())} pairs sunlit by the kernel only, "
          f"{int((~fast & peer).sum())} by Embree only)")
    assert 0.05 < peer.mean() < 0.95  # both sunlit and shaded pairs
    assert agree >= 0.995


@pytest.mark.benchmark(group="sunlight-all")
def test_embree_all_facade_points(benchmark, den_haag):
    scene, xyz, normals, _, sun_all, *_, embree = den_haag
    benchmark.pedantic(ref.embree_sunlit, args=(embree, xyz, normals, sun_all), rounds=1,
                       iterations=1)

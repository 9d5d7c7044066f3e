"""Sunlight hours (scenarios/planning/sunlight.py, engine/kernels/shadow.py): boxes whose shade
is derived by hand, the sun against the declination formula, the check end to end on a flat
territory, bad input, and agreement with the slow reference (tests/sunlight_reference.py) on
real Den Haag LoD2 buildings."""

from __future__ import annotations

import math
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import shapely

import sunlight_reference as ref
from engine.kernels.shadow import AWAY, SUNLIT, build_scene, sun_codes
from scenarios.planning.sunlight import (check_sunlight, facade_points, load_sunlight_rules,
                                         sun_path, write_sunlight)
from tim.classes import DEFAULT_CLASSES
from tim.errors import InputError
from tim.ingest.layers import normalise_buildings
from tim.model import Grid, Territory

# CGCS2000 / 3-degree Gauss-Kruger CM 114E: at x = 500 km the grid north is true north.
CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_375_000.0  # about 30.5 N, 114 E (Wuhan)


def _box_scene(x0, y0, x1, y1, height, base=0.0, bounds=(-60.0, -60.0, 60.0, 60.0)):
    ring = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return build_scene([ring], np.array([0]), np.array([base]), np.array([height]), bounds,
                       cell=7.0)


def _sweep(elevation_deg, n=480):
    """The sun at one elevation sweeping from due west to due east through south: phi from
    south, positive towards the east."""
    phi = np.radians(-90 + 180 * (np.arange(n) + 0.5) / n)
    e = math.radians(elevation_deg)
    return np.column_stack([np.sin(phi) * math.cos(e), -np.cos(phi) * math.cos(e),
                            np.full(n, math.sin(e))]), np.degrees(phi)


def test_box_shades_a_wall_over_the_azimuths_derived_by_hand():
    # A 10 x 10 m box, 10 m high, 5..15 m south of a south-facing window sill at 0.9 m. With
    # the sun at 30 deg, a ray at phi from south meets the box's north wall (y = -5) at
    # x = 5 tan(phi): inside [-5, 5] iff |phi| <= 45 deg, at a height of at most
    # 0.9 + 5 / cos 45 * tan 30 = 4.98 m < 10 m; past 45 deg it passes north of the box.
    # Over 480 steps from phi = -90 to 90 deg, |phi| <= 45 holds for half: 240 steps.
    scene = _box_scene(-5, -15, 5, -5, 10.0)
    sun, phi = _sweep(30.0)
    codes = sun_codes(scene, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, -1.0]]), sun)[0]
    assert (codes == SUNLIT).sum() == 240
    assert np.array_equal(codes == 0, np.abs(phi) <= 45)
    # the same window facing north never sees this sun
    north = sun_codes(scene, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, 1.0]]), sun)[0]
    assert (north == AWAY).all()


def test_box_shades_a_wall_until_the_sun_clears_its_top():
    # Sun due south rising from 0 to 90 deg: the ray meets the north wall 5 m away at
    # 0.9 + 5 tan(e), under the 10 m top while tan(e) < 9.1 / 5.
    n = 900
    e = np.radians(90 * (np.arange(n) + 0.5) / n)
    sun = np.column_stack([np.zeros(n), -np.cos(e), np.sin(e)])
    scene = _box_scene(-5, -15, 5, -5, 10.0)
    codes = sun_codes(scene, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, -1.0]]), sun)[0]
    assert np.array_equal(codes == SUNLIT, np.tan(e) >= 9.1 / 5)
    # the same box 3 m lower (base -3, top 7): under the top while 0.9 + 5 tan(e) < 7
    low = _box_scene(-5, -15, 5, -5, 7.0, base=-3.0)
    codes = sun_codes(low, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, -1.0]]), sun)[0]
    assert np.array_equal(codes == SUNLIT, np.tan(e) >= 6.1 / 5)


def test_terrain_ridge_shades_like_a_wall():
    # A 1 m raster, flat at 0 except a ridge 8 m high in the row 10 m south of the point
    terrain = np.zeros((60, 60))
    terrain[40, :] = 8.0  # rows count down from y = 30: row 40 covers y in [-11, -10)
    scene = build_scene([], np.zeros(0, int), np.zeros(0), np.zeros(0), (-30, -30, 30, 30),
                        terrain=terrain, terrain_transform=(-30.0, 1.0, 30.0, -1.0))
    n = 600
    e = np.radians(60 * (np.arange(n) + 0.5) / n)
    sun = np.column_stack([np.zeros(n), -np.cos(e), np.sin(e)])
    codes = sun_codes(scene, np.array([[0.5, 0.5, 0.5]]), np.zeros((1, 2)), sun)[0]
    # the ray crosses the ridge's cell at distances 10.5 .. 11.5 m: lowest at 10.5 m
    assert np.array_equal(codes == SUNLIT, 0.5 + 10.5 * np.tan(e) >= 8.0)


def test_sun_path_against_the_declination_at_true_solar_noon():
    import pvlib

    day = date(2025, 1, 20)
    lat = 30.5
    sun = sun_path(lat, 114.0, day, (11.5, 12.5), 1.0)
    decl = math.degrees(float(pvlib.solarposition.declination_cooper69(day.timetuple().tm_yday)))
    # steps at 11:59:30 and 12:00:30 true solar time: the sun stands symmetric about south
    # (an error of 1 s in the equation of time or the longitude moves both by 0.004 deg)
    before, after = sun.azimuth[29], sun.azimuth[30]
    assert before < 180 < after and abs((before - 180) + (after - 180)) < 0.01
    assert abs(sun.elevation.max() - (90 - lat + decl)) < 0.3  # Cooper's formula: ~0.3 deg


def _flat(buildings, ground=20.0):
    grid = Grid(CRS, (1.0, 0.0, X0 - 100, 0.0, -1.0, Y0 + 100), (200, 200))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES, name="flat")
    t.set_field("terrain__elevation", np.full(grid.shape, ground, dtype=np.float32))
    frame = gpd.GeoDataFrame({"building_id": [b[0] for b in buildings],
                              "height": [b[5] for b in buildings]},
                             geometry=[shapely.box(X0 + b[1], Y0 + b[2], X0 + b[3], Y0 + b[4])
                                       for b in buildings], crs=CRS)
    t.add_layer("buildings", normalise_buildings(frame, "test"))
    return t


def test_check_a_proposal_south_of_a_slab(tmp_path):
    # A slab 60 m wide, 10 m deep, whose south façade is y = 0; a 100 m tower 80 m wide 20 m
    # south of it. A façade point at x loses the minutes when the ray towards the sun meets the
    # tower's north wall (y = -20, x in [-40, 40]), which is far below the tower's top, and has
    # the sun in front all the 大寒日 window at 30.5 N (azimuth 118 .. 242 deg).
    territory = _flat([("slab", -30, 0, 30, 10, 12.0)])
    tower = gpd.GeoDataFrame({"building_id": ["tower"], "height": [100.0]},
                             geometry=[shapely.box(X0 - 40, Y0 - 60, X0 + 40, Y0 - 20)], crs=CRS)
    rules, path = load_sunlight_rules(climate_zone="III", urban_population=2e6)
    report = check_sunlight(territory, normalise_buildings(tower, "p"), rules, path,
                            date="dahan")
    assert report.threshold_hours == 2
    pts = report.points
    south = pts[(pts.building_id == "slab") & (pts.y < Y0)]
    assert len(south) == 20  # 60 m / 3 m
    sun = report.sun
    assert (sun.elevation > 0).all() and (np.abs(sun.azimuth - 180) < 90).all()
    phi = np.radians(sun.azimuth - 180)  # towards the sun: (-sin phi, -cos phi) on the grid
    for x, before, after in zip(south.x - X0, south.hours_before, south.hours_after):
        # where the ray is at y = -20 (it starts 1 cm out of the wall: 19.99 m to go)
        shaded = np.abs(x - 19.99 * np.tan(phi)) <= 40
        assert before == pytest.approx(8.0)
        assert after == pytest.approx((~shaded).sum() / 60, abs=1e-9)
    assert south.hours_after.min() < 2 <= south.hours_after.max()
    row = report.buildings.set_index("building_id").loc["slab"]
    assert row.pass_before and not row.pass_after and row.broken_by == "tower"
    assert report.proposals.set_index("building_id").loc["tower", "breaks"] == "slab"
    # the shadow map: cells just north of the tower are shaded after, not before
    r, c = territory.grid.cell_of(X0, Y0 - 10)
    assert report.shadow_after[r, c] > report.shadow_before[r, c] == 0
    out = write_sunlight(report, territory, tmp_path / "sun")
    assert {"points.csv", "buildings.csv", "failing.csv", "proposals.csv", "manifest.json",
            "sunlight.gpkg"} <= {p.name for p in out.iterdir()}


def test_bad_input_names_the_field(tmp_path):
    rules, path = load_sunlight_rules()
    territory = _flat([("slab", -30, 0, 30, 10, 12.0)])
    with pytest.raises(InputError, match="--date"):
        check_sunlight(territory, None, rules, path, date="tomorrow")
    # the polar night: at 80 N the sun stays down all the 大寒日 window
    with pytest.raises(InputError, match="does not rise"):
        from scenarios.planning import sunlight

        lat = sunlight._site_of
        sunlight._site_of = lambda t: (80.0, 15.0, 0.0)
        try:
            check_sunlight(territory, None, rules, path, date="dahan")
        finally:
            sunlight._site_of = lat
    bad = tmp_path / "rules.yaml"
    bad.write_text(path.read_text().replace("sill_height_m: 0.9", "sill_height_m: -1"))
    with pytest.raises(InputError, match="sill_height_m"):
        load_sunlight_rules(bad)
    with pytest.raises(InputError, match="climate_zone"):
        load_sunlight_rules(climate_zone="VIII")


@pytest.mark.slow
def test_kernel_agrees_with_the_reference_on_den_haag(city):
    """Real LoD2 buildings of Den Haag (all 844 as obstructions), a spread subset of the
    façade points, every 4th minute of the 大寒日 window."""
    from scenarios.planning.sunlight import _scene, _site_of, standard_day
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec
    from tim.tiles.buildings import building_base_z

    path = city / "denhaag_scheveningen" / "DenHaag_01_v2.city.json"
    territory = build_territory([SourceSpec(path=path, role="city_model")], cell_size=5.0)
    frame = territory.layers["buildings"]
    base = building_base_z(territory, frame.geometry.values)
    origin = np.array(territory.grid.bounds[:2])
    terrain = territory.get("terrain__elevation")
    scene = _scene(territory, frame, base, origin, terrain)
    rules, _ = load_sunlight_rules()
    pts = facade_points(frame.geometry.values, base, sill=0.9, spacing=3.0, min_length=1.0)
    pick = np.arange(0, len(pts.xyz), 53)
    xyz = pts.xyz[pick] - np.array([*origin, 0.0])
    normals = pts.normals[pick]
    day, window, _ = standard_day(rules, "dahan")
    lat, lon, north = _site_of(territory)
    sun = sun_path(lat, lon, day, window, 4.0, grid_north=north)
    codes = sun_codes(scene, xyz, normals, sun.vectors)
    walls, owner = ref.walls_of(*_rings(frame, origin))
    expected = ref.sunlit(walls, owner, base, base + frame["height"].to_numpy(float), xyz,
                          normals, sun.vectors, terrain=terrain,
                          terrain_transform=scene.terrain_transform)
    agree = ((codes == SUNLIT) == expected).mean()
    assert len(pick) * len(sun.vectors) > 10_000
    assert 0.05 < expected.mean() < 0.95  # both sunlit and shaded pairs
    print(f"agreement {agree:.6f} on {codes.size} pairs")
    assert agree >= 0.995, agree


def _rings(frame, origin):
    rings, owner = [], []
    for i, poly in enumerate(frame.geometry.values):
        for part in shapely.get_parts(poly):
            for ring in [part.exterior, *part.interiors]:
                rings.append(np.asarray(ring.coords)[:, :2] - origin)
                owner.append(i)
    return rings, np.array(owner)


def test_cli_checks_a_proposal_and_refuses_bad_input(tmp_path, capsys):
    from tim.store import save_territory
    from viz.cli import main

    tim = save_territory(_flat([("slab", -30, 0, 30, 10, 12.0)]), tmp_path / "tim")
    tower = gpd.GeoDataFrame({"building_id": ["tower"], "height": [100.0]},
                             geometry=[shapely.box(X0 - 40, Y0 - 60, X0 + 40, Y0 - 20)], crs=CRS)
    tower.to_file(tmp_path / "p.gpkg")
    assert main(["sunlight", str(tim), "--proposals", str(tmp_path / "p.gpkg"), "--out",
                 str(tmp_path / "out"), "--climate-zone", "III", "--no-map"]) == 0
    assert "broken by tower" in capsys.readouterr().out
    import pandas as pd

    failing = pd.read_csv(tmp_path / "out" / "failing.csv").set_index("building_id")
    assert failing.loc["slab", "broken_by"] == "tower"
    tower.drop(columns="height").to_file(tmp_path / "nh.gpkg")
    assert main(["sunlight", str(tim), "--proposals", str(tmp_path / "nh.gpkg"), "--out",
                 str(tmp_path / "out2")]) == 2
    assert "height" in capsys.readouterr().err
    assert main(["sunlight", str(tim), "--date", "2025-13-01", "--out",
                 str(tmp_path / "out3")]) == 2
    assert "--date" in capsys.readouterr().err


def test_every_floor_gets_its_own_sill():
    # the slab is 12 m high: 4 floors of 3 m; with all floors, 4 points per façade sample, at
    # 0.9, 3.9, 6.9 and 9.9 m above the base; higher floors see more of the sun over the tower
    # when the tower is low (15 m), the highest floor clears it most
    territory = _flat([("slab", -30, 0, 30, 10, 12.0)], ground=20.0)
    tower = gpd.GeoDataFrame({"building_id": ["tower"], "height": [15.0]},
                             geometry=[shapely.box(X0 - 40, Y0 - 60, X0 + 40, Y0 - 20)], crs=CRS)
    rules, path = load_sunlight_rules(climate_zone="III")
    report = check_sunlight(territory, normalise_buildings(tower, "p"), rules, path,
                            shadow_map=False, all_floors=True)
    pts = report.points
    south = pts[(pts.building_id == "slab") & (pts.y < Y0)]
    assert sorted(south["floor"].unique()) == [1, 2, 3, 4]
    assert np.allclose(np.sort(south["z"].unique()), 20 + np.array([0.9, 3.9, 6.9, 9.9]))
    by_floor = south.groupby("floor")["hours_after"].mean()
    assert by_floor.is_monotonic_increasing and by_floor[4] > by_floor[1]


def test_a_redevelopment_replaces_the_buildings_it_lists():
    # The slab's south façade (y = 0) behind an old 30 m block 10 m south of it: the block
    # shades it before. A proposal that replaces the block with a 3 m pavilion on its plot
    # takes the block's shade away (the block neither stands nor shades after, and has no
    # sample points of its own, as if it had never been there); the same pavilion not
    # replacing it leaves the shade.
    territory = _flat([("slab", -30, 0, 30, 10, 12.0), ("old", -40, -30, 40, -10, 30.0)])
    rules, path = load_sunlight_rules(climate_zone="III", urban_population=2e6)

    def pavilion(replaces, where=territory):
        frame = gpd.GeoDataFrame({"building_id": ["new"], "height": [3.0],
                                  "replaces": [replaces]},
                                 geometry=[shapely.box(X0 - 40, Y0 - 30, X0 + 40, Y0 - 10)],
                                 crs=CRS)
        return check_sunlight(where, frame, rules, path, date="dahan", shadow_map=False)

    def south(report):
        p = report.points
        return p[(p.building_id == "slab") & (p.y < Y0)].reset_index(drop=True)

    kept, replaced = pavilion(""), pavilion("old")
    never = pavilion("", _flat([("slab", -30, 0, 30, 10, 12.0)]))
    assert np.allclose(south(kept).hours_after, south(kept).hours_before)
    assert (south(replaced).hours_before < south(never).hours_before).all()
    assert np.allclose(south(replaced).hours_after, south(never).hours_after)
    assert (south(replaced).hours_after > south(replaced).hours_before).all()
    assert "old" in set(kept.points.building_id) and "old" not in set(replaced.points.building_id)
    assert replaced.counts["replaced"] == 1 and kept.counts["replaced"] == 0
    assert replaced.counts["broken"] == 0
    # runs list replaced ids separated by spaces (scenarios/runner.py), files by commas
    assert pavilion("x old").counts["replaced"] == pavilion("old,x").counts["replaced"] == 1


def test_the_embree_reference_meets_the_cases_derived_by_hand():
    """The peer ray caster of the benchmark (Embree on the prisms and terrain as triangles)
    gives the hand-derived answers of the box and ridge cases above."""
    box = ref.walls_of([np.array([[-5, -15], [5, -15], [5, -5], [-5, -5]], float)],
                       np.array([0]))
    mesh = ref.prism_and_terrain_mesh(*box, np.array([0.0]), np.array([10.0]))
    sun, phi = _sweep(30.0)
    lit = ref.embree_sunlit(mesh, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, -1.0]]), sun)[0]
    assert np.array_equal(~lit, np.abs(phi) <= 45)
    assert not ref.embree_sunlit(mesh, np.array([[0.0, 0.0, 0.9]]), np.array([[0.0, 1.0]]),
                                 sun).any()  # facing north: never in front of the sun
    terrain = np.zeros((60, 60))
    terrain[40, :] = 8.0
    ridge = ref.prism_and_terrain_mesh(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0),
                                       np.zeros(0), terrain=terrain,
                                       terrain_transform=(-30.0, 1.0, 30.0, -1.0), floor=0.5)
    n = 600
    e = np.radians(60 * (np.arange(n) + 0.5) / n)
    sun = np.column_stack([np.zeros(n), -np.cos(e), np.sin(e)])
    lit = ref.embree_sunlit(ridge, np.array([[0.5, 0.5, 0.5]]), np.zeros((1, 2)), sun)[0]
    assert np.array_equal(lit, 0.5 + 10.5 * np.tan(e) >= 8.0)

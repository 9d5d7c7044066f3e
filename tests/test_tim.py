"""TIM: building from sources, the store round trip, CRS handling and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from tim.build import build_territory
from tim.errors import CRSError, GeometryError, InputError, StoreError
from tim.ingest.catalog import SourceSpec, load_catalog, source_from_argument
from tim.model import Grid
from tim.rasterize import rasterize
from tim.store import load_territory, save_territory, write_raster


# -- the sample territory -----------------------------------------------------------------------
def test_sample_has_every_part_the_demo_needs(sample_territory):
    t = sample_territory
    lu = t.get("land_use__class")
    assert t.grid.crs == "EPSG:4548" and t.grid.shape == (240, 240)
    assert set(np.unique(lu)) <= set(t.classes.codes.tolist())
    assert t.classes.group_mask(lu, "sea").any() and (lu == t.classes.built.code).any()
    z = t.get("terrain__elevation")
    assert z[t.classes.group_mask(lu, "sea")].max() <= 0 < z[lu == t.classes.built.code].min()
    for name in ("control__ecological_red_line", "control__permanent_basic_farmland",
                 "control__urban_development_boundary", "planning__unit_id",
                 "building__height", "population__count"):
        assert t.get(name).any(), name
    assert len(t.layers["buildings"]) > 1000
    assert set(t.layers["planning_units"]["district"]) == {"Xicheng 西城", "Dongcheng 东城"}
    # Every ingest says where the data came from and that it is synthetic.
    ingests = [h for h in t.history if h.action == "ingest"]
    assert len(ingests) == 9 and all(h.detail["synthetic"] for h in ingests)
    assert t.plan is not None and set(t.plan.indicators) == {"built_up_area", "population"}
    # Zoning covers the land, not the sea (up to cells cut by the simplified coastline).
    sea = t.classes.group_mask(lu, "sea")
    assert (t.get("zoning__zone_id")[~sea] > 0).mean() > 0.99
    assert np.isnan(t.get("zoning__max_far")[sea]).mean() > 0.99
    assert set(t.layers["amenities"]["kind"]) == {"school", "park", "transit", "hospital",
                                                  "centre", "clinic", "bus_stop", "garden"}


def test_sample_is_deterministic(tmp_path):
    from tim.sample import write_sample_sources

    a = write_sample_sources(tmp_path / "a")
    b = write_sample_sources(tmp_path / "b")
    for name in ("dem.tif", "landuse.tif", "population.tif"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()


def test_control_lines_are_reprojected_explicitly(sample_territory, sample_catalog):
    # The sample's control lines come as GeoJSON in WGS 84: the build must say it reprojected.
    reprojections = [h.detail for h in sample_territory.history if h.action == "reproject"]
    assert reprojections == [{"layer": "control_lines",
                              "source": str(sample_catalog.parent / "control_lines.geojson"),
                              "from_crs": "EPSG:4326", "to_crs": "EPSG:4548"}]
    raw = gpd.read_file(sample_catalog.parent / "control_lines.geojson").to_crs("EPSG:4548")
    farmland = raw[raw["kind"] == "permanent_basic_farmland"]
    expected = rasterize(farmland.geometry.values, np.ones(len(farmland)), sample_territory.grid,
                         "uint8")
    np.testing.assert_array_equal(sample_territory.get("control__permanent_basic_farmland"),
                                  expected)


# -- store ----------------------------------------------------------------------------------
@pytest.fixture(params=["geopackage", "postgis"])
def store_url(request):
    """Where the vector layers go: the TIM's GeoPackage (None) or a real PostGIS."""
    if request.param == "geopackage":
        return None
    return request.getfixturevalue("postgis_server") + "?schema=round_trip"


def test_store_round_trip_is_identical(sample_territory, tmp_path, store_url):
    save_territory(sample_territory, tmp_path / "tim", store=store_url)
    back = load_territory(tmp_path / "tim")
    assert back.grid == sample_territory.grid and back.classes == sample_territory.classes
    assert back.name == sample_territory.name
    assert back.vertical_datum == sample_territory.vertical_datum
    assert [h.to_dict() for h in back.history] == [h.to_dict() for h in
                                                  sample_territory.history]
    assert back.fields.keys() == sample_territory.fields.keys()
    for name, values in sample_territory.fields.items():
        assert back.fields[name].dtype == values.dtype
        np.testing.assert_array_equal(back.fields[name], values)
    for name, frame in sample_territory.layers.items():
        other = back.layers[name]
        assert other.crs == frame.crs and list(other.columns) == list(frame.columns)
        assert shapely.equals_exact(other.geometry.values, frame.geometry.values, 0).all()
        assert other.drop(columns="geometry").equals(frame.drop(columns="geometry"))


def test_store_is_readable_by_gdal_with_crs(sample_territory, tmp_path):
    import rasterio

    save_territory(sample_territory, tmp_path / "tim")
    manifest = json.loads((tmp_path / "tim/manifest.json").read_text())
    assert manifest["crs"] == "EPSG:4548" and manifest["layers"]["buildings"]["count"] > 1000
    with rasterio.open(tmp_path / "tim/rasters/terrain__elevation.tif") as src:
        assert src.crs.to_epsg() == 4548 and src.transform[2] == 510000.0
    layers = gpd.list_layers(tmp_path / "tim/vectors.gpkg")
    assert set(layers["name"]) == {"buildings", "control_lines", "planning_units", "zoning",
                                   "amenities", "layer_styles"}  # layer_styles: QGIS styles


def test_failed_save_keeps_the_previous_store(sample_territory, tmp_path, monkeypatch):
    target = tmp_path / "tim"
    save_territory(sample_territory, target)
    before = (target / "manifest.json").read_text()
    import tim.store

    def broken(path, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(tim.store, "write_raster", broken)
    with pytest.raises(OSError, match="disk full"):
        save_territory(sample_territory, target)
    assert (target / "manifest.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tim"]  # no staging leftovers
    load_territory(target)


def test_corrupt_store_is_detected(sample_territory, tmp_path):
    save_territory(sample_territory, tmp_path / "tim")
    write_raster(tmp_path / "tim/rasters/land_use__class.tif",
                 np.zeros(sample_territory.grid.shape, np.uint8), sample_territory.grid, 255)
    with pytest.raises(StoreError, match="land_use__class.*hash"):
        load_territory(tmp_path / "tim")
    (tmp_path / "tim/manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt manifest"):
        load_territory(tmp_path / "tim")
    with pytest.raises(StoreError, match="not a TIM store"):
        load_territory(tmp_path)


# -- sources and bad input ------------------------------------------------------------------
def _grid() -> Grid:
    return Grid("EPSG:32650", (10.0, 0.0, 500000.0, 0.0, -10.0, 3000100.0), (10, 10))


def _dem(path: Path, crs: str | None = "EPSG:32650") -> Path:
    import rasterio
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1,
                       dtype="float32", crs=crs, transform=Affine(*_grid().transform)) as dst:
        dst.write(np.arange(100, dtype=np.float32).reshape(10, 10), 1)
    return path


def _buildings(path: Path, polygons, crs="EPSG:32650", **columns) -> Path:
    gpd.GeoDataFrame({"height": [10.0] * len(polygons), **columns}, geometry=polygons,
                     crs=crs).to_file(path)
    return path


def test_raster_without_crs_needs_one(tmp_path):
    dem = _dem(tmp_path / "dem.tif", crs=None)
    with pytest.raises(CRSError, match=r"dem\.tif: crs: the raster declares no CRS.*--crs"):
        build_territory([SourceSpec(path=dem, role="elevation")])
    t = build_territory([SourceSpec(path=dem, role="elevation")], crs="EPSG:32650")
    assert t.grid.crs == "EPSG:32650"
    assert [h.detail["crs_assigned"] for h in t.history if h.action == "ingest"] == [True]


def test_declared_crs_conflicting_with_the_catalog_is_refused(tmp_path):
    dem = _dem(tmp_path / "dem.tif")
    with pytest.raises(CRSError, match="declares EPSG:32650 but EPSG:4548 was given"):
        build_territory([SourceSpec(path=dem, role="elevation", crs="EPSG:4548")])


def test_geographic_data_gets_a_local_projected_crs(tmp_path):
    # In China: the CGCS2000 3-degree Gauss-Krueger zone whose central meridian is nearest
    # (114 E for Shenzhen: EPSG:4534 + (114 - 75) / 3 = 4547). Elsewhere: the UTM zone.
    square = shapely.box(114.0, 22.5, 114.0005, 22.5005)  # Shenzhen, WGS 84
    src = _buildings(tmp_path / "buildings.gpkg", [square], crs="EPSG:4326")
    t = build_territory([SourceSpec(path=src, role="buildings")], cell_size=5.0)
    assert t.grid.crs == "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
    assert t.layers["buildings"].crs.to_epsg() == 4547
    assert t.get("building__height").max() == 10.0
    assert [h.detail["crs_rule"] for h in t.history if h.action == "create"] == [
        "local projected CRS for geographic input (WGS 84)"]
    lagos = _buildings(tmp_path / "lagos.gpkg", [shapely.box(3.38, 6.45, 3.3805, 6.4505)],
                       crs="EPSG:4326")
    t = build_territory([SourceSpec(path=lagos, role="buildings")], cell_size=5.0)
    assert t.grid.crs == "EPSG:32631"  # WGS 84 / UTM zone 31N


def test_invalid_geometry_is_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(500000, 3000000), (500050, 3000050), (500050, 3000000),
                              (500000, 3000050)])
    ok = shapely.box(500000, 3000000, 500010, 3000010)
    line_like = shapely.Polygon([(500100, 3000000), (500110, 3000000), (500120, 3000000)])
    src = _buildings(tmp_path / "b.gpkg", [ok, bowtie, line_like],
                     building_id=["a", "bad-one", "flat"])
    t = build_territory([SourceSpec(path=src, role="buildings")], cell_size=10.0)
    b = t.layers["buildings"]
    assert list(b["building_id"]) == ["a", "bad-one"]
    # make_valid splits the bow tie into its two triangles: 2 x (50 x 25 / 2) = 1250 m2
    assert b.area.iloc[1] == pytest.approx(1250.0)
    repaired = [h.detail for h in t.history if h.action == "repaired"]
    skipped = [h.detail for h in t.history if h.action == "skipped"]
    assert repaired == [{"source": str(src), "reason": "invalid geometry (Self-intersection), "
                         "made valid", "count": 1, "features": ["feature 1 (building_id="
                                                                "'bad-one')"]}]
    assert len(skipped) == 1 and skipped[0]["features"] == ["feature 2 (building_id='flat')"]
    assert "could not turn into an area" in skipped[0]["reason"]


def test_a_layer_with_no_usable_polygon_is_refused(tmp_path):
    src = _buildings(tmp_path / "b.gpkg", [shapely.Point(500000, 3000000).buffer(0)],
                     building_id=["empty"])
    with pytest.raises(GeometryError, match=r"b\.gpkg: geometry: none of the 1 feature"):
        build_territory([SourceSpec(path=src, role="buildings")], cell_size=10.0)


def test_empty_and_corrupt_files_are_refused(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gpd.GeoDataFrame({"height": []}, geometry=[], crs="EPSG:32650").to_file(empty)
    with pytest.raises(GeometryError, match=r"empty\.gpkg.*empty"):
        build_territory([SourceSpec(path=empty, role="buildings")], cell_size=10.0)
    garbage = tmp_path / "dem.tif"
    garbage.write_bytes(b"this is not a GeoTIFF")
    with pytest.raises(InputError, match=r"dem\.tif: cannot read as a raster"):
        build_territory([SourceSpec(path=garbage, role="elevation")])


def test_unknown_land_use_codes_and_control_kinds_are_refused(tmp_path):
    lu = tmp_path / "landuse.tif"
    write_raster(lu, np.full((10, 10), 42, np.uint8), _grid(), 255)
    with pytest.raises(InputError, match=r"landuse\.tif: land_use__class: class codes \[42\]"):
        build_territory([SourceSpec(path=lu, role="land_use")])
    lines = tmp_path / "control.geojson"
    gpd.GeoDataFrame({"kind": ["green_belt"]}, geometry=[shapely.box(500000, 3000000,
                     500050, 3000050)], crs="EPSG:32650").to_file(lines)
    with pytest.raises(InputError, match=r"control\.geojson: kind: unknown control-line kind"
                                         r".*got 'green_belt'"):
        build_territory([SourceSpec(path=_dem(tmp_path / "dem.tif"), role="elevation"),
                         SourceSpec(path=lines, role="control_lines")])


def test_overlapping_zones_and_unknown_amenities_are_refused(tmp_path):
    zones = tmp_path / "zoning.gpkg"
    gpd.GeoDataFrame({"zone_id": [1, 2], "max_far": [2.0, 3.0]},
                     geometry=[shapely.box(500000, 3000000, 500060, 3000060),
                               shapely.box(500050, 3000000, 500100, 3000060)],
                     crs="EPSG:32650").to_file(zones)
    with pytest.raises(GeometryError, match=r"zoning\.gpkg: geometry: zones 1 and 2 overlap "
                                            r"\(600\.0 m2\)"):
        build_territory([SourceSpec(path=_dem(tmp_path / "dem.tif"), role="elevation"),
                         SourceSpec(path=zones, role="zoning")])
    poi = tmp_path / "poi.gpkg"
    gpd.GeoDataFrame({"kind": ["casino"]}, geometry=[shapely.Point(500010, 3000010)],
                     crs="EPSG:32650").to_file(poi)
    with pytest.raises(InputError, match=r"poi\.gpkg: kind: unknown amenity kind.*'casino'"):
        build_territory([SourceSpec(path=_dem(tmp_path / "dem.tif"), role="elevation"),
                         SourceSpec(path=poi, role="amenities")])


def test_zoning_caps_are_burnt_by_cell_centre(tmp_path):
    zones = tmp_path / "zoning.gpkg"
    gpd.GeoDataFrame({"zone_id": [7], "max_far": [2.5], "max_height_m": [None]},
                     geometry=[shapely.box(500000, 3000050, 500050, 3000100)],
                     crs="EPSG:32650").to_file(zones)
    t = build_territory([SourceSpec(path=_dem(tmp_path / "dem.tif"), role="elevation"),
                         SourceSpec(path=zones, role="zoning")])
    far = t.get("zoning__max_far")
    # The zone covers the north-west 5 x 5 cells of the 10 x 10 grid of 10 m cells.
    assert (far[:5, :5] == 2.5).all() and np.isnan(far[5:, :]).all() and np.isnan(far[:, 5:]).all()
    assert np.isnan(t.get("zoning__max_height")).all()  # no height cap given
    assert (t.get("zoning__zone_id")[:5, :5] == 7).all()


def test_source_roles_from_names_and_arguments(tmp_path):
    assert source_from_argument("data/city_dem.tif").role == "elevation"
    assert source_from_argument("planning_units=zones.gpkg").role == "planning_units"
    with pytest.raises(InputError, match="ROLE=PATH"):
        source_from_argument("mystery.tif")
    with pytest.raises(InputError, match="cannot be a buildings source"):
        _ = SourceSpec(path=Path("b.tif"), role="buildings").kind


def test_catalog_rejects_unknown_keys(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("sources:\n  - path: dem.tif\n    role: elevation\n    colour: red\n")
    with pytest.raises(InputError, match=r"catalog\.yaml: sources\.0\.colour: Extra inputs"):
        load_catalog(catalog)


# -- real data ------------------------------------------------------------------------------
def test_delft_footprints_and_dtm(twin_data):
    delft = twin_data / "city" / "delft_ahn3"
    if not (delft / "bgt_pand.sqlite").exists():
        pytest.skip(f"Delft data not found in {delft}")
    with_heights = build_territory([
        SourceSpec(path=delft / "delft_ahn3_dtm_1m.tif", role="elevation"),
        SourceSpec(path=delft / "delft_bgt_pand_heights.geojson", role="buildings",
                   columns={"height": "h_roof_p95", "building_id": "identificatiebagpnd"})])
    b = with_heights.layers["buildings"]
    assert with_heights.grid.crs == "EPSG:28992" and with_heights.grid.shape == (230, 265)
    assert len(b) == 160 and (b["height_source"] == "attribute").all()
    assert b["height"].between(2.25, 13.82).all()  # PROVENANCE.md: 2.25 to 13.82 m
    # SpatiaLite footprints without heights: flagged defaults, never silent.
    bare = build_territory([SourceSpec(path=delft / "delft_ahn3_dtm_1m.tif", role="elevation"),
                            SourceSpec(path=delft / "bgt_pand.sqlite", role="buildings")])
    heights = [h.detail for h in bare.history if h.action == "derive"][0]["height_sources"]
    assert heights == {"default": 160}

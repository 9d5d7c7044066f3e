"""Hong Kong from the built-in catalog: the TIM, the land-cover series, the bad input the catalog
and the series refuse or warn about, and Typhoon Hato's surge on the real terrain.

Tests on the real data ($TWIN_DATA/hongkong) are marked slow and skip without it; the bad-input
tests use small synthetic rasters and layers and always run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tim.build import build_from_catalog, build_territory, map_raster_classes
from tim.errors import InputError
from tim.ingest.catalog import SourceSpec, load_catalog
from tim.ingest.raster import RasterSource, read_raster
from scenarios.calibration.series import epochs, parse_label, protected_mask, write_series
from tim.model import Grid, Territory
from tim.classes import DEFAULT_CLASSES

#: Hong Kong 1980 Grid written as a PROJ string: the same projection as EPSG:2326, but it
#: resolves to no EPSG code, like the ESRI-style WKT of the habitat maps.
UNRESOLVED = ("+proj=tmerc +lat_0=22.3121333333333 +lon_0=114.178555555556 +k=1 "
              "+x_0=836694.05 +y_0=819069.8 +ellps=intl +units=m +no_defs")
CLASS_MAP = {"1": 3, "2": 3, "3": 4, "4": 23, "5": 7, "6": 17, "7": 5, "8": 3}
HK_CODES = {3, 4, 5, 7, 17, 18, 23}


def write_tif(path: Path, values: np.ndarray, crs: str, *, x0=830000.0, y0=820000.0,
              cell=30.0, nodata=None) -> Path:
    from affine import Affine

    profile = dict(driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                   dtype=values.dtype.name, crs=rasterio.crs.CRS.from_user_input(crs),
                   transform=Affine(cell, 0, x0, 0, -cell, y0))
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
    return path


# -- bad input and the CRS rule (synthetic, fast) ---------------------------------------------
def test_unresolvable_crs_is_assigned_with_override_and_recorded(tmp_path):
    lc = write_tif(tmp_path / "lc.tif", np.array([[1, 5], [6, 255]], np.uint8), UNRESOLVED,
                   nodata=255)
    source = read_raster(lc, crs="EPSG:2326")
    assert source.crs == "EPSG:2326" and source.crs_assigned
    assert source.declared_crs is not None
    dem = write_tif(tmp_path / "dem.tif", np.ones((2, 2), np.float32), "EPSG:2326")
    t = build_territory([SourceSpec(path=dem, role="elevation"),
                         SourceSpec(path=lc, role="land_use", crs="EPSG:2326",
                                    class_map=CLASS_MAP)],
                        crs="EPSG:2326", classes=_hk_classes())
    assigned = [h.detail for h in t.history if h.action == "assign_crs"]
    assert len(assigned) == 1 and assigned[0]["assigned"] == "EPSG:2326"
    assert assigned[0]["source"] == str(lc)
    assert t.fields["land_use__class"].tolist() == [[3, 7], [17, 255]]


def test_unresolvable_crs_without_override_is_a_recorded_warning_naming_the_file(tmp_path):
    lc = write_tif(tmp_path / "lc.tif", np.array([[1, 5], [6, 3]], np.uint8), UNRESOLVED)
    dem = write_tif(tmp_path / "dem.tif", np.ones((2, 2), np.float32), "EPSG:2326")
    t = build_territory([SourceSpec(path=dem, role="elevation"),
                         SourceSpec(path=lc, role="land_use", class_map=CLASS_MAP)],
                        crs="EPSG:2326", classes=_hk_classes())
    messages = [h.detail["message"] for h in t.history if h.action == "warning"]
    assert any(str(lc) in m and "resolves to no EPSG code" in m and "'crs'" in m
               for m in messages)
    assert not [h for h in t.history if h.action == "assign_crs"]


def test_override_that_contradicts_a_coded_crs_is_refused(tmp_path):
    lc = write_tif(tmp_path / "lc.tif", np.ones((2, 2), np.uint8), "EPSG:32650")
    with pytest.raises(InputError, match="declares"):
        read_raster(lc, crs="EPSG:2326")


def test_raster_class_map_merges_before_resampling_and_drops_unmapped():
    source = RasterSource(Path("x.tif"), np.array([[1, 2, 9], [8, 0, 5]], np.uint8),
                          (30.0, 0, 0, 0, -30.0, 60.0), "EPSG:2326", 0)
    mapped = map_raster_classes(source, CLASS_MAP, _hk_classes())
    assert mapped.values.tolist() == [[3, 3, 255], [3, 255, 7]] and mapped.nodata == 255
    with pytest.raises(InputError, match="not in the class table") as err:
        map_raster_classes(source, {"1": 1}, _hk_classes())
    assert err.value.field == "class_map.1"


def test_series_refuses_a_missing_epoch_naming_file_and_field(tmp_path):
    present = write_tif(tmp_path / "a.tif", np.ones((2, 2), np.uint8), "EPSG:2326")
    missing = tmp_path / "lc_1978-1982.tif"
    with pytest.raises(InputError) as err:
        epochs({"1973-1977": present, "1978-1982": missing})
    assert err.value.field == "observed.1978-1982" and str(missing) in str(err.value)


def test_series_refuses_epochs_out_of_order_or_overlapping(tmp_path):
    a = write_tif(tmp_path / "a.tif", np.ones((2, 2), np.uint8), "EPSG:2326")
    b = write_tif(tmp_path / "b.tif", np.ones((2, 2), np.uint8), "EPSG:2326")
    with pytest.raises(InputError, match="time order") as err:
        epochs({"1978-1982": a, "1973-1977": b}, source="cat.yaml")
    assert err.value.field == "observed" and "cat.yaml" in str(err.value)
    with pytest.raises(InputError, match="time order"):
        epochs({"1973-1977": a, "1977-1981": b})
    with pytest.raises(InputError, match="a year") as err:
        epochs({"seventies": a})
    assert err.value.field == "observed.seventies"
    assert [e.year for e in epochs({"1973-1977": a, "1980": b})] == [1975, 1980]
    assert parse_label("2013-2017") == (2013, 2017)


def test_protected_layer_without_years_names_file_and_field():
    import geopandas as gpd
    from shapely.geometry import box

    grid = Grid("EPSG:2326", (10.0, 0, 0, 0, -10.0, 30.0), (3, 3))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES)
    t.add_layer("protected_areas", gpd.GeoDataFrame({"Type": ["Country Park"]},
                                                    geometry=[box(0, 0, 15, 30)],
                                                    crs="EPSG:2326"))
    t.record("ingest", source="/data/pa.gpkg", role="layer", name="protected_areas")
    with pytest.raises(InputError) as err:
        protected_mask(t, 1990)
    assert err.value.field == "AppearYear" and "/data/pa.gpkg" in str(err.value)
    # Years given, some unknown (0) and one ended: in force = designated by then, not ended.
    t.layers["protected_areas"] = gpd.GeoDataFrame(
        {"AppearYear": [1980, 0, 1995], "EndYear": [9999, 9999, 1993]},
        geometry=[box(0, 20, 10, 30), box(20, 0, 30, 10), box(10, 10, 20, 20)],
        crs="EPSG:2326")
    with pytest.warns(UserWarning, match="1 protected areas have no designation year"):
        m1975 = protected_mask(t, 1975)
    assert m1975.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    with pytest.warns(UserWarning):
        assert protected_mask(t, 1990).tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    assert protected_mask(t, 1996, warn=False).tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]


def _hk_classes():
    from tim.model import ClassTable

    raw = load_catalog(Path(__file__).resolve().parents[1] / "tim/catalogs/hongkong.yaml"
                       ).classes
    return ClassTable.from_list(c.model_dump() for c in raw)


# -- the real territory (slow) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def hk(twin_data):
    if not (twin_data / "hongkong" / "PROVENANCE.md").is_file():
        pytest.skip(f"Hong Kong data not found in {twin_data / 'hongkong'}")
    catalog = load_catalog("hongkong")
    return catalog, build_from_catalog(catalog)


@pytest.mark.slow
def test_hong_kong_catalog_builds(hk):
    catalog, t = hk
    assert t.grid.crs == "EPSG:2326" and t.grid.shape == (685, 910)
    assert t.grid.cell_size == (70.0, 70.0)
    lu, z = t.fields["land_use__class"], t.fields["terrain__elevation"]
    assert set(np.unique(lu).tolist()) == HK_CODES | {255}
    sea = lu == 18
    assert np.all(z[sea] == -2.0)                      # the sea bed below the lowest tide
    land = (lu != 18) & (lu != 255)
    assert np.all(z[land] > 0)                          # no land cell left at the DTM's 0
    assert np.all(np.isnan(z[lu == 255]))               # beyond the land border: outside
    # the published 2013-17 built-up area is about 190 km2 at 30 m; the 70 m mode keeps it
    built_km2 = (lu == 7).sum() * 70 * 70 / 1e6
    assert 180 < built_km2 < 240
    # history: the land cover's WKT resolved to no EPSG code; EPSG:2326 was assigned
    assigned = [h.detail for h in t.history if h.action == "assign_crs"]
    assert len(assigned) == 1 and assigned[0]["assigned"] == "EPSG:2326"
    assert "HabitatMapHK_8class_2013-2017.tif" in assigned[0]["source"]
    # planning units: city -> 18 districts -> 390 constituency areas
    units = t.layers["planning_units"]
    assert len(units) == 390 and units["district"].nunique() == 18
    assert units["city"].unique().tolist() == ["Hong Kong 香港"]
    assert units["unit_id"].is_unique and units["unit_id"].dtype == np.int64
    unit_of = t.fields["planning__unit_id"]
    assert np.isin(np.unique(unit_of[unit_of > 0]), units["unit_id"]).all()
    # 94.6 %: land reclaimed after 2001 and the coastal fringe lie outside the 2001 units
    assert (unit_of[land] > 0).mean() > 0.93
    district_of = dict(zip(units["unit_id"], units["district_id"]))
    cells = unit_of > 0
    assert np.all(t.fields["planning__district_id"][cells]
                  == np.vectorize(district_of.get)(unit_of[cells]))
    # each unit's district is the 2001 district that contains it
    districts = t.layers["districts"]
    english = {d.split(" ")[0] for d in units["district"]}
    assert {n.split(" ")[0] for n in districts["DC_ENG"]} == english
    # the ecological control line is the protected areas in force
    red = t.fields["control__ecological_red_line"] > 0
    assert 300 < red.sum() * 0.0049 < 600                # km2; country parks alone ~440 km2
    assert len(t.layers["control_lines"]) == 415         # 417 less the two that ended
    # lines and points kept as layers
    roads = t.layers["roads"]
    assert len(roads) == 10772 and set(roads.geom_type) == {"LineString"}
    towers = t.layers["tall_buildings"]
    assert len(towers) == 2613 and set(towers.geom_type) == {"Point"}
    assert towers["top_mpd"].max() == 490.0 and "building__height" not in t.fields
    assert "buildings" not in t.layers                  # no footprints: no buildings layer
    amenities = t.layers["amenities"]
    assert set(amenities["kind"]) <= {"school", "park", "hospital", "centre", "transit"}
    assert len(amenities) == 5554 - 16                  # boundary control points left out
    assert abs(float(t.fields["population__count"].sum()) - 7391700) < 50


@pytest.mark.slow
def test_epoch_series_lands_on_the_grid_with_the_mapping(hk, tmp_path):
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    catalog, t = hk
    with pytest.warns(UserWarning, match="no designation year"):
        index = write_series(t, catalog, tmp_path / "series")
    labels = [e["label"] for e in index["epochs"]]
    assert labels == [f"{y}-{y + 4}" for y in range(1973, 2014, 5)]
    assert [e["year"] for e in index["epochs"]] == list(range(1975, 2016, 5))
    assert json.loads((tmp_path / "series" / "series.json").read_text())["epochs"]
    grid = t.grid
    outside = t.fields["land_use__class"] == 255
    built = []
    for e in index["epochs"]:
        with rasterio.open(tmp_path / "series" / e["files"]["land_use"]) as src:
            values = src.read(1)
            assert src.crs.to_epsg() == 2326 and tuple(src.transform)[:6] == grid.transform
        assert values.shape == grid.shape
        assert set(np.unique(values).tolist()) <= HK_CODES | {255}
        assert np.array_equal(values == 255, outside)
        built.append((values == 7).sum())
    # reference for the first epoch, written out here: map at 30 m, mode to 70 m, sea elsewhere
    with rasterio.open(catalog.observed["1973-1977"]) as src:
        raw, transform = src.read(1), src.transform
    lookup = np.full(256, 255, np.uint8)
    for k, v in CLASS_MAP.items():
        lookup[int(k)] = v
    reference = np.full(grid.shape, 255, np.uint8)
    reproject(lookup[raw], reference, src_transform=transform, src_crs="EPSG:2326",
              src_nodata=255, dst_transform=Affine(*grid.transform), dst_crs="EPSG:2326",
              dst_nodata=255, resampling=Resampling.mode)
    reference[(reference == 255) & ~outside] = 18
    with rasterio.open(tmp_path / "series" / index["epochs"][0]["files"]["land_use"]) as src:
        assert np.array_equal(src.read(1), reference)
    # the latest epoch is the TIM's own map, except land reclaimed after 2017 (sea then)
    with rasterio.open(tmp_path / "series" / index["epochs"][-1]["files"]["land_use"]) as src:
        last = src.read(1)
    differ = last != t.fields["land_use__class"]
    assert np.all(last[differ] == 18) and np.all(t.fields["land_use__class"][differ] == 23)
    assert built[-1] > 1.8 * built[0]                 # built-up about doubles, 1975 -> 2015
    # drivers as of each epoch: roads and built-up areas only ever added
    def read(name):
        with rasterio.open(tmp_path / "series" / name) as src:
            return src.read(1)
    for kind in ("distance_main_road", "distance_secondary_road"):
        d = [read(e["files"][kind]) for e in index["epochs"]]
        assert np.all(np.isfinite(d[0]))
        assert all(np.all(b <= a) for a, b in zip(d, d[1:]))
        assert np.any(d[-1] < d[0])
    b = [read(e["files"]["builtup"]) for e in index["epochs"]]
    assert all(np.all(y >= x) for x, y in zip(b, b[1:])) and b[-1].sum() > b[0].sum()
    assert "2022" in " ".join(index["notes"])          # facilities are not drivers


@pytest.mark.slow
def test_hato_surge_mass_books_close_and_floods_by_district(hk):
    """The built-in scenario's surge through the runner's machinery (domain from the TIM,
    event from the scenario), without a year of agents before it: minutes, not a quarter
    hour. ``twin run hongkong-hato`` runs the same event after a year of growth."""
    from engine.flood.domain import FloodDomain
    from engine.flood.event import run_event
    from scenarios.flood import surge_event
    from scenarios.places import flooded_by_district
    from scenarios.schema import load_scenario

    _, t = hk
    scenario = load_scenario("hongkong-hato")
    assert scenario.surge.water_level == 3.42 and scenario.surge.engine == "inertial"
    domain = FloodDomain.from_territory(t, manning=scenario.surge.manning)
    assert domain.sea.sum() == (t.fields["land_use__class"] == 18).sum()
    outcome = run_event(domain, surge_event(scenario.surge))
    assert outcome.peak_level == pytest.approx(3.42)
    assert outcome.stats["mass_balance"]["relative_error"] < 1e-9
    depth = np.nan_to_num(outcome.max_depth)
    lu, z = t.fields["land_use__class"], t.fields["terrain__elevation"]
    land = (lu != 18) & (lu != 255)
    flooded = land & (depth > 0.01)
    assert flooded.any()
    assert np.all(z[flooded] < 3.42 + 0.25)      # no water on land far above the peak
    assert not np.any(depth[lu == 255] > 0)      # nothing beyond the land border
    table = flooded_by_district(t, outcome.max_depth)
    assert len(table) == 19                      # 18 districts and the land of no unit
    cell_ha = 0.49
    assert table["flooded_ha"].sum() == pytest.approx(
        (land & (depth >= 0.05)).sum() * cell_ha)
    assert (table["flooded_built_ha"] <= table["flooded_dry_land_ha"]).all()
    assert (table["flooded_dry_land_ha"] <= table["flooded_ha"]).all()


# -- 3D: terrain tiles with land use and the protected areas draped ---------------------------
def tile_colours(path: Path) -> np.ndarray:
    """The COLOR_0 of a b3dm's first primitive (n, 3)."""
    from py3dtiles.tileset.content import read_binary_tile_content

    gltf = read_binary_tile_content(path).body.gltf
    index = gltf.meshes[0].primitives[0].attributes.COLOR_0
    assert index is not None, f"{path} has no vertex colours"
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    start = view.byteOffset + (accessor.byteOffset or 0)
    return np.frombuffer(gltf.binary_blob()[start:start + accessor.count * 12],
                         dtype=np.float32).reshape(-1, 3)


def draped_check(territory: Territory, out: Path) -> None:
    from tim.tiles import write_tiles
    from tim.tiles.terrain import drape_colours

    summary = write_tiles(territory, out, parts=["terrain"], drape=True)
    assert list(summary.parts) == ["terrain"]
    expected = drape_colours(territory).astype(np.float32).reshape(-1, 3)
    expected_set = {tuple(c) for c in np.unique(expected, axis=0)}
    seen = set()
    for path in (out / "terrain").glob("*.b3dm"):
        seen |= {tuple(c) for c in np.unique(tile_colours(path), axis=0)}
    assert seen <= expected_set
    red = territory.fields["control__ecological_red_line"] > 0
    tinted = {tuple(c) for c in np.unique(expected[red.ravel()], axis=0)}
    assert seen & tinted and seen - tinted    # protected and unprotected land both shown


def test_terrain_tiles_drape_land_use_and_the_red_line(tmp_path):
    grid = Grid("EPSG:2326", (70.0, 0, 830000.0, 0, -70.0, 820000.0), (20, 20))
    t = Territory(grid=grid, classes=DEFAULT_CLASSES)
    yy, xx = np.mgrid[0:20, 0:20]
    t.set_field("terrain__elevation", (xx * 3.0 + yy).astype(np.float32))
    t.set_field("land_use__class", np.where(xx < 10, 7, 3).astype(np.uint8))
    t.set_field("control__ecological_red_line", (yy < 5).astype(np.uint8))
    draped_check(t, tmp_path / "tiles")


@pytest.mark.slow
def test_hong_kong_terrain_tiles_draped_without_buildings(hk, tmp_path):
    _, t = hk
    assert "buildings" not in t.layers       # no footprints: terrain only, said in README
    draped_check(t, tmp_path / "tiles")


def test_catalog_where_values_and_value_map_shape_a_vector_source(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    dem = write_tif(tmp_path / "dem.tif", np.ones((4, 4), np.float32), "EPSG:2326",
                    cell=10.0)
    units = gpd.GeoDataFrame(
        {"DCCA": ["1101", "1102", "2201", "9901"], "DC_CODE": ["A", "A", "B", "Z"],
         "NAME": ["a1", "a2", "b1", "gone"], "KEEP": [1, 1, 1, 0]},
        geometry=[box(830000, 819960, 830020, 819980), box(830020, 819960, 830040, 819980),
                  box(830000, 819980, 830040, 820000), box(830000, 819960, 830010, 819970)],
        crs="EPSG:2326")
    path = tmp_path / "units.gpkg"
    units.to_file(path, layer="ca")
    spec = SourceSpec(path=path, layer="ca", role="planning_units",
                      columns={"unit_id": "DCCA", "name": "NAME", "district": "DC_CODE"},
                      where={"KEEP": [1]}, values={"city": "Hong Kong"},
                      value_map={"district": {"A": "Central", "B": "Wan Chai"}})
    t = build_territory([SourceSpec(path=dem, role="elevation"), spec], crs="EPSG:2326")
    layer = t.layers["planning_units"].sort_values("unit_id")
    assert layer["unit_id"].tolist() == [1101, 1102, 2201]
    assert layer["district"].tolist() == ["Central", "Central", "Wan Chai"]
    assert set(layer["city"]) == {"Hong Kong"}
    # a value the map lacks: skipped and recorded
    spec2 = spec.model_copy(update={"where": {}})
    t2 = build_territory([SourceSpec(path=dem, role="elevation"), spec2], crs="EPSG:2326")
    skipped = [h.detail for h in t2.history if h.action == "skip"]
    assert skipped and skipped[0]["values"] == {"district": {"Z": 1}}
    with pytest.raises(InputError) as err:
        build_territory([SourceSpec(path=dem, role="elevation"),
                         spec.model_copy(update={"where": {"NOPE": [1]}})], crs="EPSG:2326")
    assert err.value.field == "where.NOPE"


def test_hong_kong_surge_scenarios_levels_and_hydrographs():
    from scenarios.flood import peak_level, surge_event
    from scenarios.schema import load_scenario

    hato, slr = load_scenario("hongkong-hato"), load_scenario("hongkong-surge-slr")
    assert peak_level(hato.surge) == pytest.approx(3.42)        # 3.57 mCD - 0.15
    assert peak_level(slr.surge) == pytest.approx(4.0 + 0.5)    # assumed + sea-level rise
    bed = load_catalog(Path(__file__).resolve().parents[1] / "tim/catalogs/hongkong.yaml"
                       ).sea.bed
    for s in (hato, slr):
        event = surge_event(s.surge)
        h = event.hydrograph
        assert event.engine == "inertial" and h.end == 12 * 3600
        assert h.peak == pytest.approx(peak_level(s.surge))
        # the lowest still water stays well above the sea bed: every sea cell holds water
        assert h.values.min() > bed + 2.0
        assert s.start_year == 2017 and s.surge_year == 2018

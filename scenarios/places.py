"""Storm surges on real geometry: Den Haag (Scheveningen) and Delft, as ready-made examples.

Writes the TIM sources, a catalog and a surge scenario for one place; ``twin example`` then
prints the commands that build the TIM and run the scenario::

    twin example denhaag OUT    # or: delft
    twin tim build --catalog OUT/catalog.yaml --out OUT/tim
    twin run OUT/surge.yaml --tim OUT/tim --out OUT/run

* Den Haag tile 01 (``city/denhaag_scheveningen``, CityJSON 2.0, EPSG:7415): read with
  :mod:`tim.ingest.cityjson`; its TIN terrain is sampled at the cell centres
  (:func:`tim.rasterize.rasterize_tin`; under buildings, where the TIN has holes, the nearest
  ground), footprints and heights are the reader's. The tile lies a few hundred metres inland of the beach and
  holds no sea: the level is imposed on the edge cells of its north-west end, the side facing
  the North Sea (the terrain is a band running inland from the beach).
* Delft centre (``city/delft_ahn3``, EPSG:28992): the AHN3 1 m DTM and the BGT footprints with
  LiDAR heights are read as they are; the three canals (BGT waterdeel) are the water whose level
  rises - given the sea class, since the level is imposed on them.

The data folder is ``$TWIN_DATA`` (default ``../shared/data`` beside the repository). Every
derived file records how it was made in the catalog's descriptions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

SEA, BUILT, GRASS, WATER = 18, 7, 4, 17
RD_NAP = "EPSG:28992"


def data_dir() -> Path:
    """``$TWIN_DATA``, default ``../shared/data`` beside the repository (as catalogs resolve
    it)."""
    from tim.ingest.catalog import data_folder

    return data_folder()


# -- CityJSON ------------------------------------------------------------------------------------
def fill_under(z: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Give NaN cells in ``where`` the value of the nearest known cell."""
    from scipy import ndimage

    missing = np.isnan(z)
    _, (r, c) = ndimage.distance_transform_edt(missing, return_indices=True)
    return np.where(missing & where, z[r, c], z)


def seaward_end(valid: np.ndarray, cells: int = 3) -> np.ndarray:
    """Edge cells of the ``valid`` area at its north-west end, within ``cells`` of it along the
    area's long axis. The Den Haag TIN is a band running inland (north-west to south-east)
    from the beach; its north-west end is the side facing the sea."""
    from scipy import ndimage

    rows, cols = np.nonzero(valid)
    xy = np.column_stack([cols, -rows]).astype(float)
    centre = xy.mean(axis=0)
    _, _, axes = np.linalg.svd(xy - centre, full_matrices=False)
    axis = axes[0] if axes[0] @ np.array([1.0, -1.0]) > 0 else -axes[0]  # towards the SE
    along = np.full(valid.shape, np.inf)
    along[rows, cols] = (xy - centre) @ axis
    edge = valid & ~ndimage.binary_erosion(valid)
    return edge & (along <= along[valid].min() + cells)


# -- sources ---------------------------------------------------------------------------------
def _write_common(out: Path, grid_transform, shape, land_use, buildings, title: str,
                  sources: list[dict]) -> Path:
    """Land use, population from the buildings, one planning unit, an empty-ish control
    layer, the catalog."""
    import geopandas as gpd
    import shapely

    from tim.model import Grid
    from tim.rasterize import floor_area_by_centroid
    from tim.store import write_raster

    grid = Grid(RD_NAP, tuple(grid_transform), shape)
    write_raster(out / "landuse.tif", land_use.astype(np.uint8), grid, 255)
    # Residents: 45 m2 of floor per person, in the cell of each footprint's centroid.
    population = floor_area_by_centroid(buildings, grid) / np.float32(45.0)
    write_raster(out / "population.tif", np.round(population), grid, None)
    xmin, ymin, xmax, ymax = grid.bounds
    gpd.GeoDataFrame({"unit_id": [1], "name": [title], "district": [title], "city": [title]},
                     geometry=[shapely.box(xmin, ymin, xmax, ymax)], crs=RD_NAP).to_file(
        out / "planning_units.gpkg", driver="GPKG")
    # No control lines apply: one zero-area line keeps the layer (the CA needs the fields).
    gpd.GeoDataFrame({"kind": ["ecological_red_line"], "name": ["none"]},
                     geometry=[shapely.box(xmin, ymin, xmin + 1e-3, ymin + 1e-3)],
                     crs=RD_NAP).to_file(out / "control_lines.gpkg", driver="GPKG")
    from tim.classes import DEFAULT_CLASSES

    catalog = {"name": title, "crs": RD_NAP, "vertical_datum": "NAP",
               "classes": DEFAULT_CLASSES.to_list(),
               "sources": sources + [
                   {"path": "landuse.tif", "role": "land_use",
                    "description": "derived: sea boundary, buildings, water, grass"},
                   {"path": "population.tif", "role": "population",
                    "description": "derived: floor area / 45 m2 per person"},
                   {"path": "planning_units.gpkg", "role": "planning_units",
                    "description": "the whole area as one unit"},
                   {"path": "control_lines.gpkg", "role": "control_lines",
                    "description": "none apply (a zero-area placeholder)"}]}
    path = out / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False, allow_unicode=True))
    return path


def denhaag_sources(out: Path, cell: float = 5.0) -> Path:
    """Den Haag tile 01 as TIM sources at ``cell`` metres; returns the catalog."""
    import shapely

    from tim.ingest.cityjson import read_cityjson
    from tim.model import Grid
    from tim.rasterize import rasterize, rasterize_tin
    from tim.store import write_raster

    out.mkdir(parents=True, exist_ok=True)
    model = read_cityjson(data_dir() / "city" / "denhaag_scheveningen" /
                          "DenHaag_01_v2.city.json")
    points, triangles = model.terrain.vertices, model.terrain.triangles
    buildings = model.buildings.to_crs(RD_NAP)[["building_id", "height", "storeys", "use",
                                                "geometry"]]
    # CityJSON gives no storey count: 3 m a storey, as the TIM's height rules assume.
    guessed = np.maximum(1, np.round(buildings["height"] / 3.0))
    buildings["storeys"] = buildings["storeys"].where(buildings["storeys"] > 0,
                                                      guessed).astype(float)
    x0, y1 = float(np.floor(points[:, 0].min())), float(np.ceil(points[:, 1].max()))
    shape = (int(np.ceil((y1 - points[:, 1].min()) / cell)),
             int(np.ceil((points[:, 0].max() - x0) / cell)))
    transform = (cell, 0.0, x0, 0.0, -cell, y1)
    grid = Grid(RD_NAP, transform, shape)
    z = rasterize_tin(points, triangles, grid).astype(float)
    hull = rasterize([shapely.MultiPoint(points[:, :2]).convex_hull], np.ones(1), grid, "uint8")
    z = fill_under(z, hull > 0)  # holes under buildings take the nearest ground
    write_raster(out / "dem.tif", z.astype(np.float32), grid, -9999.0)
    buildings.to_file(out / "buildings.gpkg", driver="GPKG")
    land = np.isfinite(z)
    land_use = np.where(land, GRASS, 255)
    land_use[rasterize(buildings.geometry.values, np.ones(len(buildings)), grid,
                       "uint8") > 0] = BUILT
    land_use[seaward_end(land, cells=3)] = SEA
    sources = [{"path": "dem.tif", "role": "elevation",
                "description": "derived: the CityJSON TINRelief rasterised (linear in each "
                               "triangle), holes under buildings filled with the nearest "
                               "ground"},
               {"path": "buildings.gpkg", "role": "buildings",
                "description": "derived: the CityJSON buildings (tim.ingest.cityjson): "
                               "footprints from the LoD2 ground surfaces, heights from the "
                               "model"}]
    (out / "surge.yaml").write_text(DENHAAG_SCENARIO)
    return _write_common(out, transform, shape, land_use, buildings,
                         "Den Haag Scheveningen", sources)


def delft_sources(out: Path, block: int = 1) -> Path:
    """Delft centre on the AHN3 1 m DTM, or on its ``block`` x ``block`` means; returns the
    catalog."""
    import geopandas as gpd
    import rasterio

    from tim.model import Grid
    from tim.rasterize import rasterize
    from tim.store import write_raster

    out.mkdir(parents=True, exist_ok=True)
    folder = data_dir() / "city" / "delft_ahn3"
    dtm = folder / "delft_ahn3_dtm_1m.tif"
    with rasterio.open(dtm) as src:
        transform, shape, z = tuple(src.transform)[:6], src.shape, src.read(1)
    if block > 1:  # aggregate whole blocks: a coarser grid with the same edges
        shape = (shape[0] // block, shape[1] // block)
        z = z[:shape[0] * block, :shape[1] * block].reshape(
            shape[0], block, shape[1], block).mean(axis=(1, 3))
        transform = (transform[0] * block, 0.0, transform[2], 0.0, transform[4] * block,
                     transform[5])
        dtm = out / "dem.tif"
    grid = Grid(RD_NAP, transform, shape)
    if block > 1:
        write_raster(dtm, z.astype(np.float32), grid, -9999.0)
    canals = gpd.read_file(folder / "bgt_waterdeel.sqlite").to_crs(RD_NAP)
    buildings = gpd.read_file(folder / "delft_bgt_pand_heights.geojson")
    buildings["storeys"] = np.maximum(1, np.round(buildings["h_roof_p95"] / 3.0))  # as TIM does
    land_use = np.full(shape, GRASS, dtype=np.uint8)
    land_use[rasterize(buildings.geometry.values, np.ones(len(buildings)), grid,
                       "uint8") > 0] = BUILT
    land_use[rasterize(canals.geometry.values, np.ones(len(canals)), grid, "uint8") > 0] = SEA
    sources = [{"path": str(dtm), "role": "elevation",
                "description": f"AHN3 DTM 1 m (see its PROVENANCE.md), {block} x {block} "
                               "block means"},
               {"path": str(folder / "delft_bgt_pand_heights.geojson"), "role": "buildings",
                "columns": {"building_id": "identificatiebagpnd", "height": "h_roof_p95"},
                "description": "BGT footprints with AHN3 roof heights"}]
    (out / "surge.yaml").write_text(DELFT_SCENARIO)
    return _write_common(out, transform, shape, land_use, buildings, "Delft centre", sources)


#: A severe surge on the Holland coast: the still-water level peaks at 5 m NAP (the order of
#: the 1-in-10 000-year design level at Scheveningen) over a 6-hour event.
DENHAAG_SCENARIO = """\
name: denhaag-surge
title: Den Haag Scheveningen - 5 m NAP storm surge
description: >
  A 6-hour storm surge peaking at 5 m NAP, imposed on the tile's sea-facing end, flows over
  the real dune and boulevard terrain between the LoD2 buildings (obstacles, 5 m grid).
start_year: 2025
years: 1
population: {annual_growth: 0.0}
surge:
  engine: inertial
  hydrograph: {time_h: [0, 1, 2, 3, 4, 5, 6], level_m: [2.0, 3.0, 4.2, 5.0, 4.2, 3.0, 2.0]}
  buildings_as_obstacles: true
  solver: {outputs: 7}
  damage: {country: Netherlands}
"""

#: Canals rising 1.6 m in an hour (from -0.4 m NAP, the usual canal level, to 1.2 m NAP) and
#: falling back: the low streets of the centre (down to -0.6 m NAP) take the water.
DELFT_SCENARIO = """\
name: delft-canals
title: Delft centre - canals rising to 1.2 m NAP
description: >
  The canal level rises from -0.4 m to 1.2 m NAP in an hour, holds for half an hour and falls;
  water spreads over the AHN3 terrain around the BGT buildings (obstacles, 1 m grid).
start_year: 2025
years: 1
population: {annual_growth: 0.0}
surge:
  engine: inertial
  hydrograph: {time_h: [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0],
               level_m: [-0.4, 0.0, 0.4, 0.8, 1.2, 1.2, 1.2, 0.8, 0.4]}
  buildings_as_obstacles: true
  solver: {outputs: 9}
  damage: {country: Netherlands}
"""

BUILDERS = {"denhaag": denhaag_sources, "delft": delft_sources}


def write_example(place: str, out: Path) -> Path:
    """Sources, catalog and ``surge.yaml`` of ``place`` (denhaag or delft) in ``out``; returns
    the catalog path."""
    if place not in BUILDERS:
        from tim.errors import InputError

        raise InputError(f"no example of that name (examples: {', '.join(BUILDERS)})",
                         field="PLACE", value=place)
    return BUILDERS[place](Path(out))


def flooded_by_district(territory, depth: np.ndarray, *, threshold: float = 0.05):
    """Flooded area (ha) per district of a surge's maximum ``depth`` on ``territory``: all
    land (not sea, not outside), and of it built-up land and the land that is not wet anyway
    (neither wetland, intertidal flats included, nor inland water). Cells outside every
    planning unit (land reclaimed after the units were drawn, the coastal fringe) are
    reported as district ``(no unit)``. A table sorted by flooded land, largest first."""
    import pandas as pd

    classes = territory.classes
    lu = territory.fields["land_use__class"]
    district = territory.fields["planning__district_id"]
    names = dict(zip(territory.layers["planning_units"]["district_id"],
                     territory.layers["planning_units"]["district"]))
    land = ~classes.group_mask(lu, "sea") & (lu != 255)
    wet_anyway = classes.group_mask(lu, "water") | np.isin(
        lu, [c.code for c in classes if "wetland" in c.name.lower()])
    flooded = land & (np.nan_to_num(depth) >= threshold)
    cell_ha = abs(territory.grid.transform[0] * territory.grid.transform[4]) / 1e4
    rows = []
    for d in np.unique(district[land]):
        here = district == d
        rows.append({"district": names.get(int(d), "(no unit)"),
                     "land_ha": float((land & here).sum() * cell_ha),
                     "flooded_ha": float((flooded & here).sum() * cell_ha),
                     "flooded_dry_land_ha": float((flooded & here & ~wet_anyway).sum()
                                                  * cell_ha),
                     "flooded_built_ha": float((flooded & here & classes.group_mask(lu, "built")
                                                ).sum() * cell_ha)})
    table = pd.DataFrame(rows).sort_values("flooded_dry_land_ha", ascending=False)
    return table.reset_index(drop=True)

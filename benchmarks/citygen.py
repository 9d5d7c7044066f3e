"""Synthetic city of many real footprints for the tiling benchmarks: the Den Haag CityJSON
footprints and the Delft BGT footprints (real shapes and heights) replicated over a grid of
blocks, each block shifted by its own extent plus a street, in RD New."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RD = "EPSG:28992"


def real_footprints(twin_data: Path):
    """(polygons, heights) of the 844 Den Haag + 160 Delft buildings, each set re-centred."""
    import geopandas as gpd
    import shapely

    from tim.ingest.cityjson import read_cityjson

    city = twin_data / "city"
    denhaag = read_cityjson(city / "denhaag_scheveningen/DenHaag_01_v2.city.json").buildings
    delft = gpd.read_file(city / "delft_ahn3/delft_bgt_pand_heights.geojson")
    shapes, heights = [], []
    for geoms, h in ((denhaag.geometry.values, denhaag["height"].to_numpy()),
                     (delft.geometry.values, delft["h_roof_p95"].to_numpy())):
        x0, y0, _, _ = shapely.total_bounds(geoms)
        shapes.append(shapely.transform(geoms, lambda c, x0=x0, y0=y0: c - [x0, y0]))
        heights.append(h)
    return shapes, heights


def replicated_city(twin_data: Path, n: int):
    """A Territory with ``n`` buildings: blocks of Den Haag and Delft footprints on a grid."""
    import geopandas as gpd
    import shapely

    from tim.classes import DEFAULT_CLASSES
    from tim.model import Grid, Territory

    shapes, heights = real_footprints(twin_data)
    blocks = []
    k = 0
    count = 0
    side = int(np.ceil(np.sqrt(n / 500)))
    while count < n:
        i, j = divmod(k, side)
        geoms, h = shapes[k % 2], heights[k % 2]
        dx, dy = 80_000 + j * 820.0, 440_000 + i * 700.0
        blocks.append((shapely.transform(geoms, lambda c, dx=dx, dy=dy: c + [dx, dy]), h))
        count += len(geoms)
        k += 1
    geometry = np.concatenate([g for g, _ in blocks])[:n]
    height = np.concatenate([h for _, h in blocks])[:n]
    frame = gpd.GeoDataFrame({"building_id": [f"b{i}" for i in range(n)], "height": height,
                              "height_source": "attribute", "storeys": 3,
                              "use": "residential"}, geometry=geometry, crs=RD)
    b = frame.total_bounds
    cell = 25.0
    shape = (int((b[3] - b[1]) // cell) + 1, int((b[2] - b[0]) // cell) + 1)
    t = Territory(Grid(RD, (cell, 0.0, b[0], 0.0, -cell, b[3]), shape), DEFAULT_CLASSES,
                  name=f"{n} replicated buildings")
    t.add_layer("buildings", frame)
    return t

"""Layers derived from a territory when its sources lack them, always marked as synthetic.

Some data sets (the Wuhan land-use series, for one) come without planning units. The household
model and the unit-level indicators need units, so :func:`grid_planning_units` lays a regular
grid of square units over the valid cells and groups them into districts of k x k units. The
history records it as a synthetic derivation: the units are a computational zoning, not the
city's plan.
"""

from __future__ import annotations

import numpy as np

from tim.errors import InputError
from tim.fields import field_spec
from tim.model import Territory
from tim.rasterize import rasterize


def grid_planning_units(territory: Territory, size: float, *, districts_of: int = 3,
                        city: str | None = None) -> None:
    """Add square planning units of ``size`` (CRS units) covering the land-use data, grouped
    into districts of ``districts_of`` x ``districts_of`` units; units with no valid land-use
    cell are dropped. Sets the ``planning_units`` layer and ``planning__unit_id``."""
    import geopandas as gpd
    import shapely

    if size <= 0 or districts_of < 1:
        raise InputError("unit size and district size must be positive", field="grid_units",
                         value=(size, districts_of))
    if "planning_units" in territory.layers:
        raise InputError("the territory already has planning units", field="grid_units")
    grid = territory.grid
    xmin, ymin, xmax, ymax = grid.bounds
    valid = np.ones(grid.shape, dtype=bool)
    if "land_use__class" in territory.fields:
        valid = territory.fields["land_use__class"] != field_spec("land_use__class").nodata
    ids, names, districts, boxes = [], [], [], []
    cols, rows = int(np.ceil((xmax - xmin) / size)), int(np.ceil((ymax - ymin) / size))
    for r in range(rows):
        for c in range(cols):
            x0, y1 = xmin + c * size, ymax - r * size
            ids.append(r * cols + c + 1)
            names.append(f"U{r + 1:02d}-{c + 1:02d}")
            districts.append(f"D{r // districts_of + 1}-{c // districts_of + 1}")
            boxes.append(shapely.box(x0, y1 - size, x0 + size, y1))
    unit_of = rasterize(np.array(boxes), np.array(ids), grid, "int32")
    counts = np.bincount(unit_of[valid], minlength=len(ids) + 1)
    keep = [i for i, unit in enumerate(ids) if counts[unit] > 0]
    frame = gpd.GeoDataFrame({"unit_id": [ids[i] for i in keep],
                              "name": [names[i] for i in keep],
                              "district": [districts[i] for i in keep],
                              "city": city or territory.name},
                             geometry=[boxes[i] for i in keep], crs=grid.crs)
    territory.set_field("planning__unit_id", np.where(valid, unit_of, 0).astype(np.int32))
    territory.add_layer("planning_units", frame)
    territory.record("derive", layer="planning_units", method="regular grid", size=size,
                     districts_of=districts_of, units=len(frame), synthetic=True)

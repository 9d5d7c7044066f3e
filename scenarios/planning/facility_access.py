"""Residents within reach of facilities, per district and planning unit (constituency area).

Reach is a **straight line** from the resident's cell centre to the nearest facility's cell
centre (the TIM grid, :func:`engine.suitability.distance_to`), within the service radius of
the national residential-area standard's life circles (GB 50180-2018 城市居住区规划设计标准:
5-minute 300 m, 10-minute 500 m, 15-minute 800-1000 m). A walk is longer than the straight
line (streets, stairs, footbridges, slopes): read the shares as an upper bound. A network
distance would need footpaths; Hong Kong's roads layer holds main and secondary roads only,
so on it every walk would be routed along the road network's few links and read far longer
than it is (and a cell far from a road would be unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from tim.errors import InputError
from tim.model import Territory


@dataclass(frozen=True)
class FacilityKind:
    """A kind of facility: which rows of which layer, and the radius (m) that counts."""

    name: str
    layer: str
    radius: float
    select: Callable[[Any], Any]
    standard: str


#: Hong Kong's facilities (hk_facilities_2022.gpkg, kept as TIM layers by the catalog).
HONG_KONG_KINDS = (
    FacilityKind("kindergarten", "facilities_2022", 300.0,
                 lambda f: f["category"] == "kindergarten", "5-minute life circle, 300 m"),
    FacilityKind("primary_school", "facilities_2022", 500.0,
                 lambda f: f["subcategory"] == "primary", "10-minute life circle, 500 m"),
    FacilityKind("secondary_school", "facilities_2022", 1000.0,
                 lambda f: f["subcategory"] == "secondary", "15-minute life circle, 1000 m"),
    FacilityKind("clinic", "facilities_2022", 1000.0,
                 lambda f: f["category"] == "clinic", "15-minute life circle, 1000 m"),
    FacilityKind("park", "facilities_2022", 500.0,
                 lambda f: f["subcategory"].isin(["recreation_ground", "park_zoo_garden"]),
                 "10-minute life circle, 500 m"),
    FacilityKind("elderly_centre", "facilities_2022", 300.0,
                 lambda f: f["category"] == "social", "5-minute life circle, 300 m"),
    FacilityKind("mtr_station", "mtr_stations", 800.0, lambda f: np.ones(len(f), bool),
                 "transit catchment, 800 m"),
)
#: Records whose own HK1980 and lon/lat positions disagree by more than this are left out.
CONFLICT_M = 1000.0


def facility_mask(territory: Territory, kind: FacilityKind) -> np.ndarray:
    """Cells holding at least one facility of ``kind``."""
    from tim.rasterize import centroid_cells

    frame = territory.layers.get(kind.layer)
    if frame is None:
        raise InputError(f"the territory has no {kind.layer!r} layer", field=kind.layer)
    chosen = frame[np.asarray(kind.select(frame), bool)]
    if "coord_conflict_m" in chosen.columns:
        chosen = chosen[~(chosen["coord_conflict_m"] > CONFLICT_M)]
    mask = np.zeros(territory.grid.shape, bool)
    cells = centroid_cells(chosen, territory.grid)
    mask.ravel()[cells[cells >= 0]] = True
    return mask


def facility_access(territory: Territory, kinds=HONG_KONG_KINDS) -> dict[str, pd.DataFrame]:
    """``{"district": table, "unit": table}``: residents, and per kind the residents within
    its radius and their share (%), per district and per planning unit, plus a ``Hong Kong``
    total row in the district table."""
    from engine.suitability import distance_to

    people = territory.get("population__count").astype(float)
    units = territory.get("planning__unit_id")
    table = territory.layers["planning_units"].drop(columns="geometry")
    within = {}
    for kind in kinds:
        distance = distance_to(facility_mask(territory, kind), territory.grid.cell_size)
        within[kind.name] = np.where(distance <= kind.radius, people, 0.0)
    frame = pd.DataFrame({"unit_id": units.ravel(), "residents": people.ravel(),
                          **{k: v.ravel() for k, v in within.items()}})
    frame = frame[frame["unit_id"] > 0].groupby("unit_id").sum()
    by_unit = table.set_index("unit_id").join(frame, how="left").fillna(0.0)
    by_district = by_unit.groupby("district")[["residents", *within]].sum()
    by_district.loc["Hong Kong 香港"] = by_district.sum()
    for t in (by_unit, by_district):
        for name in within:
            t[f"{name}_pct"] = np.where(t["residents"] > 0,
                                        100.0 * t[name] / t["residents"].where(
                                            t["residents"] > 0, 1), np.nan).round(1)
    return {"district": by_district.reset_index(), "unit": by_unit.reset_index()}


def write_access(tables: dict[str, pd.DataFrame], out: Any, kinds=HONG_KONG_KINDS) -> Any:
    """``by_district.csv``, ``by_unit.csv`` and ``radii.json`` (the kinds and standards)."""
    import json
    from pathlib import Path

    from tim.atomic import atomic_directory

    with atomic_directory(out) as tmp:
        tables["district"].to_csv(tmp / "by_district.csv", index=False)
        tables["unit"].to_csv(tmp / "by_unit.csv", index=False)
        (tmp / "radii.json").write_text(json.dumps(
            {k.name: {"radius_m": k.radius, "layer": k.layer, "standard": k.standard}
             for k in kinds}, indent=1), encoding="utf-8")
    return Path(out)

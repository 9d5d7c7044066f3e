"""Residents within reach of facilities, per district and planning unit (constituency area),
measured two ways side by side.

* **Straight line** (:func:`facility_access`): from the resident's cell centre to the nearest
  facility's cell centre (the TIM grid, :func:`engine.suitability.distance_to`), within the
  service radius of the national residential-area standard's life circles (GB 50180-2018
  城市居住区规划设计标准: 5-minute 300 m, 10-minute 500 m, 15-minute 800-1000 m). No walk is
  shorter than the straight line: the shares are an **upper bound**.
* **Along the roads** (:func:`network_access`): the life-circle machinery
  (:mod:`scenarios.planning.lifecircle`: one Dijkstra per type from all its facilities, cells
  snapped to the nearest network vertex) on the TIM's ``roads`` layer, with the same distance
  budget (minutes = radius / 60 at 1.0 m/s, ``lifecircle_hongkong.yaml``). Hong Kong's layer
  holds main and secondary roads only - no footpaths, stairs, footbridges, escalators, estate
  paths or minor streets - so a walk routed on it goes round by the carriageways, and a piece
  of road joined to the rest only by minor streets is an island: its cells reach only the
  facilities on it. The walk is a straight connector from the cell centre to the nearest road
  vertex (roads split every 50 m), the roads, and a straight connector to the facility: as
  long as or longer than a real walk almost everywhere (the straight connectors ignore walls
  and slopes; crossings of roads are taken as junctions, flyovers included). The shares are a
  **lower bound**; the truth lies between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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
#: The distance budget of :data:`HONG_KONG_KINDS` as walking minutes (the network measure).
HONG_KONG_STANDARDS = Path(__file__).with_name("lifecircle_hongkong.yaml")
#: The TIM's line layer walked along by :func:`network_access`.
ROADS_LAYER = "roads"
#: A road end this close (m) to another road is joined to it (digitising gaps, not links).
JOIN_M = 25.0
#: Roads are cut into pieces of at most this (m), so a cell connects near its nearest road.
PIECE_M = 50.0


@dataclass(frozen=True)
class Access:
    """Residents within reach per district (with a ``Hong Kong 香港`` total row) and per unit,
    and per populated cell how many of the kinds are out of reach (NaN: no residents)."""

    method: str
    district: pd.DataFrame
    unit: pd.DataFrame
    missing: np.ndarray
    counts: dict[str, Any] = field(default_factory=dict)


def chosen_facilities(territory: Territory, kind: FacilityKind) -> Any:
    """The rows of ``kind``'s layer that are one (positions in conflict left out)."""
    frame = territory.layers.get(kind.layer)
    if frame is None:
        raise InputError(f"the territory has no {kind.layer!r} layer", field=kind.layer)
    chosen = frame[np.asarray(kind.select(frame), bool)]
    if "coord_conflict_m" in chosen.columns:
        chosen = chosen[~(chosen["coord_conflict_m"] > CONFLICT_M)]
    return chosen


def facility_mask(territory: Territory, kind: FacilityKind) -> np.ndarray:
    """Cells holding at least one facility of ``kind``."""
    from tim.rasterize import centroid_cells

    chosen = chosen_facilities(territory, kind)
    mask = np.zeros(territory.grid.shape, bool)
    cells = centroid_cells(chosen, territory.grid)
    mask.ravel()[cells[cells >= 0]] = True
    return mask


def facility_access(territory: Territory, kinds=HONG_KONG_KINDS) -> Access:
    """Residents within a straight line of each kind's radius (an upper bound on access)."""
    from engine.suitability import distance_to

    people = territory.get("population__count").astype(float)
    within = {}
    for kind in kinds:
        distance = distance_to(facility_mask(territory, kind), territory.grid.cell_size)
        within[kind.name] = distance <= kind.radius
    return _tables(territory, "straight line", people, within, {})


def road_network(roads: Any, *, join_m: float = JOIN_M, piece_m: float = PIECE_M,
                 source: str = f"TIM layer {ROADS_LAYER}") -> Any:
    """A life-circle :class:`~scenarios.planning.lifecircle.Network` from a road layer that is
    not noded: a road end within ``join_m`` of another road is joined to its nearest point,
    crossings become junctions, and the roads are cut into pieces of at most ``piece_m``.

    Examples
    --------
    Two roads crossing, and a third ending 10 m short of the first (joined within 15 m):

    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (100, 0)]),
    ...     shapely.LineString([(50, -50), (50, 50)]), shapely.LineString([(20, 10), (20, 60)])],
    ...     crs="EPSG:2326")
    >>> net = road_network(roads, join_m=15, piece_m=1000)
    >>> len(net.xy), len(net.u), round(float(net.length.sum()), 1)
    (8, 7, 260.0)
    """
    import geopandas as gpd
    import shapely

    from scenarios.planning.lifecircle import network_from_lines

    lines = shapely.get_parts(roads.geometry.values[~roads.geometry.isna().to_numpy()])
    lines = lines[(shapely.get_type_id(lines) == 1) & ~shapely.is_empty(lines)]
    if not len(lines):
        raise InputError("no lines in the road layer", source=source, field="geometry")
    ends = np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
    owner = np.tile(np.arange(len(lines)), 2)
    end, other = shapely.STRtree(lines).query(ends, predicate="dwithin", distance=join_m)
    keep = owner[end] != other
    end, other = end[keep], other[keep]
    gap = shapely.distance(ends[end], lines[other])
    order = np.lexsort((gap, end))  # each end to its nearest other road
    end, other, gap = end[order], other[order], gap[order]
    first = np.r_[True, end[1:] != end[:-1]][:len(end)]
    end, other, gap = end[first], other[first], gap[first]
    end, other = end[gap > 0.01], other[gap > 0.01]
    foot = shapely.line_interpolate_point(lines[other],
                                          shapely.line_locate_point(lines[other], ends[end]))
    joins = shapely.linestrings(np.stack([shapely.get_coordinates(ends[end]),
                                          shapely.get_coordinates(foot)], axis=1)) \
        if len(end) else np.array([], dtype=object)
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(
        np.concatenate([lines, joins]))))
    xy, index = shapely.get_coordinates(shapely.segmentize(noded, piece_m), return_index=True)
    same = index[1:] == index[:-1]
    pieces = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    pieces = pieces[shapely.length(pieces) > 0]
    return network_from_lines(gpd.GeoDataFrame(geometry=pieces, crs=roads.crs), source)


def network_access(territory: Territory, kinds=HONG_KONG_KINDS,
                   standards_path: str | Path | None = None) -> Access:
    """Residents within each kind's walking minutes along the TIM's ``roads`` layer (a lower
    bound on access, module doc), through the life-circle functions; ``counts`` says how
    connected the network is and what could not be reached."""
    import geopandas as gpd
    from scipy.sparse.csgraph import connected_components

    from scenarios.planning.lifecircle import (facilities_from_frame, facility_node_minutes,
                                               load_standards, populated_cell_minutes, snap)

    standards, path = load_standards(standards_path or HONG_KONG_STANDARDS)
    names = [k.name for k in kinds]
    unknown = [k for k in names if k not in standards.facilities]
    if unknown:
        raise InputError("a kind measured has no facility type in the standards",
                         source=path, field="facilities", value=unknown,
                         hint=f"types: {', '.join(standards.facilities)}")
    roads = territory.layers.get(ROADS_LAYER)
    if roads is None or not len(roads):
        raise InputError(f"the territory has no {ROADS_LAYER!r} layer to walk along",
                         field=ROADS_LAYER)
    network = road_network(roads.to_crs(territory.grid.crs))
    crs = territory.grid.crs
    parts = [chosen_facilities(territory, k).to_crs(crs)[["geometry"]].assign(type=k.name)
             for k in kinds]
    frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    facilities = facilities_from_frame(frame, standards, crs, source="2022 facilities")
    node_minutes = facility_node_minutes(network, facilities, standards)
    maps, _cells = populated_cell_minutes(territory, network, node_minutes, standards,
                                          set(facilities["type"]))
    people = territory.get("population__count").astype(float)
    within = {k: maps[k] <= standards.facilities[k].minutes for k in names}  # NaN: False
    n_parts, part = connected_components(network.matrix(), directed=False)
    largest = np.bincount(part).argmax()
    _, f_snap = snap(network, facilities[["x", "y"]].to_numpy(float))
    reached = {k: np.isfinite(maps[k]) for k in names}
    counts = {"standards": str(path), "walking_speed_m_s": standards.walking_speed_m_s,
              "minutes": {k: standards.facilities[k].minutes for k in names},
              "max_snap_m": standards.max_snap_m, "join_m": JOIN_M, "piece_m": PIECE_M,
              "roads": len(roads), "nodes": len(network.xy), "edges": len(network.u),
              "road_km": round(float(network.length.sum()) / 1000, 1),
              "components": int(n_parts),
              "largest_component_km": round(float(network.length[
                  part[network.u] == largest].sum()) / 1000, 1),
              "facilities": {k: int((facilities["type"] == k).sum()) for k in names},
              "facilities_off_network": int((f_snap > standards.max_snap_m).sum()),
              "residents_unreachable": {k: round(float(people[(people > 0) & ~reached[k]]
                                                       .sum())) for k in names}}
    return _tables(territory, "roads", people, within, counts)


def _tables(territory: Territory, method: str, people: np.ndarray,
            within: dict[str, np.ndarray], counts: dict[str, Any]) -> Access:
    """Residents and residents within reach per unit and district, shares in %."""
    units = territory.get("planning__unit_id")
    table = territory.layers["planning_units"].drop(columns="geometry")
    frame = pd.DataFrame({"unit_id": units.ravel(), "residents": people.ravel(),
                          **{k: np.where(v, people, 0.0).ravel() for k, v in within.items()}})
    frame = frame[frame["unit_id"] > 0].groupby("unit_id").sum()
    by_unit = table.set_index("unit_id").join(frame, how="left").fillna(0.0)
    by_district = by_unit.groupby("district")[["residents", *within]].sum()
    by_district.loc["Hong Kong 香港"] = by_district.sum()
    for t in (by_unit, by_district):
        for name in within:
            t[f"{name}_pct"] = np.where(t["residents"] > 0,
                                        100.0 * t[name] / t["residents"].where(
                                            t["residents"] > 0, 1), np.nan).round(1)
    populated = np.isfinite(people) & (people > 0)
    missing = np.where(populated, sum((~v).astype(float) for v in within.values()), np.nan)
    return Access(method, by_district.reset_index(), by_unit.reset_index(), missing, counts)


def write_access(results: list[Access], territory: Territory, out: str | Path,
                 kinds=HONG_KONG_KINDS) -> Path:
    """Write the measures side by side to the directory ``out`` atomically::

        manifest.json                 kind "access", the kinds (radius, standard), per measure
                                      its files and counts (the network's connectedness)
        by_district.csv, by_unit.csv  the straight line (residents, within reach, share %)
        by_district_network.csv ...   the same along the roads (suffix: the measure's)
        rasters/access__kinds_missing_<measure>.tif   per populated cell, kinds out of reach
    """
    import json

    from tim.atomic import atomic_directory
    from tim.store import write_raster

    manifest: dict[str, Any] = {
        "kind": "access", "kinds": {k.name: {"radius_m": k.radius, "layer": k.layer,
                                             "standard": k.standard} for k in kinds},
        "measures": {}}
    with atomic_directory(out) as tmp:
        (tmp / "rasters").mkdir()
        for result in results:
            key = MEASURES[result.method]
            suffix = "" if key == "straight" else f"_{key}"
            result.district.to_csv(tmp / f"by_district{suffix}.csv", index=False)
            result.unit.to_csv(tmp / f"by_unit{suffix}.csv", index=False)
            raster = f"rasters/access__kinds_missing_{key}.tif"
            write_raster(tmp / raster, result.missing.astype(np.float32), territory.grid,
                         float("nan"))
            manifest["measures"][key] = {
                "method": result.method, "district": f"by_district{suffix}.csv",
                "unit": f"by_unit{suffix}.csv", "missing": raster, "counts": result.counts}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False,
                                                      default=str), encoding="utf-8")
    return Path(out)


#: The measures' keys in file names.
MEASURES = {"straight line": "straight", "roads": "network"}
#: Where the dashboard looks for the access of a TIM: ``<TIM_DIR>-access``.
SUFFIX = "-access"


@dataclass(frozen=True)
class AccessFolder:
    """A folder :func:`write_access` wrote, read back: per measure key its district and unit
    tables."""

    path: Path
    manifest: dict[str, Any]
    district: dict[str, pd.DataFrame]
    unit: dict[str, pd.DataFrame]

    @classmethod
    def open(cls, path: str | Path) -> AccessFolder:
        import json

        from tim.config import read_csv

        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("kind") != "access":
            raise InputError("not a facility-access folder", source=path,
                             field="manifest.kind", value=manifest.get("kind"))
        measures = manifest.get("measures", {})
        return cls(path, manifest,
                   {k: read_csv(path / m["district"], "access by district")
                    for k, m in measures.items()},
                   {k: read_csv(path / m["unit"], "access by unit") for k, m in measures.items()})


def find_access(base: str | Path) -> AccessFolder | None:
    """The access folder written beside a TIM folder ``base`` (:data:`SUFFIX`)."""
    base = Path(base)
    folder = base.with_name(base.name + SUFFIX)
    return AccessFolder.open(folder) if (folder / "manifest.json").is_file() else None

"""The 15-minute community life circle (社区生活圈, TD/T 1062-2021): walking time over a street
and path network from every residential building to the nearest facility of each type, the
residents covered per planning unit, and the gaps. Standards in ``lifecircle_standards.yaml``.

``twin lifecircle`` calls :func:`check_lifecircle` and :func:`write_lifecircle`.

* Network: the walkable ways of an OSM PBF (pyrosm's ``walking`` network, split at every
  junction) or a line layer (GPKG, SHP, ...) whose lines meet at their end points (a noded
  network, as network data usually is). Nodes are the line ends (merged within 1 cm), edges
  the lines with their length in the territory's projected CRS; a degree CRS is refused.
* Facilities: OSM points and areas whose tags the standards map to a type (an area at its
  representative point), or a vector file with a ``type`` column holding the type names.
* Walking distance from a building (its representative point) to the nearest facility of a
  type: straight to the nearest network node, along the network, straight from the facility's
  nearest node to it. All facilities of a type are one source: a virtual node joined to each
  facility's node by its straight walk, and one Dijkstra from it (``scipy.sparse.csgraph``).
  Buildings or facilities farther than ``max_snap_m`` from the network, and buildings in a part
  of the network without a facility of the type, are unreachable: counted and listed, never
  given an infinite time.
* Residents: a ``population`` column, else floor area / ``floor_area_per_person_m2``. Every
  populated cell of the TIM (``population__count``) is an origin too, from its centre.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scenarios.planning.outputs import CheckFolder, check_folder, file_record
from tim.config import read_yaml, validation_error
from tim.errors import InputError
from tim.model import Territory

log = logging.getLogger(__name__)

STANDARDS_FILE = Path(__file__).with_name("lifecircle_standards.yaml")
#: Line ends closer than this (m) are one node.
NODE_TOLERANCE = 0.01
#: Zero-length edges get this length (m): csgraph drops explicit zeros of a sparse matrix.
_TINY = 1e-9


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FacilityType(_Strict):
    name: str
    minutes: float = Field(gt=0, le=120)
    osm: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)  # values of a facilities type column


class Standards(_Strict):
    name: str
    walking_speed_m_s: float = Field(gt=0, le=10)
    floor_area_per_person_m2: float = Field(gt=0, le=10_000)
    residential_uses: list[str]
    max_snap_m: float = Field(gt=0, le=100_000)
    facilities: dict[str, FacilityType] = Field(min_length=1)


def load_standards(path: str | Path | None = None, *,
                   walking_speed: float | None = None) -> tuple[Standards, Path]:
    """The standards file (default: the one beside this module)."""
    path = Path(path) if path else STANDARDS_FILE
    raw = read_yaml(path, "life-circle standards", not_a_mapping="a standards file is a mapping")
    if walking_speed is not None:
        raw = {**raw, "walking_speed_m_s": walking_speed}
    try:
        standards = Standards.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from None
    for key, spec in standards.facilities.items():
        for k, tag in enumerate(spec.osm):
            if "=" not in tag:
                raise InputError("an OSM tag is key=value (key=* for any value)", source=path,
                                 field=f"facilities.{key}.osm.{k}", value=tag)
    return standards, path


# -- the network --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Network:
    """Nodes (x, y) and undirected edges (u, v, length in m) in ``crs``; ``lines`` the edges'
    geometries (for maps)."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    crs: Any
    lines: np.ndarray

    def matrix(self, extra: int = 0) -> Any:
        """The symmetric CSR adjacency (``extra`` more nodes with no edge), parallel edges
        merged by their shortest length."""
        from scipy.sparse import coo_matrix

        n = len(self.xy) + extra
        a, b = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        keep = a != b
        a, b, w = a[keep], b[keep], np.maximum(self.length[keep], _TINY)
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, w = a[first], b[first], w[first]
        return coo_matrix((np.concatenate([w, w]), (np.concatenate([a, b]),
                                                    np.concatenate([b, a]))),
                          shape=(n, n)).tocsr()


def _projected(crs: Any, source: str | Path, what: str) -> None:
    from pyproj import CRS

    if crs is None or CRS.from_user_input(crs).is_geographic:
        raise InputError(f"{what} needs a projected CRS in metres for walking distances",
                         source=source, field="crs", value=str(crs))


def network_from_lines(frame: Any, source: str | Path = "network") -> Network:
    """A :class:`Network` from a GeoDataFrame of (multi)lines in a projected CRS."""
    import shapely

    _projected(frame.crs, source, "the network")
    lines = shapely.get_parts(frame.geometry.values[~frame.geometry.isna().to_numpy()])
    lines = lines[(shapely.get_type_id(lines) == 1) & ~shapely.is_empty(lines)]
    if not len(lines):
        raise InputError("no lines in the network", source=source, field="geometry")
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(lines, 0)),
                      shapely.get_coordinates(shapely.get_point(lines, -1))])
    keys = np.round(ends / NODE_TOLERANCE).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n = len(lines)
    return Network(ends[first], inverse[:n], inverse[n:], shapely.length(lines), frame.crs,
                   lines)


def read_network(path: str | Path, crs: Any) -> Network:
    """The walkable network of an OSM PBF, or a line layer, in ``crs``."""
    from tim.ingest.vector import read_vector

    path = Path(path)
    _projected(crs, path, "the territory")
    if path.name.lower().endswith(".pbf"):
        import pyrosm

        nodes, edges = pyrosm.OSM(str(path)).get_network(network_type="walking", nodes=True)
        if edges is None or not len(edges):
            raise InputError("no walkable ways (highway=*) in the extract", source=path,
                             field="highway")
        return _network_from_osm(nodes, edges, crs)
    else:
        frame = read_vector(path, assume_crs=None, polygons=False)
        if frame.crs is None:
            raise InputError("the network file has no CRS", source=path, field="crs")
        _projected(frame.crs, path, "the network")
        frame = frame.to_crs(crs)
    return network_from_lines(frame, path)


def _network_from_osm(nodes: Any, edges: Any, crs: Any) -> Network:
    """pyrosm's walking graph (ways split at every junction, ``u``/``v`` node ids)."""
    import shapely

    nodes = nodes.set_crs("EPSG:4326", allow_override=True).to_crs(crs)
    lines = edges.set_crs("EPSG:4326", allow_override=True).to_crs(crs).geometry.values
    index = pd.Index(nodes["id"].to_numpy())
    u, v = index.get_indexer(edges["u"].to_numpy()), index.get_indexer(edges["v"].to_numpy())
    ok = (u >= 0) & (v >= 0)
    return Network(shapely.get_coordinates(nodes.geometry.values), u[ok].astype(np.int64),
                   v[ok].astype(np.int64), shapely.length(lines[ok]), crs, lines[ok])


# -- facilities ---------------------------------------------------------------------------------
def _osm_filter(standards: Standards) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    for spec in standards.facilities.values():
        for tag in spec.osm:
            key, _, value = tag.partition("=")
            if value == "*":
                wanted[key] = True
            elif wanted.get(key) is not True:
                wanted.setdefault(key, [])
                if value not in wanted[key]:
                    wanted[key].append(value)
    return wanted


def read_facilities(path: str | Path, standards: Standards, crs: Any, *,
                    type_column: str = "type") -> pd.DataFrame:
    """Facilities (columns type, facility_id, x, y in ``crs``) from an OSM PBF (tags mapped by
    the standards) or a vector file whose ``type_column`` names the standards' types."""
    from tim.ingest.vector import read_vector

    path = Path(path)
    if path.name.lower().endswith(".pbf"):
        import pyrosm

        pois = pyrosm.OSM(str(path)).get_pois(custom_filter=_osm_filter(standards))
        if pois is None or not len(pois):
            raise InputError("no facility the standards know in the extract", source=path,
                             field="tags")
        pois = pois.set_crs("EPSG:4326", allow_override=True)
        rows = []
        for key, spec in standards.facilities.items():
            hit = np.zeros(len(pois), dtype=bool)
            for tag in spec.osm:
                k, _, v = tag.partition("=")
                if k in pois:
                    col = pois[k].astype(object)
                    hit |= (col.notna() & (col != "")).to_numpy() if v == "*" else \
                        (col == v).to_numpy()
            rows.append(pd.DataFrame({"type": key, "row": np.flatnonzero(hit)}))
        table = pd.concat(rows, ignore_index=True)
        ids = (pois["osm_type"].astype(str) + "/" + pois["id"].astype(str)).to_numpy() \
            if "osm_type" in pois else pois["id"].astype(str).to_numpy()
        geoms = pois.geometry.values
        frame_crs = pois.crs
    else:
        return facilities_from_frame(read_vector(path, polygons=False), standards, crs,
                                     type_column=type_column, source=path)
    return _located(table, ids, geoms, frame_crs, crs, path)


def facilities_from_frame(frame: Any, standards: Standards, crs: Any, *,
                          type_column: str = "type", source: str | Path = "facilities"
                          ) -> pd.DataFrame:
    """Facilities from a GeoDataFrame whose ``type_column`` holds a type of the standards or
    one of its ``kinds``; other values are left out and counted (``attrs["not_mapped"]``)."""
    if type_column not in frame:
        raise InputError(f"no {type_column!r} column naming the facility type", source=source,
                         field=type_column, hint=f"types: {', '.join(standards.facilities)}")
    values = frame[type_column].astype(str).to_numpy()
    ids = (frame["facility_id"].astype(str).to_numpy() if "facility_id" in frame
           else np.array([f"f{i}" for i in range(len(frame))]))
    parts = []
    for key, spec in standards.facilities.items():
        hit = np.isin(values, [key, *spec.kinds])
        parts.append(pd.DataFrame({"type": key, "row": np.flatnonzero(hit)}))
    table = pd.concat(parts, ignore_index=True)
    mapped = np.zeros(len(frame), dtype=bool)
    mapped[table["row"].to_numpy()] = True
    if not mapped.any():
        raise InputError("no facility of a type the standards know", source=source,
                         field=type_column, value=sorted(set(values))[:5],
                         hint=f"types: {', '.join(standards.facilities)}")
    out = _located(table, ids, frame.geometry.values, frame.crs, crs, source)
    out.attrs["not_mapped"] = {str(v): int((values[~mapped] == v).sum())
                               for v in sorted(set(values[~mapped]))}
    return out


def _located(table: pd.DataFrame, ids: np.ndarray, geoms: np.ndarray, frame_crs: Any,
             crs: Any, source: str | Path) -> pd.DataFrame:
    """The chosen rows (``table``: type, row) at a point on each geometry, in ``crs``."""
    import geopandas as gpd
    import shapely

    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(missing):
        raise InputError("a facility has no location", source=source, field="geometry",
                         value=str(ids[missing[0]]))
    points = gpd.GeoSeries(shapely.point_on_surface(geoms), crs=frame_crs).to_crs(crs)
    xy = shapely.get_coordinates(points.values)
    rows = table["row"].to_numpy()
    return pd.DataFrame({"type": table["type"].to_numpy(), "facility_id": ids[rows],
                         "x": xy[rows, 0], "y": xy[rows, 1]})


def synthetic_network(territory: Territory, spacing: float = 100.0) -> Network:
    """A stand-in street grid (``spacing`` m) over the territory's land: a street joins two
    neighbouring grid nodes when neither stands in water or the sea. For a demo on data
    without streets, never for a real plan (labelled ``synthetic`` in the outputs)."""
    return network_from_lines(synthetic_streets(territory, spacing), "synthetic")


def synthetic_streets(territory: Territory, spacing: float = 100.0) -> Any:
    """The lines of :func:`synthetic_network` (GeoDataFrame, ``synthetic`` True on every
    line), e.g. as a demo TIM's :data:`STREETS_LAYER`."""
    import geopandas as gpd
    import shapely

    grid = territory.grid
    xmin, ymin, xmax, ymax = grid.bounds
    xs = np.arange(xmin + spacing / 2, xmax, spacing)
    ys = np.arange(ymin + spacing / 2, ymax, spacing)
    gx, gy = np.meshgrid(xs, ys)
    land = np.ones(gx.shape, dtype=bool)
    if "land_use__class" in territory.fields:
        lu = territory.get("land_use__class")
        rows, cols = grid.cells_of(gx.ravel(), gy.ravel())[:2]
        code = lu[rows, cols].reshape(gx.shape)
        wet = territory.classes.group_mask(code, "water") | territory.classes.group_mask(
            code, "sea")
        land = ~wet
    lines = []
    for (a, b) in (((slice(None), slice(None, -1)), (slice(None), slice(1, None))),
                   ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))):
        both = land[a] & land[b]
        lines += [shapely.LineString([(x0, y0), (x1, y1)]) for x0, y0, x1, y1 in zip(
            gx[a][both], gy[a][both], gx[b][both], gy[b][both])]
    if not lines:
        raise InputError("no land to lay a synthetic street grid on", field="land_use__class")
    return gpd.GeoDataFrame({"synthetic": np.ones(len(lines), dtype=bool)}, geometry=lines,
                            crs=grid.crs)


def network_of(territory: Territory, source: str | Path | None) -> tuple[Network, str]:
    """The walking network and how to name where it came from: ``source`` a line layer or
    OSM PBF file, ``"synthetic"`` (:func:`synthetic_network`), or None: the TIM's own
    :data:`STREETS_LAYER` (``synthetic`` when a demo laid it)."""
    if source is None:
        streets = territory.layers.get(STREETS_LAYER)
        if streets is None or not len(streets):
            raise InputError("no walking network: give --osm FILE.pbf or --network FILE (or "
                             "--network synthetic); the TIM has no streets layer",
                             field="--network")
        label = "synthetic" if "synthetic" in streets else f"the TIM's {STREETS_LAYER} layer"
        return network_from_lines(streets, f"TIM layer {STREETS_LAYER}"), label
    if str(source) == "synthetic":
        return synthetic_network(territory), "synthetic"
    return read_network(source, territory.grid.crs), str(source)


# -- shortest paths -----------------------------------------------------------------------------
def nearest_source_distance(network: Network, source_nodes: np.ndarray,
                            source_offsets: np.ndarray) -> np.ndarray:
    """Per node, the least ``offset[i] + path length(source_nodes[i], node)`` over all sources
    (m; inf where no source is connected): one Dijkstra from a virtual node joined to every
    source node by its offset.

    Examples
    --------
    A path 0 - 1 - 2 - 3 of 10 m edges with sources at node 0 (offset 1) and node 3 (offset 4)
    (an offset of 0 counts as 1e-9 m):

    >>> net = Network(np.zeros((4, 2)), np.array([0, 1, 2]), np.array([1, 2, 3]),
    ...               np.array([10.0, 10.0, 10.0]), "EPSG:3857", np.array([]))
    >>> nearest_source_distance(net, np.array([0, 3]), np.array([1.0, 4.0])).tolist()
    [1.0, 11.0, 14.0, 4.0]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = len(network.xy)
    base = network.matrix(extra=1).tocoo()
    virtual = np.full(len(source_nodes), n)
    w = np.maximum(np.asarray(source_offsets, dtype=float), _TINY)
    # one edge per source node: the smallest offset among facilities sharing a node
    order = np.lexsort((w, source_nodes))
    nodes, w = np.asarray(source_nodes)[order], w[order]
    first = np.ones(len(nodes), dtype=bool)
    first[1:] = nodes[1:] != nodes[:-1]
    nodes, w, virtual = nodes[first], w[first], virtual[:first.sum()]
    graph = coo_matrix((np.concatenate([base.data, w]),
                        (np.concatenate([base.row, virtual]), np.concatenate([base.col, nodes]))),
                       shape=(n + 1, n + 1)).tocsr()
    return dijkstra(graph, directed=True, indices=n)[:n]


def snap(network: Network, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest network node of each point and the straight distance to it (m)."""
    from scipy.spatial import cKDTree

    if not len(xy):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    distance, node = cKDTree(network.xy).query(xy)
    return node.astype(np.int64), distance


# -- the check ----------------------------------------------------------------------------------
@dataclass
class LifeCircleReport:
    """What :func:`check_lifecircle` found (minutes: NaN where unreachable)."""

    standards: Standards
    standards_path: Path
    buildings: pd.DataFrame      # building_id, unit, residents, minutes_<type>...
    coverage: pd.DataFrame       # unit, type, minutes standard, residents, covered, share
    gaps: pd.DataFrame           # building_id, unit, residents, type, minutes, standard
    facilities: pd.DataFrame
    network: Network
    node_minutes: dict[str, np.ndarray]
    building_geometry: np.ndarray
    cell_minutes: dict[str, np.ndarray] = field(default_factory=dict)  # per populated cell
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)  # coverage of cell residents
    counts: dict[str, int] = field(default_factory=dict)


def residents(frame: Any, standards: Standards) -> np.ndarray:
    """Residents per building: ``population``, else floor area / area per person."""
    if "population" in frame:
        return frame["population"].fillna(0).to_numpy(float)
    storeys = frame["storeys"].fillna(1).to_numpy(float) if "storeys" in frame \
        else np.ones(len(frame))
    return frame.geometry.area.to_numpy() * storeys / standards.floor_area_per_person_m2


def _units(territory: Territory, points: np.ndarray) -> np.ndarray:
    import shapely

    layer = territory.layers.get("planning_units")
    if layer is None or not len(layer):
        return np.full(len(points), "all", dtype=object)
    names = (layer["name"] if "name" in layer else layer["unit_id"]).astype(str).to_numpy()
    tree = shapely.STRtree(layer.geometry.values)
    where, unit = tree.query(shapely.points(points), predicate="within")
    out = np.full(len(points), "(none)", dtype=object)
    out[where] = names[unit]
    return out


def facility_node_minutes(network: Network, facilities: pd.DataFrame, standards: Standards
                          ) -> dict[str, np.ndarray]:
    """Per facility type, walking minutes from every network node to the nearest facility of
    that type (inf where none is connected; facilities off the network left out)."""
    speed = standards.walking_speed_m_s * 60  # m per minute
    out = {}
    for key in standards.facilities:
        chosen = facilities[facilities["type"] == key]
        f_node, f_snap = snap(network, chosen[["x", "y"]].to_numpy(float))
        on = f_snap <= standards.max_snap_m
        dist = (nearest_source_distance(network, f_node[on], f_snap[on]) if on.any()
                else np.full(len(network.xy), np.inf))
        out[key] = dist / speed
    return out


def territory_cell_minutes(territory: Territory, standards: Standards | None = None
                           ) -> dict[str, np.ndarray] | None:
    """Walking minutes from every cell centre to the nearest facility of each type present in
    the data (flat arrays, inf where unreachable or off the network), along the TIM's own
    ``streets`` line layer (:data:`STREETS_LAYER`) to the facilities of its ``amenities``
    layer; None when the TIM has neither, or no amenity of a type the standards know. What the
    life-circle indicators (:mod:`scenarios.indicators`) are computed from."""
    streets = territory.layers.get(STREETS_LAYER)
    amenities = territory.layers.get("amenities")
    if streets is None or not len(streets) or amenities is None or not len(amenities) \
            or "kind" not in amenities:
        return None
    standards = standards or load_standards()[0]
    key = _cell_minutes_key(territory, streets, amenities, standards)
    if key not in _CELL_MINUTES:  # every run and ensemble member of a TIM needs the same
        _CELL_MINUTES.clear()
        _CELL_MINUTES[key] = _walk_cells(territory, streets, amenities, standards)
    return _CELL_MINUTES[key]


_CELL_MINUTES: dict[str, dict[str, np.ndarray] | None] = {}


def _cell_minutes_key(territory: Territory, streets: Any, amenities: Any,
                      standards: Standards) -> str:
    """What the cell minutes depend on: the grid, the streets, the amenities, the standards."""
    import shapely

    digest = hashlib.sha256()
    digest.update(repr((territory.grid.transform, territory.grid.shape,
                        str(territory.grid.crs))).encode())
    for frame in (streets, amenities):
        digest.update(b"".join(shapely.to_wkb(frame.geometry.values)))
    digest.update(amenities["kind"].astype(str).str.cat(sep="|").encode())
    digest.update(standards.model_dump_json().encode())
    return digest.hexdigest()


def _walk_cells(territory: Territory, streets: Any, amenities: Any, standards: Standards
                ) -> dict[str, np.ndarray] | None:
    """:func:`territory_cell_minutes` computed: one Dijkstra per type, every cell snapped."""
    network = network_from_lines(streets, f"TIM layer {STREETS_LAYER}")
    try:
        facilities = facilities_from_frame(amenities, standards, territory.grid.crs,
                                           type_column="kind", source="TIM layer amenities")
    except InputError:  # no amenity of a known type: nothing to measure
        return None
    xs, ys = territory.grid.cell_centres()
    gx, gy = np.meshgrid(xs, ys)
    node, snap_m = snap(network, np.column_stack([gx.ravel(), gy.ravel()]))
    speed = standards.walking_speed_m_s * 60
    present = set(facilities["type"])
    out = {}
    for key, minutes in facility_node_minutes(network, facilities, standards).items():
        if key not in present:
            continue
        cell = minutes[node] + snap_m / speed
        cell[snap_m > standards.max_snap_m] = np.inf
        out[key] = cell
    return out


#: The TIM's line layer of walkable streets (catalog ``layers: [{name: streets, ...}]``) the
#: life-circle indicators walk along.
STREETS_LAYER = "streets"


def check_lifecircle(territory: Territory, network: Network, facilities: pd.DataFrame,
                     standards: Standards, standards_path: Path, *,
                     new_buildings: Any = None) -> LifeCircleReport:
    """Walking minutes from every residential building of ``territory`` (and ``new_buildings``,
    a run's) to the nearest facility of each type, coverage per unit and gaps."""
    import shapely

    _projected(territory.grid.crs, "TIM", "the territory")
    frames = []
    existing = territory.layers.get("buildings")
    if existing is not None and len(existing):
        frames.append(existing.assign(source="existing"))
    if new_buildings is not None and len(new_buildings):
        frames.append(new_buildings.to_crs(territory.grid.crs).assign(source="new"))
    if not frames:
        raise InputError("the TIM has no buildings to count residents in", field="buildings")
    allb = pd.concat(frames, ignore_index=True)
    uses = (allb["use"] if "use" in allb else pd.Series("unknown", index=allb.index))
    uses = uses.fillna("unknown").astype(str).str.lower()
    keep = uses.isin({u.lower() for u in standards.residential_uses}).to_numpy()
    allb = allb.loc[keep].reset_index(drop=True)
    points = shapely.get_coordinates(shapely.point_on_surface(allb.geometry.values))
    people = residents(allb, standards)
    node, snap_m = snap(network, points)
    speed = standards.walking_speed_m_s * 60  # m per minute
    table = pd.DataFrame({"building_id": allb["building_id"].astype(str).to_numpy(),
                          "source": allb["source"].to_numpy(),
                          "x": points[:, 0].round(2), "y": points[:, 1].round(2),
                          "unit": _units(territory, points), "residents": people.round(1),
                          "snap_m": snap_m.round(1)})
    node_minutes = facility_node_minutes(network, facilities, standards)
    for key in standards.facilities:
        metres = node_minutes[key][node] * speed + snap_m
        metres[snap_m > standards.max_snap_m] = np.inf
        table[f"minutes_{key}"] = np.where(np.isfinite(metres), metres / speed, np.nan)
    available = set(facilities["type"])
    coverage, gaps = _coverage(table, standards, available)
    present = [k for k in standards.facilities if k in available]
    within = np.column_stack([table[f"minutes_{k}"].to_numpy(float)
                              <= standards.facilities[k].minutes for k in present]) \
        if present else np.zeros((len(table), 0), dtype=bool)
    table["types_missing"] = (~within).sum(axis=1)  # of the types the data have
    counts = {"buildings": len(table), "residents": int(round(people.sum())),
              "new_buildings": int((table["source"] == "new").sum()),
              "facilities": len(facilities), "nodes": len(network.xy),
              "edges": len(network.u),
              "off_network_buildings": int((snap_m > standards.max_snap_m).sum()),
              "gaps": len(gaps)}
    cell_minutes, cells = populated_cell_minutes(territory, network, node_minutes,
                                                 standards, available)
    return LifeCircleReport(standards, standards_path, table, coverage, gaps, facilities,
                            network, node_minutes, allb.geometry.values,
                            cell_minutes=cell_minutes, cells=cells, counts=counts)


def populated_cell_minutes(territory: Territory, network: Network,
                           node_minutes: dict[str, np.ndarray], standards: Standards,
                           available: set[str]) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Walking minutes from every populated cell's centre (``population__count`` > 0) to the
    nearest facility of each type (NaN elsewhere or unreachable), and the cell residents
    covered per type."""
    if "population__count" not in territory.fields:
        return {}, pd.DataFrame()
    people = territory.get("population__count").astype(float)
    rows, cols = np.nonzero(np.isfinite(people) & (people > 0))
    xs, ys = territory.grid.cell_centres()
    node, snap_m = snap(network, np.column_stack([xs[cols], ys[rows]]))
    speed = standards.walking_speed_m_s * 60
    maps, table = {}, []
    for key, spec in standards.facilities.items():
        minutes = node_minutes[key][node] + snap_m / speed
        minutes[snap_m > standards.max_snap_m] = np.inf
        values = np.full(territory.grid.shape, np.nan)
        values[rows, cols] = np.where(np.isfinite(minutes), minutes, np.nan)
        maps[key] = values
        weight = people[rows, cols]
        table.append({"type": key, "minutes_standard": spec.minutes,
                      "facilities": key in available, "residents": round(weight.sum(), 1),
                      "covered": round(weight[minutes <= spec.minutes].sum(), 1),
                      "unreachable_residents": round(weight[~np.isfinite(minutes)].sum(), 1)})
    return maps, pd.DataFrame(table)


def _coverage(table: pd.DataFrame, standards: Standards, available: set[str]
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, gaps = [], []
    for key, spec in standards.facilities.items():
        minutes = table[f"minutes_{key}"]
        covered = minutes <= spec.minutes
        unreachable = minutes.isna()
        for unit, group in table.groupby("unit", sort=True):
            idx = group.index
            total = float(group["residents"].sum())
            ok = float(group["residents"][covered[idx]].sum())
            rows.append({"unit": unit, "type": key, "name": spec.name,
                         "facilities": key in available,
                         "minutes_standard": spec.minutes, "buildings": len(group),
                         "residents": round(total, 1), "covered": round(ok, 1),
                         "share": round(ok / total, 4) if total > 0 else np.nan,
                         "unreachable_residents": round(float(
                             group["residents"][unreachable[idx]].sum()), 1),
                         "median_minutes": round(float(minutes[idx].median()), 2)
                         if minutes[idx].notna().any() else np.nan})
        out = table.loc[~covered, ["building_id", "source", "unit", "residents"]].copy()
        out["type"] = key
        out["minutes"] = minutes[~covered].round(2)
        out["minutes_standard"] = spec.minutes
        out["reason"] = ("no facility" if key not in available else
                         np.where(minutes[~covered].isna(), "unreachable", "too far"))
        gaps.append(out)
    return pd.DataFrame(rows), pd.concat(gaps, ignore_index=True)


def write_lifecircle(report: LifeCircleReport, territory: Territory, out: str | Path,
                     command: list[str] | None = None, *, network: str = "",
                     facilities: str = "") -> Path:
    """Write the report to the directory ``out`` atomically::

        manifest.json     the CRS, standards (file, sha256), walking speed, where the network and the
                          facilities came from ("synthetic": a stand-in grid), counts, files
        buildings.csv     per residential building: unit, residents, minutes per type, how
                          many of the facility types present it lacks within their circle
        coverage.csv      per unit and type: residents, covered, share, unreachable
        gaps.csv          buildings outside a type's circle (too far or unreachable)
        facilities.csv    the facilities by type, in the territory's CRS
        cells.csv         per type: residents of the populated cells (population__count)
                          covered, and unreachable
        rasters/lifecircle__minutes_<type>.tif   walking minutes from each populated cell
        lifecircle.gpkg   layers buildings (minutes per type), network (edges with the
                          minutes to the nearest facility of each type at their ends: the
                          isochrones) and facilities, for QGIS
    """
    import geopandas as gpd
    import shapely

    r = report
    out = Path(out)
    crs = territory.grid.crs
    manifest = {"kind": "lifecircle", "command": command, "crs": str(crs),
                "standards": file_record(r.standards_path, name=r.standards.name),
                "walking_speed_m_s": r.standards.walking_speed_m_s,
                "network": network, "facilities": facilities,
                "facilities_not_mapped": r.facilities.attrs.get("not_mapped", {}),
                "types": {k: {"name": s.name, "minutes": s.minutes}
                          for k, s in r.standards.facilities.items()},
                "counts": r.counts,
                "files": ["buildings.csv", "coverage.csv", "gaps.csv", "facilities.csv",
                          "lifecircle.gpkg"]}
    rasters = {f"lifecircle__minutes_{key}": values for key, values in r.cell_minutes.items()}
    with check_folder(out, manifest, territory.grid, rasters) as tmp:
        r.buildings.to_csv(tmp / "buildings.csv", index=False, float_format="%.2f")
        r.coverage.to_csv(tmp / "coverage.csv", index=False)
        r.gaps.to_csv(tmp / "gaps.csv", index=False)
        r.facilities.to_csv(tmp / "facilities.csv", index=False, float_format="%.2f")
        if r.cell_minutes:
            r.cells.to_csv(tmp / "cells.csv", index=False)
        gpkg = tmp / "lifecircle.gpkg"
        gpd.GeoDataFrame(r.buildings, geometry=r.building_geometry, crs=crs).to_file(
            gpkg, layer="buildings", driver="GPKG", engine="pyogrio")
        edges = {f"minutes_{k}": np.minimum(m[r.network.u], m[r.network.v]).round(2)
                 for k, m in r.node_minutes.items()}
        edges = {k: np.where(np.isfinite(v), v, np.nan) for k, v in edges.items()}
        gpd.GeoDataFrame({"length_m": r.network.length.round(2), **edges},
                         geometry=r.network.lines, crs=r.network.crs).to_crs(crs).to_file(
            gpkg, layer="network", driver="GPKG", engine="pyogrio")
        if len(r.facilities):
            gpd.GeoDataFrame(r.facilities, geometry=shapely.points(
                r.facilities[["x", "y"]].to_numpy(float)), crs=crs).to_file(
                gpkg, layer="facilities", driver="GPKG", engine="pyogrio")
    return out


#: Where the dashboard looks for a life-circle check of a TIM or a run: ``<TIM_DIR>-lifecircle``,
#: ``<RUN_DIR>-lifecircle`` (give that as ``--out``).
SUFFIX = "-lifecircle"


@dataclass(frozen=True)
class LifeCircleFolder(CheckFolder):
    """A folder :func:`write_lifecircle` wrote, read back."""

    KIND, WHAT, SUFFIX = "lifecircle", "life-circle", SUFFIX
    TABLES = {"buildings": ("buildings.csv", "buildings", {"building_id": str}),
              "coverage": ("coverage.csv", "coverage", {}),
              "gaps": ("gaps.csv", "gaps", {"building_id": str})}

    buildings: pd.DataFrame
    coverage: pd.DataFrame
    gaps: pd.DataFrame


def find_lifecircle(base: str | Path) -> LifeCircleFolder | None:
    """The life-circle check written beside a TIM or run folder ``base`` (:data:`SUFFIX`)."""
    return LifeCircleFolder.beside(base)

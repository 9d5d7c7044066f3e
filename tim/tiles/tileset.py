"""Write a territory's buildings as 3D Tiles 1.0 (b3dm) under a root tileset.

Layout written (atomically, see :func:`tim.atomic.atomic_directory`)::

    out_dir/tileset.json            root: one content-less tile whose children are external
                                    tilesets (buildings now; terrain and point clouds later)
    out_dir/buildings/tileset.json  quadtree of tiles, b3dm content on the leaves
    out_dir/buildings/<address>.b3dm

Policy (py3dtiles only serialises what is decided here):

* **Frame.** The buildings tileset's root tile carries the one ENU->ECEF ``transform`` of the
  territory (:mod:`tim.tiles.georef`); every bounding box below it is in that ENU frame. The root
  tileset has no transform and describes the buildings with the same box expressed in ECEF, so
  ``buildings/tileset.json`` also opens on its own in the right place.
* **Hierarchy.** :func:`tim.tiles.quadtree.quadtree` over footprint centroids, at most
  ``max_buildings_per_tile`` buildings per leaf. Only leaves have content.
* **Bounding volumes.** Boxes aligned with the local east/north/up axes around the tile's actual
  vertices (as float32, what a client reads), not around the quadtree square: buildings
  overhang their centroid's square and squares are mostly empty at the coast.
* **Geometric error.** A leaf holds the full LoD1 geometry: 0. A content-less parent shows
  nothing, so the error of stopping there is everything under it; it is measured by the
  diagonal of its bounding box. Children's boxes lie inside their parent's, so the error never
  increases from root to leaves. The tileset's own error is the root's diagonal (also when the
  root is a single leaf, so the tileset is still refined into view).
* **Refinement.** ``ADD`` everywhere. A parent has no content, so there is nothing for children
  to replace; with ``ADD`` a client shows each child as soon as it is loaded, whereas
  ``REPLACE`` tells it to hold back until the whole set of children is ready to avoid holes.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.model import Territory
from tim.tiles import buildings as bld
from tim.tiles.georef import LocalFrame, local_frame, lonlat_bounds
from tim.tiles.quadtree import QuadNode, quadtree

log = logging.getLogger(__name__)

ROOT_TILESET = "tileset.json"
BUILDINGS_DIR = "buildings"
GENERATOR = "territory-twin tim.tiles"


@dataclass(frozen=True)
class TilesetSummary:
    """What :func:`write_tiles` wrote, with what a viewer needs to fly to it.

    Attributes
    ----------
    tileset : Path
        The root ``tileset.json``.
    buildings : int
        Buildings written (each in exactly one b3dm).
    tiles : int
        Tiles in the buildings tileset, parents included.
    content_tiles : int
        b3dm files (leaf tiles).
    triangles, vertices : int
        Totals over all b3dm.
    root_transform : tuple of 16 float
        ENU->ECEF matrix of the buildings root tile, column-major as in ``tileset.json``.
    origin : tuple of float
        Origin of the local frame: longitude, latitude (degrees), ellipsoidal height (m).
    bounds : tuple of float
        West, south, east, north (degrees) of all footprint vertices.
    height_range : tuple of float
        Lowest building base and highest roof (m, as placed: ellipsoidal).
    vertical_datum : str
        The datum the territory's heights refer to (placed as ellipsoidal, see georef).
    """

    tileset: Path
    buildings: int
    tiles: int
    content_tiles: int
    triangles: int
    vertices: int
    root_transform: tuple[float, ...]
    origin: tuple[float, float, float]
    bounds: tuple[float, float, float, float]
    height_range: tuple[float, float]
    vertical_datum: str


def write_tiles(territory: Territory, out_dir: str | Path, *,
                max_buildings_per_tile: int = 500) -> TilesetSummary:
    """Write the territory's buildings as 3D Tiles 1.0 (LoD1 b3dm) under a root tileset.

    Parameters
    ----------
    territory : Territory
        Needs a ``buildings`` layer (building_id, height, height_source, storeys, use,
        Polygon/MultiPolygon footprints in the territory CRS). Ground heights come from
        ``terrain__elevation`` when present (lowest ground under the footprint's vertices),
        else 0.
    out_dir : path
        Directory to write; replaced as a whole only once everything is written.
    max_buildings_per_tile : int
        Largest number of buildings in one b3dm.

    Returns
    -------
    TilesetSummary

    Raises
    ------
    tim.errors.InputError
        No buildings layer, an empty one, missing columns or non-positive heights
        (``GeometryError`` for footprints that are not polygons). ``out_dir`` is left as it was.

    Examples
    --------
    >>> import tempfile, geopandas as gpd, shapely
    >>> from tim.classes import DEFAULT_CLASSES
    >>> from tim.model import Grid
    >>> t = Territory(Grid("EPSG:4548", (25.0, 0, 510000.0, 0, -25.0, 2710000.0), (40, 40)),
    ...               DEFAULT_CLASSES)
    >>> t.add_layer("buildings", gpd.GeoDataFrame(
    ...     {"building_id": ["a"], "height": [12.0], "height_source": ["attribute"],
    ...      "storeys": [4], "use": ["residential"]},
    ...     geometry=[shapely.box(510480, 2709480, 510500, 2709500)], crs="EPSG:4548"))
    >>> summary = write_tiles(t, tempfile.mkdtemp() + "/tiles")
    >>> summary.buildings, summary.content_tiles, summary.triangles
    (1, 1, 12)
    """
    import shapely

    started = time.perf_counter()
    if max_buildings_per_tile < 1:
        raise InputError("must be at least 1", field="max_buildings_per_tile",
                         value=max_buildings_per_tile)
    layer = bld.require_buildings(territory)
    footprints = layer.geometry.values
    frame = local_frame(territory)

    base = bld.building_base_z(territory, footprints)
    top = base + layer["height"].to_numpy(dtype=float)
    mesh = bld.extrude_footprints(footprints, base, top)
    mesh = mesh.with_positions(frame.to_local(mesh.positions))

    centroids = shapely.get_coordinates(shapely.centroid(footprints))
    root_node = quadtree(centroids[:, 0], centroids[:, 1], max_buildings_per_tile)
    leaves = root_node.leaves()
    leaf_of_building = np.empty(len(layer), dtype=np.int64)
    for k, leaf in enumerate(leaves):
        leaf_of_building[leaf.members] = k
    parts = mesh.split(leaf_of_building, len(leaves))

    contents, extents = {}, {}
    for leaf, part in zip(leaves, parts):
        contents[leaf.address] = bld.b3dm_content(part, leaf.members,
                                                  bld.batch_table_json(layer, leaf.members))
        stored = part.positions.astype(np.float32).astype(float)  # what a client will read
        extents[leaf.address] = (stored.min(axis=0), stored.max(axis=0))
    buildings_root = _tile_tree(root_node, contents, extents)
    # Only now: a transform set before add_child() would corrupt the children's boxes.
    buildings_root.transform = frame.enu_to_ecef.copy()

    xy = shapely.get_coordinates(footprints)
    summary = TilesetSummary(
        tileset=Path(out_dir) / ROOT_TILESET, buildings=len(layer),
        tiles=len(root_node.nodes()), content_tiles=len(leaves),
        triangles=int(len(mesh.triangles)), vertices=int(len(mesh.positions)),
        root_transform=frame.transform_column_major, origin=frame.origin_lonlat,
        bounds=lonlat_bounds(territory.grid.crs, xy[:, 0], xy[:, 1]),
        height_range=(float(base.min()), float(top.max())),
        vertical_datum=territory.vertical_datum)

    with atomic_directory(out_dir) as staging:
        (staging / BUILDINGS_DIR).mkdir()
        _write_json(staging / BUILDINGS_DIR / ROOT_TILESET,
                    _tileset_dict(buildings_root, frame, summary, territory.name))
        for address, content in contents.items():
            content.save_as(staging / BUILDINGS_DIR / _content_name(address))
        _write_json(staging / ROOT_TILESET,
                    _tileset_dict(_root_tile(buildings_root), frame, summary, territory.name))
    log.info("wrote %d buildings in %d b3dm (%d tiles, %d triangles) to %s in %.2f s",
             summary.buildings, summary.content_tiles, summary.tiles, summary.triangles,
             out_dir, time.perf_counter() - started)
    return summary


def _content_name(address: str) -> str:
    return f"r{address}.b3dm"


def _box(lower: np.ndarray, upper: np.ndarray) -> Any:
    from py3dtiles.tileset import BoundingVolumeBox

    return BoundingVolumeBox.from_mins_maxs(np.concatenate([lower, upper]))


def _geometric_error(box: Any) -> float:
    """Diagonal of a box (m): the error of showing nothing in its place."""
    return float(2 * np.linalg.norm(box.get_half_size()))


def _tile_tree(node: QuadNode, contents: dict[str, Any],
               extents: dict[str, tuple[np.ndarray, np.ndarray]]) -> Any:
    """py3dtiles tiles for a quadtree node, boxes in the local ENU frame."""
    from py3dtiles.tileset import Tile

    if node.is_leaf:
        tile = Tile(geometric_error=0.0, bounding_volume=_box(*extents[node.address]),
                    refine_mode="ADD", content_uri=_content_name(node.address))
        tile.tile_content = contents[node.address]
        return tile
    children = [_tile_tree(child, contents, extents) for child in node.children]
    box = _box(np.min([_corner(c, -1) for c in children], axis=0),
               np.max([_corner(c, +1) for c in children], axis=0))
    tile = Tile(geometric_error=_geometric_error(box), bounding_volume=box, refine_mode="ADD")
    for child in children:
        tile.add_child(child)  # unions the child's box into ours: already contained, no change
    return tile


def _corner(tile: Any, sign: int) -> np.ndarray:
    """Lower (sign -1) or upper (+1) corner of an axis-aligned box tile."""
    return tile.bounding_volume.get_center() + sign * tile.bounding_volume.get_half_size()


def _root_tile(buildings_root: Any) -> Any:
    """Root tile of the root tileset: no transform, one child per external tileset (ECEF)."""
    from py3dtiles.tileset import Tile

    box = copy.deepcopy(buildings_root.bounding_volume)
    box.transform(buildings_root.transform)  # ENU box -> the same oriented box in ECEF
    error = _tileset_error(buildings_root)
    child = Tile(geometric_error=error, bounding_volume=box, refine_mode="ADD",
                 content_uri=f"{BUILDINGS_DIR}/{ROOT_TILESET}")
    # No box of its own yet: add_child() then copies the child's oriented box as is (given
    # one, it would widen it to an ECEF-axis-aligned box).
    root = Tile(geometric_error=error, bounding_volume=None, refine_mode="ADD")
    root.add_child(child)
    return root


def _tileset_error(root: Any) -> float:
    """The tileset's error: the root box diagonal, also when the root is a lone leaf (error 0)
    so that a client still refines the tileset into view."""
    return _geometric_error(root.bounding_volume)


def _tileset_dict(root: Any, frame: LocalFrame, summary: TilesetSummary,
                  name: str) -> dict[str, Any]:
    """The tileset JSON, with where-and-what in ``asset.extras`` so that a viewer reading only
    the tileset can fly to it and knows the heights' datum.

    Built from the tiles' own ``to_dict`` rather than py3dtiles' ``TileSet.to_dict``, whose
    bounding-volume "sync" replaces each parent's box by an axis-aligned box around its
    children: harmless for our ENU boxes, but it would inflate the root tileset's oriented ECEF
    box several times over."""
    from py3dtiles.tileset.tileset import Asset

    asset = Asset()
    asset.extras = {
        "generator": GENERATOR, "territory": name, "crs": frame.crs,
        "verticalDatum": frame.vertical_datum,
        "heights": "territory heights placed as ellipsoidal heights (no geoid model applied)",
        "origin": dict(zip(("longitude", "latitude", "height"), frame.origin_lonlat)),
        "boundsDegrees": list(summary.bounds),
        "heightRange": list(summary.height_range),
    }
    return {"asset": asset.to_dict(), "geometricError": _tileset_error(root),
            "root": root.to_dict()}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, separators=(",", ":"), allow_nan=False))

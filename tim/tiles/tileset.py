"""Write a territory as 3D Tiles 1.0 (or 1.1, ``version="1.1"``: glb content with
EXT_mesh_features + EXT_structural_metadata, :mod:`tim.tiles.glb`, and the buildings as an
implicit quadtree, :mod:`tim.tiles.implicit`): buildings, terrain, point clouds and meshes under
one root.

Layout written (atomically, see :func:`tim.atomic.atomic_directory`)::

    out_dir/tileset.json               root: one content-less tile whose children are the
                                       external tilesets below (whichever the territory has)
    out_dir/buildings/tileset.json     quadtree of b3dm leaves, one feature per building
    out_dir/terrain/tileset.json       pyramid of grid meshes, coarser towards the root
    out_dir/points/tileset.json        py3dtiles octree of pnts
    out_dir/meshes/<name>/tileset.json quadtree of b3dm leaves, one feature per mesh part
    out_dir/overlays/...               per-feature properties (tim.tiles.overlay), e.g. zoning

Every child tileset also opens on its own in the right place (the dashboard can load and toggle
them one by one).

Policy (py3dtiles only converts point clouds):

* **Frame.** One ENU frame per territory (:mod:`tim.tiles.georef`): the root tile of each mesh
  tileset carries its ENU->ECEF ``transform`` and every box below it is in that frame. The root
  tileset has no transform and describes each child by the same ENU box expressed in ECEF.
* **Buildings.** :func:`tim.tiles.quadtree.quadtree` over footprint centroids, at most
  ``max_buildings_per_tile`` buildings per leaf; only leaves have content. A building with
  surfaces from a city model is drawn from them (LoD2 roofs, :mod:`tim.tiles.lod2`), the others
  are extruded footprints (LoD1, :mod:`tim.tiles.buildings`); ``lod`` says which.
* **Bounding volumes.** Boxes aligned with the local east/north/up axes around the tile's
  actual vertices (as float32, what a client reads), unions of the children's for tiles
  without content. An extent thinner than 1 cm is widened to 1 cm (a flat box has no volume).
* **Geometric error.** Buildings and meshes: a leaf holds the full geometry, 0; a content-less
  parent shows nothing, so the error of stopping there is the diagonal of its box. Terrain:
  the measured vertical deviation of each level (:mod:`tim.tiles.terrain`). A tileset's own
  error is its root box diagonal, the error of showing none of it.
* **Refinement.** ``ADD`` for buildings and meshes (parents are empty, children show as soon as
  they load), ``REPLACE`` for the terrain's levels of detail; points as py3dtiles writes them.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.model import Territory
from tim.tiles import buildings as bld
from tim.tiles.georef import LocalFrame, local_frame, lonlat_bounds
from tim.tiles.quadtree import QuadNode, quadtree
from tim.tiles.security import most_restrictive, part_security, sources_level, stamp_tileset

log = logging.getLogger(__name__)

ROOT_TILESET = "tileset.json"
BUILDINGS_DIR = "buildings"
GENERATOR = "territory-twin tim.tiles"
PARTS = ("buildings", "terrain", "points", "meshes")
#: 3D Tiles versions written: 1.0 (b3dm) and 1.1 (glb, implicit buildings).
VERSIONS = ("1.0", "1.1")
#: Smallest half-extent of a box (m): a flat box has no volume and culls badly.
MIN_HALF = 0.005


@dataclass(frozen=True)
class PartSummary:
    """One child tileset of the root.

    ``features`` is buildings for buildings, parts for meshes, 0 for terrain; ``points`` is the
    number of points for a point cloud. ``lower``/``upper`` bound it in the local ENU frame.
    """

    name: str
    tileset: str
    tiles: int
    content_tiles: int
    features: int = 0
    triangles: int = 0
    vertices: int = 0
    points: int = 0
    lower: tuple[float, float, float] = (0.0, 0.0, 0.0)
    upper: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0


@dataclass(frozen=True)
class TilesetSummary:
    """What :func:`write_tiles` wrote, with what a viewer needs to fly to it.

    Attributes
    ----------
    tileset : Path
        The root ``tileset.json``.
    parts : dict of PartSummary
        The child tilesets by name (``buildings``, ``terrain``, ``points``, ``meshes/<name>``).
    root_transform : tuple of 16 float
        ENU->ECEF matrix of the mesh tilesets' root tiles, column-major as in ``tileset.json``.
    origin : tuple of float
        Origin of the local frame: longitude, latitude (degrees), ellipsoidal height (m).
    bounds : tuple of float
        West, south, east, north (degrees) of everything tiled (footprint vertices, terrain
        cells with data, points, mesh vertices).
    height_range : tuple of float
        Lowest and highest vertex (m, as placed: ellipsoidal).
    vertical_datum : str
        The datum the territory's heights refer to.
    geoid_height : float
        Constant N added to heights to place them (0: heights placed as ellipsoidal as is).
    overlays : tuple of str
        Overlay files written with the tiles (relative paths).
    """

    tileset: Path
    parts: dict[str, PartSummary]
    root_transform: tuple[float, ...]
    origin: tuple[float, float, float]
    bounds: tuple[float, float, float, float]
    height_range: tuple[float, float]
    vertical_datum: str
    geoid_height: float = 0.0
    overlays: tuple[str, ...] = field(default=())

    def _part(self, name: str, attribute: str) -> int:
        part = self.parts.get(name)
        return int(getattr(part, attribute)) if part else 0

    @property
    def buildings(self) -> int:
        """Buildings written (each in exactly one b3dm)."""
        return self._part("buildings", "features")

    @property
    def tiles(self) -> int:
        """Tiles in the buildings tileset, parents included."""
        return self._part("buildings", "tiles")

    @property
    def content_tiles(self) -> int:
        return self._part("buildings", "content_tiles")

    @property
    def triangles(self) -> int:
        return self._part("buildings", "triangles")

    @property
    def vertices(self) -> int:
        return self._part("buildings", "vertices")


def available_parts(territory: Territory) -> tuple[str, ...]:
    """The tilesets a territory can give: buildings (a buildings layer), terrain (elevation),
    points (a point cloud), meshes (meshes other than the city model's TIN ``terrain``)."""
    have = {"buildings": "buildings" in territory.layers,
            "terrain": "terrain__elevation" in territory.fields,
            "points": bool(territory.point_clouds),
            "meshes": any(name != "terrain" for name in territory.meshes)}
    return tuple(p for p in PARTS if have[p])


def write_tiles(territory: Territory, out_dir: str | Path, *,
                parts: Sequence[str] | None = None, max_buildings_per_tile: int = 500,
                lod: str = "auto", terrain_tile_cells: int = 64, geoid_height: float = 0.0,
                point_jobs: int | None = None, drape: bool = False, version: str = "1.0",
                subtree_levels: int = 4, jobs: int | None = None) -> TilesetSummary:
    """Write the territory's tilesets under one root tileset (module doc for the policy).

    Parameters
    ----------
    territory : Territory
    out_dir : path
        Directory to write; replaced as a whole only once everything is written.
    parts : sequence of str, optional
        Which of ``buildings``, ``terrain``, ``points``, ``meshes`` to write; default: all the
        territory has (:func:`available_parts`).
    max_buildings_per_tile : int
        Largest number of buildings in one b3dm.
    lod : {"auto", "1"}
        ``auto`` draws buildings from their city-model surfaces where the TIM has them; ``1``
        extrudes every footprint.
    terrain_tile_cells : int
        Cells along a terrain leaf's side.
    geoid_height : float
        Constant geoid height N (m) added to every height, recorded in ``asset.extras``.
    point_jobs : int, optional
        Worker processes for py3dtiles.
    drape : bool
        Colour the terrain by land use, tinted where the ecological red line lies
        (:func:`tim.tiles.terrain.drape_colours`); default: one terrain colour.
    version : {"1.0", "1.1"}
        3D Tiles 1.0 (b3dm) or 1.1: glb content with ``EXT_mesh_features`` and
        ``EXT_structural_metadata`` (:mod:`tim.tiles.glb`), the buildings as an implicit
        quadtree (:mod:`tim.tiles.implicit`); the point cloud stays pnts (1.0) either way.
    subtree_levels : int
        Levels per subtree file of the 1.1 buildings.
    jobs : int, optional
        Processes writing the buildings' tiles; default: the CPUs for a large city
        (:data:`tim.tiles.citytiles.PARALLEL_FROM` buildings), else 1.

    Returns
    -------
    TilesetSummary

    Raises
    ------
    tim.errors.InputError
        Nothing to tile, an unknown part, a part the territory lacks, or a bad buildings layer
        (no layer, empty, missing columns, non-positive heights; ``GeometryError`` for
        footprints that are not polygons). ``out_dir`` is left as it was.

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
    >>> summary.buildings, summary.content_tiles, summary.triangles, list(summary.parts)
    (1, 1, 12, ['buildings'])
    """
    from tim.tiles import meshes as msh
    from tim.tiles import terrain as ter

    started = time.perf_counter()
    if max_buildings_per_tile < 1:
        raise InputError("must be at least 1", field="max_buildings_per_tile",
                         value=max_buildings_per_tile)
    if lod not in ("auto", "1"):
        raise InputError("lod must be 'auto' or '1'", field="lod", value=lod)
    if version not in VERSIONS:
        raise InputError(f"the 3D Tiles version must be one of {', '.join(VERSIONS)}",
                         field="version", value=version)
    if not 1 <= subtree_levels <= 12:
        raise InputError("must be between 1 and 12", field="subtree_levels",
                         value=subtree_levels)
    suffix = ".glb" if version == "1.1" else ".b3dm"
    parts = _parts(territory, parts)
    frame = local_frame(territory, geoid_height)
    out_dir = Path(out_dir)
    summaries: dict[str, PartSummary] = {}
    written: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (dir, tileset, contents)
    lonlat: list[tuple[float, float, float, float]] = []
    z_range: list[float] = []

    with atomic_directory(out_dir) as staging:
        if "buildings" in parts:
            tree, summary, bounds, zr = _buildings(territory, frame, max_buildings_per_tile,
                                                   lod, version, subtree_levels,
                                                   staging / BUILDINGS_DIR, jobs)
            written.append((BUILDINGS_DIR, tree, {}))  # contents already written
            summaries["buildings"], lonlat, z_range = summary, [bounds], list(zr)
        if "terrain" in parts:
            pyramid = ter.prune(ter.build_terrain_tiles(territory, frame, terrain_tile_cells,
                                                        drape=drape))
            if pyramid is None:
                raise InputError("terrain__elevation holds no triangle",
                                 field="terrain__elevation")
            tree, contents = _terrain_tree(pyramid, frame, suffix)
            nodes = list(ter._walk(pyramid))
            summaries["terrain"] = _summary("terrain", tree, contents, nodes)
            written.append(("terrain", tree, contents))
            lonlat.append(_grid_lonlat(territory))
            z = territory.fields["terrain__elevation"]
            z_range += [float(np.nanmin(z)) + geoid_height, float(np.nanmax(z)) + geoid_height]
        if "meshes" in parts:
            for name, mesh in sorted(territory.meshes.items()):
                if name == "terrain":
                    continue
                root, leaves = msh.mesh_leaves(mesh, frame)
                tree = _feature_tree(root, {k: (v.lower, v.upper) for k, v in leaves.items()},
                                     suffix)
                contents = {_content_name(k, suffix): v.content for k, v in leaves.items()}
                key = f"meshes/{name}"
                summaries[key] = PartSummary(
                    key, f"{key}/{ROOT_TILESET}", len(root.nodes()), len(leaves),
                    features=len(mesh.part_names), triangles=sum(v.triangles for v in
                                                                 leaves.values()),
                    vertices=sum(v.vertices for v in leaves.values()),
                    lower=tuple(tree["_lower"]), upper=tuple(tree["_upper"]))
                written.append((key, tree, contents))
                b = mesh.bounds
                lonlat.append(lonlat_bounds(mesh.crs, np.array([b[0], b[3]]),
                                            np.array([b[1], b[4]])))
                z_range += [b[2] + geoid_height, b[5] + geoid_height]

        if "points" in parts:
            from tim.tiles.points import convert_points

            _, cloud = sorted(territory.point_clouds.items())[0]
            info = convert_points(cloud, staging / "points", frame, jobs=point_jobs)
            summaries["points"] = PartSummary(
                "points", f"points/{ROOT_TILESET}", info["tiles"], info["content_tiles"],
                points=info["points"], lower=tuple(info["lower"]), upper=tuple(info["upper"]),
                seconds=info["seconds"])
            b = cloud.bounds
            lonlat.append(lonlat_bounds(cloud.crs, np.array([b[0], b[3]]),
                                        np.array([b[1], b[4]])))
            z_range += list(info["z_range"])
        security = {name: part_security(territory, name, lod=lod, drape=drape)
                    for name in summaries}
        if "points" in summaries:
            points_json = staging / "points" / ROOT_TILESET
            _write_json(points_json, stamp_tileset(json.loads(points_json.read_text()),
                                                   security["points"]))
        _keep_published(out_dir, staging)
        overlays = _overlays(territory, staging) if "buildings" in parts else []
        summary = TilesetSummary(
            tileset=out_dir / ROOT_TILESET, parts=summaries,
            root_transform=frame.transform_column_major, origin=frame.origin_lonlat,
            bounds=(min(b[0] for b in lonlat), min(b[1] for b in lonlat),
                    max(b[2] for b in lonlat), max(b[3] for b in lonlat)),
            height_range=(min(z_range), max(z_range)),
            vertical_datum=territory.vertical_datum, geoid_height=geoid_height,
            overlays=tuple(overlays))
        extras = _extras(frame, summary, territory.name)
        for directory, tree, contents in written:
            (staging / directory).mkdir(parents=True, exist_ok=True)
            _write_json(staging / directory / ROOT_TILESET, stamp_tileset(
                _tileset_dict(tree, frame, extras, directory, version), security[directory]))
            for uri, content in contents.items():
                (staging / directory / uri).parent.mkdir(parents=True, exist_ok=True)
                content.save_as(staging / directory / uri)
        _write_json(staging / ROOT_TILESET, _root_tileset(summaries, frame, extras, security,
                                                          version))
    log.info("wrote %s to %s in %.2f s", ", ".join(
        f"{p.name} ({p.tiles} tiles)" for p in summaries.values()), out_dir,
        time.perf_counter() - started)
    return summary


def _parts(territory: Territory, parts: Sequence[str] | None) -> tuple[str, ...]:
    have = available_parts(territory)
    if parts is None:
        if "buildings" not in have and "buildings" in territory.layers:
            have = ("buildings",) + have
        if not have:
            bld.require_buildings(territory)  # says what is missing, buildings first
        return have
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise InputError(f"unknown tileset part; known: {', '.join(PARTS)}", field="parts",
                         value=unknown[0])
    if "buildings" in parts:
        bld.require_buildings(territory)
    missing = [p for p in parts if p not in have and p != "buildings"]
    if missing:
        raise InputError(f"territory {territory.name!r} has nothing for the {missing[0]} "
                         f"tileset (it has: {', '.join(have) or 'nothing to tile'})",
                         field="parts", value=missing[0])
    return tuple(p for p in PARTS if p in parts)


def _buildings(territory: Territory, frame: LocalFrame, max_per_tile: int, lod: str,
               version: str, subtree_levels: int, out: Path, jobs: int | None
               ) -> tuple[dict, PartSummary, tuple, tuple]:
    """The buildings' tiles written under ``out`` one at a time (:mod:`tim.tiles.citytiles`):
    the root tile, the summary, the lon/lat bounds and the height range."""
    import shapely

    from tim.tiles import citytiles

    city = citytiles.city_geometry(territory, frame, lod, boxes=version == "1.1")
    if version == "1.1":
        tree, tiles, content_tiles, features, written = _implicit_buildings(
            city, frame, max_per_tile, subtree_levels, out, jobs)
    else:
        centroids = shapely.get_coordinates(shapely.centroid(city.footprints))
        root_node = quadtree(centroids[:, 0], centroids[:, 1], max_per_tile)
        leaves = root_node.leaves()
        written = citytiles.write_contents(city, frame, [leaf.members for leaf in leaves],
                                           [out / _content_name(leaf.address)
                                            for leaf in leaves], jobs)
        tree = _feature_tree(root_node, {leaf.address: (w.lower, w.upper)
                                         for leaf, w in zip(leaves, written)})
        tiles, content_tiles, features = len(root_node.nodes()), len(leaves), len(city.layer)
    summary = PartSummary("buildings", f"{BUILDINGS_DIR}/{ROOT_TILESET}", tiles, content_tiles,
                          features=features, triangles=sum(w.triangles for w in written),
                          vertices=sum(w.vertices for w in written),
                          lower=tuple(tree["_lower"]), upper=tuple(tree["_upper"]))
    return tree, summary, city.lonlat, city.z_range


def _implicit_buildings(city: Any, frame: LocalFrame, max_per_tile: int, subtree_levels: int,
                        out: Path, jobs: int | None) -> tuple[dict, int, int, int, list]:
    """The buildings as an implicit quadtree (3D Tiles 1.1, :mod:`tim.tiles.implicit`), its
    glb contents and subtrees written under ``out``: the root tile, the tiles available, those
    with content, the buildings tiled (those with at least one vertex) and what each content
    tile left behind."""
    from tim.tiles import citytiles, implicit

    drawn = np.flatnonzero(city.drawn)
    lower, upper = city.lower[drawn], city.upper[drawn]
    square = implicit.square_around(lower, upper)
    tiles = implicit.loose_quadtree(lower, upper, square, max_per_tile)
    keys = sorted(tiles)
    written = citytiles.write_contents(
        city, frame, [drawn[tiles[k]] for k in keys],
        [out / implicit.CONTENT_TEMPLATE.format(level=k[0], x=k[1], y=k[2]) for k in keys],
        jobs)
    available = implicit.available(set(keys))
    for key, data in implicit.subtrees(available, set(keys), subtree_levels).items():
        path = out / implicit.SUBTREE_TEMPLATE.format(level=key[0], x=key[1], y=key[2])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    low, high = np.array(square.tile_bounds((0, 0, 0))[0]), square.tile_bounds((0, 0, 0))[1]
    root = {"boundingVolume": {"box": square.box()}, "geometricError": _diagonal(low, high),
            "refine": "ADD", "content": {"uri": implicit.CONTENT_TEMPLATE},
            "implicitTiling": {"subdivisionScheme": "QUADTREE",
                               "subtreeLevels": subtree_levels,
                               "availableLevels": max(k[0] for k in keys) + 1,
                               "subtrees": {"uri": implicit.SUBTREE_TEMPLATE}},
            "_lower": low, "_upper": high}
    return root, len(available), len(keys), len(drawn), written


def _content_name(address: str, suffix: str = ".b3dm") -> str:
    return f"r{address}{suffix}"


def _box(lower: np.ndarray, upper: np.ndarray) -> list[float]:
    """A 3D Tiles box (centre, three half-axes) around [lower, upper] in the tile's frame."""
    centre = (np.asarray(lower) + np.asarray(upper)) / 2
    half = np.maximum((np.asarray(upper) - np.asarray(lower)) / 2, MIN_HALF)
    return [float(v) for v in (*centre, half[0], 0, 0, 0, half[1], 0, 0, 0, half[2])]


def _diagonal(lower: np.ndarray, upper: np.ndarray) -> float:
    """Diagonal of a box (m): the error of showing nothing in its place."""
    half = np.maximum((np.asarray(upper) - np.asarray(lower)) / 2, MIN_HALF)
    return float(2 * np.linalg.norm(half))


def _feature_tree(node: QuadNode, bounds: dict[str, tuple],
                  suffix: str = ".b3dm") -> dict:
    """Tile dicts for a quadtree whose leaves have content (ADD, errors = box diagonals),
    given each leaf's (lower, upper) by address."""

    def visit(n: QuadNode) -> dict:
        if n.is_leaf:
            lower, upper = bounds[n.address]
            return {"boundingVolume": {"box": _box(lower, upper)}, "geometricError": 0.0,
                    "refine": "ADD", "content": {"uri": _content_name(n.address, suffix)},
                    "_lower": lower, "_upper": upper}
        children = [visit(child) for child in n.children]
        lower = np.min([c["_lower"] for c in children], axis=0)
        upper = np.max([c["_upper"] for c in children], axis=0)
        return {"boundingVolume": {"box": _box(lower, upper)},
                "geometricError": _diagonal(lower, upper), "refine": "ADD",
                "children": children, "_lower": lower, "_upper": upper}

    return visit(node)


def _terrain_tree(tile: Any, frame: LocalFrame, suffix: str = ".b3dm") -> tuple[dict, dict]:
    """Tile dicts for the terrain pyramid (REPLACE, measured errors)."""
    files: dict[str, Any] = {}

    def visit(t: Any) -> dict:
        children = [visit(child) for child in t.children]
        bounds = [(c["_lower"], c["_upper"]) for c in children]
        if t.content is not None:
            bounds.append((t.lower, t.upper))
        lower = np.min([b[0] for b in bounds], axis=0)
        upper = np.max([b[1] for b in bounds], axis=0)
        out = {"boundingVolume": {"box": _box(lower, upper)}, "geometricError": float(t.error),
               "refine": "REPLACE", "_lower": lower, "_upper": upper}
        if t.content is not None:
            name = f"t{t.address or 'root'}{suffix}"
            files[name] = t.content
            out["content"] = {"uri": name}
        if children:
            out["children"] = children
        return out

    return visit(tile), files


def _summary(name: str, tree: dict, contents: dict, nodes: list) -> PartSummary:
    return PartSummary(name, f"{name}/{ROOT_TILESET}", len(nodes), len(contents),
                       triangles=sum(getattr(n, "triangles", 0) for n in nodes),
                       vertices=sum(getattr(n, "vertices", 0) for n in nodes),
                       lower=tuple(tree["_lower"]), upper=tuple(tree["_upper"]))


def _grid_lonlat(territory: Territory) -> tuple[float, float, float, float]:
    z = territory.fields["terrain__elevation"]
    rows, cols = np.nonzero(np.isfinite(z))
    xc, yc = territory.grid.cell_centres()
    return lonlat_bounds(territory.grid.crs, xc[[cols.min(), cols.max()]],
                         yc[[rows.max(), rows.min()]])


def _strip(tile: dict) -> dict:
    """A tile dict without the private ``_lower``/``_upper`` keys, children included."""
    out = {k: v for k, v in tile.items() if not k.startswith("_")}
    if "children" in out:
        out["children"] = [_strip(c) for c in out["children"]]
    return out


def _tileset_dict(tree: dict, frame: LocalFrame, extras: dict[str, Any],
                  part: str, version: str = "1.0") -> dict[str, Any]:
    """A part's tileset: its root tile carries the ENU->ECEF transform."""
    root = _strip(tree)
    root["transform"] = list(frame.transform_column_major)
    error = _diagonal(tree["_lower"], tree["_upper"])
    return {"asset": {"version": version,
                      "extras": {**extras, "part": part}},
            "geometricError": max(error, root["geometricError"]), "root": root}


def _extras(frame: LocalFrame, summary: TilesetSummary, name: str) -> dict[str, Any]:
    """Where-and-what in ``asset.extras``, so that a viewer reading only a tileset can fly to
    it and knows the heights' datum."""
    heights = ("territory heights placed as ellipsoidal heights (no geoid model applied)"
               if not summary.geoid_height else
               f"territory heights + {summary.geoid_height:g} m (a constant geoid height given "
               "by the user) placed as ellipsoidal heights")
    return {"generator": GENERATOR, "territory": name, "crs": frame.crs,
            "verticalDatum": frame.vertical_datum, "geoidHeight": summary.geoid_height,
            "heights": heights,
            "origin": dict(zip(("longitude", "latitude", "height"), frame.origin_lonlat)),
            "boundsDegrees": list(summary.bounds), "heightRange": list(summary.height_range),
            "parts": {k: p.tileset for k, p in summary.parts.items()},
            "overlays": list(summary.overlays)}


def _ecef_box(frame: LocalFrame, lower: Sequence[float], upper: Sequence[float]) -> list[float]:
    """An ENU box as the same oriented box in ECEF (for tiles without a transform)."""
    box = np.array(_box(np.asarray(lower), np.asarray(upper)))
    matrix = frame.enu_to_ecef
    centre = matrix[:3, :3] @ box[:3] + matrix[:3, 3]
    axes = (matrix[:3, :3] @ box[3:].reshape(3, 3).T).T
    return [float(v) for v in (*centre, *axes.ravel())]


def _root_tileset(parts: dict[str, PartSummary], frame: LocalFrame,
                  extras: dict[str, Any], security: dict[str, dict[str, Any]],
                  version: str = "1.0") -> dict[str, Any]:
    """The root tileset: no transform, one child per part tileset, boxes in ECEF; its level
    is the most restrictive of its parts' (it refers to them all), each listed with its own."""
    children = []
    for name, part in parts.items():
        error = _diagonal(part.lower, part.upper)
        children.append({"boundingVolume": {"box": _ecef_box(frame, part.lower, part.upper)},
                         "geometricError": error, "refine": "ADD",
                         "content": {"uri": part.tileset,
                                     "extras": {"security": security[name]["level"]}}})
    levels = {name: s["level"] for name, s in security.items()}
    extras = {**extras, "security": {"level": most_restrictive(levels.values()),
                                     "parts": levels}}
    lower = np.min([p.lower for p in parts.values()], axis=0)
    upper = np.max([p.upper for p in parts.values()], axis=0)
    error = _diagonal(lower, upper)
    root = {"boundingVolume": {"box": _ecef_box(frame, lower, upper)}, "geometricError": error,
            "refine": "ADD", "children": children}
    return {"asset": {"version": version, "extras": extras},
            "geometricError": error, "root": root}


def _keep_published(out_dir: Path, staging: Path) -> None:
    """Carry the overlays that ``twin publish`` wrote into the old tiles over to the new ones
    (rewriting the tiles must not lose published results; the TIM's own zoning overlay is
    written afresh after this)."""
    old = Path(out_dir) / "overlays"
    if old.is_dir() and not old.is_symlink():
        shutil.copytree(old, staging / "overlays", symlinks=True,
                        ignore=shutil.ignore_patterns(".*"))
        log.info("kept the published overlays of %s", out_dir)


def _overlays(territory: Territory, staging: Path) -> list[str]:
    """Overlays the TIM itself gives (zoning limits per building), written with the tiles."""
    from tim.tiles.overlay import height_check, write_feature_properties

    if "zoning" not in territory.layers:
        return []
    table, meta = height_check(territory)
    path = write_feature_properties(staging, "zoning", table, meta,
                                    description="zoning limits and height excess per building",
                                    security=sources_level(territory, ("zoning", "buildings")))
    return [str(path.relative_to(staging))]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, separators=(",", ":"), allow_nan=False))

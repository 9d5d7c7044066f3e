"""Buildings to tile contents, one tile at a time: the path that takes a city of a million
buildings (issue 17) in bounded memory.

1. **Arrays first.** Every footprint point is georeferenced once (:meth:`LocalFrame.
   point_basis`): its local position at ground level and its local up vector, from which each
   building's box (float32, what a client reads) and the lon/lat bounds follow; no mesh yet.
2. **Partition.** Buildings are grouped into tiles from those arrays alone: the point quadtree
   over footprint centroids (3D Tiles 1.0, :func:`tim.tiles.quadtree.quadtree`) or the loose
   quadtree over the buildings' boxes (1.1, :func:`tim.tiles.implicit.loose_quadtree`).
3. **One tile at a time.** Each tile's buildings are extruded (:func:`tim.tiles.buildings.
   extrude`), georeferenced, written to their file and dropped before the next tile; only the
   tile's box and counts are kept. The meshes are the ones the whole-city path made: the same
   vertices, in the same order, in the same tiles.
4. **In parallel** (``jobs`` processes, forked so that they share the footprints) when there
   are enough buildings for it to pay (:data:`PARALLEL_FROM`).

Buildings drawn from city-model surfaces (LoD2, :mod:`tim.tiles.lod2`) are few: their mesh is
made for the whole territory at once, as before, and cut per tile.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tim.model import Territory
from tim.tiles import buildings as bld
from tim.tiles.georef import LocalFrame, ecef_lonlat

log = logging.getLogger(__name__)

#: Fewer buildings than this are tiled in this process: forking costs more than it saves.
PARALLEL_FROM = 50_000
#: Tiles handed to a worker at a time.
_CHUNK = 4


@dataclass(frozen=True)
class TileWritten:
    """What a tile's content left behind once written: its box (stored float32 vertices, local
    ENU) and its size."""

    lower: np.ndarray
    upper: np.ndarray
    triangles: int
    vertices: int


@dataclass(frozen=True)
class CityGeometry:
    """The buildings as arrays, before any mesh (step 1 of the module doc).

    Every footprint point (``shapely.get_coordinates`` order) is georeferenced here once:
    ``ground + h * up`` is its local position at placed height h.
    ``lower``/``upper`` per row of the layer (NaN for a building without vertices, or for every
    LoD1 one when made without boxes), ``drawn`` the rows with vertices (all rows without
    boxes), ``lonlat`` the bounds (degrees) of every footprint point,
    ``z_range`` the lowest and highest vertex (placed, m).
    """

    layer: Any
    footprints: np.ndarray
    point_start: np.ndarray  # (n + 1,) a building's points are ground[start[i]:start[i + 1]]
    ground: np.ndarray       # (p, 3) local position of every footprint point at height 0
    up: np.ndarray           # (p, 3) its local up vector
    base: np.ndarray
    top: np.ndarray
    lod2: bld.BuildingMesh | None
    lod2_drawn: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    drawn: np.ndarray
    lonlat: tuple[float, float, float, float]
    z_range: tuple[float, float]


def city_geometry(territory: Territory, frame: LocalFrame, lod: str,
                  boxes: bool = True) -> CityGeometry:
    """Step 1: the checked buildings layer (with its ``lod`` column), each building's base and
    roof height, the LoD2 mesh (local frame) and, with ``boxes`` (what the 1.1 partition
    needs; NaN without), each extruded building's box."""
    import shapely

    from tim.tiles.lod2 import territory_surface_mesh

    layer = bld.require_buildings(territory).reset_index(drop=True)
    footprints = layer.geometry.values
    n = len(layer)
    lod2, lod2_drawn, semantic = (territory_surface_mesh(territory, layer) if lod == "auto" else
                                  (None, np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)))
    layer = layer.assign(lod=np.where(semantic, 2, 1))
    lower, upper = np.full((n, 3), np.nan), np.full((n, 3), np.nan)
    z_low, z_high = [], []
    if lod2 is not None:
        z_low.append(float(lod2.positions[:, 2].min()))
        z_high.append(float(lod2.positions[:, 2].max()))
        lod2 = lod2.with_positions(frame.to_local(lod2.positions))
        _box_per_building(lod2.positions, lod2.vertex_building, lower, upper)
    base = np.full(n, np.nan)
    top = np.full(n, np.nan)
    rest = np.flatnonzero(~lod2_drawn)
    xy, owner = shapely.get_coordinates(footprints, return_index=True)
    # Most cities have no LoD2 at all: then every point is an LoD1 one and no mask is needed.
    lod1_points = slice(None) if len(rest) == n else ~lod2_drawn[owner]
    if len(rest):
        b = bld.base_from_points(territory, xy[lod1_points], owner[lod1_points], n)
        base[rest] = b[rest]
        top[rest] = base[rest] + layer["height"].to_numpy(dtype=float)[rest]
        z_low.append(float(base[rest].min()))
        z_high.append(float(top[rest].max()))
    ground, up, on_ellipsoid = frame.point_basis(xy)
    lon, lat = ecef_lonlat(on_ellipsoid)
    del on_ellipsoid
    if len(rest) and boxes:
        # A building's vertices are its footprint points at its base and at its roof.
        o, g, u = owner[lod1_points], ground[lod1_points], up[lod1_points]
        for z in (base, top):
            _box_per_building(g + (z[o] + frame.geoid_height)[:, None] * u, o, lower, upper)
        del g, u
    drawn = np.isfinite(lower[:, 0]) if boxes else np.ones(n, dtype=bool)
    point_start = np.searchsorted(owner, np.arange(n + 1))
    return CityGeometry(layer, footprints, point_start, ground, up, base, top, lod2, lod2_drawn,
                        lower, upper, drawn,
                        (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())),
                        (min(z_low) + frame.geoid_height, max(z_high) + frame.geoid_height))


def _box_per_building(positions: np.ndarray, building: np.ndarray, lower: np.ndarray,
                      upper: np.ndarray) -> None:
    """Widen ``lower``/``upper`` (per building, NaN = empty) by the float32-stored
    ``positions`` of each ``building``."""
    stored = positions.astype(np.float32).astype(float)
    if len(building) > 1 and not (building[1:] >= building[:-1]).all():
        order = np.argsort(building, kind="stable")
        stored, building = stored[order], building[order]
    starts = np.flatnonzero(np.concatenate([[True], building[1:] != building[:-1]]))
    rows = building[starts]
    lo = np.minimum.reduceat(stored, starts, axis=0)
    hi = np.maximum.reduceat(stored, starts, axis=0)
    lower[rows] = np.fmin(lower[rows], lo)
    upper[rows] = np.fmax(upper[rows], hi)


def write_contents(city: CityGeometry, frame: LocalFrame, groups: list[np.ndarray],
                   paths: list[Path], jobs: int | None = None) -> list[TileWritten]:
    """Steps 3 and 4: the content of each group of buildings (rows of the layer, ascending)
    written to its path; what each tile left behind, in the groups' order."""
    labels = None
    if city.lod2 is not None:
        labels = np.full(len(city.layer), len(groups), dtype=np.int64)
        for k, members in enumerate(groups):
            labels[members] = k
        lod2_parts = city.lod2.split(labels, len(groups))
    else:
        lod2_parts = [None] * len(groups)
    columns = bld.batch_columns(city.layer)
    work = _Work(city, frame, columns, groups, paths, lod2_parts)
    jobs = _jobs(jobs, len(city.layer))
    if jobs <= 1:
        return [work(k) for k in range(len(groups))]
    global _WORK
    _WORK = work
    gc.collect()
    gc.freeze()  # forked workers then leave the parent's objects' pages shared
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return list(pool.imap(_run, range(len(groups)), chunksize=_CHUNK))
    finally:
        _WORK = None
        gc.unfreeze()


def _jobs(jobs: int | None, n: int) -> int:
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if n >= PARALLEL_FROM else 1
    return max(1, int(jobs))


@dataclass(frozen=True)
class _Work:
    city: CityGeometry
    frame: LocalFrame
    columns: dict[str, np.ndarray]
    groups: list[np.ndarray]
    paths: list[Path]
    lod2_parts: list[bld.BuildingMesh | None]

    def __call__(self, k: int) -> TileWritten:
        from tim.tiles.content import b3dm_content

        city, members = self.city, self.groups[k]
        meshes = []
        lod2 = self.lod2_parts[k]
        if lod2 is not None and len(lod2.positions):
            meshes.append(lod2)
        rest = members[~city.lod2_drawn[members]]
        if len(rest):
            lod1 = bld.extrude(city.footprints[rest], city.base[rest], city.top[rest])
            # lod1.xy are the points of the rest, in order: index the ones georeferenced
            points = _ranges(city.point_start[rest], city.point_start[rest + 1])
            assert len(points) == len(lod1.xy), "footprint points out of step"
            g = points[lod1.vertex_xy]
            local = city.ground[g] + (lod1.z + self.frame.geoid_height)[:, None] * city.up[g]
            meshes.append(bld.BuildingMesh(local, bld.flat_normals(local, lod1.triangles),
                                           lod1.triangles, rest[lod1.vertex_building],
                                           rest[lod1.triangle_building]))
        part = meshes[0] if len(meshes) == 1 else bld.concat(meshes)
        content = b3dm_content(part.positions, part.normals, part.triangles,
                               batch_ids=np.searchsorted(members, part.vertex_building),
                               batch_length=len(members),
                               properties=bld.batch_table_json(city.layer, members,
                                                               self.columns),
                               name="building")
        path = self.paths[k]
        path.parent.mkdir(parents=True, exist_ok=True)
        content.save_as(path)
        stored = part.positions.astype(np.float32).astype(float)  # what a client will read
        return TileWritten(stored.min(axis=0), stored.max(axis=0), len(part.triangles),
                           len(part.positions))


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of the ranges [starts[i], ends[i]), one after the other.

    >>> _ranges(np.array([2, 7]), np.array([4, 10])).tolist()
    [2, 3, 7, 8, 9]
    """
    lengths = ends - starts
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


_WORK: Callable[[int], TileWritten] | None = None


def _run(k: int) -> TileWritten:
    assert _WORK is not None, "the work is set before the workers fork"
    return _WORK(k)

"""Point-cloud tiles: ``py3dtiles convert`` (pnts, 3D Tiles 1.0) on the territory's cloud.

py3dtiles owns the point tiling here (its octree, sub-sampling and pnts writer are valid 3D Tiles
1.0, see RECIPES.md); this module hands it the cloud and wraps the result:

* the cloud is written to a temporary LAZ in the project CRS, with the geoid height (if any)
  added to the LAS z offset, so py3dtiles places heights exactly as the mesh tilesets do
  (territory height + N treated as ellipsoidal, x/y through pyproj);
* ``--srs_in`` is the project CRS's EPSG code (py3dtiles takes codes only), ``--srs_out 4978``,
  ``--pyproj-always-xy`` (the LAZ holds easting, northing whatever the CRS's axis order),
  ``--spec-version 1.0`` (1.1 writes invalid colours), ``--no-rgb`` (the TIM keeps no colour;
  py3dtiles would write black), ``--extra-fields classification`` so a viewer can style by
  ASPRS class;
* it runs in a subprocess (py3dtiles starts worker processes and a ZeroMQ broker of its own);
* its ``tileset.json`` gets our ``asset.extras`` (CRS, vertical datum, geoid height).

Every tile's box is refitted (:func:`_fit_boxes`) around what it and its children draw, aligned
with the shared ENU frame, so that every child lies inside its parent; the root tileset refers to
the part with the root's box.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tim.errors import InputError, TwinError
from tim.geometry3d import PointCloud, write_laz
from tim.tiles.georef import LocalFrame
from tim.tiles.tileset import MIN_HALF

log = logging.getLogger(__name__)

_CONVERT = "from py3dtiles.command_line import main; main()"


def epsg_code(crs: str) -> int:
    from pyproj import CRS

    code = CRS.from_user_input(crs).to_epsg()
    if code is None:
        raise InputError("py3dtiles needs an EPSG code for the point cloud's CRS",
                         field="point_clouds.crs", value=crs,
                         hint="build the TIM with an EPSG project CRS (--crs EPSG:xxxx)")
    return code


def convert_points(cloud: PointCloud, out: Path, frame: LocalFrame, *,
                   jobs: int | None = None) -> dict[str, Any]:
    """Tile ``cloud`` into ``out`` (which must not exist) and describe the result.

    Returns
    -------
    dict
        ``lower``/``upper`` (ENU box of the points), ``points``, ``tiles``, ``content_tiles``,
        ``seconds`` (py3dtiles' wall time).
    """
    jobs = jobs or max(1, min(os.cpu_count() or 1, 4))
    shifted = PointCloud(cloud.ints, cloud.scale,
                         (cloud.offset[0], cloud.offset[1], cloud.offset[2] + frame.geoid_height),
                         cloud.classification, cloud.crs, cloud.intensity)
    started = time.perf_counter()
    # Beside the output (inside the tiles' staging folder), not in the system's temp: a killed
    # run's copy is then removed with that folder by the next run.
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(out).parent, prefix=".points-") as tmp:
        source = Path(tmp) / "points.laz"
        write_laz(source, shifted)
        command = [sys.executable, "-c", _CONVERT, "convert", str(source), "--out", str(out),
                   "--srs_in", str(epsg_code(cloud.crs)), "--srs_out", "4978",
                   "--jobs", str(jobs), "--spec-version", "1.0", "--no-rgb",
                   "--extra-fields", "classification",
                   # x is the easting whatever the CRS's axis order (EPSG:4548 is north,
                   # east): without this py3dtiles swaps them and puts the cloud elsewhere.
                   "--pyproj-always-xy"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not (out / "tileset.json").is_file():
        raise TwinError(f"py3dtiles convert failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-2000:]}")
    tileset = json.loads((out / "tileset.json").read_text())
    tiles = _count(tileset["root"])
    lower, upper = _fit_boxes(out, tileset, frame)
    tileset["asset"].setdefault("extras", {}).update({
        "generator": "py3dtiles convert (via territory-twin tim.tiles.points)",
        "crs": frame.crs, "verticalDatum": frame.vertical_datum,
        "geoidHeight": frame.geoid_height,
        "heights": "territory heights + geoidHeight placed as ellipsoidal heights"})
    (out / "tileset.json").write_text(json.dumps(tileset, separators=(",", ":")))
    log.info("py3dtiles tiled %d points into %d tiles in %.1f s", len(cloud), tiles[0],
             seconds)
    return {"lower": lower, "upper": upper, "points": len(cloud),
            "tiles": tiles[0], "content_tiles": tiles[1], "seconds": seconds,
            "z_range": (float(cloud.xyz[:, 2].min() + frame.geoid_height),
                        float(cloud.xyz[:, 2].max() + frame.geoid_height))}


def _fit_boxes(out: Path, tileset: dict, frame: LocalFrame) -> tuple[np.ndarray, np.ndarray]:
    """Give every tile of py3dtiles' tileset a box around what it and its children draw, and
    return the ENU box of every point it wrote.

    py3dtiles' boxes are those of its octree cells, in each node's own scaled and rotated
    frame; a child's box may reach out of its parent's (by more than a kilometre vertically on
    the Delft cloud), which breaks culling. Each box here is aligned with the territory's ENU
    axes and spans the tile's own points (its coarse levels hold sub-sampled points snapped to
    a voxel grid, so the box is of what is drawn, not of the source cloud) and its children's
    boxes: every child lies inside its parent by construction, and the root's box is the box
    the root tileset gives the part.
    """
    rotation = frame.enu_to_ecef[:3, :3]

    def visit(tile: dict, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        own = np.array(tile.get("transform", np.identity(4).ravel()), dtype=float)
        matrix = outer @ own.reshape(4, 4).T
        lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
        uri = tile.get("content", {}).get("uri")
        if uri:
            local = _pnts_local(out / uri, matrix, frame, rotation)
            lower, upper = local.min(axis=0), local.max(axis=0)
        for child in tile.get("children", []):
            lo, hi = visit(child, matrix)
            lower, upper = np.minimum(lower, lo), np.maximum(upper, hi)
        # Widened here, not only in the box, so that a parent holds its children's widening.
        centre, half = (lower + upper) / 2, np.maximum((upper - lower) / 2, MIN_HALF)
        lower, upper = centre - half, centre + half
        tile["boundingVolume"] = {"box": _enu_box_in(matrix, frame, lower, upper)}
        return lower, upper

    return visit(tileset["root"], np.identity(4))


def _pnts_local(path: Path, matrix: np.ndarray, frame: LocalFrame,
                rotation: np.ndarray) -> np.ndarray:
    """The points of a pnts file in the territory's ENU frame (as float32, what a client
    reads); ``matrix`` takes the tile's coordinates to ECEF."""
    data = path.read_bytes()
    ft_json = struct.unpack("<I", data[12:16])[0]
    table = json.loads(data[28:28 + ft_json])
    n = table["POINTS_LENGTH"]
    xyz = np.frombuffer(data, np.float32, n * 3,
                        28 + ft_json + table["POSITION"]["byteOffset"]).reshape(n, 3)
    xyz = xyz.astype(float) + np.asarray(table.get("RTC_CENTER", [0.0, 0.0, 0.0]))
    ecef = xyz @ matrix[:3, :3].T + matrix[:3, 3]
    return ((ecef - frame.origin_ecef) @ rotation).astype(np.float32).astype(float)


def _enu_box_in(matrix: np.ndarray, frame: LocalFrame, lower: np.ndarray,
                upper: np.ndarray) -> list[float]:
    """The ENU box [lower, upper] as a 3D Tiles box in the coordinates ``matrix`` takes to
    ECEF (py3dtiles' node frames: a rotation, a uniform scale and a translation)."""
    centre, half = (lower + upper) / 2, (upper - lower) / 2
    to_ecef = frame.enu_to_ecef
    inverse = np.linalg.inv(matrix)
    centre_tile = inverse @ np.append(to_ecef[:3, :3] @ centre + to_ecef[:3, 3], 1.0)
    axes = inverse[:3, :3] @ (to_ecef[:3, :3] * half)  # columns: the three half-axes
    return [float(v) for v in (*centre_tile[:3], *axes[:, 0], *axes[:, 1], *axes[:, 2])]


def _count(tile: dict) -> tuple[int, int]:
    """(tiles, tiles with content) under a tileset tile."""
    total, content = 1, int("content" in tile)
    for child in tile.get("children", []):
        t, c = _count(child)
        total, content = total + t, content + c
    return total, content

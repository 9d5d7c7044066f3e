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

The root tileset refers to it with a box around every point py3dtiles wrote, in the shared ENU
frame: tighter than py3dtiles' ECEF-axis-aligned root box.
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
    lower, upper = _drawn_box(out, tileset, frame)
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


def _drawn_box(out: Path, tileset: dict, frame: LocalFrame) -> tuple[np.ndarray, np.ndarray]:
    """ENU box of every point py3dtiles wrote (its coarse levels hold sub-sampled points
    snapped to a voxel grid, so the box is of what is drawn, not of the source cloud)."""
    lower, upper = np.full(3, np.inf), np.full(3, -np.inf)
    rotation = frame.enu_to_ecef[:3, :3]

    def visit(tile: dict, outer: np.ndarray) -> None:
        nonlocal lower, upper
        own = np.array(tile.get("transform", np.identity(4).ravel()), dtype=float)
        matrix = outer @ own.reshape(4, 4).T
        uri = tile.get("content", {}).get("uri")
        if uri:
            data = (out / uri).read_bytes()
            ft_json, ft_bin = struct.unpack("<2I", data[12:20])
            table = json.loads(data[28:28 + ft_json])
            n = table["POINTS_LENGTH"]
            xyz = np.frombuffer(data, np.float32, n * 3,
                                28 + ft_json + table["POSITION"]["byteOffset"]).reshape(n, 3)
            xyz = xyz.astype(float) + np.asarray(table.get("RTC_CENTER", [0.0, 0.0, 0.0]))
            ecef = xyz @ matrix[:3, :3].T + matrix[:3, 3]
            local = ((ecef - frame.origin_ecef) @ rotation).astype(np.float32).astype(float)
            lower, upper = np.minimum(lower, local.min(axis=0)), np.maximum(upper,
                                                                            local.max(axis=0))
        for child in tile.get("children", []):
            visit(child, matrix)

    visit(tileset["root"], np.identity(4))
    return lower, upper


def _count(tile: dict) -> tuple[int, int]:
    """(tiles, tiles with content) under a tileset tile."""
    total, content = 1, int("content" in tile)
    for child in tile.get("children", []):
        t, c = _count(child)
        total, content = total + t, content + c
    return total, content

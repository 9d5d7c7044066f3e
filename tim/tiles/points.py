"""Point-cloud tiles: ``py3dtiles convert`` (pnts, 3D Tiles 1.0) on the territory's cloud.

py3dtiles owns the point tiling here (its octree, sub-sampling and pnts writer are valid 3D Tiles
1.0, see RECIPES.md); this module hands it the cloud and wraps the result:

* the cloud is written to a temporary LAZ in the project CRS, with the geoid height (if any)
  added to the LAS z offset, so py3dtiles places heights exactly as the mesh tilesets do
  (territory height + N treated as ellipsoidal, x/y through pyproj);
* ``--srs_in`` is the project CRS's EPSG code (py3dtiles takes codes only), ``--srs_out 4978``,
  ``--spec-version 1.0`` (1.1 writes invalid colours), ``--no-rgb`` (the TIM keeps no colour;
  py3dtiles would write black), ``--extra-fields classification`` so a viewer can style by
  ASPRS class;
* it runs in a subprocess (py3dtiles starts worker processes and a ZeroMQ broker of its own);
* its ``tileset.json`` gets our ``asset.extras`` (CRS, vertical datum, geoid height).

The root tileset refers to it with a box computed from the points themselves in the shared ENU
frame, tighter than py3dtiles' ECEF-axis-aligned root box.
"""

from __future__ import annotations

import json
import logging
import os
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
    with tempfile.TemporaryDirectory(prefix="twin-points-") as tmp:
        source = Path(tmp) / "points.laz"
        write_laz(source, shifted)
        command = [sys.executable, "-c", _CONVERT, "convert", str(source), "--out", str(out),
                   "--srs_in", str(epsg_code(cloud.crs)), "--srs_out", "4978",
                   "--jobs", str(jobs), "--spec-version", "1.0", "--no-rgb",
                   "--extra-fields", "classification"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not (out / "tileset.json").is_file():
        raise TwinError(f"py3dtiles convert failed (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-2000:]}")
    tileset = json.loads((out / "tileset.json").read_text())
    tiles = _count(tileset["root"])
    local = frame.to_local(cloud.xyz)  # territory heights: to_local adds the geoid height
    stored = local.astype(np.float32).astype(float)
    tileset["asset"].setdefault("extras", {}).update({
        "generator": "py3dtiles convert (via territory-twin tim.tiles.points)",
        "crs": frame.crs, "verticalDatum": frame.vertical_datum,
        "geoidHeight": frame.geoid_height,
        "heights": "territory heights + geoidHeight placed as ellipsoidal heights"})
    (out / "tileset.json").write_text(json.dumps(tileset, separators=(",", ":")))
    log.info("py3dtiles tiled %d points into %d tiles in %.1f s", len(cloud), tiles[0],
             seconds)
    return {"lower": stored.min(axis=0), "upper": stored.max(axis=0), "points": len(cloud),
            "tiles": tiles[0], "content_tiles": tiles[1], "seconds": seconds,
            "z_range": (float(cloud.xyz[:, 2].min() + frame.geoid_height),
                        float(cloud.xyz[:, 2].max() + frame.geoid_height))}


def _count(tile: dict) -> tuple[int, int]:
    """(tiles, tiles with content) under a tileset tile."""
    total, content = 1, int("content" in tile)
    for child in tile.get("children", []):
        t, c = _count(child)
        total, content = total + t, content + c
    return total, content

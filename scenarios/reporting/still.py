"""3D perspective stills of a city for reports, rendered off-screen with pyvista (VTK).

The terrain is a surface coloured by land use (or by flood depth where a surge flooded it), the
buildings are their footprints extruded to their heights: existing ones light grey, the ones a
scenario added orange, or - when a surge ran - every building coloured by the flood depth at its
footprint. ``pyvista.Plotter(off_screen=True)`` renders without a display.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from scenarios.reporting.figures import (DEPTH_BOUNDS, DEPTH_COLOURS, NEW_BUILDING,
                                         SEA_NEUTRAL)
from scenarios.reporting.model import Figure

if TYPE_CHECKING:
    from scenarios.rundir import RunDirectory
    from tim.model import Territory

log = logging.getLogger(__name__)
__all__ = ["city_stills", "city_still", "class_rgb", "depth_colour", "extrude"]

EXISTING_BUILDING = "#eceff1"
DRY_BUILDING = "#b0bec5"
WINDOW = (1200, 760)
#: Terrain cells per side at most (the surface is block-averaged down to this).
TERRAIN_CELLS = 160


def _rgb(colour: str) -> np.ndarray:
    colour = colour.lstrip("#")
    return np.array([int(colour[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.uint8)


def depth_colour(depth: np.ndarray) -> np.ndarray:
    """RGB (uint8) of each depth on the report's flood ramp; dry (< 1 cm) grey."""
    depth = np.nan_to_num(np.asarray(depth, dtype=float))
    index = np.searchsorted(np.asarray(DEPTH_BOUNDS), depth, side="right") - 1
    palette = np.array([_rgb(c) for c in DEPTH_COLOURS] + [_rgb(DRY_BUILDING)])
    return palette[np.where(index < 0, len(DEPTH_COLOURS), np.minimum(index, 4))]


def extrude(footprints: Sequence, bases: np.ndarray, heights: np.ndarray):
    """One PolyData of all footprints (shapely polygons) extruded from ``bases`` to
    ``bases + heights``; cell data ``building`` holds each face's building index."""
    import pyvista as pv

    points, faces, owner = [], [], []
    count = 0
    for i, (geometry, base, height) in enumerate(zip(footprints, bases, heights)):
        polygons = getattr(geometry, "geoms", [geometry])
        for polygon in polygons:
            ring = np.asarray(polygon.exterior.coords)[:-1, :2]
            n = len(ring)
            if n < 3 or not np.isfinite(height) or height <= 0:
                continue
            bottom = np.column_stack([ring, np.full(n, base)])
            top = np.column_stack([ring, np.full(n, base + height)])
            points += [bottom, top]
            faces.append(np.concatenate([[n], count + n + np.arange(n)]))
            j = np.arange(n)
            k = (j + 1) % n
            quads = np.column_stack([np.full(n, 4), count + j, count + k, count + n + k,
                                     count + n + j]).ravel()
            faces.append(quads)
            owner += [i] * (n + 1)
            count += 2 * n
    if not points:
        return None
    mesh = pv.PolyData(np.vstack(points), np.concatenate(faces))
    mesh.cell_data["building"] = np.array(owner)
    return mesh


def city_still(elevation: np.ndarray, surface_rgb: np.ndarray, transform: tuple,
               buildings: Sequence, heights: np.ndarray, colours: np.ndarray,
               caption: str, *, exaggeration: float = 1.5, width: float = 1.0,
               focus: np.ndarray | None = None) -> Figure:
    """A perspective still (PNG) of the terrain and the extruded buildings.

    ``surface_rgb``: colour of each grid cell (rows, cols, 3; uint8); ``transform``: the grid's
    affine (a, b, c, d, e, f); ``colours``: RGB of each building; ``focus``: points (x, y)
    the camera frames (the buildings, say; default the whole grid).
    """
    import pyvista as pv

    rows, cols = elevation.shape
    step = max(1, int(np.ceil(max(rows, cols) / TERRAIN_CELLS)))
    a, _, c, _, e, f = transform[:6]
    z = np.nan_to_num(elevation[::step, ::step]).astype(float)
    rgb = surface_rgb[::step, ::step]
    xs = c + a * (np.arange(z.shape[1]) * step + 0.5)
    ys = f + e * (np.arange(z.shape[0]) * step + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    terrain = pv.StructuredGrid(gx, gy, np.maximum(z, 0.0) * exaggeration)
    terrain.point_data["rgb"] = rgb.reshape(-1, 3, order="F")
    _quiet_vtk()
    plotter = pv.Plotter(off_screen=True, window_size=list(WINDOW))
    plotter.set_background("white")
    plotter.add_mesh(terrain, scalars="rgb", rgb=True, lighting=True)
    # Buildings stand on the terrain at their footprint's centre cell.
    cx = np.array([g.centroid.x for g in buildings])
    cy = np.array([g.centroid.y for g in buildings])
    col = np.clip(((cx - c) / a).astype(int), 0, cols - 1)
    row = np.clip(((cy - f) / e).astype(int), 0, rows - 1)
    bases = np.maximum(np.nan_to_num(elevation[row, col]), 0.0) * exaggeration
    mesh = extrude(buildings, bases, np.asarray(heights, dtype=float))
    if mesh is not None:
        mesh.cell_data["rgb"] = np.asarray(colours, dtype=np.uint8)[mesh.cell_data["building"]]
        plotter.add_mesh(mesh, scalars="rgb", rgb=True, lighting=True)
    centre = (c + a * cols / 2, f + e * rows / 2, 0.0)
    span = max(abs(a) * cols, abs(e) * rows)
    if focus is not None and len(focus) > 10:
        lo, hi = np.percentile(focus, 3, axis=0), np.percentile(focus, 97, axis=0)
        centre = (float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, 0.0)
        span = min(span, 0.9 * float(max(hi - lo)))
    plotter.camera.focal_point = centre
    plotter.camera.position = (centre[0] + 0.45 * span, centre[1] - 0.85 * span, 0.6 * span)
    plotter.camera.up = (0.0, 0.0, 1.0)
    plotter.camera.view_angle = 30.0
    image = plotter.screenshot(return_img=True)
    plotter.close()
    return Figure(_encode(image), caption, "still", (), width)


def _quiet_vtk() -> None:
    """On a server without a display VTK tries X first, warns "bad X server connection" on
    the user's terminal and renders off-screen anyway: only its errors are worth showing."""
    from vtkmodules.vtkCommonCore import vtkLogger

    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)


def _encode(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    # 256 colours (fast octree): a quarter of the bytes (146 kB, not 545 kB) in 0.1 s, so the
    # report stays light and Chromium prints it faster; a render has few distinct colours.
    Image.fromarray(image).quantize(256, method=Image.Quantize.FASTOCTREE).save(
        buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def class_rgb(land_use: np.ndarray, classes: Mapping[int, str],
              depth: np.ndarray | None = None) -> np.ndarray:
    """RGB of each cell: its land-use class colour, the sea neutral, flooded land on the
    depth ramp (when ``depth`` is given)."""
    lookup = np.zeros((256, 3), dtype=np.uint8)
    for code, colour in classes.items():
        lookup[code] = _rgb(colour)
    rgb = lookup[land_use]
    if depth is not None:
        wet = np.nan_to_num(depth) >= DEPTH_BOUNDS[0]
        rgb[wet] = depth_colour(depth[wet])
    return rgb


# -- a run's still ------------------------------------------------------------------------------
def city_stills(runs: list[RunDirectory], territory: Territory) -> dict[str, bytes]:
    """A 3D still (PNG bytes) of each run's last year: existing buildings, the new ones
    orange (those redeveloped removed), or all by flood depth when the run had a surge.
    Empty when the territory has no buildings or pyvista cannot render."""
    layer = territory.layers.get("buildings")
    if layer is None or not len(layer) or "terrain__elevation" not in territory.fields:
        return {}
    out: dict[str, bytes] = {}
    elevation = territory.get("terrain__elevation")
    for run in runs:
        try:
            out[run.name] = _still(run, territory, layer, elevation)
        except Exception as exc:  # a missing GL stack must not cost the whole report
            log.warning("3D still of %s not rendered: %s", run.name, exc)
    return out


#: Buildings drawn in a still at most (a city's tallest existing ones and every new one): the
#: extrusion is a Python loop, and at page size more would not show.
MAX_STILL_BUILDINGS = 25_000


def _still(run: RunDirectory, territory: Territory, layer: Any,
           elevation: np.ndarray) -> bytes:
    new = run.new_buildings()
    existing = layer
    if new is not None and "replaces" in new:
        replaced = {i for ids in new["replaces"].dropna() for i in str(ids).split(",") if i}
        existing = layer[~layer["building_id"].astype(str).isin(replaced)]
    room = max(0, MAX_STILL_BUILDINGS - (0 if new is None else len(new)))
    if len(existing) > room:
        existing = existing.nlargest(room, "height")
    geoms = list(existing.geometry)
    heights = list(existing["height"].astype(float))
    ids = list(existing["building_id"].astype(str))
    is_new = [False] * len(geoms)
    if new is not None and len(new):
        geoms += list(new.geometry)
        heights += list(new["height"].astype(float))
        ids += list(new["building_id"].astype(str))
        is_new += [True] * len(new)
    classes = {c.code: c.colour for c in run.classes}
    land_use = run.land_use(run.years[-1])
    depth = run.water_depth() if run.surge is not None else None
    if depth is not None:
        table = run.buildings()
        depths = pd.Series(0.0, index=ids)
        if table is not None and "surge_depth_m" in table:
            known = table.set_index(table["building_id"].astype(str))["surge_depth_m"]
            known = known[~known.index.duplicated()]
            depths = known.reindex(ids).fillna(0.0)
        colours = depth_colour(depths.to_numpy(float))
    else:
        colours = np.array([_rgb(NEW_BUILDING if n else EXISTING_BUILDING)
                            for n in is_new], dtype=np.uint8)
    surface = class_rgb(land_use, classes, depth)
    sea = run.classes.group_mask(land_use, "sea")
    surface[sea] = _rgb(SEA_NEUTRAL) if depth is not None else surface[sea]
    xy = np.array([(g.centroid.x, g.centroid.y) for g in geoms])
    return city_still(elevation, surface, run.grid.transform, geoms, np.array(heights),
                      colours, run.name, focus=xy).png

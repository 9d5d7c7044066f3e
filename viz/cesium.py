"""Offline CesiumJS for the dashboard: static routes, the viewer's configuration, the drape.

Everything the 3D view needs is served by the dashboard's own Flask server, so the page works
without a network (RECIPES.md, "CesiumJS inside Dash, fully offline"):

* ``/cesium/<file>``  the CesiumJS build (``viz/node_modules/cesium/Build/Cesium``). A route and
  not ``assets/``: Dash would inject every JS file under ``assets/`` into the page.
* ``/tiles/<file>``   the 3D Tiles folder written by ``twin tiles``.
* ``/twin/drape/<run>/<year>.png``  the land use of a run and year (flood depth painted over it
  in the surge year when ``?flood=1``), resampled to longitude/latitude so Cesium can drape it
  on the terrain or the globe as a single-tile imagery layer.
* ``/twin/diff/<a>/<b>/<year>.png``  built up in run a but not b and the reverse (viz.maps).
* ``/twin/probability/<ensemble>/<year>.png``  an ensemble's development probability.
* ``/twin/limits/<check>/<field>.png``  a height check's maximum allowable height or view
  envelope over the land use.
* ``/twin/shadow/<check>.png``  the hours in shadow on the ground after the proposals of the
  sunlight check beside a height check's TIM or run (``twin sunlight``), over the land use.
* ``/twin/flood/<run>/time/<band>.png``, ``.../max/0.png``, ``.../level/<cm>.png``  a surge
  run's flood at an output time, at its maximum or at a still-water level (:mod:`viz.surge`),
  over the land use of the surge year.

The tiles route serves a file only to a user cleared for the level of the tileset or overlay
it belongs to (:meth:`viz.overlays.TilesFolder.level_of`), and the images only to a user cleared
for the products of the runs they show (:func:`viz.sources.products_level`); otherwise 404, as
for a missing file. The viewer's configuration lists only the parts the user may load.

Every image is drawn with the colours of its 2D map (:mod:`viz.figures`, :mod:`viz.maps`) and
cached (a handful of PNGs of a few hundred kB at most). The viewer itself is created in the
browser by ``viz/assets/twin3d.js`` from a clientside callback; :func:`viewer_config` is what
that callback receives.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios.publish import PROJECT_USES
from tim.errors import StoreError
from tim.model import ClassTable, Grid
from viz.figures import land_use_rgba
from viz.sources import products_cleared

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import flask

    from viz.app import Dashboard

CESIUM_ROUTE = "/cesium/"
TILES_ROUTE = "/tiles/"
DRAPE_ROUTE = "/twin/drape/"
DIFF_ROUTE = "/twin/diff/"
PROBABILITY_ROUTE = "/twin/probability/"
LIMITS_ROUTE = "/twin/limits/"
SHADOW_ROUTE = "/twin/shadow/"
FLOOD_ROUTE = "/twin/flood/"
#: Base parts the 3D view can toggle, in the order of the toggles; on at start: buildings and
#: the terrain (the drape then lies on the ground the buildings stand on).
LAYERS = ("buildings", "terrain", "points")
LAYERS_ON = ("buildings", "terrain")
#: How strongly the land use under analysis maps is washed out (0: not, 1: white).
BACKDROP_LIGHTEN = 0.75
#: How strongly the shadow map covers the land use in its drape (1: not at all).
SHADOW_OPACITY = 0.75
#: Longest side of a drape image (pixels); the sample grid is 240 cells, real ones can be more.
DRAPE_MAX_PIXELS = 1024


def cesium_missing(cesium_dir: Path) -> str | None:
    """Why CesiumJS cannot be served from ``cesium_dir``, or None when it can."""
    if not (cesium_dir / "Cesium.js").is_file():
        return (f"CesiumJS is not installed at {cesium_dir} (run 'npm install "
                "--ignore-scripts' in the viz folder)")
    return None


def index_string() -> str:
    """Dash's page template with ``CESIUM_BASE_URL`` set before any script runs.

    Cesium finds its workers and assets through this global; without it, it guesses from the
    script tag, which fails when Cesium.js is not loaded from the build folder's own URL.
    """
    return f"""<!DOCTYPE html>
<html lang="en">
    <head>
        {{%metas%}}
        <title>{{%title%}}</title>
        {{%favicon%}}
        <script>window.CESIUM_BASE_URL = "{CESIUM_ROUTE}";</script>
        {{%css%}}
    </head>
    <body>
        {{%app_entry%}}
        <footer>
            {{%config%}}
            {{%scripts%}}
            {{%renderer%}}
        </footer>
    </body>
</html>"""


def viewer_config(board: Dashboard, *, with_3d: bool) -> dict[str, Any]:
    """What the clientside ``twin3d.init`` callback needs to build the viewer.

    ``parts`` maps the tileset's parts (buildings, terrain, points) to their URLs - terrain
    without buildings is shown, the status saying the data hold no buildings; ``parts`` is
    None when there is nothing to show, and ``message`` then says why, in the page's language
    and without server paths. ``words`` are the 3D view's status lines in the page's language
    (twin3d.js has no words of its own) and ``locale`` the page's number format.
    """
    from viz.i18n import ui

    t = ui()
    _ = t.gettext
    if board.tiles is None or not board.runs:
        return {"parts": None, "message": _(
            "No 3D tiles were given: start the dashboard with {command} to see the buildings "
            "in 3D.", command="'twin serve RUN... --tiles TILES_DIR'")}
    missing = cesium_missing(board.cesium_dir)
    if missing:
        log.warning("3D view unavailable: %s", missing)
        return {"parts": None, "message": _(
            "3D view unavailable: CesiumJS is not installed on the server (run {command} in "
            "the viz folder).", command="'npm install --ignore-scripts'")}
    if not with_3d:
        return {"parts": None, "message": _("3D view unavailable on this page.")}
    parts = {name: TILES_ROUTE + path for name, path in board.tiles.parts.items()
             if name in LAYERS and board.tiles.cleared(path)}
    if "buildings" in board.tiles.parts and "buildings" not in parts:
        from viz.onemap import hidden_note

        return {"parts": None, "message": hidden_note()}  # above the user's clearance
    if not parts:
        return {"parts": None, "message": _(
            "The 3D tiles folder {folder} holds nothing to show (no buildings, terrain or "
            "points): write it with {command}.",
            folder=board.tiles.path.name, command="'twin tiles TIM_DIR --out TILES_DIR'")}
    words = status_words(t)
    if "buildings" not in parts:  # terrain only (a city without footprints): the status says
        words["count"] = words["no_buildings"]  # so where it would count the buildings
    return {"parts": parts, "layers": [p for p in LAYERS_ON if p in parts] or list(parts),
            "baseUrl": CESIUM_ROUTE, "container": "cesium-container",
            "rectangle": list(drape_rectangle(board.grid)), "words": words,
            "locale": t.lang.replace("_", "-")}


def _(message: str) -> str:
    """Marks a message id for the catalogue (translated in :func:`status_words`)."""
    return message


#: The 3D view's status lines (twin3d.js fills the ``{fields}``).
STATUS_WORDS = {
    "loading": _("Loading the 3D tiles\u2026"),
    "failed": _("3D view failed ({error})"),
    "no_cesium": _("CesiumJS did not load"),
    "count": _("{buildings} buildings in {tiles} tiles"),
    "no_buildings": _("The 3D data hold no buildings"),
    "flooded": _(", {n} flooded"),
    "heights": _(", {over} over their limit, {blocking} blocking the view"),
    "new": _(", {n} new"),
    "replaced": _(" ({n} replaced)"),
    "layers": _(" \u00b7 layers: {names}"),
    "none": _("none"),
    "swipe": _("Drag to compare"),
    "buildings": _("Buildings"), "terrain": _("Terrain"), "points": _("Points"),
    "list": _(", "),
    # the line of a clicked building: "Building HW1 · residential · 30.7 m · 10 storeys ..."
    "pick_building": _("Building {id}"),
    "pick_new": _("New {id}"),
    "metres": _("{value} m"),
    "storeys": _("{n} storeys"),
    "flood_depth": _("flood depth {depth} m"),
    "not_flooded": _("not flooded"),
    "over_limit": _("over its limit by {excess} m"),
    "rule": _(" ({rule})"),
    "blocks_view": _("blocks the protected view: lower by {lower} m"),
    "within_limits": _("within its limits"),
}

#: Building uses by their value in the TIM and the tiles (``use``) -> their name on the page;
#: the new buildings' uses are :data:`scenarios.publish.PROJECT_USES`. A use not named here is
#: shown as written. ``other`` is the legend's colour for the uses not listed.
USE_NAMES = {
    "residential": _("residential"), "commercial": _("commercial"),
    "industrial": _("industrial"), "public": _("public"), "mixed": _("mixed use"),
    PROJECT_USES["new"]: _("new building"), PROJECT_USES["redevelopment"]: _("redevelopment"),
    "other": _("other uses"), "rural": _("rural"),
}
STATUS_WORDS.update({"use:" + use: name for use, name in USE_NAMES.items()})


def status_words(t: Any) -> dict[str, str]:
    """:data:`STATUS_WORDS` in ``t``'s language."""
    return {key: t.gettext(text) for key, text in STATUS_WORDS.items()}


def use_name(use: str, t: Any = None) -> str:
    """A building's or zone's use in ``t``'s language (the request's by default); unknown
    uses as written.

    >>> use_name("residential"), use_name("port")
    ('residential', 'port')
    """
    if use not in USE_NAMES:
        return use
    if t is None:
        from viz.i18n import ui

        t = ui()
    return t.gettext(USE_NAMES[use])


def register_routes(server: flask.Flask, board: Dashboard) -> None:
    """Add the CesiumJS, tiles and drape routes to the Dash app's Flask ``server``."""
    import flask

    cesium_dir = board.cesium_dir
    tiles_dir = board.tiles_dir
    images = DrapeImages(board)

    def send(directory: Path, filename: str, max_age: int) -> flask.Response:
        from viz.server import send_inside

        # Links resolved, only a regular file inside ``directory`` (viz.server).
        mimetype = "application/wasm" if filename.endswith(".wasm") else None
        return send_inside(directory, filename, max_age=max_age, mimetype=mimetype)

    @server.route(CESIUM_ROUTE + "<path:filename>", endpoint="twin_cesium")
    def cesium_file(filename: str) -> flask.Response:
        if cesium_missing(cesium_dir):
            flask.abort(404)
        return send(cesium_dir, filename, max_age=3600)

    levels = TilesLevels(board.tiles)

    @server.route(TILES_ROUTE + "<path:filename>", endpoint="twin_tiles")
    def tiles_file(filename: str) -> flask.Response:
        from viz.server import resolve_inside

        if tiles_dir is None or board.tiles is None:
            flask.abort(404)
        # The level of the file as it lies (links resolved), so that no path spelling or
        # planted link reaches a part above the user's clearance; refused like a missing file.
        target = resolve_inside(tiles_dir, filename)
        if target is None or not levels.current().cleared(
                target.relative_to(Path(tiles_dir).resolve()).as_posix()):
            flask.abort(404)
        # Tiles are rewritten by 'twin tiles' while a server may run: let the browser revalidate.
        return send(tiles_dir, filename, max_age=0)

    @server.route(DRAPE_ROUTE + "<int:run>/<int:year>.png", endpoint="twin_drape")
    def drape(run: int, year: int) -> flask.Response:
        if not 0 <= run < len(board.runs) or year not in board.runs[run].years \
                or not products_cleared(board.runs[run]):
            flask.abort(404)
        flood = flask.request.args.get("flood") == "1" and year == board.runs[run].surge_year
        return png_response(images.land_use(run, year, flood))

    @server.route(DIFF_ROUTE + "<int:a>/<int:b>/<int:year>.png", endpoint="twin_diff")
    def diff(a: int, b: int, year: int) -> flask.Response:
        n = len(board.runs)
        if not (0 <= a < n and 0 <= b < n and year in board.runs[a].years
                and year in board.runs[b].years
                and products_cleared(board.runs[a], board.runs[b])):
            flask.abort(404)
        return png_response(images.difference(a, b, year))

    @server.route(PROBABILITY_ROUTE + "<int:k>/<int:year>.png", endpoint="twin_probability")
    def probability(k: int, year: int) -> flask.Response:
        if not 0 <= k < len(board.ensembles) or \
                year not in board.ensembles[k].probability_years or \
                not products_cleared(*board.runs):
            flask.abort(404)
        return png_response(images.probability(k, year))

    @server.route(LIMITS_ROUTE + "<int:k>/<field>.png", endpoint="twin_limits")
    def limits(k: int, field: str) -> flask.Response:
        from viz.tabs.heights import check_at

        try:
            check = check_at(board, k)  # a height check or a run's new buildings' check
        except IndexError:
            flask.abort(404)
        if field not in check.manifest.get("rasters", {}) or \
                field == "planning__height_limit_rule" or not products_cleared(*board.runs):
            flask.abort(404)
        return png_response(images.limits(k, field))

    @server.route(SHADOW_ROUTE + "<int:k>.png", endpoint="twin_shadow")
    def shadow(k: int) -> flask.Response:
        from viz.tabs.heights import choices
        from viz.tabs.planning_panels import shadow_map

        found = choices(board)
        # None: no sunlight check beside the choice's TIM or run, or above the user's clearance
        shown = shadow_map(board, found[k].value) if 0 <= k < len(found) else None
        if shown is None:
            flask.abort(404)
        return png_response(images.shadow(k, shown.path, shown.stamp))

    @server.route(FLOOD_ROUTE + "<int:run>/<mode>/<int(signed=True):value>.png",
                  endpoint="twin_flood")
    def flood(run: int, mode: str, value: int) -> flask.Response:
        if not (0 <= run < len(board.runs) and board.runs[run].surge is not None
                and products_cleared(board.runs[run])
                and flood_image_exists(board, run, mode, value)):
            flask.abort(404)
        return png_response(images.flood(run, mode, value))


class TilesLevels:
    """The tiles folder as the tiles route judges levels: read again when ``twin tiles``
    rewrote it or ``twin publish`` added an overlay while the server runs (the root tileset's
    or the overlay index's modification time changed), so that a part whose level was raised
    is not served at its old level."""

    def __init__(self, tiles: Any) -> None:
        self._tiles, self._stamp = tiles, self._stamp_of(tiles)

    @staticmethod
    def _stamp_of(tiles: Any) -> tuple[int, ...]:
        if tiles is None:
            return ()
        stamps = []
        for path in (tiles.path / "tileset.json", tiles.path / "overlays" / "index.json"):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except OSError:
                stamps.append(0)
        return tuple(stamps)

    def current(self) -> Any:
        from viz.overlays import TilesFolder

        stamp = self._stamp_of(self._tiles)
        if stamp != self._stamp:
            try:
                self._tiles, self._stamp = TilesFolder.open(self._tiles.path), stamp
            except StoreError:  # caught mid-rewrite: judge by what was read before
                pass
        return self._tiles


def flood_image_exists(board: Dashboard, run: int, mode: str, value: int) -> bool:
    """Whether ``/twin/flood/<run>/<mode>/<value>.png`` names a flood of the surge ``run``: an
    output time of its series, its maximum (0) or a still-water level in cm on its slider
    (needs the TIM's ground)."""
    surge = board.surge_run(run)
    if mode == "time":
        return surge.animated and 0 <= value < len(surge.times)
    if mode == "max":
        return value == 0
    low, high = surge.level_range()
    return mode == "level" and board.ground is not None and low <= value / 100.0 <= high


def png_response(png: bytes) -> Any:
    import flask

    response = flask.Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "no-cache"
    return response


class DrapeImages:
    """The drape images of a dashboard as PNG bytes, made on demand and kept (LRU)."""

    def __init__(self, board: Dashboard, size: int = 96) -> None:
        self.board = board
        cache: Callable[[Callable[..., bytes]], Callable[..., bytes]] = \
            functools.lru_cache(maxsize=size)
        self.land_use = cache(self._land_use)
        self.difference = cache(self._difference)
        self.probability = cache(self._probability)
        self.limits = cache(self._limits)
        self.shadow = cache(self._shadow)
        self.flood = cache(self._flood)

    def _backdrop(self, land_use: np.ndarray) -> np.ndarray:
        return land_use_rgba(land_use, self.board.classes, lighten=BACKDROP_LIGHTEN)

    def _land_use(self, run: int, year: int, flood: bool) -> bytes:
        directory = self.board.runs[run]
        depth = directory.water_depth() if flood else None
        return drape_png(directory.land_use(year), self.board.grid, self.board.classes,
                         water_depth=depth)

    def _flood(self, run: int, mode: str, value: int) -> bytes:
        from viz.surge import Shown

        board = self.board
        surge = board.surge_run(run)
        shown = Shown(mode, value if mode == "time" else 0,
                      value / 100.0 if mode == "level" else 0.0)
        return drape_png(surge.run.land_use(surge.year), board.grid, board.classes,
                         water_depth=surge.depth(shown, board.ground),
                         max_depth=surge.depth_scale(shown, board.ground))

    def _difference(self, a: int, b: int, year: int) -> bytes:
        from viz.figures import run_colour
        from viz.maps import built_difference, difference_rgba

        board = self.board
        land_a = board.runs[a].land_use(year)
        diff = built_difference(land_a, board.runs[b].land_use(year), board.classes,
                                board.grid)
        rgba = difference_rgba(diff, self._backdrop(land_a), (run_colour(a), run_colour(b)))
        return rgba_png(rgba, board.grid)

    def _probability(self, k: int, year: int) -> bytes:
        from viz.maps import PROBABILITY_RAMP, continuous_rgba

        board = self.board
        values = board.ensembles[k].probability(year)
        rgba = continuous_rgba(values, PROBABILITY_RAMP, 0.0, 1.0, skip=values <= 0,
                               backdrop=self._backdrop(board.baseline.land_use(
                                   board.baseline.years[0])))
        return rgba_png(rgba, board.grid)

    def _limits(self, k: int, field: str) -> bytes:
        from viz.maps import HEIGHT_LIMIT_RAMP, continuous_rgba, height_scale

        board = self.board
        from viz.tabs.heights import check_at

        values, _ = check_at(board, k).raster(field)
        top = height_scale(values)
        # Half-transparent over the land use: in 3D the limits are read with the ground.
        rgba = continuous_rgba(np.clip(values, 0, None), HEIGHT_LIMIT_RAMP, 0.0, top,
                               backdrop=self._backdrop(board.baseline.land_use(
                                   board.baseline.years[0])), opacity=0.4)
        return rgba_png(rgba, board.grid)


    def _shadow(self, k: int, path: Path, stamp: int) -> bytes:
        """The shadow map of height-check choice ``k`` (file ``path``; ``stamp``, its
        modification time, keys the cache: a rewritten check is drawn again)."""
        from viz.maps import SHADOW_RAMP, continuous_rgba
        from viz.tabs.planning_panels import read_shadow_map

        shown = read_shadow_map(path)
        # The 2D map's colours, mixed with the land use under them: in 3D the shade is read
        # with the ground; under the buildings (no value) the land use alone.
        rgba = continuous_rgba(shown.values, SHADOW_RAMP, 0.0, shown.top,
                               backdrop=self._backdrop_on(shown.grid), opacity=SHADOW_OPACITY)
        return rgba_png(rgba, shown.grid)

    def _backdrop_on(self, grid: Grid) -> np.ndarray | None:
        """The baseline's first land use, washed out, if ``grid`` is the dashboard's."""
        from viz.sources import same_grid

        board = self.board
        if not same_grid(grid, board.grid):
            return None
        return self._backdrop(board.baseline.land_use(board.baseline.years[0]))


def drape_rectangle(grid: Grid) -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) of the grid, as :func:`drape_image` resamples it."""
    return _geographic(grid)[1]


@functools.lru_cache(maxsize=8)
def _geographic(grid: Grid) -> tuple[tuple[float, ...], tuple[float, float, float, float],
                                     tuple[int, int]]:
    """Transform, bounds and shape of the grid's footprint on a longitude/latitude grid."""
    from rasterio.warp import calculate_default_transform

    rows, cols = grid.shape
    scale = min(1.0, DRAPE_MAX_PIXELS / max(rows, cols))
    west, south, east, north = grid.bounds
    transform, width, height = calculate_default_transform(
        grid.crs, "EPSG:4326", cols, rows, left=west, bottom=south, right=east, top=north,
        dst_width=max(1, round(cols * scale)), dst_height=max(1, round(rows * scale)))
    lon0, lat1 = transform.c, transform.f
    lon1, lat0 = lon0 + transform.a * width, lat1 + transform.e * height
    return tuple(transform)[:6], (lon0, lat0, lon1, lat1), (height, width)


def drape_image(rgba: np.ndarray, grid: Grid) -> np.ndarray:
    """``rgba`` (rows x cols x 4, on ``grid``) resampled to longitude/latitude (nearest cell).

    Cesium drapes a single image over a longitude/latitude rectangle; a projected grid is
    slightly rotated and curved there, so resample rather than stretch the image.
    """
    import rasterio
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    transform, _, (height, width) = _geographic(grid)
    out = np.zeros((4, height, width), dtype=np.uint8)
    reproject(source=np.moveaxis(rgba, -1, 0), destination=out,
              src_transform=Affine(*grid.transform),
              src_crs=rasterio.crs.CRS.from_user_input(grid.crs),
              dst_transform=Affine(*transform), dst_crs="EPSG:4326",
              resampling=Resampling.nearest)
    return np.moveaxis(out, 0, -1)


def rgba_png(rgba: np.ndarray, grid: Grid) -> bytes:
    """An RGBA image on ``grid`` as a longitude/latitude PNG (see :func:`drape_image`)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(drape_image(rgba, grid)).save(buffer, format="PNG")  # (h, w, 4): RGBA
    return buffer.getvalue()


def drape_png(land_use: np.ndarray, grid: Grid, classes: ClassTable, *,
              water_depth: np.ndarray | None = None, max_depth: float | None = None) -> bytes:
    """The drape of one year as PNG bytes (see :func:`drape_image`); the sea is not flooded.
    ``max_depth`` is the top of the depth colours (default: the deepest cell)."""
    if water_depth is not None:
        water_depth = np.where(classes.group_mask(land_use, "sea"), np.nan, water_depth)
    # Lightened: the coloured buildings must stand out of the land under them.
    rgba = land_use_rgba(land_use, classes, water_depth=water_depth, max_depth=max_depth,
                         alpha=255, lighten=0.45)
    return rgba_png(rgba, grid)


def drape_spec(board: Dashboard, run: int, year: int, flood: bool) -> Mapping[str, Any]:
    """The land-use drape of a run and year (flood depth in its surge year if ``flood``)."""
    directory = board.runs[run]
    flooded = flood and year == directory.surge_year
    return {"url": f"{DRAPE_ROUTE}{run}/{year}.png{'?flood=1' if flooded else ''}",
            "rectangle": list(drape_rectangle(board.grid)), "year": year, "flood": flooded}


def image_spec(board: Dashboard, url: str, grid: Grid | None = None) -> Mapping[str, Any]:
    """A drape of one of the dashboard's own images (``/twin/...png``) over ``grid`` (default:
    the dashboard's)."""
    return {"url": url, "rectangle": list(drape_rectangle(grid or board.grid))}

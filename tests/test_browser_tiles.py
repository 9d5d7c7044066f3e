"""The Den Haag city (3D Tiles 1.0) and the sample city (3D Tiles 1.1) as the tests tile them,
loaded by CesiumJS in headless Chromium.

A tiny static page (no dashboard) is served with Python's ``http.server`` from a temporary
folder holding the tiles and a link to ``viz/node_modules/cesium/Build/Cesium``. CesiumJS runs
fully offline (no Ion token, no imagery, ellipsoid terrain, RECIPES.md), fits the view to the
root tileset with a screen-space error small enough to refine everything with an error, and
reports every tile it loaded. The test asserts that ``allTilesLoaded`` fired, that no tile
failed, that every leaf of the buildings and terrain tilesets was loaded (so all 844 buildings
were drawn), and that no request left localhost.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_actions import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[1]
CESIUM = REPO / "viz" / "node_modules" / "cesium" / "Build" / "Cesium"
TIMEOUT_MS = 120_000

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<script>window.CESIUM_BASE_URL = "/cesium/";</script>
<script src="/cesium/Cesium.js"></script>
<link rel="stylesheet" href="/cesium/Widgets/widgets.css">
<style>html, body, #view { margin: 0; width: 100%; height: 100%; }</style>
</head><body><div id="view"></div>
<script>
window.report = {loaded: [], failed: [], features: 0, ids: [], allTilesLoaded: false,
                 zoomed: false, framesAfterZoom: 0, error: null};
Cesium.Ion.defaultAccessToken = "";
try {
  const viewer = new Cesium.Viewer("view", {
    baseLayer: false, terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    geocoder: false, baseLayerPicker: false, timeline: false, animation: false,
    homeButton: false, sceneModePicker: false, navigationHelpButton: false,
    fullscreenButton: false, infoBox: false, selectionIndicator: false});
  Cesium.Cesium3DTileset.fromUrl("/tiles/tileset.json", {maximumScreenSpaceError: 0.01})
    .then((tileset) => {
      viewer.scene.primitives.add(tileset);
      tileset.tileLoad.addEventListener((tile) => {
        const content = tile.content, n = content.featuresLength || 0;
        window.report.loaded.push(content.url);
        window.report.features += n;
        // The per-feature id, from a b3dm batch table or a glb property table alike.
        for (let i = 0; i < n; i++) window.report.ids.push(content.getFeature(i).getProperty("id"));
      });
      tileset.tileFailed.addEventListener((e) => window.report.failed.push(e.url + " " + e.message));
      // Count "all loaded" only once frames have been drawn with the camera on the whole city
      // (the event also fires for the first globe-wide view, before any content is needed).
      tileset.allTilesLoaded.addEventListener(() => {
        if (window.report.framesAfterZoom > 2) window.report.allTilesLoaded = true;
      });
      viewer.scene.postRender.addEventListener(() => {
        if (window.report.zoomed) window.report.framesAfterZoom += 1;
      });
      // Straight down on the whole city: no tile at the edge of an oblique view is culled.
      return viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(0, -Cesium.Math.PI_OVER_TWO,
                                                                 0));
    }).then(() => { window.report.zoomed = true; })
    .catch((err) => { window.report.error = String(err); });
} catch (err) { window.report.error = String(err); }
</script></body></html>
"""


def _contents(tileset: Path) -> list[str]:
    """Content URLs (relative to the tiles folder) of every leaf under a tileset."""
    base = tileset.parent
    out: list[str] = []

    def visit(tile: dict) -> None:
        uri = tile.get("content", {}).get("uri")
        children = tile.get("children", [])
        if uri and uri.endswith(".json"):
            out.extend(_contents(base / uri))
        elif uri and not children:
            out.append(str((base / uri).resolve()))
        for child in children:
            visit(child)

    visit(json.loads(tileset.read_text())["root"])
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def denhaag_tiles(twin_data, tmp_path_factory):
    from tim.build import build_territory
    from tim.ingest.catalog import SourceSpec
    from tim.tiles import write_tiles

    source = twin_data / "city" / "denhaag_scheveningen" / "DenHaag_01_v2.city.json"
    if not source.is_file():
        pytest.skip(f"Den Haag CityJSON not found at {source}")
    site = tmp_path_factory.mktemp("site")
    territory = build_territory([SourceSpec(path=source, role="city_model")], cell_size=4.0)
    write_tiles(territory, site / "tiles")
    return site


def _load_in_cesium(site: Path, screenshot: Path) -> tuple[dict, list[str]]:
    """Serve ``site`` (``tiles/`` beside the page) on loopback, load it in headless Chromium
    and return CesiumJS's report and every URL the page requested."""
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    if not (CESIUM / "Cesium.js").is_file():
        pytest.skip(f"CesiumJS not installed at {CESIUM} (npm install in viz/)")
    sync_api = pytest.importorskip("playwright.sync_api")
    (site / "index.html").write_text(PAGE)
    if not (site / "cesium").exists():
        os.symlink(CESIUM, site / "cesium")
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    requests: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{url}/index.html", timeout=TIMEOUT_MS)
            page.wait_for_function("() => window.report.allTilesLoaded || window.report.error"
                                   " || window.report.failed.length", timeout=TIMEOUT_MS)
            report = page.evaluate("() => window.report")
            page.screenshot(path=str(screenshot))
            browser.close()
    finally:
        server.shutdown()
    return report, requests


def _offsite(requests: list[str]) -> list[str]:
    return [u for u in requests if urlparse(u).scheme in ("http", "https")
            and urlparse(u).hostname not in ("127.0.0.1", "localhost")]


@pytest.mark.browser
def test_denhaag_tileset_loads_completely_in_cesium(denhaag_tiles, artifacts):
    site = denhaag_tiles
    report, requests = _load_in_cesium(site, artifacts / "denhaag_tiles.png")
    assert report["error"] is None and report["failed"] == []
    assert report["allTilesLoaded"]
    loaded = {str((site / urlparse(u).path.lstrip("/")).resolve()) for u in report["loaded"]}
    root = site / "tiles" / "tileset.json"
    buildings = set(_contents(site / "tiles" / "buildings" / "tileset.json"))
    terrain = set(_contents(site / "tiles" / "terrain" / "tileset.json"))
    assert buildings and terrain and buildings | terrain == set(_contents(root))
    assert buildings <= loaded, sorted(buildings - loaded)[:3]
    assert terrain <= loaded, sorted(terrain - loaded)[:3]
    assert report["features"] >= 844  # every building of the city at least once
    assert requests and _offsite(requests) == []


@pytest.fixture(scope="module")
def tiles_11(sample_territory, tmp_path_factory):
    from tim.tiles import write_tiles

    site = tmp_path_factory.mktemp("site11")
    write_tiles(sample_territory, site / "tiles", parts=("buildings", "terrain"), version="1.1",
                max_buildings_per_tile=200, subtree_levels=2)
    return site


@pytest.mark.browser
def test_the_11_tiles_load_completely_in_cesium_with_their_properties(tiles_11,
                                                                      sample_territory,
                                                                      artifacts):
    """The 3D Tiles 1.1 form of the sample city (implicit buildings over several subtrees,
    glb content): every content is loaded, no tile fails, and every building's id is read
    through EXT_mesh_features + EXT_structural_metadata."""
    from validators import tile_nodes

    site = tiles_11
    report, requests = _load_in_cesium(site, artifacts / "tiles_11.png")
    assert report["error"] is None and report["failed"] == []
    assert report["allTilesLoaded"]
    loaded = {str((site / urlparse(u).path.lstrip("/")).resolve()) for u in report["loaded"]
              if u}
    contents = {str(n.content.resolve()) for n in tile_nodes(site / "tiles" / "tileset.json")
                if n.content is not None}
    assert len(list((site / "tiles").rglob("*.subtree"))) > 1
    assert contents and contents <= loaded, sorted(contents - loaded)[:3]
    assert set(report["ids"]) == set(sample_territory.layers["buildings"]["building_id"])
    assert requests and _offsite(requests) == []

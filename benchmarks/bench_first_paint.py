"""First paint of a big buildings tileset in CesiumJS, software WebGL (issue 17: the
1,000,000-building city drawn within 10 s).

The generated city (:mod:`citygen`) is tiled by ``write_tiles`` in a fresh process (its time
and peak RSS printed as :mod:`bench_city_tiles` does), served on loopback with
``http.server`` beside ``viz/node_modules/cesium``, and opened in headless Chromium with
SwiftShader (RECIPES.md flags). The page creates an offline viewer, loads the tileset, flies
straight to its default view (``viewer.zoomTo``) and records, in ms since navigation start:

* ``ready``: the tileset's root JSON parsed (``Cesium3DTileset.fromUrl`` resolved);
* ``first_paint``: the first frame rendered after a tile with building content became
  visible (``tileVisible`` with ``featuresLength > 0``, then ``postRender``);
* ``tiles_at_first_paint`` and the features in them.

Run on request (it needs the city data, Chromium, CesiumJS and minutes)::

    TWIN_BENCH_MILLION=1 .venv/bin/python -m pytest benchmarks/bench_first_paint.py -s

``TWIN_BENCH_PAINT_N`` sets the number of buildings (default 1,000,000) and
``TWIN_BENCH_PAINT_VERSION`` the 3D Tiles version (default 1.0).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from browser_actions import CHROMIUM, CHROMIUM_ARGS
from validators import twin_data

REPO = Path(__file__).resolve().parents[1]
DATA = twin_data()
CESIUM = REPO / "viz" / "node_modules" / "cesium" / "Build" / "Cesium"
TIMEOUT_MS = 180_000

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<script>window.CESIUM_BASE_URL = "/cesium/";</script>
<script src="/cesium/Cesium.js"></script>
<link rel="stylesheet" href="/cesium/Widgets/widgets.css">
<style>html, body, #view { margin: 0; width: 100%; height: 100%; }</style>
</head><body><div id="view"></div>
<script>
window.report = {ready: null, firstPaint: null, visibleTiles: 0, features: 0, loaded: 0,
                 failed: [], error: null};
Cesium.Ion.defaultAccessToken = "";
try {
  const viewer = new Cesium.Viewer("view", {
    baseLayer: false, terrainProvider: new Cesium.EllipsoidTerrainProvider(),
    geocoder: false, baseLayerPicker: false, timeline: false, animation: false,
    homeButton: false, sceneModePicker: false, navigationHelpButton: false,
    fullscreenButton: false, infoBox: false, selectionIndicator: false});
  let shown = false;
  Cesium.Cesium3DTileset.fromUrl("/tiles/tileset.json").then((tileset) => {
    window.report.ready = performance.now();
    viewer.scene.primitives.add(tileset);
    tileset.tileLoad.addEventListener(() => { window.report.loaded += 1; });
    tileset.tileFailed.addEventListener((e) => window.report.failed.push(e.url + " " + e.message));
    tileset.tileVisible.addEventListener((tile) => {
      const n = tile.content.featuresLength || 0;
      if (n > 0 && window.report.firstPaint === null) { shown = true; }
    });
    viewer.scene.postRender.addEventListener(() => {
      if (shown && window.report.firstPaint === null) {
        window.report.firstPaint = performance.now();
        window.report.visibleTiles = tileset.statistics.selected;
        window.report.features = tileset.statistics.numberOfFeaturesSelected;
      }
    });
    return viewer.zoomTo(tileset);
  }).catch((err) => { window.report.error = String(err); });
} catch (err) { window.report.error = String(err); }
</script></body></html>
"""

_TILE = """
import resource, sys, time
sys.path.insert(0, {bench!r})
from pathlib import Path
from citygen import replicated_city
from tim.tiles import write_tiles
territory = replicated_city(Path({data!r}), {n})
started = time.perf_counter()
write_tiles(territory, {out!r}, parts=("buildings",), version={version!r})
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def first_paint(site: Path) -> dict:
    """Open ``site`` (``tiles/`` beside the page) in headless Chromium: the page's report."""
    from playwright.sync_api import sync_playwright

    (site / "index.html").write_text(PAGE)
    if not (site / "cesium").exists():
        os.symlink(CESIUM, site / "cesium")
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html",
                      timeout=TIMEOUT_MS)
            page.wait_for_function("() => window.report.firstPaint !== null ||"
                                   " window.report.error || window.report.failed.length",
                                   timeout=TIMEOUT_MS)
            report = page.evaluate("() => window.report")
            page.screenshot(path=str(site / "first_paint.png"))
            browser.close()
    finally:
        server.shutdown()
    return report


@pytest.mark.browser
@pytest.mark.skipif(os.environ.get("TWIN_BENCH_MILLION") != "1",
                    reason="tiles a million buildings, then opens them: TWIN_BENCH_MILLION=1")
def test_first_paint_of_a_million_buildings(benchmark, tmp_path):
    if not (DATA / "city").is_dir():
        pytest.skip(f"city data not found in {DATA}")
    if not CHROMIUM.is_file() or not (CESIUM / "Cesium.js").is_file():
        pytest.skip("needs /usr/bin/chromium and viz/node_modules/cesium")
    n = int(os.environ.get("TWIN_BENCH_PAINT_N", 1_000_000))
    version = os.environ.get("TWIN_BENCH_PAINT_VERSION", "1.0")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-c", _TILE.format(
        bench=str(Path(__file__).parent), data=str(DATA), n=n, out=str(site / "tiles"),
        version=version)], capture_output=True, text=True, check=True)
    seconds, rss_self, rss_children = map(float, done.stdout.split())

    report = benchmark.pedantic(first_paint, args=(site,), rounds=1, iterations=1)
    assert report["error"] is None and report["failed"] == [], report
    root = (site / "tiles" / "buildings" / "tileset.json").stat().st_size
    benchmark.group = f"first paint, {n:,} buildings ({version})"
    benchmark.extra_info.update(
        tiling_s=round(seconds, 1), tiling_peak_rss_gb=round(max(rss_self, rss_children)
                                                             / 1024 ** 2, 2),
        ready_ms=round(report["ready"]), first_paint_ms=round(report["firstPaint"]),
        tiles_at_first_paint=report["visibleTiles"], features_at_first_paint=report["features"],
        buildings_tileset_json_kb=round(root / 1024), load_average=os.getloadavg()[0])
    print(json.dumps(benchmark.extra_info))

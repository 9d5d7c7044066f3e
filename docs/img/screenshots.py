"""Screenshots of every dashboard tab in English and Chinese (docs/img/tab-<key>-<lang>.png).

Serves a demo (``twin demo --no-serve --out DEMO``) with ``twin serve`` and drives headless
Chromium (Playwright, the system's ``/usr/bin/chromium``), as the browser tests do::

    python docs/img/screenshots.py DEMO [--out docs/img]

Each picture is the page as a reader first sees it (1440 x 900), once the tab's maps and the
3D view are drawn, stored as a 256-colour PNG (under 300 kB). On a Chinese page it also
checks that the 3D view's status line is in Chinese (its words come from the server).
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

TABS = ("scenario", "compare", "flood", "ensemble", "heights", "calibration", "data")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
CJK = re.compile(r"[\u3400-\u9fff]")


def folders(demo: Path) -> list[Path]:
    """What the demo serves: runs (the baseline first), ensemble, heights, sightlines,
    calibration."""
    runs = demo / "runs"
    order = ["baseline"] + sorted(p.name for p in runs.iterdir() if p.name != "baseline")
    extra = [demo / "ensembles" / "high-growth", demo / "heights",
             *sorted((demo / "sightlines").iterdir())]
    calibration = demo / "calibration" / "plum-island"
    return [runs / n for n in order] + extra + ([calibration] if calibration.is_dir() else [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"twin serve exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("twin serve did not start")


def settle(page, tab: str) -> None:
    """Wait until the tab's graphs are drawn and, with a 3D view, its tiles are loaded."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.offsetParent)"
        ".every(g => g.data && g.data.length)", timeout=60_000)
    if tab not in ("calibration", "data"):
        try:
            page.wait_for_function("() => window.twin3d && window.twin3d.tilesLoaded",
                                   timeout=45_000)
        except Exception:  # noqa: BLE001 - a slow 3D frame still makes a useful picture
            print(f"  {tab}: 3D not settled, taken as is", file=sys.stderr)
    page.wait_for_timeout(1500)


def small_png(raw: bytes, path: Path) -> int:
    """``raw`` as a 256-colour PNG at ``path``; its size in bytes."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = free_port()
    command = [sys.executable, "-m", "viz.cli", "serve", *map(str, folders(args.demo)),
               "--tiles", str(args.demo / "tiles"), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for lang in ("en", "zh_CN"):
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/?lang={lang}")
                page.wait_for_selector("#tab-scenario", timeout=60_000)
                for tab in TABS:
                    if not page.locator(f"#tab-{tab}").count():
                        continue
                    page.click(f"#tab-{tab}")
                    settle(page, tab)
                    page.evaluate("() => window.scrollTo(0, 0)")
                    if lang != "en" and tab not in ("calibration", "data"):
                        status = page.inner_text("#cesium-status")
                        assert CJK.search(status), f"3D status not in Chinese: {status!r}"
                    size = small_png(page.screenshot(),
                                     args.out / f"tab-{tab}-{lang.replace('_', '-')}.png")
                    print(f"tab-{tab}-{lang}: {size / 1024:.0f} kB")
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())

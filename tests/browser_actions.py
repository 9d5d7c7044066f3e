"""What a user does in the dashboard, as the browser tests do it."""
from __future__ import annotations

import json
from pathlib import Path

TIMEOUT_MS = 30_000

#: Debian's Chromium with the flags of RECIPES.md: headless, no background traffic, WebGL in
#: software (SwiftShader) for Cesium; the same browser and flags for every browser test and
#: benchmark.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
                 "--use-angle=swiftshader"]


def choose(page, dropdown: str, option: str, search: str | None = None) -> None:
    """Pick ``option`` in a Dash dropdown; in a long (scrolled) list, type ``search`` first.

    The option list re-renders on every typed letter and its popover moves while it shrinks,
    so on a loaded machine an option may never stay still long enough for a pointer click
    (Playwright's "element is not stable"). The click is therefore dispatched on the option
    itself - the event the pointer would deliver - once the option is there."""
    page.click(dropdown)
    if search:
        page.keyboard.type(search)
    selector = f".dash-dropdown-option:has-text({json.dumps(option, ensure_ascii=False)})"
    page.wait_for_selector(selector, timeout=TIMEOUT_MS)
    page.locator(selector).first.dispatch_event("click")
    page.keyboard.press("Escape")  # the menu stays open after a choice

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


def choose(page, dropdown: str, option: str, search: str | None = None,
           attempts: int = 3) -> None:
    """Pick ``option`` in a Dash dropdown; in a long (scrolled) list, type ``search`` first.

    The option list re-renders on every typed letter and its popover moves while it shrinks,
    so on a loaded machine an option may never stay still long enough for a pointer click
    (Playwright's "element is not stable"). The click is therefore dispatched on the option
    itself - the event the pointer would deliver - once the option is there. The menu may
    also close before that (the page re-laid out under it by a late callback, seen in CI):
    then it is opened again, as a user would, up to ``attempts`` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    selector = f".dash-dropdown-option:has-text({json.dumps(option, ensure_ascii=False)})"
    for attempt in range(attempts):
        page.click(dropdown)
        if search:
            page.keyboard.press("Control+A")  # a search left from an earlier attempt
            page.keyboard.type(search)
        try:
            page.wait_for_selector(selector, timeout=TIMEOUT_MS // attempts)
            page.locator(selector).first.dispatch_event("click", timeout=TIMEOUT_MS // attempts)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            if attempt == attempts - 1:
                raise
            continue
        page.keyboard.press("Escape")  # the menu stays open after a choice
        return

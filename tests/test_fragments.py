"""Read-only parts of the page drawn by the browser (viz.fragments, viz/assets/twinhtml.js):
the JSON made on the server, and what the browser draws from it - the same elements Dash
would draw, and nothing that runs code."""
from __future__ import annotations

from pathlib import Path

import pytest
from dash import dcc, html

from viz.fragments import fragment, fragment_box

TWINHTML = Path(__file__).resolve().parents[1] / "viz" / "assets" / "twinhtml.js"


def test_components_become_plain_json():
    card = html.Div(className="indicator-card", title="Population: persons",
                    style={"--status": "#c00"}, **{"data-value": "1.5"}, children=[
                        html.Span("Population"), 12, None,
                        html.Details([html.Summary("?"), html.P("defined")])])
    assert fragment(card) == {
        "tag": "div",
        "props": {"className": "indicator-card", "title": "Population: persons",
                  "style": {"--status": "#c00"}, "data-value": "1.5"},
        "children": [{"tag": "span", "props": {}, "children": "Population"}, "12", None,
                     {"tag": "details", "props": {}, "children": [
                         {"tag": "summary", "props": {}, "children": "?"},
                         {"tag": "p", "props": {}, "children": "defined"}]}]}


def test_only_plain_html_goes_in_a_fragment():
    with pytest.raises(TypeError, match="dash.html components only"):
        fragment(html.Div(dcc.Graph(id="g")))
    with pytest.raises(TypeError, match="<script>"):
        fragment(html.Div(html.Script("alert(1)")))


def test_a_box_may_start_filled():
    box, store = fragment_box("data-sources", [html.P("hello")], className="x")
    assert box.id == "data-sources" and box.className == "x"
    assert store.id == "data-sources-html"
    assert store.data == [{"tag": "p", "props": {}, "children": "hello"}]


@pytest.mark.browser
def test_the_browser_draws_the_elements_and_nothing_that_runs_code():
    sync_api = pytest.importorskip("playwright.sync_api")
    from browser_actions import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.is_file():
        pytest.skip("needs Chromium (RECIPES.md)")
    content = fragment(html.Div([
        html.Table(html.Tbody(html.Tr([html.Td("a", colSpan=2),
                                       html.Td(html.Span(className="dot"))]))),
        html.A("report", href="/download/0/report.pdf", download="run-report.pdf"),
        html.A("bad", href=" javascript:alert(1)"),
        html.P("<img src=x onerror=alert(1)>", title="t", hidden=False),
        html.Label("for", htmlFor="area"),
    ], className="cards", style={"--status": "#c00", "marginTop": "3px"}))
    content["children"].append({"tag": "script", "props": {}, "children": "window.ran = 1"})
    content["props"]["onclick"] = "window.ran = 1"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content('<div id="box"></div>')
            page.add_script_tag(path=str(TWINHTML))
            drawn = page.evaluate("s => window.dash_clientside.twinhtml.draw(s, 'box', '1')",
                                  content)
            assert drawn == "2"
            assert page.evaluate("() => window.ran") is None
            assert page.inner_html("#box") == (
                '<div class="cards" style="--status: #c00; margin-top: 3px;">'
                '<table><tbody><tr><td colspan="2">a</td><td><span class="dot"></span></td>'
                '</tr></tbody></table>'
                '<a download="run-report.pdf" href="/download/0/report.pdf">report</a>'
                '<a>bad</a><p title="t">&lt;img src=x onerror=alert(1)&gt;</p>'
                '<label for="area">for</label></div>')
            # drawn again: replaced, not added
            page.evaluate("s => window.dash_clientside.twinhtml.draw(s, 'box', '2')",
                          [{"tag": "p", "props": {}, "children": "two"}])
            assert page.inner_html("#box") == "<p>two</p>"
        finally:
            browser.close()

"""Read-only parts of the page drawn by the browser, not by Dash's React renderer.

In Dash 4 every component mounted in the page costs main-thread time when it is drawn and
again on each later callback (its wrapper re-checks the store and re-renders): the ~380
components of the indicator cards took 0.45 s to draw on the 2-core machine, most of a run
switch. Parts that only show text, tables and links (cards, warnings, tables, download links)
are still built on the server with ``dash.html`` components, but travel as plain JSON in a
store and are drawn into their box by ``viz/assets/twinhtml.js`` with the DOM API (strings as
text nodes, never parsed as HTML; no event-handler attributes; links relative or http(s)).

A box is ``fragment_box(id)`` in the layout; a callback fills it through ``output(id)`` with
``fragment(children)``; ``register(app, id)`` draws it. The box's ``data-drawn`` attribute
counts the drawings (tests wait on it).
"""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.development.base_component import Component

#: Props of dash.html components that are React or Dash machinery, not HTML.
_NOT_HTML = {"children", "n_clicks", "n_clicks_timestamp", "disable_n_clicks", "key",
             "loading_state", "setProps"}
#: Tags a fragment may not hold (they would run code or embed other documents).
_REFUSED = {"script", "iframe", "object", "embed", "style", "base", "meta", "link"}


def fragment(node: Any) -> Any:
    """``node`` (dash.html components, strings, numbers, lists of them) as plain JSON:
    ``{"tag", "props", "children"}`` per element.

    Examples
    --------
    >>> fragment(html.P(["Value: ", html.Strong(3)], className="muted"))
    {'tag': 'p', 'props': {'className': 'muted'}, 'children': ['Value: ', {'tag': 'strong', \
'props': {}, 'children': '3'}]}
    """
    if node is None or isinstance(node, bool):
        return None
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, (list, tuple)):
        return [fragment(n) for n in node]
    if not isinstance(node, Component) or node._namespace != "dash_html_components":
        raise TypeError(f"a fragment holds dash.html components only, not "
                        f"{type(node).__module__}.{type(node).__name__}")
    tag = node._type.lower()
    if tag in _REFUSED:
        raise TypeError(f"a fragment may not hold <{tag}>")
    props = {k: v for k, v in node.to_plotly_json()["props"].items()
             if k not in _NOT_HTML and v is not None}
    return {"tag": tag, "props": props, "children": fragment(getattr(node, "children", None))}


def fragment_box(id: str, content: Any = None, **kwargs: Any) -> list[Component]:
    """The box (an empty ``html.Div``) and the store that carries what it shows: ``content``
    (dash.html components) from the start, or what a callback sends to :func:`output`."""
    store = dcc.Store(id=f"{id}-html", **({} if content is None else
                                           {"data": fragment(content)}))
    return [html.Div(id=id, **kwargs), store]


def output(id: str) -> Output:
    """The callback output that fills box ``id`` (give it :func:`fragment` of the content)."""
    return Output(f"{id}-html", "data")


def register(app: Any, *ids: str) -> None:
    """Draw each box ``ids`` whenever its store changes (in the browser, twinhtml.draw)."""
    for id in ids:
        app.clientside_callback(ClientsideFunction("twinhtml", "draw"),
                                Output(id, "data-drawn"), Input(f"{id}-html", "data"),
                                State(id, "id"), State(id, "data-drawn"))

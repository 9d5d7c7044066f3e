"""How layers look in desktop GIS: one table of styles, written as QGIS QML.

The same styles serve three places: a ``<raster>.qml`` beside each categorical GeoTIFF (QGIS
applies a same-named QML on open), the ``layer_styles`` table of a GeoPackage (QGIS applies the
default style stored there), and the layers of a QGIS project (:mod:`tim.qgis`). The dashboard
draws control lines with :data:`LINE_STYLES` too, so a red line is the same red everywhere.

Styles follow planners' conventions: the ecological protection red line (生态保护红线) red,
permanent basic farmland (永久基本农田) yellow with a brown hatch, the urban development boundary
(城镇开发边界) dashed purple, planning units thin grey and labelled, zones teal and dotted.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tim.classes import CONTROL_LINES

#: QGIS version the QML and project files are written for (the oldest we check against).
QGIS_VERSION = "3.22.16-Białowieża"

#: Control-line styles: line colour, fill, dash, width and, for farmland, a hatch.
LINE_STYLES: Mapping[str, Mapping[str, Any]] = {
    "ecological_red_line": {"colour": "#d50000", "fill": "rgba(213, 0, 0, 0.10)",
                            "dash": "solid", "width": 2.5},
    "permanent_basic_farmland": {"colour": "#8d6e63", "fill": "rgba(255, 214, 0, 0.35)",
                                 "dash": "solid", "width": 1.5, "hatch": "/"},
    "urban_development_boundary": {"colour": "#7b1fa2", "fill": None, "dash": "dash",
                                   "width": 2.5},
}
#: Planning units: thin grey outlines; zones: teal dotted outlines.
UNIT_COLOUR = "#455a64"
ZONE_COLOUR = "#00897b"
#: Amenity kinds and their marker colours (others are drawn brown).
AMENITY_COLOURS: Mapping[str, str] = {"school": "#1565c0", "park": "#2e7d32",
                                      "hospital": "#c62828", "clinic": "#c62828",
                                      "garden": "#66bb6a", "bus_stop": "#6a1b9a"}
OTHER_AMENITY_COLOUR = "#6d4c41"
#: Change patches by severity (``twin changes``), most severe first.
SEVERITY_COLOURS: Mapping[str, str] = {"critical": "#b71c1c", "high": "#ef6c00",
                                       "medium": "#fbc02d", "low": "#9e9e9e"}
#: Bilingual names of the control lines (the national terms first).
LINE_NAMES: Mapping[str, str] = {kind: f"{zh} {en}" for kind, (zh, en) in CONTROL_LINES.items()}


@dataclass(frozen=True)
class Category:
    """One value of a categorical raster: its code, name and ``#rrggbb`` colour."""

    code: int
    name: str
    colour: str
    alpha: int = 255

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        return (*hex_rgb(self.colour), self.alpha)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``"#d50000"`` → ``(213, 0, 0)``.

    >>> hex_rgb("#7b1fa2")
    (123, 31, 162)
    """
    text = colour.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def css_rgba(colour: str | None) -> tuple[int, int, int, int]:
    """A CSS colour (``#rrggbb`` or ``rgba(r, g, b, a)``; None is transparent) as 0-255 RGBA.

    >>> css_rgba("rgba(255, 214, 0, 0.35)"), css_rgba(None)
    ((255, 214, 0, 89), (0, 0, 0, 0))
    """
    if colour is None:
        return 0, 0, 0, 0
    if colour.startswith("#"):
        return (*hex_rgb(colour), 255)
    parts = [p.strip() for p in colour[colour.index("(") + 1:colour.index(")")].split(",")]
    alpha = round(float(parts[3]) * 255) if len(parts) == 4 else 255
    return int(parts[0]), int(parts[1]), int(parts[2]), alpha


def land_use_categories(classes: Iterable[Any]) -> list[Category]:
    """The categories of a land-use raster from a territory's class table."""
    return [Category(int(c.code), c.name, c.colour) for c in classes]


#: Built-up land in a scenario against the baseline: lost, unchanged (not drawn), gained.
BUILT_DIFFERENCE = (Category(-1, "建设用地减少 Built-up lost", "#2166ac"),
                    Category(0, "", "#ffffff", alpha=0),
                    Category(1, "建设用地增加 Built-up gained", "#b2182b"))

#: Grades 1 (lowest) to 5 (highest) of the 双评价 evaluation, pale to dark green.
GRADE_COLOURS = ("#f7fcf5", "#c7e9c0", "#74c476", "#31a354", "#006d2c")


def field_categories(field: str, classes: Iterable[Any] | None) -> list[Category] | None:
    """The categories a TIM or run field is drawn with, or None for a continuous field or one
    of identifiers (units, zones) that has no fixed palette.

    >>> [c.name for c in field_categories("control__ecological_red_line", None)]
    ['', '生态保护红线 Ecological protection red line']
    """
    if field == "land_use__class" and classes is not None:
        return land_use_categories(classes)
    kind = field.removeprefix("control__")
    if kind in LINE_STYLES:
        return [Category(0, "", "#ffffff", alpha=0),
                Category(1, LINE_NAMES[kind], LINE_STYLES[kind]["colour"], alpha=160)]
    if field.startswith("evaluation__"):
        return [Category(0, "", "#ffffff", alpha=0)] + [
            Category(g, f"{g}", colour) for g, colour in enumerate(GRADE_COLOURS, start=1)]
    return None


# -- QML building blocks --------------------------------------------------------------------

def _qgis_colour(rgba: tuple[int, int, int, int]) -> str:
    return ",".join(str(v) for v in rgba)


def _options(element: ET.Element, values: Mapping[str, Any]) -> ET.Element:
    """QGIS ≥ 3.18 symbol-layer properties: ``<Option type="Map">`` of QString options."""
    box = ET.SubElement(element, "Option", type="Map")
    for name, value in values.items():
        ET.SubElement(box, "Option", name=name, type="QString", value=str(value))
    return box


def _symbol(kind: str, name: str, layers: Sequence[tuple[str, Mapping[str, Any]]]
            ) -> ET.Element:
    symbol = ET.Element("symbol", type=kind, name=name, alpha="1", clip_to_extent="1",
                        force_rhr="0")
    for cls, props in layers:
        layer = ET.SubElement(symbol, "layer", attrib={"class": cls, "enabled": "1",
                                                       "locked": "0", "pass": "0"})
        _options(layer, props)
    return symbol


def _fill(fill: tuple[int, int, int, int], outline: tuple[int, int, int, int], width: float,
          dash: str = "solid", hatch: bool = False) -> list[tuple[str, Mapping[str, Any]]]:
    layers: list[tuple[str, Mapping[str, Any]]] = [("SimpleFill", {
        "color": _qgis_colour(fill), "style": "solid" if fill[3] else "no",
        "outline_color": _qgis_colour(outline), "outline_width": width * 0.26,
        "outline_width_unit": "MM", "outline_style": "dash" if dash == "dash" else "solid",
        "joinstyle": "bevel"})]
    if hatch:  # a brown diagonal hatch over the yellow fill, as farmland is drawn on plans
        layers.append(("SimpleFill", {"color": _qgis_colour(outline), "style": "b_diagonal",
                                      "outline_style": "no", "outline_color": "0,0,0,0"}))
    return layers


def _marker(colour: tuple[int, int, int, int]) -> list[tuple[str, Mapping[str, Any]]]:
    return [("SimpleMarker", {"name": "circle", "color": _qgis_colour(colour),
                              "outline_color": "255,255,255,255", "size": "2.6",
                              "size_unit": "MM"})]


def _line(colour: tuple[int, int, int, int], width: float, dash: str
          ) -> list[tuple[str, Mapping[str, Any]]]:
    return [("SimpleLine", {"line_color": _qgis_colour(colour), "line_width": width * 0.26,
                            "line_width_unit": "MM",
                            "line_style": "dash" if dash == "dash" else "solid"})]


def _symbol_layers(geometry: str, fill: tuple[int, int, int, int],
                   outline: tuple[int, int, int, int], width: float, dash: str = "solid",
                   hatch: bool = False) -> tuple[str, list[tuple[str, Mapping[str, Any]]]]:
    if geometry == "point":
        return "marker", _marker(outline)
    if geometry == "line":
        return "line", _line(outline, width, dash)
    return "fill", _fill(fill, outline, width, dash, hatch)


def single_renderer(geometry: str, fill: tuple[int, int, int, int],
                    outline: tuple[int, int, int, int], width: float = 1.0,
                    dash: str = "solid") -> ET.Element:
    renderer = ET.Element("renderer-v2", type="singleSymbol", symbollevels="0",
                          forceraster="0", enableorderby="0")
    symbols = ET.SubElement(renderer, "symbols")
    kind, layers = _symbol_layers(geometry, fill, outline, width, dash)
    symbols.append(_symbol(kind, "0", layers))
    return renderer


def categorized_renderer(attribute: str, geometry: str,
                         categories: Sequence[tuple[str, str, Mapping[str, Any]]]) -> ET.Element:
    """A ``categorizedSymbol`` renderer: ``(value, label, style)`` per category, where a style
    holds ``colour``, ``fill``, ``width``, ``dash`` and ``hatch`` as :data:`LINE_STYLES` does."""
    renderer = ET.Element("renderer-v2", type="categorizedSymbol", attr=attribute,
                          symbollevels="0", forceraster="0", enableorderby="0")
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, (value, label, style) in enumerate(categories):
        ET.SubElement(cats, "category", render="true", symbol=str(i), value=str(value),
                      label=label)
        kind, layers = _symbol_layers(geometry, css_rgba(style.get("fill")),
                                      css_rgba(style["colour"]), float(style.get("width", 1)),
                                      style.get("dash", "solid"), bool(style.get("hatch")))
        symbols.append(_symbol(kind, str(i), layers))
    return renderer


def simple_labels(field: str, colour: str = "#424242", size: float = 8.0) -> ET.Element:
    """QGIS simple labelling of ``field`` with a white buffer so it reads over any fill."""
    labeling = ET.Element("labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    style = ET.SubElement(settings, "text-style", fieldName=field, fontSize=str(size),
                          fontSizeUnit="Point", textColor=_qgis_colour((*hex_rgb(colour), 255)),
                          isExpression="0", fontFamily="Noto Sans CJK SC", namedStyle="Regular",
                          textOpacity="1")
    ET.SubElement(style, "text-buffer", bufferDraw="1", bufferSize="0.8",
                  bufferSizeUnits="MM", bufferColor="255,255,255,255", bufferOpacity="0.8")
    ET.SubElement(settings, "placement", placement="1", dist="0", priority="5")
    ET.SubElement(settings, "rendering", scaleVisibility="0", obstacle="1")
    return labeling


def paletted_pipe(categories: Sequence[Category], band: int = 1) -> ET.Element:
    """The ``<pipe>`` of a paletted (unique values) raster renderer with names as labels."""
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", type="paletted", band=str(band),
                             opacity="1", alphaBand="-1", nodataColor="")
    ET.SubElement(renderer, "rasterTransparency")
    palette = ET.SubElement(renderer, "colorPalette")
    for c in categories:
        ET.SubElement(palette, "paletteEntry", value=str(c.code), color=c.colour,
                      alpha="255", label=c.name)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0",
                  colorizeOn="0", invertColors="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


def gradient_pipe(minimum: float, maximum: float, stops: Sequence[str], band: int = 1,
                  transparent_below: float | None = None) -> ET.Element:
    """A single-band pseudocolour ``<pipe>`` stretched from ``minimum`` to ``maximum``;
    values up to ``transparent_below`` are not drawn (dry cells of a flood map)."""
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", type="singlebandpseudocolor",
                             band=str(band), opacity="1", alphaBand="-1",
                             classificationMin=repr(minimum), classificationMax=repr(maximum),
                             nodataColor="")
    transparency = ET.SubElement(renderer, "rasterTransparency")
    if transparent_below is not None:
        ET.SubElement(ET.SubElement(transparency, "singleValuePixelList"), "pixelListEntry",
                      min=repr(min(minimum, transparent_below) - 1e9),
                      max=repr(transparent_below), percentTransparent="100")
    shader = ET.SubElement(renderer, "rastershader")
    ramp = ET.SubElement(shader, "colorrampshader", colorRampType="INTERPOLATED",
                         classificationMode="1", clip="0", minimumValue=repr(minimum),
                         maximumValue=repr(maximum))
    for i, colour in enumerate(stops):
        value = minimum + (maximum - minimum) * i / max(len(stops) - 1, 1)
        ET.SubElement(ramp, "item", value=repr(value), color=colour, alpha="255",
                      label=f"{value:.4g}")
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


# -- layers the product writes ------------------------------------------------------------------

def vector_style(layer: str, geometry: str, columns: Sequence[str]
                 ) -> tuple[ET.Element, ET.Element | None]:
    """The renderer and labelling (or None) of one of the product's vector layers.

    ``geometry`` is ``"polygon"``, ``"line"`` or ``"point"``; layers the table does not know
    get a neutral single symbol.
    """
    grey = css_rgba(UNIT_COLOUR)
    if layer == "control_lines" and "kind" in columns:
        cats = [(kind, LINE_NAMES[kind], style) for kind, style in LINE_STYLES.items()]
        return categorized_renderer("kind", geometry, cats), None
    if layer == "planning_units":
        label = next((c for c in ("name", "unit", "id") if c in columns), None)
        return (single_renderer(geometry, (0, 0, 0, 0), grey, 0.6),
                simple_labels(label) if label else None)
    if layer == "zoning":
        return single_renderer(geometry, (0, 0, 0, 0), css_rgba(ZONE_COLOUR), 1.0, "dash"), None
    if layer == "amenities" and "kind" in columns:
        cats = [(kind, kind, {"colour": colour}) for kind, colour in AMENITY_COLOURS.items()]
        return categorized_renderer("kind", geometry, cats), None
    if layer in ("buildings", "buildings_new"):
        return single_renderer(geometry, (189, 189, 189, 255), (97, 97, 97, 255), 0.3), None
    if layer == "change_patches" and "severity" in columns:
        cats = [(name, name, {"colour": colour, "fill": colour, "width": 0.6})
                for name, colour in SEVERITY_COLOURS.items()]
        return categorized_renderer("severity", geometry, cats), None
    return single_renderer(geometry, (255, 255, 255, 0), (66, 66, 66, 255), 0.8), None


def _document(*children: ET.Element, categories: str) -> str:
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories=categories)
    for child in children:
        root.append(child)
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            + ET.tostring(root, encoding="unicode"))


def vector_qml(layer: str, geometry: str, columns: Sequence[str]) -> str:
    renderer, labels = vector_style(layer, geometry, columns)
    children = [renderer] + ([labels] if labels is not None else [])
    if labels is not None:
        children.append(_element("labelsEnabled", "1"))
    return _document(*children, categories="Symbology|Labeling")


def raster_qml(categories: Sequence[Category]) -> str:
    return _document(paletted_pipe(categories), categories="Symbology")


def _element(tag: str, text: str) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    return element


def geometry_kind(geometry_types: Iterable[str]) -> str:
    """``"polygon"``, ``"line"`` or ``"point"`` from shapely geometry type names."""
    names = " ".join(geometry_types).lower()
    if "polygon" in names:
        return "polygon"
    if "line" in names:
        return "line"
    return "point"


# -- GeoPackage layer_styles -----------------------------------------------------------------

_LAYER_STYLES = """CREATE TABLE IF NOT EXISTS layer_styles (
    id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
    f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
    styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
    update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"""


def store_gpkg_styles(path: Path, layers: Mapping[str, tuple[str, Sequence[str]]]) -> None:
    """Write each layer's QML as its default style in ``path``'s ``layer_styles`` table (the
    table QGIS reads and writes), registered in ``gpkg_contents`` as an attributes table.

    ``layers`` maps a layer name to its geometry kind and columns.
    """
    with sqlite3.connect(path) as db:
        db.execute(_LAYER_STYLES)
        db.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                   "VALUES ('layer_styles', 'attributes', 'layer_styles')")
        for name, (geometry, columns) in layers.items():
            column = db.execute("SELECT column_name FROM gpkg_geometry_columns "
                                "WHERE table_name = ?", (name,)).fetchone()
            db.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (name,))
            db.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, "
                       "f_table_name, f_geometry_column, styleName, styleQML, styleSLD, "
                       "useAsDefault, description, owner, ui) "
                       "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '')",
                       (name, column[0] if column else "geom", name,
                        vector_qml(name, geometry, columns), "Territory Twin"))
    # sqlite3's context manager commits but does not close
    db.close()

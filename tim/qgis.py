"""QGIS projects (``.qgz``) written with the standard library: a TIM, a run or a comparison
opens in QGIS with every layer styled (:mod:`tim.styles`), labelled and in planners' order.

A ``.qgz`` is a zip holding one ``.qgs`` XML document. Paths inside are relative to the project
file (QGIS's "relative paths" setting), so a folder can be moved or copied whole. The layers a
project names must exist; a project never points at files outside the folders it was given.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tim.styles import QGIS_VERSION, gradient_pipe, paletted_pipe, vector_style, Category

#: Colour stops of continuous rasters (terrain, population, flood depth).
RAMPS = {
    "terrain": ("#1a9850", "#a6d96a", "#fee08b", "#d9a05b", "#8c510a", "#ffffff"),
    "population": ("#fff5eb", "#fdbe85", "#fd8d3c", "#d94701", "#8c2d04"),
    "depth": ("#c6dbef", "#6baed6", "#2171b5", "#08306b"),
    "difference": ("#b2182b", "#f7f7f7", "#2166ac"),
}
#: Values not drawn per ramp: dry cells (< 1 cm) of flood depth.
TRANSPARENT_BELOW = {"depth": 0.01}


@dataclass(frozen=True)
class RasterLayer:
    """A GeoTIFF drawn with a palette (``categories``) or a colour ramp over a range."""

    path: Path
    name: str
    categories: Sequence[Category] | None = None
    ramp: str = "terrain"
    value_range: tuple[float, float] = (0.0, 1.0)
    visible: bool = True


@dataclass(frozen=True)
class VectorLayer:
    """A GeoPackage layer drawn with its product style (:func:`tim.styles.vector_style`)."""

    path: Path
    layer: str
    name: str
    geometry: str  # "polygon", "line" or "point"
    columns: Sequence[str] = field(default_factory=tuple)
    visible: bool = True


Layer = RasterLayer | VectorLayer


def _spatialrefsys(crs: str) -> ET.Element:
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    srs = ET.Element("spatialrefsys", nativeFormat="Wkt")
    ET.SubElement(srs, "wkt").text = parsed.to_wkt()
    ET.SubElement(srs, "proj4")  # QGIS reads the WKT; PROJ strings lose datum details
    authority = parsed.to_authority()
    ET.SubElement(srs, "authid").text = ":".join(authority) if authority else ""
    ET.SubElement(srs, "description").text = parsed.name
    ET.SubElement(srs, "geographicflag").text = "true" if parsed.is_geographic else "false"
    return srs


def _source(layer: Layer, home: Path) -> str:
    relative = "./" + Path(os.path.relpath(layer.path, home)).as_posix()
    if isinstance(layer, VectorLayer):
        return f"{relative}|layername={layer.layer}"
    return relative


def _map_layer(layer: Layer, layer_id: str, home: Path, crs: str) -> ET.Element:
    raster = isinstance(layer, RasterLayer)
    element = ET.Element("maplayer", type="raster" if raster else "vector",
                         hasScaleBasedVisibilityFlag="0", autoRefreshEnabled="0")
    if not raster:
        element.set("geometry", {"polygon": "Polygon", "line": "Line",
                                 "point": "Point"}[layer.geometry])
    ET.SubElement(element, "id").text = layer_id
    ET.SubElement(element, "datasource").text = _source(layer, home)
    ET.SubElement(element, "layername").text = layer.name
    ET.SubElement(ET.SubElement(element, "srs"), "spatialrefsys").extend(
        list(_spatialrefsys(crs)))
    if raster:
        ET.SubElement(element, "provider").text = "gdal"
        element.append(paletted_pipe(layer.categories) if layer.categories else
                       gradient_pipe(*layer.value_range, RAMPS[layer.ramp],
                                     transparent_below=TRANSPARENT_BELOW.get(layer.ramp)))
        ET.SubElement(element, "blendMode").text = "0"
        return element
    ET.SubElement(element, "provider", encoding="UTF-8").text = "ogr"
    renderer, labels = vector_style(layer.layer, layer.geometry, layer.columns)
    element.append(renderer)
    if labels is not None:
        element.append(labels)
    ET.SubElement(element, "blendMode").text = "0"
    ET.SubElement(element, "featureBlendMode").text = "0"
    ET.SubElement(element, "layerOpacity").text = "1"
    return element


def project_xml(title: str, crs: str, extent: tuple[float, float, float, float],
                layers: Sequence[Layer], home: Path) -> str:
    """The ``.qgs`` document: ``layers`` listed top (drawn last) to bottom."""
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "homePath", path="")
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "projectCrs").append(_spatialrefsys(crs))
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    projectlayers = ET.SubElement(root, "projectlayers")
    for i, layer in enumerate(layers):
        layer_id = f"territory_twin_layer_{i:02d}"  # QGIS ignores ids of 10 characters or fewer
        provider = "gdal" if isinstance(layer, RasterLayer) else "ogr"
        ET.SubElement(tree, "layer-tree-layer", id=layer_id, name=layer.name,
                      source=_source(layer, home), providerKey=provider, expanded="1",
                      checked="Qt::Checked" if layer.visible else "Qt::Unchecked")
        projectlayers.append(_map_layer(layer, layer_id, home, crs))
    view = ET.SubElement(root, "ProjectViewSettings", UseProjectScales="0")
    xmin, ymin, xmax, ymax = extent
    default = ET.SubElement(view, "DefaultViewExtent", xmin=repr(xmin), ymin=repr(ymin),
                            xmax=repr(xmax), ymax=repr(ymax))
    default.append(_spatialrefsys(crs))
    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    # QGIS reads <projectCrs> only when the project says it uses projections
    srs = ET.SubElement(properties, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
    ET.indent(root)
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            + ET.tostring(root, encoding="unicode"))


def write_project(path: Path, title: str, crs: str, extent: tuple[float, float, float, float],
                  layers: Sequence[Layer]) -> Path:
    """Write the ``.qgz`` project ``path``; layer paths are stored relative to it (as the
    folder will be after an atomic rename, so ``path`` may be inside a staging folder)."""
    missing = [str(layer.path) for layer in layers if not Path(layer.path).exists()]
    if missing:
        raise FileNotFoundError(f"QGIS project {path.name}: layer files missing: {missing}")
    document = project_xml(title, crs, extent, layers, path.parent)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{path.stem}.qgs", document)
    return path


def read_project_xml(path: Path) -> ET.Element:
    """The ``.qgs`` document inside a ``.qgz`` (for checks and tests)."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".qgs"))
        return ET.fromstring(archive.read(name).decode("utf-8").split("\n", 1)[1])


#: Vector layers of a TIM, top of the legend first; the rest follow in name order.
TIM_VECTOR_ORDER = ("amenities", "control_lines", "planning_units", "zoning", "buildings")
#: Cell fields a TIM project shows (visible ones first), after its vector layers.
TIM_RASTERS = (("land_use__class", True), ("population__count", False),
               ("terrain__elevation", False))


def raster_range(path: Path) -> tuple[float, float]:
    """The value range GDAL statistics tags record for band 1 (written by the raster writer)."""
    import rasterio

    with rasterio.open(path) as src:
        tags = src.tags(1)
    low = float(tags.get("STATISTICS_MINIMUM", 0.0))
    high = float(tags.get("STATISTICS_MAXIMUM", 1.0))
    return (low, high) if high > low else (low, low + 1.0)


def tim_layers(directory: Path, manifest: dict) -> list[Layer]:
    """The layers of the TIM in ``directory`` as its manifest lists them."""
    from tim.model import ClassTable
    from tim.styles import field_categories, geometry_kind

    layers: list[Layer] = []
    vectors = manifest.get("layers", {})
    in_files = [n for n in vectors if "file" in vectors[n]]  # not those kept in PostGIS
    for name in [n for n in TIM_VECTOR_ORDER if n in in_files] + sorted(
            n for n in in_files if n not in TIM_VECTOR_ORDER):
        meta = vectors[name]
        layers.append(VectorLayer(directory / meta["file"], meta.get("layer", name), name,
                                  geometry_kind(meta.get("geometry_types", [])),
                                  tuple(meta.get("columns", ())),
                                  visible=name != "zoning"))
    classes = ClassTable.from_list(manifest["classes"])
    fields = manifest.get("fields", {})
    for name, visible in TIM_RASTERS:
        if name in fields and fields[name].get("location", "cell") == "cell":
            path = directory / fields[name]["file"]
            categories = field_categories(name, classes)
            ramp = "population" if name.startswith("population") else "terrain"
            layers.append(RasterLayer(path, name, categories, ramp,
                                      (0.0, 1.0) if categories else raster_range(path),
                                      visible))
    return layers


def write_tim_project(directory: Path, manifest: dict) -> Path:
    """``territory.qgz`` beside a TIM's manifest, holding its layers styled."""
    bounds = manifest["grid"]["bounds"]
    return write_project(directory / "territory.qgz", manifest.get("name", "TIM"),
                         manifest["crs_wkt"] or manifest["crs"], tuple(bounds),
                         tim_layers(directory, manifest))


def tim_overlays(tim_dir: Path | None) -> list[Layer]:
    """A TIM's control lines and planning units (to lay over a run's maps), if it is there."""
    import json

    if tim_dir is None or not (Path(tim_dir) / "manifest.json").is_file():
        return []
    manifest = json.loads((Path(tim_dir) / "manifest.json").read_text())
    return [layer for layer in tim_layers(Path(tim_dir), manifest)
            if isinstance(layer, VectorLayer)
            and layer.layer in ("control_lines", "planning_units")]

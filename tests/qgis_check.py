"""Open QGIS projects and styled files in real QGIS (PyQGIS, Debian's python3-qgis) and print
what QGIS made of them as JSON. Run by tests/test_gis_outputs.py with the system Python:

    python3 tests/qgis_check.py project FILE.qgz     layers of a project
    python3 tests/qgis_check.py vector FILE.gpkg NAME   a GeoPackage layer opened alone
    python3 tests/qgis_check.py raster FILE.tif      a raster opened alone
    python3 tests/qgis_check.py render FILE.qgz OUT.png   the project's visible layers drawn
"""

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import (QgsApplication, QgsMapRendererSequentialJob,  # noqa: E402
                       QgsMapSettings, QgsProject, QgsRasterLayer, QgsVectorLayer)
from qgis.PyQt.QtCore import QSize  # noqa: E402


def describe(layer):
    entry = {"name": layer.name(), "valid": layer.isValid(), "source": layer.source()}
    if not layer.isValid():
        return entry
    renderer = layer.renderer()
    entry["renderer"] = renderer.type() if renderer else None
    if isinstance(layer, QgsVectorLayer):
        entry["labels"] = layer.labelsEnabled()
    if renderer is not None and renderer.type() == "categorizedSymbol":
        entry["categories"] = [c.label() for c in renderer.categories()]
    if renderer is not None and renderer.type() == "paletted":
        entry["classes"] = [c.label for c in renderer.classes()]
    return entry


def main(argv):
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    kind, path = argv[1], argv[2]
    if kind in ("project", "render"):
        project = QgsProject.instance()
        out = {"read": project.read(path), "crs": project.crs().authid(), "layers": []}
        for node in project.layerTreeRoot().findLayers():
            layer = node.layer()
            entry = describe(layer) if layer is not None else {"name": node.name(),
                                                                "valid": False}
            entry["visible"] = node.isVisible()
            out["layers"].append(entry)
        if kind == "render":
            settings = QgsMapSettings()
            settings.setLayers([n.layer() for n in project.layerTreeRoot().findLayers()
                                if n.isVisible() and n.layer() is not None])
            settings.setDestinationCrs(project.crs())
            settings.setExtent(project.viewSettings().defaultViewExtent())
            settings.setOutputSize(QSize(600, 600))
            job = QgsMapRendererSequentialJob(settings)
            job.start()
            job.waitForFinished()
            out["saved"] = job.renderedImage().save(argv[3], "png")
    elif kind == "vector":
        out = describe(QgsVectorLayer(f"{path}|layername={argv[3]}", argv[3], "ogr"))
    else:
        out = describe(QgsRasterLayer(path, os.path.basename(path), "gdal"))
    print(json.dumps(out, ensure_ascii=False))
    app.exitQgis()


if __name__ == "__main__":
    main(sys.argv)

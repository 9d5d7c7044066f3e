"""The examples in the docstrings of the TIM and tiles modules run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("tim.model", "tim.config", "tim.atomic", "tim.classes", "tim.rasterize", "tim.ingest.crs", "tim.ingest.report",
           "tim.ingest.layers", "tim.ingest.vector", "tim.ingest.osm", "tim.tiles.georef",
           "tim.tiles.quadtree", "tim.tiles.buildings", "tim.tiles.lod2", "tim.tiles.terrain",
           "tim.tiles.tileset", "tim.tiles.overlay", "tim.tiles.security", "viz.overlays",
           "tim.tiles.glb", "tim.tiles.implicit", "tim.tiles.citytiles", "tim.styles",
           "scenarios.planning.facility_access")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
    assert result.attempted > 0, "no examples found"

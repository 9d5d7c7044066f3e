"""Data classification: security levels per source in the catalog, in the TIM manifest, and
``twin export --level`` (restricted layers dropped, listed layers generalised)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

LEVELS_BY_ROLE = {"elevation": ("public", None), "buildings": ("public", 5.0),
                  "control_lines": ("restricted", None), "amenities": ("public", None)}


@pytest.fixture(scope="module")
def classified_tim(sample_catalog, tmp_path_factory) -> Path:
    from viz.cli import main

    raw = yaml.safe_load(Path(sample_catalog).read_text())
    for source in raw["sources"]:
        level, tolerance = LEVELS_BY_ROLE.get(source["role"], (None, None))
        if level:
            source["security"] = level
        if tolerance:
            source["generalise_m"] = tolerance
        source["path"] = str(Path(sample_catalog).parent / source["path"])
    catalog = tmp_path_factory.mktemp("classified") / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(raw, allow_unicode=True))
    out = catalog.parent / "tim"
    assert main(["tim", "build", "--catalog", str(catalog), "--out", str(out)]) == 0
    return out


def test_the_manifest_carries_each_items_level(classified_tim):
    security = json.loads((classified_tim / "manifest.json").read_text())["security"]
    assert security["terrain__elevation"]["level"] == "public"
    assert security["buildings"] == {"level": "public", "generalise_m": 5.0}
    assert security["control_lines"]["level"] == "restricted"
    assert security["land_use__class"]["level"] == "internal"  # unclassified: the default
    manifest = json.loads((classified_tim / "manifest.json").read_text())
    named = {*manifest["fields"], *manifest["layers"]}
    assert named <= set(security)


def test_a_public_export_drops_what_is_above_public_and_generalises(classified_tim, tmp_path,
                                                                    capsys):
    import shapely

    from tim.store import load_territory
    from viz.cli import main

    out = tmp_path / "public"
    assert main(["export", str(classified_tim), "--level", "public", "--out", str(out)]) == 0
    assert "control_lines" in capsys.readouterr().out
    source = load_territory(classified_tim)
    public = load_territory(out)
    security = json.loads((out / "manifest.json").read_text())["security"]
    assert {v["level"] for v in security.values()} == {"public"}
    assert "control_lines" not in public.layers and "land_use__class" not in public.fields
    assert "terrain__elevation" in public.fields
    np.testing.assert_array_equal(public.fields["terrain__elevation"],
                                  source.fields["terrain__elevation"])
    coords = shapely.get_coordinates(public.layers["buildings"].geometry.values)
    assert np.abs(coords / 5.0 - np.round(coords / 5.0)).max() < 1e-6  # on a 5 m lattice
    original = shapely.get_coordinates(source.layers["buildings"].geometry.values)
    assert np.abs(original / 5.0 - np.round(original / 5.0)).max() > 0.1  # it was not before
    assert len(public.layers["buildings"]) > 0.9 * len(source.layers["buildings"])
    # a restricted export keeps everything, unchanged
    full = tmp_path / "restricted"
    assert main(["export", str(classified_tim), "--level", "restricted", "--out",
                 str(full)]) == 0
    assert set(load_territory(full).layers) == set(source.layers)


def test_an_unknown_level_is_refused(classified_tim, tmp_path, capsys):
    from viz.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export", str(classified_tim), "--level", "secret", "--out", str(tmp_path / "x")])
    assert info.value.code == 2 and "--level" in capsys.readouterr().err


def test_a_bad_level_in_the_catalog_names_the_key(sample_catalog, tmp_path):
    from tim.ingest.catalog import load_catalog
    from tim.errors import InputError

    raw = yaml.safe_load(Path(sample_catalog).read_text())
    raw["sources"][0]["security"] = "top-secret"
    file = tmp_path / "catalog.yaml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True))
    with pytest.raises(InputError) as info:
        load_catalog(file)
    assert info.value.field == "sources.0.security"


def test_a_public_export_with_tiles_tiles_only_what_it_kept(classified_tim, tmp_path):
    """The copy's tiles are made from the copy: the buildings (public, generalised) and the
    terrain (public) at level public; the original's buildings tileset carries the internal
    zoning and planning units in its batch tables, so it is internal."""
    from tim.store import load_territory
    from tim.tiles.security import part_security
    from viz.cli import main

    out = tmp_path / "public"
    assert main(["export", str(classified_tim), "--level", "public", "--out", str(out),
                 "--tiles"]) == 0
    root = json.loads((out / "tiles" / "tileset.json").read_text())
    assert root["asset"]["extras"]["security"] == {
        "level": "public", "parts": {"buildings": "public", "terrain": "public"}}
    buildings = json.loads((out / "tiles" / "buildings" / "tileset.json").read_text())
    assert buildings["asset"]["extras"]["security"]["sources"] == ["buildings",
                                                                  "terrain__elevation"]
    assert not (out / "tiles" / "overlays").exists()  # the zoning overlay: zoning was dropped
    original = load_territory(classified_tim)
    assert part_security(original, "buildings")["level"] == "internal"
    assert part_security(original, "terrain", drape=True) == {  # it paints the red line
        "level": "restricted", "sources": ["terrain__elevation", "land_use__class",
                                           "control__ecological_red_line"]}

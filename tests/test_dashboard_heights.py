"""A run's new buildings checked against its height rules (``RUN_DIR/heights``), and the Heights
& views tab's data for any run: the choices, the full violator table, its download and the 3D
count, all read from the same files.

The sample territory's far-up run (the developers build taller) is written once; the check is
verified independently from the zoning layer and the new buildings' GeoPackage.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from scenarios.rundir import RunDirectory, write_run
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario


@pytest.fixture(scope="module")
def run_dir(sample_territory, tmp_path_factory):
    scenario = load_scenario("far-up")
    result = run_scenario(sample_territory, scenario, seed=3)
    return write_run(result, tmp_path_factory.mktemp("run") / "far-up")


def test_a_run_writes_the_height_check_of_its_new_buildings(run_dir, sample_territory):
    run = RunDirectory.open(run_dir)
    assert run.manifest["outputs"]["heights"] == "heights"
    manifest = json.loads((run_dir / "heights" / "manifest.json").read_text())
    assert manifest["kind"] == "height check"
    new = gpd.read_file(run_dir / "buildings_new.gpkg")
    checked = pd.read_csv(run_dir / "heights" / "buildings.csv")
    # Only the new buildings, every one of them.
    assert sorted(checked["building_id"]) == sorted(new["building_id"])
    assert set(checked["source"]) == {"proposed"}
    # Independently: the lowest zoning max_height among the zones a footprint overlaps (as the
    # scenario overrides them: far-up lifts the CBD to 150 m), the default height outside.
    scenario = load_scenario("far-up")
    zoning = sample_territory.layers["zoning"]
    overrides = {z: o.max_height for z, o in scenario.development.zones.items()}
    assert overrides == {"CBD": 150}
    heights = np.array([overrides.get(z, h) for z, h in zip(zoning["zone"], zoning["max_height"])],
                       dtype=float)
    limits = []
    for geom in new.geometry.values:
        shared = shapely.area(shapely.intersection(zoning.geometry.values, geom))
        hit = heights[shared > 1e-4]
        hit = hit[np.isfinite(hit)]
        inside = shapely.area(shapely.difference(
            geom, shapely.union_all(zoning.geometry.values))) > 1e-4
        candidates = list(hit) + ([scenario.development.default_max_height] if inside else [])
        limits.append(min(candidates) if candidates else np.nan)
    expected = pd.Series(limits, index=new["building_id"].to_numpy())
    got = checked.set_index("building_id")["max_height_m"]
    np.testing.assert_allclose(got.reindex(expected.index), expected, atol=1e-3)
    over = (new.set_index("building_id")["height"] - expected) > 1e-3
    violations = pd.read_csv(run_dir / "heights" / "violations.csv")
    assert sorted(violations["building_id"]) == sorted(over[over].index)
    assert manifest["counts"]["violations"] == len(violations)

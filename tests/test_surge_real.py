"""Surges on real geometry: Den Haag Scheveningen (CityJSON TIN + LoD2 buildings) and Delft
(AHN3 DTM + BGT buildings), built with ``examples/places.py`` and run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.kernels.bathtub import flood_levels
from scenarios.flood import peak_level
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario
from tim.build import build_from_catalog
from tim.ingest.catalog import load_catalog

from scenarios import places


@pytest.fixture(scope="module")
def denhaag(twin_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("denhaag")
    catalog = places.denhaag_sources(out)
    return out, build_from_catalog(load_catalog(catalog))


def test_den_haag_surge_floods_only_what_the_sea_reaches(denhaag):
    out, territory = denhaag
    assert len(territory.layers["buildings"]) == 844  # every LoD2 building has a footprint
    z = territory.get("terrain__elevation")
    assert 2.4 < np.nanmin(z) and np.nanmax(z) < 16.0  # the TIN's 2.46 .. 15.95 m NAP
    scenario = load_scenario(out / "surge.yaml")
    result = run_scenario(territory, scenario, seed=0)
    outcome = result.surge.outcome
    assert outcome.engine.startswith("local inertial") and outcome.peak_level == 5.0
    assert outcome.stats["mass_balance"]["relative_error"] < 1e-9
    sea = territory.classes.group_mask(territory.get("land_use__class"), "sea")
    wet = (np.nan_to_num(outcome.max_depth) >= 0.01) & ~sea
    assert wet.sum() > 100
    # Nothing floods that a 5 m still-water level could not reach over this terrain.
    blocked = territory.get("building__height") > 0
    reach = flood_levels(z, sea, blocked=blocked & ~sea) < peak_level(scenario.surge) + 0.01
    assert not (wet & ~reach & ~blocked).any()
    assert result.buildings["damage_eur"].sum() >= 0 and len(result.buildings) == 844


def test_den_haag_runs_from_the_cli(denhaag):
    out, _ = denhaag
    twin = [sys.executable, "-m", "viz.cli"]
    for args in (["tim", "build", "--catalog", "catalog.yaml", "--out", "tim"],
                 ["run", "surge.yaml", "--tim", "tim", "--out", "run"]):
        done = subprocess.run([*twin, *args], cwd=out, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr
    assert (out / "run/surge/depth_series.tif").is_file()
    assert (out / "run/buildings.csv").read_text().count("\n") == 845


@pytest.mark.slow
def test_delft_canals_rising_flood_the_low_centre(twin_data, tmp_path):
    """The canals at 1.2 m NAP: the centre lies between -0.6 and 2.3 m NAP, so most streets
    flood, while no cell higher than the peak takes water. Run on 2 m block means of the DTM
    (the example runs at 1 m; 2 m keeps the test short)."""
    catalog = places.delft_sources(tmp_path, block=2)
    territory = build_from_catalog(load_catalog(catalog))
    text = (tmp_path / "surge.yaml").read_text()
    scenario = load_scenario(tmp_path / "surge.yaml")
    assert "1.2" in text
    result = run_scenario(territory, scenario, seed=0)
    outcome = result.surge.outcome
    assert outcome.stats["mass_balance"]["relative_error"] < 1e-9
    z = territory.get("terrain__elevation")
    sea = territory.classes.group_mask(territory.get("land_use__class"), "sea")
    open_land = ~sea & (territory.get("building__height") <= 0)
    wet = (np.nan_to_num(outcome.max_depth) >= 0.01) & open_land
    assert not (wet & (z > 1.2)).any()
    low = open_land & (z < 0.8)  # 40 cm under the peak: reached within the hour
    assert wet[low].mean() > 0.9
    assert result.buildings["flooded"].mean() > 0.5

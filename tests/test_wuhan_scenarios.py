"""The scenario families on real data: Wuhan 2010 (PLUS test data), from the command line
(the calibration and validation on the same data are in test_wuhan.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

SCENARIOS = ("wuhan-baseline", "wuhan-high-growth", "wuhan-far-up", "wuhan-strict-farmland")


def twin(*args, cwd: Path, env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "viz.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_wuhan_scenarios_run_and_compare(twin_data, tmp_path):
    import os

    if not (twin_data / "landuse/wuhan/wh2010_refy.tif").is_file():
        pytest.skip(f"Wuhan data not found in {twin_data / 'landuse/wuhan'}")
    env = {**os.environ, "TWIN_DATA": str(twin_data)}
    twin("tim", "build", "--catalog", "wuhan-2010", "--out", "tim", cwd=tmp_path, env=env)
    manifest = json.loads((tmp_path / "tim/manifest.json").read_text())
    assert manifest["grid"]["shape"] == [2931, 2931]
    # Three simulated years each keep the test affordable; the scenarios run 10 by default.
    for name in SCENARIOS:
        short = tmp_path / f"{name}.yaml"
        short.write_text(f"extends: {name}\nname: {name}\ntitle: {name}\nyears: 3\n")
        twin("run", short, "--tim", "tim", "--out", f"runs/{name}", "--seed", "1",
             cwd=tmp_path, env=env)
    out = twin("compare", *[f"runs/{n}" for n in SCENARIOS], "--out", "report", cwd=tmp_path,
               env=env)
    assert "report.html" in out
    table = pd.read_csv(tmp_path / "report/indicators.csv").set_index(["scenario", "indicator"])

    def value(scenario: str, key: str) -> float:
        return float(table.loc[(scenario, key), "value"])

    # The same households (seed, path) in the three high-growth variants...
    people = value("wuhan-high-growth", "population")
    assert value("wuhan-far-up", "population") == pytest.approx(people, rel=1e-6)
    assert people > value("wuhan-baseline", "population")
    # ... on less new land when building denser, and with no farmland lost under protection.
    assert value("wuhan-far-up", "built_up_area") < value("wuhan-high-growth", "built_up_area")
    assert value("wuhan-strict-farmland", "farmland_lost") == 0
    assert value("wuhan-high-growth", "farmland_lost") > 0
    # No schools or parks in these data: the access indicators say "no value", not "red".
    assert table.loc[("wuhan-baseline", "school_access"), "status"] == "info"

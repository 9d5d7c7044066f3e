"""``twin sunlight TIM --run RUN_DIR`` as a user runs it (a subprocess) on the demo's far-up run:
the run's new buildings are the proposals, the buildings its redevelopments replace neither
stand nor shade after them, and the result is the one the demo wrote for the planners' tab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _twin(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "viz.cli", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_sunlight_of_a_runs_new_buildings(demo_output, tmp_path):
    run = demo_output / "runs" / "far-up"
    done = _twin("sunlight", demo_output / "tim", "--run", run, "--out", tmp_path / "sun")
    assert done.returncode == 0, done.stderr
    new = gpd.read_file(run / "buildings_new.gpkg", layer="buildings_new")
    manifest = json.loads((tmp_path / "sun" / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["proposals"] == len(new) and f"{counts['broken']} broken" in done.stdout
    replaced = {i for v in new["replaces"].dropna() for i in str(v).split() if i}
    assert replaced and counts["replaced"] == len(replaced)  # the far-up run redevelops
    points = pd.read_csv(tmp_path / "sun" / "points.csv", dtype={"building_id": str,
                                                                 "broken_by": str})
    assert not set(points["building_id"]) & replaced  # demolished: no façade of its own
    assert set(points.loc[points["source"] == "proposed", "building_id"]) <= set(
        new["building_id"])
    # every building broken is broken by proposals of the run, named in proposals.csv
    buildings = pd.read_csv(tmp_path / "sun" / "buildings.csv", dtype=str)
    blamed = {b for s in buildings.loc[buildings["broken"] == "True", "broken_by"]
              for b in s.split(";")}
    assert blamed and blamed <= set(new["building_id"])
    proposals = pd.read_csv(tmp_path / "sun" / "proposals.csv", dtype={"breaks": str})
    assert proposals["breaks_buildings"].sum() >= counts["broken"]
    # the demo's check of the same run (scenarios.planning.runs.check_run) agrees
    demo = pd.read_csv(run.with_name("far-up-sunlight") / "points.csv",
                       dtype={"building_id": str, "broken_by": str})
    pd.testing.assert_frame_equal(points, demo)
    both = _twin("sunlight", demo_output / "tim", "--run", run, "--proposals",
                 run / "buildings_new.gpkg", "--out", tmp_path / "x")
    assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr

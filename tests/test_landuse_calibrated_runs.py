"""One land-use model from calibration to scenarios: ``twin run`` on a calibrated model is the
model ``twin simulate`` runs (same maps for the same inputs and seed), the scenario maps onto
the model by one function, and a calibration that does not fit the TIM is refused up front.

The calibration here is on the sample territory with a made-up earlier map (the 2025 map with
some built-up cells at the edge of the towns turned back into farmland): the sample has no
observed history, and these tests check the plumbing, not the accuracy (test_landuse_workflow
and test_wuhan check that on real maps).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.landuse import CAParams
from engine.landuse_config import LandUseConfig, TransitionAdjustment
from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
from scenarios.calibration.data import DriverSpec
from scenarios.calibration.forecast import run_forecast
from scenarios.calibration.report import write_calibration
from scenarios.runner import run_scenario
from scenarios.schema import (MODEL_KEYS, PLANNER_KEYS, LandUse, land_use_config,
                              load_scenario)
from tim.errors import InputError, TwinError
from tim.store import save_territory, write_raster

START, END = 2025, 2028
SEED = 5


@pytest.fixture(scope="module")
def calibrated(sample_territory, tmp_path_factory):
    """(folder, files) of a calibration on the sample's grid and classes."""
    t = sample_territory
    out = tmp_path_factory.mktemp("calibrated")
    lu = t.get("land_use__class")
    built = t.classes.built.code
    farm = t.classes.in_group("farmland")[0].code
    rng = np.random.default_rng(3)
    edge = (lu == built) & (np.roll(lu, 1, 0) != built)
    earlier = np.where(edge & (rng.random(lu.shape) < 0.5), farm, lu).astype(np.uint8)
    files = {"2020": out / "lu2020.tif", "2025": out / "lu2025.tif",
             "elevation": out / "elevation.tif"}
    write_raster(files["2020"], earlier, t.grid, 255)
    write_raster(files["2025"], lu, t.grid, 255)
    write_raster(files["elevation"], t.get("terrain__elevation").astype(np.float32), t.grid,
                 None)
    codes = [c.code for c in t.classes.classes]
    rows = ["from," + ",".join(map(str, codes))]
    for c in t.classes.classes:  # only developable classes may become built-up (the TIM's rule)
        rows.append(f"{c.code}," + ",".join(
            "x" if (to == built and not c.developable) else "0" for to in codes))
    (out / "conversion.csv").write_text("\n".join(rows) + "\n")
    setup = CalibrationSetup(
        maps={2020: files["2020"], 2025: files["2025"]},
        drivers=[DriverSpec("terrain__elevation", str(files["elevation"])),
                 DriverSpec(f"distance_to_{built}", distance_to=built)],
        conversion=out / "conversion.csv", classes=codes, samples=3000, maxiter=0, popsize=1)
    with pytest.warns(UserWarning, match="gained no cells"):  # only farmland -> built-up
        report = run_calibration(setup)
    folder = write_calibration(report, out / "calibration")
    have = {c: int((lu == c).sum()) for c in codes}
    have[built] += 120
    have[farm] -= 120
    (out / "demand.csv").write_text("year," + ",".join(map(str, codes)) + f"\n{END},"
                                    + ",".join(str(have[c]) for c in codes) + "\n")
    return folder, files, out


def _scenario(out: Path, calibration: Path | None = None, **land_use) -> Path:
    lu = {"protect": [], "outside_boundary_weight": 1.0,
          "demand": {"source": "table", "table": "demand.csv"}, **land_use}
    if calibration is not None:
        lu["calibration"] = str(calibration)
    path = out / f"calibrated-{len(list(out.glob('calibrated-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump({"extends": "baseline", "name": "calibrated",
                                    "title": "On the calibrated model", "start_year": START,
                                    "years": END - START, "land_use": lu}))
    return path


def test_twin_run_and_twin_simulate_give_the_same_map(sample_territory, calibrated):
    """The one code path: the calibrated model, the same start map, demand table and seed give
    the same land-use map through a scenario run (agents and all) and through twin simulate."""
    folder, files, out = calibrated
    run = run_scenario(sample_territory, load_scenario(_scenario(out, folder)), seed=SEED)
    forecast = run_forecast(files["2025"], START, folder / "parameters.yaml",
                            out / "demand.csv", seed=SEED,
                            drivers=[DriverSpec("terrain__elevation", str(files["elevation"]))])
    assert forecast.years == list(range(START + 1, END + 1)) == run.years[1:]
    np.testing.assert_array_equal(run.land_use[END], forecast.simulated)
    start = sample_territory.get("land_use__class")
    gained = (run.land_use[END] == sample_territory.classes.built.code) & \
        (start != sample_territory.classes.built.code)
    assert gained.sum() == 120  # the table's demand, met
    record = run.calibration
    assert record["path"] == str(folder.resolve())
    params = (folder / "parameters.yaml").read_bytes()
    import hashlib

    assert record["parameters_sha256"] == hashlib.sha256(params).hexdigest()
    assert record["model_sha256"] == hashlib.sha256(
        (folder / "suitability.skops").read_bytes()).hexdigest()


def test_another_seed_or_policy_changes_the_calibrated_run(sample_territory, calibrated):
    folder, _, out = calibrated
    base = run_scenario(sample_territory, load_scenario(_scenario(out, folder)), seed=SEED)
    other = run_scenario(sample_territory, load_scenario(_scenario(out, folder)),
                         seed=SEED + 1)
    assert not np.array_equal(base.land_use[END], other.land_use[END])
    # The planner forbids farmland -> built-up: the 120 cells come from other classes.
    strict = run_scenario(sample_territory, load_scenario(_scenario(
        out, folder, conversion={"farmland": {"built": 0.0}})), seed=SEED)
    t = sample_territory
    farm = t.classes.group_mask(t.get("land_use__class"), "farmland")
    assert ((strict.land_use[END] == t.classes.built.code) & farm).sum() == 0
    assert ((base.land_use[END] == t.classes.built.code) & farm).sum() > 0


def test_scenario_maps_onto_the_model_by_one_function():
    """Every land_use key is either mapped by land_use_config or one of the runner's keys;
    the schema's defaults are the engine's."""
    runner_keys = {"calibration", "drivers", "suitability", "demand"}
    mapped = set(LandUse.model_fields) - runner_keys
    assert set(MODEL_KEYS) | set(PLANNER_KEYS) | {"calibration", "drivers"} \
        == set(LandUse.model_fields)
    assert land_use_config(LandUse()) == LandUseConfig()
    changed = {"neighbourhood_size": 7, "alpha": 0.9, "spontaneous": 0.1, "inertia": 3.0,
               "roulette_rounds": 2, "patch_size": 4.0, "patch_compactness": 2.0,
               "protect": ["ecological_red_line"], "protect_groups": ["water"],
               "outside_boundary_weight": 0.5, "conversion": {"farmland": {"built": 0.5}},
               "protect_buffers": {"ecological_red_line": 200.0}}
    assert set(changed) == mapped  # every mapped key is exercised below
    config = land_use_config(LandUse(**changed))
    assert config.ca == CAParams(neighbourhood_size=7, alpha=0.9, spontaneous=0.1,
                                 inertia=(3.0,), roulette_rounds=2, patch_compactness=2.0)
    assert config.patch_size == 4.0
    assert config.policy.hard_constraints == ("control__ecological_red_line",)
    assert config.policy.protected_groups == ("water",)
    assert config.policy.outside_boundary_weight == 0.5
    assert config.policy.buffers == (("control__ecological_red_line", 200.0),)
    assert [(r.source, r.target, r.factor) for r in config.policy.conversion] == \
        [("farmland", "built", 0.5)]
    # Of the demand, the Markov adjustments are the planner's policy: mapped here too.
    markov = {"source": "markov", "markov": {"maps": {2003: "a.tif", 2005: "b.tif"}, "adjust": [
        {"from": "farmland", "to": "built", "factor": 0.5}, {"from": "any", "to": "4",
                                                             "factor": 1.3}]}}
    adjusted = land_use_config(LandUse(demand=markov)).policy
    assert adjusted.markov_adjust == (TransitionAdjustment("farmland", "built", 0.5),
                                      TransitionAdjustment("any", "4", 1.3))
    assert config.policy.markov_adjust == ()
    # On a calibrated model the CA keys are the calibration's, not the scenario's.
    fitted = CAParams(neighbourhood_size=9, alpha=1.2)
    assert land_use_config(LandUse(protect=[]), ca=fitted).ca == fitted
    with pytest.raises(ValueError, match="alpha come from the calibration"):
        LandUse(calibration="x", alpha=0.9)


def _tampered(folder: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    path = copy / "parameters.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw, copy)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return copy


@pytest.mark.parametrize("edit, field", [
    (lambda raw, _: raw.update(classes=raw["classes"][:-1] + [99]), "classes"),
    (lambda raw, _: raw["grid"].update(cell_size=[30.0, 30.0]), "grid.cell_size"),
    (lambda raw, _: raw["grid"].update(crs="EPSG:4326"), "grid.crs"),
    (lambda raw, _: raw["suitability"]["drivers"][0].update(name="soil", path="/nowhere.tif"),
     "land_use.drivers.soil"),
])
def test_a_calibration_that_does_not_fit_the_tim_is_refused(sample_territory, calibrated,
                                                            tmp_path, edit, field):
    folder, _, out = calibrated
    copy = _tampered(folder, tmp_path, edit)
    with pytest.raises(InputError) as caught:
        run_scenario(sample_territory, load_scenario(_scenario(out, copy)), seed=SEED)
    assert caught.value.field == field
    assert "parameters.yaml" in str(caught.value)


def test_drivers_on_another_grid_or_a_changed_model_file_are_refused(sample_territory,
                                                                     calibrated, tmp_path):
    folder, files, out = calibrated
    t = sample_territory
    small = tmp_path / "small.tif"
    from tim.model import Grid

    g = t.grid
    write_raster(small, np.zeros((5, 5), np.float32),
                 Grid(g.crs, g.transform, (5, 5)), None)
    scenario = load_scenario(_scenario(out, folder, drivers={"terrain__elevation": str(small)}))
    with pytest.raises(InputError, match="another grid") as caught:
        run_scenario(t, scenario, seed=SEED)
    assert "small.tif" in str(caught.value)
    copy = _tampered(folder, tmp_path, lambda raw, _: None)
    with open(copy / "suitability.skops", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(TwinError, match="sha256 differs from parameters.yaml"):
        run_scenario(t, load_scenario(_scenario(out, copy)), seed=SEED)


def test_twin_run_calibration_from_the_command_line(sample_territory, calibrated, tmp_path):
    """``--calibration DIR`` on a scenario that names none; the manifest records it; a bad
    calibration exits 2 with one line and writes no run folder."""
    folder, _, out = calibrated
    tim = tmp_path / "tim"
    save_territory(sample_territory, tim)
    scenario = _scenario(out)
    env_args = dict(capture_output=True, text=True, timeout=900, cwd=Path(__file__).parent.parent)
    done = subprocess.run([sys.executable, "-m", "viz.cli", "run", str(scenario), "--tim",
                           str(tim), "--out", str(tmp_path / "run"), "--seed", str(SEED),
                           "--calibration", str(folder)], **env_args)
    assert done.returncode == 0, done.stderr
    assert "calibrated model" in done.stdout
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert manifest["calibration"]["path"] == str(folder.resolve())
    assert manifest["scenario"]["land_use"]["calibration"] == str(folder.resolve())
    # Ensemble members get the calibration through the scenario (a resolved path).
    done = subprocess.run([sys.executable, "-m", "viz.cli", "ensemble", str(scenario), "--tim",
                           str(tim), "--out", str(tmp_path / "ens"), "--serial", "--members",
                           "2", "--seed", str(SEED), "--calibration", str(folder)], **env_args)
    assert done.returncode == 0, done.stderr
    member = json.loads((tmp_path / f"ens/members/seed-{SEED}/manifest.json").read_text())
    assert member["calibration"] == manifest["calibration"]
    from scenarios.rundir import RunDirectory

    same = RunDirectory.open(tmp_path / f"ens/members/seed-{SEED}")
    np.testing.assert_array_equal(same.land_use(END), RunDirectory.open(
        tmp_path / "run").land_use(END))
    done = subprocess.run([sys.executable, "-m", "viz.cli", "run", str(scenario), "--tim",
                           str(tim), "--out", str(tmp_path / "bad"), "--calibration",
                           str(tmp_path / "nowhere")], **env_args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "land_use.calibration" in done.stderr
    assert not (tmp_path / "bad").exists()


def test_the_four_planning_presets_on_the_sample(sample_territory):
    """Natural development, ecological protection, farmland protection and urban development
    priority (the scenario family of territorial planning studies) do what their rationale
    says, on the same households and seed."""
    t = sample_territory
    start = t.get("land_use__class")
    built = t.classes.built.code
    runs = {}
    for name in ("natural-development", "urban-development-priority"):
        runs[name] = run_scenario(t, load_scenario(name).model_copy(update={"years": 3}),
                                  seed=2)
    # The sample's 1 % trend needs no new land for years (vacant dwellings): compare the
    # protections under a faster growth, the same for the three of them.
    for name in ("natural-development", "ecological-protection", "farmland-protection"):
        scenario = load_scenario(name)
        fast = scenario.population.model_copy(update={"annual_growth": 0.04})
        runs[f"{name}-fast"] = run_scenario(t, scenario.model_copy(
            update={"years": 3, "population": fast}), seed=2)
    end = {n: r.land_use[r.years[-1]] for n, r in runs.items()}

    def lost(name: str, group: str) -> int:
        was = t.classes.group_mask(start, group)
        return int((was & (end[name] != start)).sum())

    def new_built(name: str) -> int:
        return int(((end[name] == built) & (start != built)).sum())

    # The rule is in the model too: no transition out of ecological land or water.
    assert lost("ecological-protection-fast", "ecological") == 0
    assert lost("ecological-protection-fast", "water") == 0
    # ... and no cell within 100 m of the red line may become built-up (in trend growth it may).
    from engine.processes.land_use import buffer_zone
    from scenarios.runner import land_use_process, prepare

    red = t.get("control__ecological_red_line") > 0
    near = buffer_zone(red, 100.0, t.grid.cell_size) & ~red
    assert near.any()
    bit = 1 << t.classes.index_of(built)
    for name, barred in (("ecological-protection", True), ("natural-development", False)):
        forbid = land_use_process(prepare(t, load_scenario(name)),
                                  load_scenario(name)).model.constraints.forbid
        assert ((forbid[near] & bit) > 0).all() == barred, name
    assert not ((end["ecological-protection-fast"] == built) & (start != built) & near).any()
    assert lost("natural-development-fast", "ecological") > 0
    scenario = load_scenario("ecological-protection")
    model = land_use_process(prepare(t, scenario), scenario).model
    groups = np.array([c.group for c in t.classes.classes])
    rows = np.isin(groups, ["ecological", "water"])
    assert not model.constraints.conversion[rows].any()
    assert model.constraints.conversion[~rows].any()
    assert lost("farmland-protection-fast", "farmland") < lost("natural-development-fast",
                                                               "farmland")
    assert new_built("urban-development-priority") > new_built("natural-development")


def test_a_wuhan_preset_needs_its_calibration_folder():
    from scenarios.runner import resolve_calibration

    with pytest.raises(InputError, match="--calibration DIR") as caught:
        resolve_calibration(load_scenario("wuhan-natural-development"))
    assert caught.value.field == "land_use.calibration"


def test_the_dashboard_says_a_run_was_made_from_a_calibrated_model(sample_territory,
                                                                   calibrated, tmp_path):
    """The scenario tab's map title and the calibration tab name the calibrated model, read
    from the run manifest; a run on the scenario's own model says nothing of the kind."""
    from scenarios.rundir import write_run
    from viz.app import load_dashboard
    from viz.tabs import calibration as calibration_tab
    from viz.tabs import scenario as scenario_tab

    folder, _, out = calibrated
    on_model = run_scenario(sample_territory, load_scenario(_scenario(out, folder)), seed=SEED)
    plain = run_scenario(sample_territory, load_scenario(_scenario(out)), seed=SEED)
    write_run(plain, tmp_path / "plain")
    write_run(on_model, tmp_path / "calibrated")
    board = load_dashboard([tmp_path / "plain", tmp_path / "calibrated", folder])
    titles = [scenario_tab.map_figure(board, i, END, None).layout.title.text for i in (0, 1)]
    assert "calibrated land-use model" not in titles[0]
    assert f"calibrated land-use model {folder.name} (2020\u20132025, FoM " in titles[1]
    summary = calibration_tab.summary(board, 0, "calibration").to_plotly_json()
    runs = [c for c in summary["props"]["children"]
            if c.to_plotly_json()["props"].get("id") == "calibration-runs"]
    assert len(runs) == 1
    text = str(runs[0].to_plotly_json()["props"]["children"])
    labels = [board.label(run) for run in board.runs]  # same title: made unique by folder
    assert labels[1] in text and labels[0] not in text

"""Markov-chain demand in scenarios (``land_use.demand.source: markov``): the chain estimated
from two observed maps on the TIM grid drives the run's gross transitions, the planning
presets' adjustments move the result in their documented direction, and bad input is refused
before anything runs.

The sample has no observed history, so the two maps are synthetic: the sample's 2025 land use
and an "earlier" map in which some built-up cells at the edge of the towns were cropland or
forest (so cropland -> built-up and forest -> built-up are observed, 5 years apart). The
sample's model has a suitability for built-up land only, so transitions into built-up land are
the ones it can place - the ones these maps contain.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from engine.demand import estimate_markov, project_demand
from engine.landuse import class_counts, codes_to_index
from scenarios.runner import run_scenario
from scenarios.schema import Demand, LandUse, Scenario, load_scenario
from tim.errors import InputError
from tim.ingest.raster import read_band
from tim.model import Grid
from tim.store import write_raster

START, YEARS, SEED = 2025, 3, 4
#: Largest share of a step's gross demand the allocation may leave unmet on this territory
#: (none is expected: every transition is into built-up land, with room outside the lines).
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def history(sample_territory, tmp_path_factory):
    """(folder, {year: path}) of two observed maps on the sample's grid."""
    t = sample_territory
    out = tmp_path_factory.mktemp("markov")
    lu = t.get("land_use__class")
    built = t.classes.built.code
    crop = t.classes.in_group("farmland")[0].code
    forest = t.classes.in_group("ecological")[0].code
    rng = np.random.default_rng(7)
    edge = (lu == built) & ((np.roll(lu, 1, 0) != built) | (np.roll(lu, 1, 1) != built))
    draw = rng.random(lu.shape)
    earlier = np.where(edge & (draw < 0.4), crop, lu)
    earlier = np.where(edge & (draw >= 0.4) & (draw < 0.6), forest, earlier).astype(np.uint8)
    maps = {2020: out / "lu2020.tif", 2025: out / "lu2025.tif"}
    write_raster(maps[2020], earlier, t.grid, 255)
    write_raster(maps[2025], lu, t.grid, 255)
    return out, maps


def _scenario(out, maps, name="markov", adjust=(), **land_use):
    lu = {"protect": [], "outside_boundary_weight": 1.0,
          "demand": {"source": "markov",
                     "markov": {"maps": {y: str(p) for y, p in maps.items()},
                                "adjust": list(adjust)}}, **land_use}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"extends": "baseline", "name": name, "title": name,
                                    "start_year": START, "years": YEARS, "land_use": lu}))
    return load_scenario(path)


def _adjust(preset: str) -> list[dict]:
    """The Markov adjustments of a built-in Wuhan preset, as the scenario file writes them."""
    return [a.model_dump(mode="json") for a in load_scenario(preset).land_use.demand.markov.adjust]


def _runs(sample_territory, history):
    out, maps = history
    return {name: run_scenario(sample_territory, _scenario(out, maps, name, _adjust(
        f"wuhan-{name}") if name != "natural-development" else ()), seed=SEED)
        for name in ("natural-development", "farmland-protection", "ecological-protection",
                     "urban-development-priority")}


@pytest.fixture(scope="module")
def runs(sample_territory, history):
    return _runs(sample_territory, history)


def _transitions(run, codes):
    """Cells (K, K) that went from class i at the start to class j at the end of the run."""
    first, last = min(run.land_use), max(run.land_use)
    a = codes_to_index(run.land_use[first], codes)
    b = codes_to_index(run.land_use[last], codes)
    ok = (a != 255) & (b != 255)
    k = len(codes)
    return np.bincount(a[ok].astype(np.int64) * k + b[ok], minlength=k * k).reshape(k, k)


def test_markov_demand_meets_the_projected_gross_quantities(sample_territory, history, runs):
    t = sample_territory
    codes = tuple(int(c) for c in t.classes.codes)
    out, maps = history
    run = runs["natural-development"]
    observed = {y: codes_to_index(read_band(p)[0], codes) for y, p in maps.items()}
    chain = estimate_markov(observed, len(codes))
    start = codes_to_index(t.get("land_use__class"), codes)
    projected = project_demand(chain, class_counts(start, len(codes)), YEARS)
    reports = [r for r in run.reports if r.process == "LandUseChange"]
    assert len(reports) == YEARS
    for step, r in enumerate(reports):
        asked = {k: v["demand"] for k, v in r.values["transitions"].items()}
        assert sum(asked.values()) == r.values["demand_cells"] > 0
        assert r.values["shortfall_cells"] <= TOLERANCE * r.values["demand_cells"]
        assert r.values["met_cells"] + r.values["shortfall_cells"] == r.values["demand_cells"]
        # the chain's demand of step 1 is the projection's (same map, same counts)
        if step == 0:
            gross = projected.gross[0, 0]
            assert asked == {f"{codes[i]}->{codes[j]}": int(gross[i, j])
                             for i, j in zip(*np.nonzero(gross))}
    # met within the tolerance every step, so the end map's class areas are the projection's
    end = class_counts(codes_to_index(run.land_use[max(run.land_use)], codes), len(codes))
    total = projected.gross.sum()
    assert np.abs(end - projected.totals[-1]).sum() <= 2 * TOLERANCE * total
    # the observed transitions only lead into built-up land: nothing else changed
    moved = _transitions(run, codes)
    built = codes.index(t.classes.built.code)
    off = moved - np.diag(np.diag(moved))
    assert off[:, built].sum() > 0 and off.sum() == off[:, built].sum()
    # the manifest's record: the estimated annual matrix, rows stochastic
    annual = np.array(run.demand["annual"])
    assert run.demand["years"] == [2020.0, 2025.0]
    np.testing.assert_allclose(annual, chain.annual[0], atol=1e-8)
    np.testing.assert_allclose(annual.sum(axis=1), 1.0, atol=1e-6)


def test_presets_move_the_result_in_their_documented_direction(sample_territory, runs):
    t = sample_territory
    codes = tuple(int(c) for c in t.classes.codes)
    built = codes.index(t.classes.built.code)
    farmland = [codes.index(c.code) for c in t.classes.in_group("farmland")]
    ecological = [codes.index(c.code) for c in t.classes.classes
                  if c.group in ("ecological", "water")]
    moved = {name: _transitions(run, codes) for name, run in runs.items()}

    def lost(m, rows):
        return int(sum(m[i].sum() - m[i, i] for i in rows))

    nat = moved["natural-development"]
    assert lost(nat, ecological) > 0 and lost(nat, farmland) > 0
    # farmland -> built-up x 0.5: about half the farmland loss (rounding per step)
    farm = lost(moved["farmland-protection"], farmland)
    assert farm < lost(nat, farmland)
    assert abs(farm - lost(nat, farmland) / 2) <= 0.1 * lost(nat, farmland) + YEARS
    # ecological and water -> anything x 0: not one such conversion
    assert lost(moved["ecological-protection"], ecological) == 0
    assert lost(moved["ecological-protection"], farmland) == lost(nat, farmland)
    # anything -> built-up x 1.3: more built-up gain than the trend
    gain = {n: int(m[:, built].sum() - m[built, built]) for n, m in moved.items()}
    assert gain["urban-development-priority"] > gain["natural-development"]


def test_the_run_is_the_same_for_the_same_seed(sample_territory, history, runs):
    out, maps = history
    again = run_scenario(sample_territory, _scenario(out, maps, "natural-development"),
                         seed=SEED)
    base = runs["natural-development"]
    for year in base.land_use:
        np.testing.assert_array_equal(again.land_use[year], base.land_use[year])


def test_markov_demand_round_trips_and_is_strict(history):
    out, maps = history
    scenario = _scenario(out, maps, "round-trip", _adjust("wuhan-urban-development-priority"))
    again = Scenario.model_validate(json.loads(json.dumps(scenario.to_dict())))
    assert again == scenario
    assert again.land_use.demand.markov.adjust[0].factor == 1.3
    assert scenario.to_dict()["land_use"]["demand"]["markov"]["adjust"][0]["from"] == "any"
    good = {"maps": {2020: "a.tif", 2025: "b.tif"}}
    for bad, match in [
            ({"source": "markov", "markov": {**good, "weights": 1}}, "weights"),
            ({"source": "markov", "markov": {**good, "adjust": [
                {"from": "any", "to": "built", "factor": -1}]}}, "factor"),
            ({"source": "markov", "markov": {**good, "adjust": [
                {"from": "any", "to": "built", "factor": float("inf")}]}}, "factor"),
            ({"source": "markov", "markov": {**good, "adjust": [
                {"from": "any", "to": "built", "factor": 1, "why": "x"}]}}, "why"),
            ({"source": "markov", "markov": {"maps": {2020: "a.tif"}}}, "two years"),
            ({"source": "markov", "markov": {**good, "adjust": [
                {"from": "orchard", "to": "built", "factor": 1}]}}, "land-use group"),
            ({"source": "agents", "markov": good}, "set source: markov")]:
        with pytest.raises(ValueError, match=match):
            Demand.model_validate(bad)
    with pytest.raises(ValueError, match="needs markov"):
        LandUse.model_validate({"demand": {"source": "markov"}})


def test_bad_markov_input_is_refused_before_anything_runs(sample_territory, history,
                                                          tmp_path):
    t = sample_territory
    out, maps = history
    lu = t.get("land_use__class")

    def refused(scenario, match, field):
        before = sorted(tmp_path.iterdir())
        with pytest.raises(InputError, match=match) as err:
            run_scenario(t, scenario, seed=SEED)
        assert field in str(err.value)
        assert sorted(tmp_path.iterdir()) == before  # nothing half-written

    unknown = lu.copy()
    unknown[0, 0] = 42
    write_raster(tmp_path / "unknown.tif", unknown, t.grid, 255)
    refused(_scenario(out, {2020: maps[2020], 2025: tmp_path / "unknown.tif"}, "bad-class"),
            "class codes", "land_use.demand.markov.maps.2025")
    small = lu[:-3, :-2].copy()
    write_raster(tmp_path / "small.tif", small,
                 Grid(t.grid.crs, t.grid.transform, small.shape), 255)
    refused(_scenario(out, {2020: maps[2020], 2025: tmp_path / "small.tif"}, "bad-grid"),
            "another grid than the TIM", "land_use.demand.markov.maps.2025")
    with pytest.raises(InputError, match="not a land-use group") as err:  # when read
        _scenario(out, maps, "bad-rule", [{"from": "orchard", "to": "built", "factor": 0.5}])
    assert "bad-rule.yaml" in str(err.value) and "adjust" in str(err.value)
    refused(_scenario(out, maps, "bad-code", [{"from": "any", "to": "99", "factor": 2}]),
            "class code", "land_use.demand.markov.adjust[0].to")
    refused(_scenario(out, {2020: maps[2020], 2025: tmp_path / "missing.tif"}, "missing"),
            "no such", "land_use.demand.markov.maps.2025")


def test_a_calibrations_recorded_maps_give_the_markov_demand(sample_territory, history):
    """With ``calibration`` and no maps, the chain is estimated from the maps the calibration
    recorded in its parameters.yaml (the same chain as from the maps named directly)."""
    from scenarios.calibration.calibrate import CalibrationSetup, run_calibration
    from scenarios.calibration.data import DriverSpec
    from scenarios.calibration.report import write_calibration

    t = sample_territory
    out, maps = history
    codes = [int(c) for c in t.classes.codes]
    built = t.classes.built.code
    write_raster(out / "elevation.tif", t.get("terrain__elevation").astype(np.float32),
                 t.grid, None)
    setup = CalibrationSetup(maps=maps, classes=codes, samples=2000, maxiter=0, popsize=1,
                             drivers=[DriverSpec("terrain__elevation",
                                                 str(out / "elevation.tif")),
                                      DriverSpec(f"distance_to_{built}", distance_to=built)])
    with pytest.warns(UserWarning, match="gained no cells"):
        folder = write_calibration(run_calibration(setup), out / "calibration")
    recorded = yaml.safe_load((folder / "parameters.yaml").read_text())["calibration"]["maps"]
    assert recorded == {y: str(p.resolve()) for y, p in maps.items()}
    path = out / "on-calibration.yaml"
    path.write_text(yaml.safe_dump({
        "extends": "baseline", "name": "on-calibration", "title": "x", "start_year": START,
        "years": 1, "land_use": {"calibration": str(folder), "protect": [],
                                 "demand": {"source": "markov", "markov": {}}}}))
    run = run_scenario(t, load_scenario(path), seed=SEED)
    direct = run_scenario(t, _scenario(out, maps, "direct"), seed=SEED)
    np.testing.assert_allclose(run.demand["annual"], direct.demand["annual"])
    assert run.demand["years"] == [2020.0, 2025.0]
    # an older calibration without recorded maps is refused, naming what is missing
    params = yaml.safe_load((folder / "parameters.yaml").read_text())
    del params["calibration"]["maps"]
    (folder / "parameters.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(InputError, match="records no land-use maps") as err:
        run_scenario(t, load_scenario(path), seed=SEED)
    assert "calibration.maps" in str(err.value)

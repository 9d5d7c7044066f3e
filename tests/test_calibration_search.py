"""The calibration search (engine/calibration.py): batched scoring equals the single-candidate
path, the screen-and-refine search converges on a synthetic case whose optimum is known, the
same seeds give the same parameters with any thread count and on Dask as serially."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from engine.calibration import (Problem, calibrate, change_window, crop_problem, decode,
                                end_targets, evaluate_candidates, figure_of_merit_of,
                                load_problem, save_problem, search_space, with_params)
from engine.kernels.scoring import figure_of_merit_from_counts, fom_counts
from engine.landuse import (CAParams, LandUseModel, build_constraints, class_counts,
                            interpolate_targets, simulate)
from engine.metrics import figure_of_merit, transition_table
from tim.errors import InputError

K = 3
#: The parameters the synthetic "observed" end map was made with (a DE vector, see decode):
#: size index 1 (5 x 5), weights, log10 inertia, alpha, log10 spontaneous, patch scale and
#: compactness.
TRUTH = np.array([1.0, 0.2, 0.9, 0.1, 0.3, 0.4, -1.5, 0.8, 2.0])


def smooth_field(rng, shape, passes=6):
    f = rng.random(shape)
    for _ in range(passes):  # box blur: spatially structured suitability, as real drivers are
        f = (f + np.roll(f, 1, 0) + np.roll(f, -1, 0) + np.roll(f, 1, 1) + np.roll(f, -1, 1)) / 5
    return (f - f.min()) / (f.max() - f.min())


@pytest.fixture(scope="module")
def synthetic():
    """A 64 x 64 map of 3 classes whose 2-step change was simulated with TRUTH (seed 7): the
    optimum is known, FoM 1 at TRUTH."""
    rng = np.random.default_rng(42)
    shape = (64, 64)
    suit = np.stack([smooth_field(rng, shape) for _ in range(K)], axis=-1).astype(np.float32)
    start = np.argmax(suit + 0.6 * rng.random((*shape, K)), axis=-1).astype(np.uint8)
    start[:3, :5] = 255  # outside the study area
    hard = np.zeros(shape, bool)
    hard[:3, :5] = True
    model = LandUseModel((10, 20, 30), suit, CAParams(roulette_rounds=2),
                         build_constraints(shape, K, hard=[(hard, None)]),
                         (np.array([1, 1, 2, 3, 5]),) * K)
    counts = class_counts(start, K)
    goal = counts + np.array([[-260, 330, -70]])
    truth = decode(TRUTH, K, model.params)
    end = simulate(start, with_params(model, truth), interpolate_targets(counts, goal, 2),
                   seed=7).index
    return start, end, model


def test_fom_counts_equal_the_transition_table_exactly():
    rng = np.random.default_rng(0)
    start = rng.integers(0, 4, (37, 53)).astype(np.uint8)
    end = np.where(rng.random(start.shape) < 0.3, rng.integers(0, 4, start.shape), start)
    end = end.astype(np.uint8)
    sims = np.where(rng.random((5, *start.shape)) < 0.4, rng.integers(0, 4, (5, *start.shape)),
                    start).astype(np.uint8)
    start[0, :7] = 255  # nodata in each map, in different places
    end[5, 3:9] = 255
    sims[2, 10:12, :] = 255
    counts = fom_counts(start, end, sims, 4)
    for m in range(5):
        ref = figure_of_merit(transition_table(start, end, sims[m], 4))
        assert counts[m].tolist() == [ref["hits"], ref["misses"], ref["wrong_hits"],
                                      ref["false_alarms"]]
        assert figure_of_merit_from_counts(counts[m])[0] == ref["figure_of_merit"]
    # One map alone, and a map without any change: FoM 0 (the metrics say NaN: 0 / 0).
    np.testing.assert_array_equal(fom_counts(start, end, sims[3], 4), counts[3:4])
    assert figure_of_merit_from_counts(fom_counts(start, start, start, 4))[0] == 0.0


def test_batched_evaluation_equals_the_single_candidate_path(synthetic):
    start, end, model = synthetic
    problem = Problem(start, end, model, end_targets(start, end, model, 2), 7)
    bounds, _ = search_space(K)
    rng = np.random.default_rng(3)
    low, high = np.array(bounds).T
    xs = low + rng.random((4, len(bounds))) * (high - low)
    xs = np.vstack([xs, TRUTH])
    batched = problem.evaluate(xs)
    for x, fom in zip(xs, batched):
        single, _ = figure_of_merit_of(decode(x, K, model.params), start, end, model,
                                       problem.targets, 7)
        assert fom == single  # exactly: same maps, integer counts
    assert batched[-1] == 1.0  # the parameters that made the end map reproduce it
    # Evaluating through the executor's task function and a saved problem gives the same.
    assert evaluate_candidates(problem, list(xs)) == batched.tolist()


def test_with_params_simulates_as_a_replaced_model(synthetic):
    start, end, model = synthetic
    params = decode(TRUTH, K, model.params)
    targets = end_targets(start, end, model, 2)
    a = simulate(start, with_params(model, params), targets, seed=1).index
    b = simulate(start, dataclasses.replace(model, params=params), targets, seed=1).index
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="weights"):
        with_params(model, CAParams(weights=(1.0, 2.0)))


def test_change_window_holds_the_most_change_and_crop_keeps_its_own_demand(synthetic):
    start, end, model = synthetic
    assert change_window(start, end, K, start.size) == (slice(0, 64), slice(0, 64))
    window = change_window(start, end, K, 1024, block=8)
    rows, cols = window
    assert (rows.stop - rows.start, cols.stop - cols.start) == (32, 32)
    changed = (start != end) & (start < K) & (end < K)
    best = max(changed[r:r + 32, c:c + 32].sum() for r in range(0, 33, 8)
               for c in range(0, 33, 8))  # every block-aligned 32 x 32 window
    assert changed[window].sum() == best
    problem = Problem(start, end, model, end_targets(start, end, model, 2), 7)
    crop = crop_problem(problem, window)
    assert crop.start.shape == crop.model.suitability.shape[:2] == (32, 32)
    np.testing.assert_array_equal(crop.targets[-1], class_counts(end[window], K))
    np.testing.assert_array_equal(crop.model.constraints.forbid,
                                  model.constraints.forbid[window])


def test_saved_problem_loads_to_the_same_objective(synthetic, tmp_path):
    start, end, model = synthetic
    problem = Problem(start, end, model, end_targets(start, end, model, 2), 7)
    path = save_problem(problem, tmp_path / "p.npz")
    loaded = load_problem(path)
    assert loaded.model.codes == model.codes and loaded.model.params == model.params
    assert evaluate_candidates(path, [TRUTH, TRUTH * 0.5]) == \
        problem.evaluate([TRUTH, TRUTH * 0.5]).tolist()


def search(synthetic, **kwargs):
    start, end, model = synthetic
    args = {"steps": 2, "seed": 7, "maxiter": 30, "popsize": 3, "search_seed": 1, **kwargs}
    return calibrate(start, end, model, **args)


@pytest.fixture(scope="module")
def found(synthetic):
    return search(synthetic)


def test_search_converges_near_the_known_optimum(found, synthetic):
    start, end, model = synthetic
    # The optimum is FoM 1 (TRUTH reproduces the end map). Random parameters score far less:
    bounds, _ = search_space(K)
    low, high = np.array(bounds).T
    problem = Problem(start, end, model, end_targets(start, end, model, 2), 7)
    rng = np.random.default_rng(11)
    random = problem.evaluate(low + rng.random((20, len(bounds))) * (high - low))
    assert found.figure_of_merit > np.max(random)
    assert found.figure_of_merit >= 0.6
    c = found.convergence
    assert c["converged"] and c["generations"] < 30  # stopped by the criterion, not the limit
    assert found.message.startswith("converged")
    last = c["per_generation"][-1]
    assert last.get("relative_gain", 1.0) < c["tolerance"] or \
        last["std"] <= c["tolerance"] * last["mean"]
    # The reported FoM is the fitted parameters' own FoM on the whole grid.
    fom, _ = figure_of_merit_of(found.params, start, end, model, problem.targets, 7)
    assert fom == found.figure_of_merit
    assert found.evaluations == len(found.history) - _repeats(found)
    best = [h["best"] for h in found.history]
    assert best == sorted(best) and best[-1] == found.figure_of_merit


def _repeats(result):
    """History rows that a cached candidate answered (no new simulation)."""
    return len(result.history) - result.evaluations


def test_same_seed_same_parameters_with_any_thread_count(found, synthetic):
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        again = search(synthetic)
    finally:
        numba.set_num_threads(threads)
    assert again.params == found.params
    assert [h["figure_of_merit"] for h in again.history] == \
        [h["figure_of_merit"] for h in found.history]
    other = search(synthetic, search_seed=2)
    assert [h["figure_of_merit"] for h in other.history] != \
        [h["figure_of_merit"] for h in found.history]


def test_screening_window_then_full_grid(synthetic):
    start, end, model = synthetic
    result = search(synthetic, maxiter=4, popsize=2, screen_cells=1024, refine=3)
    stages = [h["stage"] for h in result.history]
    assert stages[-3:] == ["full grid"] * 3 and set(stages[:-3]) == {"screen"}
    assert result.convergence["screen_cells"] == 1024
    fom, _ = figure_of_merit_of(result.params, start, end, model,
                                end_targets(start, end, model, 2), 7)
    assert fom == result.figure_of_merit == max(h["figure_of_merit"]
                                                for h in result.history[-3:])


def test_dask_workers_give_the_serial_result(found, synthetic, tmp_path):
    from distributed import LocalCluster

    from scenarios.ensemble import SerialExecutor, dask_executor

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        with dask_executor(cluster.scheduler_address) as executor:
            dask = search(synthetic, executor=executor, scratch=tmp_path)
    assert dask.params == found.params
    assert dask.history == found.history
    assert search(synthetic, executor=SerialExecutor()).history == found.history
    assert not list(tmp_path.iterdir())  # the scratch problem files are removed


def test_scipy_baseline_and_bad_options(synthetic):
    result = search(synthetic, search="scipy_de", maxiter=1, popsize=1)
    assert result.evaluations == 2 * 1 * 9 and result.convergence["search"] == "scipy_de"
    with pytest.raises(InputError, match="unknown search"):
        search(synthetic, search="annealing")
    with pytest.raises(InputError, match="refine"):
        search(synthetic, refine=0)


@pytest.mark.parametrize("name", ["engine.calibration", "engine.kernels.scoring"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0

"""The multi-class land-use kernels and step against the cell-by-cell Python reference
(tests/landuse_reference.py), plus the properties the model promises: demand met exactly or
reported, constraints never broken, same seed -> same map with 1 and 2 threads."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

import landuse_reference as ref
from engine.kernels.neighbourhood import window_counts
from engine.kernels.random import stream_key
from engine.kernels.transition import compete, noise_level, stochastic_table
from engine.landuse import (Adaptation, CAParams, LandUseModel, adapt, allocate_step,
                            build_constraints, class_counts, codes_to_index,
                            interpolate_targets, learn_patch_sizes, simulate)
from tim.errors import InputError


def landscape(shape, n, seed, nodata=0.05):
    """Smooth random classes (patchy, like land use), some nodata, random suitability."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 2.0)
    edges = np.quantile(field, np.linspace(0, 1, n + 1)[1:-1])
    index = np.digitize(field, edges).astype(np.uint8)
    index[rng.random(shape) < nodata] = 255
    suit = rng.random(shape + (n,)).astype(np.float32)
    suit[rng.random(shape + (n,)) < 0.05] = 0.0  # some cells unsuitable for some classes
    return index, suit


def random_model(shape, n, seed, *, regions=False, params=None, all_allowed=False):
    index, suit = landscape(shape, n, seed)
    rng = np.random.default_rng(seed + 1)
    hard = [(rng.random(shape) < 0.1, None), (rng.random(shape) < 0.2, [n - 1])]
    soft = [(rng.random(shape) < 0.3, list(rng.uniform(0.2, 1.0, n)))]
    allowed = rng.random((n, n)) > (0.0 if all_allowed else 0.1)
    cost = rng.uniform(0, 0.5, (n, n))
    region = (np.arange(shape[1])[None, :] * 2 // shape[1]).repeat(shape[0], 0) \
        if regions else None
    constraints = build_constraints(shape, n, hard=hard, soft=soft, allowed=allowed, cost=cost,
                                    region=region)
    sizes = tuple(np.array(sorted(rng.integers(1, 9, 6))) for _ in range(n))
    params = params or CAParams(neighbourhood_size=5, weights=tuple(rng.uniform(0.3, 1, n)),
                                inertia=tuple(rng.uniform(4, 40, n)), alpha=0.7,
                                spontaneous=0.05, roulette_rounds=2, patch_scale=1.3,
                                patch_compactness=1.5)
    return index, LandUseModel(tuple(range(10, 10 + n)), suit, params, constraints, sizes)


# -- neighbourhood ----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(index=arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                    elements=st.sampled_from([0, 1, 2, 3, 255])),
       size=st.sampled_from([3, 5, 7, 9]))
def test_window_counts_match_the_window_loop(index, size):
    np.testing.assert_array_equal(window_counts(index, 4, size), ref.counts(index, 4, size))


def test_window_counts_span_more_than_one_block_of_rows():
    index, _ = landscape((150, 23), 3, 4)  # 150 rows: three blocks of 64
    np.testing.assert_array_equal(window_counts(index, 3, 7), ref.counts(index, 3, 7))


# -- random numbers and stochastic factor -----------------------------------------------------
def test_noise_levels_and_table_follow_their_definitions():
    key = stream_key(np.uint64(5), np.uint64(2), np.uint64(1))
    assert int(key) == ref.stream_key(5, 2, 1)
    for cell in (0, 1, 77, 10**9):
        assert noise_level(key, np.uint64(cell)) == ref.noise_level(int(key), cell)
    table = stochastic_table(0.5)
    # level i stands for u = (i + 0.5) / 2^16: v = 1 + sqrt(-ln u)
    assert table[0] == pytest.approx(1 + np.sqrt(-np.log(0.5 / 65536)), rel=1e-15)
    assert np.all(np.diff(table) < 0)  # v falls as u grows


# -- competition ------------------------------------------------------------------------------
@pytest.mark.parametrize("roulette", [True, False])
@pytest.mark.parametrize("regions", [False, True])
def test_competition_matches_the_reference(roulette, regions):
    index, model = random_model((19, 23), 4, 7, regions=regions)
    c, n = model.constraints, model.n_classes
    rng = np.random.default_rng(3)
    kwargs = dict(forbid=c.forbid, policy=c.policy, policy_weight=c.policy_weight,
                  region=c.region, conversion=c.conversion, weight=np.array([1, .5, .8, .3]),
                  inertia=np.array([2.0, 1.0, 0.5, 1.5]),
                  drive=rng.uniform(0.5, 2, (c.n_regions, n)),
                  open_gain=(rng.random((c.n_regions, n)) < 0.8).astype(np.uint8),
                  open_loss=(rng.random((c.n_regions, n)) < 0.8).astype(np.uint8),
                  changed=(rng.random(index.shape) < 0.1).astype(np.uint8), spontaneous=0.03,
                  alpha=0.9, size=5, roulette=roulette)
    keys = [stream_key(np.uint64(9), np.uint64(4), np.uint64(j)) for j in range(2)]
    cells, classes, scores, asked, left = compete(index, model.suitability, **kwargs,
                                                  key_pick=keys[0], key_noise=keys[1])
    expected, asked_ref, left_ref = ref.compete(index, model.suitability, **kwargs,
                                                key_pick=int(keys[0]), key_noise=int(keys[1]))
    assert len(expected) > 20
    assert cells.tolist() == [e[0] for e in expected]
    assert classes.tolist() == [e[1] for e in expected]
    assert scores.tolist() == [e[2] for e in expected]  # bit for bit
    np.testing.assert_array_equal(asked, asked_ref)
    np.testing.assert_array_equal(left, left_ref)


def test_fill_pass_returns_at_least_the_best_requests_of_each_class():
    index, model = random_model((40, 37), 4, 2)
    c = model.constraints
    kwargs = dict(forbid=c.forbid, policy=c.policy, policy_weight=c.policy_weight, region=None,
                  conversion=c.conversion, weight=np.ones(4), inertia=np.ones(4),
                  drive=np.ones((1, 4)), open_gain=np.ones((1, 4), np.uint8),
                  open_loss=np.ones((1, 4), np.uint8), changed=np.zeros(index.shape, np.uint8),
                  spontaneous=0.02, alpha=0.5, size=3, key_pick=np.uint64(1),
                  key_noise=np.uint64(2), roulette=False)
    all_cells, all_classes, all_scores, *_ = compete(index, model.suitability, **kwargs)
    take = np.array([5, 0, 40, 1000])
    cells, classes, scores, *_ = compete(index, model.suitability, **kwargs, take=take)
    for k in range(4):
        mine = all_classes == k
        best = np.sort(all_scores[mine])[::-1][: take[k]]
        got = scores[classes == k]
        assert got.size >= min(take[k], mine.sum())  # nothing of the top is lost ...
        assert set(best.tolist()) <= set(got.tolist())
        assert got.size <= max(take[k] * 1.5, take[k] + 10)  # ... and little else is kept
    assert set(cells.tolist()) <= set(all_cells.tolist())


# -- one step ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("regions", [False, True])
@pytest.mark.parametrize("sticky", [False, True])
def test_step_matches_the_cell_by_cell_reference(seed, regions, sticky):
    index, model = random_model((24, 21), 4, seed, regions=regions)
    if sticky:  # cells hardly leave in the roulette: fill passes and adaptation do the work
        model = dataclasses.replace(model, params=dataclasses.replace(
            model.params, inertia=(400.0,) * 4, spontaneous=0.001))
    counts = class_counts(index, 4, model.constraints.region, model.constraints.n_regions)
    rng = np.random.default_rng(seed)
    # Gains for two classes, losses for one, the fourth free (it gives up the balance).
    change = np.zeros(counts.shape, np.int64)
    change[:, 0] = rng.integers(30, 45, counts.shape[0]) // counts.shape[0]
    change[:, 2] = rng.integers(15, 25, counts.shape[0]) // counts.shape[0]
    change[:, 1] = -rng.integers(20, 40, counts.shape[0]) // counts.shape[0]
    new, outcome, _ = allocate_step(index, model, change, seed=seed, step=3)
    expected, state, drive = ref.step(index, model, change, seed=seed, step_no=3)
    np.testing.assert_array_equal(new, expected)
    np.testing.assert_array_equal(outcome.gained, state.gained)
    np.testing.assert_array_equal(outcome.drive, drive)
    assert (new != index).sum() >= 45
    assert outcome.passes >= 2 or not sticky


def test_step_with_only_free_losers_matches_the_reference():
    # The sample territory's case: one class gains, every other class may give up cells.
    params = CAParams(neighbourhood_size=3, alpha=0.0, spontaneous=0.01, roulette_rounds=0,
                      patch_scale=1.0, patch_compactness=0.0)
    index, model = random_model((20, 20), 3, 5, params=params)
    change = np.array([[0, 0, 40]])
    new, outcome, _ = allocate_step(index, model, change, seed=4)
    expected, _, _ = ref.step(index, model, change, seed=4)
    np.testing.assert_array_equal(new, expected)
    assert outcome.gained[0, 2] == 40 and outcome.met


# -- what the step promises -------------------------------------------------------------------
def test_demand_is_met_exactly_and_constraints_hold():
    # Every transition allowed: with a sparse matrix a greedy allocation can leave a class
    # without a source even when some other assignment would have fitted (then: shortfall).
    index, model = random_model((80, 90), 5, 11, all_allowed=True)
    counts = class_counts(index, 5)
    target = counts + np.array([[300, -200, 150, -400, 150]])
    result = simulate(index, model, interpolate_targets(counts, target, 3), seed=2)
    assert all(o.met for o in result.outcomes)
    np.testing.assert_array_equal(class_counts(result.index, 5), target)
    changed = result.index != index
    bits = model.constraints.forbid.astype(np.int64)
    new_class = result.index.astype(np.int64)
    assert not (changed & ((bits >> np.where(changed, new_class, 0)) & 1).astype(bool)).any()
    conv = model.constraints.conversion
    assert (conv[index[changed], result.index[changed]] > 0).all()
    assert ((index == 255) == (result.index == 255)).all()  # nodata stays nodata


def test_a_class_never_overshoots_and_shortfall_is_reported():
    index = np.zeros((10, 10), np.uint8)
    index[:, 5:] = 1
    suit = np.ones((10, 10, 2), np.float32)
    water = np.zeros((10, 10), bool)
    water[:, :3] = True  # 30 of the 50 class-0 cells may not change
    model = LandUseModel((1, 2), suit, CAParams(neighbourhood_size=3, roulette_rounds=1),
                         build_constraints((10, 10), 2, hard=[(water, None)]))
    new, outcome, _ = allocate_step(index, model, np.array([[-35, 35]]))
    assert outcome.gained[0, 1] == 20 and outcome.gain_shortfall[0, 1] == 15
    assert outcome.loss_shortfall[0, 0] == 15 and not outcome.met
    assert (new[water] == 0).all()


def test_same_seed_same_map_with_one_and_two_threads():
    index, model = random_model((300, 220), 6, 21)
    counts = class_counts(index, 6)
    target = counts + np.array([[900, -700, 400, -900, 300, 0]])
    targets = interpolate_targets(counts, target, 2)
    runs = []
    default = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(simulate(index, model, targets, seed=8).index)
    finally:
        numba.set_num_threads(default)
    np.testing.assert_array_equal(runs[0], runs[1])
    other = simulate(index, model, targets, seed=9).index
    assert not np.array_equal(other, runs[0])


def test_patches_follow_the_size_library():
    # One class grows on an empty landscape from isolated seeds: each seed grows one blob whose
    # size comes from the library (all 9 here), compact, not touching the others.
    index = np.zeros((60, 60), np.uint8)
    suit = np.full((60, 60, 2), 0.1, np.float32)
    suit[5::10, 5::10, 1] = 1.0  # the seeds: 36 cells 10 apart, the best 10 are taken
    params = CAParams(neighbourhood_size=3, alpha=0.0, spontaneous=1.0, roulette_rounds=0,
                      patch_scale=1.0, patch_compactness=2.0, weights=(0.0, 0.0))
    model = LandUseModel((0, 1), suit, params, build_constraints((60, 60), 2),
                         (np.zeros(0, np.int64), np.array([9])))
    new, outcome, _ = allocate_step(index, model, np.array([[-90, 90]]))
    labels, count = ndimage.label(new == 1, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    assert outcome.met and outcome.seeds == 10 and count == 10 and (sizes == 9).all()


# -- tables and helpers -----------------------------------------------------------------------
def test_flus_adaptation_rule():
    a = Adaptation.start(1, 4)
    a = adapt(a, np.array([[10.0, -10.0, 5.0, np.nan]]))
    assert a.drive.tolist() == [[1, 1, 1, 1]]  # no history yet
    # gap 10 -> 15 (more cells missing): x1.5; -10 -> -20: x0.5; 5 -> 3 shrank: kept
    a = adapt(a, np.array([[15.0, -20.0, 3.0, 4.0]]))
    assert a.drive.tolist() == [[1.5, 0.5, 1.0, 1.0]]


def test_interpolated_targets_keep_totals():
    start, end = np.array([[100, 50, 7]]), np.array([[80, 60, 17]])
    rows = interpolate_targets(start, end, 7)
    assert (rows.sum(axis=-1) == 157).all() and (rows[-1] == end).all()
    assert (np.abs(rows[3] - (start + (end - start) * 4 / 7)) < 1).all()


def test_patch_sizes_are_the_components_of_the_gains():
    start = np.zeros((5, 6), np.uint8)
    end = start.copy()
    end[0, 0:2] = 1  # a patch of 2
    end[2:4, 3:5] = 1  # a patch of 4 ...
    end[4, 5] = 1  # ... that touches this cell diagonally: 5
    end[4, 0] = 2
    sizes = learn_patch_sizes(start, end, 3)
    assert [s.tolist() for s in sizes] == [[], [2, 5], [1]]


def test_unknown_codes_and_bad_tables_are_clear_errors():
    with pytest.raises(InputError, match=r"class codes the model does not know .*\(9, 2\)"):
        codes_to_index(np.array([[1, 9, 9], [2, 255, 1]]), (1, 2))
    with pytest.raises(InputError, match="1..16 classes"):
        build_constraints((2, 2), 17)
    with pytest.raises(InputError, match="odd"):
        CAParams(neighbourhood_size=4)
    with pytest.raises(InputError, match="suitability must be float32"):
        LandUseModel((1, 2), np.ones((2, 2, 3), np.float32), CAParams(),
                     build_constraints((2, 2), 2))

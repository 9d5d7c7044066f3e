"""Gross (from -> to) demand in the land-use step: the Numba step against the cell-by-cell
reference (tests/landuse_reference.py::transition_step), each transition met exactly or its
shortfall reported, bad matrices refused, same seed -> same map with 1 and 2 threads."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

import landuse_reference as ref
from engine.landuse import (LandUseModel, CAParams, allocate_step, build_constraints,
                            check_transitions, class_counts)
from test_landuse_kernels import random_model
from tim.errors import InputError


def observed_pairs(start, end, n, region=None, n_regions=1):
    """(regions, K, K) cells that went from i to j (diagonal zeroed), counted plainly."""
    out = np.zeros((n_regions, n, n), np.int64)
    for (r, c), a in np.ndenumerate(start):
        if a < n:
            z = int(region[r, c]) if region is not None else 0
            out[z, a, end[r, c]] += 1
    for i in range(n):
        out[:, i, i] = 0
    return out


def random_demand(counts, seed, share=0.12):
    """Off-diagonal quantities: each source gives up to ``share`` of its cells, spread over
    the other classes at random (some transitions zero)."""
    rng = np.random.default_rng(seed)
    regions, n = counts.shape
    t = np.zeros((regions, n, n), np.int64)
    for z in range(regions):
        for i in range(n):
            for j in range(n):
                if i != j and rng.random() < 0.75:
                    t[z, i, j] = rng.integers(0, max(int(counts[z, i] * share / (n - 1)), 1) + 1)
    return t


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("regions", [False, True])
@pytest.mark.parametrize("sticky", [False, True])
def test_transition_step_matches_the_cell_by_cell_reference(seed, regions, sticky):
    # random_model has nodata, hard masks, soft policy, forbidden transitions and patches
    index, model = random_model((24, 21), 4, seed, regions=regions)
    if sticky:  # cells hardly leave in the roulette: fill passes and adaptation do the work
        model = dataclasses.replace(model, params=dataclasses.replace(
            model.params, inertia=(400.0,) * 4, spontaneous=0.001))
    c = model.constraints
    counts = class_counts(index, 4, c.region, c.n_regions)
    demand = random_demand(counts, seed, share=0.4)
    new, outcome, adaptation = allocate_step(index, model, None, transitions=demand, seed=seed,
                                             step=3)
    expected, state, drive = ref.transition_step(index, model, demand, seed=seed, step_no=3)
    np.testing.assert_array_equal(new, expected)
    np.testing.assert_array_equal(outcome.transition_met, state.met)
    np.testing.assert_array_equal(outcome.transition_shortfall, state.left)
    np.testing.assert_array_equal(adaptation.drive.reshape(drive.shape), drive)
    # what the outcome says happened did happen, cell by cell
    np.testing.assert_array_equal(observed_pairs(index, new, 4, c.region, c.n_regions),
                                  outcome.transition_met)
    assert (new != index).sum() >= 40
    assert ((index == 255) == (new == 255)).all()


def test_every_transition_met_exactly_when_the_constraints_leave_room():
    # Tolerance: 0 cells. Every transition allowed (hard masks still forbid 10 % of cells):
    # each quantity is a small share of its source, so a greedy allocation can always meet it.
    index, model = random_model((80, 90), 5, 11, regions=True, all_allowed=True)
    c = model.constraints
    counts = class_counts(index, 5, c.region, c.n_regions)
    demand = random_demand(counts, 4, share=0.3)
    new, outcome, _ = allocate_step(index, model, None, transitions=demand, seed=2)
    assert outcome.met and not outcome.transition_shortfall.any()
    np.testing.assert_array_equal(observed_pairs(index, new, 5, c.region, c.n_regions), demand)
    # the net change is the one the gross demand implies, per region
    np.testing.assert_array_equal(class_counts(new, 5, c.region, c.n_regions) - counts,
                                  demand.sum(axis=1) - demand.sum(axis=2))
    changed = new != index
    bits = c.forbid.astype(np.int64)
    assert not (changed & ((bits >> np.where(changed, new, 0).astype(np.int64)) & 1)
                .astype(bool)).any()


def test_a_swap_between_classes_is_simulated_where_net_demand_sees_nothing():
    # 0 -> 1 and 1 -> 0, 30 cells each: net change zero, so the net model changes nothing.
    index = np.zeros((20, 20), np.uint8)
    index[:, 10:] = 1
    suit = np.ones((20, 20, 2), np.float32)
    model = LandUseModel((1, 2), suit, CAParams(neighbourhood_size=3, roulette_rounds=1),
                         build_constraints((20, 20), 2))
    same, _, _ = allocate_step(index, model, np.array([[0, 0]]))
    assert (same == index).all()
    new, outcome, _ = allocate_step(index, model, None,
                                    transitions=np.array([[[0, 30], [30, 0]]]))
    assert ((index == 0) & (new == 1)).sum() == 30 and ((index == 1) & (new == 0)).sum() == 30
    assert outcome.met and outcome.gained.tolist() == [[30, 30]]


def test_shortfall_is_reported_per_transition_and_never_exceeded():
    index = np.zeros((10, 10), np.uint8)
    index[:, 5:] = 1
    index[0, :] = 2
    suit = np.ones((10, 10, 3), np.float32)
    water = np.zeros((10, 10), bool)
    water[1:, :3] = True  # 27 of the 45 class-0 cells below row 0 may not change
    model = LandUseModel((1, 2, 3), suit, CAParams(neighbourhood_size=3, roulette_rounds=1),
                         build_constraints((10, 10), 3, hard=[(water, None)]))
    demand = np.array([[[0, 25, 4], [0, 0, 5], [1, 0, 0]]])  # 0 -> * asks 29 of 18 movable
    new, outcome, _ = allocate_step(index, model, None, transitions=demand, seed=5)
    met, short = outcome.transition_met[0], outcome.transition_shortfall[0]
    assert (met <= demand[0]).all() and (met + short == demand[0]).all()
    assert met[0].sum() == 18 and short[0].sum() == 11  # every movable cell of class 0 used
    assert met[1, 2] == 5 and met[2, 0] == 1 and not outcome.met
    assert outcome.gain_shortfall.sum() == outcome.loss_shortfall.sum() == 11
    assert (new[water] == index[water]).all()


def test_same_seed_same_map_with_one_and_two_threads():
    index, model = random_model((300, 220), 6, 21, all_allowed=True)
    demand = random_demand(class_counts(index, 6), 3, share=0.05)
    runs = []
    default = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            runs.append(allocate_step(index, model, None, transitions=demand, seed=8)[0])
    finally:
        numba.set_num_threads(default)
    np.testing.assert_array_equal(runs[0], runs[1])
    other = allocate_step(index, model, None, transitions=demand, seed=9)[0]
    assert not np.array_equal(other, runs[0])


def test_adaptation_carries_over_steps_per_transition():
    index, model = random_model((40, 40), 3, 6, all_allowed=True)
    demand = random_demand(class_counts(index, 3), 1)
    new, _, a1 = allocate_step(index, model, None, transitions=demand, seed=1)
    assert a1.drive.shape == (3, 3)
    _, out, a2 = allocate_step(new, model, None, transitions=demand // 2, seed=1, step=1,
                               adaptation=a1)
    assert a2.drive.shape == (3, 3) and out.transition_demand.sum() == (demand // 2).sum()


def test_bad_transition_matrices_are_clear_errors():
    counts = np.array([[10, 5, 0]])
    with pytest.raises(InputError, match=r"row 0 of region 0 sums to 9 .* has 10") as e:
        check_transitions(np.array([[[6, 3, 0], [0, 5, 0], [0, 0, 0]]]), counts)
    assert e.value.field == "transitions[0][0]"
    with pytest.raises(InputError, match="no cells") as e:
        check_transitions(np.array([[[0, 0, 0], [0, 0, 0], [1, 0, 0]]]), counts)
    assert e.value.field == "transitions[0][2]"
    with pytest.raises(InputError, match="would lose 6 cells but has 5"):
        check_transitions(np.array([[[0, 0, 0], [6, 0, 0], [0, 0, 0]]]), counts)
    with pytest.raises(InputError, match="whole numbers"):
        check_transitions(np.array([[[0, 1.5, 0], [0, 0, 0], [0, 0, 0]]]), counts)
    with pytest.raises(InputError, match=r"\(1, 3, 3\) entries"):
        check_transitions(np.zeros((2, 2)), counts)
    # a full matrix whose rows sum to the classes' cells is accepted; its diagonal dropped
    ok = check_transitions(np.array([[[7, 3, 0], [1, 4, 0], [0, 0, 0]]]), counts)
    assert ok.tolist() == [[[0, 3, 0], [1, 0, 0], [0, 0, 0]]]

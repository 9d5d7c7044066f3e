"""Markov-chain demand (engine/demand.py) on analytic cases: estimates from known transitions,
compounding, fractional powers, scenario adjustments, projections in whole cells, planners'
tables, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from engine.demand import (MarkovChain, adjust, allocate_rows, estimate_markov, matrix_power,
                           project_demand, regularise, steps_from_table, transition_counts,
                           transition_multipliers)
from engine.landuse import check_transitions
from tim.errors import InputError


def two_maps(n_cells=1000, seed=0):
    """A start map of 3 classes (500/300/200 cells) and an end map after exactly known moves:
    100 of class 0 -> 1, 50 of 0 -> 2, 30 of 1 -> 0; 20 cells nodata in both."""
    start = np.repeat(np.array([0, 1, 2], np.uint8), [500, 300, 200])
    end = start.copy()
    end[:100] = 1
    end[100:150] = 2
    end[500:530] = 0
    start = np.concatenate([start, np.full(20, 255, np.uint8)])
    end = np.concatenate([end, np.full(20, 255, np.uint8)])
    order = np.random.default_rng(seed).permutation(start.size)  # where does not matter
    return start[order].reshape(34, 30), end[order].reshape(34, 30)


def test_counts_and_one_year_estimate_are_the_observed_shares():
    a, b = two_maps()
    counts = transition_counts(a, b, 3)[0]
    assert counts.tolist() == [[350, 100, 50], [30, 270, 0], [0, 0, 200]]
    chain = estimate_markov({2000: a, 2001: b}, 3)
    np.testing.assert_allclose(chain.annual[0], counts / counts.sum(axis=1, keepdims=True))
    assert chain.years == (2000.0, 2001.0)


def test_a_longer_interval_gives_its_root_and_compounds_back():
    a, b = two_maps()
    chain = estimate_markov({2000: a, 2005: b}, 3)
    interval = transition_counts(a, b, 3)[0] / np.array([[500], [300], [200]])
    # 1 -> 2 is 0 over the interval but 1 -> 0 -> 2 is not: the exact fifth root has a
    # negative 1 -> 2 entry, which regularisation clips, so compounding back is close, not exact
    np.testing.assert_allclose(chain.over(5)[0], interval, atol=0.01)
    np.testing.assert_allclose(chain.annual[0].sum(axis=1), 1.0)
    assert (chain.annual >= 0).all()
    # integer horizons are exact products of the one-year matrix
    np.testing.assert_array_equal(chain.over(3), chain.annual @ chain.annual @ chain.annual)


def test_several_intervals_average_one_year_rows_by_cell_years():
    a, b = two_maps()
    # the same one-year process twice: the estimate is that process
    chain = estimate_markov({2000: a, 2001: b, 2002: a}, 3)
    p1 = transition_counts(a, b, 3)[0] / np.array([[500], [300], [200]])
    p2 = transition_counts(b, a, 3)[0] / transition_counts(b, a, 3)[0].sum(1, keepdims=True)
    w1 = np.array([500, 300, 200])[:, None]
    w2 = transition_counts(b, a, 3)[0].sum(1, keepdims=True)
    np.testing.assert_allclose(chain.annual[0], (p1 * w1 + p2 * w2) / (w1 + w2))


def test_fractional_powers_are_regularised_to_stochastic_rows():
    # eigenvalues 1 and -0.8: the principal square root is complex; its regularised real
    # part must still be a stochastic matrix, and t = 1 gives the matrix back
    p = np.array([[0.1, 0.9], [0.9, 0.1]])
    root = matrix_power(p, 0.5)
    assert (root >= 0).all()
    np.testing.assert_allclose(root.sum(axis=1), 1.0)
    np.testing.assert_allclose(matrix_power(p, 1.0), p)
    # a matrix with a stochastic root: regularisation changes nothing
    q = np.array([[0.81, 0.18, 0.01], [0.0, 0.9, 0.1], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(matrix_power(matrix_power(q, 0.5), 2), q, atol=1e-12)
    assert regularise(np.array([[0.0, 0.0], [0.2, 0.2]])).tolist() == [[1, 0], [0.5, 0.5]]
    with pytest.raises(InputError, match="years"):
        matrix_power(p, -1)


def test_projection_keeps_every_cell_and_follows_the_chain():
    p = np.array([[[0.8, 0.15, 0.05], [0.02, 0.95, 0.03], [0.0, 0.0, 1.0]]])
    counts = np.array([[5003, 2001, 997]])
    d = project_demand(MarkovChain(p), counts, 4, years_per_step=2)
    assert d.transitions.shape == (4, 1, 3, 3) and d.totals.shape == (5, 1, 3)
    for s in range(4):
        np.testing.assert_array_equal(d.transitions[s].sum(axis=2), d.totals[s])
    assert (d.totals.sum(axis=-1) == counts.sum()).all()
    expected = counts.astype(float)
    two = p[0] @ p[0]
    for s in range(4):
        expected = expected @ two
        assert np.abs(d.totals[s + 1] - expected).max() <= 3 * (s + 1)  # rounding, <= K/step
    # the gross demand goes straight into the step's check
    check_transitions(d.gross[0], d.totals[0])
    check_transitions(d.transitions[0], d.totals[0])
    assert allocate_rows(np.array([7]), np.array([[1 / 3, 1 / 3, 1 / 3]])).tolist() == [[3, 2, 2]]


def test_scenario_adjustments_protect_farmland_and_ecology():
    # classes 0 farmland, 1 built-up, 2 forest; one-year matrix
    p = np.array([[0.90, 0.08, 0.02], [0.0, 1.0, 0.0], [0.05, 0.05, 0.90]])
    farmland = adjust(p, transition_multipliers(3, [(0, 1, 0.5)]))
    np.testing.assert_allclose(farmland[0], [0.94, 0.04, 0.02])  # the 0.04 stays farmland
    ecology = MarkovChain(p[None]).adjusted(transition_multipliers(3, [(2, None, 0.0)]))
    np.testing.assert_allclose(ecology.over(10)[0, 2], [0, 0, 1])  # forest never leaves
    # urban priority: x2 on every gain of built-up, taken from persistence
    urban = adjust(p, transition_multipliers(3, [(None, 1, 2.0)]))
    np.testing.assert_allclose(urban[0], [0.82, 0.16, 0.02])
    # more than a row can give: off-diagonals scaled to sum to 1
    np.testing.assert_allclose(adjust(p, transition_multipliers(3, [(2, None, 20.0)]))[2],
                               [0.5, 0.5, 0.0])
    with pytest.raises(InputError, match="multiplier"):
        transition_multipliers(3, [(0, 1, -1.0)])
    with pytest.raises(InputError, match="class index"):
        transition_multipliers(3, [(0, 5, 1.0)])


def test_planner_table_becomes_steps():
    start = np.array([[100, 20, 0]])
    rows = steps_from_table(start, {2025: np.array([[90, 30, 0]]), 2030: np.array([[80, 30, 10]])},
                            2020, years_per_step=5)
    assert rows[:, 0].tolist() == [[90, 30, 0], [80, 30, 10]]
    rows = steps_from_table(start, {2024: np.array([[92, 28, 0]])}, 2020)
    assert rows.shape == (4, 1, 3) and rows[-1, 0].tolist() == [92, 28, 0]
    with pytest.raises(InputError, match="study area") as e:
        steps_from_table(start, {2024: np.array([[92, 20, 0]])}, 2020)
    assert e.value.field == "demand[2024]"
    with pytest.raises(InputError, match="whole number"):
        steps_from_table(start, {2023: np.array([[92, 28, 0]])}, 2020, years_per_step=2)


def test_bad_maps_are_named():
    a, b = two_maps()
    with pytest.raises(InputError, match="at least two years") as e:
        estimate_markov({2000: a}, 3)
    assert e.value.field == "maps"
    with pytest.raises(InputError, match="one grid") as e:
        estimate_markov({2000: a, 2005: b[:, :-1]}, 3)
    assert e.value.field == "maps[2005]"
    c = b.copy()
    c[c == 2] = 7
    with pytest.raises(InputError, match="class index 7"):
        estimate_markov({2000: a, 2005: c}, 3)
    d = b.copy()
    d[a == 0] = 255
    with pytest.raises(InputError, match="another study area"):
        estimate_markov({2000: a, 2005: d}, 3)
    with pytest.raises(InputError, match="counts"):
        project_demand(estimate_markov({2000: a, 2005: b}, 3), np.array([1, 2]), 2)


def test_markov_simulation_follows_the_projection_when_demand_is_met():
    from engine.demand import step_transitions
    from engine.landuse import allocate_step, class_counts, simulate
    from test_landuse_kernels import random_model

    index, model = random_model((60, 60), 3, 4, all_allowed=True)
    p = np.array([[[0.9, 0.06, 0.04], [0.03, 0.95, 0.02], [0.01, 0.01, 0.98]]])
    chain = MarkovChain(p)
    run = simulate(index, model, chain=chain, steps=3, seed=2)
    projected = project_demand(chain, class_counts(index, 3), 3)
    assert all(o.met for o in run.outcomes)
    # each step's gross demand came from the map as it was: here, the projection itself
    np.testing.assert_array_equal(class_counts(run.index, 3), projected.totals[-1])
    np.testing.assert_array_equal(run.outcomes[1].transition_demand, projected.gross[1])
    again = simulate(index, model, transitions=projected.gross, seed=2)
    np.testing.assert_array_equal(again.index, run.index)
    assert step_transitions(chain, class_counts(index, 3)).shape == (1, 3, 3)
    # the one loop is the plain sequence of allocate_step calls it replaced
    manual, adaptation = index, None
    for i in range(3):
        manual, outcome, adaptation = allocate_step(
            manual, model, None, transitions=step_transitions(chain, class_counts(manual, 3)),
            adaptation=adaptation, seed=2, step=i)
        np.testing.assert_array_equal(outcome.transition_met, run.outcomes[i].transition_met)
    np.testing.assert_array_equal(manual, run.index)
    with pytest.raises(InputError, match="one demand"):
        simulate(index, model, seed=2)
    with pytest.raises(InputError, match="one demand"):
        simulate(index, model, projected.targets, chain=chain, steps=3)
    with pytest.raises(InputError, match="steps"):
        simulate(index, model, chain=chain)

"""Accuracy metrics on small cases derived by hand (every number worked out in the comments),
and properties on random maps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.metrics import (agreement_map, assess, compare_with_nulls, disagreement,
                            figure_of_merit, kappa, kappa_simulation, overall_agreement,
                            random_allocation, transition_table)

# Ten cells, two classes. Per cell (start o, actual a, simulated s):
#   c0 (0,0,0) c1 (0,0,0)  persistence simulated as persistence
#   c2 (0,0,1)             false alarm
#   c3 (0,1,1) c5 (0,1,1)  hits
#   c4 (0,1,0)             miss
#   c6 (1,1,1) c7 (1,1,1)  persistence simulated as persistence
#   c8 (1,1,0)             false alarm
#   c9 (1,0,0)             hit (1 -> 0 in both)
START = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], np.uint8)
ACTUAL = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 0], np.uint8)
SIMULATED = np.array([0, 0, 1, 1, 0, 1, 1, 1, 0, 0], np.uint8)


@pytest.fixture
def table():
    return transition_table(START, ACTUAL, SIMULATED, 2)


def test_figure_of_merit_by_hand(table):
    fom = figure_of_merit(table)
    # hits B = 3 (c3 c5 c9), misses A = 1 (c4), wrong hits C = 0, false alarms D = 2 (c2 c8)
    assert (fom["hits"], fom["misses"], fom["wrong_hits"], fom["false_alarms"]) == (3, 1, 0, 2)
    assert fom["figure_of_merit"] == pytest.approx(3 / 6)  # B / (A + B + C + D)
    assert fom["producers_accuracy"] == pytest.approx(3 / 4)  # B / (A + B + C)
    assert fom["users_accuracy"] == pytest.approx(3 / 5)  # B / (B + C + D)
    # Gains of class 1: observed c3 c4 c5, simulated c2 c3 c5 -> B 2, A 1 (c4), D 1 (c2)
    one = figure_of_merit(table, 1)
    assert (one["hits"], one["misses"], one["wrong_hits"], one["false_alarms"]) == (2, 1, 0, 1)
    assert one["figure_of_merit"] == pytest.approx(2 / 4)
    # Gains of class 0: observed c9, simulated c8 c9 -> B 1, D 1 (c8)
    assert figure_of_merit(table, 0)["figure_of_merit"] == pytest.approx(1 / 2)


def test_wrong_hits_need_three_classes():
    # c0: 0 -> 1 observed, 0 -> 2 simulated (wrong hit); c1: 0 -> 2 both (hit); c2: 0 -> 1
    # observed, persistence simulated (miss).
    t = transition_table(np.array([0, 0, 0]), np.array([1, 2, 1]), np.array([2, 2, 0]), 3)
    fom = figure_of_merit(t)
    assert (fom["hits"], fom["misses"], fom["wrong_hits"], fom["false_alarms"]) == (1, 1, 1, 0)
    assert fom["figure_of_merit"] == pytest.approx(1 / 3)
    # Class 1 gained c0 and c2 in reality, nothing in the simulation: c0 a wrong hit, c2 a miss.
    assert figure_of_merit(t, 1)["figure_of_merit"] == 0.0
    # Class 2: c1 is a hit, c0 (simulated 2, actually 1) a false alarm of class 2.
    assert figure_of_merit(t, 2)["figure_of_merit"] == pytest.approx(1 / 2)


def test_agreement_and_kappa_by_hand(table):
    # Actual vs simulated agree on c0 c1 c3 c5 c6 c7 c9: 7 of 10.
    assert overall_agreement(table) == pytest.approx(0.7)
    # Actual shares (0.4, 0.6), simulated (0.5, 0.5): p_e = 0.4*0.5 + 0.6*0.5 = 0.5,
    # Kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    assert kappa(table) == pytest.approx(0.4)


def test_kappa_simulation_by_hand(table):
    # p(o=0) = 0.6: actual 0->0 3/6, 0->1 3/6; simulated 0->0 3/6, 0->1 3/6.
    # p(o=1) = 0.4: actual 1->1 3/4, 1->0 1/4; simulated 1->1 2/4, 1->0 2/4.
    # p_e(T) = 0.6 (.5*.5 + .5*.5) + 0.4 (.25*.5 + .75*.5) = 0.5
    # p_max(T) = 0.6 (.5 + .5) + 0.4 (min(.25,.5) + min(.75,.5)) = 0.9
    k = kappa_simulation(table)
    assert k["kappa_simulation"] == pytest.approx((0.7 - 0.5) / (1 - 0.5))  # 0.4
    assert k["kappa_transition"] == pytest.approx((0.9 - 0.5) / (1 - 0.5))  # 0.8
    assert k["kappa_transloc"] == pytest.approx((0.7 - 0.5) / (0.9 - 0.5))  # 0.5
    assert k["kappa_simulation"] == pytest.approx(k["kappa_transition"] * k["kappa_transloc"])


def test_quantity_and_allocation_disagreement_by_hand(table):
    # Simulated shares (0.5, 0.5), actual (0.4, 0.6): q = (0.1, 0.1), Q = 0.1.
    # Agreement on the diagonal: p_00 = 0.3 (c0 c1 c9), p_11 = 0.4 (c3 c5 c6 c7);
    # a_0 = 2 min(0.5 - 0.3, 0.4 - 0.3) = 0.2, a_1 = 2 min(0.5 - 0.4, 0.6 - 0.4) = 0.2, A = 0.2.
    d = disagreement(table)
    assert d["quantity"] == pytest.approx(0.1) and d["allocation"] == pytest.approx(0.2)
    assert [c["quantity"] for c in d["per_class"]] == pytest.approx([0.1, 0.1])
    assert [c["allocation"] for c in d["per_class"]] == pytest.approx([0.2, 0.2])
    assert d["quantity"] + d["allocation"] == pytest.approx(1 - overall_agreement(table))


def test_assess_reports_per_class_and_the_no_change_null(table):
    report = assess(table, codes=(5, 9))
    assert report["overall"]["observed_change"] == 4  # c3 c4 c5 c9
    assert report["overall"]["simulated_change"] == 5  # c2 c3 c5 c8 c9
    assert set(report["per_class"]) == {"5", "9"}
    nulls = compare_with_nulls(START, ACTUAL, SIMULATED, (5, 9), seed=1)
    no_change = nulls["null_no_change"]["overall"]
    # Persistence everywhere: no hits and no false alarms, the 4 changes are misses: FoM 0;
    # the maps agree on 6 cells.
    assert no_change["figure_of_merit"] == 0.0 and no_change["misses"] == 4
    assert no_change["overall_agreement"] == pytest.approx(0.6)
    assert nulls["model"] == report


def test_agreement_map_by_hand():
    assert agreement_map(START, ACTUAL, SIMULATED, 2).tolist() == [0, 0, 4, 1, 2, 1, 0, 0, 4, 1]


def test_random_null_model_has_the_right_quantities():
    rng = np.random.default_rng(3)
    start = rng.integers(0, 4, (60, 50)).astype(np.uint8)
    actual = start.copy()
    actual[rng.random(start.shape) < 0.2] = 2  # class 2 grows, the others shrink
    start[0, :] = 255
    eligible = np.ones(start.shape, bool)
    eligible[:, :5] = False
    out = random_allocation(start, actual, 4, seed=7, eligible=eligible)
    inside = start < 4
    assert (np.bincount(out[inside], minlength=4)
            == np.bincount(actual[inside & (actual < 4)], minlength=4)).all()
    assert (out[:, :5] == start[:, :5]).all() and (out[0] == 255).all()
    assert ((out != start) <= (out == 2)).all()  # changes go to the only growing class
    np.testing.assert_array_equal(out, random_allocation(start, actual, 4, seed=7,
                                                         eligible=eligible))
    assert not np.array_equal(out, random_allocation(start, actual, 4, seed=8,
                                                     eligible=eligible))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 5))
def test_metrics_properties_on_random_maps(seed, n):
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(seed)
    start = rng.integers(0, n, 400).astype(np.uint8)
    actual = np.where(rng.random(400) < 0.3, rng.integers(0, n, 400), start).astype(np.uint8)
    simulated = np.where(rng.random(400) < 0.3, rng.integers(0, n, 400), start).astype(np.uint8)
    t = transition_table(start, actual, simulated, n)
    assert t.sum() == 400
    if len(set(actual) | set(simulated)) > 1:
        assert kappa(t) == pytest.approx(cohen_kappa_score(actual, simulated))
    d = disagreement(t)
    assert d["quantity"] + d["allocation"] == pytest.approx(1 - overall_agreement(t))
    f = figure_of_merit(t)
    changed_somewhere = ((actual != start) | (simulated != start)).sum()
    assert f["hits"] + f["misses"] + f["wrong_hits"] + f["false_alarms"] == changed_somewhere
    k = kappa_simulation(t)
    assert k["kappa_simulation"] == pytest.approx(k["kappa_transition"] * k["kappa_transloc"])
    # A perfect simulation: FoM 1, Kappa simulation 1.
    perfect = transition_table(start, actual, actual, n)
    assert figure_of_merit(perfect)["figure_of_merit"] in (1.0,) or (actual == start).all()
    if (actual != start).any():
        assert kappa_simulation(perfect)["kappa_simulation"] == pytest.approx(1.0)

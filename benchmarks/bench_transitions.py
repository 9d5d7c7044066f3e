"""One simulated year with gross (from -> to) demand beside the same year with net demand, on
the landscape of ``bench_landuse_step.py`` (7 classes, 2 roulette passes, patch growth) up to a
Wuhan-sized grid (2931 x 2931 = 8.6 M cells).

- ``net``: :func:`engine.landuse.allocate_step` with the net change of each class (1 % of the
  cells move: three classes grow, three shrink, one is steady).
- ``transitions``: the same step with a gross matrix of the same net change (each loss split
  over the gaining classes, losses filling the gains in turn) plus swaps between the steady
  class and two others (0.2 % of the cells each way), so it moves more cells than the net
  demand and honours 49 quantities instead of 7.

``extra_info`` records the cells moved; compare rows of a group for the cost of gross demand.
Run ``.venv/bin/python -m pytest benchmarks/bench_transitions.py --benchmark-columns=min,median``.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench_landuse_step import landscape
from engine.landuse import allocate_step, class_counts

SIZES = (500, 1000, 2931)


def gross_demand(change: np.ndarray, n_cells: int) -> np.ndarray:
    """A (1, K, K) gross matrix whose net change is ``change`` (1, K), plus swaps."""
    c = change[0]
    gains, losses = np.clip(c, 0, None), np.clip(-c, 0, None)
    t = np.zeros((1, c.size, c.size), np.int64)
    for i in np.flatnonzero(losses):  # north-west corner: each loss fills the next gains
        for j in np.flatnonzero(gains):
            moved = min(losses[i], gains[j])
            t[0, i, j] += moved
            losses[i] -= moved
            gains[j] -= moved
    swap = n_cells // 500
    steady = int(np.flatnonzero(c == 0)[0]) if (c == 0).any() else 3
    for other in (0, 1):
        t[0, steady, other] += swap
        t[0, other, steady] += swap
    assert (t.sum(axis=1) - t.sum(axis=2) == change).all()
    return t


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("demand", ["net", "transitions"])
def test_landuse_year_net_vs_transitions(benchmark, n, demand):
    index, model, change = landscape(n)
    gross = gross_demand(change, n * n)
    assert (gross[0].sum(axis=1) <= class_counts(index, 7)[0]).all()

    def step():
        if demand == "net":
            return allocate_step(index, model, change, seed=7, step=1)
        return allocate_step(index, model, None, transitions=gross, seed=7, step=1)

    new, outcome, _ = step()  # compile, and check what is timed meets its demand
    assert outcome.met
    benchmark.group = f"land-use year, net vs gross demand, {n}x{n}"
    benchmark.extra_info["cells"] = n * n
    benchmark.extra_info["moved"] = int((new != index).sum())
    benchmark.pedantic(step, rounds=3 if n > 1000 else 5, iterations=1)

"""An ensemble of 8 members on the sample territory: Dask LocalCluster (2 workers) vs serial.

The ratio shows what the parallel path buys on this machine, cluster start-up included (a
LocalCluster starts in about 1-2 s and adds a few ms per task).
"""

from __future__ import annotations

import itertools

import pytest

from scenarios.ensemble import SerialExecutor, dask_executor, run_ensemble
from scenarios.schema import load_scenario

MEMBERS = 8


@pytest.fixture(scope="module")
def tim_dir(tmp_path_factory):
    from tim.build import build_from_catalog
    from tim.ingest.catalog import load_catalog
    from tim.sample import write_sample_sources
    from tim.store import save_territory

    base = tmp_path_factory.mktemp("ensemble-bench")
    territory = build_from_catalog(load_catalog(write_sample_sources(base / "sources")))
    return save_territory(territory, base / "tim")


@pytest.mark.parametrize("executor", ["serial", "dask-2-workers"])
def test_ensemble(benchmark, tim_dir, tmp_path, executor):
    scenario = load_scenario("high-growth")
    counter = itertools.count()
    run_ensemble(tim_dir, scenario, [0, 1], tmp_path / "warm", SerialExecutor())  # compile

    def once():
        out = tmp_path / f"e{next(counter)}"
        seeds = range(MEMBERS)
        if executor == "serial":
            return run_ensemble(tim_dir, scenario, seeds, out, SerialExecutor())
        with dask_executor(workers=2) as dask:
            return run_ensemble(tim_dir, scenario, seeds, out, dask)

    benchmark.group = f"ensemble of {MEMBERS} (sample, 10 years)"
    benchmark.pedantic(once, rounds=2, iterations=1)

"""Ensembles: many seeds in parallel on Dask give the same members as runs one by one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scenarios.ensemble import SerialExecutor, dask_executor, run_ensemble
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario
from tim.errors import InputError
from tim.store import save_territory

SEEDS = [3, 4, 5]


@pytest.fixture(scope="module")
def tim_dir(sample_territory, tmp_path_factory):
    return save_territory(sample_territory, tmp_path_factory.mktemp("ens") / "tim")


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("high-growth").model_copy(update={"years": 4})


@pytest.fixture(scope="module")
def serial(tim_dir, scenario, tmp_path_factory):
    return run_ensemble(tim_dir, scenario, SEEDS, tmp_path_factory.mktemp("s") / "ens",
                        SerialExecutor())


def test_probability_is_the_share_of_members_that_developed_a_cell(serial, scenario,
                                                                    sample_territory):
    built = sample_territory.classes.built.code
    start = sample_territory.get("land_use__class") == built
    runs = [run_scenario(sample_territory, scenario, seed=s) for s in SEEDS]
    for year in range(2026, 2030):
        share = np.mean([(r.land_use[year] == built) & ~start for r in runs], axis=0)
        np.testing.assert_allclose(serial.probability[year], share, atol=1e-7)
    final = serial.probability[2029]
    assert final.max() == 1.0 and 0 < (final > 0).sum()
    # Different seeds develop different cells: some cells only in some members.
    assert ((final > 0) & (final < 1)).any()


def test_intervals_are_quantiles_over_members(serial):
    table = serial.intervals.set_index(["year", "indicator"])
    values = [m.indicators.set_index(["year", "indicator"])["value"] for m in serial.members]
    built = np.array([v.loc[(2029, "built_up_area")] for v in values])
    row = table.loc[(2029, "built_up_area")]
    assert row["mean"] == pytest.approx(built.mean())
    assert row["p50"] == pytest.approx(np.quantile(built, 0.5))
    assert row["p05"] <= row["p50"] <= row["p95"] and row["min"] == built.min()
    # the P10-P90 band the charts draw
    assert row["p10"] == pytest.approx(np.quantile(built, 0.1))
    assert row["p90"] == pytest.approx(np.quantile(built, 0.9))
    assert row["p05"] <= row["p10"] <= row["p50"] <= row["p90"] <= row["p95"]
    assert (serial.path / "probability_built.tif").is_file()
    # what the reports read of it; an ensemble written before P10/P90 still reads
    from scenarios.ensemble import band_columns, read_ensemble

    summary = read_ensemble(serial.path)
    assert summary.seeds == list(SEEDS) and band_columns(summary.intervals)[:2] == ("p10", "p90")
    assert summary.of(serial.members[0].manifest)
    old = summary.intervals.drop(columns=["p10", "p90"])
    assert band_columns(old) == ("p05", "p95", 5, 95)


def test_a_folder_that_is_no_ensemble_is_refused_by_name(tmp_path):
    from scenarios.ensemble import read_ensemble
    from tim.errors import InputError

    (tmp_path / "manifest.json").write_text('{"format": "territory-twin/run"}')
    (tmp_path / "indicator_intervals.csv").write_text("year\n2025\n")
    with pytest.raises(InputError, match="not an ensemble"):
        read_ensemble(tmp_path)
    with pytest.raises(InputError, match="not a readable ensemble"):
        read_ensemble(tmp_path / "missing")


def test_dask_cluster_on_loopback_gives_the_same_members(tim_dir, scenario, serial, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with dask_executor(cluster.scheduler_address) as executor:
            result = run_ensemble(tim_dir, scenario, SEEDS, tmp_path / "ens", executor)
    assert result.path.joinpath("manifest.json").is_file()
    for a, b in zip(serial.members, result.members):
        for year in a.years:
            np.testing.assert_array_equal(a.land_use(year), b.land_use(year))
    pd.testing.assert_frame_equal(serial.intervals, result.intervals)


def test_cli_ensemble_on_a_local_cluster(tim_dir, tmp_path):
    scenario = tmp_path / "short.yaml"
    scenario.write_text("extends: baseline\nname: short\ntitle: Short\nyears: 2\n")
    done = subprocess.run([sys.executable, "-m", "viz.cli", "ensemble", str(scenario), "--tim",
                           str(tim_dir), "--out", str(tmp_path / "ens"), "--members", "2",
                           "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 members on dask LocalCluster(2 workers)" in done.stdout
    assert sorted(p.name for p in (tmp_path / "ens/members").iterdir()) == ["seed-0", "seed-1"]


def test_an_ensemble_needs_distinct_seeds(tim_dir, scenario, tmp_path):
    with pytest.raises(InputError, match="at least two distinct seeds"):
        run_ensemble(tim_dir, scenario, [1, 1], tmp_path / "e")
    assert not (tmp_path / "e").exists()

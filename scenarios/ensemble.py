"""Ensembles: one scenario, many seeds, run in parallel; probability maps and indicator intervals.

Members run through a small executor interface: in-process (:class:`SerialExecutor`) or on Dask
(:func:`dask_executor`: a local cluster by default, any running scheduler by address) - the
same code either way. Each member loads the TIM from disk on its worker (once per worker
process), runs the scenario with its own seed and writes an ordinary run directory; the
workers return only small summaries and the aggregation reads the rasters back, so nothing
large crosses the network. Workers must see the output directory (local disk or a shared
file system).

Layout of ``ENSEMBLE_DIR``::

    manifest.json             scenario, seeds, executor, members, timings, versions
    members/seed-<n>/          one run directory per member (see scenarios.rundir)
    probability_built.tif     per simulated year (one band each, band description = year):
                              share of members in which the cell became built-up since the
                              start year (float32, 0..1)
    indicator_intervals.csv   year, indicator, unit, mean, sd, p05, p10, p50, p90, p95, min,
                              max (ensembles written before p10/p90 existed lack those two:
                              :func:`band_columns` falls back to p05/p95)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np
import pandas as pd

from scenarios.rundir import RunDirectory, software_versions
from scenarios.schema import Scenario
from tim.atomic import atomic_directory
from tim.errors import InputError
from tim.store import write_raster

log = logging.getLogger(__name__)

FORMAT = "territory-twin/ensemble"
FORMAT_VERSION = 1
QUANTILES = {"p05": 0.05, "p10": 0.1, "p50": 0.5, "p90": 0.9, "p95": 0.95}
#: The band charts draw around the median: 10 % to 90 % of the members.
BAND = ("p10", "p90")
#: The band of ensembles written before :data:`BAND`'s quantiles were.
OLD_BAND = ("p05", "p95")


class Executor(Protocol):
    """Runs a function over argument lists; returns results in order."""

    name: str

    def map(self, fn: Callable[..., Any], *iterables: Sequence[Any]) -> list[Any]: ...


class SerialExecutor:
    """Members one after another in this process (no Dask): for small runs and debugging."""

    name = "serial"

    def map(self, fn: Callable[..., Any], *iterables: Sequence[Any]) -> list[Any]:
        return [fn(*args) for args in zip(*iterables)]


@dataclass
class DaskExecutor:
    """Members as Dask tasks on ``client``'s cluster."""

    client: Any
    name: str = "dask"

    def map(self, fn: Callable[..., Any], *iterables: Sequence[Any]) -> list[Any]:
        futures = self.client.map(fn, *iterables, pure=False)
        return self.client.gather(futures)


@contextlib.contextmanager
def dask_executor(scheduler: str | None = None, workers: int = 2) -> Iterator[DaskExecutor]:
    """A Dask executor: connected to ``scheduler`` (``tcp://host:port``) if given, else to a
    new local cluster of ``workers`` single-threaded processes on the loopback interface."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the Dask scheduler ({type(exc).__name__}: "
                             f"{str(exc)[:160]})", field="--scheduler", value=scheduler,
                             hint="start one with 'dask scheduler', or drop --scheduler for a "
                                  "local cluster") from None
        with client:
            yield DaskExecutor(client, name=f"dask {scheduler}")
        return
    if workers < 1:
        raise InputError("must be at least 1", field="--workers", value=workers)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield DaskExecutor(client, name=f"dask LocalCluster({workers} workers)")


@functools.lru_cache(maxsize=2)
def _territory(tim_dir: str):
    """The TIM, read once per worker process and reused by every member it runs."""
    from tim.store import load_territory

    return load_territory(tim_dir)


def run_member(tim_dir: str, scenario: dict[str, Any], seed: int, out_dir: str,
               numba_threads: int = 1) -> dict[str, Any]:
    """Run one member and write its run directory; return a small summary (runs on workers)."""
    import numba

    from scenarios.rundir import write_run
    from scenarios.runner import run_scenario

    numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    started = time.perf_counter()
    result = run_scenario(_territory(tim_dir), Scenario.model_validate(scenario), seed=seed)
    write_run(result, out_dir, tim=tim_dir, command=["twin", "ensemble", f"--seed={seed}"])
    return {"seed": seed, "run_dir": out_dir, "seconds": time.perf_counter() - started}


@dataclass(frozen=True)
class EnsembleResult:
    """The written ensemble: its directory, members and aggregates."""

    path: Path
    members: list[RunDirectory]
    probability: dict[int, np.ndarray]
    intervals: pd.DataFrame


def run_ensemble(tim_dir: str | Path, scenario: Scenario, seeds: Sequence[int],
                 out_dir: str | Path, executor: Executor | None = None) -> EnsembleResult:
    """Run ``scenario`` once per seed on ``executor`` and write the ensemble to ``out_dir``.

    The directory appears only when every member has finished and the aggregates are written.
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise InputError("an ensemble needs at least two distinct seeds", field="seeds",
                         value=seeds)
    executor = executor or SerialExecutor()
    tim_dir = str(Path(tim_dir).resolve())
    started = time.perf_counter()
    with atomic_directory(out_dir) as staging:
        members_dir = staging / "members"
        members_dir.mkdir()
        targets = [str(members_dir / f"seed-{seed}") for seed in seeds]
        summaries = executor.map(run_member, [tim_dir] * len(seeds),
                                 [scenario.to_dict()] * len(seeds), seeds, targets)
        members = [RunDirectory.open(t) for t in targets]
        probability = development_probability(members)
        intervals = indicator_intervals(members)
        grid = members[0].grid
        _write_probability(staging / "probability_built.tif", probability, grid)
        intervals.to_csv(staging / "indicator_intervals.csv", index=False)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "scenario": scenario.to_dict(), "scenario_sha256": scenario.sha256(),
            "seeds": seeds, "executor": executor.name, "tim": tim_dir,
            "members": [{"seed": s["seed"], "run_dir": f"members/seed-{s['seed']}",
                         "seconds": round(s["seconds"], 3)} for s in summaries],
            "years": members[0].years,
            "timings_s": {"total": round(time.perf_counter() - started, 3)},
            "versions": software_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    out_dir = Path(out_dir)
    members = [RunDirectory.open(out_dir / "members" / f"seed-{seed}") for seed in seeds]
    return EnsembleResult(out_dir, members, probability, intervals)


def development_probability(members: Sequence[RunDirectory]) -> dict[int, np.ndarray]:
    """Per year, the share of members in which each cell is built-up but was not at the start."""
    built = members[0].classes.built.code
    years = members[0].years
    start = members[0].land_use(years[0]) == built
    out = {}
    for year in years[1:]:
        count = np.zeros(start.shape, dtype=np.int32)
        for member in members:
            count += (member.land_use(year) == built) & ~start
        out[year] = (count / len(members)).astype(np.float32)
    return out


def indicator_intervals(members: Sequence[RunDirectory]) -> pd.DataFrame:
    """Mean, standard deviation, 5/10/50/90/95 % quantiles, min and max of every indicator
    per year."""
    frame = pd.concat([m.indicators.assign(seed=m.manifest["seed"]) for m in members])
    grouped = frame.groupby(["year", "indicator", "unit"])["value"]
    out = grouped.agg(mean="mean", sd="std", min="min", max="max")
    for name, q in QUANTILES.items():
        out[name] = grouped.quantile(q)
    columns = ["mean", "sd", *QUANTILES, "min", "max"]
    return out[columns].reset_index()


@dataclass(frozen=True)
class EnsembleSummary:
    """What a report reads of an ensemble folder: its manifest and indicator intervals."""

    path: Path
    manifest: dict[str, Any]
    intervals: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest["seeds"]]

    def of(self, run_manifest: dict[str, Any]) -> bool:
        """Whether this ensemble ran the run's scenario (same scenario file contents, else the
        same scenario name)."""
        sha = run_manifest.get("scenario_sha256")
        if sha and self.manifest.get("scenario_sha256"):
            return sha == self.manifest["scenario_sha256"]
        return run_manifest["scenario"]["name"] == self.manifest["scenario"]["name"]


def read_ensemble(path: str | Path) -> EnsembleSummary:
    """The manifest and intervals of an ensemble folder (``twin ensemble --out``).

    Raises
    ------
    tim.errors.InputError
        ``path`` is not an ensemble folder (names the file and what is wrong).
    """
    path = Path(path)
    manifest_path = path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        intervals = pd.read_csv(path / "indicator_intervals.csv")
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable ensemble folder ({type(exc).__name__})",
                         source=str(path), field="manifest.json/indicator_intervals.csv",
                         hint="make one with 'twin ensemble ... --out DIR'") from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"not an ensemble (format {manifest.get('format')!r})",
                         source=str(manifest_path), field="format", value=manifest.get("format"))
    return EnsembleSummary(path, manifest, intervals)


def band_columns(intervals: pd.DataFrame) -> tuple[str, str, int, int]:
    """The columns of the band to draw and its quantiles in percent: P10-P90, or P5-P95 for
    an ensemble written before P10/P90 were.

    >>> band_columns(pd.DataFrame(columns=["p05", "p10", "p50", "p90", "p95"]))
    ('p10', 'p90', 10, 90)
    >>> band_columns(pd.DataFrame(columns=["p05", "p50", "p95"]))
    ('p05', 'p95', 5, 95)
    """
    lo, hi = BAND if set(BAND) <= set(intervals.columns) else OLD_BAND
    return lo, hi, round(100 * QUANTILES[lo]), round(100 * QUANTILES[hi])


def _write_probability(path: Path, probability: dict[int, np.ndarray], grid: Any) -> None:
    years = sorted(probability)
    write_raster(path, np.stack([probability[y] for y in years]).astype(np.float32), grid, None,
                 descriptions=[str(y) for y in years])

"""Calibration of the CA parameters on one pair of observed maps, maximising the Figure of
Merit of the simulated end map (Pontius et al. 2008) by differential evolution (Storn & Price
1997).

What is fitted: the neighbourhood size (odd, 3..15) and one neighbourhood weight per class
(FLUS/PLUS), the inertia of the current class (one value for all classes, log scale), the
stochastic dispersion ``alpha`` (White & Engelen 1993), the spontaneous term (log scale), and
the patch-size scale and compactness (FUTURES/PLUS patches). Every evaluation runs the model
from the start map with the observed end-year class areas as demand (interpolated linearly
over the years between) and the same random seed, so the objective is deterministic and
candidate parameter sets are compared on the same draws (common random numbers).

Two searches:

``screen_refine`` (default)
    Screen, then refine. On a large grid the candidates are first simulated on a window of
    about ``screen_cells`` cells placed where the observed change is densest (same cell size,
    so neighbourhood and patch sizes keep their meaning; the window's own observed class areas
    are its demand), by a generation-synchronous differential evolution (best/1/bin, dithered
    mutation 0.5-1, crossover 0.7, as scipy's defaults) that stops once converged: the best
    FoM improved by less than ``tol`` (relative) over the last ``patience`` generations, or the
    population's FoM spread fell below ``tol`` x its mean. The ``refine`` best distinct
    candidates are then simulated on the full grid and the best there wins. A generation's
    candidates are independent, so they run on any executor (serial, or Dask workers, like
    ensembles); repeated candidates (the integer neighbourhood size makes them common) are
    simulated once; FoM counts of a batch come from one pass over the grid
    (:mod:`engine.kernels.scoring`). The result depends on the seeds only, never on the
    executor or the number of threads.
``scipy_de``
    The search of the first version, kept as the baseline of ``benchmarks/bench_calibration.py``:
    :func:`scipy.optimize.differential_evolution` on the full grid, ``maxiter`` generations
    without a convergence test, one simulation at a time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from engine.kernels.scoring import figure_of_merit_from_counts, fom_counts
from engine.landuse import (CAParams, Constraints, LandUseModel, class_counts,
                            interpolate_targets, simulate)
from engine.metrics import figure_of_merit, transition_table
from tim.errors import InputError

log = logging.getLogger(__name__)

#: (low, high) of each fitted quantity; sizes are 3 + 2 * i for the integer i.
BOUNDS = {"size_index": (0, 6), "weight": (0.0, 1.0), "log10_inertia": (-1.0, 1.5),
          "alpha": (0.0, 2.0), "log10_spontaneous": (-4.0, -0.5), "patch_scale": (0.0, 1.5),
          "patch_compactness": (0.0, 4.0)}

#: Called after every evaluation with (evaluations done, evaluations planned, best FoM).
Progress = Callable[[int, int, float], None]
SEARCHES = ("screen_refine", "scipy_de")


class Executor(Protocol):
    """What runs a generation's candidates: ``scenarios.ensemble.SerialExecutor`` or
    ``DaskExecutor`` (``map(fn, *iterables)`` returning results in order)."""

    name: str

    def map(self, fn: Callable[..., Any], *iterables: Sequence[Any]) -> list[Any]: ...


def decode(x: np.ndarray, n_classes: int, base: CAParams) -> CAParams:
    """The parameters a DE vector stands for (layout: size index, K weights, inertia, alpha,
    spontaneous, patch scale, patch compactness)."""
    k = n_classes
    return dataclasses.replace(
        base, neighbourhood_size=3 + 2 * int(round(x[0])),
        weights=tuple(float(w) for w in x[1:1 + k]),
        inertia=(float(10 ** x[1 + k]),) * k, alpha=float(x[2 + k]),
        spontaneous=float(10 ** x[3 + k]), patch_scale=float(x[4 + k]),
        patch_compactness=float(x[5 + k]))


def search_space(n_classes: int) -> tuple[list[tuple[float, float]], np.ndarray]:
    """DE bounds and integrality flags for :func:`decode`'s layout."""
    b = BOUNDS
    bounds = [b["size_index"], *[b["weight"]] * n_classes, b["log10_inertia"], b["alpha"],
              b["log10_spontaneous"], b["patch_scale"], b["patch_compactness"]]
    integral = np.zeros(len(bounds), dtype=bool)
    integral[0] = True
    return bounds, integral


@dataclass
class CalibrationResult:
    """The best parameters, their FoM and the history of the search."""

    params: CAParams
    figure_of_merit: float
    history: list[dict] = field(default_factory=list)  # evaluation, generation, fom, best
    evaluations: int = 0
    seconds: float = 0.0
    message: str = ""
    convergence: dict[str, Any] = field(default_factory=dict)


def end_targets(start: np.ndarray, end: np.ndarray, model: LandUseModel,
                steps: int) -> np.ndarray:
    """Yearly targets from the start map's class areas to the end map's (same study area)."""
    c = model.constraints
    if ((start < model.n_classes) != (end < model.n_classes)).any():
        raise InputError("the start and end maps must cover the same study area",
                         field="land_use__class")
    return interpolate_targets(class_counts(start, model.n_classes, c.region, c.n_regions),
                               class_counts(end, model.n_classes, c.region, c.n_regions),
                               steps)


def figure_of_merit_of(params: CAParams, start: np.ndarray, end: np.ndarray,
                       model: LandUseModel, targets: np.ndarray, seed: int) -> tuple[float,
                                                                                    np.ndarray]:
    """Simulate from ``start`` with ``params`` and score the result against ``end``."""
    run = dataclasses.replace(model, params=params)
    simulated = simulate(start, run, targets, seed=seed).index
    fom = figure_of_merit(transition_table(start, end, simulated, model.n_classes))
    value = fom["figure_of_merit"]
    return (0.0 if np.isnan(value) else value), simulated



@dataclass(frozen=True, eq=False)
class Problem:
    """One objective: simulate ``start`` -> ``end`` with candidate parameters and score it.

    ``targets`` are the (steps, regions, K) class areas the simulation must meet, ``seed``
    keys its random draws (the same for every candidate: common random numbers).
    """

    start: np.ndarray
    end: np.ndarray
    model: LandUseModel
    targets: np.ndarray
    seed: int

    @property
    def cells(self) -> int:
        return int(self.start.size)

    def simulate(self, x: np.ndarray) -> np.ndarray:
        """The simulated end map of the DE vector ``x``."""
        params = decode(x, self.model.n_classes, self.model.params)
        return simulate(self.start, with_params(self.model, params), self.targets,
                        seed=self.seed).index

    def evaluate(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """FoM of each candidate; the maps are scored together in one pass
        (:func:`engine.kernels.scoring.fom_counts`)."""
        if not len(xs):
            return np.zeros(0)
        maps = np.stack([self.simulate(np.asarray(x, dtype=np.float64)) for x in xs])
        return figure_of_merit_from_counts(
            fom_counts(self.start, self.end, maps, self.model.n_classes))


def with_params(model: LandUseModel, params: CAParams) -> LandUseModel:
    """``model`` with other CA parameters, without re-validating its arrays.

    ``dataclasses.replace`` would rerun ``LandUseModel.__post_init__``, whose finiteness and
    sign checks of the (rows, cols, K) suitability cost 0.2-0.3 s on Wuhan - as much as
    scoring a candidate. The arrays are the validated ones; only the parameters are checked.
    """
    if len(params.weights) != model.n_classes or len(params.inertia) != model.n_classes:
        params.per_class("weights", model.n_classes)
        params.per_class("inertia", model.n_classes)
    out = copy.copy(model)
    object.__setattr__(out, "params", params)
    return out


def change_window(start: np.ndarray, end: np.ndarray, n_classes: int, cells: int,
                  block: int = 32) -> tuple[slice, slice]:
    """The window of about ``cells`` cells (the grid's aspect ratio, aligned on ``block``
    cells) holding the most observed change; the whole grid if it is not larger.

    Examples
    --------
    >>> a = np.zeros((8, 8), np.uint8); b = a.copy(); b[6:, 5:7] = 1
    >>> change_window(a, b, 2, 16, block=2)
    (slice(4, 8, None), slice(4, 8, None))
    """
    rows, cols = start.shape
    if rows * cols <= cells:
        return slice(0, rows), slice(0, cols)
    side = math.sqrt(cells / (rows * cols))
    br, bc = -(-rows // block), -(-cols // block)
    hb, wb = max(1, min(br, round(br * side))), max(1, min(bc, round(bc * side)))
    changed = ((start != end) & (start < n_classes) & (end < n_classes)).astype(np.int64)
    padded = np.zeros((br * block, bc * block), np.int64)
    padded[:rows, :cols] = changed
    per_block = padded.reshape(br, block, bc, block).sum(axis=(1, 3))
    table = np.zeros((br + 1, bc + 1), np.int64)
    table[1:, 1:] = per_block.cumsum(0).cumsum(1)
    sums = table[hb:, wb:] - table[:-hb, wb:] - table[hb:, :-wb] + table[:-hb, :-wb]
    i, j = np.unravel_index(int(np.argmax(sums)), sums.shape)  # first maximum: deterministic
    r0, c0 = int(i) * block, int(j) * block
    return slice(r0, min(rows, r0 + hb * block)), slice(c0, min(cols, c0 + wb * block))


def crop_problem(problem: Problem, window: tuple[slice, slice]) -> Problem:
    """The problem on ``window`` of the grid, with the window's own observed areas as demand."""
    def cut(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(a[window])

    m, c = problem.model, problem.model.constraints
    constraints = dataclasses.replace(c, forbid=cut(c.forbid), policy=cut(c.policy),
                                      region=cut(c.region))
    model = dataclasses.replace(m, suitability=cut(m.suitability), constraints=constraints)
    start, end = cut(problem.start), cut(problem.end)
    targets = end_targets(start, end, model, problem.targets.shape[0])
    return Problem(start, end, model, targets, problem.seed)


_ARRAYS = ("start", "end", "targets", "suitability", "forbid", "policy", "policy_weight",
           "conversion", "region")


def save_problem(problem: Problem, path: str | Path) -> str:
    """Write ``problem`` as one uncompressed ``.npz`` that Dask workers load once each."""
    m, c = problem.model, problem.model.constraints
    arrays = {"start": problem.start, "end": problem.end, "targets": problem.targets,
              "suitability": m.suitability, "forbid": c.forbid, "policy": c.policy,
              "policy_weight": c.policy_weight, "conversion": c.conversion,
              "region": np.zeros(0, np.uint16) if c.region is None else c.region,
              "codes": np.asarray(m.codes, np.int64),
              "scalars": np.array([problem.seed, c.n_regions, c.region is not None], np.int64),
              "params": np.array(repr(dataclasses.astuple(m.params)))}
    for k, sizes in enumerate(m.patch_sizes):
        arrays[f"patch_sizes_{k}"] = sizes
    path = Path(path)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return str(path)


@functools.lru_cache(maxsize=4)
def load_problem(path: str) -> Problem:
    """The problem :func:`save_problem` wrote (cached: each worker process reads it once)."""
    import ast

    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    seed, n_regions, has_region = (int(v) for v in a["scalars"])
    codes = tuple(int(v) for v in a["codes"])
    fields = [f.name for f in dataclasses.fields(CAParams)]
    params = CAParams(**dict(zip(fields, ast.literal_eval(str(a["params"])))))
    constraints = Constraints(a["forbid"], a["policy"], a["policy_weight"], a["conversion"],
                              a["region"] if has_region else None, n_regions)
    sizes = tuple(a[f"patch_sizes_{k}"] for k in range(len(codes))
                  if f"patch_sizes_{k}" in a)
    model = LandUseModel(codes, a["suitability"], params, constraints, sizes)
    return Problem(a["start"], a["end"], model, a["targets"], seed)


def evaluate_candidates(problem: Problem | str, xs: Sequence[np.ndarray],
                        numba_threads: int | None = None) -> list[float]:
    """FoM of each DE vector of ``xs`` on ``problem`` (or the file :func:`save_problem`
    wrote): the task an executor runs for a chunk of a generation."""
    if numba_threads is not None:
        import numba

        numba.set_num_threads(min(numba_threads, numba.config.NUMBA_NUM_THREADS))
    if isinstance(problem, str):
        problem = load_problem(problem)
    return [float(v) for v in problem.evaluate(xs)]


def calibrate(start: np.ndarray, end: np.ndarray, model: LandUseModel, *, steps: int,
              seed: int = 0, maxiter: int = 8, popsize: int = 3, search_seed: int = 0,
              progress: Progress | None = None, search: str = "screen_refine",
              executor: Executor | None = None, tol: float = 0.005, patience: int = 3,
              refine: int = 4, screen_cells: int = 2_000_000,
              scratch: str | Path | None = None) -> CalibrationResult:
    """Fit the CA parameters on ``start`` -> ``end`` (class-index maps, same study area).

    ``model`` carries the suitability, constraints and patch sizes; its parameters supply
    whatever is not fitted (e.g. the number of roulette passes). Both searches run at most
    ``maxiter`` generations after the initial population of ``popsize`` x (number of
    parameters) candidates (see the module docs for ``search``).

    Parameters
    ----------
    executor : runs each generation's candidates (default: serially in this process). With
        Dask, the problem is written once to ``scratch`` (default: a temporary directory;
        remote workers must see it) and each worker reads it once.
    tol, patience : convergence test of ``screen_refine``: stop when the best FoM rose by less
        than ``tol`` (relative) over ``patience`` generations, or the population's FoM spread
        (standard deviation) is below ``tol`` x its mean.
    refine : how many of the best distinct screened candidates are simulated on the full grid.
    screen_cells : size of the screening window; grids up to this size are screened whole.
    """
    if search not in SEARCHES:
        raise InputError(f"unknown search (use {', '.join(SEARCHES)})", field="search",
                         value=search)
    if maxiter < 0 or popsize < 1 or refine < 1 or patience < 1 or not tol >= 0:
        raise InputError("needs maxiter >= 0, popsize >= 1, refine >= 1, patience >= 1, "
                         "tol >= 0", field="search",
                         value=(maxiter, popsize, refine, patience, tol))
    problem = Problem(start, end, model, end_targets(start, end, model, steps), seed)
    if search == "scipy_de":
        return _scipy_de(problem, maxiter=maxiter, popsize=popsize, search_seed=search_seed,
                         progress=progress)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="calibration-") as tmp:
        return _screen_refine(problem, _Runner(executor, Path(tmp)), maxiter=maxiter,
                              popsize=popsize, search_seed=search_seed, tol=tol,
                              patience=patience, refine=refine, screen_cells=screen_cells,
                              progress=progress)


class _Runner:
    """Evaluates candidates on an executor, once each (a cache keyed on the decoded vector)."""

    #: candidates per Dask task: enough to amortise the task overhead and share one scoring
    #: pass, few enough to keep both workers busy to the end of a generation.
    CHUNK = 2

    def __init__(self, executor: Executor | None, scratch: Path) -> None:
        self.executor, self.scratch = executor, scratch
        self.files: dict[int, str] = {}
        self.cache: dict[tuple[int, bytes], float] = {}
        self.simulations = 0

    def evaluate(self, problem: Problem, xs: np.ndarray) -> np.ndarray:
        keys = [(id(problem), np.asarray(x, np.float64).tobytes()) for x in xs]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            vectors = [np.frombuffer(k[1], np.float64) for k in todo]
            for key, value in zip(todo, self._run(problem, vectors)):
                self.cache[key] = value
            self.simulations += len(todo)
        return np.array([self.cache[k] for k in keys])

    def _run(self, problem: Problem, xs: list[np.ndarray]) -> list[float]:
        if self.executor is None or getattr(self.executor, "name", "") == "serial":
            return evaluate_candidates(problem, xs)
        if id(problem) not in self.files:
            self.files[id(problem)] = save_problem(
                problem, self.scratch / f"problem-{len(self.files)}.npz")
        chunks = [xs[i:i + self.CHUNK] for i in range(0, len(xs), self.CHUNK)]
        done = self.executor.map(evaluate_candidates, [self.files[id(problem)]] * len(chunks),
                                 chunks, [1] * len(chunks))
        return [v for chunk in done for v in chunk]


def _screen_refine(full: Problem, runner: _Runner, *, maxiter: int, popsize: int,
                   search_seed: int, tol: float, patience: int, refine: int,
                   screen_cells: int, progress: Progress | None) -> CalibrationResult:
    started = time.perf_counter()
    n = full.model.n_classes
    window = change_window(full.start, full.end, n, screen_cells)
    screen = full if full.start[window].shape == full.start.shape else \
        crop_problem(full, window)
    bounds, integral = search_space(n)
    low, high = np.array(bounds).T
    dims = len(bounds)
    size = max(5, popsize * dims)
    rng = np.random.default_rng(search_seed)
    planned = (maxiter + 1) * size + (refine if screen is not full else 0)
    history: list[dict] = []
    best_of: dict[str, float] = {}  # per stage: screen and full-grid FoM are not comparable

    def snap(x: np.ndarray) -> np.ndarray:
        return np.where(integral, np.round(x), x)

    def record(stage: str, generation: int, foms: np.ndarray) -> None:
        for fom in foms:
            best_of[stage] = max(float(fom), best_of.get(stage, -np.inf))
            history.append({"evaluation": len(history) + 1, "generation": generation,
                            "stage": stage, "figure_of_merit": float(fom),
                            "best": best_of[stage]})
        if progress is not None:
            progress(len(history), max(planned, len(history)), history[-1]["best"])

    def summary(generation: int) -> dict[str, Any]:
        return {"generation": generation, "best": float(energy.max()),
                "mean": float(energy.mean()), "std": float(energy.std())}

    # Latin hypercube: one draw in each of ``size`` strata per dimension.
    strata = (rng.permuted(np.tile(np.arange(size), (dims, 1)), axis=1).T
              + rng.random((size, dims))) / size
    population = snap(low + strata * (high - low))
    energy = runner.evaluate(screen, population)
    record("screen", 0, energy)
    generations = [summary(0)]
    reason, converged = f"stopped at the generation limit ({maxiter})", False
    generation = 0
    for generation in range(1, maxiter + 1):
        best = population[int(np.argmax(energy))]
        scale = rng.uniform(0.5, 1.0)  # dither, once per generation (as scipy)
        trials = np.empty_like(population)
        for i in range(size):
            r1, r2 = rng.choice(np.delete(np.arange(size), i), 2, replace=False)
            mutant = best + scale * (population[r1] - population[r2])
            cross = rng.random(dims) < 0.7
            cross[rng.integers(dims)] = True
            trial = np.where(cross, mutant, population[i])
            outside = (trial < low) | (trial > high)
            trial[outside] = low[outside] + rng.random(int(outside.sum())) * \
                (high - low)[outside]
            trials[i] = snap(trial)
        scores = runner.evaluate(screen, trials)
        record("screen", generation, scores)
        better = scores >= energy
        population[better], energy[better] = trials[better], scores[better]
        now = summary(generation)
        generations.append(now)
        top, mean = now["best"], now["mean"]
        if generation >= patience:
            before = generations[generation - patience]["best"]
            now["relative_gain"] = gain = (top - before) / top if top > 0 else 0.0
            if gain < tol:
                reason = (f"converged: best FoM rose {gain:.2%} over the last {patience} "
                          f"generations (< {tol:.2%})")
                converged = True
        if not converged and now["std"] <= tol * abs(mean):
            reason = f"converged: population FoM spread {now['std']:.2g} <= {tol} x mean"
            converged = True
        log.info("generation %d: best FoM %.4f (mean %.4f)", generation, top, mean)
        if converged:
            break

    order = np.argsort(-energy, kind="stable")
    if screen is full:
        chosen, fom = population[order[0]], float(energy[order[0]])
    else:
        # Distinct candidates, best first, from the final population (the survivors).
        picks = list({population[i].tobytes(): population[i] for i in order}.values())[:refine]
        finals = runner.evaluate(full, np.array(picks))
        record("full grid", generation, finals)
        winner = int(np.argmax(finals))
        chosen, fom = picks[winner], float(finals[winner])
    rows, cols = window
    convergence = {
        "search": "screen_refine", "converged": converged, "criterion": reason,
        "tolerance": tol, "patience": patience, "generations": generation,
        "population": size, "screen_window": [rows.start, rows.stop, cols.start, cols.stop],
        "screen_cells": int(screen.cells), "full_grid_candidates": 0 if screen is full else
        min(refine, len(order)), "per_generation": generations}
    log.info("search %s after %d simulations", reason, runner.simulations)
    return CalibrationResult(decode(chosen, n, full.model.params), fom, history,
                             runner.simulations, time.perf_counter() - started, reason,
                             convergence)


def _scipy_de(problem: Problem, *, maxiter: int, popsize: int, search_seed: int,
              progress: Progress | None) -> CalibrationResult:
    """The first version's search (scipy's DE on the full grid), kept as the baseline."""
    from scipy.optimize import differential_evolution

    n = problem.model.n_classes
    bounds, integral = search_space(n)
    planned = (maxiter + 1) * popsize * len(bounds)
    history: list[dict] = []
    state = {"generation": 0, "best": -np.inf}
    started = time.perf_counter()

    def objective(x: np.ndarray) -> float:
        fom, _ = figure_of_merit_of(decode(x, n, problem.model.params), problem.start,
                                    problem.end, problem.model, problem.targets,
                                    problem.seed)
        state["best"] = max(state["best"], fom)
        history.append({"evaluation": len(history) + 1, "generation": state["generation"],
                        "stage": "full grid", "figure_of_merit": fom, "best": state["best"]})
        if progress is not None:
            progress(len(history), planned, state["best"])
        return -fom

    def next_generation(*_args, **_kwargs) -> None:
        state["generation"] += 1
        log.info("generation %d: best FoM %.4f", state["generation"], state["best"])

    result = differential_evolution(
        objective, bounds, integrality=integral, maxiter=maxiter, popsize=popsize,
        seed=search_seed, polish=False, init="latinhypercube", updating="immediate",
        callback=next_generation)
    convergence = {"search": "scipy_de", "converged": bool(result.success),
                   "criterion": str(result.message), "generations": state["generation"]}
    return CalibrationResult(decode(result.x, n, problem.model.params), -float(result.fun),
                             history, int(result.nfev), time.perf_counter() - started,
                             str(result.message), convergence)

"""Calibration of the CA parameters on one pair of observed maps, by differential evolution
(Storn & Price 1997, as implemented in :func:`scipy.optimize.differential_evolution`)
maximising the Figure of Merit of the simulated end map (Pontius et al. 2008).

What is fitted: the neighbourhood size (odd, 3..15) and one neighbourhood weight per class
(FLUS/PLUS), the inertia of the current class (one value for all classes, log scale), the
stochastic dispersion ``alpha`` (White & Engelen 1993), the spontaneous term (log scale), and
the patch-size scale and compactness (FUTURES/PLUS patches). Every evaluation runs the model
from the start map with the observed end-year class areas as demand (interpolated linearly
over the years between) and the same random seed, so the objective is deterministic and
candidate parameter sets are compared on the same draws (common random numbers).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.landuse import (CAParams, LandUseModel, class_counts, interpolate_targets,
                            simulate)
from engine.metrics import figure_of_merit, transition_table
from tim.errors import InputError

log = logging.getLogger(__name__)

#: (low, high) of each fitted quantity; sizes are 3 + 2 * i for the integer i.
BOUNDS = {"size_index": (0, 6), "weight": (0.0, 1.0), "log10_inertia": (-1.0, 1.5),
          "alpha": (0.0, 2.0), "log10_spontaneous": (-4.0, -0.5), "patch_scale": (0.0, 1.5),
          "patch_compactness": (0.0, 4.0)}

#: Called after every evaluation with (evaluations done, evaluations planned, best FoM).
Progress = Callable[[int, int, float], None]


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


def calibrate(start: np.ndarray, end: np.ndarray, model: LandUseModel, *, steps: int,
              seed: int = 0, maxiter: int = 8, popsize: int = 4, search_seed: int = 0,
              progress: Progress | None = None) -> CalibrationResult:
    """Fit the CA parameters on ``start`` -> ``end`` (class-index maps, same study area).

    ``model`` carries the suitability, constraints and patch sizes; its parameters supply
    whatever is not fitted (e.g. the number of roulette passes). ``maxiter`` generations of a
    population of ``popsize`` x (number of parameters) candidates, so at most
    ``(maxiter + 1) * popsize * dims`` simulations.
    """
    from scipy.optimize import differential_evolution

    n = model.n_classes
    targets = end_targets(start, end, model, steps)
    bounds, integral = search_space(n)
    planned = (maxiter + 1) * popsize * len(bounds)
    history: list[dict] = []
    state = {"generation": 0, "best": -np.inf}
    started = time.perf_counter()

    def objective(x: np.ndarray) -> float:
        fom, _ = figure_of_merit_of(decode(x, n, model.params), start, end, model, targets,
                                    seed)
        state["best"] = max(state["best"], fom)
        history.append({"evaluation": len(history) + 1, "generation": state["generation"],
                        "figure_of_merit": fom, "best": state["best"]})
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
    return CalibrationResult(decode(result.x, n, model.params), -float(result.fun), history,
                             int(result.nfev), time.perf_counter() - started,
                             str(result.message))

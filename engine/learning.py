"""Suitability learned from observed change: one classifier per class on the cells that
changed, in the manner of PLUS's Land Expansion Analysis Strategy (LEAS; Liang et al. 2021).

For each class ``k`` the positives are the cells that *became* ``k`` between two maps and the
negatives the cells that could have but did not (neither ``k`` at the start nor at the end);
both are sampled (balanced) and a random forest - or a logistic regression, as CLUE-S and
FLUS use - learns ``P_k``, the probability that a cell with these driver values develops into
``k``. The contribution of each driver is its permutation importance on held-out cells (the drop
in AUC when the driver's values are shuffled; Breiman 2001), as shares summing to 1, which
treats both methods alike; the forest's mean decrease in impurity (what PLUS reports) is kept
beside it. A held-out AUC says how well each class is predicted.

A class that gained no cell in the period has nothing to learn from: its suitability is then
learned from where it *is* at the end (presence), with a warning; a class absent from both
maps gets suitability 0 (it cannot gain) and a warning. scikit-learn is imported only here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from tim.errors import InputError

log = logging.getLogger(__name__)
METHODS = ("random_forest", "logistic")


@dataclass
class SuitabilityModel:
    """Fitted per-class models and what they learned."""

    method: str
    codes: tuple[int, ...]
    drivers: tuple[str, ...]
    categorical: tuple[str, ...]
    estimators: list[Any]  # one per class, None = suitability 0
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    impurity: dict[str, dict[str, float]] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    training: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def predict(self, drivers: Mapping[str, np.ndarray], valid: np.ndarray,
                chunk: int = 1 << 20) -> np.ndarray:
        """(rows, cols, K) float32 suitability; 0 outside ``valid``."""
        missing = set(self.drivers) - set(drivers)
        if missing:
            raise InputError(f"the suitability model needs drivers {sorted(missing)}",
                             field="drivers", value=sorted(drivers))
        cells = np.flatnonzero(valid.ravel())
        out = np.zeros((valid.size, len(self.codes)), dtype=np.float32)
        # A forest predicts in float32 (scikit-learn converts each call's input): convert the
        # chunk once for all classes. The logistic pipeline keeps float64.
        dtype = np.float32 if self.method == "random_forest" else np.float64
        for lo in range(0, cells.size, chunk):
            part = cells[lo:lo + chunk]
            x = _matrix(drivers, self.drivers, part, dtype)
            for k, est in enumerate(self.estimators):
                if est is not None:
                    out[part, k] = est.predict_proba(x)[:, 1]
        return out.reshape(valid.shape + (len(self.codes),))


def fit_suitability(start: np.ndarray, end: np.ndarray, drivers: Mapping[str, np.ndarray],
                    codes: Sequence[int], *, valid: np.ndarray, method: str = "random_forest",
                    categorical: Sequence[str] = (), samples: int = 20000, seed: int = 0,
                    n_trees: int = 30, max_depth: int = 12, n_jobs: int = 2,
                    oob_tolerance: float | None = None) -> SuitabilityModel:
    """Learn one suitability model per class from the change between ``start`` and ``end``.

    Parameters
    ----------
    start, end : (rows, cols) uint8 class indices (255 = outside).
    drivers : name -> (rows, cols) float array, finite inside ``valid``.
    codes : class codes in index order (for the report).
    valid : cells to learn from.
    method : ``random_forest`` or ``logistic``.
    categorical : drivers holding category codes (one-hot for the logistic model; the forest
        splits on the codes, as PLUS does).
    samples : at most this many training cells per class (half positives, half negatives).
    n_trees, max_depth : the forest's (largest) number of trees and their depth.
    oob_tolerance : grow each forest 5 trees at a time and stop when its out-of-bag AUC rose
        by less than this (None: ``n_trees`` trees). Fewer trees predict faster; the count
        of each class and its out-of-bag AUC are in ``training``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    if method not in METHODS:
        raise InputError(f"unknown method (use one of {', '.join(METHODS)})", field="method",
                         value=method)
    names = tuple(drivers)
    if not names:
        raise InputError("at least one driver layer is needed", field="drivers")
    unknown = set(categorical) - set(names)
    if unknown:
        raise InputError("categorical drivers must be among the drivers", field="categorical",
                         value=sorted(unknown))
    for name in names:
        bad = ~np.isfinite(drivers[name][valid])
        if bad.any():
            raise InputError(f"{int(bad.sum())} cells of the study area have no value",
                             field=f"drivers.{name}", hint="mask them out of 'valid' first")
    rng = np.random.default_rng(seed)
    model = SuitabilityModel(method, tuple(int(c) for c in codes), names, tuple(categorical),
                             [])
    inside = valid & (start < len(codes)) & (end < len(codes))
    for k, code in enumerate(codes):
        key = str(int(code))
        positive = inside & (end == k) & (start != k)
        negative = inside & (end != k) & (start != k)
        target = "gains"
        if not positive.any():
            present = inside & (end == k)
            if not present.any():
                note = (f"class {code} is absent from both maps: its suitability is 0 "
                        "(it cannot gain cells)")
                _note(model, note)
                model.estimators.append(None)
                continue
            note = (f"class {code} gained no cells between the two maps: its suitability is "
                    "learned from where it is at the end instead of where it grew")
            _note(model, note)
            positive, negative, target = present, inside & (end != k), "presence"
        pos = _sample(np.flatnonzero(positive.ravel()), samples // 2, rng)
        neg = _sample(np.flatnonzero(negative.ravel()), samples - pos.size, rng)
        if neg.size == 0:
            _note(model, f"class {code} covers every cell: its suitability is 1")
            model.estimators.append(constant_classifier(1.0))
            continue
        cells = np.concatenate([pos, neg])
        y = np.concatenate([np.ones(pos.size, int), np.zeros(neg.size, int)])
        x = _matrix(drivers, names, cells)
        test = rng.random(cells.size) < 0.25
        grown: dict[str, Any] = {}
        trees = n_trees
        if method == "random_forest" and oob_tolerance is not None:
            trees, grown = _trees_by_oob(x, y, n_trees, max_depth, n_jobs, seed,
                                         oob_tolerance)
        if method == "random_forest":
            est = RandomForestClassifier(n_estimators=trees, max_depth=max_depth,
                                         min_samples_leaf=5, n_jobs=n_jobs, random_state=seed)
        else:
            est = _logistic(names, categorical)
        est.fit(x[~test], y[~test])
        auc = float("nan")
        if test.any() and 0 < y[test].sum() < test.sum():
            auc = float(roc_auc_score(y[test], est.predict_proba(x[test])[:, 1]))
            model.contributions[key] = _contributions(est, x[test], y[test], names, seed)
        if method == "random_forest":
            model.impurity[key] = {n: float(v) for n, v in
                                   zip(names, est.feature_importances_)}
        est.fit(x, y)  # the final model uses every sampled cell
        model.estimators.append(est)
        model.auc[key] = auc
        model.training[key] = {"target": target, "positives": int(pos.size),
                               "negatives": int(neg.size), **grown}
    return model


def _trees_by_oob(x: np.ndarray, y: np.ndarray, n_trees: int, max_depth: int, n_jobs: int,
                  seed: int, tolerance: float, step: int = 5) -> tuple[int, dict[str, Any]]:
    """The number of trees (a multiple of ``step``, at most ``n_trees``) after which adding
    ``step`` more raised the forest's out-of-bag AUC by less than ``tolerance``, and the
    out-of-bag AUC per count tried. Warm-started growth gives the trees a one-shot fit of
    the same count and seed would (scikit-learn skips the seeds of the trees it has)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    est = RandomForestClassifier(n_estimators=step, max_depth=max_depth, min_samples_leaf=5,
                                 n_jobs=n_jobs, random_state=seed, warm_start=True,
                                 oob_score=True)
    history: dict[int, float] = {}
    best, chosen = -np.inf, step
    with warnings.catch_warnings():  # few trees leave some cells without an out-of-bag vote
        warnings.simplefilter("ignore", UserWarning)
        for count in range(step, max(n_trees, step) + 1, step):
            est.set_params(n_estimators=count)
            est.fit(x, y)
            votes = est.oob_decision_function_[:, 1]
            seen = np.isfinite(votes)
            history[count] = float(roc_auc_score(y[seen], votes[seen]))
            if history[count] - best < tolerance:
                break
            best, chosen = history[count], count
    return chosen, {"trees": chosen, "oob_auc": {str(c): round(a, 4)
                                                 for c, a in history.items()}}


class _Constant:
    """A stand-in classifier with a constant probability (a class covering every cell)."""

    def __init__(self, p: float):
        self.constant = float(p)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.constant
        return np.column_stack([np.full(len(x), 1 - p), np.full(len(x), p)])


def constant_classifier(p: float) -> _Constant:
    """A classifier whose probability is ``p`` everywhere (stored as the number alone)."""
    return _Constant(p)


def _note(model: SuitabilityModel, note: str) -> None:
    model.notes.append(note)
    warnings.warn(note, stacklevel=3)
    log.warning(note)


def _sample(cells: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return cells if cells.size <= size else np.sort(rng.choice(cells, size, replace=False))


def _matrix(drivers: Mapping[str, np.ndarray], names: Sequence[str], cells: np.ndarray,
            dtype: type = np.float64) -> np.ndarray:
    x = np.empty((cells.size, len(names)), dtype=dtype)
    for j, n in enumerate(names):
        x[:, j] = np.asarray(drivers[n]).ravel()[cells]
    return x


def _logistic(names: Sequence[str], categorical: Sequence[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = [i for i, n in enumerate(names) if n in categorical]
    num = [i for i, n in enumerate(names) if n not in categorical]
    columns = ColumnTransformer([("num", StandardScaler(), num),
                                 ("cat", OneHotEncoder(handle_unknown="ignore",
                                                       max_categories=64), cat)])
    return make_pipeline(columns, LogisticRegression(max_iter=2000))


def _contributions(est, x: np.ndarray, y: np.ndarray, names: Sequence[str],
                   seed: int) -> dict[str, float]:
    """Permutation importance (drop in held-out AUC) of each driver, as shares of their sum."""
    from sklearn.inspection import permutation_importance

    imp = permutation_importance(est, x, y, scoring="roc_auc", n_repeats=3, random_state=seed)
    raw = np.clip(imp.importances_mean, 0.0, None)
    total = raw.sum()
    return {n: float(v / total) if total else 0.0 for n, v in zip(names, raw)}

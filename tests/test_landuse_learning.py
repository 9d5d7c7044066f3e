"""Suitability forests sized by their out-of-bag AUC: the count chosen is recorded, the trees
are those a one-shot fit of that count gives, and prediction in float32 chunks gives what
scikit-learn gives on the float64 matrix."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learning import fit_suitability

# Class 1 only loses cells here: its suitability is learned from presence (with a warning).
pytestmark = pytest.mark.filterwarnings("ignore:class 1 gained no cells")


def _change(seed: int = 0):
    """Two 60 x 60 maps of 2 classes: class 1 grows where driver ``a`` is high."""
    rng = np.random.default_rng(seed)
    a = rng.random((60, 60))
    b = rng.random((60, 60))
    start = (b > 0.8).astype(np.uint8)  # class 2 where b is high; it grows where a is high
    end = np.where(a + 0.3 * rng.random((60, 60)) > 0.9, 1, start).astype(np.uint8)
    return start, end, {"a": a, "b": b}


def test_forest_grown_until_its_out_of_bag_auc_stops_rising():
    start, end, drivers = _change()
    valid = np.ones(start.shape, bool)
    kwargs = dict(codes=(1, 2), valid=valid, samples=1000, seed=4, n_trees=15, n_jobs=1)
    loose = fit_suitability(start, end, drivers, oob_tolerance=1.0, **kwargs)
    # A gain of 1 in AUC is never reached: the first 5 trees are kept.
    record = loose.training["2"]
    assert record["trees"] == 5 and list(record["oob_auc"]) == ["5", "10"]
    assert len(loose.estimators[1].estimators_) == 5
    fixed = fit_suitability(start, end, drivers, **{**kwargs, "n_trees": 5})
    assert "trees" not in fixed.training["2"]
    np.testing.assert_array_equal(loose.predict(drivers, valid), fixed.predict(drivers, valid))
    strict = fit_suitability(start, end, drivers, oob_tolerance=-1.0, **kwargs)
    assert strict.training["2"]["trees"] == 15  # every step "gains": grown to the limit
    assert list(strict.training["2"]["oob_auc"]) == ["5", "10", "15"]
    assert 0.5 < strict.training["2"]["oob_auc"]["15"] <= 1.0


def test_chunked_float32_prediction_is_scikit_learns():
    start, end, drivers = _change(1)
    valid = np.ones(start.shape, bool)
    valid[:5] = False
    model = fit_suitability(start, end, drivers, (1, 2), valid=valid, samples=1000, seed=0,
                            n_trees=5, n_jobs=1)
    suit = model.predict(drivers, valid, chunk=997)
    x = np.column_stack([drivers[n][valid] for n in model.drivers])  # float64
    np.testing.assert_array_equal(suit[valid][:, 1],
                                  model.estimators[1].predict_proba(x)[:, 1].astype(np.float32))
    assert (suit[~valid] == 0).all()

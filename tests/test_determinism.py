"""Same seed, same bits; pickling preserves predictions, views and training."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.solvers import Momentum


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(Estimator):
    if Estimator is MLPClassifier:
        return make_classification(150, 6, n_informative=4, n_classes=3,
                                   random_state=0)
    return make_regression(150, 6, n_targets=2, noise=1.0, random_state=0)


def _estimator(Estimator, **params):
    defaults = dict(hidden_layer_sizes=(10, 5), batch_size=16, max_iter=8,
                    shuffle=True, early_stopping=True, random_state=7)
    return Estimator(**{**defaults, **params})


def _parameters(est):
    return est.coefs_ + est.intercepts_


def _assert_identical(a, b):
    for x, y in zip(_parameters(a), _parameters(b)):
        assert np.array_equal(x, y)
    assert a.solver_state_.keys() == b.solver_state_.keys()
    for key in a.solver_state_:
        assert np.array_equal(a.solver_state_[key], b.solver_state_[key])
    assert a.loss_curve_ == b.loss_curve_


def _partial_fits(est, X, y, chunks):
    extra = {"classes": np.unique(y)} if isinstance(est, MLPClassifier) else {}
    for rows in chunks:
        est.partial_fit(X[rows], y[rows], **extra)
    return est


CHUNKS = [slice(0, 50), slice(50, 100), slice(100, 150), slice(0, 150)]
ESTIMATORS = pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])


@ESTIMATORS
def test_same_random_state_gives_bit_identical_fit(Estimator):
    X, y = _data(Estimator)
    a = _estimator(Estimator).fit(X, y)
    b = _estimator(Estimator).fit(X, y)
    _assert_identical(a, b)
    assert a.validation_scores_ == b.validation_scores_


@ESTIMATORS
def test_different_random_state_gives_different_fit(Estimator):
    X, y = _data(Estimator)
    a = _estimator(Estimator).fit(X, y)
    b = _estimator(Estimator, random_state=8).fit(X, y)
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


@ESTIMATORS
def test_same_random_state_gives_bit_identical_partial_fits(Estimator):
    X, y = _data(Estimator)
    a = _partial_fits(_estimator(Estimator), X, y, CHUNKS)
    b = _partial_fits(_estimator(Estimator), X, y, CHUNKS)
    _assert_identical(a, b)


def test_random_state_instance_is_consumed_like_sklearn():
    """A RandomState instance is used, not re-seeded: two fits from one instance
    differ, and equal two fits from a fresh instance with the same seed."""
    X, y = _data(MLPClassifier)
    rng = np.random.RandomState(3)
    first = _estimator(MLPClassifier, random_state=rng).fit(X, y)
    second = _estimator(MLPClassifier, random_state=rng).fit(X, y)
    assert not np.array_equal(first.coefs_[0], second.coefs_[0])
    again = np.random.RandomState(3)
    _assert_identical(first, _estimator(MLPClassifier, random_state=again).fit(X, y))
    _assert_identical(second, _estimator(MLPClassifier, random_state=again).fit(X, y))


@ESTIMATORS
def test_pickle_round_trip_preserves_predictions_and_views(Estimator):
    X, y = _data(Estimator)
    est = _estimator(Estimator, solver=Momentum(learning_rate=0.01)).fit(X, y)
    loaded = pickle.loads(pickle.dumps(est))
    assert np.array_equal(loaded.predict(X), est.predict(X))
    if Estimator is MLPClassifier:
        assert np.array_equal(loaded.predict_proba(X), est.predict_proba(X))
    flat = loaded._theta
    for view in _parameters(loaded):
        assert np.shares_memory(view, flat)
    _assert_identical(loaded, est)
    # writing through a view changes what the (flat-vector) network computes
    loaded.intercepts_[-1][0] += 100.0  # one output (softmax is shift-invariant)
    changed = loaded.predict(X)
    assert np.all(changed == 0) if Estimator is MLPClassifier \
        else np.allclose(changed[:, 0], est.predict(X)[:, 0] + 100.0)


@ESTIMATORS
@pytest.mark.parametrize("batch_norm", [False, True])
def test_a_pickle_holds_the_parameters_once(Estimator, batch_norm):
    """``coefs_``, ``intercepts_`` and the BN scales are views of the flat
    parameter vector, rebuilt on loading: they were pickled too, each view as
    a copy of its part, which doubled the size of a pickle."""
    X, y = _data(Estimator)
    est = _estimator(Estimator, hidden_layer_sizes=(200, 100), solver="sgd",
                     batch_norm=batch_norm).fit(X, y)
    theta_bytes = len(pickle.dumps(est._theta))
    rest = len(pickle.dumps(est)) - theta_bytes
    assert rest < 0.1 * theta_bytes, (rest, theta_bytes)
    loaded = pickle.loads(pickle.dumps(est))
    _assert_identical(loaded, est)
    for view in _parameters(loaded):
        assert np.shares_memory(view, loaded._theta)
    assert "_coefs_views" in est.__dict__  # the estimator keeps its own


@ESTIMATORS
def test_partial_fit_after_unpickling_continues_identically(Estimator):
    """Seed, solver state (momentum velocity) and weights all survive pickling."""
    X, y = _data(Estimator)
    solver = Momentum(learning_rate=0.01, momentum=0.9)
    streamed = _partial_fits(_estimator(Estimator, solver=solver), X, y, CHUNKS[:2])
    pickled = pickle.loads(pickle.dumps(
        _partial_fits(_estimator(Estimator, solver=solver), X, y, CHUNKS[:2])))
    _partial_fits(streamed, X, y, CHUNKS[2:])
    _partial_fits(pickled, X, y, CHUNKS[2:])
    _assert_identical(pickled, streamed)
    assert pickled.t_ == streamed.t_ == 300
    for view in _parameters(pickled):
        assert np.shares_memory(view, pickled._theta)


@ESTIMATORS
def test_warm_start_after_unpickling_continues_identically(Estimator):
    X, y = _data(Estimator)
    a = _estimator(Estimator, warm_start=True, early_stopping=False, max_iter=3)
    b = pickle.loads(pickle.dumps(
        _estimator(Estimator, warm_start=True, early_stopping=False,
                   max_iter=3).fit(X, y)))
    a.fit(X, y).fit(X, y)
    b.fit(X, y)
    _assert_identical(a, b)


def test_only_a_warm_starting_estimator_keeps_its_epoch_order():
    """The row order of the last epoch (8 bytes per row) is kept for a warm start
    to continue; other fits keep none, in memory or in pickles."""
    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(5,), batch_size=32, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert MLPClassifier(**params).fit(X, y)._epoch_order is None
        warm = MLPClassifier(warm_start=True, **params).fit(X, y)
        assert sorted(warm._epoch_order) == list(range(len(y)))
        # (and the first epoch's order, for BN's statistics: with BN only)
        assert warm._statistics_order is None
        assert MLPClassifier(batch_norm=True, **params).fit(X, y)._statistics_order \
            is None
        bn = MLPClassifier(batch_norm=True, warm_start=True, **params).fit(X, y)
        assert sorted(bn._statistics_order) == list(range(len(y)))
        # a pickle made before the order was kept: the warm start takes the
        # rows' own order, as scikit-learn does at every call
        old = pickle.loads(pickle.dumps(warm))
        del old.__dict__["_epoch_order"]
        old.fit(X, y)
        fresh_order = pickle.loads(pickle.dumps(warm))
        fresh_order._epoch_order = None
        fresh_order.fit(X, y)
    np.testing.assert_array_equal(old._theta, fresh_order._theta)


@pytest.mark.parametrize("solver, batch_norm, method", [
    ("adam", True, "partial_fit"), ("adam", False, "warm_start"),
    ("lbfgs", True, "warm_start")])
def test_read_only_memory_mapped_estimator_continues_training_identically(
        tmp_path, solver, batch_norm, method):
    # joblib.load(mmap_mode="r") maps every array read-only: the parameters, the
    # solver's state and the BN statistics must become writeable copies
    import joblib

    X, y = _data(MLPClassifier)
    params = dict(solver=solver, batch_norm=batch_norm, warm_start=True,
                  early_stopping=False, max_iter=3,
                  batch_size="auto" if solver == "lbfgs" else 16)
    reference = _estimator(MLPClassifier, **params).fit(X, y)
    joblib.dump(reference, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    for est in (reference, loaded):
        est.partial_fit(X, y) if method == "partial_fit" else est.fit(X, y)
    _assert_identical(loaded, reference)

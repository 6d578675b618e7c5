"""The speed-oriented code paths give the same answers as the plain ones.

Covered: the fused loss-and-gradient of the output layer, per-minibatch row
gathering, the light validation of partial_fit, blocked inference, the scoped
BLAS thread limit, full batches evaluated in row shards on threads, and a fit's
memory not growing with a copy of the data.
"""

import os
import select
import threading
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.special import expit, logsumexp, softmax
from sklearn.datasets import load_digits, make_classification
from sklearn.neural_network import MLPClassifier as SkMLP
from threadpoolctl import (OpenBLASController, ThreadpoolController,
                           threadpool_info, threadpool_limits)

from skopt_nn import BatchNorm, MLPClassifier, MLPRegressor
from skopt_nn import _blas
from skopt_nn._blas import (_numpy_blas_pools, add_to_rows, axpy, limit_blas_threads,
                            runs_on_one_thread, shard_threads, user_blas_threads)
from skopt_nn._data import Minibatches
from skopt_nn._losses import LOSS_AND_DELTA, LOSSES
from skopt_nn._objective import Objective
from skopt_nn.solvers import SGD, Adam, Solver
from skopt_nn.solvers._base import SOLVER_ALIASES

# short fits on purpose: they stop at max_iter
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


# ------------------------------------------------------------- output layer
def test_softmax_loss_and_delta_match_logsumexp_and_softmax():
    rng = np.random.default_rng(0)
    z = 30 * rng.standard_normal((50, 7))
    z[0] = [1000, -1000, 0, 0, 0, 0, 0]  # overflow-prone logits stay exact
    Y = np.eye(7)[rng.integers(0, 7, 50)]
    delta = np.empty_like(z)
    loss = LOSS_AND_DELTA["softmax"](z, Y, delta)
    np.testing.assert_allclose(loss, logsumexp(z, axis=1) - (z * Y).sum(axis=1),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(delta, softmax(z, axis=1) - Y, rtol=1e-13, atol=1e-15)


# row max: transposed copy (50 and 3000 rows of 10), column by column (4000 rows),
# NumPy's reduction (40 columns)
@pytest.mark.parametrize("n_rows, n_columns", [(50, 10), (3000, 10), (4000, 10), (60, 40)])
def test_softmax_of_tall_arrays_matches_scipy(n_rows, n_columns):
    from skopt_nn._losses import OUTPUT_ACTIVATIONS, _row_max

    rng = np.random.default_rng(3)
    z = 20 * rng.standard_normal((n_rows, n_columns))
    np.testing.assert_array_equal(_row_max(z), z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(OUTPUT_ACTIVATIONS["softmax"](z.copy()),
                               softmax(z, axis=1), rtol=1e-13, atol=1e-300)
    Y = np.eye(n_columns)[rng.integers(0, n_columns, n_rows)]
    delta = np.empty_like(z)
    loss = LOSS_AND_DELTA["softmax"](z, Y, delta)
    np.testing.assert_allclose(loss, logsumexp(z, axis=1) - (z * Y).sum(axis=1),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(delta, softmax(z, axis=1) - Y, rtol=1e-13, atol=1e-15)


def test_logistic_loss_and_delta_match_the_formula():
    rng = np.random.default_rng(1)
    z, Y = 5 * rng.standard_normal((40, 3)), rng.integers(0, 2, (40, 3)).astype(float)
    delta = np.empty_like(z)
    loss = LOSS_AND_DELTA["logistic"](z, Y, delta)
    p = expit(z)
    expected = -(Y * np.log(p) + (1 - Y) * np.log1p(-p)).sum(axis=1)
    np.testing.assert_allclose(loss, expected, rtol=1e-10)
    np.testing.assert_allclose(delta, p - Y, rtol=1e-14, atol=1e-15)


def test_squared_loss_and_delta_match_the_formula():
    rng = np.random.default_rng(2)
    z, Y = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    delta = np.empty_like(z)
    loss = LOSS_AND_DELTA["identity"](z, Y, delta)
    np.testing.assert_allclose(loss, 0.5 * ((z - Y) ** 2).sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(delta, z - Y)
    np.testing.assert_array_equal(LOSSES["identity"](z, Y), loss)


def test_poisson_loss_and_delta_match_the_formula_and_keep_float32_accuracy():
    from sklearn.metrics import mean_poisson_deviance

    from skopt_nn._losses import constant_prediction_loss

    rng = np.random.default_rng(3)
    z = rng.standard_normal((30, 2))
    Y = rng.poisson(2.0, (30, 2)).astype(float)  # zeros among them
    delta = np.empty_like(z)
    loss = LOSS_AND_DELTA["exp"](z, Y, delta)
    p = np.exp(z)
    expected = (np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1) / p), 0) - Y + p)
    np.testing.assert_allclose(loss, expected.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(delta, p - Y, rtol=1e-14, atol=1e-15)
    # counts of 1e6 predicted 0.1% off: a half deviance of about 0.5, which the
    # textbook form exp(z) - y z + y log y - y lost in float32 (1.0 for 0.4998)
    counts = rng.poisson(1e6, (200, 1)).astype(float)
    z = np.log(counts * 1.001)
    exact = LOSSES["exp"](z, counts)
    assert 0.3 < exact.mean() < 0.7
    single = LOSSES["exp"](z.astype(np.float32), counts.astype(np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, exact, rtol=5e-3)  # (z rounded: 1.8e-3)
    # infinite logits: an infinite loss (inf - inf gave NaN), or 0 for a count 0
    np.testing.assert_array_equal(
        LOSSES["exp"](np.array([[np.inf], [-np.inf], [np.inf], [-np.inf]]),
                      np.array([[1.0], [1.0], [0.0], [0.0]]))[:, None].ravel(),
        [np.inf, np.inf, np.inf, 0.0])
    # rows of weight 0 are absent from the constant's loss (0 x inf was NaN)
    assert constant_prediction_loss("exp", np.array([[0.0], [0.0], [5.0]]),
                                    np.array([1.0, 1.0, 0.0])) == 0.0
    # the best constant's loss: scikit-learn's deviance of the mean, in any dtype
    mean = np.full(len(counts), counts.mean())
    expected = 0.5 * mean_poisson_deviance(counts[:, 0], mean)
    for dtype in (np.float64, np.float32):
        assert constant_prediction_loss("exp", counts.astype(dtype)) == pytest.approx(
            expected, rel=1e-6)


def test_loss_accepts_uint8_indicators():
    z = np.array([[2.0, -1.0, 0.5]])
    Y = np.array([[0, 1, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(LOSSES["softmax"](z, Y),
                                  LOSSES["softmax"](z, Y.astype(float)))


# ------------------------------------------------------------------ batches
@pytest.mark.parametrize("to_sparse", [False, True])
def test_minibatches_gather_the_rows_in_order(to_sparse):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((23, 4)), np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 23)]
    w = rng.random(23)
    order = rng.permutation(23)
    batches = Minibatches(sparse.csr_matrix(X) if to_sparse else X, Y, w, batch_rows=5)
    # a batch lives in reused buffers until the next one: copy as it comes
    got = [(Xb.toarray() if to_sparse else Xb.copy(), Yb.copy(), wb)
           for Xb, Yb, wb in batches.epoch(order)]
    assert [b[0].shape[0] for b in got] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.vstack([b[0] for b in got]), X[order])
    np.testing.assert_array_equal(np.vstack([b[1] for b in got]), Y[order])
    np.testing.assert_array_equal(np.concatenate([b[2] for b in got]), w[order])


def test_minibatches_give_targets_in_the_dtype_of_x():
    X = np.ones((6, 2), dtype=np.float32)
    Y = np.eye(2, dtype=np.uint8)[[0, 1, 0, 1, 1, 0]]
    for order in (None, np.arange(6)[::-1]):
        for _, Yb, _ in Minibatches(X, Y, None, 4).epoch(order):
            assert Yb.dtype == np.float32


@pytest.mark.parametrize("layout", ["fortran", "row view"])
def test_shuffled_minibatches_are_gathered_from_c_ordered_rows(monkeypatch, layout):
    # np.take copies a non-C-ordered array whole before gathering its rows: at
    # every minibatch, 90 ms for 60000x784 float32. fit orders X once instead.
    import skopt_nn._mlp as mlp

    X, y = load_digits(return_X_y=True)  # a view: its rows are 65 columns apart
    X = np.asfortranarray(X) if layout == "fortran" else X
    assert not X.flags.c_contiguous
    seen = []

    class Spy(Minibatches):
        def __init__(self, X, *args):
            seen.append(X.flags.c_contiguous)
            super().__init__(X, *args)

    monkeypatch.setattr(mlp, "Minibatches", Spy)
    got = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    monkeypatch.undo()
    assert seen == [True]
    expected = MLPClassifier((8,), max_iter=2, random_state=0).fit(
        np.ascontiguousarray(X), y)
    np.testing.assert_array_equal(got._theta, expected._theta)


@pytest.mark.parametrize("params", [
    {}, {"solver": "lbfgs"}, {"solver": "newton"}, {"shuffle": False}],
    ids=["shuffled minibatches", "lbfgs", "newton", "stored order"])
def test_fit_does_not_copy_the_training_set(params):
    # A full batch gathers no rows: its gathering buffer, the size of X, was
    # allocated all the same (never written, but a peak-memory measure counts
    # it: review of 32381e7).
    X, y = make_classification(4_000, 1_000, n_classes=3, n_informative=10,
                               random_state=0)
    clf = MLPClassifier((2,), max_iter=1, random_state=0, **params)
    tracemalloc.start()
    try:
        clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X.nbytes / 4  # X is 32 MB; a shuffled copy would exceed it


@pytest.mark.parametrize("solver", [SGD(learning_rate=0.1), "lbfgs"])
def test_a_fitted_model_keeps_no_buffers_of_its_batches(digits, solver):
    """A full batch's activations and deltas (12 MB for all of digits' rows
    through (256, 128) units) were kept with the model after fit, 30 times its
    parameters, until it was garbage-collected."""
    X, y = digits
    params = dict(solver=solver, batch_size=len(X), max_iter=2, random_state=0)
    MLPClassifier((4,), **params).fit(X, y)  # (lazy imports and caches)
    tracemalloc.start()
    try:
        clf = MLPClassifier((256, 128), **params).fit(X, y)
        retained = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    state = sum(a.nbytes for a in clf.solver_state_.values()
                if isinstance(a, np.ndarray))
    assert retained < 1.25 * clf._theta.nbytes + state, (retained, clf._theta.nbytes)
    # a stream's calls keep theirs: the next call reuses them
    clf = MLPClassifier((16,), random_state=0).partial_fit(X, y, classes=np.arange(10))
    assert clf._network._workspaces


# --------------------------------------------------------- early stopping
@pytest.mark.parametrize("case", ["multiclass", "strings", "binary", "column",
                                  "multilabel", "regression", "two outputs",
                                  "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_metrics_from_the_loss_logits_equal_scikit_learns(
        digits, case, weighted):
    # the score came from a second forward pass and accuracy_score / r2_score,
    # 9 times a small fit's epoch; now from the loss's logits
    from sklearn.datasets import make_multilabel_classification
    from sklearn.metrics import (accuracy_score, log_loss, mean_poisson_deviance,
                                 r2_score)

    X, y = digits
    X, y = X[:300], y[:300]
    targets = {"multiclass": y, "strings": np.array([f"c{v}" for v in y]),
               "binary": y > 4, "column": (y > 4)[:, None].astype(int),
               "multilabel": make_multilabel_classification(300, 5, n_classes=4,
                                                            random_state=0)[1],
               "regression": y / 9.0, "two outputs": np.c_[y / 9.0, X[:, 20]],
               "poisson": y.astype(float)}
    target = targets[case]
    regression = case in ("regression", "two outputs", "poisson")
    Est = MLPRegressor if regression else MLPClassifier
    w = np.random.default_rng(0).integers(1, 4, 300).astype(float) if weighted else None
    est = Est((10,), max_iter=3, random_state=0,
              **({"loss": "poisson"} if case == "poisson" else {})).fit(X / 16, target)
    X = X / 16
    Y = np.asarray(target, dtype=float).reshape(300, -1) if Est is MLPRegressor \
        else est._encode_known(target, None)
    score, loss = est._validation_metrics(X, target, w, Y)
    if Est is MLPRegressor:
        expected = r2_score(target, est.predict(X), sample_weight=w)
        assert score == pytest.approx(expected, rel=1e-12)
        if case == "poisson":
            P = est.predict(X)
            expected = 0.5 * mean_poisson_deviance(target, P, sample_weight=w)
            assert loss == pytest.approx(expected, rel=1e-10)
    else:
        assert score == accuracy_score(target, est.predict(X), sample_weight=w)
        if case in ("multiclass", "strings"):
            P = est.predict_proba(X)
            assert loss == pytest.approx(log_loss(target, P, sample_weight=w), rel=1e-10)


# -------------------------------------------------------------- partial_fit
def _stream(estimator, X, y, classes=None, as_list=False, calls=12):
    for k in range(calls):
        rows = slice(32 * k, 32 * k + 32)
        Xk, yk = (X[rows].tolist(), y[rows].tolist()) if as_list else (X[rows], y[rows])
        estimator.partial_fit(Xk, yk, **({} if classes is None else {"classes": classes}))
    return estimator


@pytest.mark.parametrize("pass_classes_every_call", [False, True])
def test_partial_fit_light_validation_gives_the_full_paths_result(
        digits, pass_classes_every_call):
    X, y = digits
    classes = np.arange(10)
    first = MLPClassifier((20,), random_state=0).partial_fit(X[:32], y[:32], classes)
    light = _stream(first, X[32:], y[32:], classes if pass_classes_every_call else None)
    second = MLPClassifier((20,), random_state=0).partial_fit(X[:32], y[:32], classes)
    full = _stream(second, X[32:], y[32:], as_list=True)  # lists: full validation
    np.testing.assert_array_equal(light._theta, full._theta)
    assert light.loss_curve_ == full.loss_curve_


def test_regressor_partial_fit_light_validation_gives_the_full_paths_result(digits):
    X, y = digits
    target = y / 10.0
    a = _stream(MLPRegressor((8,), random_state=0), X, target)
    b = _stream(MLPRegressor((8,), random_state=0), X, target, as_list=True)
    np.testing.assert_array_equal(a._theta, b._theta)


def _weighted_stream(estimator, X, y, weights, as_list=False):
    for k, w in enumerate(weights):
        rows = slice(32 * k, 32 * k + 32)
        estimator.partial_fit(X[rows], y[rows],
                              sample_weight=w.tolist() if as_list else w)
    return estimator


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_partial_fit_light_validation_of_sample_weight_gives_the_full_paths_result(
        digits, Est, dtype, monkeypatch):
    X, y = digits
    X = X.astype(dtype)
    target = y if Est is MLPClassifier else y / 10.0
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 2.0, 32) for _ in range(8)]
    weights[1][[0, 5, 6]] = 0.0           # rows dropped
    weights[2] = np.ones(32)              # the unweighted path
    weights[3] = weights[3].astype(np.float32 if dtype == np.float64 else np.float64)
    weights[4] = np.full(32, 3.0)         # uniform, yet not unit: sum(w) counts
    fits, full_validations = [], []
    prepare = Est._prepare
    monkeypatch.setattr(Est, "_prepare", lambda self, *args, **kwargs: (
        full_validations.append(1), prepare(self, *args, **kwargs))[1])
    for as_list in (False, True):         # lists: the full validation
        est = Est((12,), random_state=0)
        est.partial_fit(X[:32], target[:32],
                        **({"classes": np.arange(10)} if Est is MLPClassifier else {}))
        fits.append(_weighted_stream(est, X[32:], target[32:], weights, as_list))
    assert len(full_validations) == 2 + 8  # the first calls, and the lists'
    light, full = fits
    assert light._theta.dtype == dtype
    np.testing.assert_array_equal(light._theta, full._theta)
    assert light.loss_curve_ == full.loss_curve_
    assert light.t_ == full.t_ == 32 + 8 * 32 - 3


@pytest.mark.parametrize("weights, message", [
    (np.r_[np.nan, np.ones(31)], "NaN"),
    (np.r_[-1.0, np.ones(31)], "[Nn]egative"),
    (np.zeros(32), "at least one non-zero"),
    (np.ones(31), "sample_weight.shape"),
    (np.r_[1e-60, np.ones(31)], "positive sample weights are 0 in float32"),
])
def test_partial_fit_light_validation_leaves_bad_sample_weight_to_the_full_errors(
        digits, weights, message):
    X, y = digits
    X = X.astype(np.float32)
    clf = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32], np.arange(10))
    before = clf._theta.copy()
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X[32:64], y[32:64], sample_weight=weights)
    np.testing.assert_array_equal(clf._theta, before)


def _frame(X, dtypes=None):
    frame = pd.DataFrame(X, columns=[f"pixel{j}" for j in range(X.shape[1])])
    return frame if dtypes is None else frame.astype(dtypes)


@pytest.mark.parametrize("dtypes", [None, np.float32, "mixed"])
def test_partial_fit_on_data_frames_takes_the_light_path_with_the_full_paths_result(
        digits, dtypes, monkeypatch):
    X, y = digits
    frame = _frame(X, {"pixel3": np.float32} if dtypes == "mixed" else dtypes)
    labels = pd.Series(y, name="digit")
    fits, full_validations = [], []
    prepare = MLPClassifier._prepare
    monkeypatch.setattr(MLPClassifier, "_prepare", lambda self, *args, **kwargs: (
        full_validations.append(1), prepare(self, *args, **kwargs))[1])
    for light in (True, False):
        if not light:  # every call through the full validation
            monkeypatch.setattr(MLPClassifier, "_frame_values",
                                lambda self, X: (X, False))
        clf = MLPClassifier((12,), random_state=0)
        clf.partial_fit(frame.iloc[:32], labels.iloc[:32], classes=np.arange(10))
        for k in range(1, 10):
            rows = slice(32 * k, 32 * k + 32)
            clf.partial_fit(frame.iloc[rows], labels.iloc[rows])
        fits.append(clf)
    assert len(full_validations) == 1 + 10  # the first call, then the full run's
    light, full = fits
    np.testing.assert_array_equal(light._theta, full._theta)
    assert light.loss_curve_ == full.loss_curve_
    np.testing.assert_array_equal(light.feature_names_in_, frame.columns)


def test_data_frames_the_light_path_refuses_get_the_full_validation(digits):
    X, y = digits
    frame = _frame(X)
    clf = MLPClassifier((8,), random_state=0).partial_fit(frame[:32], y[:32],
                                                         np.arange(10))
    before = clf._theta.copy()
    reordered = frame[[*frame.columns[1:], frame.columns[0]]]
    with pytest.raises(ValueError, match="feature names should match"):
        clf.partial_fit(reordered[32:64], y[32:64])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.partial_fit(frame[32:64].assign(pixel5=np.nan), y[32:64])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.partial_fit(X[32:64], y[32:64])
    integers = (frame[64:96] * 16).round().astype(int) / 16  # (floats again)
    clf.partial_fit(integers.astype({"pixel0": int}), y[64:96])  # full path: fits
    assert clf.n_iter_ == 3 and not np.array_equal(clf._theta, before)
    unnamed = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32],
                                                             np.arange(10))
    with pytest.warns(UserWarning, match="X has feature names, but MLPClassifier "
                                         "was fitted without feature names"):
        unnamed.predict(frame[:5])


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_prediction_of_a_data_frame_takes_the_light_path(digits, Est, monkeypatch):
    from skopt_nn import _mlp

    X, y = digits
    frame = _frame(X)
    model = Est((12,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame, y)
    predict = model.predict_proba if Est is MLPClassifier else model.predict
    calls = []
    validate = _mlp.validate_data
    monkeypatch.setattr(_mlp, "validate_data", lambda *args, **kwargs: (
        calls.append(1), validate(*args, **kwargs))[1])
    frame_values = Est._frame_values
    monkeypatch.setattr(Est, "_frame_values", lambda self, X: (X, False))
    expected = predict(frame.iloc[100:140])  # the full validation
    assert calls == [1]
    monkeypatch.setattr(Est, "_frame_values", frame_values)
    got = predict(frame.iloc[100:140])
    assert calls == [1]  # not again
    np.testing.assert_array_equal(got, expected)


def test_partial_fit_light_path_refuses_the_classes_the_full_path_refuses():
    X = np.random.default_rng(0).random((6, 2))
    y = np.array([0, 1, 2, 0, 1, 2])
    clf = MLPClassifier((3,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    for classes, message in [(np.array([0, 1, 2], dtype=object), "Unknown label"),
                             (np.array([[0, 1, 2]]), "Unknown label type")]:
        for targets in (y, y.tolist()):  # the light path, and the full one
            with pytest.raises(ValueError, match=message):
                clf.partial_fit(X, targets, classes=classes)


def test_regression_targets_of_the_light_path_are_in_the_models_dtype(monkeypatch):
    # float64 targets of a float32 model stayed float64 on the light path: the
    # minibatches cast them, but the best constant's loss (which judges a
    # one-update call's divergence) read them as they were
    from skopt_nn import _mlp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)).astype(np.float32)
    reg = MLPRegressor((3,), random_state=0).partial_fit(X, rng.standard_normal(20))
    seen = []
    constant = _mlp.constant_prediction_loss
    monkeypatch.setattr(_mlp, "constant_prediction_loss", lambda out, Y, *args: (
        seen.append(Y.dtype), constant(out, Y, *args))[1])
    reg.set_params(solver=SGD(learning_rate=1e3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for targets in (rng.standard_normal(20), rng.standard_normal(20).tolist()):
            reg.partial_fit(X, targets)
    assert seen == [np.float32, np.float32]


def test_partial_fit_rejects_an_unknown_label_after_the_first_call(digits):
    X, y = digits
    clf = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32], np.arange(10))
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X[:4], np.array([0, 1, 2, 11]))


def test_partial_fit_rejects_nan_after_the_first_call(digits):
    X, y = digits
    clf = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32], np.arange(10))
    bad = X[:4].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.partial_fit(bad, y[:4])


def test_partial_fit_rejects_a_wrong_number_of_features(digits):
    X, y = digits
    clf = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32], np.arange(10))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:4, :10], y[:4])


def test_partial_fit_keeps_the_solver_state_while_hyperparameters_are_unchanged(digits):
    X, y = digits
    clf = MLPClassifier((8,), solver=Adam(), random_state=0)
    clf.partial_fit(X[:32], y[:32], np.arange(10))
    clf.partial_fit(X[32:64], y[32:64])
    assert clf.solver_state_["step"] == 2


def test_partial_fit_resets_the_solver_state_when_a_nested_hyperparameter_changes(digits):
    X, y = digits
    clf = MLPClassifier((8,), solver=Adam(), random_state=0)
    clf.partial_fit(X[:32], y[:32], np.arange(10))
    clf.set_params(solver__beta_1=0.8)  # mutates the same solver object
    clf.partial_fit(X[32:64], y[32:64])
    assert clf.solver_state_["step"] == 1
    assert clf.solver_.beta_1 == 0.8
    # a new learning rate is seen too, and continues the state
    clf.set_params(solver__learning_rate=0.01)
    clf.partial_fit(X[64:96], y[64:96])
    assert clf.solver_state_["step"] == 2
    assert clf.solver_.learning_rate == 0.01


# ---------------------------------------------------------------- inference
def _relu_net_proba(clf, X):
    a = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    return softmax(a @ clf.coefs_[-1] + clf.intercepts_[-1], axis=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_predict_proba_matches_the_formula_on_many_rows(dtype):
    X, y = make_classification(9000, 20, n_classes=3, n_informative=5, random_state=0)
    X = X.astype(dtype)
    clf = MLPClassifier((300,), max_iter=2, random_state=0).fit(X[:1000], y[:1000])
    P = clf.predict_proba(X)  # several row blocks for this width
    assert P.dtype == dtype
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(P, _relu_net_proba(clf, X.astype(np.float64)),
                               rtol=rtol, atol=rtol)


def test_blocked_predict_with_batch_norm_matches_the_documented_formula(digits):
    X, y = digits
    clf = MLPClassifier((200,), batch_norm=BatchNorm(epsilon=1e-3), max_iter=3,
                        random_state=0).fit(X, y)
    Xbig = np.tile(X, (4, 1))  # several row blocks of inference
    z = Xbig @ clf.coefs_[0] + clf.intercepts_[0]
    a = np.maximum(clf.bn_gamma_[0] * (z - clf.bn_mean_[0]) /
                   np.sqrt(clf.bn_var_[0] + 1e-3) + clf.bn_beta_[0], 0)
    expected = softmax(a @ clf.coefs_[1] + clf.intercepts_[1], axis=1)
    np.testing.assert_allclose(clf.predict_proba(Xbig), expected, rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------- BLAS threads
class _RecordThreads(Solver):
    """SGD that records the BLAS thread counts it runs under."""

    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        state.setdefault("threads", []).append(_blas_threads())
        return SGD(self.learning_rate).step(theta, objective, state)


def _blas_threads():
    """Threads of each loaded BLAS library, by file."""
    return {p["filepath"]: p["num_threads"] for p in threadpool_info()
            if p["user_api"] == "blas"}


def _scipy_own(path):
    # SciPy's own BLAS, separate from NumPy's (the pip wheels: scipy.libs next to
    # numpy.libs; macOS: scipy/.dylibs)
    return os.path.basename(os.path.dirname(path)) in ("scipy.libs", ".dylibs") \
        and "scipy" in path


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_axpy_adds_a_scaled_vector_in_place(dtype):
    y = np.array([1.0, 2.0, 3.0], dtype=dtype)
    axpy(y, np.array([4.0, -2.0, 0.5], dtype=dtype), -0.5)
    np.testing.assert_array_equal(y, np.array([-1.0, 3.0, 2.75], dtype=dtype))
    assert y.dtype == dtype
    # a strided view (SciPy would work on a copy of it) is updated too
    base = np.arange(6.0, dtype=dtype)
    axpy(base[::2], np.ones(3, dtype=dtype), 2.0)
    np.testing.assert_array_equal(base, np.array([2, 1, 4, 3, 6, 5], dtype=dtype))


def test_axpy_of_other_dtypes_falls_back_to_numpy():
    y = np.array([1.0, 2.0], dtype=np.longdouble)
    axpy(y, np.array([2.0, 4.0], dtype=np.longdouble), 0.25)
    np.testing.assert_array_equal(y, np.array([1.5, 3.0], dtype=np.longdouble))
    assert y.dtype == np.longdouble


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_add_to_rows_adds_the_bias_to_every_row_in_place(dtype):
    rng = np.random.default_rng(0)
    # the leading rows of a larger buffer, as a short minibatch's activations
    buffer = rng.standard_normal((7, 5)).astype(dtype)
    z, b = buffer[:4], rng.standard_normal(5).astype(dtype)
    expected, untouched = buffer[:4] + b, buffer[4:].copy()
    add_to_rows(z, b, np.ones(4, dtype=dtype))
    np.testing.assert_array_equal(z, expected)  # the same sums as NumPy's
    np.testing.assert_array_equal(buffer[4:], untouched)
    assert z.dtype == dtype


@pytest.mark.parametrize("z", [
    np.zeros((3, 4), dtype=np.longdouble),     # no BLAS routine
    np.zeros((3, 8))[:, ::2],                  # strided
    np.zeros((0, 4)),                          # no rows
], ids=["longdouble", "strided", "empty"])
def test_add_to_rows_falls_back_to_numpy(z):
    b = np.arange(4, dtype=z.dtype)
    add_to_rows(z, b, np.ones(z.shape[0], dtype=z.dtype))
    np.testing.assert_array_equal(z, np.zeros(z.shape, dtype=z.dtype) + b)


def test_small_problems_train_on_one_blas_thread_and_restore_the_setting(digits):
    X, y = digits
    before = _blas_threads()
    clf = MLPClassifier((16,), solver=_RecordThreads(), max_iter=1,
                        random_state=0).fit(X, y)
    assert all(t == dict.fromkeys(before, 1) for t in clf.solver_state_["threads"])
    assert _blas_threads() == before


def test_a_partial_fit_call_openblas_runs_on_one_thread_anyway_sets_no_limits(
        digits, monkeypatch):
    # 32 rows, 100 units: every product within OpenBLAS's own one-thread sizes
    # (the limits, entered and restored at each call, cost ~23 of its 245 us); a
    # call of 200 rows (1,280,000 multiply-adds), a user's solver (whose step
    # may make larger calls: a block of Hessian-vector products) and every fit
    # still set them
    X, y = digits
    changes, seen = [], []
    set_threads, sgd_step = _blas._set_threads, SGD.step
    monkeypatch.setattr(_blas, "_set_threads",
                        lambda lib, n: (changes.append(n), set_threads(lib, n)))
    monkeypatch.setattr(SGD, "step", lambda self, theta, objective, state: (
        seen.append(_blas_threads()), sgd_step(self, theta, objective, state))[1])
    before = _blas_threads()
    lowered = any(n > 1 for n in before.values())  # (else no limit changes any)
    clf = MLPClassifier((100,), solver=SGD(), random_state=0)
    clf.partial_fit(X[:32], y[:32], classes=np.unique(y))
    clf.partial_fit(X[32:64], y[32:64])
    assert runs_on_one_thread([64, 100, 10], 32) == _blas._only_openblas()
    if _blas._only_openblas():
        assert changes == [] and seen == [before, before]
    else:
        assert bool(changes) == lowered and seen[0] == dict.fromkeys(before, 1)
    changes.clear()
    clf.partial_fit(X[:200], y[:200])
    assert bool(changes) == lowered and seen[-1] == dict.fromkeys(before, 1)
    changes.clear()
    user = MLPClassifier((100,), solver=_RecordThreads(), random_state=0)
    user.partial_fit(X[:32], y[:32], classes=np.unique(y))
    assert bool(changes) == lowered
    assert user.solver_state_["threads"] == [dict.fromkeys(before, 1)]
    assert _blas_threads() == before


def test_large_problems_keep_the_users_blas_threads_but_scipys_own_on_one():
    # NumPy's BLAS (the products) keeps the user's setting; SciPy's own library,
    # used only for axpy and ger, runs on one thread (its idle threads would spin
    # against NumPy's)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 200)), rng.integers(0, 2, 200)
    before = _blas_threads()
    clf = MLPClassifier((200,), solver=_RecordThreads(), max_iter=1,
                        random_state=0).fit(X, y)
    expected = {path: 1 if _scipy_own(path) else n for path, n in before.items()}
    assert clf.solver_state_["threads"] == [expected]
    assert _blas_threads() == before


# ------------------------------------------------ threads other than the main
# BLAS thread pools are process-wide. Fits in any thread set the training limits
# (a fit in a worker thread without them took 100 times as long: SciPy's idle
# BLAS threads spun against NumPy's); fits running at the same time share one
# session of limits, saved by the first and restored by the last (limits set and
# restored by each fit on its own left the process on one thread).
_THREAD_CONFIGS = [dict(solver="adam", max_iter=8), dict(solver="sgd", max_iter=8),
                   dict(solver="lbfgs", hidden_layer_sizes=(100,), max_iter=15),
                   dict(solver="adam", batch_norm=True, max_iter=5)]


def _fit_config(config, seed, X, y):
    return MLPClassifier(random_state=seed, tol=0.0, **config).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_in_a_thread_gives_the_bits_of_the_fit_in_the_main_thread(digits):
    X, y = digits
    every_solver = [dict(solver=name, hidden_layer_sizes=(10,), max_iter=3)
                    for name in SOLVER_ALIASES]
    for config in _THREAD_CONFIGS + every_solver:
        here = _fit_config(config, 0, X, y)
        with ThreadPoolExecutor(1) as one:
            there = one.submit(_fit_config, config, 0, X, y).result()
        np.testing.assert_array_equal(there._theta, here._theta)


def test_a_fit_in_a_thread_sets_the_limits_of_the_main_thread(digits):
    X, y = digits
    before = _blas_threads()

    def fit():
        return MLPClassifier((16,), solver=_RecordThreads(), max_iter=2,
                             random_state=0).fit(X, y).solver_state_["threads"]

    with ThreadPoolExecutor(1) as pool:
        in_thread = pool.submit(fit).result()
    assert in_thread == fit()
    assert all(t == dict.fromkeys(before, 1) for t in in_thread)
    assert _blas_threads() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_fits_and_predictions_in_threads_leave_the_setting_as_it_was(
        digits):
    X, y = digits
    before = _blas_threads()
    jobs = [(config, seed) for config in _THREAD_CONFIGS for seed in (0, 1)]
    with ThreadPoolExecutor(1) as one:  # each fit alone, in a thread
        alone = [one.submit(_fit_config, c, s, X, y).result() for c, s in jobs]
    with ThreadPoolExecutor(4) as pool:  # all at once, with predictions
        fits = [pool.submit(_fit_config, c, s, X, y) for c, s in jobs]
        probas = [pool.submit(alone[k % len(alone)].predict_proba, X) for k in range(8)]
        together = [f.result() for f in fits]
        probas = [p.result() for p in probas]
    assert _blas_threads() == before
    for a, b in zip(alone, together):  # the same bits: these fits run on one
        for u, v in zip(a.coefs_, b.coefs_):  # BLAS thread, alone or not
            np.testing.assert_array_equal(u, v)
    # Prediction keeps the threads as they are: while fits hold one thread, its
    # products run on one rather than two, which changes the rounding of some
    # rows (those where two threads split the rows between them)
    for k, proba in enumerate(probas):
        np.testing.assert_allclose(proba, alone[k % len(alone)].predict_proba(X),
                                   rtol=1e-13, atol=1e-16)


def test_a_fit_in_a_thread_runs_with_a_users_limit_held_in_the_main_thread(digits):
    X, y = digits
    before = _blas_threads()
    with ThreadPoolExecutor(1) as pool:
        with threadpool_limits(1):  # the user's limit, in the main thread
            fit = pool.submit(MLPClassifier((16,), solver=_RecordThreads(),
                                            max_iter=2, random_state=0).fit, X, y)
            seen_inside = fit.result().solver_state_["threads"]
            assert _blas_threads() == dict.fromkeys(before, 1)  # still the user's
    assert all(t == dict.fromkeys(before, 1) for t in seen_inside)
    assert _blas_threads() == before


def test_a_prediction_in_a_thread_holds_scipys_blas_to_one_thread(digits,
                                                                 monkeypatch):
    # the biases of many rows are added with SciPy's BLAS (ger): its idle threads
    # would spin against NumPy's, in a worker thread as in the main one
    from skopt_nn import _network

    X, y = digits
    model = MLPClassifier((16,), max_iter=1, random_state=0).fit(X, y)
    seen = []

    def recorded(z, b, ones):
        seen.append(_blas_threads())
        return add_to_rows(z, b, ones)

    monkeypatch.setattr(_network, "add_to_rows", recorded)
    before = _blas_threads()
    rows = np.tile(X, (3, 1))  # enough rows for ger
    with ThreadPoolExecutor(1) as pool:
        in_thread = pool.submit(model.predict_proba, rows).result()
    assert seen and all(
        t == {path: 1 if _scipy_own(path) else n for path, n in before.items()}
        for t in seen)
    assert _blas_threads() == before
    np.testing.assert_array_equal(in_thread, model.predict_proba(rows))


_GATES = {}


class _Gated(Solver):
    """SGD that records the BLAS threads of each step, and waits at the step
    ``wait_at`` until the test opens its gate."""

    def __init__(self, gate="", wait_at=0):
        self.gate = gate
        self.wait_at = wait_at

    def step(self, theta, objective, state):
        if state["step"] == self.wait_at:
            reached, proceed = _GATES[self.gate]
            reached.set()
            assert proceed.wait(60)
        state.setdefault("threads", []).append(_blas_threads())
        return SGD(0.01).step(theta, objective, state)


def _gated_fit(X, y, gate, wait_at=1, max_iter=3):
    _GATES[gate] = (threading.Event(), threading.Event())
    return MLPClassifier((16,), solver=_Gated(gate, wait_at), max_iter=max_iter,
                         batch_size=len(X), random_state=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_users_limit_entered_while_a_fit_holds_its_own_holds_to_its_end(
        digits, blas_threads_restored):
    # A fit in a worker thread lowers the pools to 1; the user enters
    # threadpool_limits(1) in the main thread and fits there, the last fit to
    # end. Its end found the pools at the value the session had applied, and
    # restored the 2 saved before, inside the user's block (a concurrency
    # review). The user's limit, which controls the pools, rules to its end.
    X, y = digits
    one = dict.fromkeys(_blas_threads(), 1)
    worker, main = _gated_fit(X, y, "worker"), _gated_fit(X, y, "main")
    with ThreadPoolExecutor(2) as pool:
        done = pool.submit(worker.fit, X, y)
        assert _GATES["worker"][0].wait(60)    # the worker holds 1 thread

        def conduct():
            assert _GATES["main"][0].wait(60)  # the main fit holds its limits
            _GATES["worker"][1].set()
            done.result()                      # the worker's fit ends first
            _GATES["main"][1].set()            # the main thread's, last

        conducted = pool.submit(conduct)
        with threadpool_limits(limits=1, user_api="blas"):
            main.fit(X, y)
            assert _blas_threads() == one      # the user's limit, still
        conducted.result()
    # (on leaving, threadpool_limits restores what it found: the fit's 1, the
    # race the module's docstring describes; the fixture sets them back)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_overlapping_fits_in_threads_hold_the_limits_until_the_last_ends(digits):
    X, y = digits
    before, one = _blas_threads(), dict.fromkeys(_blas_threads(), 1)
    first, second = _gated_fit(X, y, "first"), _gated_fit(X, y, "second")
    with ThreadPoolExecutor(2) as pool:
        done_first = pool.submit(first.fit, X, y)
        assert _GATES["first"][0].wait(60)       # the first holds its limits,
        done_second = pool.submit(second.fit, X, y)
        assert _GATES["second"][0].wait(60)      # the second too;
        _GATES["first"][1].set()
        done_first.result()                      # the first ends:
        assert _blas_threads() == one            # the second's limits hold
        _GATES["second"][1].set()
        done_second.result()
    assert _blas_threads() == before             # restored by the last
    for fit in (first, second):
        assert fit.solver_state_["threads"] == [one] * 3


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_users_limit_left_during_a_fit_in_a_thread_stays_left(digits):
    X, y = digits
    before = _blas_threads()
    fit = _gated_fit(X, y, "user")
    with ThreadPoolExecutor(1) as pool:
        with threadpool_limits(1):  # the user's limit: the fit runs with it
            done = pool.submit(fit.fit, X, y)
            assert _GATES["user"][0].wait(60)
        # the user has left it, restoring the threads, while the fit runs: the
        # fit's end must not put back the limit the user left
        _GATES["user"][1].set()
        done.result()
    assert _blas_threads() == before


class _FakePool:
    """A BLAS pool as threadpoolctl's controllers present one."""

    def __init__(self, filepath, num_threads):
        self.filepath, self.num_threads = filepath, num_threads

    def set_num_threads(self, threads):
        self.num_threads = threads


def test_limit_session_lowers_shares_and_restores_what_it_changed():
    from skopt_nn._blas import _LimitSession

    a, b, c = _FakePool("a", 4), _FakePool("b", 2), _FakePool("c", 2)
    session = _LimitSession()
    session.holds.add("first")
    session.lower([(a, 2), (b, 1), (c, 2)])
    assert (a.num_threads, b.num_threads, c.num_threads) == (2, 1, 2)
    session.holds.add("second")
    session.lower([(a, 1), (b, 2)])  # lowers a further, never raises b
    assert (a.num_threads, b.num_threads) == (1, 1)
    assert not session.leave("first")  # another holder remains: nothing restored
    assert not session.leave("first")  # (left again: nothing more)
    assert (a.num_threads, b.num_threads) == (1, 1)
    b.num_threads = 3                # someone else's change, kept
    c.num_threads = 1                # never changed by the session: not restored
    assert session.leave("second")
    assert (a.num_threads, b.num_threads, c.num_threads) == (4, 3, 1)


def test_limit_session_saves_a_pool_when_it_first_changes_it():
    from skopt_nn._blas import _LimitSession

    a = _FakePool("a", 1)            # lowered by someone else when the session opens
    session = _LimitSession()
    session.holds.add("first")
    session.lower([(a, 1)])          # nothing to change: nothing saved
    a.num_threads = 2                # their limit left
    session.holds.add("second")
    session.lower([(a, 1)])          # the session's change: 2 is saved
    session.leave("first")
    session.leave("second")
    assert a.num_threads == 2


def _set_pool_threads(threads, owner=None, private=True):
    """``_set_threads`` on a pool modelled as threadpoolctl models OpenBLAS's:
    one thread at a time controls it (``controlling_thread``, on the class);
    ``private``: the pool has the call that sets the threads without taking
    control. Returns the calls made to the pool, and its controlling thread."""
    calls = []

    class Pool:
        class _SHARED_STATE:
            controlling_thread = owner
            lock = threading.Lock()

        def set_num_threads(self, n):  # (threadpoolctl's: takes control if free)
            state = self._SHARED_STATE
            if state.controlling_thread is None:
                state.controlling_thread = threading.current_thread()
            if state.controlling_thread is threading.current_thread():
                calls.append(("public", n))

        @classmethod
        def clear_controlling_thread(cls):
            calls.append(("released", None))
            cls._SHARED_STATE.controlling_thread = None

    if private:  # (set under the lock that claiming the control takes)
        Pool._real_set_num_threads = lambda self, n: calls.append(
            ("raw", n) if Pool._SHARED_STATE.lock.locked() else ("unlocked", n))
    _blas._set_threads(Pool(), threads)
    return calls, Pool._SHARED_STATE.controlling_thread


def test_setting_threads_respects_another_threads_control_and_never_takes_it():
    # free: set without taking control; held by this thread (a user's
    # threadpool_limits around the fit): set, and the control stays the user's
    assert _set_pool_threads(1) == ([("raw", 1)], None)
    me = threading.current_thread()
    assert _set_pool_threads(1, owner=me) == ([("raw", 1)], me)
    # held by another live thread: its limits rule, nothing is set
    gate = threading.Event()
    other = threading.Thread(target=gate.wait)
    other.start()
    try:
        assert _set_pool_threads(1, owner=other) == ([], other)
    finally:
        gate.set()
        other.join()
    # a thread that has ended controls nothing (threadpoolctl's own rule)
    assert _set_pool_threads(2, owner=other) == ([("raw", 2)], other)
    # a threadpoolctl without the private call: the public one, whose control
    # is released at once unless this thread held it before
    assert _set_pool_threads(1, private=False) == (
        [("public", 1), ("released", None)], None)
    assert _set_pool_threads(1, owner=me, private=False) == (
        [("public", 1)], me)


def test_an_interrupt_while_limits_are_set_leaves_no_session_open(monkeypatch):
    before = _blas_threads()

    def interrupted(lib, threads):
        raise KeyboardInterrupt

    monkeypatch.setattr(_blas, "_set_threads", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with _blas.limit_blas_threads(1):
            pass
    assert _blas._session is None
    monkeypatch.undo()
    with _blas.limit_blas_threads(1):
        assert _blas._session.holders == 1
    assert _blas._session is None and _blas_threads() == before
    # an interrupt right after a change: the pool is restored all the same
    # (its applied value was recorded after the change: the session was
    # dropped with the setting it had saved, and BLAS stayed on 1 thread)
    set_threads, raised = _blas._set_threads, []

    def changed_then_interrupted(lib, threads):
        set_threads(lib, threads)
        if not raised:
            raised.append(lib)
            raise KeyboardInterrupt

    monkeypatch.setattr(_blas, "_set_threads", changed_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with _blas.limit_blas_threads(1):
            pass
    assert raised and _blas._session is None and _blas_threads() == before


def test_an_interrupt_while_waiting_to_leave_the_limits_still_leaves_them(monkeypatch):
    # Ctrl-C while another thread held the session's lock (its fit entering or
    # leaving limits) interrupted the wait: the hold was never left, and the
    # process stayed on one BLAS thread for good (a review: 507 holds left by
    # interrupts among predictions in three threads). The wait is retried and
    # the interrupt raised once the hold is left
    before = _blas_threads()
    real_lock = _blas._session_lock

    class InterruptedOnce:
        """The session's lock, whose first wait in a leave is interrupted."""
        interrupted = False

        def acquire(self):
            if leaving and not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            return real_lock.acquire()

        def release(self):
            real_lock.release()

        __enter__ = acquire

        def __exit__(self, *exc_info):
            self.release()

    leaving = False
    monkeypatch.setattr(_blas, "_session_lock", InterruptedOnce())
    with pytest.raises(KeyboardInterrupt):
        with _blas.limit_blas_threads(1):
            assert _blas._session.holders == 1
            leaving = True
    assert _blas._session_lock.interrupted
    assert _blas._session is None and _blas._holds == {}
    assert _blas_threads() == before


def _blas_pools():
    return [lib for lib in ThreadpoolController().lib_controllers
            if lib.user_api == "blas"]


def _set_all_blas_pools(values=None):
    """Set the BLAS pools' threads (``values``, pool by pool; None: 1 each),
    and leave no thread in threadpoolctl's control of them."""
    pools = _blas_pools()
    for lib, n in zip(pools, values or [1] * len(pools)):
        lib.set_num_threads(n)
    if hasattr(OpenBLASController, "clear_controlling_thread"):
        OpenBLASController.clear_controlling_thread(force=True)


@pytest.fixture
def blas_threads_restored():
    """The process's BLAS threads set back after the test, whatever it left."""
    before = [lib.num_threads for lib in _blas_pools()]
    yield
    _set_all_blas_pools(before)


@pytest.fixture
def blas_on_one_thread(blas_threads_restored):
    """The process's BLAS set to one thread, as ``OPENBLAS_NUM_THREADS=1`` does."""
    _set_all_blas_pools()
    yield


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_inside_a_users_limit_keeps_the_user_in_control(digits,
                                                             blas_on_one_thread):
    # The user's limit (2 threads) is held in the main thread, which fits inside
    # it; another fit starts in a thread while it is held and ends after the user
    # has left it. The user's limit must apply until they leave it, and the
    # setting they left must stay.
    X, y = digits
    before = _blas_threads()
    other = _gated_fit(X, y, "inside")
    with ThreadPoolExecutor(1) as pool:
        with threadpool_limits(limits=2, user_api="blas"):
            MLPClassifier((16,), max_iter=2, random_state=0).fit(X, y)
            done = pool.submit(other.fit, X, y)
            assert _GATES["inside"][0].wait(60)
            assert _blas_threads() == dict.fromkeys(before, 2)  # still the user's
        _GATES["inside"][1].set()
        done.result()
    assert _blas_threads() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_limit_left_before_the_session_changes_anything_is_not_restored(digits):
    X, y = digits
    before = _blas_threads()
    first, second = _gated_fit(X, y, "early"), _gated_fit(X, y, "late")
    with ThreadPoolExecutor(2) as pool:
        with threadpool_limits(limits=1, user_api="blas"):  # e.g. KMeans's
            done_first = pool.submit(first.fit, X, y)      # starts under it
            assert _GATES["early"][0].wait(60)
        done_second = pool.submit(second.fit, X, y)         # lowers the pools
        assert _GATES["late"][0].wait(60)
        _GATES["early"][1].set()
        done_first.result()
        _GATES["late"][1].set()
        done_second.result()
    assert _blas_threads() == before


def _fit_in_child(X, y, queue):
    before = _blas_threads()
    MLPClassifier((16,), max_iter=2, random_state=0).fit(X, y)
    queue.put((before, _blas_threads()))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (fork with threads)
def test_a_child_forked_while_a_fit_holds_limits_fits_and_restores_them(digits):
    import multiprocessing

    X, y = digits
    before = _blas_threads()
    fit = _gated_fit(X, y, "fork")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(fit.fit, X, y)
        assert _GATES["fork"][0].wait(60)   # the parent's limits are held
        child = context.Process(target=_fit_in_child, args=(X[:300], y[:300], queue))
        child.start()
        child_before, child_after = queue.get(timeout=120)  # no deadlock
        child.join(60)
        _GATES["fork"][1].set()
        done.result()
    assert child.exitcode == 0
    # the child restored the parent's limits when forked, and keeps its setting
    assert child_before == child_after == before
    assert _blas_threads() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (fork with threads)
def test_a_child_forked_while_threadpoolctls_lock_is_held_does_not_deadlock(digits):
    # threadpoolctl takes its lock briefly (a threadpool_limits claiming the
    # control); a fork then copies it held by a thread the child does not
    # have, and the child's restore of the parent's limits waited forever
    import multiprocessing

    X, y = digits
    lock = OpenBLASController._SHARED_STATE.lock
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with limit_blas_threads(1):  # a fit's limits, held as the child is forked
        with lock:
            child = context.Process(target=_fit_in_child,
                                    args=(X[:300], y[:300], queue))
            child.start()
        child.join(60)
        alive = child.is_alive()
        if alive:
            child.kill()
    assert not alive and child.exitcode == 0
    child_before, child_after = queue.get(timeout=10)
    assert child_before == child_after == _blas_threads()


# ----------------------------------------------- full-batch objective reuse
def _digits_objective(digits, remember_last):
    from skopt_nn._network import Network
    from skopt_nn._objective import Objective

    X, y = digits
    network = Network([64, 20, 10], "relu", "softmax")
    theta = network.initialize(np.random.RandomState(0), np.float64)
    objective = Objective(network, alpha=1e-3, remember_last=remember_last)
    return objective.set_batch(X, np.eye(10)[y]), theta


def test_objective_returns_its_remembered_evaluation_at_the_same_point(digits):
    objective, theta = _digits_objective(digits, remember_last=True)
    loss, grad = objective(theta)
    grad_copy = grad.copy()
    grad *= 0  # a solver may overwrite the gradient it was given
    objective.set_batch(objective.X, objective.Y)  # the same batch: kept
    again_loss, again_grad = objective(theta.copy())
    assert objective.n_evaluations == 1
    assert again_loss == loss
    np.testing.assert_array_equal(again_grad, grad_copy)
    # another point, or another batch, is evaluated
    objective(theta + 1e-3)
    assert objective.n_evaluations == 2
    objective.set_batch(objective.X[:100], objective.Y[:100])
    objective(theta + 1e-3)
    assert objective.n_evaluations == 3


def test_a_remembered_evaluation_measures_its_norm_when_asked_later(digits):
    # evaluated without the norm (not the epoch's last minibatch), then asked
    # again at the same point with it: the remembered gradient's norm, measured
    objective, theta = _digits_objective(digits, remember_last=True)
    objective.measure_norm = False
    _, grad = objective(theta)
    assert np.isnan(objective.last_grad_norm)
    objective.measure_norm = True
    objective(theta)
    assert objective.n_evaluations == 1
    assert objective.last_grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-12)


def test_objective_without_remember_last_always_evaluates(digits):
    objective, theta = _digits_objective(digits, remember_last=False)
    objective(theta)
    objective(theta)
    assert objective.n_evaluations == 2


def test_lbfgs_fit_evaluates_once_per_iteration_with_the_same_result(
        digits, monkeypatch):
    from skopt_nn import _objective
    from skopt_nn._network import Network

    X, y = digits
    evaluations = []
    loss_grad = Network.loss_grad

    def counting(self, *args, slot=0):
        if slot == 0:  # one call per evaluation, or per shard (see Objective)
            evaluations.append(1)
        return loss_grad(self, *args, slot=slot)

    monkeypatch.setattr(Network, "loss_grad", counting)
    remembered = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=30,
                               random_state=0).fit(X, y)
    # Without reuse each iteration evaluates its start point and then at least
    # once in the line search; the start point is the line search's last point.
    assert len(evaluations) < 2 * remembered.n_iter_
    init = _objective.Objective.__init__

    def forgetting(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.remember_last = False

    monkeypatch.setattr(_objective.Objective, "__init__", forgetting)
    recomputed = MLPClassifier(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=30,
                               random_state=0).fit(X, y)
    np.testing.assert_array_equal(remembered.coefs_[0], recomputed.coefs_[0])
    assert remembered.loss_curve_ == recomputed.loss_curve_


# ------------------------------------------------- full batches in row shards
class _RecordThreadsFullBatch(_RecordThreads):
    full_batch = True


def _sharded_objective(digits, executor, rows=None, batch_norm=False, to_sparse=False):
    from skopt_nn._network import Network
    from skopt_nn._objective import Objective

    X, y = digits
    X, y = (X, y) if rows is None else (X[:rows], y[:rows])
    network = Network([64, 100, 10], "relu", "softmax",
                      batch_norm_epsilon=1e-5 if batch_norm else None)
    theta = network.initialize(np.random.RandomState(0), np.float64)
    objective = Objective(network, alpha=1e-3, remember_last=True, shards=2,
                          executor=executor)
    X = sparse.csr_matrix(X) if to_sparse else X
    return objective.set_batch(X, np.eye(10)[y]), theta


@pytest.mark.parametrize("weighted", [False, True])
def test_shards_on_threads_give_the_bits_of_shards_one_after_the_other(
        digits, weighted):
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(digits[1])) \
        if weighted else None
    results = []
    with ThreadPoolExecutor(1) as executor:
        for pool in (None, executor):
            objective, theta = _sharded_objective(digits, pool)
            objective.set_batch(objective.X, objective.Y, weights)
            assert len(objective._row_shards) == 2  # 1797 rows: split
            results.append(objective(theta))
    (loss_a, grad_a), (loss_b, grad_b) = results
    assert loss_a == loss_b
    np.testing.assert_array_equal(grad_a, grad_b)
    # and the same objective as the whole batch, up to rounding
    objective, theta = _sharded_objective(digits, None)
    objective.shards = 1
    loss, grad = objective.set_batch(objective.X[:], objective.Y, weights)(theta)
    assert objective._row_shards is None
    np.testing.assert_allclose(loss_a, loss, rtol=1e-13)
    np.testing.assert_allclose(grad_a, grad, rtol=1e-10, atol=1e-16)


def test_a_batch_is_split_only_with_enough_rows_and_activations_per_shard():
    from skopt_nn._objective import worth_splitting
    from skopt_nn._network import Network

    wide, narrow = Network([64, 100, 10], "relu", "softmax"), \
        Network([64, 50, 10], "relu", "softmax")
    assert worth_splitting(wide, 1797)             # 898 rows x 110 units a shard
    assert not worth_splitting(narrow, 1797)       # 898 x 60: too little work
    assert not worth_splitting(wide, 1023)         # 511 rows a shard
    assert worth_splitting(narrow, 4000)           # 2000 x 60
    assert not worth_splitting(wide, 10**6, shards=1)


@pytest.mark.parametrize("case", ["few rows", "batch norm", "sparse"])
def test_a_batch_is_not_split_with_few_rows_batch_norm_or_sparse_x(digits, case):
    objective, _ = _sharded_objective(
        digits, None, rows=1000 if case == "few rows" else None,
        batch_norm=case == "batch norm", to_sparse=case == "sparse")
    assert objective._row_shards is None


def test_shard_threads_follow_the_callers_errstate(digits):
    # NumPy's errstate is a context variable; a worker thread must see the
    # caller's (training ignores overflow, which a worker would otherwise report)
    X, y = digits
    X = X.copy()
    X[len(X) // 2:] *= 1e6  # the second shard's logits far apart: exp underflows
    with ThreadPoolExecutor(1) as executor:
        for pool in (None, executor):
            objective, theta = _sharded_objective((X, y), pool)
            with np.errstate(under="raise"), pytest.raises(FloatingPointError):
                objective(theta)
            objective._last = None
            with np.errstate(under="ignore"):
                loss, _ = objective(theta)
            assert np.isfinite(loss)


def test_shard_threads_need_numpys_blas_on_exactly_two_threads():
    for limit, expected in [(1, 1), (2, 2), (3, 1)]:
        with threadpool_limits(limits=limit, user_api="blas"):
            assert shard_threads() == expected


def _numpy_threads():
    return {lib.num_threads for lib in _numpy_blas_pools().lib_controllers}


def test_user_blas_threads_lift_a_fits_limit_it_holds_alone():
    with threadpool_limits(limits=2, user_api="blas"):
        user = _numpy_threads()
        with limit_blas_threads(1):
            assert _numpy_threads() == {1}
            with user_blas_threads():
                assert _numpy_threads() == user
            assert _numpy_threads() == {1}
            with limit_blas_threads(1), user_blas_threads():  # another fit's
                assert _numpy_threads() == {1}
        assert _numpy_threads() == user
        with user_blas_threads():  # (outside a fit: nothing to lift)
            assert _numpy_threads() == user
    # a fit in another thread holds the limits: not this thread's to lift
    # (outside the threadpool_limits above, which would make its limit a no-op)
    user = _numpy_threads()
    held, done = threading.Event(), threading.Event()

    def other_fit():
        with limit_blas_threads(1):
            held.set()
            done.wait(10)

    thread = threading.Thread(target=other_fit)
    thread.start()
    try:
        assert held.wait(10)
        assert _numpy_threads() == {1}
        with user_blas_threads():
            assert _numpy_threads() == {1}
    finally:
        done.set()
        thread.join()
    assert _numpy_threads() == user
    # a hold left from another thread than the one that entered it still
    # restores the pools, and is no longer this thread's: another thread's
    # fit is not lifted afterwards
    hold = limit_blas_threads(1)
    hold.__enter__()
    leaving = threading.Thread(target=hold.__exit__, args=(None, None, None))
    leaving.start()
    leaving.join()
    assert _numpy_threads() == user
    held.clear()
    done.clear()
    thread = threading.Thread(target=other_fit)
    thread.start()
    try:
        assert held.wait(10)
        with user_blas_threads():
            assert _numpy_threads() == {1}
    finally:
        done.set()
        thread.join()


def test_newtons_eigendecomposition_has_the_users_threads_its_products_one(
        digits, monkeypatch):
    """Its small Hessian-vector products held both BLAS threads: on a machine
    busy with another process, a step took 3 to 35 times as long as on one
    thread (found by a review). They now run on one thread as the other small
    products do; the eigendecomposition, one long LAPACK call, gets the user's."""
    X, y = digits
    seen = {"eigh": [], "hvp": []}
    eigh, hvp = np.linalg.eigh, Objective.hvp

    def spy_eigh(a):
        seen["eigh"].append(_numpy_threads())
        return eigh(a)

    def spy_hvp(self, theta, v):
        seen["hvp"].append(_numpy_threads())
        return hvp(self, theta, v)

    monkeypatch.setattr(np.linalg, "eigh", spy_eigh)
    monkeypatch.setattr(Objective, "hvp", spy_hvp)
    with threadpool_limits(limits=2, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        user = _numpy_threads()
        MLPClassifier(hidden_layer_sizes=(5,), solver="newton", max_iter=2,
                      random_state=0).fit(X[:300], y[:300])
        assert _numpy_threads() == user
    assert seen["eigh"] and all(threads == user for threads in seen["eigh"])
    assert seen["hvp"] and all(threads == {1} for threads in seen["hvp"])


def test_full_batch_fits_give_the_same_bits_on_shard_threads_or_not(digits):
    X, y = digits
    fits = {}
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="blas"):
            before = _blas_threads()
            fits[limit] = MLPClassifier((100,), solver=_RecordThreadsFullBatch(0.5),
                                        max_iter=3, random_state=0).fit(X, y)
            assert _blas_threads() == before
    # two shard threads: every product on one BLAS thread
    assert all(t == dict.fromkeys(t, 1) for t in fits[2].solver_state_["threads"])
    np.testing.assert_array_equal(fits[1].coefs_[0], fits[2].coefs_[0])
    assert fits[1].loss_curve_ == fits[2].loss_curve_
    lbfgs = [MLPClassifier((100,), solver="lbfgs", max_iter=5, random_state=0)
             for _ in range(2)]
    with threadpool_limits(limits=1, user_api="blas"):
        lbfgs[0].fit(X, y)
    with threadpool_limits(limits=2, user_api="blas"):
        lbfgs[1].fit(X, y)
    np.testing.assert_array_equal(lbfgs[0].coefs_[1], lbfgs[1].coefs_[1])


def test_workspace_slots_share_no_memory(digits):
    # shards evaluated at the same time write their activations and deltas into
    # their own slots' buffers; shards of different sizes too
    from skopt_nn._network import Network

    X, _ = digits
    network = Network([64, 20, 10], "relu", "softmax")
    theta = network.initialize(np.random.RandomState(0), np.float64)
    first = network.forward_train(theta, X[:898], None, slot=0)
    second = network.forward_train(theta, X[898:], None, slot=1)
    again = network.forward_train(theta, X[:898], None, slot=0)
    for a, b in zip(first["act"] + first["delta"], second["act"] + second["delta"]):
        assert not np.shares_memory(a, b)
    assert again["act"][0] is first["act"][0]  # a slot's buffers are reused


def test_a_shard_without_weight_keeps_the_whole_batch(digits):
    objective, theta = _sharded_objective(digits, None)
    weights = np.ones(len(digits[1]))
    weights[:len(weights) // 2 + 1] = 0.0  # the whole first shard
    loss, grad = objective.set_batch(objective.X, objective.Y, weights)(theta)
    assert objective._row_shards is None
    assert np.isfinite(loss) and np.isfinite(grad).all()


def test_a_shard_of_subnormal_weight_leaves_the_penalty_to_another(digits):
    # the penalty went with shard 0, l2 / c_0: inf for weights of 1e-318 there
    # (loss inf, gradient NaN, and L-BFGS's fit reported as diverged)
    objective, theta = _sharded_objective(digits, None)
    weights = np.ones(len(digits[1]))
    weights[:len(weights) // 2] = 1e-318
    loss, grad = objective.set_batch(objective.X, objective.Y, weights)(theta)
    assert len(objective._row_shards) == 2 and objective._penalty_shard == 1
    whole, _ = _sharded_objective(digits, None)
    whole.shards = 1
    expected, expected_grad = whole.set_batch(whole.X[:], whole.Y, weights)(theta)
    np.testing.assert_allclose(loss, expected, rtol=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-16)
    # weights of any usual balance keep it in shard 0 (their bits unchanged)
    objective.set_batch(objective.X, objective.Y, np.linspace(1.0, 3.0, len(weights)))
    assert objective._penalty_shard == 0


def test_predict_on_many_rows_adds_biases_by_ger_with_the_same_result(digits):
    # from 1,024 rows the biases are added by BLAS ger, SciPy's own BLAS held to
    # one thread for the call (and restored); fewer rows take NumPy's add
    X, y = digits
    clf = MLPClassifier((30,), max_iter=2, random_state=0).fit(X, y)
    before = _blas_threads()
    many = clf.predict_proba(X)
    assert _blas_threads() == before
    few = np.vstack([clf.predict_proba(X[i:i + 500]) for i in range(0, len(X), 500)])
    np.testing.assert_allclose(many, few, rtol=1e-14, atol=0)
    np.testing.assert_allclose(many, _relu_net_proba(clf, X), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ fork
def test_a_process_forked_during_a_step_evaluates_its_shards_itself(digits):
    """A solver of the user's that forks (multiprocessing's default on Linux)
    to evaluate a point: the child has the executor but not its thread, and a
    shard sent there waited forever."""
    from skopt_nn._network import Network
    from skopt_nn._objective import Objective

    X, y = digits
    network = Network([64, 64, 10], "relu", "softmax")
    theta = network.initialize(np.random.RandomState(0), np.float64)
    with ThreadPoolExecutor(1) as executor:
        objective = Objective(network, alpha=1e-4, shards=2, executor=executor)
        objective.set_batch(X, np.eye(10)[y])
        assert objective._row_shards is not None  # two shards, one on the thread
        objective(theta)  # the executor's thread now exists
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: evaluate a new point, report, and leave
            try:
                os.write(write, repr(objective(0.5 * theta)[0]).encode())
            finally:
                os._exit(0)
        os.close(write)
        ready, _, _ = select.select([read], [], [], 60)
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
        assert ready, "the forked child did not evaluate its shards"
        child_loss = float(os.read(read, 100).decode())
        assert child_loss == objective(0.5 * theta)[0]


# class_weight applies to every partial_fit call, the light path's too: it
# equals the sample weights class_weight[y] (scikit-learn's definition).
def test_partial_fit_class_weight_equals_the_sample_weights_it_defines():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] + 0.5 * rng.standard_normal(60) > 0).astype(int)
    cw = {0: 1.0, 1: 5.0}
    sw = np.where(y == 1, 5.0, 1.0)                  # class_weight[y], by hand
    params = dict(hidden_layer_sizes=(4,), solver="sgd", random_state=0,
                  shuffle=False)
    a = MLPClassifier(class_weight=cw, **params)
    b = MLPClassifier(**params)
    u = MLPClassifier(**params)
    for k in range(3):  # (later calls without classes: the streaming case)
        classes = [0, 1] if k == 0 else None
        a.partial_fit(X, y, classes=classes)
        b.partial_fit(X, y, classes=classes, sample_weight=sw)
        u.partial_fit(X, y, classes=classes)
    np.testing.assert_allclose(a._theta, b._theta, rtol=1e-10, atol=1e-12)
    assert not np.allclose(a._theta, u._theta)      # the weights matter here


# partial_fit's light path must not skip the feature-name check: a model fitted
# on a DataFrame warns, as scikit-learn does, when a later call gets an ndarray.
FEATURE_NAMES_WARNING = "X does not have valid feature names"


def _frame_and_array():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((40, 3))
    return pd.DataFrame(X, columns=["a", "b", "c"]), X, (X[:, 0] > 0).astype(int)


def test_scikit_learns_partial_fit_warns_on_an_ndarray_after_a_dataframe():
    frame, X, y = _frame_and_array()
    est = SkMLP((4,), random_state=0).partial_fit(frame, y, classes=[0, 1])
    with pytest.warns(UserWarning, match=FEATURE_NAMES_WARNING):
        est.partial_fit(X, y)


def test_partial_fit_on_an_ndarray_after_a_dataframe_warns():
    frame, X, y = _frame_and_array()
    est = MLPClassifier((4,), random_state=0).partial_fit(frame, y, classes=[0, 1])
    with pytest.warns(UserWarning, match=FEATURE_NAMES_WARNING):
        est.partial_fit(X, y)


# A remembered evaluation hands out a copy of its gradient: a solver that
# scales the gradient it got in place (allowed: "the caller may modify it") does
# not corrupt the gradient the objective returns at that point next time.
def _small_regression_problem():
    from skopt_nn._network import Network

    rng = np.random.RandomState(0)
    network = Network([3, 4, 1], "tanh", "identity", None)
    theta = network.initialize(rng, np.dtype(np.float64))
    X, Y = rng.standard_normal((12, 3)), rng.standard_normal((12, 1))
    return network, theta, X, Y


def test_modifying_a_returned_gradient_leaves_the_remembered_one():
    from skopt_nn._objective import Objective

    network, theta, X, Y = _small_regression_problem()
    # reference: a separate objective that remembers nothing
    _, expected = Objective(network, alpha=0.1).set_batch(X, Y)(theta.copy())
    objective = Objective(network, alpha=0.1, remember_last=True).set_batch(X, Y)
    for _ in range(3):                      # fresh, then from memory twice
        loss, grad = objective(theta)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-15)
        grad *= -0.5                        # a solver's in-place use of it


# ---------------------------------------------------------- prediction's light path
# A finite float ndarray of the fitted width skips the full validation (for one
# row it cost three times the prediction); everything else goes through it.
def _no_full_validation(monkeypatch):
    from skopt_nn import _mlp

    def refuse(*args, **kwargs):
        raise AssertionError("the full validation ran")

    monkeypatch.setattr(_mlp, "validate_data", refuse)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_prediction_of_plain_rows_skips_the_full_validation_same_result(
        digits, Est, monkeypatch):
    X, y = digits
    est = Est((8,), batch_norm=True, max_iter=3, random_state=0).fit(X, y)
    methods = ["predict"] + (["predict_proba", "predict_log_proba"]
                             if Est is MLPClassifier else [])
    expected = {m: getattr(est, m)(X[:5].tolist()) for m in methods}  # full path
    one_row = {m: getattr(est, m)(X[3:4].tolist()) for m in methods}
    _no_full_validation(monkeypatch)
    for m in methods:
        for rows in (X[:5], X[:5].astype(np.float32), np.asfortranarray(X[:5])):
            np.testing.assert_allclose(getattr(est, m)(rows), expected[m],
                                       rtol=1e-6 if rows.dtype == np.float32 else 0)
        assert np.array_equal(getattr(est, m)(X[:5]), expected[m])
        assert np.array_equal(getattr(est, m)(X[3:4]), one_row[m])
    # what the light path does not take goes through the full validation
    for rows in (X[:5].tolist(), X[:5].astype(int), X[:5, :10], X[:0]):
        with pytest.raises(AssertionError, match="the full validation ran"):
            est.predict(rows)


def test_prediction_of_rows_that_need_validation_keeps_its_errors(digits):
    X, y = digits
    est = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    bad = X[:4].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.predict_proba(bad)
    with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is "
                                         "expecting 64 features as input"):
        est.predict(X[:4, :10])
    # finite values whose sum overflows: the full validation accepts them,
    # without a warning from the light path's check, for predict and partial_fit
    huge = np.full((2, 64), 1e307)
    with warnings.catch_warnings(), np.errstate(over="raise"):
        warnings.simplefilter("error")
        assert est.predict(huge).shape == (2,)
    clf = MLPClassifier((8,), random_state=0).partial_fit(X[:32], y[:32], np.arange(10))
    with warnings.catch_warnings(), np.errstate(over="raise"):
        warnings.simplefilter("error")
        clf._plain_rows(huge)


def test_prediction_on_an_ndarray_after_a_dataframe_warns():
    frame, X, y = _frame_and_array()
    est = MLPClassifier((4,), max_iter=3, random_state=0).fit(frame, y)
    with pytest.warns(UserWarning, match=FEATURE_NAMES_WARNING):
        est.predict(X)

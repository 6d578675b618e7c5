"""A full-batch solver on a dask array: the rows stay in their chunks.

``fit`` with L-BFGS or Newton on a dask array evaluates each chunk where it is
and adds the chunks' shares of the loss, gradient and Hessian-vector products
(``skopt_nn._chunked``). These tests check the shares against the in-memory
objective, the fits against scikit-learn's linear models and the in-memory fit,
that no task ever sees more than one chunk, the validation, and which fits
still compute the rows into memory.
"""

import re
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn._chunked import ChunkedObjective, ChunkedRows
from skopt_nn._objective import Objective
from skopt_nn.solvers import LBFGS, Adam, Newton

CHUNK = 300


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _lazy(*arrays, chunk=CHUNK):
    return [da.from_array(a, chunks=(chunk,) + (-1,) * (a.ndim - 1)) for a in arrays]


def _objectives(model, X, y, sample_weight=None, chunk=CHUNK):
    """The chunked objective and the in-memory one of a fitted ``model``."""
    lazy_w = None if sample_weight is None else _lazy(sample_weight, chunk=chunk)[0]
    rows = model._prepare_chunks(*_lazy(X, y, chunk=chunk), lazy_w, reset=False,
                                 warm_start=False)[0]
    assert isinstance(rows, ChunkedRows)
    chunked = ChunkedObjective(model._network, alpha=0.3).set_batch(rows)
    Xm, Ym, _, wm, _ = model._prepare(X, y, sample_weight, reset=False)
    in_memory = Objective(model._network, alpha=0.3).set_batch(
        Xm, Ym.astype(Xm.dtype), wm)
    return chunked, in_memory


def _fitted(estimator, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.set_params(max_iter=2, random_state=0, **params).fit(X, y)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_chunks_give_the_loss_gradient_and_hvp_of_all_rows(digits, kind, weighted):
    X, y = digits
    if kind == "binary":
        y = y % 2
    weights = None
    if weighted:  # the second chunk without weight: left out
        weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
        weights[CHUNK:2 * CHUNK] = 0
    if kind == "regression":
        model = _fitted(MLPRegressor((8,), solver=LBFGS()), X, X[:, [20, 43]])
        y = X[:, [20, 43]]
    else:
        model = _fitted(MLPClassifier((8,), solver=LBFGS()), X, y)
    chunked, in_memory = _objectives(model, X, y, weights)
    theta = model._theta + 0.1 * np.random.RandomState(1).standard_normal(
        model._theta.size)
    loss, grad = chunked(theta)
    expected_loss, expected_grad = in_memory(theta)
    # sums of the same terms in another order: rounding errors apart
    assert loss == pytest.approx(expected_loss, rel=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=0,
                               atol=1e-13 * np.abs(expected_grad).max())
    directions = np.random.RandomState(2).standard_normal((theta.size, 3))
    for v in (directions[:, 0], directions):  # one direction, and a block
        expected = in_memory.hvp(theta, v)
        np.testing.assert_allclose(chunked.hvp(theta, v), expected, rtol=0,
                                   atol=1e-12 * np.abs(expected).max())
    assert chunked.weight_total == pytest.approx(
        len(y) if weights is None else weights.sum(), rel=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_chunks_give_the_loss_alone_of_all_rows(digits, kind, weighted):
    # Objective.loss (inherited) read the ChunkedRows as an array: UFuncTypeError
    X, y = digits
    weights = None
    if weighted:  # the second chunk without weight: left out
        weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
        weights[CHUNK:2 * CHUNK] = 0
    if kind == "regression":
        y = X[:, [20, 43]]
        model = _fitted(MLPRegressor((8,), solver=LBFGS()), X, y)
    else:
        model = _fitted(MLPClassifier((8,), solver=LBFGS()), X, y)
    chunked, in_memory = _objectives(model, X, y, weights)
    theta = model._theta + 0.1 * np.random.RandomState(1).standard_normal(
        model._theta.size)
    expected = in_memory.loss(theta)
    assert chunked.loss(theta) == pytest.approx(expected, rel=1e-12)
    assert chunked.loss(theta) == pytest.approx(chunked(theta)[0], rel=1e-14)
    # the penalty is in it, once: alpha=0.3 against 0
    without_penalty = ChunkedObjective(model._network, alpha=0.0).set_batch(
        chunked.X).loss(theta)
    penalty = 0.5 * 0.3 / chunked.weight_total * sum(
        float(np.vdot(w, w)) for w in model._network.unpack(theta)[0])
    assert chunked.loss(theta) - without_penalty == pytest.approx(penalty,
                                                                  rel=1e-9)
    assert chunked.n_evaluations == 1  # (the call above, not the losses)


def _no_hidden_layer(estimator, solver, X, y, chunk, sample_weight=None):
    X_lazy, y_lazy = _lazy(X, y, chunk=chunk)
    w_lazy = None if sample_weight is None else _lazy(sample_weight, chunk=chunk)[0]
    estimator.set_params(hidden_layer_sizes=(), solver=solver, tol=0.0,
                         max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it must converge
        return estimator.fit(X_lazy, y_lazy, sample_weight=w_lazy)


@pytest.mark.parametrize("solver", [LBFGS(), Newton()])
def test_no_hidden_layer_on_chunks_reaches_logistic_regressions_optimum(solver):
    X, y = make_classification(400, 5, n_informative=4, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, class_sep=0.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    weights = np.random.RandomState(0).uniform(0.1, 4.0, len(y))
    alpha = 0.3
    ours = _no_hidden_layer(MLPClassifier(alpha=alpha), solver, X, y, chunk=70,
                            sample_weight=weights)
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=weights)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coefs_[0].T, ref.coef_, rtol=0, atol=1e-6 * scale)
    b, b_ref = ours.intercepts_[0], ref.intercept_
    np.testing.assert_allclose(b - b.mean(), b_ref - b_ref.mean(), rtol=0,
                               atol=1e-6 * scale)


@pytest.mark.parametrize("solver", [LBFGS(), Newton()])
def test_no_hidden_layer_regressor_on_chunks_reaches_ridges_optimum(solver):
    X, y = make_regression(300, 4, n_informative=4, n_targets=2, noise=5.0,
                           random_state=0)
    X, y = StandardScaler().fit_transform(X), y / y.std(axis=0)
    ours = _no_hidden_layer(MLPRegressor(alpha=10.0), solver, X, y, chunk=64)
    ref = Ridge(alpha=10.0).fit(X, y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coefs_[0].T, ref.coef_, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(ours.intercepts_[0], ref.intercept_, rtol=0,
                               atol=1e-6 * scale)


@pytest.mark.parametrize("solver", [LBFGS(), Newton(max_exact_params=100)])
def test_fit_on_chunks_follows_the_in_memory_fit(digits, solver):
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=10,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        chunked = MLPClassifier(**params).fit(*_lazy(X, y))
        in_memory = MLPClassifier(**params).fit(X, y)
        again = MLPClassifier(**params).fit(*_lazy(X, y))
    # the same steps, apart from the rounding of sums taken in another order
    assert chunked.n_iter_ == in_memory.n_iter_ == 10
    np.testing.assert_allclose(chunked.loss_curve_, in_memory.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(chunked._theta, in_memory._theta, rtol=0, atol=1e-8)
    assert np.array_equal(chunked._theta, again._theta)  # and reproducibly
    assert chunked.loss_curve_ == again.loss_curve_
    np.testing.assert_array_equal(chunked.classes_, in_memory.classes_)
    assert chunked.n_features_in_ == 64


def test_every_task_reads_one_chunk_and_training_never_holds_the_rows(digits,
                                                                     monkeypatch):
    X, y = digits
    seen, evaluations = [], []

    def record(block):
        if block.size:  # (not dask's call on an empty block, for the meta)
            seen.append(block.shape)
        return block

    def counted(self, theta, grad):
        evaluations.append(1)
        return original(self, theta, grad)

    original = ChunkedObjective._loss_grad
    monkeypatch.setattr(ChunkedObjective, "_loss_grad", counted)
    X_lazy = _lazy(X)[0].map_blocks(record, dtype=X.dtype)
    # targets and weights computed from X: its chunks once per pass all the same
    y_lazy = (X_lazy[:, 36] > 0.25).astype(int)
    w_lazy = 1.0 + X_lazy[:, 20]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((8,), solver=LBFGS(), max_iter=3, random_state=0).fit(
            X_lazy, y_lazy, sample_weight=w_lazy)
    # the validation pass, then one pass per evaluation, chunk by chunk
    assert len(evaluations) >= 3
    assert len(seen) == -(-len(X) // CHUNK) * (1 + len(evaluations))
    assert max(rows for rows, _ in seen) == CHUNK


def test_the_distributed_scheduler_gives_the_threaded_schedulers_bits(digits):
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        threaded = MLPClassifier(**params).fit(*_lazy(X, y))
        synchronous = dask.config.set(scheduler="sync")
        with synchronous:
            one_thread = MLPClassifier(**params).fit(*_lazy(X, y))
        with Client(processes=False, n_workers=1, threads_per_worker=2,
                    dashboard_address=None):
            distributed = MLPClassifier(**params).fit(*_lazy(X, y))
    assert np.array_equal(threaded._theta, one_thread._theta)
    assert np.array_equal(threaded._theta, distributed._theta)


def test_float32_rows_train_in_float32_and_numpy_targets_follow_the_chunks(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), solver=LBFGS(), max_iter=3, random_state=0)
        model.fit(_lazy(X32)[0], list(y))  # targets in memory, even as a list
    assert model._theta.dtype == np.float32
    assert model.predict(X32).shape == y.shape


def test_string_labels_and_a_warm_start_on_chunks(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((8,), solver=LBFGS(), max_iter=3, random_state=0,
                              warm_start=True).fit(*_lazy(X, names))
        first = model._theta.copy()
        model.fit(*_lazy(X, names))
    assert model.n_iter_ == 6 and not np.array_equal(model._theta, first)
    assert set(model.predict(X)) <= set(names)
    np.testing.assert_array_equal(model.classes_, np.unique(names))


@pytest.mark.parametrize("corrupt, message", [
    (lambda X, y, w: (X.__setitem__((700, 3), np.nan), X, y, w)[1:],
     "Input X contains NaN."),
    (lambda X, y, w: (X.__setitem__((5, 3), np.inf), X, y, w)[1:],
     "Input X contains infinity"),
    (lambda X, y, w: (w.__setitem__(900, -1.0), X, y, w)[1:],
     "Negative values in data passed to `sample_weight`."),
    (lambda X, y, w: (X, y, np.zeros_like(w)), "All sample weights are zero"),
    (lambda X, y, w: (X, y[:100], w), "inconsistent numbers of samples"),
    (lambda X, y, w: (X, np.zeros_like(y), w), "only one class"),
    (lambda X, y, w: (X, y + 0.5, w), "Unknown label type"),
])
def test_bad_chunks_raise_and_leave_the_model_as_it_was(digits, corrupt, message):
    X, y = digits
    model = MLPClassifier((8,), solver=LBFGS(), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    before = model._theta.copy(), model.n_iter_, list(model.loss_curve_)
    X_bad, y_bad, w_bad = corrupt(X.copy(), y.copy(), np.ones(len(y)))
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(_lazy(X_bad)[0], _lazy(y_bad)[0] if len(y_bad) == len(y) else y_bad,
                  sample_weight=_lazy(w_bad)[0])
    assert np.array_equal(model._theta, before[0])
    assert (model.n_iter_, model.loss_curve_) == before[1:]


def test_a_regressor_refuses_strings_and_values_beyond_float32(digits):
    X, _ = digits
    with pytest.warns(UserWarning, match="y is not numeric"), \
            pytest.raises(ValueError, match="y must be numeric for regression"):
        MLPRegressor(solver=LBFGS()).fit(_lazy(X)[0], np.array(["1.0"] * len(X)))
    y = np.full(len(X), 1e300)
    with pytest.raises(ValueError, match="y has values too large for the model's "
                                         "float32"):
        MLPRegressor(solver=LBFGS()).fit(_lazy(X.astype(np.float32))[0], y)


def test_a_poisson_regressor_on_chunks_refuses_negative_targets_and_fits_counts(
        digits):
    X, y = digits
    counts = y.astype(float)
    with pytest.raises(ValueError, match="negative which is not allowed for Poisson"):
        MLPRegressor(solver=LBFGS(), loss="poisson").fit(*_lazy(X, counts - 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [MLPRegressor((8,), solver=LBFGS(), loss="poisson", max_iter=5,
                             random_state=0).fit(*rows)
                for rows in (_lazy(X, counts), (X, counts))]
    assert fits[0].n_iter_ == fits[1].n_iter_ == 5
    np.testing.assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(fits[0]._theta, fits[1]._theta, rtol=1e-8, atol=1e-8)


def test_a_warm_start_checks_the_columns(digits):
    X, y = digits
    model = _fitted(MLPClassifier((8,), solver=LBFGS(), warm_start=True), X, y)
    with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is "
                                         "expecting 64 features"):
        model.fit(*_lazy(X[:, :10], y))


@pytest.mark.parametrize("params", [
    dict(solver=Adam()),                       # minibatches
    dict(solver=LBFGS(), batch_norm=True),     # statistics of all rows at once
    dict(solver=LBFGS(), early_stopping=True),  # a validation split of the rows
])
def test_other_fits_compute_the_rows_and_train_as_on_numpy(digits, params):
    X, y = digits
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # (the warning that says why: the test below)
        warnings.filterwarnings("ignore", "LBFGS on a dask array", UserWarning)
        from_dask = MLPClassifier(**params).fit(*_lazy(X, y))
        from_numpy = MLPClassifier(**params).fit(X, y)
    assert np.array_equal(from_dask._theta, from_numpy._theta)
    assert from_dask.loss_curve_ == from_numpy.loss_curve_


@pytest.mark.parametrize("class_weight", ["balanced", {0: 3.0, 4: 0.5, 7: 0.0}])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("binary", [False, True])
def test_class_weights_on_chunks_follow_the_in_memory_fit(digits, class_weight,
                                                          weighted, binary):
    X, y = digits
    keep = np.r_[np.arange(0, 1797, 2), np.flatnonzero(y == 3)]  # (unbalanced)
    X, y = X[keep], y[keep]
    if binary:
        y = np.where(y == 3, 4, 0)  # labels 0 and 4 (and 7 nowhere: its weight
        if isinstance(class_weight, dict):  # must not be asked for)
            class_weight = {0: 3.0, 4: 0.5}
    w = np.random.RandomState(0).uniform(0, 3, len(y)) if weighted else None
    if weighted:  # rows of weight 0 are absent: no positive weight that the
        w[::11] = 0  # class weights could round to 0 (nor the smallest one)
    params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=8,
                  class_weight=class_weight, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # (no fallback to memory)
        warnings.simplefilter("ignore", ConvergenceWarning)
        chunked = MLPClassifier(**params).fit(
            *_lazy(X, y), sample_weight=None if w is None else _lazy(w)[0])
        in_memory = MLPClassifier(**params).fit(X, y, sample_weight=w)
    assert chunked.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(chunked.loss_curve_, in_memory.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(chunked._theta, in_memory._theta, rtol=0, atol=1e-8)


def test_bad_class_weights_on_chunks_raise_as_in_memory(digits):
    X, y = digits
    huge, tiny = np.full(len(y), 1e306), np.full(len(y), 1e-300)
    for class_weight, w, message in [
            ({0: -1.0}, None, "class_weight must be finite and non-negative"),
            ({c: 0.0 for c in range(10)}, None,
             r"All sample weights are zero \(with the class weights applied\)"),
            ({11: 2.0}, None, "are not in class_weight"),
            ({0: 100.0}, huge, "sum to infinity"),  # (a bare ZeroDivisionError)
            ({0: 1e-300}, tiny, "positive sample weights are 0")]:  # (dropped)
        for rows, weights in ((_lazy(X, y), None if w is None else _lazy(w)[0]),
                              ((X, y), w)):
            with pytest.raises(ValueError, match=message):
                MLPClassifier((8,), solver=LBFGS(), class_weight=class_weight,
                              max_iter=2).fit(*rows, sample_weight=weights)


def test_a_first_chunk_of_tiny_weight_takes_no_penalty_it_would_overflow(digits):
    # the penalty entered with the first chunk as l2 / c_0: a subnormal share
    # there made it infinite ("the loss of the first minibatch is not finite")
    X, y = digits
    order = np.argsort(y != 0, kind="stable")  # the zeros first, in chunk 0
    X, y = X[order], y[order]
    params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=5,
                  class_weight={0: 1e-320}, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        chunked = MLPClassifier(**params).fit(*_lazy(X, y, chunk=100))  # (all 0s)
        in_memory = MLPClassifier(**params).fit(X, y)
    assert chunked.n_iter_ == in_memory.n_iter_ == 5
    np.testing.assert_allclose(chunked.loss_curve_, in_memory.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("weights", ["twos", "normalized", "uneven"])
def test_a_weighted_fit_records_the_losses_and_stops_as_in_memory(digits, weights):
    """The epoch's loss was once weighed by the rows, not the weights: loss_
    half of in memory with weights of 2, the stopping rule's comparisons off
    (772 iterations against 64), and weights summing to 1 crashed the fit."""
    X, y = digits
    w = {"twos": np.full(len(y), 2.0), "normalized": np.full(len(y), 1 / len(y)),
         "uneven": np.random.RandomState(0).uniform(0, 3, len(y))}[weights]
    params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=60,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        chunked = MLPClassifier(**params).fit(*_lazy(X, y), sample_weight=_lazy(w)[0])
        in_memory = MLPClassifier(**params).fit(X, y, sample_weight=w)
    assert chunked.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(chunked.loss_curve_, in_memory.loss_curve_, rtol=1e-9)
    assert chunked.loss_ == pytest.approx(in_memory.loss_, rel=1e-9)


def test_labels_and_weights_of_any_form_follow_the_chunks(digits):
    X, y = digits
    names = np.array([f"digit {d}" for d in range(10)], dtype=object)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=3,
                      random_state=0)
        # object labels in memory (as a DataFrame's column holds strings)
        by_name = MLPClassifier(**params).fit(_lazy(X)[0], names)
        # one column of labels, as 1-D labels (with scikit-learn's warning)
        with pytest.warns(DataConversionWarning, match="column-vector y"):
            column = MLPClassifier(**params).fit(*_lazy(X, y[:, None]))
        plain = MLPClassifier(**params).fit(*_lazy(X, y))
    np.testing.assert_array_equal(by_name.classes_, np.unique(names))
    np.testing.assert_array_equal(by_name._theta, plain._theta)
    np.testing.assert_array_equal(column._theta, plain._theta)


@pytest.mark.parametrize("case, reason", [
    ("batch_norm", "batch normalization needs the statistics of all rows"),
    ("early_stopping", "early_stopping holds out a validation split"),
    ("batch_size", "batch_size makes minibatches"),
    ("unknown_chunks", "some chunk sizes are unknown"),
    ("scalar_weight", "sample_weight is not one-dimensional"),
])
def test_a_full_batch_fit_that_computes_the_rows_says_why(digits, case, reason):
    X, y = digits
    X_lazy, y_lazy = _lazy(X, y)
    params, weight = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=2,
                          random_state=0), None
    if case == "batch_norm":
        params["batch_norm"] = True
    elif case in ("early_stopping", "batch_size"):
        params[case] = True if case == "early_stopping" else 500
    elif case == "unknown_chunks":
        y_lazy = y_lazy[y_lazy >= 0]  # (all rows, in chunks of unknown size)
    else:
        weight = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="LBFGS on a dask array: the rows are "
                                             f"computed into memory.*{reason}"):
            model = MLPClassifier(**params).fit(X_lazy, y_lazy, sample_weight=weight)
        in_memory = MLPClassifier(**params).fit(X, y, sample_weight=weight)
    np.testing.assert_array_equal(model._theta, in_memory._theta)


def test_a_full_batch_fit_on_a_dask_dataframe_says_how_to_pass_its_array(digits):
    # it was computed into memory without a word (a deployment review)
    import dask.dataframe as dd
    import pandas as pd

    X, y = digits
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=4)
    params = dict(hidden_layer_sizes=(8,), solver=LBFGS(), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=r"LBFGS on a dask DataFrame: the rows "
                          r"are computed into memory.*X.to_dask_array\(lengths=True\)"):
            model = MLPClassifier(**params).fit(frame, y)
        in_memory = MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(model._theta, in_memory._theta)


def test_bad_shapes_fall_back_to_the_in_memory_errors(digits):
    X, y = digits
    with pytest.warns(UserWarning, match="not one-dimensional"), \
            pytest.raises(ValueError, match="Sample weights must be 1D"):
        MLPClassifier(solver=LBFGS()).fit(*_lazy(X, y),
                                          sample_weight=np.ones((len(y), 1)))
    with pytest.warns(UserWarning, match="it has no rows"), \
            pytest.raises(ValueError, match="Found array with 0 sample"):
        MLPClassifier(solver=LBFGS()).fit(*_lazy(X[:0], y[:0]))



def test_chunks_whose_loss_is_not_finite_at_the_start_name_the_data():
    # The check of the starting parameters' loss reads the loss alone, which
    # the chunked objective lacked (a casting error from deep in the network)
    rng = np.random.RandomState(0)
    X, y = rng.randn(400, 5), rng.randn(400)
    X[123, 2] = 1e300
    est = MLPRegressor((8,), solver=LBFGS(), max_iter=5, random_state=0)
    with pytest.raises(ValueError, match="The loss on the training rows is not "
                                         "finite .* need to be preprocessed"):
        est.fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100))
    assert not hasattr(est, "coefs_")

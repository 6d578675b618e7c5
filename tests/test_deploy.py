"""Deployment: ONNX graphs run by onnxruntime, and skops files, against predict."""

import subprocess
import sys
import warnings

import numpy as np
import onnxruntime
import pytest
import skops.io as sio
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skopt_nn import BatchNorm, MLPClassifier, MLPRegressor
from skopt_nn.onnx import to_onnx
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import SGD

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _data(kind, n=120, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 5)
    score = X[:, 0] - X[:, 1] ** 2 + 0.5 * X[:, 2]
    if kind == "multiclass":
        y = np.digitize(score, [-1.0, 0.0])
    elif kind == "binary":
        y = (score > -0.3).astype(int)
    elif kind == "multilabel":
        y = np.c_[score > 0, X[:, 3] > 0, X[:, 0] * X[:, 4] > 0].astype(int)
    elif kind == "regression":
        y = score
    else:  # two regression targets
        y = np.c_[score, X[:, 3] - X[:, 4]]
    return X, y


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (few iterations: not converged)
        return estimator.fit(X, y)


def _run(onx, X):
    session = onnxruntime.InferenceSession(onx.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


# ------------------------------------------------------------------------ ONNX
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_onnx_classifier_in_float64_reproduces_predict(kind, activation, batch_norm):
    X, y = _data(kind)
    model = _fit(MLPClassifier((7, 4), activation=activation, batch_norm=batch_norm,
                               max_iter=30, random_state=0), X, y)
    label, probabilities = _run(to_onnx(model, X[:1]), X)
    assert np.array_equal(label, model.predict(X))
    assert label.dtype == model.predict(X).dtype
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("kind", ["regression", "two targets", "poisson"])
def test_onnx_regressor_in_float64_reproduces_predict(kind, batch_norm):
    X, y = _data("regression" if kind == "poisson" else kind)
    loss = "squared_error"
    if kind == "poisson":  # counts, predicted through exp
        y, loss = np.random.RandomState(1).poisson(np.exp(0.3 * y)), "poisson"
    model = _fit(MLPRegressor((7, 4), batch_norm=batch_norm, max_iter=30,
                              random_state=0, loss=loss), X, y)
    (predicted,) = _run(to_onnx(model, X[:1]), X)
    assert predicted.shape == (len(X), model.n_outputs_)  # skl2onnx's convention
    np.testing.assert_allclose(predicted.reshape(model.predict(X).shape),
                               model.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make_sparse", [sparse.csr_matrix, sparse.coo_matrix,
                                         sparse.dia_matrix])
def test_onnx_of_a_model_fitted_on_sparse_rows_takes_sparse_sample_rows(make_sparse):
    # skl2onnx raised "Unexpected type <class 'scipy.sparse...'>, unable to guess
    # type"; the graph takes dense rows, of the sample's dtype and width
    X, y = _data("multiclass")
    X[np.abs(X) < 0.9] = 0
    model = _fit(MLPClassifier((4,), max_iter=20, random_state=0), make_sparse(X), y)
    label, probabilities = _run(to_onnx(model, make_sparse(X[:3])), X)
    assert np.array_equal(label, model.predict(sparse.csr_matrix(X)))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-12,
                               atol=1e-15)


def test_onnx_float32_graph_agrees_to_float32_rounding():
    X, y = _data("multiclass")
    model = _fit(MLPClassifier((16,), batch_norm=True, max_iter=30, random_state=0),
                 X, y)
    X32 = X.astype(np.float32)
    label, probabilities = _run(to_onnx(model, X32[:1]), X32)
    assert probabilities.dtype == np.float32
    expected = model.predict_proba(X)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    # the labels agree wherever the top two probabilities are not a near tie
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-5
    assert clear.mean() > 0.9
    assert np.array_equal(label[clear], model.predict(X)[clear])


def test_onnx_of_a_float32_model_reproduces_it():
    X, y = _data("multiclass")
    X32 = X.astype(np.float32)
    model = _fit(MLPClassifier((16,), max_iter=30, random_state=0), X32, y)
    label, probabilities = _run(to_onnx(model, X32[:1]), X32)
    assert np.array_equal(label, model.predict(X32))
    np.testing.assert_allclose(probabilities, model.predict_proba(X32), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "émeu"]), np.array([-5, 7, 100]), np.array([0.0, 1.0, 2.0]),
])
def test_onnx_labels_keep_their_type(labels):
    X, y = _data("multiclass")
    model = _fit(MLPClassifier((6,), max_iter=30, random_state=0), X, labels[y])
    label, _ = _run(to_onnx(model, X[:1]), X)
    predicted = model.predict(X)
    assert np.array_equal(label, predicted)
    assert label.dtype.kind == predicted.dtype.kind or (
        label.dtype == object and predicted.dtype.kind == "U")


def test_onnx_boolean_labels():
    X, y = _data("binary")
    model = _fit(MLPClassifier((6,), max_iter=30, random_state=0), X, y.astype(bool))
    label, _ = _run(to_onnx(model, X[:1]), X)
    assert label.dtype == np.bool_
    assert np.array_equal(label, model.predict(X))


def test_onnx_binary_probability_of_one_half_is_the_negative_class():
    # predict's rule: P > 0.5. Zero parameters give every row p = 0.5 exactly.
    X, y = _data("binary")
    model = _fit(MLPClassifier((3,), max_iter=2, random_state=0), X, y)
    model._theta[:] = 0.0
    label, probabilities = _run(to_onnx(model, X[:1]), X)
    assert (probabilities == 0.5).all()
    assert (model.predict(X) == 0).all() and (label == 0).all()


def test_onnx_pipeline_with_a_scaler():
    X, y = _data("multiclass")
    X = X * [1.0, 100.0, 0.01, 5.0, 1.0] + 3.0
    pipeline = _fit(make_pipeline(StandardScaler(), MLPClassifier(
        (8,), max_iter=50, random_state=0)), X, np.array(["a", "b", "c"])[y])
    label, probabilities = _run(to_onnx(pipeline, X[:1]), X)
    assert np.array_equal(label, pipeline.predict(X))
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(X), rtol=1e-12,
                               atol=1e-15)


def test_onnx_of_an_unfitted_model_is_refused():
    X, _ = _data("multiclass")
    for model in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            to_onnx(model, X[:1])


# ----------------------------------------------------------------------- skops
@pytest.mark.parametrize("solver", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                    "rmsprop_nesterov", "adam", "lbfgs", "newton"])
def test_skops_round_trip_predicts_and_trains_on_identically(solver):
    X, y = _data("multiclass")
    model = _fit(MLPClassifier((6,), solver=solver, batch_norm=BatchNorm(), max_iter=3,
                               warm_start=True, random_state=0), X, y)
    data = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=data)
    # only skopt_nn's own classes need trusting, nothing of NumPy's or Python's
    assert untrusted and all(name.startswith("skopt_nn.") for name in untrusted)
    loaded = sio.loads(data, trusted=untrusted)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # and it continues where the original left off: the solver state came along
    _fit(model, X, y)
    _fit(loaded, X, y)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_skops_regressor_with_a_schedule_in_a_pipeline():
    X, y = _data("regression")
    pipeline = _fit(make_pipeline(StandardScaler(), MLPRegressor(
        (6,), solver=SGD(learning_rate=LinearDecay(initial=0.05, tau=50)),
        max_iter=5, random_state=0)), X, y)
    data = sio.dumps(pipeline)
    untrusted = sio.get_untrusted_types(data=data)
    assert "skopt_nn.schedules.LinearDecay" in untrusted
    loaded = sio.loads(data, trusted=untrusted)
    assert np.array_equal(loaded.predict(X), pipeline.predict(X))


def test_skops_file_predicts_in_a_fresh_process(tmp_path):
    X, y = _data("binary")
    model = _fit(MLPClassifier((6,), batch_norm=True, max_iter=5, random_state=0),
                 X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    np.save(tmp_path / "X.npy", X)
    script = (
        "import numpy as np, skops.io as sio, sys\n"
        f"path = {str(path)!r}\n"
        "model = sio.load(path, trusted=sio.get_untrusted_types(file=path))\n"
        f"np.save({str(tmp_path / 'P.npy')!r}, model.predict_proba("
        f"np.load({str(tmp_path / 'X.npy')!r})))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert np.array_equal(np.load(tmp_path / "P.npy"), model.predict_proba(X))


def test_onnx_probabilities_are_kept_as_predict_proba_keeps_them():
    # confident predictions: softmax zeros raised to tiny, logistic ones kept
    # below 1, so that their logarithms are finite, as predict_log_proba's
    for kind in ("multiclass", "binary", "multilabel"):
        X, y = _data(kind)
        model = _fit(MLPClassifier((6,), max_iter=30, random_state=0), X, y)
        model._theta *= 300.0
        expected = model.predict_proba(X)
        assert (expected == np.finfo(np.float64).tiny).any()
        _, probabilities = _run(to_onnx(model, X[:1]), X)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-12)
        assert np.isfinite(np.log(probabilities)).all()
        X32 = X.astype(np.float32)
        _, probabilities = _run(to_onnx(model, X32[:1]), X32)
        assert (probabilities > 0).all() and (probabilities <= 1).all()


def test_onnx_input_of_another_width_or_one_per_column_is_refused():
    import pandas as pd
    from skl2onnx.common.data_types import FloatTensorType

    X, y = _data("multiclass")
    model = _fit(MLPClassifier((6,), max_iter=30, random_state=0), X, y)
    with pytest.raises(ValueError, match=r"input has shape \[None, 3\], but "
                                         "MLPClassifier is expecting 5 features"):
        to_onnx(model, initial_types=[("X", FloatTensorType([None, 3]))])
    frame = pd.DataFrame(X, columns=list("abcde"))
    named = _fit(MLPRegressor((6,), max_iter=30, random_state=0), frame, X[:, 0])
    with pytest.raises(RuntimeError, match="at most 1 input"):
        to_onnx(named, frame[:1])


def test_onnx_zipmap_false_is_accepted_and_true_refused():
    X, y = _data("multiclass")
    model = _fit(MLPClassifier((6,), max_iter=30, random_state=0), X, y)
    label, probabilities = _run(to_onnx(model, X[:1], options={"zipmap": False}), X)
    assert np.array_equal(label, model.predict(X))
    with pytest.raises(Exception, match="zipmap"):
        to_onnx(model, X[:1], options={"zipmap": True})


def test_onnx_integer_labels_beyond_int64_are_refused():
    X, y = _data("binary")
    labels = np.array([1, 2 ** 63 + 5], dtype=np.uint64)
    model = _fit(MLPClassifier((3,), max_iter=5, random_state=0), X, labels[y])
    with pytest.raises(ValueError, match="does not fit"):
        to_onnx(model, X[:1])


def test_onnx_without_skl2onnx_says_which_extra_to_install(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "skopt_nn.onnx")
    with pytest.raises(ImportError, match=r"pip install 'skopt_nn\[onnx\]'"):
        importlib.import_module("skopt_nn.onnx")

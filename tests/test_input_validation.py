"""Bad input gets a clear error (scikit-learn's wording where it has one), and a
fitted estimator whose refit or partial_fit fails is left exactly as it was.
Divergence is reported, and the estimator still predicts finite values."""

import copy
import os
import re
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from scipy import sparse
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, load_iris,
                              make_blobs,
                              make_classification, make_multilabel_classification)
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from skopt_nn import BatchNorm, MLPClassifier, MLPRegressor
from skopt_nn import _mlp as mlp
from skopt_nn._data import Minibatches, validation_split
from skopt_nn._network import Network
from skopt_nn._divergence import DivergenceTest
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import (SGD, LBFGS, AdaGrad, Adam, Momentum, Newton, RMSProp,
                              Solver)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n_samples=60):
    return make_classification(n_samples, 5, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)


def _fitted(Estimator=MLPClassifier, **params):
    X, y = _data()
    defaults = dict(hidden_layer_sizes=(4,), max_iter=3, batch_size=16,
                    random_state=0)
    return Estimator(**{**defaults, **params}).fit(X, y)


# ------------------------------------------------------------ deep snapshots
def _assert_same(a, b, where="estimator"):
    """Recursive equality of fitted state: arrays bit for bit, with dtypes."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.random.RandomState):
        _assert_same(a.get_state(), b.get_state(), f"{where}.get_state()")
    elif isinstance(a, BaseEstimator):
        _assert_same(a.get_params(deep=False), b.get_params(deep=False), where)
    elif hasattr(a, "__dict__"):  # the network: everything but scratch buffers
        da = {k: v for k, v in vars(a).items() if k != "_workspaces"}
        db = {k: v for k, v in vars(b).items() if k != "_workspaces"}
        _assert_same(da, db, where)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def _fitted_state(est):
    """Everything but the constructor parameters (which set_params may change)
    and the lists of views into ``_theta`` (their values are ``_theta``'s; a
    copy of one is a plain list, and they are checked to be views below)."""
    return {k: v for k, v in vars(est).items()
            if k not in est.get_params(deep=False) and not k.endswith("views")}


def _assert_unchanged_by_failure(est, action, error, match):
    snapshot = copy.deepcopy(_fitted_state(est))
    views = [w for w in est.coefs_]
    with pytest.raises(error, match=match):
        action(est)
    _assert_same(_fitted_state(est), snapshot)
    # the attributes are still views into the flat vector, the very same arrays
    assert all(a is b for a, b in zip(est.coefs_, views))
    assert all(np.shares_memory(w, est._theta) for w in est.coefs_)


# ----------------------------------------------------------------- bad data
X_GOOD, Y_GOOD = _data()
# one row of each class: few enough rows for early stopping to hold out none
# (a warm start must see every class, as in scikit-learn)
ONE_PER_CLASS = [int(np.flatnonzero(Y_GOOD == label)[0]) for label in (0, 1, 2)]
X_NAN = X_GOOD.copy()
X_NAN[3, 2] = np.nan
X_INF = X_GOOD.copy()
X_INF[5, 0] = np.inf


@pytest.mark.parametrize("X, match", [(X_NAN, "Input X contains NaN"),
                                      (X_INF, "Input X contains infinity")])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_fit_rejects_nan_and_inf(Estimator, X, match):
    with pytest.raises(ValueError, match=match):
        Estimator().fit(X, Y_GOOD)


def test_predict_rejects_nan():
    with pytest.raises(ValueError, match="Input X contains NaN"):
        _fitted().predict(X_NAN)


def test_regressor_rejects_nan_targets():
    y = Y_GOOD.astype(float)
    y[0] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor().fit(X_GOOD, y)


def test_regressor_rejects_missing_targets_given_as_none():
    # an object y: validation's finiteness check does not see None, the cast does
    y = [None] + list(X_GOOD[1:, 0])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor().fit(X_GOOD, y)


def test_regressor_rejects_string_targets():
    with pytest.raises(ValueError, match="y must be numeric for regression"):
        MLPRegressor().fit(X_GOOD, X_GOOD[:, 0].astype(str))


def test_poisson_regressor_rejects_negative_targets_and_is_left_as_it_was():
    y = np.abs(X_GOOD[:, 0])
    message = "Some value(s) of y are negative which is not allowed for Poisson"
    with pytest.raises(ValueError, match=re.escape(message)):
        MLPRegressor(loss="poisson").fit(X_GOOD, -y)
    reg = MLPRegressor((3,), loss="poisson", random_state=0).partial_fit(X_GOOD, y)
    before = reg._theta.copy()
    bad = y.copy()
    bad[3] = -1e-3
    for targets in (bad, list(bad)):  # the light path, and the full one
        with pytest.raises(ValueError, match=re.escape(message)):
            reg.partial_fit(X_GOOD, targets)
    np.testing.assert_array_equal(reg._theta, before)
    MLPRegressor((3,), random_state=0).fit(X_GOOD, -y)  # squared error takes them


def test_batch_norm_without_hidden_layers_warns_that_it_does_nothing():
    y = np.abs(X_GOOD[:, 0])
    with pytest.warns(UserWarning, match="batch_norm has no effect without hidden "
                                         "layers"):
        reg = MLPRegressor((), batch_norm=True, random_state=0).partial_fit(X_GOOD, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        reg.partial_fit(X_GOOD, y)  # (said once, on the first call)
    plain = MLPRegressor((), random_state=0).partial_fit(X_GOOD, y).partial_fit(
        X_GOOD, y)
    np.testing.assert_array_equal(reg.predict(X_GOOD), plain.predict(X_GOOD))


def test_loss_cannot_change_between_warm_started_or_partial_fits():
    y = np.abs(X_GOOD[:, 0])
    reg = MLPRegressor((3,), random_state=0, warm_start=True, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X_GOOD, y)
        reg.set_params(loss="poisson")
        with pytest.raises(ValueError, match="loss cannot change between "
                                             "warm-started or partial fits"):
            reg.fit(X_GOOD, y)
        with pytest.raises(ValueError, match="loss cannot change"):
            reg.partial_fit(X_GOOD, y)
        reg.set_params(warm_start=False).fit(X_GOOD, y)  # a fit from scratch may
    assert reg.out_activation_ == "exp"


def test_classifier_partial_fit_warns_on_a_column_vector_at_every_call():
    # as scikit-learn's MLP does; only the first call warned
    clf = MLPClassifier((3,), random_state=0)
    for _ in range(2):
        with pytest.warns(DataConversionWarning, match="column-vector y"):
            clf.partial_fit(X_GOOD, Y_GOOD[:, None], classes=np.unique(Y_GOOD))


def test_regressor_warns_on_a_column_vector_target_as_scikit_learn():
    y = X_GOOD[:, :1] * 2
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        reg = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(X_GOOD, y)
    assert reg.predict(X_GOOD).shape == (60,)


def test_sparse_multilabel_targets_fit_as_dense_ones():
    X, Y = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    dense = MLPClassifier(**params).fit(X, Y)
    from_sparse = MLPClassifier(**params).fit(X, sparse.csr_matrix(Y))
    np.testing.assert_array_equal(from_sparse.predict_proba(X), dense.predict_proba(X))


@pytest.mark.parametrize("values", [(-1, 1), (0, 2), (1, 2)])
@pytest.mark.parametrize("first", ["fit", "partial_fit"])
def test_an_indicator_matrix_of_other_values_than_0_and_1_is_refused(values, first):
    # type_of_target calls any 2-D matrix of two integers multilabel; as 8-bit
    # targets, -1 became 255 (loss_ -374.9), and a later partial_fit refused the
    # same y the first call had trained on
    X, Y = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    Y = np.where(Y == 1, values[1], values[0])
    clf = MLPClassifier((3,), max_iter=2)
    with pytest.raises(ValueError, match=re.escape(
            f"label indicator matrix of 0 and 1, got the values {list(values)}")):
        if first == "fit":
            clf.fit(X, Y)
        else:
            clf.partial_fit(X, Y, classes=[0, 1, 2])
    assert not hasattr(clf, "classes_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, (Y == values[1]).astype(int))  # 0 and 1, as bools or floats too
    _assert_unchanged_by_failure(clf, lambda est: est.partial_fit(X, Y), ValueError,
                                 "label indicator matrix of 0 and 1")


@pytest.mark.parametrize("make_sparse", [sparse.csr_matrix, sparse.csc_array])
def test_a_sparse_y_of_one_label_column_is_refused_as_scikit_learn(make_sparse):
    # it was fitted as binary labels, which score then refused in the same form
    y = make_sparse((X_GOOD[:, :1] > 0).astype(int))
    with pytest.raises(TypeError, match="Sparse data was passed for y, but dense "
                                        "data is required"):
        MLPClassifier((3,), max_iter=2).fit(X_GOOD, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_multilabel_targets_after_a_multiclass_fit_are_rejected_by_name(n_classes):
    X, y = make_classification(60, 5, n_informative=3, n_redundant=0,
                               n_classes=n_classes, random_state=0)
    _, Y = make_multilabel_classification(60, 5, n_classes=n_classes, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    _assert_unchanged_by_failure(clf, lambda est: est.partial_fit(X, Y),
                                 ValueError, "not fitted with multilabel input")


@pytest.mark.parametrize("classes", [[0, 1, 2], [0, 1, 2, 3, 4], ["a", "b", "c", "d"]])
def test_multilabel_partial_fit_checks_the_label_columns_given_as_classes(classes):
    # classes= was ignored for an indicator y: any list passed, on any call
    X, Y = make_multilabel_classification(60, 5, n_classes=4, random_state=0)
    with pytest.raises(ValueError, match="classes must be its label columns"):
        MLPClassifier((4,), random_state=0).partial_fit(X, Y, classes=classes)
    clf = MLPClassifier((4,), random_state=0).partial_fit(X, Y, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    _assert_unchanged_by_failure(
        clf, lambda est: est.partial_fit(X, Y, classes=classes), ValueError,
        "is not the same as on last call")
    clf.partial_fit(X, Y, classes=[3, 2, 1, 0])  # the same columns: accepted


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_predict_rejects_wrong_number_of_features(method):
    clf = _fitted()
    args = (X_GOOD[:, :4],) if method != "score" else (X_GOOD[:, :4], Y_GOOD)
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is "
                                         "expecting 5 features as input"):
        getattr(clf, method)(*args)


def test_fit_rejects_a_single_class():
    with pytest.raises(ValueError, match="at least 2 classes in the data, but the "
                                         "data contains only one class: 0.0$"):
        MLPClassifier().fit(X_GOOD, np.zeros(60))


def test_fit_rejects_inconsistent_lengths():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier().fit(X_GOOD, Y_GOOD[:50])


def test_fit_rejects_wrong_length_sample_weight():
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(50,\), "
                                         r"expected \(60,\)"):
        MLPClassifier().fit(X_GOOD, Y_GOOD, sample_weight=np.ones(50))


def test_fit_rejects_negative_sample_weight():
    weights = np.ones(60)
    weights[7] = -0.5
    with pytest.raises(ValueError, match="Negative values in data passed to "
                                         "`sample_weight`"):
        MLPClassifier().fit(X_GOOD, Y_GOOD, sample_weight=weights)


def test_fit_rejects_all_zero_sample_weight():
    with pytest.raises(ValueError, match="at least one non-zero"):
        MLPRegressor().fit(X_GOOD, Y_GOOD, sample_weight=np.zeros(60))


def test_early_stopping_rejects_too_few_rows_to_validate():
    with pytest.raises(ValueError, match="validation split of early_stopping left "
                                         "no rows to validate on"):
        MLPClassifier(early_stopping=True).fit(X_GOOD[:2], [0, 1])


def test_fit_rejects_negative_class_weight():
    with pytest.raises(ValueError, match="class_weight must be finite and non-negative"):
        MLPClassifier(class_weight={0: -1.0, 1: 1.0, 2: 1.0}).fit(X_GOOD, Y_GOOD)


def test_a_dict_class_weight_with_multilabel_targets_says_what_works():
    # scikit-learn's message asked for a list of dicts, which is refused
    X, Y = make_multilabel_classification(40, 4, n_classes=3, random_state=0)
    with pytest.raises(ValueError, match="for a multilabel indicator y, use "
                                         "class_weight='balanced' or pass sample_weight"):
        MLPClassifier(class_weight={0: 1, 1: 2}).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((3,), class_weight="balanced", max_iter=2).fit(X, Y)


@pytest.mark.parametrize("class_weight", [{0: 2.0, 1: 1.0}, "balanced"])
def test_class_weight_takes_a_column_vector_of_labels_as_its_column(class_weight):
    # a dict refused df[["target"]] as multilabel ('balanced' took it)
    y = (X_GOOD[:, 0] > 0).astype(int)
    params = dict(hidden_layer_sizes=(3,), max_iter=3, random_state=0,
                  class_weight=class_weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        flat = MLPClassifier(**params).fit(X_GOOD, y)
        with pytest.warns(DataConversionWarning, match="column-vector y"):
            column = MLPClassifier(**params).fit(X_GOOD, y[:, None])
        if isinstance(class_weight, dict):  # ('balanced' refuses partial_fit)
            with pytest.warns(DataConversionWarning, match="column-vector y"):
                column.partial_fit(X_GOOD, y[:, None])
            flat.partial_fit(X_GOOD, y)
    np.testing.assert_array_equal(column._theta, flat._theta)


def test_a_class_weight_dict_weighs_partial_fit_batches_lacking_a_class():
    # a dict naming the rare class only raised "The classes, ['b', 'c'], are not
    # in class_weight" on every batch without it, classes= declared or not (as
    # scikit-learn's SGDClassifier, the weights are over the declared classes)
    X, y = load_iris(return_X_y=True)
    labels = np.array(["rare", "b", "c"])[y]
    params = dict(hidden_layer_sizes=(3,), random_state=0, shuffle=False)
    clf = MLPClassifier(class_weight={"rare": 5.0}, **params)
    clf.partial_fit(X[50:], labels[50:], classes=["rare", "b", "c"])
    clf.partial_fit(X[:100], labels[:100])
    # the same as the weights passed as sample weights (1 for the classes unnamed)
    ref = MLPClassifier(**params)
    ref.partial_fit(X[50:], labels[50:], classes=["rare", "b", "c"])
    weights = np.where(labels[:100] == "rare", 5.0, 1.0)
    ref.partial_fit(X[:100], labels[:100], sample_weight=weights)
    np.testing.assert_array_equal(clf._theta, ref._theta)
    with pytest.raises(ValueError, match=re.escape("The classes, [0, 1, 2], are not "
                                                   "in class_weight")):
        MLPClassifier(class_weight={5: 2.0}, **params).partial_fit(X, y, classes=[0, 1, 2])


def test_skip_parameter_validation_validates_nothing_as_scikit_learn():
    X, y = load_iris(return_X_y=True)
    with sklearn.config_context(skip_parameter_validation=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier((3,), max_iter=2, tol=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="'tol' parameter"):
        MLPClassifier((3,), max_iter=2, tol=-1.0).fit(X, y)


def test_early_stopping_keeps_identical_sparse_rows_stored_in_another_order_together():
    # a row's key summed its entries in stored order: the same rows, once with
    # their column indices unsorted, got other keys, and 14 of 30 held-out rows
    # had their copy in training (the fit 0.09 from the dense one)
    rng = np.random.RandomState(0)
    base = rng.randn(150, 30) * (rng.rand(150, 30) < 0.4)
    perm = rng.permutation(30)
    X = sparse.vstack([sparse.csr_matrix(base[:, perm]),
                       sparse.csr_matrix(base)[:, perm]], format="csr")
    assert not X.has_sorted_indices
    indices = X.indices.copy()
    Y = np.eye(2)[np.tile((base[:, 0] > 0).astype(int), 2)]
    held_out = validation_split(X, Y, None, 0.1, Y[:, 1], np.random.RandomState(0))
    assert held_out.sum() == 30
    np.testing.assert_array_equal(held_out[:150], held_out[150:])
    np.testing.assert_array_equal(X.indices, indices)  # (the user's X unchanged)


def test_prediction_takes_csc_rows_as_csr(monkeypatch):
    # inference takes blocks of rows: from CSC, each block walked all the entries
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((3,), max_iter=5, random_state=0).fit(X, y)
    formats = []
    predict = Network.predict

    def recording(self, theta, rows, *args):
        formats.append(rows.format)
        return predict(self, theta, rows, *args)

    monkeypatch.setattr(Network, "predict", recording)
    np.testing.assert_array_equal(clf.predict_proba(sparse.csc_matrix(X)),
                                  clf.predict_proba(sparse.csr_matrix(X)))
    assert formats == ["csr", "csr"]


def test_an_early_stopping_split_of_identical_rows_says_why_it_is_empty():
    X = np.repeat([[0.0], [1.0]], 500, axis=0)
    with pytest.raises(ValueError, match="left no rows to validate on with "
                                         "n_samples=1000; .* Identical rows stay on "
                                         "one side of the split") as caught:
        MLPClassifier((3,), early_stopping=True).fit(X, X.ravel().astype(int))
    # (the split holds out a row at least: validation_fraction is no remedy)
    assert "validation_fraction" not in str(caught.value)


def test_validation_fraction_zero_is_valid_without_early_stopping_only():
    MLPClassifier(validation_fraction=0.0, max_iter=2).fit(X_GOOD, Y_GOOD)
    with pytest.raises(ValueError, match="early_stopping needs validation_fraction "
                                         "> 0"):
        MLPClassifier(validation_fraction=0.0, early_stopping=True).fit(X_GOOD, Y_GOOD)


# ------------------------------------------------------- bad hyperparameters
BAD_PARAMETERS = [
    ("hidden_layer_sizes", 0, "The 'hidden_layer_sizes' parameter"),
    ("hidden_layer_sizes", (4, 0), "hidden_layer_sizes must be > 0"),
    ("hidden_layer_sizes", (4, 2.5), "hidden_layer_sizes must be > 0"),
    ("hidden_layer_sizes", (True,), "hidden_layer_sizes must be > 0"),
    ("activation", "softplus", "The 'activation' parameter"),
    ("solver", "bfgs", "The 'solver' parameter"),
    ("solver", object(), "The 'solver' parameter"),
    ("batch_norm", "yes", "The 'batch_norm' parameter"),
    ("alpha", -1.0, "The 'alpha' parameter"),
    ("batch_size", 0, "The 'batch_size' parameter"),
    # bool is an int to scikit-learn's Interval(Integral): batch_size=True passed
    # validation and failed inside NumPy (a robustness review of 32381e7)
    ("batch_size", True, "The 'batch_size' parameter of .* must be an int, not a "
                         "bool. Got True"),
    ("hidden_layer_sizes", True, "The 'hidden_layer_sizes' parameter .* not a bool"),
    ("max_iter", False, "The 'max_iter' parameter"),
    ("max_iter", True, "The 'max_iter' parameter .* not a bool"),
    ("n_iter_no_change", True, "The 'n_iter_no_change' parameter .* not a bool"),
    ("tol", -1e-3, "The 'tol' parameter"),
    ("n_iter_no_change", 0, "The 'n_iter_no_change' parameter"),
    ("early_stopping", "no", "The 'early_stopping' parameter"),
    ("validation_fraction", 1.0, "The 'validation_fraction' parameter"),
    ("shuffle", None, "The 'shuffle' parameter"),
    ("random_state", "seed", "The 'random_state' parameter"),
    ("verbose", "loud", "The 'verbose' parameter"),
    ("warm_start", 1.5, "The 'warm_start' parameter"),
    ("max_grad_norm", 0.0, "The 'max_grad_norm' parameter"),
    # a class for an instance: scikit-learn's message named the private module
    ("solver", Adam, r"The 'solver' parameter of .* must be an instance, not the "
                     r"class Adam: pass solver=Adam\(...\)"),
    ("batch_norm", BatchNorm, r"must be an instance, not the class BatchNorm"),
]
NESTED_BAD_PARAMETERS = [
    ("solver", SGD(learning_rate=-1), "The 'learning_rate' parameter of SGD"),
    ("solver", Adam(beta_1=1.5), "The 'beta_1' parameter of Adam"),
    ("solver", LBFGS(history_size=True), "The 'history_size' parameter of LBFGS "
                                         "must be an int, not a bool"),
    ("solver", LBFGS(max_linesearch=True), "The 'max_linesearch' parameter .* bool"),
    ("solver", Newton(max_exact_params=False), "The 'max_exact_params' parameter .* "
                                               "bool"),
    ("solver", SGD(LinearDecay(tau=True)), "The 'tau' parameter of LinearDecay must "
                                           "be an int, not a bool"),
    # a schedule's class is callable: it passed validation and failed at the
    # first update with "returned LinearDecay(initial=0)"
    ("solver", SGD(learning_rate=LinearDecay), r"The 'learning_rate' parameter of "
     r"SGD must be an instance, not the class LinearDecay: pass learning_rate="
     r"LinearDecay\(...\)"),
    # a bool is a number to scikit-learn's Interval(Real): SGD trained at rate 1
    # (a user's solver refused it), BatchNorm ran with momentum 1
    ("solver", SGD(learning_rate=True), "The 'learning_rate' parameter of SGD must "
                                        "be a number, not a bool. Got True"),
    ("solver", Momentum(momentum=False), "The 'momentum' parameter of Momentum must "
                                         "be a number, not a bool"),
    ("solver", SGD(LinearDecay(initial=True)), "The 'initial' parameter of "
                                               "LinearDecay must be a number, not"),
    ("batch_norm", BatchNorm(momentum=True), "The 'momentum' parameter of BatchNorm "
                                             "must be a number, not a bool"),
    ("batch_norm", BatchNorm(epsilon=-1), "The 'epsilon' parameter of BatchNorm"),
    ("batch_norm", BatchNorm(momentum=2.0), "The 'momentum' parameter of BatchNorm"),
]


def _ids(cases):
    return [f"{name}={value!r}"[:40] for name, value, _ in cases]


@pytest.mark.parametrize("name, value, match", BAD_PARAMETERS + NESTED_BAD_PARAMETERS,
                         ids=_ids(BAD_PARAMETERS + NESTED_BAD_PARAMETERS))
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_invalid_hyperparameter_is_rejected_at_fit(Estimator, name, value, match):
    with pytest.raises(ValueError, match=match):
        Estimator(**{name: value}).fit(X_GOOD, Y_GOOD)


@pytest.mark.parametrize("Estimator, name, value, match", [
    (MLPClassifier, "class_weight", "uniform", "The 'class_weight' parameter"),
    (MLPRegressor, "loss", "absolute_error", "The 'loss' parameter"),
])
def test_invalid_estimator_specific_hyperparameter_is_rejected(Estimator, name, value,
                                                               match):
    with pytest.raises(ValueError, match=match):
        Estimator(**{name: value}).fit(X_GOOD, Y_GOOD)


def test_first_partial_fit_refuses_a_label_outside_classes():
    # one unknown label among known ones, not only labels all unknown
    y = np.where(np.arange(60) == 7, -1, Y_GOOD)
    est = MLPClassifier((3,), random_state=0)
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        est.partial_fit(X_GOOD, y, classes=[0, 1, 2])
    assert not hasattr(est, "classes_")


def test_invalid_hyperparameter_is_rejected_at_first_partial_fit():
    with pytest.raises(ValueError, match="The 'alpha' parameter"):
        MLPRegressor(alpha=-1).partial_fit(X_GOOD, Y_GOOD)


@pytest.mark.parametrize("bad, match", [
    ({"alpha": -1.0}, "The 'alpha' parameter"),
    ({"batch_size": 0}, "The 'batch_size' parameter"),
    ({"activation": "bogus"}, "The 'activation' parameter"),
])
def test_parameters_set_by_a_set_params_that_raised_are_validated(bad, match):
    # set_params sets the parameters one by one: one that raises after others
    # left those set, unvalidated, and the next partial_fit trained with alpha
    # -1, or failed with ZeroDivisionError or KeyError
    est = MLPRegressor((3,), random_state=0).partial_fit(X_GOOD, Y_GOOD)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        est.set_params(**bad, solver__bogus=1)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(X_GOOD, Y_GOOD)


# -------------------------------------- failures leave the estimator unchanged
FAILURES = {
    "refit_nan": (lambda e: e.fit(X_NAN, Y_GOOD), ValueError, "NaN"),
    "refit_invalid_alpha": (lambda e: e.set_params(alpha=-1).fit(X_GOOD, Y_GOOD),
                            ValueError, "'alpha' parameter"),
    "refit_invalid_solver_hyperparameter": (
        lambda e: e.set_params(solver=SGD(learning_rate=-1)).fit(X_GOOD, Y_GOOD),
        ValueError, "'learning_rate' parameter"),
    "refit_invalid_batch_norm": (
        lambda e: e.set_params(batch_norm=BatchNorm(epsilon=0)).fit(X_GOOD, Y_GOOD),
        ValueError, "'epsilon' parameter"),
    "refit_wrong_sample_weight": (
        lambda e: e.fit(X_GOOD, Y_GOOD, sample_weight=np.ones(3)), ValueError,
        "sample_weight.shape"),
    "refit_one_class": (lambda e: e.fit(X_GOOD, np.ones(60)), ValueError,
                        "only one class"),
    "partial_fit_wrong_features": (lambda e: e.partial_fit(X_GOOD[:, :3], Y_GOOD),
                                   ValueError, "X has 3 features"),
    "partial_fit_unknown_label": (lambda e: e.partial_fit(X_GOOD, Y_GOOD + 1),
                                  ValueError, "classes not in `self.classes_`"),
    "partial_fit_one_unknown_label": (
        lambda e: e.partial_fit(X_GOOD, np.where(np.arange(60) == 7, 5, Y_GOOD)),
        ValueError, "classes not in `self.classes_`"),
    "partial_fit_other_classes": (
        lambda e: e.partial_fit(X_GOOD, Y_GOOD, classes=[0, 1, 2, 3]), ValueError,
        "is not the same as on last call"),
    # (an integer array of classes, with integer labels, takes the light path)
    "partial_fit_more_classes_as_array": (
        lambda e: e.partial_fit(X_GOOD, Y_GOOD, classes=np.arange(4)), ValueError,
        "is not the same as on last call"),
    "partial_fit_fewer_classes_as_array": (
        lambda e: e.partial_fit(X_GOOD[Y_GOOD < 2], Y_GOOD[Y_GOOD < 2],
                                classes=np.arange(2)), ValueError,
        "is not the same as on last call"),
    "partial_fit_negative_weight": (
        lambda e: e.partial_fit(X_GOOD, Y_GOOD, sample_weight=-np.ones(60)),
        ValueError, "Negative values"),
    "warm_start_other_architecture": (
        lambda e: e.set_params(warm_start=True, hidden_layer_sizes=(5,))
        .fit(X_GOOD, Y_GOOD), ValueError, "hidden_layer_sizes and the number of "
        "outputs cannot change"),
    "warm_start_switch_batch_norm": (
        lambda e: e.set_params(warm_start=True, batch_norm=True).fit(X_GOOD, Y_GOOD),
        ValueError, "batch_norm cannot be switched"),
    "warm_start_early_stopping_too_few_rows": (
        lambda e: e.set_params(warm_start=True, early_stopping=True)
        .fit(X_GOOD[ONE_PER_CLASS], Y_GOOD[ONE_PER_CLASS]), ValueError,
        "no rows to validate on"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failed_refit_or_partial_fit_leaves_estimator_unchanged(failure):
    action, error, match = FAILURES[failure]
    est = _fitted(MLPClassifier, solver=Adam(learning_rate=0.01))
    _assert_unchanged_by_failure(est, action, error, match)


def test_warm_start_needs_the_same_classes_as_scikit_learn():
    X, y = _data()
    est = _fitted(MLPClassifier, warm_start=True)
    _assert_unchanged_by_failure(
        est, lambda e: e.fit(X[y < 2], y[y < 2]), ValueError,
        r"warm_start can only be used where `y` has the same classes as in the "
        r"previous call to fit. Previously got \[0 1 2\], `y` has \[0 1\]")
    est.partial_fit(X[y < 2], y[y < 2])  # partial_fit takes a subset
    # continuous targets get scikit-learn's error for them, not the raw labels
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        est.fit(X, y + 0.5)
    # a new class too gets warm_start's words (it got partial_fit's)
    _assert_unchanged_by_failure(
        est, lambda e: e.fit(X, np.where(y == 2, 3, y)), ValueError,
        r"warm_start can only be used where `y` has the same classes as in the "
        r"previous call to fit. Previously got \[0 1 2\], `y` has \[0 1 3\]")


def test_warm_start_checks_the_classes_of_every_row_zero_weights_included():
    """Rows of weight 0 are dropped before training, but the classes are those
    of y as given: a warm start on the same data (class 2 weighing nothing) is
    the same classes, as in scikit-learn."""
    X, y = _data()
    for how in ("class_weight", "sample_weight"):
        est = _fitted(MLPClassifier, class_weight={0: 1, 1: 1, 2: 0}
                      if how == "class_weight" else None)
        weight = None if how == "class_weight" else (y != 2).astype(float)
        est.fit(X, y, sample_weight=weight)
        est.set_params(warm_start=True).fit(X, y, sample_weight=weight)
        assert est.n_iter_ == 6


def test_failed_warm_start_keeps_batch_norm_configuration():
    """The network's BN epsilon is switched before the validation split fails."""
    est = _fitted(MLPClassifier, batch_norm=BatchNorm(epsilon=1e-5))
    action = (lambda e: e.set_params(warm_start=True, early_stopping=True,
                                     batch_norm=BatchNorm(epsilon=1e-2))
              .fit(X_GOOD[ONE_PER_CLASS], Y_GOOD[ONE_PER_CLASS]))
    _assert_unchanged_by_failure(est, action, ValueError, "no rows to validate on")
    assert est._network.bn_epsilon == 1e-5


class _FailingSolver(Solver):
    """SGD that raises at update number ``fail_at`` (counted since init_state)."""

    def __init__(self, fail_at=14):
        self.fail_at = fail_at

    def init_state(self, theta):
        return {"step": 0, "gradient_sum": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        if state["step"] == self.fail_at:
            raise FloatingPointError("solver failure in the middle of training")
        loss, grad = objective(theta)
        theta -= 0.01 * grad
        state["gradient_sum"] += grad
        state["step"] += 1
        return loss


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("fitted", [False, True])
def test_a_failed_fit_leaves_the_users_random_state_as_it_was(fitted, method):
    """A fit from scratch that failed had consumed the user's RandomState
    instance (the weights drawn, the rows shuffled), so the next fit differed
    from a first one; a fitted estimator's refit already rewound it. A first
    partial_fit call (the rows in order: 16 of them, one minibatch) drew the
    weights too, and was not rewound."""
    X, y = _data()
    kwargs = {} if method == "fit" else {"classes": np.unique(y)}
    X, y = (X, y) if method == "fit" else (X[:16], y[:16])
    failing = _FailingSolver(fail_at=5 if method == "fit" else 0)
    rng = np.random.RandomState(0)
    est = MLPClassifier(hidden_layer_sizes=(4,), batch_size=16, max_iter=3,
                        solver=failing, random_state=rng)
    if fitted:
        est.set_params(solver=SGD()).fit(X, y)
        est.set_params(solver=failing)
    before = rng.get_state()
    with pytest.raises(FloatingPointError, match="solver failure"):
        getattr(est, method)(X, y, **kwargs)
    after = rng.get_state()
    assert after[2] == before[2] and np.array_equal(after[1], before[1])


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_failure_in_the_middle_of_training_leaves_estimator_unchanged(how):
    """The first fit makes 3 epochs x 4 updates; the next pass fails after 2 more,
    having already moved the weights, the state, the random stream and the
    curves."""
    X, y = _data()
    est = _fitted(MLPClassifier, solver=_FailingSolver(fail_at=14), warm_start=True)
    assert est.solver_state_["step"] == 12
    action = (lambda e: e.fit(X, y)) if how == "warm_start" \
        else (lambda e: e.partial_fit(X, y))
    _assert_unchanged_by_failure(est, action, FloatingPointError, "solver failure")


# --------------------------------------------------------------- divergence
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_divergence_warns_and_keeps_finite_predictions(Estimator, early_stopping):
    X, y = _data(200)
    est = Estimator(hidden_layer_sizes=(8,), solver=SGD(learning_rate=1e4),
                    early_stopping=early_stopping, max_iter=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch"):
        est.fit(X, y)
    assert est.history_[-1]["diverged"] is True
    assert all(np.isfinite(est.loss_curve_))
    assert np.isfinite(est.predict(X).astype(float)).all()
    if Estimator is MLPClassifier:
        assert np.isfinite(est.predict_proba(X)).all()
    assert all(np.isfinite(w).all() for w in est.coefs_)


@pytest.mark.parametrize("learning_rate, warning", [
    # (the rise's loss is rounding's: 121.8 on one machine, 124.4 on another)
    (50.0, r"training ended with a loss of \d+\.\d, over 10 times the 2\.391"),
    (100.0, "diverged in epoch 1")])
def test_a_fit_restored_after_divergence_reports_the_loss_it_returns(learning_rate,
                                                                     warning):
    # after a rise, loss_ and best_loss_ were the abandoned trajectory's, 121.8
    # and 119.3, for parameters of loss 2.39; after a first epoch that
    # diverged, best_loss_ stayed inf
    X, y = load_digits(return_X_y=True)
    est = MLPClassifier((20,), solver=SGD(learning_rate=learning_rate),
                        max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match=warning):
        est.fit(X / 16, y)
    # the epochs' loss: each of the 9 minibatches with the penalty alpha / (2 m)
    penalty = 9 * est.alpha / (2 * len(y)) * sum(float((w ** 2).sum())
                                                  for w in est.coefs_)
    returned = log_loss(y, est.predict_proba(X / 16)) + penalty
    assert est.loss_ == pytest.approx(returned, rel=1e-9)
    assert est.best_loss_ <= est.loss_ < 10


@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
def test_losses_of_earlier_calls_on_other_data_do_not_flag_divergence(method):
    # a stream whose first chunk has targets 100 times smaller: every later
    # epoch's loss is ~1e4 times the very first one, and was once rolled back
    # as "diverged" at every call, so the model never learned
    rng = np.random.RandomState(0)
    X = rng.randn(400, 3)
    y = 30 * (X @ np.array([1.0, 2.0, -1.0]))
    est = MLPRegressor(hidden_layer_sizes=(), solver=Adam(learning_rate=0.5),
                       warm_start=method == "warm_start", max_iter=5,
                       random_state=0)
    train = est.partial_fit if method == "partial_fit" else est.fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter
        train(X[:100], 0.01 * y[:100])
    first_epochs = est.n_iter_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(50 if method == "partial_fit" else 10):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*Maximum iterations",
                                        ConvergenceWarning)
                train(X[100:], y[100:])
    assert est.score(X[100:], y[100:]) > 0.9
    assert est.t_ == 100 * first_epochs + 300 * (est.n_iter_ - first_epochs)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


@pytest.mark.parametrize("solver", [Adam(learning_rate=10), RMSProp(learning_rate=10),
                                    AdaGrad(learning_rate=100)],
                         ids=["adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("batch_size", ["auto", 20])
def test_a_loss_that_blows_up_in_the_first_updates_is_divergence(solver, batch_size):
    """The adaptive solvers' first steps have the size of the learning rate:
    the minibatch losses go from 0.6 to millions after one update, yet stay
    finite, and with 2 minibatches an epoch was judged by finiteness alone (with
    22, half against an already blown-up half). Against the loss at the
    starting parameters, the first epoch diverged, and those are restored."""
    X, y = _diabetes()
    params = dict(hidden_layer_sizes=(20,), batch_size=batch_size, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch 1"):
        est = MLPRegressor(solver=solver, max_iter=20, **params).fit(X, y)
    with pytest.warns(UserWarning, match="steps are too small to change them"):
        untrained = MLPRegressor(solver=SGD(learning_rate=1e-300), max_iter=1,
                                 **params).fit(X, y)
    np.testing.assert_array_equal(est._theta, untrained._theta)


def test_a_well_fitted_model_on_a_stream_of_one_row_minibatches_is_not_divergence():
    """Each partial_fit call's first minibatch is one row, often fitted to a
    loss of 1e-6: the epoch's mean (0.13) was compared with the loss at the
    starting parameters (3.7e-5) and the sound call undone as divergence. The
    loss before the call (0.0087) is a reference too."""
    X, y = make_blobs(2000, 2, centers=2, cluster_std=0.5, random_state=0)
    est = MLPClassifier(solver=Adam(learning_rate=1e-2), alpha=0,
                        hidden_layer_sizes=(20,), max_iter=300, batch_size=32,
                        random_state=0).fit(X[:1000], y[:1000])
    est.set_params(batch_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for start in range(1000, 1250, 50):
            est.partial_fit(X[start:start + 50], y[start:start + 50])
    assert not any(record["diverged"] for record in est.history_)


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_start_loss_is_an_epochs_loss_at_parameters_that_stay(
        Estimator, batch_norm, weighted):
    """With a learning rate too small to move anything, an epoch's loss (the
    minibatches' losses with their penalties, weighted) is the loss at the
    starting parameters that the first epoch is compared with."""
    X, y = _data(150)
    weight = np.random.RandomState(0).uniform(0.5, 2.0, 150) if weighted else None
    est = Estimator(hidden_layer_sizes=(6,), solver=SGD(1e-300), batch_size=16,
                    shuffle=False, alpha=0.3, batch_norm=batch_norm, max_iter=1,
                    random_state=0)
    with warnings.catch_warnings():
        # (parameters that did not move; BN's betas, starting at 0, move by 1e-300)
        warnings.simplefilter("ignore", UserWarning)
        est.fit(X, y, sample_weight=weight)
    X_, Y_, _, w_, _ = est._prepare(X, y, weight, reset=False)
    start_loss = est._mean_loss(est._theta, Minibatches(X_, Y_, w_, 16))
    np.testing.assert_allclose(start_loss, est.loss_, rtol=1e-12)


def test_rows_in_order_sorted_by_target_size_are_not_divergence(
        monkeypatch):
    """shuffle=False on targets sorted by size: the second half of the first
    epoch has losses 1000 times the first's by design, not divergence. Its mean
    loss is far above its first minibatch's, so it is also compared with the
    loss at the starting parameters on all rows, which is as large."""
    rng = np.random.RandomState(0)
    y = np.sort(10 ** rng.uniform(-2, 2, 400))
    X = np.column_stack([np.log10(y) + 0.1 * rng.randn(400), rng.randn(400, 2)])
    start_losses = []
    measure = MLPRegressor._mean_loss

    def recorded(self, theta, batches):
        start_losses.append(measure(self, theta, batches))
        return start_losses[-1]

    monkeypatch.setattr(MLPRegressor, "_mean_loss", recorded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", ".*Maximum iterations", ConvergenceWarning)
        est = MLPRegressor((10,), shuffle=False, batch_size=20, max_iter=3,
                           random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    assert len(start_losses) == 1  # the first epoch only
    assert 0.1 < est.loss_curve_[0] / start_losses[0] < 10


@pytest.mark.parametrize("Estimator, learning_rate",
                         [(MLPRegressor, 3.0), (MLPClassifier, 1e3)])
def test_early_stopping_never_keeps_parameters_worse_than_its_start(
        Estimator, learning_rate):
    """SGD with 2 minibatches per epoch. The regressor at a learning rate of 3:
    the first epoch's loss, measured along its updates, is 23 times its start
    (not divergence), but its parameters are blown up (validation loss 1e7
    times the start's), and epoch 2 diverges. The starting parameters were
    validated too, and are the best: they are restored, not epoch 1's (whose
    R^2 was -1e7). The classifier at 1e3 diverged in its first epoch unnoticed
    (judged by finiteness alone), and early stopping kept it (accuracy 0.37)."""
    if Estimator is MLPRegressor:
        X, y = _diabetes()
    else:
        X, y = load_breast_cancer(return_X_y=True)
        X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(20,), early_stopping=True, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        est = Estimator(solver=SGD(learning_rate=learning_rate), **params).fit(X, y)
    with pytest.warns(UserWarning, match="steps are too small to change them"):
        untrained = Estimator(solver=SGD(learning_rate=1e-300), max_iter=1,
                              **params).fit(X, y)
    np.testing.assert_array_equal(est._theta, untrained._theta)
    assert est.best_validation_score_ == untrained.best_validation_score_


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_early_stopping_counts_the_starting_parameters_as_validated(
        Estimator, batch_norm):
    """A learning rate too small to move anything: no epoch improves on the
    starting parameters' validation loss, and the fit stops after
    n_iter_no_change + 1 epochs with their score (with batch normalization,
    validated with their own inference statistics, as every epoch is)."""
    X, y = _data(200)
    with warnings.catch_warnings():
        # (parameters that did not move; BN's betas, starting at 0, move by 1e-300)
        warnings.simplefilter("ignore", UserWarning)
        est = Estimator(hidden_layer_sizes=(4,), solver=SGD(1e-300),
                        batch_norm=batch_norm, early_stopping=True,
                        n_iter_no_change=2, max_iter=50, random_state=0).fit(X, y)
    assert est.n_iter_ == 3
    assert est.best_validation_score_ == est.validation_scores_[0]


def test_divergence_restores_the_lowest_loss_parameters():
    """Full-batch SGD with a huge step: the loss only grows after the first
    step, so the best parameters are the initial ones."""
    X, y = _data(200)
    params = dict(hidden_layer_sizes=(8,), batch_size=200, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        diverged = MLPRegressor(solver=SGD(learning_rate=1e4), max_iter=50,
                                **params).fit(X, y)
    with pytest.warns(UserWarning, match="steps are too small to change them"):
        untrained = MLPRegressor(solver=SGD(learning_rate=1e-300), max_iter=1,
                                 **params).fit(X, y)
    for a, b in zip(diverged.coefs_, untrained.coefs_):
        np.testing.assert_array_equal(a, b)


def _untrained(Estimator, X, y, **params):
    """The estimator's initial parameters: a fit whose steps cannot move them."""
    with pytest.warns(UserWarning, match="steps are too small to change them"):
        return Estimator(solver=SGD(learning_rate=1e-300), max_iter=1,
                         **params).fit(X, y)


def test_a_loss_that_keeps_climbing_from_a_blown_up_first_epoch_is_divergence():
    """Momentum with a huge step: the first epoch's mean loss is already 200
    (2.4 at the start), and each later one grows, to 9000 times the starting
    loss after 20 epochs. Judged against the first epoch alone, no epoch
    reached 1000 times it, and the fit ended as if it had converged, with
    its blown-up parameters. The loss at the start was measured (the first
    epoch looked suspicious), so later epochs are judged against it."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16, y[:500]
    params = dict(hidden_layer_sizes=(20,), random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch"):
        est = MLPClassifier(solver=Momentum(learning_rate=100, momentum=0.99),
                            max_iter=20, **params).fit(X, y)
    assert est.loss_curve_[0] > 100  # the first epoch blew up
    np.testing.assert_array_equal(est._theta,
                                  _untrained(MLPClassifier, X, y, **params)._theta)


def test_a_fit_that_ends_far_above_its_starting_loss_restores_its_best():
    """Newton as the lecture writes it (no safeguards) on a ReLU network: the
    loss goes 1.09, 9.9, 222, 314, then stays at 260, and the fit stopped as
    converged, without a word. Full batches: the first step's loss is the
    loss at the starting parameters, and the lowest of the fit."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(8,), alpha=1e-3, random_state=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MLPClassifier(solver=Newton(saddle_free=False, line_search=False),
                            max_iter=50, **params).fit(X, y)
    messages = [str(w.message) for w in caught
                if issubclass(w.category, ConvergenceWarning)]
    assert any("training ended with a loss of 260.4, over 10 times the 1.089"
               in m for m in messages), messages
    assert not any("Maximum iterations" in m for m in messages)
    # loss_ is the restored parameters' (it stayed the last epoch's, 260.4)
    assert est.loss_ == est.best_loss_ == pytest.approx(est.loss_curve_[0], rel=1e-12)
    np.testing.assert_array_equal(est._theta,
                                  _untrained(MLPClassifier, X, y, **params)._theta)


def test_fine_tuning_from_a_loss_near_zero_is_not_a_failed_fit():
    """Adam continuing an L-BFGS optimum (loss 1.3e-5) settles at its own noise
    level, 60 times higher: over 10 times the starting loss, yet far below the
    loss of a constant prediction (0.9), so no failure (a guard: the end rule
    without that floor restored the start and warned)."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (150, 3))
    y = np.sin(X).sum(axis=1)
    est = MLPRegressor((32,), solver=LBFGS(), max_iter=500, tol=1e-8,
                       random_state=0).fit(X, y)
    start = est.loss_
    est.set_params(warm_start=True, solver=Adam(learning_rate=0.01), max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", ".*Maximum iterations", ConvergenceWarning)
        est.fit(X, y)
    assert est.loss_ > 10 * start


def test_a_warm_start_that_loses_what_the_fit_had_learned_is_a_failed_fit():
    """Full-batch SGD with a step of 5 continuing an L-BFGS fit of iris: the loss
    jumps to 29 and ends at 1.05 (stopped by n_iter_no_change, none of its
    epochs below the L-BFGS fit's end), 27 times its start of 0.039 but below a
    constant prediction's 1.1 (which once spared it: the accuracy fell from
    0.99 to 0.92 without a word)."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier((10,), solver="lbfgs", max_iter=12, random_state=0).fit(X, y)
    start = est._theta.copy()
    est.set_params(warm_start=True, solver=SGD(learning_rate=5.0), max_iter=15,
                   batch_size=len(X))
    # (the end of the blow-up, 1.046, is rounding's: another machine's may differ)
    with pytest.warns(ConvergenceWarning, match=r"training ended with a loss of "
                                                r"\d+\.\d+, over 10 times the 0\.03896"):
        est.fit(X, y)
    np.testing.assert_array_equal(est._theta, start)
    assert est.loss_ == pytest.approx(0.03896, abs=1e-5)  # the restored start's


def test_momentum_continuing_a_converged_fit_is_not_a_failed_fit():
    """Full batches make every fit's starting loss known; a momentum method
    that continues a converged fit oscillates around its minimum and may end
    above where the call started (1.47 times, here): that is no failure (a
    guard of the end rule's factor: it passes without the rule too)."""
    X, y = _diabetes()
    est = MLPRegressor(hidden_layer_sizes=(), batch_size=len(X), random_state=0,
                       solver=Momentum(learning_rate=0.3, momentum=0.99),
                       max_iter=300, tol=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter
        est.fit(X, y)
    ratios = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(6):
            start = len(est.loss_curve_)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", ".*Maximum iterations",
                                        ConvergenceWarning)
                est.set_params(max_iter=7).fit(X, y)
            ratios.append(est.loss_curve_[-1] / est.loss_curve_[start])
    assert max(ratios) > 1.2  # some calls did end well above their start


class _SpikeSGD(SGD):
    """SGD whose loss is reported as NaN at update number ``at`` (a spike)."""

    def __init__(self, learning_rate=0.01, at=95):
        super().__init__(learning_rate=learning_rate)
        self.at = at

    def step(self, theta, objective, state):
        loss = super().step(theta, objective, state)
        return float("nan") if state["step"] == self.at else loss


def test_divergence_in_fit_restores_the_best_parameters_with_a_fresh_state():
    """fit keeps no copy of the state per epoch (four parameter vectors of
    memory with Adam): the restored parameters get a fresh one, and every
    history record has the same fields."""
    X, y = _data(150)
    schedule = LinearDecay(initial=0.5, final=0.005, tau=30)
    params = dict(hidden_layer_sizes=(5,), batch_size=50, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged in epoch 32"):
        est = MLPClassifier(solver=_SpikeSGD(schedule, at=95), max_iter=40,
                            **params).fit(X, y)
    # 3 updates per epoch: epoch 32 (updates 93-95) diverged; the best
    # parameters are those at the start of the epoch of lowest loss
    best = int(np.argmin(est.loss_curve_))
    assert best > 0
    reference = MLPClassifier(solver=SGD(schedule), max_iter=best, **params).fit(X, y)
    np.testing.assert_array_equal(est._theta, reference._theta)
    assert est.solver_state_ == {"step": 0}
    assert est.history_[-1]["learning_rate"] == schedule(0)
    assert est.history_[-1].keys() == est.history_[0].keys()


@pytest.mark.parametrize("solver", [_SpikeSGD(LinearDecay(0.5, 0.005, tau=30), at=14),
                                    Momentum(0.001)], ids=["schedule", "momentum"])
def test_a_diverged_partial_fit_call_is_undone_with_its_solver_state(solver):
    """The state was once reset: a decaying schedule restarted at its first,
    largest rate, about 100 times the one it had reached."""
    X, y = _data(150)
    est = MLPRegressor(hidden_layer_sizes=(5,), solver=solver, batch_size=50,
                       random_state=0)
    for _ in range(4):  # 3 updates per call
        est.partial_fit(X, y)
    before = copy.deepcopy(_fitted_state(est))
    assert before["solver_state_"]["step"] == 12
    with pytest.warns(ConvergenceWarning, match="diverged"):
        # momentum: finite at the start, then explodes; the schedule: a spike
        est.partial_fit(X, (1e30 if isinstance(solver, Momentum) else 1) * y)
    after = _fitted_state(est)
    for name in ("_theta", "solver_state_", "n_iter_", "t_", "loss_curve_"):
        _assert_same(after[name], before[name], name)
    assert est.history_[-1]["diverged"] is True
    assert len(est.history_) == len(before["history_"]) + 1
    # its shuffle is undone too (3 minibatches: the call drew a permutation)
    np.testing.assert_array_equal(est._random_state.random_sample(3),
                                  before["_random_state"].random_sample(3))


def test_a_validation_split_of_one_row_warns():
    """scikit-learn's MLP raises for fewer than two validation rows; here the
    split always holds out a row, so that tiny datasets (scikit-learn's own
    estimator checks) still fit, with a warning saying what it means."""
    X = np.random.RandomState(0).randn(5, 3)
    with pytest.warns(UserWarning, match=r"validation set of early_stopping is a "
                                         r"single row \(n_samples=5, "
                                         r"validation_fraction=0.1\).*Increase "
                                         "'validation_fraction'"):
        est = MLPRegressor(max_iter=3, early_stopping=True, random_state=0).fit(
            X, X.sum(axis=1))
    assert len(est.validation_scores_) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # two rows: no warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPRegressor(max_iter=3, early_stopping=True, validation_fraction=0.4,
                     random_state=0).fit(X, X.sum(axis=1))


def test_early_stopping_keeps_the_best_epoch_however_small_its_gain():
    """``tol`` decides when to stop, not which epoch is best: as scikit-learn's
    MLP, the parameters of the lowest validation loss are kept (``tol=1e3``
    makes every gain smaller than ``tol``; the starting parameters were once
    kept)."""
    X, y = make_classification(200, 6, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, tol=1e3,
                            n_iter_no_change=4, max_iter=50,
                            solver=Adam(learning_rate=0.01), random_state=0).fit(X, y)
    val_losses = [r["val_loss"] for r in est.history_]
    best = int(np.argmin(val_losses))
    assert est.n_iter_ == 5 and best > 0
    assert est.best_validation_score_ == est.validation_scores_[best]


def test_early_stopping_keeps_the_solver_state_of_the_best_epoch():
    X, y = _data(200)
    est = MLPClassifier(hidden_layer_sizes=(8,), solver=SGD(0.5), batch_size=30,
                        early_stopping=True, n_iter_no_change=3, max_iter=60,
                        random_state=0).fit(X, y)
    val_losses = [r["val_loss"] for r in est.history_]
    best = int(np.argmin(val_losses)) + 1  # epochs run until the best one
    assert best < est.n_iter_
    # 180 training rows in minibatches of 30: 6 updates per epoch
    assert est.solver_state_["step"] == 6 * best


def test_a_single_epoch_that_explodes_is_caught():
    """max_iter=1 and partial_fit: the loss grows from ~10 to 1e188 within the
    epoch, its only one; it was once accepted, leaving predictions of 1e284."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = X @ np.array([1.0, 2.0, 3.0])
    params = dict(hidden_layer_sizes=(10,), batch_size=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged in epoch 1"):
        est = MLPRegressor(solver=SGD(learning_rate=0.7), max_iter=1,
                           **params).fit(X, y)
    assert est.n_iter_ == 0 and np.abs(est.predict(X)).max() < 100
    stream = MLPRegressor(solver=SGD(learning_rate=0.8), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(9):
            stream.partial_fit(X, y)
    assert np.abs(stream.predict(X)).max() < 100


@pytest.mark.parametrize("batch_size, learning_rate", [(20, 0.7), (200, 30.0)])
@pytest.mark.parametrize("incremental", [False, True])
def test_a_first_epoch_that_diverges_leaves_loss_the_starting_parameters_loss(
        incremental, batch_size, learning_rate):
    """No epoch accepted: ``loss_`` was left None (formatting it raised a
    TypeError, found by a review); it is the training loss of the parameters
    restored, the starting ones. The warning names the method called."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = X @ np.array([1.0, 2.0, 3.0])
    est = MLPRegressor(hidden_layer_sizes=(10,),
                       solver=SGD(learning_rate=learning_rate),
                       batch_size=batch_size, max_iter=1, shuffle=False,
                       random_state=0)
    method = "partial_fit" if incremental else "fit"
    restored = "those before this call" if incremental else "the best ones of this fit"
    with pytest.warns(ConvergenceWarning, match=f"call of {method} started from.*"
                                                f"restored to {restored}"):
        getattr(est, method)(X, y)
    if incremental or batch_size < len(X):
        assert est.n_iter_ == 0 and est.loss_curve_ == []
    else:  # (fit's one full-batch epoch counts: its loss is measured before
        # its update, which the fit's end finds diverged and undoes)
        assert est.n_iter_ == 1 and est.loss_curve_ == [est.loss_]
    W1, W2 = est.coefs_
    b1, b2 = est.intercepts_
    out = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    loss = 0.5 * np.mean((out[:, 0] - y) ** 2) + 0.5 * 1e-4 / len(X) * (
        np.sum(W1 ** 2) + np.sum(W2 ** 2)) * (len(X) / min(batch_size, len(X)))
    assert isinstance(est.loss_, float)
    assert est.loss_ == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("n_calls", [1, 6])
def test_a_stream_of_one_update_per_call_catches_the_update_that_diverges(n_calls):
    """With one minibatch per partial_fit call, each call's loss is measured
    before its one update, at the parameters the last call left: the losses
    went 43, 2e11, 1e45, 9e146 with no warning, then every call raised an
    error blaming the input data. Each call now measures where its update led
    (its rows' loss after it): the update is undone, with a warning, and the
    model stays as it was."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), 10 * rng.randn(40)
    est = MLPRegressor(hidden_layer_sizes=(5,), solver=SGD(learning_rate=1e3),
                       random_state=0)
    start = MLPRegressor(hidden_layer_sizes=(5,), random_state=0)
    start._initialize(X, y.reshape(-1, 1), [5], None)
    for _ in range(n_calls):  # 40 rows: one minibatch of "auto"'s 200
        with pytest.warns(ConvergenceWarning, match="diverged in epoch 1"):
            est.partial_fit(X, y)
    np.testing.assert_array_equal(est._theta, start._theta)
    assert est.n_iter_ == 0 and est.solver_state_["step"] == 0
    assert [r["diverged"] for r in est.history_] == [True] * n_calls
    assert est.history_[-1]["loss"] > 1e3 * 10 ** 2 / 2  # after the update
    # a sound learning rate then trains from there
    est.set_params(solver=SGD(learning_rate=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.partial_fit(X, y)
    assert est.n_iter_ == 1


def test_the_last_update_of_a_fit_of_one_minibatch_per_epoch_is_judged():
    """Each epoch's loss is the next epoch's judge of the update before it, but
    the last update has no next epoch: max_iter=1 left a training error of
    4e11 with only the warning that max_iter was reached."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3), 10 * rng.randn(40)
    params = dict(hidden_layer_sizes=(5,), max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged in epoch 1") as caught:
        est = MLPRegressor(solver=SGD(learning_rate=1e3), **params).fit(X, y)
    assert not any("Maximum iterations" in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match="steps are too small to change them"):
        untrained = MLPRegressor(solver=SGD(learning_rate=1e-300), **params).fit(X, y)
    np.testing.assert_array_equal(est._theta, untrained._theta)
    assert est.n_iter_ == 1 and est.history_[-1] == {**est.history_[-1],
                                                      "epoch": 1, "diverged": True}
    assert np.mean((est.predict(X) - y) ** 2) < 2 * np.var(y)


def test_a_loss_not_finite_from_the_start_is_an_error_about_the_data():
    X, y = _data()
    est = _fitted(MLPRegressor)
    _assert_unchanged_by_failure(
        est, lambda e: e.set_params(warm_start=True).fit(X, 1e200 * y),
        ValueError, "may contain large values and need to be preprocessed")
    with pytest.raises(ValueError, match="need to be preprocessed"):
        MLPRegressor(random_state=0).fit(X, 1e200 * y)


# ------------------------------------------------------------- interruption
class _CtrlC(SGD):
    """SGD interrupted (as by Ctrl-C) at update number ``at`` of its state."""

    def __init__(self, learning_rate=0.05, at=60):
        super().__init__(learning_rate=learning_rate)
        self.at = at

    def step(self, theta, objective, state):
        if state["step"] == self.at:
            raise KeyboardInterrupt
        return super().step(theta, objective, state)


def _fit_without_escaping_interrupt(fit, X, y):
    try:
        fit(X, y)
    except KeyboardInterrupt:  # (escaping, it would stop the whole test session)
        pytest.fail("KeyboardInterrupt escaped the training loop")


@pytest.mark.parametrize("batch_norm", [False, True])
def test_ctrl_c_keeps_the_finished_epochs_as_scikit_learn(batch_norm):
    """400 rows in minibatches of 200: update 60 starts epoch 31. The model is
    the one of 30 epochs, bookkeeping (and BN's inference statistics) done."""
    X, y = _data(400)
    params = dict(hidden_layer_sizes=(6,), batch_size=200, batch_norm=batch_norm,
                  max_iter=50, random_state=0)
    est = MLPClassifier(solver=_CtrlC(at=60), **params)
    # (the warning says so: a warm start then restarts the schedule, momentum)
    with pytest.warns(UserWarning, match="Training interrupted by user.* the "
                                         "solver's state starts afresh"):
        _fit_without_escaping_interrupt(est.fit, X, y)
    reference = MLPClassifier(solver=SGD(0.05), **{**params, "max_iter": 30}) \
        .fit(X, y)
    assert est.n_iter_ == 30 and est.t_ == 30 * 400
    assert est.solver_state_ == {"step": 0}  # fit keeps no copy of the state
    np.testing.assert_array_equal(est._theta, reference._theta)
    assert est.loss_curve_ == reference.loss_curve_
    if batch_norm:
        for a, b in zip(est.bn_mean_ + est.bn_var_,
                        reference.bn_mean_ + reference.bn_var_):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


def test_ctrl_c_as_a_partial_fit_epoch_starts_undoes_the_call(monkeypatch):
    # An interrupt at the top of the epoch's try, before the call's random
    # state was saved, raised UnboundLocalError from the handler (a storm of
    # SIGINTs in a concurrency review): as here, where it comes as the
    # updates start
    import skopt_nn._mlp

    class InterruptedAtStart(skopt_nn._mlp.DeferredInterrupts):
        def __setattr__(self, name, value):
            if name == "immediate" and value:
                raise KeyboardInterrupt
            super().__setattr__(name, value)

    X, y = _data(400)
    est = MLPClassifier(hidden_layer_sizes=(6,), batch_size=100, random_state=0)
    est.partial_fit(X, y, classes=np.unique(y))
    before = copy.deepcopy(_fitted_state(est))
    monkeypatch.setattr(skopt_nn._mlp, "DeferredInterrupts", InterruptedAtStart)
    with pytest.warns(UserWarning, match="interrupted"):
        _fit_without_escaping_interrupt(est.partial_fit, X, y)
    _assert_same(_fitted_state(est), before)


def test_ctrl_c_in_partial_fit_undoes_the_call():
    X, y = _data(400)
    est = MLPClassifier(hidden_layer_sizes=(6,), solver=_CtrlC(at=5),
                        batch_norm=True, batch_size=100, random_state=0)
    est.partial_fit(X, y, classes=np.unique(y))  # updates 0-3
    before = copy.deepcopy(_fitted_state(est))
    with pytest.warns(UserWarning, match="interrupted"):
        # interrupted at update 5, the second of the call
        _fit_without_escaping_interrupt(est.partial_fit, X, y)
    after = _fitted_state(est)
    for name in ("_theta", "solver_state_", "bn_mean_", "bn_var_", "n_iter_", "t_"):
        _assert_same(after[name], before[name], name)
    # the call's shuffle is undone too: the next call is the one an estimator
    # that never made the interrupted call makes
    est.set_params(solver=SGD(0.05))  # (the same rule, no more interruptions)
    est.partial_fit(X, y)
    reference = copy.deepcopy(est)
    reference.__dict__.update(copy.deepcopy(before))
    reference.partial_fit(X, y)
    np.testing.assert_array_equal(est._theta, reference._theta)


def test_an_interrupt_raised_outside_the_updates_leaves_the_estimator_unchanged(
        monkeypatch):
    """A KeyboardInterrupt raised in the epoch's bookkeeping (here, validation):
    the whole call is undone, as after any failure. (A Ctrl-C there waits for
    the epoch's end: see the next tests.)"""
    est = _fitted(MLPClassifier, warm_start=True, early_stopping=True)
    X, y = _data()

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(MLPClassifier, "_validation_metrics", interrupt)
    _assert_unchanged_by_failure(est, lambda e: e.fit(X, y), KeyboardInterrupt, "^$")


def _ctrl_c_on_call(target, name, n):
    """Wrap ``target.name`` to send this process a SIGINT (Ctrl-C) during its
    ``n``-th call; returns the wrapper to install."""
    original, calls = getattr(target, name), []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)  # handled in this thread, now
        return original(*args, **kwargs)
    return wrapper


@pytest.mark.usefixtures("python_sigint_handler")
@pytest.mark.parametrize("case", ["early_stopping", "batch_norm_statistics",
                                  "full_batch_stop"])
def test_ctrl_c_in_the_bookkeeping_stops_at_the_epochs_end_keeping_it(case,
                                                                      monkeypatch):
    """A Ctrl-C in the validation of early stopping, the BN statistics or a
    full-batch solver's stopping test undid the whole fit, finished epochs
    included (a robustness review: a quarter of the interrupts of a fit with both
    early stopping and BN); it now takes effect at the end of its epoch, which
    is kept: the model is the one max_iter=3 trains."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    X, y = _data(200)
    params = dict(hidden_layer_sizes=(4,), batch_size=16, random_state=0)
    if case == "early_stopping":  # call 1 validates the start: 4 is epoch 3's
        params.update(early_stopping=True, n_iter_no_change=50)
        target, name, n = MLPClassifier, "_validation_metrics", 4
    elif case == "batch_norm_statistics":  # once per epoch with early stopping
        params.update(early_stopping=True, n_iter_no_change=50, batch_norm=True)
        target, name, n = MLPClassifier, "_population_statistics", 4
    else:
        params.update(solver="lbfgs", tol=0, batch_size="auto")
        target, name, n = mlp, "_full_batch_stop", 3
    monkeypatch.setattr(target, name, _ctrl_c_on_call(target, name, n))
    with pytest.warns(UserWarning, match="Training interrupted by user: training "
                                         "stopped after the last finished epoch"):
        est = MLPClassifier(max_iter=20, **params).fit(X, y)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = MLPClassifier(max_iter=3, **params).fit(X, y)
    assert est.n_iter_ == 3 and len(est.history_) == 3
    np.testing.assert_array_equal(est._theta, expected._theta)
    assert est.loss_curve_ == expected.loss_curve_


def _fit_with_ctrl_c(monkeypatch, target, name, n, **params):
    """Fit on 200 rows with a Ctrl-C during the ``n``-th call of
    ``target.name``: the estimator, the interrupt warnings' messages, and
    whether a ConvergenceWarning was given."""
    X, y = _data(200)
    monkeypatch.setattr(target, name, _ctrl_c_on_call(target, name, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = MLPClassifier((4,), random_state=0, **params).fit(X, y)
    messages = [str(w.message) for w in caught if "interrupted" in str(w.message)]
    return est, messages, any(issubclass(w.category, ConvergenceWarning)
                              for w in caught)


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_before_the_first_epoch_trains_none(monkeypatch):
    # the first validation (of the starting parameters) precedes epoch 0: a
    # Ctrl-C there waited for a whole epoch, which was kept (diff review)
    est, messages, max_iter_warned = _fit_with_ctrl_c(
        monkeypatch, MLPClassifier, "_validation_metrics", 1, early_stopping=True,
        batch_norm=True, max_iter=5)
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    assert messages == ["Training interrupted by user: training stopped before its "
                        "first epoch: the parameters are those it started from "
                        "(initial, untrained)."]
    assert not max_iter_warned


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_after_the_last_epoch_says_the_fit_finished(monkeypatch):
    # BN's statistics, after the loop without early stopping: the warning
    # said training stopped, after max_iter epochs (diff review)
    est, messages, max_iter_warned = _fit_with_ctrl_c(
        monkeypatch, MLPClassifier, "_population_statistics", 1, batch_norm=True,
        batch_size=50, max_iter=3)
    assert est.n_iter_ == 3 and max_iter_warned
    assert messages == ["Training interrupted by user: as training was ending; "
                        "the fit finished."]


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_in_the_last_epochs_bookkeeping_keeps_the_max_iter_warning(monkeypatch):
    est, messages, max_iter_warned = _fit_with_ctrl_c(
        monkeypatch, mlp, "_full_batch_stop", 3, solver="lbfgs", tol=0, max_iter=3)
    assert est.n_iter_ == 3 and max_iter_warned and len(messages) == 1


class _CtrlCAtStep(Solver):
    """SGD that sends a SIGINT during its 3rd step (a Ctrl-C in the updates)."""

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= 0.1 * grad
        state["step"] += 1
        if state["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return loss


@pytest.mark.usefixtures("python_sigint_handler")
@pytest.mark.parametrize("name", ["_population_statistics", "_restore_state"])
def test_a_second_ctrl_c_keeps_the_fit_and_one_warning(name, monkeypatch):
    # after one in the updates, a second in BN's statistics warned twice; in the
    # handling of the first (_restore_state), it escaped and undid the fit
    est, messages, _ = _fit_with_ctrl_c(
        monkeypatch, MLPClassifier, name, 1, solver=_CtrlCAtStep(), batch_norm=True,
        batch_size=50, max_iter=5)
    assert est.n_iter_ == 0 and hasattr(est, "coefs_")
    assert len(messages) == 1 and "those of the last finished epoch" in messages[0]


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_in_a_worker_thread_s_fit_changes_no_signal_handler():
    X, y = _data()
    handlers = []

    class Probe(Solver):
        def step(self, theta, objective, state):
            handlers.append(signal.getsignal(signal.SIGINT))
            loss, grad = objective(theta)
            theta -= 0.01 * grad
            state["step"] += 1
            return loss

    with ThreadPoolExecutor(1) as pool:
        pool.submit(MLPClassifier((3,), solver=Probe(), max_iter=1).fit, X, y).result()
    MLPClassifier((3,), solver=Probe(), max_iter=1).fit(X, y)
    assert handlers[0] is signal.default_int_handler  # the worker's fit: none
    assert handlers[-1] is not signal.default_int_handler  # the main thread's


# ------------------------------------------------------------ faulty solvers
class _Rebinds(Solver):
    """Rebinds ``theta`` instead of updating it in place: trains nothing."""

    def __init__(self, learning_rate=0.05):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta = theta - self.learning_rate * grad  # noqa: F841 (the defect)
        state["step"] += 1
        return loss


def test_a_solver_that_never_moves_the_parameters_is_named():
    X, y = _data()
    with pytest.warns(UserWarning, match=r"_Rebinds.step must update theta in place"):
        MLPClassifier(hidden_layer_sizes=(4,), solver=_Rebinds(), max_iter=3,
                      random_state=0).fit(X, y)


@pytest.mark.parametrize("solver, params, cause", [
    (SGD(learning_rate=1e-20), {}, "SGD's steps are too small to change them in "
     r"float64 \(its learning_rate is too small\)"),
    (Adam(), {"max_grad_norm": 1e-300}, "Adam's steps are too small to change "
     r"them in float64 \(its learning_rate, or max_grad_norm, is too small\)"),
])
def test_a_built_in_solver_too_small_to_move_is_told_so(solver, params, cause):
    # the advice to update theta in place is for a user's step; a built-in
    # solver's warning blamed its own code (a review of the warnings)
    X, y = _data()
    with pytest.warns(UserWarning, match=cause) as record:
        MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=2,
                      random_state=0, **params).fit(X, y)
    assert not any("in place" in str(w.message) for w in record)


class _PerLayerRates(Solver):
    """A user's ``learning_rate`` that is neither a number nor a schedule."""

    def __init__(self, learning_rate=(0.05, 0.01)):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        theta -= self.learning_rate[0] * grad
        state["step"] += 1
        return loss


def test_a_learning_rate_that_is_not_a_rate_is_not_reported():
    X, y = _data()
    est = MLPClassifier(hidden_layer_sizes=(4,), solver=_PerLayerRates(),
                        max_iter=3, random_state=0).fit(X, y)
    assert [r["learning_rate"] for r in est.history_] == [None] * 3


class _BadState(Solver):
    def __init__(self, state=None):
        self.state = state

    def init_state(self, theta):
        return self.state

    def step(self, theta, objective, state):
        return objective(theta)[0]


@pytest.mark.parametrize("state, got", [(None, "got NoneType"),
                                        ({"velocity": 0}, r"got keys \['velocity'\]")])
def test_an_init_state_without_a_step_counter_is_named(state, got):
    X, y = _data()
    with pytest.raises(TypeError, match=r"_BadState.init_state must return a dict "
                                        r"with a 'step' counter .*" + got):
        MLPClassifier(solver=_BadState(state), max_iter=2).fit(X, y)


# ------------------------------------------------------------ more bad input
@pytest.mark.parametrize("weight", [np.nan, np.inf])
def test_class_weight_must_be_finite(weight):
    """NaN once dropped the class's rows silently; inf diverged."""
    X, y = _data()
    with pytest.raises(ValueError, match="class_weight must be finite and non-negative"):
        MLPClassifier(class_weight={1: weight}, max_iter=2).fit(X, y)


def test_float64_input_beyond_a_float32_models_range_is_named():
    """1e39 became inf in the cast: NaN probabilities and a class chosen by them."""
    X, y = _data()
    est = _fitted(MLPRegressor)
    est32 = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0) \
        .fit(X.astype(np.float32), y)
    X_far = X[ONE_PER_CLASS].copy()
    X_far[0, 0] = 1e39
    for method in (est32.predict, est32.predict_proba):
        with pytest.raises(ValueError, match="X has values too large for the "
                                             "model's float32 parameters"):
            method(X_far)
    est32.set_params(warm_start=True)
    _assert_unchanged_by_failure(est32, lambda e: e.fit(X_far, y[ONE_PER_CLASS]),
                                 ValueError,
                                 "too large for the model's float32")
    est.partial_fit(X, y)  # a float64 model takes them
    assert np.isfinite(est.predict(X_far)).all()


def test_batch_size_of_all_rows_given_does_not_warn_when_some_weigh_zero():
    # rows of zero weight are dropped before batching: batch_size=n_samples
    # warned "larger than sample size", which scikit-learn does not
    X, y = load_iris(return_X_y=True)
    weights = np.ones(len(y))
    weights[::10] = 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*larger than sample size")
        MLPClassifier((4,), batch_size=len(y), max_iter=2, random_state=0).fit(
            X, y, sample_weight=weights)
        MLPClassifier((4,), batch_size=len(y), random_state=0).partial_fit(
            X, y, classes=[0, 1, 2], sample_weight=weights)
    with pytest.warns(UserWarning, match="larger than sample size"):
        MLPClassifier((4,), batch_size=len(y) + 1, max_iter=2, random_state=0).fit(
            X, y, sample_weight=weights)


def test_a_diverged_regressor_is_advised_to_scale_its_targets():
    # SGD on diabetes's standardized features, targets 150 +- 77: the advice
    # named the learning rate and clipping only
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with pytest.warns(ConvergenceWarning, match="Training diverged.*scale them "
                                                r"\(for instance with Transformed"):
        MLPRegressor(solver="sgd", max_iter=20, random_state=0).fit(X, y)


def test_values_beyond_a_float64_model_advise_scaling_alone():
    # a float64 model was told to "fit on float64 data", which it already does
    X = np.random.RandomState(0).randn(30, 3)
    y = np.ones(30, dtype=np.longdouble)
    y[3] = np.longdouble("1e400")
    with pytest.raises(ValueError, match=r"too large for the model's float64 "
                                         r"parameters \(.*\): scale y\.$"):
        MLPRegressor((4,), max_iter=2, random_state=0).fit(X, y)


def test_errors_name_class_weights_and_unchecked_nan():
    X, y = load_iris(return_X_y=True)
    # no sample_weight was passed: the class weights zeroed every row
    with pytest.raises(ValueError, match=r"All sample weights are zero \(with the "
                                         r"class weights applied\)"):
        MLPClassifier((4,), class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)
    with pytest.raises(ValueError, match="Sample weights must contain at least "
                                         "one non-zero number"):  # (scikit-learn's)
        MLPClassifier((4,)).fit(X, y, sample_weight=np.zeros(len(y)))
    # with assume_finite, validation lets NaN through: the error names it
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with sklearn.config_context(assume_finite=True), pytest.raises(
            ValueError, match="may contain NaN or infinity \\(not checked, as "
                              "assume_finite=True\\), or large values"):
        MLPClassifier((4,), random_state=0).fit(X_nan, y)


def test_float32_regression_targets_beyond_its_range_are_named():
    # they overflowed to inf with a RuntimeWarning, then "the loss of the first
    # minibatch is not finite ... large values", which did not name y
    X = np.random.RandomState(0).randn(30, 3).astype(np.float32)
    y = np.ones(30)
    y[3] = 1e39
    with pytest.raises(ValueError, match="y has values too large for the model's "
                                         "float32 parameters"):
        MLPRegressor((4,), max_iter=2, random_state=0).fit(X, y)
    # partial_fit's light path too, after a first call
    reg = MLPRegressor((4,), random_state=0).partial_fit(X, np.ones(30))
    _assert_unchanged_by_failure(reg, lambda e: e.partial_fit(X, y), ValueError,
                                 "y has values too large for the model's float32")
    # a float64 model takes them, from float32 X too (y is not rounded to X's dtype)
    reg = MLPRegressor((4,), random_state=0).partial_fit(X.astype(np.float64),
                                                         np.ones(30))
    reg.partial_fit(X, y / 1e30)
    assert reg._theta.dtype == np.float64 and np.isfinite(reg._theta).all()


def test_sample_and_class_weights_whose_product_vanishes_are_named():
    # 1e-300 * 1e-30 is 0 in float64: those rows were dropped silently
    est = MLPClassifier((4,), max_iter=2, random_state=0,
                        class_weight={c: 1e-30 for c in np.unique(Y_GOOD)})
    with pytest.raises(ValueError, match="positive sample weights are 0 in float64 "
                                         r"\(with the class weights applied\)"):
        est.fit(X_GOOD, Y_GOOD, sample_weight=np.full(60, 1e-300))


@pytest.mark.parametrize("class_weight, sample_weight, what", [
    (None, 1e-46, "sample weights are 0 in float32: "),
    (1e-46, None, "class weights are 0 in float32: "),
    (1e-20, 1e-30, r"sample weights are 0 in float32 \(with the class weights "
                   r"applied\): "),
])
def test_weights_vanishing_in_float32_are_named_as_given(class_weight, sample_weight,
                                                         what):
    # "(with the class weights applied)" was said without class weights too
    est = MLPClassifier((4,), max_iter=2, random_state=0, class_weight=None
                        if class_weight is None else dict.fromkeys(range(3),
                                                                   class_weight))
    with pytest.raises(ValueError, match="^Some positive " + what) as caught:
        est.fit(X_GOOD.astype(np.float32), Y_GOOD, sample_weight=None
                if sample_weight is None else np.full(60, sample_weight))
    assert ("class weights applied" in str(caught.value)) == (
        class_weight is not None and sample_weight is not None)


@pytest.mark.parametrize("dtype, weight, message", [
    (np.float64, 1e307, "sum to infinity in float64"),
    (np.float32, 1e37, "sum to infinity in float32"),
    (np.float32, 1e-46, "positive sample weights are 0 in float32"),
])
def test_sample_weights_that_overflow_or_vanish_in_the_models_dtype_are_named(
        dtype, weight, message):
    # a sum of 1e307 * 60 was reported as divergence ("lower the learning
    # rate"); weights of 1e-46 became 0 in float32 and their rows were dropped
    est = MLPClassifier((4,), max_iter=2, random_state=0)
    w = np.full(60, weight)
    w[0] = 1.0 if weight < 1 else w[0]  # one ordinary row among vanishing ones
    with pytest.raises(ValueError, match=message):
        est.fit(X_GOOD.astype(dtype), Y_GOOD, sample_weight=w)
    if weight > 1:  # the same error with balanced class weights (which the sum
        # of the weights once overflowed into "class_weight must be finite")
        est.set_params(class_weight="balanced")
        for huge in (np.full(60, 1e307), np.where(Y_GOOD == Y_GOOD[0], 1e307, 1e-10)):
            with pytest.raises(ValueError, match=message):
                est.fit(X_GOOD.astype(dtype), Y_GOOD, sample_weight=huge)
        est.set_params(class_weight=None)
    scale = 1e300 if dtype == np.float64 else 1e30
    est.fit(X_GOOD.astype(dtype), Y_GOOD, sample_weight=np.full(60, scale))


@pytest.mark.parametrize("dtype, weight", [(np.float64, 1e-320), (np.float32, 1e-40)])
@pytest.mark.parametrize("call", ["fit", "partial_fit", "later_partial_fit"])
def test_sample_weights_whose_sum_is_subnormal_are_named(dtype, weight, call):
    # alpha / sum(sample_weight) overflowed, and the error blamed the data's
    # large values (a robustness review of 32381e7); a later partial_fit call
    # checks its weights on a path of its own
    est = MLPClassifier((4,), max_iter=2, random_state=0)
    kwargs = {"classes": [0, 1, 2]} if call == "partial_fit" else {}
    X = X_GOOD.astype(dtype)
    action = (lambda e: getattr(e, call.replace("later_", ""))(
        X, Y_GOOD, sample_weight=np.full(60, weight), **kwargs))
    message = (r"The sample weights sum to \S+ in "
               f"{np.dtype(dtype).name}, below the smallest normal number: "
               "scale them up")
    if call == "later_partial_fit":
        _assert_unchanged_by_failure(est.partial_fit(X, Y_GOOD, classes=[0, 1, 2]),
                                     action, ValueError, message)
        return
    with pytest.raises(ValueError, match=message):
        action(est)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("case", ["whole", "minibatch"])
def test_a_penalty_that_overflows_names_the_weights(case):
    # alpha / sum(weights) overflowed at normal sums (alpha > 4) and in a
    # minibatch of tiny weights: "large values in the data" or divergence
    # (a review of 32381e7..)
    X, y = load_diabetes(return_X_y=True)
    if case == "whole":
        params, weights = dict(alpha=100.0), np.full(len(X), 1e-307 / len(X))
    else:
        params = dict(alpha=1e-3, batch_size=100, shuffle=False)
        weights = np.ones(len(X))
        weights[:100] = 1e-310
    est = MLPRegressor((4,), max_iter=2, random_state=0, **params)
    with pytest.raises(ValueError, match=r"The L2 penalty alpha / sum\(sample_weight\) "
                       r"of a batch overflows \(.* / .*\): scale the sample weights "
                       "up, or lower alpha"):
        est.fit(X, y, sample_weight=weights)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("size", [np.uint8(32), np.int8(100)], ids=repr)
def test_batch_size_of_a_small_numpy_integer_type(size):
    # np.uint8(32): start + batch_size wrapped around in uint8 (OverflowError),
    # as did rows x units (256) in the choice of BLAS threads
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (overflow in uint8)
        for call, kwargs in (("fit", {}), ("partial_fit", {"classes": range(10)})):
            ours, expected = (getattr(MLPClassifier(
                (4,), batch_size=b, max_iter=2, random_state=0), call)(X, y, **kwargs)
                for b in (size, int(size)))
            np.testing.assert_array_equal(ours._theta, expected._theta)


def test_nested_batch_norm_parameters_with_batch_norm_true():
    est = MLPClassifier(batch_norm=True).set_params(batch_norm__momentum=0.5)
    assert isinstance(est.batch_norm, BatchNorm) and est.batch_norm.momentum == 0.5
    with pytest.raises(ValueError, match="need batch normalization, but "
                                         "batch_norm=False"):
        MLPClassifier().set_params(batch_norm__momentum=0.5)


def test_multiclass_multioutput_targets_are_named_as_scikit_learn():
    X, _ = _data()
    y = np.stack([np.arange(len(X)) % 3, np.arange(len(X)) % 2], axis=1)
    with pytest.raises(ValueError, match="Multioutput target data is not supported"):
        MLPClassifier(max_iter=2).fit(X, y)


def test_full_batch_solvers_keep_no_state_copies_and_restart_fresh():
    """One step per epoch: a copy of L-BFGS's pairs at every step would cost up
    to 5% of an iteration, so restored parameters get a fresh state."""
    X, y = _data(200)
    est = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", early_stopping=True,
                        n_iter_no_change=2, tol=1e-2, max_iter=100,
                        random_state=0).fit(X, y)
    assert est.n_iter_ < 100  # stopped early, back at the best validated point
    assert est.solver_state_["n_pairs"] == 0 and est.solver_state_["step"] == 0
    n_iter = est.n_iter_
    est.set_params(warm_start=True, early_stopping=False, max_iter=5).fit(X, y)
    assert est.solver_state_["step"] == est.n_iter_ - n_iter > 0  # from the fresh state


def test_divergence_test_of_the_last_update_of_a_call():
    """Against the loss before it on the same rows (or before the call), and
    above a constant prediction's loss."""
    def never():
        pytest.fail("the constant prediction's loss was not needed")

    test = DivergenceTest(n_batches=3, total_weight=30, previous_loss=0.5)
    for loss in (9.0, 5.0, 2.0):  # the last minibatch's loss before its update: 2
        test.add(loss, 10)
    assert not test.update_diverged(1999.0, 2.0, never)
    assert test.update_diverged(2001.0, 2.0, lambda: 3.0)
    assert not test.update_diverged(2001.0, 2.0, lambda: 3000.0)  # still below it
    assert test.update_diverged(np.inf, 2.0, never)
    assert test.update_diverged(np.nan, 2.0, never)
    test = DivergenceTest(n_batches=1, total_weight=10, previous_loss=5.0)
    test.add(1e-4, 10)  # a tiny loss: the loss before the call is the reference
    assert not test.update_diverged(4999.0, 1e-4, never)
    assert test.update_diverged(5001.0, 1e-4, lambda: 1.0)


def test_divergence_test_of_a_first_epoch_half_against_half():
    """The minibatch losses' medians of the two halves of a call's first epoch."""
    def judge(losses, previous_loss=None, shuffled=True):
        test = DivergenceTest(len(losses), len(losses), previous_loss)
        test.start_epoch(shuffled)
        for loss in losses:
            test.add(loss, 1)
        return test.diverged()

    # medians of each half: 15 against 3e5, then 15 against 4e3
    assert judge([10.0, 20.0, 15.0, 5e4, 3e5, 1e6])
    assert not judge([10.0, 20.0, 15.0, 5e3, 3e3, 4e3])
    # a minibatch holding an outlier (a target 1000 times the others) is not
    # divergence, in either half
    assert not judge([1.0, 1.0, 1.0, 1.0, 1.0, 1e6])
    assert not judge([1e6, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert not judge([10.0, 20.0, 5e4, 3e5, 1e6])  # under 6 minibatches: finiteness
    assert judge([1.0, np.inf])
    # a well-fitted model's tiny half-epoch losses differ by chance (a few hard
    # rows in one half): the loss before the call, if larger, is the reference
    tiny, small = [1e-6] * 3, [1e-2] * 3
    assert judge(tiny + small)
    assert not judge(tiny + small, previous_loss=1e-3)
    assert judge(tiny + [2.0] * 3, previous_loss=1e-3)
    # rows in order: halves may differ by design (targets sorted by size)
    assert not judge([10.0, 20.0, 15.0, 5e4, 3e5, 1e6], shuffled=False)
    assert judge([10.0, np.nan], shuffled=False)
    # against the loss at the parameters the call started from, measured when
    # the epoch's mean is over 10 times its first minibatch's loss
    test = DivergenceTest(2, 2)
    test.start_epoch(shuffled=True)
    for loss in (0.6, 7e6):
        test.add(loss, 1)
    assert test.wants_start_loss()
    assert test.diverged(start_loss=0.7) and not test.diverged(start_loss=1e4)
    assert not test.diverged()  # (2 minibatches: finiteness alone)
    test = DivergenceTest(2, 2)
    test.start_epoch(shuffled=True)
    for loss in (1.0, 15.0):  # mean 8: no measurement needed
        test.add(loss, 1)
    assert not test.wants_start_loss()
    # a well-fitted model's partial_fit call: a start loss far below the loss
    # before the call does not make its reference (that loss spares the epoch)
    test = DivergenceTest(2, 2, previous_loss=0.0087)
    test.start_epoch(shuffled=True)
    for loss in (1e-6, 0.25):
        test.add(loss, 1)
    assert not test.wants_start_loss()
    assert not test.diverged(start_loss=3.7e-5)
    # later epochs: against the first
    test = DivergenceTest(2, 2)
    for losses in ([1.0, 0.5], [400.0, 2000.0]):
        test.start_epoch(shuffled=True)
        for loss in losses:
            test.add(loss, 1)
        diverged = test.diverged()
        test.end_epoch()
    assert diverged and test.first_epoch_loss == 0.75
    # ... or against the loss at the starting parameters, where it was measured
    # and is lower: a first epoch that blew up is no reference
    test = DivergenceTest(2, 2)
    for losses in ([1.0, 399.0], [2000.0, 2000.0]):
        test.start_epoch(shuffled=True)
        for loss in losses:
            test.add(loss, 1)
        diverged = test.diverged(start_loss=1.5 if test.wants_start_loss() else None)
        test.end_epoch()
    assert diverged and test.first_epoch_loss == 200.0 and test.start_loss == 1.5


def test_a_call_is_judged_on_its_end_against_its_starting_loss_where_known():
    def run(epochs, n_batches=1, start_loss=None):
        test = DivergenceTest(n_batches, n_batches)
        for losses in epochs:
            test.start_epoch()
            for loss in losses:
                test.add(loss, 1)
            assert not test.diverged(start_loss if test.first_epoch_loss is None
                                     else None)
            test.end_epoch()
        return test.ended_above_start(np.mean(epochs[-1]))

    # one-minibatch epochs: the first step's loss is the starting loss
    assert run([[1.0], [9.0], [10.5]])
    assert not run([[1.0], [9.0], [9.5]])
    # several minibatches: known only where measured
    assert not run([[1.0, 30.0], [40.0, 60.0]], n_batches=2)
    assert run([[1.0, 30.0], [40.0, 60.0]], n_batches=2, start_loss=1.2)


@pytest.mark.parametrize("seed", range(4))
def test_an_outlier_target_is_not_divergence(seed):
    """One target 1000 times the others: its minibatch's loss is a million times
    theirs, in whichever half of the first epoch the shuffle puts it."""
    rng = np.random.RandomState(seed)
    X = rng.randn(400, 3)
    y = X @ np.array([1.0, 2.0, 3.0])
    y[0] = 3000.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", ".*Maximum iterations", ConvergenceWarning)
        est = MLPRegressor((10,), batch_size=20, max_iter=2, random_state=seed).fit(X, y)
    assert est.n_iter_ == 2


# ------------------------------------------- the rows, or the steps, at fault

def _with_a_huge_value(n=400):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 3)
    y = X[:, 0].copy()
    X[:, 1] = np.abs(X[:, 1])
    X[n - 1, 1] = 1e200  # finite, but its squared error overflows
    return X, y


@pytest.mark.parametrize("random_state", [0, 2, 3])
def test_a_huge_value_in_a_later_minibatch_is_named_as_the_data(random_state):
    # Only the first minibatch was checked: where the shuffle put the row later,
    # the fit "diverged" (a ConvergenceWarning, the initial weights returned)
    X, y = _with_a_huge_value()
    est = MLPRegressor((4,), max_iter=5, random_state=random_state)
    with pytest.raises(ValueError, match="The loss on a minibatch of the training "
                                         "rows is not finite .* need to be "
                                         "preprocessed"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")  # nothing half-fitted


def test_a_huge_value_in_the_validation_rows_is_named_as_the_data(monkeypatch):
    # validation_scores_ were all -inf, and the initial weights came back silently
    from skopt_nn import _mlp

    X, y = _with_a_huge_value()
    split, splits = _mlp.validation_split, []
    monkeypatch.setattr(_mlp, "validation_split",
                        lambda *a, **k: splits.append(split(*a, **k)) or splits[-1])
    est = MLPRegressor((8,), max_iter=30, random_state=2, early_stopping=True,
                       n_iter_no_change=3)
    with pytest.raises(ValueError, match="The loss on the validation rows of "
                                         "early_stopping is not finite"):
        est.fit(X, y)
    assert splits[0][-1]  # (the huge row is held out with this random_state)


def test_a_divergence_among_skewed_targets_is_not_blamed_on_the_data():
    # A first epoch that diverges on a minibatch whose loss at the start is
    # finite, if 1000 times the first minibatch's (sorted or skewed targets),
    # is the steps' fault: a ConvergenceWarning, not the data's ValueError
    rng = np.random.RandomState(0)
    y = np.linspace(0, 1, 400) ** 4 * 100
    X = rng.randn(400, 3) + y[:, None] * 0.01
    est = MLPRegressor((8,), solver=SGD(learning_rate=10.0), batch_size=50,
                       max_iter=3, random_state=0, shuffle=False)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch 1"):
        est.fit(X, y)
    y = np.exp(2.5 * rng.randn(400))
    for random_state in range(8):
        est = MLPRegressor((8,), solver=SGD(learning_rate=1.0), batch_size=10,
                           max_iter=2, random_state=random_state)
        with pytest.warns(ConvergenceWarning, match="Training diverged"):
            est.fit(X, y)


class _PostUpdateLoss(SGD):
    """Returns the loss after its update (the protocol asks for the one before)."""

    def step(self, theta, objective, state):
        super().step(theta, objective, state)
        return objective(theta)[0]


def test_a_step_that_overflows_at_once_is_divergence_not_the_data():
    # The first minibatch's loss is not finite, but at the starting parameters
    # it was: the step, not the rows, is at fault.
    X, y = load_iris(return_X_y=True)
    est = MLPClassifier((4,), solver=_PostUpdateLoss(learning_rate=1e300),
                        max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch 1"):
        est.fit(X, y)
    assert est.n_iter_ == 0 and np.isfinite(est._theta).all()  # the start, restored


class _WildLastStep(SGD):
    """Full-batch gradient descent whose ``blow_up_at``-th step multiplies the
    parameters by 1e6."""

    full_batch = True

    def __init__(self, learning_rate=0.01, blow_up_at=4):
        super().__init__(learning_rate=learning_rate)
        self.blow_up_at = blow_up_at

    def step(self, theta, objective, state):
        loss = super().step(theta, objective, state)
        if state["step"] == self.blow_up_at:
            theta *= 1e6
        return loss


def test_the_last_step_of_a_full_batch_fit_is_checked():
    # No epoch judges the fit's last step: a model 13 times worse than its
    # starting point came back with only a max_iter warning
    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16, y[:500]
    with pytest.warns(ConvergenceWarning, match="Training diverged in epoch 4"):
        est = MLPClassifier((16,), solver=_WildLastStep(), max_iter=4,
                            random_state=0).fit(X, y)
    # the parameters before the wild step: those of three calm steps
    three = MLPClassifier((16,), solver=_WildLastStep(), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        three.fit(X, y)
    assert np.array_equal(est._theta, three._theta)
    assert log_loss(y, est.predict_proba(X)) < 2.5  # (31 with the wild step)


def test_the_last_update_of_a_partial_fit_call_of_several_minibatches_is_checked():
    # Only one-minibatch calls were checked: a call whose last update blew the
    # weights up kept them, and the next call blamed the data
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    est = MLPClassifier((8,), solver=SGD(learning_rate=0.01), batch_size=50,
                        random_state=0).partial_fit(X, y, classes=np.unique(y))
    theta, state = est._theta.copy(), copy.deepcopy(est.solver_state_)
    est.set_params(solver__learning_rate=lambda k: 1e6 if k == 5 else 0.01)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        est.partial_fit(X, y)  # updates 3, 4, 5: the last one blows up
    assert np.array_equal(est._theta, theta)
    assert est.solver_state_["step"] == state["step"] == 3
    est.set_params(solver__learning_rate=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.partial_fit(X, y)  # and the stream goes on


def test_a_solver_state_that_overflows_is_divergence():
    # The square of a gradient over 1e154 overflows Adam's second moment: its
    # steps are then 0, and the model stopped learning for good, silently
    X = np.random.RandomState(0).randn(150, 5)
    y = np.abs(X[:, 0])
    est = MLPRegressor((4,), loss="poisson", max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    theta = est._theta.copy()
    with pytest.warns(ConvergenceWarning, match="the solver state no longer finite"):
        est.partial_fit(X, y * 1e160)
    assert np.array_equal(est._theta, theta)
    assert np.isfinite(est.solver_state_["second_moment"]).all()
    est.partial_fit(X, y)
    assert not np.array_equal(est._theta, theta)  # it learns on


def test_the_divergence_warning_says_what_showed_it_and_advises_the_solver():
    class NaNAtSecondStep(Solver):  # a solver without a learning_rate
        def step(self, theta, objective, state):
            loss, grad = objective(theta)
            theta -= 1e-3 * grad
            state["step"] += 1
            if state["step"] == 2:
                theta[0] = np.nan
            return loss

    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning) as record:
        MLPClassifier((4,), solver=NaNAtSecondStep(), batch_size=150, max_iter=3,
                      random_state=0).fit(X, y)
    message = next(str(w.message) for w in record if "diverged" in str(w.message))
    assert "the parameters no longer finite" in message
    assert "learning_rate" not in message and "Set max_grad_norm" in message


@pytest.mark.parametrize("unit", ["datetime64[D]", "timedelta64[s]"])
def test_regressor_rejects_date_and_duration_targets(unit):
    # they were cast to float silently: numbers in the dtype's unit (days
    # since 1970, seconds), which the user never chose
    X = np.random.RandomState(0).randn(20, 2)
    y = np.arange(20).astype(unit)
    match = r"y must be numeric for regression, got dates or durations"
    with pytest.raises(ValueError, match=match):
        MLPRegressor((3,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match=match):
        MLPRegressor((3,)).partial_fit(X, y)
    fitted = MLPRegressor((3,)).partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match=match):  # (past the light path)
        fitted.partial_fit(X, y)


def test_regressor_rejects_dates_and_durations_as_objects():
    # timezone-aware pandas timestamps and Python timedeltas are objects, which
    # reached a bare TypeError from float()
    import datetime

    import pandas as pd

    X = np.random.RandomState(0).randn(20, 2)
    match = r"y must be numeric for regression, got dates or durations"
    for y in (pd.Series(pd.date_range("2020", periods=20, tz="UTC")),
              [datetime.timedelta(seconds=s) for s in range(20)]):
        with pytest.raises(ValueError, match=match):
            MLPRegressor((3,), max_iter=2).fit(X, y)


@pytest.mark.parametrize("class_weight, sample_weight, what", [
    (1e38, None, "The class weights sum to infinity in float32$"),
    (None, 1e38, "The sample weights sum to infinity in float32$"),
    (1e19, 1e19, "The sample weights sum to infinity in float32 \\(with the "
                 "class weights applied\\)$"),
])
def test_weights_summing_to_infinity_are_named_as_given(class_weight, sample_weight,
                                                        what):
    # "The sample weights sum to infinity" was said of class weights alone
    est = MLPClassifier((4,), max_iter=2, random_state=0, class_weight=None
                        if class_weight is None else dict.fromkeys(range(3),
                                                                   class_weight))
    with pytest.raises(ValueError) as caught:
        est.fit(X_GOOD.astype(np.float32), Y_GOOD, sample_weight=None
                if sample_weight is None else np.full(60, sample_weight))
    assert re.search(what, str(caught.value).split(":")[0])

"""Step for step against scikit-learn's MLP: the same random_state, the same network.

A fit from scratch (no early stopping) draws its initial weights and each epoch's
row order from the random stream exactly as scikit-learn's MLP does, so with the
same solver it visits the same parameters: every test below trains both
libraries on shuffled minibatches (with a short last one) and compares the
parameters and the loss curve. Only the order of floating-point operations
differs, so they agree to rounding (1e-12 in float64, where any difference in
the rules, the minibatches or the penalty shows at 1e-4 or more; shuffling each
epoch afresh instead of permuting the previous order gave 0.04).

Where the rules differ, the test states the relation:
- Nesterov: scikit-learn stores the look-ahead point, so its parameters are the
  lecture's ``theta + momentum * velocity``;
- Adam: scikit-learn adds ``epsilon`` to the uncorrected ``sqrt(r)``, the lecture
  to the bias-corrected one; with a negligible ``epsilon`` they are the same rule.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits,
                              load_iris, make_multilabel_classification)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.solvers import SGD, Adam, Momentum, Nesterov

# the same budget in both libraries: every epoch runs, none stops early
_COMMON = dict(batch_size=32, max_iter=5, tol=0, n_iter_no_change=10**6,
               alpha=1e-3, random_state=0)
# the same update rule, spelled in each library
_SGD = (dict(solver="sgd", learning_rate_init=0.05, momentum=0.0),
        SGD(learning_rate=0.05))
_MOMENTUM = (dict(solver="sgd", learning_rate_init=0.05, momentum=0.9,
                  nesterovs_momentum=False),
             Momentum(learning_rate=0.05, momentum=0.9))
_ADAM = (dict(solver="adam", learning_rate_init=0.01, epsilon=1e-300),
         Adam(learning_rate=0.01, epsilon=1e-300))


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _flat(model):
    return np.concatenate([a.ravel() for pair in zip(model.coefs_, model.intercepts_)
                           for a in pair])


def _fit_both(Ours, Reference, rule, X, y, sample_weight=None, **params):
    reference_solver, our_solver = rule
    params = {**_COMMON, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached
        reference = Reference(**reference_solver, **params).fit(
            X, y, sample_weight=sample_weight)
        ours = Ours(solver=our_solver, **params).fit(X, y, sample_weight=sample_weight)
    return ours, reference


def _assert_same_fit(ours, reference, tolerance=1e-12):
    np.testing.assert_allclose(_flat(ours), _flat(reference),
                               rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(ours.loss_curve_, reference.loss_curve_,
                               rtol=tolerance, atol=0)
    assert (ours.n_iter_, ours.t_) == (reference.n_iter_, reference.t_)


@pytest.mark.parametrize("rule", [_SGD, _MOMENTUM, _ADAM], ids=["sgd", "momentum",
                                                               "adam"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_multiclass_classifier_trains_the_same_network(rule, activation):
    X, y = _standardized(load_iris)
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, rule, X, y,
                                hidden_layer_sizes=(6,), activation=activation)
    _assert_same_fit(ours, reference)


@pytest.mark.parametrize("rule", [_SGD, _MOMENTUM, _ADAM], ids=["sgd", "momentum",
                                                               "adam"])
def test_regressor_trains_the_same_network(rule):
    X, y = _standardized(load_diabetes)
    y = (y - y.mean()) / y.std()
    ours, reference = _fit_both(MLPRegressor, SklearnMLPRegressor, rule, X, y,
                                hidden_layer_sizes=(8, 4))
    _assert_same_fit(ours, reference)


@pytest.mark.parametrize("rule", [_SGD, _ADAM], ids=["sgd", "adam"])
def test_poisson_regressor_trains_the_same_network(rule):
    X, _ = _standardized(load_diabetes)
    y = np.random.RandomState(0).poisson(np.exp(0.3 * X[:, 2] + 0.5)).astype(float)
    ours, reference = _fit_both(MLPRegressor, SklearnMLPRegressor, rule, X, y,
                                hidden_layer_sizes=(8,), loss="poisson")
    assert ours.out_activation_ == reference.out_activation_ == "exp"
    _assert_same_fit(ours, reference)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), rtol=1e-12)


def test_binary_classifier_trains_the_same_network():
    X, y = _standardized(load_breast_cancer)
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, _MOMENTUM, X, y,
                                hidden_layer_sizes=(7,))
    assert ours.coefs_[-1].shape == (7, 1)  # one logistic output, as there
    _assert_same_fit(ours, reference)


def test_sample_weight_trains_the_same_network():
    X, y = _standardized(load_breast_cancer)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, _MOMENTUM, X, y,
                                sample_weight=weight, hidden_layer_sizes=(7,))
    # loss_ differs by definition (see the next test)
    np.testing.assert_allclose(_flat(ours), _flat(reference), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:The parameters did not change")  # (on purpose)
def test_weighted_epoch_loss_is_the_weighted_mean_where_sklearn_counts_rows():
    """With a learning rate too small to move the parameters, every minibatch's
    loss is taken at the initial weights. skopt_nn's ``loss_`` is then the
    weighted mean loss over all rows; scikit-learn weights each minibatch's
    (weighted) mean loss by the minibatch's row count."""
    X, y = _standardized(load_breast_cancer)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    still = (dict(solver="sgd", learning_rate_init=1e-300, momentum=0.0),
             SGD(learning_rate=1e-300))
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, still, X, y,
                                sample_weight=weight, hidden_layer_sizes=(7,),
                                max_iter=1, shuffle=False, alpha=0)
    p = ours.predict_proba(X)[np.arange(len(y)), y]
    np.testing.assert_allclose(ours.loss_, -np.average(np.log(p), weights=weight),
                               rtol=1e-12)
    batches = [slice(start, start + 32) for start in range(0, len(y), 32)]
    row_weighted = sum(-np.average(np.log(p[b]), weights=weight[b]) * len(p[b])
                       for b in batches) / len(y)
    np.testing.assert_allclose(reference.loss_, row_weighted, rtol=1e-12)
    assert abs(ours.loss_ - reference.loss_) > 1e-4


def test_multilabel_classifier_trains_the_same_network():
    X, Y = make_multilabel_classification(200, 10, n_classes=4, random_state=0)
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, _MOMENTUM, X, Y,
                                hidden_layer_sizes=(7,))
    _assert_same_fit(ours, reference)


def test_float32_classifier_trains_the_same_network():
    """float32 in both: rounding errors of 6e-8 per operation, accumulated over
    25 steps, stay within 1e-5 (a wrong rule would differ by 1e-3 or more)."""
    X, y = _standardized(load_breast_cancer)
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, _MOMENTUM,
                                X.astype(np.float32), y, hidden_layer_sizes=(7,))
    assert ours.coefs_[0].dtype == reference.coefs_[0].dtype == np.float32
    _assert_same_fit(ours, reference, tolerance=1e-5)


def test_default_architecture_with_adam_trains_the_same_network_on_digits():
    """scikit-learn's defaults (100 relu units, Adam at 1e-3, minibatches of 200)
    for 5 epochs, ``epsilon`` aside."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = SklearnMLPClassifier(epsilon=1e-300, max_iter=5,
                                         random_state=0).fit(X, y)
        ours = MLPClassifier(solver=Adam(epsilon=1e-300), max_iter=5,
                             random_state=0).fit(X, y)
    _assert_same_fit(ours, reference)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_nesterov_matches_sklearn_at_the_look_ahead_point(activation):
    """The lecture evaluates the gradient at theta + momentum * v and stores theta;
    scikit-learn stores that look-ahead point itself. The same sequence of points,
    so its parameters are ours moved by ``momentum * velocity``, and its epoch
    losses (taken where the gradients are) are ours."""
    X, y = _standardized(load_iris)
    rule = (dict(solver="sgd", learning_rate_init=0.05, momentum=0.9,
                 nesterovs_momentum=True),
            Nesterov(learning_rate=0.05, momentum=0.9))
    ours, reference = _fit_both(MLPClassifier, SklearnMLPClassifier, rule, X, y,
                                hidden_layer_sizes=(6,), activation=activation)
    look_ahead = _flat(ours) + 0.9 * ours.solver_state_["velocity"]
    np.testing.assert_allclose(look_ahead, _flat(reference), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, reference.loss_curve_, rtol=1e-12)
    # and theta itself is not the look-ahead point
    assert np.abs(_flat(ours) - _flat(reference)).max() > 1e-3


def test_default_adam_differs_from_sklearn_only_by_where_epsilon_is_added():
    """One full-batch step from the same initial weights: the lecture's update is
    ``-lr g / (|g| + epsilon)`` (bias-corrected moments after one step are g and
    g^2), scikit-learn's ``-lr g / (|g| + epsilon / sqrt(1 - beta_2))``."""
    X, y = _standardized(load_iris)
    params = dict(hidden_layer_sizes=(6,), batch_size=len(y), max_iter=1,
                  shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SklearnMLPClassifier(solver="sgd", learning_rate_init=1e-300,
                                     momentum=0, alpha=0, **params).fit(X, y)
        reference = SklearnMLPClassifier(alpha=0, **params).fit(X, y)
        ours = MLPClassifier(alpha=0, **params).fit(X, y)
    theta0 = _flat(start)  # the initial weights (a step of 1e-300 moves nothing)
    g = ours.solver_state_["first_moment"] / (1 - 0.9)  # (1 - beta_1) g after a step
    lr, epsilon = 1e-3, 1e-8
    np.testing.assert_allclose(_flat(ours) - theta0, -lr * g / (np.abs(g) + epsilon),
                               rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(
        _flat(reference) - theta0,
        -lr * g / (np.abs(g) + epsilon / np.sqrt(1 - 0.999)), rtol=1e-9, atol=1e-18)


# A probability of exactly 0.5 is not a positive prediction, as in
# scikit-learn's MLP (LabelBinarizer's ``y > 0.5``): zeroed weights give
# p = 0.5 for every row.
def _zeroed(est, X, y):
    est.fit(X, y)
    est.coefs_ = [np.zeros_like(w) for w in est.coefs_]
    est.intercepts_ = [np.zeros_like(b) for b in est.intercepts_]
    return est


def _data(multilabel):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20, 3))
    y = (X[:, :2] > 0).astype(int) if multilabel else np.where(X[:, 0] > 0, "yes", "no")
    return X, y


def test_binary_tie_predicts_the_first_class_as_sklearn():
    X, y = _data(False)
    ours = _zeroed(MLPClassifier((3,), max_iter=2, random_state=0), X, y)
    np.testing.assert_array_equal(ours.predict_proba(X), 0.5)
    ref = _zeroed(SklearnMLPClassifier((3,), max_iter=2, random_state=0), X, y)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert (ours.predict(X) == "no").all()          # classes_[0], by hand


def test_multilabel_tie_predicts_no_label_as_sklearn():
    X, Y = _data(True)
    ours = _zeroed(MLPClassifier((3,), max_iter=2, random_state=0), X, Y)
    ref = _zeroed(SklearnMLPClassifier((3,), max_iter=2, random_state=0), X, Y)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert (ours.predict(X) == 0).all()


def test_an_activation_set_after_fit_takes_effect_at_the_next_fit():
    # documented in the user guide's differences (a review of conventions)
    X, y = _standardized(load_breast_cancer)
    params = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(solver=SGD(learning_rate=0.05), **params).fit(X, y)
        ref = SklearnMLPClassifier(solver="sgd", **params).fit(X, y)
    fitted, ref_fitted = ours.predict_proba(X), ref.predict_proba(X)
    ours.set_params(activation="tanh")
    ref.set_params(activation="tanh")
    np.testing.assert_array_equal(ours.predict_proba(X), fitted)
    assert np.abs(ref.predict_proba(X) - ref_fitted).max() > 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        refitted = ours.fit(X, y).predict_proba(X)
    assert np.abs(refitted - fitted).max() > 1e-3  # the next fit uses tanh

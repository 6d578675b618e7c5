"""The training objective and its gradient, checked independently.

* The gradient of ``Objective`` (through ``Network.loss_grad``) with respect to the
  flat parameter vector against central finite differences, for every hidden
  activation x output/loss pairing x penalty, with and without sample weights.
* The loss value against a formula written here from scratch: the layer layout of
  the flat vector as documented in ``_network`` (``W_0, b_0, W_1, b_1, ...``), an
  explicit forward pass, and scikit-learn's metrics (``log_loss``,
  ``mean_squared_error``) plus the penalty ``alpha / (2 sum_i w_i) sum ||W||^2``.

Both also with the batch split into three row shards evaluated on threads (as
full batches are; see ``Objective``).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error

from skopt_nn import _objective
from skopt_nn._losses import constant_prediction_loss
from skopt_nn._network import Network
from skopt_nn._objective import Objective

HIDDEN = (4, 3)
N_FEATURES = 3
ACTIVATION_FUNCTIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}
# name -> (output activation, number of outputs, kind of target)
PROBLEMS = {
    "softmax_multiclass": ("softmax", 3, "multiclass"),
    "logistic_binary": ("logistic", 1, "binary"),
    "logistic_multilabel": ("logistic", 3, "multilabel"),
    "identity_regression": ("identity", 1, "regression"),
    "identity_multioutput": ("identity", 2, "regression"),
    "exp_poisson": ("exp", 2, "counts"),
}
# Rows whose hidden pre-activations are closer to 0 than this are dropped, so that
# a finite-difference step never crosses a kink of relu.
RELU_MARGIN = 0.05


def _unpack(theta, units):
    """The documented layout of the flat vector, re-derived independently."""
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        coefs.append(theta[start:start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
        intercepts.append(theta[start:start + fan_out])
        start += fan_out
    assert start == len(theta)
    return coefs, intercepts


def _reference_forward(theta, units, activation, X):
    """Hidden pre-activations and output logits by an explicit loop."""
    coefs, intercepts = _unpack(theta, units)
    a, pre_activations = X, []
    for w, b in zip(coefs[:-1], intercepts[:-1]):
        z = a @ w + b
        pre_activations.append(z)
        a = ACTIVATION_FUNCTIONS[activation](z)
    return pre_activations, a @ coefs[-1] + intercepts[-1]


def _problem(activation, problem, weighted, seed=0):
    """A small network, parameters, data and targets for one test case."""
    out_activation, n_outputs, kind = PROBLEMS[problem]
    rng = np.random.RandomState(seed)
    units = [N_FEATURES, *HIDDEN, n_outputs]
    network = Network(units, activation, out_activation)
    theta = network.initialize(rng, np.float64)
    theta += 0.3 * rng.standard_normal(theta.shape)  # biases away from Glorot's
    X = rng.standard_normal((60, N_FEATURES))
    if activation == "relu":
        hidden_z, _ = _reference_forward(theta, units, activation, X)
        far = np.all([np.abs(z).min(axis=1) > RELU_MARGIN for z in hidden_z], axis=0)
        X = X[far]
    n = X.shape[0]
    assert n >= 15, "too few rows left to make the check meaningful"
    if kind == "multiclass":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n)]
    elif kind in ("binary", "multilabel"):
        Y = (rng.uniform(size=(n, n_outputs)) < 0.5).astype(float)
    elif kind == "counts":
        Y = rng.poisson(2.0, size=(n, n_outputs)).astype(float)
    else:
        Y = rng.standard_normal((n, n_outputs))
    weights = rng.uniform(0.2, 3.0, size=n) if weighted else None
    return network, units, theta, X, Y, weights


def _reference_loss(theta, units, activation, problem, X, Y, weights, alpha):
    """The objective from scikit-learn metrics, independent of ``_losses``."""
    out_activation, n_outputs, kind = PROBLEMS[problem]
    _, logits = _reference_forward(theta, units, activation, X)
    if kind == "multiclass":
        data_loss = log_loss(Y.argmax(axis=1), softmax(logits, axis=1),
                             sample_weight=weights, labels=np.arange(n_outputs))
    elif kind in ("binary", "multilabel"):
        # binary cross-entropy summed over labels, averaged over samples
        p = expit(logits)
        data_loss = sum(log_loss(Y[:, k], p[:, k], sample_weight=weights,
                                 labels=[0, 1]) for k in range(n_outputs))
    elif kind == "counts":
        # half the Poisson deviance of exp(logits), summed over outputs
        data_loss = sum(0.5 * mean_poisson_deviance(Y[:, k], np.exp(logits[:, k]),
                                                    sample_weight=weights)
                        for k in range(n_outputs))
    else:
        # squared error is 1/2 per sample, summed over outputs
        data_loss = 0.5 * n_outputs * mean_squared_error(Y, logits,
                                                         sample_weight=weights)
    total_weight = X.shape[0] if weights is None else weights.sum()
    coefs, _ = _unpack(theta, units)
    penalty = alpha / (2 * total_weight) * sum(np.sum(w ** 2) for w in coefs)
    return data_loss + penalty


def _central_differences(f, theta, h):
    grad = np.empty_like(theta)
    for j in range(len(theta)):
        step = np.zeros_like(theta)
        step[j] = h
        grad[j] = (f(theta + step) - f(theta - step)) / (2 * h)
    return grad


CASES = pytest.mark.parametrize("activation", sorted(ACTIVATION_FUNCTIONS))
PROBLEM_CASES = pytest.mark.parametrize("problem", sorted(PROBLEMS))
ALPHAS = pytest.mark.parametrize("alpha", [0.0, 0.7])
WEIGHTED = pytest.mark.parametrize("weighted", [False, True],
                                   ids=["unweighted", "weighted"])
SHARDS = pytest.mark.parametrize("shards", [1, 3], ids=["whole", "3 shards"])


@pytest.fixture(scope="module")
def executor():
    with ThreadPoolExecutor(2) as pool:
        yield pool


def _sharded_objective(network, alpha, shards, executor, monkeypatch):
    """The objective, its batch split into ``shards`` row shards on threads."""
    # shards of a few rows, so that these small batches are split too
    monkeypatch.setattr(_objective, "MIN_SHARD_ROWS", 5)
    monkeypatch.setattr(_objective, "MIN_SHARD_ACTIVATIONS", 5)
    return Objective(network, alpha=alpha, shards=shards, executor=executor)


def _check_split(objective, shards):
    split = objective._row_shards
    assert (split is None) if shards == 1 else len(split) == shards


@CASES
@PROBLEM_CASES
@ALPHAS
@WEIGHTED
@SHARDS
def test_gradient_matches_central_differences(activation, problem, alpha, weighted,
                                              shards, executor, monkeypatch):
    network, _, theta, X, Y, weights = _problem(activation, problem, weighted)
    objective = _sharded_objective(network, alpha, shards, executor, monkeypatch) \
        .set_batch(X, Y, weights)
    _check_split(objective, shards)
    _, grad = objective(theta.copy())
    numeric = _central_differences(lambda t: objective(t)[0], theta, h=1e-5)
    relative_error = np.linalg.norm(grad - numeric) / np.linalg.norm(numeric)
    assert relative_error < 1e-8  # (measured at most 1.0e-9 over every case)


@CASES
@PROBLEM_CASES
@ALPHAS
@WEIGHTED
@SHARDS
def test_loss_matches_reference_formula(activation, problem, alpha, weighted, shards,
                                        executor, monkeypatch):
    network, units, theta, X, Y, weights = _problem(activation, problem, weighted)
    objective = _sharded_objective(network, alpha, shards, executor, monkeypatch) \
        .set_batch(X, Y, weights)
    _check_split(objective, shards)
    loss, _ = objective(theta)
    expected = _reference_loss(theta, units, activation, problem, X, Y, weights, alpha)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_constant_prediction_loss_is_scikit_learns_loss_of_the_mean(weighted):
    # the best constant prediction is the (weighted) mean target: its log loss
    # (summed over independent logistic outputs) or half its squared error
    rng = np.random.RandomState(0)
    w = rng.rand(50) + 0.5 if weighted else None
    Y = (rng.rand(50, 3) < [0.2, 0.5, 0.9]).astype(float)
    mean = np.average(Y, axis=0, weights=w)
    expected = sum(log_loss(Y[:, k], np.full(50, mean[k]), sample_weight=w)
                   for k in range(3))
    assert constant_prediction_loss("logistic", Y, w) == pytest.approx(expected,
                                                                      rel=1e-12)
    y = rng.randint(0, 3, 50)
    P = np.tile(np.average(np.eye(3)[y], axis=0, weights=w), (50, 1))
    assert constant_prediction_loss("softmax", np.eye(3)[y], w) == pytest.approx(
        log_loss(y, P, sample_weight=w), rel=1e-12)
    T = rng.randn(50, 2)
    M = np.tile(np.average(T, axis=0, weights=w), (50, 1))
    expected = 0.5 * mean_squared_error(T, M, sample_weight=w,
                                        multioutput="raw_values").sum()
    assert constant_prediction_loss("identity", T, w) == pytest.approx(expected,
                                                                      rel=1e-12)
    C = rng.poisson([0.5, 3.0], size=(50, 2)).astype(float)
    M = np.tile(np.average(C, axis=0, weights=w), (50, 1))
    expected = sum(0.5 * mean_poisson_deviance(C[:, k], M[:, k], sample_weight=w)
                   for k in range(2))
    assert constant_prediction_loss("exp", C, w) == pytest.approx(expected, rel=1e-12)


def test_loss_grad_writes_gradient_into_buffer_and_leaves_theta_unchanged():
    network, _, theta, X, Y, weights = _problem("tanh", "softmax_multiclass", True)
    s = weights / weights.sum()
    before = theta.copy()
    grad = np.full_like(theta, np.nan)
    loss, _ = network.loss_grad(theta, X, Y, s, 0.1, grad)
    objective_loss, objective_grad = Objective(network, alpha=0.1 * weights.sum()) \
        .set_batch(X, Y, weights)(theta)
    assert np.array_equal(theta, before)
    np.testing.assert_allclose(grad, objective_grad, rtol=1e-12)
    np.testing.assert_allclose(loss, objective_loss, rtol=1e-12)


def test_uniform_sample_weights_equal_unweighted_objective():
    network, _, theta, X, Y, _ = _problem("logistic", "identity_multioutput", False)
    objective = Objective(network, alpha=0.5)
    loss, grad = objective.set_batch(X, Y)(theta)
    loss_w, grad_w = objective.set_batch(X, Y, np.full(X.shape[0], 1.0))(theta)
    np.testing.assert_allclose(loss_w, loss, rtol=1e-13)
    np.testing.assert_allclose(grad_w, grad, rtol=1e-12, atol=1e-15)


def test_gradient_clipping_rescales_to_max_grad_norm():
    network, _, theta, X, Y, _ = _problem("tanh", "identity_regression", False)
    _, grad = Objective(network).set_batch(X, Y)(theta)
    norm = np.linalg.norm(grad)
    clipped_objective = Objective(network, max_grad_norm=norm / 4).set_batch(X, Y)
    _, clipped = clipped_objective(theta)
    np.testing.assert_allclose(clipped, grad / 4, rtol=1e-12)
    assert clipped_objective.last_grad_norm == pytest.approx(norm, rel=1e-12)


def test_gradient_norm_is_measured_only_when_asked_or_clipping():
    network, _, theta, X, Y, _ = _problem("tanh", "identity_regression", False)
    _, grad = Objective(network).set_batch(X, Y)(theta)
    norm = np.linalg.norm(grad)
    objective = Objective(network, remember_last=True).set_batch(X, Y)
    objective.measure_norm = False
    objective(theta)
    assert np.isnan(objective.last_grad_norm)
    objective.measure_norm = True  # the remembered evaluation: measured on demand
    _, remembered = objective(theta)
    assert objective.n_evaluations == 1
    assert objective.last_grad_norm == pytest.approx(norm, rel=1e-12)
    np.testing.assert_array_equal(remembered, grad)
    clipping = Objective(network, max_grad_norm=norm / 4).set_batch(X, Y)
    clipping.measure_norm = False  # clipping needs the norm regardless
    _, clipped = clipping(theta)
    np.testing.assert_allclose(clipped, grad / 4, rtol=1e-12)
    assert clipping.last_grad_norm == pytest.approx(norm, rel=1e-12)

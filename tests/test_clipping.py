"""Gradient-norm clipping (``max_grad_norm``): the lecture's remedy for cliffs.

If ||g|| > v then g <- g v / ||g||; otherwise g is unchanged. Checked on the
``Objective`` a solver calls, and through an estimator with a solver that records
every gradient it is given. Then the cliff itself: one far-out row makes plain SGD
with a large rate diverge (the estimator warns and stays usable), while the same
SGD with clipping trains.
"""

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skopt_nn import MLPRegressor
from skopt_nn._blas import vector_norm
from skopt_nn._network import Network
from skopt_nn._objective import Objective
from skopt_nn.solvers import SGD, Solver


def _network_problem(seed=0):
    rng = np.random.default_rng(seed)
    network = Network([4, 8, 1], "tanh", "identity")
    theta = network.initialize(np.random.RandomState(seed), np.float64)
    X = rng.standard_normal((30, 4))
    Y = rng.standard_normal((30, 1)) * 3
    return network, theta, X, Y


def _gradient(network, theta, X, Y, max_grad_norm=None):
    return Objective(network, alpha=1e-3, max_grad_norm=max_grad_norm) \
        .set_batch(X, Y)(theta)


# ------------------------------------------------------------------ Objective
def test_gradient_above_v_is_rescaled_to_norm_v():
    network, theta, X, Y = _network_problem()
    loss, g = _gradient(network, theta, X, Y)
    norm = np.sqrt(g @ g)
    v = norm / 4
    clipped_loss, clipped = _gradient(network, theta, X, Y, max_grad_norm=v)
    np.testing.assert_allclose(clipped, g * v / norm, rtol=1e-14, atol=0)
    assert np.sqrt(clipped @ clipped) == pytest.approx(v, rel=1e-14)
    assert clipped_loss == loss  # the loss is not clipped


@pytest.mark.parametrize("factor", [1.0, 1.5, 100.0])
def test_gradient_at_or_below_v_is_unchanged(factor):
    network, theta, X, Y = _network_problem()
    _, g = _gradient(network, theta, X, Y)
    _, same = _gradient(network, theta, X, Y, max_grad_norm=factor * np.sqrt(g @ g))
    np.testing.assert_array_equal(same, g)


@pytest.mark.parametrize("dtype, target", [(np.float32, 3e19), (np.float64, 3e160)])
def test_gradient_whose_squared_norm_overflows_is_clipped_to_its_direction(
        dtype, target):
    # one linear layer, squared error: at theta = 0 the gradient of the bias
    # and weights is -mean(y x) and -mean(y), with ||g||^2 beyond the dtype's
    # range; clipping must keep g's direction, not make it 0 (g / inf)
    network = Network([2, 1], "relu", "identity")
    X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
    Y = np.array([[target], [-target / 3]], dtype=dtype)
    theta = np.zeros(network.n_params, dtype=dtype)
    direction = np.array([-0.5, 1 / 6, -1 / 3])  # (dW1, dW2, db) / target
    with np.errstate(over="ignore"):  # the loss (y^2 / 2) overflows as well
        _, clipped = Objective(network, max_grad_norm=2.0).set_batch(X, Y)(theta)
    assert clipped.dtype == dtype
    np.testing.assert_allclose(clipped, 2.0 * direction / np.linalg.norm(direction),
                               rtol=1e-6)


def test_objective_reports_the_norm_before_clipping():
    network, theta, X, Y = _network_problem()
    _, g = _gradient(network, theta, X, Y)
    objective = Objective(network, alpha=1e-3, max_grad_norm=1e-3).set_batch(X, Y)
    objective(theta)
    assert objective.last_grad_norm == pytest.approx(np.sqrt(g @ g), rel=1e-14)


# --------------------------------------------------- through an estimator
class RecordingSGD(Solver):
    """SGD that records every point it evaluates and the gradient it is given."""

    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate

    def init_state(self, theta):
        return {"step": 0, "points": [], "grads": []}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        state["points"].append(theta.copy())
        state["grads"].append(grad.copy())
        theta -= self.learning_rate * grad
        state["step"] += 1
        return loss


def _regression(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = X @ np.array([1.0, -0.5, 0.3, 0.8]) + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_gradient_the_solver_sees_is_clipped_exactly():
    """Unshuffled minibatches of 20 rows: the k-th step's batch is known, so its
    unclipped gradient at the recorded point is recomputed independently."""
    X, y = _regression()
    v = 1.0
    est = MLPRegressor((8,), activation="tanh", solver=RecordingSGD(0.1),
                       max_grad_norm=v, batch_size=20, shuffle=False, max_iter=6,
                       random_state=0).fit(X, y)
    state = est.solver_state_
    assert state["step"] == 6 * 5
    n_clipped = 0
    for k, (point, seen) in enumerate(zip(state["points"], state["grads"])):
        rows = slice((k % 5) * 20, (k % 5) * 20 + 20)
        _, g = Objective(est._network, alpha=est.alpha).set_batch(
            X[rows], y[rows, None])(point)
        norm = np.sqrt(g @ g)
        if norm > v:
            n_clipped += 1
            np.testing.assert_allclose(seen, g * v / norm, rtol=1e-12, atol=1e-15)
        else:
            np.testing.assert_array_equal(seen, g)
    assert 0 < n_clipped < state["step"]  # both cases occurred


def _cliff():
    """Linear data with one row 30 times farther out than the others: its
    minibatch's gradient is hundreds of times larger (a cliff)."""
    X, y = _regression(200)
    X[7] *= 30
    y[7] *= 30
    return X, y


def _cliff_estimator(max_grad_norm):
    return MLPRegressor((16,), solver=SGD(learning_rate=0.3),
                        max_grad_norm=max_grad_norm, batch_size=20, max_iter=100,
                        random_state=0)


def test_unclipped_sgd_diverges_at_the_cliff_and_stays_usable():
    X, y = _cliff()
    est = _cliff_estimator(None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    # one clear message, not NumPy's overflow warnings on the way
    assert [w.category for w in caught] == [ConvergenceWarning]
    assert "Training diverged" in str(caught[0].message)
    assert est.history_[-1]["diverged"] is True
    assert all(np.isfinite(w).all() for w in est.coefs_ + est.intercepts_)
    assert np.isfinite(est.predict(X)).all()
    assert np.isfinite(est.score(X, y))


def test_clipped_sgd_survives_the_cliff():
    X, y = _cliff()
    est = _cliff_estimator(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        est.fit(X, y)
    assert est.history_[-1]["diverged"] is False
    assert est.loss_curve_[-1] < est.loss_curve_[0] / 10
    assert est.score(X, y) > 0.95


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_clipping_bounds_every_sgd_step_by_eps_times_v():
    X, y = _cliff()
    est = MLPRegressor((16,), solver=RecordingSGD(0.3), max_grad_norm=1.0,
                       batch_size=20, max_iter=3, random_state=0).fit(X, y)
    points = est.solver_state_["points"] + [est._theta]
    steps = [np.linalg.norm(b - a) for a, b in zip(points[:-1], points[1:])]
    assert max(steps) <= 0.3 * 1.0 * (1 + 1e-12)
    assert max(steps) == pytest.approx(0.3, rel=1e-12)  # the cliff's batch is clipped


# vector_norm's overflow path must scale by the largest *magnitude*: an
# exploding gradient whose largest entries are negative still has a positive
# norm (else max_grad_norm's `norm > limit` never clips it).
@pytest.mark.parametrize("g", [
    np.array([-3e200, -4e200]),              # all negative
    np.array([1e200, -4e200, -3e200]),       # largest magnitude negative
    np.array([-3e30, -4e30], dtype=np.float32),
])
def test_overflowing_norm_is_the_euclidean_norm(g):
    # reference: the same norm computed on values scaled by hand (exact powers)
    scale = 1e200 if g.dtype == np.float64 else 1e30
    expected = scale * math.sqrt(sum((float(v) / scale) ** 2 for v in g))
    got = vector_norm(g)
    assert got > 0
    assert got == pytest.approx(expected, rel=1e-6)

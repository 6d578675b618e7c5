"""Every first-order solver against the lecture's algorithm box, written out here.

* SGD, Adam and Nesterov: a few updates against numbers computed in the test by
  plain arithmetic, unrolled step by step.
* Every solver: 50 steps on an ill-conditioned quadratic (condition number 1e3)
  and on a minibatch logistic regression whose minibatch changes at every step,
  against an independent NumPy transcription of the lecture's box (no skopt_nn
  code), with a constant rate and with the lecture's linear decay.
* Where the small constant delta goes (AdaGrad outside the root, RMSProp inside,
  RMSProp-Nesterov without it when ``epsilon=0``, Adam after bias correction):
  the solver matches its placement and is far from the other one. With
  ``epsilon=0`` a coordinate whose gradient is always 0 stays put (not 0/0).
* Nesterov's gradient is taken at the look-ahead point, ``theta`` stays the
  lecture's theta; solvers keep no training state on themselves.
* The solver state through the estimator: partial_fit and warm_start continue
  velocity, moments and step count exactly; a changed hyperparameter resets them.
"""

import copy
import math

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import make_classification

from skopt_nn import MLPClassifier
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import (SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp,
                              RMSPropNesterov)

N_STEPS = 50


# ------------------------------------------------------------------ objectives
class DiagonalQuadratic:
    """J(x) = 1/2 sum_i a_i (x_i - c_i)^2 with a = (1, 4), c = (1, -2).

    Records every point it is evaluated at.
    """

    a = np.array([1.0, 4.0])
    c = np.array([1.0, -2.0])

    def __init__(self):
        self.points = []

    def __call__(self, x):
        self.points.append(x.copy())
        d = x - self.c
        return 0.5 * float(self.a @ (d * d)), self.a * d


class IllConditionedQuadratic:
    """J(x) = 1/2 (x - c)' A (x - c), eigenvalues of A log-spaced in [1, 1000]."""

    def __init__(self, n=6, seed=0):
        rng = np.random.default_rng(seed)
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.A = (Q * np.logspace(0, 3, n)) @ Q.T
        self.c = rng.standard_normal(n)
        self.theta0 = np.zeros(n)
        self.k = 0  # the step: the same objective at every step

    def loss_grad(self, x, k):
        d = x - self.c
        Ad = self.A @ d
        return 0.5 * float(d @ Ad), Ad

    def __call__(self, x):
        return self.loss_grad(x, self.k)


class MinibatchLogistic:
    """Mean logistic loss of minibatch ``k`` (cycling through 6 of 20 rows), plus
    ``l2/2 ||w||^2``; theta = (w, b). The driver sets ``k`` before each step."""

    def __init__(self, n=120, d=5, m=20, l2=1e-2, seed=1):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n, d)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
        w_true = rng.standard_normal(d)
        self.y = (self.X @ w_true + rng.standard_normal(n) > 0).astype(float)
        self.m, self.l2 = m, l2
        self.theta0 = 0.1 * rng.standard_normal(d + 1)
        self.k = 0

    def loss_grad(self, theta, k):
        start = (k * self.m) % len(self.y)
        X, y = self.X[start:start + self.m], self.y[start:start + self.m]
        w, b = theta[:-1], theta[-1]
        z = X @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * self.l2 * (w @ w)
        r = expit(z) - y
        return float(loss), np.append(X.T @ r / self.m + self.l2 * w, r.mean())

    def __call__(self, theta):
        return self.loss_grad(theta, self.k)


def _run_solver(solver, problem, n_steps=N_STEPS):
    """Iterates and returned losses of ``n_steps`` solver steps."""
    theta = problem.theta0.copy()
    state = solver.init_state(theta)
    iterates, losses = [theta.copy()], []
    for k in range(n_steps):
        problem.k = k
        losses.append(solver.step(theta, problem, state))
        iterates.append(theta.copy())
    assert state["step"] == n_steps
    return np.array(iterates), np.array(losses)


# ------------------------------------------ the lecture's boxes, transcribed
# Each takes J(theta, k) -> (loss, g) for the k-th minibatch and the rate eps(k),
# and returns the iterates theta_0..theta_n and the losses evaluated.
def sgd_box(J, theta, eps, n):
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        theta = theta - eps(k) * g
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def momentum_box(J, theta, eps, n, alpha):
    v = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        v = alpha * v - eps(k) * g
        theta = theta + v
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def nesterov_box(J, theta, eps, n, alpha):
    v = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        theta_interim = theta + alpha * v
        loss, g = J(theta_interim, k)
        v = alpha * v - eps(k) * g
        theta = theta + v
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def adagrad_box(J, theta, eps, n, delta):
    r = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        r = r + g * g
        delta_theta = -eps(k) / (delta + np.sqrt(r)) * g
        theta = theta + delta_theta
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def rmsprop_box(J, theta, eps, n, rho, delta):
    r = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        r = rho * r + (1 - rho) * g * g
        delta_theta = -eps(k) / np.sqrt(delta + r) * g
        theta = theta + delta_theta
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def rmsprop_nesterov_box(J, theta, eps, n, rho, alpha):
    """The lecture's box to the letter: no delta at all."""
    r, v = np.zeros_like(theta), np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        theta_interim = theta + alpha * v
        loss, g = J(theta_interim, k)
        r = rho * r + (1 - rho) * g * g
        v = alpha * v - eps(k) / np.sqrt(r) * g
        theta = theta + v
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def rmsprop_nesterov_delta_box(J, theta, eps, n, rho, alpha, delta):
    """The same with delta inside the root, as RMSProp's box places it."""
    r, v = np.zeros_like(theta), np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        theta_interim = theta + alpha * v
        loss, g = J(theta_interim, k)
        r = rho * r + (1 - rho) * g * g
        v = alpha * v - eps(k) / np.sqrt(delta + r) * g
        theta = theta + v
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def adam_box(J, theta, eps, n, rho1, rho2, delta):
    """Deep Learning book, Algorithm 8.7."""
    s, r = np.zeros_like(theta), np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        t = k + 1
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        s_hat = s / (1 - rho1**t)
        r_hat = r / (1 - rho2**t)
        delta_theta = -eps(k) * s_hat / (np.sqrt(r_hat) + delta)
        theta = theta + delta_theta
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


# Non-default hyperparameters, so that a swapped or ignored one shows. The rate
# is per problem: the quadratic's largest curvature, 1000, bounds plain SGD's.
CASES = {
    "SGD": (SGD, {}, sgd_box, {}),
    "Momentum": (Momentum, {"momentum": 0.8}, momentum_box, {"alpha": 0.8}),
    "Nesterov": (Nesterov, {"momentum": 0.8}, nesterov_box, {"alpha": 0.8}),
    "AdaGrad": (AdaGrad, {}, adagrad_box, {"delta": 1e-7}),
    "RMSProp": (RMSProp, {"rho": 0.85}, rmsprop_box, {"rho": 0.85, "delta": 1e-6}),
    "RMSPropNesterov_epsilon0": (
        RMSPropNesterov, {"rho": 0.85, "momentum": 0.7, "epsilon": 0.0},
        rmsprop_nesterov_box, {"rho": 0.85, "alpha": 0.7}),
    "RMSPropNesterov": (
        RMSPropNesterov, {"rho": 0.85, "momentum": 0.7},
        rmsprop_nesterov_delta_box, {"rho": 0.85, "alpha": 0.7, "delta": 1e-6}),
    "Adam": (Adam, {"beta_1": 0.8, "beta_2": 0.99}, adam_box,
             {"rho1": 0.8, "rho2": 0.99, "delta": 1e-8}),
}
RATES = {
    "quadratic": {"SGD": 1.5e-3, "Momentum": 1e-3, "Nesterov": 1e-3, "AdaGrad": 0.3,
                  "RMSProp": 0.02, "RMSPropNesterov_epsilon0": 0.005,
                  "RMSPropNesterov": 0.005, "Adam": 0.05},
    "logistic": {"SGD": 0.1, "Momentum": 0.05, "Nesterov": 0.05, "AdaGrad": 0.3,
                 "RMSProp": 0.02, "RMSPropNesterov_epsilon0": 0.005,
                 "RMSPropNesterov": 0.005, "Adam": 0.05},
}
PROBLEMS = {"quadratic": IllConditionedQuadratic, "logistic": MinibatchLogistic}


def _assert_matches_box(name, problem_name, solver_rate, box_rate):
    Solver, params, box, box_params = CASES[name]
    problem = PROBLEMS[problem_name]()
    iterates, losses = _run_solver(Solver(learning_rate=solver_rate, **params), problem)
    expected, expected_losses = box(problem.loss_grad, problem.theta0, box_rate,
                                    N_STEPS, **box_params)
    assert np.isfinite(expected).all()
    # a meaningful trajectory: the transcription makes progress
    assert problem.loss_grad(expected[-1], 0)[0] < problem.loss_grad(expected[0], 0)[0]
    np.testing.assert_allclose(iterates, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("problem_name", ["quadratic", "logistic"])
@pytest.mark.parametrize("name", list(CASES))
def test_solver_equals_lecture_box_with_constant_rate(name, problem_name):
    rate = RATES[problem_name][name]
    _assert_matches_box(name, problem_name, rate, lambda k: rate)


@pytest.mark.parametrize("name", list(CASES))
def test_solver_equals_lecture_box_with_linear_decay(name):
    """The k-th update (k from 0) uses eps_k = (1 - k/tau) eps_0 + (k/tau) eps_tau,
    and eps_tau from k = tau on (tau = 30 < 50 steps)."""
    eps_0 = RATES["logistic"][name]
    eps_tau, tau = eps_0 / 10, 30

    def eps(k):
        a = min(k, tau) / tau
        return (1 - a) * eps_0 + a * eps_tau

    _assert_matches_box(name, "logistic", LinearDecay(eps_0, eps_tau, tau), eps)


# ---------------------------------------------------------- hand-computed steps
def test_sgd_three_steps_equal_hand_computation():
    """J = 1/2 (x1 - 1)^2 + 2 (x2 + 2)^2 from x = (0, 0), eps = 0.1:
    g = (x1 - 1, 4 (x2 + 2))."""
    J = DiagonalQuadratic()
    solver = SGD(learning_rate=0.1)
    theta = np.zeros(2)
    state = solver.init_state(theta)
    losses = [solver.step(theta, J, state) for _ in range(3)]
    # step 1: g = (-1, 8)        x = (0 + 0.1, 0 - 0.8)            = (0.1, -0.8)
    # step 2: g = (-0.9, 4.8)     x = (0.1 + 0.09, -0.8 - 0.48)     = (0.19, -1.28)
    # step 3: g = (-0.81, 2.88)   x = (0.19 + 0.081, -1.28 - 0.288) = (0.271, -1.568)
    np.testing.assert_allclose(theta, [0.271, -1.568], rtol=0, atol=1e-12)
    np.testing.assert_allclose(J.points, [[0, 0], [0.1, -0.8], [0.19, -1.28]],
                               rtol=0, atol=1e-12)
    # losses at the evaluated points: 1/2 (1 + 4 * 4), 1/2 (0.81 + 4 * 1.44), ...
    np.testing.assert_allclose(losses, [8.5, 3.285, 0.5 * (0.6561 + 4 * 0.5184)],
                               rtol=1e-12)
    assert state["step"] == 3


def test_adam_two_steps_equal_hand_computation_of_algorithm_8_7():
    """Adam on the same J from (0, 0) with eps = 0.1, rho1 = 0.9, rho2 = 0.999 and
    a large delta = 0.1, so that its placement (added to sqrt(r_hat), after bias
    correction) shows."""
    J = DiagonalQuadratic()
    solver = Adam(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.1)
    theta = np.zeros(2)
    state = solver.init_state(theta)
    solver.step(theta, J, state)
    # step 1 (t = 1): g = (-1, 8)
    s1 = (0.1 * -1.0, 0.1 * 8.0)                           # s = 0.9 s + 0.1 g
    r1 = (0.001 * 1.0, 0.001 * 64.0)                       # r = 0.999 r + 0.001 g^2
    s_hat = (s1[0] / 0.1, s1[1] / 0.1)                     # / (1 - 0.9)
    r_hat = (r1[0] / 0.001, r1[1] / 0.001)                 # / (1 - 0.999)
    x1 = (0.0 - 0.1 * s_hat[0] / (math.sqrt(r_hat[0]) + 0.1),
          0.0 - 0.1 * s_hat[1] / (math.sqrt(r_hat[1]) + 0.1))
    # = (0.1 / 1.1, -0.8 / 8.1)
    np.testing.assert_allclose(theta, x1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(theta, [1 / 11, -0.8 / 8.1], rtol=0, atol=1e-12)

    solver.step(theta, J, state)
    # step 2 (t = 2): g = (x1 - 1, 4 (x2 + 2))
    g = (x1[0] - 1.0, 4.0 * (x1[1] + 2.0))
    s2 = (0.9 * s1[0] + 0.1 * g[0], 0.9 * s1[1] + 0.1 * g[1])
    r2 = (0.999 * r1[0] + 0.001 * g[0] ** 2, 0.999 * r1[1] + 0.001 * g[1] ** 2)
    s_hat = (s2[0] / (1 - 0.9**2), s2[1] / (1 - 0.9**2))
    r_hat = (r2[0] / (1 - 0.999**2), r2[1] / (1 - 0.999**2))
    x2 = (x1[0] - 0.1 * s_hat[0] / (math.sqrt(r_hat[0]) + 0.1),
          x1[1] - 0.1 * s_hat[1] / (math.sqrt(r_hat[1]) + 0.1))
    np.testing.assert_allclose(theta, x2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state["first_moment"], s2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state["second_moment"], r2, rtol=0, atol=1e-12)
    assert state["step"] == 2

    # scikit-learn's placement (delta added to sqrt(r), the step size corrected
    # instead) moves elsewhere: the test above can tell the two apart
    rate1 = 0.1 * math.sqrt(1 - 0.999) / (1 - 0.9)
    sklearn_x1 = -rate1 * s1[0] / (math.sqrt(r1[0]) + 0.1)
    assert abs(sklearn_x1 - x1[0]) > 1e-2


@pytest.mark.parametrize("Solver", [Nesterov, RMSPropNesterov])
def test_nesterov_evaluates_gradient_at_lookahead(Solver):
    """The k-th evaluation is at theta_k + alpha v_k, ``theta`` holds the lecture's
    theta (not the look-ahead point) and ``step`` returns the loss evaluated."""
    J = DiagonalQuadratic()
    solver = Solver(learning_rate=0.1, momentum=0.9)
    theta = np.zeros(2)
    state = solver.init_state(theta)
    thetas, velocities, losses = [theta.copy()], [state["velocity"].copy()], []
    for _ in range(4):
        losses.append(solver.step(theta, J, state))
        thetas.append(theta.copy())
        velocities.append(state["velocity"].copy())
    assert len(J.points) == 4  # one evaluation per step
    for k in range(4):
        np.testing.assert_allclose(J.points[k], thetas[k] + 0.9 * velocities[k],
                                   rtol=0, atol=1e-14)
        np.testing.assert_allclose(thetas[k + 1], thetas[k] + velocities[k + 1],
                                   rtol=0, atol=1e-14)
        assert losses[k] == pytest.approx(J(J.points[k])[0], rel=1e-14)
    assert not np.allclose(J.points[3], thetas[3])  # the look-ahead is elsewhere


def test_nesterov_two_steps_equal_hand_computation():
    """J as above, eps = 0.1, alpha = 0.9, from (0, 0):
    step 1: theta~ = (0, 0), g = (-1, 8), v = (0.1, -0.8), theta = (0.1, -0.8);
    step 2: theta~ = (0.1 + 0.09, -0.8 - 0.72) = (0.19, -1.52),
            g = (0.19 - 1, 4 (-1.52 + 2)) = (-0.81, 1.92),
            v = (0.09 + 0.081, -0.72 - 0.192) = (0.171, -0.912),
            theta = (0.271, -1.712)."""
    J = DiagonalQuadratic()
    solver = Nesterov(learning_rate=0.1, momentum=0.9)
    theta = np.zeros(2)
    state = solver.init_state(theta)
    first = solver.step(theta, J, state)
    np.testing.assert_allclose(theta, [0.1, -0.8], rtol=0, atol=1e-12)
    second = solver.step(theta, J, state)
    np.testing.assert_allclose(J.points[1], [0.19, -1.52], rtol=0, atol=1e-12)
    np.testing.assert_allclose(state["velocity"], [0.171, -0.912], rtol=0, atol=1e-12)
    np.testing.assert_allclose(theta, [0.271, -1.712], rtol=0, atol=1e-12)  # not theta~
    assert first == pytest.approx(8.5, rel=1e-12)
    # the loss at theta~ = 1/2 (0.81^2 + 4 * 0.48^2); at theta it would be 3.285
    assert second == pytest.approx(0.5 * (0.6561 + 4 * 0.2304), rel=1e-12)


# ---------------------------------------------------------- delta placement
# (Solver, params, the box with the lecture's placement, the box with the other)
def _adagrad_delta_inside(J, theta, eps, n, delta):
    r = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        r = r + g * g
        theta = theta - eps(k) / np.sqrt(delta + r) * g
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def _rmsprop_delta_outside(J, theta, eps, n, rho, delta):
    r = np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        r = rho * r + (1 - rho) * g * g
        theta = theta - eps(k) / (delta + np.sqrt(r)) * g
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


def _adam_delta_before_correction(J, theta, eps, n, rho1, rho2, delta):
    """scikit-learn's placement: delta added to sqrt(r), the rate corrected."""
    s, r = np.zeros_like(theta), np.zeros_like(theta)
    thetas, losses = [theta.copy()], []
    for k in range(n):
        loss, g = J(theta, k)
        t = k + 1
        s = rho1 * s + (1 - rho1) * g
        r = rho2 * r + (1 - rho2) * g * g
        rate = eps(k) * np.sqrt(1 - rho2**t) / (1 - rho1**t)
        theta = theta - rate * s / (np.sqrt(r) + delta)
        thetas.append(theta)
        losses.append(loss)
    return np.array(thetas), np.array(losses)


PLACEMENTS = {
    "AdaGrad_outside_root": (AdaGrad(learning_rate=0.3, epsilon=0.1), adagrad_box,
                             _adagrad_delta_inside, {"delta": 0.1}),
    "RMSProp_inside_root": (RMSProp(learning_rate=0.02, rho=0.85, epsilon=0.1),
                            rmsprop_box, _rmsprop_delta_outside,
                            {"rho": 0.85, "delta": 0.1}),
    "Adam_after_bias_correction": (
        Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=0.1), adam_box,
        _adam_delta_before_correction, {"rho1": 0.8, "rho2": 0.99, "delta": 0.1}),
}


@pytest.mark.parametrize("case", list(PLACEMENTS))
def test_delta_placement_is_the_lecture_one(case):
    solver, box, other_box, box_params = PLACEMENTS[case]
    problem = MinibatchLogistic()
    eps = solver.learning_rate
    iterates, _ = _run_solver(solver, problem)
    expected, _ = box(problem.loss_grad, problem.theta0, lambda k: eps, N_STEPS,
                      **box_params)
    other, _ = other_box(problem.loss_grad, problem.theta0, lambda k: eps, N_STEPS,
                         **box_params)
    np.testing.assert_allclose(iterates, expected, rtol=1e-10, atol=1e-10)
    assert np.abs(iterates[-1] - other[-1]).max() > 1e-3


def test_rmsprop_nesterov_default_epsilon_is_inside_the_root():
    """With delta = 0.1 the default placement (inside the root) and the lecture's
    formula (no delta) differ; epsilon=0 is the lecture's formula (tested above)."""
    problem = MinibatchLogistic()
    solver = RMSPropNesterov(learning_rate=0.005, rho=0.85, momentum=0.7, epsilon=0.1)
    iterates, _ = _run_solver(solver, problem)
    params = dict(rho=0.85, alpha=0.7)
    inside, _ = rmsprop_nesterov_delta_box(problem.loss_grad, problem.theta0,
                                           lambda k: 0.005, N_STEPS, delta=0.1,
                                           **params)
    lecture, _ = rmsprop_nesterov_box(problem.loss_grad, problem.theta0,
                                      lambda k: 0.005, N_STEPS, **params)
    np.testing.assert_allclose(iterates, inside, rtol=1e-10, atol=1e-10)
    assert np.abs(iterates[-1] - lecture[-1]).max() > 1e-3


class FlatInOneCoordinate:
    """J(x) = 1/2 (x1 - 1)^2: the gradient in x2 is exactly 0 at every step."""

    theta0 = np.array([0.0, 0.5])

    def loss_grad(self, x, k):
        return 0.5 * (x[0] - 1.0) ** 2, np.array([x[0] - 1.0, 0.0])

    def __call__(self, x):
        return self.loss_grad(x, 0)


@pytest.mark.parametrize("name", ["AdaGrad", "RMSProp", "RMSPropNesterov_epsilon0",
                                  "Adam"])
def test_zero_epsilon_leaves_a_coordinate_without_gradient_in_place(name):
    """With delta = 0, r = 0 where the gradient was always 0: the lecture's formula
    is 0/0 there; the solver takes the limit delta -> 0+ (no move) and follows
    the formula elsewhere."""
    Solver, params, box, box_params = CASES[name]
    params = {**params, "epsilon": 0.0}
    box_params = {k: (0.0 if k == "delta" else v) for k, v in box_params.items()}
    problem = FlatInOneCoordinate()
    with np.errstate(all="raise"):
        iterates, _ = _run_solver(Solver(learning_rate=0.05, **params), problem, 10)
    assert (iterates[:, 1] == 0.5).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        expected, _ = box(problem.loss_grad, problem.theta0, lambda k: 0.05, 10,
                          **box_params)
    assert np.isnan(expected[1:, 1]).all()  # the formula to the letter: 0/0
    np.testing.assert_allclose(iterates[:, 0], expected[:, 0], rtol=1e-12, atol=0)


class FlatInOneCoordinateFloat32(FlatInOneCoordinate):
    theta0 = FlatInOneCoordinate.theta0.astype(np.float32)

    def loss_grad(self, x, k):
        loss, grad = super().loss_grad(x, k)
        return loss, grad.astype(np.float32)


@pytest.mark.parametrize("name", ["AdaGrad", "RMSProp", "RMSPropNesterov_epsilon0",
                                  "Adam"])
def test_epsilon_that_rounds_to_zero_in_float32_acts_as_zero(name):
    """delta = 1e-50 is 0 in float32: the update is the delta = 0 one (the
    coordinate without gradient stays put), not 0/0 = NaN."""
    Solver, params, _, _ = CASES[name]
    problem = FlatInOneCoordinateFloat32()
    with np.errstate(all="raise"):
        tiny, _ = _run_solver(Solver(learning_rate=0.05, **{**params, "epsilon": 1e-50}),
                              problem, 10)
        zero, _ = _run_solver(Solver(learning_rate=0.05, **{**params, "epsilon": 0.0}),
                              problem, 10)
    assert tiny.dtype == np.float32 and (tiny[:, 1] == np.float32(0.5)).all()
    np.testing.assert_array_equal(tiny, zero)


# --------------------------------------------------------------- statelessness
ALL_SOLVERS = [SGD(), Momentum(), Nesterov(), AdaGrad(), RMSProp(), RMSPropNesterov(),
               Adam()]


@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
def test_solver_object_holds_no_training_state(solver):
    before = dict(vars(solver))
    _run_solver(solver, MinibatchLogistic(), n_steps=3)
    assert vars(solver) == before


# ----------------------------------------------- solver state in the estimator
# short fits stop at max_iter by design
quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    return make_classification(120, 6, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=0)


def _estimator(solver, **params):
    defaults = dict(hidden_layer_sizes=(6,), batch_size=20, shuffle=False,
                    random_state=0)
    return MLPClassifier(solver=solver, **{**defaults, **params})


def _assert_same_fit(a, b):
    np.testing.assert_array_equal(a._theta, b._theta)
    assert a.solver_state_.keys() == b.solver_state_.keys()
    for key in a.solver_state_:
        np.testing.assert_array_equal(a.solver_state_[key], b.solver_state_[key])


@quiet
@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
def test_partial_fit_continues_velocity_moments_and_step_count(solver):
    """Two partial_fit calls make exactly the updates of one unshuffled epoch."""
    X, y = _data()
    chunked = _estimator(solver)
    chunked.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    chunked.partial_fit(X[60:], y[60:])
    whole = _estimator(solver, max_iter=1).fit(X, y)
    _assert_same_fit(chunked, whole)
    assert chunked.solver_state_["step"] == 6


@quiet
@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
def test_warm_start_continues_velocity_moments_and_step_count(solver):
    X, y = _data()
    warm = _estimator(solver, warm_start=True, max_iter=2).fit(X, y)
    warm.set_params(max_iter=3).fit(X, y)
    once = _estimator(solver, max_iter=5).fit(X, y)
    _assert_same_fit(warm, once)
    assert warm.solver_state_["step"] == 5 * 6


@quiet
@pytest.mark.parametrize("solver", ALL_SOLVERS, ids=lambda s: type(s).__name__)
def test_a_new_learning_rate_continues_the_solver_state(solver):
    """A new learning rate (reduce on plateau, by hand) continues the state from
    where it was, at the new rate; the same value set again keeps it too. (Other
    hyperparameters restart it: see test_custom_solver and test_estimator_api.)"""
    X, y = _data()
    rate = solver.learning_rate
    clf = _estimator(clone(solver))  # set_params below mutates the estimator's
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    clf.set_params(solver__learning_rate=rate)
    clf.partial_fit(X[60:], y[60:])
    assert clf.solver_state_["step"] == 6  # unchanged value: continued
    theta, state = clf._theta.copy(), copy.deepcopy(clf.solver_state_)
    clf.set_params(solver__learning_rate=rate / 2)
    clf.partial_fit(X[:60], y[:60])
    assert clf.solver_state_["step"] == 9  # changed rate: continued too

    # the same as the new rate's solver driven from the weights and state it had
    fresh = _estimator(clone(solver).set_params(learning_rate=rate / 2))
    fresh.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    fresh._theta[:] = theta
    fresh.solver_state_ = state
    fresh.partial_fit(X[:60], y[:60])
    _assert_same_fit(clf, fresh)

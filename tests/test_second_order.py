"""Newton's method and L-BFGS: the lecture's algorithm, safeguards, references."""

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_iris,
                              make_classification)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn._mlp import _SMALL_STEPS, _full_batch_stop
from skopt_nn._network import Network
from skopt_nn._objective import Objective
from skopt_nn.solvers import LBFGS, Newton
from skopt_nn.solvers._lbfgs import _push, pairs_oldest_first, two_loop
from skopt_nn.solvers import _lbfgs
from skopt_nn.solvers._line_search import LineSearchResult, backtracking, wolfe
from skopt_nn.solvers._newton import _damping_path, truncated_cg

LECTURE = dict(damping=0.0, saddle_free=False, line_search=False)


class Quadratic:
    """J(x) = x'Ax/2 - b'x with the solver protocol: (loss, grad) and .hvp."""

    def __init__(self, A, b):
        self.A, self.b = A, b

    def __call__(self, x):
        return float(0.5 * x @ self.A @ x - self.b @ x), self.A @ x - self.b

    def hvp(self, x, v):
        return self.A @ v


def _spd(n, condition, seed=0):
    rng = np.random.RandomState(seed)
    Q, _ = np.linalg.qr(rng.randn(n, n))
    return (Q * np.logspace(0, np.log10(condition), n)) @ Q.T


def _run(solver, objective, theta, n_steps):
    state = solver.init_state(theta)
    iterates = []
    for _ in range(n_steps):
        solver.step(theta, objective, state)
        iterates.append(theta.copy())
    return np.array(iterates), state


# ---------------------------------------------------------------- Newton


def test_newton_on_data_too_large_for_float64_names_the_data():
    """Newton built its Hessian before the estimator could report a loss that
    is not finite: numpy's "Eigenvalues did not converge" LinAlgError was all
    the user saw (L-BFGS and Adam named the data)."""
    rng = np.random.RandomState(0)
    X, y = 1e200 * rng.randn(10, 2), np.r_[np.zeros(5), np.ones(5)]
    for solver in (Newton(), LBFGS()):
        with pytest.raises(ValueError, match="The loss on the training rows is "
                                             "not finite .* need to be preprocessed"):
            MLPRegressor((2,), solver=solver, max_iter=3, random_state=0).fit(X, y)
    state = Newton().init_state(np.ones(2))
    assert Newton().step(np.ones(2), lambda x: (np.inf, np.ones(2)), state) == np.inf
    assert state["step"] == 1


def test_a_hessian_that_overflows_is_an_error_naming_the_data():
    class Overflowing(Quadratic):
        def hvp(self, x, v):
            return np.full_like(v, np.inf)

    theta = np.ones(3)
    objective = Overflowing(np.eye(3), np.zeros(3))
    with pytest.raises(ValueError, match="the Hessian at the current parameters is "
                                         "not finite"):
        Newton().step(theta, objective, Newton().init_state(theta))
    np.testing.assert_array_equal(theta, np.ones(3))


def test_newton_lecture_mode_reaches_quadratic_minimum_in_one_step():
    A, b = _spd(6, 1e3), np.arange(6.0)
    theta = np.ones(6)
    Newton(**LECTURE).step(theta, Quadratic(A, b), Newton().init_state(theta))
    np.testing.assert_allclose(theta, np.linalg.solve(A, b), rtol=1e-10)


def test_newton_lecture_mode_iterates_equal_transcription_on_ill_conditioned_quadratic():
    A, b = _spd(8, 1e4, seed=1), np.random.RandomState(2).randn(8)
    theta0 = np.random.RandomState(3).randn(8)
    iterates, _ = _run(Newton(**LECTURE), Quadratic(A, b), theta0.copy(), 50)
    # the lecture: g, H, H^-1, delta = -H^-1 g, theta = theta + delta
    theta, expected = theta0.copy(), []
    for _ in range(50):
        g, H = A @ theta - b, A
        theta = theta + -np.linalg.inv(H) @ g
        expected.append(theta.copy())
    np.testing.assert_allclose(iterates, expected, rtol=0,
                               atol=1e-10 * np.abs(expected).max())


def test_newton_lecture_mode_iterates_equal_transcription_on_minibatch_logistic_regression():
    X, y = make_classification(n_samples=200, n_features=5, n_informative=3,
                               flip_y=0.2, random_state=0)
    Y = y[:, None].astype(float)
    alpha, batch = 1.0, 40
    net = Network([5, 1], "relu", "logistic")
    objective = Objective(net, alpha=alpha)
    theta = net.initialize(np.random.RandomState(0), np.float64)
    theta0 = theta.copy()
    solver = Newton(**LECTURE)
    state = solver.init_state(theta)
    iterates = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # H is positive definite: nothing to warn
        for k in range(50):
            rows = slice(k * batch % 200, k * batch % 200 + batch)
            objective.set_batch(X[rows], Y[rows])
            solver.step(theta, objective, state)
            iterates.append(theta.copy())
    # transcription: theta = (w, b); J = mean BCE + alpha/(2m) |w|^2
    theta, expected = theta0.copy(), []
    for k in range(50):
        rows = slice(k * batch % 200, k * batch % 200 + batch)
        Xb = np.hstack([X[rows], np.ones((batch, 1))])
        p = expit(Xb @ theta)
        penalty = alpha / batch * np.r_[np.ones(5), 0.0]
        g = Xb.T @ (p - y[rows]) / batch + penalty * theta
        H = Xb.T @ (Xb * (p * (1 - p))[:, None]) / batch + np.diag(penalty)
        theta = theta - np.linalg.inv(H) @ g
        expected.append(theta.copy())
    np.testing.assert_allclose(iterates, expected, rtol=0,
                               atol=1e-10 * np.abs(expected).max())


def test_newton_fit_without_line_search_equals_its_steps_taken_by_hand():
    """The objective remembers a copy of the point it evaluated: Newton without a
    line search updates theta in place after evaluating it, and a remembered
    reference would hand the old loss and gradient back at the new point (the
    fit repeats its first step). No hidden layer: a convex problem on which the
    lecture's step converges. Reference: the same steps with a fresh objective
    at every step."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y == 1).astype(int)  # not separable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(), alpha=1e-2,
                            solver=Newton(line_search=False), max_iter=4, tol=0,
                            random_state=0).fit(X, y)
    net = Network([4, 1], "relu", "logistic")
    theta = net.initialize(np.random.RandomState(0), np.float64)
    solver = Newton(line_search=False)
    state = solver.init_state(theta)
    losses = []
    for _ in range(4):
        objective = Objective(net, alpha=1e-2).set_batch(X, y[:, None].astype(float))
        losses.append(solver.step(theta, objective, state))
    assert clf.n_iter_ == 4
    assert len(set(losses)) == 4  # every step moved
    np.testing.assert_allclose(clf.loss_curve_, losses, rtol=1e-10)
    np.testing.assert_allclose(clf.coefs_[0], net.unpack(theta)[0][0], rtol=1e-8,
                               atol=1e-12)


def test_newton_saddle_free_step_uses_absolute_eigenvalues_and_gradient_regularization():
    A, b = np.diag([2.0, -1.0]), np.array([1.0, 1.0])
    theta = np.array([0.5, 0.5])
    g = A @ theta - b  # (0, -1.5)
    solver = Newton(line_search=False)
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    # H is indefinite: mu_i = |lambda_i| + 0.01 ||g||^(1/2), ||g|| = 1.5
    r = 0.01 * 1.5 ** 0.5
    np.testing.assert_allclose(theta, [0.5 - g[0] / (2 + r), 0.5 - g[1] / (1 + r)],
                               rtol=1e-14)
    assert state["hessian"]["regularization"] == pytest.approx(r, rel=1e-15)


def test_a_rejected_doubling_leaves_the_kept_point_as_the_last_evaluation():
    # the objective reports (history_'s gradient norm) and remembers its last
    # evaluation: after a rejected doubling it must be the kept point's
    A, b = 1e-4 * np.eye(2), np.zeros(2)
    calls = []
    quadratic = Quadratic(A, b)

    def objective(x):
        calls.append(x.copy())
        return quadratic(x)

    theta = np.ones(2)
    loss, grad = quadratic(theta)
    solver = Newton()
    state = solver.init_state(theta)
    solver._search(theta, objective, loss, grad, grad.copy(), [], state)
    np.testing.assert_array_equal(calls[-1], theta)
    assert state["line_search"]["evaluations"] == len(calls)


def test_newton_saddle_free_takes_curvature_below_the_rounding_level_as_that_level():
    # lambda_2 = 0 is below tau = n eps max|lambda| = 2 eps: its direction is not
    # dropped (that would discard g's part along it) but gets mu = tau
    A, b = np.diag([1.0, 0.0]), np.array([1.0, 1e-3])
    theta = np.zeros(2)
    solver = Newton(line_search=False)
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    tau = 2 * np.finfo(np.float64).eps
    np.testing.assert_allclose(theta, [1.0, 1e-3 / tau], rtol=1e-14)
    assert state["hessian"]["n_floored"] == 1 and state["hessian"]["n_dropped"] == 0


def test_newton_in_float32_does_not_stop_where_the_gradient_lies_in_low_curvature():
    # tau = n eps32 max|lambda| (0.2 here) exceeds many real curvatures of this
    # network: dropping those directions left all of g behind, and the float32
    # fit "converged" after 43-54 steps at 4.3-5.0 times float64's loss, with
    # |g| = 1.4. Floored at tau instead, those directions keep descending, slowly
    # (as gradient descent with step 1/tau): after 200 steps float32 ends 1.00-1.11
    # times float64's loss. The two are non-convex fits whose paths depend on the
    # products' rounding: with OpenBLAS's Haswell kernels instead of this
    # machine's SkylakeX ones, float64 itself ends at 10.66 instead of 10.55, and
    # float32 at 11.89 instead of 10.69. A factor of 1.5 separates the two
    # behaviours on both.
    from sklearn.datasets import make_regression

    X, y = make_regression(400, 8, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    losses = {}
    for dtype in (np.float64, np.float32):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reg = MLPRegressor((10,), activation="tanh", solver=Newton(), alpha=1e-3,
                               max_iter=200, tol=0, random_state=0)
            reg.fit(X.astype(dtype), y.astype(dtype))
        losses[dtype] = reg.loss_
    assert losses[np.float32] < 1.5 * losses[np.float64]


def test_newton_steepest_descent_fallback_lengthens_steps_shorter_than_the_minimum():
    # J = 1e-4 |x|^2 / 2 from x = (1, 1): along -g the minimum is at 1e4 times g.
    # Backtracking from -g only shrinks, so each fallback step gained 2e-4 of J
    # (a Hessian-free Newton crawled at 2e-10 of loss per step on digits); an
    # accepted full step is now doubled while the loss keeps falling.
    A, b = 1e-4 * np.eye(2), np.zeros(2)
    objective = Quadratic(A, b)
    theta = np.ones(2)
    loss, grad = objective(theta)
    solver = Newton()
    state = solver.init_state(theta)
    # an ascent direction and no fallback steps: straight to steepest descent
    solver._search(theta, objective, loss, grad, grad.copy(), [], state)
    assert state["line_search"]["method"] == "steepest_descent"
    # doubled from alpha = 1 while the loss falls: alpha = 8192, the last before
    # passing the minimizer 1e4, where J = (1 - 0.8192)^2 of its start
    assert state["line_search"]["step_size"] == 8192
    np.testing.assert_allclose(objective(theta)[0], (1 - 0.8192) ** 2 * loss, rtol=1e-9)


def test_newton_saddle_free_step_is_the_lecture_step_when_hessian_is_positive_definite():
    A, b = _spd(5, 1e6, seed=4), np.arange(5.0)
    theta = np.ones(5)
    solver = Newton(line_search=False)
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    assert state["hessian"]["regularization"] == 0.0
    np.testing.assert_allclose(theta, np.linalg.solve(A, b), rtol=1e-9)


def test_newton_regularization_makes_weighted_and_repeated_fits_agree():
    # Same objective, different rounding: rows of integer weight vs repeated rows,
    # on an over-parameterized network with batch norm whose Hessian stays
    # indefinite. Unregularized saddle-free steps ended 4.3 apart in predict.
    rng = np.random.RandomState(42)
    X, y, w = rng.rand(15, 30), rng.randint(0, 3, 15).astype(float), \
        rng.randint(0, 5, 15)
    fits = [MLPRegressor(hidden_layer_sizes=(10,), batch_norm=True,
                         solver="newton", random_state=0).fit(*data)
            for data in [(X, y, w), (X.repeat(w, axis=0), y.repeat(w))]]
    assert fits[0].n_iter_ == fits[1].n_iter_
    # scikit-learn's check_sample_weight_equivalence tolerances
    np.testing.assert_allclose(fits[0].predict(X), fits[1].predict(X),
                               rtol=1e-7, atol=1e-9)


def test_newton_damping_is_added_to_eigenvalues():
    A, b = np.diag([2.0, 0.5]), np.array([1.0, -1.0])
    theta = np.array([1.0, 1.0])
    g = A @ theta - b
    solver = Newton(damping=0.5, saddle_free=False, line_search=False)
    solver.step(theta, Quadratic(A, b), solver.init_state(theta))
    np.testing.assert_allclose(theta, [1 - g[0] / 2.5, 1 - g[1] / 1.0], rtol=1e-14)


def test_saddle_free_damping_path_runs_from_1e_8_to_1e11_of_the_largest_curvature():
    # d(kappa) = -sum_i q_i (q_i^T g) / (mu_i + kappa), kappa = 10^k max(mu)
    Q, mu, coordinates = np.eye(2), np.array([1.0, 4.0]), np.array([1.0, 1.0])
    path = list(_damping_path(Q, coordinates, mu, np.float64))
    kappas = [info["damping"] for _, info, _ in path]
    np.testing.assert_allclose(kappas, [4.0 * 10.0 ** k for k in range(-8, 12)],
                               rtol=1e-15)
    np.testing.assert_allclose(path[0][2], [-1 / (1 + 4e-8), -1 / (4 + 4e-8)],
                               rtol=1e-15)
    np.testing.assert_allclose(path[-1][2], [-1 / (1 + 4e11), -1 / (4 + 4e11)],
                               rtol=1e-15)


def test_newton_saddle_free_damping_is_added_to_the_absolute_eigenvalues():
    # H = diag(2, -1) + 0.5 I is indefinite: mu_i = |lambda_i| + damping + r with
    # r = 0.01 ||g||^(1/2) (not |lambda_i + damping| + r)
    A, b = np.diag([2.0, -1.0]), np.array([1.0, 1.0])
    theta = np.array([1.0, 1.0])
    g = A @ theta - b  # (1, -2)
    r = 0.01 * 5 ** 0.25
    solver = Newton(damping=0.5, saddle_free=True, line_search=False)
    solver.step(theta, Quadratic(A, b), solver.init_state(theta))
    np.testing.assert_allclose(theta, [1 - g[0] / (2.5 + r), 1 - g[1] / (1.5 + r)],
                               rtol=1e-14)


def test_newton_saddle_free_uses_absolute_eigenvalues_where_damping_alone_fixes_them():
    # H = diag(2, -1) + 3 I is positive definite: no regularization (r = 0),
    # but the step still uses |lambda_i| + damping = (5, 4), not (5, 2); the
    # record gives H's spectrum and the negative count of H + damping I
    A, b = np.diag([2.0, -1.0]), np.array([1.0, 1.0])
    theta = np.array([1.0, 1.0])
    g = A @ theta - b  # (1, -2)
    solver = Newton(damping=3.0, saddle_free=True, line_search=False)
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    np.testing.assert_allclose(theta, [1 - g[0] / 5.0, 1 - g[1] / 4.0], rtol=1e-14)
    info = state["hessian"]
    assert info["regularization"] == 0.0 and info["n_negative"] == 0
    assert info["min_eigenvalue"] == pytest.approx(-1.0, rel=1e-14)
    assert info["max_eigenvalue"] == pytest.approx(2.0, rel=1e-14)


def test_newton_lecture_mode_warns_on_indefinite_hessian():
    A, b = np.diag([2.0, -1.0]), np.array([1.0, 1.0])
    theta = np.array([0.5, 0.5])
    with pytest.warns(UserWarning, match="indefinite .* saddle point"):
        Newton(**LECTURE).step(theta, Quadratic(A, b), Newton().init_state(theta))
    np.testing.assert_allclose(theta, np.linalg.solve(A, b))  # still -H^-1 g


def test_newton_lecture_mode_warns_on_singular_hessian_and_uses_pseudo_inverse():
    A, b = np.diag([2.0, 0.0]), np.array([1.0, 3.0])
    theta = np.array([1.0, 1.0])
    g = A @ theta - b
    with pytest.warns(UserWarning, match="singular .* pseudo-inverse"):
        Newton(**LECTURE).step(theta, Quadratic(A, b), Newton().init_state(theta))
    np.testing.assert_allclose(theta, np.array([1.0, 1.0]) - np.linalg.pinv(A) @ g)


def test_newton_hessian_free_lecture_mode_warns_on_negative_curvature():
    A, b = np.diag([2.0, -1.0, 3.0]), np.ones(3)
    theta = np.zeros(3)
    solver = Newton(max_exact_params=0, **LECTURE)
    with pytest.warns(UserWarning, match="non-positive curvature"):
        solver.step(theta, Quadratic(A, b), solver.init_state(theta))


def _rank_deficient_quadratic(n=30):
    # rank n - 1, condition 1e3 on the range; b has a part in the null space
    Q, _ = np.linalg.qr(np.random.RandomState(0).randn(n, n))
    A = (Q * np.r_[np.logspace(0, 3, n - 1), 0.0]) @ Q.T
    return 0.5 * (A + A.T), Q[:, -1] + Q[:, 0]


@pytest.mark.parametrize("A, b, expected_stop", [
    # CG runs all its 10 n iterations, |d| reaches ~1e13
    (*_rank_deficient_quadratic(), "max_iter"),
    # the iterates grow along the null space until they overflow
    (np.diag([1.0, 2.0, 0.0]), np.ones(3), "breakdown"),
])
def test_newton_hessian_free_lecture_mode_warns_when_singular_hessian_cannot_be_solved(
        A, b, expected_stop):
    # g has a part in the null space of H: H d = -g has no solution, which the
    # exact regime reports as "singular"; CG must not return its last iterate
    # silently either.
    theta = np.zeros(len(b))
    solver = Newton(max_exact_params=0, **LECTURE)
    state = solver.init_state(theta)
    with pytest.warns(UserWarning, match="did not solve H d = -g .* singular"), \
            np.errstate(over="ignore", invalid="ignore"):
        solver.step(theta, Quadratic(A, b), state)
    assert state["hessian"]["cg_stop"] == expected_stop
    assert np.isfinite(theta).all()


def test_newton_hessian_free_lecture_mode_is_silent_when_cg_solves_the_system():
    A, b = _spd(30, 1e2, seed=4), np.random.RandomState(5).randn(30)
    theta = np.zeros(30)
    solver = Newton(max_exact_params=0, **LECTURE)
    state = solver.init_state(theta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solver.step(theta, Quadratic(A, b), state)
    assert state["hessian"]["cg_stop"] == "converged"
    np.testing.assert_allclose(theta, np.linalg.solve(A, b), rtol=1e-8)


def test_truncated_cg_solves_the_damped_system():
    A, g = _spd(30, 1e2, seed=4), np.random.RandomState(5).randn(30)
    d, _, reason = truncated_cg(lambda p: A @ p, g, 0.5, 1e-12, 300)
    assert reason == "converged"
    np.testing.assert_allclose(d, np.linalg.solve(A + 0.5 * np.eye(30), -g),
                               rtol=1e-9)


def test_truncated_cg_keeps_the_iterates_of_its_documented_counts():
    # earlier iterates, kept for the line search's fallback, at products about 1.3
    # times apart; each is the iterate CG returns when stopped at that count
    A, g = _spd(40, 1e3, seed=0), np.random.RandomState(1).randn(40)
    saved = []
    _, iterations, _ = truncated_cg(lambda p: A @ p, g, 0.0, 1e-12, 40, saved=saved)
    assert iterations >= 16
    assert [i for i, _ in saved][:7] == [1, 2, 3, 4, 6, 8, 11]
    for i, d_i in saved[:7]:
        d_ref, _, _ = truncated_cg(lambda p: A @ p, g, 0.0, 1e-12, i)
        np.testing.assert_allclose(d_i, d_ref, rtol=1e-12)


def test_truncated_cg_checks_a_convergence_by_the_true_residual():
    # H = diag(1, 0), g = (1, 1): no solution, g has the part (0, 1) in the null
    # space. The first product is off by (0, -1), as CG's recursive residual
    # can drift by rounding, so that residual is 0 after one iteration at
    # d = (-1, -1), where the true one, -g - H d, is (0, -1)
    A, g = np.diag([1.0, 0.0]), np.array([1.0, 1.0])

    def drifting_hvp():
        calls = []

        def hvp(p):
            calls.append(p)
            return A @ p + (np.array([0.0, -1.0]) if len(calls) == 1 else 0.0)
        return hvp

    d, products, reason = truncated_cg(drifting_hvp(), g, 0.0, 1e-10, 20)
    assert reason == "converged" and products == 1  # unchecked: taken as solved
    np.testing.assert_array_equal(d, [-1.0, -1.0])
    # checked (one more product): CG goes on from the true residual, whose
    # direction (0, -1) has no curvature
    d, products, reason = truncated_cg(drifting_hvp(), g, 0.0, 1e-10, 20,
                                       verify=True)
    assert reason == "negative_curvature" and products == 3
    np.testing.assert_array_equal(d, [-1.0, -1.0])
    # on a system with a solution, the check costs one product and changes nothing
    A, g = _spd(30, 1e2, seed=4), np.random.RandomState(5).randn(30)
    plain = truncated_cg(lambda p: A @ p, g, 0.5, 1e-12, 300)
    checked = truncated_cg(lambda p: A @ p, g, 0.5, 1e-12, 300, verify=True)
    np.testing.assert_array_equal(checked[0], plain[0])
    assert checked[1:] == (plain[1] + 1, "converged")


def test_hessian_free_damped_step_meets_the_forcing_term_on_the_damped_system():
    """||g|| = 1e-4: eta = sqrt(||g||) = 1e-2 (Nocedal & Wright eq. 7.3); the step
    solves (A + damping I) d = -g to that relative residual, not A d = -g."""
    A = _spd(30, 1e2, seed=4)
    g = np.random.RandomState(5).randn(30)
    g *= 1e-4 / np.linalg.norm(g)
    theta = np.zeros(30)
    solver = Newton(damping=5.0, saddle_free=False, line_search=False,
                    max_exact_params=0)
    solver.step(theta, Quadratic(A, -g), solver.init_state(theta))
    damped = A + 5.0 * np.eye(30)
    assert np.linalg.norm(damped @ theta + g) <= 1e-2 * np.linalg.norm(g)
    exact = np.linalg.solve(damped, -g)
    assert np.linalg.norm(theta - exact) < 0.05 * np.linalg.norm(exact)


def _reference_cg_iterations(A, g, eta):
    """Plain CG (Nocedal & Wright Alg. 5.2) on A d = -g from 0: its iterations
    until ||r|| <= eta ||g||."""
    d, r = np.zeros_like(g), -g.copy()
    p, k = r.copy(), 0
    while np.linalg.norm(r) > eta * np.linalg.norm(g):
        Ap = A @ p
        a = (r @ r) / (p @ Ap)
        d, r_new = d + a * p, r - a * Ap
        p, r = r_new + (r_new @ r_new) / (r @ r) * p, r_new
        k += 1
    return k


def test_hessian_free_forcing_term_is_the_square_root_of_the_gradient_norm():
    """eta = min(0.5, sqrt(||g||)): 31 CG iterations here (eta = ||g|| would
    take 45)."""
    A = _spd(40, 1e3, seed=2)
    g = np.random.RandomState(3).randn(40)
    g *= 1e-3 / np.linalg.norm(g)
    theta = np.zeros(40)
    solver = Newton(damping=0.0, saddle_free=True, line_search=False,
                    max_exact_params=0)  # not lecture mode: the forcing term
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, -g), state)
    assert state["hessian"]["cg_iterations"] == \
        _reference_cg_iterations(A, g, np.sqrt(1e-3))


def test_hessian_free_newton_is_converged_only_when_a_tight_cg_step_gains_nothing():
    # float32 logistic regression on breast_cancer's raw features: a step from a
    # CG of one iteration (its forcing term sqrt(||g||) allowed it) gained a few
    # rounding errors, and the fit stopped as converged, 17% above the optimum
    # (0.0747 for 0.0638), max|g| 210 times tol, without a word
    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(), solver=Newton(max_exact_params=1),
                            alpha=1e-2, max_iter=1000, random_state=0).fit(X, y)
    reference = MLPClassifier(hidden_layer_sizes=(), solver=Newton(), alpha=1e-2,
                              tol=0.0, random_state=0).fit(X.astype(np.float64), y)
    assert clf.loss_ < 1.01 * reference.loss_
    # the flag: a loose step that gains nothing makes the next CG tight, and
    # only a tight one that gains nothing converges
    solver = Newton(max_exact_params=1)
    state = solver.init_state(np.zeros(2))

    def flat(x):  # no decrease anywhere along a finite slope
        return 1.0, np.array([1.0, 0.0])

    objective = type("Flat", (), {"__call__": staticmethod(flat),
                                  "hvp": staticmethod(lambda theta, v: v)})()
    solver.step(np.zeros(2), objective, state)
    assert not state["converged"] and state["tight_cg"]
    assert state["hessian"]["cg_rtol"] == 0.5  # min(0.5, sqrt(||g||))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # (promised a decrease)
        solver.step(np.zeros(2), objective, state)
    assert state["converged"] and not state["tight_cg"]
    assert state["hessian"]["cg_rtol"] == 1e-4
    # a CG already as tight (sqrt(1e-10) = 1e-5) is not solved again
    flat_small = type("Flat", (), {
        "__call__": staticmethod(lambda x: (1.0, np.array([1e-10, 0.0]))),
        "hvp": staticmethod(lambda theta, v: v)})()
    state = solver.init_state(np.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        solver.step(np.zeros(2), flat_small, state)
    assert state["converged"] and state["hessian"]["cg_rtol"] == pytest.approx(1e-5)


def test_hessian_free_negative_curvature_at_the_first_iteration_steps_along_minus_g():
    """g = (-1, -1), p = -g: p'Hp = 1 - 3 < 0 at CG's first iteration. The step
    is -g (a descent direction), in lecture mode taken as is."""
    A, b = np.diag([1.0, -3.0]), np.array([1.0, 1.0])
    theta = np.zeros(2)
    solver = Newton(max_exact_params=0, **LECTURE)
    state = solver.init_state(theta)
    with pytest.warns(UserWarning, match="non-positive curvature"):
        solver.step(theta, Quadratic(A, b), state)
    assert state["hessian"]["cg_stop"] == "negative_curvature"
    assert state["hessian"]["cg_iterations"] == 1
    np.testing.assert_array_equal(theta, [1.0, 1.0])


def test_wolfe_takes_a_unit_step_that_meets_the_curvature_condition_with_c2_0_9():
    """J = x^2 from x = 1, d = -0.75: at alpha = 1 the slope along d is
    -0.375, within 0.9 of the initial -1.5 (though not within 0.1): the strong
    Wolfe conditions of quasi-Newton directions hold, and the step is taken."""
    x = np.array([1.0])
    result = wolfe(lambda v: (float(v @ v), 2 * v), x, 1.0, 2 * x,
                   np.array([-0.75]), max_evals=10)
    assert result.accepted and result.step_size == 1.0
    np.testing.assert_array_equal(result.theta, [0.25])


def test_wolfe_extends_a_step_too_short_for_the_curvature_condition():
    """d = -0.02 g: at alpha = 1 the slope is still 0.98 of the initial one, so
    the search must go further; its point meets both strong Wolfe conditions."""
    objective = lambda v: (float(np.sum(np.cosh(v))), np.sinh(v))
    x = np.array([1.0, -2.0])
    loss, grad = objective(x)
    d = -0.02 * grad
    result = wolfe(objective, x, loss, grad, d, max_evals=20)
    assert result.accepted and result.step_size > 1.0
    new_loss, new_grad = objective(x + result.step_size * d)
    assert new_loss <= loss + 1e-4 * result.step_size * (grad @ d)
    assert abs(new_grad @ d) <= 0.9 * abs(grad @ d)


def test_backtracking_rejects_a_decrease_short_of_armijo():
    """J = x^2 from x = 1, g = 2, d = -1.9999: alpha = 1 lands at -0.9999 with
    J = 0.99980001, below 1 but above 1 + 1e-4 (2)(-1.9999) = 0.99960002, so
    Armijo rejects it; alpha = 1/2 gives J = 1e-8, which passes."""
    x = np.array([1.0])
    result = backtracking(lambda v: (float(v @ v), 2 * v), x, 1.0, 2 * x,
                          np.array([-1.9999]))
    assert result.accepted and result.step_size == 0.5
    np.testing.assert_allclose(result.theta, [1 - 0.5 * 1.9999], rtol=1e-15)


def test_newton_hessian_free_step_solves_newton_system():
    A, b = _spd(30, 1e2, seed=4), np.random.RandomState(5).randn(30)
    theta = np.zeros(30)
    solver = Newton(max_exact_params=10, **LECTURE)
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    assert state["hessian"]["regime"] == "hessian_free"
    np.testing.assert_allclose(theta, np.linalg.solve(A, b), rtol=1e-8)


def test_newton_line_search_shortens_a_step_that_would_increase_the_loss():
    # J = sqrt(1 + x^2): the full Newton step from x = 2 goes to -x^3 = -8
    class Hyperbola:
        def __call__(self, x):
            return float(np.sqrt(1 + x @ x)), x / np.sqrt(1 + x @ x)

        def hvp(self, x, v):
            return v / (1 + x @ x) ** 1.5

    theta = np.array([2.0])
    state = Newton().init_state(theta)
    Newton().step(theta, Hyperbola(), state)
    assert state["line_search"]["accepted"]
    assert state["line_search"]["step_size"] < 1
    assert abs(theta[0]) < 2.0


def test_newton_takes_no_step_and_records_it_when_no_decrease_is_found():
    class Misleading(Quadratic):  # a gradient of the wrong sign: no decrease
        def __call__(self, x):
            loss, grad = super().__call__(x)
            return loss, -grad

    theta = np.array([1.0, -2.0])
    state = Newton().init_state(theta)
    # |g|^2 / (2 u'Hu) = 5 / 2: a promise no rounding error explains
    with pytest.warns(ConvergenceWarning, match="promises a decrease of about 2.5"):
        Newton().step(theta, Misleading(np.eye(2), np.zeros(2)), state)
    np.testing.assert_array_equal(theta, [1.0, -2.0])
    assert not state["line_search"]["accepted"]
    assert state["converged"]


class Saddle:
    """J(x, y) = 1 + x^2 - y^2 + y^4: a saddle point at 0 (g = 0, H = diag(2, -2)),
    minima at y = +-1/sqrt(2)."""

    def __call__(self, p):
        x, y = p
        return 1 + x**2 - y**2 + y**4, np.array([2 * x, -2 * y + 4 * y**3])

    def hvp(self, p, v):
        return np.diag([2.0, -2.0 + 12 * p[1] ** 2]) @ v


def test_newton_leaves_a_saddle_point_along_its_negative_curvature():
    """At the saddle, g = 0 and every Newton step is 0: the solver stopped
    there as converged. Along q = (0, +-1), of curvature -2, the model
    1 - alpha^2 is 0 at alpha = sqrt(2 * 1 / 2) = 1, where J = 1 - 1 + 1 = 1 is
    not below 1 - 2/4; at alpha = 1/2, J = 1 - 1/4 + 1/16 = 0.8125 is below
    1 - 2/16 = 0.875, and the step is taken."""
    theta = np.zeros(2)
    solver = Newton()
    state = solver.init_state(theta)
    assert solver.step(theta, Saddle(), state) == 1.0
    np.testing.assert_array_equal(np.abs(theta), [0.0, 0.5])
    assert not state["converged"]
    assert state["line_search"]["method"] == "negative_curvature"
    assert state["line_search"]["evaluations"] == 2
    assert state["line_search"]["loss"] == 0.8125
    # and then Newton's steps find the minimum
    for _ in range(20):
        solver.step(theta, Saddle(), state)
    np.testing.assert_allclose(np.abs(theta), [0.0, 2**-0.5], atol=1e-12)
    # lecture mode, or no line search, stays: the lecture's step is 0
    for params in (LECTURE, dict(line_search=False)):
        theta = np.zeros(2)
        state = Newton(**params).init_state(theta)
        Newton(**params).step(theta, Saddle(), state)
        assert not np.any(theta) and state["converged"]


class TiltedSaddle:
    """J(x) = 1 + g'x + x'Hx/2 with H = diag(-1, 2) and g = (1e-6, 0): at x = 0
    the gradient is tiny and lies along the direction of negative curvature."""

    H, g = np.diag([-1.0, 2.0]), np.array([1e-6, 0.0])

    def __call__(self, x):
        return float(1 + self.g @ x + 0.5 * x @ self.H @ x), self.g + self.H @ x

    def hvp(self, x, v):
        return self.H @ v


def test_newton_steps_along_negative_curvature_downhill_along_the_gradient():
    theta = np.zeros(2)
    solver, objective = Newton(), TiltedSaddle()
    state = solver.init_state(theta)
    solver.step(theta, objective, state)
    assert state["line_search"]["method"] == "negative_curvature"
    # the model 1 - alpha^2/2 reaches 0 at alpha = sqrt(2), taken along -e_0
    # (g_0 > 0); the mirrored point would be higher by 2 sqrt(2) 1e-6
    np.testing.assert_allclose(theta, [-np.sqrt(2), 0.0], rtol=1e-5, atol=1e-12)
    assert objective(theta)[0] < objective(-theta)[0]


def test_newton_fit_from_all_zero_weights_leaves_the_saddle_point():
    """A tanh network with all weights 0 on balanced classes: the gradient is 0
    and the Hessian has 4 negative eigenvalues (the loss is ln 2)."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 2), np.repeat([0, 1], 20)
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", solver="newton",
                        max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(max_iter=30).fit(X, y)
    assert clf.loss_curve_[1] == pytest.approx(np.log(2))
    assert clf.loss_ < 0.5 * np.log(2)
    assert clf.score(X, y) > 0.8


def _relu_net_with_dead_units():
    X, y = make_classification(n_samples=60, n_features=4, n_informative=3,
                               n_redundant=0, n_classes=3, random_state=0)
    net = Network([4, 8, 3], "relu", "softmax")
    theta = net.initialize(np.random.RandomState(0), np.float64)
    _, intercepts, _, _ = net.unpack(theta)
    intercepts[0][:3] = -100.0  # units 0, 1, 2 never activate
    objective = Objective(net, alpha=1e-4).set_batch(X, np.eye(3)[y])
    return net, theta, objective, X


@pytest.mark.parametrize("max_exact_params", [2000, 0])
def test_default_newton_never_increases_loss_with_negative_curvature_and_dead_relus(
        max_exact_params):
    net, theta, objective, X = _relu_net_with_dead_units()
    eigenvalues = np.linalg.eigvalsh(objective.hvp(theta, np.eye(net.n_params)))
    assert eigenvalues[0] < -1e-3 * eigenvalues[-1]  # negative curvature
    coefs, intercepts, _, _ = net.unpack(theta)
    assert not np.any(X @ coefs[0][:, :3] + intercepts[0][:3] > 0)  # dead units
    solver = Newton(max_exact_params=max_exact_params)
    state = solver.init_state(theta)
    losses = [solver.step(theta, objective, state) for _ in range(30)]
    losses.append(objective(theta)[0])
    assert np.all(np.isfinite(theta)) and np.all(np.isfinite(losses))
    assert np.all(np.diff(losses) <= 0)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_newton_warns_when_minibatches_are_too_small_for_the_hessian():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver=Newton(), batch_size=10,
                        max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="minibatches of 10 of 150 rows"):
        clf.fit(X, y)


def test_newton_does_not_warn_about_minibatches_of_enough_rows():
    X, y = load_iris(return_X_y=True)
    # 43 parameters, 3 outputs: 15 rows suffice
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver=Newton(), batch_size=15,
                        max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)


def test_newton_warns_when_only_the_last_minibatch_is_too_small():
    # 442 rows in minibatches of 147: the last holds one row, whose Hessian
    # has rank 1 for 11 parameters, and each epoch ends with a step fitted to it
    X, y = _standardized_diabetes()
    reg = MLPRegressor(hidden_layer_sizes=(), solver=Newton(), batch_size=147,
                       max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="minibatches of 147 of 442 rows, the "
                      "last of 1, for 11 parameters.*the last included"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)


def _standardized_diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


@pytest.mark.parametrize("solver, max_iter", [(Newton(), 200), (LBFGS(), 1),
                                              (LBFGS(), 200)])
def test_a_full_batch_fit_reports_the_loss_at_the_parameters_it_returns(solver,
                                                                        max_iter):
    # as scikit-learn's lbfgs; loss_ was the last step's start, one step behind
    # (Newton's one step to the ridge optimum: 0.835, the random start's, for
    # 0.241 at the parameters returned)
    X, y = _standardized_diabetes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1
        reg = MLPRegressor(hidden_layer_sizes=(), solver=solver, max_iter=max_iter,
                           random_state=0).fit(X, y)
    residual = reg.predict(X) - y
    objective = 0.5 * np.mean(residual ** 2) + reg.alpha / (2 * len(y)) * sum(
        float((w ** 2).sum()) for w in reg.coefs_)
    assert reg.loss_ == pytest.approx(objective, rel=1e-12)
    assert reg.best_loss_ == reg.loss_ <= reg.loss_curve_[-1]
    if max_iter == 1 or isinstance(solver, Newton):
        assert reg.loss_ < 0.6 * reg.loss_curve_[0]


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_full_batch_solvers_on_minibatches_stop_by_epochs_not_by_the_last_one(
        solver):
    # With 100-row minibatches the last holds 42 rows, on which one Newton
    # step of a linear model reaches the minimum: its gradient (every
    # component under tol) and its convergence flag stopped the fit after one
    # epoch, at R^2 0.34 (0.52 with all rows). The epochs' rule decides.
    X, y = _standardized_diabetes()
    params = dict(hidden_layer_sizes=(), solver=solver, batch_size=100,
                  random_state=0)
    reg = MLPRegressor(max_iter=1000, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (L-BFGS on minibatches)
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    # stopped by n_iter_no_change: more than that many epochs without a
    # decrease of tol, and the epoch before the last was one of them
    assert reg.n_iter_no_change < reg.n_iter_ < 1000
    best = min(reg.loss_curve_)
    assert reg.loss_curve_.index(best) == reg.n_iter_ - reg.n_iter_no_change - 2
    assert reg.score(X, y) > 0.45


class _FlagsEveryStep(Newton):
    """Newton that reports, after every step, that it can do no more."""

    def step(self, theta, objective, state):
        loss = super().step(theta, objective, state)
        state["converged"] = True
        return loss


def test_a_full_batch_solvers_flag_stops_training_on_all_rows_only():
    X, y = _standardized_diabetes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        whole = MLPRegressor(hidden_layer_sizes=(), solver=_FlagsEveryStep(),
                             max_iter=20, random_state=0).fit(X, y)
        with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
            parts = MLPRegressor(hidden_layer_sizes=(), solver=_FlagsEveryStep(),
                                 batch_size=221, max_iter=3, random_state=0).fit(X, y)
    assert whole.n_iter_ == 1 and parts.n_iter_ == 3


# ----------------------------------------------------------------- L-BFGS


def _bfgs_inverse_hessian(S, Y):
    """H_k by the BFGS update formula, from gamma I, pairs oldest first."""
    n = S.shape[1]
    H = (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) * np.eye(n)
    for s, y in zip(S, Y):
        rho = 1 / (s @ y)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def test_two_loop_direction_equals_brute_force_bfgs_inverse_hessian():
    rng = np.random.RandomState(0)
    A = _spd(8, 50)
    S = rng.randn(5, 8)
    Y = S @ A  # y = A s: s'y > 0
    g = rng.randn(8)
    np.testing.assert_allclose(two_loop(g, S, Y), _bfgs_inverse_hessian(S, Y) @ g,
                               rtol=1e-12)


def test_lbfgs_step_follows_its_pairs_inverse_hessian():
    A, b = _spd(10, 1e2, seed=6), np.random.RandomState(7).randn(10)
    objective = Quadratic(A, b)
    theta = np.zeros(10)
    solver = LBFGS(history_size=3)
    state = solver.init_state(theta)
    for _ in range(4):
        solver.step(theta, objective, state)
    assert state["n_pairs"] == 3
    order = pairs_oldest_first(state)  # 4 pairs were stored: the ring wrapped
    assert order == [1, 2, 0]
    H = _bfgs_inverse_hessian(state["s"][order], state["y"][order])
    start, g = theta.copy(), objective(theta)[1]
    solver.step(theta, objective, state)
    step, direction = theta - start, -H @ g
    cosine = step @ direction / np.linalg.norm(step) / np.linalg.norm(direction)
    assert cosine == pytest.approx(1.0, abs=1e-12)


def test_lbfgs_skips_a_pair_whose_curvature_is_within_rounding_of_zero():
    """s^T y > 0 is not enough: measured against the step's slope -g^T s, the
    curvature must exceed rounding (L-BFGS-B's test). From (0, 0), where
    g = (1, 0), along a loss that stays linear, the search steps to (-a, 0),
    where g = (1 - 2^-53, 1e9): s^T y = a 2^-53, below eps (-g^T s) = a 2^-52."""
    def objective(x):
        if x[0] == 0.0:
            return 0.0, np.array([1.0, 0.0])
        return float(x[0]), np.array([1.0 - 2.0**-53, 1e9])

    theta = np.zeros(2)
    solver = LBFGS()
    state = solver.init_state(theta)
    solver.step(theta, objective, state)
    assert theta[0] < 0 and theta[1] == 0
    assert state["line_search"]["method"] == "steepest_descent"
    assert state["n_skipped"] == 1 and state["n_pairs"] == 0


def test_lbfgs_skips_a_pair_whose_step_rounding_made_uphill():
    """The test measures curvature against the slope -g^T s, positive for a
    descent step; s is the rounded difference of the iterates. From x0 = 1e20,
    the quasi-Newton step's -79 along x0 rounds away, leaving s = (0, 0.0101)
    with g^T s > 0, and y = 0 (a constant gradient): s^T y = 0 passed the test
    and 1 / s^T y raised ZeroDivisionError."""
    G = np.array([1.0, 1.0])

    def objective(x):  # constant gradient; the loss lower off x[1] = 0
        return (0.0 if x[1] == 0.0 else -1.0), G.copy()

    theta = np.array([1e20, 0.0])
    solver = LBFGS()
    state = solver.init_state(theta)
    s, y = np.array([1.72249932, 0.02252594]), np.array([0.02227394, 1.62691661])
    _push(state, s, y, 1.0 / (s @ y))  # a prior pair: H g = (79.1, -0.0101)
    solver.step(theta, objective, state)
    assert theta[0] == 1e20 and theta[1] != 0
    assert state["n_skipped"] == 1 and state["n_pairs"] == 1


def test_lbfgs_keeps_the_pairs_of_a_large_curvature():
    """The test is invariant to the scale of the features: s^T y against y^T y
    skipped every pair along a curvature above 1 / eps. Here the curvature is
    1e20 and the step about 1e-10: s^T y ~ 1, eps y^T y ~ 2e4 (it was skipped),
    eps (-g^T s) ~ 2e-16."""
    def objective(x):  # 1e20 / 2 (x - 1e-10)^2 along x[0]
        return 0.5e20 * (x[0] - 1e-10) ** 2, np.array([1e20 * (x[0] - 1e-10)])

    theta = np.zeros(1)
    solver = LBFGS()
    state = solver.init_state(theta)
    solver.step(theta, objective, state)
    assert state["n_skipped"] == 0 and state["n_pairs"] == 1


def test_lbfgs_reaches_the_least_squares_fit_of_a_feature_on_a_large_scale():
    # float32 features of standard deviation 5e3: every pair was skipped, and
    # steepest descent stalled at R^2 -0.32 without a word (Newton: 0.9985)
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    y = (X @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(300)).astype(np.float32)
    X = (X * [1.0, 1.0, 5e3]).astype(np.float32)
    reference = LinearRegression().fit(X.astype(np.float64), y).score(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(), solver=LBFGS(), alpha=0.0,
                           random_state=0).fit(X, y)
    assert reg.solver_state_["n_skipped"] == 0
    assert reg.score(X, y) > reference - 1e-4


def test_lbfgs_records_the_search_that_took_its_quasi_newton_step(monkeypatch):
    # Wolfe's search takes the quasi-Newton steps of a quadratic; where it
    # fails, Armijo backtracking takes the step, and the record says so (it
    # said "wolfe", though the step need not meet the curvature condition)
    A, b = _spd(6, 10, seed=3), np.ones(6)
    theta = np.zeros(6)
    solver = LBFGS()
    state = solver.init_state(theta)
    solver.step(theta, Quadratic(A, b), state)
    assert state["line_search"]["method"] == "steepest_descent"  # no pairs yet
    solver.step(theta, Quadratic(A, b), state)
    assert state["line_search"]["method"] == "wolfe"
    calls = []

    def failing_wolfe(objective, theta, loss, grad, direction, max_evals):
        calls.append(1)
        return LineSearchResult(False, 0.0, None, loss, None, 3)

    monkeypatch.setattr(_lbfgs, "wolfe", failing_wolfe)
    before = Quadratic(A, b)(theta)[0]
    solver.step(theta, Quadratic(A, b), state)
    assert calls and state["line_search"]["accepted"]
    assert state["line_search"]["method"] == "backtracking"
    assert state["line_search"]["evaluations"] > 3  # the failed search's too
    assert Quadratic(A, b)(theta)[0] < before


def test_approximate_wolfe_finds_by_the_gradients_a_decrease_the_loss_hides():
    from skopt_nn.solvers._line_search import APPROX_WOLFE_DELTA, approximate_wolfe

    A = np.diag([1.0, 4.0])

    def flat(x):  # a loss whose rounding hides every decrease; exact gradients
        return 1.0, A @ x

    theta = np.array([1.0, 1.0])
    g = A @ theta
    d = -g / np.linalg.norm(g)
    assert not wolfe(flat, theta, 1.0, g, d, 20).accepted
    assert not backtracking(flat, theta, 1.0, g, d).accepted
    result = approximate_wolfe(flat, theta, 1.0, g, d, 20)
    assert result.accepted
    s = result.theta - theta
    slope, trial_slope = g @ s, (A @ result.theta) @ s
    # Hager and Zhang's conditions: c2 g's <= g_a's <= (2 delta - 1) g's
    assert 0.9 * slope <= trial_slope <= (2 * APPROX_WOLFE_DELTA - 1) * slope
    # the quadratic's true decrease along s, which the gradients measure exactly
    measured = -0.5 * (slope + trial_slope)
    true = 0.5 * theta @ A @ theta - 0.5 * result.theta @ A @ result.theta
    assert measured == pytest.approx(true, rel=1e-12) and true > 0
    # no decrease that counts by the gradients either: refused
    assert not approximate_wolfe(flat, theta, 1.0, g, d, 20,
                                 min_decrease=2 * true).accepted

    def rising(x):  # a loss far above the start's, beyond rounding noise
        return 1.0 + 1e-6, A @ x

    assert not approximate_wolfe(rising, theta, 1.0, g, d, 20).accepted

    def quadratic(x):  # the loss measures the decrease: left to the loss's searches
        return float(0.5 * x @ A @ x), A @ x

    measured = approximate_wolfe(quadratic, theta, 2.5, g, d, 20)
    assert not measured.accepted and measured.evaluations == 1


def test_lbfgs_takes_the_approximate_wolfe_step_where_rounding_hides_the_decrease():
    A = np.diag([1.0, 4.0])

    def flat(x):  # every trial's loss rounds to the start's; exact gradients
        return 1.0, A @ x

    theta = np.array([1.0, 1.0])
    solver = LBFGS()
    state = solver.init_state(theta)
    _push(state, np.array([1.0, 0.0]), np.array([1.0, 0.0]), 1.0)
    solver.step(theta, flat, state)
    record = state["line_search"]
    assert record["method"] == "approximate_wolfe" and record["accepted"]
    assert 0.5 * theta @ A @ theta < 2.5  # the true loss fell
    assert not state["converged"]


def test_lbfgs_leaves_a_failed_search_whose_loss_measures_a_decrease_to_backtracking(
        monkeypatch):
    # float64 iris, a Wolfe search failing at a ReLU kink at step 85: the
    # approximate search (meant for losses that rounding hides) took its own
    # step there, and the fit ended at a loss of 0.0298 after 92 steps, where
    # backtracking went on to 0.00061 (358 steps; on another machine, whose
    # rounding takes another path through the kinks, 0.00104 in 227)
    X, y = load_iris(return_X_y=True)
    taken = []
    approximate = _lbfgs.approximate_wolfe
    monkeypatch.setattr(_lbfgs, "approximate_wolfe", lambda *args: (
        taken.append(True), approximate(*args))[1])
    clf = MLPClassifier((10,), solver=LBFGS(), max_iter=3000, random_state=0)
    clf.fit(X, y)
    assert taken == []  # no float64 search here is one rounding hid
    assert clf.loss_ < 3e-3


def test_lbfgs_float32_badly_scaled_logistic_regression_does_not_stall():
    # breast_cancer's raw features (scales 3e-3 to 6e2) in float32: the
    # logits' rounding puts ~8 eps |J| of noise in the loss, above the true
    # decrease of a step; Wolfe and backtracking failed at 0.0804 (step 320),
    # where float64 goes on to 0.0660; the gradients still measure the decrease
    X, y = load_breast_cancer(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(), solver=LBFGS(), alpha=1e-2,
                        max_iter=10000, random_state=0).fit(X.astype(np.float32), y)
    assert clf.loss_ < 0.067


def test_lbfgs_forgets_its_pairs_when_the_objective_changes():
    A = _spd(6, 10, seed=8)
    theta = np.zeros(6)
    solver = LBFGS()
    state = solver.init_state(theta)
    for _ in range(3):
        solver.step(theta, Quadratic(A, np.ones(6)), state)
    assert state["n_pairs"] == 3 and state["n_resets"] == 0
    solver.step(theta, Quadratic(A, -np.ones(6)), state)  # new data
    assert state["n_resets"] == 1
    assert state["line_search"]["method"] == "steepest_descent"
    assert state["n_pairs"] == 1


def test_lbfgs_forgets_its_pairs_when_the_objective_changes_by_more_than_rounding():
    # a loss at the step's start 1e-9 (relative) away from the one its last
    # search found there is another objective, however close
    A, b = _spd(5, 100, seed=0), np.random.RandomState(0).randn(5)
    theta = np.zeros(5)
    solver = LBFGS()
    state = solver.init_state(theta)
    for _ in range(2):
        solver.step(theta, Quadratic(A, b), state)
    assert state["n_resets"] == 0 and state["n_pairs"] == 2
    shift = 1e-9 * abs(Quadratic(A, b)(theta)[0])

    def shifted(x):
        loss, grad = Quadratic(A, b)(x)
        return loss + shift, grad

    solver.step(theta, shifted, state)
    assert state["n_resets"] == 1


def test_lbfgs_warm_start_on_new_data_resets_pairs():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier(hidden_layer_sizes=(), solver="lbfgs", max_iter=5,
                        warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:300], y[:300])
        assert clf.solver_state_["n_resets"] == 0
        clf.fit(X[300:], y[300:])
    assert clf.solver_state_["n_resets"] == 1


def test_lbfgs_in_float32_does_not_stop_on_one_step_of_negligible_decrease():
    # ridge regression (no hidden layer): one short step lowering the loss by 3
    # rounding errors ended the float32 fit at iteration 15, 5e-3 from Ridge's
    # coefficients with 20 rounding errors of loss left
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    ridge = Ridge(alpha=0.1).fit(X, y).coef_
    reg = MLPRegressor(hidden_layer_sizes=(), solver=LBFGS(), alpha=0.1, max_iter=500,
                       tol=0, random_state=0).fit(X.astype(np.float32), y)
    error = np.abs(reg.coefs_[0].ravel() - ridge).max() / np.abs(ridge).max()
    assert error < 1e-3
    assert reg.solver_state_["converged"]


def test_lbfgs_never_ends_silently_where_the_gradient_promised_a_decrease():
    # a feature scaled by 1e6: the search along -g found no decrease, the fit
    # "converged" at chance accuracy with |g| = 3e3, and nothing was said. Whether
    # and when a search fails on this path depends on the products' rounding:
    # with this machine's BLAS kernels at step 142 (with AVX2 ones, none in 300
    # steps, and the fit ends at max_iter). Either way the fit must say so; the
    # warning's content is checked on a constructed failure below.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X[:, 0] *= 1e6
    clf = MLPClassifier((8,), solver=LBFGS(), max_iter=300, tol=0, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(X, y)
    messages = " ".join(str(w.message) for w in caught
                        if issubclass(w.category, ConvergenceWarning))
    if clf.solver_state_["converged"]:
        assert "promises a decrease" in messages
    else:
        assert clf.n_iter_ == 300 and "Maximum iterations (300)" in messages


def test_lbfgs_warning_promises_the_decrease_of_its_newest_pairs_model():
    # along -g with curvature 1/gamma (gamma = s'y / y'y of the newest pair), the
    # quadratic model promises gamma ||g||^2 / 2 = 0.5 * 5 / 2
    def misleading(x):  # J = |x|^2 / 2, with a gradient of the wrong sign
        return float(0.5 * x @ x), -x

    theta = np.array([1.0, -2.0])
    solver = LBFGS()
    state = solver.init_state(theta)
    _push(state, np.array([1.0, 0.0]), np.array([2.0, 0.0]), 0.5)  # gamma = 2/4
    with pytest.warns(ConvergenceWarning, match="promises a decrease of about 1.25"):
        solver.step(theta, misleading, state)
    np.testing.assert_array_equal(theta, [1.0, -2.0])
    assert state["converged"]


def _badly_scaled_float32():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 6)
    return (X * 1e10).astype(np.float32), X[:, 0] - 2 * X[:, 1]


def test_a_first_step_that_fails_on_badly_scaled_float32_features_warns():
    # features scaled by 1e10 in float32: the first search found no decrease
    # (|g| = 1.4e20), the fit stopped at its random start with R^2 = -2e19, and
    # nothing was said (L-BFGS had no curvature pair yet to measure a promise)
    reg = MLPRegressor((8,), solver=LBFGS(), max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="stopped at step 1: no step along"):
        reg.fit(*_badly_scaled_float32())
    assert reg.n_iter_ == 1 and not reg.solver_state_["line_search"]["accepted"]


@pytest.mark.parametrize("solver", [LBFGS(), Newton(max_exact_params=1)],
                         ids=["lbfgs", "newton_hessian_free"])
def test_a_first_step_the_solver_explains_is_warned_about_once(solver):
    # the solver's warning (the gradient promised a decrease) says why the fit
    # stopped at its start; the estimator's first-step warning repeated it
    reg = MLPRegressor((8,), solver=solver, max_iter=20, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(*_badly_scaled_float32())
    messages = [str(w.message) for w in caught
                if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1, messages
    assert "stopped at step 1: no step along" in messages[0]
    assert reg.n_iter_ == 1 and reg.solver_state_["line_search"]["warned"] is True


def test_a_fit_that_stops_at_its_random_start_warns():
    # targets of 1e16: the steepest-descent quadratic promises a decrease of
    # 8e17 on a loss of 7.5e32, about one rounding error, so the first search's
    # failure looked like convergence; the fit kept its random start (R^2 0.00,
    # where Newton reaches 1.0) without a word
    X = np.random.RandomState(0).randn(60, 3)
    y = X @ [1.0, 2.0, 3.0] * 1e16
    reg = MLPRegressor((4,), solver=LBFGS(), random_state=0)
    with pytest.warns(ConvergenceWarning, match="stopped at its first step, the "
                                                "parameters left at their random"):
        reg.fit(X, y)
    assert reg.n_iter_ == 1 and reg.solver_state_["converged"]
    assert reg.solver_state_["line_search"]["warned"] is False  # (the solver did not)
    assert reg.score(X, y) < 0.01
    assert MLPRegressor((4,), solver=Newton(), random_state=0).fit(X, y).score(
        X, y) > 0.999


def test_newton_goes_on_along_negative_curvature_where_its_first_search_fails():
    # the same first step of Newton fails too (and stopped, with a warning), but
    # H has negative curvature there, along which the loss falls: the loss falls
    # by 14 orders of magnitude before a search fails for good, and says so
    reg = MLPRegressor((8,), solver=Newton(), max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning) as caught:
        reg.fit(*_badly_scaled_float32())
    assert not any("stopped at step 1:" in str(w.message) for w in caught)
    assert reg.n_iter_ > 10
    assert np.all(np.diff(reg.loss_curve_) < 0)
    assert reg.loss_curve_[-1] < 1e-12 * reg.loss_curve_[0]


def test_curvature_promise_handles_huge_gradients_and_objectives_without_hvp():
    from skopt_nn.solvers._line_search import curvature_promise

    class Scaled:  # J = c x'x / 2
        def __init__(self, c):
            self.c = c

        def hvp(self, theta, v):
            return self.c * v

    g = np.array([3e200, 4e200])  # g'g overflows float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        assert curvature_promise(Scaled(1e250), np.zeros(2), g) == pytest.approx(
            0.5 * 5e200 * (5e200 / 1e250))
        assert curvature_promise(Scaled(1.0), np.zeros(2), g) == np.inf
    assert curvature_promise(lambda theta: None, np.zeros(2), g) is None  # no hvp
    assert curvature_promise(Scaled(-1.0), np.zeros(2), g) is None  # no promise


def test_newton_ends_at_a_true_minimum_without_a_warning():
    # ridge regression to the rounding level: the curvature along g promises
    # no measurable decrease where the last search fails
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=(), solver=Newton(), alpha=0.1,
                       max_iter=100, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.solver_state_["converged"]


def test_lbfgs_warm_started_at_its_minimum_with_a_fresh_state_does_not_warn():
    # no curvature pair yet: nothing measured promises a decrease (a first
    # version took the promise as infinite and warned at every such warm start)
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=(), solver=LBFGS(), alpha=0.1, max_iter=500,
                       tol=0, random_state=0).fit(X, y)
    reg.set_params(warm_start=True, solver=LBFGS(history_size=5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.solver_state_["converged"]


def test_lbfgs_ends_at_a_true_minimum_without_a_warning():
    # ridge regression to the rounding level: the last search fails there, as
    # it must, and the gradient promised no measurable decrease
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=(), solver=LBFGS(), alpha=0.1, max_iter=500,
                       tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.solver_state_["converged"]
    assert not reg.solver_state_["line_search"]["accepted"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_warns_that_minibatches_discard_its_pairs():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(), solver=LBFGS(), batch_size=50,
                        max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="dropped whenever the minibatch changes"):
        clf.fit(X, y)


@pytest.mark.slow
def test_lbfgs_training_loss_no_worse_than_sklearn_lbfgs_on_hidden_layer_net():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(20,), alpha=1e-4, max_iter=300, tol=0.0,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(solver="lbfgs", **params).fit(X, y)
        reference = SklearnMLPClassifier(solver="lbfgs", **params).fit(X, y)
    objective = Objective(ours._network, alpha=1e-4).set_batch(X, y[:, None] * 1.0)
    assert objective(ours._theta)[0] <= reference.loss_


# ------------------------------------------------ both: references, protocol


def _logistic_regression_data(kind):
    if kind == "binary":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("solver", [LBFGS(), Newton()], ids=["lbfgs", "newton"])
@pytest.mark.parametrize("kind", ["binary", "multinomial"])
def test_no_hidden_layer_reaches_sklearn_logistic_regression_optimum(solver, kind):
    X, y = _logistic_regression_data(kind)
    alpha = 0.5  # mean loss + alpha/(2n) |W|^2  <=>  C = 1 / alpha
    clf = MLPClassifier(hidden_layer_sizes=(), solver=solver, alpha=alpha, tol=0.0,
                        max_iter=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    # an exact Newton reference (its default lbfgs stopped 5e-5 from the optimum)
    reference = LogisticRegression(C=1 / alpha, solver="newton-cholesky", tol=1e-12,
                                   max_iter=10_000).fit(X, y)
    coef, intercept = clf.coefs_[0].T, clf.intercepts_[0]
    if kind == "multinomial":  # softmax intercepts are defined up to a shift
        intercept = intercept - intercept.mean()
    # measured: Newton 2e-9 (binary) and 2e-11, L-BFGS 1.3e-6 and 9e-9, whose
    # line search resolves the loss, not the parameters, to rounding
    tolerance = {Newton: 1e-7, LBFGS: 1e-5}[type(solver)]
    np.testing.assert_allclose(coef, reference.coef_, rtol=tolerance,
                               atol=tolerance * np.abs(reference.coef_).max())
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=tolerance,
                               atol=tolerance * np.abs(reference.intercept_).max())


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_full_batch_solver_stops_when_it_cannot_decrease_the_loss(solver):
    X, y = _logistic_regression_data("binary")
    clf = MLPClassifier(hidden_layer_sizes=(), solver=solver, alpha=1.0, tol=0.0,
                        max_iter=1000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ < 1000
    assert clf.solver_state_["converged"]
    assert np.all(np.diff(clf.loss_curve_) <= 0)


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
@pytest.mark.parametrize("seed", range(3))
def test_full_batch_solvers_stop_on_scikit_learns_gradient_criterion(solver, seed):
    """As scikit-learn's lbfgs (SciPy's gtol): once every component of the
    gradient at the returned parameters is at most tol. The stochastic
    solvers' rule (11 epochs each lowering the loss by under tol) stopped
    L-BFGS on a plateau of iris (relu units) at a loss of 0.039 for seeds 0-2,
    where scikit-learn's went on to 0.0006-0.029."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(activation="tanh", solver=solver, random_state=seed)  # (smooth)
    clf = MLPClassifier((8,), max_iter=1000, **params).fit(X, y)
    assert clf.n_iter_ < 1000 and not clf.solver_state_["converged"]
    objective = Objective(clf._network, alpha=clf.alpha).set_batch(
        X, (y[:, None] == clf.classes_).astype(float))
    assert np.abs(objective(clf._theta)[1]).max() <= clf.tol
    # ... and not one step earlier: the fit did not stop on another rule
    clf_short = MLPClassifier((8,), max_iter=clf.n_iter_ - 1, **params)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf_short.fit(X, y)
    assert np.abs(objective(clf_short._theta)[1]).max() > clf.tol


def test_newton_stops_where_its_steps_gain_nothing_at_relu_kinks():
    """At kinks of ReLU units the gradient never gets small (its norm
    alternated between 0.00125 and 0.0021 on this fit), and Newton took
    steepest-descent steps gaining 1e-15 of the loss for all of max_iter, at
    up to 66 evaluations each: SciPy's ftol, the other half of
    scikit-learn's criterion, stops them."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier((10,), solver="newton", random_state=0).fit(X, y)
    assert clf.n_iter_ < clf.max_iter
    assert clf.loss_ < 0.001


def test_full_batch_training_stops_on_the_third_small_step_in_a_row():
    class Creeping:  # each step gains 1e-12 (relative: below ftol), |g| stays 1
        max_grad_norm, last_grad_norm, loss = None, 1.0, 1.0

        def __call__(self, theta):
            self.loss -= 1e-12
            return self.loss, np.ones_like(theta)

    objective, theta, small_steps, reasons = Creeping(), np.zeros(3), 0, []
    assert _SMALL_STEPS == 3
    for _ in range(3):
        reason, small_steps = _full_batch_stop(objective, theta, objective.loss,
                                               1e-4, small_steps)
        reasons.append(reason)
    assert reasons[:2] == ["", ""] and "3 steps in a row" in reasons[2]


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_newton_leaves_the_neighbourhood_of_a_saddle_point(activation):
    """Weights of 1e-5 near the all-zero saddle point: the saddle-free step
    gains little (the gradient is small), and the fit stopped after one step
    at the loss ln 2. The step along negative curvature is tried where a
    step gains less than SciPy's ftol."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 2), np.repeat([0, 1], 20)
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation=activation,
                        solver="newton", max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        weights = np.random.RandomState(1)
        clf.coefs_ = [1e-5 * weights.randn(*c.shape) for c in clf.coefs_]
        clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
        clf.set_params(max_iter=30).fit(X, y)
    assert clf.loss_curve_[1] == pytest.approx(np.log(2))
    assert clf.loss_ < 0.7 * np.log(2)  # (it stayed at ln 2 to 1e-12)


def test_lbfgs_at_relu_kinks_does_not_stop_on_one_short_step():
    """A short Wolfe step at a kink (7.5e-9 long, gaining 7.5e-10) is one step
    of small decrease; stopping on it (SciPy's ftol) left L-BFGS at 0.037 on
    iris where scikit-learn's lbfgs reaches 0.030. Three in a row stop it."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = MLPClassifier((10,), solver="lbfgs", random_state=0).fit(X, y)
    theirs = SklearnMLPClassifier((10,), solver="lbfgs", random_state=0).fit(X, y)
    assert ours.loss_ <= 1.05 * theirs.loss_


def test_a_failed_step_along_negative_curvature_costs_at_most_eleven_evaluations():
    """J = 1 + x^2 - y^2 + 1e6 y^4 at its saddle point: along y the model
    1 - alpha^2 / 2 is met only below alpha = 7e-4, 11 halvings of the first
    step 1; with tol=0, failed searches of up to 60 halvings at every step
    doubled a fit's evaluations."""
    class Steep(Saddle):
        def __call__(self, p):
            self.calls += 1
            x, y = p
            return 1 + x**2 - y**2 + 1e6 * y**4, np.array(
                [2 * x, -2 * y + 4e6 * y**3])

    objective = Steep()
    objective.calls = 0
    theta = np.zeros(2)
    solver = Newton()
    state = solver.init_state(theta)
    solver.step(theta, objective, state)
    assert not np.any(theta) and state["converged"]
    assert objective.calls == 1 + 11  # the gradient, then 11 trial steps


def test_a_clipped_gradient_does_not_pass_for_a_small_one():
    """max_grad_norm=1e-5 clips every gradient below tol=1e-4 in every
    component: the gradient criterion judges the gradient before clipping."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(), solver="lbfgs", alpha=0.01, max_iter=1000,
                  random_state=0)
    free = MLPClassifier(**params).fit(X, y)
    clipped = MLPClassifier(max_grad_norm=1e-5, **params).fit(X, y)
    assert clipped.n_iter_ > 10
    assert clipped.loss_ == pytest.approx(free.loss_, rel=1e-3)


@pytest.mark.parametrize("solver", [LBFGS(), Newton()], ids=["lbfgs", "newton"])
def test_pickling_mid_training_and_continuing_gives_identical_results(solver):
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", solver=solver,
                        max_iter=4, tol=0.0, warm_start=True, random_state=0)
    straight = MLPClassifier(**{**clf.get_params(deep=False), "max_iter": 8,
                                 "warm_start": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight.fit(X, y)
        clf.fit(X, y)
        restored = pickle.loads(pickle.dumps(clf))
        clf.fit(X, y)
        restored.fit(X, y)
    np.testing.assert_array_equal(restored._theta, clf._theta)
    np.testing.assert_array_equal(clf._theta, straight._theta)


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["lbfgs", "newton", LBFGS(), Newton()])
def test_partial_fit_is_absent_for_full_batch_solvers(Estimator, solver):
    estimator = Estimator(solver=solver)
    assert not hasattr(estimator, "partial_fit")
    with pytest.raises(AttributeError):
        estimator.partial_fit


def _counted(calls):
    def objective(x):  # J(x) = x.x, grad 2x; each point evaluated is recorded
        calls.append(x.copy())
        return float(x @ x), 2 * x
    return objective


# backtracking lengthens only a *full* step that passed: after a halving, the
# doubled step is the one just rejected, and trying it again costs two
# evaluations (it, and the kept point again) for nothing.
def test_a_halved_step_is_not_doubled_back():
    calls = []
    objective = _counted(calls)
    x = np.array([1.0, -2.0])
    # by hand: step 1 lands on -x (loss 5, no decrease), step 1/2 on 0 (loss 0)
    result = backtracking(objective, x, 5.0, 2 * x, -2 * x, max_doublings=3)
    assert result.accepted and result.step_size == 0.5 and result.loss == 0.0
    assert result.evaluations == 2 and len(calls) == 2


def test_a_full_step_that_passes_is_doubled():
    calls = []
    objective = _counted(calls)
    x = np.array([1.0, -2.0])
    # by hand: step 1 along -x/4 gives 3x/4 (loss 45/16), step 2 gives x/2
    # (loss 5/4), step 4 gives 0 (loss 0), step 8 gives -x (loss 5: rejected,
    # then the kept point is evaluated again)
    result = backtracking(objective, x, 5.0, 2 * x, -x / 4, max_doublings=3)
    assert result.step_size == 4.0 and result.loss == 0.0
    assert len(calls) == 5


# backtracking tries max_evals step sizes (1, 1/2, ..., 2**-(max_evals-1)),
# no fewer: a step that passes on the last allowed trial is accepted.
def test_a_step_that_passes_on_the_last_trial_is_accepted():
    calls = []
    x = np.array([1.0, -2.0])
    # by hand, along d = -6x: step 1 -> -5x (loss 125), 1/2 -> -2x (20),
    # 1/4 -> -x/2 (1.25 < 5, Armijo holds)
    result = backtracking(_counted(calls), x, 5.0, 2 * x, -6 * x, max_evals=3)
    assert result.accepted and result.step_size == 0.25 and result.loss == 1.25
    assert result.evaluations == 3 and len(calls) == 3


def test_a_failed_search_makes_exactly_max_evals_evaluations():
    calls = []

    def never(x):
        calls.append(x.copy())
        return 10.0, np.ones_like(x)        # never below the start's loss

    x = np.array([1.0, -2.0])
    result = backtracking(never, x, 5.0, 2 * x, -2 * x, max_evals=7)
    assert not result.accepted and result.evaluations == 7 and len(calls) == 7

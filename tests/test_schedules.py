"""Learning-rate schedules: the lecture's linear decay and inverse scaling.

* ``LinearDecay`` gives eps_k = (1 - alpha) eps_0 + alpha eps_tau, alpha = k / tau,
  and eps_tau after tau; ``final=None`` means eps_0 / 100.
* ``InverseScaling`` gives eps_0 / (k + 1)^t.
* Through an estimator, the k-th update (k from 0) uses eps_k, and k carries on
  across ``partial_fit`` calls and ``warm_start`` fits: the estimator's weights
  equal SGD written out here on the least-squares objective, update by update.
* Invalid schedule parameters are rejected at fit with an error naming them.
(Every solver with a schedule against the lecture's boxes: test_first_order.py.)
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.utils._param_validation import InvalidParameterError

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.schedules import InverseScaling, LinearDecay
from skopt_nn.solvers import SGD, Adam, Momentum


# ------------------------------------------------------------------ formulas
@pytest.mark.parametrize("initial, final, tau", [
    (0.1, 0.001, 100),
    (0.5, 0.2, 7),
    (0.01, 0.05, 10),  # a warm-up: eps_tau > eps_0 is allowed
])
def test_linear_decay_is_the_lecture_formula_then_constant(initial, final, tau):
    schedule = LinearDecay(initial=initial, final=final, tau=tau)
    for k in range(3 * tau):
        alpha = k / tau
        expected = (1 - alpha) * initial + alpha * final if k <= tau else final
        assert schedule(k) == pytest.approx(expected, rel=1e-15, abs=1e-18)


def test_linear_decay_hand_values():
    schedule = LinearDecay(initial=0.1, final=0.001, tau=100)
    assert schedule(0) == 0.1
    assert schedule(25) == pytest.approx(0.75 * 0.1 + 0.25 * 0.001, rel=1e-15)
    assert schedule(25) == pytest.approx(0.07525, rel=1e-15)
    assert schedule(100) == pytest.approx(0.001, rel=1e-15)
    assert schedule(10**6) == 0.001


def test_linear_decay_final_none_is_one_percent_of_initial():
    schedule = LinearDecay(initial=0.2, tau=10)
    assert schedule(10) == pytest.approx(0.002, rel=1e-15)
    assert schedule(50) == pytest.approx(0.002, rel=1e-15)
    assert schedule(5) == pytest.approx(0.5 * 0.2 + 0.5 * 0.002, rel=1e-15)


def test_inverse_scaling_is_eps0_over_k_plus_one_to_the_t():
    schedule = InverseScaling(initial=0.1, power_t=0.25)
    assert schedule(0) == 0.1
    assert schedule(15) == pytest.approx(0.1 / 2, rel=1e-15)  # 16^(1/4) = 2
    for k in range(50):
        assert schedule(k) == pytest.approx(0.1 / (k + 1) ** 0.25, rel=1e-15)
    assert all(InverseScaling(0.3, power_t=0.0)(k) == 0.3 for k in range(5))


@pytest.mark.parametrize("schedule", [LinearDecay(initial=0.1, final=0.0, tau=4),
                                      InverseScaling(initial=0.1, power_t=0.0)],
                         ids=["final_0", "power_t_0"])
def test_the_bounds_of_schedule_parameters_train(schedule):
    # final >= 0 and power_t >= 0: their bound 0 is a valid setting
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((4,), solver=SGD(learning_rate=schedule), batch_size=50,
                        max_iter=2, random_state=0)
    with pytest.warns(Warning, match="Maximum iterations"):
        clf.fit(X, y)
    assert clf.solver_state_["step"] == 6
    assert clf.history_[-1]["learning_rate"] == schedule(6)


@pytest.mark.parametrize("schedule", [LinearDecay(0.1, 0.01, 20), InverseScaling(0.1)])
def test_schedules_return_python_floats(schedule):
    assert all(type(schedule(k)) is float for k in (0, np.int64(5), 100))


# ------------------------------------------- eps_k through the estimator
def _least_squares_sgd(W, b, X, y, rates):
    """SGD on J(W, b) = 1/(2n) ||X W + b - y||^2, full batch: one update per rate."""
    n = len(y)
    for eps in rates:
        residual = X @ W + b - y[:, None]
        W = W - eps * (X.T @ residual / n)
        b = b - eps * residual.mean(axis=0)
    return W, b


def _eps(k, initial=0.05, final=0.005, tau=5):
    alpha = min(k, tau) / tau
    return (1 - alpha) * initial + alpha * final


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_estimator_uses_eps_k_for_the_kth_update_across_calls(how):
    """A linear model (no hidden layer), one full-batch update per epoch / call:
    updates 0-1 in the first call, 2-6 in later ones (crossing tau = 5) use
    eps_2 ... eps_6 as written here, not eps_0 again."""
    X, y = make_regression(40, 3, noise=0.5, random_state=0)
    y = y / y.std()
    est = MLPRegressor(hidden_layer_sizes=(), solver=SGD(LinearDecay(0.05, 0.005, 5)),
                       alpha=0.0, batch_size=40, shuffle=False, random_state=0,
                       max_iter=2, warm_start=(how == "warm_start"))
    if how == "partial_fit":
        for _ in range(2):
            est.partial_fit(X, y)
    else:
        est.fit(X, y)
    assert est.solver_state_["step"] == 2
    W, b = est.coefs_[0].copy(), est.intercepts_[0].copy()
    if how == "partial_fit":
        for _ in range(5):
            est.partial_fit(X, y)
    else:
        est.set_params(max_iter=5).fit(X, y)
    assert est.solver_state_["step"] == 7
    W, b = _least_squares_sgd(W, b, X, y, [_eps(k) for k in range(2, 7)])
    np.testing.assert_allclose(est.coefs_[0], W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.intercepts_[0], b, rtol=1e-12, atol=1e-14)
    # history_ reports the rate of the next update
    assert est.history_[-1]["learning_rate"] == pytest.approx(_eps(7), rel=1e-15)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_first_update_of_a_fit_uses_eps_0():
    X, y = make_regression(40, 3, noise=0.5, random_state=0)
    y = y / y.std()
    params = dict(hidden_layer_sizes=(), alpha=0.0, batch_size=40, random_state=0,
                  max_iter=1)
    # the initial weights: those of a fit whose single step is negligible
    W0 = MLPRegressor(solver=SGD(1e-300), **params).fit(X, y)
    est = MLPRegressor(solver=SGD(LinearDecay(0.05, 0.005, 5)), **params).fit(X, y)
    W, b = _least_squares_sgd(W0.coefs_[0], W0.intercepts_[0], X, y, [0.05])
    np.testing.assert_allclose(est.coefs_[0], W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.intercepts_[0], b, rtol=1e-12, atol=1e-14)


# -------------------------------------------------------------- validation
@pytest.mark.parametrize("schedule, match", [
    (LinearDecay(tau=0), "The 'tau' parameter of LinearDecay"),
    (LinearDecay(tau=2.5), "The 'tau' parameter of LinearDecay"),
    (LinearDecay(initial=-0.1), "The 'initial' parameter of LinearDecay"),
    (LinearDecay(initial=0.0), "The 'initial' parameter of LinearDecay"),
    (LinearDecay(final=-1e-3), "The 'final' parameter of LinearDecay"),
    (InverseScaling(initial=0.0), "The 'initial' parameter of InverseScaling"),
    (InverseScaling(power_t=-0.5), "The 'power_t' parameter of InverseScaling"),
], ids=lambda p: repr(p) if not isinstance(p, str) else "")
@pytest.mark.parametrize("Solver", [SGD, Momentum, Adam])
def test_invalid_schedule_parameters_are_rejected_at_fit(Solver, schedule, match):
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(solver=Solver(learning_rate=schedule), max_iter=1)
    with pytest.raises(InvalidParameterError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_invalid_schedule_set_between_partial_fits_is_rejected_and_changes_nothing():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((5,), solver=SGD(LinearDecay(0.1, tau=10)), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    theta, step = clf._theta.copy(), clf.solver_state_["step"]
    clf.set_params(solver__learning_rate__tau=0)
    with pytest.raises(InvalidParameterError, match="The 'tau' parameter"):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf._theta, theta)
    assert clf.solver_state_["step"] == step


def _below_zero_after_two(k):
    return 0.25 - 0.125 * k  # 0.25, 0.125, 0.0, then -0.125 at update 3


@pytest.mark.parametrize("schedule, value", [
    (lambda k: -0.01, "-0.01 for update 0"),
    (_below_zero_after_two, "-0.125 for update 3"),
    (lambda k: None, "None for update 0"),
    (lambda k: "0.1", "'0.1' for update 0"),
    (lambda k: np.array([0.1, 0.2]), r"array\(\[0.1, 0.2\]\) for update 0"),
    # these ended in a divergence warning that advised a lower learning rate
    (lambda k: float("nan"), "nan for update 0"),
    (lambda k: np.float32(np.inf), "np.float32\\(inf\\) for update 0"),
    (lambda k: [0.1, np.inf][min(k, 1)], "inf for update 1"),
], ids=["negative", "negative later", "None", "string", "array", "nan", "inf",
        "inf later"])
@pytest.mark.parametrize("Solver", [SGD, Momentum, Adam])
def test_a_user_schedule_returning_a_bad_rate_raises_and_changes_nothing(
        Solver, schedule, value):
    # A negative rate climbed the loss, and training stopped for lack of
    # improvement with no warning (a robustness review of 32381e7).
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((5,), solver=Solver(learning_rate=schedule), batch_size=50,
                        max_iter=3, random_state=0)
    with pytest.raises(ValueError, match="The learning-rate schedule .* returned "
                       + value + ": a learning rate must be a finite real number "
                       ">= 0"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_a_user_schedule_may_return_zero_and_numpy_scalars():
    X, y = load_iris(return_X_y=True)
    rates = [np.float32(0.1), 0, np.float64(0.05)]
    clf = MLPClassifier((5,), solver=SGD(learning_rate=lambda k: rates[min(k, 2)]),
                        batch_size=150, max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    assert clf.history_[0]["learning_rate"] == 0.0  # the next update's: update 1


def test_schedule_is_a_cloneable_estimator():
    schedule = LinearDecay(initial=0.3, final=0.01, tau=42)
    copy = clone(schedule)
    assert copy is not schedule
    assert copy.get_params() == {"initial": 0.3, "final": 0.01, "tau": 42}
    solver = SGD(learning_rate=schedule)
    assert solver.get_params()["learning_rate__tau"] == 42
    solver.set_params(learning_rate__tau=7)
    assert schedule.tau == 7

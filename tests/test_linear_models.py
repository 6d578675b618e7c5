r"""Without hidden layers the MLP is a linear model: it reaches scikit-learn's.

Correspondence of the objectives. With ``hidden_layer_sizes=()``, weights ``W``,
unpenalized intercept ``b`` and sample weights :math:`w_i` (all 1 if not given),
the estimator minimizes

.. math::
    J(W, b) = \frac{\sum_i w_i L_i}{\sum_i w_i} + \frac{\alpha}{2 \sum_i w_i} \|W\|^2 .

Multiplying by the constant :math:`\sum_i w_i` does not move the minimizer:

* cross-entropy (softmax or logistic output):
  :math:`\sum_i w_i L_i + \frac{\alpha}{2}\|W\|^2`, which is
  ``LogisticRegression(C=1/alpha)``'s
  :math:`C \sum_i w_i L_i + \frac12 \|W\|^2` divided by :math:`C`;
* squared error, whose per-sample loss is :math:`\frac12 \|y_i - \hat y_i\|^2`:
  :math:`\frac12 (\sum_i w_i \|y_i - \hat y_i\|^2 + \alpha \|W\|^2)`, half of
  ``Ridge(alpha=alpha)``'s objective;
* half the Poisson deviance (``loss="poisson"``): :math:`J` itself is
  ``PoissonRegressor``'s objective with its ``alpha`` equal to
  :math:`\alpha / \sum_i w_i` (it normalizes the weights to sum to 1).

The multinomial softmax has one weight column and one intercept per class in
both libraries. The loss is unchanged by adding a constant to every intercept
and that direction is not penalized, so only the centred intercepts are
determined. Gradient descent keeps the sum of the intercepts fixed (the
intercept gradient :math:`\sum_i w_i (p_i - y_i)` sums to zero over classes),
so the tests compare ``intercepts_ - mean(intercepts_)``.

The solver is Nesterov's accelerated gradient run full batch
(``batch_size=n_samples``) with learning rate ``1/L``, ``L`` a bound on the
largest Hessian eigenvalue (the loss's curvature bound times
:math:`\lambda_{\max}(\tilde X^\top \tilde X / \sum_i w_i)` for
:math:`\tilde X = [X, 1]` rows weighted by :math:`w_i`, plus
:math:`\alpha / \sum_i w_i`), and ``tol=0``: training stops only once the loss
has not decreased at all for ``n_iter_no_change`` steps, i.e. at the
floating-point floor. Momentum makes the loss non-monotone for a while, hence
the long patience. (Plain gradient descent needs ~1/(step * alpha/n) steps
along the direction only the penalty determines.)
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import SGD, Nesterov, Newton

RTOL = 1e-5  # far above both solvers' final accuracy (~1e-7), far below any bug


def _data(n_classes=None, n_targets=1, n_samples=200, seed=0):
    if n_classes is None:
        X, y = make_regression(n_samples, 4, n_informative=4, n_targets=n_targets,
                               noise=5.0, random_state=seed)
        y = y / y.std(axis=0)
    else:
        X, y = make_classification(n_samples, 4, n_informative=3, n_redundant=0,
                                   n_classes=n_classes, n_clusters_per_class=1,
                                   class_sep=0.5, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _curvature_bound(X, curvature, alpha, weights=None):
    """Largest Hessian eigenvalue bound of the weighted mean loss."""
    w = np.ones(len(X)) if weights is None else weights
    Xt = np.hstack([X, np.ones((len(X), 1))])
    gram = (Xt * w[:, None]).T @ Xt / w.sum()
    return curvature * np.linalg.eigvalsh(gram).max() + alpha / w.sum()


def _accelerated_gradient(L):
    return Nesterov(learning_rate=1 / L, momentum=0.95)


def _assert_close(actual, expected):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=RTOL * scale)


def _converged_fit(estimator, X, y, sample_weight=None):
    estimator.set_params(hidden_layer_sizes=(), batch_size=len(X), tol=0.0,
                         max_iter=20000, n_iter_no_change=200, random_state=0)
    estimator.fit(X, y, sample_weight=sample_weight)
    assert estimator.n_iter_ < 20000, "did not reach the floating-point floor"
    return estimator


@pytest.mark.parametrize("alpha", [1e-2, 1.0])
def test_no_hidden_layer_binary_classifier_matches_logistic_regression(alpha):
    X, y = _data(n_classes=2)
    solver = _accelerated_gradient(_curvature_bound(X, 0.25, alpha))
    ours = _converged_fit(MLPClassifier(solver=solver, alpha=alpha), X, y)
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000).fit(X, y)
    _assert_close(ours.coefs_[0].T, ref.coef_)
    _assert_close(ours.intercepts_[0], ref.intercept_)


@pytest.mark.parametrize("alpha", [1e-2, 1.0])
def test_no_hidden_layer_multiclass_classifier_matches_multinomial_logistic(alpha):
    X, y = _data(n_classes=3)
    # softmax: the Hessian of the loss in the logits is below diag(p) <= 1/2 I
    solver = _accelerated_gradient(_curvature_bound(X, 0.5, alpha))
    ours = _converged_fit(MLPClassifier(solver=solver, alpha=alpha), X, y)
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000).fit(X, y)
    _assert_close(ours.coefs_[0].T, ref.coef_)
    b = ours.intercepts_[0]
    _assert_close(b - b.mean(), ref.intercept_ - ref.intercept_.mean())


def test_no_hidden_layer_weighted_classifier_matches_weighted_logistic():
    X, y = _data(n_classes=3, seed=1)
    weights = np.random.RandomState(0).uniform(0.1, 4.0, size=len(y))
    alpha = 0.3
    solver = _accelerated_gradient(_curvature_bound(X, 0.5, alpha, weights))
    ours = _converged_fit(MLPClassifier(solver=solver, alpha=alpha), X, y, weights)
    ref = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000)
    ref.fit(X, y, sample_weight=weights)
    _assert_close(ours.coefs_[0].T, ref.coef_)
    b = ours.intercepts_[0]
    _assert_close(b - b.mean(), ref.intercept_ - ref.intercept_.mean())


def test_no_hidden_layer_balanced_weighted_classifier_matches_logistic_regression():
    # "balanced" from each class's total sample weight, as LogisticRegression's
    X, y = _data(n_classes=3, seed=2)
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:20]]  # (unbalanced)
    X, y = X[keep], y[keep]
    weights = np.random.RandomState(1).uniform(0.1, 4.0, size=len(y))
    alpha = 0.3
    # the step size from the row weights the fit uses: the class weights of
    # each class's total sample weight
    totals = np.bincount(y, weights=weights)
    balanced = (totals.sum() / (len(totals) * totals))[y]
    solver = _accelerated_gradient(_curvature_bound(X, 0.5, alpha, weights * balanced))
    ours = _converged_fit(MLPClassifier(solver=solver, alpha=alpha,
                                        class_weight="balanced"), X, y, weights)
    ref = LogisticRegression(C=1 / alpha, class_weight="balanced", tol=1e-12,
                             max_iter=10000).fit(X, y, sample_weight=weights)
    _assert_close(ours.coefs_[0].T, ref.coef_)
    b = ours.intercepts_[0]
    _assert_close(b - b.mean(), ref.intercept_ - ref.intercept_.mean())


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("alpha", [1e-3, 10.0])
def test_no_hidden_layer_regressor_matches_ridge(alpha, n_targets):
    X, y = _data(n_targets=n_targets)
    solver = _accelerated_gradient(_curvature_bound(X, 1.0, alpha))
    ours = _converged_fit(MLPRegressor(solver=solver, alpha=alpha), X, y)
    ref = Ridge(alpha=alpha).fit(X, y)
    _assert_close(ours.coefs_[0].T, ref.coef_.reshape(n_targets, -1))
    _assert_close(ours.intercepts_[0], np.atleast_1d(ref.intercept_))


def test_no_hidden_layer_weighted_regressor_matches_weighted_ridge():
    X, y = _data(n_targets=2, seed=2)
    weights = np.random.RandomState(1).uniform(0.1, 4.0, size=len(y))
    alpha = 5.0
    solver = _accelerated_gradient(_curvature_bound(X, 1.0, alpha, weights))
    ours = _converged_fit(MLPRegressor(solver=solver, alpha=alpha), X, y, weights)
    ref = Ridge(alpha=alpha).fit(X, y, sample_weight=weights)
    _assert_close(ours.coefs_[0].T, ref.coef_)
    _assert_close(ours.intercepts_[0], ref.intercept_)


@pytest.mark.parametrize("weighted", [False, True])
def test_no_hidden_layer_poisson_regressor_matches_poisson_regression(weighted):
    # exact Newton steps on a convex objective: quadratic convergence, to the
    # floating-point floor within a few steps
    rng = np.random.RandomState(3)
    X = StandardScaler().fit_transform(rng.randn(300, 4))
    y = rng.poisson(np.exp(X @ [0.4, -0.3, 0.2, 0.0] + 0.5)).astype(float)
    weights = rng.uniform(0.1, 4.0, size=len(y)) if weighted else None
    total = len(y) if weights is None else weights.sum()
    alpha = 0.05
    ours = MLPRegressor((), solver=Newton(), loss="poisson", alpha=alpha * total,
                        tol=0.0, max_iter=50, random_state=0)
    ours.fit(X, y, sample_weight=weights)
    ref = PoissonRegressor(alpha=alpha, tol=1e-12, max_iter=1000).fit(
        X, y, sample_weight=weights)
    _assert_close(ours.coefs_[0].ravel(), ref.coef_)
    _assert_close(ours.intercepts_[0], np.atleast_1d(ref.intercept_))
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=RTOL)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_minibatches_penalize_n_over_m_times_more_than_a_full_batch():
    """The penalty alpha / (2 m) ||W||^2 is added per minibatch of m rows, as in
    scikit-learn's MLP: SGD with a decaying rate converges toward the optimum
    of Ridge(alpha=n alpha / m) and LogisticRegression(C=m / (n alpha)), not of
    alpha's full-batch equivalents. Measured: within 4e-5 (Ridge) and 3e-3
    (logistic) of the weights' scale, against 8% and 38% from the full-batch
    optima."""
    n, m, alpha = 200, 20, 2.0
    fit = dict(hidden_layer_sizes=(), batch_size=m, alpha=alpha, tol=0.0,
               n_iter_no_change=10**9, max_iter=400, random_state=0)

    def gap(ours, ref_coef):
        return np.abs(ours.coefs_[0].ravel() - ref_coef.ravel()).max() / \
            np.abs(ref_coef).max()

    X, y = _data()
    ours = MLPRegressor(solver=SGD(LinearDecay(0.05, 1e-6, tau=4000)), **fit).fit(X, y)
    assert gap(ours, Ridge(alpha=n * alpha / m).fit(X, y).coef_) < 1e-4
    assert gap(ours, Ridge(alpha=alpha).fit(X, y).coef_) > 0.05

    X, y = _data(n_classes=2)
    ours = MLPClassifier(solver=SGD(LinearDecay(0.5, 1e-5, tau=4000)), **fit).fit(X, y)
    reference = LogisticRegression(C=m / (n * alpha), tol=1e-12, max_iter=10000)
    assert gap(ours, reference.fit(X, y).coef_) < 1e-2
    reference = LogisticRegression(C=1 / alpha, tol=1e-12, max_iter=10000)
    assert gap(ours, reference.fit(X, y).coef_) > 0.2

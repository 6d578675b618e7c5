"""skopt_nn.diagnostics against closed forms, finite differences and dense H."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from skopt_nn import BatchNorm, MLPClassifier, MLPRegressor
from skopt_nn.diagnostics import (GradientCurvature, gradient_curvature, hessian,
                                  hessian_eigenvalues, hessian_trace)
from skopt_nn.diagnostics import _training_objective


def _fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (few iterations: not converged)
        return estimator.fit(X, y, **fit_params)


def _regression(n=40, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    return X, X @ rng.randn(d) + 0.3 * rng.randn(n)


def _linear_model(alpha):
    """A regressor with no hidden layer, away from its optimum: its objective
    ``1/(2n) |X1 theta - y|^2 + alpha/(2n) |w|^2`` is exactly quadratic."""
    X, y = _regression()
    model = _fit(MLPRegressor((), solver="sgd", alpha=alpha, max_iter=2,
                              random_state=0), X, y)
    X1 = np.hstack([X, np.ones((len(X), 1))])
    penalty = np.diag([alpha / len(X)] * X.shape[1] + [0.0])
    H = X1.T @ X1 / len(X) + penalty
    theta = model._theta
    residual = X1 @ theta - y
    g = X1.T @ residual / len(X) + penalty @ theta
    loss = 0.5 * residual @ residual / len(X) + 0.5 * theta @ penalty @ theta
    return model, X, y, H, g, loss


def _small_network(batch_norm=False, seed=0):
    """A tanh network part-way through training, with negative curvature."""
    rng = np.random.RandomState(seed)
    X = rng.randn(60, 4)
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    model = _fit(MLPClassifier((6,), activation="tanh", solver="sgd", max_iter=5,
                               batch_norm=batch_norm, random_state=seed), X, y)
    return model, X, y


def _loss_grad(model, X, y, theta, sample_weight=None):
    with _training_objective(model, X, y, sample_weight) as (objective, _):
        return objective(theta)


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_linear_regressor_measures_match_closed_forms(alpha):
    model, X, y, H, g, loss = _linear_model(alpha)
    measured = gradient_curvature(model, X, y)
    np.testing.assert_allclose(measured.loss, loss, rtol=1e-12)
    np.testing.assert_allclose(measured.gTg, g @ g, rtol=1e-12)
    np.testing.assert_allclose(measured.gTHg, g @ H @ g, rtol=1e-12)
    np.testing.assert_allclose(hessian(model, X, y), H, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        hessian_eigenvalues(model, X, y, k=2, random_state=0),
        np.linalg.eigvalsh(H)[[0, -1]], rtol=1e-10)


def test_binary_logistic_hessian_matches_closed_form():
    # no hidden layer, logistic output: H = X1^T diag(p (1 - p)) X1 / n + penalty
    rng = np.random.RandomState(1)
    X = rng.randn(50, 3)
    y = (X @ [1.0, -2.0, 0.5] + rng.randn(50) > 0).astype(int)
    model = _fit(MLPClassifier((), solver="sgd", alpha=0.5, max_iter=3,
                               random_state=0), X, y)
    X1 = np.hstack([X, np.ones((50, 1))])
    p = 1.0 / (1.0 + np.exp(-(X1 @ model._theta)))
    expected = (X1.T * (p * (1 - p))) @ X1 / 50 + np.diag([0.5 / 50] * 3 + [0.0])
    np.testing.assert_allclose(hessian(model, X, y), expected, rtol=1e-12, atol=1e-15)


def test_predicted_change_is_exact_on_a_quadratic():
    # the second-order model of the lecture is the objective itself here
    model, X, y, H, g, loss = _linear_model(alpha=1.0)
    measured = gradient_curvature(model, X, y)
    for eps in (0.1, 1.0, measured.critical_learning_rate):
        new_loss, _ = _loss_grad(model, X, y, model._theta - eps * g)
        np.testing.assert_allclose(new_loss - loss, measured.predicted_change(eps),
                                   rtol=1e-9, atol=1e-12)
    # at the critical step the model returns to the starting loss; half of it is
    # the best step, with the largest decrease gTg^2 / (2 gHg)
    critical = measured.critical_learning_rate
    assert critical == pytest.approx(2 * (g @ g) / (g @ H @ g), rel=1e-12)
    assert abs(measured.predicted_change(critical)) <= 1e-12 * loss
    assert measured.predicted_change(critical / 2) == pytest.approx(
        -(g @ g) ** 2 / (2 * (g @ H @ g)), rel=1e-12)


def test_critical_learning_rate_is_infinite_without_positive_curvature():
    assert GradientCurvature(1.0, 2.0, 8.0).curvature == 4.0
    assert np.isnan(GradientCurvature(1.0, 0.0, 0.0).curvature)
    assert GradientCurvature(1.0, 2.0, -3.0).critical_learning_rate == np.inf
    assert GradientCurvature(1.0, 2.0, 0.0).critical_learning_rate == np.inf
    assert GradientCurvature(1.0, 2.0, 8.0).critical_learning_rate == 0.5
    # -eps gTg + eps^2 gHg / 2 with eps = 0.5: -1 + 1
    assert GradientCurvature(1.0, 2.0, 8.0).predicted_change(0.5) == 0.0
    assert GradientCurvature(1.0, 2.0, 8.0).predicted_change(0.25) == -0.25


def test_trace_of_a_diagonal_hessian_is_exact_for_any_probes():
    # centered, orthogonal columns and a penalty: H = X1^T X1 / n + alpha/n is
    # diagonal, and v^T H v = tr H for every +-1 vector v
    rng = np.random.RandomState(2)
    Q, _ = np.linalg.qr(rng.randn(30, 4) - rng.randn(30, 4).mean(axis=0))
    Q -= Q.mean(axis=0)
    X = np.linalg.qr(Q)[0] * [1.0, 2.0, 3.0, 4.0]
    X -= X.mean(axis=0)
    y = rng.randn(30)
    model = _fit(MLPRegressor((), solver="sgd", alpha=0.3, max_iter=2,
                              random_state=0), X, y)
    H = hessian(model, X, y)
    assert np.abs(H - np.diag(np.diag(H))).max() < 1e-14
    for seed in range(3):
        estimate = hessian_trace(model, X, y, n_probes=5, random_state=seed)
        assert estimate.trace == pytest.approx(np.trace(H), rel=1e-13)
        assert estimate.standard_error < 1e-13


# ------------------------------------------------ finite differences, dense H
@pytest.mark.parametrize("batch_norm", [False, True])
def test_hessian_columns_match_central_differences_of_the_gradient(batch_norm):
    model, X, y = _small_network(batch_norm)
    theta = model._theta
    H = hessian(model, X, y)
    assert np.array_equal(H, H.T)
    h = 1e-5
    for j in np.random.RandomState(0).choice(theta.size, 8, replace=False):
        step = np.zeros_like(theta)
        step[j] = h
        column = (_loss_grad(model, X, y, theta + step)[1]
                  - _loss_grad(model, X, y, theta - step)[1]) / (2 * h)
        np.testing.assert_allclose(H[:, j], column, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_curvature_along_gradient_matches_second_difference_of_the_loss(batch_norm):
    model, X, y = _small_network(batch_norm)
    theta = model._theta
    measured = gradient_curvature(model, X, y)
    loss, g = _loss_grad(model, X, y, theta)
    assert measured.loss == loss
    assert measured.gTg == pytest.approx(g @ g, rel=1e-14)
    h = 1e-3 / np.sqrt(g @ g)
    second = (_loss_grad(model, X, y, theta + h * g)[0] - 2 * loss
              + _loss_grad(model, X, y, theta - h * g)[0]) / h ** 2
    assert measured.gTHg == pytest.approx(second, rel=1e-5)


@pytest.mark.parametrize("which, ends", [("both", [0, 1, -2, -1]),
                                         ("largest", [-4, -3, -2, -1]),
                                         ("smallest", [0, 1, 2, 3])])
def test_lanczos_eigenvalues_match_the_dense_spectrum(which, ends):
    model, X, y = _small_network()
    spectrum = np.linalg.eigvalsh(hessian(model, X, y))
    assert spectrum[0] < -1e-3  # the point has negative curvature: a real test
    found = hessian_eigenvalues(model, X, y, k=4, which=which, random_state=0)
    np.testing.assert_allclose(found, spectrum[ends], rtol=1e-8,
                               atol=1e-10 * np.abs(spectrum).max())


def test_trace_estimate_is_unbiased_within_its_standard_error():
    model, X, y = _small_network()
    exact = np.trace(hessian(model, X, y))
    estimates = [hessian_trace(model, X, y, n_probes=50, random_state=seed)
                 for seed in range(20)]
    errors = [(e.trace - exact) / e.standard_error for e in estimates]
    # 20 standardized errors of a mean of 50: within 4 each, centred near 0
    assert max(abs(z) for z in errors) < 4
    assert abs(np.mean(errors)) < 4 / np.sqrt(20)
    # the reported error is the spread of the estimates themselves
    spread = np.std([e.trace for e in estimates], ddof=1)
    assert 0.5 < np.mean([e.standard_error for e in estimates]) / spread < 2


@pytest.mark.parametrize("n_probes", [1, 2, 7])
def test_trace_estimate_is_the_probes_mean_and_its_standard_error(n_probes):
    """Hutchinson's estimate written out: the mean of z^T H z over the
    Rademacher probes z (drawn as the docstring says: 2 randint(0, 2) - 1 from
    random_state), and the standard error of that mean, s / sqrt(n) with the
    sample deviation s (ddof=1: NaN for one probe)."""
    model, X, y = _small_network()
    H = hessian(model, X, y)
    rng = np.random.RandomState(3)
    Z = rng.randint(0, 2, size=(H.shape[0], n_probes)) * 2.0 - 1.0
    samples = np.einsum("ij,ij->j", Z, H @ Z)
    estimate = hessian_trace(model, X, y, n_probes=n_probes, random_state=3)
    assert estimate.trace == pytest.approx(samples.mean(), rel=1e-12)
    if n_probes == 1:
        assert np.isnan(estimate.standard_error)
    else:
        expected = np.std(samples, ddof=1) / np.sqrt(n_probes)
        assert estimate.standard_error == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------- what it covers
def test_weights_enter_as_in_fit_integer_weights_equal_repeated_rows():
    model, X, y = _small_network()
    weights = np.random.RandomState(3).randint(0, 4, len(X))
    repeated = np.repeat(np.arange(len(X)), weights)
    weighted = gradient_curvature(model, X, y, sample_weight=weights)
    copies = gradient_curvature(model, X[repeated], y[repeated])
    for name in ("loss", "gTg", "gTHg"):
        assert getattr(weighted, name) == pytest.approx(getattr(copies, name),
                                                        rel=1e-12)
    np.testing.assert_allclose(hessian(model, X, y, sample_weight=weights),
                               hessian(model, X[repeated], y[repeated]),
                               rtol=1e-10, atol=1e-13)


def test_class_weight_enters_the_objective():
    model, X, y = _small_network()
    plain = gradient_curvature(model, X, y)
    model.set_params(class_weight={0: 1.0, 1: 5.0, 2: 1.0})
    weighted = gradient_curvature(model, X, y)
    by_rows = gradient_curvature(model.set_params(class_weight=None), X, y,
                                 sample_weight=np.where(y == 1, 5.0, 1.0))
    assert weighted.loss != plain.loss
    assert weighted.loss == pytest.approx(by_rows.loss, rel=1e-12)
    assert weighted.gTHg == pytest.approx(by_rows.gTHg, rel=1e-12)


def test_clipping_does_not_enter_the_objective():
    model, X, y = _small_network()
    unclipped = gradient_curvature(model, X, y)
    model.set_params(max_grad_norm=1e-6)
    assert gradient_curvature(model, X, y) == unclipped
    assert unclipped.gTg > 1e-10


def test_sparse_input_gives_the_dense_result():
    model, X, y = _small_network()
    dense = hessian(model, X, y)
    np.testing.assert_allclose(hessian(model, sparse.csr_matrix(X), y), dense,
                               rtol=1e-12, atol=1e-15)


def test_float32_model_is_measured_in_float64():
    model, X, y = _small_network()
    model32 = copy.deepcopy(model)
    model32._theta = model._theta.astype(np.float32)
    model32._network = copy.copy(model._network)
    model32._set_views()
    # the same point, rounded to float32, measured in float64 throughout
    twin = copy.deepcopy(model)
    twin._theta[:] = model32._theta
    assert gradient_curvature(model32, X.astype(np.float32), y) == \
        gradient_curvature(twin, X.astype(np.float32).astype(np.float64), y)


def test_rows_are_rounded_to_the_model_dtype_as_fit_rounds_them():
    X, y = _regression()
    X32 = X.astype(np.float32)
    model = _fit(MLPRegressor((5,), max_iter=3, random_state=0), X32, y)
    assert model._theta.dtype == np.float32
    assert gradient_curvature(model, X, y) == gradient_curvature(model, X32, y)


def test_curvature_along_the_gradient_lies_within_the_spectrum():
    model, X, y = _small_network()
    measured = gradient_curvature(model, X, y)
    low, high = hessian_eigenvalues(model, X, y, k=2, random_state=0)
    assert low < measured.curvature < high
    assert measured.curvature == pytest.approx(measured.gTHg / measured.gTg, rel=1e-15)
    assert measured.critical_learning_rate >= 2 / high


def test_eigenvectors_are_unit_eigenvectors_of_the_hessian():
    # (the values are the same bits with or without the vectors: ARPACK's
    # values-only path differed in the last bit on some machines)
    model, X, y = _small_network(batch_norm=True)
    H = hessian(model, X, y)
    values, vectors = hessian_eigenvalues(model, X, y, k=4, return_eigenvectors=True,
                                          random_state=0)
    assert np.array_equal(values, hessian_eigenvalues(model, X, y, k=4,
                                                      random_state=0))
    assert vectors.shape == (H.shape[0], 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(H @ vectors, vectors * values,
                               atol=1e-9 * np.abs(values).max())
    # the smallest one's direction curves down: the loss falls both ways along it
    assert values[0] < 0
    _, grad = _loss_grad(model, X, y, model._theta)
    step = 1e-2 * vectors[:, 0] * -np.sign(grad @ vectors[:, 0])
    loss, _ = _loss_grad(model, X, y, model._theta)
    assert _loss_grad(model, X, y, model._theta + step)[0] < loss


def test_estimator_is_left_unchanged():
    model, X, y = _small_network(batch_norm=True)
    before = pickle.dumps(model)
    proba = model.predict_proba(X)
    gradient_curvature(model, X, y)
    hessian(model, X, y)
    hessian_eigenvalues(model, X, y, k=2, random_state=0)
    hessian_trace(model, X, y, random_state=0)
    assert pickle.dumps(model) == before
    assert model._network._workspaces == {}
    assert np.array_equal(model.predict_proba(X), proba)


def test_same_random_state_gives_identical_results():
    model, X, y = _small_network()
    assert np.array_equal(hessian_eigenvalues(model, X, y, random_state=4),
                          hessian_eigenvalues(model, X, y, random_state=4))
    assert hessian_trace(model, X, y, random_state=4) == \
        hessian_trace(model, X, y, random_state=4)


# --------------------------------------------------------------------- errors
def test_only_skopt_nn_estimators_are_measured():
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model, X, y = _small_network()
    others = [_fit(SklearnMLPClassifier((3,), max_iter=5), X, y),
              _fit(make_pipeline(StandardScaler(), MLPClassifier((3,), max_iter=5)),
                   X, y)]
    for other in others:
        with pytest.raises(TypeError, match="measures a fitted skopt_nn MLPClassifier "
                                            f"or MLPRegressor, got {type(other).__name__}"):
            gradient_curvature(other, X, y)


@pytest.mark.parametrize("fitted, changed", [("poisson", "squared_error"),
                                             ("squared_error", "poisson")])
def test_a_loss_changed_since_the_fit_is_named(fitted, changed):
    # the targets were checked for the new loss, the objective taken for the
    # fitted output: negative targets reached an exp output's Poisson loss
    # (loss and gradient no longer matched), and an identity output refused them
    X, y = _regression()
    y = np.abs(y)
    model = _fit(MLPRegressor((4,), loss=fitted, max_iter=3, random_state=0), X, y)
    model.set_params(loss=changed)
    for measure in (gradient_curvature, hessian):
        with pytest.raises(ValueError, match=f"measures the fitted model, whose "
                                             f"output is '(exp|identity)', but "
                                             f"its loss is now '{changed}'"):
            measure(model, X, y - 5)
    model.set_params(loss=fitted)  # set back: measured
    assert np.isfinite(gradient_curvature(model, X, y).gTg)


def test_unfitted_estimator_is_refused():
    X, y = _regression()
    for measure in (gradient_curvature, hessian, hessian_eigenvalues, hessian_trace):
        with pytest.raises(NotFittedError):
            measure(MLPRegressor(), X, y)


def test_bad_arguments_are_named():
    model, X, y = _small_network()
    for which in ("middle", ["both"]):  # (a list raised "unhashable type")
        with pytest.raises(ValueError, match="which must be one of"):
            hessian_eigenvalues(model, X, y, which=which)
    # a string is true: "no" returned the eigenvectors too
    with pytest.raises(ValueError, match="return_eigenvectors must be a bool, got 'no'"):
        hessian_eigenvalues(model, X, y, return_eigenvectors="no")
    with pytest.raises(ValueError, match="k with which='both' must be an integer >= 2"):
        hessian_eigenvalues(model, X, y, k=1)
    for k in (0, True, 2.0):
        with pytest.raises(ValueError, match="k with which='largest' must be an "
                                             "integer >= 1"):
            hessian_eigenvalues(model, X, y, k=k, which="largest")
    for tol in (-1e-3, np.nan, True):
        with pytest.raises(ValueError, match="tol must be a number >= 0"):
            hessian_eigenvalues(model, X, y, tol=tol)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 0"):
        hessian_eigenvalues(model, X, y, max_iter=0)
    n = model._theta.size
    with pytest.raises(ValueError, match=f"smaller than the number of parameters \\({n}\\)"):
        hessian_eigenvalues(model, X, y, k=n, which="largest")
    for n_probes in (0, True):
        with pytest.raises(ValueError, match="n_probes must be an integer >= 1"):
            hessian_trace(model, X, y, n_probes=n_probes)
    with pytest.raises(ValueError, match="51 parameters, more than max_params=50: "
                                         "its Hessian "
                                         "would take"):
        hessian(model, X, y, max_params=50)
    n = model._theta.size  # (51)
    assert hessian(model, X, y, max_params=n).shape == (n, n)  # (at the bound)


def test_data_that_the_model_cannot_take_is_refused():
    model, X, y = _small_network()
    with pytest.raises(ValueError, match="X has 3 features, but MLPClassifier is "
                                         "expecting 4 features as input"):
        gradient_curvature(model, X[:, :3], y)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        gradient_curvature(model, X, y + 7)
    X_reg, y_reg = _regression()
    regressor = _fit(MLPRegressor((3,), max_iter=2, random_state=0), X_reg, y_reg)
    with pytest.raises(ValueError, match="y has 2 outputs, but MLPRegressor was "
                                         "fitted with 1"):
        gradient_curvature(regressor, X_reg, np.c_[y_reg, y_reg])


def test_lanczos_that_does_not_converge_says_so():
    model, X, y = _small_network()
    with pytest.raises(RuntimeError, match="Lanczos iteration found .* of the 6 "
                                           "eigenvalues within max_iter=1 restarts"):
        hessian_eigenvalues(model, X, y, k=6, max_iter=1, random_state=0)


def test_batch_norm_objective_uses_the_rows_own_statistics():
    # training mode, as fit evaluates it: the given rows' mean and biased
    # variance, not the inference statistics bn_mean_ and bn_var_
    model, X, y = _small_network(batch_norm=BatchNorm(epsilon=0.01))
    (W0, W1), (b0, b1) = model.coefs_, model.intercepts_
    z = X @ W0 + b0
    xhat = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 0.01)
    logits = np.tanh(model.bn_gamma_[0] * xhat + model.bn_beta_[0]) @ W1 + b1
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(len(y)), y].mean() \
        + model.alpha / (2 * len(X)) * ((W0 ** 2).sum() + (W1 ** 2).sum())
    assert gradient_curvature(model, X, y).loss == pytest.approx(loss, rel=1e-13)
    model.bn_mean_[0][:] += 1.0
    assert gradient_curvature(model, X, y).loss == pytest.approx(loss, rel=1e-13)


def test_a_large_batch_split_into_row_shards_gives_the_whole_batch_result():
    # 2,000 rows and 74 units: two shards of 1,000 rows (Objective's threshold),
    # evaluated on two threads where the machine has them
    rng = np.random.RandomState(5)
    X = rng.randn(2000, 8)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0)
    model = _fit(MLPClassifier((64,), max_iter=2, random_state=0), X, y)
    with _training_objective(model, X, y, None) as (objective, theta):
        assert objective._row_shards is not None
        measured = gradient_curvature(model, X, y)
    network, Y = model._network, np.eye(3)[y]
    grad = np.empty_like(theta)
    loss, _ = network.loss_grad(theta, X, Y, None, model.alpha / len(X), grad)
    curvature = grad @ network.hvp(theta, grad, X, Y, None, model.alpha / len(X))
    assert measured.loss == pytest.approx(loss, rel=1e-13)
    assert measured.gTg == pytest.approx(grad @ grad, rel=1e-12)
    assert measured.gTHg == pytest.approx(curvature, rel=1e-10)

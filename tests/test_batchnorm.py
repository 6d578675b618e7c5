"""Batch normalization against the lecture's formulas, written out independently.

The reference below transcribes the lecture (Ioffe & Szegedy, Algorithm 1) and the
chain rule through its computational graph step by step (through sigma^2, then mu,
then x), with 1/m replaced by w_i / sum(w) for sample weights. skopt_nn is only
asked for its result.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.special import expit, log_softmax, softmax
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import skopt_nn._mlp
from skopt_nn import BatchNorm, MLPClassifier, MLPRegressor
from skopt_nn._network import Network
from skopt_nn._objective import Objective
from skopt_nn.solvers import SGD, Momentum, Nesterov, Solver
from skopt_nn.solvers._base import SOLVER_ALIASES

EPS = 1e-5

ACT = {
    "tanh": np.tanh,
    "logistic": expit,
    "relu": lambda z: np.maximum(z, 0),
    "identity": lambda z: z,
}
ACT_PRIME = {  # derivative at the pre-activation z
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "logistic": lambda z: expit(z) * (1 - expit(z)),
    "relu": lambda z: (z > 0).astype(float),
    "identity": np.ones_like,
}
OUT = {"softmax": lambda z: softmax(z, axis=1), "logistic": expit,
       "identity": lambda z: z}


# ----------------------------------------------------------------- reference
def reference(params, X, Y, w, activation, out, alpha, eps=EPS):
    """Training-mode loss, gradients and batch statistics from the lecture.

    ``params`` is ``(coefs, intercepts, gammas, betas)`` (lists of arrays).
    Returns ``loss, grads`` (same structure as params) and ``(mus, variances)``.
    """
    coefs, intercepts, gammas, betas = params
    n = X.shape[0]
    p = np.full(n, 1.0 / n) if w is None else w / w.sum()  # weight of row i in 1/m sum
    total = n if w is None else w.sum()
    act, prime = ACT[activation], ACT_PRIME[activation]
    cache, a = [], X
    for k in range(len(coefs) - 1):
        x = a @ coefs[k] + intercepts[k]
        mu = p @ x                                    # minibatch mean
        var = p @ (x - mu) ** 2                       # minibatch (biased) variance
        xhat = (x - mu) / np.sqrt(var + eps)          # normalize
        y = gammas[k] * xhat + betas[k]               # scale and shift
        cache.append((a, x, mu, var, xhat, y))
        a = act(y)
    logits = a @ coefs[-1] + intercepts[-1]
    if out == "softmax":
        per_sample = -(Y * log_softmax(logits, axis=1)).sum(axis=1)
    elif out == "logistic":
        per_sample = (np.logaddexp(0, logits) - Y * logits).sum(axis=1)
    else:
        per_sample = 0.5 * ((logits - Y) ** 2).sum(axis=1)
    loss = p @ per_sample + alpha / (2 * total) * sum((W ** 2).sum() for W in coefs)

    g_coefs, g_intercepts = [None] * len(coefs), [None] * len(coefs)
    g_gammas, g_betas = [None] * len(gammas), [None] * len(gammas)
    d_out = p[:, None] * (OUT[out](logits) - Y)
    g_coefs[-1] = a.T @ d_out + alpha / total * coefs[-1]
    g_intercepts[-1] = d_out.sum(axis=0)
    da = d_out @ coefs[-1].T
    for k in range(len(coefs) - 2, -1, -1):
        a_in, x, mu, var, xhat, y = cache[k]
        dy = da * prime(y)
        g_gammas[k] = (dy * xhat).sum(axis=0)
        g_betas[k] = dy.sum(axis=0)
        dxhat = dy * gammas[k]
        dvar = (dxhat * (x - mu)).sum(axis=0) * -0.5 * (var + eps) ** -1.5
        dmu = -dxhat.sum(axis=0) / np.sqrt(var + eps) + dvar * (-2 * p @ (x - mu))
        dx = (dxhat / np.sqrt(var + eps) + dvar * 2 * p[:, None] * (x - mu)
              + dmu * p[:, None])
        g_coefs[k] = a_in.T @ dx + alpha / total * coefs[k]
        g_intercepts[k] = dx.sum(axis=0)
        da = dx @ coefs[k].T
    stats = ([c[2] for c in cache], [c[3] for c in cache])
    return loss, (g_coefs, g_intercepts, g_gammas, g_betas), stats


def split(flat, units):
    """The documented layout: W_0, b_0, ..., W_L, b_L, gamma_0, beta_0, ..."""
    shapes = []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        shapes += [(fan_in, fan_out), (fan_out,)]
    for u in units[1:-1]:
        shapes += [(u,), (u,)]
    views, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[start:start + size].reshape(shape))
        start += size
    assert start == flat.size
    n = 2 * (len(units) - 1)
    return views[0:n:2], views[1:n:2], views[n::2], views[n + 1::2]


def flatten(parts):
    """Inverse of ``split``: ``(coefs, intercepts, gammas, betas)`` to one vector."""
    coefs, intercepts, gammas, betas = parts
    layers = [v for pair in zip(coefs, intercepts) for v in pair]
    bn = [v for pair in zip(gammas, betas) for v in pair]
    return np.concatenate([v.ravel() for v in layers + bn])


def random_problem(out, n=12, units=(4, 5, 3, 3), seed=0):
    """A network with random parameters (gamma, beta not at their initial 1, 0)."""
    rng = np.random.default_rng(seed)
    network = Network(list(units), "tanh", out, EPS)
    theta = rng.normal(scale=0.7, size=network.n_params)
    _, _, gammas, _ = split(theta, units)
    for g in gammas:
        g += 1.0
    X = rng.normal(size=(n, units[0]))
    if out == "softmax":
        Y = np.eye(units[-1])[rng.integers(units[-1], size=n)]
    else:
        Y = rng.normal(size=(n, units[-1]))
    w = rng.integers(1, 4, size=n).astype(float)
    return network, theta, X, Y, w


# ------------------------------------------------------- training mode: exact
@pytest.mark.parametrize("out", ["softmax", "identity"])
@pytest.mark.parametrize("weighted", [False, True])
def test_train_forward_matches_lecture_formulas(out, weighted):
    network, theta, X, Y, w = random_problem(out)
    w = w if weighted else None
    units = network.layer_units
    loss, _, (mus, variances) = reference(split(theta, units), X, Y, w, "tanh", out, 0.3)
    objective = Objective(network, alpha=0.3).set_batch(X, Y, w)
    assert objective(theta)[0] == pytest.approx(loss, rel=1e-13)
    ws = network.forward_train(theta, X, None if w is None else w / w.sum())
    for k in range(len(mus)):
        np.testing.assert_allclose(ws["bn_mean"][k], mus[k], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ws["bn_var"][k], variances[k], rtol=1e-12)


@pytest.mark.parametrize("out", ["softmax", "identity"])
@pytest.mark.parametrize("weighted", [False, True])
def test_train_gradient_matches_lecture_backward(out, weighted):
    network, theta, X, Y, w = random_problem(out)
    w = w if weighted else None
    _, grads, _ = reference(split(theta, network.layer_units), X, Y, w, "tanh", out,
                            0.3)
    _, grad = Objective(network, alpha=0.3).set_batch(X, Y, w)(theta)
    np.testing.assert_allclose(grad, flatten(grads), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("out", ["softmax", "identity"])
@pytest.mark.parametrize("weighted", [False, True])
def test_train_gradient_matches_central_differences(out, weighted):
    network, theta, X, Y, w = random_problem(out)
    objective = Objective(network, alpha=0.3).set_batch(X, Y, w if weighted else None)
    _, grad = objective(theta)
    h = 1e-5  # error of the differences here: ~1e-10 relative
    fd = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        fd[j] = (objective(theta + e)[0] - objective(theta - e)[0]) / (2 * h)
    assert np.linalg.norm(fd - grad) <= 1e-6 * np.linalg.norm(grad)
    # gamma and beta on their own, so that their small block cannot hide
    units = network.layer_units
    for g_part, fd_part in zip(split(grad, units)[2:], split(fd, units)[2:]):
        for g, f in zip(g_part, fd_part):
            assert np.linalg.norm(f - g) <= 1e-6 * np.linalg.norm(g)


def test_integer_weights_equal_repeated_rows_in_training():
    network, theta, X, Y, w = random_problem("softmax")
    repeat = w.astype(int)
    loss_w, grad_w = Objective(network, alpha=0.3).set_batch(X, Y, w)(theta)
    loss_r, grad_r = Objective(network, alpha=0.3).set_batch(
        np.repeat(X, repeat, axis=0), np.repeat(Y, repeat, axis=0))(theta)
    assert loss_w == pytest.approx(loss_r, rel=1e-13)
    np.testing.assert_allclose(grad_w, grad_r, rtol=1e-10, atol=1e-14)


def test_zero_weight_row_is_absent_in_training():
    network, theta, X, Y, w = random_problem("softmax")
    w[[2, 7]] = 0
    keep = w > 0
    loss_w, grad_w = Objective(network, alpha=0.3).set_batch(X, Y, w)(theta)
    loss_k, grad_k = Objective(network, alpha=0.3).set_batch(X[keep], Y[keep],
                                                             w[keep])(theta)
    assert loss_w == pytest.approx(loss_k, rel=1e-13)
    np.testing.assert_allclose(grad_w, grad_k, rtol=1e-10, atol=1e-14)


def test_initial_scale_is_one_and_shift_zero():
    """gamma starts at 1 and beta at 0 (the transform starts as the plain
    normalization), and the layers' weights are drawn as without batch
    normalization."""
    units = [5, 7, 6, 3]
    plain = Network(units, "tanh", "softmax").initialize(
        np.random.RandomState(0), np.float64)
    network = Network(units, "tanh", "softmax", batch_norm_epsilon=EPS)
    theta = network.initialize(np.random.RandomState(0), np.float64)
    _, _, gammas, betas = split(theta, units)  # (the documented layout)
    assert [g.shape for g in gammas] == [b.shape for b in betas] == [(7,), (6,)]
    for g, b in zip(gammas, betas):
        np.testing.assert_array_equal(g, 1.0)
        np.testing.assert_array_equal(b, 0.0)
    np.testing.assert_array_equal(theta[:plain.size], plain)


def test_one_row_batch_outputs_beta_and_trains_only_later_layers():
    network, theta, X, Y, _ = random_problem("softmax")
    units = network.layer_units
    _, _, gammas, betas = split(theta, units)
    ws = network.forward_train(theta, X[:1], None)
    np.testing.assert_allclose(ws["act"][0], np.tanh(betas[0])[None, :], rtol=1e-15)
    np.testing.assert_allclose(ws["act"][1], np.tanh(betas[1])[None, :], rtol=1e-15)
    _, grad = Objective(network).set_batch(X[:1], Y[:1])(theta)
    g_coefs, g_intercepts, g_gammas, g_betas = split(grad, units)
    assert np.isfinite(grad).all()
    # exactly zero before the last normalization (its output is beta_1 whatever
    # its input), and for every gamma (every x_hat is 0)
    for part in (g_coefs[0], g_intercepts[0], g_betas[0], g_coefs[1],
                 g_intercepts[1], *g_gammas):
        assert not part.any()
    assert g_betas[1].any() and g_coefs[2].any()


# ----------------------------------------------------------------- inference
def manual_forward(est, X):
    """predict from the fitted attributes only, with the lecture's inference
    transform y = gamma/sqrt(V+eps) x + (beta - gamma E/sqrt(V+eps)).

    Returns the hidden pre-activations (before BN) and the output activations.
    """
    eps = est.batch_norm.epsilon if isinstance(est.batch_norm, BatchNorm) else 1e-5
    act = ACT[est.activation]
    a, pre = X, []
    for W, b, gamma, beta, E, V in zip(est.coefs_, est.intercepts_, est.bn_gamma_,
                                       est.bn_beta_, est.bn_mean_, est.bn_var_):
        x = a @ W + b
        pre.append(x)
        scale = gamma / np.sqrt(V + eps)
        a = act(scale * x + (beta - scale * E))
    return pre, OUT[est.out_activation_](a @ est.coefs_[-1] + est.intercepts_[-1])


def classification_data(n=60, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 0.8) * (
        n_classes - 2)
    return X, y


def regression_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


def bn_classifier(**params):
    defaults = dict(hidden_layer_sizes=(7, 6), activation="tanh",
                    solver=Momentum(learning_rate=0.05), batch_norm=BatchNorm(),
                    max_iter=8, random_state=0)
    return MLPClassifier(**{**defaults, **params})


def fit_quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def assert_one_batch_statistics(est, X, w=None, kish=False):
    """bn_mean_/bn_var_ are the (weighted) mean and unbiased variance of the
    training rows' pre-activations, layers before in inference mode: m/(m-1)
    with m the weights' sum (frequency weights), or Kish's effective rows."""
    pre, _ = manual_forward(est, X)
    w = np.ones(len(X)) if w is None else w
    m = w.sum() ** 2 / (w @ w) if kish else w.sum()
    for x, E, V in zip(pre, est.bn_mean_, est.bn_var_):
        mean = w @ x / w.sum()
        np.testing.assert_allclose(E, mean, rtol=1e-10, atol=1e-12)
        biased = w @ (x - mean) ** 2 / w.sum()
        np.testing.assert_allclose(V, m / (m - 1) * biased, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_one_batch_fit_statistics_are_mean_and_unbiased_variance(weighted):
    X, y = classification_data()
    w = np.random.default_rng(1).integers(1, 4, size=len(X)).astype(float)
    w = w if weighted else None
    est = fit_quiet(bn_classifier(batch_size=len(X)), X, y, sample_weight=w)
    assert_one_batch_statistics(est, X, w)


@pytest.mark.parametrize("weights", ["integers", "uniform"])
def test_fit_with_integer_weights_equals_fit_on_repeated_rows(weights):
    X, y = classification_data()
    rng = np.random.default_rng(1)
    w = rng.integers(1, 4, size=len(X)) if weights == "integers" else np.full(len(X), 2)
    weighted = fit_quiet(bn_classifier(), X, y, sample_weight=w.astype(float))
    repeated = fit_quiet(bn_classifier(), np.repeat(X, w, axis=0), np.repeat(y, w))
    for a, b in zip(weighted.bn_mean_ + weighted.bn_var_,
                    repeated.bn_mean_ + repeated.bn_var_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-9)


def test_partial_fit_with_integer_weights_equals_partial_fit_on_repeated_rows():
    # the running statistics count frequency weights as rows: m = sum(w) in
    # Var[x]'s m / (m - 1), as fit's statistics do. One minibatch: no shuffling
    X, y = classification_data()
    w = np.random.default_rng(1).integers(1, 4, size=len(X))
    params = dict(solver=SGD(learning_rate=0.1), batch_size=w.sum())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Got `batch_size` larger than sample size")
        weighted = bn_classifier(**params).partial_fit(
            X, y, classes=np.unique(y), sample_weight=w.astype(float))
    repeated = bn_classifier(**params).partial_fit(
        np.repeat(X, w, axis=0), np.repeat(y, w), classes=np.unique(y))
    for a, b in zip(weighted.bn_mean_ + weighted.bn_var_ + weighted.coefs_,
                    repeated.bn_mean_ + repeated.bn_var_ + repeated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def _fit_or_partial_fit(est, method, X, y, **kwargs):
    if method == "partial_fit":
        return est.partial_fit(X, y, classes=np.unique(y), **kwargs)
    return fit_quiet(est, X, y, **kwargs)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_weights_normalized_to_sum_to_one_count_their_effective_rows(
        method):
    # weights normalized to sum to one (AdaBoost's): m = sum(w) <= 1 leaves
    # m/(m-1) undefined, and every minibatch was left out of Var[x], bn_var_
    # stayed 1 (accuracy 0.895 against 0.952). Kish's effective rows of equal
    # weights are the rows: the statistics of unweighted rows (alpha=0: the
    # penalty alone depends on the weights' scale)
    X, y = classification_data()  # 60 rows: 3 minibatches of 20
    params = dict(batch_size=20, alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        weighted = _fit_or_partial_fit(bn_classifier(**params), method, X, y,
                                       sample_weight=np.full(len(X), 1 / len(X)))
    plain = _fit_or_partial_fit(bn_classifier(**params), method, X, y)
    for a, b in zip(weighted.bn_mean_ + weighted.bn_var_, plain.bn_mean_ + plain.bn_var_):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    assert not np.allclose(plain.bn_var_[0], 1.0)


@pytest.mark.parametrize("normalized", [False, True])
def test_fractional_weights_take_kish_effective_rows(normalized):
    # m = (sum w)^2 / sum w^2 in m/(m-1), by hand from the pre-activations,
    # whatever the weights' total (integer weights: test_one_batch_fit_...)
    X, y = classification_data()
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(X))
    w = w / w.sum() if normalized else w
    est = fit_quiet(bn_classifier(batch_size=len(X)), X, y, sample_weight=w)
    assert_one_batch_statistics(est, X, w, kish=True)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("total", [1.0, 1.9999999999999982, 2.0000000000000004, 3.0,
                                   1.5e-198])
def test_fractional_weights_give_statistics_that_do_not_depend_on_their_scale(
        method, total):
    # AdaBoost's first weights on iris, one minibatch: 150 times 1/150 sums to
    # 1 + 2e-16, and m/(m-1) made bn_var_ 1e16 (accuracy 0.33) without a
    # warning; a sum of 2 rounded either way jumped m/(m-1) from about 1 to 2
    # (accuracy 0.867 for 0.987). Fractional weights of any total now count
    # their effective rows, as unweighted rows (weights of 1e-200, whose squares
    # underflow, raised ZeroDivisionError)
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    w = np.full(len(X), total / len(X))
    assert total != 1.0 or w.sum() > 1  # (the rounding of AdaBoost's weights)
    params = dict(batch_size=len(X), alpha=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        weighted = _fit_or_partial_fit(bn_classifier(**params), method, X, y,
                                       sample_weight=w)
    plain = _fit_or_partial_fit(bn_classifier(**params), method, X, y)
    for a, b in zip(weighted.bn_mean_ + weighted.bn_var_, plain.bn_mean_ + plain.bn_var_):
        np.testing.assert_allclose(a, b, rtol=1e-9)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_weights_whose_squares_overflow_still_measure_the_spread(method):
    # half the rows of weight 0.5, half 1e200: sum(w)^2 and w @ w overflowed,
    # their ratio was NaN, every minibatch counted as having no spread and
    # bn_var_ stayed 1, silently. The light rows count for nothing, as they
    # do with 1e10 for the heavy weight
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    light = np.arange(len(X)) % 2 == 0
    params = dict(batch_size=len(X), alpha=0.0)
    fits = [_fit_or_partial_fit(bn_classifier(**params), method, X, y,
                                sample_weight=np.where(light, 0.5, heavy))
            for heavy in (1e10, 1e200)]
    assert not np.allclose(fits[1].bn_var_[0], 1.0)
    for a, b in zip(fits[0].bn_mean_ + fits[0].bn_var_,
                    fits[1].bn_mean_ + fits[1].bn_var_):
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_balanced_class_weights_on_small_minibatches_do_not_warn():
    # the frequency-weights warning fired on class_weight='balanced' (weights
    # 0.97-1.07, sums of 9.77 per 10 rows) and asked for what 'balanced' gives
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_quiet(bn_classifier(batch_size=10, class_weight="balanced"), X[5:], y[5:])


@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
def test_predict_equals_lecture_inference_transform_from_attributes(problem):
    if problem == "regression":
        X, y = regression_data()
        est = fit_quiet(MLPRegressor(hidden_layer_sizes=(7, 6), activation="relu",
                                     solver=SGD(learning_rate=0.05), batch_size=16,
                                     batch_norm=BatchNorm(epsilon=1e-3),
                                     max_iter=8, random_state=0), X, y)
        np.testing.assert_allclose(est.predict(X), manual_forward(est, X)[1].ravel(),
                                   rtol=1e-12, atol=1e-14)
        return
    X, y = classification_data(n_classes=3 if problem == "multiclass" else 2)
    est = fit_quiet(bn_classifier(batch_size=16), X, y)
    P = manual_forward(est, X)[1]
    P = np.hstack([1 - P, P]) if problem == "binary" else P
    np.testing.assert_allclose(est.predict_proba(X), P, rtol=1e-12, atol=1e-15)


def test_single_row_predict_equals_its_row_in_a_batch():
    X, y = classification_data()
    est = fit_quiet(bn_classifier(batch_size=16), X, y)
    batched = est.predict_proba(X[:10])
    for i in range(10):
        np.testing.assert_allclose(est.predict_proba(X[i:i + 1])[0], batched[i],
                                   rtol=1e-13, atol=1e-16)


def minibatch_averages(x, batch_rows, w=None):
    """E[x] and Var[x] over consecutive minibatches: each minibatch's mean
    weighted by its rows m_B, its unbiased variance by m_B - 1. With frequency
    weights ``w``, m_B is the minibatch's weight, and its mean and variance
    (m_B / (m_B - 1) times the biased one) are weighted."""
    w = np.ones(len(x)) if w is None else w
    batches = [(x[s:s + batch_rows], w[s:s + batch_rows])
               for s in range(0, len(x), batch_rows)]
    m = np.array([wb.sum() for _, wb in batches])
    means = [np.average(xb, axis=0, weights=wb) for xb, wb in batches]
    variances = [wb @ (xb - mu) ** 2 / (m_b - 1)
                 for (xb, wb), mu, m_b in zip(batches, means, m) if m_b > 1]
    return (np.average(means, axis=0, weights=m),
            np.average(variances, axis=0, weights=m[m > 1] - 1))


def lecture_averages(x, batch_rows):
    """The lecture's E_B[mu_B] and E_B[m/(m-1) sigma_B^2], for equal minibatches."""
    batches = [x[s:s + batch_rows] for s in range(0, len(x), batch_rows)]
    assert len({len(b) for b in batches}) == 1
    m = batch_rows
    E = np.mean([b.mean(axis=0) for b in batches], axis=0)
    V = np.mean([m / (m - 1) * b.var(axis=0) for b in batches], axis=0)
    return E, V


# minibatches of 16 rows: all equal, a last one of 2 rows, of 1
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n_samples", [48, 50, 49])
def test_multi_batch_fit_statistics_average_the_training_minibatches(n_samples,
                                                                      shuffle):
    """A short last minibatch weighs by its size: a remainder of one row made
    half of E[x] when every minibatch counted the same (with batch_size="auto"
    and 201 rows; test accuracy on digits fell from 0.92 to 0.80 with 202).
    The minibatches are the first epoch's, shuffled with shuffle=True."""
    X, y = classification_data(n=n_samples)
    est = fit_quiet(bn_classifier(batch_size=16, shuffle=shuffle), X, y)
    order = first_epoch_order(X, y, batch_size=16) if shuffle else np.arange(n_samples)
    assert shuffle == (not np.array_equal(order, np.arange(n_samples)))
    pre, _ = manual_forward(est, X)
    for x, E, V in zip(pre, est.bn_mean_, est.bn_var_):
        E_ref, V_ref = minibatch_averages(x[order], 16)
        np.testing.assert_allclose(E, E_ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(V, V_ref, rtol=1e-10)
        # that is, E[x] is the mean of all the rows
        np.testing.assert_allclose(E, x.mean(axis=0), rtol=1e-10, atol=1e-12)
        if n_samples % 16 == 0:
            E_ref, V_ref = lecture_averages(x[order], 16)
            np.testing.assert_allclose(E, E_ref, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(V, V_ref, rtol=1e-12)


def test_weighted_shuffled_fit_statistics_keep_each_row_with_its_weight():
    """The statistics pass takes the rows in the first epoch's shuffled order,
    and their weights in the same order (with the weights in their stored
    order, a review measured E[x] 0.015 off in a fit on digits)."""
    X, y = classification_data(n=64)
    w = np.random.default_rng(3).integers(1, 5, size=len(X)).astype(float)
    params = dict(batch_size=16, shuffle=True)
    est = fit_quiet(bn_classifier(**params), X, y, sample_weight=w)
    order = first_epoch_order(X, y, sample_weight=w, **params)
    assert not np.array_equal(order, np.arange(len(X)))
    pre, _ = manual_forward(est, X)
    for x, E, V in zip(pre, est.bn_mean_, est.bn_var_):
        E_ref, V_ref = minibatch_averages(x[order], 16, w[order])
        np.testing.assert_allclose(E, E_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(V, V_ref, rtol=1e-12)
        # E[x] is the weighted mean of all the rows
        np.testing.assert_allclose(E, np.average(x, axis=0, weights=w),
                                   rtol=1e-12, atol=1e-14)


def test_warm_started_statistics_are_those_of_one_longer_fit():
    """A warm start continues one longer fit: its statistics come from that
    fit's first epoch too (found by a review: each call took its own)."""
    X, y = classification_data(n=60)
    warm = fit_quiet(bn_classifier(batch_size=16, warm_start=True, max_iter=3), X, y)
    fit_quiet(warm.set_params(max_iter=4), X, y)
    once = fit_quiet(bn_classifier(batch_size=16, max_iter=7), X, y)
    np.testing.assert_array_equal(warm._theta, once._theta)
    for a, b in zip(warm.bn_mean_ + warm.bn_var_, once.bn_mean_ + once.bn_var_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(warm.predict_proba(X), once.predict_proba(X))


def first_epoch_order(X, y, sample_weight=None, **params):
    """The rows' order in the first epoch of bn_classifier(**params).fit(X, y,
    sample_weight) (kept with warm_start)."""
    return fit_quiet(bn_classifier(**{**params, "max_iter": 1, "warm_start": True}),
                     X, y, sample_weight=sample_weight)._epoch_order


def test_statistics_of_sorted_rows_come_from_the_shuffled_minibatches():
    """Rows sorted by class (iris, as shipped), taken in their stored order,
    make minibatches of one class each: their pooled variance is the variance
    within a class, about a tenth of a shuffled minibatch's, and the training
    accuracy with such statistics fell from 0.97 to 0.77 (reported in a
    review). The statistics are those of minibatches training drew."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(hidden_layer_sizes=(8,), batch_size=50, max_iter=30,
                  solver=Momentum(learning_rate=0.05), random_state=0)
    est = fit_quiet(bn_classifier(**params), X, y)
    (x,), _ = manual_forward(est, X)
    _, V_shuffled = minibatch_averages(x[first_epoch_order(X, y, **params)], 50)
    _, V_sorted = minibatch_averages(x, 50)
    np.testing.assert_allclose(est.bn_var_[0], V_shuffled, rtol=1e-10)
    assert np.median(V_sorted / V_shuffled) < 0.5  # (the test can tell them apart)
    # shuffle=False trains on the stored order: its statistics are that order's
    est = fit_quiet(bn_classifier(shuffle=False, **params), X, y)
    (x,), _ = manual_forward(est, X)
    np.testing.assert_allclose(est.bn_var_[0], minibatch_averages(x, 50)[1],
                               rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_bytes, keep_bytes", [(1, 1 << 26), (1, 0), (1 << 22, 0)])
def test_statistics_pass_in_blocks_gives_the_statistics_of_all_rows_at_once(
        monkeypatch, weighted, block_bytes, keep_bytes):
    # blocks of one minibatch (the last, of one row, joins the one before) or
    # all rows in one block; the activations of all rows kept for the next
    # layer, or recomputed per block from X; against a direct computation
    from skopt_nn import _batchnorm

    rng = np.random.default_rng(0)
    X = rng.standard_normal((101, 5))
    w = rng.integers(1, 4, 101).astype(float) if weighted else None
    net = Network([5, 7, 6, 4, 3], "tanh", "softmax", batch_norm_epsilon=1e-5)
    theta = net.initialize(np.random.RandomState(0), np.float64)
    coefs, intercepts, gammas, betas = net.unpack(theta)
    for g, b in zip(gammas, betas):  # not the identity transform
        g[...] = rng.uniform(0.5, 2, g.shape)
        b[...] = rng.standard_normal(b.shape)
    monkeypatch.setattr(_batchnorm, "_STATISTICS_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_batchnorm, "_STATISTICS_KEEP_BYTES", keep_bytes)
    means, variances, counts = _batchnorm.population_statistics(net, theta, X, w, 10)
    # the rows (weight), and the degrees of freedom: the last minibatch, of
    # one row, enters the means only, whatever its weight (one row has no
    # spread; with a weight of 2 or 3 it entered V as a zero)
    total = 101 if w is None else w.sum()
    last = 1 if w is None else w[100]
    assert counts == (total, total - 10 - last)
    a = X
    for k in range(3):
        z = a @ coefs[k] + intercepts[k]
        batches = [slice(s, s + 10) for s in range(0, 101, 10)]
        mu, var, m_mu, m_var = [], [], [], []
        for rows in batches:
            s = None if w is None else w[rows] / w[rows].sum()
            m = len(z[rows]) if w is None else w[rows].sum()
            mu.append(np.average(z[rows], axis=0, weights=s))
            m_mu.append(m)
            if m > 1 and len(z[rows]) > 1:
                var.append(m / (m - 1) * np.average((z[rows] - mu[-1]) ** 2, axis=0,
                                                    weights=s))
                m_var.append(m - 1)
        np.testing.assert_allclose(means[k], np.average(mu, axis=0, weights=m_mu),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(variances[k],
                                   np.average(var, axis=0, weights=m_var), rtol=1e-12)
        a = np.tanh(gammas[k] * (z - means[k]) / np.sqrt(variances[k] + 1e-5)
                    + betas[k])
    # and the same bits whichever way the pass goes
    monkeypatch.setattr(_batchnorm, "_STATISTICS_BLOCK_BYTES", 1 << 22)
    monkeypatch.setattr(_batchnorm, "_STATISTICS_KEEP_BYTES", 1 << 26)
    reference = _batchnorm.population_statistics(net, theta, X, w, 10)
    for got, expected in zip(means + variances, reference[0] + reference[1]):
        np.testing.assert_array_equal(got, expected)


def test_batch_norm_without_hidden_layers_fits_and_has_no_statistics():
    # the statistics pass took the widest of no hidden layers and raised
    X, y = classification_data()
    with pytest.warns(UserWarning, match="batch_norm has no effect"):
        est = fit_quiet(MLPClassifier((), batch_norm=True, max_iter=3,
                                      random_state=0), X, y)
    assert est.bn_mean_ == [] and est.bn_var_ == []
    plain = fit_quiet(MLPClassifier((), max_iter=3, random_state=0), X, y)
    np.testing.assert_array_equal(est.predict_proba(X), plain.predict_proba(X))


def test_statistics_pass_memory_does_not_grow_with_the_rows(monkeypatch):
    # it held every layer's activations of all rows: 512 MB for 60000 rows of
    # (512, 512) units. Beyond a budget (here 0), they are recomputed per block
    import tracemalloc

    from skopt_nn import _batchnorm
    from skopt_nn._batchnorm import population_statistics

    monkeypatch.setattr(_batchnorm, "_STATISTICS_KEEP_BYTES", 0)
    X = np.random.default_rng(0).standard_normal((20_000, 20))
    net = Network([20, 256, 256, 2], "relu", "softmax", batch_norm_epsilon=1e-5)
    theta = net.initialize(np.random.RandomState(0), np.float64)
    tracemalloc.start()
    try:
        population_statistics(net, theta, X, None, 200)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000 * 256 * 8 / 2  # half of one layer's activations (41 MB)


@pytest.mark.parametrize("flag", [True, np.True_, False, np.False_])
def test_batch_norm_flags_include_numpy_booleans(flag):
    # a grid over np.array([False, True]) passes numpy booleans
    X, y = classification_data()
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est = fit_quiet(MLPClassifier(batch_norm=flag, **params), X, y)
    assert hasattr(est, "bn_mean_") is bool(flag)
    reference = fit_quiet(MLPClassifier(batch_norm=bool(flag), **params), X, y)
    np.testing.assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


def test_one_row_training_batches_warn():
    X, y = classification_data(n=8)
    with pytest.warns(UserWarning, match="minibatches of one row"):
        fit_quiet(bn_classifier(batch_size=1, max_iter=1), X, y)


# --------------------------------------------------------------- partial_fit
def hand_partial_fit(est, solver, X, Y, batch_rows, momentum):
    """Continue ``est`` by hand: the solver's update (lecture) and the running
    statistics of each minibatch, recorded at the point the gradient is taken."""
    units = [est.n_features_in_, *[w.shape[1] for w in est.coefs_]]
    theta = flatten((est.coefs_, est.intercepts_, est.bn_gamma_, est.bn_beta_))
    v = est.solver_state_.get("velocity", np.zeros_like(theta)).copy()
    E = [m.copy() for m in est.bn_mean_]
    V = [m.copy() for m in est.bn_var_]
    for start in range(0, len(X), batch_rows):
        Xb, Yb = X[start:start + batch_rows], Y[start:start + batch_rows]
        m = len(Xb)
        point = theta + solver.momentum * v if isinstance(solver, Nesterov) else theta
        _, grads, (mus, variances) = reference(split(point, units), Xb, Yb, None,
                                               est.activation, "identity", est.alpha)
        if isinstance(solver, Nesterov):
            v = solver.momentum * v - solver.learning_rate * flatten(grads)
            theta = theta + v
        else:
            theta = theta - solver.learning_rate * flatten(grads)
        for k in range(len(E)):
            E[k] = (1 - momentum) * E[k] + momentum * mus[k]
            V[k] = (1 - momentum) * V[k] + momentum * m / (m - 1) * variances[k]
    return theta, E, V


@pytest.mark.parametrize("solver", [SGD(learning_rate=0.05),
                                    Nesterov(learning_rate=0.05, momentum=0.8)],
                         ids=["sgd", "nesterov"])
def test_partial_fit_running_statistics_follow_momentum_once_per_update(solver):
    X, y = regression_data(n=42)
    est = MLPRegressor(hidden_layer_sizes=(5, 4), activation="tanh", solver=solver,
                       batch_norm=BatchNorm(momentum=0.3), batch_size=8,
                       shuffle=False, alpha=1e-3, random_state=0)
    est.partial_fit(X[:16], y[:16])
    theta, E, V = hand_partial_fit(est, solver, X[16:], y[16:, None], 8, 0.3)
    est.partial_fit(X[16:], y[16:])  # minibatches of 8, 8, 8, 2 rows
    np.testing.assert_allclose(
        flatten((est.coefs_, est.intercepts_, est.bn_gamma_, est.bn_beta_)), theta,
        rtol=1e-10, atol=1e-13)
    for k in range(len(E)):
        np.testing.assert_allclose(est.bn_mean_[k], E[k], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(est.bn_var_[k], V[k], rtol=1e-10)


def test_partial_fit_minibatch_of_one_row_keeps_the_variance_estimate():
    """A minibatch of one row has no variance (m / (m - 1) is undefined):
    Var[x] keeps its estimate, and E[x] moves toward the row by ``momentum``."""
    X, y = regression_data(n=9)
    est = MLPRegressor(hidden_layer_sizes=(4,), solver=SGD(learning_rate=0.05),
                       batch_norm=BatchNorm(momentum=0.3), batch_size=8,
                       shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (the one-row warning)
        est.partial_fit(X[:8], y[:8])
        E, V = est.bn_mean_[0].copy(), est.bn_var_[0].copy()
        x = X[8] @ est.coefs_[0] + est.intercepts_[0]  # before the update
        est.partial_fit(X[8:], y[8:])
    np.testing.assert_array_equal(est.bn_var_[0], V)
    np.testing.assert_allclose(est.bn_mean_[0], 0.7 * E + 0.3 * x, rtol=1e-12)
    assert not np.allclose(est.bn_mean_[0], E)
    # nor has one row of weight 2: it counted as m = 2 of zero spread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est.partial_fit(X[8:], y[8:], sample_weight=[2.0])
    np.testing.assert_array_equal(est.bn_var_[0], V)


def test_one_row_minibatches_of_weight_two_add_no_variance_to_the_statistics():
    # bn_var_ was 0, and predictions, each layer scaled by 1/sqrt(eps), blew
    # up (inf with the Poisson loss); without weights it stays 1
    X, y = regression_data(n=40)
    w = np.ones(40)
    w[::4] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (the one-row warning)
        est = fit_quiet(MLPRegressor(hidden_layer_sizes=(4, 2), batch_norm=True,
                                     batch_size=1, max_iter=3, random_state=0),
                        X, y, sample_weight=w)
    for V in est.bn_var_:
        np.testing.assert_array_equal(V, 1.0)
    assert est._bn_counts == (w.sum(), 0.0)
    assert np.abs(est.predict(X)).max() < 10 * np.abs(y).max()


class EvaluateTwice(Solver):
    """Takes no step; evaluates at theta and then elsewhere, as a line search does."""

    def step(self, theta, objective, state):
        loss, _ = objective(theta)
        objective(1.5 * theta)
        state["step"] += 1
        return loss


def test_running_statistics_enter_once_per_update_from_first_evaluation():
    X, y = regression_data(n=24)
    est = MLPRegressor(hidden_layer_sizes=(5, 4), activation="tanh",
                       solver=EvaluateTwice(), batch_norm=BatchNorm(momentum=0.3),
                       batch_size=8, shuffle=False, random_state=0)
    with pytest.warns(UserWarning, match="parameters did not change"):
        est.partial_fit(X, y)  # 3 minibatches; the parameters never change
    params = (est.coefs_, est.intercepts_, est.bn_gamma_, est.bn_beta_)
    E = V = None
    for start in (0, 8, 16):
        _, _, (mus, variances) = reference(params, X[start:start + 8],
                                           y[start:start + 8, None], None, "tanh",
                                           "identity", est.alpha)
        if E is None:  # the first minibatch sets the estimate
            E, V = mus, [8 / 7 * v for v in variances]
        else:
            E = [0.7 * e + 0.3 * mu for e, mu in zip(E, mus)]
            V = [0.7 * e + 0.3 * 8 / 7 * v for e, v in zip(V, variances)]
    for k in range(2):
        np.testing.assert_allclose(est.bn_mean_[k], E[k], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(est.bn_var_[k], V[k], rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_without_momentum_keeps_cumulative_average(weighted):
    """Each minibatch enters with its weight's total m_B (frequency weights: its
    rows when unweighted) in E[x] and m_B - 1 in Var[x]."""
    X, y = regression_data(n=42)
    w = np.random.default_rng(2).integers(1, 5, size=len(X)).astype(float) \
        if weighted else np.ones(len(X))
    sw = w if weighted else None
    est = MLPRegressor(hidden_layer_sizes=(5, 4), activation="tanh",
                       solver=SGD(learning_rate=0.05), batch_size=8, shuffle=False,
                       batch_norm=BatchNorm(momentum=None), random_state=0)
    est.partial_fit(X[:16], y[:16], sample_weight=None if sw is None else sw[:16])
    units = [5, 5, 4, 1]
    theta = flatten((est.coefs_, est.intercepts_, est.bn_gamma_, est.bn_beta_))
    # sums weighted by m_B (means) and by m_B - 1 (variances, unbiased)
    totals = [w[s:s + 8].sum() for s in range(0, 16, 8)]
    sum_E = [sum(totals) * m for m in est.bn_mean_]
    sum_V = [sum(t - 1 for t in totals) * v for v in est.bn_var_]
    for start in range(16, 42, 8):
        Xb, Yb, wb = X[start:start + 8], y[start:start + 8, None], w[start:start + 8]
        m = wb.sum()
        _, grads, (mus, variances) = reference(
            split(theta, units), Xb, Yb, None if sw is None else wb, "tanh",
            "identity", est.alpha)
        theta = theta - 0.05 * flatten(grads)
        totals.append(m)
        for k in range(2):
            sum_E[k] = sum_E[k] + m * mus[k]
            sum_V[k] = sum_V[k] + (m - 1) * m / (m - 1) * variances[k]
    # 4 more minibatches, the last of 2 rows
    est.partial_fit(X[16:], y[16:], sample_weight=None if sw is None else sw[16:])
    assert len(totals) == 6
    for k in range(2):
        np.testing.assert_allclose(est.bn_mean_[k], sum_E[k] / sum(totals),
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(est.bn_var_[k],
                                   sum_V[k] / sum(t - 1 for t in totals), rtol=1e-10)


def test_partial_fit_divergence_keeps_running_statistics_finite_and_unchanged():
    X, y = regression_data(n=40)
    est = MLPRegressor(hidden_layer_sizes=(5,), solver=SGD(learning_rate=0.01),
                       batch_norm=True, batch_size=8, random_state=0)
    est.partial_fit(X, y)
    before = [m.copy() for m in est.bn_mean_ + est.bn_var_]
    est.set_params(solver=SGD(learning_rate=1e200))
    with pytest.warns(ConvergenceWarning, match="diverged"), \
            np.errstate(all="ignore"):
        est.partial_fit(X, 1e100 * y)
    for a, b in zip(est.bn_mean_ + est.bn_var_, before):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_whose_statistics_overflow_is_undone():
    # One finite row of 1e160: its pre-activations' squares overflow, so the
    # running variance becomes inf, then NaN, while the loss stays finite
    # (inv_std = 0 normalizes every unit to 0). A running average never washes
    # a NaN out again: the call must be undone, as a diverged one is.
    rng = np.random.RandomState(0)
    X, y = rng.randn(120, 5), rng.randint(0, 3, 120)
    est = bn_classifier(hidden_layer_sizes=(6,), solver=SGD(), batch_size=10,
                        shuffle=False)
    est.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    before = [a.copy() for a in [est._theta, *est.bn_mean_, *est.bn_var_]]
    proba = est.predict_proba(X)
    outlier = X[60:].copy()
    outlier[35] = 1e160
    with pytest.warns(ConvergenceWarning, match="batch-normalization statistics "
                      "no longer finite.*Scale the input features"), \
            np.errstate(all="ignore"):
        est.partial_fit(outlier, y[60:])
    for a, b in zip([est._theta, *est.bn_mean_, *est.bn_var_], before):
        np.testing.assert_array_equal(a, b)
    assert est.n_iter_ == 1
    np.testing.assert_array_equal(est.predict_proba(X), proba)


def test_fit_whose_statistics_overflow_raises_and_keeps_the_model():
    # float32 features on the scale of 3e19: every variance overflows, and the
    # model would predict one probability for every row
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = (X[:, 0] > 0).astype(int)
    est = fit_quiet(bn_classifier(hidden_layer_sizes=(8,), max_iter=5),
                    X.astype(np.float32), y)
    proba = est.predict_proba(X)
    with pytest.raises(ValueError, match="statistics of hidden layer 1 are not "
                       "finite .*float32.*fitted in float64"), \
            warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit((X * 3e19).astype(np.float32), y)
    np.testing.assert_array_equal(est.predict_proba(X), proba)


def test_statistics_blown_up_by_an_epochs_last_update_are_divergence():
    # With early stopping each epoch's statistics are computed for its
    # validation; an epoch's loss is measured before its last update, which
    # here blows the weights up: the fit raised the data's error
    rng = np.random.RandomState(0)
    X = rng.randn(150, 5).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = MLPClassifier((16,), batch_norm=True, early_stopping=True, max_iter=50,
                        random_state=0, solver=SGD(learning_rate=1e20))
    with pytest.warns(ConvergenceWarning, match="diverged in epoch .* batch-"
                      "normalization statistics no longer finite"), \
            np.errstate(all="ignore"):
        clf.fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
    for mean, var in zip(clf.bn_mean_, clf.bn_var_):
        assert np.isfinite(mean).all() and np.isfinite(var).all()


def test_pickled_estimator_continues_partial_fit_identically():
    X, y = classification_data()
    est = bn_classifier(solver=Momentum(learning_rate=0.05), batch_size=16,
                        shuffle=False)
    est.partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(copy.bn_gamma_[1], est.bn_gamma_[1])
    np.testing.assert_array_equal(copy.bn_var_[1], est.bn_var_[1])


# -------------------------------------------------------- fit configurations
@pytest.mark.parametrize("alias", SOLVER_ALIASES)
def test_every_solver_trains_and_gets_population_statistics(alias):
    X, y = classification_data()
    est = fit_quiet(bn_classifier(solver=alias, batch_size=len(X), max_iter=15),
                    X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert_one_batch_statistics(est, X)


def test_warm_start_recomputes_statistics_for_final_parameters():
    X, y = classification_data()
    est = fit_quiet(bn_classifier(batch_size=len(X), warm_start=True), X, y)
    first = est.coefs_[0].copy()
    fit_quiet(est, X, y)
    assert not np.allclose(est.coefs_[0], first)
    assert_one_batch_statistics(est, X)


def sorted_iris():
    X, y = load_iris(return_X_y=True)  # (stored sorted by class)
    return StandardScaler().fit_transform(X), y


# one batch; minibatches; minibatches of rows sorted by class, where statistics
# of the stored order once validated the starting parameters (within-class
# variances) and those of the last epoch's the epochs: the fit returned its
# starting parameters, and the model returned was not the one validated
@pytest.mark.parametrize("data, params", [
    (classification_data(n=120), dict(solver=SGD(learning_rate=0.5), max_iter=100)),
    (classification_data(n=120), dict(solver=SGD(learning_rate=0.5), max_iter=100,
                                      batch_size=20)),
    (sorted_iris(), dict(hidden_layer_sizes=(8,), batch_size=16, max_iter=40,
                         n_iter_no_change=5, validation_fraction=0.2, random_state=3)),
], ids=["one_batch", "minibatches", "sorted_rows"])
def test_early_stopping_statistics_match_restored_parameters(monkeypatch, data, params):
    held_out = []
    split_rows = skopt_nn._mlp.validation_split

    def spy(*args):
        mask = split_rows(*args)
        held_out.append(mask)
        return mask

    monkeypatch.setattr(skopt_nn._mlp, "validation_split", spy)
    X, y = data
    est = fit_quiet(bn_classifier(**{"early_stopping": True, "n_iter_no_change": 3,
                                     **params}), X, y)
    best_epoch = np.argmin([r["val_loss"] for r in est.history_]) + 1
    assert best_epoch < est.n_iter_  # the best parameters were restored
    train, val = ~held_out[0], held_out[0]
    if "batch_size" not in params:
        assert_one_batch_statistics(est, X[train])
    # the best epoch was validated with these statistics: same loss, same score
    P = est.predict_proba(X[val])
    val_loss = -np.mean(np.log(P[np.arange(val.sum()), y[val]]))
    assert val_loss == pytest.approx(est.history_[best_epoch - 1]["val_loss"],
                                     rel=1e-12)
    assert est.score(X[val], y[val]) == est.best_validation_score_


def test_float32_input_keeps_parameters_and_statistics_in_float32():
    X, y = classification_data()
    est = fit_quiet(bn_classifier(batch_size=16), X.astype(np.float32), y)
    for array in est.bn_gamma_ + est.bn_beta_ + est.bn_mean_ + est.bn_var_:
        assert array.dtype == np.float32
    # the folded layers too (predict and the ONNX export read them)
    coefs, intercepts = est._network.inference_layers(est._theta, est.bn_mean_,
                                                      est.bn_var_)
    for array in coefs + intercepts:
        assert array.dtype == np.float32
    P = est.predict_proba(X.astype(np.float32))
    assert P.dtype == np.float32
    np.testing.assert_allclose(P, manual_forward(est, X.astype(np.float64))[1],
                               rtol=1e-4, atol=1e-6)


def test_sparse_input_fits_as_dense():
    X, y = classification_data()
    X[np.abs(X) < 0.8] = 0
    dense = fit_quiet(bn_classifier(batch_size=16), X, y)
    csr = fit_quiet(bn_classifier(batch_size=16), sparse.csr_matrix(X), y)
    for a, b in zip(dense.bn_mean_ + dense.bn_var_, csr.bn_mean_ + csr.bn_var_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(csr.predict_proba(sparse.csr_matrix(X)),
                               dense.predict_proba(X), rtol=1e-10, atol=1e-14)


def test_epsilon_must_be_positive():
    X, y = classification_data()
    with pytest.raises(ValueError, match="epsilon"):
        bn_classifier(batch_norm=BatchNorm(epsilon=0.0)).fit(X, y)

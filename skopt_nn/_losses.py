"""Output activations and the losses paired with them.

Each output activation is paired with its canonical loss, so the gradient of the
loss with respect to the output pre-activation ``z`` is always ``p - y``:

============  ===================  =========================================
output        prediction ``p``     loss per sample
============  ===================  =========================================
``softmax``   softmax(z)           :math:`-\\sum_k y_k \\log p_k`
``logistic``  sigmoid(z)           :math:`-\\sum_k [y_k\\log p_k + (1-y_k)\\log(1-p_k)]`
``identity``  z                    :math:`\\tfrac12 \\sum_k (y_k - p_k)^2`
``exp``       exp(z)               :math:`\\sum_k [y_k \\log(y_k / p_k) - y_k + p_k]`
============  ===================  =========================================

(``exp`` with half the Poisson deviance: scikit-learn's ``loss="poisson"``.)

The losses are computed from the logits ``z`` (log-sum-exp, softplus), so they are
exact where clipping the probabilities would not be.
"""

import numpy as np
from scipy.special import expit, xlogy


def _row_max(z):
    """Each row's maximum, of shape (n, 1).

    NumPy reduces a short last axis slowly (5-10 ns per element, 10-22 us on a
    200x10 minibatch's logits). With a few columns, two elementwise forms are 3-8
    times faster: while the array fits in cache, the maximum over the rows of a
    contiguous transposed copy (3-6 us on 200x10); beyond, an elementwise maximum
    column by column. All three are exact, so they give the same result.
    """
    n_rows, n_columns = z.shape
    if n_columns > 32:
        return z.max(axis=1, keepdims=True)
    if n_rows * n_columns <= 32768:
        return np.ascontiguousarray(z.T).max(axis=0)[:, None]
    out = z[:, :1].copy()
    column = out[:, 0]
    for j in range(1, n_columns):
        np.maximum(column, z[:, j], out=column)
    return out


def _row_sums(a):
    """Each row's sum, of shape (n, 1): a product with ones (BLAS gemv), several
    times faster than ``sum(axis=1)`` on a few columns."""
    return (a @ np.ones(a.shape[1], dtype=a.dtype))[:, None]


def _softmax(z):
    z -= _row_max(z)
    np.exp(z, out=z)
    z /= _row_sums(z)
    return z


def _logistic(z):
    return expit(z, out=z)


def _identity(z):
    return z


def _exp(z):
    return np.exp(z, out=z)


OUTPUT_ACTIVATIONS = {"softmax": _softmax, "logistic": _logistic, "identity": _identity,
                      "exp": _exp}


def _softmax_loss_delta(z, y, delta):
    # One stable softmax serves both: loss_i = logsumexp(z_i) - z_i . y_i and
    # delta = softmax(z) - y (a general-purpose logsumexp would cost more than
    # the whole output layer on small minibatches).
    row_max = _row_max(z)
    np.subtract(z, row_max, out=delta)
    np.exp(delta, out=delta)
    sums = _row_sums(delta)
    loss = np.log(sums[:, 0])
    loss += row_max[:, 0]
    loss -= np.einsum("ij,ij->i", z, y)
    delta /= sums
    delta -= y
    return loss


def _logistic_loss_delta(z, y, delta):
    # log(1 + e^z) - y z, summed over outputs (binary and multilabel)
    loss = np.logaddexp(0, z)
    loss -= y * z
    expit(z, out=delta)
    delta -= y
    return loss.sum(axis=1)


def _squared_loss_delta(z, y, delta):
    np.subtract(z, y, out=delta)
    return 0.5 * np.einsum("ij,ij->i", delta, delta)


def _poisson_loss_delta(z, y, delta):
    # Half the Poisson deviance with the log link, from the logits, as
    # y (e^d - 1 - d) with d = z - log y (exp(z) where y = 0): the textbook
    # exp(z) - y z + y log y - y cancels terms of size y log y near the optimum
    # (counts of 1e6 in float32 kept none of a loss of 0.5).
    np.exp(z, out=delta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = z - np.log(y)
        # (z = +inf: e^d - d is inf - inf, a NaN; the loss is +inf)
        loss = np.where(y > 0, y * np.where(d < np.inf, np.expm1(d) - d, np.inf),
                        delta)
    delta -= y
    return loss.sum(axis=1)


# Per-sample loss from the output *logits* z, with dL/dz = p - y written into
# ``delta`` (an array of z's shape; it may not be z itself).
LOSS_AND_DELTA = {
    "softmax": _softmax_loss_delta,
    "logistic": _logistic_loss_delta,
    "identity": _squared_loss_delta,
    "exp": _poisson_loss_delta,
}


def _loss_only(loss_and_delta):
    return lambda z, y: loss_and_delta(z, y, np.empty_like(z))


# Per-sample loss from the output *logits* z.
LOSSES = {name: _loss_only(f) for name, f in LOSS_AND_DELTA.items()}


def constant_prediction_loss(out_activation, Y, sample_weight=None):
    r"""The mean loss of the best constant prediction, on rows ``Y``.

    The mean target :math:`\bar y` (weighted), whose loss is the entropy
    :math:`-\sum_k \bar y_k \log \bar y_k` (softmax), the sum of the outputs'
    binary entropies (logistic), half the sum of the outputs' variances
    (identity), or half the Poisson deviance of predicting :math:`\bar y`
    (exp): what any network can reach with its output bias alone.

    Examples
    --------
    >>> import numpy as np
    >>> round(constant_prediction_loss("softmax", np.eye(2)[[0, 1, 1, 1]]), 4)
    0.5623
    >>> constant_prediction_loss("identity", np.array([[0.0], [2.0]]))
    0.5
    """
    mean = np.average(Y, axis=0, weights=sample_weight)
    if out_activation == "identity":
        variances = np.average((Y - mean) ** 2, axis=0, weights=sample_weight)
        return 0.5 * float(variances.sum())
    if out_activation == "exp":  # the deviance of predicting the mean, in float64
        Y = np.asarray(Y, dtype=np.float64)
        if sample_weight is not None:  # (rows of weight 0 are absent: 0 x inf)
            kept = np.asarray(sample_weight) > 0
            Y, sample_weight = Y[kept], np.asarray(sample_weight)[kept]
        with np.errstate(divide="ignore"):  # (a mean of 0: z = -inf, loss 0)
            z = np.log(np.average(Y, axis=0, weights=sample_weight))
        per_row = _poisson_loss_delta(np.tile(z, (len(Y), 1)), Y, np.empty_like(Y))
        return float(np.average(per_row, weights=sample_weight))
    entropy = -xlogy(mean, mean)
    if out_activation == "logistic":
        entropy -= xlogy(1 - mean, 1 - mean)
    return float(entropy.sum())


def output_hessian_vector(out_activation, p, rz):
    """Multiply the Hessian of the per-sample loss w.r.t. the logits by ``rz``.

    Parameters
    ----------
    out_activation : {"softmax", "logistic", "identity", "exp"}
    p : ndarray of shape (n_samples, n_outputs)
        Output activations (probabilities or predictions).
    rz : ndarray of shape (n_samples, n_outputs) or (k, n_samples, n_outputs)
        Direction in logit space (or ``k`` directions; outputs on the last axis).

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        ``(diag(p) - p p^T) rz`` for softmax, ``p (1 - p) rz`` for logistic,
        ``p rz`` for exp and ``rz`` for identity.
    """
    if out_activation == "softmax":
        prz = p * rz
        return prz - p * prz.sum(axis=-1, keepdims=True)
    if out_activation == "logistic":
        return p * (1 - p) * rz
    if out_activation == "exp":
        return p * rz
    return rz.copy()

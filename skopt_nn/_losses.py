"""Output activations and the losses paired with them.

Each output activation is paired with its canonical loss, so the gradient of the
loss with respect to the output pre-activation ``z`` is always ``p - y``:

============  ===================  =========================================
output        prediction ``p``     loss per sample
============  ===================  =========================================
``softmax``   softmax(z)           :math:`-\\sum_k y_k \\log p_k`
``logistic``  sigmoid(z)           :math:`-\\sum_k y_k\\log p_k + (1-y_k)\\log(1-p_k)`
``identity``  z                    :math:`\\tfrac12 \\sum_k (y_k - p_k)^2`
============  ===================  =========================================

The losses are computed from the logits ``z`` (log-sum-exp, softplus), so they are
exact where clipping the probabilities would not be.
"""

import numpy as np
from scipy.special import expit, logsumexp


def _softmax(z):
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _logistic(z):
    return expit(z, out=z)


def _identity(z):
    return z


OUTPUT_ACTIVATIONS = {"softmax": _softmax, "logistic": _logistic, "identity": _identity}


def _softmax_loss(z, y):
    return logsumexp(z, axis=1) - np.einsum("ij,ij->i", z, y)


def _logistic_loss(z, y):
    # log(1 + e^z) - y z, summed over outputs (binary and multilabel)
    return (np.logaddexp(0, z) - y * z).sum(axis=1)


def _squared_loss(z, y):
    r = z - y
    return 0.5 * np.einsum("ij,ij->i", r, r)


# Per-sample loss from the output *logits* z.
LOSSES = {"softmax": _softmax_loss, "logistic": _logistic_loss, "identity": _squared_loss}


def output_hessian_vector(out_activation, p, rz):
    """Multiply the Hessian of the per-sample loss w.r.t. the logits by ``rz``.

    Parameters
    ----------
    out_activation : {"softmax", "logistic", "identity"}
    p : ndarray of shape (n_samples, n_outputs)
        Output activations (probabilities or predictions).
    rz : ndarray of shape (n_samples, n_outputs)
        Direction in logit space.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        ``(diag(p) - p p^T) rz`` for softmax, ``p (1 - p) rz`` for logistic and
        ``rz`` for identity.
    """
    if out_activation == "softmax":
        prz = p * rz
        return prz - p * prz.sum(axis=1, keepdims=True)
    if out_activation == "logistic":
        return p * (1 - p) * rz
    return rz.copy()

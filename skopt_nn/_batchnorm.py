r"""Batch normalization: configuration, training transform and inference statistics.

The lecture's transform over a minibatch :math:`\mathcal{B} = \{x_1, \dots, x_m\}`:

.. math::
    \mu_\mathcal{B} = \frac1m \sum_i x_i, \quad
    \sigma^2_\mathcal{B} = \frac1m \sum_i (x_i - \mu_\mathcal{B})^2, \quad
    \hat x_i = \frac{x_i - \mu_\mathcal{B}}{\sqrt{\sigma^2_\mathcal{B} + \epsilon}}, \quad
    y_i = \gamma \hat x_i + \beta.

With sample weights, :math:`\frac1m\sum_i` becomes the weighted mean
:math:`\sum_i w_i (\cdot) / \sum_i w_i` (frequency weights: a row of weight 2 counts
as the row twice), so that zero weight means the row is absent.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval


class BatchNorm(BaseEstimator):
    r"""Batch normalization of every hidden layer's pre-activation.

    Pass it as ``batch_norm=BatchNorm(...)`` (or ``batch_norm=True`` for the
    defaults) to :class:`~skopt_nn.MLPClassifier` or :class:`~skopt_nn.MLPRegressor`.
    The learned scale :math:`\gamma` and shift :math:`\beta` of each hidden layer
    are parameters like the weights, so every solver optimizes them.

    Parameters
    ----------
    epsilon : float, default=1e-5
        The constant :math:`\epsilon` added to the variance inside the square root.
        It also keeps a one-row batch (variance 0) finite: its normalized values are
        0 and the layer outputs :math:`\beta`.
    momentum : float or None, default=0.1
        Used by ``partial_fit`` only: weight of each new minibatch in the running
        estimates of :math:`E[x]` and :math:`Var[x]`
        (``estimate = (1 - momentum) * estimate + momentum * batch_value``).
        ``None`` keeps a cumulative average instead, which is the lecture's
        :math:`E_\mathcal{B}[\mu_\mathcal{B}]` over all minibatches seen.
        ``fit`` ignores it: it ends with the lecture's population pass.

    Notes
    -----
    Training uses the minibatch mean and *biased* variance. For inference, the
    lecture replaces them with population statistics computed from training
    minibatches, :math:`E[x] = E_\mathcal{B}[\mu_\mathcal{B}]` and
    :math:`Var[x] = \frac{m}{m-1} E_\mathcal{B}[\sigma^2_\mathcal{B}]`, and the
    transform becomes the affine map

    .. math::
        y = \frac{\gamma}{\sqrt{Var[x] + \epsilon}}\, x
            + \Big(\beta - \frac{\gamma\, E[x]}{\sqrt{Var[x] + \epsilon}}\Big),

    which ``predict`` folds into the preceding layer's weights.

    References
    ----------
    .. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network
       Training by Reducing Internal Covariate Shift", ICML 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skopt_nn import BatchNorm, MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), batch_norm=BatchNorm(),
    ...                     max_iter=20, random_state=0).fit(X / 16, y)
    >>> [g.shape for g in clf.bn_gamma_]
    [(32,)]
    """

    _parameter_constraints = {
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="right"), None],
    }

    def __init__(self, epsilon=1e-5, momentum=0.1):
        self.epsilon = epsilon
        self.momentum = momentum


def batch_moments(z, s):
    """Weighted minibatch mean and biased variance of each column of ``z``.

    ``s`` holds the normalized sample weights (summing to one), or is None.
    """
    if s is None:
        mean = z.mean(axis=0)
        centered = z - mean
        var = np.einsum("ij,ij->j", centered, centered) / z.shape[0]
    else:
        mean = s @ z
        centered = z - mean
        var = s @ (centered * centered)
    return mean, var, centered


def normalize_backward(dxhat, xhat, inv_std, s):
    r"""Gradient w.r.t. the pre-activation, given the one w.r.t. :math:`\hat x`.

    .. math::
        \frac{\partial L}{\partial x_k} = \frac{1}{\sigma}\Big(\frac{\partial L}
        {\partial \hat x_k} - s_k \sum_i \frac{\partial L}{\partial \hat x_i}
        - s_k \hat x_k \sum_i \frac{\partial L}{\partial \hat x_i}\hat x_i\Big)

    with :math:`s_k = w_k / \sum_i w_i` (``1/m`` without weights) and
    :math:`\sigma = \sqrt{\sigma^2_\mathcal{B} + \epsilon}`. Written into ``dxhat``.
    """
    sum_d = dxhat.sum(axis=0)
    sum_dx = np.einsum("ij,ij->j", dxhat, xhat)
    if s is None:
        m = dxhat.shape[0]
        dxhat -= (sum_d + xhat * sum_dx) / m
    else:
        dxhat -= s[:, None] * (sum_d + xhat * sum_dx)
    dxhat *= inv_std
    return dxhat


class RunningMoments:
    """Accumulates the lecture's inference statistics over training minibatches.

    ``E[x]`` is the mean of the minibatch means and ``Var[x]`` is ``m/(m-1)`` times
    the mean of the minibatch (biased) variances, with ``m`` the minibatch size
    (the sum of its weights, with sample weights).
    """

    def __init__(self, n_layers_units):
        self.sum_mean = [np.zeros(n) for n in n_layers_units]
        self.sum_var = [np.zeros(n) for n in n_layers_units]
        self.count = 0

    def add(self, means, variances, m):
        correction = m / (m - 1) if m > 1 else 1.0
        for k, (mu, var) in enumerate(zip(means, variances)):
            self.sum_mean[k] += mu
            self.sum_var[k] += correction * var
        self.count += 1

    def result(self):
        return ([s / self.count for s in self.sum_mean],
                [s / self.count for s in self.sum_var])

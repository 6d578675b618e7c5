r"""Batch normalization: configuration, training transform and inference statistics.

The lecture's transform over a minibatch :math:`\mathcal{B} = \{x_1, \dots, x_m\}`:

.. math::
    \mu_\mathcal{B} = \frac1m \sum_i x_i, \quad
    \sigma^2_\mathcal{B} = \frac1m \sum_i (x_i - \mu_\mathcal{B})^2, \quad
    \hat x_i = \frac{x_i - \mu_\mathcal{B}}{\sqrt{\sigma^2_\mathcal{B} + \epsilon}}, \quad
    y_i = \gamma \hat x_i + \beta.

With sample weights, :math:`\frac1m\sum_i` becomes the weighted mean
:math:`\sum_i w_i (\cdot) / \sum_i w_i` and :math:`m = \sum_i w_i` (frequency
weights: a row of weight 2 counts as the row twice), so that zero weight means the
row is absent.

The forward and backward passes live in ``_network.py`` and call
:func:`batch_moments` and :func:`normalize_backward`; this module also computes
the inference statistics (:func:`population_statistics` for ``fit``,
:func:`update_running_statistics` for ``partial_fit``).
"""

import math
import numbers

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.extmath import safe_sparse_dot

from ._activations import ACTIVATIONS
from ._data import row_blocks
from ._strict_parameters import StrictParameters


class BatchNorm(StrictParameters, BaseEstimator):
    r"""Batch normalization of every hidden layer's pre-activation.

    Pass it as ``batch_norm=BatchNorm(...)`` (or ``batch_norm=True`` for the
    defaults) to :class:`~skopt_nn.MLPClassifier` or :class:`~skopt_nn.MLPRegressor`.
    Each hidden layer computes ``act(BN(a @ W + b))``: the transform sits between
    the affine map and the nonlinearity. Its learned scale :math:`\gamma` (initially
    1) and shift :math:`\beta` (initially 0) are entries of the flat parameter
    vector like the weights, so every solver optimizes them; the L2 penalty
    ``alpha`` does not apply to them.

    Parameters
    ----------
    epsilon : float, default=1e-5
        The constant :math:`\epsilon > 0` added to the variance inside the square
        root, in training and at inference.
    momentum : float in (0, 1] or None, default=0.1
        Used by ``partial_fit`` only: weight of each new minibatch in the running
        estimates of :math:`E[x]` and :math:`Var[x]`,
        ``estimate = (1 - momentum) * estimate + momentum * batch_value`` (the
        first minibatch sets the estimate). ``None`` keeps the cumulative average
        instead, which is the lecture's :math:`E_\mathcal{B}[\mu_\mathcal{B}]`
        over every minibatch seen (each weighted by its size, as in ``fit``'s
        pass). ``fit`` ignores it: it ends with the lecture's population pass.

    Notes
    -----
    **Training** uses the statistics of the current minibatch: its mean
    :math:`\mu_\mathcal{B}` and *biased* variance :math:`\sigma^2_\mathcal{B}`,

    .. math::
        \hat x_i = \frac{x_i - \mu_\mathcal{B}}{\sqrt{\sigma^2_\mathcal{B}
        + \epsilon}}, \qquad y_i = \gamma \hat x_i + \beta,

    and the gradient flows through :math:`\mu_\mathcal{B}` and
    :math:`\sigma^2_\mathcal{B}` (the exact backward pass), so a row's output
    depends on the other rows of its minibatch.

    **Inference** replaces the minibatch statistics with population statistics, so
    that a prediction depends on its own row only and a single row can be
    predicted. ``fit`` computes them at the end with the final parameters (with
    early stopping: the restored best ones), following the lecture layer by
    layer: for hidden layer :math:`k = 1, \dots, K`, the training rows, in the
    minibatches of the fit's first epoch (``shuffle=True``: its shuffled
    order), go through the inference network built so far (layers before
    :math:`k` already use their inference transform), and

    .. math::
        E[x] = E_\mathcal{B}[\mu_\mathcal{B}], \qquad
        Var[x] = \frac{m}{m-1} E_\mathcal{B}[\sigma^2_\mathcal{B}]

    when every minibatch has :math:`m` rows. An epoch's last minibatch may be
    shorter: minibatch :math:`\mathcal{B}` of :math:`m_\mathcal{B}` rows then
    weighs :math:`m_\mathcal{B}` in :math:`E[x]` and :math:`m_\mathcal{B} - 1`
    in :math:`Var[x]` (of its unbiased :math:`\frac{m_\mathcal{B}}
    {m_\mathcal{B} - 1}\sigma^2_\mathcal{B}`), so that :math:`E[x]` is the mean
    of all the rows and :math:`Var[x]` their pooled within-minibatch variance,
    and a remainder of one row is not half of :math:`E[x]` (counting every
    minibatch once, 201 rows with ``batch_size="auto"`` would). With one
    minibatch (``batch_size >= n_samples``, or a full-batch solver), :math:`E[x]`
    and :math:`Var[x]` are exactly the mean and unbiased variance of the layer's
    pre-activation over the training rows.
    With early stopping, the same population statistics of the current parameters
    are used to score each epoch on the validation rows.

    ``partial_fit`` cannot afford that pass: it updates running estimates from
    the statistics of its training minibatches (see ``momentum``), one update per
    minibatch however many times the solver evaluates the objective — the
    statistics of the first evaluation, which for
    :class:`~skopt_nn.solvers.Nesterov` is the look-ahead point. ``fit`` (also
    with ``warm_start``) replaces them with the population pass.

    At inference the transform is the affine map

    .. math::
        y = \frac{\gamma}{\sqrt{Var[x] + \epsilon}}\, x
            + \Big(\beta - \frac{\gamma\, E[x]}{\sqrt{Var[x] + \epsilon}}\Big),

    which ``predict`` folds into the preceding layer:
    :math:`W' = W c`, :math:`b' = \beta + (b - E[x])\, c` with
    :math:`c = \gamma / \sqrt{Var[x] + \epsilon}`. The fitted attributes
    ``coefs_``, ``intercepts_``, ``bn_gamma_``, ``bn_beta_``, ``bn_mean_``
    (:math:`E[x]`) and ``bn_var_`` (:math:`Var[x]`) are all that is needed to
    reproduce ``predict`` by hand (see the example).

    **Sample weights** are frequency weights: the minibatch mean and variance are
    weighted, :math:`\mu_\mathcal{B} = \sum_i w_i x_i / \sum_i w_i`,
    :math:`\sigma^2_\mathcal{B} = \sum_i w_i (x_i - \mu_\mathcal{B})^2 / \sum_i
    w_i`, and :math:`m = \sum_i w_i` in the unbiased correction, so a row of
    integer weight :math:`k` acts exactly as :math:`k` copies of the row and a
    row of weight 0 as an absent row. Weights that are not all integers in a
    minibatch are no counts, and their sum depends on their scale (weights
    normalized to sum to one, as ``AdaBoostClassifier`` passes them, make
    :math:`\frac{m}{m-1}` undefined): :math:`m` is then Kish's effective number
    of rows, :math:`(\sum_i w_i)^2 / \sum_i w_i^2` (the rows, for equal
    weights). Apart from the L2 penalty, which is divided by the sum of the
    weights (as in scikit-learn), training and the statistics are then
    unaffected by the weights' scale.

    **A minibatch of one row** (:math:`m = 1`, e.g. a short last minibatch) has
    :math:`\sigma^2_\mathcal{B} = 0`; :math:`\epsilon` keeps the division finite,
    every :math:`\hat x` is 0 and the layer outputs :math:`\beta` whatever the
    input. Such a step trains only the last hidden layer's :math:`\beta` and the
    output layer (the loss's gradient of every parameter before the last
    normalization, and of every :math:`\gamma`, is exactly zero: the weights
    there only decay by the L2 penalty). Having no spread, such a minibatch
    enters :math:`E[x]` (with its weight) but not :math:`Var[x]`, whatever its
    weight; if no minibatch has a spread, ``Var[x]`` stays 1. Training with
    ``batch_size=1`` (or on a single row) warns: the hidden weights cannot
    learn.

    **float32** input keeps the parameters and the statistics in float32.

    References
    ----------
    .. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network
       Training by Reducing Internal Covariate Shift", ICML 2015, Algorithms 1
       and 2.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import softmax
    >>> from sklearn.datasets import load_digits
    >>> from skopt_nn import BatchNorm, MLPClassifier
    >>> from skopt_nn.solvers import Momentum
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> bn = BatchNorm(epsilon=1e-5)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32, 16), activation="tanh",
    ...                     solver=Momentum(learning_rate=0.1), batch_norm=bn,
    ...                     max_iter=30, random_state=0).fit(X, y)
    >>> [g.shape for g in clf.bn_gamma_], [v.shape for v in clf.bn_var_]
    ([(32,), (16,)], [(32,), (16,)])

    ``predict_proba`` by hand, from the fitted attributes only:

    >>> a = X[:5]
    >>> for W, b, gamma, beta, E, V in zip(clf.coefs_, clf.intercepts_, clf.bn_gamma_,
    ...                                    clf.bn_beta_, clf.bn_mean_, clf.bn_var_):
    ...     z = a @ W + b
    ...     a = np.tanh(gamma * (z - E) / np.sqrt(V + bn.epsilon) + beta)
    >>> proba = softmax(a @ clf.coefs_[-1] + clf.intercepts_[-1], axis=1)
    >>> np.allclose(proba, clf.predict_proba(X[:5]), rtol=1e-12, atol=1e-15)
    True

    A single row is predicted as in a batch (no minibatch statistics at inference):

    >>> np.allclose(clf.predict_proba(X[3:4]), clf.predict_proba(X[:5])[3:4])
    True
    """

    _parameter_constraints = {
        # epsilon = 0 would divide by zero for any unit constant over a minibatch
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="right"), None],
    }

    def __init__(self, epsilon=1e-5, momentum=0.1):
        self.epsilon = epsilon
        self.momentum = momentum


def batch_moments(z, s):
    """Weighted minibatch mean and biased variance of each column of ``z``.

    ``s`` holds the normalized sample weights (summing to one), or is None.
    Returns ``(mean, var, z - mean)``.
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
    :math:`\sigma = \sqrt{\sigma^2_\mathcal{B} + \epsilon}`: the two sums are the
    paths through :math:`\mu_\mathcal{B}` and :math:`\sigma^2_\mathcal{B}`.
    Written into ``dxhat``.
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


def variance_rows(w, n_rows):
    r"""The :math:`m` of a minibatch's unbiased variance :math:`\frac{m}{m-1}
    \sigma^2_\mathcal{B}`, or None if it has no spread to measure.

    Its rows without weights (``w`` None). Integer weights are frequencies, a
    row of weight 2 the row twice: :math:`m` is their sum, so that they act
    exactly as repeated rows. Other weights are not counts: their sum depends on
    their scale (weights normalized to sum to one, as ``AdaBoostClassifier``
    passes them, made :math:`\frac{m}{m-1}` undefined, or 1e16 where rounding
    made the sum 1 + 2e-16): :math:`m` is then Kish's effective number of rows
    :math:`(\sum_i w_i)^2 / \sum_i w_i^2`, which does not depend on their scale
    (the rows, for equal weights). One row has no spread, whatever its weight.
    (It is computed from the weights divided by the largest, so that the
    squares neither underflow nor overflow: weights of 1e-200 count as rows.)

    Examples
    --------
    >>> import numpy as np
    >>> variance_rows(np.array([2.0, 1.0]), 2)  # frequency weights: 3 rows
    3.0
    >>> variance_rows(np.full(4, 0.005), 4)  # as 4 rows of weight 1
    4.0
    >>> round(variance_rows(np.array([1.0, 0.5]), 2), 12)  # (1.5)^2 / 1.25
    1.8
    >>> variance_rows(np.full(3, 1e-200), 3)  # any scale
    3.0
    """
    if n_rows < 2:
        return None
    if w is None:
        return float(n_rows)
    w = np.asarray(w, dtype=np.float64)
    total = float(w.sum())
    if math.isfinite(total) and np.all(w == np.floor(w)):
        return total if total > 1 else None
    # of the weights scaled to a largest of 1: w @ w underflowed to 0 for weights
    # of 1e-200, and overflowed beside weights of 1e200 (no spread, silently)
    largest = float(w.max())
    if not largest > 0:
        return None
    u = w / largest
    m = float(u.sum()) ** 2 / float(u @ u)
    return m if m > 1 else None


#: Rows per block of :func:`population_statistics`: whole minibatches whose widest
#: hidden activation takes about this much memory (the pass held every layer's
#: activations of all rows: 512 MB for 60000 rows of (512, 512) units, 26 times
#: the rest of the fit).
_STATISTICS_BLOCK_BYTES = 1 << 22
#: A layer's activations of all rows are kept for the next layer's statistics up
#: to the size of ``X`` or this, whichever is larger (recomputing them instead
#: makes the pass of a deep network cost one forward pass per layer).
_STATISTICS_KEEP_BYTES = 1 << 26


def population_statistics(network, theta, X, sample_weight, batch_rows, order=None):
    r"""The lecture's inference statistics of every hidden layer (``fit``'s pass).

    For hidden layer :math:`k = 1, \dots, K` in turn: the rows of ``X``, in
    minibatches of ``batch_rows`` taken in ``order`` (training's minibatches),
    go through the layers before
    :math:`k` *in inference mode* (with the statistics already determined), and
    :math:`E[x] = E_\mathcal{B}[\mu_\mathcal{B}]`,
    :math:`Var[x] = E_\mathcal{B}[\frac{m}{m-1}\sigma^2_\mathcal{B}]` over the
    minibatches. A last minibatch shorter than the others weighs in proportion
    to its size, so that a remainder of one row is not half of :math:`E[x]`:

    .. math::
        E[x] = \frac{\sum_\mathcal{B} m_\mathcal{B}\, \mu_\mathcal{B}}
                    {\sum_\mathcal{B} m_\mathcal{B}}, \qquad
        Var[x] = \frac{\sum_\mathcal{B} m_\mathcal{B}\, \sigma^2_\mathcal{B}}
                      {\sum_\mathcal{B} (m_\mathcal{B} - 1)},

    the mean of all rows and the pooled unbiased within-minibatch variance:
    with minibatches of equal size :math:`m`, exactly the lecture's formulas (a
    minibatch of one row adds nothing to :math:`Var[x]`, whatever its weight:
    one row has no spread). :math:`m_\mathcal{B}` is a minibatch's rows, or its
    total weight with sample weights (in :math:`Var[x]`, Kish's effective rows
    for weights that are not integers: see :func:`variance_rows`).

    The rows go through in blocks of whole minibatches (about 4 MB of the widest
    activation). A layer's activations of all rows, which the next layer's
    statistics start from, are kept while they take no more memory than ``X``
    or 64 MB (a deep network's pass then costs one forward pass); larger ones
    are recomputed block by block from the last kept ones, so that memory does
    not grow with the number of rows. Both give the same statistics, bit for
    bit.

    Parameters
    ----------
    network : Network
    theta : ndarray of shape (n_params,)
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
        Frequency weights (all positive).
    batch_rows : int
    order : ndarray of shape (n_samples,) or None, default=None
        The order of the rows in the minibatches (a permutation; None: as
        stored). The pooled variance is the variance *within* minibatches:
        rows sorted by class or target, taken in their order, would give the
        within-group variance, far too small for any training minibatch.

    Returns
    -------
    means, variances : list of ndarray
        :math:`E[x]` and :math:`Var[x]` per hidden layer, in ``theta``'s dtype.
    counts : tuple of float
        The denominators of the means and the variances:
        :math:`\sum m_\mathcal{B}` and :math:`\sum (m_\mathcal{B} - 1)`.
    """
    n_samples = X.shape[0]
    total = float(n_samples if sample_weight is None else sample_weight.sum())
    if not network.n_hidden:
        return [], [], (total, 0.0)
    if order is not None and sample_weight is not None:
        sample_weight = sample_weight[order]
    coefs, intercepts, gammas, betas = network.unpack(theta)
    hidden = ACTIVATIONS[network.activation]
    units, dtype = network.layer_units, theta.dtype
    blocks = list(row_blocks(n_samples, batch_rows * max(1, _STATISTICS_BLOCK_BYTES // (
        batch_rows * max(units[1:-1]) * dtype.itemsize))))
    keep_bytes = max(_STATISTICS_KEEP_BYTES, X.data.nbytes if sparse.issparse(X)
                     else X.nbytes)
    means, variances, scales = [], [], []
    source, first = X, 0  # the rows that feed layer ``first``
    for k in range(network.n_hidden):
        keep = k + 1 < network.n_hidden and \
            n_samples * units[k + 1] * dtype.itemsize <= keep_bytes
        kept = np.empty((n_samples, units[k + 1]), dtype=dtype) if keep else None
        sum_mean = np.zeros(units[k + 1])
        sum_var = np.zeros_like(sum_mean)
        dof = 0.0  # sum of (m_B - 1) over the minibatches
        for start, stop in blocks:
            # (kept activations are already in the minibatches' order)
            a = source[start:stop] if order is None or first else \
                source[order[start:stop]]
            for i in range(first, k + 1):
                z = np.asarray(safe_sparse_dot(a, coefs[i]), dtype=dtype)
                z += intercepts[i]
                if i == k:
                    break
                a = _inference_transform(z, means[i], scales[i], betas[i], hidden)
            # (the blocks start on minibatch boundaries)
            for row in range(0, stop - start, batch_rows):
                zb = z[row:row + batch_rows]
                if sample_weight is None:
                    s, m = None, zb.shape[0]
                else:
                    w = sample_weight[start + row:start + row + zb.shape[0]]
                    m = float(w.sum())
                    s = (w / m).astype(dtype, copy=False)
                mu, var, _ = batch_moments(zb, s)
                sum_mean += m * mu
                m_var = variance_rows(None if sample_weight is None else w,
                                      zb.shape[0])
                if m_var is not None:
                    sum_var += m_var * var
                    dof += m_var - 1
            if keep:
                kept[start:stop] = z
        means.append((sum_mean / total).astype(dtype))
        variances.append((sum_var / dof if dof else np.ones_like(sum_var))
                         .astype(dtype))
        scales.append(gammas[k] / np.sqrt(variances[k] + network.bn_epsilon))
        if keep:  # the layer's activations, from which the next one starts
            for start, stop in blocks:
                _inference_transform(kept[start:stop], means[k], scales[k], betas[k],
                                     hidden)
            source, first = kept, k + 1
    return means, variances, (total, dof)


def _inference_transform(z, mean, scale, beta, hidden):
    """``hidden(scale * (z - mean) + beta)``, in place in ``z``."""
    z -= mean
    z *= scale
    z += beta
    return hidden(z)


def update_running_statistics(means, variances, counts, batch_means, batch_vars, m,
                              momentum, n_rows, w=None):
    r"""``partial_fit``'s running estimate of :math:`E[x]`, :math:`Var[x]`, in place.

    .. math::
        E \leftarrow (1 - \rho) E + \rho\, \mu_\mathcal{B}, \qquad
        V \leftarrow (1 - \rho) V + \rho\, \frac{m}{m-1} \sigma^2_\mathcal{B}

    with :math:`\rho` = ``momentum`` (each minibatch counts the same, as in
    other libraries' running averages). With ``momentum=None``, the cumulative
    average of :func:`population_statistics`: :math:`\rho = m / M` for
    :math:`E` and :math:`\rho = (m - 1) / D` for :math:`V`, where :math:`M`
    and :math:`D` sum :math:`m` and :math:`m - 1` over the minibatches so far,
    this one included (with minibatches of equal size, :math:`\rho = 1/n` for
    the :math:`n`-th). The first minibatch sets the estimate. A minibatch of
    one row (whatever its weight: one row has no spread) leaves :math:`V`
    unchanged; :math:`m` in :math:`V`'s update is :func:`variance_rows`'s.

    Parameters
    ----------
    means, variances : list of ndarray
        The estimates (``bn_mean_``, ``bn_var_``), updated in place.
    counts : tuple of float
        :math:`M` and :math:`D` before this minibatch (see
        :func:`population_statistics`).
    batch_means, batch_vars : list of ndarray
        :math:`\mu_\mathcal{B}` and the biased :math:`\sigma^2_\mathcal{B}`.
    m : float
        Rows (sum of the weights) of the minibatch.
    momentum : float or None
    n_rows : int
        Rows of the minibatch, not weighted.
    w : ndarray of shape (n_rows,) or None, default=None
        The minibatch's sample weights (see :func:`variance_rows`).

    Returns
    -------
    counts : tuple of float
        The updated :math:`M` and :math:`D`.
    """
    rows, dof = counts

    def rate(before, added):
        return added / (before + added) if momentum is None or not before \
            else momentum

    for estimate, value in zip(means, batch_means):
        estimate += rate(rows, m) * (value - estimate)
    m_var = variance_rows(w, n_rows)
    if m_var is not None:
        for estimate, value in zip(variances, batch_vars):
            estimate += rate(dof, m_var - 1) * (m_var / (m_var - 1) * value - estimate)
        dof += m_var - 1
    return rows + m, dof

r"""The lecture's issues in optimization, measured on a fitted network.

Each function evaluates the training objective :math:`J(\theta)` of a fitted
:class:`~skopt_nn.MLPClassifier` or :class:`~skopt_nn.MLPRegressor` at its
parameters, on the rows it is given, and measures its curvature:

- :func:`gradient_curvature`: :math:`g^T g` and :math:`g^T H g`, the two terms of
  the lecture's test for ill conditioning, and the step size where it fails;
- :func:`hessian_eigenvalues`: the ends of the Hessian's spectrum by Lanczos
  iteration on Hessian-vector products, without forming :math:`H` (negative
  eigenvalues: a saddle point or a region of negative curvature; the ratio of the
  extreme eigenvalues: the conditioning);
- :func:`hessian_trace`: :math:`\operatorname{tr} H`, estimated from
  Hessian-vector products (Hutchinson's estimator);
- :func:`hessian`: the whole :math:`H`, for small networks.

The objective is the one ``fit`` minimizes: the mean loss over the rows (weighted
by ``sample_weight`` and ``class_weight``) plus the L2 penalty ``alpha``, with
batch normalization in training mode, its statistics those of the given rows as
one batch. Gradient clipping (``max_grad_norm``) does not enter: it changes the
step, not the objective. Every product is exact (the R-operator of
:mod:`skopt_nn._rop`), and is computed in float64 whatever the model's dtype, so
that the measurement is not limited by float32 rounding.

Nothing is changed on the estimator: its parameters, solver state and
predictions stay as they are.
"""

import copy
import numbers
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._blas import training_threads
from ._objective import Objective, threaded_shards

__all__ = ["GradientCurvature", "TraceEstimate", "gradient_curvature", "hessian",
           "hessian_eigenvalues", "hessian_trace"]

# Directions per Hessian-vector product block when assembling the whole H: a
# block's R-quantities grow with it (see _rop), the number of passes shrinks.
_HESSIAN_BLOCK = 256


@dataclass(frozen=True)
class GradientCurvature:
    r"""The gradient and the curvature along it, at the fitted parameters.

    Along the gradient, the second-order model of the objective (the lecture's
    Taylor expansion) is

    .. math::
        J(\theta - \epsilon g) \approx J(\theta) - \epsilon\, g^T g
            + \tfrac12 \epsilon^2\, g^T H g,

    so a gradient step of size :math:`\epsilon` *raises* the objective when
    :math:`\tfrac12 \epsilon^2 g^T H g - \epsilon g^T g > 0`, that is when
    :math:`\epsilon > 2\, g^T g / g^T H g`: ill conditioning makes learning slow
    because :math:`g^T H g` outgrows :math:`g^T g` and forces a small step.

    Attributes
    ----------
    loss : float
        :math:`J(\theta)`, penalty included.
    squared_gradient_norm : float
        :math:`g^T g`.
    curvature : float
        :math:`g^T H g` (negative where the objective curves down along
        :math:`g`).
    """

    loss: float
    squared_gradient_norm: float
    curvature: float

    @property
    def critical_learning_rate(self):
        r"""float: :math:`2\, g^T g / g^T H g`, above which a gradient step raises
        the second-order model; ``inf`` where :math:`g^T H g \le 0`. Half of it,
        :math:`g^T g / g^T H g`, is the step that lowers the model most."""
        if self.curvature <= 0:
            return np.inf
        return 2.0 * self.squared_gradient_norm / self.curvature

    def predicted_change(self, learning_rate):
        r"""The second-order model's change :math:`-\epsilon g^T g + \frac12
        \epsilon^2 g^T H g` for a gradient step of size ``learning_rate``."""
        return (-learning_rate * self.squared_gradient_norm
                + 0.5 * learning_rate ** 2 * self.curvature)


@contextmanager
def _training_objective(estimator, X, y, sample_weight):
    """``(objective, theta)``: the estimator's objective on these rows, and a
    float64 copy of its parameters, with training's thread settings for a full
    batch (BLAS threads, row shards on two threads). The estimator is not
    modified."""
    check_is_fitted(estimator)
    X, Y, _, sample_weight, _ = estimator._prepare(X, y, sample_weight, reset=False)
    if Y.shape[1] != estimator.n_outputs_:
        raise ValueError(f"y has {Y.shape[1]} outputs, but {type(estimator).__name__} "
                         f"was fitted with {estimator.n_outputs_}.")
    # a copy of the network: its float64 buffers are not the model's to keep
    network = copy.copy(estimator._network)
    n_rows = X.shape[0]
    threaded = threaded_shards(network, X, n_rows, full_batch=True)
    with training_threads(network.layer_units, n_rows, threaded_shards=threaded), \
            (ThreadPoolExecutor(1) if threaded else nullcontext()) as executor:
        objective = Objective(network, estimator.alpha, shards=2, executor=executor)
        objective.set_batch(X.astype(np.float64, copy=False),
                            Y.astype(np.float64, copy=False), sample_weight)
        yield objective, estimator._theta.astype(np.float64)


def gradient_curvature(estimator, X, y, sample_weight=None):
    r"""The lecture's test for ill conditioning: :math:`g^T g` against
    :math:`g^T H g`.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows of the objective (usually the training rows).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Their weights, as in ``fit``.

    Returns
    -------
    GradientCurvature
        The loss, :math:`g^T g`, :math:`g^T H g`, and the learning rate above
        which a gradient step overshoots (``critical_learning_rate``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.diagnostics import gradient_curvature
    >>> X, y = load_iris(return_X_y=True)
    >>> model = MLPClassifier((10,), solver="lbfgs", random_state=0).fit(X, y)
    >>> c = gradient_curvature(model, X, y)
    >>> c.squared_gradient_norm > 0 and c.curvature > 0
    True
    >>> bool(c.predicted_change(c.critical_learning_rate / 2) < 0)
    True
    """
    with _training_objective(estimator, X, y, sample_weight) as (objective, theta):
        loss, grad = objective(theta)
        curvature = grad @ objective.hvp(theta, grad)
    return GradientCurvature(loss=float(loss), squared_gradient_norm=float(grad @ grad),
                             curvature=float(curvature))


def hessian(estimator, X, y, sample_weight=None):
    r"""The Hessian :math:`H = \nabla^2 J(\theta)` of the training objective.

    Assembled from exact Hessian-vector products, a block of directions at a
    time: its cost grows as the square of the number of parameters
    (``sum(w.size + b.size)`` over the layers, plus batch normalization's
    :math:`\gamma, \beta`), so it is for small networks. Its rows and columns
    follow the flat parameter vector: ``W_0`` (row-major), ``b_0``, ``W_1``,
    ``b_1``, ..., then ``gamma_0``, ``beta_0``, ... with batch normalization.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows of the objective.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Their weights, as in ``fit``.

    Returns
    -------
    H : ndarray of shape (n_params, n_params)
        Symmetric, in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skopt_nn import MLPRegressor
    >>> from skopt_nn.diagnostics import hessian
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = MLPRegressor((), solver="lbfgs", alpha=0.0).fit(X, y)
    >>> H = hessian(model, X, y)  # no hidden layer, squared error: [X 1]^T [X 1] / n
    >>> X1 = np.hstack([X, np.ones((len(X), 1))])
    >>> bool(np.allclose(H, X1.T @ X1 / len(X)))
    True
    """
    with _training_objective(estimator, X, y, sample_weight) as (objective, theta):
        n = theta.size
        H = np.empty((n, n))
        for start in range(0, n, _HESSIAN_BLOCK):
            stop = min(start + _HESSIAN_BLOCK, n)
            directions = np.zeros((n, stop - start))
            directions[np.arange(start, stop), np.arange(stop - start)] = 1.0
            H[:, start:stop] = objective.hvp(theta, directions)
    # exact in exact arithmetic; the products' rounding differs between H[i, j]
    # and H[j, i] by a few ulps
    H += H.T
    H *= 0.5
    return H


def hessian_eigenvalues(estimator, X, y, sample_weight=None, *, k=6, which="both",
                        tol=0.0, max_iter=None, random_state=None):
    r"""Extreme eigenvalues of the Hessian, by Lanczos iteration.

    The implicitly restarted Lanczos method (ARPACK, through
    :func:`scipy.sparse.linalg.eigsh`) needs only Hessian-vector products, each
    about the cost of two gradients, so it works for networks whose Hessian
    would not fit in memory.

    - A negative eigenvalue means the fitted point is not a minimum of the
      objective: a saddle point (where the gradient is also small) or a region
      of negative curvature. The lecture: "Hessian matrix has both positive and
      negative eigen value".
    - The ratio of the largest eigenvalue to the smallest positive one is the
      condition number of a minimum (the lecture's "ratio of smallest to largest
      eigen value"): the larger it is, the slower gradient descent, whose
      learning rate the largest eigenvalue bounds (:math:`\epsilon <
      2/\lambda_{\max}` on a quadratic).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows of the objective.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Their weights, as in ``fit``.
    k : int, default=6
        How many eigenvalues; fewer than the number of parameters.
    which : {"both", "largest", "smallest"}, default="both"
        The algebraically largest, the smallest, or both ends (``k // 2`` from
        the low end, the rest from the high end).
    tol : float, default=0.0
        Relative accuracy of the eigenvalues; 0 means machine precision.
    max_iter : int or None, default=None
        Most Lanczos restarts; None means ARPACK's default, ``10 * n_params``.
    random_state : int, RandomState instance or None, default=None
        Draws the starting vector: the same seed gives the same eigenvalues,
        bit for bit.

    Returns
    -------
    eigenvalues : ndarray of shape (k,)
        In ascending order.

    Raises
    ------
    RuntimeError
        If Lanczos iteration does not converge within ``max_iter`` restarts.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skopt_nn import MLPRegressor
    >>> from skopt_nn.diagnostics import hessian, hessian_eigenvalues
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = MLPRegressor((), solver="lbfgs").fit(X, y)
    >>> ends = hessian_eigenvalues(model, X, y, k=2, random_state=0)
    >>> all_of_them = np.linalg.eigvalsh(hessian(model, X, y))
    >>> bool(np.allclose(ends, all_of_them[[0, -1]]))
    True
    """
    modes = {"both": "BE", "largest": "LA", "smallest": "SA"}
    if which not in modes:
        raise ValueError(f"which must be one of {sorted(modes)}, got {which!r}.")
    if not isinstance(k, numbers.Integral) or k < 1 or (which == "both" and k < 2):
        raise ValueError(f"k must be an integer >= {2 if which == 'both' else 1} "
                         f"with which={which!r}, got {k!r}.")
    with _training_objective(estimator, X, y, sample_weight) as (objective, theta):
        n = theta.size
        if k >= n:
            raise ValueError(f"k must be smaller than the number of parameters "
                             f"({n}), got {k}; for all of them, use "
                             "numpy.linalg.eigvalsh(hessian(...)).")
        operator = LinearOperator(
            (n, n), dtype=np.float64,
            matvec=lambda v: objective.hvp(theta, np.ravel(v)),
            matmat=lambda V: objective.hvp(theta, np.asarray(V)))
        start = check_random_state(random_state).uniform(-1.0, 1.0, n)
        try:
            eigenvalues = eigsh(operator, k=k, which=modes[which], tol=tol,
                                maxiter=max_iter, v0=start, return_eigenvectors=False)
        except ArpackNoConvergence as error:
            raise RuntimeError(
                f"Lanczos iteration found {len(error.eigenvalues)} of the {k} "
                f"eigenvalues within max_iter={max_iter} restarts: raise "
                "max_iter, or ask for a larger tol.") from None
    return np.sort(eigenvalues)


@dataclass(frozen=True)
class TraceEstimate:
    """An estimate of :math:`\\operatorname{tr} H` and its standard error."""

    trace: float
    standard_error: float


def hessian_trace(estimator, X, y, sample_weight=None, *, n_probes=32,
                  random_state=None):
    r"""The trace of the Hessian, by Hutchinson's estimator.

    For random vectors :math:`v` of independent :math:`\pm 1` entries,
    :math:`E[v^T H v] = \operatorname{tr} H`; the estimate is the mean of
    ``n_probes`` such products, with a variance of :math:`2 (\|H\|_F^2 - \sum_i
    H_{ii}^2) / n_{probes}` (exact for a diagonal :math:`H`). The trace over the
    number of parameters is the mean eigenvalue: the objective's average
    curvature.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows of the objective.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    sample_weight : array-like of shape (n_samples,), default=None
        Their weights, as in ``fit``.
    n_probes : int, default=32
        Random vectors, evaluated as one block of Hessian-vector products.
    random_state : int, RandomState instance or None, default=None
        Draws the probes.

    Returns
    -------
    TraceEstimate
        ``trace``, and its ``standard_error`` estimated from the probes' spread
        (NaN with one probe).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skopt_nn import MLPRegressor
    >>> from skopt_nn.diagnostics import hessian, hessian_trace
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = MLPRegressor((8,), solver="lbfgs", random_state=0).fit(X, y)
    >>> estimate = hessian_trace(model, X, y, n_probes=200, random_state=0)
    >>> exact = np.trace(hessian(model, X, y))
    >>> bool(abs(estimate.trace - exact) < 4 * estimate.standard_error)
    True
    """
    if not isinstance(n_probes, numbers.Integral) or n_probes < 1:
        raise ValueError(f"n_probes must be a positive integer, got {n_probes!r}.")
    with _training_objective(estimator, X, y, sample_weight) as (objective, theta):
        rng = check_random_state(random_state)
        probes = rng.randint(0, 2, size=(theta.size, n_probes)) * 2.0 - 1.0
        samples = np.einsum("ij,ij->j", probes, objective.hvp(theta, probes))
    error = samples.std(ddof=1) / np.sqrt(n_probes) if n_probes > 1 else np.nan
    return TraceEstimate(trace=float(samples.mean()), standard_error=float(error))

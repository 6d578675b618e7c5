r"""Line searches along a descent direction, for the full-batch solvers.

All take ``objective(theta) -> (loss, grad)`` (the protocol's, which always
returns both) and a direction :math:`d` with slope :math:`g^T d < 0`, never modify
``theta``, and return a :class:`LineSearchResult`. A step is accepted only if the
loss strictly decreases, except by :func:`approximate_wolfe`, whose point may
show a loss up to ``APPROX_WOLFE_NOISE`` rounding errors higher (rounding noise)
where the gradients measure a decrease.

- :func:`backtracking`: Armijo's sufficient decrease
  :math:`J(\theta + \alpha d) \le J(\theta) + c_1 \alpha\, g^T d`, trying
  :math:`\alpha = 1, \frac12, \frac14, \dots`
- :func:`wolfe`: the strong Wolfe conditions (sufficient decrease and
  :math:`|\nabla J(\theta + \alpha d)^T d| \le c_2 |g^T d|`) by
  :func:`scipy.optimize.line_search`; the loss and gradient of each trial point
  are evaluated once (scipy asks for them separately).
- :func:`approximate_wolfe`: Hager and Zhang's approximate Wolfe conditions,
  on the directional derivatives, where rounding hides the loss's decrease
  (:func:`rounding_hid_the_decrease`: a failed Wolfe search whose trials
  measured no decrease beyond ``APPROX_WOLFE_NOISE`` rounding errors, one of
  them within that noise; a trial whose loss shows a decrease ends it).
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import line_search as _scipy_line_search
from sklearn.exceptions import ConvergenceWarning

from .._blas import vector_norm

#: Armijo's sufficient-decrease constant c1 (Nocedal & Wright's usual value).
ARMIJO_C1 = 1e-4
#: Halvings tried by :func:`backtracking` (the smallest step is 2**-59 of d).
MAX_BACKTRACKS = 60
#: A failed search warns if the gradient promised a decrease this many times the
#: loss's rounding level. Measured with L-BFGS's newest pair: fits that end at a
#: true minimum, 0.001-0.25 times it; float32 fits at the limit of their
#: precision, where the pair's curvature misleads, up to 3.5e3; a ReLU kink in
#: float64, 3e8; a feature scaled by 1e6, 2.6e11. With the curvature along the
#: gradient (:func:`curvature_promise`): true minima 0.001-0.06; float32
#: features scaled by 1e10, 1.5e6.
PROMISE_OVER_ROUNDING = 1e5


@dataclass
class LineSearchResult:
    """Outcome of a line search.

    Attributes
    ----------
    accepted : bool
        Whether a point of lower loss was found.
    step_size : float
        :math:`\\alpha` (0 if not accepted).
    theta : ndarray or None
        The accepted point :math:`\\theta + \\alpha d`, exactly as evaluated.
    loss : float
        Loss at the accepted point (the starting loss if not accepted).
    grad : ndarray or None
        Gradient at the accepted point.
    evaluations : int
        Objective evaluations spent.
    damping : float or None
        The damping of the accepted step, for a search over damping.
    trial_losses : list of float or None
        The losses of a failed :func:`wolfe` search's trial points (see
        :func:`rounding_hid_the_decrease`).
    """

    accepted: bool
    step_size: float
    theta: object
    loss: float
    grad: object
    evaluations: int
    damping: object = None
    trial_losses: object = None

    def record(self, method):
        """A small picklable summary for a solver's state."""
        return {"method": method, "accepted": self.accepted,
                "step_size": self.step_size, "damping": self.damping,
                "loss": self.loss, "evaluations": self.evaluations,
                "warned": False}


def negligible_decrease(loss, new_loss, dtype):
    """True if a step lowered the loss by at most a few rounding errors.

    ``(loss - new_loss) <= 4 eps max(|loss|, |new_loss|)`` with ``eps`` the
    machine precision of ``dtype``: the step made no progress that floating point
    can resolve, so further steps cannot either (the solvers then report
    convergence).

    Examples
    --------
    >>> import numpy as np
    >>> negligible_decrease(1.0, 1.0 - 1e-16, np.float64)
    True
    >>> negligible_decrease(1.0, 0.9, np.float64)
    False
    """
    eps = np.finfo(dtype).eps
    return bool(loss - new_loss <= 4 * eps * max(abs(loss), abs(new_loss)))


#: SciPy's L-BFGS-B stops when a step lowers the loss by at most this fraction
#: of max(|loss|, 1): its default ``ftol`` (``factr`` = 1e7 machine epsilons).
SCIPY_FTOL = 1e7 * np.finfo(float).eps


def small_decrease(loss, new_loss):
    """True if a step lowered the loss by at most SciPy's ``ftol`` relative,
    ``0 <= loss - new_loss <= SCIPY_FTOL * max(|loss|, |new_loss|, 1)`` (a step
    that raised it, which SciPy's line search never takes, is no sign of a
    minimum)."""
    decrease = loss - new_loss
    return bool(0 <= decrease <= SCIPY_FTOL * max(abs(loss), abs(new_loss), 1.0))


def curvature_promise(objective, theta, grad):
    r"""The decrease that the curvature along :math:`-g` promises, or None.

    A quadratic of curvature :math:`u^T H u` along the unit direction
    :math:`u = g / \|g\|` falls by :math:`\|g\|^2 / (2\, u^T H u)` along
    :math:`-g`: one Hessian-vector product (along :math:`u`, not :math:`g`,
    whose product overflows where the gradient is huge). None where that
    curvature is not positive: no promise to test.

    Examples
    --------
    >>> import numpy as np
    >>> class Quadratic:  # J(x) = x^T A x / 2: H = A
    ...     def hvp(self, theta, v):
    ...         return np.diag([1.0, 4.0]) @ v
    >>> curvature_promise(Quadratic(), np.zeros(2), np.array([0.0, 2.0]))  # 4 / (2 * 4)
    0.5
    """
    norm = vector_norm(grad)
    hvp = getattr(objective, "hvp", None)  # (a plain function in a user's test)
    if hvp is None or not (math.isfinite(norm) and norm > 0):
        return None
    u = np.asarray(grad, dtype=np.float64) / norm
    with np.errstate(over="ignore", invalid="ignore"):  # (checked below)
        Hu = np.asarray(hvp(theta, u.astype(theta.dtype)), dtype=np.float64)
    curvature = float(u @ Hu)
    if not (math.isfinite(curvature) and curvature > 0):
        return None
    with np.errstate(over="ignore"):  # (an infinite promise warns)
        return 0.5 * norm * (norm / curvature)


def warn_if_decrease_was_promised(solver, step, grad, loss, promised, dtype):
    """Warn that a failed search is no convergence when ``promised`` (the
    decrease a quadratic model promised along :math:`-g`) is far above the
    rounding level of the loss.

    Far above it, a search that finds no decrease means that the loss is not
    differentiable there (a ReLU unit at exactly zero, where the gradient takes
    the derivative 0 but the loss rises on one side), or that the problem is too
    ill-conditioned for the precision (badly scaled features). Returns whether
    it warned (the solvers record it as their search's ``"warned"``).
    """
    rounding = 4 * np.finfo(dtype).eps * abs(loss)
    if promised is None or not promised > PROMISE_OVER_ROUNDING * rounding:
        return False
    norm = vector_norm(grad)
    warnings.warn(
        f"{solver} stopped at step {step}: no step along the steepest-descent "
        f"direction lowers the loss, although its gradient (norm {norm:.3g}) "
        f"promises a decrease of about {promised:.3g}. The loss is not "
        "differentiable there (with relu: units at exactly zero) or the problem "
        "is badly scaled (standardize the features): the parameters may not be "
        "a minimum.", ConvergenceWarning, stacklevel=3,
    )
    return True


def armijo(trial_loss, loss, slope):
    """Armijo's sufficient decrease for a step of slope ``g'step`` (< 0), strict.

    Examples
    --------
    >>> armijo(0.5, 1.0, -1.0), armijo(1.0, 1.0, -1e-30), armijo(0.5, 1.0, 1.0)
    (True, False, False)
    """
    return bool(slope < 0 and np.isfinite(trial_loss) and trial_loss < loss
                and trial_loss <= loss + ARMIJO_C1 * slope)


def backtracking(objective, theta, loss, grad, direction, max_evals=MAX_BACKTRACKS,
                 max_doublings=0):
    r"""Armijo backtracking from :math:`\alpha = 1`, halving on failure.

    With ``max_doublings``, a full step that passes is lengthened: the step is
    doubled while the longer one passes too and lowers the loss further, and the
    best is returned (for directions whose length carries no curvature
    information, such as :math:`-g`).

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (loss, grad)``.
    theta : ndarray of shape (n_params,)
        Start point (not modified).
    loss : float
        :math:`J(\theta)`.
    grad : ndarray of shape (n_params,)
        :math:`g = \nabla J(\theta)`.
    direction : ndarray of shape (n_params,)
        :math:`d`, with :math:`g^T d < 0`.
    max_evals : int
        Trial steps before giving up.
    max_doublings : int, default=0
        Doublings tried after a full step passes.

    Returns
    -------
    LineSearchResult

    Examples
    --------
    >>> import numpy as np
    >>> objective = lambda x: (float(x @ x), 2 * x)
    >>> x = np.array([1.0, -2.0])
    >>> result = backtracking(objective, x, 5.0, 2 * x, -2 * x)
    >>> result.accepted, result.step_size, result.loss
    (True, 0.5, 0.0)
    """
    slope = float(grad @ direction)
    step_size = 1.0
    for evaluation in range(1, max_evals + 1):
        trial = (theta + step_size * direction).astype(theta.dtype, copy=False)
        trial_loss, trial_grad = objective(trial)
        if armijo(trial_loss, loss, step_size * slope):
            best = LineSearchResult(True, step_size, trial, trial_loss, trial_grad,
                                    evaluation)
            return _lengthened(objective, theta, loss, slope, direction, best,
                               max_doublings) if evaluation == 1 else best
        step_size *= 0.5
    return LineSearchResult(False, 0.0, None, loss, None, max_evals)


def _lengthened(objective, theta, loss, slope, direction, best, max_doublings):
    """Double an accepted step while the longer one passes Armijo's test and
    lowers the loss further; the best step found.

    The objective's last evaluation is the returned point's (it is evaluated
    again after a rejected doubling): what the objective reports of its last
    evaluation, the gradient norm in ``history_``, and the evaluation it
    remembers for the next step, are then the kept point's.
    """
    for _ in range(max_doublings):
        step_size = 2 * best.step_size
        trial = (theta + step_size * direction).astype(theta.dtype, copy=False)
        trial_loss, trial_grad = objective(trial)
        evaluations = best.evaluations + 1
        if not (armijo(trial_loss, loss, step_size * slope) and trial_loss < best.loss):
            objective(best.theta)
            best.evaluations = evaluations + 1
            break
        best = LineSearchResult(True, step_size, trial, trial_loss, trial_grad,
                                evaluations)
    return best


class _Evaluations:
    """``f`` and ``fprime`` for scipy over one objective call per point."""

    def __init__(self, objective, dtype):
        self.objective, self.dtype = objective, dtype
        self.points = []  # (x, loss, grad) of every point evaluated

    def __call__(self, x):
        x = np.asarray(x, dtype=self.dtype)
        for point in reversed(self.points):
            if np.array_equal(point[0], x):
                return point
        loss, grad = self.objective(x)
        point = (x.copy(), loss, np.array(grad))
        self.points.append(point)
        return point

    def loss(self, x):
        return self(x)[1]

    def grad(self, x):
        return self(x)[2]


def wolfe(objective, theta, loss, grad, direction, max_evals, c2=0.9):
    r"""Strong Wolfe line search from :math:`\alpha = 1` (scipy's ``line_search``).

    Parameters
    ----------
    objective : callable
        ``objective(theta) -> (loss, grad)``.
    theta : ndarray of shape (n_params,)
        Start point (not modified).
    loss : float
        :math:`J(\theta)`.
    grad : ndarray of shape (n_params,)
        :math:`g = \nabla J(\theta)`.
    direction : ndarray of shape (n_params,)
        :math:`d`, with :math:`g^T d < 0`.
    max_evals : int
        Iterations of scipy's search (``maxiter``).
    c2 : float, default=0.9
        Curvature constant (0.9 for quasi-Newton directions).

    Returns
    -------
    LineSearchResult
        Not accepted if scipy's search fails or its point does not lower the loss.

    Examples
    --------
    >>> import numpy as np
    >>> objective = lambda x: (float(x @ x), 2 * x)
    >>> x = np.array([1.0, -2.0])
    >>> wolfe(objective, x, 5.0, 2 * x, -x, max_evals=10).loss
    0.0
    """
    evaluations = _Evaluations(objective, theta.dtype)
    with warnings.catch_warnings():
        # scipy's LineSearchWarning (a RuntimeWarning) on failure: handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        step_size = _scipy_line_search(
            evaluations.loss, evaluations.grad, theta, direction, gfk=grad,
            old_fval=loss, c1=ARMIJO_C1, c2=c2, maxiter=max_evals)[0]

    def failed():
        trial_losses = [point[1] for point in evaluations.points]
        return LineSearchResult(False, 0.0, None, loss, None, len(trial_losses),
                                trial_losses=trial_losses)

    if step_size is None:
        return failed()
    x, trial_loss, trial_grad = evaluations(theta + step_size * direction)
    if not armijo(trial_loss, loss, step_size * float(grad @ direction)):
        return failed()
    return LineSearchResult(True, float(step_size), x, trial_loss, trial_grad,
                            len(evaluations.points))


#: Hager and Zhang's approximate Wolfe conditions: delta (CG_DESCENT's 0.1), and
#: the rise of the loss, in rounding errors of it, that their step may show (the
#: loss's noise: float32 logits X w of features on scales 1e-3 to 1e3 round
#: to about 8 eps |J| along a line; their gradient stays accurate to 1e-3).
APPROX_WOLFE_DELTA = 0.1
APPROX_WOLFE_NOISE = 64


def rounding_hid_the_decrease(failed, loss, dtype):
    """Whether a failed :func:`wolfe` search failed for rounding: no trial's
    loss measured a decrease (none below the start's by more than the noise,
    ``APPROX_WOLFE_NOISE`` rounding errors) and some trial's loss was within
    the noise of the start's. Only then is :func:`approximate_wolfe` worth
    its evaluations: at a ReLU kink in float64, the trials' losses differ
    from the start's by 1e8 to 1e18 times the noise, and Armijo backtracking
    takes the step.

    Examples
    --------
    >>> import numpy as np
    >>> failed = LineSearchResult(False, 0.0, None, 1.0, None, 2,
    ...                           trial_losses=[1.0 + 1e-15, 1.5])
    >>> rounding_hid_the_decrease(failed, 1.0, np.float64)
    True
    >>> failed.trial_losses = [0.9, 1.5]  # a measured decrease
    >>> rounding_hid_the_decrease(failed, 1.0, np.float64)
    False
    """
    losses = failed.trial_losses
    if not losses:
        return False
    noise = APPROX_WOLFE_NOISE * np.finfo(dtype).eps * abs(loss)
    return bool(min(losses) >= loss - noise
                and min(abs(trial - loss) for trial in losses) <= noise)


def approximate_wolfe(objective, theta, loss, grad, direction, max_evals,
                      min_decrease=0.0, c2=0.9):
    r"""Hager and Zhang's approximate Wolfe search, for where the loss's rounding
    hides the decrease.

    Accepts :math:`\alpha` with :math:`c_2\, g^T s \le g_\alpha^T s \le
    (2\delta - 1)\, g^T s` (:math:`s` the rounded step; on a quadratic the
    right-hand inequality is Armijo's test with :math:`c_1 = \delta`, evaluated
    with the gradients, which keep their accuracy where loss differences are
    rounding noise) and a loss at most ``APPROX_WOLFE_NOISE`` rounding errors
    above the start's, by bisection on the directional derivative from
    :math:`\alpha = 1`, doubling while it is too short. Not accepted if the
    decrease the gradients measure, :math:`-(g + g_\alpha)^T s / 2`, is at
    most ``min_decrease``, nor once a trial's loss is below the start's by
    more than the noise: the loss then measures the decrease, and the
    searches on the loss decide (Hager and Zhang use the approximate
    conditions only where the loss changes by rounding errors).

    References: W. W. Hager and H. Zhang, SIAM J. Optim. 16(1), 2005, sec. 4.
    """
    tolerance = APPROX_WOLFE_NOISE * np.finfo(theta.dtype).eps * abs(loss)
    g0 = np.asarray(grad, dtype=np.float64)
    low, high, step_size, evaluation = 0.0, math.inf, 1.0, 0
    for _ in range(max_evals):
        trial = (theta + step_size * direction).astype(theta.dtype, copy=False)
        s = trial.astype(np.float64) - theta
        slope = float(g0 @ s)
        if not slope < 0:  # rounding took the step's descent: lengthen it
            low = step_size
        else:
            evaluation += 1
            trial_loss, trial_grad = objective(trial)
            if trial_loss < loss - tolerance:
                # the loss measures this decrease: the Wolfe search failed for
                # another reason than rounding (a ReLU kink), and backtracking
                # on the loss takes it, as it did before this search existed
                return LineSearchResult(False, 0.0, None, loss, None, evaluation)
            trial_slope = float(np.asarray(trial_grad, dtype=np.float64) @ s)
            if not (np.isfinite(trial_loss) and trial_loss <= loss + tolerance
                    and trial_slope <= (2 * APPROX_WOLFE_DELTA - 1) * slope):
                high = step_size
            elif trial_slope < c2 * slope:
                low = step_size
            elif -0.5 * (slope + trial_slope) > min_decrease:
                return LineSearchResult(True, step_size, trial, trial_loss, trial_grad,
                                        evaluation)
            else:  # no decrease that counts, by the gradients either
                return LineSearchResult(False, 0.0, None, loss, None, evaluation)
        step_size = 2 * step_size if high == math.inf else 0.5 * (low + high)
    return LineSearchResult(False, 0.0, None, loss, None, evaluation)

r"""Limited-memory BFGS with a Wolfe line search, one iteration per step."""

import numbers
import warnings

import numpy as np
from sklearn.utils._param_validation import Interval

from .._blas import axpy
from ._base import Solver
from ._line_search import (SCIPY_FTOL, approximate_wolfe, backtracking,
                           curvature_promise, negligible_decrease,
                           rounding_hid_the_decrease,
                           warn_if_decrease_was_promised, wolfe)


#: Consecutive steps that lower the loss by a few rounding errors at most, after
#: which L-BFGS reports convergence (as many as the estimator's default
#: ``n_iter_no_change``).
NEGLIGIBLE_IN_A_ROW = 10


class LBFGS(Solver):
    r"""Limited-memory BFGS: a quasi-Newton direction from the last curvature pairs.

    A full-batch solver: the estimator passes every training row to each step,
    ``max_iter`` counts iterations, and each call of ``step`` is one L-BFGS
    iteration. On convex problems it reaches the same optimum as
    scikit-learn's ``solver="lbfgs"``.

    Parameters
    ----------
    history_size : int, default=10
        Number :math:`M` of curvature pairs :math:`(s_i, y_i)` kept.
    max_linesearch : int, default=20
        Iterations of the Wolfe line search per step, and of the approximate
        Wolfe search where it runs (backtracking adds up to 60 more).

    Notes
    -----
    With :math:`s_i = \theta_{i+1} - \theta_i` and
    :math:`y_i = g_{i+1} - g_i` for the last :math:`M` iterations, the direction
    is :math:`d = -H_k g`, where :math:`H_k` is the BFGS inverse-Hessian
    approximation built from the pairs, oldest first, starting from
    :math:`H^0 = \gamma I` with :math:`\gamma = s^T y / y^T y` of the newest pair:

    .. math::
        H \leftarrow (I - \rho_i s_i y_i^T)\, H\, (I - \rho_i y_i s_i^T)
        + \rho_i s_i s_i^T, \qquad \rho_i = 1 / (y_i^T s_i),

    computed without any matrix by the two-loop recursion
    (Nocedal & Wright Alg. 7.4). Without pairs (first step),
    :math:`d = -g / \|g\|`. The step :math:`\theta \leftarrow \theta + \alpha d`
    takes :math:`\alpha` from a strong Wolfe line search
    (:func:`scipy.optimize.line_search`, :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`,
    first trial :math:`\alpha = 1`); if it fails, Hager and Zhang's approximate
    Wolfe conditions (:func:`approximate_wolfe`: the decrease measured by the
    gradients, where the loss's rounding hides it); then Armijo backtracking; if that
    fails too, the pairs are dropped and the steepest-descent direction is
    searched the same way. A pair with :math:`s^T y \le \varepsilon_\text{mach}
    (-g^T s)` (no positive curvature measured against the step's slope,
    L-BFGS-B's test) is skipped: :math:`H_k` stays positive definite.

    Each step evaluates the gradient afresh at its start (``step`` returns that
    loss, like every solver) and compares the loss with the one the previous
    step's line search found at the same point: if they differ, the objective
    changed (a ``warm_start`` fit on new data, or minibatches) and the pairs,
    which describe the old objective, are dropped (``state["n_resets"]``
    counts it). With minibatches this happens at every step: L-BFGS then reduces
    to steepest descent with a line search per minibatch, and the estimator warns.

    If no step lowers the loss (or :math:`g = 0`), the step is not taken and
    ``state["converged"]`` is True (with a ``ConvergenceWarning`` if the gradient
    promised a decrease far above the loss's rounding level: the loss is not
    differentiable there, at a ReLU kink, or the problem is badly scaled;
    ``state["line_search"]["warned"]`` is then True, and the estimator does not
    warn again); it
    is also True after 10 steps in a row that each lowered the loss by at most
    a few rounding errors (:math:`4 \varepsilon_\text{mach} |J|`;
    ``state["n_negligible"]`` counts them). The training loop then stops (given
    all rows; on minibatches it stops by ``n_iter_no_change``). One
    such step alone is no sign of convergence: in float32 a short step from a
    poor curvature pair lowers the loss by a few rounding errors while twenty
    are left to gain.

    ``state`` holds ``step``, the pairs (``s``, ``y``, ``rho`` of shape
    ``(history_size, n_params)`` / ``(history_size,)``, a ring: the newest at
    index ``newest``, the ``n_pairs`` valid ones before it, cyclically; see
    ``pairs_oldest_first``), ``loss`` (at the current parameters, as last
    evaluated), ``line_search`` (step size, evaluations, and ``method``:
    ``"wolfe"`` or ``"backtracking"``, the search that took the quasi-Newton
    step, or ``"steepest_descent"`` for a step along :math:`-g`; ``accepted``;
    ``warned``),
    ``n_skipped``, ``n_resets``, ``n_negligible`` and ``converged``; all of it
    pickles.

    References
    ----------
    .. [1] J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed.,
       Springer, 2006, sections 3.1, 6.1 and 7.2.
    .. [2] D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large
       scale optimization", Mathematical Programming 45, 1989.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import LBFGS
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = MLPClassifier(hidden_layer_sizes=(10,), solver=LBFGS(history_size=5),
    ...                     max_iter=50, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.98
    True
    """

    full_batch = True

    _parameter_constraints = {
        "history_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_linesearch": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, history_size=10, max_linesearch=20):
        self.history_size = history_size
        self.max_linesearch = max_linesearch

    def init_state(self, theta):
        shape = (self.history_size, theta.size)
        return {"step": 0, "s": np.zeros(shape, dtype=theta.dtype),
                "y": np.zeros(shape, dtype=theta.dtype),
                "rho": np.zeros(self.history_size), "n_pairs": 0, "newest": -1,
                "loss": None, "line_search": None, "n_skipped": 0, "n_resets": 0,
                "n_negligible": 0, "converged": False}

    def check_batch(self, n_rows, n_samples, n_params, n_outputs):
        """Warn that minibatches make L-BFGS discard its pairs at every step.

        Called by the estimator when it passes minibatches of ``n_rows`` of the
        ``n_samples`` training rows (an explicit ``batch_size``).

        Parameters
        ----------
        n_rows, n_samples : int
            Rows per minibatch, and training rows.
        n_params, n_outputs : int
            Parameters and outputs of the network (unused here).
        """
        warnings.warn(
            f"LBFGS receives minibatches of {n_rows} of {n_samples} rows: its "
            "curvature pairs describe one objective, so they are dropped whenever "
            "the minibatch changes and each step is a steepest-descent step with "
            "a line search. Use batch_size='auto' (all rows).", UserWarning,
        )

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        state["converged"] = False
        eps = np.finfo(theta.dtype).eps
        previous, state["loss"] = state["loss"], loss
        if previous is not None and abs(loss - previous) > 16 * eps * abs(previous):
            _forget(state)  # a new objective: its pairs are not ours
            state["n_resets"] += 1
        if not np.any(grad):
            state["converged"] = True
            state["line_search"] = None
            state["step"] += 1
            return loss

        result = None
        if state["n_pairs"]:
            direction = -_two_loop_state(grad, state)
            if float(grad @ direction) < 0:
                result, method = self._search(objective, theta, loss, grad, direction)
            if result is None or not result.accepted:
                _forget(state)  # a bad quasi-Newton model: start over from -g
        if result is None or not result.accepted:
            direction = grad / -np.linalg.norm(grad)
            result, _ = self._search(objective, theta, loss, grad, direction)
            method = "steepest_descent"
        state["line_search"] = result.record(method)
        if not result.accepted:
            state["converged"] = True  # no decrease of the loss can be found
            state["line_search"]["warned"] = self._warn_if_decrease_was_promised(
                objective, theta, grad, loss, state)
        else:
            # decreases of a few rounding errors, several in a row: no progress
            # left to make (one alone can be a short step from a poor pair,
            # which in float32 ended fits with 20 rounding errors of loss left)
            state["n_negligible"] = state.get("n_negligible", 0) + 1 \
                if negligible_decrease(loss, result.loss, theta.dtype) else 0
            state["converged"] = state["n_negligible"] >= NEGLIGIBLE_IN_A_ROW
            s = result.theta - theta
            y = result.grad - grad
            theta[...] = result.theta
            state["loss"] = result.loss
            # L-BFGS-B's test, invariant to the scale of the features: measured
            # against y^T y, a pair along a curvature above 1 / eps was skipped
            # (float32 features of standard deviation 5e3 left L-BFGS without
            # pairs, stalled at R^2 -0.3). s is the rounded difference of the
            # iterates: where rounding took its downhill part, g^T s >= 0
            sy, slope = float(s @ y), -float(grad @ s)
            if slope > 0 and sy > eps * slope:
                _push(state, s, y, 1.0 / sy)
            else:
                state["n_skipped"] += 1
        state["step"] += 1
        return loss

    @staticmethod
    def _warn_if_decrease_was_promised(objective, theta, grad, loss, state):
        r"""Warn when the search failed although the gradient promised a decrease.

        Along :math:`-g`, a quadratic of curvature :math:`1/\gamma` (the newest
        pair's, as in :math:`H^0`) falls by :math:`\gamma \|g\|^2 / 2`. Before
        the first pair (a first step, or after a reset), the curvature along
        :math:`g` is measured by one Hessian-vector product instead: a first
        step on badly scaled float32 features ended fits without a word.
        Returns whether it warned.
        """
        if state.get("n_negligible", 0):
            return False  # the last steps already gained only rounding errors
        newest = state["newest"]
        if newest < 0:
            promised = curvature_promise(objective, theta, grad)
        else:
            s = state["s"][newest].astype(np.float64)
            y = state["y"][newest].astype(np.float64)
            yy = float(y @ y)
            if not yy > 0:
                return False
            promised = 0.5 * float(s @ y) / yy * float(
                grad.astype(np.float64) @ grad.astype(np.float64))
        return warn_if_decrease_was_promised("LBFGS", state["step"] + 1, grad, loss,
                                             promised, theta.dtype)

    def _search(self, objective, theta, loss, grad, direction):
        """The line search's result, and which search gave it."""
        result = wolfe(objective, theta, loss, grad, direction, self.max_linesearch)
        if result.accepted:
            return result, "wolfe"
        if rounding_hid_the_decrease(result, loss, theta.dtype):
            # (float32 logits of badly scaled features) the gradients still
            # measure the decrease; backtracking would take steps of lucky
            # rounding whose pairs mislead
            spent = result.evaluations
            result = approximate_wolfe(objective, theta, loss, grad, direction,
                                       self.max_linesearch,
                                       SCIPY_FTOL * max(abs(loss), 1.0))
            result.evaluations += spent
            if result.accepted:
                return result, "approximate_wolfe"
        spent = result.evaluations
        result = backtracking(objective, theta, loss, grad, direction)
        result.evaluations += spent
        return result, "backtracking"


def two_loop(grad, S, Y):
    r"""The L-BFGS product :math:`H_k g` by the two-loop recursion.

    Parameters
    ----------
    grad : ndarray of shape (n,)
    S, Y : ndarray of shape (n_pairs, n)
        The pairs :math:`s_i, y_i`, oldest first (each with :math:`s_i^T y_i > 0`).

    Returns
    -------
    ndarray of shape (n,)
        :math:`H_k g`, with :math:`H^0 = \gamma I`,
        :math:`\gamma = s^T y / y^T y` of the newest pair.

    Examples
    --------
    With one pair, :math:`H_k` is the BFGS update of :math:`\gamma I`:

    >>> import numpy as np
    >>> s, y, g = np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, 1.0])
    >>> rho, gamma, I = 1 / (s @ y), (s @ y) / (y @ y), np.eye(2)
    >>> H = (I - rho * np.outer(s, y)) @ (gamma * I) @ (I - rho * np.outer(y, s))
    >>> H += rho * np.outer(s, s)
    >>> np.allclose(two_loop(g, s[None], y[None]), H @ g)
    True
    """
    rho = 1.0 / np.einsum("ij,ij->i", S, Y)
    return _two_loop(grad, S, Y, rho, range(len(rho)))


def _two_loop(grad, S, Y, rho, order):
    """The recursion over the rows ``order`` (oldest first) of ``S``, ``Y``, ``rho``."""
    q = np.array(grad, dtype=np.float64)
    alphas = {}
    for i in reversed(order):  # newest to oldest
        alphas[i] = rho[i] * (S[i] @ q)
        axpy(q, Y[i], -alphas[i])  # q = q - alpha_i y_i
    newest = order[-1]
    q *= (S[newest] @ Y[newest]) / (Y[newest] @ Y[newest])  # H^0 = gamma I
    for i in order:  # oldest to newest
        beta = rho[i] * (Y[i] @ q)
        axpy(q, S[i], alphas[i] - beta)  # q = q + (alpha_i - beta) s_i
    return q.astype(grad.dtype, copy=False)


def pairs_oldest_first(state):
    """Indices of the valid pairs in an :class:`LBFGS` state's ring, oldest first.

    The history is a ring buffer: a new pair overwrites the oldest in place, so
    that storing it costs one row per array instead of shifting the history.

    Examples
    --------
    >>> import numpy as np
    >>> solver = LBFGS(history_size=3)
    >>> state = solver.init_state(np.zeros(2))
    >>> for k in range(1, 5):  # four pairs into a history of three
    ...     _push(state, np.full(2, k), np.full(2, k), 1.0)
    >>> order = pairs_oldest_first(state)
    >>> order, state["s"][order, 0]
    ([1, 2, 0], array([2., 3., 4.]))
    """
    m, n, newest = len(state["rho"]), state["n_pairs"], state["newest"]
    return [(newest - k) % m for k in range(n - 1, -1, -1)]


def _two_loop_state(grad, state):
    return _two_loop(grad, state["s"], state["y"], state["rho"],
                     pairs_oldest_first(state))


def _push(state, s, y, rho):
    """Store a pair in place of the oldest (the ring's next slot)."""
    m = len(state["rho"])
    newest = state["newest"] = (state["newest"] + 1) % m
    state["s"][newest], state["y"][newest], state["rho"][newest] = s, y, rho
    state["n_pairs"] = min(state["n_pairs"] + 1, m)


def _forget(state):
    state["n_pairs"] = 0

r"""Newton's method: the lecture's algorithm, with documented safeguards.

The lecture's step is :math:`\Delta\theta = -H^{-1} g`. Two regimes compute it:

- exact (``n_params <= max_exact_params``): :math:`H` is assembled from exact
  Hessian-vector products (one block product on the identity), symmetrized and
  eigendecomposed, :math:`H = Q \Lambda Q^T`;
- Hessian-free (larger networks): truncated conjugate gradient on Hessian-vector
  products, never forming :math:`H` (Martens, 2010).
"""

import math
import numbers
import warnings

import numpy as np
from sklearn.utils._param_validation import Interval

from .._blas import user_blas_threads
from ._base import Solver
from ._line_search import (
    MAX_BACKTRACKS,
    LineSearchResult,
    armijo,
    backtracking,
    curvature_promise,
    negligible_decrease,
    small_decrease,
    warn_if_decrease_was_promised,
)

#: Forcing term cap and iteration cap of the truncated CG (default mode).
_CG_MAX_ITER = 100
#: Relative residual at which lecture mode's CG counts as an exact solve.
_CG_EXACT_RTOL = 1e-10
#: CG's relative residual for the step tried before a Hessian-free Newton that
#: gained nothing counts as converged (see Newton's Notes).
_CG_TIGHT_RTOL = 1e-4
#: Armijo halvings of the Newton step before the fallback steps are tried.
_HALVINGS_BEFORE_FALLBACK = 5
#: Doublings of an accepted full step along -g, the last resort (up to 2^20 g).
_STEEPEST_DOUBLINGS = 20
#: c in the saddle-free regularization r = c ||g||^(1/2) (Mishchenko's
#: sqrt(L ||g||) with L = 1e-4). Measured: with c = 1 the regularization damps
#: the low-curvature directions so much that the training loss after 40 steps
#: is 8-180x the unregularized one (iris, wine, breast cancer); c = 0.01
#: converges as fast as without it or faster, and still makes the weighted and
#: repeated fits of scikit-learn's check agree to 1e-9 (1e-14 with c = 1).
_REGULARIZATION_SCALE = 0.01
#: Halvings of a step along negative curvature before it is given up: where the
#: curvature is tiny its first step is huge, and with ``tol=0`` failed searches
#: of 25 halvings doubled a fit's evaluations.
_CURVATURE_HALVINGS = 10


class Newton(Solver):
    r"""Newton's method, :math:`\theta \leftarrow \theta - H^{-1} g`, with safeguards.

    A full-batch solver: the estimator passes every training row to each step and
    ``max_iter`` counts steps. With ``damping=0, saddle_free=False,
    line_search=False`` it is exactly the lecture's algorithm; the defaults are
    safeguards that change nothing when the Newton step is well behaved (positive
    definite :math:`H`, and a full step that satisfies Armijo's condition).

    Parameters
    ----------
    damping : float, default=0.0
        :math:`\text{damping} \ge 0` added to every eigenvalue
        (Levenberg-Marquardt): the step solves
        :math:`(H + \text{damping}\, I)\,\Delta\theta = -g`
        (with :math:`|H|` for ``saddle_free``).
    saddle_free : bool, default=True
        Replace each eigenvalue :math:`\lambda_i` of :math:`H` by
        :math:`|\lambda_i|` (saddle-free Newton, Dauphin et al. 2014): along
        negative curvature the step goes *down* instead of toward the saddle
        point or maximum; there the step is also regularized by
        :math:`0.01\,\|g\|^{1/2}` (Mishchenko 2023). Exact regime only (see
        Notes).
    line_search : bool, default=True
        Armijo backtracking on the step (never accepts a higher loss).
    max_exact_params : int, default=2000
        Up to this many parameters, form :math:`H` exactly; above it, use the
        Hessian-free truncated conjugate gradient. The exact regime costs
        :math:`n` Hessian-vector products and an :math:`O(n^3)`
        eigendecomposition per step, so the cost jumps at the boundary: on
        digits (1,797 rows), 1,810 parameters took 2.2 s per step and 2,410
        (Hessian-free) 23 ms (:doc:`/user_guide/performance`; on a machine
        busy with other work, hold ``threadpool_limits(1)`` around the fit).
        Lower it for speed, raise it for the exact regime's saddle-free steps.

    Notes
    -----
    Lecture, "Steps for Newton's method":

    | **while** stopping criteria not met
    |     Sample a minibatch :math:`\{x^{(1)}, \dots, x^{(m)}\}` with labels
          :math:`\{y^{(i)}\}`
    |     Compute gradient:
          :math:`g = \frac1m \sum_i \nabla_\theta L(f(x^{(i)}, \theta), y^{(i)})`
    |     Compute Hessian:
          :math:`H = \frac1m \sum_i \nabla^2_\theta L(f(x^{(i)}, \theta), y^{(i)})`
    |     Compute inverse Hessian: :math:`H^{-1}`
    |     Compute update: :math:`\Delta\theta = -H^{-1} g`
    |     Apply update: :math:`\theta = \theta + \Delta\theta`
    | **end while**

    :math:`g` and :math:`H` are those of the objective, L2 penalty included
    (:math:`H` is exact: R-operator Hessian-vector products, see
    ``skopt_nn._rop``). Gradient clipping (``max_grad_norm``) clips :math:`g`
    only, never :math:`H`.

    **Exact regime.** :math:`H` is symmetrized, :math:`H \leftarrow (H + H^T)/2`
    (it is symmetric up to rounding), and decomposed,
    :math:`H = Q \Lambda Q^T`. With :math:`\mu_i = \lambda_i + \text{damping}`
    (or, ``saddle_free``, :math:`\mu_i = |\lambda_i| + \text{damping} + r`, see
    below), the step is

    .. math::
        \Delta\theta = -\sum_{i:\ |\mu_i| > \tau} \frac{q_i^T g}{\mu_i}\, q_i,
        \qquad \tau = n\, \varepsilon_\text{mach} \max_j |\lambda_j + \text{damping}|,

    the pseudo-inverse on the numerical range (:math:`\tau` is the numerical-rank
    threshold of ``numpy.linalg.matrix_rank``; :math:`n` = number of parameters).
    Without ``saddle_free``, a negative :math:`\mu_i < -\tau` (indefinite
    :math:`H`: the step may go uphill, toward a saddle point or a maximum) or a
    dropped :math:`|\mu_i| \le \tau` (singular :math:`H`: the step ignores the
    part of :math:`g` in the null space) is never solved silently: a
    ``UserWarning`` says which, once per solver state, and ``state["hessian"]``
    records the spectrum of every step: ``min_eigenvalue`` and
    ``max_eigenvalue`` of :math:`H`, ``n_negative`` eigenvalues of
    :math:`H + \text{damping}\, I` below :math:`-\tau`, ``n_dropped``,
    ``n_floored`` and ``regularization`` (below).

    **Negative curvature** (``saddle_free``, exact regime). The step always
    uses :math:`|\lambda_i|` (Dauphin et al. 2014), damping added after:
    :math:`\mu_i = |\lambda_i| + \text{damping}`, so a negative eigenvalue of
    :math:`H` counts as the positive curvature :math:`|\lambda_i|` even where
    damping alone would have made :math:`\lambda_i + \text{damping}` positive.
    Where :math:`H + \text{damping}\,I` has an eigenvalue below :math:`-\tau`,
    the step also takes the gradient regularization
    :math:`r = 0.01\,\|g\|^{1/2}` (Mishchenko 2023: the step
    :math:`-(H + \sqrt{L\|g\|}\, I)^{-1} g`, here with :math:`L = 10^{-4}`);
    with :math:`H` positive semi-definite, :math:`r = 0` and the step is the
    lecture's. Without :math:`r`, the eigenvalues that change sign near a
    saddle point make :math:`1/|\lambda_i|` arbitrarily large, so the step
    jumps by orders of magnitude between neighbouring points: two fits of the
    same objective that differ by rounding (weighted rows and repeated rows)
    drifted apart by 1e-9 after one step and ended on different minima, 4.3
    apart in their predictions. With it, every :math:`\mu_i \ge r`, the step
    is a smooth function of :math:`\theta`, and :math:`r` vanishes as
    :math:`g \to 0`: the same two fits agree to 1e-9. A larger :math:`L`
    damps the low-curvature directions too much (with :math:`L = 1`, the
    training loss after 40 steps was 8-180 times higher on small
    classification problems). ``state["hessian"]["regularization"]`` records
    :math:`r`. With ``saddle_free``, no direction is dropped: a :math:`\mu_i \le
    \tau` (a curvature within rounding noise of zero) is taken as :math:`\tau`,
    so the step still follows :math:`g` along it, by :math:`-(q_i^T g)/\tau`
    (``state["hessian"]["n_floored"]`` counts them). This matters in float32,
    where :math:`\tau` can exceed the curvature of many real directions:
    dropped, they once held all of :math:`g` and the fit stopped at five times
    float64's loss. Along them the step is gradient descent with step size
    :math:`1/\tau`, which converges slowly: a regression network of 101
    parameters (tanh) with 61-72 of them floored was still lowering its loss
    by 0.003-0.005% per step after 600 float32 steps, where float64 converged
    in 127-207 (with two sets of BLAS kernels). Newton's method wants float64.
    Along an exact symmetry of the loss (shifting every softmax intercept by
    the same amount, with no hidden layer), :math:`q_i^T g` is rounding noise
    too, and so is the step along it: the parameters drift there (the
    intercepts' sum by a few hundredths per step on iris) while the loss and
    the predictions do not change. ``saddle_free=False`` drops such directions.

    **Saddle points** (``saddle_free`` with ``line_search``, exact regime). At a
    point where the gradient is zero, or where its steps find no decrease, but
    :math:`H` has a negative eigenvalue :math:`\lambda < -\tau`, every step
    above is (nearly) zero: saddle-free Newton rescales :math:`g`, and there is
    no :math:`g` to rescale. The loss still falls along the eigenvector
    :math:`q` of :math:`\lambda`, where the quadratic model is
    :math:`J + \frac12 \lambda \alpha^2`: the step is :math:`\alpha q`, from
    :math:`\alpha = \sqrt{2 J / |\lambda|}` (where the model reaches 0),
    halved until :math:`J(\theta + \alpha q) < J + \frac14 \lambda \alpha^2`
    (half the model's decrease; not below the loss's rounding level);
    ``state["line_search"]["method"]`` is then ``"negative_curvature"``. A
    network whose weights are all 0 sits on such a saddle point (tanh units,
    balanced classes): Newton stopped there at once, at the loss
    :math:`\ln 2`. Near one the gradient is small, and so is the decrease of
    the steps above: a step that lowers the loss by at most SciPy's ``ftol``
    (2.2e-9 of :math:`\max(|J|, 1)`) tries the step along :math:`q` too, from
    where it ended, in the direction :math:`q^T g \le 0`, with at most 10
    halvings. Otherwise the saddle-free steps double their distance from the
    saddle point along :math:`q` at each step, but the estimator stops once
    every component of the gradient is below its ``tol``, as it does for
    L-BFGS: in one example (tanh units, balanced classes), weights of 1e-4
    around the all-zero saddle point stopped there after one step, and 1e-5
    and below left it; elsewhere such a start may stay near the saddle for
    a few steps, then leave it. Lower ``tol`` to go on.

    **Hessian-free regime** (more than ``max_exact_params`` parameters): conjugate
    gradient on :math:`(H + \text{damping}\, I)\, d = -g` from :math:`d = 0`,
    stopped when the residual is below :math:`\eta \|g\|` with the forcing term
    :math:`\eta = \min(0.5, \sqrt{\|g\|})` (Nocedal & Wright, eq. 7.3) or after
    :math:`\min(n, 100)` iterations; in lecture mode, :math:`\eta = 10^{-10}`
    and up to :math:`10 n` iterations (rounding makes CG need more than
    :math:`n`), and the residual is checked once more as :math:`-g - H d`
    (CG's recursive residual drifts from it, and once fell below :math:`\eta
    \|g\|` on a system without a solution). A direction :math:`p` of
    non-positive curvature :math:`p^T H p \le 0` stops it (Martens 2010;
    Nocedal & Wright, Alg. 7.1):
    the iterate so far is the step, or :math:`-g` if it is the first iteration.
    That iterate is a descent direction, so ``saddle_free`` has no further role
    here; in lecture mode the truncation warns as an indefinite :math:`H` does.
    In lecture mode, CG that does not converge within its :math:`10 n`
    iterations (a singular :math:`H` with part of :math:`g` outside its range,
    where the iterates grow without bound, or too ill-conditioned an :math:`H`)
    warns as a singular :math:`H` does in the exact regime; its iterates are
    not followed past a non-finite curvature :math:`p^T H p`.

    **Line search** (``line_search=True``): Armijo backtracking
    :math:`\alpha = 1, \frac12, \dots` until
    :math:`J(\theta + \alpha\Delta\theta) < J(\theta) + 10^{-4} \alpha g^T
    \Delta\theta`. A full step that passes is taken as is: the safeguards
    then change nothing. Near-zero curvature makes the Newton step huge along a
    few directions, where halving it only makes the useful part tiny as well; so
    after 5 halvings (:math:`\alpha = 1/32`) the search follows the safeguard of
    each regime, trying each step with :math:`\alpha = 1`:

    - exact, ``saddle_free``: the *damping path* of Dauphin et al. (2014), the
      steps :math:`-\sum_i q_i (q_i^T g) / (\mu_i + \kappa)` for
      :math:`\kappa = 10^{-8}, \dots, 10^{11} \max_i \mu_i`, which shrink the
      low-curvature components first;
    - Hessian-free: CG's earlier iterates, most recent first (Martens 2010
      keeps them at iterations 1, 2, 3, 4, 6, 8, 11, ...): an earlier iterate
      resolves fewer low-curvature directions and is more conservative.

    Without a fallback (``saddle_free=False`` in the exact regime) the halvings
    go on (60 in all). If :math:`\Delta\theta` is not a descent direction
    (possible without ``saddle_free``) or nothing passes, the steepest-descent
    direction :math:`-g` is backtracked the same way, except that a full step
    that passes is doubled while the loss keeps falling (up to :math:`2^{20}
    g`: a step as short as :math:`g` crawls near a minimum, where a
    Hessian-free Newton once gained 2e-10 of loss per step); if that fails too, the
    step is not taken, ``state["line_search"]["accepted"]`` is False and
    ``state["converged"]`` is True: no decrease of the loss can be found (with a
    ``ConvergenceWarning`` if the curvature along :math:`g` promised a decrease
    far above the loss's rounding level: the loss is not differentiable there,
    or the problem is badly scaled; ``state["line_search"]["warned"]`` is then
    True, and the estimator does not warn again). It is
    also True after a step that lowered the loss by at most a few rounding
    errors (:math:`4 \varepsilon_\text{mach} |J|`), and, without line search,
    after a step that changed no parameter: the training loop then stops
    (given all rows; see Minibatches below). In the Hessian-free regime a step
    whose CG stopped at its forcing term (as early as one iteration: a scaled
    gradient step) is no proof: the next step solves CG to a relative residual
    of :math:`10^{-4}` at most (``state["tight_cg"]``), and only if that one
    gains nothing either is ``converged`` True (float32 logistic regression on
    breast_cancer's raw features stopped 17% above its optimum). No
    accepted step ever increases the loss.

    **Minibatches.** With an explicit integer ``batch_size`` the estimator passes
    minibatches, and each step uses the minibatch's :math:`H`. Its Gauss-Newton
    part :math:`\frac1m\sum_i J_i^T \nabla^2_z L_i J_i` has rank at most
    :math:`m \times` ``n_outputs``, so with fewer rows than
    ``n_params / n_outputs`` the minibatch cannot determine :math:`H` in most
    directions and the step follows its noise; the estimator then warns (the
    lecture suggests batches of about 10,000 rows for second-order methods),
    also where only the last minibatch, the remainder of the rows, is that
    small. Training then stops by the epochs' rule (``n_iter_no_change``), as a
    stochastic solver's does: the convergence flag and the gradient test
    would judge one minibatch.

    ``state`` holds ``step``, ``converged`` (the last step could not decrease the
    loss, or :math:`g = 0`), ``hessian``, ``line_search`` and ``tight_cg``.
    ``hessian`` is ``{"regime": "exact", "min_eigenvalue", "max_eigenvalue",
    "n_negative", "n_dropped", "n_floored", "regularization"}`` (:math:`r`) or
    ``{"regime": "hessian_free", "cg_iterations", "cg_stop", "cg_rtol"}``,
    where ``cg_stop`` is ``"converged"``, ``"negative_curvature"``,
    ``"max_iter"`` or ``"breakdown"`` (why CG stopped, see above) and
    ``cg_rtol`` CG's relative tolerance.

    References
    ----------
    .. [1] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press,
       2016, section 8.6.1.
    .. [2] Y. Dauphin, R. Pascanu, C. Gulcehre, K. Cho, S. Ganguli and Y. Bengio,
       "Identifying and attacking the saddle point problem in high-dimensional
       non-convex optimization", NeurIPS 2014.
    .. [3] J. Martens, "Deep learning via Hessian-free optimization", ICML 2010.
    .. [4] K. Mishchenko, "Regularized Newton method with global
       :math:`O(1/k^2)` convergence", SIAM Journal on Optimization 33(3), 2023.
    .. [5] J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed.,
       Springer, 2006, sections 3.1 and 7.1.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Newton
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(5,), activation="tanh",
    ...                     solver=Newton(), max_iter=30, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True

    The lecture's algorithm as written: on a least-squares problem (a quadratic)
    one step reaches the minimum, here ridge regression's solution:

    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from sklearn.linear_model import Ridge
    >>> from skopt_nn import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> lecture = Newton(damping=0.0, saddle_free=False, line_search=False)
    >>> reg = MLPRegressor(hidden_layer_sizes=(), solver=lecture, alpha=0.1,
    ...                    max_iter=1, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1
    ...     reg = reg.fit(X, y)
    >>> ridge = Ridge(alpha=0.1).fit(X, y)
    >>> np.allclose(reg.coefs_[0].ravel(), ridge.coef_, rtol=1e-8)
    True
    """

    full_batch = True

    @property
    def _lecture_mode(self):
        """The lecture's algorithm to the letter: no safeguard switched on."""
        return not (self.saddle_free or self.line_search or self.damping)

    _parameter_constraints = {
        "damping": [Interval(numbers.Real, 0, None, closed="left")],
        "saddle_free": ["boolean"],
        "line_search": ["boolean"],
        "max_exact_params": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(self, damping=0.0, saddle_free=True, line_search=True,
                 max_exact_params=2000):
        self.damping = damping
        self.saddle_free = saddle_free
        self.line_search = line_search
        self.max_exact_params = max_exact_params

    def init_state(self, theta):
        return {"step": 0, "converged": False, "hessian": None,
                "line_search": None, "warned": [], "tight_cg": False}

    def check_batch(self, n_rows, n_samples, n_params, n_outputs):
        """Warn if minibatches are too small for the Hessian to be informative.

        Called by the estimator when it passes minibatches of ``n_rows`` of the
        ``n_samples`` training rows (an explicit ``batch_size``); see Notes.

        Parameters
        ----------
        n_rows, n_samples : int
            Rows per minibatch, and training rows.
        n_params, n_outputs : int
            Parameters and outputs of the network: a minibatch gives
            ``n_rows * n_outputs`` rank-one terms to the Hessian.
        """
        # (the last minibatch holds the remainder of the rows, if any)
        smallest = n_samples % n_rows or n_rows
        if smallest * n_outputs < n_params:
            last = f", the last of {smallest}," if smallest < n_rows else ""
            warnings.warn(
                f"Newton receives minibatches of {n_rows} of {n_samples} rows"
                f"{last} for {n_params} parameters: the Hessian of {smallest} rows "
                f"with {n_outputs} output(s) has a Gauss-Newton part of rank at most "
                f"{smallest * n_outputs}, so it is singular or dominated by the "
                "minibatch's noise in most directions. Use batch_size='auto' (all "
                f"rows) or at least {math.ceil(n_params / n_outputs)} rows in every "
                "minibatch, the last included; the "
                "lecture suggests about 10,000 for second-order methods.",
                UserWarning,
            )

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        state["converged"] = False
        state["line_search"] = None
        if not math.isfinite(loss):  # no curvature to model: the caller reports it
            state["step"] += 1
            return loss
        exact = theta.size <= self.max_exact_params
        # where the gradient leads nowhere, negative curvature still may
        leaves_saddles = self.saddle_free and self.line_search and exact
        stationary = not np.any(grad)
        if stationary and not leaves_saddles:  # there is nothing to follow
            state["converged"] = True
            state["step"] += 1
            return loss
        negative_curvature = None
        if exact:
            direction, info, fallbacks, negative_curvature = self._exact_direction(
                theta, objective, grad, state)
        else:
            direction, info, fallbacks = self._hessian_free_direction(
                theta, objective, grad, state)
        state["hessian"] = info
        if not self.line_search:
            # a step that changes no parameter in floating point: converged
            state["converged"] = bool(np.all(theta + direction == theta))
            theta += direction  # theta = theta + delta_theta
        elif stationary:
            state["converged"] = True
        else:
            self._search(theta, objective, loss, grad, direction, fallbacks, state)
            if not exact and state["converged"] and info["cg_stop"] == "converged" \
                    and info["cg_rtol"] > _CG_TIGHT_RTOL:
                # a loosely solved CG (its forcing term allows one iteration, a
                # scaled gradient) may gain nothing where the Newton step would:
                # converged only if a tightly solved one fails too
                state["converged"], state["tight_cg"] = False, True
            else:
                state["tight_cg"] = False
        searched = state["line_search"]
        failed = searched is not None and not searched["accepted"]
        here = loss if searched is None or failed else searched["loss"]
        # Near a saddle point the steps above gain little (the gradient is
        # small), and at one nothing: negative curvature may gain more. The
        # training loop would stop on such a step (SciPy's ftol).
        if leaves_saddles and negative_curvature is not None and (
                state["converged"] or small_decrease(loss, here)):
            self._follow_negative_curvature(theta, objective, here, grad,
                                            *negative_curvature, state)
        if failed and state["converged"]:
            # converged, unless the curvature along -g promised a decrease
            searched["warned"] = warn_if_decrease_was_promised(
                "Newton", state["step"] + 1, grad, loss,
                curvature_promise(objective, theta, grad), theta.dtype)
        state["step"] += 1
        return loss

    # ------------------------------------------------------------ directions
    def _exact_direction(self, theta, objective, grad, state):
        n = theta.size
        H = np.asarray(objective.hvp(theta, np.eye(n, dtype=theta.dtype)),
                       dtype=np.float64)
        H = 0.5 * (H + H.T)
        if not np.isfinite(H).all():  # (eigh would fail with a LinAlgError)
            raise ValueError(
                "Newton: the Hessian at the current parameters is not finite (its "
                "entries overflow): the input data may contain large values and "
                "need to be preprocessed (scaled).")
        with user_blas_threads():  # (one long LAPACK call: threads pay)
            eigenvalues, Q = np.linalg.eigh(H)
        shifted = eigenvalues + self.damping  # of H + damping I
        # numerically zero: below matrix_rank's threshold
        tiny = n * np.finfo(theta.dtype).eps * np.abs(shifted).max()
        n_negative = int(np.sum(shifted < -tiny))
        if self.saddle_free:
            mu = np.abs(eigenvalues) + self.damping
            # Near negative curvature the step is regularized (see Notes): there
            # some |eigenvalues| pass near zero, where -g/|lambda| would jump
            # by orders of magnitude between neighbouring points.
            regularization = _REGULARIZATION_SCALE * \
                math.sqrt(float(np.linalg.norm(grad))) \
                if n_negative else 0.0
            mu += regularization
            # A curvature below tau is rounding noise (in float32, tau can exceed
            # the curvature of many real directions): it is taken as tau, the
            # most the noise allows, rather than dropped, which would discard the
            # part of g along it (all of g, near some float32 minima).
            n_floored = int(np.sum(mu <= tiny))
            mu = np.maximum(mu, tiny)
        else:
            mu, regularization, n_floored = shifted, 0.0, 0
        keep = mu > 0 if self.saddle_free else np.abs(mu) > tiny
        info = {"regime": "exact",
                "min_eigenvalue": float(eigenvalues[0]),
                "max_eigenvalue": float(eigenvalues[-1]),
                "n_negative": n_negative,
                "n_dropped": int(n - keep.sum()),
                "n_floored": n_floored,
                "regularization": regularization}
        if not self.saddle_free:
            if info["n_negative"]:
                self._warn_once(state, "indefinite", (
                    f"Newton: H{' + damping I' if self.damping else ''} is "
                    f"indefinite ({info['n_negative']} negative eigenvalue(s), the "
                    f"smallest {eigenvalues[0]:.3g}): the Newton step -H^-1 g "
                    "heads toward a saddle point or a maximum along those "
                    "directions and may increase the loss. saddle_free=True uses "
                    "|eigenvalues| instead."))
            if info["n_dropped"]:
                self._warn_once(state, "singular", (
                    f"Newton: H is singular ({info['n_dropped']} of {n} "
                    f"eigenvalues below {tiny:.3g} in magnitude): the step uses "
                    "the pseudo-inverse on the range of H and leaves the part of "
                    "g in the null space unchanged. damping > 0 regularizes it."))
        Qk, mu = Q[:, keep], mu[keep]
        coordinates = Qk.T @ grad  # g in the eigenbasis
        direction = -(Qk @ (coordinates / mu))
        # the damping path needs mu > 0, which only saddle_free guarantees
        fallbacks = _damping_path(Qk, coordinates, mu, theta.dtype) \
            if self.saddle_free and mu.size else []
        # the most negative curvature of H and its direction, if any
        negative = (float(eigenvalues[0]), Q[:, 0].astype(theta.dtype)) \
            if n_negative else None
        return direction.astype(theta.dtype, copy=False), info, fallbacks, negative

    def _hessian_free_direction(self, theta, objective, grad, state):
        lecture = self._lecture_mode
        g_norm = float(np.linalg.norm(grad))
        if lecture:
            # (in floating point CG may need more than n iterations)
            rtol, max_iter = _CG_EXACT_RTOL, 10 * theta.size
        else:
            rtol, max_iter = min(0.5, math.sqrt(g_norm)), min(theta.size, _CG_MAX_ITER)
            if state.get("tight_cg"):  # (see step)
                rtol = min(rtol, _CG_TIGHT_RTOL)
        earlier = []
        direction, iterations, reason = truncated_cg(
            lambda p: objective.hvp(theta, p), grad, self.damping, rtol, max_iter,
            saved=earlier, verify=lecture)
        if reason == "negative_curvature" and not self.saddle_free:
            self._warn_once(state, "indefinite", (
                "Newton (Hessian-free): conjugate gradient met a direction of "
                "non-positive curvature p^T H p <= 0 (H is indefinite or singular): "
                "the step is CG's iterate before it (or -g on the first "
                "iteration), not H^-1 g."))
        elif reason != "converged" and lecture:
            # no exact solve, as the lecture asks: g has a part outside the range
            # of a singular H, or H is too ill-conditioned for CG
            failure = (f"no convergence in {iterations} iterations"
                       if reason == "max_iter" else "its iterates overflowed")
            self._warn_once(state, "singular", (
                f"Newton (Hessian-free): conjugate gradient did not solve "
                f"H d = -g ({failure}): H is singular or too ill-conditioned, so "
                "the step is CG's last iterate, not H^-1 g, and may be huge. "
                "damping > 0 regularizes it."))
        info = {"regime": "hessian_free", "cg_iterations": iterations,
                "cg_stop": reason, "cg_rtol": rtol}
        # Martens (2010): backtrack through CG's earlier, more conservative iterates
        fallbacks = [("earlier_cg_iterate", {"cg_iteration": i},
                      d.astype(theta.dtype, copy=False)) for i, d in reversed(earlier)]
        return direction.astype(theta.dtype, copy=False), info, fallbacks

    # ----------------------------------------------------------- line search
    def _search(self, theta, objective, loss, grad, direction, fallbacks, state):
        """Armijo backtracking, then the fallback steps, then steepest descent."""
        result, record, spent = None, None, 0
        if float(grad @ direction) < 0:
            halvings = _HALVINGS_BEFORE_FALLBACK if fallbacks else MAX_BACKTRACKS
            result = backtracking(objective, theta, loss, grad, direction,
                                  max_evals=halvings + 1)
            spent = result.evaluations
            record = result.record("newton")
        if result is None or not result.accepted:
            for method, details, step in fallbacks:
                trial = theta + step
                trial_loss, _ = objective(trial)
                spent += 1
                if armijo(trial_loss, loss, float(grad @ step)):
                    result = LineSearchResult(True, 1.0, trial, trial_loss, None, spent)
                    record = {**result.record(method), **details}
                    break
        if result is None or not result.accepted:
            # backtracking that also lengthens a step the first trial accepts:
            # steps as short as g crawl near a minimum
            result = backtracking(objective, theta, loss, grad, -grad,
                                  max_doublings=_STEEPEST_DOUBLINGS)
            result.evaluations += spent
            record = result.record("steepest_descent")
        state["line_search"] = record
        if result.accepted:
            theta[...] = result.theta
        # no decrease, or none that floating point resolves: no further progress
        state["converged"] = (not result.accepted
                              or negligible_decrease(loss, result.loss, theta.dtype))

    def _follow_negative_curvature(self, theta, objective, loss, grad, curvature,
                                   unit, state):
        r"""Step along the eigenvector ``unit`` of negative ``curvature`` where the
        gradient's steps made little or no progress (near a saddle point).

        Along it the quadratic model :math:`J + \frac12 \lambda \alpha^2` falls
        either way (the sign is taken downhill along ``grad``); the search starts
        where the model reaches 0 (a loss is not negative),
        :math:`\alpha = \sqrt{2 J / |\lambda|}`, and halves until the loss falls
        by half the model's decrease at least: at most ``_CURVATURE_HALVINGS``
        times, and not below the loss's rounding level. Without success,
        ``theta`` and ``state`` are left as they are.
        """
        if float(grad @ unit) > 0:  # downhill along the gradient too
            unit = -unit
        step_size = math.sqrt(2 * abs(loss) / -curvature) if loss else 1.0
        rounding = 4 * np.finfo(theta.dtype).eps * abs(loss)
        for evaluations in range(1, _CURVATURE_HALVINGS + 2):
            promise = -0.25 * curvature * step_size**2
            if promise <= rounding:  # no decrease floating point would resolve
                return
            trial = theta + step_size * unit
            trial_loss, _ = objective(trial)
            if trial_loss < loss - promise:
                theta[...] = trial
                state["converged"] = False
                state["line_search"] = LineSearchResult(
                    True, step_size, trial, trial_loss, None, evaluations,
                ).record("negative_curvature")
                return
            step_size /= 2

    @staticmethod
    def _warn_once(state, kind, message):
        if kind not in state["warned"]:
            state["warned"].append(kind)
            warnings.warn(message, UserWarning, stacklevel=3)


def _damping_path(Q, coordinates, mu, dtype):
    r"""The saddle-free steps of increasing damping :math:`\kappa`, lazily.

    :math:`d(\kappa) = -\sum_i q_i\, (q_i^T g) / (\mu_i + \kappa)` for
    :math:`\kappa = 10^{-8}, 10^{-7}, \dots, 10^{11}` times :math:`\max_i \mu_i`
    (Dauphin et al. 2014 choose the damping of saddle-free Newton by such a
    search). Large :math:`\kappa` shrinks first the components of small
    curvature, which the quadratic model extrapolates worst; as
    :math:`\kappa \to \infty`, :math:`d \to -g / \kappa`.
    """
    scale = mu.max()
    for exponent in range(-8, 12):
        tau = scale * 10.0 ** exponent
        step = -(Q @ (coordinates / (mu + tau)))
        yield "damped_newton", {"damping": tau}, step.astype(dtype, copy=False)


def truncated_cg(hvp, grad, damping, rtol, max_iter, saved=None, verify=False):
    r"""Conjugate gradient on :math:`(H + \text{damping}\,I)\, d = -g`, truncated.

    Parameters
    ----------
    hvp : callable
        ``hvp(p) -> H p``.
    grad : ndarray of shape (n,)
        :math:`g` (nonzero).
    damping : float
    rtol : float
        Stop when :math:`\|r\| \le` ``rtol`` :math:`\|g\|`.
    max_iter : int
    saved : list or None
        If a list, ``(iteration, iterate)`` pairs of earlier iterates are appended
        to it, at iterations 1, 2, 3, 4, 6, 8, 11, ... (about 1.3 times apart, as
        Martens 2010 keeps them for backtracking), the returned one excluded.
    verify : bool, default=False
        Check a convergence by the true residual :math:`-g - (H +
        \text{damping}\, I)\, d`, one more product, and go on from it if that
        misses the tolerance. CG updates its residual by recursion, which drifts
        from the true one as :math:`d` grows: on a singular :math:`H` where
        :math:`g` has a part in its null space (no solution), it could fall
        below the tolerance with :math:`\|d\| \sim 10^{13}` and the true
        residual still near :math:`\|g\|`.

    Returns
    -------
    direction : ndarray of shape (n,)
    iterations : int
        Hessian-vector products spent (CG iterations, plus the checks of
        ``verify``).
    reason : {"converged", "negative_curvature", "max_iter", "breakdown"}
        Why CG stopped. On non-positive curvature :math:`p^T H p \le 0` the
        iterate so far is returned, or :math:`-g` on the first iteration; on a
        non-finite :math:`p^T H p` or next iterate ("breakdown": the iterates of
        an unsolvable, singular system grew until they overflowed), the last
        finite iterate.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]])
    >>> d, iterations, reason = truncated_cg(lambda p: A @ p, np.array([1.0, 1.0]),
    ...                                      0.0, 1e-12, 10)
    >>> np.allclose(A @ d, [-1.0, -1.0]), iterations, reason
    (True, 2, 'converged')
    """
    def product(v):  # (H + damping I) v, in float64
        Hv = np.asarray(hvp(v.astype(grad.dtype, copy=False)), dtype=np.float64)
        if damping:
            Hv += damping * v
        return Hv

    minus_g = -np.asarray(grad, dtype=np.float64)
    d = np.zeros_like(minus_g)
    r = minus_g.copy()  # residual -g - (H + damping I) d
    p = r.copy()
    rr = float(r @ r)
    stop = rtol * math.sqrt(rr)
    next_saved, checks = 1, 0
    for iteration in range(1, max_iter + 1):
        Hp = product(p)
        curvature = float(p @ Hp)
        if not math.isfinite(curvature):  # overflow: the last finite iterate
            return d, iteration + checks, "breakdown"
        if curvature <= 0:
            return (d if iteration > 1 else minus_g), iteration + checks, \
                "negative_curvature"
        if saved is not None and iteration > 1 and iteration - 1 == next_saved:
            saved.append((iteration - 1, d))  # (d is replaced, never changed)
            next_saved = max(next_saved + 1, math.ceil(1.3 * next_saved))
        step = rr / curvature
        d_next = d + step * p
        if not math.isfinite(float(d_next @ d_next)):  # the iterates overflow
            return d, iteration + checks, "breakdown"
        d = d_next
        r -= step * Hp
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= stop:
            if not verify:
                return d, iteration, "converged"
            checks += 1
            r = minus_g - product(d)
            rr_new = float(r @ r)
            if math.sqrt(rr_new) <= stop:
                return d, iteration + checks, "converged"
            p = r.copy()  # restarted from the true residual
            rr = rr_new
            continue
        p *= rr_new / rr
        p += r
        rr = rr_new
    return d, max_iter + checks, "max_iter"

"""The solver protocol and the string aliases of the built-in solvers.

A solver holds hyperparameters and nothing else; all training state lives in the
``state`` dict it creates, which the estimator stores as ``solver_state_``::

    state = solver.init_state(theta)             # theta: 1-D array, all parameters
    loss = solver.step(theta, objective, state)  # updates theta and state in place

``objective(theta)`` returns ``(loss, grad)`` for the current (mini)batch, penalty
included (``grad`` a fresh array at every call, which the solver may overwrite:
Adam does), and ``objective.hvp(theta, v)`` the exact Hessian-vector product
``H @ v`` (``v`` of shape (n_params,), or (n_params, k) for ``k`` directions as
columns, as a matrix product would take them).

Two optional extensions, used by the full-batch solvers:

- ``state["converged"] = True``, set by ``step``, tells the training loop that the
  solver can make no more progress (a zero gradient, or a line search that found
  no lower loss): the loop stops after that epoch without a ConvergenceWarning
  (not a ``full_batch`` solver given minibatches: the flag would judge one).
  ``step`` sets it afresh at every call (the state goes on to the next
  ``warm_start`` fit: a flag left True would stop it after one epoch).
- ``solver.check_batch(n_rows, n_samples, n_params, n_outputs)``, if defined, is
  called once per fit when the estimator passes minibatches of ``n_rows`` of the
  ``n_samples`` training rows (an explicit integer ``batch_size``), so that the
  solver can warn when minibatches defeat it.
"""

import copy
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, clone

from .._strict_parameters import StrictParameters


class Solver(StrictParameters, BaseEstimator):
    r"""Base class of every optimizer: subclass it to write your own.

    A subclass stores its hyperparameters in ``__init__`` (and nothing else),
    implements :meth:`~Solver.step`, and :meth:`~Solver.init_state` if it keeps
    state between steps. Set the class attribute ``full_batch = True`` if each
    step needs the whole training set (the estimator then passes all rows and
    ``max_iter`` counts steps).

    Notes
    -----
    What the estimator passes to a step, and what it does with what the step
    leaves behind:

    - **The loss returned** is the one the step evaluated at its start, before
      its update: at ``theta`` as passed in, or, for Nesterov and
      RMSPropNesterov, at the look-ahead point. The estimator does not
      evaluate it again. An epoch's ``loss_``
      (``loss_curve_``, ``history_``, and what ``tol`` and
      ``n_iter_no_change`` compare) is the mean of its steps' returned losses,
      weighted by each minibatch's total sample weight, and the divergence
      checks judge the same losses: a non-finite one ends the epoch as
      diverged (in a call's first epoch, a ``ValueError`` names the data if
      the loss at the call's starting parameters is not finite either), and
      so do losses far above those the call started from, and parameters or
      state arrays that are no longer finite. A step must
      therefore return a real number: the loss of the objective it was given,
      taken before its update (>= 0, as every objective is; a negative one is
      a ``ValueError``).
    - **state["converged"]**, optional, is read after each epoch's last step:
      True stops training without a ConvergenceWarning (but for a first
      step that leaves the parameters at their random initialization with a
      gradient that is not zero, which warns that the fit never moved; not for a
      ``full_batch`` solver given minibatches, an integer ``batch_size``: the
      flag would judge the last minibatch alone). A solver that uses it
      sets it afresh at every step (False when it can still make progress):
      the state is carried over to the next ``warm_start`` fit, so a flag set
      once and left True stops every later ``warm_start`` fit after its first
      epoch.
    - **dtypes**: ``theta`` is in the model's dtype (float32 for a model first
      fitted on float32 ``X``, float64 otherwise), and so are the arrays
      ``objective(theta)`` and ``objective.hvp(theta, v)`` return; the loss is
      a float. ``hvp`` casts ``v`` to the model's dtype: a float64 ``v``
      on a float32 model is rounded to float32, and the product computed and
      returned in float32. State made with ``np.zeros_like(theta)`` follows.
    - **The state after early stopping**: the estimator returns to the
      best-validated epoch with that epoch's state for a minibatch solver, but
      with a fresh state (``init_state``'s) for a ``full_batch`` one, of which
      it keeps no copies: after a fit with ``early_stopping=True``, L-BFGS's
      curvature pairs are gone, and a ``warm_start`` fit starts without them.
    - **Threads**: inside ``step``, NumPy's BLAS is limited to one thread when
      the step's matrix products are small (rows times the largest layer's
      ``fan_in * fan_out`` below 2**22), or when a full batch is evaluated in
      row shards on threads of their own; SciPy's own BLAS (a library of its
      own in the pip wheels) is on one thread throughout. The limits last as
      long as the fit. Dense linear algebra in a user's ``step`` (an
      eigendecomposition of an ``n_params`` square matrix) thus runs on one
      thread, unless the step raises the limit around it, with threadpoolctl's
      ``threadpool_limits(limits=..., user_api="blas")``.
    - **The solver object stays as constructed**: ``step`` keeps everything
      it learns in ``state``, which the estimator copies and restores (after
      a divergence, a Ctrl-C, with early stopping), pickles and starts afresh
      when a hyperparameter changes. The estimator warns after a fit or
      ``partial_fit`` call in which ``step`` set attributes on the solver or
      changed its hyperparameters (neither would be restored). A solver that
      draws random numbers keeps its generator in the state
      (``np.random.default_rng(seed)`` in ``init_state``, from a ``seed``
      hyperparameter): the estimator's ``random_state`` is not passed to
      solvers, and a generator in the state is restored, pickled and copied
      with the rest.
    - **Weight decay** written in a step (AdamW's decoupled
      :math:`\theta \leftarrow \theta - \epsilon\lambda\theta`) decays every
      entry of ``theta``: weights, biases, and batch normalization's
      :math:`\gamma` and :math:`\beta` alike, as the protocol passes no layout.
      The estimator's ``alpha`` penalizes the weights only.

    Examples
    --------
    A sign-gradient solver in a few lines:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Solver
    >>> class SignSGD(Solver):
    ...     def __init__(self, learning_rate=0.001):
    ...         self.learning_rate = learning_rate
    ...     def step(self, theta, objective, state):
    ...         loss, grad = objective(theta)
    ...         theta -= self.learning_rate * np.sign(grad)
    ...         state["step"] += 1
    ...         return loss
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=SignSGD(), max_iter=50, random_state=0).fit(X, y)
    >>> clf.solver_state_["step"]
    50
    """

    #: True for solvers that need every training row at each step.
    full_batch = False

    # A user's solver need not declare constraints: unlisted parameters are
    # not validated (without this, fit fails in _validate_params).
    _parameter_constraints: dict = {}

    def init_state(self, theta):
        """Create the training state for parameters ``theta``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            The initial parameters (their size and dtype size the arrays).

        Returns
        -------
        state : dict
            Arrays and counters; ``state["step"]`` counts the updates done.
        """
        return {"step": 0}

    def step(self, theta, objective, state):
        """Do one update of ``theta`` (in place) and return the loss evaluated.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            Parameters, updated in place.
        objective : callable
            ``objective(theta) -> (loss, grad)``, ``grad`` a fresh array the
            solver may overwrite; ``objective.hvp(theta, v)``.
        state : dict
            The state made by :meth:`~Solver.init_state`, updated in place.

        Returns
        -------
        loss : float
            The loss the step evaluated at its start, before its update (for
            Nesterov and RMSPropNesterov, at the look-ahead point): the
            estimator records it in ``loss_curve_`` and tests it for
            divergence (see Notes).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement step()")

    def current_learning_rate(self, state):
        """The learning rate of the next update: a number, or a schedule's rate
        at ``state["step"]``.

        A solver's ``step`` can use it to accept schedules as well as numbers
        (``theta -= self.current_learning_rate(state) * direction``, before
        counting the update); ``history_`` reports it.

        Parameters
        ----------
        state : dict
            The solver's state; ``state["step"]`` picks a schedule's rate.

        Returns
        -------
        rate : float or None
            None if the solver has no ``learning_rate``, or one that is neither
            a number nor a schedule (a user's per-layer rates, say).
        """
        rate = getattr(self, "learning_rate", None)
        if not (isinstance(rate, numbers.Real) or callable(rate)):
            return None
        return learning_rate_at(rate, state["step"])


def new_state(solver, theta):
    """``solver.init_state(theta)``, checked: a dict with a ``"step"`` counter."""
    state = solver.init_state(theta)
    if not isinstance(state, dict) or "step" not in state:
        got = f"keys {sorted(map(str, state))}" if isinstance(state, dict) \
            else type(state).__name__
        raise TypeError(f"{type(solver).__name__}.init_state must return a dict "
                        f"with a 'step' counter (updates done), got {got}.")
    return state


def learning_rate_at(learning_rate, k):
    """The rate of the k-th update: a float, or a schedule called with ``k``.

    A schedule's value is checked as a constant rate is: a negative rate would
    climb the loss, and training would only stop for lack of improvement,
    silently; a NaN or infinite one would end in a divergence warning that
    advises a lower rate, not a fix to the schedule.
    """
    if isinstance(learning_rate, numbers.Real):
        if not 0 <= learning_rate < math.inf:  # (a user's solver may declare
            # no constraints, and a step may call this with any number)
            raise ValueError(f"learning_rate must be a finite real number >= 0 "
                             f"or a schedule, got {learning_rate!r}.")
        return float(learning_rate)
    value = learning_rate(k)
    try:
        rate = None if isinstance(value, (str, bytes, bool, np.bool_)) else float(value)
    except (TypeError, ValueError):
        rate = None
    if rate is None or not 0 <= rate < math.inf:
        raise ValueError(
            f"The learning-rate schedule {learning_rate!r} returned {value!r} for "
            f"update {k}: a learning rate must be a finite real number >= 0.")
    return rate


def _check_learning_rate(solver):
    """A ``learning_rate`` hyperparameter (the name every built-in solver and
    :meth:`Solver.current_learning_rate` read) is a finite number >= 0, a
    schedule, or something else than a string, a bool or a class: checked
    before training, for a user's solver that declares no constraints on it (a
    negative rate climbed the loss without a word, an infinite one diverged at
    once; a string failed inside its step, a schedule's class at the first
    update, with "returned LinearDecay(initial=0)"). A solver whose
    constraints list ``learning_rate`` is left to them."""
    if "learning_rate" in getattr(solver, "_parameter_constraints", {}):
        return  # its own constraints say what it takes (scikit-learn's strings)
    rate = getattr(solver, "learning_rate", None)
    if isinstance(rate, type):
        raise ValueError(
            f"The learning_rate of {type(solver).__name__} must be an instance, "
            f"not the class {rate.__name__}: pass learning_rate={rate.__name__}"
            "(...) (with its hyperparameters, if any).")
    if isinstance(rate, (str, bytes, bool, np.bool_)) or (
            isinstance(rate, numbers.Real) and not 0 <= rate < math.inf):
        raise ValueError(
            f"The learning_rate of {type(solver).__name__} must be a finite real "
            f"number >= 0 or a schedule, got {rate!r}.")


def copy_state(state, into=None):
    """A copy of a solver state, made in ``into``'s arrays where they fit.

    Training snapshots the state with the parameters it may return to; copying
    into the previous snapshot's arrays spares an allocation per epoch.
    """
    into = into or {}
    copied = {}
    for key, value in state.items():
        old = into.get(key)
        if isinstance(value, np.ndarray) and isinstance(old, np.ndarray) \
                and old.shape == value.shape and old.dtype == value.dtype:
            np.copyto(old, value)
            copied[key] = old
        else:
            copied[key] = copy.deepcopy(value)
    return copied


def _aliases():
    from . import _first_order, _lbfgs, _newton

    return {
        "sgd": _first_order.SGD,
        "momentum": _first_order.Momentum,
        "nesterov": _first_order.Nesterov,
        "adagrad": _first_order.AdaGrad,
        "rmsprop": _first_order.RMSProp,
        "rmsprop_nesterov": _first_order.RMSPropNesterov,
        "adam": _first_order.Adam,
        "lbfgs": _lbfgs.LBFGS,
        "newton": _newton.Newton,
    }


SOLVER_ALIASES = (
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "rmsprop_nesterov",
    "adam", "lbfgs", "newton",
)


def resolve_solver(solver):
    """A fresh, validated solver object for a string alias or a Solver instance.

    The user's object is cloned, never mutated.
    """
    if isinstance(solver, str):
        resolved = _aliases()[solver]()
    else:
        resolved = clone(solver)
    if hasattr(resolved, "_validate_params"):
        resolved._validate_params()
    for method in ("step", "init_state"):  # (a hyperparameter of that name)
        if not callable(getattr(resolved, method, None)):
            raise TypeError(
                f"{type(resolved).__name__}.{method} is "
                f"{getattr(resolved, method, None)!r}, not a method: a "
                f"hyperparameter named {method!r} hides Solver.{method}; rename it.")
    _check_learning_rate(resolved)
    # nested estimators (a learning-rate schedule) too: _validate_params checks
    # only the solver's own parameters, so LinearDecay(tau=0) would pass silently
    for value in resolved.get_params(deep=True).values():
        constrained = hasattr(value, "_parameter_constraints")
        if isinstance(value, BaseEstimator) and constrained:
            value._validate_params()
    return resolved

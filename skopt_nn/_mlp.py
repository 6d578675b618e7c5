"""MLPClassifier and MLPRegressor: validation, the training loop, early stopping."""

import copy
import datetime
import math
import numbers
import time
import warnings
import weakref
from abc import ABCMeta, abstractmethod
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    _num_samples,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._blas import runs_on_one_thread, training_threads
from ._chunked import (
    ChunkedObjective,
    ChunkedRows,
    computed,
    delayed_chunks,
    encode_targets,
    is_dask_array,
    is_dask_dataframe,
    row_class_weights,
    summarize_chunk,
)
from ._batchnorm import (
    BatchNorm,
    population_statistics,
    update_running_statistics,
)
from ._data import Minibatches, validation_split
from ._divergence import DIVERGENCE_FACTOR, END_FACTOR, END_FLOOR, DivergenceTest
from ._elementwise import maximum_with, minimum_with
from ._hyperparameters import same_value
from ._interrupts import DeferredInterrupts
from ._strict_parameters import StrictParameters
from ._losses import LOSSES, OUTPUT_ACTIVATIONS, constant_prediction_loss
from ._network import Network
from ._objective import Objective, threaded_shards
from ._parameter_views import ParameterViews
from .solvers._base import (SOLVER_ALIASES, Solver, _aliases, copy_state,
                            new_state, resolve_solver)
from .solvers._first_order import NETWORK_BLAS_ONLY
from .solvers._line_search import SCIPY_FTOL, small_decrease

_ACTIVATIONS = {"identity", "logistic", "tanh", "relu"}
_PARAMETER_VIEWS = ("coefs_", "intercepts_", "bn_gamma_", "bn_beta_")
# scikit-learn's MLP parameters that are solver hyperparameters here, and where
# each went (the user guide's table, 'The optimizer is an object')
_PORTED_TO = {
    "learning_rate_init": "the solver's learning_rate, e.g. "
                          "solver=SGD(learning_rate=0.01)",
    "learning_rate": "the solver's learning_rate, a number or a schedule: "
                     "'invscaling' is closest to InverseScaling(initial=0.001, "
                     "power_t=0.5), which decays at every update where scikit-"
                     "learn's decays with the samples seen at each epoch's end; "
                     "'adaptive' has no counterpart (LinearDecay decays linearly)",
    "power_t": "InverseScaling(initial=0.001, power_t=0.5) as the solver's "
               "learning_rate (decaying at every update)",
    "momentum": "solver=Momentum(momentum=0.9) or Nesterov(momentum=0.9)",
    "nesterovs_momentum": "solver=Nesterov(...) (True) or Momentum(...) (False)",
    "beta_1": "solver=Adam(beta_1=0.9)",
    "beta_2": "solver=Adam(beta_2=0.999)",
    "epsilon": "solver=Adam(epsilon=1e-8)",
    "max_fun": "no counterpart: solver=LBFGS() counts iterations in max_iter",
}


def _ported_hint(names):
    """Where scikit-learn's optimizer parameters ``names`` went."""
    return ("scikit-learn's optimizer settings live on the solver object here, "
            "set by set_params(solver__learning_rate=0.01) and the like: " +
            "; ".join(f"{name}: {_PORTED_TO[name]}" for name in names) +
            " (see the user guide's 'Differences from scikit-learn's MLP').")


# How a fit that Ctrl-C stopped starts its warning (a caller that must stop as
# well looks for it: the comparison CLI)
INTERRUPTED_MESSAGE = "Training interrupted by user"

# Estimators whose parameters set_params has changed since they were last
# validated (outside their __dict__: set_params leaves the fitted state alone)
_PARAMETERS_SET = weakref.WeakSet()


def _state_carries_over(a, b):
    """True if solver ``a`` may continue the state of solver ``b``: the same type
    and the same (nested) hyperparameters, the learning rate aside.

    A state (velocity, moment estimates, update count, curvature pairs) stays
    valid under a new learning rate, which only scales the next updates: a rate
    lowered by hand between ``partial_fit`` calls (reduce on plateau) continues
    the state, as a schedule would, and a schedule's update count goes on.
    Nested estimators (schedules) are compared through their own parameters, and
    other values by value (``same_value``), not by identity: the estimator clones
    its solver at every fit, which deep-copies a ``functools.partial``, a callable
    object or a list of arrays.
    """
    if type(a) is not type(b):
        return False

    def state_parameters(solver):  # a number, a schedule, another schedule: alike
        return {key: value for key, value in solver.get_params(deep=True).items()
                if key != "learning_rate" and not key.startswith("learning_rate__")}

    pa, pb = state_parameters(a), state_parameters(b)
    if pa.keys() != pb.keys():
        return False
    for key, value in pa.items():
        other = pb[key]
        if isinstance(value, BaseEstimator) or isinstance(other, BaseEstimator):
            if type(value) is not type(other):
                return False
            continue  # compared through its own "key__param" entries
        if not same_value(value, other):  # clone deep-copied it: by value
            return False
    return True


def _hyperparameter_key(solver):
    """A cheap, comparable snapshot of a solver's hyperparameters, or None.

    A solver's ``__init__`` stores its hyperparameters and nothing else, so its
    ``vars`` are them (nested schedules included). None when a value is not a
    plain scalar: the caller then compares through ``get_params``.
    """
    if isinstance(solver, str):
        return solver
    try:
        hyperparameters = vars(solver)
    except TypeError:  # no __dict__ (slots)
        return None
    items = []
    for name, value in sorted(hyperparameters.items()):
        if isinstance(value, BaseEstimator):
            value = _hyperparameter_key(value)
            if value is None:
                return None
        elif not isinstance(value, (numbers.Number, str, type(None))):
            return None
        items.append((name, value))
    return type(solver), tuple(items)


def _warn_if_step_changed(solver, original):
    """Warn if training changed ``solver``, a clone of the user's ``original``:
    attributes set on it (training state kept on the solver, which divergence
    recovery, Ctrl-C and early stopping do not restore) or hyperparameters
    changed (the next call would start a fresh state, silently)."""
    added = sorted(set(vars(solver)) - set(vars(original)))
    changed = [name for name, value in original.get_params(deep=False).items()
               if not same_value(getattr(solver, name, None), value)]
    if not (added or changed):
        return
    what = "; ".join(part for part in (
        added and "set " + ", ".join(added),
        changed and "changed the hyperparameters " + ", ".join(changed)) if part)
    warnings.warn(
        f"{type(solver).__name__}.step changed the solver during training "
        f"({what}). A solver keeps its training state in the state dict, "
        "which training copies, restores (after a divergence, a Ctrl-C or with "
        "early stopping), pickles and starts afresh: state kept on the solver is "
        "not restored, and changed hyperparameters make the next warm-started "
        "or partial fit start a fresh state.", UserWarning)


def _is_full_batch(solver):
    if isinstance(solver, str):
        return _aliases()[solver].full_batch
    return bool(getattr(solver, "full_batch", False))


class BaseMLP(StrictParameters, BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of MLPClassifier and MLPRegressor (not public)."""

    def __new__(cls, *args, **kwargs):
        # (code ported from scikit-learn's MLP: say where its optimizer's
        # parameters went, rather than only that they are unexpected)
        ported = cls._ported_names(kwargs)
        if ported:
            raise TypeError(f"{cls.__name__}.__init__() got unexpected keyword "
                            f"argument(s) {ported}: {_ported_hint(ported)}")
        return super().__new__(cls)

    @classmethod
    def _ported_names(cls, names):
        """The ``names`` that are scikit-learn's optimizer parameters, not this
        class's own (a subclass may have parameters of those names), sorted."""
        ported = set(names) & _PORTED_TO.keys()
        # (the signature is read only then: it costs ~50 us)
        return sorted(ported - set(cls._get_param_names())) if ported else []

    # the parameters, as views into the flat vector (assigning copies values in);
    # _PARAMETER_VIEWS names them
    coefs_ = ParameterViews()
    intercepts_ = ParameterViews()
    bn_gamma_ = ParameterViews()
    bn_beta_ = ParameterViews()

    _parameter_constraints = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(_ACTIVATIONS)],
        "solver": [StrOptions(set(SOLVER_ALIASES)), Solver],
        "batch_norm": ["boolean", BatchNorm],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        # (np.inf, as scikit-learn's: no stopping on a lack of improvement)
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "max_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_norm=False,
        alpha=1e-4,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        max_grad_norm=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.batch_norm = batch_norm
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.max_grad_norm = max_grad_norm

    def set_params(self, **params):
        """Set the parameters of this estimator (scikit-learn's ``set_params``).

        A nested solver parameter (``solver__learning_rate=...``) given while
        ``solver`` is a string alias applies to the default-configured object
        that the alias stands for, which becomes the ``solver`` parameter: a
        grid over ``solver__*`` works with ``solver="momentum"`` too. Likewise
        ``batch_norm__momentum=...`` with ``batch_norm=True`` applies to
        ``BatchNorm()``.

        Parameters
        ----------
        **params : dict
            Estimator parameters, and nested ones (``solver__<name>``,
            ``batch_norm__<name>``).

        Returns
        -------
        self : estimator instance
        """
        solver = params.get("solver", self.solver)
        if isinstance(solver, str) and solver in SOLVER_ALIASES and any(
                key.startswith("solver__") for key in params):
            params = {**params, "solver": _aliases()[solver]()}
        batch_norm = params.get("batch_norm", self.batch_norm)
        if not isinstance(batch_norm, BatchNorm) and any(
                key.startswith("batch_norm__") for key in params):
            if not batch_norm:
                raise ValueError(
                    "Nested batch_norm__* parameters need batch normalization, "
                    f"but batch_norm={batch_norm!r}.")
            params = {**params, "batch_norm": BatchNorm()}
        ported = self._ported_names(params)
        if ported:
            raise ValueError(f"Invalid parameter(s) {ported} for estimator "
                             f"{type(self).__name__}: {_ported_hint(ported)}")
        # (validated by the next partial_fit call; marked first, since a call
        # that raises part-way has set the parameters before the failing one)
        _PARAMETERS_SET.add(self)
        try:
            super().set_params(**params)
        except AttributeError as error:
            if "object has no attribute 'set_params'" not in str(error):
                raise
            # solver__learning_rate__tau=5 with a number as learning_rate, or
            # solver__momentum=0.9 with solver=None
            nested = sorted(key for key in params if "__" in key)
            hint = " For instance, solver__learning_rate__tau needs a schedule as " \
                "learning_rate, e.g. solver__learning_rate=LinearDecay(initial=0.01)." \
                if any(key.count("__") >= 2 for key in nested) else ""
            raise ValueError(
                f"Invalid nested parameter(s) {nested}: a value along the path is "
                f"not an estimator ({error}).{hint}") from None
        return self

    def _validate_params_if_new(self):
        """Validate the parameters on the first ``partial_fit`` call and on the
        first after ``set_params``. Other calls skip it, as scikit-learn's do:
        it costs more than the update of a small call."""
        if not hasattr(self, "_theta") or self in _PARAMETERS_SET:
            self._validate_params()
            _PARAMETERS_SET.discard(self)

    # ---------------------------------------------------------------- subclass
    @abstractmethod
    def _encode_targets(self, y, reset, classes):
        """Return ``(Y, fitted_attributes)``: 2-D float targets and what to set."""

    @abstractmethod
    def _validation_score(self, logits, y, sample_weight):
        """The early-stopping score on held-out rows (higher is better), from
        their output logits."""

    def _check_warm_start_targets(self, y):
        """Raise if a ``warm_start`` fit's targets cannot continue the fitted
        model's (beyond the number of outputs, checked for every estimator)."""

    # -------------------------------------------------------------- validation
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(not isinstance(s, numbers.Integral) or isinstance(s, bool) or s <= 0
               for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be > 0 integers, got %s." % (sizes,)
            )
        return [int(s) for s in sizes]

    def _batch_norm_config(self):
        if isinstance(self.batch_norm, BatchNorm):
            config = self.batch_norm
        elif self.batch_norm:  # True or numpy.True_ (a grid of np.array([...]))
            config = BatchNorm()
        else:
            return None
        config._validate_params()
        return config

    def _prepare(self, X, y, sample_weight, reset, classes=None, warm_start=False):
        """Validate everything; return the training data. Sets no attribute."""
        X = computed(X)
        X, y = validate_data(
            self, X, y, reset=reset, accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32], multi_output=True, y_numeric=False,
        )
        if sparse.issparse(X):
            X = X.tocsr()
        sparse_y = sparse.issparse(y)
        if sparse_y:  # a sparse indicator matrix (multilabel, multi-output)
            if isinstance(self, ClassifierMixin) and \
                    type_of_target(y, input_name="y") != "multilabel-indicator":
                # (scikit-learn's words: its label encoding takes no sparse y;
                # predict and score would not either)
                raise TypeError(
                    "Sparse data was passed for y, but dense data is required. Use "
                    "'.toarray()' to convert to a dense numpy array.")
            y = y.toarray()
        if warm_start:  # (on all rows: zero-weight ones are dropped below;
            # before the encoding, whose error for a new class is partial_fit's)
            self._check_warm_start_targets(y)
        Y, fitted = self._encode_targets(y, reset, classes)
        if fitted.get("_label_kind") == "multilabel":
            # (predict answers in the form fit was given, as scikit-learn's)
            fitted["_sparse_labels"] = sparse_y
        # class indicators (0/1) stay uint8, an eighth of float64, until a
        # minibatch needs them as floats (see Minibatches)
        # (regression targets in the dtype of the model: X's, or a continued fit's)
        dtype = X.dtype if reset else self._theta.dtype
        Y = np.ascontiguousarray(
            Y if isinstance(self, ClassifierMixin) else _cast(Y, dtype, "y"),
            dtype=np.uint8 if isinstance(self, ClassifierMixin) else dtype)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        factors = [] if sample_weight is None else [sample_weight]
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            multilabel = fitted.get("_label_kind", getattr(
                self, "_label_kind", None)) == "multilabel"
            # (a column vector of labels, warned about above, as its column)
            labels = y if multilabel else np.asarray(y).reshape(len(y))
            if isinstance(class_weight, dict) and multilabel:
                # (scikit-learn's message asks for a list of dicts, which the
                # parameter's constraints refuse)
                raise ValueError(
                    "class_weight as a dict weighs the classes of 1-D labels; for a "
                    "multilabel indicator y, use class_weight='balanced' or pass "
                    "sample_weight.")
            if isinstance(class_weight, str):
                cw = _balanced_row_weights(labels, sample_weight)
            else:  # over the classes declared: a partial_fit batch may lack some
                known = fitted["classes_"] if reset else self.classes_
                cw = compute_class_weight(class_weight, classes=known, y=labels)[
                    np.searchsorted(known, labels)]
            # (a weight of 0 drops the class's rows, as a sample weight of 0 does;
            # NaN did too, silently)
            if not (np.isfinite(cw).all() and (cw >= 0).all()):
                raise ValueError("class_weight must be finite and non-negative, "
                                 f"got {class_weight!r}.")
            factors.append(cw)
        # (in the model's dtype: a continued fit's, whatever X's)
        sample_weight = _weights_in(dtype, *factors, class_weighted=class_weight
                                    is not None) if factors else None
        if sample_weight is not None:
            X, Y, y, sample_weight = _weighted_rows(
                X, Y, y, sample_weight, "" if class_weight is None
                else " (with the class weights applied)")
        return X, Y, y, sample_weight, fitted

    def _evaluates_chunks(self, X, y, sample_weight, solver, bn):
        """Whether this fit evaluates a dask array's rows chunk by chunk.

        A full-batch solver on a dask array does, unless
        :meth:`_chunks_refused` gives a reason, which a warning names: the rows
        are then computed into memory, as any array-like's are (and as a
        stochastic solver's are, without a warning: ``partial_fit`` through
        ``dask_ml.wrappers.Incremental`` is their route). On a dask DataFrame,
        the warning says how to pass its array.
        """
        if not solver.full_batch:
            return False
        if is_dask_dataframe(X):
            what, reason = "DataFrame", (
                "only a dask array's chunks are: pass X.to_dask_array(lengths=True), "
                "where the user guide's other conditions hold")
        elif is_dask_array(X):
            what, reason = "array", self._chunks_refused(X, y, sample_weight, bn)
        else:
            return False
        if reason:
            warnings.warn(
                f"{type(solver).__name__} on a dask {what}: the rows are computed "
                f"into memory, not evaluated chunk by chunk, because {reason} (see "
                "the user guide, 'At scale with dask').", UserWarning)
        return not reason

    def _chunks_refused(self, X, y, sample_weight, bn):
        """Why a full-batch fit cannot evaluate the dask array ``X`` chunk by
        chunk, or ""."""
        classify = isinstance(self, ClassifierMixin)
        y_shape = y.shape if hasattr(y, "shape") else np.shape(y)
        y_kind = getattr(y.dtype if hasattr(y, "dtype") else np.asarray(y).dtype,
                         "kind", "O")  # (a pandas extension dtype may have none)
        unknown = any(math.isnan(n) for a in (X, y, sample_weight)
                      if is_dask_array(a) for n in a.shape)
        refusals = (
            (X.ndim != 2, "X is not two-dimensional"),
            (X.dtype.kind not in "biuf", "X is not numeric"),
            (not isinstance(X._meta, np.ndarray), "its chunks are not NumPy arrays"),
            (unknown, "some chunk sizes are unknown (compute_chunk_sizes() finds them)"),
            (X.shape[0] == 0, "it has no rows"),
            (bn is not None, "batch normalization needs the statistics of all rows "
                             "at once"),
            (self.early_stopping, "early_stopping holds out a validation split of "
                                  "the rows"),
            (self.batch_size != "auto" and self.batch_size < X.shape[0],
             "batch_size makes minibatches"),
            (len(y_shape) not in (1, 2) or (classify and len(y_shape) == 2
                                            and y_shape[1] != 1),
             "y is neither one column of labels nor targets as columns"),
            (not classify and y_kind not in "biuf", "y is not numeric"),
            (sample_weight is not None and np.ndim(sample_weight) != 1,
             "sample_weight is not one-dimensional"),
        )
        return next((reason for refused, reason in refusals if refused), "")

    def _prepare_chunks(self, X, y, sample_weight, reset, warm_start):
        """``_prepare`` for a dask array's rows, which stay in their chunks.

        One pass over the chunks checks the rows, targets and weights as
        validation does, finds the classes and sums the weights of each chunk;
        what it returns is lazy: a :class:`ChunkedRows` of X in the model's
        dtype, Y encoded chunk by chunk and the weights as float64, on X's
        chunks of rows, with Y as the second item (its shape and dtype) and
        the labels found (classification) or None as the third.
        """
        import dask
        import dask.array as da

        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        rows = X.chunks[0]

        def on_rows(v):  # (a dask array on X's chunks of rows)
            if not is_dask_array(v):
                v = np.asarray(v)
                check_consistent_length(X, v)
                return da.from_array(v, chunks=(rows,) + v.shape[1:])
            check_consistent_length(X, v)
            return v.rechunk((rows,) + (-1,) * (v.ndim - 1))

        y = on_rows(y)
        classify = isinstance(self, ClassifierMixin)
        if classify and y.ndim == 2:  # one column, as 1-D labels (warns)
            y = y[:, 0] if _is_column_vector(y) else y
        elif not classify:
            _is_column_vector(y)  # (warns; one output either way)
        w = None if sample_weight is None else on_rows(sample_weight)
        dtype = (np.float32 if X.dtype == np.float32 else np.float64) if reset \
            else self._theta.dtype
        X = X.rechunk({1: -1})
        # Unoptimized graphs keep X's keys in y and w derived from X: a chunk
        # of X is then computed once per pass, not once per array.
        parts = list(zip(delayed_chunks(X), delayed_chunks(y),
                         [None] * len(rows) if w is None else delayed_chunks(w)))
        summaries = dask.compute(*[dask.delayed(summarize_chunk)(
            x_k, y_k, w_k, dtype, classify) for x_k, y_k, w_k in parts])
        _raise_flaws([s["X"] for s in summaries], "X", dtype)
        totals = [float(n) for n in rows]
        if w is not None:
            _raise_flaws([s["w"] for s in summaries], "sample_weight", np.float64)
            if any(s["w_negative"] for s in summaries):
                raise ValueError("Negative values in data passed to `sample_weight`.")
            totals = [s["w_sum"] for s in summaries]
            _check_chunk_totals(totals)
        if classify:
            labels = np.unique(np.concatenate([s["labels"] for s in summaries]))
            _, fitted = self._encode_targets(labels, reset, classes=None)
            if warm_start:
                self._check_warm_start_targets(labels)
            classes = fitted.get("classes_", getattr(self, "classes_", None))
            n_outputs = 1 if len(classes) == 2 else len(classes)
            if getattr(self, "class_weight", None) is not None:
                w, totals = self._chunk_class_weights(y, w, labels, summaries)
        else:
            _raise_flaws([s["y"] for s in summaries], "y", dtype)
            self._check_target_range(min(s["y_min"] for s in summaries))
            labels, fitted, classes = None, {}, None
            n_outputs = 1 if y.ndim == 1 else y.shape[1]
        Y = y.map_blocks(encode_targets, classes, dtype, dtype=dtype,
                         chunks=(rows, (n_outputs,)),
                         **({"new_axis": 1} if y.ndim == 1 else {}))
        chunks = ChunkedRows(X.astype(dtype), Y, w, totals)
        return chunks, Y, labels, None, fitted

    def _chunk_class_weights(self, y, w, labels, summaries):
        """Row weights with ``class_weight`` applied (a dask array) and each
        chunk's total, from the validation pass's counts per label.

        The class weights are those the rows in memory get:
        ``"balanced"`` ones from each label's total sample weight (see
        :func:`_balanced_class_weights`).
        """
        weight_sums = np.zeros((len(summaries), len(labels)))
        smallest = np.full(len(labels), np.inf)  # positive sample weight
        for k, summary in enumerate(summaries):
            at = np.searchsorted(labels, summary["labels"])
            weight_sums[k, at] = summary["label_weights"]
            smallest[at] = np.minimum(smallest[at], summary["label_min_weight"])
        if isinstance(self.class_weight, str):  # "balanced"
            class_weights = _balanced_class_weights(weight_sums.sum(axis=0))
        else:
            class_weights = compute_class_weight(self.class_weight, classes=labels,
                                                 y=labels)
        if not (np.isfinite(class_weights).all() and (class_weights >= 0).all()):
            raise ValueError("class_weight must be finite and non-negative, "
                             f"got {self.class_weight!r}.")
        with np.errstate(over="ignore", under="ignore"):
            totals = [float(t) for t in weight_sums @ class_weights]
            lost = (class_weights > 0) & np.isfinite(smallest) & \
                (smallest * class_weights == 0)
        _check_chunk_totals(totals, " (with the class weights applied)")
        if lost.any():
            raise ValueError(
                "Some positive sample weights are 0 in float64 (with the class "
                "weights applied): scale them up (the fit depends on their "
                "ratios, and on their sum through the L2 penalty's alpha / "
                "sum(sample_weight)).")
        rows = y.map_blocks(row_class_weights, labels, class_weights,
                            dtype=np.float64)
        return (rows if w is None else w.astype(np.float64) * rows), totals

    def _prepare_light(self, X, y, sample_weight, classes):
        """``_prepare`` for partial_fit's common case in one light pass, or None.

        A streaming caller sends many small batches: the full validation (and
        label checks) would cost several times the update itself. Handled here:
        a finite float ndarray X with the fitted number of columns and 1-D
        targets that ``_encode_light`` accepts, and sample weights that
        ``_light_weights`` accepts, which is exactly input that the full path
        accepts unchanged. Anything else, every error message included, goes
        through ``_prepare`` (None is returned).
        """
        X, named = self._frame_values(X)
        y = _series_values(y)
        if (not self._plain_rows(X, named) or type(y) is not np.ndarray
                or getattr(self, "class_weight", None) is not None
                or y.ndim != 1 or X.shape[0] != y.shape[0]):
            return None
        Y = self._encode_light(y, classes)
        if Y is None:
            return None
        if sample_weight is None:
            return X, Y, y, None, {}
        weights = _light_weights(sample_weight, X.shape[0], self._theta.dtype)
        return None if weights is None else (*_weighted_rows(X, Y, y, weights), {})

    def _plain_rows(self, X, named=False):
        """Whether ``X`` is rows that validation would accept unchanged.

        A finite float32/float64 ndarray of one or more rows with the fitted
        number of columns, for a model fitted without feature names (whose
        check, and its warning, need the full validation), or ``named``: the
        values of a DataFrame whose columns are the fitted feature names (see
        :meth:`_frame_values`). Those take the light paths of ``partial_fit``
        and prediction: validating a single row costs several times
        predicting it.
        """
        if not (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] > 0
                and X.shape[1] == self.n_features_in_
                and X.dtype in (np.float32, np.float64)
                and named == hasattr(self, "feature_names_in_")):
            return False
        # finite sum, finite entries, in one pass without a mask; a sum that
        # overflows (silently: the rows may be valid) or a NaN leaves them to
        # the full validation
        with np.errstate(over="ignore", invalid="ignore"):
            return math.isfinite(X.sum())

    def _frame_values(self, X):
        """``(values, True)`` for a pandas DataFrame whose columns are the
        fitted feature names, in order, all of NumPy float dtypes; ``(X,
        False)`` for anything else.

        The values are ``np.asarray(X)``, the array validation makes of such a
        frame (the same dtype and memory layout, so the same results): its
        feature-name check passes, and :meth:`_plain_rows` does the rest. A
        stream of DataFrame chunks then validates each in about 50 us, where
        the full validation took 3 ms per 32-row call (2.9 of them checking
        the names and dtypes).
        """
        names = getattr(self, "feature_names_in_", None)
        if names is None or not _is_pandas(X, "DataFrame") or len(X.columns) != len(names) \
                or not np.array_equal(X.columns.to_numpy(), names):
            return X, False
        if not all(isinstance(dtype, np.dtype) and dtype.kind == "f"
                   for dtype in X.dtypes):
            return X, False
        return np.asarray(X), True

    def _minibatch_rows(self):
        """The rows per minibatch asked for, as an int: ``batch_size``, 200 for
        "auto" (a small NumPy integer type, np.uint8(32), would wrap in the
        products of rows and units)."""
        return 200 if self.batch_size == "auto" else int(self.batch_size)

    def _batch_rows(self, n_samples, full_batch, rows_dropped=0):
        """Rows per minibatch; warns, as scikit-learn, of a batch_size above the
        rows given (``rows_dropped`` of zero weight among them: not above the
        rows kept, which batch_size=n_samples would then be)."""
        if self.batch_size == "auto":
            return n_samples if full_batch else min(200, n_samples)
        if self._minibatch_rows() > n_samples + rows_dropped:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be "
                "clipped.", UserWarning,
            )
        return min(self._minibatch_rows(), n_samples)

    # -------------------------------------------------------------------- fit
    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        # A fit that raises (bad input, or a solver failing mid-training) leaves
        # the estimator exactly as it was: the attributes are restored, and so is
        # what training updates in place: the flat vector (into which coefs_ and
        # intercepts_ stay views), the solver state, the random stream, the BN
        # statistics and the per-epoch lists (whose records are never mutated).
        saved = dict(self.__dict__)
        # Only a fit that continues from the fitted state updates its arrays in
        # place; any other fit builds new ones, and copies would only add to the
        # fit's peak memory.
        continues = (incremental or self.warm_start) and "_theta" in saved
        theta = saved.get("_theta") if continues else None
        theta_copy = None if theta is None else theta.copy()
        in_place = {key: copy.deepcopy(saved[key]) for key in (
            "solver_state_", "bn_mean_", "bn_var_") if key in saved} \
            if continues else {}
        if "_network" in saved:  # only its attributes are reassigned
            in_place["_network"] = copy.copy(saved["_network"])
        # the random stream this fit draws from: the fitted one it continues, or
        # the user's RandomState instance it starts from
        rng = saved.get("_random_state") if continues else self.random_state \
            if isinstance(self.random_state, np.random.RandomState) else None
        # (get_state costs ~30 µs, deepcopy 7x more: skipped for a partial_fit
        # call that takes its rows in order and so draws nothing)
        rng_state = None if rng is None or not self._may_draw(X, incremental,
                                                              continues) \
            else rng.get_state()
        # training only appends to these lists: their lengths suffice (a copy
        # would make each partial_fit call cost more than the last)
        lengths = {key: len(saved[key]) for key in (
            "loss_curve_", "history_", "validation_scores_")
            if isinstance(saved.get(key), list)}
        try:
            return self._fit_unchecked(X, y, sample_weight, incremental, classes,
                                        in_place.get("solver_state_"), theta_copy)
        except BaseException:  # KeyboardInterrupt too
            self.__dict__.clear()
            self.__dict__.update(saved)
            self.__dict__.update(in_place)
            for key, length in lengths.items():
                del saved[key][length:]
            if theta is not None:
                theta.flags.writeable = True  # (a user's solver may have locked it)
                theta[...] = theta_copy
            if rng_state is not None:
                rng.set_state(rng_state)
            raise

    def _may_draw(self, X, incremental, continues):
        """Whether this fit may draw from the random stream (the initial
        parameters of a fit that does not continue, shuffle, split)."""
        if not (incremental and continues):
            return True
        try:
            n_samples = _num_samples(X)
        except TypeError:
            return True  # invalid input: validation will raise
        return self.shuffle and self._minibatch_rows() < n_samples

    def _fit_unchecked(self, X, y, sample_weight, incremental, classes, state_copy,
                       theta_copy):
        reuse = (incremental or self.warm_start) and hasattr(self, "_theta")
        solver_key = _hyperparameter_key(self.solver)
        if reuse and solver_key is not None \
                and solver_key == getattr(self, "_solver_key", None):
            solver = self.solver_  # unchanged: no clone, no validation per call
        else:
            solver = resolve_solver(self.solver)
        bn = self._batch_norm_config()
        hidden = self._hidden_sizes()
        if bn is not None and not hidden and not reuse:
            warnings.warn(
                "batch_norm has no effect without hidden layers "
                "(hidden_layer_sizes=()): it normalizes hidden layers' "
                "pre-activations.", UserWarning)
        prepared = self._prepare_light(X, y, sample_weight, classes) \
            if incremental and reuse else None
        chunked = not incremental and self._evaluates_chunks(X, y, sample_weight,
                                                             solver, bn)
        if chunked:
            prepared = self._prepare_chunks(X, y, sample_weight, reset=not reuse,
                                            warm_start=reuse)
        try:  # (rows of zero weight are dropped: batch_size is of the rows given)
            rows_given = None if chunked else _num_samples(X)
        except TypeError:
            rows_given = None  # invalid input: validation will raise
        X, Y, y, sample_weight, fitted = prepared or self._prepare(
            X, y, sample_weight, reset=not reuse, classes=classes,
            warm_start=reuse and not incremental,
        )
        rows_dropped = 0 if rows_given is None else rows_given - X.shape[0]
        for name, value in fitted.items():
            setattr(self, name, value)
        if reuse:
            n_hidden_fitted = [w.shape[1] for w in self.coefs_[:-1]]
            if n_hidden_fitted != hidden or Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    "hidden_layer_sizes and the number of outputs cannot change "
                    "between warm-started or partial fits: fitted with "
                    f"{n_hidden_fitted} and {self.n_outputs_} outputs, got "
                    f"{hidden} and {Y.shape[1]} outputs."
                )
            if self._output_activation(Y) != self._network.out_activation:
                raise ValueError(
                    "loss cannot change between warm-started or partial fits: "
                    f"fitted with the {self._network.out_activation!r} output, got "
                    f"loss={getattr(self, 'loss', None)!r}.")
            if (bn is None) != (not self._network.batch_norm):
                raise ValueError("batch_norm cannot be switched on or off when "
                                 "warm-starting or in partial_fit.")
            if self._theta.dtype != X.dtype:
                X, Y = _cast(X, self._theta.dtype), _cast(Y, self._theta.dtype, "y")
        else:
            self._initialize(X, Y, hidden, bn)
        # a solver that starts a state is compared with the user's after
        # training (a stream's later calls are spared the comparison: 40-50 us
        # per call for a solver whose hyperparameters are not plain values)
        fresh = not reuse or (solver is not self.solver_
                              and not _state_carries_over(solver, self.solver_))
        if fresh:
            self.solver_state_ = new_state(solver, self._theta)
            state_copy = None
        self.solver_ = solver
        self._solver_key = solver_key
        # hyperparameters that leave the parameters' shapes alone take effect on
        # a warm start or partial_fit, as scikit-learn's do
        self._network.activation = self.activation
        self._network.bn_epsilon = None if bn is None else bn.epsilon
        # rows of a step's products (as _batch_rows, which also warns)
        step_rows = X.shape[0] if solver.full_batch else min(
            X.shape[0], self._minibatch_rows())
        # Overflow is not an error here: a diverging loss is detected and reported
        # by _train as a ConvergenceWarning, with the best parameters restored.
        # a full batch of enough rows is evaluated in two row shards (Objective),
        # on two threads where the machine has them
        threaded = not chunked and threaded_shards(
            self._network, X, step_rows, solver.full_batch)
        # (the chunks' tasks run on dask's threads: each BLAS call on one; a
        # partial_fit call whose every BLAS call runs on one thread anyway sets
        # no limits, which would cost a tenth of a 32-row call: known of the
        # built-in solvers only, a user's step may make calls of its own)
        units = self._network.layer_units
        if incremental and type(solver) in NETWORK_BLAS_ONLY and \
                runs_on_one_thread(units, X.shape[0]):
            limits = nullcontext()
        else:
            limits = training_threads(units, step_rows, threaded or chunked)
        with limits, \
                (ThreadPoolExecutor(1) if threaded else nullcontext()) as executor, \
                np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                DeferredInterrupts(active=not incremental) as interrupts:
            self._train(X, Y, y, sample_weight, incremental, bn, executor,
                        state_copy if incremental else None,
                        theta_copy if incremental else None, interrupts,
                        rows_dropped)
        if fresh and not isinstance(self.solver, str):
            _warn_if_step_changed(solver, self.solver)
        if not incremental:  # (a stream's next call reuses them)
            self._network.release_workspaces()
        return self

    def _initialize(self, X, Y, hidden, bn):
        self._random_state = check_random_state(self.random_state)
        units = [X.shape[1], *hidden, Y.shape[1]]
        network = Network(units, self.activation, self._output_activation(Y),
                          None if bn is None else bn.epsilon)
        self._network = network
        self._theta = network.initialize(self._random_state, X.dtype)
        self._set_views()
        self.n_layers_ = len(units)
        self.n_outputs_ = Y.shape[1]
        self.out_activation_ = network.out_activation
        self.n_iter_ = 0
        self.t_ = 0
        self._epoch_order = self._statistics_order = None  # (see _train)
        self._split_seed = None  # (see _split_random_state)
        self.loss_curve_ = []
        self.history_ = []
        self.best_loss_ = np.inf
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.loss_ = None
        if bn is not None:
            self.bn_mean_ = [np.zeros(u, dtype=X.dtype) for u in hidden]
            self.bn_var_ = [np.ones(u, dtype=X.dtype) for u in hidden]
            self._bn_counts = (0.0, 0.0)  # rows in bn_mean_, m - 1 in bn_var_
        else:  # a previous fit's statistics describe another network
            for name in ("bn_mean_", "bn_var_", "_bn_counts"):
                self.__dict__.pop(name, None)

    def _split_random_state(self):
        """The random stream of the early-stopping split, from a seed drawn once
        per model, on its first split: a warm-started fit on the same rows then
        holds out the same ones, as one longer fit would (a new split would
        choose the best epoch on rows trained on before). Fits without early
        stopping draw nothing more from the model's stream."""
        if getattr(self, "_split_seed", None) is None:  # (or an older pickle)
            self._split_seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        return np.random.RandomState(self._split_seed)

    def _set_views(self):
        coefs, intercepts, gammas, betas = self._network.unpack(self._theta)
        batch_norm = self._network.batch_norm
        for name, views in zip(_PARAMETER_VIEWS, (
                coefs, intercepts, gammas if batch_norm else None,
                betas if batch_norm else None)):
            ParameterViews.bind(self, name, views)

    def __getstate__(self):
        # (a copy: Python's default state is the instance's own __dict__)
        state = dict(super().__getstate__())
        # The views are rebuilt over _theta on loading (see __setstate__);
        # pickled, each would be a copy of its part of the parameters.
        for name in _PARAMETER_VIEWS:
            state.pop(ParameterViews.slot(name), None)
        if self in _PARAMETERS_SET:  # a copy validates them too (see set_params)
            state["_parameters_set"] = True
        return state

    def __setstate__(self, state):
        state = dict(state)
        if state.pop("_parameters_set", False):
            _PARAMETERS_SET.add(self)
        super().__setstate__(state)
        if "_theta" in state:
            # joblib.load(mmap_mode="r") maps arrays read-only; training updates
            # the parameters, the solver's state and the BN statistics in place
            self._theta = _writeable(self._theta)
            self.solver_state_ = _writeable(self.solver_state_)
            for name in ("bn_mean_", "bn_var_"):
                if name in state:
                    setattr(self, name, _writeable(state[name]))
            # views do not survive pickling: rebuild them over the flat vector
            # (pickles from before the views were descriptors hold plain lists)
            for name in _PARAMETER_VIEWS:
                self.__dict__.pop(name, None)
            self._set_views()

    # ---------------------------------------------------------- training loop
    def _train(self, X, Y, y, sample_weight, incremental, bn, executor, state_copy,
               theta_copy, interrupts, rows_dropped=0):
        """The training loop: ``max_iter`` epochs (``partial_fit``: one).

        ``state_copy`` and ``theta_copy`` are copies of the solver state and of
        the parameters as a ``partial_fit`` call starts, which the caller keeps
        anyway (to undo a failed call): a diverged call restores them.
        ``interrupts``: the :class:`DeferredInterrupts` of the call.
        ``rows_dropped``: rows given with zero weight, not in ``X``.
        """
        network, theta, solver = self._network, self._theta, self.solver_
        rng = self._random_state
        early_stopping = self.early_stopping and not incremental
        if early_stopping:
            if self.validation_fraction == 0:
                raise ValueError("early_stopping needs validation_fraction > 0: "
                                 "validation_fraction=0 holds out no rows.")
            strata = y if self._stratify() else None
            held_out = validation_split(X, Y, sample_weight, self.validation_fraction,
                                        strata, self._split_random_state())
            if held_out.all() or not held_out.any():
                raise ValueError(
                    "The validation split of early_stopping left no rows to "
                    f"{'train on' if held_out.all() else 'validate on'} with "
                    f"n_samples={X.shape[0]}; " + (
                        "change validation_fraction or provide more samples."
                        if held_out.any() else
                        "provide more samples. Identical rows stay on one side "
                        "of the split, which never holds out all the rows of a "
                        "class (of a regressor, all the rows): it needs two "
                        "distinct rows in a class, or in all.")
                )
            if held_out.sum() < 2:
                warnings.warn(
                    "The validation set of early_stopping is a single row "
                    f"(n_samples={X.shape[0]}, validation_fraction="
                    f"{self.validation_fraction}): its loss alone decides when "
                    "training stops and which epoch is kept, and its score "
                    "(validation_scores_) is that of one row (scikit-learn's MLP "
                    "raises here). Increase 'validation_fraction' or the size of "
                    "your dataset.", UserWarning)
            val = (X[held_out], y[held_out],
                   None if sample_weight is None else sample_weight[held_out],
                   Y[held_out])
            keep = ~held_out
            X, Y = X[keep], Y[keep]
            sample_weight = None if sample_weight is None else sample_weight[keep]
            if self.validation_scores_ is None:
                self.validation_scores_ = []
        n_samples = X.shape[0]
        batch_rows = self._batch_rows(n_samples, solver.full_batch, rows_dropped)
        if batch_rows < n_samples and hasattr(solver, "check_batch"):
            solver.check_batch(batch_rows, n_samples, network.n_params, Y.shape[1])
        # A full-batch solver given minibatches (an explicit batch_size): its
        # convergence flag and the gradient and ftol tests would judge the last
        # minibatch alone (one of a single row, say); its epochs are judged as a
        # stochastic solver's are, by n_iter_no_change.
        by_epochs = not solver.full_batch or batch_rows < n_samples
        shuffled = self.shuffle and batch_rows < n_samples
        if shuffled and not sparse.issparse(X) and not X.flags.c_contiguous:
            # Gathering a minibatch's rows (np.take) copies an X that is not in
            # C order whole, at every minibatch: 90 ms for 60000x784 float32 in
            # Fortran order, against 0.2 ms. One C-ordered copy for the fit, as
            # scikit-learn's SGDClassifier makes (load_digits' X is a view with
            # a row stride of 65 columns, a DataFrame's values are in F order).
            X = np.ascontiguousarray(X)
        if bn is not None and batch_rows == 1:
            warnings.warn(
                "batch_norm with minibatches of one row (batch_size=1 or a single "
                "training row): each normalized unit is 0, so the layers before "
                "each normalization get no gradient and the network ignores its "
                "input. Use minibatches of at least 2 rows.", UserWarning,
            )
        # partial_fit's running statistics, restored if this pass diverges
        saved_statistics = (([m.copy() for m in self.bn_mean_],
                             [v.copy() for v in self.bn_var_], self._bn_counts)
                            if incremental and bn is not None else None)
        chunked = isinstance(X, ChunkedRows)  # (see _prepare_chunks)
        objective = (ChunkedObjective if chunked else Objective)(
            network, self.alpha, self.max_grad_norm, remember_last=solver.full_batch,
            shards=2 if solver.full_batch else 1, executor=executor)
        n_epochs = 1 if incremental else self.max_iter
        # best validated (early stopping) or lowest loss. A partial_fit call's
        # copy of its starting parameters (which _fit keeps to undo a failed
        # call) serves as its best and epoch-start parameters too: in its one
        # epoch neither is rewritten (two parameter copies fewer per call).
        best_theta = theta.copy() if theta_copy is None else theta_copy
        best_fit_loss = np.inf
        # An epoch's loss is measured along its updates, from the parameters it
        # started with: those are the ones divergence recovery returns to.
        epoch_start = None if early_stopping else \
            theta.copy() if theta_copy is None else theta_copy
        # Each shuffled epoch permutes the previous epoch's row order, as
        # scikit-learn's MLP does: the same random_state then draws the same
        # minibatches. Each call starts from the rows' own order (None), as
        # there, except a warm-started fit, which continues the last one (kept
        # only with warm_start: 8 bytes per row, in memory and in pickles).
        order = None if incremental else getattr(self, "_epoch_order", None)
        if order is not None and len(order) != n_samples:
            order = None
        # BN's inference statistics come from one set of training minibatches,
        # the first epoch's (drawn here, before it, from the same stream): the
        # starting parameters, each epoch's and the model returned are then all
        # validated alike, and predict as they were validated. A warm start
        # continues one longer fit, whose first epoch's order it keeps (with
        # warm_start and BN only: 8 bytes per row more).
        statistics_order = None
        if shuffled and not incremental:
            kept = getattr(self, "_statistics_order", None) if order is not None \
                else None
            order = self._next_order(order, rng, n_samples)
            statistics_order = order if kept is None or len(kept) != n_samples \
                else kept
            if self.warm_start and bn is not None:
                self._statistics_order = statistics_order
        if early_stopping:
            # The starting parameters are candidates too: an epoch that leaves
            # them worse on the validation rows (one that blew up, say) is not
            # kept in their place.
            if bn is not None:
                self._population_statistics(X, sample_weight, batch_rows,
                                            statistics_order)
            self.best_validation_score_, best_val_loss = self._validation_metrics(*val)
            if not math.isfinite(best_val_loss):
                _raise_non_finite_start(best_val_loss, "the validation rows of "
                                        "early_stopping")
        # The solver state that goes with restored parameters, where a copy is
        # kept: partial_fit's (free), early stopping's best epoch's. Elsewhere a
        # fresh state: copies of the state at every epoch start and at the
        # best one would add four parameter vectors to an Adam fit's peak memory
        # (12-16% of scikit-learn's), and a full-batch solver (one step per
        # epoch) would copy its state at every step (L-BFGS's pairs: 1.2 MB on
        # digits, up to 5% of an iteration).
        keep_best_state = early_stopping and not solver.full_batch
        start_kept = True  # (early stopping: no epoch validated better yet)
        best_state = copy_state(self.solver_state_) if keep_best_state else None
        no_improvement = 0
        converged = restored = False
        stop, small_steps = "", 0  # (full-batch solvers' criteria)
        batches = X if chunked else Minibatches(X, Y, sample_weight, batch_rows)
        n_batches = -(-n_samples // batch_rows)
        n_iter_before = self.n_iter_

        def constant():  # the loss of the best constant prediction on these rows
            return constant_prediction_loss(network.out_activation, Y, sample_weight)

        def loss_at(params):  # the training loss at params (restored ones)
            return objective.loss(params) if n_batches == 1 else \
                self._mean_loss(params, batches)
        divergence = DivergenceTest(
            n_batches, batches.weight_total if chunked else n_samples
            if sample_weight is None else sample_weight.sum(), self.loss_)
        stopped = False  # by a Ctrl-C deferred to the end of an epoch's bookkeeping
        for epoch in range(n_epochs):
            if interrupts.pending:  # (or of the fit's setup, before epoch 0)
                stopped = True
                break
            start_time = time.perf_counter()
            if epoch_start is not None and epoch:  # (epoch 0: a copy already)
                epoch_start[:] = theta
            divergence.start_epoch(shuffled)
            # (before the try: an interrupt in its first lines finds it)
            call_rng_state = rng.get_state() if incremental and shuffled else None
            try:
                interrupts.immediate = True
                # (a fit's epoch 0 is drawn above; a partial_fit call that is
                # interrupted is undone, its draw too)
                if shuffled and (incremental or epoch):
                    order = self._next_order(order, rng, n_samples)
                if shuffled and self.warm_start and not incremental:
                    self._epoch_order = order
                for k, (Xb, Yb, w) in enumerate(batches.epoch(
                        order if shuffled else None)):
                    # the epoch's record reports the norm of its last gradient only
                    objective.measure_norm = k == n_batches - 1
                    objective.set_batch(Xb, Yb, w)
                    loss = _step_loss(solver, solver.step(theta, objective,
                                                          self.solver_state_))
                    divergence.add(loss, Xb.weight_total if chunked else
                                   Xb.shape[0] if w is None else w.sum())
                    last_loss = loss
                    if not math.isfinite(loss):
                        if epoch == 0:  # (best_theta: the call's starting point)
                            _check_rows_at_start(objective, best_theta,
                                                 n_batches == 1)
                        break  # diverged: the rest of the epoch cannot recover
                    if incremental and bn is not None and \
                            objective.batch_statistics is not None:
                        self._bn_counts = update_running_statistics(
                            self.bn_mean_, self.bn_var_, self._bn_counts,
                            *objective.batch_statistics, objective.weight_total,
                            bn.momentum, Xb.shape[0], w)
            except KeyboardInterrupt:
                interrupts.immediate = False  # (a second Ctrl-C: at the end)
                # as scikit-learn's MLP: stop, and keep what the finished epochs
                # learned (the interrupted one is undone; early stopping still
                # returns to its best parameters, after the loop)
                if epoch_start is not None:
                    theta[:] = epoch_start
                    self._restore_state(state_copy)
                if saved_statistics is not None:
                    self.bn_mean_, self.bn_var_, self._bn_counts = saved_statistics
                if incremental and shuffled:
                    rng.set_state(call_rng_state)
                # (a fit keeps no copy of the state at each epoch: see above)
                reset = epoch_start is not None and state_copy is None
                warnings.warn(f"{INTERRUPTED_MESSAGE}: the parameters are "
                              "those of the last finished epoch" +
                              (", and the solver's state starts afresh (its "
                               "step count, moments or curvature pairs)"
                               if reset else "") + ".", UserWarning)
                restored = stopped = interrupts.warned = True
                break
            finally:
                interrupts.immediate = False
            epoch_loss = divergence.epoch_loss()
            # (in the first epoch, best_theta still holds the starting parameters)
            start_loss = self._mean_loss(best_theta, batches) \
                if divergence.wants_start_loss() else None
            if start_loss is not None:  # the starting parameters' loss, measured
                best_fit_loss = start_loss
            cause = "loss" if divergence.diverged(start_loss) else \
                _non_finite_part(theta, self.solver_state_)
            if cause is None and saved_statistics is not None and \
                    _non_finite_layer(self.bn_mean_, self.bn_var_):
                # (a running average never washes a NaN out again)
                cause = "batch-normalization statistics"
            if cause is None and incremental:
                # the call's last update, measured before it: where did it lead?
                end_loss = objective.loss(theta)
                if divergence.update_diverged(end_loss, last_loss, constant):
                    cause, epoch_loss = "loss", end_loss
            diverged = cause is not None
            if diverged:
                if saved_statistics is not None:
                    self.bn_mean_, self.bn_var_, self._bn_counts = saved_statistics
                if incremental and shuffled:  # the call is undone, its draw too
                    rng.set_state(call_rng_state)
                self._recover_from_divergence(
                    best_theta, best_state if early_stopping else state_copy,
                    epoch_loss, objective.last_grad_norm,
                    time.perf_counter() - start_time, cause=cause,
                    call="partial_fit" if incremental else "fit")
                if self.loss_ is None or not (incremental or early_stopping):
                    # the loss of the parameters restored, not of the ones
                    # abandoned (a partial_fit call undone keeps its previous
                    # loss_, early stopping its last epoch's, as scikit-learn)
                    self._report_loss(
                        start_loss if start_loss is not None and self.loss_ is None
                        else loss_at(self._theta))
                restored = True
                break
            divergence.end_epoch()
            if epoch == 0 and self.n_iter_ == 0:  # the estimator's first epoch
                self._check_moved(epoch_start if epoch_start is not None
                                  else best_theta, objective.last_grad_norm)
            self.t_ += n_samples
            self.n_iter_ += 1
            self.loss_ = float(epoch_loss)
            self.loss_curve_.append(self.loss_)
            record = {
                "epoch": self.n_iter_, "loss": self.loss_,
                "learning_rate": solver.current_learning_rate(self.solver_state_),
                "grad_norm": objective.last_grad_norm,
                "val_loss": None, "val_score": None, "diverged": False,
            }
            if incremental:
                record["seconds"] = time.perf_counter() - start_time
                self.history_.append(record)
                self.best_loss_ = min(self.best_loss_, self.loss_)
                if self.verbose:  # (as scikit-learn's: a line per call)
                    self._print_progress(record)
                break
            if early_stopping:
                if bn is not None:  # validate with the statistics predict will use
                    if self._population_statistics(X, sample_weight, batch_rows,
                                                   statistics_order, check=False):
                        # (the epoch's last update, which its loss, measured
                        # before it, could not show, blew the weights up)
                        self._recover_from_divergence(
                            best_theta, best_state, self.loss_,
                            objective.last_grad_norm, time.perf_counter() - start_time,
                            epoch=self.n_iter_, cause="batch-normalization statistics")
                        restored = True
                        break
                # Decide on the validation *loss*: it keeps improving where
                # accuracy saturates at 1.0 on easy problems and stops too early.
                score, val_loss = self._validation_metrics(*val)
                record["val_score"], record["val_loss"] = score, val_loss
                self.validation_scores_.append(score)
                improved = val_loss < best_val_loss - self.tol
                if val_loss < best_val_loss:
                    best_val_loss = val_loss
                    start_kept = False
                    self.best_validation_score_ = score
                    best_theta[:] = theta
                    if keep_best_state:
                        best_state = copy_state(self.solver_state_, best_state)
            else:
                improved = self.loss_ < self.best_loss_ - self.tol
                if self.loss_ < best_fit_loss:
                    best_fit_loss = self.loss_
                    best_theta[:] = epoch_start
            self.best_loss_ = min(self.best_loss_, self.loss_)
            no_improvement = 0 if improved else no_improvement + 1
            record["seconds"] = time.perf_counter() - start_time
            self.history_.append(record)
            if self.verbose:
                self._print_progress(record)
            if self.solver_state_.get("converged", False) and \
                    not (solver.full_batch and by_epochs):
                converged = True  # the solver can make no more progress
                if self.verbose:
                    print("The solver cannot decrease the loss any further. "
                          "Stopping.")
                break
            if not by_epochs:
                stop, small_steps = _full_batch_stop(
                    objective, theta, self.loss_, self.tol, small_steps)
            if stop:
                converged = True
                if self.verbose:
                    print(f"{stop}. Stopping.")
                break
            if no_improvement > self.n_iter_no_change and \
                    (early_stopping or by_epochs):
                converged = True
                if self.verbose:
                    what = "Validation loss" if early_stopping else "Training loss"
                    print(f"{what} did not improve more than tol={self.tol} for "
                          f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                break
        if self.n_iter_ > n_iter_before and \
                not (incremental or early_stopping or restored):
            # Each epoch's loss was measured along its updates, each before its
            # update, and the next epoch judged the last one; the fit's last
            # update, no epoch did. (A full-batch step's end point is the
            # objective's remembered last evaluation, as a rule.)
            end_loss = objective(theta)[0] if solver.full_batch \
                else objective.loss(theta)
            if divergence.update_diverged(end_loss, last_loss, constant):
                self._recover_from_divergence(best_theta, state_copy, end_loss,
                                              objective.last_grad_norm, 0.0,
                                              epoch=self.n_iter_)
                self._report_loss(loss_at(self._theta))
                restored = True
            elif not by_epochs:
                # a full-batch fit reports the loss at the parameters it returns,
                # as scikit-learn's lbfgs (each step's record has its start's)
                self._report_loss(end_loss)
        if not (incremental or early_stopping or restored) and \
                divergence.ended_above_start(self.loss_) and \
                self.loss_ > END_FLOOR * constant():
            self._recover_from_rise(best_theta, state_copy, best_fit_loss,
                                    divergence.start_loss)
            self._report_loss(loss_at(self._theta))
        elif not (incremental or converged or restored or stopped):
            warnings.warn(
                f"{type(solver).__name__}: Maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        if early_stopping:  # the best validated parameters, with their state
            theta[:] = best_theta
            self._restore_state(best_state)
            # (a warm start that keeps its parameters is at its validation
            # optimum already, with the same validation rows)
            if start_kept and self.n_iter_ and not n_iter_before and not restored:
                warnings.warn(
                    "early_stopping kept the parameters this fit started from, its "
                    f"random initialization: none of its {self.n_iter_} "
                    "epoch(s) lowered the validation loss below theirs "
                    f"({best_val_loss:.4g}). The validation rows may be unlike "
                    "the training rows, or the steps too large: a lower learning "
                    "rate, a larger n_iter_no_change, or early_stopping=False "
                    "may serve better.", UserWarning)
        if bn is not None and not incremental:
            self._population_statistics(X, sample_weight, batch_rows,
                                        statistics_order)
        if interrupts.pending and not interrupts.warned:
            if not stopped:  # (it came after the last epoch)
                what = "as training was ending; the fit finished"
            elif self.n_iter_ > n_iter_before:
                what = ("training stopped after the last finished epoch (an "
                        "epoch's validation and statistics finish before it stops)")
            else:
                what = ("training stopped before its first epoch: the parameters "
                        "are those it started from" + (
                            "" if n_iter_before else " (initial, untrained)"))
            warnings.warn(f"{INTERRUPTED_MESSAGE}: {what}.", UserWarning)

    @staticmethod
    def _next_order(order, rng, n_samples):
        """The next epoch's row order: a permutation of ``order`` (None: the
        rows as stored)."""
        permutation = rng.permutation(n_samples)
        return permutation if order is None else order[permutation]

    def _report_loss(self, loss):
        """``loss_`` (and ``best_loss_``, if lower): the loss at the parameters
        a fit returns, where it is not the last epoch's (see ``loss_``)."""
        self.loss_ = float(loss)
        self.best_loss_ = min(self.best_loss_, self.loss_)

    def _mean_loss(self, theta, batches):
        """The mean training loss at ``theta`` over an epoch's rows (the loss a
        first epoch's is compared to): the weighted mean of its minibatches'
        losses, each with its penalty ``alpha / (2 w_b) * sum(W**2)``.
        Forward passes only; with batch normalization minibatch by minibatch
        (its statistics are the minibatch's), otherwise on larger blocks of rows
        (the same per-row losses)."""
        network = self._network
        losses = LOSSES[network.out_activation]
        X, Y, weights = batches.X, batches.Y, batches.sample_weight
        n = X.shape[0]
        if network.batch_norm:
            blocks = batches.epoch(None)
        else:
            blocks = ((X[i:i + 4096], Y[i:i + 4096],
                       None if weights is None else weights[i:i + 4096])
                      for i in range(0, n, 4096))
        data = 0.0
        for Xb, Yb, w in blocks:
            if network.batch_norm:
                s = None if w is None else (w / w.sum()).astype(theta.dtype)
                logits = network.forward_train(theta, Xb, s)["act"][-1]
            else:
                logits = network.predict_logits(theta, Xb)
            per_row = losses(logits, Yb)
            data += float(per_row.sum() if w is None else w @ per_row)
        total_weight = n if weights is None else float(weights.sum())
        n_batches = -(-n // batches.batch_rows)
        penalty = 0.5 * self.alpha * sum(float(np.vdot(c, c))
                                         for c in network.unpack(theta)[0])
        return (data + n_batches * penalty) / total_weight

    def _recover_from_divergence(self, best_theta, best_state, epoch_loss,
                                 grad_norm, seconds, epoch=None, cause="loss",
                                 call="fit"):
        """Restore the best parameters of this fit, with the solver state kept for
        them if any (see ``_restore_state``). ``epoch``: the estimator's epoch
        that diverged, by default the one after the last counted; ``cause``:
        what showed it, ``"loss"``, ``"parameters"`` or ``"solver state"``;
        ``call``: the method, ``"fit"`` or ``"partial_fit"`` (which is undone)."""
        epoch = self.n_iter_ + 1 if epoch is None else epoch
        self._theta[:] = best_theta
        self._restore_state(best_state)
        if cause == "loss":
            sign = (f"loss = {epoch_loss}, not finite or over {DIVERGENCE_FACTOR:g} "
                    f"times the losses this call of {call} started from")
        else:
            sign = f"the {cause} no longer finite, with a loss of {epoch_loss}"
        advice = "Lower the solver's learning_rate or set max_grad_norm" \
            if "learning_rate" in self.solver_.get_params() else \
            "Set max_grad_norm, or change the solver's hyperparameters"
        if cause == "batch-normalization statistics":
            advice = (f"Scale the input features ({_overflow_limit(self._theta.dtype)}"
                      "), or, if training made the weights so large: "
                      f"{advice[0].lower()}{advice[1:]}")
        elif not isinstance(self, ClassifierMixin):
            # (targets of 150 +- 77, diabetes's, blow SGD's first steps up)
            advice += (". Targets far from unit scale make the steps large too: "
                       "scale them (for instance with TransformedTargetRegressor)")
        restored = "those before this call" if call == "partial_fit" else (
            "the best ones of this fit (lowest training loss, or best validation "
            "loss with early_stopping)")
        warnings.warn(
            f"Training diverged in epoch {epoch} ({sign}): training stopped and "
            f"the parameters were restored to {restored}. {advice}.",
            ConvergenceWarning,
        )
        self.history_.append({
            "epoch": epoch, "loss": float(epoch_loss),
            "learning_rate": self.solver_.current_learning_rate(self.solver_state_),
            "grad_norm": grad_norm, "val_loss": None, "val_score": None,
            "diverged": True, "seconds": seconds,
        })

    def _recover_from_rise(self, best_theta, best_state, best_loss, start_loss):
        """Restore the parameters of this fit's lowest loss after a fit that ended
        far above the loss it started from (see ``DivergenceTest``)."""
        self._theta[:] = best_theta
        self._restore_state(best_state)
        warnings.warn(
            f"{type(self.solver_).__name__}: training ended with a loss of "
            f"{self.loss_:.4g}, over {END_FACTOR:g} times the {start_loss:.4g} at "
            f"the parameters this call of fit started from (and over {END_FLOOR:g} "
            "times a constant prediction's): a step blew the parameters up. The "
            "parameters were restored to those of the lowest loss of this fit "
            f"({best_loss:.4g}). Smaller steps avoid it: a lower learning_rate, "
            "max_grad_norm, or a line search (Newton's line_search=True).",
            ConvergenceWarning,
        )

    def _restore_state(self, state):
        """The solver state that goes with restored parameters: ``state``, or a
        fresh one where no copy was kept (see ``_train``)."""
        self.solver_state_ = new_state(self.solver_, self._theta) \
            if state is None else state

    def _check_moved(self, start, grad_norm):
        """Warn if a whole epoch left the parameters as they were, gradient or not,
        or its solver's update counter at 0 (the state starts fresh here)."""
        if self.solver_state_.get("step") == 0:
            warnings.warn(
                f"{type(self.solver_).__name__}.step left state['step'] at 0 after "
                "a whole epoch: it must count its updates (state['step'] += 1), "
                "which learning-rate schedules and history_ read.", UserWarning,
            )
        if not (grad_norm > 0 and _equal(self._theta, start)):
            return
        if self.solver_state_.get("converged", False):
            searched = self.solver_state_.get("line_search")
            if isinstance(searched, dict) and searched.get("warned") is True:
                return  # the solver's own ConvergenceWarning said why
            # a random start is no minimum: the steps the solver tried were
            # below the loss's rounding level (targets of 1e16 on L-BFGS)
            warnings.warn(
                f"{type(self.solver_).__name__} stopped at its first step, the "
                "parameters left at their random initialization, although the "
                f"gradient is not zero (norm {grad_norm:.3g}): no step it tried "
                "lowered the loss measurably. The problem may be badly scaled "
                "(standardize the features, and scale large regression targets, "
                "for instance with TransformedTargetRegressor), or the solver's "
                "hyperparameters keep it from moving (a huge damping or alpha).",
                ConvergenceWarning,
            )
        else:
            name = type(self.solver_).__name__
            if type(self.solver_) in _aliases().values():
                # (a built-in step updates in place: only its size can be at
                # fault; a subclass's own step may not)
                clipped = "" if self.max_grad_norm is None else ", or max_grad_norm,"
                why = (f"{name}'s steps are too small to change them in "
                       f"{self._theta.dtype} (its learning_rate{clipped} is too "
                       "small)")
            else:
                why = (f"{name}.step must update theta in place (theta -= ..., "
                       "not theta = theta - ...), or its steps are too small to "
                       "change them")
            warnings.warn(
                f"The parameters did not change in the first epoch, although the "
                f"gradient is not zero (norm {grad_norm:.3g}): {why}.", UserWarning,
            )

    def _print_progress(self, record):
        line = f"Iteration {record['epoch']}, loss = {record['loss']:.8f}"
        if record["val_score"] is not None:
            # early stopping decides on the validation loss
            line += (f", validation loss = {record['val_loss']:.8f}, "
                     f"validation score = {record['val_score']:.6f}")
        print(line)

    # ------------------------------------------------------- batch statistics
    def _population_statistics(self, X, sample_weight, batch_rows, order, check=True):
        """The lecture's inference statistics over the training minibatches,
        the rows taken in ``order`` (see ``population_statistics``). Returns
        the first hidden layer whose statistics are not finite, or 0;
        ``check``: raise instead."""
        self.bn_mean_, self.bn_var_, self._bn_counts = population_statistics(
            self._network, self._theta, X, sample_weight, batch_rows, order)
        layer = _non_finite_layer(self.bn_mean_, self.bn_var_)
        if layer and check:  # (the model would predict one value for every row)
            raise ValueError(
                f"The batch-normalization statistics of hidden layer {layer} are "
                f"not finite ({_overflow_limit(self._theta.dtype)}): the input "
                "data may contain large values and need to be preprocessed "
                "(scaled" + (", or fitted in float64" if self._theta.dtype ==
                             np.float32 else "") + "), or training made the "
                "weights so large: lower the solver's learning rate or set "
                "max_grad_norm.")
        return layer

    # -------------------------------------------------------------- inference
    def _forward(self, X):
        check_is_fitted(self)
        X = computed(X)
        values, named = self._frame_values(X)
        if self._plain_rows(values, named):
            X = values
        else:
            # (CSR: inference takes blocks of rows, each a pass over all of a
            # CSC matrix's entries)
            X = validate_data(self, X, accept_sparse="csr", reset=False,
                              dtype=[np.float64, np.float32])
        X = _cast(X, self._theta.dtype)
        # Your BLAS threads, whatever the size: unlike a training loop's, one
        # call's products gain nothing from one thread, and setting the limit
        # cost more than it saved (1 to 500 rows, digits or 784-(1024, 1024)
        # units: 0.98-1.55 times the time without it)
        return self._network.predict(self._theta, X, *self._inference_statistics())

    def _inference_statistics(self):
        """``(bn_mean_, bn_var_)`` with batch normalization, else ``(None, None)``."""
        if self._network.batch_norm:
            return self.bn_mean_, self.bn_var_
        return None, None

    def _validation_metrics(self, X, y, sample_weight, Y):
        logits = self._network.predict_logits(self._theta, X,
                                              *self._inference_statistics())
        per_sample = LOSSES[self._network.out_activation](logits, Y)
        val_loss = float(np.average(per_sample, weights=sample_weight))
        # (one forward pass for both: the score's own pass and scikit-learn's
        # metric, with its validation, took 9 times a small fit's epoch)
        return self._validation_score(logits, y, sample_weight), val_loss

    def _partial_fit_available(self):
        if _is_full_batch(self.solver):
            raise AttributeError(
                f"partial_fit is only available for stochastic solvers; "
                f"{self.solver!r} needs the full training set at each step."
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_theta")


_COMMON_PARAMETERS_DOC = r"""
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The i-th element is the number of units of the i-th hidden layer. ``()``
        means no hidden layer: a linear model trained by the chosen solver.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Hidden-layer activation.
    solver : str or Solver, default="adam"
        The optimizer: a :class:`~skopt_nn.solvers.Solver` instance carrying its
        own hyperparameters (``SGD(learning_rate=0.1)``, ``Momentum(...)``, ...),
        or the name of a default-configured one: "sgd", "momentum", "nesterov",
        "adagrad", "rmsprop", "rmsprop_nesterov", "adam", "lbfgs", "newton".
        Its hyperparameters are nested parameters (``solver__learning_rate``).
        The object is cloned at fit (``solver_``), never modified.
    batch_norm : bool or BatchNorm, default=False
        Batch normalization of every hidden pre-activation; ``True`` means
        ``BatchNorm()``. See :class:`~skopt_nn.BatchNorm` for the training and
        inference statistics, sample weights (frequency weights) and one-row
        minibatches.
    alpha : float, default=1e-4
        L2 penalty on the weights (not biases):
        :math:`\frac{\alpha}{2 \sum_i w_i}\sum_l \|W_l\|^2` per minibatch, as in
        scikit-learn's MLP (:math:`\sum_i w_i` is the minibatch's rows without
        sample weights). Minibatches of :math:`m` of :math:`n` rows therefore
        penalize :math:`n/m` times more than one batch of all rows: without
        hidden layers, training on them converges toward the optimum of
        ``LogisticRegression(C=m / (n * alpha))`` or ``Ridge(alpha=n * alpha /
        m)`` (:math:`m` dividing :math:`n`), where a full-batch solver reaches
        ``C=1 / alpha``'s or ``alpha``'s.
    batch_size : int or "auto", default="auto"
        Minibatch size; "auto" is ``min(200, n_samples)`` for stochastic solvers
        and all rows for full-batch solvers (L-BFGS, Newton).
    max_iter : int, default=200
        Epochs for stochastic solvers, steps for full-batch solvers (with
        ``batch_size="auto"``; given minibatches, they count epochs too).
    tol : float, default=1e-4
        Improvement of the training loss (with early stopping, of the
        validation loss) below which an epoch counts as "no improvement".
        Full-batch solvers (L-BFGS, Newton) stop instead as scikit-learn's
        ``"lbfgs"`` does: once every component of the gradient at the
        parameters of a step is at most ``tol`` in absolute value (SciPy's
        gtol), or when three steps in a row lowered the loss by at most 2.2e-9
        times the largest of 1 and the losses (SciPy's ftol, which stops on
        one). With early stopping the validation rule applies too; on
        minibatches (an integer ``batch_size`` below the rows), the epochs'
        rule only, as for stochastic solvers. Both are
        absolute below a loss of 1: with targets on a small scale (regression
        targets in thousandths)
        the gradient and the decreases are small too, and training stops
        early; scale the targets. ``tol=0`` trains until the solver can lower
        the loss no further, or ``max_iter``.
    n_iter_no_change : int or np.inf, default=10
        Training stops after more than this many epochs without improvement
        (not used by full-batch solvers on all rows without early stopping:
        see ``tol``).
        ``np.inf`` never stops for that reason.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified for single-label
        classification; repeated rows always on the same side, so that data
        with few distinct rows may hold out more, or validate on a few patterns
        that training never sees, with a warning), stop when the validation
        *loss* stops improving, and keep the parameters of lowest validation
        loss (the ones the fit started from included: a warning says so when
        no epoch did better). (scikit-learn
        decides on the validation score, the accuracy or R², which saturates at
        1.0 on easy problems and then stops too early.) ``validation_scores_``
        records the scores. ``partial_fit`` ignores it: each call is one pass
        over the rows it is given (scikit-learn raises instead).
    validation_fraction : float, default=0.1
        Fraction of the training weight held out for early stopping, in [0, 1)
        as scikit-learn's; used only with ``early_stopping``, which holds out
        about this share of the total weight (at least one row, where
        scikit-learn raises for fewer than two: a warning then), stratified
        for classifiers. Sample weights count as frequencies here too: with
        skewed weights, the share of *rows* held out can be far from
        ``validation_fraction`` (a class of 49 rows of weight 1 and one of
        1000 holds out its 49 light rows, about 5% of its weight), where
        scikit-learn's split counts rows.
    shuffle : bool, default=True
        Shuffle the rows at every epoch (each epoch permutes the previous
        epoch's order, as scikit-learn's MLP does).
    random_state : int, RandomState instance or None, default=None
        Seeds initialization, shuffling and the validation split. The same value
        gives bit-identical results with the same BLAS threads, in any thread:
        fits under another ``threadpool_limits``, or running at the same time
        as fits that hold lower limits, may differ by rounding errors (see the
        performance guide's "Choosing settings for speed"). Without early
        stopping, a fit from scratch draws the same initial weights and
        minibatches as scikit-learn's MLP with the same value, so the same
        update rule trains the same network
        (see "Differences from scikit-learn's MLP" in the user guide). A
        ``warm_start`` fit or a ``partial_fit`` call continues the model's own
        random stream: a ``random_state`` set in between takes effect at the
        next fit from scratch.
    verbose : bool, default=False
        Print the loss (and validation loss and score) after each epoch.
    warm_start : bool, default=False
        Continue from the previous fit's weights *and* solver state (the state is
        reset only if the solver's type or hyperparameters changed, its
        ``learning_rate`` aside). With ``early_stopping``, a warm-started fit
        on the same rows holds out the same ones, as one longer fit would. It
        continues exactly as one longer fit when the previous fit had
        ``warm_start=True`` too, which keeps the order of its rows' last
        shuffle (a fit without it keeps none, to spare 8 bytes per row).
    max_grad_norm : float or None, default=None
        Gradient clipping: if :math:`\|g\| > v`, :math:`g \leftarrow g\,v/\|g\|`.
        Every solver sees the clipped gradient, the loss is never clipped: the
        line searches of L-BFGS and Newton then test the true loss against
        the slope of the clipped gradient, and Newton's Hessian is not
        clipped. A clipped Newton step is therefore the Newton step scaled
        down, which its line search (from a step of 1, shrinking) never
        lengthens: clipping slows Newton to a crawl (with ``max_grad_norm=1e-3``
        300 steps ended at 19 times the loss 10 unclipped steps reach). It is
        meant for the first-order solvers; L-BFGS's line search undoes it.
"""

_COMMON_ATTRIBUTES_DOC = r"""
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape (units_i, units_{i+1}); views into
        the flat parameter vector. Assigning a list of arrays of the same shapes
        copies their values into the parameters (as predictions and further
        training see them); other shapes raise a ValueError.
    intercepts_ : list of ndarray
        Bias vectors; views into the flat parameter vector (assignable as
        ``coefs_``).
    bn_gamma_, bn_beta_ : list of ndarray
        With batch normalization: learned scale and shift per hidden layer.
    bn_mean_, bn_var_ : list of ndarray
        With batch normalization: the inference statistics :math:`E[x]`,
        :math:`Var[x]`. The next activation is
        ``act(bn_gamma_[i] * (z - bn_mean_[i]) / sqrt(bn_var_[i] + eps) +
        bn_beta_[i])`` with ``z = a @ coefs_[i] + intercepts_[i]``.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        Output activation: "softmax" (several classes), "logistic" (two
        classes, or multilabel) for the classifier; "identity" or, with
        ``loss="poisson"``, "exp" for the regressor.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X has string column names.
    loss_ : float
        Training loss of the last epoch, penalty included: the mean over its
        minibatches of the loss each step evaluated before its update (as
        scikit-learn's stochastic solvers report it; with sample weights, each
        minibatch counts with its total weight, where scikit-learn counts its
        rows). For full-batch solvers (``batch_size="auto"``, without early
        stopping), the loss at the parameters ``fit`` returns, as scikit-learn's
        lbfgs reports it (after a Ctrl-C that cut a step short, which is undone,
        the last finished step's starting loss: no evaluation is added to an
        interrupted fit). After divergence
        or a rise, the loss of the parameters restored (with early stopping,
        the last epoch's; a ``partial_fit`` call undone leaves it as it was).
        None if a fit from scratch finished no epoch and has no loss to report.
    loss_curve_ : list of float
        Training loss per epoch, as the epoch measured it: for full-batch
        solvers, one step per epoch, each step's loss at its start.
    best_loss_ : float
        Lowest training loss reached, among ``loss_curve_`` and ``loss_``.
    validation_scores_ : list of float or None
        Validation score per epoch, with early stopping. Each held-out row
        weighs what it would in training: its sample weight (times its class
        weight, in a classifier with ``class_weight``).
    best_validation_score_ : float or None
        With early stopping, the validation score of the kept parameters (those
        of lowest validation loss, among the ones the fit started from and
        each epoch's): it may be below ``max(validation_scores_)``.
    n_iter_ : int
        Epochs (stochastic solvers) or steps (full-batch solvers, with
        ``batch_size="auto"``) run since the last fit from scratch: a
        ``warm_start`` fit and each ``partial_fit`` call add theirs, as they do
        to ``t_`` and ``loss_curve_`` (scikit-learn's ``n_iter_`` counts the
        last call's only).
    t_ : int
        Training samples seen: rows of zero sample weight, which training
        leaves out, are not counted (scikit-learn's MLP counts them); a
        full-batch solver's step counts the rows it trains on
        (scikit-learn's L-BFGS leaves ``t_`` at 0).
    solver_ : Solver
        The solver used: a clone of ``solver`` (or the alias's default object).
    solver_state_ : dict
        The solver's state (``solver_state_["step"]`` updates done), carried
        across ``partial_fit`` and ``warm_start``. With early stopping, the
        state that went with the kept parameters (for full-batch solvers, which
        keep no copies of their state, a fresh one: L-BFGS without pairs).
    history_ : list of dict
        One record per epoch: ``epoch``, ``loss``, ``val_loss``, ``val_score``,
        ``learning_rate`` (of the next update), ``grad_norm`` (of the gradient
        the solver's last evaluation of the objective returned, before
        clipping: with a line search, at its last trial point), ``seconds``
        and ``diverged``
        (False). An epoch diverged if its mean loss is not finite, or, for
        the first epoch of a call (of ``fit``, or a ``partial_fit`` call), if
        its mean loss is over 1000 times the loss at the parameters the call
        started from, on the same rows (measured when the epoch's mean loss
        is over 10 times its first minibatch's), or if the median minibatch
        loss of its second half is over 1000 times its first half's (or
        ``loss_`` before the call, if larger; with ``shuffle`` and 6
        minibatches or more), and for later epochs if the mean loss is over
        1000 times the first epoch's, or the loss at the starting parameters
        where that was measured and is lower. Training then stops with a
        ConvergenceWarning, the epoch's record, the last, has
        ``diverged=True``, the parameters go back to those at the start of the
        epoch of lowest loss (best validation loss with early stopping, the
        starting ones included), and the solver state to the one they had
        where a copy is kept: a ``partial_fit`` call is undone whole,
        early stopping keeps its best epoch's state; otherwise the solver
        starts afresh from the restored parameters (``fit`` keeps no copies of
        the state per epoch, which would add to its peak memory). The epoch
        counts in neither ``n_iter_`` nor ``t_``. A first minibatch loss that
        is not finite raises a ValueError instead (the data need scaling). A
        ``fit`` whose last epoch's loss is over 10 times the loss at its
        starting parameters, where that is known (full batches, whose first
        step evaluates there, or measured as above), failed as well: the
        parameters go back to those of its lowest loss, with a
        ConvergenceWarning, and no record is added, if that loss is also over
        0.1 times the loss of the best constant prediction (a training
        :math:`R^2` below 0.9, or its analogue for the cross-entropy and the
        Poisson deviance, :math:`D^2`: a fit
        that started near a loss of zero may end many times above it and not
        have failed). Ctrl-C
        (KeyboardInterrupt) during an epoch's updates stops training with a
        warning, keeping what the finished epochs learned, as scikit-learn's
        MLP does (with the solver state as after divergence); during its
        bookkeeping (validation, batch normalization's statistics, the
        stopping tests), ``fit`` finishes the epoch first, and keeps it. (A
        ``KeyboardInterrupt`` raised there by code of yours, not Ctrl-C,
        undoes the whole call, as any failure does; Ctrl-C too where Python's
        own SIGINT handler is not the one installed, or outside the main
        thread.)
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = r"""Multi-layer perceptron classifier with a pluggable optimizer.

    Softmax output and cross-entropy loss for multiclass problems; a logistic
    output and binary cross-entropy per label for binary and multilabel problems.

    Parameters
    ----------""" + _COMMON_PARAMETERS_DOC + r"""
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``; "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))`` of the rows given to
        ``fit``, each row counted by its sample weight, as in
        ``LogisticRegression``: a row of weight 0 is no row, one of weight 2 two
        rows (with it, ``partial_fit`` is unavailable, as with a full-batch
        solver, and ``dask_ml``'s ``Incremental`` says the estimator has none;
        scikit-learn's ``SGDClassifier`` refuses it too: pass weights computed
        on the whole stream's labels instead). A
        dict weighs the classes it names and leaves the others at 1; in
        ``partial_fit``, over the classes declared, whichever a batch holds.
        For a multilabel indicator ``y``, "balanced" only (or ``sample_weight``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for a multilabel indicator ``y``, its column
        indices).""" + _COMMON_ATTRIBUTES_DOC + r"""
    See Also
    --------
    MLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : scikit-learn's, with the optimizer
        settings on the estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Momentum
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), solver=Momentum(learning_rate=0.1),
    ...                     max_iter=50, random_state=0).fit(X_train, y_train)
    >>> clf.score(X_test, y_test) > 0.95
    True
    >>> clf.predict_proba(X_test[:1]).shape
    (1, 10)
    """

    _parameter_constraints = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_norm=False,
        alpha=1e-4,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        max_grad_norm=None,
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, batch_norm=batch_norm, alpha=alpha,
            batch_size=batch_size, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
            validation_fraction=validation_fraction, shuffle=shuffle,
            random_state=random_state, verbose=verbose, warm_start=warm_start,
            max_grad_norm=max_grad_norm,
        )
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multilabel problems.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the mean loss; a zero weight removes the row.

        Returns
        -------
        self : MLPClassifier
        """
        self._validate_params()
        _PARAMETERS_SET.discard(self)
        return self._fit(X, y, sample_weight)

    def _classifier_partial_fit_available(self):
        self._partial_fit_available()
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            # balancing each call's rows would weigh the stream's classes by
            # chance; scikit-learn's SGDClassifier refuses it in the same words
            # (hidden, as for full-batch solvers: check_estimator and
            # scikit-learn's tools then know not to call it)
            raise AttributeError(
                "class_weight 'balanced' is not supported for partial_fit. In "
                "order to use 'balanced' weights, use compute_class_weight("
                "'balanced', classes=classes, y=y). In place of y you can use a "
                "large enough sample of the full training set target to properly "
                "estimate the class frequency distributions. Pass the resulting "
                "weights as the class_weight parameter.")
        return True

    @available_if(_classifier_partial_fit_available)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over the given rows, continuing the weights and solver state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a label indicator matrix for multilabel problems.
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call (the rows of one call
            need not contain every class), and equal to ``classes_`` if given
            again. For a multilabel indicator ``y``, the label columns.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the mean loss; a zero weight removes the row.

        Returns
        -------
        self : MLPClassifier
        """
        self._validate_params_if_new()
        if not hasattr(self, "_theta") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _output_activation(self, Y):
        if self._label_kind == "multiclass":
            return "softmax"
        return "logistic"

    def _stratify(self):
        return self._label_kind != "multilabel"

    def _check_warm_start_targets(self, y):
        if self._label_kind == "multilabel":
            return  # (the columns were checked)
        check_classification_targets(y)  # (scikit-learn's error for other y)
        present = unique_labels(y)
        if not np.array_equal(present, self.classes_):
            raise ValueError(  # (scikit-learn's MLP's words)
                "warm_start can only be used where `y` has the same classes as "
                f"in the previous call to fit. Previously got {self.classes_}, "
                f"`y` has {present}"
            )

    def _encode_targets(self, y, reset, classes):
        if not reset:
            return self._encode_known(y, classes), {}
        # (computed once: check_classification_targets would compute it again)
        target_type = type_of_target(y, input_name="y")
        if target_type == "multiclass-multioutput":
            raise ValueError("Multioutput target data is not supported with label "
                             "binarization")  # (scikit-learn's MLP's words)
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            check_classification_targets(y)  # scikit-learn's error for this type
        if _is_column_vector(y):
            y = y.ravel()
        if target_type == "multilabel-indicator":
            columns = np.arange(y.shape[1])
            if classes is not None and not np.array_equal(
                    unique_labels(classes), columns):
                raise ValueError(
                    "For a multilabel indicator y, classes must be its label "
                    f"columns {columns!r}, got {unique_labels(classes)!r}.")
            return _zero_one(y), {"classes_": columns, "_label_kind": "multilabel"}
        labels = unique_labels(y) if classes is None else unique_labels(classes)
        if classes is not None and not np.isin(unique_labels(y), labels).all():
            raise ValueError(
                "`y` has classes not in `self.classes_`. `self.classes_` has "
                f"{labels}. 'y' has {unique_labels(y)}."
            )
        if len(labels) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {np.asarray(labels[0]).tolist()!r}"
            )
        kind = "binary" if len(labels) == 2 else "multiclass"
        return self._one_hot(y, labels), {"classes_": labels, "_label_kind": kind}

    def _one_hot(self, y, labels):
        return _indicator_matrix(np.searchsorted(labels, y), len(labels))

    def _encode_light(self, y, classes):
        """Indicators of 1-D integer or string labels, all among ``classes_``.

        None (the full validation decides) for anything else.
        """
        known = self.classes_
        if (self._label_kind == "multilabel" or not (
                y.dtype.kind in "iu" and known.dtype.kind in "iu"
                or y.dtype.kind == known.dtype.kind == "U")):
            return None
        # (classes as unique_labels reads them: a 1-D array of numbers or strings)
        if classes is not None and not (
                isinstance(classes, np.ndarray) and classes.ndim == 1
                and classes.dtype.kind in "biufU"
                and np.array_equal(np.unique(classes), known)):
            return None
        index = np.searchsorted(known, y)
        np.minimum(index, len(known) - 1, out=index)
        if not np.array_equal(known[index], y):
            return None  # an unknown label
        return _indicator_matrix(index, len(known))

    def _encode_known(self, y, classes):
        if classes is not None and not np.array_equal(unique_labels(classes),
                                                      self.classes_):
            raise ValueError(
                f"`classes={unique_labels(classes)!r}` is not the same as on last "
                f"call to partial_fit, was: {self.classes_!r}"
            )
        if self._label_kind == "multilabel":
            y = np.asarray(y)
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y must be a label indicator matrix with {len(self.classes_)} "
                    f"columns, got shape {y.shape}."
                )
            return _zero_one(y)
        check_classification_targets(y)
        y = np.asarray(y)
        y = y.ravel() if _is_column_vector(y) else y  # (warns, as on the first call)
        if y.ndim == 2:
            raise ValueError("The object was not fitted with multilabel input: y "
                             f"must be 1-D labels, got shape {y.shape}.")
        present = unique_labels(y)
        if len(np.setdiff1d(present, self.classes_)):
            raise ValueError(
                "`y` has classes not in `self.classes_`. `self.classes_` has "
                f"{self.classes_}. 'y' has {present}."
            )
        return self._one_hot(y, self.classes_)

    def _validation_score(self, logits, y, sample_weight):
        # accuracy_score's: the fraction of rows predicted exactly (every label
        # of a multilabel row), weighted
        P = OUTPUT_ACTIVATIONS[self._network.out_activation](logits.copy())
        predicted = self._decode(P)
        y = np.asarray(y)
        correct = predicted == (y.ravel() if predicted.ndim == 1 else y)
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        return float(np.average(correct, weights=sample_weight))

    def _decode(self, P):
        if self._label_kind == "multilabel":
            return (P > 0.5).astype(int)
        if self._label_kind == "binary":
            return self.classes_[(P[:, 0] > 0.5).astype(int)]
        return self.classes_[P.argmax(axis=1)]

    def predict(self, X):
        """Predict class labels (or a label indicator matrix for multilabel).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            A label indicator matrix is a CSR matrix if ``fit`` was given one
            (as scikit-learn's).
        """
        predicted = self._decode(self._forward(X))
        if self._label_kind == "multilabel" and getattr(self, "_sparse_labels",
                                                        False):
            return sparse.csr_matrix(predicted)
        return predicted

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; for multilabel, the probability of
            each label. Probabilities are kept at or above the smallest normal
            number of their dtype (and logistic ones below 1), so that their
            logarithm, :meth:`predict_log_proba`, is finite. With two classes,
            the first column is one minus the second (the logistic one), as in
            scikit-learn: it is at least ``epsneg`` (1.1e-16 in float64) where
            the second is at least ``tiny`` (2.2e-308), and may round to 1.
        """
        P = self._forward(X)
        info = np.finfo(P.dtype)
        if self._label_kind != "multiclass":
            # a logistic probability is strictly inside (0, 1), but rounds to 1
            # for logits above ~37: keep it below 1 (and above 0)
            minimum_with(maximum_with(P, info.tiny), 1 - info.epsneg)
        else:
            # a softmax probability underflows to 0 for logits ~745 below the
            # row's maximum (~104 in float32); raising those zeros to tiny
            # leaves the sums at 1
            maximum_with(P, info.tiny)
        if self._label_kind == "binary":
            return np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (finite: at least ``log(tiny)``,
        about -708 in float64 and -87 in float32).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _step_loss(solver, loss):
    """The loss ``solver.step`` returned, checked: a real number, or a 0-d
    array of one (what a user's solver gets from ``np.sum`` or ``x @ y`` of
    arrays), as a float. Every objective is >= 0 (losses and penalty): a
    negative one is a step's mistake (-loss), which the divergence checks
    would misjudge."""
    if isinstance(loss, np.ndarray) and loss.ndim == 0 and loss.dtype.kind in "iuf":
        loss = float(loss)
    elif not isinstance(loss, numbers.Real) or isinstance(loss, bool):
        raise TypeError(
            f"{type(solver).__name__}.step must return the loss it evaluated "
            f"(a float), got {loss!r}.")
    if loss < 0:
        raise ValueError(
            f"{type(solver).__name__}.step returned a negative loss ({loss!r}): "
            "the objective's losses are >= 0; step must return the loss "
            "objective(theta) gave.")
    return loss


def _equal(a, b, block=8192):
    """``np.array_equal`` of two vectors, block by block: no temporary as large
    as the parameters, and it stops at the first difference."""
    return all(np.array_equal(a[i:i + block], b[i:i + block])
               for i in range(0, a.size, block))


def _cast(X, dtype, name="X"):
    """``X`` in the model's dtype: values beyond float32's range are an error,
    not infinities that would make predictions NaN."""
    if X.dtype == dtype:
        return X
    with np.errstate(over="ignore"):
        cast = X.astype(dtype)
    if not np.isfinite(cast.data if sparse.issparse(cast) else cast).all():
        raise _too_large(name, dtype)
    return cast


def _too_large(name, dtype):
    """The error for values of ``name`` beyond the range of the model's
    ``dtype``; float64 data is the way out only for a float32 model."""
    dtype = np.dtype(dtype)
    return ValueError(
        f"{name} has values too large for the model's {dtype.name} parameters "
        "(a model takes the dtype of the X it is fitted on): scale "
        f"{name}" + (", or fit on float64 data." if dtype.itemsize < 8 else "."))


def _is_pandas(obj, name):
    """Whether ``obj`` is a pandas ``name`` ("DataFrame", "Series"), without
    importing pandas."""
    kind = type(obj)
    return kind.__name__ == name and kind.__module__.startswith("pandas")


def _series_values(y):
    """The values of a pandas Series of a NumPy dtype (as validation takes
    them); anything else unchanged."""
    if _is_pandas(y, "Series") and isinstance(y.dtype, np.dtype):
        return np.asarray(y)
    return y


def _weighted_rows(X, Y, y, weights, applied=""):
    """The rows of positive weight (a weight of 0 means the row is absent:
    dropped before batching), and their weights, None if all are 1: the
    unweighted (faster) path. Not any uniform weight: frequency weights c
    scale sum(w) (the penalty, BN's m). ``applied``: what the weights'
    message adds (the class weights)."""
    keep = weights > 0
    if not keep.all():
        X, Y, y, weights = X[keep], Y[keep], y[keep], weights[keep]
    if X.shape[0] == 0:
        raise _all_zero(applied)
    return X, Y, y, None if np.all(weights == 1) else weights


def _all_zero(applied):
    return ValueError(f"All sample weights are zero{applied}: there is nothing "
                      "to fit.")


def _check_chunk_totals(totals, applied=""):
    """The chunks' weight totals must have a positive, finite sum."""
    if sum(totals) == 0:
        raise _all_zero(applied)
    if not math.isfinite(sum(totals)):
        raise ValueError(
            f"The sample weights sum to infinity{applied}: scale them down (the "
            "fit depends on their ratios, and on their sum through the L2 "
            "penalty's alpha / sum(sample_weight)).")


def _light_weights(sample_weight, n_rows, dtype):
    """``_prepare``'s row weights for a float ndarray ``sample_weight`` that it
    accepts unchanged, in the model's ``dtype``; None for anything else (the
    full validation decides, and words the errors).

    Accepted: one finite, non-negative weight per row (of ``n_rows``), some of
    them positive, all of the positive ones still positive in ``dtype``, with
    a finite sum there: what ``_check_sample_weight`` and ``_weights_in`` pass.
    """
    if not (type(sample_weight) is np.ndarray and sample_weight.ndim == 1
            and sample_weight.shape[0] == n_rows
            and sample_weight.dtype in (np.float32, np.float64)):
        return None
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        # (a NaN or an infinity makes the sum non-finite)
        if not (math.isfinite(sample_weight.sum()) and sample_weight.min() >= 0):
            return None
        weights = sample_weight.astype(dtype)
        total = weights.sum()
    if not (math.isfinite(total) and total >= np.finfo(dtype).tiny) or (
            weights.dtype != sample_weight.dtype
            and np.count_nonzero(weights) != np.count_nonzero(sample_weight)):
        return None  # all zero, a sum that overflows or is subnormal, or
        # weights lost to underflow
    return weights


def _balanced_class_weights(class_totals):
    r"""``class_weight="balanced"``: each class's weight from its total sample
    weight :math:`W_c` (its number of rows without sample weights),
    :math:`\sum_c W_c / (n_\text{classes} W_c)`, as scikit-learn's
    ``compute_class_weight`` with ``sample_weight``.

    A class whose rows all weigh 0 is absent, as the rows are: it gets weight 0
    and is not counted in :math:`n_\text{classes}`. So a row of integer weight
    ``k`` counts as ``k`` rows, and a row of weight 0 as no row, in the class
    weights as in the loss.
    """
    present = class_totals > 0
    weights = np.zeros(len(class_totals))
    weights[present] = class_totals.sum() / (present.sum() * class_totals[present])
    return weights


def _balanced_row_weights(y, sample_weight):
    """Each row's ``"balanced"`` class weight (see :func:`_balanced_class_weights`);
    for several columns of labels (multilabel, multi-output), the product of
    each column's, as ``compute_sample_weight`` makes it."""
    y = np.asarray(y)
    columns = y.reshape(len(y), -1)
    weights = np.ones(len(y))
    if sample_weight is not None and not np.isfinite(sample_weight.sum()):
        return weights  # (the weights' own error follows: their sum overflows)
    for column in columns.T:
        _, index = np.unique(column, return_inverse=True)
        index = index.reshape(-1)
        totals = np.bincount(index, weights=sample_weight)
        weights *= _balanced_class_weights(totals)[index]
    return weights


def _weights_in(dtype, *factors, class_weighted=False):
    """The product of non-negative float64 row weights (sample and class
    weights), each cast to the model's ``dtype`` first, checked: a row whose
    factors are all positive keeps a positive weight, and the weights' sum (the
    normalizer) is finite. ``class_weighted``: the last factor is the class
    weights (the error names them)."""
    with np.errstate(over="ignore", under="ignore"):
        weights = factors[0].astype(dtype)
        for factor in factors[1:]:
            weights = weights * factor.astype(dtype)
        total = weights.sum()
    name = np.dtype(dtype).name
    # the weights as given: class weights alone, or sample weights (times them)
    what = "class" if class_weighted and len(factors) == 1 else "sample"
    applied = " (with the class weights applied)" \
        if class_weighted and len(factors) > 1 else ""
    if not np.isfinite(total):
        raise ValueError(
            f"The {what} weights sum to infinity in {name}{applied}: scale them "
            "down (the fit depends on their ratios, and on their sum through the "
            "L2 penalty's alpha / sum(sample_weight)).")
    if 0 < total < np.finfo(dtype).tiny:  # (imprecise, and alpha / total overflows)
        raise ValueError(
            f"The {what} weights sum to {total:.3g} in {name}{applied}, below the "
            "smallest normal number: scale them up (the fit depends on their "
            "ratios, and on their sum through the L2 penalty's alpha / "
            "sum(sample_weight)).")
    positive = np.logical_and.reduce([factor > 0 for factor in factors])
    if np.any(weights[positive] == 0):
        raise ValueError(
            f"Some positive {what} weights are 0 in {name}{applied}: scale them "
            "up (the fit depends on their ratios, and on their sum through the "
            "L2 penalty's alpha / sum(sample_weight)).")
    return weights


# Steps in a row of decrease at most SciPy's ftol that stop a full-batch solver.
# SciPy stops on one; here one alone can be a short step of a line search at a
# kink of ReLU units (L-BFGS stopped at 0.037 on iris where it went on to 0.028),
# and L-BFGS's own pairs need a few steps to recover from it.
_SMALL_STEPS = 3


def _full_batch_stop(objective, theta, loss, tol, small_steps):
    """Why a full-batch solver's training stops after its step, or "", and the
    updated count of steps in a row that lowered the loss by at most SciPy's
    ftol relative.

    scikit-learn's ``"lbfgs"`` criteria: every component of the gradient at
    the new parameters is at most ``tol`` (SciPy's gtol), or ``_SMALL_STEPS``
    steps in a row lowered the loss by at most SciPy's ftol relative (at a
    kink of ReLU units the gradient never gets small; not with ``tol=0``,
    which asks for every decrease the solver can find). ``loss`` is the loss
    at the step's start.

    The new point is usually the step's last evaluation, which the objective
    remembers (and the next step reuses). Clipping (``max_grad_norm``) scales
    the whole gradient by ``max_grad_norm / |g|``, which is undone: a clipped
    gradient is no sign of a minimum.
    """
    new_loss, grad = objective(theta)
    small_steps = small_steps + 1 if small_decrease(loss, new_loss) else 0
    largest = max(float(grad.max()), -float(grad.min()))  # (no |g| temporary)
    norm, limit = objective.last_grad_norm, objective.max_grad_norm
    if limit is not None and norm > limit:
        largest *= norm / limit
    if largest <= tol:
        return f"Every component of the gradient is at most tol={tol}", small_steps
    if tol and small_steps >= _SMALL_STEPS:
        return (f"{_SMALL_STEPS} steps in a row lowered the loss by at most "
                f"{SCIPY_FTOL:.3g} relative"), small_steps
    return "", small_steps


def _raise_non_finite_start(loss, rows="a minibatch of the training rows"):
    # (validation refuses NaN and infinity, unless the user's configuration
    # says the data are finite)
    unchecked = ("NaN or infinity (not checked, as assume_finite=True), or "
                 if get_config()["assume_finite"] else "")
    raise ValueError(
        f"The loss on {rows} is not finite ({loss}) at the parameters training "
        f"starts from: the input data may contain {unchecked}large values and "
        "need to be preprocessed (scaled).")


def _check_rows_at_start(objective, start, all_rows):
    """Raise the data error if the objective's rows are at fault for a loss that
    is not finite in a call's first epoch, rather than the steps before it:
    their loss at the parameters the call started from (``start``) is not
    finite either (a row holding a huge value). Otherwise the steps diverged,
    which the caller handles. (A finite loss there, however large against the
    other minibatches', is no proof: targets sorted by size give such ratios.)
    ``all_rows``: the objective holds every training row.
    """
    loss = objective.loss(start)
    if not math.isfinite(loss):
        _raise_non_finite_start(loss, "the training rows" if all_rows else
                                "a minibatch of the training rows")


def _non_finite_part(theta, state):
    """``"parameters"`` or ``"solver state"`` if it holds a value that is not
    finite (the state's float arrays, also in lists: L-BFGS's pairs), else None.

    A finite loss does not show it: an overflowing second moment (the square of
    a gradient over 1e154) makes Adam's steps 0, and the model stops learning.
    """
    if not _all_finite(theta):
        return "parameters"
    for value in state.values():
        arrays = value if isinstance(value, (list, tuple, deque)) else (value,)
        for array in arrays:
            if isinstance(array, np.ndarray) and array.dtype.kind == "f" \
                    and not _all_finite(array):
                return "solver state"
    return None


def _non_finite_layer(means, variances):
    """The first hidden layer (numbered from 1) whose batch-normalization
    statistics hold a value that is not finite, or 0 if none does."""
    for layer, (mean, var) in enumerate(zip(means, variances), 1):
        if not (_all_finite(mean) and _all_finite(var)):
            return layer
    return 0


def _overflow_limit(dtype):
    """Why a variance overflows, in words: the pre-activations beyond which it
    does in ``dtype``."""
    limit = math.sqrt(float(np.finfo(dtype).max))
    return f"pre-activations beyond {limit:.1e} have a variance beyond {dtype}'s range"


def _all_finite(a):
    """Whether every entry of a float array is finite. A dot product with
    itself is finite only if they are: one BLAS call, a third of the time of
    ``np.isfinite(a).all()`` on a small model's parameters (a partial_fit call
    makes three); only where it overflows are the entries tested one by one."""
    a = a.reshape(-1)
    return math.isfinite(np.dot(a, a)) or bool(np.isfinite(a).all())


def _raise_flaws(flaws, name, dtype):
    """scikit-learn's error for NaN or infinity found in ``name`` (the chunks'
    ``(NaN, infinity, overflow)``), or ``_cast``'s for values beyond ``dtype``."""
    nan, inf, overflow = (any(f[i] for f in flaws) for i in range(3))
    if nan:
        raise ValueError(f"Input {name} contains NaN.")
    if inf:
        raise ValueError(f"Input {name} contains infinity or a value too large for "
                         f"{np.dtype(np.float64)!r}.")
    if overflow:
        raise _too_large(name, dtype)


def _zero_one(y):
    """A multilabel ``y`` as an array, checked to hold only 0 and 1.

    (scikit-learn's ``type_of_target`` calls a matrix of any two integers, such
    as -1 and 1, a multilabel indicator; as 8-bit targets, -1 became 255.)
    """
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        values = np.unique(y)
        raise ValueError("A multilabel y must be a label indicator matrix of 0 and "
                         f"1, got the values {values[:5].tolist()}"
                         f"{' ...' if len(values) > 5 else ''}.")
    return y


def _is_column_vector(y):
    """Whether ``y`` has shape (n, 1), warning as scikit-learn does if so."""
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel().",
            DataConversionWarning, stacklevel=4,
        )
        return True
    return False


def _writeable(value):
    """``value`` with every read-only array in it (in lists, dicts) copied."""
    if isinstance(value, np.ndarray):
        return value if value.flags.writeable else value.copy()
    if isinstance(value, list):
        return [_writeable(v) for v in value]
    if isinstance(value, dict):
        return {k: _writeable(v) for k, v in value.items()}
    return value


def _indicator_matrix(index, n_labels):
    """One uint8 column per label (a single one for binary problems)."""
    if n_labels == 2:
        return (index == 1).astype(np.uint8)[:, None]
    Y = np.zeros((len(index), n_labels), dtype=np.uint8)
    Y[np.arange(len(index)), index] = 1
    return Y


def _r2_score(Y, P, sample_weight):
    """Weighted R^2 averaged over outputs, defined for any number of rows.

    As ``r2_score(force_finite=True)``: a constant target scores 1 if predicted
    exactly, else 0 (``r2_score`` gives NaN for a single row).
    """
    w = np.ones(len(Y)) if sample_weight is None else sample_weight
    ss_res = w @ (Y - P) ** 2
    ss_tot = w @ (Y - np.average(Y, axis=0, weights=w)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(ss_tot > 0, 1 - ss_res / ss_tot, (ss_res == 0).astype(float))
    return float(score.mean())


# dates and durations as Python objects (pandas' Timestamp and Timedelta are
# subclasses of the first two)
_DATES = (datetime.date, datetime.timedelta, np.datetime64, np.timedelta64)


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = r"""Multi-layer perceptron regressor with a pluggable optimizer.

    Identity output and squared error
    :math:`\frac12 \sum_k (y_k - \hat y_k)^2` per sample, averaged over samples;
    multi-output targets are supported. With ``loss="poisson"``, the output
    :math:`\hat y = e^z` and half the Poisson deviance
    :math:`\sum_k [y_k \log(y_k / \hat y_k) - y_k + \hat y_k]`, for counts and
    other non-negative targets, as scikit-learn's.

    Parameters
    ----------""" + _COMMON_PARAMETERS_DOC + r"""
    loss : {"squared_error", "poisson"}, default="squared_error"
        The loss: squared error with the identity output, or half the Poisson
        deviance with the exponential output (the log link; the targets must be
        non-negative). It cannot change between warm-started or partial fits.
        Last in the signature, after ``max_grad_norm``, where scikit-learn's
        takes it first: pass it by name.

    Attributes
    ----------""" + _COMMON_ATTRIBUTES_DOC + r"""
    See Also
    --------
    MLPClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : scikit-learn's.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.pipeline import make_pipeline
    >>> from skopt_nn import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = make_pipeline(StandardScaler(),
    ...                     MLPRegressor(hidden_layer_sizes=(), solver="momentum",
    ...                                  max_iter=50, random_state=0))
    >>> reg.fit(X, (y - y.mean()) / y.std()).score(X, (y - y.mean()) / y.std()) > 0.4
    True
    """

    _parameter_constraints = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        batch_norm=False,
        alpha=1e-4,
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        shuffle=True,
        random_state=None,
        verbose=False,
        warm_start=False,
        max_grad_norm=None,
        loss="squared_error",
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, batch_norm=batch_norm, alpha=alpha,
            batch_size=batch_size, max_iter=max_iter, tol=tol,
            n_iter_no_change=n_iter_no_change, early_stopping=early_stopping,
            validation_fraction=validation_fraction, shuffle=shuffle,
            random_state=random_state, verbose=verbose, warm_start=warm_start,
            max_grad_norm=max_grad_norm,
        )
        self.loss = loss

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the mean loss; a zero weight removes the row.

        Returns
        -------
        self : MLPRegressor
        """
        self._validate_params()
        _PARAMETERS_SET.discard(self)
        return self._fit(X, y, sample_weight)

    @available_if(BaseMLP._partial_fit_available)
    def partial_fit(self, X, y, sample_weight=None):
        """One pass over the given rows, continuing the weights and solver state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each row in the mean loss; a zero weight removes the row.

        Returns
        -------
        self : MLPRegressor
        """
        self._validate_params_if_new()
        return self._fit(X, y, sample_weight, incremental=True)

    def _output_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _stratify(self):
        return False

    def _check_target_range(self, y_min):
        """The Poisson loss needs targets >= 0 (``y_min``: their minimum)."""
        if self.loss == "poisson" and y_min < 0:
            raise ValueError("Some value(s) of y are negative which is not allowed "
                             "for Poisson regression.")

    def _encode_light(self, y, classes):
        """Finite 1-D float targets within the model's dtype's range (and not
        negative, for the Poisson loss), as a column; None for anything else."""
        if y.dtype.kind != "f" or not np.isfinite(y).all() or (
                y.dtype.itemsize > self._theta.dtype.itemsize
                and np.abs(y).max() > np.finfo(self._theta.dtype).max) or (
                self.loss == "poisson" and y.min() < 0):
            return None
        # (in the model's dtype, as _prepare casts them: the range is checked)
        return np.ascontiguousarray(y.reshape(-1, 1), dtype=self._theta.dtype)

    def _encode_targets(self, y, reset, classes):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            # object targets (None, Decimal, strings of numbers) are converted
            # and checked here: validation's finiteness check cannot see a None
            if y.dtype.kind in "SU":
                raise ValueError(
                    f"y must be numeric for regression, got strings (dtype "
                    f"{y.dtype}); convert them explicitly, e.g. y.astype(float).")
            # (a cast would count in the dtype's unit; objects, such as
            # timezone-aware pandas timestamps, cannot be cast at all)
            if y.dtype.kind in "mM" or (y.dtype.kind == "O" and any(
                    isinstance(v, _DATES) for v in y.flat)):
                raise ValueError(
                    f"y must be numeric for regression, got dates or durations "
                    f"(dtype {y.dtype}); convert them explicitly to a number in "
                    "a unit of your choice, e.g. y / np.timedelta64(1, 's').")
            y = y.astype(np.float64)
            _assert_all_finite(y, input_name="y")
        _is_column_vector(y)  # (warns; one output either way)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.size:  # (finite: validation has checked them)
            self._check_target_range(Y.min())
        return Y, {}

    def _validation_score(self, logits, y, sample_weight):
        # (identity output: the logits are the predictions)
        predictions = np.exp(logits) if self._network.out_activation == "exp" \
            else logits
        return _r2_score(np.asarray(y, dtype=float).reshape(len(logits), -1),
                         predictions, sample_weight)

    def _shape_output(self, P):
        return P.ravel() if P.shape[1] == 1 else P

    def predict(self, X):
        """Predict using the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._shape_output(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags

"""The comparison behind ``python -m skopt_nn compare``: runs, table, plots, HTML.

Every chosen solver is trained with and without batch normalization on the same
train/test split, with the same network, initialization seed and budget, so that
the only difference between two rows of the table is the optimizer (and the
normalization). The report directory receives the table as CSV, the loss curves
against epochs and against seconds as PNG (when matplotlib is installed) and one
self-contained HTML page with both.
"""

import base64
import csv
import html
import io
import numbers
import os
import platform
import signal
import sys
import threading
import time
import warnings
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn
import sklearn.datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ._mlp import INTERRUPTED_MESSAGE, MLPClassifier, MLPRegressor
from .diagnostics import hessian_eigenvalues
from .solvers._base import SOLVER_ALIASES, Solver, resolve_solver

# scikit-learn's bundled datasets (no download) and the task each one poses
BUNDLED_DATASETS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "linnerud": ("load_linnerud", "regression"),
}
# A numeric target with at most this many distinct integer values is taken as
# class labels when the task is inferred.
_MAX_INFERRED_CLASSES = 20
# --tune tries the solver's default learning rate times each of these factors.
TUNE_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
_TUNE_FOLDS = 3
# exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """Bad input on the command line: reported as one line, exit code 2."""


# ------------------------------------------------------------------- datasets
@dataclass
class Dataset:
    """Features, target and task of the data to compare the solvers on."""

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str  # "classification" or "regression"


def load_dataset(source, target=None, task="auto"):
    """Load a bundled scikit-learn dataset by name, or a ``.csv`` / ``.npz`` file.

    Parameters
    ----------
    source : str
        A name of :data:`BUNDLED_DATASETS` (``"load_digits"`` also works), or the
        path of a CSV file with a header row or of a ``.npz`` file.
    target : str or None
        The target: a CSV column (required for CSV), or the ``.npz`` array
        holding it (default ``"y"``). Not allowed with a bundled dataset.
    task : {"auto", "classification", "regression"}
        ``"auto"``: bundled datasets know theirs; for a file, a non-numeric target
        or one with at most 20 distinct integer values is classification.

    Returns
    -------
    Dataset

    Raises
    ------
    UsageError
        Unknown name, missing file or column, non-numeric features, ...

    Examples
    --------
    >>> from skopt_nn._report import load_dataset
    >>> data = load_dataset("iris")
    >>> data.X.shape, data.task
    ((150, 4), 'classification')
    """
    name = source[len("load_"):] if source.startswith("load_") else source
    if name in BUNDLED_DATASETS:
        if target is not None:
            raise UsageError(f"--target is for CSV and .npz files; '{name}' is a "
                             "scikit-learn dataset with its own target")
        loader, bundled_task = BUNDLED_DATASETS[name]
        X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
        if task != "auto" and task != bundled_task:
            raise UsageError(f"'{name}' is a {bundled_task} dataset, not {task}")
        return Dataset(name, np.asarray(X, dtype=float), y, bundled_task)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz"):
        if path.exists():
            raise UsageError(f"unsupported file type '{path.suffix}' of {source}: "
                             "give a .csv or .npz file")
        raise UsageError(f"unknown dataset '{source}': choose one of "
                         f"{', '.join(BUNDLED_DATASETS)}, or give a .csv or .npz file")
    if not path.is_file():
        raise UsageError(f"no such file: {source}")
    X, y = _read_csv(path, target, task) if suffix == ".csv" \
        else _read_npz(path, target)
    if len(y) < 2:
        raise UsageError(f"{path.name} has {len(y)} row(s): at least 2 are needed "
                         "to train and test")
    return Dataset(path.name, X, y, _file_task(y, task, path.name))


def _file_task(y, task, name):
    numeric = y.dtype.kind in "biuf"
    if task == "regression":
        if not numeric:
            raise UsageError(f"the target of {name} is not numeric: a regression "
                             "needs numbers (or use --task classification)")
        return task
    if task == "classification" or not numeric:
        return "classification"
    if y.ndim == 1 and np.all(y == np.round(y)) \
            and len(np.unique(y)) <= _MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _read_csv(path, target, task="auto"):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UsageError(f"{path.name} is not UTF-8 text; save it as UTF-8") from None
    except OSError as error:
        raise UsageError(f"cannot read {path.name}: {error.strerror}") from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:  # a single column, or too little text to tell
        dialect = csv.excel
    lines = [(number, row) for number, row in
             enumerate(csv.reader(io.StringIO(text), dialect), start=1) if row]
    if not lines:
        raise UsageError(f"{path.name} is empty")
    header = [name.strip() for name in lines[0][1]]
    rows = lines[1:]
    columns = ", ".join(header)
    if target is None:
        raise UsageError(f"a CSV file needs --target COLUMN (columns of {path.name}: "
                         f"{columns})")
    if target not in header:
        raise UsageError(f"{path.name} has no column '{target}'; its columns are: "
                         f"{columns}")
    if len(header) < 2:
        raise UsageError(f"{path.name} has no feature column besides '{target}'")
    for number, row in rows:
        if len(row) != len(header):
            raise UsageError(f"{path.name}, line {number}: {len(row)} fields, the "
                             f"header has {len(header)}")
    if not rows:
        raise UsageError(f"{path.name} has a header but no data rows")
    cells = np.array([row for _, row in rows], dtype=str)
    numbers_ = [number for number, _ in rows]
    t = header.index(target)
    features = [j for j in range(len(header)) if j != t]
    X = np.empty((len(rows), len(features)))
    for k, j in enumerate(features):
        X[:, k] = _numeric_column(cells[:, j], header[j], numbers_, path.name)
    y = np.char.strip(cells[:, t])
    missing = np.flatnonzero(y == "")
    if len(missing):
        raise UsageError(f"{path.name}, line {numbers_[missing[0]]}: the target "
                         f"'{target}' is missing")
    try:
        y_numeric = y.astype(float)
    except ValueError:
        _check_label_column(y, target, task, numbers_, path.name)
        return X, y  # class labels
    if not np.isfinite(y_numeric).all():
        bad = numbers_[np.flatnonzero(~np.isfinite(y_numeric))[0]]
        raise UsageError(f"{path.name}, line {bad}: the target '{target}' is not "
                         "finite")
    return X, y_numeric


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_label_column(y, target, task, line_numbers, file_name):
    """A target with some non-numeric cells is class labels only if it may be:
    not for a regression, and not, unless asked, when most cells are numbers
    (a numeric column with missing-value marks such as 'NA' or '?')."""
    if task == "classification":
        return
    numeric = np.array([_is_number(value) for value in y])
    if task == "regression" or numeric.mean() > 0.5:
        first = np.flatnonzero(~numeric)[0]
        why = ("a regression needs numbers" if task == "regression" else
               f"{numeric.sum()} of its {len(y)} cells are numbers: remove the rows "
               "whose target is missing, or pass --task classification to take "
               "the column as class labels")
        raise UsageError(f"{file_name}, line {line_numbers[first]}: the target "
                         f"'{target}' is not numeric ('{y[first]}'); {why}")


def _numeric_column(values, name, line_numbers, file_name):
    stripped = np.char.strip(values)
    try:
        column = stripped.astype(float)
    except ValueError:
        # the first bad cell, to name it
        i = next(i for i, value in enumerate(stripped) if not _is_number(value))
        what = ("is missing" if stripped[i] == ""
                else f"is not numeric ('{stripped[i]}')")
        raise UsageError(f"{file_name}, line {line_numbers[i]}: column '{name}' "
                         f"{what}; every feature must be a number") from None
    bad = np.flatnonzero(~np.isfinite(column))
    if len(bad):
        raise UsageError(f"{file_name}, line {line_numbers[bad[0]]}: column '{name}' "
                         f"is {stripped[bad[0]]}; every feature must be a finite "
                         "number")
    return column


def _read_npz(path, target):
    if not zipfile.is_zipfile(path):
        raise UsageError(f"cannot read {path.name}: not a .npz archive (a zip file "
                         "of arrays, as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise UsageError(f"{path.name} holds object arrays; only numeric arrays "
                             "are supported") from None
        raise UsageError(f"cannot read {path.name}: {error}") from None
    except Exception as error:  # not a zip archive, truncated, ...
        raise UsageError(f"cannot read {path.name}: {error}") from None
    names = ", ".join(arrays) or "none"
    target = "y" if target is None else target
    if target not in arrays:
        raise UsageError(f"{path.name} has no array '{target}'; its arrays are: "
                         f"{names}")
    others = [key for key in arrays if key != target]
    if "X" in others:
        x_name = "X"
    elif len(others) == 1:
        x_name = others[0]
    else:
        raise UsageError(f"cannot tell which array of {path.name} holds the features: "
                         f"name it 'X' (arrays: {names})")
    X, y = arrays[x_name], arrays[target]
    if X.dtype.kind not in "biuf":
        raise UsageError(f"array '{x_name}' of {path.name} is not numeric "
                         f"(dtype {X.dtype})")
    if X.ndim != 2:
        raise UsageError(f"array '{x_name}' of {path.name} must be 2-D "
                         f"(rows x features), got shape {X.shape}")
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise UsageError(f"array '{target}' of {path.name} must have one entry per "
                         f"row of '{x_name}' ({len(X)}), got shape {y.shape}")
    if not np.isfinite(X).all():
        raise UsageError(f"array '{x_name}' of {path.name} has non-finite values")
    if y.dtype.kind in "biuf" and not np.isfinite(y).all():
        raise UsageError(f"array '{target}' of {path.name} has non-finite values")
    return X.astype(float), y


# ----------------------------------------------------------------- the runs
@dataclass
class Settings:
    """What every run shares: network, budget, seed, split."""

    hidden: tuple = (64,)
    max_iter: int = 200
    batch_size: object = "auto"
    test_size: float = 0.25
    seed: int = 0
    tune: bool = False
    # Small networks gain nothing from more BLAS threads, and on a busy machine
    # spinning BLAS threads made full-batch fits of digits 10x slower (measured):
    # one thread by default, None for the BLAS libraries' own setting.
    blas_threads: object = 1
    # measure each run's largest Hessian eigenvalue at its end (--curvature)
    curvature: bool = False


@dataclass
class Run:
    """The outcome of one (solver, batch normalization) training run."""

    solver: str
    batch_norm: bool
    learning_rate: object  # float, or None for solvers without one
    train_loss: float
    test_score: float
    epochs: int
    seconds: float
    diverged: bool
    loss_curve: list = field(default_factory=list)
    time_curve: list = field(default_factory=list)  # seconds at each epoch's end
    # the Hessian's largest eigenvalue at the final parameters (--curvature;
    # NaN where it could not be computed, None where not asked for)
    lambda_max: float = None

    @property
    def label(self):
        return self.solver + (" +BN" if self.batch_norm else "")

    @property
    def critical_lr(self):
        """float: ``2 / lambda_max``, above which a gradient step goes uphill
        along the sharpest direction (``inf`` where no direction curves up, as
        :attr:`skopt_nn.diagnostics.GradientCurvature.critical_learning_rate`);
        None without ``lambda_max``."""
        if self.lambda_max is None:
            return None
        if self.lambda_max <= 0:  # (NaN is not: 2 / NaN is NaN)
            return np.inf
        return 2.0 / self.lambda_max


@dataclass
class Comparison:
    """Every finished run, and what they were run on."""

    dataset: Dataset
    settings: Settings
    n_train: int
    n_test: int
    runs: list
    planned: int
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def score_name(self):
        return "accuracy" if self.dataset.task == "classification" else "R2"


class _Watched(Solver):
    """Runs ``solver`` and reports each step to ``on_step(step, loss)``.

    The progress display's hook into training; a solver as any other, so the
    estimator trains exactly as it would with ``solver`` itself.
    """

    def __init__(self, solver=None, on_step=None):
        self.solver = solver
        self.on_step = on_step

    @property
    def full_batch(self):
        return self.solver.full_batch

    def init_state(self, theta):
        return self.solver.init_state(theta)

    def step(self, theta, objective, state):
        _stop_if_interrupted()  # (a fit after Ctrl-C: a search's next candidate)
        loss = self.solver.step(theta, objective, state)
        self.on_step(state["step"], loss)
        return loss

    def current_learning_rate(self, state):
        return self.solver.current_learning_rate(state)

    def __getattr__(self, name):
        # optional hooks the estimator looks for (Newton's check_batch, ...)
        solver = self.__dict__.get("solver")
        if solver is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(solver, name)


def split(dataset, settings):
    """The train/test split every run shares (stratified for classification)."""
    stratify = dataset.y if dataset.task == "classification" else None
    try:
        return train_test_split(dataset.X, dataset.y, test_size=settings.test_size,
                                random_state=settings.seed, stratify=stratify)
    except ValueError as error:
        reason = str(error)
        if stratify is not None:
            labels, counts = np.unique(stratify, return_counts=True)
            single = labels[counts < 2]
            if len(single):  # (scikit-learn's message lists every class)
                reason = (f"{len(single)} of its {len(labels)} classes have a "
                          f"single row (such as '{single[0]}'), and the split "
                          "is stratified; if the target is a quantity, pass "
                          "--task regression")
        raise UsageError(f"cannot split {dataset.name} into training and test rows "
                         f"(--test-size {settings.test_size}): {reason}") from None


def compare(dataset, solvers, batch_norm=(False, True), settings=None, progress=None):
    """Train each solver with each batch-normalization setting; return the runs.

    Ctrl-C (KeyboardInterrupt) stops the comparison: the runs finished so far are
    returned, with ``interrupted=True``.

    Parameters
    ----------
    dataset : Dataset
    solvers : list of str
        Aliases of :data:`skopt_nn.solvers._base.SOLVER_ALIASES`.
    batch_norm : tuple of bool
    settings : Settings or None
    progress : Progress or None

    Returns
    -------
    Comparison
    """
    settings = Settings() if settings is None else settings
    progress = Progress(quiet=True) if progress is None else progress
    if not settings.hidden and True in batch_norm:
        raise UsageError("batch normalization needs a hidden layer: give --hidden "
                         "sizes, or --bn off")
    started = time.perf_counter()
    X_train, X_test, y_train, y_test = split(dataset, settings)
    if dataset.task == "regression":
        # the losses of every solver on one scale, whatever the target's units
        y_mean, y_std = y_train.mean(axis=0), y_train.std(axis=0)
        y_std = np.where(y_std > 0, y_std, 1.0)
        y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std
    if settings.tune:
        _check_tunable(dataset, y_train)
    scaler = StandardScaler().fit(X_train)
    scaled = (X_train, scaler.transform(X_train), y_train, scaler.transform(X_test),
              y_test)
    plan = [(name, bn) for name in solvers for bn in batch_norm]
    comparison = Comparison(dataset, settings, len(y_train), len(y_test), [], len(plan))
    threads = nullcontext() if settings.blas_threads is None else \
        threadpool_limits(limits=settings.blas_threads, user_api="blas")
    try:
        with threads, _Interruptible():
            for index, (name, bn) in enumerate(plan, start=1):
                progress.start(index, len(plan), name + (" +BN" if bn else ""))
                run = _run(dataset.task, name, bn, settings, scaled, progress)
                comparison.runs.append(run)
                progress.finished(run)
    except KeyboardInterrupt:
        comparison.interrupted = True
    finally:
        progress.clear()
    comparison.seconds = time.perf_counter() - started
    return comparison


# Set by Ctrl-C during a comparison. The estimator catches the KeyboardInterrupt
# of a fit, as scikit-learn's does, and returns what it learned: the comparison
# then stops all the same, and a search's later fits stop at their first step.
_INTERRUPTED = threading.Event()


class _Interruptible:
    """Within it (in the main thread), Ctrl-C also sets :data:`_INTERRUPTED`."""

    def __enter__(self):
        _INTERRUPTED.clear()
        self.previous = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    @staticmethod
    def _on_interrupt(signum, frame):
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        _INTERRUPTED.clear()
        return False


def _stop_if_interrupted(caught=()):
    """Raise KeyboardInterrupt after Ctrl-C, which a fit caught and returned
    from: :data:`_INTERRUPTED` says so, or the fit's warning among the
    ``caught`` ones where another SIGINT handler than Python's own is
    installed."""
    if _INTERRUPTED.is_set() or any(
            str(warning.message).startswith(INTERRUPTED_MESSAGE) for warning in caught):
        raise KeyboardInterrupt


def _estimator(task, solver, bn, settings):
    Estimator = MLPClassifier if task == "classification" else MLPRegressor
    return Estimator(hidden_layer_sizes=settings.hidden, solver=solver,
                     batch_norm=bn, max_iter=settings.max_iter,
                     batch_size=settings.batch_size, random_state=settings.seed)


def _run(task, name, bn, settings, data, progress):
    X_raw, X_train, y_train, X_test, y_test = data
    solver = resolve_solver(name)
    if settings.tune:
        solver = _tune(task, solver, bn, settings, X_raw, y_train, progress)
    n_rows = len(y_train)
    if settings.batch_size == "auto":  # as the estimator chooses its minibatches
        rows = n_rows if solver.full_batch else min(200, n_rows)
    else:
        rows = min(settings.batch_size, n_rows)
    steps_per_epoch = -(-n_rows // rows)
    progress.training(settings.max_iter, steps_per_epoch)
    estimator = _estimator(task, _Watched(solver, progress.step), bn, settings)
    # A diverging run overflows on its way (the estimator then stops, restores
    # its best parameters and warns): the table's "diverged" column says it.
    with warnings.catch_warnings(record=True) as caught, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    _stop_if_interrupted(caught)
    for warning in caught:
        # hitting max_iter is what a fixed budget means; divergence is a column
        if not issubclass(warning.category, ConvergenceWarning):
            progress.note(f"{name}{' +BN' if bn else ''}: {warning.message}")
    history = [record for record in estimator.history_ if not record.get("diverged")]
    # a fit that ended far above its starting loss was restored without a record
    rose = any(issubclass(w.category, ConvergenceWarning)
               and "training ended with a loss" in str(w.message) for w in caught)
    return Run(
        solver=name, batch_norm=bn,
        learning_rate=getattr(solver, "learning_rate", None),
        train_loss=np.nan if estimator.loss_ is None else estimator.loss_,
        test_score=float(estimator.score(X_test, y_test)),
        epochs=estimator.n_iter_, seconds=seconds,
        diverged=rose or len(history) < len(estimator.history_),
        loss_curve=list(estimator.loss_curve_),
        time_curve=np.cumsum([record["seconds"] for record in history]).tolist(),
        # after the fit, so that ``seconds`` stays the fit's time alone
        lambda_max=_largest_curvature(estimator, X_train, y_train, settings.seed)
        if settings.curvature else None,
    )


def _largest_curvature(estimator, X, y, seed):
    """The largest eigenvalue of the Hessian of the training objective, or NaN.

    Measured by :func:`skopt_nn.diagnostics.hessian_eigenvalues` on the rows
    ``X, y`` as one batch, at the estimator's final parameters (for a diverged
    run, the best ones it restored).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        The fitted estimator of a run.
    X : ndarray of shape (n_samples, n_features)
        The (scaled) training rows.
    y : ndarray
        Their targets (standardized for regression, as the fit saw them).
    seed : int
        Lanczos' starting vector: the same seed, the same value.

    Returns
    -------
    lambda_max : float
        NaN if the parameters are not finite or Lanczos iteration fails: one
        run's measurement never stops the comparison.
    """
    # (ARPACK would print LAPACK errors on non-finite products before failing)
    if not np.isfinite(estimator._theta).all():
        return np.nan
    try:
        # tol=1e-3 bounds the residual; the eigenvalue is far more accurate
        # (on digits, the same to 8 digits as tol=0, at 2/3 of the time)
        with np.errstate(all="ignore"):
            (value,) = hessian_eigenvalues(estimator, X, y, k=1, which="largest",
                                           tol=1e-3, random_state=seed)
    except RuntimeError:  # no convergence, or an Arnoldi factorization breakdown
        return np.nan
    return float(value) if np.isfinite(value) else np.nan


def _check_tunable(dataset, y_train):
    if dataset.task == "classification":
        counts = np.unique(y_train, return_counts=True)[1]
        if counts.min() < _TUNE_FOLDS:
            raise UsageError(f"--tune needs at least {_TUNE_FOLDS} training rows of "
                             f"each class for its {_TUNE_FOLDS}-fold search; "
                             f"{dataset.name} has a class with {counts.min()}")
    elif len(y_train) < 2 * _TUNE_FOLDS:
        raise UsageError(f"--tune needs at least {2 * _TUNE_FOLDS} training rows")


def _tune(task, solver, bn, settings, X_train, y_train, progress):
    """The solver with the learning rate of best cross-validated loss.

    A :class:`~sklearn.model_selection.GridSearchCV` over the default rate times
    :data:`TUNE_FACTORS`, on the training rows only (scaled inside each fold).
    Solvers without a numeric ``learning_rate`` (L-BFGS, Newton: they search
    their step length) are returned as they are.
    """
    rate = getattr(solver, "learning_rate", None)
    if not isinstance(rate, numbers.Real):
        return solver
    progress.tuning(len(TUNE_FACTORS) * _TUNE_FOLDS)
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", _estimator(task, _Watched(solver, progress.step), bn, settings)),
    ])
    if task == "classification":
        cv = StratifiedKFold(_TUNE_FOLDS, shuffle=True, random_state=settings.seed)
        scoring = "neg_log_loss"  # finer than accuracy, which ties on easy data
    else:
        cv = KFold(_TUNE_FOLDS, shuffle=True, random_state=settings.seed)
        scoring = "neg_mean_squared_error"
    grid = {"mlp__solver__solver__learning_rate": [rate * f for f in TUNE_FACTORS]}
    search = GridSearchCV(pipeline, grid, scoring=scoring, cv=cv, refit=False)
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")  # (kept quiet: diverging candidates are
        search.fit(X_train, y_train)     # expected)
    _stop_if_interrupted(caught)
    best = search.best_params_["mlp__solver__solver__learning_rate"]
    return clone(solver).set_params(learning_rate=best)


# ------------------------------------------------------------------ progress
class Progress:
    """Which run, epoch and loss, on stderr, for anything lasting over a second.

    On a terminal one status line is rewritten in place (at most ten times a
    second); elsewhere (a log, a pipe) a line is written per finished run and
    every ten seconds within a long run. Nothing is shown during the first
    ``delay`` seconds (a log's lines are held back until then, so that a quick
    command stays silent and a longer one logs every run), and nothing at all
    with ``quiet=True``.
    """

    def __init__(self, stream=None, quiet=False, delay=1.0):
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.delay = delay
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self._interval = 0.1 if self.live else 10.0
        self._begin = time.perf_counter()
        self._shown = self._begin
        self._width = 0
        self._run = ""
        self._max_epochs = 1
        self._steps_per_epoch = None
        self._what = ""
        self._held = []

    def __deepcopy__(self, memo):
        # one display shared by every clone of a watched solver (grid search
        # clones its estimator, and with it the solver's ``on_step``)
        return self

    def start(self, index, total, label):
        """A new run, ``index`` of ``total``, named ``label``."""
        self._run = f"[{index}/{total}] {label}"
        self._what = ""
        self._steps_per_epoch = None

    def tuning(self, n_fits):
        """The current run is tuning its learning rate with ``n_fits`` fits."""
        self._what = f"tuning the learning rate ({n_fits} fits)"
        self._steps_per_epoch = None

    def training(self, max_epochs, steps_per_epoch):
        """The current run is training: ``steps_per_epoch`` solver steps each."""
        self._max_epochs, self._steps_per_epoch = max_epochs, steps_per_epoch
        self._what = "starting"

    def step(self, step, loss):
        """Called after every solver step; redraws when due."""
        now = time.perf_counter()
        if self.quiet or now - self._shown < self._interval \
                or now - self._begin < self.delay:
            return
        self._shown = now
        self._release()
        if self._steps_per_epoch is not None:
            epoch = min(-(-step // self._steps_per_epoch), self._max_epochs)
            self._what = f"epoch {epoch}/{self._max_epochs}  loss {loss:.4g}"
        self._show(f"{self._run}: {self._what}")

    def finished(self, run):
        """Report a finished run (a log line when not on a terminal)."""
        if self.quiet or self.live:
            return
        self._held.append(f"{self._run}: {run.epochs} epochs, loss "
                          f"{run.train_loss:.4g}, {run.seconds:.1f} s"
                          + (", diverged" if run.diverged else ""))
        if time.perf_counter() - self._begin >= self.delay:
            self._release()

    def _release(self):
        for line in self._held:
            self._show(line)
        self._held.clear()

    def note(self, text):
        """A message worth keeping (a warning), shown unless quiet."""
        if not self.quiet:
            self.clear()
            print(text, file=self.stream, flush=True)

    def clear(self):
        """Erase the status line (before printing the table)."""
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _show(self, text):
        if self.live:
            padding = " " * max(0, self._width - len(text))
            self.stream.write("\r" + text + padding)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


# --------------------------------------------------------------------- table
_COLUMNS = ("solver", "BN", "learning rate", "train loss", "test {score}", "epochs",
            "seconds", "diverged")
# appended with --curvature (at the end: the other columns keep their places)
_CURVATURE_COLUMNS = ("lambda_max", "critical lr")


def table_rows(comparison):
    """The table as rows of strings, header first."""
    curvature = comparison.settings.curvature
    header = [c.format(score=comparison.score_name) for c in _COLUMNS]
    rows = [header + list(_CURVATURE_COLUMNS) if curvature else header]
    for run in comparison.runs:
        rows.append([
            run.solver, "yes" if run.batch_norm else "no",
            "-" if run.learning_rate is None else _number(run.learning_rate, 3),
            _number(run.train_loss, 4), f"{run.test_score:.4f}", str(run.epochs),
            f"{run.seconds:.2f}", "yes" if run.diverged else "no",
        ])
        if curvature:
            rows[-1] += [_number(run.lambda_max, 4), _number(run.critical_lr, 3)]
    return rows


def _number(value, digits):
    if not isinstance(value, numbers.Real):
        return repr(value)  # a schedule object
    return f"{value:.{digits}g}"


def format_table(comparison):
    """The table as aligned text, as the command prints it."""
    rows = table_rows(comparison)
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if j < 2 else cell.rjust(w)
                       for j, (cell, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(comparison):
    """One paragraph on what was compared, for the text and HTML reports."""
    s, d = comparison.settings, comparison.dataset
    hidden = ", ".join(map(str, s.hidden)) or "none"
    text = (f"{d.name} ({d.task}, {comparison.n_train} training and "
            f"{comparison.n_test} test rows, {d.X.shape[1]} features); hidden layers: "
            f"{hidden}; max_iter={s.max_iter}, batch_size={s.batch_size}, "
            f"seed={s.seed}, BLAS threads: {s.blas_threads or 'default'}; "
            "learning rates "
            + ("tuned by 3-fold cross-validation on the training rows" if s.tune
               else "at each solver's default"))
    return text


# -------------------------------------------------------------------- files
def write_report(comparison, out_dir):
    """Write results.csv, curves.csv, the PNG curves (if matplotlib) and index.html.

    Everything is rendered before the first file is written, and every file's
    place is checked first (a directory named ``index.html`` fails before
    anything is written); PNGs of an earlier report that this one has not
    (no matplotlib now) are removed, so no old curve stands beside new tables.

    Returns
    -------
    paths : dict
        ``name -> Path`` of every file written.
    """
    out = Path(out_dir)
    contents = _render_report(comparison)
    paths = {name: out / filename for name, (filename, _) in contents.items()}
    for path in paths.values():
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
    out.mkdir(parents=True, exist_ok=True)
    # an earlier report's page goes first: a write cut short leaves no page
    # claiming the files beside it as its own
    paths["html"].unlink(missing_ok=True)
    for axis in ("epoch", "seconds"):
        if f"loss_vs_{axis}" not in contents:
            (out / f"loss_vs_{axis}.png").unlink(missing_ok=True)
    for name, (_, data) in contents.items():
        paths[name].write_bytes(data)
    return paths


def _render_report(comparison):
    """``name -> (file name, bytes)`` of every file of the report, index.html
    last (written last: a report cut short has no page claiming it whole)."""
    contents = {"table": ("results.csv", _csv_text(_csv_rows(comparison)))}
    curves = [["solver", "batch_norm", "epoch", "seconds", "loss"]]
    for run in comparison.runs:
        points = zip(run.loss_curve, run.time_curve)
        curves += [[run.solver, run.batch_norm, epoch, repr(sec), repr(loss)]
                   for epoch, (loss, sec) in enumerate(points, start=1)]
    contents["curves"] = ("curves.csv", _csv_text(curves))
    images = {}
    for axis in ("epoch", "seconds"):
        png = plot_curves(comparison, axis)
        if png is not None:
            images[axis] = png
            contents[f"loss_vs_{axis}"] = (f"loss_vs_{axis}.png", png)
    contents["html"] = ("index.html",
                        render_html(comparison, images).encode("utf-8"))
    return contents


def _csv_text(rows):
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8")


def _csv_rows(comparison):
    curvature = comparison.settings.curvature
    yield ["solver", "batch_norm", "learning_rate", "train_loss",
           f"test_{comparison.score_name.lower()}", "epochs", "seconds", "diverged",
           *(("lambda_max", "critical_lr") if curvature else ())]
    for run in comparison.runs:
        yield [run.solver, run.batch_norm,
               "" if run.learning_rate is None else run.learning_rate,
               repr(run.train_loss), repr(run.test_score), run.epochs,
               f"{run.seconds:.4f}", run.diverged,
               *((repr(run.lambda_max), repr(run.critical_lr)) if curvature else ())]


def plot_curves(comparison, axis="epoch"):
    """The training loss of every run against epochs or seconds, as PNG bytes.

    One panel per batch-normalization setting, one colour per solver, a cross
    where a run diverged. None if matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    runs = comparison.runs
    settings = sorted({run.batch_norm for run in runs})
    solvers = list(dict.fromkeys(run.solver for run in runs))
    # colour and dash per solver: curves that coincide (momentum and Nesterov
    # often do) stay distinguishable
    styles = {name: dict(color=f"C{i % 10}", linestyle=("-", "--", "-.", ":")[i % 4])
              for i, name in enumerate(solvers)}
    fig = Figure(figsize=(5.2 * max(1, len(settings)) + 1.8, 4.4), layout="constrained")
    axes = fig.subplots(1, max(1, len(settings)), sharey=True, squeeze=False)[0]
    # (log scales need data: every run may have diverged in its first epoch)
    losses = [loss for run in runs for loss in run.loss_curve]
    positive = bool(losses) and min(losses) > 0
    for ax, bn in zip(axes, settings):
        for run in (r for r in runs if r.batch_norm == bn):
            x = (np.arange(1, len(run.loss_curve) + 1) if axis == "epoch"
                 else np.asarray(run.time_curve))
            ax.plot(x, run.loss_curve, label=run.solver, linewidth=1.5,
                    **styles[run.solver])
            if run.diverged and len(x):
                ax.plot(x[-1], run.loss_curve[-1], "x", markersize=9,
                        markeredgewidth=2, color=styles[run.solver]["color"])
        ax.set_title(("with" if bn else "without") + " batch normalization")
        if axis == "epoch":
            ax.set_xlabel("epoch (full-batch solvers: step)")
        else:  # solvers' times differ by orders of magnitude
            if losses:
                ax.set_xscale("log")
            ax.set_xlabel("seconds")
        if positive:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("training loss")
    handles = {}
    for ax in axes:  # one entry per solver, whichever panels it appears in
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(handles.values(), handles.keys(), loc="outside right upper",
               fontsize="small", title="solver (x: diverged)" if any(
                   run.diverged for run in runs) else "solver")
    fig.suptitle(f"{comparison.dataset.name}: training loss against "
                 + ("epochs" if axis == "epoch" else "time"))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.95em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
th { background: #f3f3f3; }
tr.diverged td { color: #b00020; }
td.best { font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #555; font-size: 0.9em; }
"""


def render_html(comparison, images):
    """One self-contained page: summary, table, and the PNGs embedded as base64."""
    esc = html.escape
    rows = table_rows(comparison)
    scores = [run.test_score for run in comparison.runs]
    best = max(scores) if scores else None
    name = esc(comparison.dataset.name)
    body = [f"<h1>skopt_nn: optimizer comparison on {name}</h1>",
            f"<p>{esc(summary(comparison))}.</p>"]
    if comparison.interrupted:
        body.append(f"<p class='note'>Interrupted: {len(comparison.runs)} of "
                    f"{comparison.planned} runs finished.</p>")
    header = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body.append(f"<h2>Results</h2><table><thead><tr>{header}</tr></thead><tbody>")
    for run, row in zip(comparison.runs, rows[1:]):
        cells = []
        for j, cell in enumerate(row):
            css = " class='best'" if j == 4 and run.test_score == best else ""
            cells.append(f"<td{css}>{esc(cell)}</td>")
        css = " class='diverged'" if run.diverged else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    body.append("</tbody></table>")
    body.append("<p class='note'>Train loss: the estimator's loss_, the mean "
                "minibatch loss of the last epoch, or for full-batch solvers the "
                "loss at the returned parameters (penalty included; regression "
                "targets standardized). Epochs count "
                "passes over the training rows; for full-batch solvers (L-BFGS, "
                "Newton) they count steps. Seconds: wall-clock time of the fit.</p>")
    if comparison.settings.curvature:
        body.append("<p class='note'>lambda_max: the largest eigenvalue of the "
                    "Hessian of the training objective (all training rows as one "
                    "batch, penalty included) at the final parameters, the "
                    "sharpness of the solution found; NaN where it could not be "
                    "computed. Critical lr = 2 / lambda_max: a gradient step "
                    "larger than that goes uphill along the sharpest direction."
                    "</p>")
    titles = {"epoch": "Loss against epochs", "seconds": "Loss against time"}
    for axis, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        body.append(f"<h2>{titles[axis]}</h2><img alt='{esc(titles[axis])}' "
                    f"src='data:image/png;base64,{data}'>")
    if not images:
        body.append("<p class='note'>Install matplotlib for the loss curves "
                    "(curves.csv has them as numbers).</p>")
    from . import __version__
    body.append(f"<p class='note'>skopt_nn {__version__}, NumPy {np.__version__}, "
                f"scikit-learn {sklearn.__version__}, Python "
                f"{platform.python_version()}; {comparison.seconds:.1f} s in all.</p>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>skopt_nn comparison: {esc(comparison.dataset.name)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


# ------------------------------------------------------------------ command
def _check_output(out_dir):
    """Raise a UsageError now if the report directory cannot be written later.

    Nothing is created: an error in the arguments found by the runs' own
    checks leaves no empty directory behind.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out_dir} is a file, not a directory")
    existing = out
    while not existing.exists():  # the directory that would hold the new ones
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot create the report directory {out_dir}: "
                         f"{existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to {existing} (for --out {out_dir})")


def run_compare(dataset="digits", target=None, task="auto", solvers=None,
                batch_norm=(False, True), settings=None, out="skopt_nn_report",
                quiet=False, stdout=None, stderr=None):
    """``skopt-nn compare``: run, print the table, write the report.

    Returns
    -------
    exit_code : int
        0, or :data:`EXIT_INTERRUPTED` after Ctrl-C (the runs that finished are
        reported).

    Raises
    ------
    UsageError
        For bad input (the command prints it as one line, exit code 2).

    Examples
    --------
    >>> import io, tempfile
    >>> from skopt_nn._report import Settings, run_compare
    >>> printed = io.StringIO()
    >>> with tempfile.TemporaryDirectory() as out:
    ...     code = run_compare("iris", solvers=["sgd", "adam"],
    ...                        settings=Settings(max_iter=5), out=out, quiet=True,
    ...                        stdout=printed)
    >>> code
    0
    >>> print(printed.getvalue())  # doctest: +ELLIPSIS
    iris (classification, 112 training and 38 test rows, 4 features); ...
    <BLANKLINE>
    solver  BN   learning rate  train loss  test accuracy  epochs  seconds  diverged
    ------  ---  -------------  ----------  -------------  ------  -------  --------
    sgd     no            0.01 ...
    sgd     yes           0.01 ...
    adam    no           0.001 ...
    adam    yes          0.001 ...
    <BLANKLINE>
    Report: ...index.html
    <BLANKLINE>
    """
    stdout = sys.stdout if stdout is None else stdout
    solvers = list(SOLVER_ALIASES) if not solvers else list(dict.fromkeys(solvers))
    unknown = [name for name in solvers if name not in SOLVER_ALIASES]
    if unknown:
        raise UsageError(f"unknown solver '{unknown[0]}': choose from "
                         f"{', '.join(SOLVER_ALIASES)}")
    data = load_dataset(dataset, target, task)
    _check_output(out)  # a bad --out fails now, not after the runs
    progress = Progress(stream=stderr, quiet=quiet)
    comparison = compare(data, solvers, batch_norm, settings, progress)
    if not comparison.runs:
        print("Interrupted before any run finished: no report written.", file=stdout)
        return EXIT_INTERRUPTED
    # the table first: a report that cannot be written loses no results
    print(summary(comparison), file=stdout)
    print(file=stdout)
    print(format_table(comparison), file=stdout)
    print(file=stdout)
    if comparison.interrupted:
        print(f"Interrupted: {len(comparison.runs)} of {comparison.planned} runs "
              "finished.", file=stdout)
    try:
        with _Interruptible():  # (rendering the curves takes a second or two)
            paths = write_report(comparison, out)
    except KeyboardInterrupt:
        print("Interrupted while writing the report: it may be incomplete "
              f"(index.html is written last), in {out}.", file=stdout)
        return EXIT_INTERRUPTED
    except OSError as error:
        raise UsageError(f"cannot write the report in {out}: {error}") from None
    if "loss_vs_epoch" not in paths:
        print("matplotlib is not installed: no loss-curve images (pip install "
              "matplotlib).", file=stdout)
    print(f"Report: {paths['html'].resolve()}", file=stdout)
    return EXIT_INTERRUPTED if comparison.interrupted else 0

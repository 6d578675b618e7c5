"""Every solver alias on the digits: test accuracy, epochs, fit time, epochs to 95%.

Usage (from the repository root)::

    python benchmarks/solver_table.py              # every alias, ~2 minutes
    python benchmarks/solver_table.py --only sgd,adam,lbfgs

Setup: ``MLPClassifier(hidden_layer_sizes=(100,), random_state=0)`` and otherwise
default parameters (ReLU, ``batch_size="auto"`` = 200 rows, ``max_iter=200``,
``tol=1e-4``, ``n_iter_no_change=10``) on ``load_digits`` scaled by 1/16, with a
stratified 75/25 split (``random_state=0``): 1347 training and 450 test rows.

Learning rates: each solver's default, except plain SGD, which gets 0.1 instead
of 0.01. At 0.01 it has not converged after 200 epochs (test accuracy 0.92); 0.1
is the speed Momentum reaches at its defaults, whose terminal velocity is
eps / (1 - alpha) = 0.01 / (1 - 0.9) = 0.1 per unit gradient. ``--default-rates``
uses 0.01.

Columns:

solver        the alias (the learning rate used in brackets)
test acc      accuracy on the 450 held-out rows after ``fit``
epochs        ``n_iter_``: epochs for stochastic solvers, steps for L-BFGS and
              Newton (full-batch: one step = one pass over the training rows)
fit s         wall-clock seconds of ``fit`` (median of 3 when a fit takes under
              5 s; the machine may be shared, so treat them as indicative)
train loss    ``loss_``: the last epoch's training loss (for L-BFGS and
              Newton, the loss at the returned parameters)
epoch >=95%   the first epoch after which test accuracy is at least 0.95,
              tracked by refitting with ``warm_start=True, max_iter=1`` one epoch
              at a time (no callback needed: warm starts continue the weights,
              the solver state and the shuffling stream, so this trajectory is
              the one ``fit`` follows; the ``same`` column checks that the last
              parameters are bit-identical to those of ``fit``)

Full-batch solvers stop when they cannot decrease the loss further (flagged by
the solver), stochastic ones when the training loss stops improving by ``tol``.
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skopt_nn import MLPClassifier
from skopt_nn.solvers._base import SOLVER_ALIASES, _aliases

from _harness import environment_lines

TARGET = 0.95
BETTER_RATES = {"sgd": 0.1}  # see the module docstring


def load():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, stratify=y, random_state=0)


def make_solver(alias, default_rates):
    cls = _aliases()[alias]
    if not default_rates and alias in BETTER_RATES:
        return cls(learning_rate=BETTER_RATES[alias])
    return cls()


def make_estimator(alias, default_rates, **params):
    return MLPClassifier(hidden_layer_sizes=(100,),
                         solver=make_solver(alias, default_rates), random_state=0,
                         **params)


def timed_fit(alias, default_rates, X, y):
    """The fitted estimator and the median seconds of its fit."""
    times = []
    while True:
        est = make_estimator(alias, default_rates)
        start = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - start)
        if len(times) == 3 or times[0] > 5.0:
            return est, statistics.median(times)


def epochs_to_target(alias, default_rates, n_epochs, X, y, X_test, y_test):
    """First epoch with test accuracy >= TARGET (or None), and the final model."""
    est = make_estimator(alias, default_rates, warm_start=True, max_iter=1)
    first = None
    for epoch in range(1, n_epochs + 1):
        est.fit(X, y)
        if first is None and est.score(X_test, y_test) >= TARGET:
            first = epoch
        if est.solver_state_.get("converged", False):
            break
    return first, est


def rate_label(solver):
    rate = getattr(solver, "learning_rate", None)
    return "" if rate is None else f" ({rate:g})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated aliases (default: all)")
    parser.add_argument("--default-rates", action="store_true",
                        help="every solver at its default learning rate")
    args = parser.parse_args(argv)
    aliases = args.only.split(",") if args.only else list(SOLVER_ALIASES)
    unknown = set(aliases) - set(SOLVER_ALIASES)
    if unknown:
        parser.error(f"unknown solver(s) {sorted(unknown)}; "
                     f"choose from {SOLVER_ALIASES}")

    X, X_test, y, y_test = load()
    print("\n".join(environment_lines()))
    print(f"digits / 16: {len(y)} training, {len(y_test)} test rows; hidden (100,)\n")
    header = (f"{'solver':26s} {'test acc':>8s} {'epochs':>6s} {'fit s':>7s} "
              f"{'train loss':>10s} {'epoch >=95%':>11s} {'same':>4s}")
    print(header)
    print("-" * len(header))
    with warnings.catch_warnings():
        # fits that stop at max_iter, and each one-epoch warm start, warn by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        for alias in aliases:
            est, seconds = timed_fit(alias, args.default_rates, X, y)
            first, tracked = epochs_to_target(alias, args.default_rates, est.n_iter_,
                                              X, y, X_test, y_test)
            same = all(np.array_equal(a, b) for a, b in zip(
                tracked.coefs_ + tracked.intercepts_, est.coefs_ + est.intercepts_))
            reached = "-" if first is None else str(first)
            label = alias + rate_label(est.solver_)
            print(f"{label:26s} {est.score(X_test, y_test):8.4f} "
                  f"{est.n_iter_:6d} {seconds:7.2f} {est.loss_:10.2e} {reached:>11s} "
                  f"{'yes' if same else 'NO':>4s}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

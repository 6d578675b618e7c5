"""Does batch normalization help plain SGD train a deeper network? A measurement.

A 4-hidden-layer MLP (64, 64, 64, 64) on scikit-learn's bundled digits data
(pixels scaled to [0, 1]), trained with :class:`~skopt_nn.solvers.SGD`
(minibatches of 32), with and without :class:`~skopt_nn.BatchNorm`, for each
hidden activation given:

1. epochs to reach a target training loss (the epoch's mean minibatch loss, the
   objective SGD minimizes; with BN it uses minibatch statistics) at a few fixed
   learning rates, and at the end the training log-loss of ``predict_proba``
   (inference statistics) and the test accuracy;
2. the training loss after 10 epochs over a log grid of learning rates, and the
   largest stable rate: every rate up to it is stable, "stable" meaning no
   divergence warning and a final loss below the initial one (the loss at the
   initial parameters, measured with a solver that takes no step).

Run: ``python benchmarks/bn_benefit.py`` (about 2 minutes on 2 busy cores).
Prints tables; writes nothing.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from skopt_nn import BatchNorm, MLPClassifier
from skopt_nn.solvers import SGD, Solver

HIDDEN = (64, 64, 64, 64)


class NoStep(Solver):
    """Evaluates the objective and leaves the parameters alone."""

    def step(self, theta, objective, state):
        loss, _ = objective(theta)
        state["step"] += 1
        return loss


def fit(X, y, activation, batch_norm, solver, max_iter, seed):
    """Fit; return the estimator and whether training diverged."""
    est = MLPClassifier(hidden_layer_sizes=HIDDEN, activation=activation,
                        solver=solver, batch_norm=BatchNorm() if batch_norm else False,
                        batch_size=32, max_iter=max_iter, tol=0.0,
                        n_iter_no_change=max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(all="ignore"):
            est.fit(X, y)
    diverged = any(issubclass(w.category, ConvergenceWarning)
                   and "diverged" in str(w.message) for w in caught)
    return est, diverged


def epochs_to_target(curve, target):
    hits = np.flatnonzero(np.asarray(curve) <= target)
    return int(hits[0]) + 1 if hits.size else None


def time_to_target(X_train, y_train, X_test, y_test, args):
    print(f"(1) epochs to reach training loss <= {args.target}, per seed "
          f"(max {args.max_epochs}; '-' = not reached); at the end: training "
          "loss,\n    training log-loss of predict_proba, test accuracy")
    print(f"{'activation':>10} {'lr':>6} {'BN':>5} {'epochs':>10} "
          f"{'final loss':>11} {'predict ll':>11} {'test acc':>9}")
    for activation in args.activations:
        for rate in args.rates:
            for bn in (False, True):
                epochs, losses, lls, accs = [], [], [], []
                for seed in range(args.seeds):
                    est, diverged = fit(X_train, y_train, activation, bn,
                                        SGD(learning_rate=rate), args.max_epochs, seed)
                    epochs.append(None if diverged
                                  else epochs_to_target(est.loss_curve_, args.target))
                    losses.append(est.loss_curve_[-1])
                    lls.append(log_loss(y_train, est.predict_proba(X_train)))
                    accs.append(est.score(X_test, y_test))
                shown = "/".join("-" if e is None else str(e) for e in epochs)
                print(f"{activation:>10} {rate:>6g} {'yes' if bn else 'no':>5} "
                      f"{shown:>10} {np.mean(losses):>11.4f} {np.mean(lls):>11.4f} "
                      f"{np.mean(accs):>9.3f}")


def stability(X_train, y_train, args):
    grid = np.logspace(-2, 1.5, 8)  # 0.01 ... 31.6, steps of sqrt(10)
    print("\n(2) training loss after 10 epochs (mean over seeds; 'div' = diverged in "
          "some seed, '*' = not below\n    the initial loss in some seed) and the "
          "largest stable learning rate")
    print(f"{'activation':>10} {'BN':>5} {'initial':>8} "
          + " ".join(f"{r:>7.3g}" for r in grid) + f" {'stable up to':>13}")
    for activation in args.activations:
        for bn in (False, True):
            initial = [fit(X_train, y_train, activation, bn, NoStep(), 1, seed)[0]
                       .loss_curve_[0] for seed in range(args.seeds)]
            cells, largest, unstable_seen = [], None, False
            for rate in grid:
                runs = [fit(X_train, y_train, activation, bn, SGD(learning_rate=rate),
                            10, seed) for seed in range(args.seeds)]
                diverged = any(d for _, d in runs)
                if diverged:
                    cells.append("div")
                else:
                    below = all(est.loss_curve_[-1] < init
                                for (est, _), init in zip(runs, initial))
                    loss = np.mean([est.loss_curve_[-1] for est, _ in runs])
                    cells.append(f"{loss:.3g}" + ("" if below else "*"))
                unstable_seen |= cells[-1] == "div" or cells[-1].endswith("*")
                largest = rate if not unstable_seen else largest
            print(f"{activation:>10} {'yes' if bn else 'no':>5} "
                  f"{np.mean(initial):>8.3f} " + " ".join(f"{c:>7}" for c in cells)
                  + f" {'none' if largest is None else f'{largest:.3g}':>13}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", nargs="+",
                        default=["logistic", "tanh", "relu"])
    parser.add_argument("--target", type=float, default=0.1,
                        help="training loss to reach")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0,
                                                        stratify=y)
    start = time.perf_counter()
    print(f"digits: {len(X_train)} training rows, hidden {HIDDEN}, SGD, "
          f"batch_size=32, {args.seeds} seeds\n")
    time_to_target(X_train, y_train, X_test, y_test, args)
    stability(X_train, y_train, args)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

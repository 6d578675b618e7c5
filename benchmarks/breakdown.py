"""Where one training step's time goes, part by part, for each epoch workload.

Usage (from the repository root)::

    .venv/bin/python benchmarks/breakdown.py            # every workload
    .venv/bin/python benchmarks/breakdown.py digits     # names containing "digits"

For one minibatch of the workload (skopt_nn's own thread setting for it), the
median time of: gathering the minibatch rows, the forward pass, loss and backward
pass, the objective's wrapping (gradient buffer and norm), the solver's update,
and the layer GEMMs alone. The parts are timed separately, in a loop, so they
sum to a little less than a step inside ``fit``, which also pays for the loop.
"""

import statistics
import sys
import time

import numpy as np

from _harness import GemmFloor
from _workloads import EPOCH_WORKLOADS, load
from skopt_nn._blas import training_threads
from skopt_nn._data import Minibatches
from skopt_nn._network import Network
from skopt_nn._objective import Objective
from skopt_nn.solvers import Adam


def _median_us(fn, repeats=7, calls=None):
    if calls is None:  # about 20 ms per repetition
        start = time.perf_counter()
        fn()
        calls = max(3, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return 1e6 * statistics.median(times)


def breakdown(workload):
    """Microseconds per part of one step, as a dict."""
    X, y, _, _ = load(workload)
    if workload.is_regression:
        Y = y.reshape(-1, 1).astype(X.dtype)
    else:
        Y = (y[:, None] == np.unique(y)).astype(np.uint8)
    rows = workload.batch_rows()
    units = workload.layer_units(Y.shape[1])
    network = Network(units, "relu", "identity" if workload.is_regression else "softmax")
    theta = network.initialize(np.random.RandomState(0), X.dtype)
    batches = Minibatches(X, Y, None, rows)
    order = np.random.default_rng(0).permutation(X.shape[0])
    Xb, Yb, _ = next(batches.epoch(order))
    Xb, Yb = Xb.copy(), Yb.copy()
    objective = Objective(network, alpha=1e-4).set_batch(Xb, Yb)
    grad = np.empty_like(theta)
    solver = Adam()
    state = solver.init_state(theta)
    floor = GemmFloor(units, rows, rows, X.dtype)

    def gather():
        next(batches.epoch(order))

    with training_threads(units, rows):
        forward = _median_us(lambda: network.forward_train(theta, Xb, None))
        loss_grad = _median_us(lambda: network.loss_grad(theta, Xb, Yb, None, 1e-4, grad))
        evaluate = _median_us(lambda: objective(theta))
        step = _median_us(lambda: solver.step(theta, objective, state))
        parts = {
            "gather rows": _median_us(gather),
            "forward": forward,
            "loss + backward": loss_grad - forward,
            "objective wrapper": evaluate - loss_grad,
            "Adam update": step - evaluate,
            "total step": step + _median_us(gather),
            "GEMMs alone": 1e6 * statistics.median(
                floor.epoch_seconds() for _ in range(7)),
        }
    return parts


def main(argv):
    chosen = [w for w in EPOCH_WORKLOADS if not argv or any(a in w.name for a in argv)]
    names = None
    for workload in chosen:
        parts = breakdown(workload)
        if names is None:
            names = list(parts)
            print("| workload (us per step) | " + " | ".join(names) + " |")
            print("|---|" + "---:|" * len(names))
        cells = " | ".join(f"{parts[n]:.0f}" for n in names)
        print(f"| {workload.name} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1:])

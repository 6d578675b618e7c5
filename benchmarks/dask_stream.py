"""Training on a dask array larger than a fit should hold: time and peak memory.

One pass of Adam over a lazily generated array (``--rows`` x 100 float64,
blocks of ``--block`` rows), streamed through ``dask_ml.wrappers.Incremental``
and ``partial_fit``, for skopt_nn's and scikit-learn's ``MLPClassifier`` (same
network, same minibatches of 200). The array is never computed as a whole: each
``partial_fit`` call gets one block. Under dask's threaded scheduler (its
default for arrays) the other thread computes blocks ahead of the training
chain, as many as it gets to; the synchronous scheduler computes one block at a
time. For contrast, the same pass over the computed array in memory
(``partial_fit`` on the whole NumPy array). Each run is its own process, so
that its peak resident memory (``ru_maxrss``) is its own; the table gives the
median time and the largest peak of ``--repeats`` runs, and the memory of a
process that imports everything and computes the test rows, but trains nothing.

Needs the ``dask`` extra (``pip install skopt_nn[dask]``; the ``test`` extra has
it). Run: ``python benchmarks/dask_stream.py`` (about 3 minutes on 2 cores with the
defaults: 1,000,000 rows, 800 MB). Prints one table; writes nothing.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

FEATURES = 100
HIDDEN = (128,)


def data(rows, block, seed=0):
    """A lazily generated classification problem: (X, y) dask arrays."""
    import dask.array as da

    X = da.random.default_rng(seed).standard_normal((rows, FEATURES),
                                                    chunks=(block, FEATURES))
    # a nonlinear rule of a few features
    score = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) - 0.5 * X[:, 3]
    return X, (score > 0).astype(np.int64)


def estimator(library):
    if library == "skopt_nn":
        from skopt_nn import MLPClassifier
        from skopt_nn.solvers import Adam
        return MLPClassifier(HIDDEN, solver=Adam(learning_rate=1e-3), random_state=0)
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(HIDDEN, solver="adam", learning_rate_init=1e-3,
                         random_state=0)


MODES = {"dask stream": "threads", "dask stream, sync": "sync", "in memory": None,
         "baseline": None}


def run(library, mode, rows, block):
    """One measurement, in this process: a dict for the table."""
    import dask
    from dask_ml.wrappers import Incremental

    X, y = data(rows, block)
    X_test, y_test = (a.compute() for a in data(20_000, 20_000, seed=1))
    model = estimator(library)
    start = time.perf_counter()
    if mode == "baseline":  # (the imports and the test rows alone)
        accuracy = float("nan")
    elif MODES[mode] is not None:
        with dask.config.set(scheduler=MODES[mode]):
            model = Incremental(model, shuffle_blocks=False).fit(X, y, classes=[0, 1])
    else:
        X, y = X.compute(), y.compute()
        start = time.perf_counter()  # (generating the array is not training)
        model.partial_fit(X, y, classes=[0, 1])
    seconds = time.perf_counter() - start
    if mode != "baseline":
        accuracy = float(model.score(X_test, y_test))
    return {"library": library, "mode": mode, "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "accuracy": accuracy}


def _child(args, library, mode):
    out = subprocess.run(
        [sys.executable, __file__, "--rows", str(args.rows), "--block",
         str(args.block), "--child", library, mode],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, args.rows, args.block)))
        return
    size_mb = args.rows * FEATURES * 8 / 2**20
    print(f"One pass of Adam (minibatches of 200) over {args.rows:,} x {FEATURES} "
          f"float64 ({size_mb:,.0f} MB), hidden {HIDDEN}, blocks of {args.block:,} "
          f"rows ({args.block * FEATURES * 8 / 2**20:,.0f} MB); median time and "
          f"largest peak of {args.repeats} runs\n")
    baseline = _child(args, "skopt_nn", "baseline")["peak_mb"]
    print(f"peak memory of a process that imports everything and computes the test "
          f"rows: {baseline:,.0f} MB\n")
    print("| library | mode | seconds | peak memory (MB) | test accuracy |")
    print("|---|---|---:|---:|---:|")
    seconds = {}
    for mode in ("dask stream", "dask stream, sync", "in memory"):
        for library in ("skopt_nn", "scikit-learn"):
            runs = [_child(args, library, mode) for _ in range(args.repeats)]
            seconds[library, mode] = statistics.median(r["seconds"] for r in runs)
            print(f"| {library} | {mode} | {seconds[library, mode]:.1f} | "
                  f"{max(r['peak_mb'] for r in runs):,.0f} | "
                  f"{runs[0]['accuracy']:.4f} |", flush=True)
    print()
    for mode in ("dask stream", "dask stream, sync", "in memory"):
        ratio = seconds["skopt_nn", mode] / seconds["scikit-learn", mode]
        print(f"{mode}: skopt_nn / scikit-learn time = {ratio:.2f}")


if __name__ == "__main__":
    main()

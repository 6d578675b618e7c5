"""Training on a dask array larger than a fit should hold: time and peak memory.

One pass of Adam over a lazily generated array (``--rows`` x 100 float64,
blocks of ``--block`` rows), streamed through ``dask_ml.wrappers.Incremental``
and ``partial_fit``, for skopt_nn's and scikit-learn's ``MLPClassifier`` (same
network, same minibatches of 200). The array is never computed as a whole: each
``partial_fit`` call holds one block. For contrast, the same pass over the
computed array in memory (``partial_fit`` on the whole NumPy array). Each run
is its own process, so that its peak resident memory (``ru_maxrss``) is its own.

Needs the ``dask`` extra (``pip install skopt_nn[dask]``; the ``test`` extra has
it). Run: ``python benchmarks/dask_stream.py`` (about 1 minute on 2 cores with the
defaults: 1,000,000 rows, 800 MB). Prints one table; writes nothing.
"""

import argparse
import json
import resource
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


def run(library, mode, rows, block):
    """One measurement, in this process: a dict for the table."""
    import dask
    from dask_ml.wrappers import Incremental

    X, y = data(rows, block)
    X_test, y_test = (a.compute() for a in data(20_000, 20_000, seed=1))
    model = estimator(library)
    with dask.config.set(scheduler="threads"):
        start = time.perf_counter()
        if mode == "dask stream":
            model = Incremental(model, shuffle_blocks=False).fit(X, y, classes=[0, 1])
        else:
            X, y = X.compute(), y.compute()
            start = time.perf_counter()  # (generating the array is not training)
            model.partial_fit(X, y, classes=[0, 1])
        seconds = time.perf_counter() - start
    return {"library": library, "mode": mode, "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "accuracy": float(model.score(X_test, y_test))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--block", type=int, default=50_000)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, args.rows, args.block)))
        return
    size_mb = args.rows * FEATURES * 8 / 2**20
    print(f"One pass of Adam (minibatches of 200) over {args.rows:,} x {FEATURES} "
          f"float64 ({size_mb:,.0f} MB), hidden {HIDDEN}, blocks of {args.block:,} "
          f"rows ({args.block * FEATURES * 8 / 2**20:,.0f} MB)\n")
    print("| library | mode | seconds | peak memory (MB) | test accuracy |")
    print("|---|---|---:|---:|---:|")
    results = {}
    for mode in ("dask stream", "in memory"):
        for library in ("skopt_nn", "scikit-learn"):
            out = subprocess.run(
                [sys.executable, __file__, "--rows", str(args.rows), "--block",
                 str(args.block), "--child", library, mode],
                check=True, capture_output=True, text=True).stdout
            r = results[library, mode] = json.loads(out.strip().splitlines()[-1])
            print(f"| {library} | {mode} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | "
                  f"{r['accuracy']:.4f} |", flush=True)
    for mode in ("dask stream", "in memory"):
        ratio = (results["skopt_nn", mode]["seconds"]
                 / results["scikit-learn", mode]["seconds"])
        print(f"\n{mode}: skopt_nn / scikit-learn time = {ratio:.2f}", end="")
    print()


if __name__ == "__main__":
    main()

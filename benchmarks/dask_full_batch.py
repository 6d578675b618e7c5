"""L-BFGS on a dask array, chunk by chunk: time per iteration and peak memory.

``--iterations`` of L-BFGS over a lazily generated array (``--rows`` x 100
float64, chunks of ``--block`` rows; the problem of ``dask_stream.py``), in
these modes:

- **chunks, generated**: ``fit`` on the lazy array. Every evaluation computes
  each chunk's share of the loss and gradient where the chunk is computed,
  here by generating it again (as a chunk read from storage at every pass
  would be); the rows are never held whole.
- **chunks, persisted**: the same on ``X.persist()`` (the chunks kept in
  memory, by the local scheduler here, by the workers on a cluster).
- **in memory**: ``fit`` on the computed NumPy array (two row shards on two
  threads), for skopt_nn and for scikit-learn's ``solver="lbfgs"``.

Each run is its own process, so that its peak resident memory (``ru_maxrss``)
is its own; the table gives the median time of ``--repeats`` runs and the
largest peak, and the memory of a process that imports everything and computes
the test rows but trains nothing.

Needs the ``dask`` extra. Run: ``python benchmarks/dask_full_batch.py`` (about
3 minutes on 2 cores with the defaults: 400,000 rows, 305 MB, 10 iterations).
Prints one table; writes nothing.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings

from dask_stream import FEATURES, HIDDEN, data

MODES = ("chunks, generated", "chunks, persisted", "in memory")


def estimator(library, iterations):
    if library == "skopt_nn":
        from skopt_nn import MLPClassifier
        from skopt_nn.solvers import LBFGS
        return MLPClassifier(HIDDEN, solver=LBFGS(), max_iter=iterations, tol=0.0,
                             random_state=0)
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(HIDDEN, solver="lbfgs", max_iter=iterations, tol=0.0,
                         random_state=0)


def run(library, mode, rows, block, iterations):
    """One measurement, in this process: a dict for the table."""
    X, y = data(rows, block)
    X_test, y_test = (a.compute() for a in data(20_000, 20_000, seed=1))
    model = estimator(library, iterations)
    if mode == "chunks, persisted":
        X, y = X.persist(), y.persist()
    elif mode == "in memory":
        X, y = X.compute(), y.compute()
    result = {"library": library, "mode": mode, "ms_per_iteration": float("nan"),
              "loss": float("nan"), "accuracy": float("nan")}
    if mode != "baseline":
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (max_iter reached, on purpose)
            model.fit(X, y)
        result["ms_per_iteration"] = 1e3 * (time.perf_counter() - start) / model.n_iter_
        result["loss"] = float(model.loss_)
        result["accuracy"] = float(model.score(X_test, y_test))
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _child(args, library, mode):
    out = subprocess.run(
        [sys.executable, __file__, "--rows", str(args.rows), "--block",
         str(args.block), "--iterations", str(args.iterations), "--child",
         library, mode], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--block", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(*args.child, args.rows, args.block, args.iterations)))
        return
    size_mb = args.rows * FEATURES * 8 / 2**20
    print(f"{args.iterations} iterations of L-BFGS over {args.rows:,} x {FEATURES} "
          f"float64 ({size_mb:,.0f} MB), hidden {HIDDEN}, chunks of {args.block:,} "
          f"rows; median time and largest peak of {args.repeats} runs\n")
    baseline = _child(args, "skopt_nn", "baseline")["peak_mb"]
    print(f"peak memory of a process that imports everything and computes the test "
          f"rows: {baseline:,.0f} MB\n")
    print("| library | mode | ms per iteration | peak memory (MB) | training loss "
          "| test accuracy |")
    print("|---|---|---:|---:|---:|---:|")
    runs = [("skopt_nn", mode) for mode in MODES] + [("scikit-learn", "in memory")]
    for library, mode in runs:
        results = [_child(args, library, mode) for _ in range(args.repeats)]
        ms = statistics.median(r["ms_per_iteration"] for r in results)
        print(f"| {library} | {mode} | {ms:,.0f} | "
              f"{max(r['peak_mb'] for r in results):,.0f} | "
              f"{results[0]['loss']:.6f} | {results[0]['accuracy']:.4f} |", flush=True)


if __name__ == "__main__":
    main()

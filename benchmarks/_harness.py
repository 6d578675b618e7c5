"""Measuring tools of the benchmark: interleaved medians, peak memory, GEMM floor.

The machine may be shared, so absolute times are noisy. Every comparison runs the
competitors in the same process, alternating them repetition by repetition (in
balanced orders, so that each takes every position, and follows every other,
equally often), and reports medians: a short burst of load then hits every
competitor alike, which keeps the *ratios* meaningful. Sustained load
does not hit them alike: it slows most the one that runs more threads (two BLAS
threads on small products stall when another process holds a core).
"""

import os
import platform
import statistics
import time
import tracemalloc

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info

import skopt_nn
from skopt_nn._blas import SMALL_PRODUCT, shard_threads
from skopt_nn._objective import MIN_SHARD_ACTIVATIONS, MIN_SHARD_ROWS


def interleaved(candidates, repeats, settle=0.0, values=None):
    """Median of each candidate's measurements, repetitions alternating.

    The repetitions run the candidates in the orders of :func:`balanced_orders`,
    in turn, so that no candidate is favoured by its place: first after a
    pause, or right after a given other one (after scikit-learn's fit at its
    default threads, whose workers still spin, a digits fit of skopt_nn took
    48% longer than after one on a single thread, under load; rotating one
    order, as this did before, put skopt_nn after the same competitor in 5 of
    6 repetitions).

    Parameters
    ----------
    candidates : dict of str to callable
        Each callable runs once and returns one measurement (a float).
    repeats : int
    settle : float, default=0.0
        Seconds to wait before each measurement, for the thread pools that the
        previous candidate left spinning to fall asleep (OpenBLAS's workers spin
        for about 0.1 s after their last call).
    values : dict or None, default=None
        If given, filled with each candidate's measurements, in order.

    Returns
    -------
    dict of str to float
        The median measurement of each candidate.
    """
    values = {} if values is None else values
    values.update({name: [] for name in candidates})
    names = list(candidates)
    orders = balanced_orders(len(names))
    for r in range(repeats):
        for i in orders[r % len(orders)]:
            time.sleep(settle)
            values[names[i]].append(candidates[names[i]]())
    return {name: statistics.median(v) for name, v in values.items()}


def balanced_orders(n):
    """Orders of ``range(n)`` in which each takes every place, and follows every
    other, equally often (Williams' design: ``n`` orders, ``2 n`` for odd ``n``).

    Examples
    --------
    >>> balanced_orders(2)
    [[0, 1], [1, 0]]
    >>> balanced_orders(4)
    [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
    >>> orders = balanced_orders(3)   # each of the 6 successions twice
    >>> pairs = [(a, b) for o in orders for a, b in zip(o, o[1:])]
    >>> len(orders), len(set(pairs)), len(pairs)
    (6, 6, 12)
    """
    first, low, high = [0], 1, n - 1
    for k in range(1, n):  # 0, 1, n-1, 2, n-2, ...
        if k % 2:
            first.append(low)
            low += 1
        else:
            first.append(high)
            high -= 1
    orders = [[(i + shift) % n for i in first] for shift in range(n)]
    return orders + [order[::-1] for order in orders] if n % 2 else orders


def pair_ratios(ours, theirs):
    """``"pair ratios lo-hi"``: the range of the repetitions' own ratios.

    Repetition ``i`` of each competitor ran in the same round of
    :func:`interleaved`, so their ratio is one paired measurement; the range
    shows how far a single pair can stray from the ratio of the medians that
    the table reports.

    Examples
    --------
    >>> pair_ratios([1.0, 2.0, 3.0], [2.0, 2.0, 4.0])
    'pair ratios 0.50-1.00 (3 pairs)'
    """
    ratios = [a / b for a, b in zip(ours, theirs)]
    return f"pair ratios {min(ratios):.2f}-{max(ratios):.2f} ({len(ratios)} pairs)"


def seconds(fn):
    """Wall-clock seconds of one call of ``fn``, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def peak_memory(fn):
    """Peak bytes allocated (Python and NumPy, through tracemalloc) during ``fn()``.

    Only what ``fn`` allocates counts: the inputs it receives are not included.
    """
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def gemm_flops(layer_units, n_rows):
    """Floating-point operations of the layer GEMMs of one pass over ``n_rows``.

    Forward ``a @ W`` for every layer, and backward ``a.T @ delta`` (weight
    gradient) for every layer and ``delta @ W.T`` for every layer but the first:
    ``2 m n k`` each.
    """
    pairs = list(zip(layer_units[:-1], layer_units[1:]))
    forward = sum(2 * n_rows * fan_in * fan_out for fan_in, fan_out in pairs)
    # weight gradients cost as much as the forward products; no delta below layer 0
    backward = forward + sum(2 * n_rows * fan_in * fan_out
                             for fan_in, fan_out in pairs[1:])
    return forward + backward


class GemmFloor:
    """The layer GEMMs of one training epoch alone, on preallocated arrays.

    What a perfect NumPy implementation of the epoch would cost: the same matrix
    products, with the same shapes and dtype, and nothing else. ``run.py`` times
    it with the default BLAS threads and with one, and keeps the faster: a
    perfect implementation would choose its threads too, so the floor is never
    slower than the thread setting skopt_nn trains with.

    Parameters
    ----------
    layer_units : list of int
        ``[n_features, hidden..., n_outputs]``.
    n_samples, batch_size : int
    dtype : dtype
    """

    def __init__(self, layer_units, n_samples, batch_size, dtype):
        rng = np.random.default_rng(0)
        self.units = list(layer_units)
        self.batch_sizes = [batch_size] * (n_samples // batch_size)
        if n_samples % batch_size:
            self.batch_sizes.append(n_samples % batch_size)
        self.flops = gemm_flops(self.units, n_samples)
        pairs = list(zip(self.units[:-1], self.units[1:]))
        # well-scaled values: no overflow, no denormals to slow the products
        self.weights = [(rng.standard_normal(p) / np.sqrt(p[0])).astype(dtype)
                        for p in pairs]
        self.grads = [np.empty_like(w) for w in self.weights]
        self.buffers = {}
        for m in set(self.batch_sizes):
            X = rng.standard_normal((m, self.units[0])).astype(dtype)
            act = [np.empty((m, u), dtype) for u in self.units[1:]]
            delta = [(0.01 * rng.standard_normal((m, u))).astype(dtype)
                     for u in self.units[1:]]
            self.buffers[m] = (X, act, delta)

    def _batch(self, m):
        X, act, delta = self.buffers[m]
        a = X
        for w, z in zip(self.weights, act):
            np.matmul(a, w, out=z)
            a = z
        for i in range(len(self.weights) - 1, -1, -1):
            a_prev = X if i == 0 else act[i - 1]
            np.matmul(a_prev.T, delta[i], out=self.grads[i])
            if i:
                np.matmul(delta[i], self.weights[i].T, out=delta[i - 1])

    def epoch_seconds(self):
        """Seconds of one epoch's GEMMs."""
        start = time.perf_counter()
        for m in self.batch_sizes:
            self._batch(m)
        return time.perf_counter() - start


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The environment variables the header lists: threads, and OpenBLAS's kernels
# (OPENBLAS_CORETYPE=Haswell on a CPU with AVX-512 made digits' products 1.4-2
# times slower than its own choice). Not KMP_: scikit-learn sets two of them as
# it is imported.
BLAS_VARIABLE_PREFIXES = ("OMP_", "OPENBLAS_", "MKL_", "GOTO_", "BLIS_", "GOMP_",
                          "VECLIB_")


def environment_lines():
    """The machine, library versions, BLAS libraries and thread settings."""
    lines = [
        f"machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"skopt_nn {getattr(skopt_nn, '__version__', '(dev)')}",
    ]
    for pool in threadpool_info():
        lines.append(
            f"{pool['user_api']}: {pool['internal_api']} {pool.get('version')} "
            f"({pool['prefix']} in {os.path.basename(os.path.dirname(pool['filepath']))}, "
            f"{pool.get('architecture', '-')}, {pool['num_threads']} threads)"
        )
    lines.append("skopt_nn while training: NumPy's BLAS on 1 thread for steps whose "
                 f"largest product is under {SMALL_PRODUCT:,} multiply-adds, else "
                 "as above; SciPy's "
                 "own BLAS (axpy, ger) on 1 thread (no limits for a partial_fit "
                 "call within OpenBLAS's own one-thread sizes); full batches of "
                 f"{2 * MIN_SHARD_ROWS:,}+ rows and {2 * MIN_SHARD_ACTIVATIONS:,}+ "
                 "activations (L-BFGS, Newton): two row shards, on "
                 f"{'two threads with 1 BLAS thread each' if shard_threads() > 1 else 'one thread'}")
    lines.append("timing: the libraries alternate in this process; each L-BFGS fit "
                 "starts 0.2 s after the previous one (SciPy's BLAS threads idle); "
                 "the GEMM floor is the faster of the default BLAS threads and one")
    lines.append("ratio column: skopt_nn / scikit-learn, of the medians (the notes "
                 "give the range of the repetitions' own ratios)")
    busy = busy_machine_line()
    if busy:
        lines.append(busy)
    env = {k: v for k, v in sorted(os.environ.items())
           if k.startswith(BLAS_VARIABLE_PREFIXES)}
    lines.append("BLAS and OpenMP variables: "
                 + (", ".join(f"{k}={v}" for k, v in env.items())
                    or "none set (library defaults)"))
    return lines


def busy_machine_line(load=None, cpus=None, ended=False):
    """A warning if the machine was busy as the run started (or, ``ended``, as
    it ended), or None.

    Sustained load from other processes slows most the library that runs more
    BLAS threads (scikit-learn at its default threads, where skopt_nn runs one
    on small products), which would flatter skopt_nn's ratios. At the end the
    run's own threads are in the load average (up to one per CPU): only more
    counts.

    Examples
    --------
    >>> busy_machine_line(load=0.3, cpus=2) is None
    True
    >>> busy_machine_line(load=1.5, cpus=2)[:44]
    'WARNING: the machine was busy as the run sta'
    >>> busy_machine_line(load=1.5, cpus=2, ended=True) is None
    True
    >>> busy_machine_line(load=3.1, cpus=2, ended=True)[:44]
    'WARNING: the machine was busy as the run end'
    """
    load = os.getloadavg()[0] if load is None else load
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    if load <= (cpus + 0.5 if ended else 0.5 * cpus):
        return None
    return (f"WARNING: the machine was busy as the run {'ended' if ended else 'started'}"
            f" (load average {load:.2f} on {cpus} CPUs): other processes slow scikit-learn's "
            "multi-threaded runs more than skopt_nn's single-threaded ones; rerun "
            "on a quiet machine before trusting the ratios")

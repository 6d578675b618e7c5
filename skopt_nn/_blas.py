"""BLAS threads for small problems: one thread, only while skopt_nn computes.

A matrix product of a few million multiply-adds takes tens of microseconds; BLAS
worker threads then cost more in synchronization than they save, and after each
product they keep spinning, competing for the cores with the Python thread, with
other BLAS pools (NumPy's and SciPy's OpenBLAS are separate libraries) and with
other processes. Training and predicting with such small products therefore run
with one BLAS thread; large products keep the user's setting. The limit is
scoped (a context manager): the user's global setting is never changed.
"""

from contextlib import nullcontext

from threadpoolctl import ThreadpoolController

# Largest matrix product of a step (multiply-adds) still run on one BLAS thread.
SMALL_PRODUCT = 1 << 22

_controller = None


def blas_threads_for(layer_units, n_rows):
    """The thread limit for products over ``n_rows`` rows: 1, or None (no limit).

    Examples
    --------
    >>> blas_threads_for([64, 100, 10], n_rows=200)   # digits minibatch
    1
    >>> blas_threads_for([784, 256, 10], n_rows=256) is None
    True
    """
    widest = max(fan_in * fan_out for fan_in, fan_out in
                 zip(layer_units[:-1], layer_units[1:]))
    return 1 if n_rows * widest < SMALL_PRODUCT else None


def limit_blas_threads(limit):
    """Context manager limiting every BLAS pool to ``limit`` threads inside it.

    ``None`` leaves the threads as they are. The library scan is done once per
    process (it costs ~0.25 ms; entering the limit afterwards ~10 µs).

    Examples
    --------
    >>> import numpy as np
    >>> with limit_blas_threads(1):
    ...     np.ones((2, 2)) @ np.ones((2, 2))
    array([[2., 2.],
           [2., 2.]])
    """
    global _controller
    if limit is None:
        return nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=limit, user_api="blas")

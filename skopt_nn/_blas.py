"""BLAS during training: thread limits, axpy for the updates, ger for the biases.

Threads. A matrix product of a few million multiply-adds takes tens of
microseconds; BLAS worker threads then cost more in synchronization than they
save, and after each product they keep spinning, competing for the cores with
the Python thread, with other BLAS pools (NumPy's and SciPy's OpenBLAS are
separate libraries in the pip wheels) and with other processes. Training with
such small products therefore runs with one BLAS thread; large products keep the
user's setting. Prediction keeps it always: one call's products gain nothing
from one thread, and setting the limit costs about 20 us. The limits are scoped
(context managers): the user's global setting is never changed, unless another
thread changes the limits while a fit runs (see below).

Any thread may set limits, through one process-wide session. The thread pools
belong to the whole process, so fits running at the same time in several threads
(a thread pool, joblib's threading backend, dask's threaded scheduler) share
them: each lowers a pool to the threads it asks for (never raises one another
fit has lowered), the session saves a pool's setting when it first changes it,
and the last fit to finish restores the saved settings, where no one else has
changed them meanwhile. Limits set and restored by each fit on its own left the
process on one thread after concurrent fits. Not setting limits outside the main
thread was slower still: a fit in a worker thread ran its small products on two
threads and, worse, SciPy's idle BLAS threads spun against NumPy's
(``partial_fit`` of 20,000 rows, 100 features, 128 units: 2.3 to 10 s in a
worker thread, depending on the machine's load, against 0.06-0.08 s in the main
one). threadpoolctl lets one thread at a time control OpenBLAS: while a user's
``threadpool_limits`` is held in another thread, the session's changes are
no-ops and training runs with the user's limits; the session never takes that
control, nor releases one its thread holds. A process forked while a fit holds
limits starts without the session, its limits restored.
A ``threadpool_limits`` entered (in any thread) while a fit holds its limits,
and left after the fit ends, saves and restores the fit's limits (scikit-learn's
KMeans takes one internally): the process then stays on the fit's limits. That
race cannot be avoided with process-wide pools; it existed for fits in the main
thread before, and only costs speed. The session never restores a pool that
such a limit controls: the limit holds until it is left.

axpy. ``y += a * x`` written with NumPy is two passes over memory and a
temporary (``a * x``, then the add); BLAS ``axpy`` is one pass and no temporary.
The updates of the first-order solvers and the L2 term of the gradient are such
scaled adds over every parameter, and each pass over the parameters is bound by
memory bandwidth. NumPy does not expose axpy; SciPy does, through its own BLAS,
which is why training also keeps that library (where it is SciPy's own, as in
the pip wheels) on one thread: its idle threads would otherwise spin against
NumPy's during the products (measured: a backward pass 8 times slower). The
forward pass adds each layer's bias with SciPy's ``ger`` too (see
:func:`add_to_rows`).
"""

import math
import os
import threading
from contextlib import contextmanager, nullcontext

import numpy as np
import scipy
from scipy.linalg import blas as _scipy_blas
from threadpoolctl import ThreadpoolController

# Largest matrix product of a step (multiply-adds) still run on one BLAS thread.
SMALL_PRODUCT = 1 << 22
# The sizes up to which OpenBLAS itself runs a call on one thread, whatever its
# setting (its interface code, at the default GEMM_MULTITHREAD_THRESHOLD of 4): a
# GEMM of 65536 * 4 multiply-adds, a dot or axpy of 10,000 elements, a ger of
# 2048 * 4 entries. (Measured on 0.3.30 and 0.3.31 by the CPU time of its worker
# threads: none up to these sizes, some just above the vector and ger ones.)
OPENBLAS_ONE_THREAD_GEMM = 1 << 18
OPENBLAS_ONE_THREAD_VECTOR = 10_000
OPENBLAS_ONE_THREAD_GER = 1 << 13

_AXPY = {np.dtype(np.float64): _scipy_blas.daxpy,
         np.dtype(np.float32): _scipy_blas.saxpy}
_GER = {np.dtype(np.float64): _scipy_blas.dger,
        np.dtype(np.float32): _scipy_blas.sger}

_controller = None
_scipy_own_blas = None
_numpy_blas = None
_all_openblas = None


def axpy(y, x, a):
    """``y += a * x`` in place, in one pass over memory (BLAS axpy).

    Parameters
    ----------
    y : ndarray of shape (n,)
        Vector updated in place: float64 or float32 (any other dtype takes
        NumPy's two passes).
    x : ndarray of shape (n,)
    a : float

    Examples
    --------
    >>> import numpy as np
    >>> y = np.ones(3)
    >>> axpy(y, np.array([0.0, 1.0, 2.0]), 0.5)
    >>> y
    array([1. , 1.5, 2. ])
    """
    blas_axpy = _AXPY.get(y.dtype)
    if blas_axpy is None:
        y += a * x
        return
    result = blas_axpy(x, y, a=a)
    if result is not y:  # SciPy works on a copy of a non-contiguous y
        y[...] = result


def vector_norm(g):
    """``||g||`` by BLAS dot, also where ``g . g`` overflows (an exploding
    gradient: in float32 from ``||g|| ~ 2e19``, in float64 from ``1e154``);
    ``inf`` if ``g`` is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> vector_norm(np.array([3.0, 4.0]))
    5.0
    >>> float(np.round(vector_norm(np.array([3e200, 4e200])) / 1e200, 12))
    5.0
    """
    with np.errstate(over="ignore"):  # (handled below)
        squares = float(np.dot(g, g))
    if math.isfinite(squares):
        return math.sqrt(squares)
    scale = float(np.max(np.abs(g)))
    if not math.isfinite(scale):
        return math.inf
    scaled = (g / scale).astype(np.float64)
    return scale * math.sqrt(float(scaled @ scaled))


def add_to_rows(z, b, ones):
    """``z += b`` for every row of ``z`` (a bias), as the BLAS rank-one update
    ``z += 1 b^T``.

    NumPy's broadcast add loops over the rows, one short inner loop each;
    ``ger`` is a single call, twice as fast on a minibatch of activations
    (measured: 200x100, 13 -> 7 µs; 1797x100, 138 -> 71 µs) and exactly the same
    sums (each entry is ``z + 1.0 * b``).

    Parameters
    ----------
    z : ndarray of shape (n_rows, n_units)
        Updated in place: float64 or float32 (anything else, or a strided ``z``,
        takes NumPy's broadcast add).
    b : ndarray of shape (n_units,)
    ones : ndarray of shape (n_rows,)
        Ones in ``z``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((2, 3))
    >>> add_to_rows(z, np.array([1.0, 2.0, 3.0]), np.ones(2))
    >>> z
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """
    ger = _GER.get(z.dtype)
    if ger is None or b.dtype != z.dtype or not z.flags.c_contiguous or not z.size:
        z += b
        return
    # z^T is Fortran-ordered, BLAS's own layout: updated in place
    ger(1.0, b, ones, a=z.T, overwrite_a=True)


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


def runs_on_one_thread(layer_units, n_rows):
    """Whether every BLAS call of a first-order step over ``n_rows`` rows runs
    on one thread whatever the threads set: known of OpenBLAS only, for steps
    whose products, parameter vector and activations are all within its
    one-thread sizes (the parameters counted with batch normalization's).

    A ``partial_fit`` call of so few rows, by a built-in first-order solver
    (whose step makes no other BLAS calls), needs no thread limit
    (:func:`training_threads`), and setting one costs more than its products
    gain from it: a 32-row call on digits, 100 hidden units, took 245 us with
    the limits (entered and restored at each call) and 222 us without.

    Examples
    --------
    >>> runs_on_one_thread([64, 100, 10], n_rows=32) == _only_openblas()
    True
    >>> runs_on_one_thread([64, 100, 10], n_rows=200)   # 1,280,000 multiply-adds
    False
    """
    widest = max(fan_in * fan_out for fan_in, fan_out in
                 zip(layer_units[:-1], layer_units[1:]))
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in
                   zip(layer_units[:-1], layer_units[1:])) + 2 * sum(layer_units[1:-1])
    return (n_rows * widest <= OPENBLAS_ONE_THREAD_GEMM
            and n_params <= OPENBLAS_ONE_THREAD_VECTOR
            and n_rows * max(layer_units[1:]) <= OPENBLAS_ONE_THREAD_GER
            and _only_openblas())


def _only_openblas():
    """Whether every BLAS library loaded is OpenBLAS (checked once)."""
    global _all_openblas
    if _all_openblas is None:
        pools = [lib for lib in _get_controller().lib_controllers
                 if lib.user_api == "blas"]
        _all_openblas = bool(pools) and all(lib.internal_api == "openblas"
                                            for lib in pools)
    return _all_openblas


def _get_controller():
    """The library scan, done once per process (it costs ~0.25 ms)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def _blas_paths_inside(package):
    """File paths of the loaded BLAS libraries shipped inside ``package``'s
    installation (``<package>/.dylibs`` on macOS, ``<package>.libs`` in the pip
    wheels)."""
    root = os.path.dirname(package.__file__)
    inside = (root + os.sep, root + ".libs" + os.sep)
    return [lib.filepath for lib in _get_controller().lib_controllers
            if lib.user_api == "blas" and lib.filepath.startswith(inside)]


def _scipy_blas_pools():
    """Controller of the BLAS libraries inside SciPy's installation, or None.

    The pip wheels ship SciPy with its own OpenBLAS (in ``scipy.libs``), separate
    from NumPy's; where the two share one library (conda, system packages) there
    is nothing to set apart.
    """
    global _scipy_own_blas
    if _scipy_own_blas is None:
        paths = _blas_paths_inside(scipy)
        _scipy_own_blas = _get_controller().select(filepath=paths) if paths else False
    return _scipy_own_blas or None


def _numpy_blas_pools():
    """Controller of the BLAS libraries NumPy ships (or all of them), or None."""
    global _numpy_blas
    if _numpy_blas is None:
        controller = _get_controller()
        every = [lib.filepath for lib in controller.lib_controllers
                 if lib.user_api == "blas"]
        paths = _blas_paths_inside(np) or every  # or one shared library (conda)
        _numpy_blas = controller.select(filepath=paths) if paths else False
    return _numpy_blas or None


class _LimitSession:
    """The thread limits held for the fits and predictions running now.

    One per process at a time (``_session``), changed under ``_session_lock``:
    see the module's docstring. Each hold is a token, so that leaving one is
    idempotent: a leave interrupted by Ctrl-C can be done again (see
    :func:`_held_limits`).
    """

    def __init__(self):
        self.holds = set()
        # pool's file path -> (controller, threads before, the thread whose
        # threadpool_limits controlled the pool then, or None)
        self.saved = {}
        self.applied = {}  # pool's file path -> threads after the session's change

    def lower(self, limits):
        """Lower each pool to its limit (a pool already lower stays so)."""
        for lib, threads in limits:
            now = lib.num_threads
            if threads < now:
                # saved when the session first changes the pool, or again when
                # someone else has changed it since
                if self.applied.get(lib.filepath) != now:
                    self.saved[lib.filepath] = (lib, now, _limits_owner(lib))
                # (recorded first: an interrupt right after the change still
                # finds the pool to restore)
                self.applied[lib.filepath] = threads
                _set_threads(lib, threads)
                self.applied[lib.filepath] = lib.num_threads

    def lift(self, paths):
        """Give the pools at ``paths`` their saved settings back for a while:
        ``[(controller, path), ...]`` of those the session had lowered."""
        lifted = []
        for path in paths:
            lib, before, _ = self.saved.get(path, (None, None, None))
            if lib is not None and lib.num_threads == self.applied.get(path) < before:
                _set_threads(lib, before)
                lifted.append((lib, path))
        return lifted

    def relower(self, lifted):
        """Lower the pools :meth:`lift` lifted again (where no one has changed
        them meanwhile)."""
        for lib, path in lifted:
            if lib.num_threads == self.saved[path][1]:
                _set_threads(lib, self.applied[path])
                self.applied[path] = lib.num_threads

    @property
    def holders(self):
        return len(self.holds)

    def leave(self, token):
        """Drop the hold ``token`` (if still held), and restore the saved
        settings if no hold is left; True then. Done again, it changes
        nothing more."""
        self.holds.discard(token)
        if self.holds:
            return False
        for path, (lib, before, owner) in self.saved.items():
            # (not where someone else has changed the setting since, nor where
            # a threadpool_limits entered since controls it: it may have set
            # the very value the session applied, and holds it until it ends)
            if lib.num_threads == self.applied.get(path) and \
                    _limits_owner(lib) is owner:
                _set_threads(lib, before)
        return True


def _limits_owner(lib):
    """The live thread whose threadpool_limits controls the pool (threadpoolctl
    3.6 and later), or None (threadpoolctl's own test: a dead thread controls
    nothing)."""
    control = getattr(type(lib), "_SHARED_STATE", None)
    owner = getattr(control, "controlling_thread", None)
    return owner if owner is not None and owner.is_alive() else None


def _set_threads(lib, threads):
    """Set a pool's threads, unless another thread controls it.

    threadpoolctl (3.6 and later) lets one thread at a time set OpenBLAS's
    limits: the first to set one, until it clears its control; a call from any
    other thread is a no-op. The session respects that control (a user's
    ``threadpool_limits`` held in another thread rules) but never takes it: the
    session's next change may come from whichever thread makes it, and a user's
    ``threadpool_limits`` may take control at any time. (Taking and releasing
    the control at each change, through threadpoolctl's public call, cost 2 us
    a change: a 32-row ``partial_fit`` call's four took 20 us instead of 12.)
    """
    control = getattr(type(lib), "_SHARED_STATE", None)
    if control is None:  # (threadpoolctl before 3.6: no control)
        lib.set_num_threads(threads)
        return
    set_now = getattr(lib, "_real_set_num_threads", None)
    # Under threadpoolctl's lock, which a thread takes to claim the control:
    # a user's threadpool_limits entered meanwhile sets its limit after this.
    with getattr(control, "lock", None) or nullcontext():
        owner = _limits_owner(lib)
        mine = owner is threading.current_thread()
        if owner is not None and not mine:
            return
        if set_now is not None:
            set_now(threads)
            return
    lib.set_num_threads(threads)  # (a version without the private call)
    if not mine:  # (no control held before)
        type(lib).clear_controlling_thread()


_session = None
_session_lock = threading.Lock()
_holds = {}  # thread ident -> tokens of the limits fits in that thread entered


@contextmanager
def _held_limits(limits):
    """Context manager holding ``[(pool controller, threads), ...]`` inside it,
    shared with the fits running at the same time (see :class:`_LimitSession`)."""
    global _session
    entered_in, token, session = threading.get_ident(), object(), None
    try:
        with _session_lock:
            session = _session = _session or _LimitSession()
            session.holds.add(token)
            _holds.setdefault(entered_in, set()).add(token)
            session.lower(limits)
        yield
    finally:  # (an interrupt during a change too: the hold is left)
        # Done again after a Ctrl-C, which is raised once the hold is left: an
        # interrupt while waiting for the session's lock (another thread's fit
        # entering or leaving its limits) left the hold for good, and the
        # limits with it (SciPy's BLAS, then NumPy's, on one thread for the
        # rest of the process, after Ctrl-C among predictions in three
        # threads). (Inline, as a call's first instruction would check for an
        # interrupt outside the try; the loop's jump back still does.)
        interrupted = False
        while True:
            try:
                _leave_hold(session, token, entered_in)
                break
            except KeyboardInterrupt:
                interrupted = True
        if interrupted:
            raise KeyboardInterrupt


def _leave_hold(session, token, entered_in):
    """Leave the hold ``token`` of ``session``, entered in thread
    ``entered_in`` (or not yet, if an interrupt came first); done twice, it
    changes nothing more."""
    global _session
    with _session_lock:
        # (the entering thread's, wherever the hold is left; none after a
        # fork, whose child starts without its parent's holds)
        mine = _holds.get(entered_in)
        if mine is not None:
            mine.discard(token)
            if not mine:
                del _holds[entered_in]
        # (a process forked meanwhile has a session of its own)
        if session is not None and _session is session and session.leave(token):
            _session = None


@contextmanager
def user_blas_threads():
    """Inside a fit's thread limits, NumPy's BLAS threads as the user set them,
    for one large dense computation (Newton's eigendecomposition of the Hessian).

    A fit holds small products to one thread (:func:`training_threads`), its
    Hessian-vector products too. One long LAPACK call does gain from the
    threads: ``eigh`` of a 2000 x 2000 matrix took 1.0 s on two threads, 1.8 s
    on one. Only where the limits are held by this thread alone, since another
    fit's small products would meanwhile run on those threads; elsewhere,
    nothing changes.

    Examples
    --------
    >>> import numpy as np
    >>> with training_threads([64, 100, 10], n_rows=200), user_blas_threads():
    ...     np.linalg.eigvalsh(np.diag([2.0, 1.0]))
    array([1., 2.])
    """
    pools = _numpy_blas_pools()
    with _session_lock:
        session = _session
        alone = session is not None and session.holders == 1 \
            and bool(_holds.get(threading.get_ident()))
        lifted = session.lift([lib.filepath for lib in pools.lib_controllers]) \
            if alone and pools is not None else []
    try:
        yield
    finally:
        if lifted:
            with _session_lock:
                if _session is session:
                    session.relower(lifted)


def _after_fork_in_child():
    """A child has none of its parent's holders: restore what the session changed."""
    global _session, _session_lock
    _session_lock = threading.Lock()
    _holds.clear()  # (the parent's holds are not the child's)
    # threadpoolctl's lock too is copied as it was: held, maybe, by a thread
    # the child does not have, which would never release it (the restore
    # below, and any thread setting in the child, waited for it forever)
    for lib in _controller.lib_controllers if _controller is not None else ():
        control = getattr(type(lib), "_SHARED_STATE", None)
        if getattr(control, "lock", None) is not None:
            control.lock = threading.Lock()
    if _session is not None:
        _session.holds.clear()
        _session.leave(None)
        _session = None


if hasattr(os, "register_at_fork"):  # (no fork on Windows)
    # a fork while another thread changes the limits would copy the lock held
    os.register_at_fork(before=lambda: _session_lock.acquire(),
                        after_in_parent=lambda: _session_lock.release(),
                        after_in_child=_after_fork_in_child)


def scipy_blas_single_thread():
    """Context manager holding SciPy's own BLAS to one thread inside it.

    A no-op where NumPy and SciPy share one BLAS library (nothing to set apart).
    Entering costs ~10 us.
    """
    scipy_pools = _scipy_blas_pools()
    if scipy_pools is None:
        return nullcontext()
    return _held_limits([(lib, 1) for lib in scipy_pools.lib_controllers])


def shard_threads():
    """Threads to evaluate a full batch's row shards on: 2 or 1.

    Two where NumPy's BLAS currently runs exactly two threads (the machine has
    two cores to give, and the user has not limited them), the shards' products
    then each on one BLAS thread (see :func:`training_threads`). Otherwise one:
    the shards one after the other, and the BLAS threads as they are: with one
    thread, or when the user limits BLAS to one, threads only cost; with more,
    two shards with one BLAS thread each would leave cores idle during the
    products (a choice by reasoning: only two-core machines were measured).

    The shards are summed in order, so the choice changes the result only as
    the BLAS threads of the products change their rounding.
    """
    pools = _numpy_blas_pools()
    if pools is None:
        return 1
    counts = {lib.num_threads for lib in pools.lib_controllers}
    return 2 if counts == {2} else 1


def limit_blas_threads(limit):
    """Context manager limiting every BLAS pool to ``limit`` threads inside it.

    ``None`` leaves the threads as they are. Fits running at the same time in
    other threads share the limits (see the module's docstring). Entering a
    limit costs ~10 µs.

    Examples
    --------
    >>> import numpy as np
    >>> with limit_blas_threads(1):
    ...     np.ones((2, 2)) @ np.ones((2, 2))
    array([[2., 2.],
           [2., 2.]])
    """
    if limit is None:
        return nullcontext()
    return _held_limits([(lib, limit) for lib in _get_controller().lib_controllers
                         if lib.user_api == "blas"])


def training_threads(layer_units, n_rows, threaded_shards=False):
    """The BLAS thread limits of training (a context manager).

    One thread for steps whose products are small (:func:`blas_threads_for`),
    and for every product when the batch's row shards run on threads of their
    own (``threaded_shards``, see :func:`shard_threads`); SciPy's own BLAS on
    one thread in any case (the updates use :func:`axpy`, the forward pass
    :func:`add_to_rows`). Newton's exact regime has NumPy's threads back for
    its eigendecomposition (:func:`user_blas_threads`).

    Parameters
    ----------
    layer_units : list of int
    n_rows : int
        Rows of a step's products (the minibatch, or all rows).
    threaded_shards : bool, default=False
        Row shards are evaluated on several threads: each BLAS call on one.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros(3)
    >>> with training_threads([64, 100, 10], n_rows=200):
    ...     axpy(y, np.ones(3), 2.0)
    >>> y
    array([2., 2., 2.])
    """
    limit = 1 if threaded_shards else blas_threads_for(layer_units, n_rows)
    if limit is not None:
        return limit_blas_threads(limit)  # every pool, SciPy's included
    return scipy_blas_single_thread()

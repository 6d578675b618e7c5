r"""A full batch held in a dask array, evaluated chunk by chunk where it lives.

A full-batch solver (L-BFGS, Newton) evaluates the objective on every training
row at each step. When ``fit`` gets its rows as a dask array, each evaluation
is one dask computation: a task per chunk of rows computes that chunk's share
of the loss and gradient (or of a Hessian-vector product) where the chunk is,
and the shares are added pairwise in a fixed tree, so that one gradient reaches
the process that runs the solver and the rows never do. With chunk weights
:math:`c_k` (the chunk's share of the rows, or of the sample weight) and
:math:`J_k` the mean loss of chunk :math:`k`,

.. math:: J(\theta) = \sum_k c_k J_k(\theta)
          + \frac{\alpha}{2 \sum_i w_i} \sum_l \|W_l\|_F^2,

as :class:`~skopt_nn._objective.Objective` splits an in-memory batch into row
shards. The tree's shape depends on the chunks alone: a fit is reproducible bit
for bit on the same chunks, under any scheduler whose tasks run their products
on one BLAS thread (threaded, synchronous, distributed; not the local
``"processes"`` one: see the user guide).

dask is imported only when such rows arrive (it is an optional dependency).
"""

import math
import uuid

import numpy as np

from ._objective import Objective, check_parameter_vector, penalty_coefficient


def is_dask_array(X):
    """Whether ``X`` is a dask array (without importing dask)."""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "to_delayed")


def computed(X):
    """A dask array computed, as validation's ``np.asarray`` would compute it,
    anything else as it is: sparse chunks give the one sparse matrix they make
    (never dense), which ``np.asarray`` took for a scalar object array (their
    ``_meta`` does not always say they are sparse)."""
    return X.compute() if is_dask_array(X) else X


def is_dask_dataframe(X):
    """Whether ``X`` is a dask DataFrame (without importing dask)."""
    # (dask-expr, dask's DataFrames since 2025.1, was a package of its own)
    return type(X).__module__.startswith(("dask.dataframe", "dask_expr")) \
        and hasattr(X, "to_dask_array")


def encode_targets(y, classes, dtype):
    """A chunk's targets as the network reads them.

    Class indicators (a single column for two classes) when ``classes`` is
    given, as the in-memory encoding makes them; else the targets as floats, a
    column per output.
    """
    if classes is None:
        y = np.asarray(y, dtype=dtype)
        return y.reshape(len(y), -1)
    if len(classes) == 2:
        return (y == classes[1]).astype(dtype)[:, None]
    return (y[:, None] == classes).astype(dtype)


def summarize_chunk(X, y, w, dtype, classify):
    """What validating a chunk needs, in one pass over it (a dask task).

    Whether ``X`` (and regression targets) hold NaN or infinities, or values
    beyond the model's ``dtype``; the chunk's labels (classification), with
    each one's total sample weight (its number of rows without weights) and
    smallest positive weight (for class weights); the
    sample weights' flaws and sum.
    """
    if not isinstance(X, np.ndarray):  # (dask said NumPy: its meta was inferred)
        raise TypeError(
            f"The chunks of X are {type(X).__name__} objects, where dask's "
            "metadata says NumPy arrays: L-BFGS and Newton evaluate only NumPy "
            "chunks chunk by chunk. Give map_blocks the chunks' meta (e.g. "
            "meta=scipy.sparse.csr_matrix((0, 0))), and fit computes the rows "
            "into memory, or compute X first.")
    dtype = np.dtype(dtype)
    w = None if w is None else np.asarray(w, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        summary = {"X": _flaws(X, dtype)}
        if classify:
            labels, index, counts = np.unique(y, return_inverse=True,
                                              return_counts=True)
            summary["labels"] = labels
            summary["label_weights"] = counts.astype(np.float64)
            summary["label_min_weight"] = np.ones(len(labels))
            if w is not None:
                index = index.ravel()
                summary["label_weights"] = np.bincount(index, w, minlength=len(labels))
                # the smallest positive weight of each label (class weights
                # must not round it to 0)
                minimum = np.full(len(labels), np.inf)
                np.minimum.at(minimum, index, np.where(w > 0, w, np.inf))
                summary["label_min_weight"] = minimum
        else:
            y = np.asarray(y)
            summary["y"] = _flaws(y, dtype)
            summary["y_min"] = float(y.min()) if y.size else math.inf
        if w is not None:
            summary["w"] = _flaws(w, np.dtype(np.float64))
            summary["w_negative"] = bool((w < 0).any())
            summary["w_sum"] = _weight_sum(w)  # (as the passes normalize them)
    return summary


def _flaws(a, dtype):
    """``(has NaN, has infinity, overflows dtype)`` of a numeric array."""
    if a.dtype.kind != "f":
        return False, False, False
    nan, inf = bool(np.isnan(a).any()), bool(np.isinf(a).any())
    overflow = (not (nan or inf) and a.dtype.itemsize > dtype.itemsize
                and not np.isfinite(a.astype(dtype)).all())
    return nan, inf, overflow


def row_class_weights(y, classes, class_weights):
    """Each row's class weight (a dask task): ``class_weights[i]`` for a row
    of label ``classes[i]``."""
    return class_weights[np.searchsorted(classes, y)]


def delayed_chunks(a):
    """A dask array's chunks of rows as delayed objects, in order.

    From the unoptimized graph, so that arrays computed from one another
    (``y`` from ``X``) keep sharing their keys: computed together, each chunk
    of ``X`` is then computed once.
    """
    return list(a.to_delayed(optimize_graph=False).ravel())


class ChunkedRows:
    """Training rows in dask arrays, as the chunks a full batch is summed over.

    ``X`` (in the model's dtype, one chunk wide), the encoded targets ``Y`` and
    the sample weights share their chunks of rows. Chunks without weight are
    left out. Quacks like the in-memory minibatches for a full-batch solver:
    ``epoch`` yields the batch, which is this object itself.

    Parameters
    ----------
    X, Y : dask arrays of shape (n_samples, n_features) and (n_samples, n_outputs)
    sample_weight : dask array of shape (n_samples,) or None
    totals : list of float
        Each chunk's number of rows, or sum of sample weights.
    """

    def __init__(self, X, Y, sample_weight, totals):
        self.shape, self.dtype = X.shape, X.dtype
        weights = [None] * len(totals) if sample_weight is None \
            else delayed_chunks(sample_weight)
        self.weight_total = float(sum(totals))
        self.chunks = [(total / self.weight_total, x, y, w) for total, x, y, w in
                       zip(totals, delayed_chunks(X), delayed_chunks(Y), weights)
                       if total > 0]

    def epoch(self, order=None):
        """Yield the one full batch ``(self, None, None)``."""
        yield self, None, None


def _weight_sum(w):
    return float(np.asarray(w, dtype=np.float64).sum())


def _chunk_rows(network, theta, X, Y, w):
    """A chunk as one pass reads it, and a network with buffers of its own."""
    network = network.private_copy()
    X = np.ascontiguousarray(X, dtype=theta.dtype)
    Y = np.ascontiguousarray(Y, dtype=theta.dtype)
    s = None if w is None else \
        (np.asarray(w, dtype=np.float64) / _weight_sum(w)).astype(theta.dtype)
    return network, X, Y, s


def chunk_loss_grad(network, theta, X, Y, w, c, l2):
    """``(c J_k, c grad J_k)`` of one chunk (a dask task)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        network, X, Y, s = _chunk_rows(network, theta, X, Y, w)
        grad = np.empty_like(theta)
        loss, _ = network.loss_grad(theta, X, Y, s, l2, grad)
        grad *= c
        return c * loss, grad


def chunk_loss(network, theta, X, Y, w, c, l2):
    """``c J_k`` of one chunk (a dask task): a forward pass."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        network, X, Y, s = _chunk_rows(network, theta, X, Y, w)
        return c * network.loss(theta, X, Y, s, l2)


def chunk_hvp(network, theta, X, Y, w, c, l2, v):
    """``c H_k v`` of one chunk (a dask task)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        network, X, Y, s = _chunk_rows(network, theta, X, Y, w)
        product = network.hvp(theta, v, X, Y, s, l2)
        product *= c
        return product


def _add(a, b):
    """``a + b`` of two chunks' shares (into ``a``, a task's own result)."""
    if isinstance(a, tuple):
        return a[0] + b[0], _add(a[1], b[1])
    a += b
    return a


class ChunkedObjective(Objective):
    """:class:`~skopt_nn._objective.Objective` over :class:`ChunkedRows`.

    Every evaluation and Hessian-vector product is one dask computation over
    the chunks, added pairwise in a fixed tree. The penalty enters with the
    chunk of the largest share (``l2 / c_k``, weighed by ``c_k``; the first of
    equal ones, where ``l2 / c_k`` cannot overflow), as it enters the first of an
    in-memory batch's shards.
    """

    def set_batch(self, rows, Y=None, sample_weight=None):
        """Bind the objective to the rows (a :class:`ChunkedRows`)."""
        self.batch_statistics = None
        if rows is self.X:
            return self
        self._last = None
        self._linearized = None
        self.X, self.Y, self.sample_weight, self.s = rows, None, None, None
        self.weight_total = rows.weight_total
        self.l2 = penalty_coefficient(self.alpha, rows.weight_total)
        return self

    def _loss_grad(self, theta, grad):
        loss, grad[...] = self._over_chunks(chunk_loss_grad, theta)
        return loss, None

    def loss(self, theta):
        """The loss alone, :math:`J = \\sum_k c_k J_k` (forward passes), chunk by
        chunk; as :meth:`Objective.loss`, no clipping, no evaluation counted."""
        return self._over_chunks(chunk_loss, theta)

    def hvp(self, theta, v):
        """Hessian-vector product :math:`H v = \\sum_k c_k H_k v`, chunk by chunk."""
        return self._over_chunks(chunk_hvp, theta, v)

    def _over_chunks(self, task, theta, *args):
        import dask

        check_parameter_vector(theta, self.network.n_params)
        prefix = f"skopt_nn-{task.__name__}-{uuid.uuid4().hex}"
        # one key each for the parameters, the network and the arguments
        # (on a cluster, sent once rather than with every chunk's task)
        network = dask.delayed(self.network, name=f"{prefix}-network", traverse=False)
        theta = dask.delayed(theta, name=f"{prefix}-theta", traverse=False)
        args = [dask.delayed(a, name=f"{prefix}-arg{i}", traverse=False)
                for i, a in enumerate(args)]
        chunks = self.X.chunks
        # the penalty with the chunk of the largest share (the first of equal
        # ones): l2 / c cannot overflow there, as it did with a tiny first share
        first = max(range(len(chunks)), key=lambda k: chunks[k][0])
        l2_first = self.l2 / chunks[first][0]
        shares = [dask.delayed(task, pure=True)(
            network, theta, X, Y, w, c, l2_first if k == first else 0.0, *args,
            dask_key_name=f"{prefix}-{k}")
            for k, (c, X, Y, w) in enumerate(chunks)]
        level = 0
        while len(shares) > 1:  # pairwise, in a tree fixed by the chunk count
            level += 1
            shares = [dask.delayed(_add, pure=True)(
                shares[i], shares[i + 1], dask_key_name=f"{prefix}-sum{level}-{i}")
                if i + 1 < len(shares) else shares[i]
                for i in range(0, len(shares), 2)]
        return dask.compute(shares[0])[0]

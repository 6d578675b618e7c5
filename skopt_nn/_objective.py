"""The training objective a solver sees: ``objective(theta) -> (loss, grad)``.

An :class:`Objective` binds a network to one (mini)batch of rows, their targets,
sample weights and the L2 penalty. A solver calls it as often as it needs
(Nesterov at its look-ahead point, L-BFGS in its line search) and may ask for
Hessian-vector products with :meth:`Objective.hvp`; it uses nothing else. A full
batch may be evaluated in row shards, on threads (see ``shards``).
"""

import contextvars
import os

import numpy as np
from scipy import sparse

from ._blas import axpy, shard_threads, vector_norm

# A batch is split into row shards from this many rows, and this many activations
# (rows x units of every layer), per shard: below, waking a thread and two threads
# contending for the interpreter lock cost more than the shards' parallel work
# saves (measured in L-BFGS fits on digits: hidden (50,), 54,000 activations per
# shard, 6-8% slower sharded; (64,), 66,000, even; (100,), 99,000, 12% faster).
MIN_SHARD_ROWS = 512
MIN_SHARD_ACTIVATIONS = 1 << 16


def penalty_coefficient(alpha, weight_total):
    """``alpha / weight_total``, the L2 coefficient of a batch whose rows weigh
    ``weight_total``; a ``ValueError`` where it overflows, or where the total is
    subnormal and the penalty (times the squared weights) would (they were
    reported as the data's large values, or as divergence)."""
    l2 = alpha / weight_total
    if l2 == float("inf") or (alpha and weight_total < _TINY):
        raise ValueError(
            f"The L2 penalty alpha / sum(sample_weight) of a batch overflows "
            f"({alpha:g} / {weight_total:.3g}): scale the sample weights up, or "
            "lower alpha.")
    return l2


_TINY = np.finfo(np.float64).tiny  # (weight totals are float64)


def check_parameter_vector(theta, n_params):
    """Raise unless ``theta`` is the flat parameter vector: a user's solver
    passing a part of it, or a list, met a reshape error deep in the network."""
    if getattr(theta, "shape", None) != (n_params,):
        raise ValueError(
            "The objective takes the flat parameter vector, an ndarray of shape "
            f"({n_params},); got {getattr(theta, 'shape', type(theta).__name__)}.")


def worth_splitting(network, n_rows, shards=2):
    """Whether a batch of ``n_rows`` rows is large enough to split into ``shards``."""
    rows = n_rows // shards
    return (shards > 1 and rows >= MIN_SHARD_ROWS
            and rows * sum(network.layer_units[1:]) >= MIN_SHARD_ACTIVATIONS)


def _splittable(network, X, n_rows, shards):
    """Whether a batch of ``X``'s format may be split: dense, without batch
    normalization (whose statistics need the whole batch), and worth it."""
    return (not network.batch_norm and not sparse.issparse(X)
            and worth_splitting(network, n_rows, shards))


def threaded_shards(network, X, n_rows, full_batch):
    """Whether a training's full batches are split into shards evaluated on threads.

    Parameters
    ----------
    network : Network
    X : ndarray or sparse matrix
        The training rows (only their format matters).
    n_rows : int
        Rows of a step's batch.
    full_batch : bool
        The solver's ``full_batch``: only full batches are split (see
        :class:`Objective`'s ``shards``).
    """
    return (full_batch and _splittable(network, X, n_rows, 2)
            and shard_threads() > 1)


class Objective:
    r"""Minibatch objective :math:`J(\theta)`, penalty included.

    .. math::
        J(\theta) = \frac{\sum_i w_i\, L(f(x^{(i)}, \theta), y^{(i)})}{\sum_i w_i}
                    + \frac{\alpha}{2 \sum_i w_i} \sum_l \|W_l\|_F^2

    (without sample weights, :math:`w_i = 1` and :math:`\sum_i w_i = m`, the
    lecture's :math:`\frac1m \sum_i`; the penalty is scikit-learn's MLP's).

    Parameters
    ----------
    network : Network
    alpha : float
        L2 penalty strength on the weights (not on biases, not on BN's γ, β).
    max_grad_norm : float or None
        Gradient clipping of the lecture: if :math:`\|g\| > v`,
        :math:`g \leftarrow g\, v / \|g\|`. Every solver sees the clipped gradient.
    remember_last : bool, default=False
        Keep a copy of the last evaluation while the batch stays the same, and
        return it when asked at the same ``theta`` again (see :meth:`set_batch`).
        Worth its copies for full-batch solvers only.
    shards : int, default=1
        Split a dense batch into this many row shards when each has at least
        ``MIN_SHARD_ROWS`` rows and ``MIN_SHARD_ACTIVATIONS`` activations
        (:func:`worth_splitting`), without batch normalization, whose
        statistics need the whole batch. With shard weights :math:`c_k` (their
        share of the rows, or of the sample weight), :math:`L_k` the mean loss
        of shard :math:`k` and :math:`P` the penalty,

        .. math:: J(\theta) = \sum_k c_k J_k(\theta), \quad
                  J_p = L_p + \frac{P}{c_p}, \quad J_k = L_k \ (k \ne p),

        and :math:`\nabla J = \sum_k c_k \nabla J_k` (the penalty's passes
        over the weights in one shard only), summed in shard order: the result
        does not depend on ``executor``. The penalty's shard :math:`p` is the
        first whose share is at least half the largest (shard 0 but for
        lopsided sample weights): :math:`P / c_p` cannot overflow there, as
        it did with subnormal weights on shard 0.
    executor : concurrent.futures.Executor or None, default=None
        Evaluates shards 1, 2, ... while the calling thread evaluates shard 0;
        None evaluates them one after the other. NumPy releases the GIL in its
        matrix products and elementwise loops, so shards on two threads also
        share between the cores the elementwise work (bias, activation,
        derivative, softmax) that otherwise runs on one.

    Attributes
    ----------
    measure_norm : bool, default=True
        Compute :math:`\|g\|` (``last_grad_norm``) at each evaluation. It is
        only reported once per epoch, so training turns it off for all but an
        epoch's last minibatch: a pass over the parameters saved per step.
        Clipping measures the norm regardless.
    """

    def __init__(self, network, alpha=0.0, max_grad_norm=None, remember_last=False,
                 shards=1, executor=None):
        self.network = network
        self.alpha = alpha
        self.max_grad_norm = max_grad_norm
        self.remember_last = remember_last
        self.shards = shards
        self.executor = executor
        self._pid = os.getpid()  # (the executor's thread is not in a forked child)
        self._shard_grads = []
        self.measure_norm = True
        self.n_evaluations = 0
        self.last_grad_norm = np.nan
        self.batch_statistics = None
        self.X = self.Y = self.sample_weight = None
        self._last = None
        self._linearized = None
        self._row_shards = None

    def set_batch(self, X, Y, sample_weight=None):
        """Bind the objective to a (mini)batch of rows.

        Binding the very same arrays again (a full-batch solver's next step)
        keeps the objective as it is, and with ``remember_last`` its last
        evaluation: asked at the same ``theta`` again, it returns the remembered
        loss and gradient without recomputing them (L-BFGS starts each step at
        the point its line search has just evaluated).
        """
        self.batch_statistics = None
        if X is self.X and Y is self.Y and sample_weight is self.sample_weight:
            return self
        self._last = None
        self._linearized = None
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        if sample_weight is None:
            self.s, total = None, X.shape[0]
        else:
            total = float(sample_weight.sum())
            self.s = (sample_weight / total).astype(Y.dtype, copy=False)
        self.weight_total = total
        self.l2 = penalty_coefficient(self.alpha, total)
        self._row_shards = self._split(X, Y, sample_weight, total)
        return self

    def _split(self, X, Y, sample_weight, total):
        """``[(c_k, X_k, Y_k, s_k), ...]`` of the row shards, or None (no split)."""
        n = X.shape[0]
        if not _splittable(self.network, X, n, self.shards):
            return None
        bounds = [n * k // self.shards for k in range(self.shards + 1)]
        row_shards = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if sample_weight is None:
                c, s = (stop - start) / n, None
            else:
                w = sample_weight[start:stop]
                c = float(w.sum())
                if c <= 0:
                    return None  # a shard without weight: nothing to normalize
                s, c = (w / c).astype(Y.dtype, copy=False), c / total
            row_shards.append((c, X[start:stop], Y[start:stop], s))
        largest = max(c for c, _, _, _ in row_shards)
        self._penalty_shard = next(k for k, (c, _, _, _) in enumerate(row_shards)
                                   if c >= 0.5 * largest)
        return row_shards

    def _sharded_loss_grad(self, theta, grad):
        """The loss and gradient of a split batch, shard by shard."""
        grads = [grad] + self._shard_buffers(theta)
        losses = self._on_shards(lambda k, X, Y, s: self.network.loss_grad(
            theta, X, Y, s, self._shard_l2(k), grads[k], slot=k)[0])
        loss = sum(c * loss_k for (c, _, _, _), loss_k in zip(self._row_shards, losses))
        self._weighted_sum(grads)  # into grad, the first
        return loss, None

    def _weighted_sum(self, parts):
        """``sum_k c_k parts[k]``, accumulated into ``parts[0]`` in shard order."""
        out = parts[0]
        out *= self._row_shards[0][0]
        for (c, _, _, _), part in zip(self._row_shards[1:], parts[1:]):
            axpy(out.reshape(-1), part.reshape(-1), c)
        return out

    def _shard_l2(self, k):
        """The penalty of shard ``k``: all of it in the penalty's shard ``p``
        (``l2 / c_p``, weighed by ``c_p``), so that the other shards skip its
        passes over the weights."""
        p = self._penalty_shard
        return self.l2 / self._row_shards[p][0] if k == p else 0.0

    def _on_shards(self, evaluate):
        """``[evaluate(k, X_k, Y_k, s_k), ...]`` over the shards, in shard order.

        Shards 1, 2, ... go to the executor while this thread evaluates shard 0.
        """
        if self.executor is None or os.getpid() != self._pid:
            # (a process forked during a step, by a solver of the user's, has
            # the executor but not its thread: a task sent there never runs)
            return [evaluate(k, X, Y, s) for k, (_, X, Y, s) in
                    enumerate(self._row_shards)]
        # each call in a copy of this context: NumPy's errstate is a context
        # variable, and a worker thread would otherwise warn where training ignores
        pending = [self.executor.submit(contextvars.copy_context().run, evaluate,
                                        k, X, Y, s)
                   for k, (_, X, Y, s) in enumerate(self._row_shards) if k]
        _, X, Y, s = self._row_shards[0]
        return [evaluate(0, X, Y, s)] + [f.result() for f in pending]

    def _shard_buffers(self, theta):
        """Gradient buffers of shards 1, 2, ... (shard 0 writes the caller's)."""
        buffers, wanted = self._shard_grads, len(self._row_shards) - 1
        if len(buffers) != wanted or any(
                b.dtype != theta.dtype or b.shape != theta.shape for b in buffers):
            buffers = self._shard_grads = [np.empty_like(theta) for _ in range(wanted)]
        return buffers

    def __call__(self, theta):
        check_parameter_vector(theta, self.network.n_params)
        # an evaluation ends a run of products at one point (Newton's line
        # search follows its conjugate gradients): free their linearization
        self._linearized = None
        last = self._last
        if last is not None and np.array_equal(theta, last[0]):
            _, loss, grad, norm, statistics = last
            grad = grad.copy()  # the caller may modify it
            if self.measure_norm and np.isnan(norm):  # not measured, so not clipped
                norm = vector_norm(grad)
        else:
            grad = np.empty_like(theta)
            loss, ws = self._loss_grad(theta, grad)
            # (kept for the step's first evaluation, and with the remembered one)
            wanted = self.batch_statistics is None or self.remember_last
            statistics = ([m.copy() for m in ws["bn_mean"]],
                          [v.copy() for v in ws["bn_var"]]) \
                if self.network.batch_norm and wanted else None
            norm = np.nan
            if self.measure_norm or self.max_grad_norm is not None:
                norm = vector_norm(grad)
            if self.max_grad_norm is not None and norm > self.max_grad_norm:
                grad *= self.max_grad_norm / norm
            self.n_evaluations += 1
            if self.remember_last:
                self._last = (theta.copy(), loss, grad.copy(), norm, statistics)
        if self.batch_statistics is None:
            # BN statistics of the first evaluation of this step: they enter the
            # running estimate once per update, however often a solver evaluates.
            self.batch_statistics = statistics
        self.last_grad_norm = norm
        return loss, grad

    def loss(self, theta):
        """The loss alone (a forward pass) of an unsplit batch; no clipping
        applies, none is counted in ``n_evaluations``."""
        check_parameter_vector(theta, self.network.n_params)
        return self.network.loss(theta, self.X, self.Y, self.s, self.l2)

    def _loss_grad(self, theta, grad):
        """The loss, with the gradient written into ``grad``, and the workspace
        of the forward pass (None for a split batch)."""
        if self._row_shards is None:
            return self.network.loss_grad(theta, self.X, self.Y, self.s, self.l2, grad)
        return self._sharded_loss_grad(theta, grad)

    def hvp(self, theta, v):
        """Hessian-vector product :math:`H(\\theta)\\, v` of the objective.

        On a split batch, :math:`H v = \\sum_k c_k H_k v`, shard by shard.
        Successive products at the same ``theta`` (the same array, unchanged)
        share one linearization, the forward and backward passes they read:
        about half the cost of each product after the first.
        """
        check_parameter_vector(theta, self.network.n_params)
        points = self._linearization(theta)
        if self._row_shards is None:
            return self.network.hvp(theta, v, self.X, self.Y, self.s, self.l2,
                                    points[0])
        return self._weighted_sum(self._on_shards(
            lambda k, X, Y, s: self.network.hvp(theta, v, X, Y, s, self._shard_l2(k),
                                                points[k])))

    def _linearization(self, theta):
        """The linearizations at ``theta`` of the batch, or of each shard."""
        kept = self._linearized
        # (identity too: the linearization holds views of the array it was
        # built from, which must still hold these values)
        if kept is not None and kept[0] is theta and np.array_equal(theta, kept[1]):
            return kept[2]
        self._linearized = None  # (freed before the new one is built)
        if self._row_shards is None:
            points = [self.network.linearize(theta, self.X, self.Y, self.s, self.l2)]
        else:
            points = self._on_shards(lambda k, X, Y, s: self.network.linearize(
                theta, X, Y, s, self._shard_l2(k)))
        self._linearized = (theta, theta.copy(), points)
        return points


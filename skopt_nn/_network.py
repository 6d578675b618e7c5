"""The multi-layer perceptron over ONE flat parameter vector.

Layout of ``theta``: ``W_0, b_0, W_1, b_1, ..., W_L, b_L`` (weights row-major),
then, with batch normalization, ``gamma_0, beta_0, ..., gamma_{L-1},
beta_{L-1}`` for the hidden layers. ``coefs_``, ``intercepts_``, ``bn_gamma_`` and
``bn_beta_`` of a fitted estimator are reshaped *views* into it, so a solver
updates every layer with a handful of vectorized operations on one array.

The network knows nothing of solvers: it computes forward passes, the loss and its
gradient (and, for second-order solvers, Hessian-vector products).
"""

import copy
from contextlib import nullcontext

import numpy as np
from scipy import sparse
from sklearn.utils.extmath import safe_sparse_dot

from ._activations import ACTIVATIONS, DERIVATIVES
from ._batchnorm import batch_moments, normalize_backward
from ._blas import add_to_rows, axpy, scipy_blas_single_thread
from ._losses import LOSS_AND_DELTA, OUTPUT_ACTIVATIONS


def _blocks(shapes):
    """``(start, stop, shape)`` of each block of the flat vector, in order."""
    blocks, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        blocks.append((start, start + size, shape))
        start += size
    return blocks


def _layer_views(theta, blocks):
    """Split the flat vector into reshaped views (no copies)."""
    return [theta[start:stop].reshape(shape) for start, stop, shape in blocks]


# Inference works on blocks of rows whose widest activation takes about this much
# memory: small enough to stay in the cores' caches, large enough for efficient
# products (4 MB measured best on a 2-core machine with 2 MB of L2 per core).
_INFERENCE_BLOCK_BYTES = 1 << 22

# From this many rows, inference adds the biases with BLAS ger (see add_to_rows),
# SciPy's own BLAS held to one thread for the call: the limit costs ~10 us, the
# ger adds save ~0.14 ms per 2048x256 block.
_INFERENCE_GER_ROWS = 1024


class Network:
    """Shapes, initialization and passes of an MLP stored as a flat vector.

    Parameters
    ----------
    layer_units : list of int
        ``[n_features, hidden_1, ..., n_outputs]``.
    activation : str
        Hidden activation name.
    out_activation : {"softmax", "logistic", "identity", "exp"}
        Output activation; it fixes the loss (see ``_losses``).
    batch_norm_epsilon : float or None
        ``epsilon`` of batch normalization on every hidden layer, None for none.
    """

    def __init__(self, layer_units, activation, out_activation, batch_norm_epsilon=None):
        self.layer_units = list(layer_units)
        self.activation = activation
        self.out_activation = out_activation
        self.bn_epsilon = batch_norm_epsilon
        self.n_hidden = len(layer_units) - 2
        shapes = []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            shapes += [(fan_in, fan_out), (fan_out,)]
        if self.batch_norm:
            for units in layer_units[1:-1]:
                shapes += [(units,), (units,)]
        self.shapes = shapes
        # computed once: unpacking runs several times per minibatch step
        self._blocks = _blocks(shapes)
        # the blocks (W, b) of every layer come first, batch norm's after them
        self._n_layer_blocks = 2 * (len(layer_units) - 1)
        self._weight_slices = [slice(start, stop) for start, stop, _ in
                               self._blocks[0:self._n_layer_blocks:2]]
        self.n_params = self._blocks[-1][1]
        self._workspaces = {}

    @property
    def batch_norm(self):
        return self.bn_epsilon is not None

    # ------------------------------------------------------------------ layout
    def unpack(self, theta):
        """Return ``(coefs, intercepts, gammas, betas)`` as lists of views."""
        views = _layer_views(theta, self._blocks)
        n = self._n_layer_blocks
        bn = views[n:]
        return views[0:n:2], views[1:n:2], bn[0::2], bn[1::2]

    def weight_mask(self, dtype=np.float64):
        """1 on the entries of ``theta`` that are weights (penalized), 0 elsewhere."""
        mask = np.zeros(self.n_params, dtype=dtype)
        coefs, _, _, _ = self.unpack(mask)
        for w in coefs:
            w[...] = 1
        return mask

    def initialize(self, random_state, dtype):
        """Glorot-uniform weights and biases, as scikit-learn's MLP draws them.

        Random (not zero) initial weights break the symmetry between the units
        of a layer: units that start equal receive equal gradients and stay equal.
        """
        theta = np.zeros(self.n_params, dtype=dtype)
        coefs, intercepts, gammas, _ = self.unpack(theta)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for w, b in zip(coefs, intercepts):
            fan_in, fan_out = w.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            w[...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = random_state.uniform(-bound, bound, fan_out)
        for g in gammas:
            g[...] = 1.0
        return theta

    # --------------------------------------------------------------- workspace
    def _workspace(self, n_rows, dtype, slot=0):
        """Per-batch buffers, allocated once: no allocation per minibatch.

        One set of buffers per dtype and ``slot``, sized for the largest batch so
        far (key ``(None, dtype)`` of the slot's dict); a smaller batch, such as
        an epoch's short last one, works in their leading rows (key ``(n_rows,
        dtype)``). Passes that run at the same time, on different threads, use
        different slots: each slot's dict is only touched by one thread at a time.
        """
        dtype = np.dtype(dtype)
        spaces = self._workspaces.setdefault(slot, {})  # atomic under the GIL
        ws = spaces.get((n_rows, dtype))
        if ws is not None:
            return ws
        base = spaces.get((None, dtype))
        if base is None or base["rows"] < n_rows:
            units = self.layer_units[1:]
            base = {
                "rows": n_rows,
                "act": [np.empty((n_rows, u), dtype=dtype) for u in units],
                "delta": [np.empty((n_rows, u), dtype=dtype) for u in units],
                "xhat": [np.empty((n_rows, u), dtype=dtype) for u in units[:-1]]
                if self.batch_norm else [],
                "ones": np.ones(n_rows, dtype=dtype),
            }
            # views into the smaller buffers would keep them alive: drop them
            spaces = {k: v for k, v in spaces.items() if k[1] != dtype}
            spaces[None, dtype] = base
            self._workspaces[slot] = spaces
        elif len(spaces) > 8:  # partial_fit with ever new sizes
            spaces = {k: v for k, v in spaces.items() if k[0] is None}
            self._workspaces[slot] = spaces
        ws = {
            "act": [a[:n_rows] for a in base["act"]],
            "delta": [d[:n_rows] for d in base["delta"]],
            "xhat": [x[:n_rows] for x in base["xhat"]],
            # column sums as a product with ones: a BLAS gemv, 2-4 times faster
            # than ndarray.sum(axis=0) on these shapes
            "ones": base["ones"][:n_rows],
            "inv_std": [None] * self.n_hidden,
            "bn_mean": [None] * self.n_hidden,
            "bn_var": [None] * self.n_hidden,
        }
        spaces[n_rows, dtype] = ws
        return ws

    def release_workspaces(self):
        """Drop the per-batch buffers: after a fit they would keep activations
        of a whole full batch (every training row) alive with the model."""
        self._workspaces = {}

    def private_copy(self):
        """A copy with per-batch buffers of its own, for a pass that may run at
        the same time as another one on this network (a dask task)."""
        network = copy.copy(self)
        network._workspaces = {}
        return network

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_workspaces"] = {}  # buffers are scratch space, never pickled
        return state

    # ------------------------------------------------------------------ passes
    def forward_train(self, theta, X, s, params=None, slot=0):
        """Training-mode forward pass; returns the workspace holding the activations.

        ``act[-1]`` holds the output *logits*; batch normalization uses the
        minibatch statistics (weighted by the normalized sample weights ``s``).
        ``params`` is ``self.unpack(theta)`` if the caller already has it;
        ``slot`` chooses the workspace (see :meth:`_workspace`).
        """
        coefs, intercepts, gammas, betas = params or self.unpack(theta)
        ws = self._workspace(X.shape[0], theta.dtype, slot)
        hidden = ACTIVATIONS[self.activation]
        a = X
        for i, (w, b) in enumerate(zip(coefs, intercepts)):
            z = ws["act"][i]
            if sparse.issparse(a):
                z[...] = safe_sparse_dot(a, w)
            else:
                # matmul, not dot: np.dot zero-fills ``out`` before the product
                # (a memset of every activation, 3-4% of a step in profiles)
                np.matmul(a, w, out=z)
            add_to_rows(z, b, ws["ones"])
            if i == self.n_hidden:
                break
            if self.batch_norm:
                mean, var, centered = batch_moments(z, s)
                inv_std = 1.0 / np.sqrt(var + self.bn_epsilon)
                xhat = ws["xhat"][i]
                np.multiply(centered, inv_std, out=xhat)
                np.multiply(xhat, gammas[i], out=z)
                add_to_rows(z, betas[i], ws["ones"])
                ws["inv_std"][i], ws["bn_mean"][i], ws["bn_var"][i] = inv_std, mean, var
            a = hidden(z)
        return ws

    def loss(self, theta, X, Y, s, l2):
        """:meth:`loss_grad`'s loss alone: a forward pass, no backward pass."""
        return self._forward_loss(theta, X, Y, s, l2, self.unpack(theta))[0]

    def _forward_loss(self, theta, X, Y, s, l2, params, slot=0):
        """The loss, and the workspace of the forward pass, whose output delta
        holds dL/dz_out of each row (not yet weighted by ``s``)."""
        ws = self.forward_train(theta, X, s, params, slot)
        # dL/dz_out = p_i - y_i for every output/loss pairing
        per_sample = LOSS_AND_DELTA[self.out_activation](ws["act"][-1], Y,
                                                         ws["delta"][-1])
        loss = float(per_sample.sum() / X.shape[0] if s is None else s @ per_sample)
        if l2:  # (alpha=0: no pass over the weights)
            loss += 0.5 * l2 * sum(float(np.vdot(w, w)) for w in params[0])
        return loss, ws

    def loss_grad(self, theta, X, Y, s, l2, grad, slot=0):
        """Mean loss plus L2 penalty, and its gradient written into ``grad``.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
        X : ndarray or sparse matrix of shape (n_rows, n_features)
        Y : ndarray of shape (n_rows, n_outputs)
            Targets, one-hot / indicator for classification.
        s : ndarray of shape (n_rows,) or None
            Normalized sample weights (summing to one); None means ``1/n_rows``.
        l2 : float
            Penalty coefficient: the objective is
            ``sum_i s_i loss_i + l2/2 * sum(W**2)`` (``l2 = alpha / sum(weights)``).
        grad : ndarray of shape (n_params,)
            Output buffer.
        slot : int, default=0
            The workspace to compute in: calls running at the same time on
            different threads need different slots.

        Returns
        -------
        loss : float
        ws : dict
            The workspace of the forward pass (activations, BN statistics).
        """
        params = self.unpack(theta)
        coefs, _, gammas, _ = params
        loss, ws = self._forward_loss(theta, X, Y, s, l2, params, slot)
        g_coefs, g_intercepts, g_gammas, g_betas = self.unpack(grad)
        delta = ws["delta"][-1]
        if s is None:
            delta /= X.shape[0]
        else:
            delta *= s[:, None]

        derivative = DERIVATIVES[self.activation]
        for i in range(self.n_hidden, -1, -1):
            a_prev = X if i == 0 else ws["act"][i - 1]
            if sparse.issparse(a_prev):
                g_coefs[i][...] = safe_sparse_dot(a_prev.T, delta)
            else:
                np.matmul(a_prev.T, delta, out=g_coefs[i])
            if l2:  # += l2 W, on the flat vectors: one pass, no temporary
                weights = self._weight_slices[i]
                axpy(grad[weights], theta[weights], l2)
            np.matmul(ws["ones"], delta, out=g_intercepts[i])  # sum over rows
            if i == 0:
                break
            prev = ws["delta"][i - 1]
            np.matmul(delta, coefs[i].T, out=prev)
            derivative(a_prev, prev)
            if self.batch_norm:
                k = i - 1
                xhat = ws["xhat"][k]
                np.matmul(ws["ones"], prev, out=g_betas[k])
                g_gammas[k][...] = np.einsum("ij,ij->j", prev, xhat)
                prev *= gammas[k]
                normalize_backward(prev, xhat, ws["inv_std"][k], s)
            delta = prev
        return loss, ws

    def hvp(self, theta, v, X, Y, s, l2, point=None):
        """Exact Hessian-vector product ``H @ v`` of :meth:`loss_grad`'s objective.

        ``v`` is one direction (n_params,) or a block of directions as columns
        (n_params, k); the R-operator passes of ``_rop`` (no clipping applies).
        ``point``: :meth:`linearize`'s result at these arguments, or None.
        """
        from ._rop import hessian_vector_product

        return hessian_vector_product(self, theta, v, X, Y, s, l2, point)

    def linearize(self, theta, X, Y, s, l2):
        """What every :meth:`hvp` at ``theta`` reads (its forward and backward
        passes): build it once for several products there."""
        from ._rop import linearize

        return linearize(self, theta, X, Y, s, l2)

    def predict_logits(self, theta, X, bn_mean=None, bn_var=None):
        """Inference forward pass; batch normalization folded into the weights.

        With the inference statistics ``E[x]`` (``bn_mean``) and ``Var[x]``
        (``bn_var``), ``gamma * (z - E) / sqrt(V + eps) + beta`` is affine in ``z``,
        so each layer is one matrix product with ``W' = W * c`` and
        ``b' = beta + (b - E) * c``, ``c = gamma / sqrt(V + eps)``.
        """
        return self._infer(theta, X, bn_mean, bn_var, output=False)

    def inference_layers(self, theta, bn_mean=None, bn_var=None):
        """``(coefs, intercepts)`` of inference, batch normalization folded in.

        Without batch normalization, the views of ``theta``; with it, new arrays
        ``W' = W * c`` and ``b' = beta + (b - E) * c``, ``c = gamma / sqrt(V +
        eps)``, from the inference statistics ``E`` (``bn_mean``) and ``V``
        (``bn_var``): each layer is then one affine map.
        """
        coefs, intercepts, gammas, betas = self.unpack(theta)
        if self.batch_norm:
            coefs, intercepts = list(coefs), list(intercepts)
            for i in range(self.n_hidden):
                c = gammas[i] / np.sqrt(bn_var[i] + self.bn_epsilon)
                coefs[i] = coefs[i] * c
                intercepts[i] = betas[i] + (intercepts[i] - bn_mean[i]) * c
        return coefs, intercepts

    def predict(self, theta, X, bn_mean=None, bn_var=None):
        """Output activations (probabilities or regression values)."""
        return self._infer(theta, X, bn_mean, bn_var, output=True)

    def _infer(self, theta, X, bn_mean, bn_var, output):
        """The inference pass, one block of rows at a time.

        A block's hidden activations stay in cache between its matrix products,
        bias, nonlinearity and output activation, and memory does not grow with
        the number of rows; each row's result is the same as in one pass.
        """
        coefs, intercepts = self.inference_layers(theta, bn_mean, bn_var)
        hidden = ACTIVATIONS[self.activation]
        n_rows, dtype = X.shape[0], theta.dtype
        out = np.empty((n_rows, self.layer_units[-1]), dtype=dtype)
        block_rows = max(256, _INFERENCE_BLOCK_BYTES
                         // (dtype.itemsize * max(self.layer_units[1:])))
        buffers = [np.empty((min(block_rows, n_rows), u), dtype=dtype)
                   for u in self.layer_units[1:-1]]
        # BLAS ger for the biases on many rows; NumPy's broadcast add otherwise,
        # where the thread limit would cost more than it saves
        ones = np.ones(min(block_rows, n_rows), dtype=dtype) \
            if n_rows >= _INFERENCE_GER_ROWS else None
        with scipy_blas_single_thread() if ones is not None else nullcontext():
            for start in range(0, n_rows, block_rows):
                a = X[start:start + block_rows]
                m = a.shape[0]
                for i, (w, b) in enumerate(zip(coefs, intercepts)):
                    z = out[start:start + m] if i == self.n_hidden else buffers[i][:m]
                    if sparse.issparse(a) or a.dtype != dtype:
                        z[...] = safe_sparse_dot(a, w)
                    else:
                        np.matmul(a, w, out=z)
                    if ones is None:
                        z += b
                    else:
                        add_to_rows(z, b, ones[:m])
                    if i < self.n_hidden:
                        a = hidden(z)
                if output:
                    OUTPUT_ACTIVATIONS[self.out_activation](z)
        return out

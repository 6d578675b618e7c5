r"""Exact Hessian-vector products by the R-operator (Pearlmutter, 1994).

For a direction :math:`v` in parameter space, the R-operator
:math:`\mathcal{R}_v\{x\} = \frac{\partial}{\partial r} x(\theta + r v)\big|_{r=0}`
is a forward-mode directional derivative. Applied to every quantity of the
forward pass (the R-forward pass) and then to every quantity of the backward pass
(the R-backward pass), it turns the gradient into
:math:`\mathcal{R}_v\{\nabla J\} = H v`, the *exact* Hessian-vector product of
exactly the objective that :meth:`Network.loss_grad` computes: the full Hessian,
with the second-order terms of the hidden activations and of batch normalization,
not a Gauss-Newton approximation. The cost is a small multiple of one gradient.

Notation per layer :math:`i = 0, \dots, L` (:math:`L` = number of hidden layers,
:math:`a_{-1} = X`, :math:`w_r` the normalized weight of row :math:`r`, :math:`1/m`
without sample weights):

.. math::
    z_i = a_{i-1} W_i + b_i, \quad
    h_i = \gamma_i \hat z_i + \beta_i \ \text{(batch norm) or } h_i = z_i, \quad
    a_i = f(h_i), \quad
    J = \sum_r w_r\, \ell(z_L^{(r)}, y^{(r)}) + \tfrac{\lambda}{2} \sum_i \|W_i\|^2

R-forward (:math:`\mathcal{R}a_{-1} = 0`; :math:`V_\cdot` are the blocks of
:math:`v`):

.. math::
    \mathcal{R}z_i = \mathcal{R}a_{i-1} W_i + a_{i-1} V_{W_i} + V_{b_i}, \quad
    \mathcal{R}a_i = f'(h_i) \odot \mathcal{R}h_i

and, through batch normalization (:math:`c = z - \mu`, :math:`\sigma^{-1} =
(\sigma^2 + \epsilon)^{-1/2}`):

.. math::
    \mathcal{R}\mu = \textstyle\sum_r w_r \mathcal{R}z_r, \quad
    \mathcal{R}\sigma^2 = 2 \textstyle\sum_r w_r c_r \mathcal{R}c_r, \quad
    \mathcal{R}\sigma^{-1} = -\tfrac12 \sigma^{-3} \mathcal{R}\sigma^2, \quad
    \mathcal{R}\hat z = \mathcal{R}c\, \sigma^{-1} + c\, \mathcal{R}\sigma^{-1}, \quad
    \mathcal{R}h = \gamma \mathcal{R}\hat z + V_\gamma \hat z + V_\beta.

R-backward, from :math:`\delta_L = w (p - y)` and
:math:`\mathcal{R}\delta_L = w\, \nabla^2_{z}\ell\; \mathcal{R}z_L` (the output
Hessian of the loss, :func:`~skopt_nn._losses.output_hessian_vector`):

.. math::
    \mathcal{R}\nabla_{W_i} = \mathcal{R}a_{i-1}^T \delta_i
        + a_{i-1}^T \mathcal{R}\delta_i + \lambda V_{W_i}, \quad
    \mathcal{R}\nabla_{b_i} = \textstyle\sum_r \mathcal{R}\delta_i, \\
    \mathcal{R}(\partial_{a}) = \mathcal{R}\delta_i W_i^T + \delta_i V_{W_i}^T, \quad
    \mathcal{R}(\partial_{h}) = \mathcal{R}(\partial_{a}) \odot f'(h)
        + \partial_{a} \odot f''(h) \odot \mathcal{R}h,

and the R-derivative of batch normalization's backward formula
(:func:`~skopt_nn._batchnorm.normalize_backward`) term by term.

Every function here works on a *block* of ``k`` directions at once (R-quantities
of shape ``(k, rows, units)``), so that a Newton solver assembles the Hessian
with a few large matrix products instead of ``n_params`` small ones.

References
----------
.. [1] B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural
   Computation 6(1), 1994.
.. [2] N. N. Schraudolph, "Fast curvature matrix-vector products for second-order
   gradient descent", Neural Computation 14(7), 2002.
"""

import numpy as np
from scipy import sparse
from sklearn.utils.extmath import safe_sparse_dot

from ._activations import ACTIVATIONS, first_derivative, second_derivative
from ._batchnorm import batch_moments
from ._losses import OUTPUT_ACTIVATIONS, output_hessian_vector

# Elements of one (directions, rows, units) array summed over the layers, per block
# of directions. Assembling the exact Hessian of digits (1,347 rows, 64-25-10, 1
# and 2 BLAS threads, with and without batch normalization, the products' arrays
# reused) took 0.97-1.3 times as long with 2**18 as with 2**20 and 0.8-1.07 times
# as long as with 2**16 (fewer, larger products); 2**22 and more were slower
# (arrays out of cache). A Newton fit's peak memory: 98 MB with 2**18, 150 MB
# with 2**20, whose arrays are 8 MB each.
_BLOCK_ELEMENTS = 1 << 18


def linearize(network, theta, X, Y, s, l2):
    """The forward and backward passes at ``theta`` that every product there reads.

    Pass it as ``point`` to :func:`hessian_vector_product` for several products
    at the same ``theta`` (conjugate gradients, Lanczos iteration): building it
    is about half the cost of a product. It holds views of ``theta``, so it is
    valid only while ``theta`` keeps its values.
    """
    return _Linearization(network, theta, X, Y, s, l2)


def hessian_vector_product(network, theta, v, X, Y, s, l2, point=None):
    """Exact Hessian-vector product of the objective of ``network.loss_grad``.

    Parameters
    ----------
    network : Network
    theta : ndarray of shape (n_params,)
    v : ndarray of shape (n_params,) or (n_params, k)
        One direction, or ``k`` directions as columns.
    X : ndarray or sparse matrix of shape (n_rows, n_features)
    Y : ndarray of shape (n_rows, n_outputs)
    s : ndarray of shape (n_rows,) or None
        Normalized sample weights (summing to one); None means ``1/n_rows``.
    l2 : float
        Coefficient of the penalty ``l2/2 * sum(W**2)``.
    point : object or None, default=None
        :func:`linearize`'s result for these arguments, if the caller keeps
        it; None builds it.

    Returns
    -------
    ndarray of shape (n_params,) or (n_params, k)
        ``H @ v``, a new array in ``theta``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from skopt_nn._network import Network
    >>> net = Network([3, 4, 2], "tanh", "softmax")
    >>> theta = net.initialize(np.random.RandomState(0), np.float64)
    >>> X = np.random.RandomState(1).randn(10, 3)
    >>> Y = np.eye(2)[np.arange(10) % 2]
    >>> H = hessian_vector_product(net, theta, np.eye(net.n_params), X, Y, None, 0.1)
    >>> H.shape, bool(np.allclose(H, H.T))
    ((26, 26), True)
    """
    theta = np.asarray(theta)
    v = np.asarray(v)
    if v.shape[0] != network.n_params or v.ndim not in (1, 2):
        raise ValueError(
            f"v must have shape ({network.n_params},) or ({network.n_params}, k), "
            f"got {v.shape}."
        )
    if point is None:
        point = _Linearization(network, theta, X, Y, s, l2)
    V = v.reshape(network.n_params, -1)
    out = np.empty(V.shape, dtype=theta.dtype)
    units = sum(network.layer_units[1:])
    block = max(1, _BLOCK_ELEMENTS // (X.shape[0] * units))
    for start in range(0, V.shape[1], block):
        cols = slice(start, start + block)
        # one row per direction: the block's views are contiguous per direction
        directions = np.ascontiguousarray(V[:, cols].T, dtype=theta.dtype)
        out[:, cols] = point.apply(directions).T
    return out.reshape(v.shape)


class _Scratch:
    """The (k, rows, units) arrays of a point's products, reused from one to the next.

    A product needs a dozen of them. Allocated anew each time, they grew the
    heap and gave it back to the system at every product, which then paid a page
    fault for every page touched: half of a product's time on digits (measured
    with 1,347 rows and 64 hidden units). :meth:`empty` hands out an array that
    stays the caller's until :meth:`release` (at the start of the next product);
    :meth:`temporary` one that holds a term only until the next call for the same
    shape and role: a term added into a sum at once, so that a product keeps
    few more arrays than it reads at one time.
    """

    def __init__(self, dtype):
        self.dtype = dtype
        self._free, self._taken, self._temporaries = {}, [], {}

    def empty(self, shape):
        stack = self._free.get(shape)
        array = stack.pop() if stack else np.empty(shape, dtype=self.dtype)
        self._taken.append(array)
        return array

    def temporary(self, shape, role="term"):
        """An array for a value used at once (added into a sum, read by one
        product): one per ``role`` and shape, so that values of different roles
        never share one."""
        key = (role, shape)
        array = self._temporaries.get(key)
        if array is None:
            array = self._temporaries[key] = np.empty(shape, dtype=self.dtype)
        return array

    def term(self, total, shape):
        """Where to compute a term of a sum: a new array if it starts the sum
        (``total`` is None), else a temporary one, which the caller adds into
        ``total`` at once (see :func:`_plus`)."""
        return self.empty(shape) if total is None else self.temporary(shape)

    def release(self):
        for array in self._taken:
            self._free.setdefault(array.shape, []).append(array)
        self._taken = []


def _stack_left(A, B, scratch, keep=True):
    """``A @ B[k]`` for every ``k`` as one matrix product: (m, p), (k, p, q) -> (k, m, q).

    ``A`` may be sparse. The result is a view of an array of ``scratch``: one
    kept until the next product, or, with ``keep=False``, a temporary one (a
    term added into a sum at once).
    """
    k, p, q = B.shape
    if k == 1:
        right = B[0]
    else:  # the directions side by side: (p, k * q)
        right = scratch.temporary((p, k, q), "directions")
        right[...] = B.transpose(1, 0, 2)
        right = right.reshape(p, k * q)
    shape = (A.shape[0], k * q)
    if sparse.issparse(A):
        flat = np.asarray(safe_sparse_dot(A, right))
    else:
        flat = np.matmul(A, right, out=scratch.empty(shape) if keep
                         else scratch.temporary(shape, "stacked"))
    return flat.reshape(A.shape[0], k, q).transpose(1, 0, 2)


def _times(A, W, out):
    """``A[k] @ W`` for every ``k``, into ``out``: one matrix product where
    ``A``'s directions lie one after the other in memory."""
    if A.flags.c_contiguous:
        k, m, p = A.shape
        np.matmul(A.reshape(k * m, p), W, out=out.reshape(k * m, W.shape[1]))
        return out
    return np.matmul(A, W, out=out)


class _Linearization:
    """The forward and backward passes at ``theta``: what every R-pass reads."""

    def __init__(self, network, theta, X, Y, s, l2):
        self.network, self.X, self.l2 = network, X, l2
        self._scratches = []  # the products' arrays (see _Scratch)
        dtype = theta.dtype
        coefs, intercepts, gammas, betas = network.unpack(theta)
        self.coefs, self.gammas = coefs, gammas
        m = X.shape[0]
        # row weights as a column: w_r = s_r, or 1/m
        self.w = (1.0 / m) if s is None else s.astype(dtype, copy=False)[:, None]
        self.s = s
        hidden = ACTIVATIONS[network.activation]
        curved = network.activation in ("logistic", "tanh")
        bn = network.batch_norm
        self.inputs = [X]          # a_{i-1} of each layer
        self.fprime, self.fsecond = [], []
        self.xhat, self.centered, self.inv_std = [], [], []
        a = X
        for i, (w, b) in enumerate(zip(coefs, intercepts)):
            z = np.asarray(safe_sparse_dot(a, w), dtype=dtype)
            z += b
            if i == network.n_hidden:
                break
            if bn:
                _, var, centered = batch_moments(z, s)
                inv_std = (1.0 / np.sqrt(var + network.bn_epsilon)).astype(dtype)
                xhat = centered * inv_std
                self.centered.append(centered)
                self.inv_std.append(inv_std)
                self.xhat.append(xhat)
                z = xhat * gammas[i]
                z += betas[i]
            a = hidden(z)
            self.fprime.append(first_derivative(network.activation, a))
            self.fsecond.append(second_derivative(network.activation, a)
                                if curved else None)
            self.inputs.append(a)
        logits = z
        self.p = OUTPUT_ACTIVATIONS[network.out_activation](logits.copy())

        # backward pass: delta_i = dJ/dz_i, dh_i = dJ/dh_i (of the hidden layers)
        delta = (self.p - Y) * self.w
        self.delta = [None] * (network.n_hidden + 1)
        self.da_fsecond = [None] * network.n_hidden
        self.dh = [None] * network.n_hidden
        self.delta[-1] = delta
        for i in range(network.n_hidden, 0, -1):
            k = i - 1
            da = delta @ coefs[i].T
            dh = da * self.fprime[k]
            self.dh[k] = dh
            # the curvature of the activation: R dh gains da f''(h) R h
            if self.fsecond[k] is not None:
                self.da_fsecond[k] = da * self.fsecond[k]
            if bn:
                dxhat = dh * gammas[k]
                xhat = self.xhat[k]
                sums = (dxhat.sum(axis=0), np.einsum("ij,ij->j", dxhat, xhat))
                # dJ/dz = sigma^{-1} T, T = dxhat - w (S1 + xhat S2)
                T = dxhat - self.w * (sums[0] + xhat * sums[1])
                # the R-backward pass reads T, w xhat and the column sums of dh
                # and dh xhat: computed once here rather than in every product
                self.dh[k] = (dh, T, self.w * xhat, sums, dh.sum(axis=0),
                              np.einsum("ij,ij->j", dh, xhat))
                delta = T * self.inv_std[k]
            else:
                delta = dh
            self.delta[k] = delta

    def _mean_rows(self, A):
        """Weighted mean over the rows (axis -2) of a (k, m, u) array."""
        if self.s is None:
            return A.mean(axis=-2)
        return np.matmul(self.s.astype(A.dtype, copy=False), A)

    def _weighted_column_dots(self, B, A):
        """``_mean_rows(B * A)`` of a (m, u) ``B``, without the (k, m, u) product."""
        if self.s is None:
            return np.einsum("mu,kmu->ku", B, A) / B.shape[0]
        return np.einsum("m,mu,kmu->ku", self.s.astype(A.dtype, copy=False), B, A)

    def apply(self, V):
        """``H v`` for each row ``v`` of ``V`` (shape (k, n_params)).

        R-quantities that are zero (a block of ``V`` that is all zero, such as
        the layers before the parameters of a block of unit directions) are
        ``None`` and skipped.
        """
        network = self.network
        k = V.shape[0]
        try:  # (popped: products running at the same time never share one)
            scratch = self._scratches.pop()
        except IndexError:
            scratch = _Scratch(V.dtype)
        scratch.release()  # the arrays of the last product are free again
        blocks = [V[:, start:stop].reshape(k, *shape) if V[:, start:stop].any()
                  else None for start, stop, shape in network._blocks]
        n_layers = network.n_hidden + 1
        VW, Vb = blocks[0:2 * n_layers:2], blocks[1:2 * n_layers:2]
        Vgamma, Vbeta = blocks[2 * n_layers::2], blocks[2 * n_layers + 1::2]
        bn = network.batch_norm

        # ---- R-forward
        Ra = [None]  # R a_{i-1} of each layer; R X = 0
        Rh, Rxhat, Rinv_std = [], [], []
        for i in range(n_layers):
            shape = (k, self.inputs[i].shape[0], self.coefs[i].shape[1])
            Rz = None if VW[i] is None else \
                _stack_left(self.inputs[i], VW[i], scratch)
            if Ra[i] is not None:
                Rz = _plus(Rz, _times(Ra[i], self.coefs[i], scratch.term(Rz, shape)))
            if Vb[i] is not None:  # a bias moves every row alike
                Rz = _plus(Rz, Vb[i][:, None, :], shape, scratch)
            if i == network.n_hidden:
                break
            Rx = Rinv = None
            if bn:
                xhat = self.xhat[i]
                if Rz is not None:
                    centered, inv_std = self.centered[i], self.inv_std[i]
                    Rc = Rz
                    Rc -= self._mean_rows(Rz)[:, None, :]
                    Rvar = 2 * self._weighted_column_dots(centered, Rc)
                    Rinv = -0.5 * inv_std ** 3 * Rvar
                    Rx = Rc
                    Rx *= inv_std  # R xhat = R c sigma^-1 + c R sigma^-1
                    Rx += np.multiply(centered, Rinv[:, None, :],
                                      out=scratch.temporary(shape))
                    Rz = np.multiply(Rx, self.gammas[i], out=scratch.empty(shape))
                if Vgamma[i] is not None:
                    Rz = _plus(Rz, np.multiply(Vgamma[i][:, None, :], xhat,
                                               out=scratch.term(Rz, shape)))
                if Vbeta[i] is not None:
                    Rz = _plus(Rz, Vbeta[i][:, None, :], shape, scratch)
            Rxhat.append(Rx)
            Rinv_std.append(Rinv)
            Rh.append(Rz)
            Ra.append(None if Rz is None else
                      np.multiply(Rz, self.fprime[i], out=scratch.empty(shape)))
        Rdelta = None if Rz is None else \
            self.w * output_hessian_vector(network.out_activation, self.p, Rz)

        # ---- R-backward
        out = np.zeros_like(V)
        Rgrads = [out[:, start:stop].reshape(k, *shape)
                  for start, stop, shape in network._blocks]
        RgW, Rgb = Rgrads[0:2 * n_layers:2], Rgrads[1:2 * n_layers:2]
        Rggamma, Rgbeta = Rgrads[2 * n_layers::2], Rgrads[2 * n_layers + 1::2]
        for i in range(network.n_hidden, -1, -1):
            if Rdelta is not None:
                RgW[i] += _stack_left(self.inputs[i].T, Rdelta, scratch, keep=False)
                Rgb[i] += Rdelta.sum(axis=-2)
            if Ra[i] is not None:  # sum_r R a_r delta_r^T, per direction
                RgW[i] += np.matmul(Ra[i].transpose(0, 2, 1), self.delta[i],
                                    out=scratch.temporary(RgW[i].shape))
            if self.l2 and VW[i] is not None:
                RgW[i] += self.l2 * VW[i]
            if i == 0:
                break
            j = i - 1
            shape = (k, *self.delta[j].shape)
            Rdh = None
            if Rdelta is not None:
                Rdh = _times(Rdelta, self.coefs[i].T, scratch.empty(shape))
            if VW[i] is not None:
                Rdh = _plus(Rdh, _stack_left(self.delta[i], VW[i].transpose(0, 2, 1),
                                             scratch, keep=Rdh is None))
            if Rdh is not None:
                Rdh *= self.fprime[j]
            if self.da_fsecond[j] is not None and Rh[j] is not None:
                Rdh = _plus(Rdh, np.multiply(self.da_fsecond[j], Rh[j],
                                             out=scratch.term(Rdh, shape)))
            Rdelta = Rdh
            if bn:
                Rdelta = self._batch_norm_r_backward(
                    j, Rdh, Rxhat[j], Rinv_std[j], Vgamma[j], Rggamma[j], Rgbeta[j],
                    scratch)
        self._scratches.append(scratch)
        return out

    def _batch_norm_r_backward(self, j, Rdh, Rx, Rinv, Vgamma, Rggamma, Rgbeta,
                               scratch):
        """R of BN's backward pass at hidden layer ``j``: returns R(dJ/dz_j).

        Accumulates R of the gradients of gamma and beta into their buffers.
        With ``dxhat = gamma dh``, ``R dxhat = gamma R dh + V_gamma dh``, so the
        column sums ``R S1`` and ``R S2`` of BN's backward formula follow from
        those of ``R dh`` (the gradients of beta and gamma) and of the forward
        pass's ``dh``, and ``sum_r dxhat R xhat = gamma sum_r dh R xhat``.
        ``Rdh`` is overwritten.
        """
        w, gamma = self.w, self.gammas[j]
        dh, T, w_xhat, (S1, S2), dh_sum, dh_xhat_sum = self.dh[j]
        xhat, inv_std = self.xhat[j], self.inv_std[j]
        if Rdh is None and Rx is None and Vgamma is None:
            return None
        k = next(a for a in (Rdh, Rx, Vgamma) if a is not None).shape[0]
        shape = (k, *xhat.shape)
        # R S1 = sum_r R dxhat, R S2 = sum_r (R dxhat xhat + dxhat R xhat)
        RS1 = np.zeros((k, xhat.shape[1]), dtype=xhat.dtype)
        RS2 = np.zeros_like(RS1)
        Rdelta = None
        if Rdh is not None:
            Rdh_xhat = np.einsum("kmu,mu->ku", Rdh, xhat)
            Rdh_sum = Rdh.sum(axis=-2)
            Rggamma += Rdh_xhat
            Rgbeta += Rdh_sum
            RS1 += gamma * Rdh_sum
            RS2 += gamma * Rdh_xhat
            Rdelta = Rdh
            Rdelta *= gamma
        if Rx is not None:
            dh_Rx = np.einsum("mu,kmu->ku", dh, Rx)
            Rggamma += dh_Rx
            RS2 += gamma * dh_Rx
        if Vgamma is not None:
            RS1 += Vgamma * dh_sum
            RS2 += Vgamma * dh_xhat_sum
            Rdelta = _plus(Rdelta, np.multiply(dh, Vgamma[:, None, :],
                                               out=scratch.term(Rdelta, shape)))
        if Rdelta is None:
            Rdelta = scratch.empty(shape)
            Rdelta[...] = 0
        temporary = scratch.temporary(shape)
        Rdelta -= np.multiply(w, RS1[:, None, :], out=temporary) if self.s is not None \
            else w * RS1[:, None, :]
        if Rx is not None:
            Rdelta -= np.multiply(Rx, w * S2, out=temporary)
        Rdelta -= np.multiply(w_xhat, RS2[:, None, :], out=temporary)
        Rdelta *= inv_std
        if Rinv is not None:
            Rdelta += np.multiply(T, Rinv[:, None, :], out=temporary)
        return Rdelta


def _plus(total, term, shape=None, scratch=None):
    """``total + term``, in place when ``total`` exists; None stands for zero.

    ``shape`` is the full shape when ``term`` broadcasts (a bias) and
    ``total`` may be None; the sum is then an array of ``scratch``.
    """
    if total is None:
        if shape is None:
            return term
        total = scratch.empty(shape)
        total[...] = term
        return total
    total += term
    return total

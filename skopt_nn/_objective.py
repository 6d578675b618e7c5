"""The training objective a solver sees: ``objective(theta) -> (loss, grad)``.

An :class:`Objective` binds a network to one (mini)batch of rows, their targets,
sample weights and the L2 penalty. A solver calls it as often as it needs
(Nesterov at its look-ahead point, L-BFGS in its line search) and may ask for
Hessian-vector products with :meth:`Objective.hvp`; it uses nothing else.
"""

import numpy as np


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

    Attributes
    ----------
    measure_norm : bool, default=True
        Compute :math:`\|g\|` (``last_grad_norm``) at each evaluation. It is
        only reported once per epoch, so training turns it off for all but an
        epoch's last minibatch: a pass over the parameters saved per step.
        Clipping measures the norm regardless.
    """

    def __init__(self, network, alpha=0.0, max_grad_norm=None, remember_last=False):
        self.network = network
        self.alpha = alpha
        self.max_grad_norm = max_grad_norm
        self.remember_last = remember_last
        self.measure_norm = True
        self.n_evaluations = 0
        self.last_grad_norm = np.nan
        self.batch_statistics = None
        self.X = self.Y = self.sample_weight = None
        self._last = None

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
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        if sample_weight is None:
            self.s, total = None, X.shape[0]
        else:
            total = float(sample_weight.sum())
            self.s = (sample_weight / total).astype(Y.dtype, copy=False)
        self.weight_total = total
        self.l2 = self.alpha / total
        return self

    def __call__(self, theta):
        last = self._last
        if last is not None and np.array_equal(theta, last[0]):
            _, loss, grad, norm, statistics = last
            grad = grad.copy()  # the caller may modify it
            if self.measure_norm and np.isnan(norm):  # not measured, so not clipped
                norm = _norm(grad)
        else:
            grad = np.empty_like(theta)
            loss, ws = self.network.loss_grad(theta, self.X, self.Y, self.s, self.l2,
                                              grad)
            # (kept for the step's first evaluation, and with the remembered one)
            wanted = self.batch_statistics is None or self.remember_last
            statistics = ([m.copy() for m in ws["bn_mean"]],
                          [v.copy() for v in ws["bn_var"]]) \
                if self.network.batch_norm and wanted else None
            norm = np.nan
            if self.measure_norm or self.max_grad_norm is not None:
                norm = _norm(grad)
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

    def hvp(self, theta, v):
        """Hessian-vector product :math:`H(\\theta)\\, v` of the objective."""
        return self.network.hvp(theta, v, self.X, self.Y, self.s, self.l2)


def _norm(g):
    return float(np.sqrt(np.dot(g, g)))

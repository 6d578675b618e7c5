r"""Learning-rate schedules: ``schedule(k) -> float``, the rate of the k-th update.

Every first-order solver takes a float or one of these as ``learning_rate``. They
are scikit-learn estimators (``get_params``/``set_params``), so a grid search
reaches them as ``solver__learning_rate__tau``.
"""

import numbers

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from ._strict_parameters import StrictParameters

__all__ = ["LinearDecay", "InverseScaling"]


class LinearDecay(StrictParameters, BaseEstimator):
    r"""The lecture's linear decay of the learning rate, constant after :math:`\tau`.

    Parameters
    ----------
    initial : float, default=0.01
        :math:`\epsilon_0`, the rate of the first update.
    final : float or None, default=None
        :math:`\epsilon_\tau`, the rate from update :math:`\tau` on;
        ``None`` means :math:`\epsilon_0 / 100` ("typically 1% of
        :math:`\epsilon_0`", as the lecture puts it).
    tau : int, default=1000
        Number of updates over which the rate decays.

    Notes
    -----
    .. math::
        \epsilon_k = (1 - \alpha)\,\epsilon_0 + \alpha\,\epsilon_\tau,
        \qquad \alpha = \frac{k}{\tau} \ (k \le \tau), \qquad
        \epsilon_k = \epsilon_\tau \ (k > \tau).

    Constant after :math:`\tau`, it does not meet the sufficient condition
    :math:`\sum_k \epsilon_k = \infty`, :math:`\sum_k \epsilon_k^2 < \infty`
    (the second sum grows without bound): it trades it for a finite horizon, a
    large rate early and a small one late, the lecture's common practice.

    Examples
    --------
    >>> from skopt_nn.schedules import LinearDecay
    >>> schedule = LinearDecay(initial=0.1, final=0.001, tau=100)
    >>> schedule(0), schedule(50), schedule(100), schedule(1000)
    (0.1, 0.0505, 0.001, 0.001)
    """

    _parameter_constraints = {
        "initial": [Interval(numbers.Real, 0, None, closed="neither")],
        "final": [Interval(numbers.Real, 0, None, closed="left"), None],
        "tau": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, initial=0.01, final=None, tau=1000):
        self.initial = initial
        self.final = final
        self.tau = tau

    def __call__(self, k):
        final = self.initial / 100 if self.final is None else self.final
        if k >= self.tau:
            return float(final)
        alpha = k / self.tau
        return float((1 - alpha) * self.initial + alpha * final)


class InverseScaling(StrictParameters, BaseEstimator):
    r"""Inverse scaling of the learning rate, as scikit-learn's ``"invscaling"``.

    Parameters
    ----------
    initial : float, default=0.01
        :math:`\epsilon_0`.
    power_t : float, default=0.5
        Exponent :math:`t`.

    Notes
    -----
    .. math:: \epsilon_k = \frac{\epsilon_0}{(k + 1)^{t}}

    where ``k`` counts updates; scikit-learn's MLP counts samples seen instead.

    Examples
    --------
    >>> from skopt_nn.schedules import InverseScaling
    >>> schedule = InverseScaling(initial=0.1, power_t=0.5)
    >>> schedule(0), schedule(3)
    (0.1, 0.05)
    """

    _parameter_constraints = {
        "initial": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(self, initial=0.01, power_t=0.5):
        self.initial = initial
        self.power_t = power_t

    def __call__(self, k):
        return float(self.initial / (k + 1) ** self.power_t)

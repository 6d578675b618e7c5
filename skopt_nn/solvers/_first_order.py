r"""First-order solvers, each exactly as the lecture's algorithm box writes it.

Every ``step`` evaluates the minibatch gradient
:math:`g = \frac1m \sum_i \nabla_\theta L(f(x^{(i)}, \theta), y^{(i)})` (penalty
included) through ``objective(theta)`` and updates the flat vector ``theta`` in
place with a few vectorized operations over the whole vector: NumPy ufuncs, and
BLAS ``axpy`` (``y += a x``, one pass over memory instead of two) for the scaled
additions.
"""

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval

from .._blas import axpy
from ._base import Solver, learning_rate_at

_RATE = [Interval(numbers.Real, 0, None, closed="neither"), HasMethods(["__call__"])]
_UNIT = Interval(numbers.Real, 0, 1, closed="left")
_NONNEG = Interval(numbers.Real, 0, None, closed="left")


def _divide(numerator, denominator, out, epsilon):
    """``numerator / denominator`` into ``out``; where the ``epsilon`` added to
    the denominators is 0 in their dtype, 0/0 is 0.

    The denominators of the adaptive methods vanish only where the squared
    gradient accumulator is exactly 0, that is where every gradient so far was 0
    (the numerator is 0 there too) or so small that its square underflowed
    (|g| below ~1e-154 in float64, ~1e-23 in float32). Taking the quotient as 0
    there is the limit delta -> 0+ of the update for a zero gradient, so that
    coordinate does not move (instead of NaN poisoning the whole fit); for an
    underflowed one, the exact formula would move it by about the learning
    rate, a step the arithmetic cannot compute. Everywhere else the formula is
    unchanged. A positive epsilon that rounds to 0 in the parameters' dtype
    (below ~1.4e-45 in float32) adds nothing either: the same guard applies.
    """
    if denominator.dtype.type(epsilon) == 0:
        return np.divide(numerator, denominator, out=out, where=denominator > 0)
    return np.divide(numerator, denominator, out=out)


def _lookahead(theta, velocity, momentum):
    """Nesterov's look-ahead point, a new array: theta~ = theta + alpha v."""
    point = theta.copy()
    axpy(point, velocity, momentum)
    return point


class SGD(Solver):
    r"""Stochastic gradient descent.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.01
        :math:`\epsilon_k`: a constant, or a schedule such as
        :class:`~skopt_nn.schedules.LinearDecay` (the lecture's decay); any
        callable ``k -> epsilon_k`` of the update count ``k`` (from 0) is one,
        and a value that is not a finite real number >= 0 raises a ``ValueError``.

    Notes
    -----
    Lecture, "Stochastic gradient descent":

    .. math:: \theta \leftarrow \theta - \epsilon_k \hat g

    References
    ----------
    .. [1] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT Press,
       2016, Algorithm 8.1.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import SGD
    >>> from skopt_nn.schedules import LinearDecay
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = MLPClassifier(solver=SGD(learning_rate=LinearDecay(initial=0.1, tau=500)),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {"learning_rate": _RATE}

    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        # theta = theta - eps_k g
        axpy(theta, grad, -learning_rate_at(self.learning_rate, state["step"]))
        state["step"] += 1
        return loss


class Momentum(Solver):
    r"""SGD with momentum: a velocity that accumulates past negative gradients.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.01
        :math:`\epsilon`.
    momentum : float, default=0.9
        :math:`\alpha`, the decay rate of the velocity (typically 0.5, 0.9, 0.99).

    Notes
    -----
    Lecture, "SGD with momentum" (velocity in parameter units, initially 0):

    .. math::
        v \leftarrow \alpha v - \epsilon g, \qquad \theta \leftarrow \theta + v

    Under a constant gradient the step approaches the terminal velocity
    :math:`\epsilon \|g\| / (1 - \alpha)`.

    References
    ----------
    .. [1] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.2.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Momentum
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=Momentum(learning_rate=0.05, momentum=0.9),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {"learning_rate": _RATE, "momentum": [_UNIT]}

    def __init__(self, learning_rate=0.01, momentum=0.9):
        self.learning_rate = learning_rate
        self.momentum = momentum

    def init_state(self, theta):
        return {"step": 0, "velocity": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        v = state["velocity"]
        v *= self.momentum
        # v = alpha v - eps g
        axpy(v, grad, -learning_rate_at(self.learning_rate, state["step"]))
        theta += v  # theta = theta + v
        state["step"] += 1
        return loss


class Nesterov(Momentum):
    r"""SGD with Nesterov momentum: the gradient is taken at the look-ahead point.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.01
        :math:`\epsilon`.
    momentum : float, default=0.9
        :math:`\alpha`.

    Notes
    -----
    Lecture, "Nesterov momentum":

    .. math::
        \tilde\theta = \theta + \alpha v, \quad
        g = \nabla_\theta J(\tilde\theta), \quad
        v \leftarrow \alpha v - \epsilon g, \quad \theta \leftarrow \theta + v

    ``theta`` stays the lecture's :math:`\theta` (not the look-ahead point);
    ``step`` returns the loss at :math:`\tilde\theta`.

    References
    ----------
    .. [1] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.3.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Nesterov
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=Nesterov(learning_rate=0.05),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    def step(self, theta, objective, state):
        v = state["velocity"]
        loss, grad = objective(_lookahead(theta, v, self.momentum))
        v *= self.momentum
        # v = alpha v - eps g
        axpy(v, grad, -learning_rate_at(self.learning_rate, state["step"]))
        theta += v  # theta = theta + v
        state["step"] += 1
        return loss


class AdaGrad(Solver):
    r"""AdaGrad: per-parameter rates shrinking with the sum of squared gradients.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.01
        Global learning rate :math:`\epsilon`.
    epsilon : float, default=1e-7
        Small constant :math:`\delta`, added *outside* the square root. With
        ``epsilon=0`` a coordinate whose gradient has always been 0 stays put
        (0/0 is taken as 0, the limit :math:`\delta \to 0^+`).

    Notes
    -----
    Lecture, "Steps for AdaGrad" (:math:`r` starts at 0):

    .. math::
        r \leftarrow r + g \odot g, \qquad
        \Delta\theta = -\frac{\epsilon}{\delta + \sqrt{r}} \odot g, \qquad
        \theta \leftarrow \theta + \Delta\theta

    References
    ----------
    .. [1] J. Duchi, E. Hazan and Y. Singer, "Adaptive Subgradient Methods for
       Online Learning and Stochastic Optimization", JMLR 12, 2011.
    .. [2] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.4.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import AdaGrad
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=AdaGrad(learning_rate=0.1),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {"learning_rate": _RATE, "epsilon": [_NONNEG]}

    def __init__(self, learning_rate=0.01, epsilon=1e-7):
        self.learning_rate = learning_rate
        self.epsilon = epsilon

    def init_state(self, theta):
        return {"step": 0, "sum_sq_grad": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        r = state["sum_sq_grad"]
        r += grad * grad  # r = r + g . g
        denom = np.sqrt(r)
        denom += self.epsilon  # delta + sqrt(r)
        ratio = _divide(grad, denom, denom, self.epsilon)
        # theta = theta - eps / (delta + sqrt(r)) . g
        axpy(theta, ratio, -learning_rate_at(self.learning_rate, state["step"]))
        state["step"] += 1
        return loss


class RMSProp(Solver):
    r"""RMSProp: AdaGrad with an exponentially decaying average of squared gradients.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.001
        Global learning rate :math:`\epsilon`.
    rho : float, default=0.9
        Decay rate :math:`\rho` of the squared-gradient average.
    epsilon : float, default=1e-6
        Small constant :math:`\delta`, added *inside* the square root. With
        ``epsilon=0`` a coordinate whose gradient has always been 0 stays put
        (0/0 is taken as 0, the limit :math:`\delta \to 0^+`).

    Notes
    -----
    Lecture, "Steps for RMSProp" (:math:`r` starts at 0):

    .. math::
        r \leftarrow \rho r + (1 - \rho)\, g \odot g, \qquad
        \Delta\theta = -\frac{\epsilon}{\sqrt{\delta + r}} \odot g, \qquad
        \theta \leftarrow \theta + \Delta\theta

    References
    ----------
    .. [1] G. Hinton, Neural Networks for Machine Learning, lecture 6e, 2012.
    .. [2] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.5.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import RMSProp
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=RMSProp(learning_rate=0.01),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        "learning_rate": _RATE, "rho": [_UNIT], "epsilon": [_NONNEG],
    }

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.rho = rho
        self.epsilon = epsilon

    def init_state(self, theta):
        return {"step": 0, "mean_sq_grad": np.zeros_like(theta)}

    def _accumulate(self, r, grad):
        r *= self.rho
        axpy(r, grad * grad, 1 - self.rho)  # r = rho r + (1 - rho) g . g

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        r = state["mean_sq_grad"]
        self._accumulate(r, grad)
        denom = r + self.epsilon
        np.sqrt(denom, out=denom)  # sqrt(delta + r)
        ratio = _divide(grad, denom, denom, self.epsilon)
        # theta = theta - eps / sqrt(delta + r) . g
        axpy(theta, ratio, -learning_rate_at(self.learning_rate, state["step"]))
        state["step"] += 1
        return loss


class RMSPropNesterov(RMSProp):
    r"""RMSProp with Nesterov momentum.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.001
        Global learning rate :math:`\epsilon`.
    rho : float, default=0.9
        Decay rate :math:`\rho`.
    momentum : float, default=0.9
        Momentum coefficient :math:`\alpha`.
    epsilon : float, default=1e-6
        :math:`\delta` inside the square root. The lecture has no :math:`\delta`
        here (``epsilon=0`` is its formula to the letter, with 0/0 taken as 0:
        a coordinate whose gradient has always been 0 stays put); the default
        also bounds the step where :math:`r` is tiny.

    Notes
    -----
    Lecture, "Steps for RMSProp with Nesterov":

    .. math::
        \tilde\theta = \theta + \alpha v, \quad g = \nabla_\theta J(\tilde\theta),
        \quad r \leftarrow \rho r + (1 - \rho)\, g \odot g,

        v \leftarrow \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g, \quad
        \theta \leftarrow \theta + v

    References
    ----------
    .. [1] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.6.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import RMSPropNesterov
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=RMSPropNesterov(learning_rate=0.01),
    ...                     max_iter=100, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {**RMSProp._parameter_constraints, "momentum": [_UNIT]}

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon

    def init_state(self, theta):
        state = super().init_state(theta)
        state["velocity"] = np.zeros_like(theta)
        return state

    def step(self, theta, objective, state):
        v, r = state["velocity"], state["mean_sq_grad"]
        loss, grad = objective(_lookahead(theta, v, self.momentum))
        self._accumulate(r, grad)
        denom = r + self.epsilon
        np.sqrt(denom, out=denom)
        ratio = _divide(grad, denom, denom, self.epsilon)
        v *= self.momentum
        # v = alpha v - eps / sqrt(delta + r) . g
        axpy(v, ratio, -learning_rate_at(self.learning_rate, state["step"]))
        theta += v  # theta = theta + v
        state["step"] += 1
        return loss


class Adam(Solver):
    r"""Adam: RMSProp with momentum on bias-corrected first and second moments.

    Parameters
    ----------
    learning_rate : float or schedule, default=0.001
        Step size :math:`\epsilon`.
    beta_1 : float, default=0.9
        Decay rate :math:`\rho_1` of the first-moment estimate.
    beta_2 : float, default=0.999
        Decay rate :math:`\rho_2` of the second-moment estimate.
    epsilon : float, default=1e-8
        :math:`\delta`, added to :math:`\sqrt{\hat r}` *after* bias correction
        (the Deep Learning book's Algorithm 8.7 and Kingma & Ba). scikit-learn's
        MLP adds it to :math:`\sqrt{r}` before correcting with the step size
        instead; the two differ where :math:`\sqrt{\hat r}` is near
        :math:`\delta`, and scikit-learn's :math:`\delta` weighs up to
        :math:`1/\sqrt{1-\beta_2} \approx 32` times more in the first steps:
        on digits, whose rarely lit pixels have tiny gradients, the weights
        differ by 5e-3 after one epoch.
        With ``epsilon=0`` a coordinate whose gradient has always been 0 stays
        put (0/0 is taken as 0).

    Notes
    -----
    With :math:`t` the update count (from 1), :math:`s, r` starting at 0:

    .. math::
        s \leftarrow \rho_1 s + (1 - \rho_1) g, \quad
        r \leftarrow \rho_2 r + (1 - \rho_2) g \odot g,

        \hat s = \frac{s}{1 - \rho_1^t}, \quad \hat r = \frac{r}{1 - \rho_2^t},
        \quad \theta \leftarrow \theta - \epsilon \frac{\hat s}{\sqrt{\hat r} + \delta}

    References
    ----------
    .. [1] D. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization",
       ICLR 2015.
    .. [2] Goodfellow, Bengio and Courville, *Deep Learning*, Algorithm 8.7.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> from skopt_nn.solvers import Adam
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver=Adam(learning_rate=0.01), max_iter=100,
    ...                     random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        "learning_rate": _RATE, "beta_1": [_UNIT], "beta_2": [_UNIT],
        "epsilon": [_NONNEG],
    }

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def init_state(self, theta):
        return {"step": 0, "first_moment": np.zeros_like(theta),
                "second_moment": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        s, r = state["first_moment"], state["second_moment"]
        t = state["step"] + 1
        s *= self.beta_1
        axpy(s, grad, 1 - self.beta_1)  # s = rho1 s + (1 - rho1) g
        grad *= grad
        r *= self.beta_2
        axpy(r, grad, 1 - self.beta_2)  # r = rho2 r + (1 - rho2) g . g
        # theta -= eps * s_hat / (sqrt(r_hat) + delta), reusing grad's buffer. With
        # sqrt(r_hat) = c sqrt(r), c = 1 / sqrt(1 - rho2^t), that is
        # theta -= eps / ((1 - rho1^t) c) * s / (sqrt(r) + delta / c): the bias
        # corrections become two scalars, one pass fewer over the parameters.
        c = 1.0 / math.sqrt(1 - self.beta_2**t)
        denom = np.sqrt(r, out=grad)
        if self.epsilon:
            denom += self.epsilon / c
        ratio = _divide(s, denom, denom, self.epsilon / c)
        axpy(theta, ratio, -learning_rate_at(self.learning_rate, state["step"]) / (
            (1 - self.beta_1**t) * c))
        state["step"] = t
        return loss


#: The solvers whose step makes no BLAS call beyond the network's evaluation
#: and its own scaled adds over the parameters, so that a ``partial_fit`` call
#: may tell from the network's sizes alone that OpenBLAS runs it on one thread
#: (see ``_blas.runs_on_one_thread``). Exact types: a subclass may add calls.
NETWORK_BLAS_ONLY = frozenset({SGD, Momentum, Nesterov, AdaGrad, RMSProp,
                               RMSPropNesterov, Adam})

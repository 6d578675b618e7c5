"""Hidden-layer activations, applied in place, with their derivatives.

Every derivative is written in terms of the activation's *output* ``a = f(z)``,
so the backward pass needs no copy of the pre-activation ``z``.
"""

import numpy as np
from scipy.special import expit

from ._elementwise import maximum_with


def _identity(z):
    return z


def _logistic(z):
    return expit(z, out=z)


def _tanh(z):
    return np.tanh(z, out=z)


def _relu(z):
    return maximum_with(z, 0.0)  # (np.maximum(z, 0)'s results, vectorized)


ACTIVATIONS = {
    "identity": _identity,
    "logistic": _logistic,
    "tanh": _tanh,
    "relu": _relu,
}


def _identity_grad(a, delta):
    return delta


def _logistic_grad(a, delta):
    # f'(z) = a (1 - a)
    delta *= a
    delta *= 1 - a
    return delta


def _tanh_grad(a, delta):
    # f'(z) = 1 - a^2
    delta *= 1 - a * a
    return delta


def _relu_grad(a, delta):
    # f'(z) = [a > 0]; a multiply, not a masked assignment: it stays vectorized
    np.multiply(delta, a > 0, out=delta)
    return delta


# Multiply ``delta`` in place by f'(z), given ``a = f(z)``.
DERIVATIVES = {
    "identity": _identity_grad,
    "logistic": _logistic_grad,
    "tanh": _tanh_grad,
    "relu": _relu_grad,
}


def first_derivative(name, a):
    """Return f'(z) as a new array, given ``a = f(z)``."""
    return DERIVATIVES[name](a, np.ones_like(a))


def second_derivative(name, a):
    """Return f''(z) as a new array, given ``a = f(z)`` (for the R-operator)."""
    if name == "logistic":
        return a * (1 - a) * (1 - 2 * a)
    if name == "tanh":
        return -2 * a * (1 - a * a)
    return np.zeros_like(a)  # identity and relu are piecewise linear

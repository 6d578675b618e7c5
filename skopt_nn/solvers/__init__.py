"""Optimizers: every one of the lecture's, plus Adam and L-BFGS.

Each is a :class:`Solver` holding its hyperparameters; pass one as ``solver=`` to
an estimator. See :class:`Solver` to write your own.
"""

from ._base import Solver
from ._first_order import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSProp, RMSPropNesterov
from ._lbfgs import LBFGS
from ._newton import Newton

__all__ = ["Solver", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp",
           "RMSPropNesterov", "Adam", "LBFGS", "Newton"]

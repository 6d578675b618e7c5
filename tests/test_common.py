"""scikit-learn's own estimator checks, for every solver and option.

Every string alias of ``skopt_nn.solvers`` is included automatically, so a new
solver inherits the whole suite.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.solvers import SGD, Adam
from skopt_nn.solvers._base import SOLVER_ALIASES

FAST_CORE = [
    Estimator(solver=solver, early_stopping=early_stopping)
    for Estimator in (MLPClassifier, MLPRegressor)
    for solver in (SGD(), Adam())
    for early_stopping in (False, True)
]

EVERY_ALIAS = [
    Estimator(solver=alias, batch_norm=batch_norm)
    for Estimator in (MLPClassifier, MLPRegressor)
    for alias in SOLVER_ALIASES
    for batch_norm in (False, True)
]


@parametrize_with_checks(FAST_CORE)
def test_sklearn_checks_sgd_adam(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(EVERY_ALIAS)
def test_sklearn_checks_every_solver(estimator, check):
    check(estimator)

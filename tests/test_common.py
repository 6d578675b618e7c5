"""scikit-learn's own estimator checks, for every solver and option.

Every string alias of ``skopt_nn.solvers`` is included automatically, so a new
solver inherits the whole suite.

Newton runs the checks on a network of 10 hidden units: each of its steps costs
O(n_params^3) (an eigendecomposition of the exact Hessian), and the checks are
about the estimator's conventions, not its capacity. Its correctness is tested
in ``test_second_order.py``.

Known failure, kept visible as an expected failure rather than hidden:
Newton does not pass ``check_sample_weight_equivalence_*`` (weights vs repeated
rows, predictions compared to rtol=1e-7). The two fits agree to rounding in the
first step (about 1e-16), but Newton's step divides by Hessian eigenvalues down
to sqrt(eps) of the largest, which amplifies the different summation order of
the two data sets to about 1e-9 after one step; on these over-parameterized,
separable problems the non-convex iteration then grows it to 1e-5. The
first-order solvers and L-BFGS pass it. Newton's classifier also misses
``check_class_weight_classifiers`` on its small network: it minimizes the
weighted loss so far that rows of weight 1e-4 are fitted too once those of
weight 1000 are, where the check expects class 0 on 87% of noisy test rows.
With batch normalization *and* early stopping, Newton's classifier on 10 hidden
units also misses ``check_classifiers_train``'s accuracy of 0.83 on three blobs
(0.55; 0.82 with 20 units, 0.92 with 100): its full steps through the normalized
layers make the validation accuracy swing between 0.4 and 0.87 from one step to
the next, so early stopping keeps an early step. Not yet understood; open.
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
    Estimator(solver=alias, batch_norm=batch_norm, early_stopping=early_stopping,
              **({"hidden_layer_sizes": (10,)} if alias == "newton" else {}))
    for Estimator in (MLPClassifier, MLPRegressor)
    for alias in SOLVER_ALIASES
    for batch_norm in (False, True)
    for early_stopping in (False, True)
]

_NEWTON_AMPLIFIES_ROUNDING = (
    "Newton's step amplifies the rounding differences between weighted and "
    "repeated rows (see the module docstring)"
)


def _expected_failures(estimator):
    if estimator.solver != "newton":
        return {}
    failures = {"check_sample_weight_equivalence_on_dense_data":
                _NEWTON_AMPLIFIES_ROUNDING,
                "check_sample_weight_equivalence_on_sparse_data":
                _NEWTON_AMPLIFIES_ROUNDING}
    if isinstance(estimator, MLPClassifier):
        failures["check_class_weight_classifiers"] = (
            "Newton fits the rows of weight 1e-4 too (see the module docstring)")
        if estimator.batch_norm and estimator.early_stopping:
            failures["check_classifiers_train"] = (
                "Newton + batch norm + early stopping on 10 hidden units: the "
                "validation accuracy swings from step to step and the training "
                "accuracy ends near 0.55 (see the module docstring)")
    return failures


@parametrize_with_checks(FAST_CORE)
def test_sklearn_checks_sgd_adam(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(EVERY_ALIAS, expected_failed_checks=_expected_failures)
def test_sklearn_checks_every_solver(estimator, check):
    check(estimator)

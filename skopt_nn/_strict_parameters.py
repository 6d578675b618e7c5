"""Hyperparameter validation stricter than scikit-learn's constraints, in two
ways that otherwise fail far from the mistake.

Integer hyperparameters refuse bools: scikit-learn's ``Interval(Integral, ...)``
constraint accepts ``True`` and ``False``, ``bool`` being a subclass of ``int``:
``batch_size=True`` passed validation, then failed inside NumPy
(``np.empty((True, n))``) with an error that named neither the parameter nor the
value.

A class where an instance is wanted is named as such: ``solver=Adam`` got
scikit-learn's "must be ... an instance of 'skopt_nn.solvers._base.Solver'",
and ``learning_rate=LinearDecay`` passed validation (a class is callable), to
fail at the first update with "The learning-rate schedule <class ...> returned
LinearDecay(initial=0)".
"""

import numbers

from sklearn import get_config
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError


class StrictParameters:
    """Mixin (before ``BaseEstimator``): ``_validate_params`` also refuses a bool
    for any parameter whose constraints admit integers, not booleans, and a
    class for any parameter whose constraints ask for an instance of it or for
    a callable (a schedule). Under scikit-learn's
    ``skip_parameter_validation`` setting, it validates nothing, as
    scikit-learn's estimators do."""

    def _validate_params(self):
        if get_config()["skip_parameter_validation"]:
            return  # (as scikit-learn's fit_context: the user asked for none)
        params = self.get_params(deep=False)
        for name, value in params.items():
            if isinstance(value, type):
                self._refuse_class(name, value)
        super()._validate_params()
        for name, value in params.items():
            constraints = self._parameter_constraints.get(name, ())
            boolean = "boolean" in constraints or bool in constraints
            if isinstance(value, bool) and not boolean and any(
                    isinstance(c, Interval) and c.type is numbers.Integral
                    for c in constraints):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be an "
                    f"int, not a bool. Got {value!r} instead.")

    def _refuse_class(self, name, value):
        constraints = self._parameter_constraints.get(name, ())
        if any(isinstance(c, type) and issubclass(value, c) or
               isinstance(c, HasMethods) and c.methods == ["__call__"]
               for c in constraints):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(self).__name__} must be an "
                f"instance, not the class {value.__name__}: pass "
                f"{name}={value.__name__}(...) (with its hyperparameters, if "
                "any).")

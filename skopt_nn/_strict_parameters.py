"""Hyperparameter validation stricter than scikit-learn's constraints, in two
ways that otherwise fail far from the mistake.

Numeric hyperparameters refuse bools: scikit-learn's ``Interval(Integral, ...)``
and ``Interval(Real, ...)`` constraints accept ``True`` and ``False``, ``bool``
being a subclass of ``int``: ``batch_size=True`` passed validation, then failed
inside NumPy (``np.empty((True, n))``) with an error that named neither the
parameter nor the value, and ``SGD(learning_rate=True)`` trained at a rate of
1 (where a user's solver, checked by ``_check_learning_rate``, refused it).

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
    for any parameter whose constraints admit numbers, not booleans, and a
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
            if not isinstance(value, bool) or boolean:  # (scikit-learn refuses np.bool_)
                continue
            kinds = {c.type for c in constraints if isinstance(c, Interval)}
            if kinds:
                kind = "an int" if kinds == {numbers.Integral} else "a number"
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be "
                    f"{kind}, not a bool. Got {value!r} instead.")

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

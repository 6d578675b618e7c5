"""Integer hyperparameters refuse bools.

scikit-learn's ``Interval(Integral, ...)`` constraint accepts ``True`` and
``False``, ``bool`` being a subclass of ``int``: ``batch_size=True`` passed
validation, then failed inside NumPy (``np.empty((True, n))``) with an error that
named neither the parameter nor the value.
"""

import numbers

from sklearn.utils._param_validation import Interval, InvalidParameterError


class IntegerParametersRefuseBools:
    """Mixin (before ``BaseEstimator``): ``_validate_params`` also refuses a bool
    for any parameter whose constraints admit integers, not booleans."""

    def _validate_params(self):
        super()._validate_params()
        for name, value in self.get_params(deep=False).items():
            constraints = self._parameter_constraints.get(name, ())
            boolean = "boolean" in constraints or bool in constraints
            if isinstance(value, bool) and not boolean and any(
                    isinstance(c, Interval) and c.type is numbers.Integral
                    for c in constraints):
                raise InvalidParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be an "
                    f"int, not a bool. Got {value!r} instead.")

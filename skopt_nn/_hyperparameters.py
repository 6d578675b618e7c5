"""Whether two hyperparameter values are the same value, for a solver's state.

The estimator clones its solver at every fit, and scikit-learn's ``clone``
deep-copies a hyperparameter that is not an estimator: a ``functools.partial``,
an instance of a class with ``__call__``, a list of arrays come back as new
objects. ``!=`` falls back to identity for the first two and is ambiguous for the
third, so the comparison here is by structure, not by identity.
"""

import functools
import numbers
import types

import numpy as np

# Objects deepcopy returns as themselves: the same one, or another one altogether
# (two functions with empty __dict__ are not the same function)
_BY_IDENTITY = (types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
                types.CodeType, type, property, np.ufunc)


def same_value(a, b):
    """True if ``a`` and ``b`` are equal by value; False when unsure.

    Same type; numbers by ``==`` (NaN equal to NaN, 1 equal to 1.0);
    ``functools.partial`` by function, arguments and keywords; bound methods by
    function and object; lists, tuples and dicts element by element; arrays by
    dtype, shape and elements; an object whose class defines ``__eq__`` by it
    (when it answers with a bool); any other object by its type and the state
    pickle records of it (``__reduce_ex__``: its ``__dict__``, ``__slots__``, a
    random generator's state).
    No exception escapes: a value that cannot be compared counts as changed.
    """
    try:
        return _same(a, b, {})
    except Exception:  # an __eq__ that raises, vars() of a slotted object, ...
        return False


def _same(a, b, seen):
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and _same_arrays(a, b, seen))
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        return bool(a == b or (a != a and b != b))  # NaN equal to NaN
    if type(a) is not type(b) or isinstance(a, _BY_IDENTITY):
        return False
    pair = (id(a), id(b))
    if pair in seen:  # a cycle: equal unless something else differs
        return True
    # The pair is kept alive with its ids: objects made during the comparison
    # (the tuples of __reduce_ex__) would otherwise free them for the next
    # ones, which a reused id would pass off as a cycle, hence equal.
    seen[pair] = (a, b)
    if isinstance(a, functools.partial):
        return (_same(a.func, b.func, seen) and _same(a.args, b.args, seen)
                and _same(a.keywords, b.keywords, seen)
                and _same(vars(a), vars(b), seen))
    if isinstance(a, types.MethodType):
        return a.__func__ is b.__func__ and _same(a.__self__, b.__self__, seen)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, seen) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], seen) for k in a)
    if type(a).__eq__ is not object.__eq__:
        equal = a == b
        return bool(equal) if isinstance(equal, (bool, np.bool_)) else False
    # What pickle and deepcopy record of the object: its state wherever it
    # lives (a __dict__, __slots__, a C-level state such as a random
    # generator's), not only its __dict__, which misses the last two
    return _same(a.__reduce_ex__(4), b.__reduce_ex__(4), seen)


def _same_arrays(a, b, seen):
    if a.dtype.hasobject:
        return all(_same(x, y, seen) for x, y in zip(a.ravel(), b.ravel()))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))

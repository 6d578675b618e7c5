"""Fitted attributes that are views into the flat parameter vector."""

import numpy as np


class ParameterViews:
    """A fitted attribute holding a list of views into the flat parameter vector.

    ``coefs_``, ``intercepts_``, ``bn_gamma_`` and ``bn_beta_`` show the very
    parameters that predictions and further training use. Writing into an array
    (``clf.coefs_[0][:] = W``) changes them, being a view; assigning a new list
    (``clf.coefs_ = [...]``, as done with scikit-learn's MLP to load, prune or
    transplant weights) copies its values in, after checking the shapes. A plain
    attribute would instead be rebound silently, and the model would go on
    predicting with the old weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from skopt_nn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.coefs_ = [np.zeros_like(W) for W in clf.coefs_]
    >>> clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    >>> clf.predict_proba(X[:1]).round(3)
    array([[0.333, 0.333, 0.333]])
    """

    def __set_name__(self, owner, name):
        self.name = name
        self.slot = _slot(name)

    def __get__(self, estimator, owner=None):
        if estimator is None:
            return self
        try:
            return estimator.__dict__[self.slot]
        except KeyError:
            raise AttributeError(
                f"{type(estimator).__name__!r} object has no attribute "
                f"{self.name!r}") from None

    def __set__(self, estimator, arrays):
        views = estimator.__dict__.get(self.slot)
        if views is None and "_theta" in estimator.__dict__:
            raise AttributeError(f"{self.name} exists only with batch normalization, "
                                 "which this fitted network does not have.")
        if views is None:
            raise AttributeError(
                f"{self.name} can only be assigned on a fitted estimator, whose "
                "architecture sets its shapes: fit it first (max_iter=1 will do).")
        arrays = list(arrays)
        shapes = [np.shape(a) for a in arrays]
        expected = [v.shape for v in views]
        if shapes != expected:
            raise ValueError(
                f"{self.name} must be a list of {len(expected)} arrays of shapes "
                f"{expected} (the fitted network's), got shapes {shapes}.")
        _copy_in(self.name, views, arrays)

    def __delete__(self, estimator):
        raise AttributeError(
            f"{self.name} cannot be deleted: it shows the fitted network's "
            "parameters (assign new values of the same shapes instead).")

    @staticmethod
    def slot(name):
        """The instance attribute that holds the views of attribute ``name``."""
        return _slot(name)

    @staticmethod
    def bind(estimator, name, views):
        """Point ``estimator.<name>`` at ``views`` (None: no such attribute)."""
        slot = _slot(name)
        if views is None:
            estimator.__dict__.pop(slot, None)
        else:
            estimator.__dict__[slot] = ViewList(name, views)


class ViewList(list):
    """The list of views: assigning an element (``clf.coefs_[0] = W``) copies
    into the view, as assigning the whole list does."""

    def __init__(self, name, views):
        super().__init__(views)
        self.name = name

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            views = super().__getitem__(index)
            values = list(value)
            if len(values) != len(views):
                raise ValueError(f"{self.name}[{index.start}:{index.stop}] takes "
                                 f"{len(views)} arrays, got {len(values)}.")
        else:
            views, values = [super().__getitem__(index)], [value]
        for view, value in zip(views, values):
            if np.shape(value) != view.shape:
                raise ValueError(f"{self.name} entries keep their shapes: expected "
                                 f"{view.shape}, got {np.shape(value)}.")
        _copy_in(self.name, views, values)

    def __reduce__(self):
        # a copy or a pickle of the list alone is a plain list of arrays,
        # attached to no network (the estimator rebinds its views on loading)
        return (list, (list(self),))

    def _fixed(self, *args, **kwargs):
        raise TypeError(
            f"{self.name} holds one array per layer of the fitted network: its "
            "length and order are fixed (assign arrays of the same shapes to "
            "its entries, or a whole list).")

    # (the network keeps its layers: a shorter list predicted as before, and a
    # warm start then blamed hidden_layer_sizes)
    append = extend = insert = pop = remove = clear = sort = reverse = _fixed
    __delitem__ = __iadd__ = __imul__ = _fixed


def _slot(name):
    """The instance attribute holding the views of the attribute ``name``."""
    return f"_{name}views"


def _copy_in(name, views, values):
    """Write ``values`` (of the views' shapes) into ``views``, all checked and
    copied before any is written: they may be the views themselves, permuted."""
    checked = [_checked(name, value, view.dtype) for view, value in zip(views, values)]
    for view, value in zip(views, checked):
        view[...] = value


def _checked(name, values, dtype):
    """``values`` as a new array of the model's ``dtype``: real and finite."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}.")
    with np.errstate(over="ignore"):
        array = array.astype(dtype, copy=True)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must contain only finite values (in the model's "
                         f"{np.dtype(dtype).name}).")
    return array

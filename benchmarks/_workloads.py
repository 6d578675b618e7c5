"""The benchmark's workloads and data: bundled digits or generated with a fixed seed.

Nothing is downloaded. Generated sets get 10,000 extra rows held out for the
accuracy check and the prediction timings.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_digits, make_classification, make_regression

N_TEST = 10_000


@dataclass(frozen=True)
class Workload:
    """One training configuration, run by both libraries.

    ``epochs`` and ``repeats`` are ``(full, quick)`` pairs; for full-batch solvers
    an "epoch" is one iteration. ``target`` is the largest acceptable time ratio
    skopt_nn / scikit-learn, or None.
    """

    name: str
    data: str  # "digits", "classification" or "regression"
    n_samples: int
    n_features: int
    hidden: tuple
    batch_size: object
    dtype: type
    solver: str
    epochs: tuple
    repeats: tuple
    target: float = None

    @property
    def is_regression(self):
        return self.data == "regression"

    def layer_units(self, n_outputs):
        return [self.n_features, *self.hidden, n_outputs]

    def batch_rows(self):
        if self.solver == "lbfgs":
            return self.n_samples
        return min(200, self.n_samples) if self.batch_size == "auto" else self.batch_size


EPOCH_WORKLOADS = [
    Workload("digits 1797x64 (100,) adam b200 f64", "digits", 1797, 64, (100,), 200,
             np.float64, "adam", epochs=(20, 10), repeats=(15, 5), target=0.5),
    Workload("20000x100 (256,256) adam b200 f64", "classification", 20_000, 100,
             (256, 256), 200, np.float64, "adam", epochs=(3, 1), repeats=(7, 3),
             target=0.6),
    Workload("20000x100 (256,256) adam b200 f32", "classification", 20_000, 100,
             (256, 256), 200, np.float32, "adam", epochs=(3, 1), repeats=(7, 3),
             target=0.6),
    Workload("60000x784 (256,) adam b256 f32", "classification", 60_000, 784, (256,),
             256, np.float32, "adam", epochs=(2, 1), repeats=(5, 2), target=0.6),
    Workload("60000x784 (256,) adam b256 f64", "classification", 60_000, 784, (256,),
             256, np.float64, "adam", epochs=(2, 1), repeats=(5, 2), target=0.7),
    # (no target of issue 6's own: faster than scikit-learn, as on every workload)
    Workload("regressor 20000x100 (256,) adam b200 f64", "regression", 20_000, 100,
             (256,), 200, np.float64, "adam", epochs=(3, 1), repeats=(7, 3),
             target=1.0),
]

LBFGS_WORKLOAD = Workload("L-BFGS digits (100,) full batch f64", "digits", 1797, 64,
                          (100,), "auto", np.float64, "lbfgs", epochs=(50, 20),
                          repeats=(7, 3), target=0.2)


@lru_cache(maxsize=None)
def _generated(kind, n_samples, n_features):
    n = n_samples + N_TEST
    if kind == "classification":
        X, y = make_classification(n, n_features, n_informative=min(50, n_features // 2),
                                   n_classes=10, random_state=0)
    else:
        X, y = make_regression(n, n_features, n_informative=n_features // 2,
                               noise=10.0, random_state=0)
        y = (y - y.mean()) / y.std()
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def load(workload):
    """``(X_train, y_train, X_test, y_test)`` in the workload's dtype.

    Digits has no held-out rows: its "test" rows are the training rows.
    """
    if workload.data == "digits":
        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(workload.dtype)
        return X, y, X, y
    X, y, X_test, y_test = _generated(workload.data, workload.n_samples,
                                      workload.n_features)
    return (X.astype(workload.dtype), y, X_test.astype(workload.dtype), y_test)

"""scikit-learn compatible multi-layer perceptrons whose optimizer is an object."""

from ._batchnorm import BatchNorm
from ._mlp import MLPClassifier, MLPRegressor

__all__ = ["BatchNorm", "MLPClassifier", "MLPRegressor"]
__version__ = "0.1.0"

"""
=====================================
A custom solver in a few lines
=====================================

A solver is a small object: ``__init__`` stores the hyperparameters (and
nothing else), ``init_state`` creates the training state, and ``step`` does one
update of the flat parameter vector ``theta`` *in place* and returns the loss
it evaluated. It sees the training objective only through ``objective(theta)
-> (loss, grad)`` (and ``objective.hvp(theta, v)`` if it wants curvature), so
it knows nothing of layers, minibatches or batch normalization.

As an example, *signum* (sign of momentum, Bernstein et al., 2018): keep an
exponential average of the gradients and step by a fixed length in the
direction of its sign,

.. math:: m \\leftarrow \\beta m + (1 - \\beta) g, \\qquad
          \\theta \\leftarrow \\theta - \\epsilon\\, \\mathrm{sign}(m).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from skopt_nn import MLPClassifier
from skopt_nn.solvers import Momentum, Solver

warnings.simplefilter("ignore", ConvergenceWarning)  # small budgets on purpose


class Signum(Solver):
    """Sign of momentum: theta <- theta - eps * sign(m)."""

    def __init__(self, learning_rate=0.001, beta=0.9):
        self.learning_rate = learning_rate
        self.beta = beta

    def init_state(self, theta):
        return {"step": 0, "m": np.zeros_like(theta)}

    def step(self, theta, objective, state):
        loss, grad = objective(theta)
        m = state["m"]
        m *= self.beta
        m += (1 - self.beta) * grad  # m = beta m + (1 - beta) g
        theta -= self.current_learning_rate(state) * np.sign(m)
        state["step"] += 1
        return loss


# %%
# It plugs into the estimators like the built-in solvers: the estimator
# clones it at fit (``solver_``), keeps its state (``solver_state_``) for
# ``partial_fit`` and ``warm_start``, and records ``history_``.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0,
                                                    stratify=y)
fits = {}
for solver in (Signum(learning_rate=0.001), Momentum(learning_rate=0.05)):
    clf = MLPClassifier(hidden_layer_sizes=(64,), solver=solver, max_iter=40,
                        random_state=0).fit(X_train, y_train)
    fits[repr(solver)] = clf
    print(f"{solver!r:32s} test accuracy {clf.score(X_test, y_test):.3f}, "
          f"{clf.solver_state_['step']} updates")

fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
for name, clf in fits.items():
    ax.semilogy(np.arange(1, clf.n_iter_ + 1), clf.loss_curve_, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.legend()
plt.show()

# %%
# Its hyperparameters are scikit-learn parameters (``get_params``, ``clone``),
# so model selection reaches them as ``solver__learning_rate`` and
# ``solver__beta``:

print(clone(Signum(beta=0.5)).get_params())
search = GridSearchCV(
    MLPClassifier(hidden_layer_sizes=(64,), solver=Signum(), max_iter=20,
                  random_state=0),
    {"solver__learning_rate": [3e-4, 1e-3, 3e-3], "solver__beta": [0.5, 0.9]},
    cv=3,
).fit(X_train, y_train)
print("best:", search.best_params_,
      f"cross-validated accuracy {search.best_score_:.3f}")

# %%
# Two optional class attributes: ``full_batch = True`` makes the estimator
# pass every training row to each step (and count ``max_iter`` in steps), as
# L-BFGS and Newton do; ``_parameter_constraints`` (scikit-learn's parameter
# validation) makes ``fit`` check the hyperparameters' values.

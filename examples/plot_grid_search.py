"""
====================================================
Grid search over optimizer hyperparameters
====================================================

In skopt_nn the optimizer's hyperparameters live on the solver object, and the
solver is a parameter of the estimator, so scikit-learn's model selection
reaches them by the usual double-underscore paths, through a ``Pipeline`` too:

* ``mlpclassifier__solver__momentum``: :math:`\\alpha` of
  :class:`~skopt_nn.solvers.Momentum`;
* ``mlpclassifier__solver__learning_rate__initial``: :math:`\\epsilon_0` of the
  :class:`~skopt_nn.schedules.LinearDecay` schedule that is the solver's
  learning rate;
* ``mlpclassifier__solver``: the optimizer itself, to compare several.

The data: scikit-learn's breast cancer set, standardized inside the pipeline
(so that each cross-validation fold is scaled with its own training rows).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skopt_nn import MLPClassifier
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import LBFGS, SGD, Adam, Momentum, Newton

warnings.simplefilter("ignore", ConvergenceWarning)  # small budgets on purpose

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)

pipeline = make_pipeline(
    StandardScaler(),
    MLPClassifier(hidden_layer_sizes=(8,),
                  solver=Momentum(learning_rate=LinearDecay(initial=0.1, tau=200)),
                  max_iter=50, random_state=0),
)
momenta = [0.0, 0.5, 0.9, 0.99]
initial_rates = [0.003, 0.01, 0.03, 0.1, 0.3]
search = GridSearchCV(
    pipeline,
    {"mlpclassifier__solver__momentum": momenta,
     "mlpclassifier__solver__learning_rate__initial": initial_rates},
    scoring="neg_log_loss", cv=5,
).fit(X_train, y_train)
print("best:", search.best_params_)
print(f"the refitted best pipeline on the test rows: accuracy "
      f"{search.best_estimator_.score(X_test, y_test):.3f}, "
      f"log-loss {-search.score(X_test, y_test):.3f}")

# %%
# The cross-validated log-loss over the grid. :math:`\alpha = 0` is plain SGD;
# the effective step of momentum is about :math:`\epsilon / (1 - \alpha)`, so
# the good region runs diagonally: larger :math:`\alpha`, smaller
# :math:`\epsilon_0`.

scores = -search.cv_results_["mean_test_score"].reshape(len(initial_rates),
                                                         len(momenta))
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
image = ax.imshow(np.log10(scores), cmap="viridis_r", origin="lower")
ax.set_xticks(range(len(momenta)), momenta)
ax.set_yticks(range(len(initial_rates)), initial_rates)
ax.set_xlabel(r"momentum $\alpha$")
ax.set_ylabel(r"LinearDecay initial $\epsilon_0$")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8,
            color="k" if value < 0.15 else "w")
fig.colorbar(image, label="log10 of the cross-validated log-loss")
plt.show()

# %%
# Comparing optimizers is a grid over the ``solver`` parameter itself. Each
# candidate is a configured solver object; it is cloned for every fit, never
# modified.

candidates = [SGD(learning_rate=0.1), Momentum(learning_rate=0.03),
              Adam(learning_rate=0.01), LBFGS(), Newton()]
comparison = GridSearchCV(pipeline, {"mlpclassifier__solver": candidates}, cv=3,
                          scoring={"log_loss": "neg_log_loss", "accuracy": "accuracy"},
                          refit="log_loss", return_train_score=True)
comparison.fit(X_train, y_train)
results = comparison.cv_results_
print(f"{'solver':28s} {'train log-loss':>14s} {'held-out log-loss':>17s} "
      f"{'held-out accuracy':>17s} {'fit seconds':>11s}")
for i, params in enumerate(results["params"]):
    print(f"{params['mlpclassifier__solver']!r:28s} "
          f"{-results['mean_train_log_loss'][i]:14.2g} "
          f"{-results['mean_test_log_loss'][i]:17.3f} "
          f"{results['mean_test_accuracy'][i]:17.3f} "
          f"{results['mean_fit_time'][i]:11.2f}")

# %%
# The full-batch solvers (L-BFGS, Newton) drive the training loss orders of
# magnitude further down in at most 50 steps (they stop after 12-21) than the
# stochastic ones in 50 epochs: they fit the training folds almost perfectly, and their
# overconfident probabilities cost them log-loss on the held-out rows. With
# this little regularization they overfit; they need a larger ``alpha``,
# whereas the stochastic solvers' limited budget acts as a regularizer
# (early stopping, in effect).

"""
==================================================
Batch normalization allows larger learning rates
==================================================

Batch normalization gives every hidden pre-activation zero mean and unit
variance over the minibatch, then a learned scale :math:`\\gamma` and shift
:math:`\\beta`. A layer's output then no longer grows with the scale of its
weights, so a large step on the weights cannot blow up the activations of the
layers after it, and the gradient reaching the early layers neither vanishes
nor explodes as easily. In practice the network trains at learning rates at
which it would otherwise diverge.

A network of four ReLU layers of 64 units on the digits (pixels scaled to
[0, 1]), plain SGD on minibatches of 128 rows for 15 epochs, over a range of
learning rates, with and without :class:`~skopt_nn.BatchNorm`. The training
loss is measured the way ``predict_proba`` sees the network: with batch
normalization's inference statistics :math:`E[x]`, :math:`Var[x]`.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from skopt_nn import MLPClassifier
from skopt_nn.solvers import SGD

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0,
                                                    stratify=y)
rates = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
results = {}
for batch_norm in (False, True):
    for rate in rates:
        clf = MLPClassifier(hidden_layer_sizes=(64, 64, 64, 64),
                            solver=SGD(learning_rate=rate), batch_norm=batch_norm,
                            batch_size=128, max_iter=15, random_state=0)
        # the largest rates diverge: the estimator warns, stops and restores
        # its best parameters (silenced here, the figure shows it)
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_train, y_train)
        results[batch_norm, rate] = clf

fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for batch_norm, color in ((False, "C0"), (True, "C1")):
    label = "with batch norm" if batch_norm else "without"
    fits = [results[batch_norm, rate] for rate in rates]
    losses = [log_loss(y_train, clf.predict_proba(X_train)) for clf in fits]
    ax_loss.loglog(rates, losses, "o-", color=color, label=label)
    ax_score.semilogx(rates, [clf.score(X_test, y_test) for clf in fits], "o-",
                      color=color, label=label)
ax_loss.set_xlabel(r"learning rate $\epsilon$")
ax_loss.set_ylabel("training log-loss after 15 epochs")
ax_score.set_xlabel(r"learning rate $\epsilon$")
ax_score.set_ylabel("test accuracy")
ax_loss.legend()
plt.show()

# %%
# Without batch normalization the best rates are 0.1-0.3, and from 1 on
# training fails: at 1 the loss stays near chance (1.8, against
# :math:`\log 10 \approx 2.3`; test accuracy 0.24), and from 3 on at it. With it, every rate from 0.1 to 3 trains, and the larger rates reach
# a training loss orders of magnitude lower in the same 15 epochs.
#
# The epoch losses at :math:`\epsilon = 1`:

fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
for batch_norm, color in ((False, "C0"), (True, "C1")):
    curve = results[batch_norm, 1.0].loss_curve_
    ax.semilogy(np.arange(1, len(curve) + 1), curve, "o-", color=color,
                label="with batch norm" if batch_norm else "without")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss (minibatch mean)")
ax.set_title(r"SGD, $\epsilon = 1$")
ax.legend()
plt.show()

# %%
# Batch normalization's statistics come from the minibatch. With small
# minibatches they are noisy: training becomes noisier, and the inference
# statistics, which average over the whole training set, differ more from
# those the network was trained with. Here, minibatches of 128 rows keep both
# effects small.

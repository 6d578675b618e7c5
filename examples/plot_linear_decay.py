"""
=============================================
SGD's linear learning-rate decay
=============================================

A minibatch gradient is a noisy estimate of the gradient, and its noise does
not vanish at the minimum. With a constant learning rate, SGD therefore stops
improving at a noise floor whose height is proportional to the rate. The
lecture's remedy is to decay the rate linearly until update :math:`\\tau` and
keep it constant afterwards,

.. math::
    \\epsilon_k = (1 - \\alpha)\\,\\epsilon_0 + \\alpha\\,\\epsilon_\\tau,
    \\qquad \\alpha = k / \\tau,

with :math:`\\epsilon_\\tau` typically 1% of :math:`\\epsilon_0`
(:class:`~skopt_nn.schedules.LinearDecay`'s default). The convergence
conditions :math:`\\sum_k \\epsilon_k = \\infty`,
:math:`\\sum_k \\epsilon_k^2 < \\infty` say the same thing: large steps early
to travel, small steps late to average the noise out.

Here: a linear least-squares problem (an :class:`~skopt_nn.MLPRegressor` with no
hidden layer, no penalty), minibatches of 10 rows, so that the optimum
:math:`J^*` is known exactly and we can plot the excess loss
:math:`J(\\theta) - J^*` after each epoch.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_regression

from skopt_nn import MLPRegressor
from skopt_nn.schedules import LinearDecay
from skopt_nn.solvers import SGD

X, y = make_regression(n_samples=1000, n_features=10, noise=20.0, random_state=0)
y = y / y.std()
X1 = np.column_stack([X, np.ones(len(X))])
J_star = 0.5 * np.mean((X1 @ np.linalg.lstsq(X1, y, rcond=None)[0] - y) ** 2)

n_epochs, batch_size = 40, 10
n_updates = n_epochs * len(X) // batch_size
rates = {
    "constant 0.05": 0.05,
    "linear decay, tau = all updates": LinearDecay(initial=0.05, tau=n_updates),
    "linear decay, tau = a quarter": LinearDecay(initial=0.05, tau=n_updates // 4),
}

# %%
# ``partial_fit`` is one epoch; the solver's update counter ``k`` (the
# schedule's argument) carries over from call to call.

excess = {}
for name, rate in rates.items():
    reg = MLPRegressor(hidden_layer_sizes=(), solver=SGD(learning_rate=rate),
                       alpha=0.0, batch_size=batch_size, random_state=0)
    excess[name] = []
    for _ in range(n_epochs):
        reg.partial_fit(X, y)
        excess[name].append(0.5 * np.mean((reg.predict(X) - y) ** 2) - J_star)
    print(f"{name:32s} J - J* after {n_epochs} epochs: {excess[name][-1]:.2e}")

fig, (ax_rate, ax_loss) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
k = np.arange(n_updates)
for (name, rate), color in zip(rates.items(), ("C0", "C1", "C2")):
    schedule = np.full(n_updates, rate) if np.isscalar(rate) else [rate(i) for i in k]
    ax_rate.plot(k, schedule, color=color, label=name)
    ax_loss.semilogy(np.arange(1, n_epochs + 1), excess[name], color=color, label=name)
ax_rate.set_xlabel("update k")
ax_rate.set_ylabel(r"$\epsilon_k$")
ax_rate.set_title("the schedules")
ax_rate.legend(loc="upper right")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel(r"$J(\theta) - J^*$")
ax_loss.set_title("excess training loss")
plt.show()

# %%
# The constant rate reaches its noise floor within a few epochs and wanders
# there. Both decays keep improving as the rate shrinks. The one that reaches
# :math:`\epsilon_\tau` after a quarter of the updates then continues with that
# small constant rate: slow steps, but a hundred times less noise in them, so
# the excess loss keeps falling smoothly.

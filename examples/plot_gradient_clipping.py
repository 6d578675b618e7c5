"""
=====================================
Gradient clipping on a cliff
=====================================

Highly nonlinear networks have *cliffs* in their loss: regions where the loss
changes by a lot over a short distance in parameter space. There the gradient
is huge, and one gradient step of ordinary size :math:`\\epsilon` catapults
the parameters far away, undoing the progress made so far. The lecture's
remedy is to clip the norm of the gradient at a threshold :math:`v`,

.. math:: \\text{if } \\|g\\| > v: \\quad g \\leftarrow \\frac{g\\, v}{\\|g\\|},

which keeps the direction and bounds the step by :math:`\\epsilon v`. In
skopt_nn it is the estimators' ``max_grad_norm`` parameter, applied to the
minibatch gradient that every solver sees.

First a two-parameter picture: a valley whose floor runs into a steep wall
(the loss rises by 40 over a distance of about 0.5). Then a real network.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skopt_nn import MLPClassifier
from skopt_nn.solvers import SGD, Momentum

normal = np.array([1.0, 0.6]) / np.hypot(1.0, 0.6)  # the wall's direction
height, steepness = 40.0, 8.0


class Cliff:
    """``objective(theta) -> (loss, grad)``, optionally clipping the gradient."""

    def __init__(self, max_grad_norm=None):
        self.max_grad_norm = max_grad_norm

    def loss(self, theta):
        wall = height / (1 + np.exp(-steepness * (theta @ normal - 2.0)))
        return 0.15 * (theta[0] - 5) ** 2 + 0.5 * theta[1] ** 2 + wall

    def __call__(self, theta):
        sigma = 1 / (1 + np.exp(-steepness * (theta @ normal - 2.0)))
        grad = np.array([0.3 * (theta[0] - 5), theta[1]])
        grad += height * steepness * sigma * (1 - sigma) * normal
        norm = np.linalg.norm(grad)
        if self.max_grad_norm is not None and norm > self.max_grad_norm:
            grad *= self.max_grad_norm / norm  # the lecture's clipping
        return self.loss(theta), grad


def descend(max_grad_norm, n_steps=60):
    theta, solver = np.array([-3.0, 2.0]), SGD(learning_rate=0.5)
    state = solver.init_state(theta)
    path = [theta.copy()]
    for _ in range(n_steps):
        solver.step(theta, Cliff(max_grad_norm), state)
        path.append(theta.copy())
    return np.array(path)


paths = {"no clipping": descend(None), "clipped at v = 1": descend(1.0)}

a, b = np.meshgrid(np.linspace(-6, 4, 201), np.linspace(-4, 3, 141))
J = np.array([Cliff().loss(p) for p in np.column_stack([a.ravel(), b.ravel()])])
fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax_path.contourf(a, b, J.reshape(a.shape), levels=30, cmap="Greys", alpha=0.5)
for (name, path), color in zip(paths.items(), ("C3", "C0")):
    ax_path.plot(path[:, 0], path[:, 1], "o-", color=color, markersize=2.5,
                 linewidth=0.8, label=name)
    ax_loss.plot([Cliff().loss(p) for p in path], color=color, label=name)
ax_path.set_xlim(-6, 4)
ax_path.set_ylim(-4, 3)
ax_path.set_title(r"SGD, $\epsilon = 0.5$, from $(-3, 2)$; the wall is dark")
ax_path.legend(loc="lower left")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("step")
ax_loss.set_ylabel(r"$J(\theta)$")
ax_loss.legend()
plt.show()

# %%
# Without clipping, every step that lands on the wall's face is thrown back
# across the valley (the loss jumps back up to 5 to 10), and SGD never
# settles. Clipped, no step is longer than :math:`\epsilon v = 0.5`: SGD
# slides down to the foot of the wall, where the minimum is (:math:`J^* =
# 1.79`), and stays within one such step of it. (It does not converge: the
# curvature at the foot is too high for :math:`\epsilon = 0.5`, and clipping
# bounds the resulting oscillation rather than removing it; a decaying rate
# would.)
#
# A network: digits with the raw pixel values (0 to 16, not standardized),
# three ReLU layers of 64 units, SGD with momentum (:math:`\epsilon = 0.05`,
# :math:`\alpha = 0.9`) on minibatches of 32. Large inputs make large
# gradients; one catapult early in training is enough to kill the ReLUs (the
# loss stays at :math:`\log 10`, chance level). ``history_`` records each
# epoch's last gradient norm *before* clipping.

X, y = load_digits(return_X_y=True)
fits = {}
for name, clip in (("no clipping", None), ("max_grad_norm=1", 1.0)):
    clf = MLPClassifier(hidden_layer_sizes=(64, 64, 64),
                        solver=Momentum(learning_rate=0.05, momentum=0.9),
                        max_grad_norm=clip, batch_size=32, max_iter=25,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        fits[name] = clf.fit(X, y)
    print(f"{name:16s} training accuracy {clf.score(X, y):.3f}")

fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for (name, clf), color in zip(fits.items(), ("C3", "C0")):
    ax_loss.semilogy(clf.loss_curve_, color=color, label=name)
    ax_norm.semilogy([r["grad_norm"] for r in clf.history_], color=color, label=name)
ax_loss.set_title("training loss")
ax_norm.set_title("gradient norm (last minibatch of the epoch)")
for ax in (ax_loss, ax_norm):
    ax.set_xlabel("epoch")
    ax.legend()
plt.show()

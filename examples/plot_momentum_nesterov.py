"""
==============================================================
SGD, momentum and Nesterov momentum on an ill-conditioned bowl
==============================================================

The lecture's motivation for momentum: on a loss whose Hessian is ill
conditioned, the gradient points mostly across the narrow valley, so plain
gradient descent zig-zags across it and creeps along it. Momentum accumulates
the consistent component of the gradients (along the valley) and lets the
alternating one (across it) cancel out; Nesterov's variant takes the gradient at
the look-ahead point :math:`\\theta + \\alpha v` and so corrects an overshoot one
step earlier.

The loss is :math:`J(\\theta) = \\frac12 \\theta^T A \\theta` with eigenvalues 1
and 40 (condition number 40), rotated so that the valley is oblique. All three
solvers use the same learning rate :math:`\\epsilon = 0.03`; the momentum ones
:math:`\\alpha = 0.7`.
"""

import matplotlib.pyplot as plt
import numpy as np

from skopt_nn.solvers import SGD, Momentum, Nesterov

angle = 0.5
rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
A = rotation @ np.diag([1.0, 40.0]) @ rotation.T


class Quadratic:
    """The objective a solver sees: ``objective(theta) -> (loss, grad)``."""

    def __call__(self, theta):
        grad = A @ theta
        return 0.5 * theta @ grad, grad

    def hvp(self, theta, v):
        return A @ v


def trajectory(solver, start, n_steps=60):
    """The lecture's theta after each step (Nesterov's look-ahead is internal)."""
    theta = np.array(start, dtype=float)
    state = solver.init_state(theta)
    path = [theta.copy()]
    for _ in range(n_steps):
        solver.step(theta, Quadratic(), state)  # updates theta in place
        path.append(theta.copy())
    return np.array(path)


solvers = {
    "SGD": SGD(learning_rate=0.03),
    "momentum": Momentum(learning_rate=0.03, momentum=0.7),
    "Nesterov": Nesterov(learning_rate=0.03, momentum=0.7),
}
paths = {name: trajectory(solver, [-4.0, 2.5]) for name, solver in solvers.items()}

# %%
# The paths on the contours of :math:`J`, and the loss at :math:`\theta` after
# each step.

x, y = np.meshgrid(np.linspace(-5, 5, 201), np.linspace(-3.5, 3.5, 161))
points = np.stack([x.ravel(), y.ravel()])
J = 0.5 * np.einsum("ij,ik,kj->j", points, A, points).reshape(x.shape)

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, layout="constrained")
for ax, (name, path), color in zip(axes, paths.items(), ("C0", "C1", "C2")):
    ax.contour(x, y, J, levels=np.geomspace(0.05, 400, 14), colors="0.75",
               linewidths=0.8)
    ax.plot(path[:, 0], path[:, 1], "o-", color=color, markersize=2.5, linewidth=1)
    ax.plot(0, 0, "k*", markersize=9)
    ax.set_title(name)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_aspect("equal")
axes[0].set_ylabel(r"$\theta_2$")
fig.suptitle(r"60 steps from $(-4, 2.5)$, $\epsilon = 0.03$, $\alpha = 0.7$")

fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
for (name, path), color in zip(paths.items(), ("C0", "C1", "C2")):
    ax.semilogy([0.5 * p @ A @ p for p in path], color=color, label=name)
ax.set_xlabel("step")
ax.set_ylabel(r"$J(\theta)$")
ax.legend()
plt.show()

# %%
# Gradient descent's error along the flat direction shrinks by
# :math:`1 - \epsilon\lambda_\min = 0.97` per step; with momentum the
# contraction is about :math:`\sqrt{\alpha} \approx 0.84` per step once the
# velocity has built up. Momentum overshoots the minimum, and Nesterov's
# look-ahead gradient damps that overshoot.
#
# Nesterov momentum is not unconditionally better: along the steep direction
# it is stable only for :math:`\epsilon\lambda_\max < 2(1+\alpha)/(1+2\alpha)`
# (here 1.42, against 1.2 used), whereas classical momentum allows
# :math:`\epsilon\lambda_\max < 2(1+\alpha)`. With :math:`\epsilon = 0.04`
# Nesterov diverges on this bowl while momentum converges:

for name, solver in (("momentum", Momentum(learning_rate=0.04, momentum=0.7)),
                     ("Nesterov", Nesterov(learning_rate=0.04, momentum=0.7))):
    end = trajectory(solver, [-4.0, 2.5])[-1]
    print(f"{name:9s} eps=0.04: J after 60 steps = {0.5 * end @ A @ end:.3g}")

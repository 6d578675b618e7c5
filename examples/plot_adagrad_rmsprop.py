"""
=================================================
AdaGrad's shrinking steps, RMSProp's steady ones
=================================================

Both scale the learning rate of each parameter by the root of its accumulated
squared gradients. AdaGrad sums *all* of them,

.. math:: r \\leftarrow r + g \\odot g, \\qquad
          \\Delta\\theta = -\\frac{\\epsilon}{\\delta + \\sqrt{r}} \\odot g,

so under gradients of steady size its per-parameter rate falls like
:math:`1/\\sqrt{k}` and its steps shrink whether or not the minimum is near.
RMSProp keeps an exponentially decaying average instead,

.. math:: r \\leftarrow \\rho r + (1 - \\rho)\\, g \\odot g, \\qquad
          \\Delta\\theta = -\\frac{\\epsilon}{\\sqrt{\\delta + r}} \\odot g,

which forgets the distant past: the step stays about :math:`\\epsilon` per
parameter as long as the gradients keep their size.

The function is :math:`J(\\theta) = \\sqrt{1 + \\theta_1^2} + 10\\sqrt{1 +
\\theta_2^2}`: far from its minimum at the origin, each gradient component has
a nearly constant size (1 and 10), the regime where the difference shows. Both
solvers use :math:`\\epsilon = 0.1`.
"""

import matplotlib.pyplot as plt
import numpy as np

from skopt_nn.solvers import AdaGrad, RMSProp

scale = np.array([1.0, 10.0])


class SoftAbs:
    """``objective(theta) -> (loss, grad)`` of J above."""

    def __call__(self, theta):
        root = np.sqrt(1 + theta**2)
        return float(scale @ root), scale * theta / root


def run(solver, start=(-8.0, 3.0), n_steps=300):
    theta = np.array(start)
    state = solver.init_state(theta)
    path, rates = [theta.copy()], []
    for _ in range(n_steps):
        solver.step(theta, SoftAbs(), state)
        path.append(theta.copy())
        rates.append(learning_rates(solver, state))
    return np.array(path), np.array(rates)


def learning_rates(solver, state):
    """The per-parameter rate of the next update, read off the solver's state."""
    eps, delta = solver.learning_rate, solver.epsilon
    if isinstance(solver, AdaGrad):
        return eps / (delta + np.sqrt(state["sum_sq_grad"]))
    return eps / np.sqrt(delta + state["mean_sq_grad"])


runs = {"AdaGrad": run(AdaGrad(learning_rate=0.1)),
        "RMSProp": run(RMSProp(learning_rate=0.1, rho=0.9))}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained")
x, y = np.meshgrid(np.linspace(-9, 2, 221), np.linspace(-1.5, 3.5, 101))
axes[0].contour(x, y, np.sqrt(1 + x**2) + 10 * np.sqrt(1 + y**2), levels=15,
                colors="0.75", linewidths=0.8)
for (name, (path, rates)), color in zip(runs.items(), ("C0", "C1")):
    axes[0].plot(path[:, 0], path[:, 1], ".-", color=color, markersize=3,
                 linewidth=0.8, label=name)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    axes[1].loglog(np.arange(1, len(steps) + 1), steps, color=color, label=name)
    axes[2].loglog(np.arange(1, len(rates) + 1), rates[:, 0], color=color,
                   label=rf"{name}, $\theta_1$")
    axes[2].loglog(np.arange(1, len(rates) + 1), rates[:, 1], "--", color=color,
                   label=rf"{name}, $\theta_2$")
axes[0].plot(0, 0, "k*", markersize=9)
axes[0].set_title("300 steps from (-8, 3)")
axes[0].legend()
axes[1].set_title(r"step length $\|\Delta\theta\|$")
axes[1].set_xlabel("step")
axes[1].legend()
axes[2].set_title("per-parameter learning rate")
axes[2].set_xlabel("step")
axes[2].legend(fontsize="small")
plt.show()

for name, (path, _) in runs.items():
    print(f"{name:8s} theta after 300 steps: {np.round(path[-1], 3)}")

# %%
# AdaGrad's steps shrink like :math:`1/\sqrt{k}` from the start, so after 300
# steps it has travelled only about :math:`2\epsilon\sqrt{300} \approx 3.5`
# per coordinate: it is still far from the minimum along :math:`\theta_1`.
# RMSProp moves about :math:`\epsilon` per coordinate and step until it
# arrives (more during its first ten or so steps: :math:`r` starts at 0 and
# needs about :math:`1/(1-\rho)` steps to reach the mean square, the bias
# that Adam's correction :math:`\hat r = r / (1 - \rho_2^t)` removes); there
# its average of squared gradients shrinks with the gradients,
# so the step stays near :math:`\epsilon` and it jitters around the minimum at
# that scale (a decaying :math:`\epsilon` would settle it). Both normalize each
# coordinate by its own gradient scale, so the tenfold steeper
# :math:`\theta_2` does not move ten times faster: the paths start out
# diagonal.

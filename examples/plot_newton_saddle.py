"""
=====================================================
Newton's method is attracted to saddle points
=====================================================

The lecture's Newton step :math:`\\Delta\\theta = -H^{-1} g` jumps to the
critical point of the local quadratic model. Where :math:`H` has a negative
eigenvalue that critical point is a saddle (or a maximum) of the model, and the
step goes *up* along that eigenvector, toward it: plain Newton converges to any
critical point nearby, and in high dimension most critical points are saddles.

:class:`~skopt_nn.solvers.Newton`'s default ``saddle_free=True`` replaces each
eigenvalue :math:`\\lambda_i` by :math:`|\\lambda_i|` (Dauphin et al., 2014),
so the step goes downhill along every eigenvector; where :math:`H` is
indefinite it also adds :math:`0.01\\,\\|g\\|^{1/2}` to each (Mishchenko,
2023), so that eigenvalues passing near zero cannot make the step explode. With
``saddle_free=False, line_search=False`` (and ``damping=0``) it is exactly the
lecture's algorithm.

The function :math:`J(\\theta) = \\theta_1^2 + \\theta_2^4/4 - \\theta_2^2/2` has
minima at :math:`(0, \\pm 1)` and a saddle at the origin; its Hessian
:math:`\\mathrm{diag}(2,\\ 3\\theta_2^2 - 1)` is indefinite in the band
:math:`|\\theta_2| < 1/\\sqrt{3}`.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from skopt_nn.solvers import Newton


class SaddleFunction:
    """``objective(theta) -> (loss, grad)`` and ``objective.hvp(theta, v)``."""

    def __call__(self, theta):
        a, b = theta
        return a**2 + b**4 / 4 - b**2 / 2, np.array([2 * a, b**3 - b])

    def hvp(self, theta, v):
        H = np.diag([2.0, 3 * theta[1] ** 2 - 1])
        return H @ v  # v may be a matrix (Newton asks for H @ I)


def path(solver, start, n_steps=12):
    theta = np.array(start, dtype=float)
    state = solver.init_state(theta)
    points = [theta.copy()]
    for _ in range(n_steps):
        solver.step(theta, SaddleFunction(), state)
        points.append(theta.copy())
    return np.array(points)


STARTS = [(1.5, 0.3), (-1.2, -0.25), (0.8, 0.1)]
lecture = Newton(saddle_free=False, line_search=False)
default = Newton()

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    lecture_paths = [path(lecture, s) for s in STARTS]
print("The lecture's Newton warns:", caught[0].message)
default_paths = [path(default, s) for s in STARTS]

# %%
# Three starting points inside the indefinite band. The lecture's Newton
# (left) goes straight to the saddle; saddle-free Newton (right) leaves it and
# reaches a minimum in a few steps.

a, b = np.meshgrid(np.linspace(-2, 2, 161), np.linspace(-1.6, 1.6, 129))
J = a**2 + b**4 / 4 - b**2 / 2
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
titles = ("lecture: saddle_free=False, line_search=False", "default: saddle_free=True")
for ax, paths, title in zip(axes, (lecture_paths, default_paths), titles):
    ax.contour(a, b, J, levels=20, colors="0.75", linewidths=0.8)
    ax.axhspan(-1 / np.sqrt(3), 1 / np.sqrt(3), color="C3", alpha=0.07)
    for p, color in zip(paths, ("C0", "C1", "C2")):
        ax.plot(p[:, 0], p[:, 1], "o-", color=color, markersize=3)
    ax.plot([0, 0], [-1, 1], "k*", markersize=9)
    ax.plot(0, 0, "kx", markersize=9, markeredgewidth=2)
    ax.set_title(title)
    ax.set_xlabel(r"$\theta_1$")
axes[0].set_ylabel(r"$\theta_2$")
plt.show()

# %%
# Where does each variant end? :math:`J` is separable and quadratic in
# :math:`\theta_1` (one Newton step solves that coordinate once :math:`H` is
# positive definite), so the end point depends on the start's :math:`\theta_2`
# only. The lecture's Newton converges to the saddle from most of the band
# where the Hessian is indefinite; near the band's edges the curvature is close
# to zero, the step is huge and lands anywhere. The saddle-free default reaches
# a minimum from every start, :math:`\theta_2 = 0` included: there the
# gradient has no component that could lead away from the saddle, but the
# negative curvature does, and the default follows it where the gradient's
# steps gain nothing (see :class:`~skopt_nn.solvers.Newton`).


def end_point(solver, start):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return path(solver, start, n_steps=30)[-1]


starts = np.linspace(-1.5, 1.5, 301)
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
ax.axvspan(-1 / np.sqrt(3), 1 / np.sqrt(3), color="C3", alpha=0.07,
           label="H indefinite")
for solver, title, marker in zip((lecture, default), titles, ("o", ".")):
    ends = np.array([end_point(solver, (1.0, s))[1] for s in starts])
    ax.plot(starts, np.clip(ends, -2, 2), marker, markersize=3, label=title)
ax.set_xlabel(r"start $\theta_2$")
ax.set_ylabel(r"$\theta_2$ after 30 steps (clipped to $\pm 2$)")
ax.set_yticks([-2, -1, 0, 1, 2])
ax.legend(loc="upper left", fontsize="small")
plt.show()

"""
=====================================================
Ill conditioning: when a gradient step goes uphill
=====================================================

The lecture expands the objective to second order along the gradient
:math:`g`: a step of size :math:`\\epsilon` changes it by about

.. math::
    -\\epsilon\\, g^T g + \\tfrac12 \\epsilon^2\\, g^T H g,

which is positive, a step that *raises* the loss, when
:math:`\\epsilon > 2\\, g^T g / g^T H g`. That bound is the critical learning
rate of :func:`~skopt_nn.diagnostics.gradient_curvature`. Over the whole
space, gradient descent is only stable where :math:`\\epsilon <
2/\\lambda_{\\max}`, with :math:`\\lambda_{\\max}` the largest eigenvalue of
:math:`H` (:func:`~skopt_nn.diagnostics.hessian_eigenvalues`, by Lanczos
iteration on Hessian-vector products).

Here full-batch gradient descent trains a tanh network on the digits, one
step per ``partial_fit`` call, with the same initialization and two learning
rates, and both quantities are measured after every step.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skopt_nn import MLPClassifier
from skopt_nn.diagnostics import (gradient_curvature, hessian, hessian_eigenvalues,
                                  hessian_trace)
from skopt_nn.solvers import SGD

X, y = load_digits(return_X_y=True)
X = X / 16.0
N_STEPS = 150


def train(learning_rate):
    """Losses, critical learning rates and 2 / lambda_max, step by step."""
    model = MLPClassifier((32,), activation="tanh", batch_size=len(X),
                          solver=SGD(learning_rate=learning_rate), random_state=0)
    losses, critical, stable = [], [], []
    for step in range(N_STEPS):
        model.partial_fit(X, y, classes=np.unique(y))  # one full-batch step
        measured = gradient_curvature(model, X, y)
        losses.append(measured.loss)
        critical.append(measured.critical_learning_rate)
        if step % 10 == 0:
            largest = hessian_eigenvalues(model, X, y, k=1, which="largest",
                                          tol=1e-4, random_state=0)[0]
            stable.append((step, 2.0 / largest))
    return model, np.array(losses), np.array(critical), np.array(stable)


runs = {eps: train(eps) for eps in (0.5, 2.0)}

# %%
# With :math:`\epsilon = 0.5` every step stays below both bounds and the loss
# falls monotonically. With :math:`\epsilon = 2` the first steps overshoot:
# :math:`\epsilon` is above the critical rate (red dots), the loss climbs and
# oscillates for a hundred steps, until the iterates reach a region flat enough
# that :math:`2/\lambda_{\max}` exceeds :math:`\epsilon` (right). From there
# on gradient descent converges within a few steps and catches up with the
# smaller rate. Neither bound is a property of the network alone: both change
# with the point, and the large rate ends in a flatter region than the small
# one.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for eps, (_, losses, critical, stable) in runs.items():
    steps = np.arange(1, N_STEPS + 1)
    line, = axes[0].plot(steps, losses, label=f"$\\epsilon$ = {eps}")
    uphill = critical < eps
    axes[0].plot(steps[uphill], losses[uphill], ".", color="C3")
    axes[1].plot(stable[:, 0] + 1, stable[:, 1], color=line.get_color(),
                 label=f"$2/\\lambda_{{max}}$, $\\epsilon$ = {eps}")
    axes[1].axhline(eps, color=line.get_color(), linestyle=":", linewidth=1)
axes[0].plot([], [], ".", color="C3", label="$\\epsilon$ > critical rate")
axes[0].set(xlabel="step", ylabel="training loss", yscale="log",
            title="full-batch gradient descent")
axes[0].legend()
axes[1].set(xlabel="step", ylabel="learning rate", yscale="log",
            title="stable learning rates (dotted: the rate used)")
axes[1].legend()
plt.show()

# %%
# The lecture's test, checked step by step on the run with
# :math:`\epsilon = 2`: where :math:`\epsilon` exceeds the critical rate, how
# often did the next step raise the loss, and elsewhere, lower it? The
# second-order model is local, so the prediction is a tendency, not a law.

_, losses, critical, _ = runs[2.0]
rose = np.diff(losses) > 0
predicted = critical[:-1] < 2.0
print(f"steps predicted to overshoot: {predicted.sum()}, of which the loss rose "
      f"at {rose[predicted].sum()}")
print(f"steps predicted to descend:   {(~predicted).sum()}, of which the loss fell "
      f"at {(~rose[~predicted]).sum()}")

# %%
# At the end of the run, the ends of the spectrum by Lanczos iteration agree
# with the full Hessian's eigenvalues (2,410 parameters: its 5.8 million
# entries take one block of products per 256 columns). Its negative
# eigenvalues say the point is not a minimum yet; the trace, estimated from
# 64 random products, is the sum of all the eigenvalues.

model = runs[2.0][0]
ends = hessian_eigenvalues(model, X, y, k=4, random_state=0)
spectrum = np.linalg.eigvalsh(hessian(model, X, y))
trace = hessian_trace(model, X, y, n_probes=64, random_state=0)
print("Lanczos, 2 + 2 ends:", np.round(ends, 5))
print("dense H, 2 + 2 ends:", np.round(spectrum[[0, 1, -2, -1]], 5))
print(f"trace: {trace.trace:.3f} +- {trace.standard_error:.3f} "
      f"(exact {spectrum.sum():.3f})")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.hist(spectrum, bins=200, log=True, color="0.6")
for value in ends:
    ax.axvline(value, color="C3", linewidth=1)
ax.set(xlabel="eigenvalue of H", ylabel="count",
       title="the Hessian's spectrum (red: the Lanczos estimates)")
plt.show()

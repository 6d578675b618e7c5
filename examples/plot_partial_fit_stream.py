"""
=================================
Learning from a stream
=================================

The lecture's stochastic gradient descent works on a stream: each minibatch is
drawn fresh from the data-generating distribution, so SGD "minimizes the
generalization error" directly, never seeing a row twice. ``partial_fit``
does one pass over the rows it is given and keeps the weights *and the solver's
state* (momentum's velocity, Adam's moment estimates, the update counter a
schedule reads) for the next call.

Here the digits arrive in chunks of 64 rows (four minibatches of 16). Each
chunk is first used to measure the accuracy of the current model on rows it has
never seen (the "prequential" evaluation of streaming learners), then to train
on. With batch
normalization, ``partial_fit`` keeps running averages of the minibatch
statistics (:class:`~skopt_nn.BatchNorm`'s ``momentum``) for inference.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.utils import shuffle

from skopt_nn import BatchNorm, MLPClassifier
from skopt_nn.solvers import Adam, Momentum

X, y = load_digits(return_X_y=True)
X, y = shuffle(X / 16, y, random_state=0)
classes = np.unique(y)
chunk = 64

common = dict(hidden_layer_sizes=(64,), batch_size=16, random_state=0)
learners = {
    "Momentum": MLPClassifier(solver=Momentum(learning_rate=0.05), **common),
    "Adam": MLPClassifier(solver=Adam(learning_rate=0.003), **common),
    "Adam + batch norm": MLPClassifier(solver=Adam(learning_rate=0.003),
                                       batch_norm=BatchNorm(momentum=0.1), **common),
}
accuracy = {name: [] for name in learners}
for start in range(0, len(X) - chunk + 1, chunk):
    X_chunk, y_chunk = X[start:start + chunk], y[start:start + chunk]
    for name, clf in learners.items():
        if start:  # not fitted before the first chunk
            accuracy[name].append(clf.score(X_chunk, y_chunk))
        # the classes must be known from the first call: a chunk may miss some
        clf.partial_fit(X_chunk, y_chunk, classes=classes)

for name, clf in learners.items():
    print(f"{name:18s} updates: {clf.solver_state_['step']:3d}, rows seen: {clf.t_}")

# %%
# Accuracy on each incoming chunk, before training on it (a moving average
# over 5 chunks smooths the chunk-to-chunk noise).

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
seen = np.arange(1, len(accuracy["Adam"]) + 1) * chunk
for name, values in accuracy.items():
    smooth = np.convolve(values, np.ones(5) / 5, mode="valid")
    ax.plot(seen[4:], smooth, label=name)
ax.set_xlabel("rows seen")
ax.set_ylabel("accuracy on the next, unseen chunk")
ax.set_ylim(0, 1)
ax.legend(loc="lower right")
plt.show()

# %%
# Every row is used once, for evaluation and then for training, so the
# accuracy on the next chunk estimates the generalization of the model at
# each point of the stream. A second pass over the same data would no longer
# be a stream: SGD would then minimize the training (empirical) risk.

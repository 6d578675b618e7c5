"""
========================================
Training on a dask array, block by block
========================================

A dask array need never be computed as a whole: ``dask_ml``'s ``Incremental``
trains on it one block of rows at a time, through ``partial_fit``, which keeps
the solver's state (here Adam's moment estimates and update counter) from one
block to the next. Each call to ``Incremental.partial_fit`` is one pass over
the blocks, in an order shuffled anew (a ``RandomState`` instance, not an
integer, so that each pass draws another order).

The rows here are generated lazily: 400,000 rows of 20 features in blocks of
20,000, whose label is a nonlinear rule of four features; the array is never
computed as a whole (with ``dask.config.set(scheduler="sync")``, at most one
block is in memory; dask's default threaded scheduler computes a few ahead).
After each pass, the model is scored on held-out rows, and at the end
``ParallelPostFit`` predicts a dask array lazily, block by block.
"""

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from dask_ml.wrappers import Incremental, ParallelPostFit

from skopt_nn import MLPClassifier
from skopt_nn.solvers import Adam


def rows(n_rows, seed, block=20_000):
    """A lazily generated classification problem."""
    X = da.random.default_rng(seed).standard_normal((n_rows, 20), chunks=(block, 20))
    score = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) - 0.5 * X[:, 3]
    return X, (score > 0).astype(int)


X, y = rows(400_000, seed=0)
X_test, y_test = (a.compute() for a in rows(20_000, seed=1))

model = Incremental(MLPClassifier((64,), solver=Adam(learning_rate=3e-3),
                                  random_state=0),
                    shuffle_blocks=True, random_state=np.random.RandomState(0))
accuracy = []
for epoch in range(4):
    model.partial_fit(X, y, classes=[0, 1])
    accuracy.append(model.estimator_.score(X_test, y_test))
    print(f"pass {epoch + 1}: {model.estimator_.solver_state_['step']} updates, "
          f"held-out accuracy {accuracy[-1]:.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(1, len(accuracy) + 1), accuracy, marker="o")
ax.set_xlabel("passes over the 400,000 rows (20 blocks each)")
ax.set_ylabel("held-out accuracy")
ax.set_title("Adam, streamed block by block from a dask array")
fig.tight_layout()

# %%
# Lazy prediction: ``ParallelPostFit`` wraps a fitted model (``fit`` on rows in
# memory; here the streamed model itself, fitted already) and predicts a dask
# array block by block, returning a dask array with the rows' chunks.
predictor = ParallelPostFit(model.estimator_)
labels = predictor.predict(X)
print(labels)
print("accuracy on the first 100,000 training rows:",
      float((labels[:100_000] == y[:100_000]).mean().compute()))

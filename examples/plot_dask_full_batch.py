"""
======================================
L-BFGS on a dask array, chunk by chunk
======================================

A full-batch solver (L-BFGS, Newton) evaluates the objective on every row at
every step. When ``fit`` gets the rows as a dask array, each evaluation (and
each of Newton's Hessian-vector products) is one dask computation: a task per chunk of rows
computes that chunk's share of the loss and gradient where the chunk is, and
the shares are added pairwise, so the solver receives one gradient and the rows
are never gathered in one place.

The rows here are generated lazily: 100,000 rows of 20 features in chunks of
12,500, never computed as a whole (each evaluation generates each chunk again,
as a chunk read from storage would be read again; ``persist()`` keeps chunks in
the workers' memory). The same fit on the computed array, in memory, follows
the same steps: the two loss curves agree to rounding.
"""

import time
import warnings

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skopt_nn import MLPClassifier
from skopt_nn.solvers import LBFGS


def rows(n_rows, seed, chunk=12_500):
    """A lazily generated classification problem."""
    X = da.random.default_rng(seed).standard_normal((n_rows, 20), chunks=(chunk, 20))
    score = X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) - 0.5 * X[:, 3]
    return X, (score > 0).astype(int)


X, y = rows(100_000, seed=0)
X_test, y_test = (a.compute() for a in rows(20_000, seed=1))
X_memory, y_memory = X.compute(), y.compute()

params = dict(hidden_layer_sizes=(16,), solver=LBFGS(), max_iter=40, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # (max_iter, on purpose)
    start = time.perf_counter()
    chunked = MLPClassifier(**params).fit(X, y)
    seconds = time.perf_counter() - start
    in_memory = MLPClassifier(**params).fit(X_memory, y_memory)
gap = np.max(np.abs(np.array(chunked.loss_curve_) - in_memory.loss_curve_))
print(f"{chunked.n_iter_} iterations on 8 chunks in {seconds:.1f} s, held-out "
      f"accuracy {chunked.score(X_test, y_test):.4f} (in memory: "
      f"{in_memory.score(X_test, y_test):.4f}); largest difference between the "
      f"loss curves {gap:.1e}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(chunked.loss_curve_, label="chunk by chunk (dask)")
ax.semilogy(in_memory.loss_curve_, linestyle=":", color="black", label="in memory")
ax.set_xlabel("L-BFGS iteration")
ax.set_ylabel("training loss")
ax.set_title("L-BFGS on a lazy dask array of 100,000 rows")
ax.legend()
fig.tight_layout()

"""At scale on dask: streams of blocks, lazy prediction, searches on a cluster.

These tests pin down what the standard tools give with skopt_nn (a full-batch
solver's own evaluation of a dask array's chunks is tested in
tests/test_chunked.py). ``dask_ml.wrappers.Incremental`` trains on a dask
array block by block through ``partial_fit`` (the solver's state carried from
block to block, each call getting one block), exactly as the same
``partial_fit`` calls on NumPy blocks; ``ParallelPostFit`` predicts lazily,
block by block; ``GridSearchCV`` under joblib's dask backend fits on a cluster's
worker processes and scores as it does locally.
"""

import warnings

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, LocalCluster
from scipy import sparse
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skopt_nn import MLPClassifier, MLPRegressor
from skopt_nn.solvers import Adam, Momentum

CLASSES = np.arange(10)
BLOCK = 300  # rows per block: one full minibatch of 200 and one of 100


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _blocks(X, y):
    return da.from_array(X, chunks=(BLOCK, -1)), da.from_array(y, chunks=BLOCK)


def _assert_same_training(a, b):
    """Bit-identical parameters, solver state and counters."""
    assert np.array_equal(a._theta, b._theta)
    assert a.solver_state_.keys() == b.solver_state_.keys()
    for key, value in a.solver_state_.items():
        assert np.array_equal(value, b.solver_state_[key]), key
    assert (a.t_, a.n_iter_, a.loss_curve_) == (b.t_, b.n_iter_, b.loss_curve_)


@pytest.mark.parametrize("solver, chunk", [("adam", sparse.csr_matrix),
                                           ("lbfgs", sparse.csr_matrix),
                                           ("adam", sparse.coo_matrix)])
def test_a_dask_array_of_sparse_chunks_is_fitted_as_the_matrix_they_make(
        digits, solver, chunk):
    # validation took the computed matrix for a scalar ("Expected 2D array, got
    # scalar array"), L-BFGS after warning that the rows would be computed (COO
    # chunks: dask infers no sparse meta for them)
    X, y = digits
    X_blocks = da.from_array(X, chunks=(BLOCK, -1)).map_blocks(chunk, dtype=X.dtype)
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (max_iter; L-BFGS's computed rows)
        on_chunks = MLPClassifier(**params).fit(X_blocks, y)
        in_memory = MLPClassifier(**params).fit(sparse.csr_matrix(X), y)
    _assert_same_training(on_chunks, in_memory)
    np.testing.assert_array_equal(on_chunks.predict_proba(X_blocks),
                                  in_memory.predict_proba(sparse.csr_matrix(X)))


def test_sparse_chunks_that_dask_calls_numpy_are_named_by_a_chunk_by_chunk_fit(digits):
    X, y = digits
    X_blocks = da.from_array(X, chunks=(BLOCK, -1)).map_blocks(sparse.coo_matrix,
                                                                dtype=X.dtype)
    with pytest.raises(TypeError, match="The chunks of X are coo_matrix objects, "
                                        "where dask's metadata says NumPy arrays"):
        MLPClassifier((8,), solver="lbfgs", max_iter=3).fit(X_blocks, y)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("solver", [Momentum(learning_rate=0.05), Adam()])
def test_incremental_trains_as_partial_fit_on_the_same_blocks(digits, solver,
                                                              batch_norm):
    X, y = digits
    X_blocks, y_blocks = _blocks(X, y)
    params = dict(hidden_layer_sizes=(16,), solver=solver, batch_norm=batch_norm,
                  random_state=0)
    streamed = Incremental(MLPClassifier(**params), shuffle_blocks=False)
    by_hand = MLPClassifier(**params)
    for _ in range(2):  # two passes: the second continues the solver's state
        streamed.partial_fit(X_blocks, y_blocks, classes=CLASSES)
        for start in range(0, len(X), BLOCK):
            by_hand.partial_fit(X[start:start + BLOCK], y[start:start + BLOCK],
                                classes=CLASSES)
    _assert_same_training(streamed.estimator_, by_hand)
    # 6 blocks of two minibatches each (the last block, 297 rows, too), per pass
    assert by_hand.solver_state_["step"] == 2 * 6 * 2
    assert by_hand.t_ == 2 * len(X)
    if batch_norm:
        for a, b in zip(streamed.estimator_.bn_mean_ + streamed.estimator_.bn_var_,
                        by_hand.bn_mean_ + by_hand.bn_var_):
            assert np.array_equal(a, b)


def test_incremental_regressor_trains_as_partial_fit(digits):
    X, _ = digits
    target = X[:, 20] - X[:, 43]
    X_blocks, y_blocks = _blocks(X, target)
    params = dict(hidden_layer_sizes=(8,), solver=Adam(), random_state=0)
    streamed = Incremental(MLPRegressor(**params), shuffle_blocks=False)
    streamed.fit(X_blocks, y_blocks)
    by_hand = MLPRegressor(**params)
    for start in range(0, len(X), BLOCK):
        by_hand.partial_fit(X[start:start + BLOCK], target[start:start + BLOCK])
    _assert_same_training(streamed.estimator_, by_hand)


class _BlockRecorder(MLPClassifier):
    """Records the rows of each partial_fit call."""

    calls = []

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        type(self).calls.append((type(X), X.shape))
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_each_partial_fit_call_holds_one_block_in_memory():
    # a lazily generated array: never computed as a whole
    rows, block = 20_000, 2_000
    X = da.random.default_rng(0).standard_normal((rows, 20), chunks=(block, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    _BlockRecorder.calls = []
    model = Incremental(_BlockRecorder(hidden_layer_sizes=(8,), random_state=0),
                        shuffle_blocks=True, random_state=0)
    model.fit(X, y, classes=[0, 1])
    assert _BlockRecorder.calls == [(np.ndarray, (block, 20))] * (rows // block)
    # and it trains as partial_fit on the blocks in the order dask-ml draws
    order = np.arange(rows // block)
    np.random.RandomState(0).shuffle(order)
    X, y = X.compute(), y.compute()
    by_hand = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for k in order:
        rows_k = slice(k * block, (k + 1) * block)
        by_hand.partial_fit(X[rows_k], y[rows_k], classes=[0, 1])
    _assert_same_training(model.estimator_, by_hand)


def test_shuffled_blocks_are_reproducible(digits):
    X_blocks, y_blocks = _blocks(*digits)

    def stream():
        model = Incremental(MLPClassifier((16,), solver=Adam(), random_state=0),
                            shuffle_blocks=True, random_state=np.random.RandomState(0))
        for _ in range(3):
            model.partial_fit(X_blocks, y_blocks, classes=CLASSES)
        return model.estimator_

    _assert_same_training(stream(), stream())


@pytest.mark.parametrize("model", [
    MLPClassifier((16,), max_iter=30, random_state=0),
    MLPRegressor((16,), max_iter=30, random_state=0),
])
def test_lazy_prediction_block_by_block_equals_predict(digits, model):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (30 epochs: not converged)
        wrapped = ParallelPostFit(model).fit(X, y)
    X_blocks, _ = _blocks(X, y)
    lazy = wrapped.predict(X_blocks)
    assert isinstance(lazy, da.Array)
    assert lazy.chunks[0] == X_blocks.chunks[0]
    # a row's products do not depend on the other rows of its call
    np.testing.assert_allclose(lazy.compute(), model.predict(X), rtol=1e-12)
    if hasattr(model, "predict_proba"):
        assert np.array_equal(lazy.compute(), model.predict(X))
        np.testing.assert_allclose(wrapped.predict_proba(X_blocks).compute(),
                                   model.predict_proba(X), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("solver", ["adam", "momentum"])
def test_fit_on_a_dask_array_computes_it_and_trains_as_on_numpy(digits, solver):
    # (stochastic solvers; a full-batch solver evaluates the chunks where they
    # are instead: tests/test_chunked.py)
    X, y = digits
    X_blocks, y_blocks = _blocks(X, y)
    params = dict(hidden_layer_sizes=(16,), solver=solver, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (15 iterations: not converged)
        from_dask = MLPClassifier(**params).fit(X_blocks, y_blocks)
        from_numpy = MLPClassifier(**params).fit(X, y)
    _assert_same_training(from_dask, from_numpy)
    assert isinstance(from_dask.predict(X_blocks), np.ndarray)


@pytest.mark.slow
def test_grid_search_over_solver_hyperparameters_on_a_cluster(digits):
    X, y = digits
    search = GridSearchCV(
        MLPClassifier((16,), solver=Momentum(), max_iter=10, random_state=0),
        {"solver__learning_rate": [0.01, 0.1], "solver__momentum": [0.5, 0.9]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (10 epochs: not converged)
        local = search.fit(X, y).cv_results_
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, \
                Client(cluster), joblib.parallel_backend("dask"):
            remote = search.fit(X, y).cv_results_
    # each fit on a worker process (one BLAS thread there, as dask sets it)
    # scores as the same fit here
    assert np.array_equal(remote["mean_test_score"], local["mean_test_score"])
    assert remote["params"] == local["params"]
    assert search.best_params_ == {"solver__learning_rate": 0.1, "solver__momentum": 0.9}


def test_a_stream_under_the_distributed_scheduler_trains_as_locally(digits):
    X_blocks, y_blocks = _blocks(*digits)

    def stream():
        model = Incremental(MLPClassifier((16,), solver=Adam(), random_state=0),
                            shuffle_blocks=False)
        model.partial_fit(X_blocks, y_blocks, classes=CLASSES)
        return model.estimator_

    local = stream()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        assert dask.config.get("scheduler", None) == "dask.distributed"
        remote = stream()
    _assert_same_training(remote, local)


def test_incremental_passes_only_the_first_chunk_of_columns(digits):
    # dask-ml's documented-by-us pitfall: X must be one chunk wide
    X, y = digits
    narrow = Incremental(MLPClassifier((8,), random_state=0), shuffle_blocks=False)
    narrow.fit(da.from_array(X, chunks=(BLOCK, 32)), da.from_array(y, chunks=BLOCK),
               classes=CLASSES)
    assert narrow.estimator_.n_features_in_ == 32
    whole = Incremental(MLPClassifier((8,), random_state=0), shuffle_blocks=False)
    whole.fit(da.from_array(X, chunks=(BLOCK, 32)).rechunk({1: -1}),
              da.from_array(y, chunks=BLOCK), classes=CLASSES)
    assert whole.estimator_.n_features_in_ == 64

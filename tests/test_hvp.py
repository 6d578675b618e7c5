"""Exact Hessian-vector products (R-operator) against finite differences."""

import itertools

import numpy as np
import pytest
from scipy import sparse

from skopt_nn import _rop
from skopt_nn._network import Network
from skopt_nn._objective import Objective

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
OUTPUTS = ("softmax", "logistic", "identity", "exp")
L2 = 0.3


def _problem(activation, out, weighted, batch_norm, hidden=(4, 3), seed=0,
             dtype=np.float64):
    """A small network at a random point (BN's gamma, beta random too)."""
    rng = np.random.RandomState(seed)
    n_out = 2 if out == "logistic" else 3
    net = Network([3, *hidden, n_out], activation, out, 1e-2 if batch_norm else None)
    theta = net.initialize(rng, dtype)
    theta += 0.3 * rng.randn(net.n_params).astype(dtype)
    m = 7
    X = rng.randn(m, 3).astype(dtype)
    if out == "softmax":
        Y = np.eye(3)[rng.randint(0, 3, m)]
    elif out == "logistic":
        Y = (rng.rand(m, 2) > 0.5).astype(float)
    elif out == "exp":
        Y = rng.poisson(2.0, size=(m, 3)).astype(float)
    else:
        Y = rng.randn(m, 3)
    s = None
    if weighted:
        w = rng.rand(m) + 0.1
        s = (w / w.sum()).astype(dtype)
    return net, theta, X, Y.astype(dtype), s, rng


def _grad(net, theta, X, Y, s, l2):
    grad = np.empty_like(theta)
    net.loss_grad(theta, X, Y, s, l2, grad)
    return grad


def _central_difference(net, theta, v, X, Y, s, l2, eps=1e-5):
    return (_grad(net, theta + eps * v, X, Y, s, l2)
            - _grad(net, theta - eps * v, X, Y, s, l2)) / (2 * eps)


@pytest.mark.parametrize("activation, out, weighted, batch_norm", list(
    itertools.product(ACTIVATIONS, OUTPUTS, (False, True), (False, True))))
def test_hvp_matches_central_differences_of_gradient(activation, out, weighted,
                                                     batch_norm):
    net, theta, X, Y, s, rng = _problem(activation, out, weighted, batch_norm)
    v = rng.randn(net.n_params)
    hv = net.hvp(theta, v, X, Y, s, L2)
    fd = _central_difference(net, theta, v, X, Y, s, L2)
    assert np.linalg.norm(hv - fd) <= 1e-6 * np.linalg.norm(fd)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_hvp_without_hidden_layer_and_with_three(batch_norm):
    for hidden in ((), (3, 4, 2)):
        net, theta, X, Y, s, rng = _problem("tanh", "softmax", True,
                                            batch_norm and bool(hidden), hidden)
        v = rng.randn(net.n_params)
        fd = _central_difference(net, theta, v, X, Y, s, L2)
        hv = net.hvp(theta, v, X, Y, s, L2)
        assert np.linalg.norm(hv - fd) <= 1e-6 * np.linalg.norm(fd)


def test_hvp_l2_penalty_adds_l2_times_v_on_weights_only():
    net, theta, X, Y, s, rng = _problem("tanh", "softmax", False, True)
    v = rng.randn(net.n_params)
    difference = net.hvp(theta, v, X, Y, s, L2) - net.hvp(theta, v, X, Y, s, 0.0)
    np.testing.assert_allclose(difference, L2 * net.weight_mask() * v,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_assembled_hessian_is_symmetric(batch_norm):
    net, theta, X, Y, s, _ = _problem("logistic", "softmax", True, batch_norm)
    H = net.hvp(theta, np.eye(net.n_params), X, Y, s, L2)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())


def test_hvp_is_linear_in_v():
    net, theta, X, Y, s, rng = _problem("tanh", "identity", True, True)
    u, v = rng.randn(2, net.n_params)
    combined = net.hvp(theta, 2.0 * u - 3.0 * v, X, Y, s, L2)
    separate = 2.0 * net.hvp(theta, u, X, Y, s, L2) - 3.0 * net.hvp(theta, v, X, Y, s, L2)
    np.testing.assert_allclose(combined, separate, rtol=1e-12, atol=1e-12)


def test_block_of_directions_equals_one_product_per_column():
    net, theta, X, Y, s, rng = _problem("relu", "logistic", False, True)
    V = rng.randn(net.n_params, 5)
    block = net.hvp(theta, V, X, Y, s, L2)
    columns = np.column_stack([net.hvp(theta, V[:, j], X, Y, s, L2) for j in range(5)])
    np.testing.assert_allclose(block, columns, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_products_at_one_point_keep_their_results(batch_norm, monkeypatch):
    # The products at one point reuse their arrays (_rop._Scratch): a result
    # kept by the caller (conjugate gradients keep theirs, the exact Hessian
    # its blocks) must not change with the next products, of another block
    # size too (the last block of an exact Hessian is smaller)
    monkeypatch.setattr(_rop, "_BLOCK_ELEMENTS", 3 * 7 * 10)  # blocks of 3
    net, theta, X, Y, s, rng = _problem("tanh", "softmax", True, batch_norm)
    point = net.linearize(theta, X, Y, s, L2)
    V = rng.randn(net.n_params, 7)  # blocks of 3, 3 and 1
    fresh = [net.hvp(theta, V[:, j], X, Y, s, L2) for j in range(7)]
    kept = [net.hvp(theta, V, X, Y, s, L2, point),
            net.hvp(theta, V[:, 0], X, Y, s, L2, point),
            net.hvp(theta, V[:, :2], X, Y, s, L2, point)]
    copies = [k.copy() for k in kept]
    for _ in range(2):  # more products at the point, of every block size
        net.hvp(theta, rng.randn(net.n_params, 5), X, Y, s, L2, point)
        net.hvp(theta, rng.randn(net.n_params), X, Y, s, L2, point)
    for k, c in zip(kept, copies):
        np.testing.assert_array_equal(k, c)
    np.testing.assert_allclose(kept[0], np.column_stack(fresh), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(kept[1], fresh[0], rtol=1e-12, atol=1e-14)


def test_hvp_returns_new_array_and_leaves_inputs_unchanged():
    net, theta, X, Y, s, rng = _problem("tanh", "softmax", True, True)
    v = rng.randn(net.n_params)
    copies = [a.copy() for a in (theta, v, X, Y, s)]
    hv = net.hvp(theta, v, X, Y, s, L2)
    assert hv.shape == (net.n_params,)
    assert not any(np.shares_memory(hv, a) for a in (theta, v, X, Y, s))
    for before, after in zip(copies, (theta, v, X, Y, s)):
        np.testing.assert_array_equal(before, after)


def test_hvp_with_sparse_input_equals_dense():
    net, theta, X, Y, s, rng = _problem("tanh", "softmax", True, True)
    X[X < 0.3] = 0.0
    v = rng.randn(net.n_params)
    np.testing.assert_allclose(net.hvp(theta, v, sparse.csr_matrix(X), Y, s, L2),
                               net.hvp(theta, v, X, Y, s, L2), rtol=1e-12, atol=1e-14)


def test_hvp_in_float32_stays_float32_and_matches_float64():
    net, theta, X, Y, s, rng = _problem("logistic", "softmax", True, True)
    v = rng.randn(net.n_params)
    hv64 = net.hvp(theta, v, X, Y, s, L2)
    hv32 = net.hvp(theta.astype(np.float32), v.astype(np.float32),
                   X.astype(np.float32), Y.astype(np.float32),
                   s.astype(np.float32), L2)
    assert hv32.dtype == np.float32
    assert np.linalg.norm(hv32 - hv64) <= 1e-5 * np.linalg.norm(hv64)


def test_objective_hvp_ignores_gradient_clipping():
    net, theta, X, Y, s, rng = _problem("tanh", "softmax", False, False)
    v = rng.randn(net.n_params)
    clipped = Objective(net, alpha=0.0, max_grad_norm=1e-3).set_batch(X, Y)
    assert np.linalg.norm(clipped(theta)[1]) <= 1e-3 * (1 + 1e-12)
    np.testing.assert_allclose(clipped.hvp(theta, v),
                               net.hvp(theta, v, X, Y, None, 0.0), rtol=1e-14)


def test_hvp_rejects_a_direction_of_the_wrong_length():
    net, theta, X, Y, s, _ = _problem("tanh", "softmax", False, False)
    with pytest.raises(ValueError, match=r"v must have shape \(%d,\)" % net.n_params):
        net.hvp(theta, np.ones(net.n_params + 1), X, Y, s, L2)


@pytest.mark.parametrize("out", OUTPUTS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_assembled_hessian_matches_finite_differences_column_by_column(
        out, weighted, batch_norm, monkeypatch):
    # One direction per R-pass (as on large data): a unit direction leaves whole
    # blocks at zero (e.g. only an output bias moves, or only a gamma or beta of
    # batch normalization), which the R-pass skips and broadcasts; every column
    # must still be the full Hessian column, also with an identity output and no
    # weights.
    monkeypatch.setattr(_rop, "_BLOCK_ELEMENTS", 1)
    net, theta, X, Y, s, _ = _problem("tanh", out, weighted, batch_norm)
    identity = np.eye(net.n_params)
    H = net.hvp(theta, identity, X, Y, s, L2)
    fd = np.column_stack([_central_difference(net, theta, e, X, Y, s, L2)
                          for e in identity])
    assert np.linalg.norm(H - fd) <= 1e-6 * np.linalg.norm(fd)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threaded", [False, True])
def test_objective_hvp_on_row_shards_matches_central_differences(weighted, threaded,
                                                                 monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from skopt_nn import _objective

    monkeypatch.setattr(_objective, "MIN_SHARD_ROWS", 2)  # split these 7 rows
    monkeypatch.setattr(_objective, "MIN_SHARD_ACTIVATIONS", 2)
    net, theta, X, Y, _, rng = _problem("tanh", "softmax", False, False)
    w = rng.rand(X.shape[0]) + 0.1 if weighted else None
    v = rng.randn(net.n_params)
    with ThreadPoolExecutor(1) as executor:
        objective = Objective(net, alpha=0.5, shards=3,
                              executor=executor if threaded else None)
        objective.set_batch(X, Y, w)
        assert len(objective._row_shards) == 3
        hv = objective.hvp(theta, v)
        H = objective.hvp(theta, np.eye(net.n_params))  # a block of directions
        eps = 1e-5
        fd = (objective(theta + eps * v)[1] - objective(theta - eps * v)[1]) / (2 * eps)
    assert np.linalg.norm(hv - fd) <= 1e-6 * np.linalg.norm(fd)
    whole = Objective(net, alpha=0.5).set_batch(X, Y, w)
    np.testing.assert_allclose(hv, whole.hvp(theta, v), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(H @ v, hv, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("shards", [1, 3])
def test_objective_products_at_one_point_share_its_linearization(shards, monkeypatch):
    from skopt_nn import _objective

    monkeypatch.setattr(_objective, "MIN_SHARD_ROWS", 2)  # split these 7 rows
    monkeypatch.setattr(_objective, "MIN_SHARD_ACTIVATIONS", 2)
    net, theta, X, Y, _, rng = _problem("tanh", "softmax", False, False)
    built = []
    linearize = net.linearize
    monkeypatch.setattr(net, "linearize",
                        lambda *args: built.append(1) or linearize(*args))
    objective = Objective(net, alpha=0.5, shards=shards).set_batch(X, Y)
    v, u = rng.randn(2, net.n_params)

    def expected(theta, v):
        return net.hvp(theta, v, X, Y, None, 0.5 / X.shape[0])

    hv, hu = objective.hvp(theta, v), objective.hvp(theta, u)
    assert len(built) == shards  # one linearization per shard, for both products
    np.testing.assert_allclose(hv, expected(theta, v), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hu, expected(theta, u), rtol=1e-10, atol=1e-13)
    # a product at the same point returns the same bits as without the cache
    assert np.array_equal(objective.hvp(theta, v), hv)
    # theta updated in place: a new linearization, at the new values
    theta += 0.1 * u
    np.testing.assert_allclose(objective.hvp(theta, v), expected(theta, v),
                               rtol=1e-10, atol=1e-13)
    assert len(built) == 2 * shards
    # another array with the values the linearization was built at, while the
    # array it was built from (and holds views of) has changed: rebuilt too
    copy = theta.copy()
    theta -= 0.1 * u
    np.testing.assert_allclose(objective.hvp(copy, v), expected(copy, v),
                               rtol=1e-10, atol=1e-13)
    assert len(built) == 3 * shards
    # an evaluation in between ends the run of products (and frees its memory)
    objective(copy)
    objective.hvp(copy, v)
    assert len(built) == 4 * shards
    # a new batch, the same theta: rebuilt from the new rows
    objective.set_batch(X[::-1].copy(), Y[::-1].copy())
    objective.hvp(copy, v)
    assert len(built) == 5 * shards

"""Bounds against a constant (``_elementwise``): bit for bit NumPy's scalar form."""

import numpy as np
import pytest

from skopt_nn._elementwise import _BLOCK, maximum_with, minimum_with

BITS = {np.float64: np.uint64, np.float32: np.uint32}


def _special_values(dtype, n, seed=0):
    """``n`` values mixing the cases where a maximum's result could differ:
    signed zeros, NaNs of both signs, infinities, subnormals, ordinary values."""
    info = np.finfo(dtype)
    specials = np.array([-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf,
                         info.smallest_subnormal, -info.smallest_subnormal,
                         info.tiny, 1.0, -1.0, info.max], dtype)
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n).astype(dtype)
    where = rng.integers(0, n, size=max(1, n // 3)) if n else []
    values[where] = rng.choice(specials, size=len(where))
    return values


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 7, _BLOCK - 1, _BLOCK, _BLOCK + 1, 3 * _BLOCK + 5])
@pytest.mark.parametrize("bound, ufunc", [(maximum_with, np.maximum),
                                          (minimum_with, np.minimum)])
@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, np.inf])
def test_a_bound_equals_numpys_scalar_form_bit_for_bit(dtype, n, bound, ufunc, value):
    z = _special_values(dtype, n)
    expected = ufunc(z, value)
    got = bound(z, value)
    assert got is z
    np.testing.assert_array_equal(got.view(BITS[dtype]), expected.view(BITS[dtype]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_two_dimensional_array_is_bounded_in_place(dtype):
    z = _special_values(dtype, 200 * 100, seed=1).reshape(200, 100)
    expected = np.maximum(z, 0)
    maximum_with(z, 0.0)
    assert z.shape == (200, 100)
    np.testing.assert_array_equal(z.view(BITS[dtype]), expected.view(BITS[dtype]))


def test_the_constant_blocks_are_left_unchanged_and_read_only():
    z = np.full(2 * _BLOCK + 3, -5.0)
    maximum_with(z, 0.0)
    minimum_with(z, -1.0)  # a second constant, then the first again
    maximum_with(z, 0.0)
    np.testing.assert_array_equal(z, 0.0)
    from skopt_nn._elementwise import _constant_block
    block = _constant_block(np.float64(0.0).tobytes(), np.dtype(np.float64))
    assert not block.flags.writeable
    np.testing.assert_array_equal(block, 0.0)


def test_signed_zeros_get_blocks_of_their_own():
    # max(-0.0, 0.0) is the first operand in NumPy: the constant's sign shows
    z = np.zeros(10)
    maximum_with(z, -0.0)
    expected = np.signbit(np.maximum(np.zeros(10), -0.0))
    np.testing.assert_array_equal(np.signbit(z), expected)
    z = -np.zeros(10)
    maximum_with(z, 0.0)
    expected = np.signbit(np.maximum(-np.zeros(10), 0.0))
    np.testing.assert_array_equal(np.signbit(z), expected)


@pytest.mark.parametrize("make", [
    lambda: np.arange(-6.0, 6.0).reshape(3, 4).T,          # F-ordered view
    lambda: np.arange(-12.0, 12.0)[::2],                    # strided view
    lambda: np.arange(-6, 6),                               # integers
])
def test_other_arrays_take_numpys_scalar_form(make):
    z, reference = make(), make()
    maximum_with(z, 0)
    np.testing.assert_array_equal(z, np.maximum(reference, 0))
    assert z.dtype == reference.dtype


def test_a_view_is_bounded_in_its_base():
    base = np.full((4, 3), -1.0)
    maximum_with(base[1:3], 0.0)  # contiguous rows
    np.testing.assert_array_equal(
        base, [[-1, -1, -1], [0, 0, 0], [0, 0, 0], [-1, -1, -1]])

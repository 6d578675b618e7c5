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
    # on a tie of zeros NumPy returns the constant (in float32 and float64):
    # a block of +0.0 would give the wrong sign for -0.0
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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_bounds_predict_proba_uses_equal_the_clip_they_replace(dtype):
    info = np.finfo(dtype)
    P = np.abs(_special_values(dtype, 3 * _BLOCK + 5, seed=2))
    expected = np.clip(P, info.tiny, 1 - info.epsneg)
    got = minimum_with(maximum_with(P, info.tiny), 1 - info.epsneg)
    np.testing.assert_array_equal(got.view(BITS[dtype]), expected.view(BITS[dtype]))


@pytest.mark.parametrize("value", [np.nan, -np.nan, np.float32(0.5), True, 3])
def test_nan_numpy_and_integer_constants_equal_the_scalar_form(value):
    z = _special_values(np.float64, _BLOCK + 3, seed=3)
    expected = np.maximum(z, value)
    maximum_with(z, value)
    np.testing.assert_array_equal(z.view(np.uint64), expected.view(np.uint64))


@pytest.mark.parametrize("make_z, value", [
    # a big-endian array: its constant's bytes would be read in the other order
    (lambda: np.array([1.0, -2.0, 0.25] * 3, ">f8"), 0.5),
    (lambda: np.array([1.0, -2.0, 1e-45] * 3, ">f4"), np.finfo(np.float32).tiny),
    # a wider NumPy constant: NumPy computes in float64, then rounds (float16:
    # -0.0 against float32's tiny, which rounds to +0.0, gives +0.0)
    (lambda: -np.zeros(_BLOCK + 3, np.float16), np.float64(np.finfo(np.float32).tiny)),
    (lambda: np.linspace(-1, 1, 9, dtype=np.float32), np.float64(1 / 3)),
])
def test_arrays_and_constants_the_blocks_do_not_fit_take_the_scalar_form(make_z, value):
    z, reference = make_z(), make_z()
    expected = np.maximum(reference, value, out=reference)
    maximum_with(z, value)
    assert z.dtype == expected.dtype
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[z.dtype.itemsize]
    np.testing.assert_array_equal(z.view(bits), expected.view(bits))


@pytest.mark.parametrize("value", [None, "0.5", np.array([0.0, 5.0, 1.0])])
def test_values_that_are_no_real_scalar_get_numpys_own_answer(value):
    z = np.array([-1.0, 2.0, 3.0])
    try:
        expected = np.maximum(z.copy(), value, out=np.empty_like(z))
    except Exception as error:  # (NumPy's own error, raised the same way)
        with pytest.raises(type(error)):
            maximum_with(z, value)
    else:
        np.testing.assert_array_equal(maximum_with(z, value), expected)


def test_a_read_only_array_is_refused_as_numpy_refuses_it():
    for n in (0, 5):
        z = np.zeros(n)
        z.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            maximum_with(z, 0.0)

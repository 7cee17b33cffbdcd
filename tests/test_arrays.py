"""common.arrays: the short-axis reductions give numpy's own results, bit for bit, in every memory layout."""

from fractions import Fraction

import numpy as np
import pytest

from common.arrays import max_last, max_last2, min_last, sum_last


def _layouts(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """The same kind of data C-ordered, with the reduced axis first in memory, and strided."""
    wide = lambda shape: rng.standard_normal(shape) * 10.0 ** rng.integers(-8, 9, shape)  # noqa: E731
    return [wide((50, 3, n)), np.moveaxis(wide((n, 3, 50)), 0, -1), wide((50, 6, 2 * n))[:, ::2, ::2], wide((n,))]


@pytest.mark.parametrize("n", range(1, 11))
def test_float_reductions_equal_numpys_bit_for_bit(n):
    rng = np.random.default_rng(n)
    for x in _layouts(rng, n):
        assert np.array_equal(sum_last(x), x.sum(axis=-1))
        assert np.array_equal(max_last(x), x.max(axis=-1))
        assert np.array_equal(min_last(x), x.min(axis=-1))
    x = rng.standard_normal((7, 3, n))
    assert np.array_equal(max_last2(x), x.max(axis=(-2, -1)))


def test_nan_propagates_like_numpy():
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    assert np.array_equal(max_last(x), x.max(axis=-1), equal_nan=True)
    assert np.isnan(sum_last(x)[0]) and sum_last(x)[1] == 6.0


def test_fractions_and_scalars():
    x = np.array([[Fraction(1, 3), Fraction(1, 6), Fraction(1, 2)], [Fraction(2, 7), Fraction(0), Fraction(5, 7)]])
    assert list(sum_last(x)) == [Fraction(1), Fraction(1)]
    assert list(max_last(x)) == [Fraction(1, 2), Fraction(5, 7)]
    one = sum_last(x[0])
    assert one == Fraction(1) and not isinstance(one, np.ndarray)  # a 1-D array reduces to a scalar, as with numpy
    single = np.array([[2.0], [3.0]])
    out = sum_last(single)
    out[0] = 9.0
    assert single[0, 0] == 2.0  # a one-entry axis gives a new array, not a view

"""Bad input gets an error that names the problem and the place."""

from __future__ import annotations

import numpy as np
import pytest

from toymdp import MDP, Instance, InvalidInstanceError, RenderingFamily

P2 = [[[1, 0], [0, 1]], [[0, 1], [1, 0]]]
R2 = [[0, 1], [1, 0]]


def family(**kw):
    args = dict(renderers=[np.eye(2)], test_weights=[1], train=[0], train_weights=[1])
    args.update(kw)
    return RenderingFamily(**args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(P=[[[1, 0], [0, 0.97]], [[0, 1], [1, 0]]]), r"MDP\.P\[0, 1\] sums to 0\.97, expected 1 \(row of a stochastic matrix\)"),
        (dict(P=[[[1.1, -0.1], [0, 1]], [[0, 1], [1, 0]]]), r"MDP\.P\[0, 0, 1\] is -0\.1, expected >= 0"),
        (dict(P=[[[np.nan, 1], [0, 1]], [[0, 1], [1, 0]]]), r"MDP\.P\[0, 0, 0\] is nan, expected a finite number"),
        (dict(r=[[0, np.nan], [1, 0]]), r"MDP\.r\[0, 1\] is nan"),
        (dict(gamma=1.0), r"MDP\.gamma is 1, expected 0 <= gamma < 1"),
        (dict(gamma=-0.5), r"MDP\.gamma is -0\.5, expected 0 <= gamma < 1"),
        (dict(gamma="1"), r"MDP\.gamma is 1, expected 0 <= gamma < 1"),
        (dict(r=[[0, 1, 2], [1, 0, 0]]), r"MDP\.r has shape \(2, 3\), expected \(2, 2\) = \(S, A\)"),
        (dict(rho0=[1, 0, 0]), r"MDP\.rho0 has shape \(3,\), expected \(2,\)"),
        (dict(rho0=[0.5, 0.4]), r"MDP\.rho0 sums to 0\.9, expected 1 \(initial distribution\)"),
        (dict(P=[[[1, 0, 0], [0, 1, 0]]]), r"MDP\.P has shape \(1, 2, 3\), expected \(S, A, S\)"),
        (dict(P=[[["1/2", "1/3"], [0, 1]], [[0, 1], [1, 0]]]), r"MDP\.P\[0, 0\] sums to 5/6, expected 1"),
        (dict(r=[["x", 1], [1, 0]]), r"MDP\.r: cannot read 'x' as a number"),
    ],
)
def test_bad_mdp(kwargs, message):
    args = dict(P=P2, r=R2, rho0=[1, 0], gamma=0.9)
    args.update(kwargs)
    with pytest.raises(InvalidInstanceError, match=message):
        MDP(**args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(renderers=[[[1, 0], [0.5, 0.4]]]), r"RenderingFamily\.renderers\[0, 1\] sums to 0\.9, expected 1 \(row of an emission matrix"),
        (dict(train=[]), r"RenderingFamily\.train is empty"),
        (dict(train=[1]), r"RenderingFamily\.train contains 1, expected renderer indices in 0\.\.0"),
        (dict(test_weights=[0.5]), r"RenderingFamily\.test_weights sums to 0\.5, expected 1"),
        (dict(test_weights=[0.5, 0.5]), r"RenderingFamily\.test_weights has shape \(2,\), expected \(1,\)"),
        (dict(train_weights=[0.3]), r"RenderingFamily\.train_weights sums to 0\.3, expected 1"),
        (dict(renderers=np.zeros((0, 2, 2))), r"expected \(K, S, O\) with K >= 1"),
        (dict(renderers=[np.eye(2), np.eye(2)], test_weights=[0.5, 0.5], train=[0, 0], train_weights=[0.5, 0.5]), r"repeats an index"),
    ],
)
def test_bad_family(kwargs, message):
    with pytest.raises(InvalidInstanceError, match=message):
        family(**kwargs)


def test_instance_shape_mismatches():
    mdp = MDP(P2, R2, [1, 0], 0.9)
    with pytest.raises(InvalidInstanceError, match=r"renderers has 3 states .* MDP\.P has 2"):
        Instance(mdp, family(renderers=[np.eye(3)]), np.eye(3)[:, :2], np.eye(3)[:, :2])
    with pytest.raises(InvalidInstanceError, match=r"policies\.pi has shape \(2, 3\), expected \(2, 2\)"):
        Instance(mdp, family(), np.full((2, 3), 1 / 3), np.eye(2))
    with pytest.raises(InvalidInstanceError, match=r"policies\.pi_tilde\[1\] sums to 2, expected 1"):
        Instance(mdp, family(), np.eye(2), [[1, 0], [1, 1]])
    with pytest.raises(InvalidInstanceError, match="mixes exact and float"):
        Instance(mdp.to_exact(), family(), np.eye(2), np.eye(2))


def test_exact_rows_must_sum_to_exactly_one():
    # 1/3 as a float sums to 1 within tolerance; the same row read exactly from decimals does not.
    MDP([[[0.3333333333333333, 0.6666666666666667]]] * 1 + [[[0, 1]]], [[0], [0]], [1, 0], 0.5)
    with pytest.raises(InvalidInstanceError, match=r"sums to 9999999999999999/10000000000000000"):
        MDP([[["0.3333333333333333", "0.6666666666666666"]], [[0, 1]]], [[0], [0]], [1, 0], "1/2")


def test_stack_rejects_different_training_subsets():
    mdp = MDP(P2, R2, [1, 0], 0.9)
    fam2 = dict(renderers=[np.eye(2), np.eye(2)], test_weights=[0.5, 0.5], train_weights=[1])
    a = Instance(mdp, family(train=[0], **fam2), np.eye(2), np.eye(2))
    b = Instance(mdp, family(train=[1], **fam2), np.eye(2), np.eye(2))
    with pytest.raises(InvalidInstanceError, match=r"instance 1 has training subset \[1\], instance 0 has \[0\]"):
        Instance.stack([a, b])
    batch = Instance.stack([a, a])
    assert batch.batch_shape == (2,) and batch[1].family.train == (0,)


def test_exact_row_sums_and_signs_are_decided_as_fraction_arithmetic_decides_them():
    """The integer check of exact rows (over each row's least common denominator) against sums and comparisons
    of fractions, on random rows of small and of 200-bit denominators, a fifth of them made to sum to 1."""
    from fractions import Fraction

    from toymdp.mdp.model import _check_nonnegative, _exact_rows_sum_to_one

    rng = np.random.default_rng(4)
    for big in (False, True):
        rows = []
        for _ in range(300):
            n = int(rng.integers(1, 6))
            den = [int(rng.integers(1, 12)) * (3**120 if big and rng.random() < 0.5 else 1) for _ in range(n)]
            row = [Fraction(int(rng.integers(-3, 12)), d) for d in den]
            if rng.random() < 0.2:
                row[-1] = 1 - sum(row[:-1], Fraction(0))
            rows.append(row + [Fraction(0)] * (5 - n))
        arr = np.array(rows, dtype=object)
        expected = [sum(row, Fraction(0)) == 1 for row in rows]
        assert _exact_rows_sum_to_one(arr).tolist() == expected
        assert any(expected) and not all(expected)
        first_negative = next(((i, j) for i, row in enumerate(rows) for j, v in enumerate(row) if v < 0), None)
        with pytest.raises(InvalidInstanceError, match=rf"x\[{first_negative[0]}, {first_negative[1]}\] is "):
            _check_nonnegative("x", arr, "probability")


def test_integer_ratios_are_the_fractions_of_the_standard_library():
    from fractions import Fraction

    from toymdp.mdp.numbers import integer_ratios

    rng = np.random.default_rng(8)
    n = rng.integers(-50, 51, size=(40, 7))
    d = rng.integers(1, 31, size=(40, 1))
    got = integer_ratios(n, d)
    assert got.shape == (40, 7) and got.dtype == object
    want = [[Fraction(int(a), int(b)) for a, b in zip(row, np.broadcast_to(drow, row.shape))] for row, drow in zip(n, d)]
    assert got.tolist() == want
    # the same canonical form (lowest terms, positive denominator), not only equal values
    assert [(v.numerator, v.denominator) for v in got.reshape(-1)] == [(v.numerator, v.denominator) for r in want for v in r]
    assert all(type(v) is Fraction for v in got.reshape(-1))
    assert integer_ratios(3, 6).tolist() == Fraction(1, 2)
    with pytest.raises(ValueError, match="positive"):
        integer_ratios([1, 2], [3, 0])

"""Engine pieces the statements need: exact conversion of float instances, visitation support,
per-state robustness, and symbolic linear solves."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import given

from theory.quantities import pairwise_tv, robustness, state_robustness
from toymdp import engine, evaluate
from toymdp.numbers import to_exact_stochastic
from toymdp.random_instances import random_instances
from toymdp.strategies import instances


def test_to_exact_of_float_instance_sums_to_one_and_keeps_zeros():
    batch = random_instances(np.random.default_rng(0), 20, 4, 3, 3, 5, sparsity=0.5)
    for i in range(len(batch)):
        inst = batch[i]
        exact = inst.to_exact()  # validation would reject a row that does not sum to exactly 1
        for f, e in ((inst.mdp.P, exact.mdp.P), (inst.family.renderers, exact.family.renderers), (inst.pi, exact.pi)):
            assert ((f == 0) == (e == 0)).all()
            assert np.abs(f - e.astype(float)).max() < 1e-15
        assert exact.mdp.gamma == Fraction(float(inst.mdp.gamma))


def test_to_exact_stochastic_by_hand():
    x = np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]])
    out = to_exact_stochastic(x, max_denominator=10)
    assert out.tolist() == [[Fraction(1, 10), Fraction(1, 5), Fraction(7, 10)], [1, 0, 0]]
    exact = to_exact_stochastic(x)
    assert all(sum(row) == 1 for row in exact.tolist())
    assert exact[0, 0] == Fraction(0.1) and exact[0, 1] == Fraction(0.2)  # the residual goes to the largest entry


@given(instances(exact=True))
def test_visitation_support_is_positive_occupancy(inst):
    ev = evaluate(inst)
    for terms in (ev.pi, ev.pi_tilde):
        support = engine.visitation_support(inst.mdp.P, np.asarray(inst.mdp.gamma)[..., None], inst.mdp.rho0[..., None, :], terms.sigma)
        assert (support == (terms.rho > 0)).all()


def test_visitation_support_by_hand():
    # 0 -> 1 -> 1 under every action; state 2 unreachable; with gamma = 0 only the start is visited.
    P = np.zeros((3, 1, 3))
    P[0, 0, 1] = P[1, 0, 1] = P[2, 0, 0] = 1
    sigma = np.ones((3, 1))
    rho0 = np.array([1.0, 0, 0])
    assert engine.visitation_support(P, 0.5, rho0, sigma).tolist() == [True, True, False]
    assert engine.visitation_support(P, 0.0, rho0, sigma).tolist() == [True, False, False]


@given(instances(exact=True))
def test_state_robustness_is_the_per_state_max_tv(inst):
    sigma = evaluate(inst).pi.sigma
    per_state = state_robustness(sigma)
    assert (per_state == pairwise_tv(sigma).max(axis=(-3, -2))).all()
    assert per_state.max(axis=-1) == robustness(sigma)


def test_symbolic_solve():
    a, b = sp.symbols("a b")
    M = np.array([[1, -a], [0, 1]], dtype=object)
    x = engine.solve(M, np.array([b, 1], dtype=object))
    assert sp.simplify(x[0] - (a + b)) == 0 and x[1] == 1

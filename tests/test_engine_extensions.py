"""Engine pieces the statements need: exact conversion of float instances, visitation support,
per-state robustness, and symbolic linear solves."""

from __future__ import annotations

from collections import deque
from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import given
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from theory.quantities import pairwise_tv, robustness, state_robustness
from toymdp import evaluate
from toymdp.mdp import engine
from toymdp.mdp.numbers import to_exact_stochastic
from toymdp.mdp.random_instances import random_instances
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


def _reachable_by_hand(P: np.ndarray, sigma: np.ndarray, rho0: np.ndarray) -> set[int]:
    """Breadth-first search over the edges s -> s' with sigma[s, a] P[s, a, s'] > 0 for some a."""
    S = P.shape[0]
    seen = {s for s in range(S) if rho0[s] != 0}
    queue = deque(seen)
    while queue:
        s = queue.popleft()
        for t in range(S):
            if t not in seen and any(sigma[s, a] > 0 and P[s, a, t] > 0 for a in range(P.shape[1])):
                seen.add(t)
                queue.append(t)
    return seen


def test_visitation_support_matches_breadth_first_search_on_sparse_batches():
    # Sparse rows (long chains, unreachable states) over a batch of instances with two policies each, some with
    # gamma = 0 (support = start states); checked against a hand BFS and against scipy's graph search.
    rng = np.random.default_rng(7)
    batch, E, S, A = 6, 2, 30, 2
    P = np.zeros((batch, S, A, S))
    for idx in np.ndindex(batch, S, A):
        succ = rng.choice(S, size=rng.integers(1, 3), replace=False)
        P[idx + (succ,)] = 1 / len(succ)
    sigma = (rng.random((batch, E, S, A)) < 0.6).astype(float)
    sigma[..., 0] += sigma.sum(axis=-1) == 0  # every row a distribution with some zero entries
    sigma /= sigma.sum(axis=-1, keepdims=True)
    rho0 = np.zeros((batch, S))
    rho0[np.arange(batch), rng.integers(0, S, size=batch)] = 1
    gamma = np.array([0.9, 0.0, 0.5, 0.0, 0.99, 0.3])
    support = engine.visitation_support(P, gamma[:, None], rho0[:, None, :], sigma)
    assert support.shape == (batch, E, S)
    for b, e in np.ndindex(batch, E):
        if gamma[b] == 0:
            expected = set(np.flatnonzero(rho0[b]).tolist())
        else:
            expected = _reachable_by_hand(P[b], sigma[b, e], rho0[b])
            adjacency = csr_matrix(np.einsum("sa,sat->st", sigma[b, e], P[b]) > 0)
            order = breadth_first_order(adjacency, int(np.flatnonzero(rho0[b])[0]), return_predecessors=False)
            assert set(order.tolist()) == expected
        assert set(np.flatnonzero(support[b, e]).tolist()) == expected
    assert 0 < support[gamma > 0].sum() < support[gamma > 0].size  # neither trivial nor everything


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

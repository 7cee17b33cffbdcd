"""The float and exact engines against textbook values, an independent oracle and exact identities."""

from __future__ import annotations

from fractions import Fraction

import mdptoolbox.mdp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import toymdp.mdp.engine as engine
from toymdp import MDP, evaluate
from toymdp.mdp.random_instances import random_instances
from toymdp.strategies import instances, mdps, stochastic_matrices

from .textbook import GRIDWORLD_OPTIMAL_V, GRIDWORLD_RANDOM_V, gridworld


SOLVERS = ["numpy", pytest.param("torch", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None, reason="torch not installed"))]


@pytest.fixture(params=SOLVERS)
def float_solver(request):
    with engine.float_solver(request.param):
        yield request.param


def _uniform(S, A, exact):
    if exact:
        return np.full((S, A), Fraction(1, A), dtype=object)
    return np.full((S, A), 1.0 / A)


@pytest.mark.parametrize("exact", [False, True])
def test_gridworld_random_policy_matches_sutton_barto(exact, float_solver):
    P, r = gridworld(exact)
    gamma = Fraction(9, 10) if exact else 0.9
    V = engine.values(P, r, gamma, _uniform(25, 4, exact))
    V = np.asarray(V, dtype=float).reshape(5, 5)
    # The book prints one decimal: every value must round to it.
    assert np.all(np.abs(V - GRIDWORLD_RANDOM_V) <= 0.05 + 1e-12), np.round(V, 2)


def test_gridworld_optimal_values_match_sutton_barto():
    P, r = gridworld()
    vi = mdptoolbox.mdp.ValueIteration(np.transpose(P, (1, 0, 2)), r, 0.9, epsilon=1e-10, max_iter=10000)
    vi.run()
    greedy = np.eye(4)[np.asarray(vi.policy)]
    V = engine.values(P, r, 0.9, greedy).reshape(5, 5)
    assert np.all(np.abs(V - GRIDWORLD_OPTIMAL_V) <= 0.05 + 1e-12), np.round(V, 2)


def _explicit_policy_matrices(P, r, sigma):
    S, A, _ = P.shape
    P_sigma = np.zeros((S, S))
    r_sigma = np.zeros(S)
    for s in range(S):
        for a in range(A):
            r_sigma[s] += sigma[s, a] * r[s, a]
            for t in range(S):
                P_sigma[s, t] += sigma[s, a] * P[s, a, t]
    return P_sigma, r_sigma


@given(mdps(st.integers(1, 5), st.integers(1, 3)), st.data())
def test_values_match_pymdptoolbox_policy_evaluation(mdp, data):
    """Oracle: pymdptoolbox's matrix policy evaluation, on deterministic and stochastic policies."""
    S, A = mdp.num_states, mdp.num_actions
    deterministic = data.draw(st.lists(st.integers(0, A - 1), min_size=S, max_size=S))
    # policy0 is set after construction: the library checks policy0 < S where it means < A.
    pi_oracle = mdptoolbox.mdp.PolicyIteration(np.transpose(mdp.P, (1, 0, 2)), mdp.r, float(mdp.gamma) or 1e-300, eval_type=0)
    pi_oracle.policy = np.array(deterministic)
    pi_oracle._evalPolicyMatrix()
    V = engine.values(mdp.P, mdp.r, mdp.gamma, np.eye(A)[deterministic])
    np.testing.assert_allclose(V, np.asarray(pi_oracle.V), rtol=1e-9, atol=1e-9)

    sigma = data.draw(stochastic_matrices(S, A))
    P_sigma, r_sigma = _explicit_policy_matrices(mdp.P, mdp.r, sigma)
    single = mdptoolbox.mdp.PolicyIteration(P_sigma[None], r_sigma[:, None], float(mdp.gamma) or 1e-300,
                                            policy0=np.zeros(S, dtype=int), eval_type=0)
    single.policy = np.zeros(S, dtype=int)
    single._evalPolicyMatrix()
    np.testing.assert_allclose(engine.values(mdp.P, mdp.r, mdp.gamma, sigma), np.asarray(single.V), rtol=1e-9, atol=1e-9)


_FIELDS = ("V", "Q", "A", "rho", "eta", "eps_per_renderer", "eps", "R", "eta_test", "eta_train")


@pytest.mark.parametrize("solver", SOLVERS)
@given(inst=instances(exact=True))
def test_float_engine_agrees_with_exact_engine(solver, inst):
    exact = evaluate(inst)
    with engine.float_solver(solver):
        approx = evaluate(inst.to_float())
    for side in ("pi", "pi_tilde"):
        for name in _FIELDS:
            want = np.asarray(getattr(getattr(exact, side), name), dtype=float)
            got = getattr(getattr(approx, side), name)
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"{side}.{name}")
    for name in ("alpha", "L", "D_train"):
        np.testing.assert_allclose(getattr(approx, name), np.asarray(getattr(exact, name), dtype=float), rtol=1e-9, atol=1e-9, err_msg=name)


@given(instances(exact=True))
def test_exact_identities(inst):
    """Identities that hold with no tolerance: sum(rho) = 1/(1-gamma), sum_a pi A = 0,
    eta = rho . r_pi (the two linear systems are each other's transpose) and L_pi(pi) = eta(pi)."""
    ev = evaluate(inst)
    gamma = inst.mdp.gamma
    for terms in (ev.pi, ev.pi_tilde):
        assert all(x == 1 / (1 - gamma) for x in terms.rho.sum(axis=-1).tolist())
        assert all(x == 0 for x in (terms.sigma * terms.A).sum(axis=-1).reshape(-1).tolist())
        r_sigma = engine.expected_reward(inst.mdp.r[None], terms.sigma)
        assert (terms.rho * r_sigma).sum(axis=-1).tolist() == terms.eta.tolist()
        same = engine.surrogate(terms.eta, terms.rho, terms.A, terms.sigma)
        assert same.tolist() == terms.eta.tolist()


@given(instances(exact=True, same_policy=True))
def test_same_policy_has_zero_divergence(inst):
    ev = evaluate(inst)
    assert ev.D_train == 0 and all(a == 0 for a in ev.alpha.tolist())
    assert ev.L.tolist() == ev.pi.eta.tolist()


@given(instances(exact=True, identical_renderers=True))
def test_identical_renderers_give_zero_robustness(inst):
    ev = evaluate(inst)
    assert ev.pi.R == 0 and ev.pi_tilde.R == 0
    assert len(set(ev.pi.eta.tolist())) == 1


def test_batched_evaluation_equals_one_by_one(float_solver):
    batch = random_instances(np.random.default_rng(3), 17, 4, 3, 3, 5)
    ev = evaluate(batch)
    for i in range(len(batch)):
        one = evaluate(batch[i])
        np.testing.assert_allclose(ev.L[i], one.L, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ev.pi.rho[i], one.pi.rho, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ev.pi_tilde.R[i], one.pi_tilde.R, rtol=0, atol=0)
        assert ev.D_train[i] == one.D_train


def test_exact_random_batch_agrees_with_float():
    batch = random_instances(np.random.default_rng(4), 5, 4, 2, 3, 4, exact=True)
    ev, fl = evaluate(batch), evaluate(batch.to_float())
    np.testing.assert_allclose(fl.L, np.asarray(ev.L, dtype=float), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fl.pi.eta_test, np.asarray(ev.pi.eta_test, dtype=float), rtol=1e-10, atol=1e-10)


def test_gamma_zero_values_are_rewards():
    mdp = MDP([[[1, 0], [0, 1]], [[0, 1], [1, 0]]], [["1/2", -2], [3, 0]], [1, 0], 0)
    sigma = np.array([[Fraction(1, 4), Fraction(3, 4)], [Fraction(1), Fraction(0)]], dtype=object)
    V = engine.values(mdp.P, mdp.r, mdp.gamma, sigma)
    assert V.tolist() == [Fraction(1, 8) - Fraction(3, 2), Fraction(3)]
    rho = engine.occupancy(mdp.P, mdp.gamma, mdp.rho0, sigma)
    assert rho.tolist() == [1, 0]


def test_two_state_chain_by_hand():
    """A hand-solved chain: from state 0 action 0 stays (reward 1), action 1 moves to absorbing state 1 (reward 0).
    The policy stays w.p. 1/2: V0 = 1/2 + gamma/2 V0, so V0 = (1/2)/(1 - gamma/2); with gamma = 1/2, V0 = 2/3."""
    mdp = MDP([[[1, 0], [0, 1]], [[0, 1], [0, 1]]], [[1, 0], [0, 0]], [1, 0], "1/2")
    sigma = np.array([[Fraction(1, 2)] * 2] * 2, dtype=object)
    V = engine.values(mdp.P, mdp.r, mdp.gamma, sigma)
    assert V.tolist() == [Fraction(2, 3), 0]
    # rho0 = 1 at state 0: rho_0 = 1 + gamma/2 rho_0 -> 4/3; total 1/(1-gamma) = 2 -> rho_1 = 2/3.
    assert engine.occupancy(mdp.P, mdp.gamma, mdp.rho0, sigma).tolist() == [Fraction(4, 3), Fraction(2, 3)]
    Q = engine.q_values(mdp.P, mdp.r, mdp.gamma, V)
    assert Q.tolist() == [[1 + Fraction(1, 3), 0], [0, 0]]

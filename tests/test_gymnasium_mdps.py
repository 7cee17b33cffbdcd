"""Gymnasium toy-text environments as tabular MDPs, checked against hand values and simulation."""

from __future__ import annotations

from fractions import Fraction

import mdptoolbox.mdp
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from toymdp import from_gymnasium  # noqa: E402
from toymdp.mdp import engine  # noqa: E402


def _optimal_policy(mdp):
    vi = mdptoolbox.mdp.ValueIteration(np.transpose(np.asarray(mdp.P, dtype=float), (1, 0, 2)),
                                       np.asarray(mdp.r, dtype=float), float(mdp.gamma), epsilon=1e-12, max_iter=100000)
    vi.run()
    return np.asarray(vi.policy), np.asarray(vi.V)


def test_frozenlake_deterministic_optimal_value_is_gamma_to_the_fifth():
    """Non-slippery 4x4 FrozenLake: the shortest path to the goal takes 6 moves and the reward 1 comes
    on the sixth, so V*(start) = gamma^5 exactly."""
    mdp = from_gymnasium(gym.make("FrozenLake-v1", is_slippery=False), gamma="9/10", exact=True)
    assert mdp.num_states == 17 and mdp.num_actions == 4
    policy, _ = _optimal_policy(mdp)
    sigma = np.eye(4, dtype=int)[policy].astype(object)
    V = engine.values(mdp.P, mdp.r, mdp.gamma, sigma)
    assert V[0] == Fraction(9, 10) ** 5


def test_cliffwalking_optimal_value_by_hand():
    """CliffWalking: the optimal path from the start takes 13 steps of reward -1,
    so V*(start) = -(1 - gamma^13) / (1 - gamma)."""
    mdp = from_gymnasium(gym.make("CliffWalking-v1"), gamma="9/10", exact=True)
    policy, _ = _optimal_policy(mdp)
    sigma = np.eye(4, dtype=int)[policy].astype(object)
    V = engine.values(mdp.P, mdp.r, mdp.gamma, sigma)
    g = Fraction(9, 10)
    assert V[36] == -(1 - g**13) / (1 - g)


def test_taxi_optimal_policy_value_matches_value_iteration():
    mdp = from_gymnasium(gym.make("Taxi-v4"), gamma=0.95)
    assert mdp.P.shape == (501, 6, 501)
    policy, V_vi = _optimal_policy(mdp)
    V = engine.values(mdp.P, mdp.r, mdp.gamma, np.eye(6)[policy])
    np.testing.assert_allclose(V, V_vi, atol=1e-6)
    # Hand values: state ((row*5 + col)*5 + passenger)*4 + destination, passenger 4 = in the taxi,
    # destination 0 = R at (0, 0). At R with the passenger: drop off now, +20. One row below R:
    # one move north (-1), then +20 discounted once.
    assert V[16] == pytest.approx(20.0, abs=1e-9)
    assert V[116] == pytest.approx(-1 + 0.95 * 20, abs=1e-9)
    assert V[-1] == 0


def test_slippery_frozenlake_matches_monte_carlo():
    """The uniform random policy on slippery FrozenLake, simulated in the real environment:
    the mean discounted return must match eta within 4 standard errors."""
    gamma = 0.95
    env = gym.make("FrozenLake-v1", is_slippery=True).unwrapped
    mdp = from_gymnasium(env, gamma=gamma)
    sigma = np.full((mdp.num_states, 4), 0.25)
    eta = float(mdp.rho0 @ engine.values(mdp.P, mdp.r, gamma, sigma))
    rng = np.random.default_rng(0)
    returns = []
    for episode in range(4000):
        env.reset(seed=int(rng.integers(2**31)))
        total, discount = 0.0, 1.0
        for _ in range(300):
            _, reward, terminated, _, _ = env.step(int(rng.integers(4)))
            total += discount * reward
            discount *= gamma
            if terminated:
                break
        returns.append(total)
    returns = np.asarray(returns)
    se = returns.std(ddof=1) / np.sqrt(len(returns))
    assert abs(returns.mean() - eta) < 4 * se, (returns.mean(), eta, se)


def test_rejects_non_tabular_env():
    with pytest.raises(TypeError, match="no tabular model"):
        from_gymnasium(gym.make("CartPole-v1"))

"""GAE, written once for the trainer and the estimators: hand computations in both episode conventions, and the
lambda = 1 and lambda = 0 cases against their textbook forms (Monte Carlo return, one-step TD error)."""

from __future__ import annotations

import numpy as np
import pytest

from procgen_checks.advantages import episode_ends_from_starts, gae

torch = pytest.importorskip("torch")
from procgen_checks.rollouts import returns_to_go  # noqa: E402


def test_gae_by_hand_episode_starts_convention():
    # One env, gamma 0.9, lambda 0.8; frame 2 starts a new episode (the action at step 1 ended one).
    rewards = np.array([[1.0], [0.0], [2.0]])
    values = np.array([[0.5], [0.4], [0.3]])
    starts = np.array([[0.0], [0.0], [1.0]])
    ends = episode_ends_from_starts(starts, np.array([0.0]))
    np.testing.assert_array_equal(ends[:, 0], [False, True, False])
    adv = gae(rewards, values, ends, np.array([0.2]), 0.9, 0.8)
    # t=2: 2 + 0.9*0.2 - 0.3 = 1.88;  t=1: episode ends, 0 - 0.4 = -0.4;
    # t=0: delta 1 + 0.9*0.4 - 0.5 = 0.86, A = 0.86 + 0.9*0.8*(-0.4) = 0.572
    np.testing.assert_allclose(adv[:, 0], [0.572, -0.4, 1.88], rtol=1e-12)
    np.testing.assert_allclose((adv + values)[:, 0], [1.072, 0.0, 2.18], rtol=1e-12)


def test_gae_by_hand_episode_ends_convention_with_unknown_tail():
    # V = 1, 2, 3; rewards 0, 1, 0; the action at step 1 ends the episode; gamma = lambda = 0.5; V after the stream
    # unknown. t=2: needs the unknown value -> NaN; t=1: delta = 1 - 2 = -1 (the NaN past the end is dropped);
    # t=0: delta = 0 + 0.5 * 2 - 1 = 0, A = 0 + 0.25 * (-1) = -0.25
    adv = gae(np.array([[0.0], [1.0], [0.0]]), np.array([[1.0], [2.0], [3.0]]), np.array([[False], [True], [False]]),
              np.array([np.nan]), 0.5, 0.5)
    np.testing.assert_array_equal(adv[:2, 0], [-0.25, -1.0])
    assert np.isnan(adv[2, 0])


def test_lambda_one_gives_the_monte_carlo_return_and_lambda_zero_the_td_error():
    rng = np.random.default_rng(0)
    T, E, gamma = 40, 3, 0.9
    rewards = rng.normal(size=(T, E))
    values = rng.normal(size=(T, E))
    ends = rng.random((T, E)) < 0.15
    ends[-1] = True  # every episode ends within the stream
    # lambda = 1: A_t + V_t = sum_l gamma^l r_{t+l} up to the episode's end, whatever V is
    G, complete = returns_to_go(rewards, ends, gamma)
    assert complete.all()
    np.testing.assert_allclose(gae(rewards, values, ends, np.zeros(E), gamma, 1.0) + values, G, rtol=1e-10, atol=1e-10)
    # lambda = 0: A_t = r_t + gamma V_{t+1} (0 after an end) - V_t
    following = np.vstack([values[1:], np.full((1, E), 7.0)])
    td = rewards + gamma * np.where(ends, 0.0, following) - values
    np.testing.assert_allclose(gae(rewards, values, ends, np.full(E, 7.0), gamma, 0.0), td, rtol=1e-12)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same"):
        gae(np.zeros((3, 2)), np.zeros((3, 1)), np.zeros((3, 2), dtype=bool), np.zeros(2), 0.9, 0.9)

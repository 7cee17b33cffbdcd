"""The toy family's properties, checked from the model: optimal actions, nuisance correlations, features."""

from __future__ import annotations

import mdptoolbox.mdp
import numpy as np
import pytest

from toymdp import evaluate
from toymdp.mdp import engine
from toymdp.toy_example.toy import PRESETS, ToyFamilyConfig, build_family, lock_mdp, nuisance_correlation, softmax_policy


@pytest.mark.parametrize("slip", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("correct", [(0, 1, 1, 0, 0), (1, 1, 0), (1, 0)])
def test_correct_actions_are_the_optimal_policy(slip, correct):
    """Oracle: pymdptoolbox's value iteration; its greedy policy is a*."""
    mdp = lock_mdp(correct, slip, 0.9)
    vi = mdptoolbox.mdp.ValueIteration(np.transpose(mdp.P, (1, 0, 2)), mdp.r, 0.9, epsilon=1e-12, max_iter=100000)
    vi.run()
    assert tuple(int(a) for a in vi.policy) == correct


@pytest.mark.parametrize("S", [1, 3, 5])
def test_optimal_return_by_hand_without_slip(S):
    """Without slip the optimal policy collects reward 1 at times S-1, 2S-1, ...: eta* = gamma^(S-1) / (1 - gamma^S)."""
    gamma = 0.9
    toy = build_family(ToyFamilyConfig(lock_length=S, slip=0.0, gamma=gamma,
                                       agent_train=(((0, 1.0),), ((0, -1.0),)), test=((0, 0.0),), num_directions=1))
    optimal = np.eye(2)[list(toy.correct_actions)]
    V = engine.values(toy.mdp.P, toy.mdp.r, gamma, optimal)
    assert V[0] == pytest.approx(gamma ** (S - 1) / (1 - gamma ** S), rel=1e-12)


def _sign_of_background(toy, o: int) -> float:
    S = toy.mdp.num_states
    nuisance = toy.features[o, S:]
    assert np.count_nonzero(nuisance) == 1, "each observation shows exactly one background"
    return float(np.sign(nuisance[np.nonzero(nuisance)[0][0]]))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_backgrounds_predict_the_optimal_action_on_training_renderers_only(preset):
    """Read from the emission matrices: a training renderer with correlation c = +-1 shows, in every
    state, only backgrounds whose sign is c * y(s) (y = +1 iff a*(s) = 0); a test renderer shows both
    signs with probability 1/2 in every state."""
    toy = build_family(PRESETS[preset])
    y = [1.0 if a == 0 else -1.0 for a in toy.correct_actions]
    train = set(toy.agent_renderers[0]) | set(toy.agent_renderers[1])
    assert set(toy.family.train) == train and set(toy.test_renderers).isdisjoint(train)
    for k, (direction, corr) in enumerate(toy.specs):
        F = toy.family.renderers[k]
        for s in range(toy.mdp.num_states):
            shown = {o: F[s, o] for o in np.nonzero(F[s])[0]}
            signs = {o: _sign_of_background(toy, o) for o in shown}
            if k in train:
                assert abs(corr) == 1
                assert all(signs[o] == corr * y[s] for o in shown), (k, s)
            else:
                assert corr == 0
                assert sorted(signs.values()) == [-1.0, 1.0] and all(p == 0.5 for p in shown.values())
    # The same fact as a correlation, under uniform states and under the optimal policy's visitation.
    optimal = np.eye(2)[list(toy.correct_actions)]
    rho = engine.occupancy(toy.mdp.P, toy.mdp.gamma, toy.mdp.rho0, optimal)
    for k, (direction, corr) in enumerate(toy.specs):
        for weights in (None, rho):
            assert nuisance_correlation(toy, k, direction, weights) == pytest.approx(corr, abs=1e-12)


def test_test_weights_cover_test_renderers_only():
    toy = build_family()
    p = toy.family.test_weights
    assert np.all(p[list(toy.test_renderers)] == 1 / len(toy.test_renderers))
    assert np.all(np.delete(p, list(toy.test_renderers)) == 0)


def test_task_only_policy_is_perfectly_robust():
    """With zero nuisance weights the policy reads the state only: R = 0 and every renderer gives the same return."""
    toy = build_family()
    S = toy.mdp.num_states
    W = np.zeros((toy.num_features, 2))
    W[np.arange(S), list(toy.correct_actions)] = 3.0
    pi = softmax_policy(toy.features, W)
    ev = evaluate(toy.instance(pi, pi))
    assert ev.pi.R == 0.0
    assert np.ptp(ev.pi.eta) == 0.0


def test_nuisance_only_policy_acts_uniformly_on_test_renderers():
    """A policy that reads only the background (agent 1's association) is the optimal policy under
    agent 1's renderers when saturated, and under a test renderer it mixes softmax(z) and softmax(-z),
    which for two actions with logits (z, -z) is exactly uniform: the value of the uniform policy."""
    toy = build_family()
    S = toy.mdp.num_states
    W = np.zeros((toy.num_features, 2))
    W[S:, 0], W[S:, 1] = 1.5, -1.5  # plus background -> action 0
    pi = softmax_policy(toy.features, W)
    ev = evaluate(toy.instance(pi, pi))
    uniform = np.full((S, 2), 0.5)
    eta_uniform = engine.expected_return(toy.mdp.rho0, engine.values(toy.mdp.P, toy.mdp.r, toy.mdp.gamma, uniform))
    np.testing.assert_allclose(ev.pi.eta[list(toy.test_renderers)], eta_uniform, rtol=1e-12)
    # Logits (1.5, -1.5) or (-1.5, 1.5): under agent 1's renderers it picks a* w.p. sigmoid(3) in
    # every state; under agent 2's (opposite association), 1 minus that.
    p = 1 / (1 + np.exp(-3.0))
    expected = {0: p, 1: 1 - p}
    for agent in (0, 1):
        for k in toy.agent_renderers[agent]:
            picks = ev.pi.sigma[k][np.arange(S), list(toy.correct_actions)]
            np.testing.assert_allclose(picks, expected[agent], rtol=1e-12)
    assert ev.pi.R == pytest.approx(2 * p - 1, rel=1e-12)  # agent 1's renderer against agent 2's


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lock_length": 0}, "lock_length is 0"),
        ({"slip": 0.5}, "slip is 0.5"),
        ({"gamma": 1.0}, "gamma is 1.0"),
        ({"correct_actions": (0, 2, 0, 0, 0)}, "correct_actions"),
        ({"test": ((3, 0.0),)}, "direction 3 outside 0..1"),
        ({"agent_train": (((0, 1.5),), ((0, 1.0),))}, "correlation 1.5"),
    ],
)
def test_bad_config_names_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ToyFamilyConfig(**kwargs)


def test_config_round_trips_through_json():
    for config in PRESETS.values():
        assert ToyFamilyConfig.from_json(config.to_json()) == config

"""Exact gradients of the (mutual-distillation) objective against finite differences, and training."""

from __future__ import annotations

import numpy as np
import pytest

from theory.quantities import kl
from toymdp.mdp import engine
from toymdp.toy_example.distillation import DistillationConfig, initial_weights, objective, objective_and_gradients, own_return, train, visitation
from common.stats import mean_ci
from toymdp.toy_example.toy import PRESETS, build_family, softmax_policy


def _finite_difference(f, W, h=1e-6):
    grad = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        up, down = W.copy(), W.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (f(up) - f(down)).sum() / (2 * h)
    return grad


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.7])
def test_gradients_match_central_differences(preset, alpha):
    """Both agents' gradients of the total loss, the peer's probabilities not detached, with the
    visitation held at its value at the evaluation point (as the objective prescribes)."""
    toy = build_family(PRESETS[preset])
    rng = np.random.default_rng(7)
    W1, W2 = (rng.normal(0, 1.0, size=(toy.num_features, 2)) for _ in range(2))
    d0 = visitation(toy, W1, W2)
    g1, g2 = objective_and_gradients(toy, W1, W2, alpha).grads
    fd1 = _finite_difference(lambda W: objective(toy, W, W2, alpha, visitation=d0), W1)
    fd2 = _finite_difference(lambda W: objective(toy, W1, W, alpha, visitation=d0), W2)
    scale = max(np.abs(fd1).max(), np.abs(fd2).max())
    np.testing.assert_allclose(g1, fd1, atol=1e-8 * max(scale, 1))
    np.testing.assert_allclose(g2, fd2, atol=1e-8 * max(scale, 1))
    assert np.abs(g1).max() > 1e-4  # a non-trivial point


def test_batched_gradients_equal_one_by_one():
    toy = build_family()
    rng = np.random.default_rng(1)
    W1, W2 = (rng.normal(size=(3, 2, toy.num_features, 2)) for _ in range(2))
    alpha = np.array([[0.0, 0.1], [0.3, 1.0], [2.0, 0.5]])
    batched = objective_and_gradients(toy, W1, W2, alpha)
    for idx in np.ndindex(3, 2):
        one = objective_and_gradients(toy, W1[idx], W2[idx], alpha[idx])
        np.testing.assert_allclose(batched.total[idx], one.total, rtol=1e-12)
        np.testing.assert_allclose(batched.grads[0][idx], one.grads[0], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(batched.grads[1][idx], one.grads[1], rtol=1e-10, atol=1e-14)


def test_policy_gradient_of_the_return_matches_differences_of_the_engine():
    """dJ/dPi by the policy-gradient theorem, against central differences of J computed from engine values."""
    toy = build_family()
    rng = np.random.default_rng(3)
    pi = softmax_policy(toy.features, rng.normal(size=(toy.num_features, 2)))
    grad = own_return(toy, 1, pi).grad_pi
    F = toy.family.renderers[list(toy.agent_renderers[1])]
    gamma = toy.mdp.gamma

    def J(p):  # unconstrained perturbation of Pi's entries (the theorem holds off the simplex too)
        V = engine.values(toy.mdp.P, toy.mdp.r, gamma, engine.state_policy(F, p))
        return (1 - gamma) * engine.expected_return(toy.mdp.rho0, V).mean()

    np.testing.assert_allclose(grad, _finite_difference(J, pi), atol=1e-9)


def test_independent_mode_decouples_the_agents():
    """alpha = 0: agent 1's gradient does not depend on agent 2, and the KL terms do not enter."""
    toy = build_family()
    rng = np.random.default_rng(5)
    W1, W2, W2b = (rng.normal(size=(toy.num_features, 2)) for _ in range(3))
    a = objective_and_gradients(toy, W1, W2, 0.0)
    b = objective_and_gradients(toy, W1, W2b, 0.0)
    np.testing.assert_array_equal(a.grads[0], b.grads[0])
    np.testing.assert_allclose(a.total, -0.5 * (a.J[0] + a.J[1]), rtol=1e-14)


def test_distillation_terms_vanish_for_identical_agents():
    toy = build_family()
    W = np.random.default_rng(6).normal(size=(toy.num_features, 2))
    with_kl = objective_and_gradients(toy, W, W.copy(), 1.0)
    without = objective_and_gradients(toy, W, W.copy(), 0.0)
    assert with_kl.KL == (0.0, 0.0)
    np.testing.assert_allclose(with_kl.grads[0], without.grads[0], atol=1e-15)


def test_kl_term_is_the_visitation_weighted_mean_of_the_kl():
    toy = build_family()
    rng = np.random.default_rng(8)
    W1, W2 = (rng.normal(size=(toy.num_features, 2)) for _ in range(2))
    d1, d2 = visitation(toy, W1, W2)
    assert d1.sum() == pytest.approx(1.0, abs=1e-12) and d2.sum() == pytest.approx(1.0, abs=1e-12)
    # Agent 1's visitation lives on its own renderers' observations only (backgrounds of its renderers).
    seen = toy.family.renderers[list(toy.agent_renderers[0])].sum(axis=(0, 1)) > 0
    assert np.all(d1[~seen] == 0)
    p1, p2 = softmax_policy(toy.features, W1), softmax_policy(toy.features, W2)
    out = objective_and_gradients(toy, W1, W2, 0.4)
    expected = sum(d1[o] * sum(p2[o, a] * np.log(p2[o, a] / p1[o, a]) for a in range(2)) for o in range(len(d1)))
    assert out.KL[0] == pytest.approx(expected, rel=1e-12)
    assert out.KL[1] == pytest.approx(float((d2 * kl(p1, p2)).sum()), rel=1e-12)


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.1), ("sgd", 5.0)])
def test_training_reaches_the_optimum_on_own_renderers(optimizer, lr):
    """Independent training from a seed: each agent's return on its own renderers approaches
    eta* = V*(0) of the lock (computed from the optimal policy a*)."""
    toy = build_family()
    W1, W2 = initial_weights(toy, 0, 0.5)
    before = objective_and_gradients(toy, W1, W2, 0.0, gradients=False).J
    W1, W2 = train(toy, W1, W2, 0.0, DistillationConfig(steps=300, learning_rate=lr, optimizer=optimizer))
    after = objective_and_gradients(toy, W1, W2, 0.0, gradients=False).J
    optimal = np.eye(2)[list(toy.correct_actions)]
    eta_star = engine.expected_return(toy.mdp.rho0, engine.values(toy.mdp.P, toy.mdp.r, toy.mdp.gamma, optimal))
    for i in range(2):
        assert before[i] < 0.5 * (1 - toy.mdp.gamma) * eta_star
        assert after[i] > 0.95 * (1 - toy.mdp.gamma) * eta_star


def test_same_seed_same_initialisation_and_different_agents():
    toy = build_family()
    a1, a2 = initial_weights(toy, 4, 0.5)
    b1, b2 = initial_weights(toy, 4, 0.5)
    np.testing.assert_array_equal(a1, b1)
    assert not np.allclose(a1, a2)


def test_mean_ci_by_hand():
    """[1, 2, 3]: mean 2, s = 1. With 2 degrees of freedom the t quantile has the closed form
    t_p = (2p - 1) / sqrt(2 p (1 - p)) (4.303 at p = 0.975, as in t tables); half-width t / sqrt(3)."""
    m = mean_ci(np.array([[1.0, 2.0, 3.0]]), axis=1)
    p = 0.975
    t = (2 * p - 1) / np.sqrt(2 * p * (1 - p))
    assert round(t, 3) == 4.303
    half = t / np.sqrt(3)
    assert m.mean[0] == 2.0 and m.n == 3
    assert m.low[0] == pytest.approx(2 - half, rel=1e-12) and m.high[0] == pytest.approx(2 + half, rel=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        mean_ci(np.array([1.0, np.nan]))

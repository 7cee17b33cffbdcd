"""Estimators and renderers on hand-computed inputs: summaries, returns-to-go, eps, sync checks, random conv."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("kornia")

from procgen_checks.envs import LevelRange  # noqa: E402
from procgen_checks.estimators import (  # noqa: E402
    cosine_distance, eps_from_critic, eps_from_returns, paired_distances, summarize,
)
from procgen_checks.renderers import (  # noqa: E402
    RANDCONV_STD, ColourJitter, LockstepSync, RandomConvolution, make_image_renderer, parse_renderers,
)
from procgen_checks.rollouts import PolicyOutputs, Rollout, returns_to_go, sample_actions  # noqa: E402


def test_summary_values_by_hand():
    s = summarize(np.array([4.0, 0.0, 2.0, 1.0, 3.0]), np.random.default_rng(0), 200)
    # sorted 0..4: mean 2; linear-interpolated quantiles at positions 2, 3.6, 3.96; max 4
    assert (s["mean"], s["q50"], s["q90"], s["q99"], s["max"]) == pytest.approx((2.0, 2.0, 3.6, 3.96, 4.0))
    assert s["ci"]["max"][1] == 4.0 and s["ci"]["mean"][0] < 2.0 < s["ci"]["mean"][1]
    assert "LOWER estimate" in s["max_note"]
    const = summarize(np.full(7, 0.25), np.random.default_rng(0), 100)
    assert const["ci"]["mean"] == [0.25, 0.25] and const["ci"]["q99"] == [0.25, 0.25]


def test_paired_distances_by_hand():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.25, 0.25, 0.5], [1.0, 0.0, 0.0]])
    d = paired_distances(p, q, np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 2.0], [0.0, 0.0]]))
    # TV row 0: (0.25 + 0.25 + 0.5) / 2 = 0.5; KL row 0: 2 * 0.5 * log(0.5 / 0.25) = log 2
    np.testing.assert_allclose(d.tv, [0.5, 0.0])
    np.testing.assert_allclose(d.kl, [np.log(2.0), 0.0])
    # orthogonal features: distance 1; two zero vectors: 0
    np.testing.assert_allclose(d.feature_cosine, [1.0, 0.0])
    np.testing.assert_allclose(cosine_distance([1.0, 1.0], [2.0, 2.0]), 0.0, atol=1e-15)
    np.testing.assert_allclose(cosine_distance([1.0, 0.0], [-3.0, 0.0]), 2.0)


def test_sample_actions_follow_the_distribution():
    probs = np.tile([0.2, 0.0, 0.8], (20000, 1))
    a = sample_actions(probs, np.random.default_rng(0))
    assert set(np.unique(a)) == {0, 2}
    assert np.mean(a == 2) == pytest.approx(0.8, abs=0.01)


def _rollout(rewards, dones, values=None) -> Rollout:
    rewards = np.asarray(rewards, dtype=float)
    T, E = rewards.shape
    return Rollout(
        split="train", levels=LevelRange(0, 1), frames=np.zeros((1, 64, 64, 3), np.uint8),
        outputs=PolicyOutputs(np.ones((1, 15)) / 15, np.zeros((1, 256), np.float32), None),
        actions=np.zeros(1, int), env_index=np.zeros(1, int), step=np.zeros(1, int),
        rewards=rewards, dones=np.asarray(dones, dtype=bool),
        step_values=None if values is None else np.asarray(values, dtype=float), first_level_seeds=np.zeros(E, int),
    )


def test_returns_to_go_by_hand():
    # one env: rewards 1, 0, 2, 5; the second action ends the episode; the second episode is unfinished
    G, complete = returns_to_go(np.array([[1.0], [0.0], [2.0], [5.0]]), np.array([[0], [1], [0], [0]], bool), 0.5)
    np.testing.assert_allclose(G[:, 0], [1.0, 0.0, 4.5, 5.0])  # 1 + 0.5 * 0; 0; 2 + 0.5 * 5; 5
    assert complete[:, 0].tolist() == [True, True, False, False]
    ro = _rollout([[1.0], [0.0], [2.0], [5.0]], [[0], [1], [0], [0]])
    assert eps_from_returns(ro, 0.5) == {"eps": 1.0, "n": 2, "gamma": 0.5}  # spread of {1, 0}
    ret, done = ro.first_episode_returns(1.0)
    assert ret.tolist() == [1.0] and done.tolist() == [True] and ro.num_envs_first_unfinished == 0


def test_eps_from_critic_gae_by_hand():
    # V = 1, 2, 3; rewards 0, 1, 0; the second action ends the episode; gamma = lambda = 0.5
    # t=2: successor value unknown -> no estimate; t=1: delta = 1 - 2 = -1 (terminal), A = -1
    # t=0: delta = 0 + 0.5 * 2 - 1 = 0, A = 0 + 0.25 * (-1) = -0.25  -> eps = 1 over 2 steps
    ro = _rollout([[0.0], [1.0], [0.0]], [[0], [1], [0]], values=[[1.0], [2.0], [3.0]])
    e = eps_from_critic(ro, 0.5, lam=0.5)
    assert e["eps"] == pytest.approx(1.0) and e["n"] == 2 and e["mean"] == pytest.approx(0.625)
    # values doubled (2, 4, 6), rewards not: t=1: A = 1 - 4 = -3; t=0: 0 + 0.5 * 4 - 2 + 0.25 * (-3) = -0.75
    assert eps_from_critic(ro, 0.5, lam=0.5, value_scale=2.0)["eps"] == pytest.approx(3.0)
    assert eps_from_critic(_rollout([[0.0]], [[0]]), 0.5) is None


def test_lockstep_sync_names_the_first_disagreement():
    sync = LockstepSync(3)
    sync.update(0, np.zeros(3), np.zeros(3), np.zeros(3, bool), np.zeros(3, bool), np.array([1, 2, 3]), np.array([1, 2, 3]))
    assert sync.alive.all() and sync.num_desynced == 0
    sync.update(1, np.array([0.0, 1.0, 0.0]), np.zeros(3), np.array([0, 0, 1], bool), np.zeros(3, bool))
    assert sync.alive.tolist() == [True, False, False]
    assert [(e.env_index, e.step, e.reason) for e in sync.events] == [(1, 1, "reward"), (2, 1, "episode boundary")]
    sync.update(2, np.ones(3), np.zeros(3), np.zeros(3, bool), np.zeros(3, bool), np.array([5, 5, 5]), np.array([6, 5, 5]))
    assert sync.num_desynced == 3 and sync.events[-1].reason == "reward" and len(sync.events) == 3  # once per env


def test_random_convolution_by_hand():
    c = 100
    frames = torch.full((2, 64, 64, 3), c, dtype=torch.uint8)
    W = RandomConvolution().kernels(2, np.random.default_rng(5)).numpy()  # the kernels the renderer will draw
    out = RandomConvolution(1.0)(frames, np.random.default_rng(5)).numpy()
    # interior pixel: c * sum of the output channel's 27 weights; top-left corner: only kernel taps (1..2, 1..2)
    np.testing.assert_allclose(out[:, 10, 20, :], c * W.sum(axis=(2, 3, 4)), rtol=1e-5)
    np.testing.assert_allclose(out[:, 0, 0, :], c * W[:, :, :, 1:, 1:].sum(axis=(2, 3, 4)), rtol=1e-5)
    half = RandomConvolution(0.5)(frames, np.random.default_rng(5)).numpy()
    np.testing.assert_allclose(half[:, 10, 20, :], 0.5 * c + 0.5 * c * W.sum(axis=(2, 3, 4)), rtol=1e-5)
    assert RANDCONV_STD == pytest.approx(np.sqrt(2 / 54))
    assert np.std(RandomConvolution().kernels(2000, np.random.default_rng(0)).numpy()) == pytest.approx(RANDCONV_STD, rel=0.02)


def test_strength_zero_is_the_identity_and_draws_are_reproducible():
    frames = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    for cls in (RandomConvolution, ColourJitter):
        torch.testing.assert_close(cls(0.0)(frames, np.random.default_rng(0)), frames.float(), rtol=0, atol=0)
        a = cls(1.0)(frames, np.random.default_rng(9))
        b = cls(1.0)(frames, np.random.default_rng(9))
        assert torch.equal(a, b) and not torch.equal(a, frames.float())
    jit = ColourJitter(1.0)(frames, np.random.default_rng(1))
    assert jit.min() >= 0 and jit.max() <= 255
    with pytest.raises(ValueError, match=r"strength is 1.5, expected a number in \[0, 1\]"):
        RandomConvolution(1.5)


def _kornia_jitter(renderer: ColourJitter, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The jitter as kornia computes it (its ``ColorJitter`` on NCHW frames in [0, 1]): the oracle."""
    params = renderer.parameters(frames.shape[0], rng)
    out = renderer.augmentation(frames.float().permute(0, 3, 1, 2) / 255.0, params=params)
    return (out * 255.0).permute(0, 2, 3, 1)


@pytest.mark.parametrize("strength", [1.0, 0.3])
def test_jitter_equals_kornia_colour_jitter(strength):
    g = torch.Generator().manual_seed(3)
    frames = torch.randint(0, 256, (24, 64, 64, 3), dtype=torch.uint8, generator=g)
    # Pixels where the hue formula branches: greys (no chroma), black, white, ties of two channels,
    # pure primaries and flat frames (contrast mean equal to every pixel).
    special = torch.tensor([[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 255, 0], [0, 255, 255],
                            [255, 0, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 200, 10], [10, 200, 200]],
                           dtype=torch.uint8)
    frames[0, :, : len(special)] = special
    frames[1] = 77
    frames[2, ...] = torch.tensor([250, 5, 250], dtype=torch.uint8)
    renderer = ColourJitter(strength)
    ours = renderer(frames, np.random.default_rng(11))
    reference = _kornia_jitter(renderer, frames, np.random.default_rng(11))
    assert ours.shape == frames.shape and ours.is_contiguous()
    # float32 rounding on the [0, 255] scale; a pixel differs by far more when a step or clamp is wrong.
    torch.testing.assert_close(ours, reference, rtol=0, atol=2e-3)
    assert (ours - frames.float()).abs().max() > 10  # the frames were changed


def test_renderer_names_are_checked():
    assert parse_renderers("backgrounds, randconv,jitter") == ["backgrounds", "randconv", "jitter"]
    with pytest.raises(ValueError, match="unknown renderer 'randcov'. Did you mean 'randconv'"):
        parse_renderers("backgrounds,randcov")
    with pytest.raises(ValueError, match="names a renderer twice"):
        parse_renderers("jitter,jitter")


def test_critic_value_scale_from_the_training_state(tmp_path):
    from procgen_checks.estimate import EstimateConfig, _value_scale

    ckpt = tmp_path / "policy_agent2.pt"
    info = {"agent": 2}
    cfg = EstimateConfig()
    # no state.pt beside it and no record of unnormalised rewards: the scale is unknown and the critic's eps refused
    scale, source = _value_scale(ckpt, info, cfg)
    assert scale is None and source.startswith("unusable")
    assert _value_scale(ckpt, {"agent": 2, "extra": {"config": {"normalize_reward": False}}}, cfg)[0] == 1.0
    agents = [{"reward_normalizer": {"return_rms": {"mean": 0.0, "var": v, "count": 10.0}}} for v in (1.0, 3.0)]
    torch.save({"config": {"normalize_reward": True}, "agents": agents}, tmp_path / "state.pt")
    scale, source = _value_scale(ckpt, info, cfg)
    assert scale == pytest.approx(np.sqrt(3.0 + 1e-8)) and "agent 2" in source  # agent 2 -> second entry
    torch.save({"config": {"normalize_reward": False}, "agents": agents}, tmp_path / "state.pt")
    assert _value_scale(ckpt, info, cfg)[0] == 1.0
    assert _value_scale(ckpt, info, EstimateConfig(value_scale=7.0)) == (7.0, "given (--value-scale)")


# ------------------------------------------------------------------------------------------------ Rv_hat, paired gap


def test_visitation_weights_by_hand():
    from procgen_checks.estimators import visitation_weights

    # stride 1: (1 - gamma) gamma^t
    np.testing.assert_allclose(visitation_weights(np.array([0, 1, 2]), 0.5, 1, np.array([3, 3, 3])), [0.5, 0.25, 0.125])
    # stride 2 in an episode of 3 steps: state 0 stands for steps 0, 1: 1 - 0.25; state 2 for step 2 only: 0.25 - 0.125
    np.testing.assert_allclose(visitation_weights(np.array([0, 2]), 0.5, 2, np.array([3, 3])), [0.75, 0.125])


def test_rv_hat_and_its_episode_bootstrap_by_hand():
    from procgen_checks.estimators import episode_visitation_sums, rv_estimate

    # episode 0: TV 1, 0, 1 at steps 0, 1, 2 (3 steps, ended); episode 1: TV 0.5 at step 0, cut after 1 step
    tv_, ep, step = np.array([1.0, 0.0, 1.0, 0.5]), np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0])
    lengths, finished = np.array([3, 1]), np.array([True, False])
    # gamma = 1/2: episode 0: 0.5 * 1 + 0.25 * 0 + 0.125 * 1 = 0.625; episode 1: 0.5 * 0.5 = 0.25
    np.testing.assert_allclose(episode_visitation_sums(tv_, ep, step, lengths, 0.5, 1), [0.625, 0.25])
    r = rv_estimate(tv_, ep, step, lengths, finished, np.zeros(2, bool), 0.5, 1, np.random.default_rng(0), 4000)
    assert r["value"] == pytest.approx(0.4375) and r["episodes"] == 2 and r["unfinished"] == 1
    # two episodes: resampled means are 0.25 (p 1/4), 0.4375 (1/2), 0.625 (1/4): the 95% interval is [0.25, 0.625]
    assert r["ci"] == pytest.approx([0.25, 0.625])
    # the unfinished episode's upper value adds its unseen visitation mass 0.5^1: 0.75; upper end of that interval
    assert r["upper"] == pytest.approx(0.75)
    # an excluded (desynchronised) episode is left out entirely
    only0 = rv_estimate(tv_, ep, step, lengths, finished, np.array([False, True]), 0.5, 1, np.random.default_rng(0), 100)
    assert only0["value"] == pytest.approx(0.625) and only0["episodes"] == 1 and only0["upper"] == pytest.approx(0.625)


def test_rv_hat_is_unbiased_on_a_chain_with_known_visitation():
    """Constant TV c on a chain that ends with probability p per step: Rv = c (1 - E[gamma^L]) = c (1 - p gamma / (1 - (1-p) gamma))."""
    from procgen_checks.estimators import episode_visitation_sums

    rng = np.random.default_rng(3)
    c, p, gamma, n = 0.3, 0.1, 0.9, 20000
    lengths = rng.geometric(p, size=n)
    ep = np.repeat(np.arange(n), lengths)
    step = np.concatenate([np.arange(k) for k in lengths])
    est = episode_visitation_sums(np.full(ep.size, c), ep, step, lengths, gamma, 1).mean()
    exact = c * (1 - p * gamma / (1 - (1 - p) * gamma))
    assert est == pytest.approx(exact, abs=4 * c * 0.5 / np.sqrt(n))


def test_paired_return_difference_by_hand():
    from procgen_checks.estimators import paired_return_difference

    ref, arm = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 1.0, 5.0])
    seeds_ref, seeds_arm = np.array([7, 8, 9, 10]), np.array([7, 8, 9, 11])  # episode 3 played another level
    done = np.ones(4, bool)
    d = paired_return_difference(ref, arm, seeds_ref, seeds_arm, done, done, np.random.default_rng(0), 2000)
    # pairs 0..2: differences 1, 0, 2 -> mean 1, std 1, standard error 1/sqrt(3)
    assert (d["pairs"], d["discarded_level_mismatch"], d["discarded_unfinished"]) == (3, 1, 0)
    assert d["gap"] == pytest.approx(1.0) and d["standard_error"] == pytest.approx(1 / np.sqrt(3))
    assert (d["eta_ref"], d["eta_k"]) == pytest.approx((2.0, 1.0))
    # the paired bootstrap resamples differences {1, 0, 2}: its interval lies within [0, 2]
    assert 0.0 <= d["ci"][0] < 1.0 < d["ci"][1] <= 2.0
    unfinished = np.array([False, True, True, True])
    d2 = paired_return_difference(ref, arm, seeds_ref, seeds_arm, done, unfinished, np.random.default_rng(0), 200)
    assert (d2["pairs"], d2["discarded_unfinished"], d2["gap"]) == (2, 1, pytest.approx(1.0))


def test_one_image_rendering_per_episode():
    from procgen_checks.rollouts import render_per_episode

    frames = np.random.default_rng(0).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    same = np.repeat(frames[:1], 3, axis=0)
    for name in ("randconv", "jitter"):
        r = make_image_renderer(name, 1.0)
        # the same seed renders the same frame identically at every step of the episode
        a = render_per_episode(r, same, np.array([5, 5, 6]))
        assert torch.equal(a[0], a[1]) and not torch.equal(a[0], a[2]), name
        assert torch.equal(render_per_episode(r, frames, np.array([1, 2, 3])), render_per_episode(r, frames, np.array([1, 2, 3])))

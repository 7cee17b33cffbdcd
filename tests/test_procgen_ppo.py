"""PPO/MDPO pieces against hand computations and independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")

from procgen_checks.config import TrainConfig, make_config  # noqa: E402
from procgen_checks.ppo import (  # noqa: E402
    RewardNormalizer, RolloutStorage, RunningMeanStd, Trainer, clipped_policy_loss, clipped_value_loss,
    normalize_advantages, peer_kl,
)
from theory.quantities import kl as kl_numpy  # noqa: E402


def test_clipped_policy_loss_by_hand():
    # ratios 1.5, 0.5, 1.1 with advantages 1, 1, -1 and clip 0.2:
    #   max(-1.5, -1.2) = -1.2;  max(-0.5, -0.8) = -0.5;  max(1.1, 1.1) = 1.1  -> mean -0.2
    ratio = torch.tensor([1.5, 0.5, 1.1])
    old = torch.zeros(3)
    loss, r = clipped_policy_loss(ratio.log(), old, torch.tensor([1.0, 1.0, -1.0]), clip=0.2)
    assert loss.item() == pytest.approx(-0.2, abs=1e-6)
    torch.testing.assert_close(r, ratio)


def test_clipped_value_loss_by_hand():
    # V = 2, V_old = 1, R = 2: unclipped 0, clipped (1 + 0.2 - 2)^2 = 0.64 -> 0.64
    # V = 0, V_old = 1, R = 2: unclipped 4, clipped (1 - 0.2 - 2)^2 = 1.44 -> 4
    new, old, ret = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0])
    assert clipped_value_loss(new, old, ret, 0.2).item() == pytest.approx(0.5 * (0.64 + 4) / 2)
    assert clipped_value_loss(new, old, ret, 0.2, clipped=False).item() == pytest.approx(0.5 * (0 + 4) / 2)


def test_advantage_normalisation_uses_unbiased_std():
    torch.testing.assert_close(normalize_advantages(torch.tensor([1.0, 2.0, 3.0]), 0.0), torch.tensor([-1.0, 0.0, 1.0]))


def _pooled(values: list[float], prior_count: float = 1e-4) -> tuple[float, float]:
    """Mean and variance of the data pooled with a prior component (mean 0, variance 1, weight 1e-4)."""
    x = np.array(values, dtype=float)
    w = prior_count + x.size
    mean = x.sum() / w
    var = (prior_count * (1 + mean**2) + ((x - mean) ** 2).sum()) / w
    return mean, var


def test_running_mean_std_equals_pooled_statistics():
    rng = np.random.default_rng(3)
    batches = [rng.normal(2, 3, size=n) for n in (1, 5, 64, 7)]
    rms = RunningMeanStd()
    for b in batches:
        rms.update(b)
    mean, var = _pooled(np.concatenate(batches).tolist())
    assert rms.mean == pytest.approx(mean, rel=1e-12)
    assert rms.var == pytest.approx(var, rel=1e-12)


def test_running_mean_std_matches_gymnasium():
    utils = pytest.importorskip("gymnasium.wrappers.utils")
    rng = np.random.default_rng(4)
    ours, theirs = RunningMeanStd(), utils.RunningMeanStd(shape=())
    for n in (3, 64, 64, 1):
        b = rng.exponential(size=n)
        ours.update(b)
        theirs.update(b)
    assert ours.mean == pytest.approx(float(theirs.mean), rel=1e-12)
    assert ours.var == pytest.approx(float(theirs.var), rel=1e-12)


def test_reward_normaliser_by_hand():
    # gamma 0.5, two envs. Step 1: G = [1, 3]; env 1's episode ends (G reset after scaling).
    # Step 2: G = [0.5*1 + 2, 0 + 4] = [2.5, 4].
    norm = RewardNormalizer(2, gamma=0.5, clip=10.0)
    out1 = norm(np.array([1.0, 3.0]), np.array([False, True]))
    _, var1 = _pooled([1, 3])
    np.testing.assert_allclose(out1, np.array([1.0, 3.0]) / math.sqrt(var1 + 1e-8), rtol=1e-6)
    out2 = norm(np.array([2.0, 4.0]), np.array([False, False]))
    _, var2 = _pooled([1, 3, 2.5, 4])
    np.testing.assert_allclose(out2, np.array([2.0, 4.0]) / math.sqrt(var2 + 1e-8), rtol=1e-6)
    # clipping at +-c after scaling
    clip = RewardNormalizer(1, gamma=0.9, clip=0.5, enabled=False)
    np.testing.assert_array_equal(clip(np.array([3.0]), np.array([False])), np.array([0.5], dtype=np.float32))


def test_peer_kl_direction_is_kl_peer_to_self():
    p_peer = torch.tensor([[0.5, 0.5]])
    p_self = torch.tensor([[0.9, 0.1]])
    # KL(peer || self) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.5108...; the reverse is 0.3681...
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert peer_kl(p_peer, p_self).item() == pytest.approx(expected, abs=1e-6)
    assert peer_kl(p_self, p_peer).item() == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2), abs=1e-6)
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(15), size=8), rng.dirichlet(np.ones(15), size=8)
    assert peer_kl(torch.tensor(p), torch.tensor(q)).item() == pytest.approx(kl_numpy(p, q).mean(), rel=1e-6)


def test_storage_frames_are_uint8_a_quarter_of_float32():
    st = RolloutStorage(256, 64)
    frames = 256 * 64 * 64 * 64 * 3
    assert st.obs.dtype == torch.uint8 and st.obs.numel() * st.obs.element_size() == frames
    # The same rollout with float32 frames (as the paper's buffer): frames * 4 + 7 per-step float arrays.
    float32_bytes = frames * 4 + 7 * 256 * 64 * 4
    assert st.nbytes() == frames + 256 * 64 * 8 + 6 * 256 * 64 * 4  # int64 actions, six float32 arrays
    assert st.nbytes() / float32_bytes < 0.2506


def _mdpo_trainer(alpha: float) -> Trainer:
    config = make_config("smoke", game="coinrun", algo="mdpo", seed=5, alpha=alpha, num_steps=8, num_minibatches=1)
    trainer = Trainer(config)
    for agent in trainer.agents:
        trainer._collect(agent)
    # Fresh actors are near-uniform (std 0.01), which makes KL ~ 1e-7; spread them so the term matters.
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for agent in trainer.agents:
            agent.model.actor.weight.copy_(torch.randn(agent.model.actor.weight.shape, generator=gen))
    return trainer


def _grads(trainer: Trainer) -> list[dict[str, torch.Tensor]]:
    return [{n: p.grad.clone() for n, p in a.model.named_parameters() if p.grad is not None} for a in trainer.agents]


def test_mdpo_kl_term_direction_and_gradient_reaches_both_agents():
    trainer = _mdpo_trainer(alpha=1.0)
    batches = [a.storage.flat() for a in trainer.agents]
    mb = torch.arange(trainer.config.batch_size)
    models = [a.model for a in trainer.agents]
    for m in models:
        m.train()

    def total_grads(alpha: float):
        c = TrainConfig.from_dict({**trainer.config.to_dict(), "alpha": alpha})
        trainer.optimizer.zero_grad(set_to_none=True)
        advantages = [normalize_advantages(b["advantages"][mb], c.adv_norm_eps) for b in batches]
        loss, stats = trainer._mdpo_loss(c, batches, mb, advantages)
        loss.backward()
        return _grads(trainer), stats

    with_kl, stats = total_grads(1.0)
    without_kl, _ = total_grads(0.0)

    # Independent computation, the paper's way: separate forward passes, KL(pi_peer || pi_self) on own states.
    s1, s2 = batches[0]["obs"], batches[1]["obs"]
    with torch.no_grad():
        p11, p12 = models[0].action_probs(s1).double().numpy(), models[1].action_probs(s1).double().numpy()
        p22, p21 = models[1].action_probs(s2).double().numpy(), models[0].action_probs(s2).double().numpy()
    assert stats[0]["kl_peer"].item() == pytest.approx(kl_numpy(p12, p11).mean(), rel=1e-4, abs=1e-9)
    assert stats[1]["kl_peer"].item() == pytest.approx(kl_numpy(p21, p22).mean(), rel=1e-4, abs=1e-9)

    trainer.optimizer.zero_grad(set_to_none=True)
    kl_1 = peer_kl(models[1].action_probs(s1), models[0].action_probs(s1))
    kl_2 = peer_kl(models[0].action_probs(s2), models[1].action_probs(s2))
    (0.5 * (kl_1 + kl_2)).backward()
    direct = _grads(trainer)
    for k in range(2):
        for name in ("actor.weight", "encoder.5.weight", "encoder.0.conv.weight"):
            diff = with_kl[k][name] - without_kl[k][name]
            assert diff.abs().max() > 0, f"KL term gives agent {k + 1} no gradient on {name}"
            torch.testing.assert_close(diff, direct[k][name], rtol=1e-3, atol=1e-7)

    # The peer's probabilities are not detached: agent 2 receives gradient from agent 1's KL term alone.
    trainer.optimizer.zero_grad(set_to_none=True)
    peer_kl(models[1].action_probs(s1), models[0].action_probs(s1)).backward()
    assert models[1].actor.weight.grad.abs().max() > 0
    trainer.close()


def test_mdpo_clips_each_agent_gradient_separately(monkeypatch):
    trainer = _mdpo_trainer(alpha=1.0)
    c = trainer.config
    seen = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        seen.append({id(p) for p in params})
        assert max_norm == c.max_grad_norm
        return original(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    trainer._update()
    ids = [{id(p) for p in a.model.parameters()} for a in trainer.agents]
    assert len(seen) == c.update_epochs * c.num_minibatches * 2
    assert seen[0] == ids[0] and seen[1] == ids[1]
    trainer.close()


def _one_update(trainer: Trainer, chunk: int, algo_agents: int) -> tuple[list[dict], list[dict[str, torch.Tensor]]]:
    """The statistics and gradients of one update (one epoch, one minibatch) of a copy of ``trainer``'s models, in
    chunks of ``chunk`` samples; the optimiser's step is skipped so that the gradients can be read."""
    trainer.update_chunk = chunk
    saved = [{k: v.clone() for k, v in a.model.state_dict().items()} for a in trainer.agents]
    shuffle = trainer.shuffle_rng.bit_generator.state
    step = trainer.optimizer.step
    trainer.optimizer.step = lambda *a, **k: None  # type: ignore[method-assign]
    try:
        stats = trainer._update()
    finally:
        trainer.optimizer.step = step  # type: ignore[method-assign]
        trainer.shuffle_rng.bit_generator.state = shuffle
    grads = _grads(trainer)
    for agent, state in zip(trainer.agents, saved):
        for k, v in agent.model.state_dict().items():
            assert torch.equal(v, state[k])
    assert len(stats) == algo_agents
    return stats, grads


@pytest.mark.parametrize("algo", ["ppo", "mdpo"])
def test_update_in_chunks_gives_the_whole_minibatch_loss_and_gradients(algo):
    """Every loss term is a mean over the minibatch: summing the chunks' gradients (each chunk's mean weighted by
    its share of the samples, advantages normalised over the whole minibatch) gives the same loss, statistics and
    gradients as one pass over the whole minibatch, up to float round-off; chunk sizes that do not divide it too."""
    config = make_config("smoke", game="coinrun", algo=algo, seed=3, num_steps=8, num_minibatches=1, update_epochs=1)
    trainer = Trainer(config, update_chunk=0)
    for agent in trainer.agents:
        trainer._collect(agent)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # spread the near-uniform fresh actors so that every term matters
        for agent in trainer.agents:
            agent.model.actor.weight.copy_(torch.randn(agent.model.actor.weight.shape, generator=gen))
    agents = len(trainer.agents)
    whole_stats, whole_grads = _one_update(trainer, 0, agents)
    assert config.minibatch_size == 32
    for chunk in (8, 5, 32, 100):
        stats, grads = _one_update(trainer, chunk, agents)
        for k in range(agents):
            assert stats[k].keys() == whole_stats[k].keys()
            for key, value in whole_stats[k].items():
                assert stats[k][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (chunk, key)
            assert grads[k].keys() == whole_grads[k].keys()
            for name, g in whole_grads[k].items():
                assert g.abs().max() > 0
                torch.testing.assert_close(grads[k][name], g, rtol=1e-4, atol=1e-7, msg=f"chunk {chunk}, {name}")
    # A chunk at least as large as the minibatch is the whole-minibatch computation itself, bit for bit.
    for k in range(agents):
        for name, g in whole_grads[k].items():
            assert torch.equal(_one_update(trainer, 100, agents)[1][k][name], g)
    trainer.close()


def test_update_chunk_default_and_resume():
    from procgen_checks.ppo import CPU_UPDATE_CHUNK, default_update_chunk

    assert default_update_chunk("cpu") == CPU_UPDATE_CHUNK and default_update_chunk("cuda") == 0
    config = make_config("smoke", game="coinrun", algo="ppo", seed=3)
    trainer = Trainer(config)
    assert trainer.update_chunk == CPU_UPDATE_CHUNK
    with pytest.raises(ValueError, match="update_chunk is -1"):
        Trainer(config, update_chunk=-1)
    trainer.update_chunk = 7
    state = trainer.state_dict()
    trainer.close()
    assert state["update_chunk"] == 7
    resumed = Trainer.from_state(state)  # continues in the run's own chunks
    assert resumed.update_chunk == 7
    resumed.close()
    older = {k: v for k, v in state.items() if k != "update_chunk"}  # written before chunks: whole minibatches
    resumed = Trainer.from_state(older)
    assert resumed.update_chunk == 0
    resumed.close()
    resumed = Trainer.from_state(state, update_chunk=4)
    assert resumed.update_chunk == 4
    resumed.close()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="does not divide"):
        make_config("smoke", game="coinrun", num_minibatches=3)
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        make_config("tiny", game="coinrun")
    with pytest.raises(ValueError, match="unknown Procgen game"):
        make_config("smoke", game="coinrn")
    with pytest.raises(ValueError, match="algo is 'dqn'"):
        make_config("smoke", game="coinrun", algo="dqn")
    paper = make_config("paper", game="starpilot")
    assert (paper.distribution_mode, paper.num_levels, paper.total_steps, paper.num_envs, paper.num_steps) == ("hard", 500, 50_000_000, 64, 256)
    assert (paper.learning_rate, paper.gamma, paper.gae_lambda, paper.alpha) == (5e-4, 0.999, 0.95, 1.0)

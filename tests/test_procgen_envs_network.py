"""Procgen adapter and IMPALA network: names, level splits, episode bookkeeping, state-dict checks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")

from procgen_checks.envs import (  # noqa: E402
    GAMES, LevelRange, ProcgenVecEnv, RenderOptions, check_game, level_split, normalized_score,
)
from procgen_checks.network import ActorCritic, CheckpointMismatchError, check_state_dict  # noqa: E402


def test_unknown_game_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown Procgen game 'coinrn'\. Did you mean 'coinrun'\?"):
        check_game("coinrn")
    assert len(GAMES) == 16 and check_game("starpilot") == "starpilot"


def test_level_split_is_disjoint():
    train, test = level_split(200, start_level=5)
    assert (train.start, train.stop) == (5, 205)
    assert test.start == 205 and not train.overlaps(test)
    with pytest.raises(ValueError, match="expected start >= 0 and num >= 1"):
        LevelRange(0, 0)


def test_normalized_score_by_hand():
    # coinrun easy: (R - 5) / (10 - 5); starpilot hard: (R - 1.5) / (35 - 1.5)
    assert normalized_score("coinrun", "easy", 7.5) == pytest.approx(0.5)
    assert normalized_score("starpilot", "hard", 35) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="distribution mode 'medium'"):
        normalized_score("coinrun", "medium", 1)


def test_episode_records_match_rewards_and_levels():
    env = ProcgenVecEnv("coinrun", 4, LevelRange(0, 3), rand_seed=7)
    rng = np.random.default_rng(0)
    total = np.zeros(4)
    summed_rewards = 0.0
    for _ in range(3000):
        _, reward, done = env.step(rng.integers(0, 15, size=4))
        total += reward
        summed_rewards += float(reward[done].sum())  # coinrun pays only on the last step
    eps = env.pop_finished()
    assert eps, "no episode finished in 3000 random steps"
    assert all(LevelRange(0, 3).contains(e.level_seed) for e in eps)
    assert all(e.ret in (0.0, 10.0) for e in eps)
    assert sum(e.ret for e in eps) == pytest.approx(summed_rewards)
    assert all(e.length >= 1 for e in eps)


def test_render_options_change_pixels_only():
    a = ProcgenVecEnv("coinrun", 2, LevelRange(0, 10), rand_seed=3)
    b = ProcgenVecEnv("coinrun", 2, LevelRange(0, 10), rand_seed=3, render=RenderOptions(use_backgrounds=False))
    assert not np.array_equal(a.reset(), b.reset())
    np.testing.assert_array_equal(a.level_seeds(), b.level_seeds())


def test_network_shapes_and_paper_keys():
    model = ActorCritic()
    enc = model.encoder.state_dict()
    assert "0.conv.weight" in enc and "2.res_block1.conv1.bias" in enc
    assert tuple(enc["5.weight"].shape) == (256, 2048)
    assert sum(p.numel() for p in model.encoder.parameters()) == 622_144
    logits, value = model(torch.zeros(3, 64, 64, 3, dtype=torch.uint8))
    assert logits.shape == (3, 15) and value.shape == (3,)
    with pytest.raises(ValueError, match=r"expected \(B, 64, 64, 3\)"):
        model(torch.zeros(3, 3, 64, 64))


def test_state_dict_check_names_first_mismatch():
    model = ActorCritic()
    state = model.encoder.state_dict()
    state["5.weight"] = torch.zeros(128, 2048)
    with pytest.raises(CheckpointMismatchError, match=r"key '5\.weight' has shape \(128, 2048\), expected \(256, 2048\)"):
        check_state_dict(model.encoder, state, "encoder")
    state = {k: v for k, v in model.encoder.state_dict().items() if k != "0.conv.bias"}
    with pytest.raises(CheckpointMismatchError, match=r"missing key '0\.conv\.bias'"):
        check_state_dict(model.encoder, state, "encoder")


def test_policy_checkpoint_round_trip(tmp_path):
    from procgen_checks.checkpoints import load_policy, save_policy

    model = ActorCritic()
    frames = torch.randint(0, 255, (4, 64, 64, 3), dtype=torch.uint8)
    save_policy(tmp_path / "p.pt", model, game="coinrun", distribution_mode="easy", algo="ppo", seed=3, env_steps=1024)
    loaded, info = load_policy(tmp_path / "p.pt")
    assert info["game"] == "coinrun" and info["env_steps"] == 1024 and info["has_critic"]
    with torch.inference_mode():
        torch.testing.assert_close(loaded(frames)[0], model(frames)[0], rtol=0, atol=0)
        torch.testing.assert_close(loaded(frames)[1], model(frames)[1], rtol=0, atol=0)

    model.has_critic = False
    save_policy(tmp_path / "nocritic.pt", model, game="coinrun", distribution_mode="easy", algo="paper-import")
    loaded, info = load_policy(tmp_path / "nocritic.pt")
    assert not info["has_critic"] and not loaded.has_critic
    assert not any(k.startswith("critic.") for k in torch.load(tmp_path / "nocritic.pt", weights_only=False)["model"])
    with torch.inference_mode():
        torch.testing.assert_close(loaded.logits(frames), model.logits(frames), rtol=0, atol=0)


def test_load_policy_rejects_other_files(tmp_path):
    from procgen_checks.checkpoints import load_policy

    torch.save({"weight": torch.zeros(15, 256)}, tmp_path / "actor.pth")
    with pytest.raises(CheckpointMismatchError, match="not a repconv-procgen-policy-v1 file"):
        load_policy(tmp_path / "actor.pth")

"""`repconv procgen train --init-from`: a new run from a policy's weights, with fresh optimiser and normaliser."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")

from procgen_checks.checkpoints import load_policy, load_torch_file
from repconv.cli import main


def _train(*args: str) -> int:
    return main(["procgen", "train", "--device", "cpu", "--torch-threads", "1", "--no-progress", *args])


def test_init_from_copies_weights_and_starts_everything_else_fresh(tmp_path):
    source = tmp_path / "source"
    assert _train("--game", "coinrun", "--preset", "smoke", "--seed", "1", "--out", str(source)) == 0
    policy = source / "policy_agent1.pt"

    # MDPO with seed 2 from a PPO seed-1 policy, no iterations: what the run starts from is on disk.
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    common = ("--game", "coinrun", "--algo", "mdpo", "--preset", "smoke", "--seed", "2", "--total-steps", "0")
    assert _train(*common, "--init-from", str(policy), "--out", str(warm)) == 0
    assert _train(*common, "--out", str(cold)) == 0

    source_model, _ = load_policy(policy)
    warm_state = load_torch_file(warm / "state.pt", "training state")
    cold_state = load_torch_file(cold / "state.pt", "training state")
    for agent in warm_state["agents"]:  # both agents start from the given policy, critic included
        for key, value in source_model.state_dict().items():
            assert torch.equal(agent["model"][key], value), key
    assert not torch.equal(cold_state["agents"][0]["model"]["actor.weight"], source_model.state_dict()["actor.weight"])
    # Everything else is what a run without --init-from starts with.
    assert warm_state["optimizer"]["state"] == {} and cold_state["optimizer"]["state"] == {}
    for w, c in zip(warm_state["agents"], cold_state["agents"]):
        assert w["reward_normalizer"]["return_rms"] == c["reward_normalizer"]["return_rms"]
        assert (w["env_steps"], w["episodes"], w["recent"]) == (c["env_steps"], c["episodes"], c["recent"]) == (0, 0, [])
        assert torch.equal(w["next_obs"], c["next_obs"])

    record = json.loads((warm / "config.json").read_text())["init_from"]
    assert record["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert (record["algo"], record["seed"], record["env_steps"], record["optimizer"]) == ("ppo", 1, 128, "fresh")
    assert "init_from" not in json.loads((cold / "config.json").read_text())

    # The warm run trains on from there.
    assert _train("--resume", str(warm), "--total-steps", "64") == 0
    assert load_policy(warm / "policy_agent2.pt")[1]["env_steps"] == 64


def test_resume_without_state_names_what_is_missing_and_points_to_init_from(tmp_path, capsys):
    source = tmp_path / "source"
    assert _train("--game", "coinrun", "--preset", "smoke", "--seed", "1", "--total-steps", "64", "--out", str(source)) == 0
    only_policy = tmp_path / "only-policy"
    only_policy.mkdir()
    shutil.copy(source / "policy_agent1.pt", only_policy)
    capsys.readouterr()
    assert _train("--resume", str(only_policy)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no state.pt" in err and f"--init-from {only_policy / 'policy_agent1.pt'}" in err

    assert _train("--resume", str(source), "--init-from", str(source / "policy_agent1.pt")) == 2
    assert "--init-from" in capsys.readouterr().err

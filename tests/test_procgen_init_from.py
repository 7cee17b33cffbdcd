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

    # MDPO with seed 2 from a PPO seed-1 policy, one iteration at a learning rate so small (1e-30) that no
    # weight moves by more than 1e-20: what each agent started from stays readable in its checkpoint.
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    common = ("--game", "coinrun", "--algo", "mdpo", "--preset", "smoke", "--seed", "2", "--total-steps", "64",
              "--learning-rate", "1e-30")
    assert _train(*common, "--init-from", str(policy), "--out", str(warm)) == 0
    assert _train(*common, "--out", str(cold)) == 0

    source_model, _ = load_policy(policy)
    source_state = load_torch_file(source / "state.pt", "training state")
    warm_state = load_torch_file(warm / "state.pt", "training state")
    cold_state = load_torch_file(cold / "state.pt", "training state")
    for agent in warm_state["agents"]:  # both agents start from the given policy, critic included
        for key, value in source_model.state_dict().items():
            assert torch.allclose(agent["model"][key], value, rtol=0, atol=1e-20), key
    assert not torch.allclose(cold_state["agents"][0]["model"]["actor.weight"], source_model.state_dict()["actor.weight"])
    # Optimiser and reward normaliser start fresh: their counters are those of a one-iteration run, not the source's.
    steps = [next(iter(st["optimizer"]["state"].values()))["step"].item() for st in (warm_state, cold_state, source_state)]
    assert steps == [2, 2, 4]  # smoke: 2 minibatches x 1 epoch per iteration; the source ran 2 iterations
    counts = [st["agents"][0]["reward_normalizer"]["return_rms"]["count"] for st in (warm_state, cold_state, source_state)]
    assert counts[0] == counts[1] < counts[2]

    record = json.loads((warm / "config.json").read_text())["init_from"]
    assert record["sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert (record["algo"], record["seed"], record["env_steps"], record["optimizer"]) == ("ppo", 1, 128, "fresh")
    assert "init_from" not in json.loads((cold / "config.json").read_text())


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

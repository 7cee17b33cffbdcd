"""The training command end to end: run directory, checkpoints, exact resume, clean stops, evaluation."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")

from procgen_checks.checkpoints import load_policy  # noqa: E402
from procgen_checks.envs import LevelRange, ProcgenVecEnv, normalized_score  # noqa: E402
from procgen_checks.evaluation import first_episodes, summarize_returns  # noqa: E402
from procgen_checks.network import ActorCritic  # noqa: E402
from repconv.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"steps_per_s", "rollout_s", "update_s", "elapsed_s"}


def _train(*args: str) -> int:
    return main(["procgen", "train", "--device", "cpu", "--torch-threads", "1", "--no-progress", *args])


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_smoke_cli_train_checkpoint_evaluate(tmp_path):
    run = tmp_path / "run"
    assert _train("--game", "starpilot", "--algo", "mdpo", "--preset", "smoke", "--seed", "3", "--out", str(run)) == 0
    rows = _rows(run)
    assert [r["env_steps"] for r in rows] == [64, 128]  # 4 envs x 16 steps per iteration, per agent
    assert (run / "log.csv").read_text().splitlines()[0].split(",")[:3] == ["iteration", "env_steps", "total_env_steps"]
    assert {"agent1_kl_peer", "agent2_kl_peer", "agent1_explained_variance", "agent2_return_recent"} <= set(rows[0])
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["algo"] == "mdpo" and config["seed"] == 3 and "git_commit" in config

    # Policy checkpoints hold the same weights as the resumable state.
    state = torch.load(run / "state.pt", weights_only=False)
    assert state["iteration"] == 2
    for k in (1, 2):
        model, info = load_policy(run / f"policy_agent{k}.pt")
        assert (info["agent"], info["algo"], info["env_steps"], info["train_levels"]) == (k, "mdpo", 128, [0, 10])
        for key, value in model.state_dict().items():
            assert torch.equal(value, state["agents"][k - 1]["model"][key]), key

    out = tmp_path / "eval.json"
    assert main(["procgen", "evaluate", str(run / "policy_agent2.pt"), "--episodes", "5", "--device", "cpu",
                 "--out", str(out), "--no-progress", "--bootstrap", "200"]) == 0
    result = json.loads(out.read_text())
    train, test = result["splits"]["train"], result["splits"]["test"]
    assert train["episodes"] == test["episodes"] == 5 == len(test["returns"])
    assert all(0 <= s < 10 for s in train["level_seeds"]) and all(s >= 10 for s in test["level_seeds"])
    assert train["mean"] == pytest.approx(np.mean(train["returns"]))
    assert test["normalized_mean"] == pytest.approx((test["mean"] - 2.5) / (64 - 2.5))  # starpilot easy: 2.5, 64
    assert result["generalization_gap"]["mean"] == pytest.approx(train["mean"] - test["mean"])
    assert result["meta"]["seed"] == 0 and result["policy"]["agent"] == 2


def test_resume_continues_bitwise(tmp_path):
    """N + M iterations in one go equal N, stop, resume for M: logs and weights bitwise (CPU, same threads)."""
    common = ["--game", "coinrun", "--algo", "mdpo", "--preset", "smoke", "--seed", "2"]
    assert _train(*common, "--total-steps", "192", "--out", str(tmp_path / "one")) == 0
    assert _train(*common, "--total-steps", "128", "--out", str(tmp_path / "split")) == 0
    # A row written after the last checkpoint (a run killed mid-way) is dropped and recomputed on resume.
    with open(tmp_path / "split" / "log.jsonl", "a") as fh:
        fh.write(json.dumps({"iteration": 3, "stale": True}) + "\n")
    assert _train("--resume", str(tmp_path / "split"), "--total-steps", "192") == 0

    one, split = _rows(tmp_path / "one"), _rows(tmp_path / "split")
    assert len(one) == len(split) == 3
    for a, b in zip(one, split):
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert len((tmp_path / "split" / "log.csv").read_text().splitlines()) == 4  # header + 3 rows
    sa = torch.load(tmp_path / "one" / "state.pt", weights_only=False)
    sb = torch.load(tmp_path / "split" / "state.pt", weights_only=False)
    for agent_a, agent_b in zip(sa["agents"], sb["agents"]):
        for key in agent_a["model"]:
            assert torch.equal(agent_a["model"][key], agent_b["model"][key]), key
        assert agent_a["env"]["procgen"] == agent_b["env"]["procgen"]
        assert agent_a["reward_normalizer"]["return_rms"] == agent_b["reward_normalizer"]["return_rms"]
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert torch.equal(pa["exp_avg_sq"], pb["exp_avg_sq"])
    meta = json.loads((tmp_path / "split" / "config.json").read_text())
    assert meta["resumed"][0]["from_iteration"] == 2 and meta["config"]["total_steps"] == 192


def test_resume_refuses_changed_hyperparameters(tmp_path, capsys):
    assert _train("--resume", str(tmp_path / "nothing")) == 2
    err = capsys.readouterr().err
    assert "no state.pt (optimiser, environments, normaliser) to resume from" in err and "--init-from POLICY.pt" in err
    assert _train("--resume", str(tmp_path), "--learning-rate", "1e-3") == 2
    assert "--resume keeps the run's configuration; drop --learning-rate" in capsys.readouterr().err


def test_time_limit_stops_at_a_checkpoint_and_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train("--game", "bigfish", "--preset", "smoke", "--out", str(run), "--time-limit", "0.001") == 0
    assert "stopped (time limit of 0.001 s) at iteration 0/2" in capsys.readouterr().out
    assert torch.load(run / "state.pt", weights_only=False)["iteration"] == 0 and _rows(run) == []
    assert _train("--game", "bigfish", "--preset", "smoke", "--out", str(run)) == 2  # will not overwrite a run
    assert "already holds a run" in capsys.readouterr().err
    assert _train("--resume", str(run)) == 0
    assert [r["iteration"] for r in _rows(run)] == [1, 2]


def test_sigterm_stops_after_the_current_iteration(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "repconv", "procgen", "train", "--game", "bigfish", "--preset", "smoke",
         "--total-steps", "1e6", "--device", "cpu", "--torch-threads", "1", "--no-progress", "--out", str(run)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not ((run / "log.jsonl").exists() and (run / "log.jsonl").read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err  # 128 + SIGTERM: stopped from outside, not finished, not failed
    assert "stopped (SIGTERM received)" in out
    state = torch.load(run / "state.pt", weights_only=False)
    assert state["iteration"] == len(_rows(run)) >= 1


def test_first_episode_of_each_env_to_completion():
    """Evaluation counts each environment's first episode, whatever its length: compare with a replay."""
    model = ActorCritic()
    with torch.no_grad():
        model.actor.weight.zero_()
        model.actor.bias.copy_(torch.nn.functional.one_hot(torch.tensor(4), 15).float())  # always "no-op"
    levels = LevelRange(50, 20)
    records = first_episodes(model, "starpilot", levels, 6, distribution_mode="easy", rand_seed=11, greedy=True, batch_envs=4)
    expected = {}
    for group, (start, n) in enumerate(((0, 4), (4, 2))):
        env = ProcgenVecEnv("starpilot", n, levels, distribution_mode="easy", rand_seed=11 + group)
        while len(expected) < start + n:
            env.step(np.full(n, 4))
            for e in env.pop_finished():
                expected.setdefault(start + e.env_index, (e.level_seed, e.ret, e.length))
    assert [r.env_index for r in records] == list(range(6))
    assert [(r.level_seed, r.ret, r.length) for r in records] == [expected[i] for i in range(6)]
    assert all(levels.contains(r.level_seed) for r in records)


def test_summary_statistics_by_hand():
    returns = np.array([0.0, 10.0, 10.0, 0.0])
    s = summarize_returns(returns, game="coinrun", distribution_mode="easy", rng=np.random.default_rng(0), num_resamples=4000)
    # mean 5, sample std sqrt(4 * 25 / 3), SE = std / 2; coinrun easy normalisation (R - 5) / 5
    assert s["mean"] == 5 and s["std"] == pytest.approx(math.sqrt(100 / 3))
    assert s["standard_error"] == pytest.approx(math.sqrt(100 / 3) / 2)
    assert s["normalized_mean"] == pytest.approx(0.0) == normalized_score("coinrun", "easy", 5.0)
    # Bootstrap means of 4 Bernoulli(1/2) x 10 draws: the 2.5% and 97.5% quantiles are 0 and 10 (P = 1/16 each).
    assert s["ci"] == [0.0, 10.0]
    again = summarize_returns(returns, game="coinrun", distribution_mode="easy", rng=np.random.default_rng(0), num_resamples=4000)
    assert again == s

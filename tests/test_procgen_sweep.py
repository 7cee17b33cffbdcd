"""`repconv procgen sweep`: the grid, the dry run, local jobs end to end, resume after a kill, SLURM with stand-ins."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("procgen")
pytest.importorskip("submitit")

from repconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY_ESTIMATE = ("--states 8 --sweep-states 0 --no-figures --bootstrap 50 --num-envs 2 --stride 1 "
                 "--renderers backgrounds --max-extra-steps 0 --gap-episodes 2 --gap-max-steps 12 --paper-states 4")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def _sweep_args(out: Path, *extra: str) -> list[str]:
    return ["procgen", "sweep", "--games", "coinrun", "--preset", "smoke", "--eval-episodes", "2", "--poll", "0.5",
            "--out", str(out), *extra]


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _wait_for(path: Path, timeout: float = 180.0) -> None:
    start = time.monotonic()
    while not path.exists():
        assert time.monotonic() - start < timeout, f"{path} did not appear"
        time.sleep(0.2)


def test_dry_run_counts_steps_of_every_agent(capsys):
    # cpu-small: 81,920 steps = 40 iterations of 32 x 64 per agent; MDPO steps two sets of environments.
    assert main(["procgen", "sweep", "--games", "coinrun", "--algos", "ppo,mdpo", "--seeds", "1,2", "--preset",
                 "cpu-small", "--out", "unused", "--dry-run", "--steps-per-s", "100"]) == 0
    out = capsys.readouterr().out
    assert "coinrun-mdpo-s2" in out and "coinrun-ppo-s1" in out
    total = 2 * 81_920 + 2 * 2 * 81_920
    assert f"4 runs, {total:,} env steps in all" in out
    assert f"{total / 100 / 3600:.2f} run-hours" in out  # 491,520 steps at 100 steps/s
    assert not Path("unused").exists()


@pytest.mark.parametrize("args, message", [
    (["--games", "nosuchgame"], "nosuchgame"),
    (["--games", "coinrun", "--algos", "ppo,dqn"], "dqn"),
    (["--games", "coinrun", "--max-parallel", "0"], "--max-parallel"),
    (["--games", "coinrun", "--seeds", "1,1"], "twice"),
])
def test_bad_grid_is_a_one_line_error(tmp_path, capsys, args, message):
    assert main(["procgen", "sweep", "--preset", "smoke", "--out", str(tmp_path / "s"), "--dry-run", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_sweep_dir_keeps_its_grid(tmp_path, capsys):
    from repconv.sweep import _check_sweep_dir, make_grid

    _check_sweep_dir(tmp_path, make_grid(["coinrun"], ["ppo"], [1], "smoke", {}))
    with pytest.raises(ValueError, match="overrides"):
        _check_sweep_dir(tmp_path, make_grid(["coinrun"], ["ppo"], [1], "smoke", {"num_levels": 3}))


def test_sweep_dir_knows_its_starting_policy_by_content(tmp_path):
    import shutil

    from repconv.sweep import _check_sweep_dir, make_grid

    policy = ROOT / "checkpoints" / "coinrun" / "ppo-s1" / "policy_agent1.pt"
    here, there = tmp_path / "a" / "start.pt", tmp_path / "b" / "start.pt"
    for path in (here, there):
        path.parent.mkdir()
        shutil.copy(policy, path)
    sweep = tmp_path / "sweep"
    _check_sweep_dir(sweep, make_grid(["coinrun"], ["ppo"], [1], "smoke", {}, init_from=str(here)))
    recorded = json.loads((sweep / "sweep.json").read_text())
    assert recorded["init_from_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    # The same file elsewhere (another checkout) continues the sweep; another policy is refused.
    _check_sweep_dir(sweep, make_grid(["coinrun"], ["ppo"], [1], "smoke", {}, init_from=str(there)))
    other = ROOT / "checkpoints" / "coinrun" / "ppo-s2" / "policy_agent1.pt"
    with pytest.raises(ValueError, match="init_from"):
        _check_sweep_dir(sweep, make_grid(["coinrun"], ["ppo"], [1], "smoke", {}, init_from=str(other)))


@pytest.mark.slow
def test_rerun_with_more_steps_trains_finished_runs_further_and_keeps_their_evaluation(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ("--algos", "ppo", "--seeds", "1", "--no-estimate")
    assert main(_sweep_args(out, *args, "--total-steps", "64")) == 0  # smoke: one iteration of 4 x 16 steps
    run = out / "runs" / "coinrun-ppo-s1"
    first = json.loads((run / "policy_agent1.eval.json").read_text())
    assert first["policy"]["env_steps"] == 64
    capsys.readouterr()

    assert main(_sweep_args(out, *args, "--total-steps", "128")) == 0
    assert "trains further to 2" in capsys.readouterr().out
    assert [r["env_steps"] for r in _rows(run)] == [64, 128]
    assert json.loads((run / "policy_agent1.eval.json").read_text())["policy"]["env_steps"] == 128
    kept = run / "policy_agent1.eval-64steps-2episodes.json"
    assert json.loads(kept.read_text()) == first
    entry = json.loads((out / "manifest.json").read_text())["runs"]["coinrun-ppo-s1"]
    assert entry["state"] == "done" and entry["results"]["policy_agent1"]["env_steps"] == 128


@pytest.mark.slow
def test_two_by_two_smoke_grid_end_to_end(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(_sweep_args(out, "--algos", "ppo,mdpo", "--seeds", "1,2", "--estimate-args", TINY_ESTIMATE)) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["runs"]) == ["coinrun-mdpo-s1", "coinrun-mdpo-s2", "coinrun-ppo-s1", "coinrun-ppo-s2"]
    for entry in manifest["runs"].values():
        run = out / entry["dir"]
        agents = 2 if entry["algo"] == "mdpo" else 1
        assert entry["state"] == "done" and entry["attempts"] == 1
        assert [r["env_steps"] for r in _rows(run)] == [64, 128]  # smoke: 2 iterations of 4 x 16 steps
        assert (run / "state.pt").is_file()
        assert sorted(entry["results"]) == [f"policy_agent{k}" for k in range(1, agents + 1)]
        for k in range(1, agents + 1):
            ev = json.loads((run / f"policy_agent{k}.eval.json").read_text())
            assert ev["policy"]["seed"] == entry["seed"] and ev["policy"]["env_steps"] == 128
            assert ev["splits"]["train"]["episodes"] == ev["splits"]["test"]["episodes"] == 2
            assert entry["results"][f"policy_agent{k}"]["test"] == ev["splits"]["test"]["mean"]
    estimate = json.loads((out / "estimate" / "estimate.json").read_text())
    assert len(estimate["checkpoints"]) == 6  # 2 PPO runs + 2 MDPO runs x 2 agents
    assert (out / "estimate" / "report.md").is_file()
    printed = capsys.readouterr().out
    assert "coinrun-mdpo-s2 | policy_agent2 | 128" in printed

    # The same command again: nothing is trained or evaluated again.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*.pt")}
    assert main(_sweep_args(out, "--algos", "ppo,mdpo", "--seeds", "1,2", "--no-estimate")) == 0
    assert "finished earlier, skipped" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*.pt")}
    assert all(e["attempts"] == 1 for e in json.loads((out / "manifest.json").read_text())["runs"].values())


@pytest.mark.slow
def test_killed_sweep_resumes_from_checkpoint_when_rerun(tmp_path):
    out = tmp_path / "sweep"
    args = _sweep_args(out, "--algos", "ppo", "--seeds", "1", "--total-steps", "1280", "--checkpoint-every", "1",
                       "--no-estimate")
    proc = subprocess.Popen([sys.executable, "-m", "repconv", *args], env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = out / "runs" / "coinrun-ppo-s1"
    try:
        _wait_for(run / "state.pt")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its job and the trainer, all at once
        proc.wait()
    killed_at = len(_rows(run))
    assert killed_at < 20, "the run finished before it was killed: make it longer"
    assert json.loads((run / "job.json").read_text())["state"] == "training"

    assert main(_sweep_args(out, "--algos", "ppo", "--seeds", "1", "--total-steps", "1280", "--checkpoint-every", "1",
                            "--no-estimate")) == 0
    rows = _rows(run)
    assert [r["iteration"] for r in rows] == list(range(1, 21))
    config = json.loads((run / "config.json").read_text())
    assert len(config["resumed"]) == 1 and 1 <= config["resumed"][0]["from_iteration"] <= killed_at
    manifest = json.loads((out / "manifest.json").read_text())["runs"]["coinrun-ppo-s1"]
    assert manifest["state"] == "done" and manifest["attempts"] == 2 and manifest["resumed"] is True


STANDINS = {
    # sbatch keeps the script it was given and answers like SLURM.
    "sbatch": 'cp "$1" "$SLURM_FAKE/submitted.sh"\necho "Submitted batch job 4242"\n',
    # sacct reports whatever state the test wrote.
    "sacct": 'echo "JobID|State"\necho "4242|$(cat "$SLURM_FAKE/state")"\n',
    "squeue": 'echo "JOBID STATE"\necho "4242 $(cat "$SLURM_FAKE/state")"\n',
    "scontrol": 'echo "$@" >> "$SLURM_FAKE/scontrol.log"\necho REQUEUED > "$SLURM_FAKE/state"\n',
    "scancel": 'echo "$@" >> "$SLURM_FAKE/scancel.log"\n',
    "srun": 'echo "srun is not run in this test" >&2\nexit 1\n',  # submitit looks for it before submitting
}


@pytest.mark.slow
def test_slurm_job_is_requeued_and_resumes(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "slurm"
    (fake / "bin").mkdir(parents=True)
    for name, body in STANDINS.items():
        path = fake / "bin" / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    (fake / "state").write_text("PENDING\n")
    monkeypatch.setenv("PATH", f"{fake / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_FAKE", str(fake))
    out = tmp_path / "sweep"
    args = _sweep_args(out, "--algos", "ppo", "--seeds", "1", "--total-steps", "1280", "--checkpoint-every", "1",
                       "--no-estimate", "--executor", "slurm", "--partition", "gpu", "--gpus-per-job", "1",
                       "--time", "90", "--cpus-per-job", "8", "--mem-gb", "32", "--account", "rl",
                       "--setup", "module load cuda", "--max-parallel", "4")

    assert main([*args, "--no-wait"]) == 0
    script = (fake / "submitted.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --time=90", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=32768M", "#SBATCH --account=rl", "#SBATCH --signal=USR2@120", "module load cuda"):
        assert line in script, line
    assert "submitit.core._submit" in script
    manifest = json.loads((out / "manifest.json").read_text())["runs"]["coinrun-ppo-s1"]
    assert (manifest["executor"], manifest["job_id"], manifest["state"]) == ("slurm", "4242", "submitted")

    # A rerun while the job is queued submits nothing new.
    (fake / "submitted.sh").unlink()
    assert main([*args, "--no-wait"]) == 0
    assert "still queued or running" in capsys.readouterr().out and not (fake / "submitted.sh").exists()

    # The job starts on a node (as srun would run it), is preempted after its first checkpoint, and requeues itself.
    folder = out / "submitit" / "4242"
    job_env = _env(SLURM_JOB_ID="4242", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_NTASKS="1",
                   SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="node1", SUBMITIT_EXECUTOR="slurm")
    (fake / "state").write_text("RUNNING\n")
    job = subprocess.Popen([sys.executable, "-u", "-m", "submitit.core._submit", str(folder)], env=job_env)
    run = out / "runs" / "coinrun-ppo-s1"
    _wait_for(run / "state.pt")
    job.send_signal(signal.SIGUSR2)
    job.wait(timeout=120)
    assert "requeue 4242" in (fake / "scontrol.log").read_text()
    stopped_at = json.loads((run / "job.json").read_text())
    assert stopped_at["state"] == "requeued"
    done = len(_rows(run))
    assert 1 <= done < 20
    assert not (folder / "4242_0_result.pkl").exists()

    # SLURM restarts it: the job continues from the checkpoint its trainer wrote when stopped.
    assert subprocess.call([sys.executable, "-u", "-m", "submitit.core._submit", str(folder)], env=job_env) == 0
    (fake / "state").write_text("COMPLETED\n")
    config = json.loads((run / "config.json").read_text())
    assert [r["from_iteration"] for r in config["resumed"]] == [done]  # nothing finished was lost
    assert [r["iteration"] for r in _rows(run)] == list(range(1, 21))
    assert json.loads((run / "job.json").read_text())["state"] == "done"

    # The sweep collects the finished job.
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())["runs"]["coinrun-ppo-s1"]
    assert manifest["state"] == "done" and manifest["results"]["policy_agent1"]["episodes"] == 2


def test_aggregate_counts_an_mdpo_run_once():
    from repconv.sweep import aggregate

    def run(algo, seed, *agents):
        return {"game": "coinrun", "algo": algo, "seed": seed, "state": "done",
                "results": {f"policy_agent{k}": {"train": tr, "test": te, "gap": tr - te}
                            for k, (tr, te) in enumerate(agents, start=1)}}

    manifest = {"runs": {
        "a": run("mdpo", 1, (8.0, 6.0), (6.0, 6.0)), "b": run("mdpo", 2, (9.0, 5.0), (9.0, 7.0)),
        "c": run("mdpo", 3, (4.0, 4.0), (6.0, 4.0)), "d": run("ppo", 1, (7.0, 7.5)),
        "e": {"game": "coinrun", "algo": "ppo", "seed": 2, "state": "training"},
    }}
    agg = aggregate(manifest, num_resamples=200)
    mdpo = agg["coinrun/mdpo"]
    assert mdpo["runs"] == 3 and mdpo["train"]["per_run"] == [7.0, 9.0, 5.0]
    # IQM of 3 values trims nothing (scipy trims int(0.25 * 3) = 0 from each end): the mean.
    assert mdpo["train"]["value"] == pytest.approx(7.0) and mdpo["gap"]["value"] == pytest.approx((1 + 3 + 1) / 3)
    assert 5.0 <= mdpo["train"]["ci"][0] <= 7.0 <= mdpo["train"]["ci"][1] <= 9.0
    assert agg["coinrun/ppo"]["runs"] == 1 and agg["coinrun/ppo"]["gap"]["value"] == pytest.approx(-0.5)

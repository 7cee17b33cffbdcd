"""Grids of Procgen training runs on submitit: train (resumable), evaluate, then estimate and report.

A sweep directory holds::

    sweep.json               the grid (games, algorithms, seeds, preset, overrides, evaluation settings)
    manifest.json            every run's state, job id and evaluation summary (rewritten atomically)
    runs/GAME-ALGO-sSEED/    one training run (procgen_checks.training layout) plus
        job.json             the job's own record of where it is (written atomically by the job)
        train.txt, eval.txt  the console output of the trainer and of the evaluations
        policy_agentK.eval.json
    submitit/                submitit's pickles and job logs
    estimate/                `repconv procgen estimate` over all finished policies, and its report.md

Each job is one :class:`RunJob`: it runs ``repconv procgen train`` in a child process (``--resume`` when the
run folder already holds ``state.pt``), then ``repconv procgen evaluate`` on every agent. A job that is
preempted or reaches its time limit receives submitit's signal; :meth:`RunJob.checkpoint` stops the trainer
with SIGTERM (it finishes the current iteration and writes its checkpoint) and asks submitit to requeue
the same job, which resumes from that checkpoint. Running the same sweep again skips finished runs and
resumes the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import submitit

from common.files import atomic_write_json, file_sha256, read_json, run_metadata

__all__ = [
    "DEFAULT_TORCH_THREADS",
    "JOB_FILE",
    "MANIFEST_FILE",
    "SWEEP_FILE",
    "THROUGHPUT",
    "RunJob",
    "RunSpec",
    "SlurmOptions",
    "dry_run_text",
    "make_grid",
    "run_sweep",
]

SWEEP_FILE = "sweep.json"
MANIFEST_FILE = "manifest.json"
JOB_FILE = "job.json"
ESTIMATE_DIR = "estimate"

#: Torch threads per job on CPU. benchmarks/bench_procgen_sweep_threads.py (cpu-small, coinrun, 2 quiet cores, medians
#: of 3, env steps/s of all agents): PPO one 1-thread run 291, one 2-thread run 516, two 1-thread runs at once 550;
#: MDPO 159, 258, 266. Two 1-thread jobs use the cores at least as well as one 2-thread job, and an oversubscribed
#: OpenMP pool collapses when another process takes a core (docs/procgen_training.md: 116 vs 22 env steps/s), so
#: one thread per job with --max-parallel 2. Run the benchmark on the machine that will run the sweep.
DEFAULT_TORCH_THREADS = 1

#: Env steps per second and run (all agents together) used by --dry-run. cpu: cpu-small on 2 quiet cores, two
#: 1-thread runs side by side (the sweep's defaults), from the benchmark above: PPO 550 / 2, MDPO 266 / 2 (the
#: committed study's runs, on a busy machine, logged 202-206 and 109-115); cuda: the committed runs of
#: checkpoints/README.md (six runs sharing one H100). Replace with --steps-per-s for another machine.
THROUGHPUT: dict[tuple[str, str], float] = {
    ("cpu", "ppo"): 275.0,
    ("cpu", "mdpo"): 133.0,
    ("cuda", "ppo"): 2200.0,
    ("cuda", "mdpo"): 4000.0,
}

#: submitit/SLURM states of a job that is still queued or running (a rerun does not submit it again).
_ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING",
                  "REQUEUE_HOLD", "REQUEUE_FED"}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: what to train and how to evaluate it."""

    game: str
    algo: str
    seed: int
    preset: str
    overrides: dict[str, Any]
    eval_episodes: int = 200
    eval_seed: int = 0
    device: str = "cpu"
    torch_threads: int = DEFAULT_TORCH_THREADS
    env_threads: int | None = None
    checkpoint_every: int = 10
    init_from: str | None = None  # policy file every new run starts from (train --init-from)

    @property
    def name(self) -> str:
        return f"{self.game}-{self.algo}-s{self.seed}"

    def config(self):
        from procgen_checks.config import make_config

        return make_config(self.preset, game=self.game, algo=self.algo, seed=self.seed, **self.overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """What a SLURM cluster needs to run the jobs; ``time_min`` is each job's wall-clock limit."""

    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    time_min: int = 60
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()
    signal_delay_s: int = 120
    max_requeues: int = 10


def make_grid(games: Iterable[str], algos: Iterable[str], seeds: Iterable[int], preset: str,
              overrides: dict[str, Any], **spec_options: Any) -> list[RunSpec]:
    """Every (game, algo, seed), each checked by building its TrainConfig (ValueError on bad input)."""
    specs = [RunSpec(game=g, algo=a, seed=int(s), preset=preset, overrides=dict(overrides), **spec_options)
             for g in games for a in algos for s in seeds]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("the grid lists a (game, algo, seed) twice")
    if not specs:
        raise ValueError("the grid is empty")
    for s in specs:
        s.config()
    if specs[0].init_from is not None and not Path(specs[0].init_from).is_file():
        raise ValueError(f"{specs[0].init_from}: no such policy file (--init-from)")
    if specs[0].eval_episodes < 1:
        raise ValueError(f"evaluation episodes is {specs[0].eval_episodes}, expected >= 1")
    return specs


# ------------------------------------------------------------------------------------------- one job
def _cli() -> list[str]:
    return [sys.executable, "-m", "repconv", "procgen"]


def _child_setup() -> None:  # pragma: no cover (runs in the child before exec)
    # SLURM may signal every process of the job step; only the job process handles the requeue signal,
    # and it stops the trainer with SIGTERM.
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    # If the job process dies (killed sweep, cancelled job), the trainer gets SIGTERM and stops at its next
    # iteration boundary, checkpoint written: no orphan keeps writing into a run that a rerun resumes.
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _policy_iteration(path: Path) -> tuple[int, int] | None:
    """(iteration, env_steps) recorded in a policy checkpoint, or None when there is none."""
    if not path.is_file():
        return None
    from procgen_checks.checkpoints import load_policy

    _, info = load_policy(path)
    return int(info.get("extra", {}).get("iteration", -1)), int(info["env_steps"])


class RunJob(submitit.helpers.Checkpointable):
    """Train one run to its total steps (resuming what is on disk), then evaluate every agent."""

    def __init__(self, spec: dict[str, Any], run_dir: str):
        self.spec = spec
        self.run_dir = run_dir
        self._child: subprocess.Popen | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._child = None

    def _record(self, state: str, **info: Any) -> None:
        run_dir = Path(self.run_dir)
        old = read_json(run_dir / JOB_FILE) if (run_dir / JOB_FILE).is_file() else {}
        atomic_write_json(run_dir / JOB_FILE, {**old, **info, "state": state, "updated": time.time()})

    def _run(self, cmd: list[str], log_name: str) -> int:
        run_dir = Path(self.run_dir)
        with open(run_dir / log_name, "a") as log:
            log.write(f"$ {shlex.join(cmd)}\n")
            log.flush()
            self._child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_child_setup)  # noqa: PLW1509 (before any thread starts)
            try:
                while self._child.poll() is None:  # short polls: a signal handler may need to reap the child
                    time.sleep(0.5)
                return self._child.returncode
            finally:
                self._child = None

    def __call__(self) -> dict[str, Any]:
        spec = RunSpec(**self.spec)
        config = spec.config()
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        policies = [run_dir / f"policy_agent{k}.pt" for k in range(1, config.num_agents + 1)]
        env = submitit.JobEnvironment() if _in_submitit() else None
        self._record("training", job_id=env.job_id if env else None, host=os.uname().nodename, pid=os.getpid())

        done = _policy_iteration(policies[0])
        if done is None or done[0] < config.num_iterations:
            cmd = _cli() + ["train", "--device", spec.device, "--torch-threads", str(spec.torch_threads),
                            "--checkpoint-every", str(spec.checkpoint_every), "--no-progress"]
            if spec.env_threads is not None:
                cmd += ["--env-threads", str(spec.env_threads)]
            if (run_dir / "state.pt").is_file():
                cmd += ["--resume", str(run_dir), "--total-steps", str(config.total_steps)]
            else:
                cmd += ["--out", str(run_dir), "--game", spec.game, "--algo", spec.algo, "--seed", str(spec.seed),
                        "--preset", spec.preset]
                if spec.init_from:
                    cmd += ["--init-from", spec.init_from]
                for key, value in spec.overrides.items():
                    flag = "--" + key.replace("_", "-")
                    cmd += [flag] if value is True else [f"--no-{flag[2:]}"] if value is False else [flag, str(value)]
            rc = self._run(cmd, "train.txt")
            done = _policy_iteration(policies[0])
            if done is None or done[0] < config.num_iterations:
                reached = "no checkpoint" if done is None else f"iteration {done[0]}"
                self._record("stopped", returncode=rc, iteration=None if done is None else done[0])
                raise RuntimeError(f"{spec.name}: training stopped at {reached} of {config.num_iterations} "
                                   f"(exit code {rc}); see {run_dir / 'train.txt'}")
        self._record("evaluating", iteration=done[0], env_steps=done[1])

        evaluations = []
        for path in policies:
            out = path.with_suffix(".eval.json")
            current = read_json(out) if out.is_file() else None
            if current is None or current["policy"]["env_steps"] != _policy_iteration(path)[1] \
                    or current["splits"]["train"]["episodes"] != spec.eval_episodes:
                if current is not None:  # an evaluation of an earlier checkpoint is kept under its own name
                    _keep_earlier_evaluation(out, current)
                cmd = _cli() + ["evaluate", str(path), "--episodes", str(spec.eval_episodes), "--seed",
                                str(spec.eval_seed), "--device", spec.device, "--torch-threads", str(spec.torch_threads),
                                "--out", str(out), "--no-progress", "--overwrite"]  # only a stale result is replaced
                rc = self._run(cmd, "eval.txt")
                if rc != 0 or not out.is_file():
                    self._record("failed", returncode=rc)
                    raise RuntimeError(f"{spec.name}: evaluation of {path.name} failed (exit code {rc}); "
                                       f"see {run_dir / 'eval.txt'}")
            evaluations.append(out.name)
        self._record("done", evaluations=evaluations)
        return {"run": spec.name, "evaluations": evaluations}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """On preemption or time-out: let the trainer finish its iteration and checkpoint, then requeue."""
        child = self._child
        if child is not None and child.returncode is None:
            # Reaped with os.waitpid: this runs inside a signal handler, possibly while Popen holds its lock.
            try:
                os.kill(child.pid, signal.SIGTERM)
                deadline = time.monotonic() + float(os.environ.get("REPCONV_SWEEP_STOP_GRACE_S", "600"))
                while os.waitpid(child.pid, os.WNOHANG)[0] == 0:
                    if time.monotonic() > deadline:
                        os.kill(child.pid, signal.SIGKILL)
                        os.waitpid(child.pid, 0)
                        break
                    time.sleep(0.2)
            except (ProcessLookupError, ChildProcessError):  # it had already ended
                pass
        self._record("requeued")
        return submitit.helpers.DelayedSubmission(RunJob(self.spec, self.run_dir))


def _keep_earlier_evaluation(path: Path, evaluation: dict[str, Any]) -> Path:
    """Rename ``policy_agentK.eval.json`` to ``policy_agentK.eval-STEPSsteps-EPISODESepisodes.json`` (never over a file)."""
    stem = path.name[: -len(".eval.json")]
    label = f"{evaluation['policy']['env_steps']}steps-{evaluation['splits']['train']['episodes']}episodes"
    target = path.with_name(f"{stem}.eval-{label}.json")
    k = 2
    while target.exists():
        target = path.with_name(f"{stem}.eval-{label}-{k}.json")
        k += 1
    os.replace(path, target)
    return target


def _trained_iterations(run_dir: Path) -> int | None:
    """Iterations in the run's first policy checkpoint, or None when it has none."""
    done = _policy_iteration(run_dir / "policy_agent1.pt")
    return None if done is None else done[0]


def _in_submitit() -> bool:
    try:
        submitit.JobEnvironment()
        return True
    except RuntimeError:
        return False


# ------------------------------------------------------------------------------------------- the sweep
def _sweep_record(specs: list[RunSpec]) -> dict[str, Any]:
    first = specs[0]
    return {
        "games": sorted({s.game for s in specs}), "algos": sorted({s.algo for s in specs}),
        "seeds": sorted({s.seed for s in specs}), "preset": first.preset, "overrides": first.overrides,
        "eval_episodes": first.eval_episodes, "eval_seed": first.eval_seed, "init_from": first.init_from,
        "init_from_sha256": file_sha256(first.init_from) if first.init_from else None,
        "runs": [s.name for s in specs],
    }


def _check_sweep_dir(sweep_dir: Path, specs: list[RunSpec]) -> None:
    """A sweep directory holds one grid: a rerun with other settings is refused (no run is mixed up)."""
    record = _sweep_record(specs)
    path = sweep_dir / SWEEP_FILE
    if path.is_file():
        old = read_json(path)
        keys = ("preset", "overrides", "eval_episodes", "eval_seed", "init_from")

        # total_steps may grow: a rerun with more steps trains every run further (train --resume --total-steps).
        # The starting policy is compared by content (SHA-256), so the sweep continues from another checkout.
        def comparable(rec: dict[str, Any], key: str) -> Any:
            value = rec.get(key)
            if key == "init_from" and value is not None:
                return rec.get("init_from_sha256") or value
            return {k: v for k, v in value.items() if k != "total_steps"} if key == "overrides" and value else value

        differ = [k for k in keys if comparable(old, k) != comparable(record, k)]
        if differ:
            raise ValueError(f"{sweep_dir} holds a sweep with other {', '.join(differ)} "
                             f"({', '.join(f'{k}={old.get(k)!r}' for k in differ)}); use another --out")
        record["runs"] = sorted(set(old.get("runs", [])) | set(record["runs"]))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {**record, "meta": run_metadata()})


def _run_state(run_dir: Path) -> str:
    job = run_dir / JOB_FILE
    return read_json(job).get("state", "unknown") if job.is_file() else "new"


def _summary(run_dir: Path) -> dict[str, Any]:
    out = {}
    for path in sorted(run_dir.glob("policy_agent*.eval.json")):
        ev = read_json(path)
        tr, te, gap = ev["splits"]["train"], ev["splits"]["test"], ev["generalization_gap"]
        out[path.name.split(".")[0]] = {
            "env_steps": ev["policy"]["env_steps"], "episodes": tr["episodes"],
            "train": tr["mean"], "train_ci": tr["ci"], "test": te["mean"], "test_ci": te["ci"],
            "gap": gap["mean"], "gap_ci": gap["ci"],
        }
    return out


class Manifest:
    """manifest.json: one entry per run, rewritten atomically after every change (one writer: the sweep)."""

    def __init__(self, sweep_dir: Path, specs: list[RunSpec]):
        self.path = sweep_dir / MANIFEST_FILE
        self.data = read_json(self.path) if self.path.is_file() else {"runs": {}}
        for s in specs:
            entry = self.data["runs"].setdefault(s.name, {})
            entry.update(game=s.game, algo=s.algo, seed=s.seed, dir=f"runs/{s.name}")

    def update(self, name: str, **info: Any) -> None:
        self.data["runs"][name].update(info)
        self.save()

    def save(self, **top: Any) -> None:
        self.data.update(top, updated=time.time())
        atomic_write_json(self.path, self.data)


def make_executor(kind: str, folder: Path, max_parallel: int, slurm: SlurmOptions | None, name: str):
    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder, max_num_timeout=slurm.max_requeues if slurm else 10)
        executor.update_parameters(timeout_min=(slurm.time_min if slurm else 7 * 24 * 60),
                                   signal_delay_s=(slurm.signal_delay_s if slurm else 120))
        return executor
    if kind == "slurm":
        s = slurm or SlurmOptions()
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=s.max_requeues)
        params: dict[str, Any] = {"job_name": name, "time": s.time_min, "signal_delay_s": s.signal_delay_s,
                                      "array_parallelism": max_parallel, "ntasks_per_node": 1, "nodes": 1,
                                      "setup": list(s.setup)}
        for key, value in (("partition", s.partition), ("cpus_per_task", s.cpus_per_job), ("account", s.account),
                           ("qos", s.qos), ("constraint", s.constraint)):
            if value is not None:
                params[key] = value
        if s.gpus_per_job:
            params["gpus_per_node"] = s.gpus_per_job
        if s.mem_gb is not None:
            params["mem"] = f"{round(s.mem_gb * 1024)}M"
        executor.update_parameters(**params)
        return executor
    raise ValueError(f"executor is {kind!r}; expected local or slurm")


def _job_active(folder: Path, job_id: str | None) -> bool:
    if not job_id:
        return False
    state = submitit.SlurmJob(folder=folder, job_id=str(job_id)).state
    return state.split()[0].upper() in _ACTIVE_STATES


def run_sweep(
    sweep_dir: str | Path,
    specs: list[RunSpec],
    *,
    executor: str = "local",
    max_parallel: int = 2,
    slurm: SlurmOptions | None = None,
    wait: bool = True,
    poll_s: float = 5.0,
    estimate_args: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every unfinished run of the grid, then the estimate over all finished policies.

    Returns the manifest. ``estimate_args=None`` skips the estimate; ``[]`` runs it with its defaults.
    """
    if max_parallel < 1:
        raise ValueError(f"max parallel is {max_parallel}, expected >= 1")
    sweep_dir = Path(sweep_dir)
    _check_sweep_dir(sweep_dir, specs)
    manifest = Manifest(sweep_dir, specs)
    folder = sweep_dir / "submitit" / "%j"
    ex = make_executor(executor, folder, max_parallel, slurm, name=f"repconv-{sweep_dir.name}")

    todo = []
    for s in specs:
        state = _run_state(sweep_dir / "runs" / s.name)
        entry = manifest.data["runs"][s.name]
        trained = _trained_iterations(sweep_dir / "runs" / s.name) if state == "done" else None
        if state == "done" and trained is not None and trained < s.config().num_iterations:
            log(f"{s.name}: finished earlier at iteration {trained}; trains further to {s.config().num_iterations} "
                f"(--total-steps {s.config().total_steps}), then evaluates again (the earlier evaluation is kept)")
            todo.append((s, "submit"))
        elif state == "done":
            manifest.update(s.name, state="done", results=_summary(sweep_dir / "runs" / s.name))
            log(f"{s.name}: finished earlier, skipped")
        elif executor == "slurm" and entry.get("executor") == "slurm" and _job_active(folder, entry.get("job_id")):
            log(f"{s.name}: job {entry['job_id']} still queued or running, not submitted again")
            todo.append((s, None))
        else:
            todo.append((s, "submit"))

    def submit(s: RunSpec):
        job = ex.submit(RunJob(s.to_dict(), str(sweep_dir / "runs" / s.name)))
        resumed = (sweep_dir / "runs" / s.name / "state.pt").is_file()
        manifest.update(s.name, state="submitted", executor=executor, job_id=str(job.job_id),
                        attempts=manifest.data["runs"][s.name].get("attempts", 0) + 1, resumed=resumed)
        log(f"{s.name}: submitted as job {job.job_id}{' (resumes its checkpoint)' if resumed else ''}")
        return job

    jobs: dict[str, Any] = {}
    if executor == "slurm":
        new = [s for s, action in todo if action == "submit"]
        if new:
            with ex.batch():
                pending = [(s, ex.submit(RunJob(s.to_dict(), str(sweep_dir / "runs" / s.name)))) for s in new]
            for s, job in pending:
                manifest.update(s.name, state="submitted", executor="slurm", job_id=str(job.job_id),
                                attempts=manifest.data["runs"][s.name].get("attempts", 0) + 1,
                                resumed=(sweep_dir / "runs" / s.name / "state.pt").is_file())
                log(f"{s.name}: submitted as job {job.job_id}")
        for s, _ in todo:
            jobs[s.name] = submitit.SlurmJob(folder=folder, job_id=manifest.data["runs"][s.name]["job_id"])
        if not wait:
            log(f"submitted; run the same command again to collect the results (manifest: {manifest.path})")
            return manifest.data
        queue: list[RunSpec] = []
    else:
        queue = [s for s, _ in todo]

    failed = []
    while queue or jobs:
        while queue and len(jobs) < max_parallel:
            s = queue.pop(0)
            jobs[s.name] = submit(s)
        time.sleep(poll_s)
        for name, job in list(jobs.items()):
            if not job.done():
                continue
            del jobs[name]
            run_dir = sweep_dir / "runs" / name
            try:
                job.result()
            except Exception as err:  # noqa: BLE001 (the job's own error, kept in the manifest and its log)
                failed.append(name)
                message = str(err).strip().splitlines()
                manifest.update(name, state=_run_state(run_dir) if _run_state(run_dir) != "done" else "failed",
                                error=message[-1] if message else repr(err))
                log(f"{name}: {manifest.data['runs'][name]['state']}: {manifest.data['runs'][name]['error']}")
                continue
            manifest.update(name, state="done", results=_summary(run_dir), error=None)
            log(f"{name}: done")

    if failed:
        log(f"{len(failed)} run(s) did not finish ({', '.join(failed)}); run the same command again to resume them")
    if estimate_args is not None:
        finished = [n for n, e in manifest.data["runs"].items() if e.get("state") == "done"]
        if finished:
            _estimate(sweep_dir, sorted(finished), estimate_args, manifest, log)
    return manifest.data


def _estimate(sweep_dir: Path, names: list[str], extra: list[str], manifest: Manifest, log) -> None:
    checkpoints, evaluations = [], []
    for name in names:
        run_dir = sweep_dir / "runs" / name
        for path in sorted(run_dir.glob("policy_agent*.pt")):
            checkpoints.append(str(path))
            evaluations.append(str(path.with_suffix(".eval.json")))
    out = sweep_dir / ESTIMATE_DIR
    cmd = _cli() + ["estimate", *checkpoints, "--out", str(out), "--evaluation", *evaluations, "--no-progress",
                    "--overwrite", *extra]  # the estimate of the sweep's current runs replaces the earlier one
    log(f"estimate over {len(checkpoints)} policies of {len(names)} runs -> {out}")
    rc = subprocess.call(cmd)
    if rc == 0:
        rc = subprocess.call(_cli() + ["report", str(out)])
    manifest.save(estimate={"dir": ESTIMATE_DIR, "runs": names, "returncode": rc})
    if rc != 0:
        raise RuntimeError(f"the estimate over the finished runs failed (exit code {rc})")


def aggregate(manifest: dict[str, Any], seed: int = 0, num_resamples: int = 10_000) -> dict[str, Any]:
    """Per (game, algo): IQM over independent runs of the train return, test return and gap, with 95%
    stratified-bootstrap intervals (common.stats). One score per run: an MDPO run's two coupled agents are
    averaged, since they are one run, not two."""
    import numpy as np

    from common.stats import interval_estimate

    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for entry in manifest["runs"].values():
        results = entry.get("results") or {}
        if entry.get("state") != "done" or not results:
            continue
        scores = groups.setdefault((entry["game"], entry["algo"]), {"train": [], "test": [], "gap": [], "seeds": []})
        for key in ("train", "test", "gap"):
            scores[key].append(float(np.mean([r[key] for r in results.values()])))
        scores["seeds"].append(entry["seed"])
    out = {}
    for (game, algo), scores in sorted(groups.items()):
        rng = np.random.default_rng(seed)
        out[f"{game}/{algo}"] = {
            "runs": len(scores["seeds"]), "seeds": scores["seeds"],
            **{key: {"per_run": scores[key],
                     **interval_estimate([np.asarray(scores[key])], rng, num_resamples=num_resamples)}
               for key in ("train", "test", "gap")},
        }
    return out


# ------------------------------------------------------------------------------------------- dry run
def total_env_steps(specs: list[RunSpec]) -> int:
    """Environment steps of the whole grid, all agents counted (an MDPO run steps two sets of environments)."""
    total = 0
    for s in specs:
        c = s.config()
        total += c.num_iterations * c.batch_size * c.num_agents
    return total


def dry_run_text(specs: list[RunSpec], *, max_parallel: int, device: str = "cpu",
                 throughput: float | None = None) -> str:
    """The grid, its environment steps and its cost at the benchmark's throughput (one line per run)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    lines = [f"{'run':28s} {'preset':10s} {'levels':>7s} {'iterations':>10s} {'env steps (all agents)':>23s} {'hours':>7s}"]
    total_h = 0.0
    for s in specs:
        c = s.config()
        steps = c.num_iterations * c.batch_size * c.num_agents
        rate = throughput or THROUGHPUT[(kind, s.algo)]
        hours = steps / rate / 3600
        total_h += hours
        lines.append(f"{s.name:28s} {s.preset:10s} {c.num_levels:7d} {c.num_iterations:10d} {steps:23,d} {hours:7.2f}")
    steps = total_env_steps(specs)
    source = "throughput given by --steps-per-s" if throughput else f"measured {kind} throughput per run (repconv/sweep.py THROUGHPUT)"
    lines.append(f"{len(specs)} runs, {steps:,} env steps in all; at the {source}: {total_h:.2f} run-hours, "
                 f"about {total_h / min(max_parallel, len(specs)):.2f} h of wall-clock with {max_parallel} in parallel")
    return "\n".join(lines)


def load_manifest(sweep_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(sweep_dir) / MANIFEST_FILE).read_text())

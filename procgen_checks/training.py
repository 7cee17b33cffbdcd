"""A training run on disk: start, log, checkpoint, stop cleanly, resume.

A run directory holds::

    config.json          the TrainConfig and the run's provenance (run_metadata)
    log.csv, log.jsonl   one row per iteration (same fields)
    state.pt             everything needed to continue exactly (see Trainer.state_dict)
    policy_agent1.pt     the agent's policy (procgen_checks.checkpoints format); MDPO adds policy_agent2.pt

Checkpoints are written every ``checkpoint_every`` iterations, when the run ends, when a time limit
is about to be reached, and after SIGTERM or Ctrl-C (at the end of the current iteration). Files are
replaced atomically, so a run killed at any moment resumes from its last checkpoint; log rows written
after that checkpoint are dropped on resume and computed again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from common.files import atomic_write_json, atomic_write_text, file_sha256, read_json, run_metadata

from .checkpoints import load_policy, load_torch_file, resolve_policy_path, save_policy, torch_save_atomic
from .config import RuntimeOptions, TrainConfig
from .ppo import TRAIN_STATE_FORMAT, Trainer

__all__ = ["RuntimeOptions", "resolve_device", "choose_torch_threads", "train", "STATE_FILE"]

STATE_FILE = "state.pt"
CONFIG_FILE = "config.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device (torch {torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: expected auto, cpu or cuda")
    return device


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def choose_torch_threads(device: torch.device, requested: int | None = None) -> int:
    """Torch CPU threads; ``requested`` wins.

    On CPU: all available cores but one (at least 1). The spare core keeps Procgen's stepping and
    anything else on the machine from stalling torch's OpenMP workers, whose spin-waits make an
    oversubscribed run several times slower (measured on 2 shared cores: 1 thread 116 env steps/s,
    2 threads 22 env steps/s, with another process busy). With CUDA: at most 4, since the CPU
    only steps Procgen and moves frames, and several runs may share one machine.
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f"torch threads is {requested}, expected >= 1")
        return requested
    cores = _available_cores()
    return max(1, cores - 1) if device.type == "cpu" else min(4, cores)


class _IterationLog:
    """Appends one row per iteration to log.csv and log.jsonl (flushed at once)."""

    def __init__(self, run_dir: Path, keep_through: int | None):
        self.csv_path, self.jsonl_path = run_dir / "log.csv", run_dir / "log.jsonl"
        rows = []
        if keep_through is not None and self.jsonl_path.exists():
            rows = [json.loads(line) for line in self.jsonl_path.read_text().splitlines() if line.strip()]
            rows = [r for r in rows if r["iteration"] <= keep_through]
        self.fields: list[str] | None = list(rows[0]) if rows else None
        # Rewrite both files from the kept rows: rows after the checkpoint will be computed again.
        atomic_write_text(self.jsonl_path, "".join(json.dumps(r) + "\n" for r in rows))
        atomic_write_text(self.csv_path, self._csv_text(rows) if rows else "")

    def _csv_text(self, rows: list[dict[str, Any]], header: bool = True) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, lineterminator="\n")
        if header:
            writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def append(self, row: dict[str, Any]) -> None:
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        header = self.fields is None
        if header:
            self.fields = list(row)
        with open(self.jsonl_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        with open(self.csv_path, "a") as fh:
            fh.write(self._csv_text([row], header=header))


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, Any]]:
    """SIGTERM and the first Ctrl-C request a stop at the next iteration boundary; a second Ctrl-C interrupts."""
    flag: dict[str, Any] = {"signal": None}
    previous = {}

    def handler(signum, frame):
        if signum == signal.SIGINT and flag["signal"] is not None:
            raise KeyboardInterrupt
        flag["signal"] = signal.Signals(signum).name

    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: no signal handling
        pass
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _policy_paths(run_dir: Path, num_agents: int) -> list[Path]:
    return [run_dir / f"policy_agent{k}.pt" for k in range(1, num_agents + 1)]


def _checkpoint(trainer: Trainer, run_dir: Path, elapsed: float) -> float:
    """Write the policies, then the full state; returns the seconds it took."""
    start = time.perf_counter()
    c = trainer.config
    for k, (agent, path) in enumerate(zip(trainer.agents, _policy_paths(run_dir, len(trainer.agents))), start=1):
        save_policy(
            path, agent.model, game=c.game, distribution_mode=c.distribution_mode, algo=c.algo, agent=k, seed=c.seed,
            train_levels=(c.start_level, c.num_levels), env_steps=agent.env_steps,
            extra={"iteration": trainer.iteration, "config": c.to_dict()},
        )
    state = trainer.state_dict()
    state["elapsed_s"] = elapsed
    torch_save_atomic(state, run_dir / STATE_FILE)
    return time.perf_counter() - start


def _initial_policy(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights of a policy checkpoint (critic only if it has one) and what config.json records about it."""
    path = resolve_policy_path(path)
    model, info = load_policy(path)
    state = {k: v for k, v in model.state_dict().items() if model.has_critic or not k.startswith("critic.")}
    record = {"path": str(path), "sha256": file_sha256(path),
              "critic": bool(model.has_critic), "optimizer": "fresh", "reward_normalizer": "fresh",
              **{k: info.get(k) for k in ("game", "distribution_mode", "algo", "agent", "seed", "train_levels", "env_steps")}}
    return state, record


def _fmt(x: float) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _resume(run_dir: Path, runtime: RuntimeOptions, device, total_steps: int | None):
    """The trainer of the run in ``run_dir`` as its ``state.pt`` left it (``total_steps`` may extend it), its
    iteration log, and the seconds it had trained; config.json records the resumption."""
    state_path = run_dir / STATE_FILE
    if not state_path.is_file():
        policies = sorted(p.name for p in run_dir.glob("policy_agent*.pt")) if run_dir.is_dir() else []
        hint = (f"it holds only {', '.join(policies)}: start a new run from it with --init-from {run_dir / policies[0]} --out NEW_DIR"
                if policies else f"start a new run with --out {run_dir}, or from a policy file with --init-from POLICY.pt")
        raise FileNotFoundError(f"{run_dir}: no {STATE_FILE} (optimiser, environments, normaliser) to resume from; {hint}")
    state = load_torch_file(state_path, "training state")
    if not isinstance(state, dict) or state.get("format") != TRAIN_STATE_FORMAT or "config" not in state:
        raise ValueError(f"{state_path}: not a {TRAIN_STATE_FORMAT} file written by `repconv procgen train`")
    saved = TrainConfig.from_dict(state["config"])
    config = TrainConfig.from_dict({**saved.to_dict(), **({"total_steps": total_steps} if total_steps is not None else {})})
    trainer = Trainer.from_state(state, device=device, env_threads=runtime.env_threads, config=config,
                                 update_chunk=runtime.update_chunk)
    elapsed_before = float(state.get("elapsed_s", 0.0))
    meta = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else {}
    meta.setdefault("resumed", []).append(run_metadata(config=config.to_dict(), seed=config.seed,
                                                       from_iteration=trainer.iteration, device=str(device)))
    meta["config"] = config.to_dict()
    atomic_write_json(run_dir / CONFIG_FILE, meta)
    log = _IterationLog(run_dir, keep_through=trainer.iteration)
    return trainer, log, elapsed_before


def _start(config: TrainConfig | None, run_dir: Path, runtime: RuntimeOptions, device, total_steps: int | None,
           init_from: str | Path | None):
    """A new trainer for ``config`` (its agents' weights from ``init_from`` if given), with config.json written and
    an empty iteration log."""
    if config is None:
        raise ValueError("a new run needs a config")
    if total_steps is not None:
        config = TrainConfig.from_dict({**config.to_dict(), "total_steps": total_steps})
    if (run_dir / STATE_FILE).exists():
        raise FileExistsError(f"{run_dir} already holds a run ({STATE_FILE}); continue it with --resume {run_dir} or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    start = _initial_policy(init_from) if init_from is not None else None
    trainer = Trainer(config, device=device, env_threads=runtime.env_threads, update_chunk=runtime.update_chunk)
    extra = {}
    if start is not None:
        state, extra["init_from"] = start
        for agent in trainer.agents:  # in place: the fresh optimiser keeps pointing at these parameters
            agent.model.load_state_dict({**agent.model.state_dict(), **state})
    atomic_write_json(run_dir / CONFIG_FILE, run_metadata(
        config=config.to_dict(), seed=config.seed, device=str(device), torch_threads=torch.get_num_threads(),
        runtime={k: v for k, v in vars(runtime).items()}, **extra))
    log = _IterationLog(run_dir, keep_through=None)
    return trainer, log


def _iterate(trainer: Trainer, run_dir: Path, runtime: RuntimeOptions, log: _IterationLog, *, origin: float,
             elapsed_before: float, last_saved: int | None) -> tuple[str, str, str | None]:
    """Iterate to the config's total steps, logging every iteration and checkpointing every
    ``runtime.checkpoint_every``; stop early at a signal or before the time limit would pass. Writes the final
    checkpoint and closes the trainer. Returns (status, reason, signal name or None)."""
    c = trainer.config
    total_iterations = c.num_iterations
    status, reason, stopped_by = "finished", "total_steps reached", None
    checkpoint_s = 2.0  # estimate until measured
    iteration_s = trainer.last_iteration_seconds
    start_run = time.monotonic()
    clean = False  # an exception inside an iteration leaves a half-collected rollout: keep the last checkpoint

    from tqdm.auto import tqdm

    bar = tqdm(total=total_iterations * c.batch_size, initial=trainer.iteration * c.batch_size, unit="step",
               unit_scale=True, disable=not runtime.progress, desc=f"{c.algo} {c.game}", dynamic_ncols=True)
    try:
        with _stop_on_signals() as stop:
            while trainer.iteration < total_iterations:
                if stop["signal"]:
                    status, reason, stopped_by = "stopped", f"{stop['signal']} received", stop["signal"]
                    break
                if runtime.time_limit is not None:
                    needed = 1.0 + 1.5 * checkpoint_s + (1.25 * iteration_s if iteration_s else 0.0)
                    if time.monotonic() - origin + needed > runtime.time_limit:
                        status, reason = "stopped", f"time limit of {runtime.time_limit:g} s"
                        break
                row = trainer.iterate()
                iteration_s = max(trainer.last_iteration_seconds, 0.8 * (iteration_s or 0.0))
                row["elapsed_s"] = elapsed_before + time.monotonic() - start_run
                log.append(row)
                bar.update(c.batch_size)
                post = {"sps": f"{row['steps_per_s']:.0f}"}
                for k in range(1, c.num_agents + 1):
                    post[f"ret{k}"] = _fmt(row[f"agent{k}_return_recent"])
                bar.set_postfix(post, refresh=False)
                if trainer.iteration % runtime.checkpoint_every == 0:
                    checkpoint_s = _checkpoint(trainer, run_dir, elapsed_before + time.monotonic() - start_run)
                    last_saved = trainer.iteration
        clean = True
    finally:
        bar.close()
        if clean and (last_saved != trainer.iteration or not (run_dir / STATE_FILE).exists()):
            _checkpoint(trainer, run_dir, elapsed_before + time.monotonic() - start_run)
        trainer.close()
    return status, reason, stopped_by


def train(
    config: TrainConfig | None,
    run_dir: str | Path,
    runtime: RuntimeOptions = RuntimeOptions(),
    *,
    resume: bool = False,
    total_steps: int | None = None,
    time_origin: float | None = None,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train into ``run_dir`` (new run) or continue the run there (``resume=True``).

    On resume ``config`` is ignored except for ``total_steps`` (pass it to train further).
    ``init_from`` (new runs only) is a policy checkpoint whose weights every agent starts from; the optimiser,
    reward normaliser and environments start fresh, and the file is recorded in config.json.
    ``time_origin`` (``time.monotonic()`` at the start of the command) anchors ``runtime.time_limit``.
    Returns a summary: status ("finished" or "stopped"), reason, signal (the name of the signal that stopped
    the run, or None), iteration, env_steps, files.
    """
    origin = time.monotonic() if time_origin is None else time_origin
    run_dir = Path(run_dir)
    device = resolve_device(runtime.device)
    torch.set_num_threads(choose_torch_threads(device, runtime.torch_threads))
    if runtime.checkpoint_every < 1:
        raise ValueError(f"checkpoint_every is {runtime.checkpoint_every}, expected >= 1")

    if resume:
        if init_from is not None:
            raise ValueError("--init-from starts a new run; --resume continues one (give one of them)")
        trainer, log, elapsed_before = _resume(run_dir, runtime, device, total_steps)
    else:
        trainer, log = _start(config, run_dir, runtime, device, total_steps, init_from)
        elapsed_before = 0.0
    c = trainer.config
    total_iterations = c.num_iterations
    status, reason, stopped_by = _iterate(trainer, run_dir, runtime, log, origin=origin, elapsed_before=elapsed_before,
                                          last_saved=trainer.iteration if resume else None)
    return {
        "status": status,
        "reason": reason,
        "signal": stopped_by,
        "iteration": trainer.iteration,
        "total_iterations": total_iterations,
        "env_steps": trainer.agents[0].env_steps,
        "run_dir": str(run_dir),
        "policies": [str(p) for p in _policy_paths(run_dir, c.num_agents)],
    }

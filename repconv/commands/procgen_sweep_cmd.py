"""``repconv procgen sweep``: a grid of training runs on submitit (local processes or SLURM)."""

from __future__ import annotations

import argparse
import shlex
import textwrap
from pathlib import Path

from repconv.cli import CommandError


def _names(text: str) -> list[str]:
    return [t for t in text.replace(" ", "").split(",") if t]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers, e.g. 1,2,3") from None


def register_procgen(sub: argparse._SubParsersAction) -> None:
    from procgen_checks.config import PRESETS
    from repconv.commands.procgen_train_cmd import add_hyperparameter_arguments
    from repconv.sweep import DEFAULT_TORCH_THREADS

    p = sub.add_parser(
        "sweep",
        help="train and evaluate a grid of runs (games x algorithms x seeds) locally or on SLURM, then estimate; resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Train every (game, algorithm, seed) of the grid, evaluate each agent on training and test levels, "
            "then run `repconv procgen estimate` and `report` over all finished policies. Jobs run through "
            "submitit: as local processes (--max-parallel at once) or as SLURM jobs. OUT holds one folder per "
            "run (runs/GAME-ALGO-sSEED) and manifest.json with every job's state. A preempted or timed-out job "
            "checkpoints and is requeued, resuming where it stopped; running the same command again skips "
            "finished runs and resumes the others.", width=100,
        ) + "\n\nexample (a 2 x 2 grid of smoke runs, seconds each):\n"
            "  repconv procgen sweep --games coinrun --algos ppo,mdpo --seeds 1,2 --preset smoke \\\n"
            "      --eval-episodes 8 --estimate-args='--states 16 --sweep-states 0 --no-figures' --out sweeps/smoke",
    )
    p.add_argument("--games", type=_names, required=True, help="comma-separated Procgen games")
    p.add_argument("--algos", type=_names, default=["ppo", "mdpo"], help="comma-separated algorithms (default: ppo,mdpo)")
    p.add_argument("--seeds", type=_ints, default=[1, 2, 3], help="comma-separated training seeds (default: 1,2,3)")
    p.add_argument("--preset", choices=list(PRESETS), required=True, help="starting configuration of every run")
    p.add_argument("--out", required=True, metavar="DIR", help="sweep directory (created; reused by a rerun)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local", help="where jobs run (default: local)")
    p.add_argument("--max-parallel", type=int, default=2,
                   help="jobs running at once (local processes, or the SLURM array's parallelism; default: 2)")
    p.add_argument("--eval-episodes", type=int, default=200, help="evaluation episodes per split and agent (default: 200)")
    p.add_argument("--eval-seed", type=int, default=0, help="seed of the evaluations (default: 0)")
    p.add_argument("--device", default="cpu", help="device of every job: cpu or cuda (default: cpu)")
    p.add_argument("--torch-threads", type=int, default=DEFAULT_TORCH_THREADS,
                   help=f"torch threads per job (default: {DEFAULT_TORCH_THREADS}; see docs/procgen_training.md)")
    p.add_argument("--env-threads", type=int, help="Procgen stepping threads per agent (default: Procgen's 4)")
    p.add_argument("--init-from", metavar="POLICY.pt",
                   help="every run starts from this policy's weights (repconv procgen train --init-from); recorded by path and SHA-256, and a rerun compares it by content")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="N", help="iterations between checkpoints (default: 10)")
    p.add_argument("--estimate-args", default="", metavar="ARGS",
                   help="options passed to `repconv procgen estimate` (one quoted string, e.g. '--states 256')")
    p.add_argument("--no-estimate", action="store_true", help="train and evaluate only")
    p.add_argument("--dry-run", action="store_true", help="print the grid, its env steps and its estimated cost; run nothing")
    p.add_argument("--steps-per-s", type=float, help="throughput per run for --dry-run (default: the measured one)")
    p.add_argument("--no-wait", action="store_true",
                   help="SLURM: submit and return; the same command later collects results and runs the estimate")
    p.add_argument("--poll", type=float, default=5.0, metavar="SECONDS", help="seconds between job-state checks (default: 5)")
    s = p.add_argument_group("SLURM (with --executor slurm)")
    s.add_argument("--partition", help="partition")
    s.add_argument("--gpus-per-job", type=int, default=0, help="GPUs per job (default: 0)")
    s.add_argument("--cpus-per-job", type=int, help="CPU cores per job")
    s.add_argument("--mem-gb", type=float, help="memory per job in GB")
    s.add_argument("--time", type=int, default=60, metavar="MINUTES",
                   help="wall-clock limit of one job; a run that needs longer is requeued and resumes (default: 60)")
    s.add_argument("--account", help="account to charge")
    s.add_argument("--qos", help="quality of service")
    s.add_argument("--constraint", help="node feature constraint")
    s.add_argument("--setup", action="append", default=[], metavar="LINE",
                   help="shell line run before each job (e.g. 'module load cuda'); repeatable")
    s.add_argument("--max-requeues", type=int, default=10, help="time-outs after which a job is not requeued again (default: 10)")
    s.add_argument("--signal-delay", type=int, default=120, metavar="SECONDS",
                   help="seconds before the time limit at which a job is told to checkpoint (default: 120)")
    add_hyperparameter_arguments(p)
    p.set_defaults(func=run_sweep_cmd)


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from repconv.commands.procgen_train_cmd import config_overrides
    from repconv.sweep import SlurmOptions, dry_run_text, make_grid, run_sweep

    for name in ("max_parallel", "eval_episodes", "torch_threads", "checkpoint_every", "time"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} is {getattr(args, name)}, expected >= 1")
    try:
        specs = make_grid(args.games, args.algos, args.seeds, args.preset, config_overrides(args),
                          eval_episodes=args.eval_episodes, eval_seed=args.eval_seed, device=args.device,
                          torch_threads=args.torch_threads, env_threads=args.env_threads,
                          checkpoint_every=args.checkpoint_every,
                          init_from=str(Path(args.init_from).resolve()) if args.init_from else None)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if args.dry_run:
        print(dry_run_text(specs, max_parallel=args.max_parallel, device=args.device, throughput=args.steps_per_s))
        return 0
    slurm = SlurmOptions(partition=args.partition, gpus_per_job=args.gpus_per_job, cpus_per_job=args.cpus_per_job,
                         mem_gb=args.mem_gb, time_min=args.time, account=args.account, qos=args.qos,
                         constraint=args.constraint, setup=tuple(args.setup), signal_delay_s=args.signal_delay,
                         max_requeues=args.max_requeues)
    try:
        manifest = run_sweep(args.out, specs, executor=args.executor, max_parallel=args.max_parallel,
                             slurm=slurm if args.executor == "slurm" else None, wait=not args.no_wait,
                             poll_s=args.poll, estimate_args=None if args.no_estimate else shlex.split(args.estimate_args))
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    except RuntimeError as err:
        print(f"repconv procgen sweep: {err}")
        return 1
    from repconv.sweep import aggregate

    runs = manifest["runs"]
    unfinished = [n for n, e in runs.items() if e.get("state") != "done"]
    print(_results_table(manifest))
    for group, agg in aggregate(manifest).items():
        print(f"{group}: IQM over {agg['runs']} independent run(s) (MDPO: both agents averaged per run), 95% "
              "stratified-bootstrap CI: " + "; ".join(
                  f"{k} {agg[k]['value']:.2f} ({agg[k]['ci'][0]:.2f}, {agg[k]['ci'][1]:.2f})" for k in ("train", "test", "gap")))
    if unfinished and not args.no_wait:
        print(f"{len(unfinished)} run(s) unfinished: {', '.join(unfinished)}; run the same command again to resume them")
        return 1
    return 0


def _results_table(manifest: dict) -> str:
    lines = ["run | agent | env steps | train return (95% CI) | test return (95% CI) | gap (95% CI)"]
    for name, entry in sorted(manifest["runs"].items()):
        for agent, r in sorted(entry.get("results", {}).items()):
            lines.append(f"{name} | {agent} | {r['env_steps']} | {r['train']:.2f} ({r['train_ci'][0]:.2f}, "
                         f"{r['train_ci'][1]:.2f}) | {r['test']:.2f} ({r['test_ci'][0]:.2f}, {r['test_ci'][1]:.2f}) | "
                         f"{r['gap']:+.2f} ({r['gap_ci'][0]:+.2f}, {r['gap_ci'][1]:+.2f})")
        if not entry.get("results"):
            lines.append(f"{name} | - | - | {entry.get('state', 'new')} | | ")
    return "\n".join(lines)

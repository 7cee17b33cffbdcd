"""Training throughput at the cpu-small configuration: torch threads per run and runs side by side.

Picks the sweep's default threads (``repconv procgen sweep --torch-threads``). For PPO and MDPO:

* one run with 1 torch thread, one run with 2 torch threads;
* two runs at once, 1 torch thread each (what ``--max-parallel 2 --torch-threads 1`` does);

each run in its own process, timing ``--iterations`` iterations after the trainer is built (environment
steps of all agents per second; for two runs at once, the sum of both and the slower run's time).
Every configuration is measured ``--repeats`` times, interleaved, and min/median/max are printed.

Usage: python benchmarks/bench_procgen_sweep_threads.py [--game coinrun] [--iterations 1] [--repeats 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(algo: str, game: str, iterations: int, threads: int) -> dict:
    import torch

    from procgen_checks.config import make_config
    from procgen_checks.ppo import Trainer

    torch.set_num_threads(threads)
    config = make_config("cpu-small", game=game, algo=algo)
    trainer = Trainer(config, device="cpu")
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.iterate()
    seconds = time.perf_counter() - start
    trainer.close()
    return {"algo": algo, "threads": threads, "seconds": seconds,
            "env_steps_all_agents": sum(a.env_steps for a in trainer.agents)}


def _start(algo: str, args: argparse.Namespace, threads: int) -> subprocess.Popen:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, __file__, "--child", algo, "--game", args.game, "--iterations", str(args.iterations),
           "--threads", str(threads)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": path})


def _collect(procs: list[subprocess.Popen]) -> list[dict]:
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a child failed (exit code {p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def measure(algo: str, setting: str, args: argparse.Namespace) -> float:
    """Env steps per second of all agents of all runs of the setting."""
    if setting == "1 run, 1 thread":
        runs = _collect([_start(algo, args, 1)])
    elif setting == "1 run, 2 threads":
        runs = _collect([_start(algo, args, 2)])
    else:
        runs = _collect([_start(algo, args, 1), _start(algo, args, 1)])
    return sum(r["env_steps_all_agents"] for r in runs) / max(r["seconds"] for r in runs)


SETTINGS = ("1 run, 1 thread", "1 run, 2 threads", "2 runs at once, 1 thread each")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", default="coinrun")
    ap.add_argument("--iterations", type=int, default=1, help="timed iterations per run (cpu-small: 2,048 steps per agent)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.game, args.iterations, args.threads)))
        return

    results: dict[str, dict[str, list[float]]] = {a: {s: [] for s in SETTINGS} for a in ("ppo", "mdpo")}
    for _ in range(args.repeats):
        for algo in ("ppo", "mdpo"):
            for setting in SETTINGS:
                results[algo][setting].append(measure(algo, setting, args))
    print(f"cpu-small on {args.game}, {os.cpu_count()} CPUs, {args.iterations} iteration(s) per run, {args.repeats} repeat(s); "
          "env steps/s of all agents of all runs (min / median / max)")
    for algo, by_setting in results.items():
        for setting, values in by_setting.items():
            print(f"  {algo:4s} {setting:32s} {min(values):7.1f} / {statistics.median(values):7.1f} / {max(values):7.1f}")
        one, two, pair = (statistics.median(by_setting[s]) for s in SETTINGS)
        print(f"  {algo:4s} 2 threads / 1 thread: {two / one:.2f}; two 1-thread runs at once / one 1-thread run: {pair / one:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"game": args.game, "iterations": args.iterations, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""End-to-end time of ``repconv check`` against a baseline checkout (prints figures; not a test).

Runs ``python -m repconv check --n N --seed S --json ...`` from this checkout and from ``--baseline``
(another checkout of the repository, e.g. ``git worktree add /tmp/base <commit>``), alternating
within each repeat so both see the same machine load, and prints per phase (random, optimiser,
hypothesis) the instances/s of each, min / median / max over the repeats, and the speed-up. It also
checks that both produce the same tables (everything but timings and run metadata), and prints the
machine's load average before and after (the timings of a busy machine are slower and noisier).

Usage: python benchmarks/bench_check.py --baseline DIR [--n 100000] [--seed 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PHASES = ("random", "optimiser", "hypothesis", "total")


def run_check(checkout: Path, n: int, seed: int, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    subprocess.run([sys.executable, "-m", "repconv", "check", "--n", str(n), "--seed", str(seed), "--no-progress",
                    "--json", str(out)], cwd=checkout, env=env, check=False, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def searched(record: dict) -> dict[str, int]:
    """Instances each phase decided (the random ones once; optimiser and hypothesis summed over IDs)."""
    rows = record["statements"] + record["variants"]
    n = record["run_metadata"]["config"]["n"]
    opt = sum(r["searched"]["optimiser"] for r in rows)
    hyp = max(r["searched"]["hypothesis"] for r in rows)
    return {"random": n, "optimiser": opt, "hypothesis": hyp, "total": n + opt + hyp}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, type=Path, help="checkout of the code to compare against")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not (args.baseline / "repconv").is_dir():
        sys.exit(f"bench_check: {args.baseline} is not a checkout of the repository (no repconv/ folder)")
    load_before = os.getloadavg()
    seconds: dict[str, dict[str, list[float]]] = {"this": {p: [] for p in PHASES}, "baseline": {p: [] for p in PHASES}}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name, checkout in (("baseline", args.baseline), ("this", HERE)):
                record = run_check(checkout, args.n, args.seed, Path(tmp) / f"{name}.json")
                for p in PHASES:
                    seconds[name][p].append(record["seconds"][p])
                tables[name] = {k: record[k] for k in ("statements", "variants", "notes")}
                counts = searched(record)
                print(f"repeat {rep + 1} {name:8s}: " + ", ".join(f"{p} {record['seconds'][p]:.1f} s" for p in PHASES), flush=True)
    print(f"\nrepconv check --n {args.n} --seed {args.seed}, {args.repeats} paired repeats (min / median / max):")
    print(f"{'phase':>11}{'instances':>11}{'baseline inst/s':>28}{'this inst/s':>28}{'speed-up':>24}")
    for p in PHASES:
        rate = {k: [counts[p] / s for s in seconds[k][p]] for k in seconds}
        speed = [b / t for b, t in zip(seconds["baseline"][p], seconds["this"][p])]
        f = lambda v, spec: "/".join(format(x, spec) for x in (min(v), statistics.median(v), max(v)))  # noqa: E731
        print(f"{p:>11}{counts[p]:>11}{f(rate['baseline'], ',.0f'):>28}{f(rate['this'], ',.0f'):>28}{f(speed, '.2f'):>24}")
    same = tables["this"] == tables["baseline"]
    print(f"tables identical to the baseline's: {same}")
    load = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(f"load average (1, 5, 15 min) on {os.cpu_count()} CPUs: before {load(load_before)}; after {load(os.getloadavg())}")


if __name__ == "__main__":
    main()

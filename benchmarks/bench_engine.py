"""Throughput of the tabular engines (prints figures; not a test).

Full evaluation of every quantity (both policies, all renderers: V, Q, A, rho, eta, L, alpha,
eps, R, D_train, eta_test, eta_train) for random instances:

* batched float engine on N instances at S=10, A=4, K=4, O=12, with each float solver;
* the same maths called once per instance in a Python loop (B = 1), on a subset;
* the exact engine at S=5, A=2, K=3, O=4.

Usage: python benchmarks/bench_engine.py [--n 10000] [--loop-n 500] [--exact-n 100] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from toymdp import evaluate
from toymdp import engine
from toymdp.random_instances import random_instances


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="instances in the batched run")
    ap.add_argument("--loop-n", type=int, default=500, help="instances in the per-instance loop")
    ap.add_argument("--exact-n", type=int, default=100, help="instances for the exact engine")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    batch = random_instances(rng, args.n, 10, 4, 4, 12)
    results = {"n": args.n, "shape": {"S": 10, "A": 4, "K": 4, "O": 12}}
    solvers = ["numpy"] + (["torch"] if importlib.util.find_spec("torch") is not None else [])
    for solver in solvers:
        with engine.float_solver(solver):
            evaluate(batch[0])  # warm-up (imports)
            t = best_of(lambda: evaluate(batch), args.repeats)
        results[f"batched_{solver}_inst_per_s"] = args.n / t
        print(f"batched float engine ({solver:5s} solver): {args.n} instances in {t:.3f} s = {args.n / t:,.0f} instances/s")

    singles = [batch[i] for i in range(min(args.loop_n, args.n))]
    for solver in solvers:
        with engine.float_solver(solver):
            t = best_of(lambda: [evaluate(x) for x in singles], 1)
        rate = len(singles) / t
        results[f"loop_{solver}_inst_per_s"] = rate
        print(f"per-instance loop   ({solver:5s} solver): {len(singles)} instances in {t:.3f} s = {rate:,.0f} instances/s")
    best_batched = max(results[f"batched_{s}_inst_per_s"] for s in solvers)
    best_loop = max(results[f"loop_{s}_inst_per_s"] for s in solvers)
    results["speedup_batched_over_loop"] = best_batched / best_loop
    print(f"speed-up, best batched over best per-instance loop: {best_batched / best_loop:.1f}x")

    exact = random_instances(rng, args.exact_n, 5, 2, 3, 4, exact=True)
    singles = [exact[i] for i in range(args.exact_n)]
    t = best_of(lambda: [evaluate(x) for x in singles], 1)
    results["exact_inst_per_s"] = args.exact_n / t
    print(f"exact engine (S=5, A=2, K=3, O=4): {args.exact_n} instances in {t:.3f} s = {args.exact_n / t:,.1f} instances/s")
    if args.json:
        from common.files import atomic_write_json, run_metadata

        atomic_write_json(args.json, {"results": results, "meta": run_metadata(config=vars(args), seed=args.seed)})


if __name__ == "__main__":
    main()

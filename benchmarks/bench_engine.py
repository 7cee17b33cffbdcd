"""Throughput of the tabular engines (prints figures; not a test).

Full evaluation of every quantity (both policies, all renderers: V, Q, A, rho, eta, L, alpha,
eps, R, D_train, eta_test, eta_train) for random instances:

* batched float engine on N instances at S=10, A=4, K=4, O=12, with each float solver, and the
  batched solves alone on the same instances (the ``I - gamma P_pi`` systems of both policies
  under every renderer, solved as the engine solves them): engine time / solve-only time;
* each solver with the libraries' default threading instead of one thread per batched solve;
* the same maths called once per instance in a Python loop (B = 1), on a subset;
* a scaling table in S (5 to 100), A=4, K=4, O=12;
* the exact engine at S=5, A=2, K=3, O=4, on FLINT rationals (python-flint) and on Python
  fractions, one instance at a time and as one batch (``evaluate``, which returns fractions either
  way), and the FLINT batch with its results kept as FLINT rationals (``flint_evaluation``, what
  ``repconv check`` decides on).

Every figure is the min / median / max over ``--repeats`` runs, the variants alternating within
each repeat, so that ratios compare runs made under the same machine load.

Usage: python benchmarks/bench_engine.py [--n 10000] [--loop-n 500] [--exact-n 100] [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import importlib.util

import argparse
import contextlib
import statistics
import time
from typing import Callable

import numpy as np

from toymdp import evaluate
from toymdp.mdp import engine
from toymdp.mdp.random_instances import random_instances


def _solvers() -> list[str]:
    return ["numpy", "torch"] if importlib.util.find_spec("torch") is not None else ["numpy"]


def paired_times(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each variant, run in turn within each repeat (after one warm-up call each)."""
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def spread(values: list[float]) -> tuple[float, float, float]:
    return min(values), statistics.median(values), max(values)


def fmt(values: list[float], scale: float = 1.0, spec: str = ",.0f") -> str:
    lo, med, hi = spread([scale * v for v in values])
    return f"{format(med, spec)} (min {format(lo, spec)}, max {format(hi, spec)})"


def bellman_systems(batch) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The engine's linear systems of both policies, under every renderer: ``(M, r_pi, rho0)``."""
    mdp, fam = batch.mdp, batch.family
    r, rho0, gamma = mdp.r[..., None, :, :], mdp.rho0[..., None, :], np.asarray(mdp.gamma)[..., None]
    out = []
    for pi in (batch.pi, batch.pi_tilde):
        sigma = engine.state_policy(fam.renderers, pi)
        M = engine._bellman_matrix(mdp.P, sigma, gamma)
        out.append((M, engine.expected_reward(r, sigma), np.broadcast_to(rho0, M.shape[:-1]).copy()))
    return out


@contextlib.contextmanager
def default_blas_threads():
    """The engine without its one-thread limit (the libraries' own threading), for comparison."""
    saved = engine._one_thread
    engine._one_thread = contextlib.nullcontext
    try:
        yield
    finally:
        engine._one_thread = saved


def engine_vs_solves(batch, solver: str, repeats: int) -> dict[str, list[float]]:
    systems = bellman_systems(batch)
    with engine.float_solver(solver):
        return paired_times({
            "engine": lambda: evaluate(batch),
            "solves": lambda: [engine.solve_pair(M, b, c) for M, b, c in systems],
        }, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="instances in the batched run")
    ap.add_argument("--loop-n", type=int, default=500, help="instances in the per-instance loop")
    ap.add_argument("--exact-n", type=int, default=100, help="instances for the exact engine")
    ap.add_argument("--scaling", default="5,10,20,50,100", help="state counts S of the scaling table")
    ap.add_argument("--scaling-solves", type=int, default=400_000,
                    help="instances in each row of the scaling table: this / S^2, at least 50")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    solvers = _solvers()
    results: dict = {"n": args.n, "shape": {"S": 10, "A": 4, "K": 4, "O": 12}, "repeats": args.repeats, "solvers": solvers}

    versions = {"numpy": np.__version__}
    for name, module in (("torch", "torch"), ("python-flint", "flint")):
        versions[name] = __import__(module).__version__ if importlib.util.find_spec(module) is not None else None
    results["versions"] = versions
    print(", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items()))
    batch = random_instances(rng, args.n, 10, 4, 4, 12)
    print(f"batched float engine, {args.n} instances, S=10, A=4, K=4, O=12 (instances/s, median of {args.repeats}):")
    for solver in solvers:
        t = engine_vs_solves(batch, solver, args.repeats)
        ratio = [e / s for e, s in zip(t["engine"], t["solves"])]
        results[f"batched_{solver}"] = {
            "engine_inst_per_s": [args.n / x for x in t["engine"]], "solves_inst_per_s": [args.n / x for x in t["solves"]],
            "engine_over_solves": ratio}
        print(f"  {solver:5s} solver: engine {fmt([args.n / x for x in t['engine']])}; "
              f"solves alone {fmt([args.n / x for x in t['solves']])}; engine time / solve time {fmt(ratio, spec='.2f')}")
    for solver in solvers:
        with engine.float_solver(solver):
            one = lambda: evaluate(batch)  # noqa: E731

            def default_threads():
                with default_blas_threads():
                    evaluate(batch)

            t = paired_times({"one thread": one, "default threads": default_threads}, args.repeats)
        speedup = [d / o for o, d in zip(t["one thread"], t["default threads"])]
        results[f"{solver}_threads"] = {k: [args.n / x for x in v] for k, v in t.items()} | {"speedup_one_thread": speedup}
        print(f"  {solver:5s} solver with the libraries' default threading: {fmt([args.n / x for x in t['default threads']])}; "
              f"one thread per solve is {fmt(speedup, spec='.2f')}x faster")

    singles = [batch[i] for i in range(min(args.loop_n, args.n))]
    for solver in solvers:
        with engine.float_solver(solver):
            t = paired_times({"loop": lambda: [evaluate(x) for x in singles]}, 1)["loop"]
        results[f"loop_{solver}_inst_per_s"] = len(singles) / t[0]
        print(f"per-instance loop ({solver:5s} solver): {len(singles) / t[0]:,.0f} instances/s")

    print("\nscaling in S (A=4, K=4, O=12), instances/s (median), engine time / solve-only time:")
    head = f"{'S':>5}{'B':>8}" + "".join(f"{s + ' engine':>16}{s + ' solves':>16}{'ratio':>8}" for s in solvers)
    print(head)
    results["scaling"] = []
    for S in [int(s) for s in args.scaling.split(",")]:
        B = max(50, args.scaling_solves // (S * S))
        inst = random_instances(rng, B, S, 4, 4, 12)
        row = {"S": S, "B": B}
        line = f"{S:>5}{B:>8}"
        for solver in solvers:
            t = engine_vs_solves(inst, solver, args.repeats)
            e, s = statistics.median(t["engine"]), statistics.median(t["solves"])
            row[solver] = {"engine_inst_per_s": B / e, "solves_inst_per_s": B / s, "engine_over_solves": e / s}
            line += f"{B / e:>16,.0f}{B / s:>16,.0f}{e / s:>8.2f}"
        results["scaling"].append(row)
        print(line)

    exact = random_instances(rng, args.exact_n, 5, 2, 3, 4, exact=True)
    singles = [exact[i] for i in range(args.exact_n)]
    variants = {}
    from toymdp.mdp.numbers import FLINT, use_flint

    have_flint = FLINT is not None
    for on in ([True, False] if have_flint else [False]):
        name = "flint" if on else "fractions"

        def one_by_one(on=on):
            with use_flint(on):
                [evaluate(x) for x in singles]

        def batched(on=on):
            with use_flint(on):
                evaluate(exact)

        variants[f"{name}, one by one"] = one_by_one
        variants[f"{name}, batch"] = batched
    if have_flint:
        from toymdp.mdp.evaluation import flint_evaluation

        # The same evaluation kept on FLINT rationals (what repconv check decides on): evaluate() above also
        # converts every array back to fractions, its documented return type.
        variants["flint, batch, fmpq out"] = lambda: flint_evaluation(exact)
    t = paired_times(variants, args.repeats)
    print(f"\nexact engine (S=5, A=2, K=3, O=4), {args.exact_n} instances, instances/s:")
    results["exact"] = {}
    for name, times in t.items():
        results["exact"][name] = [args.exact_n / x for x in times]
        print(f"  {name:24s} {fmt([args.exact_n / x for x in times], spec=',.1f')}")
    if have_flint:
        for how in ("one by one", "batch"):
            ratio = [f / q for q, f in zip(t[f"flint, {how}"], t[f"fractions, {how}"])]
            results["exact"][f"flint_speedup_{how.replace(' ', '_')}"] = ratio
            print(f"  FLINT / fractions speed-up, {how}: {fmt(ratio, spec='.2f')}x")
    if args.json:
        from common.files import atomic_write_json, run_metadata

        atomic_write_json(args.json, {"results": results, "meta": run_metadata(config=vars(args), seed=args.seed)})


if __name__ == "__main__":
    main()

"""``repconv procgen estimate`` and ``repconv procgen report``: sample estimates of THEORY's terms for trained
Procgen policies, and a markdown summary of them.

The estimation lives in :mod:`procgen_checks.estimate`; figures in :mod:`repconv.plots.procgen`. This module
parses arguments, turns bad input into one-line errors and formats numbers.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from repconv.cli import CommandError
from repconv.options import add_dataclass_arguments, dataclass_values
from repconv.outputs import OVERWRITE_HELP, check_output_dir
from common.files import atomic_write_json, atomic_write_text, read_json, run_metadata
from repconv.procgen_report import render_report, summary_table

RESULT_FILE = "estimate.json"
REPORT_FILE = "report.md"


def register_procgen(sub: argparse._SubParsersAction) -> None:
    from procgen_checks.config import EstimateConfig
    from procgen_checks.renderers import RENDERER_NAMES

    p = sub.add_parser(
        "estimate",
        help="estimate R, D_train, eps, the gap and the bounds G1r/G1/C1 for policy checkpoints",
        description=(
            "Roll each policy out on its training levels and on disjoint test levels, record visited states, "
            "and estimate per renderer the per-state TV and KL between pi(.|f1(s)) and pi(.|f2(s)) (f1: the "
            "training rendering), the cosine distance of encoder features, eps (critic, Monte Carlo, reward "
            "range), the measured train-test gap, D_train between checkpoints of the same game and algorithm, "
            "aggregates across games (IQM, probability of improvement) and the bounds with estimated terms. "
            "The max of sampled TVs is a LOWER estimate of R. Writes OUT/estimate.json and OUT/figures/*.png|pdf. "
            f"Renderers: {', '.join(RENDERER_NAMES)}."
        ),
    )
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="policy checkpoints (repconv-procgen-policy-v1 files)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_dataclass_arguments(p, EstimateConfig, exclude=("batch_size",), metavars={"reward_range": "R_MIN,R_MAX"},
                            flags={"paper_metric_states": "--paper-states", "bootstrap_resamples": "--bootstrap"})
    p.add_argument("--evaluation", nargs="+", default=[], metavar="EVAL_JSON",
                   help="results of `repconv procgen evaluate` giving the measured gap (matched by their checkpoint; "
                        "CKPT.eval.json beside a checkpoint is used without being named)")
    p.add_argument("--no-figures", action="store_true", help="write the JSON only")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_estimate_cmd)

    m = sub.add_parser(
        "merge",
        help="merge estimate folders of the same settings (e.g. one per game) into one",
        description=(f"Read DIR/{RESULT_FILE} of each folder, keep every checkpoint record, and compute again what spans "
                     "checkpoints (game reward ranges, bounds with the current statements, aggregates, rank "
                     f"correlation). Writes OUT/{RESULT_FILE}; OUT must not hold one yet."),
    )
    m.add_argument("dirs", nargs="+", metavar="DIR", help="folders written by `repconv procgen estimate`")
    m.add_argument("--out", required=True, metavar="OUT", help="folder of the merged result")
    m.set_defaults(func=run_merge_cmd)

    r = sub.add_parser(
        "report",
        help="markdown summary table and figures of an estimate folder",
        description=f"Read DIR/{RESULT_FILE}, redraw the figures into DIR/figures and write DIR/{REPORT_FILE}.",
    )
    r.add_argument("dir", metavar="DIR", help="folder written by `repconv procgen estimate`")
    r.add_argument("--out", default=None, help=f"markdown file to write (default: DIR/{REPORT_FILE})")
    r.set_defaults(func=run_report_cmd)


def _config(args: argparse.Namespace):
    from procgen_checks.config import EstimateConfig

    try:
        return EstimateConfig(**dataclass_values(args, EstimateConfig))
    except ValueError as err:
        raise CommandError(str(err)) from None


def _require_procgen_extra(command: str) -> None:
    import importlib.util

    missing = [m for m in ("torch", "procgen", "kornia", "tqdm") if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"{command} needs the procgen extra (missing: {', '.join(missing)}); "
                           "install it with: pip install -c constraints.txt -e \".[procgen]\"")


def run_estimate_cmd(args: argparse.Namespace) -> int:
    _require_procgen_extra("procgen estimate")
    cfg = _config(args)
    out = check_output_dir(args.out, "--out", results=[RESULT_FILE, REPORT_FILE, "figures"], overwrite=args.overwrite)
    from procgen_checks.bounds import bounds_for_records
    from procgen_checks.checkpoints import load_policy
    from procgen_checks.estimate import run_estimate

    for path in args.checkpoints:  # every file is checked before any rollout starts
        try:
            load_policy(path)
        except (FileNotFoundError, ValueError) as err:
            raise CommandError(str(err)) from None
    t0 = time.perf_counter()
    try:
        result = run_estimate(args.checkpoints, cfg, progress=not args.no_progress, bounds=bounds_for_records,
                              evaluations=args.evaluation)
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err)) from None
    result["meta"] = run_metadata(config=result["config"], seed=cfg.seed, runtime_s=time.perf_counter() - t0)
    atomic_write_json(out / RESULT_FILE, result)
    print(summary_table(result))
    print(f"wrote {out / RESULT_FILE} ({len(result['checkpoints'])} checkpoints, {time.perf_counter() - t0:.1f} s)")
    if not args.no_figures:
        from repconv.plots.procgen import write_all

        for name, paths in write_all(result, out).items():
            print(f"wrote {paths[0]} (+ .pdf)")
    return 0


def _read_result(folder: Path) -> dict:
    path = folder / RESULT_FILE
    if not path.is_file():
        raise CommandError(f"{path}: no such file; run `repconv procgen estimate ... --out {folder}` first")
    try:
        result = read_json(path)
        _ = result["config"]["renderers"], result["checkpoints"]
    except (ValueError, KeyError, TypeError) as err:
        raise CommandError(f"{path}: not a result of `repconv procgen estimate` ({err})") from None
    return result


def run_merge_cmd(args: argparse.Namespace) -> int:
    from procgen_checks.bounds import bounds_for_records
    from procgen_checks.estimate import merge_results

    out = check_output_dir(args.out, "--out", results=[RESULT_FILE, REPORT_FILE, "figures"], overwrite=False) / RESULT_FILE
    results = [_read_result(Path(d)) for d in args.dirs]
    try:
        merged = merge_results(results, bounds=bounds_for_records)
    except (ValueError, TypeError) as err:
        raise CommandError(str(err)) from None
    merged["meta"] = run_metadata(config=merged["config"], seed=merged["config"]["seed"], runtime_s=0.0)
    merged["meta"]["merged_from"] = [{"dir": str(d), "meta": r.get("meta")} for d, r in zip(args.dirs, results)]
    atomic_write_json(out, merged)
    print(f"wrote {out} ({len(merged['checkpoints'])} checkpoints from {len(results)} results)")
    return 0


def run_report_cmd(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    result = _read_result(folder)
    from repconv.plots.procgen import write_all

    write_all(result, folder)
    out = Path(args.out) if args.out else folder / REPORT_FILE
    figure_dir = Path(os.path.relpath(folder / "figures", out.parent))
    atomic_write_text(out, render_report(result, figure_dir.as_posix()))
    print(f"wrote {out} and {folder / 'figures'}")
    return 0

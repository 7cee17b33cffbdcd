"""``repconv toy``: the toy example (independent vs mutually distilled agents), its table and figures."""

from __future__ import annotations

import argparse
import time

from repconv.cli import CommandError
from repconv.outputs import OVERWRITE_HELP, check_figure_formats, check_output_dir
from common.files import atomic_write_json, atomic_write_text, run_metadata


def _list(kind, what: str):
    def parse(text: str):
        if text.strip().lower() in ("", "none"):
            return ()
        try:
            return tuple(kind(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what}: cannot read {text!r}, expected a comma-separated list") from None
    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "toy",
        help="run the toy example: spurious backgrounds, independent vs mutually distilled agents",
        description=(
            "Train two linear-softmax agents with exact policy gradients on the toy rendering-MDP "
            "families (docs/toy_example.md), independently (alpha = 0) and with mutual distillation "
            "(alpha > 0), over several seeds; measure eta_train, eta_test, the gap, R, D_train and the "
            "statements C1, G1, G1.test, G1r, T1 exactly along training; sweep the discount; search small MDPs "
            "for the tightest T1 and G1 instances. Writes OUT/toy_results.json (with run metadata), "
            "OUT/toy_table.md and figures (PNG and PDF) under OUT/figures. The defaults reproduce the "
            "documented table and figures."
        ),
    )
    p.add_argument("--out", default="results/toy", help="output folder (default: results/toy)")
    p.add_argument("--families", type=_list(str, "--families"), default=None,
                   help="comma-separated presets of toymdp.toy.PRESETS (default: opposed,disjoint)")
    p.add_argument("--alphas", type=_list(float, "--alphas"), default=None,
                   help="comma-separated distillation weights, must include 0 (default: 0,0.01,0.03,0.1,0.3,1)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: 20)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default: 0)")
    p.add_argument("--steps", type=int, default=None, help="gradient steps (default: 400)")
    p.add_argument("--learning-rate", type=float, default=None, help="step size (default: 0.1)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=None, help="optimiser (default: adam)")
    p.add_argument("--eval-every", type=int, default=None, help="measure every N steps (default: 10)")
    p.add_argument("--statements", type=_list(str, "--statements"), default=None,
                   help="statements decided along training, or 'none' (default: C1,G1,G1.test,G1r,T1)")
    p.add_argument("--gammas", type=_list(float, "--gammas"), default=None,
                   help="discounts of the bounds-against-gamma sweep (default: 0.5,0.6,0.7,0.8,0.85,0.9,0.93,0.95,0.97,0.99)")
    p.add_argument("--search-sizes", type=_list(int, "--search-sizes"), default=None,
                   help="numbers of states of the tightest-instance search, at most 5 (default: 2,3,4,5)")
    p.add_argument("--search-restarts", type=int, default=None,
                   help="independent optimiser runs per statement, size and discount (default: 6)")
    p.add_argument("--no-search", action="store_true", help="skip the tightest-instance search")
    p.add_argument("--formats", type=_list(str, "--formats"), default=("png", "pdf"), help="figure formats (default: png,pdf)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The experiment configuration from the command line (defaults from the dataclasses)."""
    from toymdp.distillation import DistillationConfig
    from toymdp.toy_experiment import SearchConfig, ToyExperimentConfig

    def given(**kw):
        return {k: v for k, v in kw.items() if v is not None}

    try:
        train = DistillationConfig(**given(steps=args.steps, learning_rate=args.learning_rate,
                                    optimizer=args.optimizer, eval_every=args.eval_every))
        search = None if args.no_search else SearchConfig(**given(num_states=args.search_sizes, restarts=args.search_restarts))
        config = ToyExperimentConfig(**given(families=args.families, alphas=args.alphas, seeds=args.seeds,
                                             statements=args.statements, gammas=args.gammas),
                                     first_seed=args.first_seed, train=train, search=search)
    except ValueError as err:
        raise CommandError(str(err)) from None
    return config


def run(args: argparse.Namespace) -> int:
    from repconv.plots.toy import render_all, table_markdown
    from toymdp.toy_experiment import run_toy_experiment

    config = build_config(args)
    formats = check_figure_formats(args.formats)
    out = check_output_dir(args.out, "--out", results=["toy_results.json", "toy_table.md", "figures"],
                           overwrite=args.overwrite)
    start = time.perf_counter()
    results = run_toy_experiment(config, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    results["run_metadata"] = run_metadata(config=config.to_json(), seed=config.first_seed, elapsed_seconds=round(elapsed, 2))
    path = atomic_write_json(out / "toy_results.json", results, indent=None)  # large arrays: compact
    table = table_markdown(results)
    atomic_write_text(out / "toy_table.md", table)
    figures = render_all(results, out / "figures", formats, progress=not args.quiet)
    print(table)
    print(f"wrote {path}, {out / 'toy_table.md'} and {len(figures)} figure files under {out / 'figures'}")
    print(f"experiment took {elapsed:.1f} s; redraw the figures with: repconv plot {path}")
    return 0

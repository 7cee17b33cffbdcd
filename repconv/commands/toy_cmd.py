"""``repconv toy``: the toy example (independent vs mutually distilled agents), its table and figures."""

from __future__ import annotations

import argparse
import time

from repconv.cli import CommandError
from repconv.options import add_dataclass_arguments, comma_separated, dataclass_values
from repconv.outputs import OVERWRITE_HELP, check_figure_formats, check_output_dir
from common.files import atomic_write_json, atomic_write_text, run_metadata
from toymdp.config import DistillationConfig, SearchConfig, ToyExperimentConfig


#: Namespace prefixes of the options generated from each configuration dataclass.
_EXPERIMENT, _TRAIN, _SEARCH = "toy_", "train_", "search_"


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
    add_dataclass_arguments(p, ToyExperimentConfig, prefix=_EXPERIMENT, only=("families", "alphas", "seeds", "first_seed"))
    add_dataclass_arguments(p, DistillationConfig, prefix=_TRAIN, only=("steps", "learning_rate", "optimizer", "eval_every"),
                            choices={"optimizer": ("adam", "sgd")})
    add_dataclass_arguments(p, ToyExperimentConfig, prefix=_EXPERIMENT, only=("statements", "gammas"))
    add_dataclass_arguments(p, SearchConfig, prefix=_SEARCH, only=("num_states", "restarts"),
                            flags={"num_states": "--search-sizes", "restarts": "--search-restarts"})
    p.add_argument("--no-search", action="store_true", help="skip the tightest-instance search")
    p.add_argument("--formats", type=comma_separated, default=("png", "pdf"), help="figure formats (default: png,pdf)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """The experiment configuration from the command line (options and defaults generated from the dataclasses)."""
    try:
        train = DistillationConfig(**dataclass_values(args, DistillationConfig, prefix=_TRAIN))
        search = None if args.no_search else SearchConfig(**dataclass_values(args, SearchConfig, prefix=_SEARCH))
        config = ToyExperimentConfig(**dataclass_values(args, ToyExperimentConfig, prefix=_EXPERIMENT),
                                     train=train, search=search)
    except ValueError as err:
        raise CommandError(str(err)) from None
    return config


def run(args: argparse.Namespace) -> int:
    from repconv.plots.toy import render_all, table_markdown
    from toymdp.toy_example.toy_experiment import run_toy_experiment

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

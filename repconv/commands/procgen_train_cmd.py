"""``repconv procgen train | evaluate | import-paper | export-paper``."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import textwrap
import time

from repconv.cli import CommandError
from repconv.options import add_dataclass_arguments, dataclass_values, format_default
from repconv.outputs import OVERWRITE_HELP, check_output_dir, check_output_file
from common.fields import field_doc
from common.files import atomic_write_json, run_metadata

_DEVICE_HELP = "auto (CUDA when torch sees one), cpu, or cuda[:k]"
#: Where the parsed TrainConfig fields live in the namespace (apart from the other options).
CONFIG_PREFIX = "cfg_"
#: TrainConfig fields the train command places among its own options; the rest are hyperparameters.
_COMMAND_FIELDS = ("game", "algo", "seed")


def register_procgen(sub: argparse._SubParsersAction) -> None:
    _register_train(sub)
    _register_evaluate(sub)
    _register_import(sub)
    _register_export(sub)


# ---------------------------------------------------------------------------------------------- train
def _register_train(sub: argparse._SubParsersAction) -> None:
    from procgen_checks.config import ALGOS, PRESETS, RuntimeOptions, TrainConfig

    p = sub.add_parser(
        "train",
        help="train PPO or MDPO (the paper's algorithm and hyperparameters); resumable",
        epilog=_presets_epilog(PRESETS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Train PPO (one agent) or MDPO (two agents distilled towards each other) on a Procgen game. "
            "Writes DIR/config.json, DIR/log.csv and DIR/log.jsonl (one row per iteration), DIR/state.pt "
            "(everything needed to resume) and DIR/policy_agent1.pt (and policy_agent2.pt for MDPO). "
            "Start from a preset (below); any hyperparameter can be overridden. "
            "A run stops cleanly (checkpoint written) at --time-limit (exit status 0), on SIGTERM (exit status 143) "
            "or on Ctrl-C (130); `--resume DIR` continues it exactly.", width=100,
        ),
    )
    p.add_argument("--game", help="Procgen game (e.g. coinrun, starpilot); required for a new run")
    add_dataclass_arguments(p, TrainConfig, prefix=CONFIG_PREFIX, only=("algo",), choices={"algo": ALGOS},
                            unset_default=True)
    p.add_argument("--preset", choices=list(PRESETS), help="starting configuration (required for a new run)")
    add_dataclass_arguments(p, TrainConfig, prefix=CONFIG_PREFIX, only=("seed",), unset_default=True)
    p.add_argument("--out", metavar="DIR", help="run directory for a new run")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (its config is kept; --total-steps may extend it)")
    p.add_argument("--init-from", metavar="POLICY.pt",
                   help="start a new run from this policy's weights (ours or an imported paper checkpoint; every agent); "
                        "optimiser, reward normaliser and environments start fresh; recorded in config.json")
    add_dataclass_arguments(p, RuntimeOptions, metavars={"time_limit": "SECONDS", "checkpoint_every": "N"})
    add_hyperparameter_arguments(p)
    p.set_defaults(func=run_train)


def _paper_default(f) -> str:
    """The help's default of a hyperparameter: the preset's value, which is the paper's unless the preset sets it."""
    from procgen_checks.config import PRESETS

    set_by = [name for name, values in PRESETS.items() if f.name in values]
    return (f"the preset's; the paper's {format_default(f.default)}" if set_by else format_default(f.default))


def add_hyperparameter_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field-name`` option per hyperparameter of :class:`TrainConfig`; only values typed on the command
    line override the preset (:func:`config_overrides`). Also used by ``repconv procgen sweep``."""
    from procgen_checks.config import TrainConfig

    group = parser.add_argument_group("hyperparameters (override the preset's values)")
    add_dataclass_arguments(group, TrainConfig, prefix=CONFIG_PREFIX, exclude=_COMMAND_FIELDS, whole_numbers=True,
                            unset_default=True, default_note=_paper_default)


def config_overrides(args: argparse.Namespace) -> dict:
    """The TrainConfig fields given on the command line (those left out keep the preset's value)."""
    from procgen_checks.config import TrainConfig

    return dataclass_values(args, TrainConfig, prefix=CONFIG_PREFIX, given_only=True)


def _presets_epilog(presets: dict) -> str:
    from procgen_checks.config import TrainConfig

    lines = ["presets (fields that differ from the paper's protocol, which is the default of every field):"]
    for name, values in presets.items():
        text = ", ".join(f"{k}={v}" for k, v in values.items()) or "the paper: " + ", ".join(
            f"{k}={getattr(TrainConfig, k)}" for k in ("distribution_mode", "num_levels", "total_steps", "num_envs", "num_steps"))
        lines.append(textwrap.fill(text, width=100, initial_indent=f"  {name:13s}", subsequent_indent=" " * 15))
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    origin = time.monotonic()
    from procgen_checks.config import RuntimeOptions, make_config
    from procgen_checks.training import train

    overrides = config_overrides(args)
    total_steps = overrides.pop("total_steps", None)
    try:
        runtime = RuntimeOptions(**dataclass_values(args, RuntimeOptions))
        if args.resume:
            named = {n: getattr(args, n) for n in ("game", "preset", "out", "init_from")}
            named.update({n: overrides.pop(n, None) for n in ("algo", "seed")})
            given = [f"--{n.replace('_', '-')}" for n in ("game", "algo", "preset", "seed", "out", "init_from")
                     if named[n] is not None]
            given += ["--" + k.replace("_", "-") for k in overrides]
            if given:
                raise CommandError(f"--resume keeps the run's configuration; drop {', '.join(given)} (only --total-steps may change)")
            summary = train(None, args.resume, runtime, resume=True, total_steps=total_steps, time_origin=origin)
        else:
            missing = [f"--{n}" for n in ("game", "preset", "out") if getattr(args, n) is None]
            if missing:
                raise CommandError(f"a new run needs {', '.join(missing)} (or --resume DIR)")
            config = make_config(args.preset, game=args.game, **overrides)
            summary = train(config, args.out, runtime, total_steps=total_steps, time_origin=origin, init_from=args.init_from)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        raise CommandError(str(err)) from None
    print(f"{summary['status']} ({summary['reason']}) at iteration {summary['iteration']}/{summary['total_iterations']}, "
          f"{summary['env_steps']} env steps per agent; run directory {summary['run_dir']}")
    if summary["status"] != "finished":
        print(f"continue with: repconv procgen train --resume {summary['run_dir']}")
    if summary.get("signal"):
        # The shell's convention (128 + signal number: 130 for Ctrl-C, 143 for SIGTERM), so that a script can tell
        # a run stopped from outside, checkpoint written, from a finished one (0) and from a failure (1, 2).
        return 128 + signal.Signals[summary["signal"]].value
    return 0


# ---------------------------------------------------------------------------------------------- evaluate
def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="returns on training levels and unseen test levels (mean, SE, bootstrap CI, normalised score, gap)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Run a policy checkpoint on its training levels and on unseen test levels (the disjoint range "
            "right after them). Per split, N environments start together and only the first episode of "
            "each is counted, to completion, so short episodes are not over-represented. Writes JSON with "
            "per-split mean return, standard error, bootstrap confidence interval, normalised score, "
            "episode count, every episode's return and level seed, and the generalization gap."
        ),
    )
    p.add_argument("checkpoint", metavar="CKPT", help="policy checkpoint (policy_agent1.pt of a run, or an imported one)")
    from procgen_checks.config import EvaluateConfig

    default = EvaluateConfig()
    docs = {f.name: field_doc(f) for f in dataclasses.fields(EvaluateConfig)}
    doc = docs.__getitem__
    p.add_argument("--episodes", type=int, default=default.episodes, metavar="N", help=doc("episodes"))
    p.add_argument("--seed", type=int, default=default.seed, help=doc("seed"))
    p.add_argument("--greedy", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--train-levels", type=int, nargs=2, metavar=("START", "NUM"),
                   help="training level range, for checkpoints that do not record it")
    p.add_argument("--bootstrap", type=int, default=default.num_resamples, metavar="B", help=doc("num_resamples"))
    p.add_argument("--confidence", type=float, default=default.confidence, help=doc("confidence"))
    p.add_argument("--batch-envs", type=int, default=default.batch_envs, help=doc("batch_envs"))
    p.add_argument("--max-steps", type=int, default=default.max_steps, help=doc("max_steps"))
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--torch-threads", type=int, help="torch CPU threads")
    p.add_argument("--out", metavar="FILE", help="result JSON (default: CKPT with .eval.json)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP + " (an earlier evaluation)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from procgen_checks.checkpoints import load_policy
    from procgen_checks.evaluation import EvaluationError, evaluate_policy
    from procgen_checks.training import choose_torch_threads, resolve_device

    from procgen_checks.checkpoints import resolve_policy_path

    for flag, value in (("--episodes", args.episodes), ("--batch-envs", args.batch_envs), ("--bootstrap", args.bootstrap),
                        ("--max-steps", args.max_steps)):
        if value < 1:
            raise CommandError(f"{flag} is {value}, expected >= 1")
    try:
        checkpoint = resolve_policy_path(args.checkpoint)
    except ValueError as err:
        raise CommandError(str(err)) from None
    # An earlier evaluation (which `estimate` reads) is finished work: never replaced without --overwrite.
    out = check_output_file(args.out if args.out else checkpoint.with_suffix(".eval.json"), "--out",
                            overwrite=args.overwrite, what="an earlier evaluation")
    try:
        device = resolve_device(args.device)
        torch.set_num_threads(choose_torch_threads(device, args.torch_threads))
        model, info = load_policy(checkpoint, map_location=device)
        result = evaluate_policy(
            model, info, episodes=args.episodes, seed=args.seed, device=device, greedy=args.greedy,
            train_levels=tuple(args.train_levels) if args.train_levels else None, num_resamples=args.bootstrap,
            confidence=args.confidence, batch_envs=args.batch_envs, max_steps=args.max_steps,
            progress=not args.no_progress,
        )
    except (ValueError, FileNotFoundError, EvaluationError) as err:
        raise CommandError(str(err)) from None
    result = {"checkpoint": str(checkpoint), "policy": info, **result}
    result["meta"] = run_metadata(config={k: v for k, v in vars(args).items() if k != "func"}, seed=args.seed,
                                  device=str(device))
    atomic_write_json(out, result)
    gap = result["generalization_gap"]
    print(f"{info['game']} ({info['distribution_mode']}), {info['algo']} agent {info['agent']}, "
          f"{info['env_steps']} env steps; {args.episodes} episodes per split")
    for name, s in result["splits"].items():
        print(f"  {name:5s} levels [{s['levels'][0]}, {s['levels'][0] + s['levels'][1]}): return {s['mean']:.3f} "
              f"+- {s['standard_error']:.3f} (SE), {args.confidence:.0%} CI [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}], "
              f"normalised {s['normalized_mean']:.3f}")
    print(f"  generalization gap (train - test): {gap['mean']:.3f}, CI [{gap['ci'][0]:.3f}, {gap['ci'][1]:.3f}]")
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------------------------- paper format
def _register_import(sub: argparse._SubParsersAction) -> None:
    from procgen_checks.envs import DISTRIBUTION_MODES

    p = sub.add_parser(
        "import-paper",
        help="convert the paper's encoder/actor .pth files into a policy checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=(
            "Read the paper's per-agent state dicts (encoder_agent_K_seed_S.pth, actor_agent_K_seed_S.pth) and "
            "write one policy checkpoint (no critic: the paper saves none). A file of another architecture "
            "is refused with the first key or shape that does not fit."
        ),
    )
    p.add_argument("encoder", metavar="ENCODER.pth")
    p.add_argument("actor", metavar="ACTOR.pth")
    p.add_argument("--game", required=True, help="the game the policy was trained on")
    p.add_argument("--mode", default="hard", choices=DISTRIBUTION_MODES, help="distribution mode of training")
    p.add_argument("--start-level", type=int, default=0, help="first training level (the paper: 0)")
    p.add_argument("--num-levels", type=int, default=500, help="number of training levels (the paper: 500)")
    p.add_argument("--seed", type=int, help="training seed, if known")
    p.add_argument("--agent", type=int, default=1, choices=(1, 2), help="MDPO agent number (1 or 2)")
    p.add_argument("--algo", default="paper-import", help="algorithm label stored in the checkpoint")
    p.add_argument("--out", required=True, metavar="POLICY.pt")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from procgen_checks.checkpoints import save_policy
    from procgen_checks.envs import LevelRange, check_game
    from procgen_checks.paper_format import load_paper_policy

    check_output_file(args.out, "--out", overwrite=args.overwrite, what="a policy checkpoint")
    try:
        check_game(args.game)
        LevelRange(args.start_level, args.num_levels)
        model = load_paper_policy(args.encoder, args.actor)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    save_policy(args.out, model, game=args.game, distribution_mode=args.mode, algo=args.algo, agent=args.agent,
                seed=args.seed, train_levels=(args.start_level, args.num_levels),
                extra={"imported_from": {"encoder": str(args.encoder), "actor": str(args.actor)}})
    print(f"wrote {args.out} ({args.game}, {args.mode}, levels [{args.start_level}, {args.start_level + args.num_levels}), no critic)")
    return 0


def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-paper",
        help="write a policy checkpoint as the paper's encoder.pth and actor.pth",
        description="Write OUT_DIR/encoder.pth and OUT_DIR/actor.pth with the paper's key layout (the critic is dropped).",
    )
    p.add_argument("policy", metavar="POLICY.pt")
    p.add_argument("--out-dir", required=True, metavar="D")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from procgen_checks.checkpoints import load_policy
    from procgen_checks.paper_format import export_paper_policy

    check_output_dir(args.out_dir, "--out-dir", results=["encoder.pth", "actor.pth"], overwrite=args.overwrite)
    try:
        model, _ = load_policy(args.policy)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    paths = export_paper_policy(model, args.out_dir)
    print(f"wrote {paths['encoder']} and {paths['actor']}")
    return 0

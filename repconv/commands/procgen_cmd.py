"""``repconv procgen``: the command group for trained Procgen policies.

The group's subcommands live in the modules of :data:`PROCGEN_SUBCOMMAND_MODULES`; each defines
``register_procgen(procgen_subparsers)``. Torch and Procgen are imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib

#: Modules adding subcommands to ``repconv procgen``, in the order ``--help`` lists them.
PROCGEN_SUBCOMMAND_MODULES = (
    "repconv.commands.procgen_train_cmd",
    "repconv.commands.procgen_estimate_cmd",
    "repconv.commands.procgen_sweep_cmd",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "procgen",
        help="train, evaluate, convert Procgen policies and estimate the theory's terms for them (needs the procgen extra)",
        description=(
            "Procgen policies: train PPO or MDPO as the paper does, evaluate on training and unseen test "
            "levels, convert the paper's checkpoints (docs/procgen_training.md); estimate robustness, D_train, eps "
            "and the bounds on visited states, and report them (docs/procgen_results.md)."
        ),
    )
    procgen_sub = p.add_subparsers(dest="procgen_command", metavar="SUBCOMMAND")
    procgen_sub.required = True
    for name in PROCGEN_SUBCOMMAND_MODULES:
        importlib.import_module(name).register_procgen(procgen_sub)

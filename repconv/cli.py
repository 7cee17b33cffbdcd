"""The ``repconv`` command line: one entry point, one module per subcommand.

Each module in :mod:`repconv.commands` defines ``register(subparsers)``; the maths it runs lives in
:mod:`theory`, :mod:`toymdp` and :mod:`procgen_checks`. Heavy imports (torch, Procgen) happen inside
the commands that need them, so ``repconv --help`` and the tabular commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "repconv.commands.eval_cmd",
    "repconv.commands.check_cmd",
    "repconv.commands.procgen_cmd",
    "repconv.commands.toy_cmd",
    "repconv.commands.plot_cmd",
)


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 2 (or the subclass's ``exit_code``)."""

    exit_code = 2


#: Modules that only an extra installs, and the extra that does.
EXTRA_OF_MODULE = {"torch": "procgen", "procgen": "procgen", "kornia": "procgen"}
EXTRA_INSTALL = {"procgen": 'pip install "torch==2.13.0" -e ".[procgen]" (any torch >= 2.1 works)'}


def missing_extra_message(err: ModuleNotFoundError) -> str | None:
    """The one-line advice for a module of an extra that is not installed, or None for any other module."""
    top = (err.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return f"needs the {extra} extra, which is not installed (no module {top!r}); install it with {EXTRA_INSTALL[extra]}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repconv",
        description=(
            "State, check and estimate the generalization bound of arXiv 2501.02481 "
            "(robustness to rendering functions). Statement IDs (PDL, T1, C1, G1, ...) are those of "
            "docs/theory.md."
        ),
    )
    parser.add_argument("--version", action="version", version=f"repconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CommandError as err:
        print(f"repconv {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except ModuleNotFoundError as err:
        message = missing_extra_message(err)
        if message is None:
            raise
        print(f"repconv {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"repconv {args.command}: interrupted; files are written whole or not at all, "
              "so every output present is complete", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

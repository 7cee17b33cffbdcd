"""``repconv plot``: redraw the figures of a saved results file without rerunning anything."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from repconv.cli import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="redraw the figures of a results JSON file",
        description=(
            "Read a results file written by a repconv command (e.g. toy_results.json of 'repconv toy') "
            "and draw its figures from the saved numbers alone."
        ),
    )
    p.add_argument("results", help="results JSON file")
    p.add_argument("--out", default=None, help="figure folder (default: RESULTS' folder/figures)")
    p.add_argument("--formats", default="png,pdf", help="comma-separated figure formats (default: png,pdf)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of raster figures (default: 110)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from repconv.plots import RENDERERS

    path = Path(args.results)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except json.JSONDecodeError as err:
        raise CommandError(f"{path}: not valid JSON ({err})") from None
    kind = results.get("kind") if isinstance(results, dict) else None
    if kind not in RENDERERS:
        raise CommandError(f"{path}: results kind {kind!r} has no figures; known kinds: {', '.join(RENDERERS)}")
    out = Path(args.out) if args.out else path.parent / "figures"
    formats = tuple(f for f in args.formats.split(",") if f)
    try:
        written = importlib.import_module(RENDERERS[kind]).render_all(results, out, formats, dpi=args.dpi)
    except KeyError as err:
        raise CommandError(f"{path}: incomplete {kind} results, missing key {err}") from None
    print(f"wrote {len(written)} figure files under {out}")
    return 0

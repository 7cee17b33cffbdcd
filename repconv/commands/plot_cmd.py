"""``repconv plot``: redraw the figures of a saved results file without rerunning anything."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from repconv.cli import CommandError
from repconv.outputs import check_dpi, check_figure_formats, check_output_dir


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
    p.add_argument("--dpi", type=float, default=110, help="resolution of raster figures (default: 110)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from repconv.plots import RENDERERS

    formats = check_figure_formats(args.formats.split(","))
    dpi = check_dpi(args.dpi)
    path = Path(args.results)
    if path.is_dir():
        raise CommandError(f"{path}: is a directory, expected a results JSON file")
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CommandError(f"{path}: not valid JSON ({err})") from None
    kind = results.get("kind") if isinstance(results, dict) else None
    if kind not in RENDERERS:
        raise CommandError(f"{path}: results kind {kind!r} has no figures; known kinds: {', '.join(RENDERERS)}")
    # Redrawing figures from saved numbers loses nothing: existing figures are replaced.
    out = check_output_dir(args.out if args.out else path.parent / "figures", "--out", results=[], overwrite=True)
    try:
        written = importlib.import_module(RENDERERS[kind]).render_all(
            results, out, formats, dpi=dpi, progress=not args.no_progress)
    except KeyError as err:
        raise CommandError(f"{path}: incomplete {kind} results, missing key {err}") from None
    print(f"wrote {len(written)} figure files under {out}")
    return 0

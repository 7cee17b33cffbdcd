"""Output paths, checked before any work starts, so that a typo costs no computation and no result is replaced.

Every command calls these on its ``--json``, ``--out``, ``--counterexamples``, ``--formats`` and ``--dpi``
before it computes anything. A folder that already holds a command's results is refused unless the command
was given ``--overwrite``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from repconv.cli import CommandError

__all__ = ["check_output_file", "check_output_dir", "check_figure_formats", "check_dpi", "OVERWRITE_HELP"]

OVERWRITE_HELP = "replace results already at the output path (refused otherwise)"

#: Resolution bounds of raster figures: below 10 nothing is legible, above 2400 a figure takes gigabytes.
DPI_RANGE = (10, 2400)


def _check_writable_location(path: Path, flag: str) -> None:
    """The nearest existing folder on the way to ``path`` must be a folder we can create files in."""
    if str(path).strip() == "":
        raise CommandError(f"{flag}: empty path")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise CommandError(f"{flag} {path}: {ancestor} is a file, not a folder")
    try:  # a real file creation: permission bits say nothing for root or on a read-only file system
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise CommandError(f"{flag} {path}: cannot write in {ancestor} ({err.strerror or err})") from None


def _refuse_empty(path: str | Path, flag: str) -> None:
    if str(path).strip() == "":  # Path("") would silently mean the current folder
        raise CommandError(f"{flag}: empty path")


def check_output_file(path: str | Path, flag: str, *, overwrite: bool = True, what: str = "file") -> Path:
    """``path`` can be written as a file; with ``overwrite=False`` it must not exist yet."""
    _refuse_empty(path, flag)
    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{flag} {path}: is a directory, expected a file name")
    if path.exists():
        if not overwrite:
            raise CommandError(f"{flag} {path}: already exists ({what}); pass --overwrite to replace it, "
                               "or choose another name")
        if not os.access(path, os.W_OK):
            raise CommandError(f"{flag} {path}: exists and is not writable")
    _check_writable_location(path, flag)
    return path


def check_output_dir(path: str | Path, flag: str, *, results: Iterable[str], overwrite: bool) -> Path:
    """``path`` is (or can become) a folder; unless ``overwrite``, it holds none of ``results`` (names or globs)."""
    _refuse_empty(path, flag)
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CommandError(f"{flag} {path}: is a file, expected a folder")
    if path.is_dir():
        found = sorted({p.name for pattern in results for p in path.glob(pattern)})
        if found and not overwrite:
            shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
            raise CommandError(f"{flag} {path}: already holds results ({shown}); pass --overwrite to replace them, "
                               "or choose another folder")
        _check_writable_location(path / "x", flag)
    else:
        _check_writable_location(path, flag)
    return path


def check_figure_formats(formats: Iterable[str], flag: str = "--formats") -> tuple[str, ...]:
    """Figure formats matplotlib can write; one bad name is refused before any figure is drawn."""
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    formats = tuple(f.strip().lower().lstrip(".") for f in formats if f.strip())
    if not formats:
        raise CommandError(f"{flag}: no format given; supported: {', '.join(sorted(supported))}")
    unknown = [f for f in formats if f not in supported]
    if unknown:
        raise CommandError(f"{flag}: unknown figure format {unknown[0]!r}; supported: {', '.join(sorted(supported))}")
    return formats


def check_dpi(dpi: float, flag: str = "--dpi") -> float:
    lo, hi = DPI_RANGE
    if not lo <= dpi <= hi:
        raise CommandError(f"{flag} is {dpi:g}, expected {lo} to {hi}")
    return dpi

"""Result files: atomic writes, JSON reading and the provenance record every run stores with its results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["file_sha256", "fsync_directory", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "read_json", "run_metadata", "git_commit"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    A reader (or an interrupted run) sees either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)  # the rename itself survives a power loss only once its folder is on disk
    return path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes: identifies a file by content, wherever it lies."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_directory(directory: str | Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON (indented; ``indent=None``: compact), atomically. NaN and infinity are written as JSON ``null``."""
    text = json.dumps(_replace_nonfinite(data), indent=indent, default=_json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _replace_nonfinite(data: Any) -> Any:
    if isinstance(data, float):
        return data if data == data and abs(data) != float("inf") else None
    if isinstance(data, dict):
        return {k: _replace_nonfinite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_replace_nonfinite(v) for v in data]
    return data


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def git_commit(start: str | Path | None = None) -> str | None:
    """The commit of the source tree this package runs from (``None`` outside a git checkout)."""
    here = Path(start) if start else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_metadata(config: Any = None, seed: Any = None, **extra: Any) -> dict[str, Any]:
    """Provenance of a run: config, seed, package versions, git commit, command line and time."""
    packages = ("numpy", "scipy", "sympy", "torch", "procgen-mirror", "kornia", "matplotlib", "hypothesis")
    meta = {
        "repconv_version": _version("repconv"),
        "git_commit": git_commit(),
        "command": sys.argv,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {p: v for p in packages if (v := _version(p))},
        "seed": seed,
        "config": config,
    }
    meta.update(extra)
    return meta

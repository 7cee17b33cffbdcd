"""Policy checkpoints: one trained agent, readable without the run that produced it.

A policy checkpoint is a ``torch.save`` dictionary::

    format             "repconv-procgen-policy-v1"
    model              ActorCritic state dict (without critic.* when has_critic is False)
    has_critic         bool (False for policies imported from the paper's format, which saves none)
    game               Procgen game name
    distribution_mode  "easy" | "hard"
    algo               "ppo" | "mdpo" | "paper-import"
    agent              1 or 2 (MDPO trains two agents; PPO has agent 1)
    seed               training seed (or None)
    train_levels       [start, num] of the training level range
    env_steps          environment steps this agent has taken
    extra              free-form dict (e.g. config, evaluation)

Files are written atomically (temporary file, then rename). Every file a user passes in is read with
:func:`load_torch_file`: ``torch.load(weights_only=True)`` with numpy arrays as the only extra types, so a
file can never run code; a file that needs anything else is refused.
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.files import atomic_write_bytes

from .envs import check_game
from .network import ActorCritic, CheckpointMismatchError, check_state_dict

__all__ = [
    "POLICY_FORMAT",
    "SAFE_GLOBALS",
    "save_policy",
    "load_policy",
    "load_torch_file",
    "policy_record",
    "resolve_policy_path",
    "torch_save_atomic",
]

POLICY_FORMAT = "repconv-procgen-policy-v1"

#: The only classes and functions a checkpoint may name besides torch's tensors and Python's containers:
#: those that rebuild a numpy array (training states hold RNG states and reward normalisers as arrays).
SAFE_GLOBALS: list[Any] = [
    np.core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
    *sorted({type(np.dtype(c)) for c in np.typecodes["All"]}, key=lambda t: t.__name__),
]


def load_torch_file(path: str | Path, what: str, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` allowing :data:`SAFE_GLOBALS` only; the one way a file is read.

    Raises :class:`CheckpointMismatchError` (a ``ValueError``) with one line naming ``path`` and the problem
    (a directory, an empty, truncated or non-torch file, or a pickle that would need other code to load),
    and ``FileNotFoundError`` for a missing file.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointMismatchError(f"{path}: is a directory, expected a {what} file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    if path.stat().st_size == 0:
        raise CheckpointMismatchError(f"{path}: empty file (0 bytes), expected a {what}")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        names = _unsafe_globals(path) if "Weights only load failed" in str(err) else None
        if names is None:
            raise _unreadable(path, what, err) from None
        raise CheckpointMismatchError(
            f"{path}: refused ({what}): loading it would run code from {names}; "
            "only tensors, numpy arrays and plain containers are read"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise _unreadable(path, what, err) from None


def _unsafe_globals(path: Path) -> str | None:
    """What a pickle the safe loader refused would import, or None when the file is no pickle at all."""
    if zipfile.is_zipfile(path):
        try:
            return ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(path)) or None
        except Exception:
            return None
    with open(path, "rb") as fh:
        is_pickle = fh.read(1) == b"\x80"  # the PROTO opcode that starts every pickle of protocol >= 2
    return "objects that are not tensors, numbers, strings or numpy arrays" if is_pickle else None


def _unreadable(path: Path, what: str, err: BaseException) -> CheckpointMismatchError:
    lines = str(err).strip().splitlines()
    detail = lines[0][:160] if lines else type(err).__name__
    if "Weights only load failed" in detail:  # torch's advice to load unsafely does not apply here
        detail = "its first byte starts no pickle"
    return CheckpointMismatchError(
        f"{path}: not a readable {what} (truncated, or not written by torch.save: {detail})")


def resolve_policy_path(path: str | Path) -> Path:
    """``path`` itself, or the policy of a run directory when that is unambiguous (one ``policy_agent*.pt``)."""
    path = Path(path)
    if not path.is_dir():
        return path
    policies = sorted(path.glob("policy_agent*.pt"))
    if len(policies) == 1:
        return policies[0]
    if not policies:
        raise CheckpointMismatchError(f"{path}: is a directory with no policy_agent*.pt; pass a policy checkpoint file")
    raise CheckpointMismatchError(
        f"{path}: is a run directory with {len(policies)} policies; pass one of "
        + ", ".join(str(p) for p in policies))


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through a temporary file and rename: an interrupted write leaves the old file intact."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def policy_record(
    model: ActorCritic,
    *,
    game: str,
    distribution_mode: str,
    algo: str,
    agent: int = 1,
    seed: int | None = None,
    train_levels: tuple[int, int] | None = None,
    env_steps: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not model.has_critic:
        state = {k: v for k, v in state.items() if not k.startswith("critic.")}
    return {
        "format": POLICY_FORMAT,
        "model": state,
        "has_critic": bool(model.has_critic),
        "game": check_game(game),
        "distribution_mode": distribution_mode,
        "algo": algo,
        "agent": int(agent),
        "seed": seed,
        "train_levels": list(train_levels) if train_levels else None,
        "env_steps": int(env_steps),
        "extra": extra or {},
    }


def save_policy(path: str | Path, model: ActorCritic, **info: Any) -> Path:
    """Write a policy checkpoint (see the module docstring for ``info`` keys)."""
    return torch_save_atomic(policy_record(model, **info), path)


def load_policy(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[ActorCritic, dict[str, Any]]:
    """Read a policy checkpoint; returns the model (in eval mode) and its info (everything but ``model``).

    ``path`` may be a run directory holding one policy. Raises :class:`CheckpointMismatchError` (a
    ``ValueError``) for a file of another format or architecture, or one that is unsafe or unreadable.
    """
    path = resolve_policy_path(path)
    record = load_torch_file(path, "policy checkpoint", map_location=map_location)
    if not isinstance(record, dict) or record.get("format") != POLICY_FORMAT:
        raise CheckpointMismatchError(
            f"{path}: not a {POLICY_FORMAT} file (a paper checkpoint? convert it with `repconv procgen import-paper`)"
        )
    model = ActorCritic()
    if not isinstance(record.get("model"), dict) or "has_critic" not in record:
        raise CheckpointMismatchError(f"{path}: {POLICY_FORMAT} file without its model weights")
    state = dict(record["model"])
    if not record["has_critic"]:
        model.has_critic = False
        state.update({k: v for k, v in model.state_dict().items() if k.startswith("critic.")})
    check_state_dict(model, state, f"{path} (policy)")
    model.load_state_dict(state)
    model.to(map_location).eval()
    info = {k: v for k, v in record.items() if k != "model"}
    return model, info

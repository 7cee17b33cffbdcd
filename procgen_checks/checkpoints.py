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

Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from common.files import atomic_write_bytes

from .envs import check_game
from .network import ActorCritic, CheckpointMismatchError, check_state_dict

__all__ = ["POLICY_FORMAT", "save_policy", "load_policy", "policy_record", "torch_save_atomic"]

POLICY_FORMAT = "repconv-procgen-policy-v1"


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

    Raises :class:`CheckpointMismatchError` (a ``ValueError``) for a file of another format or architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such policy checkpoint")
    record = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(record, dict) or record.get("format") != POLICY_FORMAT:
        raise CheckpointMismatchError(
            f"{path}: not a {POLICY_FORMAT} file (a paper checkpoint? convert it with `repconv procgen import-paper`)"
        )
    model = ActorCritic()
    state = dict(record["model"])
    if not record["has_critic"]:
        model.has_critic = False
        state.update({k: v for k, v in model.state_dict().items() if k.startswith("critic.")})
    check_state_dict(model, state, f"{path} (policy)")
    model.load_state_dict(state)
    model.to(map_location).eval()
    info = {k: v for k, v in record.items() if k != "model"}
    return model, info

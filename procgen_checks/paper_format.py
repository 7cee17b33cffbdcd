"""The paper's checkpoint format, to ours and back.

The paper's code saves, per agent, two ``torch.save`` state dicts: the encoder's (an
``nn.Sequential``: ``0.conv.weight`` ... ``2.res_block1.conv1.bias``, ``5.weight`` (256, 2048),
``5.bias``) and the actor's (``weight`` (15, 256), ``bias``), as
``{game}/encoder_agent_{k}_seed_{s}.pth`` and ``{game}/actor_agent_{k}_seed_{s}.pth``. No critic is
saved, so an imported policy has ``has_critic = False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .checkpoints import load_torch_file, torch_save_atomic
from .network import ActorCritic, CheckpointMismatchError, check_state_dict

__all__ = ["load_paper_policy", "paper_state_dicts", "export_paper_policy"]


def _read_state_dict(path: str | Path, what: str) -> Mapping[str, torch.Tensor]:
    state = load_torch_file(path, what)
    if isinstance(state, torch.nn.Module):  # pragma: no cover (weights_only refuses modules)
        state = state.state_dict()
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(f"{path}: expected a state dict of tensors ({what}), got {type(state).__name__}")
    return state


def load_paper_policy(encoder_path: str | Path, actor_path: str | Path) -> ActorCritic:
    """An :class:`ActorCritic` (no critic) holding the paper's saved encoder and actor.

    Raises :class:`CheckpointMismatchError` naming the first key or shape that does not fit.
    """
    encoder_state = _read_state_dict(encoder_path, "paper encoder")
    actor_state = _read_state_dict(actor_path, "paper actor")
    model = ActorCritic()
    check_state_dict(model.encoder, encoder_state, f"{encoder_path} (encoder)")
    check_state_dict(model.actor, actor_state, f"{actor_path} (actor)")
    model.encoder.load_state_dict(encoder_state)
    model.actor.load_state_dict(actor_state)
    model.has_critic = False
    return model.eval()


def paper_state_dicts(model: ActorCritic) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(encoder_state, actor_state)`` with the paper's key names (CPU tensors)."""
    encoder = {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}
    actor = {k: v.detach().cpu().clone() for k, v in model.actor.state_dict().items()}
    return encoder, actor


def export_paper_policy(model: ActorCritic, out_dir: str | Path) -> dict[str, Any]:
    """Write ``out_dir/encoder.pth`` and ``out_dir/actor.pth`` (the critic, if any, is not part of the format)."""
    out_dir = Path(out_dir)
    encoder, actor = paper_state_dicts(model)
    paths = {"encoder": out_dir / "encoder.pth", "actor": out_dir / "actor.pth"}
    torch_save_atomic(encoder, paths["encoder"])
    torch_save_atomic(actor, paths["actor"])
    return paths

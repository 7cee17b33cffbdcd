"""The IMPALA actor-critic of the paper's code (CleanRL's ``ppo_procgen``), and its checkpoint format.

Encoder: three stages with 16, 32, 32 channels, each ``conv3x3 -> maxpool(3, stride 2, pad 1) ->
two residual blocks (relu, conv3x3, relu, conv3x3, + input)``; then flatten, ReLU,
``Linear(2048, 256)``, ReLU. It takes HWC ``uint8`` frames (``(B, 64, 64, 3)``) and divides by 255
inside. Heads: actor ``Linear(256, 15)`` (orthogonal init, std 0.01), critic ``Linear(256, 1)``
(orthogonal, std 1).

The encoder is an ``nn.Sequential`` so that its state-dict keys are those of the paper's saved
encoders (``0.conv.weight`` ... ``2.res_block1.conv1.bias``, ``5.weight`` of shape (256, 2048),
``5.bias``); the actor's keys are ``weight`` (15, 256) and ``bias``. The paper saves no critic.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

__all__ = [
    "ResidualBlock",
    "ConvSequence",
    "ImpalaEncoder",
    "ActorCritic",
    "CheckpointMismatchError",
    "check_state_dict",
    "FRAME_SHAPE",
    "LATENT_DIM",
]

FRAME_SHAPE = (64, 64, 3)
LATENT_DIM = 256


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


class ConvSequence(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.res_block0 = ResidualBlock(out_channels)
        self.res_block1 = ResidualBlock(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.max_pool2d(self.conv(x), kernel_size=3, stride=2, padding=1)
        return self.res_block1(self.res_block0(x))


class ImpalaEncoder(nn.Sequential):
    """``(B, 64, 64, 3)`` uint8 (or float in [0, 255]) frames -> ``(B, 256)`` features."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), latent_dim: int = LATENT_DIM):
        layers: list[nn.Module] = []
        c, h = FRAME_SHAPE[2], FRAME_SHAPE[0]
        for out in channels:
            layers.append(ConvSequence(c, out))
            c, h = out, (h + 1) // 2
        layers += [nn.Flatten(), nn.ReLU(), nn.Linear(c * h * h, latent_dim), nn.ReLU()]
        super().__init__(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if frames.dim() != 4 or tuple(frames.shape[1:]) != FRAME_SHAPE:
            raise ValueError(f"frames have shape {tuple(frames.shape)}, expected (B, 64, 64, 3) (HWC)")
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        return super().forward(x)


def _layer_init(layer: nn.Linear, std: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


class ActorCritic(nn.Module):
    """IMPALA encoder with actor and critic heads. ``has_critic`` is False for imported paper weights."""

    def __init__(self, num_actions: int = 15):
        super().__init__()
        self.encoder = ImpalaEncoder()
        self.actor = _layer_init(nn.Linear(LATENT_DIM, num_actions), std=0.01)
        self.critic = _layer_init(nn.Linear(LATENT_DIM, 1), std=1.0)
        self.has_critic = True

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, A), value (B,))``."""
        hidden = self.encoder(frames)
        return self.actor(hidden), self.critic(hidden).squeeze(-1)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames)

    def logits(self, frames: torch.Tensor) -> torch.Tensor:
        return self.actor(self.encoder(frames))

    def action_probs(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(frames), dim=-1)


class CheckpointMismatchError(ValueError):
    """A state dict that does not fit the architecture; the message names the first mismatching key."""


def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` has exactly ``module``'s keys and shapes."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise CheckpointMismatchError(
                f"{what}: missing key {key!r} (expected shape {tuple(tensor.shape)}); is this a checkpoint of another architecture?"
            )
        got = tuple(np.shape(state[key]))
        if got != tuple(tensor.shape):
            raise CheckpointMismatchError(f"{what}: key {key!r} has shape {got}, expected {tuple(tensor.shape)}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointMismatchError(f"{what}: unexpected key {extra[0]!r} (shape {tuple(np.shape(state[extra[0]]))}); not an IMPALA {what}")

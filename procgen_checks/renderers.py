"""Paired renderings of the same Procgen state: the rendering functions ``f_1, f_2`` of the robustness term.

THEORY's robustness term ``R(pi) = max_s max_{j,k} TV(pi_{f_j}[s], pi_{f_k}[s])`` compares a policy's
action distributions under two renderings of the *same* state. Two kinds of renderer give such pairs
on Procgen:

* **Render options in lockstep** (``backgrounds``, ``themes``, ``monochrome``, ``all-render``): a second
  ``ProcgenGym3Env`` with the same ``rand_seed``, levels and actions as the reference environment, that
  differs only in Procgen's render options. Procgen carries the render options inside its state, so a
  state cannot be re-rendered: the pair must be stepped in lockstep, and the lockstep must be verified
  while it runs (:class:`LockstepSync`). The reference rendering is the training one (backgrounds on,
  all themes, full-colour assets).
* **Image renderers** (``randconv``, ``jitter``): functions of the reference frame, applied to frames
  the policy visits. Each has a ``strength`` in ``[0, 1]``; strength 0 is the identity.

  - ``randconv`` (Lee et al. 2020): a fresh 3x3 convolution per frame, RGB -> RGB, padding 1, no bias,
    Xavier-normal weights (std ``sqrt(2 / (fan_in + fan_out)) = sqrt(2 / 54)``), on the frame scaled to
    ``[0, 1]``; as in the reference implementation the output is not clipped. Strength ``s`` mixes
    pixels: ``f_s(x) = (1 - s) x + s conv(x)``, so the perturbation grows linearly from none to the full
    random convolution.
  - ``jitter`` (DrAC's colour-jitter settings, kornia's ``ColorJitter``: its draws, its steps in closed form): brightness 0.4,
    contrast 0.4, saturation 0.4, hue 0.5, each drawn afresh per frame, applied in that fixed order.
    Strength ``s`` scales the four ranges: brightness factor in ``[1 - 0.4 s, 1 + 0.4 s]`` and so on,
    hue shift in ``[-0.5 s, 0.5 s]`` turns.

Both draw their randomness from an explicit ``numpy.random.Generator``: the same generator state gives
the same rendering, which is what makes "a renderer compared with itself gives TV exactly 0" a check.

Frames are HWC, shape ``(B, 64, 64, 3)``, on the ``[0, 255]`` scale the network expects (uint8 for
Procgen frames, float32 for image-rendered ones).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np

from .envs import RenderOptions

if TYPE_CHECKING:  # torch is imported where frames are rendered, so that the names above load without it
    import torch

__all__ = [
    "REFERENCE_RENDER",
    "LOCKSTEP_RENDERERS",
    "IMAGE_RENDERERS",
    "RENDERER_NAMES",
    "parse_renderers",
    "ImageRenderer",
    "RandomConvolution",
    "ColourJitter",
    "make_image_renderer",
    "LockstepSync",
    "DesyncEvent",
]

#: The training rendering: every lockstep renderer is compared against it.
REFERENCE_RENDER = RenderOptions()

#: Procgen render options of the second environment of a lockstep pair.
LOCKSTEP_RENDERERS: dict[str, RenderOptions] = {
    "backgrounds": RenderOptions(use_backgrounds=False),
    "themes": RenderOptions(restrict_themes=True),
    "monochrome": RenderOptions(use_monochrome_assets=True),
    "all-render": RenderOptions(use_backgrounds=False, restrict_themes=True, use_monochrome_assets=True),
}

IMAGE_RENDERERS = ("randconv", "jitter")
RENDERER_NAMES = tuple(LOCKSTEP_RENDERERS) + IMAGE_RENDERERS


def parse_renderers(text: str | list[str]) -> list[str]:
    """``"backgrounds,randconv"`` -> ``["backgrounds", "randconv"]``; unknown names raise a ``ValueError``."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ValueError(f"no renderer given; known renderers: {', '.join(RENDERER_NAMES)}")
    for name in names:
        if name not in RENDERER_NAMES:
            close = difflib.get_close_matches(name, RENDERER_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown renderer {name!r}.{hint} Known renderers: {', '.join(RENDERER_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"renderer list {names} names a renderer twice")
    return names


def _check_frames(frames: torch.Tensor) -> None:
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames have shape {tuple(frames.shape)}, expected (B, H, W, 3) (HWC, RGB)")


def _check_strength(strength: float) -> float:
    strength = float(strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"renderer strength is {strength}, expected a number in [0, 1]")
    return strength


@dataclass
class ImageRenderer:
    """A rendering function of the reference frame; ``__call__(frames, rng)`` returns float32 frames."""

    strength: float = 1.0
    name: str = field(default="identity", init=False)

    def __post_init__(self) -> None:
        self.strength = _check_strength(self.strength)

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        _check_frames(frames)
        if self.strength == 0.0:
            return frames.float()
        return self._render(frames.float(), rng)

    def _render(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return frames


#: Xavier-normal std of a 3x3 conv from 3 to 3 channels: fan_in = fan_out = 3 * 3 * 3 = 27.
RANDCONV_STD = math.sqrt(2.0 / (27 + 27))


@dataclass
class RandomConvolution(ImageRenderer):
    """A fresh random 3x3 convolution per frame (Lee et al. 2020), mixed with the frame by ``strength``."""

    name: str = field(default="randconv", init=False)

    def kernels(self, batch: int, rng: np.random.Generator) -> torch.Tensor:
        """``(B, 3, 3, 3, 3)`` Xavier-normal kernels (out channel, in channel, 3, 3) per frame."""
        import torch

        return torch.from_numpy(rng.standard_normal((batch, 3, 3, 3, 3)) * RANDCONV_STD).float()

    def _render(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        import torch

        B, H, W, _ = frames.shape
        # A bias-free convolution is linear, so it is applied to the [0, 255] frame directly: the same
        # result as on the [0, 1] frame rescaled, without two passes over the pixels.
        x = frames.permute(0, 3, 1, 2)  # (B, 3, H, W)
        # One grouped convolution applies every frame's own kernel: group b sees only frame b's channels.
        weight = self.kernels(B, rng).reshape(B * 3, 3, 3, 3)
        out = torch.nn.functional.conv2d(x.reshape(1, B * 3, H, W), weight, padding=1, groups=B).reshape(B, 3, H, W)
        if self.strength != 1.0:
            out = (1.0 - self.strength) * x + self.strength * out
        # Contiguous HWC, as Procgen's frames: the encoder's permute then yields a channels-last tensor,
        # for which CPU convolutions run about twice as fast as for a contiguous NCHW one.
        return out.permute(0, 2, 3, 1).contiguous()


#: DrAC's colour-jitter ranges at strength 1.
JITTER_RANGES = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.5}


#: ITU-R BT.601 luma weights, kornia's ``rgb_to_grayscale`` for float images.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass
class ColourJitter(ImageRenderer):
    """kornia's ``ColorJitter`` with DrAC's ranges scaled by ``strength``, a fresh draw per frame.

    kornia draws the factors (:meth:`parameters`); the pixels are computed here (:meth:`apply`) with the
    same steps and clamps as kornia's ``ColorJitter`` in the fixed order brightness, contrast,
    saturation, hue. kornia's hue step converts RGB to HSV and back (about half the
    cost of a forward pass of the network); here the rotation uses the closed form of that round trip:
    with ``M = max(r, g, b)``, ``C = M - min(r, g, b)`` and the hue ``H`` in sixths of a turn, channel
    ``n`` (``r: 5, g: 3, b: 1``) of the rotated pixel is ``M - C clamp(min(k, 4 - k), 0, 1)`` with
    ``k = (n + H) mod 6``. Value and chroma are unchanged by a hue rotation, so only ``H`` is computed.
    The result equals kornia's to float32 rounding (``tests/test_procgen_estimators.py``).
    """

    name: str = field(default="jitter", init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        import kornia.augmentation

        s = self.strength
        self.augmentation = kornia.augmentation.ColorJitter(
            brightness=JITTER_RANGES["brightness"] * s,
            contrast=JITTER_RANGES["contrast"] * s,
            saturation=JITTER_RANGES["saturation"] * s,
            hue=JITTER_RANGES["hue"] * s,
            p=1.0,
            order=(0, 1, 2, 3),
        )

    def parameters(self, batch: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """kornia's per-frame factors (``brightness_factor``, ..., ``hue_factor`` in turns), drawn from ``rng``."""
        import torch

        # kornia draws its factors from torch's global generator; seed a forked copy of it from ``rng``
        # so that the draw is reproducible and the caller's torch RNG state is left untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(0, 2**63 - 1)))
            return self.augmentation.forward_parameters(torch.Size((batch, 3, 64, 64)))

    def apply(self, frames: torch.Tensor, params: dict[str, torch.Tensor], chunk: int = 64) -> torch.Tensor:
        """The jitter of ``(B, H, W, 3)`` frames on the ``[0, 255]`` scale with the factors ``params``.

        Computed on planar (NCHW) copies, ``chunk`` frames at a time so that the intermediates stay in
        cache (64 frames of 64x64x3 float32 are 3 MB; a batch of 256 at once took 41 ms against 25 ms in
        chunks of 64, same values); the result is HWC and contiguous.
        """
        import torch

        factors = torch.stack([params[k].to(frames.device, torch.float32) for k in
                               ("brightness_factor", "contrast_factor", "saturation_factor", "hue_factor")], 1)
        out = torch.empty(frames.shape, dtype=torch.float32, device=frames.device)
        planar = out.permute(0, 3, 1, 2)  # NCHW view of the HWC output
        for i in range(0, frames.shape[0], chunk):
            x = frames[i:i + chunk].permute(0, 3, 1, 2).float().contiguous()
            planar[i:i + chunk] = self._jitter_planar(x, factors[i:i + chunk].reshape(-1, 4, 1, 1, 1))
        return out

    @staticmethod
    def _luma(x: torch.Tensor) -> torch.Tensor:
        gray = x[:, 0] * LUMA_WEIGHTS[0]
        gray.add_(x[:, 1], alpha=LUMA_WEIGHTS[1]).add_(x[:, 2], alpha=LUMA_WEIGHTS[2])
        return gray.unsqueeze(1)

    @classmethod
    def _jitter_planar(cls, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """kornia's four steps and clamps on ``(b, 3, H, W)`` frames in [0, 255]; ``f`` holds the factors, ``(b, 4, 1, 1, 1)``."""
        import torch

        bright, contrast, sat, turns = f.unbind(1)
        x = x.div_(255.0).clamp_(0.0, 1.0).mul_(bright).clamp_(0.0, 1.0)
        mean = cls._luma(x).mean((2, 3), keepdim=True)
        x = torch.addcmul(mean * (1 - contrast), x, contrast).clamp_(0.0, 1.0)
        x = torch.addcmul(cls._luma(x).mul_(1 - sat), x, sat).clamp_(0.0, 1.0)
        # Hue rotation: value (top) and chroma are kept, the hue moves by ``turns``.
        top, bottom = x.amax(1, keepdim=True), x.amin(1, keepdim=True)
        chroma = top - bottom
        r, g, b = x.unbind(1)
        # The hue in sixths of a turn, as kornia's rgb_to_hsv computes it (before scaling to radians).
        numerator = torch.where((r >= g) & (r >= b), g - b,
                                torch.where(g >= b, (b - r).add_(chroma[:, 0], alpha=2.0),
                                            (r - g).add_(chroma[:, 0], alpha=4.0)))
        sixths = numerator.unsqueeze(1).div_(torch.where(chroma == 0, 1.0, chroma)).add_(6.0 * turns)
        # Channel n of the rotated pixel reads the hue wheel at (n + H) mod 6: r at 5, g at 3, b at 1.
        offsets = torch.tensor([5.0, 3.0, 1.0], device=x.device).reshape(1, 3, 1, 1)
        k = (sixths + offsets).remainder_(6.0)
        k = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
        return torch.addcmul(top, chroma, k, value=-1.0).clamp_(0.0, 1.0).mul_(255.0)

    def _render(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        # HWC in, contiguous HWC out: the encoder's permute then yields a channels-last tensor (as above).
        return self.apply(frames, self.parameters(frames.shape[0], rng))


def make_image_renderer(name: str, strength: float = 1.0) -> ImageRenderer:
    if name == "randconv":
        return RandomConvolution(strength)
    if name == "jitter":
        return ColourJitter(strength)
    if name == "identity":
        return ImageRenderer(strength)
    raise ValueError(f"{name!r} is not an image renderer; image renderers: {', '.join(IMAGE_RENDERERS)}")


@dataclass(frozen=True)
class DesyncEvent:
    """Env ``env_index`` of a lockstep pair went out of sync after step ``step`` for ``reason``."""

    env_index: int
    step: int
    reason: str


class LockstepSync:
    """Run-time verification that two lockstep environments still show the same underlying state.

    After every step the pair must agree on the reward, on the episode boundary (``first``) and, where
    the level seeds are known, on the level seed. The first disagreement marks that env index as
    desynchronised for the rest of the rollout (``alive[i]`` becomes False): its later frames are never
    used. Agreement is necessary, not sufficient: a divergence that shows in none of the three signals
    cannot be seen from outside the game.
    """

    def __init__(self, num_envs: int):
        self.alive = np.ones(num_envs, dtype=bool)
        self.events: list[DesyncEvent] = []

    def update(
        self,
        step: int,
        reward_a: np.ndarray,
        reward_b: np.ndarray,
        first_a: np.ndarray,
        first_b: np.ndarray,
        level_seed_a: np.ndarray | None = None,
        level_seed_b: np.ndarray | None = None,
    ) -> np.ndarray:
        """Compare one step of both environments; returns the updated ``alive`` mask."""
        checks = [
            ("reward", np.asarray(reward_a) != np.asarray(reward_b)),
            ("episode boundary", np.asarray(first_a, dtype=bool) != np.asarray(first_b, dtype=bool)),
        ]
        if level_seed_a is not None and level_seed_b is not None:
            checks.append(("level seed", np.asarray(level_seed_a) != np.asarray(level_seed_b)))
        for reason, differs in checks:
            for i in np.flatnonzero(differs & self.alive):
                self.alive[i] = False
                self.events.append(DesyncEvent(int(i), int(step), reason))
        return self.alive

    @property
    def num_desynced(self) -> int:
        return int((~self.alive).sum())

"""Training configuration: one typed dataclass, named presets, and command-line overrides.

:class:`TrainConfig` holds everything that changes what a run computes (game, algorithm,
hyperparameters, level range). How a run executes (device, thread counts, time limit, checkpoint
period) lives in :class:`procgen_checks.training.RuntimeOptions`, so a run resumed on another machine
computes the same thing.

Defaults are the paper's protocol (its public code, which uses CleanRL's ``ppo_procgen``):
distribution mode ``hard``, 500 training levels starting at 0, 50M environment steps per agent,
64 environments x 256 steps, 8 minibatches, 3 epochs, Adam (lr 5e-4, eps 1e-5), gamma 0.999,
GAE lambda 0.95, clip 0.2 (policy and value), value coefficient 0.5, entropy coefficient 0.01,
gradient norm 0.5 per agent, rewards scaled by a running std of the discounted return and clipped
to [-10, 10]; MDPO adds ``alpha * KL(pi_peer || pi_self)`` with ``alpha = 1``.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from .envs import DISTRIBUTION_MODES, check_game

__all__ = ["ALGOS", "TrainConfig", "PRESETS", "make_config", "add_config_arguments", "config_overrides"]

ALGOS = ("ppo", "mdpo")


def _doc(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class TrainConfig:
    """A training run's algorithm, hyperparameters and environment (one documented line per field)."""

    game: str = _doc("Procgen game", "coinrun")
    algo: str = _doc("'ppo' (one agent) or 'mdpo' (two agents, each distilled towards the other)", "ppo")
    seed: int = _doc("seeds python, numpy and torch, and is Procgen's rand_seed (the same for both MDPO agents)", 1)
    distribution_mode: str = _doc("Procgen distribution mode: 'easy' or 'hard'", "hard")
    num_levels: int = _doc("number of training levels: level seeds [start_level, start_level + num_levels)", 500)
    start_level: int = _doc("first training level seed", 0)
    total_steps: int = _doc("environment steps per agent (rounded down to whole iterations)", 50_000_000)
    num_envs: int = _doc("parallel environments per agent", 64)
    num_steps: int = _doc("steps per environment per rollout (rollout = num_envs x num_steps)", 256)
    num_minibatches: int = _doc("minibatches per epoch (must divide num_envs x num_steps)", 8)
    update_epochs: int = _doc("passes over each rollout", 3)
    learning_rate: float = _doc("Adam learning rate (constant, no annealing)", 5e-4)
    adam_eps: float = _doc("Adam epsilon", 1e-5)
    gamma: float = _doc("discount factor (GAE and reward normalisation)", 0.999)
    gae_lambda: float = _doc("GAE lambda", 0.95)
    clip_coef: float = _doc("PPO clip range for the probability ratio and the value update", 0.2)
    clip_value_loss: bool = _doc("clip the value update around the rollout's value estimate", True)
    value_coef: float = _doc("weight of the value loss", 0.5)
    entropy_coef: float = _doc("weight of the entropy bonus", 0.01)
    max_grad_norm: float = _doc("gradient norm clip, applied to each agent's parameters separately", 0.5)
    norm_adv: bool = _doc("normalise advantages per minibatch (mean 0, std 1)", True)
    adv_norm_eps: float = _doc("epsilon added to the advantage std", 1e-8)
    normalize_reward: bool = _doc("divide rewards by a running std of the discounted return", True)
    reward_clip: float = _doc("clip normalised rewards to [-reward_clip, reward_clip]", 10.0)
    alpha: float = _doc("MDPO: weight of KL(pi_peer || pi_self) in each agent's loss", 1.0)
    kl_eps: float = _doc("MDPO: epsilon inside the logarithms of the KL term", 1e-8)
    stats_window: int = _doc("finished training episodes averaged into the logged 'recent' return", 100)
    torch_deterministic: bool = _doc("ask cuDNN for deterministic kernels (the paper's setting)", True)

    def __post_init__(self) -> None:
        check_game(self.game)
        if self.algo not in ALGOS:
            raise ValueError(f"algo is {self.algo!r}; expected one of {', '.join(ALGOS)}")
        if self.distribution_mode not in DISTRIBUTION_MODES:
            raise ValueError(f"distribution_mode is {self.distribution_mode!r}; expected one of {', '.join(DISTRIBUTION_MODES)}")
        for name in ("num_levels", "num_envs", "num_steps", "num_minibatches", "update_epochs", "stats_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} is {getattr(self, name)}, expected >= 1")
        if self.start_level < 0 or self.total_steps < 0:
            raise ValueError(f"start_level={self.start_level}, total_steps={self.total_steps}: expected >= 0")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} does not divide the rollout of "
                f"num_envs x num_steps = {self.num_envs} x {self.num_steps} = {self.batch_size} samples"
            )
        if self.total_steps < self.batch_size:
            raise ValueError(
                f"total_steps={self.total_steps} is below one iteration of num_envs x num_steps = "
                f"{self.num_envs} x {self.num_steps} = {self.batch_size} env steps; nothing would be trained"
            )
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gamma={self.gamma}, gae_lambda={self.gae_lambda}: expected gamma in (0, 1], lambda in [0, 1]")
        for name in ("learning_rate", "adam_eps", "clip_coef", "max_grad_norm", "reward_clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} is {getattr(self, name)}, expected > 0")
        if self.alpha < 0:
            raise ValueError(f"alpha is {self.alpha}, expected >= 0")

    @property
    def num_agents(self) -> int:
        return 2 if self.algo == "mdpo" else 1

    @property
    def batch_size(self) -> int:
        """Samples per agent per iteration."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        return self.total_steps // self.batch_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
        return cls(**data)


#: Named starting points; every field can still be overridden.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's protocol (its public code): hard mode, 500 levels, 50M steps per agent.
    "paper": {},
    # Cobbe et al. (2020) easy protocol: 200 levels, 25M steps, the paper's PPO hyperparameters.
    "procgen-easy": {"distribution_mode": "easy", "num_levels": 200, "total_steps": 25_000_000},
    # A few minutes on 2 CPU cores; measurably better than the initial policy (docs/procgen_training.md).
    "cpu-small": {
        "distribution_mode": "easy", "num_levels": 200, "total_steps": 81_920,
        "num_envs": 32, "num_steps": 64, "num_minibatches": 8, "update_epochs": 1,
    },
    # Seconds: exercises every code path (tests, CI).
    "smoke": {
        "distribution_mode": "easy", "num_levels": 10, "total_steps": 128,
        "num_envs": 4, "num_steps": 16, "num_minibatches": 2, "update_epochs": 1,
    },
}


def make_config(preset: str = "paper", **overrides: Any) -> TrainConfig:
    """A preset with some fields replaced. Unknown presets and fields get a clear error."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown training config field(s): {', '.join(unknown)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(**values)


def _parse_int(text: str) -> int:
    """Integers as written by people: ``25000000``, ``25_000_000`` or ``25e6``."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        return int(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


#: Fields given their own positional-style options by the train command (not repeated here).
_COMMAND_FIELDS = ("game", "algo", "seed")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field-name`` option per :class:`TrainConfig` field (default: the preset's value)."""
    group = parser.add_argument_group("hyperparameters (override the preset's values)")
    for f in fields(TrainConfig):
        if f.name in _COMMAND_FIELDS:
            continue
        kind = type(f.default)
        if kind is bool:
            group.add_argument(_flag(f.name), dest=f"cfg_{f.name}", action=argparse.BooleanOptionalAction,
                               default=None, help=f.metadata["help"])
        else:
            group.add_argument(_flag(f.name), dest=f"cfg_{f.name}", type=_parse_int if kind is int else kind, default=None,
                               metavar=kind.__name__.upper(), help=f.metadata["help"])


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The fields given on the command line (None for those left to the preset)."""
    out = {}
    for f in fields(TrainConfig):
        value = getattr(args, f"cfg_{f.name}", None)
        if value is not None:
            out[f.name] = value
    return out

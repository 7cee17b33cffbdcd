"""Configurations of the Procgen commands: one typed dataclass each, named training presets.

:class:`TrainConfig` holds everything that changes what a run computes (game, algorithm,
hyperparameters, level range). How a run executes (device, thread counts, time limit, checkpoint
period) lives in :class:`RuntimeOptions`, so a run resumed on another machine computes the same thing.
:class:`EstimateConfig` holds the settings of an estimation run (:mod:`procgen_checks.estimate`).
Every field is declared with :func:`common.fields.documented`; the command line builds its options from them.
This module imports neither torch nor Procgen, so the command line can be built without them.

Defaults are the paper's protocol (its public code, which uses CleanRL's ``ppo_procgen``):
distribution mode ``hard``, 500 training levels starting at 0, 50M environment steps per agent,
64 environments x 256 steps, 8 minibatches, 3 epochs, Adam (lr 5e-4, eps 1e-5), gamma 0.999,
GAE lambda 0.95, clip 0.2 (policy and value), value coefficient 0.5, entropy coefficient 0.01,
gradient norm 0.5 per agent, rewards scaled by a running std of the discounted return and clipped
to [-10, 10]; MDPO adds ``alpha * KL(pi_peer || pi_self)`` with ``alpha = 1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from common.fields import documented

from .envs import DISTRIBUTION_MODES, check_game

__all__ = ["ALGOS", "TrainConfig", "PRESETS", "make_config", "CPU_UPDATE_CHUNK", "check_update_chunk", "RuntimeOptions",
           "EvaluateConfig", "EstimateConfig", "DEFAULT_GAMMAS"]

ALGOS = ("ppo", "mdpo")


@dataclass(frozen=True)
class TrainConfig:
    """A training run's algorithm, hyperparameters and environment (one documented line per field)."""

    game: str = documented("coinrun", "Procgen game")
    algo: str = documented("ppo", "'ppo' (one agent) or 'mdpo' (two agents, each distilled towards the other)")
    seed: int = documented(1, "seeds python, numpy and torch, and is Procgen's rand_seed (the same for both MDPO agents)")
    distribution_mode: str = documented("hard", "Procgen distribution mode: 'easy' or 'hard'")
    num_levels: int = documented(500, "number of training levels: level seeds [start_level, start_level + num_levels)")
    start_level: int = documented(0, "first training level seed")
    total_steps: int = documented(50_000_000, "environment steps per agent (rounded down to whole iterations)")
    num_envs: int = documented(64, "parallel environments per agent")
    num_steps: int = documented(256, "steps per environment per rollout (rollout = num_envs x num_steps)")
    num_minibatches: int = documented(8, "minibatches per epoch (must divide num_envs x num_steps)")
    update_epochs: int = documented(3, "passes over each rollout")
    learning_rate: float = documented(5e-4, "Adam learning rate (constant, no annealing)")
    adam_eps: float = documented(1e-5, "Adam epsilon")
    gamma: float = documented(0.999, "discount factor (GAE and reward normalisation)")
    gae_lambda: float = documented(0.95, "GAE lambda")
    clip_coef: float = documented(0.2, "PPO clip range for the probability ratio and the value update")
    clip_value_loss: bool = documented(True, "clip the value update around the rollout's value estimate")
    value_coef: float = documented(0.5, "weight of the value loss")
    entropy_coef: float = documented(0.01, "weight of the entropy bonus")
    max_grad_norm: float = documented(0.5, "gradient norm clip, applied to each agent's parameters separately")
    norm_adv: bool = documented(True, "normalise advantages per minibatch (mean 0, std 1)")
    adv_norm_eps: float = documented(1e-8, "epsilon added to the advantage std")
    normalize_reward: bool = documented(True, "divide rewards by a running std of the discounted return")
    reward_clip: float = documented(10.0, "clip normalised rewards to [-reward_clip, reward_clip]")
    alpha: float = documented(1.0, "MDPO: weight of KL(pi_peer || pi_self) in each agent's loss")
    kl_eps: float = documented(1e-8, "MDPO: epsilon inside the logarithms of the KL term")
    stats_window: int = documented(100, "finished training episodes averaged into the logged 'recent' return")
    torch_deterministic: bool = documented(True, "ask cuDNN for deterministic kernels (the paper's setting)")

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


#: Samples per agent in each forward and backward pass of the update on a CPU (MDPO passes twice as many frames through
#: each network): a pass's activations then stay in the processor's caches. On 2 cores an MDPO update took 0.90 of the
#: whole-minibatch time at 16 envs x 64 steps and about a third at the paper's minibatch of 2048, in 1/40 of the memory
#: (docs/procgen_training.md).
CPU_UPDATE_CHUNK = 32


def check_update_chunk(update_chunk: int | None) -> None:
    """A clear error for a negative chunk size (``None``: the device's default; ``0``: the whole minibatch)."""
    if update_chunk is not None and update_chunk < 0:
        raise ValueError(f"update_chunk is {update_chunk}, expected >= 0 (0: the whole minibatch)")


@dataclass(frozen=True)
class RuntimeOptions:
    """How a run executes; none of it changes what it computes (on a given device)."""

    device: str = documented("auto", "auto (CUDA when torch sees one), cpu, or cuda[:k]")
    torch_threads: int | None = documented(
        None, "torch CPU threads (default: all cores but one on CPU, at most 4 with CUDA)")
    env_threads: int | None = documented(None, "Procgen stepping threads per agent (default: Procgen's 4)")
    update_chunk: int | None = documented(
        None, "samples of each agent's minibatch per forward and backward pass of the update, their gradients summed "
        f"(0: the whole minibatch; default: {CPU_UPDATE_CHUNK} on CPU, where it is faster and smaller, the whole "
        "minibatch on CUDA, "
        "and a resumed run's own); the same loss and gradients up to float round-off")
    time_limit: float | None = documented(
        None, "stop at an iteration boundary, checkpoint written, before SECONDS have passed since the command started")
    checkpoint_every: int = documented(10, "iterations between checkpoints")
    progress: bool = documented(True, "progress bar on stderr")

    def __post_init__(self) -> None:
        check_update_chunk(self.update_chunk)


@dataclass(frozen=True)
class EvaluateConfig:
    """Defaults of ``repconv procgen evaluate`` and :func:`procgen_checks.evaluation.evaluate_policy` (one place)."""

    episodes: int = documented(100, "episodes per split")
    seed: int = documented(0, "seeds level draws, action sampling and the bootstrap")
    num_resamples: int = documented(10_000, "bootstrap resamples")
    confidence: float = documented(0.95, "confidence level of the intervals")
    batch_envs: int = documented(256, "environments run at once")
    max_steps: int = documented(10_000, "error out if an episode is longer")


#: Discounts of the bounds-against-gamma curves of an estimation run.
DEFAULT_GAMMAS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@dataclass
class EstimateConfig:
    """Settings of one estimation run; every field is written to the result's metadata."""

    renderers: list[str] = documented(
        default_factory=lambda: ["backgrounds", "randconv", "jitter"],
        help="comma-separated renderer names (procgen_checks.renderers.RENDERER_NAMES)")
    states: int = documented(512, "recorded states per checkpoint and split")
    num_envs: int = documented(
        16, "parallel environments per rollout (also the number of first episodes per split behind the measured gap)")
    stride: int = documented(4, "record every stride-th step (thins the correlation between consecutive frames)")
    strengths: list[float] = documented(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
                                        help="image-renderer strengths of the sweep")
    sweep_states: int = documented(128, "training-level states per strength in the sweep; 0 skips it")
    gamma: float = documented(0.999, "discount of eps and of the bounds at the training horizon (the paper's PPO gamma)")
    gammas: list[float] = documented(default_factory=lambda: list(DEFAULT_GAMMAS),
                                     help="discounts of the bound-vs-gamma curves")
    reward_range: tuple[float, float] | None = documented(
        None, "per-step reward range (r_min, r_max) (default: the range observed in the rollouts, stated as such)")
    value_scale: float | None = documented(
        None, "multiplies critic values to give reward units (default: the reward normaliser in the training run's "
              "state.pt beside the checkpoint, else 1)")
    max_extra_steps: int = documented(
        1000, "steps after recording to let first episodes finish (Procgen's episodes time out at 1000 steps)")
    gap_episodes: int = documented(
        16, "episodes per split and arm of the measured rendering gap (each renderer's arm replays the reference "
            "arm's levels, episode by episode)")
    gap_stride: int = documented(1, "per-state TV behind Rv_hat on every Nth step of each episode; 1 is unbiased")
    gap_max_steps: int = documented(1000, "steps after which an episode of the rendering-gap arms counts as unfinished")
    paper_metric_states: int = documented(
        256, "states per split for the paper's robustness metric (mean KL under 3 N(0,1) random convolutions); "
             "0 skips it")
    bootstrap_resamples: int = documented(1000, "bootstrap resamples")
    batch_size: int = documented(256, "states per forward pass of the policy")
    seed: int = documented(0, "seed of every random draw")

    def __post_init__(self) -> None:
        from .renderers import parse_renderers  # imports torch-side modules: only when a config is made

        self.renderers = parse_renderers(self.renderers)
        for name, v in (("states", self.states), ("num_envs", self.num_envs), ("stride", self.stride),
                        ("gap_episodes", self.gap_episodes), ("gap_stride", self.gap_stride),
                        ("gap_max_steps", self.gap_max_steps),
                        ("bootstrap_resamples", self.bootstrap_resamples), ("batch_size", self.batch_size)):
            if int(v) < 1:
                raise ValueError(f"{name} is {v}, expected >= 1")
        if self.sweep_states < 0 or self.max_extra_steps < 0 or self.paper_metric_states < 0:
            raise ValueError("sweep_states, max_extra_steps and paper_metric_states must be >= 0")
        for s in self.strengths:
            if not 0 <= s <= 1:
                raise ValueError(f"strength {s} outside [0, 1]")
        for g in [self.gamma, *self.gammas]:
            if not 0 <= g < 1:
                raise ValueError(f"gamma {g} outside [0, 1)")
        if self.reward_range is not None and not self.reward_range[0] < self.reward_range[1]:
            raise ValueError(f"reward range {self.reward_range}: expected r_min < r_max")

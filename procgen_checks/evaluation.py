"""Returns of a policy on training levels and on unseen test levels, with honest statistics.

Episodes are drawn fairly: ``n`` environments start together, each on a level drawn uniformly
from the split's range, and only the **first** episode of each is counted, run to completion.
Counting "the first ``n`` episodes to finish" instead over-represents short episodes (in most
games, the failures or the easy levels). Statistics per split: mean, standard error
(``std(ddof=1) / sqrt(n)``), a percentile bootstrap confidence interval drawn with an explicit
``numpy.random.Generator`` (:func:`common.stats.mean_interval`), and the normalised score ``(R - R_min) / (R_max - R_min)``
(:func:`procgen_checks.envs.normalized_score`). The generalization gap is ``mean_train - mean_test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from common.stats import difference_interval, mean_interval

from .config import EvaluateConfig
from .envs import EpisodeRecord, LevelRange, ProcgenVecEnv, RenderOptions, level_split, normalized_score
from .network import ActorCritic

__all__ = ["first_episodes", "summarize_returns", "evaluate_policy", "EvaluationError"]


class EvaluationError(RuntimeError):
    """An evaluation that cannot give an honest answer (e.g. episodes that never end)."""


def first_episodes(
    model: ActorCritic,
    game: str,
    levels: LevelRange,
    num_episodes: int,
    *,
    distribution_mode: str,
    rand_seed: int,
    device: torch.device | str = "cpu",
    greedy: bool = False,
    batch_envs: int = 256,
    max_steps: int = 10_000,
    render: RenderOptions = RenderOptions(),
    generator: torch.Generator | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """The first episode of each of ``num_episodes`` environments, all started together.

    Environments run in groups of at most ``batch_envs`` (group ``g`` uses ``rand_seed + g``, so the
    groups draw different levels). Finished environments leave the forward pass. Actions are
    sampled from the policy (``greedy``: its most likely action). Raises :class:`EvaluationError`
    if an episode is still running after ``max_steps`` steps.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes is {num_episodes}, expected >= 1")
    device = torch.device(device)
    records: list[EpisodeRecord] = []
    for group, start in enumerate(range(0, num_episodes, batch_envs)):
        n = min(batch_envs, num_episodes - start)
        env = ProcgenVecEnv(game, n, levels, distribution_mode=distribution_mode, rand_seed=rand_seed + group, render=render)
        try:
            obs = env.reset()
            active = np.ones(n, dtype=bool)
            for _ in range(max_steps):
                actions = np.zeros(n, dtype=np.int64)
                idx = np.flatnonzero(active)
                with torch.inference_mode():
                    logits = model.logits(torch.from_numpy(obs[idx]).to(device))
                    if greedy:
                        chosen = logits.argmax(-1)
                    else:
                        chosen = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
                actions[idx] = chosen.cpu().numpy()
                obs, _, done = env.step(actions)
                for record in env.pop_finished():
                    if active[record.env_index]:
                        active[record.env_index] = False
                        record = EpisodeRecord(start + record.env_index, record.level_seed, record.ret, record.length)
                        records.append(record)
                        if on_episode:
                            on_episode(record)
                if not active.any():
                    break
            else:
                raise EvaluationError(
                    f"{int(active.sum())} of {n} episodes of {game} still running after {max_steps} steps; "
                    "raise max_steps (counting only the finished ones would bias the mean)"
                )
        finally:
            env.close()
    return sorted(records, key=lambda r: r.env_index)


def summarize_returns(returns: np.ndarray, *, game: str, distribution_mode: str, rng: np.random.Generator,
                      num_resamples: int = 10_000, confidence: float = 0.95) -> dict[str, Any]:
    """Mean, std, standard error, bootstrap CI and normalised score of a split's episode returns."""
    returns = np.asarray(returns, dtype=float)
    n = returns.size
    std = float(returns.std(ddof=1)) if n > 1 else float("nan")
    lo, hi = mean_interval(returns, rng, num_resamples, confidence)
    mean = float(returns.mean())
    return {
        "episodes": int(n),
        "mean": mean,
        "std": std,
        "standard_error": std / np.sqrt(n) if n > 1 else float("nan"),
        "ci": [lo, hi],
        "normalized_mean": float(normalized_score(game, distribution_mode, mean)),
        "normalized_ci": [float(normalized_score(game, distribution_mode, lo)), float(normalized_score(game, distribution_mode, hi))],
    }


def evaluate_policy(
    model: ActorCritic,
    info: dict[str, Any],
    *,
    episodes: int = EvaluateConfig.episodes,
    seed: int = EvaluateConfig.seed,
    device: torch.device | str = "cpu",
    greedy: bool = False,
    train_levels: tuple[int, int] | None = None,
    num_resamples: int = EvaluateConfig.num_resamples,
    confidence: float = EvaluateConfig.confidence,
    batch_envs: int = EvaluateConfig.batch_envs,
    max_steps: int = EvaluateConfig.max_steps,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a policy (from :func:`procgen_checks.checkpoints.load_policy`) on both splits.

    Training levels come from the checkpoint (``info['train_levels']``) unless ``train_levels``
    is given; test levels are the disjoint range right after them (:func:`envs.level_split`).
    """
    game, mode = info["game"], info["distribution_mode"]
    if train_levels is None:
        if not info.get("train_levels"):
            raise ValueError("the checkpoint records no training levels; pass train_levels=(start, num)")
        train_levels = tuple(info["train_levels"])
    train, test = level_split(int(train_levels[1]), start_level=int(train_levels[0]))
    rng = np.random.default_rng(seed)
    generator = torch.Generator(device=torch.device(device))
    generator.manual_seed(seed)
    model = model.to(device).eval()

    from tqdm.auto import tqdm

    splits: dict[str, Any] = {}
    samples: dict[str, np.ndarray] = {}
    for name, levels in (("train", train), ("test", test)):
        with tqdm(total=episodes, desc=f"{game} {name} levels", unit="episode", disable=not progress) as bar:
            records = first_episodes(
                model, game, levels, episodes, distribution_mode=mode, rand_seed=seed, device=device, greedy=greedy,
                batch_envs=batch_envs, max_steps=max_steps, generator=generator, on_episode=lambda r: bar.update(1),
            )
        returns = np.array([r.ret for r in records])
        samples[name] = returns
        splits[name] = {
            "levels": [levels.start, levels.num],
            **summarize_returns(returns, game=game, distribution_mode=mode, rng=rng,
                                num_resamples=num_resamples, confidence=confidence),
            "mean_length": float(np.mean([r.length for r in records])),
            "returns": returns.tolist(),
            "lengths": [r.length for r in records],
            "level_seeds": [r.level_seed for r in records],
        }
    tr, te = samples["train"], samples["test"]
    gap = float(tr.mean() - te.mean())
    lo, hi = difference_interval(tr, te, rng, num_resamples, confidence)
    return {
        "splits": splits,
        "generalization_gap": {
            "mean": gap,
            "standard_error": float(np.hypot(splits["train"]["standard_error"], splits["test"]["standard_error"])),
            "ci": [float(lo), float(hi)],
            "normalized": splits["train"]["normalized_mean"] - splits["test"]["normalized_mean"],
        },
        "episodes_per_split": episodes,
        "confidence": confidence,
        "bootstrap_resamples": num_resamples,
        "greedy": greedy,
        "seed": seed,
    }

